//! Relocation: CO-RE, maps and global data, subprogram calls, externs.
//!
//! Pure: takes an object and a target BTF, returns relocated programs; never makes a syscall.

pub mod core;
