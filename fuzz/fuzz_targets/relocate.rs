//! The whole pure `relocate()` over a fuzzed object: CO-RE against the object's own BTF (or
//! Linux 6.1's when the first byte is odd), maps/data/externs with every extern resolved one
//! way or another, subprogram linking.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oxbpf::btf::Btf;
use oxbpf::object::Object;
use oxbpf::relocate::core::Targets;
use oxbpf::relocate::{relocate, ExternValue, RelocateOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, obj)) = data.split_first() else {
        return;
    };
    let Ok(obj) = Object::parse(obj) else {
        return;
    };
    let targets = if mode & 1 == 1 {
        Some(Targets::kernel(oxbpf_fuzz::linux_61()))
    } else {
        obj.btf()
            .and_then(|b| Btf::parse(b.raw_bytes().to_vec()).ok())
            .map(|b| Targets::custom("self", Arc::new(b)))
    };
    let externs: Vec<ExternValue> = (0..obj.externs().len())
        .map(|i| match (i + mode as usize / 2) % 4 {
            0 => ExternValue::Missing,
            1 => ExternValue::Kconfig,
            2 => ExternValue::Address(0xffff_ffff_8100_0000 + i as u64),
            _ => ExternValue::Kfunc {
                btf_id: i as u32 + 1,
                module: None,
            },
        })
        .collect();
    let all: Vec<usize> = (0..obj.programs().len()).collect();
    let programs = (mode & 2 == 2).then_some(all.as_slice());
    let opts = RelocateOptions {
        targets,
        externs: &externs,
        programs,
        // An arena object's globals sit at this offset in the arena (the loader's choice).
        arena_data_offset: if mode & 4 == 4 { 1 << 32 } else { 0 },
    };
    if let Ok(out) = relocate(&obj, opts) {
        for p in &out.programs {
            let _ = oxbpf::insn::disasm(&p.insns);
            let _ = out.program(&p.name);
        }
    }
});
