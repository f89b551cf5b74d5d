//! Verifier-log annotation: when the verifier reaches a poisoned CO-RE instruction it prints
//! `123: (85) call unknown#195896080` and `invalid func unknown#195896080`; these lines are
//! rewritten into sentences naming the relocation that failed, its C access path, the local
//! type, and why no target matched.

use std::fmt::Write as _;

use crate::btf::CoreReloKind;
use crate::insn::opcode::POISON_CORE;

use super::decision::{CoreDecision, Outcome, PoisonCause};

/// Whether `line` is `N: (85) call unknown#195896080`; returns `N`.
fn poisoned_call_index(line: &str) -> Option<usize> {
    let (idx, rest) = line.trim_start().split_once(':')?;
    let idx: usize = idx.parse().ok()?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("(85)").unwrap_or(rest).trim_start();
    let tail = rest.strip_prefix("call unknown#")?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse::<i64>().ok()? == i64::from(POISON_CORE)).then_some(idx)
}

fn is_invalid_func_line(line: &str) -> bool {
    line.trim()
        .strip_prefix("invalid func unknown#")
        .and_then(|d| d.parse::<i64>().ok())
        == Some(i64::from(POISON_CORE))
}

/// How to avoid the failure, by kind.
fn hint(d: &CoreDecision) -> &'static str {
    use CoreReloKind::*;
    match (d.outcome, d.kind) {
        (Outcome::Poisoned(PoisonCause::SizeMismatch { .. }), _) => {
            "declare the local field with the target's type, or read it with bpf_core_read()"
        }
        (_, EnumvalValue) => "guard it with bpf_core_enum_value_exists() or fix the local enum",
        _ => "guard it with bpf_core_field_exists() or fix the local type",
    }
}

/// The first line of the annotation: which relocation was poisoned.
pub fn describe_poisoned(d: &CoreDecision) -> String {
    format!(
        "<invalid CO-RE relocation> {} `{}` (local type {}, access {}, section {} record #{})",
        d.kind, d.local.path, d.local.type_name, d.local.access, d.section, d.record
    )
}

/// The second line: why it could not be relocated and what to do.
pub fn explain_poisoned(d: &CoreDecision) -> String {
    let why = d
        .poison_reason()
        .unwrap_or_else(|| "the relocation was not poisoned".to_string());
    format!(
        "failed to resolve CO-RE relocation {} `{}`: {why}; the instruction was poisoned and \
         is reachable: {}",
        d.kind,
        d.local.path,
        hint(d)
    )
}

/// Rewrite `log`: each `N: (85) call unknown#195896080` line and the `invalid func
/// unknown#195896080` line after it become an explanation of the CO-RE relocation at final
/// instruction `N`, looked up with `decision`. Other lines are kept as they are.
pub fn annotate_verifier_log<'d>(
    log: &str,
    decision: impl Fn(usize) -> Option<&'d CoreDecision>,
) -> String {
    let mut out = String::with_capacity(log.len() + 256);
    let mut last: Option<usize> = None;
    for line in log.split_inclusive('\n') {
        let (text, nl) = match line.strip_suffix('\n') {
            Some(t) => (t, "\n"),
            None => (line, ""),
        };
        if let Some(idx) = poisoned_call_index(text) {
            last = Some(idx);
            match decision(idx) {
                Some(d) => {
                    let _ = write!(out, "{idx}: {}{nl}", describe_poisoned(d));
                }
                None => {
                    let _ = write!(
                        out,
                        "{idx}: <invalid CO-RE relocation> (poisoned instruction; no CO-RE \
                         record maps to it){nl}"
                    );
                }
            }
        } else if is_invalid_func_line(text) {
            match last.and_then(&decision) {
                Some(d) => {
                    let _ = write!(out, "{}{nl}", explain_poisoned(d));
                }
                None => {
                    let _ = write!(
                        out,
                        "failed to resolve a CO-RE relocation (helper #{POISON_CORE} is the \
                         poison oxbpf and libbpf write over instructions they cannot relocate){nl}"
                    );
                }
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The final instruction indices the log reports as poisoned CO-RE instructions.
pub fn poisoned_in_log(log: &str) -> Vec<usize> {
    log.lines().filter_map(poisoned_call_index).collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_btf::{alu_insns, run, Local, B};
    use super::*;
    use crate::btf::CoreReloKind::FieldByteOffset;

    #[test]
    fn poisoned_lines_become_sentences() {
        let mut b = B::new();
        let int = b.int("int", 4, true);
        let foo = b.strukt("foo___old", 8, &[("a", int, 0, 0), ("gone", int, 32, 0)]);
        let local = Local::finish(b, &[(FieldByteOffset, foo, "0:1")]);
        let mut t = B::new();
        let int = t.int("int", 4, true);
        t.strukt("foo", 4, &[("a", int, 0, 0)]);
        let d = run(&local, &t.build(), &mut alu_insns(&[4])).unwrap();
        assert!(d[0].is_poisoned());
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (85) call unknown#195896080\n\
                   invalid func unknown#195896080\nprocessed 1 insns (limit 1000000)\n";
        assert_eq!(poisoned_in_log(log), [0]);
        let out = annotate_verifier_log(log, |i| d.iter().find(|d| d.insn == i));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert_eq!(lines[0], "func#0 @0");
        assert_eq!(
            lines[2],
            "0: <invalid CO-RE relocation> byte_off `foo___old->gone` (local type struct \
             foo___old, access 0:1, section test record #0)"
        );
        assert!(lines[3].starts_with("failed to resolve CO-RE relocation byte_off `foo___old->gone`: field `gone` not found in target ["), "{out}");
        assert!(
            lines[3].ends_with("guard it with bpf_core_field_exists() or fix the local type"),
            "{out}"
        );
        assert_eq!(lines[4], "processed 1 insns (limit 1000000)");
        // Without a decision for the index the lines still say what happened.
        let out = annotate_verifier_log(log, |_| None);
        assert!(
            out.contains("0: <invalid CO-RE relocation> (poisoned instruction"),
            "{out}"
        );
        assert!(!out.contains("unknown#195896080"), "{out}");
        // Other calls and other logs are left alone.
        let other = "5: (85) call bpf_map_lookup_elem#1\ninvalid func unknown#2001000000\n";
        assert_eq!(annotate_verifier_log(other, |_| None), other);
    }
}
