//! No heap allocation per element call or per record: a counting global allocator (per
//! thread) around the hot paths of the typed views, the ring buffers, the perf buffer and
//! the mmap'ed array.

mod common;
mod maps_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::AsFd;
use std::time::Duration;

use oxbpf::maps::*;
use oxbpf::syscall::{ElemFlags, MapFlags, MapType, ProgType};

use maps_support::*;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts this thread's
// allocations (a const-initialized thread local, which does not allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (r, ALLOCS.with(Cell::get) - before)
}

#[test]
fn element_calls_do_not_allocate() {
    let _serial = common::serial();
    require_bpf!();
    let map = MapSpec::new(MapType::HASH)
        .name("mp_alloc_h")
        .key::<u32>()
        .value::<u64>()
        .max_entries(1024)
        .create()
        .unwrap();
    let hm = HashMap::<u32, u64, _>::new(&map).unwrap();
    let ((), n) = allocations(|| {
        for k in 0..1000u32 {
            hm.insert(&k, &u64::from(k), ElemFlags::ANY).unwrap();
            assert_eq!(hm.get(&k).unwrap(), Some(u64::from(k)));
        }
        assert_eq!(hm.keys().count(), 1000);
        assert_eq!(hm.iter().count(), 1000);
        for k in 0..1000u32 {
            assert!(hm.remove(&k).unwrap());
        }
    });
    assert_eq!(n, 0, "hash insert/get/keys/iter/remove");
    let arr = Array::<u64>::new(
        MapSpec::new(MapType::ARRAY)
            .name("mp_alloc_a")
            .key::<u32>()
            .value::<u64>()
            .max_entries(8)
            .create()
            .unwrap(),
    )
    .unwrap();
    let pca = PerCpuArray::<u32>::new(
        MapSpec::new(MapType::PERCPU_ARRAY)
            .name("mp_alloc_p")
            .key::<u32>()
            .value::<u32>()
            .max_entries(8)
            .create()
            .unwrap(),
    )
    .unwrap();
    let mut values = PerCpuValues::zeroed().unwrap();
    let ((), n) = allocations(|| {
        for i in 0..1000u32 {
            arr.set(i % 8, &7, ElemFlags::ANY).unwrap();
            assert_eq!(arr.get(i % 8).unwrap(), 7);
            pca.get_into(i % 8, &mut values).unwrap();
            pca.set(i % 8, &values, ElemFlags::ANY).unwrap();
        }
    });
    assert_eq!(n, 0, "array and per-CPU array");
}

#[test]
fn ring_buffer_records_do_not_allocate() {
    let _serial = common::serial();
    require_bpf!();
    let mut rb = MapSpec::new(MapType::RINGBUF)
        .name("mp_alloc_rb")
        .max_entries(1 << 20)
        .create()
        .unwrap()
        .into_ring_buf()
        .unwrap();
    let state = producer_state(u64::MAX);
    let prog = load(
        ProgType::SOCKET_FILTER,
        &ring_producer(&rb, &state, 64, Some(5)),
        "mp_alloc_rb",
    );
    run_skb(prog.as_fd(), 10_000);
    let (count, n) = allocations(|| {
        let mut count = 0;
        while let Some(r) = rb.next().unwrap() {
            assert_eq!(r.len(), 64);
            count += 1;
        }
        count
    });
    assert_eq!((count, n), (8000, 0), "RingBuf::next");
    run_skb(prog.as_fd(), 10_000);
    let (count, n) = allocations(|| rb.consume(|r| assert_eq!(r.len(), 64)).unwrap());
    assert_eq!((count, n), (8000, 0), "RingBuf::consume");
    run_skb(prog.as_fd(), 100);
    let (count, n) = allocations(|| rb.poll(Duration::from_secs(1), |_| {}).unwrap());
    assert_eq!((count, n), (80, 0), "RingBuf::poll");

    let page = oxbpf::syscall::page_size() as u32;
    let mut urb = UserRingBuf::new(
        MapSpec::new(MapType::USER_RINGBUF)
            .name("mp_alloc_urb")
            .max_entries(page)
            .create()
            .unwrap(),
    )
    .unwrap();
    let ((), n) = allocations(|| {
        for i in 0..100u64 {
            let Some(mut e) = urb.reserve(8).unwrap() else {
                break;
            };
            e.copy_from_slice(&i.to_ne_bytes());
            e.submit();
        }
    });
    assert_eq!(n, 0, "UserRingBuf::reserve/submit");
}

#[test]
fn mmap_reads_do_not_allocate() {
    let _serial = common::serial();
    require_bpf!();
    let bss = MmapArray::new(
        MapSpec::new(MapType::ARRAY)
            .name("mp_alloc_bss")
            .key::<u32>()
            .value_size(64)
            .max_entries(1)
            .flags(MapFlags::MMAPABLE)
            .create()
            .unwrap(),
    )
    .unwrap();
    let ((), n) = allocations(|| {
        let v = bss.var::<u64>(8, 8).unwrap();
        for i in 0..1000u64 {
            v.set(&i).unwrap();
            assert_eq!(v.get(), i);
            assert_eq!(bss.load_u64(8).unwrap(), i);
            bss.write(16, &[i as u8; 16]).unwrap();
            assert_eq!(bss.read::<[u8; 16]>(16).unwrap(), [i as u8; 16]);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn perf_records_do_not_allocate() {
    let _serial = common::serial();
    require_bpf!();
    use oxbpf::insn::asm::{self, Asm};
    use oxbpf::insn::opcode::{alu, size};
    use oxbpf::insn::reg::*;
    let map = MapSpec::new(MapType::PERF_EVENT_ARRAY)
        .name("mp_alloc_perf")
        .create()
        .unwrap();
    // raw_tp: output 8 zero bytes on the current CPU.
    let mut a = Asm::new();
    a.push(asm::st_imm(size::DW, FP, -8, 0));
    a.extend(asm::ld_map_fd(R2, fd_of(&map)));
    a.push(asm::mov32_imm(R3, -1));
    a.push(asm::mov64_reg(R4, FP));
    a.push(asm::alu64_imm(alu::ADD, R4, -8));
    a.push(asm::mov64_imm(R5, 8));
    a.push(asm::call_helper(helper::PERF_EVENT_OUTPUT));
    a.push(asm::exit());
    let prog = load(
        ProgType::RAW_TRACEPOINT,
        &a.finish().unwrap(),
        "mp_alloc_perf",
    );
    let mut pb = PerfBuffer::new(map, PerfBufferOptions::default()).unwrap();
    let emit = |n| {
        for _ in 0..n {
            assert_eq!(run_raw_tp(prog.as_fd(), Some(0)).unwrap(), 0);
        }
    };
    // Warm up: the first records may wrap and size the scratch buffer once.
    emit(1000);
    pb.consume(|_, _| {}).unwrap();
    emit(500);
    let (count, n) = allocations(|| pb.consume(|_, _| {}).unwrap());
    assert_eq!((count, n), (500, 0));
}
