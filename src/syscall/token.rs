//! `BPF_TOKEN_CREATE` (6.9): delegated BPF permissions from a bpffs mounted with
//! `delegate_*` options.

use std::os::fd::{BorrowedFd, OwnedFd};

use super::error::Result;
use super::fd::raw_u32;
use super::sys::{bpf_fd, Attr, Pod, Sealed};
use super::types::Command;
use super::version::{field, Field};

/// The `token_create` member of `union bpf_attr` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TokenCreateAttr {
    pub flags: u32,
    pub bpffs_fd: u32,
}

impl Sealed for TokenCreateAttr {}
// SAFETY: repr(C), two u32s.
unsafe impl Pod for TokenCreateAttr {}
impl Attr for TokenCreateAttr {
    const FIELDS: &'static [Field] = &[field("flags", 0, 6, 9), field("bpffs_fd", 4, 6, 9)];
}

/// `BPF_TOKEN_CREATE`: a token from the bpffs root directory `bpffs` (opened `O_PATH` or
/// read-only). Pass it as `token_fd` to map creation, program and BTF loads.
pub fn token_create(bpffs: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut attr = TokenCreateAttr {
        flags: 0,
        bpffs_fd: raw_u32(bpffs),
    };
    // SAFETY: no pointers; the command returns a new fd.
    unsafe { bpf_fd(Command::TOKEN_CREATE, &mut attr) }
}
