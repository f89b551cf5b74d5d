//! Tests of the sanitization rewrites and the DATASEC fix-up; each re-parses the output.

use super::tests::{member, sample};
use super::*;

fn all_missing() -> MissingFeatures {
    MissingFeatures {
        func: true,
        global_func: true,
        datasec: true,
        qmark_datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    }
}

#[test]
fn nothing_missing_changes_nothing() {
    let mut b = sample();
    sanitize(&mut b, &MissingFeatures::default());
    assert_eq!(b, sample());
}

#[test]
fn every_rewrite_for_an_old_kernel() {
    let mut b = sample();
    sanitize(&mut b, &all_missing());
    let btf = b.build().unwrap();
    let kind = |id| btf.type_by_id(id).unwrap().kind();
    // Ids are kept; only the ENUM64 placeholder is added.
    assert_eq!(btf.last_id(), 21);
    let ph = btf.type_by_id(21).unwrap();
    assert_eq!(
        (ph.name().unwrap(), ph.size()),
        ("enum64_placeholder", Some(1))
    );

    let e = btf.type_by_id(6).unwrap();
    assert_eq!(
        e.enum_is_signed(),
        Some(false),
        "signed enums lose the kind flag"
    );
    let proto = btf.type_by_id(12).unwrap();
    assert_eq!(
        (proto.kind(), proto.size(), proto.vlen()),
        (BtfKind::Enum, Some(4), 2)
    );
    let f = btf.type_by_id(13).unwrap();
    assert_eq!(
        (f.kind(), f.name().unwrap(), f.ref_type()),
        (BtfKind::Typedef, "handler", Some(12))
    );
    let v = btf.type_by_id(14).unwrap();
    assert_eq!(
        (v.kind(), v.size(), v.int().unwrap().bits),
        (BtfKind::Int, Some(1), 8)
    );
    assert_eq!(v.name().unwrap(), "counter");
    let ds = btf.type_by_id(15).unwrap();
    assert_eq!((ds.kind(), ds.name().unwrap()), (BtfKind::Struct, "_data"));
    let m = ds.members().unwrap().next().unwrap();
    assert_eq!(
        (m.name().unwrap(), m.type_id, m.bit_offset),
        ("counter", 14, 0)
    );
    let fl = btf.type_by_id(16).unwrap();
    assert_eq!(
        (fl.kind(), fl.size(), fl.name().unwrap()),
        (BtfKind::Struct, Some(8), "")
    );
    assert_eq!(kind(17), BtfKind::Int);
    let tt = btf.type_by_id(18).unwrap();
    assert_eq!(
        (tt.kind(), tt.ref_type(), tt.name().unwrap()),
        (BtfKind::Const, Some(1), "")
    );
    let u = btf.type_by_id(19).unwrap();
    assert_eq!((u.kind(), u.size()), (BtfKind::Union, Some(8)));
    let m = u.members().unwrap().next().unwrap();
    assert_eq!((m.name().unwrap(), m.type_id), ("HUGE", 21));
}

#[test]
fn single_feature_rewrites() {
    let mut b = sample();
    sanitize(
        &mut b,
        &MissingFeatures {
            global_func: true,
            ..Default::default()
        },
    );
    let btf = b.build().unwrap();
    assert_eq!(
        btf.type_by_id(13).unwrap().func_linkage(),
        Some(FuncLinkage::Static)
    );
    assert_eq!(btf.type_by_id(12).unwrap().kind(), BtfKind::FuncProto);

    let mut b = sample();
    let id = b.add(TypeDef::named(
        "?.data.opt",
        TypeBody::Datasec {
            size: 4,
            vars: vec![],
        },
    ));
    sanitize(
        &mut b,
        &MissingFeatures {
            qmark_datasec: true,
            ..Default::default()
        },
    );
    assert_eq!(b.get(id).unwrap().name, "_.data.opt");
    assert_eq!(b.get(15).unwrap().name, ".data");
}

#[test]
fn datasec_fixup_takes_sizes_and_offsets_from_elf() {
    let mut b = sample();
    let v2 = b.add(TypeDef::named(
        "other",
        TypeBody::Var {
            ty: 1,
            linkage: VarLinkage::Global,
        },
    ));
    let st = b.add(TypeDef::named(
        "local",
        TypeBody::Var {
            ty: 1,
            linkage: VarLinkage::Static,
        },
    ));
    if let Some(TypeDef {
        body: TypeBody::Datasec { vars, .. },
        ..
    }) = b.get_mut(15)
    {
        vars.push(VarSecinfo {
            type_id: v2,
            offset: 0,
            size: 4,
        });
        vars.push(VarSecinfo {
            type_id: st,
            offset: 2,
            size: 4,
        });
    }
    let mut layout = DatasecLayout::default();
    layout.section_sizes.insert(".data".into(), 12);
    layout.symbols.insert(
        "counter".into(),
        VarSymbol {
            offset: 8,
            hidden: true,
        },
    );
    layout.symbols.insert(
        "other".into(),
        VarSymbol {
            offset: 4,
            hidden: false,
        },
    );
    let mut fixed = b.clone();
    fixup_datasecs(&mut fixed, &layout).unwrap();
    let btf = fixed.build().unwrap();
    let ds = btf.type_by_id(15).unwrap();
    assert_eq!(ds.size(), Some(12));
    let vars: Vec<_> = ds
        .datasec_vars()
        .unwrap()
        .map(|v| (v.type_id, v.offset))
        .collect();
    assert_eq!(
        vars,
        vec![(st, 2), (v2, 4), (14, 8)],
        "sorted by offset, static kept"
    );
    assert_eq!(
        btf.type_by_id(14).unwrap().var_linkage(),
        Some(VarLinkage::Static)
    );
    assert_eq!(
        btf.type_by_id(v2).unwrap().var_linkage(),
        Some(VarLinkage::Global)
    );

    let mut no_size = b.clone();
    let err = fixup_datasecs(&mut no_size, &DatasecLayout::default()).unwrap_err();
    assert!(matches!(err, BtfError::Datasec { ref section, .. } if section == ".data"));
    let mut no_sym = b.clone();
    layout.symbols.remove("other");
    let err = fixup_datasecs(&mut no_sym, &layout).unwrap_err();
    assert!(err.to_string().contains("'other'"), "{err}");
}

#[test]
fn kconfig_datasec_is_only_sorted() {
    let mut b = BtfBuilder::new();
    b.add(super::tests::int("int", 4, true));
    for n in ["A", "B"] {
        b.add(TypeDef::named(
            n,
            TypeBody::Var {
                ty: 1,
                linkage: VarLinkage::Extern,
            },
        ));
    }
    b.add(TypeDef::named(
        ".kconfig",
        TypeBody::Datasec {
            size: 8,
            vars: vec![
                VarSecinfo {
                    type_id: 2,
                    offset: 4,
                    size: 4,
                },
                VarSecinfo {
                    type_id: 3,
                    offset: 0,
                    size: 4,
                },
            ],
        },
    ));
    fixup_datasecs(&mut b, &DatasecLayout::default()).unwrap();
    let TypeBody::Datasec { vars, size } = &b.get(4).unwrap().body else {
        panic!("still a DATASEC")
    };
    assert_eq!((*size, vars[0].type_id, vars[1].type_id), (8, 3, 2));
}

#[test]
fn hidden_subprogram_becomes_static() {
    let mut b = sample();
    assert!(set_func_linkage(&mut b, "handler", FuncLinkage::Static));
    assert!(!set_func_linkage(&mut b, "nope", FuncLinkage::Static));
    let btf = b.build().unwrap();
    assert_eq!(
        btf.type_by_id(13).unwrap().func_linkage(),
        Some(FuncLinkage::Static)
    );
}

#[test]
fn writer_rejects_what_it_cannot_encode() {
    let mut b = BtfBuilder::new();
    b.add(TypeDef::named(
        "s",
        TypeBody::Struct {
            size: 4,
            members: vec![member("x", 0, 1 << 24, 1)],
        },
    ));
    assert!(matches!(b.to_bytes(), Err(BtfError::Encode { id: 1, .. })));
    let mut b = BtfBuilder::new();
    b.add(TypeDef::named("a\0b", TypeBody::Fwd { union: false }));
    assert!(b.to_bytes().is_err());
}
