//! `.BTF.ext`: func_info, line_info and CO-RE relocation records, grouped by ELF section.

use std::fmt;

use super::error::BtfError;
use super::header::{read_u32, read_u32_checked, Endian};
use super::table::Btf;

/// Fixed part of the `.BTF.ext` header (without the core_relo fields).
const EXT_HEADER_MIN: usize = 24;
/// Header length from which the core_relo fields are present.
const EXT_HEADER_CORE: usize = 32;

/// A parsed `.BTF.ext` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfExt {
    /// Byte order of the blob.
    pub endian: Endian,
    /// Record size of func_info in the blob (≥ 8; extra bytes are skipped).
    pub func_info_rec_size: u32,
    /// Record size of line_info in the blob (≥ 16).
    pub line_info_rec_size: u32,
    /// Record size of core_relo in the blob (≥ 16).
    pub core_relo_rec_size: u32,
    /// func_info per ELF section.
    pub func_info: Vec<ExtSection<FuncInfo>>,
    /// line_info per ELF section.
    pub line_info: Vec<ExtSection<LineInfo>>,
    /// CO-RE relocations per ELF section.
    pub core_relos: Vec<ExtSection<CoreRelo>>,
}

/// The records of one ELF section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSection<T> {
    /// Offset of the section name in `.BTF`'s strings.
    pub name_off: u32,
    /// The section name (`kprobe/do_sys_open`, `.text`).
    pub name: String,
    /// The records, in blob order.
    pub records: Vec<T>,
}

/// A func_info record: the BTF FUNC describing the function starting at `insn_off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the first instruction within the ELF section.
    pub insn_off: u32,
    /// FUNC type id.
    pub type_id: u32,
}

/// A line_info record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction within the ELF section.
    pub insn_off: u32,
    /// String offset of the source file name.
    pub file_name_off: u32,
    /// String offset of the source line's text.
    pub line_off: u32,
    /// Line number (upper 22 bits of `line_col`).
    pub line: u32,
    /// Column (lower 10 bits of `line_col`).
    pub column: u32,
}

impl LineInfo {
    /// The raw `line_col` word.
    pub fn line_col(&self) -> u32 {
        (self.line << 10) | (self.column & 0x3ff)
    }
    /// The source file name.
    pub fn file_name<'b>(&self, btf: &'b Btf) -> Result<&'b str, BtfError> {
        btf.string_at(self.file_name_off)
    }
    /// The text of the source line.
    pub fn line_text<'b>(&self, btf: &'b Btf) -> Result<&'b str, BtfError> {
        btf.string_at(self.line_off)
    }
}

/// The kind of a CO-RE relocation (UAPI `enum bpf_core_relo_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreReloKind {
    /// Field byte offset.
    FieldByteOffset,
    /// Field byte size.
    FieldByteSize,
    /// Field existence.
    FieldExists,
    /// Field signedness.
    FieldSigned,
    /// Bitfield left shift.
    FieldLshiftU64,
    /// Bitfield right shift.
    FieldRshiftU64,
    /// Local type id.
    TypeIdLocal,
    /// Target type id.
    TypeIdTarget,
    /// Type existence.
    TypeExists,
    /// Type size.
    TypeSize,
    /// Enumerator existence.
    EnumvalExists,
    /// Enumerator value.
    EnumvalValue,
    /// Type match.
    TypeMatches,
    /// A value this crate does not know.
    Unknown(u32),
}

impl CoreReloKind {
    /// From the UAPI value.
    pub fn from_raw(raw: u32) -> Self {
        use CoreReloKind::*;
        match raw {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            n => Unknown(n),
        }
    }
    /// The UAPI value.
    pub fn to_raw(self) -> u32 {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => 0,
            FieldByteSize => 1,
            FieldExists => 2,
            FieldSigned => 3,
            FieldLshiftU64 => 4,
            FieldRshiftU64 => 5,
            TypeIdLocal => 6,
            TypeIdTarget => 7,
            TypeExists => 8,
            TypeSize => 9,
            EnumvalExists => 10,
            EnumvalValue => 11,
            TypeMatches => 12,
            Unknown(n) => n,
        }
    }
    /// libbpf's name for the kind (`byte_off`, `type_exists`, ...).
    pub fn as_str(self) -> &'static str {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
            Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for CoreReloKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreReloKind::Unknown(n) => write!(f, "unknown({n})"),
            k => f.write_str(k.as_str()),
        }
    }
}

/// A CO-RE relocation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction within the ELF section.
    pub insn_off: u32,
    /// Local root type id.
    pub type_id: u32,
    /// String offset of the access spec (`"0:1:2"`).
    pub access_str_off: u32,
    /// Relocation kind.
    pub kind: CoreReloKind,
}

impl CoreRelo {
    /// The access spec string.
    pub fn access_str<'b>(&self, btf: &'b Btf) -> Result<&'b str, BtfError> {
        btf.string_at(self.access_str_off)
    }
}

struct InfoParam {
    name: &'static str,
    off: u32,
    len: u32,
    min_rec: u32,
}

impl BtfExt {
    /// Parse `.BTF.ext` bytes; section names resolve through `btf` (the object's `.BTF`).
    pub fn parse(data: &[u8], btf: &Btf) -> Result<Self, BtfError> {
        const WHAT: &str = "BTF.ext";
        let endian = Endian::detect(WHAT, data)?;
        if data.len() < EXT_HEADER_MIN {
            return Err(BtfError::TruncatedHeader {
                what: WHAT,
                len: data.len(),
                need: EXT_HEADER_MIN,
            });
        }
        let version = data[2];
        if version != 1 {
            return Err(BtfError::BadVersion {
                what: WHAT,
                version,
            });
        }
        let word = |i: usize| read_u32_checked(data, 4 + 4 * i, endian);
        let hdr_len = word(0);
        if (hdr_len as usize) < EXT_HEADER_MIN || hdr_len as usize > data.len() {
            return Err(BtfError::BadHeaderLen {
                what: WHAT,
                hdr_len,
                len: data.len(),
            });
        }
        let body = &data[hdr_len as usize..];
        let core = if hdr_len as usize >= EXT_HEADER_CORE {
            (word(5), word(6))
        } else {
            (0, 0)
        };
        let params = [
            InfoParam {
                name: "func_info",
                off: word(1),
                len: word(2),
                min_rec: 8,
            },
            InfoParam {
                name: "line_info",
                off: word(3),
                len: word(4),
                min_rec: 16,
            },
            InfoParam {
                name: "core_relo",
                off: core.0,
                len: core.1,
                min_rec: 16,
            },
        ];
        let mut ext = BtfExt {
            endian,
            func_info_rec_size: 0,
            line_info_rec_size: 0,
            core_relo_rec_size: 0,
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relos: Vec::new(),
        };
        let [fi, li, cr] = &params;
        ext.func_info_rec_size =
            parse_info(body, endian, btf, fi, &mut ext.func_info, |w| FuncInfo {
                insn_off: w[0],
                type_id: w[1],
            })?;
        ext.line_info_rec_size =
            parse_info(body, endian, btf, li, &mut ext.line_info, |w| LineInfo {
                insn_off: w[0],
                file_name_off: w[1],
                line_off: w[2],
                line: w[3] >> 10,
                column: w[3] & 0x3ff,
            })?;
        ext.core_relo_rec_size =
            parse_info(body, endian, btf, cr, &mut ext.core_relos, |w| CoreRelo {
                insn_off: w[0],
                type_id: w[1],
                access_str_off: w[2],
                kind: CoreReloKind::from_raw(w[3]),
            })?;
        Ok(ext)
    }

    /// The func_info records of the ELF section `name`.
    pub fn func_info_for(&self, name: &str) -> Option<&ExtSection<FuncInfo>> {
        self.func_info.iter().find(|s| s.name == name)
    }

    /// The line_info records of the ELF section `name`.
    pub fn line_info_for(&self, name: &str) -> Option<&ExtSection<LineInfo>> {
        self.line_info.iter().find(|s| s.name == name)
    }

    /// The CO-RE relocations of the ELF section `name`.
    pub fn core_relos_for(&self, name: &str) -> Option<&ExtSection<CoreRelo>> {
        self.core_relos.iter().find(|s| s.name == name)
    }
}

/// Parse one info subsection into `out`, returning its record size (0 if absent).
fn parse_info<T>(
    body: &[u8],
    endian: Endian,
    btf: &Btf,
    p: &InfoParam,
    out: &mut Vec<ExtSection<T>>,
    decode: impl Fn([u32; 4]) -> T,
) -> Result<u32, BtfError> {
    if p.len == 0 {
        return Ok(0);
    }
    let bad = |offset: usize, problem: &'static str| BtfError::BadExt {
        section: p.name,
        offset,
        problem,
    };
    if p.off % 4 != 0 {
        return Err(bad(0, "subsection not 4-byte aligned"));
    }
    let start = p.off as usize;
    let sec = start
        .checked_add(p.len as usize)
        .and_then(|end| body.get(start..end))
        .ok_or_else(|| bad(0, "subsection runs past the end of .BTF.ext"))?;
    let rec_size = read_u32(sec, 0, endian).ok_or_else(|| bad(0, "record size missing"))?;
    if rec_size < p.min_rec || rec_size % 4 != 0 {
        return Err(bad(0, "record size too small or unaligned"));
    }
    let mut off = 4usize;
    while off < sec.len() {
        let (Some(name_off), Some(num)) =
            (read_u32(sec, off, endian), read_u32(sec, off + 4, endian))
        else {
            return Err(bad(off, "truncated section header"));
        };
        let total = u64::from(num) * u64::from(rec_size);
        let recs_start = off + 8;
        if total > (sec.len() - recs_start.min(sec.len())) as u64 {
            return Err(bad(off, "num_info larger than the data"));
        }
        let name = btf.string_at(name_off)?.to_string();
        let mut records = Vec::with_capacity(num as usize);
        for i in 0..num as usize {
            let r = recs_start + i * rec_size as usize;
            let mut w = [0u32; 4];
            for (j, slot) in w.iter_mut().enumerate().take(p.min_rec as usize / 4) {
                *slot = read_u32_checked(sec, r + 4 * j, endian);
            }
            records.push(decode(w));
        }
        out.push(ExtSection {
            name_off,
            name,
            records,
        });
        off = recs_start + total as usize;
    }
    Ok(rec_size)
}
