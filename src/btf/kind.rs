//! BTF kinds and the small enums encoded inside type records.

use std::fmt;

/// The kind of a BTF type (bits 24..28 of `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BtfKind {
    /// Id 0, `void`; never stored in a type section.
    Void = 0,
    /// Integer (`int`, `char`, `_Bool`, ...).
    Int = 1,
    /// Pointer.
    Ptr = 2,
    /// Array.
    Array = 3,
    /// Struct.
    Struct = 4,
    /// Union.
    Union = 5,
    /// Enum with 32-bit values.
    Enum = 6,
    /// Forward declaration of a struct or union.
    Fwd = 7,
    /// Typedef.
    Typedef = 8,
    /// `volatile` modifier.
    Volatile = 9,
    /// `const` modifier.
    Const = 10,
    /// `restrict` modifier.
    Restrict = 11,
    /// Function (name and linkage; its type is a `FuncProto`).
    Func = 12,
    /// Function signature.
    FuncProto = 13,
    /// Variable.
    Var = 14,
    /// Data section (variables with offsets and sizes).
    Datasec = 15,
    /// Floating point.
    Float = 16,
    /// Declaration tag (`__attribute__((btf_decl_tag("...")))`).
    DeclTag = 17,
    /// Type tag (`__attribute__((btf_type_tag("...")))`).
    TypeTag = 18,
    /// Enum with 64-bit values.
    Enum64 = 19,
}

impl BtfKind {
    /// The kind for a raw kind number, if known.
    pub fn from_raw(raw: u32) -> Option<Self> {
        use BtfKind::*;
        Some(match raw {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The name bpftool prints (`STRUCT`, `FUNC_PROTO`, ...).
    pub fn as_str(self) -> &'static str {
        use BtfKind::*;
        match self {
            Void => "VOID",
            Int => "INT",
            Ptr => "PTR",
            Array => "ARRAY",
            Struct => "STRUCT",
            Union => "UNION",
            Enum => "ENUM",
            Fwd => "FWD",
            Typedef => "TYPEDEF",
            Volatile => "VOLATILE",
            Const => "CONST",
            Restrict => "RESTRICT",
            Func => "FUNC",
            FuncProto => "FUNC_PROTO",
            Var => "VAR",
            Datasec => "DATASEC",
            Float => "FLOAT",
            DeclTag => "DECL_TAG",
            TypeTag => "TYPE_TAG",
            Enum64 => "ENUM64",
        }
    }

    /// Whether this is a modifier that CO-RE and size computations look through
    /// (`const`, `volatile`, `restrict`, type tag).
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            BtfKind::Const | BtfKind::Volatile | BtfKind::Restrict | BtfKind::TypeTag
        )
    }

    /// Whether this is a struct or union.
    pub fn is_composite(self) -> bool {
        matches!(self, BtfKind::Struct | BtfKind::Union)
    }

    /// Whether this is an enum of either width.
    pub fn is_any_enum(self) -> bool {
        matches!(self, BtfKind::Enum | BtfKind::Enum64)
    }

    /// Whether the record's third word is a size (rather than a type id).
    pub fn has_size(self) -> bool {
        matches!(
            self,
            BtfKind::Int
                | BtfKind::Struct
                | BtfKind::Union
                | BtfKind::Enum
                | BtfKind::Enum64
                | BtfKind::Datasec
                | BtfKind::Float
        )
    }

    /// Whether the record's third word is a referenced type id.
    pub fn has_type_ref(self) -> bool {
        matches!(
            self,
            BtfKind::Ptr
                | BtfKind::Typedef
                | BtfKind::Volatile
                | BtfKind::Const
                | BtfKind::Restrict
                | BtfKind::Func
                | BtfKind::FuncProto
                | BtfKind::Var
                | BtfKind::DeclTag
                | BtfKind::TypeTag
        )
    }

    /// Bytes that follow the 12-byte common record for a type of this kind with `vlen` entries.
    pub fn extra_len(self, vlen: u16) -> usize {
        use BtfKind::*;
        let vlen = usize::from(vlen);
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            Void | Ptr | Fwd | Typedef | Volatile | Const | Restrict | Func | Float | TypeTag => 0,
        }
    }
}

impl fmt::Display for BtfKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Linkage of a `FUNC` (its vlen field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncLinkage {
    /// `static`.
    Static,
    /// Global.
    Global,
    /// Extern.
    Extern,
    /// A value this crate does not know.
    Unknown(u16),
}

impl FuncLinkage {
    /// From the raw vlen value.
    pub fn from_raw(raw: u16) -> Self {
        match raw {
            0 => Self::Static,
            1 => Self::Global,
            2 => Self::Extern,
            n => Self::Unknown(n),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u16 {
        match self {
            Self::Static => 0,
            Self::Global => 1,
            Self::Extern => 2,
            Self::Unknown(n) => n,
        }
    }
    /// Lower-case name as bpftool prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Global => "global",
            Self::Extern => "extern",
            Self::Unknown(_) => "(unknown)",
        }
    }
}

/// Linkage of a `VAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarLinkage {
    /// `static`.
    Static,
    /// Global, allocated here.
    Global,
    /// Extern (`.kconfig`, `.ksyms`).
    Extern,
    /// A value this crate does not know.
    Unknown(u32),
}

impl VarLinkage {
    /// From the raw value.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            0 => Self::Static,
            1 => Self::Global,
            2 => Self::Extern,
            n => Self::Unknown(n),
        }
    }
    /// The raw value.
    pub fn to_raw(self) -> u32 {
        match self {
            Self::Static => 0,
            Self::Global => 1,
            Self::Extern => 2,
            Self::Unknown(n) => n,
        }
    }
    /// Lower-case name as bpftool prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Global => "global",
            Self::Extern => "extern",
            Self::Unknown(_) => "(unknown)",
        }
    }
}

/// The encoding word of an `INT`: signedness/char/bool flags, bit offset and bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntInfo {
    /// Signed integer.
    pub signed: bool,
    /// `char`.
    pub char: bool,
    /// `_Bool`.
    pub bool: bool,
    /// Bit offset of the value (legacy bitfields), 0 normally.
    pub offset: u8,
    /// Number of value bits.
    pub bits: u8,
}

impl IntInfo {
    /// Decode the raw encoding word.
    pub fn from_raw(raw: u32) -> Self {
        let enc = (raw >> 24) & 0xf;
        Self {
            signed: enc & 1 != 0,
            char: enc & 2 != 0,
            bool: enc & 4 != 0,
            offset: ((raw >> 16) & 0xff) as u8,
            bits: (raw & 0xff) as u8,
        }
    }
    /// Encode to the raw word.
    pub fn to_raw(self) -> u32 {
        let enc =
            u32::from(self.signed) | (u32::from(self.char) << 1) | (u32::from(self.bool) << 2);
        (enc << 24) | (u32::from(self.offset) << 16) | u32::from(self.bits)
    }
}
