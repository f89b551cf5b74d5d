//! Ctrl-C without a signal handler: SIGINT and SIGTERM are blocked and read from a
//! signalfd, so a streaming command notices them between polls and detaches cleanly.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The pending-interrupt check. Create it before starting any thread (threads inherit the
/// blocked mask).
pub struct Interrupt {
    fd: Option<SignalFd>,
}

impl Interrupt {
    /// Blocks SIGINT and SIGTERM for this thread and opens a signalfd for them. When that
    /// fails the signals keep their default action (the process dies; the kernel still
    /// detaches every link, as their fds close).
    pub fn new() -> Interrupt {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        if set.thread_block().is_err() {
            return Interrupt { fd: None };
        }
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok();
        if fd.is_none() {
            let _ = set.thread_unblock();
        }
        Interrupt { fd }
    }

    /// Whether SIGINT or SIGTERM arrived.
    pub fn fired(&self) -> bool {
        match &self.fd {
            Some(fd) => matches!(fd.read_signal(), Ok(Some(_))),
            None => false,
        }
    }
}
