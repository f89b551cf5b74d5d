//! The eBPF instruction: encoding, decoding, a disassembler and a builder.
//!
//! Pure: never makes a syscall.
//!
//! - [`Insn`] is `struct bpf_insn`, 8 bytes; an `ld_imm64` is two of them.
//! - [`opcode`] names the opcode fields; [`reg`] the registers.
//! - [`decode`](mod@decode) says which instruction an encoding is ([`decode::Instruction`]) and rejects
//!   what the kernel would refuse, naming the instruction index.
//! - [`disasm`](mod@disasm) prints instructions in the kernel verifier's syntax; [`helpers`] names helper
//!   ids.
//! - [`asm`] builds instructions by hand (tests and feature probes use it):
//!
//! ```
//! use oxbpf::insn::{asm, reg::*, Insn};
//!
//! let prog: Vec<Insn> = [asm::mov64_imm(R0, 42), asm::exit()].into();
//! assert_eq!(prog[0], Insn::new(0xb7, 0, 0, 0, 42));
//! ```

pub mod asm;
pub mod decode;
pub mod disasm;
pub mod helpers;
pub mod opcode;

pub use decode::{decode, DecodeError, Instruction};
pub use disasm::{disasm, Disassembler};
pub use helpers::{helper_id, helper_name, HELPER_COUNT};
pub use opcode::reg;

use opcode::{class, jmp, mode, pseudo, size};

/// One 8-byte eBPF instruction, laid out exactly as the kernel's `struct bpf_insn`.
///
/// `regs` holds the destination register in its low nibble and the source register in its
/// high nibble (little-endian bitfield order). An `ld_imm64` takes two consecutive
/// instructions; the second one carries the upper 32 bits of the constant in `imm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Insn {
    /// Opcode: class, size/source and operation bits.
    pub code: u8,
    /// `dst_reg` (low nibble) and `src_reg` (high nibble).
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

/// Byte order of an instruction stream (an object's ELF data encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little-endian (x86-64, arm64, ...): `dst` in the low nibble of the register byte.
    Little,
    /// Big-endian (s390x, ...): `dst` in the high nibble.
    Big,
}

impl ByteOrder {
    /// The byte order of this machine.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
}

impl Insn {
    /// Size in bytes of one instruction.
    pub const SIZE: usize = 8;

    /// Builds an instruction from its fields.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0x0f) | (src << 4),
            off,
            imm,
        }
    }

    /// The destination register.
    pub const fn dst(&self) -> u8 {
        self.regs & 0x0f
    }

    /// The source register.
    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }

    /// Sets the destination register.
    pub fn set_dst(&mut self, dst: u8) {
        self.regs = (self.regs & 0xf0) | (dst & 0x0f);
    }

    /// Sets the source register.
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }

    /// The instruction class (`opcode::class::*`).
    pub const fn class(&self) -> u8 {
        self.code & 0x07
    }

    /// Decodes one instruction from 8 bytes in the given byte order.
    pub const fn from_bytes(b: [u8; 8], order: ByteOrder) -> Insn {
        match order {
            ByteOrder::Little => Insn {
                code: b[0],
                regs: b[1],
                off: i16::from_le_bytes([b[2], b[3]]),
                imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            },
            ByteOrder::Big => Insn {
                code: b[0],
                // Big-endian bitfields put dst in the high nibble.
                regs: b[1].rotate_left(4),
                off: i16::from_be_bytes([b[2], b[3]]),
                imm: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            },
        }
    }

    /// Encodes this instruction into 8 bytes in the given byte order.
    pub const fn to_bytes(&self, order: ByteOrder) -> [u8; 8] {
        match order {
            ByteOrder::Little => {
                let o = self.off.to_le_bytes();
                let i = self.imm.to_le_bytes();
                [self.code, self.regs, o[0], o[1], i[0], i[1], i[2], i[3]]
            }
            ByteOrder::Big => {
                let o = self.off.to_be_bytes();
                let i = self.imm.to_be_bytes();
                let r = self.regs.rotate_left(4);
                [self.code, r, o[0], o[1], i[0], i[1], i[2], i[3]]
            }
        }
    }

    /// Decodes a byte slice into instructions; trailing bytes that do not make a whole
    /// instruction are reported as `Err(len % 8)`.
    pub fn decode_all(bytes: &[u8], order: ByteOrder) -> Result<Vec<Insn>, usize> {
        if bytes.len() % Self::SIZE != 0 {
            return Err(bytes.len() % Self::SIZE);
        }
        Ok(bytes
            .chunks_exact(Self::SIZE)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                Insn::from_bytes(b, order)
            })
            .collect())
    }

    /// Encodes instructions into bytes.
    pub fn encode_all(insns: &[Insn], order: ByteOrder) -> Vec<u8> {
        let mut out = Vec::with_capacity(insns.len() * Self::SIZE);
        for i in insns {
            out.extend_from_slice(&i.to_bytes(order));
        }
        out
    }

    /// Whether this is the first half of an `ld_imm64` (`BPF_LD | BPF_IMM | BPF_DW`).
    pub const fn is_ld_imm64(&self) -> bool {
        self.code == class::LD | mode::IMM | size::DW
    }

    /// Whether this is a call of any kind (helper, BPF function or kfunc).
    pub const fn is_call(&self) -> bool {
        self.code == class::JMP | jmp::CALL
    }

    /// Whether this is a helper call (`call` with `src_reg` 0).
    pub const fn is_helper_call(&self) -> bool {
        self.is_call() && self.src() == 0
    }

    /// Whether this is a BPF-to-BPF call (`src_reg` = `BPF_PSEUDO_CALL`).
    pub const fn is_pseudo_call(&self) -> bool {
        self.is_call() && self.src() == pseudo::CALL
    }

    /// Whether this is a kfunc call (`src_reg` = `BPF_PSEUDO_KFUNC_CALL`).
    pub const fn is_kfunc_call(&self) -> bool {
        self.is_call() && self.src() == pseudo::KFUNC_CALL
    }

    /// Whether this is an `ld_imm64` of a function address (`BPF_PSEUDO_FUNC`, callbacks).
    pub const fn is_pseudo_func(&self) -> bool {
        self.is_ld_imm64() && self.src() == pseudo::FUNC
    }

    /// Whether this is `exit`.
    pub const fn is_exit(&self) -> bool {
        self.code == class::JMP | jmp::EXIT
    }

    /// Whether this is a load from memory (`LDX | MEM` or `LDX | MEMSX`).
    pub const fn is_ldx_mem(&self) -> bool {
        self.class() == class::LDX && matches!(self.code & 0xe0, mode::MEM | mode::MEMSX)
    }

    /// Whether this is a store to memory (`ST | MEM` or `STX | MEM`; atomics excluded).
    pub const fn is_st_mem(&self) -> bool {
        matches!(self.class(), class::ST | class::STX) && self.code & 0xe0 == mode::MEM
    }

    /// The access size in bytes of a load or store.
    pub const fn mem_size(&self) -> u32 {
        size::bytes(self.code)
    }

    /// The 64-bit constant of an `ld_imm64` pair (`self` and the instruction after it).
    pub const fn imm64(&self, next: &Insn) -> u64 {
        (self.imm as u32 as u64) | ((next.imm as u32 as u64) << 32)
    }

    /// Whether this instruction takes two slots (the caller skips the second).
    pub const fn is_wide(&self) -> bool {
        self.is_ld_imm64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_both_orders() {
        let i = Insn::new(0x61, 3, 6, -8, 0x1234_5678);
        for order in [ByteOrder::Little, ByteOrder::Big] {
            assert_eq!(Insn::from_bytes(i.to_bytes(order), order), i);
        }
        assert_eq!(
            i.to_bytes(ByteOrder::Little),
            [0x61, 0x63, 0xf8, 0xff, 0x78, 0x56, 0x34, 0x12]
        );
        assert_eq!(
            i.to_bytes(ByteOrder::Big),
            [0x61, 0x36, 0xff, 0xf8, 0x12, 0x34, 0x56, 0x78]
        );
    }

    #[test]
    fn decode_all_rejects_partial_instruction() {
        assert_eq!(Insn::decode_all(&[0u8; 12], ByteOrder::Little), Err(4));
        assert_eq!(
            Insn::decode_all(&[0u8; 16], ByteOrder::Little).map(|v| v.len()),
            Ok(2)
        );
    }

    #[test]
    fn predicates() {
        let [lo, hi] = asm::ld_imm64(reg::R1, 0x1_0000_0002);
        assert!(lo.is_ld_imm64() && lo.is_wide());
        assert_eq!(lo.imm64(&hi), 0x1_0000_0002);
        assert!(asm::call_helper(1).is_helper_call());
        assert!(asm::call_local(3).is_pseudo_call());
        assert!(asm::call_kfunc(77, 0).is_kfunc_call());
        assert!(asm::exit().is_exit());
        assert!(asm::ldx(size::W, 0, 1, 4).is_ldx_mem());
        assert!(asm::stx(size::DW, 10, 1, -8).is_st_mem());
        assert_eq!(asm::ldx(size::H, 0, 1, 4).mem_size(), 2);
    }
}
