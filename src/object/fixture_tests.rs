//! The committed fixtures (`tests/fixtures/object/*.bpf.c`, clang-14 and clang-19 builds)
//! parse into what their C sources declare.

use super::*;
use crate::btf::BtfKind;
use crate::syscall::{MapFlags, MapType, ProgType};

pub(super) fn fixture_path(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// Both builds of `tests/fixtures/object/<name>`, parsed; the label says which clang.
pub(super) fn builds(name: &str) -> Vec<(&'static str, Object)> {
    ["clang14", "clang19"]
        .into_iter()
        .map(|c| {
            let p = fixture_path(&format!("object/{name}.{c}.o"));
            let o = Object::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (c, o)
        })
        .collect()
}

/// Every relocation's target agrees with its symbol: maps, variables and functions named as
/// the symbol sit where the relocation points.
pub(super) fn check_reloc_targets(o: &Object) {
    for s in o.prog_sections() {
        for r in &s.relocs {
            let insn = &s.insns[r.insn];
            match r.target {
                RelocTarget::Map(m) => {
                    assert!(insn.is_ld_imm64());
                    assert_eq!(o.maps()[m].name, r.symbol);
                }
                RelocTarget::Data { section, offset } => {
                    let d = &o.data_sections()[section];
                    assert!(offset <= d.size() as u64, "{}: {r:?}", s.name);
                    if let Some(v) = d.variable(&r.symbol) {
                        assert_eq!(u64::from(v.offset), offset, "{r:?}");
                    } else {
                        assert_eq!(r.symbol, d.name(), "{r:?}");
                    }
                }
                RelocTarget::Call { section, insn: at }
                | RelocTarget::FuncAddr { section, insn: at } => {
                    let callee = o
                        .functions()
                        .iter()
                        .find(|f| f.section == section && f.insn_off == at);
                    let callee =
                        callee.unwrap_or_else(|| panic!("{}: {r:?}: no function there", s.name));
                    if r.symbol != o.prog_sections()[section].name {
                        assert_eq!(callee.name, r.symbol);
                    }
                }
                RelocTarget::Extern(e) => assert_eq!(o.externs()[e].name, r.symbol),
                RelocTarget::Arena { .. } | RelocTarget::JumpTable { .. } => {}
            }
        }
    }
}

#[test]
fn object_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Object>();
}

#[test]
fn smoke_minimal() {
    for c in ["clang14", "clang19"] {
        let o = Object::open(fixture_path(&format!("smoke/minimal.{c}.o"))).unwrap();
        assert_eq!(o.name(), "minimal");
        assert_eq!(o.license(), Some("GPL"));
        let p = o.program("count").unwrap();
        assert_eq!(p.prog_type(), ProgType::SOCKET_FILTER);
        let m = o.map("counter").unwrap();
        assert_eq!(
            (m.map_type, m.key_size, m.value_size, m.max_entries),
            (MapType::ARRAY, 4, 8, 1)
        );
        assert!(o.is_loadable_on_host());
        check_reloc_targets(&o);
    }
}

#[test]
fn maps_of_every_encoding() {
    for (clang, o) in builds("maps") {
        let m = |n: &str| o.map(n).unwrap_or_else(|e| panic!("{clang}: {e}"));
        let shape = |n: &str| {
            let d = m(n);
            (d.map_type, d.key_size, d.value_size, d.max_entries)
        };
        assert_eq!(shape("hash_typed"), (MapType::HASH, 16, 24, 10240));
        assert_eq!(m("hash_typed").map_flags, MapFlags::NO_PREALLOC);
        let btf = o.btf().unwrap();
        let key = btf
            .type_by_id(m("hash_typed").btf_key_type_id.unwrap())
            .unwrap();
        assert_eq!(
            (key.kind(), key.name().unwrap()),
            (BtfKind::Struct, "key_t")
        );
        assert_eq!(shape("array_sized"), (MapType::ARRAY, 4, 24, 7));
        assert_eq!(m("array_sized").btf_key_type_id, None);
        assert_eq!(shape("percpu_array"), (MapType::PERCPU_ARRAY, 4, 8, 4));
        assert_eq!(shape("lru_numa"), (MapType::LRU_HASH, 8, 4, 128));
        assert_eq!(m("lru_numa").numa_node, Some(0));
        assert_eq!(m("lru_numa").map_flags, MapFlags::NUMA_NODE);
        assert_eq!(m("hash_typed").numa_node, None);
        // As written: the loader rounds ring buffers and sizes perf arrays.
        assert_eq!(shape("events"), (MapType::RINGBUF, 0, 0, 100000));
        assert_eq!(shape("perf_events"), (MapType::PERF_EVENT_ARRAY, 4, 4, 0));
        assert_eq!(m("pinned").pinning, Pinning::ByName);
        assert_eq!(m("hash_typed").pinning, Pinning::None);
        assert_eq!(shape("bloom"), (MapType::BLOOM_FILTER, 0, 4, 1000));
        assert_eq!(m("bloom").map_extra, 5);
        assert_eq!(shape("lpm"), (MapType::LPM_TRIE, 8, 4, 64));
        // clang-14 has no ENUM64 and truncates the 64-bit enumerator to 0.
        let lpm_extra = if clang == "clang14" { 0 } else { 1 << 32 };
        assert_eq!(m("lpm").map_extra, lpm_extra, "{clang}");

        for n in ["inner_a", "inner_b"] {
            assert_eq!(shape(n), (MapType::ARRAY, 4, 4, 2));
        }
        let outer = m("outer_array");
        assert_eq!(shape("outer_array"), (MapType::ARRAY_OF_MAPS, 4, 4, 4));
        let inner = outer.inner.as_deref().unwrap();
        assert_eq!(inner.name, "outer_array.inner");
        assert_eq!(
            (inner.section.as_str(), inner.section_offset),
            (".maps", outer.section_offset)
        );
        assert_eq!(
            (
                inner.map_type,
                inner.key_size,
                inner.value_size,
                inner.max_entries
            ),
            (MapType::ARRAY, 4, 4, 2)
        );
        assert_eq!(
            outer.initial_slots,
            vec![
                Some(SlotTarget::Map("inner_a".into())),
                None,
                Some(SlotTarget::Map("inner_b".into()))
            ]
        );
        let oh = m("outer_hash");
        assert_eq!(shape("outer_hash"), (MapType::HASH_OF_MAPS, 4, 4, 8));
        let inner = oh.inner.as_deref().unwrap();
        assert_eq!(
            (
                inner.map_type,
                inner.key_size,
                inner.value_size,
                inner.max_entries
            ),
            (MapType::HASH, 8, 8, 32)
        );
        assert!(oh.initial_slots.is_empty());
        let jt = m("jump_table");
        assert_eq!(shape("jump_table"), (MapType::PROG_ARRAY, 4, 4, 3));
        assert!(jt.inner.is_none());
        assert_eq!(
            jt.initial_slots,
            vec![
                None,
                Some(SlotTarget::Program("tail_a".into())),
                Some(SlotTarget::Program("tail_b".into()))
            ]
        );
        assert!(o
            .maps()
            .iter()
            .all(|d| d.origin == MapOrigin::Btf && d.section == ".maps"));
        assert_eq!(o.maps().len(), 14);

        let names: Vec<&str> = o.programs().iter().map(|p| p.name()).collect();
        assert_eq!(names, ["tail_a", "tail_b", "use_maps"], "{clang}");
        assert!(o.programs().iter().all(|p| p.section_name() == "socket"));
        let sec = &o.prog_sections()[o.program("use_maps").unwrap().section()];
        let referenced: std::collections::BTreeSet<&str> = sec
            .relocs
            .iter()
            .filter(|r| matches!(r.target, RelocTarget::Map(_)))
            .map(|r| r.symbol.as_str())
            .collect();
        assert_eq!(referenced.len(), 12, "{clang}: {referenced:?}");
        check_reloc_targets(&o);
    }
}

#[test]
fn legacy_and_iproute2_maps() {
    for (clang, o) in builds("legacy") {
        let shape = |n: &str| {
            let d = o.map(n).unwrap();
            (
                d.map_type,
                d.key_size,
                d.value_size,
                d.max_entries,
                d.map_flags,
                d.origin,
                d.def_size,
            )
        };
        assert_eq!(
            shape("legacy_hash"),
            (
                MapType::HASH,
                4,
                8,
                256,
                MapFlags::NO_PREALLOC,
                MapOrigin::Legacy,
                20
            )
        );
        assert_eq!(
            shape("legacy_array"),
            (
                MapType::ARRAY,
                4,
                64,
                8,
                MapFlags::empty(),
                MapOrigin::Legacy,
                20
            )
        );
        assert_eq!(shape("legacy_progs").0, MapType::PROG_ARRAY);
        assert!(o.maps().iter().all(|m| m.section == "maps"), "{clang}");
        assert_eq!(o.kern_version(), Some(0x050400));
        check_reloc_targets(&o);
    }
    for (_, o) in builds("iproute2") {
        let c = o.map("tc_counters").unwrap();
        assert_eq!(
            (c.map_type, c.key_size, c.value_size, c.max_entries),
            (MapType::PERCPU_ARRAY, 4, 8, 2)
        );
        assert_eq!(
            c.origin,
            MapOrigin::Iproute2(Iproute2Fields {
                id: 7,
                pinning: 2,
                inner_id: 0,
                inner_idx: 0
            })
        );
        let f = o.map("tc_flows").unwrap();
        assert_eq!(
            (f.key_size, f.value_size, f.max_entries, f.def_size),
            (16, 8, 1024, 36)
        );
        assert_eq!(
            o.program("tc_count").unwrap().prog_type(),
            ProgType::SCHED_CLS
        );
        check_reloc_targets(&o);
    }
}

#[test]
fn object_without_btf() {
    for (clang, o) in builds("nobtf") {
        assert!(o.btf().is_none() && o.btf_ext().is_none(), "{clang}");
        assert!(o.is_loadable_on_host());
        let m = o.map("plain_counts").unwrap();
        assert_eq!(
            (m.map_type, m.key_size, m.value_size, m.max_entries),
            (MapType::ARRAY, 4, 8, 16)
        );
        let ro = o.section_data(".rodata").unwrap();
        assert_eq!(ro.get("plain_limit").unwrap(), 100u32.to_ne_bytes());
        assert_eq!(ro.variable("plain_limit").unwrap().btf_type_id, None);
        // libbpf only mmaps global data it has a DATASEC for.
        assert!(!ro.is_mmapable());
        assert_eq!(
            o.section_data(".data").unwrap().get("plain_total").unwrap(),
            3u64.to_ne_bytes()
        );
        assert!(o
            .section_data(".bss")
            .unwrap()
            .variable("plain_seen")
            .is_some());
        assert_eq!(o.function("plain_helper").unwrap().binding, Binding::Local);
        assert_eq!(o.program("plain_xdp").unwrap().prog_type(), ProgType::XDP);
        let xdp = o.prog_section("xdp").unwrap();
        assert!(xdp
            .relocs
            .iter()
            .any(|r| matches!(r.target, RelocTarget::Call { .. })));
        check_reloc_targets(&o);
    }
}

#[test]
fn big_endian_object_parses_but_is_not_loadable_here() {
    for (clang, o) in builds("bigendian") {
        assert_eq!(o.byte_order(), crate::insn::ByteOrder::Big, "{clang}");
        assert_eq!(o.is_loadable_on_host(), cfg!(target_endian = "big"));
        let m = o.map("be_map").unwrap();
        assert_eq!(
            (m.map_type, m.key_size, m.value_size, m.max_entries),
            (MapType::HASH, 4, 8, 300)
        );
        let ro = o.section_data(".rodata").unwrap();
        assert_eq!(ro.get("be_limit").unwrap(), [1, 2, 3, 4]);
        let p = o.program("be_prog").unwrap();
        assert_eq!(p.prog_type(), ProgType::XDP);
        assert!(o.program_insns(p).last().unwrap().is_exit());
        check_reloc_targets(&o);
    }
}

#[test]
fn refused_map_definitions_name_the_map() {
    for (_, o) in builds("bad_maps") {
        assert_eq!(o.maps().len(), 2);
    }
    type Check = fn(&ObjectError) -> bool;
    #[rustfmt::skip]
    let cases: &[(&str, Check)] = &[
        (
            "UNKNOWN_FIELD",
            |e| matches!(e, ObjectError::UnknownMapField { map, field } if map == "victim" && field == "frobnicate"),
        ),
        (
            "KEY_CONFLICT",
            |e| matches!(e, ObjectError::ConflictingMapSize { map, what: "key", first: 4, second: 8 } if map == "victim"),
        ),
        (
            "VALUE_CONFLICT",
            |e| matches!(e, ObjectError::ConflictingMapSize { map, what: "value", first: 8, second: 4 } if map == "victim"),
        ),
        (
            "STATIC_MAP",
            |e| matches!(e, ObjectError::Map { map, problem } if map == "victim" && problem.contains("static")),
        ),
        (
            "BAD_PINNING",
            |e| matches!(e, ObjectError::Map { map, problem } if map == "victim" && problem.contains("pinning")),
        ),
        (
            "NO_TYPE",
            |e| matches!(e, ObjectError::Map { map, problem } if map == "victim" && problem.contains("type")),
        ),
        (
            "VALUES_NOT_MIM",
            |e| matches!(e, ObjectError::Map { map, problem } if map == "outer" && problem.contains("values")),
        ),
        (
            "INNER_PINNED",
            |e| matches!(e, ObjectError::Map { map, problem } if map == "outer.inner" && problem.contains("pinned")),
        ),
    ];
    for (variant, want) in cases {
        for c in ["clang14", "clang19"] {
            let p = fixture_path(&format!("object/bad_maps.{variant}.{c}.o"));
            let err = Object::open(&p).expect_err(variant);
            assert!(want(&err), "{variant} {c}: {err:?}");
        }
    }
    // Initialized definition bytes: libbpf ignores them, so the object parses, warning
    // about the map and offset.
    for c in ["clang14", "clang19"] {
        let p = fixture_path(&format!("object/bad_maps.INIT_BYTES.{c}.o"));
        let o = Object::open(&p).expect("INIT_BYTES parses");
        assert!(
            o.warnings()
                .iter()
                .any(|w| matches!(w, ObjectError::MapInitialized { map, .. } if map == "victim")),
            "{c}: {:?}",
            o.warnings()
        );
    }
}

#[test]
fn every_committed_fixture_parses() {
    let mut n = 0;
    for dir in ["object", "smoke"] {
        for e in std::fs::read_dir(fixture_path(dir)).unwrap().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".o") {
                continue;
            }
            // bad_maps.<VARIANT>.clangN.o are refused on purpose (see above), but for
            // INIT_BYTES, which parses with a warning as libbpf tolerates it.
            let refused = name.starts_with("bad_maps.")
                && name.matches('.').count() == 3
                && !name.contains("INIT_BYTES");
            let res = Object::open(&p);
            assert_eq!(res.is_err(), refused, "{name}: {:?}", res.err());
            if let Ok(o) = res {
                assert!(!o.programs().is_empty(), "{name}");
                check_reloc_targets(&o);
            }
            n += 1;
        }
    }
    assert!(n >= 40, "{n} fixtures");
}
