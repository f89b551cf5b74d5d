//! BTF sanitization proved on a kernel that has every BTF kind: the feature probes are made
//! to report kinds missing (the test switch of `oxbpf::features::testing`), and objects must
//! still load with their BTF (sanitized) and run. Its own test binary: the switch is
//! process-wide.

mod common;

use oxbpf::btf::{Btf, BtfKind, FuncLinkage};
use oxbpf::features::{testing, Feature};
use oxbpf::loader::Loader;
use oxbpf::object::Object;
use oxbpf::syscall::{prog_test_run, TestRun};

const BTF_KINDS: &[Feature] = &[
    Feature::BtfFunc,
    Feature::BtfGlobalFunc,
    Feature::BtfDatasec,
    Feature::BtfQmarkDatasec,
    Feature::BtfFloat,
    Feature::BtfDeclTag,
    Feature::BtfTypeTag,
    Feature::BtfEnum64,
];

fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    p
}

/// The kinds of `btf` that a kernel lacking `missing` would refuse.
fn refused_kinds(btf: &Btf, missing: &[Feature]) -> Vec<String> {
    let lacks = |f: Feature| missing.contains(&f);
    btf.types()
        .filter(|t| match t.kind() {
            BtfKind::Func | BtfKind::FuncProto if lacks(Feature::BtfFunc) => true,
            BtfKind::Func => {
                lacks(Feature::BtfGlobalFunc) && t.func_linkage() == Some(FuncLinkage::Global)
            }
            BtfKind::Var | BtfKind::Datasec => lacks(Feature::BtfDatasec),
            BtfKind::Float => lacks(Feature::BtfFloat),
            BtfKind::DeclTag => lacks(Feature::BtfDeclTag),
            BtfKind::TypeTag => lacks(Feature::BtfTypeTag),
            BtfKind::Enum64 => lacks(Feature::BtfEnum64),
            _ => false,
        })
        .map(|t| format!("{:?} {}", t.kind(), t.name().unwrap_or_default()))
        .collect()
}

/// Loads `group/name` (both clang builds) and runs `prog`, expecting `ret`; the BTF the kernel
/// holds (read back) has none of the kinds `missing` says it lacks.
fn load_and_run(group: &str, name: &str, prog: &str, ret: u32, what: &str, missing: &[Feature]) {
    for path in common::fixture_pair(group, name) {
        let loaded = Loader::new()
            .load(Object::open(&path).unwrap())
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()));
        assert!(
            loaded.btf_fd().is_some(),
            "{what}: {}: BTF not uploaded: {:?}",
            path.display(),
            loaded.warnings()
        );
        let uploaded = oxbpf::syscall::btf_data(loaded.btf_fd().unwrap()).unwrap();
        let uploaded = Btf::parse(uploaded).unwrap();
        let refused = refused_kinds(&uploaded, missing);
        assert!(
            refused.is_empty(),
            "{what}: {}: sanitized BTF still holds {refused:?}",
            path.display()
        );
        let pkt = packet();
        let mut t = TestRun {
            data_in: &pkt,
            ..Default::default()
        };
        let fd = loaded.program(prog).unwrap().fd();
        assert_eq!(prog_test_run(fd, &mut t).unwrap().retval, ret, "{what}");
    }
}

#[test]
fn sanitized_btf_still_loads_and_programs_run() {
    require_bpf!();
    // Each kind alone, then all at once.
    let mut cases: Vec<Vec<Feature>> = BTF_KINDS.iter().map(|f| vec![*f]).collect();
    cases.push(BTF_KINDS.to_vec());
    for missing in cases {
        testing::clear_forced();
        testing::force_missing(&missing);
        let what = format!("missing {missing:?}");
        let m = oxbpf::features::missing_btf_features().unwrap();
        assert!(m.any(), "{what}: the switch took effect");
        // Globals (DATASEC, VAR), global and static functions (FUNC), enum64 (core), ...
        load_and_run("object", "globals", "read_globals", 3, &what, &missing);
        load_and_run("loader", "tailcall", "tail_a", 103, &what, &missing);
        load_and_run("core", "kernel", "skb_fields", 0, &what, &missing);
    }
    testing::clear_forced();
}
