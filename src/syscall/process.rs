//! `pidfd_open(2)`: a process (or thread) fd, which keys task storage maps.

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::error::{Call, Result, SyscallError};
use super::fd::{own_new_fd, MoveAboveStdio};

/// `PIDFD_THREAD` (6.9): a pidfd of one thread (`pid` a thread id), not of a process.
pub const PIDFD_THREAD: u32 = libc::O_EXCL as u32;

/// `pidfd_open(pid, flags)` (Linux 5.3): an fd referring to process `pid` (or, with
/// [`PIDFD_THREAD`], to thread `pid`), close-on-exec.
pub fn pidfd_open(pid: u32, flags: u32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1; no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_open,
            pid as libc::c_long,
            flags as libc::c_long,
        )
    };
    if ret < 0 {
        return Err(SyscallError::new(Call::PidfdOpen, Errno::last()));
    }
    // SAFETY: the kernel just returned this new fd; we are its only owner.
    unsafe { own_new_fd(ret) }.move_above_stdio()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn opens_own_pidfd() {
        let fd = pidfd_open(std::process::id(), 0).unwrap();
        assert!(fd.as_raw_fd() > 2);
        let tid = nix::unistd::gettid().as_raw() as u32;
        match pidfd_open(tid, PIDFD_THREAD) {
            Ok(fd) => assert!(fd.as_raw_fd() > 2),
            Err(e) => assert_eq!(e.errno, Errno::EINVAL, "kernel before 6.9: {e}"),
        }
        let err = pidfd_open(0x7fff_fff0, 0).unwrap_err();
        assert_eq!(err.command, Call::PidfdOpen);
        assert_eq!(err.errno, Errno::ESRCH);
    }
}
