//! XDP on a network interface: a bpf link (5.9) or rtnetlink (`IFLA_XDP`) with generic,
//! native or offload mode and replace semantics.

use std::os::fd::AsFd;

use crate::syscall::{
    link_create, netlink_xdp_attach, AttachType, LinkCreate, LinkTarget, ProgType, XdpFlags,
};

use super::error::Result;
use super::link::{Inner, Link};
use super::netns::NetnsRef;
use super::{probe, Program};

/// Which kernel mechanism an attach uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AttachMethod {
    /// The newest the kernel has (decided by the cached feature probes).
    #[default]
    Auto,
    /// A bpf link only.
    Link,
    /// The pre-link mechanism only (netlink for XDP/TC, `BPF_PROG_ATTACH` for cgroups,
    /// sockmaps and flow dissectors, `PERF_EVENT_IOC_SET_BPF` for perf events).
    Legacy,
}

/// Options of an XDP attachment.
#[derive(Clone, Copy, Debug, Default)]
pub struct XdpOptions<'a> {
    /// Mode (`SKB_MODE`, `DRV_MODE`, `HW_MODE`; none: native if the driver has it, else
    /// generic).
    pub flags: XdpFlags,
    /// Link or netlink.
    pub method: AttachMethod,
    /// Netlink only: replace this program, which must be the one attached now
    /// (`XDP_FLAGS_REPLACE`). Without it a netlink attach fails (EBUSY) if any program is
    /// attached, as a link would.
    pub replace: Option<&'a Program>,
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> std::io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(std::io::Error::from)
}

impl Program {
    /// Attaches this XDP program to interface `ifindex`.
    pub fn attach_xdp(&self, ifindex: u32, opts: &XdpOptions<'_>) -> Result<Link> {
        let target = format!("xdp on ifindex {ifindex}");
        if self.prog_type() != ProgType::XDP {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_XDP"));
        }
        let mode = opts.flags & XdpFlags::MODES;
        let use_link = match opts.method {
            AttachMethod::Link => true,
            AttachMethod::Legacy => false,
            AttachMethod::Auto => opts.replace.is_none() && probe::xdp_link(),
        };
        if use_link {
            if opts.replace.is_some() {
                return Err(self.unsupported(
                    &target,
                    "replacing a netlink-attached program needs the netlink method",
                ));
            }
            let mut req =
                LinkCreate::new(self.as_fd(), LinkTarget::Ifindex(ifindex), AttachType::XDP);
            req.flags = mode.bits();
            let fd = link_create(&req).map_err(self.attach_err(&target))?;
            return Ok(Link::bpf(fd, self.name(), target));
        }
        let target = format!("{target} (netlink)");
        let flags = match opts.replace {
            Some(_) => mode,
            None => mode | XdpFlags::UPDATE_IF_NOEXIST,
        };
        // Dup first: once attached, nothing may fail before the Link owns the attachment.
        let prog = self.dup_fd().map_err(self.attach_err(&target))?;
        let netns = NetnsRef::current().map_err(self.attach_err(&target))?;
        netlink_xdp_attach(
            ifindex,
            Some(self.as_fd()),
            flags,
            opts.replace.map(|p| p.as_fd()),
        )
        .map_err(self.attach_err(&target))?;
        Ok(Link::new(
            Inner::XdpNetlink {
                ifindex,
                flags: mode,
                prog,
                netns,
            },
            self.name(),
            target,
        ))
    }
}
