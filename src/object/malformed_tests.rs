//! Malformed input: typed errors naming the fault, never a panic.

use super::fixture_tests::fixture_path;
use super::*;

fn read(file: &str) -> Vec<u8> {
    std::fs::read(fixture_path(file)).unwrap()
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn put_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// A little-endian ELF64 to patch: offsets of section headers by name, symbols by name.
struct Elf {
    shoff: usize,
    names: Vec<String>,
}

const SHDR: usize = 64;
const SYM: usize = 24;

impl Elf {
    fn new(b: &[u8]) -> Elf {
        let shoff = u64_at(b, 0x28) as usize;
        let shnum = u16_at(b, 0x3c) as usize;
        let strndx = u16_at(b, 0x3e) as usize;
        let str_off = u64_at(b, shoff + strndx * SHDR + 24) as usize;
        let names = (0..shnum)
            .map(|i| {
                let n = str_off + u32_at(b, shoff + i * SHDR) as usize;
                let end = b[n..].iter().position(|&c| c == 0).unwrap();
                String::from_utf8(b[n..n + end].to_vec()).unwrap()
            })
            .collect();
        Elf { shoff, names }
    }
    /// Offset of the header of section `name`.
    fn shdr(&self, name: &str) -> usize {
        let i = self.names.iter().position(|n| n == name).unwrap();
        self.shoff + i * SHDR
    }
    /// Offset of the first byte of section `name`'s data.
    fn data(&self, b: &[u8], name: &str) -> usize {
        u64_at(b, self.shdr(name) + 24) as usize
    }
    /// Offset of the symbol-table entry named `sym`.
    fn symbol(&self, b: &[u8], sym: &str) -> usize {
        let symtab = self.data(b, ".symtab");
        let size = u64_at(b, self.shdr(".symtab") + 32) as usize;
        let strtab = self.data(b, ".strtab");
        (0..size / SYM)
            .map(|i| symtab + i * SYM)
            .find(|&e| {
                let n = strtab + u32_at(b, e) as usize;
                b[n..].starts_with(sym.as_bytes()) && b[n + sym.len()] == 0
            })
            .unwrap()
    }
}

fn minimal() -> (Vec<u8>, Elf) {
    let b = read("smoke/minimal.clang19.o");
    let e = Elf::new(&b);
    (b, e)
}

#[test]
fn header_faults_are_named() {
    let (b, _) = minimal();
    let mut m = b.clone();
    m[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    assert!(matches!(
        Object::parse(&m),
        Err(ObjectError::WrongMachine(62))
    ));
    let mut m = b.clone();
    m[4] = 1;
    assert!(matches!(Object::parse(&m), Err(ObjectError::Elf32)));
    let mut m = b.clone();
    m[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    assert!(matches!(
        Object::parse(&m),
        Err(ObjectError::NotRelocatable(2))
    ));
    assert!(matches!(
        Object::parse(b"\x7fELG and more bytes"),
        Err(ObjectError::Elf(_))
    ));
    assert!(matches!(Object::parse(&[]), Err(ObjectError::Elf(_))));
    let mut m = b.clone();
    m[5] = 9; // bad EI_DATA
    assert!(matches!(Object::parse(&m), Err(ObjectError::Elf(_))));
}

#[test]
fn section_past_the_end_of_the_file_is_named() {
    let (mut b, e) = minimal();
    put_u64(&mut b, e.shdr("socket") + 24, 1 << 40);
    let err = Object::parse(&b).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Section { section, .. } if section == "socket"),
        "{err:?}"
    );
}

#[test]
fn relocation_faults_name_section_offset_and_symbol() {
    let (b, e) = minimal();
    let rel = e.data(&b, ".relsocket");
    let r_off = u64_at(&b, rel);
    // Symbol index out of range.
    let mut m = b.clone();
    put_u64(&mut m, rel + 8, (9999u64 << 32) | 1);
    let err = Object::parse(&m).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Reloc { section, offset, symbol, .. } if section == "socket" && *offset == r_off && symbol == "#9999"),
        "{err:?}"
    );
    // Offset past the section.
    let mut m = b.clone();
    put_u64(&mut m, rel, 1 << 20);
    let err = Object::parse(&m).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Reloc { section, offset, symbol, .. } if section == "socket" && *offset == 1 << 20 && symbol == "counter"),
        "{err:?}"
    );
    // On the second half of the ld_imm64: not an ld_imm64 or call.
    let mut m = b.clone();
    put_u64(&mut m, rel, r_off + 8);
    let err = Object::parse(&m).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Reloc { problem, .. } if problem.contains("neither")),
        "{err:?}"
    );
    // Misaligned.
    let mut m = b.clone();
    put_u64(&mut m, rel, r_off + 3);
    assert!(matches!(Object::parse(&m), Err(ObjectError::Reloc { .. })));
    // A relocation section with a wrong entry size.
    let mut m = b.clone();
    put_u64(&mut m, e.shdr(".relsocket") + 56, 24);
    let err = Object::parse(&m).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Section { section, .. } if section == ".relsocket"),
        "{err:?}"
    );
}

#[test]
fn function_symbol_faults_are_named() {
    let (b, e) = minimal();
    let sym = e.symbol(&b, "count");
    let mut m = b.clone();
    put_u64(&mut m, sym + 16, 1 << 30);
    let err = Object::parse(&m).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Symbol { section, symbol, .. } if section == "socket" && symbol == "count"),
        "{err:?}"
    );
    let mut m = b.clone();
    put_u64(&mut m, sym + 8, 4);
    assert!(matches!(Object::parse(&m), Err(ObjectError::Symbol { .. })));
    // A symbol in a section that does not exist.
    let mut m = b.clone();
    m[sym + 6..sym + 8].copy_from_slice(&500u16.to_le_bytes());
    assert!(matches!(Object::parse(&m), Err(ObjectError::Elf(_))));
}

#[test]
fn version_section_must_be_four_bytes() {
    let mut b = read("object/progs.clang19.o");
    let e = Elf::new(&b);
    put_u64(&mut b, e.shdr("version") + 32, 3);
    let err = Object::parse(&b).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Section { section, .. } if section == "version"),
        "{err:?}"
    );
}

#[test]
fn corrupt_btf_is_a_typed_error() {
    let mut b = read("object/maps.clang19.o");
    let e = Elf::new(&b);
    let btf = e.data(&b, ".BTF");
    b[btf] ^= 0xff; // magic
    let err = Object::parse(&b).unwrap_err();
    assert!(
        matches!(
            err,
            ObjectError::Btf {
                section: ".BTF",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unaligned_input_parses() {
    let b = read("object/maps.clang19.o");
    let mut shifted = vec![0u8; b.len() + 1];
    shifted[1..].copy_from_slice(&b);
    let o = Object::parse(&shifted[1..]).unwrap();
    assert_eq!(o.maps().len(), 14);
}

fn all_fixtures() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in ["object", "smoke"] {
        for e in std::fs::read_dir(fixture_path(dir)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "o") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn truncated_objects_never_panic() {
    for p in all_fixtures() {
        let b = std::fs::read(&p).unwrap();
        let step = (b.len() / 300).max(1);
        for len in (0..b.len()).step_by(step) {
            let _ = Object::parse(&b[..len]);
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    // Every byte of the smallest fixture, every third of two more (the fuzz target goes
    // further).
    for (f, step) in [
        ("smoke/minimal.clang14.o", 1),
        ("object/maps.clang19.o", 3),
        ("object/globals.clang14.o", 3),
    ] {
        let b = read(f);
        let mut m = b.clone();
        for i in (0..b.len()).step_by(step) {
            for v in [0xff, 0x01] {
                m[i] = b[i] ^ v;
                let _ = Object::parse(&m);
            }
            m[i] = b[i];
        }
    }
}

/// Inputs the fuzz target (`fuzz/fuzz_targets/object.rs`) found crashing or exhausting
/// memory, kept in `tests/fixtures/object/fuzz/`: each now returns, and the listed ones with
/// the error that names their fault.
#[test]
fn fuzz_regressions() {
    type Check = fn(&ObjectError) -> bool;
    let expect: &[(&str, Check)] = &[(
        // A .kconfig char array extern of ~3.8 GB.
        "oom-af6f191be6227de3ee4d1e31a24b6117a2b13fb5",
        |e| matches!(e, ObjectError::Extern { problem, .. } if problem.contains(".kconfig")),
    )];
    let dir = fixture_path("object/fuzz");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let res = Object::parse(&std::fs::read(e.path()).unwrap());
        if let Some((_, check)) = expect.iter().find(|(n, _)| *n == name) {
            let err = res.expect_err(&name);
            assert!(check(&err), "{name}: {err:?}");
        }
        seen += 1;
    }
    assert!(seen >= expect.len());
}
