//! The exact attribute bytes wrappers send, captured through the fake choke point.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;

use super::testing::{capture, FakeReply};
use super::*;
use crate::insn::Insn;

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

fn fake_array(value_size: u32) -> MapFd {
    let (map, _) = capture(
        |_, _| FakeReply::dev_null(),
        || {
            map_create(&MapCreate {
                map_type: MapType::ARRAY,
                key_size: 4,
                value_size,
                max_entries: 4,
                ..Default::default()
            })
        },
    );
    map.unwrap()
}

#[test]
fn map_create_bytes() {
    let (map, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || {
            map_create(&MapCreate {
                map_type: MapType::HASH,
                key_size: 4,
                value_size: 16,
                max_entries: 1024,
                map_flags: MapFlags::NO_PREALLOC,
                numa_node: Some(1),
                name: "a_very_long_map_name",
                map_extra: 0x1122_3344_5566_7788,
                ..Default::default()
            })
        },
    );
    let map = map.unwrap();
    assert!(map.as_fd().as_raw_fd() > 2);
    assert_eq!(map.layout().value_size, 16);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].command, Command::MAP_CREATE);
    let mut expected = vec![0u8; 96];
    expected[0..4].copy_from_slice(&1u32.to_ne_bytes()); // HASH
    expected[4..8].copy_from_slice(&4u32.to_ne_bytes());
    expected[8..12].copy_from_slice(&16u32.to_ne_bytes());
    expected[12..16].copy_from_slice(&1024u32.to_ne_bytes());
    expected[16..20].copy_from_slice(&(1u32 | 4).to_ne_bytes()); // NO_PREALLOC | NUMA_NODE
    expected[24..28].copy_from_slice(&1u32.to_ne_bytes());
    expected[28..43].copy_from_slice(b"a_very_long_map"); // 15 bytes + NUL
    expected[64..72].copy_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
    assert_eq!(calls[0].attr, expected);
}

#[test]
fn element_commands_point_at_the_callers_buffers() {
    let map = fake_array(8);
    let key = 3u32.to_ne_bytes();
    let value = 42u64.to_ne_bytes();
    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || map_update_elem(&map, &key, &value, ElemFlags::EXIST),
    );
    r.unwrap();
    let a = &calls[0].attr;
    assert_eq!(calls[0].command, Command::MAP_UPDATE_ELEM);
    assert_eq!(a.len(), 32);
    assert_eq!(u32_at(a, 0), map.as_fd().as_raw_fd() as u32);
    assert_eq!(u32_at(a, 4), 0);
    assert_eq!(u64_at(a, 8), key.as_ptr() as u64);
    assert_eq!(u64_at(a, 16), value.as_ptr() as u64);
    assert_eq!(u64_at(a, 24), 2);

    // ENOENT is "absent", not an error.
    let mut out = [0u8; 8];
    let (r, calls) = capture(
        |_, _| Err(Errno::ENOENT),
        || map_lookup_elem(&map, &key, &mut out, ElemFlags::ANY),
    );
    assert_eq!(r, Ok(false));
    assert_eq!(u64_at(&calls[0].attr, 16), out.as_ptr() as u64);

    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || map_get_next_key(&map, None, &mut out[..4]),
    );
    assert_eq!(r, Ok(true));
    assert_eq!(calls[0].command, Command::MAP_GET_NEXT_KEY);
    assert_eq!(u64_at(&calls[0].attr, 8), 0);
}

#[test]
fn wrong_buffer_sizes_make_no_call() {
    let map = fake_array(8);
    let mut small = [0u8; 4];
    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || map_lookup_elem(&map, &0u32.to_ne_bytes(), &mut small, ElemFlags::ANY),
    );
    let err = r.unwrap_err();
    assert!(calls.is_empty());
    assert_eq!(err.errno, Errno::EINVAL);
    assert_eq!(
        err.hint,
        Some(Hint::BufferSize {
            what: "value",
            expected: 8,
            actual: 4
        })
    );
    assert!(err.to_string().contains("BPF_MAP_LOOKUP_ELEM"));
    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || map_update_elem(&map, &[0u8; 3], &[0u8; 8], ElemFlags::ANY),
    );
    assert!(r.is_err());
    assert!(calls.is_empty());
}

#[test]
fn prog_load_bytes_log_size_and_eagain_retries() {
    let insns = [Insn::new(0xb7, 0, 0, 0, 42), Insn::new(0x95, 0, 0, 0, 0)];
    let mut log = vec![0u8; 4096];
    let log_ptr = log.as_ptr() as u64;
    let mut tries = 0;
    let (r, calls) = capture(
        move |_, attr| {
            // The kernel writes log_true_size back, on failure too.
            attr[140..144].copy_from_slice(&777u32.to_ne_bytes());
            tries += 1;
            if tries < 3 {
                Err(Errno::EAGAIN)
            } else {
                FakeReply::dev_null()
            }
        },
        || {
            let mut load = ProgLoad {
                prog_type: ProgType::SOCKET_FILTER,
                insns: &insns,
                license: c"GPL",
                log_level: LogLevel::LEVEL1 | LogLevel::STATS,
                log_buf: Some(&mut log),
                name: "answer",
                expected_attach_type: AttachType::CGROUP_INET_EGRESS,
                attach_btf_id: 99,
                ..Default::default()
            };
            let fd = prog_load(&mut load);
            (fd, load.log_true_size)
        },
    );
    assert!(r.0.is_ok());
    assert_eq!(r.1, 777);
    assert_eq!(calls.len(), 3);
    let a = ProgLoadAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(calls[0].attr.len(), 168);
    assert_eq!(a.prog_type, 1);
    assert_eq!(a.insn_cnt, 2);
    assert_eq!(a.insns, insns.as_ptr() as u64);
    assert_eq!(a.log_level, 5);
    assert_eq!(a.log_size, 4096);
    assert_eq!(a.log_buf, log_ptr);
    assert_eq!(&a.prog_name[..7], b"answer\0");
    assert_eq!(a.expected_attach_type, 1);
    assert_eq!(a.attach_btf_id, 99);
    assert_eq!((a.fd_array, a.fd_array_cnt, a.prog_token_fd), (0, 0, 0));

    // EAGAIN forever: PROG_LOAD_ATTEMPTS tries, then the error.
    let (r, calls) = capture(
        |_, _| Err(Errno::EAGAIN),
        || prog_load(&mut ProgLoad::default()),
    );
    assert_eq!(r.unwrap_err().errno, Errno::EAGAIN);
    assert_eq!(calls.len(), PROG_LOAD_ATTEMPTS);
}

#[test]
fn e2big_names_the_too_new_field() {
    let dev_null = std::fs::File::open("/dev/null").unwrap();
    let (r, _) = capture(
        |_, _| Err(Errno::E2BIG),
        || {
            prog_load(&mut ProgLoad {
                prog_type: ProgType::XDP,
                token_fd: Some(dev_null.as_fd()),
                ..Default::default()
            })
        },
    );
    let err = r.unwrap_err();
    match err.hint {
        Some(Hint::NewField { field, since, .. }) => {
            assert_eq!(field, "prog_token_fd");
            assert_eq!(since, KernelVersion::new(6, 9));
        }
        other => panic!("hint {other:?}"),
    }
    assert!(err.to_string().contains("BPF_PROG_LOAD failed: E2BIG"));
    assert!(err.to_string().contains("`prog_token_fd`"));
}

#[test]
fn test_run_never_passes_an_empty_output_buffer() {
    let prog = std::fs::File::open("/dev/null").unwrap();
    let data = [1u8; 14];
    let mut ctx_out = [0u8; 8];
    let (r, calls) = capture(
        |_, attr| {
            attr[4..8].copy_from_slice(&7u32.to_ne_bytes()); // retval
            attr[36..40].copy_from_slice(&123u32.to_ne_bytes()); // duration
            FakeReply::ok()
        },
        || {
            prog_test_run(
                prog.as_fd(),
                &mut TestRun {
                    data_in: &data,
                    data_out: Some(&mut []),
                    ctx_out: Some(&mut ctx_out),
                    repeat: 10,
                    ..Default::default()
                },
            )
        },
    );
    let out = r.unwrap();
    assert_eq!((out.retval, out.duration_ns), (7, 123));
    let a = TestRunAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(a.prog_fd, prog.as_raw_fd() as u32);
    assert_eq!((a.data_in, a.data_size_in), (data.as_ptr() as u64, 14));
    assert_eq!((a.data_out, a.data_size_out), (0, 0));
    assert_eq!(a.ctx_size_out, 8);
    assert_eq!(a.repeat, 10);
}

#[test]
fn next_id_and_fd_by_id() {
    let (r, calls) = capture(
        |_, attr| {
            attr[4..8].copy_from_slice(&41u32.to_ne_bytes());
            FakeReply::ok()
        },
        || map_get_next_id(40),
    );
    assert_eq!(r, Ok(Some(41)));
    assert_eq!(calls[0].command, Command::MAP_GET_NEXT_ID);
    assert_eq!(u32_at(&calls[0].attr, 0), 40);

    let (r, _) = capture(|_, _| Err(Errno::ENOENT), || prog_ids().collect::<Vec<_>>());
    assert!(r.is_empty());

    let (r, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || map_get_fd_by_id(7, FileFlags::RDONLY),
    );
    assert!(r.is_ok());
    assert_eq!(calls[0].command, Command::MAP_GET_FD_BY_ID);
    assert_eq!(
        GetIdAttr::from_bytes(&calls[0].attr).unwrap().open_flags,
        1 << 3
    );

    // A fake that answers an fd command with a number is an error, never a bogus fd.
    let (r, _) = capture(|_, _| FakeReply::ok(), || prog_get_fd_by_id(1));
    assert_eq!(r.unwrap_err().errno, Errno::EBADF);
}

#[test]
fn obj_pin_passes_a_nul_terminated_path() {
    let fd = std::fs::File::open("/dev/null").unwrap();
    let (r, calls) = capture(
        |_, attr| {
            let p = u64_at(attr, 0) as *const std::ffi::c_char;
            // SAFETY: the wrapper passes a pointer to a live NUL-terminated CString.
            let s = unsafe { std::ffi::CStr::from_ptr(p) };
            assert_eq!(s.to_bytes(), b"/sys/fs/bpf/x");
            FakeReply::ok()
        },
        || obj_pin(fd.as_fd(), std::path::Path::new("/sys/fs/bpf/x")),
    );
    r.unwrap();
    let a = ObjAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(a.bpf_fd, fd.as_raw_fd() as u32);
    assert_eq!(a.file_flags, 0);
    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || obj_pin(fd.as_fd(), std::path::Path::new("/bad\0path")),
    );
    assert!(r.is_err());
    assert!(calls.is_empty());
}

#[test]
fn link_create_kprobe_multi_and_tcx() {
    let prog = std::fs::File::open("/dev/null").unwrap();
    let syms = [c"do_sys_open", c"vfs_read"];
    let cookies = [10u64, 20];
    let (r, calls) = capture(
        |_, attr| {
            // The syms pointer leads to an array of pointers to the names.
            let a = LinkCreateAttr::from_bytes(attr).unwrap();
            let arr = a.u64_at(24) as *const u64;
            // SAFETY: during the call the wrapper keeps this 2-entry array alive.
            let second = unsafe { *arr.add(1) } as *const std::ffi::c_char;
            // SAFETY: it points to the caller's NUL-terminated "vfs_read".
            assert_eq!(unsafe { std::ffi::CStr::from_ptr(second) }, c"vfs_read");
            FakeReply::dev_null()
        },
        || {
            let mut req = LinkCreate::new(
                prog.as_fd(),
                LinkTarget::None,
                AttachType::TRACE_KPROBE_MULTI,
            );
            req.extra = LinkExtra::KprobeMulti {
                flags: 1,
                syms: &syms,
                addrs: &[],
                cookies: &cookies,
            };
            link_create(&req)
        },
    );
    r.unwrap();
    let a = LinkCreateAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(calls[0].attr.len(), 64);
    assert_eq!(a.prog_fd, prog.as_raw_fd() as u32);
    assert_eq!((a.target_fd, a.attach_type, a.flags), (0, 42, 0));
    assert_eq!((a.u32_at(16), a.u32_at(20)), (1, 2));
    assert_eq!(a.u64_at(32), 0);
    assert_eq!(a.u64_at(40), cookies.as_ptr() as u64);

    // Mismatched cookies: refused before the call.
    let (r, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || {
            let mut req = LinkCreate::new(
                prog.as_fd(),
                LinkTarget::None,
                AttachType::TRACE_KPROBE_MULTI,
            );
            req.extra = LinkExtra::KprobeMulti {
                flags: 0,
                syms: &syms,
                addrs: &[],
                cookies: &[1],
            };
            link_create(&req)
        },
    );
    assert!(r.is_err() && calls.is_empty());

    // tcx: relative link by id sets BPF_F_LINK | BPF_F_ID next to the caller's BEFORE.
    let (r, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || {
            let mut req = LinkCreate::new(
                prog.as_fd(),
                LinkTarget::Ifindex(7),
                AttachType::TCX_INGRESS,
            );
            req.flags = AttachFlags::BEFORE.bits();
            req.extra = LinkExtra::Tcx {
                relative: Relative::LinkId(55),
                expected_revision: 3,
            };
            link_create(&req)
        },
    );
    r.unwrap();
    let a = LinkCreateAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(a.target_fd, 7);
    assert_eq!(
        a.flags,
        (AttachFlags::BEFORE | AttachFlags::LINK | AttachFlags::ID).bits()
    );
    assert_eq!((a.u32_at(16), a.u64_at(24)), (55, 3));

    // An E2BIG names the extension in use.
    let (r, _) = capture(
        |_, _| Err(Errno::E2BIG),
        || {
            let mut req = LinkCreate::new(prog.as_fd(), LinkTarget::None, AttachType::PERF_EVENT);
            req.extra = LinkExtra::PerfEvent { bpf_cookie: 9 };
            link_create(&req)
        },
    );
    assert!(r.unwrap_err().to_string().contains("perf_event.bpf_cookie"));
}

#[test]
fn batch_buffers_are_checked() {
    let map = fake_array(8);
    let mut token = [0u8; 4];
    let mut keys = [0u8; 4 * 4];
    let mut values = [0u8; 8 * 3]; // room for 3, asked for 4
    let mut count = 4;
    let (r, calls) = capture(
        |_, _| FakeReply::ok(),
        || {
            map_lookup_batch(
                &map,
                None,
                &mut token,
                &mut keys,
                &mut values,
                &mut count,
                ElemFlags::ANY,
            )
        },
    );
    assert!(r.is_err());
    assert!(calls.is_empty());
    let mut values = [0u8; 8 * 4];
    let (r, calls) = capture(
        |_, attr| {
            attr[32..36].copy_from_slice(&2u32.to_ne_bytes()); // count out
            Err(Errno::ENOENT)
        },
        || {
            map_lookup_batch(
                &map,
                None,
                &mut token,
                &mut keys,
                &mut values,
                &mut count,
                ElemFlags::ANY,
            )
        },
    );
    assert_eq!(r, Ok(BatchStatus::Done));
    assert_eq!(count, 2);
    let a = BatchAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!((a.in_batch, a.count), (0, 4));
    assert_eq!(a.out_batch, token.as_ptr() as u64);
    assert_eq!(a.values, values.as_ptr() as u64);
    assert_eq!(calls[0].command, Command::MAP_LOOKUP_BATCH);
}

#[test]
fn query_btf_load_and_raw_tp() {
    let fd = std::fs::File::open("/dev/null").unwrap();
    let mut ids = [0u32; 8];
    let mut flags = [0u32; 4];
    let (r, calls) = capture(
        |_, attr| {
            attr[24..28].copy_from_slice(&3u32.to_ne_bytes());
            FakeReply::ok()
        },
        || {
            prog_query(
                Target::Fd(fd.as_fd()),
                AttachType::CGROUP_INET_INGRESS,
                &mut ProgQuery {
                    query_flags: QueryFlags::EFFECTIVE,
                    prog_ids: Some(&mut ids),
                    prog_attach_flags: Some(&mut flags),
                    ..Default::default()
                },
            )
        },
    );
    assert_eq!(r.unwrap().count, 3);
    let a = QueryAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!((a.prog_cnt, a.query_flags), (4, 1)); // the shorter buffer bounds the count
    assert_eq!(a.link_ids, 0);

    let btf = [1u8, 2, 3];
    let (r, calls) = capture(
        |_, attr| {
            attr[28..32].copy_from_slice(&99u32.to_ne_bytes());
            Err(Errno::EINVAL)
        },
        || {
            let mut req = BtfLoad {
                btf: &btf,
                ..Default::default()
            };
            let r = btf_load(&mut req);
            (r, req.log_true_size)
        },
    );
    assert_eq!(r.1, 99);
    assert_eq!(r.0.unwrap_err().bpf_command(), Some(Command::BTF_LOAD));
    let a = BtfLoadAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(
        (a.btf, a.btf_size, a.btf_log_buf),
        (btf.as_ptr() as u64, 3, 0)
    );

    let (r, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || raw_tracepoint_open(fd.as_fd(), Some(c"sys_enter"), 0),
    );
    r.unwrap();
    let a = RawTracepointAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(a.prog_fd, fd.as_raw_fd() as u32);
    assert_ne!(a.name, 0);
    assert_eq!(a.cookie, 0);
}
