//! What crosses the attested session to the `update` application.
//!
//! The owner sends its secrets for one record (trapdoor `x`, record key `k`) and one new
//! version: a FHIR R4 Bundle in plaintext (the channel is encrypted end to end). The enclave
//! answers with everything the owner submits on-chain, or with a typed refusal; a refusal
//! changes nothing anywhere.

use alloy_primitives::{Address, B256};
use healthchain_ledger::contracts::License;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::view::ReadError;

/// The enclave's answer.
pub type UpdateReply = Result<UpdateAccepted, UpdateRefusal>;

/// One update (version 1 included) of a record the caller owns.
#[derive(Clone, Serialize, Deserialize)]
pub struct UpdateRequest {
    /// The record.
    pub record_id: B256,
    /// The chameleon trapdoor `x` (checked against the registered `Y`).
    pub trapdoor: Zeroizing<[u8; 32]>,
    /// The record key `k`.
    pub record_key: Zeroizing<[u8; 32]>,
    /// The version the owner's copy is at (0 before the first), and its digest `d_v`
    /// (zero for version 0): the update must extend exactly what is logged.
    pub base_version: u64,
    /// `d_{base_version}`.
    pub base_digest: B256,
    /// Store addresses of the entries of versions `1..=base_version`, in order. The enclave
    /// reads them only for versions it has not verified before, and checks each against the
    /// logged digest chain.
    pub history: Vec<[u8; 32]>,
    /// The new version's entry: a FHIR R4 Bundle (JSON).
    pub entry: Vec<u8>,
}

impl std::fmt::Debug for UpdateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateRequest")
            .field("record_id", &self.record_id)
            .field("base_version", &self.base_version)
            .field("history", &self.history.len())
            .field("entry_bytes", &self.entry.len())
            .finish_non_exhaustive()
    }
}

/// A validated version, ready for the owner to log on-chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAccepted {
    /// The new version number.
    pub version: u64,
    /// Its digest `d_j`.
    pub digest: B256,
    /// The check string `μ_j = (R, s)` opening the unchanged anchor for `(recordId, j, d_j)`.
    pub check_string: [B256; 2],
    /// Store address of the encrypted entry (already stored durably).
    pub entry_address: [u8; 32],
    /// The license terms the report is bound to (what `UpdateLog.append` takes).
    pub license: License,
    /// The license id.
    pub license_id: B256,
    /// The enclave's report signer.
    pub enclave: Address,
    /// EIP-712 `UpdateReport` signed for `UpdateLog` (consortium ledger).
    pub log_signature: Vec<u8>,
    /// The same report signed for `RecordRegistry.confirmUpdate` (shared ledger).
    pub registry_signature: Vec<u8>,
}

/// Why the enclave refused an update. Nothing was stored, signed or logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum UpdateRefusal {
    /// The request could not be decoded.
    #[error("malformed update request: {0}")]
    Malformed(String),
    /// No such record on the shared ledger.
    #[error("record {0} is not registered")]
    UnknownRecord(B256),
    /// The caller does not own the record.
    #[error("{caller} does not own record {record} (its owner is {owner})")]
    NotOwner {
        /// The record.
        record: B256,
        /// Who asked.
        caller: Address,
        /// Who owns it.
        owner: Address,
    },
    /// The record has no open update license.
    #[error("record {0} has no open update license: request one on RecordRegistry first")]
    NoLicense(B256),
    /// The open license names another enclave.
    #[error("the record's update license is for enclave {licensed}, not this enclave ({this})")]
    LicenseForAnotherEnclave {
        /// The licensed enclave.
        licensed: Address,
        /// This enclave.
        this: Address,
    },
    /// The license expired.
    #[error("the record's update license expired at {expiry} (ledger time {now})")]
    LicenseExpired {
        /// Its expiry.
        expiry: u64,
        /// The shared ledger's latest block time.
        now: u64,
    },
    /// The license was already used for an appended version.
    #[error("update license #{sequence} was already used (last used license: #{used})")]
    LicenseConsumed {
        /// The license's sequence number.
        sequence: u32,
        /// The last sequence `UpdateLog` consumed.
        used: u32,
    },
    /// The manifest object is missing, tampered or malformed.
    #[error("the record's manifest: {0}")]
    Manifest(String),
    /// The trapdoor does not belong to the record's chameleon key.
    #[error("the trapdoor does not match the record's chameleon public key")]
    WrongTrapdoor,
    /// The update is based on fewer versions than are logged: it would drop entries.
    #[error("the update is based on version {base}, but {logged} versions are logged: it would drop entries")]
    DropsEntries {
        /// The owner's base version.
        base: u64,
        /// The logged version.
        logged: u64,
    },
    /// The update is based on versions that are not logged.
    #[error("the update is based on version {base}, but only {logged} versions are logged")]
    AheadOfLog {
        /// The owner's base version.
        base: u64,
        /// The logged version.
        logged: u64,
    },
    /// The owner's digest at the base version differs from the logged one: it edited history.
    #[error("the update does not extend the logged history: digest of version {version} is {claimed}, logged {logged}")]
    RewritesHistory {
        /// The version.
        version: u64,
        /// The owner's digest.
        claimed: B256,
        /// The logged digest.
        logged: B256,
    },
    /// An earlier version does not check out; the record cannot be extended.
    #[error("logged version {version} is not qualified: {why}")]
    UnqualifiedHistory {
        /// The version.
        version: u64,
        /// Why.
        why: String,
    },
    /// The new entry is not valid FHIR for this record.
    #[error("the new entry is not valid FHIR R4 for this record: {}", .0.join("; "))]
    InvalidFhir(Vec<String>),
    /// The new entry is about another patient than the record's.
    #[error("the new entry is about another patient: {0}")]
    OtherPatient(String),
    /// The record key does not open the record's entries.
    #[error("the record key does not decrypt entry {0} of the record")]
    WrongRecordKey(u64),
    /// The chain could not be read.
    #[error(transparent)]
    Ledger(#[from] ReadError),
    /// The host's object store failed or returned tampered bytes.
    #[error("object store: {0}")]
    Store(String),
    /// The enclave's sealed state failed.
    #[error("enclave state: {0}")]
    State(String),
}

impl UpdateRefusal {
    /// Whether a component failed (the chain, the store or the enclave's sealed state could
    /// not be used), as opposed to a refusal of the request itself; the same request may
    /// succeed once the component is back.
    pub fn is_failure(&self) -> bool {
        matches!(self, UpdateRefusal::Ledger(_) | UpdateRefusal::Store(_) | UpdateRefusal::State(_))
    }
}
