//! Heap accounting for the benchmarks.
//!
//! Two methods, both documented in `BENCHMARKS.md`:
//! - [`Counting`], a global allocator that forwards to the system allocator and counts the
//!   bytes live and the allocations made; a bench binary installs it with `#[global_allocator]`. It sees Rust
//!   allocations only.
//! - [`malloc_in_use`], glibc's `mallinfo2()`: bytes in use in the malloc arenas
//!   (`uordblks`) plus bytes in mmapped chunks (`hblkhd`). It sees C (libbpf) allocations and
//!   Rust ones alike (Rust's system allocator is glibc malloc), chunk overhead included.
//!
//! [`kept`] and [`malloc_kept`] measure what a closure leaves allocated while its result is
//! alive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// A counting global allocator (install with `#[global_allocator]`).
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

/// Bytes live through [`Counting`] (0 if it is not the global allocator).
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations (and reallocations) made through [`Counting`] so far.
pub fn allocations() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

/// Runs `f`; returns the bytes (counted by [`Counting`]) its result keeps, and the result.
pub fn kept<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let before = live();
    let v = f();
    (live() - before, v)
}

/// glibc's bytes in use: `uordblks + hblkhd` of `mallinfo2()`.
pub fn malloc_in_use() -> usize {
    // SAFETY: mallinfo2 only reads allocator statistics.
    let m = unsafe { libc::mallinfo2() };
    m.uordblks + m.hblkhd
}

/// Runs `f`; returns the malloc bytes (per [`malloc_in_use`]) its result keeps, and the
/// result.
pub fn malloc_kept<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let before = malloc_in_use();
    let v = f();
    (malloc_in_use() as isize - before as isize, v)
}

/// Makes glibc malloc's behaviour independent of what ran before: every allocation from the
/// heap (no per-allocation mmap), freed memory kept for reuse (no trimming). Without this,
/// whether a multi-MiB buffer costs fresh page faults depends on the allocation history
/// (glibc's mmap threshold adapts to earlier frees), so sides that run in turn (paired
/// rounds) would pay for each other. Call once at the start of a bench, before measuring.
pub fn steady_malloc() {
    // SAFETY: mallopt only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Bytes as KiB, for tables.
pub fn kib(bytes: isize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}
