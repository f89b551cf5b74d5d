//! Map throughput, each oxbpf path measured in the same run as its baseline:
//!
//! - ring buffer drain of a pre-filled ring (records produced in the kernel beforehand by a
//!   program run with PROG_TEST_RUN; only the drain is timed; each record's first 8 bytes
//!   are read), 64- and 1024-byte records: `RingBuf::next`, `RingBuf::consume`, and a
//!   minimal hand-written consumer of the protocol (libbpf's loop: a release store of the
//!   consumer position per record, no validation);
//! - element lookup/update of a HASH map: the typed view vs a bare `bpf(2)` loop;
//! - reading 10k HASH entries: one batch lookup vs per-element (`next_key` + lookup).
//!
//! Needs root (skips otherwise). Run: `cargo bench --bench maps`.

#[path = "../tests/maps_support/mod.rs"]
mod maps_support;

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oxbpf::maps::{BatchCursor, HashMap, MapSpec, RingBuf};
use oxbpf::syscall::{
    map_mmap, page_size, ElemFlags, MapElemAttr, MapType, MmapRegion, ProgType, Protection,
};

use maps_support::*;

const RING: u32 = 1 << 20;

fn privileged() -> bool {
    let ok = MapSpec::new(MapType::ARRAY)
        .key_size(4)
        .value_size(4)
        .max_entries(1)
        .create()
        .is_ok();
    if !ok {
        eprintln!("SKIPPED maps benches: creating a map failed (needs root or CAP_BPF)");
    }
    ok
}

/// A ring map with a producer program that outputs `record`-byte records, one per run.
struct Filled {
    map: oxbpf::maps::Map,
    prog: OwnedFd,
    state: OwnedFd,
    per_fill: u32,
}

impl Filled {
    fn new(name: &str, record: u32) -> Filled {
        let map = MapSpec::new(MapType::RINGBUF)
            .name(name)
            .max_entries(RING)
            .create()
            .unwrap();
        let state = producer_state(u64::MAX);
        let prog = load(
            ProgType::SOCKET_FILTER,
            &ring_producer(&map, &state, record as i32, None),
            "bench_rb_prod",
        );
        let per_fill = RING / (record + 8) - 1;
        Filled {
            map,
            prog,
            state,
            per_fill,
        }
    }

    /// Fills the ring (the consumer must have drained it).
    fn fill(&self) {
        let before = read_state(&self.state)[1];
        run_skb(self.prog.as_fd(), self.per_fill);
        assert_eq!(
            read_state(&self.state)[1],
            before,
            "ring overflowed: not drained?"
        );
    }
}

/// The minimal consumer: libbpf's `ringbuf_process_ring` loop, no validation.
struct Minimal {
    _c: MmapRegion,
    _p: MmapRegion,
    cons: *const AtomicU64,
    prod: *const AtomicU64,
    data: *const u8,
    mask: u64,
}

impl Minimal {
    fn new(map: &oxbpf::maps::Map) -> Minimal {
        let page = page_size();
        let size = map.max_entries() as usize;
        let c = map_mmap(map.as_fd(), page, 0, Protection::ReadWrite).unwrap();
        let p = map_mmap(
            map.as_fd(),
            page + 2 * size,
            page as u64,
            Protection::ReadOnly,
        )
        .unwrap();
        let (cons, prod) = (
            c.as_ptr() as *const AtomicU64,
            p.as_ptr() as *const AtomicU64,
        );
        // SAFETY: the producer mapping is `page + 2 * size` bytes long.
        let data = unsafe { p.as_ptr().add(page) } as *const u8;
        Minimal {
            _c: c,
            _p: p,
            cons,
            prod,
            data,
            mask: size as u64 - 1,
        }
    }

    #[inline(never)]
    fn drain(&self) -> (u64, u64) {
        let (mut n, mut sum) = (0u64, 0u64);
        // SAFETY: the positions and records live in the mappings held by `self`; offsets are
        // masked into the ring, records are contiguous thanks to the double mapping, and the
        // kernel publishes headers with release stores.
        unsafe {
            let mut cons = (*self.cons).load(Ordering::Acquire);
            loop {
                let mut progress = false;
                let prod = (*self.prod).load(Ordering::Acquire);
                while cons < prod {
                    let rec = self.data.add((cons & self.mask) as usize);
                    let len = (*(rec as *const AtomicU32)).load(Ordering::Acquire);
                    if len & (1 << 31) != 0 {
                        return (n, sum);
                    }
                    cons += (u64::from(len & !(3 << 30)) + 8 + 7) & !7;
                    if len & (1 << 30) == 0 {
                        sum = sum.wrapping_add(std::ptr::read_unaligned(rec.add(8) as *const u64));
                        n += 1;
                    }
                    (*self.cons).store(cons, Ordering::Release);
                    progress = true;
                }
                if !progress {
                    return (n, sum);
                }
            }
        }
    }
}

/// `RingBuf::next` drained to the end, summing first words (the ratio runs' consumer).
#[inline(never)]
fn drain_next(rb: &mut RingBuf) -> u64 {
    let mut sum = 0u64;
    while let Some(r) = rb.next().unwrap() {
        sum = sum.wrapping_add(first8(r));
    }
    sum
}

fn first8(r: &[u8]) -> u64 {
    match r.first_chunk::<8>() {
        Some(b) => u64::from_ne_bytes(*b),
        None => 0,
    }
}

fn ringbuf(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    let mut g = c.benchmark_group("ringbuf_drain");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for record in [64u32, 1024] {
        let ours = Filled::new("bench_rb_ours", record);
        let mut rb = RingBuf::new(ours.map.try_clone().unwrap()).unwrap();
        let theirs = Filled::new("bench_rb_min", record);
        let minimal = Minimal::new(&theirs.map);
        g.throughput(Throughput::Elements(u64::from(ours.per_fill)));
        let n = u64::from(ours.per_fill);
        g.bench_function(BenchmarkId::new("oxbpf_next", record), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ours.fill();
                    let t = Instant::now();
                    let (mut count, mut sum) = (0u64, 0u64);
                    while let Some(r) = rb.next().unwrap() {
                        sum = sum.wrapping_add(first8(r));
                        count += 1;
                    }
                    total += t.elapsed();
                    black_box(sum);
                    assert_eq!(count, n);
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("oxbpf_consume", record), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ours.fill();
                    let t = Instant::now();
                    let mut sum = 0u64;
                    let count = rb.consume(|r| sum = sum.wrapping_add(first8(r))).unwrap();
                    total += t.elapsed();
                    black_box(sum);
                    assert_eq!(count as u64, n);
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("minimal", record), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    theirs.fill();
                    let t = Instant::now();
                    let (count, sum) = minimal.drain();
                    total += t.elapsed();
                    black_box(sum);
                    assert_eq!(count, n);
                }
                total
            })
        });
    }
    g.finish();
}

/// `bpf(cmd, attr)` with no wrapper at all.
fn raw_bpf(cmd: u32, attr: &mut MapElemAttr) -> i64 {
    // SAFETY: `attr` holds valid pointers to key/value buffers of the map's sizes, set up by
    // the caller, alive for the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut MapElemAttr,
            std::mem::size_of::<MapElemAttr>() as libc::c_ulong,
        )
    }
}

fn elements(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    let map = MapSpec::new(MapType::HASH)
        .name("bench_elem")
        .key::<u32>()
        .value::<u64>()
        .max_entries(1024)
        .create()
        .unwrap();
    let hm = HashMap::<u32, u64, _>::new(&map).unwrap();
    for k in 0..1024u32 {
        hm.insert(&k, &u64::from(k), ElemFlags::ANY).unwrap();
    }
    let fd = map.as_fd().as_raw_fd() as u32;
    let mut g = c.benchmark_group("hash_element");
    g.sample_size(30).measurement_time(Duration::from_secs(2));
    g.bench_function("oxbpf_get", |b| {
        let mut k = 0u32;
        b.iter(|| {
            k = (k + 1) & 1023;
            black_box(hm.get(black_box(&k)).unwrap())
        })
    });
    g.bench_function("raw_lookup", |b| {
        let mut k = 0u32;
        let mut v = 0u64;
        b.iter(|| {
            k = (k + 1) & 1023;
            let mut attr = MapElemAttr {
                map_fd: fd,
                key: &k as *const u32 as u64,
                value: &mut v as *mut u64 as u64,
                ..Default::default()
            };
            assert_eq!(raw_bpf(1, black_box(&mut attr)), 0);
            black_box(v)
        })
    });
    g.bench_function("oxbpf_insert", |b| {
        let mut k = 0u32;
        b.iter(|| {
            k = (k + 1) & 1023;
            hm.insert(black_box(&k), &7, ElemFlags::ANY).unwrap()
        })
    });
    g.bench_function("raw_update", |b| {
        let mut k = 0u32;
        let v = 7u64;
        b.iter(|| {
            k = (k + 1) & 1023;
            let mut attr = MapElemAttr {
                map_fd: fd,
                key: &k as *const u32 as u64,
                value: &v as *const u64 as u64,
                ..Default::default()
            };
            assert_eq!(raw_bpf(2, black_box(&mut attr)), 0);
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    const N: u32 = 10_000;
    let map = MapSpec::new(MapType::HASH)
        .name("bench_batch")
        .key::<u32>()
        .value::<u64>()
        .max_entries(N)
        .create()
        .unwrap();
    let hm = HashMap::<u32, u64, _>::new(&map).unwrap();
    let keys: Vec<u32> = (0..N).collect();
    let values: Vec<u64> = keys.iter().map(|&k| u64::from(k)).collect();
    hm.insert_batch(&keys, &values, ElemFlags::ANY).unwrap();
    let mut g = c.benchmark_group("hash_10k_entries");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(u64::from(N)));
    let (mut kb, mut vb) = (vec![0u32; N as usize], vec![0u64; N as usize]);
    g.bench_function("batch_lookup", |b| {
        b.iter(|| {
            let mut cursor = BatchCursor::new();
            let mut n = 0;
            while !cursor.is_done() {
                n += hm
                    .get_batch(&mut cursor, &mut kb[n..], &mut vb[n..])
                    .unwrap();
            }
            assert_eq!(n, N as usize);
        })
    });
    g.bench_function("per_element_iter", |b| {
        b.iter(|| assert_eq!(hm.iter().count(), N as usize))
    });
    g.bench_function("per_element_known_keys", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(hm.get(k).unwrap());
            }
        })
    });
    g.finish();
}

/// Median and minimum of `samples`.
fn stats(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[0])
}

/// Runs `variants` interleaved, `rounds` times, each timed by the closure itself (returning
/// nanoseconds per item); prints per variant the median and best time and its throughput
/// relative to the last variant (the baseline): the ratio of the medians, of the bests, and
/// the median of the per-round ratios (neighbours in time see the same load on this shared
/// machine, so that last one is the steadiest).
fn paired(title: &str, rounds: usize, variants: &mut [(&str, &mut dyn FnMut() -> f64)]) {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    let n = variants.len();
    for round in 0..rounds {
        // Rotate the order so that no variant always runs first (after another's work).
        for k in 0..n {
            let i = (round + k) % n;
            let v = (variants[i].1)();
            samples[i].push(v);
        }
    }
    let base = samples.len() - 1;
    let mut round_ratios: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| s.iter().zip(&samples[base]).map(|(v, b)| b / v).collect())
        .collect();
    let results: Vec<(f64, f64)> = samples.iter_mut().map(|s| stats(s)).collect();
    let (base_med, base_min) = results[base];
    for (i, ((name, _), (med, min))) in variants.iter().zip(&results).enumerate() {
        let (ratio_med, _) = stats(&mut round_ratios[i]);
        eprintln!(
            "PAIRED {title} {name}: median {med:.2} ns, best {min:.2} ns; throughput vs baseline: \
             {:.3}x (medians), {:.3}x (bests), {ratio_med:.3}x (median of per-round ratios)",
            base_med / med,
            base_min / min
        );
    }
}

/// The interleaved comparisons whose ratios the issue asks for.
fn ratios(_c: &mut Criterion) {
    if !privileged() || std::env::var_os("OXBPF_BENCH_NO_PAIRED").is_some() {
        return;
    }
    for record in [64u32, 1024] {
        let ours = Filled::new("bench_rb_ours", record);
        let mut rb = RingBuf::new(ours.map.try_clone().unwrap()).unwrap();
        let theirs = Filled::new("bench_rb_min", record);
        let minimal = Minimal::new(&theirs.map);
        let n = f64::from(ours.per_fill);
        let mut next = || {
            ours.fill();
            let t = Instant::now();
            let sum = drain_next(&mut rb);
            let ns = t.elapsed().as_nanos() as f64 / n;
            black_box(sum);
            ns
        };
        let ours2 = Filled::new("bench_rb_ours2", record);
        let mut rb2 = RingBuf::new(ours2.map.try_clone().unwrap()).unwrap();
        let mut consume = || {
            ours2.fill();
            let t = Instant::now();
            let mut sum = 0u64;
            rb2.consume(|r| sum = sum.wrapping_add(first8(r))).unwrap();
            let ns = t.elapsed().as_nanos() as f64 / n;
            black_box(sum);
            ns
        };
        let mut min = || {
            theirs.fill();
            let t = Instant::now();
            let (_, sum) = minimal.drain();
            let ns = t.elapsed().as_nanos() as f64 / n;
            black_box(sum);
            ns
        };
        paired(
            &format!("ringbuf_drain/{record}B per record"),
            150,
            &mut [
                ("oxbpf_next", &mut next),
                ("oxbpf_consume", &mut consume),
                ("minimal", &mut min),
            ],
        );
    }

    let map = MapSpec::new(MapType::HASH)
        .name("bench_pair")
        .key::<u32>()
        .value::<u64>()
        .max_entries(1024)
        .create()
        .unwrap();
    let hm = HashMap::<u32, u64, _>::new(&map).unwrap();
    for k in 0..1024u32 {
        hm.insert(&k, &u64::from(k), ElemFlags::ANY).unwrap();
    }
    let fd = map.as_fd().as_raw_fd() as u32;
    const CALLS: u32 = 2000;
    let per_call = |t: Instant| t.elapsed().as_nanos() as f64 / f64::from(CALLS);
    let mut get = || {
        let t = Instant::now();
        for k in 0..CALLS {
            black_box(hm.get(&(k & 1023)).unwrap());
        }
        per_call(t)
    };
    let mut raw_get = || {
        let t = Instant::now();
        let mut v = 0u64;
        for k in 0..CALLS {
            let k = k & 1023;
            let mut attr = MapElemAttr {
                map_fd: fd,
                key: &k as *const u32 as u64,
                value: &mut v as *mut u64 as u64,
                ..Default::default()
            };
            assert_eq!(raw_bpf(1, &mut attr), 0);
            black_box(v);
        }
        per_call(t)
    };
    paired(
        "hash lookup per call",
        100,
        &mut [("oxbpf_get", &mut get), ("raw_bpf", &mut raw_get)],
    );
    let mut insert = || {
        let t = Instant::now();
        for k in 0..CALLS {
            hm.insert(&(k & 1023), &7, ElemFlags::ANY).unwrap();
        }
        per_call(t)
    };
    let mut raw_update = || {
        let t = Instant::now();
        let v = 7u64;
        for k in 0..CALLS {
            let k = k & 1023;
            let mut attr = MapElemAttr {
                map_fd: fd,
                key: &k as *const u32 as u64,
                value: &v as *const u64 as u64,
                ..Default::default()
            };
            assert_eq!(raw_bpf(2, &mut attr), 0);
        }
        per_call(t)
    };
    paired(
        "hash update per call",
        100,
        &mut [("oxbpf_insert", &mut insert), ("raw_bpf", &mut raw_update)],
    );

    const N: u32 = 10_000;
    let map = MapSpec::new(MapType::HASH)
        .name("bench_pair_b")
        .key::<u32>()
        .value::<u64>()
        .max_entries(N)
        .create()
        .unwrap();
    let hm = HashMap::<u32, u64, _>::new(&map).unwrap();
    let keys: Vec<u32> = (0..N).collect();
    let values: Vec<u64> = keys.iter().map(|&k| u64::from(k)).collect();
    hm.insert_batch(&keys, &values, ElemFlags::ANY).unwrap();
    let (mut kb, mut vb) = (vec![0u32; N as usize], vec![0u64; N as usize]);
    let per_entry = |t: Instant| t.elapsed().as_nanos() as f64 / f64::from(N);
    let mut batch = || {
        let t = Instant::now();
        let mut cursor = BatchCursor::new();
        let mut n = 0;
        while !cursor.is_done() {
            n += hm
                .get_batch(&mut cursor, &mut kb[n..], &mut vb[n..])
                .unwrap();
        }
        assert_eq!(n, N as usize);
        per_entry(t)
    };
    let mut iter = || {
        let t = Instant::now();
        assert_eq!(hm.iter().count(), N as usize);
        per_entry(t)
    };
    let mut known = || {
        let t = Instant::now();
        for k in &keys {
            black_box(hm.get(k).unwrap());
        }
        per_entry(t)
    };
    paired(
        "hash 10k entries per entry (baseline: lookups of known keys)",
        15,
        &mut [
            ("batch_lookup", &mut batch),
            ("next_key+lookup", &mut iter),
            ("lookup_known_keys", &mut known),
        ],
    );
}

criterion_group!(benches, ratios, ringbuf, elements, batch);
criterion_main!(benches);
