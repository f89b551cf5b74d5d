//! Output helpers shared by the commands: aligned tables, JSON, hex, values through BTF, and
//! a progress line on stderr when it is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use oxbpf::btf::Value;
use serde_json::{json, Value as Json};

/// Writes `text` to stdout; `false` once stdout is gone (a closed pipe), so streaming
/// commands can stop instead of panicking.
pub fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Writes `line` and a newline to stdout.
pub fn line(line: &str) -> bool {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    print(&s)
}

/// Pretty-prints a JSON value on stdout.
pub fn json(value: &Json) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    line(&text);
}

/// A table printed with aligned columns; numeric columns are right-aligned.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, each line ending in a newline; trailing spaces are trimmed.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut width = vec![0usize; n];
        let mut numeric = vec![true; n];
        for (i, h) in self.headers.iter().enumerate() {
            width[i] = h.chars().count();
        }
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
                if !c.is_empty() && !is_number(c) {
                    numeric[i] = false;
                }
            }
        }
        let mut out = String::new();
        let mut emit = |cells: &[String], header: bool| {
            let mut l = String::new();
            for i in 0..n {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = width[i].saturating_sub(c.chars().count());
                if i > 0 {
                    l.push_str("  ");
                }
                if numeric[i] && !header {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(c);
                } else {
                    l.push_str(c);
                    if i + 1 < n {
                        l.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        emit(&self.headers, true);
        for r in &self.rows {
            emit(r, false);
        }
        out
    }
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Bytes as space-separated hex pairs.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A BTF-decoded value as JSON: integers as numbers (strings past 64 bits), enums by name,
/// structs as objects, strings as strings.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Uint(u) => match u64::try_from(*u) {
            Ok(n) => json!(n),
            Err(_) => json!(u.to_string()),
        },
        Value::Int(i) => match i64::try_from(*i) {
            Ok(n) => json!(n),
            Err(_) => json!(i.to_string()),
        },
        Value::Bool(b) => json!(b),
        Value::Char(c) => json!(char::from(*c).to_string()),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Enum {
            name: Some(n),
            value: _,
        } => json!(n),
        Value::Enum { name: None, value } => match i64::try_from(*value) {
            Ok(n) => json!(n),
            Err(_) => json!(value.to_string()),
        },
        Value::Ptr(p) => json!(format!("{p:#x}")),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Struct(fields) => {
            let mut m = serde_json::Map::new();
            for (n, v) in fields {
                m.insert(n.clone(), value_json(v));
            }
            Json::Object(m)
        }
        Value::Bytes(b) => json!(hex(b)),
    }
}

/// A progress line on stderr (`⠋ loading execsnoop.bpf.o`), only when stderr is a terminal;
/// cleared when dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `message`.
    pub fn start(message: impl Into<String>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = stop.clone();
            let message = message.into();
            std::thread::spawn(move || {
                const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let mut i = 0;
                // Only show up when the work is not instant.
                std::thread::sleep(Duration::from_millis(150));
                while !stop.load(Ordering::Relaxed) {
                    eprint!("\r{} {message}", FRAMES[i % FRAMES.len()]);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(80));
                }
                if i > 0 {
                    eprint!("\r\x1b[2K");
                }
            })
        });
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `1 map`, `2 maps`, `3 entries`.
pub fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

/// A uapi enumeration value in lower case without its prefix (`tracepoint`, `ringbuf`), or
/// its number when unknown.
pub fn lower(short_name: Option<&str>, raw: u32) -> String {
    match short_name {
        Some(n) => n.to_ascii_lowercase(),
        None => format!("unknown({raw})"),
    }
}

/// Flag names (from a bitflags `iter_names()`) joined with `|`, `-` for none.
pub fn flags<'a, T>(names: impl Iterator<Item = (&'a str, T)>) -> String {
    let names: Vec<&str> = names.map(|(n, _)| n).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|").to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["NAME", "N", "WHAT"]);
        t.row(vec!["a".into(), "1".into(), "x".into()]);
        t.row(vec!["long".into(), "100".into(), "y".into()]);
        assert_eq!(t.render(), "NAME  N    WHAT\na       1  x\nlong  100  y\n");
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x".into(), "1".into()]);
        t.row(vec!["y".into(), "100".into()]);
        assert_eq!(t.render(), "A  B\nx    1\ny  100\n");
        // An empty table is its header.
        assert_eq!(Table::new(&["ID", "TYPE"]).render(), "ID  TYPE\n");
    }
}
