//! `bpf_core_types_match` (TYPE_MATCHES): a stricter, name-aware comparison than
//! compatibility — the local type describes a layout the target must have.
//!
//! Modifiers and typedefs are stripped; names must match (flavours ignored, anonymous only
//! with anonymous); kinds must be equal, except that a struct/union behind a pointer may
//! match a forward declaration of the same flavour and ENUM matches ENUM64. Then integers
//! need the same size and signedness; pointers and arrays recurse (arrays need the same
//! length); every local struct/union member needs a target member of the same name whose
//! type matches (behind a pointer, only names and kinds count); every local enumerator needs a
//! target enumerator of the same name, sizes equal, values ignored; function prototypes need
//! the same arity and matching parameters and return type.

use crate::btf::{essential_name_len, Btf, BtfKind, Type};

use super::error::CoreProblem;
use super::layout::Budget;
use super::types_compat::MAX_DEPTH;

fn too_deep() -> CoreProblem {
    CoreProblem::TooComplex("types nest deeper than 32")
}

/// libbpf's `bpf_core_names_match`: an anonymous target matches only an anonymous local;
/// otherwise the essential names must be equal.
fn names_match(local: &[u8], targ: &[u8]) -> bool {
    if targ.is_empty() {
        return local.is_empty();
    }
    let (l, t) = (essential_name_len(local), essential_name_len(targ));
    l == t && local[..l] == targ[..t]
}

fn name_at(btf: &Btf, off: u32) -> Result<&[u8], CoreProblem> {
    if off == 0 {
        return Ok(b"");
    }
    Ok(btf.string_bytes_at(off)?)
}

/// Whether the local type `local_id` matches the target type `targ_id` (their root names
/// are assumed to have matched already, as candidate search ensures).
pub(crate) fn types_match(
    local: &Btf,
    local_id: u32,
    targ: &Btf,
    targ_id: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    match_at(local, local_id, targ, targ_id, false, MAX_DEPTH, budget)
}

fn match_at(
    local: &Btf,
    local_id: u32,
    targ: &Btf,
    targ_id: u32,
    mut behind_ptr: bool,
    level: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    if level == 0 {
        return Err(too_deep());
    }
    let (mut local_id, mut targ_id) = (local_id, targ_id);
    for _ in 0..MAX_DEPTH {
        budget.spend()?;
        let lt = local.skip_mods_and_typedefs(local_id)?;
        let tt = targ.skip_mods_and_typedefs(targ_id)?;
        if !names_match(lt.name_bytes()?, tt.name_bytes()?) {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind(), tt.kind());
        match lk {
            BtfKind::Void => return Ok(lk == tk),
            BtfKind::Fwd => {
                let local_union = lt.kflag();
                return Ok(if lk == tk {
                    local_union == tt.kflag()
                } else if behind_ptr {
                    (tk == BtfKind::Struct && !local_union) || (tk == BtfKind::Union && local_union)
                } else {
                    false
                });
            }
            BtfKind::Enum | BtfKind::Enum64 => {
                return Ok(tk.is_any_enum() && enums_match(local, &lt, targ, &tt, budget)?);
            }
            BtfKind::Struct | BtfKind::Union => {
                if behind_ptr {
                    return Ok(
                        lk == tk || (tk == BtfKind::Fwd && (lk == BtfKind::Union) == tt.kflag())
                    );
                }
                if lk != tk {
                    return Ok(false);
                }
                return composites_match(local, &lt, targ, &tt, behind_ptr, level, budget);
            }
            BtfKind::Int => {
                if lk != tk {
                    return Ok(false);
                }
                let signed = |t: &Type<'_>| t.int().is_some_and(|i| i.signed);
                return Ok(lt.size_or_type() == tt.size_or_type() && signed(&lt) == signed(&tt));
            }
            BtfKind::Ptr => {
                if lk != tk {
                    return Ok(false);
                }
                behind_ptr = true;
                local_id = lt.size_or_type();
                targ_id = tt.size_or_type();
            }
            BtfKind::Array => {
                let (Some(la), Some(ta)) = (lt.array(), tt.array()) else {
                    return Ok(false);
                };
                if la.nelems != ta.nelems {
                    return Ok(false);
                }
                local_id = la.elem_type;
                targ_id = ta.elem_type;
            }
            BtfKind::FuncProto => {
                let (Some(lp), Some(tp)) = (lt.params(), tt.params()) else {
                    return Ok(false);
                };
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.zip(tp) {
                    if !match_at(
                        local,
                        l.type_id,
                        targ,
                        t.type_id,
                        behind_ptr,
                        level - 1,
                        budget,
                    )? {
                        return Ok(false);
                    }
                }
                local_id = lt.size_or_type();
                targ_id = tt.size_or_type();
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}

fn enums_match(
    local: &Btf,
    lt: &Type<'_>,
    targ: &Btf,
    tt: &Type<'_>,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    if lt.size_or_type() != tt.size_or_type() || lt.vlen() > tt.vlen() {
        return Ok(false);
    }
    let (Some(lvals), Some(tvals)) = (lt.enum_values(), tt.enum_values()) else {
        return Ok(false);
    };
    for lv in lvals {
        let ln = name_at(local, lv.name_off)?;
        let mut found = false;
        for tv in tvals.clone() {
            budget.spend()?;
            if names_match(ln, name_at(targ, tv.name_off)?) {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

fn composites_match(
    local: &Btf,
    lt: &Type<'_>,
    targ: &Btf,
    tt: &Type<'_>,
    behind_ptr: bool,
    level: u32,
    budget: &mut Budget,
) -> Result<bool, CoreProblem> {
    if lt.vlen() > tt.vlen() {
        return Ok(false);
    }
    let (Some(lms), Some(tms)) = (lt.members(), tt.members()) else {
        return Ok(false);
    };
    for lm in lms {
        let ln = name_at(local, lm.name_off)?;
        let mut matched = false;
        for tm in tms.clone() {
            budget.spend()?;
            if !names_match(ln, name_at(targ, tm.name_off)?) {
                continue;
            }
            if match_at(
                local,
                lm.type_id,
                targ,
                tm.type_id,
                behind_ptr,
                level - 1,
                budget,
            )? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Why `local_id` does not match `targ_id`, one level deep, for messages: the first local
/// member or enumerator without a matching counterpart, or the size, signedness, length or
/// kind that differs. Empty if no reason is found at that level.
pub(crate) fn explain_mismatch(local: &Btf, local_id: u32, targ: &Btf, targ_id: u32) -> String {
    let label = |btf: &Btf, id: u32| super::spec::type_label(btf, id);
    let (Ok(lt), Ok(tt)) = (
        local.skip_mods_and_typedefs(local_id),
        targ.skip_mods_and_typedefs(targ_id),
    ) else {
        return String::new();
    };
    let mut budget = Budget::new();
    let (lk, tk) = (lt.kind(), tt.kind());
    if lk.is_composite() && tk.is_composite() && lk == tk {
        let (Some(lms), Some(tms)) = (lt.members(), tt.members()) else {
            return String::new();
        };
        for lm in lms {
            let Ok(ln) = name_at(local, lm.name_off) else {
                return String::new();
            };
            let shown = String::from_utf8_lossy(ln);
            let same_name: Vec<_> = tms
                .clone()
                .filter(|tm| name_at(targ, tm.name_off).is_ok_and(|tn| names_match(ln, tn)))
                .collect();
            if same_name.is_empty() {
                return format!("member `{shown}` is missing");
            }
            let matched = same_name.iter().any(|tm| {
                match_at(
                    local,
                    lm.type_id,
                    targ,
                    tm.type_id,
                    false,
                    MAX_DEPTH - 1,
                    &mut budget,
                )
                .unwrap_or(false)
            });
            if !matched {
                let (mut l, mut t) = (label(local, lm.type_id), label(targ, same_name[0].type_id));
                if l == t {
                    // Same spelling, different type: say how they differ.
                    let size = |btf: &Btf, id| {
                        super::layout::resolve_size(btf, id, crate::btf::PTR_SIZE).ok()
                    };
                    let signed = |btf: &Btf, id| {
                        btf.skip_mods_and_typedefs(id)
                            .ok()
                            .and_then(|t| t.int())
                            .map(|i| if i.signed { "signed " } else { "unsigned " })
                            .unwrap_or("")
                    };
                    let ts = same_name[0].type_id;
                    if let (Some(a), Some(b)) = (size(local, lm.type_id), size(targ, ts)) {
                        l = format!("{l} ({}{a} bytes)", signed(local, lm.type_id));
                        t = format!("{t} ({}{b} bytes)", signed(targ, ts));
                    }
                }
                return format!("member `{shown}` is {l} locally but {t} in the target");
            }
        }
        return String::new();
    }
    if lk.is_any_enum() && tk.is_any_enum() {
        if lt.size_or_type() != tt.size_or_type() {
            return format!(
                "{} bytes locally, {} in the target",
                lt.size_or_type(),
                tt.size_or_type()
            );
        }
        if let (Some(lvs), Some(tvs)) = (lt.enum_values(), tt.enum_values()) {
            for lv in lvs {
                let Ok(ln) = name_at(local, lv.name_off) else {
                    break;
                };
                if !tvs
                    .clone()
                    .any(|tv| name_at(targ, tv.name_off).is_ok_and(|tn| names_match(ln, tn)))
                {
                    return format!("enumerator `{}` is missing", String::from_utf8_lossy(ln));
                }
            }
        }
        return String::new();
    }
    if lk != tk {
        return format!("{} locally, {} in the target", lk, tk);
    }
    format!(
        "{} locally, {} in the target",
        label(local, lt.id()),
        label(targ, tt.id())
    )
}
