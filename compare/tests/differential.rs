//! The differential check (issue 4, item 5): every committed object (`tests/fixtures/**/*.o`,
//! `cli/bpf/*.o`) and libxdp's objects (`/usr/lib/x86_64-linux-gnu/bpf/*.o`, when the
//! package is installed) prepared by libbpf against the same target BTF; each program's final
//! instructions compared with oxbpf's (`compare::oxbpf_side::relocate`), modulo map fds.
//! Needs root: libbpf's preparation creates the maps.
//!
//! Conventions, from the fixture sources (`<name>.bpf.c` beside `<name>[.VARIANT].clangN.o`):
//! - a line `// oxbpf-libbpf-refuses: TEXT` says libbpf must fail to prepare every build of the
//!   source, with TEXT in its log (e.g. `legacy map definitions`, refused by libbpf ≥ 1.0);
//!   `// oxbpf-libbpf-refuses(TAG ...): TEXT` only the builds whose file name holds every TAG
//!   as a dot-separated part (a variant, `NO_TYPE`, or a compiler, `clang19`);
//! - an object `<name>.TARGET.clangN.o` (the `-DTARGET` layout) is a custom target BTF:
//!   `<name>.clangN.o` is also prepared against it.

use std::path::{Path, PathBuf};

use compare::diff::{compare, Comparison};
use compare::{libbpf, oxbpf_side};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const LIBXDP_DIR: &str = "/usr/lib/x86_64-linux-gnu/bpf";

fn find_objects(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_objects(&p, out);
        } else if p.extension().is_some_and(|x| x == "o") {
            out.push(p);
        }
    }
}

/// Our committed objects, then the third-party ones present on this machine, then any in
/// `$COMPARE_EXTRA_OBJECTS` (colon-separated files or directories, for ad-hoc runs).
fn objects() -> Vec<PathBuf> {
    let root = compare::repo_root();
    let mut ours = Vec::new();
    find_objects(&root.join("tests/fixtures"), &mut ours);
    find_objects(&root.join("cli/bpf"), &mut ours);
    ours.sort();
    let mut third = Vec::new();
    find_objects(Path::new(LIBXDP_DIR), &mut third);
    third.sort();
    ours.extend(third);
    for extra in std::env::var("COMPARE_EXTRA_OBJECTS")
        .unwrap_or_default()
        .split(':')
    {
        let p = Path::new(extra);
        if p.is_dir() {
            let mut found = Vec::new();
            find_objects(p, &mut found);
            found.sort();
            ours.extend(found);
        } else if p.is_file() {
            ours.push(p.to_path_buf());
        }
    }
    ours
}

/// The tests count this process's fds: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

macro_rules! require_bpf {
    () => {
        if let Err(why) = compare::bpf_privileges() {
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// The fixture source beside `obj` (`dir/<name>.bpf.c`, `<name>` up to the first dot).
fn source_of(obj: &Path) -> Option<PathBuf> {
    let file = obj.file_name()?.to_str()?;
    let name = file.split('.').next()?;
    let src = obj.with_file_name(format!("{name}.bpf.c"));
    src.exists().then_some(src)
}

/// `Some(TEXT)` when the object's source says libbpf refuses this build of it.
fn libbpf_refuses(obj: &Path) -> Option<String> {
    let text = std::fs::read_to_string(source_of(obj)?).ok()?;
    let file = obj.file_name()?.to_str()?;
    let parts: Vec<&str> = file.split('.').collect();
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("// oxbpf-libbpf-refuses")?;
        let (tags, why) = match rest.strip_prefix('(') {
            Some(r) => {
                let (tags, why) = r.split_once(')')?;
                (tags, why.strip_prefix(':')?)
            }
            None => ("", rest.strip_prefix(':')?),
        };
        tags.split_whitespace()
            .all(|t| parts.contains(&t))
            .then(|| why.trim().to_string())
    })
}

/// The target BTFs `obj` is prepared against: this kernel's, and its `-DTARGET` variant's.
fn targets(obj: &Path) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(VMLINUX)];
    let Some(file) = obj.file_name().and_then(|f| f.to_str()) else {
        return out;
    };
    let parts: Vec<&str> = file.split('.').collect();
    // `<name>.clangN.o` → `<name>.TARGET.clangN.o`.
    if let [name, clang, "o"] = parts[..] {
        let variant = obj.with_file_name(format!("{name}.TARGET.{clang}.o"));
        if variant.exists() {
            out.push(variant);
        }
    }
    out
}

#[test]
fn libbpf_prepares_every_object_and_oxbpf_matches_it() {
    let _serial = serial();
    require_bpf!();
    let objects = objects();
    assert!(
        objects.iter().any(|o| o.starts_with(compare::repo_root())),
        "no committed fixture objects found"
    );
    eprintln!("libbpf {} (vendored by libbpf-sys)", libbpf::version());
    let before = fd_count();
    let mut failures = Vec::new();
    let runs: Vec<(&PathBuf, PathBuf)> = objects
        .iter()
        .flat_map(|o| targets(o).into_iter().map(move |t| (o, t)))
        .collect();
    for (obj, target) in runs {
        let refused = libbpf_refuses(obj);
        let prepared = match (libbpf::prepare(obj, Some(&target)), refused) {
            (Ok(p), None) => p,
            (Err(e), None) => {
                failures.push(e.to_string());
                continue;
            }
            (Err(e), Some(why)) => {
                if !e.log.contains(&why) {
                    failures.push(format!(
                        "libbpf refused for another reason than {why:?}: {e}"
                    ));
                }
                continue;
            }
            (Ok(_), Some(why)) => {
                failures.push(format!(
                    "{}: libbpf prepared it (expected: {why})",
                    obj.display()
                ));
                continue;
            }
        };
        let insns: usize = prepared.programs.iter().map(|p| p.insns.len()).sum();
        eprintln!(
            "{} (target {}): {} program(s), {} insns, {} map ref(s){}",
            obj.display(),
            target.display(),
            prepared.programs.len(),
            insns,
            prepared
                .programs
                .iter()
                .map(|p| p.map_refs.len())
                .sum::<usize>(),
            if prepared.not_autoloaded.is_empty() {
                String::new()
            } else {
                format!(", not autoloaded: {:?}", prepared.not_autoloaded)
            }
        );
        if prepared.programs.is_empty() && prepared.not_autoloaded.is_empty() {
            failures.push(format!("{}: libbpf found no program", obj.display()));
        }
        for p in &prepared.programs {
            if p.insns.is_empty() {
                failures.push(format!("{}: {}: no instructions", obj.display(), p.name));
            }
            for (i, m) in &p.map_refs {
                if m.starts_with('<') {
                    failures.push(format!(
                        "{}: {} #{i}: ld_imm64 of a map fd libbpf does not know",
                        obj.display(),
                        p.name
                    ));
                }
            }
        }

        match oxbpf_side::relocate(obj, Some(&target)) {
            Err(e) => failures.push(format!("{}: oxbpf failed: {e}", obj.display())),
            Ok(ours) => {
                let c: Comparison = compare("libbpf", &prepared.programs, "oxbpf", &ours);
                if !c.is_identical() {
                    failures.push(format!("{}: {c}", obj.display()));
                }
            }
        }
    }
    assert_eq!(fd_count(), before, "libbpf's objects closed every fd");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The target BTF path reaches libbpf's CO-RE: the demo's CO-RE object relocated against
/// Linux 6.1's BTF differs from the same object against this kernel's.
#[test]
fn custom_target_btf_changes_core_relocations() {
    let _serial = serial();
    require_bpf!();
    let root = compare::repo_root();
    let obj = root.join("cli/bpf/demo.bpf.o");
    let old = root.join("tests/fixtures/btf/linux-6.1.btf");
    if !obj.exists() || !old.exists() {
        eprintln!(
            "SKIPPED custom_target_btf_changes_core_relocations: {} or {} missing",
            obj.display(),
            old.display()
        );
        return;
    }
    let here = libbpf::prepare(&obj, Some(Path::new(VMLINUX))).unwrap();
    let then = libbpf::prepare(&obj, Some(&old)).unwrap();
    assert!(then.log.contains("CO-RE relocating"), "{}", then.log);
    // Maps are named as the object names them: `.rodata`, not libbpf's `demo.rodata`.
    let names: std::collections::BTreeSet<&str> = here
        .programs
        .iter()
        .flat_map(|p| p.map_refs.iter().map(|(_, m)| m.as_str()))
        .collect();
    for m in [".rodata", ".bss", "events", "per_process"] {
        assert!(names.contains(m), "{m} in {names:?}");
    }
    let c = compare("vmlinux", &here.programs, "linux-6.1", &then.programs);
    assert_eq!(c.compared, here.programs.len(), "{c}");
    assert!(
        !c.is_identical(),
        "task_struct offsets differ between 6.1 and this kernel"
    );
    // The same target twice: identical, map fds notwithstanding.
    let again = libbpf::prepare(&obj, Some(&old)).unwrap();
    let c = compare("first", &then.programs, "second", &again.programs);
    assert!(c.is_identical(), "{c}");
}

/// A failed open is an error naming the object and stage, with libbpf's log.
#[test]
fn libbpf_errors_name_the_object() {
    let _serial = serial();
    // libbpf's preparation runs on a bpffs it mounts: root's work.
    require_bpf!();
    let dir = std::env::temp_dir().join(format!("compare-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bogus = dir.join("not-elf.o");
    std::fs::write(&bogus, b"not an ELF file").unwrap();
    let err = libbpf::prepare(&bogus, None).unwrap_err();
    assert_eq!(err.stage, "open");
    assert!(err.to_string().contains("not-elf.o"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixture conventions find sources and target variants.
#[test]
fn fixture_conventions() {
    let root = compare::repo_root().join("tests/fixtures/smoke");
    let obj = root.join("minimal.clang14.o");
    assert_eq!(source_of(&obj), Some(root.join("minimal.bpf.c")));
    assert_eq!(libbpf_refuses(&obj), None);
    assert_eq!(targets(&obj), vec![PathBuf::from(VMLINUX)]);
    let dir = std::env::temp_dir().join(format!("compare-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("legacy.bpf.c"),
        "// oxbpf-libbpf-refuses(NO_TYPE clang14): missing type\n\
         // oxbpf-libbpf-refuses: legacy map definitions\n",
    )
    .unwrap();
    for f in ["legacy.clang19.o", "legacy.TARGET.clang19.o"] {
        std::fs::write(dir.join(f), b"").unwrap();
    }
    let obj = dir.join("legacy.clang19.o");
    assert_eq!(
        libbpf_refuses(&obj).as_deref(),
        Some("legacy map definitions")
    );
    assert_eq!(
        libbpf_refuses(&dir.join("legacy.NO_TYPE.clang14.o")).as_deref(),
        Some("missing type")
    );
    assert_eq!(
        targets(&obj),
        vec![PathBuf::from(VMLINUX), dir.join("legacy.TARGET.clang19.o")]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
