//! `share`: seed 000 Algorithm 2 in the enclave — check the grant, open each record key from
//! the committee's shares, verify every version against `UpdateLog` and the anchor, decrypt,
//! run the job, encrypt the result, sign the report — for 10 / 100 / 1,000 single-visit
//! records cut from the shipped Synthea bundles, on the whole system (embedded chain, object
//! store, enclave process, 2-of-3 committee). The peer: the same job alone, in this process,
//! over the same records in plaintext (no verification, no decryption, no enclave).

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Instant;

use alloy_primitives::B256;
use healthchain_core::environment::{ChainStorage, Environment, committee_member_key};
use healthchain_core::host::EnclaveProgram;
use healthchain_core::records::{FHIR_R4, Owner};
use healthchain_core::share::{CommitteeMember, DataUser};
use healthchain_fhir::Date;
use healthchain_jobs::{JobSpec, RecordInput};
use healthchain_ledger::testing::dev_key;

use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit};

const COHORT_JOB: &[u8] = br#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex"]}"#;
/// Where `healthchain bench` finds the shipped Synthea bundles (run from the repository root).
const SYNTHEA: &str = "data/fhir/synthea";

fn fail<E: Display>(what: &str) -> impl Fn(E) -> BenchError + '_ {
    move |e| BenchError::failed(Suite::Share, format!("{what}: {e}"))
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// The first visit of every shipped Synthea patient (one FHIR Bundle each).
fn first_visits() -> Result<Vec<Vec<u8>>, BenchError> {
    let dir = std::env::current_dir().map_err(fail("the working directory"))?.join(SYNTHEA);
    let missing = |why: String| {
        BenchError::failed(
            Suite::Share,
            format!(
                "no Synthea bundles in {} ({why}): run `healthchain bench` from the repository root, where {SYNTHEA} holds the shipped bundles",
                dir.display()
            ),
        )
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| missing(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    if files.is_empty() {
        return Err(missing("no *.json files".into()));
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let what = format!("{}", path.display());
            let bytes = std::fs::read(path).map_err(fail(&what))?;
            let mut versions = healthchain_fhir::split_into_versions(&bytes).map_err(fail(&what))?;
            if versions.is_empty() {
                return Err(fail(&what)("the bundle has no visit"));
            }
            Ok(versions.swap_remove(0).bytes)
        })
        .collect()
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report = SuiteReport::new(
        Suite::Share,
        "seed 000 Algorithm 2: verify + decrypt + compute in the enclave, 10 / 100 / 1,000 records",
    );
    let (sizes, rounds): (&[usize], usize) = if options.quick { (&[10, 50], 3) } else { (&[10, 100, 1000], 5) };
    let total = sizes.iter().copied().max().unwrap_or(0);
    let patients = first_visits()?;
    let inputs: Vec<Vec<u8>> = (0..total).map(|i| patients[i % patients.len()].clone()).collect();
    let spec = JobSpec::parse(COHORT_JOB).map_err(fail("the cohort_stats job"))?;

    let runtime = crate::runtime(Suite::Share)?;
    let home = options.scratch.join("share");
    match std::fs::remove_dir_all(&home) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("clearing the scratch directory")(e)),
        _ => {}
    }
    let program = EnclaveProgram { program: options.program.clone(), args: vec!["enclave-process".into()] };
    let env = runtime
        .block_on(Environment::open_with_committee(&home, &program, ChainStorage::Memory, 2, 3))
        .map_err(fail("opening the environment (embedded chain, store, enclave process, committee)"))?;

    let started = Instant::now();
    let records = runtime.block_on(build(&env, &inputs))?;
    let build_s = started.elapsed().as_secs_f64();
    let user = runtime.block_on(DataUser::new(&env, dev_key(2))).map_err(fail("creating the data user"))?;
    let members = runtime.block_on(async {
        let mut members = Vec::new();
        for i in 0..2 {
            let share = env.committee_share(i).map_err(fail("a committee member's share"))?;
            members.push(
                CommitteeMember::new(&env, committee_member_key(i), share)
                    .await
                    .map_err(fail("creating a committee member"))?,
            );
        }
        Ok::<_, BenchError>(members)
    })?;

    // One granted, served request per size, left pending so the enclave call can be repeated.
    let mut requests = Vec::new();
    let mut setup = Vec::new();
    for &n in sizes {
        let (request_id, request_ms, shares_ms) = runtime.block_on(async {
            let started = Instant::now();
            let id = user.request(&records[..n], &spec).await.map_err(fail("requesting access"))?;
            let request_ms = ms_since(started);
            let started = Instant::now();
            for member in &members {
                member.serve_pending().await.map_err(fail("a committee member serving its shares"))?;
            }
            Ok::<_, BenchError>((id, request_ms, ms_since(started)))
        })?;
        requests.push(request_id);
        setup.push(format!("{n}: {request_ms:.1} / {shares_ms:.0} ms"));
    }

    let as_of = Date::new(2026, 1, 1).ok_or_else(|| fail("a date")("2026-01-01"))?;
    let plaintext: Vec<RecordInput> = inputs.iter().map(|b| RecordInput::single(b.clone())).collect();
    let enclave_call = |request_id: u64, n: usize| -> Result<f64, BenchError> {
        runtime.block_on(async {
            let request =
                user.share_request(request_id, COHORT_JOB).await.map_err(fail("preparing the share request"))?;
            let started = Instant::now();
            let accepted = user.call_enclave(request).await.map_err(fail("the enclave's share application"))?;
            let elapsed = ms_since(started);
            if accepted.records.len() != n {
                return Err(fail("the enclave's share application")(format!(
                    "used {} records of {n}",
                    accepted.records.len()
                )));
            }
            Ok(elapsed)
        })
    };
    let job_alone = |n: usize| -> Result<f64, BenchError> {
        let started = Instant::now();
        std::hint::black_box(healthchain_jobs::run(&spec, &plaintext[..n], as_of).map_err(fail("the job in process"))?);
        Ok(ms_since(started))
    };

    // Warm-up, then rounds interleaved over every size.
    for (&n, &id) in sizes.iter().zip(&requests) {
        enclave_call(id, n)?;
        job_alone(n)?;
    }
    let mut enclave_ms = vec![Vec::with_capacity(rounds); sizes.len()];
    let mut alone_ms = vec![Vec::with_capacity(rounds); sizes.len()];
    for _ in 0..rounds {
        for (i, (&n, &id)) in sizes.iter().zip(&requests).enumerate() {
            enclave_ms[i].push(enclave_call(id, n)?);
            alone_ms[i].push(job_alone(n)?);
        }
    }

    let mut ours = Series { name: "verify + decrypt + compute, enclave".into(), points: Vec::new() };
    let mut alone = Series { name: "the job alone, plaintext, in process".into(), points: Vec::new() };
    for ((&n, enclave), plain) in sizes.iter().zip(enclave_ms).zip(alone_ms) {
        let (enclave, plain) = (Stat::of(enclave), Stat::of(plain));
        ours.points.push((n as f64, enclave));
        alone.points.push((n as f64, plain));
        let mut figure = Figure::new(format!("verify + decrypt + compute, {n} records"), Unit::Ms, enclave)
            .peer("job alone in process", plain);
        if n == 1000 {
            figure = figure.paper("2–3 s of SGX overhead alone (2–3 ms × 1,000)").goal(Goal::AtMost(1000.0));
        }
        report.figures.push(figure);
    }
    if let (Some(&n), Some(&(_, stat))) = (sizes.last(), ours.points.last()) {
        report.figures.push(
            Figure::new(format!("per record, at {n} records"), Unit::Ms, stat.map(|ms| ms / n as f64))
                .paper("Fig. 6a–b: 2–3 ms SGX overhead per record"),
        );
    }

    let blocks = env.chain.as_ref().and_then(|c| c.block_number().ok());
    let kb = inputs.iter().map(Vec::len).sum::<usize>() as f64 / 1e3 / total.max(1) as f64;
    report.notes.push(format!(
        "records: the first visit of each of the {} shipped Synthea patients, cycled (one version, {kb:.0} KB of FHIR on average); {total} built in {build_s:.0} s; job cohort_stats (LOINC 8302-2 by sex); timed: `DataUser::call_enclave` (session, chain reads, committee shares, every version verified and decrypted, the job, the result sealed and signed), medians of {rounds} interleaved rounds; the chain held {} blocks",
        patients.len(),
        blocks.map_or("?".into(), |b| b.to_string())
    ));
    report.notes.push(format!(
        "not in the figures, timed once per request: request tx / committee shares (2 of 3 members): {}",
        setup.join(", ")
    ));
    report.plots.push(Plot {
        name: "share_records".into(),
        title: "Verify + decrypt + compute in the enclave vs records".into(),
        x_label: "records".into(),
        y_label: "time (ms)".into(),
        kind: PlotKind::Lines,
        series: vec![ours, alone],
    });
    Ok(report)
}

/// Uploads one record per input (one version each) with a policy in force for 30 days.
async fn build(env: &Environment, inputs: &[Vec<u8>]) -> Result<Vec<B256>, BenchError> {
    let owner = Owner::new(env, dev_key(1)).await.map_err(fail("creating the record owner"))?;
    let now = env.connection.timestamp().await.map_err(fail("reading the chain's time"))?;
    let now = u32::try_from(now).map_err(fail("the chain's time"))?;
    let mut records = Vec::with_capacity(inputs.len());
    for input in inputs {
        let record = owner.upload(input, FHIR_R4).await.map_err(fail("uploading a record"))?;
        owner
            .set_policy(record.record_id, 1_000, now, now + 30 * 86_400)
            .await
            .map_err(fail("setting a record's policy"))?;
        records.push(record.record_id);
    }
    Ok(records)
}
