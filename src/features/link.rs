//! Link probes: `BPF_LINK_CREATE` of a small program to a target that cannot exist.
//!
//! A kernel without the link kind refuses the attach type with EINVAL (or EOPNOTSUPP when
//! it was compiled out) before looking at the target; one that has it gets as far as the
//! target and fails there with a distinctive errno: EBADF for a perf event or cgroup fd
//! that is not one, ENODEV for an interface index that does not exist, ESRCH for a kernel
//! function that does not exist... Where no such errno exists (XDP, netns links), the probe
//! attaches for real inside a network namespace of its own, on a thread that exits after.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::kernel::vmlinux;
use super::probe::{
    answer, classify, load_logged, setup_error, trivial, Cache, Errnos, ProbeError, E2BIG, EINVAL,
    EOPNOTSUPP, KERNEL_ENOTSUPP, LICENSE,
};
use super::{has, prog_type, Feature};
use crate::btf::BtfKind;
use crate::syscall::{
    link_create, map_create, raw_tracepoint_open, AttachType, LinkCreate, LinkExtra, LinkTarget,
    LinkType, MapCreate, MapFlags, MapType, ProgLoad, ProgType, SyscallError,
};

/// An interface index no device has.
const NO_IFINDEX: u32 = i32::MAX as u32;

fn errno(e: Errno) -> i32 {
    e as i32
}

/// Loads `r0 = 0; exit` as `prog_type` with `attach`; a kernel that refuses the pair has
/// no link of that kind (`Ok(None)`).
fn prog(
    probe: &str,
    prog_type: ProgType,
    attach: AttachType,
) -> Result<Option<OwnedFd>, ProbeError> {
    prog_with(probe, prog_type, attach, 0)
}

fn prog_with(
    probe: &str,
    prog_type: ProgType,
    attach: AttachType,
    attach_btf_id: u32,
) -> Result<Option<OwnedFd>, ProbeError> {
    let insns = trivial();
    let loaded = load_logged(ProgLoad {
        prog_type,
        insns: &insns,
        license: LICENSE,
        expected_attach_type: attach,
        attach_btf_id,
        kern_version: super::kernel::version_code(),
        ..Default::default()
    });
    match loaded.result {
        Ok(fd) => Ok(Some(fd)),
        Err(e) => classify(
            probe,
            e,
            &Errnos {
                yes: &[],
                no: &[EINVAL, E2BIG],
            },
            &loaded.log,
        )
        .map(|_| None),
    }
}

/// Reads a link_create result: `yes` errnos mean the kernel has the link kind.
fn link(
    probe: &str,
    result: Result<OwnedFd, SyscallError>,
    yes: &[i32],
) -> Result<bool, ProbeError> {
    answer(
        probe,
        result,
        &Errnos {
            yes,
            no: &[EINVAL, E2BIG, EOPNOTSUPP, KERNEL_ENOTSUPP],
        },
    )
}

/// A tracepoint program linked to a "perf event" that is the program itself: a kernel with
/// perf links fails to find the perf event (EBADF).
pub(crate) fn perf_link() -> Result<bool, ProbeError> {
    const NAME: &str = "perf_link";
    let Some(p) = prog(NAME, ProgType::TRACEPOINT, AttachType::default())? else {
        return Ok(false);
    };
    let req = LinkCreate::new(p.as_fd(), LinkTarget::Fd(p.as_fd()), AttachType::PERF_EVENT);
    link(NAME, link_create(&req), &[errno(Errno::EBADF)])
}

fn uprobe_multi_link(p: BorrowedFd<'_>, pid: u32) -> Result<OwnedFd, SyscallError> {
    let offsets = [0u64];
    let mut req = LinkCreate::new(p, LinkTarget::None, AttachType::TRACE_UPROBE_MULTI);
    req.extra = LinkExtra::UprobeMulti {
        path: c"/",
        offsets: &offsets,
        ref_ctr_offsets: &[],
        cookies: &[],
        flags: 0,
        pid,
    };
    link_create(&req)
}

/// uprobe_multi links exist if a probe on `/` (a directory) fails with EBADF; the PID
/// filter works (6.8 fix) if PID -1 is refused with EINVAL before the path is looked at.
/// libbpf counts the link as missing without the fix, and so does this probe.
fn uprobe_multi_probe(with_pid_fix: bool) -> Result<bool, ProbeError> {
    let name = if with_pid_fix {
        "uprobe_multi_link"
    } else {
        "uprobe_multi link type"
    };
    let Some(p) = prog(name, ProgType::KPROBE, AttachType::TRACE_UPROBE_MULTI)? else {
        return Ok(false);
    };
    if !link(
        name,
        uprobe_multi_link(p.as_fd(), 0),
        &[errno(Errno::EBADF)],
    )? {
        return Ok(false);
    }
    if !with_pid_fix {
        return Ok(true);
    }
    answer(
        name,
        uprobe_multi_link(p.as_fd(), u32::MAX),
        &Errnos {
            yes: &[EINVAL],
            no: &[errno(Errno::EBADF)],
        },
    )
}

pub(crate) fn uprobe_multi() -> Result<bool, ProbeError> {
    uprobe_multi_probe(true)
}

/// A kprobe_multi link on a function that does not exist: ESRCH from the symbol lookup.
/// Without `CONFIG_FPROBE` the kernel answers EOPNOTSUPP.
pub(crate) fn kprobe_multi() -> Result<bool, ProbeError> {
    const NAME: &str = "kprobe_multi_link";
    let Some(p) = prog(NAME, ProgType::KPROBE, AttachType::TRACE_KPROBE_MULTI)? else {
        return Ok(false);
    };
    let syms: [&CStr; 1] = [c"oxbpf_no_such_function_for_probing"];
    let mut req = LinkCreate::new(p.as_fd(), LinkTarget::None, AttachType::TRACE_KPROBE_MULTI);
    req.extra = LinkExtra::KprobeMulti {
        flags: 0,
        syms: &syms,
        addrs: &[],
        cookies: &[],
    };
    link(
        NAME,
        link_create(&req),
        &[errno(Errno::ESRCH), errno(Errno::ENOENT)],
    )
}

/// A SCHED_CLS program linked at `attach` on an interface that does not exist: ENODEV.
fn sched_cls_link(name: &str, attach: AttachType) -> Result<bool, ProbeError> {
    let Some(p) = prog(name, ProgType::SCHED_CLS, attach)? else {
        return Ok(false);
    };
    let req = LinkCreate::new(p.as_fd(), LinkTarget::Ifindex(NO_IFINDEX), attach);
    link(name, link_create(&req), &[errno(Errno::ENODEV)])
}

pub(crate) fn tcx() -> Result<bool, ProbeError> {
    sched_cls_link("tcx_link", AttachType::TCX_INGRESS)
}

/// netkit links: without `CONFIG_NETKIT` the kernel refuses the attach type (EINVAL).
pub(crate) fn netkit() -> Result<bool, ProbeError> {
    sched_cls_link("netkit_link", AttachType::NETKIT_PRIMARY)
}

/// A netfilter link for protocol family 0: EAFNOSUPPORT from the family check.
pub(crate) fn netfilter() -> Result<bool, ProbeError> {
    const NAME: &str = "netfilter_link";
    let Some(p) = prog(NAME, ProgType::NETFILTER, AttachType::NETFILTER)? else {
        return Ok(false);
    };
    let mut req = LinkCreate::new(p.as_fd(), LinkTarget::None, AttachType::NETFILTER);
    req.extra = LinkExtra::Netfilter {
        pf: 0,
        hooknum: 0,
        priority: 1,
        flags: 0,
    };
    link(
        NAME,
        link_create(&req),
        &[
            errno(Errno::EAFNOSUPPORT),
            errno(Errno::EPROTO),
            errno(Errno::ERANGE),
        ],
    )
}

/// struct_ops maps created with `BPF_F_LINK` (what struct_ops links attach): a kernel that
/// knows the flag gets past the attribute check to the (invalid) value type and answers
/// ENOTSUPP; one that does not refuses the flag with EINVAL.
pub(crate) fn struct_ops() -> Result<bool, ProbeError> {
    let req = MapCreate {
        map_type: MapType::STRUCT_OPS,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: MapFlags::LINK,
        btf_vmlinux_value_type_id: 1,
        ..Default::default()
    };
    answer(
        "struct_ops_link",
        map_create(&req),
        &Errnos {
            yes: &[KERNEL_ENOTSUPP],
            no: &[EINVAL, E2BIG],
        },
    )
}

/// Runs `f` on a new thread in a network namespace of its own (which goes away with the
/// thread), so that links can be attached to its loopback without touching the host's.
fn in_private_netns<R: Send>(
    probe: &str,
    f: impl FnOnce() -> Result<R, ProbeError> + Send,
) -> Result<R, ProbeError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| {
                ProbeError::Os {
                    probe: probe.to_string(),
                    call: "unshare(CLONE_NEWNET)",
                    errno,
                }
            })?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ProbeError::Inconclusive {
                probe: probe.to_string(),
                reason: "the probe thread panicked".into(),
            })
        })
    })
}

/// An XDP link on the loopback of a private network namespace (XDP has no errno that
/// tells a missing device from a missing link kind).
fn xdp_link() -> Result<bool, ProbeError> {
    const NAME: &str = "xdp link";
    let Some(p) = prog(NAME, ProgType::XDP, AttachType::XDP)? else {
        return Ok(false);
    };
    in_private_netns(NAME, || {
        // XDP_FLAGS_SKB_MODE: generic XDP, which loopback supports.
        let mut req = LinkCreate::new(p.as_fd(), LinkTarget::Ifindex(1), AttachType::XDP);
        req.flags = 1 << 1;
        link(NAME, link_create(&req), &[])
    })
}

/// A flow dissector link on a private network namespace.
fn netns_link() -> Result<bool, ProbeError> {
    const NAME: &str = "netns link";
    let Some(p) = prog(NAME, ProgType::FLOW_DISSECTOR, AttachType::FLOW_DISSECTOR)? else {
        return Ok(false);
    };
    in_private_netns(NAME, || {
        let ns = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| {
            ProbeError::Inconclusive {
                probe: NAME.into(),
                reason: format!("cannot open /proc/thread-self/ns/net: {e}"),
            }
        })?;
        let req = LinkCreate::new(
            p.as_fd(),
            LinkTarget::Fd(ns.as_fd()),
            AttachType::FLOW_DISSECTOR,
        );
        link(NAME, link_create(&req), &[])
    })
}

/// A cgroup link to a "cgroup" that is the program itself: EBADF from the cgroup lookup.
fn cgroup_link() -> Result<bool, ProbeError> {
    const NAME: &str = "cgroup link";
    let Some(p) = prog(NAME, ProgType::CGROUP_SKB, AttachType::CGROUP_INET_INGRESS)? else {
        return Ok(false);
    };
    let req = LinkCreate::new(
        p.as_fd(),
        LinkTarget::Fd(p.as_fd()),
        AttachType::CGROUP_INET_INGRESS,
    );
    link(NAME, link_create(&req), &[errno(Errno::EBADF)])
}

/// A raw tracepoint that does not exist: ENOENT from the lookup.
fn raw_tracepoint_link() -> Result<bool, ProbeError> {
    const NAME: &str = "raw_tracepoint link";
    let Some(p) = prog(NAME, ProgType::RAW_TRACEPOINT, AttachType::default())? else {
        return Ok(false);
    };
    link(
        NAME,
        raw_tracepoint_open(p.as_fd(), Some(c"oxbpf_no_such_tracepoint"), 0),
        &[errno(Errno::ENOENT)],
    )
}

/// An iterator link (task iterator, which every kernel with iterators has).
fn iter_link() -> Result<bool, ProbeError> {
    const NAME: &str = "iter link";
    let Some(btf) = vmlinux() else {
        return Err(ProbeError::Inconclusive {
            probe: NAME.into(),
            reason: "no vmlinux BTF to find bpf_iter_task in".into(),
        });
    };
    let Some(id) = btf.id_by_name_kind("bpf_iter_task", BtfKind::Func) else {
        return Ok(false);
    };
    let Some(p) = prog_with(NAME, ProgType::TRACING, AttachType::TRACE_ITER, id)? else {
        return Ok(false);
    };
    let req = LinkCreate::new(p.as_fd(), LinkTarget::None, AttachType::TRACE_ITER);
    link(NAME, link_create(&req), &[])
}

/// A sockmap link (6.10): an SK_SKB verdict program on a sockmap of our own.
fn sockmap_link() -> Result<bool, ProbeError> {
    const NAME: &str = "sockmap link";
    let Some(p) = prog(NAME, ProgType::SK_SKB, AttachType::SK_SKB_VERDICT)? else {
        return Ok(false);
    };
    let map = map_create(&MapCreate {
        map_type: MapType::SOCKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    })
    .map_err(|e| setup_error(NAME, e))?;
    let req = LinkCreate::new(
        p.as_fd(),
        LinkTarget::Fd(map.as_fd()),
        AttachType::SK_SKB_VERDICT,
    );
    link(NAME, link_create(&req), &[])
}

static CACHE: Cache<64> = Cache::new();

/// Whether links of type `t` can be created (probed once per type).
///
/// TRACING links are inferred from TRACING programs loading (they attach only through
/// links or raw_tracepoint_open).
pub fn link_type(t: LinkType) -> Result<bool, ProbeError> {
    // Kinds that are a [`Feature`] answer from its cache (and honour forced-missing).
    match t {
        LinkType::TRACING => return prog_type(ProgType::TRACING),
        LinkType::PERF_EVENT => return has(Feature::PerfLink),
        LinkType::KPROBE_MULTI => return has(Feature::KprobeMultiLink),
        LinkType::STRUCT_OPS => return has(Feature::StructOpsLink),
        LinkType::NETFILTER => return has(Feature::NetfilterLink),
        LinkType::TCX => return has(Feature::TcxLink),
        LinkType::NETKIT => return has(Feature::NetkitLink),
        _ => {}
    }
    CACHE.get_or_probe(t.0 as usize, || match t {
        LinkType::RAW_TRACEPOINT => raw_tracepoint_link(),
        LinkType::CGROUP => cgroup_link(),
        LinkType::ITER => iter_link(),
        LinkType::NETNS => netns_link(),
        LinkType::XDP => xdp_link(),
        LinkType::UPROBE_MULTI => uprobe_multi_probe(false),
        LinkType::SOCKMAP => sockmap_link(),
        _ => Ok(false),
    })
}
