//! The clinical side (seed 001, TrustHealth §4.3): what each role does.
//!
//! - **Hospitals** apply on the consortium Directory and, once a consortium admin approved
//!   them ([`approve_hospital`]), enrol their doctors with the EHR-write privilege
//!   ([`Hospital::add_doctor`]); they give each patient a treatment key `Ptk`, sealed to the
//!   patient and the treating doctors ([`Hospital::assign_treatment_key`]), and fetch the
//!   EHRs that name them over an attested session with the enclave ([`Hospital::fetch`]).
//! - **Patients** sign warrants (EIP-712 under `EhrRegistry`'s domain) naming one doctor or
//!   an ordered group with per-doctor periods and send them sealed under `Ptk`
//!   ([`Patient::seal_warrant`]); they read their EHRs from the enclave and check each
//!   against the chain ([`Patient::check_integrity`]).
//! - **Doctors** write an EHR: its hash goes on `EhrRegistry` (create or update, checked
//!   on-chain against the warrant and the Directory), then the EHR itself goes over an
//!   attested session into the enclave's SQLCipher store, which checks the doctor, the
//!   warrant and the hash again ([`Doctor::write`]).
//!
//! **Where the treatment key stops.** `Ptk` protects what travels between patient, hospital
//! and doctors (the appointment, warrants, EHRs handed to the next doctor of a group). The
//! leg into the enclave runs over the attested session instead (keys bound to the chain,
//! forward secret): every holder of `Ptk` could read `Enc(Ptk, ehr)`, and the enclave never
//! needs `Ptk`, so a breach of the enclave host does not expose the patient's other traffic.
//!
//! **Every account's X25519 key** (on the Directory, `sessionKeyOf`) is derived from its
//! ledger key ([`treatment::account_session_secret`]) and published on first use
//! ([`publish_session_key`]).

use std::collections::HashMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::signing::EthKey;
use healthchain_crypto::treatment::{self, Purpose, TreatmentError, TreatmentKey};
use healthchain_ehr::client::{self as ehr_client, CallError};
use healthchain_ehr::{
    BatchAnchor, BatchEhr, BatchReport, EhrError, EhrRecord, EhrRequest, EhrResponse, EhrSummary, NewEhr, Receipt,
    WireWarrant,
};
use healthchain_enclave::client::{self, ClientError};
use healthchain_ledger::Ledger;
use healthchain_ledger::contracts::{AnchoredBatch, PRIVILEGE_WRITE_EHR};
use healthchain_ledger::errors::LedgerError;
use serde::{Deserialize, Serialize};

use crate::environment::Environment;

/// Why a clinical flow stopped; nothing was written by the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClinicalError {
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Ledger(Box<LedgerError>),
    /// The attested session with the enclave failed.
    #[error("enclave session: {0}")]
    Session(#[from] ClientError),
    /// The enclave's EHR store refused (nothing stored).
    #[error("the EHR store refused: {0}")]
    Refused(#[from] EhrError),
    /// A treatment key or something sealed under it did not open.
    #[error(transparent)]
    TreatmentKey(#[from] TreatmentError),
    /// An account has not published its X25519 key on the Directory.
    #[error("{0} has not published an X25519 key on the Directory (it publishes one on its first clinical action)")]
    NoSessionKey(Address),
    /// The treatment key delivery holds nothing for this account.
    #[error("the treatment key delivery for patient {patient} holds no key for {account}")]
    NotARecipient {
        /// The patient of the delivery.
        patient: Address,
        /// The account that looked.
        account: Address,
    },
    /// The doctor is not named in the warrant.
    #[error("doctor {doctor} is not named in the warrant")]
    NotInWarrant {
        /// The doctor.
        doctor: Address,
    },
    /// The EHR breaks a limit of the store (nothing was sent).
    #[error("the EHR cannot be stored: {0}")]
    InvalidEhr(String),
    /// A sealed warrant did not decode after opening.
    #[error("the sealed warrant is not a warrant: {0}")]
    MalformedWarrant(String),
    /// The enclave answered something other than what the request asks for.
    #[error("unexpected answer from the EHR store: {0}")]
    Unexpected(String),
    /// A background task failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl ClinicalError {
    /// Whether a component (chain, enclave) failed, as opposed to a refusal or invalid input.
    pub fn is_failure(&self) -> bool {
        match self {
            ClinicalError::Ledger(e) => e.is_failure(),
            ClinicalError::Session(e) => e.is_failure(),
            ClinicalError::Unexpected(_) | ClinicalError::Internal(_) => true,
            _ => false,
        }
    }
}

impl From<LedgerError> for ClinicalError {
    fn from(e: LedgerError) -> Self {
        ClinicalError::Ledger(Box::new(e))
    }
}

impl From<CallError> for ClinicalError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Session(e) => ClinicalError::Session(e),
            CallError::Refused(e) => ClinicalError::Refused(e),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ClinicalError {
    ClinicalError::Internal(e.to_string())
}

/// A funded participant with its ledger client; its X25519 key published on the Directory.
struct Participant<'e> {
    env: &'e Environment,
    key: EthKey,
    ledger: Ledger,
}

impl<'e> Participant<'e> {
    async fn new(env: &'e Environment, key: EthKey) -> Result<Participant<'e>, ClinicalError> {
        env.fund(key.address(), U256::from(10u64).pow(U256::from(18u64))).await.map_err(internal)?;
        let ledger = env.ledger(&key).await.map_err(internal)?;
        publish_session_key(&ledger, &key).await?;
        Ok(Participant { env, key, ledger })
    }

    /// Sends one request to the enclave's EHR store over a fresh attested session.
    async fn call(&self, request: EhrRequest) -> Result<EhrResponse, ClinicalError> {
        let backend = self.env.backend();
        let key = self.key.clone();
        let identity = self.env.enclave_identity();
        tokio::task::spawn_blocking(move || -> Result<EhrResponse, ClinicalError> {
            let mut session = client::connect(backend.as_ref(), key, identity)?;
            let response = ehr_client::call(&mut session, &request)?;
            session.close()?;
            Ok(response)
        })
        .await
        .map_err(internal)?
    }
}

/// Publishes the account's derived X25519 key on the consortium Directory unless it is
/// there already.
pub async fn publish_session_key(ledger: &Ledger, key: &EthKey) -> Result<(), ClinicalError> {
    let public = B256::from(treatment::account_session_secret(key).public_key());
    let directory = ledger.consortium_directory();
    if directory.session_key_of(key.address()).await? != public {
        directory.set_session_key(public).await?;
    }
    Ok(())
}

/// A consortium admin approves `hospital` on the consortium Directory (on the embedded
/// defaults, the environment's admin).
pub async fn approve_hospital(env: &Environment, hospital: Address) -> Result<(), ClinicalError> {
    let ledger = env.ledger(&env.admin).await.map_err(internal)?;
    ledger.consortium_directory().approve_hospital(hospital).await?;
    Ok(())
}

/// `H(identity)` as the Directory stores it for hospitals and doctors.
fn identity_hash(identity: &str) -> B256 {
    B256::from(sha256(identity.as_bytes()))
}

/// A short text (a specialty) as a `bytes32`, left-aligned; longer texts are hashed.
fn short_text(text: &str) -> B256 {
    let bytes = text.as_bytes();
    if bytes.len() <= 32 {
        let mut word = [0u8; 32];
        word[..bytes.len()].copy_from_slice(bytes);
        B256::from(word)
    } else {
        identity_hash(text)
    }
}

/// A treatment key as the hospital hands it out: sealed once per recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreatmentKeyDelivery {
    /// The hospital that assigned it.
    pub hospital: Address,
    /// The patient it is for.
    pub patient: Address,
    /// `(recipient, sealed key)` for the patient and each treating doctor.
    pub sealed: Vec<(Address, Bytes)>,
}

impl TreatmentKeyDelivery {
    /// Opens the key as `account` (the patient or one of the doctors).
    pub fn open(&self, account: &EthKey) -> Result<TreatmentKey, ClinicalError> {
        let (_, sealed) = self
            .sealed
            .iter()
            .find(|(to, _)| *to == account.address())
            .ok_or(ClinicalError::NotARecipient { patient: self.patient, account: account.address() })?;
        Ok(TreatmentKey::open_sealed(&treatment::account_session_secret(account), sealed, self.patient)?)
    }
}

/// `Enc(Ptk, W_P)` as it travels from the patient to the doctors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedWarrant {
    /// The patient (bound into the encryption).
    pub patient: Address,
    /// Nonce ‖ AES-256-GCM ciphertext of the signed warrant.
    pub sealed: Bytes,
}

/// A hospital.
pub struct Hospital<'e> {
    who: Participant<'e>,
}

impl<'e> Hospital<'e> {
    /// The hospital with account `key` (funded on the embedded chain if needed).
    pub async fn new(env: &'e Environment, key: EthKey) -> Result<Hospital<'e>, ClinicalError> {
        Ok(Hospital { who: Participant::new(env, key).await? })
    }

    /// The hospital's account.
    pub fn address(&self) -> Address {
        self.who.key.address()
    }

    /// Applies on the Directory with the hash of its identity (Pending until approved).
    pub async fn register(&self, identity: &str) -> Result<(), ClinicalError> {
        self.who.ledger.consortium_directory().register_hospital(identity_hash(identity)).await?;
        Ok(())
    }

    /// Enrols `doctor` with the privilege to write EHRs (the hospital must be approved).
    pub async fn add_doctor(&self, doctor: Address, identity: &str, specialty: &str) -> Result<(), ClinicalError> {
        self.who
            .ledger
            .consortium_directory()
            .register_doctor(doctor, identity_hash(identity), short_text(specialty), PRIVILEGE_WRITE_EHR)
            .await?;
        Ok(())
    }

    /// Seed 001 "the hospital randomly assigns a treatment key": a fresh `Ptk` for
    /// `patient`, sealed to the X25519 keys the patient and each doctor published.
    pub async fn assign_treatment_key(
        &self,
        patient: Address,
        doctors: &[Address],
    ) -> Result<TreatmentKeyDelivery, ClinicalError> {
        let mut rng = rand::rng();
        let ptk = TreatmentKey::generate(&mut rng);
        let directory = self.who.ledger.consortium_directory();
        let mut sealed = Vec::with_capacity(doctors.len() + 1);
        for recipient in std::iter::once(patient).chain(doctors.iter().copied()) {
            let published = directory.session_key_of(recipient).await?;
            if published.is_zero() {
                return Err(ClinicalError::NoSessionKey(recipient));
            }
            let box_ = ptk.seal_to(&published.0, patient, &mut rng)?;
            sealed.push((recipient, Bytes::copy_from_slice(&box_)));
        }
        Ok(TreatmentKeyDelivery { hospital: self.address(), patient, sealed })
    }

    /// Seed 001 data sharing: over an attested session (keys from the chain, signatures
    /// both ways), the enclave returns `patient`'s EHRs that name this hospital; each is
    /// checked against the chain before it is returned.
    /// The enclave refuses a caller the Directory does not list as an approved hospital.
    pub async fn fetch(&self, patient: Address) -> Result<Vec<(EhrRecord, EhrCheck)>, ClinicalError> {
        let records = match self.who.call(EhrRequest::HospitalFetch { patient }).await? {
            EhrResponse::Ehrs(records) => records,
            other => return Err(ClinicalError::Unexpected(format!("{other:?}"))),
        };
        Anchored::check_all(&self.who.ledger, patient, records).await
    }
}

/// A patient.
pub struct Patient<'e> {
    who: Participant<'e>,
}

impl<'e> Patient<'e> {
    /// The patient with account `key` (funded on the embedded chain if needed; its X25519
    /// key published).
    pub async fn new(env: &'e Environment, key: EthKey) -> Result<Patient<'e>, ClinicalError> {
        Ok(Patient { who: Participant::new(env, key).await? })
    }

    /// The patient's account.
    pub fn address(&self) -> Address {
        self.who.key.address()
    }

    /// Signs a warrant for `doctors` (in order; one doctor for seed 001's case 1) under the
    /// consortium `EhrRegistry`'s EIP-712 domain.
    pub fn sign_warrant(&self, doctors: Vec<DoctorTerm>, aux: B256) -> SignedWarrant {
        let warrant = Warrant { patient: self.address(), doctors, aux };
        SignedWarrant::sign(&self.who.key, warrant, &warrant_domain(self.who.env))
    }

    /// `Enc(Ptk, W_P)`: the warrant sealed under the treatment key for its doctors.
    pub fn seal_warrant(&self, ptk: &TreatmentKey, warrant: &SignedWarrant) -> SealedWarrant {
        let bytes = serde_json::to_vec(&WireWarrant::from(warrant)).expect("a warrant serializes");
        let sealed = ptk.encrypt(Purpose::Warrant, self.address(), &bytes, &mut rand::rng());
        SealedWarrant { patient: self.address(), sealed: sealed.into() }
    }

    /// The patient's EHRs (current versions) in the enclave's store.
    pub async fn list(&self) -> Result<Vec<EhrSummary>, ClinicalError> {
        match self.who.call(EhrRequest::List { patient: self.address() }).await? {
            EhrResponse::List(list) => Ok(list),
            other => Err(ClinicalError::Unexpected(format!("{other:?}"))),
        }
    }

    /// One EHR (`None`: the current version).
    pub async fn get(&self, ehr_id: &str, version: Option<u64>) -> Result<EhrRecord, ClinicalError> {
        let request = EhrRequest::Get { patient: self.address(), ehr_id: ehr_id.into(), version };
        match self.who.call(request).await? {
            EhrResponse::Ehr(record) => Ok(record),
            other => Err(ClinicalError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Checks one EHR read from the enclave against the chain.
    pub async fn check(&self, record: EhrRecord) -> Result<(EhrRecord, EhrCheck), ClinicalError> {
        let mut checked = Anchored::check_all(&self.who.ledger, self.address(), vec![record]).await?;
        checked.pop().ok_or_else(|| ClinicalError::Internal("one record checked, none returned".into()))
    }

    /// Seed 001 "query": fetches every current EHR from the enclave, recomputes its hash and
    /// compares it with what the chain holds (see [`EhrCheck`]).
    pub async fn check_integrity(&self) -> Result<Vec<(EhrRecord, EhrCheck)>, ClinicalError> {
        let mut records = Vec::new();
        for summary in self.list().await? {
            records.push(self.get(&summary.ehr_id, None).await?);
        }
        Anchored::check_all(&self.who.ledger, self.address(), records).await
    }

    /// Withdraws a warrant in the enclave's store and on-chain: no doctor writes under it
    /// again, and hospitals no longer receive what was written under it.
    pub async fn revoke_warrant(&self, warrant: &SignedWarrant) -> Result<(), ClinicalError> {
        self.who.ledger.ehr().revoke_warrant(&warrant.warrant).await?;
        match self.who.call(EhrRequest::RevokeWarrant { warrant: WireWarrant::from(warrant) }).await? {
            EhrResponse::Revoked { .. } => Ok(()),
            other => Err(ClinicalError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// The EIP-712 domain of warrants: the consortium ledger's `EhrRegistry`.
fn warrant_domain(env: &Environment) -> alloy_sol_types::Eip712Domain {
    eip712::domain(env.deployment.consortium.chain_id, env.deployment.consortium.ehr_registry)
}

/// What a doctor writes: seed 001's EHR with its on-chain fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EhrDraft {
    /// The EHR's id, unique per patient.
    pub ehr_id: String,
    /// Seed 001 `status`.
    pub status: u16,
    /// Seed 001 `EHR_Type`.
    pub ehr_type: u16,
    /// Hospitals that may fetch it.
    pub hospitals: Vec<Address>,
    /// The EHR (a FHIR R4 Bundle as JSON).
    pub body: Vec<u8>,
}

/// What a doctor's write produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The enclave's receipt (version, hash, warrant id, time).
    pub receipt: Receipt,
    /// The `EhrRegistry` transaction.
    pub transaction: B256,
}

/// A doctor.
pub struct Doctor<'e> {
    who: Participant<'e>,
}

impl<'e> Doctor<'e> {
    /// The doctor with account `key` (funded on the embedded chain if needed; its X25519
    /// key published).
    pub async fn new(env: &'e Environment, key: EthKey) -> Result<Doctor<'e>, ClinicalError> {
        Ok(Doctor { who: Participant::new(env, key).await? })
    }

    /// The doctor's account.
    pub fn address(&self) -> Address {
        self.who.key.address()
    }

    /// Opens a treatment key delivery addressed to this doctor.
    pub fn treatment_key(&self, delivery: &TreatmentKeyDelivery) -> Result<TreatmentKey, ClinicalError> {
        delivery.open(&self.who.key)
    }

    /// Opens a warrant the patient sealed under the treatment key.
    pub fn open_warrant(&self, ptk: &TreatmentKey, sealed: &SealedWarrant) -> Result<SignedWarrant, ClinicalError> {
        let patient = sealed.patient;
        let bytes = ptk.decrypt(Purpose::Warrant, patient, &sealed.sealed)?;
        let wire: WireWarrant =
            serde_json::from_slice(&bytes).map_err(|e| ClinicalError::MalformedWarrant(e.to_string()))?;
        let warrant = SignedWarrant::try_from(&wire)?;
        if warrant.warrant.patient != patient {
            return Err(ClinicalError::MalformedWarrant(format!(
                "it is {}'s warrant, not {patient}'s",
                warrant.warrant.patient
            )));
        }
        Ok(warrant)
    }

    /// Writes a new EHR (`revision = false`) or a new version of one (`true`) under
    /// `warrant`: `EhrRegistry.create` (the patient's first EHR) or `update` with `H(ehr)`,
    /// then the EHR into the enclave's store, which checks the hash against it.
    ///
    /// Nothing is anchored that the store would refuse: the chain's rules are dry-run first
    /// (unregistered doctor, not named, outside the period, out of order, forged signature
    /// — the chain's refusal), then the enclave is asked whether it would admit the write
    /// (its own gate, and the id new or existing as `revision` says), and only then is the
    /// hash sent and the EHR stored. A refused write stores nothing anywhere.
    pub async fn write(
        &self,
        warrant: &SignedWarrant,
        draft: EhrDraft,
        revision: bool,
    ) -> Result<Written, ClinicalError> {
        let doctor = self.address();
        let position = warrant
            .warrant
            .doctors
            .iter()
            .position(|term| term.doctor == doctor)
            .ok_or(ClinicalError::NotInWarrant { doctor })?;
        draft.check()?;
        let hash = B256::from(sha256(&draft.body));
        let registry = self.who.ledger.ehr();
        let patient = warrant.warrant.patient;
        let update = registry.query(patient).await?.created_at != 0;
        let (w, signature, status, kind) = (&warrant.warrant, &warrant.signature[..], draft.status, draft.ehr_type);
        registry.check_write(update, w, signature, position, status, kind, hash, draft.hospitals.clone()).await?;
        let wire = WireWarrant::from(warrant);
        let preflight = EhrRequest::Preflight { warrant: wire.clone(), ehr_id: draft.ehr_id.clone(), revision };
        match self.who.call(preflight).await? {
            EhrResponse::Admissible => {}
            other => return Err(ClinicalError::Unexpected(format!("{other:?}"))),
        }
        let hospitals = draft.hospitals.clone();
        let tx = if update {
            registry.update(w, signature, position, status, kind, hash, hospitals).await?
        } else {
            registry.create(w, signature, position, status, kind, hash, hospitals).await?
        };
        let ehr = draft.into_new_ehr(Some(hash));
        let request = if revision {
            EhrRequest::Update { warrant: wire, ehr }
        } else {
            EhrRequest::Create { warrant: wire, ehr }
        };
        match self.who.call(request).await? {
            EhrResponse::Written(receipt) => Ok(Written { receipt, transaction: tx.receipt.tx_hash }),
            other => Err(ClinicalError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// What a doctor's batch produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchWritten {
    /// The Merkle root anchored on `EhrRegistry`.
    pub root: B256,
    /// The number of EHRs under it.
    pub count: u32,
    /// SHA-256 of each EHR, in the batch's order.
    pub ehr_hashes: Vec<B256>,
    /// The `anchorBatch` transaction.
    pub transaction: B256,
}

impl Doctor<'_> {
    /// Writes many new EHRs at once (`ehrs`: index into `warrants`, draft), seed 001 at
    /// ingest rates: the enclave checks every warrant, stores the batch in one SQLCipher
    /// transaction and signs the root of a Merkle tree over it; the root is anchored on
    /// `EhrRegistry` with one `anchorBatch` (instead of one hash per EHR), and each EHR
    /// keeps its proof, which [`Patient::check_integrity`] verifies against the chain.
    ///
    /// If the anchoring transaction fails after the enclave stored the batch, the EHRs
    /// stay stored but unanchored, and the patient's check reports them so.
    pub async fn write_batch(
        &self,
        warrants: &[SignedWarrant],
        ehrs: Vec<(u32, EhrDraft)>,
    ) -> Result<BatchWritten, ClinicalError> {
        // No client-side checks: the enclave refuses a bad batch whole, before anything is
        // anchored.
        let request = EhrRequest::CreateMany {
            warrants: warrants.iter().map(WireWarrant::from).collect(),
            ehrs: ehrs
                .into_iter()
                .map(|(warrant, draft)| BatchEhr { warrant, ehr: draft.into_new_ehr(None) })
                .collect(),
        };
        let (ehr_hashes, root, count, signature) = match self.who.call(request).await? {
            EhrResponse::WrittenMany { ehr_hashes, root, count, signature, .. } => (ehr_hashes, root, count, signature),
            other => return Err(ClinicalError::Unexpected(format!("{other:?}"))),
        };
        let report = BatchReport { doctor: self.address(), root, count, signature: &signature };
        report
            .check(&warrant_domain(self.who.env), self.who.env.verified.report_signer)
            .map_err(|e| ClinicalError::Unexpected(format!("the enclave's batch report does not verify: {e}")))?;
        let tx = self.who.ledger.ehr().anchor_batch(root, count, &signature).await?;
        Ok(BatchWritten { root, count, ehr_hashes, transaction: tx.receipt.tx_hash })
    }
}

impl EhrDraft {
    /// The store's limits ([`healthchain_ehr::check_limits`]), checked before anything is
    /// anchored.
    fn check(&self) -> Result<(), ClinicalError> {
        healthchain_ehr::check_limits(&self.ehr_id, self.hospitals.len(), &self.body)
            .map_err(|e| ClinicalError::InvalidEhr(e.to_string()))
    }

    /// The EHR as the store receives it.
    fn into_new_ehr(self, expected_hash: Option<B256>) -> NewEhr {
        NewEhr {
            ehr_id: self.ehr_id,
            status: self.status,
            ehr_type: self.ehr_type,
            hospitals: self.hospitals,
            expected_hash,
            body: self.body,
        }
    }
}

/// The outcome of checking one stored EHR against the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EhrCheck {
    /// Its recomputed hash is the one its author wrote on `EhrRegistry` under its warrant.
    Intact {
        /// The hash.
        hash: B256,
    },
    /// Written in a batch: its Merkle proof leads to a root the chain anchored for its
    /// author with this batch's size.
    IntactInBatch {
        /// The hash.
        hash: B256,
        /// The anchored root.
        root: B256,
    },
    /// Written in a batch whose proof or anchoring does not hold.
    BatchMismatch {
        /// SHA-256 of the bytes the store returned.
        off_chain: B256,
        /// The root the store claims.
        root: B256,
        /// What does not hold.
        why: String,
    },
    /// It does not match the chain: tampering (or a write that never reached the chain).
    Tampered {
        /// SHA-256 of the bytes the store returned.
        off_chain: B256,
        /// What the author wrote on-chain under that warrant (empty: nothing).
        on_chain: Vec<B256>,
    },
}

impl EhrCheck {
    /// Whether the EHR matches the chain.
    pub fn is_intact(&self) -> bool {
        matches!(self, EhrCheck::Intact { .. } | EhrCheck::IntactInBatch { .. })
    }
}

/// What the chain holds for a patient's EHRs: the hashes each doctor wrote per warrant
/// (`HashUpdated`) and the batches the patient's batched EHRs claim (`batchOf`).
struct Anchored {
    written: Vec<(Address, B256, B256)>,
    batches: HashMap<B256, AnchoredBatch>,
}

impl Anchored {
    async fn read(ledger: &Ledger, patient: Address, records: &[EhrRecord]) -> Result<Anchored, ClinicalError> {
        let events = ledger.events().hash_updated(Some(patient)).await?;
        let written = events.into_iter().map(|e| (e.event.doctor, e.event.warrantId, e.event.ehrHash)).collect();
        let mut batches = HashMap::new();
        for anchor in records.iter().filter_map(|r| r.anchor.as_ref()) {
            if let std::collections::hash_map::Entry::Vacant(entry) = batches.entry(anchor.root) {
                entry.insert(ledger.ehr().batch_of(anchor.root).await?);
            }
        }
        Ok(Anchored { written, batches })
    }

    /// Reads what the chain holds for `records` and checks each.
    async fn check_all(
        ledger: &Ledger,
        patient: Address,
        records: Vec<EhrRecord>,
    ) -> Result<Vec<(EhrRecord, EhrCheck)>, ClinicalError> {
        let anchored = Anchored::read(ledger, patient, &records).await?;
        Ok(records.into_iter().map(|record| anchored.check_record(record)).collect())
    }

    fn check_record(&self, record: EhrRecord) -> (EhrRecord, EhrCheck) {
        let off_chain = B256::from(sha256(&record.body));
        let check = match &record.anchor {
            Some(anchor) => self.check_batched(&record, anchor, off_chain),
            None => {
                let on_chain: Vec<B256> = self
                    .written
                    .iter()
                    .filter(|(doctor, warrant, _)| *doctor == record.author && *warrant == record.warrant_id)
                    .map(|(_, _, hash)| *hash)
                    .collect();
                if on_chain.contains(&off_chain) {
                    EhrCheck::Intact { hash: off_chain }
                } else {
                    EhrCheck::Tampered { off_chain, on_chain }
                }
            }
        };
        (record, check)
    }

    fn check_batched(&self, record: &EhrRecord, anchor: &BatchAnchor, off_chain: B256) -> EhrCheck {
        let mismatch = |why: String| EhrCheck::BatchMismatch { off_chain, root: anchor.root, why };
        if off_chain != record.ehr_hash {
            return mismatch(format!("the bytes hash to {off_chain}, the batch's leaf says {}", record.ehr_hash));
        }
        if let Err(e) = anchor.verify(record) {
            return mismatch(format!("its Merkle proof does not lead to the root: {e}"));
        }
        match self.batches.get(&anchor.root) {
            Some(batch) if batch.anchored_at == 0 => mismatch("the root is not anchored on EhrRegistry".into()),
            Some(batch) if batch.doctor != record.author => {
                mismatch(format!("the root was anchored by {}, not by its author {}", batch.doctor, record.author))
            }
            Some(batch) if batch.count != anchor.count => {
                mismatch(format!("the chain's batch has {} EHRs, the proof {}", batch.count, anchor.count))
            }
            Some(_) => EhrCheck::IntactInBatch { hash: off_chain, root: anchor.root },
            None => mismatch("the root was not read from the chain".into()),
        }
    }
}
