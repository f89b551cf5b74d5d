//! Finding the binary a uprobe names: a path as given, a shared library by name
//! (`libc.so.6`: `/etc/ld.so.cache`, then `LD_LIBRARY_PATH` and the standard directories),
//! or a program by name (`bash`: `PATH`), as libbpf does.

use std::path::PathBuf;

use super::elf_symbols::SymbolError;

const LD_CACHE: &str = "/etc/ld.so.cache";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache";
const NEW_VERSION: &[u8] = b"1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";

/// `FLAG_ELF_LIBC6`: a glibc ELF library.
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// The architecture bits of a cache entry's flags that this machine can load.
fn arch_flags() -> Option<i32> {
    match std::env::consts::ARCH {
        "x86_64" => Some(0x0300),  // FLAG_X8664_LIB64
        "aarch64" => Some(0x0a00), // FLAG_AARCH64_LIB64
        "s390x" => Some(0x0400),   // FLAG_S390_LIB64
        "powerpc64" => Some(0x0500),
        _ => None,
    }
}

/// The directories searched after the cache.
const STANDARD_DIRS: &[&str] = &[
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

/// Resolves `name` as libbpf does: a path (with a `/`) as is; a name with `.so` as a shared
/// library; anything else as a program in `PATH`.
pub fn resolve_binary(name: &str) -> Result<PathBuf, SymbolError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    if name.contains(".so") {
        return find_library(name).ok_or_else(|| SymbolError::LibraryNotFound {
            name: name.to_string(),
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| SymbolError::ProgramNotFound {
            name: name.to_string(),
        })
}

/// A shared library by file name: the loader cache first, then `LD_LIBRARY_PATH`, then the
/// standard directories.
pub fn find_library(name: &str) -> Option<PathBuf> {
    if let Ok(cache) = std::fs::read(LD_CACHE) {
        if let Some(p) = ld_cache_lookup(&cache, name).filter(|p| p.is_file()) {
            return Some(p);
        }
    }
    let extra = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
    std::env::split_paths(&extra)
        .chain(STANDARD_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn c_str_at(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..end])
}

/// Looks `name` up in the bytes of an `ld.so.cache` (the new `glibc-ld.so.cache1.1` format,
/// alone or after the old one), preferring entries for this architecture.
pub fn ld_cache_lookup(cache: &[u8], name: &str) -> Option<PathBuf> {
    let start = new_format_start(cache)?;
    let table = cache.get(start..)?;
    // struct cache_file_new: magic[17], version[3], nlibs, len_strings, flags[4],
    // extension_offset, unused[3]: 48 bytes; then 24-byte entries. String offsets are from
    // the start of the new-format header.
    let nlibs = u32_at(table, 20)? as usize;
    let arch = arch_flags();
    let mut fallback = None;
    for i in 0..nlibs.min(1 << 20) {
        let entry = 48 + i * 24;
        let flags = u32_at(table, entry)? as i32;
        let key = u32_at(table, entry + 4)? as usize;
        let value = u32_at(table, entry + 8)? as usize;
        if c_str_at(table, key)? != name.as_bytes() {
            continue;
        }
        let path = PathBuf::from(String::from_utf8_lossy(c_str_at(table, value)?).into_owned());
        if flags & 0xff != FLAG_ELF_LIBC6 & 0xff {
            continue;
        }
        match arch {
            Some(a) if flags & 0xff00 == a => return Some(path),
            _ => {
                fallback.get_or_insert(path);
            }
        }
    }
    fallback
}

fn new_format_start(cache: &[u8]) -> Option<usize> {
    if cache.starts_with(NEW_MAGIC) {
        return cache
            .get(NEW_MAGIC.len()..NEW_MAGIC.len() + 3)
            .filter(|v| *v == NEW_VERSION)
            .map(|_| 0);
    }
    if cache.starts_with(OLD_MAGIC) {
        // Old header (magic padded to 12, nlibs) and 12-byte entries, then the new format
        // at the next 8-byte boundary.
        let nlibs = u32_at(cache, 12)? as usize;
        let end = 16usize.checked_add(nlibs.checked_mul(12)?)?;
        let aligned = end.next_multiple_of(8);
        return cache
            .get(aligned..)
            .filter(|rest| rest.starts_with(NEW_MAGIC))
            .map(|_| aligned);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic_cache(entries: &[(i32, &str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let header_len = 48 + entries.len() * 24;
        let mut table = Vec::new();
        for (flags, key, value) in entries {
            let k = header_len + strings.len();
            strings.extend_from_slice(key.as_bytes());
            strings.push(0);
            let v = header_len + strings.len();
            strings.extend_from_slice(value.as_bytes());
            strings.push(0);
            table.extend_from_slice(&flags.to_ne_bytes());
            table.extend_from_slice(&(k as u32).to_ne_bytes());
            table.extend_from_slice(&(v as u32).to_ne_bytes());
            table.extend_from_slice(&[0u8; 12]);
        }
        let mut out = Vec::new();
        out.extend_from_slice(NEW_MAGIC);
        out.extend_from_slice(NEW_VERSION);
        out.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        out.extend_from_slice(&[0u8; 20]);
        out.extend_from_slice(&table);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn cache_entries_for_this_arch_win() {
        let arch = arch_flags().unwrap_or(0);
        let cache = synthetic_cache(&[
            (0x0003, "libfoo.so.1", "/lib32/libfoo.so.1"),
            (0x0003 | arch, "libfoo.so.1", "/lib64/libfoo.so.1"),
        ]);
        let want = if arch == 0 {
            "/lib32/libfoo.so.1"
        } else {
            "/lib64/libfoo.so.1"
        };
        assert_eq!(
            ld_cache_lookup(&cache, "libfoo.so.1"),
            Some(PathBuf::from(want))
        );
        assert_eq!(ld_cache_lookup(&cache, "libbar.so"), None);
        // Truncated or foreign bytes: no answer, no panic.
        assert_eq!(ld_cache_lookup(&cache[..60], "libfoo.so.1"), None);
        assert_eq!(ld_cache_lookup(b"garbage", "libfoo.so.1"), None);
        let mut bad = cache.clone();
        bad[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ld_cache_lookup(&bad, "nothing"), None);
    }

    #[test]
    fn libc_resolves_on_this_machine() {
        let p = resolve_binary("libc.so.6").unwrap();
        assert!(p.is_file(), "{}", p.display());
        assert_eq!(resolve_binary("/bin/sh").unwrap(), PathBuf::from("/bin/sh"));
        assert!(resolve_binary("sh").unwrap().is_file());
        assert!(matches!(
            resolve_binary("libnope-oxbpf.so.9"),
            Err(SymbolError::LibraryNotFound { .. })
        ));
    }
}
