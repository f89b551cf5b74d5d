//! [`RingBuf`]: the consumer of a `BPF_MAP_TYPE_RINGBUF` (5.8), and [`RingBufPoller`] over
//! several.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use nix::poll::PollFlags;

use crate::syscall::{map_mmap, page_size, MapFlags, MapType, MmapRegion, Protection};

use super::error::{MapError, Result};
use super::map::Map;
use super::wait::{poll_fd, Deadline};

/// `BPF_RINGBUF_BUSY_BIT`.
pub(crate) const BUSY: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`.
pub(crate) const DISCARD: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
pub(crate) const HDR: u64 = 8;

/// The reader of a ring buffer map (`BPF_MAP_TYPE_RINGBUF`, 5.8).
///
/// ```no_run
/// use oxbpf::maps::{Map, RingBuf};
/// use std::time::Duration;
/// # fn f(map: Map) -> oxbpf::maps::Result<()> {
/// let mut events = RingBuf::new(map)?;
/// // Drain what is there, no syscall:
/// while let Some(record) = events.next()? {
///     println!("{} bytes", record.len());
/// }
/// // Or block (up to 100 ms) for the next record:
/// if let Some(record) = events.next_timeout(Duration::from_millis(100))? {
///     let seq = u64::from_ne_bytes(record[..8].try_into().unwrap());
///     println!("event {seq}");
/// }
/// # Ok(()) }
/// ```
///
/// The map fd is mapped in two parts: the consumer page read-write (user space publishes how
/// far it has read), and the producer page plus the data pages, mapped twice back to back,
/// read-only. Records are an 8-byte header (`u32` length with bit 31 BUSY — still being
/// written — and bit 30 DISCARD, then 4 bytes the kernel uses) followed by the data, 8-byte
/// aligned. Thanks to the double mapping, a record that wraps around the end of the ring is
/// contiguous in memory, so records are handed out as borrowed slices, never copied.
///
/// The consumer loop: acquire-load the producer position; while behind it, acquire-load the
/// header at the consumer position; stop at a BUSY record (records are consumed in order);
/// skip DISCARD records; advance by the aligned length. Every length is checked against
/// what the producer published (a corrupt header is an error, never an out-of-bounds read).
/// The consumer position is published (release-store) in batches — every
/// [`commit interval`](RingBuf::set_commit_interval) bytes, whenever the ring is found empty
/// or blocked on a BUSY record, and on drop — never past a record still borrowed.
///
/// Blocking waits use `poll(2)` on the map fd (readable while unread data is published), so
/// [`RingBuf`] also works with any event loop through [`AsFd`].
#[derive(Debug)]
pub struct RingBuf {
    map: Map,
    _mem: RingMem,
    /// The consumer position (in the consumer page, which we own for writing).
    cons_pos: NonNull<AtomicU64>,
    /// The producer position (in the read-only producer page).
    prod_pos: NonNull<AtomicU64>,
    /// The first data page; `2 * size` bytes are mapped from here.
    data: NonNull<u8>,
    size: u64,
    mask: u64,
    /// How far we have read.
    cons: u64,
    /// What we last published to the kernel.
    committed: u64,
    /// The producer position last loaded.
    prod: u64,
    /// Publish the consumer position once this many bytes are read.
    commit_every: u64,
}

/// What keeps the ring's memory alive.
#[derive(Debug)]
enum RingMem {
    /// The consumer page and the producer page + double-mapped data.
    Mapped(
        #[allow(dead_code)] MmapRegion,
        #[allow(dead_code)] MmapRegion,
    ),
    /// Unit tests: heap buffers laid out like the mappings.
    #[cfg(test)]
    Heap(
        #[allow(dead_code)] Box<[AtomicU64]>,
        #[allow(dead_code)] Box<[AtomicU64]>,
    ),
}

// SAFETY: the mappings are owned by the value (moved with it); the kernel side is reached
// only through atomics, so the reader works the same from any thread.
unsafe impl Send for RingBuf {}
// SAFETY: `&self` methods only read immutable fields or atomically load shared positions.
unsafe impl Sync for RingBuf {}

impl RingBuf {
    /// Maps the ring buffer `map` (a `RINGBUF` map).
    ///
    /// Rings created with `BPF_F_RB_OVERWRITE` are refused: their producer may overwrite
    /// records while they are borrowed.
    pub fn new(map: Map) -> Result<RingBuf> {
        super::view::check(&map, &[MapType::RINGBUF], None, None)?;
        if map.flags().contains(MapFlags::RB_OVERWRITE) {
            return Err(MapError::Unsupported {
                map: map.name().to_string(),
                what: "zero-copy reading of an overwriting ring (BPF_F_RB_OVERWRITE)",
            });
        }
        let page = page_size();
        let (size, data_len) = ring_geometry(&map, page)?;
        let consumer =
            map_mmap(map.as_fd(), page, 0, Protection::ReadWrite).map_err(|e| map.sys(e))?;
        let producer = map_mmap(
            map.as_fd(),
            page + data_len,
            page as u64,
            Protection::ReadOnly,
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
        // SAFETY: the pointers point into the mappings moved into the ring: the consumer
        // page (read-write), the producer page, and `2 * size` data bytes after it.
        Ok(unsafe {
            RingBuf::assemble(
                map,
                RingMem::Mapped(consumer, producer),
                cons_pos,
                prod_pos,
                data,
                size,
            )
        })
    }

    /// Builds the reader over memory `mem` keeps alive.
    ///
    /// # Safety
    ///
    /// `cons_pos` (writable) and `prod_pos` must point to 8-aligned words, and `data` to
    /// `2 * size` readable bytes laid out as a ring's double-mapped data, all inside `mem`.
    unsafe fn assemble(
        map: Map,
        mem: RingMem,
        cons_pos: NonNull<AtomicU64>,
        prod_pos: NonNull<AtomicU64>,
        data: NonNull<u8>,
        size: u64,
    ) -> RingBuf {
        let mut rb = RingBuf {
            map,
            _mem: mem,
            cons_pos,
            prod_pos,
            data,
            size,
            mask: size - 1,
            cons: 0,
            committed: 0,
            prod: 0,
            commit_every: (size / 8).max(HDR),
        };
        // SAFETY: `cons_pos` points to a live, 8-aligned word (the caller's contract).
        let start = unsafe { rb.cons_pos.as_ref() }.load(Ordering::Acquire);
        (rb.cons, rb.committed, rb.prod) = (start, start, start);
        rb
    }

    /// A reader over heap memory shaped like a ring of `size` bytes (unit tests), with the
    /// consumer and producer words (the data follows the producer word) for a test playing
    /// the kernel; valid while the ring lives. The consumer position starts at `start`.
    #[cfg(test)]
    pub(crate) fn on_heap(
        map: Map,
        size: u64,
        start: u64,
    ) -> (RingBuf, *const AtomicU64, *const AtomicU64) {
        let words = |n: u64| {
            (0..n)
                .map(|_| AtomicU64::new(0))
                .collect::<Box<[AtomicU64]>>()
        };
        let consumer = words(1);
        consumer[0].store(start, Ordering::Relaxed);
        let producer = words(1 + 2 * size / 8);
        let (cons, prod) = (consumer.as_ptr(), producer.as_ptr());
        let nn = |p: *const AtomicU64| NonNull::new(p.cast_mut()).unwrap_or(NonNull::dangling());
        // SAFETY: the boxes hold the words pointed to (the first producer word, then `2 *
        // size` data bytes); heap addresses stay put when the boxes move into the ring,
        // which keeps them alive.
        let rb = unsafe {
            let data = nn(producer.as_ptr().add(1)).cast();
            RingBuf::assemble(
                map,
                RingMem::Heap(consumer, producer),
                nn(cons),
                nn(prod),
                data,
                size,
            )
        };
        (rb, cons, prod)
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The data size in bytes (the map's `max_entries`).
    pub fn capacity(&self) -> usize {
        self.size as usize
    }

    /// Publishes the consumer position every `bytes` bytes read (0: after every record, as
    /// libbpf does). The default, an eighth of the ring, saves the producer a cache miss per
    /// record while keeping almost all of the ring available to it.
    pub fn set_commit_interval(&mut self, bytes: usize) {
        self.commit_every = (bytes as u64).clamp(1, self.size);
    }

    /// Bytes published by the producer and not yet read (BUSY and discarded records
    /// included).
    pub fn pending(&self) -> usize {
        self.load_prod().wrapping_sub(self.cons).min(self.size) as usize
    }

    #[inline(always)]
    fn load_prod(&self) -> u64 {
        // SAFETY: `prod_pos` points into the live, 8-aligned producer page; the kernel
        // writes it with release stores.
        unsafe { self.prod_pos.as_ref() }.load(Ordering::Acquire)
    }

    /// Publishes the consumer position now (records already returned may then be
    /// overwritten: none is borrowed, since this takes `&mut self`).
    #[inline]
    pub fn commit(&mut self) {
        if self.committed != self.cons {
            // SAFETY: `cons_pos` points into the live consumer page, mapped read-write.
            unsafe { self.cons_pos.as_ref() }.store(self.cons, Ordering::Release);
            self.committed = self.cons;
        }
    }

    /// Reloads the producer position; `Ok(false)` if there is still nothing to read (the
    /// consumer position is then published).
    #[inline(never)]
    fn refresh(&mut self) -> Result<bool> {
        let mut prod = self.load_prod();
        if prod == self.cons {
            // Going idle: publish our position, then look once more after a full fence.
            // The kernel's commit is a full barrier followed by a read of our position, so
            // either we see its record now or it sees our position and wakes the fd: an
            // empty answer is exact, also for edge-triggered event loops.
            self.commit();
            fence(Ordering::SeqCst);
            prod = self.load_prod();
            if prod == self.cons {
                return Ok(false);
            }
        }
        let avail = prod.wrapping_sub(self.cons);
        // Both positions 8-aligned (the kernel's is; ours came from a page anyone with the
        // map fd may write) is what makes the header reads below aligned.
        if avail > self.size || avail % 8 != 0 || prod % 8 != 0 {
            return Err(self.corrupt("producer position", prod));
        }
        self.prod = prod;
        Ok(true)
    }

    #[cold]
    fn corrupt(&self, what: &'static str, value: u64) -> MapError {
        MapError::Corrupt {
            map: self.map.name().to_string(),
            what,
            pos: self.cons,
            value,
        }
    }

    /// The next record's `(offset from data, length)`, advancing past it; `None` when the
    /// ring is empty or the next record is still BUSY (the position is then published).
    #[inline(always)]
    fn advance(&mut self) -> Result<Option<(usize, usize)>> {
        if self.cons.wrapping_sub(self.committed) >= self.commit_every {
            self.commit();
        }
        loop {
            let avail = self.prod.wrapping_sub(self.cons);
            if avail == 0 {
                if !self.refresh()? {
                    return Ok(None);
                }
                continue;
            }
            let off = (self.cons & self.mask) as usize;
            let hdr = self.header(off);
            if hdr & BUSY != 0 {
                // As in `refresh`: publish, fence, look again (the writer may just have
                // committed; if not, it will see our position and wake the fd).
                self.commit();
                fence(Ordering::SeqCst);
                if self.header(off) & BUSY != 0 {
                    return Ok(None);
                }
                continue;
            }
            let len = u64::from(hdr & !(BUSY | DISCARD));
            let total = (len + HDR + 7) & !7;
            if total > avail {
                return Err(self.corrupt("record length", u64::from(hdr)));
            }
            self.cons = self.cons.wrapping_add(total);
            if hdr & DISCARD == 0 {
                return Ok(Some((off + HDR as usize, len as usize)));
            }
        }
    }

    /// Acquire-load of the header word at data offset `off` (`off < size`, 8-aligned).
    #[inline(always)]
    fn header(&self, off: usize) -> u32 {
        debug_assert!(off < self.size as usize && off % 8 == 0);
        // SAFETY: callers pass `cons & mask`: below `size`, inside the first copy of the
        // data pages, and 8-aligned (positions move by multiples of 8 from an 8-aligned
        // start, checked by `refresh`); the kernel writes the header word with atomic and
        // release stores.
        unsafe { (*self.data.as_ptr().add(off).cast::<AtomicU32>()).load(Ordering::Acquire) }
    }

    #[inline(always)]
    fn record(&self, start: usize, len: usize) -> &[u8] {
        // SAFETY: `advance` checked `start - 8 < size` and `8 + len <= avail <= size`, so
        // the record lies within the `2 * size` data bytes mapped (the second copy makes a
        // wrapping record contiguous). The bytes were published by the producer (not BUSY)
        // and are not reused until the consumer position passes them, which cannot happen
        // while this borrow of `self` lives.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(start), len) }
    }

    /// The next record, if one is ready; no syscall. The slice borrows the ring: the space
    /// is handed back to the kernel only after it is dropped.
    #[inline]
    #[allow(clippy::should_implement_trait)] // a lending iterator: records borrow the ring
    pub fn next(&mut self) -> Result<Option<&[u8]>> {
        match self.advance()? {
            Some((start, len)) => Ok(Some(self.record(start, len))),
            None => Ok(None),
        }
    }

    /// Calls `f` on every record ready now; returns how many.
    #[inline]
    pub fn consume(&mut self, f: impl FnMut(&[u8])) -> Result<usize> {
        self.consume_n(usize::MAX, f)
    }

    /// Calls `f` on at most `n` records ready now; returns how many.
    ///
    /// The same protocol as [`next`](Self::next), with the positions kept in registers for
    /// the whole drain (each record's position depends on the previous length, so the loop
    /// is a chain of dependent loads; a round trip through memory per record would lengthen
    /// it).
    #[inline]
    pub fn consume_n(&mut self, n: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let mut count = 0;
        let mut cons = self.cons;
        let mut avail = self.prod.wrapping_sub(cons);
        while count < n {
            if avail == 0 {
                self.cons = cons;
                if !self.refresh()? {
                    break;
                }
                avail = self.prod.wrapping_sub(cons);
                continue;
            }
            let off = (cons & self.mask) as usize;
            let hdr = self.header(off);
            if hdr & BUSY != 0 {
                self.cons = cons;
                self.commit();
                fence(Ordering::SeqCst);
                if self.header(off) & BUSY != 0 {
                    break;
                }
                continue;
            }
            let len = u64::from(hdr & !(BUSY | DISCARD));
            let total = (len + HDR + 7) & !7;
            if total > avail {
                self.cons = cons;
                return Err(self.corrupt("record length", u64::from(hdr)));
            }
            cons = cons.wrapping_add(total);
            avail -= total;
            if hdr & DISCARD != 0 {
                continue;
            }
            f(self.record(off + HDR as usize, len as usize));
            count += 1;
            // The record is no longer borrowed: its space may be handed back.
            if cons.wrapping_sub(self.committed) >= self.commit_every {
                self.cons = cons;
                self.commit();
            }
        }
        self.cons = cons;
        Ok(count)
    }

    /// Whether a record may be readable now (after publishing our position and a full fence,
    /// so that either we see the producer's latest record or it sees our position and wakes
    /// the fd). `Some(true)`: data; `Some(false)`: a BUSY record at the head; `None`: empty.
    pub(crate) fn settle(&mut self) -> Option<bool> {
        self.commit();
        fence(Ordering::SeqCst);
        let prod = self.load_prod();
        if prod == self.cons {
            return None;
        }
        if (prod | self.cons) % 8 != 0 {
            // Not yet checked by `refresh` (a consumer position written by someone else):
            // let the next read report the corruption rather than read a misaligned header.
            return Some(true);
        }
        Some(self.header((self.cons & self.mask) as usize) & BUSY == 0)
    }

    /// Blocks until a record may be ready or `deadline` passes; `false` on timeout.
    fn wait_until(&mut self, deadline: &Deadline) -> Result<bool> {
        match self.settle() {
            Some(true) => return Ok(true),
            Some(false) => {
                // A producer is writing the head record: it commits within microseconds,
                // and the fd stays readable meanwhile, so yield instead of polling.
                std::thread::yield_now();
                return Ok(deadline.remaining().is_some());
            }
            None => {}
        }
        let Some(left) = deadline.remaining() else {
            return Ok(false);
        };
        poll_fd(self.map.name(), self.map.as_fd(), PollFlags::POLLIN, left)?;
        Ok(true)
    }

    /// The next record, waiting up to `timeout` for one (`Duration::ZERO`: no wait);
    /// `None` on timeout.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<&[u8]>> {
        let deadline = Deadline::after(timeout);
        loop {
            if let Some((start, len)) = self.advance()? {
                return Ok(Some(self.record(start, len)));
            }
            if !self.wait_until(&deadline)? {
                return Ok(None);
            }
        }
    }

    /// Waits up to `timeout` for records, then calls `f` on every record ready; returns how
    /// many (0 on timeout).
    pub fn poll(&mut self, timeout: Duration, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let deadline = Deadline::after(timeout);
        loop {
            let n = self.consume(&mut f)?;
            if n > 0 || !self.wait_until(&deadline)? {
                return Ok(n);
            }
        }
    }
}

/// The data size of a ring map and the bytes to map after the producer page (twice it).
fn ring_geometry(map: &Map, page: usize) -> Result<(u64, usize)> {
    let size = u64::from(map.max_entries());
    let page64 = page as u64;
    if size == 0 || !size.is_power_of_two() || size % page64 != 0 {
        return Err(MapError::InvalidSpec {
            map: map.name().to_string(),
            why: "ring size must be a power-of-2 multiple of the page size",
        });
    }
    let data_len = usize::try_from(2 * size).map_err(|_| MapError::InvalidSpec {
        map: map.name().to_string(),
        why: "ring too large to map",
    })?;
    Ok((size, data_len))
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.commit();
    }
}

impl AsFd for RingBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.as_fd()
    }
}

impl AsRawFd for RingBuf {
    fn as_raw_fd(&self) -> RawFd {
        self.map.as_fd().as_raw_fd()
    }
}

impl TryFrom<Map> for RingBuf {
    type Error = MapError;

    fn try_from(map: Map) -> Result<RingBuf> {
        RingBuf::new(map)
    }
}

impl Map {
    /// This ring buffer map's reader ([`RingBuf::new`]).
    pub fn into_ring_buf(self) -> Result<RingBuf> {
        RingBuf::new(self)
    }
}
