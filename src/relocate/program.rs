//! [`RelocatedProgram`]: one entry program with its subprograms appended and every
//! relocation applied, as it will be handed to the kernel except for map fds.

use crate::insn::Insn;
use crate::relocate::core::CoreDecision;
use crate::syscall::{FuncInfoRec, LineInfoRec};

/// The map an instruction refers to, before map fds exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapSlot {
    /// A map definition: index into [`Object::maps`](crate::object::Object::maps).
    Map(usize),
    /// A global data section's internal map: index into
    /// [`Object::data_sections`](crate::object::Object::data_sections).
    Data(usize),
}

/// How an `ld_imm64` refers to its map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapRefKind {
    /// `BPF_PSEUDO_MAP_FD`: the map itself (`imm` = fd).
    Fd,
    /// `BPF_PSEUDO_MAP_VALUE`: an address inside element 0 (`imm` = fd, next `imm` = offset).
    Value,
}

/// An `ld_imm64` whose first `imm` must become a map fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapRef {
    /// Index of the first half of the `ld_imm64` in [`RelocatedProgram::insns`].
    pub insn: usize,
    /// The map.
    pub map: MapSlot,
    /// Map or map value.
    pub kind: MapRefKind,
}

/// A kfunc call whose `off` must become the `fd_array` slot of its module's BTF.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleRef {
    /// Index of the `call` (kfunc) or first half of the `ld_imm64` (typed ksym).
    pub insn: usize,
    /// The kernel module whose BTF defines the symbol.
    pub module: String,
    /// Whether this is a kfunc call (`off` = fd_array index) or a typed ksym (`imm` of the
    /// second half = BTF object fd).
    pub is_call: bool,
}

/// A function copied into a program: where its instructions landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index into [`Object::functions`](crate::object::Object::functions).
    pub function: usize,
    /// The function's name.
    pub name: String,
    /// First instruction in [`RelocatedProgram::insns`].
    pub start: usize,
    /// Number of instructions.
    pub len: usize,
}

/// One entry program after relocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocatedProgram {
    /// Index into [`Object::programs`](crate::object::Object::programs).
    pub program: usize,
    /// The program's name.
    pub name: String,
    /// The final instructions (map `imm`s are 0 until the loader writes the fds).
    pub insns: Vec<Insn>,
    /// func_info for the kernel (instruction indices), when the object has BTF.
    pub func_info: Vec<FuncInfoRec>,
    /// line_info for the kernel (instruction indices).
    pub line_info: Vec<LineInfoRec>,
    /// Instructions that need a map fd.
    pub map_refs: Vec<MapRef>,
    /// Instructions that refer to a kernel module's BTF object.
    pub module_refs: Vec<ModuleRef>,
    /// The functions in this program, the entry first, subprograms in the order they were
    /// appended.
    pub placements: Vec<Placement>,
    /// The CO-RE decisions that apply to this program, with `insn` rewritten to the final
    /// instruction index.
    pub core: Vec<CoreDecision>,
}

impl RelocatedProgram {
    /// The CO-RE decision at final instruction `insn`.
    pub fn core_decision_at(&self, insn: usize) -> Option<&CoreDecision> {
        self.core.iter().find(|d| d.insn == insn)
    }

    /// The line_info entry that covers final instruction `insn` (the last one at or before
    /// it).
    pub fn line_info_at(&self, insn: usize) -> Option<&LineInfoRec> {
        let i = self
            .line_info
            .partition_point(|l| l.insn_off as usize <= insn);
        i.checked_sub(1).and_then(|i| self.line_info.get(i))
    }

    /// The function that final instruction `insn` belongs to.
    pub fn function_at(&self, insn: usize) -> Option<&Placement> {
        self.placements
            .iter()
            .find(|p| (p.start..p.start + p.len).contains(&insn))
    }
}
