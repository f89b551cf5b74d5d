//! Shared by the CO-RE integration tests: the fixture objects of `tests/fixtures/core/`
//! read with the `object` crate (only executable sections, `.BTF` and `.BTF.ext` — the
//! real object parser lives in `src/object/`), loading and running relocated sections.
//! Needs `mod common;` declared before it.
#![allow(dead_code)]

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

use object::{Object, ObjectSection, SectionKind};
use oxbpf::btf::{Btf, BtfExt};
use oxbpf::insn::{ByteOrder, Insn};
use oxbpf::relocate::core::{annotate_verifier_log, CoreDecision, CoreRelocator, Targets};
use oxbpf::syscall::{
    prog_load, prog_test_run, LogLevel, ProgLoad, ProgType, SyscallError, TestRun,
};

/// The parts of a fixture object CO-RE needs: executable sections, `.BTF`, `.BTF.ext`.
pub struct Fixture {
    pub path: PathBuf,
    pub btf: Arc<Btf>,
    pub ext: BtfExt,
    pub sections: Vec<(String, Vec<Insn>)>,
}

impl Fixture {
    pub fn open(name: &str) -> Fixture {
        let path = crate::common::fixtures_dir().join("core").join(name);
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
    pub fn relocate(&self, targets: Targets) -> Vec<(String, Vec<Insn>, Vec<CoreDecision>)> {
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

    pub fn insns(&self, section: &str) -> &[Insn] {
        &self
            .sections
            .iter()
            .find(|(n, _)| n == section)
            .unwrap_or_else(|| panic!("no section {section}"))
            .1
    }
}

pub fn vmlinux() -> Option<Arc<Btf>> {
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

pub fn clangs(base: &str) -> [String; 2] {
    [format!("{base}.clang14.o"), format!("{base}.clang19.o")]
}

/// Loads `insns` as `prog_type`; on failure returns the error and the verifier log.
pub fn load(
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

pub fn prog_type_of(section: &str) -> ProgType {
    match section.split('/').next().unwrap_or("") {
        "raw_tp" | "raw_tracepoint" => ProgType::RAW_TRACEPOINT,
        "xdp" => ProgType::XDP,
        "socket" => ProgType::SOCKET_FILTER,
        other => panic!("no program type for section {other}"),
    }
}

/// Ethernet + IPv4 (ihl 5, ttl 64, TCP) + TCP (doff 5, SYN|ACK|CWR, window 0x1234), 64 bytes.
pub fn tcp_packet() -> Vec<u8> {
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

/// Load a relocated section and run it once; its return value.
pub fn run_section(section: &str, insns: &[Insn], ctx: &[u8], decisions: &[CoreDecision]) -> u32 {
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

/// xorshift64*: reproducible noise without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
