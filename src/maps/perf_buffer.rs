//! [`PerfBuffer`]: the reader of a `PERF_EVENT_ARRAY` that programs write with
//! `bpf_perf_event_output`, one [`PerfRing`] per online CPU.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use crate::syscall::{
    map_mmap, online_cpus, page_size, perf_event_enable, perf_event_open, MmapRegion,
    PerfEventAttr, Protection, SyscallError, PERF_COUNT_SW_BPF_OUTPUT, PERF_SAMPLE_RAW,
};

use super::error::{MapError, Result};
use super::map::Map;
use super::view::check;
use super::wait::{Deadline, EpollSet};

/// `PERF_RECORD_LOST`.
const RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`.
const RECORD_SAMPLE: u32 = 9;
/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

/// How to open a [`PerfBuffer`].
#[derive(Clone, Copy, Debug)]
pub struct PerfBufferOptions {
    /// Data pages per CPU (a power of two; default 8).
    pub pages: usize,
    /// Wake the reader every this many samples (default 1).
    pub wakeup_events: u32,
}

impl Default for PerfBufferOptions {
    fn default() -> Self {
        PerfBufferOptions {
            pages: 8,
            wakeup_events: 1,
        }
    }
}

/// One record of a perf ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfRecord<'a> {
    /// What a program output (with the kernel's padding to 8 bytes after the size word).
    Sample(&'a [u8]),
    /// The kernel dropped this many samples: the ring was full.
    Lost(u64),
}

/// The perf ring of one CPU.
#[derive(Debug)]
pub struct PerfRing {
    cpu: u32,
    event: OwnedFd,
    region: MmapRegion,
    data: NonNull<u8>,
    size: u64,
    tail: u64,
    head: u64,
    committed: u64,
    lost: u64,
}

// SAFETY: the mapping is owned by the value; kernel-shared words are accessed atomically.
unsafe impl Send for PerfRing {}
// SAFETY: `&self` methods read immutable fields only.
unsafe impl Sync for PerfRing {}

impl PerfRing {
    /// Opens and maps CPU `cpu`'s `BPF_OUTPUT` event with `pages` data pages.
    pub fn open(cpu: u32, opts: &PerfBufferOptions) -> std::result::Result<PerfRing, SyscallError> {
        let attr = PerfEventAttr {
            sample_type: PERF_SAMPLE_RAW,
            wakeup_events: opts.wakeup_events.max(1),
            ..PerfEventAttr::software(PERF_COUNT_SW_BPF_OUTPUT)
        };
        let event = perf_event_open(&attr, -1, cpu as i32, None)?;
        let page = page_size();
        let pages = opts.pages.max(1).next_power_of_two();
        let region = map_mmap(event.as_fd(), page * (1 + pages), 0, Protection::ReadWrite)?;
        // The kernel tells where the data is (4.1+); older kernels: right after the page.
        let mut offset = region.load_acquire_u64(DATA_OFFSET).unwrap_or(0) as usize;
        let mut size = region.load_acquire_u64(DATA_SIZE).unwrap_or(0);
        if offset == 0 || size == 0 {
            (offset, size) = (page, (page * pages) as u64);
        }
        let bad = |why| {
            SyscallError::rejected(
                crate::syscall::Call::Mmap,
                nix::errno::Errno::EINVAL,
                crate::syscall::Hint::BadArgument(why),
            )
        };
        if !size.is_power_of_two() || offset.checked_add(size as usize) != Some(region.len()) {
            return Err(bad("perf ring geometry does not match the mapping"));
        }
        // SAFETY: `offset < region.len()` (checked above).
        let data = NonNull::new(unsafe { region.as_ptr().add(offset) })
            .ok_or_else(|| bad("null mapping"))?;
        perf_event_enable(event.as_fd())?;
        let tail = region.load_acquire_u64(DATA_TAIL).unwrap_or(0);
        Ok(PerfRing {
            cpu,
            event,
            region,
            data,
            size,
            tail,
            head: tail,
            committed: tail,
            lost: 0,
        })
    }

    /// The CPU.
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// Samples the kernel reported lost on this ring so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The data size in bytes.
    pub fn capacity(&self) -> usize {
        self.size as usize
    }

    fn commit(&mut self) {
        if self.committed != self.tail {
            // The tail page word is ours to write; the mapping is read-write.
            self.region.store_release_u64(DATA_TAIL, self.tail);
            self.committed = self.tail;
        }
    }

    /// Copies `len` ring bytes from position `pos` into `out` (wrapping at the end).
    fn copy_out(&self, pos: u64, out: &mut [u8]) {
        let off = (pos & (self.size - 1)) as usize;
        let first = out.len().min(self.size as usize - off);
        // SAFETY: `off + first <= size` and `out.len() - first <= size` bytes from the
        // start: both inside the data area; published bytes (before `head`) the kernel does
        // not rewrite until the tail passes them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.as_ptr().add(off), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data.as_ptr(),
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
        }
    }

    #[cold]
    fn corrupt(&self, what: &'static str, value: u64) -> MapError {
        MapError::Corrupt {
            map: format!("perf ring of CPU {}", self.cpu),
            what,
            pos: self.tail,
            value,
        }
    }

    /// The next record, borrowed from the ring, or from `scratch` when it wraps around the
    /// end; `None` when the ring is empty (the tail is then published).
    pub fn next<'a>(&'a mut self, scratch: &'a mut Vec<u8>) -> Result<Option<PerfRecord<'a>>> {
        if self.tail.wrapping_sub(self.committed) >= self.size / 4 {
            self.commit();
        }
        loop {
            let mut avail = self.head.wrapping_sub(self.tail);
            if avail == 0 {
                self.commit();
                let head = self.region.load_acquire_u64(DATA_HEAD).unwrap_or(self.tail);
                avail = head.wrapping_sub(self.tail);
                if avail == 0 {
                    return Ok(None);
                }
                if avail > self.size {
                    return Err(self.corrupt("data head", head));
                }
                self.head = head;
            }
            let mut header = [0u8; 8];
            self.copy_out(self.tail, &mut header);
            let kind = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
            let rec_size = u64::from(u16::from_ne_bytes([header[6], header[7]]));
            if rec_size < 8 || rec_size > avail {
                return Err(self.corrupt("record size", rec_size));
            }
            let start = self.tail;
            self.tail = self.tail.wrapping_add(rec_size);
            let body_len = (rec_size - 8) as usize;
            match kind {
                RECORD_SAMPLE => {
                    let mut word = [0u8; 4];
                    if body_len < 4 {
                        return Err(self.corrupt("sample size", rec_size));
                    }
                    self.copy_out(start.wrapping_add(8), &mut word);
                    let raw = u32::from_ne_bytes(word) as usize;
                    if raw > body_len - 4 {
                        return Err(self.corrupt("raw sample size", raw as u64));
                    }
                    let data_pos = start.wrapping_add(12);
                    let off = (data_pos & (self.size - 1)) as usize;
                    if off + raw <= self.size as usize {
                        // SAFETY: `off + raw <= size`: inside the data area; published
                        // bytes, not reused before the tail (committed later, not while
                        // this borrow of `self` lives) passes them.
                        let s =
                            unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(off), raw) };
                        return Ok(Some(PerfRecord::Sample(s)));
                    }
                    scratch.clear();
                    scratch.resize(raw, 0);
                    self.copy_out(data_pos, scratch);
                    return Ok(Some(PerfRecord::Sample(scratch)));
                }
                RECORD_LOST if body_len >= 16 => {
                    let mut lost = [0u8; 16];
                    self.copy_out(start.wrapping_add(8), &mut lost);
                    let n = u64::from_ne_bytes([
                        lost[8], lost[9], lost[10], lost[11], lost[12], lost[13], lost[14],
                        lost[15],
                    ]);
                    self.lost = self.lost.wrapping_add(n);
                    return Ok(Some(PerfRecord::Lost(n)));
                }
                _ => continue,
            }
        }
    }
}

impl AsFd for PerfRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}

impl Drop for PerfRing {
    fn drop(&mut self) {
        self.commit();
    }
}

/// The reader of a perf event array: one [`PerfRing`] per online CPU, one epoll set.
///
/// ```no_run
/// use oxbpf::maps::{Map, PerfBuffer, PerfBufferOptions, PerfRecord};
/// use std::time::Duration;
/// # fn f(map: Map) -> oxbpf::maps::Result<()> {
/// let mut events = PerfBuffer::new(map, PerfBufferOptions::default())?;
/// events.poll(Duration::from_millis(100), |cpu, record| match record {
///     PerfRecord::Sample(data) => println!("cpu {cpu}: {} bytes", data.len()),
///     PerfRecord::Lost(n) => eprintln!("cpu {cpu}: lost {n}"),
/// })?;
/// # Ok(()) }
/// ```
///
/// For each online CPU it opens a `PERF_COUNT_SW_BPF_OUTPUT` software event (samples carry
/// `PERF_SAMPLE_RAW`, one wakeup per sample by default), maps its ring (a metadata page,
/// then `2^n` data pages, read-write so the kernel honours our tail), stores the event fd in
/// the map at the CPU's index and watches it with epoll. Records: `PERF_RECORD_SAMPLE` (a
/// `u32` size, then the raw bytes the program output, padded by the kernel to 8 bytes with
/// the size word) and `PERF_RECORD_LOST` (how many samples the kernel dropped because the
/// ring was full). Unlike BPF ring buffers, perf data pages are mapped once: a record that
/// wraps around the end is copied into a scratch buffer, any other is borrowed in place.
#[derive(Debug)]
pub struct PerfBuffer {
    map: Map,
    rings: Vec<PerfRing>,
    epoll: EpollSet,
    scratch: Vec<u8>,
    ready: Vec<usize>,
}

impl PerfBuffer {
    /// Opens a ring per online CPU and stores each event fd in `map` (a
    /// `PERF_EVENT_ARRAY` with an entry per CPU) at the CPU's index.
    pub fn new(map: Map, opts: PerfBufferOptions) -> Result<PerfBuffer> {
        check(
            &map,
            &[crate::syscall::MapType::PERF_EVENT_ARRAY],
            Some(4),
            Some(4),
        )?;
        let cpus = online_cpus().map_err(|e| map.sys(e))?;
        let mut epoll = EpollSet::new(map.name())?;
        let mut rings = Vec::with_capacity(cpus.len());
        let buffer = |rings: &mut Vec<PerfRing>| -> Result<()> {
            for cpu in cpus {
                if cpu >= map.max_entries() {
                    return Err(MapError::OutOfBounds {
                        map: map.name().to_string(),
                        what: "CPU index",
                        offset: cpu.into(),
                        size: 1,
                        limit: map.max_entries().into(),
                    });
                }
                let ring = PerfRing::open(cpu, &opts).map_err(|e| map.sys(e))?;
                let fd = ring.as_fd().as_raw_fd() as u32;
                map.update(
                    &cpu.to_ne_bytes(),
                    &fd.to_ne_bytes(),
                    crate::syscall::ElemFlags::ANY,
                )?;
                rings.push(ring);
                epoll.add(map.name(), rings[rings.len() - 1].as_fd(), rings.len() - 1)?;
            }
            Ok(())
        };
        let result = buffer(&mut rings);
        let pb = PerfBuffer {
            map,
            rings,
            epoll,
            scratch: Vec::new(),
            ready: Vec::new(),
        };
        // On failure, `pb` drops here and clears the slots it set.
        result.map(|()| pb)
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The rings, one per online CPU.
    pub fn rings(&self) -> &[PerfRing] {
        &self.rings
    }

    /// Samples reported lost so far, all CPUs.
    pub fn lost(&self) -> u64 {
        self.rings.iter().map(PerfRing::lost).sum()
    }

    /// Calls `f(cpu, record)` on every record ready in any ring; returns how many.
    pub fn consume(&mut self, mut f: impl FnMut(u32, PerfRecord<'_>)) -> Result<usize> {
        let mut n = 0;
        for ring in &mut self.rings {
            let cpu = ring.cpu;
            while let Some(rec) = ring.next(&mut self.scratch)? {
                f(cpu, rec);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Waits up to `timeout` for records, then consumes the rings that signalled; returns
    /// how many records (0 on timeout).
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(u32, PerfRecord<'_>),
    ) -> Result<usize> {
        let deadline = Deadline::after(timeout);
        loop {
            let n = self.consume(&mut f)?;
            if n > 0 {
                return Ok(n);
            }
            let Some(left) = deadline.remaining() else {
                return Ok(0);
            };
            self.ready.clear();
            let ready = &mut self.ready;
            self.epoll.wait(self.map.name(), left, |i| {
                ready.push(i);
                Ok(())
            })?;
            let mut n = 0;
            for &i in &self.ready {
                if let Some(ring) = self.rings.get_mut(i) {
                    let cpu = ring.cpu;
                    while let Some(rec) = ring.next(&mut self.scratch)? {
                        f(cpu, rec);
                        n += 1;
                    }
                }
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl AsFd for PerfBuffer {
    /// The epoll fd: readable when any CPU's ring is.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl Drop for PerfBuffer {
    fn drop(&mut self) {
        // The map holds a reference to each event until its slot is cleared.
        for ring in &self.rings {
            let _ = self.map.delete(&ring.cpu.to_ne_bytes());
        }
    }
}
