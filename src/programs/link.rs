//! [`Link`]: one attachment of a program, whatever the kernel mechanism behind it. Dropping
//! it detaches (unless it is pinned or leaked).
//!
//! | mechanism | detach on drop | pin | update |
//! |---|---|---|---|
//! | bpf link (`BPF_LINK_CREATE`, raw tracepoint, perf link) | close the fd | yes | `BPF_LINK_UPDATE` where the link type allows |
//! | perf event + `PERF_EVENT_IOC_SET_BPF` | close the perf fd | no | no |
//! | `BPF_PROG_ATTACH` (cgroup, sockmap, netns, lirc) | `BPF_PROG_DETACH` | no | replace (cgroup) |
//! | netlink XDP | detach if still ours | no | replace with `XDP_FLAGS_REPLACE` |
//! | netlink TC (`cls_bpf`) | delete the filter | no | replace the filter |
//! | socket option (`SO_ATTACH_BPF`) | `SO_DETACH_BPF` | no | no |
//! | several (per-CPU perf events, USDT locations) | each part | no | no |
//! | struct_ops map registered by element update | delete the element | no | no |

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::syscall::{
    link_detach, link_get_fd_by_id, link_info, link_info_name, link_update, netlink_tc_filter_add,
    netlink_tc_filter_del, netlink_xdp_attach, obj_get, obj_pin, perf_event_disable, prog_attach,
    prog_detach, prog_get_fd_by_id, prog_info, socket_detach_bpf, socket_detach_reuseport_bpf,
    AttachFlags, AttachType, FileFlags, LinkInfo, MapFd, ProgAttach, ProgDetach, SyscallError,
    Target, TcFilter, TcFilterAdd, XdpFlags,
};

use super::error::{AttachError, AttachErrorKind, Result};
use super::netns::NetnsRef;
use super::Program;

/// A perf event fd, and the tracefs probe it was made from (removed after the fd closes).
#[derive(Debug)]
pub(crate) struct PerfEvent {
    // Declared first: dropped (closed) before the dynamic event is removed.
    pub(crate) fd: OwnedFd,
    pub(crate) dynamic: Option<DynamicEvent>,
}

/// A kprobe/uprobe created through `<tracefs>/{k,u}probe_events`, removed on drop.
#[derive(Debug)]
pub(crate) struct DynamicEvent {
    /// The `*_events` file.
    pub(crate) events_file: PathBuf,
    /// The line that removes it (`-:kprobes/NAME`).
    pub(crate) remove: String,
}

impl Drop for DynamicEvent {
    fn drop(&mut self) {
        if let Ok(mut f) = OpenOptions::new().append(true).open(&self.events_file) {
            let _ = f.write_all(self.remove.as_bytes());
        }
    }
}

/// Where a `BPF_PROG_ATTACH` attachment is, kept to detach it.
#[derive(Debug)]
pub(crate) enum AttachPoint {
    Fd(OwnedFd),
    /// No target fd (0): the namespace of the thread making the call (legacy flow
    /// dissector), which is kept to detach there.
    CurrentNetns(NetnsRef),
}

impl AttachPoint {
    fn target(&self) -> Target<'_> {
        match self {
            AttachPoint::Fd(fd) => Target::Fd(fd.as_fd()),
            AttachPoint::CurrentNetns(_) => Target::Ifindex(0),
        }
    }

    /// Runs `f` where the attachment's target is reachable.
    fn run<T: Send>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, SyscallError> + Send,
    ) -> std::result::Result<T, SyscallError> {
        match self {
            AttachPoint::CurrentNetns(ns) => ns.run(f),
            AttachPoint::Fd(_) => f(),
        }
    }
}

/// Which socket option attached a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketOption {
    Filter,
    Reuseport,
}

#[derive(Debug)]
pub(crate) enum Inner {
    Fd {
        fd: OwnedFd,
        perf: Option<PerfEvent>,
    },
    PerfIoctl(PerfEvent),
    ProgAttach {
        point: AttachPoint,
        prog: OwnedFd,
        attach_type: AttachType,
        flags: AttachFlags,
    },
    Socket {
        socket: OwnedFd,
        option: SocketOption,
    },
    XdpNetlink {
        ifindex: u32,
        flags: XdpFlags,
        prog: OwnedFd,
        netns: NetnsRef,
    },
    TcNetlink {
        filter: TcFilter,
        prog: OwnedFd,
        netns: NetnsRef,
    },
    StructOpsMap(MapFd),
    Group(Vec<Link>),
    Usdt {
        parts: Vec<Link>,
        ip_map: Option<MapFd>,
        ips: Vec<u64>,
        lease: super::usdt::SpecIdLease,
    },
    Gone,
}

/// How a [`Link`] holds its attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkMethod {
    /// A bpf link fd (pinnable; `BPF_LINK_UPDATE` where the type allows).
    BpfLink,
    /// A perf event with `PERF_EVENT_IOC_SET_BPF` (kernels before perf links).
    PerfEventIoctl,
    /// `BPF_PROG_ATTACH`, detached with `BPF_PROG_DETACH`.
    ProgAttach,
    /// A socket option (`SO_ATTACH_BPF`, `SO_ATTACH_REUSEPORT_EBPF`).
    SocketOption,
    /// rtnetlink XDP.
    NetlinkXdp,
    /// rtnetlink `cls_bpf` filter.
    NetlinkTc,
    /// Several attachments held together (per-CPU perf events, USDT locations).
    Group,
    /// A struct_ops map registered by element update, unregistered by element delete.
    StructOpsMap,
}

impl LinkMethod {
    fn describe(self) -> &'static str {
        match self {
            LinkMethod::BpfLink => "bpf link",
            LinkMethod::PerfEventIoctl => "perf event ioctl",
            LinkMethod::ProgAttach => "BPF_PROG_ATTACH",
            LinkMethod::SocketOption => "socket option",
            LinkMethod::NetlinkXdp => "netlink XDP",
            LinkMethod::NetlinkTc => "netlink TC",
            LinkMethod::Group => "multi-part",
            LinkMethod::StructOpsMap => "struct_ops map",
        }
    }
}

/// One attachment of a program. Dropping it detaches, unless it was pinned (bpf links stay
/// while pinned) or [leaked](Link::leak).
#[derive(Debug)]
#[must_use = "dropping a Link detaches the program"]
pub struct Link {
    inner: Inner,
    program: String,
    target: String,
    pinned: Option<PathBuf>,
}

impl Link {
    pub(crate) fn new(inner: Inner, program: &str, target: impl Into<String>) -> Link {
        Link {
            inner,
            program: program.to_string(),
            target: target.into(),
            pinned: None,
        }
    }

    pub(crate) fn bpf(fd: OwnedFd, program: &str, target: impl Into<String>) -> Link {
        Link::new(Inner::Fd { fd, perf: None }, program, target)
    }

    /// The program's name.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// What it is attached to, as text (`tracepoint syscalls/sys_enter_openat`).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// How the attachment is held.
    pub fn method(&self) -> LinkMethod {
        match &self.inner {
            Inner::Fd { .. } | Inner::Gone => LinkMethod::BpfLink,
            Inner::PerfIoctl(_) => LinkMethod::PerfEventIoctl,
            Inner::ProgAttach { .. } => LinkMethod::ProgAttach,
            Inner::Socket { .. } => LinkMethod::SocketOption,
            Inner::XdpNetlink { .. } => LinkMethod::NetlinkXdp,
            Inner::TcNetlink { .. } => LinkMethod::NetlinkTc,
            Inner::Group(_) | Inner::Usdt { .. } => LinkMethod::Group,
            Inner::StructOpsMap(_) => LinkMethod::StructOpsMap,
        }
    }

    /// The parts of a [`LinkMethod::Group`] link (empty for others).
    pub fn parts(&self) -> &[Link] {
        match &self.inner {
            Inner::Group(parts) | Inner::Usdt { parts, .. } => parts,
            _ => &[],
        }
    }

    /// The bpf link fd, for [`LinkMethod::BpfLink`] links.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Fd { fd, .. } => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// The perf event fd of a perf-event attachment (kprobe, uprobe, tracepoint, sampling).
    pub fn perf_event_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Fd { perf: Some(p), .. } | Inner::PerfIoctl(p) => Some(p.fd.as_fd()),
            _ => None,
        }
    }

    /// The `cls_bpf` filter of a netlink TC attachment.
    pub fn tc_filter(&self) -> Option<&TcFilter> {
        match &self.inner {
            Inner::TcNetlink { filter, .. } => Some(filter),
            _ => None,
        }
    }

    pub(crate) fn inner_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }

    fn op_error(&self, op: &'static str) -> AttachError {
        AttachErrorKind::LinkOp {
            program: self.program.clone(),
            target: self.target.clone(),
            op,
            method: self.method().describe(),
        }
        .into()
    }

    fn link_error(
        &self,
        op: &'static str,
        path: Option<&Path>,
        source: SyscallError,
    ) -> AttachError {
        AttachErrorKind::Link {
            program: self.program.clone(),
            target: self.target.clone(),
            op,
            path: path.map(Path::to_path_buf),
            source,
        }
        .into()
    }

    fn require_fd(&self, op: &'static str) -> Result<BorrowedFd<'_>> {
        self.fd().ok_or_else(|| self.op_error(op))
    }

    /// What the kernel reports about the bpf link.
    pub fn info(&self) -> Result<LinkInfo> {
        let fd = self.require_fd("query")?;
        link_info(fd).map_err(|e| self.link_error("info", None, e))
    }

    /// The kernel's id of the bpf link.
    pub fn id(&self) -> Result<u32> {
        Ok(self.info()?.id)
    }

    /// Pins the bpf link at `path` (in a bpffs): the attachment then outlives this `Link` and
    /// the process, until the pin is removed ([`Link::unpin`] or `rm`).
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let fd = self.require_fd("pin")?;
        obj_pin(fd, path).map_err(|e| self.link_error("pin", Some(path), e))?;
        self.pinned = Some(path.to_path_buf());
        Ok(())
    }

    /// Removes the pin made by [`Link::pin`]; the link then detaches when dropped.
    pub fn unpin(&mut self) -> Result<()> {
        if let Some(path) = self.pinned.take() {
            std::fs::remove_file(&path).map_err(|source| AttachErrorKind::Io {
                program: self.program.clone(),
                target: self.target.clone(),
                path,
                source,
            })?;
        }
        Ok(())
    }

    /// Where [`Link::pin`] pinned it.
    pub fn pinned_path(&self) -> Option<&Path> {
        self.pinned.as_deref()
    }

    /// Opens a bpf link pinned at `path` (by this or another process). Dropping the returned
    /// `Link` only closes the fd: the pin keeps the attachment.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Link> {
        let path = path.as_ref();
        let fd = obj_get(path, FileFlags::empty()).map_err(|source| AttachErrorKind::Link {
            program: "?".into(),
            target: path.display().to_string(),
            op: "open pin",
            path: Some(path.to_path_buf()),
            source,
        })?;
        let mut link = Link::from_link_fd(fd);
        link.pinned = Some(path.to_path_buf());
        Ok(link)
    }

    /// Opens the bpf link with kernel id `id`.
    pub fn from_id(id: u32) -> Result<Link> {
        let fd = link_get_fd_by_id(id).map_err(|source| AttachErrorKind::Link {
            program: "?".into(),
            target: format!("link id {id}"),
            op: "open by id",
            path: None,
            source,
        })?;
        Ok(Link::from_link_fd(fd))
    }

    /// Wraps a bpf link fd, naming it from the kernel's info.
    pub fn from_link_fd(fd: OwnedFd) -> Link {
        let (program, target) = describe_link(fd.as_fd());
        Link {
            inner: Inner::Fd { fd, perf: None },
            program,
            target,
            pinned: None,
        }
    }

    /// Swaps the attached program for `new`, keeping the attachment: `BPF_LINK_UPDATE` for
    /// bpf links (where the link type allows: cgroup, XDP, tcx, netns, iterators, sockmap,
    /// struct_ops...), `XDP_FLAGS_REPLACE` for netlink XDP, `NLM_F_REPLACE` for netlink TC,
    /// `BPF_F_REPLACE` for multi-program cgroup attachments.
    pub fn update(&mut self, new: &Program) -> Result<()> {
        let new_fd = new
            .dup_fd()
            .map_err(|e| self.link_error("update", None, e))?;
        let result = match &mut self.inner {
            Inner::Fd { fd, .. } => link_update(fd.as_fd(), new.as_fd(), None),
            Inner::XdpNetlink {
                ifindex,
                flags,
                prog,
                netns,
            } => {
                let (ifindex, flags, old) = (*ifindex, *flags, prog.as_fd());
                netns
                    .run(|| netlink_xdp_attach(ifindex, Some(new.as_fd()), flags, Some(old)))
                    .map(|()| *prog = new_fd)
            }
            Inner::TcNetlink {
                filter,
                prog,
                netns,
            } => {
                let req = TcFilterAdd {
                    ifindex: filter.ifindex,
                    parent: filter.parent,
                    handle: filter.handle,
                    priority: filter.priority,
                    protocol: filter.protocol,
                    prog: new.as_fd(),
                    name: new.name(),
                    direct_action: filter.direct_action,
                    replace: true,
                };
                netns.run(|| netlink_tc_filter_add(&req)).map(|f| {
                    *filter = f;
                    *prog = new_fd;
                })
            }
            Inner::ProgAttach {
                point,
                prog,
                attach_type,
                flags,
            } => {
                let mut req = ProgAttach::new(point.target(), new.as_fd(), *attach_type);
                req.flags = *flags;
                if flags.contains(AttachFlags::ALLOW_MULTI) {
                    req.replace = Some(prog.as_fd());
                }
                point.run(|| prog_attach(&req)).map(|()| *prog = new_fd)
            }
            _ => return Err(self.op_error("update")),
        };
        result.map_err(|e| self.link_error("update", None, e))
    }

    /// Detaches now, reporting failure (dropping detaches too, silently). A pinned bpf link
    /// is detached as well (`BPF_LINK_DETACH`, where the link type allows).
    pub fn detach(mut self) -> Result<()> {
        let inner = std::mem::replace(&mut self.inner, Inner::Gone);
        let pinned = self.pinned.is_some();
        detach(inner, pinned).map_err(|e| self.link_error("detach", None, e))
    }

    /// Keeps the attachment after this `Link` is gone: bpf links and perf events stay until
    /// the process exits (their fds are leaked); `BPF_PROG_ATTACH`, netlink and socket
    /// attachments stay in the kernel after the process exits.
    pub fn leak(mut self) {
        leak(std::mem::replace(&mut self.inner, Inner::Gone));
    }

    /// The bpf link fd, without detaching; the caller owns the attachment from now on (a
    /// tracefs probe under it is then never removed). Other kinds of attachment come back
    /// unchanged as the error.
    #[allow(clippy::result_large_err)] // the Link itself comes back
    pub fn into_fd(mut self) -> std::result::Result<OwnedFd, Link> {
        match std::mem::replace(&mut self.inner, Inner::Gone) {
            Inner::Fd { fd, perf } => {
                if let Some(perf) = perf {
                    // The link holds the perf event; only the probe's removal is given up.
                    std::mem::forget(perf.dynamic);
                }
                Ok(fd)
            }
            other => {
                self.inner = other;
                Err(self)
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let inner = std::mem::replace(&mut self.inner, Inner::Gone);
        // Dropping never forces a pinned link off: the pin is what keeps it.
        let _ = detach(inner, false);
    }
}

fn detach(inner: Inner, force: bool) -> std::result::Result<(), SyscallError> {
    match inner {
        Inner::Gone => Ok(()),
        Inner::Fd { fd, perf } => {
            if force {
                match link_detach(fd.as_fd()) {
                    Ok(()) => {}
                    // Link types without detach: closing is all there is.
                    Err(e) if e.errno == Errno::EOPNOTSUPP || e.errno == Errno::EINVAL => {}
                    Err(e) => return Err(e),
                }
            }
            drop(fd);
            drop(perf);
            Ok(())
        }
        Inner::PerfIoctl(perf) => {
            let r = perf_event_disable(perf.fd.as_fd());
            drop(perf);
            r
        }
        Inner::ProgAttach {
            point,
            prog,
            attach_type,
            flags,
        } => {
            // Detach flags are for the multi-program API's anchors; none are needed here.
            let _ = flags;
            let req = ProgDetach::new(point.target(), Some(prog.as_fd()), attach_type);
            point.run(|| prog_detach(&req))
        }
        Inner::Socket { socket, option } => match option {
            SocketOption::Filter => socket_detach_bpf(socket.as_fd()),
            SocketOption::Reuseport => socket_detach_reuseport_bpf(socket.as_fd()),
        },
        Inner::XdpNetlink {
            ifindex,
            flags,
            prog,
            netns,
        } => {
            // Only if our program is still the one attached (someone may have replaced it).
            let mode = flags & XdpFlags::MODES;
            let old = prog.as_fd();
            match netns.run(|| netlink_xdp_attach(ifindex, None, mode, Some(old))) {
                Err(e) if e.errno == Errno::EEXIST => Ok(()),
                other => other,
            }
        }
        Inner::TcNetlink {
            filter,
            prog,
            netns,
        } => {
            let r = netns.run(|| {
                netlink_tc_filter_del(
                    filter.ifindex,
                    filter.parent,
                    filter.handle,
                    filter.priority,
                    filter.protocol,
                )
            });
            drop(prog);
            match r {
                Err(e) if e.errno == Errno::ENOENT => Ok(()),
                other => other,
            }
        }
        Inner::StructOpsMap(map) => {
            // Deleting key 0 unregisters the struct_ops (absent: already unregistered).
            crate::syscall::map_delete_elem(&map, &0u32.to_ne_bytes()).map(drop)
        }
        Inner::Group(parts) => {
            let mut first = Ok(());
            for mut part in parts {
                let inner = std::mem::replace(&mut part.inner, Inner::Gone);
                let r = detach(inner, force);
                if first.is_ok() {
                    first = r;
                }
            }
            first
        }
        Inner::Usdt {
            parts,
            ip_map,
            ips,
            lease,
        } => {
            let r = detach(Inner::Group(parts), force);
            if let Some(map) = ip_map {
                for ip in ips {
                    let _ = crate::syscall::map_delete_elem(&map, &ip.to_ne_bytes());
                }
            }
            // The spec ids are free again once no probe can read them.
            drop(lease);
            r
        }
    }
}

fn leak(inner: Inner) {
    match inner {
        Inner::Fd { fd, perf } => {
            let _ = fd.into_raw_fd();
            if let Some(perf) = perf {
                let _ = perf.fd.into_raw_fd();
                std::mem::forget(perf.dynamic);
            }
        }
        Inner::PerfIoctl(perf) => {
            let _ = perf.fd.into_raw_fd();
            std::mem::forget(perf.dynamic);
        }
        Inner::Group(parts) => {
            for part in parts {
                part.leak();
            }
        }
        Inner::Usdt { parts, lease, .. } => {
            for part in parts {
                part.leak();
            }
            // The leaked probes keep reading their specs: keep the ids reserved.
            std::mem::forget(lease);
        }
        // The kernel keeps these attachments without any fd of ours.
        Inner::ProgAttach { .. }
        | Inner::Socket { .. }
        | Inner::XdpNetlink { .. }
        | Inner::TcNetlink { .. }
        | Inner::StructOpsMap(_)
        | Inner::Gone => {}
    }
}

/// The program name and a description of what a bpf link is attached to, from the kernel.
fn describe_link(fd: BorrowedFd<'_>) -> (String, String) {
    let Ok(info) = link_info(fd) else {
        return ("?".into(), "bpf link".into());
    };
    let program = prog_get_fd_by_id(info.prog_id)
        .ok()
        .and_then(|p| prog_info(p.as_fd()).ok())
        .map_or_else(|| format!("prog id {}", info.prog_id), |p| p.name());
    let kind = info.link_type().short_name().map_or_else(
        || format!("link type {}", info.type_),
        |s| s.to_ascii_lowercase(),
    );
    let target = match link_info_name(fd) {
        Ok(Some(name)) if !name.is_empty() => format!("{kind} {name}"),
        _ => kind,
    };
    (program, target)
}
