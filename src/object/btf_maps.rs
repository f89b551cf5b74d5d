//! BTF-defined maps: the VARs of the `.maps` DATASEC, their `__uint`/`__type`/`__array`/
//! `__ulong` fields (libbpf's `parse_btf_map_def`), inner map templates, and the initial
//! `values` slots that `.rel.maps` fills.

use std::collections::HashMap;

use super::elf::{ElfFile, ElfSymbol, SecRole, Shndx, STT_SECTION};
use super::error::ObjectError;
use super::maps::{MapDef, MapOrigin, Maps, Pinning, SlotTarget};
use super::program::Progs;
use crate::btf::{Btf, BtfKind, VarLinkage};
use crate::syscall::{MapFlags, MapType};

/// Where a BTF map's definition sits and where its `values` member starts.
struct Placed {
    map: usize,
    off: u64,
    size: u64,
    values_off: Option<u64>,
}

pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    idx: usize,
    btf: Option<&Btf>,
    progs: &Progs,
    out: &mut Maps,
) -> Result<(), ObjectError> {
    let sec = ".maps";
    let bytes = elf.section_data(idx)?;
    let btf = btf.ok_or_else(|| {
        ObjectError::section(sec, "BTF-defined maps need the object's BTF (.BTF)")
    })?;
    let datasec = btf
        .type_by_name_kind(sec, BtfKind::Datasec)
        .ok_or_else(|| ObjectError::section(sec, "no DATASEC '.maps' in BTF"))?;
    let rels = match roles
        .iter()
        .enumerate()
        .find(|(i, r)| **r == SecRole::Rel && elf.sections[*i].info as usize == idx)
    {
        Some((ri, _)) => elf.rel_entries(ri)?,
        None => Vec::new(),
    };
    let mut rel_offsets: Vec<u64> = rels.iter().map(|r| r.0).collect();
    rel_offsets.sort_unstable();
    let syms: HashMap<&str, &ElfSymbol<'_>> = elf.by_section[idx]
        .iter()
        .filter_map(|&i| elf.symbol(i))
        .filter(|s| s.typ != STT_SECTION)
        .map(|s| (&*s.name, s))
        .collect();
    let mut placed = Vec::new();
    for vi in datasec.datasec_vars().into_iter().flatten() {
        let var = btf
            .type_by_id(vi.type_id)
            .map_err(|e| ObjectError::section(sec, e.to_string()))?;
        if var.kind() != BtfKind::Var {
            return Err(ObjectError::section(
                sec,
                format!(
                    "DATASEC entry [{}] is a {}, not a VAR",
                    vi.type_id,
                    var.kind()
                ),
            ));
        }
        let name = var
            .name()
            .map_err(|e| ObjectError::section(sec, e.to_string()))?
            .to_string();
        if var.var_linkage() != Some(VarLinkage::Global) {
            let l = var.var_linkage().map_or("?", |l| l.as_str());
            return Err(ObjectError::map(
                &name,
                format!("unsupported map linkage {l}"),
            ));
        }
        let def_t = btf
            .skip_mods_and_typedefs(var.size_or_type())
            .map_err(|e| ObjectError::map(&name, e.to_string()))?;
        if def_t.kind() != BtfKind::Struct {
            return Err(ObjectError::map(
                &name,
                format!("definition is a {}, not a struct", def_t.kind()),
            ));
        }
        let sym = syms.get(name.as_str());
        let off = sym.map_or(u64::from(vi.offset), |s| s.value);
        let def_size = u64::from(def_t.size().unwrap_or(0));
        let size = [u64::from(vi.size), sym.map_or(0, |s| s.size), def_size]
            .into_iter()
            .find(|&s| s != 0)
            .unwrap_or(0);
        if def_size > size {
            return Err(ObjectError::map(
                &name,
                format!("definition of {def_size} bytes does not fit its {size}-byte variable"),
            ));
        }
        let Some(body) = off
            .checked_add(size)
            .and_then(|end| bytes.get(off as usize..end as usize))
        else {
            return Err(ObjectError::map(
                &name,
                format!("definition at {off}+{size} crosses the end of .maps"),
            ));
        };
        // libbpf ignores a definition's bytes; so do we, with a warning.
        if let Err(w) = check_zero(&name, body, off, &rel_offsets) {
            out.warnings.push(w);
        }
        let parsed = parse_def(btf, &name, def_t.id(), true)?;
        let mut def = parsed.def;
        def.section = sec.to_string();
        def.section_offset = off;
        def.def_size = size;
        if let Some(inner) = def.inner.as_deref_mut() {
            inner.section = sec.to_string();
            inner.section_offset = off;
        }
        placed.push(Placed {
            map: out.maps.len(),
            off,
            size,
            values_off: parsed.values_off,
        });
        out.index.insert((idx, off), out.maps.len());
        out.names.insert(def.name.clone());
        out.maps.push(def);
    }
    placed.sort_by_key(|p| p.off);
    for (r_off, r_sym, _) in rels {
        fill_slot(elf, idx, progs, out, &placed, r_off, r_sym)?;
    }
    Ok(())
}

/// Bytes of a map definition must be zero except the 8-byte `values` slots relocations fill.
fn check_zero(name: &str, body: &[u8], off: u64, rels: &[u64]) -> Result<(), ObjectError> {
    for (k, &b) in body.iter().enumerate() {
        if b == 0 {
            continue;
        }
        let at = off + k as u64;
        // The last relocation starting at or before `at`.
        let covered = match rels.partition_point(|&r| r <= at) {
            0 => false,
            n => at < rels[n - 1] + 8,
        };
        if !covered {
            return Err(ObjectError::MapInitialized {
                map: name.to_string(),
                offset: k as u64,
            });
        }
    }
    Ok(())
}

fn fill_slot(
    elf: &ElfFile<'_>,
    maps_idx: usize,
    progs: &Progs,
    out: &mut Maps,
    placed: &[Placed],
    r_off: u64,
    r_sym: usize,
) -> Result<(), ObjectError> {
    let sym = elf.symbol(r_sym).ok_or_else(|| ObjectError::Reloc {
        section: ".maps".into(),
        offset: r_off,
        symbol: format!("#{r_sym}"),
        problem: "symbol index out of range".into(),
    })?;
    let sym_name = elf.symbol_name(sym);
    let bad = |problem: String| ObjectError::Reloc {
        section: ".maps".into(),
        offset: r_off,
        symbol: sym_name.clone(),
        problem,
    };
    let n = placed.partition_point(|p| p.off <= r_off);
    let p = n
        .checked_sub(1)
        .map(|k| &placed[k])
        .filter(|p| r_off + 8 <= p.off + p.size)
        .ok_or_else(|| bad("no map definition holds this offset".into()))?;
    let outer = &out.maps[p.map];
    let target = if outer.is_map_in_map() {
        if sym.shndx != Shndx::Section(maps_idx) {
            return Err(bad(format!("'{sym_name}' isn't a BTF-defined map")));
        }
        if outer.map_type == MapType::HASH_OF_MAPS && outer.key_size != 4 {
            return Err(bad(format!(
                "hash-of-maps '{}' needs key size 4",
                outer.name
            )));
        }
        if !out.names.contains(sym_name.as_str()) {
            return Err(bad(format!("'{sym_name}' isn't a valid map reference")));
        }
        SlotTarget::Map(sym_name.clone())
    } else if outer.map_type == MapType::PROG_ARRAY {
        let is_entry = match sym.shndx {
            Shndx::Section(s) => progs.entry_at(s, sym.value, &sym_name).is_some(),
            _ => false,
        };
        if !is_entry {
            return Err(bad(format!("'{sym_name}' isn't an entry-point program")));
        }
        SlotTarget::Program(sym_name.clone())
    } else {
        return Err(bad(format!(
            "map '{}' is neither a map-in-map nor a program array",
            outer.name
        )));
    };
    let values_off = p
        .values_off
        .ok_or_else(|| bad(format!("map '{}' has no 'values' member", outer.name)))?;
    let rel = r_off - p.off;
    if rel < values_off || (rel - values_off) % 8 != 0 {
        return Err(bad(format!(
            "not at a slot of the 'values' of map '{}'",
            outer.name
        )));
    }
    let slot = ((rel - values_off) / 8) as usize;
    let slots = &mut out.maps[p.map].initial_slots;
    if slots.len() <= slot {
        slots.resize(slot + 1, None);
    }
    slots[slot] = Some(target);
    Ok(())
}

/// A parsed BTF map definition and the byte offset of its `values` member.
struct ParsedDef {
    def: MapDef,
    values_off: Option<u64>,
}

/// Parse the struct `def_id` describing map `name` (libbpf's `parse_btf_map_def`); `outer`
/// is false for an inner map template, which cannot nest or be pinned.
fn parse_def(btf: &Btf, name: &str, def_id: u32, outer: bool) -> Result<ParsedDef, ObjectError> {
    let berr = |e: crate::btf::BtfError| ObjectError::map(name, e.to_string());
    let def_t = btf.type_by_id(def_id).map_err(berr)?;
    let members = def_t
        .members()
        .ok_or_else(|| ObjectError::map(name, "definition is not a struct"))?;
    let vlen = members.len();
    let mut d = MapDef::empty(name.to_string(), String::new(), MapOrigin::Btf);
    let mut values_off = None;
    for (i, m) in members.enumerate() {
        let field = m.name().map_err(berr)?;
        match field {
            "type" => d.map_type = MapType(field_int(btf, name, field, m.type_id)?),
            "max_entries" => d.max_entries = field_int(btf, name, field, m.type_id)?,
            "map_flags" => {
                d.map_flags = MapFlags::from_bits_retain(field_int(btf, name, field, m.type_id)?)
            }
            "numa_node" => d.numa_node = Some(field_int(btf, name, field, m.type_id)?),
            "map_extra" => d.map_extra = field_long(btf, name, field, m.type_id)?,
            "key_size" => {
                let sz = field_int(btf, name, field, m.type_id)?;
                set_size(&mut d.key_size, sz, name, "key")?;
            }
            "value_size" => {
                let sz = field_int(btf, name, field, m.type_id)?;
                set_size(&mut d.value_size, sz, name, "value")?;
            }
            "key" | "value" => {
                let t = btf.type_by_id(m.type_id).map_err(berr)?;
                if t.kind() != BtfKind::Ptr {
                    return Err(ObjectError::map(
                        name,
                        format!("{field} spec is a {}, not a PTR", t.kind()),
                    ));
                }
                let target = t.size_or_type();
                let sz = btf.type_size(target).map_err(|e| {
                    ObjectError::map(
                        name,
                        format!("cannot size the {field} type [{target}]: {e}"),
                    )
                })?;
                if field == "key" {
                    set_size(&mut d.key_size, sz, name, "key")?;
                    d.btf_key_type_id = Some(target);
                } else {
                    set_size(&mut d.value_size, sz, name, "value")?;
                    d.btf_value_type_id = Some(target);
                }
            }
            "values" => {
                if !outer {
                    return Err(ObjectError::map(
                        name,
                        "multi-level inner maps are not supported",
                    ));
                }
                if i + 1 != vlen {
                    return Err(ObjectError::map(name, "'values' must be the last member"));
                }
                let prog_array = d.map_type == MapType::PROG_ARRAY;
                if !d.is_map_in_map() && !prog_array {
                    return Err(ObjectError::map(
                        name,
                        "'values' needs a map-in-map or a program array",
                    ));
                }
                set_size(&mut d.value_size, 4, name, "value")?;
                d.inner = values_inner(btf, name, m.type_id, prog_array)?;
                values_off = Some(u64::from(m.bit_offset / 8));
            }
            "pinning" => {
                if !outer {
                    return Err(ObjectError::map(name, "an inner map can't be pinned"));
                }
                d.pinning = match field_int(btf, name, field, m.type_id)? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    v => return Err(ObjectError::map(name, format!("invalid pinning value {v}"))),
                };
            }
            _ => {
                return Err(ObjectError::UnknownMapField {
                    map: name.to_string(),
                    field: field.to_string(),
                })
            }
        }
    }
    if d.map_type == MapType::UNSPEC {
        return Err(ObjectError::map(name, "map type isn't specified"));
    }
    Ok(ParsedDef { def: d, values_off })
}

fn set_size(slot: &mut u32, sz: u32, map: &str, what: &'static str) -> Result<(), ObjectError> {
    if *slot != 0 && *slot != sz {
        return Err(ObjectError::ConflictingMapSize {
            map: map.to_string(),
            what,
            first: *slot,
            second: sz,
        });
    }
    *slot = sz;
    Ok(())
}

/// The inner map template of `__array(values, struct {...})`, or `None` for a program
/// array (`__array(values, int (void *))`).
fn values_inner(
    btf: &Btf,
    name: &str,
    type_id: u32,
    prog_array: bool,
) -> Result<Option<Box<MapDef>>, ObjectError> {
    let berr = |e: crate::btf::BtfError| ObjectError::map(name, e.to_string());
    let desc = if prog_array {
        "prog-array value"
    } else {
        "map-in-map inner"
    };
    let t = btf.type_by_id(type_id).map_err(berr)?;
    match t.array() {
        Some(a) if a.nelems == 0 => {
            let ptr = btf.skip_mods_and_typedefs(a.elem_type).map_err(berr)?;
            if ptr.kind() != BtfKind::Ptr {
                return Err(ObjectError::map(
                    name,
                    format!("{desc} def is a {}, not a PTR", ptr.kind()),
                ));
            }
            let target = btf
                .skip_mods_and_typedefs(ptr.size_or_type())
                .map_err(berr)?;
            let want = if prog_array {
                BtfKind::FuncProto
            } else {
                BtfKind::Struct
            };
            if target.kind() != want {
                return Err(ObjectError::map(
                    name,
                    format!("{desc} def is a {}, not a {want}", target.kind()),
                ));
            }
            if prog_array {
                return Ok(None);
            }
            let inner_name = format!("{name}.inner");
            let inner = parse_def(btf, &inner_name, target.id(), false)?;
            Ok(Some(Box::new(inner.def)))
        }
        _ => Err(ObjectError::map(
            name,
            format!("{desc} spec is not a zero-sized array"),
        )),
    }
}

/// `__uint(name, N)`: a pointer to an array of N elements.
fn field_int(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ObjectError> {
    let bad = |p: String| ObjectError::map(map, format!("field '{field}': {p}"));
    let t = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(|e| bad(e.to_string()))?;
    if t.kind() != BtfKind::Ptr {
        return Err(bad(format!("expected PTR, got {}", t.kind())));
    }
    let arr = btf
        .type_by_id(t.size_or_type())
        .map_err(|e| bad(e.to_string()))?;
    arr.array()
        .map(|a| a.nelems)
        .ok_or_else(|| bad(format!("expected ARRAY, got {}", arr.kind())))
}

/// `__ulong(name, V)`: an enum with one enumerator V (or the `__uint` pointer form).
fn field_long(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u64, ObjectError> {
    let bad = |p: String| ObjectError::map(map, format!("field '{field}': {p}"));
    let t = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(|e| bad(e.to_string()))?;
    if t.kind() == BtfKind::Ptr {
        return field_int(btf, map, field, type_id).map(u64::from);
    }
    let values = t
        .enum_values()
        .ok_or_else(|| bad(format!("expected ENUM or ENUM64, got {}", t.kind())))?;
    if values.len() != 1 {
        return Err(bad("invalid __ulong (enum must have one value)".into()));
    }
    values
        .get(0)
        .map(|v| v.value)
        .ok_or_else(|| bad("invalid __ulong".into()))
}
