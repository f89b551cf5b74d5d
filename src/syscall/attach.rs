//! Legacy (non-link) attachment: `BPF_PROG_ATTACH`, `BPF_PROG_DETACH`, `BPF_PROG_QUERY`, for
//! cgroups, sockmaps, flow dissectors, lirc, and the tcx/netkit multi-program API.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::error::Result;
use super::fd::{fd_u32, raw_u32};
use super::flags::{AttachFlags, QueryFlags};
use super::sys::{bpf_value, mut_ptr_u64, Attr, Pod, Sealed};
use super::types::{AttachType, Command};
use super::version::{field, Field};

/// Where a program attaches: a file descriptor (cgroup, map, netns, lirc device) or a network
/// interface index (tcx, netkit).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// `target_fd`.
    Fd(BorrowedFd<'a>),
    /// `target_ifindex`.
    Ifindex(u32),
}

impl Target<'_> {
    pub(crate) fn raw(&self) -> u32 {
        match self {
            Target::Fd(fd) => raw_u32(*fd),
            Target::Ifindex(i) => *i,
        }
    }
}

/// The program or link that a multi-program attach is placed relative to (with
/// [`AttachFlags::BEFORE`]/[`AttachFlags::AFTER`]). Selecting a variant also sets
/// `BPF_F_ID` and/or `BPF_F_LINK` as the kernel wants.
#[derive(Clone, Copy, Debug, Default)]
pub enum Relative<'a> {
    /// No anchor (first/last in the list with BEFORE/AFTER).
    #[default]
    None,
    /// A program, by fd.
    ProgFd(BorrowedFd<'a>),
    /// A program, by id.
    ProgId(u32),
    /// A link, by fd.
    LinkFd(BorrowedFd<'a>),
    /// A link, by id.
    LinkId(u32),
}

impl Relative<'_> {
    /// The `relative_fd`/`relative_id` value and the flags it implies.
    pub(crate) fn encode(&self) -> (u32, AttachFlags) {
        match self {
            Relative::None => (0, AttachFlags::empty()),
            Relative::ProgFd(fd) => (fd.as_raw_fd() as u32, AttachFlags::empty()),
            Relative::ProgId(id) => (*id, AttachFlags::ID),
            Relative::LinkFd(fd) => (fd.as_raw_fd() as u32, AttachFlags::LINK),
            Relative::LinkId(id) => (*id, AttachFlags::LINK | AttachFlags::ID),
        }
    }
}

/// The `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` member of `union bpf_attr` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ProgAttachAttr {
    /// `target_fd` or `target_ifindex`.
    pub target_fd: u32,
    pub attach_bpf_fd: u32,
    pub attach_type: u32,
    pub attach_flags: u32,
    pub replace_bpf_fd: u32,
    /// `relative_fd` or `relative_id`.
    pub relative_fd: u32,
    pub expected_revision: u64,
}

impl Sealed for ProgAttachAttr {}
// SAFETY: repr(C), integer fields, no padding.
unsafe impl Pod for ProgAttachAttr {}
impl Attr for ProgAttachAttr {
    const FIELDS: &'static [Field] = &[
        field("target_fd", 0, 4, 10),
        field("attach_bpf_fd", 4, 4, 10),
        field("attach_type", 8, 4, 10),
        field("attach_flags", 12, 4, 10),
        field("replace_bpf_fd", 16, 5, 6),
        field("relative_fd", 20, 6, 6),
        field("expected_revision", 24, 6, 6),
    ];
}

/// A `BPF_PROG_ATTACH` request; [`ProgAttach::new`] fills the required parts.
#[derive(Clone, Copy, Debug)]
pub struct ProgAttach<'a> {
    /// Where to attach.
    pub target: Target<'a>,
    /// The program.
    pub prog: BorrowedFd<'a>,
    /// The hook.
    pub attach_type: AttachType,
    /// `attach_flags` (`ALLOW_MULTI`, `BEFORE`, ...).
    pub flags: AttachFlags,
    /// Program to replace (sets [`AttachFlags::REPLACE`]).
    pub replace: Option<BorrowedFd<'a>>,
    /// Anchor for BEFORE/AFTER (6.6 multi-program API).
    pub relative: Relative<'a>,
    /// Fail with ESTALE unless the hook's revision is this (0: don't check).
    pub expected_revision: u64,
}

impl<'a> ProgAttach<'a> {
    /// Attach `prog` to `target` at `attach_type`, with no flags.
    pub fn new(target: Target<'a>, prog: BorrowedFd<'a>, attach_type: AttachType) -> Self {
        ProgAttach {
            target,
            prog,
            attach_type,
            flags: AttachFlags::empty(),
            replace: None,
            relative: Relative::None,
            expected_revision: 0,
        }
    }

    /// The attribute struct this request becomes.
    pub fn to_attr(&self) -> ProgAttachAttr {
        let (relative_fd, rel_flags) = self.relative.encode();
        let mut flags = self.flags | rel_flags;
        if self.replace.is_some() {
            flags |= AttachFlags::REPLACE;
        }
        ProgAttachAttr {
            target_fd: self.target.raw(),
            attach_bpf_fd: raw_u32(self.prog),
            attach_type: self.attach_type.0,
            attach_flags: flags.bits(),
            replace_bpf_fd: fd_u32(self.replace),
            relative_fd,
            expected_revision: self.expected_revision,
        }
    }
}

/// `BPF_PROG_ATTACH`.
pub fn prog_attach(req: &ProgAttach<'_>) -> Result<()> {
    let mut attr = req.to_attr();
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::PROG_ATTACH, &mut attr) }.map(drop)
}

/// A `BPF_PROG_DETACH` request; [`ProgDetach::new`] fills the required parts.
#[derive(Clone, Copy, Debug)]
pub struct ProgDetach<'a> {
    /// Where the program is attached.
    pub target: Target<'a>,
    /// The program (required for multi-attach hooks; `None` detaches the only one).
    pub prog: Option<BorrowedFd<'a>>,
    /// The hook.
    pub attach_type: AttachType,
    /// `attach_flags`.
    pub flags: AttachFlags,
    /// Anchor (multi-program API).
    pub relative: Relative<'a>,
    /// Expected revision (0: don't check).
    pub expected_revision: u64,
}

impl<'a> ProgDetach<'a> {
    /// Detach from `target` at `attach_type` (the program given or the only one).
    pub fn new(target: Target<'a>, prog: Option<BorrowedFd<'a>>, attach_type: AttachType) -> Self {
        ProgDetach {
            target,
            prog,
            attach_type,
            flags: AttachFlags::empty(),
            relative: Relative::None,
            expected_revision: 0,
        }
    }
}

/// `BPF_PROG_DETACH`.
pub fn prog_detach(req: &ProgDetach<'_>) -> Result<()> {
    let (relative_fd, rel_flags) = req.relative.encode();
    let mut attr = ProgAttachAttr {
        target_fd: req.target.raw(),
        attach_bpf_fd: fd_u32(req.prog),
        attach_type: req.attach_type.0,
        attach_flags: (req.flags | rel_flags).bits(),
        relative_fd,
        expected_revision: req.expected_revision,
        ..Default::default()
    };
    // SAFETY: no pointers.
    unsafe { bpf_value(Command::PROG_DETACH, &mut attr) }.map(drop)
}

/// The `query` member of `union bpf_attr` (`BPF_PROG_QUERY`, 64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct QueryAttr {
    /// `target_fd` or `target_ifindex`.
    pub target_fd: u32,
    pub attach_type: u32,
    pub query_flags: u32,
    pub attach_flags: u32,
    pub prog_ids: u64,
    /// `prog_cnt` or `count`.
    pub prog_cnt: u32,
    pub _pad0: u32,
    pub prog_attach_flags: u64,
    pub link_ids: u64,
    pub link_attach_flags: u64,
    pub revision: u64,
}

impl Sealed for QueryAttr {}
// SAFETY: repr(C), integer fields, explicit padding.
unsafe impl Pod for QueryAttr {}
impl Attr for QueryAttr {
    const FIELDS: &'static [Field] = &[
        field("target_fd", 0, 4, 15),
        field("attach_type", 4, 4, 15),
        field("query_flags", 8, 4, 15),
        field("attach_flags", 12, 4, 15),
        field("prog_ids", 16, 4, 15),
        field("prog_cnt", 24, 4, 15),
        field("prog_attach_flags", 32, 6, 0),
        field("link_ids", 40, 6, 6),
        field("link_attach_flags", 48, 6, 6),
        field("revision", 56, 6, 6),
    ];
}

/// Output buffers of [`prog_query`]; all `Some` buffers get the same number of entries (the
/// shortest one's length bounds the kernel).
#[derive(Debug, Default)]
pub struct ProgQuery<'a> {
    /// `query_flags`.
    pub query_flags: QueryFlags,
    /// Receives the attached programs' ids.
    pub prog_ids: Option<&'a mut [u32]>,
    /// Receives each program's attach flags (6.0).
    pub prog_attach_flags: Option<&'a mut [u32]>,
    /// Receives the link ids (0 for a program attached without a link; 6.6).
    pub link_ids: Option<&'a mut [u32]>,
    /// Receives each link's attach flags (6.6).
    pub link_attach_flags: Option<&'a mut [u32]>,
}

/// What [`prog_query`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryOutput {
    /// The hook's attach flags.
    pub attach_flags: AttachFlags,
    /// How many programs are attached (may exceed the buffers: ENOSPC then).
    pub count: u32,
    /// The hook's revision (tcx/netkit/cgroup mprog; 6.6).
    pub revision: u64,
}

/// `BPF_PROG_QUERY`: which programs are attached to `target` at `attach_type`. With no
/// buffers, only the count and flags are returned.
pub fn prog_query(
    target: Target<'_>,
    attach_type: AttachType,
    query: &mut ProgQuery<'_>,
) -> Result<QueryOutput> {
    let bufs = [
        query.prog_ids.as_deref().map(<[u32]>::len),
        query.prog_attach_flags.as_deref().map(<[u32]>::len),
        query.link_ids.as_deref().map(<[u32]>::len),
        query.link_attach_flags.as_deref().map(<[u32]>::len),
    ];
    let count = bufs.iter().flatten().min().copied().unwrap_or(0);
    let mut attr = QueryAttr {
        target_fd: target.raw(),
        attach_type: attach_type.0,
        query_flags: query.query_flags.bits(),
        prog_cnt: u32::try_from(count).unwrap_or(u32::MAX),
        ..Default::default()
    };
    if count > 0 {
        attr.prog_ids = query.prog_ids.as_deref_mut().map_or(0, mut_ptr_u64);
        attr.prog_attach_flags = query
            .prog_attach_flags
            .as_deref_mut()
            .map_or(0, mut_ptr_u64);
        attr.link_ids = query.link_ids.as_deref_mut().map_or(0, mut_ptr_u64);
        attr.link_attach_flags = query
            .link_attach_flags
            .as_deref_mut()
            .map_or(0, mut_ptr_u64);
    }
    // SAFETY: each non-null array pointer refers to an exclusively borrowed buffer of at
    // least `prog_cnt` u32s (the shortest buffer's length), which bounds the kernel's writes.
    unsafe { bpf_value(Command::PROG_QUERY, &mut attr)? };
    Ok(QueryOutput {
        attach_flags: AttachFlags::from_bits_retain(attr.attach_flags),
        count: attr.prog_cnt,
        revision: attr.revision,
    })
}
