//! The running kernel's build configuration, for `.kconfig` externs.
//!
//! libbpf reads `/boot/config-$(uname -r)` and falls back to `/proc/config.gz`; so do we. The
//! text is parsed into a map once per process, and only when an object declares a `CONFIG_*`
//! extern.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// One `CONFIG_*` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KconfigValue {
    /// `y`, `m` or `n` (also what `# CONFIG_X is not set` means).
    Tristate(Tristate),
    /// A quoted string, unescaped.
    Str(String),
    /// A decimal or hexadecimal number.
    Int(i64),
}

/// The value of a tristate (or bool) option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tristate {
    /// Built in.
    Yes,
    /// A module.
    Module,
    /// Not set.
    No,
}

/// A parsed kernel configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kconfig {
    values: HashMap<String, KconfigValue>,
    /// Where it was read from.
    pub source: Option<PathBuf>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KconfigError {
    /// Neither `/boot/config-R` nor `/proc/config.gz` could be read.
    #[error("cannot read the kernel configuration ({tried}): {source}")]
    Unavailable {
        /// The paths tried.
        tried: String,
        /// The last error.
        #[source]
        source: std::io::Error,
    },
}

impl Kconfig {
    /// Parses the text of a `.config` file. Unparseable lines are ignored, as libbpf does.
    pub fn parse(text: &str) -> Kconfig {
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    if name.starts_with("CONFIG_") {
                        values.insert(name.to_string(), KconfigValue::Tristate(Tristate::No));
                    }
                }
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            if !name.starts_with("CONFIG_") {
                continue;
            }
            if let Some(v) = parse_value(value) {
                values.insert(name.to_string(), v);
            }
        }
        Kconfig {
            values,
            source: None,
        }
    }

    /// Reads the running kernel's configuration (`/boot/config-R`, then `/proc/config.gz`).
    pub fn read_running() -> Result<Kconfig, KconfigError> {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let boot = PathBuf::from(format!("/boot/config-{release}"));
        let gz = PathBuf::from("/proc/config.gz");
        match std::fs::read_to_string(&boot) {
            Ok(text) => Ok(Kconfig {
                source: Some(boot),
                ..Kconfig::parse(&text)
            }),
            Err(_) => match read_gz(&gz) {
                Ok(text) => Ok(Kconfig {
                    source: Some(gz),
                    ..Kconfig::parse(&text)
                }),
                Err(source) => Err(KconfigError::Unavailable {
                    tried: format!("{}, {}", boot.display(), gz.display()),
                    source,
                }),
            },
        }
    }

    /// The running kernel's configuration, read once per process.
    pub fn running() -> Result<Arc<Kconfig>, Arc<KconfigError>> {
        static RUNNING: OnceLock<Result<Arc<Kconfig>, Arc<KconfigError>>> = OnceLock::new();
        RUNNING
            .get_or_init(|| Kconfig::read_running().map(Arc::new).map_err(Arc::new))
            .clone()
    }

    /// The value of `name` (`CONFIG_BPF_SYSCALL`), if the configuration mentions it.
    pub fn get(&self, name: &str) -> Option<&KconfigValue> {
        self.values.get(name)
    }

    /// Sets a value (tests, or a user overriding what the kernel says).
    pub fn set(&mut self, name: &str, value: KconfigValue) {
        self.values.insert(name.to_string(), value);
    }

    /// The number of options.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no option was found.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn parse_value(value: &str) -> Option<KconfigValue> {
    match value {
        "y" => return Some(KconfigValue::Tristate(Tristate::Yes)),
        "m" => return Some(KconfigValue::Tristate(Tristate::Module)),
        "n" => return Some(KconfigValue::Tristate(Tristate::No)),
        _ => {}
    }
    if let Some(inner) = value.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut s = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                s.push(chars.next()?);
            } else {
                s.push(c);
            }
        }
        return Some(KconfigValue::Str(s));
    }
    let (neg, digits) = match value.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, value),
    };
    let n = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()? as i64
    } else {
        digits.parse::<u64>().ok()? as i64
    };
    Some(KconfigValue::Int(if neg { n.wrapping_neg() } else { n }))
}

fn read_gz(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_value_form() {
        let k = Kconfig::parse(
            "# comment\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"a\\\"b\"\n\
             CONFIG_E=0x1f\nCONFIG_F=-3\nCONFIG_G=100\nNOT_CONFIG=y\nCONFIG_H=garbage\n",
        );
        assert_eq!(
            k.get("CONFIG_A"),
            Some(&KconfigValue::Tristate(Tristate::Yes))
        );
        assert_eq!(
            k.get("CONFIG_B"),
            Some(&KconfigValue::Tristate(Tristate::Module))
        );
        assert_eq!(
            k.get("CONFIG_C"),
            Some(&KconfigValue::Tristate(Tristate::No))
        );
        assert_eq!(k.get("CONFIG_D"), Some(&KconfigValue::Str("a\"b".into())));
        assert_eq!(k.get("CONFIG_E"), Some(&KconfigValue::Int(31)));
        assert_eq!(k.get("CONFIG_F"), Some(&KconfigValue::Int(-3)));
        assert_eq!(k.get("CONFIG_G"), Some(&KconfigValue::Int(100)));
        assert_eq!(k.get("NOT_CONFIG"), None);
        assert_eq!(k.get("CONFIG_H"), None);
    }

    #[test]
    fn running_kernel_has_bpf() {
        match Kconfig::running() {
            Ok(k) => assert_eq!(
                k.get("CONFIG_BPF"),
                Some(&KconfigValue::Tristate(Tristate::Yes)),
                "read from {:?}",
                k.source
            ),
            Err(e) => eprintln!("skipping: {e}"),
        }
    }
}
