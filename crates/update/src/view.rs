//! Reading the two ledgers over raw JSON-RPC.
//!
//! The enclave has no network of its own: its requests go out through the host
//! (`Ocall::LedgerRpc`), which may lie. What the enclave relies on is therefore
//! cross-checked where the chain makes that possible: the `UpdateAppended` events it is
//! served must reproduce the hash-chain head `UpdateLog` keeps in storage, the manifest must
//! hash to the registered `manifestHash`, and `UpdateLog.append` re-checks the license terms,
//! its sequence and the enclave's signature on-chain. The same reader serves `verify` for
//! anyone, through an ordinary endpoint.

use alloy_primitives::{Address, B256, Bytes, hex};
use alloy_rpc_types_eth::Log;
use alloy_sol_types::{SolCall, SolEvent};
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::runtime::HostServices;
use healthchain_ledger::Deployment;
use healthchain_ledger::bindings::{RecordRegistry, UpdateLog};
use healthchain_ledger::contracts::{LicenseState, LogState};
use serde_json::{Value, json};

/// Why a chain read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ReadError {
    /// The request could not be delivered or answered.
    #[error("ledger {ledger} unreachable: {why}")]
    Unreachable {
        /// Which ledger.
        ledger: String,
        /// Why.
        why: String,
    },
    /// The endpoint answered with a JSON-RPC error.
    #[error("ledger {ledger} answered {method} with an error: {message}")]
    Rpc {
        /// Which ledger.
        ledger: String,
        /// The method called.
        method: String,
        /// The endpoint's message.
        message: String,
    },
    /// The answer does not have the shape the method promises.
    #[error("ledger {ledger} answered {method} with something malformed: {why}")]
    Malformed {
        /// Which ledger.
        ledger: String,
        /// The method called.
        method: String,
        /// What is wrong.
        why: String,
    },
}

/// The most blocks one `eth_getLogs` request spans.
pub const MAX_LOG_RANGE: u64 = 10_000;

/// A raw JSON-RPC channel to the two ledgers.
pub trait LedgerRpc {
    /// Sends one JSON-RPC request body to `ledger` and returns the response body.
    fn request(&mut self, ledger: LedgerName, body: &[u8]) -> Result<Vec<u8>, String>;
}

/// The enclave's ledger channel: JSON-RPC relayed by its host (`Ocall::LedgerRpc`), for
/// trusted applications reading the chain through a [`ChainView`].
pub struct HostLedger<'h, 'c>(pub &'h mut (dyn HostServices + 'c));

impl LedgerRpc for HostLedger<'_, '_> {
    fn request(&mut self, ledger: LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
        self.0.ledger_rpc(ledger, body).map_err(|e| e.to_string())
    }
}

/// A record's registration on the shared ledger (`RecordRegistered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    /// The record id.
    pub record_id: B256,
    /// Its owner.
    pub owner: Address,
    /// The chameleon anchor `h`.
    pub anchor: B256,
    /// SHA-256 of the manifest object.
    pub manifest_hash: B256,
    /// The block it was registered in.
    pub block: u64,
}

/// One `UpdateAppended` entry of `UpdateLog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoggedVersion {
    /// The version number (1-based).
    pub version: u64,
    /// `d_j`.
    pub digest: B256,
    /// The check string `(R, s)` as two words.
    pub check_string: [B256; 2],
    /// The license it consumed.
    pub license_id: B256,
    /// The enclave whose report the contract verified.
    pub enclave: Address,
    /// The hash-chain head after this entry.
    pub head: B256,
    /// The block it was appended in.
    pub block: u64,
}

impl Registration {
    /// The registration a `RecordRegistered` event in `block` records.
    pub fn from_event(e: &RecordRegistry::RecordRegistered, block: u64) -> Self {
        Registration { record_id: e.recordId, owner: e.owner, anchor: e.anchor, manifest_hash: e.manifestHash, block }
    }
}

impl LoggedVersion {
    /// The entry an `UpdateAppended` event in `block` records.
    pub fn from_event(e: &UpdateLog::UpdateAppended, block: u64) -> Self {
        LoggedVersion {
            version: e.version,
            digest: e.digest,
            check_string: e.checkString,
            license_id: e.licenseId,
            enclave: e.enclave,
            head: e.head,
            block,
        }
    }
}

/// Reads what the update flow and verification need, for one deployment.
pub struct ChainView<'a> {
    rpc: &'a mut dyn LedgerRpc,
    deployment: &'a Deployment,
    next_id: u64,
}

fn ledger_label(ledger: LedgerName) -> &'static str {
    match ledger {
        LedgerName::Shared => "shared",
        LedgerName::Consortium => "consortium",
    }
}

impl<'a> ChainView<'a> {
    /// A view of `deployment` through `rpc`.
    pub fn new(rpc: &'a mut dyn LedgerRpc, deployment: &'a Deployment) -> Self {
        ChainView { rpc, deployment, next_id: 1 }
    }

    /// The deployment this view reads.
    pub fn deployment(&self) -> &Deployment {
        self.deployment
    }

    fn malformed(ledger: LedgerName, method: &str, why: impl ToString) -> ReadError {
        ReadError::Malformed { ledger: ledger_label(ledger).into(), method: method.into(), why: why.to_string() }
    }

    fn call_raw(&mut self, ledger: LedgerName, method: &str, params: Value) -> Result<Value, ReadError> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let reply = self
            .rpc
            .request(ledger, body.as_bytes())
            .map_err(|why| ReadError::Unreachable { ledger: ledger_label(ledger).into(), why })?;
        let mut reply: Value = serde_json::from_slice(&reply).map_err(|e| Self::malformed(ledger, method, e))?;
        if let Some(error) = reply.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("unspecified").to_string();
            return Err(ReadError::Rpc { ledger: ledger_label(ledger).into(), method: method.into(), message });
        }
        match reply.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(Self::malformed(ledger, method, "no result")),
        }
    }

    /// `eth_call` of a view function at the latest block.
    pub fn eth_call<C: SolCall>(&mut self, ledger: LedgerName, to: Address, call: C) -> Result<C::Return, ReadError> {
        let data = Bytes::from(call.abi_encode());
        let result = self.call_raw(ledger, "eth_call", json!([{"to": to, "data": data}, "latest"]))?;
        let bytes: Bytes = serde_json::from_value(result).map_err(|e| Self::malformed(ledger, "eth_call", e))?;
        C::abi_decode_returns(&bytes).map_err(|e| Self::malformed(ledger, "eth_call", e))
    }

    /// The latest block number of `ledger`.
    pub fn block_number(&mut self, ledger: LedgerName) -> Result<u64, ReadError> {
        let result = self.call_raw(ledger, "eth_blockNumber", json!([]))?;
        let number = result.as_str().unwrap_or_default();
        u64::from_str_radix(number.trim_start_matches("0x"), 16)
            .map_err(|_| Self::malformed(ledger, "eth_blockNumber", "not a hex quantity"))
    }

    /// The `E` events of `address` whose first indexed topic is `topic1`, from `from_block`
    /// on, with their block numbers. Asked for in windows of [`MAX_LOG_RANGE`] blocks, the
    /// widest range the embedded chain (like most public endpoints) answers.
    pub fn events<E: SolEvent>(
        &mut self,
        ledger: LedgerName,
        address: Address,
        topic1: B256,
        from_block: u64,
    ) -> Result<Vec<(E, u64)>, ReadError> {
        let latest = self.block_number(ledger)?;
        let mut found = Vec::new();
        let mut from = from_block;
        while from <= latest {
            let to = latest.min(from.saturating_add(MAX_LOG_RANGE - 1));
            found.extend(self.events_between::<E>(ledger, address, topic1, from, to)?);
            // the ledger (or a host that lies) may number its latest block u64::MAX
            let Some(next) = to.checked_add(1) else { break };
            from = next;
        }
        Ok(found)
    }

    fn events_between<E: SolEvent>(
        &mut self,
        ledger: LedgerName,
        address: Address,
        topic1: B256,
        from: u64,
        to: u64,
    ) -> Result<Vec<(E, u64)>, ReadError> {
        let filter = json!([{
            "address": address,
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
            "topics": [E::SIGNATURE_HASH, topic1],
        }]);
        let result = self.call_raw(ledger, "eth_getLogs", filter)?;
        let logs: Vec<Log> = serde_json::from_value(result).map_err(|e| Self::malformed(ledger, "eth_getLogs", e))?;
        logs.into_iter()
            .map(|log| {
                let block =
                    log.block_number.ok_or_else(|| Self::malformed(ledger, "eth_getLogs", "log without block"))?;
                let decoded = log.log_decode::<E>().map_err(|e| Self::malformed(ledger, "eth_getLogs", e))?;
                if decoded.inner.address != address {
                    return Err(Self::malformed(ledger, "eth_getLogs", "log from another contract"));
                }
                Ok((decoded.inner.data, block))
            })
            .collect()
    }

    /// Unix time of the shared ledger's latest block (what license expiry is measured against).
    pub fn shared_time(&mut self) -> Result<u64, ReadError> {
        let block = self.call_raw(LedgerName::Shared, "eth_getBlockByNumber", json!(["latest", false]))?;
        let timestamp = block.get("timestamp").and_then(Value::as_str).unwrap_or_default();
        u64::from_str_radix(timestamp.trim_start_matches("0x"), 16)
            .map_err(|_| Self::malformed(LedgerName::Shared, "eth_getBlockByNumber", "no timestamp"))
    }

    /// The record's registration, if it is registered.
    pub fn registration(&mut self, record_id: B256) -> Result<Option<Registration>, ReadError> {
        let shared = self.deployment.shared;
        let found = self.events::<RecordRegistry::RecordRegistered>(
            LedgerName::Shared,
            shared.record_registry,
            record_id,
            shared.deployed_at_block,
        )?;
        Ok(found
            .into_iter()
            .find(|(e, _)| e.recordId == record_id)
            .map(|(e, block)| Registration::from_event(&e, block)))
    }

    /// The record's open license and last confirmed version (`RecordRegistry.licenseOf`).
    pub fn license_of(&mut self, record_id: B256) -> Result<LicenseState, ReadError> {
        let registry = self.deployment.shared.record_registry;
        Ok(self.eth_call(LedgerName::Shared, registry, RecordRegistry::licenseOfCall { recordId: record_id })?.into())
    }

    /// The record's `UpdateLog` state: latest version and hash-chain head.
    pub fn log_of(&mut self, record_id: B256) -> Result<LogState, ReadError> {
        let log = self.deployment.consortium.update_log;
        let l = self.eth_call(LedgerName::Consortium, log, UpdateLog::logOfCall { recordId: record_id })?;
        Ok(log_state(l))
    }

    /// The `UpdateLog` states of `record_ids`, in order, read with one call.
    pub fn logs_of(&mut self, record_ids: &[B256]) -> Result<Vec<LogState>, ReadError> {
        let log = self.deployment.consortium.update_log;
        let logs =
            self.eth_call(LedgerName::Consortium, log, UpdateLog::logsOfCall { recordIds: record_ids.to_vec() })?;
        if logs.len() != record_ids.len() {
            return Err(Self::malformed(
                LedgerName::Consortium,
                "eth_call",
                format!("logsOf answered {} logs for {} records", logs.len(), record_ids.len()),
            ));
        }
        Ok(logs.into_iter().map(log_state).collect())
    }

    /// The record's `UpdateAppended` entries from `from_block` on, in log order.
    pub fn appended(&mut self, record_id: B256, from_block: u64) -> Result<Vec<LoggedVersion>, ReadError> {
        let log = self.deployment.consortium.update_log;
        let from = from_block.max(self.deployment.consortium.deployed_at_block);
        let found = self.events::<UpdateLog::UpdateAppended>(LedgerName::Consortium, log, record_id, from)?;
        Ok(found
            .into_iter()
            .filter(|(e, _)| e.recordId == record_id)
            .map(|(e, block)| LoggedVersion::from_event(&e, block))
            .collect())
    }
}

fn log_state(l: UpdateLog::Log) -> LogState {
    LogState { head: l.head, version: l.version, license_sequence: l.licenseSequence.to::<u32>() }
}

/// Hex of a 32-byte value, for messages.
pub(crate) fn short(value: &[u8]) -> String {
    let full = hex::encode(value);
    format!("0x{}…", &full[..12.min(full.len())])
}
