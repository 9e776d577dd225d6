//! The embedded defaults: one directory holds an embedded chain with all six contracts, the
//! object store (local `objects/`), the simulated enclave's state and platform secret, and the
//! key-authorization committee (`t = n = 1`), created on first use. `healthchain.toml` in
//! the directory ([`EnvironmentConfig`]) points the chain or the store at external services
//! instead. Every participant-facing flow runs against an [`Environment`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use healthchain_chain::{Chain, ChainConfig, Storage};
use healthchain_crypto::keywrap;
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::evidence::{Policy, VerifiedEnclave};
use healthchain_enclave::host::{EnclaveBackend, measure, platform_address};
use healthchain_ledger::client::Connection;
use healthchain_ledger::errors::LedgerError;
use healthchain_ledger::testing::dev_key;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};
use healthchain_store::{Store, StoreConfig};

use crate::attached::{NodeEnclave, RESTART_PATIENCE, RunningNode};
use crate::host::{EnclaveProgram, LedgerRelay, StoreObjects, approve_enclave, launch_enclave, platform_secret};

/// Why the environment could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// A file or directory of the environment.
    #[error("{path}: {why}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The embedded chain.
    #[error("embedded chain: {0}")]
    Chain(String),
    /// The ledger.
    #[error(transparent)]
    Ledger(Box<healthchain_ledger::errors::LedgerError>),
    /// The object store.
    #[error(transparent)]
    Store(#[from] healthchain_store::StoreError),
    /// The enclave could not be launched or its evidence was refused.
    #[error("enclave: {0}")]
    Enclave(String),
    /// The configuration file is not valid.
    #[error("{path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The committee key on the chain is malformed.
    #[error("the committee key on the Directory is not a valid public key")]
    CommitteeKey,
}

impl EnvironmentError {
    /// Whether setting up failed (files, chain, store, enclave), as opposed to an invalid
    /// configuration file.
    pub fn is_failure(&self) -> bool {
        match self {
            EnvironmentError::Config { .. } => false,
            EnvironmentError::Ledger(e) => e.is_failure(),
            EnvironmentError::Store(e) => e.is_failure(),
            EnvironmentError::Io { .. } | EnvironmentError::Chain(_) | EnvironmentError::Enclave(_) => true,
            EnvironmentError::CommitteeKey => true,
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EnvironmentError + '_ {
    move |e| EnvironmentError::Io { path: path.to_path_buf(), why: e.to_string() }
}

/// Where the embedded chain keeps its blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStorage {
    /// In the environment directory, durable (the default).
    Durable,
    /// In memory (tests and throw-away runs).
    Memory,
}

/// A running set of services on embedded defaults.
pub struct Environment {
    /// The environment directory.
    pub home: PathBuf,
    /// The embedded chain (hosting both logical ledgers), when this process runs it; none
    /// when attached to the node that does ([`Environment::attach`]).
    pub chain: Option<Chain>,
    /// A connection to it.
    pub connection: Connection,
    /// The contracts.
    pub deployment: Deployment,
    /// The object store (the CSP).
    pub store: Arc<Store>,
    /// The enclave: this process's own enclave process, or a node's through its relay.
    pub enclave: Arc<dyn EnclaveBackend>,
    /// Its verified evidence.
    pub verified: VerifiedEnclave,
    /// The committee's public key (outer key-wrapping layer).
    pub committee_key: keywrap::PublicKey,
    /// The consortium admin (a development account on the embedded chain).
    pub admin: EthKey,
}

/// File names inside the environment directory.
const DEPLOYMENT_FILE: &str = "deployment.json";
/// Optional: the environment's configuration ([`EnvironmentConfig`], TOML).
pub const CONFIG_FILE: &str = "healthchain.toml";

/// `healthchain.toml` in the environment directory: which parts run elsewhere. Without the
/// file (or a section), everything runs on the embedded defaults. Example:
///
/// ```toml
/// [chain]
/// rpc = "http://127.0.0.1:8545"   # an external JSON-RPC chain instead of the embedded one
///
/// [store]                          # an S3-compatible bucket instead of objects/
/// backend = "s3"
/// bucket = "records"
/// endpoint = "http://127.0.0.1:9000"
/// region = "us-east-1"
/// access_key_id = "..."
/// secret_access_key = "..."
/// allow_http = true
///
/// [committee]                      # dealt when the environment is first set up
/// threshold = 2                    # shares needed to release a record key (default 1)
/// size = 3                         # members, each with a share (default 1)
///
/// [node]                           # `healthchain node` (its flags take precedence)
/// listen = "127.0.0.1:8080"
/// committee_member = 1
/// committee_interval = 2
/// committee_confirmations = 0      # blocks behind the head (chains that reorganize: more)
/// json_logs = true
/// rate_limit = 1000                # requests a second per client
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The chain hosting both ledgers.
    #[serde(default)]
    pub chain: ChainConfigSection,
    /// The object store (default: `objects/` in the environment directory).
    pub store: Option<StoreConfig>,
    /// The key-authorization committee dealt on first use.
    #[serde(default)]
    pub committee: CommitteeConfig,
    /// How `healthchain node` serves the environment.
    #[serde(default)]
    pub node: NodeConfig,
}

/// `[committee]` of [`EnvironmentConfig`]: the `threshold`-of-`size` committee the first
/// opening of an environment deals when the chain has none yet (the shares land in
/// `committee/member-<i>.share`, for the operator to hand to each member's node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommitteeConfig {
    /// Shares needed to release a record key.
    pub threshold: usize,
    /// Members, each holding a share.
    pub size: usize,
}

impl Default for CommitteeConfig {
    fn default() -> Self {
        CommitteeConfig { threshold: 1, size: 1 }
    }
}

/// `[chain]` of [`EnvironmentConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfigSection {
    /// JSON-RPC URL of an external chain (its development account 0 must be funded, as
    /// hardhat's is, to deploy the contracts on first use); none: the embedded chain.
    pub rpc: Option<String>,
}

/// `[node]` of [`EnvironmentConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the HTTP API listens.
    pub listen: Option<std::net::SocketAddr>,
    /// The committee seat (1-based) the node serves.
    pub committee_member: Option<usize>,
    /// Seconds between the committee member's polls.
    pub committee_interval: Option<u64>,
    /// Blocks the committee member stays behind the chain's head before acting on a request
    /// (0, the default, for chains whose blocks are final at once: the embedded chain, QBFT;
    /// more on chains that reorganize).
    pub committee_confirmations: Option<u64>,
    /// Log JSON lines instead of text.
    pub json_logs: Option<bool>,
    /// Requests a second each client (by IP address) may make, in bursts of as many.
    pub rate_limit: Option<std::num::NonZeroU32>,
}

impl EnvironmentConfig {
    /// The configuration of the environment in `home` (the defaults without a file).
    pub fn read(home: &Path) -> Result<EnvironmentConfig, EnvironmentError> {
        let path = home.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let config: EnvironmentConfig = toml::from_str(&text)
                    .map_err(|e| EnvironmentError::Config { path: path.clone(), why: format!("{e}") })?;
                let CommitteeConfig { threshold, size } = config.committee;
                if threshold == 0 || threshold > size {
                    let why = format!("[committee] threshold {threshold} must be between 1 and its size {size}");
                    return Err(EnvironmentError::Config { path, why });
                }
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EnvironmentConfig::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The object store of the environment in `home`.
    fn store(&self, home: &Path) -> StoreConfig {
        self.store.clone().unwrap_or_else(|| StoreConfig::Local { path: home.join("objects") })
    }
}

impl Environment {
    /// Opens the environment in `home`, creating it on first use: chain, contracts,
    /// store, enclave (approved on the Directory) and committee (`[committee]` of
    /// `healthchain.toml`, 1-of-1 by default). Must be called on a multi-threaded tokio
    /// runtime (enclave calls run on blocking threads).
    pub async fn open(
        home: &Path,
        program: &EnclaveProgram,
        storage: ChainStorage,
    ) -> Result<Environment, EnvironmentError> {
        let CommitteeConfig { threshold, size } = EnvironmentConfig::read(home)?.committee;
        Self::open_with_committee(home, program, storage, threshold, size).await
    }

    /// Like [`Environment::open`], dealing a `threshold`-of-`size` committee on first use
    /// (member `i` acts with development account `9 + i` and keeps its share in
    /// `committee/member-<i+1>.share`).
    pub async fn open_with_committee(
        home: &Path,
        program: &EnclaveProgram,
        storage: ChainStorage,
        threshold: usize,
        size: usize,
    ) -> Result<Environment, EnvironmentError> {
        Self::open_on(home, program, storage, threshold, size, None).await
    }

    /// Like [`Environment::open`], keeping objects in `store` instead of the store
    /// `healthchain.toml` names (a backend the configuration cannot name, or one that
    /// injects faults, as `healthchain_store::testing::with_faults` does for tests).
    pub async fn open_with_store(
        home: &Path,
        program: &EnclaveProgram,
        storage: ChainStorage,
        store: Store,
    ) -> Result<Environment, EnvironmentError> {
        Self::open_on(home, program, storage, 1, 1, Some(store)).await
    }

    async fn open_on(
        home: &Path,
        program: &EnclaveProgram,
        storage: ChainStorage,
        threshold: usize,
        size: usize,
        store: Option<Store>,
    ) -> Result<Environment, EnvironmentError> {
        std::fs::create_dir_all(home).map_err(io(home))?;
        let config = EnvironmentConfig::read(home)?;
        let (chain, connection) = match (&config.chain.rpc, storage) {
            (Some(url), ChainStorage::Durable) => (None, Connection::http_following(url, RESTART_PATIENCE).await?),
            _ => {
                let chain = match storage {
                    ChainStorage::Durable => Chain::open(ChainConfig::default(), Storage::Dir(home.join("chain"))),
                    ChainStorage::Memory => Chain::in_memory(ChainConfig::default()),
                }
                .map_err(|e| EnvironmentError::Chain(e.to_string()))?;
                let connection = Connection::embedded(&chain).await?;
                (Some(chain), connection)
            }
        };
        let admin = dev_key(0);

        let deployment_file = home.join(DEPLOYMENT_FILE);
        let existing = match (storage, std::fs::read(&deployment_file)) {
            (ChainStorage::Durable, Ok(bytes)) => Some(serde_json::from_slice::<Deployment>(&bytes).map_err(|e| {
                EnvironmentError::Io { path: deployment_file.clone(), why: format!("not a deployment: {e}") }
            })?),
            _ => None,
        };
        let deployment = match existing {
            Some(deployment) => {
                if connection
                    .provider()
                    .get_code_at(deployment.consortium.directory)
                    .await
                    .map_err(LedgerError::from)?
                    .is_empty()
                {
                    return Err(EnvironmentError::Chain(format!(
                        "{} names contracts that {} does not hold (was the chain reset?); move the environment aside to start afresh",
                        deployment_file.display(),
                        connection.label()
                    )));
                }
                deployment
            }
            None => {
                let deployment = deploy(&connection.account(&admin), None, &DeployParams::default()).await?.deployment;
                let text = serde_json::to_string_pretty(&deployment).expect("deployments serialize");
                write_synced(&deployment_file, text.as_bytes())?;
                deployment
            }
        };
        let ledger = Ledger::connect(&connection, None, &admin, deployment).await?;

        let store = match store {
            Some(store) => store,
            None => Store::open(&config.store(home))?,
        };
        store.check().await?;
        let store = Arc::new(store);
        let enclave_dir = home.join("enclave");
        let secret = platform_secret(&enclave_dir).map_err(EnvironmentError::Enclave)?;
        let runtime = tokio::runtime::Handle::current();
        let objects = StoreObjects::new(store.clone(), runtime.clone());
        let provider = connection.provider().clone();
        let relay = LedgerRelay::new(provider.clone(), provider, runtime);
        let launch_program = program.clone();
        let enclave = tokio::task::spawn_blocking(move || {
            launch_enclave(&launch_program, &enclave_dir, secret, &deployment_file, objects, relay)
        })
        .await
        .map_err(|e| EnvironmentError::Enclave(e.to_string()))?
        .map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
        let verified = verify_evidence(&enclave.evidence(), program, secret)?;
        if !ledger.directory().is_approved_enclave(verified.report_signer).await? {
            approve_enclave(&ledger, &verified).await?;
        }

        let committee_key = committee_key(&ledger, home, threshold, size).await?;
        Ok(Environment {
            home: home.to_path_buf(),
            chain,
            connection,
            deployment,
            store,
            enclave: Arc::new(enclave),
            verified,
            committee_key,
            admin,
        })
    }

    /// Joins the environment in `home` that `node` runs: its chain through the node's
    /// JSON-RPC endpoint (or the external chain `healthchain.toml` names), its enclave through the node's relay (evidence verified as
    /// [`Environment::open`] does, and it must be approved on the Directory), the same
    /// object store and committee. Sets nothing up: the node did.
    pub async fn attach(
        home: &Path,
        program: &EnclaveProgram,
        node: &RunningNode,
    ) -> Result<Environment, EnvironmentError> {
        let deployment_file = home.join(DEPLOYMENT_FILE);
        let bytes = std::fs::read(&deployment_file).map_err(io(&deployment_file))?;
        let deployment: Deployment = serde_json::from_slice(&bytes).map_err(|e| EnvironmentError::Io {
            path: deployment_file.clone(),
            why: format!("not a deployment: {e}"),
        })?;
        let config = EnvironmentConfig::read(home)?;
        let rpc = config.chain.rpc.clone().unwrap_or_else(|| node.rpc_url());
        let connection = Connection::http_following(&rpc, RESTART_PATIENCE).await?;
        let admin = dev_key(0);
        let ledger = Ledger::connect(&connection, None, &admin, deployment).await?;
        let store = Store::open(&config.store(home))?;
        store.check().await?;
        let store = Arc::new(store);
        let enclave = NodeEnclave::connect(node).await.map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
        let secret = platform_secret(&home.join("enclave")).map_err(EnvironmentError::Enclave)?;
        let verified = verify_evidence(&enclave.evidence(), program, secret)?;
        if !ledger.directory().is_approved_enclave(verified.report_signer).await? {
            return Err(EnvironmentError::Enclave(format!(
                "the node's enclave {} is not approved on the Directory",
                verified.report_signer
            )));
        }
        let directory = ledger.directory();
        let committee = directory.committee_of(directory.committee_epoch().await?).await?;
        let committee_key =
            keywrap::PublicKey::from_bytes(committee.key.as_slice()).map_err(|_| EnvironmentError::CommitteeKey)?;
        Ok(Environment {
            home: home.to_path_buf(),
            chain: None,
            connection,
            deployment,
            store,
            enclave: Arc::new(enclave),
            verified,
            committee_key,
            admin,
        })
    }

    /// Launches another instance of the enclave on this environment's chain, store and
    /// deployment, with its own sealed state and simulated platform secret in `state_dir`
    /// (another host, in the simulation). A fresh instance has keys of its own, unapproved,
    /// until it joins the approved enclave ([`Environment::join_instance`]); a joined one
    /// unseals the approved enclave's keys and serves as it.
    pub async fn launch_instance(
        &self,
        program: &EnclaveProgram,
        state_dir: &Path,
    ) -> Result<Arc<healthchain_enclave::host::SimulatedEnclave>, EnvironmentError> {
        let secret = platform_secret(state_dir).map_err(EnvironmentError::Enclave)?;
        let (program, state_dir) = (program.clone(), state_dir.to_path_buf());
        let (objects, relay) = (self.objects(), self.relay());
        let deployment_file = self.home.join(DEPLOYMENT_FILE);
        let enclave = tokio::task::spawn_blocking(move || {
            launch_enclave(&program, &state_dir, secret, &deployment_file, objects, relay)
        })
        .await
        .map_err(|e| EnvironmentError::Enclave(e.to_string()))?
        .map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
        Ok(Arc::new(enclave))
    }

    /// Joins `instance` to this environment's approved enclave (attested key provisioning
    /// from `self.enclave`, then `Directory.recordReplica` sent by the admin). Only the
    /// instance's platform (`platforms`) is the operator's to trust; the measurement must be
    /// the approved one on the chain.
    pub async fn join_instance(
        &self,
        instance: Arc<dyn EnclaveBackend>,
        platforms: Vec<Address>,
        accept_simulated: bool,
    ) -> Result<healthchain_enclave::provision::Joined, crate::host::ReplicaError> {
        let policy = healthchain_enclave::provision::JoinPolicy {
            platforms: platforms.into_iter().map(Into::into).collect(),
            accept_simulated,
        };
        let ledger = Ledger::connect(&self.connection, None, &self.admin, self.deployment).await?;
        crate::host::join_instance(self.enclave.clone(), instance, policy, &ledger).await
    }

    /// Serves this environment's flows from `instance` instead of its own enclave: any
    /// instance that presents the approved enclave's keys (a joined replica) will do.
    pub fn use_instance(&mut self, instance: Arc<dyn EnclaveBackend>) -> Result<(), EnvironmentError> {
        let evidence = instance.evidence();
        if Address::from(evidence.report_signer) != self.verified.report_signer
            || B256::from(evidence.measurement) != self.verified.measurement
        {
            return Err(EnvironmentError::Enclave(format!(
                "the instance presents enclave {}, not the approved {}",
                Address::from(evidence.report_signer),
                self.verified.report_signer
            )));
        }
        self.enclave = instance;
        Ok(())
    }

    /// A ledger client acting as `key`.
    pub async fn ledger(&self, key: &EthKey) -> Result<Ledger, EnvironmentError> {
        Ok(Ledger::connect(&self.connection, None, key, self.deployment).await?)
    }

    /// The enclave as the session protocol trusts it.
    pub fn enclave_identity(&self) -> EnclaveIdentity {
        EnclaveIdentity { id: self.verified.measurement, report_signer: self.verified.report_signer }
    }

    /// The enclave backend.
    pub fn backend(&self) -> Arc<dyn EnclaveBackend> {
        self.enclave.clone()
    }

    /// A relay to the ledgers for reading (e.g. `verify`); call from a blocking thread.
    pub fn relay(&self) -> LedgerRelay {
        let provider = self.connection.provider().clone();
        LedgerRelay::new(provider.clone(), provider, tokio::runtime::Handle::current())
    }

    /// The object store for reading from a blocking thread.
    pub fn objects(&self) -> StoreObjects {
        StoreObjects::new(self.store.clone(), tokio::runtime::Handle::current())
    }

    /// Funds `account` from the admin's development balance if it holds less than `minimum`
    /// wei (the embedded chain's faucet).
    pub async fn fund(&self, account: Address, minimum: U256) -> Result<(), EnvironmentError> {
        if self.connection.balance(account).await? < minimum {
            self.connection.account(&self.admin).transfer(account, minimum).await?;
        }
        Ok(())
    }
}

/// Checks an enclave's evidence against what this environment runs: `program` on the
/// simulated platform whose secret is `secret`.
fn verify_evidence(
    evidence: &healthchain_enclave::evidence::Evidence,
    program: &EnclaveProgram,
    secret: [u8; 32],
) -> Result<VerifiedEnclave, EnvironmentError> {
    let policy = Policy {
        platforms: vec![platform_address(secret)],
        measurements: vec![measure(&program.program).map_err(io(&program.program))?],
        accept_simulated: true,
    };
    evidence.verify(&policy).map_err(|e| EnvironmentError::Enclave(e.to_string()))
}

/// The development account committee member `index` (0-based) acts with.
pub fn committee_member_key(index: usize) -> EthKey {
    dev_key(9 + index as u32)
}

/// The committee key on the Directory; on first use, deals a `threshold`-of-`size`
/// committee whose member shares are kept (0600) in the environment for the committee
/// service.
async fn committee_key(
    ledger: &Ledger,
    home: &Path,
    threshold: usize,
    size: usize,
) -> Result<keywrap::PublicKey, EnvironmentError> {
    let directory = ledger.directory();
    let mut epoch = directory.committee_epoch().await?;
    if epoch == 0 {
        let (committee, members) = keywrap::deal_committee(threshold, size, &mut rand::rng())
            .map_err(|e| EnvironmentError::Enclave(format!("dealing the committee: {e}")))?;
        let share_dir = home.join("committee");
        std::fs::create_dir_all(&share_dir).map_err(io(&share_dir))?;
        for member in &members {
            write_synced(&share_dir.join(format!("member-{}.share", member.index())), &member.to_bytes())?;
        }
        let threshold = u8::try_from(threshold).map_err(|_| EnvironmentError::CommitteeKey)?;
        directory
            .set_committee(
                (0..members.len()).map(|i| committee_member_key(i).address()).collect(),
                members.iter().map(|m| B256::from(m.public_key().to_bytes())).collect(),
                B256::from(committee.key().to_bytes()),
                threshold,
            )
            .await?;
        epoch = directory.committee_epoch().await?;
    }
    let committee = directory.committee_of(epoch).await?;
    keywrap::PublicKey::from_bytes(committee.key.as_slice()).map_err(|_| EnvironmentError::CommitteeKey)
}

impl Environment {
    /// Committee member `index`'s (0-based) share, as dealt into this environment.
    pub fn committee_share(&self, index: usize) -> Result<keywrap::KeyShare, EnvironmentError> {
        let path = self.home.join("committee").join(format!("member-{}.share", index + 1));
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        keywrap::KeyShare::from_bytes(&bytes)
            .map_err(|e| EnvironmentError::Io { path, why: format!("not a committee share: {e}") })
    }
}

/// Writes a file with mode 0600 and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EnvironmentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(io(path))?;
    std::io::Write::write_all(&mut file, bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

impl From<healthchain_ledger::errors::LedgerError> for EnvironmentError {
    fn from(e: healthchain_ledger::errors::LedgerError) -> Self {
        EnvironmentError::Ledger(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<EnvironmentConfig, EnvironmentError> {
        let home = tempfile::tempdir().expect("temporary directory");
        std::fs::write(home.path().join(CONFIG_FILE), text).expect("config");
        EnvironmentConfig::read(home.path())
    }

    #[test]
    fn the_configuration_file_is_optional_and_every_section_parses() {
        let home = tempfile::tempdir().expect("temporary directory");
        assert_eq!(EnvironmentConfig::read(home.path()).expect("no file"), EnvironmentConfig::default());
        let config = read(
            r#"
            [chain]
            rpc = "http://127.0.0.1:8545"
            [store]
            backend = "s3"
            bucket = "records"
            region = "us-east-1"
            endpoint = "http://127.0.0.1:9000"
            access_key_id = "id"
            secret_access_key = "secret"
            allow_http = true
            [committee]
            threshold = 2
            size = 3
            [node]
            listen = "127.0.0.1:8080"
            committee_member = 1
            committee_interval = 2
            committee_confirmations = 3
            json_logs = true
            rate_limit = 50
            "#,
        )
        .expect("the documented example");
        assert_eq!(config.chain.rpc.as_deref(), Some("http://127.0.0.1:8545"));
        assert!(matches!(config.store, Some(StoreConfig::S3(ref s3)) if s3.bucket == "records" && s3.allow_http));
        assert_eq!(config.node.listen, Some("127.0.0.1:8080".parse().expect("address")));
        assert_eq!((config.node.committee_member, config.node.json_logs), (Some(1), Some(true)));
        assert_eq!(config.node.rate_limit.map(|n| n.get()), Some(50));
        assert_eq!(config.committee, CommitteeConfig { threshold: 2, size: 3 });
        assert_eq!(config.node.committee_confirmations, Some(3));
        assert_eq!(read("[committee]\nsize = 5\n").expect("a partial section").committee.threshold, 1);
    }

    #[test]
    fn a_bad_configuration_is_refused_with_the_file_and_what_is_wrong() {
        for (text, says) in [
            ("[chain]\nrpc = 8545\n", "invalid type"),
            ("[chain]\nurl = \"http://x\"\n", "unknown field `url`"),
            ("[store]\nbackend = \"ftp\"\n", "unknown variant `ftp`"),
            ("[node]\nlisten = \"everywhere\"\n", "invalid socket address"),
            ("[node]\nrate_limit = 0\n", "nonzero"),
            ("[committee]\nthreshold = 3\nsize = 2\n", "threshold 3 must be between 1 and its size 2"),
            ("[committee]\nthreshold = 0\n", "threshold 0"),
            ("[chain\n", "unclosed table"),
        ] {
            match read(text) {
                Err(error @ EnvironmentError::Config { .. }) => {
                    assert!(!error.is_failure(), "an invalid configuration is not a failure");
                    let EnvironmentError::Config { path, why } = error else { unreachable!() };
                    assert!(path.ends_with(CONFIG_FILE), "{path:?}");
                    assert!(why.contains(says), "{text:?}: {why}");
                }
                other => panic!("{text:?} should be refused, got {other:?}"),
            }
        }
    }
}
