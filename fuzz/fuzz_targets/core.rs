//! The CO-RE relocator with both sides fuzzed. The first byte picks the mode:
//!
//! - `0`: `[len][object][target BTF]`: a fuzzed object against a fuzzed target;
//! - `1`: `[fixture][target BTF]`: a CO-RE fixture against a fuzzed target;
//! - `2`: `[object]`: a fuzzed object against Linux 6.1's BTF;
//! - `3`: `[fixture][records...]`: fuzzed CO-RE records (16 bytes each; the access string
//!   offset taken modulo the local strings) on a fixture's first section, against 6.1 and
//!   against `layout.TARGET`.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oxbpf::btf::{Btf, CoreRelo, CoreReloKind};
use oxbpf::object::Object;
use oxbpf::relocate::core::{CoreRelocator, Targets};

/// Relocates every section of `obj` with CO-RE records against `targets`.
fn relocate_all(obj: &Object, targets: Targets) {
    let (Some(local), Some(ext)) = (obj.btf(), obj.btf_ext()) else {
        return;
    };
    let mut r = CoreRelocator::new(local, targets).with_byte_order(obj.byte_order());
    for sec in &ext.core_relos {
        let Some(ps) = obj.prog_section(&sec.name) else {
            continue;
        };
        let mut insns = ps.insns.clone();
        if let Ok(ds) = r.relocate_section(&sec.name, &sec.records, &mut insns) {
            for d in &ds {
                let _ = (d.is_poisoned(), d.poison_reason(), d.to_string());
                if d.is_poisoned() {
                    let _ = oxbpf::relocate::core::explain_poisoned(d);
                }
            }
        }
    }
}

fn records(data: &[u8], local: &Btf) -> Vec<CoreRelo> {
    let strs = local.strings_end().max(1);
    data.chunks_exact(16)
        .take(64)
        .map(|c| {
            let w = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            CoreRelo {
                insn_off: w(0) % 4096,
                type_id: w(4) % (local.last_id() + 2),
                access_str_off: w(8) % strs,
                kind: CoreReloKind::from_raw(w(12) % 16),
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let (obj, target) = oxbpf_fuzz::split(rest);
            let (Ok(obj), Ok(target)) = (Object::parse(obj), Btf::parse(target.to_vec())) else {
                return;
            };
            relocate_all(&obj, Targets::custom("fuzz", Arc::new(target)));
        }
        1 => {
            let Some((&which, target)) = rest.split_first() else {
                return;
            };
            let objs = oxbpf_fuzz::core_objects();
            let Ok(target) = Btf::parse(target.to_vec()) else {
                return;
            };
            let obj = &objs[which as usize % objs.len()];
            relocate_all(obj, Targets::custom("fuzz", Arc::new(target)));
        }
        2 => {
            if let Ok(obj) = Object::parse(rest) {
                relocate_all(&obj, Targets::kernel(oxbpf_fuzz::linux_61()));
            }
        }
        _ => {
            let Some((&which, recs)) = rest.split_first() else {
                return;
            };
            let objs = oxbpf_fuzz::core_objects();
            let obj = &objs[which as usize % objs.len()];
            let (Some(local), Some(ps)) = (obj.btf(), obj.prog_sections().first()) else {
                return;
            };
            let recs = records(recs, local);
            for targets in [
                Targets::kernel(oxbpf_fuzz::linux_61()),
                Targets::custom("layout", oxbpf_fuzz::layout_target()),
            ] {
                let mut r = CoreRelocator::new(local, targets);
                let mut insns = ps.insns.clone();
                let _ = r.relocate_section(&ps.name, &recs, &mut insns);
            }
        }
    }
});
