//! Maps of fds and objects: program arrays (tail calls that jump), maps of maps (inner
//! replacement seen by a program), cgroup arrays, stack traces, XDP redirect maps, socket
//! maps redirecting real TCP data, local storage maps keyed by fds.

mod common;
mod maps_support;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use oxbpf::insn::asm::{self, Asm};
use oxbpf::insn::opcode::{alu, jmp, size};
use oxbpf::insn::reg::*;
use oxbpf::maps::*;
use oxbpf::syscall::{
    pidfd_open, prog_attach, prog_detach, AttachType, ElemFlags, MapFlags, MapType, ProgAttach,
    ProgDetach, ProgType, Target, PIDFD_THREAD,
};

use maps_support::*;

fn errno(e: &MapError) -> Option<Errno> {
    e.syscall().map(|s| s.errno)
}

fn ret(v: i32) -> Vec<oxbpf::insn::Insn> {
    vec![asm::mov64_imm(R0, v), asm::exit()]
}

#[test]
fn prog_array_tail_calls_jump() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let pa = ProgArray::new(
            MapSpec::new(MapType::PROG_ARRAY)
                .name("mp_jmp")
                .max_entries(4)
                .create()
                .unwrap(),
        )
        .unwrap();
        // r1 (ctx) is passed through: tail_call(ctx, map, 2); on failure return 1.
        let mut a = Asm::new();
        a.extend(asm::ld_map_fd(R2, fd_of(&pa)));
        a.push(asm::mov64_imm(R3, 2));
        a.push(asm::call_helper(helper::TAIL_CALL));
        a.push(asm::mov64_imm(R0, 1));
        a.push(asm::exit());
        let entry = load(
            ProgType::SOCKET_FILTER,
            &a.finish().unwrap(),
            "mp_jmp_entry",
        );
        let target42 = load(ProgType::SOCKET_FILTER, &ret(42), "mp_jmp_42");
        let target7 = load(ProgType::SOCKET_FILTER, &ret(7), "mp_jmp_7");
        assert_eq!(run_skb(entry.as_fd(), 1), 1, "empty slot: falls through");
        pa.set(2, &target42).unwrap();
        assert_eq!(
            run_skb(entry.as_fd(), 1),
            42,
            "jumped to the tail-called program"
        );
        let id = oxbpf::syscall::prog_info(target42.as_fd()).unwrap().id;
        assert_eq!(pa.get(2).unwrap(), Some(id));
        assert_eq!(
            pa.iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![(2, id)]
        );
        pa.set(2, &target7).unwrap();
        assert_eq!(run_skb(entry.as_fd(), 1), 7, "replaced target");
        assert!(pa.clear(2).unwrap());
        assert!(!pa.clear(2).unwrap());
        assert_eq!(run_skb(entry.as_fd(), 1), 1);
        assert!(matches!(
            pa.set(4, &target7),
            Err(MapError::OutOfBounds { .. })
        ));
        // A program of another type is refused.
        let xdp = load(ProgType::XDP, &ret(2), "mp_jmp_xdp");
        assert_eq!(errno(&pa.set(0, &xdp).unwrap_err()), Some(Errno::EINVAL));
    }
    assert_eq!(common::fd_count(), before);
}

/// `r0 = *(u32 *)lookup(lookup(outer, &key), &0)` or 0xffff.
fn map_in_map_prog(outer: &Map, key: u32) -> Vec<oxbpf::insn::Insn> {
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, key as i32));
    a.push(asm::st_imm(size::W, FP, -8, 0));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd_of(outer)));
    a.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jump_imm(jmp::JEQ, R0, 0, "none");
    a.push(asm::mov64_reg(R1, R0));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -8));
    a.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jump_imm(jmp::JEQ, R0, 0, "none");
    a.push(asm::ldx(size::W, R0, R0, 0));
    a.push(asm::exit());
    a.label("none");
    a.push(asm::mov64_imm(R0, 0xffff));
    a.push(asm::exit());
    a.finish().unwrap()
}

fn inner_spec(name: &str) -> MapSpec {
    MapSpec::new(MapType::ARRAY)
        .name(name)
        .key::<u32>()
        .value::<u32>()
        .max_entries(1)
}

fn inner_with(name: &str, v: u32) -> Map {
    let m = inner_spec(name).create().unwrap();
    Array::<u32, _>::new(&m)
        .unwrap()
        .set(0, &v, ElemFlags::ANY)
        .unwrap();
    m
}

#[test]
fn maps_of_maps_inner_replacement() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let outer = MapSpec::new(MapType::ARRAY_OF_MAPS)
            .name("mp_aom")
            .max_entries(2)
            .inner(inner_spec("mp_tmpl"))
            .create()
            .unwrap();
        let aom = ArrayOfMaps::new(&outer).unwrap();
        let prog = load(
            ProgType::SOCKET_FILTER,
            &map_in_map_prog(&outer, 1),
            "mp_aom_read",
        );
        assert_eq!(run_skb(prog.as_fd(), 1), 0xffff, "empty slot");
        let a = inner_with("mp_inner_a", 7);
        let b = inner_with("mp_inner_b", 9);
        aom.set(1, &a).unwrap();
        assert_eq!(run_skb(prog.as_fd(), 1), 7);
        assert_eq!(aom.get(1).unwrap(), Some(a.id().unwrap()));
        aom.set(1, &b).unwrap();
        assert_eq!(run_skb(prog.as_fd(), 1), 9, "inner map replaced");
        let opened = aom.get_map(1).unwrap().unwrap();
        assert_eq!(opened.name(), "mp_inner_b");
        // The inner map lives on in the outer map after we close ours.
        drop(b);
        drop(opened);
        assert_eq!(run_skb(prog.as_fd(), 1), 9);
        // An inner map of another shape is refused.
        let wrong = MapSpec::new(MapType::HASH)
            .name("mp_wrong")
            .key::<u32>()
            .value::<u32>()
            .max_entries(1)
            .create()
            .unwrap();
        assert_eq!(errno(&aom.set(0, &wrong).unwrap_err()), Some(Errno::EINVAL));
        assert!(aom.clear(1).unwrap());
        assert_eq!(run_skb(prog.as_fd(), 1), 0xffff);

        // Hash of maps, keyed by u32, with an existing map as the template.
        let tmpl = inner_spec("mp_tmpl2").create().unwrap();
        let outer = MapSpec::new(MapType::HASH_OF_MAPS)
            .name("mp_hom")
            .key::<u32>()
            .max_entries(4)
            .create_with(&CreateOptions {
                inner_map_fd: Some(tmpl.as_fd()),
                ..Default::default()
            })
            .unwrap();
        drop(tmpl);
        let hom = HashOfMaps::<u32, _>::new(&outer).unwrap();
        let prog = load(
            ProgType::SOCKET_FILTER,
            &map_in_map_prog(&outer, 500),
            "mp_hom_read",
        );
        assert_eq!(run_skb(prog.as_fd(), 1), 0xffff);
        let c = inner_with("mp_inner_c", 11);
        hom.insert(&500, &c, ElemFlags::NOEXIST).unwrap();
        assert_eq!(run_skb(prog.as_fd(), 1), 11);
        let d = inner_with("mp_inner_d", 13);
        hom.insert(&500, &d, ElemFlags::EXIST).unwrap();
        assert_eq!(run_skb(prog.as_fd(), 1), 13, "inner map replaced");
        assert_eq!(hom.get(&500).unwrap(), Some(d.id().unwrap()));
        assert_eq!(
            hom.keys().map(Result::unwrap).collect::<Vec<_>>(),
            vec![500]
        );
        assert!(hom.remove(&500).unwrap());
        assert_eq!(run_skb(prog.as_fd(), 1), 0xffff);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn cgroup_array_under_cgroup() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let Some(cg) = Cgroup2::new("cga") else {
            return;
        };
        let ca = CgroupArray::new(
            MapSpec::new(MapType::CGROUP_ARRAY)
                .name("mp_cga")
                .max_entries(2)
                .create()
                .unwrap(),
        )
        .unwrap();
        let root = std::fs::File::open(cg.root()).unwrap();
        let child = std::fs::File::open(&cg.child).unwrap();
        ca.set(0, &root).unwrap();
        ca.set(1, &child).unwrap();
        // raw_tp: r0 = bpf_current_task_under_cgroup(map, index)
        let prog_for = |i: i32| {
            let mut a = Asm::new();
            a.extend(asm::ld_map_fd(R1, fd_of(&ca)));
            a.push(asm::mov64_imm(R2, i));
            a.push(asm::call_helper(helper::CURRENT_TASK_UNDER_CGROUP));
            a.push(asm::exit());
            load(ProgType::RAW_TRACEPOINT, &a.finish().unwrap(), "mp_cga")
        };
        let (p0, p1) = (prog_for(0), prog_for(1));
        assert_eq!(
            run_raw_tp(p0.as_fd(), None).unwrap(),
            1,
            "we run under the root cgroup"
        );
        assert_eq!(run_raw_tp(p1.as_fd(), None).unwrap(), 0, "not in the child");
        assert!(ca.clear(1).unwrap());
        assert_eq!(
            run_raw_tp(p1.as_fd(), None).unwrap() as i32,
            -(Errno::EAGAIN as i32),
            "empty slot"
        );
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn stack_trace_map_records_kernel_stacks() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = MapSpec::new(MapType::STACK_TRACE)
            .name("mp_stacks")
            .key::<u32>()
            .value_size(8 * 32)
            .max_entries(64)
            .create()
            .unwrap();
        let st = StackTraceMap::new(&map).unwrap();
        assert_eq!(st.max_depth(), 32);
        // raw_tp: r0 = bpf_get_stackid(ctx, map, 0) (kernel stack)
        let mut a = Asm::new();
        a.extend(asm::ld_map_fd(R2, fd_of(&map)));
        a.push(asm::mov64_imm(R3, 0));
        a.push(asm::call_helper(helper::GET_STACKID));
        a.push(asm::exit());
        let prog = load(ProgType::RAW_TRACEPOINT, &a.finish().unwrap(), "mp_stackid");
        let id = run_raw_tp(prog.as_fd(), None).unwrap();
        assert!((id as i32) >= 0, "stack id {}", id as i32);
        let frames = st.get(id).unwrap().expect("the recorded stack");
        assert!(!frames.is_empty());
        assert!(
            frames.iter().all(|&ip| ip >= 0xffff_8000_0000_0000),
            "kernel addresses: {frames:x?}"
        );
        let mut buf = [0u64; 32];
        assert_eq!(st.get_into(id, &mut buf).unwrap(), Some(frames.len()));
        assert!(
            st.get_into(id, &mut [0u64; 4]).is_err(),
            "short buffer refused"
        );
        assert_eq!(
            st.stack_ids().map(Result::unwrap).collect::<Vec<_>>(),
            vec![id]
        );
        // The same stack again: the same id.
        assert_eq!(run_raw_tp(prog.as_fd(), None).unwrap(), id);
        assert!(st.remove(id).unwrap());
        assert_eq!(st.get(id).unwrap(), None);
    }
    assert_eq!(common::fd_count(), before);
}

/// XDP: `r0 = bpf_redirect_map(map, key, XDP_PASS)`.
fn redirect_prog(map: &Map, key: u32) -> std::os::fd::OwnedFd {
    let mut a = Asm::new();
    a.extend(asm::ld_map_fd(R1, fd_of(map)));
    a.push(asm::mov64_imm(R2, key as i32));
    a.push(asm::mov64_imm(R3, 2));
    a.push(asm::call_helper(helper::REDIRECT_MAP));
    a.push(asm::exit());
    load(ProgType::XDP, &a.finish().unwrap(), "mp_redirect")
}

const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

#[test]
fn xdp_redirect_maps() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    in_netns(|| {
        // In this namespace, lo is ifindex 1.
        let lo = 1u32;
        for (t, name) in [
            (MapType::DEVMAP, "mp_devmap"),
            (MapType::DEVMAP_HASH, "mp_devhash"),
        ] {
            let map = MapSpec::new(t)
                .name(name)
                .key::<u32>()
                .value_size(8)
                .max_entries(8)
                .create()
                .unwrap();
            let prog = redirect_prog(&map, 3);
            assert_eq!(
                run_xdp(prog.as_fd()),
                XDP_PASS,
                "{t}: no entry, fallback action"
            );
            let xdp_devmap = load_as(
                ProgType::XDP,
                AttachType::XDP_DEVMAP,
                &ret(2),
                "mp_devmap_prog",
            );
            if t == MapType::DEVMAP {
                let dm = DevMap::new(&map).unwrap();
                dm.set(3, lo, Some(&xdp_devmap), ElemFlags::ANY).unwrap();
                let v = dm.get(3).unwrap().unwrap();
                assert_eq!(v.ifindex, lo);
                assert_eq!(
                    v.prog_id,
                    Some(oxbpf::syscall::prog_info(xdp_devmap.as_fd()).unwrap().id)
                );
                assert_eq!(run_xdp(prog.as_fd()), XDP_REDIRECT, "{t}: entry found");
                assert!(dm.keys().map(Result::unwrap).any(|k| k == 3));
                assert!(dm.remove(3).unwrap());
                let e = dm
                    .set(9, lo, None::<&std::fs::File>, ElemFlags::ANY)
                    .unwrap_err();
                assert_eq!(errno(&e), Some(Errno::E2BIG), "index past the end");
            } else {
                let dm = DevMapHash::new(&map).unwrap();
                dm.set(3, lo, None::<&std::fs::File>, ElemFlags::ANY)
                    .unwrap();
                assert_eq!(
                    dm.get(3).unwrap(),
                    Some(DevMapValue {
                        ifindex: lo,
                        prog_id: None
                    })
                );
                assert_eq!(run_xdp(prog.as_fd()), XDP_REDIRECT);
                assert_eq!(dm.keys().map(Result::unwrap).collect::<Vec<_>>(), vec![3]);
                assert!(dm.remove(3).unwrap());
            }
            assert_eq!(run_xdp(prog.as_fd()), XDP_PASS);
            let e = map
                .update(
                    &3u32.to_ne_bytes(),
                    &[0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff],
                    ElemFlags::ANY,
                )
                .unwrap_err();
            assert_eq!(errno(&e), Some(Errno::EINVAL), "{t}: no such device");
        }

        let map = MapSpec::new(MapType::CPUMAP)
            .name("mp_cpumap")
            .key::<u32>()
            .value_size(8)
            .max_entries(oxbpf::syscall::possible_cpus().unwrap())
            .create()
            .unwrap();
        let cm = CpuMap::new(&map).unwrap();
        let prog = redirect_prog(&map, 0);
        assert_eq!(run_xdp(prog.as_fd()), XDP_PASS);
        cm.set(0, 192, None::<&std::fs::File>, ElemFlags::ANY)
            .unwrap();
        assert_eq!(
            cm.get(0).unwrap(),
            Some(CpuMapValue {
                qsize: 192,
                prog_id: None
            })
        );
        assert_eq!(run_xdp(prog.as_fd()), XDP_REDIRECT);
        assert!(cm.remove(0).unwrap());
        assert_eq!(run_xdp(prog.as_fd()), XDP_PASS);

        let map = MapSpec::new(MapType::XSKMAP)
            .name("mp_xsk")
            .key::<u32>()
            .value::<u32>()
            .max_entries(4)
            .create()
            .unwrap();
        let xm = XskMap::new(&map).unwrap();
        let prog = redirect_prog(&map, 0);
        assert_eq!(run_xdp(prog.as_fd()), XDP_PASS, "empty slot: fallback");
        // Only AF_XDP sockets go in.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            errno(&xm.set(0, &udp).unwrap_err()),
            Some(Errno::EOPNOTSUPP)
        );
        xm.clear(0).unwrap();
    });
    assert_eq!(common::fd_count(), before);
}

/// `bpf_sk_redirect_map(skb, map, 1, BPF_F_INGRESS)` as a stream verdict.
fn redirect_map_verdict(map: &Map) -> std::os::fd::OwnedFd {
    let mut a = Asm::new();
    a.extend(asm::ld_map_fd(R2, fd_of(map)));
    a.push(asm::mov64_imm(R3, 1));
    a.push(asm::mov64_imm(R4, 1));
    a.push(asm::call_helper(helper::SK_REDIRECT_MAP));
    a.push(asm::exit());
    load_as(
        ProgType::SK_SKB,
        AttachType::SK_SKB_STREAM_VERDICT,
        &a.finish().unwrap(),
        "mp_sk_redir",
    )
}

/// `bpf_sk_redirect_hash(skb, map, &20, BPF_F_INGRESS)` as a stream verdict.
fn redirect_hash_verdict(map: &Map) -> std::os::fd::OwnedFd {
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, 20));
    a.extend(asm::ld_map_fd(R2, fd_of(map)));
    a.push(asm::mov64_reg(R3, FP));
    a.push(asm::alu64_imm(alu::ADD, R3, -4));
    a.push(asm::mov64_imm(R4, 1));
    a.push(asm::call_helper(helper::SK_REDIRECT_HASH));
    a.push(asm::exit());
    load_as(
        ProgType::SK_SKB,
        AttachType::SK_SKB_STREAM_VERDICT,
        &a.finish().unwrap(),
        "mp_sk_redir_h",
    )
}

/// Two TCP connections on lo: `(client1, server1, client2, server2)`.
fn tcp_pairs() -> [std::net::TcpStream; 4] {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c1 = std::net::TcpStream::connect(addr).unwrap();
    let (s1, _) = l.accept().unwrap();
    let c2 = std::net::TcpStream::connect(addr).unwrap();
    let (s2, _) = l.accept().unwrap();
    for s in [&c1, &s1, &c2, &s2] {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }
    [c1, s1, c2, s2]
}

/// Sends on `c1` and expects the bytes on `s2` (redirected), not on `s1`.
fn assert_redirected(pairs: &mut [std::net::TcpStream; 4]) {
    pairs[0].write_all(b"hello sockmap").unwrap();
    let mut buf = [0u8; 64];
    let n = pairs[3].read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"hello sockmap",
        "data arrived on the other connection"
    );
    pairs[1].set_nonblocking(true).unwrap();
    let e = pairs[1].read(&mut buf).unwrap_err();
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing on the original receiver"
    );
}

#[test]
fn sockmap_and_sockhash_redirect_tcp_data() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    in_netns(|| {
        let map = MapSpec::new(MapType::SOCKMAP)
            .name("mp_sockmap")
            .key::<u32>()
            .value::<u64>()
            .max_entries(4)
            .create()
            .unwrap();
        let verdict = redirect_map_verdict(&map);
        let attach = ProgAttach::new(
            Target::Fd(map.as_fd()),
            verdict.as_fd(),
            AttachType::SK_SKB_STREAM_VERDICT,
        );
        prog_attach(&attach).unwrap();
        let mut pairs = tcp_pairs();
        let sm = SockMap::new(&map).unwrap();
        sm.set(0, &pairs[1], ElemFlags::NOEXIST).unwrap();
        sm.set(1, &pairs[3], ElemFlags::NOEXIST).unwrap();
        let e = sm.set(1, &pairs[0], ElemFlags::NOEXIST).unwrap_err();
        assert_eq!(errno(&e), Some(Errno::EEXIST));
        let (k0, k1) = (
            sm.cookie(0).unwrap().unwrap(),
            sm.cookie(1).unwrap().unwrap(),
        );
        assert!(k0 != 0 && k1 != 0 && k0 != k1, "cookies {k0} {k1}");
        assert_eq!(sm.cookie(2).unwrap(), None);
        assert_redirected(&mut pairs);
        assert!(sm.clear(0).unwrap());
        assert!(!sm.clear(0).unwrap());
        prog_detach(&ProgDetach::new(
            Target::Fd(map.as_fd()),
            Some(verdict.as_fd()),
            AttachType::SK_SKB_STREAM_VERDICT,
        ))
        .unwrap();

        let map = MapSpec::new(MapType::SOCKHASH)
            .name("mp_sockhash")
            .key::<u32>()
            .value::<u64>()
            .max_entries(4)
            .create()
            .unwrap();
        let verdict = redirect_hash_verdict(&map);
        prog_attach(&ProgAttach::new(
            Target::Fd(map.as_fd()),
            verdict.as_fd(),
            AttachType::SK_SKB_STREAM_VERDICT,
        ))
        .unwrap();
        let mut pairs = tcp_pairs();
        let sh = SockHash::<u32, _>::new(&map).unwrap();
        sh.insert(&10, &pairs[1], ElemFlags::ANY).unwrap();
        sh.insert(&20, &pairs[3], ElemFlags::ANY).unwrap();
        let mut keys: Vec<u32> = sh.keys().map(Result::unwrap).collect();
        keys.sort();
        assert_eq!(keys, vec![10, 20]);
        assert!(sh.cookie(&20).unwrap().is_some());
        assert_redirected(&mut pairs);
        assert!(sh.remove(&10).unwrap());
        // Not a socket: refused.
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(sh.insert(&30, &file, ElemFlags::ANY).is_err());
    });
    assert_eq!(common::fd_count(), before);
}

fn storage_spec(t: MapType, name: &str) -> MapSpec {
    MapSpec::new(t)
        .name(name)
        .key::<i32>()
        .value::<u64>()
        .flags(MapFlags::NO_PREALLOC)
        .btf_ids(1, 2)
}

/// Creates a storage map with the tiny BTF; `None` (skip) if this kernel lacks the type.
fn storage_map(t: MapType, name: &str) -> Option<Map> {
    let btf = int_btf();
    match storage_spec(t, name).create_with(&CreateOptions {
        btf_fd: Some(btf.as_fd()),
        ..Default::default()
    }) {
        Ok(m) => Some(m),
        Err(e)
            if (matches!(errno(&e), Some(Errno::EINVAL | Errno::EOPNOTSUPP))
                || e.syscall().is_some_and(|s| s.is_not_supported()))
                && !oxbpf::features::map_type(t).unwrap_or(true) =>
        {
            eprintln!("SKIPPED {t}: not supported by this kernel (probed: {e})");
            None
        }
        Err(e) => panic!("{t}: {e}"),
    }
}

#[test]
fn task_storage_keyed_by_pidfd_seen_by_a_program() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let Some(map) = storage_map(MapType::TASK_STORAGE, "mp_task_st") else {
            return;
        };
        assert_eq!((map.btf_key_type_id(), map.btf_value_type_id()), (1, 2));
        let ts = TaskStorage::<u64, _>::new(&map).unwrap();
        // This thread (test_run runs the program on the calling thread).
        let tid = nix::unistd::gettid().as_raw() as u32;
        let me = match pidfd_open(tid, PIDFD_THREAD) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::EINVAL => {
                // Before 6.9 a pidfd names a process, so the value could only be attached to
                // the main thread, while PROG_TEST_RUN runs the program on this one.
                let proc_fd = pidfd_open(std::process::id(), 0).unwrap();
                ts.insert(&proc_fd, &1, ElemFlags::ANY).unwrap();
                assert_eq!(ts.get(&proc_fd).unwrap(), Some(1));
                assert!(ts.remove(&proc_fd).unwrap());
                eprintln!("SKIPPED program side: thread pidfds need Linux 6.9 ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(ts.get(&me).unwrap(), None);
        ts.insert(&me, &0x1234_5678, ElemFlags::NOEXIST).unwrap();
        assert_eq!(
            errno(&ts.insert(&me, &1, ElemFlags::NOEXIST).unwrap_err()),
            Some(Errno::EEXIST)
        );
        assert_eq!(ts.get(&me).unwrap(), Some(0x1234_5678));
        // raw_tp: v = bpf_task_storage_get(map, bpf_get_current_task_btf(), NULL, 0); r0 = v ? *v : 0
        let mut a = Asm::new();
        a.push(asm::call_helper(helper::GET_CURRENT_TASK_BTF));
        a.push(asm::mov64_reg(R2, R0));
        a.extend(asm::ld_map_fd(R1, fd_of(&map)));
        a.push(asm::mov64_imm(R3, 0));
        a.push(asm::mov64_imm(R4, 0));
        a.push(asm::call_helper(helper::TASK_STORAGE_GET));
        a.jump_imm(jmp::JEQ, R0, 0, "none");
        a.push(asm::ldx(size::W, R0, R0, 0));
        a.push(asm::exit());
        a.label("none");
        a.push(asm::mov64_imm(R0, 0));
        a.push(asm::exit());
        let prog = load(ProgType::RAW_TRACEPOINT, &a.finish().unwrap(), "mp_task_st");
        assert_eq!(
            run_raw_tp(prog.as_fd(), None).unwrap(),
            0x1234_5678,
            "the program sees our value"
        );
        assert!(ts.remove(&me).unwrap());
        assert_eq!(run_raw_tp(prog.as_fd(), None).unwrap(), 0);
        // Storage maps cannot be iterated.
        assert!(map.keys().next().unwrap().is_err());
        // The process's pidfd is another task (the main thread) with no value.
        let proc_fd = pidfd_open(std::process::id(), 0).unwrap();
        if tid != std::process::id() {
            assert_eq!(ts.get(&proc_fd).unwrap(), None);
        }
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn sk_inode_cgrp_storage_keyed_by_fds() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        if let Some(map) = storage_map(MapType::SK_STORAGE, "mp_sk_st") {
            let st = SkStorage::<u64, _>::new(&map).unwrap();
            let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            st.insert(&a, &1, ElemFlags::ANY).unwrap();
            st.insert(&b, &2, ElemFlags::ANY).unwrap();
            assert_eq!(
                (st.get(&a).unwrap(), st.get(&b).unwrap()),
                (Some(1), Some(2))
            );
            // Keyed by the socket, not the fd number: a dup sees the same value.
            let a2 = a.try_clone().unwrap();
            assert_eq!(st.get(&a2).unwrap(), Some(1));
            assert!(st.remove(&a).unwrap());
            assert_eq!(st.get(&a2).unwrap(), None);
            let file = std::fs::File::open("/dev/null").unwrap();
            assert!(st.get(&file).is_err(), "not a socket");
        }
        if let Some(map) = storage_map(MapType::INODE_STORAGE, "mp_inode_st") {
            let st = InodeStorage::<u64, _>::new(&map).unwrap();
            let tmp = tempfile::NamedTempFile::new().unwrap();
            let f1 = std::fs::File::open(tmp.path()).unwrap();
            st.insert(&f1, &5, ElemFlags::ANY).unwrap();
            let f2 = std::fs::File::open(tmp.path()).unwrap();
            assert_eq!(
                st.get(&f2).unwrap(),
                Some(5),
                "same inode through another open file"
            );
            assert!(st.remove(&f2).unwrap());
        }
        if let Some(map) = storage_map(MapType::CGRP_STORAGE, "mp_cgrp_st") {
            if let Some(cg) = Cgroup2::new("cgst") {
                let st = CgrpStorage::<u64, _>::new(&map).unwrap();
                let dir = std::fs::File::open(&cg.child).unwrap();
                st.insert(&dir, &9, ElemFlags::ANY).unwrap();
                let again = std::fs::File::open(&cg.child).unwrap();
                assert_eq!(st.get(&again).unwrap(), Some(9));
                let root = std::fs::File::open(cg.root()).unwrap();
                assert_eq!(st.get(&root).unwrap(), None);
                assert!(st.remove(&dir).unwrap());
            }
        }
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn reuseport_sockarray_through_the_generic_map() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    in_netns(|| {
        use nix::sys::socket::{
            bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
        };
        use std::os::fd::AsRawFd;
        let map = MapSpec::new(MapType::REUSEPORT_SOCKARRAY)
            .name("mp_reuseport")
            .key::<u32>()
            .value::<u64>()
            .max_entries(2)
            .create()
            .unwrap();
        let sock = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        setsockopt(&sock, sockopt::ReusePort, &true).unwrap();
        bind(sock.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
        let fd = sock.as_raw_fd() as u64;
        map.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), ElemFlags::ANY)
            .unwrap();
        let cookie = u64::from_ne_bytes(
            map.lookup_vec(&0u32.to_ne_bytes())
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_ne!(cookie, 0, "lookups return the socket cookie");
        assert_eq!(map.lookup_vec(&1u32.to_ne_bytes()).unwrap(), None);
        // A socket without SO_REUSEPORT is refused.
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = map
            .update(
                &1u32.to_ne_bytes(),
                &(plain.as_raw_fd() as u64).to_ne_bytes(),
                ElemFlags::ANY,
            )
            .unwrap_err();
        assert_eq!(errno(&e), Some(Errno::EINVAL));
        assert!(map.delete(&0u32.to_ne_bytes()).unwrap());
    });
    assert_eq!(common::fd_count(), before);
}

#[test]
fn cgroup_storage_appears_on_attach() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let Some(cg) = Cgroup2::new("cgstore") else {
            return;
        };
        // Keyed by the cgroup id alone (8-byte keys, 5.9).
        let map = MapSpec::new(MapType::CGROUP_STORAGE)
            .name("mp_cg_storage")
            .key::<u64>()
            .value::<u64>()
            .create()
            .unwrap();
        // cgroup_skb: lock (*(u64 *)bpf_get_local_storage(map, 0)) += 1; r0 = 1
        let mut a = Asm::new();
        a.extend(asm::ld_map_fd(R1, fd_of(&map)));
        a.push(asm::mov64_imm(R2, 0));
        a.push(asm::call_helper(81));
        a.push(asm::mov64_imm(R1, 1));
        a.push(asm::atomic_add64(R0, R1, 0));
        a.push(asm::mov64_imm(R0, 1));
        a.push(asm::exit());
        let prog = load_as(
            ProgType::CGROUP_SKB,
            AttachType::CGROUP_INET_EGRESS,
            &a.finish().unwrap(),
            "mp_cg_storage",
        );
        let dir = std::fs::File::open(&cg.child).unwrap();
        let id = std::os::unix::fs::MetadataExt::ino(&dir.metadata().unwrap());
        assert_eq!(
            map.lookup_vec(&id.to_ne_bytes()).unwrap(),
            None,
            "no storage before attaching"
        );
        prog_attach(&ProgAttach::new(
            Target::Fd(dir.as_fd()),
            prog.as_fd(),
            AttachType::CGROUP_INET_EGRESS,
        ))
        .unwrap();
        let hm = map.keys().map(Result::unwrap).collect::<Vec<_>>();
        assert_eq!(
            hm,
            vec![id.to_ne_bytes().to_vec()],
            "one storage, for the attached cgroup"
        );
        map.update(&id.to_ne_bytes(), &41u64.to_ne_bytes(), ElemFlags::ANY)
            .unwrap();
        assert_eq!(
            map.lookup_vec(&id.to_ne_bytes()).unwrap(),
            Some(41u64.to_ne_bytes().to_vec())
        );
        // It cannot be created or deleted from user space.
        assert!(map.delete(&id.to_ne_bytes()).is_err());
        prog_detach(&ProgDetach::new(
            Target::Fd(dir.as_fd()),
            Some(prog.as_fd()),
            AttachType::CGROUP_INET_EGRESS,
        ))
        .unwrap();
    }
    assert_eq!(common::fd_count(), before);
}
