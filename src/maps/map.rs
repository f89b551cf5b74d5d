//! [`Map`]: a map in the kernel, by fd, with byte-level element access, key iteration,
//! pinning and opening by pin, id or fd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::syscall::{
    map_delete_elem, map_freeze, map_get_fd_by_id, map_get_next_key, map_info,
    map_lookup_and_delete_elem, map_lookup_elem, map_update_elem, obj_get, obj_pin, ElemFlags,
    FileFlags, MapFd, MapFlags, MapInfo, MapType, SyscallError,
};

use super::error::{MapError, Result};
use super::spec::MapSpec;

/// A BPF map: its fd, name, type, sizes, flags and BTF ids.
///
/// Element access at this level is by bytes, with buffers checked against the map's sizes
/// before the kernel sees them; the typed views ([`HashMap`](super::HashMap),
/// [`Array`](super::Array), ...) wrap a `Map` (owned or borrowed) for typed keys and values.
/// Dropping the `Map` closes its fd (the kernel frees the map when nothing else holds it).
#[derive(Debug)]
pub struct Map {
    fd: MapFd,
    name: String,
    btf_id: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

impl Map {
    pub(crate) fn from_created(fd: MapFd, spec: &MapSpec, with_btf: bool) -> Map {
        Map {
            fd,
            name: spec.name.clone(),
            btf_id: 0,
            btf_key_type_id: if with_btf { spec.btf_key_type_id } else { 0 },
            btf_value_type_id: if with_btf { spec.btf_value_type_id } else { 0 },
            btf_vmlinux_value_type_id: spec.btf_vmlinux_value_type_id,
            map_extra: spec.map_extra,
        }
    }

    /// Wraps a map fd (from a loader, a socket, another process...), reading its name, type,
    /// sizes and BTF ids from the kernel.
    pub fn from_fd(fd: OwnedFd) -> Result<Map> {
        let info = map_info(fd.as_fd()).map_err(|source| MapError::Syscall {
            map: String::from("<fd>"),
            source,
        })?;
        let name = info.name();
        let fd = MapFd::from_fd(fd).map_err(|source| MapError::Syscall {
            map: name.clone(),
            source,
        })?;
        Ok(Map {
            fd,
            name,
            btf_id: info.btf_id,
            btf_key_type_id: info.btf_key_type_id,
            btf_value_type_id: info.btf_value_type_id,
            btf_vmlinux_value_type_id: info.btf_vmlinux_value_type_id,
            map_extra: info.map_extra,
        })
    }

    /// Opens a pinned map (read-write).
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Map> {
        Map::from_pin_with(path, FileFlags::empty())
    }

    /// Opens a pinned map with `flags` (`RDONLY`, `WRONLY`).
    pub fn from_pin_with(path: impl AsRef<Path>, flags: FileFlags) -> Result<Map> {
        let path = path.as_ref();
        let fd = obj_get(path, flags).map_err(|source| MapError::Syscall {
            map: path.display().to_string(),
            source,
        })?;
        Map::from_fd(fd)
    }

    /// Opens the map with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Map> {
        let fd = map_get_fd_by_id(id, FileFlags::empty()).map_err(|source| MapError::Syscall {
            map: format!("id {id}"),
            source,
        })?;
        Map::from_fd(fd)
    }

    /// Pins the map at `path` (on a bpffs).
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        obj_pin(self.as_fd(), path.as_ref()).map_err(|e| self.sys(e))
    }

    /// A second `Map` for the same kernel map (a duplicated fd).
    pub fn try_clone(&self) -> Result<Map> {
        Ok(Map {
            fd: self.fd.try_clone().map_err(|e| self.sys(e))?,
            name: self.name.clone(),
            ..*self
        })
    }

    /// The name: as given to [`MapSpec`] for a map created here (the kernel keeps its first
    /// 15 bytes; [`Map::info`] tells), the kernel's for a map opened by fd, pin or id. Errors
    /// name the map by it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.fd.layout().map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.fd.layout().key_size
    }

    /// Value size in bytes (of one CPU's value for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.fd.layout().value_size
    }

    /// Bytes of one value as element calls move it (per-CPU maps: all possible CPUs, each
    /// rounded up to 8 bytes; fd maps: 4).
    pub fn value_len(&self) -> usize {
        self.fd.value_len()
    }

    /// Maximum number of entries (ring buffers: data size in bytes).
    pub fn max_entries(&self) -> u32 {
        self.fd.layout().max_entries
    }

    /// Creation flags.
    pub fn flags(&self) -> MapFlags {
        self.fd.layout().map_flags
    }

    /// BTF object id (0 if none, or unknown for a map created here; see [`Map::info`]).
    pub fn btf_id(&self) -> u32 {
        self.btf_id
    }

    /// BTF type id of the key (0: none).
    pub fn btf_key_type_id(&self) -> u32 {
        self.btf_key_type_id
    }

    /// BTF type id of the value (0: none).
    pub fn btf_value_type_id(&self) -> u32 {
        self.btf_value_type_id
    }

    /// Kernel BTF type id of a struct_ops value (0: none).
    pub fn btf_vmlinux_value_type_id(&self) -> u32 {
        self.btf_vmlinux_value_type_id
    }

    /// `map_extra`.
    pub fn map_extra(&self) -> u64 {
        self.map_extra
    }

    /// The fd with its layout, for the raw [`syscall`](crate::syscall) functions.
    pub fn map_fd(&self) -> &MapFd {
        &self.fd
    }

    /// The fd, giving up the rest.
    pub fn into_map_fd(self) -> MapFd {
        self.fd
    }

    /// What the kernel reports now (`BPF_OBJ_GET_INFO_BY_FD`): id, BTF ids, flags, ...
    pub fn info(&self) -> Result<MapInfo> {
        map_info(self.as_fd()).map_err(|e| self.sys(e))
    }

    /// The kernel's id of the map.
    pub fn id(&self) -> Result<u32> {
        self.info().map(|i| i.id)
    }

    /// Checks that this (e.g. pinned) map matches `spec` as libbpf does before reusing it:
    /// type, key and value sizes, max entries, flags (`BPF_F_RDONLY_PROG` ignored for
    /// `DEVMAP`, which the kernel adds) and `map_extra`.
    pub fn check_compatible(&self, spec: &MapSpec) -> Result<()> {
        let spec = spec.normalized()?;
        let mut flags = self.flags();
        let mut want = spec.flags;
        if spec.map_type == MapType::DEVMAP {
            flags.remove(MapFlags::RDONLY_PROG);
            want.remove(MapFlags::RDONLY_PROG);
        }
        let checks: [(&'static str, u64, u64); 6] = [
            ("type", spec.map_type.0.into(), self.map_type().0.into()),
            ("key_size", spec.key_size.into(), self.key_size().into()),
            (
                "value_size",
                spec.value_size.into(),
                self.value_size().into(),
            ),
            (
                "max_entries",
                spec.max_entries.into(),
                self.max_entries().into(),
            ),
            ("map_flags", want.bits().into(), flags.bits().into()),
            ("map_extra", spec.map_extra, self.info()?.map_extra),
        ];
        for (field, expected, actual) in checks {
            if expected != actual {
                return Err(MapError::Incompatible {
                    map: self.name.clone(),
                    field,
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Copies the value of `key` into `value` ([`Map::value_len`] bytes, or one CPU's value
    /// with [`ElemFlags::cpu`]); `Ok(false)` if absent. `flags`: `ANY`, `LOCK`, `cpu(n)`.
    #[inline]
    pub fn lookup(&self, key: &[u8], value: &mut [u8], flags: ElemFlags) -> Result<bool> {
        map_lookup_elem(&self.fd, key, value, flags).map_err(|e| self.sys(e))
    }

    /// The value of `key`, allocated; `None` if absent.
    pub fn lookup_vec(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut value = vec![0u8; self.value_len()];
        Ok(self
            .lookup(key, &mut value, ElemFlags::ANY)?
            .then_some(value))
    }

    /// Sets `key` to `value`. `flags`: `ANY` (create or update), `NOEXIST` (create only),
    /// `EXIST` (update only), optionally with `LOCK`.
    #[inline]
    pub fn update(&self, key: &[u8], value: &[u8], flags: ElemFlags) -> Result<()> {
        map_update_elem(&self.fd, key, value, flags).map_err(|e| self.sys(e))
    }

    /// Deletes `key`; `Ok(false)` if it was absent.
    #[inline]
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        map_delete_elem(&self.fd, key).map_err(|e| self.sys(e))
    }

    /// Copies the value of `key` into `value` and deletes it; `Ok(false)` if absent. For
    /// queues and stacks `key` is `None` (this pops).
    #[inline]
    pub fn lookup_and_delete(
        &self,
        key: Option<&[u8]>,
        value: &mut [u8],
        flags: ElemFlags,
    ) -> Result<bool> {
        map_lookup_and_delete_elem(&self.fd, key, value, flags).map_err(|e| self.sys(e))
    }

    /// Writes the key after `key` (the first key for `None`) into `next`; `Ok(false)` at the
    /// end. When `key` is no longer in a hash map, the kernel restarts from the first key.
    #[inline]
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
        map_get_next_key(&self.fd, key, next).map_err(|e| self.sys(e))
    }

    /// The keys, each allocated (the typed views iterate without allocating).
    ///
    /// Iteration follows the kernel's `BPF_MAP_GET_NEXT_KEY`: each step asks for the key
    /// after the previous one. Deleting the key just returned is fine (the kernel then
    /// restarts from the first remaining key, so deleting every key as it comes visits each
    /// once); other concurrent changes may make keys repeat or be missed.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            prev: None,
            done: false,
        }
    }

    /// `BPF_MAP_FREEZE`: no more writes from user space.
    pub fn freeze(&self) -> Result<()> {
        map_freeze(self.as_fd()).map_err(|e| self.sys(e))
    }

    /// Wraps a syscall error with this map's name.
    #[cold]
    pub(crate) fn sys(&self, source: SyscallError) -> MapError {
        MapError::Syscall {
            map: self.name.clone(),
            source,
        }
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Iterator over a map's keys as byte vectors; see [`Map::keys`].
#[derive(Debug)]
pub struct Keys<'a> {
    map: &'a Map,
    prev: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut next = vec![0u8; self.map.key_size() as usize];
        match self.map.next_key(self.prev.as_deref(), &mut next) {
            Ok(true) => {
                self.prev = Some(next.clone());
                Some(Ok(next))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
