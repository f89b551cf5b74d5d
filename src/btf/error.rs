//! The error type of the BTF area.

use super::kind::BtfKind;

/// Everything that can go wrong while reading, looking up, writing or dumping BTF.
///
/// Each variant names the type id, offset or section at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BtfError {
    /// The data is shorter than the fixed part of the header.
    #[error("{what}: truncated header ({len} bytes, need {need})")]
    TruncatedHeader {
        /// `BTF` or `BTF.ext`.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The magic number is not 0xeB9F in either byte order.
    #[error("{what}: bad magic {magic:#06x}")]
    BadMagic {
        /// `BTF` or `BTF.ext`.
        what: &'static str,
        /// The first two bytes, read little-endian.
        magic: u16,
    },
    /// The version byte is not 1.
    #[error("{what}: unsupported version {version}")]
    BadVersion {
        /// `BTF` or `BTF.ext`.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// `hdr_len` is smaller than the fixed header or larger than the data.
    #[error("{what}: bad header length {hdr_len} (data is {len} bytes)")]
    BadHeaderLen {
        /// `BTF` or `BTF.ext`.
        what: &'static str,
        /// The header's `hdr_len`.
        hdr_len: u32,
        /// Bytes available.
        len: usize,
    },
    /// A section named by the header lies outside the data, overlaps another or is misaligned.
    #[error("{what}: {section} section (offset {off}, length {len}) {problem}")]
    BadSection {
        /// `BTF` or `BTF.ext`.
        what: &'static str,
        /// `type`, `string`, `func_info`, `line_info` or `core_relo`.
        section: &'static str,
        /// Offset relative to the end of the header.
        off: u32,
        /// Length.
        len: u32,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The string section is empty, does not start with NUL (for base BTF) or does not end
    /// with NUL.
    #[error("BTF string section malformed: {0}")]
    BadStringSection(&'static str),
    /// A string offset is past the end of the string section(s).
    #[error("BTF string offset {offset} out of range (strings end at {end})")]
    StringOutOfRange {
        /// The offset.
        offset: u32,
        /// One past the last valid string offset.
        end: u32,
    },
    /// A string is not NUL-terminated or not valid UTF-8.
    #[error("BTF string at offset {offset} is malformed ({problem})")]
    BadString {
        /// The offset.
        offset: u32,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A type record runs past the end of the type section.
    #[error("BTF type [{id}] at type-section offset {offset}: truncated (needs {need} bytes, {left} left)")]
    TruncatedType {
        /// The type id being parsed.
        id: u32,
        /// Offset within the type section.
        offset: usize,
        /// Bytes the record needs (with its vlen).
        need: usize,
        /// Bytes left in the section.
        left: usize,
    },
    /// A type record has a kind this crate does not know.
    #[error("BTF type [{id}] at type-section offset {offset}: unknown kind {kind}")]
    UnknownKind {
        /// The type id.
        id: u32,
        /// Offset within the type section.
        offset: usize,
        /// The raw kind number.
        kind: u32,
    },
    /// A type id is past the last type.
    #[error("BTF type id {id} out of range (last id is {last})")]
    TypeIdOutOfRange {
        /// The id asked for.
        id: u32,
        /// The last valid id.
        last: u32,
    },
    /// A chain of modifiers/typedefs or a nesting of types loops or nests too deep.
    #[error("BTF type [{id}]: {}", loop_problem(*limit))]
    TypeLoop {
        /// The type where the walk started.
        id: u32,
        /// The depth limit (0: a cycle was seen, no depth was counted).
        limit: u32,
    },
    /// A walk over the types would take too long (adversarial nesting); stopped after
    /// `limit` steps.
    #[error("BTF type [{id}]: too complex to walk (stopped after {limit} steps)")]
    TooComplex {
        /// The type where the walk started.
        id: u32,
        /// The step limit.
        limit: u64,
    },
    /// A type is not of the kind an operation needs.
    #[error("BTF type [{id}] is {kind}, expected {expected}")]
    UnexpectedKind {
        /// The type id.
        id: u32,
        /// Its kind.
        kind: BtfKind,
        /// What was expected.
        expected: &'static str,
    },
    /// A size computation overflowed or a type has no size (void, func, fwd).
    #[error("BTF type [{id}] ({kind}): {problem}")]
    BadSize {
        /// The type id.
        id: u32,
        /// Its kind (`void` for id 0).
        kind: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A `.BTF.ext` info section is malformed.
    #[error("BTF.ext {section}: {problem} at offset {offset}")]
    BadExt {
        /// `func_info`, `line_info` or `core_relo`.
        section: &'static str,
        /// Offset within that info section.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The writer was asked to produce BTF it cannot encode.
    #[error("BTF writer: type [{id}]: {problem}")]
    Encode {
        /// The type id.
        id: u32,
        /// What cannot be encoded.
        problem: String,
    },
    /// A DATASEC fix-up lacked the ELF facts it needs.
    #[error("BTF DATASEC '{section}': {problem}")]
    Datasec {
        /// The section name.
        section: String,
        /// What is missing or wrong.
        problem: String,
    },
}

fn loop_problem(limit: u32) -> String {
    match limit {
        0 => "type refers back to itself".to_string(),
        l => format!("type chain loops or nests deeper than {l}"),
    }
}
