//! Everything the probes know, gathered for display (`oxbpf feature`): [`all`] and
//! [`Features`], printed as text (`Display`) or JSON ([`Features::to_json`]).

use std::fmt::{self, Write as _};

use super::kernel::{system, SystemSettings};
use super::probe::ProbeError;
use super::{has, helpers, link_type, map_type, prog_type, testing, Feature};
use crate::insn::helper_name;
use crate::syscall::{LinkType, MapType, ProgType};

/// One probe's outcome.
pub type Answer = Result<bool, ProbeError>;

/// A report of the running kernel's BPF features.
#[derive(Clone, Debug)]
pub struct Features {
    /// `uname -r`.
    pub kernel_release: String,
    /// The BPF sysctls.
    pub system: SystemSettings,
    /// Every [`Feature`].
    pub features: Vec<(Feature, Answer)>,
    /// Every program type this crate knows.
    pub prog_types: Vec<(ProgType, Answer)>,
    /// Every map type this crate knows.
    pub map_types: Vec<(MapType, Answer)>,
    /// Every link type this crate knows.
    pub link_types: Vec<(LinkType, Answer)>,
    /// Helpers available per loadable program type (filled by [`all_with_helpers`]).
    pub helpers: Vec<(ProgType, Result<Vec<i32>, ProbeError>)>,
    /// Features forced missing by [`testing`] (their answers above are `false`).
    pub forced_missing: Vec<Feature>,
}

fn release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Probes every feature, program, map and link type (answers come from the caches when
/// already known). Helpers are left out: see [`all_with_helpers`].
pub fn all() -> Features {
    Features {
        kernel_release: release(),
        system: system(),
        features: Feature::ALL.iter().map(|f| (*f, has(*f))).collect(),
        prog_types: known(ProgType::ALL, ProgType::UNSPEC, prog_type),
        map_types: known(MapType::ALL, MapType::UNSPEC, map_type),
        link_types: known(LinkType::ALL, LinkType::UNSPEC, link_type),
        helpers: Vec::new(),
        forced_missing: testing::forced_missing(),
    }
}

fn known<T: Copy + PartialEq>(all: &[T], unspec: T, probe: fn(T) -> Answer) -> Vec<(T, Answer)> {
    all.iter()
        .copied()
        .filter(|t| *t != unspec)
        .map(|t| (t, probe(t)))
        .collect()
}

/// [`all`], plus the helpers of every program type that loads (several thousand tiny
/// loads the first time: about a second).
pub fn all_with_helpers() -> Features {
    let mut f = all();
    f.helpers = f
        .prog_types
        .iter()
        .filter(|(_, a)| matches!(a, Ok(true)))
        .map(|(t, _)| (*t, helpers(*t)))
        .collect();
    f
}

fn lower(name: Option<&str>, raw: u32) -> String {
    name.map_or_else(|| raw.to_string(), str::to_ascii_lowercase)
}

fn answer_text(a: &Answer) -> String {
    match a {
        Ok(true) => "yes".into(),
        Ok(false) => "no".into(),
        Err(e) => format!("unknown ({e})"),
    }
}

impl Features {
    /// The answer for `feature`, if it is in the report.
    pub fn get(&self, feature: Feature) -> Option<&Answer> {
        self.features
            .iter()
            .find(|(f, _)| *f == feature)
            .map(|(_, a)| a)
    }

    /// The report as one JSON object: `kernel`, `system` (sysctl → value), `features`,
    /// `program_types`, `map_types`, `link_types` (name → `true`/`false`, or `{"error":
    /// "..."}`), `helpers` (program type → helper names) and `forced_missing`.
    pub fn to_json(&self) -> String {
        let mut o = String::from("{");
        let _ = write!(o, "\"kernel\":{}", json_str(&self.kernel_release));
        o.push_str(",\"system\":{");
        let sys: Vec<String> = self
            .system
            .entries()
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_str(k)))
            .collect();
        o.push_str(&sys.join(","));
        o.push('}');
        let section = |o: &mut String, key: &str, items: Vec<(String, &Answer)>| {
            let _ = write!(o, ",{}:{{", json_str(key));
            let body: Vec<String> = items
                .into_iter()
                .map(|(name, a)| format!("{}:{}", json_str(&name), json_answer(a)))
                .collect();
            o.push_str(&body.join(","));
            o.push('}');
        };
        section(
            &mut o,
            "features",
            self.features
                .iter()
                .map(|(f, a)| (f.name().to_string(), a))
                .collect(),
        );
        section(
            &mut o,
            "program_types",
            self.prog_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        );
        section(
            &mut o,
            "map_types",
            self.map_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        );
        section(
            &mut o,
            "link_types",
            self.link_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        );
        o.push_str(",\"helpers\":{");
        let helpers: Vec<String> = self
            .helpers
            .iter()
            .map(|(t, h)| {
                let value = match h {
                    Ok(ids) => {
                        let names: Vec<String> =
                            ids.iter().map(|id| json_str(&helper(*id))).collect();
                        format!("[{}]", names.join(","))
                    }
                    Err(e) => format!("{{\"error\":{}}}", json_str(&e.to_string())),
                };
                format!("{}:{value}", json_str(&lower(t.short_name(), t.0)))
            })
            .collect();
        o.push_str(&helpers.join(","));
        o.push('}');
        let forced: Vec<String> = self
            .forced_missing
            .iter()
            .map(|f| json_str(f.name()))
            .collect();
        let _ = write!(o, ",\"forced_missing\":[{}]", forced.join(","));
        o.push('}');
        o
    }
}

fn helper(id: i32) -> String {
    helper_name(id).map_or_else(|| format!("helper#{id}"), str::to_string)
}

fn json_answer(a: &Answer) -> String {
    match a {
        Ok(b) => b.to_string(),
        Err(e) => format!("{{\"error\":{}}}", json_str(&e.to_string())),
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Kernel {}", self.kernel_release)?;
        writeln!(f, "{}", self.system)?;
        if !self.forced_missing.is_empty() {
            let names: Vec<&str> = self.forced_missing.iter().map(|x| x.name()).collect();
            writeln!(f, "Forced missing: {}", names.join(", "))?;
        }
        writeln!(f, "\nFeatures:")?;
        for (feat, a) in &self.features {
            writeln!(f, "  {:<20} {}", feat.name(), answer_text(a))?;
        }
        let mut list = |title: &str, items: Vec<(String, &Answer)>| -> fmt::Result {
            writeln!(f, "\n{title}:")?;
            for (name, a) in items {
                writeln!(f, "  {name:<24} {}", answer_text(a))?;
            }
            Ok(())
        };
        list(
            "Program types",
            self.prog_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        )?;
        list(
            "Map types",
            self.map_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        )?;
        list(
            "Link types",
            self.link_types
                .iter()
                .map(|(t, a)| (lower(t.short_name(), t.0), a))
                .collect(),
        )?;
        for (t, h) in &self.helpers {
            writeln!(f, "\nHelpers for {}:", lower(t.short_name(), t.0))?;
            match h {
                Ok(ids) => {
                    for id in ids {
                        writeln!(f, "  {}", helper(*id))?;
                    }
                }
                Err(e) => writeln!(f, "  unknown ({e})")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, Command, SyscallError};

    #[test]
    fn json_is_well_formed_and_escaped() {
        assert_eq!(json_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        let err = ProbeError::Permission {
            probe: "x".into(),
            source: SyscallError::new(Call::Bpf(Command::PROG_LOAD), nix::errno::Errno::EPERM),
            privileged: false,
        };
        let f = Features {
            kernel_release: "6.18".into(),
            system: SystemSettings {
                jit_enable: Some(1),
                ..Default::default()
            },
            features: vec![(Feature::Btf, Ok(true)), (Feature::BtfFunc, Err(err))],
            prog_types: vec![(ProgType::XDP, Ok(false))],
            map_types: vec![],
            link_types: vec![],
            helpers: vec![(ProgType::XDP, Ok(vec![1]))],
            forced_missing: vec![Feature::BtfFloat],
        };
        let j = f.to_json();
        assert!(j.starts_with("{\"kernel\":\"6.18\",\"system\":{\"net.core.bpf_jit_enable\":1}"));
        assert!(j.contains("\"features\":{\"btf\":true,\"btf_func\":{\"error\":\"probe `x`"));
        assert!(j.contains("\"program_types\":{\"xdp\":false}"));
        assert!(j.contains("\"helpers\":{\"xdp\":[\"bpf_map_lookup_elem\"]}"));
        assert!(j.ends_with(",\"forced_missing\":[\"btf_float\"]}"));
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        let text = f.to_string();
        assert!(text.contains("btf_func"));
        assert!(text.contains("permission denied"));
        assert!(text.contains("Forced missing: btf_float"));
    }
}
