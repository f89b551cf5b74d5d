//! ELF object parsing: programs, maps, global data, externs and relocations.
//!
//! Pure: parses bytes, never makes a syscall. [`Object::parse`] reads a clang-built BPF
//! object written for libbpf's conventions into plain values:
//!
//! - [`ProgSection`]s (executable sections: instructions, decoded [`Reloc`]s) and the
//!   [`Function`]s in them; `.text` functions are subprograms, global functions of other
//!   sections are entry [`Program`]s classified by libbpf's `SEC()` table ([`section`]).
//! - [`MapDef`]s from `.maps` (BTF) and the legacy `maps` section.
//! - [`DataSection`]s (`.data`, `.rodata`, `.bss`, their `.*` variants, `.kconfig`) with
//!   their [`Variable`]s, settable by name before load.
//! - [`Extern`]s (`.kconfig`, `.ksyms`, kfuncs), license, kernel version, BTF and BTF.ext.
//!
//! ```no_run
//! let mut obj = oxbpf::object::Object::open("execsnoop.bpf.o")?;
//! obj.rodata_mut()?.set_value("targ_uid", &1000u32)?;
//! obj.program_mut("handle_exec")?.set_autoload(true);
//! obj.map_mut("events")?.set_max_entries(1 << 16);
//! # Ok::<(), oxbpf::object::ObjectError>(())
//! ```

mod btf_maps;
mod data;
mod elf;
mod error;
mod externs;
mod maps;
mod program;
mod relocs;
pub mod section;
mod struct_ops;

#[cfg(test)]
mod fixture_data_tests;
#[cfg(test)]
mod fixture_progs_tests;
#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod malformed_tests;
#[cfg(test)]
mod section_tests;
#[cfg(test)]
mod third_party_tests;

use std::path::Path;

pub use data::{internal_map_name, DataKind, DataSection, VarLinkage, VarValue, Variable};
pub use error::ObjectError;
pub use externs::{Extern, ExternKind, KconfigType};
pub use maps::{
    Iproute2Fields, MapDef, MapOrigin, Pinning, SlotTarget, StructOps, StructOpsProgram,
};
pub use program::{Binding, Function, ProgSection, Program};
pub use relocs::{Reloc, RelocTarget};
pub use section::{find_sec_def, AutoAttach, SecDef, SecFlags, SecInfo};

use crate::btf::{Btf, BtfExt};
use crate::insn::ByteOrder;

/// A parsed BPF object: everything the loader and relocator need, with no ELF left.
#[derive(Debug)]
pub struct Object {
    pub(crate) name: String,
    pub(crate) byte_order: ByteOrder,
    pub(crate) datasec_layout: crate::btf::DatasecLayout,
    pub(crate) warnings: Vec<ObjectError>,
    pub(crate) license: Option<String>,
    pub(crate) kern_version: Option<u32>,
    pub(crate) btf: Option<Btf>,
    pub(crate) btf_ext: Option<BtfExt>,
    pub(crate) prog_sections: Vec<ProgSection>,
    pub(crate) functions: Vec<Function>,
    pub(crate) programs: Vec<Program>,
    pub(crate) maps: Vec<MapDef>,
    pub(crate) data_sections: Vec<DataSection>,
    pub(crate) externs: Vec<Extern>,
    pub(crate) arena_data: Option<Vec<u8>>,
    pub(crate) jump_tables: Option<Vec<u8>>,
}

impl Object {
    /// Parse an object from its bytes; the object is named `obj` (libbpf names it after the
    /// file; see [`Object::parse_named`]).
    pub fn parse(data: &[u8]) -> Result<Object, ObjectError> {
        Self::parse_named(data, "obj")
    }

    /// Parse an object from its bytes, giving it a name (the prefix of its internal map
    /// names).
    pub fn parse_named(data: &[u8], name: &str) -> Result<Object, ObjectError> {
        elf::parse(data, name)
    }

    /// Read and parse the file at `path`, named after the file as libbpf does: its base name
    /// up to the first `.` (`execsnoop.bpf.o` → `execsnoop`).
    pub fn open(path: impl AsRef<Path>) -> Result<Object, ObjectError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| ObjectError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = object_name_from_path(path);
        Self::parse_named(&data, &name)
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the parser noticed but tolerates, as libbpf does (e.g. a `.maps` definition
    /// initialized with bytes other than `values`).
    pub fn warnings(&self) -> &[ObjectError] {
        &self.warnings
    }

    /// The ELF facts the DATASEC fix-up needs before the object's BTF is uploaded (section
    /// sizes, global variable symbols).
    pub fn datasec_layout(&self) -> &crate::btf::DatasecLayout {
        &self.datasec_layout
    }

    /// The byte order of the object.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// Whether this host can load the object (its byte order is the host's); other objects
    /// can be inspected but not loaded.
    pub fn is_loadable_on_host(&self) -> bool {
        self.byte_order == ByteOrder::NATIVE
    }

    /// The `license` section's string.
    pub fn license(&self) -> Option<&str> {
        self.license.as_deref()
    }

    /// The `version` section's kernel version.
    pub fn kern_version(&self) -> Option<u32> {
        self.kern_version
    }

    /// The object's BTF (`.BTF`).
    pub fn btf(&self) -> Option<&Btf> {
        self.btf.as_ref()
    }

    /// The object's `.BTF.ext`.
    pub fn btf_ext(&self) -> Option<&BtfExt> {
        self.btf_ext.as_ref()
    }

    /// The executable sections.
    pub fn prog_sections(&self) -> &[ProgSection] {
        &self.prog_sections
    }

    /// The executable section named `name`.
    pub fn prog_section(&self, name: &str) -> Option<&ProgSection> {
        self.prog_sections.iter().find(|s| s.name == name)
    }

    /// Every function (entry programs and subprograms).
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The function named `name`.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The entry programs.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&Program, ObjectError> {
        self.programs
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ObjectError::NoSuchProgram(name.to_string()))
    }

    /// The program named `name`, to change its type, autoload or attach target.
    pub fn program_mut(&mut self, name: &str) -> Result<&mut Program, ObjectError> {
        self.programs
            .iter_mut()
            .find(|p| p.name() == name)
            .ok_or_else(|| ObjectError::NoSuchProgram(name.to_string()))
    }

    /// The instructions of a program's function.
    pub fn program_insns(&self, program: &Program) -> &[crate::insn::Insn] {
        self.functions
            .get(program.function())
            .and_then(|f| {
                self.prog_sections
                    .get(f.section)
                    .and_then(|s| s.insns.get(f.insn_range()))
            })
            .unwrap_or_default()
    }

    /// The map definitions (BTF and legacy; not the global data maps).
    pub fn maps(&self) -> &[MapDef] {
        &self.maps
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Result<&MapDef, ObjectError> {
        self.maps
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ObjectError::NoSuchMap(name.to_string()))
    }

    /// The map named `name`, to change it before load.
    pub fn map_mut(&mut self, name: &str) -> Result<&mut MapDef, ObjectError> {
        self.maps
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| ObjectError::NoSuchMap(name.to_string()))
    }

    /// The global data sections (`.kconfig` last when present).
    pub fn data_sections(&self) -> &[DataSection] {
        &self.data_sections
    }

    /// The data section named `name` (`.rodata`, `.data.foo`, `.kconfig`).
    pub fn section_data(&self, name: &str) -> Result<&DataSection, ObjectError> {
        self.data_sections
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| ObjectError::NoSuchSection(name.to_string()))
    }

    /// The data section named `name`, to set variables before load.
    pub fn section_data_mut(&mut self, name: &str) -> Result<&mut DataSection, ObjectError> {
        self.data_sections
            .iter_mut()
            .find(|d| d.name == name)
            .ok_or_else(|| ObjectError::NoSuchSection(name.to_string()))
    }

    /// `.rodata`, to set `const volatile` variables before load.
    pub fn rodata_mut(&mut self) -> Result<&mut DataSection, ObjectError> {
        self.section_data_mut(".rodata")
    }

    /// `.data`.
    pub fn data_mut(&mut self) -> Result<&mut DataSection, ObjectError> {
        self.section_data_mut(".data")
    }

    /// `.bss`.
    pub fn bss_mut(&mut self) -> Result<&mut DataSection, ObjectError> {
        self.section_data_mut(".bss")
    }

    /// Sets global variable `name`, wherever it lives (`.rodata`, `.data`, `.bss` or their
    /// `.*` variants; not `.kconfig`), from text parsed through its BTF type
    /// ([`parse_value`](crate::btf::parse_value): integers range-checked, `true`/`false`,
    /// enumerator names, strings for `char` arrays). Without BTF the text must be an integer
    /// that fits the variable's size. Returns the section the variable is in.
    ///
    /// ```no_run
    /// let mut obj = oxbpf::object::Object::open("execsnoop.bpf.o")?;
    /// obj.set_variable_text("targ_uid", "1000")?;
    /// obj.set_variable_text("targ_comm", "bash")?;
    /// # Ok::<(), oxbpf::object::ObjectError>(())
    /// ```
    pub fn set_variable_text(&mut self, name: &str, text: &str) -> Result<&str, ObjectError> {
        let found = self.data_sections.iter().enumerate().find_map(|(i, d)| {
            if d.kind() == DataKind::Kconfig {
                return None;
            }
            d.variable(name).map(|v| (i, v.btf_type_id, v.size))
        });
        let Some((i, type_id, size)) = found else {
            return Err(ObjectError::NoSuchGlobal(name.to_string()));
        };
        let section = self.data_sections[i].name.clone();
        let bad = |source| ObjectError::VariableValue {
            section: section.clone(),
            name: name.to_string(),
            source,
        };
        let bytes = match (self.btf.as_ref(), type_id) {
            (Some(btf), Some(id)) => crate::btf::parse_value(btf, id, text).map_err(bad)?,
            _ => untyped_int(text, size, self.byte_order).map_err(bad)?,
        };
        self.data_sections[i].set(name, &bytes)?;
        Ok(&self.data_sections[i].name)
    }

    /// The externs (`.kconfig` ones first, in their layout order, then the others).
    pub fn externs(&self) -> &[Extern] {
        &self.externs
    }

    /// The extern named `name`.
    pub fn extern_by_name(&self, name: &str) -> Option<&Extern> {
        self.externs.iter().find(|e| e.name == name)
    }

    /// The initial bytes of the arena globals (`.addr_space.1`), if any.
    pub fn arena_data(&self) -> Option<&[u8]> {
        self.arena_data.as_deref()
    }

    /// The bytes of `.jumptables`, if any.
    pub fn jump_tables(&self) -> Option<&[u8]> {
        self.jump_tables.as_deref()
    }
}

/// A variable without BTF: an integer of its size (signed or not), in the object's order.
fn untyped_int(text: &str, size: u32, order: ByteOrder) -> Result<Vec<u8>, crate::btf::ValueError> {
    let err = |why: &str| crate::btf::ValueError::Parse {
        ty: format!("{size}-byte integer"),
        text: text.to_string(),
        why: why.to_string(),
    };
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(err(
            "without BTF only 1, 2, 4 and 8-byte integers can be set",
        ));
    }
    let t = text.trim();
    let v: i128 = if let Some(h) = t.strip_prefix("0x") {
        i128::from_str_radix(h, 16).map_err(|_| err("expected an integer"))?
    } else {
        t.parse().map_err(|_| err("expected an integer"))?
    };
    let bits = size * 8;
    if v < -(1i128 << (bits - 1)) || v >= (1i128 << bits) {
        return Err(err("out of range for the variable's size"));
    }
    let le = (v as u128).to_le_bytes();
    let mut out = le[..size as usize].to_vec();
    if order == ByteOrder::Big {
        out.reverse();
    }
    Ok(out)
}

/// libbpf's object name for a path: the base name up to its first `.`.
pub fn object_name_from_path(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match base.split_once('.') {
        Some((stem, _)) => stem.to_string(),
        None => base,
    }
}
