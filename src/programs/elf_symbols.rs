//! Function symbols of user-space binaries (`.symtab` and `.dynsym`, read with the `object`
//! crate) turned into the file offsets uprobes take, and the loadable segments that map
//! virtual addresses to file offsets.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SegmentFlags, SymbolKind};

use super::glob::glob_match;

/// A symbol that could not be resolved to a file offset.
#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    /// The binary could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The binary is not an ELF file we can read.
    #[error("{}: not a readable ELF file: {why}", path.display())]
    Parse {
        /// The binary.
        path: PathBuf,
        /// What the parser said.
        why: String,
    },
    /// No defined function of that name.
    #[error("{}: no function `{symbol}` in .symtab or .dynsym", path.display())]
    NotFound {
        /// The binary.
        path: PathBuf,
        /// The symbol.
        symbol: String,
    },
    /// Several definitions at different addresses, none preferred (global over weak over
    /// local).
    #[error("{}: `{symbol}` is defined at several addresses: {addresses:x?}", path.display())]
    Ambiguous {
        /// The binary.
        path: PathBuf,
        /// The symbol.
        symbol: String,
        /// The candidate addresses.
        addresses: Vec<u64>,
    },
    /// The address is in no loadable segment (or in one without code).
    #[error("{}: `{symbol}` at {address:#x} is in no executable loadable segment", path.display())]
    NoSegment {
        /// The binary.
        path: PathBuf,
        /// The symbol.
        symbol: String,
        /// Its virtual address.
        address: u64,
    },
    /// A bare library name that no search place has.
    #[error("library `{name}` not found in /etc/ld.so.cache, LD_LIBRARY_PATH or the standard library directories")]
    LibraryNotFound {
        /// The name.
        name: String,
    },
    /// A bare program name not in `PATH`.
    #[error("program `{name}` not found in PATH")]
    ProgramNotFound {
        /// The name.
        name: String,
    },
}

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address.
    pub vaddr: u64,
    /// Size in memory.
    pub memsz: u64,
    /// File offset.
    pub offset: u64,
    /// Whether it is executable.
    pub exec: bool,
}

/// A function symbol with its file offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSymbol {
    /// The name.
    pub name: String,
    /// Virtual address.
    pub address: u64,
    /// File offset (what a uprobe takes).
    pub offset: u64,
}

/// A binary's bytes, parsed on demand.
pub struct ElfBinary {
    path: PathBuf,
    data: Vec<u8>,
}

const PF_X: u32 = 1;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Binding {
    Local,
    Weak,
    Global,
}

impl ElfBinary {
    /// Reads `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<ElfBinary, SymbolError> {
        let path = path.as_ref().to_path_buf();
        let data = std::fs::read(&path).map_err(|source| SymbolError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(ElfBinary { path, data })
    }

    /// Wraps bytes already read from `path`.
    pub fn from_bytes(path: impl AsRef<Path>, data: Vec<u8>) -> ElfBinary {
        ElfBinary {
            path: path.as_ref().to_path_buf(),
            data,
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub(crate) fn parse(&self) -> Result<object::File<'_>, SymbolError> {
        object::File::parse(&*self.data).map_err(|e| SymbolError::Parse {
            path: self.path.clone(),
            why: e.to_string(),
        })
    }

    /// The `PT_LOAD` segments, in address order.
    pub fn segments(&self) -> Result<Vec<Segment>, SymbolError> {
        let file = self.parse()?;
        let mut segs: Vec<Segment> = file
            .segments()
            .map(|s| {
                let (offset, _) = s.file_range();
                let exec = match s.flags() {
                    SegmentFlags::Elf { p_flags, .. } => p_flags.0 & PF_X != 0,
                    _ => false,
                };
                Segment {
                    vaddr: s.address(),
                    memsz: s.size(),
                    offset,
                    exec,
                }
            })
            .collect();
        segs.sort_by_key(|s| s.vaddr);
        Ok(segs)
    }

    /// Every defined function whose name matches `pattern` (a glob), with its file offset;
    /// one entry per address (the best-bound name wins).
    pub fn functions_matching(&self, pattern: &str) -> Result<Vec<FunctionSymbol>, SymbolError> {
        self.functions(|name| glob_match(pattern, name))
    }

    /// The file offset of function `name` (`name@VERSION` and `name@@VERSION` also match
    /// `name`).
    pub fn function_offset(&self, name: &str) -> Result<u64, SymbolError> {
        let wanted = base_name(name);
        let found = self.functions(|sym| base_name(sym) == wanted)?;
        match found.as_slice() {
            [] => Err(SymbolError::NotFound {
                path: self.path.clone(),
                symbol: name.to_string(),
            }),
            [one] => Ok(one.offset),
            many => Err(SymbolError::Ambiguous {
                path: self.path.clone(),
                symbol: name.to_string(),
                addresses: many.iter().map(|f| f.address).collect(),
            }),
        }
    }

    /// Defined functions whose names pass `keep`, deduplicated by address; among several
    /// names of one address the strongest binding wins. For an exact-name lookup the result
    /// holds several entries only if the name is defined at several addresses with equal
    /// (strongest) binding.
    fn functions(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<FunctionSymbol>, SymbolError> {
        let file = self.parse()?;
        let segments = self.segments()?;
        let mut found: Vec<(Binding, String, u64, Option<u64>)> = Vec::new();
        for sym in file.symbols().chain(file.dynamic_symbols()) {
            if sym.kind() != SymbolKind::Text || !sym.is_definition() || sym.address() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            if !keep(name) {
                continue;
            }
            let binding = if sym.is_weak() {
                Binding::Weak
            } else if sym.is_global() {
                Binding::Global
            } else {
                Binding::Local
            };
            // Prefer the symbol's own section for the offset (as libbpf does).
            let from_section = sym
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .and_then(|s| {
                    let (off, _) = s.file_range()?;
                    sym.address().checked_sub(s.address())?.checked_add(off)
                });
            found.push((binding, name.to_string(), sym.address(), from_section));
        }
        // Strongest binding first, then dedup by address.
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
        let best = found.first().map(|f| f.0);
        let mut out: Vec<FunctionSymbol> = Vec::new();
        for (binding, name, address, from_section) in found {
            if out.iter().any(|f| f.address == address) {
                continue;
            }
            // For several addresses, keep only the strongest binding class.
            if Some(binding) != best && out.iter().any(|f| base_name(&f.name) == base_name(&name)) {
                continue;
            }
            let offset = match from_section.or_else(|| vaddr_to_offset(&segments, address, true)) {
                Some(o) => o,
                None => {
                    return Err(SymbolError::NoSegment {
                        path: self.path.clone(),
                        symbol: name,
                        address,
                    })
                }
            };
            out.push(FunctionSymbol {
                name,
                address,
                offset,
            });
        }
        out.sort_by_key(|f| f.address);
        Ok(out)
    }

    /// The ELF type: `ET_EXEC` (2) or `ET_DYN` (3), ...
    pub fn elf_type(&self) -> Result<u16, SymbolError> {
        let file = self.parse()?;
        Ok(match file.kind() {
            object::ObjectKind::Executable => 2,
            object::ObjectKind::Dynamic => 3,
            object::ObjectKind::Relocatable => 1,
            object::ObjectKind::Core => 4,
            _ => 0,
        })
    }
}

/// The name without an `@VERSION` / `@@VERSION` suffix.
fn base_name(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}

/// The file offset of virtual address `vaddr` in `segments` (only executable segments when
/// `exec`).
pub fn vaddr_to_offset(segments: &[Segment], vaddr: u64, exec: bool) -> Option<u64> {
    segments
        .iter()
        .filter(|s| !exec || s.exec)
        .find(|s| s.vaddr <= vaddr && vaddr - s.vaddr < s.memsz)
        .map(|s| vaddr - s.vaddr + s.offset)
}

/// The segment holding `vaddr`, if any.
pub fn segment_of(segments: &[Segment], vaddr: u64) -> Option<&Segment> {
    segments
        .iter()
        .find(|s| s.vaddr <= vaddr && vaddr - s.vaddr < s.memsz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_binary_functions_resolve() {
        let exe = ElfBinary::open("/proc/self/exe").unwrap();
        // `main` of the test harness is a defined function of every test binary.
        let off = exe.function_offset("main").unwrap();
        assert!(off > 0);
        let segs = exe.segments().unwrap();
        assert!(segs.iter().any(|s| s.exec));
        let missing = exe
            .function_offset("oxbpf_no_such_function_anywhere")
            .unwrap_err();
        assert!(matches!(missing, SymbolError::NotFound { .. }));
        assert!(missing
            .to_string()
            .contains("oxbpf_no_such_function_anywhere"));
    }

    #[test]
    fn garbage_is_a_parse_error_not_a_panic() {
        let bin = ElfBinary::from_bytes("/fake", b"\x7fELF\x02\x01\x01garbage".to_vec());
        assert!(matches!(
            bin.function_offset("x"),
            Err(SymbolError::Parse { .. })
        ));
        let empty = ElfBinary::from_bytes("/empty", Vec::new());
        assert!(empty.segments().is_err());
    }

    #[test]
    fn offsets_follow_segments() {
        let segs = [
            Segment {
                vaddr: 0x1000,
                memsz: 0x100,
                offset: 0x800,
                exec: true,
            },
            Segment {
                vaddr: 0x3000,
                memsz: 0x100,
                offset: 0x2000,
                exec: false,
            },
        ];
        assert_eq!(vaddr_to_offset(&segs, 0x1010, true), Some(0x810));
        assert_eq!(vaddr_to_offset(&segs, 0x3010, true), None);
        assert_eq!(vaddr_to_offset(&segs, 0x3010, false), Some(0x2010));
        assert_eq!(vaddr_to_offset(&segs, 0x1100, false), None);
        assert_eq!(base_name("malloc@@GLIBC_2.2.5"), "malloc");
    }
}
