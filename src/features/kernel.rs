//! What probes read from the running kernel besides `bpf(2)`: its BTF (to find attach
//! targets), its release code, its symbol table, and the BPF sysctls.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::probe::ProbeError;
use crate::btf::Btf;

/// Where the kernel exposes its own BTF.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The running kernel's BTF, parsed once; `None` without `CONFIG_DEBUG_INFO_BTF`.
pub(crate) fn vmlinux() -> Option<Arc<Btf>> {
    static VMLINUX: OnceLock<Option<Arc<Btf>>> = OnceLock::new();
    VMLINUX
        .get_or_init(|| {
            let bytes = std::fs::read(VMLINUX_BTF).ok()?;
            Btf::parse(bytes).ok().map(Arc::new)
        })
        .clone()
}

/// `LINUX_VERSION_CODE` of the running kernel (`a << 16 | b << 8 | min(c, 255)`), what
/// kernels before 5.0 wanted in `kern_version` of kprobe programs; 0 if unknown.
pub(crate) fn version_code() -> u32 {
    let Ok(uts) = nix::sys::utsname::uname() else {
        return 0;
    };
    let release = uts.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let a = parts.next().unwrap_or(0);
    let b = parts.next().unwrap_or(0);
    let c = parts.next().unwrap_or(0);
    (a << 16) | (b.min(255) << 8) | c.min(255)
}

/// The prefix of syscall entry points when the kernel wraps them (`__x64_` on x86-64:
/// `__x64_sys_bpf`), for this build's architecture; `None` where no wrapper convention is
/// known.
pub const SYSCALL_WRAPPER_PREFIX: Option<&str> = if cfg!(target_arch = "x86_64") {
    Some("__x64_")
} else if cfg!(target_arch = "x86") {
    Some("__ia32_")
} else if cfg!(target_arch = "aarch64") {
    Some("__arm64_")
} else if cfg!(target_arch = "s390x") {
    Some("__s390x_")
} else if cfg!(target_arch = "arm") {
    Some("__arm_")
} else if cfg!(target_arch = "riscv64") {
    Some("__riscv_")
} else if cfg!(target_arch = "powerpc64") || cfg!(target_arch = "powerpc") {
    Some("__powerpc_")
} else if cfg!(target_arch = "loongarch64") {
    Some("__loongarch_")
} else if cfg!(target_arch = "mips64") || cfg!(target_arch = "mips") {
    Some("__mips_")
} else {
    None
};

/// Whether syscalls are entered through wrappers (`__x64_sys_bpf` exists).
///
/// libbpf asks by creating a kprobe on `__<arch>_sys_bpf`, which needs `CONFIG_KPROBES`;
/// but the wrapper exists or not regardless of kprobes (this host has none). So this reads
/// the symbol table first: `/proc/kallsyms` lists every function name (addresses may be
/// hidden by `kptr_restrict`, names never are), then tracefs's
/// `available_filter_functions`; only a kernel with neither is asked libbpf's way, with a
/// kprobe perf event on the wrapper (opened and closed, no program attached). Without
/// kallsyms, tracefs and kprobes the question is inconclusive.
pub(crate) fn syscall_wrapper() -> Result<bool, ProbeError> {
    let Some(prefix) = SYSCALL_WRAPPER_PREFIX else {
        return Ok(false);
    };
    let wrapped = format!("{prefix}sys_bpf");
    if let Some(found) = kallsyms_has(&wrapped) {
        return Ok(found);
    }
    for path in [
        "/sys/kernel/tracing/available_filter_functions",
        "/sys/kernel/debug/tracing/available_filter_functions",
    ] {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Ok(text
                .lines()
                .any(|l| l.split_whitespace().next() == Some(wrapped.as_str())));
        }
    }
    if let Some(found) = kprobe_exists(&wrapped) {
        return Ok(found);
    }
    Err(ProbeError::Inconclusive {
        probe: "syscall_wrapper".into(),
        reason: "no /proc/kallsyms, no available_filter_functions and no kprobe PMU".into(),
    })
}

/// Whether a kprobe on `func` can be created through the kprobe PMU; `None` without one.
fn kprobe_exists(func: &str) -> Option<bool> {
    use crate::syscall::{perf_event_open_probe, PerfEventAttr};
    let pmu: u32 = std::fs::read_to_string("/sys/bus/event_source/devices/kprobe/type")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let name = std::ffi::CString::new(func).ok()?;
    let attr = PerfEventAttr::new(pmu, 0);
    // The fd (if any) is dropped at once: the kprobe goes away with it.
    Some(perf_event_open_probe(&attr, Some(&name), 0, -1, 0).is_ok())
}

/// Whether `/proc/kallsyms` lists function `name`; `None` if it cannot be read or is empty
/// (no `CONFIG_KALLSYMS`).
fn kallsyms_has(name: &str) -> Option<bool> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    if text.is_empty() {
        return None;
    }
    Some(kallsyms_lists(&text, name))
}

/// Whether `kallsyms` text (lines `address type name [module]`) has function `name`.
fn kallsyms_lists(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        let mut f = l.split_ascii_whitespace();
        matches!((f.next(), f.next(), f.next()), (Some(_), Some(t), Some(n))
            if n == name && matches!(t, "T" | "t"))
    })
}

/// The BPF settings of `/proc/sys`; each is `None` when the file is absent or unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemSettings {
    /// `net.core.bpf_jit_enable`: 0 off, 1 on, 2 on with debug output.
    pub jit_enable: Option<i64>,
    /// `net.core.bpf_jit_harden`: 0 off, 1 for unprivileged users, 2 for everyone.
    pub jit_harden: Option<i64>,
    /// `net.core.bpf_jit_kallsyms`: JIT images in `/proc/kallsyms` (0 off, 1 for root).
    pub jit_kallsyms: Option<i64>,
    /// `net.core.bpf_jit_limit`: bytes of JIT memory unprivileged programs may use.
    pub jit_limit: Option<i64>,
    /// `kernel.bpf_stats_enabled`: run-time statistics collected.
    pub stats_enabled: Option<i64>,
    /// `kernel.unprivileged_bpf_disabled`: 0 allowed, 1 disabled for good, 2 disabled
    /// (admin can change).
    pub unprivileged_disabled: Option<i64>,
}

fn sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads the BPF sysctls now (not cached: an administrator may change them).
pub fn system() -> SystemSettings {
    SystemSettings {
        jit_enable: sysctl("/proc/sys/net/core/bpf_jit_enable"),
        jit_harden: sysctl("/proc/sys/net/core/bpf_jit_harden"),
        jit_kallsyms: sysctl("/proc/sys/net/core/bpf_jit_kallsyms"),
        jit_limit: sysctl("/proc/sys/net/core/bpf_jit_limit"),
        stats_enabled: sysctl("/proc/sys/kernel/bpf_stats_enabled"),
        unprivileged_disabled: sysctl("/proc/sys/kernel/unprivileged_bpf_disabled"),
    }
}

impl SystemSettings {
    /// The settings as `(sysctl name, value)` pairs, absent ones left out.
    pub fn entries(&self) -> Vec<(&'static str, i64)> {
        [
            ("net.core.bpf_jit_enable", self.jit_enable),
            ("net.core.bpf_jit_harden", self.jit_harden),
            ("net.core.bpf_jit_kallsyms", self.jit_kallsyms),
            ("net.core.bpf_jit_limit", self.jit_limit),
            ("kernel.bpf_stats_enabled", self.stats_enabled),
            (
                "kernel.unprivileged_bpf_disabled",
                self.unprivileged_disabled,
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

impl fmt::Display for SystemSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<i64>, what: &dyn Fn(i64) -> &'static str| match v {
            Some(v) => format!("{v} ({})", what(v)),
            None => "unknown".to_string(),
        };
        writeln!(
            f,
            "JIT: {}",
            show(self.jit_enable, &|v| match v {
                0 => "off",
                1 => "on",
                _ => "on, with debug output",
            })
        )?;
        writeln!(
            f,
            "JIT hardening: {}",
            show(self.jit_harden, &|v| match v {
                0 => "off",
                1 => "for unprivileged users",
                _ => "for everyone",
            })
        )?;
        writeln!(
            f,
            "JIT kallsyms: {}",
            show(self.jit_kallsyms, &|v| if v == 0 {
                "off"
            } else {
                "for root"
            })
        )?;
        if let Some(limit) = self.jit_limit {
            writeln!(f, "JIT memory limit for unprivileged users: {limit} bytes")?;
        }
        writeln!(
            f,
            "run-time statistics: {}",
            show(self.stats_enabled, &|v| if v == 0 { "off" } else { "on" })
        )?;
        write!(
            f,
            "unprivileged bpf(): {}",
            show(self.unprivileged_disabled, &|v| match v {
                0 => "allowed",
                1 => "disabled until reboot",
                _ => "disabled, admin can change",
            })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_code_is_plausible() {
        let code = version_code();
        assert!(code >> 16 >= 3, "{code:#x}");
    }

    #[test]
    fn kallsyms_lines() {
        let text = "0000000000000000 T __x64_sys_bpf\n\
                    0000000000000000 t __x64_sys_bpf_helper\n\
                    ffffffffc0000000 T foo\t[mod]\n";
        assert!(kallsyms_lists(text, "__x64_sys_bpf"));
        assert!(kallsyms_lists(text, "foo"));
        assert!(!kallsyms_lists(text, "__x64_sys"));
        assert!(!kallsyms_lists("0 D __x64_sys_bpf\n", "__x64_sys_bpf"));
    }

    #[test]
    fn settings_entries_skip_absent() {
        let s = SystemSettings {
            jit_enable: Some(1),
            ..Default::default()
        };
        assert_eq!(s.entries(), vec![("net.core.bpf_jit_enable", 1)]);
        assert!(s.to_string().contains("JIT: 1 (on)"));
        assert!(s.to_string().contains("unprivileged bpf(): unknown"));
    }
}
