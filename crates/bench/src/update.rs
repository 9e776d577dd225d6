//! `update`: seed 000 Fig. 6a–c.
//!
//! 1. Appending ~50 KB onto 1 MB vs 100 MB of history at the crypto level: healthchain's
//!    update (encrypt the new entry, one digest-chain step, adapt, check: O(new data)) vs
//!    seed 000's construction, which re-hashes the whole ciphertext, in the same run.
//! 2. The same on the whole system (embedded chain, object store, the enclave process with
//!    the `update` application: `Owner::update`), and update latency vs the new data's size.
//! 3. The `update` application in the enclave process vs the same code called directly in
//!    this process (`TrustedApp::handle` with host services doing what the enclave host
//!    does), interleaved call by call.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_core::host::{EnclaveProgram, LedgerRelay, StoreObjects};
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner};
use healthchain_crypto::chameleon;
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap;
use healthchain_crypto::record::{DigestChain, entry_digest};
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client;
use healthchain_enclave::host::{LedgerSource, ObjectSource};
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::runtime::{AppContext, EnclaveKeys, HostObject, HostServices, RuntimeError, TrustedApp};
use healthchain_enclave::sealing::SealingKey;
use healthchain_ledger::testing::dev_key;
use healthchain_update::{APP_NAME, UpdateAccepted, UpdateApp, UpdateReply, UpdateRequest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::runtime::Runtime;
use zeroize::Zeroizing;

use crate::crypto::{MB, RECORD, random_bytes};
use crate::workload::Entries;
use crate::{
    BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit, interleaved_ms,
};

const KB: usize = 1024;
/// The measured update.
const UPDATE: usize = 50 * KB;
/// Observations in a measured update (plus one Encounter).
const UPDATE_OBSERVATIONS: usize = 4;
/// A history of a given size is this many versions of this many Observations each.
const HISTORY_VERSIONS: usize = 5;
const HISTORY_OBSERVATIONS: usize = 32;

/// What a run measures.
struct Plan {
    /// History sizes at the crypto level, MB.
    crypto_histories: &'static [usize],
    /// Rounds of healthchain's update (microseconds each) and of seed 000's re-hash.
    crypto_rounds: usize,
    rehash_rounds: usize,
    /// History sizes on the system, MB.
    system_histories: &'static [usize],
    /// New-data sizes on the system, KB.
    new_data: &'static [usize],
    /// Rounds of the system parts.
    system_rounds: usize,
    /// Rounds of enclave vs direct.
    direct_rounds: usize,
}

const FULL: Plan = Plan {
    crypto_histories: &[1, 10, 100],
    crypto_rounds: 101,
    rehash_rounds: 11,
    system_histories: &[1, 10, 100],
    new_data: &[10, 50, 200, 1024],
    system_rounds: 15,
    direct_rounds: 41,
};

const QUICK: Plan = Plan {
    crypto_histories: &[1, 10],
    crypto_rounds: 21,
    rehash_rounds: 5,
    system_histories: &[1, 4],
    new_data: &[10, 50, 200],
    system_rounds: 3,
    direct_rounds: 5,
};

fn fail<E: Display>(what: &str) -> impl Fn(E) -> BenchError + '_ {
    move |e| BenchError::failed(Suite::Update, format!("{what}: {e}"))
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / MB as f64
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report = SuiteReport::new(
        Suite::Update,
        "seed 000 Fig. 6a–c: update latency vs history and new-data size; enclave vs the same code in process",
    );
    let plan = if options.quick { &QUICK } else { &FULL };
    let crypto = crypto_level(plan, &mut report)?;

    let runtime = crate::runtime(Suite::Update)?;
    let home = options.scratch.join("update");
    match std::fs::remove_dir_all(&home) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("clearing the scratch directory")(e)),
        _ => {}
    }
    let program = EnclaveProgram { program: options.program.clone(), args: vec!["enclave-process".into()] };
    let env = runtime
        .block_on(Environment::open(&home.join("env"), &program, ChainStorage::Memory))
        .map_err(fail("opening the environment (embedded chain, store, enclave process)"))?;
    let owner = runtime.block_on(Owner::new(&env, dev_key(20))).map_err(fail("creating the record owner"))?;
    let mut lab = Lab { runtime: &runtime, enclave_pid: env.enclave.process_id(), owner, entries: Entries::default() };

    system_history(plan, &mut lab, &mut report, crypto)?;
    system_new_data(plan, &mut lab, &mut report)?;
    enclave_vs_direct(plan, &mut lab, &env, &home.join("direct"), dev_key(20), &mut report)?;
    let fsync = crate::time_ms(5, || durable_write(&home.join("probe.tmp")));
    report.notes.push(format!(
        "disk: writing 4 KB and fsyncing it in the scratch directory takes {:.2} ms (median, {:.2}–{:.2}) here; an update makes several such durable writes (entry object, sealed segment and header, store index)",
        fsync.median, fsync.min, fsync.max
    ));
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Part 1: the crypto level

/// A record whose history is made of 50 KB entries, as the enclave holds it after the log:
/// the chain head, the anchor, the record key (and the ciphertexts, which seed 000 re-reads).
struct CryptoRecord {
    key: RecordKey,
    chain: DigestChain,
    anchor: chameleon::HashValue,
    ciphertexts: Vec<Vec<u8>>,
}

fn crypto_record(history: usize, trapdoor: &chameleon::Trapdoor, rng: &mut StdRng) -> CryptoRecord {
    let key = RecordKey::generate(rng);
    let entry = random_bytes(UPDATE, history as u64);
    let mut chain = DigestChain::genesis(RECORD);
    let mut ciphertexts = Vec::new();
    for index in 1..=(history / UPDATE) as u64 {
        let ciphertext =
            envelope::encrypt_entry(&key, EntryContext { record: RECORD, entry_index: index }, &entry, rng);
        chain = chain.append(&entry_digest(&ciphertext));
        ciphertexts.push(ciphertext);
    }
    let (anchor, _) = chameleon::hash(&trapdoor.public_key(), &chain.message().to_bytes(), rng);
    CryptoRecord { key, chain, anchor, ciphertexts }
}

/// healthchain's update: encrypt the new entry, extend the digest chain from its head, adapt
/// the chameleon hash, check the new pair — whatever the history's size.
fn update(
    record: &CryptoRecord,
    trapdoor: &chameleon::Trapdoor,
    new_entry: &[u8],
    rng: &mut StdRng,
) -> Result<chameleon::CheckString, chameleon::CheckFailed> {
    let index = record.chain.version() + 1;
    let ciphertext =
        envelope::encrypt_entry(&record.key, EntryContext { record: RECORD, entry_index: index }, new_entry, rng);
    let message = record.chain.append(&entry_digest(&ciphertext)).message().to_bytes();
    let check = chameleon::adapt(trapdoor, &record.anchor, &message, rng);
    chameleon::check(&trapdoor.public_key(), &message, &record.anchor, &check)?;
    Ok(check)
}

/// Seed 000's update: its chameleon hash covers the whole ciphertext, so every update
/// re-hashes the full history and the new data.
fn seed_update(
    record: &CryptoRecord,
    trapdoor: &chameleon::Trapdoor,
    new_entry: &[u8],
    rng: &mut StdRng,
) -> chameleon::CheckString {
    let mut whole = <sha2::Sha256 as sha2::Digest>::new();
    for ciphertext in &record.ciphertexts {
        sha2::Digest::update(&mut whole, ciphertext);
    }
    let ciphertext =
        envelope::encrypt_entry(&record.key, EntryContext { record: RECORD, entry_index: 0 }, new_entry, rng);
    sha2::Digest::update(&mut whole, &ciphertext);
    let digest: [u8; 32] = sha2::Digest::finalize(whole).into();
    chameleon::adapt(trapdoor, &record.anchor, &digest, rng)
}

/// The crypto-level series (for the history plot).
struct CryptoSeries {
    ours: Series,
    seed: Series,
}

fn crypto_level(plan: &Plan, report: &mut SuiteReport) -> Result<CryptoSeries, BenchError> {
    let mut rng = StdRng::seed_from_u64(60);
    let mut other = StdRng::seed_from_u64(61);
    let (trapdoor, _) = chameleon::keygen(&mut rng);
    let new_entry = random_bytes(UPDATE, 6);
    let records: Vec<CryptoRecord> =
        plan.crypto_histories.iter().map(|&m| crypto_record(m * MB, &trapdoor, &mut rng)).collect();
    for record in &records {
        update(record, &trapdoor, &new_entry, &mut rng).map_err(fail("an adapted check string does not open"))?;
    }

    let mut series = CryptoSeries {
        ours: Series { name: "healthchain update (crypto)".into(), points: Vec::new() },
        seed: Series { name: "seed 000: re-hash all (crypto)".into(), points: Vec::new() },
    };
    for (&m, record) in plan.crypto_histories.iter().zip(&records) {
        let (ours, seed) = interleaved_ms(
            plan.rehash_rounds,
            || update(record, &trapdoor, &new_entry, &mut rng),
            || seed_update(record, &trapdoor, &new_entry, &mut other),
        );
        series.ours.points.push((m as f64, ours));
        series.seed.points.push((m as f64, seed));
        report.figures.push(
            Figure::new(format!("append 50 KB onto {m} MB (crypto)"), Unit::Ms, ours)
                .paper("Fig. 6c: grows with the data")
                .peer("seed 000 re-hash", seed),
        );
    }

    let (small, large) = (&records[0], &records[records.len() - 1]);
    let (small_mb, large_mb) = (plan.crypto_histories[0], plan.crypto_histories[records.len() - 1]);
    let (on_large, on_small) = interleaved_ms(
        plan.crypto_rounds,
        || update(large, &trapdoor, &new_entry, &mut rng),
        || update(small, &trapdoor, &new_entry, &mut other),
    );
    report.figures.push(
        Figure::new(format!("append 50 KB onto {large_mb} MB vs {small_mb} MB (crypto)"), Unit::Ms, on_large)
            .paper("Fig. 6c: grows with history")
            .peer(format!("onto {small_mb} MB"), on_small)
            .goal(Goal::RatioAtMost(1.2)),
    );
    let (on_large, on_small) = interleaved_ms(
        plan.rehash_rounds,
        || seed_update(large, &trapdoor, &new_entry, &mut rng),
        || seed_update(small, &trapdoor, &new_entry, &mut other),
    );
    report.figures.push(
        Figure::new(format!("seed 000 re-hash, {large_mb} MB vs {small_mb} MB (crypto)"), Unit::Ms, on_large)
            .paper("Fig. 6c: grows with history")
            .peer(format!("onto {small_mb} MB"), on_small),
    );
    Ok(series)
}

// ---------------------------------------------------------------------------------------
// Part 2: the whole system

/// One owner in the environment.
struct Lab<'e> {
    runtime: &'e Runtime,
    enclave_pid: Option<u32>,
    owner: Owner<'e>,
    entries: Entries,
}

/// A record, the owner's copy, and its plaintext size.
struct Rec {
    record: OwnedRecord,
    patient: String,
    bytes: usize,
}

/// One `Owner::update`, split as it runs: license transaction, enclave call, log (store
/// index, `UpdateLog.append`, `RecordRegistry.confirmUpdate`), in ms; and the CPU time this
/// process and the enclave process used for it.
#[derive(Clone, Copy)]
struct Phases {
    license: f64,
    enclave: f64,
    log: f64,
    cpu: f64,
}

impl Phases {
    fn total(self) -> f64 {
        self.license + self.enclave + self.log
    }
}

impl Lab<'_> {
    /// A new record with `versions` versions of about `size` bytes (`observations` each).
    fn build(&mut self, versions: usize, observations: usize, size: usize) -> Result<Rec, BenchError> {
        let mut record = self.runtime.block_on(self.owner.register(FHIR_R4)).map_err(fail("registering a record"))?;
        let patient = self.entries.patient();
        let mut bytes = 0;
        for v in 0..versions {
            let entry = self.entries.sized(&patient, v == 0, observations, size);
            bytes += entry.len();
            self.runtime
                .block_on(self.owner.update(&mut record, &entry))
                .map_err(fail("logging a version while building a history"))?;
        }
        Ok(Rec { record, patient, bytes })
    }

    /// A new entry of about `size` bytes for `rec`.
    fn entry(&mut self, rec: &Rec, size: usize) -> Vec<u8> {
        self.entries.sized(&rec.patient, false, UPDATE_OBSERVATIONS, size)
    }

    /// `Owner::update` of a new entry of about `size` bytes, step by step.
    fn update(&mut self, rec: &mut Rec, size: usize) -> Result<Phases, BenchError> {
        let entry = self.entry(rec, size);
        let owner = &self.owner;
        settle();
        let cpu = cpu_ms(self.enclave_pid);
        let mut phases = self.runtime.block_on(async {
            let started = Instant::now();
            owner.request_license(&rec.record).await.map_err(fail("requesting an update license"))?;
            let license = ms_since(started);
            let request = owner.request(&rec.record, &entry).map_err(fail("preparing an update request"))?;
            let started = Instant::now();
            let accepted = owner.call_enclave(request).await.map_err(fail("the enclave's update application"))?;
            let enclave = ms_since(started);
            let started = Instant::now();
            owner.log(&mut rec.record, &accepted).await.map_err(fail("logging an update"))?;
            Ok::<_, BenchError>(Phases { license, enclave, log: ms_since(started), cpu: 0.0 })
        })?;
        phases.cpu = cpu_ms(self.enclave_pid) - cpu;
        rec.bytes += entry.len();
        Ok(phases)
    }

    /// Updates each record in turn, `rounds` times (rotating the order), after one untimed
    /// update each; the phases of each record's updates.
    fn rounds(&mut self, recs: &mut [Rec], sizes: &[usize], rounds: usize) -> Result<Vec<Vec<Phases>>, BenchError> {
        for (rec, &size) in recs.iter_mut().zip(sizes) {
            self.update(rec, size)?;
        }
        let mut phases = vec![Vec::with_capacity(rounds); recs.len()];
        for round in 0..rounds {
            for i in 0..recs.len() {
                let k = (i + round) % recs.len();
                phases[k].push(self.update(&mut recs[k], sizes[k])?);
            }
        }
        Ok(phases)
    }
}

/// One part of an update's phases.
type PhasePart = fn(Phases) -> f64;

fn stat(phases: &[Phases], part: impl Fn(Phases) -> f64) -> Stat {
    Stat::of(phases.iter().map(|&p| part(p)).collect())
}

fn system_history(
    plan: &Plan,
    lab: &mut Lab<'_>,
    report: &mut SuiteReport,
    crypto: CryptoSeries,
) -> Result<(), BenchError> {
    let mut recs = Vec::new();
    for &m in plan.system_histories {
        recs.push(lab.build(HISTORY_VERSIONS, HISTORY_OBSERVATIONS, m * MB / HISTORY_VERSIONS)?);
    }
    let built: Vec<String> = recs.iter().map(|r| format!("{:.1}", mb(r.bytes))).collect();
    let sizes = vec![UPDATE; recs.len()];
    let phases = lab.rounds(&mut recs, &sizes, plan.system_rounds)?;

    let mut full = Series { name: "full update (system)".into(), points: Vec::new() };
    let mut enclave = Series { name: "enclave call within it (system)".into(), points: Vec::new() };
    let mut cpu = Series { name: "CPU of the full update (system)".into(), points: Vec::new() };
    for (&m, p) in plan.system_histories.iter().zip(&phases) {
        full.points.push((m as f64, stat(p, Phases::total)));
        enclave.points.push((m as f64, stat(p, |p| p.enclave)));
        cpu.points.push((m as f64, stat(p, |p| p.cpu)));
    }
    let last = phases.len() - 1;
    let (small_mb, large_mb) = (plan.system_histories[0], plan.system_histories[last]);
    let parts: [(&str, PhasePart); 3] =
        [("full update", Phases::total), ("enclave call", |p| p.enclave), ("CPU of full update", |p| p.cpu)];
    for (what, part) in parts {
        report.figures.push(
            Figure::new(
                format!("{what}, 50 KB onto {large_mb} MB vs {small_mb} MB (system)"),
                Unit::Ms,
                stat(&phases[last], part),
            )
            .paper("Fig. 6c: grows with history")
            .peer(format!("onto {small_mb} MB"), stat(&phases[0], part))
            .goal(Goal::RatioAtMost(1.2)),
        );
    }
    let split = |p: &[Phases]| {
        format!(
            "license {:.2} + enclave {:.2} + log {:.2} ms",
            stat(p, |p| p.license).median,
            stat(p, |p| p.enclave).median,
            stat(p, |p| p.log).median
        )
    };
    report.notes.push(format!(
        "system: `Owner::update` of ~50 KB onto records of {} MB of FHIR ({HISTORY_VERSIONS} versions each; each grows by 50 KB per measured update), {} interleaved rounds, `sync` before each; median split onto {small_mb} MB: {}; onto {large_mb} MB: {}",
        built.join(" / "),
        plan.system_rounds,
        split(&phases[0]),
        split(&phases[last])
    ));
    report.plots.push(Plot {
        name: "update_history".into(),
        title: "Seed 000 Fig. 6c: appending 50 KB vs history size".into(),
        x_label: "history (MB)".into(),
        y_label: "time (ms)".into(),
        kind: PlotKind::Lines,
        series: vec![full, enclave, cpu, crypto.ours, crypto.seed],
    });
    Ok(())
}

fn system_new_data(plan: &Plan, lab: &mut Lab<'_>, report: &mut SuiteReport) -> Result<(), BenchError> {
    let mut recs = Vec::new();
    for _ in plan.new_data {
        recs.push(lab.build(1, 1, 0)?);
    }
    let sizes: Vec<usize> = plan.new_data.iter().map(|k| k * KB).collect();
    let phases = lab.rounds(&mut recs, &sizes, plan.system_rounds)?;
    let mut full = Series { name: "full update".into(), points: Vec::new() };
    let mut enclave = Series { name: "enclave call within it".into(), points: Vec::new() };
    let mut cpu = Series { name: "CPU of the full update".into(), points: Vec::new() };
    let mut split = Vec::new();
    for (&k, p) in plan.new_data.iter().zip(&phases) {
        let total = stat(p, Phases::total);
        full.points.push((k as f64, total));
        enclave.points.push((k as f64, stat(p, |p| p.enclave)));
        cpu.points.push((k as f64, stat(p, |p| p.cpu)));
        report.figures.push(
            Figure::new(format!("full update, {k} KB new data (system)"), Unit::Ms, total)
                .paper("Fig. 6c: grows with data size"),
        );
        split.push(format!("{k} KB {:.2} / {:.2}", stat(p, |p| p.enclave).median, stat(p, |p| p.cpu).median));
    }
    report.notes.push(format!(
        "system, new data: one record per size (one small version to start), {} interleaved rounds; enclave call within the full update / CPU of the full update, this process and the enclave process (median ms): {}",
        plan.system_rounds,
        split.join(", ")
    ));
    report.plots.push(Plot {
        name: "update_new_data".into(),
        title: "Seed 000 Fig. 6c: update latency vs new data (whole system)".into(),
        x_label: "new data (KB)".into(),
        y_label: "time (ms)".into(),
        kind: PlotKind::Lines,
        series: vec![full, enclave, cpu],
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part 3: the enclave process vs the same application code in this process

/// What the enclave host does for the enclave, done in this process: sealed blobs written
/// durably as files (temporary file, fsync, rename, fsync the directory), objects from the
/// environment's store and ledger requests relayed to its chain — with the checks the
/// enclave runtime makes on what comes back (objects against their addresses).
struct DirectHost {
    dir: PathBuf,
    sealing: SealingKey,
    objects: StoreObjects,
    ledger: LedgerRelay,
}

impl DirectHost {
    fn path(&self, label: &str) -> Result<PathBuf, RuntimeError> {
        if label.is_empty() || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(RuntimeError::HostStorage(format!("invalid sealed label '{label}'")));
        }
        Ok(self.dir.join(format!("{label}.sealed")))
    }
}

fn tampered(address: &[u8; 32]) -> RuntimeError {
    RuntimeError::TamperedObject { address: alloy_primitives::hex::encode(address) }
}

impl HostServices for DirectHost {
    fn load(&mut self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RuntimeError> {
        let path = self.path(label)?;
        match std::fs::read(&path) {
            Ok(blob) => Ok(Some(self.sealing.unseal(label, &blob)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RuntimeError::HostStorage(format!("reading {}: {e}", path.display()))),
        }
    }

    fn store(&mut self, label: &str, data: &[u8]) -> Result<(), RuntimeError> {
        let path = self.path(label)?;
        let blob = self.sealing.seal(label, data);
        let write = || -> std::io::Result<()> {
            let temporary = path.with_extension("sealed.tmp");
            let mut file = std::fs::File::create(&temporary)?;
            std::io::Write::write_all(&mut file, &blob)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| RuntimeError::HostStorage(format!("writing {}: {e}", path.display())))
    }

    fn fetch_object(&mut self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError> {
        match self.objects.get(address).map_err(RuntimeError::HostStorage)? {
            Some(bytes) if sha256(&bytes) == *address => Ok(Some(bytes)),
            Some(_) => Err(tampered(address)),
            None => Ok(None),
        }
    }

    fn fetch_objects(&mut self, addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError> {
        let found = self.objects.get_many(addresses).map_err(RuntimeError::HostStorage)?;
        Ok(found
            .into_iter()
            .zip(addresses)
            .map(|(object, address)| match object {
                Some(bytes) if sha256(&bytes) == *address => HostObject::Found(bytes),
                Some(_) => HostObject::Tampered,
                None => HostObject::Missing,
            })
            .collect())
    }

    fn put_object(&mut self, bytes: &[u8]) -> Result<[u8; 32], RuntimeError> {
        let address = self.objects.put(bytes).map_err(RuntimeError::HostStorage)?;
        if address != sha256(bytes) {
            return Err(tampered(&address));
        }
        Ok(address)
    }

    fn ledger_rpc(&mut self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.ledger.rpc(ledger, request).map_err(RuntimeError::HostLedger)
    }
}

/// The `update` application with enclave keys of its own, called as the dispatcher calls it.
struct DirectEnclave {
    keys: EnclaveKeys,
    host: DirectHost,
    app: UpdateApp,
    dir: PathBuf,
    started: Instant,
}

impl DirectEnclave {
    /// Must be called outside the runtime's worker threads (the host services block on it).
    fn call(&mut self, caller: Address, request: &UpdateRequest) -> Result<UpdateAccepted, BenchError> {
        let encoded = postcard::to_stdvec(request).map_err(fail("encoding an update request"))?;
        let mut context = AppContext {
            keys: &self.keys,
            host: &mut self.host,
            open_sessions: 1,
            uptime: self.started.elapsed(),
            data_dir: &self.dir,
        };
        let reply =
            self.app.handle(&mut context, caller, &encoded).map_err(fail("the update application, in process"))?;
        let reply: UpdateReply = postcard::from_bytes(&reply).map_err(fail("decoding the application's reply"))?;
        reply.map_err(fail("the update application, in process, refused"))
    }
}

/// Writes 4 KB and fsyncs it (the disk's durable-write latency), ignoring failures.
fn durable_write(path: &Path) {
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        std::io::Write::write_all(&mut file, &[0x5a; 4096])?;
        file.sync_all()
    };
    let _ = write();
}

/// Flushes what earlier work left for the disk to write, so that a timed call waits for its
/// own durable writes only (best effort: without `sync`, calls just wait longer).
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// CPU time this process and the enclave process (all their threads) have used, ms.
fn cpu_ms(enclave: Option<u32>) -> f64 {
    let pids = std::iter::once("self".to_string()).chain(enclave.map(|pid| pid.to_string()));
    let ns: u64 = pids
        .flat_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten())
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e6
}

fn enclave_vs_direct(
    plan: &Plan,
    lab: &mut Lab<'_>,
    env: &Environment,
    dir: &Path,
    owner_key: EthKey,
    report: &mut SuiteReport,
) -> Result<(), BenchError> {
    let runtime = lab.runtime;
    std::fs::create_dir_all(dir).map_err(fail("creating the in-process enclave's directory"))?;
    let mut rng = rand::rng();
    let mut platform_secret = [0u8; 32];
    platform_secret.copy_from_slice(&random_bytes(32, 62));
    let measurement = env.verified.measurement.0;
    let keys = EnclaveKeys {
        measurement,
        report_key: EthKey::generate(&mut rng),
        encryption_key: keywrap::SecretKey::generate(&mut rng),
        sealing: SealingKey::derive(&platform_secret, &measurement),
    };
    let signer = keys.report_key.address();
    let encryption_key = B256::from(keys.encryption_key.public_key().to_bytes());
    runtime.block_on(async {
        let admin = env.ledger(&env.admin).await.map_err(fail("the consortium admin's ledger client"))?;
        admin
            .approve_enclave_everywhere(signer, env.verified.measurement, encryption_key, B256::ZERO)
            .await
            .map_err(fail("approving the in-process enclave on the Directory"))
    })?;
    let (objects, ledger) = {
        let _entered = runtime.enter();
        (env.objects(), env.relay())
    };
    let mut direct = DirectEnclave {
        keys,
        host: DirectHost {
            dir: dir.to_path_buf(),
            sealing: SealingKey::derive(&platform_secret, &measurement),
            objects,
            ledger,
        },
        app: UpdateApp::new(env.deployment),
        dir: dir.to_path_buf(),
        started: Instant::now(),
    };

    // Two records in the same state (one small version, logged); A under a license for the
    // enclave process, B under one for the in-process application.
    let (a, b) = (lab.build(1, 1, 0)?, lab.build(1, 1, 0)?);
    let (entry_a, entry_b) = (lab.entry(&a, UPDATE), lab.entry(&b, UPDATE));
    let owner = &lab.owner;
    let request_a = owner.request(&a.record, &entry_a).map_err(fail("preparing an update request"))?;
    let request_b = owner.request(&b.record, &entry_b).map_err(fail("preparing an update request"))?;
    runtime.block_on(async {
        owner.request_license(&a.record).await.map_err(fail("requesting an update license"))?;
        owner
            .ledger()
            .records()
            .request_update(b.record.record_id, signer)
            .await
            .map_err(fail("requesting an update license for the in-process enclave"))
    })?;
    let caller = owner.address();
    let mut session = client::connect(env.enclave.as_ref(), owner_key, env.enclave_identity())
        .map_err(fail("opening a session with the enclave process"))?;

    // Each call is timed on the wall clock and in CPU time (this process and the enclave
    // process, all threads): disk waits (every call writes sealed state durably) dominate
    // the first on a busy machine and are absent from the second.
    let enclave_pid = lab.enclave_pid;
    let timed = |call: &mut dyn FnMut() -> Result<(), BenchError>| -> Result<(f64, f64), BenchError> {
        settle();
        let (started, cpu) = (Instant::now(), cpu_ms(enclave_pid));
        call()?;
        Ok((ms_since(started), cpu_ms(enclave_pid) - cpu))
    };
    let mut fresh_session = || -> Result<(), BenchError> {
        let request = request_a.clone();
        runtime.block_on(owner.call_enclave(request)).map_err(fail("the enclave's update application"))?;
        Ok(())
    };
    let mut open_session = || -> Result<(), BenchError> {
        let reply: UpdateReply = session.call(APP_NAME, &request_a).map_err(fail("a call in an open session"))?;
        reply.map_err(fail("the enclave's update application"))?;
        Ok(())
    };
    let mut in_process = || -> Result<(), BenchError> {
        direct.call(caller, &request_b)?;
        Ok(())
    };
    // Warm-up: the in-process application verifies B's logged version once (as the enclave
    // process did when it produced it); every later call is a repeat under the open license.
    fresh_session()?;
    open_session()?;
    in_process()?;
    let mut samples: [[Vec<f64>; 2]; 3] = Default::default();
    let (mut overhead, mut overhead_cpu) = (Vec::new(), Vec::new());
    for _ in 0..plan.direct_rounds {
        let fresh = timed(&mut fresh_session)?;
        let open = timed(&mut open_session)?;
        let local = timed(&mut in_process)?;
        for (i, (wall, cpu)) in [fresh, open, local].into_iter().enumerate() {
            samples[i][0].push(wall);
            samples[i][1].push(cpu);
        }
        overhead.push(fresh.0 - local.0);
        overhead_cpu.push(fresh.1 - local.1);
    }
    session.close().map_err(fail("closing the session"))?;
    let [fresh, open, local] = samples.map(|[wall, cpu]| (Stat::of(wall), Stat::of(cpu)));
    let peer = "same code in process";
    for (i, what) in ["time", "CPU"].into_iter().enumerate() {
        let pick = |s: (Stat, Stat)| if i == 0 { s.0 } else { s.1 };
        report.figures.push(
            Figure::new(format!("update app call {what}, enclave process (new session)"), Unit::Ms, pick(fresh))
                .paper("Fig. 6a–b: SGX adds 2–3 ms per record")
                .peer(peer, pick(local)),
        );
        report.figures.push(
            Figure::new(format!("update app call {what}, enclave process (open session)"), Unit::Ms, pick(open))
                .peer(peer, pick(local)),
        );
    }
    report.figures.push(
        Figure::new("enclave overhead per update, time", Unit::Ms, Stat::of(overhead)).paper("2–3 ms (SGX, Fig. 6a–b)"),
    );
    report.figures.push(
        Figure::new("enclave overhead per update, CPU", Unit::Ms, Stat::of(overhead_cpu))
            .paper("2–3 ms (SGX, Fig. 6a–b)"),
    );
    report.notes.push(format!(
        "enclave vs direct: CPU is {:.0}% (new session) and {:.0}% (in process) of the median call time, the rest waiting (durable writes of sealed state and objects, chain reads); the same `UpdateApp` called through `TrustedApp::handle` in this process, with host services doing what the enclave host does (sealed state written durably, objects from the same store checked against their addresses, ledger reads relayed to the same chain) and keys of its own (its report signer approved on the Directory, its own license); records A (enclave process) and B (in process) are in the same state; each round calls A in a new session (as `Owner::update`), A in a session kept open, and B in process, {} rounds, every call a repeat under an open license (nothing new to catch up on); overhead = new-session call − in-process call, paired by round; CPU = CPU time of this process and the enclave process during the call (all threads)",
        100.0 * fresh.1.median / fresh.0.median,
        100.0 * local.1.median / local.0.median,
        plan.direct_rounds
    ));
    Ok(())
}
