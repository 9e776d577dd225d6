//! `healthchain bench`: every measurement that matters, in one run, next to the papers'
//! figures and to real peers measured in the same run.
//!
//! A [`Suite`] produces a [`SuiteReport`]: [`Figure`]s (the paper's value, ours, a peer's,
//! the goal and whether it is met) and [`Plot`]s. Every figure is a [`Stat`] — median,
//! min and max over repeated runs — because one sample on a shared two-core machine says
//! little. [`run`] runs the suites in order and returns a [`Run`], which prints as tables,
//! serialises as JSON and draws its plots ([`plot`]).
//!
//! The suites run on embedded defaults and build nothing at run time: the enclave is this
//! very executable in its enclave mode ([`Options::program`]).

mod crypto;
mod db;
mod enclave;
mod gas;
mod ingest;
mod ledger;
mod load;
pub mod plot;
mod report;
mod share;
mod update;
pub mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use healthchain_ledger::testing::HardhatNode;
use serde::Serialize;

pub use report::{Figure, Goal, Plot, PlotKind, Run, Series, Stat, SuiteReport, Unit};

/// A benchmark suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// Chameleon hash vs SHA-256 over 1–6 MB (seed 000 Fig. 5); AES-256-GCM and SHA-256
    /// against `openssl speed` on this CPU.
    Crypto,
    /// Update latency vs history size and vs new-data size (seed 000 Fig. 6c); in the
    /// enclave vs the same code run directly (Fig. 6a–c).
    Update,
    /// Gas per operation (seed 000 Table 3), embedded chain and an external node.
    Gas,
    /// Ledger write/read latency and committed tx/s, embedded chain vs an external node.
    Ledger,
    /// Seed 001 Fig. 7 and 8: INSERT/SELECT/UPDATE/DELETE of 10,000 rows, plain SQLite vs
    /// the encrypted store through the enclave, and where INSERT's time goes.
    Db,
    /// Enclave call round trip and bulk transfer 4–512 MB (seed 001 Fig. 5, Table 4).
    Enclave,
    /// EHRs stored per second end to end, hashes on chain (seed 001: 5,000/s).
    Ingest,
    /// Verify + decrypt + compute in the enclave for 10 / 100 / 1,000 records.
    Share,
    /// 500 concurrent clients against `healthchain node`'s HTTP API, seed 001's mix.
    Load,
}

impl Suite {
    /// Every suite, in the order a full run takes them.
    pub const ALL: [Suite; 9] = [
        Suite::Crypto,
        Suite::Update,
        Suite::Gas,
        Suite::Ledger,
        Suite::Db,
        Suite::Enclave,
        Suite::Ingest,
        Suite::Share,
        Suite::Load,
    ];

    /// The suite's name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Crypto => "crypto",
            Suite::Update => "update",
            Suite::Gas => "gas",
            Suite::Ledger => "ledger",
            Suite::Db => "db",
            Suite::Enclave => "enclave",
            Suite::Ingest => "ingest",
            Suite::Share => "share",
            Suite::Load => "load",
        }
    }
}

/// How a run is configured.
#[derive(Clone, Debug)]
pub struct Options {
    /// Every suite small: seconds instead of minutes, so a test keeps the code alive.
    pub quick: bool,
    /// An external JSON-RPC chain to measure beside the embedded one (otherwise a hardhat@2
    /// node is started when `node_modules/.bin/hardhat` is found).
    pub rpc: Option<String>,
    /// The executable that runs as the enclave (this one, in its `enclave-process` mode).
    pub program: PathBuf,
    /// Where suites put their temporary data.
    pub scratch: PathBuf,
    /// How long the load suite runs.
    pub load_duration: Duration,
}

/// A suite failed to run (not: a goal was missed — that is a result).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A component the suite drives failed.
    #[error("{suite}: {message}")]
    Failed {
        /// The suite.
        suite: &'static str,
        /// What failed.
        message: String,
    },
    /// Writing results.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Drawing a plot.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl BenchError {
    pub(crate) fn failed(suite: Suite, message: impl std::fmt::Display) -> Self {
        BenchError::Failed { suite: suite.name(), message: message.to_string() }
    }
}

/// Runs `suites` (all when empty), reporting each as it finishes through `progress`.
pub fn run(suites: &[Suite], options: &Options, mut progress: impl FnMut(&SuiteReport)) -> Result<Run, BenchError> {
    let mut wanted = if suites.is_empty() { Suite::ALL.to_vec() } else { suites.to_vec() };
    wanted.sort();
    wanted.dedup();
    let mut run = Run::describe(options.quick);
    for suite in wanted {
        let report = match suite {
            Suite::Crypto => crypto::run(options)?,
            Suite::Update => update::run(options)?,
            Suite::Gas => gas::run(options)?,
            Suite::Ledger => ledger::run(options)?,
            Suite::Db => db::run(options)?,
            Suite::Enclave => enclave::run(options)?,
            Suite::Ingest => ingest::run(options)?,
            Suite::Share => share::run(options)?,
            Suite::Load => load::run(options)?,
        };
        progress(&report);
        run.suites.push(report);
    }
    Ok(run)
}

/// Times `rounds` runs of `op` (after one warm-up run) in milliseconds.
pub(crate) fn time_ms<T>(rounds: usize, mut op: impl FnMut() -> T) -> Stat {
    std::hint::black_box(op());
    Stat::of((0..rounds).map(|_| elapsed_ms(&mut op)).collect())
}

/// Times `a` and `b` alternately, `rounds` times each, in milliseconds: a ratio of the two
/// is then not skewed by whatever else the machine did during one of them.
pub(crate) fn interleaved_ms<A, B>(rounds: usize, mut a: impl FnMut() -> A, mut b: impl FnMut() -> B) -> (Stat, Stat) {
    std::hint::black_box((a(), b()));
    let (mut times_a, mut times_b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        times_a.push(elapsed_ms(&mut a));
        times_b.push(elapsed_ms(&mut b));
    }
    (Stat::of(times_a), Stat::of(times_b))
}

fn elapsed_ms<T>(op: &mut impl FnMut() -> T) -> f64 {
    let start = Instant::now();
    std::hint::black_box(op());
    start.elapsed().as_secs_f64() * 1e3
}

/// A tokio runtime for a suite's asynchronous parts.
pub(crate) fn runtime(suite: Suite) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::failed(suite, format!("cannot start a runtime: {e}")))
}

/// The external chain measured beside the embedded one.
pub(crate) enum PeerChain {
    /// `--rpc URL`.
    Given(String),
    /// A hardhat@2 node this run started (stopped by PID on drop).
    Hardhat(HardhatNode),
}

impl PeerChain {
    pub(crate) fn url(&self) -> &str {
        match self {
            PeerChain::Given(url) => url,
            PeerChain::Hardhat(node) => node.url(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            PeerChain::Given(_) => "external node",
            PeerChain::Hardhat(_) => "hardhat@2",
        }
    }
}

/// `--rpc`, or a hardhat@2 node when `node_modules/.bin/hardhat` is installed in the
/// working directory, or none (noted in `report`).
pub(crate) async fn peer_chain(
    options: &Options,
    suite: Suite,
    report: &mut SuiteReport,
) -> Result<Option<PeerChain>, BenchError> {
    if let Some(url) = &options.rpc {
        return Ok(Some(PeerChain::Given(url.clone())));
    }
    let root = std::env::current_dir().map_err(|e| BenchError::failed(suite, e))?;
    if !root.join("node_modules/.bin/hardhat").exists() {
        report.notes.push("no external chain measured: pass --rpc URL, or run `npm ci` here for hardhat@2".into());
        return Ok(None);
    }
    let node = HardhatNode::start_in(&root).await.map_err(|e| BenchError::failed(suite, e))?;
    Ok(Some(PeerChain::Hardhat(node)))
}
