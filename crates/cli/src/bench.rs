//! `healthchain bench`: measurements next to the papers' figures.

use crate::output::say;
use clap::ValueEnum;
use healthchain_ledger::gas::{GasRow, gas_table_standalone};

/// A benchmark suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Gas per operation: seed 000 Table 3 and ours, embedded chain and (with --rpc) an
    /// external node.
    Gas,
}

pub fn run(suites: &[Suite], json: bool, rpc: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let all = [Suite::Gas];
    let suites = if suites.is_empty() { &all[..] } else { suites };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    for suite in suites {
        match suite {
            Suite::Gas => {
                let rows = runtime.block_on(gas_table_standalone(rpc))?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    print_gas(&rows);
                }
            }
        }
    }
    Ok(())
}

fn print_gas(rows: &[GasRow]) {
    say!("gas per operation (seed 000 Table 3 goal: at most 50% of the paper)");
    say!("{:<58} {:>12} {:>12} {:>10} {:>8}", "operation", "embedded", "external", "paper", "share");
    for row in rows {
        let external = row.gas_external.map_or("-".to_string(), |g| g.to_string());
        let (paper, share) = match row.paper_gas {
            Some(paper) => {
                let share = row.gas_embedded as f64 / paper as f64;
                (paper.to_string(), format!("{:.0}%{}", share * 100.0, if share <= 0.5 { " ok" } else { "" }))
            }
            None => ("-".to_string(), String::new()),
        };
        say!("{:<58} {:>12} {:>12} {:>10} {:>8}", row.operation, row.gas_embedded, external, paper, share);
    }
}
