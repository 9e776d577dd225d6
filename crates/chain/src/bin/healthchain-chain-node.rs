//! A standalone embedded-chain node: serves the chain's JSON-RPC over HTTP until SIGINT or
//! SIGTERM.
//!
//! ```text
//! healthchain-chain-node [--data-dir DIR | --memory] [--http ADDR] [--chain-id N]
//!                        [--dev-accounts N] [--block-gas-limit N]
//! ```
//! Defaults: `--memory`, `--http 127.0.0.1:8545`, chain id 31337, 20 development accounts.
//! Once listening it prints one line `listening on http://ADDR/` to stdout.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use healthchain_chain::{Chain, ChainConfig, Storage};

struct Args {
    storage: Storage,
    http: SocketAddr,
    config: ChainConfig,
}

fn usage() -> String {
    "usage: healthchain-chain-node [--data-dir DIR | --memory] [--http ADDR] [--chain-id N] \
     [--dev-accounts N] [--block-gas-limit N]"
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut storage = Storage::Memory;
    let mut http: SocketAddr = "127.0.0.1:8545".parse().map_err(|e| format!("{e}"))?;
    let mut config = ChainConfig::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value\n{}", usage()));
        match a.as_str() {
            "--data-dir" => storage = Storage::Dir(value("--data-dir")?.into()),
            "--memory" => storage = Storage::Memory,
            "--http" => http = value("--http")?.parse().map_err(|e| format!("--http: {e}"))?,
            "--chain-id" => config.chain_id = value("--chain-id")?.parse().map_err(|e| format!("--chain-id: {e}"))?,
            "--dev-accounts" => {
                config.dev_accounts = value("--dev-accounts")?.parse().map_err(|e| format!("--dev-accounts: {e}"))?
            }
            "--block-gas-limit" => {
                config.block_gas_limit =
                    value("--block-gas-limit")?.parse().map_err(|e| format!("--block-gas-limit: {e}"))?
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(Args { storage, http, config })
}

async fn run(args: Args) -> Result<(), String> {
    let chain = Chain::open(args.config, args.storage).map_err(|e| e.to_string())?;
    let server = chain.serve_http(args.http).await.map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        let _ =
            writeln!(out, "listening on {} chain_id={} head={}", server.url(), chain.chain_id(), chain.head().number);
        let _ = out.flush();
    }
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.shutdown().await;
    chain.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthchain-chain-node: {e}");
            ExitCode::FAILURE
        }
    }
}
