//! `oxbpf core check FILE.o [--btf TARGET]...`: every CO-RE relocation of an object against
//! one or more target BTFs, offline; with several targets a compatibility matrix.
//!
//! The exit status is 5 when a relocation that is not guarded would fail on some target.
//! The rule (`oxbpf::relocate::core::failing`): existence checks never fail; a poisoned
//! relocation is guarded when the same program has an existence check on the same local type
//! and access path (or a type-level one on the same type); other poisoned relocations fail.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use oxbpf::loader::{LoadError, Loader};
use oxbpf::object::Object;
use oxbpf::relocate::core::{is_guarded, CoreDecision, Outcome};
use oxbpf::relocate::Relocated;
use serde_json::{json, Value as Json};

use crate::exit::{CmdResult, Code, Failure};
use crate::objects::{self, target_label};
use crate::out::{self, Table};

/// `oxbpf core ...`
#[derive(Subcommand, Debug)]
pub enum CoreCommand {
    /// Check every CO-RE relocation against target BTFs (default: the running kernel).
    Check(CheckArgs),
}

/// `oxbpf core check`
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The BPF object file.
    pub file: PathBuf,
    /// A target BTF (raw BTF, or an ELF with .BTF such as a vmlinux); repeat for a
    /// compatibility matrix. Default: the running kernel's.
    #[arg(long = "btf", value_name = "TARGET")]
    pub btf: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One relocation's fate on one target.
struct Fate<'a> {
    program: &'a str,
    d: &'a CoreDecision,
    guarded: bool,
}

impl Fate<'_> {
    fn failing(&self) -> bool {
        self.d.is_poisoned() && !self.guarded
    }

    /// The matrix cell: `old -> new`, `ok`, `guarded`, `FAILS`.
    fn cell(&self) -> String {
        match self.d.outcome {
            Outcome::Patched(p) if p.old == p.new => format!("{}", p.new),
            Outcome::Patched(p) => format!("{} -> {}", p.old, p.new),
            Outcome::Poisoned(_) if self.guarded => "poisoned (guarded)".into(),
            Outcome::Poisoned(_) => "FAILS".into(),
        }
    }
}

/// The outcome on one target: the relocation, or why it could not be done at all.
struct TargetResult {
    label: String,
    path: Option<PathBuf>,
    relocated: Result<Relocated, LoadError>,
}

impl TargetResult {
    fn fates(&self) -> Vec<Fate<'_>> {
        let Ok(r) = &self.relocated else {
            return Vec::new();
        };
        let mut v = Vec::new();
        for p in &r.programs {
            for d in &p.core {
                v.push(Fate {
                    program: &p.name,
                    d,
                    guarded: is_guarded(d, &p.core),
                });
            }
        }
        v
    }

    fn ok(&self) -> bool {
        self.relocated.is_ok() && !self.fates().iter().any(Fate::failing)
    }
}

/// Runs `oxbpf core ...`.
pub fn run(cmd: CoreCommand) -> CmdResult {
    let CoreCommand::Check(args) = cmd;
    let obj = objects::open(&args.file)?;
    let count: usize = obj
        .btf_ext()
        .map_or(0, |e| e.core_relos.iter().map(|s| s.records.len()).sum());
    let targets: Vec<Option<PathBuf>> = if args.btf.is_empty() {
        vec![None]
    } else {
        args.btf.iter().cloned().map(Some).collect()
    };
    let results: Vec<TargetResult> = targets
        .into_iter()
        .map(|path| {
            let label = target_label(path.as_ref());
            let _p = out::Progress::start(format!("relocating against {label}"));
            TargetResult {
                relocated: relocate(&obj, path.as_ref()),
                label,
                path,
            }
        })
        .collect();
    // A target that could not be read at all is an error of its own kind.
    for r in &results {
        if let Err(e @ (LoadError::TargetBtf { .. } | LoadError::KernelBtf(_))) = &r.relocated {
            return Err(Failure::from_error(Code::Failure, e));
        }
    }
    if args.json {
        out::json(&to_json(&args, count, &results));
    } else {
        print_text(&args, &obj, count, &results);
    }
    if results.iter().all(TargetResult::ok) {
        Ok(())
    } else {
        Err(Failure::new(
            Code::CheckFailed,
            "some CO-RE relocations would fail: the object will not load on every target",
        ))
    }
}

fn relocate(obj: &Object, path: Option<&PathBuf>) -> Result<Relocated, LoadError> {
    let mut loader = Loader::new();
    if let Some(p) = path {
        loader = loader.target_btf(p);
    }
    loader.relocate(obj)
}

/// An error's first line.
fn first_line(e: &LoadError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn target_path(d: &CoreDecision) -> String {
    match &d.target {
        Some(t) if t.path != d.local.path => {
            format!("{} [{}] `{}`", t.type_name, t.type_id, t.path)
        }
        Some(t) => format!("{} [{}]", t.type_name, t.type_id),
        None => "-".into(),
    }
}

fn print_text(args: &CheckArgs, obj: &Object, count: usize, results: &[TargetResult]) {
    let mut s = format!(
        "{}: {} in {}\n",
        args.file.display(),
        out::count(count, "CO-RE relocation"),
        out::count(obj.programs().len(), "program")
    );
    if count == 0 {
        s.push_str("nothing to check: the object does not depend on kernel type layouts\n");
        out::print(&s);
        return;
    }
    if results.len() == 1 {
        let r = &results[0];
        s.push_str(&format!("target: {}\n\n", r.label));
        match &r.relocated {
            Err(e) => s.push_str(&format!("relocation failed: {}\n", first_line(e))),
            Ok(_) => {
                let mut t = Table::new(&["PROGRAM", "INSN", "KIND", "LOCAL", "TARGET", "VALUE"]);
                for f in r.fates() {
                    t.row(vec![
                        f.program.into(),
                        f.d.insn.to_string(),
                        f.d.kind.to_string(),
                        format!("{} ({})", f.d.local.path, f.d.local.access),
                        target_path(f.d),
                        f.cell(),
                    ]);
                }
                s.push_str(&t.render());
            }
        }
    } else {
        // The matrix: one row per relocation (as the first readable target lists them),
        // one column per target.
        let mut headers = vec!["PROGRAM", "INSN", "KIND", "ACCESS"];
        let labels: Vec<String> = results.iter().map(|r| r.label.clone()).collect();
        headers.extend(labels.iter().map(String::as_str));
        let mut t = Table::new(&headers);
        let all: Vec<Vec<Fate<'_>>> = results.iter().map(TargetResult::fates).collect();
        if let Some(rows) = all.iter().find(|f| !f.is_empty()) {
            for (i, f) in rows.iter().enumerate() {
                let mut row = vec![
                    f.program.to_string(),
                    f.d.insn.to_string(),
                    f.d.kind.to_string(),
                    f.d.local.path.clone(),
                ];
                for (k, r) in results.iter().enumerate() {
                    row.push(match (&r.relocated, all[k].get(i)) {
                        (Err(_), _) => "error".into(),
                        (Ok(_), Some(f)) => f.cell(),
                        (Ok(_), None) => "-".into(),
                    });
                }
                t.row(row);
            }
        }
        s.push_str(&t.render());
    }
    s.push('\n');
    for r in results {
        let fates = r.fates();
        let poisoned = fates.iter().filter(|f| f.d.is_poisoned()).count();
        let failing: Vec<&Fate<'_>> = fates.iter().filter(|f| f.failing()).collect();
        let verdict = match &r.relocated {
            Err(e) => format!("cannot relocate: {}", first_line(e)),
            Ok(_) if failing.is_empty() && poisoned == 0 => {
                format!("compatible: all {} relocations resolve", fates.len())
            }
            Ok(_) if failing.is_empty() => format!(
                "compatible: {poisoned} poisoned relocation(s), all guarded by existence checks"
            ),
            Ok(_) => format!(
                "INCOMPATIBLE: {} relocation(s) would fail the load",
                failing.len()
            ),
        };
        s.push_str(&format!("{}: {verdict}\n", r.label));
        for f in failing {
            s.push_str(&format!(
                "  {} insn {}: {} `{}`: {}\n",
                f.program,
                f.d.insn,
                f.d.kind,
                f.d.local.path,
                f.d.poison_reason().unwrap_or_default()
            ));
        }
    }
    out::print(&s);
}

fn to_json(args: &CheckArgs, count: usize, results: &[TargetResult]) -> Json {
    let targets: Vec<Json> = results
        .iter()
        .map(|r| {
            let fates = r.fates();
            let relos: Vec<Json> = fates
                .iter()
                .map(|f| {
                    let (old, new) = match f.d.outcome {
                        Outcome::Patched(p) => (Some(p.old), Some(p.new)),
                        Outcome::Poisoned(_) => (None, None),
                    };
                    json!({
                        "program": f.program,
                        "section": f.d.section,
                        "insn": f.d.insn,
                        "kind": f.d.kind.to_string(),
                        "local_type": f.d.local.type_name,
                        "access": f.d.local.access,
                        "path": f.d.local.path,
                        "target_btf": f.d.target.as_ref().map(|t| &t.btf_name),
                        "target_type": f.d.target.as_ref().map(|t| &t.type_name),
                        "target_type_id": f.d.target.as_ref().map(|t| t.type_id),
                        "target_path": f.d.target.as_ref().map(|t| &t.path),
                        "old": old,
                        "new": new,
                        "poisoned": f.d.is_poisoned(),
                        "reason": f.d.poison_reason(),
                        "guarded": f.guarded,
                        "failing": f.failing(),
                    })
                })
                .collect();
            json!({
                "target": r.label,
                "path": r.path.as_ref().map(|p| p.display().to_string()),
                "error": r.relocated.as_ref().err().map(first_line),
                "relocations": relos,
                "poisoned": fates.iter().filter(|f| f.d.is_poisoned()).count(),
                "failing": fates.iter().filter(|f| f.failing()).count(),
                "ok": r.ok(),
            })
        })
        .collect();
    json!({
        "file": args.file.display().to_string(),
        "relocations": count,
        "targets": targets,
        "ok": results.iter().all(TargetResult::ok),
    })
}
