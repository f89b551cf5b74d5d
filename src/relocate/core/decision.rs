//! [`CoreDecision`]: what one CO-RE relocation did and why, as plain data for tools
//! (`oxbpf core check`) and error messages.

use std::fmt;

use crate::btf::{BtfKind, CoreReloKind};
use crate::insn::Insn;

/// The record of one CO-RE relocation: where it applies, what the local BTF asked for, which
/// target type matched, and what happened to the instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreDecision {
    /// The ELF section (`kprobe/do_sys_open`, `.text`).
    pub section: String,
    /// Index of the record among the section's CO-RE records.
    pub record: usize,
    /// Instruction index within the section.
    pub insn: usize,
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The local side (the object's BTF).
    pub local: LocalSide,
    /// The target candidate that matched (the first, when several agree); `None` when none
    /// did, and for `type_id_local`, which needs none.
    pub target: Option<TargetSide>,
    /// Why no candidate matched, when none did.
    pub unresolved: Option<Unresolved>,
    /// The value computed from the local BTF (what the compiler put in the instruction).
    pub old_value: u64,
    /// The value for the target (meaningless when poisoned).
    pub new_value: u64,
    /// What was done to the instruction.
    pub outcome: Outcome,
    /// The instruction(s) before: one, or both halves of an `ld_imm64`.
    pub before: Vec<Insn>,
    /// The instruction(s) after.
    pub after: Vec<Insn>,
}

/// The local side of a relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSide {
    /// The root type id in the local BTF.
    pub type_id: u32,
    /// The root type as C (`struct task_struct___old`).
    pub type_name: String,
    /// The raw access string of the record (`0:1:2`).
    pub access: String,
    /// The access as C (`task_struct->comm[3]`, `enum pid_type::PIDTYPE_TGID`).
    pub path: String,
    /// Bit offset of the field from the root (0 for type and enumerator relocations).
    pub bit_offset: u32,
}

/// The target side of a relocation: the candidate that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSide {
    /// Name of the target BTF (`vmlinux`, a module name, or a custom target's name).
    pub btf_name: String,
    /// Index of that BTF in [`Targets`](super::Targets) (0 is the primary target).
    pub btf_index: usize,
    /// The matching type's id in that BTF.
    pub type_id: u32,
    /// The matching type as C.
    pub type_name: String,
    /// The target's raw access spec (`0:60:3`), `0` for type relocations.
    pub access: String,
    /// The access as C in the target.
    pub path: String,
    /// Bit offset of the field in the target.
    pub bit_offset: u32,
    /// How many candidates matched (all agreeing).
    pub matches: usize,
}

/// Why no target candidate matched a relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// No type of the local type's kind and essential name exists in any target searched.
    NoCandidates {
        /// The essential name searched for (`task_struct` for `task_struct___old`).
        name: String,
        /// The kind searched for.
        kind: BtfKind,
        /// The target BTFs searched (`vmlinux`, modules).
        searched: Vec<String>,
    },
    /// Candidates exist but none matches; why, per candidate.
    NoMatch(Vec<CandidateMiss>),
}

/// One candidate that did not match, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateMiss {
    /// Name of the BTF holding it.
    pub btf_name: String,
    /// Its type id there.
    pub type_id: u32,
    /// The candidate as C.
    pub type_name: String,
    /// Why it does not match.
    pub reason: MissReason,
}

/// Why a candidate does not match a local spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// A named field of the access path has no member of that name in the target
    /// (anonymous members searched too).
    FieldNotFound {
        /// The field name.
        field: String,
        /// The target struct/union searched.
        in_type: String,
    },
    /// The target has the field, but its type is not compatible (`bpf_core_fields_are_compat`).
    FieldIncompatible {
        /// The field name.
        field: String,
        /// The local field type.
        local_type: String,
        /// The target field type.
        target_type: String,
    },
    /// The access path indexes an array but the target has something else there.
    NotAnArray {
        /// What the target has.
        target_type: String,
    },
    /// The array index is past the end of the target's array.
    IndexOutOfBounds {
        /// The index.
        index: u32,
        /// The target array's length.
        len: u32,
    },
    /// The target type is not an enum.
    NotAnEnum {
        /// What the target has.
        target_type: String,
    },
    /// The target enum lacks the enumerator.
    EnumeratorNotFound {
        /// The enumerator (essential name).
        name: String,
        /// The target enum.
        in_type: String,
    },
    /// The target type is not compatible (`bpf_core_types_are_compat`).
    TypesIncompatible,
    /// The target type does not match (`bpf_core_types_match`); `why` names the first
    /// difference found at the top level (`member `prev`: long vs struct list_head *`).
    TypesDoNotMatch {
        /// The first difference, as a phrase.
        why: String,
    },
}

/// What a relocation did to its instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The instruction now carries the target value.
    Patched(Patch),
    /// The instruction was replaced by a call of the poison helper
    /// ([`POISON_CORE`](crate::insn::opcode::POISON_CORE)): if the verifier finds it
    /// reachable, the load fails.
    Poisoned(PoisonCause),
}

/// Which part of the instruction carries the value, old and new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// The patched field.
    pub field: PatchedField,
    /// Its old value.
    pub old: i64,
    /// Its new value.
    pub new: i64,
    /// Load/store width change (local bytes, target bytes), if any.
    pub mem_size: Option<(u32, u32)>,
}

/// The instruction field a relocation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchedField {
    /// `imm` of an ALU/ALU64 instruction with an immediate.
    Imm,
    /// `off` of a load or store.
    Off,
    /// Both halves of an `ld_imm64`.
    Imm64,
}

/// Why an instruction was poisoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonCause {
    /// No candidate matched (see [`CoreDecision::unresolved`]) and the kind needs one.
    Unresolved,
    /// The field's size differs between local and target, and the load/store cannot be
    /// resized safely (only pointers and unsigned integers can).
    SizeMismatch {
        /// Local field size.
        local: u32,
        /// Target field size.
        target: u32,
    },
}

impl CoreDecision {
    /// Whether the instruction was poisoned.
    pub fn is_poisoned(&self) -> bool {
        matches!(self.outcome, Outcome::Poisoned(_))
    }

    /// Why it was poisoned, as a sentence fragment (`field `pid` not found in struct
    /// task_struct`), or `None` if it was not.
    pub fn poison_reason(&self) -> Option<String> {
        match self.outcome {
            Outcome::Patched(_) => None,
            Outcome::Poisoned(PoisonCause::SizeMismatch { local, target }) => Some(format!(
                "size mismatch: the local field is {local} bytes, the target's {target}, and \
                 only pointers and unsigned integers can be read with another width"
            )),
            Outcome::Poisoned(PoisonCause::Unresolved) => Some(match &self.unresolved {
                Some(u) => u.to_string(),
                None => "no target matched".to_string(),
            }),
        }
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::NoCandidates {
                name,
                kind,
                searched,
            } => {
                write!(f, "no candidate type named `{name}` ({kind}) in ")?;
                match searched.as_slice() {
                    [] => f.write_str("the target"),
                    [one] => write!(f, "{one}"),
                    many => write!(f, "{}", many.join(", ")),
                }
            }
            Unresolved::NoMatch(misses) => {
                for (i, m) in misses.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{m}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for CandidateMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("{} [{}] {}", self.btf_name, self.type_id, self.type_name);
        match &self.reason {
            MissReason::FieldNotFound { field, in_type } if *in_type == self.type_name => {
                write!(f, "field `{field}` not found in {at}")
            }
            MissReason::FieldNotFound { field, in_type } => {
                write!(f, "field `{field}` not found in {in_type} (within {at})")
            }
            MissReason::FieldIncompatible {
                field,
                local_type,
                target_type,
            } => write!(
                f,
                "field `{field}` is {target_type} in {at}, incompatible with the local {local_type}"
            ),
            MissReason::NotAnArray { target_type } => {
                write!(
                    f,
                    "{at} has {target_type} where the access indexes an array"
                )
            }
            MissReason::IndexOutOfBounds { index, len } => {
                write!(
                    f,
                    "index {index} is out of bounds of the {len}-element array in {at}"
                )
            }
            MissReason::NotAnEnum { target_type } => {
                write!(f, "{at} is {target_type}, not an enum")
            }
            MissReason::EnumeratorNotFound { name, in_type } if *in_type == self.type_name => {
                write!(f, "enumerator `{name}` not found in {at}")
            }
            MissReason::EnumeratorNotFound { name, in_type } => {
                write!(
                    f,
                    "enumerator `{name}` not found in {in_type} (within {at})"
                )
            }
            MissReason::TypesIncompatible => {
                write!(f, "{at} is not compatible with the local type")
            }
            MissReason::TypesDoNotMatch { why } if why.is_empty() => {
                write!(f, "{at} does not match the local type")
            }
            MissReason::TypesDoNotMatch { why } => {
                write!(f, "{at} does not match the local type: {why}")
            }
        }
    }
}

impl fmt::Display for CoreDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} insn #{}: {} `{}` ({}, access {})",
            self.section,
            self.insn,
            self.kind,
            self.local.path,
            self.local.type_name,
            self.local.access
        )?;
        match &self.target {
            Some(t) => {
                write!(f, " -> {} [{}] {}", t.btf_name, t.type_id, t.type_name)?;
                let type_kind = matches!(
                    self.kind,
                    CoreReloKind::TypeIdTarget
                        | CoreReloKind::TypeExists
                        | CoreReloKind::TypeSize
                        | CoreReloKind::TypeMatches
                );
                if !type_kind && (t.access != self.local.access || t.path != self.local.path) {
                    write!(f, " `{}` (access {})", t.path, t.access)?;
                }
                if t.matches > 1 {
                    write!(f, " ({} candidates agree)", t.matches)?;
                }
            }
            None if self.kind == CoreReloKind::TypeIdLocal => f.write_str(" (local)")?,
            None => match &self.unresolved {
                Some(u) => write!(f, " -> no match: {u}")?,
                None => f.write_str(" -> no match")?,
            },
        }
        match self.outcome {
            Outcome::Patched(p) => {
                write!(f, ": {} {} -> {}", p.field, p.old, p.new)?;
                if let Some((from, to)) = p.mem_size {
                    write!(f, " (load/store width {from} -> {to} bytes)")?;
                }
                Ok(())
            }
            Outcome::Poisoned(PoisonCause::Unresolved) => f.write_str(": POISONED"),
            Outcome::Poisoned(PoisonCause::SizeMismatch { local, target }) => write!(
                f,
                ": POISONED (field size {local} -> {target} bytes cannot be loaded as is)"
            ),
        }
    }
}

impl fmt::Display for PatchedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchedField::Imm => "imm",
            PatchedField::Off => "off",
            PatchedField::Imm64 => "imm64",
        })
    }
}
