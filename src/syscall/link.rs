//! Links: `BPF_LINK_CREATE` (with every per-attach-type extension), `BPF_LINK_UPDATE`,
//! `BPF_LINK_DETACH`, `BPF_RAW_TRACEPOINT_OPEN`, `BPF_ITER_CREATE`, `BPF_TASK_FD_QUERY`.
//!
//! A link fd keeps the program attached until it is closed (or detached); pin it to keep the
//! attachment past the process.
//!
//! ```no_run
//! use oxbpf::syscall::*;
//! use std::os::fd::AsFd;
//! # fn f(prog: std::os::fd::OwnedFd, perf: std::os::fd::OwnedFd) -> Result<()> {
//! // A kprobe/tracepoint program on a perf event, with a cookie (5.15).
//! let mut req = LinkCreate::new(prog.as_fd(), LinkTarget::Fd(perf.as_fd()), AttachType::PERF_EVENT);
//! req.extra = LinkExtra::PerfEvent { bpf_cookie: 7 };
//! let link = link_create(&req)?;
//! # Ok(()) }
//! ```

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;

use super::attach::Relative;
use super::error::{Call, Hint, Result, SyscallError};
use super::fd::{fd_u32, raw_u32};
use super::flags::AttachFlags;
use super::sys::{
    bpf_fd, bpf_fd_fields, bpf_value, len_u32, mut_ptr_u64, ptr_u64, Attr, Pod, Sealed,
};
use super::types::{AttachType, Command};
use super::version::{field, Field};

/// The `link_create` member of `union bpf_attr` (64 bytes): the common head and the
/// per-attach-type union as bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkCreateAttr {
    /// `prog_fd` (or `map_fd` for struct_ops).
    pub prog_fd: u32,
    /// `target_fd` or `target_ifindex`.
    pub target_fd: u32,
    /// `attach_type`.
    pub attach_type: u32,
    /// `flags`.
    pub flags: u32,
    /// The per-attach-type union at offset 16, native-endian.
    pub extra: [u8; 48],
}

impl Default for LinkCreateAttr {
    fn default() -> Self {
        LinkCreateAttr {
            prog_fd: 0,
            target_fd: 0,
            attach_type: 0,
            flags: 0,
            extra: [0; 48],
        }
    }
}

impl Sealed for LinkCreateAttr {}
// SAFETY: repr(C), integer and byte-array fields, no padding (16 + 48 bytes, align 4).
unsafe impl Pod for LinkCreateAttr {}

impl LinkCreateAttr {
    fn put_u32(&mut self, offset: usize, v: u32) {
        self.put(offset, &v.to_ne_bytes());
    }

    fn put_u64(&mut self, offset: usize, v: u64) {
        self.put(offset, &v.to_ne_bytes());
    }

    /// Writes at a struct offset (16.. is the union); offsets are constants below.
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(dst) = offset
            .checked_sub(16)
            .and_then(|o| self.extra.get_mut(o..o + bytes.len()))
        {
            dst.copy_from_slice(bytes);
        }
    }

    /// The `u32` at struct `offset` of the union (for tests and decoding).
    pub fn u32_at(&self, offset: usize) -> u32 {
        let o = offset.wrapping_sub(16);
        self.extra
            .get(o..o.wrapping_add(4))
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    }

    /// The `u64` at struct `offset` of the union (for tests and decoding).
    pub fn u64_at(&self, offset: usize) -> u64 {
        let o = offset.wrapping_sub(16);
        self.extra
            .get(o..o.wrapping_add(8))
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }
}

/// Where a link attaches.
#[derive(Clone, Copy, Debug, Default)]
pub enum LinkTarget<'a> {
    /// No target (tracing, LSM, iterators, struct_ops, kprobe/uprobe multi, netfilter).
    #[default]
    None,
    /// `target_fd`: a cgroup, netns, perf event, sockmap, or BPF program (freplace).
    Fd(BorrowedFd<'a>),
    /// `target_ifindex`: a network interface (XDP, tcx, netkit).
    Ifindex(u32),
}

/// The per-attach-type part of `BPF_LINK_CREATE`.
#[derive(Clone, Copy, Debug, Default)]
pub enum LinkExtra<'a> {
    /// Nothing more (cgroup, netns, XDP, sockmap, struct_ops, LSM, fentry without cookie).
    #[default]
    None,
    /// `target_btf_id` (5.10): freplace/fentry on a BPF program target.
    TargetBtfId(u32),
    /// `iter_info` (5.9): a `union bpf_iter_link_info` (map fd, cgroup, task, ...).
    Iter {
        /// The raw `bpf_iter_link_info` bytes.
        info: &'a [u8],
    },
    /// `perf_event.bpf_cookie` (5.15): for [`AttachType::PERF_EVENT`].
    PerfEvent {
        /// Cookie returned by `bpf_get_attach_cookie`.
        bpf_cookie: u64,
    },
    /// `kprobe_multi` (5.18): for [`AttachType::TRACE_KPROBE_MULTI`]/`_SESSION`. Exactly one
    /// of `syms` and `addrs` is non-empty; `cookies` is empty or as long.
    KprobeMulti {
        /// `BPF_F_KPROBE_MULTI_RETURN` (1) for return probes.
        flags: u32,
        /// Function names.
        syms: &'a [&'a CStr],
        /// Function addresses.
        addrs: &'a [u64],
        /// One cookie per function.
        cookies: &'a [u64],
    },
    /// `tracing` (5.19): fentry/fexit/fmod_ret/LSM with a target and a cookie.
    Tracing {
        /// BTF id of the target (0: from the load).
        target_btf_id: u32,
        /// Cookie.
        cookie: u64,
    },
    /// `netfilter` (6.4).
    Netfilter {
        /// Protocol family (`NFPROTO_IPV4`, ...).
        pf: u32,
        /// Hook number.
        hooknum: u32,
        /// Priority.
        priority: i32,
        /// `BPF_F_NETFILTER_IP_DEFRAG`.
        flags: u32,
    },
    /// `tcx` (6.6): position among the interface's tcx programs.
    Tcx {
        /// Anchor for `BEFORE`/`AFTER` in the link flags.
        relative: Relative<'a>,
        /// Expected revision (0: don't check).
        expected_revision: u64,
    },
    /// `uprobe_multi` (6.6): for [`AttachType::TRACE_UPROBE_MULTI`]/`_SESSION`.
    /// `ref_ctr_offsets` and `cookies` are empty or as long as `offsets`.
    UprobeMulti {
        /// The binary.
        path: &'a CStr,
        /// File offsets of the probes.
        offsets: &'a [u64],
        /// Semaphore (reference counter) offsets.
        ref_ctr_offsets: &'a [u64],
        /// One cookie per probe.
        cookies: &'a [u64],
        /// `BPF_F_UPROBE_MULTI_RETURN` (1) for return probes.
        flags: u32,
        /// Only this process (0: all).
        pid: u32,
    },
    /// `netkit` (6.7): position among the device's netkit programs.
    Netkit {
        /// Anchor.
        relative: Relative<'a>,
        /// Expected revision.
        expected_revision: u64,
    },
    /// `cgroup` (6.16): position among the cgroup's programs (multi-program API).
    Cgroup {
        /// Anchor.
        relative: Relative<'a>,
        /// Expected revision.
        expected_revision: u64,
    },
}

const fn head(last: Field) -> [Field; 5] {
    [
        field("prog_fd", 0, 5, 7),
        field("target_fd", 4, 5, 7),
        field("attach_type", 8, 5, 7),
        field("flags", 12, 5, 7),
        last,
    ]
}

static LC_NONE: [Field; 5] = head(field("(union)", 16, 5, 7));
static LC_BTF_ID: [Field; 5] = head(field("target_btf_id", 16, 5, 10));
static LC_ITER: [Field; 5] = head(field("iter_info", 16, 5, 9));
static LC_PERF: [Field; 5] = head(field("perf_event.bpf_cookie", 16, 5, 15));
static LC_KMULTI: [Field; 5] = head(field("kprobe_multi", 16, 5, 18));
static LC_TRACING: [Field; 5] = head(field("tracing.cookie", 16, 5, 19));
static LC_NETFILTER: [Field; 5] = head(field("netfilter", 16, 6, 4));
static LC_TCX: [Field; 5] = head(field("tcx", 16, 6, 6));
static LC_UMULTI: [Field; 5] = head(field("uprobe_multi", 16, 6, 6));
static LC_NETKIT: [Field; 5] = head(field("netkit", 16, 6, 7));
static LC_CGROUP: [Field; 5] = head(field("cgroup", 16, 6, 16));

/// A `BPF_LINK_CREATE` request; [`LinkCreate::new`] fills the required parts.
#[derive(Clone, Copy, Debug)]
pub struct LinkCreate<'a> {
    /// The program (or the struct_ops map, with [`AttachType::STRUCT_OPS`]).
    pub prog: BorrowedFd<'a>,
    /// Where to attach.
    pub target: LinkTarget<'a>,
    /// The hook.
    pub attach_type: AttachType,
    /// `flags` (XDP mode flags, mprog `BEFORE`/`AFTER`, ...); `ID`/`LINK` are added from a
    /// [`Relative`] anchor.
    pub flags: u32,
    /// The per-attach-type extension.
    pub extra: LinkExtra<'a>,
}

impl<'a> LinkCreate<'a> {
    /// Link `prog` to `target` at `attach_type`, with no flags or extension.
    pub fn new(prog: BorrowedFd<'a>, target: LinkTarget<'a>, attach_type: AttachType) -> Self {
        LinkCreate {
            prog,
            target,
            attach_type,
            flags: 0,
            extra: LinkExtra::None,
        }
    }
}

fn bad(why: &'static str) -> SyscallError {
    SyscallError::rejected(
        Call::Bpf(Command::LINK_CREATE),
        Errno::EINVAL,
        Hint::BadArgument(why),
    )
}

fn same_len_or_empty(slice_len: usize, cnt: usize, why: &'static str) -> Result<()> {
    if slice_len == 0 || slice_len == cnt {
        Ok(())
    } else {
        Err(bad(why))
    }
}

/// `BPF_LINK_CREATE`: attaches through a link; dropping the returned fd detaches (unless
/// the link is pinned).
pub fn link_create(req: &LinkCreate<'_>) -> Result<OwnedFd> {
    let cmd = Command::LINK_CREATE;
    let mut attr = LinkCreateAttr {
        prog_fd: raw_u32(req.prog),
        target_fd: match req.target {
            LinkTarget::None => 0,
            LinkTarget::Fd(fd) => raw_u32(fd),
            LinkTarget::Ifindex(i) => i,
        },
        attach_type: req.attach_type.0,
        flags: req.flags,
        ..Default::default()
    };
    // Pointer arrays built here must outlive the call.
    let mut sym_ptrs: Vec<u64> = Vec::new();
    let fields: &[Field] = match req.extra {
        LinkExtra::None => &LC_NONE,
        LinkExtra::TargetBtfId(id) => {
            attr.put_u32(16, id);
            &LC_BTF_ID
        }
        LinkExtra::Iter { info } => {
            attr.put_u64(16, ptr_u64(info));
            attr.put_u32(24, len_u32(cmd, "iter_info too long", info.len())?);
            &LC_ITER
        }
        LinkExtra::PerfEvent { bpf_cookie } => {
            attr.put_u64(16, bpf_cookie);
            &LC_PERF
        }
        LinkExtra::KprobeMulti {
            flags,
            syms,
            addrs,
            cookies,
        } => {
            let cnt = match (syms.len(), addrs.len()) {
                (0, 0) => return Err(bad("kprobe_multi needs syms or addrs")),
                (n, 0) | (0, n) => n,
                _ => return Err(bad("kprobe_multi takes syms or addrs, not both")),
            };
            same_len_or_empty(cookies.len(), cnt, "kprobe_multi cookies count differs")?;
            sym_ptrs = syms.iter().map(|s| s.as_ptr() as u64).collect();
            attr.put_u32(16, flags);
            attr.put_u32(20, len_u32(cmd, "too many kprobes", cnt)?);
            attr.put_u64(24, ptr_u64(&sym_ptrs));
            attr.put_u64(32, ptr_u64(addrs));
            attr.put_u64(40, ptr_u64(cookies));
            &LC_KMULTI
        }
        LinkExtra::Tracing {
            target_btf_id,
            cookie,
        } => {
            attr.put_u32(16, target_btf_id);
            attr.put_u64(24, cookie);
            &LC_TRACING
        }
        LinkExtra::Netfilter {
            pf,
            hooknum,
            priority,
            flags,
        } => {
            attr.put_u32(16, pf);
            attr.put_u32(20, hooknum);
            attr.put(24, &priority.to_ne_bytes());
            attr.put_u32(28, flags);
            &LC_NETFILTER
        }
        LinkExtra::Tcx {
            relative,
            expected_revision,
        }
        | LinkExtra::Netkit {
            relative,
            expected_revision,
        }
        | LinkExtra::Cgroup {
            relative,
            expected_revision,
        } => {
            let (rel, rel_flags) = relative.encode();
            attr.flags |= rel_flags.bits();
            attr.put_u32(16, rel);
            attr.put_u64(24, expected_revision);
            match req.extra {
                LinkExtra::Tcx { .. } => &LC_TCX,
                LinkExtra::Netkit { .. } => &LC_NETKIT,
                _ => &LC_CGROUP,
            }
        }
        LinkExtra::UprobeMulti {
            path,
            offsets,
            ref_ctr_offsets,
            cookies,
            flags,
            pid,
        } => {
            let cnt = offsets.len();
            if cnt == 0 {
                return Err(bad("uprobe_multi needs offsets"));
            }
            same_len_or_empty(ref_ctr_offsets.len(), cnt, "ref_ctr_offsets count differs")?;
            same_len_or_empty(cookies.len(), cnt, "uprobe_multi cookies count differs")?;
            attr.put_u64(16, path.as_ptr() as u64);
            attr.put_u64(24, ptr_u64(offsets));
            attr.put_u64(32, ptr_u64(ref_ctr_offsets));
            attr.put_u64(40, ptr_u64(cookies));
            attr.put_u32(48, len_u32(cmd, "too many uprobes", cnt)?);
            attr.put_u32(52, flags);
            attr.put_u32(56, pid);
            &LC_UMULTI
        }
    };
    // SAFETY: every pointer written into the union comes from `req` (borrowed for the call)
    // or `sym_ptrs` (alive until return), each with the count the kernel reads: iter_info
    // with its length; kprobe_multi syms (NUL-terminated strings), addrs and cookies with
    // `cnt` entries each (checked above); uprobe_multi path NUL-terminated, offsets,
    // ref_ctr_offsets and cookies with `cnt` entries or null. The kernel only reads them.
    let fd = unsafe { bpf_fd_fields(cmd, &mut attr, fields) };
    drop(sym_ptrs);
    fd
}

/// The `link_update` member of `union bpf_attr` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct LinkUpdateAttr {
    pub link_fd: u32,
    /// `new_prog_fd` or `new_map_fd`.
    pub new_prog_fd: u32,
    pub flags: u32,
    /// `old_prog_fd` or `old_map_fd`.
    pub old_prog_fd: u32,
}

impl Sealed for LinkUpdateAttr {}
// SAFETY: repr(C), four u32s.
unsafe impl Pod for LinkUpdateAttr {}
impl Attr for LinkUpdateAttr {
    const FIELDS: &'static [Field] = &[
        field("link_fd", 0, 5, 7),
        field("new_prog_fd", 4, 5, 7),
        field("flags", 8, 5, 7),
        field("old_prog_fd", 12, 5, 7),
    ];
}

/// `BPF_LINK_UPDATE`: swaps the link's program (or struct_ops map) for `new`; with `old`,
/// only if `old` is the current one (`BPF_F_REPLACE`).
pub fn link_update(
    link: BorrowedFd<'_>,
    new: BorrowedFd<'_>,
    old: Option<BorrowedFd<'_>>,
) -> Result<()> {
    let mut attr = LinkUpdateAttr {
        link_fd: raw_u32(link),
        new_prog_fd: raw_u32(new),
        flags: if old.is_some() {
            AttachFlags::REPLACE.bits()
        } else {
            0
        },
        old_prog_fd: fd_u32(old),
    };
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::LINK_UPDATE, &mut attr) }.map(drop)
}

/// The `link_detach` member of `union bpf_attr` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkDetachAttr {
    /// `link_fd`.
    pub link_fd: u32,
}

impl Sealed for LinkDetachAttr {}
// SAFETY: repr(C), one u32.
unsafe impl Pod for LinkDetachAttr {}
impl Attr for LinkDetachAttr {
    const FIELDS: &'static [Field] = &[field("link_fd", 0, 5, 9)];
}

/// `BPF_LINK_DETACH`: detaches the link now; the fd stays open (defunct).
pub fn link_detach(link: BorrowedFd<'_>) -> Result<()> {
    let mut attr = LinkDetachAttr {
        link_fd: raw_u32(link),
    };
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::LINK_DETACH, &mut attr) }.map(drop)
}

/// The `raw_tracepoint` member of `union bpf_attr` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct RawTracepointAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad0: u32,
    pub cookie: u64,
}

impl Sealed for RawTracepointAttr {}
// SAFETY: repr(C), integer fields, explicit padding.
unsafe impl Pod for RawTracepointAttr {}
impl Attr for RawTracepointAttr {
    const FIELDS: &'static [Field] = &[
        field("name", 0, 4, 17),
        field("prog_fd", 8, 4, 17),
        field("cookie", 16, 6, 10),
    ];
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to tracepoint `name` (`None`
/// for programs loaded against a BTF target: tp_btf, fentry/fexit, LSM), returning a link
/// fd. `cookie` needs 6.10.
pub fn raw_tracepoint_open(
    prog: BorrowedFd<'_>,
    name: Option<&CStr>,
    cookie: u64,
) -> Result<OwnedFd> {
    let mut attr = RawTracepointAttr {
        name: name.map_or(0, |n| n.as_ptr() as u64),
        prog_fd: raw_u32(prog),
        _pad0: 0,
        cookie,
    };
    // SAFETY: `name` is null or a NUL-terminated string borrowed for the call.
    unsafe { bpf_fd(Command::RAW_TRACEPOINT_OPEN, &mut attr) }
}

/// The `iter_create` member of `union bpf_attr` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct IterCreateAttr {
    pub link_fd: u32,
    pub flags: u32,
}

impl Sealed for IterCreateAttr {}
// SAFETY: repr(C), two u32s.
unsafe impl Pod for IterCreateAttr {}
impl Attr for IterCreateAttr {
    const FIELDS: &'static [Field] = &[field("link_fd", 0, 5, 8), field("flags", 4, 5, 8)];
}

/// `BPF_ITER_CREATE`: opens an iterator instance of an iter link; `read(2)` the returned fd
/// to run it.
pub fn iter_create(link: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut attr = IterCreateAttr {
        link_fd: raw_u32(link),
        flags: 0,
    };
    // SAFETY: no pointers; the command returns a new fd.
    unsafe { bpf_fd(Command::ITER_CREATE, &mut attr) }
}

/// The `task_fd_query` member of `union bpf_attr` (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TaskFdQueryAttr {
    pub pid: u32,
    pub fd: u32,
    pub flags: u32,
    pub buf_len: u32,
    pub buf: u64,
    pub prog_id: u32,
    pub fd_type: u32,
    pub probe_offset: u64,
    pub probe_addr: u64,
}

impl Sealed for TaskFdQueryAttr {}
// SAFETY: repr(C), integer fields, no padding.
unsafe impl Pod for TaskFdQueryAttr {}
impl Attr for TaskFdQueryAttr {
    const FIELDS: &'static [Field] = &[
        field("pid", 0, 4, 19),
        field("fd", 4, 4, 19),
        field("flags", 8, 4, 19),
        field("buf_len", 12, 4, 19),
        field("buf", 16, 4, 19),
        field("prog_id", 24, 4, 19),
        field("fd_type", 28, 4, 19),
        field("probe_offset", 32, 4, 19),
        field("probe_addr", 40, 4, 19),
    ];
}

/// What [`task_fd_query`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFdQueryOutput {
    /// The attached program's id.
    pub prog_id: u32,
    /// `BPF_FD_TYPE_*`: 0 raw_tp, 1 tracepoint, 2 kprobe, 3 kretprobe, 4 uprobe, 5 uretprobe.
    pub fd_type: u32,
    /// Probe offset.
    pub probe_offset: u64,
    /// Probe address.
    pub probe_addr: u64,
    /// Full length of the name (tracepoint, function or file); `buf` holds a prefix.
    pub name_len: u32,
}

/// `BPF_TASK_FD_QUERY`: what program process `pid`'s fd `fd` (a perf event or raw
/// tracepoint) runs, and where; the name is written into `buf` (NUL-terminated).
pub fn task_fd_query(pid: u32, fd: u32, buf: &mut [u8]) -> Result<TaskFdQueryOutput> {
    let mut attr = TaskFdQueryAttr {
        pid,
        fd,
        buf_len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        buf: mut_ptr_u64(buf),
        ..Default::default()
    };
    // SAFETY: `buf` is null with length 0, or an exclusively borrowed buffer of `buf_len`
    // bytes, which bounds the kernel's write.
    unsafe { bpf_value(Command::TASK_FD_QUERY, &mut attr)? };
    Ok(TaskFdQueryOutput {
        prog_id: attr.prog_id,
        fd_type: attr.fd_type,
        probe_offset: attr.probe_offset,
        probe_addr: attr.probe_addr,
        name_len: attr.buf_len,
    })
}
