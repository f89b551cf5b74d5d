//! The verifier-log readers: the CO-RE annotator (with real poisoned decisions, from
//! `poisoned.bpf.c` relocated against Linux 6.1) and the loader's log summary.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxbpf::loader::verifier_log::{insn_index, last_insn, summarize, tail, SourceLine};
use oxbpf::relocate::core::{annotate_verifier_log, poisoned_in_log, CoreDecision, Targets};
use oxbpf::relocate::{relocate, RelocateOptions};

fn decisions() -> &'static [CoreDecision] {
    static D: OnceLock<Vec<CoreDecision>> = OnceLock::new();
    D.get_or_init(|| {
        let obj = &oxbpf_fuzz::core_objects()[2];
        let opts = RelocateOptions {
            targets: Some(Targets::kernel(oxbpf_fuzz::linux_61())),
            ..Default::default()
        };
        let out = relocate(obj, opts).expect("poisoned.bpf.c relocates");
        assert!(out.core.iter().any(|d| d.is_poisoned()));
        out.core
    })
}

fuzz_target!(|data: &[u8]| {
    let log = String::from_utf8_lossy(data);
    let ds = decisions();
    let annotated = annotate_verifier_log(&log, |i| {
        (i % 2 == 0).then(|| ds.get(i / 2 % ds.len())).flatten()
    });
    let _ = annotate_verifier_log(&annotated, |_| None);
    let _ = poisoned_in_log(&log);
    let s = summarize(&log, |i| {
        (i % 3 != 0).then(|| SourceLine {
            file: "f.c".into(),
            line: i as u32,
            text: "x".into(),
        })
    });
    if let Some(src) = &s.source {
        let _ = src.to_string();
    }
    assert!(s.tail.len() <= oxbpf::loader::verifier_log::TAIL_LINES);
    let _ = (last_insn(&log), tail(&log, 3));
    for line in log.lines().take(64) {
        let _ = insn_index(line);
    }
});
