//! Netfilter programs (6.4): a link on one hook of one protocol family, in the calling
//! thread's network namespace.

use std::os::fd::AsFd;

use crate::syscall::{link_create, AttachType, LinkCreate, LinkExtra, LinkTarget, ProgType};

use super::error::Result;
use super::link::Link;
use super::Program;

/// The protocol family of a netfilter hook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NetfilterFamily {
    /// `NFPROTO_IPV4`.
    #[default]
    Ipv4,
    /// `NFPROTO_IPV6`.
    Ipv6,
}

/// A netfilter hook (`enum nf_inet_hooks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NetfilterHook {
    /// `NF_INET_PRE_ROUTING`.
    PreRouting,
    /// `NF_INET_LOCAL_IN`.
    #[default]
    LocalIn,
    /// `NF_INET_FORWARD`.
    Forward,
    /// `NF_INET_LOCAL_OUT`.
    LocalOut,
    /// `NF_INET_POST_ROUTING`.
    PostRouting,
}

/// Options of a netfilter attachment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetfilterOptions {
    /// IPv4 or IPv6.
    pub family: NetfilterFamily,
    /// The hook.
    pub hook: NetfilterHook,
    /// Priority among the hook's functions (lower runs first; not `INT_MIN`/`INT_MAX`).
    pub priority: i32,
    /// Reassemble fragments first (`BPF_F_NETFILTER_IP_DEFRAG`, 6.6).
    pub defrag: bool,
}

impl Program {
    /// Attaches this netfilter program to a hook of the calling thread's network namespace.
    pub fn attach_netfilter(&self, opts: &NetfilterOptions) -> Result<Link> {
        let target = format!(
            "netfilter {:?} {:?} priority {}",
            opts.family, opts.hook, opts.priority
        );
        if self.prog_type() != ProgType::NETFILTER {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_NETFILTER"));
        }
        let pf = match opts.family {
            NetfilterFamily::Ipv4 => 2,
            NetfilterFamily::Ipv6 => 10,
        };
        let hooknum = match opts.hook {
            NetfilterHook::PreRouting => 0,
            NetfilterHook::LocalIn => 1,
            NetfilterHook::Forward => 2,
            NetfilterHook::LocalOut => 3,
            NetfilterHook::PostRouting => 4,
        };
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::None, AttachType::NETFILTER);
        req.extra = LinkExtra::Netfilter {
            pf,
            hooknum,
            priority: opts.priority,
            flags: u32::from(opts.defrag),
        };
        let fd = link_create(&req).map_err(self.attach_err(&target))?;
        Ok(Link::bpf(fd, self.name(), target))
    }
}
