//! Maps: creation, typed access, iteration, batch operations, pinning, mmap'ed arrays, ring
//! and perf buffers.
//!
//! - [`MapSpec`] describes a map; [`MapSpec::create`] (or `create_with`, with a BTF fd or
//!   an inner map) makes a [`Map`]. The loader creates object maps through the same path.
//! - [`Map`]: any map by fd (also [`Map::from_pin`], [`Map::from_id`], [`Map::from_fd`]),
//!   with byte-level lookup/update/delete, [`Map::keys`], batch operations
//!   ([`Map::lookup_batch`], ... with a per-element fallback), [`Map::pin`], [`Map::info`].
//! - Typed views, checked when made (map type, key and value sizes; else a typed error),
//!   over an owned `Map` or a `&Map`: [`HashMap`], [`PerCpuHashMap`], [`Array`],
//!   [`PerCpuArray`] (values in [`PerCpuValues`]), [`LpmTrie`], [`Queue`], [`Stack`],
//!   [`BloomFilter`], [`ProgArray`], [`StackTraceMap`], [`ArrayOfMaps`], [`HashOfMaps`],
//!   [`SockMap`], [`SockHash`], [`DevMap`], [`DevMapHash`], [`CpuMap`], [`XskMap`],
//!   [`CgroupArray`], [`SkStorage`], [`TaskStorage`], [`InodeStorage`], [`CgrpStorage`],
//!   [`PerfEventArray`]. Keys and values are [`Pod`] types (integers, arrays, or your
//!   `#[repr(C)]` structs with an `unsafe impl Pod`; see its safety contract).
//! - Shared memory: [`MmapArray`] (global data, no syscall per access), [`RingBuf`] and
//!   [`RingBufPoller`] (zero-copy ring buffer reader), [`UserRingBuf`] (producer), and
//!   [`PerfBuffer`] (per-CPU perf rings).
//!
//! Every failure is a [`MapError`] naming the map.
//!
//! Maps and views are `Send + Sync`: the kernel serializes element operations on a map fd.

mod array;
mod batch;
mod error;
mod fd_array;
mod global;
mod hash;
mod lpm;
mod map;
mod percpu;
mod perf_buffer;
mod poller;
mod queue;
mod ringbuf;
mod sock;
mod spec;
mod stack_trace;
mod storage;
mod user_ringbuf;
mod view;
mod wait;

#[cfg(test)]
mod ringbuf_tests;

pub use crate::syscall::Pod;
pub use array::{Array, PerCpuArray};
pub use batch::{batch_fallback_active, BatchCursor};
pub use error::{MapError, Result, TypeList};
pub use fd_array::{ArrayOfMaps, CgroupArray, HashOfMaps, PerfEventArray, ProgArray};
pub use global::{MmapArray, Var};
pub use hash::{HashMap, PerCpuHashMap};
pub use lpm::{LpmKey, LpmTrie, LPM_DATA_MAX};
pub use map::{Keys, Map};
pub use percpu::PerCpuValues;
pub use perf_buffer::{PerfBuffer, PerfBufferOptions, PerfRecord, PerfRing};
pub use poller::RingBufPoller;
pub use queue::{BloomFilter, Queue, Stack};
pub use ringbuf::RingBuf;
pub use sock::{SockHash, SockMap};
pub use spec::{CreateOptions, MapSpec};
pub use stack_trace::StackTraceMap;
pub use storage::{CgrpStorage, InodeStorage, SkStorage, TaskStorage};
pub use user_ringbuf::{UserRingBuf, UserRingBufEntry};
pub use view::{Entries, TypedKeys};
pub use xdp::{CpuMap, CpuMapValue, DevMap, DevMapHash, DevMapValue, XskMap};

mod xdp;
