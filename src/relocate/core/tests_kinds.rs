//! Type, type-id and enumerator relocations, `ld_imm64` patching and poisoning, and where
//! candidates are searched (vmlinux, modules, custom targets).

use std::sync::{Arc, Mutex};

use crate::btf::{BtfBuilder, CoreReloKind::*};
use crate::insn::{asm, Insn};

use super::test_btf::{alu_insns, one, run, Local, B};
use super::{CoreProblem, CoreRelocator, MissReason, Outcome, PatchedField, Targets, Unresolved};

fn ld64(v: u64) -> Vec<Insn> {
    asm::ld_imm64(1, v).to_vec()
}

#[test]
fn type_kinds() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let pid = b.typedef("pid_t", int);
    let nope = b.strukt("nope", 4, &[("a", int, 0, 0)]);
    let local = Local::finish(
        b,
        &[
            (TypeExists, foo, "0"),
            (TypeSize, foo, "0"),
            (TypeIdTarget, foo, "0"),
            (TypeIdLocal, foo, "0"),
            (TypeExists, pid, "0"),
            (TypeSize, pid, "0"),
            (TypeExists, nope, "0"),
            (TypeSize, nope, "0"),
            (TypeIdTarget, nope, "0"),
        ],
    );
    let mut t = B::new();
    let long = t.int("long", 8, true);
    t.strukt("foo", 24, &[("a", long, 0, 0)]);
    let tfoo = t.b.last_id();
    t.typedef("pid_t", long);
    let target = t.build();
    let foo_id = foo as i32;
    let mut insns = alu_insns(&[1, 4, foo_id, foo_id, 1, 4, 1, 4, 12345]);
    let d = run(&local, &target, &mut insns).unwrap();
    let imms: Vec<i32> = insns.iter().map(|i| i.imm).collect();
    assert_eq!(imms, [1, 24, tfoo as i32, foo_id, 1, 8, 0, 0, 0]);
    assert_eq!(d[3].target, None, "type_id_local searches nothing");
    assert_eq!(d[4].local.path, "pid_t");
    assert!(
        !d.iter().any(|d| d.is_poisoned()),
        "type relocations never poison"
    );
    // type_id_target is not validated (ids change when objects are linked).
    assert_eq!(d[2].old_value, u64::from(foo));
}

#[test]
fn anonymous_local_types() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let anon = b.strukt("", 4, &[("a", int, 0, 0)]);
    let local = Local::finish(b, &[(TypeIdLocal, anon, "0"), (TypeExists, anon, "0")]);
    let target = B::new().build();
    let mut insns = alu_insns(&[anon as i32, 1]);
    let err = run(&local, &target, &mut insns).unwrap_err();
    assert_eq!(err.record, 1);
    assert_eq!(*err.problem, CoreProblem::AnonymousType { type_id: anon });
    assert_eq!(
        insns[0].imm, anon as i32,
        "type_id_local works on anonymous types"
    );
}

fn colors(b: &mut B, name: &str, values: &[(&str, u64)]) -> u32 {
    b.enum32(name, 4, false, values)
}

#[test]
fn enumerators() {
    let mut b = B::new();
    let c = colors(
        &mut b,
        "color___local",
        &[("RED___x", 0), ("GREEN", 1), ("BLUE", 2)],
    );
    let local = Local::finish(
        b,
        &[
            (EnumvalExists, c, "0"),
            (EnumvalValue, c, "0"),
            (EnumvalValue, c, "1"),
            (EnumvalExists, c, "2"),
            (EnumvalValue, c, "2"),
        ],
    );
    let mut t = B::new();
    colors(&mut t, "color", &[("GREEN", 7), ("RED", 0xffff_fff0)]);
    let target = t.build();
    let mut insns = alu_insns(&[1, 0, 1, 1, 2]);
    let d = run(&local, &target, &mut insns).unwrap();
    let imms: Vec<i32> = insns.iter().map(|i| i.imm).collect();
    assert_eq!(&imms[..4], [1, 0xffff_fff0u32 as i32, 7, 0]);
    assert_eq!(d[1].local.path, "enum color___local::RED___x");
    assert_eq!(d[1].target.as_ref().unwrap().path, "enum color::RED");
    // libbpf reads 32-bit enumerators as signed: 0xfffffff0 becomes -16 in 64 bits.
    assert_eq!(d[1].new_value, (-16i64) as u64);
    assert!(d[4].is_poisoned());
    let why = d[4].poison_reason().unwrap();
    assert!(
        why.contains("enumerator `BLUE` not found in target"),
        "{why}"
    );
}

#[test]
fn enum64_values_use_both_ld_imm64_halves() {
    let mut b = B::new();
    let e = b.enum64("big", false, &[("HUGE", 1 << 40), ("GONE", 5)]);
    let local = Local::finish(
        b,
        &[
            (EnumvalValue, e, "0"),
            (EnumvalValue, e, "1"),
            (FieldByteOffset, e, "0"),
        ],
    );
    let mut t = B::new();
    t.enum64("big", false, &[("HUGE", 0x1234_5678_9abc_def0)]);
    let target = t.build();
    let mut insns = [ld64(1 << 40), ld64(5)].concat();
    let mut relos = local.relos.clone();
    relos[1].insn_off = 16;
    let local2 = Local {
        btf: local.btf.clone(),
        relos: relos[..2].to_vec(),
    };
    let d = run(&local2, &target, &mut insns).unwrap();
    assert_eq!(insns[..2], asm::ld_imm64(1, 0x1234_5678_9abc_def0));
    let Outcome::Patched(p) = d[0].outcome else {
        panic!()
    };
    assert_eq!(p.field, PatchedField::Imm64);
    // Poisoning an ld_imm64 replaces both halves.
    let poison = Insn::new(0x85, 0, 0, 0, 0xbad2310);
    assert_eq!(insns[2..], [poison, poison]);
    assert_eq!(d[1].before.len(), 2);
    // ENUM64 and ENUM are one kind for candidate search.
    let mut t = B::new();
    t.enum32("big", 4, false, &[("HUGE", 3)]);
    let mut insns = [ld64(1 << 40)].concat();
    let local3 = Local {
        btf: local.btf.clone(),
        relos: local.relos[..1].to_vec(),
    };
    run(&local3, &t.build(), &mut insns).unwrap();
    assert_eq!(insns[..2], asm::ld_imm64(1, 3));
}

#[test]
fn ld_imm64_must_be_a_plain_constant() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let local = Local::finish(b, &[(TypeSize, foo, "0")]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("foo", 8, &[("a", int, 0, 0)]);
    let target = t.build();
    let mut insns = asm::ld_map_fd(1, 4).to_vec();
    let err = run(&local, &target, &mut insns).unwrap_err();
    assert_eq!(*err.problem, CoreProblem::BadLdImm64);
    // A truncated ld_imm64 (last instruction) is refused, not read past.
    let mut insns = vec![asm::ld_imm64(1, 4)[0]];
    assert!(run(&local, &target, &mut insns).is_err());
    let mut insns = ld64(4);
    run(&local, &target, &mut insns).unwrap();
    assert_eq!(insns[..2], asm::ld_imm64(1, 8));
}

/// vmlinux with `struct in_vmlinux`, a module with `struct in_module` (split on it).
fn kernel_with_module() -> (Arc<crate::btf::Btf>, Arc<crate::btf::Btf>) {
    let mut v = B::new();
    let int = v.int("int", 4, true);
    v.strukt("in_vmlinux", 8, &[("x", int, 32, 0)]);
    let vmlinux = v.build();
    let mut m = BtfBuilder::new();
    let base_last = vmlinux.last_id();
    m.add(crate::btf::TypeDef::named(
        "in_module",
        crate::btf::TypeBody::Struct {
            size: 12,
            members: vec![crate::btf::MemberDef {
                name: "x".into(),
                ty: int,
                bit_offset: 64,
                bitfield_size: 0,
            }],
        },
    ));
    let bytes = m.to_split_bytes(&vmlinux).unwrap();
    let module = Arc::new(crate::btf::Btf::parse_split(bytes, vmlinux.clone()).unwrap());
    assert_eq!(module.first_id(), base_last + 1);
    (vmlinux, module)
}

fn local_two() -> Local {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let v = b.strukt("in_vmlinux", 4, &[("x", int, 0, 0)]);
    let m = b.strukt("in_module", 4, &[("x", int, 0, 0)]);
    Local::finish(
        b,
        &[(FieldByteOffset, v, "0:0"), (FieldByteOffset, m, "0:0")],
    )
}

#[test]
fn module_btfs_are_searched_only_when_vmlinux_has_no_candidate() {
    let (vmlinux, module) = kernel_with_module();
    let local = local_two();
    let loads = Arc::new(Mutex::new(0));
    let counter = loads.clone();
    let module2 = module.clone();
    let targets = Targets::kernel(vmlinux.clone()).with_module_loader(Box::new(move || {
        *counter.lock().unwrap() += 1;
        vec![("mymod".to_string(), module2)]
    }));
    let mut r = CoreRelocator::new(&local.btf, targets);
    let mut insns = alu_insns(&[0, 0]);
    let d = r
        .relocate_section("s", &local.relos[..1], &mut insns)
        .unwrap();
    assert_eq!(d[0].target.as_ref().unwrap().btf_name, "vmlinux");
    assert_eq!(
        *loads.lock().unwrap(),
        0,
        "vmlinux had the type: modules not loaded"
    );
    let mut relo = local.relos[1];
    relo.insn_off = 8;
    let d = r.relocate_section("s", &[relo], &mut insns).unwrap();
    let t = d[0].target.as_ref().unwrap();
    assert_eq!((t.btf_name.as_str(), t.btf_index), ("mymod", 1));
    assert_eq!(insns[1].imm, 8);
    assert_eq!(*loads.lock().unwrap(), 1);
    // A custom target replaces the kernel: modules are never searched.
    let targets = Targets::custom("other.btf", vmlinux).with_modules([("mymod".into(), module)]);
    let mut r = CoreRelocator::new(&local.btf, targets);
    let d = r
        .relocate_section("s", &[relo], &mut alu_insns(&[0, 0]))
        .unwrap();
    assert_eq!(
        d[0].poison_reason().unwrap(),
        "no candidate type named `in_module` (STRUCT) in other.btf"
    );
}

#[test]
fn type_exists_uses_compatibility_not_layout() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let mut t = B::new();
    let long = t.int("long", 8, true);
    t.strukt("foo", 8, &[("b", long, 0, 0)]);
    let d = one(b, TypeExists, foo, "0", 1, &t.build()).unwrap();
    assert_eq!(d.new_value, 1, "struct names are enough for type_exists");
    // A union is not a struct.
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.union("foo", 4, &[("a", int, 0, 0)]);
    let d = one(b, TypeExists, foo, "0", 1, &t.build()).unwrap();
    assert_eq!(d.new_value, 0);
    assert!(matches!(
        d.unresolved,
        Some(Unresolved::NoCandidates { .. })
    ));
    let _ = MissReason::TypesIncompatible;
}
