//! [`UserRingBuf`]: the producer side of a `BPF_MAP_TYPE_USER_RINGBUF` (6.1), drained by
//! programs with `bpf_user_ringbuf_drain`.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use nix::poll::PollFlags;

use crate::syscall::{map_mmap, page_size, MapType, MmapRegion, Protection};

use super::error::{MapError, Result};
use super::map::Map;
use super::ringbuf::{BUSY, DISCARD, HDR};
use super::wait::{poll_fd, Deadline};

/// The producer of a user ring buffer, drained by programs with `bpf_user_ringbuf_drain`.
///
/// ```no_run
/// use oxbpf::maps::{Map, UserRingBuf};
/// # fn f(map: Map) -> oxbpf::maps::Result<()> {
/// let mut rb = UserRingBuf::new(map)?;
/// if let Some(mut entry) = rb.reserve(8)? {
///     entry.copy_from_slice(&42u64.to_ne_bytes());
///     entry.submit();
/// }
/// # Ok(()) }
/// ```
///
/// Mapped the other way round from a [`RingBuf`](super::RingBuf): the consumer page
/// read-only, the producer page and the double-mapped data read-write. Reserving writes a
/// BUSY header and release-stores the new producer position; submitting (or discarding)
/// release-stores the header without BUSY (with DISCARD). Single producer: `&mut self`
/// serializes reservations.
#[derive(Debug)]
pub struct UserRingBuf {
    map: Map,
    _consumer: MmapRegion,
    _producer: MmapRegion,
    cons_pos: NonNull<AtomicU64>,
    prod_pos: NonNull<AtomicU64>,
    data: NonNull<u8>,
    size: u64,
    mask: u64,
    /// Our producer position (we are the only writer of it).
    prod: u64,
}

// SAFETY: the mappings are owned and moved with the value; the kernel side is reached
// through atomics only.
unsafe impl Send for UserRingBuf {}
// SAFETY: `&self` methods only read immutable fields or atomically load positions.
unsafe impl Sync for UserRingBuf {}

impl UserRingBuf {
    /// Maps the user ring buffer `map` (a `USER_RINGBUF` map).
    pub fn new(map: Map) -> Result<UserRingBuf> {
        super::view::check(&map, &[MapType::USER_RINGBUF], None, None)?;
        let page = page_size();
        let size = u64::from(map.max_entries());
        if size == 0 || !size.is_power_of_two() || size % page as u64 != 0 {
            return Err(MapError::InvalidSpec {
                map: map.name().to_string(),
                why: "ring size must be a power-of-2 multiple of the page size",
            });
        }
        let data_len = usize::try_from(2 * size).map_err(|_| MapError::InvalidSpec {
            map: map.name().to_string(),
            why: "ring too large to map",
        })?;
        let consumer =
            map_mmap(map.as_fd(), page, 0, Protection::ReadOnly).map_err(|e| map.sys(e))?;
        let producer = map_mmap(
            map.as_fd(),
            page + data_len,
            page as u64,
            Protection::ReadWrite,
        )
        .map_err(|e| map.sys(e))?;
        let cons_pos = NonNull::new(consumer.as_ptr().cast::<AtomicU64>());
        let prod_pos = NonNull::new(producer.as_ptr().cast::<AtomicU64>());
        // SAFETY: `page < page + data_len`, the producer mapping's length.
        let data = NonNull::new(unsafe { producer.as_ptr().add(page) });
        let (Some(cons_pos), Some(prod_pos), Some(data)) = (cons_pos, prod_pos, data) else {
            return Err(MapError::Unsupported {
                map: map.name().to_string(),
                what: "a ring mapped at address 0",
            });
        };
        // SAFETY: `prod_pos` points into the live, 8-aligned producer page.
        let prod = unsafe { prod_pos.as_ref() }.load(Ordering::Acquire);
        Ok(UserRingBuf {
            map,
            _consumer: consumer,
            _producer: producer,
            cons_pos,
            prod_pos,
            data,
            size,
            mask: size - 1,
            prod,
        })
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The data size in bytes.
    pub fn capacity(&self) -> usize {
        self.size as usize
    }

    /// Bytes free for new records now.
    pub fn free(&self) -> usize {
        // SAFETY: `cons_pos` points into the live, 8-aligned consumer page; the kernel
        // release-stores it.
        let cons = unsafe { self.cons_pos.as_ref() }.load(Ordering::Acquire);
        self.size.saturating_sub(self.prod.wrapping_sub(cons)) as usize
    }

    /// The ring space a record of `size` bytes takes (header and padding), checked.
    fn total(&self, size: usize) -> Result<u64> {
        let total = (size as u64)
            .checked_add(HDR + 7)
            .map(|t| t & !7)
            .filter(|&t| t <= self.size && (size as u64) < u64::from(DISCARD));
        total.ok_or_else(|| MapError::RecordTooBig {
            map: self.map.name().to_string(),
            size,
            capacity: self.size as usize,
        })
    }

    /// Reserves a `size`-byte record; `None` if the ring has no room now. Submit it with
    /// [`UserRingBufEntry::submit`]; dropping it discards it.
    pub fn reserve(&mut self, size: usize) -> Result<Option<UserRingBufEntry<'_>>> {
        let total = self.total(size)?;
        if (self.free() as u64) < total {
            return Ok(None);
        }
        let off = (self.prod & self.mask) as usize;
        // SAFETY: `off < size`, 8-aligned (positions move by multiples of 8), inside the
        // writable data mapping; the kernel reads the header word atomically.
        let hdr = unsafe { &*self.data.as_ptr().add(off).cast::<AtomicU32>() };
        // SAFETY: as above, the 4 bytes after the length word.
        let pad = unsafe { &*self.data.as_ptr().add(off + 4).cast::<AtomicU32>() };
        hdr.store(size as u32 | BUSY, Ordering::Relaxed);
        pad.store(0, Ordering::Relaxed);
        self.prod = self.prod.wrapping_add(total);
        // SAFETY: `prod_pos` points into the live producer page, mapped read-write.
        unsafe { self.prod_pos.as_ref() }.store(self.prod, Ordering::Release);
        // SAFETY: the record's `size` bytes follow the header within `off + total <= 2 *
        // size` bytes of the double mapping; the kernel does not read them while the header
        // is BUSY, and this borrow of `self` keeps other reservations out.
        let data = unsafe {
            std::slice::from_raw_parts_mut(self.data.as_ptr().add(off + HDR as usize), size)
        };
        Ok(Some(UserRingBufEntry {
            hdr: NonNull::from(hdr),
            data,
            len: size as u32,
            done: false,
            _ring: PhantomData,
        }))
    }

    /// As [`reserve`](Self::reserve), waiting up to `timeout` for room (the kernel signals
    /// the fd writable after a program drains records); `None` on timeout.
    pub fn reserve_timeout(
        &mut self,
        size: usize,
        timeout: Duration,
    ) -> Result<Option<UserRingBufEntry<'_>>> {
        let total = self.total(size)?;
        let deadline = Deadline::after(timeout);
        while (self.free() as u64) < total {
            let Some(left) = deadline.remaining() else {
                return Ok(None);
            };
            // Writable means "not full", maybe still too full for this record.
            if poll_fd(self.map.name(), self.map.as_fd(), PollFlags::POLLOUT, left)? {
                std::thread::yield_now();
            }
        }
        self.reserve(size)
    }
}

impl AsFd for UserRingBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.as_fd()
    }
}

impl TryFrom<Map> for UserRingBuf {
    type Error = MapError;

    fn try_from(map: Map) -> Result<UserRingBuf> {
        UserRingBuf::new(map)
    }
}

/// A reserved record of a [`UserRingBuf`]: write it through `DerefMut`, then
/// [`submit`](Self::submit) it. Dropped without submitting, it is discarded.
#[derive(Debug)]
pub struct UserRingBufEntry<'a> {
    hdr: NonNull<AtomicU32>,
    data: &'a mut [u8],
    len: u32,
    done: bool,
    _ring: PhantomData<&'a mut UserRingBuf>,
}

impl UserRingBufEntry<'_> {
    fn finish(&mut self, flags: u32) {
        if !self.done {
            self.done = true;
            // SAFETY: the header lives in the ring mapping, which outlives this entry (it
            // borrows the ring); the release store publishes the data written before it.
            unsafe { self.hdr.as_ref() }.store(self.len | flags, Ordering::Release);
        }
    }

    /// Hands the record to the kernel.
    pub fn submit(mut self) {
        self.finish(0);
    }

    /// Drops the record (the kernel skips it).
    pub fn discard(mut self) {
        self.finish(DISCARD);
    }
}

impl std::ops::Deref for UserRingBufEntry<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data
    }
}

impl std::ops::DerefMut for UserRingBufEntry<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.data
    }
}

impl Drop for UserRingBufEntry<'_> {
    fn drop(&mut self) {
        self.finish(DISCARD);
    }
}
