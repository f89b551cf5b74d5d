//! Kernel feature probes: tiny loads through [`crate::syscall`], cached per process.
//!
//! Each probe creates the smallest object that shows whether the running kernel has a
//! feature (a two-instruction program, a one-type BTF blob, a one-entry map, a link to a
//! target that cannot exist) and reads the answer from the errno or the verifier log, the
//! way libbpf's `features.c` and `libbpf_probes.c` do. Every fd a probe opens is closed
//! before it returns.
//!
//! - [`has`] answers one [`Feature`] (spec §3's table plus link kinds, `log_true_size` and
//!   the ring buffer); [`missing_btf_features`] turns the BTF answers into the
//!   [`MissingFeatures`](crate::btf::MissingFeatures) that [`crate::btf::sanitize`] takes.
//! - [`prog_type`], [`map_type`], [`link_type`] and [`helper`] answer the general questions of
//!   `oxbpf feature`; [`system`] reads the BPF sysctls; [`all`] gathers everything into a
//!   [`Features`] report (`Display`, and [`Features::to_json`]).
//! - **Caching**: an answer is computed once per process and kept in an atomic; asking again
//!   costs a load. Errors are not cached: a probe refused with EPERM (missing privileges) is
//!   a [`ProbeError::Permission`], never "unsupported", and is probed again next time.
//! - **Testing**: [`testing::force_missing`] (or `OXBPF_FEATURES_MISSING=btf_func,...`, read
//!   once) makes [`has`] report features missing, to exercise fallbacks such as BTF
//!   sanitization on a kernel that has everything.
//!
//! Not probed: libbpf's newest `BTF_LAYOUT` (a BTF header section no released kernel takes
//! yet; [`BtfBuilder`](crate::btf::BtfBuilder) never emits one, so there is nothing to
//! sanitize away), and `LDIMM64_FULL_RANGE_OFF`, `UPROBE_SYSCALL`,
//! `BPF_SYSCALL_COMMON_ATTRS`, which nothing here needs yet.
//!
//! This module depends on `syscall`, `insn` and `btf` only; maps, programs and the loader
//! consult it, never the other way round.
//!
//! ```no_run
//! use oxbpf::features::{self, Feature};
//!
//! if !features::has(Feature::BtfDeclTag)? {
//!     println!("this kernel needs DECL_TAG sanitized away");
//! }
//! let missing = features::missing_btf_features()?;
//! # Ok::<(), oxbpf::features::ProbeError>(())
//! ```

mod btf;
mod helpers;
mod kernel;
mod link;
mod load;
mod map;
mod probe;
mod prog;
mod summary;
pub mod testing;

use std::fmt;

pub use btf::{missing_btf_features, missing_btf_features_in};
pub use helpers::{helper, helpers, HelperSupport, NOISY_HELPERS};
pub use kernel::{system, SystemSettings, SYSCALL_WRAPPER_PREFIX};
pub use link::link_type;
pub use map::map_type;
pub use probe::ProbeError;
pub use prog::prog_type;
pub use summary::{all, all_with_helpers, Features};

macro_rules! features {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// A kernel feature a probe can answer for (see [`has`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Feature {
            $( $(#[$doc])* $variant, )*
        }

        impl Feature {
            /// Every feature, in declaration order.
            pub const ALL: &'static [Feature] = &[$( Feature::$variant, )*];

            /// The snake-case name (as in `OXBPF_FEATURES_MISSING` and the JSON report).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Feature::$variant => $name, )*
                }
            }
        }
    };
}

features! {
    /// `prog_name` accepted at program load (4.15).
    ProgName = "prog_name",
    /// Global data: `ld_imm64` of a map value address (5.2).
    GlobalData = "global_data",
    /// BTF at all (4.18).
    Btf = "btf",
    /// BTF FUNC and FUNC_PROTO (5.0).
    BtfFunc = "btf_func",
    /// Global linkage of BTF FUNC (5.6).
    BtfGlobalFunc = "btf_global_func",
    /// BTF VAR and DATASEC (5.2).
    BtfDatasec = "btf_datasec",
    /// DATASEC names starting with `?` (6.9).
    BtfQmarkDatasec = "btf_qmark_datasec",
    /// BTF FLOAT (5.13).
    BtfFloat = "btf_float",
    /// BTF DECL_TAG (5.16).
    BtfDeclTag = "btf_decl_tag",
    /// BTF TYPE_TAG (5.17).
    BtfTypeTag = "btf_type_tag",
    /// BTF ENUM64 (6.0).
    BtfEnum64 = "btf_enum64",
    /// Memory-mappable arrays, `BPF_F_MMAPABLE` (5.5).
    ArrayMmap = "array_mmap",
    /// `expected_attach_type` at program load (4.17).
    ExpAttachType = "exp_attach_type",
    /// The `bpf_probe_read_kernel` helper (5.5).
    ProbeReadKern = "probe_read_kern",
    /// `BPF_PROG_BIND_MAP` (5.10).
    ProgBindMap = "prog_bind_map",
    /// Kernel module BTF: `bpf_btf_info` has `name` (5.11).
    ModuleBtf = "module_btf",
    /// Perf-event links, `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15).
    PerfLink = "perf_link",
    /// BPF memory charged to memcg, so RLIMIT_MEMLOCK need not be raised (5.11).
    MemcgAccount = "memcg_account",
    /// `bpf_get_attach_cookie` (5.15).
    BpfCookie = "bpf_cookie",
    /// The kernel's syscalls are entered through `__<arch>_sys_*` wrappers (4.17 on x86).
    SyscallWrapper = "syscall_wrapper",
    /// uprobe_multi links (6.6) with the PID-filter fix.
    UprobeMultiLink = "uprobe_multi_link",
    /// The `arg:ctx` decl tag on global subprogram arguments (6.8).
    ArgCtxTag = "arg_ctx_tag",
    /// kprobe_multi links (5.18; needs `CONFIG_FPROBE`).
    KprobeMultiLink = "kprobe_multi_link",
    /// tcx links (6.6).
    TcxLink = "tcx_link",
    /// netkit links (6.7; needs `CONFIG_NETKIT`).
    NetkitLink = "netkit_link",
    /// netfilter links (6.4).
    NetfilterLink = "netfilter_link",
    /// struct_ops links, `BPF_F_LINK` struct_ops maps (6.4).
    StructOpsLink = "struct_ops_link",
    /// `log_true_size` reported by program and BTF loads (6.4).
    LogTrueSize = "log_true_size",
    /// Ring buffer maps (5.8).
    RingBuf = "ringbuf",
    /// `ld_imm64` map-value offsets beyond 512 MiB, for globals at the end of an arena
    /// (after 6.18: 6.18 still refuses them).
    Ldimm64FullRangeOff = "ldimm64_full_range_off",
}

impl Feature {
    /// Number of features.
    pub const COUNT: usize = Feature::ALL.len();

    /// The feature with this snake-case name (case and `-`/`_` insensitive).
    pub fn from_name(name: &str) -> Option<Feature> {
        let norm = name.trim().to_ascii_lowercase().replace('-', "_");
        Feature::ALL.iter().copied().find(|f| f.name() == norm)
    }

    /// The first mainline release with the feature (`(major, minor)`), for messages ("needs
    /// Linux 6.6") and for tests; distributions backport, so the probe, not this, decides.
    pub const fn since(self) -> (u16, u16) {
        match self {
            Feature::ProgName => (4, 15),
            Feature::GlobalData => (5, 2),
            Feature::Btf => (4, 18),
            Feature::BtfFunc => (5, 0),
            Feature::BtfGlobalFunc => (5, 6),
            Feature::BtfDatasec => (5, 2),
            Feature::BtfQmarkDatasec => (6, 9),
            Feature::BtfFloat => (5, 13),
            Feature::BtfDeclTag => (5, 16),
            Feature::BtfTypeTag => (5, 17),
            Feature::BtfEnum64 => (6, 0),
            Feature::ArrayMmap => (5, 5),
            Feature::ExpAttachType => (4, 17),
            Feature::ProbeReadKern => (5, 5),
            Feature::ProgBindMap => (5, 10),
            Feature::ModuleBtf => (5, 11),
            Feature::PerfLink => (5, 15),
            Feature::MemcgAccount => (5, 11),
            Feature::BpfCookie => (5, 15),
            Feature::SyscallWrapper => (4, 17),
            Feature::UprobeMultiLink => (6, 6),
            Feature::ArgCtxTag => (6, 8),
            Feature::KprobeMultiLink => (5, 18),
            Feature::TcxLink => (6, 6),
            Feature::NetkitLink => (6, 7),
            Feature::NetfilterLink => (6, 4),
            Feature::StructOpsLink => (6, 4),
            Feature::LogTrueSize => (6, 4),
            Feature::RingBuf => (5, 8),
            Feature::Ldimm64FullRangeOff => (6, 19),
        }
    }

    /// The kernel configuration option the feature also needs, when it can be compiled out.
    pub const fn config(self) -> Option<&'static str> {
        match self {
            Feature::KprobeMultiLink => Some("CONFIG_FPROBE"),
            Feature::NetkitLink => Some("CONFIG_NETKIT"),
            Feature::NetfilterLink => Some("CONFIG_NETFILTER_BPF_LINK"),
            Feature::UprobeMultiLink => Some("CONFIG_UPROBES"),
            _ => None,
        }
    }

    /// Whether this is a BTF kind or encoding (what [`missing_btf_features`] reads).
    pub const fn is_btf(self) -> bool {
        matches!(
            self,
            Feature::Btf
                | Feature::BtfFunc
                | Feature::BtfGlobalFunc
                | Feature::BtfDatasec
                | Feature::BtfQmarkDatasec
                | Feature::BtfFloat
                | Feature::BtfDeclTag
                | Feature::BtfTypeTag
                | Feature::BtfEnum64
        )
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static CACHE: probe::Cache<{ Feature::COUNT }> = probe::Cache::new();

// The forced-missing switch keeps one bit per feature in a u64.
const _: () = assert!(Feature::COUNT <= 64);

/// Whether the running kernel has `feature`: probed once per process, then cached. A
/// feature forced missing with [`testing`] answers `false` without probing.
///
/// Errors (EPERM, an errno the probe cannot interpret) are returned, not cached.
pub fn has(feature: Feature) -> Result<bool, ProbeError> {
    if testing::is_forced_missing(feature) {
        return Ok(false);
    }
    CACHE.get_or_probe(feature as usize, || probe_feature(feature))
}

/// Runs the probe of `feature`, bypassing the cache and the forced-missing switch.
pub fn probe_uncached(feature: Feature) -> Result<bool, ProbeError> {
    probe_feature(feature)
}

fn probe_feature(feature: Feature) -> Result<bool, ProbeError> {
    use crate::syscall::MapType;
    match feature {
        Feature::ProgName => load::prog_name(),
        Feature::GlobalData => load::global_data(),
        Feature::Btf => btf::btf(),
        Feature::BtfFunc => btf::func(false),
        Feature::BtfGlobalFunc => btf::func(true),
        Feature::BtfDatasec => btf::datasec(".data"),
        Feature::BtfQmarkDatasec => btf::datasec("?.data"),
        Feature::BtfFloat => btf::float(),
        Feature::BtfDeclTag => btf::decl_tag(),
        Feature::BtfTypeTag => btf::type_tag(),
        Feature::BtfEnum64 => btf::enum64(),
        Feature::ArrayMmap => map::array_mmap(),
        Feature::ExpAttachType => load::exp_attach_type(),
        Feature::ProbeReadKern => load::probe_read_kernel(),
        Feature::ProgBindMap => load::prog_bind_map(),
        Feature::ModuleBtf => btf::module_btf(),
        Feature::PerfLink => link::perf_link(),
        Feature::MemcgAccount => load::memcg_account(),
        Feature::BpfCookie => load::bpf_cookie(),
        Feature::SyscallWrapper => kernel::syscall_wrapper(),
        Feature::UprobeMultiLink => link::uprobe_multi(),
        Feature::ArgCtxTag => load::arg_ctx_tag(),
        Feature::KprobeMultiLink => link::kprobe_multi(),
        Feature::TcxLink => link::tcx(),
        Feature::NetkitLink => link::netkit(),
        Feature::NetfilterLink => link::netfilter(),
        Feature::StructOpsLink => link::struct_ops(),
        Feature::LogTrueSize => load::log_true_size(),
        Feature::RingBuf => map_type(MapType::RINGBUF),
        Feature::Ldimm64FullRangeOff => load::ldimm64_full_range_off(),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(Feature::from_name(f.name()), Some(*f));
            assert_eq!(Feature::ALL[*f as usize], *f);
        }
        assert_eq!(Feature::from_name("BTF-Func"), Some(Feature::BtfFunc));
        assert_eq!(Feature::from_name("nope"), None);
    }
}
