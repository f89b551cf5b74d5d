//! Which poisoned CO-RE relocations would fail a load, decided offline.
//!
//! A poisoned instruction only fails the load when the verifier reaches it; code written for
//! several kernels guards the access with an existence check (`bpf_core_field_exists()`,
//! `bpf_core_type_exists()`, `bpf_core_enum_value_exists()`, `bpf_core_type_matches()`), whose
//! relocation becomes the constant 0 and makes the branch dead. Proving the branch dead needs
//! the verifier; the rule here is the pragmatic one `oxbpf core check` applies:
//!
//! - existence and match relocations (`field_exists`, `type_exists`, `enumval_exists`,
//!   `type_matches`) never fail — they answer 0 or 1;
//! - a poisoned relocation is **guarded** when the same program also has an existence or
//!   match relocation on the same local type with the same access string, or a type-level
//!   one (`type_exists`, `type_matches`) on the same local type;
//! - any other poisoned relocation (field offset or size, enumerator value, type id or size)
//!   counts as failing, and so does a size mismatch, which no check guards.

use crate::btf::CoreReloKind;

use super::decision::{CoreDecision, Outcome, PoisonCause};

/// Whether `kind` is an existence or match check (its value is 0 or 1; it is never
/// poisoned).
pub fn is_existence_check(kind: CoreReloKind) -> bool {
    matches!(
        kind,
        CoreReloKind::FieldExists
            | CoreReloKind::TypeExists
            | CoreReloKind::EnumvalExists
            | CoreReloKind::TypeMatches
    )
}

/// Whether the poisoned relocation `d` is guarded by an existence check among `program`'s
/// decisions (see the module docs); `false` for relocations that were not poisoned.
pub fn is_guarded(d: &CoreDecision, program: &[CoreDecision]) -> bool {
    match d.outcome {
        Outcome::Poisoned(PoisonCause::Unresolved) => {}
        _ => return false,
    }
    program.iter().any(|g| {
        is_existence_check(g.kind)
            && g.local.type_id == d.local.type_id
            && g.section == d.section
            && (g.local.access == d.local.access
                || matches!(g.kind, CoreReloKind::TypeExists | CoreReloKind::TypeMatches))
    })
}

/// The relocations of one program that would fail its load if reached: poisoned and not
/// guarded.
pub fn failing(program: &[CoreDecision]) -> impl Iterator<Item = &CoreDecision> + '_ {
    program
        .iter()
        .filter(move |d| d.is_poisoned() && !is_guarded(d, program))
}
