//! The commands that talk to the kernel — `load`, `run`, `demo`, `feature`, `prog`/`map`/
//! `link` — as root, on our fixtures and on the third-party objects Debian ships.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{demo, fixture, oxbpf, serial, spawn, wait, Bpffs};
use serde_json::Value;

#[test]
fn load_reports_each_program_and_map() {
    require_root!();
    let out = oxbpf(&["load", &demo()]);
    let s = &out.expect(0).stdout;
    for want in [
        "on_exec",
        "on_openat",
        "on_exit",
        "VERIFIED",
        "per_process",
        "ringbuf",
    ] {
        assert!(s.contains(want), "no `{want}` in\n{s}");
    }
    let j = oxbpf(&["load", "--json", &demo()]).expect(0).json();
    assert_eq!(j["loaded"], true);
    let progs = j["programs"].as_array().unwrap();
    assert_eq!(progs.len(), 3);
    for p in progs {
        assert_eq!(p["loaded"], true);
        assert!(p["verified_insns"].as_u64().unwrap() > 0, "{p}");
        assert!(p["load_time_us"].is_u64());
        assert_eq!(p["type"], "tracepoint");
    }
    let maps: Vec<&str> = j["maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        maps.contains(&"events") && maps.contains(&"per_process"),
        "{maps:?}"
    );
}

#[test]
fn a_refused_program_is_explained() {
    require_root!();
    let obj = fixture("core/poisoned.clang19.o");
    let out = oxbpf(&["load", &obj]);
    out.expect(3);
    let e = &out.stderr;
    assert!(e.starts_with("oxbpf: error: program `unguarded`"), "{e}");
    assert!(e.contains("no_such_field_xyz"), "{e}");
    assert!(e.contains("poisoned.bpf.c:15"), "the C source line: {e}");
    let j = oxbpf(&["load", "--json", &obj]);
    let j = j.expect(3).json();
    assert_eq!(j["loaded"], false);
    assert_eq!(j["programs"][0]["loaded"], false);
    assert!(j["programs"][0]["core_failures"][0]
        .as_str()
        .unwrap()
        .contains("no_such_field_xyz"));
}

#[test]
fn keep_going_loads_what_loads() {
    require_root!();
    let fs = Bpffs::mount();
    let obj = fixture("cli/mixed.clang19.o");
    let pin = fs.path("pins");
    let out = oxbpf(&["load", &obj, "--keep-going", "--pin", &pin]);
    out.expect(3);
    assert!(
        out.stdout.contains("FAILED program `bad`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("invalid bpf_context access"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 of 2 programs failed"));
    let j = oxbpf(&["load", &obj, "--keep-going", "--json", "--pin", &pin]);
    let j = j.expect(3).json();
    let by_name = |n: &str| {
        j["programs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("good")["loaded"], true);
    assert_eq!(by_name("bad")["loaded"], false);
    assert!(by_name("bad")["error"].as_str().unwrap().contains("EACCES"));
    // Without the bad one, everything loads.
    oxbpf(&["load", &obj, "--disable", "bad", "--pin", &pin]).expect(0);
}

fn find(list: &Value, key: &str, value: &str) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|e| e[key] == value)
        .cloned()
        .collect()
}

#[test]
fn pinned_programs_and_maps_dump_through_btf() {
    require_root!();
    let _s = serial();
    let fs = Bpffs::mount();
    let dir = fs.path("mixed");
    oxbpf(&[
        "load",
        &fixture("cli/mixed.clang19.o"),
        "--disable",
        "bad",
        "--pin",
        &dir,
        "--set",
        "threshold=99",
        "--set",
        "verbose=true",
        "--set",
        "tag=abc",
        "--set",
        "start_mode=MODE_FAST",
    ])
    .expect(0);
    // The program stays loaded, pinned, with its maps.
    let progs = oxbpf(&["prog", "list", "--json"]).expect(0).json();
    let good = find(&progs, "name", "good");
    let good = good.last().expect("the pinned program is listed");
    let id = good["id"].as_u64().unwrap().to_string();
    let dump = oxbpf(&["prog", "dump", &id]);
    let s = &dump.expect(0).stdout;
    assert!(s.contains("good:"), "{s}");
    assert!(s.contains("map[id:"), "{s}");
    assert!(s.contains("(stats)"), "{s}");
    assert!(
        s.contains("; __u32 key = skb->len > threshold + cfg.limit"),
        "{s}"
    );
    let j = oxbpf(&["prog", "dump", &id, "--json"]).expect(0).json();
    assert!(j["insns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["map"] == "stats"));

    // Maps by id, through BTF: the constants as set, the data as initialized.
    let maps = oxbpf(&["map", "list", "--json"]).expect(0).json();
    let ids: Vec<String> = good["map_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    let mut seen = HashSet::new();
    for id in &ids {
        let m = oxbpf(&["map", "dump", id]);
        let s = m.expect(0).stdout.clone();
        if s.contains("rodata") {
            assert!(
                s.contains("threshold: 99, verbose: true, tag: \"abc\", start_mode: MODE_FAST"),
                "{s}"
            );
            seen.insert("rodata");
        }
        if s.contains("mixed.data") {
            assert!(
                s.contains("{cfg: {mode: MODE_FAST, limit: 42, greeting: \"hello\"}}"),
                "{s}"
            );
            let j = oxbpf(&["map", "dump", id, "--json"]).expect(0).json();
            assert_eq!(j["entries"][0]["value"]["cfg"]["greeting"], "hello");
            assert_eq!(j["entries"][0]["key"], 0);
            seen.insert("data");
        }
    }
    assert_eq!(seen.len(), 2, "{ids:?} in {maps}");
    // A pinned map by its path: typed, empty.
    let m = oxbpf(&["map", "dump", &format!("{dir}/stats")]);
    let s = &m.expect(0).stdout;
    assert!(
        s.contains("key __u32, value struct stats; entries: 0"),
        "{s}"
    );
    // A ring buffer has nothing to dump.
    oxbpf(&["map", "dump", "/nonexistent/pin"]).expect(1);
}

#[test]
fn listings_parse_as_json() {
    require_root!();
    for what in ["prog", "map", "link"] {
        let j = oxbpf(&[what, "list", "--json"]).expect(0).json();
        for e in j.as_array().unwrap() {
            assert!(e["id"].as_u64().is_some(), "{what}: {e}");
            assert!(e["type"].is_string(), "{what}: {e}");
        }
        let text = oxbpf(&[what, "list"]);
        assert!(text.expect(0).stdout.starts_with("ID "));
    }
}

#[test]
fn features_of_this_kernel() {
    require_root!();
    let j = oxbpf(&["feature", "--json"]).expect(0).json();
    assert_eq!(j["program_types"]["xdp"], true);
    assert_eq!(j["map_types"]["ringbuf"], true);
    assert_eq!(j["features"]["btf"], true);
    assert!(j["helpers"]["kprobe"].as_array().unwrap().len() > 50);
    let text = oxbpf(&["feature", "--no-helpers"]);
    assert!(text.expect(0).stdout.contains("Program types:"));
}

/// Links whose program is named like one of `names`, from `link list` and `prog list`.
fn links_of(names: &[&str]) -> HashSet<u64> {
    let progs = oxbpf(&["prog", "list", "--json"]).expect(0).json();
    let ids: HashSet<u64> = progs
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| names.iter().any(|n| p["name"] == *n))
        .filter_map(|p| p["id"].as_u64())
        .collect();
    let links = oxbpf(&["link", "list", "--json"]).expect(0).json();
    links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|p| ids.contains(&p)))
        .filter_map(|l| l["id"].as_u64())
        .collect()
}

/// Runs `/bin/true` and opens a file every 50 ms for `for_ms`.
fn busy(for_ms: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(for_ms) {
            let _ = Command::new("/bin/true").status();
            let _ = std::fs::read("/etc/hostname");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[test]
fn demo_shows_live_events_and_leaves_no_links() {
    require_root!();
    let _s = serial();
    let names = ["on_exec", "on_openat", "on_exit"];
    let before = links_of(&names);
    let child = spawn(&["demo", "--for", "3"]);
    let t = busy(4000);
    // While it runs: its three links exist.
    std::thread::sleep(Duration::from_millis(1500));
    let during: HashSet<u64> = links_of(&names).difference(&before).copied().collect();
    let out = wait(child, Duration::from_secs(30));
    let _ = t.join();
    out.expect(0);
    let s = &out.stdout;
    assert!(s.contains("EXEC") && s.contains("/bin/true"), "{s}");
    assert!(s.contains("EXIT") && s.contains("exit code 0"), "{s}");
    assert!(s.contains("OPEN"), "{s}");
    assert!(s.contains("busiest processes"), "{s}");
    assert!(s.contains("detached 3 links"), "{s}");
    assert_eq!(during.len(), 3, "the demo's links while it ran");
    let after = links_of(&names);
    assert!(
        during.is_disjoint(&after),
        "links left behind: {:?}",
        during.intersection(&after)
    );
}

#[test]
fn run_streams_records_and_shows_maps() {
    require_root!();
    let _s = serial();
    let t = busy(2500);
    let out = oxbpf(&["run", &demo(), "--for", "2", "--interval", "1"]);
    let _ = t.join();
    let s = &out.expect(0).stdout;
    assert!(s.contains("on_exec: attached"), "{s}");
    assert!(s.contains("streaming events"), "{s}");
    // Records decoded through the object's `struct event`, maps through BTF.
    assert!(s.contains("events: {kind: 1,"), "{s}");
    assert!(s.contains("comm: \"true\", path: \"/bin/true\""), "{s}");
    assert!(s.contains("per_process (hash"), "{s}");
    assert!(s.contains("execs: "), "{s}");
    assert!(s.contains(".bss: {dropped: 0"), "{s}");
    assert!(s.contains("detached 3 links"), "{s}");
}

/// Third-party objects: where the files are.
fn third_party() -> Vec<String> {
    let mut v = Vec::new();
    for dir in [
        "/usr/lib/x86_64-linux-gnu/bpf",
        "/usr/share/gocode/src/github.com/cilium/ebpf/testdata",
    ] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".o") || name.ends_with("-el.elf") {
                v.push(e.path().display().to_string());
            }
        }
    }
    v.sort();
    v
}

/// Objects that may not load as they are (libbpf refuses them too; see tests/loader.rs).
const NOT_LOADABLE: &[&str] = &[
    "invalid_",
    "freplace",
    "fwd_decl",
    "loader-",
    "strings-el",
    "btf_map_init-el",
    "xdpdump_bpf",
];

#[test]
fn third_party_objects_load_and_run() {
    require_root!();
    let _s = serial();
    let objects = third_party();
    if objects.is_empty() {
        eprintln!("SKIPPED: no libxdp1 / golang-github-cilium-ebpf-dev objects installed");
        return;
    }
    let fs = Bpffs::mount();
    let pins = fs.path("pins");
    let mut loaded = 0;
    for obj in &objects {
        let may_fail = NOT_LOADABLE.iter().any(|n| obj.contains(n));
        let out = oxbpf(&["load", "--json", "--pin", &pins, obj]);
        for e in std::fs::read_dir(&pins).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        if out.code != 0 {
            assert!(may_fail, "{obj} did not load:\n{}", out.stderr);
            assert!(matches!(out.code, 1 | 3 | 4), "{obj}: {}", out.code);
            assert!(
                out.stderr.starts_with("oxbpf: error: "),
                "{obj}: {}",
                out.stderr
            );
            assert!(!out.stderr.contains("panicked"), "{obj}: {}", out.stderr);
            continue;
        }
        let j = out.expect(0).json();
        assert_eq!(j["loaded"], true, "{obj}");
        let run = oxbpf(&[
            "run",
            obj,
            "--pin",
            &pins,
            "--for",
            "0.3",
            "--interval",
            "0.2",
        ]);
        for e in std::fs::read_dir(&pins).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        let s = &run.expect(0).stdout;
        assert!(s.contains(": loaded "), "{obj}: {s}");
        assert!(s.contains("--- maps at the end"), "{obj}: {s}");
        loaded += 1;
    }
    assert!(
        loaded >= 15,
        "only {loaded} third-party objects loaded and ran"
    );
    println!(
        "{loaded} of {} third-party objects loaded and ran",
        objects.len()
    );
}

#[test]
fn demo_stops_cleanly_on_ctrl_c() {
    require_root!();
    let _s = serial();
    let child = spawn(&["demo"]);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let out = wait(child, Duration::from_secs(20));
    out.expect(0);
    assert!(out.stdout.contains("detached 3 links"), "{}", out.stdout);
}
