//! The ratio table: each bench fills a [`Table`], prints it and saves it as a Markdown
//! fragment under `<target>/compare/`; `compare/report.sh` joins the fragments.

use std::fmt::Write as _;
use std::path::PathBuf;

/// A target a ratio should meet.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The ratio should be at most this.
    AtMost(f64),
    /// The ratio should be at least this.
    AtLeast(f64),
}

impl Target {
    fn met(self, r: f64) -> bool {
        match self {
            Target::AtMost(t) => r <= t,
            Target::AtLeast(t) => r >= t,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtMost(t) => format!("≤ {t}x"),
            Target::AtLeast(t) => format!("≥ {t}x"),
        }
    }
}

struct Row {
    figure: String,
    ratio: String,
    target: String,
    met: String,
    note: String,
}

/// One bench's rows: `| figure | ratio | target | met | note |`.
pub struct Table {
    name: String,
    rows: Vec<Row>,
}

impl Table {
    /// An empty table saved as `<name>.md`.
    pub fn new(name: &str) -> Table {
        Table {
            name: name.to_string(),
            rows: Vec::new(),
        }
    }

    /// A ratio row (`None`: not measured in this run, with `note` saying why).
    pub fn ratio(&mut self, figure: &str, ratio: Option<f64>, target: Option<Target>, note: &str) {
        let (r, met) = match ratio {
            Some(r) => (
                format!("{r:.2}x"),
                target.map_or(String::new(), |t| {
                    if t.met(r) { "yes" } else { "**no**" }.to_string()
                }),
            ),
            None => ("n/a".to_string(), String::new()),
        };
        self.rows.push(Row {
            figure: figure.to_string(),
            ratio: r,
            target: target.map_or(String::new(), Target::text),
            met,
            note: note.to_string(),
        });
    }

    /// A row holding a measured value rather than a ratio (heap kept, counts).
    pub fn value(
        &mut self,
        figure: &str,
        value: &str,
        target: &str,
        met: Option<bool>,
        note: &str,
    ) {
        self.rows.push(Row {
            figure: figure.to_string(),
            ratio: value.to_string(),
            target: target.to_string(),
            met: met.map_or(String::new(), |m| {
                if m { "yes" } else { "**no**" }.to_string()
            }),
            note: note.to_string(),
        });
    }

    /// The rows as Markdown table lines (no header).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.figure, r.ratio, r.target, r.met, r.note
            );
        }
        s
    }

    /// Prints the rows and saves them to `<target>/compare/<name>.md`.
    pub fn print_and_save(&self) {
        let text = self.markdown();
        eprintln!("\n{} ratios (this run):\n{}{}", self.name, HEADER, text);
        let dir = fragments_dir();
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join(format!("{}.md", self.name)), text);
        }
    }
}

/// The Markdown header of the joined table.
pub const HEADER: &str = "| figure | measured | target | met | note |\n|---|---|---|---|---|\n";

/// Where the fragments go.
pub fn fragments_dir() -> PathBuf {
    crate::bench::target_dir().join("compare")
}
