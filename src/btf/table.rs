//! [`Btf`]: the type table of parsed BTF that keeps the raw bytes and an offset per type id.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::error::BtfError;
use super::header::{read_u32_checked, Endian, Header};
use super::index::NameIndex;
use super::kind::BtfKind;
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
    pub(crate) index: OnceLock<NameIndex>,
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
        self.offsets.capacity() * 4 + self.index.get().map_or(0, NameIndex::heap_size)
    }
}

/// Walk the type section once, checking each record fits and its kind is known, and return
/// the offset of each record.
fn scan_types(types: &[u8], endian: Endian, first_id: u32) -> Result<Vec<u32>, BtfError> {
    // vmlinux averages ~43 bytes a record; guess low and let the Vec grow once.
    let mut offsets = Vec::with_capacity(types.len() / 40 + 1);
    let mut off = 0usize;
    while off < types.len() {
        let id = (offsets.len() as u32).saturating_add(first_id);
        let left = types.len() - off;
        if left < TYPE_RECORD_LEN {
            return Err(BtfError::TruncatedType {
                id,
                offset: off,
                need: TYPE_RECORD_LEN,
                left,
            });
        }
        let info = read_u32_checked(types, off + 4, endian);
        let raw_kind = (info >> 24) & 0x1f;
        let kind = match BtfKind::from_raw(raw_kind) {
            Some(BtfKind::Void) | None => {
                return Err(BtfError::UnknownKind {
                    id,
                    offset: off,
                    kind: raw_kind,
                })
            }
            Some(k) => k,
        };
        let need = TYPE_RECORD_LEN + kind.extra_len((info & 0xffff) as u16);
        if left < need {
            return Err(BtfError::TruncatedType {
                id,
                offset: off,
                need,
                left,
            });
        }
        if id == u32::MAX {
            return Err(BtfError::TypeIdOutOfRange { id, last: id - 1 });
        }
        offsets.push(off as u32);
        off += need;
    }
    offsets.shrink_to_fit();
    Ok(offsets)
}
