//! Helpers of the map tests: loading and running hand-assembled programs, a private bpffs,
//! cgroup2 and network namespace, tiny BTF for storage maps, the ring buffer producer.
#![allow(dead_code)]

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use oxbpf::btf::{BtfBuilder, IntInfo, TypeBody, TypeDef};
use oxbpf::insn::asm::{self, Asm};
use oxbpf::insn::opcode::{alu, jmp, pseudo, size};
use oxbpf::insn::reg::*;
use oxbpf::insn::Insn;
use oxbpf::syscall::*;

/// Helper ids (`enum bpf_func_id`).
pub mod helper {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const TAIL_CALL: i32 = 12;
    pub const PERF_EVENT_OUTPUT: i32 = 25;
    pub const GET_STACKID: i32 = 27;
    pub const CURRENT_TASK_UNDER_CGROUP: i32 = 37;
    pub const REDIRECT_MAP: i32 = 51;
    pub const SK_REDIRECT_MAP: i32 = 52;
    pub const SK_REDIRECT_HASH: i32 = 72;
    pub const MAP_PUSH_ELEM: i32 = 87;
    pub const RINGBUF_OUTPUT: i32 = 130;
    pub const RINGBUF_RESERVE: i32 = 131;
    pub const RINGBUF_SUBMIT: i32 = 132;
    pub const RINGBUF_DISCARD: i32 = 133;
    pub const TASK_STORAGE_GET: i32 = 156;
    pub const GET_CURRENT_TASK_BTF: i32 = 158;
    pub const LOOP: i32 = 181;
    pub const DYNPTR_READ: i32 = 201;
    pub const USER_RINGBUF_DRAIN: i32 = 209;
}

/// Loads a program, panicking with the verifier log on failure.
pub fn load(prog_type: ProgType, insns: &[Insn], name: &str) -> OwnedFd {
    load_as(prog_type, AttachType::default(), insns, name)
}

/// Loads a program with an expected attach type.
pub fn load_as(prog_type: ProgType, attach: AttachType, insns: &[Insn], name: &str) -> OwnedFd {
    let mut log = vec![0u8; 1 << 20];
    let mut req = ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        name,
        expected_attach_type: attach,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    match prog_load(&mut req) {
        Ok(fd) => fd,
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!(
                "loading {name}: {e}\n{}",
                String::from_utf8_lossy(&log[..end])
            );
        }
    }
}

/// Loads a program made of functions starting at `funcs` (instruction indices, the first
/// 0): programs with callbacks (`bpf_loop`, `bpf_user_ringbuf_drain`) need BTF func_info,
/// here a minimal `int f(void)` per function.
pub fn load_funcs(prog_type: ProgType, insns: &[Insn], name: &str, funcs: &[u32]) -> OwnedFd {
    use oxbpf::btf::FuncLinkage;
    let mut b = BtfBuilder::new();
    let int = b.add(TypeDef::named(
        "int",
        TypeBody::Int {
            size: 4,
            info: IntInfo {
                signed: true,
                char: false,
                bool: false,
                offset: 0,
                bits: 32,
            },
        },
    ));
    let proto = b.add(TypeDef::anon(TypeBody::FuncProto {
        ret: int,
        params: vec![],
    }));
    let mut records = Vec::new();
    for (i, &off) in funcs.iter().enumerate() {
        let id = b.add(TypeDef::named(
            format!("f{i}"),
            TypeBody::Func {
                proto,
                linkage: FuncLinkage::Static,
            },
        ));
        records.extend_from_slice(&off.to_ne_bytes());
        records.extend_from_slice(&id.to_ne_bytes());
    }
    let bytes = b.to_bytes().unwrap();
    let btf = btf_load(&mut BtfLoad {
        btf: &bytes,
        ..Default::default()
    })
    .expect("BTF_LOAD");
    let mut log = vec![0u8; 1 << 20];
    let mut req = ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        name,
        btf_fd: Some(btf.as_fd()),
        func_info: Some(ExtInfo {
            data: &records,
            rec_size: 8,
        }),
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    match prog_load(&mut req) {
        Ok(fd) => fd,
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!(
                "loading {name}: {e}\n{}",
                String::from_utf8_lossy(&log[..end])
            );
        }
    }
}

/// Runs a socket filter (or other skb program) on a 64-byte packet `repeat` times.
pub fn run_skb(prog: BorrowedFd<'_>, repeat: u32) -> u32 {
    prog_test_run(
        prog,
        &mut TestRun {
            data_in: &[0u8; 64],
            repeat,
            ..Default::default()
        },
    )
    .expect("PROG_TEST_RUN")
    .retval
}

/// Runs an XDP program on a 64-byte frame.
pub fn run_xdp(prog: BorrowedFd<'_>) -> u32 {
    prog_test_run(
        prog,
        &mut TestRun {
            data_in: &[0u8; 64],
            ..Default::default()
        },
    )
    .expect("PROG_TEST_RUN (xdp)")
    .retval
}

/// Runs a raw tracepoint program (no arguments), on `cpu` if given.
pub fn run_raw_tp(prog: BorrowedFd<'_>, cpu: Option<u32>) -> Result<u32> {
    let mut run = TestRun::default();
    if let Some(cpu) = cpu {
        run.flags = TestRunFlags::RUN_ON_CPU;
        run.cpu = cpu;
    }
    prog_test_run(prog, &mut run).map(|o| o.retval)
}

/// The raw fd number of a map, for `ld_map_fd`.
pub fn fd_of(f: &impl AsFd) -> i32 {
    f.as_fd().as_raw_fd()
}

/// `r0 = *(u32 *)lookup(map, key)` or 0: a socket filter returning a map's u32 value.
pub fn read_u32_prog(map: &impl AsFd, key: u32) -> Vec<Insn> {
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, key as i32));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd_of(map)));
    a.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jump_imm(jmp::JEQ, R0, 0, "none");
    a.push(asm::ldx(size::W, R0, R0, 0));
    a.push(asm::exit());
    a.label("none");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
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
pub struct Cgroup2 {
    mount: tempfile::TempDir,
    pub child: PathBuf,
}

impl Cgroup2 {
    pub fn new(tag: &str) -> Option<Cgroup2> {
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
            .join(format!("oxbpf_maps_{tag}_{}", std::process::id()));
        std::fs::create_dir(&child).unwrap();
        Some(Cgroup2 { mount, child })
    }

    pub fn root(&self) -> &std::path::Path {
        self.mount.path()
    }
}

impl Drop for Cgroup2 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.child);
        let _ = nix::mount::umount2(self.mount.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `f` on a thread of its own in a new network namespace with `lo` up.
pub fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let status = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("running ip");
        assert!(status.success(), "ip link set lo up");
        f()
    })
    .join()
    .unwrap()
}

/// BTF with `int` (id 1, 4 bytes) and `unsigned long long` (id 2, 8 bytes), loaded.
pub fn int_btf() -> OwnedFd {
    let mut b = BtfBuilder::new();
    let int = |signed, bits| IntInfo {
        signed,
        char: false,
        bool: false,
        offset: 0,
        bits,
    };
    b.add(TypeDef::named(
        "int",
        TypeBody::Int {
            size: 4,
            info: int(true, 32),
        },
    ));
    b.add(TypeDef::named(
        "unsigned long long",
        TypeBody::Int {
            size: 8,
            info: int(false, 64),
        },
    ));
    let bytes = b.to_bytes().unwrap();
    btf_load(&mut BtfLoad {
        btf: &bytes,
        ..Default::default()
    })
    .expect("BTF_LOAD")
}

/// Ring buffer producer (a socket filter), one record per run: reads `state` (an array of
/// one `[seq, failures, limit]` value); while `seq < limit`, reserves `record` bytes in
/// `ring`, writes `seq` at offset 0 and submits it (or, with `discard_every`, discards
/// records whose `seq % n == 0`), then increments `seq`; a failed reserve bumps `failures`.
/// Returns 1 when it produced, 0 otherwise.
pub fn ring_producer(
    ring: &impl AsFd,
    state: &impl AsFd,
    record: i32,
    discard_every: Option<i32>,
) -> Vec<Insn> {
    let mut a = Asm::new();
    a.push(asm::st_imm(size::W, FP, -4, 0));
    a.push(asm::mov64_reg(R2, FP));
    a.push(asm::alu64_imm(alu::ADD, R2, -4));
    a.extend(asm::ld_map_fd(R1, fd_of(state)));
    a.push(asm::call_helper(helper::MAP_LOOKUP_ELEM));
    a.jump_imm(jmp::JEQ, R0, 0, "idle");
    a.push(asm::mov64_reg(R6, R0));
    a.push(asm::ldx(size::DW, R7, R6, 0)); // seq
    a.push(asm::ldx(size::DW, R8, R6, 16)); // limit
    a.jump_reg(jmp::JGE, R7, R8, "idle");
    a.extend(asm::ld_map_fd(R1, fd_of(ring)));
    a.push(asm::mov64_imm(R2, record));
    a.push(asm::mov64_imm(R3, 0));
    a.push(asm::call_helper(helper::RINGBUF_RESERVE));
    a.jump_imm(jmp::JEQ, R0, 0, "full");
    a.push(asm::stx(size::DW, R0, R7, 0));
    a.push(asm::mov64_reg(R1, R0));
    a.push(asm::mov64_imm(R2, 0));
    if let Some(n) = discard_every {
        a.push(asm::mov64_reg(R9, R7));
        a.push(asm::alu64_imm(alu::MOD, R9, n));
        a.jump_imm(jmp::JNE, R9, 0, "submit");
        a.push(asm::call_helper(helper::RINGBUF_DISCARD));
        a.goto("next");
    }
    a.label("submit");
    a.push(asm::call_helper(helper::RINGBUF_SUBMIT));
    a.label("next");
    a.push(asm::alu64_imm(alu::ADD, R7, 1));
    a.push(asm::stx(size::DW, R6, R7, 0));
    a.push(asm::mov64_imm(R0, 1));
    a.push(asm::exit());
    a.label("full");
    a.push(asm::mov64_imm(R1, 1));
    a.push(asm::atomic_add64(R6, R1, 8));
    a.label("idle");
    a.push(asm::mov64_imm(R0, 0));
    a.push(asm::exit());
    a.finish().unwrap()
}

/// A `[seq, failures, limit]` state array for [`ring_producer`].
pub fn producer_state(limit: u64) -> OwnedFd {
    let map = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        name: "rb_state",
        ..Default::default()
    })
    .unwrap();
    let mut v = [0u8; 24];
    v[16..].copy_from_slice(&limit.to_ne_bytes());
    map_update_elem(&map, &0u32.to_ne_bytes(), &v, ElemFlags::ANY).unwrap();
    map.into_fd()
}

/// Reads `[seq, failures, limit]` of a producer state map.
pub fn read_state(state: &OwnedFd) -> [u64; 3] {
    let map = MapFd::from_fd(state.try_clone().unwrap()).unwrap();
    let mut v = [0u8; 24];
    map_lookup_elem(&map, &0u32.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap();
    let w = |i: usize| u64::from_ne_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
    [w(0), w(1), w(2)]
}

/// Sets the limit of a producer state map.
pub fn set_limit(state: &OwnedFd, limit: u64) {
    let map = MapFd::from_fd(state.try_clone().unwrap()).unwrap();
    let mut v = [0u8; 24];
    map_lookup_elem(&map, &0u32.to_ne_bytes(), &mut v, ElemFlags::ANY).unwrap();
    v[16..].copy_from_slice(&limit.to_ne_bytes());
    map_update_elem(&map, &0u32.to_ne_bytes(), &v, ElemFlags::ANY).unwrap();
}

/// Unused pseudo-instruction constant users of this module may want.
pub const PSEUDO_FUNC: u8 = pseudo::FUNC;
