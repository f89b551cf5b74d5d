//! [`RingBufPoller`]: one epoll set over several [`RingBuf`]s.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::error::Result;
use super::ringbuf::RingBuf;
use super::wait::{Deadline, EpollSet};

/// One epoll set over several ring buffers: consume them all, or wait until any has data.
///
/// ```no_run
/// use oxbpf::maps::{RingBuf, RingBufPoller};
/// use std::time::Duration;
/// # fn f(a: RingBuf, b: RingBuf) -> oxbpf::maps::Result<()> {
/// let mut poller = RingBufPoller::new()?;
/// let ia = poller.add(a)?;
/// poller.add(b)?;
/// poller.poll(Duration::from_millis(100), |ring, record| {
///     println!("{} bytes from {}", record.len(), if ring == ia { "a" } else { "b" });
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RingBufPoller {
    rings: Vec<RingBuf>,
    epoll: EpollSet,
    ready: Vec<usize>,
}

impl RingBufPoller {
    /// An empty poller (one epoll fd).
    pub fn new() -> Result<RingBufPoller> {
        Ok(RingBufPoller {
            rings: Vec::new(),
            epoll: EpollSet::new("<ring buffer poller>")?,
            ready: Vec::new(),
        })
    }

    /// Adds a ring; returns its index (passed to the callbacks).
    pub fn add(&mut self, ring: RingBuf) -> Result<usize> {
        let index = self.rings.len();
        self.epoll.add(ring.map().name(), ring.as_fd(), index)?;
        self.rings.push(ring);
        Ok(index)
    }

    /// The rings, in the order added.
    pub fn rings(&self) -> &[RingBuf] {
        &self.rings
    }

    /// Ring `index`, mutably (to read it alone).
    pub fn ring_mut(&mut self, index: usize) -> Option<&mut RingBuf> {
        self.rings.get_mut(index)
    }

    /// Gives the rings back.
    pub fn into_rings(self) -> Vec<RingBuf> {
        self.rings
    }

    /// Calls `f(ring index, record)` on every record ready in any ring; returns how many.
    pub fn consume(&mut self, mut f: impl FnMut(usize, &[u8])) -> Result<usize> {
        let mut n = 0;
        for (i, ring) in self.rings.iter_mut().enumerate() {
            n += ring.consume(|r| f(i, r))?;
        }
        Ok(n)
    }

    /// Waits up to `timeout` until a ring has records, then consumes the ready rings;
    /// returns how many records (0 on timeout).
    pub fn poll(&mut self, timeout: Duration, mut f: impl FnMut(usize, &[u8])) -> Result<usize> {
        let deadline = Deadline::after(timeout);
        loop {
            let n = self.consume(&mut f)?;
            if n > 0 {
                return Ok(n);
            }
            let (mut ready_now, mut busy) = (false, false);
            for ring in &mut self.rings {
                match ring.settle() {
                    Some(true) => ready_now = true,
                    Some(false) => busy = true,
                    None => {}
                }
            }
            if ready_now {
                continue;
            }
            let Some(left) = deadline.remaining() else {
                return Ok(0);
            };
            if busy {
                std::thread::yield_now();
                continue;
            }
            self.ready.clear();
            let ready = &mut self.ready;
            self.epoll.wait("<ring buffer poller>", left, |i| {
                ready.push(i);
                Ok(())
            })?;
            let mut n = 0;
            for &i in &self.ready {
                if let Some(ring) = self.rings.get_mut(i) {
                    n += ring.consume(|r| f(i, r))?;
                }
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl AsFd for RingBufPoller {
    /// The epoll fd: readable when any ring is.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
