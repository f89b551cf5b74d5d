//! Soak: load → attach → run → detach → drop, over and over, over several program kinds;
//! the fd count must stay put and the RSS must not grow. `OXBPF_SOAK_CYCLES` sets the cycles
//! (CI runs a few hundred; the figures in the issue notes come from 10,000).

mod common;

use std::path::Path;

use common::{fd_count, fixture_pair, serial};
use oxbpf::loader::Loader;
use oxbpf::object::Object;
use oxbpf::syscall::{prog_test_run, TestRun};

fn cycles() -> usize {
    std::env::var("OXBPF_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn run(fd: std::os::fd::BorrowedFd<'_>) -> u32 {
    let pkt = [0u8; 64];
    let mut t = TestRun {
        data_in: &pkt,
        ..Default::default()
    };
    prog_test_run(fd, &mut t).expect("test run").retval
}

/// One cycle over every kind: socket filters with maps and globals (run), tail calls, and
/// tracepoints attached from their sections (fired by an open, detached).
fn cycle(demo: &Path, globals: &Path, tail: &Path) {
    let g = Loader::new().load(Object::open(globals).unwrap()).unwrap();
    assert_eq!(run(g.program("read_globals").unwrap().fd()), 3);
    drop(g);

    let t = Loader::new().load(Object::open(tail).unwrap()).unwrap();
    assert_eq!(run(t.program("entry").unwrap().fd()), 103);
    drop(t);

    let d = Loader::new().load(Object::open(demo).unwrap()).unwrap();
    let links = d.attach_all().unwrap();
    assert_eq!(links.len(), 3);
    drop(std::fs::File::open("/proc/self/stat").unwrap());
    drop(links);
    drop(d);
}

#[test]
fn load_attach_run_detach_cycles_leak_nothing() {
    require_bpf!();
    let _s = serial();
    assert!(common::ensure_tracefs());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("cli/bpf/demo.bpf.o");
    let globals = fixture_pair("object", "globals").pop().unwrap();
    let tail = fixture_pair("loader", "tailcall").pop().unwrap();
    // Warm the per-process caches (vmlinux, kallsyms, feature probes) and the allocator.
    for _ in 0..20 {
        cycle(&demo, &globals, &tail);
    }
    let fds = fd_count();
    let rss = rss_kib();
    let n = cycles();
    let started = std::time::Instant::now();
    for _ in 0..n {
        cycle(&demo, &globals, &tail);
    }
    let grown = rss_kib().saturating_sub(rss);
    println!(
        "{n} cycles (x3 objects) in {:.1?}: fd delta {}, RSS {rss} KiB -> +{grown} KiB",
        started.elapsed(),
        fd_count() as i64 - fds as i64
    );
    assert_eq!(fd_count(), fds, "fd count after {n} cycles");
    assert!(grown < 1024, "RSS grew {grown} KiB over {n} cycles");
}
