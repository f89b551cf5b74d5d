//! struct_ops maps: each VAR of a `.struct_ops` (or `.struct_ops.link`) DATASEC is a map of
//! type STRUCT_OPS whose value is the struct's bytes, with function pointer members set to
//! programs through `.rel.struct_ops` relocations.

use super::elf::{ElfFile, SecRole, Shndx};
use super::error::ObjectError;
use super::maps::{MapDef, MapOrigin, Maps, StructOps, StructOpsProgram};
use super::program::Progs;
use crate::btf::{Btf, BtfKind};
use crate::syscall::{MapFlags, MapType, ProgType};

/// Collect the struct_ops maps of section `idx` into `out`.
pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    idx: usize,
    btf: Option<&Btf>,
    progs: &Progs,
    out: &mut Maps,
) -> Result<(), ObjectError> {
    let sec = elf.sections[idx].name.to_string();
    let bytes = elf.section_data(idx)?;
    let btf = btf.ok_or_else(|| ObjectError::section(&sec, "struct_ops needs the object's BTF"))?;
    let datasec = btf
        .type_by_name_kind(&sec, BtfKind::Datasec)
        .ok_or_else(|| ObjectError::section(&sec, format!("no DATASEC '{sec}' in BTF")))?;
    let link = sec.ends_with(".link");
    let first = out.maps.len();
    for vi in datasec.datasec_vars().into_iter().flatten() {
        let berr = |e: crate::btf::BtfError| ObjectError::section(&sec, e.to_string());
        let var = btf.type_by_id(vi.type_id).map_err(berr)?;
        if var.kind() != BtfKind::Var {
            continue;
        }
        let name = var.name().map_err(berr)?.to_string();
        let ty = btf
            .skip_mods_and_typedefs(var.size_or_type())
            .map_err(berr)?;
        if ty.kind() != BtfKind::Struct {
            return Err(ObjectError::map(
                &name,
                format!("struct_ops value is a {}, not a struct", ty.kind()),
            ));
        }
        // Clang may leave the DATASEC offsets zero; the symbol knows.
        let off = elf.by_section[idx]
            .iter()
            .filter_map(|&i| elf.symbol(i))
            .find(|s| s.is_global() && s.name == name)
            .map_or(u64::from(vi.offset), |s| s.value);
        let size = u64::from(ty.size().unwrap_or(0));
        let data = usize::try_from(off)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(size as usize)?))
            .ok_or_else(|| {
                ObjectError::map(
                    &name,
                    format!("struct at {off}+{size} crosses the end of {sec}"),
                )
            })?;
        let mut def = MapDef::empty(name.clone(), sec.clone(), MapOrigin::StructOps);
        def.map_type = MapType::STRUCT_OPS;
        def.key_size = 4;
        def.value_size = size as u32;
        def.max_entries = 1;
        def.map_flags = if link {
            MapFlags::LINK
        } else {
            MapFlags::empty()
        };
        def.btf_value_type_id = Some(ty.id());
        def.section_offset = off;
        def.def_size = size;
        def.struct_ops = Some(StructOps {
            type_id: ty.id(),
            data: data.to_vec(),
            programs: Vec::new(),
        });
        out.index.insert((idx, off), out.maps.len());
        out.names.insert(name);
        out.maps.push(def);
    }
    let Some(ri) = roles
        .iter()
        .enumerate()
        .position(|(i, r)| *r == SecRole::Rel && elf.sections[i].info as usize == idx)
    else {
        return Ok(());
    };
    for (r_off, r_sym, _) in elf.rel_entries(ri)? {
        let sym = elf.symbol(r_sym);
        let sym_name = sym.map_or_else(|| format!("#{r_sym}"), |s| elf.symbol_name(s));
        let bad = |problem: String| ObjectError::Reloc {
            section: sec.clone(),
            offset: r_off,
            symbol: sym_name.clone(),
            problem,
        };
        let sym = sym.ok_or_else(|| bad("symbol index out of range".into()))?;
        let m = out.maps[first..]
            .iter()
            .position(|m| m.section_offset <= r_off && r_off < m.section_offset + m.def_size)
            .map(|k| first + k)
            .ok_or_else(|| bad("no struct_ops variable holds this offset".into()))?;
        let def = &mut out.maps[m];
        let moff = (r_off - def.section_offset) as u32;
        let ty = btf
            .type_by_id(def.btf_value_type_id.unwrap_or(0))
            .map_err(|e| bad(e.to_string()))?;
        let member = ty
            .members()
            .into_iter()
            .flatten()
            .find(|mb| mb.bit_offset == moff * 8)
            .ok_or_else(|| bad(format!("no member of '{}' at offset {moff}", def.name)))?;
        let mname = member.name().map_err(|e| bad(e.to_string()))?.to_string();
        let prog = match sym.shndx {
            Shndx::Section(s) => progs.entry_at(s, sym.value, &sym_name),
            _ => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "member '{mname}' points to '{sym_name}', not an entry program"
            ))
        })?;
        if prog.prog_type() != ProgType::STRUCT_OPS {
            return Err(bad(format!(
                "program '{sym_name}' is not in a struct_ops section"
            )));
        }
        if let Some(so) = def.struct_ops.as_mut() {
            so.programs.push(StructOpsProgram {
                member: mname,
                offset: moff,
                program: sym_name.clone(),
            });
            so.programs.sort_by_key(|p| p.offset);
        }
    }
    Ok(())
}
