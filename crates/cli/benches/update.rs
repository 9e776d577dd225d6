//! The `update` benchmark (issue 5): seed 000 incremental updates on the whole system — the
//! embedded chain with the deployed contracts, the local object store and the enclave
//! process running the `update` application — as the record's history grows.
//!
//! 1. Latency of appending one ~50 KB entry to a record that already holds 1, 10, 100 and
//!    1,000 (small) versions: the full flow (`Owner::update`: license, enclave, `UpdateLog`,
//!    `RecordRegistry`, store index) and the enclave part alone (`Owner::call_enclave`).
//! 2. The same 50 KB update onto a record whose history is ~1 MB vs ~100 MB (five versions
//!    each, same resource count, only the size differs): seed 000 Fig. 6c on the system.
//! 3. Records (and versions) imported per second: the 20 shipped Synthea bundles, one owner
//!    each, one after the other and all at once.
//!
//! Each part first measures its cases interleaved round by round (the summary printed at the
//! end: medians, the full flow split into license transaction / enclave call / append +
//! confirm transactions and store index, the enclave process's CPU time, the ratios the
//! goals are about), then criterion measures each case again with one update per sample
//! (1 ms warm-up, 30 ms target: criterion warns that 10 samples do not fit, as intended).
//!
//! Every measured call is made as a real update sequence makes it: the record's last version
//! was just logged, so the enclave first catches up on one new `UpdateAppended` entry. (The
//! summary also times a second enclave call under the same license, which has nothing to
//! catch up on.) Records whose history is cheap to build (1 and 10 versions, 1 MB) are
//! rebuilt for every measured update, so their history does not grow while measured; the
//! 100- and 1,000-version records, and four 100 MB records measured in turn, are shared and
//! grow by 50 KB versions as they are measured (the summary prints the range).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use healthchain_bench::workload::Entries;
use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner};
use healthchain_fhir::{RecordContext, validate_update};
use healthchain_ledger::testing::dev_key;
use tokio::runtime::Runtime;

const KB: usize = 1024;
const MB: usize = 1 << 20;
/// The measured update.
const UPDATE: usize = 50 * KB;
/// Observations in the measured update (plus one Encounter).
const UPDATE_OBSERVATIONS: usize = 4;
/// History lengths of part 1 (versions of ~1.3 KB: one Encounter and one Observation).
const HISTORIES: [usize; 4] = [1, 10, 100, 1000];
/// History sizes of part 2, each as five versions of 32 Observations and one Encounter.
const SIZES: [(&str, usize); 2] = [("1MB", MB), ("100MB", 100 * MB)];
const SIZE_VERSIONS: usize = 5;
/// 100 MB records measured in turn, so that each grows by few versions while measured.
const LARGE_POOL: usize = 4;
const SIZE_OBSERVATIONS: usize = 32;
/// Interleaved rounds of the summary.
const ROUNDS: usize = 25;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

// ---------------------------------------------------------------------------------------
// Synthetic FHIR R4 entries of a controlled size

// ---------------------------------------------------------------------------------------
// Records on the real system

/// A record, the owner's copy, and what the benchmark knows about its history.
struct Rec {
    record: OwnedRecord,
    patient: String,
    /// Plaintext bytes of all its versions.
    bytes: usize,
}

impl Rec {
    fn versions(&self) -> usize {
        self.record.versions.len()
    }
}

/// The full update split as `Owner::update` runs it.
#[derive(Clone, Copy, Default)]
struct Phases {
    license: Duration,
    enclave: Duration,
    log: Duration,
}

impl Phases {
    fn total(&self) -> Duration {
        self.license + self.enclave + self.log
    }
}

/// One owner in one environment.
struct Lab<'e> {
    rt: &'e Runtime,
    env: &'e Environment,
    owner: Owner<'e>,
    entries: Entries,
}

impl<'e> Lab<'e> {
    fn new(rt: &'e Runtime, env: &'e Environment, key: u32) -> Self {
        let owner = rt.block_on(Owner::new(env, dev_key(key))).expect("owner");
        Lab { rt, env, owner, entries: Entries::default() }
    }

    /// Registers a record and logs `versions` versions of `size` bytes with `observations`
    /// Observations each (progress on stderr when `label` is set).
    fn build(&mut self, versions: usize, observations: usize, size: Option<usize>, label: Option<&str>) -> Rec {
        let started = Instant::now();
        let mut record = self.rt.block_on(self.owner.register(FHIR_R4)).expect("register");
        let patient = self.entries.patient();
        let mut bytes = 0;
        let step = (versions / 10).max(1);
        for v in 0..versions {
            let entry = match size {
                Some(size) => self.entries.sized(&patient, v == 0, observations, size),
                None => self.entries.version(&patient, v == 0, observations, 0),
            };
            bytes += entry.len();
            self.rt.block_on(self.owner.update(&mut record, &entry)).expect("update while building");
            if let Some(label) = label
                && ((v + 1) % step == 0 || v + 1 == versions)
            {
                eprintln!(
                    "  building {label}: {}/{versions} versions, {:.1} MB, {:.1} s",
                    v + 1,
                    bytes as f64 / MB as f64,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Rec { record, patient, bytes }
    }

    /// A fresh record with `versions` small versions.
    fn small_history(&mut self, versions: usize, label: Option<&str>) -> Rec {
        self.build(versions, 1, None, label)
    }

    /// A fresh record of `SIZE_VERSIONS` versions totalling about `bytes`.
    fn sized_history(&mut self, bytes: usize, label: Option<&str>) -> Rec {
        self.build(SIZE_VERSIONS, SIZE_OBSERVATIONS, Some(bytes / SIZE_VERSIONS), label)
    }

    /// A new ~50 KB entry for `rec`.
    fn update_entry(&mut self, rec: &Rec) -> Vec<u8> {
        self.entries.sized(&rec.patient, false, UPDATE_OBSERVATIONS, UPDATE)
    }

    /// `Owner::update` of a new ~50 KB entry, timed as a whole.
    fn full(&mut self, rec: &mut Rec) -> Duration {
        let entry = self.update_entry(rec);
        settle();
        let started = Instant::now();
        self.rt.block_on(self.owner.update(&mut rec.record, &entry)).expect("update");
        let elapsed = started.elapsed();
        rec.bytes += entry.len();
        elapsed
    }

    /// The same flow step by step (`Owner::update` is exactly these three calls).
    fn phases(&mut self, rec: &mut Rec) -> Phases {
        let entry = self.update_entry(rec);
        settle();
        let owner = &self.owner;
        let phases = self.rt.block_on(async {
            let started = Instant::now();
            owner.request_license(&rec.record).await.expect("license");
            let license = started.elapsed();
            let request = owner.request(&rec.record, &entry).expect("request");
            let started = Instant::now();
            let accepted = owner.call_enclave(request).await.expect("enclave");
            let enclave = started.elapsed();
            let started = Instant::now();
            owner.log(&mut rec.record, &accepted).await.expect("log");
            Phases { license, enclave, log: started.elapsed() }
        });
        rec.bytes += entry.len();
        phases
    }

    fn license(&self, rec: &Rec) {
        self.rt.block_on(self.owner.request_license(&rec.record)).expect("license");
    }

    /// The enclave part alone against the record's current version (needs an open license;
    /// appends nothing, so it can be repeated under the same license).
    fn enclave_only(&self, rec: &Rec, entry: &[u8]) -> Duration {
        let request = self.owner.request(&rec.record, entry).expect("request");
        settle();
        let started = Instant::now();
        let accepted = self.rt.block_on(self.owner.call_enclave(request)).expect("enclave call");
        let elapsed = started.elapsed();
        assert_eq!(accepted.version as usize, rec.versions() + 1);
        elapsed
    }

    /// One realistic enclave-only call: license (not timed), then the call, on a record whose
    /// last version was just logged. On a shared record (`refill`), an untimed full update
    /// follows so that the next measured call also finds one new logged version.
    fn enclave_once(&mut self, rec: &mut Rec, refill: bool) -> Duration {
        let entry = self.update_entry(rec);
        self.license(rec);
        let elapsed = self.enclave_only(rec, &entry);
        if refill {
            self.full(rec);
        }
        elapsed
    }

    /// CPU time the enclave process has used so far (all its threads, from schedstat).
    fn enclave_cpu(&self) -> Duration {
        let Some(pid) = self.env.enclave.process_id() else { return Duration::ZERO };
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
        let ns: u64 = tasks
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
            .sum();
        Duration::from_nanos(ns)
    }

    /// The enclave's sealed checkpoint header for the record (what it loads and re-seals,
    /// and the host writes durably, on every update, besides the new version's segment).
    fn checkpoint_path(&self, rec: &Rec) -> PathBuf {
        let id = rec.record.record_id.to_string();
        self.env.home.join("enclave").join(format!("update-{}.sealed", id.trim_start_matches("0x")))
    }

    fn checkpoint_bytes(&self, rec: &Rec) -> u64 {
        std::fs::metadata(self.checkpoint_path(rec)).map(|m| m.len()).unwrap_or(0)
    }

    fn blocks(&self) -> u64 {
        self.env.chain.as_ref().expect("an embedded chain").block_number().expect("block number")
    }
}

fn open(rt: &Runtime, home: &Path) -> Environment {
    rt.block_on(Environment::open(home, &common::program(), ChainStorage::Memory)).expect("environment")
}

/// Checks the generated entries with the validator the enclave runs.
fn check_generator() {
    let mut entries = Entries::default();
    let patient = entries.patient();
    let mut context = RecordContext::new();
    for entry in [
        entries.version(&patient, true, 1, 0),
        entries.version(&patient, false, 1, 0),
        entries.sized(&patient, false, UPDATE_OBSERVATIONS, UPDATE),
        entries.sized(&patient, false, SIZE_OBSERVATIONS, MB / SIZE_VERSIONS),
    ] {
        let accepted = validate_update(&entry, &context)
            .unwrap_or_else(|errors| panic!("generated entry refused: {:?}", &errors[..errors.len().min(5)]));
        context.add(&accepted);
    }
    let entry = entries.sized(&patient, false, UPDATE_OBSERVATIONS, UPDATE);
    eprintln!("generated entries validate; the measured update is {} bytes", entry.len());
}

/// Flushes what earlier, untimed work (building records) left for the disk to write, so a
/// measured update pays for its own writes only.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// What the host does with a sealed blob on every update (`write_durably`): write a
/// temporary file, fsync it, rename it over the old one, fsync the directory.
fn durable_write(dir: &Path, bytes: &[u8]) -> Duration {
    let started = Instant::now();
    let path = dir.join("probe.sealed");
    let temporary = dir.join("probe.sealed.tmp");
    let mut file = std::fs::File::create(&temporary).expect("probe file");
    std::io::Write::write_all(&mut file, bytes).expect("probe write");
    file.sync_all().expect("probe fsync");
    std::fs::rename(&temporary, &path).expect("probe rename");
    std::fs::File::open(dir).and_then(|d| d.sync_all()).expect("probe directory fsync");
    started.elapsed()
}

// ---------------------------------------------------------------------------------------
// Summaries

/// The measurements of one case (a history length or size), round by round.
#[derive(Default)]
struct Case {
    /// Full updates, split as `Owner::update` runs them.
    phases: Vec<Phases>,
    /// Enclave-only calls, each the first after a logged version (as in a real update).
    enclave_only: Vec<Duration>,
    /// CPU time of the enclave process during those calls.
    enclave_cpu: Vec<Duration>,
    /// A second enclave-only call under the same license (no new log entry to catch up on).
    repeat: Vec<Duration>,
    versions: (usize, usize),
    bytes: (usize, usize),
    checkpoint: (u64, u64),
}

impl Case {
    fn observe(&mut self, lab: &Lab<'_>, rec: &Rec) {
        let (v, b, c) = (rec.versions(), rec.bytes, lab.checkpoint_bytes(rec));
        if self.phases.is_empty() {
            (self.versions, self.bytes, self.checkpoint) = ((v, v), (b, b), (c, c));
        }
        self.versions = (self.versions.0.min(v), self.versions.1.max(v));
        self.bytes = (self.bytes.0.min(b), self.bytes.1.max(b));
        self.checkpoint = (self.checkpoint.0.min(c), self.checkpoint.1.max(c));
    }

    /// One round: a full update on `rec`; then, on `other` if given (a fresh record in the
    /// same state) or else on `rec` followed by an untimed update, an enclave-only call and a
    /// repeat of it under the same license.
    fn round(&mut self, lab: &mut Lab<'_>, rec: &mut Rec, other: Option<&mut Rec>) {
        self.observe(lab, rec);
        self.phases.push(lab.phases(rec));
        let refill = other.is_none();
        let target = match other {
            Some(other) => other,
            None => rec,
        };
        let entry = lab.update_entry(target);
        lab.license(target);
        let cpu = lab.enclave_cpu();
        self.enclave_only.push(lab.enclave_only(target, &entry));
        self.enclave_cpu.push(lab.enclave_cpu().saturating_sub(cpu));
        self.repeat.push(lab.enclave_only(target, &entry));
        if refill {
            lab.full(target);
        }
    }

    fn full(&self) -> Duration {
        self.part(Phases::total)
    }

    fn part(&self, f: impl Fn(&Phases) -> Duration) -> Duration {
        median(&self.phases.iter().map(f).collect::<Vec<_>>())
    }

    fn line(&self, name: &str) -> String {
        format!(
            "  {name:>6}: full {:6.2} ms = license tx {:5.2} + enclave {:6.2} + append/confirm tx + index {:5.2} | enclave only {:6.2} ms (enclave CPU {:5.2} ms; repeat under the same license {:6.2} ms) | versions {}–{}, history {:.2}–{:.2} MB, sealed checkpoint {:.1}–{:.1} KB",
            ms(self.full()),
            ms(self.part(|p| p.license)),
            ms(self.part(|p| p.enclave)),
            ms(self.part(|p| p.log)),
            ms(median(&self.enclave_only)),
            ms(median(&self.enclave_cpu)),
            ms(median(&self.repeat)),
            self.versions.0,
            self.versions.1,
            self.bytes.0 as f64 / MB as f64,
            self.bytes.1 as f64 / MB as f64,
            self.checkpoint.0 as f64 / KB as f64,
            self.checkpoint.1 as f64 / KB as f64,
        )
    }

    /// The ratio lines of `large` against `self`.
    fn ratios(&self, large: &Case, what: &str) -> Vec<String> {
        let r = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
        let verdict = |x: f64| if x <= 1.2 { "met" } else { "NOT met" };
        let full = r(self.full(), large.full());
        let enclave = r(median(&self.enclave_only), median(&large.enclave_only));
        vec![
            format!(
                "  full update, {what}: {:.2} ms vs {:.2} ms = {full:.2}× (goal ≤ 1.2×: {})",
                ms(self.full()),
                ms(large.full()),
                verdict(full)
            ),
            format!(
                "  enclave only, {what}: {:.2} ms vs {:.2} ms = {enclave:.2}× (goal ≤ 1.2×: {})",
                ms(median(&self.enclave_only)),
                ms(median(&large.enclave_only)),
                verdict(enclave)
            ),
            format!(
                "  within the full flow, {what}: enclave call {:+.2} ms ({:.2}×), license + append/confirm + index {:+.2} ms ({:.2}×); enclave CPU {:+.2} ms ({:.2}×); repeat {:.2}×",
                ms(large.part(|p| p.enclave)) - ms(self.part(|p| p.enclave)),
                r(self.part(|p| p.enclave), large.part(|p| p.enclave)),
                ms(large.part(|p| p.license + p.log)) - ms(self.part(|p| p.license + p.log)),
                r(self.part(|p| p.license + p.log), large.part(|p| p.license + p.log)),
                ms(median(&large.enclave_cpu)) - ms(median(&self.enclave_cpu)),
                r(median(&self.enclave_cpu), median(&large.enclave_cpu)),
                r(median(&self.repeat), median(&large.repeat)),
            ),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: latency vs number of versions

fn part_versions(rt: &Runtime, criterion: &mut Criterion) -> Vec<String> {
    let home = tempfile::tempdir().expect("temporary directory");
    let env = open(rt, home.path());
    let mut lab = Lab::new(rt, &env, 20);
    eprintln!("part 1: records of 100 and 1,000 small versions");
    let mut shared: BTreeMap<usize, Rec> = BTreeMap::new();
    for h in [1000, 100] {
        let label = format!("{h}-version record");
        shared.insert(h, lab.small_history(h, Some(&label)));
    }

    eprintln!("part 1: interleaved summary, {ROUNDS} rounds");
    let mut cases: BTreeMap<usize, Case> = BTreeMap::new();
    for round in 0..ROUNDS {
        for i in 0..HISTORIES.len() {
            let h = HISTORIES[(i + round) % HISTORIES.len()];
            let case = cases.entry(h).or_default();
            match shared.get_mut(&h) {
                Some(rec) => case.round(&mut lab, rec, None),
                None => {
                    let (mut rec, mut other) = (lab.small_history(h, None), lab.small_history(h, None));
                    case.round(&mut lab, &mut rec, Some(&mut other));
                }
            }
        }
    }

    // the host's durable write of the smallest and the largest checkpoint, interleaved
    let (small_blob, large_blob) = (cases[&1].checkpoint.1 as usize, cases[&1000].checkpoint.1 as usize);
    let probe = home.path().join("probe");
    std::fs::create_dir_all(&probe).expect("probe directory");
    let (mut small_writes, mut large_writes) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        settle();
        small_writes.push(durable_write(&probe, &vec![0x5a; small_blob]));
        settle();
        large_writes.push(durable_write(&probe, &vec![0x5a; large_blob]));
    }

    eprintln!("part 1: criterion ({} blocks on the chain)", lab.blocks());
    let mut group = criterion.benchmark_group("update_vs_versions");
    group.sampling_mode(SamplingMode::Flat);
    for h in HISTORIES {
        group.bench_function(BenchmarkId::new("full", h), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| match shared.get_mut(&h) {
                        Some(rec) => lab.full(rec),
                        None => {
                            let mut rec = lab.small_history(h, None);
                            lab.full(&mut rec)
                        }
                    })
                    .sum()
            })
        });
    }
    for h in HISTORIES {
        group.bench_function(BenchmarkId::new("enclave_only", h), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| match shared.get_mut(&h) {
                        Some(rec) => lab.enclave_once(rec, true),
                        None => {
                            let mut rec = lab.small_history(h, None);
                            lab.enclave_once(&mut rec, false)
                        }
                    })
                    .sum()
            })
        });
    }
    group.finish();

    let mut out = vec![format!(
        "part 1 — one ~{} KB update onto a record of N small versions (medians of {ROUNDS} interleaved rounds; {} blocks on the chain at the end)",
        UPDATE / KB,
        lab.blocks()
    )];
    for (h, case) in &cases {
        out.push(case.line(&h.to_string()));
    }
    out.extend(cases[&1].ratios(&cases[&1000], "1,000 vs 1 versions"));
    out.extend(cases[&10].ratios(&cases[&1000], "1,000 vs 10 versions"));
    out.push(format!(
        "  host's durable write (write, fsync, rename, fsync dir) of a {:.1} KB vs {:.1} KB sealed checkpoint: {:.2} ms vs {:.2} ms",
        small_blob as f64 / KB as f64,
        large_blob as f64 / KB as f64,
        ms(median(&small_writes)),
        ms(median(&large_writes)),
    ));
    out
}

// ---------------------------------------------------------------------------------------
// Part 2: latency vs history size

fn part_size(rt: &Runtime, criterion: &mut Criterion) -> Vec<String> {
    let home = tempfile::tempdir().expect("temporary directory");
    let env = open(rt, home.path());
    let mut lab = Lab::new(rt, &env, 21);
    eprintln!("part 2: records of ~1 MB and ~100 MB ({SIZE_VERSIONS} versions each)");
    let (small_name, small) = SIZES[0];
    let (large_name, large) = SIZES[1];
    lab.sized_history(small, Some("1 MB record"));
    let mut pool: Vec<Rec> =
        (1..=LARGE_POOL).map(|i| lab.sized_history(large, Some(&format!("100 MB record {i}/{LARGE_POOL}")))).collect();
    let mut turn = 0;

    eprintln!("part 2: interleaved summary, {ROUNDS} rounds");
    let (mut on_small, mut on_large) = (Case::default(), Case::default());
    for round in 0..ROUNDS {
        for which in [round % 2, 1 - round % 2] {
            if which == 0 {
                let (mut rec, mut other) = (lab.sized_history(small, None), lab.sized_history(small, None));
                on_small.round(&mut lab, &mut rec, Some(&mut other));
            } else {
                turn += 1;
                on_large.round(&mut lab, &mut pool[turn % LARGE_POOL], None);
            }
        }
    }

    eprintln!("part 2: criterion");
    let mut group = criterion.benchmark_group("update_vs_size");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("full", small_name), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let mut rec = lab.sized_history(small, None);
                    lab.full(&mut rec)
                })
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("full", large_name), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    turn += 1;
                    lab.full(&mut pool[turn % LARGE_POOL])
                })
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("enclave_only", small_name), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let mut rec = lab.sized_history(small, None);
                    lab.enclave_once(&mut rec, false)
                })
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("enclave_only", large_name), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    turn += 1;
                    lab.enclave_once(&mut pool[turn % LARGE_POOL], true)
                })
                .sum()
        })
    });
    group.finish();

    let mut out = vec![format!(
        "part 2 — one ~{} KB update onto ~1 MB vs ~100 MB of history (medians of {ROUNDS} interleaved rounds)",
        UPDATE / KB
    )];
    out.push(on_small.line(small_name));
    out.push(on_large.line(large_name));
    out.extend(on_small.ratios(&on_large, "100 MB vs 1 MB"));
    out
}

// ---------------------------------------------------------------------------------------
// Part 3: imports

fn part_imports(rt: &Runtime) -> Vec<String> {
    let bundles: Vec<Vec<u8>> = common::bundles().iter().map(|p| std::fs::read(p).expect("bundle")).collect();
    let total_bytes: usize = bundles.iter().map(Vec::len).sum();
    let versions: usize =
        bundles.iter().map(|b| healthchain_fhir::split_into_versions(b).expect("Synthea bundle splits").len()).sum();
    let mut out = vec![format!(
        "part 3 — importing the {} shipped Synthea bundles ({:.1} MB, {versions} versions), one owner each",
        bundles.len(),
        total_bytes as f64 / MB as f64
    )];

    // one after the other, as `healthchain record import` does
    {
        let home = tempfile::tempdir().expect("temporary directory");
        let env = open(rt, home.path());
        let owners: Vec<Owner<'_>> = (0..bundles.len())
            .map(|i| rt.block_on(Owner::new(&env, dev_key(100 + i as u32))).expect("owner"))
            .collect();
        eprintln!("part 3: importing {} bundles one after the other", bundles.len());
        let started = Instant::now();
        let mut imported = 0;
        for (owner, bundle) in owners.iter().zip(&bundles) {
            let record = rt.block_on(owner.import(bundle, None, |_, _| {})).expect("import");
            imported += record.versions.len();
        }
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(imported, versions);
        out.push(format!(
            "  one after the other: {} records, {imported} versions in {secs:.2} s = {:.2} records/s, {:.1} versions/s, {:.2} MB/s ({:.1} ms per version)",
            bundles.len(),
            bundles.len() as f64 / secs,
            imported as f64 / secs,
            total_bytes as f64 / MB as f64 / secs,
            secs * 1e3 / imported as f64
        ));
    }

    // all owners at once
    {
        let home = tempfile::tempdir().expect("temporary directory");
        let env = Arc::new(open(rt, home.path()));
        let keys: Vec<_> = (0..bundles.len()).map(|i| dev_key(200 + i as u32)).collect();
        let ether = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
        rt.block_on(async {
            for key in &keys {
                env.fund(key.address(), ether).await.expect("fund");
            }
        });
        eprintln!("part 3: importing {} bundles concurrently", bundles.len());
        let started = Instant::now();
        let imported: usize = rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for (key, bundle) in keys.into_iter().zip(bundles.iter().cloned()) {
                let env = env.clone();
                tasks.spawn(async move {
                    let owner = Owner::new(&env, key).await.expect("owner");
                    owner.import(&bundle, None, |_, _| {}).await.expect("import").versions.len()
                });
            }
            let mut imported = 0;
            while let Some(n) = tasks.join_next().await {
                imported += n.expect("import task");
            }
            imported
        });
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(imported, versions);
        out.push(format!(
            "  all {} owners at once: {imported} versions in {secs:.2} s = {:.2} records/s, {:.1} versions/s, {:.2} MB/s",
            bundles.len(),
            bundles.len() as f64 / secs,
            imported as f64 / secs,
            total_bytes as f64 / MB as f64 / secs
        ));
    }
    out
}

fn main() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(30))
        .configure_from_args();
    check_generator();
    let mut summary = part_versions(&rt, &mut criterion);
    summary.extend(part_size(&rt, &mut criterion));
    summary.extend(part_imports(&rt));
    criterion.final_summary();
    println!("\n== update summary (issue 5; this run, {:.0} s in all) ==", started.elapsed().as_secs_f64());
    for line in summary {
        println!("{line}");
    }
}
