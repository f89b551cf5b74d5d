//! The eBPF instruction: encoding, decoding, a disassembler and a builder.
//!
//! Pure: never makes a syscall.

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
}
