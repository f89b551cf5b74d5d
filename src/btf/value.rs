//! Values through their BTF type: [`decode_value`] turns the bytes of a map value, a global
//! variable or a ring-buffer record into a [`Value`] tree (structs with field names, enums by
//! enumerator, `char` arrays as strings), which displays as one readable line
//! ([`format_value`]); [`parse_value`] goes the other way, from text to bytes, for setting a
//! variable from a command line.
//!
//! Pure, and bounded: bytes shorter than the type are an error, nesting is limited to
//! [`MAX_RESOLVE_DEPTH`], and an array never yields more elements than its bytes hold.
//!
//! ```
//! use oxbpf::btf::{format_value, Btf, BtfBuilder, IntInfo, MemberDef, TypeBody, TypeDef};
//!
//! let mut b = BtfBuilder::new();
//! let info = IntInfo { signed: true, char: false, bool: false, offset: 0, bits: 32 };
//! let int = b.add(TypeDef::named("int", TypeBody::Int { size: 4, info }));
//! let member = |name: &str, bit_offset| MemberDef {
//!     name: name.into(), ty: int, bit_offset, bitfield_size: 0,
//! };
//! let members = vec![member("a", 0), member("b", 32)];
//! let pair = b.add(TypeDef::named("pair", TypeBody::Struct { size: 8, members }));
//! let btf = Btf::parse(b.to_bytes()?)?;
//! let bytes = [1i32.to_ne_bytes(), (-2i32).to_ne_bytes()].concat();
//! assert_eq!(format_value(&btf, pair, &bytes)?, "{a: 1, b: -2}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use super::error::BtfError;
use super::header::Endian;
use super::kind::BtfKind;
use super::lookup::{MAX_RESOLVE_DEPTH, PTR_SIZE};
use super::table::Btf;
use super::types::Type;

/// A value decoded through its BTF type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unsigned integer (up to 128 bits).
    Uint(u128),
    /// A signed integer (up to 128 bits).
    Int(i128),
    /// `_Bool`.
    Bool(bool),
    /// A single `char`.
    Char(u8),
    /// `float` or `double`.
    Float(f64),
    /// A `char` array: the text up to the first NUL (invalid UTF-8 replaced).
    Str(String),
    /// An enum: the enumerator's name when one has the value.
    Enum {
        /// The enumerator, if the value has one.
        name: Option<String>,
        /// The raw value (sign-extended for signed enums).
        value: i128,
    },
    /// A pointer (its address).
    Ptr(u64),
    /// An array.
    Array(Vec<Value>),
    /// A struct, union or data section: its named fields in order (anonymous members are
    /// flattened into their parent, as C lets one name them).
    Struct(Vec<(String, Value)>),
    /// Bytes whose type has no decoding (a `long double`, a forward declaration).
    Bytes(Vec<u8>),
}

/// Why a value could not be decoded or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The BTF itself.
    #[error(transparent)]
    Btf(#[from] BtfError),
    /// Fewer bytes than the type needs.
    #[error("{ty}: {got} bytes, the type needs {need}")]
    Short {
        /// The type, as C.
        ty: String,
        /// Bytes the type needs.
        need: u64,
        /// Bytes given.
        got: usize,
    },
    /// Text that is not a value of the type.
    #[error("`{text}` is not a valid {ty}: {why}")]
    Parse {
        /// The type, as C.
        ty: String,
        /// The text.
        text: String,
        /// Why.
        why: String,
    },
    /// A type whose values cannot be written as text (structs, functions).
    #[error("values of type {ty} cannot be given as text")]
    Unsupported {
        /// The type, as C.
        ty: String,
    },
}

/// Decodes `bytes` as a value of BTF type `type_id` (in the BTF's byte order). Extra bytes
/// past the type's size are ignored.
pub fn decode_value(btf: &Btf, type_id: u32, bytes: &[u8]) -> Result<Value, ValueError> {
    let d = Decoder {
        btf,
        endian: btf.endian(),
    };
    d.value(type_id, bytes, 0)
}

/// Decodes and renders a value on one line: `{pid: 42, comm: "bash", kind: EVENT_EXEC}`.
pub fn format_value(btf: &Btf, type_id: u32, bytes: &[u8]) -> Result<String, ValueError> {
    Ok(decode_value(btf, type_id, bytes)?.to_string())
}

struct Decoder<'a> {
    btf: &'a Btf,
    endian: Endian,
}

impl Decoder<'_> {
    fn short(&self, id: u32, need: u64, got: usize) -> ValueError {
        ValueError::Short {
            ty: self
                .btf
                .type_name(id)
                .unwrap_or_else(|_| format!("type [{id}]")),
            need,
            got,
        }
    }

    fn value(&self, id: u32, bytes: &[u8], depth: u32) -> Result<Value, ValueError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::TypeLoop {
                id,
                limit: MAX_RESOLVE_DEPTH,
            }
            .into());
        }
        let t = self.btf.skip_mods(id)?;
        let sized = |n: u64| -> Result<&[u8], ValueError> {
            bytes
                .get(..usize::try_from(n).unwrap_or(usize::MAX))
                .ok_or_else(|| self.short(id, n, bytes.len()))
        };
        Ok(match t.kind() {
            BtfKind::Typedef | BtfKind::Var | BtfKind::DeclTag => {
                self.value(t.size_or_type(), bytes, depth + 1)?
            }
            BtfKind::Int => {
                let info = t.int().ok_or(BtfError::UnexpectedKind {
                    id,
                    expected: "INT",
                    kind: t.kind(),
                })?;
                let b = sized(u64::from(t.size_or_type()))?;
                let raw = self.uint(b);
                let bits = u32::from(info.bits).min(128);
                let raw = if bits == 0 || bits >= 128 {
                    raw >> info.offset.min(127)
                } else {
                    (raw >> info.offset.min(127)) & ((1u128 << bits) - 1)
                };
                int_value(raw, bits, info.signed, info.bool, info.char)
            }
            BtfKind::Ptr => Value::Ptr(self.uint(sized(u64::from(PTR_SIZE))?) as u64),
            BtfKind::Enum | BtfKind::Enum64 => {
                let size = t.size_or_type();
                let raw = self.uint(sized(u64::from(size))?);
                let signed = t.kflag();
                let value = sign_extend(raw, size.saturating_mul(8).min(128), signed);
                self.enum_value(t, value)
            }
            BtfKind::Float => {
                let b = sized(u64::from(t.size_or_type()))?;
                let raw = self.uint(b);
                match b.len() {
                    4 => Value::Float(f64::from(f32::from_bits(raw as u32))),
                    8 => Value::Float(f64::from_bits(raw as u64)),
                    _ => Value::Bytes(b.to_vec()),
                }
            }
            BtfKind::Array => self.array(id, t, bytes, depth)?,
            BtfKind::Struct | BtfKind::Union => {
                sized(u64::from(t.size_or_type()))?;
                let mut fields = Vec::new();
                self.members(t, bytes, depth, &mut fields)?;
                Value::Struct(fields)
            }
            BtfKind::Datasec => {
                let mut fields = Vec::new();
                for v in t.datasec_vars().into_iter().flatten() {
                    let var = self.btf.type_by_id(v.type_id)?;
                    let start = v.offset as usize;
                    let field = bytes
                        .get(start..start.saturating_add(v.size as usize))
                        .ok_or_else(|| {
                            self.short(id, u64::from(v.offset) + u64::from(v.size), bytes.len())
                        })?;
                    let name = var.name()?.to_string();
                    fields.push((name, self.value(v.type_id, field, depth + 1)?));
                }
                Value::Struct(fields)
            }
            BtfKind::Void | BtfKind::Fwd | BtfKind::Func | BtfKind::FuncProto => {
                Value::Bytes(bytes.to_vec())
            }
            k if k.is_modifier() => self.value(t.size_or_type(), bytes, depth + 1)?,
            _ => Value::Bytes(bytes.to_vec()),
        })
    }

    fn enum_value(&self, t: Type<'_>, value: i128) -> Value {
        let name = t.enum_values().into_iter().flatten().find_map(|e| {
            let v = if e.signed {
                i128::from(e.value as i64)
            } else {
                i128::from(e.value)
            };
            if v == value {
                e.name().ok().map(str::to_string)
            } else {
                None
            }
        });
        Value::Enum { name, value }
    }

    fn array(&self, id: u32, t: Type<'_>, bytes: &[u8], depth: u32) -> Result<Value, ValueError> {
        let a = t.array().ok_or(BtfError::UnexpectedKind {
            id,
            expected: "ARRAY",
            kind: t.kind(),
        })?;
        let elem_size = self.btf.type_size(a.elem_type)?;
        let total = u64::from(elem_size) * u64::from(a.nelems);
        if (bytes.len() as u64) < total {
            return Err(self.short(id, total, bytes.len()));
        }
        if is_char(self.btf.skip_mods(a.elem_type)?) && elem_size == 1 {
            let b = &bytes[..a.nelems as usize];
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            return Ok(Value::Str(String::from_utf8_lossy(&b[..end]).into_owned()));
        }
        if elem_size == 0 {
            return Ok(Value::Array(Vec::new()));
        }
        let mut out = Vec::with_capacity(a.nelems as usize);
        for chunk in bytes[..total as usize].chunks_exact(elem_size as usize) {
            out.push(self.value(a.elem_type, chunk, depth + 1)?);
        }
        Ok(Value::Array(out))
    }

    fn members(
        &self,
        t: Type<'_>,
        bytes: &[u8],
        depth: u32,
        out: &mut Vec<(String, Value)>,
    ) -> Result<(), ValueError> {
        for m in t.members().into_iter().flatten() {
            let name = m.name()?;
            let mt = self.btf.skip_mods_and_typedefs(m.type_id)?;
            let byte_off = (m.bit_offset / 8) as usize;
            let rest = bytes.get(byte_off..).unwrap_or_default();
            let bitfield = m.bitfield_size != 0 || m.bit_offset % 8 != 0;
            let value = if bitfield && (mt.kind() == BtfKind::Int || mt.kind().is_any_enum()) {
                self.bitfield(m.type_id, mt, bytes, m.bit_offset, m.bitfield_size)?
            } else if name.is_empty() && mt.kind().is_composite() {
                // An anonymous struct/union: its members belong to the parent.
                if depth > MAX_RESOLVE_DEPTH {
                    return Err(BtfError::TypeLoop {
                        id: mt.id(),
                        limit: MAX_RESOLVE_DEPTH,
                    }
                    .into());
                }
                let size = mt.size_or_type() as usize;
                let inner = rest
                    .get(..size)
                    .ok_or_else(|| self.short(mt.id(), size as u64, rest.len()))?;
                self.members(mt, inner, depth + 1, out)?;
                continue;
            } else {
                self.value(m.type_id, rest, depth + 1)?
            };
            out.push((name.to_string(), value));
        }
        Ok(())
    }

    fn bitfield(
        &self,
        id: u32,
        t: Type<'_>,
        bytes: &[u8],
        bit_offset: u32,
        bits: u32,
    ) -> Result<Value, ValueError> {
        let (signed, is_bool, width) = match t.int() {
            Some(i) => (
                i.signed,
                i.bool,
                if bits == 0 { u32::from(i.bits) } else { bits },
            ),
            None => (t.kflag(), false, bits),
        };
        let width = width.clamp(1, 64);
        let first = (bit_offset / 8) as usize;
        let last = ((u64::from(bit_offset) + u64::from(width)).div_ceil(8)) as usize;
        let b = bytes
            .get(first..last)
            .ok_or_else(|| self.short(id, last as u64, bytes.len()))?;
        let shift = bit_offset % 8;
        let raw = match self.endian {
            Endian::Little => self.uint(b) >> shift,
            // Big-endian bitfields count from the most significant bit.
            Endian::Big => {
                let total = (b.len() * 8) as u32;
                self.uint(b) >> (total - shift - width)
            }
        } & ((1u128 << width) - 1);
        if t.kind().is_any_enum() {
            return Ok(self.enum_value(t, sign_extend(raw, width, signed)));
        }
        Ok(int_value(raw, width, signed, is_bool, false))
    }

    /// Up to 16 bytes as an unsigned integer in the BTF's byte order.
    fn uint(&self, b: &[u8]) -> u128 {
        let b = &b[..b.len().min(16)];
        let mut v: u128 = 0;
        match self.endian {
            Endian::Little => {
                for &x in b.iter().rev() {
                    v = (v << 8) | u128::from(x);
                }
            }
            Endian::Big => {
                for &x in b {
                    v = (v << 8) | u128::from(x);
                }
            }
        }
        v
    }
}

/// Whether an element type is a character: an INT named `char` (signed or not) or with the
/// CHAR encoding. Typedefs are not looked through, so `__u8 mac[6]` stays numbers.
pub(crate) fn is_char(t: Type<'_>) -> bool {
    t.kind() == BtfKind::Int
        && t.size_or_type() == 1
        && (t.int().is_some_and(|i| i.char)
            || matches!(t.name(), Ok("char" | "signed char" | "unsigned char")))
}

fn sign_extend(raw: u128, bits: u32, signed: bool) -> i128 {
    if signed && bits > 0 && bits < 128 && raw >> (bits - 1) & 1 == 1 {
        (raw | (u128::MAX << bits)) as i128
    } else {
        raw as i128
    }
}

fn int_value(raw: u128, bits: u32, signed: bool, is_bool: bool, is_char: bool) -> Value {
    if is_bool {
        Value::Bool(raw != 0)
    } else if is_char && bits <= 8 {
        Value::Char(raw as u8)
    } else if signed {
        Value::Int(sign_extend(raw, bits, true))
    } else {
        Value::Uint(raw)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Uint(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(c) => write!(f, "{:?}", char::from(*c)),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Enum {
                name: Some(n),
                value: _,
            } => f.write_str(n),
            Value::Enum { name: None, value } => write!(f, "{value}"),
            Value::Ptr(p) => write!(f, "{p:#x}"),
            Value::Array(items) => {
                // Runs of equal elements are common (zeroed buffers): `[0; 64]`.
                if items.len() > 4 && items.iter().all(|v| *v == items[0]) {
                    return write!(f, "[{}; {}]", items[0], items.len());
                }
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{")?;
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Bytes(b) => {
                f.write_str("<")?;
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x:02x}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// Parses `text` as a value of BTF type `type_id` and returns its bytes (the type's size, in
/// the BTF's byte order): integers (decimal, `0x` hex, `0o`, `0b`, negative for signed types;
/// range-checked), `_Bool` (`true`/`false`/`1`/`0`), `char` (one character or a number),
/// enums (an enumerator name or a number), pointers (a number), floats, `char` arrays (a
/// string shorter than the array; the rest is zeroed) and other arrays (comma-separated
/// elements, missing ones zero).
pub fn parse_value(btf: &Btf, type_id: u32, text: &str) -> Result<Vec<u8>, ValueError> {
    super::value_parse::parse(btf, type_id, text)
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
