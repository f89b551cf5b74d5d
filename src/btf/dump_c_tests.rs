//! Tests of the C dumper: small cases by text, and the real vmlinux compiled with clang-19.

use std::process::Command;

use super::tests::{int, member, sample};
use super::*;

fn dump(b: &BtfBuilder) -> String {
    let mut s = String::new();
    dump_c(&b.build().unwrap(), &DumpCOptions::default(), &mut s).unwrap();
    s
}

#[test]
fn sample_dump_has_definitions_in_order() {
    let s = dump(&sample());
    assert!(s.starts_with("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"));
    assert!(s.contains(
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"
    ));
    assert!(s.contains("struct task {\n\tint state;\n\tunion {\n\t\tint pid;\n\t\tint tgid;\n\t};\n\tlong: 0;\n\tint comm[16];\n\tint flags: 3;\n"), "{s}");
    assert!(s.contains("\tstruct task *next;\n}"), "{s}");
    assert!(s.contains("typedef struct task task_t;"));
    assert!(s.contains("enum e {\n\tNEG = -1,\n\tONE = 1,\n};"));
    assert!(s.contains("enum big {\n\tHUGE = 1099511627776ULL,\n};"));
    assert!(s.contains("union fwd_u;"));
    assert!(s.trim_end().ends_with("#endif /* __VMLINUX_H__ */"));
}

#[test]
fn cycles_get_forward_declarations_and_duplicates_renamed() {
    let mut b = BtfBuilder::new();
    b.add(int("int", 4, true)); // 1
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 3 })); // 2: struct b *
    b.add(TypeDef::named(
        "b",
        TypeBody::Struct {
            size: 16,
            members: vec![member("a", 5, 0, 0), member("self", 2, 64, 0)],
        },
    )); // 3
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 5 })); // 4: struct a *
    b.add(TypeDef::named(
        "a",
        TypeBody::Struct {
            size: 8,
            members: vec![member("b", 6, 0, 0)],
        },
    )); // 5
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 3 })); // 6: struct b *
    b.add(TypeDef::named(
        "a",
        TypeBody::Struct {
            size: 4,
            members: vec![member("x", 1, 0, 0)],
        },
    )); // 7: a second, different struct a
    let s = dump(&b);
    let fwd = s.find("struct b;").expect("forward declaration of b");
    let a = s.find("struct a {").unwrap();
    let bdef = s.find("struct b {").unwrap();
    assert!(fwd < a && a < bdef, "{s}");
    assert!(s.contains("struct a___2 {\n\tint x;\n};"), "{s}");
}

#[test]
fn packed_struct_and_padding() {
    let mut b = BtfBuilder::new();
    b.add(int("int", 4, true)); // 1
    b.add(int("char", 1, false)); // 2
    b.add(TypeDef::named(
        "p",
        TypeBody::Struct {
            size: 5,
            members: vec![member("c", 2, 0, 0), member("i", 1, 8, 0)],
        },
    ));
    b.add(TypeDef::named(
        "gap",
        TypeBody::Struct {
            size: 16,
            members: vec![member("c", 2, 0, 0), member("i", 1, 64, 0)],
        },
    ));
    let s = dump(&b);
    assert!(
        s.contains("struct p {\n\tchar c;\n\tint i;\n} __attribute__((packed));"),
        "{s}"
    );
    // i at byte 8 (not 4) and the tail to 16 bytes: zero-width `long` bitfields align them.
    assert!(
        s.contains("struct gap {\n\tchar c;\n\tlong: 0;\n\tint i;\n\tlong: 0;\n};"),
        "{s}"
    );
}

#[test]
fn function_pointers_and_arrays_of_pointers() {
    let mut b = BtfBuilder::new();
    b.add(int("int", 4, true)); // 1
    b.add(int("char", 1, true)); // 2
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 2 })); // 3 char *
    b.add(TypeDef::anon(TypeBody::Array {
        elem: 3,
        index: 1,
        nelems: 4,
    })); // 4 char *[4]
    b.add(TypeDef::anon(TypeBody::FuncProto {
        ret: 1,
        params: vec![ParamDef {
            name: "x".into(),
            ty: 1,
        }],
    })); // 5
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 5 })); // 6
    b.add(TypeDef::named(
        "ops",
        TypeBody::Struct {
            size: 40,
            members: vec![member("argv", 4, 0, 0), member("fn", 6, 256, 0)],
        },
    ));
    b.add(TypeDef::named("handler_t", TypeBody::Typedef { ty: 6 }));
    let s = dump(&b);
    assert!(s.contains("\tchar *argv[4];\n\tint (*fn)(int);\n"), "{s}");
    assert!(s.contains("typedef int (*handler_t)(int);"), "{s}");
}

fn clang() -> Option<&'static str> {
    match Command::new("clang-19").arg("--version").output() {
        Ok(o) if o.status.success() => Some("clang-19"),
        _ => {
            eprintln!("skipping: clang-19 is not installed");
            None
        }
    }
}

#[test]
fn vmlinux_h_compiles_with_clang() {
    let Ok(raw) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("skipping: cannot read /sys/kernel/btf/vmlinux");
        return;
    };
    let Some(clang) = clang() else { return };
    let btf = Btf::parse(raw).unwrap();
    let mut h = String::new();
    dump_c(&btf, &DumpCOptions::default(), &mut h).unwrap();
    compare_with_bpftool(&h);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vmlinux.h"), &h).unwrap();
    let prog = r#"
#include "vmlinux.h"
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
__attribute__((section("tracepoint/sched/sched_switch"), used))
int prog(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int pid = 0;
	bpf_probe_read_kernel(&pid, sizeof(pid), __builtin_preserve_access_index(&t->pid));
	return pid + __builtin_preserve_field_info(t->pid, 2);
}
char _license[] __attribute__((section("license"), used)) = "GPL";
"#;
    std::fs::write(dir.path().join("prog.c"), prog).unwrap();
    let out = Command::new(clang)
        .current_dir(dir.path())
        .args([
            "-target", "bpf", "-O2", "-g", "-c", "prog.c", "-o", "prog.o",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "clang failed:\n{}",
        &stderr[..stderr.len().min(4000)]
    );
    // The object's .BTF.ext has a CO-RE relocation on task_struct's pid.
    let obj = std::fs::read(dir.path().join("prog.o")).unwrap();
    let (btf, ext) = super::ext_tests::btf_sections(&obj).expect("object has .BTF and .BTF.ext");
    let relos = ext.core_relos_for("tracepoint/sched/sched_switch").unwrap();
    let r = relos
        .records
        .iter()
        .find(|r| r.kind == CoreReloKind::FieldByteOffset)
        .unwrap();
    assert_eq!(
        btf.type_by_id(r.type_id).unwrap().name().unwrap(),
        "task_struct"
    );
    let pid_idx = btf.find_member(r.type_id, "pid").unwrap().unwrap().indices[0];
    assert_eq!(r.access_str(&btf).unwrap(), format!("0:{pid_idx}"));
}

/// The top-level definitions (first lines of struct/union/enum/typedef at column 0) match
/// bpftool's `format c`, as sets.
fn compare_with_bpftool(ours: &str) {
    let out = match Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
    {
        Ok(o) if o.status.success() => o.stdout,
        _ => {
            eprintln!("skipping the bpftool comparison: bpftool unavailable");
            return;
        }
    };
    let heads = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| {
                ["struct ", "union ", "enum ", "typedef "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| l.replace("* (", "*(").replace("* const", "*const"))
            .collect()
    };
    let theirs = heads(&String::from_utf8_lossy(&out));
    let ours = heads(ours);
    let missing: Vec<_> = theirs.difference(&ours).take(5).collect();
    let extra: Vec<_> = ours.difference(&theirs).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert!(ours.len() > 10_000);
}
