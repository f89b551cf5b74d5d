//! Test helpers: small BTFs built by hand, CO-RE records against them, and a relocation run.

use std::sync::Arc;

use crate::btf::{
    Btf, BtfBuilder, CoreRelo, CoreReloKind, EnumValueDef, IntInfo, MemberDef, TypeBody, TypeDef,
};
use crate::insn::Insn;

use super::{CoreDecision, CoreError, CoreRelocator, Targets};

/// A BTF under construction, with access strings added as oddly named typedefs at the end
/// (so the record's `access_str_off` points at them).
#[derive(Default)]
pub(super) struct B {
    pub b: BtfBuilder,
}

impl B {
    pub fn new() -> Self {
        Self::default()
    }
    fn add(&mut self, name: &str, body: TypeBody) -> u32 {
        self.b.add(TypeDef::named(name, body))
    }
    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let info = IntInfo {
            signed,
            char: false,
            bool: false,
            offset: 0,
            bits: (size * 8) as u8,
        };
        self.add(name, TypeBody::Int { size, info })
    }
    pub fn ptr(&mut self, ty: u32) -> u32 {
        self.add("", TypeBody::Ptr { ty })
    }
    pub fn array(&mut self, elem: u32, nelems: u32) -> u32 {
        let index = self.int("__ARRAY_SIZE_TYPE__", 4, false);
        self.add(
            "",
            TypeBody::Array {
                elem,
                index,
                nelems,
            },
        )
    }
    pub fn typedef(&mut self, name: &str, ty: u32) -> u32 {
        self.add(name, TypeBody::Typedef { ty })
    }
    pub fn konst(&mut self, ty: u32) -> u32 {
        self.add("", TypeBody::Const { ty })
    }
    pub fn fwd(&mut self, name: &str, union: bool) -> u32 {
        self.add(name, TypeBody::Fwd { union })
    }
    pub fn float(&mut self, name: &str, size: u32) -> u32 {
        self.add(name, TypeBody::Float { size })
    }
    /// Members as (name, type, bit offset, bitfield size).
    pub fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32, u32)]) -> u32 {
        let members = mdefs(members);
        self.add(name, TypeBody::Struct { size, members })
    }
    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32, u32)]) -> u32 {
        let members = mdefs(members);
        self.add(name, TypeBody::Union { size, members })
    }
    /// Reserve an id for a struct defined later (for self-references).
    pub fn placeholder(&mut self) -> u32 {
        self.add(
            "",
            TypeBody::Struct {
                size: 0,
                members: vec![],
            },
        )
    }
    pub fn set_struct(
        &mut self,
        id: u32,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32, u32)],
    ) {
        let members = mdefs(members);
        self.b
            .replace(id, TypeDef::named(name, TypeBody::Struct { size, members }));
    }
    pub fn enum32(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, u64)]) -> u32 {
        let values = edefs(values);
        self.add(
            name,
            TypeBody::Enum {
                size,
                signed,
                values,
            },
        )
    }
    pub fn enum64(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> u32 {
        let values = edefs(values);
        self.add(
            name,
            TypeBody::Enum64 {
                size: 8,
                signed,
                values,
            },
        )
    }
    pub fn func_proto(&mut self, ret: u32, params: &[u32]) -> u32 {
        let params = params
            .iter()
            .map(|&ty| crate::btf::ParamDef {
                name: String::new(),
                ty,
            })
            .collect();
        self.add("", TypeBody::FuncProto { ret, params })
    }
    pub fn build(&self) -> Arc<Btf> {
        self.b.build_arc().expect("test BTF builds")
    }
}

fn mdefs(members: &[(&str, u32, u32, u32)]) -> Vec<MemberDef> {
    members
        .iter()
        .map(|&(name, ty, bit_offset, bitfield_size)| MemberDef {
            name: name.into(),
            ty,
            bit_offset,
            bitfield_size,
        })
        .collect()
}

fn edefs(values: &[(&str, u64)]) -> Vec<EnumValueDef> {
    values
        .iter()
        .map(|&(name, value)| EnumValueDef {
            name: name.into(),
            value,
        })
        .collect()
}

/// A local BTF with records: build the types with `b`, then call [`Local::finish`] with
/// (kind, root type, access string) triples.
pub(super) struct Local {
    pub btf: Arc<Btf>,
    pub relos: Vec<CoreRelo>,
}

impl Local {
    pub fn finish(mut b: B, records: &[(CoreReloKind, u32, &str)]) -> Local {
        let int = b.int("int", 4, true);
        let ids: Vec<u32> = records.iter().map(|r| b.typedef(r.2, int)).collect();
        let btf = b.build();
        let relos = records
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (&(kind, type_id, _), access_id))| CoreRelo {
                insn_off: 8 * i as u32,
                type_id,
                access_str_off: btf
                    .type_by_id(access_id)
                    .expect("access typedef")
                    .name_off(),
                kind,
            })
            .collect();
        Local { btf, relos }
    }
}

/// `r0 = imm` instructions, one per record, holding the local values.
pub(super) fn alu_insns(vals: &[i32]) -> Vec<Insn> {
    vals.iter()
        .map(|&v| crate::insn::asm::mov64_imm(0, v))
        .collect()
}

/// Relocate `insns` (record i at instruction i) against `target`.
pub(super) fn run(
    local: &Local,
    target: &Arc<Btf>,
    insns: &mut [Insn],
) -> Result<Vec<CoreDecision>, CoreError> {
    let mut r = CoreRelocator::new(&local.btf, Targets::custom("target", target.clone()));
    r.relocate_section("test", &local.relos, insns)
}

/// Relocate one record whose instruction is `r0 = local`, returning the decision.
pub(super) fn one(
    b: B,
    kind: CoreReloKind,
    root: u32,
    access: &str,
    local_val: i32,
    target: &Arc<Btf>,
) -> Result<CoreDecision, CoreError> {
    let local = Local::finish(b, &[(kind, root, access)]);
    let mut insns = alu_insns(&[local_val]);
    run(&local, target, &mut insns).map(|mut d| d.remove(0))
}
