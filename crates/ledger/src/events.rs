//! Typed event queries (`eth_getLogs` + decoding) for the flows: audit trails of records,
//! updates, accesses and EHRs; and [`EventCursor`], a resumable polling subscription with a
//! confirmation depth for services that follow the chain.
//!
//! Queries start at the deployment block of the ledger and scan to the latest block in
//! windows of [`LOG_WINDOW`] blocks (nodes cap the range of one `eth_getLogs`; the embedded
//! chain at 10,000).

use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use alloy_rpc_types_eth::Filter;
use alloy_sol_types::SolEvent;

use crate::bindings::{AccessControl, Directory, EhrRegistry, KeyAuthorization, RecordRegistry, UpdateLog};
use crate::client::Connection;
use crate::errors::LedgerError;
use crate::ledger::Ledger;

/// Blocks per `eth_getLogs` request.
pub const LOG_WINDOW: u64 = 5_000;

/// A decoded event with where it was emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog<E> {
    /// The event.
    pub event: E,
    /// Emitting contract.
    pub address: Address,
    /// Block number.
    pub block_number: u64,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
}

/// Indexed-topic filter values (topics 1–3; `None` matches anything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topics(pub [Option<B256>; 3]);

impl Topics {
    /// No filter.
    pub fn any() -> Self {
        Topics::default()
    }

    /// Filter topic `i` (1-based, 1..=3) to `value`.
    pub fn with(mut self, i: usize, value: impl Into<TopicValue>) -> Self {
        self.0[i - 1] = Some(value.into().0);
        self
    }
}

/// A value usable as an indexed topic.
#[derive(Debug, Clone, Copy)]
pub struct TopicValue(pub B256);

impl From<B256> for TopicValue {
    fn from(v: B256) -> Self {
        TopicValue(v)
    }
}

impl From<Address> for TopicValue {
    fn from(v: Address) -> Self {
        TopicValue(v.into_word())
    }
}

impl From<U256> for TopicValue {
    fn from(v: U256) -> Self {
        TopicValue(B256::from(v))
    }
}

impl From<u64> for TopicValue {
    fn from(v: u64) -> Self {
        TopicValue(B256::from(U256::from(v)))
    }
}

/// Every `E` emitted by `address` on `conn` from block `from_block` to the latest, matching `topics`.
pub async fn query<E: SolEvent>(
    conn: &Connection,
    address: Address,
    topics: Topics,
    from_block: u64,
) -> Result<Vec<EventLog<E>>, LedgerError> {
    let latest = conn.block_number().await?;
    query_range(conn, address, topics, from_block, latest).await
}

/// Every `E` emitted by `address` in blocks `from_block..=to_block`, matching `topics`.
pub async fn query_range<E: SolEvent>(
    conn: &Connection,
    address: Address,
    topics: Topics,
    from_block: u64,
    to_block: u64,
) -> Result<Vec<EventLog<E>>, LedgerError> {
    let mut out = Vec::new();
    let mut start = from_block;
    while start <= to_block {
        let end = start.saturating_add(LOG_WINDOW - 1).min(to_block);
        let mut filter =
            Filter::new().address(address).event_signature(E::SIGNATURE_HASH).from_block(start).to_block(end);
        if let Some(t) = topics.0[0] {
            filter = filter.topic1(t);
        }
        if let Some(t) = topics.0[1] {
            filter = filter.topic2(t);
        }
        if let Some(t) = topics.0[2] {
            filter = filter.topic3(t);
        }
        for log in conn.provider().get_logs(&filter).await? {
            let decoded = E::decode_log(&log.inner)
                .map_err(|e| LedgerError::Decode { what: format!("{} log", E::SIGNATURE), message: e.to_string() })?;
            out.push(EventLog {
                event: decoded.data,
                address: log.address(),
                block_number: log.block_number.unwrap_or_default(),
                tx_hash: log.transaction_hash.unwrap_or_default(),
                log_index: log.log_index.unwrap_or_default(),
            });
        }
        // a node (or a caller) may number the last block u64::MAX
        let Some(next) = end.checked_add(1) else { break };
        start = next;
    }
    Ok(out)
}

/// A resumable subscription by polling `eth_getLogs` (works on every JSON-RPC node, including
/// ones without filters or websockets). Each [`EventCursor::poll`] returns the events of
/// the blocks that became final since the last poll — at least `confirmations` blocks
/// below the head, so a short reorganization cannot retract a delivered event — and
/// advances [`EventCursor::next_block`], which a service persists to resume after a restart.
#[derive(Debug, Clone)]
pub struct EventCursor<E> {
    address: Address,
    topics: Topics,
    next_block: u64,
    confirmations: u64,
    event: std::marker::PhantomData<fn() -> E>,
}

impl<E: SolEvent> EventCursor<E> {
    /// A cursor over `E` from `address`, starting at block `from_block`.
    pub fn new(address: Address, topics: Topics, from_block: u64, confirmations: u64) -> Self {
        EventCursor { address, topics, next_block: from_block, confirmations, event: std::marker::PhantomData }
    }

    /// The first block the next poll will read (persist this to resume).
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The events of the blocks that became final since the last poll, in chain order.
    pub async fn poll(&mut self, conn: &Connection) -> Result<Vec<EventLog<E>>, LedgerError> {
        let Some(last_final) = conn.block_number().await?.checked_sub(self.confirmations) else {
            return Ok(Vec::new());
        };
        if last_final < self.next_block {
            return Ok(Vec::new());
        }
        let events = query_range(conn, self.address, self.topics, self.next_block, last_final).await?;
        self.next_block = last_final + 1;
        Ok(events)
    }
}

/// Event queries of one [`Ledger`] (get it with [`Ledger::events`]).
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    ledger: &'a Ledger,
}

impl<'a> Events<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Events { ledger }
    }

    async fn shared<E: SolEvent>(&self, address: Address, topics: Topics) -> Result<Vec<EventLog<E>>, LedgerError> {
        let d = &self.ledger.deployment().shared;
        query(self.ledger.shared_account().connection(), address, topics, d.deployed_at_block).await
    }

    async fn consortium<E: SolEvent>(&self, address: Address, topics: Topics) -> Result<Vec<EventLog<E>>, LedgerError> {
        let d = &self.ledger.deployment().consortium;
        query(self.ledger.consortium_account().connection(), address, topics, d.deployed_at_block).await
    }

    // ---- RecordRegistry

    /// `RecordRegistered`, optionally of one owner.
    pub async fn records_registered(
        &self,
        owner: Option<Address>,
    ) -> Result<Vec<EventLog<RecordRegistry::RecordRegistered>>, LedgerError> {
        let mut t = Topics::any();
        if let Some(o) = owner {
            t = t.with(2, o);
        }
        self.shared(self.ledger.deployment().shared.record_registry, t).await
    }

    /// `PolicySet` of a record (all zero = revoked).
    pub async fn policies_set(&self, record_id: B256) -> Result<Vec<EventLog<RecordRegistry::PolicySet>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.record_registry, Topics::any().with(1, record_id)).await
    }

    /// `UpdateLicensed` of a record.
    pub async fn update_licenses(
        &self,
        record_id: B256,
    ) -> Result<Vec<EventLog<RecordRegistry::UpdateLicensed>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.record_registry, Topics::any().with(2, record_id)).await
    }

    /// `UpdateConfirmed` of a record.
    pub async fn updates_confirmed(
        &self,
        record_id: B256,
    ) -> Result<Vec<EventLog<RecordRegistry::UpdateConfirmed>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.record_registry, Topics::any().with(1, record_id)).await
    }

    // ---- AccessControl / KeyAuthorization

    /// `AccessRequested`, optionally by requester and/or for an enclave.
    pub async fn access_requested(
        &self,
        requester: Option<Address>,
        enclave: Option<Address>,
    ) -> Result<Vec<EventLog<AccessControl::AccessRequested>>, LedgerError> {
        let mut t = Topics::any();
        if let Some(r) = requester {
            t = t.with(2, r);
        }
        if let Some(e) = enclave {
            t = t.with(3, e);
        }
        self.shared(self.ledger.deployment().shared.access_control, t).await
    }

    /// The `AccessRequested` event of one request.
    pub async fn access_request(
        &self,
        request_id: U256,
    ) -> Result<Option<EventLog<AccessControl::AccessRequested>>, LedgerError> {
        let t = Topics::any().with(1, request_id);
        Ok(self.shared(self.ledger.deployment().shared.access_control, t).await?.into_iter().next())
    }

    /// `AccessCompleted`, optionally of one request.
    pub async fn access_completed(
        &self,
        request_id: Option<U256>,
    ) -> Result<Vec<EventLog<AccessControl::AccessCompleted>>, LedgerError> {
        let t = request_id.map(|r| Topics::any().with(1, r)).unwrap_or_default();
        self.shared(self.ledger.deployment().shared.access_control, t).await
    }

    /// `AccessRefunded`, optionally of one request.
    pub async fn access_refunded(
        &self,
        request_id: Option<U256>,
    ) -> Result<Vec<EventLog<AccessControl::AccessRefunded>>, LedgerError> {
        let t = request_id.map(|r| Topics::any().with(1, r)).unwrap_or_default();
        self.shared(self.ledger.deployment().shared.access_control, t).await
    }

    /// `Withdrawn`, optionally of one owner.
    pub async fn withdrawals(
        &self,
        owner: Option<Address>,
    ) -> Result<Vec<EventLog<AccessControl::Withdrawn>>, LedgerError> {
        let t = owner.map(|o| Topics::any().with(1, o)).unwrap_or_default();
        self.shared(self.ledger.deployment().shared.access_control, t).await
    }

    /// `KeyRequested` of a request (the grant: epoch and threshold).
    pub async fn key_requested(
        &self,
        request_id: U256,
    ) -> Result<Vec<EventLog<KeyAuthorization::KeyRequested>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.key_authorization, Topics::any().with(1, request_id)).await
    }

    /// `SharesSubmitted` for a request, in order.
    pub async fn shares_submitted(
        &self,
        request_id: U256,
    ) -> Result<Vec<EventLog<KeyAuthorization::SharesSubmitted>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.key_authorization, Topics::any().with(1, request_id)).await
    }

    /// `ThresholdReached` for a request.
    pub async fn threshold_reached(
        &self,
        request_id: U256,
    ) -> Result<Vec<EventLog<KeyAuthorization::ThresholdReached>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.key_authorization, Topics::any().with(1, request_id)).await
    }

    // ---- UpdateLog / EhrRegistry

    /// `UpdateAppended` of a record, in version order.
    pub async fn updates_appended(
        &self,
        record_id: B256,
    ) -> Result<Vec<EventLog<UpdateLog::UpdateAppended>>, LedgerError> {
        self.consortium(self.ledger.deployment().consortium.update_log, Topics::any().with(1, record_id)).await
    }

    /// `HashUpdated`, optionally of one patient.
    pub async fn hash_updated(
        &self,
        patient: Option<Address>,
    ) -> Result<Vec<EventLog<EhrRegistry::HashUpdated>>, LedgerError> {
        let t = patient.map(|p| Topics::any().with(1, p)).unwrap_or_default();
        self.consortium(self.ledger.deployment().consortium.ehr_registry, t).await
    }

    /// `BatchAnchored`, optionally of one doctor and/or one root.
    pub async fn batches_anchored(
        &self,
        doctor: Option<Address>,
        root: Option<B256>,
    ) -> Result<Vec<EventLog<EhrRegistry::BatchAnchored>>, LedgerError> {
        let mut t = Topics::any();
        if let Some(d) = doctor {
            t = t.with(1, d);
        }
        if let Some(r) = root {
            t = t.with(2, r);
        }
        self.consortium(self.ledger.deployment().consortium.ehr_registry, t).await
    }

    /// `WarrantRevokedByPatient`, optionally of one patient.
    pub async fn warrants_revoked(
        &self,
        patient: Option<Address>,
    ) -> Result<Vec<EventLog<EhrRegistry::WarrantRevokedByPatient>>, LedgerError> {
        let t = patient.map(|p| Topics::any().with(2, p)).unwrap_or_default();
        self.consortium(self.ledger.deployment().consortium.ehr_registry, t).await
    }

    // ---- Directory (shared ledger's; use `query` for the consortium's when not co-hosted)

    /// `EnclaveApproved` on the shared Directory.
    pub async fn enclaves_approved(&self) -> Result<Vec<EventLog<Directory::EnclaveApproved>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.directory, Topics::any()).await
    }

    /// `EnclaveRevoked` on the shared Directory.
    pub async fn enclaves_revoked(&self) -> Result<Vec<EventLog<Directory::EnclaveRevoked>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.directory, Topics::any()).await
    }

    /// `CommitteeSet` on the shared Directory, by epoch.
    pub async fn committees_set(&self) -> Result<Vec<EventLog<Directory::CommitteeSet>>, LedgerError> {
        self.shared(self.ledger.deployment().shared.directory, Topics::any()).await
    }

    /// `HospitalRegistered` on the consortium Directory.
    pub async fn hospitals_registered(&self) -> Result<Vec<EventLog<Directory::HospitalRegistered>>, LedgerError> {
        self.consortium(self.ledger.deployment().consortium.directory, Topics::any()).await
    }

    /// `DoctorRegistered` on the consortium Directory, optionally of one hospital.
    pub async fn doctors_registered(
        &self,
        hospital: Option<Address>,
    ) -> Result<Vec<EventLog<Directory::DoctorRegistered>>, LedgerError> {
        let t = hospital.map(|h| Topics::any().with(2, h)).unwrap_or_default();
        self.consortium(self.ledger.deployment().consortium.directory, t).await
    }
}
