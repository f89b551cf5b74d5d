//! Helpers shared by the integration tests.
//!
//! Privileged tests call [`require_bpf!`] first: it decides once whether this process may
//! load BPF (euid 0, or CAP_BPF with CAP_PERFMON/CAP_NET_ADMIN as the test needs) and, when it
//! may not, prints why the test is skipped and returns.
#![allow(dead_code)]

use std::sync::OnceLock;

/// Capability numbers from `linux/capability.h`.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_SYS_ADMIN`.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`.
pub const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`.
pub const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Whether the effective capability set holds `cap`.
pub fn has_cap(cap: u32) -> bool {
    effective_caps() & (1u64 << cap) != 0
}

/// `Ok(())` when this process may load BPF programs and create maps, else why not.
pub fn bpf_privileges() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            let euid = nix::unistd::geteuid();
            if euid.is_root() && has_cap(CAP_SYS_ADMIN) {
                return Ok(());
            }
            if has_cap(CAP_BPF) && has_cap(CAP_PERFMON) {
                return Ok(());
            }
            if has_cap(CAP_SYS_ADMIN) {
                return Ok(());
            }
            Err(format!(
                "needs root or CAP_BPF+CAP_PERFMON (euid {euid}, CapEff {:#x})",
                effective_caps()
            ))
        })
        .clone()
}

/// Skips the calling test (with a printed reason) unless the process may load BPF.
#[macro_export]
macro_rules! require_bpf {
    () => {
        if let Err(why) = $crate::common::bpf_privileges() {
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// Number of open file descriptors of this process (entries of `/proc/self/fd`).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The directory holding the committed BPF fixture objects.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A process-wide lock for tests that count file descriptors: in a test binary that checks
/// `/proc/self/fd`, every test takes this first so no other test opens fds meanwhile.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bpffs mounted on a temporary directory, unmounted (lazily) on drop.
pub struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    /// Mounts a fresh bpffs.
    pub fn mount() -> Bpffs {
        let dir = tempfile::tempdir().expect("tempdir");
        nix::mount::mount(
            Some("bpf"),
            dir.path(),
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount -t bpf");
        Bpffs { dir }
    }

    /// The mount point.
    pub fn root(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A path under the mount point.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The committed fixture objects of a group built by both clangs (`<name>.clang14.o`,
/// `<name>.clang19.o`).
pub fn fixture_pair(group: &str, name: &str) -> Vec<std::path::PathBuf> {
    ["clang14", "clang19"]
        .iter()
        .map(|c| fixtures_dir().join(group).join(format!("{name}.{c}.o")))
        .collect()
}

/// Mounts tracefs at /sys/kernel/tracing unless a tracefs is already reachable.
pub fn ensure_tracefs() -> bool {
    if oxbpf::programs::tracefs_root().is_some() {
        return true;
    }
    let _ = nix::mount::mount(
        Some("nodev"),
        "/sys/kernel/tracing",
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    oxbpf::programs::tracefs_root().is_some()
}

/// Whether a security policy of this kernel refuses, even to root, the programs that attach
/// through BPF trampolines (fentry, fexit, fmod_ret, LSM, freplace), as the development host's
/// does: the probes of the program types that exist only for trampolines (EXT, LSM) answer
/// with a permission error. Elsewhere (the 6.1 guest) those kinds must load and run.
pub fn trampolines_refused_by_policy() -> bool {
    use oxbpf::features::{prog_type, ProbeError};
    use oxbpf::syscall::ProgType;
    [ProgType::EXT, ProgType::LSM]
        .iter()
        .any(|t| matches!(prog_type(*t), Err(ProbeError::Permission { .. })))
}

/// Whether this kernel can attach kprobes: its `kprobe` PMU exists (no `CONFIG_KPROBES`, no
/// PMU, and no tracefs `kprobe_events` either).
pub fn has_kprobes() -> bool {
    oxbpf::programs::probe::pmu_type("kprobe").is_some()
}

/// Whether the BPF LSM is active, as the kernel's securityfs `lsm` list (the boot-time LSM
/// order) says: LSM programs load and attach without it but never run. Mounts securityfs
/// when needed; `None` if the list cannot be read.
pub fn bpf_lsm_active() -> Option<bool> {
    const LIST: &str = "/sys/kernel/security/lsm";
    if std::fs::metadata(LIST).is_err() {
        let _ = nix::mount::mount(
            Some("securityfs"),
            "/sys/kernel/security",
            Some("securityfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
    let list = std::fs::read_to_string(LIST).ok()?;
    Some(list.trim().split(',').any(|l| l == "bpf"))
}
