//! tracefs: mounted at `/sys/kernel/tracing` when it is not, and tracepoint ids from it.

use std::path::{Path, PathBuf};

/// Where tracefs is mounted by convention.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// The tracefs directory, mounting tracefs at [`TRACEFS`] first if it is not mounted there
/// (needs root; the mount is left in place, as a system would have it).
pub fn ensure_mounted() -> Result<PathBuf, String> {
    let dir = Path::new(TRACEFS);
    if dir.join("events").is_dir() {
        return Ok(dir.to_path_buf());
    }
    nix::mount::mount(
        Some("nodev"),
        dir,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| format!("mount -t tracefs nodev {TRACEFS}: {e}"))?;
    Ok(dir.to_path_buf())
}

/// The id of tracepoint `category/name` (for `perf_event_open`), read from tracefs.
pub fn event_id(tracefs: &Path, category: &str, name: &str) -> Result<u64, String> {
    let path = tracefs.join("events").join(category).join(name).join("id");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.trim()
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}
