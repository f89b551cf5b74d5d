//! Section-level relocations: maps, global data and externs in `ld_imm64`s, and kfunc calls
//! (libbpf's `bpf_object__relocate_data`). Map `imm`s stay 0 here; [`MapRef`]s tell the
//! loader where to write each map's fd.

use std::collections::HashMap;

use super::error::RelocateError;
use super::externs::ExternValue;
use super::program::{MapRef, MapRefKind, MapSlot, ModuleRef};
use crate::insn::opcode::{pseudo, POISON_KFUNC_BASE};
use crate::insn::{asm, Insn};
use crate::object::{DataKind, ExternKind, Object, ProgSection, RelocTarget};

/// The references section-level relocation found, by (section, instruction).
#[derive(Default)]
pub(crate) struct Refs {
    pub maps: HashMap<(usize, usize), MapRef>,
    pub modules: HashMap<(usize, usize), ModuleRef>,
}

/// Applies every map, data and extern relocation of section `sidx` to `insns`.
pub(crate) fn relocate_section(
    obj: &Object,
    sidx: usize,
    section: &ProgSection,
    insns: &mut [Insn],
    externs: &[ExternValue],
    refs: &mut Refs,
) -> Result<(), RelocateError> {
    let kconfig = obj
        .data_sections()
        .iter()
        .position(|d| d.kind() == DataKind::Kconfig);
    for r in &section.relocs {
        let at = r.insn;
        let wrong = |found: &Insn, expected: &'static str| RelocateError::WrongInstruction {
            section: section.name.clone(),
            insn: at,
            symbol: r.symbol.clone(),
            found: format!("opcode {:#04x}", found.code),
            expected,
        };
        let missing = |what: &'static str| RelocateError::MissingTarget {
            section: section.name.clone(),
            insn: at,
            symbol: r.symbol.clone(),
            what,
        };
        let Some(&insn) = insns.get(at) else {
            return Err(missing("instruction"));
        };
        let ld_imm64 = |insns: &[Insn]| -> Result<(), RelocateError> {
            if insn.is_ld_imm64() && at + 1 < insns.len() {
                Ok(())
            } else {
                Err(wrong(&insn, "an ld_imm64"))
            }
        };
        match r.target {
            RelocTarget::Map(m) => {
                ld_imm64(insns)?;
                if m >= obj.maps().len() {
                    return Err(missing("map"));
                }
                insns[at].set_src(pseudo::MAP_FD);
                insns[at].imm = 0;
                refs.maps.insert(
                    (sidx, at),
                    MapRef {
                        insn: at,
                        map: MapSlot::Map(m),
                        kind: MapRefKind::Fd,
                    },
                );
            }
            RelocTarget::Data { section: d, offset } => {
                ld_imm64(insns)?;
                if d >= obj.data_sections().len() {
                    return Err(missing("data section"));
                }
                map_value(insns, at, offset as u32);
                refs.maps.insert(
                    (sidx, at),
                    MapRef {
                        insn: at,
                        map: MapSlot::Data(d),
                        kind: MapRefKind::Value,
                    },
                );
            }
            RelocTarget::Extern(e) => {
                let ext = obj.externs().get(e).ok_or_else(|| missing("extern"))?;
                let value = externs.get(e).cloned().unwrap_or_default();
                if !value.is_resolved()
                    && !ext.weak
                    && !matches!(ext.kind, ExternKind::Kconfig { .. })
                {
                    return Err(RelocateError::UnresolvedExtern {
                        name: ext.name.clone(),
                        what: match ext.kind {
                            ExternKind::Kfunc { .. } => "kfunc",
                            _ => "ksym",
                        },
                        why: "not found in the kernel".into(),
                    });
                }
                match (&ext.kind, value) {
                    (ExternKind::Kconfig { offset, .. }, _) => {
                        ld_imm64(insns)?;
                        let k = kconfig.ok_or_else(|| missing("data section"))?;
                        map_value(insns, at, *offset);
                        refs.maps.insert(
                            (sidx, at),
                            MapRef {
                                insn: at,
                                map: MapSlot::Data(k),
                                kind: MapRefKind::Value,
                            },
                        );
                    }
                    (ExternKind::Kfunc { .. }, v) if insn.is_ld_imm64() => {
                        // A kfunc's address (`bpf_ksym_exists(f)`): its BTF id, or 0.
                        ld_imm64(insns)?;
                        match v {
                            ExternValue::Kfunc { btf_id, module } => {
                                insns[at].set_src(pseudo::BTF_ID);
                                insns[at].imm = btf_id as i32;
                                insns[at + 1].imm = 0;
                                if let Some(module) = module {
                                    refs.modules.insert(
                                        (sidx, at),
                                        ModuleRef {
                                            insn: at,
                                            module,
                                            is_call: false,
                                        },
                                    );
                                }
                            }
                            _ => {
                                insns[at].imm = 0;
                                insns[at + 1].imm = 0;
                            }
                        }
                    }
                    (ExternKind::Kfunc { .. }, v) => {
                        if !insn.is_call() {
                            return Err(wrong(&insn, "a call"));
                        }
                        match v {
                            ExternValue::Kfunc { btf_id, module } => {
                                let slot = &mut insns[at];
                                slot.set_src(pseudo::KFUNC_CALL);
                                slot.imm = btf_id as i32;
                                slot.off = 0;
                                if let Some(module) = module {
                                    refs.modules.insert(
                                        (sidx, at),
                                        ModuleRef {
                                            insn: at,
                                            module,
                                            is_call: true,
                                        },
                                    );
                                }
                            }
                            // An unresolved weak kfunc: guarded calls still load.
                            _ => insns[at] = asm::call_helper(POISON_KFUNC_BASE + e as i32),
                        }
                    }
                    (_, v) => {
                        ld_imm64(insns)?;
                        match v {
                            ExternValue::TypedKsym { btf_id, module } => {
                                insns[at].set_src(pseudo::BTF_ID);
                                insns[at].imm = btf_id as i32;
                                insns[at + 1].imm = 0;
                                if let Some(module) = module {
                                    refs.modules.insert(
                                        (sidx, at),
                                        ModuleRef {
                                            insn: at,
                                            module,
                                            is_call: false,
                                        },
                                    );
                                }
                            }
                            ExternValue::Address(a) => {
                                insns[at].imm = a as u32 as i32;
                                insns[at + 1].imm = (a >> 32) as u32 as i32;
                            }
                            _ => {
                                // Unresolved weak: reads as 0.
                                insns[at].imm = 0;
                                insns[at + 1].imm = 0;
                            }
                        }
                    }
                }
            }
            // Calls and function addresses are fixed while linking.
            RelocTarget::Call { .. } => {
                if !insn.is_call() {
                    return Err(wrong(&insn, "a call"));
                }
            }
            RelocTarget::FuncAddr { .. } => {
                ld_imm64(insns)?;
                insns[at].set_src(pseudo::FUNC);
            }
            RelocTarget::Arena { .. } | RelocTarget::JumpTable { .. } => {
                // Arena globals and jump tables need their maps; they come with arena support.
                return Err(missing(match r.target {
                    RelocTarget::Arena { .. } => "arena map (not supported yet)",
                    _ => "jump table map (not supported yet)",
                }));
            }
        }
    }
    Ok(())
}

fn map_value(insns: &mut [Insn], at: usize, offset: u32) {
    insns[at].set_src(pseudo::MAP_VALUE);
    insns[at].imm = 0;
    insns[at + 1].imm = offset as i32;
}
