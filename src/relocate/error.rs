//! [`RelocateError`]: why an object's programs could not be relocated.

use crate::relocate::core::CoreError;

/// A relocation failure, naming the program, section, instruction and symbol at fault.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// A CO-RE relocation failed in a way that cannot be poisoned (ambiguity, a malformed
    /// record, an instruction that does not hold what the local BTF says).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The object has CO-RE relocations but no target BTF was given.
    #[error("section `{section}` has {count} CO-RE relocations but no target BTF is available (the kernel has no /sys/kernel/btf/vmlinux; pass a target BTF)")]
    NoTargetBtf {
        /// The first section with records.
        section: String,
        /// How many records it has.
        count: usize,
    },
    /// The object has `.BTF.ext` CO-RE records but no `.BTF`.
    #[error("section `{section}` has CO-RE relocations but the object has no .BTF")]
    NoLocalBtf {
        /// The section.
        section: String,
    },
    /// A call or function address that points at no function.
    #[error("program `{program}`: instruction {insn} of section `{section}` calls instruction {target} of section `{target_section}`, where no function starts")]
    BadCallTarget {
        /// The program being linked.
        program: String,
        /// The section of the call.
        section: String,
        /// The call's instruction index within its section.
        insn: usize,
        /// The target section.
        target_section: String,
        /// The target instruction (negative: before the section's start).
        target: i64,
    },
    /// A relocation on an instruction of the wrong kind.
    #[error("section `{section}`, instruction {insn}: relocation against `{symbol}` is on {found}, expected {expected}")]
    WrongInstruction {
        /// The section.
        section: String,
        /// The instruction index within the section.
        insn: usize,
        /// The symbol.
        symbol: String,
        /// What the instruction is.
        found: String,
        /// What the relocation needs.
        expected: &'static str,
    },
    /// A reference to a map or data section that does not exist.
    #[error("section `{section}`, instruction {insn}: relocation against `{symbol}` refers to a missing {what}")]
    MissingTarget {
        /// The section.
        section: String,
        /// The instruction index.
        insn: usize,
        /// The symbol.
        symbol: String,
        /// "map", "data section", "extern".
        what: &'static str,
    },
    /// A strong extern the loader could not resolve.
    #[error("extern `{name}` ({what}) is not weak and could not be resolved: {why}")]
    UnresolvedExtern {
        /// The extern's name.
        name: String,
        /// kconfig, ksym or kfunc.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The program is too large after linking.
    #[error("program `{program}` has {len} instructions after linking, more than a call offset can reach")]
    TooLarge {
        /// The program.
        program: String,
        /// Its length.
        len: usize,
    },
}
