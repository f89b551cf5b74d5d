//! The file systems BPF needs and a fresh machine may not have mounted: tracefs
//! (tracepoint ids live under `events/`) and bpffs (pinned maps). When one is missing it is
//! mounted where tools expect it, and the user is told.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, BPF_FS_MAGIC};

use crate::exit::{Code, Failure};

/// Where tracefs goes when nothing mounted it.
const TRACEFS: &str = "/sys/kernel/tracing";

fn mount_fs(fstype: &str, dir: &Path, why: &str) -> Result<(), Failure> {
    mount(
        Some(fstype),
        dir,
        Some(fstype),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        let code = if e == nix::errno::Errno::EPERM {
            Code::Privileges
        } else {
            Code::Failure
        };
        Failure::new(
            code,
            format!(
                "{fstype} is not mounted at {} and mounting it failed: {e}",
                dir.display()
            ),
        )
        .detail(format!(
            "{why}: mount -t {fstype} {fstype} {}",
            dir.display()
        ))
    })?;
    eprintln!(
        "oxbpf: {fstype} was not mounted; mounted it at {}",
        dir.display()
    );
    Ok(())
}

/// Makes sure tracefs is mounted; mounts it at `/sys/kernel/tracing` when it is not.
pub fn ensure_tracefs() -> Result<(), Failure> {
    if oxbpf::programs::tracefs_root().is_some() {
        return Ok(());
    }
    let mounted = std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("tracefs"))
    });
    if mounted {
        // Mounted, but this process may not look inside (it is root-only).
        return Err(Failure::new(
            Code::Privileges,
            format!("cannot read tracefs at {TRACEFS}: tracepoints need root"),
        ));
    }
    mount_fs("tracefs", Path::new(TRACEFS), "tracepoints need it")
}

/// Makes sure `dir` (a pin root) is on a bpffs; mounts one there when the directory is not
/// (only on an empty or new directory).
pub fn ensure_bpffs(dir: &Path) -> Result<(), Failure> {
    match statfs(dir) {
        Ok(s) if s.filesystem_type() == BPF_FS_MAGIC => return Ok(()),
        Ok(_) => {
            // Never hide files by mounting over them.
            let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
            if !empty {
                return Err(Failure::new(
                    Code::Failure,
                    format!("the pin directory {} is not on a bpffs", dir.display()),
                )
                .detail(format!(
                    "pass a directory under a bpffs, or mount one: mount -t bpf bpf {}",
                    dir.display()
                )));
            }
        }
        Err(nix::errno::Errno::ENOENT) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::new(
                    Code::Failure,
                    format!("cannot create the pin directory {}: {e}", dir.display()),
                )
            })?;
            // A new directory inside a bpffs is on it.
            if statfs(dir).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC) {
                return Ok(());
            }
        }
        Err(e) => {
            return Err(Failure::new(
                Code::Failure,
                format!("cannot look at the pin directory {}: {e}", dir.display()),
            ))
        }
    }
    mount_fs("bpf", dir, "pinned maps need a bpffs")
}
