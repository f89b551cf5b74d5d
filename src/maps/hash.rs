//! [`HashMap`] (`HASH`, `LRU_HASH`) and [`PerCpuHashMap`] (`PERCPU_HASH`,
//! `LRU_PERCPU_HASH`).

use std::borrow::Borrow;
use std::marker::PhantomData;

use crate::syscall::{slice_as_bytes, slice_as_bytes_mut, ElemFlags, MapType, Pod};

use super::batch::BatchCursor;
use super::error::{MapError, Result};
use super::map::Map;
use super::percpu::PerCpuValues;
use super::view::{check, get, view_impls, Entries, TypedKeys, Types};

/// A hash map (`HASH` or `LRU_HASH`) with keys `K` and values `V`, over an owned or borrowed
/// [`Map`].
///
/// ```no_run
/// use oxbpf::maps::{HashMap, MapSpec};
/// use oxbpf::syscall::{ElemFlags, MapType};
///
/// let map = MapSpec::new(MapType::HASH).key::<u32>().value::<u64>().max_entries(64).create()?;
/// let counts = HashMap::<u32, u64>::new(map)?;
/// counts.insert(&7, &1, ElemFlags::ANY)?;
/// assert_eq!(counts.get(&7)?, Some(1));
/// for entry in counts.iter() {
///     let (pid, n) = entry?;
///     println!("{pid}: {n}");
/// }
/// # Ok::<(), oxbpf::maps::MapError>(())
/// ```
#[derive(Debug)]
pub struct HashMap<K, V, M = Map> {
    map: M,
    _types: Types<(K, V)>,
}

view_impls!(HashMap[K, V]);

impl<K: Pod, V: Pod, M: Borrow<Map>> HashMap<K, V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::HASH, MapType::LRU_HASH];

    /// A view of `map`, which must be a hash map with `K`-sized keys and `V`-sized values.
    pub fn new(map: M) -> Result<Self> {
        check(
            map.borrow(),
            Self::TYPES,
            Some(size_of::<K>()),
            Some(size_of::<V>()),
        )?;
        Ok(HashMap {
            map,
            _types: PhantomData,
        })
    }

    /// The value of `key`; `None` if absent.
    #[inline]
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        get(self.map.borrow(), key, ElemFlags::ANY)
    }

    /// The value of `key` with lookup flags (`LOCK` for values with a `bpf_spin_lock`).
    #[inline]
    pub fn get_with(&self, key: &K, flags: ElemFlags) -> Result<Option<V>> {
        get(self.map.borrow(), key, flags)
    }

    /// Sets `key` to `value` (`flags`: `ANY`, `NOEXIST`, `EXIST`, optionally `LOCK`).
    #[inline]
    pub fn insert(&self, key: &K, value: &V, flags: ElemFlags) -> Result<()> {
        self.map
            .borrow()
            .update(key.as_bytes(), value.as_bytes(), flags)
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    #[inline]
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.borrow().delete(key.as_bytes())
    }

    /// Deletes `key` and returns its value (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`, 5.14 for hash
    /// maps); `None` if absent.
    pub fn take(&self, key: &K) -> Result<Option<V>> {
        let mut value = V::zeroed();
        Ok(self
            .map
            .borrow()
            .lookup_and_delete(Some(key.as_bytes()), value.as_bytes_mut(), ElemFlags::ANY)?
            .then_some(value))
    }

    /// The keys (see [`Map::keys`] for what concurrent deletion does).
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map.borrow())
    }

    /// The `(key, value)` pairs.
    pub fn iter(&self) -> Entries<'_, K, V> {
        Entries::new(self.map.borrow())
    }

    /// Batch lookup into `keys`/`values` (up to the shorter length) from `cursor`; returns
    /// how many were filled. Falls back to per-element calls where the kernel lacks batches.
    pub fn get_batch(
        &self,
        cursor: &mut BatchCursor,
        keys: &mut [K],
        values: &mut [V],
    ) -> Result<usize> {
        self.map.borrow().lookup_batch(
            cursor,
            slice_as_bytes_mut(keys),
            slice_as_bytes_mut(values),
            ElemFlags::ANY,
        )
    }

    /// As [`HashMap::get_batch`], deleting what it returns.
    pub fn take_batch(
        &self,
        cursor: &mut BatchCursor,
        keys: &mut [K],
        values: &mut [V],
    ) -> Result<usize> {
        self.map.borrow().lookup_and_delete_batch(
            cursor,
            slice_as_bytes_mut(keys),
            slice_as_bytes_mut(values),
            ElemFlags::ANY,
        )
    }

    /// Sets `keys[i]` to `values[i]` (up to the shorter length); returns how many.
    pub fn insert_batch(&self, keys: &[K], values: &[V], flags: ElemFlags) -> Result<usize> {
        self.map
            .borrow()
            .update_batch(slice_as_bytes(keys), slice_as_bytes(values), flags)
    }

    /// Deletes `keys`; returns how many.
    pub fn remove_batch(&self, keys: &[K]) -> Result<usize> {
        self.map
            .borrow()
            .delete_batch(slice_as_bytes(keys), ElemFlags::ANY)
    }

    /// Every entry, read with batch lookups of `chunk` elements (per-element where batches
    /// are unsupported); buffers grow when a hash bucket does not fit.
    pub fn collect_batched(&self, chunk: usize) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        let mut chunk = chunk.max(1);
        let mut keys = vec![K::zeroed(); chunk];
        let mut values = vec![V::zeroed(); chunk];
        let mut cursor = BatchCursor::new();
        while !cursor.is_done() {
            match self.get_batch(&mut cursor, &mut keys, &mut values) {
                Ok(n) => out.extend(keys[..n].iter().copied().zip(values[..n].iter().copied())),
                Err(e) if is_enospc(&e) && chunk < (1 << 24) => {
                    chunk *= 2;
                    keys.resize(chunk, K::zeroed());
                    values.resize(chunk, V::zeroed());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn is_enospc(e: &MapError) -> bool {
    e.syscall()
        .is_some_and(|s| s.errno == nix::errno::Errno::ENOSPC)
}

/// A per-CPU hash map (`PERCPU_HASH` or `LRU_PERCPU_HASH`): each key holds one `V` per
/// possible CPU.
#[derive(Debug)]
pub struct PerCpuHashMap<K, V, M = Map> {
    map: M,
    _types: Types<(K, V)>,
}

view_impls!(PerCpuHashMap[K, V]);

impl<K: Pod, V: Pod, M: Borrow<Map>> PerCpuHashMap<K, V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::PERCPU_HASH, MapType::LRU_PERCPU_HASH];

    /// A view of `map`, which must be a per-CPU hash map with `K` keys and `V` values.
    pub fn new(map: M) -> Result<Self> {
        check(
            map.borrow(),
            Self::TYPES,
            Some(size_of::<K>()),
            Some(size_of::<V>()),
        )?;
        Ok(PerCpuHashMap {
            map,
            _types: PhantomData,
        })
    }

    /// Every CPU's value of `key`; `None` if absent.
    pub fn get(&self, key: &K) -> Result<Option<PerCpuValues<V>>> {
        let mut values = PerCpuValues::zeroed()?;
        Ok(self.get_into(key, &mut values)?.then_some(values))
    }

    /// Every CPU's value of `key` into `values` (no allocation); `Ok(false)` if absent.
    #[inline]
    pub fn get_into(&self, key: &K, values: &mut PerCpuValues<V>) -> Result<bool> {
        self.map
            .borrow()
            .lookup(key.as_bytes(), values.as_bytes_mut(), ElemFlags::ANY)
    }

    /// Sets every CPU's value of `key`.
    #[inline]
    pub fn insert(&self, key: &K, values: &PerCpuValues<V>, flags: ElemFlags) -> Result<()> {
        self.map
            .borrow()
            .update(key.as_bytes(), values.as_bytes(), flags)
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.borrow().delete(key.as_bytes())
    }

    /// The keys.
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map.borrow())
    }

    /// The `(key, values)` pairs (one allocation per entry for the values).
    pub fn iter(&self) -> impl Iterator<Item = Result<(K, PerCpuValues<V>)>> + '_ {
        self.keys().filter_map(move |k| match k {
            Ok(k) => match self.get(&k) {
                Ok(Some(v)) => Some(Ok((k, v))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        })
    }
}
