//! Where CO-RE looks for target types: [`Targets`] (the kernel's vmlinux BTF and its module
//! BTFs, or a user-given BTF instead) and the candidate search by kind and essential name.

use std::fmt;
use std::sync::Arc;

use crate::btf::{essential_name, Btf, BtfKind};

use super::layout::pointer_size;

/// One target BTF and what CO-RE needs to know about it.
#[derive(Clone)]
pub struct TargetBtf {
    name: String,
    btf: Arc<Btf>,
    ptr_size: u32,
}

impl TargetBtf {
    fn new(name: String, btf: Arc<Btf>) -> Self {
        let ptr_size = pointer_size(&btf);
        TargetBtf {
            name,
            btf,
            ptr_size,
        }
    }

    /// Its name: `vmlinux`, a module name, or what a custom target was called.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The BTF.
    pub fn btf(&self) -> &Arc<Btf> {
        &self.btf
    }

    /// Pointer size of the machine it describes (from its `long`; 8 if it has none).
    pub fn pointer_size(&self) -> u32 {
        self.ptr_size
    }
}

impl fmt::Debug for TargetBtf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetBtf")
            .field("name", &self.name)
            .field("types", &self.btf.last_id())
            .field("ptr_size", &self.ptr_size)
            .finish()
    }
}

/// Loads module BTFs the first time a type is not found in vmlinux.
pub type ModuleLoader = Box<dyn FnOnce() -> Vec<(String, Arc<Btf>)> + Send>;

/// The BTFs CO-RE relocates against.
///
/// Candidates for a local type are searched in the primary target; only when it has none
/// are kernel module BTFs searched (each as split BTF on vmlinux, its own types only). A
/// custom target (`--btf other-kernel.btf`) replaces the kernel's, and then modules are never
/// searched — as libbpf does with `btf_custom_path`.
pub struct Targets {
    /// Index 0 is the primary target; modules follow once loaded.
    btfs: Vec<TargetBtf>,
    custom: bool,
    loader: Option<ModuleLoader>,
}

impl fmt::Debug for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Targets")
            .field("btfs", &self.btfs)
            .field("custom", &self.custom)
            .field("modules_pending", &self.loader.is_some())
            .finish()
    }
}

impl Targets {
    /// The running kernel's `vmlinux` BTF, without module BTFs (add them with
    /// [`Targets::with_modules`] or [`Targets::with_module_loader`]).
    pub fn kernel(vmlinux: Arc<Btf>) -> Self {
        Targets {
            btfs: vec![TargetBtf::new("vmlinux".into(), vmlinux)],
            custom: false,
            loader: None,
        }
    }

    /// A user-given target BTF that replaces the kernel's; modules are not searched.
    pub fn custom(name: impl Into<String>, btf: Arc<Btf>) -> Self {
        Targets {
            btfs: vec![TargetBtf::new(name.into(), btf)],
            custom: true,
            loader: None,
        }
    }

    /// Add kernel module BTFs (name, split BTF on vmlinux). Ignored for custom targets.
    pub fn with_modules(mut self, modules: impl IntoIterator<Item = (String, Arc<Btf>)>) -> Self {
        if !self.custom {
            self.btfs
                .extend(modules.into_iter().map(|(n, b)| TargetBtf::new(n, b)));
        }
        self
    }

    /// Load module BTFs lazily: `load` runs the first time a local type has no candidate
    /// in vmlinux (it may make syscalls; this module does not). Ignored for custom targets.
    pub fn with_module_loader(mut self, load: ModuleLoader) -> Self {
        if !self.custom {
            self.loader = Some(load);
        }
        self
    }

    /// The primary target.
    pub fn primary(&self) -> &TargetBtf {
        &self.btfs[0]
    }

    /// The target BTF at `index` (0 is the primary, then modules).
    pub fn get(&self, index: usize) -> Option<&TargetBtf> {
        self.btfs.get(index)
    }

    /// All target BTFs known so far.
    pub fn all(&self) -> &[TargetBtf] {
        &self.btfs
    }

    /// Whether the primary target is a user-given one.
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    fn load_modules(&mut self) {
        if let Some(load) = self.loader.take() {
            self.btfs
                .extend(load().into_iter().map(|(n, b)| TargetBtf::new(n, b)));
        }
    }

    /// Candidates for a local root type named `name` of kind `kind`: types of that kind
    /// (ENUM ≈ ENUM64) with the same essential name, in the primary target, else in the
    /// modules.
    pub(crate) fn find_candidates(&mut self, name: &str, kind: BtfKind) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self.btfs[0]
            .btf
            .ids_by_essential_name(name, kind)
            .into_iter()
            .map(|type_id| Candidate { target: 0, type_id })
            .collect();
        if !out.is_empty() || self.custom {
            return out;
        }
        self.load_modules();
        for (i, t) in self.btfs.iter().enumerate().skip(1) {
            let first = t.btf.first_id();
            out.extend(
                t.btf
                    .ids_by_essential_name(name, kind)
                    .into_iter()
                    .filter(|&id| id >= first)
                    .map(|type_id| Candidate { target: i, type_id }),
            );
        }
        out
    }

    /// Names of the BTFs a search that found nothing looked through.
    pub(crate) fn searched_names(&self) -> Vec<String> {
        self.btfs.iter().map(|t| t.name.clone()).collect()
    }
}

/// A target type that might correspond to a local type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Index into [`Targets`].
    pub target: usize,
    pub type_id: u32,
}

/// The essential name a local type is searched by.
pub(crate) fn search_name(name: &str) -> &str {
    essential_name(name)
}
