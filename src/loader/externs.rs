//! Resolving an object's externs against the running system: `.kconfig` values written into
//! the `.kconfig` data section, `.ksyms` variables and kfuncs found in the kernel's BTF (or
//! kallsyms), each handed to the pure relocator as an [`ExternValue`].

use std::collections::HashMap;
use std::sync::Arc;

use super::error::LoadError;
use super::kallsyms::Kallsyms;
use super::kconfig::{Kconfig, KconfigValue, Tristate};
use super::kernel_btf;
use crate::btf::{essential_name, Btf, BtfKind};
use crate::features::{self, Feature};
use crate::object::{DataKind, ExternKind, KconfigType, Object};
use crate::relocate::ExternValue;

/// What the resolver may consult, each taken only when an extern needs it.
pub(crate) struct ExternSources<'a> {
    /// Kernel BTF for typed ksyms and kfuncs.
    pub vmlinux: Option<&'a Arc<Btf>>,
    /// User-provided kconfig (replaces the running kernel's).
    pub kconfig: Option<&'a Kconfig>,
    /// User-provided values by extern name.
    pub overrides: &'a HashMap<String, ExternValue>,
}

/// `KERNEL_VERSION(a, b, c)`.
pub fn kernel_version_code(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 16) + (minor << 8) + patch.min(255)
}

/// The running kernel's version code as libbpf computes `LINUX_KERNEL_VERSION`: Ubuntu's
/// `/proc/version_signature` and Debian's `uname -v` ("Debian 6.1.192-2") carry the real
/// upstream patch level, which the release string may not. Read once per process.
pub fn running_kernel_version() -> u32 {
    static VERSION: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *VERSION.get_or_init(read_kernel_version)
}

fn read_kernel_version() -> u32 {
    let parse3 = |s: &str| -> Option<(u32, u32, u32)> {
        let mut it = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
    };
    if let Ok(sig) = std::fs::read_to_string("/proc/version_signature") {
        // "Ubuntu 5.4.0-42.46-generic 5.4.44"
        if let Some((a, b, c)) = sig.split_whitespace().nth(2).and_then(parse3) {
            return kernel_version_code(a, b, c);
        }
    }
    let Ok(uts) = nix::sys::utsname::uname() else {
        return 0;
    };
    let version = uts.version().to_string_lossy();
    if let Some(rest) = version.split("Debian ").nth(1) {
        if let Some((a, b, c)) = parse3(rest) {
            return kernel_version_code(a, b, c);
        }
    }
    parse3(&uts.release().to_string_lossy())
        .map(|(a, b, c)| kernel_version_code(a, b, c))
        .unwrap_or(0)
}

/// Resolves every extern; writes `.kconfig` values into the object's `.kconfig` section.
pub(crate) fn resolve(
    obj: &mut Object,
    src: &ExternSources<'_>,
) -> Result<Vec<ExternValue>, LoadError> {
    let externs = obj.externs().to_vec();
    let mut values = vec![ExternValue::Missing; externs.len()];
    // The running kernel's configuration, read only if a CONFIG_* extern needs it.
    let running = (src.kconfig.is_none()
        && externs
            .iter()
            .any(|e| e.is_kconfig() && !e.is_virtual_kconfig()))
    .then(Kconfig::running);
    let mut kallsyms: Option<Arc<Kallsyms>> = None;
    let mut kcfg_bytes: Vec<(u32, Vec<u8>)> = Vec::new();
    for (i, ext) in externs.iter().enumerate() {
        let err = |why: String| LoadError::Extern {
            name: ext.name.clone(),
            why,
        };
        if let Some(v) = src.overrides.get(&ext.name) {
            values[i] = v.clone();
            continue;
        }
        match &ext.kind {
            ExternKind::Kconfig {
                ty,
                signed,
                size,
                offset,
                ..
            } => {
                let value = if ext.is_virtual_kconfig() {
                    virtual_kconfig(&ext.name).map_err(&err)?
                } else {
                    let k: Result<&Kconfig, String> = match (src.kconfig, &running) {
                        (Some(k), _) => Ok(k),
                        (None, Some(Ok(k))) => Ok(k.as_ref()),
                        (None, Some(Err(e))) => Err(e.to_string()),
                        (None, None) => Err("no kernel configuration".into()),
                    };
                    let k = match k {
                        Ok(k) => k,
                        Err(_) if ext.weak => continue,
                        Err(e) => return Err(err(e)),
                    };
                    k.get(&ext.name).cloned()
                };
                let Some(value) = value else {
                    if ext.weak {
                        continue;
                    }
                    return Err(err(
                        "not set in the kernel configuration and not __weak".into()
                    ));
                };
                let bytes = encode_kconfig(*ty, *signed, *size, &value).map_err(&err)?;
                kcfg_bytes.push((*offset, bytes));
                values[i] = ExternValue::Kconfig;
            }
            ExternKind::Ksym { type_id: 0 } => {
                let k = match &kallsyms {
                    Some(k) => k.clone(),
                    None => {
                        let k = Kallsyms::running().map_err(|e| err(e.to_string()))?;
                        kallsyms.insert(k).clone()
                    }
                };
                match k.address(essential_name(&ext.name)) {
                    Some(_) if k.addresses_hidden() => {
                        return Err(err(
                            "kallsyms hides addresses (needs CAP_SYSLOG / kptr_restrict)".into(),
                        ))
                    }
                    Some(a) => values[i] = ExternValue::Address(a),
                    None if ext.weak => {}
                    None => return Err(err("no such symbol in /proc/kallsyms".into())),
                }
            }
            ExternKind::Ksym { .. } | ExternKind::Kfunc { .. } => {
                let kind = if matches!(ext.kind, ExternKind::Kfunc { .. }) {
                    BtfKind::Func
                } else {
                    BtfKind::Var
                };
                let name = essential_name(&ext.name);
                match find_kernel_symbol(src.vmlinux, name, kind) {
                    Some((btf_id, module)) => {
                        values[i] = if kind == BtfKind::Func {
                            ExternValue::Kfunc { btf_id, module }
                        } else {
                            ExternValue::TypedKsym { btf_id, module }
                        };
                    }
                    None if ext.weak => {}
                    None => {
                        return Err(err(format!(
                            "no {} named `{name}` in the kernel's BTF",
                            if kind == BtfKind::Func {
                                "kfunc"
                            } else {
                                "variable"
                            }
                        )))
                    }
                }
            }
            ExternKind::Unknown if ext.weak => {}
            ExternKind::Unknown => {
                return Err(err(
                    "an undefined symbol the object's BTF does not describe".into(),
                ))
            }
        }
    }
    if !kcfg_bytes.is_empty() {
        if let Some(sec) = obj
            .data_sections()
            .iter()
            .position(|d| d.kind() == DataKind::Kconfig)
        {
            let name = obj.data_sections()[sec].name().to_string();
            let data = obj.section_data_mut(&name)?.bytes_mut();
            for (off, bytes) in kcfg_bytes {
                let off = off as usize;
                if let Some(dst) = data.get_mut(off..off + bytes.len()) {
                    dst.copy_from_slice(&bytes);
                }
            }
        }
    }
    Ok(values)
}

fn virtual_kconfig(name: &str) -> Result<Option<KconfigValue>, String> {
    let feature = |f| {
        features::has(f)
            .map(|b| {
                Some(KconfigValue::Tristate(if b {
                    Tristate::Yes
                } else {
                    Tristate::No
                }))
            })
            .map_err(|e| e.to_string())
    };
    match name {
        "LINUX_KERNEL_VERSION" => Ok(Some(KconfigValue::Int(running_kernel_version() as i64))),
        "LINUX_HAS_BPF_COOKIE" => feature(Feature::BpfCookie),
        "LINUX_HAS_SYSCALL_WRAPPER" => feature(Feature::SyscallWrapper),
        _ => Ok(None),
    }
}

/// Encodes a kconfig value for its C type, as libbpf's `set_kcfg_value_*` do.
fn encode_kconfig(
    ty: KconfigType,
    signed: bool,
    size: u32,
    value: &KconfigValue,
) -> Result<Vec<u8>, String> {
    let size = size as usize;
    let int = |v: i64| -> Result<Vec<u8>, String> {
        let fits = match (size, signed) {
            (1, true) => i8::try_from(v).is_ok(),
            (1, false) => u8::try_from(v).is_ok(),
            (2, true) => i16::try_from(v).is_ok(),
            (2, false) => u16::try_from(v).is_ok(),
            (4, true) => i32::try_from(v).is_ok(),
            (4, false) => u32::try_from(v).is_ok(),
            (8, _) => true,
            _ => return Err(format!("unsupported integer size {size}")),
        };
        if !fits {
            return Err(format!("value {v} does not fit a {size}-byte integer"));
        }
        Ok(v.to_ne_bytes()[..size.min(8)].to_vec())
    };
    match (ty, value) {
        (KconfigType::Bool, KconfigValue::Tristate(Tristate::Yes)) => Ok(vec![1]),
        (KconfigType::Bool, KconfigValue::Tristate(Tristate::No)) => Ok(vec![0]),
        (KconfigType::Bool, KconfigValue::Tristate(Tristate::Module)) => {
            Err("value `m` is invalid for a bool".into())
        }
        (KconfigType::Tristate, KconfigValue::Tristate(t)) => {
            // enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 }
            let v = match t {
                Tristate::No => 0,
                Tristate::Yes => 1,
                Tristate::Module => 2,
            };
            int(v)
        }
        (KconfigType::Char, KconfigValue::Tristate(t)) => Ok(vec![match t {
            Tristate::Yes => b'y',
            Tristate::Module => b'm',
            Tristate::No => b'n',
        }]),
        (KconfigType::CharArray, KconfigValue::Str(s)) => {
            let mut v = vec![0u8; size];
            let n = s.len().min(size.saturating_sub(1));
            v[..n].copy_from_slice(&s.as_bytes()[..n]);
            Ok(v)
        }
        (KconfigType::Int, KconfigValue::Int(n)) => int(*n),
        (KconfigType::Int, KconfigValue::Tristate(Tristate::No)) => int(0),
        (ty, v) => Err(format!("value {v:?} does not fit a {ty:?} extern")),
    }
}

/// Finds a VAR or FUNC by name in vmlinux, then in module BTFs.
fn find_kernel_symbol(
    vmlinux: Option<&Arc<Btf>>,
    name: &str,
    kind: BtfKind,
) -> Option<(u32, Option<String>)> {
    if let Some(v) = vmlinux {
        if let Some(id) = v.id_by_name_kind(name, kind) {
            return Some((id, None));
        }
    }
    for (module, btf) in kernel_btf::modules() {
        if let Some(id) = btf.id_by_name_kind(name, kind) {
            if id >= btf.first_id() {
                return Some((id, Some(module)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_code() {
        assert_eq!(kernel_version_code(6, 1, 192), 0x0601c0);
        assert_eq!(kernel_version_code(4, 19, 300), 0x0413ff);
        assert_eq!(kernel_version_code(5, 4, 44), 0x05042c);
        assert!(running_kernel_version() > kernel_version_code(4, 0, 0));
    }

    #[test]
    fn kconfig_encodings() {
        use KconfigType::{Bool, Char, CharArray, Int};
        let y = KconfigValue::Tristate(Tristate::Yes);
        let m = KconfigValue::Tristate(Tristate::Module);
        assert_eq!(encode_kconfig(Bool, false, 1, &y).unwrap(), vec![1]);
        assert!(encode_kconfig(Bool, false, 1, &m).is_err());
        assert_eq!(
            encode_kconfig(KconfigType::Tristate, false, 4, &m).unwrap(),
            2u32.to_ne_bytes()
        );
        assert_eq!(encode_kconfig(Char, false, 1, &m).unwrap(), b"m");
        assert_eq!(
            encode_kconfig(CharArray, false, 4, &KconfigValue::Str("abcdef".into())).unwrap(),
            b"abc\0"
        );
        assert_eq!(
            encode_kconfig(Int, false, 4, &KconfigValue::Int(100)).unwrap(),
            100u32.to_ne_bytes()
        );
        assert!(encode_kconfig(Int, false, 1, &KconfigValue::Int(300)).is_err());
        assert!(encode_kconfig(Int, true, 1, &KconfigValue::Int(-3)).is_ok());
    }
}
