//! The EHR store's typed refusals and failures.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// Why the EHR store refused or failed a request. Every error leaves the database as it
/// was: writes run in one transaction that is committed only after every check passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum EhrError {
    /// The request could not be decoded or breaks a limit.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The warrant's signature is malformed or not by the warrant's patient.
    #[error("warrant signature rejected: {reason}")]
    WarrantSignature {
        /// Why.
        reason: String,
    },
    /// The warrant names no doctors.
    #[error("the warrant names no doctors")]
    WarrantNamesNoDoctors,
    /// The caller is not one of the warrant's doctors.
    #[error("doctor {doctor} is not named in the warrant")]
    DoctorNotNamed {
        /// The caller.
        doctor: Address,
    },
    /// The caller's period in the warrant does not contain the enclave's current time.
    #[error("warrant period of doctor {doctor} is {not_before}..={not_after}, now is {now}")]
    OutsidePeriod {
        /// The caller.
        doctor: Address,
        /// Period start.
        not_before: u64,
        /// Period end.
        not_after: u64,
        /// The enclave's time.
        now: u64,
    },
    /// In an ordered group, a doctor before the caller has not written under this warrant
    /// yet.
    #[error(
        "doctor {doctor} is number {position} of the warrant's order, but only the first {written} doctors have written"
    )]
    OutOfOrder {
        /// The caller.
        doctor: Address,
        /// The caller's position (0-based).
        position: u64,
        /// How many doctors of the order have written.
        written: u64,
    },
    /// The patient revoked the warrant.
    #[error("warrant {warrant_id} was revoked by its patient")]
    WarrantRevoked {
        /// The warrant's id.
        warrant_id: B256,
    },
    /// The doctor registry does not admit the caller.
    #[error("doctor {doctor} is not registered: {reason}")]
    UnregisteredDoctor {
        /// The caller.
        doctor: Address,
        /// The registry's reason.
        reason: String,
    },
    /// The caller of [`crate::EhrRequest::HospitalFetch`] is not a hospital the registry
    /// admits (on the chain: its `Directory` status is not `Approved`).
    #[error("caller {caller} is not an approved hospital: {reason}")]
    NotApprovedHospital {
        /// The caller.
        caller: Address,
        /// The registry's reason.
        reason: String,
    },
    /// The registry (the consortium ledger, read through the host) could not be consulted;
    /// the request is refused rather than admitted and may be retried.
    #[error("the registry could not be consulted (request refused): {0}")]
    RegistryUnavailable(String),
    /// The caller may not read or manage this patient's EHRs.
    #[error("caller {caller} is not patient {patient}; only the patient may do this")]
    NotPatient {
        /// The caller.
        caller: Address,
        /// The patient.
        patient: Address,
    },
    /// No such EHR (or version).
    #[error("no EHR '{ehr_id}' (version {version:?}) for patient {patient}")]
    NotFound {
        /// The patient.
        patient: Address,
        /// The EHR's id.
        ehr_id: String,
        /// The version asked for (`None` = current).
        version: Option<u64>,
    },
    /// The patient already has an EHR with this id.
    #[error("patient {patient} already has an EHR '{ehr_id}'")]
    Duplicate {
        /// The patient.
        patient: Address,
        /// The EHR's id.
        ehr_id: String,
    },
    /// The hash the doctor supplied is not the SHA-256 of the EHR bytes.
    #[error("EHR hash mismatch: expected {expected}, the bytes hash to {actual}")]
    HashMismatch {
        /// What the doctor supplied.
        expected: B256,
        /// SHA-256 of the bytes.
        actual: B256,
    },
    /// An entry of a batch was refused; nothing of the batch was stored.
    #[error("batch entry {index} refused (nothing stored): {error}")]
    InBatch {
        /// The entry's index.
        index: u64,
        /// Why.
        error: Box<EhrError>,
    },
    /// A warrant of a batch was refused; nothing of the batch was stored.
    #[error("batch warrant {index} refused (nothing stored): {error}")]
    InBatchWarrant {
        /// The warrant's index.
        index: u64,
        /// Why.
        error: Box<EhrError>,
    },
    /// The benchmark table is disabled in this enclave's configuration.
    #[error("the benchmark table is disabled in this enclave")]
    BenchDisabled,
    /// The sealed database key could not be loaded or unsealed (e.g. it was sealed by
    /// other enclave code or on another platform, or the host failed).
    #[error("the sealed database key is unavailable: {0}")]
    SealedKey(String),
    /// A database file exists but no sealed key does: the enclave refuses to create a new
    /// key next to data it could never read.
    #[error("database {path} exists but its sealed key '{label}' is missing")]
    KeyMissing {
        /// The database file.
        path: String,
        /// The sealed blob's label.
        label: String,
    },
    /// The database does not open with the sealed key (another enclave's database, or
    /// the file is damaged).
    #[error("database {path} does not open with this enclave's key (wrong key or damaged file): {reason}")]
    WrongKey {
        /// The database file.
        path: String,
        /// SQLCipher's message.
        reason: String,
    },
    /// A stored EHR no longer matches its hash (the database was altered).
    #[error("stored EHR '{ehr_id}' of {patient} fails its integrity check")]
    Integrity {
        /// The patient.
        patient: Address,
        /// The EHR's id.
        ehr_id: String,
    },
    /// The database failed (I/O, full disk, ...).
    #[error("database error: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for EhrError {
    fn from(error: rusqlite::Error) -> Self {
        EhrError::Storage(error.to_string())
    }
}
