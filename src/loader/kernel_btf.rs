//! The running kernel's BTF: vmlinux (parsed once per process, shared by every load) and
//! module BTFs (split on vmlinux, parsed on first use), plus the kernel objects (fds) that
//! programs refer to for module kfuncs and attach targets.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::btf::{Btf, BtfBytes, BtfError};
use crate::syscall::{self, MappedFile, SyscallError};

/// Where the kernel's BTF is published.
pub const SYSFS_BTF: &str = "/sys/kernel/btf";

/// Why kernel BTF is not available.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelBtfError {
    /// No file held vmlinux BTF.
    #[error("no kernel BTF found (tried {tried}); the kernel needs CONFIG_DEBUG_INFO_BTF, or pass a target BTF file")]
    NotFound {
        /// The paths tried.
        tried: String,
    },
    /// A file could not be parsed.
    #[error("kernel BTF {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: BtfError,
    },
    /// `/sys/kernel/btf/<name>` does not exist.
    #[error("no BTF for kernel module `{0}` under /sys/kernel/btf")]
    NoModule(String),
    /// Reading a file failed.
    #[error("reading {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error text.
        message: String,
    },
    /// The kernel object of a BTF could not be found or opened.
    #[error("opening the kernel's BTF object `{name}`: {source}")]
    Object {
        /// vmlinux or the module's name.
        name: String,
        /// The syscall error.
        #[source]
        source: SyscallError,
    },
}

/// Candidate locations of vmlinux BTF, in libbpf's order (`R` = release).
pub fn vmlinux_paths(release: &str) -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(format!("{SYSFS_BTF}/vmlinux"))];
    for p in [
        format!("/boot/vmlinux-{release}"),
        format!("/lib/modules/{release}/vmlinux-{release}"),
        format!("/lib/modules/{release}/build/vmlinux"),
        format!("/usr/lib/modules/{release}/kernel/vmlinux"),
        format!("/usr/lib/debug/boot/vmlinux-{release}"),
        format!("/usr/lib/debug/boot/vmlinux-{release}.debug"),
        format!("/usr/lib/debug/lib/modules/{release}/vmlinux"),
    ] {
        v.push(PathBuf::from(p));
    }
    v
}

/// Reads BTF from a file: raw BTF (sysfs, `bpftool btf dump ... format raw`) or an ELF file
/// with a `.BTF` section (a vmlinux image, a BPF object).
pub fn read_btf_file(path: &Path) -> Result<Btf, KernelBtfError> {
    let io = |e: std::io::Error| KernelBtfError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = MappedFile::open(path).map_err(io)?;
    let bytes: &[u8] = file.as_ref();
    let parse = |source| KernelBtfError::Parse {
        path: path.to_path_buf(),
        source,
    };
    if bytes.starts_with(b"\x7fELF") {
        let section = elf_btf_section(bytes).ok_or_else(|| KernelBtfError::Io {
            path: path.to_path_buf(),
            message: "ELF file without a .BTF section".into(),
        })?;
        return Btf::parse(section).map_err(parse);
    }
    let shared: BtfBytes = Arc::new(file);
    Btf::parse_shared(shared).map_err(parse)
}

fn elf_btf_section(bytes: &[u8]) -> Option<Vec<u8>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(bytes).ok()?;
    let section = file.section_by_name(".BTF")?;
    section.data().ok().map(<[u8]>::to_vec)
}

/// vmlinux BTF, found and parsed once per process (sysfs is mmap'd where the kernel allows).
pub fn vmlinux() -> Result<Arc<Btf>, KernelBtfError> {
    static VMLINUX: OnceLock<Result<Arc<Btf>, KernelBtfError>> = OnceLock::new();
    VMLINUX
        .get_or_init(|| {
            let release = nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default();
            let paths = vmlinux_paths(&release);
            for p in &paths {
                if p.exists() {
                    return read_btf_file(p).map(Arc::new);
                }
            }
            Err(KernelBtfError::NotFound {
                tried: paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })
        .clone()
}

/// The names of the kernel modules that publish BTF (`/sys/kernel/btf/*` but vmlinux).
pub fn module_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(SYSFS_BTF)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n != "vmlinux")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn module_cache() -> &'static Mutex<HashMap<String, Arc<Btf>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Btf>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The BTF of kernel module `name`, split on vmlinux; parsed once per process.
pub fn module(name: &str) -> Result<Arc<Btf>, KernelBtfError> {
    if let Some(b) = module_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
    {
        return Ok(b.clone());
    }
    let base = vmlinux()?;
    let path = Path::new(SYSFS_BTF).join(name);
    if name.contains('/') || !path.exists() {
        return Err(KernelBtfError::NoModule(name.to_string()));
    }
    let file = MappedFile::open(&path).map_err(|e| KernelBtfError::Io {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let shared: BtfBytes = Arc::new(file);
    let btf = Arc::new(
        Btf::parse_split_shared(shared, base)
            .map_err(|source| KernelBtfError::Parse { path, source })?,
    );
    module_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), btf.clone());
    Ok(btf)
}

/// Every module BTF, parsed (for CO-RE candidates when vmlinux has none).
pub fn modules() -> Vec<(String, Arc<Btf>)> {
    module_names()
        .into_iter()
        .filter_map(|n| module(&n).ok().map(|b| (n, b)))
        .collect()
}

/// Opens the kernel's BTF object named `name` (`vmlinux` or a module), by walking BTF ids.
/// Needed for `attach_btf_obj_fd` and for module kfuncs in `fd_array`.
pub fn kernel_btf_fd(name: &str) -> Result<OwnedFd, KernelBtfError> {
    let obj_err = |source| KernelBtfError::Object {
        name: name.to_string(),
        source,
    };
    for id in syscall::btf_ids() {
        let id = id.map_err(obj_err)?;
        let fd = match syscall::btf_get_fd_by_id(id) {
            Ok(fd) => fd,
            // Unloaded between listing and opening.
            Err(e) if e.errno == nix::errno::Errno::ENOENT => continue,
            Err(e) => return Err(obj_err(e)),
        };
        let info = syscall::btf_info(fd.as_fd()).map_err(obj_err)?;
        if info.kernel_btf == 0 {
            continue;
        }
        if syscall::btf_name(fd.as_fd()).map_err(obj_err)? == name {
            return Ok(fd);
        }
    }
    Err(KernelBtfError::NoModule(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmlinux_is_shared() {
        let Ok(a) = vmlinux() else {
            eprintln!("skipping: no kernel BTF");
            return;
        };
        let b = vmlinux().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a
            .id_by_name_kind("task_struct", crate::btf::BtfKind::Struct)
            .is_some());
    }

    #[test]
    fn module_names_exclude_vmlinux() {
        assert!(!module_names().iter().any(|n| n == "vmlinux"));
        assert!(matches!(
            module("../etc"),
            Err(KernelBtfError::NoModule(_)) | Err(KernelBtfError::NotFound { .. })
        ));
    }
}
