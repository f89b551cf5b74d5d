//! The instruction decoder and the disassembler over fuzzed instruction bytes (both byte
//! orders); a decoded instruction must encode back to something that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::insn::ByteOrder;
use oxbpf::insn::{decode, Disassembler, Insn};

fuzz_target!(|data: &[u8]| {
    let whole = data.len() / 8 * 8;
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let Ok(insns) = Insn::decode_all(&data[..whole], order) else {
            continue;
        };
        let _ = oxbpf::insn::disasm(&insns);
        let named = Disassembler::new()
            .with_call_names(|i| Some(format!("f{}", i.imm)))
            .with_imm_names(|_, v| (v % 3 == 0).then(|| format!("m{v}")))
            .hide_pointers(true);
        let _ = named.program(&insns);
        // Per-index calls cost O(n) each: a prefix keeps the target linear.
        for i in 0..insns.len().min(32) {
            let _ = named.line(&insns, i);
            let _ = oxbpf::insn::decode::decode_at(&insns, i);
        }
        if let Ok(decoded) = decode(&insns) {
            for d in &decoded {
                let again = d.instruction.encode();
                match decode(&again) {
                    Ok(back) => assert_eq!(
                        back.first().map(|b| &b.instruction),
                        Some(&d.instruction),
                        "re-encoding changes the instruction"
                    ),
                    Err(e) => panic!("re-encoded {:?} does not decode: {e}", d.instruction),
                }
            }
        }
        assert_eq!(Insn::encode_all(&insns, order), &data[..whole]);
    }
});
