//! USDT probes: the `.note.stapsdt` notes of a binary (location, `.stapsdt.base`
//! prelink adjustment, semaphore), their argument specs written to the program's
//! `__bpf_usdt_specs` map, and one uprobe per location (or one uprobe.multi link) whose
//! BPF cookie is the spec id — or, before BPF cookies, the `__bpf_usdt_ip_to_spec_id` map.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use object::{Object, ObjectSection};

use crate::btf::Btf;
use crate::syscall::{
    btf_data, btf_get_fd_by_id, link_create, map_info, map_update_elem, AttachType, ElemFlags,
    LinkCreate, LinkExtra, LinkTarget, MapFd, ProgType, SyscallError,
};

use super::binary_path::resolve_binary;
use super::elf_symbols::{segment_of, ElfBinary, SymbolError};
use super::error::{AttachError, AttachErrorKind, Result};
use super::link::{Inner, Link};
use super::uprobe::{c_path, UprobeOptions};
use super::usdt_args::{parse_usdt_args, UsdtArch, UsdtArg, UsdtArgError, UsdtSpecLayout};
use super::{probe, Program};

const NOTE_SECTION: &str = ".note.stapsdt";
const BASE_SECTION: &str = ".stapsdt.base";
const NOTE_TYPE: u32 = 3;
const NOTE_NAME: &[u8] = b"stapsdt";

/// A USDT problem.
#[derive(Debug, thiserror::Error)]
pub enum UsdtError {
    /// The binary could not be read or parsed.
    #[error(transparent)]
    Binary(#[from] SymbolError),
    /// No `.note.stapsdt` section.
    #[error("{}: no .note.stapsdt section (no USDT probes)", path.display())]
    NoNotes {
        /// The binary.
        path: PathBuf,
    },
    /// A malformed note.
    #[error("{}: bad USDT note at byte {offset} of .note.stapsdt: {why}", path.display())]
    BadNote {
        /// The binary.
        path: PathBuf,
        /// Where in the section.
        offset: usize,
        /// Why.
        why: &'static str,
    },
    /// No probe of that provider and name.
    #[error("{}: no USDT probe {provider}:{name}", path.display())]
    NotFound {
        /// The binary.
        path: PathBuf,
        /// Provider.
        provider: String,
        /// Name.
        name: String,
    },
    /// An address outside the segments it must be in.
    #[error("{}: USDT {provider}:{name}: {what} {address:#x} {why}", path.display())]
    BadAddress {
        /// The binary.
        path: PathBuf,
        /// Provider.
        provider: String,
        /// Name.
        name: String,
        /// `location` or `semaphore`.
        what: &'static str,
        /// The address.
        address: u64,
        /// Why.
        why: &'static str,
    },
    /// An argument spec that cannot be decoded or encoded.
    #[error("USDT {provider}:{name} (spec `{spec}`): {why}")]
    Spec {
        /// Provider.
        provider: String,
        /// Name.
        name: String,
        /// The spec string.
        spec: String,
        /// Why.
        why: String,
    },
    /// The spec map's layout could not be determined.
    #[error("USDT spec map: {why}")]
    Layout {
        /// Why.
        why: String,
    },
    /// Every spec id of the spec map is in use.
    #[error("USDT spec map is full ({max_entries} specs in use)")]
    SpecsFull {
        /// The map's size.
        max_entries: u32,
    },
    /// A map update failed.
    #[error("USDT {op}: {source}")]
    Map {
        /// What was written.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: SyscallError,
    },
    /// Without BPF cookies, a shared library's probes need the process to compute absolute
    /// addresses.
    #[error("{}: USDT in a shared library without BPF cookies (Linux 5.15) needs a PID", path.display())]
    NeedsPid {
        /// The library.
        path: PathBuf,
    },
    /// Without BPF cookies, the ip-to-spec-id map is needed.
    #[error(
        "this kernel has no BPF cookies (Linux 5.15): the __bpf_usdt_ip_to_spec_id map is needed"
    )]
    NeedsIpMap,
}

/// One `.note.stapsdt` note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtNote {
    /// Provider.
    pub provider: String,
    /// Probe name.
    pub name: String,
    /// Argument spec string.
    pub args: String,
    /// Address of the probe site.
    pub loc_addr: u64,
    /// `.stapsdt.base` address the note was linked against.
    pub base_addr: u64,
    /// Address of the semaphore (0: none).
    pub sema_addr: u64,
}

/// A probe site ready to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtSite {
    /// The note.
    pub note: UsdtNote,
    /// Virtual address after the prelink adjustment.
    pub abs_ip: u64,
    /// File offset of the site (the uprobe offset).
    pub file_offset: u64,
    /// File offset of the semaphore (0: none).
    pub sema_offset: u64,
    /// Decoded arguments.
    pub args: Vec<UsdtArg>,
}

fn c_str(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = b.iter().position(|&c| c == 0)?;
    Some((&b[..end], &b[end + 1..]))
}

/// Every USDT note of `bin`.
pub fn usdt_notes(bin: &ElfBinary) -> std::result::Result<Vec<UsdtNote>, UsdtError> {
    let file = bin.parse()?;
    let path = bin.path().to_path_buf();
    let section = file
        .section_by_name(NOTE_SECTION)
        .ok_or_else(|| UsdtError::NoNotes { path: path.clone() })?;
    let data = section.data().map_err(|_| UsdtError::BadNote {
        path: path.clone(),
        offset: 0,
        why: "section data out of the file",
    })?;
    let little = file.is_little_endian();
    let word = if file.is_64() { 8 } else { 4 };
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    };
    let word_at = |b: &[u8], at: usize| -> Option<u64> {
        let raw = b.get(at..at + word)?;
        let mut v = 0u64;
        for (i, &byte) in raw.iter().enumerate() {
            let shift = if little { i * 8 } else { (word - 1 - i) * 8 };
            v |= u64::from(byte) << shift;
        }
        Some(v)
    };
    let mut notes = Vec::new();
    let mut off = 0usize;
    while off + 12 <= data.len() {
        let here = off;
        let bad = |why| UsdtError::BadNote {
            path: path.clone(),
            offset: here,
            why,
        };
        let (Some(namesz), Some(descsz), Some(ntype)) = (
            u32_at(data, off),
            u32_at(data, off + 4),
            u32_at(data, off + 8),
        ) else {
            break;
        };
        let name_start = off + 12;
        let desc_start = name_start
            .checked_add((namesz as usize).next_multiple_of(4))
            .ok_or_else(|| bad("name size overflows"))?;
        let next = desc_start
            .checked_add((descsz as usize).next_multiple_of(4))
            .ok_or_else(|| bad("descriptor size overflows"))?;
        let name = data
            .get(name_start..name_start + namesz as usize)
            .ok_or_else(|| bad("name past the section end"))?;
        let desc = data
            .get(desc_start..desc_start + descsz as usize)
            .ok_or_else(|| bad("descriptor past the section end"))?;
        off = next;
        if ntype != NOTE_TYPE || name.strip_suffix(&[0]).unwrap_or(name) != NOTE_NAME {
            continue;
        }
        let (Some(loc), Some(base), Some(sema)) = (
            word_at(desc, 0),
            word_at(desc, word),
            word_at(desc, 2 * word),
        ) else {
            return Err(bad("descriptor shorter than its three addresses"));
        };
        let strings = desc.get(3 * word..).unwrap_or(&[]);
        let (provider, rest) = c_str(strings).ok_or_else(|| bad("provider not terminated"))?;
        let (pname, rest) = c_str(rest).ok_or_else(|| bad("name not terminated"))?;
        if pname.is_empty() {
            return Err(bad("empty probe name"));
        }
        let args = c_str(rest).map_or(&b""[..], |(a, _)| a);
        // libbpf treats a spec starting with ':' (an old "no arguments" form) as empty.
        let args = if args.first() == Some(&b':') {
            &b""[..]
        } else {
            args
        };
        notes.push(UsdtNote {
            provider: String::from_utf8_lossy(provider).into_owned(),
            name: String::from_utf8_lossy(pname).into_owned(),
            args: String::from_utf8_lossy(args).into_owned(),
            loc_addr: loc,
            base_addr: base,
            sema_addr: sema,
        });
    }
    Ok(notes)
}

/// The sites of probe `provider:name` in `bin`, with file offsets and decoded arguments.
pub fn usdt_sites(
    bin: &ElfBinary,
    provider: &str,
    name: &str,
) -> std::result::Result<Vec<UsdtSite>, UsdtError> {
    let path = bin.path().to_path_buf();
    let notes = usdt_notes(bin)?;
    let file = bin.parse()?;
    let base = file.section_by_name(BASE_SECTION).map(|s| s.address());
    let segments = bin.segments()?;
    let arch = UsdtArch::host().ok_or_else(|| UsdtError::Spec {
        provider: provider.into(),
        name: name.into(),
        spec: String::new(),
        why: format!(
            "USDT arguments on {} are not supported",
            std::env::consts::ARCH
        ),
    })?;
    let mut sites = Vec::new();
    for note in notes {
        if note.provider != provider || note.name != name {
            continue;
        }
        let bad_addr = |what, address, why| UsdtError::BadAddress {
            path: path.clone(),
            provider: provider.into(),
            name: name.into(),
            what,
            address,
            why,
        };
        // Prelink moved the binary if .stapsdt.base is not where the note says.
        let abs_ip = match base {
            Some(b) if b != 0 => note.loc_addr.wrapping_add(b).wrapping_sub(note.base_addr),
            _ => note.loc_addr,
        };
        let seg = segment_of(&segments, abs_ip)
            .ok_or_else(|| bad_addr("location", abs_ip, "is in no loadable segment"))?;
        if !seg.exec {
            return Err(bad_addr(
                "location",
                abs_ip,
                "is not in an executable segment",
            ));
        }
        let file_offset = abs_ip - seg.vaddr + seg.offset;
        let sema_offset = if note.sema_addr == 0 {
            0
        } else {
            let seg = segment_of(&segments, note.sema_addr).ok_or_else(|| {
                bad_addr("semaphore", note.sema_addr, "is in no loadable segment")
            })?;
            if seg.exec {
                return Err(bad_addr(
                    "semaphore",
                    note.sema_addr,
                    "is in an executable segment",
                ));
            }
            note.sema_addr - seg.vaddr + seg.offset
        };
        let args =
            parse_usdt_args(&note.args, arch).map_err(|e: UsdtArgError| UsdtError::Spec {
                provider: provider.into(),
                name: name.into(),
                spec: note.args.clone(),
                why: e.to_string(),
            })?;
        sites.push(UsdtSite {
            note,
            abs_ip,
            file_offset,
            sema_offset,
            args,
        });
    }
    if sites.is_empty() {
        return Err(UsdtError::NotFound {
            path,
            provider: provider.into(),
            name: name.into(),
        });
    }
    Ok(sites)
}

/// Spec ids in use, per spec map (by map id), across every USDT link of this process.
static SPEC_IDS: Mutex<BTreeSet<(u32, u32)>> = Mutex::new(BTreeSet::new());

/// Spec ids held by one USDT link; released when it drops.
#[derive(Debug)]
pub(crate) struct SpecIdLease {
    map_id: u32,
    ids: Vec<u32>,
}

impl SpecIdLease {
    fn reserve(map_id: u32, max_entries: u32, n: usize) -> std::result::Result<Self, UsdtError> {
        let mut used = SPEC_IDS.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<u32> = (0..max_entries)
            .filter(|id| !used.contains(&(map_id, *id)))
            .take(n)
            .collect();
        if ids.len() < n {
            return Err(UsdtError::SpecsFull { max_entries });
        }
        for &id in &ids {
            used.insert((map_id, id));
        }
        Ok(SpecIdLease { map_id, ids })
    }
}

impl Drop for SpecIdLease {
    fn drop(&mut self) {
        let mut used = SPEC_IDS.lock().unwrap_or_else(|e| e.into_inner());
        for id in &self.ids {
            used.remove(&(self.map_id, *id));
        }
    }
}

/// The maps of the program's object that `usdt.bpf.h` reads.
#[derive(Clone, Copy, Debug)]
pub struct UsdtMaps<'a> {
    /// `__bpf_usdt_specs` (array of `struct __bpf_usdt_spec`).
    pub specs: &'a MapFd,
    /// `__bpf_usdt_ip_to_spec_id` (hash `long` → `u32`), used when the kernel has no BPF
    /// cookies.
    pub ip_to_spec_id: Option<&'a MapFd>,
}

/// How the program finds the spec of the probe site it runs for. `usdt.bpf.h` decides by the
/// `LINUX_HAS_BPF_COOKIE` kconfig value the loader gave it; the attach must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UsdtSpecLookup {
    /// BPF cookies where the kernel has them (5.15), else the ip map.
    #[default]
    Auto,
    /// The BPF cookie of each probe is its spec id.
    Cookie,
    /// `__bpf_usdt_ip_to_spec_id` maps each probe's address to its spec id (for programs
    /// loaded with `LINUX_HAS_BPF_COOKIE` false).
    IpMap,
}

/// Options of a USDT attachment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsdtOptions {
    /// Only this process (`None`: every process running the binary).
    pub pid: Option<i32>,
    /// The value `bpf_usdt_cookie()` returns.
    pub cookie: u64,
    /// How the program finds its spec.
    pub lookup: UsdtSpecLookup,
}

/// The layout the spec map's program reads (from its BTF, else its value size).
pub fn spec_layout(specs: &MapFd) -> std::result::Result<UsdtSpecLayout, UsdtError> {
    let info = map_info(specs.as_fd()).map_err(|source| UsdtError::Map {
        op: "spec map info",
        source,
    })?;
    if info.btf_id != 0 && info.btf_value_type_id != 0 {
        let from_btf = btf_get_fd_by_id(info.btf_id)
            .and_then(|fd| btf_data(fd.as_fd()))
            .map_err(|e| e.to_string())
            .and_then(|raw| Btf::parse(raw).map_err(|e| e.to_string()))
            .and_then(|btf| UsdtSpecLayout::from_btf(&btf, info.btf_value_type_id));
        match from_btf {
            Ok(layout) if layout.spec_size == info.value_size as usize => return Ok(layout),
            Ok(_) => {
                return Err(UsdtError::Layout {
                    why: "the BTF spec type's size differs from the map's value size".into(),
                })
            }
            // Unreadable BTF: fall back to the size.
            Err(_) => {}
        }
    }
    UsdtSpecLayout::for_value_size(info.value_size).ok_or_else(|| UsdtError::Layout {
        why: format!(
            "value size {} matches no known struct __bpf_usdt_spec (208 or 304)",
            info.value_size
        ),
    })
}

/// The absolute address of file offset `rel` of `path` in process `pid` (from its maps).
fn abs_ip_in_process(pid: i32, path: &Path, rel: u64) -> Option<u64> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let range = f.next()?;
        let perms = f.next()?;
        let offset = u64::from_str_radix(f.next()?, 16).ok()?;
        let file = f.nth(2)?;
        if Path::new(file) != real || perms.as_bytes().get(2) != Some(&b'x') {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        (offset <= rel && rel < offset + (end - start)).then(|| start - offset + rel)
    })
}

impl Program {
    /// Attaches this kprobe-type program (written with `usdt.bpf.h`) to every site of USDT
    /// probe `provider:name` in `binary`, filling the object's spec maps so that
    /// `bpf_usdt_arg()` and `bpf_usdt_cookie()` work.
    pub fn attach_usdt(
        &self,
        binary: &str,
        provider: &str,
        name: &str,
        maps: &UsdtMaps<'_>,
        opts: &UsdtOptions,
    ) -> Result<Link> {
        let target = format!("usdt {binary}:{provider}:{name}");
        if self.prog_type() != ProgType::KPROBE {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_KPROBE"));
        }
        let usdt_err = |source| -> AttachError {
            AttachErrorKind::Usdt {
                program: self.name().to_string(),
                target: target.clone(),
                source: Box::new(source),
            }
            .into()
        };
        let path = resolve_binary(binary).map_err(|e| self.symbol_err(&target, e))?;
        let bin = ElfBinary::open(&path).map_err(|e| self.symbol_err(&target, e))?;
        let sites = usdt_sites(&bin, provider, name).map_err(usdt_err)?;
        let layout = spec_layout(maps.specs).map_err(usdt_err)?;
        let use_cookie = match opts.lookup {
            UsdtSpecLookup::Auto => probe::bpf_cookie(),
            UsdtSpecLookup::Cookie => true,
            UsdtSpecLookup::IpMap => false,
        };
        let ip_map = if use_cookie {
            None
        } else {
            Some(
                maps.ip_to_spec_id
                    .ok_or(UsdtError::NeedsIpMap)
                    .map_err(usdt_err)?,
            )
        };
        let is_dyn = bin.elf_type().map_err(|e| self.symbol_err(&target, e))? == 3;
        let pid = opts
            .pid
            .map(|p| if p == 0 { std::process::id() as i32 } else { p });

        // One spec id per distinct argument spec string.
        let mut distinct: HashMap<&str, usize> = HashMap::new();
        for site in &sites {
            let n = distinct.len();
            distinct.entry(site.note.args.as_str()).or_insert(n);
        }
        let info = map_info(maps.specs.as_fd()).map_err(|source| {
            usdt_err(UsdtError::Map {
                op: "spec map info",
                source,
            })
        })?;
        let lease =
            SpecIdLease::reserve(info.id, info.max_entries, distinct.len()).map_err(usdt_err)?;
        for site in &sites {
            let id = lease.ids[distinct[site.note.args.as_str()]];
            let value = layout.encode(&site.args, opts.cookie).map_err(|why| {
                usdt_err(UsdtError::Spec {
                    provider: provider.into(),
                    name: name.into(),
                    spec: site.note.args.clone(),
                    why,
                })
            })?;
            map_update_elem(maps.specs, &id.to_ne_bytes(), &value, ElemFlags::ANY).map_err(
                |source| {
                    usdt_err(UsdtError::Map {
                        op: "spec update",
                        source,
                    })
                },
            )?;
        }
        let site_ids: Vec<u32> = sites
            .iter()
            .map(|site| lease.ids[distinct[site.note.args.as_str()]])
            .collect();

        // Without cookies the program finds its spec by instruction address.
        let mut ips = Vec::new();
        let mut ip_owned = None;
        if let Some(ip_map) = ip_map {
            let owned = ip_map.try_clone().map_err(|source| {
                usdt_err(UsdtError::Map {
                    op: "ip map dup",
                    source,
                })
            })?;
            for site in &sites {
                let ip = if is_dyn {
                    let Some(pid) = pid.filter(|p| *p > 0) else {
                        return Err(usdt_err(UsdtError::NeedsPid { path: path.clone() }));
                    };
                    abs_ip_in_process(pid, &path, site.file_offset).ok_or_else(|| {
                        usdt_err(UsdtError::BadAddress {
                            path: path.clone(),
                            provider: provider.into(),
                            name: name.into(),
                            what: "location",
                            address: site.file_offset,
                            why: "is not mapped by the process",
                        })
                    })?
                } else {
                    site.abs_ip
                };
                map_update_elem(
                    &owned,
                    &ip.to_ne_bytes(),
                    &site_ids[ips.len()].to_ne_bytes(),
                    ElemFlags::NOEXIST,
                )
                .map_err(|source| {
                    usdt_err(UsdtError::Map {
                        op: "ip map update",
                        source,
                    })
                })?;
                ips.push(ip);
            }
            ip_owned = Some(owned);
        }
        // From here on, the Link under construction owns the ip entries and spec ids.
        let mut link = Link::new(
            Inner::Usdt {
                parts: Vec::new(),
                ip_map: ip_owned,
                ips,
                lease,
            },
            self.name(),
            target.clone(),
        );
        let parts: Vec<Link> =
            if self.expected_attach_type() == Some(AttachType::TRACE_UPROBE_MULTI) {
                let offsets: Vec<u64> = sites.iter().map(|s| s.file_offset).collect();
                let refs: Vec<u64> = sites.iter().map(|s| s.sema_offset).collect();
                let cookies: Vec<u64> = if use_cookie {
                    site_ids.iter().map(|&id| u64::from(id)).collect()
                } else {
                    Vec::new()
                };
                let cpath =
                    c_path(&path).ok_or_else(|| self.unsupported(&target, "path holds a NUL"))?;
                let mut req = LinkCreate::new(
                    self.as_fd(),
                    LinkTarget::None,
                    AttachType::TRACE_UPROBE_MULTI,
                );
                req.extra = LinkExtra::UprobeMulti {
                    path: &cpath,
                    offsets: &offsets,
                    ref_ctr_offsets: if refs.iter().any(|&r| r != 0) {
                        &refs
                    } else {
                        &[]
                    },
                    cookies: &cookies,
                    flags: 0,
                    pid: pid.map_or(0, |p| p as u32),
                };
                let fd = link_create(&req).map_err(self.attach_err(&target))?;
                vec![Link::bpf(
                    fd,
                    self.name(),
                    format!("{target} (uprobe.multi)"),
                )]
            } else {
                let mut parts = Vec::with_capacity(sites.len());
                for (site, &id) in sites.iter().zip(&site_ids) {
                    let uopts = UprobeOptions {
                        pid,
                        ref_ctr_offset: site.sema_offset,
                        cookie: if use_cookie { u64::from(id) } else { 0 },
                        ..Default::default()
                    };
                    let where_ = format!("{target} at {:#x}", site.file_offset);
                    parts.push(self.attach_uprobe_at(&path, site.file_offset, &uopts, where_)?);
                }
                parts
            };
        if let Inner::Usdt { parts: slot, .. } = link.inner_mut() {
            *slot = parts;
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(provider: &str, name: &str, args: &str, addrs: [u64; 3]) -> Vec<u8> {
        let mut desc = Vec::new();
        for a in addrs {
            desc.extend_from_slice(&a.to_le_bytes());
        }
        for s in [provider, name, args] {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        let mut n = Vec::new();
        n.extend_from_slice(&8u32.to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&NOTE_TYPE.to_le_bytes());
        n.extend_from_slice(b"stapsdt\0");
        n.extend_from_slice(&desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    #[test]
    fn spec_ids_are_leased_per_map_and_released() {
        let a = SpecIdLease::reserve(u32::MAX, 4, 3).unwrap();
        assert_eq!(a.ids, vec![0, 1, 2]);
        let b = SpecIdLease::reserve(u32::MAX, 4, 1).unwrap();
        assert_eq!(b.ids, vec![3]);
        assert!(matches!(
            SpecIdLease::reserve(u32::MAX, 4, 1),
            Err(UsdtError::SpecsFull { max_entries: 4 })
        ));
        // Another map has its own ids.
        assert_eq!(
            SpecIdLease::reserve(u32::MAX - 1, 4, 1).unwrap().ids,
            vec![0]
        );
        drop(a);
        assert_eq!(
            SpecIdLease::reserve(u32::MAX, 4, 2).unwrap().ids,
            vec![0, 1]
        );
        drop(b);
    }

    #[test]
    fn synthetic_note_bytes_round_trip() {
        // The note parser only needs the section; wrap synthetic notes in a minimal check of
        // the byte walker by parsing them through a tiny fake section slice.
        let mut data = note("prov", "probe", "-4@%eax 8@$1", [0x1000, 0x2000, 0]);
        data.extend(note("prov", "other", ":", [0x1010, 0x2000, 0x3000]));
        // A truncated trailing note is ignored only if shorter than a header.
        data.extend_from_slice(&[1, 2, 3]);
        let parsed = parse_note_bytes(&data).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].args, "-4@%eax 8@$1");
        assert_eq!(parsed[1].args, "", "':' means no arguments");
        assert_eq!(parsed[1].sema_addr, 0x3000);
        // A descriptor that claims more bytes than exist is an error, not a panic.
        let mut bad = note("p", "n", "", [1, 2, 3]);
        bad[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert!(parse_note_bytes(&bad).is_err());
    }

    /// The note walker of `usdt_notes` over raw little-endian 64-bit section bytes.
    fn parse_note_bytes(data: &[u8]) -> std::result::Result<Vec<UsdtNote>, UsdtError> {
        let mut elf = minimal_elf_with_notes(data);
        let bin = ElfBinary::from_bytes("/synthetic", std::mem::take(&mut elf));
        usdt_notes(&bin)
    }

    /// An ELF64 LE relocatable file with one `.note.stapsdt` section holding `notes`.
    fn minimal_elf_with_notes(notes: &[u8]) -> Vec<u8> {
        let shstrtab = b"\0.note.stapsdt\0.shstrtab\0";
        let notes_off = 64usize;
        let shstr_off = notes_off + notes.len();
        let sh_off = (shstr_off + shstrtab.len()).next_multiple_of(8);
        let mut f = vec![0u8; sh_off + 3 * 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        f[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[40..48].copy_from_slice(&(sh_off as u64).to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&3u16.to_le_bytes());
        f[62..64].copy_from_slice(&2u16.to_le_bytes());
        f[notes_off..notes_off + notes.len()].copy_from_slice(notes);
        f[shstr_off..shstr_off + shstrtab.len()].copy_from_slice(shstrtab);
        let sh = |f: &mut Vec<u8>, i: usize, name: u32, ty: u32, off: usize, size: usize| {
            let b = sh_off + i * 64;
            f[b..b + 4].copy_from_slice(&name.to_le_bytes());
            f[b + 4..b + 8].copy_from_slice(&ty.to_le_bytes());
            f[b + 24..b + 32].copy_from_slice(&(off as u64).to_le_bytes());
            f[b + 32..b + 40].copy_from_slice(&(size as u64).to_le_bytes());
            f[b + 48..b + 56].copy_from_slice(&1u64.to_le_bytes());
        };
        sh(&mut f, 1, 1, 7, notes_off, notes.len()); // SHT_NOTE
        sh(&mut f, 2, 15, 3, shstr_off, shstrtab.len()); // SHT_STRTAB
        f
    }
}
