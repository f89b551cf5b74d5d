//! rtnetlink for the pre-link network attachments: XDP on an interface (`RTM_SETLINK` with
//! `IFLA_XDP`, SKB/DRV/HW modes, replace semantics) and TC (`clsact` qdisc plus `cls_bpf`
//! filters: add, delete, dump).
//!
//! Each call opens a `NETLINK_ROUTE` socket in the calling thread's network namespace, sends
//! one request and reads the answer; errors carry the kernel's extended-ack message
//! ([`Hint::Kernel`]) when it gives one.
//!
//! ```no_run
//! use oxbpf::syscall::{netlink_xdp_attach, netlink_xdp_query, XdpFlags};
//! use std::os::fd::AsFd;
//! # fn f(prog: std::os::fd::OwnedFd, ifindex: u32) -> oxbpf::syscall::Result<()> {
//! netlink_xdp_attach(ifindex, Some(prog.as_fd()), XdpFlags::SKB_MODE, None)?;
//! assert_ne!(netlink_xdp_query(ifindex)?.skb_prog_id, 0);
//! netlink_xdp_attach(ifindex, None, XdpFlags::SKB_MODE, None)?; // detach
//! # Ok(()) }
//! ```

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use bitflags::bitflags;
use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

use super::error::{Call, Hint, Result, SyscallError};

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_ECHO: u16 = 0x8;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an `NLMSG_ERROR`: the original request's payload was left out.
const NLM_F_CAPPED: u16 = 0x100;
/// In an `NLMSG_ERROR`: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFLA_XDP_EXPECTED_FD: u16 = 8;

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;

/// `TC_H_CLSACT` (= `TC_H_INGRESS`): the parent handle of the `clsact` qdisc.
pub const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// Parent handle of the `clsact` ingress hook (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`).
pub const TC_PARENT_INGRESS: u32 = 0xFFFF_FFF2;
/// Parent handle of the `clsact` egress hook (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`).
pub const TC_PARENT_EGRESS: u32 = 0xFFFF_FFF3;
/// `ETH_P_ALL`: a filter for every protocol.
pub const ETH_P_ALL: u16 = 0x0003;

bitflags! {
    /// `XDP_FLAGS_*` of an XDP attachment (netlink `IFLA_XDP_FLAGS`, or a link's `flags`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct XdpFlags: u32 {
        /// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail (EBUSY) if a program is attached.
        const UPDATE_IF_NOEXIST = 1 << 0;
        /// `XDP_FLAGS_SKB_MODE`: generic XDP in the network stack.
        const SKB_MODE = 1 << 1;
        /// `XDP_FLAGS_DRV_MODE`: native XDP in the driver.
        const DRV_MODE = 1 << 2;
        /// `XDP_FLAGS_HW_MODE`: offloaded to the NIC.
        const HW_MODE = 1 << 3;
        /// `XDP_FLAGS_REPLACE`: replace only the program given as expected.
        const REPLACE = 1 << 4;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

impl XdpFlags {
    /// The mode bits (`SKB_MODE | DRV_MODE | HW_MODE`).
    pub const MODES: XdpFlags = XdpFlags::SKB_MODE
        .union(XdpFlags::DRV_MODE)
        .union(XdpFlags::HW_MODE);
}

/// A netlink message under construction: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(msg_type: u16, flags: u16, seq: u32) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        Msg { buf }
    }

    fn align(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.align();
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.bytes(data);
    }

    fn attr_u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }

    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(ty, &data);
    }

    fn nest_start(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn nest_end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The attributes in `data`, as (type without flag bits, payload); stops at the first
/// malformed one.
fn attrs(data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(rest, 0)?);
        let ty = u16_at(rest, 2)? & NLA_TYPE_MASK;
        let payload = rest.get(4..len)?;
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

fn attr_u32(data: &[u8], ty: u16) -> Option<u32> {
    attrs(data)
        .find(|(t, _)| *t == ty)
        .and_then(|(_, p)| u32_at(p, 0))
}

fn c_string(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

/// One reply message: its type and the bytes after the header.
struct Reply {
    msg_type: u16,
    payload: Vec<u8>,
}

/// A `NETLINK_ROUTE` socket in the calling thread's network namespace.
struct Rtnl {
    fd: OwnedFd,
    seq: u32,
    name: &'static str,
}

impl Rtnl {
    fn open(name: &'static str) -> Result<Rtnl> {
        let call = Call::Netlink(name);
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| SyscallError::new(call, e))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| SyscallError::new(call, e))?;
        // Ask for error messages (4.12+) and short acks; older kernels ignore neither
        // harmfully, so failures are not errors.
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: `one` is a live c_int whose size is passed; the kernel only reads it.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        Ok(Rtnl { fd, seq, name })
    }

    fn error(&self, errno: Errno) -> SyscallError {
        SyscallError::new(Call::Netlink(self.name), errno)
    }

    /// Sends `msg` (built with `self.seq`) and collects the replies up to the ack (or
    /// `NLMSG_DONE` of a dump).
    fn transact(&mut self, msg: Vec<u8>) -> Result<Vec<Reply>> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty()).map_err(|e| self.error(e))?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| self.error(e))?;
            let mut data = buf.get(..n).unwrap_or(&[]);
            while data.len() >= NLMSG_HDR_LEN {
                let (Some(len), Some(ty), Some(flags), Some(msg_seq)) = (
                    u32_at(data, 0),
                    u16_at(data, 4),
                    u16_at(data, 6),
                    u32_at(data, 8),
                ) else {
                    break;
                };
                let len = len as usize;
                let Some(payload) = data.get(NLMSG_HDR_LEN..len) else {
                    return Err(self.error(Errno::EBADMSG));
                };
                data = data.get(len.next_multiple_of(4)..).unwrap_or(&[]);
                if msg_seq != seq {
                    continue;
                }
                match ty {
                    NLMSG_ERROR => {
                        let code = u32_at(payload, 0).map_or(-libc::EBADMSG, |c| c as i32);
                        if code == 0 {
                            return Ok(replies);
                        }
                        let mut err =
                            SyscallError::from_code(Call::Netlink(self.name), code.wrapping_neg());
                        if let Some(text) = ext_ack_message(payload, flags) {
                            err.hint = Some(Hint::Kernel(text));
                        }
                        return Err(err);
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => {
                        // Every request asks for an ack (or is a dump ending in DONE): keep
                        // reading after a reply.
                        replies.push(Reply {
                            msg_type: ty,
                            payload: payload.to_vec(),
                        });
                    }
                }
            }
        }
    }
}

/// The `NLMSGERR_ATTR_MSG` of an error message, if the kernel attached one.
fn ext_ack_message(payload: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // struct nlmsgerr { int error; struct nlmsghdr msg; } + the request's payload unless
    // capped.
    let orig_len = u32_at(payload, 4)? as usize;
    let skip = if flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDR_LEN
    } else {
        4 + orig_len.max(NLMSG_HDR_LEN)
    };
    let tlvs = payload.get(skip.next_multiple_of(4)..)?;
    attrs(tlvs)
        .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
        .map(|(_, p)| c_string(p))
        .filter(|s| !s.is_empty())
}

/// `struct ifinfomsg` for interface `ifindex`.
fn ifinfomsg(ifindex: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

/// `RTM_SETLINK` with `IFLA_XDP`: attaches `prog` to interface `ifindex` (`None`: detaches).
///
/// `flags` picks the mode (none: the kernel's choice, native if the driver has it) and
/// `UPDATE_IF_NOEXIST`; with `expected`, the change happens only if `expected` is the
/// program attached now (`XDP_FLAGS_REPLACE`, 5.7), else EEXIST.
pub fn netlink_xdp_attach(
    ifindex: u32,
    prog: Option<BorrowedFd<'_>>,
    flags: XdpFlags,
    expected: Option<BorrowedFd<'_>>,
) -> Result<()> {
    let mut nl = Rtnl::open("RTM_SETLINK")?;
    let mut flags = flags;
    if expected.is_some() {
        flags |= XdpFlags::REPLACE;
    }
    let mut msg = Msg::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, nl.seq);
    msg.bytes(&ifinfomsg(ifindex));
    let nest = msg.nest_start(IFLA_XDP);
    let fd = prog.map_or(-1, |p| p.as_raw_fd());
    msg.attr(IFLA_XDP_FD, &fd.to_ne_bytes());
    if !flags.is_empty() {
        msg.attr_u32(IFLA_XDP_FLAGS, flags.bits());
    }
    if let Some(old) = expected {
        msg.attr(IFLA_XDP_EXPECTED_FD, &old.as_raw_fd().to_ne_bytes());
    }
    msg.nest_end(nest);
    nl.transact(msg.finish()).map(drop)
}

/// What an interface reports about its XDP programs (`IFLA_XDP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpState {
    /// `XDP_ATTACHED_*`: 0 none, 1 driver, 2 generic (SKB), 3 hardware, 4 several.
    pub attached: u8,
    /// The program id when one mode is in use.
    pub prog_id: u32,
    /// The native-mode program.
    pub drv_prog_id: u32,
    /// The generic-mode program.
    pub skb_prog_id: u32,
    /// The offloaded program.
    pub hw_prog_id: u32,
}

impl XdpState {
    /// The program attached in the mode `flags` names (any mode when none is named).
    pub fn prog_for(&self, flags: XdpFlags) -> u32 {
        if flags.contains(XdpFlags::SKB_MODE) {
            self.skb_prog_id
        } else if flags.contains(XdpFlags::DRV_MODE) {
            self.drv_prog_id
        } else if flags.contains(XdpFlags::HW_MODE) {
            self.hw_prog_id
        } else if self.prog_id != 0 {
            self.prog_id
        } else {
            self.drv_prog_id.max(self.skb_prog_id).max(self.hw_prog_id)
        }
    }
}

/// `RTM_GETLINK`: the XDP programs attached to interface `ifindex`.
pub fn netlink_xdp_query(ifindex: u32) -> Result<XdpState> {
    let mut nl = Rtnl::open("RTM_GETLINK")?;
    let mut msg = Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, nl.seq);
    msg.bytes(&ifinfomsg(ifindex));
    let replies = nl.transact(msg.finish())?;
    let mut state = XdpState::default();
    for reply in replies.iter().filter(|r| r.msg_type == RTM_NEWLINK) {
        let Some(link_attrs) = reply.payload.get(16..) else {
            continue;
        };
        for (ty, xdp) in attrs(link_attrs) {
            if ty != IFLA_XDP {
                continue;
            }
            for (t, p) in attrs(xdp) {
                let v = u32_at(p, 0).unwrap_or(0);
                match t {
                    IFLA_XDP_ATTACHED => state.attached = p.first().copied().unwrap_or(0),
                    IFLA_XDP_PROG_ID => state.prog_id = v,
                    IFLA_XDP_DRV_PROG_ID => state.drv_prog_id = v,
                    IFLA_XDP_SKB_PROG_ID => state.skb_prog_id = v,
                    IFLA_XDP_HW_PROG_ID => state.hw_prog_id = v,
                    _ => {}
                }
            }
        }
    }
    Ok(state)
}

/// `struct tcmsg`.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    b[8..12].copy_from_slice(&handle.to_ne_bytes());
    b[12..16].copy_from_slice(&parent.to_ne_bytes());
    b[16..20].copy_from_slice(&info.to_ne_bytes());
    b
}

/// `tcm_info` of a filter: priority in the upper half, protocol (network order) below.
fn filter_info(priority: u16, protocol: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from(protocol.to_be())
}

/// `RTM_NEWQDISC` of a `clsact` qdisc on `ifindex`: `Ok(true)` if created, `Ok(false)` if
/// the interface already had one.
pub fn netlink_clsact_add(ifindex: u32) -> Result<bool> {
    let mut nl = Rtnl::open("RTM_NEWQDISC")?;
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    let mut msg = Msg::new(RTM_NEWQDISC, flags, nl.seq);
    msg.bytes(&tcmsg(ifindex, 0xFFFF_0000, TC_H_CLSACT, 0));
    msg.attr_str(TCA_KIND, "clsact");
    match nl.transact(msg.finish()) {
        Ok(_) => Ok(true),
        Err(e) if e.errno == Errno::EEXIST => Ok(false),
        Err(e) => Err(e),
    }
}

/// `RTM_DELQDISC` of the `clsact` qdisc of `ifindex` (with every filter on it).
pub fn netlink_clsact_del(ifindex: u32) -> Result<()> {
    let mut nl = Rtnl::open("RTM_DELQDISC")?;
    let mut msg = Msg::new(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, nl.seq);
    msg.bytes(&tcmsg(ifindex, 0xFFFF_0000, TC_H_CLSACT, 0));
    msg.attr_str(TCA_KIND, "clsact");
    nl.transact(msg.finish()).map(drop)
}

/// A `cls_bpf` filter as the kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcFilter {
    /// Interface index.
    pub ifindex: u32,
    /// Parent (e.g. [`TC_PARENT_INGRESS`]).
    pub parent: u32,
    /// Filter handle.
    pub handle: u32,
    /// Priority.
    pub priority: u16,
    /// Protocol (host order, e.g. [`ETH_P_ALL`]).
    pub protocol: u16,
    /// Id of the filter's program (0 if not reported).
    pub prog_id: u32,
    /// The filter's name (`TCA_BPF_NAME`).
    pub name: String,
    /// Whether the filter runs in direct-action mode.
    pub direct_action: bool,
}

fn parse_filter(payload: &[u8]) -> Option<TcFilter> {
    let ifindex = u32_at(payload, 4)?;
    let handle = u32_at(payload, 8)?;
    let parent = u32_at(payload, 12)?;
    let info = u32_at(payload, 16)?;
    let rest = payload.get(20..)?;
    let kind = attrs(rest)
        .find(|(t, _)| *t == TCA_KIND)
        .map(|(_, p)| c_string(p))?;
    if kind != "bpf" {
        return None;
    }
    let options = attrs(rest)
        .find(|(t, _)| *t == TCA_OPTIONS)
        .map(|(_, p)| p)?;
    Some(TcFilter {
        ifindex,
        parent,
        handle,
        priority: (info >> 16) as u16,
        protocol: u16::from_be(info as u16),
        prog_id: attr_u32(options, TCA_BPF_ID).unwrap_or(0),
        name: attrs(options)
            .find(|(t, _)| *t == TCA_BPF_NAME)
            .map(|(_, p)| c_string(p))
            .unwrap_or_default(),
        direct_action: attr_u32(options, TCA_BPF_FLAGS)
            .is_some_and(|f| f & TCA_BPF_FLAG_ACT_DIRECT != 0),
    })
}

/// What [`netlink_tc_filter_add`] adds.
#[derive(Clone, Copy, Debug)]
pub struct TcFilterAdd<'a> {
    /// Interface index.
    pub ifindex: u32,
    /// Parent: [`TC_PARENT_INGRESS`], [`TC_PARENT_EGRESS`] or a classful qdisc's class.
    pub parent: u32,
    /// Handle (0: the kernel picks one).
    pub handle: u32,
    /// Priority (0: the kernel picks one).
    pub priority: u16,
    /// Protocol, host order ([`ETH_P_ALL`] for every packet).
    pub protocol: u16,
    /// The `SCHED_CLS` program.
    pub prog: BorrowedFd<'a>,
    /// Name shown by `tc filter show`.
    pub name: &'a str,
    /// Direct-action mode: the program's return value is the TC verdict.
    pub direct_action: bool,
    /// Replace the filter with the same handle and priority instead of failing with EEXIST.
    pub replace: bool,
}

/// `RTM_NEWTFILTER` of a `cls_bpf` filter; returns the filter as the kernel created it (with
/// the handle and priority it picked).
pub fn netlink_tc_filter_add(req: &TcFilterAdd<'_>) -> Result<TcFilter> {
    let mut nl = Rtnl::open("RTM_NEWTFILTER")?;
    let mut flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO | NLM_F_CREATE;
    flags |= if req.replace {
        NLM_F_REPLACE
    } else {
        NLM_F_EXCL
    };
    let info = filter_info(req.priority, req.protocol);
    let mut msg = Msg::new(RTM_NEWTFILTER, flags, nl.seq);
    msg.bytes(&tcmsg(req.ifindex, req.handle, req.parent, info));
    msg.attr_str(TCA_KIND, "bpf");
    let nest = msg.nest_start(TCA_OPTIONS);
    msg.attr_u32(TCA_BPF_FD, req.prog.as_raw_fd() as u32);
    msg.attr_str(TCA_BPF_NAME, req.name);
    if req.direct_action {
        msg.attr_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
    }
    msg.nest_end(nest);
    let replies = nl.transact(msg.finish())?;
    replies
        .iter()
        .filter(|r| r.msg_type == RTM_NEWTFILTER)
        .find_map(|r| parse_filter(&r.payload))
        .ok_or_else(|| nl.error(Errno::EBADMSG))
}

/// `RTM_DELTFILTER`: deletes the filter `handle` at `priority`/`protocol` under `parent`.
pub fn netlink_tc_filter_del(
    ifindex: u32,
    parent: u32,
    handle: u32,
    priority: u16,
    protocol: u16,
) -> Result<()> {
    let mut nl = Rtnl::open("RTM_DELTFILTER")?;
    let mut msg = Msg::new(RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, nl.seq);
    msg.bytes(&tcmsg(
        ifindex,
        handle,
        parent,
        filter_info(priority, protocol),
    ));
    nl.transact(msg.finish()).map(drop)
}

/// `RTM_GETTFILTER` dump: the `cls_bpf` filters under `parent` of `ifindex`.
pub fn netlink_tc_filters(ifindex: u32, parent: u32) -> Result<Vec<TcFilter>> {
    let mut nl = Rtnl::open("RTM_GETTFILTER")?;
    let mut msg = Msg::new(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, nl.seq);
    msg.bytes(&tcmsg(ifindex, 0, parent, 0));
    let replies = nl.transact(msg.finish())?;
    Ok(replies
        .iter()
        .filter(|r| r.msg_type == RTM_NEWTFILTER)
        .filter_map(|r| parse_filter(&r.payload))
        .filter(|f| f.handle != 0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_laid_out_like_the_kernel_reads_them() {
        let mut msg = Msg::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, 7);
        msg.bytes(&ifinfomsg(3));
        let nest = msg.nest_start(IFLA_XDP);
        msg.attr(IFLA_XDP_FD, &(-1i32).to_ne_bytes());
        msg.attr_u32(IFLA_XDP_FLAGS, XdpFlags::SKB_MODE.bits());
        msg.nest_end(nest);
        let b = msg.finish();
        assert_eq!(b.len(), 16 + 16 + 4 + 8 + 8);
        assert_eq!(u32_at(&b, 0), Some(b.len() as u32));
        assert_eq!(u16_at(&b, 4), Some(RTM_SETLINK));
        assert_eq!(u16_at(&b, 6), Some(5));
        assert_eq!(u32_at(&b, 8), Some(7));
        assert_eq!(u32_at(&b, 20), Some(3), "ifi_index");
        assert_eq!(u16_at(&b, 32), Some(20), "nest length");
        assert_eq!(u16_at(&b, 34), Some(IFLA_XDP | NLA_F_NESTED));
        let inner: Vec<_> = attrs(&b[36..]).collect();
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[0], (IFLA_XDP_FD, &(-1i32).to_ne_bytes()[..]));
        assert_eq!(inner[1].0, IFLA_XDP_FLAGS);
    }

    #[test]
    fn attributes_stop_at_malformed_input() {
        // A length past the end, and a length below the header size.
        assert_eq!(attrs(&[200, 0, 1, 0, 9, 9]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        let mut ok = Vec::new();
        ok.extend_from_slice(&5u16.to_ne_bytes());
        ok.extend_from_slice(&TCA_KIND.to_ne_bytes());
        ok.extend_from_slice(b"x\0\0\0");
        assert_eq!(attrs(&ok).collect::<Vec<_>>(), vec![(TCA_KIND, &b"x"[..])]);
    }

    #[test]
    fn filter_info_puts_the_protocol_in_network_order() {
        assert_eq!(filter_info(1, ETH_P_ALL), 0x0001_0300);
        let mut payload = tcmsg(2, 1, TC_PARENT_INGRESS, filter_info(5, ETH_P_ALL)).to_vec();
        let mut msg = Msg::new(0, 0, 0);
        msg.attr_str(TCA_KIND, "bpf");
        let nest = msg.nest_start(TCA_OPTIONS);
        msg.attr_u32(TCA_BPF_ID, 42);
        msg.attr_str(TCA_BPF_NAME, "f");
        msg.attr_u32(TCA_BPF_FLAGS, 1);
        msg.nest_end(nest);
        payload.extend_from_slice(&msg.finish()[16..]);
        let f = parse_filter(&payload).unwrap();
        assert_eq!(
            (f.ifindex, f.handle, f.parent, f.priority, f.protocol),
            (2, 1, TC_PARENT_INGRESS, 5, ETH_P_ALL)
        );
        assert_eq!(
            (f.prog_id, f.name.as_str(), f.direct_action),
            (42, "f", true)
        );
    }

    #[test]
    fn errors_carry_the_extended_ack_message() {
        // nlmsgerr { -EINVAL, capped original header } + NLMSGERR_ATTR_MSG.
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-libc::EINVAL).to_ne_bytes());
        payload.extend_from_slice(&[0u8; 16]);
        let mut tlv = Msg::new(0, 0, 0);
        tlv.attr_str(NLMSGERR_ATTR_MSG, "native XDP not supported");
        payload.extend_from_slice(&tlv.finish()[16..]);
        assert_eq!(
            ext_ack_message(&payload, NLM_F_ACK_TLVS | NLM_F_CAPPED).as_deref(),
            Some("native XDP not supported")
        );
        assert_eq!(ext_ack_message(&payload, 0), None);
        assert_eq!(ext_ack_message(&payload[..3], NLM_F_ACK_TLVS), None);
    }

    #[test]
    fn query_of_loopback_answers() {
        // Unprivileged: RTM_GETLINK needs no capability. lo (ifindex 1) has no XDP.
        match netlink_xdp_query(1) {
            Ok(state) => assert_eq!(state.prog_for(XdpFlags::empty()), 0),
            Err(e) => assert_eq!(e.command, Call::Netlink("RTM_GETLINK")),
        }
        let err = netlink_xdp_query(0x7fff_fff0).unwrap_err();
        assert_eq!(err.errno, Errno::ENODEV);
    }
}
