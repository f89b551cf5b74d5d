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

/// Parsed BTF: the raw bytes, where each type's record starts (2 bytes per type for
/// vmlinux, see [`Offsets`]) and (built on the first name lookup) an index by essential
/// name. Types are decoded on demand by [`Btf::type_by_id`].
///
/// `Btf` is `Send + Sync`; share one between many loads with `Arc<Btf>`. Split BTF (kernel
/// module BTF) holds its base: type ids and string offsets continue after the base's.
pub struct Btf {
    data: BtfBytes,
    header: Header,
    /// Offset within the type section of each type this layer holds, by `id - first_id`.
    offsets: Offsets,
    /// Local indices of the named types that are not FUNCs, in id order: what the name
    /// index of [`IndexPart::Types`](super::index) chains, found by the parse's one walk.
    named: Vec<u32>,
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
        let (offsets, named) = scan_types(&bytes[header.type_range()], header.endian, first_id)?;
        Ok(Btf {
            data,
            header,
            offsets,
            named,
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
        Ok(Type::at(self, id, off as usize))
    }

    fn out_of_range(&self, id: u32) -> BtfError {
        BtfError::TypeIdOutOfRange {
            id,
            last: self.last_id(),
        }
    }

    /// All types from id 1 to [`Btf::last_id`] (the base's first for split BTF).
    pub fn types(&self) -> Box<dyn Iterator<Item = Type<'_>> + '_> {
        match &self.base {
            Some(base) => Box::new(base.types().chain(self.local_types())),
            None => Box::new(self.local_types()),
        }
    }

    /// The types this layer holds (for split BTF, without the base's), in id order.
    pub fn local_types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        (0..self.offsets.len()).filter_map(move |i| {
            let off = self.offsets.get(i)?;
            Some(Type::at(self, self.first_id + i as u32, off as usize))
        })
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

    /// Offset (within the type section) of this layer's type with local index `i`.
    pub(crate) fn local_offset(&self, i: usize) -> Option<u32> {
        self.offsets.get(i)
    }

    /// Number of types this layer holds.
    pub(crate) fn local_len(&self) -> usize {
        self.offsets.len()
    }

    /// Local indices of this layer's named types other than FUNCs, in id order.
    pub(crate) fn named_non_funcs(&self) -> &[u32] {
        &self.named
    }

    /// Heap bytes this value keeps beyond the raw data (offsets, named-type list and name
    /// index), for accounting; the base is not counted.
    pub fn heap_size(&self) -> usize {
        self.offsets.heap_size()
            + self.named.capacity() * 4
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
/// the offset of each record and the local indices of the named non-FUNC types.
fn scan_types(
    types: &[u8],
    endian: Endian,
    first_id: u32,
) -> Result<(Offsets, Vec<u32>), BtfError> {
    match endian {
        Endian::Little => scan::<false>(types, first_id),
        Endian::Big => scan::<true>(types, first_id),
    }
}

/// Raw kind of FUNC.
const RAW_FUNC: u32 = 12;

fn scan<const BIG: bool>(types: &[u8], first_id: u32) -> Result<(Offsets, Vec<u32>), BtfError> {
    // vmlinux averages ~25 bytes a record; guess a little high, then give back the rest.
    let guess = types.len() / 20 + 1;
    let mut offsets = OffsetsBuilder::with_capacity(guess);
    // About one record in eight is a named non-FUNC in vmlinux.
    let mut named = Vec::with_capacity(guess / 6);
    let mut off = 0usize;
    let mut i = 0u32;
    while off < types.len() {
        let id = i.saturating_add(first_id);
        let left = types.len() - off;
        let Some(&[n0, n1, n2, n3, a, b, c, d]) = types.get(off..off + 8) else {
            return Err(truncated(id, off, TYPE_RECORD_LEN, left));
        };
        let (name_off, info) = if BIG {
            (
                u32::from_be_bytes([n0, n1, n2, n3]),
                u32::from_be_bytes([a, b, c, d]),
            )
        } else {
            (
                u32::from_le_bytes([n0, n1, n2, n3]),
                u32::from_le_bytes([a, b, c, d]),
            )
        };
        let raw_kind = (info >> 24) & 0x1f;
        let (fixed, per_entry) = RECORD_SHAPE[raw_kind as usize];
        let need = usize::from(fixed) + usize::from(per_entry) * (info & 0xffff) as usize;
        if fixed == 0 || left < need || id == u32::MAX {
            return Err(scan_error(id, off, raw_kind, need, left));
        }
        offsets.push(off as u32);
        if name_off != 0 && raw_kind != RAW_FUNC {
            named.push(i);
        }
        off += need;
        i += 1;
    }
    named.shrink_to_fit();
    Ok((offsets.finish(), named))
}

/// Records per group of [`Offsets::Compact`].
const GROUP: usize = 128;

/// Where each record starts in the type section. vmlinux's ~127k records fit the compact
/// form (2 bytes each plus 4 per group of 128, a quarter of a `u32` per record): no group of
/// 128 consecutive records spans 64 KiB. A layer with one that does keeps a `u32` per record.
enum Offsets {
    /// `base[i / GROUP] + rel[i]`.
    Compact { base: Vec<u32>, rel: Vec<u16> },
    /// One offset per record.
    Full(Vec<u32>),
}

impl Offsets {
    #[inline]
    fn get(&self, i: usize) -> Option<u32> {
        match self {
            Offsets::Compact { base, rel } => {
                let r = *rel.get(i)?;
                Some(base.get(i / GROUP)? + u32::from(r))
            }
            Offsets::Full(v) => v.get(i).copied(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Offsets::Compact { rel, .. } => rel.len(),
            Offsets::Full(v) => v.len(),
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Offsets::Compact { base, rel } => base.capacity() * 4 + rel.capacity() * 2,
            Offsets::Full(v) => v.capacity() * 4,
        }
    }
}

/// Builds [`Offsets`], compact until a group would span 64 KiB.
struct OffsetsBuilder {
    base: Vec<u32>,
    rel: Vec<u16>,
    /// The current group's base offset.
    group_base: u32,
    full: Option<Vec<u32>>,
}

impl OffsetsBuilder {
    fn with_capacity(n: usize) -> Self {
        OffsetsBuilder {
            base: Vec::with_capacity(n / GROUP + 1),
            rel: Vec::with_capacity(n),
            group_base: 0,
            full: None,
        }
    }

    #[inline(always)]
    fn push(&mut self, off: u32) {
        if self.full.is_none() {
            let i = self.rel.len();
            if i % GROUP == 0 {
                self.base.push(off);
                self.group_base = off;
            }
            // Offsets only grow, so `off - group_base` cannot wrap.
            let r = off.wrapping_sub(self.group_base);
            if r <= u32::from(u16::MAX) {
                self.rel.push(r as u16);
                return;
            }
        }
        self.push_wide(off);
    }

    #[cold]
    #[inline(never)]
    fn push_wide(&mut self, off: u32) {
        if let Some(full) = &mut self.full {
            full.push(off);
            return;
        }
        // A group spans 64 KiB: a u32 per record from here on.
        let mut full: Vec<u32> = Vec::with_capacity(self.rel.capacity());
        full.extend(
            self.rel
                .iter()
                .enumerate()
                .map(|(j, r)| self.base.get(j / GROUP).copied().unwrap_or(0) + u32::from(*r)),
        );
        full.push(off);
        self.full = Some(full);
        self.base = Vec::new();
        self.rel = Vec::new();
    }

    fn finish(mut self) -> Offsets {
        match self.full {
            Some(mut v) => {
                v.shrink_to_fit();
                Offsets::Full(v)
            }
            None => {
                self.rel.shrink_to_fit();
                self.base.shrink_to_fit();
                Offsets::Compact {
                    base: self.base,
                    rel: self.rel,
                }
            }
        }
    }
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
    fn offsets_fall_back_to_full_width() {
        let mut b = OffsetsBuilder::with_capacity(4);
        let offs: Vec<u32> = (0..300u32).map(|i| i * 600).collect();
        for &o in &offs {
            b.push(o);
        }
        let o = b.finish();
        assert!(matches!(o, Offsets::Full(_)));
        assert!((0..300).all(|i| o.get(i) == Some(offs[i])));
        let mut b = OffsetsBuilder::with_capacity(4);
        for &o in &offs[..200] {
            b.push(o / 10);
        }
        let o = b.finish();
        assert!(matches!(o, Offsets::Compact { .. }));
        assert!((0..200).all(|i| o.get(i) == Some(offs[i] / 10)));
        assert_eq!(o.get(200), None);
    }

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
