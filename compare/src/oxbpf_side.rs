//! oxbpf's side of the differential check.
//!
//! HOOK(oxbpf-relocate): [`relocate`] returns `None` until `oxbpf::relocate` /
//! `oxbpf::loader` land. Wiring it means, for `object` against `target_btf`:
//!
//! 1. parse the object (`oxbpf::object::Object::parse` over the file's bytes) and the target
//!    BTF (`oxbpf::btf::Btf::parse` of the file, raw BTF or an ELF's `.BTF`; `None`: vmlinux);
//! 2. run the same pure relocation the loader runs before `BPF_PROG_LOAD` (CO-RE, subprogram
//!    linking, map/global-data/kconfig/ksym/kfunc relocations), for every program the loader
//!    would load (autoload on, as libbpf);
//! 3. return, per program, `RelocatedProgram { name, insns, map_refs }`: `name` the function
//!    symbol, `insns` the final instructions with map fds as the relocator leaves them (any
//!    placeholder: [`crate::diff::normalise`] zeroes the `imm` of every listed ref), `map_refs`
//!    the `(ld_imm64 index, map name)` pairs, map names as the object spells them (the `.maps`
//!    variable, or `.rodata`/`.data.foo`/`.bss`/`.kconfig`).
//!
//! The differential test (`tests/differential.rs`) compares these with
//! [`crate::libbpf::prepare`]'s as soon as this returns `Some`.

use std::path::Path;

use crate::diff::RelocatedProgram;

/// oxbpf's final instructions for every program of `object` against `target_btf`
/// (`None`: the running kernel's BTF); `None` while the relocator is not wired.
pub fn relocate(
    object: &Path,
    target_btf: Option<&Path>,
) -> Option<Result<Vec<RelocatedProgram>, String>> {
    let _ = (object, target_btf);
    None
}
