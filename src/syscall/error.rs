//! The error every call of this layer returns: which call failed, its errno, and a hint.

use std::fmt;

use nix::errno::Errno;

use super::types::Command;
use super::version::{newest_nonzero_field, Field, KernelVersion};

/// The kernel-internal `ENOTSUPP` (524), which leaks out of several BPF paths.
pub const ENOTSUPP: i32 = 524;

/// Which system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A `bpf(2)` command; displays as its uapi name (`BPF_MAP_CREATE`).
    Bpf(Command),
    /// `perf_event_open(2)`.
    PerfEventOpen,
    /// `pidfd_open(2)` (task storage maps are keyed by pidfd).
    PidfdOpen,
    /// An `ioctl(2)`, by its request name (`PERF_EVENT_IOC_SET_BPF`).
    Ioctl(&'static str),
    /// `mmap(2)` of a BPF map or a file.
    Mmap,
    /// Reading a file the layer needs, by path (e.g. the possible-CPU list).
    Read(&'static str),
    /// `fcntl(F_DUPFD_CLOEXEC)` moving a new fd above 2.
    DupFd,
    /// `setsockopt(2)`, by option name (`SO_ATTACH_BPF`).
    Setsockopt(&'static str),
    /// An rtnetlink request, by message type (`RTM_SETLINK`), or the netlink socket calls
    /// around it.
    Netlink(&'static str),
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Bpf(cmd) => write!(f, "{cmd}"),
            Call::PerfEventOpen => f.write_str("perf_event_open"),
            Call::PidfdOpen => f.write_str("pidfd_open"),
            Call::Ioctl(name) => write!(f, "ioctl({name})"),
            Call::Mmap => f.write_str("mmap"),
            Call::Read(path) => write!(f, "reading {path}"),
            Call::DupFd => f.write_str("fcntl(F_DUPFD_CLOEXEC)"),
            Call::Setsockopt(name) => write!(f, "setsockopt({name})"),
            Call::Netlink(name) => write!(f, "netlink {name}"),
        }
    }
}

/// What the layer can tell about a failure beyond its errno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// EPERM: the process lacks privileges.
    Privileges,
    /// EPERM although the process holds the capabilities: a security policy (kernel
    /// lockdown, an LSM, a sysctl such as `kernel.unprivileged_bpf_disabled`) refused.
    Policy,
    /// A non-zero attribute field that the running kernel is (or may be) too old for.
    NewField {
        /// The command whose attributes hold the field.
        command: Command,
        /// The uapi field name.
        field: &'static str,
        /// The release that added it.
        since: KernelVersion,
        /// The running kernel's release, when known.
        running: Option<KernelVersion>,
    },
    /// A buffer handed to the call does not have the size the kernel will read or write;
    /// the call was not made.
    BufferSize {
        /// Which buffer (`key`, `value`, `keys`, ...).
        what: &'static str,
        /// The size needed, in bytes.
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// An argument that cannot be passed to the kernel (the call was not made).
    BadArgument(&'static str),
    /// A fixed explanation of this errno for this call.
    Note(&'static str),
    /// What the kernel itself said (a netlink extended acknowledgement).
    Kernel(String),
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Privileges => f.write_str(
                "needs root or CAP_BPF + CAP_PERFMON (CAP_NET_ADMIN for networking programs, \
                 CAP_SYS_ADMIN for some commands)",
            ),
            Hint::Policy => f.write_str(
                "refused by a security policy (kernel lockdown, an LSM or a sysctl): this \
                 process already holds CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN",
            ),
            Hint::NewField {
                command,
                field,
                since,
                running,
            } => {
                write!(
                    f,
                    "attribute `{field}` of {command} was added in Linux {since}"
                )?;
                match running {
                    Some(r) => write!(f, "; this kernel is {r}"),
                    None => f.write_str("; this kernel may be older"),
                }
            }
            Hint::BufferSize {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what} buffer is {actual} bytes, the map needs {expected}; call not made"
            ),
            Hint::BadArgument(why) => write!(f, "{why}; call not made"),
            Hint::Note(text) => f.write_str(text),
            Hint::Kernel(text) => write!(f, "the kernel says: {text}"),
        }
    }
}

/// A failed system call of the BPF layer: the call, its errno and, when the layer can tell,
/// why.
///
/// ```
/// use oxbpf::syscall::{Call, Command, SyscallError};
/// let e = SyscallError::new(Call::Bpf(Command::MAP_CREATE), nix::errno::Errno::EPERM);
/// assert!(e.to_string().starts_with("BPF_MAP_CREATE failed: EPERM"));
/// assert!(e.to_string().contains("CAP_BPF"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SyscallError {
    /// The call that failed.
    pub command: Call,
    /// The errno (`Errno::UnknownErrno` for codes nix does not know, e.g. `ENOTSUPP`; see
    /// [`code`](Self::code)).
    pub errno: Errno,
    /// The raw errno value.
    pub code: i32,
    /// Why, when the layer can tell.
    pub hint: Option<Hint>,
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: ", self.command)?;
        if self.code == ENOTSUPP {
            f.write_str("ENOTSUPP (524): operation not supported by this kernel")?;
        } else if self.errno == Errno::UnknownErrno {
            write!(f, "errno {}", self.code)?;
        } else {
            write!(f, "{}", self.errno)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl SyscallError {
    /// An error of `command` with `errno` and the generic hint for that pair.
    pub fn new(command: Call, errno: Errno) -> SyscallError {
        SyscallError::from_code(command, errno as i32)
    }

    /// An error of `command` from a raw errno value.
    pub fn from_code(command: Call, code: i32) -> SyscallError {
        let errno = Errno::from_raw(code);
        SyscallError {
            command,
            errno,
            code,
            hint: generic_hint(command, errno),
        }
    }

    /// An error raised before calling the kernel: `errno` with a hint saying why.
    pub(crate) fn rejected(command: Call, errno: Errno, hint: Hint) -> SyscallError {
        SyscallError {
            command,
            errno,
            code: errno as i32,
            hint: Some(hint),
        }
    }

    /// A failed `bpf(2)` call, with the attribute bytes sent so that a too-new non-zero field
    /// can be named.
    pub(crate) fn bpf(command: Command, errno: Errno, attr: &[u8], fields: &[Field]) -> Self {
        SyscallError::bpf_code(command, errno as i32, attr, fields)
    }

    /// [`SyscallError::bpf`] from the raw errno value, which keeps codes nix does not know
    /// (the kernel-internal `ENOTSUPP`).
    pub(crate) fn bpf_code(command: Command, code: i32, attr: &[u8], fields: &[Field]) -> Self {
        let mut err = SyscallError::from_code(Call::Bpf(command), code);
        let errno = err.errno;
        if matches!(errno, Errno::E2BIG | Errno::EINVAL) {
            if let Some(f) = newest_nonzero_field(attr, fields) {
                let running = KernelVersion::running();
                // E2BIG always points at a too-new field; EINVAL only when the running
                // kernel is known to predate it (EINVAL has many other causes).
                if errno == Errno::E2BIG || running.is_some_and(|r| r < f.since) {
                    err.hint = Some(Hint::NewField {
                        command,
                        field: f.name,
                        since: f.since,
                        running,
                    });
                }
            }
        }
        err
    }

    /// The command, when the failed call is a `bpf(2)` command.
    pub fn bpf_command(&self) -> Option<Command> {
        match self.command {
            Call::Bpf(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the errno is `ENOTSUPP`/`EOPNOTSUPP`: the kernel lacks the feature.
    pub fn is_not_supported(&self) -> bool {
        self.code == ENOTSUPP || self.errno == Errno::EOPNOTSUPP
    }
}

/// Whether the effective capability set holds CAP_SYS_ADMIN, CAP_PERFMON and CAP_BPF (read
/// on the error path only).
fn holds_bpf_capabilities() -> bool {
    const NEEDED: u64 = (1 << 21) | (1 << 38) | (1 << 39);
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & NEEDED == NEEDED)
}

fn generic_hint(command: Call, errno: Errno) -> Option<Hint> {
    let cmd = match command {
        Call::Bpf(c) => Some(c),
        _ => None,
    };
    let note = match (errno, cmd) {
        (Errno::EPERM, _) if holds_bpf_capabilities() => return Some(Hint::Policy),
        (Errno::EPERM, _) => return Some(Hint::Privileges),
        (Errno::ENOSPC, Some(Command::PROG_LOAD | Command::BTF_LOAD)) => {
            "the log buffer is too small for the verifier log; log_true_size tells the size needed"
        }
        (Errno::ENOSPC, Some(Command::PROG_TEST_RUN)) => {
            "the output buffer is smaller than the program's output"
        }
        (Errno::ENOSPC, Some(Command::MAP_LOOKUP_BATCH | Command::MAP_LOOKUP_AND_DELETE_BATCH)) => {
            "count is smaller than one hash bucket; retry with a larger count"
        }
        (Errno::ENOSPC, _) => "no space left: the map or the kernel object is full",
        (Errno::E2BIG, Some(Command::MAP_UPDATE_ELEM | Command::MAP_UPDATE_BATCH)) => {
            "the map is full (max_entries reached) or the index is out of range"
        }
        (Errno::E2BIG, Some(Command::PROG_LOAD)) => {
            "the program is too large, or an attribute is too new for this kernel"
        }
        (Errno::E2BIG, Some(Command::MAP_CREATE)) => {
            "key, value or max_entries too large for this map type, or an attribute is too new \
             for this kernel"
        }
        (Errno::E2BIG, Some(_)) => {
            "a size is too large, or an attribute is too new for this kernel"
        }
        (
            Errno::ENOENT,
            Some(
                Command::PROG_GET_FD_BY_ID
                | Command::MAP_GET_FD_BY_ID
                | Command::BTF_GET_FD_BY_ID
                | Command::LINK_GET_FD_BY_ID,
            ),
        ) => "no object with that id (it may have been freed)",
        (Errno::ENOENT, Some(Command::OBJ_GET)) => "nothing is pinned at that path",
        (Errno::ENOENT, Some(Command::MAP_LOOKUP_ELEM | Command::MAP_DELETE_ELEM)) => "no such key",
        (Errno::EEXIST, Some(Command::OBJ_PIN)) => "the path already exists",
        (Errno::EEXIST, Some(Command::MAP_UPDATE_ELEM | Command::MAP_UPDATE_BATCH)) => {
            "the key exists (BPF_NOEXIST)"
        }
        (Errno::EBADF, Some(_)) => {
            "a file descriptor in the attributes is not open, or not of the kind expected"
        }
        (Errno::ENOSYS, Some(_)) => "this kernel has no bpf(2) (CONFIG_BPF_SYSCALL off)",
        (Errno::EOPNOTSUPP, _) => "not supported by this kernel or for this object",
        _ => return None,
    };
    Some(Hint::Note(note))
}

impl From<SyscallError> for std::io::Error {
    fn from(e: SyscallError) -> std::io::Error {
        let kind = std::io::Error::from_raw_os_error(e.code).kind();
        std::io::Error::new(kind, e)
    }
}

/// The result type of this layer.
pub type Result<T, E = SyscallError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_command_errno_and_hint() {
        let e = SyscallError::new(Call::Bpf(Command::MAP_CREATE), Errno::EINVAL);
        assert_eq!(
            e.to_string(),
            "BPF_MAP_CREATE failed: EINVAL: Invalid argument"
        );
        let e = SyscallError::from_code(Call::Bpf(Command::PROG_LOAD), ENOTSUPP);
        assert!(e.to_string().contains("ENOTSUPP (524)"));
        assert!(e.is_not_supported());
        let e = SyscallError::bpf_code(Command::MAP_LOOKUP_BATCH, ENOTSUPP, &[], &[]);
        assert_eq!(
            e.code, ENOTSUPP,
            "the kernel's 524 survives the choke point"
        );
        assert!(e.is_not_supported());
        let e = SyscallError::new(Call::Bpf(Command::PROG_LOAD), Errno::ENOSPC);
        assert!(e.to_string().contains("log_true_size"));
        let e = SyscallError::new(Call::PerfEventOpen, Errno::EPERM);
        let want = if holds_bpf_capabilities() {
            Hint::Policy
        } else {
            Hint::Privileges
        };
        assert_eq!(e.hint, Some(want));
        assert_eq!(e.bpf_command(), None);
    }

    #[test]
    fn e2big_names_the_new_field() {
        let fields = [
            crate::syscall::version::field("old", 0, 3, 18),
            crate::syscall::version::field("brand_new", 4, 6, 9),
        ];
        let mut bytes = [0u8; 8];
        bytes[4] = 1;
        let e = SyscallError::bpf(Command::MAP_CREATE, Errno::E2BIG, &bytes, &fields);
        match e.hint {
            Some(Hint::NewField { field, since, .. }) => {
                assert_eq!(field, "brand_new");
                assert_eq!(since, KernelVersion::new(6, 9));
            }
            other => panic!("unexpected hint {other:?}"),
        }
        assert!(e.to_string().contains("`brand_new` of BPF_MAP_CREATE"));
        let e524 = SyscallError::bpf_code(Command::MAP_CREATE, ENOTSUPP, &[], &[]);
        assert_eq!(e524.code, ENOTSUPP);
        assert!(e524.is_not_supported());
        let io: std::io::Error = e.into();
        assert_eq!(io.raw_os_error(), None);
        assert!(io.to_string().contains("E2BIG"));
    }
}
