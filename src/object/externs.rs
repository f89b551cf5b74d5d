//! Externs: `.kconfig` values (CONFIG_*, LINUX_KERNEL_VERSION, ...), `.ksyms` kernel
//! symbols (typed, typeless) and kfuncs, found through SHN_UNDEF symbols and the BTF
//! DATASECs `.kconfig`/`.ksyms`.

use std::collections::HashMap;

use super::data::{internal_map_name, DataKind, DataSection, VarLinkage, Variable};
use super::elf::{ElfFile, Shndx, STB_WEAK, STT_FILE, STT_SECTION};
use super::error::ObjectError;
use crate::btf::{Btf, BtfKind, FuncLinkage};

/// The C type of a `.kconfig` extern (libbpf's `enum kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KconfigType {
    /// `bool` (1 byte): `y` → 1, `n`/unset → 0.
    Bool,
    /// `enum libbpf_tristate` (`n`, `y`, `m`).
    Tristate,
    /// `char` (1 byte): the option's letter.
    Char,
    /// An integer of 1, 2, 4 or 8 bytes.
    Int,
    /// `char[N]`: a string option.
    CharArray,
}

/// What an extern is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternKind {
    /// A `.kconfig` value, placed in the `.kconfig` data section.
    Kconfig {
        /// The C type.
        ty: KconfigType,
        /// The BTF type of the VAR.
        type_id: u32,
        /// Whether the integer is signed.
        signed: bool,
        /// Size in bytes.
        size: u32,
        /// Alignment in bytes.
        align: u32,
        /// Byte offset within the `.kconfig` data section (laid out like libbpf: by
        /// alignment descending, then size ascending, then name).
        offset: u32,
    },
    /// A `.ksyms` variable: a kernel symbol's address (typed: its BTF type, resolved in the
    /// kernel's BTF; typeless `const void`: from kallsyms).
    Ksym {
        /// The local BTF type (modifiers and typedefs skipped); 0 for a typeless ksym.
        type_id: u32,
    },
    /// A kfunc (`extern` function in `.ksyms`), called with `BPF_PSEUDO_KFUNC_CALL`.
    Kfunc {
        /// The local BTF FUNC_PROTO.
        proto_id: u32,
    },
    /// An undefined symbol without BTF saying what it is (e.g. `asm("r0 = SYM ll")`); the
    /// loader cannot resolve it unless the user provides a value.
    Unknown,
}

/// An extern symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extern {
    /// The symbol name.
    pub name: String,
    /// What it is.
    pub kind: ExternKind,
    /// `__weak`: may stay unresolved (value 0).
    pub weak: bool,
    /// The BTF VAR (or FUNC for kfuncs), when the object has BTF for it.
    pub btf_id: Option<u32>,
    /// The ELF symbol index.
    pub sym_index: usize,
}

impl Extern {
    /// Whether this is a `.kconfig` extern.
    pub fn is_kconfig(&self) -> bool {
        matches!(self.kind, ExternKind::Kconfig { .. })
    }

    /// Whether this is a `LINUX_*` virtual kconfig value libbpf computes itself
    /// (`LINUX_KERNEL_VERSION`, `LINUX_HAS_BPF_COOKIE`, `LINUX_HAS_SYSCALL_WRAPPER`).
    pub fn is_virtual_kconfig(&self) -> bool {
        self.is_kconfig() && self.name.starts_with("LINUX_")
    }
}

/// The externs of an object, an index by ELF symbol, and the `.kconfig` area size.
pub(super) struct Externs {
    pub externs: Vec<Extern>,
    /// ELF symbol index → index into `externs`.
    pub by_symbol: HashMap<usize, usize>,
    kconfig_size: u32,
    kconfig_datasec: Option<u32>,
}

impl Externs {
    /// The `.kconfig` data section laid out for the kconfig externs, if there are any.
    pub fn kconfig_section(&self, obj_name: &str) -> Option<DataSection> {
        let variables: Vec<Variable> = self
            .externs
            .iter()
            .filter_map(|e| match e.kind {
                ExternKind::Kconfig {
                    size,
                    offset,
                    type_id,
                    ..
                } => Some(Variable {
                    name: e.name.clone(),
                    offset,
                    size,
                    btf_type_id: Some(type_id),
                    btf_var_id: e.btf_id,
                    linkage: VarLinkage::Global,
                }),
                _ => None,
            })
            .collect();
        if variables.is_empty() {
            return None;
        }
        Some(DataSection {
            name: KCONFIG.to_string(),
            elf_index: None,
            kind: DataKind::Kconfig,
            map_name: internal_map_name(obj_name, KCONFIG),
            bytes: vec![0; self.kconfig_size as usize],
            variables,
            btf_datasec_id: self.kconfig_datasec,
        })
    }
}

const KCONFIG: &str = ".kconfig";
/// Largest `.kconfig` area: it becomes one array map value, which the kernel caps at
/// `KMALLOC_MAX_SIZE` (4 MiB with 4 KiB pages); a hostile `char[N]` extern must not make us
/// allocate gigabytes first.
const MAX_KCONFIG_SIZE: u32 = 1 << 22;
const KSYMS: &str = ".ksyms";

/// Find the externs: global/weak undefined symbols, described by an extern VAR or FUNC of the
/// object's BTF that sits in the `.kconfig` or `.ksyms` DATASEC.
pub(super) fn collect(elf: &ElfFile<'_>, btf: Option<&Btf>) -> Result<Externs, ObjectError> {
    let mut in_datasec: HashMap<u32, (String, u32)> = HashMap::new();
    if let Some(b) = btf {
        for t in b.types().filter(|t| t.kind() == BtfKind::Datasec) {
            let Ok(name) = t.name() else { continue };
            if name != KCONFIG && name != KSYMS {
                continue;
            }
            for vi in t.datasec_vars().into_iter().flatten() {
                in_datasec.insert(vi.type_id, (name.to_string(), t.id()));
            }
        }
    }
    let mut kconfig_datasec = None;
    let mut externs = Vec::new();
    for (i, s) in elf.symbols.iter().enumerate() {
        if s.shndx != Shndx::Undef || !s.is_global() || s.name.is_empty() {
            continue;
        }
        if s.typ == STT_SECTION || s.typ == STT_FILE {
            continue;
        }
        let name = s.name.to_string();
        let btf_id = btf.and_then(|b| extern_btf_id(b, &name));
        let kind = match (btf, btf_id) {
            (Some(b), Some(id)) => match in_datasec.get(&id) {
                Some((sec, ds)) if sec == KCONFIG => {
                    kconfig_datasec = Some(*ds);
                    kconfig_kind(b, &name, id)?
                }
                Some(_) => ksym_kind(b, &name, id)?,
                None => ExternKind::Unknown,
            },
            _ => ExternKind::Unknown,
        };
        externs.push(Extern {
            name,
            kind,
            weak: s.bind == STB_WEAK,
            btf_id,
            sym_index: i,
        });
    }
    // libbpf's order: kconfig by alignment (descending), size, name; then the rest by name.
    let key = |e: &Extern| match e.kind {
        ExternKind::Kconfig { align, size, .. } => (0u8, u32::MAX - align, size),
        ExternKind::Ksym { .. } | ExternKind::Kfunc { .. } => (1, 0, 0),
        ExternKind::Unknown => (2, 0, 0),
    };
    externs.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name)));
    let mut off: u32 = 0;
    for e in &mut externs {
        if let ExternKind::Kconfig {
            size,
            align,
            offset,
            ..
        } = &mut e.kind
        {
            let aligned = off
                .checked_next_multiple_of((*align).max(1))
                .and_then(|o| o.checked_add(*size).map(|end| (o, end)));
            let Some((start, end)) = aligned.filter(|&(_, end)| end <= MAX_KCONFIG_SIZE) else {
                return Err(ObjectError::ext(
                    &e.name,
                    format!(
                        "{size}-byte value makes the .kconfig area larger than {MAX_KCONFIG_SIZE} bytes"
                    ),
                ));
            };
            *offset = start;
            off = end;
        }
    }
    let by_symbol = externs
        .iter()
        .enumerate()
        .map(|(k, e)| (e.sym_index, k))
        .collect();
    Ok(Externs {
        externs,
        by_symbol,
        kconfig_size: off,
        kconfig_datasec,
    })
}

/// The first VAR or FUNC named `name`, when it is an extern.
fn extern_btf_id(btf: &Btf, name: &str) -> Option<u32> {
    let t = btf
        .ids_by_name(name)
        .into_iter()
        .filter_map(|id| btf.type_by_id(id).ok())
        .find(|t| matches!(t.kind(), BtfKind::Var | BtfKind::Func))?;
    let is_extern = t.var_linkage() == Some(crate::btf::VarLinkage::Extern)
        || t.func_linkage() == Some(FuncLinkage::Extern);
    is_extern.then(|| t.id())
}

fn kconfig_kind(btf: &Btf, name: &str, id: u32) -> Result<ExternKind, ObjectError> {
    let berr = |e: crate::btf::BtfError| ObjectError::ext(name, e.to_string());
    let var = btf.type_by_id(id).map_err(berr)?;
    if var.kind() != BtfKind::Var {
        return Err(ObjectError::ext(
            name,
            "a function can't be a .kconfig extern",
        ));
    }
    let ty = var.size_or_type();
    let size = btf.type_size(ty).map_err(berr)?;
    let align = btf.type_align(ty).map_err(berr)?;
    if size == 0 || align == 0 {
        return Err(ObjectError::ext(name, "type has no size"));
    }
    let (kty, signed) = kconfig_type(btf, ty)
        .ok_or_else(|| ObjectError::ext(name, "type is not supported for .kconfig"))?;
    Ok(ExternKind::Kconfig {
        ty: kty,
        type_id: ty,
        signed,
        size,
        align,
        offset: 0,
    })
}

/// libbpf's `find_kcfg_type`.
fn kconfig_type(btf: &Btf, id: u32) -> Option<(KconfigType, bool)> {
    let t = btf.skip_mods_and_typedefs(id).ok()?;
    let size = t.size().unwrap_or(0);
    match t.kind() {
        BtfKind::Int => {
            let enc = t.int()?;
            if enc.bool {
                return (size == 1).then_some((KconfigType::Bool, false));
            }
            if size == 1 {
                return Some((KconfigType::Char, enc.signed));
            }
            matches!(size, 2 | 4 | 8).then_some((KconfigType::Int, enc.signed))
        }
        BtfKind::Enum | BtfKind::Enum64 => {
            let named = t.name().ok()? == "libbpf_tristate";
            let sized = t.kind() == BtfKind::Enum64 || size == 4;
            (named && sized).then_some((KconfigType::Tristate, false))
        }
        BtfKind::Array => {
            let a = t.array()?;
            let elem = kconfig_type(btf, a.elem_type)?;
            (a.nelems > 0 && elem.0 == KconfigType::Char).then_some((KconfigType::CharArray, false))
        }
        _ => None,
    }
}

fn ksym_kind(btf: &Btf, name: &str, id: u32) -> Result<ExternKind, ObjectError> {
    let berr = |e: crate::btf::BtfError| ObjectError::ext(name, e.to_string());
    let t = btf.type_by_id(id).map_err(berr)?;
    if t.kind() == BtfKind::Func {
        return Ok(ExternKind::Kfunc {
            proto_id: t.size_or_type(),
        });
    }
    let target = btf.skip_mods_and_typedefs(t.size_or_type()).map_err(berr)?;
    Ok(ExternKind::Ksym {
        type_id: target.id(),
    })
}

#[cfg(test)]
mod tests {
    use crate::object::{Object, ObjectError};

    /// Found by fuzzing (`object` target): `externs.bpf.c` with the BTF array of
    /// `char CONFIG_DEFAULT_HOSTNAME[16]` grown to 3,817,734,160 elements made the parser
    /// allocate that many bytes of `.kconfig` area (out of memory) before anything checked.
    #[test]
    fn huge_kconfig_array_is_refused_before_allocating() {
        let input = include_bytes!("../../tests/regressions/object-kconfig-huge-char-array.o");
        match Object::parse(input) {
            Err(ObjectError::Extern { name, problem }) => {
                assert_eq!(name, "CONFIG_DEFAULT_HOSTNAME");
                assert!(problem.contains("larger than 4194304 bytes"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
    }
}
