//! No fd leaks over 1,000 attach/detach cycles of each network attachment other than XDP
//! (netlink TC, tcx, socket filter, sockmap, netfilter, sk_lookup, flow dissector). tcx
//! changes wait for the kernel (~30 ms each): about 40 s.

mod attach_support;
mod common;

use std::net::UdpSocket;
use std::os::fd::AsFd;

use attach_support::*;
use oxbpf::programs::*;
use oxbpf::syscall::*;

const TC_ACT_OK: i32 = 0;

fn tc_prog(map: &MapFd, ret: i32, name: &str) -> Program {
    counting(ProgType::SCHED_CLS, None, map, None, ret, name)
}

#[test]
fn no_fd_leaks_over_1000_network_cycles() {
    let _serial = common::serial();
    require_bpf!();
    let Some(pair) = VethPair::new("leak") else {
        return;
    };
    let ifb = VethPair::ifindex(&pair.ns_b, "vb");
    let map = counter_map("leak_net");
    VethPair::in_ns(&pair.ns_b, || {
        let tc = || tc_prog(&map, TC_ACT_OK, "leak_tc");
        no_fd_leak_threads("tc netlink", 1000, 1, tc, |p| {
            let opts = TcOptions {
                method: AttachMethod::Legacy,
                ..Default::default()
            };
            drop(p.attach_tc(ifb, &opts).unwrap())
        });
        if probe::tcx() {
            no_fd_leak("tcx", 1000, tc, |p| {
                drop(p.attach_tc(ifb, &TcOptions::default()).unwrap())
            });
        }
    });
    let sf = || counting(ProgType::SOCKET_FILTER, None, &map, None, -1, "leak_sf");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    no_fd_leak("socket filter", 1000, sf, |p| {
        drop(p.attach_socket_filter(sock.as_fd()).unwrap())
    });
    let sockmap = map_create(&MapCreate {
        map_type: MapType::SOCKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: 2,
        name: "leak_sockmap",
        ..Default::default()
    })
    .unwrap();
    let verdict = || {
        counting(
            ProgType::SK_SKB,
            Some(AttachType::SK_SKB_STREAM_VERDICT),
            &map,
            None,
            1,
            "leak_verdict",
        )
    };
    // A sockmap takes one verdict program: one thread.
    for method in [AttachMethod::Legacy, AttachMethod::Auto] {
        no_fd_leak_threads(&format!("sockmap {method:?}"), 1000, 1, verdict, |p| {
            drop(p.attach_sockmap(sockmap.as_fd(), None, method).unwrap())
        });
    }
    let Some(ns) = Netns::new("leaknf") else {
        return;
    };
    ns.run(|| {
        // One priority per thread: a hook takes each priority once.
        let next = std::sync::atomic::AtomicI32::new(-100);
        let nf = || {
            let prog = try_load(&LoadSpec {
                prog_type: ProgType::NETFILTER,
                expected: Some(AttachType::NETFILTER),
                attach_btf_id: 0,
                insns: &count_insns(&map, None, 1),
                name: "leak_nf",
            })
            .ok();
            (
                prog,
                next.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            )
        };
        if nf().0.is_some() {
            no_fd_leak("netfilter", 1000, nf, |(p, priority)| {
                let opts = NetfilterOptions {
                    priority: *priority,
                    ..Default::default()
                };
                drop(p.as_ref().unwrap().attach_netfilter(&opts).unwrap())
            });
        }
        let netns = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
        let skl = || {
            counting(
                ProgType::SK_LOOKUP,
                Some(AttachType::SK_LOOKUP),
                &map,
                None,
                1,
                "leak_skl",
            )
        };
        no_fd_leak("sk_lookup", 1000, skl, |p| {
            drop(p.attach_netns(netns.as_fd(), AttachMethod::Auto).unwrap())
        });
        // A namespace takes one flow dissector: one thread.
        let flow = || {
            counting(
                ProgType::FLOW_DISSECTOR,
                Some(AttachType::FLOW_DISSECTOR),
                &map,
                None,
                0,
                "leak_flow",
            )
        };
        for method in [AttachMethod::Auto, AttachMethod::Legacy] {
            no_fd_leak_threads(&format!("flow dissector {method:?}"), 1000, 1, flow, |p| {
                drop(p.attach_netns(netns.as_fd(), method).unwrap())
            });
        }
    });
}
