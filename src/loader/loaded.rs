//! [`Loaded`]: what a load produced — the programs (fds), the maps, the object's BTF in the
//! kernel — owned together; dropping it closes everything (pinned maps stay pinned).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::error::{LoadError, ProgramLoadError};
use super::programs::LoadReport;
use crate::maps::{Map, MmapArray};
use crate::object::{AutoAttach, DataKind, Variable};
use crate::programs::{
    attach_auto, attach_auto_with, AttachError, AutoAttachContext, Link, Program, UsdtMaps,
};
use crate::relocate::core::CoreDecision;

/// One loaded program: a [`Program`] (every attach method, test runs, pinning, info) with
/// what its section said and how its load went.
#[derive(Debug)]
pub struct LoadedProgram {
    pub(crate) program: Program,
    pub(crate) section: String,
    pub(crate) auto_attach: AutoAttach,
    pub(crate) retprobe: bool,
    pub(crate) attach_target: Option<String>,
    pub(crate) report: LoadReport,
}

impl std::ops::Deref for LoadedProgram {
    type Target = Program;
    fn deref(&self) -> &Program {
        &self.program
    }
}

impl LoadedProgram {
    /// Its ELF section.
    pub fn section(&self) -> &str {
        &self.section
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
        self.program.as_fd()
    }
    /// The [`Program`].
    pub fn program(&self) -> &Program {
        &self.program
    }
    /// Takes the [`Program`] out.
    pub fn into_program(self) -> Program {
        self.program
    }
    /// Whether the section names something to attach to by itself
    /// (`tracepoint/syscalls/sys_enter_openat`, `fentry/do_unlinkat`, `uprobe/...`).
    pub fn is_auto_attachable(&self) -> bool {
        self.auto_attach != AutoAttach::None
    }
    /// Attaches the program where its section says (see [`crate::programs::auto`]); an error
    /// names the program and why the section carries no usable target. USDT programs need
    /// the object's maps: use [`Loaded::attach`].
    // Same as every attach method of `Program`: the error is built on a cold path.
    #[allow(clippy::result_large_err)]
    pub fn attach(&self) -> Result<Link, AttachError> {
        attach_auto(
            &self.program,
            self.auto_attach,
            self.retprobe,
            self.attach_target.as_deref(),
        )
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
    /// `.struct_ops` maps registered at load, unregistered when these drop.
    pub(crate) struct_ops: Vec<(String, Link)>,
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
            .find(|p| p.name() == name)
            .ok_or_else(|| crate::object::ObjectError::NoSuchProgram(name.to_string()).into())
    }
    /// Takes the program named `name` out of the object.
    pub fn take_program(&mut self, name: &str) -> Result<LoadedProgram, LoadError> {
        let i = self
            .programs
            .iter()
            .position(|p| p.name() == name)
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

    fn usdt_maps(&self) -> Option<UsdtMaps<'_>> {
        let specs = self.map("__bpf_usdt_specs").ok()?;
        Some(UsdtMaps {
            specs: specs.map_fd(),
            ip_to_spec_id: self
                .map("__bpf_usdt_ip_to_spec_id")
                .ok()
                .map(|m| m.map_fd()),
        })
    }

    /// Attaches program `name` where its section says, with the object's maps at hand
    /// (USDT programs need `__bpf_usdt_specs`).
    pub fn attach(&self, name: &str) -> Result<Link, LoadAttachError> {
        let p = self
            .program(name)
            .map_err(|e| LoadAttachError::NoProgram(e.to_string()))?;
        let ctx = AutoAttachContext {
            usdt_maps: self.usdt_maps(),
        };
        Ok(attach_auto_with(
            &p.program,
            p.auto_attach,
            p.retprobe,
            p.attach_target.as_deref(),
            &ctx,
        )?)
    }

    /// Attaches every program whose section names its target (see
    /// [`LoadedProgram::is_auto_attachable`]) and registers every `.struct_ops.link` map; the
    /// first failure detaches what was attached and is returned.
    pub fn attach_all(&self) -> Result<Vec<Link>, LoadAttachError> {
        let mut links = Vec::new();
        for p in self.programs.iter().filter(|p| p.is_auto_attachable()) {
            links.push(self.attach(p.name())?);
        }
        for (name, map) in self.maps() {
            if map.map_type() == crate::syscall::MapType::STRUCT_OPS
                && map.flags().contains(crate::syscall::MapFlags::LINK)
            {
                links.push(self.attach_struct_ops(name)?);
            }
        }
        Ok(links)
    }

    /// Registers struct_ops map `name`: a `.struct_ops.link` map through a new link; for a
    /// `.struct_ops` map (registered at load), hands over the registration, which ends when
    /// the returned link drops.
    pub fn attach_struct_ops(&self, name: &str) -> Result<Link, LoadAttachError> {
        let map = self
            .map(name)
            .map_err(|e| LoadAttachError::NoProgram(e.to_string()))?;
        Ok(crate::programs::attach_struct_ops(map.as_fd(), name)?)
    }

    /// The registrations of `.struct_ops` maps made at load (they end when dropped with
    /// the object, or when the taken links drop).
    pub fn take_struct_ops_registrations(&mut self) -> Vec<(String, Link)> {
        std::mem::take(&mut self.struct_ops)
    }
}

/// Why [`Loaded::attach`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadAttachError {
    /// No program of that name was loaded.
    #[error("{0}")]
    NoProgram(String),
    /// The attach failed.
    #[error(transparent)]
    Attach(Box<AttachError>),
}

impl From<AttachError> for LoadAttachError {
    fn from(e: AttachError) -> Self {
        LoadAttachError::Attach(Box::new(e))
    }
}
