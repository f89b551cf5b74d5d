//! The C dumper (`vmlinux.h`) over fuzzed BTF, with and without the CO-RE pragma.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::btf::{dump_c, Btf, DumpCOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data.to_vec()) else {
        return;
    };
    let mut out = String::new();
    let _ = dump_c(&btf, &DumpCOptions::default(), &mut out);
    let plain = DumpCOptions {
        preserve_access_index: false,
        guard: None,
    };
    out.clear();
    let _ = dump_c(&btf, &plain, &mut out);
});
