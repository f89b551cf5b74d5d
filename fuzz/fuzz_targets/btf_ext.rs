//! `BtfExt::parse` of a fuzzed `.BTF.ext` against a fuzzed `.BTF` (`[len][BTF][BTF.ext]`),
//! then every record's strings resolved.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::btf::{Btf, BtfExt};

fuzz_target!(|data: &[u8]| {
    let (btf, ext) = oxbpf_fuzz::split(data);
    let Ok(btf) = Btf::parse(btf.to_vec()) else {
        return;
    };
    let Ok(ext) = BtfExt::parse(ext, &btf) else {
        return;
    };
    for s in &ext.line_info {
        for l in &s.records {
            let _ = (l.file_name(&btf), l.line_text(&btf), l.line_col());
        }
    }
    for s in &ext.core_relos {
        for r in &s.records {
            let _ = (r.access_str(&btf), r.kind.as_str(), r.kind.to_raw());
        }
    }
    for s in &ext.func_info {
        for f in &s.records {
            let _ = btf.type_by_id(f.type_id);
        }
        let _ = ext.func_info_for(&s.name);
        let _ = ext.line_info_for(&s.name);
        let _ = ext.core_relos_for(&s.name);
    }
});
