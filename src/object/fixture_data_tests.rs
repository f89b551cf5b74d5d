//! The `globals` and `externs` fixtures: global data sections, variables and externs.

use super::fixture_tests::{builds, check_reloc_targets};
use super::*;
use crate::btf::BtfKind;

#[test]
fn global_data_and_variables() {
    for (clang, mut o) in builds("globals") {
        let names: Vec<(&str, &str)> = o
            .data_sections()
            .iter()
            .map(|d| (d.name(), d.map_name()))
            .collect();
        for want in [
            (".rodata", "globals.rodata"),
            (".data", "globals.data"),
            (".bss", "globals.bss"),
            (".data.foo", ".data.foo"),
            (".rodata.bar", ".rodata.bar"),
            (".bss.baz", ".bss.baz"),
        ] {
            assert!(names.contains(&want), "{clang}: {want:?} not in {names:?}");
        }
        let ro = o.section_data(".rodata").unwrap();
        assert!(ro.is_read_only() && ro.is_mmapable() && ro.kind() == DataKind::Rodata);
        let var = |d: &DataSection, n: &str| {
            let v = d
                .variable(n)
                .unwrap_or_else(|| panic!("{clang}: no {n} in {}", d.name()));
            (v.offset, v.size, v.linkage)
        };
        assert_eq!(var(ro, "targ_uid"), (0, 4, VarLinkage::Global));
        assert_eq!(var(ro, "targ_pid"), (8, 8, VarLinkage::Global));
        assert_eq!(var(ro, "verbose").1, 1);
        assert_eq!(var(ro, "cfg").1, 16);
        assert_eq!(var(ro, "static_ro").2, VarLinkage::Static);
        assert_eq!(ro.get("targ_pid").unwrap(), 42u64.to_ne_bytes());
        assert_eq!(ro.get("verbose").unwrap(), [1]);
        assert_eq!(ro.get("static_ro").unwrap(), 0x1234u32.to_ne_bytes());
        let cfg = ro.get("cfg").unwrap();
        assert_eq!(&cfg[..4], 3u32.to_ne_bytes());
        assert_eq!(&cfg[4..6], 8080u16.to_ne_bytes());
        assert_eq!(&cfg[7..14], b"default");
        let btf = o.btf().unwrap();
        let ty = btf
            .skip_mods_and_typedefs(ro.variable("cfg").unwrap().btf_type_id.unwrap())
            .unwrap();
        assert_eq!(ty.name().unwrap(), "config");

        let data = o.section_data(".data").unwrap();
        assert!(!data.is_read_only() && data.kind() == DataKind::Data);
        assert_eq!(data.get("counter").unwrap(), 5u64.to_ne_bytes());
        assert_eq!(var(data, "table").1, 16);
        assert_eq!(var(data, "hidden_data").2, VarLinkage::Static);
        assert_eq!(var(data, "static_data").2, VarLinkage::Static);
        assert_eq!(data.get("static_data").unwrap(), 9u32.to_ne_bytes());
        let bss = o.section_data(".bss").unwrap();
        assert!(bss.bytes().iter().all(|&b| b == 0) && bss.kind() == DataKind::Bss);
        assert_eq!(var(bss, "scratch").1, 32);
        let foo = o.section_data(".data.foo").unwrap();
        assert_eq!(foo.get("foo_other").unwrap(), 0xf00f00u64.to_ne_bytes());
        assert!(o.section_data(".rodata.bar").unwrap().is_read_only());
        assert_eq!(o.section_data(".bss.baz").unwrap().size(), 4);

        // Setting a const volatile before load, checked against its size.
        o.rodata_mut()
            .unwrap()
            .set_value("targ_uid", &1000u32)
            .unwrap();
        assert_eq!(
            o.section_data(".rodata").unwrap().get("targ_uid").unwrap(),
            1000u32.to_ne_bytes()
        );
        o.rodata_mut()
            .unwrap()
            .set("targ_pid", &7u64.to_ne_bytes())
            .unwrap();
        let err = o
            .rodata_mut()
            .unwrap()
            .set_value("targ_uid", &1u8)
            .unwrap_err();
        assert!(
            matches!(&err, ObjectError::VariableSize { name, expected: 4, got: 1, .. } if name == "targ_uid"),
            "{err}"
        );
        let err = o.data_mut().unwrap().set("nope", &[0]).unwrap_err();
        assert!(err.to_string().contains("nope"));
        o.bss_mut().unwrap().set_value("hits", &3u64).unwrap();
        o.section_data_mut(".data.foo")
            .unwrap()
            .set_value("foo_value", &1u32)
            .unwrap();
        assert!(matches!(
            o.section_data_mut(".data.nope"),
            Err(ObjectError::NoSuchSection(_))
        ));
        check_reloc_targets(&o);
    }
}

#[test]
fn externs_kconfig_and_ksyms() {
    for (clang, o) in builds("externs") {
        let e = |n: &str| {
            o.extern_by_name(n)
                .unwrap_or_else(|| panic!("{clang}: no extern {n}"))
        };
        let kc = |n: &str| match e(n).kind {
            ExternKind::Kconfig {
                ty, size, offset, ..
            } => (ty, size, offset),
            ref k => panic!("{n}: {k:?}"),
        };
        // libbpf's layout: alignment descending, then size, then name.
        assert_eq!(kc("CONFIG_NR_CPUS"), (KconfigType::Int, 8, 0));
        assert_eq!(kc("CONFIG_BPF_JIT"), (KconfigType::Tristate, 4, 8));
        assert_eq!(kc("CONFIG_HZ"), (KconfigType::Int, 4, 12));
        assert_eq!(kc("LINUX_KERNEL_VERSION"), (KconfigType::Int, 4, 16));
        assert_eq!(kc("CONFIG_SHORT_OPTION"), (KconfigType::Int, 2, 20));
        assert_eq!(kc("CONFIG_BPF_SYSCALL"), (KconfigType::Bool, 1, 22));
        assert_eq!(kc("CONFIG_CHAR_OPTION"), (KconfigType::Char, 1, 23));
        assert_eq!(kc("LINUX_HAS_BPF_COOKIE"), (KconfigType::Bool, 1, 24));
        assert_eq!(
            kc("CONFIG_DEFAULT_HOSTNAME"),
            (KconfigType::CharArray, 16, 25)
        );
        assert!(matches!(
            e("CONFIG_HZ").kind,
            ExternKind::Kconfig { signed: true, .. }
        ));
        assert!(
            e("LINUX_KERNEL_VERSION").is_virtual_kconfig() && !e("CONFIG_HZ").is_virtual_kconfig()
        );
        for (n, weak) in [
            ("CONFIG_HZ", false),
            ("CONFIG_BPF_JIT", true),
            ("LINUX_HAS_BPF_COOKIE", true),
            ("LINUX_KERNEL_VERSION", false),
        ] {
            assert_eq!(e(n).weak, weak, "{n}");
        }
        let kconfig = o.section_data(".kconfig").unwrap();
        assert_eq!(
            (kconfig.kind(), kconfig.size(), kconfig.map_name()),
            (DataKind::Kconfig, 41, "externs.kconfig")
        );
        assert!(kconfig.is_read_only());
        assert_eq!(kconfig.variable("CONFIG_HZ").unwrap().offset, 12);
        assert_eq!(o.data_sections().last().unwrap().name(), ".kconfig");

        let btf = o.btf().unwrap();
        match e("runqueues").kind {
            ExternKind::Ksym { type_id } => {
                assert_eq!(btf.type_by_id(type_id).unwrap().name().unwrap(), "rq")
            }
            ref k => panic!("{k:?}"),
        }
        assert_eq!(e("bpf_prog_fops").kind, ExternKind::Ksym { type_id: 0 });
        assert_eq!(
            e("not_a_kernel_symbol").kind,
            ExternKind::Ksym { type_id: 0 }
        );
        assert!(e("not_a_kernel_symbol").weak && !e("bpf_prog_fops").weak);
        for (n, weak) in [
            ("bpf_task_acquire", false),
            ("bpf_task_release", false),
            ("bpf_missing_kfunc", true),
        ] {
            let ExternKind::Kfunc { proto_id } = e(n).kind else {
                panic!("{n}: {:?}", e(n).kind)
            };
            assert_eq!(btf.type_by_id(proto_id).unwrap().kind(), BtfKind::FuncProto);
            assert_eq!(e(n).weak, weak, "{n}");
        }
        assert_eq!(o.externs().len(), 15);
        // kfunc calls are relocated call instructions.
        let sec = o.prog_section("tp_btf/sched_switch").unwrap();
        let kfunc_calls = sec
            .relocs
            .iter()
            .filter(|r| sec.insns[r.insn].is_call() && matches!(r.target, RelocTarget::Extern(_)))
            .count();
        assert_eq!(kfunc_calls, 3, "{clang}");
        check_reloc_targets(&o);
    }
}

#[test]
fn arena_globals() {
    let p = super::fixture_tests::fixture_path("object/arena.clang19.o");
    let o = Object::open(p).unwrap();
    let m = o.map("arena").unwrap();
    assert_eq!(m.map_type, crate::syscall::MapType::ARENA);
    assert_eq!(m.map_flags, crate::syscall::MapFlags::MMAPABLE);
    assert_eq!(m.max_entries, 4);
    let data = o.arena_data().unwrap();
    assert_eq!(data.len(), 16);
    assert_eq!(data[..4], 7i32.to_ne_bytes());
    let sec = o.prog_section("syscall").unwrap();
    let arena: Vec<(&str, u64)> = sec
        .relocs
        .iter()
        .filter_map(|r| match r.target {
            RelocTarget::Arena { offset } => Some((r.symbol.as_str(), offset)),
            _ => None,
        })
        .collect();
    assert!(
        arena.contains(&("arena_counter", 0)) && arena.contains(&("arena_total", 8)),
        "{arena:?}"
    );
    // Arena globals are not a data section.
    assert!(o
        .data_sections()
        .iter()
        .all(|d| d.name() != ".addr_space.1"));
    check_reloc_targets(&o);
}

#[test]
fn struct_ops_maps() {
    for (clang, o) in builds("struct_ops") {
        let m = o.map("oxcc").unwrap_or_else(|e| panic!("{clang}: {e}"));
        assert_eq!(
            (m.map_type, m.key_size, m.max_entries),
            (crate::syscall::MapType::STRUCT_OPS, 4, 1)
        );
        assert_eq!(m.origin, MapOrigin::StructOps);
        assert!(m.map_flags.is_empty());
        let so = m.struct_ops.as_ref().unwrap();
        let btf = o.btf().unwrap();
        assert_eq!(
            btf.type_by_id(so.type_id).unwrap().name().unwrap(),
            "tcp_congestion_ops"
        );
        assert_eq!(so.data.len() as u32, m.value_size);
        let set: Vec<(&str, &str)> = so
            .programs
            .iter()
            .map(|p| (p.member.as_str(), p.program.as_str()))
            .collect();
        assert_eq!(
            set,
            [
                ("ssthresh", "cc_ssthresh"),
                ("undo_cwnd", "cc_undo"),
                ("init", "cc_init")
            ],
            "{clang}"
        );
        let name_off = btf
            .find_member(so.type_id, "name")
            .unwrap()
            .unwrap()
            .bit_offset
            / 8;
        assert_eq!(
            &so.data[name_off as usize..name_off as usize + 5],
            b"oxcc\0"
        );
        let l = o.map("oxcc_link").unwrap();
        assert_eq!(l.map_flags, crate::syscall::MapFlags::LINK);
        assert_eq!(l.struct_ops.as_ref().unwrap().programs.len(), 2);
        assert!(o.program("cc_undo").unwrap().is_sleepable());
    }
}

#[test]
fn variables_set_from_text_through_btf() {
    for (clang, mut o) in builds("globals") {
        assert_eq!(o.set_variable_text("targ_uid", "1000").unwrap(), ".rodata");
        assert_eq!(o.set_variable_text("verbose", "false").unwrap(), ".rodata");
        assert_eq!(o.set_variable_text("scratch", "hello").unwrap(), ".bss");
        assert_eq!(
            o.set_variable_text("foo_value", "0x10").unwrap(),
            ".data.foo"
        );
        let ro = o.section_data(".rodata").unwrap();
        assert_eq!(
            ro.get("targ_uid").unwrap(),
            1000u32.to_ne_bytes(),
            "{clang}"
        );
        assert_eq!(ro.get("verbose").unwrap(), [0]);
        let bss = o.section_data(".bss").unwrap();
        assert_eq!(&bss.get("scratch").unwrap()[..6], b"hello\0");
        // Wrong values are typed errors naming the variable; nothing changes.
        let e = o
            .set_variable_text("targ_uid", "-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("targ_uid") && e.contains("out of range"), "{e}");
        assert!(o.set_variable_text("verbose", "maybe").is_err());
        assert!(o.set_variable_text("scratch", &"x".repeat(32)).is_err());
        assert!(
            o.set_variable_text("cfg", "1").is_err(),
            "structs are not text"
        );
        assert!(matches!(
            o.set_variable_text("no_such_var", "1"),
            Err(ObjectError::NoSuchGlobal(_))
        ));
        let ro = o.section_data(".rodata").unwrap();
        assert_eq!(ro.get("targ_uid").unwrap(), 1000u32.to_ne_bytes());
    }
}
