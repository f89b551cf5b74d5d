//! `bpf_core_types_match`, `bpf_core_types_are_compat` and `bpf_core_fields_are_compat`
//! rule by rule, and their limits on hostile BTF.

use crate::btf::CoreReloKind::*;

use super::layout::Budget;
use super::test_btf::{one, B};
use super::types_compat::{fields_are_compat, types_are_compat};
use super::types_match::types_match;

/// Build two BTFs with the same closure-defined helpers, returning (local, target, ids).
fn pair(
    local: impl FnOnce(&mut B) -> u32,
    target: impl FnOnce(&mut B) -> u32,
) -> (
    std::sync::Arc<crate::btf::Btf>,
    u32,
    std::sync::Arc<crate::btf::Btf>,
    u32,
) {
    let (mut l, mut t) = (B::new(), B::new());
    let lid = local(&mut l);
    let tid = target(&mut t);
    (l.build(), lid, t.build(), tid)
}

fn matches(local: impl FnOnce(&mut B) -> u32, target: impl FnOnce(&mut B) -> u32) -> bool {
    let (l, lid, t, tid) = pair(local, target);
    types_match(&l, lid, &t, tid, &mut Budget::new()).unwrap()
}

fn compat(local: impl FnOnce(&mut B) -> u32, target: impl FnOnce(&mut B) -> u32) -> bool {
    let (l, lid, t, tid) = pair(local, target);
    types_are_compat(&l, lid, &t, tid, &mut Budget::new()).unwrap()
}

fn fields(local: impl FnOnce(&mut B) -> u32, target: impl FnOnce(&mut B) -> u32) -> bool {
    let (l, lid, t, tid) = pair(local, target);
    fields_are_compat(&l, lid, &t, tid, &mut Budget::new()).unwrap()
}

fn s_ab(b: &mut B, name: &str, a_size: u32, signed: bool) -> u32 {
    let a = b.int("a_t", a_size, signed);
    let int = b.int("int", 4, true);
    b.strukt(name, 16, &[("a", a, 0, 0), ("b", int, 64, 0)])
}

#[test]
fn type_match_structs() {
    // Members by name, in any order; extra target members are fine.
    assert!(matches(
        |b| s_ab(b, "s", 4, true),
        |b| {
            let int = b.int("int", 4, true);
            let a = b.int("a_t", 4, true);
            b.strukt(
                "s",
                24,
                &[("c", int, 0, 0), ("b", int, 32, 0), ("a", a, 64, 0)],
            )
        }
    ));
    // Integer size and signedness matter; names of the integer types too.
    assert!(!matches(
        |b| s_ab(b, "s", 4, true),
        |b| s_ab(b, "s", 8, true)
    ));
    assert!(!matches(
        |b| s_ab(b, "s", 4, true),
        |b| s_ab(b, "s", 4, false)
    ));
    // A missing local member fails; more local members than target ones too.
    assert!(!matches(
        |b| s_ab(b, "s", 4, true),
        |b| {
            let a = b.int("a_t", 4, true);
            b.strukt("s", 4, &[("a", a, 0, 0)])
        }
    ));
    // Struct vs union.
    assert!(!matches(
        |b| s_ab(b, "s", 4, true),
        |b| {
            let a = b.int("a_t", 4, true);
            let int = b.int("int", 4, true);
            b.union("s", 8, &[("a", a, 0, 0), ("b", int, 0, 0)])
        }
    ));
    // Flavours are ignored in names.
    assert!(matches(
        |b| s_ab(b, "s___mine", 4, true),
        |b| s_ab(b, "s", 4, true)
    ));
}

#[test]
fn type_match_pointers_and_forward_declarations() {
    // Behind a pointer, a struct matches a forward declaration of a struct (not a union)
    // and only names and kinds are compared.
    let with_ptr_to = |b: &mut B, pointee: u32| {
        let p = b.ptr(pointee);
        b.strukt("holder", 8, &[("p", p, 0, 0)])
    };
    assert!(matches(
        |b| {
            let inner = s_ab(b, "inner", 4, true);
            with_ptr_to(b, inner)
        },
        |b| {
            let f = b.fwd("inner", false);
            with_ptr_to(b, f)
        }
    ));
    assert!(!matches(
        |b| {
            let inner = s_ab(b, "inner", 4, true);
            with_ptr_to(b, inner)
        },
        |b| {
            let f = b.fwd("inner", true);
            with_ptr_to(b, f)
        }
    ));
    assert!(matches(
        |b| {
            let inner = s_ab(b, "inner", 4, true);
            with_ptr_to(b, inner)
        },
        |b| {
            let inner = s_ab(b, "inner", 8, false);
            with_ptr_to(b, inner)
        }
    ));
    // Not behind a pointer, a struct never matches a forward declaration.
    assert!(!matches(
        |b| s_ab(b, "inner", 4, true),
        |b| b.fwd("inner", false)
    ));
    assert!(matches(|b| b.fwd("f", true), |b| b.fwd("f", true)));
}

#[test]
fn type_match_enums_arrays_protos_and_modifiers() {
    let e = |b: &mut B, size: u32, names: &[&str]| {
        let vals: Vec<(&str, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u64 * 9))
            .collect();
        b.enum32("e", size, false, &vals)
    };
    assert!(matches(
        |b| e(b, 4, &["A", "B"]),
        |b| e(b, 4, &["B", "C", "A"])
    ));
    assert!(!matches(
        |b| e(b, 4, &["A", "D"]),
        |b| e(b, 4, &["B", "C", "A"])
    ));
    assert!(!matches(|b| e(b, 4, &["A"]), |b| e(b, 8, &["A"])));
    assert!(matches(
        |b| e(b, 8, &["A"]),
        |b| b.enum64("e", false, &[("A", 1 << 33)])
    ));
    // Arrays need the same length.
    let arr = |b: &mut B, n: u32| {
        let int = b.int("int", 4, true);
        let a = b.array(int, n);
        b.strukt("s", 4 * n, &[("a", a, 0, 0)])
    };
    assert!(matches(|b| arr(b, 4), |b| arr(b, 4)));
    assert!(!matches(|b| arr(b, 4), |b| arr(b, 5)));
    // Function prototypes: arity and types.
    let proto = |b: &mut B, params: &[u32]| {
        let int = b.int("int", 4, true);
        let long = b.int("long", 8, true);
        let ps: Vec<u32> = params
            .iter()
            .map(|&p| if p == 4 { int } else { long })
            .collect();
        let fp = b.func_proto(int, &ps);
        let p = b.ptr(fp);
        b.strukt("ops", 8, &[("f", p, 0, 0)])
    };
    assert!(matches(|b| proto(b, &[4, 8]), |b| proto(b, &[4, 8])));
    assert!(!matches(|b| proto(b, &[4, 8]), |b| proto(b, &[4])));
    assert!(!matches(|b| proto(b, &[4, 8]), |b| proto(b, &[4, 4])));
    // Modifiers and typedefs are stripped everywhere.
    assert!(matches(
        |b| {
            let int = b.int("int", 4, true);
            let c = b.konst(int);
            let t = b.typedef("myint", c);
            b.strukt("s", 4, &[("a", t, 0, 0)])
        },
        |b| {
            let int = b.int("int", 4, true);
            b.strukt("s", 4, &[("a", int, 0, 0)])
        }
    ));
    // Floats never match (libbpf has no rule for them).
    assert!(!matches(|b| b.float("double", 8), |b| b.float("double", 8)));
}

#[test]
fn type_compat_rules() {
    // Names below the root and sizes are ignored; kinds must agree.
    assert!(compat(
        |b| s_ab(b, "s", 4, true),
        |b| b.strukt("s", 99, &[])
    ));
    assert!(!compat(|b| s_ab(b, "s", 4, true), |b| b.union("s", 4, &[])));
    let ptr_to_int = |b: &mut B, size: u32| {
        let i = b.int("i", size, true);
        b.ptr(i)
    };
    assert!(compat(|b| ptr_to_int(b, 4), |b| ptr_to_int(b, 8)));
    assert!(!compat(
        |b| ptr_to_int(b, 4),
        |b| {
            let s = b.strukt("x", 4, &[]);
            b.ptr(s)
        }
    ));
    // Legacy bitfield-encoded ints are rejected.
    assert!(!compat(
        |b| b.int("int", 4, true),
        |b| {
            let id = b.int("int", 4, true);
            if let Some(crate::btf::TypeDef {
                body: crate::btf::TypeBody::Int { info, .. },
                ..
            }) = b.b.get_mut(id)
            {
                info.offset = 3;
            }
            id
        }
    ));
    let fp = |b: &mut B, n: usize| {
        let int = b.int("int", 4, true);
        b.func_proto(int, &vec![int; n])
    };
    assert!(compat(|b| fp(b, 2), |b| fp(b, 2)));
    assert!(!compat(|b| fp(b, 2), |b| fp(b, 3)));
}

#[test]
fn field_compat_rules() {
    assert!(fields(|b| b.strukt("a", 4, &[]), |b| b.union("b", 4, &[])));
    assert!(fields(
        |b| b.int("int", 4, true),
        |b| b.int("long", 8, false)
    ));
    assert!(fields(|b| b.float("float", 4), |b| b.float("double", 8)));
    assert!(!fields(|b| b.int("int", 4, true), |b| b.float("float", 4)));
    assert!(fields(
        |b| b.enum32("e___x", 4, false, &[]),
        |b| b.enum64("e", false, &[])
    ));
    assert!(fields(
        |b| b.enum32("", 4, false, &[]),
        |b| b.enum32("other", 4, false, &[])
    ));
    assert!(!fields(
        |b| b.enum32("e", 4, false, &[]),
        |b| b.enum32("f", 4, false, &[])
    ));
    let arr_of = |b: &mut B, float: bool| {
        let e = if float {
            b.float("f", 4)
        } else {
            b.int("i", 4, true)
        };
        b.array(e, 3)
    };
    assert!(fields(|b| arr_of(b, false), |b| arr_of(b, false)));
    assert!(!fields(|b| arr_of(b, false), |b| arr_of(b, true)));
}

#[test]
fn type_matches_relocation() {
    let mut b = B::new();
    let root = s_ab(&mut b, "s___v1", 4, true);
    let mut t = B::new();
    s_ab(&mut t, "s", 4, true);
    s_ab(&mut t, "s", 8, true);
    let d = one(b, TypeMatches, root, "0", 1, &t.build()).unwrap();
    assert_eq!(
        d.new_value, 1,
        "the first candidate matches; the second is simply no match"
    );
    assert_eq!(d.target.as_ref().unwrap().matches, 1);
}

#[test]
fn hostile_nesting_is_bounded() {
    // A chain of 40 structs, each holding a pointer to the next: beyond the depth limit.
    let deep = |b: &mut B, n: u32| {
        let first = b.placeholder();
        let mut prev = first;
        for i in 0..n {
            let next = b.placeholder();
            let p = b.ptr(next);
            b.set_struct(prev, &format!("s{i}"), 8, &[("p", p, 0, 0)]);
            prev = next;
        }
        b.set_struct(prev, "end", 0, &[]);
        first
    };
    let (l, lid, t, tid) = pair(|b| deep(b, 40), |b| deep(b, 40));
    // Pointers stop the struct recursion in types_match, so this one is shallow.
    assert!(types_match(&l, lid, &t, tid, &mut Budget::new()).unwrap());
    // Nested arrays of arrays 40 deep exceed the 32-step chain.
    let nest = |b: &mut B| {
        let mut id = b.int("int", 4, true);
        for _ in 0..40 {
            id = b.array(id, 1);
        }
        b.strukt("s", 4, &[("a", id, 0, 0)])
    };
    let (l, lid, t, tid) = pair(nest, nest);
    assert!(types_match(&l, lid, &t, tid, &mut Budget::new()).is_err());
    assert!(types_are_compat(&l, lid, &t, tid, &mut Budget::new()).is_ok_and(|c| c));
    // A DAG of anonymous structs, each holding the next twice: the step budget stops it.
    let dag = |b: &mut B| {
        let int = b.int("int", 4, true);
        let mut id = b.strukt("", 4, &[("leaf", int, 0, 0)]);
        for _ in 0..60 {
            id = b.strukt("", 8, &[("", id, 0, 0), ("", id, 0, 0)]);
        }
        b.strukt("top", 8, &[("", id, 0, 0)])
    };
    let mut b = B::new();
    let top = dag(&mut b);
    let mut t = B::new();
    dag(&mut t);
    let root = top;
    // `missing` is nowhere: the search would visit 2^60 members without a budget.
    let int = b.int("int", 4, true);
    let local_top = b.strukt("top", 4, &[("missing", int, 0, 0)]);
    let _ = root;
    let err = one(b, FieldByteOffset, local_top, "0:0", 0, &t.build()).unwrap_err();
    assert!(
        matches!(*err.problem, super::CoreProblem::TooComplex(_)),
        "{err}"
    );
}

#[test]
fn type_mismatch_is_explained() {
    let why = |l: fn(&mut B) -> u32, t: fn(&mut B) -> u32| {
        let (lb, lid, tb, tid) = pair(l, t);
        super::types_match::explain_mismatch(&lb, lid, &tb, tid)
    };
    assert_eq!(
        why(|b| s_ab(b, "s", 4, true), |b| s_ab(b, "s", 8, true)),
        "member `a` is a_t (signed 4 bytes) locally but a_t (signed 8 bytes) in the target"
    );
    assert_eq!(
        why(
            |b| s_ab(b, "s", 4, true),
            |b| {
                let a = b.int("a_t", 4, true);
                b.strukt("s", 4, &[("a", a, 0, 0)])
            }
        ),
        "member `b` is missing"
    );
    assert_eq!(
        why(
            |b| b.enum32("e", 4, false, &[("A", 0)]),
            |b| b.enum32("e", 4, false, &[("B", 0)])
        ),
        "enumerator `A` is missing"
    );
    assert_eq!(
        why(|b| b.strukt("s", 4, &[]), |b| b.union("s", 4, &[])),
        "STRUCT locally, UNION in the target"
    );
}
