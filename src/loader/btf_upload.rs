//! Uploading the object's BTF: DATASEC sizes and offsets fixed from the ELF facts, hidden
//! functions made static, kinds the kernel lacks sanitized away, then `BPF_BTF_LOAD`. A
//! failure is a warning: the object loads without BTF, as with libbpf.
//!
//! The BTF is first offered as it is (fixed up in place, no probe): a kernel that takes it
//! has every kind it uses, which is the common case and costs one syscall. Only when the
//! kernel refuses it are the kinds it uses probed (one `BPF_BTF_LOAD` each) and the
//! missing ones sanitized away. With BTF features forced missing
//! ([`features::testing`]) the probes decide from the start.

use std::os::fd::OwnedFd;

use crate::btf::{
    fixup_datasecs, fixup_raw, sanitize, set_func_linkage, Btf, BtfBuilder, FuncLinkage,
    MissingFeatures,
};
use crate::features::{self, Feature};
use crate::object::Object;
use crate::syscall::{self, BtfLoad, LogLevel, SyscallError};

/// The outcome of an upload.
#[derive(Debug, Default)]
pub(crate) struct Uploaded {
    /// The BTF object, if the kernel took it.
    pub fd: Option<OwnedFd>,
    /// Why it was not uploaded, when it was not.
    pub warning: Option<String>,
    /// Whether the kernel knows BTF FUNCs (so programs may carry func_info/line_info), when
    /// the upload showed it: `None` leaves it to the feature probe.
    pub funcs: Option<bool>,
}

fn warn(w: String) -> Uploaded {
    Uploaded {
        warning: Some(w),
        ..Default::default()
    }
}

fn load(bytes: &[u8]) -> Result<OwnedFd, SyscallError> {
    syscall::btf_load(&mut BtfLoad {
        btf: bytes,
        ..Default::default()
    })
}

/// Fixes, sanitizes (when the kernel needs it) and loads the object's BTF.
pub(crate) fn upload(obj: &Object) -> Uploaded {
    let Some(btf) = obj.btf() else {
        return Uploaded::default();
    };
    let hidden = hidden_functions(obj);
    let raw = match fixup_raw(btf, obj.datasec_layout(), &hidden) {
        Ok(b) => b,
        Err(e) => return warn(format!("fixing DATASECs: {e}")),
    };
    let has_funcs = btf
        .local_types()
        .any(|t| t.kind() == crate::btf::BtfKind::Func);
    let forced = features::testing::any_btf_forced_missing();
    let first = if forced {
        None
    } else {
        match load(&raw) {
            Ok(fd) => {
                return Uploaded {
                    fd: Some(fd),
                    warning: None,
                    // Taken with its FUNCs: the kernel knows them.
                    funcs: has_funcs.then_some(true),
                };
            }
            Err(e) => Some(e),
        }
    };

    // Refused (or probes forced): which of the kinds it uses does the kernel lack?
    match features::has(Feature::Btf) {
        Ok(true) => {}
        Ok(false) => return warn("the kernel does not support BTF".into()),
        Err(e) => return warn(format!("probing BTF support: {e}")),
    }
    let missing = match features::missing_btf_features_in(btf) {
        Ok(m) => m,
        Err(e) => return warn(format!("probing BTF features: {e}")),
    };
    let bytes = if missing.any() {
        match sanitized(obj, btf, &hidden, &missing) {
            Ok(b) => b,
            Err(w) => return warn(w),
        }
    } else {
        raw
    };
    let outcome = match first {
        // Nothing to sanitize: the refusal was about something else.
        Some(e) if !missing.any() => Err(e),
        _ => load(&bytes),
    };
    match outcome {
        Ok(fd) => Uploaded {
            fd: Some(fd),
            warning: None,
            funcs: Some(!missing.func),
        },
        Err(e) => refused(&bytes, e),
    }
}

/// The builder path: decode, fix up, sanitize, re-encode (keeping the string offsets that
/// `.BTF.ext` refers to).
fn sanitized(
    obj: &Object,
    btf: &Btf,
    hidden: &[&str],
    missing: &MissingFeatures,
) -> Result<Vec<u8>, String> {
    let mut b =
        BtfBuilder::from_btf(btf).map_err(|e| format!("re-encoding the object's BTF: {e}"))?;
    fixup_datasecs(&mut b, obj.datasec_layout()).map_err(|e| format!("fixing DATASECs: {e}"))?;
    for name in hidden {
        set_func_linkage(&mut b, name, FuncLinkage::Static);
    }
    sanitize(&mut b, missing);
    b.to_bytes_keeping_strings(btf)
        .map_err(|e| format!("encoding BTF: {e}"))
}

/// The warning for BTF the kernel refused: loaded again with a log, to say why.
fn refused(bytes: &[u8], first: SyscallError) -> Uploaded {
    let mut log = vec![0u8; 1 << 16];
    let _ = syscall::btf_load(&mut BtfLoad {
        btf: bytes,
        log_level: LogLevel::LEVEL1,
        log_buf: Some(&mut log),
        ..Default::default()
    });
    let text = String::from_utf8_lossy(&log);
    let text = text.trim_end_matches('\0').trim();
    let last = text.lines().rev().take(3).collect::<Vec<_>>();
    warn(format!(
        "the kernel refused the object's BTF ({first}); loading without it{}",
        if last.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                last.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )
        }
    ))
}

/// The names of the object's hidden (`__hidden`) functions, which the fix-up makes static.
fn hidden_functions(obj: &Object) -> Vec<&str> {
    obj.functions()
        .iter()
        .filter(|f| f.hidden)
        .map(|f| f.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                objects(&p, out);
            } else if p.extension().is_some_and(|x| x == "o") {
                out.push(p);
            }
        }
    }

    /// The in-place fix-up gives the bytes the builder's decode + fix-up + re-encode gives,
    /// for every committed fixture object.
    #[test]
    fn raw_fixup_equals_builder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = vec![root.join("cli/bpf/demo.bpf.o")];
        objects(&root.join("tests/fixtures"), &mut paths);
        let mut compared = 0;
        for p in paths {
            let Ok(obj) = Object::open(&p) else { continue };
            let Some(btf) = obj.btf() else { continue };
            if btf.endian() != crate::btf::Endian::native() {
                continue;
            }
            let hidden = hidden_functions(&obj);
            let raw = fixup_raw(btf, obj.datasec_layout(), &hidden);
            let built = sanitized(&obj, btf, &hidden, &MissingFeatures::default());
            match (raw, built) {
                (Ok(r), Ok(b)) => assert!(r == b, "{}: bytes differ", p.display()),
                (Err(_), Err(_)) => {}
                (r, b) => panic!(
                    "{}: raw {:?} vs builder {:?}",
                    p.display(),
                    r.err(),
                    b.err()
                ),
            }
            compared += 1;
        }
        assert!(compared > 50, "only {compared} objects");
    }
}
