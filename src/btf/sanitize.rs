//! Rewrites of an object's BTF before upload: the DATASEC fix-up every load needs, and the
//! sanitization that replaces kinds an older kernel lacks (spec §3).

use std::collections::HashMap;

use super::error::BtfError;
use super::kind::{BtfKind, FuncLinkage, IntInfo, VarLinkage};
use super::writer::{BtfBuilder, EnumValueDef, MemberDef, TypeBody, TypeDef};

/// Which BTF features the kernel lacks (each from a feature probe). All `false` means the
/// kernel takes the BTF as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissingFeatures {
    /// FUNC and FUNC_PROTO (5.0).
    pub func: bool,
    /// Global FUNC linkage.
    pub global_func: bool,
    /// VAR and DATASEC.
    pub datasec: bool,
    /// DATASEC names starting with `?`.
    pub qmark_datasec: bool,
    /// FLOAT.
    pub float: bool,
    /// DECL_TAG.
    pub decl_tag: bool,
    /// TYPE_TAG.
    pub type_tag: bool,
    /// ENUM64 (and signed enums).
    pub enum64: bool,
}

impl MissingFeatures {
    /// Whether anything needs rewriting.
    pub fn any(&self) -> bool {
        self.func
            || self.global_func
            || self.datasec
            || self.qmark_datasec
            || self.float
            || self.decl_tag
            || self.type_tag
            || self.enum64
    }
}

/// A one-byte unsigned INT, what VAR and DECL_TAG become.
fn byte_int() -> TypeBody {
    TypeBody::Int {
        size: 1,
        info: IntInfo {
            signed: false,
            char: false,
            bool: false,
            offset: 0,
            bits: 8,
        },
    }
}

/// Rewrite the types a kernel lacking `missing` would reject, like libbpf does on the copy it
/// uploads (the original stays for CO-RE). Ids are kept; at most one INT
/// (`enum64_placeholder`) is appended.
pub fn sanitize(b: &mut BtfBuilder, missing: &MissingFeatures) {
    if !missing.any() {
        return;
    }
    let mut placeholder = 0u32;
    let var_names: HashMap<u32, String> = b
        .iter()
        .filter(|(_, t)| t.kind() == BtfKind::Var)
        .map(|(id, t)| (id, t.name.clone()))
        .collect();
    for id in 1..=b.last_id() {
        let Some(t) = b.get(id) else { continue };
        let kind = t.kind();
        let new = match (&t.body, kind) {
            (_, BtfKind::Var) if missing.datasec => Some(TypeDef::named(&t.name, byte_int())),
            (_, BtfKind::DeclTag) if missing.decl_tag => Some(TypeDef::named(&t.name, byte_int())),
            (TypeBody::Datasec { size, vars }, _) if missing.datasec => {
                let name = t.name.replace(['.', '?'], "_");
                let members = vars
                    .iter()
                    .map(|v| MemberDef {
                        name: var_names.get(&v.type_id).cloned().unwrap_or_default(),
                        ty: v.type_id,
                        bit_offset: v.offset.wrapping_mul(8),
                        bitfield_size: 0,
                    })
                    .collect();
                Some(TypeDef::named(
                    name,
                    TypeBody::Struct {
                        size: *size,
                        members,
                    },
                ))
            }
            (TypeBody::Datasec { .. }, _) if missing.qmark_datasec && t.name.starts_with('?') => {
                let mut t = t.clone();
                t.name.replace_range(..1, "_");
                Some(t)
            }
            (TypeBody::FuncProto { params, .. }, _) if missing.func => Some(TypeDef::named(
                &t.name,
                TypeBody::Enum {
                    size: 4,
                    signed: false,
                    // Unnamed parameters become `argN`: today's kernels refuse nameless
                    // enumerators (what libbpf leaves), older ones take any name.
                    values: params
                        .iter()
                        .enumerate()
                        .map(|(i, p)| EnumValueDef {
                            name: if p.name.is_empty() {
                                format!("arg{i}")
                            } else {
                                p.name.clone()
                            },
                            value: u64::from(p.ty),
                        })
                        .collect(),
                },
            )),
            (TypeBody::Func { proto, .. }, _) if missing.func => {
                Some(TypeDef::named(&t.name, TypeBody::Typedef { ty: *proto }))
            }
            (TypeBody::Func { proto, .. }, _) if missing.global_func => Some(TypeDef::named(
                &t.name,
                TypeBody::Func {
                    proto: *proto,
                    linkage: FuncLinkage::Static,
                },
            )),
            (TypeBody::Float { size }, _) if missing.float => {
                Some(TypeDef::anon(TypeBody::Struct {
                    size: *size,
                    members: Vec::new(),
                }))
            }
            (TypeBody::TypeTag { ty, .. }, _) if missing.type_tag => {
                Some(TypeDef::anon(TypeBody::Const { ty: *ty }))
            }
            (TypeBody::Enum { size, values, .. }, _) if missing.enum64 => Some(TypeDef::named(
                &t.name,
                TypeBody::Enum {
                    size: *size,
                    signed: false,
                    values: values.clone(),
                },
            )),
            (TypeBody::Enum64 { size, values, .. }, _) if missing.enum64 => {
                let (size, values, name) = (*size, values.clone(), t.name.clone());
                if placeholder == 0 {
                    placeholder = b.add(TypeDef::named("enum64_placeholder", byte_int()));
                }
                let members = values
                    .into_iter()
                    .map(|v| MemberDef {
                        name: v.name,
                        ty: placeholder,
                        bit_offset: 0,
                        bitfield_size: 0,
                    })
                    .collect();
                Some(TypeDef::named(name, TypeBody::Union { size, members }))
            }
            _ => None,
        };
        if let Some(new) = new {
            b.replace(id, new);
        }
    }
}

/// Where a global variable sits in its ELF section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSymbol {
    /// The symbol's value (offset within its section).
    pub offset: u32,
    /// Visibility is STV_HIDDEN or STV_INTERNAL (the VAR becomes static).
    pub hidden: bool,
}

/// The ELF facts the DATASEC fix-up needs, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasecLayout {
    /// Size of each ELF section by name (`.data`, `.rodata.str1.1`, `.bss`, ...).
    pub section_sizes: HashMap<String, u32>,
    /// Global (and weak) object symbols by name.
    pub symbols: HashMap<String, VarSymbol>,
}

/// Fix every DATASEC as libbpf does before upload: a zero size is taken from the ELF section
/// and then each non-static, non-extern VAR's offset from its symbol; VARs of hidden symbols
/// become static; VARs are sorted by offset. `.kconfig` and `.ksyms` are only sorted.
pub fn fixup_datasecs(b: &mut BtfBuilder, layout: &DatasecLayout) -> Result<(), BtfError> {
    for id in 1..=b.last_id() {
        let Some(TypeDef {
            name,
            body: TypeBody::Datasec { size, vars },
        }) = b.get(id).cloned()
        else {
            continue;
        };
        let err = |problem: String| BtfError::Datasec {
            section: name.clone(),
            problem,
        };
        let mut size = size;
        let mut vars = vars;
        if name != ".kconfig" && name != ".ksyms" {
            let fix_offsets = size == 0;
            if fix_offsets {
                size = match layout.section_sizes.get(&name) {
                    Some(&s) if s != 0 => s,
                    _ => return Err(err("size of the ELF section unknown or 0".into())),
                };
            }
            for v in vars.iter_mut() {
                let Some(TypeDef {
                    name: var_name,
                    body: TypeBody::Var { ty, linkage },
                }) = b.get(v.type_id).cloned()
                else {
                    return Err(err(format!("member type [{}] is not a VAR", v.type_id)));
                };
                if matches!(linkage, VarLinkage::Static | VarLinkage::Extern) {
                    continue;
                }
                let sym = layout
                    .symbols
                    .get(&var_name)
                    .ok_or_else(|| err(format!("no ELF symbol for VAR '{var_name}'")))?;
                if fix_offsets {
                    v.offset = sym.offset;
                }
                if sym.hidden {
                    b.replace(
                        v.type_id,
                        TypeDef::named(
                            var_name,
                            TypeBody::Var {
                                ty,
                                linkage: VarLinkage::Static,
                            },
                        ),
                    );
                }
            }
        }
        vars.sort_by_key(|v| v.offset);
        b.replace(id, TypeDef::named(name, TypeBody::Datasec { size, vars }));
    }
    Ok(())
}

/// Set the linkage of the FUNC named `name` (for `__hidden` subprograms: static). Returns
/// whether such a FUNC exists.
pub fn set_func_linkage(b: &mut BtfBuilder, name: &str, linkage: FuncLinkage) -> bool {
    let Some(id) = b.find(name, BtfKind::Func) else {
        return false;
    };
    if let Some(TypeDef {
        body: TypeBody::Func { linkage: l, .. },
        ..
    }) = b.get_mut(id)
    {
        *l = linkage;
    }
    true
}
