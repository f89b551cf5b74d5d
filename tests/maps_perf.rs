//! Perf buffers against the kernel: a raw tracepoint program run on each CPU (PROG_TEST_RUN
//! with `BPF_F_TEST_RUN_ON_CPU`) outputs samples that arrive on that CPU's ring; a small ring
//! read too late reports lost samples; records wrapping around the ring end arrive whole.

mod common;
mod maps_support;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use oxbpf::insn::asm::{self, Asm};
use oxbpf::insn::opcode::{alu, size};
use oxbpf::insn::reg::*;
use oxbpf::maps::*;
use oxbpf::syscall::{online_cpus, prog_test_run, MapType, ProgType, TestRun, TestRunFlags};

use maps_support::*;

/// raw_tp: outputs `payload` bytes (`u64 seq` from the first argument, `u32 cpu`, `u32
/// 0xabcd`, zeros) to `map` on the current CPU; returns the helper's result.
fn output_prog(map: &Map, payload: i16) -> std::os::fd::OwnedFd {
    assert!(payload >= 16 && payload % 8 == 0);
    let mut a = Asm::new();
    a.push(asm::mov64_reg(R6, R1));
    a.push(asm::ldx(size::DW, R7, R6, 0));
    for off in (16..payload).step_by(8) {
        a.push(asm::st_imm(size::DW, FP, -payload + off, 0));
    }
    a.push(asm::call_helper(helper::GET_SMP_PROCESSOR_ID));
    a.push(asm::stx(size::DW, FP, R7, -payload));
    a.push(asm::stx(size::W, FP, R0, -payload + 8));
    a.push(asm::st_imm(size::W, FP, -payload + 12, 0xabcd));
    a.push(asm::mov64_reg(R1, R6));
    a.extend(asm::ld_map_fd(R2, fd_of(map)));
    a.push(asm::mov32_imm(R3, -1)); // BPF_F_CURRENT_CPU
    a.push(asm::mov64_reg(R4, FP));
    a.push(asm::alu64_imm(alu::ADD, R4, -i32::from(payload)));
    a.push(asm::mov64_imm(R5, i32::from(payload)));
    a.push(asm::call_helper(helper::PERF_EVENT_OUTPUT));
    a.push(asm::exit());
    load(
        ProgType::RAW_TRACEPOINT,
        &a.finish().unwrap(),
        "mp_perf_out",
    )
}

/// Runs the program on `cpu` with `seq` as its first argument; returns the helper's result.
fn emit(prog: &std::os::fd::OwnedFd, cpu: u32, seq: u64) -> i32 {
    let ctx = seq.to_ne_bytes();
    prog_test_run(
        prog.as_fd(),
        &mut TestRun {
            ctx_in: &ctx,
            flags: TestRunFlags::RUN_ON_CPU,
            cpu,
            ..Default::default()
        },
    )
    .expect("PROG_TEST_RUN on a CPU")
    .retval as i32
}

fn perf_map(name: &str) -> Map {
    // max_entries 0: one slot per possible CPU (libbpf's convention).
    MapSpec::new(MapType::PERF_EVENT_ARRAY)
        .name(name)
        .create()
        .unwrap()
}

fn decode(data: &[u8]) -> (u64, u32, u32) {
    let w = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().unwrap());
    (
        u64::from_ne_bytes(data[..8].try_into().unwrap()),
        w(8),
        w(12),
    )
}

#[test]
fn samples_from_every_cpu() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = perf_map("mp_perf_all");
        assert_eq!(map.max_entries(), oxbpf::syscall::possible_cpus().unwrap());
        let prog = output_prog(&map, 16);
        let mut pb = PerfBuffer::new(map, PerfBufferOptions::default()).unwrap();
        let cpus = online_cpus().unwrap();
        assert_eq!(
            pb.rings().iter().map(PerfRing::cpu).collect::<Vec<_>>(),
            cpus
        );
        // Produce from another thread while we poll.
        let producer = {
            let cpus = cpus.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    for &cpu in &cpus {
                        assert_eq!(emit(&prog, cpu, u64::from(cpu) * 1000 + i), 0);
                    }
                }
            })
        };
        let mut next = vec![0u64; cpus.iter().max().map_or(0, |&c| c as usize + 1)];
        let deadline = Instant::now() + Duration::from_secs(30);
        while cpus.iter().any(|&c| next[c as usize] < 50) {
            assert!(Instant::now() < deadline, "stalled at {next:?}");
            pb.poll(Duration::from_secs(5), |cpu, rec| match rec {
                PerfRecord::Sample(data) => {
                    // 16 bytes output; the kernel pads the u32 size + data to 8 bytes.
                    assert_eq!(data.len(), 20);
                    let (seq, on, magic) = decode(data);
                    assert_eq!((on, magic), (cpu, 0xabcd), "sample on its CPU's ring");
                    assert_eq!(seq, u64::from(cpu) * 1000 + next[cpu as usize], "in order");
                    next[cpu as usize] += 1;
                }
                PerfRecord::Lost(n) => panic!("lost {n} on cpu {cpu}"),
            })
            .unwrap();
        }
        producer.join().unwrap();
        assert_eq!(pb.lost(), 0);
        assert_eq!(pb.consume(|_, _| unreachable!()).unwrap(), 0);
        // The map slots hold the events while the buffer lives.
        let map_fd = pb.map().try_clone().unwrap();
        drop(pb);
        let prog = output_prog(&map_fd, 16);
        assert!(
            emit(&prog, cpus[0], 0) < 0,
            "slots cleared when the buffer is dropped"
        );
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn lost_samples_are_counted_when_reading_too_slowly() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = perf_map("mp_perf_lost");
        let prog = output_prog(&map, 16);
        let mut pb = PerfBuffer::new(
            map,
            PerfBufferOptions {
                pages: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let cpu = online_cpus().unwrap()[0];
        const N: u64 = 1000;
        let failed = (0..N).filter(|&i| emit(&prog, cpu, i) != 0).count() as u64;
        // Each record takes 32 bytes: one page holds 128, the rest were dropped.
        let (mut samples, mut last) = (0u64, None);
        pb.consume(|_, rec| {
            if let PerfRecord::Sample(d) = rec {
                let (seq, _, _) = decode(d);
                assert!(last.is_none_or(|l| seq > l), "in order");
                last = Some(seq);
                samples += 1;
            }
        })
        .unwrap();
        assert!(samples < N, "a page cannot hold {N} samples");
        assert_eq!(failed, N - samples, "the helper reported each drop");
        // The kernel writes the LOST record with the next sample that fits.
        assert_eq!(emit(&prog, cpu, N), 0);
        let (mut lost, mut more) = (0, 0);
        pb.poll(Duration::from_secs(5), |_, rec| match rec {
            PerfRecord::Lost(n) => lost += n,
            PerfRecord::Sample(d) => {
                assert_eq!(decode(d).0, N);
                more += 1;
            }
        })
        .unwrap();
        assert_eq!((lost, more), (N - samples, 1), "lost samples counted");
        assert_eq!(pb.lost(), N - samples);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn records_wrapping_the_ring_arrive_whole() {
    let _serial = common::serial();
    require_bpf!();
    let map = perf_map("mp_perf_wrap");
    // 104-byte samples: 112-byte records, which do not divide the 4096-byte ring.
    let prog = output_prog(&map, 104);
    let mut pb = PerfBuffer::new(
        map,
        PerfBufferOptions {
            pages: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let cpu = online_cpus().unwrap()[0];
    let mut seq = 0u64;
    for _round in 0..10 {
        for _ in 0..30 {
            assert_eq!(emit(&prog, cpu, seq), 0);
            seq += 1;
        }
        let mut got = Vec::new();
        pb.consume(|_, rec| match rec {
            PerfRecord::Sample(d) => {
                assert_eq!(d.len(), 108);
                let (s, on, magic) = decode(d);
                assert_eq!((on, magic), (cpu, 0xabcd));
                assert!(d[16..104].iter().all(|&b| b == 0), "payload intact");
                got.push(s);
            }
            PerfRecord::Lost(n) => panic!("lost {n}"),
        })
        .unwrap();
        assert_eq!(got, (seq - 30..seq).collect::<Vec<_>>());
    }
    // 300 records of 112 bytes went around the 4096-byte ring 8 times, and a record
    // straddles the end on most rounds: those came through the scratch copy.
}
