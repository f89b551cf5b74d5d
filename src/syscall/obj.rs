//! Object commands: pinning (`BPF_OBJ_PIN`, `BPF_OBJ_GET`) and walking the kernel's objects
//! by id (`BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`).
//!
//! ```no_run
//! use oxbpf::syscall::{map_get_fd_by_id, map_ids, map_info, FileFlags};
//! use std::os::fd::AsFd;
//!
//! for id in map_ids() {
//!     let fd = map_get_fd_by_id(id?, FileFlags::empty())?;
//!     println!("{}", map_info(fd.as_fd())?.name());
//! }
//! # Ok::<(), oxbpf::syscall::SyscallError>(())
//! ```

use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use super::error::{Call, Hint, Result, SyscallError};
use super::fd::{fd_i32, raw_u32};
use super::flags::FileFlags;
use super::sys::{bpf_fd, bpf_value, Attr, Pod, Sealed};
use super::types::Command;
use super::version::{field, Field};

/// The `BPF_OBJ_PIN`/`BPF_OBJ_GET` member of `union bpf_attr` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ObjAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: i32,
    pub _pad0: u32,
}

impl Sealed for ObjAttr {}
// SAFETY: repr(C), integer fields, explicit tail padding.
unsafe impl Pod for ObjAttr {}
impl Attr for ObjAttr {
    const FIELDS: &'static [Field] = &[
        field("pathname", 0, 4, 4),
        field("bpf_fd", 8, 4, 4),
        field("file_flags", 12, 4, 15),
        field("path_fd", 16, 6, 5),
    ];
}

fn c_path(cmd: Command, path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        SyscallError::rejected(
            Call::Bpf(cmd),
            Errno::EINVAL,
            Hint::BadArgument("the path contains a NUL byte"),
        )
    })
}

fn pin(fd: BorrowedFd<'_>, dir: Option<BorrowedFd<'_>>, path: &Path) -> Result<()> {
    let cmd = Command::OBJ_PIN;
    let path = c_path(cmd, path)?;
    let mut attr = ObjAttr {
        pathname: path.as_ptr() as u64,
        bpf_fd: raw_u32(fd),
        file_flags: if dir.is_some() {
            FileFlags::PATH_FD.bits()
        } else {
            0
        },
        path_fd: fd_i32(dir),
        _pad0: 0,
    };
    // SAFETY: `pathname` points to a NUL-terminated string alive for the call.
    unsafe { bpf_value(cmd, &mut attr) }.map(drop)
}

fn get(dir: Option<BorrowedFd<'_>>, path: &Path, flags: FileFlags) -> Result<OwnedFd> {
    let cmd = Command::OBJ_GET;
    let path = c_path(cmd, path)?;
    let mut flags = flags;
    flags.set(FileFlags::PATH_FD, dir.is_some());
    let mut attr = ObjAttr {
        pathname: path.as_ptr() as u64,
        file_flags: flags.bits(),
        path_fd: fd_i32(dir),
        ..Default::default()
    };
    // SAFETY: `pathname` points to a NUL-terminated string alive for the call; OBJ_GET
    // returns a new fd.
    unsafe { bpf_fd(cmd, &mut attr) }
}

/// `BPF_OBJ_PIN`: pins a map, program, link or BTF object at `path` in a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    pin(fd, None, path)
}

/// `BPF_OBJ_PIN` relative to the directory `dir` (`BPF_F_PATH_FD`, 6.5).
pub fn obj_pin_at(fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, path: &Path) -> Result<()> {
    pin(fd, Some(dir), path)
}

/// `BPF_OBJ_GET`: opens the object pinned at `path` (`flags`: `RDONLY`/`WRONLY` for maps).
pub fn obj_get(path: &Path, flags: FileFlags) -> Result<OwnedFd> {
    get(None, path, flags)
}

/// `BPF_OBJ_GET` relative to the directory `dir` (`BPF_F_PATH_FD`, 6.5).
pub fn obj_get_at(dir: BorrowedFd<'_>, path: &Path, flags: FileFlags) -> Result<OwnedFd> {
    get(Some(dir), path, flags)
}

/// The id member of `union bpf_attr` (`BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct GetIdAttr {
    /// `start_id`, or `prog_id`/`map_id`/`btf_id`/`link_id` (a union).
    pub start_id: u32,
    pub next_id: u32,
    pub open_flags: u32,
    pub fd_by_id_token_fd: i32,
}

impl Sealed for GetIdAttr {}
// SAFETY: repr(C), four 4-byte integers.
unsafe impl Pod for GetIdAttr {}
impl Attr for GetIdAttr {
    const FIELDS: &'static [Field] = &[
        field("start_id", 0, 4, 13),
        field("next_id", 4, 4, 13),
        field("open_flags", 8, 4, 15),
        field("fd_by_id_token_fd", 12, 6, 15),
    ];
}

/// A kind of kernel object that has ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjKind {
    /// Programs.
    Prog,
    /// Maps.
    Map,
    /// BTF objects.
    Btf,
    /// Links.
    Link,
}

impl ObjKind {
    /// Its `BPF_*_GET_NEXT_ID` command.
    pub const fn next_id_command(self) -> Command {
        match self {
            ObjKind::Prog => Command::PROG_GET_NEXT_ID,
            ObjKind::Map => Command::MAP_GET_NEXT_ID,
            ObjKind::Btf => Command::BTF_GET_NEXT_ID,
            ObjKind::Link => Command::LINK_GET_NEXT_ID,
        }
    }

    /// Its `BPF_*_GET_FD_BY_ID` command.
    pub const fn fd_by_id_command(self) -> Command {
        match self {
            ObjKind::Prog => Command::PROG_GET_FD_BY_ID,
            ObjKind::Map => Command::MAP_GET_FD_BY_ID,
            ObjKind::Btf => Command::BTF_GET_FD_BY_ID,
            ObjKind::Link => Command::LINK_GET_FD_BY_ID,
        }
    }
}

/// `BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID`: the first id above `start_id` (0 for the first),
/// `Ok(None)` past the last.
pub fn get_next_id(kind: ObjKind, start_id: u32) -> Result<Option<u32>> {
    let mut attr = GetIdAttr {
        start_id,
        ..Default::default()
    };
    // SAFETY: no pointers.
    match unsafe { bpf_value(kind.next_id_command(), &mut attr) } {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.errno == Errno::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_{PROG,MAP,BTF,LINK}_GET_FD_BY_ID`: opens the object with `id`. `open_flags`
/// (`RDONLY`/`WRONLY`) apply to maps; `token_fd` (6.15) sets `BPF_F_TOKEN_FD`.
pub fn get_fd_by_id(
    kind: ObjKind,
    id: u32,
    open_flags: FileFlags,
    token_fd: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd> {
    let mut flags = open_flags;
    if token_fd.is_some() {
        flags |= FileFlags::TOKEN_FD;
    }
    let mut attr = GetIdAttr {
        start_id: id,
        next_id: 0,
        open_flags: flags.bits(),
        fd_by_id_token_fd: fd_i32(token_fd),
    };
    // SAFETY: no pointers; the command returns a new fd.
    unsafe { bpf_fd(kind.fd_by_id_command(), &mut attr) }
}

/// `BPF_PROG_GET_NEXT_ID`.
pub fn prog_get_next_id(start_id: u32) -> Result<Option<u32>> {
    get_next_id(ObjKind::Prog, start_id)
}

/// `BPF_MAP_GET_NEXT_ID`.
pub fn map_get_next_id(start_id: u32) -> Result<Option<u32>> {
    get_next_id(ObjKind::Map, start_id)
}

/// `BPF_BTF_GET_NEXT_ID`.
pub fn btf_get_next_id(start_id: u32) -> Result<Option<u32>> {
    get_next_id(ObjKind::Btf, start_id)
}

/// `BPF_LINK_GET_NEXT_ID`.
pub fn link_get_next_id(start_id: u32) -> Result<Option<u32>> {
    get_next_id(ObjKind::Link, start_id)
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> Result<OwnedFd> {
    get_fd_by_id(ObjKind::Prog, id, FileFlags::empty(), None)
}

/// `BPF_MAP_GET_FD_BY_ID` (wrap the fd with [`MapFd::from_fd`](super::MapFd::from_fd) for
/// element access).
pub fn map_get_fd_by_id(id: u32, open_flags: FileFlags) -> Result<OwnedFd> {
    get_fd_by_id(ObjKind::Map, id, open_flags, None)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_get_fd_by_id(id: u32) -> Result<OwnedFd> {
    get_fd_by_id(ObjKind::Btf, id, FileFlags::empty(), None)
}

/// `BPF_LINK_GET_FD_BY_ID`.
pub fn link_get_fd_by_id(id: u32) -> Result<OwnedFd> {
    get_fd_by_id(ObjKind::Link, id, FileFlags::empty(), None)
}

/// Iterator over the ids of one kind of object, from [`prog_ids`], [`map_ids`], [`btf_ids`]
/// or [`link_ids`]. Stops after the last id or after the first error.
#[derive(Clone, Debug)]
pub struct Ids {
    kind: ObjKind,
    next: Option<u32>,
}

impl Iterator for Ids {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Result<u32>> {
        let start = self.next?;
        match get_next_id(self.kind, start) {
            Ok(Some(id)) => {
                self.next = Some(id);
                Some(Ok(id))
            }
            Ok(None) => {
                self.next = None;
                None
            }
            Err(e) => {
                self.next = None;
                Some(Err(e))
            }
        }
    }
}

/// Every object id of `kind`, in increasing order.
pub fn ids(kind: ObjKind) -> Ids {
    Ids {
        kind,
        next: Some(0),
    }
}

/// Every program id.
pub fn prog_ids() -> Ids {
    ids(ObjKind::Prog)
}

/// Every map id.
pub fn map_ids() -> Ids {
    ids(ObjKind::Map)
}

/// Every BTF object id.
pub fn btf_ids() -> Ids {
    ids(ObjKind::Btf)
}

/// Every link id.
pub fn link_ids() -> Ids {
    ids(ObjKind::Link)
}
