//! The thin, typed `bpf(2)` layer: the only place with FFI `unsafe`.
//!
//! Shaped like rustix: one small module per command family, `#[repr(C)]` attribute structs
//! laid out exactly like their member of the kernel's `union bpf_attr` (checked against the
//! 6.18 layout in the unit tests), safe functions over them, every fd an
//! [`OwnedFd`](std::os::fd::OwnedFd) or [`BorrowedFd`](std::os::fd::BorrowedFd).
//!
//! - **One choke point.** Every command goes through one function that unit tests can
//!   replace per thread with a fake kernel ([`testing::capture`], [`testing::install_fake`]),
//!   to check the exact attribute bytes a wrapper (or a layer above) sends.
//! - **Requests are plain structs** with `Default` ([`MapCreate`], [`ProgLoad`],
//!   [`TestRun`], [`LinkCreate`], [`BtfLoad`], ...): fill what you need, pass a reference.
//!   Each becomes its attribute struct (`to_attr`), zero-filled past the fields set, and the
//!   struct's full size is passed to the kernel.
//! - **Errors** are one type, [`SyscallError`] `{ command, errno, code, hint }`: the
//!   [`Call`] displays as the uapi command name (`BPF_MAP_CREATE`), and the [`Hint`] explains
//!   EPERM (privileges), ENOSPC/E2BIG, and names an attribute field too new for the running
//!   kernel when an older kernel refuses one (field → release tables per attribute struct).
//!   The verifier log is not part of the error: [`ProgLoad::log_buf`] receives it and
//!   [`ProgLoad::log_true_size`] tells the size it needed.
//! - **Fds** returned by the kernel are moved above 2 (0 means "none" in several
//!   attributes).
//! - **Memory safety of element access**: [`MapFd`] carries the map's key and value sizes, so
//!   lookups, updates and batches check buffer lengths before the kernel reads or writes.
//!
//! ```no_run
//! use oxbpf::syscall::*;
//!
//! let map = map_create(&MapCreate {
//!     map_type: MapType::HASH,
//!     key_size: 4,
//!     value_size: 4,
//!     max_entries: 64,
//!     name: "pids",
//!     ..Default::default()
//! })?;
//! map_update_elem(&map, &1u32.to_ne_bytes(), &7u32.to_ne_bytes(), ElemFlags::NOEXIST)?;
//! let err = map_update_elem(&map, &1u32.to_ne_bytes(), &7u32.to_ne_bytes(), ElemFlags::NOEXIST)
//!     .unwrap_err();
//! assert_eq!(err.bpf_command(), Some(Command::MAP_UPDATE_ELEM));
//! assert_eq!(err.errno, nix::errno::Errno::EEXIST);
//! # Ok::<(), SyscallError>(())
//! ```

mod attach;
mod batch;
mod btf;
mod cpu;
mod error;
mod fd;
mod flags;
mod info;
mod link;
mod map;
mod mmap;
mod netlink;
mod obj;
mod perf;
mod pod;
mod process;
mod prog;
mod sockopt;
mod stats;
mod sys;
pub mod testing;
mod token;
mod types;
mod version;

#[cfg(test)]
mod attr_bytes_tests;
#[cfg(test)]
mod layout_tests;

pub use attach::{
    prog_attach, prog_detach, prog_query, ProgAttach, ProgAttachAttr, ProgDetach, ProgQuery,
    QueryAttr, QueryOutput, Relative, Target,
};
pub use batch::{
    map_delete_batch, map_lookup_and_delete_batch, map_lookup_batch, map_update_batch, BatchAttr,
    BatchStatus,
};
pub use btf::{btf_load, BtfLoad, BtfLoadAttr};
pub use cpu::{online_cpus, parse_cpu_ids, parse_cpu_list, possible_cpus};
pub use error::{Call, Hint, Result, SyscallError, ENOTSUPP};
pub use fd::MoveAboveStdio;
pub use flags::{
    AttachFlags, BtfFlags, ElemFlags, FileFlags, LogLevel, MapFlags, ProgFlags, QueryFlags,
    TestRunFlags,
};
pub use info::{
    btf_data, btf_info, btf_info_with, btf_name, link_info, link_info_name, map_info, prog_info,
    prog_info_with, prog_map_ids, prog_xlated_insns, BtfInfo, FuncInfoRec, InfoAttr, LineInfoRec,
    LinkInfo, MapInfo, ProgInfo, ProgInfoArrays,
};
pub use link::{
    iter_create, link_create, link_detach, link_update, raw_tracepoint_open, task_fd_query,
    IterCreateAttr, LinkCreate, LinkCreateAttr, LinkDetachAttr, LinkExtra, LinkTarget,
    LinkUpdateAttr, RawTracepointAttr, TaskFdQueryAttr, TaskFdQueryOutput,
};
pub use map::{
    map_create, map_delete_elem, map_freeze, map_get_next_key, map_lookup_and_delete_elem,
    map_lookup_elem, map_update_elem, MapCreate, MapCreateAttr, MapElemAttr, MapFd, MapLayout,
};
pub use mmap::{map_mmap, page_size, MappedFile, MmapRegion, Protection};
pub use netlink::{
    netlink_clsact_add, netlink_clsact_del, netlink_tc_filter_add, netlink_tc_filter_del,
    netlink_tc_filters, netlink_xdp_attach, netlink_xdp_query, TcFilter, TcFilterAdd, XdpFlags,
    XdpState, ETH_P_ALL, TC_H_CLSACT, TC_PARENT_EGRESS, TC_PARENT_INGRESS,
};
pub use obj::{
    btf_get_fd_by_id, btf_get_next_id, btf_ids, get_fd_by_id, get_next_id, ids, link_get_fd_by_id,
    link_get_next_id, link_ids, map_get_fd_by_id, map_get_next_id, map_ids, obj_get, obj_get_at,
    obj_pin, obj_pin_at, prog_get_fd_by_id, prog_get_next_id, prog_ids, GetIdAttr, Ids, ObjAttr,
    ObjKind,
};
pub use perf::{
    perf_event_disable, perf_event_enable, perf_event_open, perf_event_open_probe,
    perf_event_set_bpf, PerfEventAttr, PerfEventFlags, PERF_ATTR_SIZE, PERF_COUNT_SW_BPF_OUTPUT,
    PERF_COUNT_SW_CPU_CLOCK, PERF_SAMPLE_RAW, PERF_TYPE_BREAKPOINT, PERF_TYPE_HARDWARE,
    PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT,
};
pub use pod::{slice_as_bytes, slice_as_bytes_mut};
pub use process::{pidfd_open, PIDFD_THREAD};
pub use prog::{
    prog_bind_map, prog_load, prog_test_run, ExtInfo, ProgBindMapAttr, ProgLoad, ProgLoadAttr,
    TestRun, TestRunAttr, TestRunOutput, PROG_LOAD_ATTEMPTS,
};
pub use sockopt::{
    socket_attach_bpf, socket_attach_reuseport_bpf, socket_detach_bpf, socket_detach_reuseport_bpf,
};
pub use stats::{enable_stats, EnableStatsAttr};
pub use sys::{obj_name, Pod, OBJ_NAME_LEN};
pub use token::{token_create, TokenCreateAttr};
pub use types::{AttachType, Command, LinkType, MapType, ProgType, StatsType};
pub use version::{Field, KernelVersion};
