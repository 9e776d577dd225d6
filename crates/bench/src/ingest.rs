//! `ingest`: EHRs stored per second end to end (seed 001: 5,000/s).
//!
//! An EHR counts once it is stored and its batch's root is on the chain: the doctor sends a
//! `CreateMany` of 1,000 ~2 KB FHIR bundles (cut from the Synthea patients in
//! `data/fhir/synthea`; 10 fresh patients and warrants per batch, so warrant signatures are
//! checked) over an attested session to `healthchain enclave-process --bench-ehr`, which
//! stores them in SQLCipher (WAL fsynced), builds the batch's Merkle tree and per-EHR
//! proofs and signs the `EhrBatch` report; the doctor then anchors the root with
//! `EhrRegistry.anchorBatch` on a durable embedded chain (redb in the scratch directory, one
//! fsync per block) and waits for the receipt. Two ways:
//!
//! - sequential: store, anchor, next batch (also gives the enclave + SQLCipher time alone);
//! - pipelined: batch k's anchor is sent while the enclave stores batch k + 1; the clock
//!   stops at the last receipt.
//!
//! The peer of the enclave + SQLCipher part is the same application in this process, fed
//! the same batches in the same repetition.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{APP_NAME, BatchEhr, EhrApp, EhrReply, EhrRequest, EhrResponse, NewEhr, WireWarrant};
use healthchain_enclave::client::{AttestedSession, connect};
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, new_platform_secret};
use healthchain_ledger::client::Connection;
use healthchain_ledger::contracts::PRIVILEGE_WRITE_EHR;
use healthchain_ledger::testing::dev_key;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit};

/// EHRs per `CreateMany` and per anchored root.
const BATCH: usize = 1_000;
const PATIENTS_PER_BATCH: usize = 10;
/// Where the Synthea bundles are, relative to the working directory (the repository root).
const SYNTHEA: &str = "data/fhir/synthea";
/// Distinct EHR bodies cut from them (reused round-robin).
const BODIES: usize = 4_000;

fn failed(message: impl std::fmt::Display) -> BenchError {
    BenchError::failed(Suite::Ingest, message)
}

/// ~2 KB FHIR R4 bundles cut from the Synthea patients in `dir`.
fn realistic_ehrs(dir: &Path, count: usize) -> Result<Vec<Vec<u8>>, String> {
    let listing = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read {} ({e}): run `healthchain bench ingest` from the repository root, where {SYNTHEA} holds \
             the Synthea patients",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut resources = Vec::new();
    for file in files {
        let text = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
        for entry in json["entry"].as_array().into_iter().flatten() {
            let size = serde_json::to_vec(entry).map_err(|e| e.to_string())?.len();
            resources.push((entry.clone(), size));
        }
    }
    if resources.is_empty() {
        return Err(format!("no FHIR bundle entries in {}", dir.display()));
    }
    let mut out = Vec::with_capacity(count);
    let (mut entries, mut size) = (Vec::new(), 0);
    for (entry, entry_size) in resources.iter().cycle() {
        if out.len() == count {
            break;
        }
        size += entry_size;
        entries.push(entry.clone());
        if size >= 1_000 {
            let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
            out.push(serde_json::to_vec(&bundle).map_err(|e| e.to_string())?);
            (entries, size) = (Vec::new(), 0);
        }
    }
    Ok(out)
}

/// `batches` encoded `CreateMany` requests of BATCH EHRs each, with PATIENTS_PER_BATCH
/// fresh patients per batch whose warrants (signed under chain `chain_id`'s `EhrRegistry`
/// at `registry`) name `doctor`; EHR ids prefixed with `tag`.
fn batches_for(
    chain_id: u64,
    registry: Address,
    doctor: Address,
    bodies: &[Vec<u8>],
    batches: usize,
    tag: &str,
) -> Result<Vec<Vec<u8>>, String> {
    let domain = eip712::domain(chain_id, registry);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?
        .as_secs();
    let mut rng = rand::rng();
    (0..batches)
        .map(|b| {
            let warrants: Vec<WireWarrant> = (0..PATIENTS_PER_BATCH)
                .map(|_| {
                    let patient = EthKey::generate(&mut rng);
                    let warrant = Warrant {
                        patient: patient.address(),
                        doctors: vec![DoctorTerm { doctor, notBefore: now - 3_600, notAfter: now + 3_600 }],
                        aux: B256::ZERO,
                    };
                    (&SignedWarrant::sign(&patient, warrant, &domain)).into()
                })
                .collect();
            let ehrs = (0..BATCH)
                .map(|i| BatchEhr {
                    warrant: (i % PATIENTS_PER_BATCH) as u32,
                    ehr: NewEhr {
                        ehr_id: format!("{tag}-{b}-{i}"),
                        status: 1,
                        ehr_type: 1,
                        hospitals: vec![Address::repeat_byte(0x4b)],
                        expected_hash: None,
                        body: bodies[(b * BATCH + i) % bodies.len()].clone(),
                    },
                })
                .collect();
            postcard::to_stdvec(&EhrRequest::CreateMany { warrants, ehrs }).map_err(|e| format!("cannot encode: {e}"))
        })
        .collect()
}

/// A stored batch as the enclave reported it.
struct Stored {
    root: B256,
    count: u32,
    signature: Vec<u8>,
}

fn stored(reply: &[u8]) -> Result<Stored, String> {
    let reply: EhrReply = postcard::from_bytes(reply).map_err(|e| format!("undecodable reply: {e}"))?;
    match reply.map_err(|e| format!("the batch was refused: {e}"))? {
        EhrResponse::WrittenMany { root, count, signature, ehr_hashes, .. } => {
            if ehr_hashes.len() != BATCH || count as usize != BATCH {
                return Err(format!("{count} EHRs stored ({} hashes), expected {BATCH}", ehr_hashes.len()));
            }
            Ok(Stored { root, count, signature })
        }
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// A durable embedded chain with the contracts deployed, an approved hospital and a doctor
/// allowed to write EHRs, and the runtime that drives it.
struct ChainFixture {
    runtime: tokio::runtime::Runtime,
    chain: healthchain_chain::Chain,
    connection: Connection,
    deployment: Deployment,
    doctor: EthKey,
}

impl ChainFixture {
    fn new(dir: &Path) -> Result<Self, BenchError> {
        let runtime = crate::runtime(Suite::Ingest)?;
        let chain = healthchain_chain::Chain::open(
            healthchain_chain::ChainConfig::default(),
            healthchain_chain::Storage::Dir(dir.to_path_buf()),
        )
        .map_err(|e| failed(format!("cannot open the embedded chain in {}: {e}", dir.display())))?;
        let (hospital, doctor) = (dev_key(1), dev_key(2));
        let setup = runtime.block_on(async {
            let connection = Connection::embedded(&chain).await.map_err(|e| format!("cannot connect: {e}"))?;
            let deployment = deploy(&connection.account(&dev_key(0)), None, &DeployParams::default())
                .await
                .map_err(|e| format!("cannot deploy the contracts: {e}"))?
                .deployment;
            let as_key = |key: &EthKey| Ledger::new(&connection, None, key, deployment);
            let word = |tag: &str| alloy_primitives::keccak256(tag.as_bytes());
            as_key(&hospital)
                .directory()
                .register_hospital(word("hospital"))
                .await
                .map_err(|e| format!("cannot register the hospital: {e}"))?;
            as_key(&dev_key(0))
                .directory()
                .approve_hospital(hospital.address())
                .await
                .map_err(|e| format!("cannot approve the hospital: {e}"))?;
            as_key(&hospital)
                .directory()
                .register_doctor(doctor.address(), word("doctor"), word("gp"), PRIVILEGE_WRITE_EHR)
                .await
                .map_err(|e| format!("cannot register the doctor: {e}"))?;
            Ok::<_, String>((connection, deployment))
        });
        match setup {
            Ok((connection, deployment)) => Ok(ChainFixture { runtime, chain, connection, deployment, doctor }),
            Err(e) => {
                chain.shutdown();
                Err(failed(e))
            }
        }
    }

    fn ledger(&self, key: &EthKey) -> Ledger {
        Ledger::new(&self.connection, None, key, self.deployment)
    }

    fn chain_id(&self) -> u64 {
        self.deployment.consortium.chain_id
    }

    fn registry(&self) -> Address {
        self.deployment.consortium.ehr_registry
    }

    /// The EHR enclave for this deployment's warrant domain, its report signer approved on
    /// the Directory (`anchorBatch` checks the report against it).
    fn enclave(&self, options: &Options, state: &Path) -> Result<SimulatedEnclave, BenchError> {
        let mut config = SimulatedConfig::new(&options.program, state, new_platform_secret());
        config.args = vec![
            "enclave-process".into(),
            "--bench-ehr".into(),
            "--chain-id".into(),
            self.chain_id().to_string(),
            "--ehr-registry".into(),
            self.registry().to_string(),
        ];
        let enclave = SimulatedEnclave::launch(config).map_err(|e| {
            failed(format!(
                "cannot launch the enclave ({} enclave-process --bench-ehr): {e}",
                options.program.display()
            ))
        })?;
        let evidence = enclave.evidence();
        let word = |tag: &str| alloy_primitives::keccak256(tag.as_bytes());
        self.runtime
            .block_on(self.ledger(&dev_key(0)).approve_enclave_everywhere(
                evidence.report_signer.into(),
                B256::from(evidence.measurement),
                word("encryption key"),
                word("session key"),
            ))
            .map_err(|e| failed(format!("cannot approve the enclave on the Directory: {e}")))?;
        Ok(enclave)
    }
}

/// What one end-to-end run measured.
struct EndToEnd {
    ehrs: usize,
    total: Duration,
    /// Time in `CreateMany` calls (session, enclave, SQLCipher, tree, report).
    enclave: Duration,
    /// Time in `anchorBatch` calls until their receipts (in pipelined runs it overlaps the
    /// enclave's).
    chain: Duration,
    /// Gas of the last `anchorBatch`.
    gas_per_batch: u64,
}

/// Stores every batch through `session` and anchors its root on the chain; `pipelined`
/// sends batch k's anchor while the enclave stores batch k + 1.
fn end_to_end(
    fixture: &ChainFixture,
    session: &mut AttestedSession<'_, SimulatedEnclave>,
    batches: &[Vec<u8>],
    pipelined: bool,
) -> Result<EndToEnd, String> {
    let registry = fixture.ledger(&fixture.doctor).ehr();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Stored>();
    let anchoring = {
        let registry = registry.clone();
        fixture.runtime.spawn(async move {
            let (mut chain, mut gas) = (Duration::ZERO, 0);
            while let Some(batch) = receiver.recv().await {
                let start = Instant::now();
                let tx = registry
                    .anchor_batch(batch.root, batch.count, &batch.signature)
                    .await
                    .map_err(|e| format!("anchorBatch failed: {e}"))?;
                chain += start.elapsed();
                if tx.event.count != batch.count {
                    return Err(format!("anchorBatch anchored {} EHRs, expected {}", tx.event.count, batch.count));
                }
                gas = tx.receipt.gas_used;
            }
            Ok::<_, String>((chain, gas))
        })
    };
    let (mut ehrs, mut enclave, mut chain, mut gas) = (0, Duration::ZERO, Duration::ZERO, 0);
    let start = Instant::now();
    let mut result = Ok(());
    for batch in batches {
        let began = Instant::now();
        let batch = match session.call_raw(APP_NAME, batch.clone()) {
            Ok(reply) => stored(&reply),
            Err(e) => Err(format!("the enclave did not answer: {e}")),
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        enclave += began.elapsed();
        ehrs += batch.count as usize;
        if pipelined {
            if sender.send(batch).is_err() {
                break; // The anchoring task failed: its error is reported below.
            }
        } else {
            let began = Instant::now();
            match fixture.runtime.block_on(registry.anchor_batch(batch.root, batch.count, &batch.signature)) {
                Ok(tx) => {
                    chain += began.elapsed();
                    gas = tx.receipt.gas_used;
                }
                Err(e) => {
                    result = Err(format!("anchorBatch failed: {e}"));
                    break;
                }
            }
        }
    }
    drop(sender);
    let anchored = fixture.runtime.block_on(anchoring).map_err(|e| format!("the anchoring task failed: {e}"))?;
    let total = start.elapsed();
    result?;
    let (pipelined_chain, pipelined_gas) = anchored?;
    if pipelined {
        (chain, gas) = (pipelined_chain, pipelined_gas);
    }
    if ehrs != batches.len() * BATCH {
        return Err(format!("{ehrs} EHRs stored, expected {}", batches.len() * BATCH));
    }
    Ok(EndToEnd { ehrs, total, enclave, chain, gas_per_batch: gas })
}

/// Sends the batches to the application in this process; returns EHRs per second.
fn in_process(enclave: &mut LocalEnclave, doctor: Address, batches: &[Vec<u8>]) -> Result<f64, String> {
    let start = Instant::now();
    for batch in batches {
        let reply = enclave.call_raw(doctor, batch).map_err(|e| format!("the application failed: {e}"))?;
        stored(&reply)?;
    }
    Ok((batches.len() * BATCH) as f64 / start.elapsed().as_secs_f64())
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report = SuiteReport::new(Suite::Ingest, "seed 001: EHRs stored per second, hashes on chain");
    let root = std::env::current_dir().map_err(|e| failed(format!("no working directory: {e}")))?;
    let bodies = realistic_ehrs(&root.join(SYNTHEA), BODIES).map_err(failed)?;
    let average = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let dir = options.scratch.join("ingest");
    std::fs::create_dir_all(&dir).map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;

    let fixture = ChainFixture::new(&dir.join("chain"))?;
    let result = measure(options, &fixture, &bodies, &dir, &mut report);
    fixture.chain.shutdown();
    result?;
    report.notes.push(format!(
        "batches of 1,000 FHIR bundles of ~{average} B cut from {SYNTHEA}, {PATIENTS_PER_BATCH} new patients and \
         warrants per batch; the enclave checks warrants, not doctor registration (`--bench-ehr`): anchorBatch checks \
         that on chain"
    ));
    Ok(report)
}

fn measure(
    options: &Options,
    fixture: &ChainFixture,
    bodies: &[Vec<u8>],
    dir: &Path,
    report: &mut SuiteReport,
) -> Result<(), BenchError> {
    let enclave = fixture.enclave(options, &dir.join("enclave"))?;
    let evidence = enclave.evidence();
    let trusted =
        EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() };
    let mut session = connect(&enclave, fixture.doctor.clone(), trusted)
        .map_err(|e| failed(format!("cannot open an attested session with the enclave: {e}")))?;
    let doctor = fixture.doctor.address();
    let mut local = LocalEnclave::new(
        EhrApp::for_benchmarks(fixture.chain_id(), fixture.registry()),
        dir.join("local"),
        new_platform_secret(),
        [2; 32],
    );
    let batches = |count: usize, tag: &str| {
        batches_for(fixture.chain_id(), fixture.registry(), doctor, bodies, count, tag)
            .map_err(|e| failed(format!("cannot build the batches: {e}")))
    };

    // Warm-up: opens both databases and the chain's paths; not kept.
    let warm = batches(1, "warm-up")?;
    end_to_end(fixture, &mut session, &warm, false).map_err(|e| failed(format!("warm-up: {e}")))?;
    in_process(&mut local, doctor, &warm).map_err(|e| failed(format!("warm-up in process: {e}")))?;

    let (repetitions, per_run) = if options.quick { (3, 2) } else { (5, 10) };
    let mut sequential = Vec::new();
    let mut pipelined = Vec::new();
    let mut enclave_alone = Vec::new();
    let mut chain_share = Vec::new();
    let mut local_rate = Vec::new();
    let mut gas = Vec::new();
    for repetition in 0..repetitions {
        let sequential_batches = batches(per_run, &format!("sequential-{repetition}"))?;
        let pipelined_batches = batches(per_run, &format!("pipelined-{repetition}"))?;
        let run = end_to_end(fixture, &mut session, &sequential_batches, false)
            .map_err(|e| failed(format!("sequential: {e}")))?;
        sequential.push(run.ehrs as f64 / run.total.as_secs_f64());
        enclave_alone.push(run.ehrs as f64 / run.enclave.as_secs_f64());
        chain_share.push(100.0 * run.chain.as_secs_f64() / run.total.as_secs_f64());
        gas.push(run.gas_per_batch as f64);
        let run = end_to_end(fixture, &mut session, &pipelined_batches, true)
            .map_err(|e| failed(format!("pipelined: {e}")))?;
        pipelined.push(run.ehrs as f64 / run.total.as_secs_f64());
        gas.push(run.gas_per_batch as f64);
        local_rate
            .push(in_process(&mut local, doctor, &sequential_batches).map_err(|e| failed(format!("in process: {e}")))?);
    }
    drop(session);
    drop(enclave);

    let ehrs = per_run * BATCH;
    let (sequential, pipelined, enclave_alone, local_rate) =
        (Stat::of(sequential), Stat::of(pipelined), Stat::of(enclave_alone), Stat::of(local_rate));
    report.figures.push(
        Figure::new("EHRs/s end to end, batches of 1,000, sequential", Unit::PerSecond, sequential)
            .paper("5,000/s")
            .goal(Goal::AtLeast(50_000.0)),
    );
    report.figures.push(
        Figure::new("EHRs/s end to end, batches of 1,000, pipelined", Unit::PerSecond, pipelined)
            .paper("5,000/s")
            .goal(Goal::AtLeast(50_000.0)),
    );
    report.figures.push(
        Figure::new("EHRs/s enclave process + SQLCipher alone (CreateMany)", Unit::PerSecond, enclave_alone)
            .peer("EHR app in process", local_rate),
    );
    report.figures.push(Figure::new(
        "anchorBatch share of sequential end-to-end time",
        Unit::Percent,
        Stat::of(chain_share),
    ));
    let gas = Stat::of(gas);
    report.figures.push(Figure::new("gas per EHR (anchorBatch of 1,000)", Unit::Gas, gas.map(|g| g / BATCH as f64)));
    report.plots.push(Plot {
        name: "ingest".into(),
        title: "EHRs stored per second (batches of 1,000)".into(),
        x_label: "path".into(),
        y_label: "EHRs/s".into(),
        kind: PlotKind::Bars {
            categories: vec![
                "end to end, sequential".into(),
                "end to end, pipelined".into(),
                "enclave + SQLCipher".into(),
                "app in process".into(),
            ],
        },
        series: vec![Series {
            name: "EHRs/s".into(),
            points: [sequential, pipelined, enclave_alone, local_rate]
                .into_iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s))
                .collect(),
        }],
    });
    report.notes.push(format!(
        "{repetitions} repetitions of {} EHRs per mode (sequential, pipelined, in process), interleaved; an EHR \
         counts once stored in SQLCipher (WAL fsynced) and its batch's anchorBatch receipt is back from a durable \
         embedded chain; anchorBatch {} per batch",
        Unit::Gas.format(ehrs as f64).trim_end_matches(" gas"),
        Unit::Gas.format(gas.median)
    ));
    Ok(())
}
