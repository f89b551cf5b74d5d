//! The loader: `Object` + target BTF → relocated programs → maps created → programs loaded.
//!
//! What the pipeline needs from the running system is gathered here and handed to the pure
//! stages as plain values: the kernel's BTF ([`kernel_btf`]), its configuration
//! ([`kconfig`]) and its symbols ([`kallsyms`]). Each is read once per process, and only when
//! an object needs it.

mod btf_upload;
mod builder;
mod error;
mod externs;
pub mod kallsyms;
pub mod kconfig;
pub mod kernel_btf;
mod loaded;
mod maps;
mod programs;
mod struct_ops;
pub mod verifier_log;

pub use builder::{default_pin_root, Loader};
pub use error::{LoadError, ProgramLoadError};
pub use externs::{kernel_version_code, running_kernel_version};
pub use loaded::{GlobalData, LoadAttachError, Loaded, LoadedProgram};
pub use maps::pin_name;
pub use programs::{processed_insns, LoadReport};
