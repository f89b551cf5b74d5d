//! [`CoreRelocator`]: resolves each CO-RE record of an object against the [`Targets`] and
//! patches the instruction, keeping the candidate cache of libbpf (per local root type,
//! pruned to the candidates that matched).

use std::collections::HashMap;

use crate::btf::{Btf, CoreRelo, CoreReloKind};
use crate::insn::{ByteOrder, Insn};

use super::calc::{calc_relo, ReloRes, Side};
use super::candidates::{search_name, Candidate, Targets};
use super::decision::{CandidateMiss, CoreDecision, LocalSide, MissReason, TargetSide, Unresolved};
use super::error::{CoreError, CoreProblem};
use super::field::match_field;
use super::layout::{pointer_size, Budget};
use super::patch::rewrite;
use super::spec::{self, type_label, Accessor, Class, Spec};
use super::types_compat::types_are_compat;
use super::types_match::{explain_mismatch, types_match};

/// Relocates the CO-RE records of one object (one local BTF) against [`Targets`].
///
/// Relocate the sections in `.BTF.ext` order, each with only the records of the programs
/// that will be loaded (libbpf skips the others): candidate lists are cached per local type
/// and pruned by each relocation, so the order and the set of records can matter, exactly
/// as in libbpf.
pub struct CoreRelocator<'a> {
    local: &'a Btf,
    local_ptr_size: u32,
    targets: Targets,
    cache: HashMap<u32, Vec<Candidate>>,
    order: ByteOrder,
}

impl std::fmt::Debug for CoreRelocator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreRelocator")
            .field("targets", &self.targets)
            .field("cached_types", &self.cache.len())
            .field("order", &self.order)
            .finish()
    }
}

/// The result of resolving one record, before it is written into the instructions.
struct Resolved {
    res: ReloRes,
    local: LocalSide,
    target: Option<TargetSide>,
    unresolved: Option<Unresolved>,
}

impl<'a> CoreRelocator<'a> {
    /// A relocator for the object whose `.BTF` is `local`. Bitfield shifts are computed for
    /// the byte order of `local` (the object's); see [`CoreRelocator::with_byte_order`].
    pub fn new(local: &'a Btf, targets: Targets) -> Self {
        let order = match local.endian() {
            crate::btf::Endian::Little => ByteOrder::Little,
            crate::btf::Endian::Big => ByteOrder::Big,
        };
        CoreRelocator {
            local,
            local_ptr_size: pointer_size(local),
            targets,
            cache: HashMap::new(),
            order,
        }
    }

    /// Compute bitfield shifts for programs running in this byte order.
    pub fn with_byte_order(mut self, order: ByteOrder) -> Self {
        self.order = order;
        self
    }

    /// The targets (with any module BTFs loaded so far).
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Give back the targets, with the module BTFs loaded so far (for kfunc and attach
    /// target lookups that follow).
    pub fn into_targets(self) -> Targets {
        self.targets
    }

    /// Apply every record of one ELF section to that section's instructions, in order.
    /// Returns one decision per record.
    pub fn relocate_section(
        &mut self,
        section: &str,
        relos: &[CoreRelo],
        insns: &mut [Insn],
    ) -> Result<Vec<CoreDecision>, CoreError> {
        self.relocate_section_where(section, relos, insns, |_| true)
    }

    /// Like [`CoreRelocator::relocate_section`], but only the records whose instruction
    /// index `keep` accepts (libbpf skips the records of programs that will not be loaded
    /// and of eliminated weak subprograms; they must not prune the candidate cache).
    /// Decisions keep the records' indices in `relos`.
    pub fn relocate_section_where(
        &mut self,
        section: &str,
        relos: &[CoreRelo],
        insns: &mut [Insn],
        mut keep: impl FnMut(usize) -> bool,
    ) -> Result<Vec<CoreDecision>, CoreError> {
        let mut out = Vec::with_capacity(relos.len());
        for (record, relo) in relos.iter().enumerate() {
            if !keep((relo.insn_off / 8) as usize) {
                continue;
            }
            let d = self.resolve(section, record, relo, insns)?;
            if let Some(dst) = insns.get_mut(d.insn..d.insn + d.after.len()) {
                dst.copy_from_slice(&d.after);
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Resolve one record against `insns` (its section's instructions) without changing
    /// them: the decision's `after` holds what the instruction(s) become.
    pub fn resolve(
        &mut self,
        section: &str,
        record: usize,
        relo: &CoreRelo,
        insns: &[Insn],
    ) -> Result<CoreDecision, CoreError> {
        let insn = (relo.insn_off / 8) as usize;
        let fail = |path: &str, problem: CoreProblem| CoreError {
            section: section.to_string(),
            record,
            insn,
            kind: relo.kind,
            path: path.to_string(),
            problem: Box::new(problem),
        };
        let access = match relo.access_str(self.local) {
            Ok(a) => a,
            Err(e) => return Err(fail("?", e.into())),
        };
        if relo.insn_off % 8 != 0 {
            return Err(fail(
                access,
                CoreProblem::MisalignedInsnOff {
                    insn_off: relo.insn_off,
                },
            ));
        }
        if insn >= insns.len() {
            return Err(fail(
                access,
                CoreProblem::InsnOutOfRange {
                    insn,
                    len: insns.len(),
                },
            ));
        }
        let local_spec = spec::parse(
            self.local,
            self.local_ptr_size,
            relo.type_id,
            relo.kind,
            access,
        )
        .map_err(|p| fail(access, p))?;
        let path = local_spec.c_path();
        let r = self
            .resolve_spec(relo, &local_spec, access, &path)
            .map_err(|p| fail(&path, p))?;
        let rw = rewrite(insns, insn, &r.res).map_err(|p| fail(&path, p))?;
        Ok(CoreDecision {
            section: section.to_string(),
            record,
            insn,
            kind: relo.kind,
            local: r.local,
            target: r.target,
            unresolved: r.unresolved,
            old_value: r.res.orig_val,
            new_value: r.res.new_val,
            outcome: rw.outcome,
            before: rw.before,
            after: rw.after,
        })
    }

    fn resolve_spec(
        &mut self,
        relo: &CoreRelo,
        local_spec: &Spec<'_>,
        access: &str,
        path: &str,
    ) -> Result<Resolved, CoreProblem> {
        let local_t = self.local.type_by_id(relo.type_id)?;
        let local = LocalSide {
            type_id: relo.type_id,
            type_name: type_label(self.local, relo.type_id),
            access: access.to_string(),
            path: path.to_string(),
            bit_offset: local_spec.bit_offset,
        };
        if relo.kind == CoreReloKind::TypeIdLocal {
            // Needs no target; the id may legitimately change when objects are linked.
            let id = u64::from(relo.type_id);
            return Ok(Resolved {
                res: ReloRes {
                    orig_val: id,
                    new_val: id,
                    ..ReloRes::default()
                },
                local,
                target: None,
                unresolved: None,
            });
        }
        let name = local_t.name()?;
        if name.is_empty() {
            return Err(CoreProblem::AnonymousType {
                type_id: relo.type_id,
            });
        }
        let cands = match self.cache.remove(&relo.type_id) {
            Some(c) => c,
            None => self.targets.find_candidates(name, local_t.kind()),
        };
        let result = self.match_candidates(relo.kind, local_spec, &cands);
        let (res, target, kept, misses) = match result {
            Ok(r) => r,
            Err(e) => {
                self.cache.insert(relo.type_id, cands);
                return Err(e);
            }
        };
        // Keep only the candidates that matched, unless none did.
        let unresolved = if kept.is_empty() {
            let u = if cands.is_empty() {
                Unresolved::NoCandidates {
                    name: search_name(name).to_string(),
                    kind: local_t.kind(),
                    searched: self.targets.searched_names(),
                }
            } else {
                Unresolved::NoMatch(misses)
            };
            self.cache.insert(relo.type_id, cands);
            Some(u)
        } else {
            self.cache.insert(relo.type_id, kept);
            None
        };
        Ok(Resolved {
            res,
            local,
            target,
            unresolved,
        })
    }

    /// Match the local spec against each candidate; all matches must agree.
    #[allow(clippy::type_complexity)]
    fn match_candidates(
        &self,
        kind: CoreReloKind,
        local_spec: &Spec<'_>,
        cands: &[Candidate],
    ) -> Result<
        (
            ReloRes,
            Option<TargetSide>,
            Vec<Candidate>,
            Vec<CandidateMiss>,
        ),
        CoreProblem,
    > {
        let local_side = Side {
            spec: Some(local_spec),
            ptr_size: self.local_ptr_size,
        };
        let mut chosen: Option<(ReloRes, u32, Candidate)> = None;
        let mut target: Option<TargetSide> = None;
        let mut kept = Vec::new();
        let mut misses = Vec::new();
        for &cand in cands {
            let Some(tb) = self.targets.get(cand.target) else {
                continue;
            };
            let targ = tb.btf().as_ref();
            let mut cand_spec = Spec::new(targ, cand.type_id, kind);
            let mut budget = Budget::new();
            let miss = match_spec(
                local_spec,
                targ,
                tb.pointer_size(),
                cand.type_id,
                &mut cand_spec,
                &mut budget,
            )?;
            if let Some(reason) = miss {
                misses.push(CandidateMiss {
                    btf_name: tb.name().to_string(),
                    type_id: cand.type_id,
                    type_name: type_label(targ, cand.type_id),
                    reason,
                });
                continue;
            }
            let targ_side = Side {
                spec: Some(&cand_spec),
                ptr_size: tb.pointer_size(),
            };
            let res = calc_relo(kind, &local_side, &targ_side, self.order)?;
            let label = || {
                format!(
                    "{} [{}] {}",
                    tb.name(),
                    cand.type_id,
                    type_label(targ, cand.type_id)
                )
            };
            match &chosen {
                None => {
                    target = Some(TargetSide {
                        btf_name: tb.name().to_string(),
                        btf_index: cand.target,
                        type_id: cand.type_id,
                        type_name: type_label(targ, cand.type_id),
                        access: cand_spec.access_string(),
                        path: cand_spec.c_path(),
                        bit_offset: cand_spec.bit_offset,
                        matches: 1,
                    });
                    chosen = Some((res, cand_spec.bit_offset, cand));
                }
                Some((first, bits, first_cand)) => {
                    let first_label = || {
                        let tb = self.targets.get(first_cand.target);
                        let name = tb.map_or("?", |t| t.name());
                        let ty = tb
                            .map_or_else(String::new, |t| type_label(t.btf(), first_cand.type_id));
                        format!("{name} [{}] {ty}", first_cand.type_id)
                    };
                    if cand_spec.bit_offset != *bits {
                        return Err(CoreProblem::FieldOffsetAmbiguity {
                            first: first_label(),
                            first_bits: *bits,
                            second: label(),
                            second_bits: cand_spec.bit_offset,
                        });
                    }
                    if res.poison != first.poison || res.new_val != first.new_val {
                        let v = |r: &ReloRes| {
                            if r.poison {
                                "poison".to_string()
                            } else {
                                r.new_val.to_string()
                            }
                        };
                        return Err(CoreProblem::DecisionAmbiguity {
                            first: first_label(),
                            first_value: v(first),
                            second: label(),
                            second_value: v(&res),
                        });
                    }
                    if let Some(t) = target.as_mut() {
                        t.matches += 1;
                    }
                }
            }
            kept.push(cand);
        }
        let res = match chosen {
            Some((res, _, _)) => res,
            None => calc_relo(
                kind,
                &local_side,
                &Side {
                    spec: None,
                    ptr_size: self.targets.primary().pointer_size(),
                },
                self.order,
            )?,
        };
        Ok((res, target, kept, misses))
    }
}

/// Match a local spec against one candidate, filling `out`; `Some(reason)` if it does not
/// match.
fn match_spec<'t>(
    local: &Spec<'_>,
    targ: &'t Btf,
    targ_ptr_size: u32,
    targ_id: u32,
    out: &mut Spec<'t>,
    budget: &mut Budget,
) -> Result<Option<MissReason>, CoreProblem> {
    match Class::of(local.kind)? {
        Class::Type => {
            if local.kind == CoreReloKind::TypeMatches {
                if types_match(local.btf, local.root_type_id, targ, targ_id, budget)? {
                    return Ok(None);
                }
                let why = explain_mismatch(local.btf, local.root_type_id, targ, targ_id);
                return Ok(Some(MissReason::TypesDoNotMatch { why }));
            }
            let ok = types_are_compat(local.btf, local.root_type_id, targ, targ_id, budget)?;
            Ok((!ok).then_some(MissReason::TypesIncompatible))
        }
        Class::Enumval => {
            let tt = targ.skip_mods_and_typedefs(targ_id)?;
            let in_type = || type_label(targ, tt.id());
            let Some(values) = tt.enum_values() else {
                return Ok(Some(MissReason::NotAnEnum {
                    target_type: in_type(),
                }));
            };
            let want = local
                .acc
                .first()
                .and_then(|a| a.name)
                .map(crate::btf::essential_name)
                .unwrap_or_default();
            for (i, v) in values.enumerate() {
                budget.spend()?;
                let name = v.name()?;
                if crate::btf::essential_name(name) == want {
                    out.acc.push(Accessor {
                        type_id: tt.id(),
                        idx: i as u32,
                        name: Some(name),
                    });
                    out.raw.push(i as u32);
                    return Ok(None);
                }
            }
            Ok(Some(MissReason::EnumeratorNotFound {
                name: want.to_string(),
                in_type: in_type(),
            }))
        }
        Class::Field => match_field(local, targ, targ_ptr_size, targ_id, out, budget),
    }
}
