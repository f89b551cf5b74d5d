//! The eBPF instruction: encoding, decoding, a disassembler and a builder.
//!
//! Pure: never makes a syscall.
