//! Tests of `.BTF.ext` parsing: hand-built blobs in both byte orders, future record sizes,
//! malformed input, and the BTF of real clang-built objects.

use object::{Object, ObjectSection};

use super::tests::{sample, to_big_endian};
use super::*;

/// `.BTF` and `.BTF.ext` of an ELF object.
pub(crate) fn btf_sections(obj: &[u8]) -> Option<(Btf, BtfExt)> {
    let file = object::File::parse(obj).ok()?;
    let btf = Btf::parse(file.section_by_name(".BTF")?.data().ok()?.to_vec()).ok()?;
    let ext = BtfExt::parse(file.section_by_name(".BTF.ext")?.data().ok()?, &btf).ok()?;
    Some((btf, ext))
}

/// A BTF whose strings include a section name, a file name, a line and an access string.
fn btf_with_strings() -> (Btf, [u32; 4]) {
    let mut b = sample();
    for n in ["kprobe/sys_open", "prog.c", "\treturn 0;", "0:1"] {
        b.add(TypeDef::named(n, TypeBody::Fwd { union: false }));
    }
    let btf = b.build().unwrap();
    let offs = [21, 22, 23, 24].map(|id| btf.type_by_id(id).unwrap().name_off());
    (btf, offs)
}

/// Encode a little-endian `.BTF.ext` with one section per subsection, records padded to the
/// given record sizes.
fn ext_bytes(sec: u32, recs: [(u32, Vec<Vec<u32>>); 3], with_core: bool) -> Vec<u8> {
    let mut body: Vec<u32> = Vec::new();
    let mut offs = Vec::new();
    for (rec_size, records) in recs.iter() {
        let start = body.len() * 4;
        body.push(*rec_size);
        body.push(sec);
        body.push(records.len() as u32);
        for r in records {
            let mut r = r.clone();
            r.resize(*rec_size as usize / 4, 0xdead);
            body.extend(r);
        }
        offs.push((start as u32, (body.len() * 4 - start) as u32));
    }
    let hdr_len: u32 = if with_core { 32 } else { 24 };
    let mut out = vec![0x9f, 0xeb, 1, 0];
    let mut words = vec![hdr_len, offs[0].0, offs[0].1, offs[1].0, offs[1].1];
    if with_core {
        words.extend([offs[2].0, offs[2].1]);
    }
    for w in words.into_iter().chain(body) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

fn ext_to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut out = le.to_vec();
    out.swap(0, 1);
    for w in out[4..].chunks_exact_mut(4) {
        w.reverse();
    }
    out
}

#[test]
fn ext_records_decode_in_both_byte_orders_and_any_record_size() {
    let (btf, [sec, file, line, access]) = btf_with_strings();
    for (fs, ls, cs) in [(8, 16, 16), (12, 24, 20)] {
        let bytes = ext_bytes(
            sec,
            [
                (fs, vec![vec![0, 13], vec![64, 13]]),
                (ls, vec![vec![8, file, line, (7 << 10) | 5]]),
                (cs, vec![vec![16, 4, access, 0], vec![24, 4, access, 99]]),
            ],
            true,
        );
        for (bytes, endian) in [
            (bytes.clone(), Endian::Little),
            (ext_to_big_endian(&bytes), Endian::Big),
        ] {
            let ext = BtfExt::parse(&bytes, &btf).unwrap();
            assert_eq!(ext.endian, endian);
            assert_eq!(ext.func_info_rec_size, fs);
            let f = ext.func_info_for("kprobe/sys_open").unwrap();
            assert_eq!(
                f.records,
                vec![
                    FuncInfo {
                        insn_off: 0,
                        type_id: 13
                    },
                    FuncInfo {
                        insn_off: 64,
                        type_id: 13
                    }
                ]
            );
            let l = &ext.line_info_for("kprobe/sys_open").unwrap().records[0];
            assert_eq!((l.line, l.column, l.insn_off), (7, 5, 8));
            assert_eq!(l.line_col(), (7 << 10) | 5);
            assert_eq!(l.file_name(&btf).unwrap(), "prog.c");
            assert_eq!(l.line_text(&btf).unwrap(), "\treturn 0;");
            let c = &ext.core_relos_for("kprobe/sys_open").unwrap().records;
            assert_eq!(c[0].kind, CoreReloKind::FieldByteOffset);
            assert_eq!(c[0].access_str(&btf).unwrap(), "0:1");
            assert_eq!(c[1].kind, CoreReloKind::Unknown(99));
            assert_eq!(c[1].insn_off, 24);
        }
    }
    // A 24-byte header has no core_relo subsection.
    let bytes = ext_bytes(
        sec,
        [(8, vec![vec![0, 13]]), (16, vec![]), (16, vec![])],
        false,
    );
    let ext = BtfExt::parse(&bytes, &btf).unwrap();
    assert!(ext.core_relos.is_empty());
    assert_eq!(ext.func_info.len(), 1);
}

#[test]
fn malformed_ext_is_a_typed_error() {
    let (btf, [sec, ..]) = btf_with_strings();
    let good = ext_bytes(
        sec,
        [(8, vec![vec![0, 13]]), (16, vec![]), (16, vec![])],
        true,
    );
    assert!(BtfExt::parse(&good, &btf).is_ok());
    assert!(matches!(
        BtfExt::parse(&good[..20], &btf),
        Err(BtfError::TruncatedHeader { .. })
    ));
    // func_info subsection longer than the data.
    let mut v = good.clone();
    v[12..16].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&v, &btf),
        Err(BtfError::BadExt {
            section: "func_info",
            ..
        })
    ));
    // Record size below the minimum.
    let mut v = good.clone();
    v[32..36].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&v, &btf),
        Err(BtfError::BadExt { .. })
    ));
    // num_info lie.
    let mut v = good.clone();
    v[40..44].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&v, &btf),
        Err(BtfError::BadExt { .. })
    ));
    // Section name offset out of range.
    let mut v = good.clone();
    v[36..40].copy_from_slice(&999_999u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&v, &btf),
        Err(BtfError::StringOutOfRange { .. })
    ));
    // Mutations never panic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut v = good.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pos = state as usize % v.len();
            v[pos] = (state >> 32) as u8;
        }
        let _ = BtfExt::parse(&v, &btf);
    }
}

const CILIUM: &str = "/usr/share/gocode/src/github.com/cilium/ebpf";

#[test]
fn cilium_objects_read_the_same_in_both_byte_orders() {
    let dirs = [
        format!("{CILIUM}/testdata"),
        format!("{CILIUM}/btf/testdata"),
    ];
    let mut compared = 0;
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = path.to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix("-el.elf") else {
                continue;
            };
            let (Ok(el), Ok(eb)) = (
                std::fs::read(&path),
                std::fs::read(format!("{stem}-eb.elf")),
            ) else {
                continue;
            };
            let (Some((bl, xl)), Some((bb, xb))) = (btf_sections(&el), btf_sections(&eb)) else {
                continue;
            };
            assert_eq!(bl.endian(), Endian::Little);
            assert_eq!(bb.endian(), Endian::Big, "{name}");
            let (mut a, mut b) = (String::new(), String::new());
            dump_raw(&bl, &mut a).unwrap();
            dump_raw(&bb, &mut b).unwrap();
            assert_eq!(a, b, "{name}");
            assert_eq!(xl.func_info, xb.func_info, "{name}");
            assert_eq!(xl.core_relos, xb.core_relos, "{name}");
            assert_eq!(xl.line_info, xb.line_info, "{name}");
            let mut h = String::new();
            dump_c(&bl, &DumpCOptions::default(), &mut h).unwrap();
            compared += 1;
        }
    }
    if compared == 0 {
        eprintln!("skipping: no cilium/ebpf test objects under {CILIUM}");
    }
}

#[test]
fn cilium_module_btf_is_split_on_its_vmlinux() {
    let dir = format!("{CILIUM}/btf/testdata");
    let (Ok(module), Ok(gz)) = (
        std::fs::read(format!("{dir}/btf_testmod.btf")),
        std::process::Command::new("gzip")
            .args(["-dc", &format!("{dir}/vmlinux.btf.gz")])
            .output(),
    ) else {
        eprintln!("skipping: cilium/ebpf's btf testdata or gzip is missing");
        return;
    };
    let base = std::sync::Arc::new(Btf::parse(gz.stdout).unwrap());
    let m = Btf::parse_split(module, base.clone()).unwrap();
    assert_eq!(m.first_id(), base.last_id() + 1);
    let mut named = 0;
    for t in m.local_types() {
        if !t.name().unwrap().is_empty() {
            named += 1;
        }
        let _ = m.type_name(t.id()).unwrap();
    }
    assert!(named > 0);
    let be = Btf::parse_split(to_big_endian(m.raw_bytes()), base.clone()).unwrap();
    assert_eq!(be.last_id(), m.last_id());
}

#[test]
fn mutated_real_object_btf_never_panics() {
    let path = format!("{CILIUM}/btf/testdata/relocs-el.elf");
    let Ok(obj) = std::fs::read(&path) else {
        eprintln!("skipping: {path} is missing");
        return;
    };
    let file = object::File::parse(&*obj).unwrap();
    let btf = file
        .section_by_name(".BTF")
        .unwrap()
        .data()
        .unwrap()
        .to_vec();
    let ext = file
        .section_by_name(".BTF.ext")
        .unwrap()
        .data()
        .unwrap()
        .to_vec();
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..600 {
        let mut v = if round % 2 == 0 {
            btf.clone()
        } else {
            to_big_endian(&btf)
        };
        for _ in 0..1 + rand() % 3 {
            let pos = rand() as usize % v.len();
            v[pos] = rand() as u8;
        }
        if let Ok(b) = Btf::parse(v) {
            super::tests::touch_everything(&b);
            let _ = BtfExt::parse(&ext, &b);
        }
    }
}
