//! `Object::parse` over arbitrary bytes, then every accessor of what it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf::object::Object;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = Object::parse(data) {
        oxbpf_fuzz::walk_object(&obj);
    }
});
