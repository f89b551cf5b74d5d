//! C header output (`vmlinux.h`): every type in dependency order, forward declarations
//! where pointers close cycles, bitfields and padding as laid out, packed structs, renamed
//! duplicates (`name___2`), wrapped in the `preserve_access_index` pragma like bpftool's.

use std::collections::HashMap;
use std::fmt::Write;

use super::decl;
use super::error::BtfError;
use super::kind::BtfKind;
use super::lookup::{Budget, MAX_WALK_STEPS, PTR_SIZE};
use super::padding::bit_padding;
use super::table::Btf;
use super::types::Type;

/// Options of [`dump_c`].
#[derive(Debug, Clone)]
pub struct DumpCOptions {
    /// Wrap the types in `#pragma clang attribute push (__attribute__((preserve_access_index)),
    /// apply_to = record)` (guarded by `BPF_NO_PRESERVE_ACCESS_INDEX`), as CO-RE programs
    /// expect of `vmlinux.h`.
    pub preserve_access_index: bool,
    /// The include guard macro (`__VMLINUX_H__`); `None` for no guard.
    pub guard: Option<String>,
}

impl Default for DumpCOptions {
    fn default() -> Self {
        DumpCOptions {
            preserve_access_index: true,
            guard: Some("__VMLINUX_H__".into()),
        }
    }
}

/// Nesting limit of the recursive walks (real BTF nests a few dozen deep).
const MAX_DEPTH: u32 = 512;

const NOT: u8 = 0;
const BUSY: u8 = 1;
const DONE: u8 = 2;

/// Write every type of `btf` (base types included for split BTF) as a compilable C header.
pub fn dump_c(btf: &Btf, opts: &DumpCOptions, out: &mut String) -> Result<(), BtfError> {
    let n = btf.type_count() as usize;
    // A 6.18 vmlinux takes about 7 steps per type; adversarial BTF stops here.
    let budget = Budget::new(0, 64 * n as u64 + MAX_WALK_STEPS);
    let mut d = Dumper {
        btf,
        budget: &budget,
        aligns: vec![0; n],
        order: vec![NOT; n],
        emit: vec![NOT; n],
        fwd_emitted: vec![false; n],
        referenced: vec![false; n],
        names: HashMap::new(),
        tag_counts: HashMap::new(),
        ident_counts: HashMap::new(),
        queue: Vec::new(),
        out: String::new(),
    };
    d.mark_referenced()?;
    for id in 1..n as u32 {
        d.order_type(id, false, 0)?;
    }
    let queue = std::mem::take(&mut d.queue);
    for id in queue {
        d.emit_type(id, 0, 0)?;
    }
    if let Some(g) = &opts.guard {
        let _ = write!(out, "#ifndef {g}\n#define {g}\n\n");
    }
    if opts.preserve_access_index {
        out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push \
             (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n",
        );
    }
    out.push_str(&d.out);
    if opts.preserve_access_index {
        out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n",
        );
    }
    if let Some(g) = &opts.guard {
        let _ = writeln!(out, "#endif /* {g} */");
    }
    Ok(())
}

struct Dumper<'a> {
    btf: &'a Btf,
    budget: &'a Budget,
    /// Alignment by id, 0 until computed.
    aligns: Vec<u32>,
    order: Vec<u8>,
    emit: Vec<u8>,
    fwd_emitted: Vec<bool>,
    referenced: Vec<bool>,
    /// Resolved names by id (with a `___N` suffix for later duplicates).
    names: HashMap<u32, String>,
    /// Uses of each struct/union/enum tag name.
    tag_counts: HashMap<String, usize>,
    /// Uses of each typedef and enumerator name.
    ident_counts: HashMap<String, usize>,
    queue: Vec<u32>,
    out: String,
}

fn tabs(lvl: u32) -> String {
    "\t".repeat(lvl as usize)
}

fn too_deep(id: u32) -> BtfError {
    BtfError::TypeLoop {
        id,
        limit: MAX_DEPTH,
    }
}

impl<'a> Dumper<'a> {
    fn set(v: &mut [bool], id: u32) {
        if let Some(s) = v.get_mut(id as usize) {
            *s = true;
        }
    }

    fn mark_referenced(&mut self) -> Result<(), BtfError> {
        let btf = self.btf;
        for t in btf.types() {
            match t.kind() {
                BtfKind::Array => {
                    if let Some(a) = t.array() {
                        Self::set(&mut self.referenced, a.elem_type);
                        Self::set(&mut self.referenced, a.index_type);
                    }
                }
                BtfKind::Struct | BtfKind::Union => {
                    for m in t.members().into_iter().flatten() {
                        Self::set(&mut self.referenced, m.type_id);
                    }
                }
                BtfKind::FuncProto => {
                    Self::set(&mut self.referenced, t.size_or_type());
                    for p in t.params().into_iter().flatten() {
                        Self::set(&mut self.referenced, p.type_id);
                    }
                }
                BtfKind::Datasec => {
                    for v in t.datasec_vars().into_iter().flatten() {
                        Self::set(&mut self.referenced, v.type_id);
                    }
                }
                k if k.has_type_ref() => Self::set(&mut self.referenced, t.size_or_type()),
                _ => {}
            }
        }
        Ok(())
    }

    fn state(v: &[u8], id: u32) -> u8 {
        v.get(id as usize).copied().unwrap_or(DONE)
    }

    fn set_state(v: &mut [u8], id: u32, s: u8) {
        if let Some(slot) = v.get_mut(id as usize) {
            *slot = s;
        }
    }

    /// Topological ordering; returns whether the type is "strong" (needs a full definition
    /// before use). Named structs reached through a pointer only need a forward declaration.
    fn order_type(&mut self, id: u32, through_ptr: bool, depth: u32) -> Result<bool, BtfError> {
        self.budget.spend()?;
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let st = Self::state(&self.order, id);
        if st == DONE || id == 0 {
            return Ok(true);
        }
        let t = self.btf.type_by_id(id)?;
        if st == BUSY {
            if t.kind().is_composite() && through_ptr && !t.is_anonymous() {
                return Ok(false);
            }
            return Err(BtfError::TypeLoop { id, limit: 0 });
        }
        match t.kind() {
            BtfKind::Void | BtfKind::Int | BtfKind::Float => {
                Self::set_state(&mut self.order, id, DONE);
                Ok(false)
            }
            BtfKind::Ptr => {
                let r = self.order_type(t.size_or_type(), true, depth + 1)?;
                Self::set_state(&mut self.order, id, DONE);
                Ok(r)
            }
            BtfKind::Array => {
                let elem = t.array().map_or(0, |a| a.elem_type);
                self.order_type(elem, false, depth + 1)
            }
            BtfKind::Struct | BtfKind::Union => {
                if through_ptr && !t.is_anonymous() {
                    return Ok(false);
                }
                Self::set_state(&mut self.order, id, BUSY);
                for m in t.members().into_iter().flatten() {
                    self.order_type(m.type_id, false, depth + 1)?;
                }
                if !t.is_anonymous() {
                    self.queue.push(id);
                }
                Self::set_state(&mut self.order, id, DONE);
                Ok(true)
            }
            BtfKind::Enum | BtfKind::Enum64 | BtfKind::Fwd => {
                let referenced = self.referenced.get(id as usize).copied().unwrap_or(true);
                if !t.is_anonymous() || !referenced {
                    self.queue.push(id);
                }
                Self::set_state(&mut self.order, id, DONE);
                Ok(true)
            }
            BtfKind::Typedef => {
                let strong = self.order_type(t.size_or_type(), through_ptr, depth + 1)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.queue.push(id);
                Self::set_state(&mut self.order, id, DONE);
                Ok(true)
            }
            BtfKind::Volatile | BtfKind::Const | BtfKind::Restrict | BtfKind::TypeTag => {
                self.order_type(t.size_or_type(), through_ptr, depth + 1)
            }
            BtfKind::FuncProto => {
                let mut strong = self.order_type(t.size_or_type(), through_ptr, depth + 1)?;
                for p in t.params().into_iter().flatten() {
                    strong |= self.order_type(p.type_id, through_ptr, depth + 1)?;
                }
                Ok(strong)
            }
            BtfKind::Func | BtfKind::Var | BtfKind::Datasec | BtfKind::DeclTag => {
                Self::set_state(&mut self.order, id, DONE);
                Ok(false)
            }
        }
    }

    /// Emit the definition of `id` (and first whatever it needs), as a top-level
    /// definition when `cont_id` is 0, else on behalf of the container `cont_id`.
    fn emit_type(&mut self, id: u32, cont_id: u32, depth: u32) -> Result<(), BtfError> {
        self.budget.spend()?;
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let st = Self::state(&self.emit, id);
        if st == DONE || id == 0 {
            return Ok(());
        }
        let t = self.btf.type_by_id(id)?;
        let top = cont_id == 0;
        if st == BUSY {
            if self.fwd_emitted.get(id as usize).copied().unwrap_or(true) {
                return Ok(());
            }
            match t.kind() {
                BtfKind::Struct | BtfKind::Union => {
                    if id == cont_id {
                        return Ok(());
                    }
                    if t.is_anonymous() {
                        return Err(BtfError::TypeLoop { id, limit: 0 });
                    }
                    let fwd = self.struct_fwd(t)?;
                    let _ = write!(self.out, "{fwd};\n\n");
                    Self::set(&mut self.fwd_emitted, id);
                }
                BtfKind::Typedef => {
                    if !self.blacklisted(t) {
                        let mut s = String::new();
                        self.typedef_def(t, 0, &mut s)?;
                        let _ = write!(self.out, "{s};\n\n");
                    }
                    Self::set(&mut self.fwd_emitted, id);
                }
                _ => {}
            }
            return Ok(());
        }
        match t.kind() {
            BtfKind::Int => {
                self.missing_alias(t)?;
                Self::set_state(&mut self.emit, id, DONE);
            }
            BtfKind::Enum | BtfKind::Enum64 => {
                if top {
                    let mut s = String::new();
                    self.enum_def(t, 0, &mut s)?;
                    let _ = write!(self.out, "{s};\n\n");
                }
                Self::set_state(&mut self.emit, id, DONE);
            }
            BtfKind::Ptr
            | BtfKind::Volatile
            | BtfKind::Const
            | BtfKind::Restrict
            | BtfKind::TypeTag => self.emit_type(t.size_or_type(), cont_id, depth + 1)?,
            BtfKind::Array => {
                let elem = t.array().map_or(0, |a| a.elem_type);
                self.emit_type(elem, cont_id, depth + 1)?;
            }
            BtfKind::Fwd => {
                let name = self.tag_name(t)?;
                let kw = if t.kflag() { "union" } else { "struct" };
                let _ = write!(self.out, "{kw} {name};\n\n");
                Self::set_state(&mut self.emit, id, DONE);
            }
            BtfKind::Typedef => {
                Self::set_state(&mut self.emit, id, BUSY);
                self.emit_type(t.size_or_type(), id, depth + 1)?;
                if !self.fwd_emitted.get(id as usize).copied().unwrap_or(true)
                    && !self.blacklisted(t)
                {
                    let mut s = String::new();
                    self.typedef_def(t, 0, &mut s)?;
                    let _ = write!(self.out, "{s};\n\n");
                }
                Self::set_state(&mut self.emit, id, DONE);
            }
            BtfKind::Struct | BtfKind::Union => {
                Self::set_state(&mut self.emit, id, BUSY);
                if top || t.is_anonymous() {
                    let inner = if t.is_anonymous() { cont_id } else { id };
                    for m in t.members().into_iter().flatten() {
                        self.emit_type(m.type_id, inner, depth + 1)?;
                    }
                } else if !self.fwd_emitted.get(id as usize).copied().unwrap_or(true)
                    && id != cont_id
                {
                    let fwd = self.struct_fwd(t)?;
                    let _ = write!(self.out, "{fwd};\n\n");
                    Self::set(&mut self.fwd_emitted, id);
                }
                if top {
                    let mut s = String::new();
                    self.struct_def(t, 0, &mut s, depth)?;
                    let _ = write!(self.out, "{s};\n\n");
                    Self::set_state(&mut self.emit, id, DONE);
                } else {
                    Self::set_state(&mut self.emit, id, NOT);
                }
            }
            BtfKind::FuncProto => {
                self.emit_type(t.size_or_type(), cont_id, depth + 1)?;
                for p in t.params().into_iter().flatten() {
                    self.emit_type(p.type_id, cont_id, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Alignment as [`Btf::type_align`] computes it (1 where there is none), memoized.
    fn align(&mut self, id: u32, depth: u32) -> Result<u32, BtfError> {
        self.budget.spend()?;
        if let Some(&a) = self.aligns.get(id as usize) {
            if a != 0 {
                return Ok(a);
            }
        }
        if depth > MAX_DEPTH {
            return Err(too_deep(id));
        }
        let t = self.btf.type_by_id(id)?;
        let a = match t.kind() {
            BtfKind::Int | BtfKind::Enum | BtfKind::Enum64 | BtfKind::Float => {
                t.size_or_type().clamp(1, PTR_SIZE)
            }
            BtfKind::Ptr => PTR_SIZE,
            k if k.is_modifier() || k == BtfKind::Typedef => {
                self.align(t.size_or_type(), depth + 1)?
            }
            BtfKind::Array => self.align(t.array().map_or(0, |a| a.elem_type), depth + 1)?,
            BtfKind::Struct | BtfKind::Union => {
                let mut max_align = 1;
                let mut packed = false;
                for m in t.members().into_iter().flatten() {
                    let a = self.align(m.type_id, depth + 1)?;
                    max_align = max_align.max(a);
                    packed |= m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0;
                }
                if packed || t.size_or_type() % max_align != 0 {
                    1
                } else {
                    max_align
                }
            }
            _ => 1,
        };
        if let Some(slot) = self.aligns.get_mut(id as usize) {
            *slot = a;
        }
        Ok(a)
    }

    /// Whether the compiler must have packed the struct: a non-bitfield member off its
    /// natural alignment, or a size that is not a multiple of the largest member alignment.
    fn is_packed(&mut self, t: Type<'_>) -> Result<bool, BtfError> {
        let mut max_align = 1;
        for m in t.members().into_iter().flatten() {
            let align = self.align(m.type_id, 0)?;
            if m.bitfield_size == 0 && m.bit_offset % (8 * align) != 0 {
                return Ok(true);
            }
            max_align = max_align.max(align);
        }
        Ok(t.size_or_type() % max_align != 0)
    }

    fn blacklisted(&self, t: Type<'_>) -> bool {
        t.name().is_ok_and(|n| n == "__builtin_va_list")
    }

    /// The resolved name of a type in the tag (struct/union/enum) or ident (typedef)
    /// namespace: the first type of a name keeps it, later ones get `___2`, `___3`, ...
    fn resolve(&mut self, t: Type<'_>, tags: bool) -> Result<String, BtfError> {
        if let Some(n) = self.names.get(&t.id()) {
            return Ok(n.clone());
        }
        let orig = t.name()?.to_string();
        if orig.is_empty() {
            return Ok(orig);
        }
        let keep = t.kind() == BtfKind::Fwd || (t.kind().is_any_enum() && t.vlen() == 0);
        let name = if keep {
            orig
        } else {
            let counts = if tags {
                &mut self.tag_counts
            } else {
                &mut self.ident_counts
            };
            let c = counts.entry(orig.clone()).or_insert(0);
            *c += 1;
            if *c > 1 {
                format!("{orig}___{c}")
            } else {
                orig
            }
        };
        self.names.insert(t.id(), name.clone());
        Ok(name)
    }

    fn tag_name(&mut self, t: Type<'_>) -> Result<String, BtfError> {
        self.resolve(t, true)
    }

    fn ident_name(&mut self, t: Type<'_>) -> Result<String, BtfError> {
        self.resolve(t, false)
    }

    fn missing_alias(&mut self, t: Type<'_>) -> Result<(), BtfError> {
        const ALIASES: [(&str, &str); 4] = [
            ("__Poly8_t", "unsigned char"),
            ("__Poly16_t", "unsigned short"),
            ("__Poly64_t", "unsigned long long"),
            ("__Poly128_t", "unsigned __int128"),
        ];
        let name = t.name()?;
        if let Some((n, ty)) = ALIASES.iter().find(|(n, _)| *n == name) {
            let _ = write!(self.out, "typedef {ty} {n};\n\n");
        }
        Ok(())
    }

    fn struct_fwd(&mut self, t: Type<'_>) -> Result<String, BtfError> {
        let kw = if t.kind() == BtfKind::Union {
            "union"
        } else {
            "struct"
        };
        let name = self.tag_name(t)?;
        Ok(if name.is_empty() {
            kw.to_string()
        } else {
            format!("{kw} {name}")
        })
    }

    fn typedef_def(&mut self, t: Type<'_>, lvl: u32, s: &mut String) -> Result<(), BtfError> {
        let name = self.ident_name(t)?;
        if t.size_or_type() == 0 && name == "__gnuc_va_list" {
            s.push_str("typedef __builtin_va_list __gnuc_va_list");
            return Ok(());
        }
        let d = self.decl(t.size_or_type(), &name, lvl)?;
        let _ = write!(s, "typedef {d}");
        Ok(())
    }

    /// The declaration of `name` with type `id`, anonymous structs/enums written inline.
    fn decl(&mut self, id: u32, name: &str, lvl: u32) -> Result<String, BtfError> {
        let (btf, budget) = (self.btf, self.budget);
        decl::declaration(btf, id, name, budget, &mut |t: Type<'_>| {
            self.base_name(t, lvl)
        })
    }

    fn base_name(&mut self, t: Type<'_>, lvl: u32) -> Result<String, BtfError> {
        Ok(match t.kind() {
            BtfKind::Struct | BtfKind::Union if t.is_anonymous() => {
                let mut s = String::new();
                self.struct_def(t, lvl, &mut s, 0)?;
                s
            }
            BtfKind::Struct | BtfKind::Union => self.struct_fwd(t)?,
            BtfKind::Enum | BtfKind::Enum64 if t.is_anonymous() => {
                let mut s = String::new();
                self.enum_def(t, lvl, &mut s)?;
                s
            }
            BtfKind::Enum | BtfKind::Enum64 => format!("enum {}", self.tag_name(t)?),
            BtfKind::Fwd => {
                let kw = if t.kflag() { "union" } else { "struct" };
                format!("{kw} {}", self.tag_name(t)?)
            }
            BtfKind::Typedef => self.ident_name(t)?,
            _ => decl::plain_base(t)?,
        })
    }

    fn enum_def(&mut self, t: Type<'_>, lvl: u32, s: &mut String) -> Result<(), BtfError> {
        let name = self.tag_name(t)?;
        s.push_str("enum");
        if !name.is_empty() {
            let _ = write!(s, " {name}");
        }
        if t.vlen() == 0 {
            return Ok(());
        }
        s.push_str(" {");
        let signed = t.kflag();
        let wide = t.kind() == BtfKind::Enum64;
        let mut high_bits = false;
        for v in t.enum_values().into_iter().flatten() {
            let orig = v.name()?.to_string();
            let c = self.ident_counts.entry(orig.clone()).or_insert(0);
            *c += 1;
            let vname = if *c > 1 {
                format!("{orig}___{c}")
            } else {
                orig
            };
            high_bits |= v.value >> 32 != 0;
            let _ = match (wide, signed) {
                (false, false) => write!(s, "\n{}{vname} = {},", tabs(lvl + 1), v.value as u32),
                (false, true) => write!(s, "\n{}{vname} = {},", tabs(lvl + 1), v.value as i32),
                (true, false) => write!(s, "\n{}{vname} = {}ULL,", tabs(lvl + 1), v.value),
                (true, true) => write!(s, "\n{}{vname} = {}LL,", tabs(lvl + 1), v.value as i64),
            };
        }
        let _ = write!(s, "\n{}}}", tabs(lvl));
        let size = t.size_or_type();
        if size == 1 {
            s.push_str(" __attribute__((mode(byte)))");
        } else if size == 8 && (!wide || !high_bits) {
            s.push_str(" __attribute__((mode(word)))");
        }
        Ok(())
    }

    fn struct_def(
        &mut self,
        t: Type<'_>,
        lvl: u32,
        s: &mut String,
        depth: u32,
    ) -> Result<(), BtfError> {
        if depth > MAX_DEPTH || lvl > MAX_DEPTH {
            return Err(too_deep(t.id()));
        }
        let is_struct = t.kind() == BtfKind::Struct;
        let btf = self.btf;
        let align = self.align(t.id(), 0)?;
        let packed = is_struct && self.is_packed(t)?;
        let head = self.struct_fwd(t)?;
        let _ = write!(s, "{head} {{");
        let mut off: u64 = 0;
        let mut prev_bitfield = false;
        for m in t.members().into_iter().flatten() {
            let m_sz = m.bitfield_size;
            let m_off = u64::from(m.bit_offset);
            self.budget.spend()?;
            let m_align = if packed { 1 } else { self.align(m.type_id, 0)? };
            let in_bitfield = prev_bitfield && m_sz != 0;
            bit_padding(s, self.budget, (off, m_off), m_align, in_bitfield, lvl + 1)?;
            let d = self.decl(m.type_id, m.name()?, lvl + 1)?;
            let _ = write!(s, "\n{}{d}", tabs(lvl + 1));
            if m_sz != 0 {
                let _ = write!(s, ": {m_sz}");
                off = m_off + u64::from(m_sz);
                prev_bitfield = true;
            } else {
                let sz = btf.type_size(m.type_id).unwrap_or(0);
                off = m_off + u64::from(sz) * 8;
                prev_bitfield = false;
            }
            s.push(';');
        }
        if is_struct {
            let end = u64::from(t.size_or_type()) * 8;
            bit_padding(s, self.budget, (off, end), align, false, lvl + 1)?;
        }
        if t.vlen() != 0 || t.size_or_type() != 0 {
            let _ = write!(s, "\n{}}}", tabs(lvl));
        } else {
            s.push('}');
        }
        if packed {
            s.push_str(" __attribute__((packed))");
        }
        Ok(())
    }
}
