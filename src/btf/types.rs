//! [`Type`]: a view of one type record, decoded on demand, and its member/value/param records.

use std::fmt;
use std::marker::PhantomData;

use super::error::BtfError;
use super::header::{read_u32_checked, Endian};
use super::kind::{BtfKind, FuncLinkage, IntInfo, VarLinkage};
use super::table::{Btf, TYPE_RECORD_LEN};

/// A view of one BTF type. Cheap to copy; every accessor reads the raw record.
///
/// Accessors for kind-specific data return `None` when the type is of another kind.
#[derive(Clone, Copy)]
pub struct Type<'a> {
    btf: &'a Btf,
    id: u32,
    /// Offset of the record within the owning layer's type section.
    off: usize,
    kind: BtfKind,
    info: u32,
    name_off: u32,
    size_or_type: u32,
}

impl fmt::Debug for Type<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Type")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name().unwrap_or("<bad name>"))
            .field("vlen", &self.vlen())
            .field("kflag", &self.kflag())
            .field("size_or_type", &self.size_or_type)
            .finish()
    }
}

impl<'a> Type<'a> {
    pub(crate) fn void(btf: &'a Btf) -> Self {
        Type {
            btf,
            id: 0,
            off: 0,
            kind: BtfKind::Void,
            info: 0,
            name_off: 0,
            size_or_type: 0,
        }
    }

    /// A view of the record at `off` (validated by the parse) in `btf`'s own type section.
    pub(crate) fn at(btf: &'a Btf, id: u32, off: usize) -> Self {
        let bytes = btf.local_type_bytes();
        let e = btf.endian();
        let info = read_u32_checked(bytes, off + 4, e);
        Type {
            btf,
            id,
            off,
            kind: BtfKind::from_raw((info >> 24) & 0x1f).unwrap_or(BtfKind::Void),
            info,
            name_off: read_u32_checked(bytes, off, e),
            size_or_type: read_u32_checked(bytes, off + 8, e),
        }
    }

    /// Offset of the record within its layer's type section.
    pub(crate) fn record_offset(&self) -> usize {
        self.off
    }

    /// The type id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The kind.
    pub fn kind(&self) -> BtfKind {
        self.kind
    }

    /// The raw `info` word.
    pub fn info(&self) -> u32 {
        self.info
    }

    /// The vlen field (number of members, values, params or variables; FUNC linkage).
    pub fn vlen(&self) -> u16 {
        (self.info & 0xffff) as u16
    }

    /// The kind flag (bit 31 of `info`).
    pub fn kflag(&self) -> bool {
        self.info >> 31 != 0
    }

    /// Offset of the name in the string section (0 when anonymous).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }

    /// The raw third word: a size or a type id depending on the kind.
    pub fn size_or_type(&self) -> u32 {
        self.size_or_type
    }

    /// The BTF (layer) holding this record.
    pub fn btf(&self) -> &'a Btf {
        self.btf
    }

    /// The name; empty for anonymous types and void.
    pub fn name(&self) -> Result<&'a str, BtfError> {
        if self.name_off == 0 {
            return Ok("");
        }
        self.btf.string_at(self.name_off)
    }

    /// The name's raw bytes (no UTF-8 check); empty for anonymous types.
    pub fn name_bytes(&self) -> Result<&'a [u8], BtfError> {
        if self.name_off == 0 {
            return Ok(b"");
        }
        self.btf.string_bytes_at(self.name_off)
    }

    /// Whether the type has no name.
    pub fn is_anonymous(&self) -> bool {
        self.name_off == 0 || self.name_bytes().is_ok_and(|n| n.is_empty())
    }

    /// The size in bytes recorded in the type, for INT, STRUCT, UNION, ENUM, ENUM64, DATASEC
    /// and FLOAT. (For the size of any type, see [`Btf::type_size`].)
    pub fn size(&self) -> Option<u32> {
        self.kind.has_size().then_some(self.size_or_type)
    }

    /// The referenced type of PTR, TYPEDEF, modifiers, FUNC (its proto), FUNC_PROTO (return
    /// type), VAR, DECL_TAG and TYPE_TAG.
    pub fn ref_type(&self) -> Option<u32> {
        self.kind.has_type_ref().then_some(self.size_or_type)
    }

    fn word(&self, i: usize) -> u32 {
        let bytes = self.btf.local_type_bytes();
        read_u32_checked(bytes, self.off + TYPE_RECORD_LEN + 4 * i, self.btf.endian())
    }

    /// INT encoding (signedness, bits, bit offset).
    pub fn int(&self) -> Option<IntInfo> {
        (self.kind == BtfKind::Int).then(|| IntInfo::from_raw(self.word(0)))
    }

    /// ARRAY element type, index type and element count.
    pub fn array(&self) -> Option<ArrayInfo> {
        (self.kind == BtfKind::Array).then(|| ArrayInfo {
            elem_type: self.word(0),
            index_type: self.word(1),
            nelems: self.word(2),
        })
    }

    /// Members of a STRUCT or UNION (bitfield offsets decoded per the kind flag).
    pub fn members(&self) -> Option<Records<'a, Member<'a>>> {
        self.kind.is_composite().then(|| self.records())
    }

    /// Enumerators of an ENUM or ENUM64.
    pub fn enum_values(&self) -> Option<Records<'a, EnumValue<'a>>> {
        match self.kind {
            BtfKind::Enum | BtfKind::Enum64 => Some(self.records()),
            _ => None,
        }
    }

    /// Whether an ENUM/ENUM64 is signed (kind flag); `None` for other kinds.
    pub fn enum_is_signed(&self) -> Option<bool> {
        self.kind.is_any_enum().then(|| self.kflag())
    }

    /// Parameters of a FUNC_PROTO (a variadic prototype ends with a nameless void param).
    pub fn params(&self) -> Option<Records<'a, Param<'a>>> {
        (self.kind == BtfKind::FuncProto).then(|| self.records())
    }

    /// Whether a FUNC_PROTO is variadic (last param is void).
    pub fn is_variadic(&self) -> bool {
        self.params()
            .and_then(|p| p.last())
            .is_some_and(|p| p.type_id == 0 && p.name_off == 0)
    }

    /// Variables of a DATASEC.
    pub fn datasec_vars(&self) -> Option<Records<'a, VarSecinfo>> {
        (self.kind == BtfKind::Datasec).then(|| self.records())
    }

    /// Linkage of a FUNC.
    pub fn func_linkage(&self) -> Option<FuncLinkage> {
        (self.kind == BtfKind::Func).then(|| FuncLinkage::from_raw(self.vlen()))
    }

    /// Linkage of a VAR.
    pub fn var_linkage(&self) -> Option<VarLinkage> {
        (self.kind == BtfKind::Var).then(|| VarLinkage::from_raw(self.word(0)))
    }

    /// DECL_TAG component index: -1 for the tagged declaration itself, else the member or
    /// parameter index.
    pub fn decl_tag_component_idx(&self) -> Option<i32> {
        (self.kind == BtfKind::DeclTag).then(|| self.word(0) as i32)
    }

    /// For DECL_TAG and TYPE_TAG: whether the kind flag marks an attribute
    /// (`__attribute__((...))` text) rather than a plain tag.
    pub fn tag_is_attr(&self) -> Option<bool> {
        matches!(self.kind, BtfKind::DeclTag | BtfKind::TypeTag).then(|| self.kflag())
    }

    /// For FWD: whether it declares a union (kind flag) rather than a struct.
    pub fn fwd_is_union(&self) -> Option<bool> {
        (self.kind == BtfKind::Fwd).then(|| self.kflag())
    }

    fn records<R: Record<'a>>(&self) -> Records<'a, R> {
        let len = usize::from(self.vlen());
        Records {
            btf: self.btf,
            bytes: self.btf.local_type_bytes(),
            endian: self.btf.endian(),
            start: self.off + TYPE_RECORD_LEN,
            stride: self.kind.extra_len(1),
            next: 0,
            len,
            kind: self.kind,
            kflag: self.kflag(),
            _r: PhantomData,
        }
    }
}

/// ARRAY details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayInfo {
    /// Element type id.
    pub elem_type: u32,
    /// Index type id (an INT).
    pub index_type: u32,
    /// Number of elements.
    pub nelems: u32,
}

/// One record following a type (member, enumerator, param, variable).
pub trait Record<'a>: Sized {
    #[doc(hidden)]
    fn decode(btf: &'a Btf, kind: BtfKind, kflag: bool, w: [u32; 3]) -> Self;
}

/// Iterator over the records of a type (an `ExactSizeIterator`; also indexable with `get`).
#[derive(Clone)]
pub struct Records<'a, R> {
    btf: &'a Btf,
    bytes: &'a [u8],
    endian: Endian,
    start: usize,
    stride: usize,
    next: usize,
    len: usize,
    kind: BtfKind,
    kflag: bool,
    _r: PhantomData<R>,
}

impl<'a, R: Record<'a>> Records<'a, R> {
    /// The record at `index`.
    pub fn get(&self, index: usize) -> Option<R> {
        if index >= self.len {
            return None;
        }
        let off = self.start + index * self.stride;
        let mut w = [0u32; 3];
        for (i, slot) in w.iter_mut().enumerate().take(self.stride / 4) {
            *slot = read_u32_checked(self.bytes, off + 4 * i, self.endian);
        }
        Some(R::decode(self.btf, self.kind, self.kflag, w))
    }
}

impl<'a, R: Record<'a>> Iterator for Records<'a, R> {
    type Item = R;
    fn next(&mut self) -> Option<R> {
        let r = self.get(self.next)?;
        self.next += 1;
        Some(r)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len - self.next;
        (n, Some(n))
    }
}

impl<'a, R: Record<'a>> ExactSizeIterator for Records<'a, R> {}

/// A STRUCT/UNION member.
#[derive(Clone, Copy)]
pub struct Member<'a> {
    btf: &'a Btf,
    /// Name offset (0 for anonymous members).
    pub name_off: u32,
    /// Member type id.
    pub type_id: u32,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits (0 when not a bitfield, or for kind-flag-less structs whose
    /// bitfields are encoded in the INT type).
    pub bitfield_size: u32,
}

impl<'a> Member<'a> {
    /// The member name (empty when anonymous).
    pub fn name(&self) -> Result<&'a str, BtfError> {
        if self.name_off == 0 {
            return Ok("");
        }
        self.btf.string_at(self.name_off)
    }
}

impl fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name().unwrap_or("<bad name>"))
            .field("type_id", &self.type_id)
            .field("bit_offset", &self.bit_offset)
            .field("bitfield_size", &self.bitfield_size)
            .finish()
    }
}

impl<'a> Record<'a> for Member<'a> {
    fn decode(btf: &'a Btf, _kind: BtfKind, kflag: bool, w: [u32; 3]) -> Self {
        let (bit_offset, bitfield_size) = if kflag {
            (w[2] & 0xff_ffff, w[2] >> 24)
        } else {
            (w[2], 0)
        };
        Member {
            btf,
            name_off: w[0],
            type_id: w[1],
            bit_offset,
            bitfield_size,
        }
    }
}

/// An ENUM/ENUM64 enumerator.
#[derive(Clone, Copy)]
pub struct EnumValue<'a> {
    btf: &'a Btf,
    /// Name offset.
    pub name_off: u32,
    /// The value's bits; a signed 32-bit ENUM value is sign-extended.
    pub value: u64,
    /// Whether the enum is signed (kind flag).
    pub signed: bool,
}

impl<'a> EnumValue<'a> {
    /// The enumerator name.
    pub fn name(&self) -> Result<&'a str, BtfError> {
        self.btf.string_at(self.name_off)
    }
    /// The value as signed.
    pub fn value_i64(&self) -> i64 {
        self.value as i64
    }
}

impl fmt::Debug for EnumValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnumValue")
            .field("name", &self.name().unwrap_or("<bad name>"))
            .field("value", &self.value)
            .field("signed", &self.signed)
            .finish()
    }
}

impl<'a> Record<'a> for EnumValue<'a> {
    fn decode(btf: &'a Btf, kind: BtfKind, kflag: bool, w: [u32; 3]) -> Self {
        let value = if kind == BtfKind::Enum64 {
            u64::from(w[1]) | (u64::from(w[2]) << 32)
        } else if kflag {
            w[1] as i32 as i64 as u64
        } else {
            u64::from(w[1])
        };
        EnumValue {
            btf,
            name_off: w[0],
            value,
            signed: kflag,
        }
    }
}

/// A FUNC_PROTO parameter.
#[derive(Clone, Copy)]
pub struct Param<'a> {
    btf: &'a Btf,
    /// Name offset (0 when unnamed).
    pub name_off: u32,
    /// Parameter type id (0 for the `...` of a variadic prototype).
    pub type_id: u32,
}

impl<'a> Param<'a> {
    /// The parameter name (empty when unnamed).
    pub fn name(&self) -> Result<&'a str, BtfError> {
        if self.name_off == 0 {
            return Ok("");
        }
        self.btf.string_at(self.name_off)
    }
}

impl fmt::Debug for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Param")
            .field("name", &self.name().unwrap_or("<bad name>"))
            .field("type_id", &self.type_id)
            .finish()
    }
}

impl<'a> Record<'a> for Param<'a> {
    fn decode(btf: &'a Btf, _kind: BtfKind, _kflag: bool, w: [u32; 3]) -> Self {
        Param {
            btf,
            name_off: w[0],
            type_id: w[1],
        }
    }
}

/// A DATASEC variable: its VAR (or FUNC for `.ksyms`) type, offset and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecinfo {
    /// VAR type id.
    pub type_id: u32,
    /// Offset within the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

impl<'a> Record<'a> for VarSecinfo {
    fn decode(_btf: &'a Btf, _kind: BtfKind, _kflag: bool, w: [u32; 3]) -> Self {
        VarSecinfo {
            type_id: w[0],
            offset: w[1],
            size: w[2],
        }
    }
}
