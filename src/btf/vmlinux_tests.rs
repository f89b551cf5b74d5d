//! Tests against this machine's `/sys/kernel/btf/vmlinux` (and module BTF), cross-checked
//! with bpftool where it is installed. Each skips with a message where the file is missing.

use std::sync::Arc;

use super::tests::to_big_endian;
use super::*;

fn vmlinux() -> Option<Arc<Btf>> {
    match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(bytes) => Some(Arc::new(Btf::parse(bytes).expect("vmlinux BTF parses"))),
        Err(e) => {
            eprintln!("skipping: cannot read /sys/kernel/btf/vmlinux: {e}");
            None
        }
    }
}

fn bpftool_raw(path: &str) -> Option<String> {
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", path])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => {
            eprintln!("bpftool failed: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("skipping the bpftool cross-check: {e}");
            None
        }
    }
}

#[test]
fn vmlinux_task_struct_pid_offset() {
    let Some(btf) = vmlinux() else { return };
    let ids = btf.ids_by_essential_name("task_struct___mine", BtfKind::Struct);
    assert_eq!(ids.len(), 1, "one struct task_struct");
    let id = btf.id_by_name_kind("task_struct", BtfKind::Struct).unwrap();
    assert_eq!(ids[0], id);
    let pid = btf
        .find_member(id, "pid")
        .unwrap()
        .expect("task_struct has pid");
    assert_eq!(pid.bit_offset % 8, 0);
    assert_eq!(btf.type_name(pid.type_id).unwrap(), "pid_t");
    assert_eq!(btf.type_size(pid.type_id).unwrap(), 4);
    let size = btf.type_size(id).unwrap();
    assert!(size > 1000);
    if let Some(raw) = bpftool_raw("/sys/kernel/btf/vmlinux") {
        let header = format!("[{id}] STRUCT 'task_struct' size={size} ");
        let start = raw.find(&header).expect("bpftool lists task_struct");
        let body = &raw[start..];
        let line = body
            .lines()
            .find(|l| l.starts_with("\t'pid' "))
            .expect("pid member line");
        assert_eq!(
            line,
            format!(
                "\t'pid' type_id={} bits_offset={}",
                pid.type_id, pid.bit_offset
            )
        );
    }
    eprintln!("task_struct.pid at byte {}", pid.bit_offset / 8);
}

#[test]
fn vmlinux_raw_dump_matches_bpftool() {
    let Some(btf) = vmlinux() else { return };
    let Some(expected) = bpftool_raw("/sys/kernel/btf/vmlinux") else {
        return;
    };
    let mut ours = String::new();
    dump_raw(&btf, &mut ours).unwrap();
    for (i, (a, b)) in ours.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, b, "line {}", i + 1);
    }
    assert_eq!(ours.lines().count(), expected.lines().count());
}

#[test]
fn vmlinux_module_btf_is_split() {
    let Some(base) = vmlinux() else { return };
    let Ok(dir) = std::fs::read_dir("/sys/kernel/btf") else {
        return;
    };
    let mut seen = 0;
    for e in dir.flatten() {
        if e.file_name() == "vmlinux" {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        let m = Btf::parse_split(bytes, base.clone()).unwrap();
        assert_eq!(m.first_id(), base.last_id() + 1);
        for t in m.local_types() {
            t.name().unwrap();
        }
        seen += 1;
    }
    if seen == 0 {
        eprintln!("no module BTF under /sys/kernel/btf: split BTF checked on hand-built data only");
    }
}

#[test]
fn vmlinux_big_endian_copy_reads_the_same() {
    let Some(btf) = vmlinux() else { return };
    let be = Btf::parse(to_big_endian(btf.raw_bytes())).unwrap();
    assert_eq!(be.last_id(), btf.last_id());
    let id = be.id_by_name_kind("task_struct", BtfKind::Struct).unwrap();
    assert_eq!(
        be.find_member(id, "pid").unwrap(),
        btf.find_member(id, "pid").unwrap()
    );
}

#[test]
fn vmlinux_every_named_type_is_found_by_name() {
    let Some(btf) = vmlinux() else { return };
    let mut checked = 0;
    for t in btf.types() {
        let name = t.name().unwrap();
        if name.is_empty() {
            continue;
        }
        let ids = btf.ids_by_essential_name(name, t.kind());
        assert!(ids.contains(&t.id()), "[{}] {} '{name}'", t.id(), t.kind());
        checked += 1;
    }
    assert!(checked > 10_000);
}
