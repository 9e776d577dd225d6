//! The computations of seed 000's sharing ("Model"), run inside the enclave over the
//! decrypted FHIR records a data user was granted.
//!
//! A pure library: no I/O, no randomness, no clock (the enclave passes the date), and the
//! same inputs always give the same bytes.
//!
//! | item | what |
//! |---|---|
//! | [`JobSpec`] | what to compute, as JSON; [`JobSpec::parse`] validates, [`JobSpec::canonical_bytes`] / [`JobSpec::hash`] give what the data user commits on-chain ([`spec`] documents the format) |
//! | [`RecordInput`] | one record: the bytes of every qualified version, each a FHIR R4 Bundle |
//! | [`run`], [`run_on_features`] | compute a job over records (or their extracted features) as of a date |
//! | [`JobResult`] | the outcome; [`JobResult::to_bytes`] is what the enclave encrypts |
//! | [`cohort`] | `cohort_stats`: latest value per patient, mean/sd/min/max/quantiles, small-cell suppression |
//! | [`logistic`] | `logistic_regression`: age, sex and latest LOINC values → a SNOMED CT condition |
//!
//! ```
//! use healthchain_fhir::{Date, RecordFeatures};
//! use healthchain_jobs::{JobResult, JobSpec, RecordInput, run};
//!
//! let bundle = |gender: &str, height: f64| {
//!     format!(r#"{{"resourceType": "Bundle", "type": "collection", "entry": [
//!       {{"resource": {{"resourceType": "Patient", "id": "p", "gender": "{gender}", "birthDate": "1980-05-01"}}}},
//!       {{"resource": {{"resourceType": "Observation", "status": "final",
//!         "code": {{"coding": [{{"system": "http://loinc.org", "code": "8302-2"}}]}},
//!         "effectiveDateTime": "2020-01-01T00:00:00Z",
//!         "valueQuantity": {{"value": {height}, "unit": "cm"}}}}}}]}}"#)
//! };
//! let records: Vec<RecordInput> =
//!     [170.0, 180.0, 175.0, 165.0, 185.0].iter().map(|h| RecordInput::single(bundle("male", *h))).collect();
//! let spec = JobSpec::parse(br#"{"job": "cohort_stats", "loinc": "8302-2"}"#)?;
//! let JobResult::CohortStats(result) = run(&spec, &records, Date::new(2021, 1, 1).unwrap())? else { panic!() };
//! let stats = result.overall.stats.expect("5 patients: not suppressed");
//! assert_eq!((stats.count, stats.mean, stats.min, stats.max), (5, 175.0, 165.0, 185.0));
//! assert_eq!(stats.quantiles[1].value, 175.0);
//! # Ok::<(), healthchain_jobs::JobError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cohort;
mod error;
pub mod logistic;
pub mod records;
mod result;
pub mod spec;

pub use error::{JobError, LabelClass};
pub use records::RecordInput;
pub use result::{
    CohortStatsResult, GroupKey, GroupReport, JobResult, LogisticRegressionResult, ModelFeature, QuantileValue,
    SummaryStats, TrainingMetrics,
};
pub use spec::{CohortStatsSpec, FeatureSet, GroupBy, JobSpec, LogisticRegressionSpec};

use healthchain_fhir::{Date, RecordFeatures};

/// Run a job over records as of `as_of` (the date ages are computed at and after which
/// observations and conditions are ignored; the enclave passes the ledger's current date).
///
/// Each record's features come from all its versions (see [`RecordInput::features`]); a
/// version that is not a JSON Bundle fails the whole job with [`JobError::InvalidRecord`].
pub fn run(spec: &JobSpec, records: &[RecordInput], as_of: Date) -> Result<JobResult, JobError> {
    let features = records.iter().enumerate().map(|(i, r)| r.features(i)).collect::<Result<Vec<_>, _>>()?;
    run_on_features(spec, &features, as_of)
}

/// [`run`] over features the caller already extracted with [`RecordInput::features`] (one
/// per record, in input order) — so parsing, the costly part, can run on several cores.
pub fn run_on_features(spec: &JobSpec, records: &[RecordFeatures], as_of: Date) -> Result<JobResult, JobError> {
    let job_hash = hex::encode(spec.hash());
    match spec {
        JobSpec::CohortStats(s) => cohort::run(s, records, as_of, job_hash).map(JobResult::CohortStats),
        JobSpec::LogisticRegression(s) => logistic::run(s, records, as_of, job_hash).map(JobResult::LogisticRegression),
    }
}
