//! The trusted application `share`: seed 000 Algorithm 2.
//!
//! For one request from the data user who paid for it, the enclave:
//! 1. reads the access request (`requestOf`) and its `AccessRequested` event, and refuses
//!    unless the request is pending, names this enclave, was made by the caller, and the
//!    job sent hashes to the committed `jobHash` (the event must also reproduce the stored
//!    `termsHash`, so a host cannot swap policies or the job hash);
//! 2. reads the grant (`KeyAuthorization.grantOf`), the committee it was made under and all
//!    `SharesSubmitted`; per record, opens the outer layer `EK` with `t` shares whose
//!    Chaum–Pedersen proofs verify against the seat's registered share key (bad proofs and
//!    non-members are skipped), then the inner layer `T` with the enclave's encryption key;
//! 3. verifies every version of every record as `verify` does for anyone (the parts of
//!    [`healthchain_update::verify_record`], read in bulk: [`crate::verify`]) and decrypts
//!    only the qualified ones;
//! 4. runs the job as of the shared ledger's current date, wraps the result to the data
//!    user's result key, stores the ciphertext as an object, and signs
//!    `CompletionReport(requestId, jobHash, resultHash)` for `AccessControl`.
//!
//! Plaintext never leaves the enclave and nothing plaintext is stored: the only object
//! written is the encrypted result. `resultHash` is the plain SHA-256 of the encrypted
//! result, which is also its content address in the store, so anyone holding the completed
//! request can find the ciphertext and check it is the one the enclave reported.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy_primitives::{Address, B256, U256, hex};
use healthchain_crypto::eip712::{self, CompletionReport};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap::{self, DecryptionShare, Purpose, WrapError, Wrapped};
use healthchain_crypto::record::RecordId;
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::runtime::{AppContext, AppError, HostObject, HostServices, RuntimeError, TrustedApp};
use healthchain_fhir::{Date, RecordFeatures};
use healthchain_jobs::{JobSpec, RecordInput};
use healthchain_ledger::Deployment;
use healthchain_ledger::contracts::{LogState, RequestStatus};
use healthchain_ledger::ids::{RecordWord, terms_hash};
use healthchain_update::history::{Fetched, ObjectFetch, VersionHint};
use healthchain_update::view::{ChainView, LedgerRpc};
use zeroize::Zeroizing;

use crate::api::{RecordUse, ShareAccepted, ShareRefusal, ShareReply, ShareRequest};
use crate::reads::{self, CommitteeRead, LogReader};
use crate::verify;

/// The name clients address the application by.
pub const APP_NAME: &str = "share";

/// The context committee members bind their Chaum–Pedersen proofs to: the request id
/// (32 bytes, big-endian) and the record id. Binding the request means a share posted for
/// one request cannot be replayed into another; binding the record, that a member's share
/// for one record cannot stand in for another record of the same request.
pub fn share_context(request_id: u64, record_id: B256) -> Vec<u8> {
    let mut context = Vec::with_capacity(64);
    context.extend_from_slice(&U256::from(request_id).to_be_bytes::<32>());
    context.extend_from_slice(record_id.as_slice());
    context
}

/// The associated data of an encrypted result: the request id (32 bytes, big-endian), so a
/// result cannot be passed off as the result of another request.
pub fn result_context(request_id: u64) -> [u8; 32] {
    U256::from(request_id).to_be_bytes::<32>()
}

/// The `share` application for one deployment (the enclave operator's configuration: which
/// contracts the enclave reads and signs for).
pub struct ShareApp {
    deployment: Deployment,
}

impl ShareApp {
    /// The application for `deployment`.
    pub fn new(deployment: Deployment) -> Self {
        ShareApp { deployment }
    }
}

/// The host, shared by the ledger reader and the object fetcher (their calls never nest).
type SharedHost<'h, 'c> = RefCell<&'h mut (dyn HostServices + 'c)>;

struct HostLedger<'r, 'h, 'c>(&'r SharedHost<'h, 'c>);

impl LedgerRpc for HostLedger<'_, '_, '_> {
    fn request(&mut self, ledger: LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
        self.0.borrow_mut().ledger_rpc(ledger, body).map_err(|e| e.to_string())
    }
}

/// Objects through the host (the runtime checks each against its address).
struct HostObjects<'r, 'h, 'c>(&'r SharedHost<'h, 'c>);

impl ObjectFetch for HostObjects<'_, '_, '_> {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        match self.0.borrow_mut().fetch_object(address) {
            Ok(Some(bytes)) => Fetched::Found(bytes),
            Ok(None) => Fetched::Missing,
            Err(RuntimeError::TamperedObject { .. }) => Fetched::Tampered,
            Err(e) => Fetched::Failed(e.to_string()),
        }
    }
}

impl HostObjects<'_, '_, '_> {
    /// Many objects in one round trip, answered per object as [`ObjectFetch::fetch`] would.
    fn fetch_many(&mut self, addresses: &[[u8; 32]]) -> Vec<Fetched> {
        match self.0.borrow_mut().fetch_objects(addresses) {
            Ok(objects) => objects
                .into_iter()
                .map(|object| match object {
                    HostObject::Found(bytes) => Fetched::Found(bytes),
                    HostObject::Missing => Fetched::Missing,
                    HostObject::Tampered => Fetched::Tampered,
                })
                .collect(),
            Err(e) => addresses.iter().map(|_| Fetched::Failed(e.to_string())).collect(),
        }
    }
}

/// How many records' log heads and objects the enclave asks the host for at once.
const FETCH_BATCH: usize = 64;

/// The records `start..end` of a request, read ahead: their `UpdateLog` states and objects.
#[derive(Default)]
struct FetchBatch {
    start: usize,
    end: usize,
    logs: Vec<LogState>,
    objects: HashMap<[u8; 32], Fetched>,
}

/// Objects fetched ahead, each handed out once; anything else is fetched on its own.
struct Prefetched<'b, 'f> {
    objects: &'b mut HashMap<[u8; 32], Fetched>,
    fallback: &'f mut dyn ObjectFetch,
}

impl ObjectFetch for Prefetched<'_, '_> {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        self.objects.remove(address).unwrap_or_else(|| self.fallback.fetch(address))
    }
}

impl TrustedApp for ShareApp {
    fn name(&self) -> &'static str {
        APP_NAME
    }

    fn handle(&mut self, context: &mut AppContext<'_>, caller: Address, request: &[u8]) -> Result<Vec<u8>, AppError> {
        let reply: ShareReply = match postcard::from_bytes::<ShareRequest>(request) {
            Ok(request) => self.share(context, caller, &request),
            Err(e) => Err(ShareRefusal::Malformed(e.to_string())),
        };
        postcard::to_stdvec(&reply)
            .map_err(|e| AppError { app: APP_NAME.into(), message: format!("the reply does not encode: {e}") })
    }
}

/// What the checks of step 1–2 establish about a request.
struct Granted {
    job_hash: B256,
    record_ids: Vec<B256>,
    policies: Vec<RecordWord>,
    committee: reads::OnChainCommittee,
    submissions: Vec<reads::Submission>,
    as_of: Date,
}

impl ShareApp {
    fn share(
        &mut self,
        context: &mut AppContext<'_>,
        caller: Address,
        request: &ShareRequest,
    ) -> Result<ShareAccepted, ShareRefusal> {
        let spec = JobSpec::parse(&request.job).map_err(|e| ShareRefusal::InvalidJob(e.to_string()))?;
        let result_key = keywrap::PublicKey::from_bytes(&request.result_key).map_err(|_| ShareRefusal::ResultKey)?;
        let keys = context.keys;
        let this = keys.report_key.address();
        let id = request.request_id;
        let host: SharedHost<'_, '_> = RefCell::new(&mut *context.host);
        let mut ledger = HostLedger(&host);
        let mut view = ChainView::new(&mut ledger, &self.deployment);
        let granted = self.check_request(&mut view, caller, this, id, B256::from(spec.hash()))?;

        // per record: verify every version, open the key, decrypt the qualified ones
        let facts = {
            let mut rpc = HostLedger(&host);
            verify::read_chain(&mut LogReader::new(&mut rpc), &self.deployment, &granted.record_ids)?
        };
        // the entry locations the data user sent, per record (the first list for a record counts)
        let mut hints: HashMap<B256, &[VersionHint]> = HashMap::with_capacity(request.history.len());
        for h in &request.history {
            hints.entry(h.record_id).or_insert(h.versions.as_slice());
        }
        let hints_of = |record_id: B256| hints.get(&record_id).copied().unwrap_or_default();
        // per batch of records: their log heads in one call, their objects in one fetch
        let mut objects = HostObjects(&host);
        let mut batch = FetchBatch::default();
        let fetch = |k: usize| {
            if k == batch.end {
                let ids = &granted.record_ids[k..granted.record_ids.len().min(k + FETCH_BATCH)];
                let addresses: Vec<[u8; 32]> =
                    ids.iter().flat_map(|&id| verify::objects_needed(&facts, id, hints_of(id))).collect();
                batch = FetchBatch {
                    start: k,
                    end: k + ids.len(),
                    logs: view.logs_of(ids)?,
                    objects: addresses.iter().copied().zip(objects.fetch_many(&addresses)).collect(),
                };
            }
            let record_id = granted.record_ids[k];
            let state = &batch.logs[k - batch.start];
            let mut prefetched = Prefetched { objects: &mut batch.objects, fallback: &mut objects };
            let record = verify::fetch_record(&facts, state, &mut prefetched, record_id, hints_of(record_id))?;
            let owner = record.registration().owner;
            let policy = &granted.policies[k];
            if owner != policy.owner {
                return Err(ShareRefusal::Terms {
                    request: id,
                    why: format!(
                        "record {record_id} is registered to {owner}, but the request's policy names {}",
                        policy.owner
                    ),
                });
            }
            Ok(record)
        };
        let opened = fetch_and_open(granted.record_ids.len(), fetch, &keys.encryption_key, &granted, id)?;
        let (uses, features): (Vec<RecordUse>, Vec<RecordFeatures>) = opened.into_iter().unzip();

        // compute, encrypt to the data user, store the ciphertext, sign the report
        let result = healthchain_jobs::run_on_features(&spec, &features, granted.as_of)
            .map_err(|e| ShareRefusal::Job(e.to_string()))?;
        drop(features);
        let plain = Zeroizing::new(result.to_bytes());
        let encrypted =
            keywrap::wrap(&result_key, &plain, Purpose::Result, &result_context(id), &mut rand::rng()).to_bytes();
        let result_hash = B256::from(sha256(&encrypted));
        let stored = host.borrow_mut().put_object(&encrypted).map_err(|e| ShareRefusal::Store(e.to_string()))?;
        if stored != result_hash.0 {
            return Err(ShareRefusal::Store("the store returned another address for the result".into()));
        }
        let report = CompletionReport { requestId: U256::from(id), jobHash: granted.job_hash, resultHash: result_hash };
        let shared = self.deployment.shared;
        let domain = eip712::domain(shared.chain_id, shared.access_control);
        Ok(ShareAccepted {
            request_id: id,
            job_hash: granted.job_hash,
            encrypted_result: encrypted,
            result_hash,
            enclave: this,
            signature: eip712::sign(&keys.report_key, &report, &domain).to_vec(),
            records: uses,
        })
    }

    /// Step 1–2: the request is pending, for this enclave, by the caller, for this job, and
    /// granted; reads the committee and the shares posted.
    fn check_request(
        &self,
        view: &mut ChainView<'_>,
        caller: Address,
        this: Address,
        id: u64,
        sent: B256,
    ) -> Result<Granted, ShareRefusal> {
        let on_chain = reads::access_request(view, id)?;
        match on_chain.status {
            RequestStatus::Pending => {}
            RequestStatus::None => return Err(ShareRefusal::UnknownRequest(id)),
            RequestStatus::Completed => {
                return Err(ShareRefusal::NotPending { request: id, status: "completed".into() });
            }
            RequestStatus::Refunded => return Err(ShareRefusal::NotPending { request: id, status: "refunded".into() }),
        }
        if on_chain.requester != caller {
            return Err(ShareRefusal::NotRequester { request: id, caller, requester: on_chain.requester });
        }
        if on_chain.enclave != this {
            return Err(ShareRefusal::OtherEnclave { request: id, named: on_chain.enclave, this });
        }
        let terms = |why: &str| ShareRefusal::Terms { request: id, why: why.into() };
        let event = reads::access_requested(view, id)?.ok_or_else(|| terms("no AccessRequested event"))?;
        if sent != event.jobHash {
            return Err(ShareRefusal::JobHashMismatch { sent, committed: event.jobHash });
        }
        if terms_hash(event.jobHash, &event.policies) != on_chain.terms_hash {
            return Err(terms("its AccessRequested event does not reproduce the stored termsHash"));
        }
        if event.recordIds.len() != event.policies.len() || event.enclave != this || event.requester != caller {
            return Err(terms("its AccessRequested event does not match the stored request"));
        }
        let grant = reads::grant(view, id)?;
        if grant.epoch == 0 {
            return Err(ShareRefusal::NoGrant { request: id, why: "not granted".into() });
        }
        if grant.closed {
            return Err(ShareRefusal::NoGrant { request: id, why: "closed (the request was refunded)".into() });
        }
        if usize::from(grant.record_count) != event.recordIds.len() {
            return Err(terms("the grant covers another number of records than the request"));
        }
        let committee = reads::committee(view, grant.epoch).map_err(|e| match e {
            CommitteeRead::Ledger(e) => ShareRefusal::Ledger(e),
            CommitteeRead::Malformed(why) => ShareRefusal::Committee { epoch: grant.epoch, why },
        })?;
        if committee.committee.threshold() != usize::from(grant.threshold) {
            return Err(ShareRefusal::Committee {
                epoch: grant.epoch,
                why: "its threshold differs from the grant's".into(),
            });
        }
        let submissions = reads::submissions(view, id, event.recordIds.len(), &committee)?;
        let now = view.shared_time()?;
        let as_of = i64::try_from(now)
            .ok()
            .and_then(Date::from_unix_seconds)
            .ok_or_else(|| terms("the shared ledger's time is not a date"))?;
        Ok(Granted {
            job_hash: event.jobHash,
            policies: event.policies.iter().map(|w| RecordWord::unpack(*w)).collect(),
            record_ids: event.recordIds,
            committee,
            submissions,
            as_of,
        })
    }
}

/// Fetches the `count` records of the request through the host, one at a time on this
/// thread (the host channel is not shared), while worker threads, one per core, check,
/// open, decrypt and parse the records already fetched: per record, its entries against
/// the log and the anchor, its key from the committee's shares and the enclave key, its
/// qualified versions, and the features the job reads from them. Waiting on the host and
/// computing overlap. The result is in request order; on failure, the refusal of the
/// first failing record (fetching stops once one has failed).
fn fetch_and_open(
    count: usize,
    mut fetch: impl FnMut(usize) -> Result<verify::FetchedRecord, ShareRefusal>,
    enclave_key: &keywrap::SecretKey,
    granted: &Granted,
    request_id: u64,
) -> Result<Vec<(RecordUse, RecordFeatures)>, ShareRefusal> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(count).max(1);
    // a few records in flight per worker: enough to keep them busy, bounded in memory
    let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, verify::FetchedRecord)>(workers * 4);
    let receiver = Mutex::new(receiver);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut opened = Vec::new();
                    loop {
                        let next = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => break,
                        };
                        let Ok((k, record)) = next else { break };
                        let record = open_record(record, k, enclave_key, granted, request_id);
                        if record.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        opened.push((k, record));
                    }
                    opened
                })
            })
            .collect();
        let mut failure = None;
        for k in 0..count {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match fetch(k) {
                Ok(record) => {
                    if sender.send((k, record)).is_err() {
                        break;
                    }
                }
                Err(refusal) => {
                    failure = Some((k, Err(refusal)));
                    break;
                }
            }
        }
        drop(sender);
        let mut opened: Vec<_> = failure.into_iter().collect();
        for handle in handles {
            opened.extend(handle.join().map_err(|_| ShareRefusal::Job("a worker thread panicked".into()))?);
        }
        opened.sort_unstable_by_key(|(k, _)| *k);
        opened.into_iter().map(|(_, record)| record).collect()
    })
}

/// Record `k` of the request: the features of its qualified versions, decrypted with its
/// opened key (the plaintext is dropped once parsed).
fn open_record(
    record: verify::FetchedRecord,
    k: usize,
    enclave_key: &keywrap::SecretKey,
    granted: &Granted,
    request_id: u64,
) -> Result<(RecordUse, RecordFeatures), ShareRefusal> {
    let checked = record.qualified();
    let record_id = checked.registration.record_id;
    let refuse = |why: String| ShareRefusal::Record { record: record_id, why };
    let anchor = checked.registration.anchor;
    let record_key =
        open_record_key(enclave_key, granted, k, request_id, record_id, &checked.manifest.wrapped_key, anchor)?;
    let record = RecordId(record_id.0);
    let mut versions = Vec::with_capacity(checked.versions.len());
    for (version, entry) in &checked.versions {
        let entry_context = EntryContext { record, entry_index: *version };
        let plaintext = envelope::decrypt_entry(&record_key, entry_context, entry)
            .map_err(|_| refuse(format!("version {version} does not decrypt with the record key its owner wrapped")))?;
        versions.push(plaintext);
    }
    let used = RecordUse { record_id, qualified: versions.len() as u64, total: checked.logged };
    let features = RecordInput::new(versions).features(k).map_err(|e| ShareRefusal::Job(e.to_string()))?;
    Ok((used, features))
}

/// Opens record `k`'s key: the outer layer `EK` (hex, from the manifest) with the valid
/// shares posted for it, then the inner layer `T` with the enclave's encryption key; both
/// layers are bound to the record's anchor.
fn open_record_key(
    enclave_key: &keywrap::SecretKey,
    granted: &Granted,
    k: usize,
    request_id: u64,
    record_id: B256,
    wrapped_key: &str,
    anchor: B256,
) -> Result<RecordKey, ShareRefusal> {
    let refuse = |why: String| ShareRefusal::Record { record: record_id, why };
    let outer = hex::decode(wrapped_key)
        .ok()
        .and_then(|bytes| Wrapped::from_bytes(&bytes).ok())
        .ok_or_else(|| refuse("its manifest's wrapped key EK is malformed".into()))?;
    let shares: Vec<DecryptionShare> =
        granted.submissions.iter().filter_map(|s| s.shares.get(k).copied().flatten()).collect();
    let proof_context = share_context(request_id, record_id);
    let inner =
        granted.committee.committee.open(&outer, &shares, &proof_context, anchor.as_slice()).map_err(|e| match e {
            WrapError::NotEnoughShares { needed, got } => {
                ShareRefusal::NotEnoughShares { record: record_id, needed, valid: got }
            }
            other => refuse(format!("its wrapped key EK does not open with the committee's shares: {other}")),
        })?;
    let inner = Zeroizing::new(inner);
    let inner = Wrapped::from_bytes(&inner).map_err(|_| refuse("its inner key layer T is malformed".into()))?;
    let key = Zeroizing::new(
        enclave_key
            .unwrap_key(&inner, Purpose::EnclaveLayer, anchor.as_slice())
            .map_err(|_| refuse("its inner key layer T does not open with this enclave's key".into()))?,
    );
    let key: [u8; 32] =
        key.as_slice().try_into().map_err(|_| refuse("its wrapped record key is not 32 bytes".into()))?;
    Ok(RecordKey::from_bytes(key))
}
