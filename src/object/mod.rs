//! ELF object parsing: programs, maps, global data, externs and relocations.
//!
//! Pure: parses bytes, never makes a syscall.
