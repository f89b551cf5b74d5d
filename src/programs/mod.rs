//! Programs and links: a loaded [`Program`], attached to every kind of hook the kernel
//! has, each attachment a [`Link`] that detaches on drop (unless pinned or leaked).
//!
//! - **Program** ([`program`]): name, type, expected attach type, [`info`](Program::info)
//!   (run statistics, sizes, map ids, line info), pinning, [`test_run`](Program::test_run).
//! - **Attach**, one file per family, each a method of [`Program`]:
//!   tracepoints and raw tracepoints ([`tracepoint`]), tp_btf/fentry/fexit/fmod_ret/LSM/
//!   freplace ([`tracing`]), iterators ([`iter`]), kprobes/ksyscall/kprobe.multi
//!   ([`kprobe`]), uprobes/uprobe.multi ([`uprobe`]), USDT ([`usdt`]), XDP ([`xdp`]),
//!   TC/tcx/netkit ([`tc`]), cgroups and sockops ([`cgroup`]), sockets, sockmaps and
//!   network namespaces ([`sock`]), perf events ([`perf_event`]), netfilter
//!   ([`netfilter`]), struct_ops ([`struct_ops`]).
//! - **Which mechanism** (bpf link or the pre-link one: netlink, `BPF_PROG_ATTACH`,
//!   `PERF_EVENT_IOC_SET_BPF`, tracefs probe events) is picked by the feature probes of
//!   [`probe`], run once per process; [`AttachMethod`] forces one.
//! - **Auto-attach** ([`auto`]): the target text of a section name, parsed by libbpf's rules,
//!   and [`attach_auto`].
//! - **Queries** ([`query`]): programs on a cgroup, interface or namespace; every program,
//!   map and link of the system.
//!
//! ```no_run
//! use oxbpf::programs::Program;
//! use oxbpf::syscall::ProgType;
//! # fn f(fd: std::os::fd::OwnedFd) -> Result<(), Box<dyn std::error::Error>> {
//! let prog = Program::from_loaded(fd, "count_opens", ProgType::TRACEPOINT, None);
//! let link = prog.attach_tracepoint("syscalls", "sys_enter_openat")?;
//! // ... the program runs on every openat until `link` drops.
//! # drop(link); Ok(()) }
//! ```

pub mod auto;
mod binary_path;
pub mod cgroup;
pub mod elf_symbols;
mod error;
pub mod glob;
pub mod iter;
pub mod kprobe;
mod link;
pub mod netfilter;
mod netns;
pub mod perf_event;
pub mod probe;
pub mod program;
pub mod query;
pub mod sock;
pub mod struct_ops;
pub mod tc;
mod tracefs;
pub mod tracepoint;
pub mod tracing;
pub mod uprobe;
pub mod usdt;
pub mod usdt_args;
pub mod xdp;

pub use auto::{
    attach_auto, attach_auto_with, parse_target, AttachTarget, AutoAttach, AutoAttachContext,
    TargetError,
};
pub use binary_path::{find_library, ld_cache_lookup, resolve_binary};
pub use cgroup::{CgroupMode, CgroupOptions};
pub use elf_symbols::{ElfBinary, SymbolError};
pub use error::{AttachError, AttachErrorKind, ProgramError, Result};
pub use iter::{CgroupIterOrder, IterStream, IterTarget};
pub use kprobe::{ksyscall_symbol, KprobeMultiOptions, KprobeMultiTargets, KprobeOptions};
pub use link::{Link, LinkMethod};
pub use netfilter::{NetfilterFamily, NetfilterHook, NetfilterOptions};
pub use perf_event::{PerfEventKind, PerfEventOptions, PerfScope, Sampling};
pub use program::{enable_run_stats, Program, ProgramInfo, RunStats};
pub use struct_ops::attach_struct_ops;
pub use tc::{Position, TcDirection, TcOptions};
pub use tracefs::tracefs_root;
pub use tracepoint::TracepointOptions;
pub use uprobe::{UprobeLocation, UprobeMultiLocations, UprobeMultiOptions, UprobeOptions};
pub use usdt::{UsdtError, UsdtMaps, UsdtNote, UsdtOptions, UsdtSite, UsdtSpecLookup};
pub use usdt_args::{UsdtArg, UsdtArgLocation, UsdtSpecLayout};
pub use xdp::{ifindex, AttachMethod, XdpOptions};
