//! `oxbpf load FILE.o`: load every program and map, report each (verifier instructions,
//! load time), explain failures (the verifier log's end with C source lines, CO-RE
//! poisoning).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use oxbpf::loader::{default_pin_root, pin_name, LoadError, Loaded, Loader};
use oxbpf::object::{MapOrigin, Object, Pinning};
use serde_json::{json, Value as Json};

use crate::exit::{CmdResult, Code, Failure};
use crate::objects::{self, Edits};
use crate::out::{self, lower, Table};

/// `oxbpf load`
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The BPF object file.
    pub file: PathBuf,
    /// Relocate CO-RE against this BTF instead of the running kernel's.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,
    /// Pin root (on a bpffs; one is mounted there if needed): maps declared with `pinning`
    /// are pinned (or reused) there, and every loaded program is pinned at DIR/<program> so
    /// it stays loaded after oxbpf exits (replacing an earlier pin of that name). Default
    /// for pinned maps: /sys/fs/bpf.
    #[arg(long, value_name = "DIR")]
    pub pin: Option<PathBuf>,
    #[command(flatten)]
    pub edits: Edits,
    /// Load every program that can load and report each one that cannot.
    #[arg(long)]
    pub keep_going: bool,
    /// Print JSON: one record per program and per map.
    #[arg(long)]
    pub json: bool,
}

/// What loading produced, with the parsed object kept for its BTF and definitions.
pub struct Session {
    /// The loaded object.
    pub loaded: Loaded,
    /// The object as parsed (after `--set`/`--disable`), for BTF and map definitions.
    pub object: Object,
    /// Wall time of the load.
    pub elapsed: std::time::Duration,
}

/// How to load.
pub struct Options<'a> {
    /// `--btf`.
    pub btf: Option<&'a Path>,
    /// `--pin`.
    pub pin: Option<&'a Path>,
    /// `--keep-going`.
    pub keep_going: bool,
}

/// Parses the file twice (the load consumes one copy; the other is kept for its BTF and
/// definitions), applies the edits to both, loads. The outer error is about the file or the
/// command line; the inner one is the load's, with the object for reporting.
pub fn load(
    file: &Path,
    edits: &Edits,
    opts: &Options<'_>,
) -> Result<Result<Session, (Object, LoadError)>, Failure> {
    let mut object = objects::open(file)?;
    objects::apply(&mut object, edits)?;
    let pins = object.maps().iter().any(|m| {
        m.pinning != Pinning::None || matches!(m.origin, MapOrigin::Iproute2(f) if f.pinning != 0)
    });
    match opts.pin {
        Some(dir) => crate::mounts::ensure_bpffs(dir)?,
        None if pins => crate::mounts::ensure_bpffs(default_pin_root())?,
        None => {}
    }
    let mut to_load = objects::open(file)?;
    objects::apply(&mut to_load, edits)?;
    Ok(match load_parsed(to_load, &object, opts) {
        Ok((loaded, elapsed)) => Ok(Session {
            loaded,
            object,
            elapsed,
        }),
        Err(e) => Err((object, e)),
    })
}

/// Loads an already parsed object.
pub fn load_parsed(
    obj: Object,
    shown: &Object,
    opts: &Options<'_>,
) -> Result<(Loaded, std::time::Duration), LoadError> {
    let mut loader = Loader::new()
        .verifier_stats(true)
        .keep_going(opts.keep_going);
    if let Some(b) = opts.btf {
        loader = loader.target_btf(b);
    }
    if let Some(p) = opts.pin {
        loader = loader.pin_root(p);
    }
    let _p = out::Progress::start(format!(
        "loading {} ({} programs)",
        shown.name(),
        shown.programs().iter().filter(|p| p.autoload()).count()
    ));
    let start = Instant::now();
    let loaded = loader.load(obj)?;
    Ok((loaded, start.elapsed()))
}

/// Runs `oxbpf load`.
pub fn run(args: LoadArgs) -> CmdResult {
    let opts = Options {
        btf: args.btf.as_deref(),
        pin: args.pin.as_deref(),
        keep_going: args.keep_going,
    };
    let session = match load(&args.file, &args.edits, &opts)? {
        Ok(s) => s,
        Err((object, e)) => {
            if args.json {
                out::json(&failed_json(&object, &e));
            }
            return Err(Failure::from(e));
        }
    };
    if let Some(dir) = &args.pin {
        for p in session.loaded.programs() {
            let path = dir.join(pin_name(p.name()));
            // A program pinned by an earlier `load --pin` of the object is replaced.
            if path.exists() {
                let _ = std::fs::remove_file(&path);
            }
            p.pin(&path).map_err(|e| {
                Failure::from_error(Code::LoadFailed, &e).detail(format!(
                    "while pinning program {} at {}",
                    p.name(),
                    path.display()
                ))
            })?;
        }
    }
    if args.json {
        out::json(&loaded_json(&session));
    } else {
        print_text(&args, &session);
    }
    match session.loaded.failures().len() {
        0 => Ok(()),
        n => Err(Failure::new(
            Code::LoadFailed,
            format!(
                "{n} of {} programs failed to load",
                n + session.loaded.programs().len()
            ),
        )),
    }
}

fn micros(d: std::time::Duration) -> String {
    if d.as_millis() >= 10 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// The table of loaded programs and maps.
pub fn print_loaded(s: &Session) -> String {
    let mut text = String::new();
    let mut t = Table::new(&[
        "PROGRAM",
        "ID",
        "SECTION",
        "TYPE",
        "INSNS",
        "VERIFIED",
        "LOAD TIME",
    ]);
    for p in s.loaded.programs() {
        let r = p.report();
        t.row(vec![
            p.name().into(),
            p.id().map(|i| i.to_string()).unwrap_or_default(),
            p.section().into(),
            lower(p.prog_type().short_name(), p.prog_type().0),
            r.insn_count.to_string(),
            r.verified_insns.map(|v| v.to_string()).unwrap_or_default(),
            micros(r.load_time),
        ]);
    }
    text.push_str(&t.render());
    let maps: Vec<_> = s.loaded.maps().collect();
    if !maps.is_empty() || !s.loaded.globals().is_empty() {
        let mut t = Table::new(&["MAP", "ID", "TYPE", "KEY", "VALUE", "MAX ENTRIES"]);
        let rows = maps.iter().map(|(n, m)| (n.to_string(), *m)).chain(
            s.loaded
                .globals()
                .iter()
                .map(|g| (g.section().to_string(), g.map())),
        );
        for (name, m) in rows {
            t.row(vec![
                name,
                m.id().map(|i| i.to_string()).unwrap_or_default(),
                lower(m.map_type().short_name(), m.map_type().0),
                m.key_size().to_string(),
                m.value_size().to_string(),
                m.max_entries().to_string(),
            ]);
        }
        text.push('\n');
        text.push_str(&t.render());
    }
    text
}

fn print_text(args: &LoadArgs, s: &Session) {
    let l = &s.loaded;
    let mut text = format!(
        "{}: loaded {} and {} in {}\n\n",
        args.file.display(),
        out::count(l.programs().len(), "program"),
        out::count(l.maps().count() + l.globals().len(), "map"),
        micros(s.elapsed)
    );
    text.push_str(&print_loaded(s));
    for f in l.failures() {
        text.push_str(&format!("\nFAILED {f}\n"));
    }
    for w in l.warnings() {
        text.push_str(&format!("warning: {w}\n"));
    }
    if let Some(dir) = &args.pin {
        text.push_str(&format!("\nprograms pinned under {}\n", dir.display()));
    } else {
        text.push_str(
            "\n(nothing pinned: everything is unloaded as oxbpf exits; use --pin DIR to keep it)\n",
        );
    }
    out::print(&text);
}

fn loaded_json(s: &Session) -> Json {
    let l = &s.loaded;
    let mut programs: Vec<Json> = l
        .programs()
        .iter()
        .map(|p| {
            let r = p.report();
            json!({
                "name": p.name(),
                "section": p.section(),
                "type": lower(p.prog_type().short_name(), p.prog_type().0),
                "loaded": true,
                "id": p.id().ok(),
                "insns": r.insn_count,
                "verified_insns": r.verified_insns,
                "load_time_us": r.load_time.as_micros() as u64,
                "error": null,
            })
        })
        .collect();
    for f in l.failures() {
        programs.push(failure_json(&s.object, f));
    }
    let section_of = |name: &str| s.object.map(name).map(|d| d.section.clone()).ok();
    let maps: Vec<Json> = l
        .maps()
        .map(|(n, m)| (n.to_string(), section_of(n), m))
        .chain(l.globals().iter().map(|g| {
            (
                g.section().to_string(),
                Some(g.section().to_string()),
                g.map(),
            )
        }))
        .map(|(name, section, m)| {
            json!({
                "name": name,
                "section": section,
                "type": lower(m.map_type().short_name(), m.map_type().0),
                "loaded": true,
                "id": m.id().ok(),
                "key_size": m.key_size(),
                "value_size": m.value_size(),
                "max_entries": m.max_entries(),
                "error": null,
            })
        })
        .collect();
    json!({
        "programs": programs,
        "maps": maps,
        "loaded": l.failures().is_empty(),
        "warnings": l.warnings(),
    })
}

fn failure_json(obj: &Object, f: &oxbpf::loader::ProgramLoadError) -> Json {
    let ty = obj
        .program(&f.program)
        .map(|p| lower(p.prog_type().short_name(), p.prog_type().0))
        .ok();
    json!({
        "name": f.program,
        "section": f.section,
        "type": ty,
        "loaded": false,
        "error": f.source.to_string(),
        "failing_insn": f.summary.insn,
        "source_line": f.summary.source.as_ref().map(|s| s.to_string()),
        "log_tail": f.summary.tail,
        "core_failures": f.core_failures,
    })
}

/// Records for a load that stopped: the failing program with its error, the others not
/// loaded.
fn failed_json(obj: &Object, e: &LoadError) -> Json {
    let failed = e.program_error();
    let programs: Vec<Json> = obj
        .programs()
        .iter()
        .filter(|p| p.autoload())
        .map(|p| match failed {
            Some(f) if f.program == p.name() => failure_json(obj, f),
            _ => json!({
                "name": p.name(),
                "section": p.section_name(),
                "type": lower(p.prog_type().short_name(), p.prog_type().0),
                "loaded": false,
                "error": format!("not loaded: {}", e.to_string().lines().next().unwrap_or_default()),
            }),
        })
        .collect();
    let maps: Vec<Json> = obj
        .maps()
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "section": m.section,
                "type": lower(m.map_type.short_name(), m.map_type.0),
                "loaded": false,
                "error": "not loaded: the object's load failed",
            })
        })
        .collect();
    json!({
        "programs": programs,
        "maps": maps,
        "loaded": false,
        "error": e.to_string().lines().next().unwrap_or_default(),
    })
}
