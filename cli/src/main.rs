//! The `oxbpf` command-line tool: shows, loads, runs and explains eBPF objects.

use clap::Parser;

/// Inspect, load, run and explain eBPF objects.
#[derive(Parser, Debug)]
#[command(name = "oxbpf", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
