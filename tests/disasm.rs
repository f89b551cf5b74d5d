//! The disassembler prints what the kernel prints: programs covering every instruction form
//! the verifier walks are loaded with log level 2, and each `N: (code) text` line of the
//! verifier log is compared with our text for instruction N.

mod common;

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use oxbpf::btf::{Btf, BtfKind};
use oxbpf::insn::asm::{self, Asm};
use oxbpf::insn::opcode::{alu, atomic, jmp, pseudo, size};
use oxbpf::insn::reg::*;
use oxbpf::insn::{Disassembler, Insn};
use oxbpf::syscall::*;

/// Loads `insns` with a level-2 log; returns the program and the log.
fn load_logged(prog_type: ProgType, insns: &[Insn]) -> (OwnedFd, String) {
    let mut log = vec![0u8; 1 << 20];
    let mut req = ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        name: "disasm",
        log_level: LogLevel::LEVEL2,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    let result = prog_load(&mut req);
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).into_owned();
    match result {
        Ok(fd) => (fd, text),
        Err(e) => panic!("load failed: {e}\n{text}"),
    }
}

/// The instruction lines of a verifier log: index → text after `(code) `, the register
/// state after `;` cut off.
fn log_insns(log: &str) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some((idx, rest)) = line.split_once(": ") else {
            continue;
        };
        let Ok(idx) = idx.parse::<usize>() else {
            continue;
        };
        if !rest.starts_with('(') || rest.get(3..5) != Some(") ") {
            continue;
        }
        let text = rest.split(';').next().unwrap_or("").trim_end();
        out.insert(idx, text.to_string());
    }
    out
}

/// Compares every logged instruction with our line; `masked` indices (kernel pointers in
/// the log) compare up to `0x`.
fn compare(d: &Disassembler<'_>, insns: &[Insn], log: &str, masked: &[usize]) -> usize {
    let lines = log_insns(log);
    if std::env::var_os("OXBPF_SHOW_LOG").is_some() {
        eprintln!("{lines:#?}");
    }
    assert!(!lines.is_empty(), "no instruction lines in:\n{log}");
    for (idx, kernel) in &lines {
        let ours = d.line(insns, *idx);
        if masked.contains(idx) {
            let cut = |s: &str| s.split("0x").next().unwrap_or("").to_string();
            assert_eq!(cut(&ours), cut(kernel), "insn {idx}");
            assert!(kernel.contains("0x"), "insn {idx}: {kernel}");
        } else {
            assert_eq!(&ours, kernel, "insn {idx}");
        }
    }
    lines.len()
}

fn kernel_at_least(major: u16, minor: u16) -> bool {
    KernelVersion::running().is_some_and(|v| v >= KernelVersion::new(major, minor))
}

/// A socket filter with every ALU, load/store, atomic, jump and legacy-load form the running
/// kernel takes (cpu v4 forms from 6.6, load-acquire/store-release from 6.15).
fn straight_line() -> Vec<Insn> {
    let v4 = kernel_at_least(6, 6);
    let acq_rel = kernel_at_least(6, 15);
    let mut a = Asm::new();
    a.push(asm::mov64_reg(R6, R1));
    a.push(asm::ld_abs(size::H, 12));
    a.push(asm::mov64_imm(R7, 1));
    a.push(asm::ld_ind(size::B, R7, 0));
    a.push(asm::st_imm(size::DW, R10, -8, 0));
    a.push(asm::mov64_imm(R1, 5));
    a.push(asm::stx(size::DW, R10, R1, -16));
    a.push(asm::stx(size::W, R10, R1, -20));
    a.push(asm::ldx(size::DW, R2, R10, -16));
    if v4 {
        a.push(asm::ldx_sx(size::W, R3, R10, -16));
        a.push(asm::ldx_sx(size::B, R3, R10, -20));
    }
    a.push(asm::atomic_add64(R10, R2, -8));
    a.push(asm::atomic_op(size::DW, atomic::OR, R10, R2, -8));
    a.push(asm::atomic_op(
        size::DW,
        atomic::ADD | atomic::FETCH,
        R10,
        R2,
        -8,
    ));
    a.push(asm::atomic_op(
        size::DW,
        atomic::XOR | atomic::FETCH,
        R10,
        R2,
        -8,
    ));
    a.push(asm::mov64_imm(R0, 3));
    a.push(asm::atomic_op(size::DW, atomic::CMPXCHG, R10, R1, -8));
    a.push(asm::atomic_op(size::DW, atomic::XCHG, R10, R1, -8));
    if acq_rel {
        a.push(asm::load_acquire(size::DW, R4, R10, -8));
        a.push(asm::store_release(size::DW, R10, R4, -8));
    } else {
        a.push(asm::ldx(size::DW, R4, R10, -8));
    }
    a.push(asm::mov32_reg(R5, R4));
    a.push(asm::alu64_imm(alu::ADD, R5, -1));
    if v4 {
        a.push(asm::alu64_signed_imm(alu::DIV, R5, 3));
        a.push(asm::alu64_signed_imm(alu::MOD, R5, 2));
        a.push(asm::alu64_signed_reg(alu::DIV, R5, R4));
        a.push(asm::movsx64(R5, R4, 8));
        a.push(asm::movsx64(R5, R4, 32));
        a.push(asm::movsx32(R5, R4, 16));
        a.push(asm::bswap(R5, 16));
    }
    a.push(asm::endian(true, R5, 32));
    a.push(asm::endian(false, R5, 64));
    a.push(asm::neg64(R5));
    a.push(asm::alu32_imm(alu::NEG, R5, 0));
    a.push(asm::alu64_imm(alu::LSH, R5, 2));
    a.push(asm::alu64_imm(alu::ARSH, R5, 1));
    a.push(asm::alu64_reg(alu::XOR, R5, R4));
    a.push(asm::alu32_imm(alu::AND, R5, 255));
    a.push(asm::alu64_reg(alu::MUL, R5, R4));
    a.push(asm::alu64_imm(alu::MOD, R5, 7));
    a.extend(asm::ld_imm64(R8, 0xdead_beef_0000_1234));
    a.jump_imm(jmp::JGT, R5, 5, "a");
    a.push(asm::mov64_imm(R5, 1));
    a.label("a");
    a.jump_reg(jmp::JSGE, R5, R4, "b");
    a.push(asm::mov64_imm(R5, 2));
    a.label("b");
    a.push(asm::jmp32_imm(jmp::JSET, R5, 8, 0));
    a.push(asm::jmp32_reg(jmp::JLT, R5, R4, 0));
    a.push(asm::jmp_imm(jmp::JNE, R5, -1, 0));
    if v4 {
        a.push(asm::gotol(0));
    }
    a.push(asm::ja(0));
    a.push(asm::call_helper(5)); // bpf_ktime_get_ns
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
}

#[test]
fn verifier_log_matches_our_text() {
    require_bpf!();
    let insns = straight_line();
    let (prog, log) = load_logged(ProgType::SOCKET_FILTER, &insns);
    let n = compare(&Disassembler::new(), &insns, &log, &[]);
    assert!(n >= 40, "only {n} lines compared");
    let out = prog_test_run(
        prog.as_fd(),
        &mut TestRun {
            data_in: &[0u8; 64],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(out.retval, 0);
}

/// Maps, kfuncs, subprograms, callbacks and `may_goto`, named through the hooks.
#[test]
fn maps_kfuncs_and_calls_through_hooks() {
    require_bpf!();
    let vmlinux = match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(b) => Btf::parse(b).unwrap(),
        Err(e) => {
            eprintln!("SKIPPED maps_kfuncs_and_calls_through_hooks: no vmlinux BTF: {e}");
            return;
        }
    };
    if !kernel_at_least(6, 9) {
        eprintln!(
            "SKIPPED maps_kfuncs_and_calls_through_hooks: may_goto and these kfuncs need Linux 6.9"
        );
        return;
    }
    let lock = vmlinux.id_by_name_kind("bpf_rcu_read_lock", BtfKind::Func);
    let unlock = vmlinux.id_by_name_kind("bpf_rcu_read_unlock", BtfKind::Func);
    let (Some(lock), Some(unlock)) = (lock, unlock) else {
        eprintln!("SKIPPED maps_kfuncs_and_calls_through_hooks: no bpf_rcu_read_lock kfunc in vmlinux BTF");
        return;
    };
    let map = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        name: "disasm",
        ..Default::default()
    })
    .unwrap();
    let fd = map.as_fd().as_raw_fd();
    map_update_elem(
        &map,
        &0u32.to_ne_bytes(),
        &41u64.to_ne_bytes(),
        ElemFlags::ANY,
    )
    .unwrap();

    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, R10, -4, 0));
    a.push(asm::mov64_reg(R2, R10));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    let map_at = a.len();
    a.extend(asm::ld_map_fd(R1, fd));
    a.push(asm::call_helper(1));
    a.push(asm::mov64_imm(R6, 0));
    a.jump_imm(jmp::JEQ, R0, 0, "nomap");
    a.push(asm::ldx(size::DW, R6, R0, 0));
    a.label("nomap");
    let value_at = a.len();
    a.extend(asm::ld_map_value(R7, fd, 0));
    a.push(asm::ldx(size::DW, R1, R7, 0));
    a.push(asm::alu64_reg(alu::ADD, R6, R1));
    a.push(asm::call_kfunc(lock as i32, 0));
    a.push(asm::call_kfunc(unlock as i32, 0));
    let call_at = a.len();
    a.push(asm::call_local(0)); // patched below
    a.push(asm::alu64_reg(alu::ADD, R0, R6));
    a.push(asm::exit());
    let sub = a.len();
    // Subprogram: r0 = 1 + (iterations of a may_goto loop, bounded by the verifier).
    a.push(asm::mov64_imm(R0, 1));
    a.label("loop");
    a.push(asm::may_goto(2));
    a.push(asm::alu64_imm(alu::ADD, R0, 0));
    a.goto("loop");
    a.push(asm::exit());
    let mut insns = a.finish().unwrap();
    insns[call_at].imm = (sub - call_at - 1) as i32;

    let (prog, log) = load_logged(ProgType::SOCKET_FILTER, &insns);
    let names = |insn: &Insn| match (insn.src(), insn.imm) {
        (pseudo::KFUNC_CALL, id) if id as u32 == lock => Some("bpf_rcu_read_lock".into()),
        (pseudo::KFUNC_CALL, id) if id as u32 == unlock => Some("bpf_rcu_read_unlock".into()),
        _ => None,
    };
    let d = Disassembler::new().with_call_names(names);
    let n = compare(&d, &insns, &log, &[map_at, value_at]);
    assert!(n >= 18, "only {n} lines compared:\n{log}");
    let text = d.text(&insns, sub + 1);
    assert_eq!(text, "may_goto pc+2", "{}", d.program(&insns));
    // The program ran: 41 from the map twice, +1 from the subprogram.
    let out = prog_test_run(
        prog.as_fd(),
        &mut TestRun {
            data_in: &[0u8; 64],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(out.retval, 83);
}
