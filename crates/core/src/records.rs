//! The data owner's side of a record (seed 000 §5.2–5.3) and verification for anyone.
//!
//! **Upload.** The on-chain record id is `keccak(tag, owner, anchor, manifestHash)`, while
//! the digest chain, the chameleon message and every entry's associated data bind the record
//! id. An upload is therefore prepared in this order:
//! 1. chameleon key pair; anchor `h` = Hash(Y, fresh random message) — the message is
//!    thrown away, only `h` matters;
//! 2. record key `k`, wrapped to the enclave (inner layer `T`) and the committee (outer layer
//!    `EK`), both bound to the anchor;
//! 3. the manifest `{Y, EK, data type}` — stored as a content-addressed object; its SHA-256
//!    is the `manifestHash` the chain commits to;
//! 4. `register(h, manifestHash)` with the deposit; the record id follows.
//!
//! Version 1 is then an update like every other (DESIGN.md, "Where we differ"):
//!
//! **Update.** `requestUpdate` issues a license to the enclave; the owner sends trapdoor,
//! record key and the new FHIR Bundle over an attested session; the enclave validates,
//! stores the encrypted entry, adapts the anchor and signs the report; the owner appends the
//! version to `UpdateLog`, confirms it on `RecordRegistry`, and publishes the entry's
//! location in the store's record index. The anchor never changes.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, U256};
use healthchain_crypto::CryptoRng;
use healthchain_crypto::chameleon::{self, HashValue, Trapdoor};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap::{self, Purpose};
use healthchain_crypto::record::RecordId;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client::{self, ClientError};
use healthchain_ledger::Ledger;
use healthchain_ledger::errors::LedgerError;
use healthchain_ledger::ids::check_string_hash_words;
use healthchain_store::StoreError;
use healthchain_update::history::{VerifyError, VersionHint};
use healthchain_update::manifest::MANIFEST_FORMAT;
use healthchain_update::view::LoggedVersion;
use healthchain_update::{APP_NAME, Manifest, UpdateAccepted, UpdateRefusal, UpdateReply, UpdateRequest, VerifyReport};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::environment::Environment;

/// The data type of records made from FHIR R4 bundles.
pub const FHIR_R4: &str = "fhir-r4";

/// The data owner's secrets for a record (kept in the owner's wallet, never uploaded).
pub struct RecordSecrets {
    /// The chameleon trapdoor `x`.
    pub trapdoor: Trapdoor,
    /// The record key `k`.
    pub key: RecordKey,
}

/// Everything a registration needs, prepared offline.
pub struct PreparedUpload {
    /// The anchor `h` the chain will hold forever.
    pub anchor: HashValue,
    /// The manifest document (JSON) to store as an object.
    pub manifest: Vec<u8>,
    /// Its SHA-256: the `manifestHash` committed on-chain and the object's address.
    pub manifest_hash: B256,
    /// The record id the chain will derive.
    pub record_id: B256,
    /// The owner's secrets.
    pub secrets: RecordSecrets,
}

/// Prepares the registration of a record owned by `owner`, with its key wrapped to
/// `enclave_key` and `committee_key`.
pub fn prepare_upload(
    owner: Address,
    data_type: &str,
    enclave_key: &keywrap::PublicKey,
    committee_key: &keywrap::PublicKey,
    rng: &mut (impl CryptoRng + ?Sized),
) -> PreparedUpload {
    let (trapdoor, public) = chameleon::keygen(rng);
    let mut placeholder = [0u8; 32];
    rng.fill_bytes(&mut placeholder);
    let (anchor, _) = chameleon::hash(&public, &placeholder, rng);

    let key = RecordKey::generate(rng);
    let anchor_bytes = anchor.to_bytes();
    let inner = keywrap::wrap(enclave_key, key.as_bytes(), Purpose::EnclaveLayer, &anchor_bytes, rng);
    let outer = keywrap::wrap(committee_key, &inner.to_bytes(), Purpose::CommitteeLayer, &anchor_bytes, rng);
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        chameleon_key: alloy_primitives::hex::encode(public.to_bytes()),
        wrapped_key: alloy_primitives::hex::encode(outer.to_bytes()),
        data_type: data_type.to_string(),
    }
    .to_bytes();
    let manifest_hash = B256::from(sha256(&manifest));
    let record_id = healthchain_ledger::ids::record_id(owner, B256::from(anchor_bytes), manifest_hash);
    PreparedUpload { anchor, manifest, manifest_hash, record_id, secrets: RecordSecrets { trapdoor, key } }
}

/// One version as the owner keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedVersion {
    /// The version number.
    pub version: u64,
    /// Store address of its encrypted entry.
    pub entry: B256,
    /// `d_j`.
    pub digest: B256,
    /// `μ_j` as two words.
    pub check_string: [B256; 2],
}

/// The owner's copy of a record: public facts, its versions, and its secrets encrypted
/// under a key derived from the owner's account key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRecord {
    /// The record id.
    pub record_id: B256,
    /// Its owner.
    pub owner: Address,
    /// The anchor `h`.
    pub anchor: B256,
    /// The manifest's address.
    pub manifest_hash: B256,
    /// The data type.
    pub data_type: String,
    /// Logged versions, in order.
    pub versions: Vec<OwnedVersion>,
    /// Trapdoor ‖ record key, AES-256-GCM under HKDF(owner key, record id) (hex).
    pub sealed_secrets: String,
}

fn wallet_key(owner: &EthKey, record_id: &B256) -> RecordKey {
    let mut key = [0u8; 32];
    healthchain_crypto::kdf::derive(b"healthchain/record-wallet/v1", &owner.to_bytes(), record_id.as_slice(), &mut key)
        .expect("32 bytes are within HKDF's range");
    RecordKey::from_bytes(key)
}

impl OwnedRecord {
    fn new(owner: &EthKey, prepared: &PreparedUpload, data_type: &str) -> Self {
        let secrets = Zeroizing::new([prepared.secrets.trapdoor.to_bytes(), *prepared.secrets.key.as_bytes()].concat());
        let context = EntryContext { record: RecordId(prepared.record_id.0), entry_index: 0 };
        let sealed =
            envelope::encrypt_entry(&wallet_key(owner, &prepared.record_id), context, &secrets, &mut rand::rng());
        OwnedRecord {
            record_id: prepared.record_id,
            owner: owner.address(),
            anchor: B256::from(prepared.anchor.to_bytes()),
            manifest_hash: prepared.manifest_hash,
            data_type: data_type.to_string(),
            versions: Vec::new(),
            sealed_secrets: alloy_primitives::hex::encode(sealed),
        }
    }

    /// Opens the record's secrets with the owner's key.
    pub fn secrets(&self, owner: &EthKey) -> Result<RecordSecrets, RecordError> {
        let wrong =
            || RecordError::Wallet(format!("the secrets of record {} do not open with this key", self.record_id));
        let sealed = alloy_primitives::hex::decode(&self.sealed_secrets).map_err(|_| wrong())?;
        let context = EntryContext { record: RecordId(self.record_id.0), entry_index: 0 };
        let plain = Zeroizing::new(
            envelope::decrypt_entry(&wallet_key(owner, &self.record_id), context, &sealed).map_err(|_| wrong())?,
        );
        if plain.len() != 64 {
            return Err(wrong());
        }
        let trapdoor = Trapdoor::from_bytes(&plain[..32]).map_err(|_| wrong())?;
        let key: [u8; 32] = plain[32..].try_into().map_err(|_| wrong())?;
        Ok(RecordSecrets { trapdoor, key: RecordKey::from_bytes(key) })
    }

    /// The latest version number (0 before the first).
    pub fn version(&self) -> u64 {
        self.versions.len() as u64
    }
}

/// The owner's records on disk: one JSON file per record (secrets inside are encrypted).
pub struct RecordWallet {
    dir: PathBuf,
}

impl RecordWallet {
    /// The wallet in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RecordWallet { dir: dir.into() }
    }

    fn path(&self, record_id: &B256) -> PathBuf {
        self.dir.join(format!("{record_id}.json"))
    }

    /// Saves a record durably (write, fsync, rename).
    pub fn save(&self, record: &OwnedRecord) -> Result<(), RecordError> {
        let io = |e: std::io::Error| RecordError::Wallet(format!("{}: {e}", self.dir.display()));
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let path = self.path(&record.record_id);
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(record).expect("records serialize");
        let mut file = std::fs::File::create(&temporary).map_err(io)?;
        std::io::Write::write_all(&mut file, &text).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io)
    }

    /// Loads a record.
    pub fn load(&self, record_id: &B256) -> Result<OwnedRecord, RecordError> {
        let path = self.path(record_id);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RecordError::NotInWallet(*record_id),
            _ => RecordError::Wallet(format!("{}: {e}", path.display())),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RecordError::Wallet(format!("{}: {e}", path.display())))
    }

    /// Every record in the wallet.
    pub fn list(&self) -> Result<Vec<OwnedRecord>, RecordError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RecordError::Wallet(format!("{}: {e}", self.dir.display()))),
        };
        let mut records = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes =
                    std::fs::read(&path).map_err(|e| RecordError::Wallet(format!("{}: {e}", path.display())))?;
                records.push(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| RecordError::Wallet(format!("{}: {e}", path.display())))?,
                );
            }
        }
        Ok(records)
    }
}

/// Why a record flow failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The enclave refused the update; nothing was stored, signed or logged.
    #[error("the enclave refused the update: {0}")]
    Refused(#[from] UpdateRefusal),
    /// A ledger call failed (its message names the contract error).
    #[error(transparent)]
    Ledger(Box<LedgerError>),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session with the enclave failed.
    #[error("enclave session: {0}")]
    Enclave(#[from] ClientError),
    /// The bundle could not be split into versions.
    #[error("{0}")]
    Bundle(String),
    /// The owner's wallet.
    #[error("wallet: {0}")]
    Wallet(String),
    /// The record is not in the wallet.
    #[error("record {0} is not in this wallet")]
    NotInWallet(B256),
    /// Verification could not run.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A background task failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl RecordError {
    /// Whether a component (chain, store, enclave) failed, as opposed to a refusal or
    /// invalid input.
    pub fn is_failure(&self) -> bool {
        match self {
            RecordError::Refused(e) => e.is_failure(),
            RecordError::Ledger(e) => e.is_failure(),
            RecordError::Store(e) => e.is_failure(),
            RecordError::Enclave(e) => e.is_failure(),
            RecordError::Verify(e) => e.is_failure(),
            RecordError::Internal(_) => true,
            _ => false,
        }
    }
}

/// The store's record index entry for one version.
fn hint_bytes(record: &OwnedVersion) -> Vec<u8> {
    serde_json::to_vec(&VersionHint {
        version: record.version,
        entry: record.entry.0,
        check_string: record.check_string,
    })
    .expect("hints serialize")
}

/// A data owner acting in an environment.
pub struct Owner<'e> {
    env: &'e Environment,
    key: EthKey,
    ledger: Ledger,
}

impl<'e> Owner<'e> {
    /// The owner with account `key` (funded from the embedded faucet if it has no ether).
    pub async fn new(env: &'e Environment, key: EthKey) -> Result<Owner<'e>, RecordError> {
        env.fund(key.address(), U256::from(10u64).pow(U256::from(18u64)))
            .await
            .map_err(|e| RecordError::Internal(e.to_string()))?;
        let ledger = env.ledger(&key).await.map_err(|e| RecordError::Internal(e.to_string()))?;
        Ok(Owner { env, key, ledger })
    }

    /// The owner's account.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The owner's ledger client.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Registers a new record (manifest stored, anchor registered with the deposit); it has
    /// no version until the first [`Owner::update`].
    pub async fn register(&self, data_type: &str) -> Result<OwnedRecord, RecordError> {
        let prepared = prepare_upload(
            self.key.address(),
            data_type,
            &self.env.verified.encryption_key,
            &self.env.committee_key,
            &mut rand::rng(),
        );
        self.env.store.put(prepared.manifest.clone()).await?;
        let records = self.ledger.records();
        let deposit = records.deposit().await?;
        let tx = records.register(B256::from(prepared.anchor.to_bytes()), prepared.manifest_hash, deposit).await?;
        if tx.event.recordId != prepared.record_id {
            return Err(RecordError::Internal("the chain derived another record id".into()));
        }
        Ok(OwnedRecord::new(&self.key, &prepared, data_type))
    }

    /// Registers a record and logs `entry` as its version 1.
    pub async fn upload(&self, entry: &[u8], data_type: &str) -> Result<OwnedRecord, RecordError> {
        let mut record = self.register(data_type).await?;
        self.update(&mut record, entry).await?;
        Ok(record)
    }

    /// Asks for an update license for the environment's enclave.
    pub async fn request_license(&self, record: &OwnedRecord) -> Result<(), RecordError> {
        self.ledger.records().request_update(record.record_id, self.env.verified.report_signer).await?;
        Ok(())
    }

    /// The honest request for appending `entry` to `record`.
    pub fn request(&self, record: &OwnedRecord, entry: &[u8]) -> Result<UpdateRequest, RecordError> {
        let secrets = record.secrets(&self.key)?;
        Ok(UpdateRequest {
            record_id: record.record_id,
            trapdoor: Zeroizing::new(secrets.trapdoor.to_bytes()),
            record_key: Zeroizing::new(*secrets.key.as_bytes()),
            base_version: record.version(),
            base_digest: record.versions.last().map(|v| v.digest).unwrap_or_default(),
            history: record.versions.iter().map(|v| v.entry.0).collect(),
            entry: entry.to_vec(),
        })
    }

    /// Sends `request` to the enclave's update application over a fresh attested session.
    pub async fn call_enclave(&self, request: UpdateRequest) -> Result<UpdateAccepted, RecordError> {
        let backend = self.env.backend();
        let key = self.key.clone();
        let identity = self.env.enclave_identity();
        let reply = tokio::task::spawn_blocking(move || -> Result<UpdateReply, ClientError> {
            let mut session = client::connect(backend.as_ref(), key, identity)?;
            let reply = session.call(APP_NAME, &request)?;
            session.close()?;
            Ok(reply)
        })
        .await
        .map_err(|e| RecordError::Internal(e.to_string()))??;
        Ok(reply?)
    }

    /// Appends an accepted version to `UpdateLog` (consuming its license).
    pub async fn append(&self, record: &OwnedRecord, accepted: &UpdateAccepted) -> Result<(), RecordError> {
        self.ledger
            .update_log()
            .append(
                record.record_id,
                accepted.version,
                accepted.digest,
                accepted.check_string,
                accepted.license,
                &accepted.log_signature,
            )
            .await?;
        Ok(())
    }

    /// Logs an accepted version: the store's record index, `UpdateLog.append`,
    /// `RecordRegistry.confirmUpdate`, the owner's copy. The index entry (where the version's
    /// entry is) goes first: a crash after the log but before it would leave a logged
    /// version nobody can locate, while an index entry for a version never logged is only
    /// an unproven claim, which verification reports as such (and a retry overwrites).
    pub async fn log(&self, record: &mut OwnedRecord, accepted: &UpdateAccepted) -> Result<(), RecordError> {
        let version = OwnedVersion {
            version: accepted.version,
            entry: B256::from(accepted.entry_address),
            digest: accepted.digest,
            check_string: accepted.check_string,
        };
        self.env.store.put_index(&record.record_id.0, version.version, hint_bytes(&version)).await?;
        self.append(record, accepted).await?;
        self.ledger
            .records()
            .confirm_update(
                record.record_id,
                accepted.version,
                accepted.digest,
                check_string_hash_words(&accepted.check_string),
                &accepted.registry_signature,
            )
            .await?;
        record.versions.push(version);
        Ok(())
    }

    /// Appends `entry` (a FHIR R4 Bundle) as the record's next version: license, enclave
    /// validation, log, confirmation.
    pub async fn update(&self, record: &mut OwnedRecord, entry: &[u8]) -> Result<UpdateAccepted, RecordError> {
        self.request_license(record).await?;
        let accepted = self.call_enclave(self.request(record, entry)?).await?;
        self.log(record, &accepted).await?;
        Ok(accepted)
    }

    /// Splits a patient bundle into dated versions (first encounter, then one per later
    /// encounter) and uploads them all; `progress(done, total)` after each version.
    pub async fn import(
        &self,
        bundle: &[u8],
        wallet: Option<&RecordWallet>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<OwnedRecord, RecordError> {
        let versions = healthchain_fhir::split_into_versions(bundle).map_err(|e| RecordError::Bundle(e.to_string()))?;
        let mut record = self.register(FHIR_R4).await?;
        if let Some(wallet) = wallet {
            wallet.save(&record)?;
        }
        for (done, version) in versions.iter().enumerate() {
            self.update(&mut record, &version.bytes).await?;
            if let Some(wallet) = wallet {
                wallet.save(&record)?;
            }
            progress(done + 1, versions.len());
        }
        Ok(record)
    }
}

/// Verifies every version of a record from the chain and the store (no keys needed).
pub async fn verify(env: &Environment, record_id: B256) -> Result<VerifyReport, RecordError> {
    let index = env.store.index(&record_id.0).await?;
    let hints: Vec<VersionHint> = index.iter().filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok()).collect();
    let mut relay = env.relay();
    let mut objects = env.objects();
    let deployment = env.deployment;
    tokio::task::spawn_blocking(move || {
        let mut view = healthchain_update::ChainView::new(&mut relay, &deployment);
        healthchain_update::verify_record(&mut view, &mut objects, record_id, &hints)
    })
    .await
    .map_err(|e| RecordError::Internal(e.to_string()))?
    .map_err(RecordError::Verify)
}

/// Where the owner wallet of an environment lives.
pub fn wallet_dir(home: &Path) -> PathBuf {
    home.join("records")
}

impl From<LedgerError> for RecordError {
    fn from(e: LedgerError) -> Self {
        RecordError::Ledger(Box::new(e))
    }
}

/// The versions of a record logged on `UpdateLog`, in order.
pub async fn history(env: &Environment, record_id: B256) -> Result<Vec<LoggedVersion>, RecordError> {
    let mut relay = env.relay();
    let deployment = env.deployment;
    tokio::task::spawn_blocking(move || {
        let mut view = healthchain_update::ChainView::new(&mut relay, &deployment);
        if view.registration(record_id).map_err(VerifyError::from)?.is_none() {
            return Err(RecordError::Verify(VerifyError::UnknownRecord(record_id)));
        }
        Ok(view.appended(record_id, 0).map_err(VerifyError::from)?)
    })
    .await
    .map_err(|e| RecordError::Internal(e.to_string()))?
}
