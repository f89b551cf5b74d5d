//! Sizes as CO-RE computes them (libbpf's `btf__resolve_size` with the BTF's own pointer
//! size), and the step budget that bounds every walk over hostile BTF.

use crate::btf::{Btf, BtfError, BtfKind, MAX_RESOLVE_DEPTH, PTR_SIZE};

use super::error::CoreProblem;

/// Size in bytes of type `id`: through typedefs, modifiers, VARs and DECL_TAGs, arrays
/// multiplied out, pointers `ptr_size` bytes. Void, FUNC, FUNC_PROTO and FWD have none.
pub(crate) fn resolve_size(btf: &Btf, id: u32, ptr_size: u32) -> Result<u32, CoreProblem> {
    let mut nelems: u32 = 1;
    let mut cur = id;
    let too_big = || BtfError::BadSize {
        id,
        kind: "ARRAY",
        problem: "size overflows u32",
    };
    for _ in 0..MAX_RESOLVE_DEPTH {
        let t = btf.type_by_id(cur)?;
        let size = match t.kind() {
            BtfKind::Int
            | BtfKind::Struct
            | BtfKind::Union
            | BtfKind::Enum
            | BtfKind::Enum64
            | BtfKind::Datasec
            | BtfKind::Float => t.size_or_type(),
            BtfKind::Ptr => ptr_size,
            BtfKind::Typedef
            | BtfKind::Volatile
            | BtfKind::Const
            | BtfKind::Restrict
            | BtfKind::Var
            | BtfKind::DeclTag
            | BtfKind::TypeTag => {
                cur = t.size_or_type();
                continue;
            }
            BtfKind::Array => {
                let a = t.array().map_or(0, |a| a.nelems);
                nelems = nelems.checked_mul(a).ok_or_else(too_big)?;
                cur = t.array().map_or(0, |a| a.elem_type);
                continue;
            }
            k => {
                return Err(BtfError::BadSize {
                    id,
                    kind: k.as_str(),
                    problem: "type has no size",
                }
                .into())
            }
        };
        return Ok(size.checked_mul(nelems).ok_or_else(too_big)?);
    }
    Err(BtfError::TypeLoop {
        id,
        limit: MAX_RESOLVE_DEPTH,
    }
    .into())
}

/// Names of `long` that C compilers emit, in libbpf's order.
const LONG_NAMES: [&str; 11] = [
    "long",
    "long int",
    "int long",
    "unsigned long",
    "long unsigned",
    "unsigned long int",
    "unsigned int long",
    "long unsigned int",
    "long int unsigned",
    "int unsigned long",
    "int long unsigned",
];

/// The pointer size of the machine a BTF describes: the size of its first 4- or 8-byte INT
/// named like `long` (a split BTF takes its base's), 8 when there is none (libbpf falls
/// back to the host's, and oxbpf runs on 64-bit hosts).
pub(crate) fn pointer_size(btf: &Btf) -> u32 {
    if let Some(base) = btf.base() {
        return pointer_size(base);
    }
    let mut best: Option<(u32, u32)> = None;
    for name in LONG_NAMES {
        for id in btf.ids_by_essential_name(name, BtfKind::Int) {
            let Ok(t) = btf.type_by_id(id) else { continue };
            let size = t.size_or_type();
            if (size == 4 || size == 8)
                && t.name_bytes().is_ok_and(|n| n == name.as_bytes())
                && best.is_none_or(|(b, _)| id < b)
            {
                best = Some((id, size));
            }
        }
    }
    best.map_or(PTR_SIZE, |(_, size)| size)
}

/// Steps one relocation may take comparing types (a real vmlinux relocation takes a few
/// hundred; adversarial BTF — a DAG of anonymous structs — could otherwise take 2^64).
pub(crate) const MAX_STEPS: u32 = 1 << 18;

/// Counts the steps of one relocation's type walks.
pub(crate) struct Budget {
    left: u32,
}

impl Budget {
    pub(crate) fn new() -> Self {
        Budget { left: MAX_STEPS }
    }

    pub(crate) fn spend(&mut self) -> Result<(), CoreProblem> {
        self.left = self
            .left
            .checked_sub(1)
            .ok_or(CoreProblem::TooComplex("step limit reached"))?;
        Ok(())
    }
}
