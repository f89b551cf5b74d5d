//! CO-RE relocation over the fixtures in `tests/fixtures/core/`.
//!
//! Offline (no privileges): relocate against this machine's vmlinux BTF and against custom
//! targets (the `.TARGET` builds' own BTF), checking every decision. Privileged: load the
//! relocated sections with `prog_load` and run them with `BPF_PROG_TEST_RUN`; they return 0
//! when every relocation was right.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use oxbpf::btf::{Btf, BtfExt, CoreReloKind};
use oxbpf::insn::{ByteOrder, Insn};
use oxbpf::relocate::core::{
    annotate_verifier_log, CoreDecision, CoreRelocator, Outcome, PoisonCause, Targets,
};
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
fn dump_decisions() {
    // `cargo test --test core dump -- --nocapture` shows what `oxbpf core check` would.
    let Some(vmlinux) = vmlinux() else { return };
    for name in clangs("kernel") {
        let f = Fixture::open(&name);
        for (_, _, ds) in f.relocate(Targets::kernel(vmlinux.clone())) {
            for d in ds {
                println!("{d}");
            }
        }
    }
    let target = Fixture::open("layout.TARGET.clang19.o");
    let f = Fixture::open("layout.clang19.o");
    for (_, _, ds) in f.relocate(Targets::custom("layout.TARGET", target.btf.clone())) {
        for d in ds {
            println!("{d}");
        }
    }
}

/// Key of a record that survives a change of layout: section, kind and C path (by names).
fn record_key(d: &CoreDecision) -> (String, CoreReloKind, String) {
    (d.section.clone(), d.kind, d.local.path.clone())
}

/// Whether libbpf leaves this value to the compiler (bitfield offsets, sizes and left
/// shifts are not checked against the instruction: clang may pick another load).
fn is_bitfield_choice(d: &CoreDecision, btf: &Btf) -> bool {
    use CoreReloKind::*;
    matches!(d.kind, FieldByteOffset | FieldByteSize | FieldLshiftU64) && bitfield_path(d, btf)
}

fn bitfield_path(d: &CoreDecision, btf: &Btf) -> bool {
    let Some(field) = d.local.path.rsplit(['>', '.']).next() else {
        return false;
    };
    let root = btf.skip_mods_and_typedefs(d.local.type_id).unwrap().id();
    btf.find_member(root, field)
        .ok()
        .flatten()
        .is_some_and(|m| m.bitfield_size > 0)
}

#[test]
fn custom_target_values_match_the_target_build() {
    for clang in [14, 19] {
        let local = Fixture::open(&format!("layout.clang{clang}.o"));
        let target = Fixture::open(&format!("layout.TARGET.clang{clang}.o"));
        let relocated = local.relocate(Targets::custom("layout.TARGET", target.btf.clone()));
        // The TARGET build against its own BTF: every value is what its layout gives.
        let own = target.relocate(Targets::custom("self", target.btf.clone()));
        let mut expected: std::collections::HashMap<_, Vec<&CoreDecision>> = Default::default();
        for d in own.iter().flat_map(|(_, _, ds)| ds) {
            expected.entry(record_key(d)).or_default().push(d);
        }
        let mut seen: std::collections::HashMap<_, usize> = Default::default();
        let mut checked = 0;
        for d in relocated.iter().flat_map(|(_, _, ds)| ds) {
            let key = record_key(d);
            let n = seen.entry(key.clone()).or_default();
            let pair = expected.get(&key).and_then(|v| v.get(*n));
            *n += 1;
            let what = format!("clang{clang} {d}");
            match pair {
                // Only the plain build has it: the target lacks the field/type/enumerator.
                None => match d.kind {
                    CoreReloKind::FieldExists
                    | CoreReloKind::TypeExists
                    | CoreReloKind::EnumvalExists
                    | CoreReloKind::TypeMatches
                    | CoreReloKind::TypeSize => {
                        assert_eq!(d.new_value, 0, "{what}");
                        assert!(!d.is_poisoned(), "{what}");
                    }
                    _ => assert!(d.is_poisoned(), "{what}"),
                },
                Some(_) if d.kind == CoreReloKind::TypeIdLocal => {
                    assert_eq!(d.new_value, u64::from(d.local.type_id), "{what}");
                }
                // The target build always matches itself; whether the plain build's type
                // matches the target is by construction of the fixture.
                Some(_) if d.kind == CoreReloKind::TypeMatches => {
                    let want = match d.local.path.as_str() {
                        "struct pair" => 0,
                        "struct inner" => 1,
                        other => panic!("no expectation for type_matches {other}"),
                    };
                    assert_eq!(d.new_value, want, "{what}");
                }
                // A signed field that changed size cannot be loaded with another width.
                Some(_) if d.is_poisoned() => {
                    assert_eq!(d.local.path, "thing->sgn", "{what}");
                    assert_eq!(
                        d.outcome,
                        Outcome::Poisoned(PoisonCause::SizeMismatch {
                            local: 8,
                            target: 4
                        }),
                        "{what}"
                    );
                }
                Some(t) => {
                    assert_eq!(d.new_value, t.old_value, "{what} vs the target's {t}");
                    if !is_bitfield_choice(t, &target.btf) {
                        // The target build's instruction holds the same value.
                        let insn = t.before[0];
                        let held = match d.after[0].class() {
                            0 => t.before[0].imm64(&t.before[1]),
                            1..=3 => insn.off as i64 as u64,
                            _ => insn.imm as i64 as u64,
                        };
                        assert_eq!(d.new_value, held, "{what} vs the target's instruction");
                    }
                    checked += 1;
                }
            }
        }
        assert!(
            checked >= 30,
            "clang{clang}: only {checked} paired relocations"
        );
        // Every record of the target build found its counterpart.
        for (key, ds) in &expected {
            assert_eq!(
                seen.get(key).copied().unwrap_or(0),
                ds.len(),
                "clang{clang} {key:?}"
            );
        }
        // The widened `small` (u16 -> u32) load was widened.
        let small = relocated
            .iter()
            .flat_map(|(_, _, ds)| ds)
            .find(|d| d.local.path == "thing->small" && d.kind == CoreReloKind::FieldByteOffset)
            .unwrap();
        let oxbpf::relocate::core::Outcome::Patched(p) = small.outcome else {
            panic!("{small}")
        };
        assert_eq!(p.mem_size, Some((2, 4)), "clang{clang} {small}");
    }
}

#[test]
fn relocating_against_the_own_btf_changes_nothing() {
    for name in [
        "layout.clang14.o",
        "layout.clang19.o",
        "layout.TARGET.clang19.o",
    ] {
        let f = Fixture::open(name);
        for (section, insns, ds) in f.relocate(Targets::custom("self", f.btf.clone())) {
            let orig = f.insns(&section);
            for d in &ds {
                if is_bitfield_choice(d, &f.btf) {
                    continue;
                }
                assert_eq!(
                    &insns[d.insn..d.insn + d.after.len()],
                    &orig[d.insn..d.insn + d.after.len()],
                    "{name}: {d}"
                );
            }
        }
    }
}

/// Fill a buffer with the marker values of `layout.bpf.c` as the `struct thing` of `btf`
/// lays them out (plain BTF lookups, not CO-RE).
fn layout_buffer(btf: &Btf) -> Vec<u8> {
    use oxbpf::btf::BtfKind;
    let thing = btf.id_by_name_kind("thing", BtfKind::Struct).unwrap();
    let inner = btf.id_by_name_kind("inner", BtfKind::Struct).unwrap();
    let mut buf = vec![0u8; 256];
    let mut put = |root: u32, base: u32, field: &str, value: u64| -> bool {
        let Some(m) = btf.find_member(root, field).unwrap() else {
            return false;
        };
        let bit = (base * 8 + m.bit_offset) as usize;
        let bits = if m.bitfield_size > 0 {
            m.bitfield_size as usize
        } else {
            8 * btf.type_size(m.type_id).unwrap() as usize
        };
        for i in 0..bits.min(64) {
            if value >> i & 1 == 1 {
                buf[(bit + i) / 8] |= 1 << ((bit + i) % 8);
            }
        }
        true
    };
    put(thing, 0, "a", 0x1111_1111);
    put(thing, 0, "b", 0x22);
    put(thing, 0, "c", 0x3333_3333_3333_3333);
    put(thing, 0, "flags", 5);
    put(thing, 0, "mode", 19);
    put(thing, 0, "u2", 0x7777_7777);
    put(thing, 0, "small", 0x4242);
    put(thing, 0, "ptr", 0x1234);
    put(thing, 0, "removed", 0x1234_5678);
    put(thing, 0, "sgn", -2i64 as u64);
    let green = btf
        .type_by_name_kind("color", BtfKind::Enum)
        .unwrap()
        .enum_values()
        .unwrap()
        .find(|v| v.name().unwrap() == "GREEN")
        .unwrap()
        .value;
    put(thing, 0, "col", green);
    let in_off = btf.find_member(thing, "in").unwrap().unwrap().bit_offset / 8;
    put(inner, in_off, "x", 0x5555_5555);
    put(inner, in_off, "y", 0x6666);
    let arr = btf.find_member(thing, "arr").unwrap().unwrap().bit_offset / 8;
    for i in 0..4u32 {
        buf[(arr + 4 * i) as usize] = 0x40 + i as u8;
    }
    buf
}

/// `ctx` of `layout.bpf.c` for a target: expectations from its BTF; `pair_matches` is
/// whether its `struct pair` matches the plain build's (by construction of the fixture).
fn layout_ctx(btf: &Btf, buf: &[u8], pair_matches: bool) -> Vec<u8> {
    use oxbpf::btf::BtfKind;
    let thing = btf.id_by_name_kind("thing", BtfKind::Struct).unwrap();
    let arr = btf.find_member(thing, "arr").unwrap().unwrap();
    let purple = btf
        .type_by_name_kind("color", BtfKind::Enum)
        .unwrap()
        .enum_values()
        .unwrap()
        .any(|v| v.name().unwrap() == "PURPLE");
    let vals: [u64; 8] = [
        buf.as_ptr() as u64,
        u64::from(btf.type_size(thing).unwrap()),
        u64::from(btf.find_member(thing, "removed").unwrap().is_some()),
        u64::from(btf.id_by_name_kind("only_local", BtfKind::Struct).is_some()),
        u64::from(purple),
        u64::from(pair_matches),
        u64::from(thing),
        u64::from(btf.type_size(arr.type_id).unwrap()),
    ];
    vals.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

#[test]
fn custom_target_programs_run_on_the_target_layout() {
    require_bpf!();
    for clang in [14, 19] {
        let local = Fixture::open(&format!("layout.clang{clang}.o"));
        let target = Fixture::open(&format!("layout.TARGET.clang{clang}.o"));
        for (tname, tbtf, pair_matches) in [
            ("self", &local.btf, true),
            ("layout.TARGET", &target.btf, false),
        ] {
            let buf = layout_buffer(tbtf);
            let ctx = layout_ctx(tbtf, &buf, pair_matches);
            for (section, insns, ds) in local.relocate(Targets::custom(tname, tbtf.clone())) {
                let ret = run_section(&section, &insns, &ctx, &ds);
                assert_eq!(
                    ret, 0,
                    "clang{clang} against {tname}: wrong at layout.bpf.c:{ret}"
                );
            }
        }
    }
}

#[test]
fn fixtures_cover_every_kind() {
    let mut kinds = std::collections::HashSet::new();
    for name in ["kernel.clang19.o", "layout.clang19.o"] {
        let f = Fixture::open(name);
        for sec in &f.ext.core_relos {
            kinds.extend(sec.records.iter().map(|r| r.kind));
        }
    }
    for raw in 0..13 {
        assert!(
            kinds.contains(&CoreReloKind::from_raw(raw)),
            "no fixture uses kind {raw}"
        );
    }
}

/// xorshift64*: reproducible noise without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn hostile_records_and_btf_never_panic() {
    use oxbpf::btf::CoreRelo;
    let local = Fixture::open("layout.clang19.o");
    let target = Fixture::open("layout.TARGET.clang19.o");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (section, insns) = local.sections[0].clone();
    let strings_end = local.btf.strings_end() as u64;
    let last = local.btf.last_id() as u64;
    // Random records: any type id, any string offset, any kind, any instruction.
    let mut r = CoreRelocator::new(&local.btf, Targets::custom("t", target.btf.clone()));
    let mut errors = 0;
    for _ in 0..8_000 {
        let relo = CoreRelo {
            insn_off: (rng.below(insns.len() as u64 + 2) * 8 + rng.below(2) * 4) as u32,
            type_id: rng.below(last + 3) as u32,
            access_str_off: rng.below(strings_end + 3) as u32,
            kind: CoreReloKind::from_raw(rng.below(15) as u32),
        };
        let mut ins = insns.clone();
        for i in ins.iter_mut() {
            if rng.below(8) == 0 {
                i.code = rng.next() as u8;
            }
        }
        if r.relocate_section(&section, &[relo], &mut ins).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0 && errors < 8_000, "{errors} errors");
    // Mutated BTF on either side: bytes of the type section flipped.
    let raw = local.btf.raw_bytes().to_vec();
    let hdr = local.btf.header();
    let types =
        (hdr.hdr_len + hdr.type_off) as usize..(hdr.hdr_len + hdr.type_off + hdr.type_len) as usize;
    let mut parsed = 0;
    for _ in 0..1_000 {
        let mut bytes = raw.clone();
        for _ in 0..1 + rng.below(4) {
            let at = types.start + rng.below(types.len() as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        let Ok(bad) = Btf::parse(bytes) else { continue };
        parsed += 1;
        let bad = Arc::new(bad);
        for sec in &local.ext.core_relos {
            let mut ins = local.insns(&sec.name).to_vec();
            let _ = CoreRelocator::new(&bad, Targets::custom("t", target.btf.clone()))
                .relocate_section(&sec.name, &sec.records, &mut ins);
            let mut ins = local.insns(&sec.name).to_vec();
            let _ = CoreRelocator::new(&local.btf, Targets::custom("t", bad.clone()))
                .relocate_section(&sec.name, &sec.records, &mut ins);
        }
    }
    assert!(parsed > 50, "only {parsed} mutants parsed");
}

/// What libbpf did with each CO-RE record of `obj` (Debian's bpftool, `-d` debug output):
/// (program, record, instruction) → new value, or `None` when poisoned.
type LibbpfDecisions = std::collections::BTreeMap<(String, usize, usize), Option<u64>>;

fn libbpf_decisions(obj: &Path) -> Option<LibbpfDecisions> {
    let dir = tempfile::tempdir().ok()?;
    nix::mount::mount(
        Some("bpf"),
        dir.path(),
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .ok()?;
    let out = std::process::Command::new("bpftool")
        .arg("-d")
        .args(["prog", "loadall"])
        .arg(obj)
        .arg(dir.path().join("progs"))
        .output();
    let _ = nix::mount::umount2(dir.path(), nix::mount::MntFlags::MNT_DETACH);
    let out = out.ok()?;
    let log = String::from_utf8_lossy(&out.stderr);
    let mut map = LibbpfDecisions::new();
    for line in log.lines() {
        // libbpf: prog 'task_fields': relo #3: patched insn #50 (ALU/ALU64) imm 1736 -> 1736
        let Some(rest) = line.strip_prefix("libbpf: prog '") else {
            continue;
        };
        let Some((prog, rest)) = rest.split_once("': relo #") else {
            continue;
        };
        let Some((relo, rest)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(relo) = relo.parse::<usize>() else {
            continue;
        };
        let num_after = |s: &str, pat: &str| -> Option<u64> {
            let t = s.split_once(pat)?.1;
            t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        };
        if rest.starts_with("patched insn #") {
            let insn = num_after(rest, "insn #")? as usize;
            let new = rest.rsplit("-> ").next()?.trim().parse().ok()?;
            map.insert((prog.to_string(), relo, insn), Some(new));
        } else if rest.starts_with("substituting insn #") {
            let insn = num_after(rest, "insn #")? as usize;
            map.insert((prog.to_string(), relo, insn), None);
        }
    }
    // Both halves of a poisoned ld_imm64 are reported; keep the first.
    let second_halves: Vec<_> = map
        .iter()
        .filter(|((p, r, i), v)| {
            v.is_none() && *i > 0 && map.get(&(p.clone(), *r, i - 1)) == Some(&None)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in second_halves {
        map.remove(&k);
    }
    Some(map)
}

#[test]
fn libbpf_makes_the_same_decisions() {
    require_bpf!();
    let Some(vmlinux) = vmlinux() else { return };
    if std::process::Command::new("bpftool")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: no bpftool");
        return;
    }
    for name in ["kernel.clang14.o", "kernel.clang19.o", "many.clang19.o"] {
        let f = Fixture::open(name);
        let theirs = libbpf_decisions(&f.path).expect("bpftool ran");
        // One program per section in these fixtures: libbpf's program-relative instruction
        // indices are section indices.
        let elf_data = std::fs::read(&f.path).unwrap();
        let elf = object::File::parse(&*elf_data).unwrap();
        let prog_of = |section: &str| {
            let idx = elf.section_by_name(section).unwrap().index();
            elf.symbols()
                .find(|s| s.section_index() == Some(idx) && s.kind() == object::SymbolKind::Text)
                .map(|s| s.name().unwrap().to_string())
                .unwrap()
        };
        let mut ours = LibbpfDecisions::new();
        for (section, _, ds) in f.relocate(Targets::kernel(vmlinux.clone())) {
            let prog = prog_of(&section);
            for d in ds {
                ours.insert(
                    (prog.clone(), d.record, d.insn),
                    (!d.is_poisoned()).then_some(d.new_value),
                );
            }
        }
        assert!(ours.len() > 50, "{name}");
        assert_eq!(ours, theirs, "{name}: oxbpf and libbpf disagree");
    }
}

#[test]
fn kernel_fixtures_against_linux_6_1() {
    // An older kernel's BTF (committed): the same relocations resolve or are poisoned, and
    // only the guarded ones are poisoned.
    let raw = std::fs::read(common::fixtures_dir().join("btf/linux-6.1.btf")).unwrap();
    let old = Arc::new(Btf::parse(raw).unwrap());
    for name in clangs("kernel") {
        let f = Fixture::open(&name);
        let mut poisoned = Vec::new();
        for (_, _, ds) in f.relocate(Targets::kernel(old.clone())) {
            for d in ds {
                assert!(
                    d.target.is_some()
                        || d.unresolved.is_some()
                        || d.kind == CoreReloKind::TypeIdLocal,
                    "{d}"
                );
                if d.is_poisoned() {
                    poisoned.push(d.local.path.clone());
                }
            }
        }
        poisoned.sort();
        assert_eq!(
            poisoned,
            [
                "enum bpf_map_type___x::BPF_MAP_TYPE_NO_SUCH___x",
                "task_struct___old->nonexistent_field",
            ],
            "{name}"
        );
    }
}
