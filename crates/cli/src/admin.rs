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
    /// Join a new enclave instance to the environment's approved enclave: the approved
    /// instance checks the new one's evidence (its measurement must be the approved one on
    /// the chain) and hands over its keys; the join is recorded on the Directory.
    Join {
        /// The environment whose approved enclave provides the keys (its node must be
        /// stopped: provisioning is never relayed).
        #[arg(long, default_value_os_t = crate::records::default_home())]
        home: PathBuf,
        /// The new instance's state directory: its simulated platform secret and sealed
        /// keys (created on first use); a node whose `<home>/enclave` is this directory then
        /// serves as the approved enclave.
        #[arg(long)]
        instance_dir: PathBuf,
        /// Trusted platform attestation address(es) of the new instance.
        #[arg(long = "platform", required = true)]
        platforms: Vec<Address>,
        /// Accept evidence from the simulated backend (development only).
        #[arg(long)]
        accept_simulated: bool,
    },
    /// List the instances recorded as replicas of approved enclaves.
    Replicas {
        /// The environment.
        #[arg(long, default_value_os_t = crate::records::default_home())]
        home: PathBuf,
    },
    /// Print the platform attestation address of an instance's state directory.
    Platform {
        /// The instance's state directory (its platform secret is created on first use).
        #[arg(long)]
        state_dir: PathBuf,
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
        AdminCommand::Enclave { command: EnclaveCommand::Join { home, instance_dir, platforms, accept_simulated } } => {
            if healthchain_core::attached::RunningNode::serving(&home)?.is_some() {
                return Err(format!(
                    "a node serves {}: stop it first; the operator joins instances on the host that runs the \
                     approved enclave, never through the node's relay",
                    home.display()
                )
                .into());
            }
            let joined = runtime.block_on(async {
                let env = crate::records::open(&home).await?;
                let program = healthchain_core::host::EnclaveProgram::current_exe()?;
                let instance = env.launch_instance(&program, &instance_dir).await?;
                let joined = env.join_instance(instance, platforms, accept_simulated).await?;
                Ok::<_, Box<dyn std::error::Error>>(joined)
            })?;
            say!(
                "instance {} joined enclave {} (evidence {}); recorded on the Directory",
                joined.record.instance,
                joined.record.report_signer,
                joined.record.evidence_hash
            );
        }
        AdminCommand::Enclave { command: EnclaveCommand::Replicas { home } } => {
            let replicas = runtime.block_on(async {
                let env = crate::records::open(&home).await?;
                let ledger = env.ledger(&env.admin).await?;
                let from = env.deployment.consortium.deployed_at_block;
                Ok::<_, Box<dyn std::error::Error>>(ledger.consortium_directory().replicas(None, from).await?)
            })?;
            for replica in replicas {
                let e = replica.event;
                say!(
                    "{} replicates {} (measurement {}, evidence {})",
                    e.instance,
                    e.reportSigner,
                    e.measurement,
                    e.evidenceHash
                );
            }
        }
        AdminCommand::Enclave { command: EnclaveCommand::Platform { state_dir } } => {
            say!("{}", platform_address(healthchain_core::host::platform_secret(&state_dir)?));
        }
    }
    Ok(())
}
