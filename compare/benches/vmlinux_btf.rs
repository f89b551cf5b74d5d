//! vmlinux BTF: from `/sys/kernel/btf/vmlinux` to a state that answers name lookups, then six
//! lookups (four structs, two typedefs) — oxbpf vs libbpf vs aya-obj, time and heap kept.
//!
//! Each iteration includes getting the bytes, as each library does it:
//! - oxbpf: `MappedFile::open` (mmap of the sysfs file) + `Btf::parse_shared` +
//!   `id_by_name_kind` (the first lookup builds the name index);
//! - libbpf: `btf__load_vmlinux_btf` (mmaps the sysfs file, what libbpf's loader uses) +
//!   `btf__find_by_name_kind`; and `btf__parse(path)` (reads it into the heap) as a second row;
//! - aya-obj: `Btf::from_sys_fs` (reads the file, parses into owned types) +
//!   `id_by_type_name_kind`.
//!
//! malloc is made steady first (`heap::steady_malloc`: no mmapped chunks, no trimming), so that
//! no side's time depends on the allocation history another side left.
//!
//! Heap kept: the counting allocator (Rust sides) and glibc's `mallinfo2` (every side: libbpf
//! allocates with malloc, and so does Rust's system allocator) with the result alive, after
//! one warm-up run of each. The time ratios come from paired rounds ([`Paired`]); criterion's
//! runs give the absolute figures beside them.

use std::hint::black_box;
use std::sync::Arc;

use compare::bench::{ratio, rounds, Paired};
use compare::heap::{kept, kib, malloc_kept, Counting};
use compare::summary::{Table, Target};
use criterion::Criterion;
use libbpf_sys as sys;
use oxbpf::btf::{Btf, BtfKind};
use oxbpf::syscall::MappedFile;

#[global_allocator]
static GLOBAL: Counting = Counting;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const STRUCTS: [&str; 4] = ["task_struct", "sk_buff", "file", "bpf_prog"];
const TYPEDEFS: [&str; 2] = ["pid_t", "u64"];
const C_STRUCTS: [&std::ffi::CStr; 4] = [c"task_struct", c"sk_buff", c"file", c"bpf_prog"];
const C_TYPEDEFS: [&std::ffi::CStr; 2] = [c"pid_t", c"u64"];
const GROUP: &str = "vmlinux_btf";

fn oxbpf_side() -> Btf {
    let data = MappedFile::open(VMLINUX).expect("open vmlinux BTF");
    let btf = Btf::parse_shared(Arc::new(data)).expect("oxbpf parses vmlinux");
    for n in STRUCTS {
        black_box(btf.id_by_name_kind(n, BtfKind::Struct).expect(n));
    }
    for n in TYPEDEFS {
        black_box(btf.id_by_name_kind(n, BtfKind::Typedef).expect(n));
    }
    btf
}

fn aya_side() -> aya_obj::btf::Btf {
    use aya_obj::btf::BtfKind as K;
    let btf = aya_obj::btf::Btf::from_sys_fs().expect("aya parses vmlinux");
    for n in STRUCTS {
        black_box(btf.id_by_type_name_kind(n, K::Struct).expect(n));
    }
    for n in TYPEDEFS {
        black_box(btf.id_by_type_name_kind(n, K::Typedef).expect(n));
    }
    btf
}

/// A libbpf `struct btf`, freed on drop.
struct LibbpfBtf(*mut sys::btf);

impl Drop for LibbpfBtf {
    fn drop(&mut self) {
        // SAFETY: a valid btf from libbpf, freed once.
        unsafe { sys::btf__free(self.0) };
    }
}

fn libbpf_lookups(btf: *mut sys::btf) -> LibbpfBtf {
    assert!(!btf.is_null(), "libbpf parses vmlinux");
    let btf = LibbpfBtf(btf);
    for n in C_STRUCTS {
        // SAFETY: a valid btf and a NUL-terminated name.
        let id = unsafe { sys::btf__find_by_name_kind(btf.0, n.as_ptr(), sys::BTF_KIND_STRUCT) };
        assert!(id > 0, "{n:?}");
        black_box(id);
    }
    for n in C_TYPEDEFS {
        // SAFETY: as above.
        let id = unsafe { sys::btf__find_by_name_kind(btf.0, n.as_ptr(), sys::BTF_KIND_TYPEDEF) };
        assert!(id > 0, "{n:?}");
        black_box(id);
    }
    btf
}

fn libbpf_mmap_side() -> LibbpfBtf {
    // SAFETY: no arguments; returns an owned btf or null.
    libbpf_lookups(unsafe { sys::btf__load_vmlinux_btf() })
}

fn libbpf_parse_side() -> LibbpfBtf {
    const PATH: &std::ffi::CStr = c"/sys/kernel/btf/vmlinux";
    // SAFETY: a NUL-terminated path; no BTF.ext wanted.
    libbpf_lookups(unsafe { sys::btf__parse(PATH.as_ptr(), std::ptr::null_mut()) })
}

fn main() {
    let raw_len = match std::fs::metadata(VMLINUX) {
        Ok(m) => m.len() as isize,
        Err(e) => {
            eprintln!("SKIPPED vmlinux_btf: {VMLINUX}: {e}");
            return;
        }
    };
    compare::heap::steady_malloc();
    // Quiet: libbpf's default logger prints nothing for these, but keep it that way.
    libbpf_rs::set_print(None);

    // Warm-up (one-time allocations: stdio, libbpf's caches), then heap kept.
    drop((
        oxbpf_side(),
        aya_side(),
        libbpf_mmap_side(),
        libbpf_parse_side(),
    ));
    let (ox_counted, ox) = kept(oxbpf_side);
    drop(ox);
    let (ox_heap, ox) = malloc_kept(oxbpf_side);
    let types = ox.last_id();
    drop(ox);
    let (aya_counted, aya) = kept(aya_side);
    drop(aya);
    let (aya_heap, aya) = malloc_kept(aya_side);
    drop(aya);
    let (lb_heap, lb) = malloc_kept(libbpf_mmap_side);
    drop(lb);
    let (lbp_heap, lbp) = malloc_kept(libbpf_parse_side);
    drop(lbp);
    let lbp_beyond = lbp_heap - raw_len;
    eprintln!(
        "heap kept ({types} types, {} raw bytes): oxbpf {} (counted {}), libbpf mmap {}, \
         libbpf btf__parse {} beyond the raw bytes, aya-obj {} (counted {})",
        raw_len,
        kib(ox_heap),
        kib(ox_counted),
        kib(lb_heap),
        kib(lbp_beyond),
        kib(aya_heap),
        kib(aya_counted)
    );

    let m = Paired::new()
        .side("oxbpf", || drop(black_box(oxbpf_side())))
        .side("libbpf", || drop(black_box(libbpf_mmap_side())))
        .side("libbpf_btf__parse", || drop(black_box(libbpf_parse_side())))
        .side("aya-obj", || drop(black_box(aya_side())))
        .run(rounds(50));
    eprintln!("paired medians: {m}");

    let mut c: Criterion = compare::bench::criterion();
    {
        let mut g = c.benchmark_group(GROUP);
        g.sample_size(20);
        g.bench_function("oxbpf", |b| b.iter(|| black_box(oxbpf_side())));
        g.bench_function("libbpf", |b| b.iter(|| black_box(libbpf_mmap_side())));
        g.bench_function("libbpf_btf__parse", |b| {
            b.iter(|| black_box(libbpf_parse_side()))
        });
        g.bench_function("aya-obj", |b| b.iter(|| black_box(aya_side())));
        g.finish();
    }

    let t = |id| m.get(id);
    let mut table = Table::new("vmlinux_btf");
    table.ratio(
        "vmlinux BTF parse + 6 lookups, time: oxbpf / libbpf (btf__load_vmlinux_btf, mmap)",
        ratio(t("oxbpf"), t("libbpf")),
        Some(Target::AtMost(0.5)),
        "medians of paired rounds",
    );
    table.ratio(
        "vmlinux BTF parse + 6 lookups, time: oxbpf / libbpf (btf__parse, read)",
        ratio(t("oxbpf"), t("libbpf_btf__parse")),
        None,
        "",
    );
    table.ratio(
        "vmlinux BTF parse + 6 lookups, time: oxbpf / aya-obj (Btf::from_sys_fs)",
        ratio(t("oxbpf"), t("aya-obj")),
        Some(Target::AtMost(0.2)),
        "",
    );
    table.value(
        "vmlinux BTF heap kept: oxbpf",
        &kib(ox_heap),
        "≤ 2048 KiB",
        Some(ox_heap <= 2 << 20),
        &format!("mallinfo2 delta; counting allocator: {}", kib(ox_counted)),
    );
    table.value(
        "vmlinux BTF heap kept: libbpf (mmap) / libbpf (btf__parse, beyond raw)",
        &format!("{} / {}", kib(lb_heap), kib(lbp_beyond)),
        "",
        None,
        "mallinfo2 delta",
    );
    table.value(
        "vmlinux BTF heap kept: aya-obj",
        &kib(aya_heap),
        "",
        None,
        &format!("mallinfo2 delta; counting allocator: {}", kib(aya_counted)),
    );
    table.ratio(
        "vmlinux BTF heap kept: oxbpf / libbpf (mmap)",
        ratio(Some(ox_heap as f64), Some(lb_heap as f64)),
        None,
        "",
    );
    table.ratio(
        "vmlinux BTF heap kept: oxbpf / aya-obj",
        ratio(Some(ox_heap as f64), Some(aya_heap as f64)),
        None,
        "",
    );
    table.print_and_save();
    c.final_summary();
}
