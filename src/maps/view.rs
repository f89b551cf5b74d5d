//! What the typed views share: the conversion check, the boilerplate impls, and typed key
//! and entry iterators that do not allocate.

use std::marker::PhantomData;

use crate::syscall::{ElemFlags, MapType, Pod};

use super::error::{MapError, Result, TypeList};
use super::map::Map;

/// Checks `map` against a view: one of `types`, and (when given) key and value sizes.
pub(crate) fn check(
    map: &Map,
    types: &'static [MapType],
    key: Option<usize>,
    value: Option<usize>,
) -> Result<()> {
    if !types.contains(&map.map_type()) {
        return Err(MapError::WrongType {
            map: map.name().to_string(),
            actual: map.map_type(),
            expected: TypeList(types),
        });
    }
    for (what, expected, actual) in [
        ("key", key, map.key_size()),
        ("value", value, map.value_size()),
    ] {
        if let Some(expected) = expected {
            if expected != actual as usize {
                return Err(MapError::SizeMismatch {
                    map: map.name().to_string(),
                    what,
                    expected,
                    actual: actual as usize,
                });
            }
        }
    }
    Ok(())
}

/// The impls every view has: `map()`, `into_inner()`, `AsFd`, and `TryFrom` an owned or
/// borrowed [`Map`] (through the view's `new`).
macro_rules! view_impls {
    ($name:ident [$($g:ident),*]) => {
        impl<$($g,)* M: std::borrow::Borrow<$crate::maps::Map>> $name<$($g,)* M> {
            /// The underlying map.
            pub fn map(&self) -> &$crate::maps::Map {
                self.map.borrow()
            }

            /// Gives the underlying map back.
            pub fn into_inner(self) -> M {
                self.map
            }
        }

        impl<$($g,)* M: std::borrow::Borrow<$crate::maps::Map>> std::os::fd::AsFd
            for $name<$($g,)* M>
        {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.map.borrow())
            }
        }

        impl<$($g: $crate::syscall::Pod,)*> TryFrom<$crate::maps::Map> for $name<$($g,)* $crate::maps::Map> {
            type Error = $crate::maps::MapError;

            fn try_from(map: $crate::maps::Map) -> $crate::maps::Result<Self> {
                Self::new(map)
            }
        }

        impl<'a, $($g: $crate::syscall::Pod,)*> TryFrom<&'a $crate::maps::Map>
            for $name<$($g,)* &'a $crate::maps::Map>
        {
            type Error = $crate::maps::MapError;

            fn try_from(map: &'a $crate::maps::Map) -> $crate::maps::Result<Self> {
                Self::new(map)
            }
        }
    };
}
pub(crate) use view_impls;

/// A zero-sized marker for the Rust types of a view, `Send + Sync` whatever they are (the
/// view holds no values of them).
pub(crate) type Types<T> = PhantomData<fn() -> T>;

/// Typed keys of a map, without allocation; see [`Map::keys`] for the iteration semantics.
#[derive(Debug)]
pub struct TypedKeys<'a, K> {
    map: &'a Map,
    prev: Option<K>,
    done: bool,
}

impl<'a, K: Pod> TypedKeys<'a, K> {
    pub(crate) fn new(map: &'a Map) -> Self {
        TypedKeys {
            map,
            prev: None,
            done: false,
        }
    }
}

impl<K: Pod> Iterator for TypedKeys<'_, K> {
    type Item = Result<K>;

    fn next(&mut self) -> Option<Result<K>> {
        if self.done {
            return None;
        }
        let mut next = K::zeroed();
        let prev = self.prev.as_ref().map(Pod::as_bytes);
        match self.map.next_key(prev, next.as_bytes_mut()) {
            Ok(true) => {
                self.prev = Some(next);
                Some(Ok(next))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Typed `(key, value)` pairs: each key then its value (keys deleted in between are
/// skipped). No allocation per entry.
#[derive(Debug)]
pub struct Entries<'a, K, V> {
    keys: TypedKeys<'a, K>,
    _value: Types<V>,
}

impl<'a, K: Pod, V: Pod> Entries<'a, K, V> {
    pub(crate) fn new(map: &'a Map) -> Self {
        Entries {
            keys: TypedKeys::new(map),
            _value: PhantomData,
        }
    }
}

impl<K: Pod, V: Pod> Iterator for Entries<'_, K, V> {
    type Item = Result<(K, V)>;

    fn next(&mut self) -> Option<Result<(K, V)>> {
        loop {
            let key = match self.keys.next()? {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            let mut value = V::zeroed();
            match self
                .keys
                .map
                .lookup(key.as_bytes(), value.as_bytes_mut(), ElemFlags::ANY)
            {
                Ok(true) => return Some(Ok((key, value))),
                Ok(false) => continue,
                Err(e) => {
                    self.keys.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Looks a `Pod` value up by a `Pod` key; `None` if absent.
#[inline]
pub(crate) fn get<K: Pod, V: Pod>(map: &Map, key: &K, flags: ElemFlags) -> Result<Option<V>> {
    let mut value = V::zeroed();
    Ok(map
        .lookup(key.as_bytes(), value.as_bytes_mut(), flags)?
        .then_some(value))
}
