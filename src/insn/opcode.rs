//! Opcode fields of `struct bpf_insn` (uapi `linux/bpf_common.h` and `linux/bpf.h`).
//!
//! An opcode byte is `class | size/source | mode/operation`: the class is the low 3 bits; for
//! loads and stores the size is bits 3–4 and the mode bits 5–7; for ALU and jumps the source
//! is bit 3 and the operation bits 4–7.

/// Instruction classes (low 3 bits of `code`).
pub mod class {
    /// Non-standard loads: `ld_imm64` and the legacy packet loads.
    pub const LD: u8 = 0x00;
    /// Load from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Store an immediate to memory.
    pub const ST: u8 = 0x02;
    /// Store a register to memory (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Access sizes of loads and stores (bits 3–4).
pub mod size {
    /// 4 bytes.
    pub const W: u8 = 0x00;
    /// 2 bytes.
    pub const H: u8 = 0x08;
    /// 1 byte.
    pub const B: u8 = 0x10;
    /// 8 bytes.
    pub const DW: u8 = 0x18;

    /// The size bits for an access of `bytes` bytes (1, 2, 4 or 8).
    pub const fn from_bytes(bytes: u32) -> Option<u8> {
        match bytes {
            1 => Some(B),
            2 => Some(H),
            4 => Some(W),
            8 => Some(DW),
            _ => None,
        }
    }

    /// The number of bytes the size bits of `code` access.
    pub const fn bytes(code: u8) -> u32 {
        match code & 0x18 {
            W => 4,
            H => 2,
            B => 1,
            _ => 8,
        }
    }
}

/// Addressing modes of loads and stores (bits 5–7).
pub mod mode {
    /// Immediate (`ld_imm64`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet access, absolute.
    pub const ABS: u8 = 0x20;
    /// Legacy packet access, indirect.
    pub const IND: u8 = 0x40;
    /// Memory.
    pub const MEM: u8 = 0x60;
    /// Sign-extending memory load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation (STX only).
    pub const ATOMIC: u8 = 0xc0;
}

/// Operand source of ALU and jump instructions (bit 3).
pub mod source {
    /// The immediate.
    pub const K: u8 = 0x00;
    /// The source register.
    pub const X: u8 = 0x08;
    /// `BPF_END` to little-endian (same bit as `X`).
    pub const TO_LE: u8 = 0x00;
    /// `BPF_END` to big-endian.
    pub const TO_BE: u8 = 0x08;
}

/// ALU operations (bits 4–7).
pub mod alu {
    /// `+=`
    pub const ADD: u8 = 0x00;
    /// `-=`
    pub const SUB: u8 = 0x10;
    /// `*=`
    pub const MUL: u8 = 0x20;
    /// `/=` (signed with `off` 1)
    pub const DIV: u8 = 0x30;
    /// `|=`
    pub const OR: u8 = 0x40;
    /// `&=`
    pub const AND: u8 = 0x50;
    /// `<<=`
    pub const LSH: u8 = 0x60;
    /// `>>=` (logical)
    pub const RSH: u8 = 0x70;
    /// `= -dst`
    pub const NEG: u8 = 0x80;
    /// `%=` (signed with `off` 1)
    pub const MOD: u8 = 0x90;
    /// `^=`
    pub const XOR: u8 = 0xa0;
    /// `=` (sign-extending with `off` 8/16/32)
    pub const MOV: u8 = 0xb0;
    /// `s>>=` (arithmetic)
    pub const ARSH: u8 = 0xc0;
    /// Byte swap.
    pub const END: u8 = 0xd0;
}

/// Jump operations (bits 4–7).
pub mod jmp {
    /// Unconditional jump (`gotol` in JMP32 class with a 32-bit `imm`).
    pub const JA: u8 = 0x00;
    /// `==`
    pub const JEQ: u8 = 0x10;
    /// `>` unsigned
    pub const JGT: u8 = 0x20;
    /// `>=` unsigned
    pub const JGE: u8 = 0x30;
    /// `&`
    pub const JSET: u8 = 0x40;
    /// `!=`
    pub const JNE: u8 = 0x50;
    /// `>` signed
    pub const JSGT: u8 = 0x60;
    /// `>=` signed
    pub const JSGE: u8 = 0x70;
    /// Function call.
    pub const CALL: u8 = 0x80;
    /// Return.
    pub const EXIT: u8 = 0x90;
    /// `<` unsigned
    pub const JLT: u8 = 0xa0;
    /// `<=` unsigned
    pub const JLE: u8 = 0xb0;
    /// `<` signed
    pub const JSLT: u8 = 0xc0;
    /// `<=` signed
    pub const JSLE: u8 = 0xd0;
    /// `may_goto` (JMP class, 6.9+).
    pub const JCOND: u8 = 0xe0;
}

/// Atomic operations (in `imm` of `STX | ATOMIC`).
pub mod atomic {
    /// Return the old value (or'ed into the operation).
    pub const FETCH: i32 = 0x01;
    /// `+=`
    pub const ADD: i32 = 0x00;
    /// `|=`
    pub const OR: i32 = 0x40;
    /// `&=`
    pub const AND: i32 = 0x50;
    /// `^=`
    pub const XOR: i32 = 0xa0;
    /// Exchange (always fetches).
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// Compare and exchange (always fetches, compares with r0).
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
    /// Load-acquire (6.15+).
    pub const LOAD_ACQ: i32 = 0x100;
    /// Store-release (6.15+).
    pub const STORE_REL: i32 = 0x110;
}

/// `src_reg` values of `ld_imm64` that make it something other than a plain constant.
pub mod pseudo {
    /// `imm` is a map fd.
    pub const MAP_FD: u8 = 1;
    /// `imm` is a map fd, the second `imm` an offset into its value.
    pub const MAP_VALUE: u8 = 2;
    /// `imm` is a kernel BTF id of a variable (typed ksym).
    pub const BTF_ID: u8 = 3;
    /// `imm` is a relative instruction offset to a function (callback address).
    pub const FUNC: u8 = 4;
    /// `imm` is an index into `fd_array`.
    pub const MAP_IDX: u8 = 5;
    /// `imm` is an index into `fd_array`, the second `imm` an offset into its value.
    pub const MAP_IDX_VALUE: u8 = 6;

    /// `src_reg` of a call to a BPF function (subprogram) at `pc + imm + 1`.
    pub const CALL: u8 = 1;
    /// `src_reg` of a call to a kernel function by BTF id (`off` = fd_array index of its
    /// module BTF, 0 for vmlinux).
    pub const KFUNC_CALL: u8 = 2;
}

/// Register numbers.
pub mod reg {
    /// Return value, and helper results.
    pub const R0: u8 = 0;
    /// First argument (the context on entry).
    pub const R1: u8 = 1;
    /// Second argument.
    pub const R2: u8 = 2;
    /// Third argument.
    pub const R3: u8 = 3;
    /// Fourth argument.
    pub const R4: u8 = 4;
    /// Fifth argument.
    pub const R5: u8 = 5;
    /// Callee-saved.
    pub const R6: u8 = 6;
    /// Callee-saved.
    pub const R7: u8 = 7;
    /// Callee-saved.
    pub const R8: u8 = 8;
    /// Callee-saved.
    pub const R9: u8 = 9;
    /// Read-only frame pointer.
    pub const R10: u8 = 10;
    /// The frame pointer (alias of `R10`).
    pub const FP: u8 = 10;
}

/// The helper id that marks an instruction CO-RE could not relocate (libbpf's "bad relo").
pub const POISON_CORE: i32 = 0xbad2310;
/// Base of the helper id that marks an unresolved map reference (`+ map index`).
pub const POISON_MAP_BASE: i32 = 2_001_000_000;
/// Base of the helper id that marks an unresolved kfunc call (`+ extern index`).
pub const POISON_KFUNC_BASE: i32 = 2_002_000_000;
