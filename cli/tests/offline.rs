//! The commands that need no privileges — `inspect`, `core check`, `btf dump`, and the
//! command-line checks of `load` — against the fixtures, as this user and as `nobody`.

mod common;

use common::{demo, fixture, oxbpf, oxbpf_unprivileged};

#[test]
fn inspect_shows_programs_maps_globals_and_btf() {
    let out = oxbpf(&["inspect", &demo()]);
    out.expect(0);
    let s = &out.stdout;
    for want in [
        "on_exec",
        "tracepoint/sched/sched_process_exec",
        "sched/sched_process_exec",
        "per_process",
        "ringbuf",
        "struct counts",
        "self_tgid",
        "const volatile __u32",
        "9 CO-RE relocations",
        "license GPL",
    ] {
        assert!(s.contains(want), "no `{want}` in\n{s}");
    }
}

#[test]
fn inspect_json_describes_the_object() {
    let j = oxbpf(&["inspect", "--json", &fixture("cli/mixed.clang19.o")])
        .expect(0)
        .json();
    let names: Vec<&str> = j["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["good", "bad"]);
    assert_eq!(j["programs"][0]["type"], "socket_filter");
    assert_eq!(j["maps"][0]["name"], "stats");
    assert_eq!(j["maps"][0]["value_type"], "struct stats");
    assert_eq!(j["maps"][0]["pinning"], "by-name");
    // Initial values through BTF: a struct with an enum by name and a string.
    let data = j["globals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["section"] == ".data")
        .expect(".data");
    let cfg = &data["variables"][0];
    assert_eq!(cfg["name"], "cfg");
    assert_eq!(cfg["value"]["mode"], "MODE_FAST");
    assert_eq!(cfg["value"]["limit"], 42);
    assert_eq!(cfg["value"]["greeting"], "hello");
    assert_eq!(j["license"], "GPL");
}

#[test]
fn relocated_instructions_are_raw_and_name_their_maps() {
    let j = oxbpf(&["inspect", "--relocated", "--json", &demo()])
        .expect(0)
        .json();
    let progs = j["relocated"].as_array().unwrap();
    assert_eq!(progs.len(), 3);
    let insns = progs[0]["insns"].as_array().unwrap();
    assert!(insns.len() > 50);
    for i in insns {
        for f in ["code", "dst", "src", "off", "imm"] {
            assert!(i[f].is_i64(), "{f} missing in {i}");
        }
    }
    assert!(
        insns.iter().any(|i| i["map"] == "per_process"),
        "no instruction names per_process"
    );
    assert!(insns.iter().any(|i| i["map"] == "events"));
}

/// The `imm` of the instruction CO-RE patched for `task_struct->real_parent` in `on_exec`.
fn real_parent_offset(btf: Option<&str>) -> i64 {
    let d = demo();
    let mut args = vec!["inspect", "--relocated", "--json", d.as_str()];
    if let Some(b) = btf {
        args.extend(["--btf", b]);
    }
    let j = oxbpf(&args).expect(0).json();
    let core = j["relocated"][0]["core"].as_array().unwrap();
    let d = core
        .iter()
        .map(|c| c.as_str().unwrap())
        .find(|c| c.contains("task_struct->real_parent"))
        .expect("a real_parent relocation");
    let insn: usize = d
        .split("insn #")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .expect("insn index");
    j["relocated"][0]["insns"][insn]["imm"].as_i64().unwrap()
}

#[test]
fn relocation_follows_the_target_btf() {
    let here = real_parent_offset(None);
    let old = real_parent_offset(Some(&fixture("btf/linux-6.1.btf")));
    assert!(here > 0 && old > 0);
    assert_ne!(here, old, "6.1's task_struct is laid out differently");
}

#[test]
fn disassembly_names_maps_functions_and_source_lines() {
    let out = oxbpf(&[
        "inspect",
        "--relocated",
        "--disasm",
        &fixture("loader/tailcall.clang19.o"),
    ]);
    let s = &out.expect(0).stdout;
    for want in [
        "r2 = map[jump]",
        "map_value[.bss]+0",
        "<plus_one>",
        "<twice>",
        "plus_one:",
        "; return x * 2;",
        "call bpf_tail_call#12",
    ] {
        assert!(s.contains(want), "no `{want}` in\n{s}");
    }
    // Without --relocated: the object's own instructions.
    let raw = oxbpf(&["inspect", "--disasm", &fixture("loader/tailcall.clang19.o")]);
    assert!(raw.expect(0).stdout.contains("before relocation"));
}

#[test]
fn inspect_and_core_check_work_unprivileged() {
    let Some(out) = oxbpf_unprivileged(&["inspect", "--relocated", "--json", &demo()]) else {
        eprintln!("SKIPPED: no setpriv");
        return;
    };
    let as_user = out.expect(0).json();
    let as_root = oxbpf(&["inspect", "--relocated", "--json", &demo()])
        .expect(0)
        .json();
    assert_eq!(as_user, as_root, "offline output depends on privileges");

    let c = oxbpf_unprivileged(&["core", "check", "--json", &fixture("core/kernel.clang19.o")])
        .unwrap();
    assert_eq!(c.expect(0).json()["ok"], true);
    let c = oxbpf_unprivileged(&["core", "check", &fixture("core/poisoned.clang19.o")]).unwrap();
    c.expect(5);
    let b = oxbpf_unprivileged(&[
        "btf",
        "dump",
        "--file",
        &fixture("btf/linux-6.1.btf"),
        "--format",
        "raw",
    ])
    .unwrap();
    assert!(b.expect(0).stdout.contains("STRUCT 'task_struct'"));
}

#[test]
fn core_check_reports_every_relocation() {
    let out = oxbpf(&["core", "check", &demo()]);
    let s = &out.expect(0).stdout;
    assert!(s.contains("9 CO-RE relocations"), "{s}");
    assert!(s.contains("task_struct->real_parent"));
    assert!(s.contains("struct trace_event_raw_sys_enter"));
    assert!(s.contains("compatible: all 9 relocations resolve"));
}

#[test]
fn core_check_fails_on_an_unguarded_poisoned_relocation() {
    let out = oxbpf(&["core", "check", &fixture("core/poisoned.clang19.o")]);
    out.expect(5);
    assert!(out.stdout.contains("FAILS"), "{}", out.stdout);
    assert!(out
        .stdout
        .contains("field `no_such_field_xyz` not found in vmlinux"));
    assert!(out.stderr.contains("would fail"));
    let j = oxbpf(&[
        "core",
        "check",
        "--json",
        &fixture("core/poisoned.clang19.o"),
    ]);
    let j = j.expect(5).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["targets"][0]["failing"], 1);
    assert_eq!(j["targets"][0]["relocations"][0]["poisoned"], true);
}

#[test]
fn core_check_matrix_over_several_kernels() {
    let obj = fixture("core/kernel.clang19.o");
    let old = fixture("btf/linux-6.1.btf");
    let out = oxbpf(&[
        "core",
        "check",
        &obj,
        "--btf",
        "/sys/kernel/btf/vmlinux",
        "--btf",
        &old,
    ]);
    let s = &out.expect(0).stdout;
    let header = s.lines().nth(1).unwrap_or_default();
    assert!(
        header.contains("vmlinux") && header.contains("linux-6.1.btf"),
        "{s}"
    );
    // Guarded poisoning (existence checks) does not fail the check.
    assert!(s.contains("poisoned (guarded)"));
    assert!(s.contains("linux-6.1.btf: compatible"));

    let j = oxbpf(&["core", "check", "--json", &obj, "--btf", &old])
        .expect(0)
        .json();
    let relos = j["targets"][0]["relocations"].as_array().unwrap();
    let guarded: Vec<_> = relos.iter().filter(|r| r["poisoned"] == true).collect();
    assert!(!guarded.is_empty());
    assert!(guarded
        .iter()
        .all(|r| r["guarded"] == true && r["failing"] == false));
    // The target's values differ from this kernel's for task_struct.
    assert!(relos
        .iter()
        .any(|r| r["old"] != r["new"] && r["new"].is_i64()));
}

#[test]
fn unreadable_inputs_are_one_clear_error() {
    let out = oxbpf(&["inspect", "/nonexistent/x.o"]);
    out.expect(1);
    assert!(out.stderr.starts_with("oxbpf: error: "), "{}", out.stderr);
    assert!(out.stderr.contains("No such file"));
    // Not an ELF file.
    let not_elf = common::repo().join("Cargo.toml").display().to_string();
    let out = oxbpf(&["inspect", &not_elf]);
    out.expect(1);
    assert!(out.stderr.contains("ELF"), "{}", out.stderr);
    // A deliberately broken object names the map at fault.
    let out = oxbpf(&["inspect", &fixture("object/bad_maps.NO_TYPE.clang19.o")]);
    out.expect(1);
    assert!(out.stderr.contains("map victim"), "{}", out.stderr);
    let out = oxbpf(&["core", "check", &demo(), "--btf", "/nonexistent.btf"]);
    out.expect(1);
    assert!(out.stderr.contains("/nonexistent.btf"));
}

#[test]
fn usage_errors_exit_2() {
    oxbpf(&["no-such-command"]).expect(2);
    oxbpf(&["inspect"]).expect(2);
    oxbpf(&["demo", "--for", "soon"]).expect(2);
    // --set and --disable are checked against the object before anything is loaded.
    let out = oxbpf(&["load", &demo(), "--set", "nosuch=1"]);
    out.expect(2);
    assert!(out.stderr.contains("no global variable named 'nosuch'"));
    assert!(out.stderr.contains("self_tgid (.rodata)"), "{}", out.stderr);
    let out = oxbpf(&["load", &demo(), "--set", "self_tgid=-1"]);
    out.expect(2);
    assert!(out.stderr.contains("out of range"), "{}", out.stderr);
    let out = oxbpf(&[
        "load",
        &fixture("cli/mixed.clang19.o"),
        "--set",
        "tag=far-too-long",
    ]);
    out.expect(2);
    assert!(out.stderr.contains("do not fit"), "{}", out.stderr);
    let out = oxbpf(&[
        "load",
        &fixture("cli/mixed.clang19.o"),
        "--set",
        "start_mode=MODE_NONE",
    ]);
    out.expect(2);
    assert!(out.stderr.contains("enumerator"), "{}", out.stderr);
    let out = oxbpf(&["load", &demo(), "--disable", "nope"]);
    out.expect(2);
    assert!(out.stderr.contains("on_exec"), "{}", out.stderr);
    oxbpf(&["load", &demo(), "--set", "novalue"]).expect(2);
}

#[test]
fn a_pin_root_off_bpffs_is_never_mounted_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keep"), b"mine").expect("write");
    let out = oxbpf(&["load", &demo(), "--pin", &dir.path().display().to_string()]);
    out.expect(1);
    assert!(out.stderr.contains("is not on a bpffs"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("keep")).expect("still there"),
        b"mine"
    );
}

#[test]
fn btf_dump_writes_a_header() {
    let out = oxbpf(&["btf", "dump", "--file", &fixture("btf/linux-6.1.btf")]);
    let s = &out.expect(0).stdout;
    assert!(s.contains("#ifndef __VMLINUX_H__"));
    assert!(s.contains("struct task_struct {"));
}

#[test]
fn externs_resolve_offline_against_the_target() {
    // kfuncs by the target BTF's ids, named in the listing.
    let out = oxbpf(&[
        "inspect",
        "--relocated",
        "--disasm",
        &fixture("loader/kfunc.clang19.o"),
    ]);
    let s = &out.expect(0).stdout;
    assert!(s.contains("call bpf_task_from_pid#"), "{s}");
    assert!(s.contains("call bpf_task_release#"), "{s}");
    // .kconfig values and ksyms: the instructions relocate without a kernel to ask.
    oxbpf(&[
        "inspect",
        "--relocated",
        &fixture("loader/externs.clang19.o"),
    ])
    .expect(0);
}
