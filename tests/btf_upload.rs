//! The kernel accepts the BTF our writer emits: a hand-built blob of every kind, the same
//! sanitized for an old kernel, and the BTF of third-party objects after the DATASEC fix-up.

mod common;

use std::collections::HashMap;

use object::{Object, ObjectSection, ObjectSymbol, SymbolFlags};
use oxbpf::btf::*;
use oxbpf::syscall::{btf_load, BtfLoad, LogLevel};

fn load(bytes: &[u8]) -> Result<(), String> {
    let mut log = vec![0u8; 1 << 20];
    let mut req = BtfLoad {
        btf: bytes,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    match btf_load(&mut req) {
        Ok(_fd) => Ok(()),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: String = text.lines().rev().take(8).collect::<Vec<_>>().join(" | ");
            Err(format!("{e}: {tail}"))
        }
    }
}

fn int(name: &str, size: u32, signed: bool) -> TypeDef {
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

fn member(name: &str, ty: u32, bit_offset: u32, bitfield_size: u32) -> MemberDef {
    MemberDef {
        name: name.into(),
        ty,
        bit_offset,
        bitfield_size,
    }
}

/// Every kind, laid out as clang would for a small program.
fn every_kind() -> BtfBuilder {
    let mut b = BtfBuilder::new();
    b.add(int("int", 4, true)); // 1
    b.add(TypeDef::named(
        "user",
        TypeBody::TypeTag { ty: 1, attr: false },
    )); // 2
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 2 })); // 3: int __user *
    b.add(TypeDef::anon(TypeBody::Array {
        elem: 1,
        index: 1,
        nelems: 4,
    })); // 4
    b.add(TypeDef::named(
        "event",
        TypeBody::Struct {
            size: 32,
            members: vec![
                member("pid", 1, 0, 0),
                member("flags", 1, 32, 3),
                member("ptr", 3, 64, 0),
                member("vals", 4, 128, 0),
            ],
        },
    )); // 5
    b.add(TypeDef::named(
        "mode",
        TypeBody::Enum {
            size: 4,
            signed: true,
            values: vec![EnumValueDef {
                name: "MODE_NEG".into(),
                value: (-1i64) as u64,
            }],
        },
    )); // 6
    b.add(TypeDef::named(
        "wide",
        TypeBody::Enum64 {
            size: 8,
            signed: false,
            values: vec![EnumValueDef {
                name: "WIDE_BIG".into(),
                value: 1 << 40,
            }],
        },
    )); // 7
    b.add(TypeDef::named("later", TypeBody::Fwd { union: false })); // 8
    b.add(TypeDef::named("event_t", TypeBody::Typedef { ty: 5 })); // 9
    b.add(TypeDef::anon(TypeBody::Const { ty: 9 })); // 10
    b.add(TypeDef::anon(TypeBody::Volatile { ty: 1 })); // 11
    b.add(TypeDef::anon(TypeBody::Ptr { ty: 10 })); // 12
    b.add(TypeDef::anon(TypeBody::Restrict { ty: 12 })); // 13
    b.add(TypeDef::anon(TypeBody::FuncProto {
        ret: 1,
        params: vec![ParamDef {
            name: "ctx".into(),
            ty: 13,
        }],
    })); // 14
    b.add(TypeDef::named(
        "handle",
        TypeBody::Func {
            proto: 14,
            linkage: FuncLinkage::Global,
        },
    )); // 15
    b.add(TypeDef::named(
        "counter",
        TypeBody::Var {
            ty: 11,
            linkage: VarLinkage::Global,
        },
    )); // 16
    b.add(TypeDef::named(
        ".data",
        TypeBody::Datasec {
            size: 4,
            vars: vec![VarSecinfo {
                type_id: 16,
                offset: 0,
                size: 4,
            }],
        },
    )); // 17
    b.add(TypeDef::named("double", TypeBody::Float { size: 8 })); // 18
    b.add(TypeDef::named(
        "arg:ctx",
        TypeBody::DeclTag {
            ty: 15,
            component_idx: 0,
            attr: false,
        },
    )); // 19
    b
}

#[test]
fn kernel_accepts_every_kind() {
    require_bpf!();
    let b = every_kind();
    load(&b.to_bytes().unwrap()).unwrap();
}

#[test]
fn kernel_accepts_sanitized_btf() {
    require_bpf!();
    let mut b = every_kind();
    sanitize(
        &mut b,
        &MissingFeatures {
            func: true,
            global_func: true,
            datasec: true,
            qmark_datasec: true,
            float: true,
            decl_tag: true,
            type_tag: true,
            enum64: true,
        },
    );
    load(&b.to_bytes().unwrap()).unwrap();
    // Kernels gained the features in this order, so a real kernel lacks a suffix of it.
    for first_missing in 0..8 {
        let mut m = MissingFeatures::default();
        let flags = [
            &mut m.func,
            &mut m.global_func,
            &mut m.datasec,
            &mut m.float,
            &mut m.decl_tag,
            &mut m.type_tag,
            &mut m.enum64,
            &mut m.qmark_datasec,
        ];
        for (i, f) in flags.into_iter().enumerate() {
            *f = i >= first_missing;
        }
        let mut b = every_kind();
        sanitize(&mut b, &m);
        load(&b.to_bytes().unwrap()).unwrap_or_else(|e| panic!("{m:?}: {e}"));
    }
}

/// The DATASEC facts of an ELF object, as the object parser will hand them over.
fn layout_of(file: &object::File<'_>) -> DatasecLayout {
    let mut layout = DatasecLayout::default();
    for s in file.sections() {
        if let Ok(name) = s.name() {
            layout
                .section_sizes
                .insert(name.to_string(), s.size() as u32);
        }
    }
    for sym in file.symbols() {
        if !(sym.is_global() || sym.is_weak()) {
            continue;
        }
        let hidden = matches!(sym.flags(), SymbolFlags::Elf { st_other, .. } if matches!(st_other.0 & 3, 1 | 2));
        if let Ok(name) = sym.name() {
            layout.symbols.insert(
                name.to_string(),
                VarSymbol {
                    offset: sym.address() as u32,
                    hidden,
                },
            );
        }
    }
    layout
}

#[test]
fn kernel_accepts_third_party_object_btf_after_fixup() {
    require_bpf!();
    let dirs = [
        "/usr/lib/x86_64-linux-gnu/bpf",
        "/usr/share/gocode/src/github.com/cilium/ebpf/testdata",
    ];
    let mut loaded = 0;
    let mut failures = HashMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = path.display().to_string();
            if !(name.ends_with(".o") || name.ends_with("-el.elf")) || name.contains("invalid") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let Ok(file) = object::File::parse(&*data) else {
                continue;
            };
            let Some(sec) = file.section_by_name(".BTF") else {
                continue;
            };
            let btf = Btf::parse(sec.data().unwrap().to_vec()).unwrap();
            let mut b = BtfBuilder::from_btf(&btf).unwrap();
            if let Err(e) = fixup_datasecs(&mut b, &layout_of(&file)) {
                failures.insert(name, format!("fixup: {e}"));
                continue;
            }
            match load(&b.to_bytes().unwrap()) {
                Ok(()) => loaded += 1,
                Err(e) => {
                    failures.insert(name, e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    if loaded == 0 {
        eprintln!("no third-party objects installed (libxdp1, golang-github-cilium-ebpf-dev)");
    }
    eprintln!("{loaded} objects' BTF loaded");
}
