//! Whole-tool load, one fresh process per load: `load_once` (this crate's binary) run for each
//! loader in turn, `COMPARE_LOAD_ROUNDS` rounds (default 15), medians of wall time, user CPU
//! and peak RSS. Needs root.
//!
//! The objects: `COMPARE_LOAD_OBJECTS` (colon-separated paths), else the CLI demo
//! (`cli/bpf/demo.bpf.o`: three tracepoint programs, a ring buffer, a hash, globals, CO-RE).
//!
//! HOOK(large-core-object): issue 8 measures "a large CO-RE tracing object (ours, with many
//! relocations)": when the CO-RE fixtures land, add the bcc-style tool (several
//! tracepoint/raw_tp programs, a few hundred CO-RE relocations) to `default_objects`.
//! HOOK(oxbpf-loader): the oxbpf rows fill in by themselves once `load_once --loader oxbpf`
//! works; until then they read n/a.

use std::path::PathBuf;
use std::process::Command;

use compare::summary::{Table, Target};

const LOADERS: [&str; 4] = ["none", "libbpf", "aya", "oxbpf"];

fn default_objects() -> Vec<PathBuf> {
    vec![compare::repo_root().join("cli/bpf/demo.bpf.o")]
}

#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    user: Vec<f64>,
    rss: Vec<f64>,
    programs: u64,
    error: Option<String>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn run_once(loader: &str, object: &std::path::Path, s: &mut Samples) {
    if s.error.is_some() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_load_once"))
        .args(["--loader", loader])
        .arg(object)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            s.error = Some(e.to_string());
            return;
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        s.error = Some(err.lines().last().unwrap_or("failed").to_string());
        return;
    }
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            s.error = Some(format!("bad output: {e}"));
            return;
        }
    };
    let f = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    s.wall.push(f("wall_ns"));
    s.user.push(f("user_ns"));
    s.rss.push(f("maxrss_kb"));
    s.programs = v.get("programs").and_then(|p| p.as_u64()).unwrap_or(0);
}

fn main() {
    if let Err(why) = compare::bpf_privileges() {
        eprintln!("SKIPPED load: {why}");
        return;
    }
    // `cargo test --benches` passes no `--bench`: run one round only, as a smoke test.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rounds: usize = if bench_mode {
        std::env::var("COMPARE_LOAD_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(15)
    } else {
        1
    };
    let objects: Vec<PathBuf> = match std::env::var("COMPARE_LOAD_OBJECTS") {
        Ok(list) => list.split(':').map(PathBuf::from).collect(),
        Err(_) => default_objects(),
    };
    let mut table = Table::new("load");
    for object in objects.iter().filter(|o| o.exists()) {
        let name = object
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut samples: Vec<Samples> = LOADERS.iter().map(|_| Samples::default()).collect();
        // Interleaved, so that the machine's drift hits every loader alike.
        for _ in 0..rounds {
            for (loader, s) in LOADERS.iter().zip(samples.iter_mut()) {
                run_once(loader, object, s);
            }
        }
        for (loader, s) in LOADERS.iter().zip(&samples) {
            match &s.error {
                Some(e) => eprintln!("load {name} with {loader}: {e}"),
                None => eprintln!(
                    "load {name} with {loader}: {} programs, median wall {:.2} ms, user {:.2} ms, \
                     max RSS {:.0} KiB ({} runs)",
                    s.programs,
                    median(&s.wall).unwrap_or(f64::NAN) / 1e6,
                    median(&s.user).unwrap_or(f64::NAN) / 1e6,
                    median(&s.rss).unwrap_or(f64::NAN),
                    s.wall.len()
                ),
            }
        }
        let [none, libbpf, aya, ours] = &samples[..] else {
            unreachable!("four loaders")
        };
        let r = |a: &Samples, b: &Samples, f: fn(&Samples) -> &Vec<f64>| {
            compare::bench::ratio(median(f(a)), median(f(b)))
        };
        let why = |s: &Samples| s.error.clone().unwrap_or_default();
        table.ratio(
            &format!("whole-tool load ({name}), wall: oxbpf / libbpf"),
            r(ours, libbpf, |s| &s.wall),
            Some(Target::AtMost(0.8)),
            &why(ours),
        );
        table.ratio(
            &format!("whole-tool load ({name}), user CPU: oxbpf / libbpf"),
            r(ours, libbpf, |s| &s.user),
            Some(Target::AtMost(0.5)),
            "getrusage, whole process",
        );
        table.ratio(
            &format!("whole-tool load ({name}), peak RSS: oxbpf / libbpf"),
            r(ours, libbpf, |s| &s.rss),
            Some(Target::AtMost(1.0)),
            "ru_maxrss; same binary for every loader",
        );
        table.ratio(
            &format!("whole-tool load ({name}), wall: aya / libbpf"),
            r(aya, libbpf, |s| &s.wall),
            None,
            &why(aya),
        );
        table.ratio(
            &format!("whole-tool load ({name}), user CPU: aya / libbpf"),
            r(aya, libbpf, |s| &s.user),
            None,
            "",
        );
        let floor = median(&none.rss);
        let above = |s: &Samples| {
            median(&s.rss)
                .zip(floor)
                .map_or("n/a".to_string(), |(r, f)| format!("{:.0} KiB", r - f))
        };
        table.value(
            &format!("whole-tool load ({name}), peak RSS above the process floor"),
            &format!(
                "libbpf {} / aya {} / oxbpf {}",
                above(libbpf),
                above(aya),
                above(ours)
            ),
            "",
            None,
            &format!(
                "floor (`--loader none`, same binary): {:.0} KiB; {rounds} fresh processes each",
                floor.unwrap_or(f64::NAN)
            ),
        );
    }
    table.print_and_save();
}
