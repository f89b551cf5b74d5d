//! No fd leaks over 1,000 XDP attach/detach cycles, through links and netlink. Its own
//! binary: each XDP change waits for the kernel (~30 ms), about 70 s in all.

mod attach_support;
mod common;

use attach_support::*;
use oxbpf::programs::*;
use oxbpf::syscall::*;

const XDP_PASS: i32 = 2;

#[test]
fn no_fd_leaks_over_1000_xdp_cycles() {
    let _serial = common::serial();
    require_bpf!();
    let Some(pair) = VethPair::new("leakxdp") else {
        return;
    };
    let ifb = VethPair::ifindex(&pair.ns_b, "vb");
    let map = counter_map("leak_xdp");
    // XDP admits one program per interface and mode: one thread.
    let xdp = counting(
        ProgType::XDP,
        Some(AttachType::XDP),
        &map,
        None,
        XDP_PASS,
        "leak_xdp",
    );
    VethPair::in_ns(&pair.ns_b, || {
        for (what, method) in [
            ("xdp link", AttachMethod::Auto),
            ("xdp netlink", AttachMethod::Legacy),
        ] {
            no_fd_leak_threads(
                what,
                1000,
                1,
                || (),
                |_| {
                    let opts = XdpOptions {
                        flags: XdpFlags::SKB_MODE,
                        method,
                        replace: None,
                    };
                    drop(xdp.attach_xdp(ifb, &opts).unwrap())
                },
            );
        }
    });
}
