//! A CO-RE tracing object of ours built against the `vmlinux.h` that `oxbpf btf dump`
//! writes (tests/fixtures/cli/ours_vmlinux.bpf.c): the committed build relocates against
//! this kernel and 6.1, loads and runs; and when clang-19 is installed, today's dump still
//! compiles it into the same programs and maps.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{fixture, oxbpf, serial};

const OBJ: &str = "cli/ours_vmlinux.clang19.o";

#[test]
fn relocates_against_this_kernel_and_6_1() {
    let out = oxbpf(&[
        "core",
        "check",
        "--json",
        &fixture(OBJ),
        "--btf",
        "/sys/kernel/btf/vmlinux",
        "--btf",
        &fixture("btf/linux-6.1.btf"),
    ]);
    let j = out.expect(0).json();
    assert_eq!(j["ok"], true);
    for t in j["targets"].as_array().unwrap() {
        let relos = t["relocations"].as_array().unwrap();
        assert!(relos.len() >= 8, "{t}");
        assert_eq!(t["poisoned"], 0, "{t}");
    }
}

#[test]
fn todays_dump_still_builds_it() {
    let clang = "clang-19";
    if Command::new(clang).arg("--version").output().is_err() {
        eprintln!("SKIPPED: no {clang}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let header = oxbpf(&["btf", "dump"]);
    header.expect(0);
    std::fs::write(dir.path().join("vmlinux.h"), &header.stdout).expect("write vmlinux.h");
    let out = dir.path().join("ours.o");
    let arch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let built = Command::new(clang)
        .args(["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86"])
        .arg(format!("-I{}", dir.path().display()))
        .arg(&arch)
        .arg("-c")
        .arg(fixture("cli/ours_vmlinux.bpf.c"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run clang");
    assert!(
        built.status.success(),
        "our vmlinux.h does not compile:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let fresh = oxbpf(&["inspect", "--json", &out.display().to_string()])
        .expect(0)
        .json();
    let committed = oxbpf(&["inspect", "--json", &fixture(OBJ)])
        .expect(0)
        .json();
    for key in ["programs", "maps", "core_relocations"] {
        assert_eq!(fresh[key], committed[key], "{key} differ");
    }
}

#[test]
fn loads_and_reports_samples() {
    require_root!();
    let _s = serial();
    let me = std::process::id().to_string();
    let child = common::spawn(&[
        "run",
        &fixture(OBJ),
        "--for",
        "2.5",
        "--interval",
        "5",
        "--max-entries",
        "100000",
        "--set",
        &format!("target_tgid={me}"),
    ]);
    // This process calls getppid() while the program is attached.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2000) {
        let _ = nix::unistd::getppid();
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = common::wait(child, Duration::from_secs(30));
    let s = &out.expect(0).stdout;
    assert!(
        s.contains("on_sys_enter: attached (tp_btf/sys_enter)"),
        "{s}"
    );
    // Records decoded through the object's `struct sample_event`.
    let want = format!("samples: {{tgid: {me}, ppid: ");
    assert!(s.contains(&want), "no `{want}` in\n{s}");
    assert!(s.contains("type: PIDTYPE_TGID"), "{s}");
    assert!(
        s.contains(&format!("\n  {me}: ")),
        "calls[{me}] in the map dump:\n{s}"
    );
}
