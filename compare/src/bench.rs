//! What the criterion benchmarks share: where criterion writes its estimates, and reading
//! them back so that each bench prints its ratios from the same run.

use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;

/// The cargo target directory (`$CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
}

/// Where criterion writes (`$CRITERION_HOME`, else `<target>/criterion`).
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"))
}

/// Criterion configured for these benches: a known output directory, short warm-up and
/// measurement (the machine is shared; the ratios, not the absolute times, are the result).
pub fn criterion() -> Criterion {
    Criterion::default()
        .output_directory(&criterion_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// The median time per iteration (ns) criterion measured for `group/id` in this run, if it
/// wrote one (`cargo test --benches` runs each bench once and writes none).
pub fn median_ns(group: &str, id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(id)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

/// `a / b` when both are known.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Paired rounds, the source of every ratio in the tables: each round runs every side once
/// (the starting side rotating from round to round), timing each call; a side's figure is
/// its median call time. Drift of a shared machine then hits all sides alike, which
/// criterion's one-side-after-the-other runs cannot promise.
#[derive(Default)]
pub struct Paired<'a> {
    sides: Vec<(&'static str, Side<'a>)>,
}

/// One side's call: it returns the time to count (setup excluded), or `None` to count the
/// whole call.
type Side<'a> = Box<dyn FnMut() -> Option<std::time::Duration> + 'a>;

/// Median call time (ns) per side, from [`Paired::run`].
#[derive(Clone, Debug, Default)]
pub struct Medians(Vec<(&'static str, f64)>);

impl std::fmt::Display for Medians {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, t)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {:.3} ms", t / 1e6)?;
        }
        Ok(())
    }
}

impl Medians {
    /// The median of side `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }
}

impl<'a> Paired<'a> {
    /// No sides yet.
    pub fn new() -> Paired<'a> {
        Paired::default()
    }

    /// Adds side `name`, one call of `f` per round.
    pub fn side(mut self, name: &'static str, mut f: impl FnMut() + 'a) -> Paired<'a> {
        self.sides.push((
            name,
            Box::new(move || {
                f();
                None
            }),
        ));
        self
    }

    /// Adds side `name` whose call times itself (to leave its setup out) and returns the
    /// time to count.
    pub fn side_timed(
        mut self,
        name: &'static str,
        mut f: impl FnMut() -> std::time::Duration + 'a,
    ) -> Paired<'a> {
        self.sides.push((name, Box::new(move || Some(f()))));
        self
    }

    /// Runs `rounds` rounds (after one warm-up round) and returns each side's median.
    pub fn run(mut self, rounds: usize) -> Medians {
        let n = self.sides.len();
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); n];
        for (_, f) in &mut self.sides {
            f();
        }
        for round in 0..rounds {
            for k in 0..n {
                let i = (round + k) % n;
                let t = std::time::Instant::now();
                let own = (self.sides[i].1)();
                let took = own.unwrap_or_else(|| t.elapsed());
                times[i].push(took.as_nanos() as f64);
            }
        }
        Medians(
            self.sides
                .iter()
                .zip(times)
                .map(|((name, _), mut t)| {
                    t.sort_by(f64::total_cmp);
                    (*name, t.get(t.len() / 2).copied().unwrap_or(f64::NAN))
                })
                .collect(),
        )
    }
}

/// Rounds for [`Paired::run`]: `$COMPARE_ROUNDS` if set, else `default`; 1 when the bench
/// binary runs as a test (`cargo test --benches` passes no `--bench`).
pub fn rounds(default: usize) -> usize {
    if !std::env::args().any(|a| a == "--bench") {
        return 1;
    }
    std::env::var("COMPARE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}
