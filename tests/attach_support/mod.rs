//! Helpers for the attach tests: counter maps and programs assembled by hand, private
//! bpffs/cgroup2 mounts, network namespaces with veth pairs, and re-running the test binary
//! as a child process.
#![allow(dead_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use oxbpf::insn::{asm, opcode::jmp, reg::*, Insn};
use oxbpf::programs::Program;
use oxbpf::syscall::*;

/// An ARRAY map of one u64 counter (index 0) and spare slots.
pub fn counter_map(name: &str) -> MapFd {
    map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 8,
        name,
        ..Default::default()
    })
    .expect("BPF_MAP_CREATE")
}

/// The u64 at `index` of an ARRAY map.
pub fn slot(map: &MapFd, index: u32) -> u64 {
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(map, &index.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap());
    u64::from_ne_bytes(v)
}

/// The counter at index 0.
pub fn counter(map: &MapFd) -> u64 {
    slot(map, 0)
}

/// `map[0] += 1` (only for thread group `tgid` when given), then `return ret`.
pub fn count_insns(map: &MapFd, tgid: Option<u32>, ret: i32) -> Vec<Insn> {
    let mut a = asm::Asm::new();
    if let Some(tgid) = tgid {
        a.push(asm::call_helper(14)); // bpf_get_current_pid_tgid
        a.push(asm::alu64_imm(oxbpf::insn::opcode::alu::RSH, R0, 32));
        a.jump_imm(jmp::JNE, R0, tgid as i32, "out");
    }
    a.push(asm::st_imm(oxbpf::insn::opcode::size::W, R10, -4, 0));
    a.push(asm::mov64_reg(R2, R10));
    a.push(asm::alu64_imm(oxbpf::insn::opcode::alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, map.as_fd().as_raw_fd()));
    a.push(asm::call_helper(1)); // bpf_map_lookup_elem
    a.jump_imm(jmp::JEQ, R0, 0, "out");
    a.push(asm::mov64_imm(R1, 1));
    a.push(asm::atomic_add64(R0, R1, 0));
    a.label("out");
    a.push(asm::mov64_imm(R0, ret));
    a.push(asm::exit());
    a.finish().unwrap()
}

/// What a load asks for.
pub struct LoadSpec<'a> {
    pub prog_type: ProgType,
    pub expected: Option<AttachType>,
    pub attach_btf_id: u32,
    pub insns: &'a [Insn],
    pub name: &'a str,
}

/// Loads a program, returning the error and the verifier log on failure.
pub fn try_load(spec: &LoadSpec<'_>) -> Result<Program, (SyscallError, String)> {
    let mut log = vec![0u8; 1 << 16];
    let mut req = ProgLoad {
        prog_type: spec.prog_type,
        insns: spec.insns,
        license: c"GPL",
        name: spec.name,
        expected_attach_type: spec.expected.unwrap_or(AttachType(0)),
        attach_btf_id: spec.attach_btf_id,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    match prog_load(&mut req) {
        Ok(fd) => Ok(Program::from_loaded(
            fd,
            spec.name,
            spec.prog_type,
            spec.expected,
        )),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
        }
    }
}

/// Loads a program or panics with the verifier log.
pub fn load(
    prog_type: ProgType,
    expected: Option<AttachType>,
    insns: &[Insn],
    name: &str,
) -> Program {
    try_load(&LoadSpec {
        prog_type,
        expected,
        attach_btf_id: 0,
        insns,
        name,
    })
    .unwrap_or_else(|(e, log)| panic!("{name}: {e}\n{log}"))
}

/// A counting program of `prog_type` returning `ret`.
pub fn counting(
    prog_type: ProgType,
    expected: Option<AttachType>,
    map: &MapFd,
    tgid: Option<u32>,
    ret: i32,
    name: &str,
) -> Program {
    load(prog_type, expected, &count_insns(map, tgid, ret), name)
}

/// This process's tgid.
pub fn my_tgid() -> u32 {
    std::process::id()
}

/// Mounts tracefs at /sys/kernel/tracing unless a tracefs is already reachable.
pub fn ensure_tracefs() -> bool {
    if oxbpf::programs::tracefs_root().is_some() {
        return true;
    }
    let _ = nix::mount::mount(
        Some("nodev"),
        "/sys/kernel/tracing",
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    oxbpf::programs::tracefs_root().is_some()
}

/// A bpffs mounted on a temporary directory, unmounted on drop.
pub struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    pub fn mount() -> Bpffs {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A private cgroup2 mount with a child cgroup, removed on drop.
pub struct Cgroup {
    mount: tempfile::TempDir,
    pub child: PathBuf,
}

impl Cgroup {
    pub fn new(tag: &str) -> Option<Cgroup> {
        let mount = tempfile::tempdir().unwrap();
        if let Err(e) = nix::mount::mount(
            Some("cgroup2"),
            mount.path(),
            Some("cgroup2"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        ) {
            eprintln!("SKIPPED cgroup part: mount -t cgroup2: {e}");
            return None;
        }
        let child = mount
            .path()
            .join(format!("oxbpf_{tag}_{}", std::process::id()));
        std::fs::create_dir(&child).unwrap();
        Some(Cgroup { mount, child })
    }

    pub fn open(&self) -> std::fs::File {
        std::fs::File::open(&self.child).unwrap()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Processes moved in have exited; the directory can go.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.child).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = nix::mount::umount2(self.mount.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `cmd` (`ip ...`), panicking with its output on failure.
pub fn run(cmd: &[&str]) {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two network namespaces joined by a veth pair: `a` (10.x.y.1, MAC ..:01) in `ns_a`,
/// `b` (10.x.y.2, MAC ..:02) in `ns_b`, static neighbours both ways. Deleted on drop.
pub struct VethPair {
    pub ns_a: String,
    pub ns_b: String,
    pub ip_a: std::net::Ipv4Addr,
    pub ip_b: std::net::Ipv4Addr,
}

impl VethPair {
    /// `tag` makes names unique per test (interface names are `va`/`vb` inside the
    /// namespaces, which are unique).
    pub fn new(tag: &str) -> Option<VethPair> {
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIPPED network part: no `ip` (iproute2)");
            return None;
        }
        let id = std::process::id() % 200 + 20;
        let n = tag
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
            % 200
            + 20;
        let ns_a = format!("oxbpf-{tag}-{}-a", std::process::id());
        let ns_b = format!("oxbpf-{tag}-{}-b", std::process::id());
        let ip_a = std::net::Ipv4Addr::new(10, id as u8, n as u8, 1);
        let ip_b = std::net::Ipv4Addr::new(10, id as u8, n as u8, 2);
        run(&["ip", "netns", "add", &ns_a]);
        let pair = VethPair {
            ns_a: ns_a.clone(),
            ns_b: ns_b.clone(),
            ip_a,
            ip_b,
        };
        run(&["ip", "netns", "add", &ns_b]);
        run(&[
            "ip",
            "link",
            "add",
            "va",
            "netns",
            &ns_a,
            "address",
            "02:00:00:00:00:01",
            "type",
            "veth",
            "peer",
            "name",
            "vb",
            "netns",
            &ns_b,
            "address",
            "02:00:00:00:00:02",
        ]);
        for (ns, dev, ip, peer_ip, peer_mac) in [
            (&ns_a, "va", ip_a, ip_b, "02:00:00:00:00:02"),
            (&ns_b, "vb", ip_b, ip_a, "02:00:00:00:00:01"),
        ] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                dev,
            ]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                ns,
                "neigh",
                "add",
                &peer_ip.to_string(),
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
        }
        Some(pair)
    }

    /// Runs `f` in a thread inside namespace `ns`.
    pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .expect("setns");
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Sends `n` UDP datagrams from `a` to `b:port` and counts how many `b` receives.
    pub fn udp_a_to_b(&self, n: usize) -> usize {
        let port = 40000 + (std::process::id() % 20000) as u16;
        let ip_b = self.ip_b;
        let rx = Self::in_ns(&self.ns_b, || {
            std::net::UdpSocket::bind((ip_b, port)).unwrap()
        });
        rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let ip_a = self.ip_a;
        Self::in_ns(&self.ns_a, || {
            let tx = std::net::UdpSocket::bind((ip_a, 0)).unwrap();
            for _ in 0..n {
                tx.send_to(b"oxbpf", (ip_b, port)).unwrap();
            }
        });
        let mut got = 0;
        let mut buf = [0u8; 64];
        while got < n {
            match rx.recv(&mut buf) {
                Ok(_) => got += 1,
                Err(_) => break,
            }
        }
        got
    }

    /// The ifindex of `dev` in `ns`.
    pub fn ifindex(ns: &str, dev: &str) -> u32 {
        let dev = dev.to_string();
        Self::in_ns(ns, move || oxbpf::programs::ifindex(&dev).unwrap())
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs this test binary again as a child, running only test `name` (an `#[ignore]`d
/// helper) with `env` set; returns whether it succeeded.
pub fn run_child(name: &str, env: &[(&str, &str)]) -> bool {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A filter that matched nothing also "succeeds": insist the helper ran.
    let ran = stdout.contains("1 passed");
    if !out.status.success() || !ran {
        eprintln!(
            "child {name} failed (ran: {ran}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success() && ran
}

/// How many attach/detach cycles a leak test runs: `n`, or `OXBPF_TEST_CYCLES` when set
/// (the emulated 6.1 guest runs fewer).
pub fn cycles(n: usize) -> usize {
    std::env::var("OXBPF_TEST_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

/// Checks that `n` attach/detach cycles leave no file descriptor behind. The cycles run on
/// several threads, each with its own state from `setup` (a program: the kernel refuses one
/// program twice on one hook): detaching waits for RCU grace periods in the kernel (tens of
/// ms for tracepoints), which overlap across threads.
pub fn no_fd_leak<S: Sync>(what: &str, n: usize, setup: impl Fn() -> S, cycle: impl Fn(&S) + Sync) {
    no_fd_leak_threads(what, n, 16, setup, cycle)
}

/// [`no_fd_leak`] on `threads` threads.
pub fn no_fd_leak_threads<S: Sync>(
    what: &str,
    n: usize,
    threads: usize,
    setup: impl Fn() -> S,
    cycle: impl Fn(&S) + Sync,
) {
    let n = cycles(n);
    let states: Vec<S> = (0..threads).map(|_| setup()).collect();
    for s in &states {
        cycle(s); // first use may open cached probes
    }
    let before = crate::common::fd_count();
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for (t, state) in states.iter().enumerate() {
            let cycle = &cycle;
            scope.spawn(move || {
                for _ in (t..n).step_by(threads) {
                    cycle(state);
                }
            });
        }
    });
    eprintln!("{what}: {n} cycles in {:?}", start.elapsed());
    assert_eq!(
        crate::common::fd_count(),
        before,
        "{what}: fds leaked over {n} attach/detach cycles"
    );
}

/// The vmlinux BTF.
pub fn vmlinux() -> oxbpf::btf::Btf {
    let data = MappedFile::open("/sys/kernel/btf/vmlinux").expect("vmlinux BTF");
    oxbpf::btf::Btf::parse(data).expect("parse vmlinux BTF")
}

/// Whether `path` exists.
pub fn exists(path: impl AsRef<Path>) -> bool {
    path.as_ref().exists()
}

/// Keeps an fd alive for the test's duration (for values stored as raw numbers in maps).
pub fn keep(_fd: &OwnedFd) {}

/// A network namespace of its own (loopback up), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Option<Netns> {
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("SKIPPED network part: no `ip` (iproute2)");
            return None;
        }
        let name = format!("oxbpf-{tag}-{}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        VethPair::in_ns(&self.name, f)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
