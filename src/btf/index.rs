//! The name index: essential name → type ids, built once per [`Btf`] layer on first lookup.
//!
//! A chained hash table over the layer's types: `heads[hash & mask]` is the first type of a
//! bucket and `next[i]` links to the following one, both as `local index + 1` (0 ends a chain).
//! Chains run in ascending id order, so lookups return ids in the order a scan would.

use super::header::read_u32_checked;
use super::kind::BtfKind;
use super::table::Btf;
use super::types::Type;

/// Length of the essential part of a name: up to the last `X___Y` flavour separator (X and Y
/// not `_`), keeping X. `task_struct___v1` → `task_struct`; names without one are kept whole.
pub fn essential_name_len(name: &[u8]) -> usize {
    let n = name.len();
    if n < 5 || !has_triple_underscore(name) {
        return n;
    }
    let mut i = n - 5;
    loop {
        if name[i] != b'_'
            && name[i + 1] == b'_'
            && name[i + 2] == b'_'
            && name[i + 3] == b'_'
            && name[i + 4] != b'_'
        {
            return i + 1;
        }
        if i == 0 {
            return n;
        }
        i -= 1;
    }
}

/// Whether `b` contains `___`: checks 8-byte windows 6 bytes apart (so every run of three
/// lies inside one window) for three adjacent `_` bytes, a word at a time. Most names have
/// none, and this keeps the index build from scanning them byte by byte.
fn has_triple_underscore(b: &[u8]) -> bool {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HI: u64 = 0x8080_8080_8080_8080;
    const US: u64 = 0x5f5f_5f5f_5f5f_5f5f;
    let mut i = 0;
    while i + 2 < b.len() {
        let mut w = [0u8; 8];
        let end = (i + 8).min(b.len());
        w[..end - i].copy_from_slice(&b[i..end]);
        let x = u64::from_le_bytes(w) ^ US;
        // High bit set in each byte of `x` that is zero, i.e. each `_` of the window.
        let u = !(((x & LO7) + LO7) | x) & HI;
        if u & (u >> 8) & (u >> 16) != 0 {
            return true;
        }
        i += 6;
    }
    false
}

/// The essential name (see [`essential_name_len`]): `"task_struct___v1"` → `"task_struct"`.
pub fn essential_name(name: &str) -> &str {
    // The cut is before an ASCII `_`, so always on a char boundary.
    name.get(..essential_name_len(name.as_bytes()))
        .unwrap_or(name)
}

const K: u64 = 0x517c_c1b7_2722_0a95;
const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HI: u64 = 0x8080_8080_8080_8080;
const US: u64 = 0x5f5f_5f5f_5f5f_5f5f;

/// High bit set in each zero byte of `x`.
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7) + LO7) | x) & HI
}

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

#[inline]
fn finish(h: u64, len: usize) -> u32 {
    let h = h ^ len as u64;
    ((h ^ (h >> 29)).wrapping_mul(K) >> 32) as u32
}

/// Hash of a name: 8-byte little-endian words, the last zero-padded, then the length.
fn hash(b: &[u8]) -> u32 {
    let mut h = 0u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(w));
    }
    finish(h, b.len())
}

/// The hash of the essential name of the NUL-terminated string at `start`, computed in one
/// pass of 8-byte words that also finds the NUL and watches for `___` (only names with one
/// take the slow path). Equals `hash(&name[..essential_name_len(name)])`. `None` if the
/// string is empty or has no NUL.
#[inline]
fn hash_essential_at(strs: &[u8], start: usize) -> Option<u32> {
    let mut h = 0u64;
    let mut i = start;
    let mut prev_us = 0u64;
    let mut triple = false;
    loop {
        let w = match strs.get(i..i + 8) {
            Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            None => {
                let tail = strs.get(i..)?;
                let mut w = [0u8; 8];
                w[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(w)
            }
        };
        let z = zero_bytes(w);
        let (w, done) = if z != 0 {
            let nul = z.trailing_zeros() / 8;
            let keep = if nul == 0 {
                0
            } else {
                u64::MAX >> (64 - 8 * nul)
            };
            (w & keep, Some(nul as usize))
        } else {
            (w, None)
        };
        // Bytes from the NUL on were cleared to 0 above, so they never look like `_`.
        let us = zero_bytes(w ^ US);
        let cross = (prev_us >> 48) | (us << 16);
        if us & (us >> 8) & (us >> 16) != 0 || cross & (cross >> 8) & (cross >> 16) & 0xffff != 0 {
            triple = true;
        }
        prev_us = us;
        match done {
            None => {
                h = mix(h, w);
                i += 8;
            }
            Some(nul) => {
                let len = i - start + nul;
                if len == 0 {
                    return None;
                }
                if nul != 0 {
                    h = mix(h, w);
                }
                if triple {
                    let name = strs.get(start..start + len)?;
                    return Some(hash(&name[..essential_name_len(name)]));
                }
                return Some(finish(h, len));
            }
        }
    }
}

/// Which types an index holds: FUNCs (kfuncs, attach targets) or everything else (what
/// CO-RE and map definitions look up). vmlinux has three FUNCs for every other named type,
/// so keeping them apart makes the index CO-RE needs four times cheaper to build.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexPart {
    /// FUNC types only.
    Funcs,
    /// Every kind but FUNC.
    Types,
}

impl IndexPart {
    fn of(kind: BtfKind) -> Self {
        if kind == BtfKind::Func {
            IndexPart::Funcs
        } else {
            IndexPart::Types
        }
    }
}

/// The index of one part of one layer: chains over `entries` (local type indices of the
/// named types of that part), `heads[hash & mask]` and `next[j]` holding `j + 1` (0 ends a
/// chain).
pub(crate) struct NameIndex {
    mask: u32,
    heads: Vec<u32>,
    next: Vec<u32>,
    /// `None`: the layer's own list of named non-FUNC types
    /// ([`Btf::named_non_funcs`]), when every one of them was hashed (the usual case).
    entries: Option<Vec<u32>>,
}

impl NameIndex {
    pub(crate) fn build(btf: &Btf, part: IndexPart) -> Self {
        let types = btf.local_type_bytes();
        let strs = btf.local_strings();
        let str_base = btf.strings_start();
        let endian = btf.endian();
        let hash_at = |off: usize| {
            let name_off = read_u32_checked(types, off, endian);
            if name_off == 0 {
                None
            } else if name_off >= str_base {
                hash_essential_at(strs, (name_off - str_base) as usize)
            } else {
                btf.string_bytes_at(name_off)
                    .ok()
                    .filter(|n| !n.is_empty())
                    .map(|n| hash(&n[..essential_name_len(n)]))
            }
        };
        let cap = match part {
            IndexPart::Types => btf.named_non_funcs().len(),
            IndexPart::Funcs => 0,
        };
        let mut entries = Vec::with_capacity(cap);
        let mut hashes = Vec::with_capacity(cap);
        let mut add = |i: u32| {
            if let Some(h) = btf
                .local_offset(i as usize)
                .and_then(|o| hash_at(o as usize))
            {
                entries.push(i);
                hashes.push(h);
            }
        };
        match part {
            // The parse listed them: no walk over every record.
            IndexPart::Types => btf.named_non_funcs().iter().for_each(|&i| add(i)),
            IndexPart::Funcs => {
                let func = BtfKind::Func as u32;
                for i in 0..btf.local_len() as u32 {
                    let Some(off) = btf.local_offset(i as usize) else {
                        break;
                    };
                    if (read_u32_checked(types, off as usize + 4, endian) >> 24) & 0x1f == func {
                        add(i);
                    }
                }
            }
        }
        let entries = if part == IndexPart::Types && entries.len() == btf.named_non_funcs().len() {
            None
        } else {
            entries.shrink_to_fit();
            Some(entries)
        };
        let n = hashes.len();
        let buckets = (n / 2).max(8).next_power_of_two();
        let mask = (buckets - 1) as u32;
        let mut heads = vec![0u32; buckets];
        let mut next = vec![0u32; n];
        // Insert from the last entry so that each chain ends up in ascending id order.
        for (j, h) in hashes.iter().enumerate().rev() {
            if let (Some(head), Some(n)) = (heads.get_mut((h & mask) as usize), next.get_mut(j)) {
                *n = *head;
                *head = j as u32 + 1;
            }
        }
        NameIndex {
            mask,
            heads,
            next,
            entries,
        }
    }

    pub(crate) fn heap_size(&self) -> usize {
        (self.heads.capacity()
            + self.next.capacity()
            + self.entries.as_ref().map_or(0, Vec::capacity))
            * 4
    }

    /// Call `f` for each type of `btf`'s own layer whose essential name is `ess`, in id order,
    /// until `f` returns false. Returns false if stopped.
    fn visit<'a>(&self, btf: &'a Btf, ess: &[u8], f: &mut dyn FnMut(Type<'a>) -> bool) -> bool {
        let mut cur = self
            .heads
            .get((hash(ess) & self.mask) as usize)
            .copied()
            .unwrap_or(0);
        let first = btf.first_id();
        let entries = self.entries.as_deref().unwrap_or(btf.named_non_funcs());
        while cur != 0 {
            let j = (cur - 1) as usize;
            cur = self.next.get(j).copied().unwrap_or(0);
            let Some(&i) = entries.get(j) else {
                continue;
            };
            let Ok(t) = btf.type_by_id(first + i) else {
                continue;
            };
            let Ok(name) = t.name_bytes() else { continue };
            if &name[..essential_name_len(name)] == ess && !f(t) {
                return false;
            }
        }
        true
    }
}

impl Btf {
    fn name_index(&self, part: IndexPart) -> &NameIndex {
        let cell = match part {
            IndexPart::Funcs => &self.func_index,
            IndexPart::Types => &self.index,
        };
        cell.get_or_init(|| NameIndex::build(self, part))
    }

    /// Build the name indexes now rather than on the first lookups (each layer builds its
    /// own; the FUNC part too).
    pub fn build_index(&self) {
        if let Some(base) = self.base() {
            base.build_index();
        }
        self.name_index(IndexPart::Types);
        self.name_index(IndexPart::Funcs);
    }

    /// Visit the types of one part (base first) whose essential name is `ess`, in id order,
    /// until `f` returns false.
    fn visit_essential<'a>(
        &'a self,
        ess: &[u8],
        part: IndexPart,
        f: &mut dyn FnMut(Type<'a>) -> bool,
    ) -> bool {
        if let Some(base) = self.base() {
            if !base.visit_essential(ess, part, f) {
                return false;
            }
        }
        self.name_index(part).visit(self, ess, f)
    }

    /// Ids of the types whose *essential* name equals the essential name of `name` and whose
    /// kind is `kind` (ENUM and ENUM64 count as one kind), in id order, base first: the
    /// candidates CO-RE considers for a local type.
    pub fn ids_by_essential_name(&self, name: &str, kind: BtfKind) -> Vec<u32> {
        let ess = essential_name(name).as_bytes();
        let mut out = Vec::new();
        if ess.is_empty() {
            return out;
        }
        let want_enum = kind.is_any_enum();
        self.visit_essential(ess, IndexPart::of(kind), &mut |t| {
            if t.kind() == kind || (want_enum && t.kind().is_any_enum()) {
                out.push(t.id());
            }
            true
        });
        out
    }

    /// Ids of all types named exactly `name`, of any kind, in id order.
    pub fn ids_by_name(&self, name: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if name.is_empty() {
            return out;
        }
        for part in [IndexPart::Types, IndexPart::Funcs] {
            self.visit_essential(essential_name(name).as_bytes(), part, &mut |t| {
                if t.name_bytes().is_ok_and(|n| n == name.as_bytes()) {
                    out.push(t.id());
                }
                true
            });
        }
        out.sort_unstable();
        out
    }

    /// The first type named exactly `name` with exactly this kind.
    pub fn id_by_name_kind(&self, name: &str, kind: BtfKind) -> Option<u32> {
        let mut found = None;
        if name.is_empty() {
            return None;
        }
        self.visit_essential(
            essential_name(name).as_bytes(),
            IndexPart::of(kind),
            &mut |t| {
                if t.kind() == kind && t.name_bytes().is_ok_and(|n| n == name.as_bytes()) {
                    found = Some(t.id());
                    return false;
                }
                true
            },
        );
        found
    }

    /// The first type named exactly `name` with this kind, as a view.
    pub fn type_by_name_kind(&self, name: &str, kind: BtfKind) -> Option<Type<'_>> {
        self.id_by_name_kind(name, kind)
            .and_then(|id| self.type_by_id(id).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names() {
        assert_eq!(essential_name("task_struct___v1"), "task_struct");
        assert_eq!(essential_name("task_struct"), "task_struct");
        assert_eq!(essential_name("a___b___c"), "a___b");
        assert_eq!(essential_name("a____b"), "a____b");
        assert_eq!(essential_name("___x"), "___x");
        assert_eq!(essential_name("x___"), "x___");
        assert_eq!(essential_name("x___y"), "x");
        assert_eq!(essential_name("abc"), "abc");
        assert_eq!(essential_name(""), "");
        assert_eq!(essential_name("abcdefg___h"), "abcdefg");
        assert_eq!(essential_name("abcde___h"), "abcde");
        assert_eq!(essential_name("abcdef___h"), "abcdef");
        for n in 0..20 {
            for name in [
                format!("{}x___y", "a".repeat(n)),
                format!("{}___", "_".repeat(n)),
                format!("a{}", "_b".repeat(n)),
                format!("{}__", "abc".repeat(n)),
            ] {
                for pad in 0..9 {
                    let mut strs = vec![b'z'; pad];
                    strs.extend_from_slice(name.as_bytes());
                    strs.push(0);
                    let ess = &name[..essential_name_len(name.as_bytes())];
                    assert_eq!(
                        hash_essential_at(&strs, pad),
                        (!name.is_empty()).then(|| hash(ess.as_bytes())),
                        "{name:?} at {pad}"
                    );
                }
            }
            let name = format!("{}x___y", "a".repeat(n));
            assert_eq!(essential_name(&name).len(), n + 1, "{name}");
            let name = format!("{}___", "a".repeat(n));
            assert!(has_triple_underscore(name.as_bytes()), "{name}");
            let name = format!("{}__a_", "a".repeat(n));
            assert!(!has_triple_underscore(name.as_bytes()), "{name}");
        }
    }
}
