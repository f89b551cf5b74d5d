//! Tracing attachments proven against the running kernel: tracepoints (perf link and ioctl),
//! raw tracepoints, tp_btf, iterators, fentry/fexit/LSM (refused with EPERM by this
//! kernel's policy, run where allowed), perf event sampling, pinned links outliving their
//! process, and no fd leaks over 1,000 attach/detach cycles.

mod attach_support;
mod common;

use std::io::Read;
use std::os::fd::AsFd;

use attach_support::*;
use nix::errno::Errno;
use oxbpf::btf::BtfKind;
use oxbpf::insn::{asm, opcode::jmp, opcode::size, reg::*};
use oxbpf::programs::*;
use oxbpf::syscall::*;

fn open_devnull(n: usize) {
    for _ in 0..n {
        drop(std::fs::File::open("/dev/null").unwrap());
    }
}

fn getppid(n: usize) {
    for _ in 0..n {
        let _ = nix::unistd::getppid();
    }
}

#[test]
fn tracepoint_runs_until_the_link_drops() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs(), "tracefs could not be mounted");
    let before = common::fd_count();
    for method in [AttachMethod::Auto, AttachMethod::Legacy] {
        let map = counter_map("tp_count");
        let prog = counting(
            ProgType::TRACEPOINT,
            None,
            &map,
            Some(my_tgid()),
            0,
            "tp_openat",
        );
        let link = prog
            .attach_tracepoint_with(
                "syscalls",
                "sys_enter_openat",
                &TracepointOptions {
                    method,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(link.target(), "tracepoint syscalls/sys_enter_openat");
        if method == AttachMethod::Legacy {
            assert_eq!(link.method(), LinkMethod::PerfEventIoctl);
            assert!(link.fd().is_none());
        } else if probe::perf_link() {
            assert_eq!(link.method(), LinkMethod::BpfLink);
            assert_eq!(link.info().unwrap().link_type(), LinkType::PERF_EVENT);
        }
        open_devnull(3);
        let after = counter(&map);
        assert!(
            after >= 3,
            "{method:?}: counted {after} openat calls, expected >= 3"
        );
        drop(link);
        open_devnull(3);
        assert_eq!(
            counter(&map),
            after,
            "{method:?}: ran after the link dropped"
        );
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn tracepoint_errors_name_the_target() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("tp_err");
    let prog = counting(ProgType::TRACEPOINT, None, &map, None, 0, "tp_err");
    let err = prog
        .attach_tracepoint("syscalls", "sys_enter_no_such_call")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tp_err") && text.contains("sys_enter_no_such_call"),
        "{text}"
    );
    assert!(matches!(err.kind(), AttachErrorKind::Io { .. }), "{err:?}");
    // A raw tracepoint program is not a tracepoint program.
    let raw = counting(ProgType::RAW_TRACEPOINT, None, &map, None, 0, "raw_err");
    assert!(matches!(
        raw.attach_tracepoint("syscalls", "sys_enter_openat"),
        Err(e) if matches!(e.kind(), AttachErrorKind::WrongProgramType { .. })
    ));
    assert!(matches!(
        prog.attach_raw_tracepoint("sys_enter"),
        Err(e) if matches!(e.kind(), AttachErrorKind::WrongProgramType { .. })
    ));
}

#[test]
fn raw_tracepoint_runs_until_the_link_drops() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = counter_map("rawtp_count");
        let prog = counting(
            ProgType::RAW_TRACEPOINT,
            None,
            &map,
            Some(my_tgid()),
            0,
            "rawtp_enter",
        );
        let link = prog.attach_raw_tracepoint("sys_enter").unwrap();
        assert_eq!(link.info().unwrap().link_type(), LinkType::RAW_TRACEPOINT);
        getppid(5);
        let during = counter(&map);
        assert!(during >= 5, "counted {during}");
        link.detach().unwrap();
        // sys_enter counts every syscall of ours, the reads too: measure after detaching.
        let after = counter(&map);
        getppid(5);
        assert_eq!(counter(&map), after, "ran after detach");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn tp_btf_runs_until_the_link_drops() {
    let _serial = common::serial();
    require_bpf!();
    let btf = vmlinux();
    let id = btf
        .id_by_name_kind("btf_trace_sys_enter", BtfKind::Typedef)
        .expect("btf_trace_sys_enter in vmlinux BTF");
    let before = common::fd_count();
    {
        let map = counter_map("tpbtf_count");
        let insns = count_insns(&map, Some(my_tgid()), 0);
        let prog = try_load(&LoadSpec {
            prog_type: ProgType::TRACING,
            expected: Some(AttachType::TRACE_RAW_TP),
            attach_btf_id: id,
            insns: &insns,
            name: "tpbtf_enter",
        })
        .unwrap_or_else(|(e, log)| panic!("{e}\n{log}"));
        let link = prog.attach_tracing().unwrap();
        getppid(4);
        let during = counter(&map);
        assert!(during >= 4, "counted {during}");
        drop(link);
        let after = counter(&map);
        getppid(4);
        assert_eq!(counter(&map), after, "ran after the link dropped");
    }
    assert_eq!(common::fd_count(), before);
}

/// An iterator over tasks writing each task's `tgid` (4 bytes) or `comm` (16 bytes).
fn task_iter(comm: bool) -> Program {
    let btf = vmlinux();
    let func = btf
        .id_by_name_kind("bpf_iter_task", BtfKind::Func)
        .expect("bpf_iter_task");
    let task = btf.id_by_name_kind("task_struct", BtfKind::Struct).unwrap();
    let field = if comm { "comm" } else { "tgid" };
    let off = (btf.find_member(task, field).unwrap().unwrap().bit_offset / 8) as i32;
    let mut a = asm::Asm::new();
    a.push(asm::ldx(size::DW, R6, R1, 0)); // meta
    a.push(asm::ldx(size::DW, R7, R1, 8)); // task
    a.jump_imm(jmp::JEQ, R7, 0, "out");
    if comm {
        // bpf_probe_read_kernel(fp - 16, 16, &task->comm)
        a.push(asm::mov64_reg(R1, R10));
        a.push(asm::alu64_imm(oxbpf::insn::opcode::alu::ADD, R1, -16));
        a.push(asm::mov64_imm(R2, 16));
        a.push(asm::mov64_reg(R3, R7));
        a.push(asm::alu64_imm(oxbpf::insn::opcode::alu::ADD, R3, off));
        a.push(asm::call_helper(113));
    } else {
        a.push(asm::ldx(size::W, R2, R7, off as i16));
        a.push(asm::stx(size::W, R10, R2, -16));
    }
    a.push(asm::ldx(size::DW, R1, R6, 0)); // meta->seq
    a.push(asm::mov64_reg(R2, R10));
    a.push(asm::alu64_imm(oxbpf::insn::opcode::alu::ADD, R2, -16));
    a.push(asm::mov64_imm(R3, if comm { 16 } else { 4 }));
    a.push(asm::call_helper(127)); // bpf_seq_write
    a.label("out");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    let insns = a.finish().unwrap();
    try_load(&LoadSpec {
        prog_type: ProgType::TRACING,
        expected: Some(AttachType::TRACE_ITER),
        attach_btf_id: func,
        insns: &insns,
        name: if comm { "iter_comm" } else { "iter_tgid" },
    })
    .unwrap_or_else(|(e, log)| panic!("{e}\n{log}"))
}

#[test]
fn task_iterator_output_reads_as_a_stream() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let prog = task_iter(false);
        let link = prog.attach_iter(IterTarget::None).unwrap();
        assert_eq!(link.info().unwrap().link_type(), LinkType::ITER);
        let mut bytes = Vec::new();
        link.open_iter().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let tgids: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        assert!(
            tgids.contains(&my_tgid()),
            "our tgid among {} tasks",
            tgids.len()
        );
        let mut distinct = tgids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        eprintln!(
            "{} tasks, {} processes, first {:?}",
            tgids.len(),
            distinct.len(),
            &distinct[..distinct.len().min(5)]
        );
        // Each open is a fresh run.
        let mut again = Vec::new();
        link.open_iter().unwrap().read_to_end(&mut again).unwrap();
        assert!(!again.is_empty());

        // Text output through the inherent read_to_string.
        let comm = task_iter(true);
        let link = comm.attach_iter(IterTarget::None).unwrap();
        let text = link.open_iter().unwrap().read_to_string().unwrap();
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(text.contains(me.trim()), "{me:?} not in the task names");
        // Only iter links open iterators.
        let map = counter_map("iter_not");
        let raw = counting(ProgType::RAW_TRACEPOINT, None, &map, None, 0, "iter_not");
        let rl = raw.attach_raw_tracepoint("sys_exit").unwrap();
        assert!(rl.open_iter().is_err());
    }
    assert_eq!(common::fd_count(), before);
}

/// fentry/fexit/LSM: this kernel refuses the loads with EPERM (policy); elsewhere they attach
/// and run.
#[test]
fn fentry_fexit_and_lsm_run_or_are_refused_clearly() {
    let _serial = common::serial();
    require_bpf!();
    let btf = vmlinux();
    let cases = [
        (
            ProgType::TRACING,
            AttachType::TRACE_FENTRY,
            "__x64_sys_getpgid",
            "fentry_getpgid",
        ),
        (
            ProgType::TRACING,
            AttachType::TRACE_FEXIT,
            "__x64_sys_getpgid",
            "fexit_getpgid",
        ),
        (
            ProgType::LSM,
            AttachType::LSM_MAC,
            "bpf_lsm_file_open",
            "lsm_file_open",
        ),
    ];
    let before = common::fd_count();
    for (prog_type, attach, func, name) in cases {
        let Some(id) = btf.id_by_name_kind(func, BtfKind::Func) else {
            eprintln!("SKIPPED {name}: no {func} in vmlinux BTF");
            continue;
        };
        let map = counter_map(name);
        let insns = count_insns(&map, Some(my_tgid()), 0);
        let prog = match try_load(&LoadSpec {
            prog_type,
            expected: Some(attach),
            attach_btf_id: id,
            insns: &insns,
            name,
        }) {
            Ok(p) => p,
            Err((e, _)) if e.errno == Errno::EPERM && common::trampolines_refused_by_policy() => {
                // The documented refusal of this kernel (probed): a typed, explained EPERM.
                assert_eq!(e.bpf_command(), Some(Command::PROG_LOAD));
                assert!(e.to_string().contains("EPERM"), "{e}");
                eprintln!("{name}: refused by this kernel as documented: {e}");
                continue;
            }
            Err((e, log)) => panic!("{name}: {e}\n{log}"),
        };
        let link = prog
            .attach_tracing()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if attach == AttachType::LSM_MAC && common::bpf_lsm_active() == Some(false) {
            // Attached, but the hooks of an inactive BPF LSM are never called.
            eprintln!("SKIPPED {name}: `bpf` is not in the kernel's active LSM list");
            continue;
        }
        if attach == AttachType::LSM_MAC {
            open_devnull(3);
        } else {
            for _ in 0..3 {
                let _ = nix::unistd::getpgid(None);
            }
        }
        let after = counter(&map);
        assert!(after >= 3, "{name}: counted {after}");
        eprintln!("{name}: attached and ran {after} times");
        assert_eq!(link.info().unwrap().link_type(), LinkType::TRACING);
        drop(link);
        open_devnull(3);
        let _ = nix::unistd::getpgid(None);
        assert_eq!(counter(&map), after, "{name}: ran after detach");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn perf_event_sampling_runs_until_the_link_drops() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    for (scope, method) in [
        (PerfScope::AllCpus, AttachMethod::Auto),
        (PerfScope::Process(0), AttachMethod::Legacy),
    ] {
        let map = counter_map("perf_count");
        let prog = counting(ProgType::PERF_EVENT, None, &map, None, 0, "perf_clock");
        let mut opts = PerfEventOptions::new(PerfEventKind::CPU_CLOCK, Sampling::Frequency(1000));
        opts.scope = scope;
        opts.method = method;
        let link = prog.attach_perf_event(&opts).unwrap();
        if scope == PerfScope::AllCpus {
            let cpus = oxbpf::programs::perf_event::online_cpus().unwrap();
            if cpus.len() > 1 {
                assert_eq!(link.method(), LinkMethod::Group);
                assert_eq!(link.parts().len(), cpus.len());
            }
        }
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(300) {
            std::hint::black_box((0..1000u64).sum::<u64>());
        }
        let after = counter(&map);
        assert!(after > 0, "{scope:?}: no samples in 300 ms of cpu-clock");
        drop(link);
        // Samples already under way on another CPU may still land: settle, then watch.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after = counter(&map);
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(100) {
            std::hint::black_box((0..1000u64).sum::<u64>());
        }
        assert_eq!(counter(&map), after, "{scope:?}: sampled after detach");
        // Only perf_event programs sample.
        let tp = counting(ProgType::TRACEPOINT, None, &map, None, 0, "perf_wrong");
        assert!(matches!(
            tp.attach_perf_event(&opts),
            Err(e) if matches!(e.kind(), AttachErrorKind::WrongProgramType { .. })
        ));
    }
    assert_eq!(common::fd_count(), before);
}

/// Waits (up to 5 s) for link `id` to be freed: dropping the last reference through bpffs
/// releases the link from a kernel work queue.
fn wait_freed(id: u32) {
    for _ in 0..500 {
        if link_get_fd_by_id(id).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("link {id} still exists 5 s after its last reference went");
}

const PIN_DIR: &str = "OXBPF_TEST_PIN_DIR";
const PARENT: &str = "OXBPF_TEST_PARENT_TGID";

/// Child side of `pinned_link_outlives_its_process`: pins a counter map and a tracepoint
/// link counting the parent's getppid calls, then exits.
#[test]
#[ignore = "helper run by pinned_link_outlives_its_process"]
fn child_pins_a_tracepoint_link() {
    let dir = std::path::PathBuf::from(std::env::var(PIN_DIR).expect("pin dir"));
    let parent: u32 = std::env::var(PARENT).unwrap().parse().unwrap();
    assert!(ensure_tracefs());
    let map = counter_map("pin_count");
    obj_pin(map.as_fd(), &dir.join("count")).unwrap();
    let prog = counting(
        ProgType::TRACEPOINT,
        None,
        &map,
        Some(parent),
        0,
        "pin_getppid",
    );
    let mut link = prog
        .attach_tracepoint("syscalls", "sys_enter_getppid")
        .unwrap();
    link.pin(dir.join("link")).unwrap();
    // Exiting closes every fd of this process: the pin alone keeps the link.
}

#[test]
fn pinned_link_outlives_its_process_and_unpinning_detaches() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    if !probe::perf_link() {
        eprintln!("SKIPPED pinned_link_outlives_its_process_and_unpinning_detaches: perf links (5.15) are needed to pin a tracepoint link");
        return;
    }
    let fs = Bpffs::mount();
    let dir = fs.path("");
    let tgid = my_tgid().to_string();
    assert!(
        run_child(
            "child_pins_a_tracepoint_link",
            &[(PIN_DIR, dir.to_str().unwrap()), (PARENT, &tgid)],
        ),
        "the child could not pin its link"
    );
    let before = common::fd_count();
    {
        let map = MapFd::from_fd(obj_get(&fs.path("count"), FileFlags::empty()).unwrap()).unwrap();
        let start = counter(&map);
        getppid(5);
        let after = counter(&map);
        assert_eq!(
            after,
            start + 5,
            "the pinned link still runs after its process exited"
        );
        let opened = Link::from_pin(fs.path("link")).unwrap();
        let id = opened.id().unwrap();
        assert_eq!(opened.program(), "pin_getppid");
        // Perf links report their tracepoint since 6.6.
        let target = opened.target();
        assert!(
            target.contains("sys_enter_getppid") || target == "perf_event",
            "{target}"
        );
        drop(opened); // closing an opened pin leaves the attachment
        getppid(2);
        assert_eq!(counter(&map), after + 2);
        std::fs::remove_file(fs.path("link")).unwrap();
        // The last reference goes with the pin, but the perf-event link's release (the id,
        // then the detach from the tracepoint) may follow on a kernel work queue: wait, with
        // a deadline, until the id is gone and a call is no longer counted.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let settled = loop {
            let c = counter(&map);
            getppid(1);
            if link_get_fd_by_id(id).is_err() && counter(&map) == c {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(
            settled,
            "link {id} still exists or still runs 10 s after unpinning"
        );
        let c = counter(&map);
        getppid(5);
        assert_eq!(counter(&map), c, "unpinning detached the link");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn link_pin_and_unpin_in_process() {
    let _serial = common::serial();
    require_bpf!();
    let fs = Bpffs::mount();
    let before = common::fd_count();
    {
        let map = counter_map("pin_self");
        let prog = counting(
            ProgType::RAW_TRACEPOINT,
            None,
            &map,
            Some(my_tgid()),
            0,
            "pin_self",
        );
        let mut link = prog.attach_raw_tracepoint("sys_enter").unwrap();
        let id = link.id().unwrap();
        link.pin(fs.path("rawtp")).unwrap();
        assert_eq!(link.pinned_path(), Some(fs.path("rawtp").as_path()));
        // Pinning twice at one path: the kernel's EEXIST, with the path in the error.
        let mut other = prog.attach_raw_tracepoint("sys_exit").unwrap();
        let err = other.pin(fs.path("rawtp")).unwrap_err();
        assert!(err.to_string().contains("rawtp"), "{err}");
        drop(other);
        drop(link);
        let c = counter(&map);
        getppid(3);
        assert!(
            counter(&map) >= c + 3,
            "pinned link runs after its Link dropped"
        );
        assert!(Link::from_id(id).is_ok());
        let mut reopened = Link::from_pin(fs.path("rawtp")).unwrap();
        reopened.unpin().unwrap();
        drop(reopened);
        wait_freed(id);
        let c = counter(&map);
        getppid(3);
        assert_eq!(counter(&map), c, "ran after unpinning");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn no_fd_leaks_over_1000_cycles() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("leak_count");
    let tp = || counting(ProgType::TRACEPOINT, None, &map, None, 0, "leak_tp");
    no_fd_leak("tracepoint (perf link)", 1000, tp, |p| {
        drop(
            p.attach_tracepoint("syscalls", "sys_enter_getppid")
                .unwrap(),
        )
    });
    no_fd_leak("tracepoint (ioctl)", 1000, tp, |p| {
        let opts = TracepointOptions {
            method: AttachMethod::Legacy,
            ..Default::default()
        };
        drop(
            p.attach_tracepoint_with("syscalls", "sys_enter_getppid", &opts)
                .unwrap(),
        )
    });
    no_fd_leak("failed tracepoint", 1000, tp, |p| {
        assert!(p
            .attach_tracepoint("syscalls", "sys_enter_nothing")
            .is_err())
    });
    let raw = || counting(ProgType::RAW_TRACEPOINT, None, &map, None, 0, "leak_raw");
    no_fd_leak("raw tracepoint", 1000, raw, |p| {
        drop(p.attach_raw_tracepoint("sys_enter").unwrap())
    });
    let btf = vmlinux();
    let tp_id = btf
        .id_by_name_kind("btf_trace_sys_enter", BtfKind::Typedef)
        .unwrap();
    let tp_btf = || {
        try_load(&LoadSpec {
            prog_type: ProgType::TRACING,
            expected: Some(AttachType::TRACE_RAW_TP),
            attach_btf_id: tp_id,
            insns: &count_insns(&map, None, 0),
            name: "leak_tpbtf",
        })
        .unwrap_or_else(|(e, log)| panic!("{e}\n{log}"))
    };
    no_fd_leak("tp_btf", 1000, tp_btf, |p| {
        drop(p.attach_tracing().unwrap())
    });
    no_fd_leak(
        "iterator",
        1000,
        || task_iter(false),
        |p| {
            let link = p.attach_iter(IterTarget::None).unwrap();
            drop(link.open_iter().unwrap());
        },
    );
    let opts = PerfEventOptions::new(PerfEventKind::CPU_CLOCK, Sampling::Period(1 << 30));
    let perf = || counting(ProgType::PERF_EVENT, None, &map, None, 0, "leak_perf");
    no_fd_leak("perf event", 1000, perf, |p| {
        drop(p.attach_perf_event(&opts).unwrap())
    });
}
