//! [`Btf`]: the type table of parsed BTF that keeps the raw bytes and an offset per type id.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::error::BtfError;
use super::header::{Endian, Header};
use super::index::NameIndex;
use super::strings;
use super::types::Type;

/// The owner of raw BTF bytes: a `Vec<u8>`, an `Arc<[u8]>`, a read-only mmap of a sysfs file,
/// anything that derefs to bytes and can be shared between threads.
pub type BtfBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Size of the common part of every type record (`name_off`, `info`, `size`/`type`).
pub(crate) const TYPE_RECORD_LEN: usize = 12;

/// Parsed BTF: the raw bytes, the offset of each type and (built on the first name lookup) an
/// index by essential name. Types are decoded on demand by [`Btf::type_by_id`].
///
/// `Btf` is `Send + Sync`; share one between many loads with `Arc<Btf>`. Split BTF (kernel
/// module BTF) holds its base: type ids and string offsets continue after the base's.
pub struct Btf {
    data: BtfBytes,
    header: Header,
    /// Offset within the type section of each type this layer holds, by `id - first_id`.
    offsets: Vec<u32>,
    /// Id of this layer's first type (1, or one past the base's last type).
    first_id: u32,
    /// First string offset that belongs to this layer (0, or the base's string end).
    str_base: u32,
    base: Option<Arc<Btf>>,
    /// Name index of every kind but FUNC.
    pub(crate) index: OnceLock<NameIndex>,
    /// Name index of FUNCs.
    pub(crate) func_index: OnceLock<NameIndex>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("endian", &self.header.endian)
            .field("first_id", &self.first_id)
            .field("types", &self.offsets.len())
            .field("split", &self.base.is_some())
            .finish()
    }
}

impl Btf {
    /// Parse a base (non-split) BTF blob in either byte order, taking ownership of the bytes.
    pub fn parse<T: AsRef<[u8]> + Send + Sync + 'static>(data: T) -> Result<Self, BtfError> {
        Self::parse_shared(Arc::new(data))
    }

    /// Parse a base BTF blob held by a shared owner (for example an mmap of
    /// `/sys/kernel/btf/vmlinux`), without copying it.
    pub fn parse_shared(data: BtfBytes) -> Result<Self, BtfError> {
        Self::parse_layer(data, None)
    }

    /// Parse split BTF (for example `/sys/kernel/btf/<module>`) on top of `base`.
    pub fn parse_split<T: AsRef<[u8]> + Send + Sync + 'static>(
        data: T,
        base: Arc<Btf>,
    ) -> Result<Self, BtfError> {
        Self::parse_layer(Arc::new(data), Some(base))
    }

    /// Parse split BTF held by a shared owner on top of `base`.
    pub fn parse_split_shared(data: BtfBytes, base: Arc<Btf>) -> Result<Self, BtfError> {
        Self::parse_layer(data, Some(base))
    }

    fn parse_layer(data: BtfBytes, base: Option<Arc<Btf>>) -> Result<Self, BtfError> {
        let bytes = (*data).as_ref();
        let header = Header::parse(bytes)?;
        strings::validate(&bytes[header.str_range()], base.is_none())?;
        let (first_id, str_base) = match &base {
            Some(b) => (b.last_id().saturating_add(1), b.strings_end()),
            None => (1, 0),
        };
        if str_base.checked_add(header.str_len).is_none() {
            return Err(BtfError::BadStringSection("string offsets overflow u32"));
        }
        let offsets = scan_types(&bytes[header.type_range()], header.endian, first_id)?;
        Ok(Btf {
            data,
            header,
            offsets,
            first_id,
            str_base,
            base,
            index: OnceLock::new(),
            func_index: OnceLock::new(),
        })
    }

    /// The byte order of the blob.
    pub fn endian(&self) -> Endian {
        self.header.endian
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The raw bytes this layer was parsed from.
    pub fn raw_bytes(&self) -> &[u8] {
        (*self.data).as_ref()
    }

    /// The base BTF of split BTF.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// Id of the first type this layer holds (1 for base BTF).
    pub fn first_id(&self) -> u32 {
        self.first_id
    }

    /// Id of the last type (counting the base's for split BTF); 0 if there are none.
    pub fn last_id(&self) -> u32 {
        self.first_id - 1 + self.offsets.len() as u32
    }

    /// Number of ids including void (id 0): `last_id() + 1`, like libbpf's `btf__type_cnt`.
    pub fn type_count(&self) -> u32 {
        self.last_id() + 1
    }

    /// The type with this id (0 is void). Ids of the base resolve through the base.
    pub fn type_by_id(&self, id: u32) -> Result<Type<'_>, BtfError> {
        if id == 0 {
            return Ok(Type::void(self));
        }
        if id < self.first_id {
            return match &self.base {
                Some(base) => base.type_by_id(id),
                None => Err(self.out_of_range(id)),
            };
        }
        let off = self
            .offsets
            .get((id - self.first_id) as usize)
            .ok_or_else(|| self.out_of_range(id))?;
        Ok(Type::at(self, id, *off as usize))
    }

    fn out_of_range(&self, id: u32) -> BtfError {
        BtfError::TypeIdOutOfRange {
            id,
            last: self.last_id(),
        }
    }

    /// All types from id 1 to [`Btf::last_id`] (the base's first for split BTF).
    pub fn types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        (1..=self.last_id()).filter_map(move |id| self.type_by_id(id).ok())
    }

    /// The types this layer holds (for split BTF, without the base's).
    pub fn local_types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        self.offsets
            .iter()
            .enumerate()
            .map(move |(i, off)| Type::at(self, self.first_id + i as u32, *off as usize))
    }

    /// The string at `offset` (offsets below this layer's first string resolve in the base).
    pub fn string_at(&self, offset: u32) -> Result<&str, BtfError> {
        if offset < self.str_base {
            if let Some(base) = &self.base {
                return base.string_at(offset);
            }
        }
        let local = (offset - self.str_base) as usize;
        let strs = self.local_strings();
        if local >= strs.len() {
            return Err(self.string_out_of_range(offset));
        }
        strings::str_at(strs, local, offset)
    }

    /// Like [`Btf::string_at`] but without the UTF-8 check.
    pub fn string_bytes_at(&self, offset: u32) -> Result<&[u8], BtfError> {
        if offset < self.str_base {
            if let Some(base) = &self.base {
                return base.string_bytes_at(offset);
            }
        }
        let local = (offset - self.str_base) as usize;
        let strs = self.local_strings();
        if local >= strs.len() {
            return Err(self.string_out_of_range(offset));
        }
        strings::bytes_at(strs, local, offset)
    }

    fn string_out_of_range(&self, offset: u32) -> BtfError {
        BtfError::StringOutOfRange {
            offset,
            end: self.strings_end(),
        }
    }

    /// One past the last string offset (counting the base's strings for split BTF).
    pub fn strings_end(&self) -> u32 {
        self.str_base + self.header.str_len
    }

    /// The first string offset this layer holds (0 for base BTF).
    pub fn strings_start(&self) -> u32 {
        self.str_base
    }

    /// This layer's string section.
    pub(crate) fn local_strings(&self) -> &[u8] {
        self.raw_bytes()
            .get(self.header.str_range())
            .unwrap_or_default()
    }

    /// This layer's type section.
    pub(crate) fn local_type_bytes(&self) -> &[u8] {
        self.raw_bytes()
            .get(self.header.type_range())
            .unwrap_or_default()
    }

    /// Offsets (within the type section) of this layer's types.
    pub(crate) fn local_offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Heap bytes this value keeps beyond the raw data (offsets and name index), for
    /// accounting; the base is not counted.
    pub fn heap_size(&self) -> usize {
        self.offsets.capacity() * 4
            + self.index.get().map_or(0, NameIndex::heap_size)
            + self.func_index.get().map_or(0, NameIndex::heap_size)
    }
}

/// Record length by raw kind: fixed bytes (0 for kinds that do not exist) and bytes per
/// vlen entry; the table form of [`BtfKind::extra_len`] (checked against it in a test), so
/// the scan of ~127k vmlinux records does not branch per kind.
const RECORD_SHAPE: [(u8, u8); 32] = {
    let mut t = [(0u8, 0u8); 32];
    let mut k = 1;
    while k < 20 {
        t[k] = match k {
            1 | 14 | 17 => (16, 0),      // INT, VAR, DECL_TAG
            3 => (24, 0),                // ARRAY
            4 | 5 | 15 | 19 => (12, 12), // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => (12, 8),           // ENUM, FUNC_PROTO
            _ => (12, 0),                // the rest: no extra data
        };
        k += 1;
    }
    t
};

/// Walk the type section once, checking each record fits and its kind is known, and return
/// the offset of each record.
fn scan_types(types: &[u8], endian: Endian, first_id: u32) -> Result<Vec<u32>, BtfError> {
    match endian {
        Endian::Little => scan::<false>(types, first_id),
        Endian::Big => scan::<true>(types, first_id),
    }
}

fn scan<const BIG: bool>(types: &[u8], first_id: u32) -> Result<Vec<u32>, BtfError> {
    // vmlinux averages ~28 bytes a record; guess a little high, then give back the rest.
    let mut offsets = Vec::with_capacity(types.len() / 24 + 1);
    let mut off = 0usize;
    while off < types.len() {
        let id = (offsets.len() as u32).saturating_add(first_id);
        let left = types.len() - off;
        let Some(&[_, _, _, _, a, b, c, d]) = types.get(off..off + 8) else {
            return Err(truncated(id, off, TYPE_RECORD_LEN, left));
        };
        let info = if BIG {
            u32::from_be_bytes([a, b, c, d])
        } else {
            u32::from_le_bytes([a, b, c, d])
        };
        let raw_kind = (info >> 24) & 0x1f;
        let (fixed, per_entry) = RECORD_SHAPE[raw_kind as usize];
        let need = usize::from(fixed) + usize::from(per_entry) * (info & 0xffff) as usize;
        if fixed == 0 || left < need || id == u32::MAX {
            return Err(scan_error(id, off, raw_kind, need, left));
        }
        offsets.push(off as u32);
        off += need;
    }
    offsets.shrink_to_fit();
    Ok(offsets)
}

fn truncated(id: u32, offset: usize, need: usize, left: usize) -> BtfError {
    BtfError::TruncatedType {
        id,
        offset,
        need,
        left,
    }
}

#[cold]
fn scan_error(id: u32, offset: usize, raw_kind: u32, need: usize, left: usize) -> BtfError {
    if RECORD_SHAPE[raw_kind as usize].0 == 0 {
        BtfError::UnknownKind {
            id,
            offset,
            kind: raw_kind,
        }
    } else if left < need {
        truncated(id, offset, need.max(TYPE_RECORD_LEN), left)
    } else {
        BtfError::TypeIdOutOfRange { id, last: id - 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kind::BtfKind;
    use super::*;

    #[test]
    fn record_shape_matches_kinds() {
        for raw in 0..32u32 {
            let (fixed, per) = RECORD_SHAPE[raw as usize];
            match BtfKind::from_raw(raw) {
                Some(BtfKind::Void) | None => assert_eq!(fixed, 0, "{raw}"),
                Some(k) => {
                    for vlen in [0u16, 1, 7] {
                        let want = TYPE_RECORD_LEN + k.extra_len(vlen);
                        let got = usize::from(fixed) + usize::from(per) * usize::from(vlen);
                        assert_eq!(got, want, "{k}");
                    }
                }
            }
        }
    }
}
