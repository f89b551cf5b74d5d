//! Tests of parsing, lookups and the writer on hand-built BTF, plus the real vmlinux.

use std::sync::Arc;

use super::*;

pub(crate) fn int(name: &str, size: u32, signed: bool) -> TypeDef {
    TypeDef::named(
        name,
        TypeBody::Int {
            size,
            info: IntInfo {
                signed,
                char: false,
                bool: false,
                offset: 0,
                bits: (size * 8) as u8,
            },
        },
    )
}

pub(crate) fn member(name: &str, ty: u32, bit_offset: u32, bitfield_size: u32) -> MemberDef {
    MemberDef {
        name: name.into(),
        ty,
        bit_offset,
        bitfield_size,
    }
}

/// A small BTF with every kind. Ids are listed in comments.
pub(crate) fn sample() -> BtfBuilder {
    let mut b = BtfBuilder::new();
    let int = b.add(int("int", 4, true)); // 1
    let ptr = b.add(TypeDef::anon(TypeBody::Ptr { ty: 4 })); // 2 -> struct task
    let arr = b.add(TypeDef::anon(TypeBody::Array {
        elem: 1,
        index: 1,
        nelems: 16,
    })); // 3
    let anon = 5;
    let task = b.add(TypeDef::named(
        "task",
        TypeBody::Struct {
            size: 96,
            members: vec![
                member("state", int, 0, 0),
                member("", anon, 32, 0),
                member("comm", arr, 128, 0),
                member("flags", int, 640, 3),
                member("next", ptr, 704, 0),
            ],
        },
    )); // 4
    assert_eq!(task, 4);
    b.add(TypeDef::anon(TypeBody::Union {
        size: 8,
        members: vec![member("pid", int, 0, 0), member("tgid", int, 32, 0)],
    })); // 5: anonymous union with pid
    b.add(TypeDef::named(
        "e",
        TypeBody::Enum {
            size: 4,
            signed: true,
            values: vec![
                EnumValueDef {
                    name: "NEG".into(),
                    value: (-1i64) as u64,
                },
                EnumValueDef {
                    name: "ONE".into(),
                    value: 1,
                },
            ],
        },
    )); // 6
    b.add(TypeDef::named("fwd_u", TypeBody::Fwd { union: true })); // 7
    b.add(TypeDef::named("task_t", TypeBody::Typedef { ty: 4 })); // 8
    b.add(TypeDef::anon(TypeBody::Volatile { ty: 8 })); // 9
    b.add(TypeDef::anon(TypeBody::Const { ty: 9 })); // 10
    b.add(TypeDef::anon(TypeBody::Restrict { ty: 2 })); // 11
    b.add(TypeDef::anon(TypeBody::FuncProto {
        ret: 1,
        params: vec![
            ParamDef {
                name: "t".into(),
                ty: 2,
            },
            ParamDef {
                name: String::new(),
                ty: 0,
            },
        ],
    })); // 12
    b.add(TypeDef::named(
        "handler",
        TypeBody::Func {
            proto: 12,
            linkage: FuncLinkage::Global,
        },
    )); // 13
    b.add(TypeDef::named(
        "counter",
        TypeBody::Var {
            ty: 1,
            linkage: VarLinkage::Global,
        },
    )); // 14
    b.add(TypeDef::named(
        ".data",
        TypeBody::Datasec {
            size: 0,
            vars: vec![VarSecinfo {
                type_id: 14,
                offset: 0,
                size: 4,
            }],
        },
    )); // 15
    b.add(TypeDef::named("double", TypeBody::Float { size: 8 })); // 16
    b.add(TypeDef::named(
        "tag",
        TypeBody::DeclTag {
            ty: 4,
            component_idx: 2,
            attr: false,
        },
    )); // 17
    b.add(TypeDef::named(
        "user",
        TypeBody::TypeTag { ty: 1, attr: false },
    )); // 18
    b.add(TypeDef::named(
        "big",
        TypeBody::Enum64 {
            size: 8,
            signed: false,
            values: vec![EnumValueDef {
                name: "HUGE".into(),
                value: 1 << 40,
            }],
        },
    )); // 19
    b.add(TypeDef::named(
        "task___v2",
        TypeBody::Struct {
            size: 4,
            members: vec![member("state", int, 0, 0)],
        },
    )); // 20
    b
}

fn sample_btf() -> Btf {
    sample().build().expect("sample builds")
}

/// Byte-swap a little-endian BTF blob into big-endian (the header's and type section's words;
/// strings are bytes).
pub(crate) fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut out = le.to_vec();
    out.swap(0, 1);
    let hdr_len = u32::from_le_bytes(le[4..8].try_into().unwrap()) as usize;
    let word = |i: usize| u32::from_le_bytes(le[4 + 4 * i..8 + 4 * i].try_into().unwrap());
    let (type_off, type_len) = (word(1) as usize, word(2) as usize);
    let swap = |out: &mut Vec<u8>, range: std::ops::Range<usize>| {
        for w in out[range].chunks_exact_mut(4) {
            w.reverse();
        }
    };
    swap(&mut out, 4..hdr_len);
    swap(&mut out, hdr_len + type_off..hdr_len + type_off + type_len);
    out
}

#[test]
fn every_kind_decodes() {
    let btf = sample_btf();
    assert_eq!(btf.last_id(), 20);
    assert_eq!(btf.type_count(), 21);
    let v = btf.type_by_id(0).unwrap();
    assert_eq!(v.kind(), BtfKind::Void);

    let t = btf.type_by_id(1).unwrap();
    assert_eq!(
        (t.kind(), t.name().unwrap(), t.size()),
        (BtfKind::Int, "int", Some(4))
    );
    let i = t.int().unwrap();
    assert!(i.signed && i.bits == 32 && i.offset == 0);

    let a = btf.type_by_id(3).unwrap().array().unwrap();
    assert_eq!((a.elem_type, a.index_type, a.nelems), (1, 1, 16));

    let task = btf.type_by_id(4).unwrap();
    assert_eq!(task.kind(), BtfKind::Struct);
    assert!(task.kflag(), "a bitfield sets the kind flag");
    let ms: Vec<_> = task.members().unwrap().collect();
    assert_eq!(ms.len(), 5);
    assert_eq!(ms[3].name().unwrap(), "flags");
    assert_eq!((ms[3].bit_offset, ms[3].bitfield_size), (640, 3));
    assert_eq!((ms[4].bit_offset, ms[4].bitfield_size), (704, 0));
    assert_eq!(ms[1].name().unwrap(), "");

    let e = btf.type_by_id(6).unwrap();
    assert_eq!(e.enum_is_signed(), Some(true));
    let vals: Vec<_> = e.enum_values().unwrap().collect();
    assert_eq!(vals[0].value_i64(), -1);
    assert_eq!(vals[1].value, 1);
    assert_eq!(vals[0].name().unwrap(), "NEG");

    assert_eq!(btf.type_by_id(7).unwrap().fwd_is_union(), Some(true));
    assert_eq!(btf.type_by_id(8).unwrap().ref_type(), Some(4));
    let proto = btf.type_by_id(12).unwrap();
    assert!(proto.is_variadic());
    assert_eq!(proto.params().unwrap().get(0).unwrap().name().unwrap(), "t");
    assert_eq!(
        btf.type_by_id(13).unwrap().func_linkage(),
        Some(FuncLinkage::Global)
    );
    assert_eq!(
        btf.type_by_id(14).unwrap().var_linkage(),
        Some(VarLinkage::Global)
    );
    let ds: Vec<_> = btf
        .type_by_id(15)
        .unwrap()
        .datasec_vars()
        .unwrap()
        .collect();
    assert_eq!(ds[0].type_id, 14);
    assert_eq!(btf.type_by_id(16).unwrap().size(), Some(8));
    assert_eq!(
        btf.type_by_id(17).unwrap().decl_tag_component_idx(),
        Some(2)
    );
    assert_eq!(btf.type_by_id(18).unwrap().kind(), BtfKind::TypeTag);
    let big = btf.type_by_id(19).unwrap();
    assert_eq!(big.enum_values().unwrap().next().unwrap().value, 1 << 40);
    assert!(matches!(
        btf.type_by_id(21),
        Err(BtfError::TypeIdOutOfRange { id: 21, last: 20 })
    ));
}

#[test]
fn writer_round_trips() {
    let b = sample();
    let btf = b.build().unwrap();
    let again = BtfBuilder::from_btf(&btf).unwrap();
    assert_eq!(again, b);
    assert_eq!(again.to_bytes().unwrap(), b.to_bytes().unwrap());
}

#[test]
fn name_lookups() {
    let btf = sample_btf();
    assert_eq!(btf.id_by_name_kind("task", BtfKind::Struct), Some(4));
    assert_eq!(btf.id_by_name_kind("task", BtfKind::Union), None);
    assert_eq!(btf.id_by_name_kind("task___v2", BtfKind::Struct), Some(20));
    assert_eq!(
        btf.ids_by_essential_name("task___v1", BtfKind::Struct),
        vec![4, 20]
    );
    assert_eq!(btf.ids_by_essential_name("big", BtfKind::Enum), vec![19]);
    assert_eq!(btf.ids_by_essential_name("e___x", BtfKind::Enum64), vec![6]);
    assert_eq!(btf.ids_by_name("int"), vec![1]);
    assert!(btf.ids_by_name("nope").is_empty());
    assert!(btf.ids_by_essential_name("", BtfKind::Struct).is_empty());
}

#[test]
fn resolving_sizes_members_and_names() {
    let btf = sample_btf();
    assert_eq!(btf.skip_mods(10).unwrap().id(), 8);
    assert_eq!(btf.skip_mods_and_typedefs(10).unwrap().id(), 4);
    assert_eq!(btf.type_size(3).unwrap(), 64);
    assert_eq!(btf.type_size(10).unwrap(), 96);
    assert_eq!(btf.type_size(2).unwrap(), 8);
    assert_eq!(btf.type_size(14).unwrap(), 4);
    assert!(btf.type_size(12).is_err());
    assert_eq!(btf.type_align(4).unwrap(), 8);
    assert_eq!(btf.type_align(3).unwrap(), 4);
    let m = btf.find_member(10, "pid").unwrap().unwrap();
    assert_eq!(m.indices, vec![1, 0]);
    assert_eq!(m.bit_offset, 32);
    let m = btf.find_member(4, "tgid").unwrap().unwrap();
    assert_eq!((m.bit_offset, m.type_id), (64, 1));
    assert_eq!(btf.find_member(4, "nope").unwrap(), None);
    assert!(btf.find_member(1, "x").is_err());

    assert_eq!(btf.type_name(2).unwrap(), "struct task *");
    assert_eq!(btf.type_name(3).unwrap(), "int[16]");
    assert_eq!(btf.type_name(10).unwrap(), "const volatile task_t");
    assert_eq!(btf.type_name(11).unwrap(), "struct task *restrict");
    assert_eq!(btf.type_name(12).unwrap(), "int (struct task *, ...)");
    assert_eq!(btf.type_name(5).unwrap(), "union {...}");
    assert_eq!(btf.declaration(3, "comm").unwrap(), "int comm[16]");
    assert_eq!(
        btf.declaration(13, "").unwrap(),
        "int handler(struct task *, ...)"
    );
}

#[test]
fn packed_struct_alignment() {
    let mut b = BtfBuilder::new();
    b.add(int("int", 4, true));
    b.add(int("char", 1, false));
    b.add(TypeDef::named(
        "p",
        TypeBody::Struct {
            size: 5,
            members: vec![member("c", 2, 0, 0), member("i", 1, 8, 0)],
        },
    ));
    b.add(TypeDef::named(
        "q",
        TypeBody::Struct {
            size: 5,
            members: vec![member("i", 1, 0, 0), member("c", 2, 32, 0)],
        },
    ));
    let btf = b.build().unwrap();
    assert_eq!(btf.type_align(3).unwrap(), 1);
    assert_eq!(btf.type_align(4).unwrap(), 1, "size not a multiple of 4");
}

#[test]
fn big_endian_reads_the_same() {
    let le = sample().to_bytes().unwrap();
    let be = Btf::parse(to_big_endian(&le)).unwrap();
    let le = Btf::parse(le).unwrap();
    assert_eq!(be.endian(), Endian::Big);
    let mut a = String::new();
    let mut b = String::new();
    dump_raw(&le, &mut a).unwrap();
    dump_raw(&be, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(BtfBuilder::from_btf(&be).unwrap(), sample());
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base = Arc::new(sample_btf());
    let mut split = BtfBuilder::new();
    // Ids continue after the base's 20: 21 is a struct using base types and names.
    let mut ids = Vec::new();
    for t in [
        TypeDef::named(
            "mod_struct",
            TypeBody::Struct {
                size: 16,
                members: vec![member("state", 1, 0, 0), member("t", 22, 64, 0)],
            },
        ),
        TypeDef::anon(TypeBody::Ptr { ty: 4 }),
        TypeDef::named(
            "task",
            TypeBody::Struct {
                size: 0,
                members: vec![],
            },
        ),
    ] {
        ids.push(split.add(t));
    }
    let bytes = split.to_split_bytes(&base).unwrap();
    let btf = Btf::parse_split(bytes, base.clone()).unwrap();
    assert_eq!(btf.first_id(), 21);
    assert_eq!(btf.last_id(), 23);
    assert_eq!(btf.type_by_id(4).unwrap().name().unwrap(), "task");
    let s = btf.type_by_id(21).unwrap();
    assert_eq!(s.name().unwrap(), "mod_struct");
    let m: Vec<_> = s.members().unwrap().collect();
    assert!(
        m[0].name_off < base.strings_end(),
        "reuses the base's string"
    );
    assert_eq!(m[0].name().unwrap(), "state");
    assert_eq!(btf.type_name(22).unwrap(), "struct task *");
    assert_eq!(btf.id_by_name_kind("mod_struct", BtfKind::Struct), Some(21));
    assert_eq!(
        btf.ids_by_essential_name("task", BtfKind::Struct),
        vec![4, 20, 23]
    );
    assert_eq!(btf.types().count(), 23);
    assert_eq!(btf.local_types().count(), 3);
    // A split blob parsed as base BTF fails: its strings do not start with NUL.
    let bytes = split.to_split_bytes(&base).unwrap();
    assert!(Btf::parse(bytes).is_err());
}

#[test]
fn malformed_input_is_a_typed_error() {
    let good = sample().to_bytes().unwrap();
    assert!(matches!(
        Btf::parse(good[..10].to_vec()),
        Err(BtfError::TruncatedHeader { .. })
    ));
    assert!(matches!(
        Btf::parse(vec![0u8; 40]),
        Err(BtfError::BadMagic { .. })
    ));
    let mut v = good.clone();
    v[2] = 2;
    assert!(matches!(Btf::parse(v), Err(BtfError::BadVersion { .. })));
    let mut v = good.clone();
    v[4..8].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(Btf::parse(v), Err(BtfError::BadHeaderLen { .. })));
    // String section past the end.
    let mut v = good.clone();
    v[20..24].copy_from_slice(&100_000u32.to_le_bytes());
    assert!(matches!(
        Btf::parse(v),
        Err(BtfError::BadSection {
            section: "string",
            ..
        })
    ));
    // Type section overlapping strings.
    let mut v = good.clone();
    let tl = u32::from_le_bytes(v[12..16].try_into().unwrap());
    v[12..16].copy_from_slice(&(tl + 4).to_le_bytes());
    assert!(matches!(Btf::parse(v), Err(BtfError::BadSection { .. })));
    // Strings not NUL-terminated.
    let mut v = good.clone();
    *v.last_mut().unwrap() = b'x';
    assert!(matches!(Btf::parse(v), Err(BtfError::BadStringSection(_))));
    // vlen lie: the struct task (id 4) claims 200 members.
    let btf = Btf::parse(good.clone()).unwrap();
    let off = 24 + btf.local_offset(3).unwrap() as usize;
    let mut v = good.clone();
    v[off + 4..off + 6].copy_from_slice(&200u16.to_le_bytes());
    match Btf::parse(v) {
        Err(BtfError::TruncatedType { id: 4, .. }) => {}
        other => panic!("expected truncated type 4, got {other:?}"),
    }
    // Unknown kind.
    let mut v = good.clone();
    v[off + 7] = 25;
    assert!(matches!(
        Btf::parse(v),
        Err(BtfError::UnknownKind {
            id: 4,
            kind: 25,
            ..
        })
    ));
    // Bad name offset is an error on access, not at parse.
    let mut v = good.clone();
    v[off..off + 4].copy_from_slice(&99_999u32.to_le_bytes());
    let btf = Btf::parse(v).unwrap();
    assert!(matches!(
        btf.type_by_id(4).unwrap().name(),
        Err(BtfError::StringOutOfRange { offset: 99_999, .. })
    ));
    assert_eq!(btf.id_by_name_kind("task", BtfKind::Struct), None);
}

#[test]
fn type_loops_are_errors() {
    let mut b = BtfBuilder::new();
    b.add(TypeDef::named("a", TypeBody::Typedef { ty: 2 }));
    b.add(TypeDef::anon(TypeBody::Const { ty: 1 }));
    b.add(TypeDef::anon(TypeBody::Array {
        elem: 3,
        index: 0,
        nelems: 2,
    }));
    b.add(TypeDef::named(
        "s",
        TypeBody::Struct {
            size: 4,
            members: vec![member("", 4, 0, 0)],
        },
    ));
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 5 }));
    let btf = b.build().unwrap();
    assert!(matches!(
        btf.skip_mods_and_typedefs(1),
        Err(BtfError::TypeLoop { id: 1, .. })
    ));
    assert!(matches!(btf.type_size(1), Err(BtfError::TypeLoop { .. })));
    assert!(matches!(
        btf.type_size(3),
        Err(BtfError::TypeLoop { .. } | BtfError::BadSize { .. })
    ));
    assert!(matches!(btf.type_align(4), Err(BtfError::TypeLoop { .. })));
    assert!(btf.find_member(4, "x").is_err());
    assert!(matches!(btf.type_name(5), Err(BtfError::TypeLoop { .. })));
    assert_eq!(btf.type_name(1).unwrap(), "a", "a typedef renders by name");
    let mut out = String::new();
    assert!(dump_c(&btf, &DumpCOptions::default(), &mut out).is_err() || out.is_empty());
}

/// Exercise every accessor of every type; returns a checksum so nothing is optimised away.
pub(crate) fn touch_everything(btf: &Btf) -> usize {
    let mut n = std::num::Wrapping(0usize);
    for t in btf.types() {
        n += std::num::Wrapping(t.name().map_or(1, str::len));
        n += std::num::Wrapping(btf.type_size(t.id()).unwrap_or(0) as usize);
        n += std::num::Wrapping(btf.type_align(t.id()).unwrap_or(0) as usize);
        n += std::num::Wrapping(btf.type_name(t.id()).map_or(0, |s| s.len()));
        n += std::num::Wrapping(
            btf.skip_mods_and_typedefs(t.id())
                .map_or(0, |t| t.id() as usize),
        );
        for m in t.members().into_iter().flatten() {
            n += std::num::Wrapping(m.name().map_or(0, str::len));
            n += std::num::Wrapping(m.bit_offset as usize);
            let _ = btf.find_member(t.id(), m.name().unwrap_or("x"));
        }
        for v in t.enum_values().into_iter().flatten() {
            n += std::num::Wrapping(v.name().map_or(0, str::len));
            n += std::num::Wrapping(v.value as usize);
        }
        for p in t.params().into_iter().flatten() {
            n += std::num::Wrapping(p.name().map_or(0, str::len));
        }
        n += std::num::Wrapping(t.datasec_vars().into_iter().flatten().count());
        let _ = btf.ids_by_essential_name(t.name().unwrap_or(""), t.kind());
    }
    let mut s = String::new();
    let _ = dump_raw(btf, &mut s);
    let _ = dump_c(btf, &DumpCOptions::default(), &mut s);
    if let Ok(b) = BtfBuilder::from_btf(btf) {
        let mut b2 = b.clone();
        sanitize(
            &mut b2,
            &MissingFeatures {
                func: true,
                datasec: true,
                float: true,
                decl_tag: true,
                type_tag: true,
                enum64: true,
                ..Default::default()
            },
        );
        n += std::num::Wrapping(b2.to_bytes().map_or(0, |v| v.len()));
    }
    (n + std::num::Wrapping(s.len())).0
}

#[test]
fn mutated_input_never_panics() {
    let good = sample().to_bytes().unwrap();
    let be = to_big_endian(&good);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for round in 0..3000 {
        let mut v = if round % 2 == 0 {
            good.clone()
        } else {
            be.clone()
        };
        let flips = 1 + next() % 4;
        for _ in 0..flips {
            let pos = (next() as usize) % v.len();
            v[pos] = next() as u8;
        }
        if round % 7 == 0 {
            let cut = (next() as usize) % v.len();
            v.truncate(cut);
        }
        if let Ok(btf) = Btf::parse(v) {
            parsed += 1;
            touch_everything(&btf);
        }
    }
    assert!(parsed > 100, "only {parsed} mutants parsed");
}

#[test]
fn btf_is_shareable_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Btf>();
    shareable::<Arc<Btf>>();
    let btf = Arc::new(sample_btf());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let btf = btf.clone();
            std::thread::spawn(move || btf.id_by_name_kind("task", BtfKind::Struct))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(4));
    }
}
