//! Batch element commands (5.6): `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
//! `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`.
//!
//! Keys and values travel packed back to back: `count` keys of `key_size` bytes and `count`
//! values of [`MapFd::value_len_for`] bytes. `count` is in/out, as in the kernel: in, how
//! many elements the buffers hold room for (or carry); out, how many were processed (also
//! when the call fails part way).
//!
//! ```no_run
//! use oxbpf::syscall::*;
//! # fn f(map: &MapFd) -> Result<()> {
//! let (ks, vs) = (map.layout().key_size as usize, map.value_len());
//! let (mut keys, mut values) = (vec![0u8; 64 * ks], vec![0u8; 64 * vs]);
//! let mut token = vec![0u8; ks.max(4)];
//! let mut next: Option<Vec<u8>> = None;
//! loop {
//!     let mut count = 64;
//!     let status = map_lookup_batch(map, next.as_deref(), &mut token, &mut keys,
//!         &mut values, &mut count, ElemFlags::ANY)?;
//!     // ... use the first `count` keys and values ...
//!     if status == BatchStatus::Done { break; }
//!     next = Some(token.clone());
//! }
//! # Ok(()) }
//! ```

use std::os::fd::AsFd;

use nix::errno::Errno;

use super::error::Result;
use super::fd::raw_u32;
use super::flags::ElemFlags;
use super::map::{check_len, MapFd};
use super::sys::{bpf_value, mut_ptr_u64, ptr_u64, Attr, Pod, Sealed};
use super::types::Command;
use super::version::{field, Field};

/// The `batch` member of `union bpf_attr` (56 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct BatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

impl Sealed for BatchAttr {}
// SAFETY: repr(C), integer fields, no padding (offsets checked in tests).
unsafe impl Pod for BatchAttr {}
impl Attr for BatchAttr {
    const FIELDS: &'static [Field] = &[
        field("in_batch", 0, 5, 6),
        field("out_batch", 8, 5, 6),
        field("keys", 16, 5, 6),
        field("values", 24, 5, 6),
        field("count", 32, 5, 6),
        field("map_fd", 36, 5, 6),
        field("elem_flags", 40, 5, 6),
        field("flags", 48, 5, 6),
    ];
}

/// Whether a batch lookup reached the end of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    /// More elements follow: call again with `in_batch` = this call's `out_batch`.
    More,
    /// The map is exhausted (the kernel's ENOENT); `count` may still be non-zero.
    Done,
}

/// Checks that a buffer holds at least `count` records of `rec` bytes.
fn check_room(cmd: Command, what: &'static str, count: u32, rec: usize, len: usize) -> Result<()> {
    let need = (count as usize).saturating_mul(rec);
    if len >= need {
        Ok(())
    } else {
        check_len(cmd, what, need, len)
    }
}

/// The batch token size: hash maps use a 4-byte bucket index, arrays a key.
fn token_len(map: &MapFd) -> usize {
    (map.layout().key_size as usize).max(4)
}

#[allow(clippy::too_many_arguments)]
fn lookup(
    cmd: Command,
    map: &MapFd,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: ElemFlags,
) -> Result<BatchStatus> {
    let token = token_len(map);
    if let Some(t) = in_batch {
        check_room(cmd, "in_batch", 1, token, t.len())?;
    }
    check_room(cmd, "out_batch", 1, token, out_batch.len())?;
    check_room(
        cmd,
        "keys",
        *count,
        map.layout().key_size as usize,
        keys.len(),
    )?;
    check_room(
        cmd,
        "values",
        *count,
        map.value_len_for(elem_flags),
        values.len(),
    )?;
    let mut attr = BatchAttr {
        in_batch: in_batch.map_or(0, ptr_u64),
        out_batch: mut_ptr_u64(out_batch),
        keys: mut_ptr_u64(keys),
        values: mut_ptr_u64(values),
        count: *count,
        map_fd: raw_u32(map.as_fd()),
        elem_flags: elem_flags.bits(),
        flags: 0,
    };
    // SAFETY: `in_batch`/`out_batch` hold at least a batch token (max(key_size, 4) bytes);
    // `keys` and `values` hold room for `count` keys and values of this map's sizes (checked
    // above); all are borrowed (the outputs exclusively) for the call.
    let result = unsafe { bpf_value(cmd, &mut attr) };
    *count = attr.count;
    match result {
        Ok(_) => Ok(BatchStatus::More),
        Err(e) if e.errno == Errno::ENOENT => Ok(BatchStatus::Done),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_BATCH`: copies up to `count` elements, starting after `in_batch` (`None`:
/// from the start), into `keys`/`values`, and the position to continue from into
/// `out_batch` (at least `max(key_size, 4)` bytes).
#[allow(clippy::too_many_arguments)]
pub fn map_lookup_batch(
    map: &MapFd,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: ElemFlags,
) -> Result<BatchStatus> {
    let cmd = Command::MAP_LOOKUP_BATCH;
    lookup(
        cmd, map, in_batch, out_batch, keys, values, count, elem_flags,
    )
}

/// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`: as [`map_lookup_batch`], deleting what it returns.
#[allow(clippy::too_many_arguments)]
pub fn map_lookup_and_delete_batch(
    map: &MapFd,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: ElemFlags,
) -> Result<BatchStatus> {
    let cmd = Command::MAP_LOOKUP_AND_DELETE_BATCH;
    lookup(
        cmd, map, in_batch, out_batch, keys, values, count, elem_flags,
    )
}

/// `BPF_MAP_UPDATE_BATCH`: sets `count` elements from `keys`/`values`.
pub fn map_update_batch(
    map: &MapFd,
    keys: &[u8],
    values: &[u8],
    count: &mut u32,
    elem_flags: ElemFlags,
) -> Result<()> {
    let cmd = Command::MAP_UPDATE_BATCH;
    check_room(
        cmd,
        "keys",
        *count,
        map.layout().key_size as usize,
        keys.len(),
    )?;
    check_room(
        cmd,
        "values",
        *count,
        map.value_len_for(elem_flags),
        values.len(),
    )?;
    let mut attr = BatchAttr {
        keys: ptr_u64(keys),
        values: ptr_u64(values),
        count: *count,
        map_fd: raw_u32(map.as_fd()),
        elem_flags: elem_flags.bits(),
        ..Default::default()
    };
    // SAFETY: `keys`/`values` hold `count` keys and values of this map's sizes (checked
    // above), borrowed for the call; the kernel only reads them.
    let result = unsafe { bpf_value(cmd, &mut attr) };
    *count = attr.count;
    result.map(drop)
}

/// `BPF_MAP_DELETE_BATCH`: deletes the `count` keys of `keys`.
pub fn map_delete_batch(
    map: &MapFd,
    keys: &[u8],
    count: &mut u32,
    elem_flags: ElemFlags,
) -> Result<()> {
    let cmd = Command::MAP_DELETE_BATCH;
    check_room(
        cmd,
        "keys",
        *count,
        map.layout().key_size as usize,
        keys.len(),
    )?;
    let mut attr = BatchAttr {
        keys: ptr_u64(keys),
        count: *count,
        map_fd: raw_u32(map.as_fd()),
        elem_flags: elem_flags.bits(),
        ..Default::default()
    };
    // SAFETY: `keys` holds `count` keys of this map's key size (checked above), borrowed for
    // the call; the kernel only reads it.
    let result = unsafe { bpf_value(cmd, &mut attr) };
    *count = attr.count;
    result.map(drop)
}
