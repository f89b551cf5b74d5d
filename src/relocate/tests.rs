//! Relocation over the committed fixtures: every program links, call offsets land on
//! function starts, map references point at ld_imm64s, func_info starts at 0.

use super::*;
use crate::insn::opcode::pseudo;

fn fixtures() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_links_consistently() {
    let vmlinux = crate::loader::kernel_btf::vmlinux().ok();
    let mut linked = 0;
    for path in fixtures() {
        let Ok(obj) = Object::open(&path) else {
            continue;
        };
        if !obj.is_loadable_on_host() {
            continue;
        }
        let targets = vmlinux.clone().map(Targets::kernel);
        let opts = RelocateOptions {
            targets,
            ..Default::default()
        };
        let out = match relocate(&obj, opts) {
            Ok(o) => o,
            // Fixtures with strong externs, or CO-RE against layouts this kernel lacks.
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        for p in &out.programs {
            linked += 1;
            let starts: Vec<usize> = p.placements.iter().map(|pl| pl.start).collect();
            assert_eq!(starts.first(), Some(&0), "{}: {}", path.display(), p.name);
            let mut i = 0;
            while i < p.insns.len() {
                let insn = p.insns[i];
                if insn.is_pseudo_call() || insn.is_pseudo_func() {
                    let t = i as i64 + insn.imm as i64 + 1;
                    assert!(
                        starts.contains(&(t as usize)),
                        "{}: {} insn {i} calls {t}, not a function start {starts:?}",
                        path.display(),
                        p.name
                    );
                }
                i += if insn.is_ld_imm64() { 2 } else { 1 };
            }
            for r in &p.map_refs {
                let insn = p.insns[r.insn];
                assert!(insn.is_ld_imm64());
                assert!(matches!(insn.src(), pseudo::MAP_FD | pseudo::MAP_VALUE));
            }
            if let Some(first) = p.func_info.first() {
                assert_eq!(first.insn_off, 0, "{}: {}", path.display(), p.name);
                assert_eq!(p.func_info.len(), p.placements.len());
            }
            assert!(p
                .line_info
                .windows(2)
                .all(|w| w[0].insn_off <= w[1].insn_off));
        }
    }
    assert!(linked > 10, "only {linked} programs linked");
}
