//! Objects other projects ship: libxdp's and xdp-tools' XDP programs and cilium/ebpf's test
//! objects (Debian packages `libxdp1`, `xdp-tests`, `golang-github-cilium-ebpf-dev`). Each
//! must parse, except cilium's deliberately invalid `invalid_*`, which must fail naming the
//! fault. The test installs nothing: missing directories are reported as skipped.

use std::path::{Path, PathBuf};

use super::*;
use crate::insn::ByteOrder;
use crate::syscall::{MapType, ProgType};

const XDP_DIRS: &[&str] = &["/usr/lib/x86_64-linux-gnu/bpf", "/usr/libexec/xdp-tools"];
const CILIUM_ROOT: &str = "/usr/share/gocode/src/github.com/cilium/ebpf";

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
fn find(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find(&p, suffix, out);
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
}

fn objects() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in XDP_DIRS {
        if Path::new(d).is_dir() {
            find(Path::new(d), ".o", &mut out);
        } else {
            println!("skipped {d}: not present (install libxdp1 / xdp-tests)");
        }
    }
    if Path::new(CILIUM_ROOT).is_dir() {
        find(Path::new(CILIUM_ROOT), "-el.elf", &mut out);
        find(Path::new(CILIUM_ROOT), "-eb.elf", &mut out);
    } else {
        println!("skipped {CILIUM_ROOT}: not present (install golang-github-cilium-ebpf-dev)");
    }
    out.sort();
    out
}

/// What an `invalid_*` object must fail with.
fn expected_fault(stem: &str, err: &ObjectError) -> bool {
    match stem {
        // A 24-byte legacy record whose extra field is non-zero.
        "invalid_map" => {
            matches!(err, ObjectError::LegacyMapExtra { map, size: 24, .. } if map == "invalid_map")
        }
        // A static legacy map, referenced through the section symbol.
        "invalid_map_static" => {
            matches!(err, ObjectError::Map { map, problem } if map == "hash_map" && problem.contains("static"))
        }
        _ => false,
    }
}

#[test]
fn third_party_objects_parse_and_invalid_ones_fail_naming_the_fault() {
    let files = objects();
    let (mut ok, mut refused) = (0, 0);
    for p in &files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches("-el.elf").trim_end_matches("-eb.elf");
        let res = Object::open(p);
        // `.key = (void *)1` initializes a BTF map definition: cilium/ebpf refuses it,
        // libbpf ignores the bytes and loads it. We load it, warning about the fault.
        if stem == "invalid_btf_map_init" {
            let o = res.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                o.warnings().iter().any(
                    |w| matches!(w, ObjectError::MapInitialized { map, .. } if map == "hash_map")
                ),
                "{name}: {:?}",
                o.warnings()
            );
            ok += 1;
            continue;
        }
        if stem.starts_with("invalid_") {
            let err = res.expect_err(&name);
            assert!(
                expected_fault(stem, &err),
                "{name}: unexpected error {err:?}"
            );
            println!("refused {name}: {err}");
            refused += 1;
            continue;
        }
        let o = res.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let big = name.ends_with("-eb.elf");
        assert_eq!(o.byte_order() == ByteOrder::Big, big, "{name}");
        if name.ends_with(".o") {
            assert!(o.license().is_some(), "{name}: no license");
        }
        for prog in o.programs() {
            let insns = o.program_insns(prog);
            assert!(
                !insns.is_empty(),
                "{name}: {} has no instructions",
                prog.name()
            );
        }
        ok += 1;
    }
    println!("{ok} third-party objects parsed, {refused} invalid ones refused");
    if files.is_empty() {
        println!("skipped: no third-party objects on this machine");
    }
}

fn cilium(file: &str) -> Option<Object> {
    let p = Path::new(CILIUM_ROOT).join(file);
    if !p.exists() {
        println!("skipped {}: not present", p.display());
        return None;
    }
    Some(Object::open(&p).unwrap())
}

#[test]
fn cilium_btf_map_init_has_initial_slots() {
    for f in [
        "testdata/btf_map_init-el.elf",
        "testdata/btf_map_init-eb.elf",
    ] {
        let Some(o) = cilium(f) else { return };
        let pa = o.map("prog_array_init").unwrap();
        assert_eq!(pa.map_type, MapType::PROG_ARRAY);
        assert_eq!(
            pa.initial_slots,
            vec![None, Some(SlotTarget::Program("tail_1".into()))]
        );
        let om = o.map("outer_map_init").unwrap();
        assert_eq!(om.map_type, MapType::ARRAY_OF_MAPS);
        assert_eq!(
            om.initial_slots,
            vec![None, Some(SlotTarget::Map("inner_map".into()))]
        );
        assert!(om.inner.is_some());
    }
}

#[test]
fn cilium_loader_objects_of_every_clang() {
    for f in [
        "testdata/loader-el.elf",
        "testdata/loader-clang-7-el.elf",
        "testdata/loader-clang-9-el.elf",
        "testdata/loader-clang-14-el.elf",
    ] {
        let Some(o) = cilium(f) else { return };
        assert_eq!(o.license(), Some("MIT"), "{f}");
        let hm = o.map("hash_map").unwrap();
        assert_eq!(
            (hm.map_type, hm.key_size, hm.value_size, hm.max_entries),
            (MapType::HASH, 4, 8, 1)
        );
        assert_eq!(
            o.map("array_of_hash_map").unwrap().origin,
            MapOrigin::Legacy
        );
        assert_eq!(o.program("xdp_prog").unwrap().prog_type(), ProgType::XDP);
        // `static_fn` lives alone in section `static`; `global_fn3` is an entry of `other`.
        let sf = o.function("static_fn").unwrap();
        assert_eq!((sf.binding, sf.program), (Binding::Local, None), "{f}");
        assert!(o.program("global_fn3").unwrap().sec_def().is_none());
        let calls = o
            .prog_section("xdp")
            .unwrap()
            .relocs
            .iter()
            .filter(|r| matches!(r.target, RelocTarget::Call { .. }))
            .count();
        assert!(calls >= 2, "{f}: {calls} calls");
        // asm("%0 = MY_CONST ll") references an undefined symbol BTF knows nothing about.
        assert_eq!(
            o.extern_by_name("MY_CONST").unwrap().kind,
            ExternKind::Unknown
        );
        if !f.contains("clang-7") {
            let outer = o.map("btf_outer_map_anon").unwrap();
            assert_eq!(outer.inner.as_ref().unwrap().map_type, MapType::HASH);
            assert_eq!(o.map("btf_pin").unwrap().pinning, Pinning::ByName);
            let ro = o.section_data(".rodata.test").unwrap();
            assert_eq!(ro.map_name(), ".rodata.test");
            assert!(ro.variable("arg2").is_some(), "{f}");
        }
    }
}

#[test]
fn iproute2_compat_keeps_the_extra_fields() {
    let Some(o) = cilium("testdata/iproute2_map_compat-el.elf") else {
        return;
    };
    let m = o.map("hash_map").unwrap();
    assert_eq!(
        m.origin,
        MapOrigin::Iproute2(Iproute2Fields {
            id: 0,
            pinning: 2,
            inner_id: 0,
            inner_idx: 0
        })
    );
    assert_eq!((m.key_size, m.value_size, m.max_entries), (4, 8, 2));
}
