//! The arena (`BPF_MAP_TYPE_ARENA`) and the `__arena` globals of `.addr_space.1`: placed at
//! the end of the arena's memory as libbpf places them (where the kernel takes such large
//! map-value offsets), copied in through a mapping of the arena once it exists; the mapping
//! lives as long as the loaded object.

use std::num::NonZeroUsize;
use std::os::fd::AsFd;

use super::error::LoadError;
use crate::features::{self, Feature};
use crate::maps::Map;
use crate::object::Object;
use crate::syscall::{self, MapType, MmapRegion, Protection};

fn arena_def(obj: &Object) -> Option<usize> {
    obj.maps().iter().position(|m| m.map_type == MapType::ARENA)
}

/// Where the arena globals start in the arena's memory.
pub(crate) fn data_offset(obj: &Object) -> u64 {
    let (Some(m), Some(data)) = (arena_def(obj), obj.arena_data()) else {
        return 0;
    };
    if !features::has(Feature::Ldimm64FullRangeOff).unwrap_or(false) {
        return 0;
    }
    let page = syscall::page_size() as u64;
    let size = u64::from(obj.maps()[m].max_entries) * page;
    let data = (data.len() as u64).div_ceil(page) * page;
    size.saturating_sub(data)
}

/// Maps the arena of `obj` (created as `map`) and copies the globals' initial values in.
pub(crate) fn populate(obj: &Object, map: &Map) -> Result<Option<MmapRegion>, LoadError> {
    let Some(m) = arena_def(obj) else {
        return Ok(None);
    };
    let def = &obj.maps()[m];
    let page = syscall::page_size();
    let len = def.max_entries as usize * page;
    let addr = NonZeroUsize::new(def.map_extra as usize);
    let region =
        syscall::map_mmap_at(map.as_fd(), len, 0, Protection::ReadWrite, addr).map_err(|e| {
            LoadError::Syscall {
                what: format!("mapping arena `{}`", def.name),
                source: e,
            }
        })?;
    if let Some(data) = obj.arena_data() {
        let off = data_offset(obj) as usize;
        if !region.write(off, data) {
            return Err(LoadError::Syscall {
                what: format!(
                    "arena `{}`: {} bytes of globals do not fit at offset {off}",
                    def.name,
                    data.len()
                ),
                source: syscall::SyscallError::new(syscall::Call::Mmap, nix::errno::Errno::E2BIG),
            });
        }
    }
    Ok(Some(region))
}
