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
    assert!(true_size > 1, "log_true_size {true_size}");
    let text = String::from_utf8_lossy(&log[..true_size - 1]).into_owned();
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
        assert!(req.log_true_size > 128);
    } else {
        assert_eq!(err.errno, Errno::EACCES);
    }
}

#[test]
fn sysfs_btf_is_mapped() {
    let _serial = common::serial();
    let path = Path::new("/sys/kernel/btf/vmlinux");
    if !path.exists() {
        eprintln!("SKIPPED: no {}", path.display());
        return;
    }
    let before = common::fd_count();
    {
        let btf = MappedFile::open(path).unwrap();
        assert_eq!(&btf[..2], &[0x9f, 0xeb]);
    }
    assert_eq!(common::fd_count(), before);
}
