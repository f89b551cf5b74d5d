//! Waiting for readiness: deadlines, `poll(2)` on one fd, and an epoll set over many (ring
//! buffers, perf rings).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use super::error::{MapError, Result};

/// When a blocking call gives up: `None` for never.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `timeout` from now (a timeout too large to represent never expires).
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// The time left; `None` once expired.
    pub(crate) fn remaining(&self) -> Option<Option<Duration>> {
        match self.0 {
            None => Some(None),
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                (!left.is_zero()).then_some(Some(left))
            }
        }
    }
}

/// A timeout as `poll`/`epoll_wait` milliseconds, rounded up (so a short wait still
/// sleeps), capped; `None` blocks.
pub(crate) fn poll_timeout(left: Option<Duration>) -> PollTimeout {
    match left {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Waits until `fd` reports one of `events` or `left` passes; `Ok(true)` if it did.
/// EINTR counts as a wakeup (the caller re-checks).
pub(crate) fn poll_fd(
    map: &str,
    fd: BorrowedFd<'_>,
    events: PollFlags,
    left: Option<Duration>,
) -> Result<bool> {
    let mut fds = [PollFd::new(fd, events)];
    match nix::poll::poll(&mut fds, poll_timeout(left)) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(true),
        Err(errno) => Err(MapError::Wait {
            map: map.to_string(),
            call: "poll",
            errno,
        }),
    }
}

/// An epoll set whose events carry an index.
#[derive(Debug)]
pub(crate) struct EpollSet {
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

impl EpollSet {
    pub(crate) fn new(what: &str) -> Result<EpollSet> {
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|errno| MapError::Wait {
                map: what.to_string(),
                call: "epoll_create1",
                errno,
            })?;
        Ok(EpollSet {
            epoll,
            events: Vec::new(),
        })
    }

    /// Watches `fd` for input, reporting `index`.
    pub(crate) fn add(&mut self, what: &str, fd: BorrowedFd<'_>, index: usize) -> Result<()> {
        let ev = EpollEvent::new(EpollFlags::EPOLLIN, index as u64);
        self.epoll.add(fd, ev).map_err(|errno| MapError::Wait {
            map: what.to_string(),
            call: "epoll_ctl",
            errno,
        })?;
        self.events.push(EpollEvent::empty());
        Ok(())
    }

    /// Waits up to `left`; calls `ready(index)` for each fd reported. EINTR reports nothing.
    pub(crate) fn wait(
        &mut self,
        what: &str,
        left: Option<Duration>,
        mut ready: impl FnMut(usize) -> Result<()>,
    ) -> Result<usize> {
        if self.events.is_empty() {
            if let Some(d) = left {
                std::thread::sleep(d);
            }
            return Ok(0);
        }
        let n = match self.epoll.wait(&mut self.events, poll_timeout(left)) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(errno) => {
                return Err(MapError::Wait {
                    map: what.to_string(),
                    call: "epoll_wait",
                    errno,
                })
            }
        };
        for ev in self.events.iter().take(n) {
            ready(ev.data() as usize)?;
        }
        Ok(n)
    }
}

impl AsFd for EpollSet {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(poll_timeout(None), PollTimeout::NONE);
        assert_eq!(poll_timeout(Some(Duration::ZERO)), PollTimeout::ZERO);
        assert_eq!(
            poll_timeout(Some(Duration::from_micros(10))),
            PollTimeout::try_from(1).unwrap()
        );
        assert_eq!(poll_timeout(Some(Duration::MAX)), PollTimeout::MAX);
        assert!(Deadline::after(Duration::ZERO).remaining().is_none());
        assert_eq!(Deadline::after(Duration::MAX).remaining(), Some(None));
    }
}
