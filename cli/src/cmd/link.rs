//! `oxbpf link list`: the system's BPF links.

use clap::Subcommand;
use oxbpf::programs::query::all_links;
use serde_json::json;

use crate::exit::{CmdResult, Code, Failure};
use crate::out::{self, lower, Table};

/// `oxbpf link ...`
#[derive(Subcommand, Debug)]
pub enum LinkCommand {
    /// List every link of the system.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `oxbpf link ...`.
pub fn run(cmd: LinkCommand) -> CmdResult {
    let LinkCommand::List { json } = cmd;
    let links = all_links().map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail("while listing the system's links")
    })?;
    if json {
        out::json(&serde_json::Value::Array(
            links
                .iter()
                .map(|l| {
                    let t = l.info.link_type();
                    json!({
                        "id": l.info.id,
                        "type": lower(t.short_name(), t.0),
                        "prog_id": l.info.prog_id,
                        "name": l.name,
                    })
                })
                .collect(),
        ));
        return Ok(());
    }
    let mut t = Table::new(&["ID", "TYPE", "PROG", "TARGET"]);
    for l in &links {
        let ty = l.info.link_type();
        t.row(vec![
            l.info.id.to_string(),
            lower(ty.short_name(), ty.0),
            l.info.prog_id.to_string(),
            l.name.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    out::print(&t.render());
    if links.is_empty() {
        out::line("(no links)");
    }
    Ok(())
}
