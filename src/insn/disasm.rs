//! A disassembler that prints the kernel verifier's syntax, as `kernel/bpf/disasm.c` does:
//! the text of verifier logs and of `bpftool prog dump xlated`.
//!
//! Each instruction prints as `(code) text`, e.g. `(61) r1 = *(u32 *)(r6 +0)`; a program as
//! one `index: (code) text` line per instruction, the second half of an `ld_imm64` skipped,
//! like the verifier log at level 2. Encodings the kernel's printer does not know print as it
//! prints them (`BUG_ldx_..`, `(null)` for a missing operator name), so any instruction
//! stream can be shown, valid or not.
//!
//! Hooks name what the instruction alone cannot: [`Disassembler::with_call_names`] for
//! kfuncs, BPF-to-BPF calls and unknown helpers (helpers are named from
//! [`HELPER_NAMES`](super::helpers::HELPER_NAMES)), [`Disassembler::with_imm_names`] for the
//! constant of an `ld_imm64` (map names, say).
//!
//! ```
//! use oxbpf::insn::{asm, disasm::Disassembler, opcode::size, reg::*};
//!
//! let prog = [asm::ldx(size::W, R1, R6, 0), asm::call_helper(1), asm::exit()];
//! assert_eq!(
//!     Disassembler::new().program(&prog),
//!     "0: (61) r1 = *(u32 *)(r6 +0)\n1: (85) call bpf_map_lookup_elem#1\n2: (95) exit\n"
//! );
//! ```

use std::fmt::Write as _;

use super::helpers::helper_name;
use super::opcode::{alu, atomic, class, jmp, mode, pseudo, size, source};
use super::Insn;

type CallNames<'a> = dyn Fn(&Insn) -> Option<String> + 'a;
type ImmNames<'a> = dyn Fn(&Insn, u64) -> Option<String> + 'a;

/// Prints instructions in the kernel's syntax, with optional naming hooks.
#[derive(Default)]
pub struct Disassembler<'a> {
    call_names: Option<Box<CallNames<'a>>>,
    imm_names: Option<Box<ImmNames<'a>>>,
    hide_pointers: bool,
}

impl std::fmt::Debug for Disassembler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disassembler")
            .field("call_names", &self.call_names.is_some())
            .field("imm_names", &self.imm_names.is_some())
            .field("hide_pointers", &self.hide_pointers)
            .finish()
    }
}

/// Operator strings indexed by `op >> 4` (`bpf_alu_string`); `None` prints `(null)`.
const ALU_OPS: [Option<&str>; 16] = [
    Some("+="),
    Some("-="),
    Some("*="),
    Some("/="),
    Some("|="),
    Some("&="),
    Some("<<="),
    Some(">>="),
    Some("neg"),
    Some("%="),
    Some("^="),
    Some("="),
    Some("s>>="),
    Some("endian"),
    None,
    None,
];

/// Comparison strings indexed by `op >> 4` (`bpf_jmp_string`).
const JMP_OPS: [Option<&str>; 16] = [
    Some("jmp"),
    Some("=="),
    Some(">"),
    Some(">="),
    Some("&"),
    Some("!="),
    Some("s>"),
    Some("s>="),
    Some("call"),
    Some("exit"),
    Some("<"),
    Some("<="),
    Some("s<"),
    Some("s<="),
    None,
    None,
];

fn or_null(s: Option<&str>) -> &str {
    s.unwrap_or("(null)")
}

fn alu_op(op: u8) -> &'static str {
    or_null(ALU_OPS[(op >> 4) as usize & 15])
}

/// `u32`/`u16`/`u8`/`u64` by the size bits.
fn ldst(code: u8) -> &'static str {
    match code & 0x18 {
        size::W => "u32",
        size::H => "u16",
        size::B => "u8",
        _ => "u64",
    }
}

/// Sign-extending load sizes; DW has none (`(null)`).
fn ldsx(code: u8) -> &'static str {
    match code & 0x18 {
        size::W => "s32",
        size::H => "s16",
        size::B => "s8",
        _ => "(null)",
    }
}

impl<'a> Disassembler<'a> {
    /// A disassembler naming helpers from the built-in table and printing constants in hex.
    pub fn new() -> Disassembler<'a> {
        Disassembler::default()
    }

    /// Names calls the helper table cannot: kfuncs, BPF-to-BPF calls (the text after `pc`)
    /// and helper ids outside the table. `None` falls back to the kernel's default
    /// (`kernel-function`, `+rel`, `unknown`).
    pub fn with_call_names(mut self, f: impl Fn(&Insn) -> Option<String> + 'a) -> Self {
        self.call_names = Some(Box::new(f));
        self
    }

    /// Names the constant of an `ld_imm64` (first half and full 64-bit value), e.g. a map by
    /// its fd. `None` prints the value in hex.
    pub fn with_imm_names(mut self, f: impl Fn(&Insn, u64) -> Option<String> + 'a) -> Self {
        self.imm_names = Some(Box::new(f));
        self
    }

    /// Prints map and BTF-id constants as 0, like the kernel does for users who may not see
    /// kernel pointers (`allow_ptr_leaks` false).
    pub fn hide_pointers(mut self, hide: bool) -> Self {
        self.hide_pointers = hide;
        self
    }

    /// The program, one `index: (code) text` line per instruction (second halves of
    /// `ld_imm64` skipped), each ending in a newline.
    pub fn program(&self, insns: &[Insn]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < insns.len() {
            let _ = writeln!(out, "{i}: {}", self.line(insns, i));
            i += if insns[i].is_ld_imm64() { 2 } else { 1 };
        }
        out
    }

    /// The instruction at `index` as the kernel prints it: `(61) r1 = *(u32 *)(r6 +0)`. An
    /// `ld_imm64` reads the next instruction too (its upper half is 0 when missing); an
    /// index past the end gives an empty string.
    pub fn line(&self, insns: &[Insn], index: usize) -> String {
        let Some(insn) = insns.get(index) else {
            return String::new();
        };
        let body = match insn.class() {
            class::ALU | class::ALU64 => self.alu(insn),
            class::STX => self.stx(insn),
            class::ST => self.st(insn),
            class::LDX => self.ldx(insn),
            class::LD => self.ld(insn, insns.get(index + 1)),
            _ => self.jmp(insn),
        };
        match body {
            Text::Plain(s) => format!("({:02x}) {s}", insn.code),
            Text::Bug(s) => s,
        }
    }

    /// The instruction text without the `(code) ` prefix: `r1 = *(u32 *)(r6 +0)`.
    pub fn text(&self, insns: &[Insn], index: usize) -> String {
        let line = self.line(insns, index);
        match line.strip_prefix('(').and_then(|l| l.get(4..)) {
            Some(rest) if line.get(3..5) == Some(") ") => rest.to_string(),
            _ => line,
        }
    }

    fn alu(&self, insn: &Insn) -> Text {
        let is64 = insn.class() == class::ALU64;
        let w = if is64 { 'r' } else { 'w' };
        let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
        let op = insn.code & 0xf0;
        let x = insn.code & source::X != 0;
        let movx = insn.code == class::ALU64 | alu::MOV | source::X;
        let s = if op == alu::END {
            if is64 {
                format!("r{dst} = bswap{imm} r{dst}")
            } else {
                let order = if x { "be" } else { "le" };
                format!("r{dst} = {order}{imm} r{dst}")
            }
        } else if op == alu::NEG {
            format!("{w}{dst} = -{w}{dst}")
        } else if movx && off == 1 {
            let imm = imm as u32;
            format!(
                "r{dst} = addr_space_cast(r{src}, {}, {})",
                imm >> 16,
                imm as u16
            )
        } else if movx && off == -1 {
            format!("r{dst} = &(void __percpu *)(r{src})")
        } else {
            let sdiv = matches!(op, alu::DIV | alu::MOD) && off == 1;
            let opstr = match (sdiv, op) {
                (true, alu::DIV) => "s/=",
                (true, _) => "s%=",
                _ => alu_op(op),
            };
            if x {
                let sx = match (op, off) {
                    (alu::MOV, 8) => "(s8)",
                    (alu::MOV, 16) => "(s16)",
                    (alu::MOV, 32) => "(s32)",
                    _ => "",
                };
                format!("{w}{dst} {opstr} {sx}{w}{src}")
            } else {
                format!("{w}{dst} {opstr} {imm}")
            }
        };
        Text::Plain(s)
    }

    fn stx(&self, insn: &Insn) -> Text {
        let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
        let sz = ldst(insn.code);
        let w64 = if insn.code & 0x18 == size::DW {
            "64"
        } else {
            ""
        };
        let m = insn.code & 0xe0;
        if m == mode::MEM {
            return Text::Plain(format!("*({sz} *)(r{dst} {off:+}) = r{src}"));
        }
        if m != mode::ATOMIC {
            return Text::Bug(format!("BUG_{:02x}", insn.code));
        }
        let base = imm & !atomic::FETCH;
        let plain_op = matches!(base, atomic::ADD | atomic::AND | atomic::OR | atomic::XOR);
        let s = if plain_op && imm & atomic::FETCH == 0 {
            let o = alu_op((imm & 0xf0) as u8);
            format!("lock *({sz} *)(r{dst} {off:+}) {o} r{src}")
        } else if plain_op {
            let name = match base {
                atomic::ADD => "add",
                atomic::AND => "and",
                atomic::OR => "or",
                _ => "xor",
            };
            format!("r{src} = atomic{w64}_fetch_{name}(({sz} *)(r{dst} {off:+}), r{src})")
        } else if imm == atomic::CMPXCHG {
            format!("r0 = atomic{w64}_cmpxchg(({sz} *)(r{dst} {off:+}), r0, r{src})")
        } else if imm == atomic::XCHG {
            format!("r{src} = atomic{w64}_xchg(({sz} *)(r{dst} {off:+}), r{src})")
        } else if imm == atomic::LOAD_ACQ {
            format!("r{dst} = load_acquire(({sz} *)(r{src} {off:+}))")
        } else if imm == atomic::STORE_REL {
            format!("store_release(({sz} *)(r{dst} {off:+}), r{src})")
        } else {
            return Text::Bug(format!("BUG_{:02x}", insn.code));
        };
        Text::Plain(s)
    }

    fn st(&self, insn: &Insn) -> Text {
        match insn.code & 0xe0 {
            mode::MEM => Text::Plain(format!(
                "*({} *)(r{} {:+}) = {}",
                ldst(insn.code),
                insn.dst(),
                insn.off,
                insn.imm
            )),
            // BPF_NOSPEC: the verifier's speculation barrier, not in uapi.
            0xc0 => Text::Plain("nospec".to_string()),
            _ => Text::Bug(format!("BUG_st_{:02x}", insn.code)),
        }
    }

    fn ldx(&self, insn: &Insn) -> Text {
        let sz = match insn.code & 0xe0 {
            mode::MEM => ldst(insn.code),
            mode::MEMSX => ldsx(insn.code),
            _ => return Text::Bug(format!("BUG_ldx_{:02x}", insn.code)),
        };
        Text::Plain(format!(
            "r{} = *({sz} *)(r{} {:+})",
            insn.dst(),
            insn.src(),
            insn.off
        ))
    }

    fn ld(&self, insn: &Insn, next: Option<&Insn>) -> Text {
        let sz = ldst(insn.code);
        let s = match insn.code & 0xe0 {
            mode::ABS => format!("r0 = *({sz} *)skb[{}]", insn.imm),
            mode::IND => format!("r0 = *({sz} *)skb[r{} + {}]", insn.src(), insn.imm),
            mode::IMM if insn.code & 0x18 == size::DW => {
                let hi = next.map_or(0, |n| n.imm);
                let mut full = (insn.imm as u32 as u64) | ((hi as u32 as u64) << 32);
                let is_ptr = matches!(
                    insn.src(),
                    pseudo::MAP_FD
                        | pseudo::MAP_VALUE
                        | pseudo::MAP_IDX
                        | pseudo::MAP_IDX_VALUE
                        | pseudo::BTF_ID
                );
                if is_ptr && self.hide_pointers {
                    full = 0;
                }
                let name = self
                    .imm_names
                    .as_ref()
                    .and_then(|f| f(insn, full))
                    .unwrap_or_else(|| format!("{full:#x}"));
                format!("r{} = {name}", insn.dst())
            }
            _ => return Text::Bug(format!("BUG_ld_{:02x}", insn.code)),
        };
        Text::Plain(s)
    }

    fn call_name(&self, insn: &Insn) -> Option<String> {
        if insn.src() == 0 {
            if let Some(name) = helper_name(insn.imm) {
                return Some(name.to_string());
            }
        }
        self.call_names.as_ref().and_then(|f| f(insn))
    }

    fn jmp(&self, insn: &Insn) -> Text {
        let is32 = insn.class() == class::JMP32;
        let w = if is32 { 'w' } else { 'r' };
        let (dst, src, off, imm) = (insn.dst(), insn.src(), insn.off, insn.imm);
        let op = insn.code & 0xf0;
        let s = if op == jmp::CALL {
            if src == pseudo::CALL {
                let name = self.call_name(insn).unwrap_or_else(|| format!("{imm:+}"));
                format!("call pc{name}")
            } else {
                let name = self.call_name(insn).unwrap_or_else(|| {
                    if src == pseudo::KFUNC_CALL {
                        "kernel-function".to_string()
                    } else {
                        "unknown".to_string()
                    }
                });
                format!("call {name}#{imm}")
            }
        } else if insn.code == class::JMP | jmp::JA {
            format!("goto pc{off:+}")
        } else if insn.code == class::JMP | jmp::JA | source::X {
            format!("gotox r{dst}")
        } else if insn.code == class::JMP | jmp::JCOND && src == super::decode::MAY_GOTO {
            format!("may_goto pc{off:+}")
        } else if insn.code == class::JMP32 | jmp::JA {
            format!("gotol pc{imm:+}")
        } else if insn.code == class::JMP | jmp::EXIT {
            "exit".to_string()
        } else {
            let c = or_null(JMP_OPS[(op >> 4) as usize & 15]);
            if insn.code & source::X != 0 {
                format!("if {w}{dst} {c} {w}{src} goto pc{off:+}")
            } else {
                format!("if {w}{dst} {c} {:#x} goto pc{off:+}", imm as u32)
            }
        };
        Text::Plain(s)
    }
}

/// A printed instruction: with the `(code)` prefix, or a `BUG_..` line the kernel prints
/// without one.
enum Text {
    Plain(String),
    Bug(String),
}

/// The program in the kernel's syntax with the default names (see
/// [`Disassembler::program`]).
pub fn disasm(insns: &[Insn]) -> String {
    Disassembler::new().program(insns)
}

#[cfg(test)]
#[path = "disasm_tests.rs"]
mod tests;
