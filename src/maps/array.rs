//! [`Array`] (`ARRAY`) and [`PerCpuArray`] (`PERCPU_ARRAY`): fixed-size, indexed by `u32`,
//! every index always present.

use std::borrow::Borrow;
use std::marker::PhantomData;

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::{MapError, Result};
use super::map::Map;
use super::percpu::PerCpuValues;
use super::view::{check, view_impls, Types};

/// An array map of `V` values, indexed `0..len()`.
///
/// ```no_run
/// use oxbpf::maps::{Array, MapSpec};
/// use oxbpf::syscall::{ElemFlags, MapType};
///
/// let arr = Array::<u64>::new(MapSpec::new(MapType::ARRAY).key::<u32>().value::<u64>()
///     .max_entries(4).create()?)?;
/// arr.set(2, &9, ElemFlags::ANY)?;
/// assert_eq!(arr.get(2)?, 9);
/// # Ok::<(), oxbpf::maps::MapError>(())
/// ```
#[derive(Debug)]
pub struct Array<V, M = Map> {
    map: M,
    _types: Types<V>,
}

view_impls!(Array[V]);

/// Checks an index against the array length.
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

impl<V: Pod, M: Borrow<Map>> Array<V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::ARRAY];

    /// A view of `map`, which must be an array of `V`.
    pub fn new(map: M) -> Result<Self> {
        check(map.borrow(), Self::TYPES, Some(4), Some(size_of::<V>()))?;
        Ok(Array {
            map,
            _types: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> u32 {
        self.map.borrow().max_entries()
    }

    /// Whether the array has no elements (never true: the kernel refuses 0 entries).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i`.
    #[inline]
    pub fn get(&self, i: u32) -> Result<V> {
        self.get_with(i, ElemFlags::ANY)
    }

    /// The value at `i`, with lookup flags (`LOCK`).
    #[inline]
    pub fn get_with(&self, i: u32, flags: ElemFlags) -> Result<V> {
        let map = self.map.borrow();
        let key = index(map, i)?;
        let mut value = V::zeroed();
        map.lookup(&key, value.as_bytes_mut(), flags)?;
        Ok(value)
    }

    /// Sets the value at `i` (`flags`: `ANY`/`EXIST`, optionally `LOCK`; `NOEXIST` always
    /// fails on an array).
    #[inline]
    pub fn set(&self, i: u32, value: &V, flags: ElemFlags) -> Result<()> {
        let map = self.map.borrow();
        map.update(&index(map, i)?, value.as_bytes(), flags)
    }

    /// The values, index 0 first.
    pub fn iter(&self) -> impl Iterator<Item = Result<V>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// A per-CPU array: each index holds one `V` per possible CPU.
#[derive(Debug)]
pub struct PerCpuArray<V, M = Map> {
    map: M,
    _types: Types<V>,
}

view_impls!(PerCpuArray[V]);

impl<V: Pod, M: Borrow<Map>> PerCpuArray<V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::PERCPU_ARRAY];

    /// A view of `map`, which must be a per-CPU array of `V`.
    pub fn new(map: M) -> Result<Self> {
        check(map.borrow(), Self::TYPES, Some(4), Some(size_of::<V>()))?;
        Ok(PerCpuArray {
            map,
            _types: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> u32 {
        self.map.borrow().max_entries()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every CPU's value at `i`.
    pub fn get(&self, i: u32) -> Result<PerCpuValues<V>> {
        let mut values = PerCpuValues::zeroed()?;
        self.get_into(i, &mut values)?;
        Ok(values)
    }

    /// Every CPU's value at `i` into `values` (no allocation).
    #[inline]
    pub fn get_into(&self, i: u32, values: &mut PerCpuValues<V>) -> Result<()> {
        let map = self.map.borrow();
        map.lookup(&index(map, i)?, values.as_bytes_mut(), ElemFlags::ANY)
            .map(drop)
    }

    /// Sets every CPU's value at `i`.
    #[inline]
    pub fn set(&self, i: u32, values: &PerCpuValues<V>, flags: ElemFlags) -> Result<()> {
        let map = self.map.borrow();
        map.update(&index(map, i)?, values.as_bytes(), flags)
    }
}
