//! Errors of the programs layer: each names the program, what it was attached to, and the
//! file involved, and ends in the syscall layer's [`SyscallError`] when the kernel refused.

use std::path::PathBuf;

use crate::syscall::{ProgType, SyscallError};

use super::auto::TargetError;
use super::elf_symbols::SymbolError;
use super::usdt::UsdtError;

/// A failure of a [`Program`](super::Program) operation (info, pin, test run).
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The kernel refused the operation.
    #[error("program `{program}`: {op}: {source}")]
    Syscall {
        /// The program.
        program: String,
        /// What was asked (`info`, `test run`, ...).
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: Box<SyscallError>,
    },
    /// Pinning or opening a pin failed.
    #[error("program `{program}`: {op} {}: {source}", path.display())]
    Pin {
        /// The program (or `?` when opening an unknown pin).
        program: String,
        /// `pin` or `open pin`.
        op: &'static str,
        /// The bpffs path.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Box<SyscallError>,
    },
}

/// A failure to attach a program, or of an operation on a [`Link`](super::Link): a boxed
/// [`AttachErrorKind`] (small to return, full of context to read).
#[derive(Debug)]
pub struct AttachError(Box<AttachErrorKind>);

impl AttachError {
    /// What went wrong.
    pub fn kind(&self) -> &AttachErrorKind {
        &self.0
    }

    /// What went wrong, by value.
    pub fn into_kind(self) -> AttachErrorKind {
        *self.0
    }

    /// The syscall error inside, if the kernel refused.
    pub fn syscall_error(&self) -> Option<&SyscallError> {
        match &*self.0 {
            AttachErrorKind::Syscall { source, .. } | AttachErrorKind::Link { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl From<AttachErrorKind> for AttachError {
    fn from(kind: AttachErrorKind) -> AttachError {
        AttachError(Box::new(kind))
    }
}

/// The kinds of [`AttachError`].
#[derive(Debug, thiserror::Error)]
pub enum AttachErrorKind {
    /// The kernel refused.
    #[error("program `{program}`: attaching to {target}: {source}")]
    Syscall {
        /// The program.
        program: String,
        /// The attach point (`tracepoint syscalls/sys_enter_openat`, `xdp on ifindex 3`...).
        target: String,
        /// The kernel's answer.
        #[source]
        source: SyscallError,
    },
    /// Kprobes cannot be created on this kernel.
    #[error(
        "program `{program}`: attaching to {target}: kernel built without CONFIG_KPROBES \
         (no kprobe PMU in /sys/bus/event_source/devices, {legacy})"
    )]
    KprobesUnavailable {
        /// The program.
        program: String,
        /// The kprobe target.
        target: String,
        /// What the legacy path found (`no kprobe_events in /sys/kernel/tracing`, ...).
        legacy: String,
    },
    /// A file the attachment needs could not be read or written.
    #[error("program `{program}`: attaching to {target}: {}: {source}", path.display())]
    Io {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// tracefs (needed for tracepoint ids and legacy probes) is not mounted.
    #[error(
        "program `{program}`: attaching to {target}: tracefs is not mounted (mount -t tracefs \
         nodev /sys/kernel/tracing)"
    )]
    NoTracefs {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
    },
    /// A symbol of a binary could not be resolved.
    #[error("program `{program}`: attaching to {target}: {source}")]
    Symbol {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// Why.
        #[source]
        source: SymbolError,
    },
    /// USDT notes or argument specs could not be used.
    #[error("program `{program}`: attaching to {target}: {source}")]
    Usdt {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// Why.
        #[source]
        source: Box<UsdtError>,
    },
    /// The section's attach target could not be used for auto-attach.
    #[error("program `{program}`: {source}")]
    Target {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: TargetError,
    },
    /// The program's type cannot be attached there.
    #[error(
        "program `{program}` is a {prog_type} program; attaching to {target} needs {expected}"
    )]
    WrongProgramType {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// Its type.
        prog_type: ProgType,
        /// The types that can.
        expected: &'static str,
    },
    /// The request cannot be met on this kernel or with these arguments.
    #[error("program `{program}`: attaching to {target}: {why}")]
    Unsupported {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// Why.
        why: String,
    },
    /// A link operation that this kind of attachment does not have.
    #[error("link of `{program}` to {target}: cannot {op} a {method} attachment")]
    LinkOp {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// `pin`, `update`, ...
        op: &'static str,
        /// How the program is attached (`netlink`, `perf event ioctl`, ...).
        method: &'static str,
    },
    /// A link operation the kernel refused.
    #[error("link of `{program}` to {target}: {op}{}: {source}", path_suffix(.path))]
    Link {
        /// The program.
        program: String,
        /// The attach point.
        target: String,
        /// `pin`, `open pin`, `update`, `detach`, `info`, `open iterator`.
        op: &'static str,
        /// The bpffs path, for pin operations.
        path: Option<PathBuf>,
        /// The kernel's answer.
        #[source]
        source: SyscallError,
    },
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

/// The result type of the programs layer's attach functions.
pub type Result<T, E = AttachError> = std::result::Result<T, E>;
