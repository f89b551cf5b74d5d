//! kprobes and kretprobes (the `kprobe` PMU, or `<tracefs>/kprobe_events` on kernels
//! without it), ksyscall (the architecture's syscall entry symbol), and kprobe.multi links
//! (symbols, globs, addresses).

use std::ffi::CString;
use std::os::fd::AsFd;

use nix::errno::Errno;

use crate::syscall::{
    link_create, perf_event_open, perf_event_open_probe, AttachType, LinkCreate, LinkExtra,
    LinkTarget, PerfEventAttr, ProgType,
};

use super::error::{AttachError, AttachErrorKind, Result};
use super::glob::{glob_match, is_glob};
use super::link::{Link, PerfEvent};
use super::perf_event::attach_perf;
use super::tracefs::{create_dynamic_event, probe_event_name, tracefs_root};
use super::xdp::AttachMethod;
use super::{probe, Program};

/// Options of a kprobe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KprobeOptions {
    /// A kretprobe: run when the function returns (no offset allowed).
    pub retprobe: bool,
    /// Bytes into the function.
    pub offset: u64,
    /// BPF cookie (5.15).
    pub cookie: u64,
    /// Perf link or `PERF_EVENT_IOC_SET_BPF`.
    pub method: AttachMethod,
    /// Create the probe through `<tracefs>/kprobe_events` even when the kprobe PMU exists.
    pub force_tracefs: bool,
}

/// The functions of a kprobe.multi link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KprobeMultiTargets<'a> {
    /// Every traceable function matching a glob (from `available_filter_functions`, or
    /// `/proc/kallsyms` when that cannot be read).
    Pattern(&'a str),
    /// These functions.
    Symbols(&'a [&'a str]),
    /// These kernel addresses.
    Addresses(&'a [u64]),
}

/// Options of a kprobe.multi link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KprobeMultiOptions<'a> {
    /// Return probes (`BPF_F_KPROBE_MULTI_RETURN`).
    pub retprobe: bool,
    /// One cookie per function (empty: none).
    pub cookies: &'a [u64],
}

impl Program {
    /// Attaches this kprobe program to kernel function `function` (`do_unlinkat`).
    pub fn attach_kprobe(&self, function: &str, opts: &KprobeOptions) -> Result<Link> {
        let kind = if opts.retprobe { "kretprobe" } else { "kprobe" };
        let target = if opts.offset == 0 {
            format!("{kind} {function}")
        } else {
            format!("{kind} {function}+{:#x}", opts.offset)
        };
        if self.prog_type() != ProgType::KPROBE {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_KPROBE"));
        }
        if opts.retprobe && opts.offset != 0 {
            return Err(self.unsupported(&target, "a kretprobe takes no offset"));
        }
        let cname = CString::new(function)
            .map_err(|_| self.unsupported(&target, "the function name holds a NUL"))?;
        let pmu = probe::pmu_type("kprobe").filter(|_| !opts.force_tracefs);
        let perf = match pmu {
            Some(pmu) => {
                let mut config = 0u64;
                if opts.retprobe {
                    let bit = probe::pmu_retprobe_bit("kprobe").unwrap_or(0);
                    config |= 1u64 << (bit & 63);
                }
                let attr = PerfEventAttr::new(pmu, config);
                let fd = perf_event_open_probe(&attr, Some(&cname), opts.offset, -1, 0)
                    .map_err(self.attach_err(&target))?;
                PerfEvent { fd, dynamic: None }
            }
            None => self.legacy_kprobe(function, opts, &target)?,
        };
        attach_perf(self, perf, opts.cookie, opts.method, target)
    }

    fn legacy_kprobe(
        &self,
        function: &str,
        opts: &KprobeOptions,
        target: &str,
    ) -> Result<PerfEvent> {
        let unavailable = |legacy: String| -> AttachError {
            AttachErrorKind::KprobesUnavailable {
                program: self.name().to_string(),
                target: target.to_string(),
                legacy,
            }
            .into()
        };
        let Some(root) = tracefs_root() else {
            return Err(unavailable(
                "and tracefs is not mounted for the legacy kprobe_events path".into(),
            ));
        };
        if !root.join("kprobe_events").exists() {
            return Err(unavailable(format!(
                "no kprobe_events in {}",
                root.display()
            )));
        }
        let (kind, group) = if opts.retprobe {
            ('r', "kretprobes")
        } else {
            ('p', "kprobes")
        };
        let name = probe_event_name(&format!("{function}_{:#x}", opts.offset));
        let def = format!("{kind}:{group}/{name} {function}+{:#x}", opts.offset);
        let (id, dynamic) = create_dynamic_event(&root, "kprobe_events", group, &name, &def)
            .map_err(|e| self.event_error(target, e))?;
        let fd = perf_event_open(&PerfEventAttr::tracepoint(id), -1, 0, None)
            .map_err(self.attach_err(target))?;
        Ok(PerfEvent {
            fd,
            dynamic: Some(dynamic),
        })
    }

    /// Attaches this kprobe program to the entry (or return) of system call `syscall`
    /// (`openat`), through the architecture's wrapper symbol (`__x64_sys_openat`) when the
    /// kernel has syscall wrappers, else `sys_openat`.
    pub fn attach_ksyscall(&self, syscall: &str, retprobe: bool, cookie: u64) -> Result<Link> {
        let function = ksyscall_symbol(syscall);
        self.attach_kprobe(
            &function,
            &KprobeOptions {
                retprobe,
                cookie,
                ..Default::default()
            },
        )
    }

    /// Attaches this program (loaded with `expected_attach_type` `BPF_TRACE_KPROBE_MULTI`
    /// or `_SESSION`) to many kernel functions through one kprobe.multi link (5.18, needs
    /// `CONFIG_FPROBE`).
    pub fn attach_kprobe_multi(
        &self,
        targets: KprobeMultiTargets<'_>,
        opts: &KprobeMultiOptions<'_>,
    ) -> Result<Link> {
        let kind = if opts.retprobe {
            "kretprobe.multi"
        } else {
            "kprobe.multi"
        };
        let what = match targets {
            KprobeMultiTargets::Pattern(p) => p.to_string(),
            KprobeMultiTargets::Symbols(s) => s.join(","),
            KprobeMultiTargets::Addresses(a) => format!("{} addresses", a.len()),
        };
        let target = format!("{kind} {what}");
        if self.prog_type() != ProgType::KPROBE {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_KPROBE"));
        }
        let attach_type = match self.expected_attach_type() {
            Some(t @ AttachType::TRACE_KPROBE_SESSION) => t,
            _ => AttachType::TRACE_KPROBE_MULTI,
        };
        let names: Vec<String> = match targets {
            KprobeMultiTargets::Pattern(p) if is_glob(p) => {
                let found = traceable_functions(p);
                if found.is_empty() {
                    return Err(self.unsupported(
                        &target,
                        format!("no traceable kernel function matches `{p}`"),
                    ));
                }
                found
            }
            KprobeMultiTargets::Pattern(p) => vec![p.to_string()],
            KprobeMultiTargets::Symbols(s) => s.iter().map(|s| s.to_string()).collect(),
            KprobeMultiTargets::Addresses(_) => Vec::new(),
        };
        let cnames: Vec<CString> = names
            .iter()
            .map(|n| CString::new(n.as_str()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| self.unsupported(&target, "a function name holds a NUL"))?;
        let syms: Vec<&std::ffi::CStr> = cnames.iter().map(|c| c.as_c_str()).collect();
        let addrs: &[u64] = match targets {
            KprobeMultiTargets::Addresses(a) => a,
            _ => &[],
        };
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::None, attach_type);
        req.extra = LinkExtra::KprobeMulti {
            flags: u32::from(opts.retprobe),
            syms: &syms,
            addrs,
            cookies: opts.cookies,
        };
        let fd = link_create(&req).map_err(|e| {
            if e.is_not_supported() || e.errno == Errno::EOPNOTSUPP {
                self.unsupported(
                    &target,
                    format!("kprobe.multi links need CONFIG_FPROBE (Linux 5.18): {e}"),
                )
            } else {
                self.attach_err(&target)(e)
            }
        })?;
        Ok(Link::bpf(fd, self.name(), target))
    }
}

/// The kernel symbol of system call `name`'s entry on this kernel.
pub fn ksyscall_symbol(name: &str) -> String {
    match probe::syscall_prefix() {
        Some(prefix) => format!("{prefix}{name}"),
        None => format!("sys_{name}"),
    }
}

/// Traceable kernel functions matching `pattern`, sorted and deduplicated: from
/// `<tracefs>/available_filter_functions`, or the text symbols of `/proc/kallsyms`.
pub fn traceable_functions(pattern: &str) -> Vec<String> {
    let from_ftrace = tracefs_root()
        .and_then(|root| std::fs::read_to_string(root.join("available_filter_functions")).ok());
    let mut names: Vec<String> = match from_ftrace {
        // Lines are `name` or `name [module]`.
        Some(text) => text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| glob_match(pattern, n))
            .map(str::to_string)
            .collect(),
        None => std::fs::read_to_string("/proc/kallsyms")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_addr, kind, name) = (f.next()?, f.next()?, f.next()?);
                matches!(kind, "t" | "T").then_some(name)
            })
            // Compiler-made local copies (`.isra.0`, `.cold`) cannot be probed by name.
            .filter(|n| !n.contains('.') && glob_match(pattern, n))
            .map(str::to_string)
            .collect(),
    };
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksyscall_uses_the_wrapper_when_kallsyms_has_it() {
        let sym = ksyscall_symbol("openat");
        assert!(sym.ends_with("sys_openat"), "{sym}");
        if std::env::consts::ARCH == "x86_64" && probe::syscall_prefix().is_some() {
            assert_eq!(sym, "__x64_sys_openat");
        }
    }

    #[test]
    fn globs_find_kernel_functions() {
        // kallsyms names are readable without privileges (addresses are not).
        let found = traceable_functions("__x64_sys_getp*");
        if !found.is_empty() {
            assert!(found.iter().all(|n| n.starts_with("__x64_sys_getp")));
            assert!(found.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
