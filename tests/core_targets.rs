//! CO-RE against custom targets: `tests/fixtures/core/layout.bpf.c` built as is and with
//! `-DTARGET` (another layout of the same types). Offline, the plain build relocated against
//! the TARGET build's BTF must give the values the TARGET build's own BTF gives; privileged,
//! the relocated program must read a buffer laid out as the target says.

mod common;
mod core_fixture;

use std::collections::HashMap;

use core_fixture::*;
use oxbpf::btf::{Btf, CoreReloKind};
use oxbpf::relocate::core::{CoreDecision, Outcome, PoisonCause, Targets};

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
        let mut expected: HashMap<_, Vec<&CoreDecision>> = Default::default();
        for d in own.iter().flat_map(|(_, _, ds)| ds) {
            expected.entry(record_key(d)).or_default().push(d);
        }
        let mut seen: HashMap<_, usize> = Default::default();
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
