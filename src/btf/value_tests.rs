use super::*;
use crate::btf::{
    BtfBuilder, EnumValueDef, IntInfo, MemberDef, TypeBody, TypeDef, VarLinkage, VarSecinfo,
};

fn int(b: &mut BtfBuilder, name: &str, size: u32, signed: bool) -> u32 {
    let info = IntInfo {
        signed,
        char: false,
        bool: false,
        offset: 0,
        bits: (size * 8) as u8,
    };
    b.add(TypeDef::named(name, TypeBody::Int { size, info }))
}

fn member(name: &str, ty: u32, bit_offset: u32, bitfield_size: u32) -> MemberDef {
    MemberDef {
        name: name.into(),
        ty,
        bit_offset,
        bitfield_size,
    }
}

struct Types {
    btf: Btf,
    s: u32,
    u32_t: u32,
    comm: u32,
    kind: u32,
    mac: u32,
    sec: u32,
    flag: u32,
}

/// struct s { u32 pid; enum kind k; char comm[8]; __u8 mac[3]; unsigned a:3, b:5;
///            union { int x; }; long *p; };
fn types() -> Types {
    let mut b = BtfBuilder::new();
    let u32_t = int(&mut b, "unsigned int", 4, false);
    let i32_t = int(&mut b, "int", 4, true);
    let u8_t = int(&mut b, "unsigned char", 1, false);
    let u8_td = b.add(TypeDef::named("__u8", TypeBody::Typedef { ty: u8_t }));
    let char_t = int(&mut b, "char", 1, true);
    let long_t = int(&mut b, "long", 8, true);
    let flag = b.add(TypeDef::named(
        "_Bool",
        TypeBody::Int {
            size: 1,
            info: IntInfo {
                signed: false,
                char: false,
                bool: true,
                offset: 0,
                bits: 8,
            },
        },
    ));
    let kind = b.add(TypeDef::named(
        "kind",
        TypeBody::Enum {
            size: 4,
            signed: false,
            values: vec![
                EnumValueDef {
                    name: "EXEC".into(),
                    value: 1,
                },
                EnumValueDef {
                    name: "OPEN".into(),
                    value: 2,
                },
            ],
        },
    ));
    let comm = b.add(TypeDef::anon(TypeBody::Array {
        elem: char_t,
        index: u32_t,
        nelems: 8,
    }));
    let mac = b.add(TypeDef::anon(TypeBody::Array {
        elem: u8_td,
        index: u32_t,
        nelems: 3,
    }));
    let un = b.add(TypeDef::anon(TypeBody::Union {
        size: 4,
        members: vec![member("x", i32_t, 0, 0)],
    }));
    let ptr = b.add(TypeDef::anon(TypeBody::Ptr { ty: long_t }));
    let s = b.add(TypeDef::named(
        "s",
        TypeBody::Struct {
            size: 40,
            members: vec![
                member("pid", u32_t, 0, 0),
                member("k", kind, 32, 0),
                member("comm", comm, 64, 0),
                member("mac", mac, 128, 0),
                member("a", u32_t, 160, 3),
                member("b", u32_t, 163, 5),
                member("", un, 192, 0),
                member("p", ptr, 256, 0),
            ],
        },
    ));
    let var = b.add(TypeDef::named(
        "count",
        TypeBody::Var {
            ty: u32_t,
            linkage: VarLinkage::Global,
        },
    ));
    let sec = b.add(TypeDef::named(
        ".bss",
        TypeBody::Datasec {
            size: 8,
            vars: vec![VarSecinfo {
                type_id: var,
                offset: 4,
                size: 4,
            }],
        },
    ));
    Types {
        btf: Btf::parse(b.to_bytes().unwrap()).unwrap(),
        s,
        u32_t,
        comm,
        kind,
        mac,
        sec,
        flag,
    }
}

fn s_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&42u32.to_le_bytes());
    v.extend_from_slice(&2u32.to_le_bytes());
    v.extend_from_slice(b"bash\0zz\0");
    v.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0]);
    // a = 5 (bits 0..3), b = 17 (bits 3..8)
    v.extend_from_slice(&[5 | (17 << 3), 0, 0, 0]);
    v.extend_from_slice(&(-7i32).to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&0xffff_8880_0000_1000u64.to_le_bytes());
    v
}

#[test]
fn struct_with_every_common_member() {
    let t = types();
    assert_eq!(
        format_value(&t.btf, t.s, &s_bytes()).unwrap(),
        "{pid: 42, k: OPEN, comm: \"bash\", mac: [170, 187, 204], a: 5, b: 17, x: -7, \
         p: 0xffff888000001000}"
    );
}

#[test]
fn datasec_names_its_variables() {
    let t = types();
    let bytes = [0, 0, 0, 0, 9, 0, 0, 0];
    assert_eq!(format_value(&t.btf, t.sec, &bytes).unwrap(), "{count: 9}");
}

#[test]
fn unknown_enum_value_prints_the_number() {
    let t = types();
    assert_eq!(
        decode_value(&t.btf, t.kind, &7u32.to_le_bytes()).unwrap(),
        Value::Enum {
            name: None,
            value: 7
        }
    );
}

#[test]
fn short_bytes_are_an_error_not_a_panic() {
    let t = types();
    let bytes = s_bytes();
    for n in 0..bytes.len() {
        assert!(decode_value(&t.btf, t.s, &bytes[..n]).is_err(), "{n} bytes");
    }
    assert!(decode_value(&t.btf, 999, &bytes).is_err());
}

#[test]
fn parse_round_trips() {
    let t = types();
    let p = |id, s: &str| parse_value(&t.btf, id, s);
    assert_eq!(p(t.u32_t, "0x10").unwrap(), 16u32.to_le_bytes());
    assert_eq!(p(t.u32_t, "4294967295").unwrap(), u32::MAX.to_le_bytes());
    assert!(p(t.u32_t, "4294967296").is_err());
    assert!(p(t.u32_t, "-1").is_err());
    assert!(p(t.u32_t, "abc").is_err());
    assert_eq!(p(t.kind, "EXEC").unwrap(), 1u32.to_le_bytes());
    assert_eq!(p(t.kind, "2").unwrap(), 2u32.to_le_bytes());
    assert!(p(t.kind, "CLOSE").is_err());
    assert_eq!(p(t.flag, "true").unwrap(), [1]);
    assert!(p(t.flag, "maybe").is_err());
    assert_eq!(p(t.comm, "bash").unwrap(), *b"bash\0\0\0\0");
    assert!(p(t.comm, "12345678").is_err(), "no room for the NUL");
    assert_eq!(p(t.mac, "1,2").unwrap(), [1, 2, 0]);
    assert!(p(t.mac, "1,2,3,4").is_err());
    assert!(matches!(p(t.s, "{}"), Err(ValueError::Unsupported { .. })));
    let back = parse_value(&t.btf, t.comm, "sh").unwrap();
    assert_eq!(format_value(&t.btf, t.comm, &back).unwrap(), "\"sh\"");
}

#[test]
fn equal_runs_collapse() {
    let v = Value::Array(vec![Value::Uint(0); 64]);
    assert_eq!(v.to_string(), "[0; 64]");
}
