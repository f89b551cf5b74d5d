//! Map-type probes: create the smallest valid map of each type.
//!
//! An unknown map type and invalid attributes both give EINVAL, so each type gets
//! attributes its creation check accepts on every kernel that has it: the key and value
//! sizes it insists on, BTF for the storage maps (which need a BTF-described value), an
//! inner map for maps of maps. struct_ops maps need a kernel struct_ops type: the probe
//! names a BTF id that is not one, which a kernel with struct_ops maps answers with
//! ENOTSUPP after the type check.

use std::os::fd::{AsFd, OwnedFd};

use super::btf::{int_type, load as load_btf};
use super::probe::{
    answer, setup_error, Cache, Errnos, ProbeError, E2BIG, EINVAL, KERNEL_ENOTSUPP,
};
use crate::btf::{BtfBuilder, MemberDef, TypeBody, TypeDef};
use crate::syscall::{map_create, page_size, MapCreate, MapFlags, MapType};

static CACHE: Cache<64> = Cache::new();

/// Whether maps of type `t` can be created on this kernel (probed once per type).
pub fn map_type(t: MapType) -> Result<bool, ProbeError> {
    CACHE.get_or_probe(t.0 as usize, || probe_uncached(t))
}

/// `struct bpf_cgroup_storage_key`: u64 cgroup inode id, u32 attach type, padding.
const CGROUP_STORAGE_KEY: u32 = 16;
/// `struct bpf_insn_array_value`: three u32 offsets and padding.
const INSN_ARRAY_VALUE: u32 = 16;

/// The probe of [`map_type`], without the cache.
pub(crate) fn probe_uncached(t: MapType) -> Result<bool, ProbeError> {
    let name = format!("map type {t}");
    let mut req = MapCreate {
        map_type: t,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let mut errnos = Errnos {
        yes: &[],
        no: &[EINVAL, E2BIG],
    };
    // Objects the request borrows must outlive the call.
    let btf: OwnedFd;
    let inner;
    match t {
        MapType::UNSPEC => return Ok(false),
        MapType::STACK_TRACE => req.value_size = 8,
        MapType::LPM_TRIE => {
            // u32 prefix length + 4 data bytes; tries are never preallocated.
            req.key_size = 8;
            req.value_size = 8;
            req.map_flags = MapFlags::NO_PREALLOC;
        }
        MapType::CGROUP_STORAGE | MapType::PERCPU_CGROUP_STORAGE => {
            req.key_size = CGROUP_STORAGE_KEY;
            req.value_size = 8;
            req.max_entries = 0;
        }
        MapType::QUEUE | MapType::STACK | MapType::BLOOM_FILTER => req.key_size = 0,
        MapType::RINGBUF | MapType::USER_RINGBUF => {
            req.key_size = 0;
            req.value_size = 0;
            req.max_entries = u32::try_from(page_size()).unwrap_or(4096);
        }
        MapType::ARENA => {
            req.key_size = 0;
            req.value_size = 0;
            req.map_flags = MapFlags::MMAPABLE;
        }
        MapType::SK_STORAGE
        | MapType::INODE_STORAGE
        | MapType::TASK_STORAGE
        | MapType::CGRP_STORAGE => {
            // Storage maps came after BTF; without it they cannot exist.
            if !super::has(super::Feature::Btf)? {
                return Ok(false);
            }
            btf = storage_btf(&name)?;
            req.btf_fd = Some(btf.as_fd());
            req.btf_key_type_id = 1;
            req.btf_value_type_id = 2;
            req.value_size = 8;
            req.max_entries = 0;
            req.map_flags = MapFlags::NO_PREALLOC;
        }
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => {
            inner = map_create(&MapCreate {
                map_type: MapType::ARRAY,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                ..Default::default()
            })
            .map_err(|e| setup_error(&name, e))?;
            req.inner_map_fd = Some(inner.as_fd());
        }
        MapType::STRUCT_OPS => {
            // Past the attribute checks, an id that is no struct_ops value type gives
            // ENOTSUPP: the type exists.
            req.btf_vmlinux_value_type_id = 1;
            errnos.yes = &[KERNEL_ENOTSUPP];
        }
        MapType::INSN_ARRAY => req.value_size = INSN_ARRAY_VALUE,
        _ => {}
    }
    answer(&name, map_create(&req), &errnos)
}

/// BTF for a local-storage value: `[1] int`, `[2] struct { int a; int b; }`.
fn storage_btf(probe: &str) -> Result<OwnedFd, ProbeError> {
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let member = |name: &str, bit_offset| MemberDef {
        name: name.into(),
        ty: int,
        bit_offset,
        bitfield_size: 0,
    };
    b.add(TypeDef::named(
        "val",
        TypeBody::Struct {
            size: 8,
            members: vec![member("a", 0), member("b", 32)],
        },
    ));
    load_btf(probe, &b)?.map_err(|e| setup_error(probe, e))
}

/// A memory-mappable array.
pub(crate) fn array_mmap() -> Result<bool, ProbeError> {
    let req = MapCreate {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: MapFlags::MMAPABLE,
        ..Default::default()
    };
    answer(
        "array_mmap",
        map_create(&req),
        &Errnos {
            yes: &[],
            no: &[EINVAL, E2BIG],
        },
    )
}
