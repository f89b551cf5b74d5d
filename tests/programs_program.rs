//! `Program` against the running kernel: info (sizes, map ids, run statistics), pinning and
//! reopening by pin and id, test runs with data and context, and the system-wide listings.

mod attach_support;
mod common;

use std::os::fd::AsFd;

use attach_support::*;
use oxbpf::programs::query;
use oxbpf::programs::*;
use oxbpf::syscall::*;

#[test]
fn info_reports_sizes_maps_and_run_statistics() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = counter_map("info_map");
        let prog = counting(ProgType::SOCKET_FILTER, None, &map, None, 7, "info_prog")
            .with_section("socket");
        assert_eq!(prog.name(), "info_prog");
        assert_eq!(prog.prog_type(), ProgType::SOCKET_FILTER);
        assert_eq!(prog.expected_attach_type(), None);
        assert_eq!(prog.section(), Some("socket"));
        let info = prog.info().unwrap();
        assert_eq!(info.name, "info_prog");
        assert_eq!(info.prog_type, ProgType::SOCKET_FILTER);
        assert!(info.xlated_size > 0 && info.jited_size > 0, "{info:?}");
        assert_eq!(info.map_ids, vec![map_info(map.as_fd()).unwrap().id]);
        assert_eq!(info.tag_hex().len(), 16);
        assert_eq!(info.tag, prog.tag().unwrap());
        assert!(info.gpl_compatible);
        assert!(info.line_info.is_empty(), "no BTF, no line info");

        // Run statistics count while enabled.
        let stats = enable_run_stats().unwrap();
        let out = prog
            .test_run(&mut TestRun {
                data_in: &[0u8; 64],
                repeat: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(out.retval, 7);
        assert_eq!(counter(&map), 10, "ten runs");
        let info = prog.info().unwrap();
        assert!(info.run_count >= 10, "run_count {}", info.run_count);
        assert!(info.run_time_ns > 0);
        drop(stats);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn test_run_passes_data_and_context() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("xdp_run");
    let prog = counting(
        ProgType::XDP,
        Some(AttachType::XDP),
        &map,
        None,
        2,
        "xdp_run",
    );
    let packet: Vec<u8> = (0..64u8).collect();
    let mut out = [0u8; 64];
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, ... }
    let ctx_in = [0u32, 64, 0, 0, 0, 0];
    let ctx_bytes: Vec<u8> = ctx_in.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut ctx_out = [0u8; 24];
    let r = prog
        .test_run(&mut TestRun {
            data_in: &packet,
            data_out: Some(&mut out),
            ctx_in: &ctx_bytes,
            ctx_out: Some(&mut ctx_out),
            repeat: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.retval, 2, "XDP_PASS");
    assert_eq!(r.data_size_out, 64);
    assert_eq!(out.to_vec(), packet);
    assert_eq!(counter(&map), 100);
    assert!(r.ctx_size_out > 0);
    // A failing run names the program.
    let err = prog
        .test_run(&mut TestRun {
            data_in: &[0u8; 2],
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("xdp_run"), "{err}");
}

#[test]
fn pin_and_reopen_by_pin_and_id() {
    let _serial = common::serial();
    require_bpf!();
    let fs = Bpffs::mount();
    let before = common::fd_count();
    {
        let map = counter_map("pin_prog");
        let prog = counting(ProgType::SOCKET_FILTER, None, &map, None, 1, "pinned_prog");
        let id = prog.id().unwrap();
        prog.pin(fs.path("prog")).unwrap();
        let err = prog.pin(fs.path("prog")).unwrap_err();
        assert!(err.to_string().contains("pinned_prog"), "{err}");
        drop(prog);
        let reopened = Program::from_pin(fs.path("prog")).unwrap();
        assert_eq!(reopened.id().unwrap(), id);
        assert_eq!(reopened.name(), "pinned_prog");
        assert_eq!(reopened.prog_type(), ProgType::SOCKET_FILTER);
        let by_id = Program::from_id(id).unwrap();
        assert_eq!(by_id.tag().unwrap(), reopened.tag().unwrap());
        let clone = by_id.try_clone().unwrap();
        assert_eq!(clone.id().unwrap(), id);
        drop((reopened, by_id, clone));
        std::fs::remove_file(fs.path("prog")).unwrap();
        let err = Program::from_pin(fs.path("prog")).unwrap_err();
        assert!(matches!(err, ProgramError::Pin { .. }));
        assert!(err.to_string().contains("prog"), "{err}");
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn system_listings_find_our_objects() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("list_map");
    let prog = counting(
        ProgType::RAW_TRACEPOINT,
        None,
        &map,
        Some(my_tgid()),
        0,
        "list_prog",
    );
    let link = prog.attach_raw_tracepoint("sys_exit").unwrap();
    let prog_id = prog.id().unwrap();
    let map_id = map_info(map.as_fd()).unwrap().id;
    let link_id = link.id().unwrap();
    let progs = query::all_programs().unwrap();
    let mine = progs
        .iter()
        .find(|p| p.id == prog_id)
        .expect("our program listed");
    assert_eq!(mine.name, "list_prog");
    assert_eq!(mine.map_ids, vec![map_id]);
    let maps = query::all_maps().unwrap();
    assert!(maps
        .iter()
        .any(|m| m.id == map_id && m.name() == "list_map"));
    let links = query::all_links().unwrap();
    let l = links
        .iter()
        .find(|l| l.info.id == link_id)
        .expect("our link listed");
    assert_eq!(l.info.prog_id, prog_id);
    assert_eq!(l.name.as_deref(), Some("sys_exit"));
    // The link reopened by id names its program and target.
    let by_id = Link::from_id(link_id).unwrap();
    assert_eq!(by_id.program(), "list_prog");
    assert_eq!(by_id.target(), "raw_tracepoint sys_exit");
}

#[test]
fn struct_ops_needs_a_struct_ops_map() {
    let _serial = common::serial();
    require_bpf!();
    let map = counter_map("not_ops");
    let err = attach_struct_ops(map.as_fd(), "not_ops").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not_ops") && text.contains("ARRAY"), "{text}");
    let null = std::fs::File::open("/dev/null").unwrap();
    assert!(attach_struct_ops(null.as_fd(), "null").is_err());
}

#[test]
fn attach_features_are_probed_once() {
    let _serial = common::serial();
    require_bpf!();
    let f = probe::attach_features();
    // This kernel (6.18 or 6.1) has perf links and cookies.
    assert!(
        f.perf_link && f.bpf_cookie && f.cgroup_link && f.xdp_link && f.netns_link,
        "{f:?}"
    );
    assert!(f.uprobe_pmu);
    assert_eq!(probe::attach_features(), f, "cached answers agree");
}
