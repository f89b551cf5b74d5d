//! Exit statuses and the one-sentence error report every command ends with on failure.
// Some statuses and builders are used only by commands that arrive later.
#![allow(dead_code)]

use std::fmt;

/// Exit statuses: scripts can tell usage errors, load failures and missing privileges apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// Anything else that failed (unreadable file, malformed object, ...).
    Failure = 1,
    /// Bad command line (clap also exits with 2).
    Usage = 2,
    /// The kernel refused to load or attach something.
    LoadFailed = 3,
    /// The process lacks the privileges (root, or CAP_BPF + CAP_PERFMON).
    Privileges = 4,
    /// An offline check found problems (e.g. `core check` with failing relocations).
    CheckFailed = 5,
}

/// A command's failure: one clear sentence, then details.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: Code,
    /// The sentence.
    pub message: String,
    /// More lines (a verifier log's end, causes).
    pub details: Vec<String>,
}

impl Failure {
    /// A failure with an exit status and a message.
    pub fn new(code: Code, message: impl fmt::Display) -> Failure {
        Failure {
            code,
            message: message.to_string(),
            details: Vec::new(),
        }
    }

    /// From any error: the message and its chain of causes as details.
    pub fn from_error(code: Code, err: &(dyn std::error::Error + 'static)) -> Failure {
        let mut details = Vec::new();
        let mut source = err.source();
        while let Some(s) = source {
            details.push(format!("caused by: {s}"));
            source = s.source();
        }
        let message = err.to_string();
        let code = if message.contains("EPERM") || message.contains("Operation not permitted") {
            Code::Privileges
        } else {
            code
        };
        Failure {
            code,
            message,
            details,
        }
    }

    /// Adds a detail line.
    pub fn detail(mut self, line: impl fmt::Display) -> Failure {
        self.details.push(line.to_string());
        self
    }

    /// Prints the report on stderr.
    pub fn report(&self) {
        eprintln!("oxbpf: error: {}", self.message);
        for d in &self.details {
            eprintln!("  {d}");
        }
        if self.code == Code::Privileges {
            eprintln!("  hint: run as root, or grant CAP_BPF and CAP_PERFMON (plus CAP_NET_ADMIN for networking programs)");
        }
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Failure>;
