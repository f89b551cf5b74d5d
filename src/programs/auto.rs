//! Auto-attach: the attach target written in a section name (the text after the first `/`)
//! parsed by libbpf's rules for each kind, and [`attach_auto`], which attaches a program from
//! it.
//!
//! | kind | target syntax | example |
//! |---|---|---|
//! | kprobe / kretprobe | `func[+offset]` (no offset for kretprobe) | `do_unlinkat`, `tcp_v4_connect+0x10` |
//! | ksyscall / kretsyscall | syscall name | `openat` |
//! | kprobe.multi / kprobe.session | function or glob | `tcp_*` |
//! | uprobe / uretprobe | `binary:func[+offset]` or `binary:offset` | `/usr/lib/x86_64-linux-gnu/libc.so.6:malloc`, `libc.so.6:free` |
//! | uprobe.multi | `binary:pattern` | `/bin/bash:readline*` |
//! | usdt | `binary:provider:name` | `/usr/bin/python3:python:function__entry` |
//! | tracepoint / tp | `category/name` | `syscalls/sys_enter_openat` |
//! | raw_tp | name | `sys_enter` |
//! | tp_btf, fentry, fexit, fmod_ret, freplace, lsm, iter | resolved at load | `do_unlinkat`, `file_open`, `task` |

use super::error::{AttachErrorKind, Result};
use super::iter::IterTarget;
use super::kprobe::{KprobeMultiOptions, KprobeMultiTargets, KprobeOptions};
use super::link::Link;
use super::uprobe::{UprobeLocation, UprobeMultiLocations, UprobeMultiOptions, UprobeOptions};
use super::usdt::{UsdtMaps, UsdtOptions};
use super::Program;

/// How a section's program is attached automatically: the object parser's classification
/// (one enum for both).
pub use crate::object::AutoAttach;

/// Section names of libbpf's table that have an auto-attach handler (all `name+` entries),
/// with their kind and return flag. Matching is exact or `name/...`, so order is irrelevant
/// (`kprobe.multi/x` never matches `kprobe`).
const AUTO_SECTIONS: &[(&str, AutoAttach, bool)] = &[
    ("uretprobe.multi.s", AutoAttach::UprobeMulti, true),
    ("uprobe.session.s", AutoAttach::UprobeMulti, false),
    ("uprobe.multi.s", AutoAttach::UprobeMulti, false),
    ("uretprobe.multi", AutoAttach::UprobeMulti, true),
    ("kretprobe.multi", AutoAttach::KprobeMulti, true),
    ("fsession.multi.s", AutoAttach::TracingMulti, false),
    ("fentry.multi.s", AutoAttach::TracingMulti, false),
    ("fexit.multi.s", AutoAttach::TracingMulti, true),
    ("raw_tracepoint.s", AutoAttach::RawTracepoint, false),
    ("raw_tracepoint.w", AutoAttach::RawTracepoint, false),
    ("uprobe.session", AutoAttach::UprobeMulti, false),
    ("kprobe.session", AutoAttach::KprobeSession, false),
    ("fsession.multi", AutoAttach::TracingMulti, false),
    ("raw_tracepoint", AutoAttach::RawTracepoint, false),
    ("uprobe.multi", AutoAttach::UprobeMulti, false),
    ("kprobe.multi", AutoAttach::KprobeMulti, false),
    ("fentry.multi", AutoAttach::TracingMulti, false),
    ("fexit.multi", AutoAttach::TracingMulti, true),
    ("tracepoint.s", AutoAttach::Tracepoint, false),
    ("uretprobe.s", AutoAttach::Uprobe, true),
    ("kretsyscall", AutoAttach::Ksyscall, true),
    ("fmod_ret.s", AutoAttach::Trace, false),
    ("tracepoint", AutoAttach::Tracepoint, false),
    ("fsession.s", AutoAttach::Trace, false),
    ("uretprobe", AutoAttach::Uprobe, true),
    ("kretprobe", AutoAttach::Kprobe, true),
    ("raw_tp.s", AutoAttach::RawTracepoint, false),
    ("raw_tp.w", AutoAttach::RawTracepoint, false),
    ("uprobe.s", AutoAttach::Uprobe, false),
    ("ksyscall", AutoAttach::Ksyscall, false),
    ("tp_btf.s", AutoAttach::Trace, false),
    ("fentry.s", AutoAttach::Trace, false),
    ("fmod_ret", AutoAttach::Trace, false),
    ("freplace", AutoAttach::Trace, false),
    ("fsession", AutoAttach::Trace, false),
    ("fexit.s", AutoAttach::Trace, true),
    ("raw_tp", AutoAttach::RawTracepoint, false),
    ("uprobe", AutoAttach::Uprobe, false),
    ("kprobe", AutoAttach::Kprobe, false),
    ("tp_btf", AutoAttach::Trace, false),
    ("fentry", AutoAttach::Trace, false),
    ("usdt.s", AutoAttach::Usdt, false),
    ("iter.s", AutoAttach::Iter, false),
    ("lsm.s", AutoAttach::Lsm, false),
    ("fexit", AutoAttach::Trace, true),
    ("tp.s", AutoAttach::Tracepoint, false),
    ("usdt", AutoAttach::Usdt, false),
    ("iter", AutoAttach::Iter, false),
    ("lsm", AutoAttach::Lsm, false),
    ("tp", AutoAttach::Tracepoint, false),
];

impl AutoAttach {
    /// Classifies a section name by the auto-attach entries of libbpf's table (`name+`
    /// matching: `name` or `name/...`; a leading `?` is ignored): the kind, the return flag,
    /// and the target after the first `/` (`None` when the section has none).
    pub fn classify(section: &str) -> (AutoAttach, bool, Option<&str>) {
        let sec = section.strip_prefix('?').unwrap_or(section);
        for &(prefix, kind, ret) in AUTO_SECTIONS {
            if sec == prefix {
                return (kind, ret, None);
            }
            if let Some(target) = sec.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
                return (kind, ret, Some(target));
            }
        }
        (AutoAttach::None, false, None)
    }

    /// The section spelling used in messages.
    fn label(self, is_return: bool) -> &'static str {
        match (self, is_return) {
            (AutoAttach::None, _) => "(not auto-attachable)",
            (AutoAttach::Kprobe, false) => "kprobe",
            (AutoAttach::Kprobe, true) => "kretprobe",
            (AutoAttach::Uprobe, false) => "uprobe",
            (AutoAttach::Uprobe, true) => "uretprobe",
            (AutoAttach::Tracepoint, _) => "tracepoint",
            (AutoAttach::RawTracepoint, _) => "raw_tp",
            (AutoAttach::Trace, _) => "tp_btf/fentry/fexit/fmod_ret/freplace",
            (AutoAttach::Lsm, _) => "lsm",
            (AutoAttach::Iter, _) => "iter",
            (AutoAttach::Usdt, _) => "usdt",
            (AutoAttach::Ksyscall, false) => "ksyscall",
            (AutoAttach::Ksyscall, true) => "kretsyscall",
            (AutoAttach::KprobeMulti, false) => "kprobe.multi",
            (AutoAttach::KprobeMulti, true) => "kretprobe.multi",
            (AutoAttach::KprobeSession, _) => "kprobe.session",
            (AutoAttach::UprobeMulti, false) => "uprobe.multi",
            (AutoAttach::UprobeMulti, true) => "uretprobe.multi",
            (AutoAttach::TracingMulti, _) => "fentry.multi/fexit.multi/fsession.multi",
        }
    }
}

/// A section target that cannot be auto-attached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The section kind has no auto-attach.
    #[error("{kind} sections are not auto-attached: attach the program explicitly")]
    NotAutoAttachable {
        /// The kind.
        kind: &'static str,
    },
    /// The section carries no target (`SEC("kprobe")`).
    #[error("SEC(\"{kind}\") carries no attach target (expected {expected}): attach explicitly")]
    NoTarget {
        /// The kind.
        kind: &'static str,
        /// The syntax expected after the `/`.
        expected: &'static str,
    },
    /// The target does not follow the kind's syntax.
    #[error("{kind} target `{target}`: {why} (expected {expected})")]
    Malformed {
        /// The kind.
        kind: &'static str,
        /// The target text.
        target: String,
        /// What is wrong.
        why: &'static str,
        /// The syntax expected.
        expected: &'static str,
    },
}

/// A parsed auto-attach target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachTarget<'a> {
    /// A kernel function and offset.
    Kprobe {
        /// Function.
        function: &'a str,
        /// Offset into it.
        offset: u64,
    },
    /// A system call.
    Ksyscall {
        /// Its name.
        name: &'a str,
    },
    /// A kprobe.multi/session pattern.
    KprobeMulti {
        /// Function or glob.
        pattern: &'a str,
    },
    /// A uprobe site.
    Uprobe {
        /// Binary path or library/program name.
        binary: &'a str,
        /// Function, or `None` for a raw file offset.
        function: Option<&'a str>,
        /// Offset (into the function, or in the file).
        offset: u64,
    },
    /// Sites of a uprobe.multi link.
    UprobeMulti {
        /// Binary.
        binary: &'a str,
        /// Function glob.
        pattern: &'a str,
    },
    /// A USDT probe.
    Usdt {
        /// Binary.
        binary: &'a str,
        /// Provider.
        provider: &'a str,
        /// Probe name.
        name: &'a str,
    },
    /// A tracepoint.
    Tracepoint {
        /// Category.
        category: &'a str,
        /// Name.
        name: &'a str,
    },
    /// A raw tracepoint.
    RawTracepoint {
        /// Name.
        name: &'a str,
    },
    /// Resolved at load (tp_btf, fentry, fexit, fmod_ret, freplace, lsm).
    LoadTime,
    /// An iterator (its kind was resolved at load).
    Iter,
}

/// A C integer as `strtol(.., 0)` reads it: `0x` hex, leading `0` octal, else decimal.
fn c_integer(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return u64::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

/// `func[+offset]` with libbpf's function-name characters.
fn func_offset<'a>(
    kind: &'static str,
    target: &'a str,
    extra_chars: &str,
    expected: &'static str,
) -> std::result::Result<(&'a str, u64), TargetError> {
    let malformed = |why| TargetError::Malformed {
        kind,
        target: target.to_string(),
        why,
        expected,
    };
    let end = target
        .find(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || extra_chars.contains(c))
        })
        .unwrap_or(target.len());
    let (func, rest) = target.split_at(end);
    if func.is_empty() {
        return Err(malformed("no function name"));
    }
    if rest.is_empty() {
        return Ok((func, 0));
    }
    let off = rest
        .strip_prefix('+')
        .ok_or_else(|| malformed("unexpected characters after the function name"))?;
    let off = c_integer(off).ok_or_else(|| malformed("the offset is not a number"))?;
    Ok((func, off))
}

/// Parses `target` of a `kind` section (with the return flag) by libbpf's rules.
pub fn parse_target(
    kind: AutoAttach,
    is_return: bool,
    target: Option<&str>,
) -> std::result::Result<AttachTarget<'_>, TargetError> {
    let label = kind.label(is_return);
    let need = |expected: &'static str| -> std::result::Result<&str, TargetError> {
        match target {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(TargetError::NoTarget {
                kind: label,
                expected,
            }),
        }
    };
    let malformed = |t: &str, why, expected| TargetError::Malformed {
        kind: label,
        target: t.to_string(),
        why,
        expected,
    };
    match kind {
        AutoAttach::None => Err(TargetError::NotAutoAttachable { kind: label }),
        AutoAttach::Kprobe => {
            let expected = if is_return { "func" } else { "func[+offset]" };
            let t = need(expected)?;
            let (function, offset) = func_offset(label, t, "", expected)?;
            if is_return && offset != 0 {
                return Err(malformed(t, "kretprobes take no offset", expected));
            }
            Ok(AttachTarget::Kprobe { function, offset })
        }
        AutoAttach::Ksyscall => Ok(AttachTarget::Ksyscall {
            name: need("syscall name")?,
        }),
        AutoAttach::KprobeMulti | AutoAttach::KprobeSession => Ok(AttachTarget::KprobeMulti {
            pattern: need("function or glob")?,
        }),
        AutoAttach::Uprobe => {
            let expected = "binary:func[+offset] or binary:offset";
            let t = need(expected)?;
            let (binary, site) = t
                .split_once(':')
                .filter(|(b, s)| !b.is_empty() && !s.is_empty())
                .ok_or_else(|| malformed(t, "no `binary:function`", expected))?;
            if let Some(offset) = c_integer(site) {
                return Ok(AttachTarget::Uprobe {
                    binary,
                    function: None,
                    offset,
                });
            }
            let (function, offset) = func_offset(label, site, "@", expected)?;
            if is_return && offset != 0 {
                return Err(malformed(t, "uretprobes take no offset", expected));
            }
            Ok(AttachTarget::Uprobe {
                binary,
                function: Some(function),
                offset,
            })
        }
        AutoAttach::UprobeMulti => {
            let expected = "binary:pattern";
            let t = need(expected)?;
            let (binary, pattern) = t
                .split_once(':')
                .filter(|(b, p)| !b.is_empty() && !p.is_empty())
                .ok_or_else(|| malformed(t, "no `binary:pattern`", expected))?;
            Ok(AttachTarget::UprobeMulti { binary, pattern })
        }
        AutoAttach::Usdt => {
            let expected = "binary:provider:name";
            let t = need(expected)?;
            let mut parts = t.split(':');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(binary), Some(provider), Some(name), None)
                    if !binary.is_empty() && !provider.is_empty() && !name.is_empty() =>
                {
                    Ok(AttachTarget::Usdt {
                        binary,
                        provider,
                        name,
                    })
                }
                _ => Err(malformed(t, "not three `:`-separated parts", expected)),
            }
        }
        AutoAttach::Tracepoint => {
            let expected = "category/name";
            let t = need(expected)?;
            let (category, name) = t
                .split_once('/')
                .filter(|(c, n)| !c.is_empty() && !n.is_empty() && !n.contains('/'))
                .ok_or_else(|| malformed(t, "no `category/name`", expected))?;
            Ok(AttachTarget::Tracepoint { category, name })
        }
        AutoAttach::RawTracepoint => Ok(AttachTarget::RawTracepoint {
            name: need("tracepoint name")?,
        }),
        AutoAttach::Trace | AutoAttach::Lsm => Ok(AttachTarget::LoadTime),
        AutoAttach::Iter => Ok(AttachTarget::Iter),
        AutoAttach::TracingMulti => Err(TargetError::NotAutoAttachable { kind: label }),
    }
}

/// What auto-attach needs beyond the program: the object's USDT maps.
#[derive(Clone, Copy, Debug, Default)]
pub struct AutoAttachContext<'a> {
    /// `__bpf_usdt_specs` / `__bpf_usdt_ip_to_spec_id`, for usdt sections.
    pub usdt_maps: Option<UsdtMaps<'a>>,
}

/// Attaches `prog` from its section's auto-attach `kind`, return flag and `target` (the text
/// after the first `/` of the section name, `None` when there is none).
pub fn attach_auto(
    prog: &Program,
    kind: AutoAttach,
    is_return: bool,
    target: Option<&str>,
) -> Result<Link> {
    attach_auto_with(prog, kind, is_return, target, &AutoAttachContext::default())
}

/// [`attach_auto`] with the maps some kinds need.
pub fn attach_auto_with(
    prog: &Program,
    kind: AutoAttach,
    is_return: bool,
    target: Option<&str>,
    ctx: &AutoAttachContext<'_>,
) -> Result<Link> {
    let parsed =
        parse_target(kind, is_return, target).map_err(|source| AttachErrorKind::Target {
            program: prog.name().to_string(),
            source,
        })?;
    match parsed {
        AttachTarget::Kprobe { function, offset } => prog.attach_kprobe(
            function,
            &KprobeOptions {
                retprobe: is_return,
                offset,
                ..Default::default()
            },
        ),
        AttachTarget::Ksyscall { name } => prog.attach_ksyscall(name, is_return, 0),
        AttachTarget::KprobeMulti { pattern } => prog.attach_kprobe_multi(
            KprobeMultiTargets::Pattern(pattern),
            &KprobeMultiOptions {
                retprobe: is_return,
                cookies: &[],
            },
        ),
        AttachTarget::Uprobe {
            binary,
            function,
            offset,
        } => {
            let location = match function {
                Some(name) => UprobeLocation::Symbol { name, offset },
                None => UprobeLocation::FileOffset(offset),
            };
            prog.attach_uprobe(
                binary,
                location,
                &UprobeOptions {
                    retprobe: is_return,
                    ..Default::default()
                },
            )
        }
        AttachTarget::UprobeMulti { binary, pattern } => prog.attach_uprobe_multi(
            binary,
            UprobeMultiLocations::Pattern(pattern),
            &UprobeMultiOptions {
                retprobe: is_return,
                ..Default::default()
            },
        ),
        AttachTarget::Usdt {
            binary,
            provider,
            name,
        } => {
            let Some(maps) = ctx.usdt_maps else {
                return Err(AttachErrorKind::Unsupported {
                    program: prog.name().to_string(),
                    target: format!("usdt {binary}:{provider}:{name}"),
                    why: "USDT needs the object's __bpf_usdt_specs map (AutoAttachContext)".into(),
                }
                .into());
            };
            prog.attach_usdt(binary, provider, name, &maps, &UsdtOptions::default())
        }
        AttachTarget::Tracepoint { category, name } => prog.attach_tracepoint(category, name),
        AttachTarget::RawTracepoint { name } => prog.attach_raw_tracepoint(name),
        AttachTarget::LoadTime => prog.attach_tracing(),
        AttachTarget::Iter => prog.attach_iter(IterTarget::None),
    }
}

impl Program {
    /// Attaches from the section name recorded with [`Program::with_section`] (classified
    /// by [`AutoAttach::classify`]): `SEC("tp/syscalls/sys_enter_openat")` attaches to that
    /// tracepoint, `SEC("xdp")` fails clearly (it needs an interface).
    pub fn attach(&self) -> Result<Link> {
        self.attach_with(&AutoAttachContext::default())
    }

    /// [`Program::attach`] with the maps some sections need (USDT).
    pub fn attach_with(&self, ctx: &AutoAttachContext<'_>) -> Result<Link> {
        let Some(section) = self.section() else {
            return Err(self.unsupported(
                "its section's target",
                "no section recorded (Program::with_section) to auto-attach from",
            ));
        };
        let (kind, is_return, target) = AutoAttach::classify(section);
        attach_auto_with(self, kind, is_return, target, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_classify_by_the_auto_attach_entries() {
        use AutoAttach as A;
        let cases: &[(&str, A, bool, Option<&str>)] = &[
            ("kprobe/do_unlinkat", A::Kprobe, false, Some("do_unlinkat")),
            (
                "kretprobe/do_unlinkat",
                A::Kprobe,
                true,
                Some("do_unlinkat"),
            ),
            ("kprobe", A::Kprobe, false, None),
            ("kprobe.multi/tcp_*", A::KprobeMulti, false, Some("tcp_*")),
            ("kretprobe.multi/x", A::KprobeMulti, true, Some("x")),
            ("kprobe.session/x", A::KprobeSession, false, Some("x")),
            (
                "?uprobe//proc/self/exe:f",
                A::Uprobe,
                false,
                Some("/proc/self/exe:f"),
            ),
            (
                "uretprobe.s/libc.so.6:free",
                A::Uprobe,
                true,
                Some("libc.so.6:free"),
            ),
            (
                "uprobe.multi/bash:read*",
                A::UprobeMulti,
                false,
                Some("bash:read*"),
            ),
            ("uretprobe.multi.s/b:p", A::UprobeMulti, true, Some("b:p")),
            ("ksyscall/openat", A::Ksyscall, false, Some("openat")),
            ("kretsyscall/openat", A::Ksyscall, true, Some("openat")),
            ("usdt/b:p:n", A::Usdt, false, Some("b:p:n")),
            (
                "tp/syscalls/sys_enter_openat",
                A::Tracepoint,
                false,
                Some("syscalls/sys_enter_openat"),
            ),
            ("tracepoint.s/a/b", A::Tracepoint, false, Some("a/b")),
            (
                "raw_tp.w/sys_enter",
                A::RawTracepoint,
                false,
                Some("sys_enter"),
            ),
            (
                "raw_tracepoint/sys_enter",
                A::RawTracepoint,
                false,
                Some("sys_enter"),
            ),
            ("tp_btf/sys_enter", A::Trace, false, Some("sys_enter")),
            ("fexit/do_unlinkat", A::Trace, true, Some("do_unlinkat")),
            ("freplace/handler", A::Trace, false, Some("handler")),
            ("lsm.s/file_open", A::Lsm, false, Some("file_open")),
            ("iter/task", A::Iter, false, Some("task")),
            ("fentry.multi/tcp_*", A::TracingMulti, false, Some("tcp_*")),
            ("xdp", A::None, false, None),
            ("kprobefoo", A::None, false, None),
            ("tpx/a/b", A::None, false, None),
        ];
        for &(sec, kind, ret, target) in cases {
            assert_eq!(AutoAttach::classify(sec), (kind, ret, target), "{sec}");
        }
    }

    #[test]
    fn targets_parse_by_libbpf_rules() {
        use AttachTarget as T;
        use AutoAttach as A;
        let ok = |k, r, t| parse_target(k, r, Some(t)).unwrap();
        assert_eq!(
            ok(A::Kprobe, false, "tcp_v4_connect+0x10"),
            T::Kprobe {
                function: "tcp_v4_connect",
                offset: 16
            }
        );
        assert_eq!(
            ok(A::Kprobe, false, "foo.isra.0+010"),
            T::Kprobe {
                function: "foo.isra.0",
                offset: 8
            }
        );
        assert_eq!(
            ok(A::Kprobe, true, "f"),
            T::Kprobe {
                function: "f",
                offset: 0
            }
        );
        assert_eq!(
            ok(
                A::Uprobe,
                false,
                "/usr/lib/x86_64-linux-gnu/libc.so.6:malloc"
            ),
            T::Uprobe {
                binary: "/usr/lib/x86_64-linux-gnu/libc.so.6",
                function: Some("malloc"),
                offset: 0
            }
        );
        assert_eq!(
            ok(A::Uprobe, false, "libc.so.6:malloc@@GLIBC_2.2.5+4"),
            T::Uprobe {
                binary: "libc.so.6",
                function: Some("malloc@@GLIBC_2.2.5"),
                offset: 4
            }
        );
        assert_eq!(
            ok(A::Uprobe, false, "/bin/x:0x1234"),
            T::Uprobe {
                binary: "/bin/x",
                function: None,
                offset: 0x1234
            }
        );
        assert_eq!(
            ok(A::UprobeMulti, false, "/bin/bash:read*"),
            T::UprobeMulti {
                binary: "/bin/bash",
                pattern: "read*"
            }
        );
        assert_eq!(
            ok(A::Usdt, false, "/usr/bin/python3:python:function__entry"),
            T::Usdt {
                binary: "/usr/bin/python3",
                provider: "python",
                name: "function__entry"
            }
        );
        assert_eq!(
            ok(A::Tracepoint, false, "syscalls/sys_enter_openat"),
            T::Tracepoint {
                category: "syscalls",
                name: "sys_enter_openat"
            }
        );
        assert_eq!(
            ok(A::RawTracepoint, false, "sys_enter"),
            T::RawTracepoint { name: "sys_enter" }
        );
        assert_eq!(
            ok(A::Ksyscall, true, "openat"),
            T::Ksyscall { name: "openat" }
        );
        assert_eq!(
            ok(A::KprobeMulti, false, "tcp_*"),
            T::KprobeMulti { pattern: "tcp_*" }
        );
        assert_eq!(ok(A::Trace, false, "do_unlinkat"), T::LoadTime);
        assert_eq!(parse_target(A::Lsm, false, None).unwrap(), T::LoadTime);
        assert_eq!(ok(A::Iter, false, "task"), T::Iter);
    }

    #[test]
    fn bad_or_missing_targets_are_clear_errors() {
        use AutoAttach as A;
        let err = |k, r, t: Option<&str>| parse_target(k, r, t).unwrap_err();
        assert!(matches!(
            err(A::Kprobe, false, None),
            TargetError::NoTarget { kind: "kprobe", .. }
        ));
        assert!(err(A::Kprobe, false, None)
            .to_string()
            .contains("SEC(\"kprobe\")"));
        assert!(matches!(
            err(A::Kprobe, true, Some("f+8")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Kprobe, false, Some("f+x")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Kprobe, false, Some("f-8")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Uprobe, false, Some("/bin/x")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Uprobe, true, Some("/bin/x:f+4")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Uprobe, false, None),
            TargetError::NoTarget { .. }
        ));
        assert!(matches!(
            err(A::Usdt, false, Some("b:p")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Usdt, false, Some("b:p:n:x")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Tracepoint, false, Some("sys_enter")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::Tracepoint, false, Some("a/b/c")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::RawTracepoint, false, Some("")),
            TargetError::NoTarget { .. }
        ));
        assert!(matches!(
            err(A::UprobeMulti, false, Some(":x")),
            TargetError::Malformed { .. }
        ));
        assert!(matches!(
            err(A::None, false, None),
            TargetError::NotAutoAttachable { .. }
        ));
        assert!(matches!(
            err(A::TracingMulti, false, Some("x")),
            TargetError::NotAutoAttachable { .. }
        ));
    }
}
