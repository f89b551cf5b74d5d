//! The rtnetlink layer against the running kernel, in a test-made network namespace: XDP
//! attach/query/replace/detach, the clsact qdisc, cls_bpf filters (add, dump, replace,
//! delete), and errors carrying the kernel's extended-ack message.

mod attach_support;
mod common;

use std::os::fd::AsFd;

use attach_support::*;
use nix::errno::Errno;
use oxbpf::syscall::*;

#[test]
fn xdp_and_tc_over_netlink() {
    let _serial = common::serial();
    require_bpf!();
    let Some(ns) = Netns::new("rtnl") else { return };
    run(&[
        "ip", "-n", &ns.name, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    let map = counter_map("rtnl");
    let xdp_a = counting(
        ProgType::XDP,
        Some(AttachType::XDP),
        &map,
        None,
        2,
        "rtnl_a",
    );
    let xdp_b = counting(
        ProgType::XDP,
        Some(AttachType::XDP),
        &map,
        None,
        2,
        "rtnl_b",
    );
    let cls = counting(ProgType::SCHED_CLS, None, &map, None, 0, "rtnl_cls");
    let cls2 = counting(ProgType::SCHED_CLS, None, &map, None, 0, "rtnl_cls2");
    let (ida, idb) = (xdp_a.id().unwrap(), xdp_b.id().unwrap());
    let before = common::fd_count();
    ns.run(|| {
        let ifindex = oxbpf::programs::ifindex("v0").unwrap();
        let skb = XdpFlags::SKB_MODE;
        // Attach, query, refuse a second with UPDATE_IF_NOEXIST, replace, detach.
        netlink_xdp_attach(ifindex, Some(xdp_a.as_fd()), skb, None).unwrap();
        let state = netlink_xdp_query(ifindex).unwrap();
        assert_eq!((state.attached, state.skb_prog_id), (2, ida), "{state:?}");
        let busy = netlink_xdp_attach(
            ifindex,
            Some(xdp_b.as_fd()),
            skb | XdpFlags::UPDATE_IF_NOEXIST,
            None,
        )
        .unwrap_err();
        assert_eq!(busy.errno, Errno::EBUSY);
        assert_eq!(busy.command, Call::Netlink("RTM_SETLINK"));
        // Replacing a program that is not the attached one: EEXIST.
        let wrong =
            netlink_xdp_attach(ifindex, Some(xdp_a.as_fd()), skb, Some(xdp_b.as_fd())).unwrap_err();
        assert_eq!(wrong.errno, Errno::EEXIST);
        netlink_xdp_attach(ifindex, Some(xdp_b.as_fd()), skb, Some(xdp_a.as_fd())).unwrap();
        assert_eq!(netlink_xdp_query(ifindex).unwrap().skb_prog_id, idb);
        netlink_xdp_attach(ifindex, None, skb, None).unwrap();
        assert_eq!(netlink_xdp_query(ifindex).unwrap(), XdpState::default());
        // The kernel explains what it refuses: native XDP on loopback (no driver support).
        let hw = netlink_xdp_attach(1, Some(xdp_a.as_fd()), XdpFlags::DRV_MODE, None).unwrap_err();
        match &hw.hint {
            Some(Hint::Kernel(text)) => assert!(!text.is_empty()),
            other => panic!("no extended ack for {hw}: {other:?}"),
        }
        assert!(hw.to_string().contains("the kernel says"), "{hw}");
        eprintln!("{hw}");

        // clsact: created once.
        assert!(netlink_clsact_add(ifindex).unwrap());
        assert!(!netlink_clsact_add(ifindex).unwrap());
        let add = |prog: &oxbpf::programs::Program, handle, priority, replace| {
            netlink_tc_filter_add(&TcFilterAdd {
                ifindex,
                parent: TC_PARENT_INGRESS,
                handle,
                priority,
                protocol: ETH_P_ALL,
                prog: prog.as_fd(),
                name: prog.name(),
                direct_action: true,
                replace,
            })
        };
        let f1 = add(&cls, 0, 0, false).unwrap();
        assert!(
            f1.handle != 0 && f1.priority != 0,
            "the kernel picked them: {f1:?}"
        );
        assert_eq!(f1.prog_id, cls.id().unwrap());
        let f2 = add(&cls2, 7, 10, false).unwrap();
        assert_eq!((f2.handle, f2.priority), (7, 10));
        let dup = add(&cls2, 7, 10, false).unwrap_err();
        assert_eq!(dup.errno, Errno::EEXIST);
        let mut listed = netlink_tc_filters(ifindex, TC_PARENT_INGRESS).unwrap();
        listed.sort_by_key(|f| f.priority);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[0], f2);
        assert_eq!(listed[1].name, "rtnl_cls");
        assert!(listed
            .iter()
            .all(|f| f.direct_action && f.protocol == ETH_P_ALL));
        // Replace f2's program, then delete both.
        let r = add(&cls, 7, 10, true).unwrap();
        assert_eq!(r.prog_id, cls.id().unwrap());
        for f in [&f1, &f2] {
            netlink_tc_filter_del(ifindex, f.parent, f.handle, f.priority, f.protocol).unwrap();
        }
        let gone = netlink_tc_filter_del(ifindex, f2.parent, f2.handle, f2.priority, f2.protocol)
            .unwrap_err();
        assert_eq!(gone.errno, Errno::ENOENT);
        assert!(netlink_tc_filters(ifindex, TC_PARENT_INGRESS)
            .unwrap()
            .is_empty());
        assert!(netlink_tc_filters(ifindex, TC_PARENT_EGRESS)
            .unwrap()
            .is_empty());
        netlink_clsact_del(ifindex).unwrap();
        assert!(
            netlink_clsact_add(ifindex).unwrap(),
            "deleted, so created again"
        );
        netlink_clsact_del(ifindex).unwrap();
    });
    assert_eq!(common::fd_count(), before, "every netlink socket closed");
}
