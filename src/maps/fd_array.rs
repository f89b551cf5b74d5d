//! Maps whose values user space writes as file descriptors: [`ProgArray`] (tail calls),
//! [`ArrayOfMaps`]/[`HashOfMaps`], [`CgroupArray`] and [`PerfEventArray`].
//!
//! An update stores the object behind the fd (the map takes its own reference; the fd may
//! be closed afterwards). Lookups of program arrays and maps of maps return the object's
//! kernel id; perf event and cgroup arrays cannot be looked up from user space.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::{MapError, Result};
use super::map::Map;
use super::view::{check, view_impls, Types};

fn fd_value(fd: impl AsFd) -> [u8; 4] {
    (fd.as_fd().as_raw_fd() as u32).to_ne_bytes()
}

fn index(map: &Map, i: u32) -> Result<[u8; 4]> {
    if i < map.max_entries() {
        Ok(i.to_ne_bytes())
    } else {
        Err(MapError::OutOfBounds {
            map: map.name().to_string(),
            what: "index",
            offset: i.into(),
            size: 1,
            limit: map.max_entries().into(),
        })
    }
}

fn lookup_id(map: &Map, key: &[u8]) -> Result<Option<u32>> {
    let mut id = [0u8; 4];
    Ok(map
        .lookup(key, &mut id, ElemFlags::ANY)?
        .then(|| u32::from_ne_bytes(id)))
}

macro_rules! fd_array {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $what:literal, $lookup:tt) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<M = Map> {
            map: M,
        }

        view_impls!($name[]);

        impl<M: Borrow<Map>> $name<M> {
            /// The map types this view accepts.
            pub const TYPES: &'static [MapType] = &[$ty];

            /// A view of `map` (4-byte keys and values).
            pub fn new(map: M) -> Result<Self> {
                check(map.borrow(), Self::TYPES, Some(4), Some(4))?;
                Ok($name { map })
            }

            /// The number of slots.
            pub fn len(&self) -> u32 {
                self.map.borrow().max_entries()
            }

            /// Whether there are no slots.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            #[doc = concat!("Stores ", $what, " at slot `i`.")]
            pub fn set(&self, i: u32, fd: impl AsFd) -> Result<()> {
                let map = self.map.borrow();
                map.update(&index(map, i)?, &fd_value(fd), ElemFlags::ANY)
            }

            /// Empties slot `i`; `Ok(false)` if it was empty.
            pub fn clear(&self, i: u32) -> Result<bool> {
                let map = self.map.borrow();
                map.delete(&index(map, i)?)
            }

            fd_array!(@lookup $lookup);
        }
    };
    (@lookup id) => {
        /// The kernel id of the object at slot `i`; `None` if empty.
        pub fn get(&self, i: u32) -> Result<Option<u32>> {
            let map = self.map.borrow();
            lookup_id(map, &index(map, i)?)
        }

        /// The occupied slots and their ids.
        pub fn iter(&self) -> impl Iterator<Item = Result<(u32, u32)>> + '_ {
            (0..self.len()).filter_map(move |i| match self.get(i) {
                Ok(Some(id)) => Some(Ok((i, id))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            })
        }
    };
    (@lookup none) => {};
}

fd_array!(
    /// A program array (`PROG_ARRAY`): the targets of `bpf_tail_call(ctx, map, index)`.
    ///
    /// The programs must have the type (and JIT/offload properties) of the first program
    /// that uses the array.
    ProgArray, MapType::PROG_ARRAY, "the program `fd`", id
);

fd_array!(
    /// An array of maps (`ARRAY_OF_MAPS`): each slot holds a map shaped like the inner
    /// template given at creation; programs look the inner map up and use it.
    ArrayOfMaps, MapType::ARRAY_OF_MAPS, "the map `fd`", id
);

impl<M: Borrow<Map>> ArrayOfMaps<M> {
    /// Opens the inner map at slot `i` (by its id); `None` if empty.
    pub fn get_map(&self, i: u32) -> Result<Option<Map>> {
        self.get(i)?.map(Map::from_id).transpose()
    }
}

fd_array!(
    /// A cgroup array (`CGROUP_ARRAY`) of cgroup directory fds, for
    /// `bpf_skb_under_cgroup` and `bpf_current_task_under_cgroup`.
    CgroupArray, MapType::CGROUP_ARRAY, "the cgroup (a cgroup v2 directory fd)", none
);

fd_array!(
    /// A perf event array (`PERF_EVENT_ARRAY`): slot `n` holds a perf event fd, normally
    /// CPU `n`'s `PERF_COUNT_SW_BPF_OUTPUT` event read by a [`PerfBuffer`](super::PerfBuffer),
    /// which sets the slots itself.
    PerfEventArray, MapType::PERF_EVENT_ARRAY, "the perf event `fd`", none
);

/// A hash of maps (`HASH_OF_MAPS`) with keys `K`: each value is a map shaped like the inner
/// template given at creation.
#[derive(Debug)]
pub struct HashOfMaps<K, M = Map> {
    map: M,
    _types: Types<K>,
}

view_impls!(HashOfMaps[K]);

impl<K: Pod, M: Borrow<Map>> HashOfMaps<K, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::HASH_OF_MAPS];

    /// A view of `map`, a hash of maps with `K` keys.
    pub fn new(map: M) -> Result<Self> {
        check(map.borrow(), Self::TYPES, Some(size_of::<K>()), Some(4))?;
        Ok(HashOfMaps {
            map,
            _types: PhantomData,
        })
    }

    /// Stores the map `fd` under `key`.
    pub fn insert(&self, key: &K, fd: impl AsFd, flags: ElemFlags) -> Result<()> {
        self.map
            .borrow()
            .update(key.as_bytes(), &fd_value(fd), flags)
    }

    /// The id of the inner map under `key`; `None` if absent.
    pub fn get(&self, key: &K) -> Result<Option<u32>> {
        lookup_id(self.map.borrow(), key.as_bytes())
    }

    /// Opens the inner map under `key`; `None` if absent.
    pub fn get_map(&self, key: &K) -> Result<Option<Map>> {
        self.get(key)?.map(Map::from_id).transpose()
    }

    /// Removes `key`; `Ok(false)` if absent.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.borrow().delete(key.as_bytes())
    }

    /// The keys.
    pub fn keys(&self) -> super::TypedKeys<'_, K> {
        super::view::TypedKeys::new(self.map.borrow())
    }
}
