//! Feature probes against the running kernel: every probe answers what this kernel's
//! release and configuration say it has, answers are cached, no fd leaks, and the
//! forced-missing switches work (in-process and through the environment).
//!
//! Expectations come from the release that introduced each feature
//! ([`Feature::since`]) and, for what can be compiled out, the kernel configuration
//! (`/proc/config.gz` or `/boot/config-$(uname -r)`), so the same test holds on 6.18 and on
//! the 6.1 guest. This host's kernel refuses EXT, LSM and fentry programs with EPERM by
//! policy even for root: those answers must be permission errors that say so.

mod common;

use std::collections::HashSet;

use nix::errno::Errno;
use oxbpf::features::{self, testing, Feature, HelperSupport, ProbeError};
use oxbpf::insn::helper_id;
use oxbpf::syscall::testing::capture;
use oxbpf::syscall::{KernelVersion, LinkType, MapType, ProgType};

fn running() -> (u16, u16) {
    let v = KernelVersion::running().expect("uname release");
    (v.major, v.minor)
}

/// The `CONFIG_*=y|m` options of the running kernel, `None` if its config is unreadable.
fn kernel_config() -> Option<HashSet<String>> {
    let release = nix::sys::utsname::uname().ok()?;
    let release = release.release().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(format!("/boot/config-{release}"))
        .ok()
        .or_else(|| {
            let out = std::process::Command::new("zcat")
                .arg("/proc/config.gz")
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })?;
    Some(
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                matches!(v, "y" | "m").then(|| k.to_string())
            })
            .collect(),
    )
}

fn configured(config: &Option<HashSet<String>>, option: Option<&str>) -> Option<bool> {
    match (option, config) {
        (None, _) => Some(true),
        (Some(o), Some(c)) => Some(c.contains(o)),
        (Some(_), None) => None,
    }
}

#[test]
fn every_feature_matches_release_and_config() {
    require_bpf!();
    let _g = common::serial();
    let config = kernel_config();
    let now = running();
    let mut checked = 0;
    for f in Feature::ALL {
        let answer = features::has(*f);
        let Some(built) = configured(&config, f.config()) else {
            eprintln!(
                "{f}: {answer:?} (no kernel config to check {:?})",
                f.config()
            );
            continue;
        };
        let expected = now >= f.since() && built;
        assert_eq!(
            answer,
            Ok(expected),
            "{f}: since {:?}, config {:?} built={built}, running {now:?}",
            f.since(),
            f.config()
        );
        checked += 1;
    }
    assert!(checked >= Feature::COUNT - 4, "only {checked} checked");
    if cfg!(target_arch = "x86_64") {
        // Answered from /proc/kallsyms: this kernel may have no kprobes to ask with.
        assert_eq!(features::has(Feature::SyscallWrapper), Ok(true));
    }
    // What this kernel lacks, and why (6.18 here: no CONFIG_FPROBE, no CONFIG_NETKIT).
    if let Some(c) = &config {
        assert_eq!(
            features::has(Feature::KprobeMultiLink),
            Ok(c.contains("CONFIG_FPROBE") && now >= (5, 18)),
            "kprobe_multi links need fprobe"
        );
    }
}

#[test]
fn btf_answers_map_to_sanitize_input() {
    require_bpf!();
    let _g = common::serial();
    let missing = features::missing_btf_features().unwrap();
    let now = running();
    assert_eq!(missing.enum64, now < (6, 0));
    assert_eq!(missing.decl_tag, now < (5, 16));
    assert_eq!(missing.qmark_datasec, now < (6, 9));
    assert!(!missing.func && !missing.datasec && !missing.float);
}

/// Program types newer than 6.1 and those a config option can leave out.
fn prog_expectation(
    t: ProgType,
    now: (u16, u16),
    config: &Option<HashSet<String>>,
) -> Option<bool> {
    match t {
        ProgType::NETFILTER => Some(now >= (6, 4)),
        ProgType::LIRC_MODE2 => configured(config, Some("CONFIG_BPF_LIRC_MODE2")),
        ProgType::LSM => configured(config, Some("CONFIG_BPF_LSM")),
        _ => Some(true),
    }
}

#[test]
fn program_types() {
    require_bpf!();
    let _g = common::serial();
    let config = kernel_config();
    let now = running();
    for t in ProgType::ALL
        .iter()
        .copied()
        .filter(|t| *t != ProgType::UNSPEC)
    {
        let answer = features::prog_type(t);
        match (&answer, prog_expectation(t, now, &config)) {
            // This host's policy: EXT and LSM loads are refused for everyone.
            (Err(ProbeError::Permission { privileged, .. }), _)
                if matches!(t, ProgType::EXT | ProgType::LSM) =>
            {
                assert!(privileged, "{t}: EPERM as root should say so");
                let text = answer.as_ref().unwrap_err().to_string();
                assert!(text.contains("security policy"), "{text}");
            }
            (_, None) => {}
            (a, Some(e)) => assert_eq!(a, &Ok(e), "{t}"),
        }
    }
    assert_eq!(features::prog_type(ProgType::UNSPEC), Ok(false));
    assert_eq!(features::prog_type(ProgType(200)), Ok(false));
}

#[test]
fn map_types() {
    require_bpf!();
    let _g = common::serial();
    let now = running();
    for t in MapType::ALL
        .iter()
        .copied()
        .filter(|t| *t != MapType::UNSPEC)
    {
        let expected = match t {
            MapType::USER_RINGBUF => now >= (6, 1),
            MapType::CGRP_STORAGE => now >= (6, 2),
            MapType::ARENA => now >= (6, 9),
            // Instruction arrays (indirect jumps) are newer than this kernel.
            MapType::INSN_ARRAY if now <= (6, 18) => false,
            MapType::INSN_ARRAY => continue,
            _ => true,
        };
        assert_eq!(features::map_type(t), Ok(expected), "{t}");
    }
    assert_eq!(features::map_type(MapType(999)), Ok(false));
}

#[test]
fn link_types() {
    require_bpf!();
    let _g = common::serial();
    let config = kernel_config();
    let now = running();
    for t in LinkType::ALL
        .iter()
        .copied()
        .filter(|t| *t != LinkType::UNSPEC)
    {
        let expected = match t {
            LinkType::KPROBE_MULTI => {
                configured(&config, Some("CONFIG_FPROBE")).map(|c| c && now >= (5, 18))
            }
            LinkType::NETKIT => {
                configured(&config, Some("CONFIG_NETKIT")).map(|c| c && now >= (6, 7))
            }
            LinkType::NETFILTER | LinkType::STRUCT_OPS => Some(now >= (6, 4)),
            LinkType::TCX | LinkType::UPROBE_MULTI => Some(now >= (6, 6)),
            LinkType::SOCKMAP => Some(now >= (6, 10)),
            _ => Some(true),
        };
        if let Some(e) = expected {
            assert_eq!(features::link_type(t), Ok(e), "{t}");
        }
    }
}

#[test]
fn helpers_per_program_type() {
    require_bpf!();
    let _g = common::serial();
    let id = |n| helper_id(n).unwrap();
    let sf = ProgType::SOCKET_FILTER;
    assert_eq!(
        features::helper(sf, id("map_lookup_elem")),
        Ok(HelperSupport::Available)
    );
    // Socket filters cannot write packets...
    assert_eq!(
        features::helper(sf, id("skb_store_bytes")),
        Ok(HelperSupport::NotForProgType)
    );
    // ...but with CAP_PERFMON every program type may read kernel memory (the base helper
    // set grants it to privileged loaders).
    assert_eq!(
        features::helper(sf, id("probe_read_kernel")),
        Ok(HelperSupport::Available)
    );
    assert_eq!(
        features::helper(ProgType::XDP, id("xdp_adjust_head")),
        Ok(HelperSupport::Available)
    );
    assert_eq!(
        features::helper(ProgType::SCHED_CLS, id("xdp_adjust_head")),
        Ok(HelperSupport::NotForProgType)
    );
    assert_eq!(features::helper(sf, 5000), Ok(HelperSupport::UnknownHelper));
    // tp_btf programs are probed through a raw tracepoint target from vmlinux BTF.
    assert_eq!(
        features::helper(ProgType::TRACING, id("get_current_task_btf")),
        Ok(HelperSupport::Available)
    );
    let list = features::helpers(ProgType::TRACEPOINT).unwrap();
    assert!(list.contains(&id("perf_event_output")));
    assert!(!list.contains(&id("xdp_adjust_head")));
    assert!(matches!(
        features::helper(ProgType::EXT, 1),
        Err(ProbeError::Inconclusive { .. })
    ));
}

#[test]
fn system_settings_are_read() {
    let s = features::system();
    assert!(s.jit_enable.is_some(), "{s:?}");
    assert!(s.to_string().contains("JIT:"));
}

#[test]
fn answers_are_cached_and_probes_leak_no_fds() {
    require_bpf!();
    let _g = common::serial();
    let before = common::fd_count();
    let first = features::all_with_helpers();
    assert_eq!(common::fd_count(), before, "probes leaked fds");
    // A second report makes no bpf(2) call for anything answered: a fake kernel that fails
    // everything changes no answer (errors, never cached, are probed again).
    let (second, calls) = capture(|_, _| Err(Errno::EIO), features::all);
    for ((f, a), (_, b)) in first.features.iter().zip(&second.features) {
        if a.is_ok() {
            assert_eq!(a, b, "{f}");
        }
    }
    for ((t, a), (_, b)) in first.prog_types.iter().zip(&second.prog_types) {
        if a.is_ok() {
            assert_eq!(a, b, "{t}");
        }
    }
    let uncached = first.prog_types.iter().filter(|(_, a)| a.is_err()).count()
        + first.features.iter().filter(|(_, a)| a.is_err()).count();
    assert!(
        calls.len() <= uncached * 2,
        "{} calls for {uncached} uncached answers",
        calls.len()
    );
    // Helpers too.
    let (again, calls) = capture(|_, _| Err(Errno::EIO), || features::helpers(ProgType::XDP));
    assert!(calls.is_empty());
    let listed = first
        .helpers
        .iter()
        .find(|(t, _)| *t == ProgType::XDP)
        .map(|(_, h)| h.clone());
    assert_eq!(Some(again), listed);
    assert_eq!(common::fd_count(), before);
    let json = first.to_json();
    assert!(json.contains("\"btf_func\":true"), "{json}");
    assert!(json.contains("\"xdp\":[\"bpf_map_lookup_elem\""));
    println!("{first}");
}

#[test]
fn force_missing_switch() {
    require_bpf!();
    let _g = common::serial();
    assert_eq!(features::has(Feature::BtfFunc), Ok(true));
    testing::force_missing(&[Feature::BtfFunc, Feature::BtfDatasec, Feature::BtfDeclTag]);
    assert_eq!(features::has(Feature::BtfFunc), Ok(false));
    let missing = features::missing_btf_features().unwrap();
    testing::clear_forced();
    assert!(missing.func && missing.global_func && missing.datasec && missing.decl_tag);
    assert!(!missing.float && !missing.type_tag);
    // The probe's own answer was kept.
    assert_eq!(features::has(Feature::BtfFunc), Ok(true));
    assert!(testing::forced_missing().is_empty());
}

/// Runs this test binary again with only test `name`, `OXBPF_FEATURES_TEST_CHILD` set and
/// `env`: a fresh process, with empty caches and the environment read anew.
fn run_child(name: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("OXBPF_FEATURES_TEST_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn is_child() -> bool {
    std::env::var_os("OXBPF_FEATURES_TEST_CHILD").is_some()
}

#[test]
fn env_switch_child() {
    if !is_child() {
        return;
    }
    assert_eq!(features::has(Feature::BtfFloat), Ok(false));
    assert_eq!(features::has(Feature::RingBuf), Ok(false));
    assert_eq!(testing::unknown_env_names(), ["not_a_feature".to_string()]);
    let f = features::all();
    assert_eq!(f.forced_missing, vec![Feature::BtfFloat, Feature::RingBuf]);
    assert!(features::missing_btf_features().unwrap().float);
    // Read once: changing the variable now has no effect.
    std::env::set_var(testing::ENV_VAR, "");
    assert_eq!(features::has(Feature::BtfFloat), Ok(false));
    // The in-process switch adds to it.
    testing::force_missing(&[Feature::BtfEnum64]);
    assert!(features::missing_btf_features().unwrap().enum64);
}

#[test]
fn env_switch_is_read_once() {
    require_bpf!();
    // The child's pipes would skew the fd count of the serial tests.
    let _g = common::serial();
    run_child(
        "env_switch_child",
        &[(testing::ENV_VAR, "btf_float, ringbuf,not_a_feature")],
    );
}

#[test]
fn permission_child() {
    if !is_child() {
        return;
    }
    // Nothing was probed yet in this process. An EPERM (from a fake kernel on this thread)
    // is a typed error, for a feature, a program type and a map type...
    let eperm = |_: oxbpf::syscall::Command, _: &mut [u8]| Err(Errno::EPERM);
    let (f, _) = capture(eperm, || features::has(Feature::BtfTypeTag));
    let (p, _) = capture(eperm, || features::prog_type(ProgType::XDP));
    let (m, _) = capture(eperm, || features::map_type(MapType::LRU_HASH));
    for r in [f, p, m] {
        let e = r.unwrap_err();
        assert!(e.is_permission(), "{e}");
    }
    // ...that is not cached: the real kernel answers next.
    assert_eq!(features::has(Feature::BtfTypeTag), Ok(true));
    assert_eq!(features::prog_type(ProgType::XDP), Ok(true));
    assert_eq!(features::map_type(MapType::LRU_HASH), Ok(true));
}

#[test]
fn permission_errors_are_not_cached() {
    require_bpf!();
    // The child's pipes would skew the fd count of the serial tests.
    let _g = common::serial();
    run_child("permission_child", &[]);
}
