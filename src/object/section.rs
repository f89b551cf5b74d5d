//! libbpf's `SEC()` name table as data: which program type, expected attach type, load
//! flags and auto-attach kind a section name stands for.
//!
//! Matching follows libbpf (`sec_def_matches`): a pattern ending in `+` matches the bare
//! name or the name followed by `/` and anything; any other pattern matches only itself.
//! Rows are tried top to bottom and the first match wins. A leading `?` on a section name
//! turns autoload off and is not part of the matched name.

use bitflags::bitflags;

use crate::syscall::{AttachType, ProgType};

bitflags! {
    /// Load-time flags of a section definition (libbpf's `enum sec_def_flags`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SecFlags: u32 {
        /// Drop `expected_attach_type` when the kernel does not know the field.
        const EXP_ATTACH_OPT = 1;
        /// Legacy marker for attachable types (no load effect).
        const ATTACHABLE = 2;
        /// Resolve `attach_btf_id` from the name after the `/`.
        const ATTACH_BTF = 4;
        /// Load with `BPF_F_SLEEPABLE`.
        const SLEEPABLE = 8;
        /// Load with `BPF_F_XDP_HAS_FRAGS`.
        const XDP_FRAGS = 16;
        /// A USDT probe: use `BPF_TRACE_UPROBE_MULTI` when the kernel has uprobe_multi links.
        const USDT = 32;
    }
}

/// How a program of a section is attached automatically (libbpf's `attach_fn`), for the
/// programs module to dispatch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoAttach {
    /// No auto-attach; the user attaches explicitly.
    None,
    /// kprobe/kretprobe: `func[+offset]`.
    Kprobe,
    /// uprobe/uretprobe: `binary:func[+offset]`.
    Uprobe,
    /// Tracepoint: `category/name`.
    Tracepoint,
    /// Raw tracepoint: the tracepoint name.
    RawTracepoint,
    /// BTF-based tracing (tp_btf, fentry, fexit, fmod_ret, fsession, freplace).
    Trace,
    /// LSM hook.
    Lsm,
    /// BPF iterator.
    Iter,
    /// USDT probe: `path:provider:name`.
    Usdt,
    /// Syscall kprobe: the syscall name.
    Ksyscall,
    /// kprobe.multi: a glob pattern.
    KprobeMulti,
    /// kprobe.session: a glob pattern.
    KprobeSession,
    /// uprobe.multi/uprobe.session: `binary:pattern`.
    UprobeMulti,
    /// fentry.multi/fexit.multi/fsession.multi: a pattern.
    TracingMulti,
}

/// One row of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecDef {
    /// The pattern as libbpf writes it (`kprobe+`, `xdp`, `cgroup/connect4`).
    pub pattern: &'static str,
    /// Program type.
    pub prog_type: ProgType,
    /// `expected_attach_type` at load (`None`: 0 is passed).
    pub attach_type: Option<AttachType>,
    /// Load flags.
    pub flags: SecFlags,
    /// Auto-attach kind.
    pub auto_attach: AutoAttach,
    /// A return probe (kretprobe, uretprobe, kretsyscall, kretprobe.multi, ...).
    pub retprobe: bool,
}

impl SecDef {
    /// Whether the section name (without a leading `?`) matches this row.
    pub fn matches(&self, name: &str) -> bool {
        match self.pattern.strip_suffix('+') {
            Some(base) => match name.strip_prefix(base) {
                Some(rest) => rest.is_empty() || rest.starts_with('/'),
                None => false,
            },
            None => name == self.pattern,
        }
    }
}

/// `BPF_TRACE_FENTRY_MULTI` (newer than [`AttachType::ALL`]).
pub const TRACE_FENTRY_MULTI: AttachType = AttachType(59);
/// `BPF_TRACE_FEXIT_MULTI`.
pub const TRACE_FEXIT_MULTI: AttachType = AttachType(60);
/// `BPF_TRACE_FSESSION_MULTI`.
pub const TRACE_FSESSION_MULTI: AttachType = AttachType(61);

const NONE: SecFlags = SecFlags::empty();
const ATT: SecFlags = SecFlags::ATTACHABLE;
const ATT_OPT: SecFlags = SecFlags::ATTACHABLE.union(SecFlags::EXP_ATTACH_OPT);
const BTF: SecFlags = SecFlags::ATTACH_BTF;
const SLEEP: SecFlags = SecFlags::SLEEPABLE;
const BTF_SLEEP: SecFlags = SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE);
const FRAGS: SecFlags = SecFlags::XDP_FRAGS;
const USDT: SecFlags = SecFlags::USDT;
const USDT_SLEEP: SecFlags = SecFlags::USDT.union(SecFlags::SLEEPABLE);

const fn row(
    pattern: &'static str,
    prog_type: ProgType,
    attach_type: Option<AttachType>,
    flags: SecFlags,
    auto_attach: AutoAttach,
) -> SecDef {
    SecDef {
        pattern,
        prog_type,
        attach_type,
        flags,
        auto_attach,
        retprobe: false,
    }
}

const fn ret(
    pattern: &'static str,
    prog_type: ProgType,
    attach_type: Option<AttachType>,
    flags: SecFlags,
    auto_attach: AutoAttach,
) -> SecDef {
    SecDef {
        retprobe: true,
        ..row(pattern, prog_type, attach_type, flags, auto_attach)
    }
}

use AutoAttach as A;
use ProgType as P;

const fn at(a: AttachType) -> Option<AttachType> {
    Some(a)
}
type T = AttachType;

/// The table, in libbpf's order (first match wins).
#[rustfmt::skip]
pub static SECTION_DEFS: &[SecDef] = &[
    row("socket", P::SOCKET_FILTER, None, NONE, A::None),
    row("sk_reuseport/migrate", P::SK_REUSEPORT, at(T::SK_REUSEPORT_SELECT_OR_MIGRATE), ATT, A::None),
    row("sk_reuseport", P::SK_REUSEPORT, at(T::SK_REUSEPORT_SELECT), ATT, A::None),
    row("kprobe+", P::KPROBE, None, NONE, A::Kprobe),
    row("uprobe+", P::KPROBE, None, NONE, A::Uprobe),
    row("uprobe.s+", P::KPROBE, None, SLEEP, A::Uprobe),
    ret("kretprobe+", P::KPROBE, None, NONE, A::Kprobe),
    ret("uretprobe+", P::KPROBE, None, NONE, A::Uprobe),
    ret("uretprobe.s+", P::KPROBE, None, SLEEP, A::Uprobe),
    row("kprobe.multi+", P::KPROBE, at(T::TRACE_KPROBE_MULTI), NONE, A::KprobeMulti),
    ret("kretprobe.multi+", P::KPROBE, at(T::TRACE_KPROBE_MULTI), NONE, A::KprobeMulti),
    row("kprobe.session+", P::KPROBE, at(T::TRACE_KPROBE_SESSION), NONE, A::KprobeSession),
    row("uprobe.multi+", P::KPROBE, at(T::TRACE_UPROBE_MULTI), NONE, A::UprobeMulti),
    ret("uretprobe.multi+", P::KPROBE, at(T::TRACE_UPROBE_MULTI), NONE, A::UprobeMulti),
    row("uprobe.session+", P::KPROBE, at(T::TRACE_UPROBE_SESSION), NONE, A::UprobeMulti),
    row("uprobe.multi.s+", P::KPROBE, at(T::TRACE_UPROBE_MULTI), SLEEP, A::UprobeMulti),
    ret("uretprobe.multi.s+", P::KPROBE, at(T::TRACE_UPROBE_MULTI), SLEEP, A::UprobeMulti),
    row("uprobe.session.s+", P::KPROBE, at(T::TRACE_UPROBE_SESSION), SLEEP, A::UprobeMulti),
    row("ksyscall+", P::KPROBE, None, NONE, A::Ksyscall),
    ret("kretsyscall+", P::KPROBE, None, NONE, A::Ksyscall),
    row("usdt+", P::KPROBE, None, USDT, A::Usdt),
    row("usdt.s+", P::KPROBE, None, USDT_SLEEP, A::Usdt),
    row("tc/ingress", P::SCHED_CLS, at(T::TCX_INGRESS), NONE, A::None),
    row("tc/egress", P::SCHED_CLS, at(T::TCX_EGRESS), NONE, A::None),
    row("tcx/ingress", P::SCHED_CLS, at(T::TCX_INGRESS), NONE, A::None),
    row("tcx/egress", P::SCHED_CLS, at(T::TCX_EGRESS), NONE, A::None),
    row("tc", P::SCHED_CLS, None, NONE, A::None),
    row("classifier", P::SCHED_CLS, None, NONE, A::None),
    row("action", P::SCHED_ACT, None, NONE, A::None),
    row("netkit/primary", P::SCHED_CLS, at(T::NETKIT_PRIMARY), NONE, A::None),
    row("netkit/peer", P::SCHED_CLS, at(T::NETKIT_PEER), NONE, A::None),
    row("tracepoint+", P::TRACEPOINT, None, NONE, A::Tracepoint),
    row("tp+", P::TRACEPOINT, None, NONE, A::Tracepoint),
    row("tracepoint.s+", P::TRACEPOINT, None, SLEEP, A::Tracepoint),
    row("tp.s+", P::TRACEPOINT, None, SLEEP, A::Tracepoint),
    row("raw_tracepoint+", P::RAW_TRACEPOINT, None, NONE, A::RawTracepoint),
    row("raw_tp+", P::RAW_TRACEPOINT, None, NONE, A::RawTracepoint),
    row("raw_tracepoint.s+", P::RAW_TRACEPOINT, None, SLEEP, A::RawTracepoint),
    row("raw_tp.s+", P::RAW_TRACEPOINT, None, SLEEP, A::RawTracepoint),
    row("raw_tracepoint.w+", P::RAW_TRACEPOINT_WRITABLE, None, NONE, A::RawTracepoint),
    row("raw_tp.w+", P::RAW_TRACEPOINT_WRITABLE, None, NONE, A::RawTracepoint),
    row("tp_btf+", P::TRACING, at(T::TRACE_RAW_TP), BTF, A::Trace),
    row("tp_btf.s+", P::TRACING, at(T::TRACE_RAW_TP), BTF_SLEEP, A::Trace),
    row("fentry+", P::TRACING, at(T::TRACE_FENTRY), BTF, A::Trace),
    row("fmod_ret+", P::TRACING, at(T::MODIFY_RETURN), BTF, A::Trace),
    row("fexit+", P::TRACING, at(T::TRACE_FEXIT), BTF, A::Trace),
    row("fentry.s+", P::TRACING, at(T::TRACE_FENTRY), BTF_SLEEP, A::Trace),
    row("fmod_ret.s+", P::TRACING, at(T::MODIFY_RETURN), BTF_SLEEP, A::Trace),
    row("fexit.s+", P::TRACING, at(T::TRACE_FEXIT), BTF_SLEEP, A::Trace),
    row("fsession+", P::TRACING, at(T::TRACE_FSESSION), BTF, A::Trace),
    row("fsession.s+", P::TRACING, at(T::TRACE_FSESSION), BTF_SLEEP, A::Trace),
    row("fsession.multi+", P::TRACING, at(TRACE_FSESSION_MULTI), NONE, A::TracingMulti),
    row("fsession.multi.s+", P::TRACING, at(TRACE_FSESSION_MULTI), SLEEP, A::TracingMulti),
    row("fentry.multi+", P::TRACING, at(TRACE_FENTRY_MULTI), NONE, A::TracingMulti),
    row("fexit.multi+", P::TRACING, at(TRACE_FEXIT_MULTI), NONE, A::TracingMulti),
    row("fentry.multi.s+", P::TRACING, at(TRACE_FENTRY_MULTI), SLEEP, A::TracingMulti),
    row("fexit.multi.s+", P::TRACING, at(TRACE_FEXIT_MULTI), SLEEP, A::TracingMulti),
    row("freplace+", P::EXT, None, BTF, A::Trace),
    row("lsm+", P::LSM, at(T::LSM_MAC), BTF, A::Lsm),
    row("lsm.s+", P::LSM, at(T::LSM_MAC), BTF_SLEEP, A::Lsm),
    row("lsm_cgroup+", P::LSM, at(T::LSM_CGROUP), BTF, A::None),
    row("iter+", P::TRACING, at(T::TRACE_ITER), BTF, A::Iter),
    row("iter.s+", P::TRACING, at(T::TRACE_ITER), BTF_SLEEP, A::Iter),
    row("syscall", P::SYSCALL, None, SLEEP, A::None),
    row("xdp.frags/devmap", P::XDP, at(T::XDP_DEVMAP), FRAGS, A::None),
    row("xdp/devmap", P::XDP, at(T::XDP_DEVMAP), ATT, A::None),
    row("xdp.frags/cpumap", P::XDP, at(T::XDP_CPUMAP), FRAGS, A::None),
    row("xdp/cpumap", P::XDP, at(T::XDP_CPUMAP), ATT, A::None),
    row("xdp.frags", P::XDP, at(T::XDP), FRAGS, A::None),
    row("xdp", P::XDP, at(T::XDP), ATT_OPT, A::None),
    row("perf_event", P::PERF_EVENT, None, NONE, A::None),
    row("lwt_in", P::LWT_IN, None, NONE, A::None),
    row("lwt_out", P::LWT_OUT, None, NONE, A::None),
    row("lwt_xmit", P::LWT_XMIT, None, NONE, A::None),
    row("lwt_seg6local", P::LWT_SEG6LOCAL, None, NONE, A::None),
    row("sockops", P::SOCK_OPS, at(T::CGROUP_SOCK_OPS), ATT_OPT, A::None),
    row("sk_skb/stream_parser", P::SK_SKB, at(T::SK_SKB_STREAM_PARSER), ATT_OPT, A::None),
    row("sk_skb/stream_verdict", P::SK_SKB, at(T::SK_SKB_STREAM_VERDICT), ATT_OPT, A::None),
    row("sk_skb/verdict", P::SK_SKB, at(T::SK_SKB_VERDICT), ATT_OPT, A::None),
    row("sk_skb", P::SK_SKB, None, NONE, A::None),
    row("sk_msg", P::SK_MSG, at(T::SK_MSG_VERDICT), ATT_OPT, A::None),
    row("lirc_mode2", P::LIRC_MODE2, at(T::LIRC_MODE2), ATT_OPT, A::None),
    row("flow_dissector", P::FLOW_DISSECTOR, at(T::FLOW_DISSECTOR), ATT_OPT, A::None),
    row("cgroup_skb/ingress", P::CGROUP_SKB, at(T::CGROUP_INET_INGRESS), ATT_OPT, A::None),
    row("cgroup_skb/egress", P::CGROUP_SKB, at(T::CGROUP_INET_EGRESS), ATT_OPT, A::None),
    row("cgroup/skb", P::CGROUP_SKB, None, NONE, A::None),
    row("cgroup/sock_create", P::CGROUP_SOCK, at(T::CGROUP_INET_SOCK_CREATE), ATT, A::None),
    row("cgroup/sock_release", P::CGROUP_SOCK, at(T::CGROUP_INET_SOCK_RELEASE), ATT, A::None),
    row("cgroup/sock", P::CGROUP_SOCK, at(T::CGROUP_INET_SOCK_CREATE), ATT_OPT, A::None),
    row("cgroup/post_bind4", P::CGROUP_SOCK, at(T::CGROUP_INET4_POST_BIND), ATT, A::None),
    row("cgroup/post_bind6", P::CGROUP_SOCK, at(T::CGROUP_INET6_POST_BIND), ATT, A::None),
    row("cgroup/bind4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET4_BIND), ATT, A::None),
    row("cgroup/bind6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET6_BIND), ATT, A::None),
    row("cgroup/connect4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET4_CONNECT), ATT, A::None),
    row("cgroup/connect6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET6_CONNECT), ATT, A::None),
    row("cgroup/connect_unix", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UNIX_CONNECT), ATT, A::None),
    row("cgroup/sendmsg4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UDP4_SENDMSG), ATT, A::None),
    row("cgroup/sendmsg6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UDP6_SENDMSG), ATT, A::None),
    row("cgroup/sendmsg_unix", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UNIX_SENDMSG), ATT, A::None),
    row("cgroup/recvmsg4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UDP4_RECVMSG), ATT, A::None),
    row("cgroup/recvmsg6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UDP6_RECVMSG), ATT, A::None),
    row("cgroup/recvmsg_unix", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UNIX_RECVMSG), ATT, A::None),
    row("cgroup/getpeername4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET4_GETPEERNAME), ATT, A::None),
    row("cgroup/getpeername6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET6_GETPEERNAME), ATT, A::None),
    row("cgroup/getpeername_unix", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UNIX_GETPEERNAME), ATT, A::None),
    row("cgroup/getsockname4", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET4_GETSOCKNAME), ATT, A::None),
    row("cgroup/getsockname6", P::CGROUP_SOCK_ADDR, at(T::CGROUP_INET6_GETSOCKNAME), ATT, A::None),
    row("cgroup/getsockname_unix", P::CGROUP_SOCK_ADDR, at(T::CGROUP_UNIX_GETSOCKNAME), ATT, A::None),
    row("cgroup/sysctl", P::CGROUP_SYSCTL, at(T::CGROUP_SYSCTL), ATT, A::None),
    row("cgroup/getsockopt", P::CGROUP_SOCKOPT, at(T::CGROUP_GETSOCKOPT), ATT, A::None),
    row("cgroup/setsockopt", P::CGROUP_SOCKOPT, at(T::CGROUP_SETSOCKOPT), ATT, A::None),
    row("cgroup/dev", P::CGROUP_DEVICE, at(T::CGROUP_DEVICE), ATT_OPT, A::None),
    row("struct_ops+", P::STRUCT_OPS, None, NONE, A::None),
    row("struct_ops.s+", P::STRUCT_OPS, None, SLEEP, A::None),
    row("sk_lookup", P::SK_LOOKUP, at(T::SK_LOOKUP), ATT, A::None),
    row("netfilter", P::NETFILTER, at(T::NETFILTER), NONE, A::None),
];

/// The first row matching `name` (a leading `?` is ignored), if any.
pub fn find_sec_def(name: &str) -> Option<&'static SecDef> {
    let name = name.strip_prefix('?').unwrap_or(name);
    SECTION_DEFS.iter().find(|d| d.matches(name))
}

/// What a program's section name says: the matching row (if any), autoload, and the attach
/// target written after the first `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecInfo {
    /// The matching table row; `None` for an unknown section.
    pub def: Option<&'static SecDef>,
    /// `false` when the section name starts with `?`.
    pub autoload: bool,
    /// The text after the first `/` (kprobe function, tracepoint `category/name`, BTF
    /// target name, uprobe `binary:func`, ...), `None` when the name has no `/`.
    pub attach_target: Option<String>,
}

impl SecInfo {
    /// Classify a section name.
    pub fn parse(section: &str) -> SecInfo {
        let (autoload, name) = match section.strip_prefix('?') {
            Some(rest) => (false, rest),
            None => (true, section),
        };
        SecInfo {
            def: SECTION_DEFS.iter().find(|d| d.matches(name)),
            autoload,
            attach_target: name.split_once('/').map(|(_, t)| t.to_string()),
        }
    }
}
