//! Reading a verifier log: where it failed, and which C source line that was.
//!
//! The kernel's log (level 1) lists the instructions it walked (`12: (61) r1 = *(u32 *)(r6 +0)`)
//! and ends with the reason. The failing instruction is the last one listed; with the
//! program's line_info we name its C source line, which is what a user wants to see first.

use std::fmt;

/// Where a program's instruction came from in the C source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// The source file.
    pub file: String,
    /// The line number.
    pub line: u32,
    /// The line's text, as clang recorded it.
    pub text: String,
}

impl fmt::Display for SourceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.text.trim())
    }
}

/// The summary of a verifier rejection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Index of the last instruction the log mentions (the one the verifier stopped at).
    pub insn: Option<usize>,
    /// Its C source line, when line_info had one at or before it.
    pub source: Option<SourceLine>,
    /// The last non-empty lines of the log (at most [`TAIL_LINES`]).
    pub tail: Vec<String>,
}

/// How many lines of the log's end a summary keeps.
pub const TAIL_LINES: usize = 10;

/// The index of an instruction line of the log (`"123: (85) call ..."` → 123).
pub fn insn_index(line: &str) -> Option<usize> {
    let (num, rest) = line.split_once(':')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Instruction lines carry the opcode in parentheses; state lines ("12: R1=ctx()") don't.
    let rest = rest.trim_start();
    if !rest.starts_with('(') {
        return None;
    }
    num.parse().ok()
}

/// The last instruction index a log mentions.
pub fn last_insn(log: &str) -> Option<usize> {
    log.lines().rev().find_map(insn_index)
}

/// The last `n` non-empty lines.
pub fn tail(log: &str, n: usize) -> Vec<String> {
    let mut v: Vec<String> = log
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(str::to_string)
        .collect();
    v.reverse();
    v
}

/// Summarises a log; `source_of` maps an instruction index to its source line (the loader
/// answers from the program's final line_info: the entry at or before the instruction).
pub fn summarize(log: &str, source_of: impl Fn(usize) -> Option<SourceLine>) -> LogSummary {
    let insn = last_insn(log);
    LogSummary {
        insn,
        source: insn.and_then(source_of),
        tail: tail(log, TAIL_LINES),
    }
}

impl fmt::Display for LogSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.insn, &self.source) {
            (Some(i), Some(s)) => writeln!(f, "failed at instruction {i}, {s}")?,
            (Some(i), None) => writeln!(f, "failed at instruction {i}")?,
            _ => {}
        }
        for l in &self.tail {
            writeln!(f, "  | {l}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "func#0 @0\n0: R1=ctx() R10=fp0\n; int x = ctx->len; @ prog.c:12\n\
        0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2_w=scalar()\n\
        1: (85) call bpf_map_lookup_elem#1\nR1 type=scalar expected=map_ptr\n\
        processed 2 insns (limit 1000000) max_states_per_insn 0\n\n";

    #[test]
    fn finds_the_failing_instruction() {
        assert_eq!(insn_index("12: (61) r1 = *(u32 *)(r6 +0)"), Some(12));
        assert_eq!(insn_index("0: R1=ctx() R10=fp0"), None);
        assert_eq!(insn_index("func#0 @0"), None);
        assert_eq!(last_insn(LOG), Some(1));
    }

    #[test]
    fn summary_names_the_source_line() {
        let s = summarize(LOG, |i| {
            (i == 1).then(|| SourceLine {
                file: "prog.c".into(),
                line: 13,
                text: "  v = bpf_map_lookup_elem(x, &k);".into(),
            })
        });
        assert_eq!(s.insn, Some(1));
        assert_eq!(s.tail.len(), 7);
        let text = s.to_string();
        assert!(text.starts_with("failed at instruction 1, prog.c:13: v = bpf_map_lookup_elem"));
        assert!(text.contains("expected=map_ptr"));
    }
}
