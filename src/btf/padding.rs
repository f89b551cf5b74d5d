//! Anonymous bitfields (`long: 64;`, `int: 3;`) that make a dumped struct reproduce the
//! member offsets BTF records, where natural alignment alone would not.

use std::fmt::Write;

use super::error::BtfError;
use super::lookup::Budget;

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Emit anonymous bitfields (`long: 64;`, `int: 3;`) to fill the bits between `cur` and
/// `next` that natural alignment would not produce by itself.
pub(crate) fn bit_padding(
    s: &mut String,
    budget: &Budget,
    (cur, next): (u64, u64),
    next_align: u32,
    in_bitfield: bool,
    lvl: u32,
) -> Result<(), BtfError> {
    const PADS: [(&str, u64); 4] = [("long", 64), ("int", 32), ("short", 16), ("char", 8)];
    if cur >= next {
        return Ok(());
    }
    let mut cur = cur;
    let (mut pad_type, mut pad_bits) = PADS[3];
    let mut new_off = cur;
    for (ty, bits) in PADS {
        pad_type = ty;
        pad_bits = bits;
        new_off = round_up(cur, bits);
        if new_off <= next {
            break;
        }
    }
    if new_off > cur && new_off <= next {
        let next_aligned = round_up(cur, u64::from(next_align.max(1)) * 8);
        if in_bitfield
            || (new_off == next && next_aligned != new_off)
            || (new_off != next && next - new_off <= new_off - cur)
        {
            let w = if in_bitfield { new_off - cur } else { 0 };
            let _ = write!(s, "\n{}{pad_type}: {w};", "\t".repeat(lvl as usize));
        }
        cur = new_off;
    }
    while cur != next {
        budget.spend()?;
        let bits = (next - cur).min(pad_bits);
        if bits == pad_bits {
            let _ = write!(s, "\n{}{pad_type}: {pad_bits};", "\t".repeat(lvl as usize));
            cur += bits;
            continue;
        }
        for (ty, pb) in PADS.iter().rev() {
            pad_type = ty;
            pad_bits = *pb;
            if pad_bits < bits {
                continue;
            }
            let _ = write!(s, "\n{}{pad_type}: {bits};", "\t".repeat(lvl as usize));
            cur += bits;
            break;
        }
    }
    Ok(())
}
