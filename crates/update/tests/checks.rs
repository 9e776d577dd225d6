//! The update crate's decoders and checks refuse bad input with typed errors.

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolCall, SolEvent};
use healthchain_crypto::chameleon;
use healthchain_crypto::hash::sha256;
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use healthchain_enclave::protocol::LedgerName;
use healthchain_ledger::bindings::{RecordRegistry, UpdateLog};
use healthchain_ledger::{ConsortiumContracts, Deployment, SharedContracts};
use healthchain_update::history::{
    Fetched, ObjectFetch, Unqualified, VersionHint, check_entry, fold_head, verify_record,
};
use healthchain_update::manifest::ManifestError;
use healthchain_update::{ChainView, LedgerRpc, MAX_LOG_RANGE, Manifest, ReadError};
use serde_json::json;

fn deployment() -> Deployment {
    Deployment {
        shared: SharedContracts {
            chain_id: 1,
            directory: Address::repeat_byte(1),
            record_registry: Address::repeat_byte(2),
            access_control: Address::repeat_byte(3),
            key_authorization: Address::repeat_byte(4),
            deployed_at_block: 0,
        },
        consortium: ConsortiumContracts {
            chain_id: 1,
            directory: Address::repeat_byte(1),
            update_log: Address::repeat_byte(5),
            ehr_registry: Address::repeat_byte(6),
            deployed_at_block: 0,
        },
        co_hosted: true,
    }
}

/// Answers every request with the same bytes (or fails).
struct Canned(Result<Vec<u8>, String>);

impl LedgerRpc for Canned {
    fn request(&mut self, _: LedgerName, _: &[u8]) -> Result<Vec<u8>, String> {
        self.0.clone()
    }
}

#[test]
fn chain_reads_map_every_bad_answer_to_a_typed_error() {
    let deployment = deployment();
    let record = B256::repeat_byte(7);
    let mut down = Canned(Err("connection refused".into()));
    assert!(matches!(ChainView::new(&mut down, &deployment).log_of(record), Err(ReadError::Unreachable { .. })));

    let mut garbage = Canned(Ok(b"<html>".to_vec()));
    assert!(matches!(ChainView::new(&mut garbage, &deployment).shared_time(), Err(ReadError::Malformed { .. })));

    let mut error = Canned(Ok(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom"}}"#.to_vec()));
    let e = ChainView::new(&mut error, &deployment).license_of(record).unwrap_err();
    assert!(matches!(&e, ReadError::Rpc { message, .. } if message == "boom"), "{e}");

    let mut short = Canned(Ok(br#"{"jsonrpc":"2.0","id":1,"result":"0x1234"}"#.to_vec()));
    assert!(matches!(ChainView::new(&mut short, &deployment).log_of(record), Err(ReadError::Malformed { .. })));

    let mut not_logs = Canned(Ok(br#"{"jsonrpc":"2.0","id":1,"result":[{"nonsense":true}]}"#.to_vec()));
    assert!(matches!(ChainView::new(&mut not_logs, &deployment).appended(record, 0), Err(ReadError::Malformed { .. })));

    let mut no_result = Canned(Ok(br#"{"jsonrpc":"2.0","id":1}"#.to_vec()));
    assert!(matches!(
        ChainView::new(&mut no_result, &deployment).registration(record),
        Err(ReadError::Malformed { .. })
    ));
}

/// Log queries a [`Windowed`] ledger answers before it refuses, as a public endpoint's rate
/// limit would: a reader that loops fails rather than hangs.
const MAX_QUERIES: usize = 1_000;

/// A ledger of `latest` blocks with no logs that, like the embedded chain, refuses log
/// queries over more than `MAX_LOG_RANGE` blocks; remembers the ranges asked for.
struct Windowed {
    latest: u64,
    asked: Vec<(u64, u64)>,
}

impl LedgerRpc for Windowed {
    fn request(&mut self, _: LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
        let request: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let quantity =
            |v: &serde_json::Value| u64::from_str_radix(v.as_str().unwrap_or("x").trim_start_matches("0x"), 16);
        let reply = match request["method"].as_str() {
            Some("eth_blockNumber") => {
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": format!("0x{:x}", self.latest)})
            }
            Some("eth_getLogs") if self.asked.len() >= MAX_QUERIES => return Err("too many queries".into()),
            Some("eth_getLogs") => {
                let filter = &request["params"][0];
                let (from, to) = (quantity(&filter["fromBlock"]), quantity(&filter["toBlock"]));
                let (Ok(from), Ok(to)) = (from, to) else { return Err("fromBlock/toBlock must be numbers".into()) };
                self.asked.push((from, to));
                if to - from + 1 > MAX_LOG_RANGE {
                    serde_json::json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "range too wide"}})
                } else {
                    serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": []})
                }
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        Ok(reply.to_string().into_bytes())
    }
}

#[test]
fn log_queries_stay_within_the_range_a_ledger_answers() {
    let deployment = deployment();
    let mut ledger = Windowed { latest: 25_000, asked: Vec::new() };
    let found = ChainView::new(&mut ledger, &deployment).appended(B256::repeat_byte(7), 3).expect("windowed reads");
    assert!(found.is_empty());
    assert_eq!(ledger.asked, vec![(3, 10_002), (10_003, 20_002), (20_003, 25_000)]);

    let mut ahead = Windowed { latest: 2, asked: Vec::new() };
    assert!(
        ChainView::new(&mut ahead, &deployment).appended(B256::repeat_byte(7), 3).expect("nothing to read").is_empty()
    );
    assert!(ahead.asked.is_empty());
}

#[test]
fn log_queries_end_at_the_highest_block_number() {
    // Found with the fuzz target `record_verification`: with the latest block at u64::MAX,
    // the window after the last one started at u64::MAX + 1, which overflowed (wrapping to
    // block 0 in release builds, so the reads started over without end).
    let deployment = deployment();
    let mut ledger = Windowed { latest: u64::MAX, asked: Vec::new() };
    let found = ChainView::new(&mut ledger, &deployment)
        .appended(B256::repeat_byte(7), u64::MAX - 5)
        .expect("one window up to the last block");
    assert!(found.is_empty());
    assert_eq!(ledger.asked, vec![(u64::MAX - 5, u64::MAX)]);
}

/// Answers requests with `answers`, in order, then fails.
struct Scripted(std::collections::VecDeque<serde_json::Value>);

impl LedgerRpc for Scripted {
    fn request(&mut self, _: LedgerName, _: &[u8]) -> Result<Vec<u8>, String> {
        let result = self.0.pop_front().ok_or("no more answers")?;
        Ok(json!({"jsonrpc": "2.0", "id": 1, "result": result}).to_string().into_bytes())
    }
}

/// A store holding one object.
struct Holding(Vec<u8>);

impl ObjectFetch for Holding {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        if *address == sha256(&self.0) { Fetched::Found(self.0.clone()) } else { Fetched::Missing }
    }
}

#[test]
fn a_log_at_the_highest_version_leaves_no_claimed_version_after_it() {
    // Found with the fuzz target `record_verification`: an endpoint answering that the
    // record's log is at version u64::MAX made the first claimed version after it
    // u64::MAX + 1, which overflowed (in release builds: version 0, reported as claimed).
    let deployment = deployment();
    let record_id = B256::repeat_byte(7);
    let (_, public) = chameleon::keygen(&mut rand::rng());
    let (anchor, _) = chameleon::hash(&public, b"throw-away", &mut rand::rng());
    let manifest = Manifest {
        format: 1,
        chameleon_key: alloy_primitives::hex::encode(public.to_bytes()),
        wrapped_key: "00".into(),
        data_type: "fhir-r4".into(),
    }
    .to_bytes();
    let registered = RecordRegistry::RecordRegistered {
        recordId: record_id,
        owner: Address::repeat_byte(8),
        anchor: B256::from(anchor.to_bytes()),
        manifestHash: B256::from(sha256(&manifest)),
    };
    let log = alloy_rpc_types_eth::Log {
        inner: alloy_primitives::Log { address: deployment.shared.record_registry, data: registered.encode_log_data() },
        block_number: Some(1),
        ..Default::default()
    };
    let log_of = UpdateLog::logOfCall::abi_encode_returns(&UpdateLog::Log {
        head: B256::ZERO,
        version: u64::MAX,
        licenseSequence: Default::default(),
    });
    let answers = [json!("0x1"), json!([log]), json!(Bytes::from(log_of)), json!("0x1"), json!([])];
    let mut ledger = Scripted(answers.into());
    let claimed = VersionHint { version: 0, entry: [1; 32], check_string: [B256::ZERO; 2] };
    let report =
        verify_record(&mut ChainView::new(&mut ledger, &deployment), &mut Holding(manifest), record_id, &[claimed])
            .expect("a report");
    assert!(!report.log_consistent);
    assert!(report.versions.is_empty(), "{:?}", report.versions);
}

#[test]
fn manifests_are_checked() {
    let (_, public) = chameleon::keygen(&mut rand::rng());
    let good = Manifest {
        format: 1,
        chameleon_key: alloy_primitives::hex::encode(public.to_bytes()),
        wrapped_key: "00".into(),
        data_type: "fhir-r4".into(),
    };
    assert_eq!(Manifest::parse(&good.to_bytes()).unwrap(), good);
    assert!(matches!(Manifest::parse(b"{}"), Err(ManifestError::Malformed(_))));
    let future = Manifest { format: 2, ..good.clone() };
    assert_eq!(Manifest::parse(&future.to_bytes()), Err(ManifestError::Format(2)));
    let bad_key = Manifest { chameleon_key: "ff".repeat(32), ..good };
    assert_eq!(Manifest::parse(&bad_key.to_bytes()), Err(ManifestError::ChameleonKey));
}

#[test]
fn an_entry_must_match_the_logged_digest_and_check_string() {
    let rng = &mut rand::rng();
    let (trapdoor, public) = chameleon::keygen(rng);
    let (anchor, _) = chameleon::hash(&public, b"throw-away", rng);
    let record = RecordId([3; 32]);
    let genesis = DigestChain::genesis(record);
    let entry = b"ciphertext of version 1";
    let after = genesis.append(&entry_digest(entry));
    let check = chameleon::adapt(&trapdoor, &anchor, &after.message().to_bytes(), rng);
    let words = healthchain_ledger::ids::check_string_words(&check);
    let digest = B256::from(after.head());

    let address = sha256(entry);
    assert_eq!(check_entry(&anchor, &public, &genesis, digest, &words, &address).unwrap(), after);
    assert_eq!(
        check_entry(&anchor, &public, &genesis, digest, &words, &sha256(b"another entry")),
        Err(Unqualified::DigestMismatch)
    );
    let mut forged = words;
    forged[1].0[0] ^= 1;
    assert_eq!(
        check_entry(&anchor, &public, &genesis, digest, &forged, &address),
        Err(Unqualified::CheckStringInvalid)
    );
    let (_, other_key) = chameleon::keygen(rng);
    assert_eq!(
        check_entry(&anchor, &other_key, &genesis, digest, &words, &address),
        Err(Unqualified::CheckStringInvalid)
    );
    assert_eq!(fold_head(B256::ZERO, &[]), B256::ZERO);
}
