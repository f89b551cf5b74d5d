//! Decoding: which instruction an [`Insn`] (or an `ld_imm64` pair) is, checked against the
//! encodings the kernel's verifier accepts.
//!
//! [`decode`] walks a program and returns one [`Decoded`] per instruction (an `ld_imm64`
//! covers two slots); [`decode_at`] decodes one. An encoding the kernel would refuse before
//! looking at the program's semantics (unknown opcode, reserved field set, register above
//! r10, `ld_imm64` without its second half, division by a zero immediate...) is a
//! [`DecodeError`] naming the instruction index and what is wrong.
//!
//! ```
//! use oxbpf::insn::{asm, decode::*, reg::*};
//!
//! let prog = [asm::mov64_imm(R0, 0), asm::exit()];
//! let d = decode(&prog).unwrap();
//! assert_eq!(d[0].instruction, Instruction::Mov { width: Width::W64, dst: R0, src: Operand::Imm(0) });
//! assert_eq!(d[1].instruction, Instruction::Exit);
//! ```

use std::fmt;

use super::opcode::{alu, atomic, class, jmp, mode, pseudo, size, source};
use super::Insn;

/// The highest register number (r10, the frame pointer).
pub const MAX_REG: u8 = 10;

/// `off` of `mov` that makes it an address-space cast (arena pointers, 6.9).
pub const ADDR_SPACE_CAST_OFF: i16 = 1;

/// `src_reg` of a `JMP | JCOND` instruction meaning `may_goto`.
pub const MAY_GOTO: u8 = 0;

/// Operand width of ALU operations and comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (`w` registers): `ALU` and `JMP32` classes.
    W32,
    /// 64-bit (`r` registers): `ALU64` and `JMP` classes.
    W64,
}

/// The second operand of an ALU operation, comparison or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register (`BPF_X`).
    Reg(u8),
    /// The 32-bit immediate (`BPF_K`), sign-extended for 64-bit operations.
    Imm(i32),
}

/// Access size of a load, store or atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte (`BPF_B`).
    B,
    /// 2 bytes (`BPF_H`).
    H,
    /// 4 bytes (`BPF_W`).
    W,
    /// 8 bytes (`BPF_DW`).
    DW,
}

impl Size {
    fn of(code: u8) -> Size {
        match code & 0x18 {
            size::B => Size::B,
            size::H => Size::H,
            size::W => Size::W,
            _ => Size::DW,
        }
    }

    /// Number of bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The size bits of the opcode.
    pub const fn bits(self) -> u8 {
        match self {
            Size::B => size::B,
            Size::H => size::H,
            Size::W => size::W,
            Size::DW => size::DW,
        }
    }
}

/// A two-operand ALU operation (`dst op= src`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=` unsigned.
    Div,
    /// `s/=` signed (`off` 1, cpu v4).
    SDiv,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// `>>=` logical.
    Rsh,
    /// `%=` unsigned.
    Mod,
    /// `s%=` signed (`off` 1, cpu v4).
    SMod,
    /// `^=`
    Xor,
    /// `s>>=` arithmetic.
    Arsh,
}

/// A comparison of a conditional jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// `>` unsigned.
    Gt,
    /// `>=` unsigned.
    Ge,
    /// `&` (jump if any bit in common).
    Set,
    /// `!=`
    Ne,
    /// `s>`
    Sgt,
    /// `s>=`
    Sge,
    /// `<` unsigned.
    Lt,
    /// `<=` unsigned.
    Le,
    /// `s<`
    Slt,
    /// `s<=`
    Sle,
}

/// The operation of an `STX | ATOMIC` instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `lock *(dst + off) += src`; with `fetch`, `src` receives the old value.
    Add {
        /// `BPF_FETCH`.
        fetch: bool,
    },
    /// `|=`
    Or {
        /// `BPF_FETCH`.
        fetch: bool,
    },
    /// `&=`
    And {
        /// `BPF_FETCH`.
        fetch: bool,
    },
    /// `^=`
    Xor {
        /// `BPF_FETCH`.
        fetch: bool,
    },
    /// `src = xchg(*(dst + off), src)`.
    Xchg,
    /// `r0 = cmpxchg(*(dst + off), r0, src)`.
    Cmpxchg,
    /// `dst = load_acquire(*(src + off))` (6.15).
    LoadAcquire,
    /// `store_release(*(dst + off), src)` (6.15).
    StoreRelease,
}

/// What a `call` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// Helper function by id (`src_reg` 0).
    Helper(i32),
    /// BPF function at `pc + rel + 1` (`BPF_PSEUDO_CALL`).
    Local(i32),
    /// Kernel function by BTF id; `module` is the `fd_array` index of its BTF (0: vmlinux).
    Kfunc {
        /// BTF id of the function.
        btf_id: i32,
        /// `fd_array` slot of the module BTF.
        module: i16,
    },
}

/// What an `ld_imm64` loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LdImm64 {
    /// A 64-bit constant.
    Const(u64),
    /// A map, by fd (`BPF_PSEUDO_MAP_FD`).
    MapFd(i32),
    /// The address of a map value at `offset`, map by fd (`BPF_PSEUDO_MAP_VALUE`).
    MapValue {
        /// Map fd.
        fd: i32,
        /// Offset into the value.
        offset: u32,
    },
    /// The address of a kernel variable by BTF id (`BPF_PSEUDO_BTF_ID`); `module` is the fd
    /// of its module BTF, 0 for vmlinux (second `imm`).
    BtfId {
        /// BTF id.
        btf_id: i32,
        /// Module BTF fd, or 0.
        module: i32,
    },
    /// The address of the BPF function at `pc + rel + 1` (`BPF_PSEUDO_FUNC`, callbacks).
    Func(i32),
    /// A map, by `fd_array` index (`BPF_PSEUDO_MAP_IDX`).
    MapIdx(i32),
    /// A map value address, map by `fd_array` index (`BPF_PSEUDO_MAP_IDX_VALUE`).
    MapIdxValue {
        /// `fd_array` index.
        index: i32,
        /// Offset into the value.
        offset: u32,
    },
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `dst op= src`.
    Alu {
        /// 32- or 64-bit.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: u8,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit.
        width: Width,
        /// The register.
        dst: u8,
    },
    /// `dst = src`.
    Mov {
        /// 32- or 64-bit (32-bit zeroes the upper half).
        width: Width,
        /// Destination.
        dst: u8,
        /// Source.
        src: Operand,
    },
    /// `dst = (s8/s16/s32)src`: sign-extending move (cpu v4).
    MovSx {
        /// 32- or 64-bit destination.
        width: Width,
        /// Destination.
        dst: u8,
        /// Source.
        src: u8,
        /// Bits sign-extended from: 8, 16 or 32 (32 only for 64-bit).
        bits: u8,
    },
    /// `dst = addr_space_cast(src, dst_as, src_as)` (arena, 6.9).
    AddrSpaceCast {
        /// Destination.
        dst: u8,
        /// Source.
        src: u8,
        /// Destination address space (upper 16 bits of `imm`).
        dst_as: u16,
        /// Source address space (lower 16 bits of `imm`).
        src_as: u16,
    },
    /// `dst = le16/le32/le64 dst` or `be..`: conversion to a byte order (`ALU | END`).
    Endian {
        /// Convert to big-endian (`BPF_TO_BE`) rather than little-endian.
        big: bool,
        /// The register.
        dst: u8,
        /// 16, 32 or 64.
        bits: u8,
    },
    /// `dst = bswap16/32/64 dst`: unconditional byte swap (`ALU64 | END`, cpu v4).
    Bswap {
        /// The register.
        dst: u8,
        /// 16, 32 or 64.
        bits: u8,
    },
    /// `if dst cond src goto pc + off + 1`.
    Jump {
        /// `JMP32` compares the lower halves.
        width: Width,
        /// The comparison.
        cond: JmpCond,
        /// First operand.
        dst: u8,
        /// Second operand.
        src: Operand,
        /// Relative target.
        off: i16,
    },
    /// `goto pc + off + 1` (`JMP | JA`, 16-bit offset) or `gotol` (`JMP32 | JA`, 32-bit
    /// offset in `imm`).
    Goto {
        /// Relative target.
        off: i32,
        /// The `gotol` form.
        long: bool,
    },
    /// `gotox dst`: indirect jump through an instruction-array value.
    GotoX {
        /// Register holding the target.
        dst: u8,
    },
    /// `may_goto pc + off + 1` (`JMP | JCOND`, 6.9): taken when the loop budget runs out.
    MayGoto {
        /// Relative target.
        off: i16,
    },
    /// `call`.
    Call(CallTarget),
    /// `exit`.
    Exit,
    /// `ld_imm64` (two slots).
    LdImm64 {
        /// Destination.
        dst: u8,
        /// What is loaded.
        value: LdImm64,
    },
    /// `r0 = *(size *)skb[imm]`: legacy absolute packet load.
    LdAbs {
        /// 1, 2 or 4 bytes.
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// `r0 = *(size *)skb[src + imm]`: legacy indirect packet load.
    LdInd {
        /// 1, 2 or 4 bytes.
        size: Size,
        /// Register adding to the offset.
        src: u8,
        /// Packet offset.
        imm: i32,
    },
    /// `dst = *(size *)(src + off)`, zero- or sign-extended (`LDX | MEM` / `LDX | MEMSX`).
    Load {
        /// Access size.
        size: Size,
        /// Sign-extending (`MEMSX`, cpu v4).
        signed: bool,
        /// Destination.
        dst: u8,
        /// Base address.
        src: u8,
        /// Offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = src` (`STX | MEM` with a register, `ST | MEM` with an
    /// immediate).
    Store {
        /// Access size.
        size: Size,
        /// Base address.
        dst: u8,
        /// Offset.
        off: i16,
        /// Stored value.
        src: Operand,
    },
    /// `STX | ATOMIC`.
    Atomic {
        /// Access size.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Base address (the loaded register for [`AtomicOp::LoadAcquire`]).
        dst: u8,
        /// Operand (the base address for [`AtomicOp::LoadAcquire`]).
        src: u8,
        /// Offset.
        off: i16,
    },
}

impl Instruction {
    /// Number of instruction slots this takes (2 for `ld_imm64`).
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The relative jump target (`off` or `imm`), for jumps of any kind and `may_goto`.
    pub const fn jump_offset(&self) -> Option<i32> {
        match *self {
            Instruction::Jump { off, .. } | Instruction::MayGoto { off } => Some(off as i32),
            Instruction::Goto { off, .. } => Some(off),
            _ => None,
        }
    }
}

impl Width {
    const fn alu_class(self) -> u8 {
        match self {
            Width::W32 => class::ALU,
            Width::W64 => class::ALU64,
        }
    }

    const fn jmp_class(self) -> u8 {
        match self {
            Width::W32 => class::JMP32,
            Width::W64 => class::JMP,
        }
    }
}

impl Operand {
    /// The source bit, `src_reg` and `imm` this operand encodes to.
    const fn parts(self) -> (u8, u8, i32) {
        match self {
            Operand::Reg(r) => (source::X, r, 0),
            Operand::Imm(i) => (source::K, 0, i),
        }
    }
}

impl AluOp {
    /// The operation bits and the `off` marking the signed variants.
    const fn parts(self) -> (u8, i16) {
        match self {
            AluOp::Add => (alu::ADD, 0),
            AluOp::Sub => (alu::SUB, 0),
            AluOp::Mul => (alu::MUL, 0),
            AluOp::Div => (alu::DIV, 0),
            AluOp::SDiv => (alu::DIV, 1),
            AluOp::Or => (alu::OR, 0),
            AluOp::And => (alu::AND, 0),
            AluOp::Lsh => (alu::LSH, 0),
            AluOp::Rsh => (alu::RSH, 0),
            AluOp::Mod => (alu::MOD, 0),
            AluOp::SMod => (alu::MOD, 1),
            AluOp::Xor => (alu::XOR, 0),
            AluOp::Arsh => (alu::ARSH, 0),
        }
    }
}

impl JmpCond {
    const fn op(self) -> u8 {
        match self {
            JmpCond::Eq => jmp::JEQ,
            JmpCond::Gt => jmp::JGT,
            JmpCond::Ge => jmp::JGE,
            JmpCond::Set => jmp::JSET,
            JmpCond::Ne => jmp::JNE,
            JmpCond::Sgt => jmp::JSGT,
            JmpCond::Sge => jmp::JSGE,
            JmpCond::Lt => jmp::JLT,
            JmpCond::Le => jmp::JLE,
            JmpCond::Slt => jmp::JSLT,
            JmpCond::Sle => jmp::JSLE,
        }
    }
}

impl AtomicOp {
    const fn imm(self) -> i32 {
        const fn fetch(f: bool) -> i32 {
            if f {
                atomic::FETCH
            } else {
                0
            }
        }
        match self {
            AtomicOp::Add { fetch: f } => atomic::ADD | fetch(f),
            AtomicOp::Or { fetch: f } => atomic::OR | fetch(f),
            AtomicOp::And { fetch: f } => atomic::AND | fetch(f),
            AtomicOp::Xor { fetch: f } => atomic::XOR | fetch(f),
            AtomicOp::Xchg => atomic::XCHG,
            AtomicOp::Cmpxchg => atomic::CMPXCHG,
            AtomicOp::LoadAcquire => atomic::LOAD_ACQ,
            AtomicOp::StoreRelease => atomic::STORE_REL,
        }
    }
}

impl LdImm64 {
    /// `src_reg` and both immediates.
    const fn parts(self) -> (u8, i32, i32) {
        match self {
            LdImm64::Const(v) => (0, v as u32 as i32, (v >> 32) as u32 as i32),
            LdImm64::MapFd(fd) => (pseudo::MAP_FD, fd, 0),
            LdImm64::MapValue { fd, offset } => (pseudo::MAP_VALUE, fd, offset as i32),
            LdImm64::BtfId { btf_id, module } => (pseudo::BTF_ID, btf_id, module),
            LdImm64::Func(rel) => (pseudo::FUNC, rel, 0),
            LdImm64::MapIdx(i) => (pseudo::MAP_IDX, i, 0),
            LdImm64::MapIdxValue { index, offset } => (pseudo::MAP_IDX_VALUE, index, offset as i32),
        }
    }
}

impl Instruction {
    /// Encodes the instruction (two slots for `ld_imm64`): `decode` of the result gives it
    /// back.
    pub fn encode(&self) -> Vec<Insn> {
        let one = |code, dst, src, off, imm| vec![Insn::new(code, dst, src, off, imm)];
        match *self {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (bits, off) = op.parts();
                let (x, s, imm) = src.parts();
                one(width.alu_class() | bits | x, dst, s, off, imm)
            }
            Instruction::Neg { width, dst } => one(width.alu_class() | alu::NEG, dst, 0, 0, 0),
            Instruction::Mov { width, dst, src } => {
                let (x, s, imm) = src.parts();
                one(width.alu_class() | alu::MOV | x, dst, s, 0, imm)
            }
            Instruction::MovSx {
                width,
                dst,
                src,
                bits,
            } => one(
                width.alu_class() | alu::MOV | source::X,
                dst,
                src,
                bits as i16,
                0,
            ),
            Instruction::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => one(
                class::ALU64 | alu::MOV | source::X,
                dst,
                src,
                ADDR_SPACE_CAST_OFF,
                ((dst_as as u32) << 16 | src_as as u32) as i32,
            ),
            Instruction::Endian { big, dst, bits } => {
                let order = if big { source::TO_BE } else { source::TO_LE };
                one(class::ALU | alu::END | order, dst, 0, 0, bits as i32)
            }
            Instruction::Bswap { dst, bits } => {
                one(class::ALU64 | alu::END, dst, 0, 0, bits as i32)
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let (x, s, imm) = src.parts();
                one(width.jmp_class() | cond.op() | x, dst, s, off, imm)
            }
            Instruction::Goto { off, long: true } => one(class::JMP32 | jmp::JA, 0, 0, 0, off),
            Instruction::Goto { off, long: false } => {
                one(class::JMP | jmp::JA, 0, 0, off as i16, 0)
            }
            Instruction::GotoX { dst } => one(class::JMP | jmp::JA | source::X, dst, 0, 0, 0),
            Instruction::MayGoto { off } => one(class::JMP | jmp::JCOND, 0, MAY_GOTO, off, 0),
            Instruction::Call(CallTarget::Helper(id)) => one(class::JMP | jmp::CALL, 0, 0, 0, id),
            Instruction::Call(CallTarget::Local(rel)) => {
                one(class::JMP | jmp::CALL, 0, pseudo::CALL, 0, rel)
            }
            Instruction::Call(CallTarget::Kfunc { btf_id, module }) => one(
                class::JMP | jmp::CALL,
                0,
                pseudo::KFUNC_CALL,
                module,
                btf_id,
            ),
            Instruction::Exit => one(class::JMP | jmp::EXIT, 0, 0, 0, 0),
            Instruction::LdImm64 { dst, value } => {
                let (src, lo, hi) = value.parts();
                vec![
                    Insn::new(class::LD | mode::IMM | size::DW, dst, src, 0, lo),
                    Insn::new(0, 0, 0, 0, hi),
                ]
            }
            Instruction::LdAbs { size: sz, imm } => {
                one(class::LD | mode::ABS | sz.bits(), 0, 0, 0, imm)
            }
            Instruction::LdInd { size: sz, src, imm } => {
                one(class::LD | mode::IND | sz.bits(), 0, src, 0, imm)
            }
            Instruction::Load {
                size: sz,
                signed,
                dst,
                src,
                off,
            } => {
                let m = if signed { mode::MEMSX } else { mode::MEM };
                one(class::LDX | m | sz.bits(), dst, src, off, 0)
            }
            Instruction::Store {
                size: sz,
                dst,
                off,
                src: Operand::Reg(src),
            } => one(class::STX | mode::MEM | sz.bits(), dst, src, off, 0),
            Instruction::Store {
                size: sz,
                dst,
                off,
                src: Operand::Imm(imm),
            } => one(class::ST | mode::MEM | sz.bits(), dst, 0, off, imm),
            Instruction::Atomic {
                size: sz,
                op,
                dst,
                src,
                off,
            } => one(
                class::STX | mode::ATOMIC | sz.bits(),
                dst,
                src,
                off,
                op.imm(),
            ),
        }
    }
}

/// One decoded instruction and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decoded {
    /// Index of its (first) slot.
    pub index: usize,
    /// What it is.
    pub instruction: Instruction,
}

/// What is wrong with an encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DecodeProblem {
    /// The opcode byte is not one the kernel knows.
    UnknownOpcode,
    /// A register number above r10.
    BadRegister {
        /// `dst` or `src`.
        which: &'static str,
        /// The number.
        reg: u8,
    },
    /// A field the encoding reserves is not zero (or not one of its allowed values).
    Reserved {
        /// The field: `dst`, `src`, `off` or `imm`.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// `ld_imm64` is the last instruction: its second half is missing.
    MissingSecondHalf,
    /// The second half of an `ld_imm64` is not `{code 0, regs 0, off 0}`.
    BadSecondHalf,
    /// `ld_imm64` with a `src_reg` that is no known pseudo source.
    UnknownPseudo(u8),
    /// Division or modulo by a zero immediate.
    DivisionByZero,
    /// Shift by an immediate not below the operand width.
    ShiftOutOfRange(i32),
    /// `BPF_END` with a width other than 16, 32 or 64.
    BadSwapWidth(i32),
    /// An atomic operation with a size it does not support.
    BadAtomicSize,
    /// An atomic operation the kernel does not know (`imm`).
    UnknownAtomic(i32),
}

impl fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeProblem::UnknownOpcode => f.write_str("unknown opcode"),
            DecodeProblem::BadRegister { which, reg } => {
                write!(f, "{which} register r{reg} does not exist")
            }
            DecodeProblem::Reserved { field, value } => {
                write!(f, "reserved field {field} is {value}")
            }
            DecodeProblem::MissingSecondHalf => {
                f.write_str("ld_imm64 is the last instruction: its second half is missing")
            }
            DecodeProblem::BadSecondHalf => {
                f.write_str("second half of ld_imm64 has a non-zero code, register or offset")
            }
            DecodeProblem::UnknownPseudo(src) => {
                write!(f, "ld_imm64 with unknown pseudo source {src}")
            }
            DecodeProblem::DivisionByZero => f.write_str("division by zero"),
            DecodeProblem::ShiftOutOfRange(n) => write!(f, "shift by {n} out of range"),
            DecodeProblem::BadSwapWidth(n) => write!(f, "byte swap of {n} bits"),
            DecodeProblem::BadAtomicSize => f.write_str("atomic operation of this size"),
            DecodeProblem::UnknownAtomic(imm) => write!(f, "unknown atomic operation {imm:#x}"),
        }
    }
}

/// An invalid encoding at instruction `index`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("instruction {index} (opcode {code:#04x}): {problem}")]
pub struct DecodeError {
    /// Index of the instruction.
    pub index: usize,
    /// Its opcode byte.
    pub code: u8,
    /// What is wrong.
    pub problem: DecodeProblem,
}

/// Decodes every instruction of `insns` (an `ld_imm64` yields one [`Decoded`] for two
/// slots). Stops at the first invalid encoding.
pub fn decode(insns: &[Insn]) -> Result<Vec<Decoded>, DecodeError> {
    let mut out = Vec::with_capacity(insns.len());
    let mut index = 0;
    while index < insns.len() {
        let instruction = decode_at(insns, index)?;
        out.push(Decoded { index, instruction });
        index += instruction.slots();
    }
    Ok(out)
}

/// Decodes the instruction at `index` (reading `index + 1` too for `ld_imm64`). An `index`
/// past the end is an [`DecodeProblem::UnknownOpcode`] error with code 0.
pub fn decode_at(insns: &[Insn], index: usize) -> Result<Instruction, DecodeError> {
    let Some(insn) = insns.get(index) else {
        return Err(DecodeError {
            index,
            code: 0,
            problem: DecodeProblem::UnknownOpcode,
        });
    };
    let fail = |problem| DecodeError {
        index,
        code: insn.code,
        problem,
    };
    check_regs(insn).map_err(fail)?;
    let decoded = match insn.class() {
        class::ALU | class::ALU64 => decode_alu(insn),
        class::JMP | class::JMP32 => decode_jmp(insn),
        class::LD => decode_ld(insn, insns.get(index + 1)),
        class::LDX => decode_ldx(insn),
        class::ST => decode_st(insn),
        _ => decode_stx(insn),
    };
    decoded.map_err(fail)
}

type Res = Result<Instruction, DecodeProblem>;

fn check_regs(insn: &Insn) -> Result<(), DecodeProblem> {
    if insn.dst() > MAX_REG {
        return Err(DecodeProblem::BadRegister {
            which: "dst",
            reg: insn.dst(),
        });
    }
    // ld_imm64 and calls use src_reg as a pseudo marker; their own decoders check it.
    if insn.src() > MAX_REG && !insn.is_ld_imm64() && !insn.is_call() {
        return Err(DecodeProblem::BadRegister {
            which: "src",
            reg: insn.src(),
        });
    }
    Ok(())
}

fn reserved(field: &'static str, value: impl Into<i64>) -> DecodeProblem {
    DecodeProblem::Reserved {
        field,
        value: value.into(),
    }
}

fn zero(field: &'static str, value: impl Into<i64> + Copy) -> Result<(), DecodeProblem> {
    let v: i64 = value.into();
    if v == 0 {
        Ok(())
    } else {
        Err(reserved(field, v))
    }
}

fn decode_alu(insn: &Insn) -> Res {
    let width = if insn.class() == class::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let op = insn.code & 0xf0;
    let is_x = insn.code & source::X != 0;
    let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
    match op {
        alu::END => {
            zero("src", src)?;
            zero("off", off)?;
            if !matches!(imm, 16 | 32 | 64) {
                return Err(DecodeProblem::BadSwapWidth(imm));
            }
            let bits = imm as u8;
            if width == Width::W64 {
                // ALU64 | END is bswap; only the TO_LE encoding is defined.
                if is_x {
                    return Err(DecodeProblem::UnknownOpcode);
                }
                Ok(Instruction::Bswap { dst, bits })
            } else {
                Ok(Instruction::Endian {
                    big: is_x,
                    dst,
                    bits,
                })
            }
        }
        alu::NEG => {
            if is_x {
                return Err(DecodeProblem::UnknownOpcode);
            }
            zero("src", src)?;
            zero("off", off)?;
            zero("imm", imm)?;
            Ok(Instruction::Neg { width, dst })
        }
        alu::MOV => decode_mov(insn, width),
        0xe0 | 0xf0 => Err(DecodeProblem::UnknownOpcode),
        _ => {
            let signed = match off {
                0 => false,
                1 if matches!(op, alu::DIV | alu::MOD) => true,
                _ => return Err(reserved("off", off)),
            };
            let op = match (op, signed) {
                (alu::ADD, _) => AluOp::Add,
                (alu::SUB, _) => AluOp::Sub,
                (alu::MUL, _) => AluOp::Mul,
                (alu::DIV, false) => AluOp::Div,
                (alu::DIV, true) => AluOp::SDiv,
                (alu::OR, _) => AluOp::Or,
                (alu::AND, _) => AluOp::And,
                (alu::LSH, _) => AluOp::Lsh,
                (alu::RSH, _) => AluOp::Rsh,
                (alu::MOD, false) => AluOp::Mod,
                (alu::MOD, true) => AluOp::SMod,
                (alu::XOR, _) => AluOp::Xor,
                _ => AluOp::Arsh,
            };
            let src = if is_x {
                zero("imm", imm)?;
                Operand::Reg(src)
            } else {
                zero("src", src)?;
                if matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) && imm == 0 {
                    return Err(DecodeProblem::DivisionByZero);
                }
                let bits = if width == Width::W64 { 64 } else { 32 };
                if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && !(0..bits).contains(&imm)
                {
                    return Err(DecodeProblem::ShiftOutOfRange(imm));
                }
                Operand::Imm(imm)
            };
            Ok(Instruction::Alu {
                width,
                op,
                dst,
                src,
            })
        }
    }
}

fn decode_mov(insn: &Insn, width: Width) -> Res {
    let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
    if insn.code & source::X == 0 {
        zero("src", src)?;
        zero("off", off)?;
        return Ok(Instruction::Mov {
            width,
            dst,
            src: Operand::Imm(imm),
        });
    }
    if width == Width::W64 && off == ADDR_SPACE_CAST_OFF {
        if imm != 1 && imm != 1 << 16 {
            return Err(reserved("imm", imm));
        }
        return Ok(Instruction::AddrSpaceCast {
            dst,
            src,
            dst_as: (imm as u32 >> 16) as u16,
            src_as: imm as u16,
        });
    }
    zero("imm", imm)?;
    match (off, width) {
        (0, _) => Ok(Instruction::Mov {
            width,
            dst,
            src: Operand::Reg(src),
        }),
        (8 | 16, _) | (32, Width::W64) => Ok(Instruction::MovSx {
            width,
            dst,
            src,
            bits: off as u8,
        }),
        _ => Err(reserved("off", off)),
    }
}

fn decode_jmp(insn: &Insn) -> Res {
    let is32 = insn.class() == class::JMP32;
    let op = insn.code & 0xf0;
    let is_x = insn.code & source::X != 0;
    let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
    match op {
        jmp::CALL => {
            if is32 || is_x {
                return Err(DecodeProblem::UnknownOpcode);
            }
            zero("dst", dst)?;
            match src {
                0 => {
                    zero("off", off)?;
                    Ok(Instruction::Call(CallTarget::Helper(imm)))
                }
                pseudo::CALL => {
                    zero("off", off)?;
                    Ok(Instruction::Call(CallTarget::Local(imm)))
                }
                pseudo::KFUNC_CALL => Ok(Instruction::Call(CallTarget::Kfunc {
                    btf_id: imm,
                    module: off,
                })),
                other => Err(reserved("src", other)),
            }
        }
        jmp::EXIT => {
            if is32 || is_x {
                return Err(DecodeProblem::UnknownOpcode);
            }
            zero("dst", dst)?;
            zero("src", src)?;
            zero("off", off)?;
            zero("imm", imm)?;
            Ok(Instruction::Exit)
        }
        jmp::JA => {
            if is_x {
                // gotox: JMP | JA | X, target register in dst.
                if is32 {
                    return Err(DecodeProblem::UnknownOpcode);
                }
                zero("src", src)?;
                zero("off", off)?;
                zero("imm", imm)?;
                return Ok(Instruction::GotoX { dst });
            }
            zero("dst", dst)?;
            zero("src", src)?;
            if is32 {
                zero("off", off)?;
                Ok(Instruction::Goto {
                    off: imm,
                    long: true,
                })
            } else {
                zero("imm", imm)?;
                Ok(Instruction::Goto {
                    off: off as i32,
                    long: false,
                })
            }
        }
        jmp::JCOND => {
            if is32 || is_x {
                return Err(DecodeProblem::UnknownOpcode);
            }
            if src != MAY_GOTO {
                return Err(reserved("src", src));
            }
            zero("dst", dst)?;
            zero("imm", imm)?;
            Ok(Instruction::MayGoto { off })
        }
        0xf0 => Err(DecodeProblem::UnknownOpcode),
        _ => {
            let cond = match op {
                jmp::JEQ => JmpCond::Eq,
                jmp::JGT => JmpCond::Gt,
                jmp::JGE => JmpCond::Ge,
                jmp::JSET => JmpCond::Set,
                jmp::JNE => JmpCond::Ne,
                jmp::JSGT => JmpCond::Sgt,
                jmp::JSGE => JmpCond::Sge,
                jmp::JLT => JmpCond::Lt,
                jmp::JLE => JmpCond::Le,
                jmp::JSLT => JmpCond::Slt,
                _ => JmpCond::Sle,
            };
            let src = if is_x {
                zero("imm", imm)?;
                Operand::Reg(src)
            } else {
                zero("src", src)?;
                Operand::Imm(imm)
            };
            Ok(Instruction::Jump {
                width: if is32 { Width::W32 } else { Width::W64 },
                cond,
                dst,
                src,
                off,
            })
        }
    }
}

fn decode_ld(insn: &Insn, next: Option<&Insn>) -> Res {
    let sz = Size::of(insn.code);
    match insn.code & 0xe0 {
        mode::IMM if sz == Size::DW => {
            zero("off", insn.off)?;
            let next = next.ok_or(DecodeProblem::MissingSecondHalf)?;
            if next.code != 0 || next.regs != 0 || next.off != 0 {
                return Err(DecodeProblem::BadSecondHalf);
            }
            let (lo, hi) = (insn.imm, next.imm);
            let value = match insn.src() {
                0 => LdImm64::Const(insn.imm64(next)),
                pseudo::MAP_FD => {
                    zero("imm of the second half", hi)?;
                    LdImm64::MapFd(lo)
                }
                pseudo::MAP_VALUE => LdImm64::MapValue {
                    fd: lo,
                    offset: hi as u32,
                },
                pseudo::BTF_ID => LdImm64::BtfId {
                    btf_id: lo,
                    module: hi,
                },
                pseudo::FUNC => {
                    zero("imm of the second half", hi)?;
                    LdImm64::Func(lo)
                }
                pseudo::MAP_IDX => {
                    zero("imm of the second half", hi)?;
                    LdImm64::MapIdx(lo)
                }
                pseudo::MAP_IDX_VALUE => LdImm64::MapIdxValue {
                    index: lo,
                    offset: hi as u32,
                },
                other => return Err(DecodeProblem::UnknownPseudo(other)),
            };
            Ok(Instruction::LdImm64 {
                dst: insn.dst(),
                value,
            })
        }
        m @ (mode::ABS | mode::IND) if sz != Size::DW => {
            zero("dst", insn.dst())?;
            zero("off", insn.off)?;
            if m == mode::ABS {
                zero("src", insn.src())?;
                Ok(Instruction::LdAbs {
                    size: sz,
                    imm: insn.imm,
                })
            } else {
                Ok(Instruction::LdInd {
                    size: sz,
                    src: insn.src(),
                    imm: insn.imm,
                })
            }
        }
        _ => Err(DecodeProblem::UnknownOpcode),
    }
}

fn decode_ldx(insn: &Insn) -> Res {
    let sz = Size::of(insn.code);
    let signed = match insn.code & 0xe0 {
        mode::MEM => false,
        mode::MEMSX if sz != Size::DW => true,
        _ => return Err(DecodeProblem::UnknownOpcode),
    };
    zero("imm", insn.imm)?;
    Ok(Instruction::Load {
        size: sz,
        signed,
        dst: insn.dst(),
        src: insn.src(),
        off: insn.off,
    })
}

fn decode_st(insn: &Insn) -> Res {
    if insn.code & 0xe0 != mode::MEM {
        return Err(DecodeProblem::UnknownOpcode);
    }
    zero("src", insn.src())?;
    Ok(Instruction::Store {
        size: Size::of(insn.code),
        dst: insn.dst(),
        off: insn.off,
        src: Operand::Imm(insn.imm),
    })
}

fn decode_stx(insn: &Insn) -> Res {
    let sz = Size::of(insn.code);
    let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
    match insn.code & 0xe0 {
        mode::MEM => {
            zero("imm", imm)?;
            Ok(Instruction::Store {
                size: sz,
                dst,
                off,
                src: Operand::Reg(src),
            })
        }
        mode::ATOMIC => {
            let fetch = imm & atomic::FETCH != 0;
            let op = match imm {
                atomic::LOAD_ACQ => AtomicOp::LoadAcquire,
                atomic::STORE_REL => AtomicOp::StoreRelease,
                atomic::XCHG => AtomicOp::Xchg,
                atomic::CMPXCHG => AtomicOp::Cmpxchg,
                _ => match imm & !atomic::FETCH {
                    atomic::ADD => AtomicOp::Add { fetch },
                    atomic::OR => AtomicOp::Or { fetch },
                    atomic::AND => AtomicOp::And { fetch },
                    atomic::XOR => AtomicOp::Xor { fetch },
                    _ => return Err(DecodeProblem::UnknownAtomic(imm)),
                },
            };
            let rmw = !matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
            if rmw && !matches!(sz, Size::W | Size::DW) {
                return Err(DecodeProblem::BadAtomicSize);
            }
            Ok(Instruction::Atomic {
                size: sz,
                op,
                dst,
                src,
                off,
            })
        }
        _ => Err(DecodeProblem::UnknownOpcode),
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
