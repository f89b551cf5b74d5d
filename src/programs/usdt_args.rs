//! USDT argument specs (`-4@%eax 8@-8(%rbp) 4@$5 -1@-96(%rbp,%rax,8)` on x86-64,
//! `-4@[sp, 96] 8@x1 4@5` on arm64) decoded into libbpf's `struct __bpf_usdt_spec`
//! encoding, which `usdt.bpf.h`'s `bpf_usdt_arg()` reads from the `__bpf_usdt_specs` map.
//!
//! The encoding's layout changed with libbpf 1.7 (scale-index-base arguments). The layout
//! to write is taken from the spec map's BTF (the object's own `struct __bpf_usdt_spec`), or
//! inferred from the map's value size: [`UsdtSpecLayout::LEGACY`] (libbpf ≤ 1.6, 208 bytes)
//! or [`UsdtSpecLayout::SIB`] (1.7, 304 bytes).

use crate::btf::{Btf, BtfKind};

/// `BPF_USDT_MAX_ARG_CNT`.
pub const USDT_MAX_ARGS: usize = 12;

/// Where an argument's value is (`enum __bpf_usdt_arg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdtArgLocation {
    /// A constant (`4@$5`).
    Const(i64),
    /// A register (`-4@%eax`): its offset in `struct pt_regs`.
    Reg {
        /// Offset of the register in `struct pt_regs`.
        reg_off: u16,
    },
    /// Memory at register + offset (`8@-8(%rbp)`).
    RegDeref {
        /// Offset of the base register in `struct pt_regs`.
        reg_off: u16,
        /// Displacement.
        offset: i64,
    },
    /// Memory at base + index × scale + offset (`-1@-96(%rbp,%rax,8)`, libbpf 1.7).
    Sib {
        /// Offset of the base register in `struct pt_regs`.
        reg_off: u16,
        /// Offset of the index register in `struct pt_regs`.
        idx_reg_off: u16,
        /// log2 of the scale (0..=3).
        scale_shift: u8,
        /// Displacement.
        offset: i64,
    },
}

/// One decoded argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    /// Size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Whether it is sign-extended.
    pub signed: bool,
    /// Where it is.
    pub location: UsdtArgLocation,
}

impl UsdtArg {
    /// `arg_bitshift`: the bits to clear (and sign-extend) to widen the value to 64 bits.
    pub fn bitshift(&self) -> u8 {
        64 - self.size * 8
    }
}

/// An argument spec string that cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("USDT argument #{index} `{arg}`: {why}")]
pub struct UsdtArgError {
    /// Which argument (0-based).
    pub index: usize,
    /// Its text.
    pub arg: String,
    /// Why.
    pub why: String,
}

/// The instruction set whose register names a spec uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdtArch {
    /// x86-64 (`struct pt_regs`).
    X86_64,
    /// arm64 (`struct user_pt_regs`).
    Aarch64,
}

impl UsdtArch {
    /// This machine's, if supported.
    pub fn host() -> Option<UsdtArch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(UsdtArch::X86_64),
            "aarch64" => Some(UsdtArch::Aarch64),
            _ => None,
        }
    }
}

/// Offsets in x86-64 `struct pt_regs`, by every name of each register.
fn x86_reg_off(name: &str) -> Option<u16> {
    const REGS: &[(&[&str], u16)] = &[
        (&["rip", "eip"], 128),
        (&["rax", "eax", "ax", "al"], 80),
        (&["rbx", "ebx", "bx", "bl"], 40),
        (&["rcx", "ecx", "cx", "cl"], 88),
        (&["rdx", "edx", "dx", "dl"], 96),
        (&["rsi", "esi", "si", "sil"], 104),
        (&["rdi", "edi", "di", "dil"], 112),
        (&["rbp", "ebp", "bp", "bpl"], 32),
        (&["rsp", "esp", "sp", "spl"], 152),
        (&["r8", "r8d", "r8w", "r8b"], 72),
        (&["r9", "r9d", "r9w", "r9b"], 64),
        (&["r10", "r10d", "r10w", "r10b"], 56),
        (&["r11", "r11d", "r11w", "r11b"], 48),
        (&["r12", "r12d", "r12w", "r12b"], 24),
        (&["r13", "r13d", "r13w", "r13b"], 16),
        (&["r14", "r14d", "r14w", "r14b"], 8),
        (&["r15", "r15d", "r15w", "r15b"], 0),
    ];
    REGS.iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, off)| *off)
}

/// Offsets in arm64 `struct user_pt_regs` (`regs[31]`, `sp`, `pc`).
fn arm64_reg_off(name: &str) -> Option<u16> {
    if name == "sp" {
        return Some(248);
    }
    let n: u16 = name.strip_prefix('x')?.parse().ok()?;
    (n < 31).then_some(n * 8)
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None => digits.parse::<u64>().ok()? as i64,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Splits a spec string into arguments at whitespace outside parentheses and brackets.
fn split_args(spec: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = None;
    for (i, c) in spec.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth <= 0 {
            if let Some(s) = start.take() {
                out.push(&spec[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&spec[s..]);
    }
    out
}

/// Decodes every argument of `spec` for `arch`.
pub fn parse_usdt_args(spec: &str, arch: UsdtArch) -> Result<Vec<UsdtArg>, UsdtArgError> {
    let args = split_args(spec);
    if args.len() > USDT_MAX_ARGS {
        return Err(UsdtArgError {
            index: USDT_MAX_ARGS,
            arg: spec.to_string(),
            why: format!("more than {USDT_MAX_ARGS} arguments"),
        });
    }
    args.iter()
        .enumerate()
        .map(|(index, arg)| {
            parse_arg(arg, arch).map_err(|why| UsdtArgError {
                index,
                arg: arg.to_string(),
                why,
            })
        })
        .collect()
}

fn parse_arg(arg: &str, arch: UsdtArch) -> Result<UsdtArg, String> {
    let (size, loc) = arg
        .split_once('@')
        .ok_or_else(|| "no `@` between size and location".to_string())?;
    let size = parse_int(size).ok_or_else(|| format!("bad size `{size}`"))?;
    let signed = size < 0;
    let size = match size.unsigned_abs() {
        n @ (1 | 2 | 4 | 8) => n as u8,
        n => return Err(format!("unsupported size {n} (1, 2, 4 or 8)")),
    };
    let location = match arch {
        UsdtArch::X86_64 => parse_x86_location(loc.trim())?,
        UsdtArch::Aarch64 => parse_arm64_location(loc.trim())?,
    };
    Ok(UsdtArg {
        size,
        signed,
        location,
    })
}

fn x86_reg(s: &str) -> Result<u16, String> {
    let name = s
        .trim()
        .strip_prefix('%')
        .ok_or_else(|| format!("`{s}` is not a %register"))?;
    x86_reg_off(name).ok_or_else(|| format!("unknown register `%{name}`"))
}

fn parse_x86_location(loc: &str) -> Result<UsdtArgLocation, String> {
    if let Some(imm) = loc.strip_prefix('$') {
        return parse_int(imm)
            .map(UsdtArgLocation::Const)
            .ok_or_else(|| format!("bad constant `{imm}`"));
    }
    if loc.starts_with('%') {
        return Ok(UsdtArgLocation::Reg {
            reg_off: x86_reg(loc)?,
        });
    }
    let open = loc
        .find('(')
        .ok_or_else(|| format!("unrecognized location `{loc}`"))?;
    let inner = loc[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("unbalanced parentheses in `{loc}`"))?;
    let disp = loc[..open].trim();
    let offset = if disp.is_empty() {
        0
    } else {
        parse_int(disp).ok_or_else(|| {
            format!("displacement `{disp}` is not a number (symbolic addresses are unsupported)")
        })?
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [base] => Ok(UsdtArgLocation::RegDeref {
            reg_off: x86_reg(base)?,
            offset,
        }),
        [base, index] | [base, index, _] => {
            let scale = match parts.get(2) {
                Some(s) => parse_int(s).ok_or_else(|| format!("bad scale `{s}`"))?,
                None => 1,
            };
            let scale_shift = match scale {
                1 => 0,
                2 => 1,
                4 => 2,
                8 => 3,
                other => return Err(format!("scale {other} is not 1, 2, 4 or 8")),
            };
            Ok(UsdtArgLocation::Sib {
                reg_off: x86_reg(base)?,
                idx_reg_off: x86_reg(index)?,
                scale_shift,
                offset,
            })
        }
        _ => Err(format!("unrecognized memory operand `{loc}`")),
    }
}

fn arm64_reg(s: &str) -> Result<u16, String> {
    arm64_reg_off(s.trim()).ok_or_else(|| format!("unknown register `{s}`"))
}

fn parse_arm64_location(loc: &str) -> Result<UsdtArgLocation, String> {
    if let Some(inner) = loc.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("unbalanced brackets in `{loc}`"))?;
        return match inner.split_once(',') {
            Some((reg, off)) => Ok(UsdtArgLocation::RegDeref {
                reg_off: arm64_reg(reg)?,
                offset: parse_int(off.trim().trim_start_matches('#'))
                    .ok_or_else(|| format!("bad offset `{off}`"))?,
            }),
            None => Ok(UsdtArgLocation::RegDeref {
                reg_off: arm64_reg(inner)?,
                offset: 0,
            }),
        };
    }
    if let Some(v) = parse_int(loc) {
        return Ok(UsdtArgLocation::Const(v));
    }
    Ok(UsdtArgLocation::Reg {
        reg_off: arm64_reg(loc)?,
    })
}

/// A field's place: bit offset and width (byte-aligned fields have width 8/16/32/64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitField {
    /// Offset in bits.
    pub bit_offset: u32,
    /// Width in bits.
    pub bits: u32,
}

const fn bf(bit_offset: u32, bits: u32) -> BitField {
    BitField { bit_offset, bits }
}

/// How the scale of an SIB argument is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleField {
    /// `scale_bitshift`: log2 of the scale.
    Shift(BitField),
    /// `scale`: the factor itself.
    Factor(BitField),
}

/// The layout of `struct __bpf_usdt_spec` that a program reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdtSpecLayout {
    /// Size of the whole spec (the map's value size).
    pub spec_size: usize,
    /// Entries of `args[]`.
    pub max_args: usize,
    /// Size of one `struct __bpf_usdt_arg_spec`.
    pub arg_size: usize,
    /// `val_off` within an arg spec.
    pub val_off: BitField,
    /// `arg_type`.
    pub arg_type: BitField,
    /// `reg_off`.
    pub reg_off: BitField,
    /// `arg_signed`.
    pub arg_signed: BitField,
    /// `arg_bitshift`.
    pub arg_bitshift: BitField,
    /// `idx_reg_off` (SIB layouts).
    pub idx_reg_off: Option<BitField>,
    /// The scale (SIB layouts).
    pub scale: Option<ScaleField>,
    /// `usdt_cookie` within the spec.
    pub usdt_cookie: BitField,
    /// `arg_cnt` within the spec.
    pub arg_cnt: BitField,
}

impl UsdtSpecLayout {
    /// libbpf up to 1.6: 16-byte arg specs (`arg_type` a 4-byte enum), 208-byte spec.
    pub const LEGACY: UsdtSpecLayout = UsdtSpecLayout {
        spec_size: 208,
        max_args: 12,
        arg_size: 16,
        val_off: bf(0, 64),
        arg_type: bf(64, 32),
        reg_off: bf(96, 16),
        arg_signed: bf(112, 8),
        arg_bitshift: bf(120, 8),
        idx_reg_off: None,
        scale: None,
        usdt_cookie: bf(12 * 16 * 8, 64),
        arg_cnt: bf(12 * 16 * 8 + 64, 16),
    };

    /// libbpf 1.7 (little-endian): `arg_type:8`, `idx_reg_off:12` and `scale_bitshift:4`
    /// in the next 16-bit unit, a reserved byte, then `reg_off` at byte 14; 24-byte arg
    /// specs, 304-byte spec.
    pub const SIB: UsdtSpecLayout = UsdtSpecLayout {
        spec_size: 304,
        max_args: 12,
        arg_size: 24,
        val_off: bf(0, 64),
        arg_type: bf(64, 8),
        reg_off: bf(112, 16),
        arg_signed: bf(128, 8),
        arg_bitshift: bf(136, 8),
        idx_reg_off: Some(bf(80, 12)),
        scale: Some(ScaleField::Shift(bf(92, 4))),
        usdt_cookie: bf(12 * 24 * 8, 64),
        arg_cnt: bf(12 * 24 * 8 + 64, 16),
    };

    /// The layout of a spec map with this value size, when it has no BTF to tell.
    pub fn for_value_size(size: u32) -> Option<UsdtSpecLayout> {
        [UsdtSpecLayout::LEGACY, UsdtSpecLayout::SIB]
            .into_iter()
            .find(|l| l.spec_size == size as usize)
    }

    /// Reads the layout from the BTF type `value_type_id` (the spec map's value, `struct
    /// __bpf_usdt_spec`) of `btf`.
    pub fn from_btf(btf: &Btf, value_type_id: u32) -> Result<UsdtSpecLayout, String> {
        let spec = btf
            .skip_mods_and_typedefs(value_type_id)
            .map_err(|e| e.to_string())?;
        if spec.kind() != BtfKind::Struct {
            return Err(format!(
                "spec map value is a {:?}, not a struct",
                spec.kind()
            ));
        }
        let spec_size = spec.size().unwrap_or(0) as usize;
        let members = |t: crate::btf::Type<'_>| -> Vec<(String, BitField, u32)> {
            t.members()
                .into_iter()
                .flatten()
                .map(|m| {
                    let bits = if m.bitfield_size != 0 {
                        m.bitfield_size
                    } else {
                        btf.type_size(m.type_id).unwrap_or(0) * 8
                    };
                    (
                        m.name().unwrap_or("").to_string(),
                        bf(m.bit_offset, bits),
                        m.type_id,
                    )
                })
                .collect()
        };
        let top = members(spec);
        let find = |list: &[(String, BitField, u32)], name: &str| {
            list.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, f, t)| (*f, *t))
                .ok_or_else(|| format!("no member `{name}` in the USDT spec type"))
        };
        let (args_field, args_type) = find(&top, "args")?;
        if args_field.bit_offset != 0 {
            return Err("`args` is not the first member".into());
        }
        let arr = btf
            .skip_mods_and_typedefs(args_type)
            .map_err(|e| e.to_string())?;
        let info = arr.array().ok_or("`args` is not an array")?;
        let arg_ty = btf
            .skip_mods_and_typedefs(info.elem_type)
            .map_err(|e| e.to_string())?;
        let arg_size = arg_ty.size().unwrap_or(0) as usize;
        let arg = members(arg_ty);
        let scale = match (find(&arg, "scale_bitshift"), find(&arg, "scale")) {
            (Ok((f, _)), _) => Some(ScaleField::Shift(f)),
            (_, Ok((f, _))) => Some(ScaleField::Factor(f)),
            _ => None,
        };
        let layout = UsdtSpecLayout {
            spec_size,
            max_args: info.nelems as usize,
            arg_size,
            val_off: find(&arg, "val_off")?.0,
            arg_type: find(&arg, "arg_type")?.0,
            reg_off: find(&arg, "reg_off")?.0,
            arg_signed: find(&arg, "arg_signed")?.0,
            arg_bitshift: find(&arg, "arg_bitshift")?.0,
            idx_reg_off: find(&arg, "idx_reg_off").ok().map(|f| f.0),
            scale,
            usdt_cookie: find(&top, "usdt_cookie")?.0,
            arg_cnt: find(&top, "arg_cnt")?.0,
        };
        layout.check()?;
        Ok(layout)
    }

    /// Every field inside the buffer it is written to.
    fn check(&self) -> Result<(), String> {
        let arg_bits = self.arg_size as u32 * 8;
        let in_arg = [
            self.val_off,
            self.arg_type,
            self.reg_off,
            self.arg_signed,
            self.arg_bitshift,
        ];
        let extra = [
            self.idx_reg_off,
            self.scale.map(|s| match s {
                ScaleField::Shift(f) | ScaleField::Factor(f) => f,
            }),
        ];
        let arg_ok = in_arg
            .iter()
            .chain(extra.iter().flatten())
            .all(|f| f.bits > 0 && f.bits <= 64 && f.bit_offset + f.bits <= arg_bits);
        let spec_bits = self.spec_size as u32 * 8;
        let top_ok = [self.usdt_cookie, self.arg_cnt]
            .iter()
            .all(|f| f.bits > 0 && f.bits <= 64 && f.bit_offset + f.bits <= spec_bits);
        let args_fit = self
            .max_args
            .checked_mul(self.arg_size)
            .is_some_and(|n| n <= self.spec_size);
        if arg_ok && top_ok && args_fit && self.max_args > 0 {
            Ok(())
        } else {
            Err("USDT spec type has fields outside its size".into())
        }
    }

    /// Encodes `args` (with `cookie`) into a spec map value of this layout.
    pub fn encode(&self, args: &[UsdtArg], cookie: u64) -> Result<Vec<u8>, String> {
        if args.len() > self.max_args {
            return Err(format!(
                "{} arguments, the spec holds {}",
                args.len(),
                self.max_args
            ));
        }
        let mut buf = vec![0u8; self.spec_size];
        for (i, arg) in args.iter().enumerate() {
            let base = (i * self.arg_size * 8) as u32;
            let at = |f: BitField| bf(base + f.bit_offset, f.bits);
            let (kind, val, reg) = match arg.location {
                UsdtArgLocation::Const(v) => (0u64, v as u64, 0u16),
                UsdtArgLocation::Reg { reg_off } => (1, 0, reg_off),
                UsdtArgLocation::RegDeref { reg_off, offset } => (2, offset as u64, reg_off),
                UsdtArgLocation::Sib {
                    reg_off,
                    idx_reg_off,
                    scale_shift,
                    offset,
                } => {
                    let (Some(idx), Some(scale)) = (self.idx_reg_off, self.scale) else {
                        return Err(format!(
                            "argument #{i} uses base+index addressing, which needs the \
                             libbpf 1.7 USDT spec layout (the program's is older)"
                        ));
                    };
                    put_bits(&mut buf, at(idx), u64::from(idx_reg_off))?;
                    match scale {
                        ScaleField::Shift(f) => put_bits(&mut buf, at(f), u64::from(scale_shift))?,
                        ScaleField::Factor(f) => put_bits(&mut buf, at(f), 1u64 << scale_shift)?,
                    }
                    (3, offset as u64, reg_off)
                }
            };
            put_bits(&mut buf, at(self.val_off), val)?;
            put_bits(&mut buf, at(self.arg_type), kind)?;
            put_bits(&mut buf, at(self.reg_off), u64::from(reg))?;
            put_bits(&mut buf, at(self.arg_signed), u64::from(arg.signed))?;
            put_bits(&mut buf, at(self.arg_bitshift), u64::from(arg.bitshift()))?;
        }
        put_bits(&mut buf, self.usdt_cookie, cookie)?;
        put_bits(&mut buf, self.arg_cnt, args.len() as u64)?;
        Ok(buf)
    }
}

/// Writes the low `f.bits` of `v` at `f`: whole bytes in native order, bitfields in
/// little-endian bit order (the only order supported).
fn put_bits(buf: &mut [u8], f: BitField, v: u64) -> Result<(), String> {
    let out_of_range = || format!("field at bit {} overflows the spec", f.bit_offset);
    if f.bit_offset % 8 == 0 && matches!(f.bits, 8 | 16 | 32 | 64) {
        let start = (f.bit_offset / 8) as usize;
        let n = (f.bits / 8) as usize;
        let dst = buf.get_mut(start..start + n).ok_or_else(out_of_range)?;
        let bytes = v.to_ne_bytes();
        if cfg!(target_endian = "little") {
            dst.copy_from_slice(&bytes[..n]);
        } else {
            dst.copy_from_slice(&bytes[8 - n..]);
        }
        return Ok(());
    }
    if cfg!(target_endian = "big") {
        return Err("bitfields of the USDT spec are only encoded on little-endian hosts".into());
    }
    for i in 0..f.bits {
        let bit = f.bit_offset + i;
        let byte = buf.get_mut((bit / 8) as usize).ok_or_else(out_of_range)?;
        let mask = 1u8 << (bit % 8);
        if (v >> i) & 1 != 0 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86(spec: &str) -> Vec<UsdtArg> {
        parse_usdt_args(spec, UsdtArch::X86_64).unwrap()
    }

    #[test]
    fn x86_specs_decode_like_libbpf() {
        let args = x86("-4@%eax 8@-8(%rbp) 4@$5 2@%ax 8@(%rsp) -1@-96(%rbp,%rax,8) 8@%r12");
        assert_eq!(args.len(), 7);
        assert_eq!(
            args[0],
            UsdtArg {
                size: 4,
                signed: true,
                location: UsdtArgLocation::Reg { reg_off: 80 }
            }
        );
        assert_eq!(args[0].bitshift(), 32);
        assert_eq!(
            args[1].location,
            UsdtArgLocation::RegDeref {
                reg_off: 32,
                offset: -8
            }
        );
        assert!(!args[1].signed);
        assert_eq!(args[2].location, UsdtArgLocation::Const(5));
        assert_eq!(args[3].location, UsdtArgLocation::Reg { reg_off: 80 });
        assert_eq!(args[3].bitshift(), 48);
        assert_eq!(
            args[4].location,
            UsdtArgLocation::RegDeref {
                reg_off: 152,
                offset: 0
            }
        );
        assert_eq!(
            args[5].location,
            UsdtArgLocation::Sib {
                reg_off: 32,
                idx_reg_off: 80,
                scale_shift: 3,
                offset: -96
            }
        );
        assert_eq!(args[6].location, UsdtArgLocation::Reg { reg_off: 24 });
        // Spaces inside the operand, as libbpf's scanner tolerates.
        assert_eq!(
            x86("1@(%rbp, %rax)")[0].location,
            UsdtArgLocation::Sib {
                reg_off: 32,
                idx_reg_off: 80,
                scale_shift: 0,
                offset: 0
            }
        );
        assert!(x86("").is_empty());
    }

    #[test]
    fn bad_specs_are_errors_naming_the_argument() {
        for (spec, index) in [
            ("3@%eax", 0),
            ("4@%eax 4@%xyz", 1),
            ("4@counter(%rip)", 0),
            ("4@-8(%rbp", 0),
            ("4@(%rbp,%rax,3)", 0),
            ("eax", 0),
            ("4@$x", 0),
        ] {
            let e = parse_usdt_args(spec, UsdtArch::X86_64).unwrap_err();
            assert_eq!(e.index, index, "{spec}: {e}");
        }
        let many = vec!["1@%al"; 13].join(" ");
        assert!(parse_usdt_args(&many, UsdtArch::X86_64).is_err());
    }

    #[test]
    fn arm64_specs_decode() {
        let args = parse_usdt_args("-4@[sp, 96] 8@x1 4@5 -8@[x29]", UsdtArch::Aarch64).unwrap();
        assert_eq!(
            args[0].location,
            UsdtArgLocation::RegDeref {
                reg_off: 248,
                offset: 96
            }
        );
        assert_eq!(args[1].location, UsdtArgLocation::Reg { reg_off: 8 });
        assert_eq!(args[2].location, UsdtArgLocation::Const(5));
        assert_eq!(
            args[3].location,
            UsdtArgLocation::RegDeref {
                reg_off: 232,
                offset: 0
            }
        );
    }

    #[test]
    fn legacy_encoding_matches_the_c_struct() {
        let args = x86("-4@%eax 8@-8(%rbp)");
        let b = UsdtSpecLayout::LEGACY.encode(&args, 0xabcd).unwrap();
        assert_eq!(b.len(), 208);
        // args[0]: val_off 0, arg_type REG (1), reg_off 80, signed, bitshift 32.
        assert_eq!(&b[0..8], &0u64.to_ne_bytes());
        assert_eq!(&b[8..12], &1u32.to_ne_bytes());
        assert_eq!(&b[12..14], &80u16.to_ne_bytes());
        assert_eq!((b[14], b[15]), (1, 32));
        // args[1]: val_off -8, REG_DEREF (2), reg_off 32.
        assert_eq!(&b[16..24], &(-8i64).to_ne_bytes());
        assert_eq!(&b[24..28], &2u32.to_ne_bytes());
        assert_eq!(&b[28..30], &32u16.to_ne_bytes());
        assert_eq!((b[30], b[31]), (0, 0));
        assert_eq!(&b[192..200], &0xabcdu64.to_ne_bytes());
        assert_eq!(&b[200..202], &2u16.to_ne_bytes());
        // SIB arguments need the newer layout.
        let sib = x86("-1@-96(%rbp,%rax,8)");
        assert!(UsdtSpecLayout::LEGACY.encode(&sib, 0).is_err());
    }

    /// The spec layout read from the BTF of objects clang built with each layout.
    #[test]
    fn layouts_come_from_the_objects_btf() {
        use object::{Object, ObjectSection};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/usdt");
        for (file, want) in [
            ("usdt_spec.clang14.o", UsdtSpecLayout::LEGACY),
            ("usdt_spec.clang19.o", UsdtSpecLayout::LEGACY),
            ("usdt_spec.SIB.clang14.o", UsdtSpecLayout::SIB),
            ("usdt_spec.SIB.clang19.o", UsdtSpecLayout::SIB),
        ] {
            let data = std::fs::read(dir.join(file)).unwrap();
            let elf = object::File::parse(&*data).unwrap();
            let btf_bytes = elf
                .section_by_name(".BTF")
                .unwrap()
                .data()
                .unwrap()
                .to_vec();
            let btf = Btf::parse(btf_bytes).unwrap();
            let id = btf
                .id_by_name_kind("__bpf_usdt_spec", BtfKind::Struct)
                .unwrap();
            assert_eq!(UsdtSpecLayout::from_btf(&btf, id).unwrap(), want, "{file}");
            // Not a spec type: a clear refusal.
            let arg = btf
                .id_by_name_kind("__bpf_usdt_arg_spec", BtfKind::Struct)
                .unwrap();
            assert!(UsdtSpecLayout::from_btf(&btf, arg).is_err());
        }
    }

    #[test]
    fn sib_encoding_matches_the_1_7_bitfields() {
        let b = UsdtSpecLayout::SIB
            .encode(&x86("-1@-96(%rbp,%rax,8)"), 0)
            .unwrap();
        assert_eq!(b.len(), 304);
        assert_eq!(&b[0..8], &(-96i64).to_ne_bytes());
        assert_eq!(b[8], 3, "arg_type SIB");
        // idx_reg_off 80 (0x050) in bits 80..92, scale_bitshift 3 in bits 92..96.
        assert_eq!(u16::from_le_bytes([b[10], b[11]]), 0x3050);
        assert_eq!(&b[14..16], &32u16.to_ne_bytes());
        assert_eq!((b[16], b[17]), (1, 56));
        assert_eq!(&b[296..298], &1u16.to_ne_bytes());
        assert_eq!(
            UsdtSpecLayout::for_value_size(304),
            Some(UsdtSpecLayout::SIB)
        );
        assert_eq!(
            UsdtSpecLayout::for_value_size(208),
            Some(UsdtSpecLayout::LEGACY)
        );
        assert_eq!(UsdtSpecLayout::for_value_size(100), None);
    }
}
