//! The typed requests and responses of the EHR trusted application.
//!
//! Clients send an [`EhrRequest`] (postcard-encoded by the session layer, see
//! [`healthchain_enclave::client::AttestedSession::call`]) to the application named
//! [`crate::APP_NAME`] and get back an [`EhrReply`]: either an [`EhrResponse`] or a typed
//! refusal ([`EhrError`]). No SQL ever crosses this boundary: every request maps to fixed,
//! prepared statements inside the enclave.

use alloy_primitives::{Address, B256};
use alloy_sol_types::Eip712Domain;
use healthchain_crypto::eip712::{self, DoctorTerm, EhrBatch, SignedWarrant, Warrant};
use healthchain_crypto::merkle::{self, EhrLeaf, MerkleError};
use healthchain_crypto::signing::SignatureError;
use serde::{Deserialize, Serialize};

use crate::error::EhrError;

/// What the application answers: a response, or a typed refusal that changed nothing.
pub type EhrReply = Result<EhrResponse, EhrError>;

/// A request to the EHR store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EhrRequest {
    /// Stores a new EHR of `warrant.patient`, written by the caller (a doctor named in the
    /// warrant). Refused if the patient already has an EHR with this id.
    Create {
        /// The patient's warrant naming the caller.
        warrant: WireWarrant,
        /// The EHR.
        ehr: NewEhr,
    },
    /// Stores many new EHRs in one transaction: all are stored, or none (the refusal names
    /// the first offending entry). Each warrant is checked once per batch.
    CreateMany {
        /// The warrants the entries refer to by index.
        warrants: Vec<WireWarrant>,
        /// The EHRs.
        ehrs: Vec<BatchEhr>,
    },
    /// Reads one EHR (the current version, or an earlier one). Only the patient may read.
    Get {
        /// The patient.
        patient: Address,
        /// The EHR's id.
        ehr_id: String,
        /// `None` for the current version.
        version: Option<u64>,
    },
    /// Lists a patient's EHRs (current versions: ids, versions, hashes). Only the patient
    /// may list.
    List {
        /// The patient.
        patient: Address,
    },
    /// Writes a new version of an existing EHR of `warrant.patient`; the previous version
    /// moves to the history (readable with [`EhrRequest::Get`] and its version number).
    Update {
        /// The patient's warrant naming the caller.
        warrant: WireWarrant,
        /// The new version (same `ehr_id`).
        ehr: NewEhr,
    },
    /// Deletes an EHR of `warrant.patient` with its whole history.
    Delete {
        /// The patient's warrant naming the caller.
        warrant: WireWarrant,
        /// The EHR's id.
        ehr_id: String,
    },
    /// The patient withdraws a warrant: no doctor can write under it afterwards. Only the
    /// warrant's patient may revoke it (no signature needed: the session authenticates
    /// the caller).
    RevokeWarrant {
        /// The warrant.
        warrant: WireWarrant,
    },
    /// Seed 001 Figure 7's `test` table (enabled by [`crate::EhrConfig::bench_table`]).
    Bench(BenchRequest),
    /// Seed 001's data sharing: a hospital fetches the patient's EHRs that name it. The
    /// caller must be a hospital the [`crate::Registry`] admits (on the chain: approved on
    /// the consortium `Directory`). Answered with [`EhrResponse::Ehrs`]: the current
    /// version of every EHR of `patient` whose `hospitals` list contains the caller and
    /// whose warrant (the one the current version was written under) the patient has not
    /// revoked, ordered by EHR id.
    HospitalFetch {
        /// The patient.
        patient: Address,
    },
    /// Whether the caller's `Create` (`revision = false`) or `Update` (`true`) of `ehr_id`
    /// under `warrant` would be admitted now — registration, warrant, order, and the id
    /// new or existing — without storing anything. A doctor asks before anchoring the
    /// hash on-chain, so a write the store would refuse leaves no hash behind. Answered
    /// with [`EhrResponse::Admissible`] or the refusal the write would get.
    Preflight {
        /// The patient's warrant naming the caller.
        warrant: WireWarrant,
        /// The EHR's id.
        ehr_id: String,
        /// A new version of an existing EHR rather than a new one.
        revision: bool,
    },
}

/// An EHR as a doctor submits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEhr {
    /// The EHR's id, unique per patient (1 to [`crate::MAX_EHR_ID_LEN`] bytes).
    pub ehr_id: String,
    /// Seed 001 `status` (same encoding as `EhrRegistry`).
    pub status: u16,
    /// Seed 001 `EHR_Type` (same encoding as `EhrRegistry`).
    pub ehr_type: u16,
    /// Seed 001 `Hospitals` (at most [`crate::MAX_HOSPITALS`]).
    pub hospitals: Vec<Address>,
    /// The hash the doctor anchored on-chain, if any: refused unless it is the SHA-256 of
    /// `body`. The enclave always computes the hash itself.
    pub expected_hash: Option<B256>,
    /// The EHR bytes (a FHIR R4 Bundle as JSON), stored encrypted at rest.
    #[serde(with = "healthchain_enclave::bytes")]
    pub body: Vec<u8>,
}

/// One entry of [`EhrRequest::CreateMany`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEhr {
    /// Index into the request's `warrants`.
    pub warrant: u32,
    /// The EHR.
    pub ehr: NewEhr,
}

/// One doctor of a [`WireWarrant`] and their period (unix seconds, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTerm {
    /// The doctor's ledger address.
    pub doctor: Address,
    /// Period start.
    pub not_before: u64,
    /// Period end.
    pub not_after: u64,
}

/// A patient-signed warrant ([`SignedWarrant`]) as it travels in requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireWarrant {
    /// The patient.
    pub patient: Address,
    /// The doctors, in order.
    pub doctors: Vec<WireTerm>,
    /// Auxiliary data the patient commits to (seed 001 `AuxP`).
    pub aux: B256,
    /// The patient's 65-byte EIP-712 signature `r ‖ s ‖ v`.
    #[serde(with = "healthchain_enclave::bytes")]
    pub signature: Vec<u8>,
}

impl From<&SignedWarrant> for WireWarrant {
    fn from(signed: &SignedWarrant) -> Self {
        Self {
            patient: signed.warrant.patient,
            doctors: signed
                .warrant
                .doctors
                .iter()
                .map(|term| WireTerm { doctor: term.doctor, not_before: term.notBefore, not_after: term.notAfter })
                .collect(),
            aux: signed.warrant.aux,
            signature: signed.signature.to_vec(),
        }
    }
}

impl TryFrom<&WireWarrant> for SignedWarrant {
    type Error = EhrError;

    fn try_from(wire: &WireWarrant) -> Result<Self, EhrError> {
        let signature: [u8; 65] = wire.signature.as_slice().try_into().map_err(|_| EhrError::WarrantSignature {
            reason: format!("expected a 65-byte signature, got {} bytes", wire.signature.len()),
        })?;
        Ok(SignedWarrant {
            warrant: Warrant {
                patient: wire.patient,
                doctors: wire
                    .doctors
                    .iter()
                    .map(|term| DoctorTerm {
                        doctor: term.doctor,
                        notBefore: term.not_before,
                        notAfter: term.not_after,
                    })
                    .collect(),
                aux: wire.aux,
            },
            signature,
        })
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EhrResponse {
    /// [`EhrRequest::Create`] or [`EhrRequest::Update`] committed (durably).
    Written(Receipt),
    /// [`EhrRequest::CreateMany`] committed (durably): one hash per entry, in order, and the
    /// batch's Merkle root with the enclave's report for `EhrRegistry.anchorBatch`.
    WrittenMany {
        /// The warrant ids, in the order of the request's warrants.
        warrant_ids: Vec<B256>,
        /// SHA-256 of each EHR, in the order of the request's entries.
        ehr_hashes: Vec<B256>,
        /// When (enclave clock, unix seconds).
        at: u64,
        /// Root of the Merkle tree over the batch's EHRs (leaf `i` = entry `i`, see
        /// [`healthchain_crypto::merkle`]).
        root: B256,
        /// Number of leaves (= entries).
        count: u32,
        /// The enclave's EIP-712 `EhrBatch(caller, root, count)` under `EhrRegistry`'s
        /// domain, signed with its report key ([`BatchReport::check`]).
        #[serde(with = "healthchain_enclave::bytes")]
        signature: Vec<u8>,
    },
    /// [`EhrRequest::Get`].
    Ehr(EhrRecord),
    /// [`EhrRequest::List`], ordered by EHR id.
    List(Vec<EhrSummary>),
    /// [`EhrRequest::Delete`] committed: how many versions were erased.
    Deleted {
        /// Versions erased (current and history).
        versions: u64,
    },
    /// [`EhrRequest::RevokeWarrant`] committed.
    Revoked {
        /// The warrant's id (its EIP-712 signing hash).
        warrant_id: B256,
    },
    /// A [`BenchRequest`]'s answer.
    Bench(BenchResponse),
    /// [`EhrRequest::HospitalFetch`]: whole EHRs (as [`EhrRequest::Get`] returns them),
    /// ordered by EHR id.
    Ehrs(Vec<EhrRecord>),
    /// [`EhrRequest::Preflight`]: the write would be admitted now.
    Admissible,
}

/// What a write stored: the values the chain's `EhrRegistry` will hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The patient.
    pub patient: Address,
    /// The EHR's id.
    pub ehr_id: String,
    /// The version written (1 for a create).
    pub version: u64,
    /// SHA-256 of the EHR bytes.
    pub ehr_hash: B256,
    /// The warrant's id (its EIP-712 signing hash, as on-chain).
    pub warrant_id: B256,
    /// When (enclave clock, unix seconds).
    pub at: u64,
}

/// One stored version of an EHR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EhrRecord {
    /// The patient.
    pub patient: Address,
    /// The EHR's id.
    pub ehr_id: String,
    /// The version (1 = as created).
    pub version: u64,
    /// When version 1 was stored.
    pub created_at: u64,
    /// When this version was stored.
    pub updated_at: u64,
    /// Seed 001 `status`.
    pub status: u16,
    /// Seed 001 `EHR_Type`.
    pub ehr_type: u16,
    /// SHA-256 of `body` (checked again on every read).
    pub ehr_hash: B256,
    /// Seed 001 `Hospitals`.
    pub hospitals: Vec<Address>,
    /// The doctor who wrote this version.
    pub author: Address,
    /// The warrant it was written under.
    pub warrant_id: B256,
    /// Where this version sits in the batch it was written in ([`EhrRequest::CreateMany`]);
    /// `None` for versions written one at a time.
    pub anchor: Option<BatchAnchor>,
    /// The EHR bytes.
    #[serde(with = "healthchain_enclave::bytes")]
    pub body: Vec<u8>,
}

impl EhrRecord {
    /// The Merkle leaf this version is (or would be) in its batch's tree.
    pub fn leaf(&self) -> EhrLeaf<'_> {
        EhrLeaf {
            patient: self.patient,
            ehr_id: &self.ehr_id,
            version: self.version,
            ehr_hash: self.ehr_hash,
            warrant_id: self.warrant_id,
            author: self.author,
        }
    }
}

/// An EHR version's place in its batch: checked with [`BatchAnchor::verify`] against the root
/// and count `EhrRegistry.batchOf(root)` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnchor {
    /// The batch's Merkle root (anchored with `EhrRegistry.anchorBatch`).
    pub root: B256,
    /// The version's leaf index in the batch.
    pub index: u32,
    /// The batch's leaf count, as the enclave signed it (check it against the chain's).
    pub count: u32,
    /// Sibling hashes from the leaf up.
    pub proof: Vec<B256>,
}

impl BatchAnchor {
    /// Checks that `record` (its patient, id, version, hash, warrant and author) is leaf
    /// `index` of this batch. The caller then checks `root` and `count` on-chain.
    pub fn verify(&self, record: &EhrRecord) -> Result<(), MerkleError> {
        merkle::verify(self.root, self.count, self.index, &record.leaf(), &self.proof)
    }
}

/// The enclave's report on a stored batch, as [`EhrResponse::WrittenMany`] carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchReport<'a> {
    /// The doctor the batch was stored for (the session's caller).
    pub doctor: Address,
    /// The batch's Merkle root.
    pub root: B256,
    /// Its leaf count.
    pub count: u32,
    /// The enclave's signature.
    pub signature: &'a [u8],
}

impl BatchReport<'_> {
    /// Checks that the report is signed by `enclave` (its report signer, from its evidence
    /// or the Directory) under `domain` (`EhrRegistry`'s), as `anchorBatch` will.
    pub fn check(&self, domain: &Eip712Domain, enclave: Address) -> Result<(), SignatureError> {
        let report = EhrBatch { doctor: self.doctor, root: self.root, count: self.count };
        eip712::verify(&report, domain, self.signature, enclave)
    }
}

/// One line of [`EhrResponse::List`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EhrSummary {
    /// The EHR's id.
    pub ehr_id: String,
    /// Its current version.
    pub version: u64,
    /// SHA-256 of its current bytes.
    pub ehr_hash: B256,
    /// Seed 001 `status`.
    pub status: u16,
    /// Seed 001 `EHR_Type`.
    pub ehr_type: u16,
    /// When the current version was stored.
    pub updated_at: u64,
}

/// A row of seed 001 Figure 7's table `test(id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// `id`.
    pub id: i64,
    /// `t1`.
    pub t1: i64,
    /// `t2`.
    pub t2: f64,
    /// `t3`.
    pub t3: String,
}

impl BenchRow {
    /// The row, borrowing its text.
    pub fn as_ref(&self) -> crate::db::bench_table::BenchRowRef<'_> {
        crate::db::bench_table::BenchRowRef { id: self.id, t1: self.t1, t2: self.t2, t3: &self.t3 }
    }
}

/// Seed 001 Figure 7's operations on the `test` table (synthetic data only; no EHR
/// operation can reach this table, nor these operations an EHR).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BenchRequest {
    /// `INSERT` the rows in one transaction.
    Insert {
        /// The rows.
        rows: Vec<BenchRow>,
    },
    /// `SELECT * FROM test WHERE t1 = ?`.
    Select {
        /// The value.
        t1: i64,
    },
    /// `UPDATE test SET t1 = new_t1 WHERE t1 = t1`.
    Update {
        /// The value matched.
        t1: i64,
        /// The value written.
        new_t1: i64,
    },
    /// `DELETE FROM test`.
    DeleteAll,
}

/// A [`BenchRequest`]'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BenchResponse {
    /// Rows inserted, updated or deleted.
    Changed(u64),
    /// Rows selected.
    Rows(Vec<BenchRow>),
}
