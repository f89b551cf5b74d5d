//! The Foundation check: the raw `bpf(2)` layer against the running kernel.
//!
//! Creates maps, loads and runs programs, pins to a private bpffs, walks ids, and checks that
//! every fd is closed again. Privileged: skips with a reason otherwise.

mod common;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oxbpf::insn::Insn;
use oxbpf::syscall::*;

/// A bpffs mounted on a temporary directory, unmounted on drop.
struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    fn mount() -> Bpffs {
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("bpf"),
            dir.path(),
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount -t bpf");
        Bpffs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

fn array_map(value_size: u32, name: &str) -> MapFd {
    map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size,
        max_entries: 4,
        name,
        ..Default::default()
    })
    .expect("BPF_MAP_CREATE")
}

/// `r0 = map[0] as u32` (0 if absent), built from raw instructions.
fn read_map_prog(map: &MapFd) -> Vec<Insn> {
    use std::os::fd::AsRawFd;
    let fd = map.as_fd().as_raw_fd();
    vec![
        Insn::new(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        Insn::new(0xbf, 2, 10, 0, 0),  // r2 = r10
        Insn::new(0x07, 2, 0, 0, -4),  // r2 += -4
        Insn::new(0x18, 1, 1, 0, fd),  // r1 = map (ld_imm64, BPF_PSEUDO_MAP_FD)
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(0x85, 0, 0, 0, 1), // call bpf_map_lookup_elem
        Insn::new(0x15, 0, 0, 2, 0), // if r0 == 0 goto +2
        Insn::new(0x61, 0, 0, 0, 0), // r0 = *(u32 *)(r0 + 0)
        Insn::new(0x95, 0, 0, 0, 0), // exit
        Insn::new(0xb7, 0, 0, 0, 0), // r0 = 0
        Insn::new(0x95, 0, 0, 0, 0), // exit
    ]
}

fn load(prog_type: ProgType, insns: &[Insn], name: &str) -> std::os::fd::OwnedFd {
    let mut log = vec![0u8; 1 << 16];
    let mut req = ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        name,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    match prog_load(&mut req) {
        Ok(fd) => fd,
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!("{e}\n{}", String::from_utf8_lossy(&log[..end]));
        }
    }
}

#[test]
fn map_prog_pin_ids_and_fds() {
    let _serial = common::serial();
    require_bpf!();
    let fds_before = common::fd_count();
    {
        // Map: update and look up.
        let map = array_map(4, "fnd_values");
        map_update_elem(
            &map,
            &0u32.to_ne_bytes(),
            &1234u32.to_ne_bytes(),
            ElemFlags::ANY,
        )
        .unwrap();
        let mut value = [0u8; 4];
        assert!(map_lookup_elem(&map, &0u32.to_ne_bytes(), &mut value, ElemFlags::ANY).unwrap());
        assert_eq!(u32::from_ne_bytes(value), 1234);
        // Out of range for an array: not found, no error.
        assert!(!map_lookup_elem(&map, &9u32.to_ne_bytes(), &mut value, ElemFlags::ANY).unwrap());

        // Program reading the map, run on a packet.
        let insns = read_map_prog(&map);
        let prog = load(ProgType::SOCKET_FILTER, &insns, "fnd_read_map");
        let mut packet_out = [0u8; 64];
        let out = prog_test_run(
            prog.as_fd(),
            &mut TestRun {
                data_in: &[0xaa; 64],
                data_out: Some(&mut packet_out),
                repeat: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(out.retval, 1234, "the program returned the map's value");
        assert_eq!(out.data_size_out, 64);
        // The payload comes back (the kernel rebuilds the Ethernet header part).
        assert_eq!(packet_out[14..], [0xaa; 50]);

        // The program's info names it and lists the map.
        let map_id = map_info(map.as_fd()).unwrap().id;
        let pinfo = prog_info(prog.as_fd()).unwrap();
        assert_eq!(pinfo.name(), "fnd_read_map");
        assert_eq!(pinfo.prog_type(), ProgType::SOCKET_FILTER);
        assert!(pinfo.gpl_compatible());
        assert_eq!(prog_map_ids(prog.as_fd()).unwrap(), vec![map_id]);
        let xlated = prog_xlated_insns(prog.as_fd()).unwrap();
        assert!(
            xlated.len() >= insns.len() - 1,
            "{} xlated insns",
            xlated.len()
        );

        // Pin on a private bpffs, reopen, read back.
        let fs = Bpffs::mount();
        let pin = fs.path("fnd_values");
        obj_pin(map.as_fd(), &pin).unwrap();
        let err = obj_pin(map.as_fd(), &pin).unwrap_err();
        assert_eq!(err.errno, Errno::EEXIST);
        let reopened = MapFd::from_fd(obj_get(&pin, FileFlags::empty()).unwrap()).unwrap();
        assert_eq!(reopened.layout(), map.layout());
        let mut again = [0u8; 4];
        assert!(
            map_lookup_elem(&reopened, &0u32.to_ne_bytes(), &mut again, ElemFlags::ANY).unwrap()
        );
        assert_eq!(u32::from_ne_bytes(again), 1234);
        let missing = obj_get(&fs.path("nothing"), FileFlags::empty()).unwrap_err();
        assert_eq!(missing.errno, Errno::ENOENT);
        assert_eq!(missing.bpf_command(), Some(Command::OBJ_GET));
        std::fs::remove_file(&pin).unwrap();

        // Walk the map ids to find ours.
        let mut found = false;
        for id in map_ids() {
            let id = id.unwrap();
            let fd = match map_get_fd_by_id(id, FileFlags::empty()) {
                Ok(fd) => fd,
                Err(e) if e.errno == Errno::ENOENT => continue, // freed meanwhile
                Err(e) => panic!("{e}"),
            };
            let info = map_info(fd.as_fd()).unwrap();
            assert_eq!(info.id, id);
            if id == map_id {
                assert_eq!(info.name(), "fnd_values");
                assert_eq!(info.map_type(), MapType::ARRAY);
                assert_eq!(
                    (info.key_size, info.value_size, info.max_entries),
                    (4, 4, 4)
                );
                found = true;
            }
        }
        assert!(found, "map {map_id} not among the map ids");
        let prog_id = pinfo.id;
        assert!(prog_ids().any(|id| id.unwrap() == prog_id));
        let by_id = prog_get_fd_by_id(prog_id).unwrap();
        assert_eq!(prog_info(by_id.as_fd()).unwrap().tag, pinfo.tag);
    }
    assert_eq!(common::fd_count(), fds_before, "every fd was closed");
}

#[test]
fn invalid_map_is_a_typed_error() {
    let _serial = common::serial();
    require_bpf!();
    let err = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 0,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.command, Call::Bpf(Command::MAP_CREATE));
    assert_eq!(err.errno, Errno::EINVAL);
    assert!(
        err.to_string().starts_with("BPF_MAP_CREATE failed: EINVAL"),
        "{err}"
    );
}

#[test]
fn verifier_rejection_fills_the_log() {
    let _serial = common::serial();
    require_bpf!();
    // exit without setting r0: the verifier refuses.
    let insns = [Insn::new(0x95, 0, 0, 0, 0)];
    let mut log = vec![0u8; 4096];
    let mut req = ProgLoad {
        prog_type: ProgType::SOCKET_FILTER,
        insns: &insns,
        license: c"GPL",
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    let err = prog_load(&mut req).unwrap_err();
    assert_eq!(err.errno, Errno::EACCES);
    let true_size = req.log_true_size as usize;
    // log_true_size came in 6.4: before it, the kernel leaves it 0.
    let has_true_size = oxbpf::features::has(oxbpf::features::Feature::LogTrueSize).unwrap();
    let len = if has_true_size {
        assert!(true_size > 1, "log_true_size {true_size}");
        true_size - 1
    } else {
        assert_eq!(true_size, 0);
        log.iter().position(|&b| b == 0).unwrap_or(log.len())
    };
    let text = String::from_utf8_lossy(&log[..len]).into_owned();
    assert!(text.contains("R0 !read_ok"), "{text}");

    // Too small a buffer: ENOSPC, and log_true_size says what it needed.
    let mut small = vec![0u8; 128];
    let mut req = ProgLoad {
        prog_type: ProgType::SOCKET_FILTER,
        insns: &insns,
        license: c"GPL",
        log_level: LogLevel::LEVEL2,
        log_buf: Some(&mut small),
        ..Default::default()
    };
    let err = prog_load(&mut req).unwrap_err();
    if err.errno == Errno::ENOSPC {
        assert!(!has_true_size || req.log_true_size > 128);
    } else {
        assert_eq!(err.errno, Errno::EACCES);
    }
}

#[test]
fn sysfs_btf_is_mapped() {
    let _serial = common::serial();
    let path = Path::new("/sys/kernel/btf/vmlinux");
    if !path.exists() {
        eprintln!("SKIPPED sysfs_btf_is_mapped: no {}", path.display());
        return;
    }
    let before = common::fd_count();
    {
        let btf = MappedFile::open(path).unwrap();
        assert_eq!(&btf[..2], &[0x9f, 0xeb]);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn hash_batch_round_trip() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = map_create(&MapCreate {
            map_type: MapType::HASH,
            key_size: 4,
            value_size: 8,
            max_entries: 64,
            name: "fnd_batch",
            ..Default::default()
        })
        .unwrap();
        let n = 10u32;
        let keys: Vec<u8> = (0..n).flat_map(|k| (k * 3).to_ne_bytes()).collect();
        let values: Vec<u8> = (0..n)
            .flat_map(|k| u64::from(k * 100).to_ne_bytes())
            .collect();
        let mut count = n;
        map_update_batch(&map, &keys, &values, &mut count, ElemFlags::ANY).unwrap();
        assert_eq!(count, n);

        // Read back in chunks of 4, following the batch token.
        let mut seen = Vec::new();
        let mut token = [0u8; 4];
        let mut next: Option<[u8; 4]> = None;
        loop {
            let (mut k, mut v) = ([0u8; 4 * 4], [0u8; 8 * 4]);
            let mut count = 4;
            let status = map_lookup_batch(
                &map,
                next.as_ref().map(|t| &t[..]),
                &mut token,
                &mut k,
                &mut v,
                &mut count,
                ElemFlags::ANY,
            )
            .unwrap();
            for i in 0..count as usize {
                let key = u32::from_ne_bytes(k[i * 4..i * 4 + 4].try_into().unwrap());
                let val = u64::from_ne_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
                seen.push((key, val));
            }
            if status == BatchStatus::Done {
                break;
            }
            next = Some(token);
        }
        seen.sort();
        let expected: Vec<(u32, u64)> = (0..n).map(|k| (k * 3, u64::from(k * 100))).collect();
        assert_eq!(seen, expected);

        // Delete half by batch, then the rest by lookup-and-delete batch.
        let mut count = 5;
        map_delete_batch(&map, &keys[..20], &mut count, ElemFlags::ANY).unwrap();
        assert_eq!(count, 5);
        let (mut k, mut v, mut token) = ([0u8; 4 * 16], [0u8; 8 * 16], [0u8; 4]);
        let mut count = 16;
        let status = map_lookup_and_delete_batch(
            &map,
            None,
            &mut token,
            &mut k,
            &mut v,
            &mut count,
            ElemFlags::ANY,
        )
        .unwrap();
        assert_eq!((status, count), (BatchStatus::Done, 5));
        let mut first = [0u8; 4];
        assert!(
            !map_get_next_key(&map, None, &mut first).unwrap(),
            "map is empty"
        );
    }
    assert_eq!(common::fd_count(), before);
}

/// `r1 = map; r0 = lookup(key 0); if r0: lock *(u64 *)r0 += 1; return 0`.
fn count_prog(map: &MapFd) -> Vec<Insn> {
    use std::os::fd::AsRawFd;
    let fd = map.as_fd().as_raw_fd();
    vec![
        Insn::new(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        Insn::new(0xbf, 2, 10, 0, 0),  // r2 = r10
        Insn::new(0x07, 2, 0, 0, -4),  // r2 += -4
        Insn::new(0x18, 1, 1, 0, fd),  // r1 = map
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(0x85, 0, 0, 0, 1), // call bpf_map_lookup_elem
        Insn::new(0x15, 0, 0, 2, 0), // if r0 == 0 goto +2
        Insn::new(0xb7, 1, 0, 0, 1), // r1 = 1
        Insn::new(0xdb, 0, 1, 0, 0), // lock *(u64 *)(r0 + 0) += r1
        Insn::new(0xb7, 0, 0, 0, 0), // r0 = 0
        Insn::new(0x95, 0, 0, 0, 0), // exit
    ]
}

fn counter(map: &MapFd) -> u64 {
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(map, &0u32.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap());
    u64::from_ne_bytes(v)
}

#[test]
fn raw_tracepoint_counts_syscalls() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let map = array_map(8, "fnd_rawtp");
        let prog = load(ProgType::RAW_TRACEPOINT, &count_prog(&map), "fnd_sys_enter");
        assert_eq!(counter(&map), 0);
        let link = raw_tracepoint_open(prog.as_fd(), Some(c"sys_enter"), 0).unwrap();
        let _ = nix::unistd::getppid();
        let _ = std::fs::metadata("/");
        assert!(counter(&map) > 0, "the program ran on sys_enter");

        let info = link_info(link.as_fd()).unwrap();
        assert_eq!(info.link_type(), LinkType::RAW_TRACEPOINT);
        assert_eq!(info.prog_id, prog_info(prog.as_fd()).unwrap().id);
        assert_eq!(
            link_info_name(link.as_fd()).unwrap().as_deref(),
            Some("sys_enter")
        );
        assert!(link_ids().any(|id| id.unwrap() == info.id));

        // Raw tracepoint links cannot be detached in place: a typed EOPNOTSUPP.
        let err = link_detach(link.as_fd()).unwrap_err();
        assert_eq!(err.bpf_command(), Some(Command::LINK_DETACH));
        assert_eq!(err.errno, Errno::EOPNOTSUPP);
        // Closing the link frees it (its id disappears).
        drop(link);
        assert!(!link_ids().any(|id| id.unwrap() == info.id));
    }
    assert_eq!(common::fd_count(), before);
}

/// A private cgroup2 mount with a child cgroup, removed on drop.
struct Cgroup {
    mount: tempfile::TempDir,
    child: PathBuf,
}

impl Cgroup {
    fn new() -> Option<Cgroup> {
        let mount = tempfile::tempdir().unwrap();
        let flags = nix::mount::MsFlags::empty();
        if let Err(e) = nix::mount::mount(
            Some("cgroup2"),
            mount.path(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        ) {
            eprintln!("SKIPPED cgroup part: mount -t cgroup2: {e}");
            return None;
        }
        let child = mount
            .path()
            .join(format!("oxbpf_fnd_{}", std::process::id()));
        std::fs::create_dir(&child).unwrap();
        Some(Cgroup { mount, child })
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.child);
        let _ = nix::mount::umount2(self.mount.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn cgroup_link_create_attach_and_query() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let Some(cg) = Cgroup::new() else { return };
        let dir = std::fs::File::open(&cg.child).unwrap();
        // r0 = 1 (allow); exit
        let insns = [Insn::new(0xb7, 0, 0, 0, 1), Insn::new(0x95, 0, 0, 0, 0)];
        let mut req = ProgLoad {
            prog_type: ProgType::CGROUP_SKB,
            insns: &insns,
            license: c"GPL",
            name: "fnd_cg_allow",
            expected_attach_type: AttachType::CGROUP_INET_EGRESS,
            ..Default::default()
        };
        let prog = prog_load(&mut req).unwrap();
        let prog_id = prog_info(prog.as_fd()).unwrap().id;
        let query = |n: usize| {
            let mut ids = vec![0u32; n];
            let out = prog_query(
                Target::Fd(dir.as_fd()),
                AttachType::CGROUP_INET_EGRESS,
                &mut ProgQuery {
                    prog_ids: Some(&mut ids),
                    ..Default::default()
                },
            )
            .unwrap();
            ids.truncate(out.count as usize);
            ids
        };
        assert!(query(4).is_empty());

        // LINK_CREATE, seen by PROG_QUERY and link info; gone when the link is dropped.
        let link = link_create(&LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(dir.as_fd()),
            AttachType::CGROUP_INET_EGRESS,
        ))
        .unwrap();
        assert_eq!(query(4), vec![prog_id]);
        assert_eq!(
            link_info(link.as_fd()).unwrap().link_type(),
            LinkType::CGROUP
        );
        drop(link);
        assert!(query(4).is_empty());

        // PROG_ATTACH / PROG_DETACH.
        let mut attach = ProgAttach::new(
            Target::Fd(dir.as_fd()),
            prog.as_fd(),
            AttachType::CGROUP_INET_EGRESS,
        );
        attach.flags = AttachFlags::ALLOW_MULTI;
        prog_attach(&attach).unwrap();
        assert_eq!(query(4), vec![prog_id]);
        prog_detach(&ProgDetach::new(
            Target::Fd(dir.as_fd()),
            Some(prog.as_fd()),
            AttachType::CGROUP_INET_EGRESS,
        ))
        .unwrap();
        assert!(query(4).is_empty());
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn btf_load_and_read_back() {
    let _serial = common::serial();
    require_bpf!();
    // Minimal BTF: one INT "int" (4 bytes, signed, 32 bits).
    let strings = b"\0int\0";
    let mut types = Vec::new();
    types.extend_from_slice(&1u32.to_le_bytes()); // name_off
    types.extend_from_slice(&(1u32 << 24).to_le_bytes()); // kind INT, vlen 0
    types.extend_from_slice(&4u32.to_le_bytes()); // size
    types.extend_from_slice(&((1u32 << 24) | 32).to_le_bytes()); // SIGNED, 32 bits
    let mut btf = Vec::new();
    btf.extend_from_slice(&0xeb9fu16.to_le_bytes());
    btf.extend_from_slice(&[1, 0]); // version, flags
    btf.extend_from_slice(&24u32.to_le_bytes()); // hdr_len
    btf.extend_from_slice(&0u32.to_le_bytes()); // type_off
    btf.extend_from_slice(&(types.len() as u32).to_le_bytes());
    btf.extend_from_slice(&(types.len() as u32).to_le_bytes()); // str_off
    btf.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    btf.extend_from_slice(&types);
    btf.extend_from_slice(strings);

    let before = common::fd_count();
    {
        let mut log = vec![0u8; 4096];
        let mut req = BtfLoad {
            btf: &btf,
            log_level: LogLevel::LEVEL1,
            log_buf: Some(&mut log),
            ..Default::default()
        };
        let fd = btf_load(&mut req).unwrap();
        // log_true_size came in 6.4.
        let has_true_size = oxbpf::features::has(oxbpf::features::Feature::LogTrueSize).unwrap();
        assert!(!has_true_size || req.log_true_size > 0);
        assert_eq!(btf_data(fd.as_fd()).unwrap(), btf);
        let info = btf_info(fd.as_fd()).unwrap();
        assert_eq!(info.kernel_btf, 0);
        assert!(btf_ids().any(|id| id.unwrap() == info.id));

        // Broken BTF: EINVAL, and the log says why.
        let mut bad = btf.clone();
        bad[24 + 4..24 + 8].copy_from_slice(&(15u32 << 24).to_le_bytes()); // unknown kind
        let mut log = vec![0u8; 4096];
        let mut req = BtfLoad {
            btf: &bad,
            log_level: LogLevel::LEVEL1,
            log_buf: Some(&mut log),
            ..Default::default()
        };
        let err = btf_load(&mut req).unwrap_err();
        assert_eq!(err.errno, Errno::EINVAL);
        assert!(!has_true_size || req.log_true_size > 1);
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn vmlinux_btf_is_listed() {
    let _serial = common::serial();
    require_bpf!();
    let mut found = false;
    for id in btf_ids() {
        let fd = match btf_get_fd_by_id(id.unwrap()) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::ENOENT => continue,
            Err(e) => panic!("{e}"),
        };
        if btf_name(fd.as_fd()).unwrap() == "vmlinux" {
            assert_ne!(btf_info(fd.as_fd()).unwrap().kernel_btf, 0);
            found = true;
            break;
        }
    }
    assert!(found, "no vmlinux BTF among the BTF ids");
}

/// tracefs mounted on a temporary directory, unmounted on drop.
struct Tracefs {
    dir: tempfile::TempDir,
}

impl Tracefs {
    fn mount() -> Option<Tracefs> {
        let dir = tempfile::tempdir().unwrap();
        let flags = nix::mount::MsFlags::empty();
        match nix::mount::mount(
            Some("nodev"),
            dir.path(),
            Some("tracefs"),
            flags,
            None::<&str>,
        ) {
            Ok(()) => Some(Tracefs { dir }),
            Err(e) => {
                eprintln!("SKIPPED perf part: mount -t tracefs: {e}");
                None
            }
        }
    }

    fn event_id(&self, event: &str) -> Option<u64> {
        let path = self.dir.path().join("events").join(event).join("id");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn tracepoint_through_perf_event_link_and_ioctl() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let Some(tracefs) = Tracefs::mount() else {
            return;
        };
        let Some(id) = tracefs.event_id("syscalls/sys_enter_getppid") else {
            eprintln!("SKIPPED tracepoint_through_perf_event_link_and_ioctl: no syscalls/sys_enter_getppid tracepoint");
            return;
        };
        let map = array_map(8, "fnd_tp");
        let prog = load(ProgType::TRACEPOINT, &count_prog(&map), "fnd_getppid");

        // This process only, any CPU.
        let perf = perf_event_open(&PerfEventAttr::tracepoint(id), 0, -1, None).unwrap();
        let mut req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(perf.as_fd()),
            AttachType::PERF_EVENT,
        );
        req.extra = LinkExtra::PerfEvent { bpf_cookie: 0x1234 };
        let link = link_create(&req).unwrap();
        assert_eq!(
            link_info(link.as_fd()).unwrap().link_type(),
            LinkType::PERF_EVENT
        );
        // Perf-event links report their tracepoint since 6.6 (bpf_link_info.perf_event):
        // asked of the kernel's own BTF, not of its version.
        let reports_name = oxbpf::loader::kernel_btf::vmlinux()
            .ok()
            .and_then(|b| {
                let id = b.id_by_name_kind("bpf_link_info", oxbpf::btf::BtfKind::Struct)?;
                b.find_member(id, "perf_event").ok().flatten()
            })
            .is_some();
        if reports_name {
            assert_eq!(
                link_info_name(link.as_fd()).unwrap().as_deref(),
                Some("sys_enter_getppid")
            );
        } else {
            eprintln!("this kernel's bpf_link_info has no perf_event member: name not checked");
        }
        for _ in 0..3 {
            let _ = nix::unistd::getppid();
        }
        assert_eq!(counter(&map), 3, "three getppid calls, three runs");
        drop(link);
        drop(perf);

        // The pre-link way: PERF_EVENT_IOC_SET_BPF, then ENABLE.
        let attr = PerfEventAttr {
            flags: PerfEventFlags::DISABLED.bits(),
            ..PerfEventAttr::tracepoint(id)
        };
        let perf = perf_event_open(&attr, 0, -1, None).unwrap();
        perf_event_set_bpf(perf.as_fd(), prog.as_fd()).unwrap();
        perf_event_enable(perf.as_fd()).unwrap();
        let _ = nix::unistd::getppid();
        assert_eq!(counter(&map), 4, "one more getppid, one more run");
        perf_event_disable(perf.as_fd()).unwrap();
        // A second program on the same event is refused (EEXIST), as a typed ioctl error.
        let err = perf_event_set_bpf(perf.as_fd(), prog.as_fd()).unwrap_err();
        assert_eq!(err.command, Call::Ioctl("PERF_EVENT_IOC_SET_BPF"));
    }
    assert_eq!(common::fd_count(), before);
}

#[test]
fn mmap_array_and_ring_buffer() {
    let _serial = common::serial();
    require_bpf!();
    let before = common::fd_count();
    {
        let page = page_size();
        let map = map_create(&MapCreate {
            map_type: MapType::ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            map_flags: MapFlags::MMAPABLE,
            name: "fnd_mmap",
            ..Default::default()
        })
        .unwrap();
        let region = map_mmap(map.as_fd(), page, 0, Protection::ReadWrite).unwrap();
        assert!(region.write(8, &77u64.to_ne_bytes()));
        let mut v = [0u8; 8];
        assert!(map_lookup_elem(&map, &1u32.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap());
        assert_eq!(u64::from_ne_bytes(v), 77);
        map_update_elem(
            &map,
            &2u32.to_ne_bytes(),
            &5u64.to_ne_bytes(),
            ElemFlags::ANY,
        )
        .unwrap();
        assert_eq!(region.load_acquire_u64(16), Some(5));
        assert_eq!(region.load_acquire_u64(page), None, "out of bounds");
        // Mapping more than the map holds is refused with a typed error.
        let err = map_mmap(map.as_fd(), page * 4, 0, Protection::ReadOnly).unwrap_err();
        assert_eq!(err.command, Call::Mmap);

        let ring_size = page * 4;
        let ring = map_create(&MapCreate {
            map_type: MapType::RINGBUF,
            max_entries: ring_size as u32,
            name: "fnd_ring",
            ..Default::default()
        })
        .unwrap();
        let consumer = map_mmap(ring.as_fd(), page, 0, Protection::ReadWrite).unwrap();
        let producer = map_mmap(
            ring.as_fd(),
            page + 2 * ring_size,
            page as u64,
            Protection::ReadOnly,
        )
        .unwrap();
        assert_eq!(consumer.load_acquire_u64(0), Some(0));
        assert_eq!(producer.load_acquire_u64(0), Some(0));
        assert!(consumer.store_release_u64(0, 0));
        assert!(
            !producer.store_release_u64(0, 1),
            "read-only region refuses stores"
        );
        // The producer page cannot be mapped writable.
        assert!(map_mmap(ring.as_fd(), page, page as u64, Protection::ReadWrite).is_err());
    }
    assert_eq!(common::fd_count(), before);
}

/// Member byte offsets of the named structs/unions in `bpftool btf dump ... format raw`.
fn kernel_layouts(
    raw: &str,
    wanted: &[&str],
) -> std::collections::HashMap<String, (usize, Vec<(String, usize)>)> {
    let mut out = std::collections::HashMap::new();
    let mut current: Option<String> = None;
    for line in raw.lines() {
        if line.starts_with('[') {
            current = None;
            let kind_ok = line.contains("] STRUCT '") || line.contains("] UNION '");
            let name = line.split('\'').nth(1).unwrap_or("");
            if kind_ok && wanted.contains(&name) && !out.contains_key(name) {
                let size = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("size="))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                out.insert(name.to_string(), (size, Vec::new()));
                current = Some(name.to_string());
            }
        } else if let Some(name) = &current {
            let member = line.split('\'').nth(1).unwrap_or("").to_string();
            let bits: usize = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("bits_offset="))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Some(entry) = out.get_mut(name) {
                entry.1.push((member, bits / 8));
            }
        }
    }
    out
}

#[test]
fn layouts_match_this_kernels_btf() {
    use std::mem::{offset_of, size_of};
    let _serial = common::serial();
    let output = std::process::Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "raw",
        ])
        .output();
    let raw = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("SKIPPED layouts_match_this_kernels_btf: bpftool or /sys/kernel/btf/vmlinux unavailable");
            return;
        }
    };
    let names = [
        "bpf_map_info",
        "bpf_btf_info",
        "bpf_prog_info",
        "bpf_link_info",
        "perf_event_attr",
        "bpf_attr",
    ];
    let k = kernel_layouts(&raw, &names);
    let check = |strukt: &str, ours: usize, fields: &[(&str, usize)]| {
        let (size, members) = k
            .get(strukt)
            .unwrap_or_else(|| panic!("{strukt} not in BTF"));
        // Ours may be newer (longer) than an older kernel's: then only the fields the kernel
        // has are compared (it zero-fills or ignores the tail we send).
        let kernel_older = *size < ours;
        for (name, off) in fields {
            let kernel = members.iter().find(|(m, _)| m == name).map(|(_, o)| *o);
            if kernel_older && kernel.is_none() {
                continue;
            }
            assert_eq!(kernel, Some(*off), "{strukt}.{name}");
        }
    };
    check(
        "bpf_map_info",
        size_of::<MapInfo>(),
        &[
            ("type", offset_of!(MapInfo, type_)),
            ("key_size", offset_of!(MapInfo, key_size)),
            ("name", offset_of!(MapInfo, name)),
            ("netns_dev", offset_of!(MapInfo, netns_dev)),
            ("btf_vmlinux_id", offset_of!(MapInfo, btf_vmlinux_id)),
            ("map_extra", offset_of!(MapInfo, map_extra)),
            ("hash_size", offset_of!(MapInfo, hash_size)),
        ],
    );
    check(
        "bpf_btf_info",
        size_of::<BtfInfo>(),
        &[
            ("btf_size", offset_of!(BtfInfo, btf_size)),
            ("name", offset_of!(BtfInfo, name)),
            ("kernel_btf", offset_of!(BtfInfo, kernel_btf)),
        ],
    );
    check(
        "bpf_prog_info",
        size_of::<ProgInfo>(),
        &[
            ("tag", offset_of!(ProgInfo, tag)),
            ("xlated_prog_insns", offset_of!(ProgInfo, xlated_prog_insns)),
            ("map_ids", offset_of!(ProgInfo, map_ids)),
            ("name", offset_of!(ProgInfo, name)),
            ("netns_dev", offset_of!(ProgInfo, netns_dev)),
            ("func_info", offset_of!(ProgInfo, func_info)),
            ("prog_tags", offset_of!(ProgInfo, prog_tags)),
            ("verified_insns", offset_of!(ProgInfo, verified_insns)),
            ("attach_btf_id", offset_of!(ProgInfo, attach_btf_id)),
        ],
    );
    check(
        "bpf_link_info",
        size_of::<LinkInfo>(),
        &[("prog_id", offset_of!(LinkInfo, prog_id))],
    );
    check(
        "perf_event_attr",
        size_of::<PerfEventAttr>(),
        &[
            ("config", offset_of!(PerfEventAttr, config)),
            ("sample_type", offset_of!(PerfEventAttr, sample_type)),
            ("bp_type", offset_of!(PerfEventAttr, bp_type)),
            (
                "branch_sample_type",
                offset_of!(PerfEventAttr, branch_sample_type),
            ),
            ("clockid", offset_of!(PerfEventAttr, clockid)),
            (
                "sample_max_stack",
                offset_of!(PerfEventAttr, sample_max_stack),
            ),
            ("sig_data", offset_of!(PerfEventAttr, sig_data)),
            ("config3", offset_of!(PerfEventAttr, config3)),
        ],
    );
    // union bpf_attr is as large as its largest member, PROG_LOAD's on 6.18; an older
    // kernel's is shorter, and the syscall layer names the too-new field when it refuses.
    let (attr_size, _) = k["bpf_attr"];
    let ours = size_of::<ProgLoadAttr>();
    let newest = oxbpf::syscall::KernelVersion::running()
        .is_some_and(|v| v >= oxbpf::syscall::KernelVersion::new(6, 18));
    assert!(
        attr_size >= ours || !newest,
        "bpf_attr {attr_size} < PROG_LOAD's {ours} on 6.18+"
    );
    for size in [
        size_of::<MapCreateAttr>(),
        size_of::<LinkCreateAttr>(),
        size_of::<TestRunAttr>(),
    ] {
        assert!(size <= attr_size);
    }
}
