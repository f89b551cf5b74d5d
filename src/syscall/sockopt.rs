//! Socket options that attach BPF programs to sockets: `SO_ATTACH_BPF`/`SO_DETACH_BPF`
//! (socket filters) and `SO_ATTACH_REUSEPORT_EBPF` (reuseport selection).
//!
//! ```no_run
//! use oxbpf::syscall::{socket_attach_bpf, socket_detach_bpf};
//! use std::os::fd::AsFd;
//! # fn f(prog: std::os::fd::OwnedFd) -> oxbpf::syscall::Result<()> {
//! let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! socket_attach_bpf(sock.as_fd(), prog.as_fd())?;
//! socket_detach_bpf(sock.as_fd())?;
//! # Ok(()) }
//! ```

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::error::{Call, Result, SyscallError};

/// `SO_ATTACH_BPF` (asm-generic/socket.h).
const SO_ATTACH_BPF: libc::c_int = 50;
/// `SO_DETACH_BPF` (= `SO_DETACH_FILTER`).
const SO_DETACH_BPF: libc::c_int = 27;
/// `SO_ATTACH_REUSEPORT_EBPF`.
const SO_ATTACH_REUSEPORT_EBPF: libc::c_int = 52;
/// `SO_DETACH_REUSEPORT_BPF`.
const SO_DETACH_REUSEPORT_BPF: libc::c_int = 68;

fn set_int(
    sock: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    name: &'static str,
    value: libc::c_int,
) -> Result<()> {
    // SAFETY: `value` is a live c_int whose size is passed; the kernel only reads it; `sock`
    // is a borrowed open fd.
    let ret = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(SyscallError::new(Call::Setsockopt(name), Errno::last()))
    } else {
        Ok(())
    }
}

/// `setsockopt(SOL_SOCKET, SO_ATTACH_BPF)`: runs the socket filter program `prog` on every
/// packet `sock` receives (replacing any filter it had).
pub fn socket_attach_bpf(sock: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<()> {
    set_int(
        sock,
        libc::SOL_SOCKET,
        SO_ATTACH_BPF,
        "SO_ATTACH_BPF",
        prog.as_raw_fd(),
    )
}

/// `setsockopt(SOL_SOCKET, SO_DETACH_BPF)`: removes the socket's filter (ENOENT if none).
pub fn socket_detach_bpf(sock: BorrowedFd<'_>) -> Result<()> {
    set_int(sock, libc::SOL_SOCKET, SO_DETACH_BPF, "SO_DETACH_BPF", 0)
}

/// `setsockopt(SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF)`: lets `prog` (a socket filter or
/// `SK_REUSEPORT` program) pick the socket of `sock`'s reuseport group.
pub fn socket_attach_reuseport_bpf(sock: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<()> {
    set_int(
        sock,
        libc::SOL_SOCKET,
        SO_ATTACH_REUSEPORT_EBPF,
        "SO_ATTACH_REUSEPORT_EBPF",
        prog.as_raw_fd(),
    )
}

/// `setsockopt(SOL_SOCKET, SO_DETACH_REUSEPORT_BPF)`.
pub fn socket_detach_reuseport_bpf(sock: BorrowedFd<'_>) -> Result<()> {
    set_int(
        sock,
        libc::SOL_SOCKET,
        SO_DETACH_REUSEPORT_BPF,
        "SO_DETACH_REUSEPORT_BPF",
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_non_program_fd_is_a_typed_error() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let err = socket_attach_bpf(sock.as_fd(), null.as_fd()).unwrap_err();
        assert_eq!(err.command, Call::Setsockopt("SO_ATTACH_BPF"));
        assert!(err
            .to_string()
            .starts_with("setsockopt(SO_ATTACH_BPF) failed"));
        // Nothing attached: detaching says so.
        let err = socket_detach_bpf(sock.as_fd()).unwrap_err();
        assert_eq!(err.errno, Errno::ENOENT);
    }
}
