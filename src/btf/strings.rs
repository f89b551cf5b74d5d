//! The string section: NUL-terminated names addressed by byte offset.

use std::ffi::CStr;

use super::error::BtfError;

/// Validate a string section (`base` tells whether this is the first layer, which must start
/// with an empty string; split BTF may have an empty string section).
pub(crate) fn validate(strs: &[u8], base: bool) -> Result<(), BtfError> {
    if !base && strs.is_empty() {
        return Ok(());
    }
    match (strs.first(), strs.last()) {
        (None, _) => Err(BtfError::BadStringSection("empty")),
        (_, Some(&last)) if last != 0 => Err(BtfError::BadStringSection("does not end with NUL")),
        (Some(&first), _) if base && first != 0 => Err(BtfError::BadStringSection(
            "does not start with an empty string (split BTF without its base?)",
        )),
        _ => Ok(()),
    }
}

/// The raw bytes (without NUL) of the string at `local` within `strs`; `offset` is the
/// offset as the type wrote it, for the error.
#[inline]
pub(crate) fn bytes_at(strs: &[u8], local: usize, offset: u32) -> Result<&[u8], BtfError> {
    let tail = strs.get(local..).unwrap_or_default();
    // A validated section ends with NUL, so this only fails on an empty tail.
    CStr::from_bytes_until_nul(tail)
        .map(CStr::to_bytes)
        .map_err(|_| BtfError::BadString {
            offset,
            problem: "not NUL-terminated",
        })
}

/// Like [`bytes_at`] but checked to be UTF-8.
#[inline]
pub(crate) fn str_at(strs: &[u8], local: usize, offset: u32) -> Result<&str, BtfError> {
    std::str::from_utf8(bytes_at(strs, local, offset)?).map_err(|_| BtfError::BadString {
        offset,
        problem: "not UTF-8",
    })
}
