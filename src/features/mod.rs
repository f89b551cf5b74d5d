//! Kernel feature probes: tiny loads through [`crate::syscall`], cached per process.
