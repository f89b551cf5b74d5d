//! The single choke point through which every `bpf(2)` call goes, and the plain-data trait
//! of the attribute structs it sends.

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::error::{Result, SyscallError};
use super::fd::{own_new_fd, MoveAboveStdio};
use super::testing;
use super::types::Command;
use super::version::Field;

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// Plain old data: a `Copy` type whose every byte is initialized and for which every bit
/// pattern is a valid value, so it can be viewed and decoded as bytes.
///
/// The `bpf(2)` attribute and info structs of this layer implement it; so do the integer and
/// float types and arrays of `Pod` types. Map keys and values
/// ([`crate::maps`]) are `Pod`, and a user's own `#[repr(C)]` struct becomes one with an
/// `unsafe impl`:
///
/// ```
/// use oxbpf::syscall::Pod;
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, Default, PartialEq)]
/// struct Event {
///     pid: u32,
///     comm: [u8; 12],
///     ts_ns: u64,
/// }
/// // SAFETY: repr(C); u32 + [u8; 12] fill 16 bytes, then an 8-aligned u64: no padding,
/// // and any bytes are a valid Event.
/// unsafe impl Pod for Event {}
///
/// let e = Event { pid: 7, ..Default::default() };
/// assert_eq!(Event::from_bytes(e.as_bytes()), Some(e));
/// ```
///
/// # Safety
///
/// An implementor must be `#[repr(C)]` (or `#[repr(transparent)]`) and made only of `Pod`
/// fields (integers, floats, arrays of them, other `Pod` structs), **without implicit padding**
/// anywhere, including at the end (add explicit padding fields, e.g. `_pad: [u8; 4]`); it
/// must hold no references, pointers, `bool`s, `char`s or enums. Then every byte of a value
/// is initialized and any bytes decode to a valid value, which is what the byte views below
/// and the kernel's copies rely on. The provided methods must not be overridden with
/// implementations that return other memory.
pub unsafe trait Pod: Copy + 'static {
    /// The value's bytes, as the kernel reads them.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Self: Pod` has no padding, so all `size_of::<Self>()` bytes behind `self`
        // are initialized; the borrow keeps them alive.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                std::mem::size_of::<Self>(),
            )
        }
    }

    /// The value's bytes, writable: any bytes written leave a valid value (the kernel writes
    /// lookups into this view).
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytes_mut(self)
    }

    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: every bit pattern, the all-zero one included, is a valid `Self`.
        unsafe { std::mem::zeroed() }
    }

    /// Decodes a value from the start of `bytes` (e.g. attribute bytes captured by
    /// [`testing::capture`], or a map value); `None` if `bytes` is too short.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let src = bytes.get(..std::mem::size_of::<Self>())?;
        // SAFETY: `src` holds exactly `size_of::<Self>()` readable bytes; any bit pattern is a
        // valid `Self`; `read_unaligned` has no alignment requirement.
        Some(unsafe { std::ptr::read_unaligned(src.as_ptr().cast::<Self>()) })
    }
}

/// Mutable byte view of a [`Pod`] value.
pub(crate) fn bytes_mut<T: Pod>(value: &mut T) -> &mut [u8] {
    // SAFETY: as in `Pod::as_bytes`; writing any bytes keeps `T` valid (every bit pattern
    // is), and the exclusive borrow rules out aliasing.
    unsafe {
        std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), std::mem::size_of::<T>())
    }
}

/// An attribute struct of one `bpf(2)` command: its member of `union bpf_attr`.
pub(crate) trait Attr: Pod + Sealed {
    /// The fields with the release that added each, ordered by offset.
    const FIELDS: &'static [Field];
}

/// What a `bpf(2)` call returned.
pub(crate) enum Ret {
    /// The kernel's non-negative return value.
    Kernel(i64),
    /// A test fake's plain value.
    FakeValue(i64),
    /// A test fake's file descriptor.
    FakeFd(OwnedFd),
}

/// The choke point: `bpf(cmd, attr, attr.len())`, or the thread's test fake when one is
/// installed ([`testing::install_fake`]). Errors are raw errno values.
///
/// # Safety
///
/// Every pointer stored in `attr` must be valid, for the whole call, for the reads and writes
/// that `cmd` makes through it (the lengths stored next to each pointer bound them).
pub(crate) unsafe fn sys_bpf(cmd: Command, attr: &mut [u8]) -> std::result::Result<Ret, i32> {
    if let Some(reply) = testing::call_fake(cmd, attr) {
        return reply
            .map(|r| match r {
                testing::FakeReply::Value(v) => Ret::FakeValue(v),
                testing::FakeReply::Fd(fd) => Ret::FakeFd(fd),
            })
            .map_err(|e| e as i32);
    }
    // SAFETY: `attr` is a live, exclusively borrowed buffer of `attr.len()` bytes; the caller
    // guarantees the pointers inside it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd.0 as libc::c_long,
            attr.as_mut_ptr(),
            attr.len() as libc::c_ulong,
        )
    };
    if ret < 0 {
        // The raw code: nix's Errno has no value for the kernel-internal ENOTSUPP (524).
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(Ret::Kernel(ret))
    }
}

/// Runs a command that returns a number (0 for most).
///
/// # Safety
///
/// As [`sys_bpf`]: the pointers in `attr` are valid for `cmd`.
pub(crate) unsafe fn bpf_value<A: Attr>(cmd: Command, attr: &mut A) -> Result<i64> {
    // SAFETY: forwarded from the caller.
    unsafe { bpf_value_fields(cmd, attr, A::FIELDS) }
}

/// [`bpf_value`] with an explicit field table (for attributes whose union part depends on
/// the variant used).
///
/// # Safety
///
/// As [`sys_bpf`].
pub(crate) unsafe fn bpf_value_fields<A: Pod>(
    cmd: Command,
    attr: &mut A,
    fields: &[Field],
) -> Result<i64> {
    // SAFETY: forwarded from the caller.
    match unsafe { sys_bpf(cmd, bytes_mut(attr)) } {
        Ok(Ret::Kernel(v) | Ret::FakeValue(v)) => Ok(v),
        // A fake answering a plain command with an fd: the value is 0, the fd is dropped.
        Ok(Ret::FakeFd(_)) => Ok(0),
        Err(code) => Err(SyscallError::bpf_code(cmd, code, attr.as_bytes(), fields)),
    }
}

/// Runs a command that returns a new file descriptor, moved above 2.
///
/// # Safety
///
/// As [`sys_bpf`]; and `cmd` must be a command whose non-negative return value is a new fd.
pub(crate) unsafe fn bpf_fd<A: Attr>(cmd: Command, attr: &mut A) -> Result<OwnedFd> {
    // SAFETY: forwarded from the caller.
    unsafe { bpf_fd_fields(cmd, attr, A::FIELDS) }
}

/// [`bpf_fd`] with an explicit field table.
///
/// # Safety
///
/// As [`bpf_fd`].
pub(crate) unsafe fn bpf_fd_fields<A: Pod>(
    cmd: Command,
    attr: &mut A,
    fields: &[Field],
) -> Result<OwnedFd> {
    // SAFETY: forwarded from the caller.
    let fd = match unsafe { sys_bpf(cmd, bytes_mut(attr)) } {
        // SAFETY: the kernel just created this fd for us and nobody else owns it.
        Ok(Ret::Kernel(v)) => unsafe { own_new_fd(v) },
        Ok(Ret::FakeFd(fd)) => fd,
        // A fake must hand over a real fd for an fd-returning command.
        Ok(Ret::FakeValue(_)) => return Err(SyscallError::bpf(cmd, Errno::EBADF, &[], &[])),
        Err(code) => return Err(SyscallError::bpf_code(cmd, code, attr.as_bytes(), fields)),
    };
    fd.move_above_stdio()
}

/// `BPF_OBJ_NAME_LEN`: object names are at most 15 bytes plus a NUL.
pub const OBJ_NAME_LEN: usize = 16;

/// An object name as the kernel takes it: the first 15 bytes of `name`, NUL-padded.
///
/// The kernel accepts only `[A-Za-z0-9_.]` in map and program names; sanitizing is the
/// caller's business (this layer passes what it is given).
pub fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    let len = name.len().min(OBJ_NAME_LEN - 1);
    out[..len].copy_from_slice(&name.as_bytes()[..len]);
    out
}

/// A pointer to a slice as a `__u64` attribute field (0 for an empty slice).
pub(crate) fn ptr_u64<T>(slice: &[T]) -> u64 {
    if slice.is_empty() {
        0
    } else {
        slice.as_ptr() as u64
    }
}

/// A pointer to a mutable slice as a `__u64` attribute field (0 for an empty slice).
pub(crate) fn mut_ptr_u64<T>(slice: &mut [T]) -> u64 {
    if slice.is_empty() {
        0
    } else {
        slice.as_mut_ptr() as u64
    }
}

/// A length as a `__u32` attribute field, or an error naming `what` when it does not fit.
pub(crate) fn len_u32(cmd: Command, what: &'static str, len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| {
        SyscallError::rejected(
            super::error::Call::Bpf(cmd),
            Errno::E2BIG,
            super::error::Hint::BadArgument(what),
        )
    })
}
