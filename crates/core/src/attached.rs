//! Running against a `healthchain node` that holds the environment: the node announces
//! itself in `node.json` ([`RunningNode`]); other processes on the environment (the CLI's
//! role commands, the demo) reach the chain through the node's JSON-RPC endpoint and the
//! enclave through its relay ([`NodeEnclave`]), and use the same object store. While a
//! node runs, it alone opens the embedded chain and the enclave process.
//!
//! Both connections ride out a node restart: a request whose connection is refused (the
//! node is down, so nothing was sent) is retried for up to [`RESTART_PATIENCE`]; the chain
//! connection also resends reads cut off mid-request and looks up a transaction cut off
//! mid-request before resending it (`healthchain_ledger::retry`); the enclave relay resends
//! an ecall cut off mid-request if repeating it is harmless (`Ecall::is_resendable`: all but
//! session records and key installation); a session or handshake the restarted enclave no
//! longer knows is established again by the session client.

use std::path::Path;
use std::time::Duration;

use healthchain_enclave::evidence::Evidence;
use healthchain_enclave::host::{EnclaveBackend, EnclaveError};
use healthchain_enclave::protocol::{Ecall, EcallResult, decode_relayed, encode_relayed};
use serde::{Deserialize, Serialize};

/// How long a client waits for a node that refuses connections (restarting) before giving up.
pub const RESTART_PATIENCE: Duration = Duration::from_secs(60);
/// The announcement's file name in the environment directory.
pub const NODE_FILE: &str = "node.json";
/// Path of the enclave relay under a node's base URL.
pub const ENCLAVE_RELAY_PATH: &str = "/api/v1/enclave";
/// Path of the chain's JSON-RPC under a node's base URL.
pub const CHAIN_RPC_PATH: &str = "/rpc";
/// How often a refused connection is retried.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// A node serving an environment, as it announces itself in `node.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningNode {
    /// The node's process.
    pub pid: u32,
    /// Base URL of its HTTP API (e.g. `http://127.0.0.1:8080`).
    pub url: String,
}

impl RunningNode {
    /// The announcement in `home`, if there is a readable one.
    pub fn read(home: &Path) -> Option<RunningNode> {
        let bytes = std::fs::read(home.join(NODE_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Announces this node in `home` (replacing a stale announcement).
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).expect("announcements serialize");
        let partial = home.join(format!("{NODE_FILE}.partial"));
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, home.join(NODE_FILE))
    }

    /// Withdraws the announcement (at a clean stop).
    pub fn remove(home: &Path) {
        let _ = std::fs::remove_file(home.join(NODE_FILE));
    }

    /// The node serving `home`: none when no node is announced; the node when its process
    /// runs (a caller attaching to it waits out a restart); an error when the announcement
    /// names a process that is gone (a node that crashed and was not restarted), so that no
    /// command takes the directory from under a node about to come back unasked.
    pub fn serving(home: &Path) -> Result<Option<RunningNode>, String> {
        let Some(node) = RunningNode::read(home) else { return Ok(None) };
        if Path::new(&format!("/proc/{}", node.pid)).exists() {
            return Ok(Some(node));
        }
        Err(format!(
            "{} announces a node (pid {}, {}) that is not running: start `healthchain node --home {}` again, \
             or remove {NODE_FILE} to use the directory without a node",
            home.join(NODE_FILE).display(),
            node.pid,
            node.url,
            home.display()
        ))
    }

    /// The node's chain JSON-RPC endpoint.
    pub fn rpc_url(&self) -> String {
        format!("{}{CHAIN_RPC_PATH}", self.url)
    }
}

/// The enclave of a running node, reached through its relay (`POST /api/v1/enclave`):
/// the node's host forwards each ecall to its enclave process and returns the answer.
/// The node sees handshake messages and encrypted session records only.
pub struct NodeEnclave {
    client: reqwest::Client,
    relay: String,
    runtime: tokio::runtime::Handle,
    evidence: Evidence,
}

impl NodeEnclave {
    /// Connects to `node`'s enclave relay and fetches the enclave's evidence (verify it
    /// before trusting the enclave). Calls are made from blocking threads on `runtime`.
    pub async fn connect(node: &RunningNode) -> Result<NodeEnclave, EnclaveError> {
        let client = reqwest::Client::new();
        let relay = format!("{}{ENCLAVE_RELAY_PATH}", node.url);
        let (result, _) = relay_call(&client, &relay, &Ecall::Evidence, &[]).await?;
        let EcallResult::Evidence(evidence) = result else {
            return Err(EnclaveError::Relay(format!("the relay answered {result:?} when asked for evidence")));
        };
        Ok(NodeEnclave { client, relay, runtime: tokio::runtime::Handle::current(), evidence })
    }
}

impl EnclaveBackend for NodeEnclave {
    /// Must be called from a blocking thread of the runtime it was connected on (as every
    /// enclave call is).
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        self.runtime.block_on(relay_call(&self.client, &self.relay, ecall, body))
    }

    fn evidence(&self) -> Evidence {
        self.evidence.clone()
    }
}

/// One relayed ecall; refused connections are retried (see the module documentation);
/// the enclave's refusals come back as [`EnclaveError::Refused`], as from a local enclave.
async fn relay_call(
    client: &reqwest::Client,
    relay: &str,
    ecall: &Ecall,
    body: &[u8],
) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
    // shared between attempts, not copied for each
    let request = bytes::Bytes::from(encode_relayed(ecall, body));
    let mut waited = Duration::ZERO;
    let (status, bytes) = loop {
        let attempt = async {
            let response = client
                .post(relay)
                .header("content-type", "application/octet-stream")
                .body(request.clone())
                .send()
                .await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        };
        match attempt.await {
            Ok(answer) => break answer,
            // refused: nothing was sent; cut off: sent again only if repeating it is harmless
            Err(e) if (e.is_connect() || ecall.is_resendable()) && waited < RESTART_PATIENCE => {
                tokio::time::sleep(RETRY_EVERY).await;
                waited += RETRY_EVERY;
            }
            Err(e) => return Err(EnclaveError::Relay(format!("{relay}: {e}"))),
        }
    };
    if !status.is_success() {
        let message = String::from_utf8_lossy(&bytes);
        return Err(EnclaveError::Relay(format!("{relay} answered {status}: {message}")));
    }
    let (result, reply) =
        decode_relayed::<EcallResult>(&bytes).map_err(|e| EnclaveError::Relay(format!("{relay}: {e}")))?;
    match result {
        EcallResult::Refused(refusal) => Err(EnclaveError::Refused(refusal)),
        result => Ok((result, reply.to_vec())),
    }
}
