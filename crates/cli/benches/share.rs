//! The `share` benchmark (issue 6): seed 000 Algorithm 2 inside the enclave — check the
//! grant, open each record key from the committee's shares, verify every version against
//! `UpdateLog` and the anchor, decrypt, run the job, encrypt the result, sign the report —
//! for 10, 100 and 1,000 records, on the whole system (embedded chain, local object store,
//! enclave process, 2-of-3 committee).
//!
//! Two kinds of record, both cut from the 20 shipped Synthea bundles (cycled):
//! - `visit`: the patient's first visit only (one version, ~40 KB on average): what the
//!   per-record cost of the protocol is;
//! - `synthea`: the whole patient history (~11 versions, ~430 KB on average): what a
//!   realistic record costs.
//!
//! What is timed is the data user's call to the enclave's `share` application
//! ([`DataUser::call_enclave`]: session, chain reads, shares, every version, the job); the
//! request is left pending, so the same call can be repeated. Request, committee shares and
//! settlement are one transaction each and are timed once, beside it.
//!
//! Building the 1,000-record `synthea` set imports ~10,600 versions through the update
//! application (about two minutes); `SHARE_BENCH_KINDS=visit` builds and runs one kind only
//! (e.g. under a profiler).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use criterion::{BenchmarkId, Criterion};
use healthchain_core::environment::{ChainStorage, Environment, committee_member_key};
use healthchain_core::records::{FHIR_R4, Owner};
use healthchain_core::share::{CommitteeMember, DataUser};
use healthchain_jobs::JobSpec;
use healthchain_ledger::testing::dev_key;
use tokio::runtime::Runtime;

const SIZES: [usize; 3] = [10, 100, 1000];
const COHORT_JOB: &[u8] = br#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex"]}"#;
/// Repetitions of each case in the summary.
const ROUNDS: usize = 5;

fn synthea_versions() -> Vec<Vec<Vec<u8>>> {
    common::bundles()
        .iter()
        .map(|f| {
            let bundle = std::fs::read(f).expect("bundle");
            let versions = healthchain_fhir::split_into_versions(&bundle).expect("a valid Synthea bundle");
            versions.into_iter().map(|v| v.bytes).collect()
        })
        .collect()
}

/// One kind of record, with the data it was built from.
struct RecordSet {
    kind: &'static str,
    records: Vec<B256>,
    versions: usize,
    bytes: usize,
}

async fn build(env: &Environment, kind: &'static str, patients: &[Vec<Vec<u8>>], whole: bool) -> RecordSet {
    let owner = Owner::new(env, dev_key(1)).await.expect("owner");
    let now = env.connection.timestamp().await.expect("time") as u32;
    let total = *SIZES.iter().max().expect("sizes");
    let started = Instant::now();
    let mut set = RecordSet { kind, records: Vec::with_capacity(total), versions: 0, bytes: 0 };
    for i in 0..total {
        let versions = &patients[i % patients.len()];
        let versions = if whole { &versions[..] } else { &versions[..1] };
        let mut record = owner.upload(&versions[0], FHIR_R4).await.expect("upload");
        for v in &versions[1..] {
            owner.update(&mut record, v).await.expect("update");
        }
        owner.set_policy(record.record_id, 1_000, now, now + 30 * 86_400).await.expect("policy");
        set.records.push(record.record_id);
        set.versions += versions.len();
        set.bytes += versions.iter().map(Vec::len).sum::<usize>();
        if (i + 1) % 100 == 0 {
            eprintln!(
                "  building {kind}: {}/{total} records, {} versions, {:.1} MB, {:.0} s",
                i + 1,
                set.versions,
                set.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
    }
    set
}

/// A granted, served, pending request over the first `n` records of `set`.
struct Prepared {
    kind: &'static str,
    n: usize,
    request_id: u64,
    versions: usize,
    bytes: usize,
    request: Duration,
    committee: Duration,
}

async fn prepare(user: &DataUser<'_>, members: &[CommitteeMember<'_>], set: &RecordSet, n: usize) -> Prepared {
    let spec = JobSpec::parse(COHORT_JOB).expect("job");
    let started = Instant::now();
    let request_id = user.request(&set.records[..n], &spec).await.expect("request");
    let request = started.elapsed();
    let started = Instant::now();
    for member in members {
        member.serve_pending().await.expect("shares");
    }
    let committee = started.elapsed();
    let versions = set.versions * n / set.records.len();
    let bytes = set.bytes * n / set.records.len();
    Prepared { kind: set.kind, n, request_id, versions, bytes, request, committee }
}

async fn enclave_run(user: &DataUser<'_>, prepared: &Prepared) -> Duration {
    let request = user.share_request(prepared.request_id, COHORT_JOB).await.expect("share request");
    let started = Instant::now();
    let accepted = user.call_enclave(request).await.expect("the enclave runs the job");
    let elapsed = started.elapsed();
    assert_eq!(accepted.records.len(), prepared.n);
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let started = Instant::now();
    let rt = Runtime::new().expect("runtime");
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(100))
        .configure_from_args();
    let home = tempfile::tempdir().expect("temporary directory");
    let patients = synthea_versions();
    let env = rt
        .block_on(Environment::open_with_committee(home.path(), &common::program(), ChainStorage::Memory, 2, 3))
        .expect("environment");
    let kinds = std::env::var("SHARE_BENCH_KINDS").unwrap_or_else(|_| "visit,synthea".into());
    let sets = rt.block_on(async {
        let mut sets = Vec::new();
        for kind in kinds.split(',') {
            sets.push(match kind {
                "visit" => build(&env, "visit", &patients, false).await,
                "synthea" => build(&env, "synthea", &patients, true).await,
                other => panic!("SHARE_BENCH_KINDS: unknown kind {other:?} (visit, synthea)"),
            });
        }
        sets
    });
    let user = rt.block_on(DataUser::new(&env, dev_key(2))).expect("data user");
    let members: Vec<CommitteeMember> = (0..2)
        .map(|i| {
            let share = env.committee_share(i).expect("share");
            rt.block_on(CommitteeMember::new(&env, committee_member_key(i), share)).expect("member")
        })
        .collect();
    let prepared: Vec<Prepared> = rt.block_on(async {
        let mut out = Vec::new();
        for set in &sets {
            for n in SIZES {
                out.push(prepare(&user, &members, set, n).await);
            }
        }
        out
    });

    // the summary: rounds interleaved over every case
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); prepared.len()];
    for _ in 0..ROUNDS {
        for (case, p) in prepared.iter().enumerate() {
            samples[case].push(rt.block_on(enclave_run(&user, p)));
        }
    }

    let mut group = criterion.benchmark_group("share");
    for p in &prepared {
        group.bench_with_input(BenchmarkId::new(p.kind, p.n), p, |b, p| {
            b.iter_custom(|iterations| (0..iterations).map(|_| rt.block_on(enclave_run(&user, p))).sum())
        });
    }
    group.finish();
    criterion.final_summary();

    println!("\n== share summary (issue 6; this run, {:.0} s in all) ==", started.elapsed().as_secs_f64());
    println!(
        "verify + decrypt + compute (cohort_stats) in the enclave, 2-of-3 committee; medians of {ROUNDS} interleaved rounds"
    );
    for (p, s) in prepared.iter().zip(&samples) {
        let m = median(s.clone());
        println!(
            "  {:>7} {:>5} records ({:>6} versions, {:>7.1} MB): {:>9.1} ms = {:>6.3} ms per record, {:>6.3} ms per version (min {:.1}, max {:.1}) | request tx {:.1} ms, committee shares {:.1} ms",
            p.kind,
            p.n,
            p.versions,
            p.bytes as f64 / 1e6,
            ms(m),
            ms(m) / p.n as f64,
            ms(m) / p.versions as f64,
            ms(*s.iter().min().expect("samples")),
            ms(*s.iter().max().expect("samples")),
            ms(p.request),
            ms(p.committee)
        );
    }
    for (p, s) in prepared.iter().zip(&samples).filter(|(p, _)| p.n == 1000) {
        let m = ms(median(s.clone()));
        let verdict = if m <= 1000.0 { "met" } else { "NOT met" };
        println!("  goal: 1,000 {} records in ≤ 1 s: {m:.0} ms ({verdict})", p.kind);
    }
    println!("  seed 000 Fig. 6a–b: 2–3 ms of SGX overhead per record");
}
