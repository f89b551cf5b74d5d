//! The `oxbpf` command-line tool: shows, loads, runs and explains eBPF objects.
//!
//! Every command is a thin presentation layer over the library: the logic worth reusing lives
//! in `oxbpf` itself.

mod cmd;
mod exit;
mod interrupt;
mod listing;
mod mapview;
mod mounts;
mod objects;
mod out;

use clap::{Parser, Subcommand};

/// Inspect, load, run and explain eBPF objects.
#[derive(Parser, Debug)]
#[command(name = "oxbpf", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Trace this machine live: process execs, file opens and exits (as root).
    Demo(cmd::demo::DemoArgs),
    /// Show what an object holds: programs, maps, globals, externs, BTF (offline).
    Inspect(cmd::inspect::InspectArgs),
    /// Load an object's maps and programs and report each (verifier statistics, failures
    /// explained).
    Load(cmd::load::LoadArgs),
    /// Load, attach what attaches by itself, stream ring/perf buffers, show maps.
    Run(cmd::run::RunArgs),
    /// CO-RE: check an object's relocations against kernels' BTF (offline).
    #[command(subcommand)]
    Core(cmd::core::CoreCommand),
    /// What this kernel supports: program, map and link types, helpers, BTF features.
    Feature(cmd::feature::FeatureArgs),
    /// The system's programs: list them, dump one's instructions.
    #[command(subcommand)]
    Prog(cmd::prog::ProgCommand),
    /// The system's maps: list them, dump one's entries.
    #[command(subcommand)]
    Map(cmd::map::MapCommand),
    /// The system's links.
    #[command(subcommand)]
    Link(cmd::link::LinkCommand),
    /// BTF: dump a kernel's or an object's types as C (vmlinux.h) or as a raw listing.
    #[command(subcommand)]
    Btf(cmd::btf::BtfCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Core(c) => cmd::core::run(c),
        Command::Feature(a) => cmd::feature::run(a),
        Command::Prog(c) => cmd::prog::run(c),
        Command::Map(c) => cmd::map::run(c),
        Command::Link(c) => cmd::link::run(c),
        Command::Btf(c) => cmd::btf::run(c),
    };
    if let Err(e) = result {
        e.report();
        std::process::exit(e.code as i32);
    }
}
