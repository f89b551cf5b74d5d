//! Reading a map's entries and showing keys and values through BTF (used by `run` and
//! `map dump`).

use oxbpf::btf::{decode_value, format_value, Btf};
use oxbpf::maps::{Map, MapError};
use oxbpf::syscall::MapType;
use serde_json::{json, Value as Json};

use crate::out;

/// The BTF describing a map's key and value, when known.
#[derive(Clone, Copy, Default)]
pub struct Types<'a> {
    /// The BTF holding the types.
    pub btf: Option<&'a Btf>,
    /// The key type.
    pub key: Option<u32>,
    /// The value type (of one CPU's value for per-CPU maps).
    pub value: Option<u32>,
}

/// One entry, raw.
pub struct Entry {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The value bytes (all CPUs for per-CPU maps).
    pub value: Vec<u8>,
}

/// Why a map's entries cannot be listed, if they cannot.
pub fn not_listable(t: MapType) -> Option<&'static str> {
    Some(match t {
        MapType::RINGBUF | MapType::USER_RINGBUF => "a ring buffer: its records stream (oxbpf run)",
        MapType::PERF_EVENT_ARRAY => "a perf event array: its records stream (oxbpf run)",
        MapType::QUEUE | MapType::STACK => "a queue/stack: reading pops elements",
        MapType::BLOOM_FILTER => "a bloom filter: it has no keys to list",
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => "local storage: entries are reached through their owner",
        MapType::ARENA => "an arena: memory, not entries",
        MapType::STRUCT_OPS => "struct_ops: the kernel holds its value",
        _ => return None,
    })
}

/// Whether values hold one slot per possible CPU.
pub fn is_per_cpu(t: MapType) -> bool {
    matches!(
        t,
        MapType::PERCPU_ARRAY
            | MapType::PERCPU_HASH
            | MapType::LRU_PERCPU_HASH
            | MapType::PERCPU_CGROUP_STORAGE
    )
}

/// What [`entries`] found.
pub struct Listed {
    /// The entries kept.
    pub entries: Vec<Entry>,
    /// How many `skip` left out.
    pub skipped: usize,
    /// Whether there were more than the limit.
    pub truncated: bool,
}

/// Up to `limit` entries of `map`, leaving out those whose value `skip` says (they do not
/// count towards the limit).
pub fn entries(map: &Map, limit: usize, skip: impl Fn(&[u8]) -> bool) -> Result<Listed, MapError> {
    let mut l = Listed {
        entries: Vec::new(),
        skipped: 0,
        truncated: false,
    };
    for key in map.keys() {
        let key = key?;
        // An entry deleted meanwhile is simply gone.
        let Some(value) = map.lookup_vec(&key)? else {
            continue;
        };
        if skip(&value) {
            l.skipped += 1;
            continue;
        }
        if l.entries.len() == limit {
            l.truncated = true;
            break;
        }
        l.entries.push(Entry { key, value });
    }
    Ok(l)
}

/// Bytes through a BTF type, or hex.
pub fn show(btf: Option<&Btf>, id: Option<u32>, bytes: &[u8]) -> String {
    match (btf, id) {
        (Some(b), Some(id)) if id != 0 => {
            format_value(b, id, bytes).unwrap_or_else(|_| out::hex(bytes))
        }
        _ => out::hex(bytes),
    }
}

/// Bytes through a BTF type as JSON, or a hex string.
pub fn show_json(btf: Option<&Btf>, id: Option<u32>, bytes: &[u8]) -> Json {
    match (btf, id) {
        (Some(b), Some(id)) if id != 0 => decode_value(b, id, bytes)
            .map(|v| out::value_json(&v))
            .unwrap_or_else(|_| json!(out::hex(bytes))),
        _ => json!(out::hex(bytes)),
    }
}

/// Splits a per-CPU value into each CPU's bytes (each slot rounded up to 8 bytes).
pub fn per_cpu(value: &[u8], value_size: u32) -> Vec<&[u8]> {
    let stride = (value_size as usize).div_ceil(8) * 8;
    if stride == 0 {
        return Vec::new();
    }
    value
        .chunks(stride)
        .map(|c| &c[..c.len().min(value_size as usize)])
        .collect()
}

/// A key shown: through BTF, or as an index for array-like maps, or hex.
pub fn show_key(map: &Map, types: Types<'_>, key: &[u8]) -> String {
    if types.key.is_none() && is_indexed(map.map_type()) {
        if let Ok(b) = <[u8; 4]>::try_from(key) {
            return u32::from_ne_bytes(b).to_string();
        }
    }
    show(types.btf, types.key, key)
}

/// A key as JSON (see [`show_key`]).
pub fn key_json(map: &Map, types: Types<'_>, key: &[u8]) -> Json {
    if types.key.is_none() && is_indexed(map.map_type()) {
        if let Ok(b) = <[u8; 4]>::try_from(key) {
            return json!(u32::from_ne_bytes(b));
        }
    }
    show_json(types.btf, types.key, key)
}

/// Maps whose keys are `u32` indices.
fn is_indexed(t: MapType) -> bool {
    matches!(
        t,
        MapType::ARRAY
            | MapType::PERCPU_ARRAY
            | MapType::PROG_ARRAY
            | MapType::PERF_EVENT_ARRAY
            | MapType::CGROUP_ARRAY
            | MapType::ARRAY_OF_MAPS
            | MapType::DEVMAP
            | MapType::CPUMAP
            | MapType::XSKMAP
            | MapType::SOCKMAP
            | MapType::REUSEPORT_SOCKARRAY
    )
}

/// An entry's value shown (per-CPU values as `cpu0: v, cpu1: v`, equal ones merged).
pub fn show_value(map: &Map, types: Types<'_>, value: &[u8]) -> String {
    if !is_per_cpu(map.map_type()) {
        return show(types.btf, types.value, value);
    }
    let cpus: Vec<String> = per_cpu(value, map.value_size())
        .into_iter()
        .map(|v| show(types.btf, types.value, v))
        .collect();
    if cpus.iter().all(|c| Some(c) == cpus.first()) {
        return format!(
            "{} (each of {} CPUs)",
            cpus.first().cloned().unwrap_or_default(),
            cpus.len()
        );
    }
    let parts: Vec<String> = cpus
        .iter()
        .enumerate()
        .map(|(i, c)| format!("cpu{i}: {c}"))
        .collect();
    parts.join(", ")
}

/// An entry's value as JSON (per-CPU values as an array).
pub fn value_json(map: &Map, types: Types<'_>, value: &[u8]) -> Json {
    if !is_per_cpu(map.map_type()) {
        return show_json(types.btf, types.value, value);
    }
    Json::Array(
        per_cpu(value, map.value_size())
            .into_iter()
            .map(|v| show_json(types.btf, types.value, v))
            .collect(),
    )
}

/// Whether every byte is zero.
pub fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}
