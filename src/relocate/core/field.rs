//! Matching a local field access path against a target type: each named local field is
//! looked up by name in the target struct/union (through anonymous members), each array
//! index checked against the target array's bounds, and the target's own spec and bit
//! offset built along the way (libbpf's `bpf_core_spec_match` for field kinds).

use crate::btf::Btf;

use super::decision::MissReason;
use super::error::CoreProblem;
use super::layout::{resolve_size, Budget};
use super::spec::{add_bits, is_flex_array, Accessor, Spec, MAX_SPEC_LEN};
use super::types_compat::fields_are_compat;

fn type_name(btf: &Btf, id: u32) -> String {
    super::spec::type_label(btf, id)
}

fn too_long() -> CoreProblem {
    CoreProblem::TooComplex("target access path longer than 64 steps")
}

/// Match `local` (a field spec) against the target type `targ_id`, filling `out` with the
/// target spec. `Ok(None)` on a match, `Ok(Some(reason))` when the candidate does not match.
pub(crate) fn match_field<'t>(
    local: &Spec<'_>,
    targ: &'t Btf,
    targ_ptr_size: u32,
    targ_id: u32,
    out: &mut Spec<'t>,
    budget: &mut Budget,
) -> Result<Option<MissReason>, CoreProblem> {
    let mut targ_id = targ_id;
    for (i, local_acc) in local.acc.iter().enumerate() {
        let targ_type = targ.skip_mods_and_typedefs(targ_id)?;
        targ_id = targ_type.id();
        if let Some(name) = local_acc.name {
            match match_member(local.btf, local_acc, name, targ, targ_id, out, budget)? {
                Member::Found { next } => targ_id = next,
                Member::NotFound => {
                    return Ok(Some(MissReason::FieldNotFound {
                        field: name.to_string(),
                        in_type: type_name(targ, targ_id),
                    }))
                }
                Member::Incompatible {
                    local_type,
                    targ_type,
                } => {
                    return Ok(Some(MissReason::FieldIncompatible {
                        field: name.to_string(),
                        local_type: type_name(local.btf, local_type),
                        target_type: type_name(targ, targ_type),
                    }))
                }
            }
            continue;
        }
        // The root accessor indexes the root type itself; later ones index arrays.
        if i > 0 {
            let Some(a) = targ_type.array() else {
                return Ok(Some(MissReason::NotAnArray {
                    target_type: type_name(targ, targ_id),
                }));
            };
            let flex = is_flex_array(targ, out.acc.last(), a.nelems);
            if !flex && local_acc.idx >= a.nelems {
                return Ok(Some(MissReason::IndexOutOfBounds {
                    index: local_acc.idx,
                    len: a.nelems,
                }));
            }
            targ_id = targ.skip_mods_and_typedefs(a.elem_type)?.id();
        }
        if out.raw.len() == MAX_SPEC_LEN {
            return Err(too_long());
        }
        out.acc.push(Accessor {
            type_id: targ_id,
            idx: local_acc.idx,
            name: None,
        });
        out.raw.push(local_acc.idx);
        let size = resolve_size(targ, targ_id, targ_ptr_size)?;
        out.bit_offset = add_bits(out.bit_offset, local_acc.idx, size)
            .ok_or(CoreProblem::TooComplex("target field offset overflows"))?;
    }
    Ok(None)
}

enum Member {
    Found { next: u32 },
    NotFound,
    Incompatible { local_type: u32, targ_type: u32 },
}

/// Find the member that `local_acc` names in the target struct/union `targ_id`, descending
/// into anonymous members (whose indices go into the raw spec but not the accessors).
fn match_member<'t>(
    local: &Btf,
    local_acc: &Accessor<'_>,
    local_name: &str,
    targ: &'t Btf,
    targ_id: u32,
    out: &mut Spec<'t>,
    budget: &mut Budget,
) -> Result<Member, CoreProblem> {
    budget.spend()?;
    let targ_type = targ.skip_mods_and_typedefs(targ_id)?;
    let targ_id = targ_type.id();
    let Some(members) = targ_type.members() else {
        return Ok(Member::NotFound);
    };
    let mut incompatible = None;
    for (i, m) in members.enumerate() {
        if out.raw.len() == MAX_SPEC_LEN {
            return Err(too_long());
        }
        let (saved_bits, saved_len) = (out.bit_offset, out.raw.len());
        out.bit_offset = out
            .bit_offset
            .checked_add(m.bit_offset)
            .ok_or(CoreProblem::TooComplex("target field offset overflows"))?;
        out.raw.push(i as u32);
        let name: &[u8] = match m.name_off {
            0 => b"",
            off => targ.string_bytes_at(off)?,
        };
        if name.is_empty() {
            match match_member(local, local_acc, local_name, targ, m.type_id, out, budget)? {
                found @ Member::Found { .. } => return Ok(found),
                // C forbids the same name twice in one struct, anonymous members
                // included, so nothing later can match; keep looking as libbpf does.
                inc @ Member::Incompatible { .. } => incompatible = Some(inc),
                Member::NotFound => {}
            }
        } else if name == local_name.as_bytes() {
            let local_type = local
                .type_by_id(local_acc.type_id)?
                .members()
                .and_then(|ms| ms.get(local_acc.idx as usize))
                .map_or(0, |lm| lm.type_id);
            if !fields_are_compat(local, local_type, targ, m.type_id, budget)? {
                return Ok(Member::Incompatible {
                    local_type,
                    targ_type: m.type_id,
                });
            }
            out.acc.push(Accessor {
                type_id: targ_id,
                idx: i as u32,
                name: Some(m.name()?),
            });
            return Ok(Member::Found { next: m.type_id });
        }
        out.bit_offset = saved_bits;
        out.raw.truncate(saved_len);
    }
    Ok(incompatible.unwrap_or(Member::NotFound))
}
