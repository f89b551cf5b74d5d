//! Expected strings are what `kernel/bpf/disasm.c` prints for the same encodings.

use super::*;
use crate::insn::asm;
use crate::insn::opcode::{alu, atomic, jmp, size};
use crate::insn::reg::*;

fn text(insn: Insn) -> String {
    Disassembler::new().text(&[insn, Insn::default()], 0)
}

fn line(insn: Insn) -> String {
    Disassembler::new().line(&[insn, Insn::default()], 0)
}

#[test]
fn alu() {
    assert_eq!(line(asm::mov64_imm(R0, 0)), "(b7) r0 = 0");
    assert_eq!(text(asm::mov64_imm(R0, -1)), "r0 = -1");
    assert_eq!(line(asm::mov32_reg(R0, R1)), "(bc) w0 = w1");
    assert_eq!(text(asm::mov64_reg(R6, R1)), "r6 = r1");
    assert_eq!(text(asm::alu64_imm(alu::ADD, R2, -8)), "r2 += -8");
    assert_eq!(text(asm::alu32_imm(alu::AND, R1, 255)), "w1 &= 255");
    assert_eq!(text(asm::alu64_reg(alu::LSH, R1, R2)), "r1 <<= r2");
    assert_eq!(text(asm::alu64_imm(alu::ARSH, R1, 3)), "r1 s>>= 3");
    assert_eq!(text(asm::alu64_reg(alu::MOD, R1, R2)), "r1 %= r2");
    assert_eq!(text(asm::alu64_signed_reg(alu::DIV, R1, R2)), "r1 s/= r2");
    assert_eq!(text(asm::alu64_signed_imm(alu::MOD, R1, 3)), "r1 s%= 3");
    assert_eq!(text(asm::neg64(R3)), "r3 = -r3");
    assert_eq!(
        text(Insn::new(0x84, 3, 0, 0, 0)), // ALU | NEG
        "w3 = -w3"
    );
    assert_eq!(line(asm::movsx64(R0, R1, 8)), "(bf) r0 = (s8)r1");
    assert_eq!(text(asm::movsx64(R0, R1, 32)), "r0 = (s32)r1");
    assert_eq!(text(asm::movsx32(R0, R1, 16)), "w0 = (s16)w1");
    assert_eq!(line(asm::bswap(R0, 16)), "(d7) r0 = bswap16 r0");
    assert_eq!(line(asm::endian(true, R0, 32)), "(dc) r0 = be32 r0");
    assert_eq!(text(asm::endian(false, R2, 64)), "r2 = le64 r2");
    assert_eq!(
        text(Insn::new(0xbf, 1, 2, 1, 1)),
        "r1 = addr_space_cast(r2, 0, 1)"
    );
    assert_eq!(
        text(Insn::new(0xbf, 1, 2, -1, 0)),
        "r1 = &(void __percpu *)(r2)"
    );
    // Operators the kernel has no string for.
    assert_eq!(text(Insn::new(0xe7, 1, 0, 0, 2)), "r1 (null) 2");
}

#[test]
fn loads_and_stores() {
    assert_eq!(
        line(asm::ldx(size::W, R1, R6, 0)),
        "(61) r1 = *(u32 *)(r6 +0)"
    );
    assert_eq!(
        text(asm::ldx(size::DW, R1, R10, -8)),
        "r1 = *(u64 *)(r10 -8)"
    );
    assert_eq!(
        line(asm::ldx_sx(size::B, R0, R1, 4)),
        "(91) r0 = *(s8 *)(r1 +4)"
    );
    assert_eq!(
        text(asm::ldx_sx(size::W, R0, R1, 4)),
        "r0 = *(s32 *)(r1 +4)"
    );
    assert_eq!(
        line(asm::stx(size::W, R10, R1, -4)),
        "(63) *(u32 *)(r10 -4) = r1"
    );
    assert_eq!(
        line(asm::st_imm(size::DW, R10, -8, 0)),
        "(7a) *(u64 *)(r10 -8) = 0"
    );
    assert_eq!(text(asm::st_imm(size::B, R1, 2, -3)), "*(u8 *)(r1 +2) = -3");
    assert_eq!(line(asm::ld_abs(size::H, 12)), "(28) r0 = *(u16 *)skb[12]");
    assert_eq!(
        line(asm::ld_ind(size::B, R7, 14)),
        "(50) r0 = *(u8 *)skb[r7 + 14]"
    );
    // Encodings the kernel's printer flags.
    assert_eq!(line(Insn::new(0x21, 0, 1, 0, 0)), "BUG_ldx_21");
    assert_eq!(line(Insn::new(0x22, 0, 1, 0, 0)), "BUG_st_22");
    assert_eq!(line(Insn::new(0x23, 0, 1, 0, 0)), "BUG_23");
    assert_eq!(line(Insn::new(0x60, 0, 1, 0, 0)), "BUG_ld_60");
    // BPF_NOSPEC (verifier-internal ST | 0xc0).
    assert_eq!(line(Insn::new(0xc2, 0, 0, 0, 0)), "(c2) nospec");
}

#[test]
fn atomics() {
    let a = |sz, op| text(asm::atomic_op(sz, op, R1, R2, 0));
    assert_eq!(
        line(asm::atomic_add64(R1, R2, 0)),
        "(db) lock *(u64 *)(r1 +0) += r2"
    );
    assert_eq!(a(size::W, atomic::OR), "lock *(u32 *)(r1 +0) |= r2");
    assert_eq!(a(size::W, atomic::AND), "lock *(u32 *)(r1 +0) &= r2");
    assert_eq!(a(size::DW, atomic::XOR), "lock *(u64 *)(r1 +0) ^= r2");
    assert_eq!(
        a(size::DW, atomic::ADD | atomic::FETCH),
        "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)"
    );
    assert_eq!(
        a(size::W, atomic::XOR | atomic::FETCH),
        "r2 = atomic_fetch_xor((u32 *)(r1 +0), r2)"
    );
    assert_eq!(
        a(size::DW, atomic::XCHG),
        "r2 = atomic64_xchg((u64 *)(r1 +0), r2)"
    );
    assert_eq!(
        a(size::W, atomic::CMPXCHG),
        "r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)"
    );
    assert_eq!(
        text(asm::load_acquire(size::B, R0, R1, 8)),
        "r0 = load_acquire((u8 *)(r1 +8))"
    );
    assert_eq!(
        text(asm::store_release(size::DW, R1, R2, -8)),
        "store_release((u64 *)(r1 -8), r2)"
    );
    assert_eq!(line(asm::atomic_op(size::DW, 0x30, R1, R2, 0)), "BUG_db");
}

#[test]
fn jumps_and_calls() {
    assert_eq!(
        line(asm::jmp_imm(jmp::JGT, R1, 5, 3)),
        "(25) if r1 > 0x5 goto pc+3"
    );
    assert_eq!(
        text(asm::jmp_imm(jmp::JNE, R0, -1, -4)),
        "if r0 != 0xffffffff goto pc-4"
    );
    assert_eq!(
        text(asm::jmp_reg(jmp::JSGE, R1, R2, 0)),
        "if r1 s>= r2 goto pc+0"
    );
    assert_eq!(
        line(asm::jmp32_imm(jmp::JSET, R1, 8, 1)),
        "(46) if w1 & 0x8 goto pc+1"
    );
    assert_eq!(
        text(asm::jmp32_reg(jmp::JLT, R1, R2, 2)),
        "if w1 < w2 goto pc+2"
    );
    assert_eq!(line(asm::ja(-3)), "(05) goto pc-3");
    assert_eq!(line(asm::gotol(100000)), "(06) gotol pc+100000");
    assert_eq!(line(asm::may_goto(5)), "(e5) may_goto pc+5");
    assert_eq!(line(Insn::new(0x0d, 2, 0, 0, 0)), "(0d) gotox r2");
    assert_eq!(line(asm::exit()), "(95) exit");
    assert_eq!(line(asm::call_helper(1)), "(85) call bpf_map_lookup_elem#1");
    assert_eq!(text(asm::call_helper(130)), "call bpf_ringbuf_output#130");
    assert_eq!(text(asm::call_helper(5000)), "call unknown#5000");
    assert_eq!(line(asm::call_local(5)), "(85) call pc+5");
    assert_eq!(text(asm::call_local(-9)), "call pc-9");
    assert_eq!(
        text(asm::call_kfunc(12345, 0)),
        "call kernel-function#12345"
    );
}

#[test]
fn ld_imm64_and_hooks() {
    let prog = asm::ld_imm64(R1, 0x1234);
    assert_eq!(Disassembler::new().line(&prog, 0), "(18) r1 = 0x1234");
    let prog = asm::ld_imm64(R1, 0xffff_ffff_0000_0001);
    assert_eq!(
        Disassembler::new().text(&prog, 0),
        "r1 = 0xffffffff00000001"
    );
    let map = asm::ld_map_fd(R1, 7);
    let named = Disassembler::new()
        .with_imm_names(|insn, imm| (insn.src() == pseudo::MAP_FD).then(|| format!("map[{imm}]")));
    assert_eq!(named.text(&map, 0), "r1 = map[7]");
    assert_eq!(
        Disassembler::new().hide_pointers(true).text(&map, 0),
        "r1 = 0x0"
    );
    // A missing second half prints the low word only.
    assert_eq!(Disassembler::new().text(&map[..1], 0), "r1 = 0x7");
    let calls = Disassembler::new().with_call_names(|insn| {
        (insn.src() == pseudo::KFUNC_CALL).then(|| format!("kf{}", insn.imm))
    });
    assert_eq!(calls.text(&[asm::call_kfunc(3, 0)], 0), "call kf3#3");
    // Helpers come from the table even with a hook.
    assert_eq!(
        calls.text(&[asm::call_helper(2)], 0),
        "call bpf_map_update_elem#2"
    );
}

#[test]
fn program_skips_second_halves() {
    let mut prog = asm::ld_map_value(R1, 3, 0).to_vec();
    prog.push(asm::mov64_imm(R0, 0));
    prog.push(asm::exit());
    assert_eq!(
        disasm(&prog),
        "0: (18) r1 = 0x3\n2: (b7) r0 = 0\n3: (95) exit\n"
    );
    assert_eq!(Disassembler::new().line(&prog, 10), "");
}

#[test]
fn every_encoding_prints_without_panicking() {
    let d = Disassembler::new();
    for code in 0..=255u8 {
        for (regs, off, imm) in [(0u8, 0i16, 0i32), (0xff, -1, -1), (0x12, 32, 0x110)] {
            let insn = Insn {
                code,
                regs,
                off,
                imm,
            };
            assert!(!d.line(&[insn], 0).is_empty());
        }
    }
}
