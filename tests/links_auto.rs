//! Auto-attach from section names against the running kernel: the kind and target parsed
//! from the section, attached, proven to run; sections without a target, or with a kind that
//! has no auto-attach, fail clearly.

mod attach_support;
mod common;

use attach_support::*;
use oxbpf::btf::BtfKind;
use oxbpf::programs::*;
use oxbpf::syscall::*;

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_auto_target(x: u64) -> u64 {
    std::hint::black_box(x) ^ 0x5a
}

fn auto(prog: &Program, section: &str) -> oxbpf::programs::Result<Link> {
    let (kind, ret, target) = AutoAttach::classify(section);
    attach_auto(prog, kind, ret, target)
}

#[test]
fn sections_attach_and_run() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let me = Some(my_tgid());
    type Event = Box<dyn Fn()>;
    let cases: Vec<(&str, ProgType, Event)> = vec![
        (
            "tp/syscalls/sys_enter_getppid",
            ProgType::TRACEPOINT,
            Box::new(|| {
                let _ = nix::unistd::getppid();
            }),
        ),
        (
            "tracepoint/syscalls/sys_exit_getppid",
            ProgType::TRACEPOINT,
            Box::new(|| {
                let _ = nix::unistd::getppid();
            }),
        ),
        (
            "raw_tp/sys_enter",
            ProgType::RAW_TRACEPOINT,
            Box::new(|| {
                let _ = nix::unistd::getppid();
            }),
        ),
        (
            "uprobe//proc/self/exe:oxbpf_auto_target",
            ProgType::KPROBE,
            Box::new(|| {
                std::hint::black_box(oxbpf_auto_target(1));
            }),
        ),
        (
            "uretprobe//proc/self/exe:oxbpf_auto_target",
            ProgType::KPROBE,
            Box::new(|| {
                std::hint::black_box(oxbpf_auto_target(2));
            }),
        ),
    ];
    for (section, prog_type, event) in cases {
        let map = counter_map("auto_count");
        let prog = counting(prog_type, None, &map, me, 0, "auto_prog").with_section(section);
        let link = auto(&prog, section).unwrap_or_else(|e| panic!("{section}: {e}"));
        for _ in 0..3 {
            event();
        }
        assert!(counter(&map) >= 3, "{section}: counted {}", counter(&map));
        drop(link);
        let c = counter(&map);
        event();
        assert_eq!(counter(&map), c, "{section}: ran after detach");
    }
}

#[test]
fn program_attach_uses_its_section() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("auto_sec");
    let prog = counting(
        ProgType::TRACEPOINT,
        None,
        &map,
        Some(my_tgid()),
        0,
        "auto_sec",
    );
    let err = prog.attach().unwrap_err();
    assert!(err.to_string().contains("no section"), "{err}");
    let prog = prog.with_section("?tp/syscalls/sys_enter_getppid");
    let link = prog.attach().unwrap();
    let _ = nix::unistd::getppid();
    assert_eq!(counter(&map), 1);
    drop(link);
    let _ = nix::unistd::getppid();
    assert_eq!(counter(&map), 1);
}

#[test]
fn load_time_targets_attach() {
    let _serial = common::serial();
    require_bpf!();
    let btf = vmlinux();
    let id = btf
        .id_by_name_kind("btf_trace_sys_enter", BtfKind::Typedef)
        .unwrap();
    let map = counter_map("auto_btf");
    let insns = count_insns(&map, Some(my_tgid()), 0);
    let prog = try_load(&LoadSpec {
        prog_type: ProgType::TRACING,
        expected: Some(AttachType::TRACE_RAW_TP),
        attach_btf_id: id,
        insns: &insns,
        name: "auto_tpbtf",
    })
    .unwrap_or_else(|(e, log)| panic!("{e}\n{log}"));
    let link = auto(&prog, "tp_btf/sys_enter").unwrap();
    let _ = nix::unistd::getppid();
    assert!(counter(&map) >= 1);
    drop(link);
}

#[test]
fn kprobe_sections_attach_or_explain() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("auto_kp");
    let prog = counting(ProgType::KPROBE, None, &map, Some(my_tgid()), 0, "auto_kp");
    for section in ["ksyscall/getpgid", "kretsyscall/getpgid"] {
        match auto(&prog, section) {
            Ok(link) => {
                let _ = nix::unistd::getpgid(None);
                assert!(counter(&map) >= 1, "{section}");
                drop(link);
            }
            Err(e) => {
                assert!(probe::pmu_type("kprobe").is_none(), "{section}: {e}");
                assert!(e.to_string().contains("CONFIG_KPROBES"), "{e}");
            }
        }
    }
}

#[test]
fn sections_without_targets_or_auto_attach_fail_clearly() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("auto_err");
    let kp = counting(ProgType::KPROBE, None, &map, None, 0, "auto_err");
    for (section, needle) in [
        ("kprobe", "SEC(\"kprobe\") carries no attach target"),
        ("uprobe", "SEC(\"uprobe\") carries no attach target"),
        ("kretprobe/do_unlinkat+0x10", "kretprobes take no offset"),
        ("uprobe//proc/self/exe", "binary:function"),
        ("usdt/a:b", "three"),
        ("usdt//proc/self/exe:prov:name", "__bpf_usdt_specs"),
        ("xdp", "not auto-attached"),
        ("cgroup/connect4", "not auto-attached"),
    ] {
        let err = auto(&kp, section).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(needle), "{section}: {text}");
        assert!(
            text.contains("auto_err"),
            "{section}: names the program: {text}"
        );
    }
}
