//! Test and benchmark harness: the same code against the embedded chain and against an
//! independent EVM node (hardhat 2, started here as a child process).
//!
//! - [`Backend::embedded`]: a fresh in-memory [`Chain`] reached in process.
//! - [`Backend::hardhat`] / [`HardhatNode::start`]: `node node_modules/.bin/hardhat node
//!   --hostname 127.0.0.1 --port P` from the repository root on a free loopback port (the
//!   root's `hardhat.config.js` pins hardfork cancun and chain id 31337, as the embedded
//!   chain has them); `npm ci` runs first, once, under a file lock, if hardhat is not
//!   installed. The node is stopped by its PID (kill + wait) when the [`HardhatNode`] drops.
//!
//! Both have the same development accounts ([`dev_key`]: hardhat's default mnemonic) and
//! time travel (`evm_increaseTime` + `evm_mine`, see [`Connection::increase_time`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_eips::BlockNumberOrTag;
use alloy_provider::Provider;
use healthchain_chain::{Chain, ChainConfig};
use healthchain_crypto::signing::EthKey;

use crate::client::Connection;
use crate::errors::LedgerError;

/// How long [`HardhatNode::start`] waits for the node to answer JSON-RPC.
pub const HARDHAT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Starting the embedded chain failed.
    #[error("embedded chain: {0}")]
    Chain(#[from] healthchain_chain::ChainError),
    /// `node`/`npm` could not be run, or the node process failed.
    #[error("hardhat: {0}")]
    Hardhat(String),
    /// The node did not answer JSON-RPC in time.
    #[error("hardhat did not answer JSON-RPC on {url} within {waited:?}; last log lines:\n{log}")]
    Timeout {
        /// The URL polled.
        url: String,
        /// How long we waited.
        waited: Duration,
        /// Tail of the node's output.
        log: String,
    },
    /// The node runs another hardfork than the embedded chain (cancun).
    #[error("hardfork mismatch: {0}")]
    Hardfork(String),
    /// A ledger call failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// An I/O error.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The repository root: `$HEALTHCHAIN_ROOT` if set, else two levels above this crate.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("HEALTHCHAIN_ROOT") {
        return PathBuf::from(root);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// Development account `i` (hardhat's and the embedded chain's default accounts, funded
/// with 10,000 ether on both) as an [`EthKey`].
pub fn dev_key(i: u32) -> EthKey {
    let signer = healthchain_chain::dev_signer(i).expect("the development mnemonic derives");
    EthKey::from_bytes(&signer.to_bytes()[..]).expect("a development key is a valid secret")
}

/// What the tests use from `node_modules/`: hardhat, and playwright-core for the portal's
/// browser test.
const NPM_INSTALLED: [&str; 2] = ["node_modules/.bin/hardhat", "node_modules/playwright-core/package.json"];

/// Runs `npm ci` in `root` if any of the npm packages the tests use is missing, once:
/// concurrent callers (parallel tests, other processes) serialize on a lock file under
/// `target/`.
pub fn ensure_node_modules(root: &Path) -> Result<(), HarnessError> {
    let installed = || NPM_INSTALLED.iter().all(|path| root.join(path).exists());
    if installed() {
        return Ok(());
    }
    let lock_dir = root.join("target");
    std::fs::create_dir_all(&lock_dir)?;
    let lock =
        OpenOptions::new().create(true).truncate(false).write(true).open(lock_dir.join(".healthchain-npm-ci.lock"))?;
    lock.lock()?;
    if !installed() {
        let status = Command::new("npm")
            .arg("ci")
            .arg("--no-audit")
            .arg("--no-fund")
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| HarnessError::Hardhat(format!("cannot run `npm ci` in {}: {e}", root.display())))?;
        if !status.success() || !installed() {
            return Err(HarnessError::Hardhat(format!(
                "`npm ci` in {} failed ({status}); install Node.js 18+ and run it by hand",
                root.display()
            )));
        }
    }
    lock.unlock()?;
    Ok(())
}

fn free_port() -> Result<u16, HarnessError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tail(path: &Path, bytes: u64) -> String {
    let Ok(mut f) = File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// A hardhat 2 node run as a child process on a loopback port; stopped (by PID) on drop.
#[derive(Debug)]
pub struct HardhatNode {
    child: Child,
    url: String,
    port: u16,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl HardhatNode {
    /// Starts a node from [`repo_root`] and waits (at most [`HARDHAT_START_TIMEOUT`]) until it
    /// answers JSON-RPC and reports a cancun-shaped genesis block.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_in(&repo_root()).await
    }

    /// [`HardhatNode::start`] from another repository root.
    pub async fn start_in(root: &Path) -> Result<Self, HarnessError> {
        let root_owned = root.to_path_buf();
        tokio::task::spawn_blocking(move || ensure_node_modules(&root_owned))
            .await
            .map_err(|e| HarnessError::Hardhat(format!("npm ci task: {e}")))??;
        let mut last_error = None;
        for _ in 0..3 {
            match Self::try_start(root).await {
                Ok(node) => return Ok(node),
                // The port may have been taken between probing and binding: try another.
                Err(e @ HarnessError::Hardhat(_)) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("three attempts"))
    }

    async fn try_start(root: &Path) -> Result<Self, HarnessError> {
        let port = free_port()?;
        let log_dir = tempfile::Builder::new().prefix("healthchain-hardhat-").tempdir()?;
        let log_path = log_dir.path().join("hardhat.log");
        let log = File::create(&log_path)?;
        let child = Command::new("node")
            .arg("node_modules/.bin/hardhat")
            .args(["node", "--hostname", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::Hardhat(format!("cannot run `node` (is Node.js installed?): {e}")))?;
        let mut node =
            HardhatNode { child, url: format!("http://127.0.0.1:{port}"), port, log_path, _log_dir: log_dir };
        let start = Instant::now();
        loop {
            if let Some(status) = node.child.try_wait()? {
                return Err(HarnessError::Hardhat(format!(
                    "the node exited ({status}) before answering; log:\n{}",
                    tail(&node.log_path, 4000)
                )));
            }
            if let Ok(conn) = Connection::http(&node.url).await {
                check_cancun(&conn).await?;
                return Ok(node);
            }
            if start.elapsed() > HARDHAT_START_TIMEOUT {
                return Err(HarnessError::Timeout {
                    url: node.url.clone(),
                    waited: start.elapsed(),
                    log: tail(&node.log_path, 4000),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node now (same as dropping it).
    pub fn stop(self) {}
}

impl Drop for HardhatNode {
    fn drop(&mut self) {
        // Exactly this child, by its PID: kill, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks that the endpoint's latest block header has cancun's fields (blob gas) and none of
/// prague's (`requestsHash`), i.e. that it runs the hardfork the embedded chain pins.
pub async fn check_cancun(conn: &Connection) -> Result<(), HarnessError> {
    let block = conn
        .provider()
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(LedgerError::from)?
        .ok_or_else(|| HarnessError::Hardfork("no latest block".into()))?;
    let h = &block.header;
    if h.excess_blob_gas.is_none() || h.parent_beacon_block_root.is_none() {
        return Err(HarnessError::Hardfork(format!("{} serves pre-cancun blocks", conn.label())));
    }
    if h.requests_hash.is_some() {
        return Err(HarnessError::Hardfork(format!("{} serves prague (or later) blocks", conn.label())));
    }
    Ok(())
}

/// A chain to run against: the embedded chain or a hardhat node.
#[derive(Debug)]
pub enum Backend {
    /// The embedded chain (in memory).
    Embedded(Chain),
    /// A hardhat 2 node child process.
    Hardhat(HardhatNode),
}

impl Backend {
    /// A fresh in-memory embedded chain with the default configuration (chain id 31337,
    /// cancun, 20 funded development accounts).
    pub fn embedded() -> Result<Self, HarnessError> {
        Ok(Backend::Embedded(Chain::in_memory(ChainConfig::default())?))
    }

    /// A fresh hardhat node (see [`HardhatNode::start`]).
    pub async fn hardhat() -> Result<Self, HarnessError> {
        Ok(Backend::Hardhat(HardhatNode::start().await?))
    }

    /// `"embedded"` or `"hardhat"`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
            Backend::Hardhat(_) => "hardhat",
        }
    }

    /// A connection: in process for the embedded chain, HTTP for hardhat.
    pub async fn connect(&self) -> Result<Connection, LedgerError> {
        match self {
            Backend::Embedded(chain) => Connection::embedded(chain).await,
            Backend::Hardhat(node) => Connection::http(node.url()).await,
        }
    }

    /// The HTTP URL, for hardhat.
    pub fn url(&self) -> Option<&str> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Hardhat(node) => Some(node.url()),
        }
    }

    /// The embedded chain, if this is one.
    pub fn chain(&self) -> Option<&Chain> {
        match self {
            Backend::Embedded(chain) => Some(chain),
            Backend::Hardhat(_) => None,
        }
    }
}
