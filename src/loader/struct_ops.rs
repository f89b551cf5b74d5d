//! struct_ops maps (`.struct_ops`, `.struct_ops.link`): the kernel's value type found for the
//! object's struct (`struct tcp_congestion_ops` → `struct bpf_struct_ops_tcp_congestion_ops`),
//! its data laid out by member name, each function-pointer member's program loaded against
//! the kernel struct (attach_btf_id) and member index (expected_attach_type), and the
//! programs' fds written into the value once loaded — which registers a `.struct_ops` map
//! (a `.struct_ops.link` one registers when its link is created).

use std::collections::HashMap;
use std::sync::Arc;

use super::error::LoadError;
use super::kernel_btf;
use crate::btf::{Btf, BtfKind};
use crate::object::{MapDef, Object};
use crate::syscall::AttachType;

/// What loading a struct_ops map needs from the kernel's BTF.
#[derive(Debug, Clone)]
pub(crate) struct StructOpsPlan {
    /// The map (index into `Object::maps`).
    pub map: usize,
    /// `bpf_struct_ops_<name>`: the map's kernel value type.
    pub value_type_id: u32,
    /// The value's size.
    pub value_size: u32,
    /// The value with the object's non-function members copied in.
    pub data: Vec<u8>,
    /// (offset in the value, program name) of each function pointer.
    pub slots: Vec<(usize, String)>,
}

/// Program name → (kernel struct id, member index), for struct_ops programs.
pub(crate) type ProgramTargets = HashMap<String, (u32, AttachType)>;

fn err(map: &str, why: String) -> LoadError {
    LoadError::StructOps {
        map: map.to_string(),
        why,
    }
}

/// Plans every struct_ops map of `obj` against the kernel's BTF.
pub(crate) fn plan(
    obj: &Object,
    vmlinux: Option<&Arc<Btf>>,
) -> Result<(Vec<StructOpsPlan>, ProgramTargets), LoadError> {
    let mut plans = Vec::new();
    let mut targets = ProgramTargets::new();
    for (i, def) in obj.maps().iter().enumerate() {
        let Some(so) = &def.struct_ops else { continue };
        let local = obj
            .btf()
            .ok_or_else(|| err(&def.name, "the object has no BTF".into()))?;
        let kernel = vmlinux.ok_or_else(|| err(&def.name, "no kernel BTF".into()))?;
        let plan = plan_one(i, def, local, kernel, so, &mut targets)?;
        plans.push(plan);
    }
    Ok((plans, targets))
}

fn plan_one(
    index: usize,
    def: &MapDef,
    local: &Btf,
    vmlinux: &Arc<Btf>,
    so: &crate::object::StructOps,
    targets: &mut ProgramTargets,
) -> Result<StructOpsPlan, LoadError> {
    let e = |why: String| err(&def.name, why);
    let btf_err = |x: crate::btf::BtfError| e(x.to_string());
    let lt = local.type_by_id(so.type_id).map_err(btf_err)?;
    let tname = lt.name().map_err(btf_err)?.to_string();
    // The kernel's struct and its value wrapper, in vmlinux or a module.
    let mut found: Option<(Arc<Btf>, u32, u32)> = None;
    let wrapper = format!("bpf_struct_ops_{tname}");
    let candidates =
        std::iter::once(vmlinux.clone()).chain(kernel_btf::modules().into_iter().map(|(_, b)| b));
    for btf in candidates {
        if let (Some(t), Some(v)) = (
            btf.id_by_name_kind(&tname, BtfKind::Struct),
            btf.id_by_name_kind(&wrapper, BtfKind::Struct),
        ) {
            found = Some((btf, t, v));
            break;
        }
    }
    let Some((kbtf, kt, kv)) = found else {
        return Err(e(format!(
            "the kernel has no struct_ops type `struct {tname}` (`struct {wrapper}`)"
        )));
    };
    let value_size = kbtf.type_size(kv).map_err(btf_err)?;
    let data_member = kbtf
        .find_member(kv, "data")
        .map_err(btf_err)?
        .ok_or_else(|| e(format!("`struct {wrapper}` has no `data` member")))?;
    let data_off = (data_member.bit_offset / 8) as usize;
    let mut data = vec![0u8; value_size as usize];
    let kstruct = kbtf.type_by_id(kt).map_err(btf_err)?;
    let kmembers: Vec<(String, u32, u32, bool)> = kstruct
        .members()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m.name().unwrap_or_default().to_string();
            let size = kbtf.type_size(m.type_id).unwrap_or(0);
            let is_fn = kbtf
                .skip_mods_and_typedefs(m.type_id)
                .ok()
                .filter(|t| t.kind() == BtfKind::Ptr)
                .and_then(|t| t.ref_type())
                .and_then(|r| kbtf.skip_mods_and_typedefs(r).ok())
                .is_some_and(|t| t.kind() == BtfKind::FuncProto);
            (name, m.bit_offset / 8, size, is_fn)
        })
        .collect();
    // Copy the object's data member by member (the layouts may differ).
    for m in lt.members().into_iter().flatten() {
        let name = m.name().map_err(btf_err)?;
        let off = (m.bit_offset / 8) as usize;
        let size = local.type_size(m.type_id).map_err(btf_err)? as usize;
        let bytes = so.data.get(off..off + size).unwrap_or_default();
        let is_prog = so.programs.iter().any(|p| p.member == name);
        let Some((kidx, (_, koff, ksize, kfn))) =
            kmembers.iter().enumerate().find(|(_, (n, ..))| n == name)
        else {
            if is_prog || bytes.iter().any(|&b| b != 0) {
                return Err(e(format!(
                    "member `{name}` is set but the kernel's `struct {tname}` has no such member"
                )));
            }
            continue;
        };
        if is_prog {
            if !kfn {
                return Err(e(format!(
                    "member `{name}` is not a function pointer in the kernel"
                )));
            }
            let prog = so
                .programs
                .iter()
                .find(|p| p.member == name)
                .map(|p| p.program.clone())
                .unwrap_or_default();
            let attach = (kt, AttachType(kidx as u32));
            if let Some(prev) = targets.insert(prog.clone(), attach) {
                if prev != attach {
                    return Err(e(format!(
                        "program `{prog}` is used for members of different index or type"
                    )));
                }
            }
            continue;
        }
        if *kfn {
            continue;
        }
        if bytes.iter().all(|&b| b == 0) {
            continue;
        }
        if *ksize as usize != size {
            return Err(e(format!(
                "member `{name}` is {size} bytes here and {ksize} in the kernel"
            )));
        }
        let at = data_off + *koff as usize;
        if let Some(dst) = data.get_mut(at..at + size) {
            dst.copy_from_slice(bytes);
        }
    }
    let slots = so
        .programs
        .iter()
        .filter_map(|p| {
            let (_, koff, ..) = kmembers.iter().find(|(n, ..)| n == &p.member)?;
            Some((data_off + *koff as usize, p.program.clone()))
        })
        .collect();
    Ok(StructOpsPlan {
        map: index,
        value_type_id: kv,
        value_size,
        data,
        slots,
    })
}
