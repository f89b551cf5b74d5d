//! cgroup programs of every kind (skb, sock, sock_addr, sockops, device, sysctl, sockopt,
//! lsm_cgroup): a cgroup link (5.7), or `BPF_PROG_ATTACH` with the override/multi flags.

use std::os::fd::{AsFd, BorrowedFd};

use crate::syscall::{
    link_create, prog_attach, AttachFlags, AttachType, LinkCreate, LinkExtra, LinkTarget,
    ProgAttach, ProgType, Target,
};

use super::error::Result;
use super::link::{AttachPoint, Inner, Link};
use super::tc::Position;
use super::xdp::AttachMethod;
use super::{probe, Program};

/// How a `BPF_PROG_ATTACH` attachment shares the hook with others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CgroupMode {
    /// `BPF_F_ALLOW_MULTI`: alongside other programs, in this cgroup and its ancestors.
    #[default]
    Multi,
    /// `BPF_F_ALLOW_OVERRIDE`: the only program here; descendants may override it.
    Override,
    /// No flags: the only program, and no descendant may attach.
    Exclusive,
}

/// Options of a cgroup attachment.
#[derive(Clone, Copy, Debug, Default)]
pub struct CgroupOptions<'a> {
    /// The hook (default: the program's expected attach type).
    pub attach_type: Option<AttachType>,
    /// Link or `BPF_PROG_ATTACH`.
    pub method: AttachMethod,
    /// `BPF_PROG_ATTACH` sharing mode (links behave like [`CgroupMode::Multi`]).
    pub mode: CgroupMode,
    /// Position among the cgroup's programs (links: 6.16).
    pub position: Position<'a>,
}

/// The program types that attach to cgroups.
fn is_cgroup_type(t: ProgType) -> bool {
    matches!(
        t,
        ProgType::CGROUP_SKB
            | ProgType::CGROUP_SOCK
            | ProgType::CGROUP_SOCK_ADDR
            | ProgType::SOCK_OPS
            | ProgType::CGROUP_DEVICE
            | ProgType::CGROUP_SYSCTL
            | ProgType::CGROUP_SOCKOPT
            | ProgType::LSM
    )
}

impl Program {
    /// Attaches this program to the cgroup whose directory `cgroup` is open (a cgroup2 dir).
    pub fn attach_cgroup(&self, cgroup: BorrowedFd<'_>, opts: &CgroupOptions<'_>) -> Result<Link> {
        let attach_type = opts.attach_type.or(self.expected_attach_type());
        let Some(attach_type) = attach_type else {
            return Err(self.unsupported(
                "cgroup",
                "no attach type: the program was loaded without an expected attach type, \
                 so CgroupOptions::attach_type must name the hook",
            ));
        };
        let target = format!("cgroup {attach_type}");
        if !is_cgroup_type(self.prog_type()) {
            return Err(self.wrong_type(&target, "a cgroup program type"));
        }
        let (pos_flags, relative) = opts.position.encode();
        let positioned = !pos_flags.is_empty();
        let use_link = match opts.method {
            AttachMethod::Link => true,
            AttachMethod::Legacy => false,
            AttachMethod::Auto => {
                attach_type == AttachType::LSM_CGROUP
                    || (opts.mode == CgroupMode::Multi && probe::cgroup_link())
            }
        };
        if use_link {
            let mut req = LinkCreate::new(self.as_fd(), LinkTarget::Fd(cgroup), attach_type);
            if positioned {
                req.flags = pos_flags.bits();
                req.extra = LinkExtra::Cgroup {
                    relative,
                    expected_revision: 0,
                };
            }
            let fd = link_create(&req).map_err(self.attach_err(&target))?;
            return Ok(Link::bpf(fd, self.name(), target));
        }
        let flags = match opts.mode {
            CgroupMode::Multi => AttachFlags::ALLOW_MULTI,
            CgroupMode::Override => AttachFlags::ALLOW_OVERRIDE,
            CgroupMode::Exclusive => AttachFlags::empty(),
        };
        // Dup first: once attached, nothing may fail before the Link owns the attachment.
        let point = cgroup
            .try_clone_to_owned()
            .map_err(|e| self.io_err(&target, "cgroup fd", e))?;
        let prog = self.dup_fd().map_err(self.attach_err(&target))?;
        let mut req = ProgAttach::new(Target::Fd(cgroup), self.as_fd(), attach_type);
        req.flags = flags | pos_flags;
        req.relative = relative;
        prog_attach(&req).map_err(self.attach_err(&target))?;
        Ok(Link::new(
            Inner::ProgAttach {
                point: AttachPoint::Fd(point),
                prog,
                attach_type,
                flags,
            },
            self.name(),
            format!("{target} (BPF_PROG_ATTACH)"),
        ))
    }

    /// Attaches this sockops program to a cgroup (`BPF_CGROUP_SOCK_OPS`).
    pub fn attach_sockops(&self, cgroup: BorrowedFd<'_>) -> Result<Link> {
        self.attach_cgroup(
            cgroup,
            &CgroupOptions {
                attach_type: Some(AttachType::CGROUP_SOCK_OPS),
                ..Default::default()
            },
        )
    }
}
