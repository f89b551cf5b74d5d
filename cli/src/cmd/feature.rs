//! `oxbpf feature`: what this kernel supports (program, map and link types, helpers per
//! program type, BTF features, JIT and statistics settings).

use clap::Args;
use oxbpf::features;

use crate::exit::{CmdResult, Code, Failure};
use crate::out;

/// `oxbpf feature`
#[derive(Args, Debug)]
pub struct FeatureArgs {
    /// Leave out the helpers per program type (much faster: one probe per helper and type).
    #[arg(long)]
    pub no_helpers: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `oxbpf feature`.
pub fn run(args: FeatureArgs) -> CmdResult {
    let report = {
        let _p = out::Progress::start("probing the kernel's BPF features");
        if args.no_helpers {
            features::all()
        } else {
            features::all_with_helpers()
        }
    };
    // Without privileges every probe is refused: say that instead of "unsupported".
    let refused = report
        .prog_types
        .iter()
        .all(|(_, a)| matches!(a, Err(e) if e.is_permission()));
    if refused {
        return Err(Failure::new(
            Code::Privileges,
            "the kernel refused every feature probe: loading BPF needs privileges",
        ));
    }
    if args.json {
        match serde_json::from_str::<serde_json::Value>(&report.to_json()) {
            Ok(v) => out::json(&v),
            Err(e) => {
                return Err(Failure::new(
                    Code::Failure,
                    format!("the feature report is not valid JSON: {e}"),
                ))
            }
        }
    } else {
        out::print(&report.to_string());
    }
    Ok(())
}
