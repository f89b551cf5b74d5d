//! `BPF_BTF_LOAD`: hands BTF to the kernel (for map and program types, func/line info).

use std::os::fd::{BorrowedFd, OwnedFd};

use super::error::Result;
use super::fd::fd_i32;
use super::flags::{BtfFlags, LogLevel};
use super::sys::{bpf_fd, len_u32, mut_ptr_u64, ptr_u64, Attr, Pod, Sealed};
use super::types::Command;
use super::version::{field, Field};

/// The `BPF_BTF_LOAD` member of `union bpf_attr` (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
    pub btf_flags: u32,
    pub btf_token_fd: i32,
}

impl Sealed for BtfLoadAttr {}
// SAFETY: repr(C), integer fields, no padding.
unsafe impl Pod for BtfLoadAttr {}
impl Attr for BtfLoadAttr {
    const FIELDS: &'static [Field] = &[
        field("btf", 0, 4, 18),
        field("btf_log_buf", 8, 4, 18),
        field("btf_size", 16, 4, 18),
        field("btf_log_size", 20, 4, 18),
        field("btf_log_level", 24, 4, 18),
        field("btf_log_true_size", 28, 6, 4),
        field("btf_flags", 32, 6, 9),
        field("btf_token_fd", 36, 6, 9),
    ];
}

/// What to load with [`btf_load`].
#[derive(Debug, Default)]
pub struct BtfLoad<'a> {
    /// Raw BTF: header, types, strings.
    pub btf: &'a [u8],
    /// Log level (the kernel supports level 1 for BTF).
    pub log_level: LogLevel,
    /// Buffer for the BTF verifier's log.
    pub log_buf: Option<&'a mut [u8]>,
    /// Out: the log size the kernel needed (6.4+), written on success and failure.
    pub log_true_size: u32,
    /// `btf_flags` (`TOKEN_FD` is added when `token_fd` is set).
    pub flags: BtfFlags,
    /// BPF token granting the permission (6.9).
    pub token_fd: Option<BorrowedFd<'a>>,
}

/// `BPF_BTF_LOAD`: loads BTF and returns its fd.
///
/// ```no_run
/// # fn f(raw_btf: &[u8]) -> oxbpf::syscall::Result<()> {
/// use oxbpf::syscall::{btf_load, BtfLoad, LogLevel};
/// let mut log = vec![0u8; 1 << 16];
/// let mut req = BtfLoad { btf: raw_btf, log_level: LogLevel::LEVEL1, log_buf: Some(&mut log), ..Default::default() };
/// let btf = btf_load(&mut req)?;
/// # Ok(()) }
/// ```
pub fn btf_load(req: &mut BtfLoad<'_>) -> Result<OwnedFd> {
    let cmd = Command::BTF_LOAD;
    let mut flags = req.flags;
    if req.token_fd.is_some() {
        flags |= BtfFlags::TOKEN_FD;
    }
    let (log_buf, log_size) = match req.log_buf.as_deref_mut() {
        Some(buf) => (
            mut_ptr_u64(buf),
            u32::try_from(buf.len()).unwrap_or(u32::MAX),
        ),
        None => (0, 0),
    };
    let mut attr = BtfLoadAttr {
        btf: ptr_u64(req.btf),
        btf_log_buf: log_buf,
        btf_size: len_u32(cmd, "BTF larger than 4 GiB", req.btf.len())?,
        btf_log_size: log_size,
        btf_log_level: req.log_level.bits(),
        btf_log_true_size: 0,
        btf_flags: flags.bits(),
        btf_token_fd: fd_i32(req.token_fd),
    };
    // SAFETY: `btf` points to `req.btf` with its length in `btf_size` (read only);
    // `btf_log_buf` is null or an exclusively borrowed buffer of `btf_log_size` bytes.
    let fd = unsafe { bpf_fd(cmd, &mut attr) };
    req.log_true_size = attr.btf_log_true_size;
    fd
}
