//! Tracepoints need tracefs (their ids live under `events/`); a fresh machine may not have
//! it mounted.

use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::exit::{Code, Failure};

/// Where tracefs goes when nothing mounted it.
const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Makes sure tracefs is mounted; mounts it at `/sys/kernel/tracing` when it is not and
/// says so on stderr.
pub fn ensure() -> Result<(), Failure> {
    if oxbpf::programs::tracefs_root().is_some() {
        return Ok(());
    }
    let target = Path::new(MOUNT_POINT);
    mount(
        Some("nodev"),
        target,
        Some("tracefs"),
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
            format!("tracefs is not mounted and mounting it at {MOUNT_POINT} failed: {e}"),
        )
        .detail("tracepoints need it: mount -t tracefs nodev /sys/kernel/tracing")
    })?;
    eprintln!("oxbpf: tracefs was not mounted; mounted it at {MOUNT_POINT}");
    Ok(())
}
