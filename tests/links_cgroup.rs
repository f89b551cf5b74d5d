//! cgroup attachments proven with a child process moved into a test cgroup: connect4 allow
//! and deny (link and BPF_PROG_ATTACH, multi/override/exclusive, update), sockops on its TCP
//! connections, cgroup_skb egress, queries, and fd-leak cycles.

mod attach_support;
mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;

use attach_support::*;
use oxbpf::programs::query;
use oxbpf::programs::*;
use oxbpf::syscall::*;

const CG_PROCS: &str = "OXBPF_TEST_CGROUP_PROCS";
const ACTION: &str = "OXBPF_TEST_ACTION";

/// Child side: joins the cgroup, then does `OXBPF_TEST_ACTION`
/// (`tcp ADDR ok|eperm` or `udp ADDR ok|eperm`) and fails if the outcome differs.
#[test]
#[ignore = "helper run by the cgroup tests"]
fn child_in_cgroup() {
    let procs = std::env::var(CG_PROCS).expect("cgroup.procs path");
    std::fs::write(&procs, std::process::id().to_string()).unwrap();
    let action = std::env::var(ACTION).unwrap();
    let mut words = action.split_whitespace();
    let (kind, addr, expect) = (
        words.next().unwrap(),
        words.next().unwrap(),
        words.next().unwrap(),
    );
    let result = match kind {
        "tcp" => TcpStream::connect(addr).map(drop),
        "udp" => UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.send_to(b"cg", addr))
            .map(drop),
        other => panic!("unknown action {other}"),
    };
    match (expect, result) {
        ("ok", Ok(())) => {}
        ("eperm", Err(e)) if e.raw_os_error() == Some(libc::EPERM) => {}
        (want, got) => panic!("{kind} {addr}: wanted {want}, got {got:?}"),
    }
}

fn child(cg: &Cgroup, action: &str) -> bool {
    let procs = cg.child.join("cgroup.procs");
    run_child(
        "child_in_cgroup",
        &[(CG_PROCS, procs.to_str().unwrap()), (ACTION, action)],
    )
}

fn connect4(map: &MapFd, ret: i32, name: &str) -> Program {
    counting(
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_CONNECT),
        map,
        None,
        ret,
        name,
    )
}

#[test]
fn connect4_allow_and_deny_until_the_links_drop() {
    let _serial = common::serial();
    require_bpf!();
    let Some(cg) = Cgroup::new("connect4") else {
        return;
    };
    let dir = cg.open();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tcp = |expect: &str| format!("tcp {addr} {expect}");
    let allow_map = counter_map("cg_allow");
    let deny_map = counter_map("cg_deny");
    let allow = connect4(&allow_map, 1, "cg_allow");
    let deny = connect4(&deny_map, 0, "cg_deny");
    let before = common::fd_count();
    for method in [AttachMethod::Auto, AttachMethod::Legacy] {
        let what = format!("{method:?}");
        let opts = CgroupOptions {
            method,
            ..Default::default()
        };
        let allow_link = allow.attach_cgroup(dir.as_fd(), &opts).unwrap();
        assert!(child(&cg, &tcp("ok")), "{what}: allowed connect");
        assert_eq!(counter(&allow_map), 1, "{what}: one connect, one run");
        let deny_link = deny.attach_cgroup(dir.as_fd(), &opts).unwrap();
        let q =
            query::cgroup_programs(dir.as_fd(), AttachType::CGROUP_INET4_CONNECT, false).unwrap();
        let ids: Vec<u32> = q.programs.iter().map(|p| p.prog_id).collect();
        assert_eq!(ids, vec![allow.id().unwrap(), deny.id().unwrap()], "{what}");
        assert!(child(&cg, &tcp("eperm")), "{what}: denied connect");
        assert_eq!(counter(&deny_map), 1);
        drop(deny_link);
        assert!(child(&cg, &tcp("ok")), "{what}: allowed again");
        drop(allow_link);
        assert!(child(&cg, &tcp("ok")));
        assert_eq!(counter(&allow_map), 3, "{what}: no run after detach");
        let q =
            query::cgroup_programs(dir.as_fd(), AttachType::CGROUP_INET4_CONNECT, false).unwrap();
        assert!(q.programs.is_empty(), "{what}: {q:?}");
        for m in [&allow_map, &deny_map] {
            map_update_elem(m, &0u32.to_ne_bytes(), &0u64.to_ne_bytes(), ElemFlags::ANY).unwrap();
        }
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn cgroup_update_and_sharing_modes() {
    let _serial = common::serial();
    require_bpf!();
    let Some(cg) = Cgroup::new("cgmodes") else {
        return;
    };
    let dir = cg.open();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let map = counter_map("cg_modes");
    let allow = connect4(&map, 1, "cg_allow2");
    let deny = connect4(&map, 0, "cg_deny2");
    for method in [AttachMethod::Auto, AttachMethod::Legacy] {
        let mut link = allow
            .attach_cgroup(
                dir.as_fd(),
                &CgroupOptions {
                    method,
                    ..Default::default()
                },
            )
            .unwrap();
        link.update(&deny).unwrap();
        assert!(
            child(&cg, &format!("tcp {addr} eperm")),
            "{method:?}: updated to deny"
        );
        drop(link);
        assert!(
            child(&cg, &format!("tcp {addr} ok")),
            "{method:?}: detached"
        );
    }
    // Exclusive and override attachments: one program, replaced by the next attach.
    for mode in [CgroupMode::Exclusive, CgroupMode::Override] {
        let opts = CgroupOptions {
            method: AttachMethod::Legacy,
            mode,
            ..Default::default()
        };
        let link = deny.attach_cgroup(dir.as_fd(), &opts).unwrap();
        assert_eq!(link.method(), LinkMethod::ProgAttach);
        let q =
            query::cgroup_programs(dir.as_fd(), AttachType::CGROUP_INET4_CONNECT, false).unwrap();
        let want = match mode {
            CgroupMode::Override => AttachFlags::ALLOW_OVERRIDE,
            _ => AttachFlags::empty(),
        };
        assert_eq!(q.attach_flags, want, "{mode:?}");
        assert!(child(&cg, &format!("tcp {addr} eperm")), "{mode:?}");
        drop(link);
        assert!(child(&cg, &format!("tcp {addr} ok")), "{mode:?}: detached");
    }
    // No attach type to be found: a clear error.
    let untyped = counting(ProgType::CGROUP_SKB, None, &map, None, 1, "cg_untyped");
    let err = untyped
        .attach_cgroup(dir.as_fd(), &CgroupOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("attach type"), "{err}");
}

#[test]
fn sockops_and_cgroup_skb_run_until_the_links_drop() {
    let _serial = common::serial();
    require_bpf!();
    let Some(cg) = Cgroup::new("sockops") else {
        return;
    };
    let dir = cg.open();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let map = counter_map("sockops");
    let sockops = counting(
        ProgType::SOCK_OPS,
        Some(AttachType::CGROUP_SOCK_OPS),
        &map,
        None,
        1,
        "sockops",
    );
    let link = sockops.attach_sockops(dir.as_fd()).unwrap();
    assert!(child(&cg, &format!("tcp {addr} ok")));
    let c = counter(&map);
    assert!(c >= 1, "sockops saw the connection's callbacks");
    drop(link);
    assert!(child(&cg, &format!("tcp {addr} ok")));
    assert_eq!(counter(&map), c, "no callbacks after detach");

    // cgroup_skb egress returning 0 drops what the child sends (EPERM to the sender).
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uaddr = udp.local_addr().unwrap().to_string();
    let skb_map = counter_map("cgskb");
    let drop_egress = counting(
        ProgType::CGROUP_SKB,
        Some(AttachType::CGROUP_INET_EGRESS),
        &skb_map,
        None,
        0,
        "cgskb_drop",
    );
    let link = drop_egress
        .attach_cgroup(dir.as_fd(), &CgroupOptions::default())
        .unwrap();
    assert!(child(&cg, &format!("udp {uaddr} eperm")));
    assert!(counter(&skb_map) >= 1);
    drop(link);
    assert!(child(&cg, &format!("udp {uaddr} ok")));
}

#[test]
fn leaked_attachments_stay_and_into_fd_hands_over_the_link() {
    let _serial = common::serial();
    require_bpf!();
    let Some(cg) = Cgroup::new("leak") else {
        return;
    };
    let dir = cg.open();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let map = counter_map("cg_keep");
    let deny = connect4(&map, 0, "cg_keep");
    let before = common::fd_count();
    // A leaked BPF_PROG_ATTACH attachment outlives its Link (and would outlive the process).
    let legacy = CgroupOptions {
        method: AttachMethod::Legacy,
        ..Default::default()
    };
    deny.attach_cgroup(dir.as_fd(), &legacy).unwrap().leak();
    assert_eq!(
        common::fd_count(),
        before,
        "leaking PROG_ATTACH keeps no fd"
    );
    assert!(child(&cg, &format!("tcp {addr} eperm")), "still attached");
    prog_detach(&ProgDetach::new(
        Target::Fd(dir.as_fd()),
        Some(deny.as_fd()),
        AttachType::CGROUP_INET4_CONNECT,
    ))
    .unwrap();
    assert!(child(&cg, &format!("tcp {addr} ok")));
    // into_fd: the caller owns the link; it detaches when that fd closes.
    let link = deny
        .attach_cgroup(dir.as_fd(), &CgroupOptions::default())
        .unwrap();
    let fd = link.into_fd().unwrap();
    assert!(
        child(&cg, &format!("tcp {addr} eperm")),
        "attached through the fd"
    );
    drop(fd);
    assert!(
        child(&cg, &format!("tcp {addr} ok")),
        "closing the fd detached"
    );
    // Only bpf links have one: a PROG_ATTACH link comes back unchanged.
    let legacy_link = deny.attach_cgroup(dir.as_fd(), &legacy).unwrap();
    let mut back = legacy_link.into_fd().unwrap_err();
    assert_eq!(back.method(), LinkMethod::ProgAttach);
    assert!(back.pin(std::env::temp_dir().join("x")).is_err());
    drop(back);
    assert!(
        child(&cg, &format!("tcp {addr} ok")),
        "dropped the returned link"
    );
    assert_eq!(common::fd_count(), before);
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Program>();
    check::<Link>();
    check::<AttachError>();
    check::<ProgramError>();
}

#[test]
fn no_fd_leaks_over_1000_cgroup_cycles() {
    let _serial = common::serial();
    require_bpf!();
    let Some(cg) = Cgroup::new("cgleak") else {
        return;
    };
    let dir = cg.open();
    let map = counter_map("cg_leak");
    let setup = || connect4(&map, 1, "cg_leak");
    for method in [AttachMethod::Auto, AttachMethod::Legacy] {
        let opts = CgroupOptions {
            method,
            ..Default::default()
        };
        no_fd_leak(&format!("cgroup {method:?}"), 1000, setup, |p| {
            drop(p.attach_cgroup(dir.as_fd(), &opts).unwrap())
        });
    }
}
