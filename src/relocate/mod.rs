//! Relocation: CO-RE, maps and global data, subprogram calls, externs.
//!
//! Pure: takes an [`Object`] and what the loader learned about the system (the target BTF,
//! the externs' values) and returns [`RelocatedProgram`]s; never makes a syscall. The order
//! is libbpf's, so the instructions match what libbpf hands the kernel:
//!
//! 1. CO-RE ([`core`]) on each section's instructions, skipping programs that won't load;
//! 2. maps, global data and externs in `ld_imm64`s, kfunc calls (`data`);
//! 3. for each entry program, the `.text` functions it calls appended depth-first, call
//!    offsets fixed, func_info/line_info/CO-RE decisions carried along (`link`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxbpf::object::Object;
//! use oxbpf::relocate::{relocate, RelocateOptions, core::Targets};
//!
//! let obj = Object::open("prog.bpf.o")?;
//! let btf = oxbpf::loader::kernel_btf::vmlinux()?;
//! let out = relocate(&obj, RelocateOptions { targets: Some(Targets::kernel(btf)), ..Default::default() })?;
//! for p in &out.programs {
//!     println!("{}: {} instructions, {} maps", p.name, p.insns.len(), p.map_refs.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod core;
mod data;
mod error;
mod externs;
mod link;
mod program;

#[cfg(test)]
mod tests;

pub use error::RelocateError;
pub use externs::ExternValue;
pub use program::{MapRef, MapRefKind, MapSlot, ModuleRef, Placement, RelocatedProgram};

use self::core::{CoreDecision, CoreRelocator, Targets};
use crate::object::Object;

/// What relocation needs besides the object.
#[derive(Debug, Default)]
pub struct RelocateOptions<'a> {
    /// The CO-RE target (the running kernel's BTF, or a user-given file). `None` is fine for
    /// objects without CO-RE relocations.
    pub targets: Option<Targets>,
    /// The externs' values, by index into [`Object::externs`]; missing entries count as
    /// unresolved.
    pub externs: &'a [ExternValue],
    /// The programs to relocate (indices into [`Object::programs`]); `None`: every program
    /// whose autoload is on.
    pub programs: Option<&'a [usize]>,
    /// Where the arena globals (`.addr_space.1`) start in the arena map's memory: libbpf puts
    /// them at its end (arena size minus their page-rounded size) where the kernel allows
    /// such offsets, else at 0.
    pub arena_data_offset: u64,
}

/// Every relocated program, and every CO-RE decision taken.
#[derive(Debug, Clone, Default)]
pub struct Relocated {
    /// The relocated entry programs, in object order.
    pub programs: Vec<RelocatedProgram>,
    /// Every CO-RE decision, per section in record order (section-level instruction
    /// indices; a program's own list, [`RelocatedProgram::core`], has final indices).
    pub core: Vec<CoreDecision>,
}

impl Relocated {
    /// The relocated program named `name`.
    pub fn program(&self, name: &str) -> Option<&RelocatedProgram> {
        self.programs.iter().find(|p| p.name == name)
    }
}

/// Relocates the programs of `obj`.
pub fn relocate(obj: &Object, opts: RelocateOptions<'_>) -> Result<Relocated, RelocateError> {
    let mut targets = opts.targets;
    let selected: Vec<usize> = match opts.programs {
        Some(p) => p.to_vec(),
        None => (0..obj.programs().len())
            .filter(|&i| obj.programs()[i].autoload())
            .collect(),
    };
    let loaded_fn = |fidx: usize| -> bool {
        match obj.functions().get(fidx).and_then(|f| f.program) {
            Some(p) => selected.contains(&p),
            None => true, // subprograms: may be called by any program
        }
    };

    let mut state = link::SectionState {
        insns: obj
            .prog_sections()
            .iter()
            .map(|s| s.insns.clone())
            .collect(),
        map_refs: Default::default(),
        module_refs: Default::default(),
        core: vec![Vec::new(); obj.prog_sections().len()],
    };
    // Sections with CO-RE decisions, in `.BTF.ext` order.
    let mut core_sections = Vec::new();

    // 1. CO-RE.
    if let Some(ext) = obj.btf_ext() {
        let mut relocator: Option<CoreRelocator<'_>> = None;
        for sec in ext.core_relos.iter().filter(|s| !s.records.is_empty()) {
            let Some(sidx) = obj.prog_sections().iter().position(|s| s.name == sec.name) else {
                continue;
            };
            let section = &obj.prog_sections()[sidx];
            // Only the records of functions that will load (libbpf skips the others).
            let keep = |i: usize| {
                section
                    .functions
                    .iter()
                    .copied()
                    .find(|&f| obj.functions()[f].insn_range().contains(&i))
                    .is_none_or(loaded_fn)
            };
            let count = sec
                .records
                .iter()
                .filter(|r| keep((r.insn_off / 8) as usize))
                .count();
            if count == 0 {
                continue;
            }
            if relocator.is_none() {
                let local = obj.btf().ok_or_else(|| RelocateError::NoLocalBtf {
                    section: sec.name.clone(),
                })?;
                let targets = targets.take().ok_or_else(|| RelocateError::NoTargetBtf {
                    section: sec.name.clone(),
                    count,
                })?;
                relocator =
                    Some(CoreRelocator::new(local, targets).with_byte_order(obj.byte_order()));
            }
            let Some(r) = relocator.as_mut() else {
                continue;
            };
            let mut decisions =
                r.relocate_section_where(&sec.name, &sec.records, &mut state.insns[sidx], keep)?;
            decisions.sort_by_key(|d| d.insn);
            state.core[sidx] = decisions;
            core_sections.push(sidx);
        }
    }

    // 2. Maps, data, externs.
    let mut refs = data::Refs::default();
    for (sidx, section) in obj.prog_sections().iter().enumerate() {
        let used = section.functions.iter().copied().any(loaded_fn) || section.functions.is_empty();
        if !used {
            continue;
        }
        data::relocate_section(
            obj,
            sidx,
            section,
            &mut state.insns[sidx],
            opts.externs,
            opts.arena_data_offset,
            &mut refs,
        )?;
    }
    state.map_refs = refs.maps;
    state.module_refs = refs.modules;

    // 3. Link.
    let mut programs = Vec::with_capacity(selected.len());
    for p in selected {
        if p < obj.programs().len() {
            programs.push(link::link_program(obj, &state, p)?);
        }
    }
    // Every decision once, moved (not cloned) out of the sections, in record order.
    let mut core = Vec::new();
    for sidx in core_sections {
        if let Some(mut d) = state.core.get_mut(sidx).map(std::mem::take) {
            d.sort_by_key(|d| d.record);
            core.append(&mut d);
        }
    }
    Ok(Relocated { programs, core })
}
