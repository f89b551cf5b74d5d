//! Whole-tool load, one fresh process per load: each loader's own binary (`load_oxbpf`,
//! `load_libbpf`, `load_aya`: each links only its loader, as a tool would) run in turn,
//! `COMPARE_LOAD_ROUNDS` rounds (default 21), interleaved. Needs root.
//!
//! Figures per loader: median wall time (start of `main` to the last program loaded), mean
//! user CPU and mean total CPU (`getrusage`), median peak RSS (`ru_maxrss`); `--loader none`
//! of each binary gives its floor. User CPU is a mean, not a median: this kernel accounts CPU
//! time by ticks (`CONFIG_TICK_CPU_ACCOUNTING`, 250 Hz), so a process's total CPU time is
//! exact but its split between user and system is sampled once per 4 ms tick, which makes
//! one process's user time a coarse sample; the mean over many processes is the estimate.
//! When valgrind is installed, each binary also runs once under callgrind: its user-space
//! instruction count is exact and repeatable (no scheduler noise), the floor subtracted.
//!
//! The objects: `COMPARE_LOAD_OBJECTS` (colon-separated paths), else the large CO-RE tracing
//! fixture (`tests/fixtures/perf/tracer.clang19.o`: 17 tracepoint/raw_tp/tp_btf programs, a
//! ring buffer and a perf buffer, hash maps, 528 CO-RE relocations over 36 kernel types) and
//! the CLI demo (`cli/bpf/demo.bpf.o`: 3 tracepoint programs, a ring buffer, a hash, globals,
//! 3 CO-RE relocations). aya cannot load the tracer (it fails relocating a section); its
//! rows read n/a there.

use std::path::{Path, PathBuf};
use std::process::Command;

use compare::summary::{Table, Target};

/// The loaders, each with its binary.
const LOADERS: [(&str, &str); 3] = [
    ("libbpf", env!("CARGO_BIN_EXE_load_libbpf")),
    ("aya", env!("CARGO_BIN_EXE_load_aya")),
    ("oxbpf", env!("CARGO_BIN_EXE_load_oxbpf")),
];

fn default_objects() -> Vec<PathBuf> {
    let root = compare::repo_root();
    vec![
        root.join("tests/fixtures/perf/tracer.clang19.o"),
        root.join("cli/bpf/demo.bpf.o"),
    ]
}

#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    user: Vec<f64>,
    cpu: Vec<f64>,
    rss: Vec<f64>,
    programs: u64,
    error: Option<String>,
}

impl Samples {
    fn ok(&self) -> bool {
        self.error.is_none() && !self.wall.is_empty()
    }
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn run_once(bin: &str, loader: &str, object: &Path, s: &mut Samples) {
    if s.error.is_some() {
        return;
    }
    let out = Command::new(bin)
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
    s.cpu.push(f("user_ns") + f("sys_ns"));
    s.rss.push(f("maxrss_kb"));
    s.programs = v.get("programs").and_then(|p| p.as_u64()).unwrap_or(0);
}

/// User-space instructions of one run under callgrind (`None` without valgrind or on
/// failure).
fn callgrind(bin: &str, loader: &str, object: &Path) -> Option<f64> {
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null", bin])
        .args(["--loader", loader])
        .arg(object)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().replace(',', "").parse().ok())
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
            .unwrap_or(21)
    } else {
        1
    };
    let valgrind = bench_mode
        && Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    let objects: Vec<PathBuf> = match std::env::var("COMPARE_LOAD_OBJECTS") {
        Ok(list) => list.split(':').map(PathBuf::from).collect(),
        Err(_) => default_objects(),
    };
    let mut table = Table::new("load");
    for object in objects.iter().filter(|o| o.exists()) {
        let name = object
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut loads: Vec<Samples> = LOADERS.iter().map(|_| Samples::default()).collect();
        let mut floors: Vec<Samples> = LOADERS.iter().map(|_| Samples::default()).collect();
        // Interleaved, the first loader rotating, so that the machine's drift hits every
        // loader alike.
        for round in 0..rounds {
            for k in 0..LOADERS.len() {
                let i = (round + k) % LOADERS.len();
                let (loader, bin) = LOADERS[i];
                run_once(bin, loader, object, &mut loads[i]);
                if round % 3 == 0 {
                    run_once(bin, "none", object, &mut floors[i]);
                }
            }
        }
        for ((loader, _), s) in LOADERS.iter().zip(&loads) {
            match &s.error {
                Some(e) => eprintln!("load {name} with {loader}: {e}"),
                None => eprintln!(
                    "load {name} with {loader}: {} programs, median wall {:.2} ms, mean user \
                     {:.2} ms, mean CPU {:.2} ms, median max RSS {:.0} KiB ({} runs)",
                    s.programs,
                    median(&s.wall).unwrap_or(f64::NAN) / 1e6,
                    mean(&s.user).unwrap_or(f64::NAN) / 1e6,
                    mean(&s.cpu).unwrap_or(f64::NAN) / 1e6,
                    median(&s.rss).unwrap_or(f64::NAN),
                    s.wall.len()
                ),
            }
        }
        let [libbpf, aya, ours] = &loads[..] else {
            unreachable!("three loaders")
        };
        let r = |a: &Samples,
                 b: &Samples,
                 stat: fn(&[f64]) -> Option<f64>,
                 f: fn(&Samples) -> &Vec<f64>| {
            if a.ok() && b.ok() {
                compare::bench::ratio(stat(f(a)), stat(f(b)))
            } else {
                None
            }
        };
        let why = |s: &Samples| s.error.clone().unwrap_or_default();
        let ours_why = |note: &str| {
            if ours.ok() {
                note.to_string()
            } else {
                why(ours)
            }
        };
        table.ratio(
            &format!("whole-tool load ({name}), wall: oxbpf / libbpf"),
            r(ours, libbpf, median, |s| &s.wall),
            Some(Target::AtMost(0.8)),
            &ours_why(&format!(
                "medians of {rounds} fresh processes each, interleaved"
            )),
        );
        table.ratio(
            &format!("whole-tool load ({name}), user CPU: oxbpf / libbpf"),
            r(ours, libbpf, mean, |s| &s.user),
            Some(Target::AtMost(0.5)),
            "getrusage; means (tick-sampled split, see below)",
        );
        table.ratio(
            &format!("whole-tool load ({name}), total CPU: oxbpf / libbpf"),
            r(ours, libbpf, mean, |s| &s.cpu),
            None,
            "getrusage user + sys (exact sum); the verifier's time is in it",
        );
        table.ratio(
            &format!("whole-tool load ({name}), peak RSS: oxbpf / libbpf"),
            r(ours, libbpf, median, |s| &s.rss),
            Some(Target::AtMost(1.0)),
            "ru_maxrss, each loader's own binary",
        );
        if valgrind {
            let count = |i: usize, loader: &str| callgrind(LOADERS[i].1, loader, object);
            let above = |i: usize| {
                let (loader, _) = LOADERS[i];
                Some(count(i, loader)? - count(i, "none")?)
            };
            let (lb, ox) = (above(0), above(2));
            eprintln!(
                "load {name}: user-space instructions above the floor (callgrind): libbpf {}, \
                 oxbpf {}",
                lb.map_or("n/a".into(), |n| format!("{:.1} M", n / 1e6)),
                ox.map_or("n/a".into(), |n| format!("{:.1} M", n / 1e6)),
            );
            table.ratio(
                &format!("whole-tool load ({name}), user-space instructions: oxbpf / libbpf"),
                compare::bench::ratio(ox, lb),
                None,
                &format!(
                    "callgrind, one run each, floor subtracted: libbpf {}, oxbpf {}",
                    lb.map_or("n/a".into(), |n| format!("{:.1} M", n / 1e6)),
                    ox.map_or("n/a".into(), |n| format!("{:.1} M", n / 1e6)),
                ),
            );
        }
        table.ratio(
            &format!("whole-tool load ({name}), wall: aya / libbpf"),
            r(aya, libbpf, median, |s| &s.wall),
            None,
            &why(aya),
        );
        table.ratio(
            &format!("whole-tool load ({name}), user CPU: aya / libbpf"),
            r(aya, libbpf, mean, |s| &s.user),
            None,
            "",
        );
        table.ratio(
            &format!("whole-tool load ({name}), wall: oxbpf / aya"),
            r(ours, aya, median, |s| &s.wall),
            None,
            "",
        );
        let kib = |s: &Samples| {
            if s.ok() {
                median(&s.rss).map_or("n/a".to_string(), |r| format!("{r:.0} KiB"))
            } else {
                "n/a".to_string()
            }
        };
        let above = |s: &Samples, floor: &Samples| match (median(&s.rss), median(&floor.rss)) {
            (Some(r), Some(f)) if s.ok() => format!("{:.0} KiB", r - f),
            _ => "n/a".to_string(),
        };
        table.value(
            &format!("whole-tool load ({name}), peak RSS: libbpf / aya / oxbpf"),
            &format!("{} / {} / {}", kib(libbpf), kib(aya), kib(ours)),
            "",
            None,
            &format!(
                "above each binary's floor (`--loader none`): libbpf {}, aya {}, oxbpf {}",
                above(libbpf, &floors[0]),
                above(aya, &floors[1]),
                above(ours, &floors[2]),
            ),
        );
    }
    table.print_and_save();
}
