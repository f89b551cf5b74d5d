//! [`Loaded`]: what a load produced — the programs (fds), the maps, the object's BTF in the
//! kernel — owned together; dropping it closes everything (pinned maps stay pinned).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{LoadError, ProgramLoadError};
use super::programs::LoadReport;
use crate::maps::{Map, MmapArray};
use crate::object::{AutoAttach, DataKind, Variable};
use crate::relocate::core::CoreDecision;
use crate::syscall::{AttachType, ProgType};

/// One loaded program.
#[derive(Debug)]
pub struct LoadedProgram {
    pub(crate) fd: OwnedFd,
    pub(crate) name: String,
    pub(crate) section: String,
    pub(crate) prog_type: ProgType,
    pub(crate) expected_attach_type: Option<AttachType>,
    pub(crate) auto_attach: AutoAttach,
    pub(crate) retprobe: bool,
    pub(crate) attach_target: Option<String>,
    pub(crate) report: LoadReport,
}

impl LoadedProgram {
    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its ELF section.
    pub fn section(&self) -> &str {
        &self.section
    }
    /// The program type it was loaded as.
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }
    /// The expected attach type it was loaded with.
    pub fn expected_attach_type(&self) -> Option<AttachType> {
        self.expected_attach_type
    }
    /// How the section says to attach it.
    pub fn auto_attach(&self) -> AutoAttach {
        self.auto_attach
    }
    /// Whether the section makes it a return probe (kretprobe, uretprobe, ...).
    pub fn is_retprobe(&self) -> bool {
        self.retprobe
    }
    /// The attach target written in the section after the `/`.
    pub fn attach_target(&self) -> Option<&str> {
        self.attach_target.as_deref()
    }
    /// Load time, instruction count, verifier statistics.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }
    /// The program's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    /// Takes the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// A global data section's map, with its variables.
#[derive(Debug)]
pub struct GlobalData {
    pub(crate) section: String,
    pub(crate) kind: DataKind,
    pub(crate) map: Map,
    pub(crate) variables: Vec<Variable>,
}

impl GlobalData {
    /// The ELF section (`.bss`, `.rodata`, `.data.foo`).
    pub fn section(&self) -> &str {
        &self.section
    }
    /// Its kind.
    pub fn kind(&self) -> DataKind {
        self.kind
    }
    /// The internal array map.
    pub fn map(&self) -> &Map {
        &self.map
    }
    /// The variables inside.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }
    /// The variable named `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
    /// Maps the section's memory (no syscall per access afterwards); read-only for
    /// `.rodata`/`.kconfig`. Needs the map to be mmapable (some global variable in it).
    pub fn mmap(&self) -> Result<MmapArray, LoadError> {
        let map = self.map.try_clone()?;
        let prot = if matches!(self.kind, DataKind::Rodata | DataKind::Kconfig) {
            crate::syscall::Protection::ReadOnly
        } else {
            crate::syscall::Protection::ReadWrite
        };
        Ok(MmapArray::with_protection(map, prot)?)
    }
    /// Reads variable `name` through a syscall (works whether or not the map is mmapable),
    /// checking `T`'s size against the variable's.
    pub fn read<T: crate::syscall::Pod>(&self, name: &str) -> Result<T, LoadError> {
        let v = self.checked::<T>(name)?;
        let mut value = vec![0u8; self.map.value_len()];
        self.map.lookup(
            &0u32.to_ne_bytes(),
            &mut value,
            crate::syscall::ElemFlags::ANY,
        )?;
        let off = v.offset as usize;
        T::from_bytes(value.get(off..).unwrap_or_default())
            .ok_or_else(|| self.size_error::<T>(name))
    }
    fn checked<T>(&self, name: &str) -> Result<&Variable, LoadError> {
        let v = self.variable(name).ok_or_else(|| {
            LoadError::Object(crate::object::ObjectError::NoSuchVariable {
                section: self.section.clone(),
                name: name.to_string(),
            })
        })?;
        if v.size as usize != std::mem::size_of::<T>() {
            return Err(self.size_error::<T>(name));
        }
        Ok(v)
    }
    fn size_error<T>(&self, name: &str) -> LoadError {
        LoadError::Object(crate::object::ObjectError::VariableSize {
            section: self.section.clone(),
            name: name.to_string(),
            expected: self.variable(name).map(|v| v.size).unwrap_or(0),
            got: std::mem::size_of::<T>(),
        })
    }
}

/// A loaded object: its programs and maps.
#[derive(Debug)]
pub struct Loaded {
    pub(crate) name: String,
    pub(crate) programs: Vec<LoadedProgram>,
    pub(crate) maps: Vec<(String, Option<Map>)>,
    pub(crate) globals: Vec<GlobalData>,
    pub(crate) btf_fd: Option<OwnedFd>,
    pub(crate) failures: Vec<ProgramLoadError>,
    pub(crate) core: Vec<CoreDecision>,
    pub(crate) warnings: Vec<String>,
}

impl Loaded {
    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Every loaded program.
    pub fn programs(&self) -> &[LoadedProgram] {
        &self.programs
    }
    /// The program named `name`.
    pub fn program(&self, name: &str) -> Result<&LoadedProgram, LoadError> {
        self.programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| crate::object::ObjectError::NoSuchProgram(name.to_string()).into())
    }
    /// Takes the program named `name` out of the object.
    pub fn take_program(&mut self, name: &str) -> Result<LoadedProgram, LoadError> {
        let i = self
            .programs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| crate::object::ObjectError::NoSuchProgram(name.to_string()))?;
        Ok(self.programs.remove(i))
    }
    /// The maps (definitions of the object; global data through [`Loaded::global`]).
    pub fn maps(&self) -> impl Iterator<Item = (&str, &Map)> + '_ {
        self.maps
            .iter()
            .filter_map(|(n, m)| m.as_ref().map(|m| (n.as_str(), m)))
    }
    /// The map named `name`.
    pub fn map(&self, name: &str) -> Result<&Map, LoadError> {
        self.maps
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, m)| m.as_ref())
            .ok_or_else(|| crate::object::ObjectError::NoSuchMap(name.to_string()).into())
    }
    /// Takes the map named `name` (to turn it into a typed view, a ring buffer reader...).
    pub fn take_map(&mut self, name: &str) -> Result<Map, LoadError> {
        self.maps
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, m)| m.take())
            .ok_or_else(|| crate::object::ObjectError::NoSuchMap(name.to_string()).into())
    }
    /// Global data sections' maps.
    pub fn globals(&self) -> &[GlobalData] {
        &self.globals
    }
    /// The global data of section `section` (`.bss`, `.data`, `.rodata`, `.data.foo`).
    pub fn global(&self, section: &str) -> Result<&GlobalData, LoadError> {
        self.globals
            .iter()
            .find(|g| g.section == section)
            .ok_or_else(|| crate::object::ObjectError::NoSuchSection(section.to_string()).into())
    }
    /// `.bss`.
    pub fn bss(&self) -> Result<&GlobalData, LoadError> {
        self.global(".bss")
    }
    /// `.data`.
    pub fn data(&self) -> Result<&GlobalData, LoadError> {
        self.global(".data")
    }
    /// `.rodata`.
    pub fn rodata(&self) -> Result<&GlobalData, LoadError> {
        self.global(".rodata")
    }
    /// The object's BTF in the kernel, if it was uploaded.
    pub fn btf_fd(&self) -> Option<BorrowedFd<'_>> {
        self.btf_fd.as_ref().map(|f| f.as_fd())
    }
    /// Programs that failed to load (only with [`Loader::keep_going`](super::Loader::keep_going)).
    pub fn failures(&self) -> &[ProgramLoadError] {
        &self.failures
    }
    /// Every CO-RE decision taken.
    pub fn core_decisions(&self) -> &[CoreDecision] {
        &self.core
    }
    /// Things that went wrong without failing the load (BTF refused, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
