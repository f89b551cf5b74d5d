//! vmlinux BTF: parse and answer name lookups, oxbpf side by side with aya-obj 0.3.
//!
//! Also prints the heap each keeps after the lookups (counted by a global allocator), beyond
//! the raw bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf::btf::{Btf, BtfBytes, BtfKind};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STRUCTS: [&str; 4] = ["task_struct", "sk_buff", "file", "bpf_prog"];
const TYPEDEFS: [&str; 2] = ["pid_t", "u64"];
const FUNCS: [&str; 2] = ["bpf_map_lookup_elem", "do_sys_openat2"];

fn oxbpf_lookups(data: &BtfBytes) -> Btf {
    let btf = Btf::parse_shared(data.clone()).expect("oxbpf parses vmlinux");
    for n in STRUCTS {
        black_box(btf.id_by_name_kind(n, BtfKind::Struct).expect(n));
    }
    for n in TYPEDEFS {
        black_box(btf.id_by_name_kind(n, BtfKind::Typedef).expect(n));
    }
    btf
}

fn aya_lookups(data: &[u8]) -> aya_obj::btf::Btf {
    let btf = aya_obj::btf::Btf::parse(data, Default::default()).expect("aya parses vmlinux");
    for n in STRUCTS {
        black_box(
            btf.id_by_type_name_kind(n, aya_obj::btf::BtfKind::Struct)
                .expect(n),
        );
    }
    for n in TYPEDEFS {
        black_box(
            btf.id_by_type_name_kind(n, aya_obj::btf::BtfKind::Typedef)
                .expect(n),
        );
    }
    btf
}

/// Lookups of FUNCs (kfuncs, attach targets), which oxbpf indexes separately.
fn oxbpf_func_lookups(data: &BtfBytes) -> Btf {
    let btf = oxbpf_lookups(data);
    for n in FUNCS {
        black_box(btf.id_by_name_kind(n, BtfKind::Func).expect(n));
    }
    btf
}

fn aya_func_lookups(data: &[u8]) -> aya_obj::btf::Btf {
    let btf = aya_lookups(data);
    for n in FUNCS {
        black_box(
            btf.id_by_type_name_kind(n, aya_obj::btf::BtfKind::Func)
                .expect(n),
        );
    }
    btf
}

fn heap_kept<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let v = f();
    (LIVE.load(Ordering::Relaxed) - before, v)
}

fn bench(c: &mut Criterion) {
    let raw = match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("skipping: cannot read /sys/kernel/btf/vmlinux: {e}");
            return;
        }
    };
    let shared: BtfBytes = Arc::new(raw.clone());

    let (ox_heap, ox) = heap_kept(|| oxbpf_lookups(&shared));
    let (aya_heap, aya) = heap_kept(|| aya_lookups(&raw));
    eprintln!(
        "heap kept beyond the {} raw bytes: oxbpf {} KiB ({} types), aya-obj {} KiB ({:.1}x oxbpf)",
        raw.len(),
        ox_heap / 1024,
        ox.last_id(),
        aya_heap / 1024,
        aya_heap as f64 / ox_heap.max(1) as f64
    );
    drop((ox, aya));
    let (ox_heap, ox) = heap_kept(|| oxbpf_func_lookups(&shared));
    eprintln!(
        "with the FUNC index too: oxbpf {} KiB (heap_size() says {} KiB)",
        ox_heap / 1024,
        ox.heap_size() / 1024
    );
    drop(ox);

    let mut g = c.benchmark_group("vmlinux_parse_and_lookup");
    g.sample_size(20);
    g.bench_function("oxbpf", |b| b.iter(|| black_box(oxbpf_lookups(&shared))));
    g.bench_function("aya-obj", |b| b.iter(|| black_box(aya_lookups(&raw))));
    g.finish();

    let mut g = c.benchmark_group("vmlinux_parse_and_lookup_with_funcs");
    g.sample_size(20);
    g.bench_function("oxbpf", |b| {
        b.iter(|| black_box(oxbpf_func_lookups(&shared)))
    });
    g.bench_function("aya-obj", |b| b.iter(|| black_box(aya_func_lookups(&raw))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
