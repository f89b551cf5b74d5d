//! Loading relocated programs: type, expected attach type, flags and BTF attach target from
//! the section, func_info/line_info, map fds, and the verifier log only when it is needed
//! (first load without one; on failure again with a buffer grown until the whole log fits).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{LoadError, ProgramLoadError};
use super::verifier_log::{self, SourceLine};
use crate::btf::{Btf, BtfKind};
use crate::features::{self, Feature};
use crate::object::{Object, Program, SecFlags};
use crate::relocate::core::annotate_verifier_log;
use crate::relocate::{MapRefKind, MapSlot, RelocatedProgram};
use crate::syscall::{
    self, AttachType, ExtInfo, FuncInfoRec, LineInfoRec, LogLevel, ProgFlags, ProgLoad, ProgType,
    SyscallError,
};

/// Where the verifier log starts; it grows to what the kernel says it needs.
const LOG_START: usize = 64 * 1024;
/// The largest log buffer the kernel accepts (`UINT_MAX >> 2`).
const LOG_MAX: usize = (u32::MAX >> 2) as usize;

/// How to load.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadSettings {
    /// Log level of the reload after a failure (and of the first load if not zero).
    pub log_level: LogLevel,
    /// Also ask for verifier statistics on success.
    pub stats: bool,
}

/// What one successful load produced besides the fd.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Wall time of the `BPF_PROG_LOAD` call(s).
    pub load_time: Duration,
    /// "processed N insns", when statistics were asked for.
    pub verified_insns: Option<u32>,
    /// The instructions handed to the kernel.
    pub insn_count: usize,
    /// The verifier log of a load made with a log level.
    pub log: Option<String>,
}

/// The kernel object an attach target was found in.
#[derive(Debug)]
pub(crate) struct AttachTarget {
    pub btf_id: u32,
    pub obj_fd: Option<OwnedFd>,
}

/// Resolves the BTF attach target of a program whose section needs one (fentry, tp_btf, lsm,
/// iter...): the kernel type's name is the section's target with a prefix per attach type.
pub(crate) fn attach_target(
    prog: &Program,
    attach: Option<AttachType>,
    vmlinux: Option<&Arc<Btf>>,
) -> Result<Option<AttachTarget>, LoadError> {
    let err = |target: &str, why: String| LoadError::AttachTarget {
        program: prog.name().to_string(),
        target: target.to_string(),
        why,
    };
    if prog.prog_type() == ProgType::EXT {
        // Only reached without Loader::replace_target.
        return Err(err(
            prog.attach_target().unwrap_or_default(),
            "a freplace program replaces a function of another loaded program: name it with \
             Loader::replace_target(program, target_fd, function)"
                .into(),
        ));
    }
    if !prog.flags().contains(SecFlags::ATTACH_BTF) {
        return Ok(None);
    }
    let Some(target) = prog.attach_target().filter(|t| !t.is_empty()) else {
        return Err(err(
            "",
            format!(
                "section `{}` names no target (write SEC(\"{}/<function>\"))",
                prog.section_name(),
                prog.section_name().trim_start_matches('?')
            ),
        ));
    };
    // `module:function` names a module's function.
    let (module, name) = match target.split_once(':') {
        Some((m, n)) => (Some(m), n),
        None => (None, target),
    };
    let (prefix, kind) = match attach {
        Some(AttachType::TRACE_RAW_TP) => ("btf_trace_", BtfKind::Typedef),
        Some(AttachType::LSM_MAC) | Some(AttachType::LSM_CGROUP) => ("bpf_lsm_", BtfKind::Func),
        Some(AttachType::TRACE_ITER) => ("bpf_iter_", BtfKind::Func),
        _ => ("", BtfKind::Func),
    };
    let full = format!("{prefix}{name}");
    if module.is_none() {
        let vmlinux = vmlinux.ok_or_else(|| err(target, "no kernel BTF".into()))?;
        if let Some(id) = vmlinux.id_by_name_kind(&full, kind) {
            return Ok(Some(AttachTarget {
                btf_id: id,
                obj_fd: None,
            }));
        }
    }
    let modules: Vec<String> = match module {
        Some(m) => vec![m.to_string()],
        None => super::kernel_btf::module_names(),
    };
    for m in modules {
        let Ok(btf) = super::kernel_btf::module(&m) else {
            continue;
        };
        if let Some(id) = btf.id_by_name_kind(&full, kind) {
            if id < btf.first_id() {
                continue;
            }
            let fd = super::kernel_btf::kernel_btf_fd(&m)?;
            return Ok(Some(AttachTarget {
                btf_id: id,
                obj_fd: Some(fd),
            }));
        }
    }
    Err(err(
        target,
        format!(
            "no {} `{full}` in the kernel's BTF{}",
            if kind == BtfKind::Typedef {
                "typedef"
            } else {
                "function"
            },
            module.map(|m| format!(" (module {m})")).unwrap_or_default()
        ),
    ))
}

/// The BTF id of `function` in the BTF of loaded program `target` (freplace targets).
pub(crate) fn replace_target(
    prog: &Program,
    target: BorrowedFd<'_>,
    function: &str,
) -> Result<AttachTarget, LoadError> {
    let err = |why: String| LoadError::AttachTarget {
        program: prog.name().to_string(),
        target: function.to_string(),
        why,
    };
    let sys = |what: &str, e: SyscallError| err(format!("{what}: {e}"));
    let info = syscall::prog_info(target).map_err(|e| sys("reading the target program", e))?;
    if info.btf_id == 0 {
        return Err(err("the target program has no BTF".into()));
    }
    let btf_fd = syscall::btf_get_fd_by_id(info.btf_id).map_err(|e| sys("opening its BTF", e))?;
    let data = syscall::btf_data(btf_fd.as_fd()).map_err(|e| sys("reading its BTF", e))?;
    let btf = Btf::parse(data).map_err(|e| err(format!("parsing its BTF: {e}")))?;
    let id = btf
        .id_by_name_kind(function, BtfKind::Func)
        .ok_or_else(|| err("no such function in the target program's BTF".into()))?;
    Ok(AttachTarget {
        btf_id: id,
        obj_fd: None,
    })
}

/// The expected attach type to send, following the section's flags.
pub(crate) fn expected_attach_type(prog: &Program) -> Option<AttachType> {
    let t = prog.expected_attach_type()?;
    if prog.flags().contains(SecFlags::EXP_ATTACH_OPT)
        && !features::has(Feature::ExpAttachType).unwrap_or(true)
    {
        return None;
    }
    Some(t)
}

fn func_info_bytes(v: &[FuncInfoRec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 8);
    for r in v {
        out.extend_from_slice(&r.insn_off.to_ne_bytes());
        out.extend_from_slice(&r.type_id.to_ne_bytes());
    }
    out
}

fn line_info_bytes(v: &[LineInfoRec]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 16);
    for r in v {
        for x in [r.insn_off, r.file_name_off, r.line_off, r.line_col] {
            out.extend_from_slice(&x.to_ne_bytes());
        }
    }
    out
}

/// Everything one program's load needs besides the relocated program.
pub(crate) struct ProgInputs<'a> {
    pub obj: &'a Object,
    pub prog: &'a Program,
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// Whether the kernel knows BTF FUNCs, when the BTF upload showed it (else probed).
    pub btf_funcs: Option<bool>,
    /// The fd of each map slot.
    pub map_fd: &'a dyn Fn(MapSlot) -> Option<BorrowedFd<'a>>,
    /// fd_array for module kfuncs (slot 0 unused) and each module's slot.
    pub fd_array: &'a [BorrowedFd<'a>],
    pub module_slot: &'a dyn Fn(&str) -> Option<(i16, BorrowedFd<'a>)>,
    pub attach_prog: Option<BorrowedFd<'a>>,
    pub kern_version: u32,
    pub settings: LoadSettings,
}

/// Loads one relocated program.
pub(crate) fn load(
    rp: &RelocatedProgram,
    inp: &ProgInputs<'_>,
    attach: Option<&AttachTarget>,
) -> Result<(OwnedFd, LoadReport), LoadError> {
    let prog = inp.prog;
    if prog.prog_type() == ProgType::UNSPEC {
        return Err(LoadError::UnknownProgramType {
            program: prog.name().to_string(),
            section: prog.section_name().to_string(),
        });
    }
    let mut insns = rp.insns.clone();
    for r in &rp.map_refs {
        let fd = (inp.map_fd)(r.map).ok_or_else(|| LoadError::MapNotCreated {
            program: rp.name.clone(),
            map: match r.map {
                MapSlot::Map(i) => inp.obj.maps().get(i).map(|m| m.name.clone()),
                MapSlot::Data(i) => inp.obj.data_sections().get(i).map(|d| d.name().to_string()),
            }
            .unwrap_or_default(),
        })?;
        if let Some(i) = insns.get_mut(r.insn) {
            i.imm = fd.as_raw_fd();
            debug_assert!(r.kind == MapRefKind::Fd || i.src() == 2);
        }
    }
    for r in &rp.module_refs {
        if let Some((slot, fd)) = (inp.module_slot)(&r.module) {
            if r.is_call {
                if let Some(i) = insns.get_mut(r.insn) {
                    i.off = slot;
                }
            } else if let Some(i) = insns.get_mut(r.insn + 1) {
                i.imm = fd.as_raw_fd();
            }
        }
    }
    let license =
        CString::new(inp.obj.license().unwrap_or("").replace('\0', "")).unwrap_or_default();
    let mut flags = ProgFlags::empty();
    if prog.flags().contains(SecFlags::SLEEPABLE) {
        flags |= ProgFlags::SLEEPABLE;
    }
    if prog.flags().contains(SecFlags::XDP_FRAGS) {
        flags |= ProgFlags::XDP_HAS_FRAGS;
    }
    // func_info/line_info only where the kernel knows BTF FUNCs (else they'd point at
    // sanitized types).
    let with_ext = inp.btf_fd.is_some()
        && (!rp.func_info.is_empty() || !rp.line_info.is_empty())
        && inp
            .btf_funcs
            .unwrap_or_else(|| features::has(Feature::BtfFunc).unwrap_or(false));
    let fi = func_info_bytes(&rp.func_info);
    let li = line_info_bytes(&rp.line_info);
    let expected = expected_attach_type(prog);
    let attach_fd = attach
        .and_then(|a| a.obj_fd.as_ref().map(|f| f.as_fd()))
        .or(inp.attach_prog);
    macro_rules! request {
        ($log_level:expr, $log_buf:expr) => {
            ProgLoad {
                prog_type: prog.prog_type(),
                insns: &insns,
                license: &license,
                log_level: $log_level,
                log_buf: $log_buf,
                kern_version: inp.kern_version,
                prog_flags: flags,
                name: prog.name(),
                expected_attach_type: expected.unwrap_or_default(),
                btf_fd: inp.btf_fd,
                func_info: (with_ext && !fi.is_empty()).then_some(ExtInfo {
                    data: &fi,
                    rec_size: 8,
                }),
                line_info: (with_ext && !li.is_empty()).then_some(ExtInfo {
                    data: &li,
                    rec_size: 16,
                }),
                attach_btf_id: attach.map(|a| a.btf_id).unwrap_or(0),
                attach_fd,
                fd_array: inp.fd_array,
                ..Default::default()
            }
        };
    }
    let started = Instant::now();
    let first_level = if inp.settings.stats {
        inp.settings.log_level | LogLevel::STATS
    } else {
        inp.settings.log_level
    };
    let mut report = LoadReport {
        insn_count: insns.len(),
        ..Default::default()
    };
    let first = if first_level.is_empty() {
        syscall::prog_load(&mut request!(LogLevel::empty(), None))
    } else {
        let mut buf = vec![
            0u8;
            if inp.settings.log_level.is_empty() {
                4096
            } else {
                LOG_START
            }
        ];
        let r = syscall::prog_load(&mut request!(first_level, Some(&mut buf)));
        let text = log_text(&buf);
        report.verified_insns = processed_insns(&text);
        if !inp.settings.log_level.is_empty() {
            report.log = Some(text);
        }
        r
    };
    let first_err = match first {
        Ok(fd) => {
            report.load_time = started.elapsed();
            return Ok((fd, report));
        }
        Err(e) => e,
    };
    // Failed: load again with a log, growing the buffer until the whole log fits.
    let level = if inp.settings.log_level.is_empty() {
        LogLevel::LEVEL1
    } else {
        inp.settings.log_level
    };
    let mut size = LOG_START;
    let (err, log) = loop {
        let mut buf = vec![0u8; size];
        let mut req = request!(level, Some(&mut buf));
        let r = syscall::prog_load(&mut req);
        let true_size = req.log_true_size as usize;
        match r {
            // A load that succeeds with a log (a transient failure before): keep it.
            Ok(fd) => {
                report.load_time = started.elapsed();
                return Ok((fd, report));
            }
            Err(e) if e.errno == nix::errno::Errno::ENOSPC && size < LOG_MAX => {
                size = if true_size > size {
                    true_size.min(LOG_MAX)
                } else {
                    (size * 4).min(LOG_MAX)
                };
            }
            Err(e) => break (e, log_text(&buf)),
        }
    };
    let err = if log.is_empty() { first_err } else { err };
    // Read positions from the kernel's own text, then explain the poisoned instructions.
    let poisoned = crate::relocate::core::poisoned_in_log(&log);
    let failed_at = verifier_log::last_insn(&log);
    let log = annotate_verifier_log(&log, |i| rp.core_decision_at(i));
    let btf = inp.obj.btf();
    let source_of = |i: usize| {
        let l = rp.line_info_at(i)?;
        let btf = btf?;
        Some(SourceLine {
            file: btf.string_at(l.file_name_off).ok()?.to_string(),
            line: l.line_col >> 10,
            text: btf.string_at(l.line_off).ok()?.to_string(),
        })
    };
    let mut summary = verifier_log::summarize(&log, source_of);
    if failed_at.is_some() && failed_at != summary.insn {
        summary.insn = failed_at;
        summary.source = failed_at.and_then(source_of);
    }
    let core_failures = poisoned
        .into_iter()
        .filter_map(|i| rp.core_decision_at(i))
        .map(crate::relocate::core::explain_poisoned)
        .collect();
    Err(LoadError::Program(Box::new(ProgramLoadError {
        program: rp.name.clone(),
        section: prog.section_name().to_string(),
        source: err,
        log,
        summary,
        core_failures,
    })))
}

fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// "processed 12 insns (limit 1000000) ..." → 12.
pub fn processed_insns(log: &str) -> Option<u32> {
    let at = log.rfind("processed ")?;
    log[at + "processed ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_insns_is_read_from_the_stats_line() {
        assert_eq!(
            processed_insns(
                "func#0 @0\nprocessed 12 insns (limit 1000000) max_states_per_insn 0\n"
            ),
            Some(12)
        );
        assert_eq!(processed_insns("nothing"), None);
    }
}
