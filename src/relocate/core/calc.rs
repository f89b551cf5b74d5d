//! The values a relocation puts into an instruction, computed from a spec — once from the
//! local spec (what the compiler emitted, for validation) and once from the matched target
//! spec (libbpf's `bpf_core_calc_*_relo`).

use crate::btf::{Btf, BtfKind, CoreReloKind};
use crate::insn::ByteOrder;

use super::error::CoreProblem;
use super::layout::resolve_size;
use super::spec::{Class, Spec};

/// The outcome of the computation for one relocation (libbpf's `bpf_core_relo_res`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReloRes {
    /// Value from the local BTF (what the instruction should hold).
    pub orig_val: u64,
    /// Value for the target.
    pub new_val: u64,
    /// The instruction must be poisoned.
    pub poison: bool,
    /// The instruction must hold `orig_val`.
    pub validate: bool,
    /// Local and target field sizes differ in a way loads/stores cannot be adjusted for.
    pub fail_memsz_adjust: bool,
    /// Local field size (load/store width), 0 if not a byte-offset relocation.
    pub orig_sz: u32,
    /// Target field size.
    pub new_sz: u32,
    pub orig_type_id: u32,
    pub new_type_id: u32,
}

/// A value computed from one spec.
struct Value {
    val: u64,
    field_sz: u32,
    type_id: u32,
    validate: bool,
}

impl Value {
    fn plain(val: u64) -> Self {
        Value {
            val,
            field_sz: 0,
            type_id: 0,
            validate: true,
        }
    }
}

/// A side (local or target) of a relocation: its spec (`None` when no target matched) and
/// the pointer size of its BTF.
pub(crate) struct Side<'s, 'a> {
    pub spec: Option<&'s Spec<'a>>,
    pub ptr_size: u32,
}

/// Field relocation value; `Ok(None)` requests poisoning.
fn field_value(
    kind: CoreReloKind,
    side: &Side<'_, '_>,
    order: ByteOrder,
) -> Result<Option<Value>, CoreProblem> {
    if kind == CoreReloKind::FieldExists {
        return Ok(Some(Value::plain(u64::from(side.spec.is_some()))));
    }
    let Some(spec) = side.spec else {
        return Ok(None);
    };
    let btf = spec.btf;
    let Some(acc) = spec.acc.last() else {
        return Err(CoreProblem::TooComplex("empty spec"));
    };
    if acc.name.is_none() {
        // The access ends in an array element (or the root itself).
        let size = resolve_size(btf, acc.type_id, side.ptr_size)?;
        return match kind {
            CoreReloKind::FieldByteOffset => Ok(Some(Value {
                val: u64::from(spec.bit_offset / 8),
                field_sz: size,
                type_id: acc.type_id,
                validate: true,
            })),
            CoreReloKind::FieldByteSize => Ok(Some(Value::plain(u64::from(size)))),
            _ => Err(CoreProblem::ArrayElementKind { kind }),
        };
    }
    let holder = btf.type_by_id(acc.type_id)?;
    let m = holder
        .members()
        .and_then(|ms| ms.get(acc.idx as usize))
        .ok_or(CoreProblem::TooComplex("member index out of range"))?;
    let mt = btf.skip_mods_and_typedefs(m.type_id)?;
    let field_type_id = mt.id();
    let bit_off = spec.bit_offset;
    let mut bit_sz = m.bitfield_size;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz) = if bitfield {
        let mut byte_sz = mt.size_or_type();
        let too_wide = CoreProblem::BitfieldTooWide {
            bit_offset: bit_off,
            bit_size: bit_sz,
        };
        if byte_sz == 0 {
            return Err(too_wide);
        }
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        // The smallest load, starting at an offset aligned to its size, covering the field.
        while u64::from(bit_off) + u64::from(bit_sz) - u64::from(byte_off) * 8
            > u64::from(byte_sz) * 8
        {
            if byte_sz >= 8 {
                return Err(too_wide);
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz)
    } else {
        let size = resolve_size(btf, field_type_id, side.ptr_size)?;
        bit_sz = size.wrapping_mul(8);
        (bit_off / 8, size)
    };
    // The compiler may lay out bitfield loads differently: only signedness and the right
    // shift are unambiguous there.
    let mut v = Value {
        val: 0,
        field_sz: 0,
        type_id: 0,
        validate: !bitfield,
    };
    match kind {
        CoreReloKind::FieldByteOffset => {
            v.val = u64::from(byte_off);
            if !bitfield {
                v.field_sz = byte_sz;
                v.type_id = field_type_id;
            }
        }
        CoreReloKind::FieldByteSize => v.val = u64::from(byte_sz),
        CoreReloKind::FieldSigned => {
            let signed = match mt.kind() {
                BtfKind::Enum | BtfKind::Enum64 => mt.kflag(),
                BtfKind::Int => mt.int().is_some_and(|i| i.signed),
                _ => false,
            };
            v.val = u64::from(signed);
            v.validate = true;
        }
        CoreReloKind::FieldLshiftU64 => {
            // 32-bit arithmetic, as libbpf does it.
            let within = bit_off.wrapping_sub(byte_off.wrapping_mul(8));
            v.val = u64::from(match order {
                ByteOrder::Little => 64u32.wrapping_sub(within.wrapping_add(bit_sz)),
                ByteOrder::Big => (8u32.wrapping_sub(byte_sz))
                    .wrapping_mul(8)
                    .wrapping_add(within),
            });
        }
        CoreReloKind::FieldRshiftU64 => {
            v.val = u64::from(64u32.wrapping_sub(bit_sz));
            v.validate = true;
        }
        _ => return Err(CoreProblem::UnknownKind(kind.to_raw())),
    }
    Ok(Some(v))
}

/// Type relocation value (never poisons: a missing target gives 0).
fn type_value(kind: CoreReloKind, side: &Side<'_, '_>) -> Result<Value, CoreProblem> {
    let Some(spec) = side.spec else {
        return Ok(Value::plain(0));
    };
    Ok(match kind {
        // Type ids change when objects are linked; checking the old one is pointless.
        CoreReloKind::TypeIdTarget => Value {
            validate: false,
            ..Value::plain(u64::from(spec.root_type_id))
        },
        CoreReloKind::TypeExists | CoreReloKind::TypeMatches => Value::plain(1),
        CoreReloKind::TypeSize => Value::plain(u64::from(resolve_size(
            spec.btf,
            spec.root_type_id,
            side.ptr_size,
        )?)),
        _ => return Err(CoreProblem::UnknownKind(kind.to_raw())),
    })
}

/// Enumerator relocation value; `Ok(None)` requests poisoning.
fn enumval_value(kind: CoreReloKind, side: &Side<'_, '_>) -> Result<Option<Value>, CoreProblem> {
    match kind {
        CoreReloKind::EnumvalExists => Ok(Some(Value::plain(u64::from(side.spec.is_some())))),
        CoreReloKind::EnumvalValue => {
            let Some(spec) = side.spec else {
                return Ok(None);
            };
            let Some(acc) = spec.acc.first() else {
                return Err(CoreProblem::TooComplex("empty spec"));
            };
            let t = spec.btf.type_by_id(acc.type_id)?;
            let v = t
                .enum_values()
                .and_then(|vs| vs.get(acc.idx as usize))
                .ok_or(CoreProblem::TooComplex("enumerator index out of range"))?;
            // libbpf reads a 32-bit enumerator as `__s32`: always sign-extended.
            let val = if t.kind() == BtfKind::Enum {
                v.value as u32 as i32 as i64 as u64
            } else {
                v.value
            };
            Ok(Some(Value::plain(val)))
        }
        _ => Err(CoreProblem::UnknownKind(kind.to_raw())),
    }
}

/// Whether a load/store of a field may change width from `orig` (local BTF) to `new`
/// (target): pointers (32-bit kernels) and unsigned integers (zero extension keeps the value).
fn mem_size_adjustable(local: &Btf, orig: u32, targ: &Btf, new: u32) -> bool {
    let (Ok(o), Ok(n)) = (local.type_by_id(orig), targ.type_by_id(new)) else {
        return false;
    };
    // libbpf compares the whole encoding with SIGNED: `char` (SIGNED|CHAR) counts as not signed.
    let plain_unsigned =
        |t: &crate::btf::Type<'_>| t.int().is_some_and(|i| !(i.signed && !i.char && !i.bool));
    (o.kind() == BtfKind::Ptr && n.kind() == BtfKind::Ptr)
        || (plain_unsigned(&o) && plain_unsigned(&n))
}

/// Compute the result of a relocation from the local spec and the matched target spec
/// (`None` when no candidate matched).
pub(crate) fn calc_relo(
    kind: CoreReloKind,
    local: &Side<'_, '_>,
    targ: &Side<'_, '_>,
    order: ByteOrder,
) -> Result<ReloRes, CoreProblem> {
    let mut res = ReloRes {
        validate: true,
        ..ReloRes::default()
    };
    match Class::of(kind)? {
        Class::Field => {
            let l = field_value(kind, local, order)?
                .ok_or(CoreProblem::TooComplex("local spec missing"))?;
            res.orig_val = l.val;
            res.orig_sz = l.field_sz;
            res.orig_type_id = l.type_id;
            res.validate = l.validate;
            match field_value(kind, targ, order)? {
                None => res.poison = true,
                Some(t) => {
                    res.new_val = t.val;
                    res.new_sz = t.field_sz;
                    res.new_type_id = t.type_id;
                    if res.orig_sz != res.new_sz {
                        let (Some(ls), Some(ts)) = (local.spec, targ.spec) else {
                            return Err(CoreProblem::TooComplex("spec missing"));
                        };
                        res.fail_memsz_adjust =
                            !mem_size_adjustable(ls.btf, res.orig_type_id, ts.btf, res.new_type_id);
                    }
                }
            }
        }
        Class::Type => {
            let l = type_value(kind, local)?;
            res.orig_val = l.val;
            res.validate = l.validate;
            res.new_val = type_value(kind, targ)?.val;
        }
        Class::Enumval => {
            let l =
                enumval_value(kind, local)?.ok_or(CoreProblem::TooComplex("local spec missing"))?;
            res.orig_val = l.val;
            match enumval_value(kind, targ)? {
                None => res.poison = true,
                Some(t) => res.new_val = t.val,
            }
        }
    }
    Ok(res)
}
