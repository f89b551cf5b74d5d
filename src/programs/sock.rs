//! Socket-level attachments: socket filters (`SO_ATTACH_BPF`), reuseport selectors,
//! sk_msg/sk_skb verdict and parser programs on a sockmap/sockhash, and network-namespace
//! programs (sk_lookup, flow dissector).

use std::os::fd::{AsFd, BorrowedFd};

use crate::syscall::{
    link_create, prog_attach, socket_attach_bpf, socket_attach_reuseport_bpf, AttachType,
    LinkCreate, LinkTarget, ProgAttach, ProgType, Target,
};

use super::error::Result;
use super::link::{AttachPoint, Inner, Link, SocketOption};
use super::netns::NetnsRef;
use super::xdp::AttachMethod;
use super::{probe, Program};

impl Program {
    /// Attaches this socket filter to `socket` (`SO_ATTACH_BPF`): it then sees every packet
    /// the socket receives and returns how many bytes to keep (0 drops). The link keeps a
    /// duplicate of the socket fd, to detach on drop.
    pub fn attach_socket_filter(&self, socket: BorrowedFd<'_>) -> Result<Link> {
        let target = "socket (SO_ATTACH_BPF)";
        if self.prog_type() != ProgType::SOCKET_FILTER {
            return Err(self.wrong_type(target, "BPF_PROG_TYPE_SOCKET_FILTER"));
        }
        let dup = socket
            .try_clone_to_owned()
            .map_err(|e| self.io_err(target, "socket fd", e))?;
        socket_attach_bpf(socket, self.as_fd()).map_err(self.attach_err(target))?;
        Ok(Link::new(
            Inner::Socket {
                socket: dup,
                option: SocketOption::Filter,
            },
            self.name(),
            target,
        ))
    }

    /// Attaches this program (socket filter or `SK_REUSEPORT`) as the reuseport selector of
    /// `socket`'s group (`SO_ATTACH_REUSEPORT_EBPF`).
    pub fn attach_reuseport(&self, socket: BorrowedFd<'_>) -> Result<Link> {
        let target = "reuseport group (SO_ATTACH_REUSEPORT_EBPF)";
        if !matches!(
            self.prog_type(),
            ProgType::SOCKET_FILTER | ProgType::SK_REUSEPORT
        ) {
            return Err(self.wrong_type(target, "SOCKET_FILTER or SK_REUSEPORT"));
        }
        let dup = socket
            .try_clone_to_owned()
            .map_err(|e| self.io_err(target, "socket fd", e))?;
        socket_attach_reuseport_bpf(socket, self.as_fd()).map_err(self.attach_err(target))?;
        Ok(Link::new(
            Inner::Socket {
                socket: dup,
                option: SocketOption::Reuseport,
            },
            self.name(),
            target,
        ))
    }

    /// Attaches this sk_msg/sk_skb program to sockmap or sockhash `map` at `attach_type`
    /// (default: the program's expected attach type): a sockmap link (6.10) or
    /// `BPF_PROG_ATTACH`.
    pub fn attach_sockmap(
        &self,
        map: BorrowedFd<'_>,
        attach_type: Option<AttachType>,
        method: AttachMethod,
    ) -> Result<Link> {
        let Some(attach_type) = attach_type.or(self.expected_attach_type()) else {
            return Err(self.unsupported(
                "sockmap",
                "no attach type (SK_SKB_STREAM_PARSER, _STREAM_VERDICT, _VERDICT or \
                 SK_MSG_VERDICT)",
            ));
        };
        let target = format!("sockmap {attach_type}");
        if !matches!(self.prog_type(), ProgType::SK_MSG | ProgType::SK_SKB) {
            return Err(self.wrong_type(&target, "SK_MSG or SK_SKB"));
        }
        let use_link = match method {
            AttachMethod::Link => true,
            AttachMethod::Legacy => false,
            AttachMethod::Auto => probe::sockmap_link(),
        };
        if use_link {
            let req = LinkCreate::new(self.as_fd(), LinkTarget::Fd(map), attach_type);
            let fd = link_create(&req).map_err(self.attach_err(&target))?;
            return Ok(Link::bpf(fd, self.name(), target));
        }
        let point = map
            .try_clone_to_owned()
            .map_err(|e| self.io_err(&target, "map fd", e))?;
        let prog = self.dup_fd().map_err(self.attach_err(&target))?;
        prog_attach(&ProgAttach::new(Target::Fd(map), self.as_fd(), attach_type))
            .map_err(self.attach_err(&target))?;
        Ok(Link::new(
            Inner::ProgAttach {
                point: AttachPoint::Fd(point),
                prog,
                attach_type,
                flags: Default::default(),
            },
            self.name(),
            format!("{target} (BPF_PROG_ATTACH)"),
        ))
    }

    /// Attaches this sk_lookup or flow dissector program to the network namespace `netns`
    /// (an open `/proc/PID/ns/net` or `/run/netns/NAME`): a netns link (5.8), or for flow
    /// dissectors on older kernels `BPF_PROG_ATTACH`, which attaches to the *calling
    /// thread's* namespace (`netns` is then unused; the link detaches in that namespace).
    pub fn attach_netns(&self, netns: BorrowedFd<'_>, method: AttachMethod) -> Result<Link> {
        let attach_type = match self.prog_type() {
            ProgType::SK_LOOKUP => AttachType::SK_LOOKUP,
            ProgType::FLOW_DISSECTOR => AttachType::FLOW_DISSECTOR,
            _ => return Err(self.wrong_type("netns", "SK_LOOKUP or FLOW_DISSECTOR")),
        };
        let target = format!("netns {attach_type}");
        let use_link = match method {
            AttachMethod::Link => true,
            AttachMethod::Legacy => false,
            AttachMethod::Auto => attach_type == AttachType::SK_LOOKUP || probe::netns_link(),
        };
        if use_link {
            let req = LinkCreate::new(self.as_fd(), LinkTarget::Fd(netns), attach_type);
            let fd = link_create(&req).map_err(self.attach_err(&target))?;
            return Ok(Link::bpf(fd, self.name(), target));
        }
        if attach_type == AttachType::SK_LOOKUP {
            return Err(self.unsupported(&target, "sk_lookup attaches only through links (5.9)"));
        }
        let prog = self.dup_fd().map_err(self.attach_err(&target))?;
        let netns = NetnsRef::current().map_err(self.attach_err(&target))?;
        // The legacy flow dissector attach takes target_fd 0: the current namespace.
        prog_attach(&ProgAttach::new(
            Target::Ifindex(0),
            self.as_fd(),
            attach_type,
        ))
        .map_err(self.attach_err(&target))?;
        Ok(Link::new(
            Inner::ProgAttach {
                point: AttachPoint::CurrentNetns(netns),
                prog,
                attach_type,
                flags: Default::default(),
            },
            self.name(),
            format!("{target} (BPF_PROG_ATTACH, current namespace)"),
        ))
    }

    /// Attaches this `lirc_mode2` program to a lirc device (`BPF_PROG_ATTACH`).
    pub fn attach_lirc(&self, device: BorrowedFd<'_>) -> Result<Link> {
        let target = "lirc device";
        if self.prog_type() != ProgType::LIRC_MODE2 {
            return Err(self.wrong_type(target, "BPF_PROG_TYPE_LIRC_MODE2"));
        }
        let point = device
            .try_clone_to_owned()
            .map_err(|e| self.io_err(target, "device fd", e))?;
        let prog = self.dup_fd().map_err(self.attach_err(target))?;
        prog_attach(&ProgAttach::new(
            Target::Fd(device),
            self.as_fd(),
            AttachType::LIRC_MODE2,
        ))
        .map_err(self.attach_err(target))?;
        Ok(Link::new(
            Inner::ProgAttach {
                point: AttachPoint::Fd(point),
                prog,
                attach_type: AttachType::LIRC_MODE2,
                flags: Default::default(),
            },
            self.name(),
            target,
        ))
    }
}
