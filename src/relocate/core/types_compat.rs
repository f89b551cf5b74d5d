//! Compatibility of a local and a target type: for field relocations
//! (`bpf_core_fields_are_compat`: is the field "the same kind of thing") and for
//! `type_id_target`, `type_exists` and `type_size` (`bpf_core_types_are_compat`: same
//! shape, names ignored below the root).

use crate::btf::{essential_name_len, Btf, BtfKind, Type};

use super::error::CoreProblem;
use super::layout::Budget;
use super::spec::kinds_compat;

/// Nesting depth of one comparison chain (libbpf: 32).
pub(crate) const MAX_DEPTH: u32 = 32;

fn too_deep() -> CoreProblem {
    CoreProblem::TooComplex("types nest deeper than 32")
}

/// Whether two names are equal up to their flavour suffix, or either is empty.
fn names_compat_or_anon(local: &[u8], targ: &[u8]) -> bool {
    let (l, t) = (essential_name_len(local), essential_name_len(targ));
    l == 0 || t == 0 || (l == t && local[..l] == targ[..t])
}

/// INTs with a bit offset are the long-deprecated bitfield encoding; CO-RE rejects them.
fn int_is_plain(t: &Type<'_>) -> bool {
    t.int().is_some_and(|i| i.offset == 0)
}

/// `bpf_core_fields_are_compat`: structs/unions with each other, pointers with pointers,
/// floats with floats, enums and forward declarations of the same essential name (or
/// either anonymous), plain integers with each other, arrays by element type.
pub(crate) fn fields_are_compat(
    local: &Btf,
    local_id: u32,
    targ: &Btf,
    targ_id: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    for _ in 0..MAX_DEPTH {
        budget.spend()?;
        let lt = local.skip_mods_and_typedefs(local_id)?;
        let tt = targ.skip_mods_and_typedefs(targ_id)?;
        if lt.kind().is_composite() && tt.kind().is_composite() {
            return Ok(true);
        }
        if !kinds_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        return Ok(match lt.kind() {
            BtfKind::Ptr | BtfKind::Float => true,
            BtfKind::Fwd | BtfKind::Enum | BtfKind::Enum64 => {
                names_compat_or_anon(lt.name_bytes()?, tt.name_bytes()?)
            }
            BtfKind::Int => int_is_plain(&lt) && int_is_plain(&tt),
            BtfKind::Array => {
                local_id = lt.array().map_or(0, |a| a.elem_type);
                targ_id = tt.array().map_or(0, |a| a.elem_type);
                continue;
            }
            _ => false,
        });
    }
    Err(too_deep())
}

/// `bpf_core_types_are_compat` (for type-based relocations): kinds match (ENUM ≈ ENUM64);
/// structs, unions, enums, forward declarations and void are compatible outright; plain
/// integers too; pointers and arrays by what they refer to; function prototypes by
/// parameter count and each parameter's and the return type's compatibility.
pub(crate) fn types_are_compat(
    local: &Btf,
    local_id: u32,
    targ: &Btf,
    targ_id: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    compat_at(local, local_id, targ, targ_id, MAX_DEPTH, budget)
}

fn compat_at(
    local: &Btf,
    local_id: u32,
    targ: &Btf,
    targ_id: u32,
    level: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    // The root kinds are compared before modifiers and typedefs are stripped.
    if !kinds_compat(
        local.type_by_id(local_id)?.kind(),
        targ.type_by_id(targ_id)?.kind(),
    ) {
        return Ok(false);
    }
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    for _ in 0..MAX_DEPTH {
        budget.spend()?;
        let lt = local.skip_mods_and_typedefs(local_id)?;
        let tt = targ.skip_mods_and_typedefs(targ_id)?;
        if !kinds_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        match lt.kind() {
            BtfKind::Void
            | BtfKind::Struct
            | BtfKind::Union
            | BtfKind::Enum
            | BtfKind::Enum64
            | BtfKind::Fwd => return Ok(true),
            BtfKind::Int => return Ok(int_is_plain(&lt) && int_is_plain(&tt)),
            BtfKind::Ptr => {
                local_id = lt.size_or_type();
                targ_id = tt.size_or_type();
            }
            BtfKind::Array => {
                local_id = lt.array().map_or(0, |a| a.elem_type);
                targ_id = tt.array().map_or(0, |a| a.elem_type);
            }
            BtfKind::FuncProto => {
                let (Some(lp), Some(tp)) = (lt.params(), tt.params()) else {
                    return Ok(false);
                };
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.zip(tp) {
                    if level == 0 {
                        return Err(too_deep());
                    }
                    let l = local.skip_mods_and_typedefs(l.type_id)?.id();
                    let t = targ.skip_mods_and_typedefs(t.type_id)?.id();
                    if !compat_at(local, l, targ, t, level - 1, budget)? {
                        return Ok(false);
                    }
                }
                local_id = local.skip_mods_and_typedefs(lt.size_or_type())?.id();
                targ_id = targ.skip_mods_and_typedefs(tt.size_or_type())?.id();
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}
