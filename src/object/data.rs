//! Global data: `.data`, `.rodata`, `.bss`, their `.data.*`/`.rodata.*`/`.bss.*` variants and
//! the `.kconfig` extern area, each becoming an internal array map at load, with the
//! variables inside them so a user can set a `const volatile` by name before load.

use std::collections::HashMap;

use super::elf::{nobits_or_data, ElfFile, ElfSymbol, SecRole, STT_OBJECT, STT_SECTION};
use super::error::ObjectError;
use crate::btf::{Btf, BtfKind};

/// The kind of a global data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// `.data`, `.data.*`: read-write, initialized.
    Data,
    /// `.rodata`, `.rodata.*`: read-only for programs, frozen after load.
    Rodata,
    /// `.bss`, `.bss.*`: zero-initialized.
    Bss,
    /// `.kconfig`: the values of `.kconfig` externs, filled by the loader.
    Kconfig,
}

/// Linkage of a global variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarLinkage {
    /// `static` (or a global with hidden visibility).
    Static,
    /// Global (visible to user space through a skeleton).
    Global,
}

/// A variable inside a data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The variable name.
    pub name: String,
    /// Byte offset within the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// The BTF VAR's type (`None` without BTF).
    pub btf_type_id: Option<u32>,
    /// The BTF VAR's id (`None` without BTF).
    pub btf_var_id: Option<u32>,
    /// Linkage (hidden globals count as static, as libbpf makes them).
    pub linkage: VarLinkage,
}

/// A global data section and its initial bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSection {
    pub(crate) name: String,
    pub(crate) elf_index: Option<usize>,
    pub(crate) kind: DataKind,
    pub(crate) map_name: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) btf_datasec_id: Option<u32>,
}

impl DataSection {
    /// The ELF section name (`.rodata`, `.data.foo`, `.kconfig`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ELF section index (`None` for `.kconfig`, which has no ELF section).
    pub fn elf_index(&self) -> Option<usize> {
        self.elf_index
    }

    /// The kind.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The internal map's name as libbpf forms it (`<obj prefix>.rodata`, `.data.foo`).
    pub fn map_name(&self) -> &str {
        &self.map_name
    }

    /// The current bytes (initial values plus what was set; zeros for `.bss`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, mutable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Size in bytes (the map's value size).
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Whether programs see it read-only (`.rodata*`, `.kconfig`: `BPF_F_RDONLY_PROG`, frozen).
    pub fn is_read_only(&self) -> bool {
        matches!(self.kind, DataKind::Rodata | DataKind::Kconfig)
    }

    /// Whether libbpf would make the map mmapable: the section has a BTF DATASEC and some
    /// variable in it is global (not static, not hidden).
    pub fn is_mmapable(&self) -> bool {
        self.btf_datasec_id.is_some()
            && self
                .variables
                .iter()
                .any(|v| v.linkage == VarLinkage::Global)
    }

    /// The BTF DATASEC of this section, when the object has one.
    pub fn btf_datasec_id(&self) -> Option<u32> {
        self.btf_datasec_id
    }

    /// The variables, by offset.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The variable named `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    fn var_range(&self, name: &str) -> Result<(std::ops::Range<usize>, u32), ObjectError> {
        let v = self
            .variable(name)
            .ok_or_else(|| ObjectError::NoSuchVariable {
                section: self.name.clone(),
                name: name.to_string(),
            })?;
        let start = v.offset as usize;
        let end = start.saturating_add(v.size as usize);
        if end > self.bytes.len() {
            return Err(ObjectError::section(
                &self.name,
                format!("variable {name} at {start}..{end} is past the section end"),
            ));
        }
        Ok((start..end, v.size))
    }

    /// The bytes of variable `name`.
    pub fn get(&self, name: &str) -> Result<&[u8], ObjectError> {
        let (r, _) = self.var_range(name)?;
        Ok(&self.bytes[r])
    }

    /// Set variable `name` to `value`, which must have the variable's size.
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), ObjectError> {
        let (r, size) = self.var_range(name)?;
        if value.len() != size as usize {
            return Err(ObjectError::VariableSize {
                section: self.name.clone(),
                name: name.to_string(),
                expected: size,
                got: value.len(),
            });
        }
        self.bytes[r].copy_from_slice(value);
        Ok(())
    }

    /// Set variable `name` to a typed value (host byte order), checking its size.
    pub fn set_value<T: VarValue + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), ObjectError> {
        let mut buf = Vec::new();
        value.write_ne(&mut buf);
        self.set(name, &buf)
    }
}

/// A value that can be written into a global variable: integers, `bool`, and arrays and
/// slices of them, in host byte order.
pub trait VarValue {
    /// Append the value's bytes.
    fn write_ne(&self, out: &mut Vec<u8>);
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl VarValue for $t {
            fn write_ne(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_ne_bytes());
            }
        }
    )*};
}
int_value!(u8, u16, u32, u64, i8, i16, i32, i64);

impl VarValue for bool {
    fn write_ne(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: VarValue> VarValue for [T] {
    fn write_ne(&self, out: &mut Vec<u8>) {
        for v in self {
            v.write_ne(out);
        }
    }
}

impl<T: VarValue, const N: usize> VarValue for [T; N] {
    fn write_ne(&self, out: &mut Vec<u8>) {
        self.as_slice().write_ne(out);
    }
}

/// libbpf's internal map name for the data section `section` of object `obj_name`: as much
/// of the object name as fits before the section name (at least 7 characters reserved for
/// it), 15 characters in all; a section name with a second dot (`.data.foo`) stands alone;
/// characters other than `[A-Za-z0-9_.]` become `_`.
pub fn internal_map_name(obj_name: &str, section: &str) -> String {
    const MAX: usize = 15; // BPF_OBJ_NAME_LEN - 1
    let sfx_len = section.len().clamp(7, MAX);
    let custom = section.get(1..).is_some_and(|rest| rest.contains('.'));
    let pfx_len = if custom {
        0
    } else {
        (MAX - sfx_len).min(obj_name.len())
    };
    let name: Vec<u8> = obj_name
        .bytes()
        .take(pfx_len)
        .chain(section.bytes().take(sfx_len))
        .take(MAX)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b
            } else {
                b'_'
            }
        })
        .collect();
    // Every byte is ASCII after the mapping above.
    String::from_utf8_lossy(&name).into_owned()
}

/// Build the data sections (in ELF order) with their variables.
pub(super) fn collect(
    elf: &ElfFile<'_>,
    roles: &[SecRole],
    btf: Option<&Btf>,
    obj_name: &str,
) -> Result<Vec<DataSection>, ObjectError> {
    let mut out = Vec::new();
    for (idx, role) in roles.iter().enumerate() {
        let SecRole::Data(kind) = *role else {
            continue;
        };
        let name = elf.sections[idx].name.to_string();
        let bytes = nobits_or_data(elf, idx)?;
        let datasec = btf.and_then(|b| b.type_by_name_kind(&name, BtfKind::Datasec));
        let mut variables = match (btf, datasec) {
            (Some(b), Some(ds)) => btf_variables(elf, idx, &name, b, ds)?,
            _ => symbol_variables(elf, idx),
        };
        variables.sort_by(|a, b| a.offset.cmp(&b.offset).then_with(|| a.name.cmp(&b.name)));
        for v in &variables {
            if u64::from(v.offset) + u64::from(v.size) > bytes.len() as u64 {
                return Err(ObjectError::section(
                    &name,
                    format!(
                        "variable {} at {}+{} is past the section end ({})",
                        v.name,
                        v.offset,
                        v.size,
                        bytes.len()
                    ),
                ));
            }
        }
        out.push(DataSection {
            map_name: internal_map_name(obj_name, &name),
            name,
            elf_index: Some(idx),
            kind,
            bytes,
            variables,
            btf_datasec_id: datasec.map(|d| d.id()),
        });
    }
    Ok(out)
}

/// Variables from the DATASEC: offsets of globals from their ELF symbols (clang may leave
/// the DATASEC's zero), hidden globals static, as libbpf's DATASEC fix-up makes them.
fn btf_variables(
    elf: &ElfFile<'_>,
    idx: usize,
    sec: &str,
    btf: &Btf,
    ds: crate::btf::Type<'_>,
) -> Result<Vec<Variable>, ObjectError> {
    let syms: HashMap<&str, &ElfSymbol<'_>> = elf.by_section[idx]
        .iter()
        .filter_map(|&i| elf.symbol(i))
        .filter(|s| s.is_global() && s.typ != STT_SECTION)
        .map(|s| (&*s.name, s))
        .collect();
    let berr = |e: crate::btf::BtfError| ObjectError::section(sec, e.to_string());
    let mut out = Vec::new();
    for vi in ds.datasec_vars().into_iter().flatten() {
        let var = btf.type_by_id(vi.type_id).map_err(berr)?;
        if var.kind() != BtfKind::Var {
            continue;
        }
        let name = var.name().map_err(berr)?;
        let sym = syms.get(name);
        let global = var.var_linkage() == Some(crate::btf::VarLinkage::Global);
        let (offset, hidden) = match (global, sym) {
            (true, Some(s)) => (u32::try_from(s.value).unwrap_or(u32::MAX), s.hidden),
            _ => (vi.offset, false),
        };
        let size = if vi.size != 0 {
            vi.size
        } else {
            btf.type_size(var.size_or_type()).map_err(berr)?
        };
        out.push(Variable {
            name: name.to_string(),
            offset,
            size,
            btf_type_id: Some(var.size_or_type()),
            btf_var_id: Some(var.id()),
            linkage: if global && !hidden {
                VarLinkage::Global
            } else {
                VarLinkage::Static
            },
        });
    }
    Ok(out)
}

/// Variables from the ELF symbols of a section without a DATASEC.
fn symbol_variables(elf: &ElfFile<'_>, idx: usize) -> Vec<Variable> {
    elf.by_section[idx]
        .iter()
        .filter_map(|&i| elf.symbol(i))
        .filter(|s| s.typ == STT_OBJECT && !s.name.is_empty())
        .map(|s| Variable {
            name: s.name.to_string(),
            offset: u32::try_from(s.value).unwrap_or(u32::MAX),
            size: u32::try_from(s.size).unwrap_or(u32::MAX),
            btf_type_id: None,
            btf_var_id: None,
            linkage: if s.is_global() && !s.hidden {
                VarLinkage::Global
            } else {
                VarLinkage::Static
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_map_names_follow_libbpf() {
        assert_eq!(
            internal_map_name("my_object_name", ".rodata"),
            "my_objec.rodata"
        );
        assert_eq!(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
        assert_eq!(internal_map_name("minimal", ".data"), "minimal.data");
        assert_eq!(internal_map_name("globals", ".kconfig"), "globals.kconfig");
        assert_eq!(internal_map_name("x", ".data.foo"), ".data.foo");
        assert_eq!(
            internal_map_name("x", ".rodata.very_long_name"),
            ".rodata.very_lo"
        );
        assert_eq!(internal_map_name("a-b", ".bss"), "a_b.bss");
        assert_eq!(internal_map_name("", ".rodata"), ".rodata");
        assert_eq!(internal_map_name("abcdefgh", ".kconfig"), "abcdefg.kconfig");
        assert_eq!(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
    }

    #[test]
    fn set_checks_names_and_sizes() {
        let mut d = DataSection {
            name: ".rodata".into(),
            elf_index: Some(3),
            kind: DataKind::Rodata,
            map_name: "x.rodata".into(),
            bytes: vec![0; 8],
            variables: vec![Variable {
                name: "targ_uid".into(),
                offset: 4,
                size: 4,
                btf_type_id: None,
                btf_var_id: None,
                linkage: VarLinkage::Global,
            }],
            btf_datasec_id: Some(7),
        };
        d.set_value("targ_uid", &1000u32).unwrap();
        assert_eq!(d.get("targ_uid").unwrap(), 1000u32.to_ne_bytes());
        assert!(matches!(
            d.set_value("targ_uid", &1u64),
            Err(ObjectError::VariableSize {
                expected: 4,
                got: 8,
                ..
            })
        ));
        assert!(matches!(
            d.set("nope", &[0]),
            Err(ObjectError::NoSuchVariable { .. })
        ));
        assert!(d.is_read_only() && d.is_mmapable());
    }
}
