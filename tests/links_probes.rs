//! Dynamic probes proven against the running kernel: uprobes/uretprobes on a function of this
//! test binary (PMU and tracefs paths, PID filter, cookie), uprobe.multi, USDT probes of a C
//! program built at test time (arguments decoded from the spec map, semaphore raised), and
//! kprobes — refused clearly on a kernel without CONFIG_KPROBES, run where it has them.

mod attach_support;
mod common;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};

use attach_support::*;
use oxbpf::insn::{asm, opcode::alu, opcode::jmp, opcode::size, reg::*, Insn};
use oxbpf::programs::usdt_args::BitField;
use oxbpf::programs::*;
use oxbpf::syscall::*;

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_uprobe_target_two(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(7)
}

fn call_targets(n: u64) {
    for i in 0..n {
        std::hint::black_box(oxbpf_uprobe_target(i));
    }
}

const SELF: &str = "/proc/self/exe";

/// `map[0] += 1; map[1] = bpf_get_attach_cookie(ctx)`.
fn count_and_cookie(map: &MapFd) -> Vec<Insn> {
    let fd = map.as_fd().as_raw_fd();
    let mut a = asm::Asm::new();
    a.push(asm::call_helper(174)); // bpf_get_attach_cookie(ctx)
    a.push(asm::mov64_reg(R6, R0));
    a.push(asm::st_imm(size::W, R10, -4, 1));
    a.push(asm::mov64_reg(R2, R10));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd));
    a.push(asm::call_helper(1));
    a.jump_imm(jmp::JEQ, R0, 0, "out");
    a.push(asm::stx(size::DW, R0, R6, 0));
    a.extend(count_insns(map, None, 0)); // ends with r0 = 0; exit
    a.label("out");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
}

#[test]
fn uprobe_on_own_function_runs_until_the_link_drops() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let before = common::fd_count();
    for (method, force_tracefs) in [
        (AttachMethod::Auto, false),
        (AttachMethod::Legacy, false),
        (AttachMethod::Auto, true),
    ] {
        let map = counter_map("up_count");
        let prog = load(ProgType::KPROBE, None, &count_and_cookie(&map), "up_target");
        let cookie = if method == AttachMethod::Legacy {
            0
        } else {
            0x1234
        };
        let link = prog
            .attach_uprobe(
                SELF,
                UprobeLocation::Symbol {
                    name: "oxbpf_uprobe_target",
                    offset: 0,
                },
                &UprobeOptions {
                    cookie,
                    method,
                    force_tracefs,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{method:?} tracefs={force_tracefs}: {e}"));
        assert!(link.target().contains("oxbpf_uprobe_target"));
        call_targets(4);
        std::hint::black_box(oxbpf_uprobe_target_two(1));
        let after = counter(&map);
        assert_eq!(
            after, 4,
            "{method:?} tracefs={force_tracefs}: four calls, four runs"
        );
        assert_eq!(slot(&map, 1), cookie, "the cookie reached the program");
        drop(link);
        call_targets(4);
        assert_eq!(counter(&map), after, "ran after detach");
    }
    // The tracefs probe is removed with the link.
    let root = tracefs_root().unwrap();
    let events = std::fs::read_to_string(root.join("uprobe_events")).unwrap();
    assert!(
        !events.contains(&format!("oxbpf_{}_", std::process::id())),
        "leftover probe: {events}"
    );
    assert_eq!(common::fd_count(), before);
}

#[test]
fn uretprobe_and_pid_filter() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("uret_count");
    let prog = counting(ProgType::KPROBE, None, &map, None, 0, "uret_target");
    let location = UprobeLocation::Symbol {
        name: "oxbpf_uprobe_target",
        offset: 0,
    };
    let ret = prog
        .attach_uprobe(
            SELF,
            location,
            &UprobeOptions {
                retprobe: true,
                pid: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(ret.target().starts_with("uretprobe "));
    call_targets(3);
    assert_eq!(counter(&map), 3);
    drop(ret);
    // A probe for another process only: our calls do not count.
    let mut other = Command::new("sleep").arg("10").spawn().unwrap();
    let link = prog
        .attach_uprobe(
            SELF,
            location,
            &UprobeOptions {
                pid: Some(other.id() as i32),
                ..Default::default()
            },
        )
        .unwrap();
    call_targets(3);
    assert_eq!(counter(&map), 3, "a probe for another PID saw our calls");
    drop(link);
    let _ = other.kill();
    let _ = other.wait();
    // Retprobes take no offset inside the function? They do for uprobes; a bad symbol is a
    // clear error naming binary and symbol.
    let err = prog
        .attach_uprobe(
            SELF,
            UprobeLocation::Symbol {
                name: "oxbpf_no_such_symbol",
                offset: 0,
            },
            &UprobeOptions::default(),
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("oxbpf_no_such_symbol") && text.contains("/proc/self/exe"),
        "{text}"
    );
    let err = prog
        .attach_uprobe(
            "libnope-oxbpf.so.1",
            UprobeLocation::FileOffset(0),
            &UprobeOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("libnope-oxbpf.so.1"), "{err}");
}

#[test]
fn uprobe_on_a_shared_library_by_name() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("lib_count");
    let prog = counting(
        ProgType::KPROBE,
        None,
        &map,
        Some(my_tgid()),
        0,
        "lib_getpid",
    );
    // libc's getpid, by library name (ld.so.cache), for this process only.
    let link = prog
        .attach_uprobe(
            "libc.so.6",
            UprobeLocation::Symbol {
                name: "getpid",
                offset: 0,
            },
            &UprobeOptions {
                pid: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    for _ in 0..3 {
        // SAFETY-free: nix calls libc's getpid.
        std::hint::black_box(nix::unistd::getpid());
    }
    assert!(counter(&map) >= 3, "counted {}", counter(&map));
    drop(link);
}

#[test]
fn uprobe_multi_by_pattern() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("umulti_count");
    let insns = count_and_cookie(&map);
    let Ok(prog) = try_load(&LoadSpec {
        prog_type: ProgType::KPROBE,
        expected: Some(AttachType::TRACE_UPROBE_MULTI),
        attach_btf_id: 0,
        insns: &insns,
        name: "umulti",
    }) else {
        eprintln!("SKIPPED uprobe_multi_by_pattern: this kernel has no uprobe_multi programs");
        return;
    };
    if !probe::uprobe_multi_link() {
        let err = prog
            .attach_uprobe_multi(
                SELF,
                UprobeMultiLocations::Pattern("oxbpf_uprobe_target*"),
                &UprobeMultiOptions::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("6.6"), "{err}");
        return;
    }
    let before = common::fd_count();
    {
        let link = prog
            .attach_uprobe_multi(
                SELF,
                UprobeMultiLocations::Pattern("oxbpf_uprobe_target*"),
                &UprobeMultiOptions {
                    cookies: &[11, 22],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(link.info().unwrap().link_type(), LinkType::UPROBE_MULTI);
        call_targets(2);
        std::hint::black_box(oxbpf_uprobe_target_two(5));
        assert_eq!(counter(&map), 3, "both functions matched the pattern");
        assert!([11, 22].contains(&slot(&map, 1)));
        drop(link);
        call_targets(2);
        assert_eq!(counter(&map), 3);
        let err = prog
            .attach_uprobe_multi(
                SELF,
                UprobeMultiLocations::Pattern("oxbpf_matches_nothing_*"),
                &UprobeMultiOptions::default(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("oxbpf_matches_nothing_*"), "{err}");
    }
    assert_eq!(common::fd_count(), before);
}

/// Builds tests/fixtures/usdt/usdt_target.c into `dir`, or `None` without a C compiler.
fn build_usdt_target(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let src = common::fixtures_dir().join("usdt/usdt_target.c");
    let out = dir.join("usdt_target");
    match Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
    {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            eprintln!(
                "SKIPPED USDT: cc failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("SKIPPED USDT: no cc: {e}");
            None
        }
    }
}

/// Where the decoder takes its spec id from.
#[derive(Clone, Copy)]
enum SpecFrom<'a> {
    /// `bpf_get_attach_cookie(ctx)`.
    Cookie,
    /// The ip map, keyed by `PT_REGS_IP(ctx)` (x86-64: `pt_regs.ip` at offset 128).
    IpMap(&'a MapFd),
}

/// A program decoding the first `nargs` USDT arguments as `bpf_usdt_arg()` does, storing
/// argument `i` in `out[1 + i]` and counting runs in `out[0]`.
fn usdt_decoder(
    specs: &MapFd,
    from: SpecFrom<'_>,
    out: &MapFd,
    layout: &UsdtSpecLayout,
    nargs: usize,
) -> Vec<Insn> {
    let byte = |f: BitField| (f.bit_offset / 8) as i16;
    let sz = |f: BitField| size::from_bytes(f.bits / 8).unwrap();
    let mut a = asm::Asm::new();
    a.push(asm::mov64_reg(R6, R1));
    match from {
        SpecFrom::Cookie => a.push(asm::call_helper(174)),
        SpecFrom::IpMap(ips) => {
            a.push(asm::ldx(size::DW, R1, R6, 128));
            a.push(asm::stx(size::DW, R10, R1, -24));
            a.push(asm::mov64_reg(R2, R10));
            a.push(asm::alu64_imm(alu::ADD, R2, -24));
            a.extend(asm::ld_map_fd(R1, ips.as_fd().as_raw_fd()));
            a.push(asm::call_helper(1));
            a.jump_imm(jmp::JEQ, R0, 0, "out");
            a.push(asm::ldx(size::W, R0, R0, 0))
        }
    };
    a.push(asm::stx(size::W, R10, R0, -4));
    a.push(asm::mov64_reg(R2, R10));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, specs.as_fd().as_raw_fd()));
    a.push(asm::call_helper(1));
    a.jump_imm(jmp::JEQ, R0, 0, "out");
    a.push(asm::mov64_reg(R7, R0));
    for i in 0..nargs {
        let base = (i * layout.arg_size) as i16;
        let l = |s: &str| format!("{s}{i}");
        a.push(asm::ldx(
            sz(layout.arg_type),
            R1,
            R7,
            base + byte(layout.arg_type),
        ));
        a.jump_imm(jmp::JEQ, R1, 0, &l("const"));
        // Register value: bpf_probe_read_kernel(fp - 16, 8, ctx + reg_off).
        a.push(asm::ldx(size::H, R3, R7, base + byte(layout.reg_off)));
        a.push(asm::alu64_reg(alu::ADD, R3, R6));
        a.push(asm::mov64_reg(R1, R10));
        a.push(asm::alu64_imm(alu::ADD, R1, -16));
        a.push(asm::mov64_imm(R2, 8));
        a.push(asm::call_helper(113));
        a.push(asm::ldx(size::DW, R8, R10, -16));
        a.push(asm::ldx(
            sz(layout.arg_type),
            R1,
            R7,
            base + byte(layout.arg_type),
        ));
        a.jump_imm(jmp::JEQ, R1, 1, &l("shift"));
        // Memory at register + val_off: bpf_probe_read_user(fp - 16, 8, reg + off).
        a.push(asm::ldx(size::DW, R3, R7, base + byte(layout.val_off)));
        a.push(asm::alu64_reg(alu::ADD, R3, R8));
        a.push(asm::mov64_reg(R1, R10));
        a.push(asm::alu64_imm(alu::ADD, R1, -16));
        a.push(asm::mov64_imm(R2, 8));
        a.push(asm::call_helper(112));
        a.push(asm::ldx(size::DW, R8, R10, -16));
        a.goto(&l("shift"));
        a.label(&l("const"));
        a.push(asm::ldx(size::DW, R8, R7, base + byte(layout.val_off)));
        a.label(&l("shift"));
        a.push(asm::ldx(size::B, R2, R7, base + byte(layout.arg_bitshift)));
        a.push(asm::alu64_reg(alu::LSH, R8, R2));
        a.push(asm::ldx(size::B, R1, R7, base + byte(layout.arg_signed)));
        a.jump_imm(jmp::JEQ, R1, 0, &l("unsigned"));
        a.push(asm::alu64_reg(alu::ARSH, R8, R2));
        a.goto(&l("store"));
        a.label(&l("unsigned"));
        a.push(asm::alu64_reg(alu::RSH, R8, R2));
        a.label(&l("store"));
        a.push(asm::st_imm(size::W, R10, -4, 1 + i as i32));
        a.push(asm::mov64_reg(R2, R10));
        a.push(asm::alu64_imm(alu::ADD, R2, -4));
        a.extend(asm::ld_map_fd(R1, out.as_fd().as_raw_fd()));
        a.push(asm::call_helper(1));
        a.jump_imm(jmp::JEQ, R0, 0, "out");
        a.push(asm::stx(size::DW, R0, R8, 0));
    }
    a.extend(count_insns(out, None, 0));
    a.label("out");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
}

/// Runs the USDT target once: returns how many of its five ticks saw the semaphore set.
fn run_usdt_target(
    path: &std::path::Path,
    attach: impl FnOnce(i32) -> Option<Link>,
) -> (u32, Option<Link>) {
    let mut child = Command::new(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let link = attach(child.id() as i32);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let seen = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (seen, link)
}

/// libbpf's two USDT maps, as usdt.bpf.h declares them (legacy layout: 208-byte specs).
fn usdt_maps() -> (MapFd, MapFd) {
    let specs = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: UsdtSpecLayout::LEGACY.spec_size as u32,
        max_entries: 16,
        name: "__bpf_usdt_spec",
        ..Default::default()
    })
    .unwrap();
    let ips = map_create(&MapCreate {
        map_type: MapType::HASH,
        key_size: 8,
        value_size: 4,
        max_entries: 16,
        name: "__bpf_usdt_ip_t",
        ..Default::default()
    })
    .unwrap();
    (specs, ips)
}

#[test]
fn usdt_probe_arguments_and_semaphore() {
    let _serial = common::serial();
    require_bpf!();
    let dir = tempfile::tempdir().unwrap();
    let Some(target) = build_usdt_target(dir.path()) else {
        return;
    };
    let bin = ElfBinary::open(&target).unwrap();
    let notes = oxbpf::programs::usdt::usdt_notes(&bin).unwrap();
    let tick = notes.iter().find(|n| n.name == "tick").unwrap();
    assert_eq!(tick.provider, "oxbpf");
    assert_ne!(tick.sema_addr, 0, "the probe has a semaphore");
    let sites = oxbpf::programs::usdt::usdt_sites(&bin, "oxbpf", "tick").unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].args.len(), 3, "spec {:?}", tick.args);
    assert_ne!(sites[0].sema_offset, 0);

    let (specs, ips) = usdt_maps();
    let layout = oxbpf::programs::usdt::spec_layout(&specs).unwrap();
    assert_eq!(layout, UsdtSpecLayout::LEGACY);
    let maps = UsdtMaps {
        specs: &specs,
        ip_to_spec_id: Some(&ips),
    };
    let path = target.to_str().unwrap();
    let mut variants = vec![
        ("cookie", UsdtSpecLookup::Cookie, None),
        ("ip map", UsdtSpecLookup::IpMap, None),
    ];
    if probe::uprobe_multi_link() {
        variants.push((
            "uprobe.multi",
            UsdtSpecLookup::Cookie,
            Some(AttachType::TRACE_UPROBE_MULTI),
        ));
    }
    let before = common::fd_count();
    for (what, lookup, expected) in variants {
        let out = counter_map("usdt_out");
        let from = match lookup {
            UsdtSpecLookup::IpMap => SpecFrom::IpMap(&ips),
            _ => SpecFrom::Cookie,
        };
        let prog = try_load(&LoadSpec {
            prog_type: ProgType::KPROBE,
            expected,
            attach_btf_id: 0,
            insns: &usdt_decoder(&specs, from, &out, &layout, 3),
            name: "usdt_tick",
        })
        .unwrap_or_else(|(e, log)| panic!("{what}: {e}\n{log}"));
        let (seen, link) = run_usdt_target(&target, |pid| {
            let opts = UsdtOptions {
                pid: Some(pid),
                cookie: 0,
                lookup,
            };
            Some(
                prog.attach_usdt(path, "oxbpf", "tick", &maps, &opts)
                    .unwrap_or_else(|e| panic!("{what}: {e}")),
            )
        });
        let link = link.unwrap();
        assert_eq!(link.method(), LinkMethod::Group);
        assert_eq!(
            seen, 5,
            "{what}: the kernel raised the semaphore while attached"
        );
        assert_eq!(counter(&out), 5, "{what}: five ticks, five runs");
        assert_eq!(
            slot(&out, 1),
            4,
            "{what}: arg 0, the loop counter's last value"
        );
        assert_eq!(
            slot(&out, 2) as i64,
            -42,
            "{what}: arg 1, a signed constant"
        );
        assert_eq!(
            slot(&out, 3),
            0x12_3456_789a,
            "{what}: arg 2, read from the stack"
        );
        let ip_entries = map_get_next_key(&ips, None, &mut [0u8; 8]).unwrap();
        assert_eq!(
            ip_entries,
            lookup == UsdtSpecLookup::IpMap,
            "{what}: ip map use"
        );
        drop(link);
        assert!(
            !map_get_next_key(&ips, None, &mut [0u8; 8]).unwrap(),
            "{what}: the ip map entries went with the link"
        );
        let (seen, _) = run_usdt_target(&target, |_| None);
        assert_eq!(seen, 0, "{what}: the semaphore is down again");
        assert_eq!(counter(&out), 5, "{what}: no run after detach");
    }
    assert_eq!(common::fd_count(), before);

    // A probe that does not exist is a clear error.
    let out = counter_map("usdt_out");
    let prog = load(
        ProgType::KPROBE,
        None,
        &usdt_decoder(&specs, SpecFrom::Cookie, &out, &layout, 3),
        "usdt_nope",
    );
    let err = prog
        .attach_usdt(path, "oxbpf", "nope", &maps, &UsdtOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("oxbpf:nope"), "{err}");
}

#[test]
fn kprobes_run_or_are_refused_clearly() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("kp_count");
    let prog = counting(
        ProgType::KPROBE,
        None,
        &map,
        Some(my_tgid()),
        0,
        "kp_getpgid",
    );
    let before = common::fd_count();
    let has_kprobes = probe::pmu_type("kprobe").is_some();
    let syscall = ksyscall_symbol("getpgid");
    for force_tracefs in [false, true] {
        let opts = KprobeOptions {
            force_tracefs,
            ..Default::default()
        };
        let result = prog.attach_kprobe(&syscall, &opts);
        if !has_kprobes {
            let err = result.unwrap_err();
            assert!(
                matches!(err.kind(), AttachErrorKind::KprobesUnavailable { .. }),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("kernel built without CONFIG_KPROBES"),
                "{text}"
            );
            assert!(
                text.contains("kp_getpgid") && text.contains(&syscall),
                "{text}"
            );
            continue;
        }
        let link = result.unwrap();
        for _ in 0..3 {
            let _ = nix::unistd::getpgid(None);
        }
        let after = counter(&map);
        assert!(after >= 3, "tracefs={force_tracefs}: counted {after}");
        drop(link);
        let _ = nix::unistd::getpgid(None);
        assert_eq!(counter(&map), after);
        map_update_elem(
            &map,
            &0u32.to_ne_bytes(),
            &0u64.to_ne_bytes(),
            ElemFlags::ANY,
        )
        .unwrap();
    }
    // ksyscall and kretprobe take the same paths.
    let r = prog.attach_ksyscall("getpgid", true, 0);
    if has_kprobes {
        let link = r.unwrap();
        let _ = nix::unistd::getpgid(None);
        assert!(counter(&map) >= 1);
        drop(link);
    } else {
        assert!(
            matches!(r, Err(e) if matches!(e.kind(), AttachErrorKind::KprobesUnavailable { .. }))
        );
    }
    // A kretprobe takes no offset, whatever the kernel.
    let err = prog
        .attach_kprobe(
            &syscall,
            &KprobeOptions {
                retprobe: true,
                offset: 4,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("no offset"), "{err}");
    assert_eq!(common::fd_count(), before, "nothing leaked");
    no_fd_leak(
        "kprobe attach",
        1000,
        || counting(ProgType::KPROBE, None, &map, None, 0, "kp_leak"),
        |p| {
            let r = p.attach_kprobe(&syscall, &KprobeOptions::default());
            assert_eq!(r.is_ok(), has_kprobes);
        },
    );
}

#[test]
fn kprobe_multi_runs_or_is_refused_clearly() {
    let _serial = common::serial();
    require_bpf!();
    let has_multi = oxbpf::features::has(oxbpf::features::Feature::KprobeMultiLink).unwrap();
    let map = counter_map("kpm_count");
    let insns = count_insns(&map, Some(my_tgid()), 0);
    let prog = match try_load(&LoadSpec {
        prog_type: ProgType::KPROBE,
        expected: Some(AttachType::TRACE_KPROBE_MULTI),
        attach_btf_id: 0,
        insns: &insns,
        name: "kpm_getpgid",
    }) {
        Ok(p) => p,
        Err((e, _)) => {
            assert!(
                !has_multi,
                "kprobe.multi links probed, but the load failed: {e}"
            );
            eprintln!("SKIPPED kprobe_multi_runs_or_is_refused_clearly: no kprobe.multi programs here (probed): {e}");
            return;
        }
    };
    let syscall = ksyscall_symbol("getpgid");
    let before = common::fd_count();
    match prog.attach_kprobe_multi(
        KprobeMultiTargets::Symbols(&[syscall.as_str()]),
        &KprobeMultiOptions::default(),
    ) {
        Ok(link) => {
            assert!(
                has_multi,
                "attached although the probe says no kprobe.multi links"
            );
            assert_eq!(link.info().unwrap().link_type(), LinkType::KPROBE_MULTI);
            for _ in 0..3 {
                let _ = nix::unistd::getpgid(None);
            }
            let after = counter(&map);
            assert!(after >= 3, "counted {after}");
            drop(link);
            let _ = nix::unistd::getpgid(None);
            assert_eq!(counter(&map), after);
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!has_multi, "kprobe.multi links probed, but: {text}");
            // This host and Debian's 6.1 are built without fprobe.
            assert!(
                text.contains("kpm_getpgid")
                    && text.contains(&syscall)
                    && text.contains("CONFIG_FPROBE"),
                "{text}"
            );
            eprintln!("kprobe.multi refused by this kernel: {text}");
        }
    }
    assert_eq!(common::fd_count(), before);
}
