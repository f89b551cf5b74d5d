use super::*;
use crate::insn::asm;
use crate::insn::opcode::{alu, atomic, jmp, size};
use crate::insn::reg::*;

fn one(insn: Insn) -> Instruction {
    decode_at(&[insn], 0).unwrap()
}

fn problem(insns: &[Insn]) -> (usize, DecodeProblem) {
    let e = decode(insns).unwrap_err();
    (e.index, e.problem)
}

#[test]
fn alu_forms() {
    assert_eq!(
        one(asm::alu64_imm(alu::ADD, R1, -4)),
        Instruction::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: R1,
            src: Operand::Imm(-4)
        }
    );
    assert_eq!(
        one(asm::alu32_reg(alu::XOR, R2, R3)),
        Instruction::Alu {
            width: Width::W32,
            op: AluOp::Xor,
            dst: R2,
            src: Operand::Reg(R3)
        }
    );
    assert_eq!(
        one(asm::alu64_signed_reg(alu::DIV, R0, R1)),
        Instruction::Alu {
            width: Width::W64,
            op: AluOp::SDiv,
            dst: R0,
            src: Operand::Reg(R1)
        }
    );
    assert_eq!(
        one(asm::alu64_signed_imm(alu::MOD, R0, 7)),
        Instruction::Alu {
            width: Width::W64,
            op: AluOp::SMod,
            dst: R0,
            src: Operand::Imm(7)
        }
    );
    assert_eq!(
        one(asm::neg64(R4)),
        Instruction::Neg {
            width: Width::W64,
            dst: R4
        }
    );
    assert_eq!(
        one(asm::mov32_reg(R0, R1)),
        Instruction::Mov {
            width: Width::W32,
            dst: R0,
            src: Operand::Reg(R1)
        }
    );
    for bits in [8, 16, 32] {
        assert_eq!(
            one(asm::movsx64(R0, R1, bits)),
            Instruction::MovSx {
                width: Width::W64,
                dst: R0,
                src: R1,
                bits: bits as u8
            }
        );
    }
    assert_eq!(
        one(asm::movsx32(R0, R1, 16)),
        Instruction::MovSx {
            width: Width::W32,
            dst: R0,
            src: R1,
            bits: 16
        }
    );
    assert_eq!(
        one(asm::bswap(R0, 16)),
        Instruction::Bswap { dst: R0, bits: 16 }
    );
    assert_eq!(
        one(asm::endian(true, R0, 32)),
        Instruction::Endian {
            big: true,
            dst: R0,
            bits: 32
        }
    );
    assert_eq!(
        one(Insn::new(0xbf, 1, 2, 1, 1)),
        Instruction::AddrSpaceCast {
            dst: 1,
            src: 2,
            dst_as: 0,
            src_as: 1
        }
    );
}

#[test]
fn alu_reserved_fields_and_constant_checks() {
    // movsx32 by 32 bits does not exist; signed mul does not exist.
    assert_eq!(
        problem(&[asm::movsx32(R0, R1, 32)]),
        (
            0,
            DecodeProblem::Reserved {
                field: "off",
                value: 32
            }
        )
    );
    let smul = Insn::new(0x2f, 0, 1, 1, 0);
    assert!(matches!(
        problem(&[smul]).1,
        DecodeProblem::Reserved { field: "off", .. }
    ));
    assert_eq!(
        problem(&[asm::alu64_imm(alu::DIV, R0, 0)]).1,
        DecodeProblem::DivisionByZero
    );
    assert_eq!(
        problem(&[asm::alu32_imm(alu::LSH, R0, 32)]).1,
        DecodeProblem::ShiftOutOfRange(32)
    );
    assert!(decode(&[asm::alu64_imm(alu::LSH, R0, 63)]).is_ok());
    assert_eq!(
        problem(&[asm::bswap(R0, 24)]).1,
        DecodeProblem::BadSwapWidth(24)
    );
    // ALU64 | END | TO_BE is undefined.
    assert_eq!(
        problem(&[Insn::new(0xdf, 0, 0, 0, 16)]).1,
        DecodeProblem::UnknownOpcode
    );
    // Opcodes 0xe0/0xf0 of the ALU classes.
    assert_eq!(
        problem(&[Insn::new(0xe7, 0, 0, 0, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
    // K form with a source register.
    assert!(matches!(
        problem(&[Insn::new(0x07, 1, 2, 0, 1)]).1,
        DecodeProblem::Reserved { field: "src", .. }
    ));
    // X form with an immediate.
    assert!(matches!(
        problem(&[Insn::new(0x0f, 1, 2, 0, 1)]).1,
        DecodeProblem::Reserved { field: "imm", .. }
    ));
}

#[test]
fn registers_above_r10_are_rejected() {
    let e = decode(&[asm::mov64_imm(R0, 0), Insn::new(0xbf, 11, 1, 0, 0)]).unwrap_err();
    assert_eq!(e.index, 1);
    assert_eq!(
        e.problem,
        DecodeProblem::BadRegister {
            which: "dst",
            reg: 11
        }
    );
    assert!(e.to_string().contains("instruction 1"));
    assert_eq!(
        problem(&[Insn::new(0x61, 0, 12, 0, 0)]).1,
        DecodeProblem::BadRegister {
            which: "src",
            reg: 12
        }
    );
}

#[test]
fn jumps() {
    assert_eq!(
        one(asm::jmp_imm(jmp::JGT, R1, 5, 3)),
        Instruction::Jump {
            width: Width::W64,
            cond: JmpCond::Gt,
            dst: R1,
            src: Operand::Imm(5),
            off: 3
        }
    );
    assert_eq!(
        one(asm::jmp32_reg(jmp::JSLE, R1, R2, -2)),
        Instruction::Jump {
            width: Width::W32,
            cond: JmpCond::Sle,
            dst: R1,
            src: Operand::Reg(R2),
            off: -2
        }
    );
    assert_eq!(
        one(asm::ja(4)),
        Instruction::Goto {
            off: 4,
            long: false
        }
    );
    assert_eq!(
        one(asm::gotol(70000)),
        Instruction::Goto {
            off: 70000,
            long: true
        }
    );
    assert_eq!(one(asm::may_goto(2)), Instruction::MayGoto { off: 2 });
    assert_eq!(
        one(Insn::new(0x0d, 3, 0, 0, 0)),
        Instruction::GotoX { dst: 3 }
    );
    assert_eq!(
        one(asm::call_helper(1)),
        Instruction::Call(CallTarget::Helper(1))
    );
    assert_eq!(
        one(asm::call_local(-7)),
        Instruction::Call(CallTarget::Local(-7))
    );
    assert_eq!(
        one(asm::call_kfunc(1234, 2)),
        Instruction::Call(CallTarget::Kfunc {
            btf_id: 1234,
            module: 2
        })
    );
    assert_eq!(one(asm::exit()), Instruction::Exit);
    assert_eq!(asm::ja(4).off, 4);
    assert_eq!(
        Instruction::Goto { off: 9, long: true }.jump_offset(),
        Some(9)
    );
}

#[test]
fn jump_reserved_fields() {
    // gotol keeps its offset in imm: off must be 0; goto keeps it in off: imm must be 0.
    assert!(matches!(
        problem(&[Insn::new(0x06, 0, 0, 1, 0)]).1,
        DecodeProblem::Reserved { field: "off", .. }
    ));
    assert!(matches!(
        problem(&[Insn::new(0x05, 0, 0, 1, 1)]).1,
        DecodeProblem::Reserved { field: "imm", .. }
    ));
    // JMP32 has no call or exit.
    assert_eq!(
        problem(&[Insn::new(0x86, 0, 0, 0, 1)]).1,
        DecodeProblem::UnknownOpcode
    );
    assert_eq!(
        problem(&[Insn::new(0x96, 0, 0, 0, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
    // call with an unknown src marker; helper call with an offset.
    assert!(matches!(
        problem(&[Insn::new(0x85, 0, 3, 0, 1)]).1,
        DecodeProblem::Reserved { field: "src", .. }
    ));
    assert!(matches!(
        problem(&[Insn::new(0x85, 0, 0, 1, 1)]).1,
        DecodeProblem::Reserved { field: "off", .. }
    ));
    // exit with an immediate; may_goto with another JCOND src.
    assert!(matches!(
        problem(&[Insn::new(0x95, 0, 0, 0, 1)]).1,
        DecodeProblem::Reserved { field: "imm", .. }
    ));
    assert!(matches!(
        problem(&[Insn::new(0xe5, 0, 1, 0, 0)]).1,
        DecodeProblem::Reserved { field: "src", .. }
    ));
    assert_eq!(
        problem(&[Insn::new(0xf5, 0, 0, 0, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
}

#[test]
fn ld_imm64_every_pseudo_source() {
    let cases: [([Insn; 2], LdImm64); 7] = [
        (
            asm::ld_imm64(R1, 0x1_2345_6789),
            LdImm64::Const(0x1_2345_6789),
        ),
        (asm::ld_map_fd(R1, 7), LdImm64::MapFd(7)),
        (
            asm::ld_map_value(R1, 7, 16),
            LdImm64::MapValue { fd: 7, offset: 16 },
        ),
        (
            asm::ld_imm64_pseudo(R1, pseudo::BTF_ID, 99, 5),
            LdImm64::BtfId {
                btf_id: 99,
                module: 5,
            },
        ),
        (asm::ld_func(R2, 3), LdImm64::Func(3)),
        (
            asm::ld_imm64_pseudo(R1, pseudo::MAP_IDX, 2, 0),
            LdImm64::MapIdx(2),
        ),
        (
            asm::ld_imm64_pseudo(R1, pseudo::MAP_IDX_VALUE, 2, 8),
            LdImm64::MapIdxValue {
                index: 2,
                offset: 8,
            },
        ),
    ];
    for (pair, value) in cases {
        let d = decode(&pair).unwrap();
        assert_eq!(d.len(), 1);
        assert!(matches!(d[0].instruction, Instruction::LdImm64 { value: v, .. } if v == value));
        assert_eq!(d[0].instruction.slots(), 2);
    }
    // Indices continue after the pair.
    let mut prog = asm::ld_imm64(R0, 1).to_vec();
    prog.push(asm::exit());
    assert_eq!(decode(&prog).unwrap()[1].index, 2);
}

#[test]
fn ld_imm64_errors() {
    let [lo, _] = asm::ld_imm64(R1, 5);
    assert_eq!(
        problem(&[asm::mov64_imm(R0, 0), lo]),
        (1, DecodeProblem::MissingSecondHalf)
    );
    assert_eq!(problem(&[lo, asm::exit()]).1, DecodeProblem::BadSecondHalf);
    let bad = asm::ld_imm64_pseudo(R1, 7, 0, 0);
    assert_eq!(problem(&bad).1, DecodeProblem::UnknownPseudo(7));
    let bad = asm::ld_imm64_pseudo(R1, pseudo::MAP_FD, 3, 1);
    assert!(matches!(
        problem(&bad).1,
        DecodeProblem::Reserved { value: 1, .. }
    ));
    // BPF_LD | BPF_IMM | BPF_W is not a thing.
    assert_eq!(
        problem(&[Insn::new(0x00, 0, 0, 0, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
}

#[test]
fn legacy_packet_loads() {
    assert_eq!(
        one(asm::ld_abs(size::H, 12)),
        Instruction::LdAbs {
            size: Size::H,
            imm: 12
        }
    );
    assert_eq!(
        one(asm::ld_ind(size::B, R6, 3)),
        Instruction::LdInd {
            size: Size::B,
            src: R6,
            imm: 3
        }
    );
    // No 8-byte legacy loads; ABS has no source register.
    assert_eq!(
        problem(&[asm::ld_abs(size::DW, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
    assert!(matches!(
        problem(&[Insn::new(0x30, 0, 1, 0, 0)]).1,
        DecodeProblem::Reserved { field: "src", .. }
    ));
}

#[test]
fn loads_and_stores() {
    assert_eq!(
        one(asm::ldx(size::W, R1, R6, 0)),
        Instruction::Load {
            size: Size::W,
            signed: false,
            dst: R1,
            src: R6,
            off: 0
        }
    );
    assert_eq!(
        one(asm::ldx_sx(size::B, R1, R6, -1)),
        Instruction::Load {
            size: Size::B,
            signed: true,
            dst: R1,
            src: R6,
            off: -1
        }
    );
    assert_eq!(
        problem(&[asm::ldx_sx(size::DW, R1, R6, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
    assert_eq!(
        one(asm::st_imm(size::DW, R10, -8, 3)),
        Instruction::Store {
            size: Size::DW,
            dst: R10,
            off: -8,
            src: Operand::Imm(3)
        }
    );
    assert_eq!(
        one(asm::stx(size::H, R10, R1, -2)),
        Instruction::Store {
            size: Size::H,
            dst: R10,
            off: -2,
            src: Operand::Reg(R1)
        }
    );
    assert!(matches!(
        problem(&[Insn::new(0x61, 0, 1, 0, 5)]).1,
        DecodeProblem::Reserved { field: "imm", .. }
    ));
    assert!(matches!(
        problem(&[Insn::new(0x62, 10, 1, -4, 0)]).1,
        DecodeProblem::Reserved { field: "src", .. }
    ));
}

#[test]
fn atomics() {
    let ops = [
        (atomic::ADD, AtomicOp::Add { fetch: false }),
        (atomic::ADD | atomic::FETCH, AtomicOp::Add { fetch: true }),
        (atomic::OR, AtomicOp::Or { fetch: false }),
        (atomic::OR | atomic::FETCH, AtomicOp::Or { fetch: true }),
        (atomic::AND, AtomicOp::And { fetch: false }),
        (atomic::AND | atomic::FETCH, AtomicOp::And { fetch: true }),
        (atomic::XOR, AtomicOp::Xor { fetch: false }),
        (atomic::XOR | atomic::FETCH, AtomicOp::Xor { fetch: true }),
        (atomic::XCHG, AtomicOp::Xchg),
        (atomic::CMPXCHG, AtomicOp::Cmpxchg),
        (atomic::LOAD_ACQ, AtomicOp::LoadAcquire),
        (atomic::STORE_REL, AtomicOp::StoreRelease),
    ];
    for (imm, op) in ops {
        assert_eq!(
            one(asm::atomic_op(size::DW, imm, R1, R2, 8)),
            Instruction::Atomic {
                size: Size::DW,
                op,
                dst: R1,
                src: R2,
                off: 8
            },
            "imm {imm:#x}"
        );
    }
    // Byte-sized read-modify-write does not exist; byte load-acquire does.
    assert_eq!(
        problem(&[asm::atomic_op(size::B, atomic::ADD, R1, R2, 0)]).1,
        DecodeProblem::BadAtomicSize
    );
    assert!(decode(&[asm::load_acquire(size::B, R0, R1, 0)]).is_ok());
    assert_eq!(
        problem(&[asm::atomic_op(size::W, 0x30, R1, R2, 0)]).1,
        DecodeProblem::UnknownAtomic(0x30)
    );
    // STX with the ABS mode.
    assert_eq!(
        problem(&[Insn::new(0x23, 1, 2, 0, 0)]).1,
        DecodeProblem::UnknownOpcode
    );
}

#[test]
fn every_valid_encoding_round_trips() {
    let mut valid = 0;
    for code in 0..=255u8 {
        for regs in [0x00u8, 0x12, 0x21, 0xa0, 0x01] {
            for off in [0i16, 1, -1, 8, 16, 32, 7] {
                for imm in [0i32, 1, 16, 32, 64, -3, 0x110, 0xe1, 1 << 16] {
                    for hi in [0, 9] {
                        let insns = [
                            Insn {
                                code,
                                regs,
                                off,
                                imm,
                            },
                            Insn::new(0, 0, 0, 0, hi),
                        ];
                        if let Ok(i) = decode_at(&insns, 0) {
                            valid += 1;
                            let back = i.encode();
                            assert_eq!(back[..], insns[..i.slots()], "{i:?}");
                        }
                    }
                }
            }
        }
    }
    assert!(valid > 5000, "{valid}");
}

#[test]
fn every_opcode_byte_decodes_or_errs_without_panicking() {
    for code in 0..=255u8 {
        for (regs, off, imm) in [(0u8, 0i16, 0i32), (0x21, 1, 16), (0xff, -1, -1)] {
            let insns = [
                Insn {
                    code,
                    regs,
                    off,
                    imm,
                },
                Insn::default(),
            ];
            let _ = decode(&insns);
            let _ = decode_at(&insns, 5);
        }
    }
}
