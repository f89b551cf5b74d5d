//! Which kernel release added which attribute field, so that an E2BIG/EINVAL from an older
//! kernel can name the field it did not know.
//!
//! The kernel rejects a `bpf(2)` call whose attribute bytes are non-zero past what it knows:
//! with `E2BIG` beyond its `union bpf_attr`, with `EINVAL` beyond the command's last field.
//! Each attribute struct lists its fields with the release that added them; the error path
//! looks for the newest field holding a non-zero byte.

use std::fmt;
use std::sync::OnceLock;

/// A kernel release, `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl KernelVersion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// Parses the leading `major.minor` of a release string such as `6.18.44-fc-v669`.
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// The running kernel's release (from `uname`), cached; `None` if it cannot be parsed.
    pub fn running() -> Option<KernelVersion> {
        static RUNNING: OnceLock<Option<KernelVersion>> = OnceLock::new();
        *RUNNING.get_or_init(|| {
            let uts = nix::sys::utsname::uname().ok()?;
            KernelVersion::parse(&uts.release().to_string_lossy())
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One field of an attribute struct: where it starts and which release added it.
///
/// A field extends to the next listed field's offset (or the struct's end); fields of a C
/// union share an offset and are listed once, under the name of the newest member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The uapi field name.
    pub name: &'static str,
    /// Byte offset in the attribute struct.
    pub offset: usize,
    /// The release that added it.
    pub since: KernelVersion,
}

/// Shorthand for the field tables: `field("map_extra", 64, 5, 16)`.
pub(crate) const fn field(name: &'static str, offset: usize, major: u16, minor: u16) -> Field {
    Field {
        name,
        offset,
        since: KernelVersion::new(major, minor),
    }
}

/// The newest field (by release) of `fields` that holds a non-zero byte of `bytes`, if it is
/// newer than the struct's first field (i.e. not part of the command's original layout).
pub(crate) fn newest_nonzero_field(bytes: &[u8], fields: &[Field]) -> Option<Field> {
    let base = fields.iter().map(|f| f.since).min()?;
    let mut newest: Option<Field> = None;
    for (i, f) in fields.iter().enumerate() {
        let end = fields
            .get(i + 1)
            .map_or(bytes.len(), |next| next.offset)
            .min(bytes.len());
        let nonzero = bytes
            .get(f.offset..end)
            .is_some_and(|b| b.iter().any(|&x| x != 0));
        if nonzero && f.since > base && newest.is_none_or(|n| f.since > n.since) {
            newest = Some(*f);
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_strings() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v669"),
            Some(KernelVersion::new(6, 18))
        );
        assert_eq!(KernelVersion::parse("5.4"), Some(KernelVersion::new(5, 4)));
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::new(6, 9) > KernelVersion::new(5, 16));
        assert_eq!(KernelVersion::new(4, 18).to_string(), "4.18");
    }

    #[test]
    fn finds_newest_nonzero_field() {
        let fields = [
            field("a", 0, 4, 0),
            field("b", 4, 5, 0),
            field("c", 8, 6, 0),
        ];
        let mut bytes = [0u8; 12];
        assert_eq!(newest_nonzero_field(&bytes, &fields), None);
        bytes[0] = 1;
        assert_eq!(newest_nonzero_field(&bytes, &fields), None);
        bytes[5] = 1;
        assert_eq!(
            newest_nonzero_field(&bytes, &fields).map(|f| f.name),
            Some("b")
        );
        bytes[11] = 1;
        assert_eq!(
            newest_nonzero_field(&bytes, &fields).map(|f| f.name),
            Some("c")
        );
        // A truncated buffer never panics.
        assert_eq!(
            newest_nonzero_field(&bytes[..6], &fields).map(|f| f.name),
            Some("b")
        );
    }
}
