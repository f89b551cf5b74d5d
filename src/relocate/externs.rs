//! Externs as the loader resolved them, and how each reference is rewritten (libbpf's
//! `bpf_object__relocate_data` rules for `.kconfig`, `.ksyms` and kfuncs).

/// What the loader found for one extern (by index into
/// [`Object::externs`](crate::object::Object::externs)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExternValue {
    /// Not resolved. Weak externs read as zero (a kfunc call is poisoned); a strong one is an
    /// error at relocation.
    #[default]
    Missing,
    /// A `.kconfig` value, already written into the `.kconfig` data section: references
    /// become map-value loads of it.
    Kconfig,
    /// A typed ksym: the kernel BTF id of its VAR, in vmlinux or a module.
    TypedKsym {
        /// The VAR's id in the kernel's BTF.
        btf_id: u32,
        /// The module whose BTF holds it (`None`: vmlinux).
        module: Option<String>,
    },
    /// A typeless ksym: the symbol's address from kallsyms.
    Address(u64),
    /// A kfunc: the kernel BTF id of its FUNC.
    Kfunc {
        /// The FUNC's id in the kernel's BTF.
        btf_id: u32,
        /// The module whose BTF holds it (`None`: vmlinux).
        module: Option<String>,
    },
}

impl ExternValue {
    /// Whether the extern was resolved.
    pub fn is_resolved(&self) -> bool {
        !matches!(self, ExternValue::Missing)
    }
}
