//! [`MapSpec`]: what a map should be, and its creation (spec → [`Map`]).
//!
//! The loader creates an object's maps through [`MapSpec::create_with`], and standalone maps
//! come from the same path. Creation first [normalizes](MapSpec::normalized) the spec the way
//! libbpf does, so a spec parsed from an object and one written by hand behave the same.

use std::os::fd::{AsFd, BorrowedFd};

use crate::syscall::{
    map_create, page_size, possible_cpus, MapCreate, MapFlags, MapType, Pod, OBJ_NAME_LEN,
};

use super::error::{MapError, Result};
use super::map::Map;

/// A map to create: type, sizes, entries, flags, name, inner map, BTF ids, NUMA node,
/// `map_extra`.
///
/// Build one with the chained setters, or fill the public fields:
///
/// ```no_run
/// use oxbpf::maps::MapSpec;
/// use oxbpf::syscall::MapType;
///
/// let map = MapSpec::new(MapType::HASH)
///     .name("pids")
///     .key::<u32>()
///     .value::<u64>()
///     .max_entries(1024)
///     .create()?;
/// assert_eq!(map.key_size(), 4);
/// # Ok::<(), oxbpf::maps::MapError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSpec {
    /// The name (the kernel keeps the first 15 bytes, `[A-Za-z0-9_.]` only).
    pub name: String,
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (one CPU's value for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries (ring buffers: data size in bytes).
    pub max_entries: u32,
    /// Creation flags.
    pub flags: MapFlags,
    /// NUMA node to allocate on.
    pub numa_node: Option<u32>,
    /// `map_extra`: bloom filter hash count (bits 0-3), arena start address, ...
    pub map_extra: u64,
    /// Inner map template of a map-in-map; created for the outer map's creation, then closed.
    pub inner: Option<Box<MapSpec>>,
    /// BTF type id of the key (needs [`CreateOptions::btf_fd`]).
    pub btf_key_type_id: u32,
    /// BTF type id of the value (needs [`CreateOptions::btf_fd`]).
    pub btf_value_type_id: u32,
    /// Kernel BTF type id of a struct_ops value.
    pub btf_vmlinux_value_type_id: u32,
    /// Device to offload to (0: none).
    pub ifindex: u32,
}

/// File descriptors a creation may need besides the spec.
#[derive(Clone, Copy, Debug, Default)]
pub struct CreateOptions<'a> {
    /// The BTF object the spec's BTF ids refer to. Without it, BTF ids are not passed.
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// An existing inner map template (overrides [`MapSpec::inner`]).
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// Module BTF holding `btf_vmlinux_value_type_id`.
    pub value_type_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// A BPF token granting the permission.
    pub token_fd: Option<BorrowedFd<'a>>,
}

/// Map types whose BTF key/value ids are not passed to the kernel (libbpf's list: their
/// keys and values are fds, ids or nothing).
const NO_BTF_IDS: &[MapType] = &[
    MapType::PERF_EVENT_ARRAY,
    MapType::CGROUP_ARRAY,
    MapType::STACK_TRACE,
    MapType::ARRAY_OF_MAPS,
    MapType::HASH_OF_MAPS,
    MapType::DEVMAP,
    MapType::DEVMAP_HASH,
    MapType::CPUMAP,
    MapType::XSKMAP,
    MapType::SOCKMAP,
    MapType::SOCKHASH,
    MapType::QUEUE,
    MapType::STACK,
    MapType::ARENA,
];

impl MapSpec {
    /// A spec of `map_type` with everything else zero.
    pub fn new(map_type: MapType) -> MapSpec {
        MapSpec {
            map_type,
            ..Default::default()
        }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> MapSpec {
        self.name = name.into();
        self
    }

    /// Sets the key size.
    pub fn key_size(mut self, size: u32) -> MapSpec {
        self.key_size = size;
        self
    }

    /// Sets the value size.
    pub fn value_size(mut self, size: u32) -> MapSpec {
        self.value_size = size;
        self
    }

    /// Sets the key size to that of `K`.
    pub fn key<K: Pod>(self) -> MapSpec {
        self.key_size(size_u32::<K>())
    }

    /// Sets the value size to that of `V`.
    pub fn value<V: Pod>(self) -> MapSpec {
        self.value_size(size_u32::<V>())
    }

    /// Sets the maximum number of entries (ring buffers: the size in bytes).
    pub fn max_entries(mut self, n: u32) -> MapSpec {
        self.max_entries = n;
        self
    }

    /// Sets the creation flags.
    pub fn flags(mut self, flags: MapFlags) -> MapSpec {
        self.flags = flags;
        self
    }

    /// Sets the NUMA node.
    pub fn numa_node(mut self, node: u32) -> MapSpec {
        self.numa_node = Some(node);
        self
    }

    /// Sets `map_extra`.
    pub fn map_extra(mut self, extra: u64) -> MapSpec {
        self.map_extra = extra;
        self
    }

    /// Sets the inner map template (map-in-map).
    pub fn inner(mut self, inner: MapSpec) -> MapSpec {
        self.inner = Some(Box::new(inner));
        self
    }

    /// Sets the BTF key and value type ids.
    pub fn btf_ids(mut self, key: u32, value: u32) -> MapSpec {
        self.btf_key_type_id = key;
        self.btf_value_type_id = value;
        self
    }

    /// The spec as it will be created, following libbpf's conventions:
    /// - ring buffers (`RINGBUF`, `USER_RINGBUF`): `max_entries` rounded up to a power-of-2
    ///   multiple of the page size;
    /// - `PERF_EVENT_ARRAY` with 0 entries: one per possible CPU;
    /// - maps whose values are fds (prog/perf/cgroup arrays, maps of maps): key and value
    ///   sizes default to 4 (the outer key of a hash of maps stays as given);
    /// - map types whose keys/values are not BTF-described (perf event arrays, stack traces,
    ///   maps of maps, dev/cpu/xsk/sock maps, queues, stacks, arenas): BTF ids dropped.
    pub fn normalized(&self) -> Result<MapSpec> {
        let mut spec = self.clone();
        let t = spec.map_type;
        if matches!(t, MapType::RINGBUF | MapType::USER_RINGBUF) {
            spec.max_entries = ring_size(spec.max_entries, page_size());
        }
        if t == MapType::PERF_EVENT_ARRAY && spec.max_entries == 0 {
            spec.max_entries = possible_cpus().map_err(|source| MapError::Syscall {
                map: spec.name.clone(),
                source,
            })?;
        }
        if t.holds_fds() {
            if spec.value_size == 0 {
                spec.value_size = 4;
            }
            if spec.key_size == 0 && t != MapType::HASH_OF_MAPS {
                spec.key_size = 4;
            }
        }
        if NO_BTF_IDS.contains(&t) {
            spec.btf_key_type_id = 0;
            spec.btf_value_type_id = 0;
        }
        Ok(spec)
    }

    /// Creates the map (no BTF, inner map from [`MapSpec::inner`]).
    pub fn create(&self) -> Result<Map> {
        self.create_with(&CreateOptions::default())
    }

    /// Creates the map with the given BTF object, inner map template, token.
    pub fn create_with(&self, opts: &CreateOptions<'_>) -> Result<Map> {
        let spec = self.normalized()?;
        let invalid = |why| MapError::InvalidSpec {
            map: spec.name.clone(),
            why,
        };
        let is_map_in_map = matches!(
            spec.map_type,
            MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS
        );
        let template;
        let inner_map_fd = match (opts.inner_map_fd, &spec.inner) {
            (Some(fd), _) => Some(fd),
            (None, Some(inner)) => {
                let inner_opts = CreateOptions {
                    inner_map_fd: None,
                    ..*opts
                };
                template = inner.create_with(&inner_opts)?;
                Some(template.as_fd())
            }
            (None, None) if is_map_in_map => {
                return Err(invalid("a map of maps needs an inner map"))
            }
            (None, None) => None,
        };
        let with_btf = opts.btf_fd.is_some();
        let req = MapCreate {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            inner_map_fd,
            numa_node: spec.numa_node,
            name: kernel_name(&spec.name),
            ifindex: spec.ifindex,
            btf_fd: opts.btf_fd,
            btf_key_type_id: if with_btf { spec.btf_key_type_id } else { 0 },
            btf_value_type_id: if with_btf { spec.btf_value_type_id } else { 0 },
            btf_vmlinux_value_type_id: spec.btf_vmlinux_value_type_id,
            map_extra: spec.map_extra,
            value_type_btf_obj_fd: opts.value_type_btf_obj_fd,
            token_fd: opts.token_fd,
            excl_prog_hash: &[],
        };
        let fd = map_create(&req).map_err(|source| MapError::Syscall {
            map: spec.name.clone(),
            source,
        })?;
        Ok(Map::from_created(fd, &spec, with_btf))
    }
}

/// The name as the kernel stores it: the first 15 bytes (cut at a character boundary).
pub(crate) fn kernel_name(name: &str) -> &str {
    let mut end = name.len().min(OBJ_NAME_LEN - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

fn size_u32<T>() -> u32 {
    u32::try_from(std::mem::size_of::<T>()).unwrap_or(u32::MAX)
}

/// libbpf's ring size adjustment: `size` if it already is a power-of-2 multiple of the page
/// size, else the smallest such multiple above it (0 stays 0, so the kernel reports it).
pub(crate) fn ring_size(size: u32, page: usize) -> u32 {
    let page = u64::try_from(page).unwrap_or(4096).max(1);
    let size64 = u64::from(size);
    if size == 0 || (size64 % page == 0 && (size64 / page).is_power_of_two()) {
        return size;
    }
    let mut mul = 1u64;
    while mul * page <= u64::from(u32::MAX) {
        if mul * page > size64 {
            return (mul * page) as u32;
        }
        mul <<= 1;
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::testing::{capture, FakeReply};
    use crate::syscall::{Command, MapCreateAttr};

    #[test]
    fn ring_sizes_follow_libbpf() {
        assert_eq!(ring_size(0, 4096), 0);
        assert_eq!(ring_size(4096, 4096), 4096);
        assert_eq!(ring_size(4097, 4096), 8192);
        assert_eq!(ring_size(3 * 4096, 4096), 4 * 4096);
        assert_eq!(ring_size(100, 4096), 4096);
        assert_eq!(ring_size(1 << 20, 4096), 1 << 20);
        assert_eq!(ring_size(u32::MAX - 5, 4096), u32::MAX - 5);
    }

    #[test]
    fn normalization() {
        let s = MapSpec::new(MapType::RINGBUF)
            .max_entries(5000)
            .normalized()
            .unwrap();
        assert_eq!(s.max_entries, 8192.max(page_size() as u32));
        let s = MapSpec::new(MapType::PERF_EVENT_ARRAY)
            .btf_ids(1, 2)
            .normalized()
            .unwrap();
        assert_eq!(s.max_entries, possible_cpus().unwrap());
        assert_eq!((s.key_size, s.value_size), (4, 4));
        assert_eq!((s.btf_key_type_id, s.btf_value_type_id), (0, 0));
        let s = MapSpec::new(MapType::HASH)
            .btf_ids(1, 2)
            .normalized()
            .unwrap();
        assert_eq!((s.btf_key_type_id, s.btf_value_type_id), (1, 2));
        let s = MapSpec::new(MapType::HASH_OF_MAPS)
            .key_size(8)
            .normalized()
            .unwrap();
        assert_eq!((s.key_size, s.value_size), (8, 4));
        assert_eq!(kernel_name("a_very_long_map_name"), "a_very_long_map");
        let (map, calls) = capture(
            |_, _| FakeReply::dev_null(),
            || {
                MapSpec::new(MapType::ARRAY)
                    .name("a_very_long_map_name")
                    .key_size(4)
                    .value_size(4)
                    .max_entries(1)
                    .create()
            },
        );
        assert_eq!(
            map.unwrap().name(),
            "a_very_long_map_name",
            "errors keep the full name"
        );
        assert_eq!(
            &MapCreateAttr::from_bytes(&calls[0].attr).unwrap().map_name,
            b"a_very_long_map\0"
        );
        assert_eq!(kernel_name("ééééééééé"), "ééééééé");
    }

    #[test]
    fn creation_sends_the_spec() {
        let spec = MapSpec::new(MapType::BLOOM_FILTER)
            .name("bloom")
            .value::<u64>()
            .max_entries(100)
            .map_extra(3)
            .numa_node(0)
            .btf_ids(5, 6);
        let (map, calls) = capture(|_, _| FakeReply::dev_null(), || spec.create());
        let map = map.unwrap();
        assert_eq!(map.name(), "bloom");
        assert_eq!(map.map_extra(), 3);
        assert_eq!(map.btf_key_type_id(), 0, "no BTF fd: ids not passed");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].command, Command::MAP_CREATE);
        let attr = MapCreateAttr::from_bytes(&calls[0].attr).unwrap();
        assert_eq!(attr.map_type, MapType::BLOOM_FILTER.0);
        assert_eq!(
            (attr.key_size, attr.value_size, attr.max_entries),
            (0, 8, 100)
        );
        assert_eq!(attr.map_extra, 3);
        assert_eq!(attr.map_flags, MapFlags::NUMA_NODE.bits());
        assert_eq!((attr.btf_key_type_id, attr.btf_value_type_id), (0, 0));
    }

    #[test]
    fn map_in_map_creates_and_closes_a_template() {
        let spec = MapSpec::new(MapType::ARRAY_OF_MAPS)
            .name("outer")
            .max_entries(4)
            .inner(
                MapSpec::new(MapType::ARRAY)
                    .name("inner")
                    .key_size(4)
                    .value_size(8)
                    .max_entries(1),
            );
        let (map, calls) = capture(|_, _| FakeReply::dev_null(), || spec.create());
        map.unwrap();
        assert_eq!(calls.len(), 2);
        let inner = MapCreateAttr::from_bytes(&calls[0].attr).unwrap();
        let outer = MapCreateAttr::from_bytes(&calls[1].attr).unwrap();
        assert_eq!(inner.map_type, MapType::ARRAY.0);
        assert_eq!(outer.map_type, MapType::ARRAY_OF_MAPS.0);
        assert!(outer.inner_map_fd > 2);
        assert_eq!((outer.key_size, outer.value_size), (4, 4));
        let err = MapSpec::new(MapType::HASH_OF_MAPS)
            .name("lonely")
            .key_size(4)
            .max_entries(1)
            .create();
        assert!(matches!(err, Err(MapError::InvalidSpec { .. })));
    }
}
