//! The shared-ledger reads of Algorithm 2, on top of the relayed [`ChainView`] of the
//! update application (`eth_call` and topic-filtered `eth_getLogs`).
//!
//! Every read costs O(1) requests independent of the number of records, except the
//! committee (one `committeeMember` call per seat, at most 64): the request, its event, the
//! grant and all share submissions are one query each; the records' registrations and log
//! entries are read for hundreds of records per query by [`LogReader`]. What the host could forge is
//! cross-checked where the chain allows it: the `AccessRequested` event must reproduce the
//! `termsHash` that `AccessControl` keeps in storage (job hash and policies), and each
//! record's registered owner must be the owner in its policy word.

use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::Log;
use alloy_sol_types::SolEvent;
use healthchain_crypto::keywrap::{self, Committee, DecryptionShare};
use healthchain_enclave::protocol::LedgerName;
use healthchain_ledger::bindings::{AccessControl, Directory, KeyAuthorization};
use healthchain_ledger::contracts::AccessRequest;
use healthchain_ledger::ids::Grant;
pub use healthchain_update::view::ReadError;
use healthchain_update::view::{ChainView, LedgerRpc, MAX_LOG_RANGE};
use serde_json::{Value, json};

/// The topic under which `AccessControl` and `KeyAuthorization` index request `id`.
pub fn request_topic(request_id: u64) -> B256 {
    B256::from(U256::from(request_id))
}

/// `AccessControl.requestOf(id)`.
pub fn access_request(view: &mut ChainView<'_>, request_id: u64) -> Result<AccessRequest, ReadError> {
    let access_control = view.deployment().shared.access_control;
    let call = AccessControl::requestOfCall { requestId: U256::from(request_id) };
    Ok(view.eth_call(LedgerName::Shared, access_control, call)?.into())
}

/// The `AccessRequested` event of request `id` (record ids, policy words, job hash, enclave).
pub fn access_requested(
    view: &mut ChainView<'_>,
    request_id: u64,
) -> Result<Option<AccessControl::AccessRequested>, ReadError> {
    let shared = view.deployment().shared;
    let found = view.events::<AccessControl::AccessRequested>(
        LedgerName::Shared,
        shared.access_control,
        request_topic(request_id),
        shared.deployed_at_block,
    )?;
    Ok(found.into_iter().map(|(e, _)| e).find(|e| e.requestId == U256::from(request_id)))
}

/// `KeyAuthorization.grantOf(id)`, unpacked.
pub fn grant(view: &mut ChainView<'_>, request_id: u64) -> Result<Grant, ReadError> {
    let keys = view.deployment().shared.key_authorization;
    let word =
        view.eth_call(LedgerName::Shared, keys, KeyAuthorization::grantOfCall { requestId: U256::from(request_id) })?;
    Ok(Grant::unpack(word))
}

/// The committee of `epoch` as the Directory describes it: `t`, `PK_KA`, and per seat
/// (index `i + 1` in the Shamir sharing) the member's account and share key.
pub struct OnChainCommittee {
    /// The public committee, for share verification and opening.
    pub committee: Committee,
    /// Seat `i`'s account.
    pub members: Vec<Address>,
}

/// Why the Directory's committee could not be used (the caller wraps it with the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitteeRead {
    /// The chain could not be read.
    Ledger(ReadError),
    /// The committee on-chain is malformed.
    Malformed(String),
}

impl From<ReadError> for CommitteeRead {
    fn from(e: ReadError) -> Self {
        CommitteeRead::Ledger(e)
    }
}

/// Reads the committee of `epoch` from the shared Directory.
pub fn committee(view: &mut ChainView<'_>, epoch: u32) -> Result<OnChainCommittee, CommitteeRead> {
    let directory = view.deployment().shared.directory;
    let on_chain = view.eth_call(LedgerName::Shared, directory, Directory::committeeOfCall { epoch })?;
    let key = keywrap::PublicKey::from_bytes(on_chain.key.as_slice())
        .map_err(|_| CommitteeRead::Malformed("its key PK_KA is not a valid point".into()))?;
    let mut members = Vec::with_capacity(usize::from(on_chain.size));
    let mut shares = Vec::with_capacity(usize::from(on_chain.size));
    for index in 0..u32::from(on_chain.size) {
        let call = Directory::committeeMemberCall { epoch, index: U256::from(index) };
        let member = view.eth_call(LedgerName::Shared, directory, call)?;
        let share_key = keywrap::PublicKey::from_bytes(member.shareKey.as_slice())
            .map_err(|_| CommitteeRead::Malformed(format!("seat {index}'s share key is not a valid point")))?;
        members.push(member.member);
        shares.push((index + 1, share_key));
    }
    let committee = Committee::new(usize::from(on_chain.threshold), key, shares)
        .map_err(|e| CommitteeRead::Malformed(e.to_string()))?;
    Ok(OnChainCommittee { committee, members })
}

/// One member's submission: its seat's decryption share per record of the request, in
/// request order; `None` where the bytes do not decode (a share that can never verify).
pub struct Submission {
    /// The submitting account.
    pub member: Address,
    /// Its Shamir index (seat + 1).
    pub index: u32,
    /// Shares per record.
    pub shares: Vec<Option<DecryptionShare>>,
}

/// Every `SharesSubmitted` of request `id`, decoded. A submission whose share count or proof
/// length does not match `record_count`, or whose account does not hold the seat it claims
/// in `committee`, is dropped: it cannot contribute a share.
pub fn submissions(
    view: &mut ChainView<'_>,
    request_id: u64,
    record_count: usize,
    committee: &OnChainCommittee,
) -> Result<Vec<Submission>, ReadError> {
    let shared = view.deployment().shared;
    let found = view.events::<KeyAuthorization::SharesSubmitted>(
        LedgerName::Shared,
        shared.key_authorization,
        request_topic(request_id),
        shared.deployed_at_block,
    )?;
    let mut out = Vec::new();
    for (event, _) in found {
        if event.requestId != U256::from(request_id)
            || event.shares.len() != record_count
            || event.proofs.len() != record_count * 64
        {
            continue;
        }
        let Ok(seat) = usize::try_from(event.memberIndex) else { continue };
        if committee.members.get(seat) != Some(&event.member) {
            continue;
        }
        let index = seat as u32 + 1;
        let shares = event
            .shares
            .iter()
            .zip(event.proofs.chunks_exact(64))
            .map(|(share, proof)| {
                let mut bytes = [0u8; DecryptionShare::LEN];
                bytes[..4].copy_from_slice(&index.to_be_bytes());
                bytes[4..36].copy_from_slice(share.as_slice());
                bytes[36..].copy_from_slice(proof);
                DecryptionShare::from_bytes(&bytes).ok()
            })
            .collect();
        out.push(Submission { member: event.member, index, shares });
    }
    Ok(out)
}

/// How many topic values one `eth_getLogs` filter ORs together at first; a query the
/// endpoint refuses (too many results) is split in halves and retried.
pub const TOPICS_PER_QUERY: usize = 1024;

/// `eth_getLogs` for many first-topic values at once.
///
/// [`ChainView::events`] asks for one topic value (one record) per query, and every query
/// scans its whole block range; the share application needs the registration and the log
/// entries of up to 65,535 records, so asking per record would cost O(records × blocks) —
/// quadratic, since the chain grows with the records. This reader ORs up to
/// [`TOPICS_PER_QUERY`] record ids into one filter, in the same [`MAX_LOG_RANGE`]-block
/// windows, so one scan of the chain serves hundreds of records. It speaks raw JSON-RPC over
/// the same untrusted [`LedgerRpc`] channel; what it returns is checked by the caller like
/// everything else the host serves.
pub struct LogReader<'a> {
    rpc: &'a mut dyn LedgerRpc,
    next_id: u64,
}

fn label(ledger: LedgerName) -> String {
    match ledger {
        LedgerName::Shared => "shared".into(),
        LedgerName::Consortium => "consortium".into(),
    }
}

impl<'a> LogReader<'a> {
    /// A reader over `rpc`.
    pub fn new(rpc: &'a mut dyn LedgerRpc) -> Self {
        LogReader { rpc, next_id: 1 }
    }

    fn call(&mut self, ledger: LedgerName, method: &str, params: Value) -> Result<Value, ReadError> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let malformed = |why: String| ReadError::Malformed { ledger: label(ledger), method: method.into(), why };
        let reply = self
            .rpc
            .request(ledger, body.as_bytes())
            .map_err(|why| ReadError::Unreachable { ledger: label(ledger), why })?;
        let mut reply: Value = serde_json::from_slice(&reply).map_err(|e| malformed(e.to_string()))?;
        if let Some(error) = reply.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("unspecified").to_string();
            return Err(ReadError::Rpc { ledger: label(ledger), method: method.into(), message });
        }
        match reply.get_mut("result") {
            Some(result) => Ok(result.take()),
            None => Err(malformed("no result".into())),
        }
    }

    /// The `E` events of `address` whose first indexed topic is one of `topics`, from
    /// `from_block` to the latest block, with their block numbers, in chain order per query.
    pub fn events_for<E: SolEvent>(
        &mut self,
        ledger: LedgerName,
        address: Address,
        topics: &[B256],
        from_block: u64,
    ) -> Result<Vec<(E, u64)>, ReadError> {
        let latest = self.call(ledger, "eth_blockNumber", json!([]))?;
        let latest = latest
            .as_str()
            .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| ReadError::Malformed {
                ledger: label(ledger),
                method: "eth_blockNumber".into(),
                why: "not a hex quantity".into(),
            })?;
        let mut found = Vec::new();
        for chunk in topics.chunks(TOPICS_PER_QUERY) {
            let mut from = from_block;
            while from <= latest {
                let to = latest.min(from.saturating_add(MAX_LOG_RANGE - 1));
                self.window::<E>(ledger, address, chunk, from, to, &mut found)?;
                // the ledger (or a host that lies) may number its latest block u64::MAX
                let Some(next) = to.checked_add(1) else { break };
                from = next;
            }
        }
        Ok(found)
    }

    fn window<E: SolEvent>(
        &mut self,
        ledger: LedgerName,
        address: Address,
        topics: &[B256],
        from: u64,
        to: u64,
        found: &mut Vec<(E, u64)>,
    ) -> Result<(), ReadError> {
        let filter = json!([{
            "address": address,
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
            "topics": [E::SIGNATURE_HASH, topics],
        }]);
        let result = match self.call(ledger, "eth_getLogs", filter) {
            Ok(result) => result,
            // too many results for one answer: ask for each half of the topics
            Err(ReadError::Rpc { .. }) if topics.len() > 1 => {
                let (left, right) = topics.split_at(topics.len() / 2);
                self.window(ledger, address, left, from, to, found)?;
                return self.window(ledger, address, right, from, to, found);
            }
            Err(e) => return Err(e),
        };
        let malformed = |why: String| ReadError::Malformed { ledger: label(ledger), method: "eth_getLogs".into(), why };
        let logs: Vec<Log> = serde_json::from_value(result).map_err(|e| malformed(e.to_string()))?;
        for log in logs {
            let block = log.block_number.ok_or_else(|| malformed("log without block".into()))?;
            let decoded = log.log_decode::<E>().map_err(|e| malformed(e.to_string()))?;
            if decoded.inner.address != address {
                return Err(malformed("log from another contract".into()));
            }
            found.push((decoded.inner.data, block));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;
    use healthchain_ledger::bindings::RecordRegistry;

    /// An endpoint at block 5 that answers at most `max_topics` OR'd topics per `eth_getLogs`
    /// (more is an error, as a node's result cap would be) with one `RecordRegistered` per
    /// asked record id, and counts the queries.
    struct Endpoint {
        registry: Address,
        max_topics: usize,
        queries: usize,
    }

    impl LedgerRpc for Endpoint {
        fn request(&mut self, _: LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
            let request: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let result = match request["method"].as_str() {
                Some("eth_blockNumber") => json!("0x5"),
                Some("eth_getLogs") => {
                    self.queries += 1;
                    let asked = request["params"][0]["topics"][1].as_array().cloned().unwrap_or_default();
                    if asked.len() > self.max_topics {
                        return Ok(json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": "too many logs"}}).to_string().into_bytes());
                    }
                    let logs: Vec<Value> = asked
                        .iter()
                        .map(|id| {
                            let record_id: B256 = serde_json::from_value(id.clone()).expect("a topic");
                            let event = RecordRegistry::RecordRegistered {
                                recordId: record_id,
                                owner: Address::repeat_byte(7),
                                anchor: B256::repeat_byte(1),
                                manifestHash: B256::repeat_byte(2),
                            };
                            let data = event.encode_log_data();
                            json!({
                                "address": self.registry,
                                "topics": data.topics(),
                                "data": format!("0x{}", hex::encode(&data.data)),
                                "blockNumber": "0x3",
                                "blockHash": B256::repeat_byte(3),
                                "transactionHash": B256::repeat_byte(4),
                                "transactionIndex": "0x0",
                                "logIndex": "0x0",
                                "removed": false,
                            })
                        })
                        .collect();
                    Value::Array(logs)
                }
                other => return Err(format!("unexpected {other:?}")),
            };
            Ok(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}).to_string().into_bytes())
        }
    }

    #[test]
    fn many_records_are_read_per_query_and_refused_queries_are_split() {
        let registry = Address::repeat_byte(9);
        let ids: Vec<B256> = (1..=5u8).map(B256::repeat_byte).collect();

        let mut roomy = Endpoint { registry, max_topics: 256, queries: 0 };
        let found = LogReader::new(&mut roomy)
            .events_for::<RecordRegistry::RecordRegistered>(LedgerName::Shared, registry, &ids, 0)
            .unwrap();
        assert_eq!(found.iter().map(|(e, _)| e.recordId).collect::<Vec<_>>(), ids);
        assert!(found.iter().all(|(e, block)| *block == 3 && e.owner == Address::repeat_byte(7)));
        assert_eq!(roomy.queries, 1, "one query serves every record");

        let mut tight = Endpoint { registry, max_topics: 2, queries: 0 };
        let found = LogReader::new(&mut tight)
            .events_for::<RecordRegistry::RecordRegistered>(LedgerName::Shared, registry, &ids, 0)
            .unwrap();
        assert_eq!(found.iter().map(|(e, _)| e.recordId).collect::<Vec<_>>(), ids, "nothing lost by splitting");
        assert!(tight.queries > 1);

        // a log from another contract is refused, not silently used
        let mut other = Endpoint { registry: Address::repeat_byte(8), max_topics: 256, queries: 0 };
        let refused = LogReader::new(&mut other).events_for::<RecordRegistry::RecordRegistered>(
            LedgerName::Shared,
            registry,
            &ids,
            0,
        );
        assert!(matches!(refused, Err(ReadError::Malformed { .. })));
    }

    #[test]
    fn share_contexts_bind_request_and_record() {
        let a = crate::share_context(1, B256::repeat_byte(1));
        assert_ne!(a, crate::share_context(2, B256::repeat_byte(1)));
        assert_ne!(a, crate::share_context(1, B256::repeat_byte(2)));
        assert_ne!(crate::result_context(1), crate::result_context(2));
    }
}
