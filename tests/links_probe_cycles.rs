//! No fd leaks over attach/detach cycles of uprobe.multi (1,000), tracefs uprobes and USDT
//! (200 each: every cycle waits for the kernel's uprobe unregistration, ~80 ms).

mod attach_support;
mod common;

use std::process::Command;

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
fn no_fd_leaks_over_uprobe_multi_tracefs_and_usdt_cycles() {
    let _serial = common::serial();
    require_bpf!();
    assert!(ensure_tracefs());
    let map = counter_map("leak_up");
    let setup = || counting(ProgType::KPROBE, None, &map, None, 0, "leak_up");
    let offset = ElfBinary::open(SELF)
        .unwrap()
        .function_offset("oxbpf_uprobe_target")
        .unwrap();
    let location = UprobeLocation::FileOffset(offset);
    if probe::uprobe_multi_link() {
        let multi = || {
            try_load(&LoadSpec {
                prog_type: ProgType::KPROBE,
                expected: Some(AttachType::TRACE_UPROBE_MULTI),
                attach_btf_id: 0,
                insns: &count_insns(&map, None, 0),
                name: "leak_umulti",
            })
            .unwrap_or_else(|(e, log)| panic!("{e}\n{log}"))
        };
        no_fd_leak("uprobe.multi", 1000, multi, |p| {
            let sites = UprobeMultiLocations::FileOffsets(std::slice::from_ref(&offset));
            drop(
                p.attach_uprobe_multi(SELF, sites, &UprobeMultiOptions::default())
                    .unwrap(),
            )
        });
    }
    no_fd_leak("uprobe (tracefs)", 200, setup, |p| {
        let opts = UprobeOptions {
            force_tracefs: true,
            ..Default::default()
        };
        drop(p.attach_uprobe(SELF, location, &opts).unwrap())
    });

    // USDT: the test program's probe, attached and detached without running it.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("usdt_target");
    let src = common::fixtures_dir().join("usdt/usdt_target.c");
    match Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&target)
        .arg(&src)
        .output()
    {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("SKIPPED USDT cycles: cc: {other:?}");
            return;
        }
    }
    let specs = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: UsdtSpecLayout::LEGACY.spec_size as u32,
        max_entries: 16,
        name: "__bpf_usdt_spec",
        ..Default::default()
    })
    .unwrap();
    let maps = UsdtMaps {
        specs: &specs,
        ip_to_spec_id: None,
    };
    let path = target.to_str().unwrap();
    no_fd_leak_threads("usdt", 200, 1, setup, |p| {
        let opts = UsdtOptions {
            lookup: UsdtSpecLookup::Cookie,
            ..Default::default()
        };
        drop(p.attach_usdt(path, "oxbpf", "tick", &maps, &opts).unwrap())
    });
}
