//! `Btf::parse` (base, and split on a small base), then every type walked: accessors,
//! lookups, sizes, alignments, names, the raw dump and the writer's round trip.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use oxbpf::btf::Btf;

fn base() -> Arc<Btf> {
    static BASE: OnceLock<Arc<Btf>> = OnceLock::new();
    BASE.get_or_init(oxbpf_fuzz::layout_target).clone()
}

fuzz_target!(|data: &[u8]| {
    // The low bit of the last byte picks split BTF: mutations flip it cheaply.
    let split = data.last().is_some_and(|b| b & 1 == 1) && data.len() > 24;
    let parsed = if split {
        Btf::parse_split(data.to_vec(), base())
    } else {
        Btf::parse(data.to_vec())
    };
    if let Ok(btf) = parsed {
        oxbpf_fuzz::walk_btf(&btf);
    }
});
