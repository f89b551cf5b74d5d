//! BTF-targeted programs: tp_btf, fentry/fexit/fmod_ret, LSM (`BPF_RAW_TRACEPOINT_OPEN`
//! with no name, or `BPF_LINK_CREATE` when a cookie is wanted) and freplace (to the target
//! given at load, or to a function of another program).

use std::os::fd::{AsFd, BorrowedFd};

use crate::btf::{Btf, BtfKind};
use crate::syscall::{
    btf_data, btf_get_fd_by_id, link_create, prog_info, raw_tracepoint_open, AttachType,
    LinkCreate, LinkExtra, LinkTarget, ProgType,
};

use super::error::Result;
use super::link::Link;
use super::Program;

fn kind_name(prog_type: ProgType, attach: Option<AttachType>) -> &'static str {
    match (prog_type, attach) {
        (ProgType::LSM, Some(AttachType::LSM_CGROUP)) => "lsm_cgroup",
        (ProgType::LSM, _) => "lsm",
        (ProgType::EXT, _) => "freplace",
        (_, Some(AttachType::TRACE_RAW_TP)) => "tp_btf",
        (_, Some(AttachType::TRACE_FENTRY)) => "fentry",
        (_, Some(AttachType::TRACE_FEXIT)) => "fexit",
        (_, Some(AttachType::MODIFY_RETURN)) => "fmod_ret",
        (_, Some(AttachType::TRACE_ITER)) => "iter",
        (_, Some(AttachType::TRACE_FSESSION)) => "fsession",
        _ => "tracing",
    }
}

impl Program {
    /// Attaches a tp_btf, fentry, fexit, fmod_ret, LSM or freplace program to the BTF target
    /// it was loaded for (`attach_btf_id`, and `attach_prog_fd` for freplace).
    pub fn attach_tracing(&self) -> Result<Link> {
        self.attach_tracing_with(0)
    }

    /// [`attach_tracing`](Program::attach_tracing) with a BPF cookie (fentry/fexit/LSM:
    /// 5.19; tp_btf: 6.10).
    pub fn attach_tracing_with(&self, cookie: u64) -> Result<Link> {
        let kind = kind_name(self.prog_type(), self.expected_attach_type());
        let target = format!("{kind} (the load's BTF target)");
        match self.prog_type() {
            ProgType::TRACING | ProgType::LSM | ProgType::EXT => {}
            _ => return Err(self.wrong_type(&target, "TRACING, LSM or EXT")),
        }
        match self.expected_attach_type() {
            Some(AttachType::TRACE_ITER) => {
                return Err(self.unsupported(&target, "iterators attach with attach_iter"))
            }
            Some(AttachType::LSM_CGROUP) => {
                return Err(self.unsupported(&target, "lsm_cgroup attaches with attach_cgroup"))
            }
            _ => {}
        }
        let attach_type = self.expected_attach_type().unwrap_or(AttachType(0));
        let fd = if cookie == 0 || attach_type == AttachType::TRACE_RAW_TP {
            raw_tracepoint_open(self.as_fd(), None, cookie).map_err(self.attach_err(&target))?
        } else {
            let mut req = LinkCreate::new(self.as_fd(), LinkTarget::None, attach_type);
            req.extra = LinkExtra::Tracing {
                target_btf_id: 0,
                cookie,
            };
            link_create(&req).map_err(self.attach_err(&target))?
        };
        Ok(Link::bpf(fd, self.name(), target))
    }

    /// Attaches an LSM program to its hook (the same as
    /// [`attach_tracing`](Program::attach_tracing)).
    pub fn attach_lsm(&self) -> Result<Link> {
        self.attach_tracing()
    }

    /// Attaches a freplace (EXT) program in place of global function `function` of the
    /// BPF program `target` (whose BTF names it). With the target given at load, use
    /// [`attach_tracing`](Program::attach_tracing) instead.
    pub fn attach_freplace(&self, target: BorrowedFd<'_>, function: &str) -> Result<Link> {
        let desc = format!("freplace of {function}");
        if self.prog_type() != ProgType::EXT {
            return Err(self.wrong_type(&desc, "BPF_PROG_TYPE_EXT"));
        }
        let btf_id = prog_info(target).map_err(self.attach_err(&desc))?.btf_id;
        if btf_id == 0 {
            return Err(self.unsupported(&desc, "the target program has no BTF"));
        }
        let btf_fd = btf_get_fd_by_id(btf_id).map_err(self.attach_err(&desc))?;
        let raw = btf_data(btf_fd.as_fd()).map_err(self.attach_err(&desc))?;
        let btf = Btf::parse(raw)
            .map_err(|e| self.unsupported(&desc, format!("the target program's BTF: {e}")))?;
        let func_id = btf
            .id_by_name_kind(function, BtfKind::Func)
            .ok_or_else(|| {
                self.unsupported(
                    &desc,
                    format!("the target program's BTF has no function `{function}`"),
                )
            })?;
        let mut req = LinkCreate::new(self.as_fd(), LinkTarget::Fd(target), AttachType(0));
        req.extra = LinkExtra::TargetBtfId(func_id);
        let fd = link_create(&req).map_err(self.attach_err(&desc))?;
        Ok(Link::bpf(fd, self.name(), desc))
    }
}
