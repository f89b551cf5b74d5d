//! Perf events: attaching a program to any perf event fd (bpf link, or
//! `PERF_EVENT_IOC_SET_BPF` before 5.15), and sampling events for `perf_event` programs
//! (software/hardware events, per CPU or per process, by period or frequency).

use std::os::fd::{AsFd, OwnedFd};

use crate::syscall::{
    link_create, perf_event_enable, perf_event_open, perf_event_set_bpf, AttachType, LinkCreate,
    LinkExtra, LinkTarget, PerfEventAttr, PerfEventFlags, ProgType, PERF_TYPE_HARDWARE,
    PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE,
};

use super::error::{AttachErrorKind, Result};
use super::link::{Inner, Link, PerfEvent};
use super::xdp::AttachMethod;
use super::{probe, Program};

/// Attaches `prog` to the perf event `perf` (tracepoint, kprobe, uprobe or sampling event):
/// a perf link (5.15), or `PERF_EVENT_IOC_SET_BPF` + `ENABLE`.
pub(crate) fn attach_perf(
    prog: &Program,
    perf: PerfEvent,
    cookie: u64,
    method: AttachMethod,
    target: String,
) -> Result<Link> {
    let use_link = match method {
        AttachMethod::Link => true,
        AttachMethod::Legacy => false,
        AttachMethod::Auto => probe::perf_link(),
    };
    if use_link {
        let mut req = LinkCreate::new(
            prog.as_fd(),
            LinkTarget::Fd(perf.fd.as_fd()),
            AttachType::PERF_EVENT,
        );
        if cookie != 0 {
            req.extra = LinkExtra::PerfEvent { bpf_cookie: cookie };
        }
        let fd = link_create(&req).map_err(|source| AttachErrorKind::Syscall {
            program: prog.name().to_string(),
            target: target.clone(),
            source,
        })?;
        return Ok(Link::new(
            Inner::Fd {
                fd,
                perf: Some(perf),
            },
            prog.name(),
            target,
        ));
    }
    if cookie != 0 {
        return Err(AttachErrorKind::Unsupported {
            program: prog.name().to_string(),
            target,
            why: "a BPF cookie needs perf event links (Linux 5.15)".into(),
        }
        .into());
    }
    let fail = |source| AttachErrorKind::Syscall {
        program: prog.name().to_string(),
        target: target.clone(),
        source,
    };
    perf_event_set_bpf(perf.fd.as_fd(), prog.as_fd()).map_err(fail)?;
    perf_event_enable(perf.fd.as_fd()).map_err(fail)?;
    Ok(Link::new(Inner::PerfIoctl(perf), prog.name(), target))
}

/// What a sampling perf event counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfEventKind {
    /// `PERF_TYPE_SOFTWARE` with a `PERF_COUNT_SW_*` config (0 cpu-clock, 1 task-clock, ...).
    Software(u64),
    /// `PERF_TYPE_HARDWARE` with a `PERF_COUNT_HW_*` config (0 cycles, 1 instructions, ...).
    Hardware(u64),
    /// `PERF_TYPE_HW_CACHE` with an encoded cache event.
    HwCache(u64),
    /// `PERF_TYPE_RAW` with a raw PMU config.
    Raw(u64),
    /// Any PMU by type number (from `/sys/bus/event_source/devices/*/type`).
    Pmu {
        /// The PMU type.
        type_: u32,
        /// Its config.
        config: u64,
    },
}

impl PerfEventKind {
    /// `cpu-clock` (`PERF_COUNT_SW_CPU_CLOCK`).
    pub const CPU_CLOCK: PerfEventKind = PerfEventKind::Software(0);
    /// CPU cycles (`PERF_COUNT_HW_CPU_CYCLES`).
    pub const CPU_CYCLES: PerfEventKind = PerfEventKind::Hardware(0);

    fn type_config(self) -> (u32, u64) {
        match self {
            PerfEventKind::Software(c) => (PERF_TYPE_SOFTWARE, c),
            PerfEventKind::Hardware(c) => (PERF_TYPE_HARDWARE, c),
            PerfEventKind::HwCache(c) => (PERF_TYPE_HW_CACHE, c),
            PerfEventKind::Raw(c) => (PERF_TYPE_RAW, c),
            PerfEventKind::Pmu { type_, config } => (type_, config),
        }
    }
}

/// How often the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// Every `n` events.
    Period(u64),
    /// About `n` times a second (`freq`).
    Frequency(u64),
}

/// Which CPUs and tasks the event watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfScope {
    /// Every task, one event per online CPU.
    AllCpus,
    /// Every task on one CPU.
    Cpu(u32),
    /// One process (0: this one), on any CPU.
    Process(i32),
}

/// A sampling event for a `perf_event` program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfEventOptions {
    /// The event.
    pub kind: PerfEventKind,
    /// When the program runs.
    pub sampling: Sampling,
    /// Where.
    pub scope: PerfScope,
    /// Children of a watched process inherit the event.
    pub inherit: bool,
    /// BPF cookie (5.15).
    pub cookie: u64,
    /// Perf link or `PERF_EVENT_IOC_SET_BPF`.
    pub method: AttachMethod,
}

impl PerfEventOptions {
    /// `kind` sampled `sampling` on every CPU.
    pub fn new(kind: PerfEventKind, sampling: Sampling) -> PerfEventOptions {
        PerfEventOptions {
            kind,
            sampling,
            scope: PerfScope::AllCpus,
            inherit: false,
            cookie: 0,
            method: AttachMethod::Auto,
        }
    }
}

/// The online CPUs (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> std::io::Result<Vec<u32>> {
    let path = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(path)?;
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>(), b.parse::<u32>()),
            None => (part.parse(), part.parse()),
        };
        let (Ok(lo), Ok(hi)) = (lo, hi) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{path}: {text:?}"),
            ));
        };
        cpus.extend(lo..=hi.min(lo.saturating_add(65535)));
    }
    Ok(cpus)
}

impl Program {
    /// Attaches this `perf_event` program to a sampling event (one perf event per CPU for
    /// [`PerfScope::AllCpus`], held together by the returned link).
    pub fn attach_perf_event(&self, opts: &PerfEventOptions) -> Result<Link> {
        let (type_, config) = opts.kind.type_config();
        let target = format!("perf event type {type_} config {config}");
        if self.prog_type() != ProgType::PERF_EVENT {
            return Err(AttachErrorKind::WrongProgramType {
                program: self.name().to_string(),
                target,
                prog_type: self.prog_type(),
                expected: "BPF_PROG_TYPE_PERF_EVENT",
            }
            .into());
        }
        let mut attr = PerfEventAttr::new(type_, config);
        let mut flags = PerfEventFlags::empty();
        match opts.sampling {
            Sampling::Period(n) => attr.sample_period = n,
            Sampling::Frequency(n) => {
                attr.sample_period = n;
                flags |= PerfEventFlags::FREQ;
            }
        }
        if opts.inherit {
            flags |= PerfEventFlags::INHERIT;
        }
        attr.flags = flags.bits();
        let places: Vec<(i32, i32)> = match opts.scope {
            PerfScope::AllCpus => online_cpus()
                .map_err(|source| AttachErrorKind::Io {
                    program: self.name().to_string(),
                    target: target.clone(),
                    path: "/sys/devices/system/cpu/online".into(),
                    source,
                })?
                .into_iter()
                .map(|cpu| (-1, cpu as i32))
                .collect(),
            PerfScope::Cpu(cpu) => vec![(-1, cpu as i32)],
            PerfScope::Process(pid) => vec![(pid, -1)],
        };
        let mut parts = Vec::with_capacity(places.len());
        for (pid, cpu) in places {
            let where_ = format!("{target} (pid {pid}, cpu {cpu})");
            let fd = perf_event_open(&attr, pid, cpu, None).map_err(|source| {
                AttachErrorKind::Syscall {
                    program: self.name().to_string(),
                    target: where_.clone(),
                    source,
                }
            })?;
            let perf = PerfEvent { fd, dynamic: None };
            parts.push(attach_perf(self, perf, opts.cookie, opts.method, where_)?);
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        Ok(Link::new(Inner::Group(parts), self.name(), target))
    }

    /// Attaches this program to a perf event the caller opened (any type the kernel accepts
    /// for the program: tracepoint, kprobe, uprobe, or a sampling event).
    pub fn attach_perf_event_fd(&self, perf: OwnedFd, cookie: u64) -> Result<Link> {
        attach_perf(
            self,
            PerfEvent {
                fd: perf,
                dynamic: None,
            },
            cookie,
            AttachMethod::Auto,
            "perf event".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_cpus_are_listed() {
        let cpus = online_cpus().unwrap();
        assert!(!cpus.is_empty());
        assert_eq!(cpus[0], 0);
    }
}
