//! A raw listing of types in the format of `bpftool btf dump file F` (format raw).

use std::fmt::Write;

use super::error::BtfError;
use super::kind::BtfKind;
use super::table::Btf;
use super::types::Type;

/// List every type this layer holds (for split BTF, not the base's), one per line with its
/// members/values/params indented, as bpftool prints them.
pub fn dump_raw(btf: &Btf, out: &mut String) -> Result<(), BtfError> {
    for t in btf.local_types() {
        dump_raw_type(btf, t, out)?;
        out.push('\n');
    }
    Ok(())
}

fn quoted(name: &str) -> &str {
    if name.is_empty() {
        "(anon)"
    } else {
        name
    }
}

/// One type in bpftool's raw format (no trailing newline).
pub fn dump_raw_type(btf: &Btf, t: Type<'_>, out: &mut String) -> Result<(), BtfError> {
    let so = t.size_or_type();
    let _ = write!(out, "[{}] {} '{}'", t.id(), t.kind(), quoted(t.name()?));
    match t.kind() {
        BtfKind::Void => {}
        BtfKind::Int => {
            let i = t.int().unwrap_or(super::kind::IntInfo::from_raw(0));
            let enc = match (i.signed, i.char, i.bool) {
                (false, false, false) => "(none)",
                (true, false, false) => "SIGNED",
                (false, true, false) => "CHAR",
                (false, false, true) => "BOOL",
                _ => "UNKN",
            };
            let _ = write!(
                out,
                " size={so} bits_offset={} nr_bits={} encoding={enc}",
                i.offset, i.bits
            );
        }
        BtfKind::Ptr
        | BtfKind::Typedef
        | BtfKind::Volatile
        | BtfKind::Const
        | BtfKind::Restrict
        | BtfKind::TypeTag => {
            let _ = write!(out, " type_id={so}");
        }
        BtfKind::Array => {
            if let Some(a) = t.array() {
                let _ = write!(
                    out,
                    " type_id={} index_type_id={} nr_elems={}",
                    a.elem_type, a.index_type, a.nelems
                );
            }
        }
        BtfKind::Struct | BtfKind::Union => {
            let _ = write!(out, " size={so} vlen={}", t.vlen());
            for m in t.members().into_iter().flatten() {
                let _ = write!(
                    out,
                    "\n\t'{}' type_id={} bits_offset={}",
                    quoted(m.name()?),
                    m.type_id,
                    m.bit_offset
                );
                if m.bitfield_size != 0 {
                    let _ = write!(out, " bitfield_size={}", m.bitfield_size);
                }
            }
        }
        BtfKind::Enum | BtfKind::Enum64 => {
            let signed = t.kflag();
            let enc = if signed { "SIGNED" } else { "UNSIGNED" };
            let _ = write!(out, " encoding={enc} size={so} vlen={}", t.vlen());
            let wide = t.kind() == BtfKind::Enum64;
            for v in t.enum_values().into_iter().flatten() {
                let _ = write!(out, "\n\t'{}' val=", v.name()?);
                let _ = match (wide, signed) {
                    (false, false) => write!(out, "{}", v.value as u32),
                    (false, true) => write!(out, "{}", v.value as i32),
                    (true, false) => write!(out, "{}ULL", v.value),
                    (true, true) => write!(out, "{}LL", v.value as i64),
                };
            }
        }
        BtfKind::Fwd => {
            let k = if t.kflag() { "union" } else { "struct" };
            let _ = write!(out, " fwd_kind={k}");
        }
        BtfKind::Func => {
            let l = t.func_linkage().map_or("(unknown)", |l| l.as_str());
            let _ = write!(out, " type_id={so} linkage={l}");
        }
        BtfKind::FuncProto => {
            let _ = write!(out, " ret_type_id={so} vlen={}", t.vlen());
            for p in t.params().into_iter().flatten() {
                let _ = write!(out, "\n\t'{}' type_id={}", quoted(p.name()?), p.type_id);
            }
        }
        BtfKind::Var => {
            let l = t.var_linkage().map_or("(unknown)", |l| l.as_str());
            let _ = write!(out, " type_id={so}, linkage={l}");
        }
        BtfKind::Datasec => {
            let _ = write!(out, " size={so} vlen={}", t.vlen());
            for v in t.datasec_vars().into_iter().flatten() {
                let vt = btf.type_by_id(v.type_id)?;
                let _ = write!(
                    out,
                    "\n\ttype_id={} offset={} size={} ({} '{}')",
                    v.type_id,
                    v.offset,
                    v.size,
                    vt.kind(),
                    quoted(vt.name()?)
                );
            }
        }
        BtfKind::Float => {
            let _ = write!(out, " size={so}");
        }
        BtfKind::DeclTag => {
            let _ = write!(
                out,
                " type_id={so} component_idx={}",
                t.decl_tag_component_idx().unwrap_or(-1)
            );
        }
    }
    Ok(())
}
