//! File descriptor plumbing: taking ownership of new fds, keeping them above 2, and turning
//! optional fds into attribute values.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg};

use super::error::{Call, Result, SyscallError};

/// Takes ownership of a descriptor number the kernel just returned.
///
/// # Safety
///
/// `raw` must be an open fd that nothing else owns or will close.
pub(crate) unsafe fn own_new_fd(raw: i64) -> OwnedFd {
    // SAFETY: guaranteed by the caller; fds fit in an i32.
    unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
}

/// Moving a new fd to a number above 2: several attributes read fd 0 as "none", and fds 0-2
/// are stdin/stdout/stderr, which a closed-then-reused fd must not impersonate.
pub trait MoveAboveStdio: Sized {
    /// `self` if its number is above 2; else a `F_DUPFD_CLOEXEC` copy numbered 3 or more (the
    /// original is closed).
    fn move_above_stdio(self) -> Result<Self>;
}

impl MoveAboveStdio for OwnedFd {
    fn move_above_stdio(self) -> Result<OwnedFd> {
        if self.as_raw_fd() > 2 {
            return Ok(self);
        }
        let raw = fcntl(&self, FcntlArg::F_DUPFD_CLOEXEC(3))
            .map_err(|e| SyscallError::new(Call::DupFd, e))?;
        // SAFETY: F_DUPFD_CLOEXEC just returned this new fd; we are its only owner. `self`
        // is dropped (closed) on return.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }
}

/// An optional fd as an unsigned attribute field: `None` is 0 ("no fd").
pub(crate) fn fd_u32(fd: Option<BorrowedFd<'_>>) -> u32 {
    fd.map_or(0, |fd| fd.as_raw_fd() as u32)
}

/// A borrowed fd as an unsigned attribute field.
pub(crate) fn raw_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// An optional fd as a signed attribute field (`*_token_fd`, `path_fd`): `None` is 0.
pub(crate) fn fd_i32(fd: Option<BorrowedFd<'_>>) -> i32 {
    fd.map_or(0, |fd| fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn low_fds_move_above_stdio() {
        // A dup of stdin numbered 0 is what the kernel could hand back after a close(0); we
        // simulate with an fd whose number we cannot pick, so check both paths through a dup.
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd: OwnedFd = file.into();
        let n = fd.as_raw_fd();
        let moved = fd.move_above_stdio().unwrap();
        assert!(moved.as_raw_fd() > 2);
        if n > 2 {
            assert_eq!(moved.as_raw_fd(), n);
        }
        assert_eq!(fd_u32(None), 0);
        assert_eq!(fd_u32(Some(moved.as_fd())), moved.as_raw_fd() as u32);
        assert_eq!(fd_i32(Some(moved.as_fd())), moved.as_raw_fd());
    }

    #[test]
    fn fd_zero_is_moved_and_closed() {
        // Make fd 0 a /dev/null we may own (stdin is unused by tests), then hand it over.
        let null = std::fs::File::open("/dev/null").unwrap();
        nix::unistd::dup2_stdin(&null).unwrap();
        // SAFETY: fd 0 was just made a /dev/null duplicate; nothing else in this test
        // process reads stdin or closes it.
        let zero = unsafe { own_new_fd(0) };
        let moved = zero.move_above_stdio().unwrap();
        assert!(moved.as_raw_fd() > 2);
        // The original fd 0 is closed (unless another test thread reused the number).
        let still_null = nix::sys::stat::fstat(&moved).unwrap();
        assert_eq!(
            still_null.st_rdev,
            nix::sys::stat::fstat(&null).unwrap().st_rdev
        );
    }
}
