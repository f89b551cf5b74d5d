//! Map definitions: BTF-defined maps in `.maps` and legacy `struct bpf_map_def` records in
//! `maps` (including iproute2's longer `struct bpf_elf_map`).
//!
//! What the object says is recorded as written: ring buffer sizes are not rounded and a
//! PERF_EVENT_ARRAY's `max_entries` of 0 is kept (the loader fixes both for the machine).

use std::collections::{HashMap, HashSet};

use super::elf::{ElfFile, SecRole, STT_SECTION};
use super::error::ObjectError;
use super::program::Progs;
use crate::btf::Btf;
use crate::syscall::{MapFlags, MapType};

/// How a map is pinned (`pinning` field of a BTF map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pinning {
    /// `LIBBPF_PIN_NONE`.
    #[default]
    None,
    /// `LIBBPF_PIN_BY_NAME`: at `<pin root>/<map name>`.
    ByName,
}

/// What one initial slot of a map-in-map or program array points at (`values` of a BTF map,
/// from `.rel.maps`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SlotTarget {
    /// The map of this name (map-in-map).
    Map(String),
    /// The entry program of this name (program array).
    Program(String),
}

/// iproute2's `struct bpf_elf_map` fields past `struct bpf_map_def`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Iproute2Fields {
    /// `id`.
    pub id: u32,
    /// `pinning` (iproute2: 0 none, 1 object namespace, 2 global namespace).
    pub pinning: u32,
    /// `inner_id`.
    pub inner_id: u32,
    /// `inner_idx`.
    pub inner_idx: u32,
}

/// Where a map definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapOrigin {
    /// A VAR of the `.maps` DATASEC.
    Btf,
    /// A legacy `struct bpf_map_def` record (or a shorter one).
    Legacy,
    /// A legacy record with iproute2's `struct bpf_elf_map` layout (36 bytes).
    Iproute2(Iproute2Fields),
    /// A VAR of a `.struct_ops` or `.struct_ops.link` DATASEC.
    StructOps,
}

/// A function pointer member of a struct_ops map set to a program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructOpsProgram {
    /// The member name (`init`, `cong_avoid`).
    pub member: String,
    /// The member's byte offset within the struct.
    pub offset: u32,
    /// The program's name.
    pub program: String,
}

/// What a struct_ops map holds besides its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructOps {
    /// The local BTF struct type (e.g. `tcp_congestion_ops`); the loader finds the kernel's.
    pub type_id: u32,
    /// The struct's bytes as initialized in the object (function pointers zero).
    pub data: Vec<u8>,
    /// Function pointer members set to programs, by offset.
    pub programs: Vec<StructOpsProgram>,
}

/// A map definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDef {
    /// The map name (the symbol/VAR name; `<outer>.inner` for an inner template).
    pub name: String,
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// `max_entries` as written.
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: MapFlags,
    /// `numa_node`, when given.
    pub numa_node: Option<u32>,
    /// `map_extra` (bloom filter hash count, arena address, ...).
    pub map_extra: u64,
    /// Pinning.
    pub pinning: Pinning,
    /// BTF type of the key (BTF maps with `__type(key, ...)`).
    pub btf_key_type_id: Option<u32>,
    /// BTF type of the value (BTF maps with `__type(value, ...)`).
    pub btf_value_type_id: Option<u32>,
    /// The inner map template of a map-in-map (`__array(values, struct {...})`).
    pub inner: Option<Box<MapDef>>,
    /// Initial contents of a map-in-map or program array, by slot (`None`: empty slot).
    pub initial_slots: Vec<Option<SlotTarget>>,
    /// The ELF section of the definition (`.maps` or `maps`; the outer's for inner maps).
    pub section: String,
    /// Byte offset of the definition within that section.
    pub section_offset: u64,
    /// Byte size of the definition.
    pub def_size: u64,
    /// BTF encoding or legacy layout.
    pub origin: MapOrigin,
    /// The contents of a struct_ops map.
    pub struct_ops: Option<StructOps>,
}

impl MapDef {
    pub(crate) fn empty(name: String, section: String, origin: MapOrigin) -> Self {
        MapDef {
            name,
            map_type: MapType::UNSPEC,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            map_flags: MapFlags::empty(),
            numa_node: None,
            map_extra: 0,
            pinning: Pinning::None,
            btf_key_type_id: None,
            btf_value_type_id: None,
            inner: None,
            initial_slots: Vec::new(),
            section,
            section_offset: 0,
            def_size: 0,
            origin,
            struct_ops: None,
        }
    }

    /// Whether this is a map-in-map (ARRAY_OF_MAPS or HASH_OF_MAPS).
    pub fn is_map_in_map(&self) -> bool {
        matches!(
            self.map_type,
            MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS
        )
    }

    /// Set `max_entries` (e.g. to size a map for the machine before load).
    pub fn set_max_entries(&mut self, n: u32) -> &mut Self {
        self.max_entries = n;
        self
    }
}

/// The maps of an object and where each definition sits.
pub(super) struct Maps {
    pub maps: Vec<MapDef>,
    /// (ELF section index, byte offset of the definition) → index into `maps`.
    pub index: HashMap<(usize, u64), usize>,
    /// The map names.
    pub names: HashSet<String>,
    /// What libbpf tolerates but is suspicious (kept on the object).
    pub warnings: Vec<ObjectError>,
}

/// Collect the legacy maps (first, as libbpf 0.x ordered them) and the BTF-defined maps.
pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    btf: Option<&Btf>,
    progs: &Progs,
) -> Result<Maps, ObjectError> {
    let mut out = Maps {
        warnings: Vec::new(),
        maps: Vec::new(),
        index: HashMap::new(),
        names: HashSet::new(),
    };
    for (i, role) in roles.iter().enumerate() {
        if *role == SecRole::LegacyMaps {
            for (off, def) in legacy_maps(elf, i)? {
                out.index.insert((i, off), out.maps.len());
                out.names.insert(def.name.clone());
                out.maps.push(def);
            }
        }
    }
    for (i, role) in roles.iter().enumerate() {
        if *role == SecRole::BtfMaps {
            super::btf_maps::collect(elf, roles, i, btf, progs, &mut out)?;
        }
    }
    for (i, role) in roles.iter().enumerate() {
        if *role == SecRole::StructOps {
            super::struct_ops::collect(elf, roles, i, btf, progs, &mut out)?;
        }
    }
    Ok(out)
}

/// `struct bpf_map_def` field count (type, key_size, value_size, max_entries, map_flags).
const MAP_DEF_LEN: usize = 20;
/// iproute2's `struct bpf_elf_map` size.
const ELF_MAP_LEN: usize = 36;

fn legacy_maps(elf: &ElfFile<'_>, idx: usize) -> Result<Vec<(u64, MapDef)>, ObjectError> {
    let sec_name = elf.sections[idx].name.to_string();
    let bytes = elf.section_data(idx)?;
    let syms: Vec<_> = elf.by_section[idx]
        .iter()
        .filter_map(|&i| elf.symbol(i))
        .filter(|s| s.typ != STT_SECTION)
        .collect();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if syms.is_empty() || bytes.len() % syms.len() != 0 {
        return Err(ObjectError::section(
            &sec_name,
            format!(
                "cannot determine the map definition size: {} map symbols in {} bytes",
                syms.len(),
                bytes.len()
            ),
        ));
    }
    let rec = bytes.len() / syms.len();
    let mut out = Vec::with_capacity(syms.len());
    for s in syms {
        if !s.is_global() {
            // Like a static BTF map, which libbpf refuses: nothing can name it.
            return Err(ObjectError::map(
                &s.name,
                "static (local) map definitions are not supported; make the map global",
            ));
        }
        if s.size != 0 && s.size != rec as u64 {
            return Err(ObjectError::symbol(
                &sec_name,
                &s.name,
                format!(
                    "size {} differs from the record size {rec} (a map without a symbol, e.g. static?)",
                    s.size
                ),
            ));
        }
        let start = usize::try_from(s.value).ok();
        let Some(r) = start.and_then(|st| bytes.get(st..st.checked_add(rec)?)) else {
            return Err(ObjectError::symbol(
                &sec_name,
                &s.name,
                format!("definition at offset {} crosses the section end", s.value),
            ));
        };
        let field = |k: usize| elf.u32_at(r, 4 * k).unwrap_or(0);
        let origin = if rec == ELF_MAP_LEN {
            MapOrigin::Iproute2(Iproute2Fields {
                id: field(5),
                pinning: field(6),
                inner_id: field(7),
                inner_idx: field(8),
            })
        } else {
            if rec > MAP_DEF_LEN && r[MAP_DEF_LEN..].iter().any(|&b| b != 0) {
                return Err(ObjectError::LegacyMapExtra {
                    map: s.name.to_string(),
                    size: rec,
                    known: MAP_DEF_LEN,
                });
            }
            MapOrigin::Legacy
        };
        let mut def = MapDef::empty(s.name.to_string(), sec_name.clone(), origin);
        def.map_type = MapType(field(0));
        def.key_size = field(1);
        def.value_size = field(2);
        def.max_entries = field(3);
        def.map_flags = MapFlags::from_bits_retain(field(4));
        def.section_offset = s.value;
        def.def_size = rec as u64;
        out.push((s.value, def));
    }
    out.sort_by_key(|(off, _)| *off);
    Ok(out)
}
