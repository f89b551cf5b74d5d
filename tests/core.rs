//! CO-RE relocation of `tests/fixtures/core/kernel.bpf.c` (and `many`, `poisoned`) against
//! this machine's vmlinux BTF: offline checks of the decisions, the same decisions as
//! libbpf, and (privileged) the relocated programs load and return 0 under
//! `BPF_PROG_TEST_RUN`. Custom targets are in `core_targets.rs`.

mod common;
mod core_fixture;

use std::path::Path;
use std::sync::Arc;

use core_fixture::*;
use object::{Object, ObjectSection, ObjectSymbol};
use oxbpf::btf::{Btf, CoreReloKind};
use oxbpf::relocate::core::{annotate_verifier_log, CoreRelocator, Targets};

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
fn decisions_read_well() {
    // `cargo test --test core decisions -- --nocapture` shows what `oxbpf core check` would.
    let Some(vmlinux) = vmlinux() else { return };
    let mut no_match = 0;
    for name in clangs("kernel") {
        let f = Fixture::open(&name);
        for (section, _, ds) in f.relocate(Targets::kernel(vmlinux.clone())) {
            for d in ds {
                let line = d.to_string();
                println!("{line}");
                let head = format!(
                    "{section} insn #{}: {} `{}` (",
                    d.insn, d.kind, d.local.path
                );
                assert!(line.starts_with(&head), "{line}");
                assert!(line.contains(&d.local.type_name), "{line}");
                match (&d.target, &d.unresolved) {
                    (Some(t), None) => {
                        assert!(line.contains(&format!("-> vmlinux [{}]", t.type_id)))
                    }
                    (None, Some(u)) => {
                        no_match += 1;
                        assert!(line.contains(&format!("-> no match: {u}")), "{line}");
                    }
                    (None, None) => assert_eq!(d.kind, CoreReloKind::TypeIdLocal, "{line}"),
                    _ => panic!("{line}"),
                }
                assert_eq!(line.ends_with(": POISONED"), d.is_poisoned(), "{line}");
            }
        }
    }
    assert!(no_match >= 10, "{no_match}");
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
        eprintln!("SKIPPED libbpf_makes_the_same_decisions: no bpftool");
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
