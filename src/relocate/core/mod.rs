//! CO-RE ("compile once, run everywhere") relocation, exactly as libbpf defines it.
//!
//! Clang records in `.BTF.ext` every instruction whose value depends on a kernel type's
//! layout: `{insn_off, local root type, access string "0:1:2", kind}`. For each record,
//! [`CoreRelocator`]:
//!
//! 1. parses the access string against the object's BTF into a spec (`spec`);
//! 2. finds candidate target types of the same kind and *essential* name (`___flavour`
//!    stripped) through the BTF name index — vmlinux first, then module BTFs, or a custom
//!    target instead ([`Targets`]) — cached per local type and pruned as libbpf does;
//! 3. matches the spec against each candidate (`field`, `types_compat`, `types_match`,
//!    enumerators by name), computes the local and target values (`calc`), and demands that
//!    all matching candidates agree;
//! 4. patches the instruction (`patch`): ALU `imm`, load/store `off` (and width), `ld_imm64`
//!    — or poisons it (`call 0xbad2310`) when nothing matched, so guarded code still loads;
//! 5. records a [`CoreDecision`] for tools ([`failing`] tells which poisoned ones are not
//!    guarded by an existence check); [`annotate_verifier_log`] turns the verifier's
//!    complaint about a reachable poisoned instruction into a sentence about the relocation.
//!
//! Pure: no syscalls. Module BTFs come in through [`Targets::with_module_loader`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxbpf::btf::{Btf, BtfExt};
//! use oxbpf::insn::Insn;
//! use oxbpf::relocate::core::{annotate_verifier_log, CoreRelocator, Targets};
//!
//! # fn demo(obj_btf: &Btf, ext: &BtfExt, mut section: impl FnMut(&str) -> Vec<Insn>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let vmlinux = Arc::new(Btf::parse(std::fs::read("/sys/kernel/btf/vmlinux")?)?);
//! let mut core = CoreRelocator::new(obj_btf, Targets::kernel(vmlinux));
//! let mut decisions = Vec::new();
//! for sec in &ext.core_relos {
//!     let mut insns = section(&sec.name);
//!     decisions.extend(core.relocate_section(&sec.name, &sec.records, &mut insns)?);
//! }
//! for d in &decisions {
//!     println!("{d}"); // raw_tp insn #5: byte_off `task_struct->pid` ... -> vmlinux [114] ...
//! }
//! // If the verifier then rejects a program, name the failed relocation in its log:
//! let log = "1: (85) call unknown#195896080\ninvalid func unknown#195896080\n";
//! let explained = annotate_verifier_log(log, |i| decisions.iter().find(|d| d.insn == i));
//! # Ok(()) }
//! ```

mod calc;
mod candidates;
mod decision;
mod error;
mod explain;
mod field;
mod guard;
mod layout;
mod patch;
mod relocator;
mod spec;
mod types_compat;
mod types_match;

#[cfg(test)]
mod test_btf;
#[cfg(test)]
mod tests_fields;
#[cfg(test)]
mod tests_kinds;
#[cfg(test)]
mod tests_match;

pub use candidates::{ModuleLoader, TargetBtf, Targets};
pub use decision::{
    CandidateMiss, CoreDecision, LocalSide, MissReason, Outcome, Patch, PatchedField, PoisonCause,
    TargetSide, Unresolved,
};
pub use error::{CoreError, CoreProblem};
pub use explain::{annotate_verifier_log, describe_poisoned, explain_poisoned, poisoned_in_log};
pub use guard::{failing, is_existence_check, is_guarded};
pub use relocator::CoreRelocator;
pub use spec::MAX_SPEC_LEN;
