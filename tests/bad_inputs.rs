//! The bad-input catalogue: malformed and hostile objects, BTF blobs, `.BTF.ext` records,
//! CO-RE records and instructions, each built from a real fixture (or by hand) and each
//! asserting the exact typed error and that its message names what is at fault. Nothing
//! here needs privileges: the pure stages reject all of these before anything reaches the
//! kernel. `docs/errors.md` lists the catalogue.

mod common;

#[path = "bad_inputs/btf.rs"]
mod btf;
#[path = "bad_inputs/elf.rs"]
mod elf;
#[path = "bad_inputs/ext.rs"]
mod ext;

use std::sync::Arc;

use oxbpf::btf::{Btf, BtfError, BtfExt, DumpCOptions};
use oxbpf::insn::{decode, DecodeError, Insn};
use oxbpf::object::{Object, ObjectError};
use oxbpf::relocate::core::{CoreProblem, Targets};
use oxbpf::relocate::{relocate, RelocateError, RelocateOptions};

use btf::RawBtf;
use elf::*;

const MINIMAL: &str = "smoke/minimal.clang19.o";
const PROGS: &str = "object/progs.clang19.o";
const LEGACY: &str = "object/legacy.clang19.o";
const GLOBALS: &str = "object/globals.clang19.o";
const EXTERNS: &str = "object/externs.clang19.o";
const LAYOUT: &str = "core/layout.clang19.o";
const LAYOUT_TARGET: &str = "core/layout.TARGET.clang19.o";

/// The parse error of `elf`, which must not parse.
fn parse_err(elf: &Elf) -> ObjectError {
    match elf.parse() {
        Ok(o) => panic!(
            "parsed: {} programs, {} maps",
            o.programs().len(),
            o.maps().len()
        ),
        Err(e) => e,
    }
}

/// Asserts the message of `e` names each of `names`.
fn names(e: &impl std::fmt::Display, names: &[&str]) {
    let msg = e.to_string();
    for n in names {
        assert!(msg.contains(n), "`{msg}` does not name `{n}`");
    }
}

/// The BTF error inside an object error for section `.BTF` or `.BTF.ext`.
fn btf_source(e: &ObjectError, section: &str) -> BtfError {
    match e {
        ObjectError::Btf { section: s, source } if *s == section => source.clone(),
        other => panic!("expected a {section} error, got {other:?}"),
    }
}

/// The CO-RE target of `layout.bpf.c`: its `-DTARGET` build's BTF.
fn layout_target() -> Targets {
    let obj = Object::parse(&Elf::fixture(LAYOUT_TARGET).bytes).unwrap();
    let btf = Btf::parse(obj.btf().unwrap().raw_bytes().to_vec()).unwrap();
    Targets::custom("layout.TARGET", Arc::new(btf))
}

/// Relocates `obj` against `targets`, which must fail.
fn relocate_err(obj: &Object, targets: Option<Targets>) -> RelocateError {
    let opts = RelocateOptions {
        targets,
        ..Default::default()
    };
    match relocate(obj, opts) {
        Ok(r) => panic!("relocated {} programs", r.programs.len()),
        Err(e) => e,
    }
}

/// The CO-RE problem of a relocation error.
fn core_problem(e: &RelocateError) -> &CoreProblem {
    match e {
        RelocateError::Core(c) => &c.problem,
        other => panic!("expected a CO-RE error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// ELF header and section table
// ---------------------------------------------------------------------------------------

#[test]
fn empty_file() {
    let e = Object::parse(&[]).unwrap_err();
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &["ELF identification"]);
}

#[test]
fn truncated_elf_header() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.bytes.truncate(40);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
}

#[test]
fn truncated_before_section_table() {
    let mut elf = Elf::fixture(MINIMAL);
    let shoff = elf.u64_at(E_SHOFF) as usize;
    elf.bytes.truncate(shoff + 10);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
}

#[test]
fn bad_magic() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u8(1, b'X');
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &["magic"]);
}

#[test]
fn elf32_class() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u8(EI_CLASS, 1);
    assert!(matches!(parse_err(&elf), ObjectError::Elf32));
}

#[test]
fn unknown_elf_class() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u8(EI_CLASS, 7);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &["class 7"]);
}

#[test]
fn wrong_machine_x86_64() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u16(E_MACHINE, 62);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::WrongMachine(62)), "{e:?}");
    names(&e, &["62", "EM_BPF"]);
}

#[test]
fn not_relocatable_exec() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u16(E_TYPE, 2);
    assert!(matches!(parse_err(&elf), ObjectError::NotRelocatable(2)));
}

#[test]
fn byte_order_flipped() {
    // A little-endian object whose header claims big-endian: every field reads as garbage.
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u8(EI_DATA, 2);
    let e = parse_err(&elf);
    // ET_REL (1) read big-endian.
    assert!(matches!(e, ObjectError::NotRelocatable(0x100)), "{e:?}");
}

#[test]
fn big_endian_object_is_not_loadable_here() {
    // A genuine big-endian object parses (for inspection) but is not loadable on this host.
    let obj = Elf::fixture("object/bigendian.clang19.o").parse().unwrap();
    assert_eq!(obj.byte_order(), oxbpf::insn::ByteOrder::Big);
    assert!(!obj.is_loadable_on_host());
}

#[test]
fn section_table_past_end() {
    let mut elf = Elf::fixture(MINIMAL);
    let len = elf.bytes.len() as u64;
    elf.put_u64(E_SHOFF, len + 4096);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
}

#[test]
fn section_count_huge() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u16(E_SHNUM, 0xfeff);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
}

#[test]
fn section_name_table_index_out_of_range() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.put_u16(E_SHSTRNDX, 200);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
}

#[test]
fn section_name_offset_out_of_range() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section("socket");
    elf.set_sh_u32(i, SH_NAME, 0x7fff_0000);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &[&format!("section #{i}"), "name offset"]);
}

#[test]
fn program_section_offset_past_end() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section("socket");
    elf.set_sh_u64(i, SH_OFFSET, 1 << 40);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == "socket"),
        "{e:?}"
    );
    names(&e, &["socket", "past the end"]);
}

#[test]
fn program_section_size_huge() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section("socket");
    elf.set_sh_u64(i, SH_SIZE, u64::MAX - 7);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == "socket"),
        "{e:?}"
    );
}

#[test]
fn program_section_size_not_instructions() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section("socket");
    let size = elf.sh_u64(i, SH_SIZE);
    elf.set_sh_u64(i, SH_SIZE, size - 3);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == "socket"),
        "{e:?}"
    );
    names(&e, &["socket", "multiple of 8"]);
}

#[test]
fn bss_size_huge() {
    let mut elf = Elf::fixture(GLOBALS);
    let i = elf.section(".bss");
    elf.set_sh_u64(i, SH_SIZE, 1 << 40);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".bss"),
        "{e:?}"
    );
    names(&e, &[".bss", "too large"]);
}

#[test]
fn version_section_wrong_size() {
    let mut elf = Elf::fixture(PROGS);
    elf.replace_named("version", &[1, 2, 3, 4, 5, 6]);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == "version"),
        "{e:?}"
    );
    names(&e, &["version", "size 6"]);
}

#[test]
fn nobits_sections_adding_up_too_much() {
    // Each NOBITS section under the per-section limit, together over it.
    let mut elf = Elf::fixture(GLOBALS);
    for name in [".bss", ".bss.baz"] {
        let i = elf.section(name);
        elf.set_sh_u64(i, SH_SIZE, 200 << 20);
    }
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section.starts_with(".bss")),
        "{e:?}"
    );
    names(&e, &["add up to more than"]);
}

// ---------------------------------------------------------------------------------------
// Symbols and functions
// ---------------------------------------------------------------------------------------

#[test]
fn no_symbol_table() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.symtab();
    elf.set_sh_u32(i, SH_TYPE, SHT_PROGBITS);
    assert!(matches!(parse_err(&elf), ObjectError::NoSymbolTable));
}

#[test]
fn symbol_name_offset_out_of_range() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.set_sym("count", ST_NAME, 4, 0x00ff_ffff);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &["symbol #", "name offset"]);
}

#[test]
fn symbol_section_index_out_of_range() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.set_sym("count", ST_SHNDX, 2, 0x0fff);
    let e = parse_err(&elf);
    assert!(matches!(e, ObjectError::Elf(_)), "{e:?}");
    names(&e, &["count", "out of range"]);
}

#[test]
fn function_crosses_section_end() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.set_sym("count", ST_SIZE, 8, 0x10000);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Symbol { ref section, ref symbol, .. } if section == "socket" && symbol == "count"),
        "{e:?}"
    );
    names(&e, &["socket", "count", "crosses the section end"]);
}

#[test]
fn function_offset_misaligned() {
    let mut elf = Elf::fixture(MINIMAL);
    elf.set_sym("count", ST_VALUE, 8, 4);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Symbol { ref symbol, .. } if symbol == "count"),
        "{e:?}"
    );
    names(&e, &["count", "multiple of 8"]);
}

#[test]
fn duplicate_program_names() {
    // Two entry programs of `xdp` renamed alike: `program("xdp_first")` would be ambiguous.
    let mut elf = Elf::fixture(PROGS);
    let first = elf.u32_at(elf.sym(elf.symbol("xdp_first")) + ST_NAME);
    elf.set_sym("xdp_second", ST_NAME, 4, u64::from(first));
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Program { ref program, .. } if program == "xdp_first"),
        "{e:?}"
    );
    names(&e, &["xdp_first", "xdp"]);
}

// ---------------------------------------------------------------------------------------
// Relocations
// ---------------------------------------------------------------------------------------

#[test]
fn relocation_to_missing_symbol() {
    let mut elf = Elf::fixture(MINIMAL);
    let (off, _, ty) = elf.get_rel(".relsocket", 0);
    elf.set_rel(".relsocket", 0, off, 5000, ty);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Reloc { ref section, .. } if section == "socket"),
        "{e:?}"
    );
    names(&e, &["socket", "#5000", "out of range"]);
}

#[test]
fn relocation_offset_past_section() {
    let mut elf = Elf::fixture(MINIMAL);
    let (_, sym, ty) = elf.get_rel(".relsocket", 0);
    elf.set_rel(".relsocket", 0, 0x10_0000, sym, ty);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Reloc { ref section, offset: 0x10_0000, ref symbol, .. } if section == "socket" && symbol == "counter"),
        "{e:?}"
    );
    names(&e, &["socket", "counter", "0x100000"]);
}

#[test]
fn relocation_offset_misaligned() {
    let mut elf = Elf::fixture(MINIMAL);
    let (off, sym, ty) = elf.get_rel(".relsocket", 0);
    elf.set_rel(".relsocket", 0, off + 3, sym, ty);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Reloc { ref symbol, .. } if symbol == "counter"),
        "{e:?}"
    );
}

#[test]
fn relocation_on_non_ld_imm64() {
    // Point the map relocation at the program's first instruction (not an ld_imm64).
    let mut elf = Elf::fixture(MINIMAL);
    let (_, sym, ty) = elf.get_rel(".relsocket", 0);
    elf.set_rel(".relsocket", 0, 0, sym, ty);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Reloc { ref symbol, offset: 0, .. } if symbol == "counter"),
        "{e:?}"
    );
    names(&e, &["counter", "neither ld_imm64 nor call"]);
}

#[test]
fn relocation_against_license() {
    // An ld_imm64 relocated against a symbol of `license`: neither map, data nor code.
    let mut elf = Elf::fixture(MINIMAL);
    let (off, _, ty) = elf.get_rel(".relsocket", 0);
    let lic = elf.symbol("LICENSE") as u32;
    elf.set_rel(".relsocket", 0, off, lic, ty);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Reloc { ref symbol, .. } if symbol == "LICENSE"),
        "{e:?}"
    );
    names(&e, &["socket", "LICENSE"]);
}

#[test]
fn relocation_section_entry_size() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section(".relsocket");
    elf.set_sh_u64(i, SH_ENTSIZE, 24);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".relsocket"),
        "{e:?}"
    );
    names(&e, &[".relsocket", "entry size 24"]);
}

#[test]
fn relocation_section_linked_elsewhere() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section(".relsocket");
    elf.set_sh_u32(i, SH_LINK, 1);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".relsocket"),
        "{e:?}"
    );
    names(&e, &[".relsocket", "symbol table"]);
}

#[test]
fn relocation_section_past_end() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section(".relsocket");
    elf.set_sh_u64(i, SH_SIZE, 1 << 32);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".relsocket"),
        "{e:?}"
    );
    names(&e, &[".relsocket", "past the end"]);
}

#[test]
fn rela_relocations_of_a_program() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section(".relsocket");
    elf.set_sh_u32(i, SH_TYPE, SHT_RELA);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".relsocket"),
        "{e:?}"
    );
    names(&e, &["RELA"]);
}

// ---------------------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------------------

#[test]
fn btf_map_type_member_not_a_pointer() {
    // `__uint(type, ...)` is `int (*type)[N]`; make the member an INT instead of the PTR.
    let mut elf = Elf::fixture(MINIMAL);
    let obj = elf.parse().unwrap();
    let b = obj.btf().unwrap();
    let def = b
        .type_by_name_kind("counter", oxbpf::btf::BtfKind::Var)
        .unwrap();
    let st = b.skip_mods_and_typedefs(def.size_or_type()).unwrap();
    let m = st.members().unwrap().get(0).unwrap();
    assert_eq!(m.name().unwrap(), "type");
    let int_id = b.id_by_name_kind("int", oxbpf::btf::BtfKind::Int).unwrap();
    let ptr = b.type_by_id(m.type_id).unwrap();
    assert_eq!(ptr.kind(), oxbpf::btf::BtfKind::Ptr);
    // Rewrite the PTR record into a TYPEDEF of int: same size, different kind.
    let mut raw = elf.data(".BTF");
    let off = type_record_offset(&raw, m.type_id);
    raw[off + 4..off + 8].copy_from_slice(&(8u32 << 24).to_le_bytes());
    raw[off + 8..off + 12].copy_from_slice(&int_id.to_le_bytes());
    elf.replace_named(".BTF", &raw);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "counter"),
        "{e:?}"
    );
    names(&e, &["counter", "type", "expected PTR"]);
}

#[test]
fn btf_maps_without_btf() {
    let mut elf = Elf::fixture(MINIMAL);
    let i = elf.section(".BTF");
    // Rename `.BTF` to `.BTX` (same length): `.maps` now has no BTF to describe it.
    let name = elf.sh_u32(i, SH_NAME) as usize;
    let strtab = elf.sh_u64(elf.u16_at(E_SHSTRNDX).into(), SH_OFFSET) as usize;
    elf.put_u8(strtab + name + 3, b'X');
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == ".maps"),
        "{e:?}"
    );
    names(&e, &[".maps", ".BTF"]);
}

/// The object area's bad_maps fixture `variant` (one map encoding mistake each).
fn bad_maps(variant: &str) -> ObjectError {
    parse_err(&Elf::fixture(&format!(
        "object/bad_maps.{variant}.clang19.o"
    )))
}

#[test]
fn btf_map_without_type() {
    let e = bad_maps("NO_TYPE");
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "victim"),
        "{e:?}"
    );
    names(&e, &["victim", "map type isn't specified"]);
}

#[test]
fn btf_map_unknown_field() {
    let e = bad_maps("UNKNOWN_FIELD");
    assert!(
        matches!(e, ObjectError::UnknownMapField { ref map, ref field } if map == "victim" && field == "frobnicate"),
        "{e:?}"
    );
}

#[test]
fn btf_map_key_size_conflict() {
    let e = bad_maps("KEY_CONFLICT");
    assert!(
        matches!(e, ObjectError::ConflictingMapSize { ref map, what: "key", first: 4, second: 8 } if map == "victim"),
        "{e:?}"
    );
}

#[test]
fn btf_map_value_size_conflict() {
    let e = bad_maps("VALUE_CONFLICT");
    assert!(
        matches!(e, ObjectError::ConflictingMapSize { ref map, what: "value", first: 8, second: 4 } if map == "victim"),
        "{e:?}"
    );
}

#[test]
fn btf_map_initialized_definition() {
    // libbpf loads such an object (it ignores the bytes), so it parses, with a warning that
    // names the map and where its bytes are.
    let o = Elf::fixture("object/bad_maps.INIT_BYTES.clang19.o")
        .parse()
        .expect("parses, as libbpf does");
    assert!(
        o.warnings().iter().any(
            |w| matches!(w, ObjectError::MapInitialized { map, offset: 24 } if map == "victim")
        ),
        "{:?}",
        o.warnings()
    );
}

#[test]
fn btf_map_bad_pinning_value() {
    let e = bad_maps("BAD_PINNING");
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "victim"),
        "{e:?}"
    );
    names(&e, &["victim", "invalid pinning value 7"]);
}

#[test]
fn btf_map_pinned_inner_map() {
    let e = bad_maps("INNER_PINNED");
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "outer.inner"),
        "{e:?}"
    );
    names(&e, &["outer.inner", "can't be pinned"]);
}

#[test]
fn btf_map_values_on_plain_map() {
    let e = bad_maps("VALUES_NOT_MIM");
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "outer"),
        "{e:?}"
    );
    names(
        &e,
        &["outer", "'values' needs a map-in-map or a program array"],
    );
}

#[test]
fn btf_map_static_definition() {
    let e = bad_maps("STATIC_MAP");
    assert!(
        matches!(e, ObjectError::Map { ref map, .. } if map == "victim"),
        "{e:?}"
    );
    names(&e, &["victim", "static"]);
}

#[test]
fn legacy_map_section_not_whole_records() {
    let mut elf = Elf::fixture(LEGACY);
    let i = elf.section("maps");
    let size = elf.sh_u64(i, SH_SIZE);
    elf.set_sh_u64(i, SH_SIZE, size - 2);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Section { ref section, .. } if section == "maps"),
        "{e:?}"
    );
    names(&e, &["maps", "3 map symbols in 58 bytes"]);
}

#[test]
fn legacy_map_symbol_past_section() {
    let mut elf = Elf::fixture(LEGACY);
    elf.set_sym("legacy_array", ST_VALUE, 8, 4096);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Symbol { ref section, ref symbol, .. } if section == "maps" && symbol == "legacy_array"),
        "{e:?}"
    );
    names(&e, &["legacy_array", "crosses the section end"]);
}

// ---------------------------------------------------------------------------------------
// BTF
// ---------------------------------------------------------------------------------------

/// Offset within a little-endian `.BTF` blob of type `id`'s record.
fn type_record_offset(raw: &[u8], id: u32) -> usize {
    let btf = Btf::parse(raw.to_vec()).unwrap();
    let hdr_len = btf::hdr(raw, btf::HDR_LEN) as usize;
    let type_off = btf::hdr(raw, btf::HDR_TYPE_OFF) as usize;
    let mut off = hdr_len + type_off;
    for i in 1..id {
        let t = btf.type_by_id(i).unwrap();
        off += record_len(t);
    }
    off
}

fn record_len(t: oxbpf::btf::Type<'_>) -> usize {
    use oxbpf::btf::BtfKind::*;
    let v = usize::from(t.vlen());
    12 + match t.kind() {
        Int | Var | DeclTag => 4,
        Array => 12,
        Struct | Union | Datasec | Enum64 => 12 * v,
        Enum | FuncProto => 8 * v,
        _ => 0,
    }
}

/// Replaces the object's `.BTF` with `blob` and returns the BTF error.
fn object_btf_err(blob: &[u8]) -> BtfError {
    let mut elf = Elf::fixture(MINIMAL);
    elf.replace_named(".BTF", blob);
    btf_source(&parse_err(&elf), ".BTF")
}

#[test]
fn btf_bad_magic() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    blob[0] = 0x12;
    let e = object_btf_err(&blob);
    assert!(matches!(e, BtfError::BadMagic { what: "BTF", .. }), "{e:?}");
}

#[test]
fn btf_bad_version() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    blob[btf::HDR_VERSION] = 2;
    let e = object_btf_err(&blob);
    assert!(
        matches!(e, BtfError::BadVersion { version: 2, .. }),
        "{e:?}"
    );
}

#[test]
fn btf_truncated_header() {
    let blob = Elf::fixture(MINIMAL).data(".BTF");
    let e = object_btf_err(&blob[..10]);
    assert!(
        matches!(e, BtfError::TruncatedHeader { len: 10, .. }),
        "{e:?}"
    );
}

#[test]
fn btf_header_length_past_end() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    btf::set_hdr(&mut blob, btf::HDR_LEN, 1 << 20);
    let e = object_btf_err(&blob);
    assert!(
        matches!(
            e,
            BtfError::BadHeaderLen {
                hdr_len: 0x10_0000,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_type_section_past_end() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    btf::set_hdr(&mut blob, btf::HDR_TYPE_LEN, 0x7fff_0000);
    let e = object_btf_err(&blob);
    assert!(
        matches!(
            e,
            BtfError::BadSection {
                section: "type",
                ..
            }
        ),
        "{e:?}"
    );
    names(&e, &["type section"]);
}

#[test]
fn btf_string_section_overlaps_types() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    btf::set_hdr(&mut blob, btf::HDR_STR_OFF, 4);
    let e = object_btf_err(&blob);
    assert!(matches!(e, BtfError::BadSection { .. }), "{e:?}");
}

#[test]
fn btf_strings_not_nul_terminated() {
    let mut blob = Elf::fixture(MINIMAL).data(".BTF");
    let last = blob.len() - 1;
    blob[last] = b'x';
    let e = object_btf_err(&blob);
    assert!(matches!(e, BtfError::BadStringSection(_)), "{e:?}");
}

#[test]
fn btf_unknown_kind() {
    let mut raw = RawBtf::new();
    raw.int("int");
    raw.ty("weird", 30, 0, 0, &[]);
    let e = Btf::parse(raw.bytes()).unwrap_err();
    assert!(
        matches!(
            e,
            BtfError::UnknownKind {
                id: 2,
                kind: 30,
                ..
            }
        ),
        "{e:?}"
    );
    names(&e, &["[2]", "kind 30"]);
}

#[test]
fn btf_vlen_lie() {
    // A struct claiming 1000 members with room for one.
    let mut raw = RawBtf::new();
    let int = raw.int("int");
    let name = raw.str("s");
    let m = raw.str("a");
    raw.raw(name, (btf::STRUCT << 24) | 1000, 4, &[m, int, 0]);
    let e = Btf::parse(raw.bytes()).unwrap_err();
    assert!(matches!(e, BtfError::TruncatedType { id: 2, .. }), "{e:?}");
    names(&e, &["[2]", "truncated"]);
}

#[test]
fn btf_type_name_out_of_range() {
    let mut raw = RawBtf::new();
    raw.raw(0x0fff_ffff, btf::INT << 24, 4, &[32]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    let e = btf.type_by_id(1).unwrap().name().unwrap_err();
    assert!(
        matches!(
            e,
            BtfError::StringOutOfRange {
                offset: 0x0fff_ffff,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_typedef_loop() {
    // typedef a b; typedef b a;
    let mut raw = RawBtf::new();
    raw.ty("a", btf::TYPEDEF, 0, 2, &[]);
    raw.ty("b", btf::TYPEDEF, 0, 1, &[]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    let e = btf.skip_mods_and_typedefs(1).unwrap_err();
    assert!(matches!(e, BtfError::TypeLoop { id: 1, .. }), "{e:?}");
    let e = btf.type_size(2).unwrap_err();
    assert!(matches!(e, BtfError::TypeLoop { id: 2, .. }), "{e:?}");
    names(&e, &["[2]", "loops"]);
}

#[test]
fn btf_const_of_itself() {
    let mut raw = RawBtf::new();
    raw.ty("", btf::CONST, 0, 1, &[]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    assert!(matches!(
        btf.skip_mods(1),
        Err(BtfError::TypeLoop { id: 1, .. })
    ));
    assert!(
        matches!(btf.type_align(1), Err(BtfError::TypeLoop { id: 1, .. })),
        "{:?}",
        btf.type_align(1)
    );
    assert!(btf.type_name(1).is_err());
}

#[test]
fn btf_struct_containing_itself() {
    // struct s { struct s inner; }: infinite size; every walk must stop.
    let mut raw = RawBtf::new();
    raw.strukt("s", 4, &[("inner", 1, 0)]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    let e = btf.type_align(1).unwrap_err();
    assert!(
        matches!(e, BtfError::TypeLoop { id: 1, limit: 32 }),
        "{e:?}"
    );
    let mut out = String::new();
    let e = oxbpf::btf::dump_c(&btf, &DumpCOptions::default(), &mut out).unwrap_err();
    assert!(matches!(e, BtfError::TypeLoop { id: 1, limit: 0 }), "{e:?}");
    names(&e, &["[1]", "refers back to itself"]);
}

#[test]
fn btf_array_size_overflow() {
    // int a[0x10000][0x10000]: 16 GiB does not fit a u32 size.
    let mut raw = RawBtf::new();
    let int = raw.int("int");
    let a = raw.ty("", btf::ARRAY, 0, 0, &[int, int, 0x10000]);
    raw.ty("", btf::ARRAY, 0, 0, &[a, int, 0x10000]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    let e = btf.type_size(3).unwrap_err();
    assert!(matches!(e, BtfError::BadSize { id: 3, .. }), "{e:?}");
    names(&e, &["[3]", "overflows"]);
}

#[test]
fn btf_member_type_out_of_range() {
    let mut raw = RawBtf::new();
    raw.strukt("s", 4, &[("x", 77, 0)]);
    let btf = Btf::parse(raw.bytes()).unwrap();
    let e = btf
        .type_size(
            btf.type_by_id(1)
                .unwrap()
                .members()
                .unwrap()
                .get(0)
                .unwrap()
                .type_id,
        )
        .unwrap_err();
    assert!(
        matches!(e, BtfError::TypeIdOutOfRange { id: 77, last: 1 }),
        "{e:?}"
    );
}

#[test]
fn btf_deep_pointer_dag_is_bounded() {
    // 2000 structs each holding the next twice: a walk that does not count its steps is
    // exponential. The dumper and the alignment walk must stop (or finish) quickly.
    let mut raw = RawBtf::new();
    let n = 2000u32;
    for i in 1..=n {
        let next = if i == n { 0 } else { i + 1 };
        if next == 0 {
            raw.int("int");
        } else {
            raw.strukt(&format!("s{i}"), 8, &[("a", next, 0), ("b", next, 0)]);
        }
    }
    let btf = Btf::parse(raw.bytes()).unwrap();
    let start = std::time::Instant::now();
    let _ = btf.type_align(1);
    let mut out = String::new();
    let _ = oxbpf::btf::dump_c(&btf, &DumpCOptions::default(), &mut out);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// BTF.ext
// ---------------------------------------------------------------------------------------

/// Replaces the object's `.BTF.ext` with `blob` and returns the BTF error.
fn object_ext_err(fixture: &str, f: impl FnOnce(&mut Vec<u8>)) -> BtfError {
    let mut elf = Elf::fixture(fixture);
    let mut blob = elf.data(".BTF.ext");
    f(&mut blob);
    elf.replace_named(".BTF.ext", &blob);
    btf_source(&parse_err(&elf), ".BTF.ext")
}

#[test]
fn btf_ext_truncated_header() {
    let e = object_ext_err(MINIMAL, |b| b.truncate(12));
    assert!(
        matches!(
            e,
            BtfError::TruncatedHeader {
                what: "BTF.ext",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_ext_func_info_record_too_small() {
    let e = object_ext_err(MINIMAL, |b| {
        let at = ext::info_start(b, ext::FUNC_INFO);
        ext::put(b, at, 4);
    });
    assert!(
        matches!(
            e,
            BtfError::BadExt {
                section: "func_info",
                ..
            }
        ),
        "{e:?}"
    );
    names(&e, &["func_info"]);
}

#[test]
fn btf_ext_line_info_record_size_lie() {
    // A record size larger than the subsection.
    let e = object_ext_err(MINIMAL, |b| {
        let at = ext::info_start(b, ext::LINE_INFO);
        ext::put(b, at, 0x1000);
    });
    assert!(
        matches!(
            e,
            BtfError::BadExt {
                section: "line_info",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_ext_record_count_lie() {
    let e = object_ext_err(MINIMAL, |b| {
        let at = ext::info_start(b, ext::LINE_INFO);
        ext::put(b, at + 8, 0xffff);
    });
    assert!(
        matches!(
            e,
            BtfError::BadExt {
                section: "line_info",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_ext_section_name_out_of_range() {
    let e = object_ext_err(MINIMAL, |b| {
        let at = ext::info_start(b, ext::FUNC_INFO);
        ext::put(b, at + 4, 0x00ff_ffff);
    });
    assert!(
        matches!(
            e,
            BtfError::StringOutOfRange {
                offset: 0x00ff_ffff,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn btf_ext_subsection_past_end() {
    let e = object_ext_err(MINIMAL, |b| ext::put(b, ext::LINE_INFO + 4, 0x10_0000));
    assert!(
        matches!(
            e,
            BtfError::BadExt {
                section: "line_info",
                ..
            }
        ),
        "{e:?}"
    );
    names(&e, &["line_info", "past the end"]);
}

#[test]
fn btf_ext_direct_parse_against_other_btf() {
    // The ext blob of one object against an empty BTF: its section names do not resolve.
    let ext = Elf::fixture(MINIMAL).data(".BTF.ext");
    let empty = Btf::parse(RawBtf::new().bytes()).unwrap();
    let e = BtfExt::parse(&ext, &empty).unwrap_err();
    assert!(
        matches!(e, BtfError::StringOutOfRange { end: 1, .. }),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------
// CO-RE records
// ---------------------------------------------------------------------------------------

/// `layout.clang19.o` with CO-RE record 0 (of the first section) rewritten by `f`
/// (`f(ext, record_offset, btf)`).
fn layout_with_record(f: impl FnOnce(&mut Vec<u8>, usize, &mut Vec<u8>)) -> Object {
    let mut elf = Elf::fixture(LAYOUT);
    let mut ext_blob = elf.data(".BTF.ext");
    let mut btf_blob = elf.data(".BTF");
    let (at, rec) = ext::record(&ext_blob, ext::CORE_RELO, 0);
    assert_eq!(rec, 16);
    f(&mut ext_blob, at, &mut btf_blob);
    elf.replace_named(".BTF.ext", &ext_blob);
    elf.replace_named(".BTF", &btf_blob);
    elf.parse().unwrap()
}

#[test]
fn core_access_string_not_numbers() {
    let obj = layout_with_record(|e, at, b| {
        let s = ext::btf_add_string(b, "0:x:1");
        ext::put(e, at + 8, s);
    });
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::BadAccessSpec { access, .. } if access == "0:x:1"),
        "{e:?}"
    );
    names(&e, &["0:x:1", "relocation #0", "raw_tp/sys_enter"]);
}

#[test]
fn core_access_index_out_of_range() {
    let obj = layout_with_record(|e, at, b| {
        let s = ext::btf_add_string(b, "0:999");
        ext::put(e, at + 8, s);
    });
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::BadAccessSpec { access, .. } if access == "0:999"),
        "{e:?}"
    );
}

#[test]
fn core_access_string_empty() {
    let obj = layout_with_record(|e, at, b| {
        let s = ext::btf_add_string(b, ":");
        ext::put(e, at + 8, s);
    });
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::BadAccessSpec { .. }),
        "{e:?}"
    );
}

#[test]
fn core_access_string_offset_out_of_range() {
    let obj = layout_with_record(|e, at, _| ext::put(e, at + 8, 0x0fff_ffff));
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(
            core_problem(&e),
            CoreProblem::Btf(BtfError::StringOutOfRange {
                offset: 0x0fff_ffff,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn core_insn_offset_misaligned() {
    let obj = layout_with_record(|e, at, _| {
        let off = ext::get(e, at);
        ext::put(e, at, off + 4);
    });
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::MisalignedInsnOff { .. }),
        "{e:?}"
    );
}

#[test]
fn core_insn_offset_past_section() {
    let obj = layout_with_record(|e, at, _| ext::put(e, at, 0x0800_0000));
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(
            core_problem(&e),
            CoreProblem::InsnOutOfRange {
                insn: 0x100_0000,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn core_unknown_kind() {
    let obj = layout_with_record(|e, at, _| ext::put(e, at + 12, 99));
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::UnknownKind(99)),
        "{e:?}"
    );
}

#[test]
fn core_type_id_out_of_range() {
    let obj = layout_with_record(|e, at, _| ext::put(e, at + 4, 0x00ff_ffff));
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(
            core_problem(&e),
            CoreProblem::Btf(BtfError::TypeIdOutOfRange {
                id: 0x00ff_ffff,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn core_field_access_on_a_pointer_type() {
    // The record's root type becomes the first PTR of the local BTF: a field access through
    // it has no member to step into.
    let obj = Elf::fixture(LAYOUT).parse().unwrap();
    let local = obj.btf().unwrap();
    let ptr = (1..=local.last_id())
        .find(|&i| local.type_by_id(i).unwrap().kind() == oxbpf::btf::BtfKind::Ptr)
        .unwrap();
    let obj = layout_with_record(|e, at, _| ext::put(e, at + 4, ptr));
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(core_problem(&e), CoreProblem::BadAccessSpec { type_id, .. } if *type_id == ptr),
        "{e:?}"
    );
    names(&e, &["raw_tp/sys_enter", "a PTR"]);
}

#[test]
fn btf_ext_core_relo_record_too_small() {
    let e = object_ext_err(LAYOUT, |b| {
        let at = ext::info_start(b, ext::CORE_RELO);
        ext::put(b, at, 8);
    });
    assert!(
        matches!(
            e,
            BtfError::BadExt {
                section: "core_relo",
                ..
            }
        ),
        "{e:?}"
    );
    names(&e, &["core_relo"]);
}

#[test]
fn core_without_target_btf() {
    let obj = Elf::fixture(LAYOUT).parse().unwrap();
    let e = relocate_err(&obj, None);
    assert!(matches!(e, RelocateError::NoTargetBtf { .. }), "{e:?}");
}

#[test]
fn core_instruction_does_not_hold_local_value() {
    // Change the immediate/offset of the first relocated instruction: the object's
    // .BTF.ext no longer describes it.
    let mut elf = Elf::fixture(LAYOUT);
    let ext_blob = elf.data(".BTF.ext");
    let (at, _) = ext::record(&ext_blob, ext::CORE_RELO, 0);
    let insn_off = ext::get(&ext_blob, at) as usize;
    let sec_name_off = ext::get(&ext_blob, at - 8);
    let obj = elf.parse().unwrap();
    let sec = obj
        .btf()
        .unwrap()
        .string_at(sec_name_off)
        .unwrap()
        .to_string();
    let r = elf.range(elf.section(&sec));
    let insn = r.start + insn_off;
    // Both `off` and `imm`: whichever the kind patches no longer matches.
    elf.put_u16(insn + 2, 0x1234);
    elf.put_u32(insn + 4, 0x1234_5678);
    let obj = elf.parse().unwrap();
    let e = relocate_err(&obj, Some(layout_target()));
    assert!(
        matches!(
            core_problem(&e),
            CoreProblem::UnexpectedValue {
                found: 0x1234,
                expected: 0
            }
        ),
        "{e:?}"
    );
    names(&e, &[&sec, "relocation #0", "thing->a"]);
}

#[test]
fn kconfig_extern_of_gigabytes() {
    // `char CONFIG_DEFAULT_HOSTNAME[16]` grown to 4e9 elements (found by fuzzing: the parser
    // allocated the whole .kconfig area first).
    let mut elf = Elf::fixture(EXTERNS);
    let obj = elf.parse().unwrap();
    let b = obj.btf().unwrap();
    let var = b
        .type_by_name_kind("CONFIG_DEFAULT_HOSTNAME", oxbpf::btf::BtfKind::Var)
        .unwrap();
    let mut id = var.size_or_type();
    while b.type_by_id(id).unwrap().kind() != oxbpf::btf::BtfKind::Array {
        id = b.type_by_id(id).unwrap().size_or_type();
    }
    let mut raw = elf.data(".BTF");
    let off = type_record_offset(&raw, id);
    raw[off + 20..off + 24].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    elf.replace_named(".BTF", &raw);
    let e = parse_err(&elf);
    assert!(
        matches!(e, ObjectError::Extern { ref name, .. } if name == "CONFIG_DEFAULT_HOSTNAME"),
        "{e:?}"
    );
    names(
        &e,
        &["CONFIG_DEFAULT_HOSTNAME", ".kconfig area larger than"],
    );
}

// ---------------------------------------------------------------------------------------
// Linking and externs
// ---------------------------------------------------------------------------------------

#[test]
fn strong_extern_unresolved() {
    let obj = Elf::fixture(EXTERNS).parse().unwrap();
    let targets = Targets::custom(
        "self",
        Arc::new(Btf::parse(obj.btf().unwrap().raw_bytes().to_vec()).unwrap()),
    );
    let e = relocate_err(&obj, Some(targets));
    assert!(
        matches!(e, RelocateError::UnresolvedExtern { ref name, what: "kfunc", .. } if name == "bpf_task_acquire"),
        "{e:?}"
    );
    names(&e, &["bpf_task_acquire", "not weak"]);
}

#[test]
fn call_into_the_middle_of_a_function() {
    // `.text`'s first instruction calls `static_helper` (pc+2); make it pc+3, one
    // instruction into that function.
    let mut elf = Elf::fixture(PROGS);
    let text = elf.range(elf.section(".text")).start;
    assert_eq!(elf.u32_at(text + 4), 2);
    elf.put_u32(text + 4, 3);
    let obj = elf.parse().unwrap();
    let e = relocate_err(&obj, None);
    assert!(
        matches!(e, RelocateError::BadCallTarget { ref section, insn: 0, ref target_section, target: 4, .. } if section == ".text" && target_section == ".text"),
        "{e:?}"
    );
    names(&e, &[".text", "instruction 4"]);
}

#[test]
fn call_past_the_section_end() {
    let mut elf = Elf::fixture(PROGS);
    let text = elf.range(elf.section(".text")).start;
    elf.put_u32(text + 4, 0x7fff_0000);
    let obj = elf.parse().unwrap();
    let e = relocate_err(&obj, None);
    assert!(
        matches!(e, RelocateError::BadCallTarget { ref section, insn: 0, target: 0x7fff_0001, .. } if section == ".text"),
        "{e:?}"
    );
}

#[test]
fn call_before_the_section_start() {
    let mut elf = Elf::fixture(PROGS);
    let text = elf.range(elf.section(".text")).start;
    elf.put_u32(text + 4, (-100i32) as u32);
    let obj = elf.parse().unwrap();
    let e = relocate_err(&obj, None);
    assert!(
        matches!(e, RelocateError::BadCallTarget { ref section, insn: 0, target: -99, .. } if section == ".text"),
        "{e:?}"
    );
    names(&e, &["instruction -99"]);
}

// ---------------------------------------------------------------------------------------
// Instructions
// ---------------------------------------------------------------------------------------

#[test]
fn insn_unknown_opcode() {
    let insns = [Insn::new(0xb7, 0, 0, 0, 0), Insn::new(0xff, 0, 0, 0, 0)];
    let e = decode(&insns).unwrap_err();
    assert!(matches!(e, DecodeError { index: 1, .. }), "{e:?}");
    names(&e, &["1"]);
}

#[test]
fn insn_ld_imm64_without_second_half() {
    let insns = [Insn::new(0x18, 1, 0, 0, 7)];
    let e = decode(&insns).unwrap_err();
    assert!(matches!(e, DecodeError { index: 0, .. }), "{e:?}");
}

#[test]
fn insn_register_out_of_range() {
    let insns = [Insn::new(0xb7, 12, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)];
    let e = decode(&insns).unwrap_err();
    assert!(matches!(e, DecodeError { index: 0, .. }), "{e:?}");
}
