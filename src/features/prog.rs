//! Program-type probes: load `r0 = 0; exit` as each type.
//!
//! The kernel refuses an unknown program type with EINVAL before the verifier runs, so the
//! log stays empty. A known type either loads or fails inside the verifier, which writes
//! why (a tracing program without an attach target, a struct_ops program naming no
//! struct_ops member): a non-empty log proves the type exists. Each type gets the load
//! attributes its pre-verifier checks insist on (an expected attach type, sleepable for
//! SYSCALL, `kern_version` for old kprobe kernels).

use super::kernel::{version_code, vmlinux};
use super::probe::{classify, load_logged, Cache, Errnos, Loaded, ProbeError, E2BIG, EINVAL};
use super::probe::{trivial, LICENSE};
use crate::btf::BtfKind;
use crate::insn::Insn;
use crate::syscall::{AttachType, ProgFlags, ProgLoad, ProgType};

static CACHE: Cache<64> = Cache::new();

/// Whether programs of type `t` load on this kernel (probed once per type).
pub fn prog_type(t: ProgType) -> Result<bool, ProbeError> {
    CACHE.get_or_probe(t.0 as usize, || prog_type_uncached(t))
}

/// Load attributes a minimal program of a type needs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spec {
    pub prog_type: ProgType,
    pub expected_attach_type: AttachType,
    pub attach_btf_id: u32,
    pub flags: ProgFlags,
}

/// Raw tracepoints one of which every kernel with BTF has, as `btf_trace_<name>` typedefs.
const RAW_TP_TARGETS: [&str; 3] = [
    "btf_trace_sys_enter",
    "btf_trace_sched_switch",
    "btf_trace_task_newtask",
];

/// The attributes for `t`. With `need_target`, a TRACING program gets a real attach target
/// (a `tp_btf` raw tracepoint from vmlinux BTF), so that it passes the verifier's attach
/// checks; `None` if none can be found.
pub(crate) fn spec(t: ProgType, need_target: bool) -> Option<Spec> {
    let mut s = Spec {
        prog_type: t,
        ..Default::default()
    };
    match t {
        ProgType::CGROUP_SOCK => s.expected_attach_type = AttachType::CGROUP_INET_SOCK_CREATE,
        ProgType::CGROUP_SOCK_ADDR => s.expected_attach_type = AttachType::CGROUP_INET4_CONNECT,
        ProgType::CGROUP_SOCKOPT => s.expected_attach_type = AttachType::CGROUP_GETSOCKOPT,
        ProgType::SK_LOOKUP => s.expected_attach_type = AttachType::SK_LOOKUP,
        ProgType::NETFILTER => s.expected_attach_type = AttachType::NETFILTER,
        ProgType::LSM => {
            s.expected_attach_type = AttachType::LSM_MAC;
            if need_target {
                s.attach_btf_id = vmlinux()?.id_by_name_kind("bpf_lsm_file_open", BtfKind::Func)?;
            }
        }
        ProgType::SYSCALL => s.flags = ProgFlags::SLEEPABLE,
        ProgType::TRACING => {
            s.expected_attach_type = AttachType::TRACE_RAW_TP;
            if need_target {
                let btf = vmlinux()?;
                s.attach_btf_id = RAW_TP_TARGETS
                    .iter()
                    .find_map(|name| btf.id_by_name_kind(name, BtfKind::Typedef))?;
            }
        }
        _ => {}
    }
    Some(s)
}

/// Loads `insns` with the attributes of `spec`, with a level-1 log.
pub(crate) fn load_as(spec: &Spec, insns: &[Insn]) -> Loaded {
    load_logged(ProgLoad {
        prog_type: spec.prog_type,
        insns,
        license: LICENSE,
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        prog_flags: spec.flags,
        kern_version: version_code(),
        ..Default::default()
    })
}

/// The probe of [`prog_type`], without the cache.
pub(crate) fn prog_type_uncached(t: ProgType) -> Result<bool, ProbeError> {
    let name = format!("prog type {t}");
    if t == ProgType::UNSPEC {
        return Ok(false);
    }
    let spec = spec(t, false).unwrap_or_default();
    let insns = trivial();
    let loaded = load_as(&spec, &insns);
    match loaded.result {
        Ok(_) => Ok(true),
        // The verifier ran: the type exists (the probe program just is not a valid one).
        Err(e) if !loaded.log.is_empty() && e.errno != nix::errno::Errno::EPERM => Ok(true),
        Err(e) => classify(
            &name,
            e,
            &Errnos {
                yes: &[],
                no: &[EINVAL, E2BIG],
            },
            &loaded.log,
        ),
    }
}
