//! Maps against the running kernel: creation from specs, the generic `Map`, pinning,
//! hash/array/per-CPU/LPM/queue/stack/bloom views, key iteration, batches, fd hygiene.

mod common;
mod maps_support;

use std::os::fd::AsFd;

use nix::errno::Errno;
use oxbpf::maps::*;
use oxbpf::syscall::{possible_cpus, ElemFlags, FileFlags, MapFlags, MapType};

use maps_support::*;

fn hash_spec(name: &str, t: MapType, entries: u32) -> MapSpec {
    MapSpec::new(t)
        .name(name)
        .key::<u32>()
        .value::<u64>()
        .max_entries(entries)
}

fn errno(e: &MapError) -> Option<Errno> {
    e.syscall().map(|s| s.errno)
}

#[test]
fn generic_map_bytes_pin_id_and_info() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = hash_spec("mp_generic", MapType::HASH, 16).create().unwrap();
        assert_eq!(map.name(), "mp_generic");
        assert_eq!(map.map_type(), MapType::HASH);
        assert_eq!(
            (map.key_size(), map.value_size(), map.max_entries()),
            (4, 8, 16)
        );
        let k = 5u32.to_ne_bytes();
        map.update(&k, &9u64.to_ne_bytes(), ElemFlags::NOEXIST)
            .unwrap();
        let e = map
            .update(&k, &9u64.to_ne_bytes(), ElemFlags::NOEXIST)
            .unwrap_err();
        assert_eq!(errno(&e), Some(Errno::EEXIST));
        assert_eq!(e.map_name(), "mp_generic");
        assert!(e.to_string().contains("mp_generic"), "{e}");
        let e = map
            .update(&6u32.to_ne_bytes(), &1u64.to_ne_bytes(), ElemFlags::EXIST)
            .unwrap_err();
        assert_eq!(errno(&e), Some(Errno::ENOENT));
        map.update(&k, &10u64.to_ne_bytes(), ElemFlags::EXIST)
            .unwrap();
        assert_eq!(
            map.lookup_vec(&k).unwrap(),
            Some(10u64.to_ne_bytes().to_vec())
        );
        // Wrong buffer sizes never reach the kernel.
        let mut small = [0u8; 4];
        assert!(map.lookup(&k, &mut small, ElemFlags::ANY).is_err());
        let mut v = [0u8; 8];
        assert!(map
            .lookup_and_delete(Some(&k), &mut v, ElemFlags::ANY)
            .unwrap());
        assert_eq!(u64::from_ne_bytes(v), 10);
        assert!(!map.delete(&k).unwrap());
        assert_eq!(map.lookup_vec(&k).unwrap(), None);

        // info, id, from_id, from_fd, pin / from_pin.
        let info = map.info().unwrap();
        assert_eq!(info.name(), "mp_generic");
        let again = Map::from_id(info.id).unwrap();
        assert_eq!(again.name(), "mp_generic");
        assert_eq!(again.max_entries(), 16);
        again
            .update(&k, &1u64.to_ne_bytes(), ElemFlags::ANY)
            .unwrap();
        assert!(map.lookup_vec(&k).unwrap().is_some(), "same kernel map");
        let fs = Bpffs::mount();
        let pin = fs.path("mp_generic");
        map.pin(&pin).unwrap();
        let pinned = Map::from_pin(&pin).unwrap();
        assert_eq!(pinned.id().unwrap(), info.id);
        pinned
            .check_compatible(&hash_spec("mp_generic", MapType::HASH, 16))
            .unwrap();
        let e = pinned
            .check_compatible(&hash_spec("mp_generic", MapType::HASH, 32))
            .unwrap_err();
        assert!(
            matches!(
                e,
                MapError::Incompatible {
                    field: "max_entries",
                    expected: 32,
                    actual: 16,
                    ..
                }
            ),
            "{e}"
        );
        let ro = Map::from_pin_with(&pin, FileFlags::RDONLY).unwrap();
        let e = ro
            .update(&k, &2u64.to_ne_bytes(), ElemFlags::ANY)
            .unwrap_err();
        assert_eq!(errno(&e), Some(Errno::EPERM));
        assert!(Map::from_pin(fs.path("missing")).is_err());
        std::fs::remove_file(&pin).unwrap();
        let dup = map.try_clone().unwrap();
        assert_eq!(dup.id().unwrap(), info.id);
        let from_fd = Map::from_fd(dup.into_map_fd().into_fd()).unwrap();
        assert_eq!(from_fd.name(), "mp_generic");
        // The wrong view is a typed error naming the map.
        let e = Array::<u64, _>::new(&map).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::WrongType {
                    actual: MapType::HASH,
                    ..
                }
            ),
            "{e}"
        );
        let e = HashMap::<u64, u64, _>::new(&map).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::SizeMismatch {
                    what: "key",
                    expected: 8,
                    actual: 4,
                    ..
                }
            ),
            "{e}"
        );
        let e = HashMap::<u32, u32, _>::new(&map).unwrap_err();
        assert!(
            matches!(e, MapError::SizeMismatch { what: "value", .. }),
            "{e}"
        );
        // Freezing: no more user-space writes.
        map.freeze().unwrap();
        assert!(map.update(&k, &3u64.to_ne_bytes(), ElemFlags::ANY).is_err());
    }
    assert_eq!(common::fd_count(), before, "every fd closed");
}

#[test]
fn invalid_specs_are_typed_errors() {
    let _serial = common::serial();
    require_bpf!();
    let e = MapSpec::new(MapType::HASH)
        .name("mp_bad")
        .key_size(4)
        .value_size(4)
        .create()
        .unwrap_err();
    assert_eq!(errno(&e), Some(Errno::EINVAL), "0 entries");
    assert_eq!(e.map_name(), "mp_bad");
    let e = MapSpec::new(MapType::ARRAY_OF_MAPS)
        .name("mp_noinner")
        .max_entries(1)
        .create()
        .unwrap_err();
    assert!(matches!(e, MapError::InvalidSpec { .. }), "{e}");
}

#[test]
fn hash_and_lru_hash() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        for t in [MapType::HASH, MapType::LRU_HASH] {
            let m = HashMap::<u32, u64>::new(hash_spec("mp_hash", t, 8).create().unwrap()).unwrap();
            for i in 0..8u32 {
                m.insert(&i, &(u64::from(i) * 10), ElemFlags::ANY).unwrap();
            }
            assert_eq!(m.get(&3).unwrap(), Some(30));
            assert_eq!(m.get(&99).unwrap(), None);
            let mut keys: Vec<u32> = m.keys().map(Result::unwrap).collect();
            keys.sort();
            assert_eq!(keys, (0..8).collect::<Vec<_>>());
            let mut entries: Vec<(u32, u64)> = m.iter().map(Result::unwrap).collect();
            entries.sort();
            assert_eq!(entries[7], (7, 70));
            assert_eq!(m.take(&7).unwrap(), Some(70));
            assert_eq!(m.take(&7).unwrap(), None);
            assert!(m.remove(&6).unwrap());
            assert!(!m.remove(&6).unwrap());
            if t == MapType::HASH {
                // Full: a ninth key is refused (E2BIG) once 8 are in.
                m.insert(&6, &0, ElemFlags::ANY).unwrap();
                m.insert(&7, &0, ElemFlags::ANY).unwrap();
                let e = m.insert(&100, &0, ElemFlags::ANY).unwrap_err();
                assert_eq!(errno(&e), Some(Errno::E2BIG));
            } else {
                // LRU: inserting past capacity evicts instead of failing.
                for i in 100..120u32 {
                    m.insert(&i, &1, ElemFlags::ANY).unwrap();
                }
                assert!(m.keys().count() <= 8 + possible_cpus().unwrap() as usize * 2);
                assert_eq!(m.get(&119).unwrap(), Some(1), "the newest survives");
            }
        }
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn deleting_while_iterating_visits_each_key_once() {
    let _serial = common::serial();
    require_bpf!();
    let m = HashMap::<u32, u64>::new(hash_spec("mp_iterdel", MapType::HASH, 64).create().unwrap())
        .unwrap();
    for i in 0..50u32 {
        m.insert(&i, &1, ElemFlags::ANY).unwrap();
    }
    let mut seen = Vec::new();
    for k in m.keys() {
        let k = k.unwrap();
        assert!(m.remove(&k).unwrap());
        seen.push(k);
    }
    seen.sort();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    assert_eq!(m.keys().count(), 0);
}

#[test]
fn per_cpu_hash_and_array_hold_a_value_per_possible_cpu() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let cpus = possible_cpus().unwrap() as usize;
        for t in [MapType::PERCPU_HASH, MapType::LRU_PERCPU_HASH] {
            // A 4-byte value: padded to 8 per CPU in the buffers.
            let map = MapSpec::new(t)
                .name("mp_pcpu_hash")
                .key::<u32>()
                .value::<u32>()
                .max_entries(4)
                .create()
                .unwrap();
            assert_eq!(map.value_len(), cpus * 8);
            let m = PerCpuHashMap::<u32, u32>::new(map).unwrap();
            let values = PerCpuValues::from_fn(|cpu| 100 + cpu).unwrap();
            m.insert(&1, &values, ElemFlags::ANY).unwrap();
            let got = m.get(&1).unwrap().unwrap();
            assert_eq!(got.len(), cpus);
            assert_eq!(
                got.to_vec(),
                (0..cpus as u32).map(|c| 100 + c).collect::<Vec<_>>()
            );
            let mut into = PerCpuValues::zeroed().unwrap();
            assert!(m.get_into(&1, &mut into).unwrap());
            assert_eq!(into, got);
            assert!(!m.get_into(&2, &mut into).unwrap());
            assert_eq!(m.keys().map(Result::unwrap).collect::<Vec<_>>(), vec![1]);
            let all: Vec<_> = m.iter().map(Result::unwrap).collect();
            assert_eq!(all.len(), 1);
            assert!(m.remove(&1).unwrap());
        }
        let map = MapSpec::new(MapType::PERCPU_ARRAY)
            .name("mp_pcpu_arr")
            .key::<u32>()
            .value::<[u8; 12]>()
            .max_entries(3)
            .create()
            .unwrap();
        assert_eq!(map.value_len(), cpus * 16);
        let a = PerCpuArray::<[u8; 12]>::new(map).unwrap();
        assert_eq!(a.get(2).unwrap().to_vec(), vec![[0; 12]; cpus]);
        let v = PerCpuValues::from_fn(|cpu| [cpu as u8; 12]).unwrap();
        a.set(2, &v, ElemFlags::ANY).unwrap();
        assert_eq!(a.get(2).unwrap(), v);
        let e = a.get(3).unwrap_err();
        assert!(
            matches!(e, MapError::OutOfBounds { what: "index", .. }),
            "{e}"
        );

        // A program sees its own CPU's slot: run it pinned to each CPU via BPF_F_TEST_RUN_ON_CPU
        // isn't available for socket filters, so just check the array from a program's view
        // on the CPU the test runs on.
        let counts = MapSpec::new(MapType::PERCPU_ARRAY)
            .name("mp_pcpu_cnt")
            .key::<u32>()
            .value::<u64>()
            .max_entries(1)
            .create()
            .unwrap();
        let prog = load(
            oxbpf::syscall::ProgType::SOCKET_FILTER,
            &count_prog(&counts),
            "mp_pcpu_cnt",
        );
        run_skb(prog.as_fd(), 5);
        let per_cpu = PerCpuArray::<u64, _>::new(&counts).unwrap().get(0).unwrap();
        assert_eq!(per_cpu.iter().sum::<u64>(), 5, "{per_cpu:?}");
    }
    assert_eq!(common::fd_count(), before);
}

/// `lock (*(u64 *)lookup(map, 0)) += 1; r0 = 0`.
fn count_prog(map: &Map) -> Vec<oxbpf::insn::Insn> {
    use oxbpf::insn::asm::{self, Asm};
    use oxbpf::insn::opcode::{alu, jmp, size};
    use oxbpf::insn::reg::*;
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, 0));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd_of(map)));
    a.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jump_imm(jmp::JEQ, R0, 0, "out");
    a.push(asm::mov64_imm(R1, 1));
    a.push(asm::atomic_add64(R0, R1, 0));
    a.label("out");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
}

#[test]
fn array_every_index_present() {
    let _serial = common::serial();
    require_bpf!();
    let map = MapSpec::new(MapType::ARRAY)
        .name("mp_array")
        .key::<u32>()
        .value::<u32>()
        .max_entries(4)
        .create()
        .unwrap();
    let a = Array::<u32, _>::new(&map).unwrap();
    assert_eq!(a.len(), 4);
    assert_eq!(a.iter().map(Result::unwrap).collect::<Vec<_>>(), vec![0; 4]);
    a.set(1, &11, ElemFlags::ANY).unwrap();
    a.set(3, &33, ElemFlags::EXIST).unwrap();
    let e = a.set(2, &1, ElemFlags::NOEXIST).unwrap_err();
    assert_eq!(errno(&e), Some(Errno::EEXIST));
    assert_eq!(
        a.iter().map(Result::unwrap).collect::<Vec<_>>(),
        vec![0, 11, 0, 33]
    );
    assert!(a.set(4, &1, ElemFlags::ANY).is_err());
    // Array elements cannot be deleted.
    let e = map.delete(&1u32.to_ne_bytes()).unwrap_err();
    assert_eq!(errno(&e), Some(Errno::EINVAL));
    // A program reads what we wrote.
    let prog = load(
        oxbpf::syscall::ProgType::SOCKET_FILTER,
        &read_u32_prog(&map, 3),
        "mp_arr_read",
    );
    assert_eq!(run_skb(prog.as_fd(), 1), 33);
}

#[test]
fn lpm_trie_longest_prefix_match() {
    let _serial = common::serial();
    require_bpf!();
    let map = MapSpec::new(MapType::LPM_TRIE)
        .name("mp_lpm")
        .key_size(8)
        .value::<u32>()
        .max_entries(16)
        .flags(MapFlags::NO_PREALLOC)
        .create()
        .unwrap();
    let t = LpmTrie::<[u8; 4], u32>::new(map).unwrap();
    t.insert(&LpmKey::new(8, [10, 0, 0, 0]), &8, ElemFlags::ANY)
        .unwrap();
    t.insert(&LpmKey::new(16, [10, 1, 0, 0]), &16, ElemFlags::ANY)
        .unwrap();
    t.insert(&LpmKey::new(24, [10, 1, 2, 0]), &24, ElemFlags::ANY)
        .unwrap();
    t.insert(&LpmKey::new(0, [0; 4]), &0, ElemFlags::ANY)
        .unwrap();
    assert_eq!(t.get(&LpmKey::exact([10, 1, 2, 3])).unwrap(), Some(24));
    assert_eq!(t.get(&LpmKey::exact([10, 1, 9, 9])).unwrap(), Some(16));
    assert_eq!(t.get(&LpmKey::exact([10, 9, 9, 9])).unwrap(), Some(8));
    assert_eq!(
        t.get(&LpmKey::exact([192, 168, 0, 1])).unwrap(),
        Some(0),
        "default route"
    );
    // A shorter lookup prefix only matches shorter stored prefixes.
    assert_eq!(t.get(&LpmKey::new(12, [10, 1, 2, 3])).unwrap(), Some(8));
    let mut keys: Vec<(u32, [u8; 4])> = t
        .keys()
        .map(|k| k.map(|k| (k.prefix_len, k.data)).unwrap())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            (0, [0; 4]),
            (8, [10, 0, 0, 0]),
            (16, [10, 1, 0, 0]),
            (24, [10, 1, 2, 0])
        ]
    );
    assert!(t.remove(&LpmKey::new(24, [10, 1, 2, 0])).unwrap());
    assert_eq!(t.get(&LpmKey::exact([10, 1, 2, 3])).unwrap(), Some(16));
    assert!(!t.remove(&LpmKey::new(24, [10, 1, 2, 0])).unwrap());
    // A key type that does not fit is refused.
    let e = LpmTrie::<[u8; 16], u32, _>::new(t.map()).unwrap_err();
    assert!(
        matches!(
            e,
            MapError::SizeMismatch {
                what: "key",
                expected: 20,
                actual: 8,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn queue_fifo_stack_lifo() {
    let _serial = common::serial();
    require_bpf!();
    let q = Queue::<u32>::new(
        MapSpec::new(MapType::QUEUE)
            .name("mp_queue")
            .value::<u32>()
            .max_entries(3)
            .create()
            .unwrap(),
    )
    .unwrap();
    let s = Stack::<u32>::new(
        MapSpec::new(MapType::STACK)
            .name("mp_stack")
            .value::<u32>()
            .max_entries(3)
            .create()
            .unwrap(),
    )
    .unwrap();
    for v in [1, 2, 3] {
        q.push(&v, ElemFlags::ANY).unwrap();
        s.push(&v, ElemFlags::ANY).unwrap();
    }
    // Full: refused, unless EXIST asks to drop the oldest.
    assert_eq!(
        errno(&q.push(&4, ElemFlags::ANY).unwrap_err()),
        Some(Errno::E2BIG)
    );
    q.push(&4, ElemFlags::EXIST).unwrap();
    assert_eq!(q.peek().unwrap(), Some(2));
    assert_eq!(
        (
            q.pop().unwrap(),
            q.pop().unwrap(),
            q.pop().unwrap(),
            q.pop().unwrap()
        ),
        (Some(2), Some(3), Some(4), None)
    );
    assert_eq!(s.peek().unwrap(), Some(3));
    assert_eq!(
        (
            s.pop().unwrap(),
            s.pop().unwrap(),
            s.pop().unwrap(),
            s.pop().unwrap()
        ),
        (Some(3), Some(2), Some(1), None)
    );
    assert_eq!(q.peek().unwrap(), None);
    // A program pushes, user space pops.
    use oxbpf::insn::asm::{self, Asm};
    use oxbpf::insn::opcode::{alu, size};
    use oxbpf::insn::reg::*;
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, 77));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd_of(&q)));
    a.push(asm::mov64_imm(R3, 0));
    a.push(asm::call_helper(helper::MAP_PUSH_ELEM));
    a.push(asm::exit());
    let prog = load(
        oxbpf::syscall::ProgType::SOCKET_FILTER,
        &a.finish().unwrap(),
        "mp_q_push",
    );
    assert_eq!(run_skb(prog.as_fd(), 1), 0);
    assert_eq!(q.pop().unwrap(), Some(77));
}

#[test]
fn bloom_filter_membership() {
    let _serial = common::serial();
    require_bpf!();
    let map = MapSpec::new(MapType::BLOOM_FILTER)
        .name("mp_bloom")
        .value::<u64>()
        .max_entries(1000)
        .map_extra(5)
        .create()
        .unwrap();
    assert_eq!(map.info().unwrap().map_extra, 5);
    let b = BloomFilter::<u64>::new(map).unwrap();
    for v in (0..100u64).map(|i| i * 7919) {
        b.insert(&v).unwrap();
    }
    for v in (0..100u64).map(|i| i * 7919) {
        assert!(b.contains(&v).unwrap(), "no false negatives");
    }
    let false_positives = (0..1000u64)
        .map(|i| i * 7919 + 1)
        .filter(|v| b.contains(v).unwrap())
        .count();
    assert!(
        false_positives < 50,
        "{false_positives} false positives of 1000"
    );
}

#[test]
fn batch_ops_on_10k_hash_entries() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        const N: u32 = 10_000;
        let m = HashMap::<u32, u64>::new(hash_spec("mp_batch", MapType::HASH, N).create().unwrap())
            .unwrap();
        let keys: Vec<u32> = (0..N).collect();
        let values: Vec<u64> = keys.iter().map(|&k| u64::from(k) * 3).collect();
        assert_eq!(
            m.insert_batch(&keys, &values, ElemFlags::ANY).unwrap(),
            N as usize
        );
        assert_eq!(
            batch_fallback_active(m.map()),
            [false; 4],
            "this kernel has hash batches"
        );
        let t = std::time::Instant::now();
        let mut all = m.collect_batched(1024).unwrap();
        let batched = t.elapsed();
        all.sort();
        assert_eq!(all.len(), N as usize);
        assert!(all.iter().all(|&(k, v)| v == u64::from(k) * 3));
        let t = std::time::Instant::now();
        let per_element = m.iter().count();
        let single = t.elapsed();
        assert_eq!(per_element, N as usize);
        eprintln!("10k entries: batch {batched:?}, per element {single:?}");

        // Lookup-and-delete in chunks of 512.
        let mut cursor = BatchCursor::new();
        let (mut kb, mut vb) = (vec![0u32; 512], vec![0u64; 512]);
        let mut taken = 0;
        while !cursor.is_done() {
            taken += m.take_batch(&mut cursor, &mut kb, &mut vb).unwrap();
        }
        assert_eq!(taken, N as usize);
        assert_eq!(m.keys().count(), 0);
        // Delete batch.
        m.insert_batch(&keys[..100], &values[..100], ElemFlags::ANY)
            .unwrap();
        assert_eq!(m.remove_batch(&keys[..100]).unwrap(), 100);
        assert_eq!(m.keys().count(), 0);
        // Arrays batch too.
        let arr = MapSpec::new(MapType::ARRAY)
            .name("mp_batch_arr")
            .key::<u32>()
            .value::<u64>()
            .max_entries(100)
            .create()
            .unwrap();
        let idx: Vec<u32> = (0..100).collect();
        let vals: Vec<u64> = (0..100).map(|i| i + 1).collect();
        arr.update_batch(
            oxbpf::syscall::slice_as_bytes(&idx),
            oxbpf::syscall::slice_as_bytes(&vals),
            ElemFlags::ANY,
        )
        .unwrap();
        assert_eq!(Array::<u64, _>::new(&arr).unwrap().get(99).unwrap(), 100);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn batch_falls_back_per_element_where_the_kernel_has_none() {
    let _serial = common::serial();
    require_bpf!();
    use oxbpf::insn::asm;
    use oxbpf::syscall::{slice_as_bytes, slice_as_bytes_mut, ProgType, ENOTSUPP};
    // Program arrays have no batch operations (ENOTSUPP): the same calls work element by
    // element, and the map type is remembered.
    let map = MapSpec::new(MapType::PROG_ARRAY)
        .name("mp_pa_batch")
        .max_entries(4)
        .create()
        .unwrap();
    let raw =
        oxbpf::syscall::map_update_batch(map.map_fd(), &[0; 4], &[0; 4], &mut 1, ElemFlags::ANY)
            .unwrap_err();
    assert_eq!(raw.code, ENOTSUPP);
    let progs: Vec<_> = (0..2)
        .map(|i| {
            load(
                ProgType::SOCKET_FILTER,
                &[asm::mov64_imm(0, i), asm::exit()],
                "mp_pa_batch",
            )
        })
        .collect();
    let keys = [1u32, 3];
    let vals = [fd_of(&progs[0]) as u32, fd_of(&progs[1]) as u32];
    assert_eq!(
        map.update_batch(slice_as_bytes(&keys), slice_as_bytes(&vals), ElemFlags::ANY)
            .unwrap(),
        2
    );
    assert!(batch_fallback_active(&map)[2], "update batch fell back");
    let mut cursor = BatchCursor::new();
    let (mut kb, mut vb) = ([0u32; 3], [0u32; 3]);
    let mut got = Vec::new();
    while !cursor.is_done() {
        let n = map
            .lookup_batch(
                &mut cursor,
                slice_as_bytes_mut(&mut kb),
                slice_as_bytes_mut(&mut vb),
                ElemFlags::ANY,
            )
            .unwrap();
        got.extend(kb[..n].iter().copied().zip(vb[..n].iter().copied()));
    }
    assert!(batch_fallback_active(&map)[0]);
    let ids: Vec<u32> = progs
        .iter()
        .map(|p| oxbpf::syscall::prog_info(p.as_fd()).unwrap().id)
        .collect();
    assert_eq!(got, vec![(1, ids[0]), (3, ids[1])], "slot and program id");
    assert_eq!(
        map.delete_batch(slice_as_bytes(&keys), ElemFlags::ANY)
            .unwrap(),
        2
    );
    assert!(ProgArray::new(&map).unwrap().iter().next().is_none());
    // A second map of the type goes straight to the per-element path.
    let other = MapSpec::new(MapType::PROG_ARRAY)
        .name("mp_pa_batch2")
        .max_entries(2)
        .create()
        .unwrap();
    assert!(batch_fallback_active(&other)[2]);
    assert_eq!(
        other
            .update_batch(&0u32.to_ne_bytes(), &vals[0].to_ne_bytes(), ElemFlags::ANY)
            .unwrap(),
        1
    );
}

#[test]
fn maps_and_views_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Map>();
    send_sync::<HashMap<u32, u64>>();
    send_sync::<HashMap<u32, u64, &Map>>();
    send_sync::<PerCpuHashMap<u32, u64>>();
    send_sync::<Array<u64>>();
    send_sync::<PerCpuArray<u64>>();
    send_sync::<LpmTrie<[u8; 4], u32>>();
    send_sync::<Queue<u32>>();
    send_sync::<Stack<u32>>();
    send_sync::<BloomFilter<u32>>();
    send_sync::<ProgArray>();
    send_sync::<ArrayOfMaps>();
    send_sync::<HashOfMaps<u32>>();
    send_sync::<SockMap>();
    send_sync::<SockHash<u32>>();
    send_sync::<DevMap>();
    send_sync::<DevMapHash>();
    send_sync::<CpuMap>();
    send_sync::<XskMap>();
    send_sync::<CgroupArray>();
    send_sync::<StackTraceMap>();
    send_sync::<SkStorage<u64>>();
    send_sync::<TaskStorage<u64>>();
    send_sync::<InodeStorage<u64>>();
    send_sync::<CgrpStorage<u64>>();
    send_sync::<PerfEventArray>();
    send_sync::<MmapArray>();
    send_sync::<RingBuf>();
    send_sync::<UserRingBuf>();
    send_sync::<PerfBuffer>();
    send_sync::<PerCpuValues<u64>>();
    send_sync::<MapError>();
}
