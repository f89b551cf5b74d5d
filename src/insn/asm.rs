//! A small builder for hand-written programs: one function per instruction form, and
//! [`Asm`] for programs with labelled jumps.
//!
//! ```
//! use oxbpf::insn::{asm::{self, Asm}, opcode::jmp, reg::*};
//!
//! // r0 = ctx ? 1 : 2
//! let mut a = Asm::new();
//! a.push(asm::mov64_imm(R0, 2));
//! a.jump_imm(jmp::JEQ, R1, 0, "out");
//! a.push(asm::mov64_imm(R0, 1));
//! a.label("out");
//! a.push(asm::exit());
//! let insns = a.finish().unwrap();
//! assert_eq!(insns[1].off, 1);
//! ```

use std::collections::HashMap;

use super::opcode::{alu, atomic, class, jmp, mode, pseudo, size, source};
use super::Insn;

/// `dst = imm` (64-bit, sign-extended).
pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU64 | alu::MOV | source::K, dst, 0, 0, imm)
}

/// `dst = src` (64-bit).
pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU64 | alu::MOV | source::X, dst, src, 0, 0)
}

/// `w(dst) = imm` (32-bit, upper half zeroed).
pub const fn mov32_imm(dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU | alu::MOV | source::K, dst, 0, 0, imm)
}

/// `w(dst) = w(src)`.
pub const fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU | alu::MOV | source::X, dst, src, 0, 0)
}

/// 64-bit ALU with an immediate: `dst op= imm` (`op` from [`alu`]).
pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU64 | op | source::K, dst, 0, 0, imm)
}

/// 64-bit ALU with a register: `dst op= src`.
pub const fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU64 | op | source::X, dst, src, 0, 0)
}

/// 32-bit ALU with an immediate.
pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU | op | source::K, dst, 0, 0, imm)
}

/// 32-bit ALU with a register.
pub const fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU | op | source::X, dst, src, 0, 0)
}

/// `dst = imm64`: the two halves of an `ld_imm64`.
pub const fn ld_imm64(dst: u8, imm: u64) -> [Insn; 2] {
    ld_imm64_pseudo(dst, 0, imm as u32 as i32, (imm >> 32) as u32 as i32)
}

/// An `ld_imm64` with a pseudo source (`opcode::pseudo::*`) and both immediates.
pub const fn ld_imm64_pseudo(dst: u8, src: u8, imm_lo: i32, imm_hi: i32) -> [Insn; 2] {
    [
        Insn::new(class::LD | mode::IMM | size::DW, dst, src, 0, imm_lo),
        Insn::new(0, 0, 0, 0, imm_hi),
    ]
}

/// `dst = map` by fd (`BPF_PSEUDO_MAP_FD`).
pub const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
    ld_imm64_pseudo(dst, pseudo::MAP_FD, fd, 0)
}

/// `dst = &map_value[0] + off` by fd (`BPF_PSEUDO_MAP_VALUE`; global data).
pub const fn ld_map_value(dst: u8, fd: i32, off: u32) -> [Insn; 2] {
    ld_imm64_pseudo(dst, pseudo::MAP_VALUE, fd, off as i32)
}

/// `dst = *(size *)(src + off)` (`sz` from [`size`]).
pub const fn ldx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | mode::MEM | sz, dst, src, off, 0)
}

/// `dst = *(s8/s16/s32 *)(src + off)`, sign-extending (cpu v4).
pub const fn ldx_sx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::LDX | mode::MEMSX | sz, dst, src, off, 0)
}

/// `*(size *)(dst + off) = src`.
pub const fn stx(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::STX | mode::MEM | sz, dst, src, off, 0)
}

/// `*(size *)(dst + off) = imm`.
pub const fn st_imm(sz: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(class::ST | mode::MEM | sz, dst, 0, off, imm)
}

/// An atomic read-modify-write `*(size *)(dst + off) op= src` (`op` from [`atomic`];
/// `sz` is `W` or `DW`).
pub const fn atomic_op(sz: u8, op: i32, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::STX | mode::ATOMIC | sz, dst, src, off, op)
}

/// `lock *(u64 *)(dst + off) += src`.
pub const fn atomic_add64(dst: u8, src: u8, off: i16) -> Insn {
    atomic_op(size::DW, atomic::ADD, dst, src, off)
}

/// `if dst op imm goto pc + off + 1` (`op` from [`jmp`]).
pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP | op | source::K, dst, 0, off, imm)
}

/// `if dst op src goto pc + off + 1`.
pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP | op | source::X, dst, src, off, 0)
}

/// 32-bit compare: `if w(dst) op imm goto pc + off + 1`.
pub const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(class::JMP32 | op | source::K, dst, 0, off, imm)
}

/// `goto pc + off + 1`.
pub const fn ja(off: i16) -> Insn {
    Insn::new(class::JMP | jmp::JA, 0, 0, off, 0)
}

/// 32-bit compare with a register: `if w(dst) op w(src) goto pc + off + 1`.
pub const fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(class::JMP32 | op | source::X, dst, src, off, 0)
}

/// `gotol pc + imm + 1`: unconditional jump with a 32-bit offset (cpu v4).
pub const fn gotol(imm: i32) -> Insn {
    Insn::new(class::JMP32 | jmp::JA, 0, 0, 0, imm)
}

/// `may_goto pc + off + 1` (6.9): jump when the verifier's loop budget is spent.
pub const fn may_goto(off: i16) -> Insn {
    Insn::new(class::JMP | jmp::JCOND, 0, 0, off, 0)
}

/// Signed division or modulo (`op` is [`alu::DIV`] or [`alu::MOD`], cpu v4): 64-bit
/// `dst s/= src` or `dst s%= src`.
pub const fn alu64_signed_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::new(class::ALU64 | op | source::X, dst, src, 1, 0)
}

/// Signed division or modulo by an immediate, 64-bit.
pub const fn alu64_signed_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(class::ALU64 | op | source::K, dst, 0, 1, imm)
}

/// `dst = (s8/s16/s32)src`, 64-bit sign-extending move (`bits` 8, 16 or 32; cpu v4).
pub const fn movsx64(dst: u8, src: u8, bits: i16) -> Insn {
    Insn::new(class::ALU64 | alu::MOV | source::X, dst, src, bits, 0)
}

/// `w(dst) = (s8/s16)w(src)`, 32-bit sign-extending move (`bits` 8 or 16; cpu v4).
pub const fn movsx32(dst: u8, src: u8, bits: i16) -> Insn {
    Insn::new(class::ALU | alu::MOV | source::X, dst, src, bits, 0)
}

/// `dst = -dst` (64-bit).
pub const fn neg64(dst: u8) -> Insn {
    Insn::new(class::ALU64 | alu::NEG, dst, 0, 0, 0)
}

/// `dst = le16/32/64 dst` or (`big`) `be16/32/64`: conversion to a byte order.
pub const fn endian(big: bool, dst: u8, bits: i32) -> Insn {
    let order = if big { source::TO_BE } else { source::TO_LE };
    Insn::new(class::ALU | alu::END | order, dst, 0, 0, bits)
}

/// `dst = bswap16/32/64 dst`: unconditional byte swap (cpu v4).
pub const fn bswap(dst: u8, bits: i32) -> Insn {
    Insn::new(class::ALU64 | alu::END, dst, 0, 0, bits)
}

/// `r0 = *(size *)skb[imm]`: legacy absolute packet load (socket filters, tc).
pub const fn ld_abs(sz: u8, imm: i32) -> Insn {
    Insn::new(class::LD | mode::ABS | sz, 0, 0, 0, imm)
}

/// `r0 = *(size *)skb[src + imm]`: legacy indirect packet load.
pub const fn ld_ind(sz: u8, src: u8, imm: i32) -> Insn {
    Insn::new(class::LD | mode::IND | sz, 0, src, 0, imm)
}

/// `dst = load_acquire((size *)(src + off))` (6.15).
pub const fn load_acquire(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(
        class::STX | mode::ATOMIC | sz,
        dst,
        src,
        off,
        atomic::LOAD_ACQ,
    )
}

/// `store_release((size *)(dst + off), src)` (6.15).
pub const fn store_release(sz: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(
        class::STX | mode::ATOMIC | sz,
        dst,
        src,
        off,
        atomic::STORE_REL,
    )
}

/// `dst = &fn` where `fn` is the BPF function at `pc + rel + 1` (`BPF_PSEUDO_FUNC`, for
/// callbacks).
pub const fn ld_func(dst: u8, rel: i32) -> [Insn; 2] {
    ld_imm64_pseudo(dst, pseudo::FUNC, rel, 0)
}

/// Call helper number `id`.
pub const fn call_helper(id: i32) -> Insn {
    Insn::new(class::JMP | jmp::CALL, 0, 0, 0, id)
}

/// Call the BPF function at `pc + rel + 1`.
pub const fn call_local(rel: i32) -> Insn {
    Insn::new(class::JMP | jmp::CALL, 0, pseudo::CALL, 0, rel)
}

/// Call kernel function `btf_id`; `fd_index` is the `fd_array` slot of its module BTF (0 for
/// vmlinux).
pub const fn call_kfunc(btf_id: i32, fd_index: i16) -> Insn {
    Insn::new(
        class::JMP | jmp::CALL,
        0,
        pseudo::KFUNC_CALL,
        fd_index,
        btf_id,
    )
}

/// `exit`.
pub const fn exit() -> Insn {
    Insn::new(class::JMP | jmp::EXIT, 0, 0, 0, 0)
}

/// An instruction list with named labels for jump targets.
#[derive(Debug, Default, Clone)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: HashMap<String, usize>,
    fixups: Vec<(usize, String)>,
}

/// A jump to a label that [`Asm::finish`] could not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    /// No [`Asm::label`] of that name.
    #[error("jump at instruction {at} to undefined label `{label}`")]
    UndefinedLabel {
        /// Index of the jump.
        at: usize,
        /// The label.
        label: String,
    },
    /// The distance does not fit the 16-bit offset.
    #[error("jump at instruction {at} to label `{label}` is out of range")]
    OutOfRange {
        /// Index of the jump.
        at: usize,
        /// The label.
        label: String,
    },
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Appends one instruction.
    pub fn push(&mut self, insn: Insn) -> &mut Asm {
        self.insns.push(insn);
        self
    }

    /// Appends several instructions (an `ld_imm64` pair, say).
    pub fn extend(&mut self, insns: impl IntoIterator<Item = Insn>) -> &mut Asm {
        self.insns.extend(insns);
        self
    }

    /// Names the position of the next instruction.
    pub fn label(&mut self, name: &str) -> &mut Asm {
        self.labels.insert(name.to_string(), self.insns.len());
        self
    }

    /// `if dst op imm goto label`.
    pub fn jump_imm(&mut self, op: u8, dst: u8, imm: i32, label: &str) -> &mut Asm {
        self.fixups.push((self.insns.len(), label.to_string()));
        self.push(jmp_imm(op, dst, imm, 0))
    }

    /// `if dst op src goto label`.
    pub fn jump_reg(&mut self, op: u8, dst: u8, src: u8, label: &str) -> &mut Asm {
        self.fixups.push((self.insns.len(), label.to_string()));
        self.push(jmp_reg(op, dst, src, 0))
    }

    /// `goto label`.
    pub fn goto(&mut self, label: &str) -> &mut Asm {
        self.fixups.push((self.insns.len(), label.to_string()));
        self.push(ja(0))
    }

    /// The number of instructions so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether no instruction was pushed.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Resolves the labels and returns the instructions.
    pub fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for (at, label) in &self.fixups {
            let target = *self
                .labels
                .get(label)
                .ok_or_else(|| AsmError::UndefinedLabel {
                    at: *at,
                    label: label.clone(),
                })?;
            let rel = target as i64 - *at as i64 - 1;
            self.insns[*at].off = i16::try_from(rel).map_err(|_| AsmError::OutOfRange {
                at: *at,
                label: label.clone(),
            })?;
        }
        Ok(self.insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernel_macros() {
        assert_eq!(mov64_imm(0, 42), Insn::new(0xb7, 0, 0, 0, 42));
        assert_eq!(mov64_reg(2, 10), Insn::new(0xbf, 2, 10, 0, 0));
        assert_eq!(alu64_imm(alu::ADD, 2, -4), Insn::new(0x07, 2, 0, 0, -4));
        assert_eq!(st_imm(size::W, 10, -4, 0), Insn::new(0x62, 10, 0, -4, 0));
        assert_eq!(ldx(size::W, 0, 0, 0), Insn::new(0x61, 0, 0, 0, 0));
        assert_eq!(stx(size::DW, 10, 1, -8), Insn::new(0x7b, 10, 1, -8, 0));
        assert_eq!(jmp_imm(jmp::JEQ, 0, 0, 2), Insn::new(0x15, 0, 0, 2, 0));
        assert_eq!(call_helper(1), Insn::new(0x85, 0, 0, 0, 1));
        assert_eq!(exit(), Insn::new(0x95, 0, 0, 0, 0));
        assert_eq!(atomic_add64(1, 2, 0), Insn::new(0xdb, 1, 2, 0, 0));
        assert_eq!(
            ld_map_fd(1, 7),
            [Insn::new(0x18, 1, 1, 0, 7), Insn::new(0, 0, 0, 0, 0)]
        );
    }

    #[test]
    fn labels_resolve_forward_and_backward() {
        let mut a = Asm::new();
        a.label("top");
        a.push(mov64_imm(0, 0));
        a.jump_imm(jmp::JNE, 0, 0, "end");
        a.goto("top");
        a.label("end");
        a.push(exit());
        let v = a.finish().unwrap();
        assert_eq!(v[1].off, 1);
        assert_eq!(v[2].off, -3);
    }

    #[test]
    fn undefined_label_is_an_error() {
        let mut a = Asm::new();
        a.goto("nowhere");
        assert!(matches!(
            a.finish(),
            Err(AsmError::UndefinedLabel { at: 0, .. })
        ));
    }
}
