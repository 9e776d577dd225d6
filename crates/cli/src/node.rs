//! `healthchain node`: the embedded environment and the HTTP API in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tracing_subscriber::filter::LevelFilter;

use crate::output::say;
use crate::records::{self, Result};

/// Opens (or creates) the environment in `home`, serves the API on `listen` and runs until
/// interrupted (Ctrl-C or SIGTERM); then stops the enclave process and closes the chain.
/// Logs go to standard error (`json_logs`: one JSON object per line); standard output
/// says where the node listens.
pub fn run(home: &Path, listen: SocketAddr, json_logs: bool) -> Result<()> {
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(LevelFilter::INFO);
    let installed = if json_logs { logs.json().try_init() } else { logs.try_init() };
    installed.map_err(|e| format!("cannot set up logging: {e}"))?;
    let runtime = records::runtime()?;
    runtime.block_on(async {
        let env = Arc::new(records::open(home).await?);
        let listener = healthchain_node::bind(listen).await?;
        let address = listener.local_addr()?;
        say!("healthchain node: environment {}", home.display());
        say!("  chain id {}, enclave {}", env.connection.chain_id(), env.verified.report_signer);
        say!("  HTTP API on http://{address}/api/v1 (OpenAPI document: http://{address}/openapi.json)");
        healthchain_node::serve(env, listener, interrupted()).await?;
        say!("healthchain node: stopped");
        Ok(())
    })
}

/// Resolves at the first Ctrl-C or SIGTERM.
async fn interrupted() {
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
