//! [`Loader`]: options, then the pipeline — externs resolved, programs relocated (pure),
//! BTF uploaded, maps created, programs loaded, program-array slots filled.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::btf_upload;
use super::error::{LoadError, ProgramLoadError};
use super::externs::{self, ExternSources};
use super::kconfig::Kconfig;
use super::kernel_btf::{self, read_btf_file};
use super::loaded::{GlobalData, Loaded, LoadedProgram};
use super::maps::create_all;
use super::programs::{self, LoadSettings, ProgInputs};
use crate::btf::Btf;
use crate::features::{self, Feature};
use crate::object::{ExternKind, Object, SecFlags, SlotTarget};
use crate::programs::Program;
use crate::relocate::core::Targets;
use crate::relocate::{relocate, ExternValue, MapSlot, RelocateOptions, Relocated};
use crate::syscall::{self, ElemFlags, LogLevel};

/// Where CO-RE's target BTF comes from.
#[derive(Clone, Debug, Default)]
enum TargetSource {
    /// The running kernel's (vmlinux and modules).
    #[default]
    System,
    /// A file (raw BTF or an ELF with `.BTF`).
    File(PathBuf),
    /// A parsed BTF.
    Btf(Arc<Btf>),
}

/// Loads objects into the kernel. Options first, then [`Loader::load`].
///
/// ```no_run
/// use oxbpf::{loader::Loader, object::Object};
///
/// let mut obj = Object::open("execsnoop.bpf.o")?;
/// obj.rodata_mut()?.set_value("targ_uid", &1000u32)?;
/// let loaded = Loader::new().pin_root("/sys/fs/bpf/mytool").load(obj)?;
/// println!("{} programs", loaded.programs().len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Loader {
    target: TargetSource,
    pin_root: PathBuf,
    log_level: LogLevel,
    stats: bool,
    keep_going: bool,
    kconfig: Option<Kconfig>,
    externs: HashMap<String, ExternValue>,
    max_entries: HashMap<String, u32>,
    /// freplace (EXT) programs: target program and function.
    replace: HashMap<String, (Arc<OwnedFd>, String)>,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            target: TargetSource::System,
            pin_root: PathBuf::from("/sys/fs/bpf"),
            log_level: LogLevel::empty(),
            stats: false,
            keep_going: false,
            kconfig: None,
            externs: HashMap::new(),
            max_entries: HashMap::new(),
            replace: HashMap::new(),
        }
    }
}

impl Loader {
    /// A loader with the defaults: the running kernel's BTF, pins under `/sys/fs/bpf`, no
    /// verifier log unless a program fails.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Relocate against the running kernel's BTF (the default).
    pub fn btf_from_sys(mut self) -> Loader {
        self.target = TargetSource::System;
        self
    }

    /// Relocate against this BTF file instead of the kernel's (raw BTF, or an ELF with a
    /// `.BTF` section).
    pub fn target_btf(mut self, path: impl Into<PathBuf>) -> Loader {
        self.target = TargetSource::File(path.into());
        self
    }

    /// Relocate against this parsed BTF instead of the kernel's.
    pub fn target_btf_parsed(mut self, btf: Arc<Btf>) -> Loader {
        self.target = TargetSource::Btf(btf);
        self
    }

    /// The directory under which maps with `pinning` are pinned and reused.
    pub fn pin_root(mut self, dir: impl Into<PathBuf>) -> Loader {
        self.pin_root = dir.into();
        self
    }

    /// Load every program with this verifier log level (the log is kept in
    /// [`LoadReport::log`](super::LoadReport)); by default there is no log unless a load
    /// fails, and then level 1.
    pub fn log_level(mut self, level: LogLevel) -> Loader {
        self.log_level = level;
        self
    }

    /// Ask the verifier for statistics (instructions processed) on every load.
    pub fn verifier_stats(mut self, on: bool) -> Loader {
        self.stats = on;
        self
    }

    /// Keep loading the other programs when one fails; failures are in
    /// [`Loaded::failures`]. Without it, the first failure fails the load.
    pub fn keep_going(mut self, on: bool) -> Loader {
        self.keep_going = on;
        self
    }

    /// Use this configuration for `.kconfig` externs instead of the running kernel's.
    pub fn kconfig(mut self, kconfig: Kconfig) -> Loader {
        self.kconfig = Some(kconfig);
        self
    }

    /// Resolve extern `name` to `value` instead of asking the kernel.
    pub fn extern_value(mut self, name: impl Into<String>, value: ExternValue) -> Loader {
        self.externs.insert(name.into(), value);
        self
    }

    /// Override map `name`'s `max_entries`.
    pub fn max_entries(mut self, map: impl Into<String>, n: u32) -> Loader {
        self.max_entries.insert(map.into(), n);
        self
    }

    /// For a `freplace` (EXT) program: the loaded program whose function it replaces, and
    /// that function's name (libbpf's `bpf_program__set_attach_target`). The section's own
    /// target (`freplace/<function>`) is used when `function` is empty.
    pub fn replace_target(
        mut self,
        program: impl Into<String>,
        target: Arc<OwnedFd>,
        function: impl Into<String>,
    ) -> Loader {
        self.replace
            .insert(program.into(), (target, function.into()));
        self
    }

    fn target_btf_arc(&self) -> Result<(Arc<Btf>, bool), LoadError> {
        match &self.target {
            TargetSource::System => Ok((kernel_btf::vmlinux()?, false)),
            TargetSource::Btf(b) => Ok((b.clone(), true)),
            TargetSource::File(p) => {
                read_btf_file(p)
                    .map(|b| (Arc::new(b), true))
                    .map_err(|e| LoadError::TargetBtf {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Whether anything in `obj` needs kernel (or target) BTF.
    fn needs_btf(obj: &Object) -> bool {
        let core = obj
            .btf_ext()
            .is_some_and(|e| e.core_relos.iter().any(|s| !s.records.is_empty()));
        let attach = obj
            .programs()
            .iter()
            .any(|p| p.autoload() && p.flags().contains(SecFlags::ATTACH_BTF));
        let ksyms = obj.externs().iter().any(|e| {
            matches!(
                e.kind,
                crate::object::ExternKind::Kfunc { .. } | crate::object::ExternKind::Ksym { .. }
            )
        });
        let struct_ops = obj.maps().iter().any(|m| m.struct_ops.is_some());
        core || attach || ksyms || struct_ops
    }

    /// Relocates `obj` offline (no syscall except reading the target BTF): the instructions
    /// the kernel would get, but map `imm`s left 0. Externs resolve as far as that is
    /// possible offline: values given with [`Loader::extern_value`] first; `.kconfig`
    /// references become loads from the `.kconfig` map as at load (the values themselves are
    /// only known at load); kfuncs and typed ksyms are looked up in the target BTF (vmlinux
    /// only, no modules); typeless ksyms get address 0 as a placeholder. What stays
    /// unresolved reads as zero when weak and fails the relocation otherwise.
    pub fn relocate(&self, obj: &Object) -> Result<Relocated, LoadError> {
        let target = if Self::needs_btf(obj) {
            Some(self.target_btf_arc()?)
        } else {
            None
        };
        let externs: Vec<ExternValue> = obj
            .externs()
            .iter()
            .map(|e| {
                if let Some(v) = self.externs.get(&e.name) {
                    return v.clone();
                }
                let in_target = |kind| {
                    let (btf, _) = target.as_ref()?;
                    btf.id_by_name_kind(crate::btf::essential_name(&e.name), kind)
                };
                match e.kind {
                    ExternKind::Kconfig { .. } => ExternValue::Kconfig,
                    ExternKind::Ksym { type_id: 0 } => ExternValue::Address(0),
                    ExternKind::Ksym { .. } => in_target(crate::btf::BtfKind::Var)
                        .map(|btf_id| ExternValue::TypedKsym {
                            btf_id,
                            module: None,
                        })
                        .unwrap_or_default(),
                    ExternKind::Kfunc { .. } => in_target(crate::btf::BtfKind::Func)
                        .map(|btf_id| ExternValue::Kfunc {
                            btf_id,
                            module: None,
                        })
                        .unwrap_or_default(),
                    ExternKind::Unknown => ExternValue::Missing,
                }
            })
            .collect();
        let targets = target.map(|(btf, custom)| {
            if custom {
                Targets::custom("target", btf)
            } else {
                Targets::kernel(btf)
            }
        });
        Ok(relocate(
            obj,
            RelocateOptions {
                targets,
                externs: &externs,
                programs: None,
                arena_data_offset: 0,
            },
        )?)
    }

    /// Everything of [`Loader::load`] before the first map is created: externs resolved
    /// against the running system (`.kconfig` values written into the object's `.kconfig`
    /// section), struct_ops programs given their kernel targets, then the pure relocation.
    /// The instructions are what `BPF_PROG_LOAD` gets but for map fds (`imm` 0 where
    /// [`RelocatedProgram::map_refs`](crate::relocate::RelocatedProgram::map_refs) say).
    /// Reads kernel BTF, kconfig and kallsyms as needed; creates nothing. Objects of the
    /// other byte order are prepared too (their instructions decoded to host order), though
    /// they cannot be loaded.
    pub fn prepare(&self, obj: &mut Object) -> Result<Relocated, LoadError> {
        Ok(self.prepare_in_place(obj)?.relocated)
    }

    fn prepare_in_place(&self, obj: &mut Object) -> Result<Prepared, LoadError> {
        for (map, n) in &self.max_entries {
            obj.map_mut(map)?.set_max_entries(*n);
        }

        // Kernel/target BTF, only if the object needs it.
        let (target, custom) = if Self::needs_btf(obj) {
            let (b, c) = self.target_btf_arc()?;
            (Some(b), c)
        } else {
            (None, false)
        };
        // Externs resolve against the running kernel even with a custom CO-RE target.
        let kernel_vmlinux = if custom {
            kernel_btf::vmlinux().ok()
        } else {
            target.clone()
        };
        let values = externs::resolve(
            obj,
            &ExternSources {
                vmlinux: kernel_vmlinux.as_ref(),
                kconfig: self.kconfig.as_ref(),
                overrides: &self.externs,
            },
        )?;

        // struct_ops maps against the kernel's structs; their programs get the kernel struct
        // and member index, and those no map uses are not loaded (as with libbpf).
        let (struct_ops, so_targets) = super::struct_ops::plan(obj, kernel_vmlinux.as_ref())?;
        if !struct_ops.is_empty() || obj.maps().iter().any(|m| m.struct_ops.is_some()) {
            let names: Vec<(String, bool)> = obj
                .programs()
                .iter()
                .filter(|p| p.prog_type() == crate::syscall::ProgType::STRUCT_OPS)
                .map(|p| (p.name().to_string(), so_targets.contains_key(p.name())))
                .collect();
            for (name, used) in names {
                let p = obj.program_mut(&name)?;
                if used {
                    p.set_expected_attach_type(so_targets.get(&name).map(|t| t.1));
                } else {
                    p.set_autoload(false);
                }
            }
        }

        // Relocation (pure).
        let targets = target.as_ref().map(|b| {
            if custom {
                Targets::custom("target", b.clone())
            } else {
                Targets::kernel(b.clone()).with_module_loader(Box::new(kernel_btf::modules))
            }
        });
        let arena_data_offset = super::arena::data_offset(obj);
        let relocated = relocate(
            obj,
            RelocateOptions {
                targets,
                externs: &values,
                programs: None,
                arena_data_offset,
            },
        )?;
        Ok(Prepared {
            relocated,
            kernel_vmlinux,
            struct_ops,
            so_targets,
        })
    }

    /// Loads `obj`: maps created, programs loaded. See the module docs for the order.
    pub fn load(&self, mut obj: Object) -> Result<Loaded, LoadError> {
        if !obj.is_loadable_on_host() {
            return Err(LoadError::ForeignByteOrder(obj.name().to_string()));
        }
        let Prepared {
            relocated,
            kernel_vmlinux,
            struct_ops,
            so_targets,
        } = self.prepare_in_place(&mut obj)?;
        let mut warnings = Vec::new();

        // BTF upload, maps.
        let uploaded = btf_upload::upload(&obj);
        if let Some(w) = uploaded.warning {
            warnings.push(w);
        }
        let btf_fd = uploaded.fd;
        let btf_funcs = uploaded.funcs;
        let maps = create_all(
            &obj,
            btf_fd.as_ref().map(|f| f.as_fd()),
            &self.pin_root,
            &struct_ops,
        )?;

        // The arena's memory, with the `__arena` globals copied in.
        let arena = match obj
            .maps()
            .iter()
            .position(|m| m.map_type == crate::syscall::MapType::ARENA)
        {
            Some(i) if !maps.reused[i] => super::arena::populate(&obj, &maps.user[i])?,
            _ => None,
        };

        // Module BTF objects for kfuncs/ksyms in modules: fd_array slot 0 is vmlinux.
        let mut modules: Vec<(String, OwnedFd)> = Vec::new();
        for p in &relocated.programs {
            for r in &p.module_refs {
                if !modules.iter().any(|(m, _)| m == &r.module) {
                    modules.push((r.module.clone(), kernel_btf::kernel_btf_fd(&r.module)?));
                }
            }
        }
        let placeholder;
        let mut fd_array: Vec<BorrowedFd<'_>> = Vec::new();
        if !modules.is_empty() {
            placeholder = modules[0].1.as_fd();
            fd_array.push(placeholder);
            fd_array.extend(modules.iter().map(|(_, f)| f.as_fd()));
        }
        let module_slot = |name: &str| -> Option<(i16, BorrowedFd<'_>)> {
            modules
                .iter()
                .position(|(m, _)| m == name)
                .map(|i| ((i + 1) as i16, modules[i].1.as_fd()))
        };
        let map_fd = |slot: MapSlot| -> Option<BorrowedFd<'_>> {
            match slot {
                MapSlot::Map(i) => maps.user.get(i).map(|m| m.as_fd()),
                MapSlot::Data(i) => maps.data.get(i)?.as_ref().map(|m| m.as_fd()),
            }
        };
        let kern_version = obj
            .kern_version()
            .unwrap_or_else(externs::running_kernel_version);
        let settings = LoadSettings {
            log_level: self.log_level,
            stats: self.stats,
        };
        let bind_rodata = maps
            .data
            .iter()
            .zip(obj.data_sections())
            .find(|(m, d)| m.is_some() && super::maps::is_rodata(d))
            .and_then(|(m, _)| m.as_ref())
            .filter(|_| !features::testing::is_forced_missing(Feature::ProgBindMap));
        // Binding is best effort (as with libbpf): tried without a probe, and given up after
        // a kernel without BPF_PROG_BIND_MAP (5.10) refuses the command.
        let mut bind_ok = true;

        let mut loaded_programs = Vec::new();
        let mut failures: Vec<ProgramLoadError> = Vec::new();
        // Each program's instructions and records are dropped as soon as it is loaded.
        let Relocated {
            programs: relocated_programs,
            core: core_decisions,
        } = relocated;
        for rp in relocated_programs {
            let rp = &rp;
            let prog = &obj.programs()[rp.program];
            let attach_type = programs::expected_attach_type(prog);
            let replace = self.replace.get(prog.name());
            let outcome = match replace {
                Some((target, function)) => {
                    let f = if function.is_empty() {
                        prog.attach_target().unwrap_or_default()
                    } else {
                        function.as_str()
                    };
                    programs::replace_target(prog, target.as_fd(), f).map(Some)
                }
                None => match so_targets.get(prog.name()) {
                    Some((btf_id, _)) => Ok(Some(programs::AttachTarget {
                        btf_id: *btf_id,
                        obj_fd: None,
                    })),
                    None => programs::attach_target(prog, attach_type, kernel_vmlinux.as_ref()),
                },
            }
            .and_then(|attach| {
                programs::load(
                    rp,
                    &ProgInputs {
                        obj: &obj,
                        prog,
                        btf_fd: btf_fd.as_ref().map(|f| f.as_fd()),
                        btf_funcs,
                        map_fd: &map_fd,
                        fd_array: &fd_array,
                        module_slot: &module_slot,
                        attach_prog: replace.map(|(t, _)| t.as_fd()),
                        kern_version,
                        settings,
                    },
                    attach.as_ref(),
                )
            });
            match outcome {
                Ok((fd, report)) => {
                    if let (Some(ro), true) = (bind_rodata, bind_ok) {
                        if let Err(e) = syscall::prog_bind_map(fd.as_fd(), ro.as_fd()) {
                            bind_ok = e.errno != nix::errno::Errno::EINVAL;
                        }
                    }
                    let program =
                        Program::from_loaded(fd, prog.name(), prog.prog_type(), attach_type)
                            .with_section(prog.section_name());
                    loaded_programs.push(LoadedProgram {
                        program,
                        section: prog.section_name().to_string(),
                        auto_attach: prog.auto_attach(),
                        retprobe: prog.is_retprobe(),
                        attach_target: prog.attach_target().map(str::to_string),
                        report,
                    })
                }
                Err(LoadError::Program(e)) if self.keep_going => failures.push(*e),
                Err(e) => {
                    for p in &maps.pinned_here {
                        let _ = std::fs::remove_file(p);
                    }
                    return Err(e);
                }
            }
        }

        // Program-array slots, now that programs exist.
        for (i, def) in obj.maps().iter().enumerate() {
            if maps.reused.get(i).copied().unwrap_or(false) {
                continue;
            }
            for (slot, target) in def.initial_slots.iter().enumerate() {
                let Some(SlotTarget::Program(name)) = target else {
                    continue;
                };
                let Some(p) = loaded_programs.iter().find(|p| p.name() == name) else {
                    continue;
                };
                let fd = (p.fd().as_raw_fd() as u32).to_ne_bytes();
                maps.user[i].update(&(slot as u32).to_ne_bytes(), &fd, ElemFlags::ANY)?;
            }
        }

        // struct_ops values, now that their programs exist: a `.struct_ops` map registers here.
        let mut registered = Vec::new();
        for plan in &struct_ops {
            let mut data = plan.data.clone();
            let mut complete = true;
            for (off, prog) in &plan.slots {
                match loaded_programs.iter().find(|p| p.name() == prog) {
                    Some(p) => {
                        let fd = (p.fd().as_raw_fd() as u32).to_ne_bytes();
                        if let Some(dst) = data.get_mut(*off..*off + 8) {
                            dst[..4].copy_from_slice(&fd);
                            dst[4..].fill(0);
                        }
                    }
                    None => complete = false,
                }
            }
            if !complete {
                warnings.push(format!(
                    "struct_ops map `{}` not registered: one of its programs failed to load",
                    obj.maps()[plan.map].name
                ));
                continue;
            }
            let map = &maps.user[plan.map];
            let name = &obj.maps()[plan.map].name;
            map.update(&0u32.to_ne_bytes(), &data, ElemFlags::ANY)
                .map_err(|e| LoadError::StructOps {
                    map: name.clone(),
                    why: format!("registering: {e}"),
                })?;
            if !map.flags().contains(crate::syscall::MapFlags::LINK) {
                // Registered by the update: unregistered when this link (kept by `Loaded`)
                // drops, so dropping the object leaves nothing behind.
                let link = crate::programs::attach_struct_ops(map.as_fd(), name).map_err(|e| {
                    LoadError::StructOps {
                        map: name.clone(),
                        why: e.to_string(),
                    }
                })?;
                registered.push((name.clone(), link));
            }
        }

        let names: Vec<String> = obj.maps().iter().map(|m| m.name.clone()).collect();
        let globals = maps
            .data
            .into_iter()
            .zip(obj.data_sections())
            .filter_map(|(m, d)| {
                m.map(|map| GlobalData {
                    section: d.name().to_string(),
                    kind: d.kind(),
                    map,
                    variables: d.variables().to_vec(),
                })
            })
            .collect();
        Ok(Loaded {
            name: obj.name().to_string(),
            programs: loaded_programs,
            maps: names
                .into_iter()
                .zip(maps.user.into_iter().map(Some))
                .collect(),
            globals,
            btf_fd,
            failures,
            core: core_decisions,
            warnings,
            struct_ops: registered,
            arena,
            arena_data_offset: super::arena::data_offset(&obj),
        })
    }
}

/// What [`Loader::prepare_in_place`] hands to the syscall half of the load.
struct Prepared {
    relocated: Relocated,
    kernel_vmlinux: Option<Arc<Btf>>,
    struct_ops: Vec<super::struct_ops::StructOpsPlan>,
    so_targets: super::struct_ops::ProgramTargets,
}

/// The default pin root.
pub fn default_pin_root() -> &'static Path {
    Path::new("/sys/fs/bpf")
}
