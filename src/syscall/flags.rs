//! Flag sets of the `bpf(2)` attributes, as [`bitflags`] types.
//!
//! Every type keeps unknown bits (`from_bits_retain`), so flags of a newer kernel pass through.

use bitflags::bitflags;

bitflags! {
    /// `map_flags` of `BPF_MAP_CREATE` (also reported by `bpf_map_info.map_flags`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// `BPF_F_NO_PREALLOC`: allocate hash elements on demand.
        const NO_PREALLOC = 1 << 0;
        /// `BPF_F_NO_COMMON_LRU`: one LRU list per CPU.
        const NO_COMMON_LRU = 1 << 1;
        /// `BPF_F_NUMA_NODE`: honour `numa_node`.
        const NUMA_NODE = 1 << 2;
        /// `BPF_F_RDONLY`: read-only for user space.
        const RDONLY = 1 << 3;
        /// `BPF_F_WRONLY`: write-only for user space.
        const WRONLY = 1 << 4;
        /// `BPF_F_STACK_BUILD_ID`: stack traces hold build ids.
        const STACK_BUILD_ID = 1 << 5;
        /// `BPF_F_ZERO_SEED`: zero hash seed (tests only).
        const ZERO_SEED = 1 << 6;
        /// `BPF_F_RDONLY_PROG`: read-only for programs.
        const RDONLY_PROG = 1 << 7;
        /// `BPF_F_WRONLY_PROG`: write-only for programs.
        const WRONLY_PROG = 1 << 8;
        /// `BPF_F_CLONE`: clone sk storage on accept.
        const CLONE = 1 << 9;
        /// `BPF_F_MMAPABLE`: the array can be mmap'ed.
        const MMAPABLE = 1 << 10;
        /// `BPF_F_PRESERVE_ELEMS`: keep perf event array entries when the fd closes.
        const PRESERVE_ELEMS = 1 << 11;
        /// `BPF_F_INNER_MAP`: inner map template of a map-in-map (size may vary).
        const INNER_MAP = 1 << 12;
        /// `BPF_F_LINK`: struct_ops map usable with a link.
        const LINK = 1 << 13;
        /// `BPF_F_PATH_FD` (also an `OBJ_PIN`/`OBJ_GET` file flag).
        const PATH_FD = 1 << 14;
        /// `BPF_F_VTYPE_BTF_OBJ_FD`: `value_type_btf_obj_fd` is set.
        const VTYPE_BTF_OBJ_FD = 1 << 15;
        /// `BPF_F_TOKEN_FD`: a BPF token fd is passed.
        const TOKEN_FD = 1 << 16;
        /// `BPF_F_SEGV_ON_FAULT`: arena faults raise SIGSEGV in user space.
        const SEGV_ON_FAULT = 1 << 17;
        /// `BPF_F_NO_USER_CONV`: arena pointers are not converted to user addresses.
        const NO_USER_CONV = 1 << 18;
        /// `BPF_F_RB_OVERWRITE`: ring buffer overwrites the oldest records (after 6.18).
        const RB_OVERWRITE = 1 << 19;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `flags` of the element commands (`BPF_MAP_{LOOKUP,UPDATE}_ELEM`, batch `elem_flags`).
    ///
    /// The empty set is `BPF_ANY`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ElemFlags: u64 {
        /// `BPF_NOEXIST`: create only.
        const NOEXIST = 1;
        /// `BPF_EXIST`: update only.
        const EXIST = 2;
        /// `BPF_F_LOCK`: take the value's `bpf_spin_lock`.
        const LOCK = 4;
        /// `BPF_F_CPU`: per-CPU maps: one CPU's value, the CPU number in the upper 32 bits
        /// (see [`ElemFlags::cpu`]; after 6.18).
        const CPU = 8;
        /// `BPF_F_ALL_CPUS`: per-CPU maps: write one value to every CPU (after 6.18).
        const ALL_CPUS = 16;
        /// Bits this crate does not know (and the CPU number of [`ElemFlags::CPU`]).
        const _ = !0;
    }
}

impl ElemFlags {
    /// `BPF_ANY`: create or update.
    pub const ANY: ElemFlags = ElemFlags::empty();

    /// `BPF_F_CPU` for CPU `cpu`: the value buffer holds that one CPU's value.
    pub const fn cpu(cpu: u32) -> ElemFlags {
        ElemFlags::from_bits_retain(ElemFlags::CPU.bits() | ((cpu as u64) << 32))
    }
}

bitflags! {
    /// `prog_flags` of `BPF_PROG_LOAD`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ProgFlags: u32 {
        /// `BPF_F_STRICT_ALIGNMENT`.
        const STRICT_ALIGNMENT = 1 << 0;
        /// `BPF_F_ANY_ALIGNMENT`.
        const ANY_ALIGNMENT = 1 << 1;
        /// `BPF_F_TEST_RND_HI32`.
        const TEST_RND_HI32 = 1 << 2;
        /// `BPF_F_TEST_STATE_FREQ`.
        const TEST_STATE_FREQ = 1 << 3;
        /// `BPF_F_SLEEPABLE`.
        const SLEEPABLE = 1 << 4;
        /// `BPF_F_XDP_HAS_FRAGS`.
        const XDP_HAS_FRAGS = 1 << 5;
        /// `BPF_F_XDP_DEV_BOUND_ONLY`.
        const XDP_DEV_BOUND_ONLY = 1 << 6;
        /// `BPF_F_TEST_REG_INVARIANTS`.
        const TEST_REG_INVARIANTS = 1 << 7;
        /// `BPF_F_TOKEN_FD`: a BPF token fd is passed.
        const TOKEN_FD = 1 << 16;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `log_level` of `BPF_PROG_LOAD` and `BPF_BTF_LOAD`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct LogLevel: u32 {
        /// Level 1: the verifier's messages on the failing path.
        const LEVEL1 = 1;
        /// Level 2: every instruction the verifier walks.
        const LEVEL2 = 2;
        /// `BPF_LOG_STATS`: verification statistics.
        const STATS = 4;
        /// `BPF_LOG_FIXED` (6.4): old "keep the tail" log truncation instead of rotating.
        const FIXED = 8;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `file_flags` of `BPF_OBJ_GET`/`BPF_OBJ_PIN`, `open_flags` of `BPF_*_GET_FD_BY_ID`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct FileFlags: u32 {
        /// `BPF_F_RDONLY`.
        const RDONLY = 1 << 3;
        /// `BPF_F_WRONLY`.
        const WRONLY = 1 << 4;
        /// `BPF_F_PATH_FD`: `path_fd` is set (6.5).
        const PATH_FD = 1 << 14;
        /// `BPF_F_TOKEN_FD`: a BPF token fd is passed.
        const TOKEN_FD = 1 << 16;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `attach_flags` of `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` (and link `flags` of mprog links).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AttachFlags: u32 {
        /// `BPF_F_ALLOW_OVERRIDE`.
        const ALLOW_OVERRIDE = 1 << 0;
        /// `BPF_F_ALLOW_MULTI`.
        const ALLOW_MULTI = 1 << 1;
        /// `BPF_F_REPLACE`: replace `replace_bpf_fd`.
        const REPLACE = 1 << 2;
        /// `BPF_F_BEFORE`: insert before the relative program/link.
        const BEFORE = 1 << 3;
        /// `BPF_F_AFTER`: insert after the relative program/link.
        const AFTER = 1 << 4;
        /// `BPF_F_ID`: the relative object is given by id, not fd.
        const ID = 1 << 5;
        /// `BPF_F_PREORDER`: run before the parent cgroup's programs.
        const PREORDER = 1 << 6;
        /// `BPF_F_LINK`: the relative object is a link.
        const LINK = 1 << 13;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `flags` of `BPF_PROG_TEST_RUN`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TestRunFlags: u32 {
        /// `BPF_F_TEST_RUN_ON_CPU`: run on `cpu`.
        const RUN_ON_CPU = 1 << 0;
        /// `BPF_F_TEST_XDP_LIVE_FRAMES`: transmit XDP frames.
        const XDP_LIVE_FRAMES = 1 << 1;
        /// `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`.
        const SKB_CHECKSUM_COMPLETE = 1 << 2;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `query_flags` of `BPF_PROG_QUERY`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct QueryFlags: u32 {
        /// `BPF_F_QUERY_EFFECTIVE`: include programs inherited from ancestor cgroups.
        const EFFECTIVE = 1 << 0;
        /// Bits this crate does not know.
        const _ = !0;
    }
}

bitflags! {
    /// `flags` of `BPF_BTF_LOAD`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct BtfFlags: u32 {
        /// `BPF_F_TOKEN_FD`: a BPF token fd is passed.
        const TOKEN_FD = 1 << 16;
        /// Bits this crate does not know.
        const _ = !0;
    }
}
