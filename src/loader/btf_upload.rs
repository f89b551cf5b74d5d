//! Uploading the object's BTF: DATASEC sizes and offsets fixed from the ELF facts, hidden
//! functions made static, kinds the kernel lacks sanitized away (decided by feature probes),
//! then `BPF_BTF_LOAD`. A failure is a warning: the object loads without BTF, as with libbpf.

use std::os::fd::OwnedFd;

use crate::btf::{fixup_datasecs, sanitize, set_func_linkage, BtfBuilder, FuncLinkage};
use crate::features::{self, Feature};
use crate::object::Object;
use crate::syscall::{self, BtfLoad, LogLevel};

/// The outcome of an upload.
#[derive(Debug, Default)]
pub(crate) struct Uploaded {
    /// The BTF object, if the kernel took it.
    pub fd: Option<OwnedFd>,
    /// Why it was not uploaded, when it was not.
    pub warning: Option<String>,
}

/// Fixes, sanitizes and loads the object's BTF.
pub(crate) fn upload(obj: &Object) -> Uploaded {
    let Some(btf) = obj.btf() else {
        return Uploaded::default();
    };
    let warn = |w: String| Uploaded {
        fd: None,
        warning: Some(w),
    };
    match features::has(Feature::Btf) {
        Ok(true) => {}
        Ok(false) => return warn("the kernel does not support BTF".into()),
        Err(e) => return warn(format!("probing BTF support: {e}")),
    }
    let mut b = match BtfBuilder::from_btf(btf) {
        Ok(b) => b,
        Err(e) => return warn(format!("re-encoding the object's BTF: {e}")),
    };
    if let Err(e) = fixup_datasecs(&mut b, obj.datasec_layout()) {
        return warn(format!("fixing DATASECs: {e}"));
    }
    for f in obj.functions().iter().filter(|f| f.hidden) {
        set_func_linkage(&mut b, &f.name, FuncLinkage::Static);
    }
    match features::missing_btf_features() {
        Ok(missing) => sanitize(&mut b, &missing),
        Err(e) => return warn(format!("probing BTF features: {e}")),
    }
    let bytes = match b.to_bytes_keeping_strings(btf) {
        Ok(b) => b,
        Err(e) => return warn(format!("encoding BTF: {e}")),
    };
    match syscall::btf_load(&mut BtfLoad {
        btf: &bytes,
        ..Default::default()
    }) {
        Ok(fd) => Uploaded {
            fd: Some(fd),
            warning: None,
        },
        Err(first) => {
            // Again with a log, to say why.
            let mut log = vec![0u8; 1 << 16];
            let _ = syscall::btf_load(&mut BtfLoad {
                btf: &bytes,
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
    }
}
