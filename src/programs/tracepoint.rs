//! Tracepoints (a perf event of the tracepoint's id, then a perf link or
//! `PERF_EVENT_IOC_SET_BPF`) and raw tracepoints (`BPF_RAW_TRACEPOINT_OPEN`).

use std::ffi::CString;
use std::os::fd::AsFd;

use crate::syscall::{perf_event_open, raw_tracepoint_open, PerfEventAttr, ProgType};

use super::error::{AttachError, AttachErrorKind, Result};
use super::link::{Link, PerfEvent};
use super::perf_event::attach_perf;
use super::tracefs::{event_id, EventIdError};
use super::xdp::AttachMethod;
use super::Program;

/// Options of a tracepoint attachment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointOptions {
    /// BPF cookie (5.15).
    pub cookie: u64,
    /// Perf link or `PERF_EVENT_IOC_SET_BPF`.
    pub method: AttachMethod,
}

impl Program {
    /// Attaches this tracepoint program to tracepoint `category/name`
    /// (`syscalls`/`sys_enter_openat`), for every process.
    pub fn attach_tracepoint(&self, category: &str, name: &str) -> Result<Link> {
        self.attach_tracepoint_with(category, name, &TracepointOptions::default())
    }

    /// [`attach_tracepoint`](Program::attach_tracepoint) with options.
    pub fn attach_tracepoint_with(
        &self,
        category: &str,
        name: &str,
        opts: &TracepointOptions,
    ) -> Result<Link> {
        let target = format!("tracepoint {category}/{name}");
        if self.prog_type() != ProgType::TRACEPOINT && self.prog_type() != ProgType::PERF_EVENT {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_TRACEPOINT"));
        }
        if category.contains('/') || name.contains('/') || category.is_empty() || name.is_empty() {
            return Err(self.unsupported(
                &target,
                "a tracepoint is named by a category and a name without '/'",
            ));
        }
        let id = event_id(category, name).map_err(|e| self.event_error(&target, e))?;
        // Every process: pid -1 needs a CPU; the program runs on all CPUs regardless.
        let fd = perf_event_open(&PerfEventAttr::tracepoint(id), -1, 0, None)
            .map_err(self.attach_err(&target))?;
        attach_perf(
            self,
            PerfEvent { fd, dynamic: None },
            opts.cookie,
            opts.method,
            target,
        )
    }

    pub(crate) fn event_error(&self, target: &str, e: EventIdError) -> AttachError {
        match e {
            EventIdError::NoTracefs => AttachErrorKind::NoTracefs {
                program: self.name().to_string(),
                target: target.to_string(),
            }
            .into(),
            EventIdError::Io(path, source) => AttachErrorKind::Io {
                program: self.name().to_string(),
                target: target.to_string(),
                path,
                source,
            }
            .into(),
        }
    }

    /// Attaches this raw tracepoint program to raw tracepoint `name` (`sys_enter`).
    pub fn attach_raw_tracepoint(&self, name: &str) -> Result<Link> {
        self.attach_raw_tracepoint_with(name, 0)
    }

    /// [`attach_raw_tracepoint`](Program::attach_raw_tracepoint) with a BPF cookie (6.10).
    pub fn attach_raw_tracepoint_with(&self, name: &str, cookie: u64) -> Result<Link> {
        let target = format!("raw tracepoint {name}");
        if !matches!(
            self.prog_type(),
            ProgType::RAW_TRACEPOINT | ProgType::RAW_TRACEPOINT_WRITABLE
        ) {
            return Err(self.wrong_type(&target, "BPF_PROG_TYPE_RAW_TRACEPOINT(_WRITABLE)"));
        }
        let cname = CString::new(name)
            .map_err(|_| self.unsupported(&target, "the name contains a NUL byte"))?;
        let fd = raw_tracepoint_open(self.as_fd(), Some(&cname), cookie)
            .map_err(self.attach_err(&target))?;
        Ok(Link::bpf(fd, self.name(), target))
    }
}
