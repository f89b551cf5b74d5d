//! The kernel's uapi enumerations (`enum bpf_cmd`, `bpf_map_type`, `bpf_prog_type`,
//! `bpf_attach_type`, `bpf_link_type`, `bpf_stats_type`) as newtypes over `u32`.
//!
//! Newtypes rather than Rust enums so that a value this crate does not know (a newer kernel's,
//! or one read back from `bpf_*_info`) survives a round trip. Each type has one associated
//! constant per uapi value, [`name`](Command::name) (the uapi spelling), `short_name` (without
//! the prefix) and `ALL` (every known value, for feature probes).

macro_rules! uapi_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $prefix:literal {
            $( $konst:ident = $val:literal, )*
        }
        $( aliases { $( $alias:ident = $target:ident, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(transparent)]
        pub struct $name(pub u32);

        impl $name {
            $(
                #[doc = concat!("`", $prefix, stringify!($konst), "` (", stringify!($val), ").")]
                pub const $konst: $name = $name($val);
            )*
            $( $(
                #[doc = concat!("`", $prefix, stringify!($alias), "`: the same value as [`Self::",
                    stringify!($target), "`].")]
                pub const $alias: $name = $name::$target;
            )* )?

            /// Every value this crate knows, in numeric order.
            pub const ALL: &'static [$name] = &[$( $name::$konst, )*];

            /// The uapi spelling (e.g. `BPF_MAP_TYPE_HASH`), or `None` for an unknown value.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(concat!($prefix, stringify!($konst))), )*
                    _ => None,
                }
            }

            /// The name without its uapi prefix (e.g. `HASH`), or `None` for an unknown value.
            pub const fn short_name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// Looks a value up by its name, with or without the uapi prefix, in any case.
            pub fn from_name(name: &str) -> Option<$name> {
                let upper = name.to_ascii_uppercase();
                let short = upper.strip_prefix($prefix).unwrap_or(&upper);
                $name::ALL.iter().copied().find(|v| v.short_name() == Some(short))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, concat!($prefix, "{}"), self.0),
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(self, f)
            }
        }

        impl From<u32> for $name {
            fn from(v: u32) -> $name {
                $name(v)
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v.0
            }
        }
    };
}

uapi_enum! {
    /// A `bpf(2)` command (`enum bpf_cmd`). Displays as its uapi name, e.g. `BPF_MAP_CREATE`.
    Command, "BPF_" {
        MAP_CREATE = 0,
        MAP_LOOKUP_ELEM = 1,
        MAP_UPDATE_ELEM = 2,
        MAP_DELETE_ELEM = 3,
        MAP_GET_NEXT_KEY = 4,
        PROG_LOAD = 5,
        OBJ_PIN = 6,
        OBJ_GET = 7,
        PROG_ATTACH = 8,
        PROG_DETACH = 9,
        PROG_TEST_RUN = 10,
        PROG_GET_NEXT_ID = 11,
        MAP_GET_NEXT_ID = 12,
        PROG_GET_FD_BY_ID = 13,
        MAP_GET_FD_BY_ID = 14,
        OBJ_GET_INFO_BY_FD = 15,
        PROG_QUERY = 16,
        RAW_TRACEPOINT_OPEN = 17,
        BTF_LOAD = 18,
        BTF_GET_FD_BY_ID = 19,
        TASK_FD_QUERY = 20,
        MAP_LOOKUP_AND_DELETE_ELEM = 21,
        MAP_FREEZE = 22,
        BTF_GET_NEXT_ID = 23,
        MAP_LOOKUP_BATCH = 24,
        MAP_LOOKUP_AND_DELETE_BATCH = 25,
        MAP_UPDATE_BATCH = 26,
        MAP_DELETE_BATCH = 27,
        LINK_CREATE = 28,
        LINK_UPDATE = 29,
        LINK_GET_FD_BY_ID = 30,
        LINK_GET_NEXT_ID = 31,
        ENABLE_STATS = 32,
        ITER_CREATE = 33,
        LINK_DETACH = 34,
        PROG_BIND_MAP = 35,
        TOKEN_CREATE = 36,
        PROG_STREAM_READ_BY_FD = 37,
        PROG_ASSOC_STRUCT_OPS = 38,
    }
    aliases {
        PROG_RUN = PROG_TEST_RUN,
    }
}

uapi_enum! {
    /// A map type (`enum bpf_map_type`).
    MapType, "BPF_MAP_TYPE_" {
        UNSPEC = 0,
        HASH = 1,
        ARRAY = 2,
        PROG_ARRAY = 3,
        PERF_EVENT_ARRAY = 4,
        PERCPU_HASH = 5,
        PERCPU_ARRAY = 6,
        STACK_TRACE = 7,
        CGROUP_ARRAY = 8,
        LRU_HASH = 9,
        LRU_PERCPU_HASH = 10,
        LPM_TRIE = 11,
        ARRAY_OF_MAPS = 12,
        HASH_OF_MAPS = 13,
        DEVMAP = 14,
        SOCKMAP = 15,
        CPUMAP = 16,
        XSKMAP = 17,
        SOCKHASH = 18,
        CGROUP_STORAGE = 19,
        REUSEPORT_SOCKARRAY = 20,
        PERCPU_CGROUP_STORAGE = 21,
        QUEUE = 22,
        STACK = 23,
        SK_STORAGE = 24,
        DEVMAP_HASH = 25,
        STRUCT_OPS = 26,
        RINGBUF = 27,
        INODE_STORAGE = 28,
        TASK_STORAGE = 29,
        BLOOM_FILTER = 30,
        USER_RINGBUF = 31,
        CGRP_STORAGE = 32,
        ARENA = 33,
        INSN_ARRAY = 34,
    }
    aliases {
        CGROUP_STORAGE_DEPRECATED = CGROUP_STORAGE,
        PERCPU_CGROUP_STORAGE_DEPRECATED = PERCPU_CGROUP_STORAGE,
    }
}

impl MapType {
    /// Whether a user-space lookup/update of this map type moves one value per possible CPU
    /// (each rounded up to 8 bytes).
    pub const fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PERCPU_HASH
                | MapType::PERCPU_ARRAY
                | MapType::LRU_PERCPU_HASH
                | MapType::PERCPU_CGROUP_STORAGE
        )
    }

    /// Whether user space writes file descriptors into (and reads ids back from) this map's
    /// 4-byte values: program arrays, perf event arrays, cgroup arrays and maps of maps.
    pub const fn holds_fds(self) -> bool {
        matches!(
            self,
            MapType::PROG_ARRAY
                | MapType::PERF_EVENT_ARRAY
                | MapType::CGROUP_ARRAY
                | MapType::ARRAY_OF_MAPS
                | MapType::HASH_OF_MAPS
        )
    }
}

uapi_enum! {
    /// A program type (`enum bpf_prog_type`).
    ProgType, "BPF_PROG_TYPE_" {
        UNSPEC = 0,
        SOCKET_FILTER = 1,
        KPROBE = 2,
        SCHED_CLS = 3,
        SCHED_ACT = 4,
        TRACEPOINT = 5,
        XDP = 6,
        PERF_EVENT = 7,
        CGROUP_SKB = 8,
        CGROUP_SOCK = 9,
        LWT_IN = 10,
        LWT_OUT = 11,
        LWT_XMIT = 12,
        SOCK_OPS = 13,
        SK_SKB = 14,
        CGROUP_DEVICE = 15,
        SK_MSG = 16,
        RAW_TRACEPOINT = 17,
        CGROUP_SOCK_ADDR = 18,
        LWT_SEG6LOCAL = 19,
        LIRC_MODE2 = 20,
        SK_REUSEPORT = 21,
        FLOW_DISSECTOR = 22,
        CGROUP_SYSCTL = 23,
        RAW_TRACEPOINT_WRITABLE = 24,
        CGROUP_SOCKOPT = 25,
        TRACING = 26,
        STRUCT_OPS = 27,
        EXT = 28,
        LSM = 29,
        SK_LOOKUP = 30,
        SYSCALL = 31,
        NETFILTER = 32,
    }
}

uapi_enum! {
    /// An attach type (`enum bpf_attach_type`): `expected_attach_type` at load, and the hook
    /// for PROG_ATTACH and LINK_CREATE.
    AttachType, "BPF_" {
        CGROUP_INET_INGRESS = 0,
        CGROUP_INET_EGRESS = 1,
        CGROUP_INET_SOCK_CREATE = 2,
        CGROUP_SOCK_OPS = 3,
        SK_SKB_STREAM_PARSER = 4,
        SK_SKB_STREAM_VERDICT = 5,
        CGROUP_DEVICE = 6,
        SK_MSG_VERDICT = 7,
        CGROUP_INET4_BIND = 8,
        CGROUP_INET6_BIND = 9,
        CGROUP_INET4_CONNECT = 10,
        CGROUP_INET6_CONNECT = 11,
        CGROUP_INET4_POST_BIND = 12,
        CGROUP_INET6_POST_BIND = 13,
        CGROUP_UDP4_SENDMSG = 14,
        CGROUP_UDP6_SENDMSG = 15,
        LIRC_MODE2 = 16,
        FLOW_DISSECTOR = 17,
        CGROUP_SYSCTL = 18,
        CGROUP_UDP4_RECVMSG = 19,
        CGROUP_UDP6_RECVMSG = 20,
        CGROUP_GETSOCKOPT = 21,
        CGROUP_SETSOCKOPT = 22,
        TRACE_RAW_TP = 23,
        TRACE_FENTRY = 24,
        TRACE_FEXIT = 25,
        MODIFY_RETURN = 26,
        LSM_MAC = 27,
        TRACE_ITER = 28,
        CGROUP_INET4_GETPEERNAME = 29,
        CGROUP_INET6_GETPEERNAME = 30,
        CGROUP_INET4_GETSOCKNAME = 31,
        CGROUP_INET6_GETSOCKNAME = 32,
        XDP_DEVMAP = 33,
        CGROUP_INET_SOCK_RELEASE = 34,
        XDP_CPUMAP = 35,
        SK_LOOKUP = 36,
        XDP = 37,
        SK_SKB_VERDICT = 38,
        SK_REUSEPORT_SELECT = 39,
        SK_REUSEPORT_SELECT_OR_MIGRATE = 40,
        PERF_EVENT = 41,
        TRACE_KPROBE_MULTI = 42,
        LSM_CGROUP = 43,
        STRUCT_OPS = 44,
        NETFILTER = 45,
        TCX_INGRESS = 46,
        TCX_EGRESS = 47,
        TRACE_UPROBE_MULTI = 48,
        CGROUP_UNIX_CONNECT = 49,
        CGROUP_UNIX_SENDMSG = 50,
        CGROUP_UNIX_RECVMSG = 51,
        CGROUP_UNIX_GETPEERNAME = 52,
        CGROUP_UNIX_GETSOCKNAME = 53,
        NETKIT_PRIMARY = 54,
        NETKIT_PEER = 55,
        TRACE_KPROBE_SESSION = 56,
        TRACE_UPROBE_SESSION = 57,
        TRACE_FSESSION = 58,
    }
}

uapi_enum! {
    /// A link type (`enum bpf_link_type`), as reported by `bpf_link_info.type`.
    LinkType, "BPF_LINK_TYPE_" {
        UNSPEC = 0,
        RAW_TRACEPOINT = 1,
        TRACING = 2,
        CGROUP = 3,
        ITER = 4,
        NETNS = 5,
        XDP = 6,
        PERF_EVENT = 7,
        KPROBE_MULTI = 8,
        STRUCT_OPS = 9,
        NETFILTER = 10,
        TCX = 11,
        UPROBE_MULTI = 12,
        NETKIT = 13,
        SOCKMAP = 14,
    }
}

uapi_enum! {
    /// A statistics kind for `BPF_ENABLE_STATS` (`enum bpf_stats_type`).
    StatsType, "BPF_STATS_" {
        RUN_TIME = 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(Command::MAP_CREATE.to_string(), "BPF_MAP_CREATE");
        assert_eq!(Command::PROG_RUN, Command::PROG_TEST_RUN);
        assert_eq!(Command(999).to_string(), "BPF_999");
        assert_eq!(MapType::from_name("hash"), Some(MapType::HASH));
        assert_eq!(
            MapType::from_name("BPF_MAP_TYPE_ARENA"),
            Some(MapType::ARENA)
        );
        assert_eq!(ProgType::from_name("nope"), None);
        assert_eq!(AttachType::TRACE_UPROBE_SESSION.0, 57);
        assert_eq!(LinkType::SOCKMAP.short_name(), Some("SOCKMAP"));
        assert_eq!(format!("{:?}", ProgType::XDP), "BPF_PROG_TYPE_XDP");
    }

    #[test]
    fn all_lists_are_dense_and_ordered() {
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(c.0 as usize, i);
        }
        for (i, c) in MapType::ALL.iter().enumerate() {
            assert_eq!(c.0 as usize, i);
        }
        for (i, c) in ProgType::ALL.iter().enumerate() {
            assert_eq!(c.0 as usize, i);
        }
        for (i, c) in AttachType::ALL.iter().enumerate() {
            assert_eq!(c.0 as usize, i);
        }
        for (i, c) in LinkType::ALL.iter().enumerate() {
            assert_eq!(c.0 as usize, i);
        }
    }

    #[test]
    fn per_cpu_and_fd_maps() {
        assert!(MapType::PERCPU_ARRAY.is_per_cpu());
        assert!(!MapType::ARRAY.is_per_cpu());
        assert!(MapType::HASH_OF_MAPS.holds_fds());
        assert!(!MapType::HASH.holds_fds());
    }
}
