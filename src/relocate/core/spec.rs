//! Access specs: the `"0:1:2"` strings of CO-RE records parsed against a BTF into the
//! steps (accessors) they take, and printed as C (`task_struct->comm[3]`).
//!
//! The raw spec has one entry per step, anonymous struct/union members included; the
//! accessors keep only what matching needs — the root index, named members and array
//! indices (libbpf's "high-level spec").

use std::fmt::Write as _;

use crate::btf::{Btf, BtfKind, CoreReloKind};

use super::error::CoreProblem;
use super::layout::resolve_size;

/// Longest access spec (libbpf's `BPF_CORE_SPEC_MAX_LEN`).
pub const MAX_SPEC_LEN: usize = 64;

/// The three families of relocation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Field,
    Type,
    Enumval,
}

impl Class {
    pub(crate) fn of(kind: CoreReloKind) -> Result<Class, CoreProblem> {
        use CoreReloKind::*;
        Ok(match kind {
            FieldByteOffset | FieldByteSize | FieldExists | FieldSigned | FieldLshiftU64
            | FieldRshiftU64 => Class::Field,
            TypeIdLocal | TypeIdTarget | TypeExists | TypeSize | TypeMatches => Class::Type,
            EnumvalExists | EnumvalValue => Class::Enumval,
            Unknown(n) => return Err(CoreProblem::UnknownKind(n)),
        })
    }
}

/// One step of a spec: the root (`p[idx]`), a named member (`.name`, `type_id` is the
/// struct/union holding it and `idx` its member index) or an array element (`[idx]`,
/// `type_id` is the element type). For enumerator relocations, the single accessor names
/// the enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accessor<'a> {
    pub type_id: u32,
    pub idx: u32,
    pub name: Option<&'a str>,
}

/// A parsed access spec against one BTF.
#[derive(Debug, Clone)]
pub(crate) struct Spec<'a> {
    pub btf: &'a Btf,
    /// The root type id as given (not stripped of typedefs).
    pub root_type_id: u32,
    pub kind: CoreReloKind,
    pub acc: Vec<Accessor<'a>>,
    pub raw: Vec<u32>,
    /// Bit offset of the accessed field from the start of the root.
    pub bit_offset: u32,
}

impl<'a> Spec<'a> {
    pub(crate) fn new(btf: &'a Btf, root_type_id: u32, kind: CoreReloKind) -> Self {
        Spec {
            btf,
            root_type_id,
            kind,
            acc: Vec::new(),
            raw: Vec::new(),
            bit_offset: 0,
        }
    }

    /// The raw spec as an access string (`0:1:2`).
    pub(crate) fn access_string(&self) -> String {
        let mut s = String::new();
        for (i, r) in self.raw.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            let _ = write!(s, "{r}");
        }
        if s.is_empty() {
            s.push('0');
        }
        s
    }

    /// The access as C: `task_struct->comm[3]`, `task_struct[2].pid`, `enum pid_type::PIDTYPE_TGID`,
    /// `struct task_struct` for type relocations.
    pub(crate) fn c_path(&self) -> String {
        let root = self.btf.type_by_id(self.root_type_id);
        let class = Class::of(self.kind).unwrap_or(Class::Type);
        match class {
            Class::Type => type_label(self.btf, self.root_type_id),
            Class::Enumval => {
                let ty = type_label(self.btf, self.root_type_id);
                match self.acc.first().and_then(|a| a.name) {
                    Some(n) => format!("{ty}::{n}"),
                    None => ty,
                }
            }
            Class::Field => {
                let mut s = match root.as_ref().map(|t| t.name()) {
                    Ok(Ok(n)) if !n.is_empty() => n.to_string(),
                    _ => format!("<anon [{}]>", self.root_type_id),
                };
                let arrow = self.acc.first().is_some_and(|a| a.idx == 0);
                for (i, a) in self.acc.iter().enumerate() {
                    match (i, a.name) {
                        (0, _) if a.idx == 0 => {}
                        (1, Some(n)) if arrow => {
                            let _ = write!(s, "->{n}");
                        }
                        (_, Some(n)) => {
                            let _ = write!(s, ".{n}");
                        }
                        (_, None) => {
                            let _ = write!(s, "[{}]", a.idx);
                        }
                    }
                }
                s
            }
        }
    }
}

/// A type as C for messages: `struct task_struct`, `pid_t`, `int *`; quick for the named
/// kinds every relocation prints.
pub(crate) fn type_label(btf: &Btf, id: u32) -> String {
    let Ok(t) = btf.type_by_id(id) else {
        return format!("[{id}]");
    };
    let prefix = match t.kind() {
        BtfKind::Struct => "struct ",
        BtfKind::Union => "union ",
        BtfKind::Enum | BtfKind::Enum64 => "enum ",
        BtfKind::Fwd if t.kflag() => "union ",
        BtfKind::Fwd => "struct ",
        BtfKind::Typedef | BtfKind::Int | BtfKind::Float => "",
        _ => return btf.type_name(id).unwrap_or_else(|_| format!("[{id}]")),
    };
    match t.name() {
        Ok(n) if !n.is_empty() => format!("{prefix}{n}"),
        _ => btf.type_name(id).unwrap_or_else(|_| format!("[{id}]")),
    }
}

fn bad(access: &str, type_id: u32, why: impl Into<String>) -> CoreProblem {
    CoreProblem::BadAccessSpec {
        access: access.to_string(),
        type_id,
        why: why.into(),
    }
}

/// One decimal number of an access string (libbpf reads them as `int`).
fn parse_index(part: &str) -> Option<u32> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse::<u32>().ok().filter(|&v| v <= i32::MAX as u32)
}

/// `a * size * 8`, added to `bit_offset`, failing on overflow.
pub(crate) fn add_bits(bit_offset: u32, idx: u32, size: u32) -> Option<u32> {
    let bits = u64::from(idx)
        .checked_mul(u64::from(size))?
        .checked_mul(8)?
        .checked_add(u64::from(bit_offset))?;
    u32::try_from(bits).ok()
}

/// Whether the array `nelems` reached through accessor `prev` is a flexible array: a
/// zero-length array that is the last member of its struct.
pub(crate) fn is_flex_array(btf: &Btf, prev: Option<&Accessor<'_>>, nelems: u32) -> bool {
    let Some(prev) = prev else { return false };
    if prev.name.is_none() || nelems > 0 {
        return false;
    }
    btf.type_by_id(prev.type_id)
        .is_ok_and(|t| u32::from(t.vlen()).checked_sub(1) == Some(prev.idx))
}

/// Parse the access string of a record whose root is `type_id` in `btf` (the local BTF).
pub(crate) fn parse<'a>(
    btf: &'a Btf,
    ptr_size: u32,
    type_id: u32,
    kind: CoreReloKind,
    access: &str,
) -> Result<Spec<'a>, CoreProblem> {
    let class = Class::of(kind)?;
    if access.is_empty() || access.starts_with(':') {
        return Err(bad(access, type_id, "empty"));
    }
    let mut spec = Spec::new(btf, type_id, kind);
    if class == Class::Type {
        if access != "0" {
            return Err(bad(access, type_id, "type relocations take exactly \"0\""));
        }
        return Ok(spec);
    }
    for part in access.split(':') {
        if spec.raw.len() == MAX_SPEC_LEN {
            return Err(bad(access, type_id, "longer than 64 steps"));
        }
        let v = parse_index(part).ok_or_else(|| bad(access, type_id, "not a list of numbers"))?;
        spec.raw.push(v);
    }
    let root = btf.skip_mods_and_typedefs(type_id)?;
    let mut id = root.id();
    let idx0 = spec.raw[0];
    if class == Class::Enumval {
        let name = match root.enum_values() {
            Some(values) if spec.raw.len() == 1 => match values.get(idx0 as usize) {
                Some(v) => v.name()?,
                None => return Err(bad(access, type_id, "enumerator index out of range")),
            },
            _ => {
                return Err(bad(
                    access,
                    type_id,
                    "enumerator spec needs one index into an enum",
                ))
            }
        };
        spec.acc.push(Accessor {
            type_id: id,
            idx: idx0,
            name: Some(name),
        });
        return Ok(spec);
    }
    spec.acc.push(Accessor {
        type_id: id,
        idx: idx0,
        name: None,
    });
    let size = resolve_size(btf, id, ptr_size)?;
    spec.bit_offset =
        add_bits(0, idx0, size).ok_or_else(|| bad(access, type_id, "offset overflows"))?;
    for i in 1..spec.raw.len() {
        let t = btf.skip_mods_and_typedefs(id)?;
        id = t.id();
        let idx = spec.raw[i];
        if let Some(members) = t.members() {
            let m = members
                .get(idx as usize)
                .ok_or_else(|| bad(access, type_id, format!("member index {idx} out of range")))?;
            spec.bit_offset = spec
                .bit_offset
                .checked_add(m.bit_offset)
                .ok_or_else(|| bad(access, type_id, "offset overflows"))?;
            if m.name_off != 0 {
                let name = m.name()?;
                if name.is_empty() {
                    return Err(bad(access, type_id, "member with an empty name"));
                }
                spec.acc.push(Accessor {
                    type_id: id,
                    idx,
                    name: Some(name),
                });
            }
            id = m.type_id;
        } else if let Some(a) = t.array() {
            let elem = btf.skip_mods_and_typedefs(a.elem_type)?;
            id = elem.id();
            let flex = is_flex_array(btf, spec.acc.last(), a.nelems);
            if !flex && idx >= a.nelems {
                return Err(bad(
                    access,
                    type_id,
                    format!("index {idx} out of bounds of an array of {}", a.nelems),
                ));
            }
            spec.acc.push(Accessor {
                type_id: id,
                idx,
                name: None,
            });
            let size = resolve_size(btf, id, ptr_size)?;
            spec.bit_offset = add_bits(spec.bit_offset, idx, size)
                .ok_or_else(|| bad(access, type_id, "offset overflows"))?;
        } else {
            return Err(bad(
                access,
                type_id,
                format!(
                    "step {i} reaches [{id}], a {} (not a struct, union or array)",
                    t.kind()
                ),
            ));
        }
    }
    Ok(spec)
}

/// Whether `kind` is an ENUM or ENUM64 (CO-RE treats them as one kind).
pub(crate) fn kinds_compat(a: BtfKind, b: BtfKind) -> bool {
    a == b || (a.is_any_enum() && b.is_any_enum())
}
