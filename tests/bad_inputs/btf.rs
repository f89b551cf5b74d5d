//! A raw BTF assembler for the bad-input catalogue: it writes exactly the records it is given
//! (vlen, kinds and type ids unchecked), so a test can write the lies a parser must survive.
#![allow(dead_code)]

pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const VOLATILE: u32 = 9;
pub const CONST: u32 = 10;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;

/// Offsets of the header fields.
pub const HDR_VERSION: usize = 2;
pub const HDR_LEN: usize = 4;
pub const HDR_TYPE_OFF: usize = 8;
pub const HDR_TYPE_LEN: usize = 12;
pub const HDR_STR_OFF: usize = 16;
pub const HDR_STR_LEN: usize = 20;

/// Types and strings being written.
pub struct RawBtf {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Default for RawBtf {
    fn default() -> Self {
        Self::new()
    }
}

impl RawBtf {
    pub fn new() -> Self {
        RawBtf {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    /// Adds a string, returning its offset.
    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Adds a type record with its trailing words; returns its id.
    pub fn ty(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name = self.str(name);
        self.raw(name, (kind << 24) | vlen, size_or_type, extra)
    }

    /// Adds a type record with a raw name offset and info word.
    pub fn raw(&mut self, name_off: u32, info: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        for w in [name_off, info, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A signed 32-bit INT.
    pub fn int(&mut self, name: &str) -> u32 {
        self.ty(name, INT, 0, 4, &[(1 << 24) | 32])
    }

    /// A struct whose members are `(name, type, bit offset)`.
    pub fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let mut extra = Vec::new();
        for (n, t, off) in members {
            extra.extend([self.str(n), *t, *off]);
        }
        self.ty(name, STRUCT, members.len() as u32, size, &extra)
    }

    /// The blob: header, types, strings.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xeb9fu16.to_le_bytes());
        v.extend([1, 0]);
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&self.types);
        v.extend_from_slice(&self.strings);
        v
    }
}

/// Sets a u32 header field of a blob.
pub fn set_hdr(blob: &mut [u8], field: usize, v: u32) {
    blob[field..field + 4].copy_from_slice(&v.to_le_bytes());
}

/// Reads a u32 header field of a blob.
pub fn hdr(blob: &[u8], field: usize) -> u32 {
    u32::from_le_bytes(blob[field..field + 4].try_into().unwrap())
}
