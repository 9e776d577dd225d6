//! Writes the generated seeds of every target into `corpus/<target>/`: valid messages built
//! from the fixtures the targets share (so each target accepts them), a few near misses,
//! and record versions cut from Synthea bundles. Run from `fuzz/`:
//!
//! ```text
//! cargo +nightly run --example write_seeds [SHARED_DATA_DIR]   # default ../../shared/data
//! ```
//!
//! Real FHIR files (the HL7 examples and invalid cases) are copied by hand; see README.md.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, Log as LogEntry, hex};
use alloy_rpc_types_eth::Log;
use alloy_sol_types::{SolCall, SolEvent};
use healthchain_crypto::chameleon;
use healthchain_crypto::hash::sha256;
use healthchain_crypto::merkle;
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest_of_address};
use healthchain_ehr::{BatchEhr, BenchRequest, BenchRow, EhrRequest, NewEhr};
use healthchain_enclave::protocol::{
    Ecall, EcallResult, FrameKind, Launch, LedgerName, Ocall, OcallResult, Refusal, RefusalCode, encode_relayed,
    write_frame,
};
use healthchain_enclave::runtime::{AppCall, AppError, AppReply};
use healthchain_enclave::sealing::SealingKey;
use healthchain_fhir::split_into_versions;
use healthchain_fuzz::chain::deployed;
use healthchain_fuzz::fixtures::{self, Account};
use healthchain_fuzz::input::{join, selected};
use healthchain_jobs::{JobSpec, RecordInput};
use healthchain_ledger::bindings::{RecordRegistry, UpdateLog};
use healthchain_share::ShareRequest;
use healthchain_update::api::UpdateRequest;
use healthchain_update::history::{VersionHint, fold_head};
use healthchain_update::view::LoggedVersion;
use serde_json::json;
use zeroize::Zeroizing;

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::args().nth(1).map_or_else(|| fuzz.join("../../shared/data"), PathBuf::from);
    let corpus = Corpus(fuzz.join("corpus"));
    session_messages(&corpus);
    enclave_requests(&corpus);
    evidence(&corpus);
    chameleon(&corpus);
    wrapped_keys(&corpus);
    ciphertexts(&corpus);
    record_verification(&corpus);
    trusted_apps(&corpus);
    ehr_requests(&corpus);
    job_specs(&corpus);
    json_rpc(&corpus);
    api_json(&corpus);
    fhir_versions(&corpus, &shared.join("fhir/synthea"));
}

struct Corpus(PathBuf);

impl Corpus {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("a seed file");
    }
}

fn postcard<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("seeds encode")
}

fn session_messages(corpus: &Corpus) {
    let mut handshake = fixtures::handshake();
    corpus.write("session_messages", "client-hello", &selected(0, &handshake.hello.to_bytes()));
    corpus.write("session_messages", "client-hello-low-order", &selected(0, &[0; 84]));
    corpus.write("session_messages", "server-hello", &selected(1, &handshake.reply.to_bytes()));
    corpus.write("session_messages", "client-finish", &selected(2, &handshake.finish.to_bytes()));
    let call =
        postcard(&AppCall { app: "ehr".into(), request: postcard(&EhrRequest::List { patient: Address::ZERO }) });
    let requests: Vec<Vec<u8>> = (0..3).map(|_| handshake.client.seal(&call).expect("a fresh session")).collect();
    let requests: Vec<&[u8]> = requests.iter().map(Vec::as_slice).collect();
    corpus.write("session_messages", "records-to-enclave", &selected(3, &selected(0, &join(&requests))));
    let reply = handshake.server.seal(&postcard(&AppReply::Ok(b"reply".to_vec()))).expect("a fresh session");
    corpus.write("session_messages", "record-to-client", &selected(3, &selected(1, &join(&[&reply]))));
}

fn frame(kind: FrameKind, header: &impl serde::Serialize, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, kind, header, body).expect("a seed frame");
    out
}

fn enclave_requests(corpus: &Corpus) {
    let hello = fixtures::handshake().hello.to_bytes();
    let launch =
        Launch { platform_secret: fixtures::PLATFORM_SECRET, max_body: 1 << 20, data_dir: "/tmp/enclave".into() };
    let frames = [
        frame(FrameKind::Launch, &launch, &[]),
        frame(FrameKind::Ready, &fixtures::evidence(), &[]),
        frame(FrameKind::Ecall, &Ecall::SessionOpen, &hello),
        frame(FrameKind::EcallResult, &EcallResult::SessionOpened { session: 7 }, b"server hello"),
        frame(FrameKind::Ocall, &Ocall::GetObjects { addresses: vec![[1; 32], [2; 32]] }, &[]),
        frame(FrameKind::OcallResult, &OcallResult::Objects { lengths: vec![Some(3), None] }, b"abc"),
        frame(FrameKind::Ocall, &Ocall::LedgerRpc { ledger: LedgerName::Consortium }, b"{}"),
        frame(FrameKind::OcallResult, &OcallResult::Failed("offline".into()), &[]),
    ];
    corpus.write("enclave_requests", "frames", &selected(0, &frames.concat()));
    let ecalls = [
        ("ping", Ecall::Ping, &[][..]),
        ("evidence", Ecall::Evidence, &[]),
        ("transfer", Ecall::Transfer, b"bulk bytes"),
        ("session-open", Ecall::SessionOpen, &hello),
        ("session-finish", Ecall::SessionFinish { session: 7 }, &[0; 97]),
        ("session-record", Ecall::SessionRecord { session: 7 }, &[0; 40]),
        ("session-close", Ecall::SessionClose { session: 7 }, &[]),
    ];
    for (name, ecall, body) in ecalls {
        corpus.write("enclave_requests", &format!("relayed-{name}"), &selected(1, &encode_relayed(&ecall, body)));
    }
    let results = [
        ("pong", EcallResult::Pong),
        ("evidence", EcallResult::Evidence(fixtures::evidence())),
        ("established", EcallResult::SessionEstablished { client: [0x11; 20] }),
        ("refused", EcallResult::Refused(Refusal { code: RefusalCode::UnknownSession, message: "gone".into() })),
    ];
    for (name, result) in results {
        corpus.write("enclave_requests", &format!("result-{name}"), &selected(2, &encode_relayed(&result, b"body")));
    }
    let call = AppCall { app: "update".into(), request: b"request".to_vec() };
    corpus.write("enclave_requests", "app-call", &selected(3, &postcard(&call)));
    corpus.write("enclave_requests", "app-reply-ok", &selected(4, &postcard(&AppReply::Ok(b"response".to_vec()))));
    let refused = AppReply::Err(AppError { app: "ehr".into(), message: "refused".into() });
    corpus.write("enclave_requests", "app-reply-err", &selected(4, &postcard(&refused)));
}

fn evidence(corpus: &Corpus) {
    let genuine = fixtures::evidence();
    corpus.write("evidence", "postcard", &selected(0, &postcard(&genuine)));
    corpus.write("evidence", "json", &selected(1, &serde_json::to_vec(&genuine).expect("evidence encodes")));
    let hardware = healthchain_enclave::evidence::Evidence { simulated: false, ..genuine.clone() };
    corpus.write("evidence", "postcard-not-simulated", &selected(0, &postcard(&hardware)));
    let other = healthchain_enclave::evidence::Evidence { measurement: [0x34; 32], ..genuine };
    corpus.write("evidence", "json-other-measurement", &selected(1, &serde_json::to_vec(&other).expect("encodes")));
}

fn chameleon(corpus: &Corpus) {
    let trapdoor = fixtures::chameleon_trapdoor();
    let public = trapdoor.public_key().to_bytes();
    let (anchor, check) = fixtures::chameleon_anchor();
    let genuine = join(&[&public, &anchor.to_bytes(), &check.to_bytes(), fixtures::CHAMELEON_MESSAGE]);
    corpus.write("chameleon", "genuine", &genuine);
    // another record's anchor and an opening adapted with its trapdoor: `check` succeeds on
    // the decoded values, while the target's own anchor stays closed to it
    let other = chameleon::keygen(&mut fixtures::rng(20)).0;
    let (other_anchor, _) = chameleon::hash(&other.public_key(), b"version 1", &mut fixtures::rng(21));
    let message = b"version 2";
    let adapted = chameleon::adapt(&other, &other_anchor, message, &mut fixtures::rng(22));
    let pieces: [&[u8]; 4] = [&other.public_key().to_bytes(), &other_anchor.to_bytes(), &adapted.to_bytes(), message];
    corpus.write("chameleon", "other-record-adapted", &join(&pieces));
    corpus.write("chameleon", "trapdoor", &join(&[&trapdoor.to_bytes(), &[0; 32], &[0xff; 64], b""]));
}

fn wrapped_keys(corpus: &Corpus) {
    corpus.write("wrapped_keys", "inner-layer", &selected(0, &fixtures::inner_layer().to_bytes()));
    corpus.write("wrapped_keys", "outer-layer", &selected(0, &fixtures::outer_layer().to_bytes()));
    let shares: Vec<[u8; 100]> = fixtures::decryption_shares().iter().map(|s| s.to_bytes()).collect();
    corpus.write("wrapped_keys", "shares", &selected(1, &join(&[&shares[0], &shares[2]])));
    corpus.write("wrapped_keys", "one-share-twice", &selected(1, &join(&[&shares[1], &shares[1]])));
    let (committee, key_shares) = fixtures::committee();
    corpus.write("wrapped_keys", "public-key", &selected(2, &committee.key().to_bytes()));
    corpus.write("wrapped_keys", "key-share", &selected(2, &key_shares[0].to_bytes()));
    let members: Vec<Vec<u8>> =
        committee.members().iter().map(|(index, key)| [&index.to_be_bytes()[..], &key.to_bytes()].concat()).collect();
    let members: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
    corpus.write("wrapped_keys", "committee", &selected(3, &selected(2, &join(&members))));
}

fn ciphertexts(corpus: &Corpus) {
    for (name, entry) in ["entry", "entry-chunked"].iter().zip(fixtures::sealed_entries()) {
        corpus.write("ciphertexts", name, &selected(0, &entry));
    }
    corpus.write("ciphertexts", "treatment-delivery", &selected(1, &fixtures::treatment_delivery()));
    corpus.write("ciphertexts", "treatment-message", &selected(2, &fixtures::treatment_message()));
    let sealing = SealingKey::derive(&fixtures::PLATFORM_SECRET, &fixtures::MEASUREMENT);
    let blob = sealing.seal(fixtures::SEALED_LABEL, fixtures::SEALED_PLAINTEXT);
    corpus.write("ciphertexts", "sealed-blob", &selected(3, &blob));
    let proof = merkle::proof_to_bytes(&fixtures::batch_tree().proof(2).expect("a leaf of the batch"));
    let merkle = join(&[&2u32.to_le_bytes(), b"ehr-2", &proof, &fixtures::BATCH.to_le_bytes()]);
    corpus.write("ciphertexts", "merkle-proof", &selected(4, &merkle));
}

fn answer(result: serde_json::Value) -> Vec<u8> {
    [&[0u8][..], json!({"jsonrpc": "2.0", "id": 1, "result": result}).to_string().as_bytes()].concat()
}

fn log(address: Address, data: alloy_primitives::LogData, block: u64) -> Log {
    Log {
        inner: LogEntry { address, data },
        block_hash: Some(B256::repeat_byte(0xb0)),
        block_number: Some(block),
        block_timestamp: None,
        transaction_hash: Some(B256::repeat_byte(0xb1)),
        transaction_index: Some(0),
        log_index: Some(0),
        removed: false,
    }
}

/// A record registered with one logged version whose entry, digest and check string all
/// verify: the answers `verify_record` asks for, in its order, and the store's objects.
fn record_verification(corpus: &Corpus) {
    let deployment = fixtures::deployment();
    let record_id = B256::from(fixtures::RECORD_ID);
    let trapdoor = fixtures::chameleon_trapdoor();
    let manifest = fixtures::manifest().to_bytes();
    corpus.write("record_verification", "manifest", &selected(0, &manifest));

    let (anchor, _) = fixtures::chameleon_anchor();
    let entry = &fixtures::sealed_entries()[0];
    let chain = DigestChain::genesis(RecordId(fixtures::RECORD_ID)).append(&entry_digest_of_address(&sha256(entry)));
    let check = chameleon::adapt(&trapdoor, &anchor, &chain.message().to_bytes(), &mut fixtures::rng(23)).to_bytes();
    let check_string = [B256::from_slice(&check[..32]), B256::from_slice(&check[32..])];
    let registered = RecordRegistry::RecordRegistered {
        recordId: record_id,
        owner: Account::Client.address(),
        anchor: B256::from(anchor.to_bytes()),
        manifestHash: B256::from(sha256(&manifest)),
    };
    let version = LoggedVersion {
        version: 1,
        digest: B256::from(chain.head()),
        check_string,
        license_id: B256::repeat_byte(0x1c),
        enclave: Account::Report.address(),
        head: B256::ZERO,
        block: 3,
    };
    let head = fold_head(B256::ZERO, &[version]);
    let appended = UpdateLog::UpdateAppended {
        recordId: record_id,
        version: 1,
        licenseId: version.license_id,
        digest: version.digest,
        checkString: check_string,
        enclave: version.enclave,
        head,
    };
    let log_of = UpdateLog::logOfCall::abi_encode_returns(&UpdateLog::Log {
        head,
        version: 1,
        licenseSequence: alloy_primitives::aliases::U24::from(1u8),
    });
    let hint = VersionHint { version: 1, entry: sha256(entry), check_string };
    let pieces: Vec<Vec<u8>> = vec![
        answer(json!("0x5")),
        answer(json!([log(deployment.shared.record_registry, registered.encode_log_data(), 2)])),
        answer(json!(Bytes::from(log_of))),
        answer(json!("0x5")),
        answer(json!([log(deployment.consortium.update_log, appended.encode_log_data(), 3)])),
        [&[1u8][..], &manifest].concat(),
        [&[1u8][..], entry].concat(),
        [&[2u8][..], &postcard(&hint)].concat(),
    ];
    let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    corpus.write("record_verification", "one-qualified-version", &selected(1, &join(&pieces)));
    corpus.write("record_verification", "unregistered", &selected(1, &join(&pieces[..1])));
    let from_block = [&[3u8][..], &(u64::MAX - 5).to_le_bytes()].concat();
    let block = answer(json!({"number": "0x5", "timestamp": "0x6553f100"}));
    let reads = [&from_block[..], pieces[0], pieces[1], pieces[2], pieces[2], pieces[3], pieces[4], &block, pieces[3]];
    corpus.write("record_verification", "reads", &selected(2, &join(&reads)));
    // the enclave resuming its log reads near the highest block number a ledger can report
    let refused =
        [&[0u8][..], json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "no"}}).to_string().as_bytes()]
            .concat();
    let last_block = answer(json!("0xffffffffffffffff"));
    let (nothing, no_logs) = (answer(json!("0x0")), answer(json!([])));
    let highest = [&from_block[..], &nothing, &refused, &refused, &refused, &last_block, &no_logs];
    corpus.write("record_verification", "reads-up-to-the-highest-block", &selected(2, &join(&highest)));
}

fn trusted_apps(corpus: &Corpus) {
    let record = include_bytes!("../../crates/fhir/tests/data/record-small.json");
    let first_version = split_into_versions(record).expect("the sample record splits").swap_remove(0).bytes;
    let update = UpdateRequest {
        record_id: deployed().record_id,
        trapdoor: Zeroizing::new(fixtures::chameleon_trapdoor().to_bytes()),
        record_key: Zeroizing::new(fixtures::RECORD_KEY),
        base_version: 0,
        base_digest: B256::ZERO,
        history: Vec::new(),
        entry: first_version,
    };
    corpus.write("trusted_apps", "update", &selected(0, &postcard(&update)));
    let share = ShareRequest {
        request_id: 1,
        job: br#"{"job":"cohort_stats","loinc":"8302-2"}"#.to_vec(),
        result_key: fixtures::encryption_key().public_key().to_bytes(),
        history: Vec::new(),
    };
    corpus.write("trusted_apps", "share", &selected(1, &postcard(&share)));
}

fn ehr_requests(corpus: &Corpus) {
    let (patient, doctor, hospital) = (0, 1, 2);
    let warrant = fixtures::warrant();
    let ehr = |id: &str, body: &[u8]| NewEhr {
        ehr_id: id.into(),
        status: 1,
        ehr_type: 2,
        hospitals: vec![Account::Hospital.address()],
        expected_hash: Some(B256::from(sha256(body))),
        body: body.to_vec(),
    };
    let body = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;
    let patient_address = Account::Patient.address();
    let requests = [
        ("create", doctor, EhrRequest::Create { warrant: warrant.clone(), ehr: ehr("visit-1", body) }),
        ("update", doctor, EhrRequest::Update { warrant: warrant.clone(), ehr: ehr("visit-1", b"revised") }),
        (
            "create-many",
            doctor,
            EhrRequest::CreateMany {
                warrants: vec![warrant.clone()],
                ehrs: vec![
                    BatchEhr { warrant: 0, ehr: ehr("lab-1", b"a") },
                    BatchEhr { warrant: 0, ehr: ehr("lab-2", b"b") },
                ],
            },
        ),
        ("get", patient, EhrRequest::Get { patient: patient_address, ehr_id: "visit-1".into(), version: Some(1) }),
        ("list", patient, EhrRequest::List { patient: patient_address }),
        ("hospital-fetch", hospital, EhrRequest::HospitalFetch { patient: patient_address }),
        (
            "preflight",
            doctor,
            EhrRequest::Preflight { warrant: warrant.clone(), ehr_id: "visit-2".into(), revision: false },
        ),
        ("delete", doctor, EhrRequest::Delete { warrant: warrant.clone(), ehr_id: "lab-2".into() }),
        ("revoke", patient, EhrRequest::RevokeWarrant { warrant }),
        (
            "bench-insert",
            doctor,
            EhrRequest::Bench(BenchRequest::Insert { rows: vec![BenchRow { id: 1, t1: 2, t2: 0.5, t3: "y".into() }] }),
        ),
        ("bench-select", doctor, EhrRequest::Bench(BenchRequest::Select { t1: 2 })),
    ];
    for (name, caller, request) in requests {
        corpus.write("ehr_requests", name, &selected(caller, &postcard(&request)));
    }
}

fn job_specs(corpus: &Corpus) {
    let specs = [
        ("cohort", r#"{"job": "cohort_stats", "loinc": "8302-2"}"#),
        (
            "cohort-grouped",
            r#"{"job": "cohort_stats", "loinc": "29463-7", "group_by": ["sex", "age_band"], "age_band_years": 20, "min_cohort": 2, "quantiles": [0.1, 0.5, 0.9]}"#,
        ),
        (
            "logistic",
            r#"{"job": "logistic_regression", "label_snomed": "44054006", "features": {"age": true, "sex": true, "loinc": ["8302-2", "29463-7"]}, "max_iterations": 50, "l2": 0.5, "min_cohort": 2}"#,
        ),
    ];
    let records: Vec<RecordInput> = (0..6)
        .map(|_| RecordInput::single(include_bytes!("../../crates/fhir/tests/data/record-small.json").to_vec()))
        .collect();
    for (name, spec) in specs {
        corpus.write("job_specs", &format!("spec-{name}"), &selected(0, spec.as_bytes()));
        let parsed = JobSpec::parse(spec.as_bytes()).expect("a valid seed spec");
        let as_of = healthchain_fhir::Date::new(2024, 1, 1).expect("a valid date");
        if let Ok(result) = healthchain_jobs::run(&parsed, &records, as_of) {
            corpus.write("job_specs", &format!("result-{name}"), &selected(1, &result.to_bytes()));
        }
    }
}

fn json_rpc(corpus: &Corpus) {
    let deployment = deployed().deployment;
    let registry = deployment.shared.record_registry;
    let licence_of = RecordRegistry::licenseOfCall { recordId: B256::from(fixtures::RECORD_ID) }.abi_encode();
    let account = Address::repeat_byte(0x11);
    let requests = [
        ("chain-id", json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})),
        ("block-number", json!({"jsonrpc": "2.0", "id": "a", "method": "eth_blockNumber", "params": []})),
        ("balance", json!({"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": [account, "latest"]})),
        (
            "nonce",
            json!({"jsonrpc": "2.0", "id": 3, "method": "eth_getTransactionCount", "params": [account, "pending"]}),
        ),
        ("code", json!({"jsonrpc": "2.0", "id": 4, "method": "eth_getCode", "params": [registry, "latest"]})),
        (
            "storage",
            json!({"jsonrpc": "2.0", "id": 5, "method": "eth_getStorageAt", "params": [registry, "0x0", "latest"]}),
        ),
        (
            "call",
            json!({"jsonrpc": "2.0", "id": 6, "method": "eth_call", "params": [{"to": registry, "data": Bytes::from(licence_of.clone())}, "latest"]}),
        ),
        (
            "estimate-gas",
            json!({"jsonrpc": "2.0", "id": 7, "method": "eth_estimateGas", "params": [{"from": account, "to": registry, "data": Bytes::from(licence_of)}]}),
        ),
        (
            "logs",
            json!({"jsonrpc": "2.0", "id": 8, "method": "eth_getLogs", "params": [{"address": registry, "fromBlock": "0x0", "toBlock": "latest", "topics": [RecordRegistry::RecordRegistered::SIGNATURE_HASH]}]}),
        ),
        ("block", json!({"jsonrpc": "2.0", "id": 9, "method": "eth_getBlockByNumber", "params": ["0x1", true]})),
        (
            "block-by-hash",
            json!({"jsonrpc": "2.0", "id": 10, "method": "eth_getBlockByHash", "params": [B256::ZERO, false]}),
        ),
        ("receipt", json!({"jsonrpc": "2.0", "id": 11, "method": "eth_getTransactionReceipt", "params": [B256::ZERO]})),
        (
            "transaction",
            json!({"jsonrpc": "2.0", "id": 12, "method": "eth_getTransactionByHash", "params": [B256::ZERO]}),
        ),
        (
            "send-raw",
            json!({"jsonrpc": "2.0", "id": 13, "method": "eth_sendRawTransaction", "params": ["0x02f86c827a6980"]}),
        ),
        (
            "fee-history",
            json!({"jsonrpc": "2.0", "id": 14, "method": "eth_feeHistory", "params": ["0x4", "latest", [25, 75]]}),
        ),
        ("gas-price", json!({"jsonrpc": "2.0", "id": 15, "method": "eth_gasPrice"})),
        ("mine", json!({"jsonrpc": "2.0", "id": 16, "method": "evm_mine"})),
        ("increase-time", json!({"jsonrpc": "2.0", "id": 17, "method": "evm_increaseTime", "params": [60]})),
        (
            "next-timestamp",
            json!({"jsonrpc": "2.0", "id": 18, "method": "evm_setNextBlockTimestamp", "params": ["0xffffffff"]}),
        ),
        ("notification", json!({"jsonrpc": "2.0", "method": "eth_chainId"})),
        (
            "batch",
            json!([{"jsonrpc": "2.0", "id": 1, "method": "net_version"}, {"jsonrpc": "2.0", "method": "eth_syncing"}, {"id": 3}, 7]),
        ),
    ];
    for (name, request) in requests {
        corpus.write("json_rpc", name, request.to_string().as_bytes());
    }
    corpus.write("json_rpc", "not-json", b"{\"jsonrpc\": \"2.0\", ");
}

fn api_json(corpus: &Corpus) {
    const GET: u8 = 0;
    const POST_JSON: u8 = 1;
    const POST_OCTETS: u8 = 1 + 4;
    let record = format!("0x{}", hex::encode(fixtures::RECORD_ID));
    let patient = Account::Patient.address();
    let relayed_ping = encode_relayed(&Ecall::Ping, &[]);
    let relayed_open = encode_relayed(&Ecall::SessionOpen, &fixtures::handshake().hello.to_bytes());
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).to_string();
    let requests: Vec<(&str, u8, String, Vec<u8>)> = vec![
        ("health", GET, "/api/v1/health".into(), Vec::new()),
        ("catalog", GET, "/api/v1/catalog?data_type=fhir-r4".into(), Vec::new()),
        ("record", GET, format!("/api/v1/records/{record}"), Vec::new()),
        ("record-bad-id", GET, "/api/v1/records/0xzz".into(), Vec::new()),
        ("accesses", GET, format!("/api/v1/records/{record}/accesses"), Vec::new()),
        ("consortium", GET, "/api/v1/consortium".into(), Vec::new()),
        ("jobs", GET, format!("/api/v1/jobs?requester={patient}"), Vec::new()),
        ("ehrs", GET, format!("/api/v1/ehrs?patient={patient}"), Vec::new()),
        ("ehrs-bad-query", GET, "/api/v1/ehrs?patient=%3Cscript%3E&patient=2".into(), Vec::new()),
        ("openapi", GET, "/openapi.json".into(), Vec::new()),
        ("portal-home", GET, "/".into(), Vec::new()),
        ("portal-record", GET, format!("/records/{record}"), Vec::new()),
        ("portal-record-script", GET, "/records/%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(), Vec::new()),
        ("portal-patient", GET, format!("/patients/{patient}"), Vec::new()),
        ("portal-jobs", GET, "/jobs".into(), Vec::new()),
        ("portal-consortium", GET, "/consortium".into(), Vec::new()),
        ("transaction", POST_JSON, "/api/v1/transactions".into(), br#"{"raw": "0x02f86c827a6980"}"#.to_vec()),
        ("transaction-not-hex", POST_JSON, "/api/v1/transactions".into(), br#"{"raw": "zz"}"#.to_vec()),
        ("enclave-ping", POST_OCTETS, "/api/v1/enclave".into(), relayed_ping),
        ("enclave-session-open", POST_OCTETS, "/api/v1/enclave".into(), relayed_open),
        ("rpc", POST_JSON, "/rpc".into(), rpc.into_bytes()),
        ("not-found", GET, "/api/v2/nothing?x=1".into(), Vec::new()),
    ];
    for (name, choice, uri, body) in requests {
        corpus.write("api_json", name, &selected(choice, &[uri.as_bytes(), b"\n", &body].concat()));
    }
}

/// Versions of the smallest Synthea patients as `record import` splits them: each one's
/// two smallest versions.
fn fhir_versions(corpus: &Corpus, synthea: &Path) {
    let Ok(files) = std::fs::read_dir(synthea) else {
        eprintln!("no Synthea bundles at {}: FHIR versions not written", synthea.display());
        return;
    };
    let mut bundles: Vec<PathBuf> =
        files.filter_map(Result::ok).map(|f| f.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    bundles.sort_by_key(|p| std::fs::metadata(p).map_or(u64::MAX, |m| m.len()));
    for path in bundles.iter().take(3) {
        let bytes = std::fs::read(path).expect("a Synthea bundle");
        let versions = split_into_versions(&bytes).expect("a Synthea bundle splits");
        let name = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.split('_').next()).unwrap_or("patient");
        let mut smallest: Vec<_> = versions.iter().enumerate().collect();
        smallest.sort_by_key(|(_, v)| v.bytes.len());
        for (index, version) in smallest.into_iter().take(2) {
            corpus.write("fhir_bundle", &format!("synthea-{name}-v{}", index + 1), &version.bytes);
        }
    }
}
