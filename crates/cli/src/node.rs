//! `healthchain node`: the embedded environment and the HTTP API in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use healthchain_core::attached::RunningNode;
use healthchain_core::environment::{ChainStorage, Environment, EnvironmentConfig};
use healthchain_core::host::EnclaveProgram;
use healthchain_node::limits::{DEFAULT_PER_SECOND, RateLimit};
use tracing_subscriber::filter::LevelFilter;

use crate::output::say;
use crate::records::{self, Result};

/// How `healthchain node` runs, as given on the command line (each unset flag falls back
/// to `[node]` of the environment's `healthchain.toml`, then to the default).
pub struct Options {
    /// Where the HTTP API listens.
    pub listen: Option<SocketAddr>,
    /// JSON log lines instead of text.
    pub json_logs: bool,
    /// The committee seat (1-based) to serve, if any.
    pub committee_member: Option<usize>,
    /// Seconds between the committee member's polls.
    pub committee_interval: Option<u64>,
    /// Requests a second per client.
    pub rate_limit: Option<std::num::NonZeroU32>,
}

/// Where the API listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Seconds between the committee member's polls unless told otherwise.
const DEFAULT_COMMITTEE_INTERVAL: u64 = 2;

/// Opens (or creates) the environment in `home`, serves the API (and the committee seat,
/// if asked) and runs until interrupted (Ctrl-C or SIGTERM); then stops the enclave
/// process and closes the chain. While it runs, `home/node.json` announces it, so that
/// role commands on the same environment go through it. Logs go to standard error;
/// standard output says where the node listens.
pub fn run(home: &Path, options: &Options) -> Result<()> {
    let config = EnvironmentConfig::read(home)?.node;
    let listen = match options.listen.or(config.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let member = match options.committee_member.or(config.committee_member) {
        Some(0) => return Err("the committee member counts from 1".into()),
        other => other,
    };
    let interval = options.committee_interval.or(config.committee_interval).unwrap_or(DEFAULT_COMMITTEE_INTERVAL);
    let per_second = options.rate_limit.or(config.rate_limit).unwrap_or(DEFAULT_PER_SECOND);
    let confirmations = config.committee_confirmations.unwrap_or(0);
    let limit = RateLimit::per_client(per_second);
    init_logs(options.json_logs || config.json_logs.unwrap_or(false))?;
    let runtime = records::runtime()?;
    runtime.block_on(async {
        // Opened here, never attached: a second node on a running node's environment fails
        // on the chain's lock instead of relaying through the first.
        let program = EnclaveProgram::current_exe()?;
        let env = Arc::new(Environment::open(home, &program, ChainStorage::Durable).await?);
        let listener = healthchain_node::bind(listen).await?;
        let address = listener.local_addr()?;
        let announcement = RunningNode { pid: std::process::id(), url: format!("http://{address}") };
        announcement.write(home).map_err(|e| format!("cannot announce the node in {}: {e}", home.display()))?;
        say!("healthchain node: environment {}", home.display());
        say!(
            "  chain {} (id {}), enclave {}",
            env.connection.label(),
            env.connection.chain_id(),
            env.verified.report_signer
        );
        say!("  HTTP API on http://{address}/api/v1 (OpenAPI document: http://{address}/openapi.json)");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let committee = member.map(|member| {
            let interval = Duration::from_secs(interval.max(1));
            let service = healthchain_node::committee::serve_committee(
                env.clone(),
                member - 1,
                interval,
                confirmations,
                until_stopped(stopped.clone()),
            );
            tokio::spawn(service)
        });
        tokio::spawn(async move {
            interrupted().await;
            let _ = stop.send(true);
        });
        let served = healthchain_node::serve(env, listener, limit, until_stopped(stopped)).await;
        RunningNode::remove(home);
        served?;
        if let Some(committee) = committee {
            committee.await.map_err(|e| format!("the committee service stopped abnormally: {e}"))??;
        }
        say!("healthchain node: stopped");
        Ok(())
    })
}

/// Logs of the long-running services: `tracing` events on standard error at INFO, as text
/// (coloured only on a terminal) or (`json`) one JSON object per line.
pub fn init_logs(json: bool) -> Result<()> {
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(LevelFilter::INFO).with_ansi(colours);
    let installed = if json { logs.json().try_init() } else { logs.try_init() };
    installed.map_err(|e| format!("cannot set up logging: {e}").into())
}

/// Resolves at the first Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
