//! No fd leaks over 1,000 uprobe attach/detach cycles (PMU path). Its own binary: the
//! kernel serializes uprobe unregistration (~80 ms a cycle), so this takes about 90 s.

mod attach_support;
mod common;

use attach_support::*;
use oxbpf::programs::*;
use oxbpf::syscall::*;

const SELF: &str = "/proc/self/exe";

#[no_mangle]
#[inline(never)]
pub extern "C" fn oxbpf_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3)
}

/// Keeps the probed function in the binary (nothing here calls it).
#[used]
static KEEP: extern "C" fn(u64) -> u64 = oxbpf_uprobe_target;

#[test]
fn no_fd_leaks_over_1000_uprobe_cycles() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("leak_up");
    let setup = || counting(ProgType::KPROBE, None, &map, None, 0, "leak_up");
    // Resolve once: the cycles measure attach and detach, not symbol lookup.
    let offset = ElfBinary::open(SELF)
        .unwrap()
        .function_offset("oxbpf_uprobe_target")
        .unwrap();
    let location = UprobeLocation::FileOffset(offset);
    no_fd_leak("uprobe (PMU)", 1000, setup, |p| {
        drop(
            p.attach_uprobe(SELF, location, &UprobeOptions::default())
                .unwrap(),
        )
    });
}
