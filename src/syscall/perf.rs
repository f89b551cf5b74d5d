//! `perf_event_open(2)` and the perf ioctls BPF attachment uses (`PERF_EVENT_IOC_SET_BPF`,
//! `_ENABLE`, `_DISABLE`).
//!
//! Kprobes, uprobes and tracepoints attach through a perf event: open it here, then either
//! create a `BPF_PERF_EVENT` link on it ([`link_create`](super::link_create), 5.15+) or use
//! [`perf_event_set_bpf`] + [`perf_event_enable`] on older kernels.
//!
//! ```no_run
//! use oxbpf::syscall::{perf_event_open, PerfEventAttr};
//! // Tracepoint id from <tracefs>/events/syscalls/sys_enter_getpid/id.
//! let attr = PerfEventAttr::tracepoint(1234);
//! let perf = perf_event_open(&attr, -1, 0, None)?;
//! # Ok::<(), oxbpf::syscall::SyscallError>(())
//! ```

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use bitflags::bitflags;
use nix::errno::Errno;

use super::error::{Call, Result, SyscallError};
use super::fd::{own_new_fd, MoveAboveStdio};
use super::sys::{Pod, Sealed};

/// `PERF_TYPE_HARDWARE`.
pub const PERF_TYPE_HARDWARE: u32 = 0;
/// `PERF_TYPE_SOFTWARE`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;
/// `PERF_TYPE_TRACEPOINT`.
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_TYPE_HW_CACHE`.
pub const PERF_TYPE_HW_CACHE: u32 = 3;
/// `PERF_TYPE_RAW`.
pub const PERF_TYPE_RAW: u32 = 4;
/// `PERF_TYPE_BREAKPOINT`.
pub const PERF_TYPE_BREAKPOINT: u32 = 5;
/// `PERF_COUNT_SW_CPU_CLOCK`.
pub const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
/// `PERF_COUNT_SW_BPF_OUTPUT`: the software event perf event arrays output to.
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
/// `PERF_SAMPLE_RAW`.
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_ATTR_SIZE_VER8`: the size of [`PerfEventAttr`].
pub const PERF_ATTR_SIZE: u32 = 136;

bitflags! {
    /// The single-bit fields of `perf_event_attr` (the bitfield word at offset 40).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PerfEventFlags: u64 {
        /// `disabled`: start disabled.
        const DISABLED = 1 << 0;
        /// `inherit`: children inherit it.
        const INHERIT = 1 << 1;
        /// `pinned`.
        const PINNED = 1 << 2;
        /// `exclusive`.
        const EXCLUSIVE = 1 << 3;
        /// `exclude_user`.
        const EXCLUDE_USER = 1 << 4;
        /// `exclude_kernel`.
        const EXCLUDE_KERNEL = 1 << 5;
        /// `exclude_hv`.
        const EXCLUDE_HV = 1 << 6;
        /// `exclude_idle`.
        const EXCLUDE_IDLE = 1 << 7;
        /// `mmap`.
        const MMAP = 1 << 8;
        /// `comm`.
        const COMM = 1 << 9;
        /// `freq`: `sample_period` is a frequency.
        const FREQ = 1 << 10;
        /// `inherit_stat`.
        const INHERIT_STAT = 1 << 11;
        /// `enable_on_exec`.
        const ENABLE_ON_EXEC = 1 << 12;
        /// `task`.
        const TASK = 1 << 13;
        /// `watermark`: `wakeup_events` is a byte watermark.
        const WATERMARK = 1 << 14;
        /// `precise_ip` (two bits, 15-16).
        const PRECISE_IP = 3 << 15;
        /// `mmap_data`.
        const MMAP_DATA = 1 << 17;
        /// `sample_id_all`.
        const SAMPLE_ID_ALL = 1 << 18;
        /// `exclude_host`.
        const EXCLUDE_HOST = 1 << 19;
        /// `exclude_guest`.
        const EXCLUDE_GUEST = 1 << 20;
        /// `exclude_callchain_kernel`.
        const EXCLUDE_CALLCHAIN_KERNEL = 1 << 21;
        /// `exclude_callchain_user`.
        const EXCLUDE_CALLCHAIN_USER = 1 << 22;
        /// `mmap2`.
        const MMAP2 = 1 << 23;
        /// `comm_exec`.
        const COMM_EXEC = 1 << 24;
        /// `use_clockid`.
        const USE_CLOCKID = 1 << 25;
        /// `context_switch`.
        const CONTEXT_SWITCH = 1 << 26;
        /// `write_backward`.
        const WRITE_BACKWARD = 1 << 27;
        /// `namespaces`.
        const NAMESPACES = 1 << 28;
        /// `ksymbol`.
        const KSYMBOL = 1 << 29;
        /// `bpf_event`.
        const BPF_EVENT = 1 << 30;
        /// `aux_output`.
        const AUX_OUTPUT = 1 << 31;
        /// `cgroup`.
        const CGROUP = 1 << 32;
        /// `text_poke`.
        const TEXT_POKE = 1 << 33;
        /// `build_id`.
        const BUILD_ID = 1 << 34;
        /// `inherit_thread`.
        const INHERIT_THREAD = 1 << 35;
        /// `remove_on_exec`.
        const REMOVE_ON_EXEC = 1 << 36;
        /// `sigtrap`.
        const SIGTRAP = 1 << 37;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

/// `struct perf_event_attr` (`PERF_ATTR_SIZE_VER8`, 136 bytes). Unions are named by their
/// generic member (`sample_period`, `wakeup_events`, `config1`, `config2`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PerfEventAttr {
    /// `type` (`PERF_TYPE_*`, or a dynamic PMU's type such as kprobe's).
    pub type_: u32,
    /// Set by [`perf_event_open`].
    pub size: u32,
    pub config: u64,
    /// `sample_period` or `sample_freq`.
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// The bitfield word.
    pub flags: u64,
    /// `wakeup_events` or `wakeup_watermark`.
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `config1`: `bp_addr`, `kprobe_func` or `uprobe_path` (a pointer to a C string).
    pub config1: u64,
    /// `config2`: `bp_len`, `kprobe_addr` or `probe_offset`.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved_2: u16,
    pub aux_sample_size: u32,
    pub aux_action: u32,
    pub sig_data: u64,
    pub config3: u64,
}

impl Sealed for PerfEventAttr {}
// SAFETY: repr(C), integer fields, no padding (offsets checked in tests).
unsafe impl Pod for PerfEventAttr {}

impl PerfEventAttr {
    /// An event of PMU `type_` with `config`, sampling every event, waking up on each.
    pub fn new(type_: u32, config: u64) -> PerfEventAttr {
        PerfEventAttr {
            type_,
            size: PERF_ATTR_SIZE,
            config,
            sample_period: 1,
            wakeup_events: 1,
            ..Default::default()
        }
    }

    /// A tracepoint event, by its id from `<tracefs>/events/<category>/<name>/id`.
    pub fn tracepoint(id: u64) -> PerfEventAttr {
        PerfEventAttr::new(PERF_TYPE_TRACEPOINT, id)
    }

    /// A software event (`PERF_COUNT_SW_*`).
    pub fn software(config: u64) -> PerfEventAttr {
        PerfEventAttr::new(PERF_TYPE_SOFTWARE, config)
    }

    /// The bitfield word as flags.
    pub fn event_flags(&self) -> PerfEventFlags {
        PerfEventFlags::from_bits_retain(self.flags)
    }
}

/// Also open the fd close-on-exec (always added).
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// `perf_event_open(attr, pid, cpu, group, PERF_FLAG_FD_CLOEXEC)`: `pid` -1 and a `cpu` for
/// all processes on that CPU, `pid` 0 for this process. `attr.size` is set for you.
pub fn perf_event_open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    group: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd> {
    let mut attr = *attr;
    attr.size = PERF_ATTR_SIZE;
    open(&attr, pid, cpu, group)
}

/// `perf_event_open` of a kprobe/uprobe PMU event: `name` (function or binary path) goes in
/// `config1`, `offset` (or address, with no name) in `config2`.
pub fn perf_event_open_probe(
    attr: &PerfEventAttr,
    name: Option<&CStr>,
    offset: u64,
    pid: i32,
    cpu: i32,
) -> Result<OwnedFd> {
    let mut attr = *attr;
    attr.size = PERF_ATTR_SIZE;
    attr.config1 = name.map_or(0, |n| n.as_ptr() as u64);
    attr.config2 = offset;
    open(&attr, pid, cpu, None)
}

fn open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    group: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd> {
    let group_fd = group.map_or(-1, |g| g.as_raw_fd());
    // SAFETY: `attr` is a live `perf_event_attr` of `attr.size` bytes, read by the kernel;
    // its `config1` is null, a NUL-terminated string borrowed by the caller, or a value the
    // kernel only reads through (it never writes through attr pointers).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const PerfEventAttr,
            pid as libc::c_long,
            cpu as libc::c_long,
            group_fd as libc::c_long,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(SyscallError::new(Call::PerfEventOpen, Errno::last()));
    }
    // SAFETY: perf_event_open just returned this new fd; we are its only owner.
    unsafe { own_new_fd(ret) }.move_above_stdio()
}

const IOC_ENABLE: libc::c_ulong = nix::request_code_none!(b'$', 0) as libc::c_ulong;
const IOC_DISABLE: libc::c_ulong = nix::request_code_none!(b'$', 1) as libc::c_ulong;
const IOC_SET_BPF: libc::c_ulong =
    nix::request_code_write!(b'$', 8, std::mem::size_of::<u32>()) as libc::c_ulong;

fn ioctl(
    fd: BorrowedFd<'_>,
    name: &'static str,
    request: libc::c_ulong,
    arg: libc::c_int,
) -> Result<()> {
    // SAFETY: these perf requests take an integer argument (no pointer) on an fd we borrow.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) };
    if ret < 0 {
        Err(SyscallError::new(Call::Ioctl(name), Errno::last()))
    } else {
        Ok(())
    }
}

/// `PERF_EVENT_IOC_SET_BPF`: runs `prog` on each event of `perf` (pre-link attachment).
pub fn perf_event_set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<()> {
    ioctl(
        perf,
        "PERF_EVENT_IOC_SET_BPF",
        IOC_SET_BPF,
        prog.as_raw_fd(),
    )
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_enable(perf: BorrowedFd<'_>) -> Result<()> {
    ioctl(perf, "PERF_EVENT_IOC_ENABLE", IOC_ENABLE, 0)
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn perf_event_disable(perf: BorrowedFd<'_>) -> Result<()> {
    ioctl(perf, "PERF_EVENT_IOC_DISABLE", IOC_DISABLE, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_6_18() {
        assert_eq!(size_of::<PerfEventAttr>(), 136);
        assert_eq!(offset_of!(PerfEventAttr, config), 8);
        assert_eq!(offset_of!(PerfEventAttr, sample_period), 16);
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, wakeup_events), 48);
        assert_eq!(offset_of!(PerfEventAttr, bp_type), 52);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, config2), 64);
        assert_eq!(offset_of!(PerfEventAttr, branch_sample_type), 72);
        assert_eq!(offset_of!(PerfEventAttr, sample_stack_user), 88);
        assert_eq!(offset_of!(PerfEventAttr, clockid), 92);
        assert_eq!(offset_of!(PerfEventAttr, sample_regs_intr), 96);
        assert_eq!(offset_of!(PerfEventAttr, aux_watermark), 104);
        assert_eq!(offset_of!(PerfEventAttr, sample_max_stack), 108);
        assert_eq!(offset_of!(PerfEventAttr, aux_sample_size), 112);
        assert_eq!(offset_of!(PerfEventAttr, aux_action), 116);
        assert_eq!(offset_of!(PerfEventAttr, sig_data), 120);
        assert_eq!(offset_of!(PerfEventAttr, config3), 128);
        assert_eq!(IOC_ENABLE, 0x2400);
        assert_eq!(IOC_DISABLE, 0x2401);
        assert_eq!(IOC_SET_BPF, 0x4004_2408);
    }

    #[test]
    fn software_event_opens_without_privileges_or_explains() {
        // A task clock on this process needs no capability with perf_event_paranoid <= 2.
        let attr = PerfEventAttr {
            flags: (PerfEventFlags::DISABLED | PerfEventFlags::EXCLUDE_KERNEL).bits(),
            ..PerfEventAttr::software(1) // PERF_COUNT_SW_TASK_CLOCK
        };
        match perf_event_open(&attr, 0, -1, None) {
            Ok(fd) => {
                assert!(fd.as_raw_fd() > 2);
                perf_event_enable(std::os::fd::AsFd::as_fd(&fd)).unwrap();
                perf_event_disable(std::os::fd::AsFd::as_fd(&fd)).unwrap();
                // Not a tracepoint: the kernel refuses a BPF program on it.
                let null = std::fs::File::open("/dev/null").unwrap();
                let err = perf_event_set_bpf(
                    std::os::fd::AsFd::as_fd(&fd),
                    std::os::fd::AsFd::as_fd(&null),
                )
                .unwrap_err();
                assert_eq!(err.command, Call::Ioctl("PERF_EVENT_IOC_SET_BPF"));
            }
            Err(e) => {
                assert_eq!(e.command, Call::PerfEventOpen);
                eprintln!("SKIPPED perf open: {e}");
            }
        }
    }
}
