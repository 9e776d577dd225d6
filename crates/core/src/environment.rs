//! The embedded defaults: one directory holds an embedded chain with all six contracts, the
//! object store (local `objects/`, or what `store.json` names, e.g. an S3 bucket), the simulated enclave's state and platform secret, and the
//! key-authorization committee (`t = n = 1`), created on first use. Every participant-facing
//! flow runs against an [`Environment`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use healthchain_chain::{Chain, ChainConfig, Storage};
use healthchain_crypto::keywrap;
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::evidence::{Policy, VerifiedEnclave};
use healthchain_enclave::host::{EnclaveBackend, measure, platform_address};
use healthchain_ledger::client::Connection;
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
    /// The committee key on the chain is malformed.
    #[error("the committee key on the Directory is not a valid public key")]
    CommitteeKey,
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
/// Optional: which object store to use (a [`StoreConfig`] in JSON); default `objects/`.
pub const STORE_FILE: &str = "store.json";

/// The store configuration of `home`: `store.json` if present, else the local `objects/`.
fn store_config(home: &Path) -> Result<StoreConfig, EnvironmentError> {
    let path = home.join(STORE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| EnvironmentError::Io { path, why: format!("not a store configuration: {e}") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreConfig::Local { path: home.join("objects") }),
        Err(e) => Err(io(&path)(e)),
    }
}

impl Environment {
    /// Opens the environment in `home`, creating it on first use: chain, contracts,
    /// store, enclave (approved on the Directory) and committee. Must be called on a
    /// multi-threaded tokio runtime (enclave calls run on blocking threads).
    pub async fn open(
        home: &Path,
        program: &EnclaveProgram,
        storage: ChainStorage,
    ) -> Result<Environment, EnvironmentError> {
        Self::open_with_committee(home, program, storage, 1, 1).await
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
        std::fs::create_dir_all(home).map_err(io(home))?;
        let chain = match storage {
            ChainStorage::Durable => Chain::open(ChainConfig::default(), Storage::Dir(home.join("chain"))),
            ChainStorage::Memory => Chain::in_memory(ChainConfig::default()),
        }
        .map_err(|e| EnvironmentError::Chain(e.to_string()))?;
        let connection = Connection::embedded(&chain).await?;
        let admin = dev_key(0);

        let deployment_file = home.join(DEPLOYMENT_FILE);
        let existing = match (storage, std::fs::read(&deployment_file)) {
            (ChainStorage::Durable, Ok(bytes)) => Some(serde_json::from_slice::<Deployment>(&bytes).map_err(|e| {
                EnvironmentError::Io { path: deployment_file.clone(), why: format!("not a deployment: {e}") }
            })?),
            _ => None,
        };
        let deployment = match existing {
            Some(deployment) => deployment,
            None => {
                let deployment = deploy(&connection.account(&admin), None, &DeployParams::default()).await?.deployment;
                let text = serde_json::to_string_pretty(&deployment).expect("deployments serialize");
                write_synced(&deployment_file, text.as_bytes())?;
                deployment
            }
        };
        let ledger = Ledger::connect(&connection, None, &admin, deployment).await?;

        let store = Arc::new(Store::open(&store_config(home)?)?);
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
        let measurement = measure(&program.program).map_err(io(&program.program))?;
        let policy = Policy {
            platforms: vec![platform_address(secret)],
            measurements: vec![measurement],
            accept_simulated: true,
        };
        let verified = enclave.evidence().verify(&policy).map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
        if !ledger.directory().is_approved_enclave(verified.report_signer).await? {
            approve_enclave(&ledger, &verified).await?;
        }

        let committee_key = committee_key(&ledger, home, threshold, size).await?;
        Ok(Environment {
            home: home.to_path_buf(),
            chain: Some(chain),
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
    /// JSON-RPC endpoint, its enclave through the node's relay (evidence verified as
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
        let connection = Connection::http_following(&node.rpc_url(), RESTART_PATIENCE).await?;
        let admin = dev_key(0);
        let ledger = Ledger::connect(&connection, None, &admin, deployment).await?;
        let store = Arc::new(Store::open(&store_config(home)?)?);
        let enclave = NodeEnclave::connect(node).await.map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
        let secret = platform_secret(&home.join("enclave")).map_err(EnvironmentError::Enclave)?;
        let policy = Policy {
            platforms: vec![platform_address(secret)],
            measurements: vec![measure(&program.program).map_err(io(&program.program))?],
            accept_simulated: true,
        };
        let verified = enclave.evidence().verify(&policy).map_err(|e| EnvironmentError::Enclave(e.to_string()))?;
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
