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
