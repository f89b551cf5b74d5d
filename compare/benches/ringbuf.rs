//! Ring-buffer drain: a ring pre-filled in the kernel with 64-byte or 1024-byte records,
//! drained by a minimal hand-written consumer of the ring protocol (the limit), oxbpf
//! `RingBuf::consume`, libbpf-rs `RingBuffer::consume` and aya `RingBuf::next`; records per
//! second, allocations per record. Needs root.
//!
//! Each reader has its own ring: `tests/fixtures/compare/ringbuf.clang19.o` loaded by libbpf
//! once per reader (oxbpf's and aya's readers wrap the ring map's fd). Before each drain (not
//! timed), its `fill_ring` program runs with `BPF_PROG_TEST_RUN` and writes N records
//! (`bpf_ringbuf_output`, no wakeup); the drain then consumes all N, the callback summing
//! each record's first 8 bytes (checked once per reader against the expected sum).
//!
//! The hand-written consumer, libbpf and aya release each record as they go (store
//! `consumer_pos` per record). oxbpf's reader publishes its position in batches (every
//! eighth of the ring by default, and whenever it finds the ring empty); a second oxbpf
//! reader with `set_commit_interval(0)` publishes per record like the others, as an extra,
//! untargeted row. `consume` is oxbpf's fastest documented drain (the positions stay in
//! registers for the whole drain; `next` goes through memory per record).

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use compare::bench::{ratio, rounds, Paired};
use compare::heap::{allocations, Counting};
use compare::summary::{Table, Target};
use criterion::{BatchSize, Throughput};
use libbpf_rs::{MapCore, Object, ObjectBuilder, RingBufferBuilder};
use oxbpf::maps::{Map, RingBuf};
use oxbpf::syscall::{self as ox, TestRun};

#[global_allocator]
static GLOBAL: Counting = Counting;

const RING_BYTES: usize = 4 << 20;
const SIZES: [(u32, u32); 2] = [(64, 16384), (1024, 2048)];

fn load() -> Object {
    let path = compare::repo_root().join("tests/fixtures/compare/ringbuf.clang19.o");
    ObjectBuilder::default()
        .open_file(path)
        .and_then(|o| o.load())
        .expect("libbpf loads ringbuf.clang19.o")
}

fn fill(obj: &Object, size: u32, count: u32) {
    let prog = obj
        .progs()
        .find(|p| p.name() == "fill_ring")
        .expect("fill_ring");
    let mut args = [0u8; 8];
    args[..4].copy_from_slice(&size.to_ne_bytes());
    args[4..].copy_from_slice(&count.to_ne_bytes());
    ox::prog_test_run(
        prog.as_fd(),
        &mut TestRun {
            ctx_in: &args,
            ..Default::default()
        },
    )
    .expect("fill_ring runs");
}

/// A duplicate of the object's ring map fd.
fn ring_fd(obj: &Object) -> OwnedFd {
    obj.maps()
        .find(|m| m.name() == "ring")
        .expect("ring")
        .as_fd()
        .try_clone_to_owned()
        .expect("dup ring fd")
}

/// oxbpf's reader over the object's ring, publishing its position every `commit` bytes
/// (`None`: oxbpf's default).
fn ox_ring(obj: &Object, commit: Option<usize>) -> RingBuf {
    let map = Map::from_fd(ring_fd(obj)).expect("oxbpf wraps the ring fd");
    let mut ring = RingBuf::new(map).expect("oxbpf maps the ring");
    if let Some(bytes) = commit {
        ring.set_commit_interval(bytes);
    }
    ring
}

/// Drains `ring` with `RingBuf::consume`; the sum of the records' first 8 bytes.
fn ox_drain(ring: &mut RingBuf) -> u64 {
    let mut sum = 0u64;
    ring.consume(|data| sum = sum.wrapping_add(first_u64(data)))
        .expect("oxbpf drains the ring");
    sum
}

/// The minimal consumer: the ring's pages mmapped, the protocol walked with atomics.
struct HandRing {
    consumer: *mut u8,
    producer: *mut u8,
    mask: u64,
    page: usize,
}

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HDR: u64 = 8;

impl HandRing {
    fn new(fd: BorrowedFd<'_>) -> HandRing {
        let page = oxbpf::syscall::page_size();
        // SAFETY: maps the ring's consumer page (rw) and producer page + data twice (ro),
        // the layout the kernel gives ring buffer maps; unmapped never (process lifetime).
        let (consumer, producer) = unsafe {
            let c = libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            );
            let p = libc::mmap(
                std::ptr::null_mut(),
                page + 2 * RING_BYTES,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                page as libc::off_t,
            );
            assert!(c != libc::MAP_FAILED && p != libc::MAP_FAILED, "mmap ring");
            (c.cast::<u8>(), p.cast::<u8>())
        };
        HandRing {
            consumer,
            producer,
            mask: RING_BYTES as u64 - 1,
            page,
        }
    }

    /// Consumes every committed record; returns the sum of their first 8 bytes.
    fn drain(&self) -> u64 {
        // SAFETY: the positions are u64 at the start of their (page-aligned) pages; the
        // records lie in the double-mapped data area, so a record never wraps.
        unsafe {
            let cons_pos = &*self.consumer.cast::<AtomicU64>();
            let prod_pos = &*self.producer.cast::<AtomicU64>();
            let data = self.producer.add(self.page);
            let mut cons = cons_pos.load(Ordering::Acquire);
            let mut sum = 0u64;
            loop {
                let prod = prod_pos.load(Ordering::Acquire);
                if cons >= prod {
                    return sum;
                }
                while cons < prod {
                    let rec = data.add((cons & self.mask) as usize);
                    let hdr = (*rec.cast::<AtomicU32>()).load(Ordering::Acquire);
                    if hdr & BUSY != 0 {
                        return sum;
                    }
                    let len = u64::from(hdr & !(BUSY | DISCARD));
                    if hdr & DISCARD == 0 {
                        sum =
                            sum.wrapping_add(rec.add(HDR as usize).cast::<u64>().read_unaligned());
                    }
                    cons += (len + HDR + 7) & !7;
                    cons_pos.store(cons, Ordering::Release);
                }
            }
        }
    }
}

fn first_u64(data: &[u8]) -> u64 {
    data.get(..8)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
}

fn main() {
    if let Err(why) = compare::bpf_privileges() {
        eprintln!("SKIPPED ringbuf: {why}");
        return;
    }
    libbpf_rs::set_print(None);
    let (hand_obj, lb_obj, aya_obj) = (load(), load(), load());
    let (ox_obj, ox1_obj) = (load(), load());
    let hand = HandRing::new(ring_fd(&hand_obj).as_fd());
    let mut ox_rb = ox_ring(&ox_obj, None);
    let mut ox1_rb = ox_ring(&ox1_obj, Some(0));
    let lb_sum = Cell::new(0u64);
    let lb_map = lb_obj.maps().find(|m| m.name() == "ring").expect("ring");
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&lb_map, |data: &[u8]| {
            lb_sum.set(lb_sum.get().wrapping_add(first_u64(data)));
            0
        })
        .unwrap();
    let lb_ring = builder.build().unwrap();
    let aya_data = aya::maps::MapData::from_fd(ring_fd(&aya_obj)).expect("aya wraps the ring");
    let mut aya_ring =
        aya::maps::RingBuf::try_from(aya::maps::Map::RingBuf(aya_data)).expect("aya ring buffer");

    let mut hand_drain = || hand.drain();
    let mut ox_drain_default = || ox_drain(&mut ox_rb);
    let mut ox_drain_each = || ox_drain(&mut ox1_rb);
    let mut lb_drain = || {
        lb_sum.set(0);
        lb_ring.consume().unwrap();
        lb_sum.get()
    };
    let mut aya_drain = || {
        let mut sum = 0u64;
        while let Some(item) = aya_ring.next() {
            sum = sum.wrapping_add(first_u64(&item));
        }
        sum
    };

    let mut table = Table::new("ringbuf");
    let mut c = compare::bench::criterion();
    for (size, count) in SIZES {
        let expected = u64::from(count) * u64::from(count - 1) / 2;
        // Correctness and allocations per record, once per reader.
        let mut allocs = Vec::new();
        for (name, obj, drain) in [
            (
                "hand-written",
                &hand_obj,
                &mut hand_drain as &mut dyn FnMut() -> u64,
            ),
            ("oxbpf", &ox_obj, &mut ox_drain_default),
            ("oxbpf-commit-each", &ox1_obj, &mut ox_drain_each),
            ("libbpf-rs", &lb_obj, &mut lb_drain),
            ("aya", &aya_obj, &mut aya_drain),
        ] {
            fill(obj, size, count);
            let before = allocations();
            let sum = drain();
            let n = allocations() - before;
            assert_eq!(sum, expected, "{name} drained every {size} B record");
            allocs.push((name, n as f64 / f64::from(count)));
        }

        let timed = |obj: &Object, drain: &mut dyn FnMut() -> u64| -> Duration {
            fill(obj, size, count);
            let t = Instant::now();
            std::hint::black_box(drain());
            t.elapsed()
        };
        let m = Paired::new()
            .side_timed("hand-written", || timed(&hand_obj, &mut hand_drain))
            .side_timed("oxbpf", || timed(&ox_obj, &mut ox_drain_default))
            .side_timed("oxbpf-commit-each", || timed(&ox1_obj, &mut ox_drain_each))
            .side_timed("libbpf-rs", || timed(&lb_obj, &mut lb_drain))
            .side_timed("aya", || timed(&aya_obj, &mut aya_drain))
            .run(rounds(50));

        let group = format!("ringbuf_drain_{size}B");
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(u64::from(count)));
        g.bench_function("hand-written", |b| {
            b.iter_batched(
                || fill(&hand_obj, size, count),
                |()| hand_drain(),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("oxbpf", |b| {
            b.iter_batched(
                || fill(&ox_obj, size, count),
                |()| ox_drain_default(),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("libbpf-rs", |b| {
            b.iter_batched(
                || fill(&lb_obj, size, count),
                |()| lb_drain(),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("aya", |b| {
            b.iter_batched(
                || fill(&aya_obj, size, count),
                |()| aya_drain(),
                BatchSize::PerIteration,
            )
        });
        g.finish();

        let per_rec = |id| m.get(id).map(|t| t / f64::from(count));
        eprintln!(
            "ring buffer {size} B: ns/record hand-written {:.1}, oxbpf {:.1}, \
             oxbpf (commit each) {:.1}, libbpf-rs {:.1}, aya {:.1}; allocations/record {allocs:?}",
            per_rec("hand-written").unwrap_or(f64::NAN),
            per_rec("oxbpf").unwrap_or(f64::NAN),
            per_rec("oxbpf-commit-each").unwrap_or(f64::NAN),
            per_rec("libbpf-rs").unwrap_or(f64::NAN),
            per_rec("aya").unwrap_or(f64::NAN),
        );
        // Rates: a reader's events/s over another's is the inverse of their time ratio.
        table.ratio(
            &format!(
                "ring buffer drain, {size} B records, events/s: oxbpf / hand-written consumer"
            ),
            ratio(m.get("hand-written"), m.get("oxbpf")),
            Some(Target::AtLeast(0.95)),
            &format!(
                "oxbpf `RingBuf::consume`, consumer position published every {} KiB \
                 (its default); {count} records per drain; paired rounds",
                RING_BYTES / 8 / 1024
            ),
        );
        table.ratio(
            &format!("ring buffer drain, {size} B records, events/s: oxbpf / libbpf-rs"),
            ratio(m.get("libbpf-rs"), m.get("oxbpf")),
            Some(Target::AtLeast(1.0)),
            "`RingBuf::consume` vs `RingBuffer::consume`",
        );
        table.ratio(
            &format!(
                "ring buffer drain, {size} B records, events/s: oxbpf, position published \
                 per record / hand-written"
            ),
            ratio(m.get("hand-written"), m.get("oxbpf-commit-each")),
            None,
            "`set_commit_interval(0)`: releases each record as the other readers do",
        );
        table.ratio(
            &format!("ring buffer drain, {size} B records, events/s: libbpf-rs / hand-written"),
            ratio(m.get("hand-written"), m.get("libbpf-rs")),
            None,
            "",
        );
        table.ratio(
            &format!("ring buffer drain, {size} B records, events/s: aya / hand-written"),
            ratio(m.get("hand-written"), m.get("aya")),
            None,
            "",
        );
        table.value(
            &format!("ring buffer drain, {size} B records: allocations per record"),
            &allocs
                .iter()
                .map(|(n, a)| format!("{n} {a:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            "oxbpf: 0",
            allocs
                .iter()
                .find(|(n, _)| *n == "oxbpf")
                .map(|(_, a)| *a == 0.0),
            "counting allocator (Rust allocations only)",
        );
    }
    table.print_and_save();
    c.final_summary();
}
