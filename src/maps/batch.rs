//! Batch operations (`BPF_MAP_*_BATCH`, 5.6) with a per-element fallback.
//!
//! When the kernel refuses a batch command for a map type (EINVAL from kernels without the
//! command, ENOTSUPP/EOPNOTSUPP for map types without it) and the same work succeeds element
//! by element, the map type is remembered (per process, per operation) and later batches of
//! that type go straight to the per-element path. Keys and values travel packed back to
//! back, as in the kernel: `n` keys of `key_size` bytes, `n` values of
//! [`Map::value_len`] bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use crate::syscall::{
    map_delete_batch, map_lookup_and_delete_batch, map_lookup_batch, map_update_batch, BatchStatus,
    ElemFlags, SyscallError, ENOTSUPP,
};

use super::error::{MapError, Result};
use super::map::Map;

/// The batch operations, as indices of [`UNSUPPORTED`].
#[derive(Clone, Copy)]
enum Op {
    Lookup = 0,
    LookupAndDelete = 1,
    Update = 2,
    Delete = 3,
}

/// Per operation, a bit per map type (< 64) whose batch command this kernel refused.
static UNSUPPORTED: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn known_unsupported(op: Op, map: &Map) -> bool {
    let t = map.map_type().0;
    t < 64 && UNSUPPORTED[op as usize].load(Ordering::Relaxed) & (1 << t) != 0
}

fn remember_unsupported(op: Op, map: &Map) {
    let t = map.map_type().0;
    if t < 64 {
        UNSUPPORTED[op as usize].fetch_or(1 << t, Ordering::Relaxed);
    }
}

/// Whether a failed batch call may mean "no batch support here": ENOTSUPP/EOPNOTSUPP, or
/// EINVAL, having processed nothing (the kernel leaves `count` as sent, `asked`, when it
/// refuses up front, and writes how many it processed when an element fails).
fn maybe_unsupported(e: &SyscallError, count: u32, asked: u32) -> bool {
    e.code == ENOTSUPP
        || e.errno == Errno::EOPNOTSUPP
        || (e.errno == Errno::EINVAL && (count == 0 || count == asked))
}

/// Where a batch lookup continues. Start with [`BatchCursor::new`]; reuse it across calls
/// until [`BatchCursor::is_done`].
#[derive(Clone, Debug, Default)]
pub struct BatchCursor {
    state: State,
}

#[derive(Clone, Debug, Default)]
enum State {
    #[default]
    Start,
    /// The kernel's opaque batch token.
    Kernel(Vec<u8>),
    /// Per-element fallback: the last key returned.
    Elements(Vec<u8>),
    Done,
}

impl BatchCursor {
    /// A cursor at the start of the map.
    pub fn new() -> BatchCursor {
        BatchCursor::default()
    }

    /// Whether the map was exhausted.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

impl Map {
    /// How many whole elements `keys` (and `values`) can carry.
    fn batch_count(&self, keys: usize, values: Option<usize>) -> Result<u32> {
        let ks = self.key_size() as usize;
        if ks == 0 {
            return Err(MapError::Unsupported {
                map: self.name().to_string(),
                what: "batch operations on a map without keys",
            });
        }
        let mut n = keys / ks;
        if let Some(values) = values {
            n = n.min(values / self.value_len().max(1));
        }
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Looks up to `n` elements (as many as `keys`/`values` hold) from where `cursor` is;
    /// returns how many were written. Ends when `cursor.is_done()`.
    ///
    /// Hash maps return whole buckets: if a bucket holds more elements than the buffers, the
    /// kernel answers ENOSPC (retry with larger buffers).
    pub fn lookup_batch(
        &self,
        cursor: &mut BatchCursor,
        keys: &mut [u8],
        values: &mut [u8],
        flags: ElemFlags,
    ) -> Result<usize> {
        self.lookup_batch_op(Op::Lookup, cursor, keys, values, flags)
    }

    /// As [`Map::lookup_batch`], deleting the elements returned.
    pub fn lookup_and_delete_batch(
        &self,
        cursor: &mut BatchCursor,
        keys: &mut [u8],
        values: &mut [u8],
        flags: ElemFlags,
    ) -> Result<usize> {
        self.lookup_batch_op(Op::LookupAndDelete, cursor, keys, values, flags)
    }

    fn lookup_batch_op(
        &self,
        op: Op,
        cursor: &mut BatchCursor,
        keys: &mut [u8],
        values: &mut [u8],
        flags: ElemFlags,
    ) -> Result<usize> {
        let n = self.batch_count(keys.len(), Some(values.len()))?;
        if n == 0 || cursor.is_done() {
            return Ok(0);
        }
        if matches!(cursor.state, State::Start) && known_unsupported(op, self) {
            cursor.state = State::Elements(Vec::new());
        }
        let state = std::mem::replace(&mut cursor.state, State::Done);
        let token = match state {
            State::Done => return Ok(0),
            State::Elements(last) => {
                cursor.state = State::Elements(last);
                return self.lookup_elements(op, cursor, n, keys, values, flags);
            }
            State::Start => None,
            State::Kernel(token) => Some(token),
        };
        let mut out = vec![0u8; (self.key_size() as usize).max(4)];
        let mut count = n;
        let call = match op {
            Op::Lookup => map_lookup_batch,
            _ => map_lookup_and_delete_batch,
        };
        match call(
            self.map_fd(),
            token.as_deref(),
            &mut out,
            keys,
            values,
            &mut count,
            flags,
        ) {
            Ok(BatchStatus::More) => cursor.state = State::Kernel(out),
            Ok(BatchStatus::Done) => cursor.state = State::Done,
            Err(e) if token.is_none() && maybe_unsupported(&e, count, n) => {
                cursor.state = State::Elements(Vec::new());
                let got = self.lookup_elements(op, cursor, n, keys, values, flags)?;
                remember_unsupported(op, self);
                return Ok(got);
            }
            Err(e) => {
                cursor.state = match token {
                    Some(t) => State::Kernel(t),
                    None => State::Start,
                };
                return Err(self.sys(e));
            }
        }
        Ok(count as usize)
    }

    /// The per-element lookup path: `next_key` from the cursor's last key, then a lookup
    /// (and delete) per element.
    fn lookup_elements(
        &self,
        op: Op,
        cursor: &mut BatchCursor,
        n: u32,
        keys: &mut [u8],
        values: &mut [u8],
        flags: ElemFlags,
    ) -> Result<usize> {
        let ks = self.key_size() as usize;
        let vs = self.value_len();
        let State::Elements(last) = &mut cursor.state else {
            return Ok(0);
        };
        let mut prev = std::mem::take(last);
        let mut got = 0usize;
        while got < n as usize {
            let (key, value) = (
                &mut keys[got * ks..(got + 1) * ks],
                &mut values[got * vs..(got + 1) * vs],
            );
            // Deleting as we go: always take the first key.
            let from = match op {
                Op::LookupAndDelete => None,
                _ => (!prev.is_empty()).then_some(prev.as_slice()),
            };
            if !self.next_key(from, key)? {
                cursor.state = State::Done;
                return Ok(got);
            }
            prev.clear();
            prev.extend_from_slice(key);
            let found = match op {
                Op::LookupAndDelete => {
                    let found = self.lookup(key, value, flags)?;
                    self.delete(key)?;
                    found
                }
                _ => self.lookup(key, value, flags)?,
            };
            if found {
                got += 1;
            }
        }
        cursor.state = State::Elements(prev);
        Ok(got)
    }

    /// Sets as many elements as `keys`/`values` hold; returns how many.
    pub fn update_batch(&self, keys: &[u8], values: &[u8], flags: ElemFlags) -> Result<usize> {
        let n = self.batch_count(keys.len(), Some(values.len()))?;
        if n == 0 {
            return Ok(0);
        }
        let (ks, vs) = (self.key_size() as usize, self.value_len());
        let per_element = |upto: usize| -> Result<usize> {
            for i in 0..upto {
                self.update(
                    &keys[i * ks..(i + 1) * ks],
                    &values[i * vs..(i + 1) * vs],
                    flags,
                )?;
            }
            Ok(upto)
        };
        if known_unsupported(Op::Update, self) {
            return per_element(n as usize);
        }
        let mut count = n;
        match map_update_batch(self.map_fd(), keys, values, &mut count, flags) {
            Ok(()) => Ok(count as usize),
            Err(e) if maybe_unsupported(&e, count, n) => {
                let done = per_element(n as usize)?;
                remember_unsupported(Op::Update, self);
                Ok(done)
            }
            Err(e) => Err(self.sys(e)),
        }
    }

    /// Deletes the keys of `keys`; returns how many. A missing key is an error (ENOENT) in
    /// both paths, after the keys before it were deleted.
    pub fn delete_batch(&self, keys: &[u8], flags: ElemFlags) -> Result<usize> {
        let n = self.batch_count(keys.len(), None)?;
        if n == 0 {
            return Ok(0);
        }
        let ks = self.key_size() as usize;
        let per_element = |upto: usize| -> Result<usize> {
            for i in 0..upto {
                let key = &keys[i * ks..(i + 1) * ks];
                if !self.delete(key)? {
                    return Err(self.sys(SyscallError::new(
                        crate::syscall::Call::Bpf(crate::syscall::Command::MAP_DELETE_ELEM),
                        Errno::ENOENT,
                    )));
                }
            }
            Ok(upto)
        };
        if known_unsupported(Op::Delete, self) {
            return per_element(n as usize);
        }
        let mut count = n;
        match map_delete_batch(self.map_fd(), keys, &mut count, flags) {
            Ok(()) => Ok(count as usize),
            Err(e) if maybe_unsupported(&e, count, n) => {
                let done = per_element(n as usize)?;
                remember_unsupported(Op::Delete, self);
                Ok(done)
            }
            Err(e) => Err(self.sys(e)),
        }
    }
}

/// Whether this process fell back to per-element calls for `op` batches of `map`'s type
/// (for tests and diagnostics).
pub fn batch_fallback_active(map: &Map) -> [bool; 4] {
    [Op::Lookup, Op::LookupAndDelete, Op::Update, Op::Delete].map(|op| known_unsupported(op, map))
}
