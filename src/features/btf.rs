//! BTF probes: a few types using one kind, loaded with `BPF_BTF_LOAD`.
//!
//! The kernel's BTF checker rejects a kind or encoding it does not know with EINVAL, so a
//! blob that loads proves the feature. The blobs are built with [`BtfBuilder`] like the
//! BTF of an object would be.

use std::os::fd::{AsFd, OwnedFd};

use super::probe::{answer, ProbeError, PLAIN};
use super::{has, Feature};
use crate::btf::{
    Btf, BtfBuilder, BtfKind, EnumValueDef, FuncLinkage, IntInfo, MissingFeatures, ParamDef,
    TypeBody, TypeDef, VarLinkage, VarSecinfo,
};
use crate::syscall::{btf_info_with, btf_load, BtfLoad, SyscallError};

pub(crate) fn int_type(name: &str) -> TypeDef {
    TypeDef::named(
        name,
        TypeBody::Int {
            size: 4,
            info: IntInfo {
                signed: true,
                char: false,
                bool: false,
                offset: 0,
                bits: 32,
            },
        },
    )
}

/// Loads the builder's BTF. An encoding failure (a bug here, not a kernel answer) is
/// inconclusive.
pub(crate) fn load(
    probe: &str,
    b: &BtfBuilder,
) -> Result<Result<OwnedFd, SyscallError>, ProbeError> {
    let bytes = b.to_bytes().map_err(|e| ProbeError::Inconclusive {
        probe: probe.to_string(),
        reason: format!("cannot encode the probe's BTF: {e}"),
    })?;
    Ok(btf_load(&mut BtfLoad {
        btf: &bytes,
        ..Default::default()
    }))
}

fn probe(name: &str, b: &BtfBuilder) -> Result<bool, ProbeError> {
    answer(name, load(name, b)?, &PLAIN)
}

/// One INT.
pub(crate) fn btf() -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    b.add(int_type("int"));
    probe("btf", &b)
}

/// `void x(int a)`, static or global.
pub(crate) fn func(global: bool) -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let proto = b.add(TypeDef::anon(TypeBody::FuncProto {
        ret: 0,
        params: vec![ParamDef {
            name: "a".into(),
            ty: int,
        }],
    }));
    let linkage = if global {
        FuncLinkage::Global
    } else {
        FuncLinkage::Static
    };
    b.add(TypeDef::named("x", TypeBody::Func { proto, linkage }));
    probe(
        if global {
            "btf_global_func"
        } else {
            "btf_func"
        },
        &b,
    )
}

/// `static int x;` in a DATASEC named `section`.
pub(crate) fn datasec(section: &str) -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let var = b.add(TypeDef::named(
        "x",
        TypeBody::Var {
            ty: int,
            linkage: VarLinkage::Static,
        },
    ));
    b.add(TypeDef::named(
        section,
        TypeBody::Datasec {
            size: 4,
            vars: vec![VarSecinfo {
                type_id: var,
                offset: 0,
                size: 4,
            }],
        },
    ));
    let name = if section.starts_with('?') {
        "btf_qmark_datasec"
    } else {
        "btf_datasec"
    };
    probe(name, &b)
}

/// A 4-byte FLOAT.
pub(crate) fn float() -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    b.add(TypeDef::named("float", TypeBody::Float { size: 4 }));
    probe("btf_float", &b)
}

/// A DECL_TAG on a VAR.
pub(crate) fn decl_tag() -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let var = b.add(TypeDef::named(
        "x",
        TypeBody::Var {
            ty: int,
            linkage: VarLinkage::Static,
        },
    ));
    b.add(TypeDef::named(
        "tag",
        TypeBody::DeclTag {
            ty: var,
            component_idx: -1,
            attr: false,
        },
    ));
    probe("btf_decl_tag", &b)
}

/// A pointer to a TYPE_TAG'ed INT.
pub(crate) fn type_tag() -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    let int = b.add(int_type("int"));
    let tag = b.add(TypeDef::named(
        "tag",
        TypeBody::TypeTag {
            ty: int,
            attr: false,
        },
    ));
    b.add(TypeDef::anon(TypeBody::Ptr { ty: tag }));
    probe("btf_type_tag", &b)
}

/// An 8-byte ENUM64 with one enumerator.
pub(crate) fn enum64() -> Result<bool, ProbeError> {
    let mut b = BtfBuilder::new();
    b.add(TypeDef::named(
        "e",
        TypeBody::Enum64 {
            size: 8,
            signed: false,
            values: vec![EnumValueDef {
                name: "E".into(),
                value: 1 << 40,
            }],
        },
    ));
    probe("btf_enum64", &b)
}

/// Module BTF came with `name`/`name_len` in `bpf_btf_info`: a kernel that knows them fills
/// the name, an older one refuses the non-zero tail with E2BIG (EINVAL before 5.x's tail
/// check).
pub(crate) fn module_btf() -> Result<bool, ProbeError> {
    const NAME: &str = "module_btf";
    if !has(Feature::Btf)? {
        return Ok(false);
    }
    let mut b = BtfBuilder::new();
    b.add(int_type("int"));
    let fd = match load(NAME, &b)? {
        Ok(fd) => fd,
        Err(e) => return answer::<()>(NAME, Err(e), &PLAIN),
    };
    let mut name = [0u8; 16];
    answer(NAME, btf_info_with(fd.as_fd(), &mut [], &mut name), &PLAIN)
}

/// The BTF rewrites a load needs on this kernel: each field is `true` when the kernel lacks
/// that kind (or [`testing`](super::testing) forces it missing). A kernel without BTF at all
/// lacks everything; check [`Feature::Btf`] to skip the upload instead.
///
/// A missing FUNC implies missing global FUNC linkage.
pub fn missing_btf_features() -> Result<MissingFeatures, ProbeError> {
    missing_among(&[true; Feature::COUNT])
}

/// Like [`missing_btf_features`], but probing only for the kinds `btf` uses: a kind the BTF
/// does not hold needs no rewrite, so its probe (a `BPF_BTF_LOAD` round trip) is skipped and
/// it reads as present.
pub fn missing_btf_features_in(btf: &Btf) -> Result<MissingFeatures, ProbeError> {
    let mut uses = [false; Feature::COUNT];
    for t in btf.local_types() {
        let f = match t.kind() {
            BtfKind::Func if t.func_linkage() == Some(FuncLinkage::Global) => {
                uses[Feature::BtfFunc as usize] = true;
                Feature::BtfGlobalFunc
            }
            BtfKind::Func | BtfKind::FuncProto => Feature::BtfFunc,
            BtfKind::Var => Feature::BtfDatasec,
            BtfKind::Datasec => {
                if t.name_bytes().is_ok_and(|n| n.starts_with(b"?")) {
                    uses[Feature::BtfQmarkDatasec as usize] = true;
                }
                Feature::BtfDatasec
            }
            BtfKind::Float => Feature::BtfFloat,
            BtfKind::DeclTag => Feature::BtfDeclTag,
            BtfKind::TypeTag => Feature::BtfTypeTag,
            BtfKind::Enum64 => Feature::BtfEnum64,
            BtfKind::Enum if t.kflag() => Feature::BtfEnum64,
            _ => continue,
        };
        uses[f as usize] = true;
    }
    missing_among(&uses)
}

/// What the kernel lacks among the BTF features marked in `uses` (indexed by [`Feature`]);
/// the others read as present, unprobed. A missing FUNC implies missing global FUNC linkage
/// when global functions are used.
fn missing_among(uses: &[bool; Feature::COUNT]) -> Result<MissingFeatures, ProbeError> {
    let lacks = |f: Feature| -> Result<bool, ProbeError> {
        if uses[f as usize] {
            has(f).map(|yes| !yes)
        } else {
            Ok(false)
        }
    };
    let func = lacks(Feature::BtfFunc)?;
    Ok(MissingFeatures {
        func,
        global_func: (func && uses[Feature::BtfGlobalFunc as usize])
            || lacks(Feature::BtfGlobalFunc)?,
        datasec: lacks(Feature::BtfDatasec)?,
        qmark_datasec: lacks(Feature::BtfQmarkDatasec)?,
        float: lacks(Feature::BtfFloat)?,
        decl_tag: lacks(Feature::BtfDeclTag)?,
        type_tag: lacks(Feature::BtfTypeTag)?,
        enum64: lacks(Feature::BtfEnum64)?,
    })
}
