//! The SEC() table against spec §1, row by row, and libbpf's matching rules.

use super::section::{find_sec_def, AutoAttach, SecFlags, SecInfo, SECTION_DEFS};
use crate::syscall::{AttachType, ProgType};

/// One sample section name per row of spec §1: name | prog type | expected attach type
/// (`-` for none) | flags | auto-attach | return probe.
const SPEC: &str = "
socket | SOCKET_FILTER | - | | None | n
sk_reuseport/migrate | SK_REUSEPORT | SK_REUSEPORT_SELECT_OR_MIGRATE | ATTACHABLE | None | n
sk_reuseport | SK_REUSEPORT | SK_REUSEPORT_SELECT | ATTACHABLE | None | n
kprobe/do_sys_open | KPROBE | - | | Kprobe | n
uprobe//bin/sh:main | KPROBE | - | | Uprobe | n
uprobe.s//bin/sh:main | KPROBE | - | SLEEPABLE | Uprobe | n
kretprobe/do_sys_open | KPROBE | - | | Kprobe | y
uretprobe//bin/sh:main | KPROBE | - | | Uprobe | y
uretprobe.s//bin/sh:main | KPROBE | - | SLEEPABLE | Uprobe | y
kprobe.multi/vfs_* | KPROBE | TRACE_KPROBE_MULTI | | KprobeMulti | n
kretprobe.multi/vfs_* | KPROBE | TRACE_KPROBE_MULTI | | KprobeMulti | y
kprobe.session/vfs_* | KPROBE | TRACE_KPROBE_SESSION | | KprobeSession | n
uprobe.multi//bin/sh:* | KPROBE | TRACE_UPROBE_MULTI | | UprobeMulti | n
uretprobe.multi//bin/sh:* | KPROBE | TRACE_UPROBE_MULTI | | UprobeMulti | y
uprobe.session//bin/sh:* | KPROBE | TRACE_UPROBE_SESSION | | UprobeMulti | n
uprobe.multi.s//bin/sh:* | KPROBE | TRACE_UPROBE_MULTI | SLEEPABLE | UprobeMulti | n
uretprobe.multi.s//bin/sh:* | KPROBE | TRACE_UPROBE_MULTI | SLEEPABLE | UprobeMulti | y
uprobe.session.s//bin/sh:* | KPROBE | TRACE_UPROBE_SESSION | SLEEPABLE | UprobeMulti | n
ksyscall/openat | KPROBE | - | | Ksyscall | n
kretsyscall/openat | KPROBE | - | | Ksyscall | y
usdt/libc.so.6:libc:setjmp | KPROBE | - | USDT | Usdt | n
usdt.s/libc.so.6:libc:setjmp | KPROBE | - | USDT SLEEPABLE | Usdt | n
tc/ingress | SCHED_CLS | TCX_INGRESS | | None | n
tc/egress | SCHED_CLS | TCX_EGRESS | | None | n
tcx/ingress | SCHED_CLS | TCX_INGRESS | | None | n
tcx/egress | SCHED_CLS | TCX_EGRESS | | None | n
tc | SCHED_CLS | - | | None | n
classifier | SCHED_CLS | - | | None | n
action | SCHED_ACT | - | | None | n
netkit/primary | SCHED_CLS | NETKIT_PRIMARY | | None | n
netkit/peer | SCHED_CLS | NETKIT_PEER | | None | n
tracepoint/sched/sched_switch | TRACEPOINT | - | | Tracepoint | n
tp/sched/sched_switch | TRACEPOINT | - | | Tracepoint | n
tracepoint.s/syscalls/sys_enter_read | TRACEPOINT | - | SLEEPABLE | Tracepoint | n
tp.s/syscalls/sys_enter_read | TRACEPOINT | - | SLEEPABLE | Tracepoint | n
raw_tracepoint/sched_switch | RAW_TRACEPOINT | - | | RawTracepoint | n
raw_tp/sched_switch | RAW_TRACEPOINT | - | | RawTracepoint | n
raw_tracepoint.s/sched_switch | RAW_TRACEPOINT | - | SLEEPABLE | RawTracepoint | n
raw_tp.s/sched_switch | RAW_TRACEPOINT | - | SLEEPABLE | RawTracepoint | n
raw_tracepoint.w/bpf_test_finish | RAW_TRACEPOINT_WRITABLE | - | | RawTracepoint | n
raw_tp.w/bpf_test_finish | RAW_TRACEPOINT_WRITABLE | - | | RawTracepoint | n
tp_btf/sched_switch | TRACING | TRACE_RAW_TP | ATTACH_BTF | Trace | n
tp_btf.s/sched_switch | TRACING | TRACE_RAW_TP | ATTACH_BTF SLEEPABLE | Trace | n
fentry/do_unlinkat | TRACING | TRACE_FENTRY | ATTACH_BTF | Trace | n
fmod_ret/do_unlinkat | TRACING | MODIFY_RETURN | ATTACH_BTF | Trace | n
fexit/do_unlinkat | TRACING | TRACE_FEXIT | ATTACH_BTF | Trace | n
fentry.s/do_unlinkat | TRACING | TRACE_FENTRY | ATTACH_BTF SLEEPABLE | Trace | n
fmod_ret.s/do_unlinkat | TRACING | MODIFY_RETURN | ATTACH_BTF SLEEPABLE | Trace | n
fexit.s/do_unlinkat | TRACING | TRACE_FEXIT | ATTACH_BTF SLEEPABLE | Trace | n
fsession/do_unlinkat | TRACING | TRACE_FSESSION | ATTACH_BTF | Trace | n
fsession.s/do_unlinkat | TRACING | TRACE_FSESSION | ATTACH_BTF SLEEPABLE | Trace | n
fsession.multi/vfs_* | TRACING | #61 | | TracingMulti | n
fsession.multi.s/vfs_* | TRACING | #61 | SLEEPABLE | TracingMulti | n
fentry.multi/vfs_* | TRACING | #59 | | TracingMulti | n
fexit.multi/vfs_* | TRACING | #60 | | TracingMulti | n
fentry.multi.s/vfs_* | TRACING | #59 | SLEEPABLE | TracingMulti | n
fexit.multi.s/vfs_* | TRACING | #60 | SLEEPABLE | TracingMulti | n
freplace/handler | EXT | - | ATTACH_BTF | Trace | n
lsm/file_open | LSM | LSM_MAC | ATTACH_BTF | Lsm | n
lsm.s/file_open | LSM | LSM_MAC | ATTACH_BTF SLEEPABLE | Lsm | n
lsm_cgroup/socket_bind | LSM | LSM_CGROUP | ATTACH_BTF | None | n
iter/task | TRACING | TRACE_ITER | ATTACH_BTF | Iter | n
iter.s/task | TRACING | TRACE_ITER | ATTACH_BTF SLEEPABLE | Iter | n
syscall | SYSCALL | - | SLEEPABLE | None | n
xdp.frags/devmap | XDP | XDP_DEVMAP | XDP_FRAGS | None | n
xdp/devmap | XDP | XDP_DEVMAP | ATTACHABLE | None | n
xdp.frags/cpumap | XDP | XDP_CPUMAP | XDP_FRAGS | None | n
xdp/cpumap | XDP | XDP_CPUMAP | ATTACHABLE | None | n
xdp.frags | XDP | XDP | XDP_FRAGS | None | n
xdp | XDP | XDP | ATTACHABLE EXP_ATTACH_OPT | None | n
perf_event | PERF_EVENT | - | | None | n
lwt_in | LWT_IN | - | | None | n
lwt_out | LWT_OUT | - | | None | n
lwt_xmit | LWT_XMIT | - | | None | n
lwt_seg6local | LWT_SEG6LOCAL | - | | None | n
sockops | SOCK_OPS | CGROUP_SOCK_OPS | ATTACHABLE EXP_ATTACH_OPT | None | n
sk_skb/stream_parser | SK_SKB | SK_SKB_STREAM_PARSER | ATTACHABLE EXP_ATTACH_OPT | None | n
sk_skb/stream_verdict | SK_SKB | SK_SKB_STREAM_VERDICT | ATTACHABLE EXP_ATTACH_OPT | None | n
sk_skb/verdict | SK_SKB | SK_SKB_VERDICT | ATTACHABLE EXP_ATTACH_OPT | None | n
sk_skb | SK_SKB | - | | None | n
sk_msg | SK_MSG | SK_MSG_VERDICT | ATTACHABLE EXP_ATTACH_OPT | None | n
lirc_mode2 | LIRC_MODE2 | LIRC_MODE2 | ATTACHABLE EXP_ATTACH_OPT | None | n
flow_dissector | FLOW_DISSECTOR | FLOW_DISSECTOR | ATTACHABLE EXP_ATTACH_OPT | None | n
cgroup_skb/ingress | CGROUP_SKB | CGROUP_INET_INGRESS | ATTACHABLE EXP_ATTACH_OPT | None | n
cgroup_skb/egress | CGROUP_SKB | CGROUP_INET_EGRESS | ATTACHABLE EXP_ATTACH_OPT | None | n
cgroup/skb | CGROUP_SKB | - | | None | n
cgroup/sock_create | CGROUP_SOCK | CGROUP_INET_SOCK_CREATE | ATTACHABLE | None | n
cgroup/sock_release | CGROUP_SOCK | CGROUP_INET_SOCK_RELEASE | ATTACHABLE | None | n
cgroup/sock | CGROUP_SOCK | CGROUP_INET_SOCK_CREATE | ATTACHABLE EXP_ATTACH_OPT | None | n
cgroup/post_bind4 | CGROUP_SOCK | CGROUP_INET4_POST_BIND | ATTACHABLE | None | n
cgroup/post_bind6 | CGROUP_SOCK | CGROUP_INET6_POST_BIND | ATTACHABLE | None | n
cgroup/bind4 | CGROUP_SOCK_ADDR | CGROUP_INET4_BIND | ATTACHABLE | None | n
cgroup/bind6 | CGROUP_SOCK_ADDR | CGROUP_INET6_BIND | ATTACHABLE | None | n
cgroup/connect4 | CGROUP_SOCK_ADDR | CGROUP_INET4_CONNECT | ATTACHABLE | None | n
cgroup/connect6 | CGROUP_SOCK_ADDR | CGROUP_INET6_CONNECT | ATTACHABLE | None | n
cgroup/connect_unix | CGROUP_SOCK_ADDR | CGROUP_UNIX_CONNECT | ATTACHABLE | None | n
cgroup/sendmsg4 | CGROUP_SOCK_ADDR | CGROUP_UDP4_SENDMSG | ATTACHABLE | None | n
cgroup/sendmsg6 | CGROUP_SOCK_ADDR | CGROUP_UDP6_SENDMSG | ATTACHABLE | None | n
cgroup/sendmsg_unix | CGROUP_SOCK_ADDR | CGROUP_UNIX_SENDMSG | ATTACHABLE | None | n
cgroup/recvmsg4 | CGROUP_SOCK_ADDR | CGROUP_UDP4_RECVMSG | ATTACHABLE | None | n
cgroup/recvmsg6 | CGROUP_SOCK_ADDR | CGROUP_UDP6_RECVMSG | ATTACHABLE | None | n
cgroup/recvmsg_unix | CGROUP_SOCK_ADDR | CGROUP_UNIX_RECVMSG | ATTACHABLE | None | n
cgroup/getpeername4 | CGROUP_SOCK_ADDR | CGROUP_INET4_GETPEERNAME | ATTACHABLE | None | n
cgroup/getpeername6 | CGROUP_SOCK_ADDR | CGROUP_INET6_GETPEERNAME | ATTACHABLE | None | n
cgroup/getpeername_unix | CGROUP_SOCK_ADDR | CGROUP_UNIX_GETPEERNAME | ATTACHABLE | None | n
cgroup/getsockname4 | CGROUP_SOCK_ADDR | CGROUP_INET4_GETSOCKNAME | ATTACHABLE | None | n
cgroup/getsockname6 | CGROUP_SOCK_ADDR | CGROUP_INET6_GETSOCKNAME | ATTACHABLE | None | n
cgroup/getsockname_unix | CGROUP_SOCK_ADDR | CGROUP_UNIX_GETSOCKNAME | ATTACHABLE | None | n
cgroup/sysctl | CGROUP_SYSCTL | CGROUP_SYSCTL | ATTACHABLE | None | n
cgroup/getsockopt | CGROUP_SOCKOPT | CGROUP_GETSOCKOPT | ATTACHABLE | None | n
cgroup/setsockopt | CGROUP_SOCKOPT | CGROUP_SETSOCKOPT | ATTACHABLE | None | n
cgroup/dev | CGROUP_DEVICE | CGROUP_DEVICE | ATTACHABLE EXP_ATTACH_OPT | None | n
struct_ops/init | STRUCT_OPS | - | | None | n
struct_ops.s/init | STRUCT_OPS | - | SLEEPABLE | None | n
sk_lookup | SK_LOOKUP | SK_LOOKUP | ATTACHABLE | None | n
netfilter | NETFILTER | NETFILTER | | None | n
";

fn attach(s: &str) -> Option<AttachType> {
    match s {
        "-" => None,
        _ => Some(match s.strip_prefix('#') {
            Some(n) => AttachType(n.parse().unwrap()),
            None => AttachType::from_name(s).unwrap_or_else(|| panic!("attach type {s}")),
        }),
    }
}

fn flags(s: &str) -> SecFlags {
    s.split_whitespace()
        .map(|f| SecFlags::from_name(f).unwrap_or_else(|| panic!("flag {f}")))
        .fold(SecFlags::empty(), |a, b| a | b)
}

#[test]
fn every_spec_row_classifies_as_specified() {
    let mut matched = vec![false; SECTION_DEFS.len()];
    for line in SPEC.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, ty, att, fl, auto, ret] = f[..] else {
            panic!("bad spec line {line}")
        };
        let def = find_sec_def(name).unwrap_or_else(|| panic!("{name}: no match"));
        let row = SECTION_DEFS
            .iter()
            .position(|d| std::ptr::eq(d, def))
            .unwrap();
        matched[row] = true;
        assert_eq!(def.prog_type, ProgType::from_name(ty).unwrap(), "{name}");
        assert_eq!(def.attach_type, attach(att), "{name}");
        assert_eq!(def.flags, flags(fl), "{name}");
        assert_eq!(format!("{:?}", def.auto_attach), auto, "{name}");
        assert_eq!(def.retprobe, ret == "y", "{name}");
    }
    for (row, m) in matched.iter().enumerate() {
        assert!(m, "row {} has no spec line", SECTION_DEFS[row].pattern);
    }
}

#[test]
fn plus_patterns_match_bare_and_slash_forms_only() {
    assert_eq!(find_sec_def("kprobe").unwrap().pattern, "kprobe+");
    assert_eq!(find_sec_def("kprobe/").unwrap().pattern, "kprobe+");
    assert!(find_sec_def("kprobefoo").is_none());
    assert_eq!(
        find_sec_def("kprobe.multi").unwrap().pattern,
        "kprobe.multi+"
    );
    assert!(find_sec_def("kprobe.multifoo").is_none());
    // Exact rows take no suffix.
    assert!(find_sec_def("socket/1").is_none());
    assert!(find_sec_def("xdp/foo").is_none());
    assert!(find_sec_def("tc/foo").is_none());
    assert!(find_sec_def("").is_none());
    assert!(find_sec_def("?").is_none());
}

#[test]
fn first_match_wins_and_question_mark_disables_autoload() {
    assert_eq!(
        find_sec_def("xdp.frags/devmap").unwrap().pattern,
        "xdp.frags/devmap"
    );
    assert_eq!(
        find_sec_def("sk_reuseport/migrate").unwrap().pattern,
        "sk_reuseport/migrate"
    );
    let s = SecInfo::parse("?kprobe/vfs_read");
    assert!(!s.autoload);
    assert_eq!(s.def.unwrap().pattern, "kprobe+");
    assert_eq!(s.attach_target.as_deref(), Some("vfs_read"));
    let s = SecInfo::parse("my_section");
    assert!(s.autoload && s.def.is_none() && s.attach_target.is_none());
}

#[test]
fn attach_target_is_everything_after_the_first_slash() {
    let t = |n: &str| SecInfo::parse(n).attach_target;
    assert_eq!(
        t("tracepoint/sched/sched_switch").as_deref(),
        Some("sched/sched_switch")
    );
    assert_eq!(
        t("uprobe//usr/bin/bash:readline").as_deref(),
        Some("/usr/bin/bash:readline")
    );
    assert_eq!(
        t("kprobe/do_sys_open+0x10").as_deref(),
        Some("do_sys_open+0x10")
    );
    assert_eq!(
        t("usdt/./libc.so.6:libc:setjmp").as_deref(),
        Some("./libc.so.6:libc:setjmp")
    );
    assert_eq!(t("fentry/"), Some(String::new()));
    assert_eq!(t("xdp"), None);
    assert!(SecInfo::parse("kretprobe/x")
        .def
        .is_some_and(|d| d.retprobe));
    assert_eq!(
        SecInfo::parse("iter/task").def.unwrap().auto_attach,
        AutoAttach::Iter
    );
}
