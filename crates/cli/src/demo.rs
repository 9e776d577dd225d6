//! `healthchain demo`: the story on embedded defaults, as far as it is built.
//!
//! Today, on the shipped Synthea patients, in a throw-away embedded environment (chain
//! with all contracts, object store, enclave process approved on the Directory, a 2-of-3
//! key-authorization committee): each patient's bundle is split into dated versions; the
//! record is registered under a chameleon anchor and every version — the first included —
//! is validated by the enclave's update application under an on-chain license and logged
//! on UpdateLog; anyone verifies every version from the chain and the store; the owner
//! sets a sharing policy. A researcher then pays for a cohort_stats and a
//! logistic_regression job over all records: two of three committee members release the
//! keys towards the enclave, which verifies, decrypts, computes and returns only the
//! encrypted result; the owners are paid. A warrant is signed; attacks are refused. Then
//! seed 001 on the same environment ([`clinical`]): a hospital approved on the consortium
//! Directory, its doctors writing the first patients' records as EHRs (hash on
//! `EhrRegistry`, EHR into the enclave's SQLCipher store) under warrants sealed with
//! treatment keys, the patients' integrity checks, the hospital fetching the EHRs, and
//! refused attacks.

mod clinical;

use crate::output::{Progress, say};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_core::attached::RunningNode;
use healthchain_core::environment::committee_member_key;
use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_core::host::EnclaveProgram;
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner, RecordError, verify};
use healthchain_core::share::{CommitteeMember, DataUser, ShareError};
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client;
use healthchain_enclave::evidence::Evidence;
use healthchain_enclave::host::{EnclaveBackend, EnclaveError};
use healthchain_enclave::protocol::{Ecall, EcallResult};
use healthchain_enclave::runtime::{STATUS_APP, Status};
use healthchain_jobs::{JobResult, JobSpec};
use healthchain_store::{ObjectAddress, Store};
use healthchain_update::UpdateRefusal;
use healthchain_update::history::Unqualified;
use serde_json::json;

/// The Synthea bundles shipped with the project.
pub const DEFAULT_PATIENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea");

/// What each access to a record costs in the demo, in gwei.
const CHARGE_GWEI: u32 = 1_000;
/// The researcher's jobs: height statistics by sex, and obesity from age, sex, body
/// weight and systolic blood pressure.
const COHORT_JOB: &[u8] = br#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex"]}"#;
const MODEL_JOB: &[u8] = br#"{"job": "logistic_regression", "label_snomed": "162864005",
    "features": {"age": true, "sex": true, "loinc": ["29463-7", "8480-6"]}}"#;

/// Why the demo could not run.
#[derive(Debug)]
pub enum DemoError {
    /// The patients directory could not be read.
    Io(PathBuf, std::io::Error),
    /// A bundle is not a FHIR Bundle with entries.
    NotABundle(PathBuf, String),
    /// No bundles found.
    NoPatients(PathBuf),
    /// The enclave could not be launched or verified.
    Enclave(String),
    /// A step that must succeed failed.
    Failed(String),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Io(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            DemoError::NotABundle(path, why) => {
                write!(f, "{} is not a FHIR Bundle: {why}", path.display())
            }
            DemoError::NoPatients(path) => {
                write!(f, "no *.json patient bundles in {}", path.display())
            }
            DemoError::Enclave(why) => write!(f, "enclave: {why}"),
            DemoError::Failed(what) => write!(f, "demo step failed: {what}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Splits a patient bundle into record versions (first encounter, then one per later
/// encounter, in date order) and validates each version in the context of the ones before
/// it, as the enclave will: references resolve, same patient, nothing rewritten.
fn visits(path: &Path, bundle: &[u8]) -> Result<Vec<Vec<u8>>, DemoError> {
    let versions =
        healthchain_fhir::split_into_versions(bundle).map_err(|e| DemoError::NotABundle(path.into(), e.to_string()))?;
    let mut context = healthchain_fhir::RecordContext::new();
    for version in &versions {
        let validated = healthchain_fhir::validate_update(&version.bytes, &context).map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            DemoError::NotABundle(path.into(), format!("version {} is invalid: {first}", version.number))
        })?;
        context.add(&validated);
    }
    Ok(versions.into_iter().map(|v| v.bytes).collect())
}

struct Timings(BTreeMap<&'static str, f64>);

impl Timings {
    fn time<T>(&mut self, step: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        self.add(step, start);
        value
    }

    fn add(&mut self, step: &'static str, since: Instant) {
        *self.0.entry(step).or_default() += since.elapsed().as_secs_f64() * 1e3;
    }
}

#[derive(Default)]
struct Tally {
    records: usize,
    versions: usize,
    versions_verified: usize,
    bytes: usize,
    jobs_completed: usize,
    payments_wei: alloy_primitives::U256,
    attacks_attempted: usize,
    attacks_refused: usize,
    committee_threshold: u8,
    committee_size: u8,
}

impl Tally {
    fn attack(&mut self, refused: bool) {
        self.attacks_attempted += 1;
        self.attacks_refused += usize::from(refused);
    }
}

/// Runs the demo over the bundles in `dir`: in a throw-away environment, or (`home`) in a
/// durable one, through the node that serves it if one is announced there.
pub fn run(dir: &Path, limit: Option<usize>, as_json: bool, home: Option<&Path>) -> Result<(), DemoError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DemoError::Io(dir.into(), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files.truncate(limit.unwrap_or(usize::MAX));
    if files.is_empty() {
        return Err(DemoError::NoPatients(dir.into()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::Failed(format!("cannot start the async runtime: {e}")))?;
    match home {
        Some(home) => runtime.block_on(story(&files, home, ChainStorage::Durable, as_json)),
        None => {
            let state = tempfile::tempdir().map_err(|e| DemoError::Io(std::env::temp_dir(), e))?;
            runtime.block_on(story(&files, state.path(), ChainStorage::Memory, as_json))
        }
    }
}

/// The demo's environment: a node's, when one serves `home`; else opened here, with a
/// 2-of-3 committee if it is created now.
async fn environment(home: &Path, storage: ChainStorage) -> Result<Environment, DemoError> {
    let program = EnclaveProgram::current_exe().map_err(|e| DemoError::Enclave(e.to_string()))?;
    let node = match storage {
        ChainStorage::Durable => RunningNode::serving(home).map_err(DemoError::Failed)?,
        ChainStorage::Memory => None,
    };
    let opened = match node {
        Some(node) => Environment::attach(home, &program, &node).await,
        None => Environment::open_with_committee(home, &program, storage, 2, 3).await,
    };
    opened.map_err(|e| DemoError::Enclave(e.to_string()))
}

fn failed(e: impl std::fmt::Display) -> DemoError {
    DemoError::Failed(e.to_string())
}

async fn story(files: &[PathBuf], home: &Path, storage: ChainStorage, as_json: bool) -> Result<(), DemoError> {
    let mut rng = rand::rng();
    let mut timings = Timings(BTreeMap::new());
    let mut tally = Tally::default();
    let started = Instant::now();
    let env = environment(home, storage).await?;
    timings.add("environment", started);
    let trusted = env.enclave_identity();
    let mut owners: Vec<(EthKey, OwnedRecord)> = Vec::new();
    // The first patients' keys and visits, for the clinical section.
    let mut treated: Vec<(EthKey, Vec<Vec<u8>>)> = Vec::new();

    let progress = Progress::new("demo: records", files.len(), "patients");
    for (done, path) in files.iter().enumerate() {
        let text = std::fs::read(path).map_err(|e| DemoError::Io(path.clone(), e))?;
        let visits = timings.time("fhir_split_validate", || visits(path, &text))?;
        let patient = EthKey::generate(&mut rng);
        let owner = Owner::new(&env, patient.clone()).await.map_err(failed)?;

        // Upload and every follow-up visit through the enclave's update application: a
        // license on-chain, validation inside, the version logged on UpdateLog.
        let started = Instant::now();
        let mut record = owner.upload(&visits[0], FHIR_R4).await.map_err(failed)?;
        timings.add("upload", started);
        let started = Instant::now();
        for visit in &visits[1..] {
            owner.update(&mut record, visit).await.map_err(failed)?;
        }
        timings.add("updates", started);

        // Anyone verifies every version from the chain and the store, without keys.
        let started = Instant::now();
        let report = verify(&env, record.record_id).await.map_err(failed)?;
        timings.add("verify", started);
        if report.registration.anchor != record.anchor || report.versions.len() != visits.len() {
            return Err(DemoError::Failed(format!("{}: record did not round-trip", path.display())));
        }

        // The owner offers the record for computations: a charge per access, open for a day.
        let started = Instant::now();
        let now = env.connection.timestamp().await.map_err(failed)?;
        let (start, end) = (u32::try_from(now).map_err(failed)?, u32::try_from(now + 86_400).map_err(failed)?);
        owner.set_policy(record.record_id, CHARGE_GWEI, start, end).await.map_err(failed)?;
        timings.add("policy", started);

        // A warrant for an ordered group of three doctors.
        let doctors: Vec<EthKey> = (0..3).map(|_| EthKey::generate(&mut rng)).collect();
        let domain = eip712::domain(31337, Address::ZERO);
        let warrant = Warrant {
            patient: patient.address(),
            doctors: doctors
                .iter()
                .map(|d| DoctorTerm { doctor: d.address(), notBefore: 0, notAfter: u64::MAX })
                .collect(),
            aux: B256::ZERO,
        };
        let signed = timings.time("warrant", || SignedWarrant::sign(&patient, warrant, &domain));
        if signed.authorize(&domain, doctors[2].address(), 1).is_err() {
            return Err(DemoError::Failed("warrant did not authorize its doctor".into()));
        }

        // Attacks: an update without a license, an update rewriting history, a session
        // record altered by the host, a doctor outside the warrant (and, after the jobs, a
        // ciphertext altered in the store).
        let mut rewrite = owner.request(&record, &visits[0]).map_err(failed)?;
        tally.attack(matches!(owner.call_enclave(rewrite.clone()).await, Err(RecordError::Refused(_))));
        owner.request_license(&record).await.map_err(failed)?;
        rewrite.base_digest.0[0] ^= 1;
        tally.attack(matches!(
            owner.call_enclave(rewrite).await,
            Err(RecordError::Refused(UpdateRefusal::RewritesHistory { .. }))
        ));
        let tampering = TamperingHost(env.enclave.as_ref());
        tally.attack(
            tokio::task::block_in_place(|| {
                client::connect(&tampering, patient.clone(), trusted)
                    .and_then(|mut session| session.call::<_, Status>(STATUS_APP, &()))
            })
            .is_err(),
        );
        tally.attack(signed.authorize(&domain, patient.address(), 1).is_err());

        tally.records += 1;
        tally.versions += visits.len();
        tally.versions_verified += report.qualified();
        tally.bytes += visits.iter().map(Vec::len).sum::<usize>();
        if treated.len() < clinical::PATIENTS {
            treated.push((patient.clone(), visits));
        }
        owners.push((patient, record));
        progress.set(done + 1);
    }

    let results = share(&env, &owners, &mut timings, &mut tally).await?;
    let ehrs = clinical::run(&env, &treated, &mut timings, &mut tally).await?;

    // A dishonest storage provider alters one ciphertext of each record: verify marks
    // that version unqualified.
    for (_, record) in &owners {
        tamper_stored_object(&env.store, &ObjectAddress(record.versions[0].entry.0)).await?;
        let after = verify(&env, record.record_id).await.map_err(failed)?;
        tally.attack(matches!(after.versions[0].problem, Some(Unqualified::EntryTampered(_))));
    }

    let timings_ms: BTreeMap<&str, f64> = timings.0.iter().map(|(k, v)| (*k, (v * 1000.0).round() / 1000.0)).collect();
    if as_json {
        let summary = json!({
            "records": tally.records,
            "versions": tally.versions,
            "versions_verified": tally.versions_verified,
            "plaintext_bytes": tally.bytes,
            "jobs_completed": tally.jobs_completed,
            "payments_wei": tally.payments_wei.to_string(),
            "results": results,
            "attacks_attempted": tally.attacks_attempted,
            "attacks_refused": tally.attacks_refused,
            "ehr_patients": ehrs.patients,
            "ehr_group_case": ehrs.group_case,
            "ehrs": ehrs.ehrs_written,
            "ehr_versions_written": ehrs.versions_written,
            "ehrs_checked": ehrs.ehrs_checked,
            "integrity_checks_passed": ehrs.ehrs_intact,
            "hospital_fetched": ehrs.hospital_fetched,
            "hospital_fetched_intact": ehrs.hospital_intact,
            "timings_ms": timings_ms,
        });
        say!("{summary:#}");
    } else {
        say!(
            "healthchain demo — seed 000 records and seed 001 EHRs on embedded defaults with {} Synthea patients",
            tally.records
        );
        say!(
            "  enclave: separate process, measurement {}, evidence verified (simulated platform), approved on the Directory",
            env.verified.measurement
        );
        say!(
            "  records {}  versions {}  qualified {}  ({} KB of FHIR)",
            tally.records,
            tally.versions,
            tally.versions_verified,
            tally.bytes / 1024
        );
        say!("  every version validated by the enclave under an on-chain license and logged on UpdateLog");
        say!("  every anchor unchanged across all updates; every version verified from chain and store without keys");
        say!(
            "  a researcher paid for {} jobs over all {} records; {} of {} committee members released the keys towards the enclave,",
            tally.jobs_completed,
            tally.records,
            tally.committee_threshold,
            tally.committee_size
        );
        say!(
            "  which verified every version, decrypted, computed and returned only encrypted results; owners were paid {} ETH",
            crate::output::ether(tally.payments_wei)
        );
        for result in &results {
            say!("  {}", summary_line(result));
        }
        let mut cases = vec![
            "case 1: one doctor wrote patient 1's record after its first visit, then its revision after the second",
        ];
        cases.push(if ehrs.group_case {
            "case 2: three doctors, in the warrant's order, each wrote patient 2's record after its next visit"
        } else {
            "case 2 (three doctors in order) not run: it needs a second patient"
        });
        if ehrs.patients > 2 {
            cases.push("patient 3: one doctor wrote its record after its first visit");
        }
        let cases = cases.join("; ");
        say!(
            "  seed 001: a hospital approved on the consortium Directory enrolled 3 doctors; {} patients got treatment keys and sealed warrants;",
            ehrs.patients
        );
        say!(
            "  {} EHRs ({} versions) written, hash on EhrRegistry and EHR into the enclave's SQLCipher store ({cases})",
            ehrs.ehrs_written,
            ehrs.versions_written
        );
        say!(
            "  patients' integrity checks: {}/{} intact; the hospital fetched {} EHRs over attested sessions, {} intact",
            ehrs.ehrs_intact,
            ehrs.ehrs_checked,
            ehrs.hospital_fetched,
            ehrs.hospital_intact
        );
        say!(
            "  attacks refused {}/{} (per record: update without license, update rewriting history, session record altered by the host, doctor outside warrant, ciphertext altered in the store; then a forged completion report, a replayed completion, a request for a revoked record; seed 001: a doctor out of order in the group, an unenrolled doctor writing, a warrant used outside its period, a forged warrant signature, an unapproved hospital fetching)",
            tally.attacks_refused,
            tally.attacks_attempted
        );
        say!("  timings (ms):");
        for (step, ms) in &timings_ms {
            say!("    {step:<20} {ms:>10.3}");
        }
    }
    if tally.versions_verified != tally.versions || tally.attacks_refused != tally.attacks_attempted {
        return Err(DemoError::Failed("a version failed to verify or an attack was not refused".into()));
    }
    if !ehrs.all_intact() {
        return Err(DemoError::Failed("an EHR did not match its hash on EhrRegistry".into()));
    }
    Ok(())
}

/// Sharing (seed 000 Algorithm 2): a researcher requests each job over every record and
/// pays; two of three committee members post their shares; the enclave runs the job; the
/// request is settled and the owners withdraw. Attacks on the way: a completion report
/// forged with another key, a replayed completion, a request including a revoked record.
async fn share(
    env: &Environment,
    owners: &[(EthKey, OwnedRecord)],
    timings: &mut Timings,
    tally: &mut Tally,
) -> Result<Vec<JobResult>, DemoError> {
    let mut rng = rand::rng();
    let researcher = DataUser::new(env, EthKey::generate(&mut rng)).await.map_err(failed)?;
    let directory = env.ledger(&env.admin).await.map_err(failed)?.directory();
    let committee = directory.committee_of(directory.committee_epoch().await.map_err(failed)?).await.map_err(failed)?;
    (tally.committee_threshold, tally.committee_size) = (committee.threshold, committee.size);
    let mut members = Vec::new();
    for index in 0..usize::from(committee.threshold) {
        let share = env.committee_share(index).map_err(failed)?;
        members.push(CommitteeMember::new(env, committee_member_key(index), share).await.map_err(failed)?);
    }
    let records: Vec<B256> = owners.iter().map(|(_, r)| r.record_id).collect();
    let mut results = Vec::new();
    // A model over fewer records than the minimum cohort would be refused by the enclave
    // (it would reveal too much about each patient), so small demos run the statistics only.
    let jobs = if records.len() as u64 >= healthchain_jobs::spec::DEFAULT_MIN_COHORT {
        &[COHORT_JOB, MODEL_JOB][..]
    } else {
        &[COHORT_JOB][..]
    };
    for (k, &job) in jobs.iter().enumerate() {
        let spec = JobSpec::parse(job).map_err(failed)?;
        let started = Instant::now();
        let request_id = researcher.request(&records, &spec).await.map_err(failed)?;
        timings.add("share_request", started);
        let started = Instant::now();
        for member in &members {
            member.serve_pending().await.map_err(failed)?;
        }
        timings.add("share_committee", started);
        let started = Instant::now();
        let accepted = researcher.call_enclave(researcher.share_request(request_id, job).await.map_err(failed)?).await;
        let accepted = accepted.map_err(failed)?;
        timings.add("share_enclave", started);
        if k == 0 {
            let mut forged = accepted.clone();
            let impostor = EthKey::generate(&mut rng);
            let domain = eip712::domain(env.deployment.shared.chain_id, env.deployment.shared.access_control);
            let report = eip712::CompletionReport {
                requestId: alloy_primitives::U256::from(request_id),
                jobHash: accepted.job_hash,
                resultHash: accepted.result_hash,
            };
            forged.signature = eip712::sign(&impostor, &report, &domain).to_vec();
            tally.attack(matches!(researcher.complete(&forged).await, Err(ShareError::Ledger(_))));
        }
        let started = Instant::now();
        researcher.complete(&accepted).await.map_err(failed)?;
        timings.add("share_settle", started);
        if k == 0 {
            tally.attack(matches!(researcher.complete(&accepted).await, Err(ShareError::Ledger(_))));
        }
        results.push(researcher.result(request_id).await.map_err(failed)?);
        tally.jobs_completed += 1;
    }

    let started = Instant::now();
    for (key, _) in owners {
        let owner = Owner::new(env, key.clone()).await.map_err(failed)?;
        let (amount, _) = owner.withdraw().await.map_err(failed)?;
        tally.payments_wei += amount;
    }
    timings.add("owners_withdraw", started);

    let (key, record) = &owners[0];
    let owner = Owner::new(env, key.clone()).await.map_err(failed)?;
    owner.revoke_policy(record.record_id).await.map_err(failed)?;
    let spec = JobSpec::parse(COHORT_JOB).map_err(failed)?;
    tally.attack(matches!(researcher.request(&records, &spec).await, Err(ShareError::Ledger(_))));
    Ok(results)
}

fn summary_line(result: &JobResult) -> String {
    match result {
        JobResult::CohortStats(r) => {
            let groups: Vec<String> = r
                .groups
                .iter()
                .map(|g| {
                    let name = g.group.sex.clone().unwrap_or_else(|| "all".into());
                    match &g.stats {
                        Some(s) => format!("{name}: n={} mean {:.1}", s.count, s.mean),
                        None => format!("{name}: suppressed"),
                    }
                })
                .collect();
            let overall =
                r.overall.stats.as_ref().map_or("suppressed".into(), |s| format!("n={} mean {:.1}", s.count, s.mean));
            format!("cohort_stats LOINC {}: overall {overall}; {}", r.loinc, groups.join("; "))
        }
        JobResult::LogisticRegression(r) => format!(
            "logistic_regression SNOMED {} over {} records: accuracy {:.2}, AUC {:.2}",
            r.label_snomed, r.metrics.n, r.metrics.accuracy, r.metrics.auc
        ),
    }
}

/// A host that flips one bit of every session record it relays.
struct TamperingHost<'a>(&'a dyn EnclaveBackend);

impl EnclaveBackend for TamperingHost<'_> {
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        let mut body = body.to_vec();
        if let (Ecall::SessionRecord { .. }, Some(last)) = (ecall, body.last_mut()) {
            *last ^= 1;
        }
        self.0.call(ecall, &body)
    }

    fn evidence(&self) -> Evidence {
        self.0.evidence()
    }
}

/// Plays a dishonest storage provider: flips one byte of a stored object in the backend
/// itself (a local directory or a bucket), past the store's checks.
async fn tamper_stored_object(store: &Store, address: &ObjectAddress) -> Result<(), DemoError> {
    let stored = store.get_as_stored(address).await.map_err(failed)?;
    let mut bytes = stored.ok_or_else(|| DemoError::Failed(format!("object {address} is not in the store")))?.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    object_store::ObjectStoreExt::put(store.backend().as_ref(), &address.key(), bytes.into()).await.map_err(failed)?;
    Ok(())
}
