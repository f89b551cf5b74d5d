//! C declarators: renders `T name` for any type chain (`char *const argv[4]`,
//! `void (*fn)(int, ...)`). The base-type spelling is a callback so the C dumper can inline
//! anonymous structs while messages print `struct {...}`.

use super::error::BtfError;
use super::kind::BtfKind;
use super::lookup::{Budget, MAX_RESOLVE_DEPTH};
use super::table::Btf;
use super::types::Type;

/// Spelling of a base type for messages (`struct task_struct`, `struct {...}`, `int`).
pub(crate) fn plain_base(t: Type<'_>) -> Result<String, BtfError> {
    let name = t.name()?;
    let tag = match t.kind() {
        BtfKind::Struct => "struct ",
        BtfKind::Union => "union ",
        BtfKind::Enum | BtfKind::Enum64 => "enum ",
        BtfKind::Fwd if t.kflag() => "union ",
        BtfKind::Fwd => "struct ",
        BtfKind::Datasec => "SEC ",
        _ => "",
    };
    Ok(if name.is_empty() {
        match t.kind() {
            BtfKind::Struct | BtfKind::Union | BtfKind::Enum | BtfKind::Enum64 => {
                format!("{tag}{{...}}")
            }
            _ => format!("{tag}<anon>"),
        }
    } else {
        format!("{tag}{name}")
    })
}

fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else if inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

fn wrap(inner: String) -> String {
    if inner.starts_with('*') {
        format!("({inner})")
    } else {
        inner
    }
}

/// The C declaration of `name` (may be empty) with type `id`.
pub(crate) fn declaration(
    btf: &Btf,
    id: u32,
    name: &str,
    budget: &Budget,
    base: &mut dyn FnMut(Type<'_>) -> Result<String, BtfError>,
) -> Result<String, BtfError> {
    declaration_at(btf, id, name, budget, base, 0)
}

fn declaration_at(
    btf: &Btf,
    id: u32,
    name: &str,
    budget: &Budget,
    base: &mut dyn FnMut(Type<'_>) -> Result<String, BtfError>,
    depth: u32,
) -> Result<String, BtfError> {
    let loop_err = BtfError::TypeLoop {
        id,
        limit: MAX_RESOLVE_DEPTH * 4,
    };
    if depth > MAX_RESOLVE_DEPTH {
        return Err(loop_err);
    }
    let mut s = name.to_string();
    let mut pending: Vec<&'static str> = Vec::new();
    let mut cur = id;
    for _ in 0..MAX_RESOLVE_DEPTH * 4 {
        budget.spend()?;
        let t = btf.type_by_id(cur)?;
        match t.kind() {
            BtfKind::Void => return Ok(prefixed(&pending, &join("void", &s))),
            BtfKind::Ptr => {
                if !pending.is_empty() {
                    s = join(&pending.join(" "), &s);
                    pending.clear();
                }
                s = format!("*{s}");
            }
            BtfKind::Const => pending.push("const"),
            BtfKind::Volatile => pending.push("volatile"),
            BtfKind::Restrict => pending.push("restrict"),
            BtfKind::TypeTag | BtfKind::DeclTag => {}
            BtfKind::Var | BtfKind::Func => {
                if s.is_empty() {
                    s = t.name()?.to_string();
                }
            }
            BtfKind::Array => {
                // Qualifiers of an array apply to its elements, which carry them again in
                // the BTF compilers emit; printing both would double them.
                pending.clear();
                let a = t.array().ok_or(BtfError::TypeLoop { id, limit: 0 })?;
                s = format!("{}[{}]", wrap(s), a.nelems);
                cur = a.elem_type;
                continue;
            }
            BtfKind::FuncProto => {
                let mut params = Vec::new();
                for p in t.params().into_iter().flatten() {
                    if p.type_id == 0 {
                        params.push("...".to_string());
                    } else {
                        params.push(declaration_at(btf, p.type_id, "", budget, base, depth + 1)?);
                    }
                }
                let params = if params.is_empty() {
                    "void".to_string()
                } else {
                    params.join(", ")
                };
                s = format!("{}({params})", wrap(s));
            }
            _ => {
                let b = base(t)?;
                return Ok(prefixed(&pending, &join(&b, &s)));
            }
        }
        cur = t.size_or_type();
    }
    Err(loop_err)
}

fn prefixed(pending: &[&str], decl: &str) -> String {
    if pending.is_empty() {
        decl.to_string()
    } else {
        format!("{} {decl}", pending.join(" "))
    }
}
