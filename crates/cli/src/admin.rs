//! `healthchain admin …`: consortium operator commands.

use crate::output::say;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use clap::Subcommand;
use healthchain_core::keystore::Keystore;
use healthchain_enclave::evidence::{Evidence, Policy};
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, measure, platform_address};
use healthchain_ledger::client::Connection;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Deploy the contracts to a JSON-RPC chain and write their addresses.
    Deploy {
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// The deploying (and first admin) account's key name.
        #[arg(long)]
        key: String,
        /// Where to write the deployment (JSON).
        #[arg(long, default_value = "deployment.json")]
        out: PathBuf,
    },
    /// Enclave operations.
    Enclave {
        #[command(subcommand)]
        command: EnclaveCommand,
    },
}

#[derive(Subcommand)]
pub enum EnclaveCommand {
    /// Launch this machine's simulated enclave and print its evidence (JSON).
    Evidence {
        /// The enclave's state directory (sealed keys, platform secret).
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Verify an enclave's evidence and register it on the Directory contract(s).
    Approve {
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        rpc: String,
        /// The deployment file written by `admin deploy`.
        #[arg(long, default_value = "deployment.json")]
        deployment: PathBuf,
        /// An admin account's key name.
        #[arg(long)]
        key: String,
        /// The evidence file (from `admin enclave evidence`).
        #[arg(long)]
        evidence: PathBuf,
        /// Trusted platform attestation address(es).
        #[arg(long = "platform", required = true)]
        platforms: Vec<Address>,
        /// Allowed enclave measurement(s) (SHA-256 of the enclave binary, hex).
        #[arg(long = "measurement", required = true)]
        measurements: Vec<B256>,
        /// Accept evidence from the simulated backend (development only).
        #[arg(long)]
        accept_simulated: bool,
    },
}

/// The evidence file: the evidence plus what an operator needs to decide on it.
#[derive(serde::Serialize, serde::Deserialize)]
struct EvidenceFile {
    evidence: Evidence,
    platform: Address,
    measurement: B256,
}

fn unlock(keystore: &Path, name: &str) -> Result<healthchain_crypto::signing::EthKey> {
    Ok(Keystore::open(keystore)?.unlock(name, &crate::keys::passphrase(false)?)?)
}

pub fn run(keystore: &Path, command: AdminCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match command {
        AdminCommand::Deploy { rpc, key, out } => {
            let key = unlock(keystore, &key)?;
            let report = runtime.block_on(async {
                let connection = Connection::http(&rpc).await?;
                deploy(&connection.account(&key), None, &DeployParams::default()).await
            })?;
            std::fs::write(&out, serde_json::to_string_pretty(&report.deployment)? + "\n")
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            say!("deployed to chain {}; addresses written to {}", report.deployment.shared.chain_id, out.display());
        }
        AdminCommand::Enclave { command: EnclaveCommand::Evidence { state_dir } } => {
            let secret = healthchain_core::host::platform_secret(&state_dir)?;
            let program = std::env::current_exe()?;
            let mut config = SimulatedConfig::new(&program, &state_dir, secret);
            config.args = vec!["enclave-process".into()];
            let enclave = SimulatedEnclave::launch(config)?;
            let file = EvidenceFile {
                evidence: enclave.evidence(),
                platform: platform_address(secret),
                measurement: B256::from(measure(&program)?),
            };
            say!("{}", serde_json::to_string_pretty(&file)?);
        }
        AdminCommand::Enclave {
            command:
                EnclaveCommand::Approve { rpc, deployment, key, evidence, platforms, measurements, accept_simulated },
        } => {
            let text =
                std::fs::read_to_string(&evidence).map_err(|e| format!("cannot read {}: {e}", evidence.display()))?;
            let file: EvidenceFile = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not an evidence file: {e}", evidence.display()))?;
            let policy =
                Policy { platforms, measurements: measurements.iter().map(|m| m.0).collect(), accept_simulated };
            let verified = file.evidence.verify(&policy)?;
            let text = std::fs::read_to_string(&deployment)
                .map_err(|e| format!("cannot read {}: {e}", deployment.display()))?;
            let deployment: Deployment = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a deployment file: {e}", deployment.display()))?;
            let key = unlock(keystore, &key)?;
            runtime.block_on(async {
                let connection = Connection::http(&rpc).await?;
                let ledger = Ledger::connect(&connection, None, &key, deployment).await?;
                healthchain_core::host::approve_enclave(&ledger, &verified).await
            })?;
            say!("approved enclave {} (measurement {}) on the Directory", verified.report_signer, verified.measurement);
        }
    }
    Ok(())
}
