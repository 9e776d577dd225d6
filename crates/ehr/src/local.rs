//! Running the EHR application in this process, without the enclave's process boundary
//! or session layer: for tests, benchmarks and embedding. The application is reached
//! exactly as the enclave's dispatcher reaches it ([`TrustedApp::handle`] with a
//! postcard-encoded request and an [`AppContext`]), with sealed storage kept as files and,
//! if given one, ledger requests relayed to a [`LedgerSource`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::Address;
use healthchain_crypto::keywrap;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::host::LedgerSource;
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::runtime::{
    AppContext, AppError, EnclaveKeys, HostObject, HostServices, RuntimeError, TrustedApp,
};
use healthchain_enclave::sealing::SealingKey;
use zeroize::Zeroizing;

use crate::api::{EhrReply, EhrRequest, EhrResponse};
use crate::app::EhrApp;
use crate::error::EhrError;

/// The host services of an in-process enclave: sealed blobs as files `<label>.sealed` in a
/// directory, sealed with a [`SealingKey`] (what the simulated host and enclave do between
/// them, in one process), and ledger requests relayed to a [`LedgerSource`] if one is
/// given. No object store.
pub struct LocalHost {
    dir: PathBuf,
    sealing: SealingKey,
    ledger: Option<Arc<dyn LedgerSource>>,
}

impl LocalHost {
    /// Blobs in `dir`, sealed for `measurement` on the platform with `platform_secret`; no
    /// ledger.
    pub fn new(dir: impl Into<PathBuf>, platform_secret: &[u8; 32], measurement: &[u8; 32]) -> Self {
        Self { dir: dir.into(), sealing: SealingKey::derive(platform_secret, measurement), ledger: None }
    }

    /// Relays the enclave's ledger requests to `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<dyn LedgerSource>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    fn path(&self, label: &str) -> Result<PathBuf, RuntimeError> {
        let safe = !label.is_empty()
            && label.len() <= 128
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(RuntimeError::HostStorage(format!("invalid sealed label '{label}'")));
        }
        Ok(self.dir.join(format!("{label}.sealed")))
    }
}

impl HostServices for LocalHost {
    fn fetch_object(&mut self, _address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError> {
        Err(RuntimeError::HostStorage("the local enclave serves no object store".into()))
    }

    fn fetch_objects(&mut self, _addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError> {
        Err(RuntimeError::HostStorage("the local enclave serves no object store".into()))
    }

    fn put_object(&mut self, _bytes: &[u8]) -> Result<[u8; 32], RuntimeError> {
        Err(RuntimeError::HostStorage("the local enclave serves no object store".into()))
    }

    fn ledger_rpc(&mut self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        match &self.ledger {
            Some(source) => source.rpc(ledger, request).map_err(RuntimeError::HostLedger),
            None => Err(RuntimeError::HostLedger("the local enclave relays no ledger".into())),
        }
    }

    fn load(&mut self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RuntimeError> {
        let path = self.path(label)?;
        match std::fs::read(&path) {
            Ok(blob) => Ok(Some(self.sealing.unseal(label, &blob)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RuntimeError::HostStorage(format!("reading {}: {e}", path.display()))),
        }
    }

    fn store(&mut self, label: &str, data: &[u8]) -> Result<(), RuntimeError> {
        let path = self.path(label)?;
        let blob = self.sealing.seal(label, data);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let temporary = path.with_extension("sealed.tmp");
            let mut file = std::fs::File::create(&temporary)?;
            std::io::Write::write_all(&mut file, &blob)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| RuntimeError::HostStorage(format!("writing {}: {e}", path.display())))
    }
}

/// An [`EhrApp`] with an enclave context of its own, in this process.
pub struct LocalEnclave {
    keys: EnclaveKeys,
    host: LocalHost,
    data_dir: PathBuf,
    started: Instant,
    app: EhrApp,
}

impl LocalEnclave {
    /// Runs `app` with its data and sealed blobs in `data_dir`, as code `measurement` on
    /// the platform with `platform_secret` (fresh report and encryption keys; the EHR
    /// application uses the sealing key and, for batch reports, the report key).
    pub fn new(app: EhrApp, data_dir: impl Into<PathBuf>, platform_secret: [u8; 32], measurement: [u8; 32]) -> Self {
        let data_dir = data_dir.into();
        let mut rng = rand::rng();
        let keys = EnclaveKeys {
            measurement,
            report_key: EthKey::generate(&mut rng),
            encryption_key: keywrap::SecretKey::generate(&mut rng),
            sealing: SealingKey::derive(&platform_secret, &measurement),
        };
        let host = LocalHost::new(&data_dir, &platform_secret, &measurement);
        Self { keys, host, data_dir, started: Instant::now(), app }
    }

    /// Relays the application's ledger requests (e.g. [`crate::OnChainRegistry`]'s reads)
    /// to `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<dyn LedgerSource>) -> Self {
        self.host = self.host.with_ledger(ledger);
        self
    }

    /// The address of this enclave's report key (what signs batch reports; what an admin
    /// approves on the Directory).
    pub fn report_signer(&self) -> Address {
        self.keys.report_key.address()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The application.
    pub fn app_mut(&mut self) -> &mut EhrApp {
        &mut self.app
    }

    /// Hands one encoded request to the application as the dispatcher would.
    pub fn call_raw(&mut self, caller: Address, request: &[u8]) -> Result<Vec<u8>, AppError> {
        let mut context = AppContext {
            keys: &self.keys,
            host: &mut self.host,
            open_sessions: 1,
            uptime: self.started.elapsed(),
            data_dir: &self.data_dir,
        };
        self.app.handle(&mut context, caller, request)
    }

    /// Encodes `request`, hands it to the application and decodes its answer.
    pub fn call(&mut self, caller: Address, request: &EhrRequest) -> Result<EhrResponse, EhrError> {
        let encoded =
            postcard::to_stdvec(request).map_err(|e| EhrError::InvalidRequest(format!("unencodable request: {e}")))?;
        let reply = self.call_raw(caller, &encoded).map_err(|e| EhrError::Storage(e.to_string()))?;
        let reply: EhrReply =
            postcard::from_bytes(&reply).map_err(|e| EhrError::Storage(format!("undecodable reply: {e}")))?;
        reply
    }
}
