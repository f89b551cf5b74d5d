//! TC programs: tcx links (6.6) with before/after ordering, the netlink `clsact` qdisc plus
//! a direct-action `cls_bpf` filter on older kernels, and netkit devices (6.7).

use std::os::fd::AsFd;

use crate::syscall::{
    link_create, netlink_clsact_add, netlink_tc_filter_add, AttachFlags, AttachType, LinkCreate,
    LinkExtra, LinkTarget, ProgType, Relative, TcFilterAdd, ETH_P_ALL, TC_PARENT_EGRESS,
    TC_PARENT_INGRESS,
};

use super::error::Result;
use super::link::{Inner, Link};
use super::netns::NetnsRef;
use super::xdp::AttachMethod;
use super::{probe, Program};

/// The direction of a TC hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TcDirection {
    /// Packets the interface receives.
    #[default]
    Ingress,
    /// Packets it sends.
    Egress,
}

/// Where a program goes among the programs already on a multi-program hook (tcx, netkit,
/// cgroup mprog).
#[derive(Clone, Copy, Debug, Default)]
pub enum Position<'a> {
    /// After the others (the kernel's default).
    #[default]
    Append,
    /// Before every other program (`BPF_F_BEFORE` with no anchor).
    First,
    /// After every other program (`BPF_F_AFTER` with no anchor).
    Last,
    /// Right before a program or link.
    Before(Relative<'a>),
    /// Right after a program or link.
    After(Relative<'a>),
}

impl<'a> Position<'a> {
    /// The link flags and anchor.
    pub(crate) fn encode(self) -> (AttachFlags, Relative<'a>) {
        match self {
            Position::Append => (AttachFlags::empty(), Relative::None),
            Position::First => (AttachFlags::BEFORE, Relative::None),
            Position::Last => (AttachFlags::AFTER, Relative::None),
            Position::Before(r) => (AttachFlags::BEFORE, r),
            Position::After(r) => (AttachFlags::AFTER, r),
        }
    }
}

/// Options of a TC attachment.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcOptions<'a> {
    /// Ingress or egress.
    pub direction: TcDirection,
    /// tcx link or netlink `cls_bpf`.
    pub method: AttachMethod,
    /// tcx: position among the interface's programs.
    pub position: Position<'a>,
    /// tcx: fail with ESTALE unless the hook's revision is this (0: don't check).
    pub expected_revision: u64,
    /// netlink: filter handle (0: the kernel picks).
    pub handle: u32,
    /// netlink: filter priority (0: the kernel picks).
    pub priority: u16,
}

impl TcOptions<'_> {
    /// Defaults for `direction`.
    pub fn new(direction: TcDirection) -> Self {
        TcOptions {
            direction,
            ..Default::default()
        }
    }
}

impl Program {
    /// Attaches this `SCHED_CLS` program to interface `ifindex`: a tcx link where the kernel
    /// has tcx, else a direct-action `cls_bpf` filter on a `clsact` qdisc (created if
    /// missing, and left in place on detach: other filters may use it).
    pub fn attach_tc(&self, ifindex: u32, opts: &TcOptions<'_>) -> Result<Link> {
        let dir = match opts.direction {
            TcDirection::Ingress => "ingress",
            TcDirection::Egress => "egress",
        };
        let target = format!("tc {dir} on ifindex {ifindex}");
        if self.prog_type() != ProgType::SCHED_CLS {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_SCHED_CLS"));
        }
        let use_tcx = match opts.method {
            AttachMethod::Link => true,
            AttachMethod::Legacy => false,
            AttachMethod::Auto => probe::tcx(),
        };
        if use_tcx {
            let attach_type = match opts.direction {
                TcDirection::Ingress => AttachType::TCX_INGRESS,
                TcDirection::Egress => AttachType::TCX_EGRESS,
            };
            let (flags, relative) = opts.position.encode();
            let mut req = LinkCreate::new(self.as_fd(), LinkTarget::Ifindex(ifindex), attach_type);
            req.flags = flags.bits();
            req.extra = LinkExtra::Tcx {
                relative,
                expected_revision: opts.expected_revision,
            };
            let target = format!("tcx {dir} on ifindex {ifindex}");
            let fd = link_create(&req).map_err(self.attach_err(&target))?;
            return Ok(Link::bpf(fd, self.name(), target));
        }
        let target = format!("{target} (netlink cls_bpf)");
        netlink_clsact_add(ifindex).map_err(self.attach_err(&target))?;
        let prog = self.dup_fd().map_err(self.attach_err(&target))?;
        let netns = NetnsRef::current().map_err(self.attach_err(&target))?;
        let filter = netlink_tc_filter_add(&TcFilterAdd {
            ifindex,
            parent: match opts.direction {
                TcDirection::Ingress => TC_PARENT_INGRESS,
                TcDirection::Egress => TC_PARENT_EGRESS,
            },
            handle: opts.handle,
            priority: opts.priority,
            protocol: ETH_P_ALL,
            prog: self.as_fd(),
            name: self.name(),
            direct_action: true,
            replace: false,
        })
        .map_err(self.attach_err(&target))?;
        Ok(Link::new(
            Inner::TcNetlink {
                filter,
                prog,
                netns,
            },
            self.name(),
            target,
        ))
    }

    /// Attaches this `SCHED_CLS` program to netkit device `ifindex` (the primary side, or
    /// with `peer` the peer side).
    pub fn attach_netkit(
        &self,
        ifindex: u32,
        peer: bool,
        position: Position<'_>,
        expected_revision: u64,
    ) -> Result<Link> {
        let side = if peer { "peer" } else { "primary" };
        let target = format!("netkit {side} on ifindex {ifindex}");
        if self.prog_type() != ProgType::SCHED_CLS {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_SCHED_CLS"));
        }
        let attach_type = if peer {
            AttachType::NETKIT_PEER
        } else {
            AttachType::NETKIT_PRIMARY
        };
        let (flags, relative) = position.encode();
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::Ifindex(ifindex), attach_type);
        req.flags = flags.bits();
        req.extra = LinkExtra::Netkit {
            relative,
            expected_revision,
        };
        let fd = link_create(&req).map_err(self.attach_err(&target))?;
        Ok(Link::bpf(fd, self.name(), target))
    }
}
