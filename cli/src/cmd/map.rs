//! `oxbpf map list` and `oxbpf map dump ID|PIN`: the system's maps, and one map's entries
//! through its BTF (structs, enums by name, `char` arrays as strings) when it has BTF.

use std::path::Path;

use clap::Subcommand;
use oxbpf::maps::Map;
use oxbpf::programs::query::all_maps;
use serde_json::{json, Value as Json};

use crate::exit::{CmdResult, Code, Failure};
use crate::mapview::{self, Types};
use crate::objects::{btf_by_id, type_name};
use crate::out::{self, lower, Table};

/// `oxbpf map ...`
#[derive(Subcommand, Debug)]
pub enum MapCommand {
    /// List every map of the system.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a map's entries, typed through its BTF when it has one.
    Dump {
        /// The map's id (see `oxbpf map list`) or a pin path under bpffs.
        map: String,
        /// Show at most this many entries.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        max_entries: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `oxbpf map ...`.
pub fn run(cmd: MapCommand) -> CmdResult {
    match cmd {
        MapCommand::List { json } => list(json),
        MapCommand::Dump {
            map,
            max_entries,
            json,
        } => dump(&map, max_entries, json),
    }
}

fn list(json: bool) -> CmdResult {
    let maps = all_maps().map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail("while listing the system's maps")
    })?;
    if json {
        out::json(&Json::Array(
            maps.iter()
                .map(|m| {
                    json!({
                        "id": m.id,
                        "name": m.name(),
                        "type": lower(m.map_type().short_name(), m.map_type().0),
                        "key_size": m.key_size,
                        "value_size": m.value_size,
                        "max_entries": m.max_entries,
                        "flags": m.map_flags,
                        "btf_id": m.btf_id,
                    })
                })
                .collect(),
        ));
        return Ok(());
    }
    let mut t = Table::new(&[
        "ID",
        "TYPE",
        "NAME",
        "KEY",
        "VALUE",
        "MAX ENTRIES",
        "FLAGS",
        "BTF",
    ]);
    for m in &maps {
        let flags = oxbpf::syscall::MapFlags::from_bits_retain(m.map_flags);
        t.row(vec![
            m.id.to_string(),
            lower(m.map_type().short_name(), m.map_type().0),
            m.name(),
            m.key_size.to_string(),
            m.value_size.to_string(),
            m.max_entries.to_string(),
            out::flags(flags.iter_names()),
            if m.btf_id == 0 {
                "-".into()
            } else {
                m.btf_id.to_string()
            },
        ]);
    }
    out::print(&t.render());
    Ok(())
}

fn open(arg: &str) -> Result<Map, Failure> {
    let opened = match arg.parse::<u32>() {
        Ok(id) => Map::from_id(id),
        Err(_) => Map::from_pin(Path::new(arg)),
    };
    opened.map_err(|e| {
        Failure::from_error(Code::Failure, &e).detail(format!("while opening map {arg}"))
    })
}

fn dump(arg: &str, max: usize, json: bool) -> CmdResult {
    let map = open(arg)?;
    if let Some(why) = mapview::not_listable(map.map_type()) {
        return Err(Failure::new(
            Code::Failure,
            format!(
                "map {arg} (`{}`) has no entries to dump: it is {why}",
                map.name()
            ),
        ));
    }
    let btf = btf_by_id(map.btf_id());
    let nz = |id: u32| (id != 0).then_some(id);
    let types = Types {
        btf: btf.as_ref(),
        key: nz(map.btf_key_type_id()),
        value: nz(map.btf_value_type_id()),
    };
    let listed = mapview::entries(&map, max, |_| false)
        .map_err(|e| Failure::from_error(Code::Failure, &e))?;
    let id = map.id().unwrap_or_default();
    if json {
        let entries: Vec<Json> = listed
            .entries
            .iter()
            .map(|e| {
                json!({
                    "key": mapview::key_json(&map, types, &e.key),
                    "value": mapview::value_json(&map, types, &e.value),
                })
            })
            .collect();
        out::json(&json!({
            "id": id,
            "name": map.name(),
            "type": lower(map.map_type().short_name(), map.map_type().0),
            "key_type": types.key.map(|k| type_name(types.btf, Some(k))),
            "value_type": types.value.map(|v| type_name(types.btf, Some(v))),
            "entries": entries,
            "truncated": listed.truncated,
        }));
        return Ok(());
    }
    let mut s = format!(
        "map {id} `{}` ({}), key {}, value {}; entries: {}{}\n",
        map.name(),
        lower(map.map_type().short_name(), map.map_type().0),
        match types.key {
            Some(k) => type_name(types.btf, Some(k)),
            None if map.key_size() == 4 && mapview::show_key(&map, types, &[0; 4]) == "0" => {
                "u32 index".into()
            }
            None => "(no BTF)".into(),
        },
        types
            .value
            .map_or("(no BTF)".into(), |v| type_name(types.btf, Some(v))),
        listed.entries.len(),
        if listed.truncated {
            format!(" (the first {max}; --max-entries shows more)")
        } else {
            String::new()
        }
    );
    let mut t = Table::new(&["KEY", "VALUE"]);
    for e in &listed.entries {
        t.row(vec![
            mapview::show_key(&map, types, &e.key),
            mapview::show_value(&map, types, &e.value),
        ]);
    }
    if !t.is_empty() {
        s.push_str(&t.render());
    }
    out::print(&s);
    Ok(())
}
