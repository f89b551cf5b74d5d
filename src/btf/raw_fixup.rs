//! The object's BTF as the kernel gets it when nothing needs sanitizing: the raw bytes, with
//! the DATASEC fix-up and the FUNC linkage changes written in place. The same result as
//! [`fixup_datasecs`](super::fixup_datasecs) + [`set_func_linkage`](super::set_func_linkage)
//! on a [`BtfBuilder`](super::BtfBuilder) and re-encoding, without decoding every type into
//! owned values and hashing every string (the builder stays for sanitization, which changes
//! kinds and sizes).

use super::error::BtfError;
use super::header::Endian;
use super::kind::{BtfKind, FuncLinkage, VarLinkage};
use super::sanitize::DatasecLayout;
use super::table::Btf;

/// `btf`'s bytes with every DATASEC fixed as [`fixup_datasecs`](super::fixup_datasecs) does
/// (zero sizes and offsets taken from the ELF, VARs of hidden symbols made static, entries
/// sorted by offset) and the FUNCs named in `static_funcs` made static. Base BTF only.
pub fn fixup_raw(
    btf: &Btf,
    layout: &DatasecLayout,
    static_funcs: &[&str],
) -> Result<Vec<u8>, BtfError> {
    let mut out = btf.raw_bytes().to_vec();
    let types_at = btf.header().type_range().start;
    let endian = btf.endian();
    let mut w = Writer {
        out: &mut out,
        base: types_at,
        endian,
    };
    for name in static_funcs {
        if let Some(t) = btf.type_by_name_kind(name, BtfKind::Func) {
            let info = (t.info() & !0xffff) | u32::from(FuncLinkage::Static.to_raw());
            w.put(t.record_offset() + 4, info);
        }
    }
    for t in btf.local_types().filter(|t| t.kind() == BtfKind::Datasec) {
        let name = t.name()?;
        let err = |problem: String| BtfError::Datasec {
            section: name.to_string(),
            problem,
        };
        let mut vars: Vec<[u32; 3]> = t
            .datasec_vars()
            .into_iter()
            .flatten()
            .map(|v| [v.type_id, v.offset, v.size])
            .collect();
        if name != ".kconfig" && name != ".ksyms" {
            let fix_offsets = t.size_or_type() == 0;
            if fix_offsets {
                let size = match layout.section_sizes.get(name) {
                    Some(&s) if s != 0 => s,
                    _ => return Err(err("size of the ELF section unknown or 0".into())),
                };
                w.put(t.record_offset() + 8, size);
            }
            for v in vars.iter_mut() {
                let var = btf
                    .type_by_id(v[0])
                    .ok()
                    .filter(|x| x.kind() == BtfKind::Var)
                    .ok_or_else(|| err(format!("member type [{}] is not a VAR", v[0])))?;
                if matches!(
                    var.var_linkage(),
                    Some(VarLinkage::Static | VarLinkage::Extern)
                ) {
                    continue;
                }
                let var_name = var.name()?;
                let sym = layout
                    .symbols
                    .get(var_name)
                    .ok_or_else(|| err(format!("no ELF symbol for VAR '{var_name}'")))?;
                if fix_offsets {
                    v[1] = sym.offset;
                }
                if sym.hidden {
                    w.put(var.record_offset() + 12, VarLinkage::Static.to_raw());
                }
            }
        }
        vars.sort_by_key(|v| v[1]);
        for (i, v) in vars.iter().enumerate() {
            for (j, x) in v.iter().enumerate() {
                w.put(t.record_offset() + 12 + i * 12 + j * 4, *x);
            }
        }
    }
    Ok(out)
}

/// Writes `u32`s into the type section of a copy of the bytes.
struct Writer<'a> {
    out: &'a mut [u8],
    base: usize,
    endian: Endian,
}

impl Writer<'_> {
    /// `value` at offset `off` of the type section (within the parsed, checked records).
    fn put(&mut self, off: usize, value: u32) {
        let bytes = match self.endian {
            Endian::Little => value.to_le_bytes(),
            Endian::Big => value.to_be_bytes(),
        };
        if let Some(dst) = self.out.get_mut(self.base + off..self.base + off + 4) {
            dst.copy_from_slice(&bytes);
        }
    }
}
