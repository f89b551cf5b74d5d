//! `BPF_ENABLE_STATS` (5.8): turns on run-time statistics while the returned fd is open.

use std::os::fd::OwnedFd;

use super::error::Result;
use super::sys::{bpf_fd, Attr, Pod, Sealed};
use super::types::{Command, StatsType};
use super::version::{field, Field};

/// The `enable_stats` member of `union bpf_attr` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnableStatsAttr {
    /// `type`.
    pub type_: u32,
}

impl Sealed for EnableStatsAttr {}
// SAFETY: repr(C), one u32.
unsafe impl Pod for EnableStatsAttr {}
impl Attr for EnableStatsAttr {
    const FIELDS: &'static [Field] = &[field("type", 0, 5, 8)];
}

/// `BPF_ENABLE_STATS`: enables `kind` statistics (`run_time_ns`, `run_cnt` in
/// [`ProgInfo`](super::ProgInfo)) until the returned fd is closed.
pub fn enable_stats(kind: StatsType) -> Result<OwnedFd> {
    let mut attr = EnableStatsAttr { type_: kind.0 };
    // SAFETY: no pointers; the command returns a new fd.
    unsafe { bpf_fd(Command::ENABLE_STATS, &mut attr) }
}
