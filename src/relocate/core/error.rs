//! [`CoreError`]: a relocation that cannot be applied at all (as opposed to one that is
//! poisoned), naming the section, record, instruction, kind and access path.

use crate::btf::{BtfError, CoreReloKind};

/// A CO-RE relocation that fails the load (libbpf returns an error for these too): a
/// malformed record or access spec, an ambiguous match, an instruction that does not hold
/// the value the local BTF predicts, an instruction CO-RE cannot patch.
///
/// Relocations that merely find no target are *not* errors: they poison the instruction
/// (see [`Outcome::Poisoned`](super::Outcome::Poisoned)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "section '{section}': CO-RE relocation #{record} (insn #{insn}, {kind} `{path}`): {problem}"
)]
pub struct CoreError {
    /// The ELF section the record belongs to.
    pub section: String,
    /// Index of the record within the section's CO-RE records.
    pub record: usize,
    /// Instruction index within the section (`insn_off / 8`).
    pub insn: usize,
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The C access path (`task_struct->pid`), or the raw access string when it could not
    /// be parsed.
    pub path: String,
    /// What went wrong (boxed: errors stay small on the success path).
    pub problem: Box<CoreProblem>,
}

/// What makes a CO-RE relocation fail (the [`CoreError::problem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreProblem {
    /// The local or target BTF is malformed where the relocation looks.
    #[error(transparent)]
    Btf(#[from] BtfError),
    /// The record's `insn_off` is not a multiple of 8.
    #[error("instruction offset {insn_off} is not a multiple of 8")]
    MisalignedInsnOff {
        /// The byte offset.
        insn_off: u32,
    },
    /// The record points past the section's instructions.
    #[error("instruction #{insn} is outside the section ({len} instructions)")]
    InsnOutOfRange {
        /// Instruction index.
        insn: usize,
        /// Instructions in the section.
        len: usize,
    },
    /// The relocation kind is not one of the 13 CO-RE kinds.
    #[error("unknown CO-RE relocation kind {0}")]
    UnknownKind(u32),
    /// The access spec string does not fit the local type.
    #[error("access spec \"{access}\" on local type [{type_id}]: {why}")]
    BadAccessSpec {
        /// The access string.
        access: String,
        /// The local root type id.
        type_id: u32,
        /// What does not fit.
        why: String,
    },
    /// Candidate search needs a named local type (only `bpf_core_type_id_local` works on
    /// anonymous ones).
    #[error("local type [{type_id}] is anonymous: CO-RE can only relocate named types")]
    AnonymousType {
        /// The local root type id.
        type_id: u32,
    },
    /// The kind cannot be applied to an array element access (only byte offset and size).
    #[error("{kind} cannot be applied to an array element access")]
    ArrayElementKind {
        /// The kind.
        kind: CoreReloKind,
    },
    /// A bitfield spans more than 8 bytes from its aligned load offset.
    #[error("bitfield at bit {bit_offset} ({bit_size} bits) cannot be read with a 64-bit load")]
    BitfieldTooWide {
        /// Bit offset of the bitfield.
        bit_offset: u32,
        /// Its width.
        bit_size: u32,
    },
    /// Two matching candidates put the field at different offsets.
    #[error(
        "field offset ambiguity: {first} at bit {first_bits} but {second} at bit {second_bits}"
    )]
    FieldOffsetAmbiguity {
        /// The first matching candidate.
        first: String,
        /// Its bit offset.
        first_bits: u32,
        /// A later candidate that disagrees.
        second: String,
        /// Its bit offset.
        second_bits: u32,
    },
    /// Two matching candidates give different values (or one poisons and one does not).
    #[error("relocation decision ambiguity: {first} gives {first_value} but {second} gives {second_value}")]
    DecisionAmbiguity {
        /// The first matching candidate.
        first: String,
        /// Its value (`poison` when it poisons).
        first_value: String,
        /// A later candidate that disagrees.
        second: String,
        /// Its value.
        second_value: String,
    },
    /// The instruction does not hold the value the local BTF gives (mismatched `.BTF.ext`).
    #[error("instruction holds {found} but the local BTF gives {expected}")]
    UnexpectedValue {
        /// The value in the instruction.
        found: i64,
        /// The value computed from the local BTF.
        expected: u64,
    },
    /// A load/store offset does not fit the 16-bit `off` field.
    #[error("offset {value} does not fit a load/store instruction (max 32767)")]
    OffsetTooLarge {
        /// The new offset.
        value: u64,
    },
    /// A load/store's access size is not the local field's size, so it cannot be adjusted.
    #[error("load/store accesses {found} bytes but the local field has {expected}")]
    UnexpectedMemSize {
        /// The instruction's access size.
        found: u32,
        /// The local field size.
        expected: u32,
    },
    /// The target field size is not a load/store size (1, 2, 4 or 8).
    #[error("target field size {size} is not a load/store size")]
    InvalidMemSize {
        /// The target size.
        size: u32,
    },
    /// The relocated instruction is not one CO-RE can patch.
    #[error("instruction (code {code:#04x}) cannot carry a CO-RE value")]
    UnsupportedInsn {
        /// The opcode.
        code: u8,
    },
    /// An `ld_imm64` that is not a plain 64-bit constant (or lacks its second half).
    #[error("ld_imm64 has an unexpected form")]
    BadLdImm64,
    /// Matching took too many steps or nested too deep (adversarial BTF).
    #[error("type comparison too complex ({0})")]
    TooComplex(&'static str),
}
