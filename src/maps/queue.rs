//! Maps without keys: [`Queue`] (FIFO), [`Stack`] (LIFO) and [`BloomFilter`] (membership).

use std::borrow::Borrow;
use std::marker::PhantomData;

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::Result;
use super::map::Map;
use super::view::{check, view_impls, Types};

macro_rules! push_pop {
    ($name:ident, $ty:expr, $what:literal) => {
        impl<V: Pod, M: Borrow<Map>> $name<V, M> {
            /// The map types this view accepts.
            pub const TYPES: &'static [MapType] = &[$ty];

            #[doc = concat!("A view of `map`, a ", $what, " of `V` values.")]
            pub fn new(map: M) -> Result<Self> {
                check(map.borrow(), Self::TYPES, Some(0), Some(size_of::<V>()))?;
                Ok($name {
                    map,
                    _types: PhantomData,
                })
            }

            /// Pushes `value`. With `ElemFlags::EXIST`, a full map drops its oldest element to
            /// make room; otherwise a full map fails with E2BIG.
            pub fn push(&self, value: &V, flags: ElemFlags) -> Result<()> {
                self.map.borrow().update(&[], value.as_bytes(), flags)
            }

            /// Removes and returns the next element; `None` if empty.
            pub fn pop(&self) -> Result<Option<V>> {
                let mut value = V::zeroed();
                Ok(self
                    .map
                    .borrow()
                    .lookup_and_delete(None, value.as_bytes_mut(), ElemFlags::ANY)?
                    .then_some(value))
            }

            /// Returns the next element without removing it; `None` if empty.
            pub fn peek(&self) -> Result<Option<V>> {
                let mut value = V::zeroed();
                Ok(self
                    .map
                    .borrow()
                    .lookup(&[], value.as_bytes_mut(), ElemFlags::ANY)?
                    .then_some(value))
            }
        }
    };
}

/// A FIFO queue (`QUEUE`, 4.20) of `V` values: `pop` returns the oldest.
#[derive(Debug)]
pub struct Queue<V, M = Map> {
    map: M,
    _types: Types<V>,
}
view_impls!(Queue[V]);
push_pop!(Queue, MapType::QUEUE, "queue");

/// A LIFO stack (`STACK`, 4.20) of `V` values: `pop` returns the newest.
#[derive(Debug)]
pub struct Stack<V, M = Map> {
    map: M,
    _types: Types<V>,
}
view_impls!(Stack[V]);
push_pop!(Stack, MapType::STACK, "stack");

/// A bloom filter (`BLOOM_FILTER`, 5.16) of `V` values: `contains` may report false
/// positives, never false negatives. `map_extra` bits 0-3 set the number of hashes.
#[derive(Debug)]
pub struct BloomFilter<V, M = Map> {
    map: M,
    _types: Types<V>,
}
view_impls!(BloomFilter[V]);

impl<V: Pod, M: Borrow<Map>> BloomFilter<V, M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::BLOOM_FILTER];

    /// A view of `map`, a bloom filter of `V` values.
    pub fn new(map: M) -> Result<Self> {
        check(map.borrow(), Self::TYPES, Some(0), Some(size_of::<V>()))?;
        Ok(BloomFilter {
            map,
            _types: PhantomData,
        })
    }

    /// Adds `value`.
    pub fn insert(&self, value: &V) -> Result<()> {
        self.map
            .borrow()
            .update(&[], value.as_bytes(), ElemFlags::ANY)
    }

    /// Whether `value` may have been added (`false`: certainly not).
    pub fn contains(&self, value: &V) -> Result<bool> {
        // The kernel reads the value to test from the lookup's value buffer.
        let mut probe = *value;
        self.map
            .borrow()
            .lookup(&[], probe.as_bytes_mut(), ElemFlags::ANY)
    }
}
