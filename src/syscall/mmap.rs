//! Memory mappings: [`MmapRegion`] (a shared mapping of a BPF map fd, for ring buffers and
//! mmap-able arrays) and [`MappedFile`] (a read-only view of a file such as
//! `/sys/kernel/btf/vmlinux`, mapped when sysfs allows it, read otherwise).

use std::fs::File;
use std::io::Read;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use super::error::{Call, Hint, Result, SyscallError};

/// The system page size.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(4096)
}

/// Access of a [`MmapRegion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// `PROT_READ`.
    ReadOnly,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

/// A `MAP_SHARED` mapping of (part of) a BPF map, unmapped on drop.
///
/// The memory is shared with BPF programs running concurrently, so it is never handed out as
/// a Rust slice: read and write it by copies and by acquire/release loads and stores, which
/// check bounds, alignment and (for writes) that the region is writable.
#[derive(Debug)]
pub struct MmapRegion {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the region is plain shared memory owned by this value; every access goes through
// methods that use atomics or copies, which are as valid from any thread as from one.
unsafe impl Send for MmapRegion {}
// SAFETY: as above: `&self` methods only copy or use atomic operations.
unsafe impl Sync for MmapRegion {}

/// Maps `len` bytes of the map `fd` from `offset` (a multiple of the page size), shared.
///
/// The kernel checks `len` and `offset` against the map (ring buffers: consumer page
/// read-write, producer page and twice the data read-only; arrays need `BPF_F_MMAPABLE`).
pub fn map_mmap(
    fd: BorrowedFd<'_>,
    len: usize,
    offset: u64,
    prot: Protection,
) -> Result<MmapRegion> {
    map_mmap_at(fd, len, offset, prot, None)
}

/// [`map_mmap`] at a chosen address (an arena's `map_extra`: its user address range is fixed
/// at creation). The mapping never replaces another (`MAP_FIXED_NOREPLACE`): an address in
/// use is an `EEXIST` error.
pub fn map_mmap_at(
    fd: BorrowedFd<'_>,
    len: usize,
    offset: u64,
    prot: Protection,
    addr: Option<NonZeroUsize>,
) -> Result<MmapRegion> {
    let bad = |why| SyscallError::rejected(Call::Mmap, Errno::EINVAL, Hint::BadArgument(why));
    let length = NonZeroUsize::new(len).ok_or_else(|| bad("zero-length mapping"))?;
    let offset = i64::try_from(offset).map_err(|_| bad("offset too large"))?;
    let flags = match prot {
        Protection::ReadOnly => ProtFlags::PROT_READ,
        Protection::ReadWrite => ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
    };
    let map_flags = match addr {
        Some(_) => MapFlags::MAP_SHARED | MapFlags::MAP_FIXED_NOREPLACE,
        None => MapFlags::MAP_SHARED,
    };
    // SAFETY: a new shared mapping, at an address the kernel picks or at `addr` only if
    // nothing is mapped there (MAP_FIXED_NOREPLACE): it aliases no Rust object, and it is
    // unmapped only by `Drop`.
    let ptr = unsafe { mmap(addr, length, flags, map_flags, fd, offset) }
        .map_err(|e| SyscallError::new(Call::Mmap, e))?;
    Ok(MmapRegion {
        ptr: ptr.cast(),
        len,
        writable: prot == Protection::ReadWrite,
    })
}

impl MmapRegion {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never, a mapping has at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the region was mapped read-write.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The start address (for code that must read records in place, e.g. a ring buffer
    /// reader; such code carries its own `unsafe`).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn range(&self, offset: usize, len: usize, align: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        if end > self.len || offset % align != 0 {
            return None;
        }
        // SAFETY: `offset <= len` of the mapping, so the result stays inside it.
        Some(unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// Acquire-load of the `u64` at `offset` (8-byte aligned); `None` if out of bounds.
    pub fn load_acquire_u64(&self, offset: usize) -> Option<u64> {
        let p = self.range(offset, 8, 8)?;
        // SAFETY: `p` is 8-aligned (mappings are page-aligned), inside the mapping, which
        // lives as long as `self`; the other side accesses it atomically as well.
        Some(unsafe { AtomicU64::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Acquire-load of the `u32` at `offset` (4-byte aligned); `None` if out of bounds.
    pub fn load_acquire_u32(&self, offset: usize) -> Option<u32> {
        let p = self.range(offset, 4, 4)?;
        // SAFETY: as in `load_acquire_u64`, for 4 bytes.
        Some(unsafe { AtomicU32::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Release-store of a `u64` at `offset` (8-byte aligned); `false` if out of bounds or the
    /// region is read-only.
    pub fn store_release_u64(&self, offset: usize, value: u64) -> bool {
        match self.range(offset, 8, 8) {
            Some(p) if self.writable => {
                // SAFETY: as in `load_acquire_u64`; the page is mapped writable.
                unsafe { AtomicU64::from_ptr(p.cast()) }.store(value, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Release-store of a `u32` at `offset` (4-byte aligned); `false` if out of bounds or the
    /// region is read-only.
    pub fn store_release_u32(&self, offset: usize, value: u32) -> bool {
        match self.range(offset, 4, 4) {
            Some(p) if self.writable => {
                // SAFETY: as in `load_acquire_u32`; the page is mapped writable.
                unsafe { AtomicU32::from_ptr(p.cast()) }.store(value, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`; `false` if out of bounds.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        match self.range(offset, buf.len(), 1) {
            Some(p) => {
                // SAFETY: `p..p+buf.len()` is inside the mapping; `buf` is a distinct Rust
                // buffer, so the ranges do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                true
            }
            None => false,
        }
    }

    /// Copies `data` to `offset`; `false` if out of bounds or the region is read-only.
    pub fn write(&self, offset: usize, data: &[u8]) -> bool {
        match self.range(offset, data.len(), 1) {
            Some(p) if self.writable => {
                // SAFETY: `p..p+data.len()` is inside a writable mapping that no Rust
                // reference covers; `data` is a distinct buffer.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
                true
            }
            _ => false,
        }
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping this value created and still owns; no
        // reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// A file's bytes: a private read-only mapping for sysfs files that allow it (vmlinux BTF
/// since Linux 6.15), otherwise read into memory.
///
/// Only sysfs files are mapped, because their content cannot change under the mapping; any
/// other file is read, so the bytes are immutable either way.
pub struct MappedFile {
    inner: Inner,
}

enum Inner {
    Mapped { ptr: NonNull<u8>, len: usize },
    Read(Vec<u8>),
}

// SAFETY: the mapping is private, read-only and of an immutable sysfs file: it behaves like
// an owned `Box<[u8]>`.
unsafe impl Send for MappedFile {}
// SAFETY: as above; only shared reads happen through `&self`.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Opens `path`, mapping it when it is a sysfs file that supports mmap.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<MappedFile> {
        let mut file = File::open(path)?;
        if let Some(inner) = try_map(&file) {
            return Ok(MappedFile { inner });
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        Ok(MappedFile {
            inner: Inner::Read(data),
        })
    }

    /// Wraps bytes already in memory.
    pub fn from_vec(data: Vec<u8>) -> MappedFile {
        MappedFile {
            inner: Inner::Read(data),
        }
    }

    /// Whether the bytes are mapped (rather than read).
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }
}

fn try_map(file: &File) -> Option<Inner> {
    let fs = nix::sys::statfs::fstatfs(file.as_fd()).ok()?;
    if fs.filesystem_type() != nix::sys::statfs::SYSFS_MAGIC {
        return None;
    }
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    let length = NonZeroUsize::new(len)?;
    // SAFETY: a new private read-only mapping at an address the kernel picks, of a sysfs
    // file whose content does not change; it is unmapped only by `Drop`.
    let ptr = unsafe {
        mmap(
            None,
            length,
            ProtFlags::PROT_READ,
            MapFlags::MAP_PRIVATE,
            file.as_fd(),
            0,
        )
    }
    .ok()?;
    Some(Inner::Mapped {
        ptr: ptr.cast(),
        len,
    })
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        match &self.inner {
            // SAFETY: the mapping covers `len` readable bytes that never change and live
            // until `self` is dropped, which the borrow prevents.
            Inner::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
            Inner::Read(v) => v,
        }
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("len", &self.as_ref().len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if let Inner::Mapped { ptr, len } = self.inner {
            // SAFETY: the mapping was created by `try_map` and is owned by `self`; no borrow
            // of it outlives `self`.
            let _ = unsafe { munmap(ptr.cast(), len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, b"hello btf").unwrap();
        let f = MappedFile::open(tmp.path()).unwrap();
        assert!(!f.is_mapped());
        assert_eq!(f.as_ref(), b"hello btf");
        assert!(MappedFile::open("/nonexistent/file").is_err());
    }

    #[test]
    fn maps_vmlinux_btf_when_present() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!("SKIPPED: no {}", path.display());
            return;
        }
        let f = MappedFile::open(path).unwrap();
        let bytes = f.as_ref();
        // BTF magic 0xeB9F, little-endian on x86-64.
        assert_eq!(&bytes[..2], &[0x9f, 0xeb]);
        let read = std::fs::read(path).unwrap();
        assert_eq!(bytes.len(), read.len());
        assert_eq!(bytes, &read[..]);
        let running = crate::syscall::KernelVersion::running();
        if running.is_some_and(|v| v >= crate::syscall::KernelVersion::new(6, 15)) {
            assert!(
                f.is_mapped(),
                "sysfs BTF should be mmap-able on {running:?}"
            );
        }
    }
}
