//! Without privileges, every refusal says which capability is missing.
//!
//! As root, the test runs itself again as uid 65534 with no capabilities (`setpriv`), so it
//! checks the unprivileged errors on every CI run, not only under
//! `scripts/unprivileged.sh`.

mod common;

use std::process::Command;

use nix::errno::Errno;
use oxbpf::features::{Feature, ProbeError};
use oxbpf::insn::asm;
use oxbpf::maps::{MapError, MapSpec};
use oxbpf::syscall::{map_create, prog_load, MapCreate, MapType, ProgLoad, ProgType};

/// The capabilities an EPERM error must name.
const NEEDS: &str = "CAP_BPF";

const TEST: &str = "eperm_errors_name_the_capability";

#[test]
fn eperm_errors_name_the_capability() {
    if common::bpf_privileges().is_ok() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED {TEST}: has BPF capabilities without being root; cannot drop them");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = match Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["--inh-caps=-all", "--bounding-set=-all"])
            .arg(&exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("SKIPPED {TEST}: cannot run setpriv to drop privileges: {e}");
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "as nobody:\n{text}");
        assert!(text.contains("1 passed"), "as nobody:\n{text}");
        assert!(!text.contains("SKIPPED"), "as nobody:\n{text}");
        return;
    }
    let disabled = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if disabled == "0" {
        eprintln!("SKIPPED {TEST}: kernel.unprivileged_bpf_disabled=0 lets this user use bpf(2)");
        return;
    }

    // The syscall layer.
    let e = map_create(&MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        name: "unpriv",
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.errno, Errno::EPERM);
    let msg = e.to_string();
    assert!(
        msg.contains("BPF_MAP_CREATE") && msg.contains(NEEDS),
        "{msg}"
    );

    let insns = [asm::mov64_imm(0, 0), asm::exit()];
    let e = prog_load(&mut ProgLoad {
        prog_type: ProgType::SOCKET_FILTER,
        insns: &insns,
        license: c"GPL",
        name: "unpriv",
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.errno, Errno::EPERM);
    let msg = e.to_string();
    assert!(
        msg.contains("BPF_PROG_LOAD") && msg.contains(NEEDS),
        "{msg}"
    );

    // Maps: the error names the map and the capability.
    let e = MapSpec::new(MapType::HASH)
        .name("unpriv_hash")
        .key::<u32>()
        .value::<u64>()
        .max_entries(4)
        .create()
        .unwrap_err();
    assert!(matches!(e, MapError::Syscall { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("unpriv_hash") && msg.contains(NEEDS), "{msg}");

    // Feature probes: a typed permission error, not a "not supported".
    let e = oxbpf::features::probe_uncached(Feature::ArrayMmap).unwrap_err();
    assert!(
        matches!(
            e,
            ProbeError::Permission {
                privileged: false,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("array_mmap") && msg.contains(NEEDS), "{msg}");
}
