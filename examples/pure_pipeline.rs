//! The pure stages over every committed fixture, for memory checkers (`scripts/valgrind.sh`):
//! parse each object, relocate it against Linux 6.1's BTF (the CO-RE layout fixtures against
//! their `-DTARGET` build), disassemble the result, dump each object's BTF as C and raw.
//!
//! `cargo run --example pure_pipeline [--vmlinux-h] [DIR]`: DIR defaults to
//! `tests/fixtures` (every `*.o` and `*.elf` below it); `--vmlinux-h` also dumps all of
//! Linux 6.1 as C (slow under valgrind).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxbpf::btf::{dump_c, dump_raw, Btf, DumpCOptions};
use oxbpf::object::Object;
use oxbpf::relocate::core::Targets;
use oxbpf::relocate::{relocate, RelocateOptions};

fn objects(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            objects(&p, out);
        } else if p.extension().is_some_and(|e| e == "o" || e == "elf") {
            out.push(p);
        }
    }
}

fn own_btf(obj: &Object) -> Option<Arc<Btf>> {
    let raw = obj.btf()?.raw_bytes().to_vec();
    Btf::parse(raw).ok().map(Arc::new)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--vmlinux-h");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/fixtures"));

    let vmlinux = std::fs::read(root.join("tests/fixtures/btf/linux-6.1.btf"))
        .expect("tests/fixtures/btf/linux-6.1.btf");
    let vmlinux = Arc::new(Btf::parse(vmlinux).expect("linux-6.1.btf parses"));
    if full {
        let mut h = String::new();
        dump_c(&vmlinux, &DumpCOptions::default(), &mut h).expect("6.1 dumps");
        println!("linux-6.1 vmlinux.h: {} bytes", h.len());
    }

    let mut paths = Vec::new();
    objects(&dir, &mut paths);
    let (mut parsed, mut relocated, mut insns, mut header) = (0, 0, 0, 0);
    for path in &paths {
        let obj = match Object::open(path) {
            Ok(o) => o,
            Err(e) => {
                println!("{}: {e}", path.display());
                continue;
            }
        };
        parsed += 1;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let targets = if name.starts_with("layout.") && !name.contains("TARGET") {
            let target = path.with_file_name(name.replace("layout.", "layout.TARGET."));
            Object::open(target)
                .ok()
                .as_ref()
                .and_then(own_btf)
                .map(|b| Targets::custom("layout.TARGET", b))
        } else {
            Some(Targets::kernel(vmlinux.clone()))
        };
        match relocate(
            &obj,
            RelocateOptions {
                targets,
                ..Default::default()
            },
        ) {
            Ok(r) => {
                relocated += 1;
                for p in &r.programs {
                    insns += p.insns.len();
                    header += oxbpf::insn::disasm(&p.insns).len();
                }
            }
            Err(e) => println!("{name}: relocation: {e}"),
        }
        if let Some(btf) = obj.btf() {
            let mut out = String::new();
            if let Err(e) = dump_c(btf, &DumpCOptions::default(), &mut out) {
                println!("{name}: dump_c: {e}");
            }
            header += out.len();
            out.clear();
            let _ = dump_raw(btf, &mut out);
            header += out.len();
        }
    }
    println!(
        "{} objects, {parsed} parsed, {relocated} relocated, {insns} instructions, {header} bytes of text",
        paths.len()
    );
}
