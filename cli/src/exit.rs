//! Exit statuses and the one-sentence error report every command ends with on failure.

use std::fmt;

use oxbpf::loader::LoadError;

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
        let mut lines = message.to_string();
        let details = split_details(&mut lines);
        Failure {
            code,
            message: lines,
            details,
        }
    }

    /// From any error: its first line as the message, its other lines and its chain of
    /// causes as details; an EPERM anywhere makes it a privileges failure.
    pub fn from_error(code: Code, err: &(dyn std::error::Error + 'static)) -> Failure {
        let mut message = err.to_string();
        let mut details = split_details(&mut message);
        let mut source = err.source();
        let mut eperm = is_eperm(&message);
        while let Some(s) = source {
            let text = s.to_string();
            eperm |= is_eperm(&text);
            // Wrappers often repeat their cause; say each thing once.
            if !message.contains(&text) && !details.iter().any(|d| d.contains(&text)) {
                details.push(format!("caused by: {text}"));
            }
            source = s.source();
        }
        Failure {
            code: if eperm { Code::Privileges } else { code },
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
            if nix::unistd::geteuid().is_root() {
                eprintln!("  hint: the kernel said EPERM although this runs as root: a security policy (lockdown, an LSM, or this kernel's rules for the program type) refused it");
            } else {
                eprintln!("  hint: run as root, or grant CAP_BPF and CAP_PERFMON (plus CAP_NET_ADMIN for networking programs)");
            }
        }
    }
}

fn is_eperm(text: &str) -> bool {
    text.contains("EPERM") || text.contains("Operation not permitted")
}

/// Keeps the first line in `message` and returns the others (trimmed, non-empty).
fn split_details(message: &mut String) -> Vec<String> {
    let Some((first, rest)) = message.split_once('\n') else {
        return Vec::new();
    };
    let details = rest
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("  ").unwrap_or(l).to_string())
        .collect();
    *message = first.to_string();
    details
}

impl From<LoadError> for Failure {
    /// A load failure: the verifier's or kernel's refusal is a load failure (3), a missing
    /// privilege 4, anything about the object or its BTF 1.
    fn from(e: LoadError) -> Failure {
        let code = match &e {
            LoadError::Program(_)
            | LoadError::Map(_)
            | LoadError::Syscall { .. }
            | LoadError::AttachTarget { .. }
            | LoadError::Pin { .. }
            | LoadError::PinReuse { .. }
            | LoadError::MapNotCreated { .. }
            | LoadError::Extern { .. } => Code::LoadFailed,
            _ => Code::Failure,
        };
        Failure::from_error(code, &e)
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Failure>;
