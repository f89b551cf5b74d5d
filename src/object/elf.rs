//! The ELF layer: reads the header, section table and symbol table with the `object` crate
//! into small owned descriptors with per-section symbol lists, then runs the stages that
//! build an [`Object`] from them.

use std::borrow::Cow;

use object::elf;
use object::read::elf::{FileHeader, Rel, SectionHeader, SectionTable, Sym};
use object::{Endianness, SectionIndex};

use super::error::ObjectError;
use super::{data, externs, maps, program, relocs, Object};
use crate::btf::{Btf, BtfExt};
use crate::insn::ByteOrder;

/// `EM_BPF`.
pub(super) const EM_BPF: u16 = 247;
/// Largest NOBITS section we allocate (an array map value is far smaller than this), and
/// the most all NOBITS sections of an object may add up to (a few header bytes each must not
/// make us allocate gigabytes).
const MAX_NOBITS: u64 = 1 << 28;

/// A section header, with what the stages need.
pub(super) struct ElfSection<'a> {
    pub name: Cow<'a, str>,
    pub sh_type: u32,
    pub flags: u64,
    pub size: u64,
    pub info: u32,
    pub link: u32,
    pub entsize: u64,
    header: &'a elf::SectionHeader64<Endianness>,
}

/// Binding, type and visibility constants we compare against.
pub(super) const STB_GLOBAL: u8 = 1;
pub(super) const STB_WEAK: u8 = 2;
pub(super) const STT_NOTYPE: u8 = 0;
pub(super) const STT_OBJECT: u8 = 1;
pub(super) const STT_FUNC: u8 = 2;
pub(super) const STT_SECTION: u8 = 3;
pub(super) const STT_FILE: u8 = 4;

/// Where a symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shndx {
    /// `SHN_UNDEF`: an extern.
    Undef,
    /// A section index.
    Section(usize),
    /// `SHN_ABS`, `SHN_COMMON` or another reserved index.
    Special(u16),
}

/// A symbol table entry.
pub(super) struct ElfSymbol<'a> {
    pub name: Cow<'a, str>,
    pub shndx: Shndx,
    pub value: u64,
    pub size: u64,
    pub bind: u8,
    pub typ: u8,
    /// `STV_HIDDEN` or `STV_INTERNAL`.
    pub hidden: bool,
}

impl ElfSymbol<'_> {
    /// Global or weak.
    pub fn is_global(&self) -> bool {
        self.bind == STB_GLOBAL || self.bind == STB_WEAK
    }
}

/// The parsed ELF: sections, symbols, and symbol indices per section.
pub(super) struct ElfFile<'a> {
    data: &'a [u8],
    pub endian: Endianness,
    pub order: ByteOrder,
    pub sections: Vec<ElfSection<'a>>,
    pub symbols: Vec<ElfSymbol<'a>>,
    /// Symbol indices defined in each section, by section index.
    pub by_section: Vec<Vec<usize>>,
    pub symtab_index: usize,
    /// NOBITS bytes still allowed (see [`MAX_NOBITS`]).
    nobits_left: std::cell::Cell<u64>,
}

impl<'a> ElfFile<'a> {
    pub fn read(data: &'a [u8]) -> Result<Self, ObjectError> {
        let ident = data
            .get(..16)
            .ok_or_else(|| ObjectError::Elf("file shorter than the ELF identification".into()))?;
        if ident[..4] != *b"\x7fELF" {
            return Err(ObjectError::Elf("bad ELF magic".into()));
        }
        match ident[4] {
            2 => {}
            1 => return Err(ObjectError::Elf32),
            c => return Err(ObjectError::Elf(format!("bad ELF class {c}"))),
        }
        let header = elf::FileHeader64::<Endianness>::parse(data)?;
        let endian = header.endian()?;
        let order = match endian {
            Endianness::Little => ByteOrder::Little,
            Endianness::Big => ByteOrder::Big,
        };
        let e_type = header.e_type(endian).0;
        if e_type != elf::ET_REL.0 {
            return Err(ObjectError::NotRelocatable(e_type));
        }
        // Very old clang left e_machine at EM_NONE; libbpf accepts that too.
        let machine = header.e_machine(endian).0;
        if machine != EM_BPF && machine != 0 {
            return Err(ObjectError::WrongMachine(machine));
        }
        let table = header.sections(endian, data)?;
        let sections = read_sections(&table, endian)?;
        let (symtab_index, symtab) = table
            .enumerate()
            .find(|(_, s)| s.sh_type(endian) == elf::SHT_SYMTAB)
            .ok_or(ObjectError::NoSymbolTable)?;
        let symtab =
            object::read::elf::SymbolTable::parse(endian, data, &table, symtab_index, symtab)?;
        let mut symbols = Vec::with_capacity(symtab.len());
        let mut by_section = vec![Vec::new(); sections.len()];
        for (i, sym) in symtab.enumerate() {
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(|_| ObjectError::Elf(format!("symbol #{}: bad name offset", i.0)))?;
            let raw = sym.st_shndx(endian).0;
            let shndx = if raw == elf::SHN_UNDEF.0 {
                Shndx::Undef
            } else {
                match symtab.symbol_section(endian, sym, i)? {
                    Some(SectionIndex(s)) if s < sections.len() => {
                        by_section[s].push(i.0);
                        Shndx::Section(s)
                    }
                    Some(SectionIndex(s)) => {
                        return Err(ObjectError::Elf(format!(
                            "symbol {}: section index {s} out of range",
                            String::from_utf8_lossy(name)
                        )))
                    }
                    None => Shndx::Special(raw),
                }
            };
            let vis = sym.st_visibility().0;
            symbols.push(ElfSymbol {
                name: String::from_utf8_lossy(name),
                shndx,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                bind: sym.st_bind().0,
                typ: sym.st_type().0,
                hidden: vis == elf::STV_HIDDEN.0 || vis == elf::STV_INTERNAL.0,
            });
        }
        Ok(ElfFile {
            data,
            endian,
            order,
            sections,
            symbols,
            by_section,
            symtab_index: symtab_index.0,
            nobits_left: std::cell::Cell::new(MAX_NOBITS),
        })
    }

    /// The bytes of section `idx` (empty for NOBITS).
    pub fn section_data(&self, idx: usize) -> Result<&'a [u8], ObjectError> {
        let s = self
            .sections
            .get(idx)
            .ok_or_else(|| ObjectError::Elf(format!("section index {idx} out of range")))?;
        s.header
            .data(self.endian, self.data)
            .map_err(|_| ObjectError::section(&s.name, "offset or size past the end of the file"))
    }

    /// The name of section `idx` (`<section N>` when out of range).
    pub fn section_name(&self, idx: usize) -> Cow<'_, str> {
        match self.sections.get(idx) {
            Some(s) => Cow::Borrowed(&s.name),
            None => Cow::Owned(format!("<section {idx}>")),
        }
    }

    /// A symbol's display name: a section symbol is named after its section.
    pub fn symbol_name(&self, sym: &ElfSymbol<'_>) -> String {
        match (sym.typ, sym.shndx) {
            (STT_SECTION, Shndx::Section(s)) if sym.name.is_empty() => {
                self.section_name(s).into_owned()
            }
            _ => sym.name.to_string(),
        }
    }

    /// The entries of relocation section `idx`, as (offset, symbol index, type).
    pub fn rel_entries(&self, idx: usize) -> Result<Vec<(u64, usize, u32)>, ObjectError> {
        let s = &self.sections[idx];
        if s.entsize != 16 {
            return Err(ObjectError::section(
                &s.name,
                format!("entry size {} is not 16 (Elf64_Rel)", s.entsize),
            ));
        }
        if s.link as usize != self.symtab_index {
            return Err(ObjectError::section(
                &s.name,
                "not linked to the symbol table",
            ));
        }
        let rels = s
            .header
            .rel(self.endian, self.data)
            .map_err(|_| ObjectError::section(&s.name, "offset or size past the end of the file"))?
            .map(|(r, _)| r)
            .unwrap_or_default();
        Ok(rels
            .iter()
            .map(|r| {
                (
                    r.r_offset(self.endian),
                    r.r_sym(self.endian) as usize,
                    r.r_type(self.endian).0,
                )
            })
            .collect())
    }

    /// The symbol at `index`, if in range.
    pub fn symbol(&self, index: usize) -> Option<&ElfSymbol<'a>> {
        self.symbols.get(index)
    }

    /// Read a u32 in the object's byte order.
    pub fn u32_at(&self, bytes: &[u8], off: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(off..off.checked_add(4)?)?.try_into().ok()?;
        Some(match self.order {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        })
    }
}

fn read_sections<'a>(
    table: &SectionTable<'a, elf::FileHeader64<Endianness>, &'a [u8]>,
    endian: Endianness,
) -> Result<Vec<ElfSection<'a>>, ObjectError> {
    table
        .enumerate()
        .map(|(i, h)| {
            let name = table
                .section_name(endian, h)
                .map_err(|_| ObjectError::Elf(format!("section #{}: bad name offset", i.0)))?;
            Ok(ElfSection {
                name: String::from_utf8_lossy(name),
                sh_type: h.sh_type(endian).0,
                flags: h.sh_flags(endian).0,
                size: h.sh_size(endian),
                info: h.sh_info(endian),
                link: h.sh_link(endian),
                entsize: h.sh_entsize(endian),
                header: h,
            })
        })
        .collect()
}

/// What each section is for, decided once from its name, type and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecRole {
    Other,
    License,
    Version,
    Btf,
    BtfExt,
    BtfMaps,
    LegacyMaps,
    StructOps,
    Exec,
    Data(super::DataKind),
    Arena,
    JumpTables,
    Rel,
    Rela,
}

pub(super) fn classify(s: &ElfSection<'_>) -> SecRole {
    let name: &str = &s.name;
    let progbits = s.sh_type == elf::SHT_PROGBITS.0;
    let dotted = |base: &str| {
        name.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    match name {
        "license" => SecRole::License,
        "version" => SecRole::Version,
        ".BTF" => SecRole::Btf,
        ".BTF.ext" => SecRole::BtfExt,
        ".maps" => SecRole::BtfMaps,
        ".addr_space.1" => SecRole::Arena,
        ".jumptables" => SecRole::JumpTables,
        ".struct_ops" | ".struct_ops.link" | "?.struct_ops" | "?.struct_ops.link" => {
            SecRole::StructOps
        }
        _ if name == "maps" || name.starts_with("maps/") => SecRole::LegacyMaps,
        _ if progbits && s.flags & elf::SHF_EXECINSTR.0 != 0 => {
            if s.size > 0 {
                SecRole::Exec
            } else {
                SecRole::Other
            }
        }
        _ if progbits && s.size > 0 && dotted(".data") => SecRole::Data(super::DataKind::Data),
        _ if progbits && s.size > 0 && dotted(".rodata") => SecRole::Data(super::DataKind::Rodata),
        _ if s.sh_type == elf::SHT_NOBITS.0 && s.size > 0 && dotted(".bss") => {
            SecRole::Data(super::DataKind::Bss)
        }
        _ if s.sh_type == elf::SHT_REL.0 => SecRole::Rel,
        _ if s.sh_type == elf::SHT_RELA.0 => SecRole::Rela,
        _ => SecRole::Other,
    }
}

/// A copy of `data` starting at an 8-byte boundary (the `object` crate reads aligned
/// structs).
struct Aligned {
    buf: Vec<u8>,
    off: usize,
}

impl Aligned {
    fn new(data: &[u8]) -> Option<Self> {
        let mut buf = vec![0u8; data.len() + 8];
        let off = buf.as_ptr().align_offset(8);
        buf.get_mut(off..off + data.len())?.copy_from_slice(data);
        Some(Aligned { buf, off })
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[self.off..]
    }
}

/// Parse an object named `name`.
pub(super) fn parse(data: &[u8], name: &str) -> Result<Object, ObjectError> {
    let copy;
    let data = if data.as_ptr().align_offset(8) == 0 {
        data
    } else {
        copy = Aligned::new(data).ok_or_else(|| ObjectError::Elf("cannot align input".into()))?;
        &copy.bytes()[..data.len()]
    };
    let elf = ElfFile::read(data)?;
    let roles: Vec<SecRole> = elf.sections.iter().map(classify).collect();

    let mut license = None;
    let mut kern_version = None;
    let mut btf = None;
    let mut btf_ext_bytes = None;
    let mut arena_data = None;
    let mut jump_tables = None;
    for (i, role) in roles.iter().enumerate() {
        match role {
            SecRole::License => {
                let bytes = elf.section_data(i)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                license = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
            }
            SecRole::Version => {
                let bytes = elf.section_data(i)?;
                if bytes.len() != 4 {
                    return Err(ObjectError::section(
                        "version",
                        format!("size {} is not 4", bytes.len()),
                    ));
                }
                kern_version = elf.u32_at(bytes, 0);
            }
            SecRole::Btf => {
                let bytes = elf.section_data(i)?.to_vec();
                btf = Some(Btf::parse(bytes).map_err(|source| ObjectError::Btf {
                    section: ".BTF",
                    source,
                })?);
            }
            SecRole::BtfExt => btf_ext_bytes = Some(elf.section_data(i)?),
            SecRole::Arena => arena_data = Some(nobits_or_data(&elf, i)?),
            SecRole::JumpTables => jump_tables = Some(elf.section_data(i)?.to_vec()),
            _ => {}
        }
    }
    // Like libbpf: .BTF.ext without .BTF is ignored.
    let btf_ext = match (&btf, btf_ext_bytes) {
        (Some(b), Some(bytes)) => {
            Some(BtfExt::parse(bytes, b).map_err(|source| ObjectError::Btf {
                section: ".BTF.ext",
                source,
            })?)
        }
        _ => None,
    };

    let progs = program::collect(&elf, &roles, btf_ext.as_ref())?;
    let mut data_sections = data::collect(&elf, &roles, btf.as_ref(), name)?;
    let ext = externs::collect(&elf, btf.as_ref())?;
    if let Some(kconfig) = ext.kconfig_section(name) {
        data_sections.push(kconfig);
    }
    let maps = maps::collect(&elf, &roles, btf.as_ref(), &progs)?;
    let mut prog_sections = progs.sections;
    relocs::collect(
        &elf,
        &roles,
        &mut prog_sections,
        &maps.index,
        &data_sections,
        &ext.by_symbol,
    )?;
    let datasec_layout = datasec_layout(&elf);
    Ok(Object {
        name: name.to_string(),
        byte_order: elf.order,
        datasec_layout,
        license,
        kern_version,
        btf,
        btf_ext,
        prog_sections,
        functions: progs.functions,
        programs: progs.programs,
        maps: maps.maps,
        warnings: maps.warnings,
        data_sections,
        externs: ext.externs,
        arena_data,
        jump_tables,
    })
}

/// What libbpf's DATASEC fix-up reads from the ELF: every section's size, and the global
/// (or weak) `STT_OBJECT` symbols by name (the first of a name wins).
fn datasec_layout(elf: &ElfFile<'_>) -> crate::btf::DatasecLayout {
    let mut layout = crate::btf::DatasecLayout::default();
    for s in &elf.sections {
        layout
            .section_sizes
            .entry(s.name.to_string())
            .or_insert(u32::try_from(s.size).unwrap_or(u32::MAX));
    }
    for sym in &elf.symbols {
        if sym.typ == STT_OBJECT && sym.is_global() && !sym.name.is_empty() {
            layout
                .symbols
                .entry(sym.name.to_string())
                .or_insert(crate::btf::VarSymbol {
                    offset: u32::try_from(sym.value).unwrap_or(u32::MAX),
                    hidden: sym.hidden,
                });
        }
    }
    layout
}

/// The bytes of a data section: its contents, or zeros for NOBITS.
pub(super) fn nobits_or_data(elf: &ElfFile<'_>, idx: usize) -> Result<Vec<u8>, ObjectError> {
    let s = &elf.sections[idx];
    if s.sh_type == elf::SHT_NOBITS.0 {
        if s.size > MAX_NOBITS {
            return Err(ObjectError::section(
                &s.name,
                format!("size {} too large", s.size),
            ));
        }
        let left = elf.nobits_left.get().checked_sub(s.size).ok_or_else(|| {
            ObjectError::section(
                &s.name,
                format!(
                    "size {}: NOBITS sections add up to more than {MAX_NOBITS} bytes",
                    s.size
                ),
            )
        })?;
        elf.nobits_left.set(left);
        return Ok(vec![0; s.size as usize]);
    }
    Ok(elf.section_data(idx)?.to_vec())
}
