//! Unit tests of the object parser.

use super::*;

#[test]
fn sweep_print() {
    let dirs = [
        "/usr/lib/x86_64-linux-gnu/bpf",
        "/usr/libexec/xdp-tools",
        "/usr/share/gocode/src/github.com/cilium/ebpf/testdata",
        "/usr/share/gocode/src/github.com/cilium/ebpf/btf/testdata",
    ];
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let n = p.to_string_lossy();
            if !(n.ends_with(".o") || n.ends_with(".elf")) {
                continue;
            }
            match Object::open(&p) {
                Ok(o) => println!(
                    "OK {n}: progs {:?} maps {:?} data {:?} externs {:?}",
                    o.programs()
                        .iter()
                        .map(|p| (p.name(), p.section_name(), p.prog_type()))
                        .collect::<Vec<_>>(),
                    o.maps()
                        .iter()
                        .map(|m| (&m.name, m.map_type))
                        .collect::<Vec<_>>(),
                    o.data_sections()
                        .iter()
                        .map(|d| (d.name(), d.map_name(), d.variables().len()))
                        .collect::<Vec<_>>(),
                    o.externs()
                        .iter()
                        .map(|e| (&e.name, &e.kind))
                        .collect::<Vec<_>>(),
                ),
                Err(e) => println!("ERR {n}: {e}"),
            }
        }
    }
}
