//! `/proc/kallsyms`: kernel symbol addresses, for typeless `.ksyms` externs and kprobe.multi.
//!
//! Read once per process, only when something asks. Addresses read as zero without
//! `CAP_SYSLOG` (kptr_restrict); [`Kallsyms::addresses_hidden`] tells.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A kernel symbol table.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    /// name → (address, module or empty for vmlinux); the first occurrence wins.
    symbols: HashMap<String, (u64, String)>,
    hidden: bool,
}

impl Kallsyms {
    /// Parses the text of `/proc/kallsyms` (`ADDR TYPE NAME [MODULE]`).
    pub fn parse(text: &str) -> Kallsyms {
        let mut symbols = HashMap::new();
        let mut nonzero = false;
        for line in text.lines() {
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(_kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            nonzero |= addr != 0;
            let module = it
                .next()
                .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string())
                .unwrap_or_default();
            symbols.entry(name.to_string()).or_insert((addr, module));
        }
        Kallsyms {
            hidden: !symbols.is_empty() && !nonzero,
            symbols,
        }
    }

    /// This machine's symbols, read once per process.
    pub fn running() -> Result<Arc<Kallsyms>, Arc<std::io::Error>> {
        static RUNNING: OnceLock<Result<Arc<Kallsyms>, Arc<std::io::Error>>> = OnceLock::new();
        RUNNING
            .get_or_init(|| {
                std::fs::read_to_string("/proc/kallsyms")
                    .map(|t| Arc::new(Kallsyms::parse(&t)))
                    .map_err(Arc::new)
            })
            .clone()
    }

    /// The address of `name`.
    pub fn address(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).map(|(a, _)| *a)
    }

    /// The module that defines `name` (empty for vmlinux).
    pub fn module(&self, name: &str) -> Option<&str> {
        self.symbols.get(name).map(|(_, m)| m.as_str())
    }

    /// Whether every address read as zero (no `CAP_SYSLOG`, or `kptr_restrict`).
    pub fn addresses_hidden(&self) -> bool {
        self.hidden
    }

    /// The number of distinct symbol names.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Every symbol, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.symbols.iter().map(|(n, (a, _))| (n.as_str(), *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_modules() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffffc0001000 t foo\t[kvm]\nbad line\n0 T zero\n",
        );
        assert_eq!(k.address("_stext"), Some(0xffffffff81000000));
        assert_eq!(k.module("foo"), Some("kvm"));
        assert_eq!(k.module("_stext"), Some(""));
        assert_eq!(k.address("zero"), Some(0));
        assert!(!k.addresses_hidden());
        assert!(Kallsyms::parse("0 T a\n0 T b\n").addresses_hidden());
    }
}
