//! What crosses the attested session to the `share` application.
//!
//! The data user sends the request id it paid for, the job spec in full (the chain holds
//! only its hash), the Ristretto public key the result is to be encrypted to, and where the
//! store says each record's entries are. Nothing in the request is trusted: the enclave
//! checks every claim against the chain. The answer is either the encrypted result with the
//! signed completion report, or a typed refusal; a refusal releases nothing and changes
//! nothing on-chain (the escrow stays until completion or refund).

use alloy_primitives::{Address, B256};
use healthchain_update::history::VersionHint;
use serde::{Deserialize, Serialize};

use crate::reads::ReadError;

/// The enclave's answer.
pub type ShareReply = Result<ShareAccepted, ShareRefusal>;

/// Where the store says one record's entries are (untrusted hints, checked against the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHints {
    /// The record.
    pub record_id: B256,
    /// The store's record index entries of the record.
    pub versions: Vec<VersionHint>,
}

/// Run the job of a granted access request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRequest {
    /// `AccessControl` request id.
    pub request_id: u64,
    /// The job spec (JSON); its [`healthchain_jobs::JobSpec::hash`] must be the request's `jobHash`.
    pub job: Vec<u8>,
    /// The data user's Ristretto255 public key for [`healthchain_crypto::keywrap::Purpose::Result`].
    pub result_key: [u8; 32],
    /// Entry locations per record (records without hints have no fetchable version).
    pub history: Vec<RecordHints>,
}

/// How many versions of a record the job saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordUse {
    /// The record.
    pub record_id: B256,
    /// Versions that are qualified, decrypted and given to the job.
    pub qualified: u64,
    /// Versions logged or claimed in all (the rest were left out as unqualified).
    pub total: u64,
}

/// The job ran; here is its encrypted result and the report `AccessControl.complete` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareAccepted {
    /// The request.
    pub request_id: u64,
    /// The job hash (as on-chain).
    pub job_hash: B256,
    /// The [`healthchain_jobs::JobResult`] bytes, wrapped to the data user's result key
    /// with associated data [`crate::result_context`]; also stored as an object.
    pub encrypted_result: Vec<u8>,
    /// SHA-256 of `encrypted_result`: its object-store address and the report's `resultHash`.
    pub result_hash: B256,
    /// The enclave's report signer.
    pub enclave: Address,
    /// EIP-712 `CompletionReport(requestId, jobHash, resultHash)` under `AccessControl`'s domain.
    pub signature: Vec<u8>,
    /// Per record, in request order: how many versions were used.
    pub records: Vec<RecordUse>,
}

/// Why the enclave refused to run a job. Nothing was decrypted for the caller, nothing signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ShareRefusal {
    /// The request could not be decoded.
    #[error("malformed share request: {0}")]
    Malformed(String),
    /// No such access request on `AccessControl`.
    #[error("access request {0} does not exist")]
    UnknownRequest(u64),
    /// The request was completed or refunded already.
    #[error("access request {request} is not pending (it is {status})")]
    NotPending {
        /// The request.
        request: u64,
        /// Its status.
        status: String,
    },
    /// The caller is not the one who asked and paid.
    #[error("{caller} is not the requester of access request {request} (its requester is {requester})")]
    NotRequester {
        /// The request.
        request: u64,
        /// Who asked now.
        caller: Address,
        /// Who paid.
        requester: Address,
    },
    /// The request names another enclave.
    #[error("access request {request} is for enclave {named}, not this enclave ({this})")]
    OtherEnclave {
        /// The request.
        request: u64,
        /// The enclave it names.
        named: Address,
        /// This enclave.
        this: Address,
    },
    /// The job spec is not a valid spec.
    #[error("the job spec is invalid: {0}")]
    InvalidJob(String),
    /// The job sent is not the job paid for.
    #[error("job hash mismatch: the job sent hashes to {sent}, the request committed to {committed}")]
    JobHashMismatch {
        /// Hash of the job sent.
        sent: B256,
        /// `jobHash` on-chain.
        committed: B256,
    },
    /// The request's `AccessRequested` event is missing or does not match its stored terms.
    #[error("the chain's record of access request {request} is inconsistent: {why}")]
    Terms {
        /// The request.
        request: u64,
        /// What does not match.
        why: String,
    },
    /// Key release was never opened or was closed (refunded).
    #[error("key release for access request {request} is {why}")]
    NoGrant {
        /// The request.
        request: u64,
        /// `not granted` or `closed`.
        why: String,
    },
    /// The committee on the Directory is malformed.
    #[error("the key-authorization committee of epoch {epoch}: {why}")]
    Committee {
        /// The epoch.
        epoch: u32,
        /// What is wrong.
        why: String,
    },
    /// Not enough valid decryption shares to open a record's outer key layer.
    #[error(
        "fewer than t valid shares for record {record}: need {needed} from distinct committee members, have {valid} (shares with bad proofs and non-members are ignored)"
    )]
    NotEnoughShares {
        /// The record.
        record: B256,
        /// The threshold `t`.
        needed: usize,
        /// Valid shares found.
        valid: usize,
    },
    /// A record cannot be used.
    #[error("record {record}: {why}")]
    Record {
        /// The record.
        record: B256,
        /// Why.
        why: String,
    },
    /// The job could not run over the qualified versions.
    #[error("the job failed: {0}")]
    Job(String),
    /// The data user's result key is not a valid public key.
    #[error("the result key is not a valid Ristretto255 public key")]
    ResultKey,
    /// The chain could not be read.
    #[error(transparent)]
    Ledger(#[from] ReadError),
    /// The host's object store failed.
    #[error("object store: {0}")]
    Store(String),
}

impl ShareRefusal {
    /// Whether a component failed (the chain or the store could not be read), as opposed to
    /// a refusal of the request itself; the same request may succeed once it is back.
    pub fn is_failure(&self) -> bool {
        matches!(self, ShareRefusal::Ledger(_) | ShareRefusal::Store(_))
    }
}
