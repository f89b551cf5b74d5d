//! Helper probes (libbpf's `libbpf_probe_bpf_helper` technique): load `call helper; exit`
//! as a program of the type and read the verifier's complaint.
//!
//! The verifier looks the helper up before anything else about the call: an id it does
//! not know gives "invalid func", a helper the program type may not call gives "program of
//! this type cannot use helper" ("unknown func" before 5.x). Any other complaint (bad
//! arguments, a sleepable helper in a non-sleepable program, a return value out of range)
//! comes after the lookup, so the helper is available.

use std::collections::HashMap;
use std::sync::Mutex;

use super::probe::{permission, unexpected, ProbeError};
use super::prog::{load_as, prog_type, spec};
use crate::insn::{asm, HELPER_COUNT};
use crate::syscall::ProgType;

/// Whether a program type may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelperSupport {
    /// The program type may call it.
    Available,
    /// The kernel has the helper, but not for this program type.
    NotForProgType,
    /// The kernel does not know this helper id.
    UnknownHelper,
}

/// Helpers whose mere verification writes to the kernel log (`bpf_trace_printk`,
/// `bpf_probe_write_user`, `bpf_trace_vprintk` print a warning banner), skipped by
/// [`helpers`] as bpftool does; [`helper`] still probes them when asked.
pub const NOISY_HELPERS: [i32; 3] = [6, 36, 177];

static CACHE: Mutex<Option<HashMap<(u32, i32), HelperSupport>>> = Mutex::new(None);

/// Whether programs of type `prog` may call helper `id` (probed once per pair).
///
/// Inconclusive for program types this kernel does not load, and for those whose probe
/// would need a target program or struct_ops type (EXT, STRUCT_OPS).
pub fn helper(prog: ProgType, id: i32) -> Result<HelperSupport, ProbeError> {
    let key = (prog.0, id);
    if let Some(hit) = CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(&key).copied()))
    {
        return Ok(hit);
    }
    let answer = probe(prog, id)?;
    if let Ok(mut c) = CACHE.lock() {
        c.get_or_insert_with(HashMap::new).insert(key, answer);
    }
    Ok(answer)
}

/// The helper ids programs of type `prog` may call, in id order ([`NOISY_HELPERS`] and id
/// 0 skipped).
pub fn helpers(prog: ProgType) -> Result<Vec<i32>, ProbeError> {
    let mut out = Vec::new();
    for id in 1..HELPER_COUNT as i32 {
        if NOISY_HELPERS.contains(&id) {
            continue;
        }
        if helper(prog, id)? == HelperSupport::Available {
            out.push(id);
        }
    }
    Ok(out)
}

fn inconclusive(probe: &str, reason: impl Into<String>) -> ProbeError {
    ProbeError::Inconclusive {
        probe: probe.to_string(),
        reason: reason.into(),
    }
}

fn probe(prog: ProgType, id: i32) -> Result<HelperSupport, ProbeError> {
    let name = format!("helper {id} for {prog}");
    if matches!(
        prog,
        ProgType::EXT | ProgType::STRUCT_OPS | ProgType::UNSPEC
    ) {
        return Err(inconclusive(
            &name,
            "this program type needs a target program or struct_ops type to load",
        ));
    }
    if !prog_type(prog)? {
        return Err(inconclusive(
            &name,
            "the program type does not load on this kernel",
        ));
    }
    let Some(spec) = spec(prog, true) else {
        return Err(inconclusive(&name, "no attach target in vmlinux BTF"));
    };
    let insns = [asm::call_helper(id), asm::exit()];
    let loaded = load_as(&spec, &insns);
    let log = &loaded.log;
    match loaded.result {
        Ok(_) => Ok(HelperSupport::Available),
        Err(e) if e.errno == nix::errno::Errno::EPERM => Err(permission(&name, e)),
        Err(_) if log.contains("invalid func ") => Ok(HelperSupport::UnknownHelper),
        Err(_)
            if log.contains("program of this type cannot use helper")
                || log.contains("unknown func ") =>
        {
            Ok(HelperSupport::NotForProgType)
        }
        Err(_) if !log.is_empty() => Ok(HelperSupport::Available),
        Err(e) => Err(unexpected(&name, e, log)),
    }
}
