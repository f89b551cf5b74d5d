//! struct_ops: registering a struct_ops map (created and filled by the loader) with a link
//! (6.0, for maps created with `BPF_F_LINK`), or owning a map the loader registered by
//! `BPF_MAP_UPDATE_ELEM` so that dropping unregisters it.

use std::os::fd::BorrowedFd;

use crate::syscall::{
    link_create, link_update, map_info, AttachType, LinkCreate, LinkTarget, MapFd, MapFlags,
    MapType,
};

use super::error::{AttachError, AttachErrorKind, Result};
use super::link::{Inner, Link};

fn fail(name: &str, op: &'static str, source: crate::syscall::SyscallError) -> AttachError {
    AttachErrorKind::Syscall {
        program: name.to_string(),
        target: format!("struct_ops ({op})"),
        source,
    }
    .into()
}

/// Registers struct_ops map `map` (named `name` in errors) through a struct_ops link, or,
/// for maps created without `BPF_F_LINK` (already registered by the loader's element
/// update), returns a link that unregisters the map when dropped.
pub fn attach_struct_ops(map: BorrowedFd<'_>, name: &str) -> Result<Link> {
    let info = map_info(map).map_err(|e| fail(name, "map info", e))?;
    if info.map_type() != MapType::STRUCT_OPS {
        return Err(AttachErrorKind::Unsupported {
            program: name.to_string(),
            target: "struct_ops".into(),
            why: format!("map is a {}, not a struct_ops map", info.map_type()),
        }
        .into());
    }
    if MapFlags::from_bits_retain(info.map_flags).contains(MapFlags::LINK) {
        let req = LinkCreate::new(map, LinkTarget::None, AttachType::STRUCT_OPS);
        let fd = link_create(&req).map_err(|e| fail(name, "link", e))?;
        return Ok(Link::bpf(fd, name, "struct_ops"));
    }
    let owned = map.try_clone_to_owned().map_err(|e| AttachErrorKind::Io {
        program: name.to_string(),
        target: "struct_ops".into(),
        path: "map fd".into(),
        source: e,
    })?;
    let map = MapFd::from_fd(owned).map_err(|e| fail(name, "map info", e))?;
    Ok(Link::new(
        Inner::StructOpsMap(map),
        name,
        "struct_ops (registered by map update)",
    ))
}

impl Link {
    /// Swaps the struct_ops map of a struct_ops link for `new_map` (`BPF_LINK_UPDATE`, 6.4).
    pub fn update_struct_ops(&mut self, new_map: BorrowedFd<'_>) -> Result<()> {
        let Some(fd) = self.fd() else {
            return Err(AttachErrorKind::LinkOp {
                program: self.program().to_string(),
                target: self.target().to_string(),
                op: "update the map of",
                method: "non-link struct_ops",
            }
            .into());
        };
        link_update(fd, new_map, None).map_err(|source| {
            AttachErrorKind::Link {
                program: self.program().to_string(),
                target: self.target().to_string(),
                op: "update",
                path: None,
                source,
            }
            .into()
        })
    }
}
