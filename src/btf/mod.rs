//! BTF: the BPF Type Format of `.BTF`/`.BTF.ext` sections and of `/sys/kernel/btf/*`.
//!
//! Pure: parses bytes, never makes a syscall.
