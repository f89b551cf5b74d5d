//! [`MapError`]: every failure of this module, naming the map at fault.

use std::fmt;

use crate::syscall::{MapType, SyscallError};

/// A failure of a map operation. Every variant names the map (its kernel name).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// A system call failed.
    #[error("map `{map}`: {source}")]
    Syscall {
        /// The map.
        map: String,
        /// The failed call.
        #[source]
        source: SyscallError,
    },
    /// The map's type does not fit the view asked for.
    #[error("map `{map}` is a {actual}, expected {expected}")]
    WrongType {
        /// The map.
        map: String,
        /// Its type.
        actual: MapType,
        /// The types the view accepts.
        expected: TypeList,
    },
    /// The key or value size does not fit the Rust type of the view.
    #[error("map `{map}`: {what} size is {actual} bytes, the Rust type needs {expected}")]
    SizeMismatch {
        /// The map.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// The size the Rust type needs.
        expected: usize,
        /// The map's size.
        actual: usize,
    },
    /// A spec that cannot be created as it stands.
    #[error("map `{map}`: invalid spec: {why}")]
    InvalidSpec {
        /// The map.
        map: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An existing (e.g. pinned) map differs from the spec it should match.
    #[error("map `{map}`: existing map has {field} {actual}, the spec wants {expected}")]
    Incompatible {
        /// The map.
        map: String,
        /// The differing attribute.
        field: &'static str,
        /// The spec's value.
        expected: u64,
        /// The existing map's value.
        actual: u64,
    },
    /// An index or offset outside the map or its memory.
    #[error("map `{map}`: {what} at {offset} (+{size}) is out of bounds (limit {limit})")]
    OutOfBounds {
        /// The map.
        map: String,
        /// What was addressed (`index`, `offset`, ...).
        what: &'static str,
        /// The index or offset.
        offset: u64,
        /// Bytes addressed.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A write through a read-only mapping.
    #[error("map `{map}`: mapped read-only")]
    ReadOnly {
        /// The map.
        map: String,
    },
    /// The memory shared with the kernel holds an impossible value (a producer position or
    /// record length that would read outside the ring): the reader stops there.
    #[error("map `{map}`: corrupt {what} at position {pos} (value {value:#x})")]
    Corrupt {
        /// The map.
        map: String,
        /// What is corrupt.
        what: &'static str,
        /// The ring position.
        pos: u64,
        /// The offending value.
        value: u64,
    },
    /// A record larger than the ring can ever hold.
    #[error("map `{map}`: a {size}-byte record cannot fit a ring of {capacity} bytes")]
    RecordTooBig {
        /// The map.
        map: String,
        /// The size asked for.
        size: usize,
        /// The ring's data size.
        capacity: usize,
    },
    /// Waiting for a map or perf fd (`poll`, `epoll`) failed.
    #[error("map `{map}`: {call} failed: {errno}")]
    Wait {
        /// The map.
        map: String,
        /// The call (`poll`, `epoll_wait`, ...).
        call: &'static str,
        /// Its errno.
        errno: nix::errno::Errno,
    },
    /// A feature this map (or this kernel) lacks.
    #[error("map `{map}`: {what} is not supported")]
    Unsupported {
        /// The map.
        map: String,
        /// The feature.
        what: &'static str,
    },
}

impl MapError {
    /// The syscall error behind this one, if any.
    pub fn syscall(&self) -> Option<&SyscallError> {
        match self {
            MapError::Syscall { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The name of the map at fault.
    pub fn map_name(&self) -> &str {
        match self {
            MapError::Syscall { map, .. }
            | MapError::WrongType { map, .. }
            | MapError::SizeMismatch { map, .. }
            | MapError::InvalidSpec { map, .. }
            | MapError::Incompatible { map, .. }
            | MapError::OutOfBounds { map, .. }
            | MapError::ReadOnly { map }
            | MapError::Corrupt { map, .. }
            | MapError::RecordTooBig { map, .. }
            | MapError::Wait { map, .. }
            | MapError::Unsupported { map, .. } => map,
        }
    }
}

/// The map types a view accepts (displays as `BPF_MAP_TYPE_HASH or BPF_MAP_TYPE_LRU_HASH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeList(pub &'static [MapType]);

impl fmt::Display for TypeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// The result of map operations.
pub type Result<T, E = MapError> = std::result::Result<T, E>;
