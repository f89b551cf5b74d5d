//! tracefs: where it is mounted, tracepoint ids, and the legacy `kprobe_events` /
//! `uprobe_events` probes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::link::DynamicEvent;

/// The tracefs mount to use: `/sys/kernel/tracing`, `/sys/kernel/debug/tracing`, or any
/// other tracefs mount of this process, whichever has an `events` directory first. The mount
/// table is read only when neither standard path has one (attaches stay cheap).
pub fn tracefs_root() -> Option<PathBuf> {
    let standard = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].map(PathBuf::from);
    if let Some(p) = standard.iter().find(|p| p.join("events").is_dir()) {
        return Some(p.clone());
    }
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_dev, dir, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            (fstype == "tracefs").then(|| PathBuf::from(unescape_mount_path(dir)))
        })
        .find(|p| p.join("events").is_dir())
}

/// `/proc/mounts` escapes spaces, tabs, newlines and backslashes as octal.
fn unescape_mount_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(v) = bytes
                .get(i + 1..i + 4)
                .and_then(|o| std::str::from_utf8(o).ok())
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a tracepoint id could not be read.
#[derive(Debug)]
pub(crate) enum EventIdError {
    NoTracefs,
    Io(PathBuf, std::io::Error),
}

/// The id of event `category/name` (`<tracefs>/events/<category>/<name>/id`).
pub(crate) fn event_id(category: &str, name: &str) -> Result<u64, EventIdError> {
    let root = tracefs_root().ok_or(EventIdError::NoTracefs)?;
    read_id(&root.join("events").join(category).join(name).join("id"))
}

fn read_id(path: &Path) -> Result<u64, EventIdError> {
    let text = fs::read_to_string(path).map_err(|e| EventIdError::Io(path.to_path_buf(), e))?;
    text.trim().parse().map_err(|_| {
        EventIdError::Io(
            path.to_path_buf(),
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an id: {text:?}"),
            ),
        )
    })
}

/// A name for a legacy probe unique in this process: `oxbpf_<pid>_<n>_<what>`, with
/// characters tracefs refuses replaced by `_`.
pub(crate) fn probe_event_name(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let clean: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(64)
        .collect();
    format!("oxbpf_{}_{n}_{clean}", std::process::id())
}

/// Creates a probe through `<root>/<events_file>` with `definition` (e.g.
/// `p:kprobes/NAME func+0x0`), and returns its id (from `events/<group>/<name>/id`) and the
/// guard that removes it.
pub(crate) fn create_dynamic_event(
    root: &Path,
    events_file: &str,
    group: &str,
    name: &str,
    definition: &str,
) -> Result<(u64, DynamicEvent), EventIdError> {
    let file = root.join(events_file);
    let mut f = OpenOptions::new()
        .append(true)
        .open(&file)
        .map_err(|e| EventIdError::Io(file.clone(), e))?;
    f.write_all(definition.as_bytes())
        .map_err(|e| EventIdError::Io(file.clone(), e))?;
    let guard = DynamicEvent {
        events_file: file,
        remove: format!("-:{group}/{name}"),
    };
    let id = read_id(&root.join("events").join(group).join(name).join("id"))?;
    Ok((id, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/a\040b"), "/a b");
        assert_eq!(unescape_mount_path(r"/plain"), "/plain");
        assert_eq!(unescape_mount_path(r"/tail\04"), r"/tail\04");
    }

    #[test]
    fn probe_names_are_unique_and_clean() {
        let a = probe_event_name("do_sys+open.x");
        let b = probe_event_name("do_sys+open.x");
        assert_ne!(a, b);
        assert!(a.ends_with("_do_sys_open_x"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
