//! `Object::parse` on arbitrary bytes: it must return, never panic, and what it returns must
//! be consistent enough for every accessor to work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::object::{Object, RelocTarget};

fuzz_target!(|data: &[u8]| {
    let Ok(mut obj) = Object::parse(data) else {
        return;
    };
    for p in obj.programs() {
        let _ = obj.program_insns(p);
        let _ = (p.auto_attach(), p.attach_target(), p.is_retprobe());
    }
    for s in obj.prog_sections() {
        for r in &s.relocs {
            assert!(r.insn < s.insns.len());
            match r.target {
                RelocTarget::Map(m) => assert!(m < obj.maps().len()),
                RelocTarget::Data { section, .. } => assert!(section < obj.data_sections().len()),
                RelocTarget::Call { section, insn } | RelocTarget::FuncAddr { section, insn } => {
                    assert!(insn < obj.prog_sections()[section].insns.len())
                }
                RelocTarget::Extern(e) => assert!(e < obj.externs().len()),
                RelocTarget::Arena { .. } | RelocTarget::JumpTable { .. } => {}
            }
        }
    }
    let vars: Vec<(String, String)> = obj
        .data_sections()
        .iter()
        .flat_map(|d| d.variables().iter().map(|v| (d.name().to_string(), v.name.clone())))
        .collect();
    for (sec, var) in vars {
        if let Ok(d) = obj.section_data_mut(&sec) {
            if let Ok(bytes) = d.get(&var) {
                let value = bytes.to_vec();
                let _ = d.set(&var, &value);
            }
        }
    }
});
