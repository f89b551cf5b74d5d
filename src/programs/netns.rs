//! The network namespace an attachment was made in, so that detaching (netlink, legacy flow
//! dissector) happens there even if the `Link` is dropped on a thread of another namespace.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::stat::fstat;

use crate::syscall::{Call, SyscallError};

const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// A handle on a network namespace.
#[derive(Debug)]
pub(crate) struct NetnsRef(OwnedFd);

fn io_error(e: std::io::Error) -> SyscallError {
    SyscallError::from_code(
        Call::Read(THREAD_NETNS),
        e.raw_os_error().unwrap_or(libc::EIO),
    )
}

impl NetnsRef {
    /// The calling thread's namespace.
    pub(crate) fn current() -> Result<NetnsRef, SyscallError> {
        File::open(THREAD_NETNS)
            .map(|f| NetnsRef(f.into()))
            .map_err(io_error)
    }

    fn is_current(&self) -> bool {
        let (Ok(mine), Ok(here)) = (
            fstat(self.0.as_fd()),
            File::open(THREAD_NETNS).and_then(|f| fstat(f.as_fd()).map_err(Into::into)),
        ) else {
            return false;
        };
        (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)
    }

    /// Runs `f` in this namespace: right here if the calling thread is in it, else on a
    /// short-lived thread that enters it (`setns`, CAP_SYS_ADMIN).
    pub(crate) fn run<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, SyscallError> + Send,
    ) -> Result<T, SyscallError> {
        if self.is_current() {
            return f();
        }
        let ns = self.0.as_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| SyscallError::new(Call::Netlink("setns"), e))?;
                f()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(SyscallError::new(
                    Call::Netlink("setns"),
                    nix::errno::Errno::EIO,
                ))
            })
        })
    }
}
