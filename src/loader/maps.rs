//! Creating an object's maps: its definitions (with BTF key/value types where the kernel
//! accepts them), pinned maps reused after a compatibility check, global data maps filled
//! and `.rodata`/`.kconfig` frozen, map-in-map slots filled.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use super::error::LoadError;
use crate::features::{self, Feature};
use crate::maps::{CreateOptions, Map, MapError, MapSpec};
use crate::object::{DataKind, DataSection, MapDef, MapOrigin, Object, Pinning, SlotTarget};
use crate::syscall::{ElemFlags, MapFlags, MapType};

/// The maps of one load, by object index.
pub(crate) struct CreatedMaps {
    /// One per [`Object::maps`] entry.
    pub user: Vec<Map>,
    /// One per [`Object::data_sections`] entry (`None` for empty sections).
    pub data: Vec<Option<Map>>,
    /// Pin paths of the maps this load pinned (removed again if the load fails).
    pub pinned_here: Vec<PathBuf>,
    /// Whether each user map was reused from a pin (its contents left alone).
    pub reused: Vec<bool>,
}

/// The spec of a map definition.
pub(crate) fn spec_of(def: &MapDef, with_btf: bool) -> MapSpec {
    let mut spec = MapSpec::new(def.map_type)
        .name(def.name.clone())
        .key_size(def.key_size)
        .value_size(def.value_size)
        .max_entries(def.max_entries)
        .flags(def.map_flags)
        .map_extra(def.map_extra);
    spec.numa_node = def.numa_node;
    if with_btf {
        spec.btf_key_type_id = def.btf_key_type_id.unwrap_or(0);
        spec.btf_value_type_id = def.btf_value_type_id.unwrap_or(0);
    }
    if let Some(inner) = &def.inner {
        // libbpf never passes BTF for inner map templates' creation either way; keep ids
        // only if the outer gets them.
        spec.inner = Some(Box::new(spec_of(inner, with_btf)));
    }
    spec
}

/// The spec of a global data section's internal map.
pub(crate) fn data_spec(d: &DataSection, with_btf: bool, mmapable_ok: bool) -> MapSpec {
    let mut flags = MapFlags::empty();
    if d.is_read_only() {
        flags |= MapFlags::RDONLY_PROG;
    }
    if d.is_mmapable() && mmapable_ok {
        flags |= MapFlags::MMAPABLE;
    }
    let mut spec = MapSpec::new(MapType::ARRAY)
        .name(d.map_name().to_string())
        .key_size(4)
        .value_size(d.size() as u32)
        .max_entries(1)
        .flags(flags);
    if with_btf {
        if let Some(id) = d.btf_datasec_id() {
            spec.btf_value_type_id = id;
        }
    }
    spec
}

/// A pin path component: bpffs refuses names with a `.`.
pub fn pin_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == '.' || c == '/' { '_' } else { c })
        .collect()
}

fn pins(def: &MapDef) -> bool {
    match &def.origin {
        MapOrigin::Iproute2(f) => f.pinning != 0 || def.pinning != Pinning::None,
        _ => def.pinning != Pinning::None,
    }
}

/// Creates (or reuses) every map of `obj`.
pub(crate) fn create_all(
    obj: &Object,
    btf_fd: Option<BorrowedFd<'_>>,
    pin_root: &Path,
    struct_ops: &[super::struct_ops::StructOpsPlan],
) -> Result<CreatedMaps, LoadError> {
    let mut out = CreatedMaps {
        user: Vec::with_capacity(obj.maps().len()),
        data: Vec::with_capacity(obj.data_sections().len()),
        pinned_here: Vec::new(),
        reused: Vec::new(),
    };
    let result = create_into(obj, btf_fd, pin_root, struct_ops, &mut out);
    if result.is_err() {
        for p in &out.pinned_here {
            let _ = std::fs::remove_file(p);
        }
    }
    result.map(|()| out)
}

fn create_into(
    obj: &Object,
    btf_fd: Option<BorrowedFd<'_>>,
    pin_root: &Path,
    struct_ops: &[super::struct_ops::StructOpsPlan],
    out: &mut CreatedMaps,
) -> Result<(), LoadError> {
    for (i, def) in obj.maps().iter().enumerate() {
        let mut spec = spec_of(def, btf_fd.is_some());
        if let Some(plan) = struct_ops.iter().find(|p| p.map == i) {
            // The kernel's value type, not the object's struct.
            spec.value_size = plan.value_size;
            spec.btf_vmlinux_value_type_id = plan.value_type_id;
            spec.btf_key_type_id = 0;
            spec.btf_value_type_id = 0;
        }
        if pins(def) {
            let path = pin_root.join(pin_name(&def.name));
            match Map::from_pin(&path) {
                Ok(m) => {
                    m.check_compatible(&spec)
                        .map_err(|source| LoadError::PinReuse {
                            map: def.name.clone(),
                            path: path.display().to_string(),
                            source: Box::new(source),
                        })?;
                    out.user.push(m);
                    out.reused.push(true);
                    continue;
                }
                Err(MapError::Syscall { source, .. })
                    if source.errno == nix::errno::Errno::ENOENT => {}
                Err(source) => {
                    return Err(LoadError::PinReuse {
                        map: def.name.clone(),
                        path: path.display().to_string(),
                        source: Box::new(source),
                    })
                }
            }
            let map = create(&spec, btf_fd)?;
            if let Err(e) = map.pin(&path) {
                return Err(LoadError::Pin {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
            out.pinned_here.push(path);
            out.user.push(map);
            out.reused.push(false);
        } else {
            out.user.push(create(&spec, btf_fd)?);
            out.reused.push(false);
        }
    }

    // BPF_F_MMAPABLE is asked for without a probe (5.5 kernels and later take it); only a
    // refusal asks the probe whether the kernel lacks it, and then the maps go without.
    let mut mmapable_ok = !features::testing::is_forced_missing(Feature::ArrayMmap);
    for d in obj.data_sections() {
        if d.size() == 0 {
            out.data.push(None);
            continue;
        }
        let map = match create(&data_spec(d, btf_fd.is_some(), mmapable_ok), btf_fd) {
            Ok(m) => m,
            Err(e)
                if mmapable_ok
                    && d.is_mmapable()
                    && !features::has(Feature::ArrayMmap).unwrap_or(true) =>
            {
                drop(e);
                mmapable_ok = false;
                create(&data_spec(d, btf_fd.is_some(), false), btf_fd)?
            }
            Err(e) => return Err(e),
        };
        map.update(&0u32.to_ne_bytes(), d.bytes(), ElemFlags::ANY)?;
        if d.is_read_only() {
            map.freeze()?;
        }
        out.data.push(Some(map));
    }

    // Map-in-map slots, now that every map exists.
    for (i, def) in obj.maps().iter().enumerate() {
        if !def.is_map_in_map() || out.reused[i] {
            continue;
        }
        for (slot, target) in def.initial_slots.iter().enumerate() {
            let Some(SlotTarget::Map(name)) = target else {
                continue;
            };
            let Some(j) = obj.maps().iter().position(|m| &m.name == name) else {
                return Err(LoadError::Map(MapError::InvalidSpec {
                    map: def.name.clone(),
                    why: "an initial slot names a map the object does not define",
                }));
            };
            let fd = out.user[j].as_fd();
            let fd_bytes = (std::os::fd::AsRawFd::as_raw_fd(&fd) as u32).to_ne_bytes();
            let key = (slot as u32).to_ne_bytes();
            out.user[i].update(
                &key[..out.user[i].key_size() as usize],
                &fd_bytes,
                ElemFlags::ANY,
            )?;
        }
    }
    Ok(())
}

/// Creates one map; with BTF first, and again without if the kernel refuses the BTF.
fn create(spec: &MapSpec, btf_fd: Option<BorrowedFd<'_>>) -> Result<Map, LoadError> {
    let opts = CreateOptions {
        btf_fd,
        ..Default::default()
    };
    let with_ids = spec.btf_key_type_id != 0 || spec.btf_value_type_id != 0;
    match spec.create_with(&opts) {
        Ok(m) => Ok(m),
        Err(_) if btf_fd.is_some() && with_ids => {
            let mut plain = spec.clone();
            plain.btf_key_type_id = 0;
            plain.btf_value_type_id = 0;
            if let Some(inner) = plain.inner.as_mut() {
                inner.btf_key_type_id = 0;
                inner.btf_value_type_id = 0;
            }
            Ok(plain.create_with(&CreateOptions::default())?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a data section's map is read-only for programs.
pub(crate) fn is_rodata(d: &DataSection) -> bool {
    d.kind() == DataKind::Rodata
}
