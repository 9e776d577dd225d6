//! Paid, policy-checked sharing (seed 000 §5.4, Algorithm 2): what each role does.
//!
//! - **Data owners** set, change and revoke a per-record policy `(charge, start, end)` on
//!   `RecordRegistry` ([`Owner::set_policy`], [`Owner::revoke_policy`]), see who used each
//!   record ([`accesses`]) and withdraw what they earned ([`Owner::withdraw`]).
//! - **Anyone** lists records by data type with their policies ([`catalog`]).
//! - **Data users** price a set of records, request a job over them paying exactly the sum
//!   of the charges into escrow ([`DataUser::request`]), have the enclave run it and settle
//!   ([`DataUser::run`]), read the result ([`DataUser::result`]), or take a refund after the
//!   timeout ([`DataUser::refund`]).
//! - **Committee members** serve granted requests: one decryption share with its
//!   Chaum–Pedersen proof per record ([`CommitteeMember::serve_pending`]).
//!
//! **The data user's result key.** The enclave encrypts results to a Ristretto255 key the
//! data user names in its request. It is derived deterministically from the data user's
//! ledger key with HKDF-SHA256 (`healthchain/result-key/v1`, info = the account address),
//! so whoever holds the account key — and only they — can read every result of the account
//! later, without a second secret to back up ([`keywrap::SecretKey::derive`]: 64 bytes
//! reduced modulo the group order).

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy_primitives::{Address, B256, U256, hex};
use alloy_provider::Provider;
use healthchain_crypto::keywrap::{self, KeyShare, Purpose, Wrapped};
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client::{self, ClientError};
use healthchain_jobs::{JobError, JobResult, JobSpec};
use healthchain_ledger::Ledger;
use healthchain_ledger::bindings::{AccessControl, KeyAuthorization, RecordRegistry};
use healthchain_ledger::contracts::RequestStatus;
use healthchain_ledger::errors::LedgerError;
use healthchain_ledger::events::{EventCursor, EventLog, Topics, query};
use healthchain_share::{
    APP_NAME, RecordHints, ShareAccepted, ShareRefusal, ShareReply, ShareRequest, result_context, share_context,
};
use healthchain_store::{ObjectAddress, StoreError};
use healthchain_update::Manifest;
use healthchain_update::history::VersionHint;

use crate::environment::Environment;
use crate::records::Owner;

/// Why a sharing flow failed.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// The enclave refused to run the job; nothing was released or settled.
    #[error("the enclave refused: {0}")]
    Refused(#[from] ShareRefusal),
    /// A ledger call failed (its message names the contract error, e.g. `Underpaid`).
    #[error(transparent)]
    Ledger(Box<LedgerError>),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session with the enclave failed.
    #[error("enclave session: {0}")]
    Enclave(#[from] ClientError),
    /// The job spec is invalid or its result unreadable.
    #[error(transparent)]
    Job(#[from] JobError),
    /// No such access request.
    #[error("access request {0} does not exist")]
    UnknownRequest(u64),
    /// The request has not been completed, so there is no result.
    #[error("access request {0} has not been completed: no result yet")]
    NotCompleted(u64),
    /// The result object does not open with this data user's result key.
    #[error("the result of request {0} does not decrypt with this account's result key")]
    ResultKey(u64),
    /// A record's manifest is missing or malformed.
    #[error("record {record}: {why}")]
    Record {
        /// The record.
        record: B256,
        /// Why.
        why: String,
    },
    /// The committee member's key share is not the one of its seat.
    #[error("this key share has index {share}, but the account holds seat {seat} of the committee")]
    WrongShare {
        /// The share's index.
        share: u32,
        /// The seat (1-based).
        seat: u64,
    },
    /// A background task failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl ShareError {
    /// Whether a component (chain, store, enclave) failed, as opposed to a refusal or
    /// invalid input.
    pub fn is_failure(&self) -> bool {
        match self {
            ShareError::Refused(e) => e.is_failure(),
            ShareError::Ledger(e) => e.is_failure(),
            ShareError::Store(e) => e.is_failure(),
            ShareError::Enclave(e) => e.is_failure(),
            _ => false,
        }
    }
}

impl From<LedgerError> for ShareError {
    fn from(e: LedgerError) -> Self {
        ShareError::Ledger(Box::new(e))
    }
}

fn internal(e: impl ToString) -> ShareError {
    ShareError::Internal(e.to_string())
}

/// A record's policy in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Charge per access, in gwei.
    pub charge_gwei: u32,
    /// First second access is allowed (unix, inclusive).
    pub start: u32,
    /// Last second access is allowed (unix, inclusive).
    pub end: u32,
}

/// One record as the catalog lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogEntry {
    /// The record.
    pub record_id: B256,
    /// Its owner.
    pub owner: Address,
    /// Its data type (from its manifest).
    pub data_type: String,
    /// The policy in force; `None` when none was set or it was revoked.
    pub policy: Option<Policy>,
}

/// Every record (of `data_type`, if given) with its current policy, from `RecordRegistered`
/// and `PolicySet` events (one query each, whatever the number of records) and the
/// manifests in the store. Records whose manifest is missing or malformed are left out:
/// nobody could use them.
pub async fn catalog(env: &Environment, data_type: Option<&str>) -> Result<Vec<CatalogEntry>, ShareError> {
    let shared = env.deployment.shared;
    let registered = query::<RecordRegistry::RecordRegistered>(
        &env.connection,
        shared.record_registry,
        Topics::any(),
        shared.deployed_at_block,
    )
    .await?;
    let set = query::<RecordRegistry::PolicySet>(
        &env.connection,
        shared.record_registry,
        Topics::any(),
        shared.deployed_at_block,
    )
    .await?;
    let mut policies: HashMap<B256, Option<Policy>> = HashMap::new();
    for log in set {
        let e = log.event;
        let policy = (e.end != 0).then_some(Policy { charge_gwei: e.chargeGwei, start: e.start, end: e.end });
        policies.insert(e.recordId, policy);
    }
    let mut out = Vec::new();
    for log in registered {
        let e = log.event;
        let Ok(bytes) = env.store.get(&ObjectAddress(e.manifestHash.0)).await else { continue };
        let Ok(manifest) = Manifest::parse(&bytes) else { continue };
        if data_type.is_some_and(|t| t != manifest.data_type) {
            continue;
        }
        out.push(CatalogEntry {
            record_id: e.recordId,
            owner: e.owner,
            data_type: manifest.data_type,
            policy: policies.get(&e.recordId).copied().flatten(),
        });
    }
    Ok(out)
}

/// How an access request ended (so far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AccessOutcome {
    /// Waiting for the enclave's completion report (or a refund).
    Pending,
    /// Completed: the owner was credited its charge.
    Completed {
        /// SHA-256 of the encrypted result.
        result_hash: B256,
    },
    /// Refunded to the data user: nobody was paid.
    Refunded,
}

/// One access to a record, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// The request.
    pub request_id: u64,
    /// Who asked and paid.
    pub requester: Address,
    /// The enclave asked to run the job.
    pub enclave: Address,
    /// The job's hash (SHA-256 of its canonical spec).
    pub job_hash: B256,
    /// Block of the request.
    pub block: u64,
    /// Unix time of that block.
    pub requested_at: u64,
    /// The charge for this record under the policy the request was granted under, in wei.
    pub charge_wei: U256,
    /// How it ended.
    pub outcome: AccessOutcome,
}

impl Access {
    /// Whether the owner was paid for it.
    pub fn paid(&self) -> bool {
        matches!(self.outcome, AccessOutcome::Completed { .. })
    }
}

/// A data user's paid request (a job over records), as anyone reads it from the chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The request.
    pub request_id: u64,
    /// Who asked and paid.
    pub requester: Address,
    /// The enclave asked to run the job.
    pub enclave: Address,
    /// The job's hash (SHA-256 of its canonical spec).
    pub job_hash: B256,
    /// The records it covers, with the charge each record's policy set, in wei.
    pub records: Vec<(B256, U256)>,
    /// Block of the request.
    pub block: u64,
    /// Unix time of that block.
    pub requested_at: u64,
    /// How it ended.
    pub outcome: AccessOutcome,
}

impl Job {
    /// What the data user paid (the sum of the records' charges), in wei.
    pub fn price_wei(&self) -> U256 {
        self.records.iter().map(|(_, charge)| *charge).sum()
    }
}

/// Every access request, oldest first, with its outcome (`AccessRequested`,
/// `AccessCompleted`, `AccessRefunded`: one query each).
pub async fn jobs(env: &Environment) -> Result<Vec<Job>, ShareError> {
    requests(env, |_| true).await
}

/// The requests `wanted` keeps, each with its block's time (read for those only).
async fn requests(
    env: &Environment,
    wanted: impl Fn(&AccessControl::AccessRequested) -> bool,
) -> Result<Vec<Job>, ShareError> {
    let shared = env.deployment.shared;
    let from = shared.deployed_at_block;
    let conn = &env.connection;
    let requested = query::<AccessControl::AccessRequested>(conn, shared.access_control, Topics::any(), from).await?;
    let completed: HashMap<U256, B256> =
        query::<AccessControl::AccessCompleted>(conn, shared.access_control, Topics::any(), from)
            .await?
            .into_iter()
            .map(|l| (l.event.requestId, l.event.resultHash))
            .collect();
    let refunded: HashSet<U256> =
        query::<AccessControl::AccessRefunded>(conn, shared.access_control, Topics::any(), from)
            .await?
            .into_iter()
            .map(|l| l.event.requestId)
            .collect();
    let mut out = Vec::with_capacity(requested.len());
    for log in requested.into_iter().filter(|log| wanted(&log.event)) {
        let e = &log.event;
        let outcome = match completed.get(&e.requestId) {
            Some(hash) => AccessOutcome::Completed { result_hash: *hash },
            None if refunded.contains(&e.requestId) => AccessOutcome::Refunded,
            None => AccessOutcome::Pending,
        };
        let block = conn
            .provider()
            .get_block_by_number(log.block_number.into())
            .await
            .map_err(|e| ShareError::from(LedgerError::from(e)))?;
        let records = e
            .recordIds
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let word = e.policies.get(i).copied().unwrap_or_default();
                (*id, healthchain_ledger::ids::RecordWord::unpack(word).charge_wei())
            })
            .collect();
        out.push(Job {
            request_id: request_number(e.requestId)?,
            requester: e.requester,
            enclave: e.enclave,
            job_hash: e.jobHash,
            records,
            block: log.block_number,
            requested_at: block.map_or(0, |b| b.header.timestamp),
            outcome,
        });
    }
    Ok(out)
}

/// Every access request that included `record_id`, in order, with its outcome.
pub async fn accesses(env: &Environment, record_id: B256) -> Result<Vec<Access>, ShareError> {
    Ok(requests(env, |e| e.recordIds.contains(&record_id))
        .await?
        .into_iter()
        .filter_map(|job| {
            let charge_wei = job.records.iter().find(|(id, _)| *id == record_id)?.1;
            Some(Access {
                request_id: job.request_id,
                requester: job.requester,
                enclave: job.enclave,
                job_hash: job.job_hash,
                block: job.block,
                requested_at: job.requested_at,
                charge_wei,
                outcome: job.outcome,
            })
        })
        .collect())
}

fn request_number(id: U256) -> Result<u64, ShareError> {
    u64::try_from(id).map_err(|_| internal(format!("request id {id} does not fit 64 bits")))
}

impl Owner<'_> {
    /// Sets or replaces `record_id`'s policy: each access costs `charge_gwei` and is allowed
    /// from `start` to `end` (unix seconds, inclusive). Requests already made keep the policy
    /// they were granted under.
    pub async fn set_policy(&self, record_id: B256, charge_gwei: u32, start: u32, end: u32) -> Result<(), ShareError> {
        self.ledger().records().add_policy(record_id, charge_gwei, start, end).await?;
        Ok(())
    }

    /// Revokes `record_id`'s policy: no request can include it until a new one is set.
    pub async fn revoke_policy(&self, record_id: B256) -> Result<(), ShareError> {
        self.ledger().records().revoke_policy(record_id).await?;
        Ok(())
    }

    /// Charges earned and not yet withdrawn, in wei.
    pub async fn earnings(&self) -> Result<U256, ShareError> {
        Ok(self.ledger().access().earnings(self.address()).await?)
    }

    /// Pays out the owner's earnings; returns the amount and the transaction fee, in wei.
    pub async fn withdraw(&self) -> Result<(U256, U256), ShareError> {
        let tx = self.ledger().access().withdraw().await?;
        Ok((tx.event.amount, tx.receipt.fee()))
    }
}

/// The manifest's wrapped key `EK` of each record, by record id.
async fn wrapped_keys(env: &Environment, records: &[B256]) -> Result<Vec<Wrapped>, ShareError> {
    let shared = env.deployment.shared;
    let registered: HashMap<B256, B256> = query::<RecordRegistry::RecordRegistered>(
        &env.connection,
        shared.record_registry,
        Topics::any(),
        shared.deployed_at_block,
    )
    .await?
    .into_iter()
    .map(|l| (l.event.recordId, l.event.manifestHash))
    .collect();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let bad = |why: &str| ShareError::Record { record: *record, why: why.into() };
        let manifest_hash = registered.get(record).ok_or_else(|| bad("not registered"))?;
        let bytes = env.store.get(&ObjectAddress(manifest_hash.0)).await?;
        let manifest = Manifest::parse(&bytes).map_err(|e| bad(&e.to_string()))?;
        let wrapped = hex::decode(&manifest.wrapped_key)
            .ok()
            .and_then(|b| Wrapped::from_bytes(&b).ok())
            .ok_or_else(|| bad("its manifest's wrapped key is malformed"))?;
        out.push(wrapped);
    }
    Ok(out)
}

/// A member of the key-authorization committee (the `healthchain committee` service).
pub struct CommitteeMember<'e> {
    env: &'e Environment,
    ledger: Ledger,
    share: KeyShare,
}

impl<'e> CommitteeMember<'e> {
    /// The member acting with account `key` and holding `share` (funded from the embedded
    /// faucet for its transactions).
    pub async fn new(env: &'e Environment, key: EthKey, share: KeyShare) -> Result<CommitteeMember<'e>, ShareError> {
        env.fund(key.address(), U256::from(10u64).pow(U256::from(18u64))).await.map_err(internal)?;
        let ledger = env.ledger(&key).await.map_err(internal)?;
        Ok(CommitteeMember { env, ledger, share })
    }

    /// The member's account.
    pub fn address(&self) -> Address {
        self.ledger.address()
    }

    /// Its ledger client.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// This member's shares for request `request_id`, as `submitShares` takes them: one
    /// `S_i` per record in request order, and the proofs concatenated (64 bytes each).
    pub async fn shares_for(&self, request_id: u64) -> Result<(Vec<B256>, Vec<u8>), ShareError> {
        let event = self
            .ledger
            .events()
            .access_request(U256::from(request_id))
            .await?
            .ok_or(ShareError::UnknownRequest(request_id))?
            .event;
        let wrapped = wrapped_keys(self.env, &event.recordIds).await?;
        let rng = &mut rand::rng();
        let mut shares = Vec::with_capacity(wrapped.len());
        let mut proofs = Vec::with_capacity(64 * wrapped.len());
        for (record, ek) in event.recordIds.iter().zip(&wrapped) {
            let share = self.share.decryption_share(ek, &share_context(request_id, *record), rng);
            shares.push(B256::from(share.share_point()));
            proofs.extend_from_slice(&share.proof_bytes());
        }
        Ok((shares, proofs))
    }

    /// Serves every granted request this member has not served yet and that is still
    /// pending, reading the whole chain: computes and posts its shares. Returns the
    /// requests served, in order. A service that runs on uses [`CommitteeMember::serve_new`].
    pub async fn serve_pending(&self) -> Result<Vec<u64>, ShareError> {
        self.serve_new(&mut self.watch(None, 0)).await
    }

    /// A watch over the requests granted from block `from_block` on (`None`: since the
    /// contracts were deployed), `confirmations` blocks behind the head (0 on chains whose
    /// blocks are final at once: the embedded chain, QBFT).
    pub fn watch(&self, from_block: Option<u64>, confirmations: u64) -> CommitteeWatch {
        let shared = self.env.deployment.shared;
        let from_block = from_block.unwrap_or(shared.deployed_at_block);
        CommitteeWatch {
            cursor: EventCursor::new(shared.key_authorization, Topics::any(), from_block, confirmations),
            outstanding: BTreeMap::new(),
        }
    }

    /// Serves the requests granted since `watch` last read the chain (and those it could
    /// not serve then): reads `KeyRequested` events up to `watch`'s confirmation depth below
    /// the head, posts this member's shares for each granted request still pending that it
    /// has not served, and forgets the ones that need nothing more. On an error the request
    /// stays in `watch` for the next round. Returns the requests served, in order.
    pub async fn serve_new(&self, watch: &mut CommitteeWatch) -> Result<Vec<u64>, ShareError> {
        for EventLog { event, block_number, .. } in watch.cursor.poll(&self.env.connection).await? {
            watch.outstanding.entry(request_number(event.requestId)?).or_insert(block_number);
        }
        let mut served = Vec::new();
        let waiting: Vec<u64> = watch.outstanding.keys().copied().collect();
        for id in waiting {
            if self.serve_one(id).await? {
                served.push(id);
            }
            watch.outstanding.remove(&id);
        }
        Ok(served)
    }

    /// Posts this member's shares for request `id` if the request needs them: true if it did.
    async fn serve_one(&self, id: u64) -> Result<bool, ShareError> {
        let keys = self.ledger.keys();
        let grant = keys.grant_of(U256::from(id)).await?;
        if grant.epoch == 0 || grant.closed {
            return Ok(false);
        }
        let seat = self.ledger.directory().committee_seat(grant.epoch, self.address()).await?;
        if seat == 0 || grant.submitted & (1u64 << (seat - 1)) != 0 {
            return Ok(false);
        }
        if u64::from(self.share.index()) != seat {
            return Err(ShareError::WrongShare { share: self.share.index(), seat });
        }
        if self.ledger.access().request_of(U256::from(id)).await?.status != RequestStatus::Pending {
            return Ok(false);
        }
        let (shares, proofs) = self.shares_for(id).await?;
        keys.submit_shares(U256::from(id), shares, &proofs).await?;
        Ok(true)
    }
}

/// What a committee member's service has read of the chain: a cursor over `KeyRequested`
/// events that stays `confirmations` blocks behind the head (so a short reorganization
/// cannot retract a request it acted on), and the requests it has seen but not yet settled.
/// Made by [`CommitteeMember::watch`]; [`CommitteeWatch::resume_block`] is what to persist: a watch started there after a
/// restart sees every unsettled request again (serving is idempotent) and rescans nothing
/// older.
#[derive(Debug)]
pub struct CommitteeWatch {
    cursor: EventCursor<KeyAuthorization::KeyRequested>,
    /// Request id → the block it was granted in.
    outstanding: BTreeMap<u64, u64>,
}

impl CommitteeWatch {
    /// The first block a restarted watch must read ([`CommitteeMember::watch`]).
    pub fn resume_block(&self) -> u64 {
        self.outstanding.values().copied().min().unwrap_or(u64::MAX).min(self.cursor.next_block())
    }
}

/// A data user (a research institute, an insurer) acting in an environment.
pub struct DataUser<'e> {
    env: &'e Environment,
    key: EthKey,
    ledger: Ledger,
}

impl<'e> DataUser<'e> {
    /// The data user with account `key` (funded from the embedded faucet if it has less
    /// than 10 ether).
    pub async fn new(env: &'e Environment, key: EthKey) -> Result<DataUser<'e>, ShareError> {
        env.fund(key.address(), U256::from(10u64).pow(U256::from(19u64))).await.map_err(internal)?;
        let ledger = env.ledger(&key).await.map_err(internal)?;
        Ok(DataUser { env, key, ledger })
    }

    /// The data user's account.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Its ledger client.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The secret key results are encrypted to (see the module docs for the derivation).
    pub fn result_secret(&self) -> Result<keywrap::SecretKey, ShareError> {
        Ok(keywrap::SecretKey::derive(b"healthchain/result-key/v1", &self.key.to_bytes(), self.address().as_slice()))
    }

    /// The public key the enclave encrypts this data user's results to.
    pub fn result_key(&self) -> Result<keywrap::PublicKey, ShareError> {
        Ok(self.result_secret()?.public_key())
    }

    /// The sum of the records' current charges, in wei: what [`DataUser::request`] pays.
    pub async fn price(&self, records: &[B256]) -> Result<U256, ShareError> {
        let registry = self.ledger.records();
        let mut total = U256::ZERO;
        for record in records {
            total += registry.record_of(*record).await?.charge_wei();
        }
        Ok(total)
    }

    /// Requests `job` over `records` from the environment's enclave, paying exactly their
    /// price into escrow; returns the request id. The contract refuses records whose policy
    /// is revoked or not in force now.
    pub async fn request(&self, records: &[B256], job: &JobSpec) -> Result<u64, ShareError> {
        let price = self.price(records).await?;
        let tx = self
            .ledger
            .access()
            .request_access(records.to_vec(), B256::from(job.hash()), self.env.verified.report_signer, price)
            .await?;
        request_number(tx.event.requestId)
    }

    /// The request the enclave's `share` application takes for `request_id` and the job
    /// spec `job` (JSON), with the store's entry locations of every record of the request.
    pub async fn share_request(&self, request_id: u64, job: &[u8]) -> Result<ShareRequest, ShareError> {
        let event = self
            .ledger
            .events()
            .access_request(U256::from(request_id))
            .await?
            .ok_or(ShareError::UnknownRequest(request_id))?
            .event;
        let mut history = Vec::with_capacity(event.recordIds.len());
        for record_id in &event.recordIds {
            let index = self.env.store.index(&record_id.0).await?;
            let versions: Vec<VersionHint> =
                index.iter().filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok()).collect();
            history.push(RecordHints { record_id: *record_id, versions });
        }
        Ok(ShareRequest { request_id, job: job.to_vec(), result_key: self.result_key()?.to_bytes(), history })
    }

    /// Sends `request` to the enclave's `share` application over a fresh attested session.
    pub async fn call_enclave(&self, request: ShareRequest) -> Result<ShareAccepted, ShareError> {
        let backend = self.env.backend();
        let key = self.key.clone();
        let identity = self.env.enclave_identity();
        let reply = tokio::task::spawn_blocking(move || -> Result<ShareReply, ClientError> {
            let mut session = client::connect(backend.as_ref(), key, identity)?;
            let reply = session.call(APP_NAME, &request)?;
            session.close()?;
            Ok(reply)
        })
        .await
        .map_err(internal)??;
        Ok(reply?)
    }

    /// Settles a request with the enclave's report: `AccessControl.complete` with the job
    /// hash and policies of the request's event; the contract checks the report's signer
    /// and credits each owner its charge.
    pub async fn complete(&self, accepted: &ShareAccepted) -> Result<(), ShareError> {
        let id = U256::from(accepted.request_id);
        let event = self
            .ledger
            .events()
            .access_request(id)
            .await?
            .ok_or(ShareError::UnknownRequest(accepted.request_id))?
            .event;
        self.ledger
            .access()
            .complete(id, event.jobHash, accepted.result_hash, event.policies, &accepted.signature)
            .await?;
        Ok(())
    }

    /// Algorithm 2 from the data user's side once the committee has served the request:
    /// the enclave runs `job` (JSON, the spec paid for), then the request is settled.
    pub async fn run(&self, request_id: u64, job: &[u8]) -> Result<ShareAccepted, ShareError> {
        let request = self.share_request(request_id, job).await?;
        let accepted = self.call_enclave(request).await?;
        self.complete(&accepted).await?;
        Ok(accepted)
    }

    /// The result of a completed request: the object its `AccessCompleted` names, decrypted
    /// with this data user's result key.
    pub async fn result(&self, request_id: u64) -> Result<JobResult, ShareError> {
        let completed = self.ledger.events().access_completed(Some(U256::from(request_id))).await?;
        let result_hash = completed.first().ok_or(ShareError::NotCompleted(request_id))?.event.resultHash;
        let bytes = self.env.store.get(&ObjectAddress(result_hash.0)).await?;
        let wrapped = Wrapped::from_bytes(&bytes).map_err(|_| ShareError::ResultKey(request_id))?;
        let plain = zeroize::Zeroizing::new(
            self.result_secret()?
                .unwrap_key(&wrapped, Purpose::Result, &result_context(request_id))
                .map_err(|_| ShareError::ResultKey(request_id))?,
        );
        Ok(JobResult::from_bytes(&plain)?)
    }

    /// Takes back the escrow of a request not completed by its deadline; returns the amount
    /// refunded and the transaction fee, in wei.
    pub async fn refund(&self, request_id: u64) -> Result<(U256, U256), ShareError> {
        let id = U256::from(request_id);
        let escrow = self.ledger.access().request_of(id).await?.escrow;
        let tx = self.ledger.access().refund(id).await?;
        Ok((escrow, tx.receipt.fee()))
    }
}
