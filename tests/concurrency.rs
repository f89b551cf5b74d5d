//! Concurrency: maps shared by 8 threads doing mixed operations, each result checked; a ring
//! buffer filled from every CPU at once while it is drained, nothing lost or duplicated; and
//! the `Send`/`Sync` promises of the parsed and kernel-side types, checked at compile time.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use oxbpf::insn::opcode::{jmp, size};
use oxbpf::insn::{asm, reg::*, Insn};
use oxbpf::maps::{Array, HashMap, Map, MapSpec, MmapArray, PerCpuArray, PerCpuValues, RingBuf};
use oxbpf::syscall::{
    possible_cpus, prog_load, prog_test_run, ElemFlags, MapFlags, MapType, ProgLoad, ProgType,
    TestRun, TestRunFlags,
};

const THREADS: usize = 8;

// ---------------------------------------------------------------------------------------
// Send and Sync, at compile time
// ---------------------------------------------------------------------------------------

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

/// What the docs promise: parsed objects and BTF are shared freely between threads
/// (`Btf`: "share one between many loads with `Arc<Btf>`"); maps and their views are
/// `Send + Sync` ("the kernel serializes element operations on a map fd"); the mmap'd
/// readers are `Send + Sync` (their `&self` methods only read or use atomics); relocation
/// results are plain data. `Targets` holds a `Send` module loader, so it is `Send`.
#[test]
fn send_and_sync_as_documented() {
    send_sync::<oxbpf::object::Object>();
    send_sync::<oxbpf::object::MapDef>();
    send_sync::<oxbpf::object::Program>();
    send_sync::<oxbpf::btf::Btf>();
    send_sync::<std::sync::Arc<oxbpf::btf::Btf>>();
    send_sync::<oxbpf::btf::BtfExt>();
    send_sync::<oxbpf::btf::Type<'static>>();
    send_sync::<oxbpf::relocate::Relocated>();
    send_sync::<oxbpf::relocate::core::CoreDecision>();
    send::<oxbpf::relocate::core::Targets>();
    send::<oxbpf::relocate::core::CoreRelocator<'static>>();
    send_sync::<Map>();
    send_sync::<HashMap<u32, u64>>();
    send_sync::<HashMap<u32, u64, &'static Map>>();
    send_sync::<oxbpf::maps::PerCpuHashMap<u32, u64>>();
    send_sync::<Array<u64>>();
    send_sync::<PerCpuArray<u64>>();
    send_sync::<PerCpuValues<u64>>();
    send_sync::<oxbpf::maps::LpmTrie<u32, u32>>();
    send_sync::<oxbpf::maps::Queue<u64>>();
    send_sync::<oxbpf::maps::ProgArray>();
    send_sync::<MmapArray>();
    send_sync::<RingBuf>();
    send::<oxbpf::maps::RingBufPoller>();
    send_sync::<oxbpf::maps::UserRingBuf>();
    send_sync::<oxbpf::maps::PerfRing>();
    send_sync::<oxbpf::maps::MapError>();
    send_sync::<oxbpf::object::ObjectError>();
    send_sync::<oxbpf::relocate::RelocateError>();
    send_sync::<oxbpf::btf::BtfError>();
}

/// Parsed values really are usable from many threads at once: one `Btf` and one `Object`
/// shared by 8 threads that look up, size and relocate concurrently, all agreeing.
#[test]
fn parsed_objects_shared_between_threads() {
    use oxbpf::relocate::{core::Targets, relocate, RelocateOptions};
    let dir = common::fixtures_dir();
    let btf = std::sync::Arc::new(
        oxbpf::btf::Btf::parse(std::fs::read(dir.join("btf/linux-6.1.btf")).unwrap()).unwrap(),
    );
    let obj = oxbpf::object::Object::open(dir.join("core/kernel.clang19.o")).unwrap();
    let expected = relocate(
        &obj,
        RelocateOptions {
            targets: Some(Targets::kernel(btf.clone())),
            ..Default::default()
        },
    )
    .unwrap();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (btf, obj, expected, start) = (&btf, &obj, &expected, &start);
            s.spawn(move || {
                start.wait();
                // The first name lookup builds the index: racing threads must agree.
                let ids = btf.ids_by_essential_name("task_struct", oxbpf::btf::BtfKind::Struct);
                assert_eq!(ids.len(), 1, "thread {t}");
                assert!(btf.type_size(ids[0]).unwrap() > 1000);
                let out = relocate(
                    obj,
                    RelocateOptions {
                        targets: Some(Targets::kernel(btf.clone())),
                        ..Default::default()
                    },
                )
                .unwrap();
                assert_eq!(out.core, expected.core, "thread {t}");
                for (a, b) in out.programs.iter().zip(&expected.programs) {
                    assert_eq!(a.insns, b.insns, "thread {t}: {}", a.name);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// Maps shared by 8 threads
// ---------------------------------------------------------------------------------------

/// A HASH map under 8 threads: each inserts, reads back, overwrites and removes in its own
/// key range; all race to insert the same shared keys with NOEXIST (exactly one wins each);
/// one more thread iterates the whole time. The final contents are exactly what the
/// threads' own bookkeeping says.
#[test]
fn hash_map_mixed_operations_from_8_threads() {
    require_bpf!();
    const PER_THREAD: u32 = 400;
    const SHARED: u32 = 200;
    let map = MapSpec::new(MapType::HASH)
        .name("conc_hash")
        .key::<u32>()
        .value::<u64>()
        .max_entries(THREADS as u32 * PER_THREAD + SHARED)
        .create()
        .unwrap();
    let hash = HashMap::<u32, u64, &Map>::new(&map).unwrap();
    let wins = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let start = Barrier::new(THREADS + 1);
    let ops = AtomicUsize::new(0);
    let winners: Vec<Vec<u32>> = std::thread::scope(|s| {
        let iterate = s.spawn(|| {
            start.wait();
            let mut passes = 0;
            while !done.load(Ordering::Acquire) {
                // Keys come and go underneath: iteration must neither fail nor repeat
                // forever.
                let n = hash.keys().take(100_000).filter(|k| k.is_ok()).count();
                assert!(n <= (THREADS as u32 * PER_THREAD + SHARED) as usize);
                passes += 1;
            }
            passes
        });
        let workers: Vec<_> = (0..THREADS as u32)
            .map(|t| {
                let (hash, wins, start, ops) = (&hash, &wins, &start, &ops);
                s.spawn(move || {
                    start.wait();
                    let base = 10_000 + t * PER_THREAD;
                    let value = |k: u32, round: u64| (u64::from(k) << 8) | round;
                    let mut mine = Vec::new();
                    for i in 0..PER_THREAD {
                        let k = base + i;
                        hash.insert(&k, &value(k, 1), ElemFlags::NOEXIST).unwrap();
                        assert_eq!(hash.get(&k).unwrap(), Some(value(k, 1)));
                        hash.insert(&k, &value(k, 2), ElemFlags::EXIST).unwrap();
                        // Shared keys: whoever inserts first wins, the others see EEXIST.
                        let shared = (i + t * 7) % SHARED;
                        if hash
                            .insert(&shared, &u64::from(t), ElemFlags::NOEXIST)
                            .is_ok()
                        {
                            wins.fetch_add(1, Ordering::Relaxed);
                            mine.push(shared);
                        }
                        if i % 2 == 1 {
                            assert!(hash.remove(&k).unwrap(), "key {k}");
                            assert_eq!(hash.get(&k).unwrap(), None);
                            assert!(!hash.remove(&k).unwrap());
                        }
                        ops.fetch_add(6, Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        let w = workers.into_iter().map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        assert!(iterate.join().unwrap() > 0);
        w
    });
    assert_eq!(
        wins.load(Ordering::Relaxed),
        SHARED as usize,
        "each shared key won once"
    );
    // The winner's value is in each shared key.
    for (t, keys) in winners.iter().enumerate() {
        for k in keys {
            assert_eq!(hash.get(k).unwrap(), Some(t as u64), "shared key {k}");
        }
    }
    let mut expected = BTreeMap::new();
    for t in 0..THREADS as u32 {
        for i in (0..PER_THREAD).step_by(2) {
            let k = 10_000 + t * PER_THREAD + i;
            expected.insert(k, (u64::from(k) << 8) | 2);
        }
    }
    for (t, keys) in winners.iter().enumerate() {
        for &k in keys {
            expected.insert(k, t as u64);
        }
    }
    let got: BTreeMap<u32, u64> = hash.iter().map(|e| e.unwrap()).collect();
    assert_eq!(got, expected);
    eprintln!(
        "hash: {THREADS} threads, {} operations checked",
        ops.load(Ordering::Relaxed)
    );
}

/// A PERCPU_ARRAY under 8 threads: each owns the indices congruent to it and writes every
/// CPU's slot with a value naming (thread, round, cpu), reading each write back whole.
#[test]
fn percpu_array_from_8_threads() {
    require_bpf!();
    const ENTRIES: u32 = 64;
    const ROUNDS: u64 = 50;
    let map = MapSpec::new(MapType::PERCPU_ARRAY)
        .name("conc_pcpu")
        .key::<u32>()
        .value::<u64>()
        .max_entries(ENTRIES)
        .create()
        .unwrap();
    let arr = PerCpuArray::<u64, &Map>::new(&map).unwrap();
    let ncpus = possible_cpus().unwrap() as usize;
    let start = Barrier::new(THREADS);
    let checked = AtomicUsize::new(0);
    let tag = |t: u64, round: u64, cpu: u32| (t << 48) | (round << 16) | u64::from(cpu);
    std::thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (arr, start, checked) = (&arr, &start, &checked);
            s.spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    for i in (t as u32..ENTRIES).step_by(THREADS) {
                        let v = PerCpuValues::from_fn(|cpu| tag(t, round, cpu)).unwrap();
                        assert_eq!(v.len(), ncpus);
                        arr.set(i, &v, ElemFlags::ANY).unwrap();
                        let back = arr.get(i).unwrap();
                        assert_eq!(back.to_vec(), v.to_vec(), "index {i} round {round}");
                        checked.fetch_add(ncpus, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    for i in 0..ENTRIES {
        let t = u64::from(i) % THREADS as u64;
        let want: Vec<u64> = (0..ncpus as u32).map(|c| tag(t, ROUNDS - 1, c)).collect();
        assert_eq!(arr.get(i).unwrap().to_vec(), want, "index {i}");
    }
    eprintln!(
        "percpu array: {THREADS} threads, {ncpus} CPUs, {} per-CPU values checked",
        checked.load(Ordering::Relaxed)
    );
}

/// An mmap'd ARRAY under 8 threads: each owns one u64 of the value and stores a sequence
/// in it through the mapping while checking, through the `bpf(2)` lookup of the same
/// element, that the kernel sees its latest store (other threads' words may move).
#[test]
fn mmap_array_from_8_threads() {
    require_bpf!();
    const ROUNDS: u64 = 2_000;
    let map = MapSpec::new(MapType::ARRAY)
        .name("conc_mmap")
        .key::<u32>()
        .value_size(8 * THREADS as u32)
        .max_entries(1)
        .flags(MapFlags::MMAPABLE)
        .create()
        .unwrap();
    let mem = MmapArray::new(map).unwrap();
    assert!(mem.is_writable());
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (mem, start) = (&mem, &start);
            s.spawn(move || {
                let view = Array::<[u64; THREADS], &Map>::new(mem.map()).unwrap();
                let var = mem.var::<u64>(8 * t, 8).unwrap();
                start.wait();
                for round in 1..=ROUNDS {
                    let v = ((t as u64) << 32) | round;
                    if round % 2 == 0 {
                        mem.store_u64(8 * t, v).unwrap();
                    } else {
                        var.set(&v).unwrap();
                    }
                    assert_eq!(mem.load_u64(8 * t).unwrap(), v);
                    if round % 16 == 0 {
                        assert_eq!(view.get(0).unwrap()[t], v, "thread {t} round {round}");
                    }
                }
            });
        }
    });
    let view = Array::<[u64; THREADS], &Map>::new(mem.map()).unwrap();
    let want: Vec<u64> = (0..THREADS as u64).map(|t| (t << 32) | ROUNDS).collect();
    assert_eq!(view.get(0).unwrap().to_vec(), want);
}

// ---------------------------------------------------------------------------------------
// A ring buffer filled from every CPU at once
// ---------------------------------------------------------------------------------------

/// The record the program writes: the two raw_tp arguments and the CPU it ran on.
const RECORD: i32 = 24;

/// A raw_tp program: reserve a record, write `ctx[0]` (producer), `ctx[1]` (sequence) and
/// `bpf_get_smp_processor_id()`, submit; returns 1 when the ring is full.
fn ring_writer(ring: &Map) -> Vec<Insn> {
    let fd = ring.map_fd().as_fd().as_raw_fd();
    let mut a = asm::Asm::new();
    a.push(asm::mov64_reg(R6, R1))
        .push(asm::call_helper(8)) // bpf_get_smp_processor_id
        .push(asm::mov64_reg(R7, R0))
        .extend(asm::ld_map_fd(R1, fd))
        .push(asm::mov64_imm(R2, RECORD))
        .push(asm::mov64_imm(R3, 0))
        .push(asm::call_helper(131)) // bpf_ringbuf_reserve
        .jump_imm(jmp::JEQ, R0, 0, "full")
        .push(asm::ldx(size::DW, R1, R6, 0))
        .push(asm::stx(size::DW, R0, R1, 0))
        .push(asm::ldx(size::DW, R1, R6, 8))
        .push(asm::stx(size::DW, R0, R1, 8))
        .push(asm::stx(size::DW, R0, R7, 16))
        .push(asm::mov64_reg(R1, R0))
        .push(asm::mov64_imm(R2, 0))
        .push(asm::call_helper(132)) // bpf_ringbuf_submit
        .push(asm::mov64_imm(R0, 0))
        .push(asm::exit())
        .label("full")
        .push(asm::mov64_imm(R0, 1))
        .push(asm::exit());
    a.finish().unwrap()
}

/// Producers on every online CPU (several per CPU, each pinned there with
/// `BPF_F_TEST_RUN_ON_CPU`) fill a small ring while one consumer drains it: every record
/// arrives exactly once, from the CPU its producer ran on, in each producer's order.
#[test]
fn ring_buffer_filled_from_every_cpu() {
    require_bpf!();
    const PRODUCERS_PER_CPU: usize = 2;
    const PER_PRODUCER: u64 = 3_000;
    let cpus = oxbpf::syscall::online_cpus().unwrap();
    let ring = MapSpec::new(MapType::RINGBUF)
        .name("conc_ring")
        .max_entries(16 * 1024)
        .create()
        .unwrap();
    let insns = ring_writer(&ring);
    let mut log = vec![0u8; 1 << 16];
    let mut load = ProgLoad {
        prog_type: ProgType::RAW_TRACEPOINT,
        insns: &insns,
        license: c"GPL",
        name: "conc_ring",
        log_level: oxbpf::syscall::LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    let prog = match prog_load(&mut load) {
        Ok(p) => p,
        Err(e) => panic!("load: {e}\n{}", String::from_utf8_lossy(&log)),
    };
    let mut reader = RingBuf::new(ring).unwrap();
    let producers: Vec<(u64, u32)> = cpus
        .iter()
        .flat_map(|&c| (0..PRODUCERS_PER_CPU).map(move |_| c))
        .enumerate()
        .map(|(i, c)| (i as u64, c))
        .collect();
    let total = producers.len() as u64 * PER_PRODUCER;
    let full = AtomicUsize::new(0);
    let start = Barrier::new(producers.len() + 1);
    let mut next_seq = vec![0u64; producers.len()];
    let mut seen_cpus = HashSet::new();
    let mut received = 0u64;
    std::thread::scope(|s| {
        for &(id, cpu) in &producers {
            let (prog, full, start) = (&prog, &full, &start);
            s.spawn(move || {
                start.wait();
                for seq in 0..PER_PRODUCER {
                    let mut ctx = [0u8; 16];
                    ctx[..8].copy_from_slice(&id.to_ne_bytes());
                    ctx[8..].copy_from_slice(&seq.to_ne_bytes());
                    loop {
                        let out = prog_test_run(
                            prog.as_fd(),
                            &mut TestRun {
                                ctx_in: &ctx,
                                flags: TestRunFlags::RUN_ON_CPU,
                                cpu,
                                ..Default::default()
                            },
                        )
                        .unwrap();
                        if out.retval == 0 {
                            break;
                        }
                        // The ring is full: the consumer will make room.
                        full.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                }
            });
        }
        start.wait();
        let deadline = Instant::now() + Duration::from_secs(120);
        while received < total {
            assert!(Instant::now() < deadline, "{received} of {total} records");
            let rec = reader.next_timeout(Duration::from_millis(200)).unwrap();
            let Some(rec) = rec else { continue };
            assert_eq!(rec.len(), RECORD as usize);
            let word = |i: usize| u64::from_ne_bytes(rec[8 * i..8 * i + 8].try_into().unwrap());
            let (id, seq, cpu) = (word(0) as usize, word(1), word(2) as u32);
            let (_, want_cpu) = producers[id];
            assert_eq!(cpu, want_cpu, "producer {id} ran on CPU {cpu}");
            assert_eq!(seq, next_seq[id], "producer {id}: lost or reordered");
            next_seq[id] += 1;
            seen_cpus.insert(cpu);
            received += 1;
        }
    });
    reader.commit();
    assert!(
        reader.next().unwrap().is_none(),
        "a record beyond the total"
    );
    assert_eq!(seen_cpus.len(), cpus.len());
    eprintln!(
        "ring buffer: {} producers on {} CPUs, {received} records, {} full-ring retries",
        producers.len(),
        cpus.len(),
        full.load(Ordering::Relaxed)
    );
}
