//! The load pipeline end to end: fixtures and third-party objects load as libbpf loads them,
//! programs run (PROG_TEST_RUN) and prove their maps and globals work, pinned maps are reused
//! or refused, and nothing leaks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fd_count, fixture_pair, serial, Bpffs};
use oxbpf::loader::{LoadError, Loader};
use oxbpf::object::Object;
use oxbpf::syscall::{prog_test_run, ElemFlags, TestRun};

/// A 64-byte Ethernet/IPv4/TCP packet (the one the CO-RE fixtures check).
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    p[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    p[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut p[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let tcp = &mut p[34..54];
    tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x80 | 0x10 | 0x02;
    tcp[14..16].copy_from_slice(&0x1234u16.to_be_bytes());
    p
}

/// `skb->len` of a socket filter test run: the packet without its Ethernet header.
fn skb_len(pkt: &[u8]) -> usize {
    pkt.len() - 14
}

/// Runs a socket filter with `skb->mark` set.
fn run_marked(fd: std::os::fd::BorrowedFd<'_>, mark: u32) -> u32 {
    // struct __sk_buff: mark is at offset 8.
    let mut ctx = vec![0u8; 192];
    ctx[8..12].copy_from_slice(&mark.to_ne_bytes());
    let pkt = packet();
    let mut t = TestRun {
        data_in: &pkt,
        ctx_in: &ctx,
        ..Default::default()
    };
    prog_test_run(fd, &mut t).expect("test run").retval
}

fn run(fd: std::os::fd::BorrowedFd<'_>, data: &[u8]) -> u32 {
    let mut t = TestRun {
        data_in: data,
        ..Default::default()
    };
    prog_test_run(fd, &mut t).expect("test run").retval
}

#[test]
fn minimal_object_counts_each_run() {
    require_bpf!();
    let _s = serial();
    for path in fixture_pair("smoke", "minimal") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        let prog = loaded.program("count").unwrap();
        for _ in 0..3 {
            assert_eq!(run(prog.fd(), &packet()), 0);
        }
        let map = loaded.map("counter").unwrap();
        let mut v = [0u8; 8];
        assert!(map
            .lookup(&0u32.to_ne_bytes(), &mut v, ElemFlags::ANY)
            .unwrap());
        assert_eq!(u64::from_ne_bytes(v), 3, "{}", path.display());
    }
}

#[test]
fn globals_are_set_before_load_and_read_after_a_run() {
    require_bpf!();
    let _s = serial();
    for path in fixture_pair("object", "globals") {
        let mut obj = Object::open(&path).unwrap();
        obj.rodata_mut()
            .unwrap()
            .set_value("verbose", &0u8)
            .unwrap();
        obj.rodata_mut()
            .unwrap()
            .set_value("targ_pid", &7u64)
            .unwrap();
        let loaded = Loader::new().load(obj).unwrap();
        let prog = loaded.program("read_globals").unwrap();
        let pkt = packet();
        // cfg.flags = 3 is the return value.
        assert_eq!(run(prog.fd(), &pkt), 3, "{}", path.display());
        let bss = loaded.bss().unwrap();
        assert_eq!(bss.read::<u64>("hits").unwrap(), 1);
        // Through memory too, with no syscall.
        let mem = bss.mmap().unwrap();
        let hits = bss.variable("hits").unwrap().offset as usize;
        assert_eq!(mem.load_u64(hits).unwrap(), 1);
        let data = loaded.data().unwrap();
        // counter = 5 + table[len & 3] + static_data 9 + hidden_data 11 + static_ro 0x1234
        let expected = 5 + [1, 2, 3, 4][skb_len(&pkt) & 3] + 9 + 11 + 0x1234;
        assert_eq!(data.read::<u64>("counter").unwrap(), expected);
        let baz = loaded.global(".bss.baz").unwrap();
        assert_eq!(baz.read::<u32>("baz_zero").unwrap(), skb_len(&pkt) as u32);
        assert_eq!(
            loaded.rodata().unwrap().read::<u64>("targ_pid").unwrap(),
            7,
            "frozen .rodata keeps what was set"
        );
        // A wrong-size read is a typed error naming the variable.
        let e = bss.read::<u32>("hits").unwrap_err();
        assert!(e.to_string().contains("hits"), "{e}");
    }
}

#[test]
fn core_fixtures_pass_through_the_loader() {
    require_bpf!();
    let _s = serial();
    for path in fixture_pair("core", "kernel") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        for name in ["packet_headers", "skb_fields"] {
            let prog = loaded.program(name).unwrap();
            let ret = run(prog.fd(), &packet());
            assert_eq!(
                ret,
                0,
                "{} {name}: failed check at line {ret}",
                path.display()
            );
        }
        assert!(loaded.core_decisions().len() > 10);
    }
}

#[test]
fn unguarded_core_failure_names_the_access_path() {
    require_bpf!();
    // Serial like the others: its fds would skew their fd counts.
    let _s = serial();
    for path in fixture_pair("core", "poisoned") {
        let err = Loader::new()
            .load(Object::open(&path).unwrap())
            .unwrap_err();
        let p = err.program_error().expect("a program load error");
        assert_eq!(p.program, "unguarded");
        let text = err.to_string();
        assert!(
            text.contains("task_struct___fake->no_such_field_xyz"),
            "{text}"
        );
        assert!(p.log.contains("<invalid CO-RE relocation>"), "{}", p.log);
        assert!(!p.core_failures.is_empty());
    }
}

#[test]
fn pinned_maps_are_reused_and_mismatches_refused() {
    require_bpf!();
    let _s = serial();
    let fs = Bpffs::mount();
    for path in fixture_pair("loader", "pinned") {
        let counts = |l: &oxbpf::loader::Loaded| {
            let mut v = [0u8; 8];
            let found = l
                .map("shared_counts")
                .unwrap()
                .lookup(&1u32.to_ne_bytes(), &mut v, ElemFlags::ANY)
                .unwrap();
            if found {
                u64::from_ne_bytes(v)
            } else {
                0
            }
        };
        let first = Loader::new()
            .pin_root(fs.root())
            .load(Object::open(&path).unwrap())
            .unwrap();
        assert!(fs.path("shared_counts").exists());
        run(first.program("count_shared").unwrap().fd(), &packet());
        let id = first.map("shared_counts").unwrap().id().unwrap();
        drop(first);
        // A second load reuses the pinned map: same id, the count goes on.
        let second = Loader::new()
            .pin_root(fs.root())
            .load(Object::open(&path).unwrap())
            .unwrap();
        assert_eq!(second.map("shared_counts").unwrap().id().unwrap(), id);
        run(second.program("count_shared").unwrap().fd(), &packet());
        assert_eq!(counts(&second), 2, "{}", path.display());
        drop(second);
        // One of another shape is refused, naming the field.
        let mut obj = Object::open(&path).unwrap();
        obj.map_mut("shared_counts").unwrap().set_max_entries(17);
        let err = Loader::new().pin_root(fs.root()).load(obj).unwrap_err();
        assert!(
            matches!(err, LoadError::PinReuse { .. }) && err.to_string().contains("max_entries"),
            "{err}"
        );
        std::fs::remove_file(fs.path("shared_counts")).unwrap();
    }
}

#[test]
fn tail_calls_jump_through_the_filled_program_array() {
    require_bpf!();
    let _s = serial();
    for path in fixture_pair("loader", "tailcall") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        let entry = loaded.program("entry").unwrap().fd();
        assert_eq!(run_marked(entry, 0), 103, "slot 0 jumps to tail_a");
        assert_eq!(run_marked(entry, 1), 2, "slot 1 is empty: falls through");
        assert_eq!(run_marked(entry, 2), 210, "slot 2 jumps to tail_b");
        assert_eq!(loaded.bss().unwrap().read::<u64>("calls").unwrap(), 3);
    }
}

#[test]
fn map_in_map_slots_are_filled_from_values() {
    require_bpf!();
    let _s = serial();
    for path in fixture_pair("loader", "mim") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        for (name, v) in [("inner_a", 7u32), ("inner_b", 9u32)] {
            loaded
                .map(name)
                .unwrap()
                .update(&0u32.to_ne_bytes(), &v.to_ne_bytes(), ElemFlags::ANY)
                .unwrap();
        }
        let prog = loaded.program("read_inner").unwrap().fd();
        assert_eq!(run_marked(prog, 0), 7);
        assert_eq!(run_marked(prog, 1), 1009, "outer_hash[1] = inner_b too");
    }
}

#[test]
fn kconfig_and_ksym_externs_resolve_against_this_kernel() {
    require_bpf!();
    let _s = serial();
    let kconfig = oxbpf::loader::kconfig::Kconfig::running().ok();
    let kallsyms = oxbpf::loader::kallsyms::Kallsyms::running().unwrap();
    for path in fixture_pair("loader", "externs") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        run(loaded.program("read_externs").unwrap().fd(), &packet());
        let bss = loaded.bss().unwrap();
        assert_eq!(
            bss.read::<u32>("version").unwrap(),
            oxbpf::loader::running_kernel_version()
        );
        assert_eq!(bss.read::<u32>("syscall_on").unwrap(), 1);
        assert_eq!(bss.read::<u32>("has_cookie").unwrap(), 1);
        assert_eq!(bss.read::<u32>("missing").unwrap(), 0);
        if let Some(k) = &kconfig {
            if let Some(oxbpf::loader::kconfig::KconfigValue::Int(hz)) = k.get("CONFIG_HZ") {
                assert_eq!(i64::from(bss.read::<i32>("hz").unwrap()), *hz);
            }
        }
        assert_eq!(
            bss.read::<u64>("fops_addr").unwrap(),
            kallsyms.address("bpf_prog_alloc").unwrap()
        );
        assert_eq!(bss.read::<u64>("nosym_addr").unwrap(), 0);
    }
}

#[test]
fn kfuncs_are_called_by_btf_id() {
    require_bpf!();
    let _s = serial();
    // bpf_task_from_pid came in 6.2: ask the kernel's BTF, not its version.
    let vmlinux = oxbpf::loader::kernel_btf::vmlinux().unwrap();
    if vmlinux
        .id_by_name_kind("bpf_task_from_pid", oxbpf::btf::BtfKind::Func)
        .is_none()
    {
        eprintln!(
            "SKIPPED kfuncs_are_called_by_btf_id: this kernel's BTF has no kfunc bpf_task_from_pid"
        );
        return;
    }
    for path in fixture_pair("loader", "kfunc") {
        let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        let prog = loaded.program("find_task").unwrap().fd();
        let pid = std::process::id() as i32;
        let mut args = [0u8; 16];
        args[..4].copy_from_slice(&pid.to_ne_bytes());
        let mut t = TestRun {
            ctx_in_out: Some(&mut args),
            ..Default::default()
        };
        assert_eq!(prog_test_run(prog, &mut t).unwrap().retval, 0);
        let out = args;
        let word = |i: usize| i32::from_ne_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(1), pid, "bpf_task_from_pid found this process");
        assert_eq!(word(2), 0, "the missing weak kfunc was not called");
        assert_eq!(word(3), 1, "a resolved kfunc's address is not 0");
    }
}

#[test]
fn reloading_200_times_leaks_nothing() {
    require_bpf!();
    let _s = serial();
    let path = &fixture_pair("object", "globals")[1];
    // Warm the per-process caches (vmlinux, feature probes) first.
    drop(Loader::new().load(Object::open(path).unwrap()).unwrap());
    let before = fd_count();
    for _ in 0..200 {
        let loaded = Loader::new().load(Object::open(path).unwrap()).unwrap();
        assert_eq!(
            run(loaded.program("read_globals").unwrap().fd(), &packet()),
            3
        );
    }
    assert_eq!(fd_count(), before);
}

/// Third-party objects: where the files are.
fn third_party() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in [
        "/usr/lib/x86_64-linux-gnu/bpf",
        "/usr/libexec/xdp-tools",
        "/usr/share/gocode/src/github.com/cilium/ebpf/testdata",
    ] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".o") || name.ends_with("-el.elf") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Whether libbpf (Debian's bpftool) loads every program of `path`, and why not.
fn libbpf_loads(path: &Path, fs: &Bpffs) -> Result<(), String> {
    let dir = fs.path("libbpf");
    let out = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(path)
        .arg(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn third_party_objects_load_where_libbpf_does() {
    require_bpf!();
    let _s = serial();
    let objects = third_party();
    if objects.is_empty() {
        eprintln!("SKIPPED third_party_objects_load_where_libbpf_does: no libxdp1/xdp-tests/cilium objects installed");
        return;
    }
    let have_bpftool = Command::new("bpftool").arg("version").output().is_ok();
    let fs = Bpffs::mount();
    let mut loaded = 0;
    let mut problems = Vec::new();
    for path in &objects {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ours = Object::open(path)
            .map_err(LoadError::from)
            .and_then(|o| Loader::new().pin_root(fs.root()).load(o));
        // Remove what this object pinned, so the next starts clean.
        for e in std::fs::read_dir(fs.root()).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let theirs = if have_bpftool {
            libbpf_loads(path, &fs)
        } else {
            Err("no bpftool".into())
        };
        match (&ours, &theirs) {
            (Ok(_), _) => loaded += 1,
            (Err(e), Ok(())) => problems.push(format!("{name}: libbpf loads it, oxbpf: {e}")),
            (Err(e), Err(why)) => {
                // Neither loads: the reason must be one we expect.
                let ours = e.to_string();
                let known = [
                    ("invalid_", "deliberately invalid"),
                    ("freplace", "replace_target"),
                    ("fwd_decl", "fwd"),
                    ("loader-", "MY_CONST"),
                    ("strings-el", "GPL-restricted"),
                    ("btf_map_init-el", "socket/tail"),
                    ("xdpdump_bpf", "func"),
                ];
                let expected = known.iter().any(|(n, reason)| {
                    name.contains(n) && (ours.contains(reason) || *reason == "deliberately invalid")
                });
                if !expected {
                    problems.push(format!(
                        "{name}: neither loads; oxbpf: {ours}; libbpf: {}",
                        why.lines().last().unwrap_or("")
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(loaded >= 20, "only {loaded} third-party objects loaded");
    println!("{loaded} of {} third-party objects loaded", objects.len());
}

#[test]
fn attach_all_from_sections_and_events_arrive() {
    require_bpf!();
    let _s = serial();
    assert!(common::ensure_tracefs(), "tracefs");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cli/bpf/demo.bpf.o");
    let before = fd_count();
    {
        let mut loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        let links = loaded.attach_all().unwrap();
        assert_eq!(links.len(), 3, "exec, openat and exit tracepoints");
        let mut ring = loaded.take_map("events").unwrap().into_ring_buf().unwrap();
        // An openat of our own.
        let marker = tempfile::NamedTempFile::new().unwrap();
        std::fs::File::open(marker.path()).unwrap();
        let me = std::process::id();
        let mut seen = false;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !seen && std::time::Instant::now() < deadline {
            while let Some(rec) = ring
                .next_timeout(std::time::Duration::from_millis(100))
                .unwrap()
            {
                // struct event { u32 kind, pid, ppid, uid; s64 ret; char comm[16]; char path[128]; }
                let kind = u32::from_ne_bytes(rec[0..4].try_into().unwrap());
                let pid = u32::from_ne_bytes(rec[4..8].try_into().unwrap());
                let path = &rec[40..168];
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                if kind == 2
                    && pid == me
                    && path[..end] == *marker.path().as_os_str().as_encoded_bytes()
                {
                    seen = true;
                    break;
                }
            }
        }
        assert!(seen, "the openat event of this process arrived");
        // The per-process counter moved.
        let mut v = [0u8; 32];
        let per = loaded.map("per_process").unwrap();
        assert!(per
            .lookup(&me.to_ne_bytes(), &mut v, ElemFlags::ANY)
            .unwrap());
        assert!(u64::from_ne_bytes(v[8..16].try_into().unwrap()) >= 1);
        drop(links);
        // Detached: no more events from our opens.
        while ring.next().unwrap().is_some() {}
        std::fs::File::open(marker.path()).unwrap();
        let mut after = 0;
        while let Some(rec) = ring.next().unwrap() {
            if u32::from_ne_bytes(rec[4..8].try_into().unwrap()) == me {
                after += 1;
            }
        }
        assert_eq!(after, 0, "no events after the links dropped");
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn freplace_replaces_a_function_of_a_loaded_program() {
    require_bpf!();
    let _s = serial();
    for (target_path, repl_path) in fixture_pair("loader", "freplace_target")
        .into_iter()
        .zip(fixture_pair("loader", "freplace"))
    {
        let target = Loader::new()
            .load(Object::open(&target_path).unwrap())
            .unwrap();
        let entry = target.program("target_entry").unwrap();
        assert_eq!(run(entry.fd(), &packet()), 1);
        let target_fd = std::sync::Arc::new(entry.try_clone().unwrap().into_fd());
        let loaded = Loader::new()
            .replace_target("new_pick", target_fd.clone(), "")
            .load(Object::open(&repl_path).unwrap());
        let loaded = match loaded {
            Ok(l) => l,
            // This host's policy refuses EXT programs for every loader (proved in the 6.1
            // guest instead): the error must say so plainly.
            Err(e) if oxbpf::features::prog_type(oxbpf::syscall::ProgType::EXT).is_err() => {
                let p = e.program_error().expect("a program load error");
                assert_eq!(p.source.errno, nix::errno::Errno::EPERM, "{e}");
                assert!(e.to_string().contains("security policy"), "{e}");
                eprintln!("SKIPPED freplace_replaces_a_function_of_a_loaded_program: EXT programs refused here (EPERM): {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let repl = loaded.program("new_pick").unwrap();
        let link = repl.attach_freplace(entry.fd(), "pick").unwrap();
        assert_eq!(run(entry.fd(), &packet()), 42, "replaced");
        drop(link);
        assert_eq!(
            run(entry.fd(), &packet()),
            1,
            "restored after the link dropped"
        );
        eprintln!("{}: replaced, then restored", repl_path.display());
    }
}

fn available_congestion_control() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap_or_default()
}

/// Sends 4 MiB over a loopback TCP connection using congestion control `cc`, in a network
/// namespace of its own (a thread that unshares).
fn tcp_transfer_with(cc: &str) -> Result<(), String> {
    let cc = cc.to_string();
    std::thread::spawn(move || -> Result<(), String> {
        use std::io::{Read, Write};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        let lo = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map_err(|e| e.to_string())?;
        if !lo.success() {
            return Err("ip link set lo up failed".into());
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0;
            while let Ok(k) = s.read(&mut buf) {
                if k == 0 {
                    break;
                }
                n += k;
            }
            n
        });
        let s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        nix::sys::socket::setsockopt(
            &s,
            nix::sys::socket::sockopt::TcpCongestion,
            &std::ffi::OsString::from(cc),
        )
        .map_err(|e| format!("TCP_CONGESTION: {e}"))?;
        let mut s = s;
        let chunk = vec![7u8; 1 << 16];
        for _ in 0..64 {
            s.write_all(&chunk).map_err(|e| e.to_string())?;
        }
        drop(s);
        assert_eq!(reader.join().unwrap(), 64 << 16);
        Ok(())
    })
    .join()
    .unwrap()
}

#[test]
fn struct_ops_register_run_and_unregister() {
    require_bpf!();
    let _s = serial();
    let path = &fixture_pair("loader", "struct_ops")[1];
    if !oxbpf::features::has(oxbpf::features::Feature::StructOpsLink).unwrap() {
        // Before 6.4 a `.struct_ops.link` map cannot be created (no BPF_F_LINK).
        let err = Loader::new().load(Object::open(path).unwrap()).unwrap_err();
        assert!(err.to_string().contains("oxcc_link"), "{err}");
        eprintln!(
            "SKIPPED struct_ops_register_run_and_unregister: no struct_ops links on this kernel (probed; struct_ops_without_links_registers_at_load covers .struct_ops): {err}"
        );
        return;
    }
    let before = fd_count();
    {
        let loaded = Loader::new().load(Object::open(path).unwrap()).unwrap();
        assert!(
            available_congestion_control().contains("oxcc"),
            "`.struct_ops` registers at load: {}",
            available_congestion_control()
        );
        assert!(!available_congestion_control().contains("oxcc_link"));
        let links = loaded.attach_all().unwrap();
        assert!(available_congestion_control().contains("oxcc_link"));
        tcp_transfer_with("oxcc").unwrap();
        let acks = loaded.bss().unwrap().read::<u64>("acks").unwrap();
        assert!(acks > 0, "the algorithm's cong_avoid ran on ACKs");
        drop(links);
        assert!(
            !available_congestion_control().contains("oxcc_link"),
            "the link's drop unregisters"
        );
    }
    assert!(
        !available_congestion_control().contains("oxcc"),
        "dropping the object unregisters: {}",
        available_congestion_control()
    );
    assert_eq!(fd_count(), before);
}

/// `.struct_ops` maps without links (the only kind before 6.4): registered by the map update
/// at load, running, unregistered when the registration drops.
#[test]
fn struct_ops_without_links_registers_at_load() {
    require_bpf!();
    let _s = serial();
    let path = common::fixtures_dir().join("loader/struct_ops.NO_LINK.clang19.o");
    let before = fd_count();
    {
        let mut loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
        assert!(
            available_congestion_control().contains("oxcc"),
            "`.struct_ops` registers at load: {}",
            available_congestion_control()
        );
        tcp_transfer_with("oxcc").unwrap();
        let acks = loaded.bss().unwrap().read::<u64>("acks").unwrap();
        assert!(acks > 0, "the algorithm's cong_avoid ran on ACKs");
        let regs = loaded.take_struct_ops_registrations();
        assert_eq!(regs.len(), 1);
        drop(regs);
        assert!(
            !available_congestion_control().contains("oxcc"),
            "dropping the registration unregisters: {}",
            available_congestion_control()
        );
        eprintln!("`.struct_ops` registered at load, ran {acks} times, unregistered");
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn arena_globals_live_in_the_arena() {
    require_bpf!();
    let _s = serial();
    if !oxbpf::features::map_type(oxbpf::syscall::MapType::ARENA).unwrap_or(false) {
        eprintln!("SKIPPED arena_globals_live_in_the_arena: no arena maps on this kernel");
        return;
    }
    let path = common::fixtures_dir().join("object/arena.clang19.o");
    let loaded = Loader::new().load(Object::open(&path).unwrap()).unwrap();
    let (mem, base) = loaded.arena().expect("the arena is mapped");
    let read_u32 = |off: u64| {
        let mut b = [0u8; 4];
        assert!(mem.read(off as usize, &mut b));
        u32::from_ne_bytes(b)
    };
    // int __arena arena_counter = 7; u64 __arena arena_total; (at 0 and 8)
    assert_eq!(read_u32(base), 7, "initial value copied into the arena");
    let prog = loaded.program("bump").unwrap();
    for _ in 0..2 {
        let mut ctx = [0u8; 8];
        let mut t = TestRun {
            ctx_in_out: Some(&mut ctx),
            ..Default::default()
        };
        assert_eq!(prog_test_run(prog.fd(), &mut t).unwrap().retval, 0);
    }
    assert_eq!(
        read_u32(base),
        9,
        "the program's increments, seen through memory"
    );
    let mut total = [0u8; 8];
    assert!(mem.read(base as usize + 8, &mut total));
    assert_eq!(u64::from_ne_bytes(total), 8 + 9);
}

/// The `.bss` counters of `kernel_kinds.bpf.c`.
const KIND_COUNTERS: [&str; 8] = [
    "fentry_calls",
    "fexit_calls",
    "fmod_ret_calls",
    "lsm_calls",
    "kprobe_calls",
    "kretprobe_calls",
    "ksyscall_calls",
    "kretsyscall_calls",
];
/// Its programs that attach through BPF trampolines, and those that attach as kprobes.
const TRAMPOLINE_PROGS: [&str; 4] = [
    "unlink_entry",
    "unlink_exit",
    "deny_marker_open",
    "count_open",
];
const KPROBE_PROGS: [&str; 4] = ["rmdir_entry", "rmdir_exit", "getppid_entry", "getppid_exit"];

/// What the programs of `kernel_kinds.bpf.c` watch: an unlink and an rmdir of missing paths,
/// an open of the marker file (which fmod_ret refuses with EXDEV while attached) and of
/// /dev/null, a getppid(). Returns the marker open's result.
fn kind_events(dir: &Path) -> std::io::Result<std::fs::File> {
    assert!(std::fs::remove_file(dir.join("missing")).is_err());
    assert!(std::fs::remove_dir(dir.join("missing_dir")).is_err());
    drop(std::fs::File::open("/dev/null").unwrap());
    let _ = nix::unistd::getppid();
    std::fs::File::open(dir.join("marker"))
}

/// fentry, fexit, fmod_ret, LSM, kprobe, kretprobe, ksyscall and kretsyscall programs from a C
/// object, attached from their section names with `attach_all`: each counts its event (fexit
/// and the return probes see the return value, fmod_ret changes it) and stops after the links
/// drop. Where the kernel allows them: the 6.1 guest. This host refuses trampolines by policy
/// (probed: EPERM) and has no kprobes (no kprobe PMU): both are clear errors.
#[test]
fn tracing_and_kprobe_kinds_attach_from_sections_and_count() {
    require_bpf!();
    let _s = serial();
    assert!(common::ensure_tracefs(), "tracefs");
    let refused = common::trampolines_refused_by_policy();
    let kprobes = common::has_kprobes();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), b"x").unwrap();
    let ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(dir.path().join("marker")).unwrap());
    let open = |skip: &[&str]| {
        let mut v = Vec::new();
        for path in fixture_pair("loader", "kernel_kinds") {
            let mut obj = Object::open(&path).unwrap();
            let rodata = obj.rodata_mut().unwrap();
            rodata
                .set_value("target_tgid", &std::process::id())
                .unwrap();
            rodata.set_value("denied_ino", &ino).unwrap();
            for name in skip {
                obj.program_mut(name).unwrap().set_autoload(false);
            }
            v.push((path, obj));
        }
        v
    };
    let before = fd_count();
    if refused {
        // Each trampoline kind alone: refused, with the program named.
        for prog in TRAMPOLINE_PROGS {
            let others: Vec<&str> = TRAMPOLINE_PROGS
                .into_iter()
                .filter(|p| *p != prog)
                .collect();
            for (path, obj) in open(&others) {
                let e = Loader::new().load(obj).unwrap_err();
                let p = e.program_error().expect("a program load error");
                assert_eq!(p.source.errno, nix::errno::Errno::EPERM, "{e}");
                assert_eq!(p.program, prog, "{e}");
                assert!(e.to_string().contains("security policy"), "{e}");
                eprintln!(
                    "{}: {} refused by this kernel's policy as documented: {}",
                    path.display(),
                    p.section,
                    p.source
                );
            }
        }
    }
    let skip: &[&str] = if refused { &TRAMPOLINE_PROGS } else { &[] };
    for (path, obj) in open(skip) {
        let what = path.display();
        let loaded = Loader::new().load(obj).unwrap();
        let bss = loaded.bss().unwrap();
        let counters = || -> Vec<u64> {
            KIND_COUNTERS
                .iter()
                .map(|c| bss.read::<u64>(c).unwrap())
                .collect()
        };
        let links = if kprobes {
            loaded.attach_all().unwrap()
        } else {
            for name in KPROBE_PROGS {
                let err = loaded.attach(name).unwrap_err();
                let text = err.to_string();
                assert!(
                    matches!(&err, oxbpf::loader::LoadAttachError::Attach(a)
                        if matches!(a.kind(), oxbpf::programs::AttachErrorKind::KprobesUnavailable { .. })),
                    "{what}: {err:?}"
                );
                assert!(
                    text.contains("kernel built without CONFIG_KPROBES"),
                    "{text}"
                );
                assert!(text.contains(name), "{text}");
            }
            eprintln!("{what}: kprobes refused as documented (no CONFIG_KPROBES)");
            let mut links = Vec::new();
            for p in loaded.programs() {
                if !KPROBE_PROGS.contains(&p.name()) {
                    links.push(loaded.attach(p.name()).unwrap());
                }
            }
            links
        };
        let attached = links.len();
        let start = counters();
        let marker = kind_events(dir.path());
        let during = counters();
        let ran = |i: usize| during[i] > start[i];
        if !refused {
            assert!(ran(0) && ran(1), "{what}: fentry/fexit counted {during:?}");
            assert_eq!(
                bss.read::<i64>("fexit_ret").unwrap(),
                -2,
                "fexit saw -ENOENT"
            );
            assert_eq!(
                marker.as_ref().map_err(|e| e.raw_os_error()).unwrap_err(),
                Some(libc::EXDEV),
                "{what}: fmod_ret changed the open's result"
            );
            assert!(ran(2), "{what}: fmod_ret counted {during:?}");
            // The hooks of an inactive BPF LSM are never called.
            if common::bpf_lsm_active() == Some(false) {
                eprintln!("SKIPPED the LSM count: `bpf` is not in the active LSM list");
            } else {
                assert!(ran(3), "{what}: LSM counted {during:?}");
            }
            eprintln!("{what}: fentry, fexit, fmod_ret and LSM ran: {during:?}");
        } else {
            assert!(marker.is_ok());
        }
        if kprobes {
            assert!(
                ran(4) && ran(5),
                "{what}: kprobe/kretprobe counted {during:?}"
            );
            assert_eq!(
                bss.read::<i64>("kretprobe_ret").unwrap(),
                -2,
                "kretprobe saw -ENOENT"
            );
            assert!(
                ran(6) && ran(7),
                "{what}: ksyscall/kretsyscall counted {during:?}"
            );
            assert_eq!(
                bss.read::<i64>("kretsyscall_ret").unwrap(),
                i64::from(nix::unistd::getppid().as_raw())
            );
            eprintln!("{what}: kprobe, kretprobe, ksyscall and kretsyscall ran: {during:?}");
        }
        assert!(
            during.iter().zip(&start).any(|(d, s)| d > s) || attached == 0,
            "{what}: nothing ran"
        );
        drop(links);
        let after = counters();
        assert!(
            kind_events(dir.path()).is_ok(),
            "the marker opens once detached"
        );
        assert_eq!(counters(), after, "{what}: ran after the links dropped");
    }
    assert_eq!(fd_count(), before);
}

/// kprobe.multi from a section with a glob: counts where the kernel has fprobe; elsewhere (this
/// host, Debian's 6.1: no CONFIG_FPROBE, as the link probe says) a clear refusal.
#[test]
fn kprobe_multi_from_a_section_runs_or_is_refused_clearly() {
    require_bpf!();
    let _s = serial();
    assert!(common::ensure_tracefs(), "tracefs");
    let has = oxbpf::features::has(oxbpf::features::Feature::KprobeMultiLink).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let before = fd_count();
    for path in fixture_pair("loader", "kprobe_multi") {
        let mut obj = Object::open(&path).unwrap();
        obj.rodata_mut()
            .unwrap()
            .set_value("target_tgid", &std::process::id())
            .unwrap();
        let loaded = Loader::new().load(obj).unwrap();
        match loaded.attach_all() {
            Ok(links) => {
                assert!(
                    has,
                    "attached although the probe says no kprobe.multi links"
                );
                let _ = std::fs::remove_file(dir.path().join("missing"));
                let n = loaded.bss().unwrap().read::<u64>("multi_calls").unwrap();
                assert!(n >= 1, "counted {n}");
                drop(links);
                let _ = std::fs::remove_file(dir.path().join("missing"));
                assert_eq!(loaded.bss().unwrap().read::<u64>("multi_calls").unwrap(), n);
            }
            Err(e) => {
                assert!(!has, "kprobe.multi links exist but: {e}");
                let text = e.to_string();
                assert!(
                    text.contains("CONFIG_FPROBE") && text.contains("unlink_multi"),
                    "{text}"
                );
                eprintln!("{}: refused as documented: {text}", path.display());
            }
        }
    }
    assert_eq!(fd_count(), before);
}
