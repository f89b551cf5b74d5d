//! The loader: `Object` + target BTF → relocated programs → maps created → programs loaded.
//!
//! What the pipeline needs from the running system is gathered here and handed to the pure
//! stages as plain values: the kernel's BTF ([`kernel_btf`]), its configuration
//! ([`kconfig`]) and its symbols ([`kallsyms`]). Each is read once per process, and only when
//! an object needs it.

pub mod kallsyms;
pub mod kconfig;
pub mod kernel_btf;
pub mod verifier_log;
