//! Feature probes that pick the attach path (bpf link or the older mechanism), each a tiny
//! call through the syscall layer, run once per process and cached.
//!
//! Probes never touch the machine's real attach points: link probes on interfaces and network
//! namespaces run in a thread that unshared a fresh network namespace (its loopback device
//! and the namespace itself vanish with the thread); the others ask the kernel questions
//! whose error codes tell "known command, bad argument" from "unknown".

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::insn::{asm, reg::*, Insn};
use crate::syscall::{
    link_create, map_create, prog_load, prog_query, AttachType, KernelVersion, LinkCreate,
    LinkExtra, LinkTarget, MapCreate, MapType, ProgLoad, ProgQuery, ProgType, Target,
};

/// Where the dynamic PMUs live.
pub(crate) const PMU_DIR: &str = "/sys/bus/event_source/devices";

fn trivial_insns() -> [Insn; 2] {
    [asm::mov64_imm(R0, 0), asm::exit()]
}

/// Loads `insns` as a GPL program of `prog_type`, or `None` if the kernel refuses.
fn load(prog_type: ProgType, expected: AttachType, insns: &[Insn]) -> Option<OwnedFd> {
    prog_load(&mut ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        expected_attach_type: expected,
        name: "oxbpf_probe",
        ..Default::default()
    })
    .ok()
}

fn dev_null() -> Option<OwnedFd> {
    fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

/// Whether `BPF_LINK_CREATE` with `BPF_PERF_EVENT` exists (5.15): a link to a non-perf fd
/// fails with EBADF when it does, EINVAL when not.
pub fn perf_link() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let (Some(prog), Some(null)) = (
            load(ProgType::TRACEPOINT, AttachType(0), &trivial_insns()),
            dev_null(),
        ) else {
            return false;
        };
        let req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(null.as_fd()),
            AttachType::PERF_EVENT,
        );
        matches!(link_create(&req), Err(e) if e.errno == Errno::EBADF)
    })
}

/// Whether programs can read a BPF cookie (`bpf_get_attach_cookie`, 5.15).
pub fn bpf_cookie() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        // r0 = bpf_get_attach_cookie(ctx); r0 = 0; exit
        let insns = [asm::call_helper(174), asm::mov64_imm(R0, 0), asm::exit()];
        load(ProgType::TRACEPOINT, AttachType(0), &insns).is_some()
    })
}

/// Whether uprobe_multi links exist (6.6): a link on `/` fails with EBADF (not a regular
/// file) when they do.
pub fn uprobe_multi_link() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let Some(prog) = load(
            ProgType::KPROBE,
            AttachType::TRACE_UPROBE_MULTI,
            &trivial_insns(),
        ) else {
            return false;
        };
        let mut req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::None,
            AttachType::TRACE_UPROBE_MULTI,
        );
        req.extra = LinkExtra::UprobeMulti {
            path: c"/",
            offsets: &[0],
            ref_ctr_offsets: &[],
            cookies: &[],
            flags: 0,
            pid: 0,
        };
        matches!(link_create(&req), Err(e) if e.errno == Errno::EBADF)
    })
}

/// Whether cgroup links exist (5.7): a link to a non-cgroup fd fails with EBADF.
pub fn cgroup_link() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let (Some(prog), Some(null)) = (
            load(
                ProgType::CGROUP_SKB,
                AttachType::CGROUP_INET_EGRESS,
                &[asm::mov64_imm(R0, 1), asm::exit()],
            ),
            dev_null(),
        ) else {
            return false;
        };
        let req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(null.as_fd()),
            AttachType::CGROUP_INET_EGRESS,
        );
        matches!(link_create(&req), Err(e) if e.errno == Errno::EBADF)
    })
}

/// Whether tcx links exist (6.6): `BPF_PROG_QUERY` of `BPF_TCX_INGRESS` on loopback
/// (ifindex 1 in every namespace) answers.
pub fn tcx() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        prog_query(
            Target::Ifindex(1),
            AttachType::TCX_INGRESS,
            &mut ProgQuery::default(),
        )
        .is_ok()
    })
}

/// Whether sockmap links exist (6.10): a link of a verdict program on a fresh sockmap.
pub fn sockmap_link() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let Ok(map) = map_create(&MapCreate {
            map_type: MapType::SOCKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            name: "oxbpf_probe",
            ..Default::default()
        }) else {
            return false;
        };
        let Some(prog) = load(
            ProgType::SK_SKB,
            AttachType::SK_SKB_STREAM_VERDICT,
            &[asm::mov64_imm(R0, 1), asm::exit()],
        ) else {
            return false;
        };
        let req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(map.as_fd()),
            AttachType::SK_SKB_STREAM_VERDICT,
        );
        link_create(&req).is_ok()
    })
}

/// Answers of the probes that need a network namespace of their own.
#[derive(Clone, Copy, Debug)]
struct NetnsAnswers {
    xdp_link: bool,
    netns_link: bool,
}

fn netns_answers() -> NetnsAnswers {
    static ANSWER: OnceLock<NetnsAnswers> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let probed = std::thread::spawn(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).ok()?;
            // XDP link on this namespace's loopback (5.9).
            let xdp_link = load(
                ProgType::XDP,
                AttachType::XDP,
                &[asm::mov64_imm(R0, 2), asm::exit()],
            )
            .is_some_and(|prog| {
                link_create(&LinkCreate::new(
                    prog.as_fd(),
                    LinkTarget::Ifindex(1),
                    AttachType::XDP,
                ))
                .is_ok()
            });
            // netns link (5.8): a flow dissector on this namespace.
            let netns = fs::File::open("/proc/thread-self/ns/net").ok()?;
            let netns_link = load(
                ProgType::FLOW_DISSECTOR,
                AttachType::FLOW_DISSECTOR,
                &trivial_insns(),
            )
            .is_some_and(|prog| {
                link_create(&LinkCreate::new(
                    prog.as_fd(),
                    LinkTarget::Fd(netns.as_fd()),
                    AttachType::FLOW_DISSECTOR,
                ))
                .is_ok()
            });
            Some(NetnsAnswers {
                xdp_link,
                netns_link,
            })
        })
        .join()
        .ok()
        .flatten();
        // Without a namespace to probe in (no CAP_SYS_ADMIN), go by the release.
        probed.unwrap_or_else(|| {
            let at_least = |major, minor| {
                KernelVersion::running().is_some_and(|v| v >= KernelVersion::new(major, minor))
            };
            NetnsAnswers {
                xdp_link: at_least(5, 9),
                netns_link: at_least(5, 8),
            }
        })
    })
}

/// Whether XDP links exist (5.9).
pub fn xdp_link() -> bool {
    netns_answers().xdp_link
}

/// Whether network namespace links (flow dissector, sk_lookup) exist (5.8).
pub fn netns_link() -> bool {
    netns_answers().netns_link
}

/// The type number of dynamic PMU `name` (`kprobe`, `uprobe`), if the kernel has it.
pub fn pmu_type(name: &str) -> Option<u32> {
    fs::read_to_string(format!("{PMU_DIR}/{name}/type"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `config` bit of PMU `name` that makes a return probe (`format/retprobe` reads
/// `config:0`).
pub fn pmu_retprobe_bit(name: &str) -> Option<u32> {
    let text = fs::read_to_string(format!("{PMU_DIR}/{name}/format/retprobe")).ok()?;
    text.trim().strip_prefix("config:")?.parse().ok()
}

/// The first `config` bit of the uprobe PMU's reference-counter offset
/// (`format/ref_ctr_offset` reads `config:32-63`), if the kernel has it (4.20).
pub fn uprobe_ref_ctr_shift() -> Option<u32> {
    let text = fs::read_to_string(format!("{PMU_DIR}/uprobe/format/ref_ctr_offset")).ok()?;
    let bits = text.trim().strip_prefix("config:")?;
    bits.split('-').next()?.parse().ok()
}

/// The prefix of this architecture's syscall entry symbols (`__x64_sys_`) when the kernel
/// wraps syscalls, found in `/proc/kallsyms`; `None` when syscalls are plain `sys_*`.
pub fn syscall_prefix() -> Option<&'static str> {
    static ANSWER: OnceLock<Option<&'static str>> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let prefixes: &[&'static str] = match std::env::consts::ARCH {
            "x86_64" => &["__x64_sys_", "__ia32_sys_"],
            "x86" => &["__ia32_sys_"],
            "aarch64" => &["__arm64_sys_"],
            "s390x" => &["__s390x_sys_"],
            "arm" => &["__arm_sys_"],
            "powerpc64" | "powerpc" => &["sys_"],
            "riscv64" => &["__riscv_sys_"],
            _ => &[],
        };
        let kallsyms = fs::read_to_string("/proc/kallsyms").ok()?;
        prefixes.iter().copied().find(|p| {
            let wanted = format!("{p}bpf");
            kallsyms
                .lines()
                .any(|l| l.split_whitespace().nth(2) == Some(wanted.as_str()))
        })
    })
}

/// The attach-path probes' answers at once (for reports such as `oxbpf feature`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachFeatures {
    /// `BPF_PERF_EVENT` links (5.15).
    pub perf_link: bool,
    /// BPF cookies (5.15).
    pub bpf_cookie: bool,
    /// uprobe_multi links (6.6).
    pub uprobe_multi_link: bool,
    /// cgroup links (5.7).
    pub cgroup_link: bool,
    /// XDP links (5.9).
    pub xdp_link: bool,
    /// netns links (5.8).
    pub netns_link: bool,
    /// tcx links (6.6).
    pub tcx: bool,
    /// sockmap links (6.10).
    pub sockmap_link: bool,
    /// The kprobe PMU (4.17; absent without CONFIG_KPROBES).
    pub kprobe_pmu: bool,
    /// The uprobe PMU (4.17).
    pub uprobe_pmu: bool,
    /// The syscall wrapper prefix.
    pub syscall_prefix: Option<&'static str>,
}

/// Runs (or reads the cached answers of) every attach-path probe.
pub fn attach_features() -> AttachFeatures {
    AttachFeatures {
        perf_link: perf_link(),
        bpf_cookie: bpf_cookie(),
        uprobe_multi_link: uprobe_multi_link(),
        cgroup_link: cgroup_link(),
        xdp_link: xdp_link(),
        netns_link: netns_link(),
        tcx: tcx(),
        sockmap_link: sockmap_link(),
        kprobe_pmu: pmu_type("kprobe").is_some(),
        uprobe_pmu: pmu_type("uprobe").is_some(),
        syscall_prefix: syscall_prefix(),
    }
}
