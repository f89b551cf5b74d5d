//! Relocations of executable sections, decoded into what they point at so a relocator needs
//! no ELF.

use std::collections::HashMap;

use super::data::DataSection;
use super::elf::{ElfFile, SecRole, Shndx, STT_SECTION};
use super::error::ObjectError;
use super::program::ProgSection;
use crate::insn::opcode::pseudo;

/// What a relocation points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelocTarget {
    /// `ld_imm64` of a map: index into [`Object::maps`](super::Object::maps).
    Map(usize),
    /// `ld_imm64` of global data: index into
    /// [`Object::data_sections`](super::Object::data_sections) and the byte offset within
    /// it (symbol value + the instruction's `imm`, as libbpf computes it).
    Data {
        /// Index into the data sections.
        section: usize,
        /// Byte offset of the referenced value.
        offset: u64,
    },
    /// BPF-to-BPF `call`: the callee's first instruction.
    Call {
        /// Index into [`Object::prog_sections`](super::Object::prog_sections).
        section: usize,
        /// Instruction index within that section.
        insn: usize,
    },
    /// `ld_imm64` of a function address (callbacks; becomes `BPF_PSEUDO_FUNC`).
    FuncAddr {
        /// Index into the program sections.
        section: usize,
        /// Instruction index within that section.
        insn: usize,
    },
    /// `ld_imm64` of an extern variable or `call` of a kfunc: index into
    /// [`Object::externs`](super::Object::externs).
    Extern(usize),
    /// `ld_imm64` of a global in the arena (`.addr_space.1`) at this byte offset.
    Arena {
        /// Byte offset within the arena data.
        offset: u64,
    },
    /// `ld_imm64` of a jump table (`.jumptables`) at this byte offset.
    JumpTable {
        /// Byte offset within `.jumptables`.
        offset: u64,
    },
}

/// One relocation of an executable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloc {
    /// The relocated instruction (index within the section).
    pub insn: usize,
    /// The symbol's name (the section's name for a section symbol).
    pub symbol: String,
    /// The ELF relocation type (`R_BPF_64_64` = 1, `R_BPF_64_32` = 10, ...).
    pub r_type: u32,
    /// What it points at.
    pub target: RelocTarget,
}

/// Decode the relocations of every executable section into `sections[..].relocs`.
pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    sections: &mut [ProgSection],
    maps: &HashMap<(usize, u64), usize>,
    data: &[DataSection],
    externs: &HashMap<usize, usize>,
) -> Result<(), ObjectError> {
    let mut prog_by_elf = vec![None; elf.sections.len()];
    for (i, s) in sections.iter().enumerate() {
        prog_by_elf[s.elf_index] = Some(i);
    }
    let mut data_by_elf = vec![None; elf.sections.len()];
    for (i, d) in data.iter().enumerate() {
        if let Some(e) = d.elf_index {
            data_by_elf[e] = Some(i);
        }
    }
    let ctx = Ctx {
        elf,
        roles,
        prog_by_elf: &prog_by_elf,
        data_by_elf: &data_by_elf,
        maps,
        externs,
    };
    for (ri, role) in roles.iter().enumerate() {
        let target = elf.sections[ri].info as usize;
        let Some(si) = prog_by_elf.get(target).copied().flatten() else {
            continue;
        };
        match role {
            SecRole::Rel => {}
            SecRole::Rela => {
                return Err(ObjectError::section(
                    &elf.sections[ri].name,
                    "RELA relocations of a program section are not supported",
                ))
            }
            _ => continue,
        }
        let mut relocs = Vec::new();
        for (off, sym, r_type) in elf.rel_entries(ri)? {
            if r_type == R_BPF_NONE {
                continue;
            }
            relocs.push(ctx.decode(sections, data, si, off, sym, r_type)?);
        }
        let sec = &mut sections[si];
        sec.relocs.extend(relocs);
        sec.relocs.sort_by_key(|r| r.insn);
    }
    Ok(())
}

/// `R_BPF_NONE`.
const R_BPF_NONE: u32 = 0;

struct Ctx<'e, 'a> {
    elf: &'e ElfFile<'a>,
    roles: &'e [SecRole],
    prog_by_elf: &'e [Option<usize>],
    data_by_elf: &'e [Option<usize>],
    maps: &'e HashMap<(usize, u64), usize>,
    externs: &'e HashMap<usize, usize>,
}

impl Ctx<'_, '_> {
    /// Decode one relocation at byte `off` of program section `si` (libbpf's
    /// `bpf_program__record_reloc`).
    fn decode(
        &self,
        sections: &[ProgSection],
        data: &[DataSection],
        si: usize,
        off: u64,
        sym_idx: usize,
        r_type: u32,
    ) -> Result<Reloc, ObjectError> {
        let sec = &sections[si];
        let err = |symbol: &str, problem: String| ObjectError::Reloc {
            section: sec.name.clone(),
            offset: off,
            symbol: symbol.to_string(),
            problem,
        };
        let sym = self
            .elf
            .symbol(sym_idx)
            .ok_or_else(|| err(&format!("#{sym_idx}"), "symbol index out of range".into()))?;
        let name = self.elf.symbol_name(sym);
        let bad = |problem: String| err(&name, problem);
        if off % 8 != 0 || off / 8 >= sec.insns.len() as u64 {
            return Err(bad(format!(
                "offset is not an instruction of the section ({} instructions)",
                sec.insns.len()
            )));
        }
        let insn_idx = (off / 8) as usize;
        let insn = sec.insns[insn_idx];
        let is_ld = insn.is_ld_imm64();
        if is_ld && insn_idx + 1 >= sec.insns.len() {
            return Err(bad("ld_imm64 without its second half".into()));
        }
        let reloc = |target| Reloc {
            insn: insn_idx,
            symbol: name.clone(),
            r_type,
            target,
        };
        if !insn.is_call() && !is_ld {
            return Err(bad(format!(
                "instruction {insn_idx} (code {:#04x}) is neither ld_imm64 nor call",
                insn.code
            )));
        }
        if sym.shndx == Shndx::Undef {
            let ext = self
                .externs
                .get(&sym_idx)
                .ok_or_else(|| bad("undefined symbol is not an extern".into()))?;
            return Ok(reloc(RelocTarget::Extern(*ext)));
        }
        let imm = i64::from(insn.imm);
        let Shndx::Section(shndx) = sym.shndx else {
            return Err(bad(
                "symbol in a special section (uninitialized global variable?)".into(),
            ));
        };
        let target_prog = self.prog_by_elf.get(shndx).copied().flatten();
        if insn.is_call() {
            if insn.src() != pseudo::CALL {
                return Err(bad(format!(
                    "call with src_reg {} is not a BPF-to-BPF call",
                    insn.src()
                )));
            }
            let tsi = target_prog.ok_or_else(|| {
                bad(format!(
                    "call target in section {} which is not executable",
                    self.elf.section_name(shndx)
                ))
            })?;
            if sym.value % 8 != 0 {
                return Err(bad(format!(
                    "call target offset {} is not aligned",
                    sym.value
                )));
            }
            let target = (sym.value / 8) as i64 + imm + 1;
            let insn = in_section(&sections[tsi], target)
                .ok_or_else(|| bad(format!("call target instruction {target} out of range")))?;
            return Ok(reloc(RelocTarget::Call { section: tsi, insn }));
        }
        // ld_imm64 from here on.
        if let Some(tsi) = target_prog {
            let sum = (sym.value as i64).wrapping_add(imm);
            if sym.value % 8 != 0 || imm % 8 != 0 {
                return Err(bad(format!(
                    "function address offset {}+{imm} is not aligned",
                    sym.value
                )));
            }
            let insn = in_section(&sections[tsi], sum / 8)
                .ok_or_else(|| bad(format!("function address {sum} out of range")))?;
            return Ok(reloc(RelocTarget::FuncAddr { section: tsi, insn }));
        }
        let offset = u64::try_from((sym.value as i64).wrapping_add(imm))
            .map_err(|_| bad(format!("negative offset {}{imm:+}", sym.value)))?;
        match self.roles.get(shndx) {
            Some(SecRole::Arena) => Ok(reloc(RelocTarget::Arena { offset })),
            Some(SecRole::JumpTables) => Ok(reloc(RelocTarget::JumpTable { offset })),
            Some(SecRole::BtfMaps | SecRole::LegacyMaps | SecRole::StructOps) => {
                // A map symbol's value is its definition's offset; a section symbol (static
                // map) adds the instruction's imm.
                let at = if sym.typ == STT_SECTION {
                    offset
                } else {
                    sym.value
                };
                let m = self
                    .maps
                    .get(&(shndx, at))
                    .ok_or_else(|| bad(format!("no map defined at offset {at}")))?;
                Ok(reloc(RelocTarget::Map(*m)))
            }
            Some(SecRole::Data(_)) => {
                let d = self
                    .data_by_elf
                    .get(shndx)
                    .copied()
                    .flatten()
                    .ok_or_else(|| bad("data section not collected".into()))?;
                let size = data.get(d).map_or(0, |s| s.size() as u64);
                if offset > size {
                    return Err(bad(format!(
                        "offset {offset} is past the end of {} ({size} bytes)",
                        self.elf.section_name(shndx)
                    )));
                }
                Ok(reloc(RelocTarget::Data { section: d, offset }))
            }
            _ => Err(bad(format!(
                "section {} is not a map, data or program section",
                self.elf.section_name(shndx)
            ))),
        }
    }
}

/// `target` as an instruction index of `sec`, if inside it.
fn in_section(sec: &ProgSection, target: i64) -> Option<usize> {
    usize::try_from(target)
        .ok()
        .filter(|&t| t < sec.insns.len())
}
