//! uprobes and uretprobes (the `uprobe` PMU, or `<tracefs>/uprobe_events` on kernels without
//! it) and uprobe.multi links, on functions found by name in a binary's symbol tables.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::syscall::{
    link_create, perf_event_open, perf_event_open_probe, AttachType, LinkCreate, LinkExtra,
    LinkTarget, PerfEventAttr, ProgType,
};

use super::binary_path::resolve_binary;
use super::elf_symbols::{ElfBinary, SymbolError};
use super::error::{AttachError, AttachErrorKind, Result};
use super::link::{Link, PerfEvent};
use super::perf_event::attach_perf;
use super::tracefs::{create_dynamic_event, probe_event_name, tracefs_root};
use super::xdp::AttachMethod;
use super::{probe, Program};

/// Where in the binary a uprobe goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeLocation<'a> {
    /// A function (from `.symtab` or `.dynsym`), plus a byte offset into it.
    Symbol {
        /// The function name (`malloc`, `malloc@@GLIBC_2.2.5`).
        name: &'a str,
        /// Bytes past its start.
        offset: u64,
    },
    /// A file offset.
    FileOffset(u64),
}

/// Options of a single uprobe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UprobeOptions {
    /// A uretprobe: run when the function returns.
    pub retprobe: bool,
    /// Only this process (`Some(0)`: the calling one); `None`: every process.
    pub pid: Option<i32>,
    /// File offset of a USDT-style semaphore the kernel increments while attached (4.20).
    pub ref_ctr_offset: u64,
    /// BPF cookie (5.15).
    pub cookie: u64,
    /// Perf link or `PERF_EVENT_IOC_SET_BPF`.
    pub method: AttachMethod,
    /// Create the probe through `<tracefs>/uprobe_events` even when the uprobe PMU exists.
    pub force_tracefs: bool,
}

/// The probe sites of a uprobe.multi link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeMultiLocations<'a> {
    /// Every function matching a glob (`pthread_*`).
    Pattern(&'a str),
    /// These functions.
    Symbols(&'a [&'a str]),
    /// These file offsets.
    FileOffsets(&'a [u64]),
}

/// Options of a uprobe.multi link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UprobeMultiOptions<'a> {
    /// Return probes.
    pub retprobe: bool,
    /// Only this process (0: every process).
    pub pid: u32,
    /// One cookie per site (empty: none).
    pub cookies: &'a [u64],
    /// One semaphore offset per site (empty: none).
    pub ref_ctr_offsets: &'a [u64],
}

pub(crate) fn c_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

impl Program {
    /// Attaches this kprobe-type program as a uprobe on `binary` (a path, a library name
    /// like `libc.so.6`, or a program in `PATH`) at `location`.
    pub fn attach_uprobe(
        &self,
        binary: &str,
        location: UprobeLocation<'_>,
        opts: &UprobeOptions,
    ) -> Result<Link> {
        let kind = if opts.retprobe { "uretprobe" } else { "uprobe" };
        let described = match location {
            UprobeLocation::Symbol { name, offset: 0 } => format!("{binary}:{name}"),
            UprobeLocation::Symbol { name, offset } => format!("{binary}:{name}+{offset:#x}"),
            UprobeLocation::FileOffset(off) => format!("{binary}:{off:#x}"),
        };
        let target = format!("{kind} {described}");
        if self.prog_type() != ProgType::KPROBE {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_KPROBE"));
        }
        let path = resolve_binary(binary).map_err(|source| self.symbol_err(&target, source))?;
        let offset = match location {
            UprobeLocation::Symbol { name, offset } => {
                let bin = ElfBinary::open(&path).map_err(|e| self.symbol_err(&target, e))?;
                bin.function_offset(name)
                    .map_err(|e| self.symbol_err(&target, e))?
                    .saturating_add(offset)
            }
            UprobeLocation::FileOffset(off) => off,
        };
        self.attach_uprobe_at(&path, offset, opts, target)
    }

    pub(crate) fn symbol_err(&self, target: &str, source: SymbolError) -> AttachError {
        AttachErrorKind::Symbol {
            program: self.name().to_string(),
            target: target.to_string(),
            source,
        }
        .into()
    }

    /// A uprobe at file `offset` of `path` (already resolved).
    pub(crate) fn attach_uprobe_at(
        &self,
        path: &Path,
        offset: u64,
        opts: &UprobeOptions,
        target: String,
    ) -> Result<Link> {
        let cpath = c_path(path).ok_or_else(|| self.unsupported(&target, "path holds a NUL"))?;
        let pid = opts.pid.unwrap_or(-1);
        // A probe for every process needs one CPU; the program runs on all of them.
        let cpu = if pid == -1 { 0 } else { -1 };
        let pmu = probe::pmu_type("uprobe").filter(|_| !opts.force_tracefs);
        let perf = if let Some(pmu) = pmu {
            let mut config = 0u64;
            if opts.retprobe {
                let bit = probe::pmu_retprobe_bit("uprobe").unwrap_or(0);
                config |= 1u64 << (bit & 63);
            }
            if opts.ref_ctr_offset != 0 {
                let Some(shift) = probe::uprobe_ref_ctr_shift() else {
                    return Err(self.unsupported(
                        &target,
                        "the uprobe PMU has no ref_ctr_offset (USDT semaphores need Linux 4.20)",
                    ));
                };
                config |= opts.ref_ctr_offset << (shift & 63);
            }
            let attr = PerfEventAttr::new(pmu, config);
            let fd = perf_event_open_probe(&attr, Some(&cpath), offset, pid, cpu)
                .map_err(self.attach_err(&target))?;
            PerfEvent { fd, dynamic: None }
        } else {
            self.legacy_uprobe(path, offset, opts, pid, cpu, &target)?
        };
        attach_perf(self, perf, opts.cookie, opts.method, target)
    }

    fn legacy_uprobe(
        &self,
        path: &Path,
        offset: u64,
        opts: &UprobeOptions,
        pid: i32,
        cpu: i32,
        target: &str,
    ) -> Result<PerfEvent> {
        let root = tracefs_root().ok_or_else(|| AttachErrorKind::NoTracefs {
            program: self.name().to_string(),
            target: target.to_string(),
        })?;
        let (kind, group) = if opts.retprobe {
            ('r', "uretprobes")
        } else {
            ('p', "uprobes")
        };
        let name = probe_event_name(&format!(
            "{}_{offset:#x}",
            path.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ));
        let mut def = format!("{kind}:{group}/{name} {}:{offset:#x}", path.display());
        if opts.ref_ctr_offset != 0 {
            def.push_str(&format!("({:#x})", opts.ref_ctr_offset));
        }
        let (id, dynamic) = create_dynamic_event(&root, "uprobe_events", group, &name, &def)
            .map_err(|e| self.event_error(target, e))?;
        let fd = perf_event_open(&PerfEventAttr::tracepoint(id), pid, cpu, None)
            .map_err(self.attach_err(target))?;
        Ok(PerfEvent {
            fd,
            dynamic: Some(dynamic),
        })
    }

    /// Attaches this program (loaded with `expected_attach_type`
    /// `BPF_TRACE_UPROBE_MULTI` or `_SESSION`) to many sites of `binary` through one
    /// uprobe.multi link (6.6).
    pub fn attach_uprobe_multi(
        &self,
        binary: &str,
        locations: UprobeMultiLocations<'_>,
        opts: &UprobeMultiOptions<'_>,
    ) -> Result<Link> {
        let kind = if opts.retprobe {
            "uretprobe.multi"
        } else {
            "uprobe.multi"
        };
        let what = match locations {
            UprobeMultiLocations::Pattern(p) => p.to_string(),
            UprobeMultiLocations::Symbols(s) => s.join(","),
            UprobeMultiLocations::FileOffsets(o) => format!("{} offsets", o.len()),
        };
        let target = format!("{kind} {binary}:{what}");
        if self.prog_type() != ProgType::KPROBE {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_KPROBE"));
        }
        let attach_type = match self.expected_attach_type() {
            Some(t @ AttachType::TRACE_UPROBE_SESSION) => t,
            _ => AttachType::TRACE_UPROBE_MULTI,
        };
        if !probe::uprobe_multi_link() {
            return Err(self.unsupported(&target, "uprobe_multi links need Linux 6.6"));
        }
        let path: PathBuf =
            resolve_binary(binary).map_err(|source| self.symbol_err(&target, source))?;
        let offsets: Vec<u64> = match locations {
            UprobeMultiLocations::FileOffsets(o) => o.to_vec(),
            UprobeMultiLocations::Pattern(p) => {
                let bin = ElfBinary::open(&path).map_err(|e| self.symbol_err(&target, e))?;
                let found = bin
                    .functions_matching(p)
                    .map_err(|e| self.symbol_err(&target, e))?;
                if found.is_empty() {
                    return Err(self.symbol_err(
                        &target,
                        SymbolError::NotFound {
                            path: path.clone(),
                            symbol: p.to_string(),
                        },
                    ));
                }
                found.into_iter().map(|f| f.offset).collect()
            }
            UprobeMultiLocations::Symbols(names) => {
                let bin = ElfBinary::open(&path).map_err(|e| self.symbol_err(&target, e))?;
                names
                    .iter()
                    .map(|n| bin.function_offset(n))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| self.symbol_err(&target, e))?
            }
        };
        let cpath = c_path(&path).ok_or_else(|| self.unsupported(&target, "path holds a NUL"))?;
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::None, attach_type);
        req.extra = LinkExtra::UprobeMulti {
            path: &cpath,
            offsets: &offsets,
            ref_ctr_offsets: opts.ref_ctr_offsets,
            cookies: opts.cookies,
            flags: u32::from(opts.retprobe),
            pid: opts.pid,
        };
        let fd = link_create(&req).map_err(self.attach_err(&target))?;
        Ok(Link::bpf(fd, self.name(), target))
    }
}
