//! XDP redirect maps: [`DevMap`] and [`DevMapHash`] (devices), [`CpuMap`] (CPUs),
//! [`XskMap`] (AF_XDP sockets), the targets of `bpf_redirect_map`.

use std::borrow::Borrow;
use std::os::fd::{AsFd, AsRawFd};

use crate::syscall::{ElemFlags, MapType};

use super::error::{MapError, Result};
use super::map::Map;
use super::view::{check, view_impls, TypedKeys};

/// A device entry: `struct bpf_devmap_val` (or its first 4 bytes with 4-byte values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevMapValue {
    /// The device to redirect to.
    pub ifindex: u32,
    /// The id of the XDP program run on the device before transmit (8-byte values only).
    pub prog_id: Option<u32>,
}

/// A CPU entry: `struct bpf_cpumap_val` (or its first 4 bytes with 4-byte values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMapValue {
    /// Size of the queue to the CPU, in packets.
    pub qsize: u32,
    /// The id of the XDP program run on the CPU (8-byte values only).
    pub prog_id: Option<u32>,
}

fn check_pair(map: &Map, types: &'static [MapType]) -> Result<()> {
    check(map, types, Some(4), None)?;
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

/// `(first, prog fd)` as the map's 4- or 8-byte value; a program needs 8-byte values.
fn pair_value(map: &Map, first: u32, prog: Option<impl AsFd>) -> Result<([u8; 8], usize)> {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&first.to_ne_bytes());
    match (prog, map.value_size()) {
        (Some(p), 8) => {
            v[4..].copy_from_slice(&p.as_fd().as_raw_fd().to_ne_bytes());
            Ok((v, 8))
        }
        (None, 8) => {
            // fd -1: no program (0 would be read as fd 0).
            v[4..].copy_from_slice(&(-1i32).to_ne_bytes());
            Ok((v, 8))
        }
        (None, _) => Ok((v, 4)),
        (Some(_), _) => Err(MapError::Unsupported {
            map: map.name().to_string(),
            what: "a program with 4-byte values (create the map with 8-byte values)",
        }),
    }
}

fn get_pair(map: &Map, key: &[u8]) -> Result<Option<(u32, Option<u32>)>> {
    let n = map.value_size() as usize;
    let mut v = [0u8; 8];
    if !map.lookup(key, &mut v[..n], ElemFlags::ANY)? {
        return Ok(None);
    }
    let first = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
    let id = u32::from_ne_bytes([v[4], v[5], v[6], v[7]]);
    Ok(Some((first, (n == 8 && id != 0).then_some(id))))
}

macro_rules! dev_map {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<M = Map> {
            map: M,
        }

        view_impls!($name[]);

        impl<M: Borrow<Map>> $name<M> {
            /// The map types this view accepts.
            pub const TYPES: &'static [MapType] = &[$ty];

            /// A view of `map` (4-byte keys; 4-byte values, or 8 to attach programs).
            pub fn new(map: M) -> Result<Self> {
                check_pair(map.borrow(), Self::TYPES)?;
                Ok($name { map })
            }

            /// Stores device `ifindex` under `key`, with an optional XDP program
            /// (`BPF_XDP_DEVMAP` attach type) run before transmit.
            pub fn set(&self, key: u32, ifindex: u32, prog: Option<impl AsFd>, flags: ElemFlags) -> Result<()> {
                let map = self.map.borrow();
                let (v, n) = pair_value(map, ifindex, prog)?;
                map.update(&key.to_ne_bytes(), &v[..n], flags)
            }

            /// The entry under `key`; `None` if absent.
            pub fn get(&self, key: u32) -> Result<Option<DevMapValue>> {
                Ok(get_pair(self.map.borrow(), &key.to_ne_bytes())?
                    .map(|(ifindex, prog_id)| DevMapValue { ifindex, prog_id }))
            }

            /// Removes `key`; `Ok(false)` if absent.
            pub fn remove(&self, key: u32) -> Result<bool> {
                self.map.borrow().delete(&key.to_ne_bytes())
            }

            /// The keys.
            pub fn keys(&self) -> TypedKeys<'_, u32> {
                TypedKeys::new(self.map.borrow())
            }
        }
    };
}

dev_map!(
    /// Devices indexed `0..max_entries` (`DEVMAP`).
    DevMap, MapType::DEVMAP
);

dev_map!(
    /// Devices under arbitrary `u32` keys, e.g. ifindexes (`DEVMAP_HASH`, 5.4).
    DevMapHash, MapType::DEVMAP_HASH
);

/// CPUs to redirect packets to (`CPUMAP`), indexed by CPU number.
#[derive(Debug)]
pub struct CpuMap<M = Map> {
    map: M,
}

view_impls!(CpuMap[]);

impl<M: Borrow<Map>> CpuMap<M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::CPUMAP];

    /// A view of `map` (4-byte keys; 4-byte values, or 8 to attach programs).
    pub fn new(map: M) -> Result<Self> {
        check_pair(map.borrow(), Self::TYPES)?;
        Ok(CpuMap { map })
    }

    /// Enables CPU `cpu` with a queue of `qsize` packets and an optional XDP program
    /// (`BPF_XDP_CPUMAP` attach type).
    pub fn set(
        &self,
        cpu: u32,
        qsize: u32,
        prog: Option<impl AsFd>,
        flags: ElemFlags,
    ) -> Result<()> {
        let map = self.map.borrow();
        let (v, n) = pair_value(map, qsize, prog)?;
        map.update(&cpu.to_ne_bytes(), &v[..n], flags)
    }

    /// The entry of CPU `cpu`; `None` if not enabled.
    pub fn get(&self, cpu: u32) -> Result<Option<CpuMapValue>> {
        Ok(get_pair(self.map.borrow(), &cpu.to_ne_bytes())?
            .map(|(qsize, prog_id)| CpuMapValue { qsize, prog_id }))
    }

    /// Disables CPU `cpu`; `Ok(false)` if it was not enabled.
    pub fn remove(&self, cpu: u32) -> Result<bool> {
        self.map.borrow().delete(&cpu.to_ne_bytes())
    }
}

/// AF_XDP sockets indexed by queue (`XSKMAP`). Sockets must be bound to a device queue
/// before insertion; user space cannot look entries up.
#[derive(Debug)]
pub struct XskMap<M = Map> {
    map: M,
}

view_impls!(XskMap[]);

impl<M: Borrow<Map>> XskMap<M> {
    /// The map types this view accepts.
    pub const TYPES: &'static [MapType] = &[MapType::XSKMAP];

    /// A view of `map` (4-byte keys and values).
    pub fn new(map: M) -> Result<Self> {
        check(map.borrow(), Self::TYPES, Some(4), Some(4))?;
        Ok(XskMap { map })
    }

    /// Stores the AF_XDP socket `fd` at slot `i`.
    pub fn set(&self, i: u32, fd: impl AsFd) -> Result<()> {
        let raw = fd.as_fd().as_raw_fd() as u32;
        self.map
            .borrow()
            .update(&i.to_ne_bytes(), &raw.to_ne_bytes(), ElemFlags::ANY)
    }

    /// Empties slot `i` (the kernel does not tell whether it held a socket).
    pub fn clear(&self, i: u32) -> Result<()> {
        self.map.borrow().delete(&i.to_ne_bytes()).map(drop)
    }
}
