//! [`LpmTrie`] (`LPM_TRIE`): longest-prefix-match keys (`u32` prefix length in bits, then
//! the data, e.g. an address in network byte order).

use std::borrow::Borrow;
use std::marker::PhantomData;

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::Result;
use super::map::Map;
use super::view::{check, view_impls, Types};

/// The most bytes of data an LPM key holds (`LPM_DATA_SIZE_MAX`).
pub const LPM_DATA_MAX: usize = 256;

/// A key of an [`LpmTrie`]: the first `prefix_len` bits of `data` matter.
///
/// In the map it is `struct bpf_lpm_trie_key_u8 { __u32 prefixlen; __u8 data[]; }`: the
/// prefix length, then `data`'s bytes with no padding in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LpmKey<K> {
    /// Significant bits of `data`.
    pub prefix_len: u32,
    /// The data (for IP addresses: network byte order, e.g. `[u8; 4]`).
    pub data: K,
}

impl<K: Pod> LpmKey<K> {
    /// A key of `prefix_len` bits of `data`.
    pub fn new(prefix_len: u32, data: K) -> LpmKey<K> {
        LpmKey { prefix_len, data }
    }

    /// A full-length key (every bit of `data`): what a lookup asks for.
    pub fn exact(data: K) -> LpmKey<K> {
        LpmKey {
            prefix_len: (size_of::<K>() * 8) as u32,
            data,
        }
    }

    fn encode(&self, buf: &mut [u8; 4 + LPM_DATA_MAX]) -> usize {
        let n = 4 + size_of::<K>();
        buf[..4].copy_from_slice(&self.prefix_len.to_ne_bytes());
        buf[4..n].copy_from_slice(self.data.as_bytes());
        n
    }

    fn decode(bytes: &[u8]) -> Option<LpmKey<K>> {
        let prefix = u32::from_bytes(bytes)?;
        Some(LpmKey {
            prefix_len: prefix,
            data: K::from_bytes(bytes.get(4..)?)?,
        })
    }
}

/// A longest-prefix-match trie with `LpmKey<K>` keys and `V` values. Lookups return the value
/// of the longest stored prefix that matches the key.
///
/// ```no_run
/// use oxbpf::maps::{LpmKey, LpmTrie, MapSpec};
/// use oxbpf::syscall::{ElemFlags, MapFlags, MapType};
///
/// let map = MapSpec::new(MapType::LPM_TRIE).key_size(8).value::<u32>().max_entries(16)
///     .flags(MapFlags::NO_PREALLOC).create()?;
/// let routes = LpmTrie::<[u8; 4], u32>::new(map)?;
/// routes.insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, ElemFlags::ANY)?;
/// routes.insert(&LpmKey::new(24, [10, 1, 2, 0]), &2, ElemFlags::ANY)?;
/// assert_eq!(routes.get(&LpmKey::exact([10, 1, 2, 3]))?, Some(2));
/// assert_eq!(routes.get(&LpmKey::exact([10, 9, 9, 9]))?, Some(1));
/// # Ok::<(), oxbpf::maps::MapError>(())
/// ```
#[derive(Debug)]
pub struct LpmTrie<K, V, M = Map> {
    map: M,
    _types: Types<(K, V)>,
}

view_impls!(LpmTrie[K, V]);

impl<K: Pod, V: Pod, M: Borrow<Map>> LpmTrie<K, V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::LPM_TRIE];

    /// A view of `map`, an LPM trie with `4 + size_of::<K>()`-byte keys and `V` values.
    /// `K` holds at most [`LPM_DATA_MAX`] bytes.
    pub fn new(map: M) -> Result<Self> {
        let data = size_of::<K>().min(LPM_DATA_MAX + 1);
        check(
            map.borrow(),
            Self::TYPES,
            Some(4 + data),
            Some(size_of::<V>()),
        )?;
        Ok(LpmTrie {
            map,
            _types: PhantomData,
        })
    }

    /// The value of the longest stored prefix matching `key`; `None` if none matches.
    pub fn get(&self, key: &LpmKey<K>) -> Result<Option<V>> {
        let mut buf = [0u8; 4 + LPM_DATA_MAX];
        let n = key.encode(&mut buf);
        let mut value = V::zeroed();
        Ok(self
            .map
            .borrow()
            .lookup(&buf[..n], value.as_bytes_mut(), ElemFlags::ANY)?
            .then_some(value))
    }

    /// Stores `value` for the prefix `key`.
    pub fn insert(&self, key: &LpmKey<K>, value: &V, flags: ElemFlags) -> Result<()> {
        let mut buf = [0u8; 4 + LPM_DATA_MAX];
        let n = key.encode(&mut buf);
        self.map.borrow().update(&buf[..n], value.as_bytes(), flags)
    }

    /// Deletes the prefix `key` (exactly that prefix); `Ok(false)` if absent.
    pub fn remove(&self, key: &LpmKey<K>) -> Result<bool> {
        let mut buf = [0u8; 4 + LPM_DATA_MAX];
        let n = key.encode(&mut buf);
        self.map.borrow().delete(&buf[..n])
    }

    /// The stored prefixes (the kernel walks the trie in post-order, 4.20+).
    pub fn keys(&self) -> impl Iterator<Item = Result<LpmKey<K>>> + '_ {
        let map = self.map.borrow();
        let n = map.key_size() as usize;
        let mut prev: Option<[u8; 4 + LPM_DATA_MAX]> = None;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let mut next = [0u8; 4 + LPM_DATA_MAX];
            let from = prev.as_ref().map(|p| &p[..n]);
            match map.next_key(from, &mut next[..n]) {
                Ok(true) => {
                    prev = Some(next);
                    LpmKey::decode(&next[..n]).map(Ok)
                }
                Ok(false) => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }
}
