//! `healthchain bench`: runs `healthchain_bench`'s suites and writes what they measured.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use healthchain_bench::{Options, Suite, plot};

use crate::output::say;

/// Measure healthchain against the papers' figures and the peers, side by side.
#[derive(Args)]
pub struct BenchArgs {
    /// Suites to run (all when none is named).
    #[arg(value_enum)]
    suites: Vec<Suite>,
    /// Print the whole run as JSON on standard output (tables go to standard error).
    #[arg(long)]
    json: bool,
    /// Write `results.json`, `summary.md` and the plots (SVG and PNG) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Every suite small (seconds, not minutes): checks that the benchmarks still run.
    #[arg(long)]
    quick: bool,
    /// JSON-RPC URL of an external node to measure beside the embedded chain (its dev
    /// account 0 must be funded, as hardhat's is); without it a hardhat@2 node is started
    /// when `node_modules/.bin/hardhat` is installed here.
    #[arg(long)]
    rpc: Option<String>,
    /// How long the load suite runs, seconds (default 60; 3 with --quick).
    #[arg(long)]
    duration: Option<u64>,
}

pub fn run(args: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::Builder::new().prefix("healthchain-bench-").tempdir()?;
    let options = Options {
        quick: args.quick,
        rpc: args.rpc.clone(),
        program: std::env::current_exe()?,
        scratch: scratch.path().to_path_buf(),
        load_duration: Duration::from_secs(args.duration.unwrap_or(if args.quick { 3 } else { 60 })),
    };
    let json = args.json;
    let run = healthchain_bench::run(&args.suites, &options, |report| {
        if json {
            eprintln!("{report}");
        } else {
            say!("{report}");
        }
    })?;
    if json {
        say!("{}", serde_json::to_string_pretty(&run)?);
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let results = dir.join("results.json");
        std::fs::write(&results, serde_json::to_vec_pretty(&run)?)
            .map_err(|e| format!("cannot write {}: {e}", results.display()))?;
        let summary = dir.join("summary.md");
        std::fs::write(&summary, run.markdown()).map_err(|e| format!("cannot write {}: {e}", summary.display()))?;
        let mut plots = 0;
        for report in &run.suites {
            for chart in &report.plots {
                plots += plot::draw(chart, dir)?.len();
            }
        }
        eprintln!("wrote {}, {} and {plots} plot files", results.display(), summary.display());
    }
    Ok(())
}
