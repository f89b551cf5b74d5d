//! How probes read the kernel's answers, against a fake kernel (no privileges needed). The
//! probe functions are called directly: the process-wide caches stay untouched.

use nix::errno::Errno;

use super::probe::ProbeError;
use super::{btf, link, load, map, prog};
use crate::syscall::testing::{capture, FakeReply};
use crate::syscall::{
    Command, LinkCreateAttr, MapCreateAttr, MapType, Pod, ProgLoadAttr, ProgType,
};

fn fail(errno: Errno) -> impl FnMut(Command, &mut [u8]) -> Result<FakeReply, Errno> {
    move |_, _| Err(errno)
}

#[test]
fn btf_kind_answers_follow_the_errno() {
    let (r, calls) = capture(|_, _| FakeReply::dev_null(), btf::float);
    assert_eq!(r, Ok(true));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].command, Command::BTF_LOAD);
    let (r, _) = capture(fail(Errno::EINVAL), btf::enum64);
    assert_eq!(r, Ok(false));
    let (r, _) = capture(fail(Errno::EPERM), btf::type_tag);
    assert!(r.unwrap_err().is_permission());
    let (r, _) = capture(fail(Errno::ENOMEM), btf::decl_tag);
    assert!(matches!(r, Err(ProbeError::Unexpected { .. })));
}

#[test]
fn unknown_prog_type_is_einval_without_a_log() {
    let (r, calls) = capture(fail(Errno::EINVAL), || prog::spec(ProgType::XDP, false));
    assert!(r.is_some() && calls.is_empty());
    let (r, calls) = capture(fail(Errno::EINVAL), || {
        super::prog::prog_type_uncached(ProgType::NETFILTER)
    });
    assert_eq!(r, Ok(false));
    let attr = ProgLoadAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(attr.prog_type, ProgType::NETFILTER.0);
    assert_eq!(attr.expected_attach_type, 45, "BPF_NETFILTER");
    assert_eq!(attr.log_level, 1);
    let (r, _) = capture(fail(Errno::EPERM), || {
        super::prog::prog_type_uncached(ProgType::LSM)
    });
    assert!(matches!(r, Err(ProbeError::Permission { .. })));
}

#[test]
fn map_probes_send_valid_attributes() {
    let (r, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || map::probe_uncached(MapType::RINGBUF),
    );
    assert_eq!(r, Ok(true));
    let attr = MapCreateAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!((attr.key_size, attr.value_size), (0, 0));
    assert!(attr.max_entries.is_power_of_two() && attr.max_entries >= 4096);
    // Maps of maps create their inner map first.
    let (_, calls) = capture(
        |_, _| FakeReply::dev_null(),
        || map::probe_uncached(MapType::HASH_OF_MAPS),
    );
    assert_eq!(calls.len(), 2);
    let outer = MapCreateAttr::from_bytes(&calls[1].attr).unwrap();
    assert_eq!(outer.map_type, MapType::HASH_OF_MAPS.0);
    assert_ne!(outer.inner_map_fd, 0);
    let (r, _) = capture(fail(Errno::EINVAL), || map::probe_uncached(MapType::ARENA));
    assert_eq!(r, Ok(false));
}

#[test]
fn uprobe_multi_needs_ebadf_then_einval() {
    let mut n = 0;
    let (r, calls) = capture(
        move |cmd, _| {
            n += 1;
            match (cmd, n) {
                (Command::PROG_LOAD, _) => FakeReply::dev_null(),
                (_, 2) => Err(Errno::EBADF),
                _ => Err(Errno::EINVAL),
            }
        },
        link::uprobe_multi,
    );
    assert_eq!(r, Ok(true));
    let load = ProgLoadAttr::from_bytes(&calls[0].attr).unwrap();
    assert_eq!(load.expected_attach_type, 48, "BPF_TRACE_UPROBE_MULTI");
    let first = LinkCreateAttr::from_bytes(&calls[1].attr).unwrap();
    let second = LinkCreateAttr::from_bytes(&calls[2].attr).unwrap();
    assert_eq!(first.attach_type, 48);
    // uprobe_multi.pid at offset 56: 0, then -1.
    assert_eq!(first.u32_at(56), 0);
    assert_eq!(second.u32_at(56), u32::MAX);
    // A kernel without the PID fix answers EBADF twice: the feature counts as missing.
    let (r, _) = capture(
        |cmd, _| match cmd {
            Command::PROG_LOAD => FakeReply::dev_null(),
            _ => Err(Errno::EBADF),
        },
        link::uprobe_multi,
    );
    assert_eq!(r, Ok(false));
}

#[test]
fn link_probes_read_their_errnos() {
    let reply = |link_errno: Errno| {
        move |cmd, _: &mut [u8]| match cmd {
            Command::PROG_LOAD => FakeReply::dev_null(),
            _ => Err(link_errno),
        }
    };
    assert_eq!(capture(reply(Errno::ENODEV), link::tcx).0, Ok(true));
    assert_eq!(capture(reply(Errno::EINVAL), link::tcx).0, Ok(false));
    assert_eq!(
        capture(reply(Errno::EOPNOTSUPP), link::kprobe_multi).0,
        Ok(false)
    );
    assert_eq!(capture(reply(Errno::ESRCH), link::kprobe_multi).0, Ok(true));
    assert_eq!(capture(reply(Errno::EBADF), link::perf_link).0, Ok(true));
    assert_eq!(
        capture(reply(Errno::EAFNOSUPPORT), link::netfilter).0,
        Ok(true)
    );
    // The program a link probe needs does not load: the link kind is missing.
    assert_eq!(capture(fail(Errno::EINVAL), link::netkit).0, Ok(false));
    let (r, _) = capture(reply(Errno::ENOMEM), link::tcx);
    assert!(matches!(r, Err(ProbeError::Unexpected { .. })));
}

#[test]
fn load_probes() {
    let (r, calls) = capture(|_, _| FakeReply::dev_null(), load::global_data);
    assert_eq!(r, Ok(true));
    assert_eq!(calls[0].command, Command::MAP_CREATE);
    let prog = ProgLoadAttr::from_bytes(&calls[1].attr).unwrap();
    assert_eq!(prog.insn_cnt, 5);
    let (r, _) = capture(fail(Errno::EINVAL), load::prog_name);
    assert_eq!(r, Ok(false));
    // Setup failures are errors, not answers.
    let (r, _) = capture(fail(Errno::EPERM), load::prog_bind_map);
    assert!(r.unwrap_err().is_permission());
}
