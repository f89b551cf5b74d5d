//! Field relocations: access specs, anonymous members, arrays, bitfields, load widths,
//! flavours, ambiguity and candidate pruning.

use crate::btf::CoreReloKind::{self, *};
use crate::insn::opcode::size;
use crate::insn::{asm, ByteOrder, Insn};

use super::test_btf::{alu_insns, one, run, Local, B};
use super::{
    CoreProblem, CoreRelocator, MissReason, Outcome, PatchedField, PoisonCause, Targets, Unresolved,
};

/// `struct foo { int a; struct { int b; int c[4]; }; }` with records on it.
fn local_foo(name: &str, records: &[(CoreReloKind, &str)]) -> Local {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let arr = b.array(int, 4);
    let anon = b.strukt("", 20, &[("b", int, 0, 0), ("c", arr, 32, 0)]);
    let foo = b.strukt(name, 24, &[("a", int, 0, 0), ("", anon, 32, 0)]);
    let recs: Vec<_> = records.iter().map(|&(k, a)| (k, foo, a)).collect();
    Local::finish(b, &recs)
}

/// The target: `struct foo { long z; long w; struct { int b; int c[8]; }; int a; }`.
fn target_foo() -> std::sync::Arc<crate::btf::Btf> {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let long = b.int("long", 8, true);
    let arr = b.array(int, 8);
    let anon = b.strukt("", 36, &[("b", int, 0, 0), ("c", arr, 32, 0)]);
    b.strukt(
        "foo",
        56,
        &[
            ("z", long, 0, 0),
            ("w", long, 64, 0),
            ("", anon, 128, 0),
            ("a", int, 416, 0),
        ],
    );
    b.build()
}

#[test]
fn spec_through_anonymous_members_and_arrays() {
    let local = local_foo(
        "foo",
        &[(FieldByteOffset, "0:1:1:2"), (FieldByteOffset, "0:0")],
    );
    let mut insns = alu_insns(&[16, 0]);
    let d = run(&local, &target_foo(), &mut insns).unwrap();
    assert_eq!(d[0].local.path, "foo->c[2]");
    assert_eq!(d[0].local.bit_offset, 128);
    let t = d[0].target.as_ref().unwrap();
    assert_eq!(
        (t.access.as_str(), t.path.as_str()),
        ("0:2:1:2", "foo->c[2]")
    );
    assert_eq!(t.bit_offset, 128 + 32 + 64);
    assert_eq!((d[0].old_value, d[0].new_value), (16, 28));
    assert_eq!(insns[0], asm::mov64_imm(0, 28));
    assert_eq!(d[1].local.path, "foo->a");
    assert_eq!(insns[1], asm::mov64_imm(0, 52));
    // Readable: section, instruction, kind, path, both types, values.
    let text = d[0].to_string();
    for want in [
        "test insn #0",
        "byte_off",
        "`foo->c[2]`",
        "struct foo",
        "0:1:1:2",
        "16 -> 28",
    ] {
        assert!(text.contains(want), "{text}");
    }
}

#[test]
fn flavoured_local_type_matches_the_plain_target() {
    let local = local_foo(
        "foo___v2",
        &[(FieldByteSize, "0:1:1"), (FieldExists, "0:0")],
    );
    let mut insns = alu_insns(&[16, 1]);
    let d = run(&local, &target_foo(), &mut insns).unwrap();
    assert_eq!(d[0].target.as_ref().unwrap().type_name, "struct foo");
    assert_eq!(insns[0].imm, 32, "c grew to 8 ints");
    assert_eq!(insns[1].imm, 1);
}

#[test]
fn root_index_and_bad_specs() {
    // p[2].a: the root index multiplies the root's size.
    let local = local_foo("foo", &[(FieldByteOffset, "2:0")]);
    let mut insns = alu_insns(&[48]);
    let d = run(&local, &target_foo(), &mut insns).unwrap();
    assert_eq!(d[0].local.path, "foo[2].a");
    assert_eq!(insns[0].imm, 2 * 56 + 52);
    for bad in [
        "",
        ":0",
        "0:",
        "0::1",
        "0:x",
        "0:9",
        "0:1:1:4",
        "0:0:0",
        "-1",
        "0:99999999999",
    ] {
        let local = local_foo("foo", &[(FieldByteOffset, bad)]);
        let err = run(&local, &target_foo(), &mut alu_insns(&[0])).unwrap_err();
        assert!(
            matches!(*err.problem, CoreProblem::BadAccessSpec { .. }),
            "{bad:?}: {err}"
        );
        assert_eq!(err.path, bad, "an unparsable spec is named as written");
    }
    let long = (0..65).map(|_| "0").collect::<Vec<_>>().join(":");
    let local = local_foo("foo", &[(FieldByteOffset, &long)]);
    assert!(run(&local, &target_foo(), &mut alu_insns(&[0])).is_err());
}

#[test]
fn missing_field_poisons_and_exists_is_zero() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo___old", 8, &[("a", int, 0, 0), ("gone", int, 32, 0)]);
    let local = Local::finish(
        b,
        &[
            (FieldByteOffset, foo, "0:1"),
            (FieldExists, foo, "0:1"),
            (FieldByteOffset, foo, "0:0"),
        ],
    );
    let mut insns = alu_insns(&[4, 1, 0]);
    let d = run(&local, &target_foo(), &mut insns).unwrap();
    assert_eq!(d[0].outcome, Outcome::Poisoned(PoisonCause::Unresolved));
    assert_eq!(insns[0], Insn::new(0x85, 0, 0, 0, 0xbad2310));
    let why = d[0].poison_reason().unwrap();
    assert!(
        why.starts_with("field `gone` not found in target ["),
        "{why}"
    );
    assert!(why.ends_with("] struct foo"), "{why}");
    assert!(d[0].to_string().contains("POISONED"));
    assert_eq!(insns[1].imm, 0, "field_exists of a missing field");
    assert!(!d[1].is_poisoned());
    // The candidate list was not pruned by the misses: `a` still resolves.
    assert_eq!(insns[2].imm, 52);
}

#[test]
fn no_candidate_type() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let bar = b.strukt("bar", 4, &[("a", int, 0, 0)]);
    let local = Local::finish(
        b,
        &[(FieldByteOffset, bar, "0:0"), (FieldExists, bar, "0:0")],
    );
    let mut insns = alu_insns(&[0, 1]);
    let d = run(&local, &target_foo(), &mut insns).unwrap();
    assert!(d[0].is_poisoned());
    assert_eq!(
        d[0].poison_reason().unwrap(),
        "no candidate type named `bar` (STRUCT) in target"
    );
    assert!(matches!(
        d[1].unresolved,
        Some(Unresolved::NoCandidates { .. })
    ));
    assert_eq!(insns[1].imm, 0);
}

#[test]
fn array_bounds_and_flexible_arrays() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let arr10 = b.array(int, 10);
    let flex = b.array(int, 0);
    let s = b.strukt("s", 44, &[("n", int, 0, 0), ("arr", arr10, 32, 0)]);
    let f = b.strukt("f", 4, &[("n", int, 0, 0), ("data", flex, 32, 0)]);
    let local = Local::finish(
        b,
        &[
            (FieldByteOffset, s, "0:1:7"),
            (FieldByteOffset, f, "0:1:5"),
            (FieldSigned, s, "0:1:7"),
        ],
    );
    let mut t = B::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    let arr4 = t.array(int, 4);
    let flex = t.array(int, 0);
    t.strukt("s", 20, &[("n", int, 0, 0), ("arr", arr4, 32, 0)]);
    t.strukt("f", 16, &[("n", long, 0, 0), ("data", flex, 64, 0)]);
    let target = t.build();
    let mut insns = alu_insns(&[32, 24, 1]);
    let err = run(&local, &target, &mut insns).unwrap_err();
    assert!(
        matches!(
            *err.problem,
            CoreProblem::ArrayElementKind { kind: FieldSigned }
        ),
        "{err}"
    );
    let local = Local {
        btf: local.btf.clone(),
        relos: local.relos[..2].to_vec(),
    };
    let mut insns = alu_insns(&[32, 24]);
    let d = run(&local, &target, &mut insns).unwrap();
    assert!(d[0].is_poisoned());
    let Some(Unresolved::NoMatch(m)) = &d[0].unresolved else {
        panic!()
    };
    assert_eq!(
        m[0].reason,
        MissReason::IndexOutOfBounds { index: 7, len: 4 }
    );
    assert_eq!(insns[1].imm, 8 + 20, "flexible array index past nelems 0");
    assert_eq!(d[1].local.path, "f->data[5]");
}

/// Bitfield member `x` at `bit_off` with `bits` bits, of an unsigned type of `size` bytes.
fn bitfield_target(bit_off: u32, bits: u32, size: u32) -> std::sync::Arc<crate::btf::Btf> {
    let mut t = B::new();
    let ty = t.int("ty", size, false);
    t.strukt("bf", 16, &[("x", ty, bit_off, bits)]);
    t.build()
}

fn bitfield_values(target: &std::sync::Arc<crate::btf::Btf>, order: ByteOrder) -> Vec<i32> {
    let mut b = B::new();
    let u32t = b.int("unsigned int", 4, false);
    let bf = b.strukt("bf", 4, &[("x", u32t, 3, 5)]);
    let kinds = [
        FieldByteOffset,
        FieldByteSize,
        FieldLshiftU64,
        FieldRshiftU64,
        FieldSigned,
    ];
    let recs: Vec<_> = kinds.iter().map(|&k| (k, bf, "0:0")).collect();
    let local = Local::finish(b, &recs);
    // Offsets, sizes and left shifts are not checked against the instruction for bitfields
    // (the compiler may choose another load); right shift and signedness are.
    let mut insns = alu_insns(&[123, 123, 123, 59, 0]);
    let mut r =
        CoreRelocator::new(&local.btf, Targets::custom("t", target.clone())).with_byte_order(order);
    r.relocate_section("bf", &local.relos, &mut insns).unwrap();
    insns.iter().map(|i| i.imm).collect()
}

#[test]
fn bitfields() {
    use ByteOrder::*;
    // Fits the member type's own size: 4-byte load at byte 4.
    let t = bitfield_target(37, 7, 4);
    assert_eq!(
        bitfield_values(&t, Little),
        [4, 4, 64 - (37 + 7 - 32), 64 - 7, 0]
    );
    assert_eq!(bitfield_values(&t, Big), [4, 4, 32 + 5, 57, 0]);
    // Straddles a 4-byte boundary: the load doubles to 8 bytes.
    let t = bitfield_target(30, 4, 4);
    assert_eq!(bitfield_values(&t, Little), [0, 8, 30, 60, 0]);
    assert_eq!(bitfield_values(&t, Big), [0, 8, 30, 60, 0]);
    // A u8 bitfield across a byte boundary: 1 -> 2 -> 4 bytes.
    let t = bitfield_target(14, 4, 1);
    assert_eq!(bitfield_values(&t, Little), [0, 4, 64 - 18, 60, 0]);
    assert_eq!(bitfield_values(&t, Big), [0, 4, 32 + 14, 60, 0]);
    // Wider than a 64-bit load can reach.
    let mut b = B::new();
    let u32t = b.int("unsigned int", 4, false);
    let bf = b.strukt("bf", 4, &[("x", u32t, 3, 5)]);
    let local = Local::finish(b, &[(FieldByteOffset, bf, "0:0")]);
    let err = run(&local, &bitfield_target(60, 8, 8), &mut alu_insns(&[0])).unwrap_err();
    assert!(
        matches!(*err.problem, CoreProblem::BitfieldTooWide { .. }),
        "{err}"
    );
}

#[test]
fn validation_against_the_instruction() {
    // The compiler's value must be the local BTF's (mismatched .BTF.ext otherwise).
    let local = local_foo("foo", &[(FieldByteOffset, "0:0")]);
    let err = run(&local, &target_foo(), &mut alu_insns(&[4])).unwrap_err();
    assert_eq!(
        *err.problem,
        CoreProblem::UnexpectedValue {
            found: 4,
            expected: 0
        }
    );
    assert!(err.to_string().contains("`foo->a`"), "{err}");
    // A register-source ALU cannot carry a value.
    let mut insns = vec![asm::alu64_reg(0, 0, 1)];
    let err = run(&local, &target_foo(), &mut insns).unwrap_err();
    assert!(matches!(*err.problem, CoreProblem::UnsupportedInsn { .. }));
    // Misaligned and out-of-range records.
    let mut l2 = local_foo("foo", &[(FieldByteOffset, "0:0")]);
    l2.relos[0].insn_off = 4;
    assert!(matches!(
        *run(&l2, &target_foo(), &mut alu_insns(&[0]))
            .unwrap_err()
            .problem,
        CoreProblem::MisalignedInsnOff { insn_off: 4 }
    ));
    l2.relos[0].insn_off = 8;
    assert!(matches!(
        *run(&l2, &target_foo(), &mut alu_insns(&[0]))
            .unwrap_err()
            .problem,
        CoreProblem::InsnOutOfRange { insn: 1, len: 1 }
    ));
}

/// A local struct `m` with a field `v` of type `local_ty`, loaded with `ldx` of its size,
/// against a target whose `v` (after an 8-byte field) has type `targ_ty`.
fn load_width(
    local_ty: fn(&mut B) -> (u32, u32),
    targ_ty: fn(&mut B) -> (u32, u32),
) -> (super::CoreDecision, Insn) {
    let mut b = B::new();
    let (lt, lsz) = local_ty(&mut b);
    let m = b.strukt("m", lsz, &[("v", lt, 0, 0)]);
    let local = Local::finish(b, &[(FieldByteOffset, m, "0:0")]);
    let mut t = B::new();
    let long = t.int("long", 8, true);
    let (tt, _) = targ_ty(&mut t);
    t.strukt("m", 16, &[("pad", long, 0, 0), ("v", tt, 64, 0)]);
    let target = t.build();
    let sz = size::from_bytes(lsz).unwrap();
    let mut insns = vec![asm::ldx(sz, 0, 1, 0)];
    let mut d = run(&local, &target, &mut insns).unwrap();
    (d.remove(0), insns[0])
}

#[test]
fn load_store_width_adjustment() {
    let u32t = |b: &mut B| (b.int("unsigned int", 4, false), 4);
    let u64t = |b: &mut B| (b.int("unsigned long", 8, false), 8);
    let i32t = |b: &mut B| (b.int("int", 4, true), 4);
    let i64t = |b: &mut B| (b.int("long long", 8, true), 8);
    // Unsigned to unsigned: the load widens.
    let (d, insn) = load_width(u32t, u64t);
    assert_eq!(insn, asm::ldx(size::DW, 0, 1, 8));
    let Outcome::Patched(p) = d.outcome else {
        panic!()
    };
    assert_eq!(
        (p.field, p.old, p.new, p.mem_size),
        (PatchedField::Off, 0, 8, Some((4, 8)))
    );
    // Signed: a different width would change the value; poisoned.
    let (d, insn) = load_width(i32t, i64t);
    assert_eq!(
        d.outcome,
        Outcome::Poisoned(PoisonCause::SizeMismatch {
            local: 4,
            target: 8
        })
    );
    assert_eq!(insn.imm, 0xbad2310);
    assert!(d.poison_reason().unwrap().contains("size mismatch"));
    // Same size: only the offset moves.
    let (_, insn) = load_width(i32t, i32t);
    assert_eq!(insn, asm::ldx(size::W, 0, 1, 8));
}

#[test]
fn pointer_fields_follow_the_target_pointer_size() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let p = b.ptr(int);
    let m = b.strukt("m", 8, &[("p", p, 0, 0)]);
    let local = Local::finish(b, &[(FieldByteOffset, m, "0:0"), (FieldByteSize, m, "0:0")]);
    // A 32-bit kernel: `long` is 4 bytes, and so are its pointers.
    let mut t = B::new();
    t.int("long int", 4, true);
    let int = t.int("int", 4, true);
    let p = t.ptr(int);
    t.strukt("m", 8, &[("x", int, 0, 0), ("p", p, 32, 0)]);
    let mut insns = vec![asm::ldx(size::DW, 0, 1, 0), asm::mov64_imm(0, 8)];
    run(&local, &t.build(), &mut insns).unwrap();
    assert_eq!(insns, [asm::ldx(size::W, 0, 1, 4), asm::mov64_imm(0, 4)]);
}

#[test]
fn offsets_must_fit_a_load() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let m = b.strukt("m", 4, &[("v", int, 0, 0)]);
    let local = Local::finish(b, &[(FieldByteOffset, m, "0:0")]);
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("m", 40004, &[("v", int, 40000 * 8, 0)]);
    let target = t.build();
    let err = run(&local, &target, &mut [asm::ldx(size::W, 0, 1, 0)]).unwrap_err();
    assert_eq!(*err.problem, CoreProblem::OffsetTooLarge { value: 40000 });
    // An ALU immediate holds it.
    let mut insns = alu_insns(&[0]);
    run(&local, &target, &mut insns).unwrap();
    assert_eq!(insns[0].imm, 40000);
}

/// A target with two candidates for `foo`: `foo` and `foo___2`, `a` at the given bits.
fn two_candidates(a1: u32, a2: u32, size2: u32) -> std::sync::Arc<crate::btf::Btf> {
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("foo", 16, &[("a", int, a1, 0)]);
    t.strukt("foo___2", size2, &[("a", int, a2, 0)]);
    t.build()
}

#[test]
fn ambiguity_between_candidates() {
    // Identical duplicates (BTF dedup imperfections) agree: fine.
    let local = local_foo("foo", &[(FieldByteOffset, "0:0")]);
    let mut insns = alu_insns(&[0]);
    let d = run(&local, &two_candidates(64, 64, 16), &mut insns).unwrap();
    assert_eq!(d[0].target.as_ref().unwrap().matches, 2);
    assert_eq!(insns[0].imm, 8);
    // Different offsets: an error naming both.
    let err = run(&local, &two_candidates(64, 96, 16), &mut alu_insns(&[0])).unwrap_err();
    let CoreProblem::FieldOffsetAmbiguity { first, second, .. } = &*err.problem else {
        panic!("{err}")
    };
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("target [2] struct foo", "target [3] struct foo___2")
    );
    // Same offset, different type sizes: the type_size decision is ambiguous.
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let local = Local::finish(b, &[(CoreReloKind::TypeSize, foo, "0")]);
    let err = run(&local, &two_candidates(0, 0, 24), &mut alu_insns(&[4])).unwrap_err();
    assert!(
        matches!(*err.problem, CoreProblem::DecisionAmbiguity { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("16") && err.to_string().contains("24"),
        "{err}"
    );
}

#[test]
fn candidates_are_pruned_across_relocations() {
    // `foo` has `a`, `foo___2` has `b`. The first relocation (on `a`) keeps only `foo`;
    // the second (on `b`) then finds nothing — libbpf's cache behaves the same way.
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    let local = Local::finish(
        b,
        &[(FieldByteOffset, foo, "0:0"), (FieldByteOffset, foo, "0:1")],
    );
    let mut t = B::new();
    let int = t.int("int", 4, true);
    t.strukt("foo", 4, &[("a", int, 0, 0)]);
    t.strukt("foo___2", 8, &[("x", int, 0, 0), ("b", int, 32, 0)]);
    let target = t.build();
    let mut insns = alu_insns(&[0, 4]);
    let d = run(&local, &target, &mut insns).unwrap();
    assert_eq!(insns[0].imm, 0);
    assert!(d[1].is_poisoned());
    // In the other order, `b` resolves first (to `foo___2`) and `a` is then poisoned.
    let relos = vec![local.relos[1], local.relos[0]];
    let mut insns = alu_insns(&[0, 4]);
    let mut r = CoreRelocator::new(&local.btf, Targets::custom("t", target.clone()));
    let mut relos2 = relos.clone();
    relos2[0].insn_off = 8;
    relos2[1].insn_off = 0;
    let d = r.relocate_section("s", &relos2, &mut insns).unwrap();
    assert_eq!(insns[1].imm, 4);
    assert!(d[1].is_poisoned());
    // A record left out (its program is not loaded) does not prune: `a` resolves.
    let mut r = CoreRelocator::new(&local.btf, Targets::custom("t", target));
    let mut insns = alu_insns(&[0, 4]);
    let d = r
        .relocate_section_where("s", &relos2, &mut insns, |i| i == 0)
        .unwrap();
    assert_eq!((d.len(), d[0].record, d[0].insn), (1, 1, 0));
    assert!(!d[0].is_poisoned());
    assert_eq!(
        insns[1],
        alu_insns(&[4])[0],
        "the skipped record's instruction is untouched"
    );
}

#[test]
fn incompatible_field_types_do_not_match() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let foo = b.strukt("foo", 4, &[("a", int, 0, 0)]);
    let d = {
        let mut t = B::new();
        let int = t.int("int", 4, true);
        let p = t.ptr(int);
        t.strukt("foo", 8, &[("a", p, 0, 0)]);
        one(b, FieldByteOffset, foo, "0:0", 0, &t.build()).unwrap()
    };
    let Some(Unresolved::NoMatch(m)) = &d.unresolved else {
        panic!("{d}")
    };
    assert_eq!(
        m[0].reason,
        MissReason::FieldIncompatible {
            field: "a".into(),
            local_type: "int".into(),
            target_type: "int *".into()
        }
    );
    assert!(d.poison_reason().unwrap().contains("incompatible"), "{d}");
}
