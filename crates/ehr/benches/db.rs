//! The `db` benchmark: seed 001 Figure 7 on this machine, in one run, side by side —
//! 10,000 rows `test(id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT)`: INSERT (one transaction),
//! SELECT where t1 = v, UPDATE t1 where it matches, DELETE all — for
//!
//! - `plain`: SQLite (the same bundled SQLCipher build, no key),
//! - `sqlcipher`: SQLCipher directly (raw 256-bit key, SQLCipher 4 defaults),
//! - `enclave`: SQLCipher through the EHR trusted application's typed interface, in process
//!   (postcard request → `TrustedApp::handle` → prepared statements → postcard reply),
//! - `enclave-process`: the same across the real process boundary — attested session
//!   (AES-256-GCM records) to the `healthchain-ehr-enclave` process over its socket.
//!
//! All four use WAL with `synchronous = FULL` (every commit fsyncs) and run the same
//! statements ([`healthchain_ehr::db::bench_table`]). Paper (TrustZone board): INSERT 2 s,
//! UPDATE 5.8 s, SELECT/DELETE < 100 ms. Goals: through the enclave INSERT ≤ 10 ms, UPDATE
//! ≤ 5 ms, SELECT/DELETE ≤ 3 ms, enclave / plain ≤ 1.5×.
//!
//! Then `ingest`: EHRs stored per second through the application with `CreateMany`
//! (batches of 1,000 ~2 KB FHIR bundles cut from the Synthea data, fresh patients and
//! warrants in every batch so each warrant's signature is checked). Goal ≥ 50,000/s.
//!
//! And `ingest end to end`, the goal's measure: through the `healthchain-ehr-enclave`
//! process (attested session, SQLCipher, WAL fsynced; the batch's Merkle tree, per-EHR
//! proofs and the signed `EhrBatch` report) **and** `EhrRegistry.anchorBatch` of each
//! batch's root on a durable embedded chain (redb in a temporary directory, one fsync per
//! block; deployment, approved hospital, registered doctor, the enclave's report signer
//! approved on the Directory). An EHR counts once its batch is committed in SQLCipher and
//! the anchoring transaction's receipt is back. Batches of 1,000 and 10,000, run two ways:
//! `sequential` (store, then anchor, then the next batch: gives the split between
//! enclave + SQLCipher time and chain time) and `pipelined` (batch k's anchor is sent while
//! the enclave stores batch k + 1; the clock stops at the last receipt).
//!
//! The summary table at the end comes from interleaved rounds (every variant runs each
//! operation back to back, in rotating order) and reports medians. Under `cargo test` the
//! benchmark runs once, in a few rounds.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use criterion::Criterion;
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::db::{self, Database, DbKey, bench_table};
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{
    APP_NAME, BatchEhr, BenchRequest, BenchResponse, BenchRow, EhrApp, EhrConfig, EhrReply, EhrRequest, EhrResponse,
    NewEhr, UncheckedRegistry, WireWarrant,
};
use healthchain_enclave::client::{AttestedSession, connect};
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, new_platform_secret};
use healthchain_ledger::contracts::PRIVILEGE_WRITE_EHR;
use healthchain_ledger::testing::dev_key;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

const ROWS: usize = 10_000;
/// Distinct t1 values: SELECT and UPDATE match ROWS / DISTINCT_T1 rows.
const DISTINCT_T1: i64 = 1_000;
const BATCH: usize = 1_000;
const PATIENTS_PER_BATCH: usize = 10;
const CHAIN_ID: u64 = 31337;
const REGISTRY: Address = Address::repeat_byte(0xe7);

/// One way of reaching the Figure 7 table.
trait Figure7 {
    fn insert(&mut self, rows: &[BenchRow]) -> u64;
    fn select(&mut self, t1: i64) -> usize;
    fn update(&mut self, t1: i64, new_t1: i64) -> u64;
    fn delete_all(&mut self) -> u64;
}

/// The database opened directly, as the application opens it (same settings, same
/// background checkpointer), without the application.
struct Direct(Database);

impl Figure7 for Direct {
    fn insert(&mut self, rows: &[BenchRow]) -> u64 {
        bench_table::insert(self.0.connection(), rows.iter().map(BenchRow::as_ref)).expect("insert")
    }
    fn select(&mut self, t1: i64) -> usize {
        bench_table::select(self.0.connection(), t1).expect("select").len()
    }
    fn update(&mut self, t1: i64, new_t1: i64) -> u64 {
        bench_table::update(self.0.connection(), t1, new_t1).expect("update")
    }
    fn delete_all(&mut self) -> u64 {
        bench_table::delete_all(self.0.connection()).expect("delete")
    }
}

fn changed(response: EhrResponse) -> u64 {
    match response {
        EhrResponse::Bench(BenchResponse::Changed(n)) => n,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn selected(response: EhrResponse) -> usize {
    match response {
        EhrResponse::Bench(BenchResponse::Rows(rows)) => rows.len(),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Any transport to the application: encoded request in, encoded reply out.
trait Transport {
    fn exchange(&mut self, request: &[u8]) -> Vec<u8>;

    fn call(&mut self, request: &EhrRequest) -> EhrResponse {
        let encoded = postcard::to_stdvec(request).expect("request encodes");
        let reply: EhrReply = postcard::from_bytes(&self.exchange(&encoded)).expect("reply decodes");
        reply.expect("the application accepts the request")
    }
}

struct Local {
    enclave: LocalEnclave,
    caller: Address,
}

impl Transport for Local {
    fn exchange(&mut self, request: &[u8]) -> Vec<u8> {
        self.enclave.call_raw(self.caller, request).expect("the application answers")
    }
}

struct Remote<'a> {
    session: AttestedSession<'a, SimulatedEnclave>,
}

impl Transport for Remote<'_> {
    fn exchange(&mut self, request: &[u8]) -> Vec<u8> {
        self.session.call_raw(APP_NAME, request.to_vec()).expect("the enclave answers")
    }
}

/// The application's Figure 7 operations over a transport. The INSERT request is encoded
/// once, up front (a client holds its rows in wire form): the timings cover handing the
/// request bytes to the transport until the decoded answer.
struct ThroughApp<T> {
    transport: T,
    insert: Vec<u8>,
    rows: usize,
}

impl<T: Transport> ThroughApp<T> {
    fn new(transport: T, rows: &[BenchRow]) -> Self {
        let insert = EhrRequest::Bench(BenchRequest::Insert { rows: rows.to_vec() });
        Self { transport, insert: postcard::to_stdvec(&insert).expect("request encodes"), rows: rows.len() }
    }
}

impl<T: Transport> Figure7 for ThroughApp<T> {
    fn insert(&mut self, rows: &[BenchRow]) -> u64 {
        assert_eq!(rows.len(), self.rows, "the prepared INSERT request holds these rows");
        let reply: EhrReply = postcard::from_bytes(&self.transport.exchange(&self.insert)).expect("reply decodes");
        changed(reply.expect("the application accepts the request"))
    }
    fn select(&mut self, t1: i64) -> usize {
        selected(self.transport.call(&EhrRequest::Bench(BenchRequest::Select { t1 })))
    }
    fn update(&mut self, t1: i64, new_t1: i64) -> u64 {
        changed(self.transport.call(&EhrRequest::Bench(BenchRequest::Update { t1, new_t1 })))
    }
    fn delete_all(&mut self) -> u64 {
        changed(self.transport.call(&EhrRequest::Bench(BenchRequest::DeleteAll)))
    }
}

fn bench_app() -> EhrApp {
    let mut config = EhrConfig::new(CHAIN_ID, REGISTRY);
    config.bench_table = true;
    EhrApp::new(config, Box::new(UncheckedRegistry))
}

fn direct(path: &Path, key: Option<&DbKey>) -> Direct {
    let database = Database::open(path, key).expect("database opens");
    bench_table::create(database.connection()).expect("table");
    Direct(database)
}

fn launch(state: &Path) -> SimulatedEnclave {
    let mut config = SimulatedConfig::new(env!("CARGO_BIN_EXE_healthchain-ehr-enclave"), state, new_platform_secret());
    config.args = vec![
        "--chain-id".into(),
        CHAIN_ID.to_string(),
        "--ehr-registry".into(),
        REGISTRY.to_string(),
        "--bench-table".into(),
        "--any-doctor".into(),
    ];
    SimulatedEnclave::launch(config).expect("the EHR enclave launches")
}

fn trusted(enclave: &SimulatedEnclave) -> EnclaveIdentity {
    let evidence = enclave.evidence();
    EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() }
}

const OPS: [&str; 4] = ["INSERT", "SELECT", "UPDATE", "DELETE"];

/// Runs one operation on a variant and returns its duration. The table holds ROWS rows
/// before SELECT, UPDATE and DELETE, and none before INSERT.
fn timed(variant: &mut dyn Figure7, op: usize, rows: &[BenchRow], round: usize) -> Duration {
    let v = (round as i64 * 37) % DISTINCT_T1;
    let start = Instant::now();
    match op {
        0 => assert_eq!(variant.insert(rows), ROWS as u64),
        1 => assert_eq!(variant.select(v), ROWS / DISTINCT_T1 as usize),
        // Moves the matching rows out of the value range and back in the next round's
        // clean-up, so every UPDATE changes the same number of rows.
        2 => assert_eq!(variant.update(v, v + DISTINCT_T1), (ROWS / DISTINCT_T1 as usize) as u64),
        _ => assert_eq!(variant.delete_all(), ROWS as u64),
    }
    start.elapsed()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// ~2 KB FHIR R4 bundles cut from the Synthea patients shipped with the repository.
fn realistic_ehrs(count: usize) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("data/fhir/synthea")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut resources = Vec::new();
    for file in files {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).expect("bundle")).expect("json");
        for entry in json["entry"].as_array().into_iter().flatten() {
            resources.push(entry.clone());
        }
    }
    let mut out = Vec::with_capacity(count);
    let mut entries = Vec::new();
    let mut size = 0;
    let mut next = 0;
    while out.len() < count {
        let entry = &resources[next % resources.len()];
        next += 1;
        size += serde_json::to_vec(entry).expect("entry").len();
        entries.push(entry.clone());
        if size >= 1_000 {
            let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
            out.push(serde_json::to_vec(&bundle).expect("bundle"));
            entries = Vec::new();
            size = 0;
        }
    }
    out
}

/// One CreateMany request per batch: PATIENTS_PER_BATCH fresh patients, each with a warrant
/// naming `doctor`, BATCH EHRs between them.
fn ingest_batches(doctor: &EthKey, bodies: &[Vec<u8>], batches: usize) -> Vec<Vec<u8>> {
    batches_for(&eip712::domain(CHAIN_ID, REGISTRY), doctor, bodies, batches, BATCH, "ehr")
}

/// `batches` CreateMany requests of `size` EHRs each, with PATIENTS_PER_BATCH × size / BATCH
/// fresh patients per batch, warrants signed under `domain`, ids prefixed with `tag`.
fn batches_for(
    domain: &alloy_sol_types::Eip712Domain,
    doctor: &EthKey,
    bodies: &[Vec<u8>],
    batches: usize,
    size: usize,
    tag: &str,
) -> Vec<Vec<u8>> {
    let patients = (PATIENTS_PER_BATCH * size / BATCH).max(1);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let mut rng = rand::rng();
    (0..batches)
        .map(|b| {
            let warrants: Vec<WireWarrant> = (0..patients)
                .map(|_| {
                    let patient = EthKey::generate(&mut rng);
                    let warrant = Warrant {
                        patient: patient.address(),
                        doctors: vec![DoctorTerm {
                            doctor: doctor.address(),
                            notBefore: now - 3_600,
                            notAfter: now + 3_600,
                        }],
                        aux: B256::ZERO,
                    };
                    (&SignedWarrant::sign(&patient, warrant, domain)).into()
                })
                .collect();
            let ehrs = (0..size)
                .map(|i| BatchEhr {
                    warrant: (i % patients) as u32,
                    ehr: NewEhr {
                        ehr_id: format!("{tag}-{b}-{i}"),
                        status: 1,
                        ehr_type: 1,
                        hospitals: vec![Address::repeat_byte(0x4b)],
                        expected_hash: None,
                        body: bodies[(b * size + i) % bodies.len()].clone(),
                    },
                })
                .collect();
            postcard::to_stdvec(&EhrRequest::CreateMany { warrants, ehrs }).expect("batch encodes")
        })
        .collect()
}

/// Sends the batches and returns EHRs per second.
fn ingest(transport: &mut dyn Transport, batches: &[Vec<u8>]) -> f64 {
    let start = Instant::now();
    for batch in batches {
        let reply: EhrReply = postcard::from_bytes(&transport.exchange(batch)).expect("reply decodes");
        match reply.expect("batch stored") {
            EhrResponse::WrittenMany { ehr_hashes, .. } => assert_eq!(ehr_hashes.len(), BATCH),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    (batches.len() * BATCH) as f64 / start.elapsed().as_secs_f64()
}

/// A durable embedded chain with the contracts deployed, an approved hospital and a doctor
/// allowed to write EHRs, and the runtime that drives it.
struct ChainFixture {
    runtime: tokio::runtime::Runtime,
    chain: healthchain_chain::Chain,
    connection: healthchain_ledger::client::Connection,
    deployment: Deployment,
    doctor: EthKey,
    _dir: tempfile::TempDir,
}

impl ChainFixture {
    fn new() -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("chain directory");
        let chain = healthchain_chain::Chain::open(
            healthchain_chain::ChainConfig::default(),
            healthchain_chain::Storage::Dir(dir.path().to_path_buf()),
        )
        .expect("durable embedded chain");
        let (hospital, doctor) = (dev_key(1), dev_key(2));
        let (connection, deployment) = runtime.block_on(async {
            let connection = healthchain_ledger::client::Connection::embedded(&chain).await.expect("connection");
            let deployment = deploy(&connection.account(&dev_key(0)), None, &DeployParams::default())
                .await
                .expect("deploy")
                .deployment;
            let as_key = |key: &EthKey| Ledger::new(&connection, None, key, deployment);
            let word = |tag: &str| alloy_primitives::keccak256(tag.as_bytes());
            as_key(&hospital).directory().register_hospital(word("hospital")).await.expect("hospital");
            as_key(&dev_key(0)).directory().approve_hospital(hospital.address()).await.expect("approval");
            as_key(&hospital)
                .directory()
                .register_doctor(doctor.address(), word("doctor"), word("gp"), PRIVILEGE_WRITE_EHR)
                .await
                .expect("doctor");
            (connection, deployment)
        });
        Self { runtime, chain, connection, deployment, doctor, _dir: dir }
    }

    fn ledger(&self, key: &EthKey) -> Ledger {
        Ledger::new(&self.connection, None, key, self.deployment)
    }

    fn domain(&self) -> alloy_sol_types::Eip712Domain {
        eip712::domain(self.deployment.consortium.chain_id, self.deployment.consortium.ehr_registry)
    }

    /// The EHR enclave for this deployment (admitting the doctor), its report signer
    /// approved on the Directory.
    fn enclave(&self, state: &Path) -> SimulatedEnclave {
        let mut config =
            SimulatedConfig::new(env!("CARGO_BIN_EXE_healthchain-ehr-enclave"), state, new_platform_secret());
        config.args = vec![
            "--chain-id".into(),
            self.deployment.consortium.chain_id.to_string(),
            "--ehr-registry".into(),
            self.deployment.consortium.ehr_registry.to_string(),
            "--doctor".into(),
            self.doctor.address().to_string(),
        ];
        let enclave = SimulatedEnclave::launch(config).expect("the EHR enclave launches");
        let evidence = enclave.evidence();
        let word = |tag: &str| alloy_primitives::keccak256(tag.as_bytes());
        self.runtime
            .block_on(self.ledger(&dev_key(0)).approve_enclave_everywhere(
                evidence.report_signer.into(),
                B256::from(evidence.measurement),
                word("encryption key"),
                word("session key"),
            ))
            .expect("enclave approved");
        enclave
    }
}

/// What one end-to-end run measured.
struct EndToEnd {
    ehrs: usize,
    total: Duration,
    /// Time in `CreateMany` calls (session, enclave, SQLCipher, tree, report).
    enclave: Duration,
    /// Time in `anchorBatch` calls until their receipts (sequential runs only: in pipelined
    /// runs it overlaps the enclave's).
    chain: Duration,
    gas_per_batch: u64,
}

/// Stores every batch through `session` and anchors its root on the chain; `pipelined`
/// sends batch k's anchor while the enclave stores batch k + 1.
fn end_to_end(
    fixture: &ChainFixture,
    session: &mut AttestedSession<'_, SimulatedEnclave>,
    batches: &[Vec<u8>],
    pipelined: bool,
) -> EndToEnd {
    let registry = fixture.ledger(&fixture.doctor).ehr();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(B256, u32, Vec<u8>)>();
    let anchoring = {
        let registry = registry.clone();
        fixture.runtime.spawn(async move {
            let (mut chain, mut gas) = (Duration::ZERO, 0);
            while let Some((root, count, signature)) = receiver.recv().await {
                let start = Instant::now();
                let tx = registry.anchor_batch(root, count, &signature).await.expect("batch anchored");
                chain += start.elapsed();
                assert_eq!(tx.event.count, count);
                gas = tx.receipt.gas_used;
            }
            (chain, gas)
        })
    };
    let (mut ehrs, mut enclave, mut chain, mut gas) = (0, Duration::ZERO, Duration::ZERO, 0);
    let start = Instant::now();
    for batch in batches {
        let began = Instant::now();
        let reply: EhrReply =
            postcard::from_bytes(&session.call_raw(APP_NAME, batch.clone()).expect("the enclave answers"))
                .expect("reply decodes");
        let (root, count, signature) = match reply.expect("batch stored") {
            EhrResponse::WrittenMany { root, count, signature, .. } => (root, count, signature),
            other => panic!("unexpected answer {other:?}"),
        };
        enclave += began.elapsed();
        ehrs += count as usize;
        if pipelined {
            sender.send((root, count, signature)).expect("anchoring task runs");
        } else {
            let began = Instant::now();
            let tx = fixture.runtime.block_on(registry.anchor_batch(root, count, &signature)).expect("batch anchored");
            chain += began.elapsed();
            gas = tx.receipt.gas_used;
        }
    }
    drop(sender);
    let (pipelined_chain, pipelined_gas) = fixture.runtime.block_on(anchoring).expect("anchoring task");
    let total = start.elapsed();
    if pipelined {
        (chain, gas) = (pipelined_chain, pipelined_gas);
    }
    EndToEnd { ehrs, total, enclave, chain, gas_per_batch: gas }
}

/// fsync latency of this machine's storage (context for every durable commit above).
fn fsync_latency(dir: &Path) -> Duration {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync-probe")).expect("probe file");
    let mut samples: Vec<_> = (0..20)
        .map(|i| {
            file.write_all(&[i as u8; 4096]).expect("write");
            let start = Instant::now();
            file.sync_data().expect("fsync");
            start.elapsed()
        })
        .collect();
    median(&mut samples)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("temporary directory");
    let rows = db::figure7_rows(ROWS, DISTINCT_T1);
    let key = DbKey::generate();

    let mut plain = direct(&dir.path().join("plain.db"), None);
    let mut cipher = direct(&dir.path().join("cipher.db"), Some(&key));
    let mut local = ThroughApp::new(
        Local {
            enclave: LocalEnclave::new(bench_app(), dir.path().join("local"), new_platform_secret(), [1; 32]),
            caller: Address::repeat_byte(0x11),
        },
        &rows,
    );
    let enclave = launch(&dir.path().join("process"));
    let client = EthKey::generate(&mut rand::rng());
    let session = connect(&enclave, client.clone(), trusted(&enclave)).expect("session");
    let mut remote = ThroughApp::new(Remote { session }, &rows);

    // Criterion's own reports, one variant at a time.
    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("figure7");
        group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
        let variants: [(&str, &mut dyn Figure7); 4] = [
            ("plain", &mut plain),
            ("sqlcipher", &mut cipher),
            ("enclave", &mut local),
            ("enclave-process", &mut remote),
        ];
        for (name, variant) in variants {
            group.bench_function(format!("insert_10k/{name}"), |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let start = Instant::now();
                        variant.insert(&rows);
                        total += start.elapsed();
                        variant.delete_all();
                    }
                    total
                })
            });
            variant.insert(&rows);
            group.bench_function(format!("select/{name}"), |b| b.iter(|| variant.select(42)));
            let mut flip = false;
            group.bench_function(format!("update/{name}"), |b| {
                b.iter(|| {
                    flip = !flip;
                    if flip { variant.update(7, 8) } else { variant.update(8, 7) }
                })
            });
            variant.delete_all();
            group.bench_function(format!("delete_all/{name}"), |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        variant.insert(&rows);
                        let start = Instant::now();
                        variant.delete_all();
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
        group.finish();
    }

    // Interleaved rounds for the summary.
    let fsync_before = fsync_latency(dir.path());
    let names = ["plain", "sqlcipher", "enclave", "enclave-process"];
    let rounds = if full { 100 } else { 2 };
    let mut samples = vec![vec![Vec::with_capacity(rounds); OPS.len()]; names.len()];
    for round in 0..rounds {
        for (op, _) in OPS.iter().enumerate() {
            let mut variants: [&mut dyn Figure7; 4] = [&mut plain, &mut cipher, &mut local, &mut remote];
            variants.rotate_left(round % names.len());
            for (i, variant) in variants.into_iter().enumerate() {
                let index = (i + round) % names.len();
                samples[index][op].push(timed(variant, op, &rows, round));
            }
        }
    }
    let medians: Vec<Vec<Duration>> =
        samples.iter_mut().map(|ops| ops.iter_mut().map(|s| median(s)).collect()).collect();

    // Ingest.
    let bodies = realistic_ehrs(4_000);
    let average = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let ingest_count = if full { 30 } else { 2 };
    let doctor = EthKey::generate(&mut rand::rng());
    let local_batches = ingest_batches(&doctor, &bodies, ingest_count);
    let remote_batches = ingest_batches(&doctor, &bodies, ingest_count);
    let mut ingest_local = Local {
        enclave: LocalEnclave::new(bench_app(), dir.path().join("ingest-local"), new_platform_secret(), [2; 32]),
        caller: doctor.address(),
    };
    let local_rate = ingest(&mut ingest_local, &local_batches);
    let session = connect(&enclave, doctor.clone(), trusted(&enclave)).expect("session");
    let remote_rate = ingest(&mut Remote { session }, &remote_batches);

    // Ingest end to end: enclave + SQLCipher + on-chain anchoring.
    let fixture = ChainFixture::new();
    let e2e_enclave = fixture.enclave(&dir.path().join("e2e"));
    let mut e2e_session = connect(&e2e_enclave, fixture.doctor.clone(), trusted(&e2e_enclave)).expect("session");
    let e2e_total = if full { 60_000 } else { 20_000 };
    let mut e2e = Vec::new();
    for size in [1_000usize, 10_000] {
        for pipelined in [false, true] {
            let mode = if pipelined { "pipelined" } else { "sequential" };
            let batches = batches_for(
                &fixture.domain(),
                &fixture.doctor,
                &bodies,
                e2e_total / size,
                size,
                &format!("{mode}-{size}"),
            );
            e2e.push((size, mode, end_to_end(&fixture, &mut e2e_session, &batches, pipelined)));
        }
    }

    criterion.final_summary();
    let fsync_after = fsync_latency(dir.path());
    println!();
    println!(
        "seed 001 Figure 7 on this machine: {ROWS} rows, medians of {rounds} interleaved rounds (ms); WAL, synchronous=FULL \
         (one fsync per commit; fsync p50 here {:.2} ms before, {:.2} ms after the rounds)",
        ms(fsync_before),
        ms(fsync_after)
    );
    println!(
        "{:<8} {:>9} {:>10} {:>9} {:>16} {:>11} {:>11} {:>15} {:>8} {:>10}",
        "op",
        "plain",
        "sqlcipher",
        "enclave",
        "enclave-process",
        "cipher/pl",
        "enclave/pl",
        "process/plain",
        "paper",
        "goal"
    );
    let paper = ["2000", "< 100", "5800", "< 100"];
    let goal = [10.0, 3.0, 5.0, 3.0];
    for (op, name) in OPS.iter().enumerate() {
        let [p, c, e, r] = [0, 1, 2, 3].map(|v| medians[v][op]);
        println!(
            "{:<8} {:>9.3} {:>10.3} {:>9.3} {:>16.3} {:>10.2}x {:>10.2}x {:>14.2}x {:>8} {:>7} ms",
            name,
            ms(p),
            ms(c),
            ms(e),
            ms(r),
            c.as_secs_f64() / p.as_secs_f64(),
            e.as_secs_f64() / p.as_secs_f64(),
            r.as_secs_f64() / p.as_secs_f64(),
            paper[op],
            format!("≤ {}", goal[op]),
        );
    }
    println!("goals: through the enclave INSERT ≤ 10 ms, UPDATE ≤ 5 ms, SELECT/DELETE ≤ 3 ms, enclave/plain ≤ 1.5x");
    println!(
        "ingest (CreateMany, {BATCH} EHRs of ~{average} B per batch, {PATIENTS_PER_BATCH} new patients+warrants per batch, {ingest_count} batches): \
         in process {local_rate:.0} EHRs/s, across the process boundary {remote_rate:.0} EHRs/s (goal ≥ 50,000/s; seed 001: 5,000/s)"
    );
    println!(
        "ingest end to end (enclave process + SQLCipher + Merkle tree/proofs + EhrRegistry.anchorBatch on a durable embedded chain, \
         {} cores; an EHR counts once stored and its root's receipt is back):",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<7} {:<11} {:>7} {:>12} {:>15} {:>13} {:>11} {:>11} {:>12}",
        "batch", "mode", "EHRs", "EHRs/s e2e", "enclave+SQL ms", "chain ms", "enclave %", "gas/batch", "gas/EHR"
    );
    for (size, mode, run) in &e2e {
        println!(
            "{:<7} {:<11} {:>7} {:>12.0} {:>15.1} {:>13.1} {:>10.0}% {:>11} {:>12.1}",
            size,
            mode,
            run.ehrs,
            run.ehrs as f64 / run.total.as_secs_f64(),
            ms(run.enclave),
            ms(run.chain),
            100.0 * run.enclave.as_secs_f64() / run.total.as_secs_f64(),
            run.gas_per_batch,
            run.gas_per_batch as f64 / *size as f64,
        );
    }
    println!(
        "(enclave+SQL and chain are summed call times; in pipelined runs the chain's overlaps the enclave's. \
         Goal ≥ 50,000 EHRs/s end to end on 2 cores; seed 001: 5,000/s)"
    );
    drop(e2e_session);
    drop(e2e_enclave);
    fixture.chain.shutdown();
}
