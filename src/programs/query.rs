//! Queries: which programs are attached to a cgroup, an interface (XDP over netlink, tcx,
//! netlink TC) or a network namespace, and every program, map and link of the system (what
//! `bpftool prog/map/link show` lists).

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;

use crate::syscall::{
    link_get_fd_by_id, link_ids, link_info, link_info_name, map_get_fd_by_id, map_ids, map_info,
    netlink_tc_filters, netlink_xdp_query, prog_get_fd_by_id, prog_ids, prog_query, AttachFlags,
    AttachType, FileFlags, LinkInfo, MapInfo, ProgQuery, QueryFlags, SyscallError, Target,
    TcFilter, XdpState, TC_PARENT_EGRESS, TC_PARENT_INGRESS,
};

use super::program::{Program, ProgramInfo};
use super::tc::TcDirection;

/// One program on a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachedProgram {
    /// The program's id.
    pub prog_id: u32,
    /// The link holding it (`None`: attached without a link, or not reported).
    pub link_id: Option<u32>,
    /// Its attach flags (reported since 6.0 for cgroups).
    pub attach_flags: AttachFlags,
}

/// The programs of one hook, in run order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookPrograms {
    /// The hook's attach flags.
    pub attach_flags: AttachFlags,
    /// The hook's revision (multi-program hooks, 6.6).
    pub revision: u64,
    /// The programs.
    pub programs: Vec<AttachedProgram>,
}

/// `BPF_PROG_QUERY` with buffers grown to the count, asking for link ids and flags where
/// the kernel has them (an older kernel refusing those fields is asked again without).
fn query(
    target: Target<'_>,
    attach_type: AttachType,
    flags: QueryFlags,
) -> Result<HookPrograms, SyscallError> {
    let mut full = true;
    let mut room = 16usize;
    loop {
        let mut ids = vec![0u32; room];
        let mut prog_flags = vec![0u32; room];
        let mut links = vec![0u32; room];
        let mut q = ProgQuery {
            query_flags: flags,
            prog_ids: Some(&mut ids),
            ..Default::default()
        };
        if full {
            q.prog_attach_flags = Some(&mut prog_flags);
            q.link_ids = Some(&mut links);
        }
        match prog_query(target, attach_type, &mut q) {
            Ok(out) => {
                let n = (out.count as usize).min(room);
                return Ok(HookPrograms {
                    attach_flags: out.attach_flags,
                    revision: out.revision,
                    programs: (0..n)
                        .map(|i| AttachedProgram {
                            prog_id: ids[i],
                            link_id: (full && links[i] != 0).then_some(links[i]),
                            attach_flags: AttachFlags::from_bits_retain(if full {
                                prog_flags[i]
                            } else {
                                0
                            }),
                        })
                        .collect(),
                });
            }
            Err(e) if e.errno == Errno::ENOSPC && room < 1 << 16 => room *= 4,
            Err(e) if (e.errno == Errno::EINVAL || e.errno == Errno::E2BIG) && full => full = false,
            Err(e) => return Err(e),
        }
    }
}

/// The programs attached to cgroup `cgroup` at `attach_type`; with `effective`, also those
/// inherited from ancestors (what actually runs).
pub fn cgroup_programs(
    cgroup: BorrowedFd<'_>,
    attach_type: AttachType,
    effective: bool,
) -> Result<HookPrograms, SyscallError> {
    let flags = if effective {
        QueryFlags::EFFECTIVE
    } else {
        QueryFlags::empty()
    };
    query(Target::Fd(cgroup), attach_type, flags)
}

/// The tcx programs of interface `ifindex` in `direction` (6.6).
pub fn tcx_programs(ifindex: u32, direction: TcDirection) -> Result<HookPrograms, SyscallError> {
    let attach_type = match direction {
        TcDirection::Ingress => AttachType::TCX_INGRESS,
        TcDirection::Egress => AttachType::TCX_EGRESS,
    };
    query(Target::Ifindex(ifindex), attach_type, QueryFlags::empty())
}

/// The netkit programs of device `ifindex` (primary side, or `peer`).
pub fn netkit_programs(ifindex: u32, peer: bool) -> Result<HookPrograms, SyscallError> {
    let attach_type = if peer {
        AttachType::NETKIT_PEER
    } else {
        AttachType::NETKIT_PRIMARY
    };
    query(Target::Ifindex(ifindex), attach_type, QueryFlags::empty())
}

/// The programs attached to network namespace `netns` at `attach_type` (`SK_LOOKUP`,
/// `FLOW_DISSECTOR`).
pub fn netns_programs(
    netns: BorrowedFd<'_>,
    attach_type: AttachType,
) -> Result<HookPrograms, SyscallError> {
    query(Target::Fd(netns), attach_type, QueryFlags::empty())
}

/// The programs attached to a sockmap/sockhash at `attach_type`.
pub fn sockmap_programs(
    map: BorrowedFd<'_>,
    attach_type: AttachType,
) -> Result<HookPrograms, SyscallError> {
    query(Target::Fd(map), attach_type, QueryFlags::empty())
}

/// The XDP programs of interface `ifindex` (netlink; every mode).
pub fn xdp_programs(ifindex: u32) -> Result<XdpState, SyscallError> {
    netlink_xdp_query(ifindex)
}

/// The netlink `cls_bpf` filters of interface `ifindex`'s clsact hook in `direction`.
pub fn tc_filters(ifindex: u32, direction: TcDirection) -> Result<Vec<TcFilter>, SyscallError> {
    let parent = match direction {
        TcDirection::Ingress => TC_PARENT_INGRESS,
        TcDirection::Egress => TC_PARENT_EGRESS,
    };
    netlink_tc_filters(ifindex, parent)
}

/// Whether an error of opening an object by id means it went away meanwhile.
fn vanished(e: &SyscallError) -> bool {
    e.errno == Errno::ENOENT
}

/// Every program of the system, with its info (programs freed while listing are skipped).
pub fn all_programs() -> Result<Vec<ProgramInfo>, SyscallError> {
    let mut out = Vec::new();
    for id in prog_ids() {
        let fd = match prog_get_fd_by_id(id?) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        match Program::from_fd(fd).and_then(|p| p.info()) {
            Ok(info) => out.push(info),
            Err(super::ProgramError::Syscall { source, .. }) if vanished(&source) => {}
            Err(
                super::ProgramError::Syscall { source, .. }
                | super::ProgramError::Pin { source, .. },
            ) => return Err(*source),
        }
    }
    Ok(out)
}

/// Every map of the system.
pub fn all_maps() -> Result<Vec<MapInfo>, SyscallError> {
    let mut out = Vec::new();
    for id in map_ids() {
        let fd = match map_get_fd_by_id(id?, FileFlags::empty()) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        out.push(map_info(fd.as_fd())?);
    }
    Ok(out)
}

/// A link as `bpftool link show` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSummary {
    /// The kernel's info.
    pub info: LinkInfo,
    /// The name the link reports (tracepoint, function, binary), if its type has one.
    pub name: Option<String>,
}

/// Every link of the system.
pub fn all_links() -> Result<Vec<LinkSummary>, SyscallError> {
    let mut out = Vec::new();
    for id in link_ids() {
        let fd = match link_get_fd_by_id(id?) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        let info = link_info(fd.as_fd())?;
        let name = link_info_name(fd.as_fd()).ok().flatten();
        out.push(LinkSummary { info, name });
    }
    Ok(out)
}
