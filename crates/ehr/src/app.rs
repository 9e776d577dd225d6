//! The EHR store as a trusted application.

use std::collections::HashSet;

use alloy_primitives::{Address, B256};
use alloy_sol_types::Eip712Domain;
use healthchain_crypto::eip712::{self, EhrBatch, SignedWarrant, WarrantError};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::merkle::{self, BatchTree, EhrLeaf};
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::runtime::{AppContext, AppError, HostServices, TrustedApp};
use rusqlite::{Connection, TransactionBehavior};

use crate::api::{BenchResponse, EhrReply, EhrRequest, EhrResponse, Receipt, WireWarrant};
use crate::auth::{Clock, Registry, RegistryError, SystemClock};
use crate::db::{self, Database, DbKey, NewRow, RowAnchor, WarrantState, bench_table};
use crate::error::EhrError;
use crate::view::{BatchView, BenchView, EhrView, RequestView};

/// The name clients address the application by.
pub const APP_NAME: &str = "ehr";
/// Label of the sealed blob holding the database key.
pub const KEY_LABEL: &str = "ehr-db-key";
/// Longest EHR id, in bytes.
pub const MAX_EHR_ID_LEN: usize = 256;
/// Most hospitals per EHR.
pub const MAX_HOSPITALS: usize = 64;
/// Most EHRs in one [`EhrRequest::CreateMany`].
pub const MAX_BATCH: usize = 100_000;
/// Most warrants in one [`EhrRequest::CreateMany`].
pub const MAX_BATCH_WARRANTS: usize = 10_000;
/// Warrant signatures remembered as verified before the memo is cleared.
const VERIFIED_MEMO: usize = 1 << 16;

/// The enclave's configuration of the EHR store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EhrConfig {
    /// Chain id of the consortium ledger (EIP-712 domain of warrants).
    pub chain_id: u64,
    /// Address of `EhrRegistry`, the warrants' verifying contract.
    pub ehr_registry: Address,
    /// Whether [`EhrRequest::Bench`] (seed 001 Figure 7's synthetic `test` table) is
    /// served. Off by default.
    pub bench_table: bool,
}

impl EhrConfig {
    /// Warrants signed for `EhrRegistry` at `ehr_registry` on chain `chain_id`; benchmark
    /// table off.
    pub fn new(chain_id: u64, ehr_registry: Address) -> Self {
        Self { chain_id, ehr_registry, bench_table: false }
    }

    /// The EIP-712 domain warrants are signed under.
    pub fn domain(&self) -> Eip712Domain {
        eip712::domain(self.chain_id, self.ehr_registry)
    }
}

/// Checks callers: registration (once per request), and for writes the warrants:
/// signature (once per warrant), named doctor, period, order, revocation.
struct Gate {
    domain: Eip712Domain,
    registry: Box<dyn Registry>,
    clock: Box<dyn Clock>,
    /// Warrant ids whose patient signature has been verified (a cache; the database's
    /// `warrant` rows are the durable record).
    verified: HashSet<B256>,
}

/// A caller the registry admitted as a doctor, for the request at hand: proof, for
/// [`Gate::admit`], that registration was checked (once per request, however many warrants
/// a batch carries).
struct RegisteredDoctor(Address);

/// A write the gate let through, to be recorded in the same transaction.
struct Admitted {
    warrant_id: B256,
    patient: Address,
    position: u64,
    written: u64,
}

fn warrant_error(error: WarrantError) -> EhrError {
    match error {
        WarrantError::BadSignature(e) => EhrError::WarrantSignature { reason: e.to_string() },
        WarrantError::NoDoctors => EhrError::WarrantNamesNoDoctors,
        WarrantError::DoctorNotNamed(doctor) => EhrError::DoctorNotNamed { doctor },
        WarrantError::OutsidePeriod { doctor, not_before, not_after, now } => {
            EhrError::OutsidePeriod { doctor, not_before, not_after, now }
        }
    }
}

/// [`SignedWarrant::authorize`] without the signature check, for warrants whose signature
/// was already verified.
fn term_position(signed: &SignedWarrant, doctor: Address, now: u64) -> Result<usize, EhrError> {
    let doctors = &signed.warrant.doctors;
    if doctors.is_empty() {
        return Err(EhrError::WarrantNamesNoDoctors);
    }
    let (position, term) = doctors
        .iter()
        .enumerate()
        .find(|(_, term)| term.doctor == doctor)
        .ok_or(EhrError::DoctorNotNamed { doctor })?;
    if now < term.notBefore || now > term.notAfter {
        return Err(EhrError::OutsidePeriod { doctor, not_before: term.notBefore, not_after: term.notAfter, now });
    }
    Ok(position)
}

impl Gate {
    /// Asks the registry whether `caller` may write EHRs at all.
    fn registered_doctor(
        &mut self,
        host: &mut dyn HostServices,
        caller: Address,
    ) -> Result<RegisteredDoctor, EhrError> {
        self.registry.check_doctor(host, caller).map_err(|error| match error {
            RegistryError::Unavailable(reason) => EhrError::RegistryUnavailable(reason),
            other => EhrError::UnregisteredDoctor { doctor: caller, reason: other.to_string() },
        })?;
        Ok(RegisteredDoctor(caller))
    }

    /// Asks the registry whether `caller` is a hospital that may fetch EHRs.
    fn approved_hospital(&mut self, host: &mut dyn HostServices, caller: Address) -> Result<(), EhrError> {
        self.registry.check_hospital(host, caller).map_err(|error| match error {
            RegistryError::Unavailable(reason) => EhrError::RegistryUnavailable(reason),
            other => EhrError::NotApprovedHospital { caller, reason: other.to_string() },
        })
    }

    /// Admits `doctor` writing under `wire` at `now`, or says why not. Reads (but does not
    /// change) the warrant's progress in `connection`'s transaction.
    fn admit(
        &mut self,
        connection: &Connection,
        wire: &WireWarrant,
        doctor: &RegisteredDoctor,
        now: u64,
    ) -> Result<Admitted, EhrError> {
        let caller = doctor.0;
        let signed = SignedWarrant::try_from(wire)?;
        let warrant_id = signed.signing_hash(&self.domain);
        let stored = db::warrant_state(connection, warrant_id)?;
        if stored.is_some_and(|state| state.revoked) {
            return Err(EhrError::WarrantRevoked { warrant_id });
        }
        let position = if stored.is_some() || self.verified.contains(&warrant_id) {
            term_position(&signed, caller, now)?
        } else {
            let position = signed.authorize(&self.domain, caller, now).map_err(warrant_error)?;
            if self.verified.len() >= VERIFIED_MEMO {
                self.verified.clear();
            }
            self.verified.insert(warrant_id);
            position
        } as u64;
        let written = stored.map_or(0, |state| state.written);
        if position > written {
            return Err(EhrError::OutOfOrder { doctor: caller, position, written });
        }
        Ok(Admitted { warrant_id, patient: signed.warrant.patient, position, written })
    }

    /// Records an admitted write's turn (the caller's transaction commits it).
    fn record(connection: &Connection, admitted: &Admitted) -> Result<(), EhrError> {
        if admitted.position == admitted.written {
            let state = WarrantState { written: admitted.written + 1, revoked: false };
            db::set_warrant_state(connection, admitted.warrant_id, admitted.patient, state)?;
        }
        Ok(())
    }
}

fn check_ehr_id(ehr_id: &str) -> Result<(), EhrError> {
    if ehr_id.is_empty() || ehr_id.len() > MAX_EHR_ID_LEN {
        return Err(EhrError::InvalidRequest(format!(
            "EHR id must be 1 to {MAX_EHR_ID_LEN} bytes, got {}",
            ehr_id.len()
        )));
    }
    Ok(())
}

/// The store's limits on a new EHR (id length, hospitals, a non-empty body): checked by the
/// enclave on every write, and by clients before they anchor anything.
pub fn check_limits(ehr_id: &str, hospitals: usize, body: &[u8]) -> Result<(), EhrError> {
    check_ehr_id(ehr_id)?;
    if hospitals > MAX_HOSPITALS {
        return Err(EhrError::InvalidRequest(format!("at most {MAX_HOSPITALS} hospitals per EHR, got {hospitals}")));
    }
    if body.is_empty() {
        return Err(EhrError::InvalidRequest("the EHR body is empty".into()));
    }
    Ok(())
}

/// Checks an EHR's limits and hash; returns its SHA-256.
fn check_ehr(ehr: &EhrView<'_>) -> Result<B256, EhrError> {
    check_limits(ehr.ehr_id, ehr.hospitals.len(), ehr.body)?;
    let actual = B256::from(sha256(ehr.body));
    match ehr.expected_hash {
        Some(expected) if expected != actual => Err(EhrError::HashMismatch { expected, actual }),
        _ => Ok(actual),
    }
}

fn new_row<'a>(
    ehr: &'a EhrView<'a>,
    admitted: &Admitted,
    author: Address,
    version: u64,
    created_at: u64,
    now: u64,
    hash: B256,
) -> NewRow<'a> {
    NewRow {
        patient: admitted.patient,
        ehr_id: ehr.ehr_id,
        version,
        created_at,
        updated_at: now,
        status: ehr.status,
        ehr_type: ehr.ehr_type,
        ehr_hash: hash,
        hospitals: &ehr.hospitals,
        author,
        warrant_id: admitted.warrant_id,
        body: ehr.body,
        anchor: None,
    }
}

/// Seed 001's EHR store: an SQLCipher database inside the enclave, reached only through
/// typed requests ([`EhrRequest`]) over attested sessions.
///
/// The database key is 32 random bytes created inside the enclave on first use and kept
/// only as a sealed blob ([`KEY_LABEL`]) through the host; the database file
/// ([`db::DB_FILE`]) lives in the enclave's data directory. The database is opened on the
/// first request.
///
/// Writes ([`EhrRequest::Create`], [`EhrRequest::CreateMany`], [`EhrRequest::Update`],
/// [`EhrRequest::Delete`]) must carry a warrant signed by the patient (EIP-712 under
/// `EhrRegistry`'s domain) that names the session's caller, with the enclave's time inside
/// the caller's period; in an ordered group, every doctor before the caller must already
/// have written under that warrant (any admitted write counts, as on-chain); the
/// [`Registry`] must admit the caller as a doctor (asked once per request, a batch
/// included); the patient must not have revoked it. A warrant is identified by its EIP-712
/// signing hash: its signature is verified the first time it is seen and the result
/// remembered (in memory, and durably with its progress), so the same patient-signed
/// content is not verified again.
///
/// Reads ([`EhrRequest::Get`], [`EhrRequest::List`]) are for the patient only; a hospital
/// the [`Registry`] admits (on the chain: approved on the consortium `Directory`) gets the
/// EHRs that name it with [`EhrRequest::HospitalFetch`]. Each request runs in one
/// transaction, committed durably before the answer; a refusal rolls back and changes
/// nothing.
pub struct EhrApp {
    config: EhrConfig,
    gate: Gate,
    database: Option<Database>,
}

impl EhrApp {
    /// The application with its configuration and registry of doctors and hospitals,
    /// using the system clock.
    pub fn new(config: EhrConfig, registry: Box<dyn Registry>) -> Self {
        let gate = Gate { domain: config.domain(), registry, clock: Box::new(SystemClock), verified: HashSet::new() };
        Self { config, gate, database: None }
    }

    /// The application as the benchmarks run it (`healthchain bench db|ingest` through
    /// `healthchain enclave-process --bench-ehr`, and in process): seed 001 Figure 7's table
    /// served and no registration of doctors or hospitals checked ([`UncheckedRegistry`]);
    /// warrants are still checked, under `chain_id` and `ehr_registry`. Not for a deployment.
    ///
    /// [`UncheckedRegistry`]: crate::UncheckedRegistry
    pub fn for_benchmarks(chain_id: u64, ehr_registry: Address) -> Self {
        let mut config = EhrConfig::new(chain_id, ehr_registry);
        config.bench_table = true;
        Self::new(config, Box::new(crate::auth::UncheckedRegistry))
    }

    /// Replaces the clock warrant periods are checked against.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.gate.clock = Box::new(clock);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &EhrConfig {
        &self.config
    }

    /// Closes the database (it is reopened, with the sealed key, on the next request).
    pub fn close(&mut self) {
        self.database = None;
    }

    /// Opens the database if it is not open: unseals the key (creating and sealing one on
    /// first use), opens the file with it and creates the schema.
    pub fn open(&mut self, context: &mut AppContext<'_>) -> Result<(), EhrError> {
        if self.database.is_some() {
            return Ok(());
        }
        let path = context.data_dir.join(db::DB_FILE);
        let sealed = context.host.load(KEY_LABEL).map_err(|e| EhrError::SealedKey(e.to_string()))?;
        let key = match sealed {
            Some(bytes) => DbKey::from_bytes(&bytes)
                .ok_or_else(|| EhrError::SealedKey(format!("sealed key has {} bytes, expected 32", bytes.len())))?,
            None => {
                if path.exists() {
                    return Err(EhrError::KeyMissing { path: path.display().to_string(), label: KEY_LABEL.into() });
                }
                let key = DbKey::generate();
                // Sealed durably before any data is encrypted under it.
                context.host.store(KEY_LABEL, key.as_bytes()).map_err(|e| EhrError::SealedKey(e.to_string()))?;
                key
            }
        };
        std::fs::create_dir_all(context.data_dir)
            .map_err(|e| EhrError::Storage(format!("creating {}: {e}", context.data_dir.display())))?;
        // Check the key and create the schema before the checkpointer opens its connection.
        db::migrate(&db::open_connection(&path, Some(&key))?)?;
        self.database = Some(Database::open(&path, Some(&key))?);
        Ok(())
    }

    /// Handles one decoded request from `caller` (authenticated by the session).
    pub fn handle_request(&mut self, context: &mut AppContext<'_>, caller: Address, request: &EhrRequest) -> EhrReply {
        self.execute(context, caller, RequestView::from(request))
    }

    fn execute(&mut self, context: &mut AppContext<'_>, caller: Address, request: RequestView<'_>) -> EhrReply {
        self.open(context)?;
        let Self { config, gate, database } = self;
        let connection =
            database.as_mut().ok_or_else(|| EhrError::Storage("database is not open".into()))?.connection_mut();
        let now = gate.clock.now();
        match request {
            RequestView::Create { warrant, ehr } => {
                let doctor = gate.registered_doctor(context.host, caller)?;
                let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let admitted = gate.admit(&transaction, &warrant, &doctor, now)?;
                let hash = check_ehr(&ehr)?;
                db::insert_ehr(&transaction, &new_row(&ehr, &admitted, caller, 1, now, now, hash))?;
                Gate::record(&transaction, &admitted)?;
                transaction.commit()?;
                Ok(EhrResponse::Written(receipt(&admitted, ehr.ehr_id.into(), 1, hash, now)))
            }
            RequestView::CreateMany { warrants, ehrs } => {
                let report_key = &context.keys.report_key;
                create_many(gate, connection, context.host, report_key, caller, now, &warrants, &ehrs)
            }
            RequestView::Update { warrant, ehr } => {
                let doctor = gate.registered_doctor(context.host, caller)?;
                let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let admitted = gate.admit(&transaction, &warrant, &doctor, now)?;
                let hash = check_ehr(&ehr)?;
                let Some((version, created_at)) = db::current_version(&transaction, admitted.patient, ehr.ehr_id)?
                else {
                    return Err(EhrError::NotFound {
                        patient: admitted.patient,
                        ehr_id: ehr.ehr_id.into(),
                        version: None,
                    });
                };
                let version = version + 1;
                db::replace_ehr(&transaction, &new_row(&ehr, &admitted, caller, version, created_at, now, hash))?;
                Gate::record(&transaction, &admitted)?;
                transaction.commit()?;
                Ok(EhrResponse::Written(receipt(&admitted, ehr.ehr_id.into(), version, hash, now)))
            }
            RequestView::Delete { warrant, ehr_id } => {
                let doctor = gate.registered_doctor(context.host, caller)?;
                let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let admitted = gate.admit(&transaction, &warrant, &doctor, now)?;
                let versions = db::delete_ehr(&transaction, admitted.patient, &ehr_id)?;
                if versions == 0 {
                    return Err(EhrError::NotFound { patient: admitted.patient, ehr_id, version: None });
                }
                Gate::record(&transaction, &admitted)?;
                transaction.commit()?;
                Ok(EhrResponse::Deleted { versions })
            }
            RequestView::Get { patient, ehr_id, version } => {
                require_patient(caller, patient)?;
                Ok(EhrResponse::Ehr(db::get_ehr(connection, patient, &ehr_id, version)?))
            }
            RequestView::List { patient } => {
                require_patient(caller, patient)?;
                Ok(EhrResponse::List(db::list_ehrs(connection, patient)?))
            }
            RequestView::Preflight { warrant, ehr_id, revision } => {
                check_ehr_id(&ehr_id)?;
                let doctor = gate.registered_doctor(context.host, caller)?;
                // read only; dropped without commit
                let transaction = connection.transaction()?;
                let admitted = gate.admit(&transaction, &warrant, &doctor, now)?;
                let exists = db::current_version(&transaction, admitted.patient, &ehr_id)?.is_some();
                match (revision, exists) {
                    (false, true) => Err(EhrError::Duplicate { patient: admitted.patient, ehr_id }),
                    (true, false) => Err(EhrError::NotFound { patient: admitted.patient, ehr_id, version: None }),
                    _ => Ok(EhrResponse::Admissible),
                }
            }
            RequestView::HospitalFetch { patient } => {
                gate.approved_hospital(context.host, caller)?;
                Ok(EhrResponse::Ehrs(db::hospital_ehrs(connection, patient, caller)?))
            }
            RequestView::RevokeWarrant { warrant } => {
                require_patient(caller, warrant.patient)?;
                let warrant_id = SignedWarrant::try_from(&warrant)?.signing_hash(&gate.domain);
                let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let written = db::warrant_state(&transaction, warrant_id)?.map_or(0, |state| state.written);
                db::set_warrant_state(
                    &transaction,
                    warrant_id,
                    warrant.patient,
                    WarrantState { written, revoked: true },
                )?;
                transaction.commit()?;
                Ok(EhrResponse::Revoked { warrant_id })
            }
            RequestView::Bench(request) => {
                if !config.bench_table {
                    return Err(EhrError::BenchDisabled);
                }
                Ok(EhrResponse::Bench(match request {
                    BenchView::Insert { rows } => BenchResponse::Changed(bench_table::insert(connection, rows)?),
                    BenchView::Select { t1 } => BenchResponse::Rows(bench_table::select(connection, t1)?),
                    BenchView::Update { t1, new_t1 } => {
                        BenchResponse::Changed(bench_table::update(connection, t1, new_t1)?)
                    }
                    BenchView::DeleteAll => BenchResponse::Changed(bench_table::delete_all(connection)?),
                }))
            }
        }
    }
}

fn require_patient(caller: Address, patient: Address) -> Result<(), EhrError> {
    if caller == patient { Ok(()) } else { Err(EhrError::NotPatient { caller, patient }) }
}

fn receipt(admitted: &Admitted, ehr_id: String, version: u64, ehr_hash: B256, at: u64) -> Receipt {
    Receipt { patient: admitted.patient, ehr_id, version, ehr_hash, warrant_id: admitted.warrant_id, at }
}

/// Stores a batch in one transaction, with each EHR's place in the batch's Merkle tree, and
/// signs the `EhrBatch(caller, root, count)` report once the batch is durable.
#[allow(clippy::too_many_arguments)]
fn create_many(
    gate: &mut Gate,
    connection: &mut Connection,
    host: &mut dyn HostServices,
    report_key: &EthKey,
    caller: Address,
    now: u64,
    warrants: &[WireWarrant],
    ehrs: &[BatchView<'_>],
) -> EhrReply {
    if ehrs.is_empty() || ehrs.len() > MAX_BATCH {
        return Err(EhrError::InvalidRequest(format!("a batch holds 1 to {MAX_BATCH} EHRs, got {}", ehrs.len())));
    }
    if warrants.len() > MAX_BATCH_WARRANTS {
        return Err(EhrError::InvalidRequest(format!(
            "a batch holds at most {MAX_BATCH_WARRANTS} warrants, got {}",
            warrants.len()
        )));
    }
    // One registry check for the whole batch: every entry is written by the caller.
    let doctor = gate.registered_doctor(host, caller)?;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut admitted = Vec::with_capacity(warrants.len());
    for (index, warrant) in warrants.iter().enumerate() {
        let entry = gate
            .admit(&transaction, warrant, &doctor, now)
            .map_err(|error| EhrError::InBatchWarrant { index: index as u64, error: Box::new(error) })?;
        admitted.push(entry);
    }
    // Every entry checked and hashed first: the tree needs all leaves before any row holds
    // its proof.
    let mut used = vec![false; admitted.len()];
    let mut hashes = Vec::with_capacity(ehrs.len());
    let mut leaves = Vec::with_capacity(ehrs.len());
    let mut admissions = Vec::with_capacity(ehrs.len());
    for (index, entry) in ehrs.iter().enumerate() {
        let in_batch = |error| EhrError::InBatch { index: index as u64, error: Box::new(error) };
        let warrant = entry.warrant as usize;
        let Some(admission) = admitted.get(warrant) else {
            return Err(in_batch(EhrError::InvalidRequest(format!(
                "warrant index {warrant} out of range (the batch has {} warrants)",
                admitted.len()
            ))));
        };
        let hash = check_ehr(&entry.ehr).map_err(in_batch)?;
        let leaf = EhrLeaf {
            patient: admission.patient,
            ehr_id: entry.ehr.ehr_id,
            version: 1,
            ehr_hash: hash,
            warrant_id: admission.warrant_id,
            author: caller,
        };
        leaves.push(leaf.hash());
        used[warrant] = true;
        hashes.push(hash);
        admissions.push(admission);
    }
    let tree = BatchTree::new(&leaves).map_err(|e| EhrError::InvalidRequest(e.to_string()))?;
    let (root, count) = (tree.root(), tree.count());
    for (index, ((entry, admission), hash)) in ehrs.iter().zip(&admissions).zip(&hashes).enumerate() {
        let in_batch = |error| EhrError::InBatch { index: index as u64, error: Box::new(error) };
        // `index < count ≤ u32::MAX`: the tree was built over these entries.
        let leaf = index as u32;
        let proof = tree.proof(leaf).map_err(|e| in_batch(EhrError::InvalidRequest(e.to_string())))?;
        let row = NewRow {
            anchor: Some(RowAnchor { root, index: leaf, count, proof: merkle::proof_to_bytes(&proof) }),
            ..new_row(&entry.ehr, admission, caller, 1, now, now, *hash)
        };
        db::insert_ehr(&transaction, &row).map_err(in_batch)?;
    }
    for (admission, _) in admitted.iter().zip(&used).filter(|(_, used)| **used) {
        Gate::record(&transaction, admission)?;
    }
    transaction.commit()?;
    // Signed only once the batch is durable: a report never names EHRs the store lacks.
    let report = EhrBatch { doctor: caller, root, count };
    let signature = eip712::sign(report_key, &report, &gate.domain).to_vec();
    Ok(EhrResponse::WrittenMany {
        warrant_ids: admitted.iter().map(|a| a.warrant_id).collect(),
        ehr_hashes: hashes,
        at: now,
        root,
        count,
        signature,
    })
}

impl TrustedApp for EhrApp {
    fn name(&self) -> &'static str {
        APP_NAME
    }

    /// The store key belongs to the enclave's identity: a replica joining this enclave
    /// receives it (its database file stays its own; see docs/architecture.md).
    fn identity_state(&self) -> &'static [&'static str] {
        &[KEY_LABEL]
    }

    fn handle(&mut self, context: &mut AppContext<'_>, caller: Address, request: &[u8]) -> Result<Vec<u8>, AppError> {
        let reply = match postcard::from_bytes::<RequestView<'_>>(request) {
            Ok(request) => self.execute(context, caller, request),
            Err(e) => Err(EhrError::InvalidRequest(format!("undecodable request: {e}"))),
        };
        postcard::to_stdvec(&reply)
            .map_err(|e| AppError { app: APP_NAME.into(), message: format!("unencodable reply: {e}") })
    }
}
