//! Shared-memory maps against the kernel: ring buffers fed by BPF programs (a million events
//! in order, discards, draining while the producer runs, several rings on one poller), the
//! user ring buffer drained by a program, and a program's counter read through mmap with no
//! syscall.

mod common;
mod maps_support;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxbpf::insn::asm::{self, Asm};
use oxbpf::insn::opcode::{alu, jmp, pseudo, size};
use oxbpf::insn::reg::*;
use oxbpf::maps::*;
use oxbpf::syscall::testing::capture;
use oxbpf::syscall::{ElemFlags, MapFlags, MapType, ProgType, Protection};

use maps_support::*;

fn ring(name: &str, size: u32) -> RingBuf {
    MapSpec::new(MapType::RINGBUF)
        .name(name)
        .max_entries(size)
        .create()
        .unwrap()
        .into_ring_buf()
        .unwrap()
}

fn seq(record: &[u8]) -> u64 {
    u64::from_ne_bytes(record[..8].try_into().unwrap())
}

/// Runs `prog` `repeat` times per call on a thread until the producer reached `limit` (read
/// through `state`); returns the thread.
fn produce_until(
    prog: std::os::fd::OwnedFd,
    state: std::os::fd::OwnedFd,
    repeat: u32,
    limit: u64,
) -> std::thread::JoinHandle<[u64; 3]> {
    std::thread::spawn(move || loop {
        run_skb(prog.as_fd(), repeat);
        let s = read_state(&state);
        if s[0] >= limit {
            return s;
        }
        std::thread::yield_now();
    })
}

#[test]
fn a_million_events_none_lost_in_order() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        const N: u64 = 1_000_000;
        // 32 MiB holds all 16-byte records: the producer never has to wait, so any loss
        // would be the reader's.
        let mut rb = ring("mp_rb_million", 32 << 20);
        let state = producer_state(N);
        let prog = load(
            ProgType::SOCKET_FILTER,
            &ring_producer(&rb, &state, 8, None),
            "mp_rb_prod",
        );
        let producing = Arc::new(AtomicBool::new(true));
        let flag = producing.clone();
        let st = state.try_clone().unwrap();
        let producer = std::thread::spawn(move || {
            // One PROG_TEST_RUN of a million runs, one record each.
            let n = run_skb(prog.as_fd(), N as u32);
            flag.store(false, Ordering::SeqCst);
            (n, read_state(&st))
        });
        let mut expected = 0u64;
        let mut while_producing = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while expected < N {
            assert!(Instant::now() < deadline, "stalled at {expected}");
            if let Some(r) = rb.next_timeout(Duration::from_secs(5)).unwrap() {
                assert_eq!(r.len(), 8);
                assert_eq!(seq(r), expected, "in order, none missing");
                expected += 1;
                if producing.load(Ordering::Relaxed) {
                    while_producing += 1;
                }
            }
        }
        let (_, s) = producer.join().unwrap();
        assert_eq!(s[0], N, "the program produced every event");
        assert_eq!(s[1], 0, "no reserve failed");
        assert_eq!(
            rb.next_timeout(Duration::from_millis(20)).unwrap(),
            None,
            "nothing more"
        );
        eprintln!("{while_producing} of {N} events read while the producer ran");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn reader_drains_a_small_ring_while_the_producer_runs() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        // 64 KiB hold 4096 records: 200k events need the reader to drain all along (a full
        // ring makes the program retry later, counted in failures; events are never skipped).
        const N: u64 = 200_000;
        let mut rb = ring("mp_rb_small", 64 << 10);
        let state = producer_state(N);
        let prog = load(
            ProgType::SOCKET_FILTER,
            &ring_producer(&rb, &state, 8, None),
            "mp_rb_prod_s",
        );
        let producer = produce_until(prog, state, 10_000, N);
        let mut expected = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while expected < N {
            assert!(Instant::now() < deadline, "stalled at {expected}");
            rb.poll(Duration::from_secs(5), |r| {
                assert_eq!(seq(r), expected);
                expected += 1;
            })
            .unwrap();
        }
        let s = producer.join().unwrap();
        assert_eq!(s[0], N);
        eprintln!("producer found the ring full {} times", s[1]);
        const { assert!(N > (64 << 10) / 16, "more events than the ring holds") };
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn discarded_records_are_skipped() {
    let _serial = common::serial();
    require_bpf!();
    let mut rb = ring("mp_rb_discard", 1 << 20);
    let state = producer_state(3000);
    let prog = load(
        ProgType::SOCKET_FILTER,
        &ring_producer(&rb, &state, 64, Some(3)),
        "mp_rb_disc",
    );
    run_skb(prog.as_fd(), 3000);
    assert_eq!(read_state(&state)[0], 3000);
    assert_eq!(
        rb.pending(),
        3000 * 72,
        "discarded records still take ring space"
    );
    let mut got = Vec::new();
    rb.consume(|r| {
        assert_eq!(r.len(), 64);
        got.push(seq(r));
    })
    .unwrap();
    let want: Vec<u64> = (0..3000).filter(|s| s % 3 != 0).collect();
    assert_eq!(got, want);
    assert_eq!(rb.pending(), 0);
}

#[test]
fn one_poller_over_several_rings() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let mut poller = RingBufPoller::new().unwrap();
        let mut producers = Vec::new();
        for (i, name) in ["mp_rb_poll_a", "mp_rb_poll_b", "mp_rb_poll_c"]
            .iter()
            .enumerate()
        {
            let rb = ring(name, 1 << 16);
            let state = producer_state(1000 * (i as u64 + 1));
            let prog = load(
                ProgType::SOCKET_FILTER,
                &ring_producer(&rb, &state, 16, None),
                "mp_rb_poll",
            );
            assert_eq!(poller.add(rb).unwrap(), i);
            producers.push((prog, state));
        }
        // Nothing yet: a short poll times out.
        let t = Instant::now();
        assert_eq!(
            poller
                .poll(Duration::from_millis(50), |_, _| unreachable!())
                .unwrap(),
            0
        );
        assert!(t.elapsed() >= Duration::from_millis(45));
        // Produce into the rings from another thread, a bit later.
        let handles: Vec<_> = producers
            .into_iter()
            .enumerate()
            .map(|(i, (prog, state))| {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20 * i as u64));
                    while read_state(&state)[0] < 1000 * (i as u64 + 1) {
                        run_skb(prog.as_fd(), 100);
                    }
                })
            })
            .collect();
        let mut next = [0u64; 3];
        let deadline = Instant::now() + Duration::from_secs(30);
        while next != [1000, 2000, 3000] {
            assert!(Instant::now() < deadline, "stalled at {next:?}");
            poller
                .poll(Duration::from_secs(5), |ring, r| {
                    assert_eq!(seq(r), next[ring], "ring {ring} in order");
                    next[ring] += 1;
                })
                .unwrap();
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(poller.consume(|_, _| unreachable!()).unwrap(), 0);
        assert_eq!(poller.rings().len(), 3);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn next_timeout_waits_and_times_out() {
    let _serial = common::serial();
    require_bpf!();
    let mut rb = ring("mp_rb_wait", 1 << 16);
    let t = Instant::now();
    assert_eq!(rb.next_timeout(Duration::from_millis(30)).unwrap(), None);
    assert!(t.elapsed() >= Duration::from_millis(25));
    assert_eq!(rb.next_timeout(Duration::ZERO).unwrap(), None);
    let state = producer_state(1);
    let prog = load(
        ProgType::SOCKET_FILTER,
        &ring_producer(&rb, &state, 8, None),
        "mp_rb_wait",
    );
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        run_skb(prog.as_fd(), 1);
    });
    let t = Instant::now();
    let r = rb.next_timeout(Duration::from_secs(10)).unwrap().map(seq);
    assert_eq!(r, Some(0), "woken by the record");
    assert!(t.elapsed() < Duration::from_secs(5));
    h.join().unwrap();
}

/// A socket filter draining `user_rb` with `bpf_user_ringbuf_drain`: each 8-byte sample is
/// added to `sum[0]`; returns the number drained.
fn drain_prog(user_rb: &UserRingBuf, sum: &Map) -> std::os::fd::OwnedFd {
    let mut main = Asm::new();
    main.extend(asm::ld_map_fd(R1, fd_of(user_rb)));
    let ld_func = main.len();
    main.extend(asm::ld_imm64_pseudo(R2, pseudo::FUNC, 0, 0));
    main.push(asm::mov64_imm(R3, 0));
    main.push(asm::mov64_imm(R4, 0));
    main.push(asm::call_helper(helper::USER_RINGBUF_DRAIN));
    main.push(asm::exit());
    let mut insns = main.finish().unwrap();
    insns[ld_func].imm = (insns.len() - ld_func - 1) as i32;
    let mut cb = Asm::new();
    cb.push(asm::mov64_reg(R3, R1)); // the dynptr
    cb.push(asm::mov64_reg(R1, FP));
    cb.push(asm::alu64_imm(alu::ADD, R1, -8));
    cb.push(asm::mov64_imm(R2, 8));
    cb.push(asm::mov64_imm(R4, 0));
    cb.push(asm::mov64_imm(R5, 0));
    cb.push(asm::call_helper(helper::DYNPTR_READ));
    cb.jump_imm(jmp::JNE, R0, 0, "out");
    cb.push(asm::ldx(size::DW, R6, FP, -8));
    cb.push(asm::st_imm(size::W, FP, -12, 0));
    cb.push(asm::mov64_reg(R2, FP));
    cb.push(asm::alu64_imm(alu::ADD, R2, -12));
    cb.extend(asm::ld_map_fd(R1, fd_of(sum)));
    cb.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    cb.jump_imm(jmp::JEQ, R0, 0, "out");
    cb.push(asm::atomic_add64(R0, R6, 0));
    cb.label("out");
    cb.push(asm::mov64_imm(R0, 0));
    cb.push(asm::exit());
    let cb_start = insns.len() as u32;
    insns.extend(cb.finish().unwrap());
    load_funcs(
        ProgType::SOCKET_FILTER,
        &insns,
        "mp_urb_drain",
        &[0, cb_start],
    )
}

#[test]
fn user_ring_buffer_drained_by_a_program() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let page = oxbpf::syscall::page_size() as u32;
        let mut urb = UserRingBuf::new(
            MapSpec::new(MapType::USER_RINGBUF)
                .name("mp_urb")
                .max_entries(page)
                .create()
                .unwrap(),
        )
        .unwrap();
        let sum = MapSpec::new(MapType::ARRAY)
            .name("mp_urb_sum")
            .key::<u32>()
            .value::<u64>()
            .max_entries(1)
            .create()
            .unwrap();
        let prog = drain_prog(&urb, &sum);
        let total = |_: ()| Array::<u64, _>::new(&sum).unwrap().get(0).unwrap();
        assert_eq!(urb.capacity(), page as usize);
        for v in 1..=10u64 {
            let mut e = urb.reserve(8).unwrap().expect("room");
            e.copy_from_slice(&v.to_ne_bytes());
            if v == 5 {
                e.discard();
            } else {
                e.submit();
            }
        }
        // Dropped without submit: discarded too.
        drop(urb.reserve(8).unwrap());
        assert_eq!(
            run_skb(prog.as_fd(), 1),
            9,
            "the 9 submitted samples drained (the 2 discarded skipped)"
        );
        assert_eq!(total(()), 55 - 5, "discarded samples skipped");
        // Too big for the ring: a typed error; full: None.
        assert!(matches!(
            urb.reserve(page as usize),
            Err(MapError::RecordTooBig { .. })
        ));
        let per = 16;
        let fit = page as usize / per;
        for _ in 0..fit {
            urb.reserve(8).unwrap().expect("room").submit();
        }
        assert!(urb.reserve(8).unwrap().is_none(), "full");
        assert_eq!(urb.free(), 0);
        // A blocking reserve gets room once a program drains.
        let drainer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            run_skb(prog.as_fd(), 1)
        });
        let t = Instant::now();
        let mut e = urb
            .reserve_timeout(8, Duration::from_secs(10))
            .unwrap()
            .expect("room after the drain");
        assert!(t.elapsed() >= Duration::from_millis(20));
        e.copy_from_slice(&100u64.to_ne_bytes());
        e.submit();
        assert_eq!(drainer.join().unwrap(), fit as u32);
        assert!(
            urb.reserve_timeout(page as usize - 8, Duration::from_millis(10))
                .unwrap()
                .is_none(),
            "still full-ish"
        );
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn mmap_counter_read_without_a_syscall() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        // A `.bss`-like global: value 16 bytes, `u32 limit` at 0, `u64 counter` at 8.
        let map = MapSpec::new(MapType::ARRAY)
            .name("mp_bss")
            .key::<u32>()
            .value_size(16)
            .max_entries(1)
            .flags(MapFlags::MMAPABLE)
            .create()
            .unwrap();
        let fd = fd_of(&map);
        let bss = MmapArray::new(map).unwrap();
        assert!(bss.is_writable());
        assert_eq!(bss.len(), 16);
        // counter += 1; r0 = limit
        let mut a = Asm::new();
        a.extend(asm::ld_map_value(R6, fd, 0));
        a.push(asm::mov64_imm(R1, 1));
        a.push(asm::atomic_add64(R6, R1, 8));
        a.push(asm::ldx(size::W, R0, R6, 0));
        a.push(asm::exit());
        let prog = load(
            ProgType::SOCKET_FILTER,
            &a.finish().unwrap(),
            "mp_bss_count",
        );
        let limit = bss.var::<u32>(0, 4).unwrap();
        limit.set(&77).unwrap();
        assert_eq!(
            run_skb(prog.as_fd(), 1000),
            77,
            "the program reads what we wrote in memory"
        );
        // Read it back with any bpf(2) call failing: there is none.
        let (counter, calls) = capture(
            |_, _| Err(nix::errno::Errno::ENOSYS),
            || {
                let v = bss.load_u64(8).unwrap();
                let c = bss.var::<u64>(8, 8).unwrap().get();
                (v, c, bss.read::<[u8; 16]>(0).unwrap())
            },
        );
        assert!(calls.is_empty(), "no syscall: {calls:?}");
        assert_eq!(counter.0, 1000);
        assert_eq!(counter.1, 1000);
        assert_eq!(counter.2[..4], 77u32.to_ne_bytes());
        // ... and it agrees with the syscall view.
        assert_eq!(
            bss.map().lookup_vec(&0u32.to_ne_bytes()).unwrap().unwrap()[8..],
            1000u64.to_ne_bytes()
        );
        // Checks: size, bounds, alignment.
        assert!(matches!(
            bss.var::<u64>(0, 4),
            Err(MapError::SizeMismatch { .. })
        ));
        assert!(matches!(
            bss.var::<u64>(12, 8),
            Err(MapError::OutOfBounds { .. })
        ));
        assert!(bss.load_u64(4).is_err(), "misaligned");
        assert!(bss.write(10, &[0u8; 8]).is_err());

        // `.rodata`-like: read-only for programs, mapped read-only, frozen.
        let map = MapSpec::new(MapType::ARRAY)
            .name("mp_rodata")
            .key::<u32>()
            .value_size(8)
            .max_entries(1)
            .flags(MapFlags::MMAPABLE | MapFlags::RDONLY_PROG)
            .create()
            .unwrap();
        map.update(&0u32.to_ne_bytes(), &5u64.to_ne_bytes(), ElemFlags::ANY)
            .unwrap();
        map.freeze().unwrap();
        let ro = MmapArray::new(map).unwrap();
        assert!(!ro.is_writable());
        assert_eq!(ro.read::<u64>(0).unwrap(), 5);
        assert!(matches!(ro.write(0, &1u64), Err(MapError::ReadOnly { .. })));
        // A frozen map without RDONLY_PROG: the writable mapping is refused, read-only works.
        let map = MapSpec::new(MapType::ARRAY)
            .name("mp_frozen")
            .key::<u32>()
            .value_size(8)
            .max_entries(2)
            .flags(MapFlags::MMAPABLE)
            .create()
            .unwrap();
        map.freeze().unwrap();
        let frozen = MmapArray::new(map).unwrap();
        assert!(!frozen.is_writable());
        assert_eq!(frozen.element_offset(1).unwrap(), 8);
        assert!(MmapArray::with_protection(frozen.into_map(), Protection::ReadWrite).is_err());
        // Not mmapable: a typed error.
        let plain = MapSpec::new(MapType::ARRAY)
            .name("mp_plain")
            .key::<u32>()
            .value_size(8)
            .max_entries(1)
            .create()
            .unwrap();
        assert!(matches!(
            MmapArray::new(plain),
            Err(MapError::Unsupported { .. })
        ));
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn ring_buffer_refuses_other_maps() {
    let _serial = common::serial();
    require_bpf!();
    let m = MapSpec::new(MapType::ARRAY)
        .name("mp_not_ring")
        .key::<u32>()
        .value::<u32>()
        .max_entries(1)
        .create()
        .unwrap();
    assert!(matches!(RingBuf::new(m), Err(MapError::WrongType { .. })));
    let m = MapSpec::new(MapType::RINGBUF)
        .name("mp_rb_odd")
        .max_entries(5000)
        .create()
        .unwrap();
    assert_eq!(
        m.max_entries() as usize,
        8192.max(oxbpf::syscall::page_size()),
        "rounded up like libbpf"
    );
}

#[test]
fn edge_triggered_event_loop_never_misses_a_wakeup() {
    let _serial = common::serial();
    require_bpf!();
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
    // What an async runtime does with `AsFd`: drain until `None`, then wait for an edge.
    let mut rb = ring("mp_rb_edge", 1 << 16);
    let state = producer_state(u64::MAX);
    let prog = load(
        ProgType::SOCKET_FILTER,
        &ring_producer(&rb, &state, 8, None),
        "mp_rb_edge",
    );
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    epoll
        .add(
            rb.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, 0),
        )
        .unwrap();
    // 1 to 3 records per run, 300 runs, pauses now and then: 600 records, many idle edges.
    const RUNS: u64 = 300;
    const TOTAL: u64 = 600;
    let producer = std::thread::spawn(move || {
        for i in 0..RUNS {
            run_skb(prog.as_fd(), 1 + (i % 3) as u32);
            if i % 7 == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        read_state(&state)[0]
    });
    let mut got = 0u64;
    let mut events = [EpollEvent::empty()];
    loop {
        while let Some(r) = rb.next().unwrap() {
            assert_eq!(seq(r), got);
            got += 1;
        }
        if got == TOTAL {
            break;
        }
        // The producer is still going (it produces every few hundred microseconds): an
        // empty `next()` must be followed by an edge.
        let n = epoll.wait(&mut events, 2000u16).unwrap();
        assert!(n > 0, "no wakeup within 2 s: lost at {got} of {TOTAL}");
    }
    assert_eq!(producer.join().unwrap(), TOTAL);
}
