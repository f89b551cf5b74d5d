//! The large CO-RE tracing tool of the whole-tool load benchmark
//! (`tests/fixtures/perf/tracer.bpf.c`): every one of its programs loads, its hundreds of
//! CO-RE relocations resolve against the running kernel, and an exec event read through
//! CO-RE chains arrives in its ring buffer with the right facts. libbpf loads it too
//! (`bpftool prog loadall`, when bpftool is installed).

mod common;

use std::time::{Duration, Instant};

use common::{fixture_pair, serial, Bpffs};
use oxbpf::btf::{Btf, BtfKind};
use oxbpf::loader::Loader;
use oxbpf::object::Object;

const PROGRAMS: usize = 17;

/// Byte offset of member `field` (dotted through nested members) of struct `name`.
fn offset_of(btf: &Btf, name: &str, path: &str) -> usize {
    let mut id = btf.id_by_name_kind(name, BtfKind::Struct).expect(name);
    let mut bits = 0;
    for field in path.split('.') {
        let m = btf.find_member(id, field).unwrap().expect(field);
        bits += m.bit_offset;
        id = m.type_id;
    }
    (bits / 8) as usize
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

#[test]
fn every_program_loads_and_core_resolves() {
    require_bpf!();
    let _guard = serial();
    for path in fixture_pair("perf", "tracer") {
        let obj = Object::open(&path).unwrap();
        let relos: usize = obj
            .btf_ext()
            .map_or(0, |e| e.core_relos.iter().map(|s| s.records.len()).sum());
        assert!(
            relos >= 300,
            "{}: only {relos} CO-RE records",
            path.display()
        );
        let loaded = Loader::new().load(obj).unwrap_or_else(|e| {
            panic!("{}: {e}", path.display());
        });
        assert_eq!(loaded.programs().len(), PROGRAMS, "{}", path.display());
        assert!(loaded.failures().is_empty());
        let decisions = loaded.core_decisions();
        assert!(decisions.len() >= 300, "{} decisions", decisions.len());
        let poisoned: Vec<_> = decisions
            .iter()
            .filter(|d| d.target.is_none())
            .map(|d| format!("{} {}", d.section, d.local.path))
            .collect();
        assert!(poisoned.is_empty(), "unresolved: {poisoned:?}");
    }
}

#[test]
fn exec_event_arrives_with_core_read_facts() {
    require_bpf!();
    if !common::ensure_tracefs() {
        eprintln!("SKIPPED exec_event_arrives_with_core_read_facts: no tracefs");
        return;
    }
    let _guard = serial();
    let path = &fixture_pair("perf", "tracer")[1];
    let obj = Object::open(path).unwrap();
    let btf = obj.btf().unwrap();
    let task = offset_of(btf, "tr_event", "task");
    let (pid, ppid, comm) = (
        task + offset_of(btf, "tr_task_info", "pid"),
        task + offset_of(btf, "tr_task_info", "ppid"),
        task + offset_of(btf, "tr_task_info", "comm"),
    );
    let mut loaded = Loader::new().load(obj).unwrap();
    let _tp = loaded.attach("handle_exec").unwrap();
    let _btf = loaded.attach("handle_exec_btf").unwrap();
    let mut events = loaded.take_map("events").unwrap().into_ring_buf().unwrap();

    let child = std::process::Command::new("/bin/true").spawn().unwrap();
    let child_pid = child.id();
    let me = std::process::id();
    let mut child = child;
    child.wait().unwrap();

    // One event from the tracepoint (ret 0) and one from tp_btf (ret: the old pid).
    let (mut from_tp, mut from_btf) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(from_tp && from_btf) && Instant::now() < deadline {
        let Some(e) = events.next_timeout(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        if u32_at(e, 0) != 1 || u32_at(e, pid) != child_pid {
            continue;
        }
        assert_eq!(u32_at(e, ppid), me, "real_parent->tgid through CO-RE");
        assert_eq!(c_str(&e[comm..comm + 16]), b"true", "task->comm");
        if u32_at(e, 4) == 0 {
            from_tp = true;
        } else {
            assert_eq!(u32_at(e, 4), child_pid, "tp_btf's old_pid");
            from_btf = true;
        }
    }
    assert!(
        from_tp && from_btf,
        "exec events: tracepoint {from_tp}, tp_btf {from_btf}"
    );
    let exec_count: u64 = loaded.bss().unwrap().read("exec_count").unwrap();
    assert!(exec_count >= 1);
}

#[test]
fn libbpf_loads_it_too() {
    require_bpf!();
    if std::process::Command::new("bpftool")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED libbpf_loads_it_too: no bpftool");
        return;
    }
    let _guard = serial();
    let fs = Bpffs::mount();
    for (i, path) in fixture_pair("perf", "tracer").iter().enumerate() {
        let dir = fs.path(&format!("t{i}"));
        let out = std::process::Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(path)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bpftool prog loadall {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let pinned = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(pinned, PROGRAMS, "{}", path.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
