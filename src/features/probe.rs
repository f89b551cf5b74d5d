//! What every probe shares: the error type, the per-process answer cache, and loading a
//! probe program with its verifier log.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;

use crate::insn::{asm, reg::R0, Insn};
use crate::syscall::{prog_load, LogLevel, ProgLoad, SyscallError, ENOTSUPP};

/// Why a probe has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The kernel refused with EPERM: the process lacks CAP_BPF/CAP_SYS_ADMIN (or
    /// CAP_PERFMON, CAP_NET_ADMIN for some program types), or a security policy (LSM,
    /// lockdown) forbids this load. Not cached: the feature may well exist.
    #[error("probe `{probe}`: permission denied{}: {source}", if *.privileged {
        " although the process has CAP_SYS_ADMIN (a security policy refused it)"
    } else { "" })]
    Permission {
        /// What was probed.
        probe: String,
        /// The refused call.
        source: SyscallError,
        /// Whether the process had CAP_SYS_ADMIN (or CAP_BPF and CAP_PERFMON): then a
        /// policy, not missing capabilities, refused.
        privileged: bool,
    },
    /// The kernel failed with an errno the probe cannot interpret.
    #[error("probe `{probe}`: unexpected failure: {source}{}", log_tail(.log))]
    Unexpected {
        /// What was probed.
        probe: String,
        /// The failed call.
        source: SyscallError,
        /// The last lines of the verifier log, when there was one.
        log: String,
    },
    /// A system call other than `bpf(2)` that a probe needs failed (e.g. creating a private
    /// network namespace).
    #[error("probe `{probe}`: {call} failed: {errno}")]
    Os {
        /// What was probed.
        probe: String,
        /// The call.
        call: &'static str,
        /// Its errno.
        errno: Errno,
    },
    /// The question cannot be answered on this system (e.g. no vmlinux BTF to find an
    /// attach target in, or a program type whose probe needs a target program).
    #[error("probe `{probe}`: {reason}")]
    Inconclusive {
        /// What was probed.
        probe: String,
        /// Why.
        reason: String,
    },
}

fn log_tail(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; verifier: {log}")
    }
}

impl ProbeError {
    /// Whether the probe was refused for lack of privileges.
    pub fn is_permission(&self) -> bool {
        match self {
            ProbeError::Permission { .. } => true,
            ProbeError::Os { errno, .. } => *errno == Errno::EPERM,
            _ => false,
        }
    }

    /// The failed call, when the error comes from one.
    pub fn syscall_error(&self) -> Option<&SyscallError> {
        match self {
            ProbeError::Permission { source, .. } | ProbeError::Unexpected { source, .. } => {
                Some(source)
            }
            ProbeError::Os { .. } | ProbeError::Inconclusive { .. } => None,
        }
    }
}

/// Tri-state answers in atomics: 0 unknown, 1 yes, 2 no.
pub(crate) struct Cache<const N: usize> {
    slots: [AtomicU8; N],
}

impl<const N: usize> Cache<N> {
    pub(crate) const fn new() -> Self {
        Cache {
            slots: [const { AtomicU8::new(0) }; N],
        }
    }

    /// The cached answer of slot `i`, or `probe()`'s (stored only when it is an answer).
    /// Slots past `N` are probed every time.
    pub(crate) fn get_or_probe(
        &self,
        i: usize,
        probe: impl FnOnce() -> Result<bool, ProbeError>,
    ) -> Result<bool, ProbeError> {
        let Some(slot) = self.slots.get(i) else {
            return probe();
        };
        match slot.load(Ordering::Acquire) {
            1 => return Ok(true),
            2 => return Ok(false),
            _ => {}
        }
        // Two threads may probe at once; both get the same answer, so either store wins.
        let answer = probe()?;
        slot.store(if answer { 1 } else { 2 }, Ordering::Release);
        Ok(answer)
    }
}

/// The errno sets a probe reads: `yes` means supported, `no` unsupported (raw codes, so
/// that `ENOTSUPP` fits). EPERM is always a [`ProbeError::Permission`]; anything else is
/// [`ProbeError::Unexpected`].
pub(crate) struct Errnos<'a> {
    pub yes: &'a [i32],
    pub no: &'a [i32],
}

/// The usual reading: success is "yes", EINVAL or E2BIG (an attribute or kind the kernel
/// does not know) is "no".
pub(crate) const PLAIN: Errnos<'static> = Errnos {
    yes: &[],
    no: &[Errno::EINVAL as i32, Errno::E2BIG as i32],
};

pub(crate) const EINVAL: i32 = Errno::EINVAL as i32;
pub(crate) const E2BIG: i32 = Errno::E2BIG as i32;
pub(crate) const EOPNOTSUPP: i32 = Errno::EOPNOTSUPP as i32;
pub(crate) const KERNEL_ENOTSUPP: i32 = ENOTSUPP;

/// Reads `result` with `errnos` (the fd, if any, is dropped: closed).
pub(crate) fn answer<T>(
    probe: &str,
    result: Result<T, SyscallError>,
    errnos: &Errnos<'_>,
) -> Result<bool, ProbeError> {
    answer_with_log(probe, result, errnos, "")
}

/// [`answer`] with the verifier log to quote in an unexpected error.
pub(crate) fn answer_with_log<T>(
    probe: &str,
    result: Result<T, SyscallError>,
    errnos: &Errnos<'_>,
    log: &str,
) -> Result<bool, ProbeError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) => classify(probe, e, errnos, log),
    }
}

/// The answer an error gives (never `Ok(true)` unless its errno is in `yes`).
pub(crate) fn classify(
    probe: &str,
    e: SyscallError,
    errnos: &Errnos<'_>,
    log: &str,
) -> Result<bool, ProbeError> {
    if e.errno == Errno::EPERM {
        return Err(permission(probe, e));
    }
    if errnos.yes.contains(&e.code) {
        return Ok(true);
    }
    if errnos.no.contains(&e.code) {
        return Ok(false);
    }
    Err(unexpected(probe, e, log))
}

/// A [`ProbeError::Permission`] for `e`.
pub(crate) fn permission(probe: &str, e: SyscallError) -> ProbeError {
    ProbeError::Permission {
        probe: probe.to_string(),
        source: e,
        privileged: privileged(),
    }
}

/// Whether the effective capabilities hold CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
fn privileged() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    let has = |c: u32| caps & (1 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// The error of a probe's setup step (a map or program the question needs): EPERM stays a
/// permission error, anything else is unexpected.
pub(crate) fn setup_error(probe: &str, e: SyscallError) -> ProbeError {
    if e.errno == Errno::EPERM {
        permission(probe, e)
    } else {
        unexpected(probe, e, "")
    }
}

/// A [`ProbeError::Unexpected`] quoting the last lines of `log`.
pub(crate) fn unexpected(probe: &str, e: SyscallError, log: &str) -> ProbeError {
    let tail: Vec<&str> = log.lines().rev().take(3).collect();
    let log = tail.into_iter().rev().collect::<Vec<_>>().join(" | ");
    ProbeError::Unexpected {
        probe: probe.to_string(),
        source: e,
        log,
    }
}

/// `r0 = 0; exit`.
pub(crate) const fn trivial() -> [Insn; 2] {
    [asm::mov64_imm(R0, 0), asm::exit()]
}

/// The license probes load under (some helpers are GPL-only).
pub(crate) const LICENSE: &CStr = c"GPL";

/// Size of the verifier log buffer of a probe: enough for the first error of a tiny program.
const LOG_SIZE: usize = 16 * 1024;

/// A probe load's outcome and its verifier log (empty when the kernel wrote none).
pub(crate) struct Loaded {
    pub result: Result<OwnedFd, SyscallError>,
    pub log: String,
    pub log_true_size: u32,
}

/// Loads `req` with a level-1 log (unless it already has a log buffer).
pub(crate) fn load_logged(req: ProgLoad<'_>) -> Loaded {
    let mut buf = vec![0u8; LOG_SIZE];
    // The request's borrows shrink to the buffer's lifetime here.
    fn run<'b>(mut req: ProgLoad<'b>, buf: &'b mut [u8]) -> Loaded {
        if req.log_buf.is_none() {
            req.log_level = LogLevel::LEVEL1;
            req.log_buf = Some(buf);
        }
        let result = prog_load(&mut req);
        let log_true_size = req.log_true_size;
        let written = req.log_buf.take().unwrap_or_default();
        let end = written
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(written.len());
        let log = String::from_utf8_lossy(&written[..end]).into_owned();
        Loaded {
            result,
            log,
            log_true_size,
        }
    }
    run(req, &mut buf)
}

/// Loads `req` without a log.
pub(crate) fn load(mut req: ProgLoad<'_>) -> Result<OwnedFd, SyscallError> {
    prog_load(&mut req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, Command};

    fn err(errno: Errno) -> SyscallError {
        SyscallError::new(Call::Bpf(Command::PROG_LOAD), errno)
    }

    #[test]
    fn classify_reads_errnos() {
        assert_eq!(
            answer::<()>("x", Err(err(Errno::EINVAL)), &PLAIN),
            Ok(false)
        );
        assert_eq!(answer("x", Ok(()), &PLAIN), Ok(true));
        let e = answer::<()>("x", Err(err(Errno::EPERM)), &PLAIN).unwrap_err();
        assert!(e.is_permission());
        assert!(e.to_string().contains("permission denied"));
        let yes = Errnos {
            yes: &[Errno::EBADF as i32],
            no: &[EINVAL],
        };
        assert_eq!(answer::<()>("x", Err(err(Errno::EBADF)), &yes), Ok(true));
        let e =
            answer_with_log::<()>("x", Err(err(Errno::ENOMEM)), &yes, "a\nb\nc\nd").unwrap_err();
        assert!(matches!(&e, ProbeError::Unexpected { log, .. } if log == "b | c | d"));
    }

    #[test]
    fn cache_keeps_answers_not_errors() {
        let cache: Cache<2> = Cache::new();
        let mut calls = 0;
        for _ in 0..3 {
            let r = cache.get_or_probe(0, || {
                calls += 1;
                Ok(true)
            });
            assert_eq!(r, Ok(true));
        }
        assert_eq!(calls, 1);
        let mut calls = 0;
        for _ in 0..2 {
            let r = cache.get_or_probe(1, || {
                calls += 1;
                Err(ProbeError::Inconclusive {
                    probe: "p".into(),
                    reason: "r".into(),
                })
            });
            assert!(r.is_err());
        }
        assert_eq!(calls, 2);
        // Out of range: probed, not stored.
        assert_eq!(cache.get_or_probe(9, || Ok(false)), Ok(false));
    }
}
