//! Map commands: `BPF_MAP_CREATE`, the element commands, `BPF_MAP_FREEZE`; and [`MapFd`], a
//! map fd carrying the sizes that make element access memory-safe.
//!
//! ```no_run
//! use oxbpf::syscall::{map_create, map_lookup_elem, map_update_elem, ElemFlags, MapCreate, MapType};
//!
//! let map = map_create(&MapCreate {
//!     map_type: MapType::ARRAY,
//!     key_size: 4,
//!     value_size: 8,
//!     max_entries: 16,
//!     name: "counters",
//!     ..Default::default()
//! })?;
//! map_update_elem(&map, &3u32.to_ne_bytes(), &42u64.to_ne_bytes(), ElemFlags::ANY)?;
//! let mut value = [0u8; 8];
//! assert!(map_lookup_elem(&map, &3u32.to_ne_bytes(), &mut value, ElemFlags::ANY)?);
//! assert_eq!(u64::from_ne_bytes(value), 42);
//! # Ok::<(), oxbpf::syscall::SyscallError>(())
//! ```

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::cpu::possible_cpus;
use super::error::{Call, Hint, Result, SyscallError};
use super::fd::{fd_i32, fd_u32, raw_u32};
use super::flags::{ElemFlags, MapFlags};
use super::info::map_info;
use super::sys::{bpf_fd, bpf_value, obj_name, ptr_u64, Attr, Pod, Sealed};
use super::types::{Command, MapType};
use super::version::{field, Field};

/// The `BPF_MAP_CREATE` member of `union bpf_attr` (96 bytes on 6.18).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields mirror the uapi names
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
    pub value_type_btf_obj_fd: i32,
    pub map_token_fd: i32,
    pub excl_prog_hash: u64,
    pub excl_prog_hash_size: u32,
    pub _pad0: u32,
}

impl Sealed for MapCreateAttr {}
// SAFETY: repr(C), integer fields only, explicit tail padding: no implicit padding.
unsafe impl Pod for MapCreateAttr {}
impl Attr for MapCreateAttr {
    const FIELDS: &'static [Field] = &[
        field("map_type", 0, 3, 18),
        field("key_size", 4, 3, 18),
        field("value_size", 8, 3, 18),
        field("max_entries", 12, 3, 18),
        field("map_flags", 16, 4, 6),
        field("inner_map_fd", 20, 4, 12),
        field("numa_node", 24, 4, 14),
        field("map_name", 28, 4, 15),
        field("map_ifindex", 44, 4, 16),
        field("btf_fd", 48, 4, 18),
        field("btf_key_type_id", 52, 4, 18),
        field("btf_value_type_id", 56, 4, 18),
        field("btf_vmlinux_value_type_id", 60, 5, 6),
        field("map_extra", 64, 5, 16),
        field("value_type_btf_obj_fd", 72, 6, 9),
        field("map_token_fd", 76, 6, 9),
        field("excl_prog_hash", 80, 6, 18),
        field("excl_prog_hash_size", 88, 6, 18),
    ];
}

/// What to create with [`map_create`]. `Default` gives an all-zero request; set what you need.
///
/// Setting `numa_node`, `value_type_btf_obj_fd` or `token_fd` also sets the map flag the
/// kernel wants with it (`BPF_F_NUMA_NODE`, `BPF_F_VTYPE_BTF_OBJ_FD`, `BPF_F_TOKEN_FD`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MapCreate<'a> {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (ring buffers: size in bytes).
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: MapFlags,
    /// Template inner map of a map-in-map.
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// NUMA node to allocate on.
    pub numa_node: Option<u32>,
    /// The name (first 15 bytes are kept).
    pub name: &'a str,
    /// Device to offload to (0: none).
    pub ifindex: u32,
    /// BTF object describing key and value.
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// BTF type id of the key.
    pub btf_key_type_id: u32,
    /// BTF type id of the value.
    pub btf_value_type_id: u32,
    /// Kernel BTF type id of a struct_ops value.
    pub btf_vmlinux_value_type_id: u32,
    /// `map_extra` (bloom filter hash count, arena address, ...).
    pub map_extra: u64,
    /// Module BTF holding `btf_vmlinux_value_type_id` (6.9).
    pub value_type_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// BPF token granting the permission (6.9).
    pub token_fd: Option<BorrowedFd<'a>>,
    /// Hash of the only program allowed to use this map (6.18); empty for none.
    pub excl_prog_hash: &'a [u8],
}

impl MapCreate<'_> {
    /// The attribute struct this request becomes.
    pub fn to_attr(&self) -> Result<MapCreateAttr> {
        let mut flags = self.map_flags;
        flags.set(
            MapFlags::NUMA_NODE,
            self.numa_node.is_some() || flags.contains(MapFlags::NUMA_NODE),
        );
        if self.value_type_btf_obj_fd.is_some() {
            flags |= MapFlags::VTYPE_BTF_OBJ_FD;
        }
        if self.token_fd.is_some() {
            flags |= MapFlags::TOKEN_FD;
        }
        Ok(MapCreateAttr {
            map_type: self.map_type.0,
            key_size: self.key_size,
            value_size: self.value_size,
            max_entries: self.max_entries,
            map_flags: flags.bits(),
            inner_map_fd: fd_u32(self.inner_map_fd),
            numa_node: self.numa_node.unwrap_or(0),
            map_name: obj_name(self.name),
            map_ifindex: self.ifindex,
            btf_fd: fd_u32(self.btf_fd),
            btf_key_type_id: self.btf_key_type_id,
            btf_value_type_id: self.btf_value_type_id,
            btf_vmlinux_value_type_id: self.btf_vmlinux_value_type_id,
            map_extra: self.map_extra,
            value_type_btf_obj_fd: fd_i32(self.value_type_btf_obj_fd),
            map_token_fd: fd_i32(self.token_fd),
            excl_prog_hash: ptr_u64(self.excl_prog_hash),
            excl_prog_hash_size: super::sys::len_u32(
                Command::MAP_CREATE,
                "excl_prog_hash longer than 4 GiB",
                self.excl_prog_hash.len(),
            )?,
            _pad0: 0,
        })
    }
}

/// `BPF_MAP_CREATE`: creates a map.
pub fn map_create(req: &MapCreate<'_>) -> Result<MapFd> {
    let mut attr = req.to_attr()?;
    // SAFETY: the only pointer, `excl_prog_hash`, points to `req.excl_prog_hash`, borrowed for
    // the call, with its length in `excl_prog_hash_size`.
    let fd = unsafe { bpf_fd(Command::MAP_CREATE, &mut attr)? };
    MapFd::with_layout(
        fd,
        MapLayout {
            map_type: req.map_type,
            key_size: req.key_size,
            value_size: req.value_size,
            max_entries: req.max_entries,
            map_flags: MapFlags::from_bits_retain(attr.map_flags),
        },
    )
}

/// The shape of a map as the kernel knows it: what element buffers must measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapLayout {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (of one CPU's value for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Creation flags.
    pub map_flags: MapFlags,
}

/// A map file descriptor with its [`MapLayout`], so element commands can check buffer sizes
/// before the kernel reads or writes them. Dropping it closes the fd.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    layout: MapLayout,
    /// Bytes of one value as user space moves it (per-CPU maps: all CPUs).
    value_len: usize,
}

impl MapFd {
    /// Wraps a map fd, asking the kernel for its layout (`BPF_OBJ_GET_INFO_BY_FD`).
    ///
    /// Use it for fds from [`obj_get`](super::obj_get) or
    /// [`map_get_fd_by_id`](super::map_get_fd_by_id). An fd that is not a map fails later,
    /// in the element commands, with EINVAL.
    pub fn from_fd(fd: OwnedFd) -> Result<MapFd> {
        let info = map_info(fd.as_fd())?;
        let layout = MapLayout {
            map_type: MapType(info.type_),
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: MapFlags::from_bits_retain(info.map_flags),
        };
        MapFd::with_layout(fd, layout)
    }

    fn with_layout(fd: OwnedFd, layout: MapLayout) -> Result<MapFd> {
        let value_len = user_value_len(&layout)?;
        Ok(MapFd {
            fd,
            layout,
            value_len,
        })
    }

    /// The map's layout.
    pub fn layout(&self) -> &MapLayout {
        &self.layout
    }

    /// Bytes of one value as the element commands move it: `value_size`, or for per-CPU
    /// maps `round_up(value_size, 8) * possible CPUs`.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Bytes of one value for a command with `flags` (`BPF_F_CPU`/`BPF_F_ALL_CPUS` move one
    /// CPU's value).
    pub fn value_len_for(&self, flags: ElemFlags) -> usize {
        if self.layout.map_type.is_per_cpu()
            && flags.intersects(ElemFlags::CPU | ElemFlags::ALL_CPUS)
        {
            self.layout.value_size as usize
        } else {
            self.value_len
        }
    }

    /// The fd, giving up the layout.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// A second `MapFd` for the same map (a `F_DUPFD_CLOEXEC` copy above 2).
    pub fn try_clone(&self) -> Result<MapFd> {
        let fd = nix::fcntl::fcntl(&self.fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
            .map_err(|e| SyscallError::new(Call::DupFd, e))?;
        Ok(MapFd {
            // SAFETY: F_DUPFD_CLOEXEC just returned this new fd; we are its only owner.
            fd: unsafe { super::fd::own_new_fd(i64::from(fd)) },
            layout: self.layout,
            value_len: self.value_len,
        })
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn user_value_len(layout: &MapLayout) -> Result<usize> {
    let size = layout.value_size as usize;
    if layout.map_type.is_per_cpu() {
        let cpus = possible_cpus()? as usize;
        return size
            .checked_next_multiple_of(8)
            .and_then(|s| s.checked_mul(cpus))
            .ok_or_else(|| {
                SyscallError::rejected(
                    Call::Bpf(Command::MAP_LOOKUP_ELEM),
                    Errno::E2BIG,
                    Hint::BadArgument("per-CPU value size overflows"),
                )
            });
    }
    if layout.map_type.holds_fds() {
        return Ok(4);
    }
    Ok(size)
}

/// The `BPF_MAP_*_ELEM` and `BPF_MAP_GET_NEXT_KEY` member of `union bpf_attr` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad0: u32,
    pub key: u64,
    /// `value`, or `next_key` for `BPF_MAP_GET_NEXT_KEY`.
    pub value: u64,
    pub flags: u64,
}

impl Sealed for MapElemAttr {}
// SAFETY: repr(C), integer fields only, explicit padding after `map_fd`.
unsafe impl Pod for MapElemAttr {}
impl Attr for MapElemAttr {
    const FIELDS: &'static [Field] = &[
        field("map_fd", 0, 3, 18),
        field("key", 8, 3, 18),
        field("value", 16, 3, 18),
        field("flags", 24, 3, 18),
    ];
}

pub(crate) fn check_len(
    cmd: Command,
    what: &'static str,
    expected: usize,
    actual: usize,
) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(SyscallError::rejected(
            Call::Bpf(cmd),
            Errno::EINVAL,
            Hint::BufferSize {
                what,
                expected,
                actual,
            },
        ))
    }
}

/// Treats ENOENT as `Ok(false)`.
fn found(r: Result<i64>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.errno == Errno::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs an element command after checking `key` and `value` against the map's layout.
fn elem(
    cmd: Command,
    map: &MapFd,
    key: Option<&[u8]>,
    value: Option<&mut [u8]>,
    value_len: usize,
    flags: u64,
) -> Result<i64> {
    let key_len = key.map_or(0, <[u8]>::len);
    if key.is_some() || map.layout.key_size == 0 {
        check_len(cmd, "key", map.layout.key_size as usize, key_len)?;
    }
    let mut attr = MapElemAttr {
        map_fd: raw_u32(map.as_fd()),
        key: key.map_or(0, ptr_u64),
        flags,
        ..Default::default()
    };
    if let Some(value) = value {
        check_len(cmd, "value", value_len, value.len())?;
        attr.value = super::sys::mut_ptr_u64(value);
    }
    // SAFETY: `key` (if any) holds exactly key_size bytes and `value` (if any) exactly the
    // bytes the kernel reads or writes for this map and flags (checked above); both are
    // borrowed for the call.
    unsafe { bpf_value(cmd, &mut attr) }
}

/// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`; `Ok(false)` if absent.
///
/// `key` must be `key_size` bytes (empty for queues, stacks and bloom filters, where this
/// peeks), `value` [`MapFd::value_len_for`]`(flags)` bytes.
pub fn map_lookup_elem(
    map: &MapFd,
    key: &[u8],
    value: &mut [u8],
    flags: ElemFlags,
) -> Result<bool> {
    let len = map.value_len_for(flags);
    found(elem(
        Command::MAP_LOOKUP_ELEM,
        map,
        Some(key),
        Some(value),
        len,
        flags.bits(),
    ))
}

/// `BPF_MAP_UPDATE_ELEM`: sets the value of `key` (for queues and stacks, `key` is empty and
/// this pushes). Maps of fds take the fd number as a 4-byte value.
pub fn map_update_elem(map: &MapFd, key: &[u8], value: &[u8], flags: ElemFlags) -> Result<()> {
    let len = map.value_len_for(flags);
    check_len(Command::MAP_UPDATE_ELEM, "value", len, value.len())?;
    check_len(
        Command::MAP_UPDATE_ELEM,
        "key",
        map.layout.key_size as usize,
        key.len(),
    )?;
    let mut attr = MapElemAttr {
        map_fd: raw_u32(map.as_fd()),
        key: ptr_u64(key),
        value: ptr_u64(value),
        flags: flags.bits(),
        ..Default::default()
    };
    // SAFETY: `key` and `value` hold exactly the bytes the kernel reads (checked above) and
    // are borrowed for the call; the kernel only reads them.
    unsafe { bpf_value(Command::MAP_UPDATE_ELEM, &mut attr) }.map(drop)
}

/// `BPF_MAP_DELETE_ELEM`: deletes `key`; `Ok(false)` if it was absent.
pub fn map_delete_elem(map: &MapFd, key: &[u8]) -> Result<bool> {
    found(elem(Command::MAP_DELETE_ELEM, map, Some(key), None, 0, 0))
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: copies the value of `key` into `value` and deletes it
/// (for queues and stacks, `key` is `None` and this pops); `Ok(false)` if absent/empty.
pub fn map_lookup_and_delete_elem(
    map: &MapFd,
    key: Option<&[u8]>,
    value: &mut [u8],
    flags: ElemFlags,
) -> Result<bool> {
    let len = map.value_len_for(flags);
    found(elem(
        Command::MAP_LOOKUP_AND_DELETE_ELEM,
        map,
        key,
        Some(value),
        len,
        flags.bits(),
    ))
}

/// `BPF_MAP_GET_NEXT_KEY`: writes the key after `key` (the first key for `None`) into
/// `next_key`; `Ok(false)` at the end.
pub fn map_get_next_key(map: &MapFd, key: Option<&[u8]>, next_key: &mut [u8]) -> Result<bool> {
    let cmd = Command::MAP_GET_NEXT_KEY;
    let key_size = map.layout.key_size as usize;
    check_len(cmd, "next_key", key_size, next_key.len())?;
    if let Some(key) = key {
        check_len(cmd, "key", key_size, key.len())?;
    }
    let mut attr = MapElemAttr {
        map_fd: raw_u32(map.as_fd()),
        key: key.map_or(0, ptr_u64),
        value: super::sys::mut_ptr_u64(next_key),
        ..Default::default()
    };
    // SAFETY: `key` (if any) and `next_key` hold exactly key_size bytes (checked above) and
    // are borrowed for the call.
    found(unsafe { bpf_value(cmd, &mut attr) })
}

/// `BPF_MAP_FREEZE`: makes the map read-only for user space from now on.
pub fn map_freeze(map: BorrowedFd<'_>) -> Result<()> {
    let mut attr = MapElemAttr {
        map_fd: raw_u32(map),
        ..Default::default()
    };
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::MAP_FREEZE, &mut attr) }.map(drop)
}
