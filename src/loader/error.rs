//! [`LoadError`]: why an object did not load, naming the program, map or extern at fault.

use std::fmt;

use super::kernel_btf::KernelBtfError;
use super::verifier_log::LogSummary;
use crate::maps::MapError;
use crate::object::ObjectError;
use crate::relocate::RelocateError;
use crate::syscall::SyscallError;

/// A program the verifier (or the kernel) refused.
#[derive(Debug)]
pub struct ProgramLoadError {
    /// The program's name.
    pub program: String,
    /// Its ELF section.
    pub section: String,
    /// The `BPF_PROG_LOAD` error.
    pub source: SyscallError,
    /// The full verifier log (level 1), with CO-RE poison explained; empty if the kernel
    /// wrote none (EPERM from a security policy, for example).
    pub log: String,
    /// Where the verifier stopped, its source line and the log's last lines.
    pub summary: LogSummary,
    /// Explanations of CO-RE relocations that left a reachable poisoned instruction.
    pub core_failures: Vec<String>,
}

impl fmt::Display for ProgramLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "program `{}` (section `{}`) failed to load: {}",
            self.program, self.section, self.source
        )?;
        for c in &self.core_failures {
            write!(f, "\n  {c}")?;
        }
        if self.log.is_empty() {
            if self.source.errno == nix::errno::Errno::EPERM {
                write!(f, "\n  (the kernel wrote no verifier log: a security policy or missing capability refused the load)")?;
            }
        } else {
            write!(f, "\n{}", self.summary)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProgramLoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why [`Loader::load`](super::Loader::load) failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The object itself (a variable that doesn't exist, a bad override).
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The kernel's BTF is missing or unreadable.
    #[error(transparent)]
    KernelBtf(#[from] KernelBtfError),
    /// A custom target BTF could not be read.
    #[error("target BTF {path}: {message}")]
    TargetBtf {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Relocation failed.
    #[error(transparent)]
    Relocate(#[from] RelocateError),
    /// An extern could not be resolved.
    #[error("extern `{name}`: {why}")]
    Extern {
        /// The extern.
        name: String,
        /// Why.
        why: String,
    },
    /// A program's attach target could not be resolved in the kernel's BTF.
    #[error("program `{program}`: attach target `{target}` not found: {why}")]
    AttachTarget {
        /// The program.
        program: String,
        /// The target name.
        target: String,
        /// Why.
        why: String,
    },
    /// A program has no type (unknown section) and none was set.
    #[error("program `{program}`: section `{section}` is not a known program type; set one with Object::program_mut(\"{program}\")?.set_type(..) or disable it")]
    UnknownProgramType {
        /// The program.
        program: String,
        /// Its section.
        section: String,
    },
    /// A map could not be created, pinned, reused or filled.
    #[error(transparent)]
    Map(#[from] MapError),
    /// A map pinned under the pin root does not match the object's definition.
    #[error("map `{map}`: cannot reuse the map pinned at {path}: {source}")]
    PinReuse {
        /// The map.
        map: String,
        /// The pin path.
        path: String,
        /// Which field differs (or why it could not be opened).
        #[source]
        source: Box<MapError>,
    },
    /// A program refers to a map that was not created (an empty data section, say).
    #[error("program `{program}` refers to map `{map}`, which was not created")]
    MapNotCreated {
        /// The program.
        program: String,
        /// The map or data section.
        map: String,
    },
    /// A struct_ops map does not fit the kernel's struct.
    #[error("struct_ops map `{map}`: {why}")]
    StructOps {
        /// The map.
        map: String,
        /// Why.
        why: String,
    },
    /// A syscall failed outside program loading.
    #[error("{what}: {source}")]
    Syscall {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: SyscallError,
    },
    /// A program failed to load.
    #[error(transparent)]
    Program(Box<ProgramLoadError>),
    /// The object's byte order is not the host's.
    #[error(
        "object `{0}` is not in this machine's byte order: it can be inspected but not loaded"
    )]
    ForeignByteOrder(String),
    /// Creating the pin directory or pinning failed.
    #[error("pinning at {path}: {message}")]
    Pin {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl LoadError {
    /// The program load failure, if this is one.
    pub fn program_error(&self) -> Option<&ProgramLoadError> {
        match self {
            LoadError::Program(p) => Some(p),
            _ => None,
        }
    }
}
