//! Subprogram linking, as libbpf does it (`bpf_object__reloc_code`): each entry program gets
//! its own copy of every `.text` function it calls, appended depth-first in the order the
//! calls are met; call and function-address offsets are fixed; func_info, line_info, map
//! references and CO-RE decisions follow the copied instructions.

use std::collections::HashMap;

use super::error::RelocateError;
use super::program::{MapRef, ModuleRef, Placement, RelocatedProgram};
use crate::btf::{BtfExt, ExtSection, FuncInfo, LineInfo};
use crate::insn::Insn;
use crate::object::{Object, RelocTarget};
use crate::relocate::core::CoreDecision;
use crate::syscall::{FuncInfoRec, LineInfoRec};

/// What section-level relocation produced, consumed while copying functions.
pub(crate) struct SectionState {
    /// Each section's instructions after CO-RE and data relocations.
    pub insns: Vec<Vec<Insn>>,
    /// Map references by (section, instruction).
    pub map_refs: HashMap<(usize, usize), MapRef>,
    /// Module references by (section, instruction).
    pub module_refs: HashMap<(usize, usize), ModuleRef>,
    /// CO-RE decisions per section, sorted by instruction.
    pub core: Vec<Vec<CoreDecision>>,
}

/// Links entry program `program` of `obj`.
pub(crate) fn link_program(
    obj: &Object,
    state: &SectionState,
    program: usize,
) -> Result<RelocatedProgram, RelocateError> {
    let prog = &obj.programs()[program];
    let mut linker = Linker {
        obj,
        state,
        program: prog.name(),
        insns: Vec::new(),
        placements: Vec::new(),
        placed: HashMap::new(),
    };
    linker.place(prog.function())?;
    // Depth-first: placing a function walks it, which may place more.
    let mut out = RelocatedProgram {
        program,
        name: prog.name().to_string(),
        insns: Vec::new(),
        func_info: Vec::new(),
        line_info: Vec::new(),
        map_refs: Vec::new(),
        module_refs: Vec::new(),
        placements: Vec::new(),
        core: Vec::new(),
    };
    let ext = obj.btf_ext();
    for p in &linker.placements {
        let Some(f) = obj.functions().get(p.function) else {
            continue;
        };
        let sec = &obj.prog_sections()[f.section];
        let shift = |i: usize| p.start + (i - f.insn_off);
        for i in f.insn_range() {
            if let Some(r) = state.map_refs.get(&(f.section, i)) {
                out.map_refs.push(MapRef {
                    insn: shift(i),
                    ..*r
                });
            }
            if let Some(r) = state.module_refs.get(&(f.section, i)) {
                out.module_refs.push(ModuleRef {
                    insn: shift(i),
                    ..r.clone()
                });
            }
        }
        if let Some(decisions) = state.core.get(f.section) {
            for d in decisions
                .iter()
                .filter(|d| f.insn_range().contains(&d.insn))
            {
                let mut d = d.clone();
                d.insn = shift(d.insn);
                out.core.push(d);
            }
        }
        if let Some(ext) = ext {
            copy_func_info(ext, &sec.name, f.insn_off, f.insn_len, p.start, &mut out);
            copy_line_info(ext, &sec.name, f.insn_off, f.insn_len, p.start, &mut out);
        }
    }
    out.insns = linker.insns;
    out.placements = linker.placements;
    Ok(out)
}

fn section_records<'e, T>(sections: &'e [ExtSection<T>], name: &str) -> &'e [T] {
    sections
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.records.as_slice())
        .unwrap_or_default()
}

fn copy_func_info(
    ext: &BtfExt,
    section: &str,
    off: usize,
    len: usize,
    start: usize,
    out: &mut RelocatedProgram,
) {
    for r in section_records::<FuncInfo>(&ext.func_info, section) {
        let i = (r.insn_off / 8) as usize;
        if r.insn_off % 8 == 0 && (off..off + len).contains(&i) {
            out.func_info.push(FuncInfoRec {
                insn_off: (start + i - off) as u32,
                type_id: r.type_id,
            });
        }
    }
}

fn copy_line_info(
    ext: &BtfExt,
    section: &str,
    off: usize,
    len: usize,
    start: usize,
    out: &mut RelocatedProgram,
) {
    for r in section_records::<LineInfo>(&ext.line_info, section) {
        let i = (r.insn_off / 8) as usize;
        if r.insn_off % 8 == 0 && (off..off + len).contains(&i) {
            out.line_info.push(LineInfoRec {
                insn_off: (start + i - off) as u32,
                file_name_off: r.file_name_off,
                line_off: r.line_off,
                line_col: r.line_col(),
            });
        }
    }
}

struct Linker<'a> {
    obj: &'a Object,
    state: &'a SectionState,
    program: &'a str,
    insns: Vec<Insn>,
    placements: Vec<Placement>,
    /// Function index → its first instruction in `insns`.
    placed: HashMap<usize, usize>,
}

impl Linker<'_> {
    /// Appends function `fidx` and, depth-first, everything it calls.
    fn place(&mut self, fidx: usize) -> Result<usize, RelocateError> {
        let obj = self.obj;
        let f = &obj.functions()[fidx];
        let start = self.insns.len();
        let body = self
            .state
            .insns
            .get(f.section)
            .and_then(|s| s.get(f.insn_range()))
            .unwrap_or_default();
        self.insns.extend_from_slice(body);
        if self.insns.len() > i32::MAX as usize {
            return Err(RelocateError::TooLarge {
                program: self.program.to_string(),
                len: self.insns.len(),
            });
        }
        self.placed.insert(fidx, start);
        self.placements.push(Placement {
            function: fidx,
            name: f.name.clone(),
            start,
            len: f.insn_len,
        });
        let section = &obj.prog_sections()[f.section];
        let mut i = 0;
        while i < f.insn_len {
            let sec_insn = f.insn_off + i;
            let at = start + i;
            let insn = self.insns[at];
            i += if insn.is_ld_imm64() { 2 } else { 1 };
            let reloc = section
                .relocs
                .binary_search_by_key(&sec_insn, |r| r.insn)
                .ok()
                .and_then(|k| section.relocs.get(k));
            let target = match reloc.map(|r| r.target) {
                Some(RelocTarget::Call { section, insn }) => (section, insn),
                Some(RelocTarget::FuncAddr { section, insn }) => (section, insn),
                Some(_) => continue,
                None if insn.is_pseudo_call() || insn.is_pseudo_func() => {
                    // A call to a static function of the same section carries no relocation:
                    // its imm is already relative to the instruction's section position.
                    let t = sec_insn as i64 + insn.imm as i64 + 1;
                    if t < 0 {
                        return Err(self.bad_target(&section.name, sec_insn, &section.name, t));
                    }
                    (f.section, t as usize)
                }
                None => continue,
            };
            let callee = self
                .function_starting_at(target.0, target.1)
                .ok_or_else(|| {
                    let tname = obj
                        .prog_sections()
                        .get(target.0)
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    self.bad_target(&section.name, sec_insn, &tname, target.1 as i64)
                })?;
            let callee_start = match self.placed.get(&callee) {
                Some(s) => *s,
                None => self.place(callee)?,
            };
            let rel = callee_start as i64 - at as i64 - 1;
            let slot = &mut self.insns[at];
            slot.imm = rel as i32;
            if reloc.is_some() && slot.is_call() {
                // Calls through a relocation are BPF-to-BPF calls whatever clang wrote.
                slot.set_src(crate::insn::opcode::pseudo::CALL);
            }
        }
        Ok(start)
    }

    fn function_starting_at(&self, section: usize, insn: usize) -> Option<usize> {
        let sec = self.obj.prog_sections().get(section)?;
        sec.functions.iter().copied().find(|&f| {
            self.obj
                .functions()
                .get(f)
                .is_some_and(|f| f.insn_off == insn)
        })
    }

    fn bad_target(&self, section: &str, insn: usize, tsec: &str, target: i64) -> RelocateError {
        RelocateError::BadCallTarget {
            program: self.program.to_string(),
            section: section.to_string(),
            insn,
            target_section: tsec.to_string(),
            target,
        }
    }
}
