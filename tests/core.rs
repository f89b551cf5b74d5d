//! CO-RE relocation over the fixtures in `tests/fixtures/core/`.
//!
//! Offline (no privileges): relocate against this machine's vmlinux BTF and against custom
//! targets (the `.TARGET` builds' own BTF), checking every decision. Privileged: load the
//! relocated sections with `prog_load` and run them with `BPF_PROG_TEST_RUN`; they return 0
//! when every relocation was right.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection, SectionKind};
use oxbpf::btf::{Btf, BtfExt};
use oxbpf::insn::{ByteOrder, Insn};
use oxbpf::relocate::core::{annotate_verifier_log, CoreDecision, CoreRelocator, Targets};
use oxbpf::syscall::{
    prog_load, prog_test_run, LogLevel, ProgLoad, ProgType, SyscallError, TestRun,
};
use std::os::fd::AsFd;

/// The parts of a fixture object CO-RE needs: executable sections, `.BTF`, `.BTF.ext`.
struct Fixture {
    path: PathBuf,
    btf: Arc<Btf>,
    ext: BtfExt,
    sections: Vec<(String, Vec<Insn>)>,
}

impl Fixture {
    fn open(name: &str) -> Fixture {
        let path = common::fixtures_dir().join("core").join(name);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let elf = object::File::parse(&*data).unwrap();
        let section = |n: &str| elf.section_by_name(n).and_then(|s| s.data().ok()).unwrap();
        let btf = Arc::new(Btf::parse(section(".BTF").to_vec()).unwrap());
        let ext = BtfExt::parse(section(".BTF.ext"), &btf).unwrap();
        let sections = elf
            .sections()
            .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
            .map(|s| {
                let insns = Insn::decode_all(s.data().unwrap(), ByteOrder::Little).unwrap();
                (s.name().unwrap().to_string(), insns)
            })
            .collect();
        Fixture {
            path,
            btf,
            ext,
            sections,
        }
    }

    /// Relocate every section with CO-RE records against `targets`, in `.BTF.ext` order.
    fn relocate(&self, targets: Targets) -> Vec<(String, Vec<Insn>, Vec<CoreDecision>)> {
        let mut r = CoreRelocator::new(&self.btf, targets);
        let mut out = Vec::new();
        for sec in &self.ext.core_relos {
            let mut insns = self.insns(&sec.name).to_vec();
            let d = r
                .relocate_section(&sec.name, &sec.records, &mut insns)
                .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
            out.push((sec.name.clone(), insns, d));
        }
        out
    }

    fn insns(&self, section: &str) -> &[Insn] {
        &self
            .sections
            .iter()
            .find(|(n, _)| n == section)
            .unwrap_or_else(|| panic!("no section {section}"))
            .1
    }
}

fn vmlinux() -> Option<Arc<Btf>> {
    static V: std::sync::OnceLock<Option<Arc<Btf>>> = std::sync::OnceLock::new();
    V.get_or_init(|| match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(b) => Some(Arc::new(Btf::parse(b).expect("vmlinux parses"))),
        Err(e) => {
            eprintln!("SKIPPED: no /sys/kernel/btf/vmlinux: {e}");
            None
        }
    })
    .clone()
}

fn clangs(base: &str) -> [String; 2] {
    [format!("{base}.clang14.o"), format!("{base}.clang19.o")]
}

/// Loads `insns` as `prog_type`; on failure returns the error and the verifier log.
fn load(
    prog_type: ProgType,
    insns: &[Insn],
    name: &str,
) -> Result<std::os::fd::OwnedFd, (SyscallError, String)> {
    let mut log = vec![0u8; 1 << 20];
    let mut req = ProgLoad {
        prog_type,
        insns,
        license: c"GPL",
        name,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    };
    let r = prog_load(&mut req);
    r.map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        (e, String::from_utf8_lossy(&log[..end]).into_owned())
    })
}

fn prog_type_of(section: &str) -> ProgType {
    match section.split('/').next().unwrap_or("") {
        "raw_tp" | "raw_tracepoint" => ProgType::RAW_TRACEPOINT,
        "xdp" => ProgType::XDP,
        "socket" => ProgType::SOCKET_FILTER,
        other => panic!("no program type for section {other}"),
    }
}

/// Ethernet + IPv4 (ihl 5, ttl 64, TCP) + TCP (doff 5, SYN|ACK|CWR, window 0x1234), 64 bytes.
fn tcp_packet() -> Vec<u8> {
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

/// The raw_tp context of `kernel.bpf.c`: expected values computed from vmlinux BTF with the
/// plain lookups (not CO-RE).
fn kernel_ctx(vmlinux: &Btf) -> Vec<u8> {
    use oxbpf::btf::BtfKind;
    let task = vmlinux
        .id_by_name_kind("task_struct", BtfKind::Struct)
        .unwrap();
    let skb = vmlinux.id_by_name_kind("sk_buff", BtfKind::Struct).unwrap();
    let len_off = vmlinux.find_member(skb, "len").unwrap().unwrap().bit_offset / 8;
    let vals: [u64; 12] = [
        u64::from(nix::unistd::getppid().as_raw() as u32),
        u64::from(nix::unistd::getuid().as_raw()),
        u64::from(vmlinux.type_size(task).unwrap()),
        u64::from(task),
        u64::from(len_off),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// Load a relocated section and run it once; its return value.
fn run_section(section: &str, insns: &[Insn], ctx: &[u8], decisions: &[CoreDecision]) -> u32 {
    let prog_type = prog_type_of(section);
    let fd = match load(prog_type, insns, "core_fixture") {
        Ok(fd) => fd,
        Err((e, log)) => {
            let log = annotate_verifier_log(&log, |i| decisions.iter().find(|d| d.insn == i));
            panic!("{section}: {e}\n{log}")
        }
    };
    let packet = tcp_packet();
    let mut run = TestRun::default();
    if prog_type == ProgType::RAW_TRACEPOINT {
        run.ctx_in = ctx;
    } else {
        run.data_in = &packet;
    }
    prog_test_run(fd.as_fd(), &mut run).unwrap().retval
}

#[test]
fn kernel_fixtures_run_after_relocation() {
    require_bpf!();
    let Some(vmlinux) = vmlinux() else { return };
    let ctx = kernel_ctx(&vmlinux);
    for name in clangs("kernel") {
        let f = Fixture::open(&name);
        let relocated = f.relocate(Targets::kernel(vmlinux.clone()));
        assert_eq!(
            relocated.len(),
            4,
            "{name}: every program has CO-RE records"
        );
        for (section, insns, decisions) in relocated {
            let ret = run_section(&section, &insns, &ctx, &decisions);
            assert_eq!(
                ret, 0,
                "{name} {section}: wrong relocation checked at kernel.bpf.c:{ret}"
            );
        }
    }
}

#[test]
fn unguarded_poison_fails_to_load_with_the_access_path() {
    require_bpf!();
    let Some(vmlinux) = vmlinux() else { return };
    for name in clangs("poisoned") {
        let f = Fixture::open(&name);
        let mut relocated = f.relocate(Targets::kernel(vmlinux.clone()));
        let (section, insns, decisions) = relocated.remove(0);
        assert!(decisions.iter().any(|d| d.is_poisoned()), "{name}");
        let Err((err, log)) = load(prog_type_of(&section), &insns, "core_poisoned") else {
            panic!("{name}: a reachable poisoned instruction loaded");
        };
        assert_eq!(err.errno, nix::errno::Errno::EINVAL, "{name}: {err}");
        assert!(log.contains("invalid func unknown#195896080"), "{log}");
        let annotated = annotate_verifier_log(&log, |i| decisions.iter().find(|d| d.insn == i));
        assert!(!annotated.contains("unknown#195896080"), "{annotated}");
        for want in [
            "<invalid CO-RE relocation> byte_off `task_struct___fake->no_such_field_xyz`",
            "local type struct task_struct___fake",
            "field `no_such_field_xyz` not found in vmlinux [",
            "] struct task_struct",
            "bpf_core_field_exists()",
        ] {
            assert!(
                annotated.contains(want),
                "{name}: missing {want:?} in\n{annotated}"
            );
        }
    }
}

#[test]
fn dump_kernel_decisions() {
    let Some(vmlinux) = vmlinux() else { return };
    for name in clangs("kernel") {
        let f = Fixture::open(&name);
        for (_, _, ds) in f.relocate(Targets::kernel(vmlinux.clone())) {
            for d in ds {
                println!("{d}");
            }
        }
    }
    let _ = Path::new("");
}
