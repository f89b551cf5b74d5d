//! [`BtfBuilder`]: an owned, editable list of types that encodes little-endian BTF.
//!
//! Used to fix up and sanitize an object's BTF before upload, to build small BTF blobs in
//! tests and feature probes, and to add types.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::BtfError;
use super::header::{BTF_HEADER_LEN, BTF_MAGIC};
use super::kind::{BtfKind, FuncLinkage, IntInfo, VarLinkage};
use super::table::Btf;
use super::types::VarSecinfo;

/// One owned type: a name (empty for anonymous) and its kind-specific body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    /// The name; must be empty for PTR, ARRAY, modifiers and FUNC_PROTO.
    pub name: String,
    /// What the type is.
    pub body: TypeBody,
}

/// A struct/union member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDef {
    /// Name (empty for anonymous members).
    pub name: String,
    /// Type id.
    pub ty: u32,
    /// Offset in bits.
    pub bit_offset: u32,
    /// Bitfield width (0 if not a bitfield). Any non-zero width sets the kind flag.
    pub bitfield_size: u32,
}

/// An enumerator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValueDef {
    /// Name.
    pub name: String,
    /// Value bits (truncated to 32 bits for ENUM).
    pub value: u64,
}

/// A function prototype parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDef {
    /// Name (may be empty).
    pub name: String,
    /// Type id (0 marks `...`).
    pub ty: u32,
}

/// The kind-specific part of a [`TypeDef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeBody {
    /// INT.
    Int {
        /// Size in bytes.
        size: u32,
        /// Encoding, bits and bit offset.
        info: IntInfo,
    },
    /// PTR.
    Ptr {
        /// Pointee.
        ty: u32,
    },
    /// ARRAY.
    Array {
        /// Element type.
        elem: u32,
        /// Index type.
        index: u32,
        /// Element count.
        nelems: u32,
    },
    /// STRUCT.
    Struct {
        /// Size in bytes.
        size: u32,
        /// Members.
        members: Vec<MemberDef>,
    },
    /// UNION.
    Union {
        /// Size in bytes.
        size: u32,
        /// Members.
        members: Vec<MemberDef>,
    },
    /// ENUM (32-bit values).
    Enum {
        /// Size in bytes (1, 2, 4 or 8).
        size: u32,
        /// Signed (kind flag).
        signed: bool,
        /// Enumerators.
        values: Vec<EnumValueDef>,
    },
    /// FWD.
    Fwd {
        /// A union rather than a struct.
        union: bool,
    },
    /// TYPEDEF.
    Typedef {
        /// Aliased type.
        ty: u32,
    },
    /// VOLATILE.
    Volatile {
        /// Qualified type.
        ty: u32,
    },
    /// CONST.
    Const {
        /// Qualified type.
        ty: u32,
    },
    /// RESTRICT.
    Restrict {
        /// Qualified type.
        ty: u32,
    },
    /// FUNC.
    Func {
        /// FUNC_PROTO type id.
        proto: u32,
        /// Linkage.
        linkage: FuncLinkage,
    },
    /// FUNC_PROTO.
    FuncProto {
        /// Return type (0 for void).
        ret: u32,
        /// Parameters.
        params: Vec<ParamDef>,
    },
    /// VAR.
    Var {
        /// Variable type.
        ty: u32,
        /// Linkage.
        linkage: VarLinkage,
    },
    /// DATASEC.
    Datasec {
        /// Section size.
        size: u32,
        /// Variables.
        vars: Vec<VarSecinfo>,
    },
    /// FLOAT.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// DECL_TAG.
    DeclTag {
        /// Tagged type.
        ty: u32,
        /// -1 for the declaration itself, else a member/param index.
        component_idx: i32,
        /// Kind flag: the tag is an attribute.
        attr: bool,
    },
    /// TYPE_TAG.
    TypeTag {
        /// Tagged type.
        ty: u32,
        /// Kind flag: the tag is an attribute.
        attr: bool,
    },
    /// ENUM64.
    Enum64 {
        /// Size in bytes.
        size: u32,
        /// Signed (kind flag).
        signed: bool,
        /// Enumerators.
        values: Vec<EnumValueDef>,
    },
}

impl TypeBody {
    /// The kind this body encodes.
    pub fn kind(&self) -> BtfKind {
        match self {
            TypeBody::Int { .. } => BtfKind::Int,
            TypeBody::Ptr { .. } => BtfKind::Ptr,
            TypeBody::Array { .. } => BtfKind::Array,
            TypeBody::Struct { .. } => BtfKind::Struct,
            TypeBody::Union { .. } => BtfKind::Union,
            TypeBody::Enum { .. } => BtfKind::Enum,
            TypeBody::Fwd { .. } => BtfKind::Fwd,
            TypeBody::Typedef { .. } => BtfKind::Typedef,
            TypeBody::Volatile { .. } => BtfKind::Volatile,
            TypeBody::Const { .. } => BtfKind::Const,
            TypeBody::Restrict { .. } => BtfKind::Restrict,
            TypeBody::Func { .. } => BtfKind::Func,
            TypeBody::FuncProto { .. } => BtfKind::FuncProto,
            TypeBody::Var { .. } => BtfKind::Var,
            TypeBody::Datasec { .. } => BtfKind::Datasec,
            TypeBody::Float { .. } => BtfKind::Float,
            TypeBody::DeclTag { .. } => BtfKind::DeclTag,
            TypeBody::TypeTag { .. } => BtfKind::TypeTag,
            TypeBody::Enum64 { .. } => BtfKind::Enum64,
        }
    }
}

impl TypeDef {
    /// A type with a name.
    pub fn named(name: impl Into<String>, body: TypeBody) -> Self {
        TypeDef {
            name: name.into(),
            body,
        }
    }
    /// An anonymous type.
    pub fn anon(body: TypeBody) -> Self {
        TypeDef {
            name: String::new(),
            body,
        }
    }
    /// The kind.
    pub fn kind(&self) -> BtfKind {
        self.body.kind()
    }
}

/// An editable list of types; id `n` is `types[n - 1]`, id 0 is void.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfBuilder {
    types: Vec<TypeDef>,
}

impl BtfBuilder {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copy every type of a base (non-split) BTF.
    pub fn from_btf(btf: &Btf) -> Result<Self, BtfError> {
        if btf.base().is_some() {
            return Err(BtfError::Encode {
                id: btf.first_id(),
                problem: "split BTF cannot be copied into a builder".into(),
            });
        }
        let mut types = Vec::with_capacity(btf.last_id() as usize);
        for t in btf.local_types() {
            types.push(TypeDef::from_type(t)?);
        }
        Ok(BtfBuilder { types })
    }

    /// Append a type, returning its id.
    pub fn add(&mut self, t: TypeDef) -> u32 {
        self.types.push(t);
        self.types.len() as u32
    }

    /// The type with this id.
    pub fn get(&self, id: u32) -> Option<&TypeDef> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    /// The type with this id, to edit.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut TypeDef> {
        self.types.get_mut((id as usize).checked_sub(1)?)
    }

    /// Replace the type with this id; false if there is none.
    pub fn replace(&mut self, id: u32, t: TypeDef) -> bool {
        match self.get_mut(id) {
            Some(slot) => {
                *slot = t;
                true
            }
            None => false,
        }
    }

    /// Id of the last type (the number of types).
    pub fn last_id(&self) -> u32 {
        self.types.len() as u32
    }

    /// The types with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &TypeDef)> + '_ {
        self.types
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32 + 1, t))
    }

    /// The types with their ids, to edit.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut TypeDef)> + '_ {
        self.types
            .iter_mut()
            .enumerate()
            .map(|(i, t)| (i as u32 + 1, t))
    }

    /// The first type named `name` of kind `kind`.
    pub fn find(&self, name: &str, kind: BtfKind) -> Option<u32> {
        self.iter()
            .find(|(_, t)| t.name == name && t.kind() == kind)
            .map(|(id, _)| id)
    }

    /// Encode as little-endian BTF (what the kernel on x86-64/arm64 accepts).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BtfError> {
        self.encode_with(Strings::default())
    }

    /// Encode as little-endian BTF whose string section starts with `original`'s strings,
    /// byte for byte: every string offset into `original` (func_info/line_info of its
    /// `.BTF.ext`, say) stays valid; names not found there are appended.
    pub fn to_bytes_keeping_strings(&self, original: &Btf) -> Result<Vec<u8>, BtfError> {
        let data = original.local_strings().to_vec();
        let mut seen = HashMap::new();
        let mut off = 0u32;
        for s in data.split(|&b| b == 0) {
            if let Ok(s) = std::str::from_utf8(s) {
                seen.entry(s.to_string()).or_insert(off);
            }
            off = off.saturating_add(s.len() as u32 + 1);
        }
        if data.is_empty() {
            return self.to_bytes();
        }
        self.encode_with(Strings {
            data,
            seen,
            start: 0,
        })
    }

    /// Encode as little-endian split BTF on `base`: the types here get ids after the base's
    /// (type ids in the bodies are absolute) and names not found in the base are added after
    /// its strings.
    pub fn to_split_bytes(&self, base: &Btf) -> Result<Vec<u8>, BtfError> {
        let mut seen = HashMap::new();
        let mut layer = Some(base);
        while let Some(l) = layer {
            let mut off = l.strings_start();
            for s in l.local_strings().split(|&b| b == 0) {
                if let Ok(s) = std::str::from_utf8(s) {
                    seen.insert(s.to_string(), off);
                }
                off = off.saturating_add(s.len() as u32 + 1);
            }
            layer = l.base().map(|b| &**b);
        }
        self.encode_with(Strings {
            data: Vec::new(),
            seen,
            start: base.strings_end(),
        })
    }

    fn encode_with(&self, mut strs: Strings) -> Result<Vec<u8>, BtfError> {
        let mut types = Vec::with_capacity(self.types.len() * 32);
        for (id, t) in self.iter() {
            encode(id, t, &mut types, &mut strs)?;
        }
        if strs.start == 0 && strs.data.is_empty() {
            strs.data.push(0);
        }
        let type_len = u32::try_from(types.len()).map_err(|_| too_big(0))?;
        let str_len = u32::try_from(strs.data.len()).map_err(|_| too_big(0))?;
        let mut out = Vec::with_capacity(BTF_HEADER_LEN + types.len() + strs.data.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        for w in [BTF_HEADER_LEN as u32, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(&strs.data);
        Ok(out)
    }

    /// Encode and parse back into a [`Btf`].
    pub fn build(&self) -> Result<Btf, BtfError> {
        Btf::parse(self.to_bytes()?)
    }

    /// Encode and parse back into a shared [`Btf`].
    pub fn build_arc(&self) -> Result<Arc<Btf>, BtfError> {
        self.build().map(Arc::new)
    }
}

fn too_big(id: u32) -> BtfError {
    BtfError::Encode {
        id,
        problem: "BTF larger than 4 GiB".into(),
    }
}

/// The string section being built; `start` is the first offset it holds (the base's string
/// end for split BTF, where the empty string and base names resolve in the base).
#[derive(Default)]
struct Strings {
    data: Vec<u8>,
    seen: HashMap<String, u32>,
    start: u32,
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        if self.data.is_empty() && self.start == 0 {
            self.data.push(0);
        }
        if s.is_empty() {
            return 0;
        }
        if let Some(&off) = self.seen.get(s) {
            return off;
        }
        let off = self.start + self.data.len() as u32;
        self.data.extend_from_slice(s.as_bytes());
        self.data.push(0);
        self.seen.insert(s.to_string(), off);
        off
    }
}

fn encode(id: u32, t: &TypeDef, out: &mut Vec<u8>, strs: &mut Strings) -> Result<(), BtfError> {
    let err = |problem: String| BtfError::Encode { id, problem };
    if t.name.contains('\0') {
        return Err(err(format!("name {:?} contains NUL", t.name)));
    }
    let name_off = strs.add(&t.name);
    let vlen = |n: usize| u16::try_from(n).map_err(|_| err(format!("{n} entries exceed vlen")));
    let mut extra: Vec<u32> = Vec::new();
    let (vlen, kflag, third) = match &t.body {
        TypeBody::Int { size, info } => {
            extra.push(info.to_raw());
            (0, false, *size)
        }
        TypeBody::Ptr { ty }
        | TypeBody::Typedef { ty }
        | TypeBody::Volatile { ty }
        | TypeBody::Const { ty }
        | TypeBody::Restrict { ty } => (0, false, *ty),
        TypeBody::Array {
            elem,
            index,
            nelems,
        } => {
            extra.extend([*elem, *index, *nelems]);
            (0, false, 0)
        }
        TypeBody::Struct { size, members } | TypeBody::Union { size, members } => {
            let kflag = members.iter().any(|m| m.bitfield_size != 0);
            for m in members {
                let off = if kflag {
                    if m.bit_offset > 0xff_ffff || m.bitfield_size > 0xff {
                        return Err(err(format!(
                            "member '{}' bit offset {} or bitfield size {} too large",
                            m.name, m.bit_offset, m.bitfield_size
                        )));
                    }
                    (m.bitfield_size << 24) | m.bit_offset
                } else {
                    m.bit_offset
                };
                extra.extend([strs.add(&m.name), m.ty, off]);
            }
            (vlen(members.len())?, kflag, *size)
        }
        TypeBody::Enum {
            size,
            signed,
            values,
        } => {
            for v in values {
                extra.extend([strs.add(&v.name), v.value as u32]);
            }
            (vlen(values.len())?, *signed, *size)
        }
        TypeBody::Enum64 {
            size,
            signed,
            values,
        } => {
            for v in values {
                extra.extend([strs.add(&v.name), v.value as u32, (v.value >> 32) as u32]);
            }
            (vlen(values.len())?, *signed, *size)
        }
        TypeBody::Fwd { union } => (0, *union, 0),
        TypeBody::Func { proto, linkage } => (linkage.to_raw(), false, *proto),
        TypeBody::FuncProto { ret, params } => {
            for p in params {
                extra.extend([strs.add(&p.name), p.ty]);
            }
            (vlen(params.len())?, false, *ret)
        }
        TypeBody::Var { ty, linkage } => {
            extra.push(linkage.to_raw());
            (0, false, *ty)
        }
        TypeBody::Datasec { size, vars } => {
            for v in vars {
                extra.extend([v.type_id, v.offset, v.size]);
            }
            (vlen(vars.len())?, false, *size)
        }
        TypeBody::Float { size } => (0, false, *size),
        TypeBody::DeclTag {
            ty,
            component_idx,
            attr,
        } => {
            extra.push(*component_idx as u32);
            (0, *attr, *ty)
        }
        TypeBody::TypeTag { ty, attr } => (0, *attr, *ty),
    };
    let info = (u32::from(kflag) << 31) | ((t.kind() as u32) << 24) | u32::from(vlen);
    for w in [name_off, info, third].into_iter().chain(extra) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Ok(())
}

impl TypeDef {
    /// Copy a parsed type into an owned one.
    pub fn from_type(t: super::types::Type<'_>) -> Result<Self, BtfError> {
        let name = t.name()?.to_string();
        let so = t.size_or_type();
        let members = |t: &super::types::Type<'_>| -> Result<Vec<MemberDef>, BtfError> {
            t.members()
                .into_iter()
                .flatten()
                .map(|m| {
                    Ok(MemberDef {
                        name: m.name()?.to_string(),
                        ty: m.type_id,
                        bit_offset: m.bit_offset,
                        bitfield_size: m.bitfield_size,
                    })
                })
                .collect()
        };
        let values = |t: &super::types::Type<'_>| -> Result<Vec<EnumValueDef>, BtfError> {
            t.enum_values()
                .into_iter()
                .flatten()
                .map(|v| {
                    Ok(EnumValueDef {
                        name: v.name()?.to_string(),
                        value: v.value,
                    })
                })
                .collect()
        };
        let body = match t.kind() {
            BtfKind::Void => {
                return Err(BtfError::Encode {
                    id: 0,
                    problem: "void is not a stored type".into(),
                })
            }
            BtfKind::Int => TypeBody::Int {
                size: so,
                info: t.int().unwrap_or(IntInfo::from_raw(0)),
            },
            BtfKind::Ptr => TypeBody::Ptr { ty: so },
            BtfKind::Array => {
                let a = t.array().unwrap_or(super::types::ArrayInfo {
                    elem_type: 0,
                    index_type: 0,
                    nelems: 0,
                });
                TypeBody::Array {
                    elem: a.elem_type,
                    index: a.index_type,
                    nelems: a.nelems,
                }
            }
            BtfKind::Struct => TypeBody::Struct {
                size: so,
                members: members(&t)?,
            },
            BtfKind::Union => TypeBody::Union {
                size: so,
                members: members(&t)?,
            },
            BtfKind::Enum => TypeBody::Enum {
                size: so,
                signed: t.kflag(),
                values: values(&t)?,
            },
            BtfKind::Enum64 => TypeBody::Enum64 {
                size: so,
                signed: t.kflag(),
                values: values(&t)?,
            },
            BtfKind::Fwd => TypeBody::Fwd { union: t.kflag() },
            BtfKind::Typedef => TypeBody::Typedef { ty: so },
            BtfKind::Volatile => TypeBody::Volatile { ty: so },
            BtfKind::Const => TypeBody::Const { ty: so },
            BtfKind::Restrict => TypeBody::Restrict { ty: so },
            BtfKind::Func => TypeBody::Func {
                proto: so,
                linkage: FuncLinkage::from_raw(t.vlen()),
            },
            BtfKind::FuncProto => TypeBody::FuncProto {
                ret: so,
                params: t
                    .params()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        Ok(ParamDef {
                            name: p.name()?.to_string(),
                            ty: p.type_id,
                        })
                    })
                    .collect::<Result<_, BtfError>>()?,
            },
            BtfKind::Var => TypeBody::Var {
                ty: so,
                linkage: t.var_linkage().unwrap_or(VarLinkage::Static),
            },
            BtfKind::Datasec => TypeBody::Datasec {
                size: so,
                vars: t.datasec_vars().into_iter().flatten().collect(),
            },
            BtfKind::Float => TypeBody::Float { size: so },
            BtfKind::DeclTag => TypeBody::DeclTag {
                ty: so,
                component_idx: t.decl_tag_component_idx().unwrap_or(-1),
                attr: t.kflag(),
            },
            BtfKind::TypeTag => TypeBody::TypeTag {
                ty: so,
                attr: t.kflag(),
            },
        };
        Ok(TypeDef { name, body })
    }
}
