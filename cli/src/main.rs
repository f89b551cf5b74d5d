//! The `oxbpf` command-line tool: shows, loads, runs and explains eBPF objects.
//!
//! Every command is a thin presentation layer over the library: the logic worth reusing lives
//! in `oxbpf` itself.

mod cmd;
mod exit;
mod listing;
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
    /// Show what an object holds: programs, maps, globals, externs, BTF (offline).
    Inspect(cmd::inspect::InspectArgs),
    /// CO-RE: check an object's relocations against kernels' BTF (offline).
    #[command(subcommand)]
    Core(cmd::core::CoreCommand),
    /// BTF: dump a kernel's or an object's types as C (vmlinux.h) or as a raw listing.
    #[command(subcommand)]
    Btf(cmd::btf::BtfCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Core(c) => cmd::core::run(c),
        Command::Btf(c) => cmd::btf::run(c),
    };
    if let Err(e) = result {
        e.report();
        std::process::exit(e.code as i32);
    }
}
