//! [`MmapArray`]: an array map created `BPF_F_MMAPABLE` (what the loader makes of `.bss`,
//! `.data`, `.rodata`), read and written through shared memory with no syscall.

use std::marker::PhantomData;

use nix::errno::Errno;

use crate::syscall::{map_mmap, page_size, MapFlags, MapType, MmapRegion, Pod, Protection};

use super::error::{MapError, Result};
use super::map::Map;

/// An mmap'ed array map. Reads and writes are copies to and from memory that BPF programs
/// share; loads and stores of aligned `u32`/`u64` are atomic (acquire/release). This is
/// what the loader makes of `.bss`, `.data` and `.rodata`.
///
/// The values lie back to back in the mapping, each rounded up to 8 bytes; a global data
/// section is one element, so a variable's offset in its `DATASEC` is its offset here. The
/// loader maps names to `(offset, size)` from BTF; [`MmapArray::var`] checks both.
#[derive(Debug)]
pub struct MmapArray {
    map: Map,
    region: MmapRegion,
    len: usize,
    stride: usize,
}

impl MmapArray {
    /// Maps `map` (an `ARRAY` with `BPF_F_MMAPABLE`): read-only when programs may not write
    /// it either (`BPF_F_RDONLY_PROG`, e.g. `.rodata`), when user space may not
    /// (`BPF_F_RDONLY`), or when the kernel refuses a writable mapping (a frozen map, an fd
    /// opened read-only); read-write otherwise.
    pub fn new(map: Map) -> Result<MmapArray> {
        let ro = map
            .flags()
            .intersects(MapFlags::RDONLY_PROG | MapFlags::RDONLY);
        let mapped = if ro {
            mapping(&map, Protection::ReadOnly)?
        } else {
            match mapping(&map, Protection::ReadWrite) {
                Err(e) if refused(&e) => mapping(&map, Protection::ReadOnly)?,
                other => other?,
            }
        };
        let (region, len, stride) = mapped;
        Ok(MmapArray {
            map,
            region,
            len,
            stride,
        })
    }

    /// Maps `map` with the given protection.
    pub fn with_protection(map: Map, prot: Protection) -> Result<MmapArray> {
        let (region, len, stride) = mapping(&map, prot)?;
        Ok(MmapArray {
            map,
            region,
            len,
            stride,
        })
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// Gives the map back (unmapping it).
    pub fn into_map(self) -> Map {
        self.map
    }

    /// Bytes of values (`max_entries` values, each rounded up to 8 bytes).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes (never: arrays have entries).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether writes are possible.
    pub fn is_writable(&self) -> bool {
        self.region.is_writable()
    }

    /// The offset of element `index`.
    pub fn element_offset(&self, index: u32) -> Result<usize> {
        let off = (index as usize).saturating_mul(self.stride);
        self.bounds(off, self.map.value_size() as usize, "element")?;
        Ok(off)
    }

    fn bounds(&self, offset: usize, size: usize, what: &'static str) -> Result<()> {
        if offset.checked_add(size).is_some_and(|end| end <= self.len) {
            Ok(())
        } else {
            Err(MapError::OutOfBounds {
                map: self.map.name().to_string(),
                what,
                offset: offset as u64,
                size: size as u64,
                limit: self.len as u64,
            })
        }
    }

    fn writable(&self) -> Result<()> {
        if self.is_writable() {
            Ok(())
        } else {
            Err(MapError::ReadOnly {
                map: self.map.name().to_string(),
            })
        }
    }

    /// Copies `buf.len()` bytes from `offset`.
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.bounds(offset, buf.len(), "offset")?;
        self.region.read(offset, buf);
        Ok(())
    }

    /// Copies `data` to `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.bounds(offset, data.len(), "offset")?;
        self.writable()?;
        self.region.write(offset, data);
        Ok(())
    }

    /// The `T` at `offset` (a plain copy: a value a program writes meanwhile may tear).
    pub fn read<T: Pod>(&self, offset: usize) -> Result<T> {
        let mut v = T::zeroed();
        self.read_bytes(offset, v.as_bytes_mut())?;
        Ok(v)
    }

    /// Writes `value` at `offset`.
    pub fn write<T: Pod>(&self, offset: usize, value: &T) -> Result<()> {
        self.write_bytes(offset, value.as_bytes())
    }

    /// Atomic (acquire) load of the `u64` at `offset` (8-aligned), e.g. a counter programs
    /// increment with atomic adds.
    pub fn load_u64(&self, offset: usize) -> Result<u64> {
        self.bounds(offset, 8, "offset")?;
        self.region
            .load_acquire_u64(offset)
            .ok_or_else(|| self.misaligned(offset, 8))
    }

    /// Atomic (acquire) load of the `u32` at `offset` (4-aligned).
    pub fn load_u32(&self, offset: usize) -> Result<u32> {
        self.bounds(offset, 4, "offset")?;
        self.region
            .load_acquire_u32(offset)
            .ok_or_else(|| self.misaligned(offset, 4))
    }

    /// Atomic (release) store of a `u64` at `offset` (8-aligned).
    pub fn store_u64(&self, offset: usize, value: u64) -> Result<()> {
        self.bounds(offset, 8, "offset")?;
        self.writable()?;
        self.region
            .store_release_u64(offset, value)
            .then_some(())
            .ok_or_else(|| self.misaligned(offset, 8))
    }

    /// Atomic (release) store of a `u32` at `offset` (4-aligned).
    pub fn store_u32(&self, offset: usize, value: u32) -> Result<()> {
        self.bounds(offset, 4, "offset")?;
        self.writable()?;
        self.region
            .store_release_u32(offset, value)
            .then_some(())
            .ok_or_else(|| self.misaligned(offset, 4))
    }

    fn misaligned(&self, offset: usize, size: u64) -> MapError {
        MapError::OutOfBounds {
            map: self.map.name().to_string(),
            what: "misaligned atomic offset",
            offset: offset as u64,
            size,
            limit: self.len as u64,
        }
    }

    /// A typed handle on the variable at `offset` of `size` bytes (as BTF describes it):
    /// `size` must be `size_of::<T>()` and the variable inside the mapping.
    pub fn var<T: Pod>(&self, offset: usize, size: usize) -> Result<Var<'_, T>> {
        if size != size_of::<T>() {
            return Err(MapError::SizeMismatch {
                map: self.map.name().to_string(),
                what: "variable",
                expected: size_of::<T>(),
                actual: size,
            });
        }
        self.bounds(offset, size, "variable")?;
        Ok(Var {
            mem: self,
            offset,
            _t: PhantomData,
        })
    }
}

/// Maps the values of `map`: the region, the values' bytes, the stride.
fn mapping(map: &Map, prot: Protection) -> Result<(MmapRegion, usize, usize)> {
    if map.map_type() != MapType::ARRAY || !map.flags().contains(MapFlags::MMAPABLE) {
        return Err(MapError::Unsupported {
            map: map.name().to_string(),
            what: "mmap of a map other than an ARRAY created with BPF_F_MMAPABLE",
        });
    }
    let stride = (map.value_size() as usize).next_multiple_of(8);
    let len = stride
        .checked_mul(map.max_entries() as usize)
        .ok_or_else(|| MapError::InvalidSpec {
            map: map.name().to_string(),
            why: "array too large to map",
        })?;
    let mapped = len.max(1).next_multiple_of(page_size());
    let region =
        map_mmap(std::os::fd::AsFd::as_fd(map), mapped, 0, prot).map_err(|e| map.sys(e))?;
    Ok((region, len, stride))
}

/// Whether a writable mmap was refused for lack of permission (frozen or read-only map).
fn refused(e: &MapError) -> bool {
    e.syscall()
        .is_some_and(|s| matches!(s.errno, Errno::EPERM | Errno::EACCES))
}

/// A variable of an [`MmapArray`], bounds and size checked once.
#[derive(Debug, Clone, Copy)]
pub struct Var<'a, T> {
    mem: &'a MmapArray,
    offset: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: Pod> Var<'_, T> {
    /// The offset in the mapping.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The current value (a copy).
    pub fn get(&self) -> T {
        let mut v = T::zeroed();
        // In bounds: checked by `MmapArray::var`.
        self.mem.region.read(self.offset, v.as_bytes_mut());
        v
    }

    /// Sets the value; fails on a read-only mapping.
    pub fn set(&self, value: &T) -> Result<()> {
        self.mem.writable()?;
        self.mem.region.write(self.offset, value.as_bytes());
        Ok(())
    }
}
