//! Socket maps: [`SockMap`] (`SOCKMAP`, indexed) and [`SockHash`] (`SOCKHASH`, keyed), the
//! redirect targets of sk_skb/sk_msg programs (`bpf_sk_redirect_map`,
//! `bpf_msg_redirect_hash`, ...).
//!
//! User space inserts a socket by fd (TCP, UDP, or Unix stream/dgram sockets). With 8-byte
//! values, lookups return the socket's cookie (`SO_COOKIE`); with 4-byte values they cannot
//! be looked up from user space.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::{MapError, Result};
use super::map::Map;
use super::view::{view_impls, TypedKeys, Types};

/// The value bytes for socket `fd` in a map with 4- or 8-byte values.
fn sock_value(map: &Map, fd: impl AsFd) -> ([u8; 8], usize) {
    let raw = u64::from(fd.as_fd().as_raw_fd() as u32);
    let n = if map.value_size() == 8 { 8 } else { 4 };
    let mut out = [0u8; 8];
    out[..n].copy_from_slice(&raw.to_ne_bytes()[..n]);
    (out, n)
}

fn check_sock(map: &Map, types: &'static [MapType], key: usize) -> Result<()> {
    super::view::check(map, types, Some(key), None)?;
    if !matches!(map.value_size(), 4 | 8) {
        return Err(MapError::SizeMismatch {
            map: map.name().to_string(),
            what: "value",
            expected: 8,
            actual: map.value_size() as usize,
        });
    }
    Ok(())
}

fn cookie(map: &Map, key: &[u8]) -> Result<Option<u64>> {
    if map.value_size() != 8 {
        return Err(MapError::Unsupported {
            map: map.name().to_string(),
            what: "reading socket cookies with 4-byte values",
        });
    }
    let mut v = [0u8; 8];
    Ok(map
        .lookup(key, &mut v, ElemFlags::ANY)?
        .then(|| u64::from_ne_bytes(v)))
}

/// An array of sockets (`SOCKMAP`), indexed by `u32`.
#[derive(Debug)]
pub struct SockMap<M = Map> {
    map: M,
}

view_impls!(SockMap[]);

impl<M: Borrow<Map>> SockMap<M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::SOCKMAP];

    /// A view of `map` (4-byte keys, 4- or 8-byte values).
    pub fn new(map: M) -> Result<Self> {
        check_sock(map.borrow(), Self::TYPES, 4)?;
        Ok(SockMap { map })
    }

    /// Stores socket `fd` at slot `i` (`flags`: `ANY`, `NOEXIST`, `EXIST`).
    pub fn set(&self, i: u32, fd: impl AsFd, flags: ElemFlags) -> Result<()> {
        let map = self.map.borrow();
        let (v, n) = sock_value(map, fd);
        map.update(&i.to_ne_bytes(), &v[..n], flags)
    }

    /// Removes the socket at slot `i`; `Ok(false)` if empty.
    pub fn clear(&self, i: u32) -> Result<bool> {
        let map = self.map.borrow();
        if i >= map.max_entries() {
            return Err(MapError::OutOfBounds {
                map: map.name().to_string(),
                what: "index",
                offset: i.into(),
                size: 1,
                limit: map.max_entries().into(),
            });
        }
        // The kernel answers EINVAL (not ENOENT) for an empty slot in range.
        match map.delete(&i.to_ne_bytes()) {
            Err(e)
                if e.syscall()
                    .is_some_and(|s| s.errno == nix::errno::Errno::EINVAL) =>
            {
                Ok(false)
            }
            other => other,
        }
    }

    /// The cookie of the socket at slot `i` (8-byte values only); `None` if empty.
    pub fn cookie(&self, i: u32) -> Result<Option<u64>> {
        cookie(self.map.borrow(), &i.to_ne_bytes())
    }
}

/// A hash of sockets (`SOCKHASH`) with keys `K`.
#[derive(Debug)]
pub struct SockHash<K, M = Map> {
    map: M,
    _types: Types<K>,
}

view_impls!(SockHash[K]);

impl<K: Pod, M: Borrow<Map>> SockHash<K, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::SOCKHASH];

    /// A view of `map` (`K` keys, 4- or 8-byte values).
    pub fn new(map: M) -> Result<Self> {
        check_sock(map.borrow(), Self::TYPES, size_of::<K>())?;
        Ok(SockHash {
            map,
            _types: PhantomData,
        })
    }

    /// Stores socket `fd` under `key`.
    pub fn insert(&self, key: &K, fd: impl AsFd, flags: ElemFlags) -> Result<()> {
        let map = self.map.borrow();
        let (v, n) = sock_value(map, fd);
        map.update(key.as_bytes(), &v[..n], flags)
    }

    /// Removes `key`; `Ok(false)` if absent.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.borrow().delete(key.as_bytes())
    }

    /// The cookie of the socket under `key` (8-byte values only); `None` if absent.
    pub fn cookie(&self, key: &K) -> Result<Option<u64>> {
        cookie(self.map.borrow(), key.as_bytes())
    }

    /// The keys.
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map.borrow())
    }
}
