//! Where the records of a little-endian `.BTF.ext` blob sit, so tests can rewrite one field,
//! and how to append a string to a `.BTF` blob (for new access strings).
#![allow(dead_code)]

fn word(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// `func_info`, `line_info`, `core_relo`: header words giving (offset, length).
pub const FUNC_INFO: usize = 8;
pub const LINE_INFO: usize = 16;
pub const CORE_RELO: usize = 24;

/// Offset in the blob of an info subsection's record-size word.
pub fn info_start(ext: &[u8], which: usize) -> usize {
    let hdr_len = word(ext, 4) as usize;
    hdr_len + word(ext, which) as usize
}

/// Offset in the blob of record `n` of the first section of an info subsection, and the
/// record size.
pub fn record(ext: &[u8], which: usize, n: usize) -> (usize, usize) {
    let start = info_start(ext, which);
    let rec = word(ext, start) as usize;
    // rec_size, then the first section's name_off and num_info.
    (start + 4 + 8 + n * rec, rec)
}

/// Sets the u32 at `off`.
pub fn put(ext: &mut [u8], off: usize, v: u32) {
    ext[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Reads the u32 at `off`.
pub fn get(ext: &[u8], off: usize) -> u32 {
    word(ext, off)
}

/// Appends `s` to a little-endian `.BTF` blob whose strings come last; returns its offset.
pub fn btf_add_string(btf: &mut Vec<u8>, s: &str) -> u32 {
    let hdr_len = word(btf, 4) as usize;
    let str_off = word(btf, 16) as usize;
    let str_len = word(btf, 20) as usize;
    assert_eq!(
        hdr_len + str_off + str_len,
        btf.len(),
        "strings are not last"
    );
    btf.extend_from_slice(s.as_bytes());
    btf.push(0);
    let new_len = (str_len + s.len() + 1) as u32;
    btf[20..24].copy_from_slice(&new_len.to_le_bytes());
    str_len as u32
}
