//! The `progs` fixture: programs of many section kinds, subprograms, and user overrides.

use super::fixture_tests::{builds, check_reloc_targets, fixture_path};
use super::*;
use crate::syscall::{AttachType, ProgType};

#[test]
fn programs_of_many_kinds() {
    type Row = (
        &'static str,
        &'static str,
        ProgType,
        Option<AttachType>,
        Option<&'static str>,
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ("xdp_first", "xdp", ProgType::XDP, Some(AttachType::XDP), None),
        ("xdp_second", "xdp", ProgType::XDP, Some(AttachType::XDP), None),
        ("kprobe_unlinkat", "kprobe/do_unlinkat", ProgType::KPROBE, None, Some("do_unlinkat")),
        ("kprobe_offset", "kprobe/do_sys_openat2+0x10", ProgType::KPROBE, None, Some("do_sys_openat2+0x10")),
        ("kretprobe_unlinkat", "kretprobe/do_unlinkat", ProgType::KPROBE, None, Some("do_unlinkat")),
        ("kprobe_bare", "kprobe", ProgType::KPROBE, None, None),
        ("uprobe_readline", "uprobe//usr/bin/bash:readline", ProgType::KPROBE, None, Some("/usr/bin/bash:readline")),
        ("uprobe_sleepable", "uprobe.s//usr/lib/libc.so.6:malloc+4", ProgType::KPROBE, None, Some("/usr/lib/libc.so.6:malloc+4")),
        ("ksyscall_openat", "ksyscall/openat", ProgType::KPROBE, None, Some("openat")),
        ("kprobe_multi", "kprobe.multi/do_sys_*", ProgType::KPROBE, Some(AttachType::TRACE_KPROBE_MULTI), Some("do_sys_*")),
        ("kprobe_session", "kprobe.session/vfs_read", ProgType::KPROBE, Some(AttachType::TRACE_KPROBE_SESSION), Some("vfs_read")),
        ("uprobe_multi", "uprobe.multi//usr/bin/bash:read*", ProgType::KPROBE, Some(AttachType::TRACE_UPROBE_MULTI), Some("/usr/bin/bash:read*")),
        ("usdt_setjmp", "usdt/./libc.so.6:libc:setjmp", ProgType::KPROBE, None, Some("./libc.so.6:libc:setjmp")),
        ("tp_openat", "tracepoint/syscalls/sys_enter_openat", ProgType::TRACEPOINT, None, Some("syscalls/sys_enter_openat")),
        ("tp_short", "tp/sched/sched_switch", ProgType::TRACEPOINT, None, Some("sched/sched_switch")),
        ("raw_tp_switch", "raw_tp/sched_switch", ProgType::RAW_TRACEPOINT, None, Some("sched_switch")),
        ("raw_tp_writable", "raw_tracepoint.w/bpf_test_finish", ProgType::RAW_TRACEPOINT_WRITABLE, None, Some("bpf_test_finish")),
        ("tp_btf_switch", "tp_btf/sched_switch", ProgType::TRACING, Some(AttachType::TRACE_RAW_TP), Some("sched_switch")),
        ("fentry_unlinkat", "fentry/do_unlinkat", ProgType::TRACING, Some(AttachType::TRACE_FENTRY), Some("do_unlinkat")),
        ("fexit_unlinkat", "fexit/do_unlinkat", ProgType::TRACING, Some(AttachType::TRACE_FEXIT), Some("do_unlinkat")),
        ("fmod_ret_open", "fmod_ret/security_file_open", ProgType::TRACING, Some(AttachType::MODIFY_RETURN), Some("security_file_open")),
        ("freplace_helper", "freplace/global_helper", ProgType::EXT, None, Some("global_helper")),
        ("lsm_file_open", "lsm/file_open", ProgType::LSM, Some(AttachType::LSM_MAC), Some("file_open")),
        ("lsm_cgroup_bind", "lsm_cgroup/socket_bind", ProgType::LSM, Some(AttachType::LSM_CGROUP), Some("socket_bind")),
        ("iter_task", "iter/task", ProgType::TRACING, Some(AttachType::TRACE_ITER), Some("task")),
        ("syscall_prog", "syscall", ProgType::SYSCALL, None, None),
        ("xdp_frags", "xdp.frags", ProgType::XDP, Some(AttachType::XDP), None),
        ("xdp_devmap", "xdp/devmap", ProgType::XDP, Some(AttachType::XDP_DEVMAP), Some("devmap")),
        ("xdp_frags_cpumap", "xdp.frags/cpumap", ProgType::XDP, Some(AttachType::XDP_CPUMAP), Some("cpumap")),
        ("tc_legacy", "tc", ProgType::SCHED_CLS, None, None),
        ("classifier_legacy", "classifier", ProgType::SCHED_CLS, None, None),
        ("action_legacy", "action", ProgType::SCHED_ACT, None, None),
        ("tc_ingress", "tc/ingress", ProgType::SCHED_CLS, Some(AttachType::TCX_INGRESS), Some("ingress")),
        ("tcx_egress", "tcx/egress", ProgType::SCHED_CLS, Some(AttachType::TCX_EGRESS), Some("egress")),
        ("netkit_primary", "netkit/primary", ProgType::SCHED_CLS, Some(AttachType::NETKIT_PRIMARY), Some("primary")),
        ("socket_filter", "socket", ProgType::SOCKET_FILTER, None, None),
        ("reuseport_migrate", "sk_reuseport/migrate", ProgType::SK_REUSEPORT, Some(AttachType::SK_REUSEPORT_SELECT_OR_MIGRATE), Some("migrate")),
        ("sk_msg_verdict", "sk_msg", ProgType::SK_MSG, Some(AttachType::SK_MSG_VERDICT), None),
        ("sk_skb_verdict", "sk_skb/stream_verdict", ProgType::SK_SKB, Some(AttachType::SK_SKB_STREAM_VERDICT), Some("stream_verdict")),
        ("sockops_prog", "sockops", ProgType::SOCK_OPS, Some(AttachType::CGROUP_SOCK_OPS), None),
        ("sk_lookup_prog", "sk_lookup", ProgType::SK_LOOKUP, Some(AttachType::SK_LOOKUP), None),
        ("flow_dissector_prog", "flow_dissector", ProgType::FLOW_DISSECTOR, Some(AttachType::FLOW_DISSECTOR), None),
        ("perf_event_prog", "perf_event", ProgType::PERF_EVENT, None, None),
        ("lwt_xmit_prog", "lwt_xmit", ProgType::LWT_XMIT, None, None),
        ("cgroup_skb_ingress", "cgroup_skb/ingress", ProgType::CGROUP_SKB, Some(AttachType::CGROUP_INET_INGRESS), Some("ingress")),
        ("cgroup_sock", "cgroup/sock", ProgType::CGROUP_SOCK, Some(AttachType::CGROUP_INET_SOCK_CREATE), Some("sock")),
        ("cgroup_connect4", "cgroup/connect4", ProgType::CGROUP_SOCK_ADDR, Some(AttachType::CGROUP_INET4_CONNECT), Some("connect4")),
        ("cgroup_connect_unix", "cgroup/connect_unix", ProgType::CGROUP_SOCK_ADDR, Some(AttachType::CGROUP_UNIX_CONNECT), Some("connect_unix")),
        ("cgroup_getsockname_unix", "cgroup/getsockname_unix", ProgType::CGROUP_SOCK_ADDR, Some(AttachType::CGROUP_UNIX_GETSOCKNAME), Some("getsockname_unix")),
        ("cgroup_sysctl", "cgroup/sysctl", ProgType::CGROUP_SYSCTL, Some(AttachType::CGROUP_SYSCTL), Some("sysctl")),
        ("cgroup_dev", "cgroup/dev", ProgType::CGROUP_DEVICE, Some(AttachType::CGROUP_DEVICE), Some("dev")),
        ("struct_ops_op", "struct_ops/dummy_op", ProgType::STRUCT_OPS, None, Some("dummy_op")),
        ("netfilter_prog", "netfilter", ProgType::NETFILTER, Some(AttachType::NETFILTER), None),
        ("optional_kprobe", "?kprobe/vfs_write", ProgType::KPROBE, None, Some("vfs_write")),
        ("optional_socket", "?socket", ProgType::SOCKET_FILTER, None, None),
    ];
    for (clang, o) in builds("progs") {
        assert_eq!(o.license(), Some("Dual BSD/GPL"));
        assert_eq!(o.kern_version(), Some(0x060100));
        assert_eq!(o.programs().len(), 81, "{clang}");
        for &(name, sec, ty, att, target) in rows {
            let p = o.program(name).unwrap_or_else(|e| panic!("{clang}: {e}"));
            assert_eq!(p.section_name(), sec, "{name}");
            assert_eq!(p.prog_type(), ty, "{name}");
            assert_eq!(p.expected_attach_type(), att, "{name}");
            assert_eq!(p.attach_target(), target, "{name}");
            assert_eq!(p.autoload(), !sec.starts_with('?'), "{name}");
            assert!(p.has_known_type());
        }
        // Every program agrees with the table row of its section.
        for p in o.programs() {
            match find_sec_def(p.section_name()) {
                Some(d) => assert_eq!(
                    (p.prog_type(), p.flags()),
                    (d.prog_type, d.flags),
                    "{}",
                    p.name()
                ),
                None => assert_eq!(p.prog_type(), ProgType::UNSPEC, "{}", p.name()),
            }
        }
        let p = o.program("kretprobe_multi").unwrap();
        assert!(p.is_retprobe() && p.auto_attach() == AutoAttach::KprobeMulti);
        assert!(o.program("kretsyscall_openat").unwrap().is_retprobe());
        assert!(o.program("uretprobe_readline").unwrap().is_retprobe());
        assert!(!o.program("kprobe_unlinkat").unwrap().is_retprobe());
        assert!(o.program("fentry_sleepable").unwrap().is_sleepable());
        assert!(o.program("lsm_sleepable").unwrap().is_sleepable());
        assert!(o
            .program("usdt_bare")
            .unwrap()
            .flags()
            .contains(SecFlags::USDT));
        assert!(o
            .program("xdp_frags")
            .unwrap()
            .flags()
            .contains(SecFlags::XDP_FRAGS));
        assert_eq!(
            o.program("tp_btf_switch").unwrap().auto_attach(),
            AutoAttach::Trace
        );
        for n in [
            "unknown_section",
            "unknown_no_slash",
            "unknown_socket_suffix",
        ] {
            let p = o.program(n).unwrap();
            assert!(!p.has_known_type() && p.sec_def().is_none(), "{n}");
            assert_eq!(p.auto_attach(), AutoAttach::None);
        }

        // .text holds the subprograms; two programs share `xdp`.
        let f = |n: &str| {
            o.function(n)
                .unwrap_or_else(|| panic!("{clang}: no function {n}"))
        };
        let text = o.prog_section(".text").unwrap();
        for (n, b) in [
            ("static_helper", Binding::Local),
            ("global_helper", Binding::Global),
            ("hidden_helper", Binding::Global),
            ("weak_helper", Binding::Weak),
            ("loop_cb", Binding::Local),
        ] {
            assert_eq!(f(n).binding, b, "{n}");
            assert_eq!(o.prog_sections()[f(n).section].name, ".text");
            assert!(f(n).program.is_none(), "{n}");
            assert!(f(n).btf_id.is_some(), "{n}");
        }
        assert!(f("hidden_helper").hidden && !f("global_helper").hidden);
        assert_eq!(text.functions.len(), 5);
        let xdp = o.prog_section("xdp").unwrap();
        assert_eq!(xdp.functions.len(), 2);
        assert_eq!(f("xdp_first").insn_off, 0);
        assert_eq!(f("xdp_second").insn_off, f("xdp_first").insn_len);
        let total: usize = xdp
            .functions
            .iter()
            .map(|&i| o.functions()[i].insn_len)
            .sum();
        assert_eq!(total, xdp.insns.len());
        let p = o.program("xdp_second").unwrap();
        assert_eq!(o.program_insns(p).len(), f("xdp_second").insn_len);
        assert!(o.program_insns(p).last().unwrap().is_exit());

        // Calls to global_helper, hidden_helper, weak_helper, static_helper; loop_cb by address.
        let callee = |r: &Reloc| match r.target {
            RelocTarget::Call { section, insn } | RelocTarget::FuncAddr { section, insn } => o
                .functions()
                .iter()
                .find(|f| f.section == section && f.insn_off == insn)
                .map(|f| f.name.as_str()),
            _ => None,
        };
        let calls: Vec<_> = xdp
            .relocs
            .iter()
            .filter(|r| matches!(r.target, RelocTarget::Call { .. }))
            .filter_map(callee)
            .collect();
        let mut sorted = calls.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "global_helper",
                "hidden_helper",
                "static_helper",
                "weak_helper"
            ],
            "{clang}"
        );
        let addrs: Vec<_> = xdp
            .relocs
            .iter()
            .filter(|r| matches!(r.target, RelocTarget::FuncAddr { .. }))
            .filter_map(callee)
            .collect();
        assert_eq!(addrs, ["loop_cb"], "{clang}");
        check_reloc_targets(&o);
    }
}

#[test]
fn users_can_override_programs_before_load() {
    let mut o = Object::open(fixture_path("object/progs.clang19.o")).unwrap();
    let p = o.program_mut("unknown_section").unwrap();
    p.set_type(ProgType::SOCKET_FILTER).set_autoload(false);
    let p = o.program("unknown_section").unwrap();
    assert!(p.has_known_type() && !p.autoload());
    let p = o.program_mut("optional_kprobe").unwrap();
    p.set_autoload(true)
        .set_attach_target(Some("vfs_read".into()));
    assert_eq!(
        o.program("optional_kprobe").unwrap().attach_target(),
        Some("vfs_read")
    );
    assert!(matches!(o.program_mut("nope"), Err(ObjectError::NoSuchProgram(n)) if n == "nope"));
}
