//! Writing a relocation's value into its instruction (libbpf's `bpf_core_patch_insn`):
//! `imm` of ALU/ALU64 with an immediate, `off` of loads and stores (with a width change
//! where safe), both halves of a plain `ld_imm64`; or the poison call.

use crate::insn::opcode::{class, size, source, POISON_CORE};
use crate::insn::Insn;

use super::calc::ReloRes;
use super::decision::{Outcome, Patch, PatchedField, PoisonCause};
use super::error::CoreProblem;

/// The instruction(s) a relocation rewrites: one, or two for an `ld_imm64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rewrite {
    pub before: Vec<Insn>,
    pub after: Vec<Insn>,
    pub outcome: Outcome,
}

/// The poison call: `call 0xbad2310` with zero registers and offset.
pub(crate) fn poison_insn() -> Insn {
    Insn::new(
        class::JMP | crate::insn::opcode::jmp::CALL,
        0,
        0,
        0,
        POISON_CORE,
    )
}

fn slot(insns: &[Insn], idx: usize) -> Result<Insn, CoreProblem> {
    insns.get(idx).copied().ok_or(CoreProblem::InsnOutOfRange {
        insn: idx,
        len: insns.len(),
    })
}

fn poison(insns: &[Insn], idx: usize, cause: PoisonCause) -> Result<Rewrite, CoreProblem> {
    let first = slot(insns, idx)?;
    // Both halves of an ld_imm64, or the verifier complains about "unknown opcode 00".
    let before = if first.is_ld_imm64() {
        vec![first, slot(insns, idx + 1)?]
    } else {
        vec![first]
    };
    Ok(Rewrite {
        after: vec![poison_insn(); before.len()],
        before,
        outcome: Outcome::Poisoned(cause),
    })
}

fn unexpected(found: i64, expected: u64) -> CoreProblem {
    CoreProblem::UnexpectedValue { found, expected }
}

/// Compute how the relocation `res` rewrites instruction `idx` of `insns` (not applied).
pub(crate) fn rewrite(insns: &[Insn], idx: usize, res: &ReloRes) -> Result<Rewrite, CoreProblem> {
    let insn = slot(insns, idx)?;
    if res.poison {
        return poison(insns, idx, PoisonCause::Unresolved);
    }
    let (orig, new) = (res.orig_val, res.new_val);
    match insn.class() {
        class::ALU | class::ALU64 => {
            if insn.code & source::X != source::K {
                return Err(CoreProblem::UnsupportedInsn { code: insn.code });
            }
            if res.validate && insn.imm as i64 as u64 != orig {
                return Err(unexpected(i64::from(insn.imm), orig));
            }
            let mut after = insn;
            after.imm = new as i32;
            Ok(Rewrite {
                before: vec![insn],
                after: vec![after],
                outcome: Outcome::Patched(Patch {
                    field: PatchedField::Imm,
                    old: i64::from(insn.imm),
                    new: i64::from(after.imm),
                    mem_size: None,
                }),
            })
        }
        class::LDX | class::ST | class::STX => {
            if res.validate && insn.off as i64 as u64 != orig {
                return Err(unexpected(i64::from(insn.off), orig));
            }
            if new > i16::MAX as u64 {
                return Err(CoreProblem::OffsetTooLarge { value: new });
            }
            if res.fail_memsz_adjust {
                return poison(
                    insns,
                    idx,
                    PoisonCause::SizeMismatch {
                        local: res.orig_sz,
                        target: res.new_sz,
                    },
                );
            }
            let mut after = insn;
            after.off = new as i16;
            let mut mem_size = None;
            if res.new_sz != res.orig_sz {
                let width = insn.mem_size();
                if width != res.orig_sz {
                    return Err(CoreProblem::UnexpectedMemSize {
                        found: width,
                        expected: res.orig_sz,
                    });
                }
                let bits = size::from_bytes(res.new_sz)
                    .ok_or(CoreProblem::InvalidMemSize { size: res.new_sz })?;
                after.code = (insn.code & 0xe0) | bits | insn.class();
                mem_size = Some((res.orig_sz, res.new_sz));
            }
            Ok(Rewrite {
                before: vec![insn],
                after: vec![after],
                outcome: Outcome::Patched(Patch {
                    field: PatchedField::Off,
                    old: i64::from(insn.off),
                    new: i64::from(after.off),
                    mem_size,
                }),
            })
        }
        class::LD => {
            let next = insns.get(idx + 1).copied();
            let Some(next) = next.filter(|n| {
                insn.is_ld_imm64()
                    && insn.src() == 0
                    && insn.off == 0
                    && n.code == 0
                    && n.regs == 0
                    && n.off == 0
            }) else {
                return Err(CoreProblem::BadLdImm64);
            };
            let imm = insn.imm64(&next);
            if res.validate && imm != orig {
                return Err(unexpected(imm as i64, orig));
            }
            let (mut lo, mut hi) = (insn, next);
            lo.imm = new as u32 as i32;
            hi.imm = (new >> 32) as u32 as i32;
            Ok(Rewrite {
                before: vec![insn, next],
                after: vec![lo, hi],
                outcome: Outcome::Patched(Patch {
                    field: PatchedField::Imm64,
                    old: imm as i64,
                    new: new as i64,
                    mem_size: None,
                }),
            })
        }
        _ => Err(CoreProblem::UnsupportedInsn { code: insn.code }),
    }
}
