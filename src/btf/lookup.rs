//! Lookups that follow type references: skipping modifiers and typedefs, sizes and
//! alignments, members by name through anonymous members, and C-ish type names.

use super::error::BtfError;
use super::kind::BtfKind;
use super::table::Btf;
use super::types::Type;

/// Depth limit for chains and nesting (libbpf's resolve depth is 32).
pub const MAX_RESOLVE_DEPTH: u32 = 32;

/// Step limit of one walk that may branch (alignment, member search, declarations), so that
/// adversarial BTF (a DAG of structs each holding the next twice) cannot make it exponential.
/// The deepest alignment walk in a 6.18 vmlinux takes under 5,000 steps.
pub(crate) const MAX_WALK_STEPS: u64 = 1 << 16;

/// Counts the steps of one walk.
pub(crate) struct Budget {
    id: u32,
    limit: u64,
    left: std::cell::Cell<u64>,
}

impl Budget {
    pub(crate) fn new(id: u32, steps: u64) -> Self {
        Budget {
            id,
            limit: steps,
            left: std::cell::Cell::new(steps),
        }
    }
    pub(crate) fn spend(&self) -> Result<(), BtfError> {
        match self.left.get().checked_sub(1) {
            Some(l) => {
                self.left.set(l);
                Ok(())
            }
            None => Err(BtfError::TooComplex {
                id: self.id,
                limit: self.limit,
            }),
        }
    }
}

/// Pointer size of BPF targets.
pub const PTR_SIZE: u32 = 8;

/// Where a member found by [`Btf::find_member`] sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPath {
    /// Member indices from the outer type down to the member (anonymous members included).
    pub indices: Vec<u32>,
    /// Bit offset of the member from the start of the outer type.
    pub bit_offset: u32,
    /// The member's type id.
    pub type_id: u32,
    /// Bitfield width in bits (0 if not a kind-flag bitfield).
    pub bitfield_size: u32,
}

impl Btf {
    fn skip_while(&self, id: u32, skip: impl Fn(BtfKind) -> bool) -> Result<Type<'_>, BtfError> {
        let mut t = self.type_by_id(id)?;
        let mut steps = 0u32;
        while skip(t.kind()) {
            steps += 1;
            if steps > MAX_RESOLVE_DEPTH * 4 {
                return Err(BtfError::TypeLoop {
                    id,
                    limit: MAX_RESOLVE_DEPTH * 4,
                });
            }
            t = self.type_by_id(t.size_or_type())?;
        }
        Ok(t)
    }

    /// Follow `const`/`volatile`/`restrict`/type-tag modifiers from `id`.
    pub fn skip_mods(&self, id: u32) -> Result<Type<'_>, BtfError> {
        self.skip_while(id, BtfKind::is_modifier)
    }

    /// Follow modifiers and typedefs from `id` (what CO-RE does before looking at a type).
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<Type<'_>, BtfError> {
        self.skip_while(id, |k| k.is_modifier() || k == BtfKind::Typedef)
    }

    /// Size in bytes of the type `id` (through typedefs, modifiers, VAR and arrays; pointers
    /// are 8 bytes). Void, FUNC, FUNC_PROTO and FWD have no size.
    pub fn type_size(&self, id: u32) -> Result<u32, BtfError> {
        let mut nelems: u32 = 1;
        let mut cur = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(cur)?;
            let size = match t.kind() {
                BtfKind::Ptr => PTR_SIZE,
                k if k.has_size() => t.size_or_type(),
                k if k.is_modifier()
                    || matches!(k, BtfKind::Typedef | BtfKind::Var | BtfKind::DeclTag) =>
                {
                    cur = t.size_or_type();
                    continue;
                }
                BtfKind::Array => {
                    let a = t.array().unwrap_or(super::types::ArrayInfo {
                        elem_type: 0,
                        index_type: 0,
                        nelems: 0,
                    });
                    nelems = nelems.checked_mul(a.nelems).ok_or(BtfError::BadSize {
                        id,
                        kind: "ARRAY",
                        problem: "size overflows u32",
                    })?;
                    cur = a.elem_type;
                    continue;
                }
                k => {
                    return Err(BtfError::BadSize {
                        id,
                        kind: k.as_str(),
                        problem: "type has no size",
                    })
                }
            };
            return size.checked_mul(nelems).ok_or(BtfError::BadSize {
                id,
                kind: t.kind().as_str(),
                problem: "size overflows u32",
            });
        }
        Err(BtfError::TypeLoop {
            id,
            limit: MAX_RESOLVE_DEPTH,
        })
    }

    /// Alignment in bytes of the type `id`, as the compiler laid it out: a struct whose
    /// members or size are not aligned to its largest member alignment is packed (1).
    pub fn type_align(&self, id: u32) -> Result<u32, BtfError> {
        self.align_at(id, 0, &Budget::new(id, MAX_WALK_STEPS))
    }

    fn align_at(&self, id: u32, depth: u32, budget: &Budget) -> Result<u32, BtfError> {
        budget.spend()?;
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::TypeLoop {
                id,
                limit: MAX_RESOLVE_DEPTH,
            });
        }
        let t = self.type_by_id(id)?;
        Ok(match t.kind() {
            BtfKind::Int | BtfKind::Enum | BtfKind::Enum64 | BtfKind::Float => {
                t.size_or_type().clamp(1, PTR_SIZE)
            }
            BtfKind::Ptr => PTR_SIZE,
            k if k.is_modifier() || k == BtfKind::Typedef => {
                self.align_at(t.size_or_type(), depth + 1, budget)?
            }
            BtfKind::Array => {
                let elem = t.array().map_or(0, |a| a.elem_type);
                self.align_at(elem, depth + 1, budget)?
            }
            BtfKind::Struct | BtfKind::Union => {
                let mut max_align = 1;
                for m in t.members().into_iter().flatten() {
                    let a = self.align_at(m.type_id, depth + 1, budget)?;
                    max_align = max_align.max(a);
                    if m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0 {
                        return Ok(1);
                    }
                }
                if t.size_or_type() % max_align != 0 {
                    1
                } else {
                    max_align
                }
            }
            k => {
                return Err(BtfError::BadSize {
                    id,
                    kind: k.as_str(),
                    problem: "type has no alignment",
                })
            }
        })
    }

    /// Find the member `name` of the struct/union `id` (after skipping modifiers and
    /// typedefs), descending into anonymous struct/union members. Returns `None` if absent.
    pub fn find_member(&self, id: u32, name: &str) -> Result<Option<MemberPath>, BtfError> {
        let mut path = Vec::new();
        let budget = Budget::new(id, MAX_WALK_STEPS);
        self.find_member_at(id, name, 0, &mut path, 0, &budget)
    }

    fn find_member_at(
        &self,
        id: u32,
        name: &str,
        base_bits: u32,
        path: &mut Vec<u32>,
        depth: u32,
        budget: &Budget,
    ) -> Result<Option<MemberPath>, BtfError> {
        budget.spend()?;
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::TypeLoop {
                id,
                limit: MAX_RESOLVE_DEPTH,
            });
        }
        let t = self.skip_mods_and_typedefs(id)?;
        let Some(members) = t.members() else {
            return Err(BtfError::UnexpectedKind {
                id: t.id(),
                kind: t.kind(),
                expected: "STRUCT or UNION",
            });
        };
        for (i, m) in members.enumerate() {
            let bits = base_bits.saturating_add(m.bit_offset);
            let m_name = m.name()?;
            if m_name == name {
                path.push(i as u32);
                return Ok(Some(MemberPath {
                    indices: path.clone(),
                    bit_offset: bits,
                    type_id: m.type_id,
                    bitfield_size: m.bitfield_size,
                }));
            }
            if m_name.is_empty()
                && self
                    .skip_mods_and_typedefs(m.type_id)?
                    .kind()
                    .is_composite()
            {
                path.push(i as u32);
                if let Some(found) =
                    self.find_member_at(m.type_id, name, bits, path, depth + 1, budget)?
                {
                    return Ok(Some(found));
                }
                path.pop();
            }
        }
        Ok(None)
    }

    /// A C-ish rendering of the type for messages: `struct task_struct *`, `const char *`,
    /// `int[16]`, `void (*)(int)`.
    pub fn type_name(&self, id: u32) -> Result<String, BtfError> {
        self.declaration(id, "")
    }

    /// A C declaration of `name` with the type `id` (`char *comm[16]`, `void (*fn)(int)`).
    pub fn declaration(&self, id: u32, name: &str) -> Result<String, BtfError> {
        let budget = Budget::new(id, MAX_WALK_STEPS);
        super::decl::declaration(self, id, name, &budget, &mut |t: Type<'_>| {
            super::decl::plain_base(t)
        })
    }
}
