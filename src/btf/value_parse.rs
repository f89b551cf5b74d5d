//! Text to bytes through a BTF type ([`parse_value`](super::parse_value)): what
//! `oxbpf load --set VAR=VALUE` writes into a global variable.

use super::error::BtfError;
use super::header::Endian;
use super::kind::BtfKind;
use super::lookup::{MAX_RESOLVE_DEPTH, PTR_SIZE};
use super::table::Btf;
use super::types::Type;
use super::value::{is_char, ValueError};

pub(super) fn parse(btf: &Btf, type_id: u32, text: &str) -> Result<Vec<u8>, ValueError> {
    let p = Parser {
        btf,
        endian: btf.endian(),
    };
    let mut out = Vec::new();
    p.value(type_id, text, &mut out, 0)?;
    Ok(out)
}

struct Parser<'a> {
    btf: &'a Btf,
    endian: Endian,
}

impl Parser<'_> {
    fn err(&self, id: u32, text: &str, why: impl Into<String>) -> ValueError {
        ValueError::Parse {
            ty: self.name(id),
            text: text.to_string(),
            why: why.into(),
        }
    }

    fn name(&self, id: u32) -> String {
        self.btf
            .type_name(id)
            .unwrap_or_else(|_| format!("type [{id}]"))
    }

    fn value(&self, id: u32, text: &str, out: &mut Vec<u8>, depth: u32) -> Result<(), ValueError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::TypeLoop {
                id,
                limit: MAX_RESOLVE_DEPTH,
            }
            .into());
        }
        let t = self.btf.skip_mods_and_typedefs(id)?;
        let text = text.trim();
        match t.kind() {
            BtfKind::Var => self.value(t.size_or_type(), text, out, depth + 1),
            BtfKind::Int => {
                let info = t.int().ok_or(BtfError::UnexpectedKind {
                    id,
                    kind: t.kind(),
                    expected: "INT",
                })?;
                let size = t.size_or_type();
                let v: i128 = if info.bool {
                    match text {
                        "true" | "yes" | "on" | "1" => 1,
                        "false" | "no" | "off" | "0" => 0,
                        _ => return Err(self.err(id, text, "expected true or false")),
                    }
                } else if let Some(c) = single_char(text).filter(|_| is_char(t)) {
                    i128::from(c)
                } else {
                    let bits = if info.bits == 0 {
                        size.saturating_mul(8)
                    } else {
                        u32::from(info.bits)
                    };
                    self.int_in_range(id, text, bits, info.signed)?
                };
                self.push(out, v as u128, size);
                Ok(())
            }
            BtfKind::Enum | BtfKind::Enum64 => {
                let size = t.size_or_type();
                let signed = t.kflag();
                let named = t.enum_values().into_iter().flatten().find(|e| {
                    e.name()
                        .is_ok_and(|n| n == text || super::essential_name(n) == text)
                });
                let v = match named {
                    Some(e) if e.signed => i128::from(e.value as i64),
                    Some(e) => i128::from(e.value),
                    None => self
                        .int_in_range(id, text, size.saturating_mul(8), signed)
                        .map_err(|_| {
                            self.err(id, text, "not an enumerator of the enum, nor a number")
                        })?,
                };
                self.push(out, v as u128, size);
                Ok(())
            }
            BtfKind::Ptr => {
                let v = self.int_in_range(id, text, PTR_SIZE * 8, false)?;
                self.push(out, v as u128, PTR_SIZE);
                Ok(())
            }
            BtfKind::Float => {
                let v: f64 = text
                    .parse()
                    .map_err(|_| self.err(id, text, "expected a number"))?;
                match t.size_or_type() {
                    4 => self.push(out, u128::from((v as f32).to_bits()), 4),
                    8 => self.push(out, u128::from(v.to_bits()), 8),
                    _ => return Err(ValueError::Unsupported { ty: self.name(id) }),
                }
                Ok(())
            }
            BtfKind::Array => self.array(id, t, text, out, depth),
            _ => Err(ValueError::Unsupported { ty: self.name(id) }),
        }
    }

    fn array(
        &self,
        id: u32,
        t: Type<'_>,
        text: &str,
        out: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), ValueError> {
        let a = t.array().ok_or(BtfError::UnexpectedKind {
            id,
            kind: t.kind(),
            expected: "ARRAY",
        })?;
        let n = a.nelems as usize;
        let elem = self.btf.skip_mods(a.elem_type)?;
        if is_char(elem) {
            let s = text.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
            let s = s.unwrap_or(text).as_bytes();
            if s.len() >= n {
                return Err(self.err(
                    id,
                    text,
                    format!(
                        "{} bytes do not fit: the array holds {} characters and the NUL",
                        s.len(),
                        n.saturating_sub(1)
                    ),
                ));
            }
            out.extend_from_slice(s);
            out.resize(out.len() + (n - s.len()), 0);
            return Ok(());
        }
        let elem_size = self.btf.type_size(a.elem_type)? as usize;
        let text = text
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(text);
        let items: Vec<&str> = if text.trim().is_empty() {
            Vec::new()
        } else {
            text.split(',').collect()
        };
        if items.len() > n {
            return Err(self.err(
                id,
                text,
                format!("{} elements given, the array has {n}", items.len()),
            ));
        }
        let start = out.len();
        for item in &items {
            self.value(a.elem_type, item, out, depth + 1)?;
        }
        out.resize(start + n * elem_size, 0);
        Ok(())
    }

    /// A number that fits `bits` bits, signed or not.
    fn int_in_range(
        &self,
        id: u32,
        text: &str,
        bits: u32,
        signed: bool,
    ) -> Result<i128, ValueError> {
        let v = parse_int(text).ok_or_else(|| self.err(id, text, "expected an integer"))?;
        let bits = bits.clamp(1, 127);
        let (lo, hi) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        if v < lo || v > hi {
            return Err(self.err(id, text, format!("out of range {lo}..={hi}")));
        }
        Ok(v)
    }

    fn push(&self, out: &mut Vec<u8>, v: u128, size: u32) {
        let size = size.min(16) as usize;
        let bytes = match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        match self.endian {
            Endian::Little => out.extend_from_slice(&bytes[..size]),
            Endian::Big => out.extend_from_slice(&bytes[16 - size..]),
        }
    }
}

/// `'x'` or `x`: one character given as itself (not a digit, so `7` stays a number).
fn single_char(text: &str) -> Option<u8> {
    let inner = text
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(text);
    match inner.as_bytes() {
        [c] if inner.len() < text.len() || !c.is_ascii_digit() => Some(*c),
        _ => None,
    }
}

/// Decimal, `0x`, `0o` or `0b`, with an optional sign and `_` separators.
fn parse_int(text: &str) -> Option<i128> {
    let t = text.replace('_', "");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() {
        return None;
    }
    let v = u128::from_str_radix(digits, radix).ok()?;
    let v = i128::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}
