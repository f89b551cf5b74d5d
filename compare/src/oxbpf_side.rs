//! oxbpf's side of the differential check: the loader's preparation (externs resolved against
//! the running kernel, struct_ops targets, CO-RE, subprogram linking, map/global-data/kconfig/
//! ksym/kfunc relocations) — everything before the first map is created — for every program
//! the loader would load (autoload on, as with libbpf).

use std::path::Path;

use oxbpf::loader::Loader;
use oxbpf::object::Object;
use oxbpf::relocate::MapSlot;

use crate::diff::RelocatedProgram;

/// oxbpf's final instructions for every program of `object` against `target_btf`
/// (`None`: the running kernel's BTF), map references named as the object spells them.
pub fn relocate(object: &Path, target_btf: Option<&Path>) -> Result<Vec<RelocatedProgram>, String> {
    let mut obj = Object::open(object).map_err(|e| e.to_string())?;
    let mut loader = Loader::new();
    if let Some(t) = target_btf {
        loader = loader.target_btf(t);
    }
    let relocated = loader.prepare(&mut obj).map_err(|e| e.to_string())?;
    Ok(relocated
        .programs
        .into_iter()
        .map(|p| {
            let map_refs = p
                .map_refs
                .iter()
                .map(|r| {
                    let name = match r.map {
                        MapSlot::Map(i) => obj.maps().get(i).map(|m| m.name.clone()),
                        MapSlot::Data(i) => {
                            obj.data_sections().get(i).map(|d| d.name().to_string())
                        }
                    };
                    (r.insn, name.unwrap_or_default())
                })
                .collect();
            RelocatedProgram {
                name: p.name,
                insns: p.insns,
                map_refs,
            }
        })
        .collect())
}
