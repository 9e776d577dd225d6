//! Running an enclave host: the simulated enclave process, wired to the object store and
//! the ledgers it reaches through its host, and the platform secret of this machine.
//!
//! The enclave's calls are blocking (it is another process), while the ledger and store
//! clients are async; the adapters here bridge the two with the runtime handle they were
//! created on, so enclave calls must run on a blocking thread (`spawn_blocking`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_provider::{Provider, RootProvider};
use healthchain_enclave::host::{
    EnclaveBackend, EnclaveError, LedgerSource, ObjectSource, SimulatedConfig, SimulatedEnclave, new_platform_secret,
};
use healthchain_enclave::protocol::LedgerName;
use healthchain_store::{ObjectAddress, Store, StoreError};
use healthchain_update::history::{Fetched, ObjectFetch};
use healthchain_update::view::LedgerRpc;
use serde_json::{Value, json, value::RawValue};
use tokio::runtime::Handle;

/// The object store as the enclave (and `verify`) reach it.
#[derive(Clone)]
pub struct StoreObjects {
    store: Arc<Store>,
    runtime: Handle,
}

impl StoreObjects {
    /// Serves `store` using `runtime` (call from outside the runtime's worker threads).
    pub fn new(store: Arc<Store>, runtime: Handle) -> Self {
        StoreObjects { store, runtime }
    }
}

impl ObjectSource for StoreObjects {
    fn get(&self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
        self.runtime
            .block_on(self.store.get_as_stored(&ObjectAddress(*address)))
            .map(|found| found.map(|bytes| bytes.to_vec()))
            .map_err(|e| e.to_string())
    }

    fn get_many(&self, addresses: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, String> {
        let addresses: Vec<ObjectAddress> = addresses.iter().map(|a| ObjectAddress(*a)).collect();
        self.runtime
            .block_on(self.store.get_many_as_stored(&addresses))
            .map(|found| found.into_iter().map(|o| o.map(|bytes| bytes.to_vec())).collect())
            .map_err(|e| e.to_string())
    }

    fn put(&self, bytes: &[u8]) -> Result<[u8; 32], String> {
        self.runtime.block_on(self.store.put(bytes.to_vec())).map(|a| a.0).map_err(|e| e.to_string())
    }
}

impl ObjectFetch for StoreObjects {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        match self.runtime.block_on(self.store.get(&ObjectAddress(*address))) {
            Ok(bytes) => Fetched::Found(bytes.to_vec()),
            Err(StoreError::NotFound(_)) => Fetched::Missing,
            Err(StoreError::Tampered { .. }) => Fetched::Tampered,
            Err(e) => Fetched::Failed(e.to_string()),
        }
    }
}

/// Relays raw JSON-RPC requests to the endpoints of the two ledgers.
#[derive(Clone)]
pub struct LedgerRelay {
    shared: RootProvider,
    consortium: RootProvider,
    runtime: Handle,
}

impl LedgerRelay {
    /// Relays to `shared` and `consortium` (the same provider when one chain hosts both).
    pub fn new(shared: RootProvider, consortium: RootProvider, runtime: Handle) -> Self {
        LedgerRelay { shared, consortium, runtime }
    }

    fn relay(&self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, String> {
        #[derive(serde::Deserialize)]
        struct Request {
            id: Value,
            method: String,
            params: Box<RawValue>,
        }
        let request: Request = serde_json::from_slice(request).map_err(|e| format!("not a JSON-RPC request: {e}"))?;
        let provider = match ledger {
            LedgerName::Shared => &self.shared,
            LedgerName::Consortium => &self.consortium,
        };
        let answer = self.runtime.block_on(provider.raw_request_dyn(request.method.into(), &request.params));
        let reply = match answer {
            Ok(result) => json!({"jsonrpc": "2.0", "id": request.id, "result": result}),
            Err(alloy_transport::RpcError::ErrorResp(e)) => {
                json!({"jsonrpc": "2.0", "id": request.id, "error": {"code": e.code, "message": e.message}})
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(reply.to_string().into_bytes())
    }
}

impl LedgerSource for LedgerRelay {
    fn rpc(&self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, String> {
        self.relay(ledger, request)
    }
}

impl LedgerRpc for LedgerRelay {
    fn request(&mut self, ledger: LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
        self.relay(ledger, body)
    }
}

/// How to start the enclave process.
#[derive(Clone, Debug)]
pub struct EnclaveProgram {
    /// The executable (its SHA-256 is the measurement).
    pub program: PathBuf,
    /// Arguments selecting the enclave mode; `--deployment FILE` is appended.
    pub args: Vec<String>,
}

impl EnclaveProgram {
    /// This executable in its hidden `enclave-process` mode (the `healthchain` binary).
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(EnclaveProgram { program: std::env::current_exe()?, args: vec!["enclave-process".into()] })
    }
}

/// Launches the simulated enclave with the update application for the deployment in
/// `deployment_file`, serving it `objects` and `ledger`.
pub fn launch_enclave(
    program: &EnclaveProgram,
    state_dir: &Path,
    platform_secret: [u8; 32],
    deployment_file: &Path,
    objects: StoreObjects,
    ledger: LedgerRelay,
) -> Result<SimulatedEnclave, EnclaveError> {
    let mut config = SimulatedConfig::new(&program.program, state_dir, platform_secret);
    config.args = program.args.clone();
    config.args.extend(["--deployment".to_string(), deployment_file.display().to_string()]);
    config.objects = Some(Arc::new(objects));
    config.ledger = Some(Arc::new(ledger));
    SimulatedEnclave::launch(config)
}

/// The simulated platform secret of this machine, created (0600, in a 0700 directory) on
/// first use.
pub fn platform_secret(state_dir: &Path) -> Result<[u8; 32], String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = state_dir.join("platform.secret");
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::create_dir_all(state_dir).map_err(io)?;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|_| format!("{} is not a 32-byte platform secret", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = new_platform_secret();
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut file, &secret).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// Registers a verified enclave (report signer, measurement, encryption key) on every
/// Directory of `ledger`'s deployment; `ledger` must act as a consortium admin.
pub async fn approve_enclave(
    ledger: &healthchain_ledger::Ledger,
    verified: &healthchain_enclave::evidence::VerifiedEnclave,
) -> Result<(), healthchain_ledger::errors::LedgerError> {
    ledger
        .approve_enclave_everywhere(
            verified.report_signer,
            verified.measurement,
            alloy_primitives::B256::from(verified.encryption_key.to_bytes()),
            alloy_primitives::B256::ZERO,
        )
        .await
}

/// Why joining an instance to the approved enclave failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// An instance could not be launched.
    #[error("launching the instance: {0}")]
    Launch(#[from] EnclaveError),
    /// The protocol between the instances failed or was refused (nothing changed).
    #[error(transparent)]
    Join(#[from] healthchain_enclave::provision::JoinError),
    /// Recording the join on the Directory failed.
    #[error(transparent)]
    Ledger(Box<healthchain_ledger::errors::LedgerError>),
    /// The instance's state directory.
    #[error("{0}")]
    State(String),
}

impl ReplicaError {
    /// Whether a component failed (as opposed to the join being refused).
    pub fn is_failure(&self) -> bool {
        match self {
            ReplicaError::Launch(e) => e.is_failure(),
            ReplicaError::Join(e) => e.is_failure(),
            ReplicaError::Ledger(e) => e.is_failure(),
            ReplicaError::State(_) => true,
        }
    }
}

impl From<healthchain_ledger::errors::LedgerError> for ReplicaError {
    fn from(e: healthchain_ledger::errors::LedgerError) -> Self {
        ReplicaError::Ledger(Box::new(e))
    }
}

/// Joins the `joiner` instance to the approved enclave `provider` runs (attested key
/// provisioning, [`healthchain_enclave::provision`]) and records the join on the consortium
/// Directory with `ledger`'s account (any account: the provider's signature authorizes it).
/// The enclave calls run on a blocking thread.
pub async fn join_instance(
    provider: Arc<dyn EnclaveBackend>,
    joiner: Arc<dyn EnclaveBackend>,
    policy: healthchain_enclave::provision::JoinPolicy,
    ledger: &healthchain_ledger::Ledger,
) -> Result<healthchain_enclave::provision::Joined, ReplicaError> {
    let joined = tokio::task::spawn_blocking(move || {
        healthchain_enclave::provision::join(provider.as_ref(), joiner.as_ref(), &policy)
    })
    .await
    .map_err(|e| ReplicaError::State(format!("the join task failed: {e}")))??;
    record_join(ledger, &joined).await?;
    Ok(joined)
}

/// Sends `Directory.recordReplica` for a completed join (consortium Directory).
pub async fn record_join(
    ledger: &healthchain_ledger::Ledger,
    joined: &healthchain_enclave::provision::Joined,
) -> Result<(), healthchain_ledger::errors::LedgerError> {
    ledger
        .consortium_directory()
        .record_replica(joined.record.instance, joined.record.evidence_hash, &joined.bundle.signature)
        .await?;
    Ok(())
}
