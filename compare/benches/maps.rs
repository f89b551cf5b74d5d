//! HASH map (u32 → u64, 10k entries) lookup and update, per element and batched: oxbpf (its
//! syscall layer and its typed `maps::HashMap`) vs a bare `bpf(2)` loop vs libbpf-rs vs aya.
//! Needs root.
//!
//! Each side creates its own map through its own API and keeps it full; an iteration touches
//! all 10k keys (criterion reports time per element via `Throughput::Elements`). Per element:
//! oxbpf `syscall::map_{lookup,update}_elem` and `maps::HashMap::<u32, u64>::{get,insert}`,
//! libbpf-rs `MapHandle::{lookup_into,update}` (the non-allocating lookup), aya
//! `HashMap::{get,insert}`, bare: the same attribute struct filled in a loop and
//! `libc::syscall(SYS_bpf, ...)`. Batched: `BPF_MAP_{LOOKUP,UPDATE}_BATCH` over all keys
//! (oxbpf's typed map through `HashMap::{get_batch,insert_batch}`; aya has no batch
//! operations). The ratios come from paired rounds ([`Paired`]); criterion's runs give the
//! absolute figures beside them.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};

use compare::bench::{ratio, rounds, Paired};
use compare::summary::{Table, Target};
use criterion::Throughput;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType as LibbpfMapType};
use oxbpf::maps::{BatchCursor, HashMap as OxHash, MapSpec};
use oxbpf::syscall::{self as ox, BatchStatus, ElemFlags, MapCreate, MapFd, MapType};

const N: u32 = 10_000;

/// The bare side: attribute structs as the kernel lays them out, `bpf(2)` through libc.
mod bare {
    /// `union bpf_attr` for `BPF_MAP_CREATE` (the fields used).
    #[repr(C)]
    #[derive(Default)]
    pub struct Create {
        pub map_type: u32,
        pub key_size: u32,
        pub value_size: u32,
        pub max_entries: u32,
        pub map_flags: u32,
    }

    /// `union bpf_attr` for `BPF_MAP_*_ELEM`.
    #[repr(C)]
    #[derive(Default)]
    pub struct Elem {
        pub map_fd: u32,
        pub pad: u32,
        pub key: u64,
        pub value: u64,
        pub flags: u64,
    }

    /// `union bpf_attr` for `BPF_MAP_*_BATCH`.
    #[repr(C)]
    #[derive(Default)]
    pub struct Batch {
        pub in_batch: u64,
        pub out_batch: u64,
        pub keys: u64,
        pub values: u64,
        pub count: u32,
        pub map_fd: u32,
        pub elem_flags: u64,
        pub flags: u64,
    }

    pub const MAP_CREATE: i64 = 0;
    pub const MAP_LOOKUP_ELEM: i64 = 1;
    pub const MAP_UPDATE_ELEM: i64 = 2;
    pub const MAP_LOOKUP_BATCH: i64 = 24;
    pub const MAP_UPDATE_BATCH: i64 = 26;

    /// `bpf(cmd, attr, sizeof *attr)`.
    pub fn bpf<T>(cmd: i64, attr: &mut T) -> i64 {
        // SAFETY: `attr` is a live, initialized attribute struct of the size passed; the
        // pointers inside it (set by the callers) point to live buffers of the map's sizes.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T,
                std::mem::size_of::<T>() as u32,
            )
        }
    }
}

fn bare_update_all(fd: u32, keys: &[u32], values: &[u64]) {
    let mut attr = bare::Elem {
        map_fd: fd,
        ..Default::default()
    };
    for (k, v) in keys.iter().zip(values) {
        attr.key = k as *const u32 as u64;
        attr.value = v as *const u64 as u64;
        assert_eq!(bare::bpf(bare::MAP_UPDATE_ELEM, &mut attr), 0);
    }
}

fn bare_lookup_all(fd: u32, keys: &[u32]) -> u64 {
    let mut sum = 0u64;
    let mut v = 0u64;
    let mut attr = bare::Elem {
        map_fd: fd,
        ..Default::default()
    };
    for k in keys {
        attr.key = k as *const u32 as u64;
        attr.value = &mut v as *mut u64 as u64;
        assert_eq!(bare::bpf(bare::MAP_LOOKUP_ELEM, &mut attr), 0);
        sum = sum.wrapping_add(v);
    }
    sum
}

fn bare_update_batch(fd: u32, keys: &[u32], values: &[u64]) {
    let mut attr = bare::Batch {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count: keys.len() as u32,
        map_fd: fd,
        ..Default::default()
    };
    assert_eq!(bare::bpf(bare::MAP_UPDATE_BATCH, &mut attr), 0);
}

fn bare_lookup_batch(fd: u32, keys: &mut [u32], values: &mut [u64]) -> u32 {
    let (mut token, mut next) = (0u32, 0u32);
    let mut total = 0u32;
    let mut first = true;
    loop {
        let mut attr = bare::Batch {
            in_batch: if first {
                0
            } else {
                &mut token as *mut u32 as u64
            },
            out_batch: &mut next as *mut u32 as u64,
            keys: keys[total as usize..].as_mut_ptr() as u64,
            values: values[total as usize..].as_mut_ptr() as u64,
            count: N - total,
            map_fd: fd,
            ..Default::default()
        };
        let r = bare::bpf(bare::MAP_LOOKUP_BATCH, &mut attr);
        total += attr.count;
        if r != 0 {
            // ENOENT: the end.
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::ENOENT)
            );
            return total;
        }
        token = next;
        first = false;
    }
}

fn ox_update_all(map: &MapFd, keys: &[u32], values: &[u64]) {
    for (k, v) in keys.iter().zip(values) {
        ox::map_update_elem(map, &k.to_ne_bytes(), &v.to_ne_bytes(), ElemFlags::ANY).unwrap();
    }
}

fn ox_lookup_all(map: &MapFd, keys: &[u32]) -> u64 {
    let mut sum = 0u64;
    let mut v = [0u8; 8];
    for k in keys {
        assert!(ox::map_lookup_elem(map, &k.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap());
        sum = sum.wrapping_add(u64::from_ne_bytes(v));
    }
    sum
}

fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: plain integers; the byte view covers exactly the slice.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

fn ox_update_batch(map: &MapFd, keys: &[u8], values: &[u8]) {
    let mut count = N;
    ox::map_update_batch(map, keys, values, &mut count, ElemFlags::ANY).unwrap();
    assert_eq!(count, N);
}

fn ox_lookup_batch(map: &MapFd, keys: &mut [u8], values: &mut [u8]) -> u32 {
    let (mut token, mut next) = ([0u8; 4], [0u8; 4]);
    let mut total = 0usize;
    let mut first = true;
    loop {
        let mut count = N - total as u32;
        let status = ox::map_lookup_batch(
            map,
            if first { None } else { Some(&token) },
            &mut next,
            &mut keys[total * 4..],
            &mut values[total * 8..],
            &mut count,
            ElemFlags::ANY,
        )
        .unwrap();
        total += count as usize;
        if status == BatchStatus::Done {
            return total as u32;
        }
        token = next;
        first = false;
    }
}

fn typed_update_all(map: &OxHash<u32, u64>, keys: &[u32], values: &[u64]) {
    for (k, v) in keys.iter().zip(values) {
        map.insert(k, v, ElemFlags::ANY).unwrap();
    }
}

fn typed_lookup_all(map: &OxHash<u32, u64>, keys: &[u32]) -> u64 {
    let mut sum = 0u64;
    for k in keys {
        sum = sum.wrapping_add(map.get(k).unwrap().expect("key present"));
    }
    sum
}

fn typed_update_batch(map: &OxHash<u32, u64>, keys: &[u32], values: &[u64]) {
    assert_eq!(
        map.insert_batch(keys, values, ElemFlags::ANY).unwrap(),
        N as usize
    );
}

fn typed_lookup_batch(map: &OxHash<u32, u64>, keys: &mut [u32], values: &mut [u64]) -> usize {
    let mut cursor = BatchCursor::new();
    let mut total = 0;
    while !cursor.is_done() {
        let got = map
            .get_batch(&mut cursor, &mut keys[total..], &mut values[total..])
            .unwrap();
        if got == 0 {
            break;
        }
        total += got;
    }
    total
}

fn libbpf_update_all(map: &MapHandle, keys: &[u32], values: &[u64]) {
    for (k, v) in keys.iter().zip(values) {
        map.update(&k.to_ne_bytes(), &v.to_ne_bytes(), MapFlags::ANY)
            .unwrap();
    }
}

fn libbpf_lookup_all(map: &MapHandle, keys: &[u32]) -> u64 {
    let mut sum = 0u64;
    let mut v = [0u8; 8];
    for k in keys {
        assert!(map
            .lookup_into(&k.to_ne_bytes(), &mut v, MapFlags::ANY)
            .unwrap());
        sum = sum.wrapping_add(u64::from_ne_bytes(v));
    }
    sum
}

type AyaHash = aya::maps::HashMap<aya::maps::MapData, u32, u64>;

fn aya_update_all(map: &mut AyaHash, keys: &[u32], values: &[u64]) {
    for (k, v) in keys.iter().zip(values) {
        map.insert(k, v, 0).unwrap();
    }
}

fn aya_lookup_all(map: &AyaHash, keys: &[u32]) -> u64 {
    let mut sum = 0u64;
    for k in keys {
        sum = sum.wrapping_add(map.get(k, 0).unwrap());
    }
    sum
}

fn main() {
    if let Err(why) = compare::bpf_privileges() {
        eprintln!("SKIPPED maps: {why}");
        return;
    }
    let keys: Vec<u32> = (0..N).collect();
    let values: Vec<u64> = keys.iter().map(|k| u64::from(*k) * 3).collect();
    let expected: u64 = values.iter().sum();

    let mut create = bare::Create {
        map_type: 1, // BPF_MAP_TYPE_HASH
        key_size: 4,
        value_size: 8,
        max_entries: N,
        ..Default::default()
    };
    let bare_fd = bare::bpf(bare::MAP_CREATE, &mut create);
    assert!(bare_fd > 0, "bare BPF_MAP_CREATE");
    let bare_fd = bare_fd as u32;
    let ox_map = ox::map_create(&MapCreate {
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: N,
        name: "cmp_ox",
        ..Default::default()
    })
    .unwrap();
    let typed = OxHash::<u32, u64>::new(
        MapSpec::new(MapType::HASH)
            .name("cmp_typed")
            .key::<u32>()
            .value::<u64>()
            .max_entries(N)
            .create()
            .unwrap(),
    )
    .unwrap();
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        ..Default::default()
    };
    let lb_map = MapHandle::create(LibbpfMapType::Hash, Some("cmp_libbpf"), 4, 8, N, &opts)
        .expect("libbpf-rs creates a hash map");
    let mut aya_map = AyaHash::create(N, 0).expect("aya creates a hash map");

    // Fill each, and check each reads back what it wrote.
    bare_update_all(bare_fd, &keys, &values);
    ox_update_all(&ox_map, &keys, &values);
    typed_update_all(&typed, &keys, &values);
    libbpf_update_all(&lb_map, &keys, &values);
    aya_update_all(&mut aya_map, &keys, &values);
    assert_eq!(bare_lookup_all(bare_fd, &keys), expected);
    assert_eq!(ox_lookup_all(&ox_map, &keys), expected);
    assert_eq!(typed_lookup_all(&typed, &keys), expected);
    assert_eq!(libbpf_lookup_all(&lb_map, &keys), expected);
    assert_eq!(aya_lookup_all(&aya_map, &keys), expected);
    let (key_bytes, value_bytes) = (as_bytes(&keys).to_vec(), as_bytes(&values).to_vec());
    let (mut kb, mut vb) = (vec![0u32; N as usize], vec![0u64; N as usize]);
    assert_eq!(bare_lookup_batch(bare_fd, &mut kb, &mut vb), N);
    assert_eq!(vb.iter().sum::<u64>(), expected);
    let (mut okb, mut ovb) = (vec![0u8; N as usize * 4], vec![0u8; N as usize * 8]);
    assert_eq!(ox_lookup_batch(&ox_map, &mut okb, &mut ovb), N);
    let (mut tkb, mut tvb) = (vec![0u32; N as usize], vec![0u64; N as usize]);
    assert_eq!(typed_lookup_batch(&typed, &mut tkb, &mut tvb), N as usize);
    assert_eq!(tvb.iter().sum::<u64>(), expected);
    assert_eq!(
        lb_map
            .lookup_batch(N, MapFlags::ANY, MapFlags::ANY)
            .unwrap()
            .count(),
        N as usize
    );

    // The ratios: paired rounds per group (criterion's runs below give the absolute figures).
    let r = rounds(100);
    let update = Paired::new()
        .side("bare", || bare_update_all(bare_fd, &keys, &values))
        .side("oxbpf", || ox_update_all(&ox_map, &keys, &values))
        .side("oxbpf-hashmap", || typed_update_all(&typed, &keys, &values))
        .side("libbpf-rs", || libbpf_update_all(&lb_map, &keys, &values))
        .side("aya", || aya_update_all(&mut aya_map, &keys, &values))
        .run(r);
    let lookup = Paired::new()
        .side("bare", || {
            black_box(bare_lookup_all(bare_fd, &keys));
        })
        .side("oxbpf", || {
            black_box(ox_lookup_all(&ox_map, &keys));
        })
        .side("oxbpf-hashmap", || {
            black_box(typed_lookup_all(&typed, &keys));
        })
        .side("libbpf-rs", || {
            black_box(libbpf_lookup_all(&lb_map, &keys));
        })
        .side("aya", || {
            black_box(aya_lookup_all(&aya_map, &keys));
        })
        .run(r);
    let update_batch = Paired::new()
        .side("bare", || bare_update_batch(bare_fd, &keys, &values))
        .side("oxbpf", || {
            ox_update_batch(&ox_map, &key_bytes, &value_bytes)
        })
        .side("oxbpf-hashmap", || {
            typed_update_batch(&typed, &keys, &values)
        })
        .side("libbpf-rs", || {
            lb_map
                .update_batch(&key_bytes, &value_bytes, N, MapFlags::ANY, MapFlags::ANY)
                .unwrap()
        })
        .run(r);
    let lookup_batch = {
        let (kb, vb, okb, ovb) = (&mut kb, &mut vb, &mut okb, &mut ovb);
        let (tkb, tvb) = (&mut tkb, &mut tvb);
        let (ox_map, typed) = (&ox_map, &typed);
        Paired::new()
            .side("bare", move || {
                black_box(bare_lookup_batch(bare_fd, kb, vb));
            })
            .side("oxbpf", move || {
                black_box(ox_lookup_batch(ox_map, okb, ovb));
            })
            .side("oxbpf-hashmap", move || {
                black_box(typed_lookup_batch(typed, tkb, tvb));
            })
            .side("libbpf-rs", || {
                let n = lb_map
                    .lookup_batch(N, MapFlags::ANY, MapFlags::ANY)
                    .unwrap()
                    .count();
                black_box(n);
            })
            .run(r)
    };

    let mut c = compare::bench::criterion();
    let elements = Throughput::Elements(u64::from(N));
    {
        let mut g = c.benchmark_group("hash_update");
        g.throughput(elements.clone());
        g.bench_function("bare", |b| {
            b.iter(|| bare_update_all(bare_fd, &keys, &values))
        });
        g.bench_function("oxbpf", |b| {
            b.iter(|| ox_update_all(&ox_map, &keys, &values))
        });
        g.bench_function("oxbpf-hashmap", |b| {
            b.iter(|| typed_update_all(&typed, &keys, &values))
        });
        g.bench_function("libbpf-rs", |b| {
            b.iter(|| libbpf_update_all(&lb_map, &keys, &values))
        });
        g.bench_function("aya", |b| {
            b.iter(|| aya_update_all(&mut aya_map, &keys, &values))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("hash_lookup");
        g.throughput(elements.clone());
        g.bench_function("bare", |b| {
            b.iter(|| black_box(bare_lookup_all(bare_fd, &keys)))
        });
        g.bench_function("oxbpf", |b| {
            b.iter(|| black_box(ox_lookup_all(&ox_map, &keys)))
        });
        g.bench_function("oxbpf-hashmap", |b| {
            b.iter(|| black_box(typed_lookup_all(&typed, &keys)))
        });
        g.bench_function("libbpf-rs", |b| {
            b.iter(|| black_box(libbpf_lookup_all(&lb_map, &keys)))
        });
        g.bench_function("aya", |b| {
            b.iter(|| black_box(aya_lookup_all(&aya_map, &keys)))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("hash_update_batch");
        g.throughput(elements.clone());
        g.bench_function("bare", |b| {
            b.iter(|| bare_update_batch(bare_fd, &keys, &values))
        });
        g.bench_function("oxbpf", |b| {
            b.iter(|| ox_update_batch(&ox_map, &key_bytes, &value_bytes))
        });
        g.bench_function("oxbpf-hashmap", |b| {
            b.iter(|| typed_update_batch(&typed, &keys, &values))
        });
        g.bench_function("libbpf-rs", |b| {
            b.iter(|| {
                lb_map
                    .update_batch(&key_bytes, &value_bytes, N, MapFlags::ANY, MapFlags::ANY)
                    .unwrap()
            })
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("hash_lookup_batch");
        g.throughput(elements);
        g.bench_function("bare", |b| {
            b.iter(|| black_box(bare_lookup_batch(bare_fd, &mut kb, &mut vb)))
        });
        g.bench_function("oxbpf", |b| {
            b.iter(|| black_box(ox_lookup_batch(&ox_map, &mut okb, &mut ovb)))
        });
        g.bench_function("oxbpf-hashmap", |b| {
            b.iter(|| black_box(typed_lookup_batch(&typed, &mut tkb, &mut tvb)))
        });
        g.bench_function("libbpf-rs", |b| {
            b.iter(|| {
                black_box(
                    lb_map
                        .lookup_batch(N, MapFlags::ANY, MapFlags::ANY)
                        .unwrap()
                        .count(),
                )
            })
        });
        g.finish();
    }
    // Keep the fds alive through the run (the bare side's is raw).
    let _ = (ox_map.as_fd().as_raw_fd(), lb_map.as_fd().as_raw_fd());
    // SAFETY: the bare map's fd, owned by nobody else, closed once.
    unsafe { libc::close(bare_fd as i32) };

    let t = |g: &str, id: &str| match g {
        "hash_update" => update.get(id),
        "hash_lookup" => lookup.get(id),
        "hash_update_batch" => update_batch.get(id),
        _ => lookup_batch.get(id),
    };
    let mut table = Table::new("maps");
    let sides = [
        ("oxbpf", "oxbpf (syscall layer)"),
        ("oxbpf-hashmap", "oxbpf HashMap"),
    ];
    for (g, what) in [("hash_update", "update"), ("hash_lookup", "lookup")] {
        for (i, (id, label)) in sides.into_iter().enumerate() {
            table.ratio(
                &format!("HASH {what} per element: {label} / bare bpf(2) loop"),
                ratio(t(g, id), t(g, "bare")),
                Some(Target::AtMost(1.10)),
                match (i, what) {
                    (0, _) => "10k keys per call; medians of paired rounds",
                    (_, "update") => "`HashMap::<u32, u64>::insert`",
                    _ => "`HashMap::<u32, u64>::get`",
                },
            );
            table.ratio(
                &format!("HASH {what} per element: {label} / libbpf-rs"),
                ratio(t(g, id), t(g, "libbpf-rs")),
                None,
                "",
            );
            table.ratio(
                &format!("HASH {what} per element: {label} / aya"),
                ratio(t(g, id), t(g, "aya")),
                None,
                "",
            );
        }
    }
    for (g, single, what) in [
        ("hash_update_batch", "hash_update", "update"),
        ("hash_lookup_batch", "hash_lookup", "lookup"),
    ] {
        for (i, (id, label)) in sides.into_iter().enumerate() {
            table.ratio(
                &format!("HASH {what} batched: {label} / bare bpf(2)"),
                ratio(t(g, id), t(g, "bare")),
                Some(Target::AtMost(1.10)),
                match (i, what) {
                    (0, _) => "one batch of 10k",
                    (_, "update") => "`HashMap::insert_batch`",
                    _ => "`HashMap::get_batch` with a `BatchCursor`",
                },
            );
            table.ratio(
                &format!("HASH {what} batched: {label} / libbpf-rs"),
                ratio(t(g, id), t(g, "libbpf-rs")),
                None,
                if what == "lookup" && i == 0 {
                    "libbpf-rs's iterator yields a Vec pair per element"
                } else {
                    ""
                },
            );
            table.ratio(
                &format!("HASH {what}: {label} batch speed-up over per element"),
                ratio(t(single, id), t(g, id)),
                Some(Target::AtLeast(5.0)),
                if i == 0 {
                    "aya has no batch operations"
                } else {
                    ""
                },
            );
        }
    }
    table.print_and_save();
    c.final_summary();
}
