//! The BTF header and endian-aware reading of the raw bytes.

use super::error::BtfError;

/// The BTF magic number, `0xeB9F`.
pub const BTF_MAGIC: u16 = 0xeb9f;

/// Size of the fixed BTF header.
pub const BTF_HEADER_LEN: usize = 24;

/// Byte order of a BTF blob (detected from the magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian (x86-64, arm64, `bpfel`).
    Little,
    /// Big-endian (s390x, `bpfeb`).
    Big,
}

impl Endian {
    /// The byte order of this machine.
    pub fn native() -> Self {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }

    /// Detect the byte order from the first two bytes (the magic number).
    pub(crate) fn detect(what: &'static str, data: &[u8]) -> Result<Self, BtfError> {
        match data {
            [0x9f, 0xeb, ..] => Ok(Endian::Little),
            [0xeb, 0x9f, ..] => Ok(Endian::Big),
            [a, b, ..] => Err(BtfError::BadMagic {
                what,
                magic: u16::from_le_bytes([*a, *b]),
            }),
            _ => Err(BtfError::TruncatedHeader {
                what,
                len: data.len(),
                need: 2,
            }),
        }
    }

    #[inline]
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
}

/// Read a `u32` at `off`, or `None` past the end.
#[inline]
pub(crate) fn read_u32(data: &[u8], off: usize, endian: Endian) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(endian.u32([b[0], b[1], b[2], b[3]]))
}

/// Read a `u32` inside a range already checked at parse time. Never panics: a read past the
/// end (which validation rules out) yields 0.
#[inline]
pub(crate) fn read_u32_checked(data: &[u8], off: usize, endian: Endian) -> u32 {
    read_u32(data, off, endian).unwrap_or(0)
}

/// The decoded fixed BTF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Byte order.
    pub endian: Endian,
    /// Flags byte (0 today).
    pub flags: u8,
    /// Header length (≥ 24).
    pub hdr_len: u32,
    /// Type section offset, relative to the end of the header.
    pub type_off: u32,
    /// Type section length.
    pub type_len: u32,
    /// String section offset, relative to the end of the header.
    pub str_off: u32,
    /// String section length.
    pub str_len: u32,
}

impl Header {
    /// Parse and validate the header against the data length.
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        const WHAT: &str = "BTF";
        let endian = Endian::detect(WHAT, data)?;
        if data.len() < BTF_HEADER_LEN {
            return Err(BtfError::TruncatedHeader {
                what: WHAT,
                len: data.len(),
                need: BTF_HEADER_LEN,
            });
        }
        let word = |i: usize| read_u32_checked(data, 4 + 4 * i, endian);
        let version = data[2];
        if version != 1 {
            return Err(BtfError::BadVersion {
                what: WHAT,
                version,
            });
        }
        let h = Header {
            endian,
            flags: data[3],
            hdr_len: word(0),
            type_off: word(1),
            type_len: word(2),
            str_off: word(3),
            str_len: word(4),
        };
        if (h.hdr_len as usize) < BTF_HEADER_LEN || h.hdr_len as usize > data.len() {
            return Err(BtfError::BadHeaderLen {
                what: WHAT,
                hdr_len: h.hdr_len,
                len: data.len(),
            });
        }
        let meta = (data.len() - h.hdr_len as usize) as u64;
        let bad = |section, off, len, problem| BtfError::BadSection {
            what: WHAT,
            section,
            off,
            len,
            problem,
        };
        if u64::from(h.str_off) + u64::from(h.str_len) > meta {
            return Err(bad("string", h.str_off, h.str_len, "runs past the end"));
        }
        if u64::from(h.type_off) + u64::from(h.type_len) > meta {
            return Err(bad("type", h.type_off, h.type_len, "runs past the end"));
        }
        if u64::from(h.type_off) + u64::from(h.type_len) > u64::from(h.str_off) {
            return Err(bad(
                "type",
                h.type_off,
                h.type_len,
                "overlaps the string section",
            ));
        }
        if h.type_off % 4 != 0 {
            return Err(bad("type", h.type_off, h.type_len, "is not 4-byte aligned"));
        }
        Ok(h)
    }

    /// Absolute byte range of the type section.
    pub(crate) fn type_range(&self) -> std::ops::Range<usize> {
        let start = self.hdr_len as usize + self.type_off as usize;
        start..start + self.type_len as usize
    }

    /// Absolute byte range of the string section.
    pub(crate) fn str_range(&self) -> std::ops::Range<usize> {
        let start = self.hdr_len as usize + self.str_off as usize;
        start..start + self.str_len as usize
    }
}
