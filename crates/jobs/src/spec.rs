//! Job specs: what a data user asks the enclave to compute, as JSON, and the canonical
//! encoding whose SHA-256 is committed on-chain.
//!
//! # JSON
//! ```json
//! {"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex", "age_band"],
//!  "age_band_years": 20, "min_cohort": 5, "quantiles": [0.25, 0.5, 0.75]}
//! {"job": "logistic_regression", "label_snomed": "38341003",
//!  "features": {"age": true, "sex": true, "loinc": ["8480-6", "29463-7"]},
//!  "max_iterations": 100, "l2": 1.0, "min_cohort": 5}
//! ```
//! Every member but `job`, `loinc`, `label_snomed` and `features` may be omitted (defaults:
//! [`DEFAULT_MIN_COHORT`], [`DEFAULT_QUANTILES`], [`DEFAULT_AGE_BAND_YEARS`],
//! [`DEFAULT_MAX_ITERATIONS`], [`DEFAULT_L2`], no grouping; in `features`, `age` and `sex`
//! default to `false` and `loinc` to `[]`).  `null` means the same as omitting a member.
//! Unknown members and duplicate keys are refused.
//!
//! # Canonical form
//! [`JobSpec::parse`] normalises the spec so that specs meaning the same thing are equal:
//! defaults are filled in; `group_by` becomes `["sex", "age_band"]` order without
//! duplicates; `quantiles` are sorted ascending without duplicates; `features.loinc` is
//! sorted without duplicates; `age_band_years` is reset to its default when `group_by` has
//! no `age_band` (it means nothing then); `-0.0` becomes `0.0`.  [`JobSpec::canonical_bytes`]
//! is the normalised spec as JSON with every member present, in the order shown above, and
//! no whitespace; numbers are written as serde_json writes them (integers plainly, floats in
//! the shortest form that reads back to the same `f64`, always with a `.` or exponent).

use crate::error::JobError;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Default `min_cohort`: groups (and models) with fewer patients are refused or suppressed.
pub const DEFAULT_MIN_COHORT: u64 = 5;
/// Default quantiles of `cohort_stats`.
pub const DEFAULT_QUANTILES: [f64; 3] = [0.25, 0.5, 0.75];
/// Default width of an age band, in years.
pub const DEFAULT_AGE_BAND_YEARS: u32 = 10;
/// Default iteration limit of `logistic_regression`.
pub const DEFAULT_MAX_ITERATIONS: u64 = 100;
/// Default L2 penalty of `logistic_regression`.
pub const DEFAULT_L2: f64 = 1.0;

/// Largest accepted `max_iterations`.
pub const MAX_ITERATIONS_LIMIT: u64 = 10_000;
/// Largest accepted `age_band_years`.
pub const MAX_AGE_BAND_YEARS: u32 = 150;
/// Most quantiles one spec may request.
pub const MAX_QUANTILES: usize = 1_000;
/// Most LOINC features one model may use.
pub const MAX_LOINC_FEATURES: usize = 100;

/// The names of the jobs, as written in the `job` member.
pub const JOB_NAMES: &[&str] = &["cohort_stats", "logistic_regression"];

const COHORT_FIELDS: &[&str] = &["job", "loinc", "group_by", "age_band_years", "min_cohort", "quantiles"];
const LOGISTIC_FIELDS: &[&str] = &["job", "label_snomed", "features", "max_iterations", "l2", "min_cohort"];
const FEATURE_FIELDS: &[&str] = &["age", "sex", "loinc"];

/// A computation over records, validated and normalised (see the module docs).  Build one
/// with [`JobSpec::parse`] (or by deserializing, which validates the same way).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobSpec {
    /// Summary statistics of one LOINC-coded observation.
    CohortStats(CohortStatsSpec),
    /// A logistic regression model of one SNOMED CT condition.
    LogisticRegression(LogisticRegressionSpec),
}

/// What patients can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// `Patient.gender`: `female`, `male`, `other`, `unknown`.
    Sex,
    /// Age at the job's date in bands of `age_band_years` (`"20-29"`), or `unknown`.
    AgeBand,
}

/// `{"job": "cohort_stats", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortStatsSpec {
    loinc: String,
    group_by: Vec<GroupBy>,
    age_band_years: u32,
    min_cohort: u64,
    quantiles: Vec<f64>,
}

impl CohortStatsSpec {
    /// LOINC code of the observation.
    pub fn loinc(&self) -> &str {
        &self.loinc
    }
    /// Grouping, in canonical order (`sex` before `age_band`); empty for the overall cohort only.
    pub fn group_by(&self) -> &[GroupBy] {
        &self.group_by
    }
    /// Width of an age band in years.
    pub fn age_band_years(&self) -> u32 {
        self.age_band_years
    }
    /// Smallest group (and overall cohort) whose statistics are revealed.
    pub fn min_cohort(&self) -> u64 {
        self.min_cohort
    }
    /// Requested quantiles, ascending, each in `[0, 1]`.
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }
}

/// `{"job": "logistic_regression", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogisticRegressionSpec {
    label_snomed: String,
    features: FeatureSet,
    max_iterations: u64,
    l2: f64,
    min_cohort: u64,
}

impl LogisticRegressionSpec {
    /// SNOMED CT code of the condition predicted.
    pub fn label_snomed(&self) -> &str {
        &self.label_snomed
    }
    /// The model's inputs.
    pub fn features(&self) -> &FeatureSet {
        &self.features
    }
    /// Iteration limit of the L-BFGS solver.
    pub fn max_iterations(&self) -> u64 {
        self.max_iterations
    }
    /// L2 penalty `α` (the objective is the summed log-loss plus `α/2·‖w‖²`; the intercept
    /// is not penalised).
    pub fn l2(&self) -> f64 {
        self.l2
    }
    /// Fewest usable records a model is trained on.
    pub fn min_cohort(&self) -> u64 {
        self.min_cohort
    }
}

/// The inputs of a model: `{"age": bool, "sex": bool, "loinc": [code, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureSet {
    age: bool,
    sex: bool,
    loinc: Vec<String>,
}

impl FeatureSet {
    /// Age in whole years at the job's date.
    pub fn age(&self) -> bool {
        self.age
    }
    /// Sex (1 female, 0 male).
    pub fn sex(&self) -> bool {
        self.sex
    }
    /// LOINC codes whose latest value is a feature, sorted.
    pub fn loinc(&self) -> &[String] {
        &self.loinc
    }
}

// ---- parsing ----

#[derive(Deserialize)]
#[serde(tag = "job", rename_all = "snake_case", deny_unknown_fields)]
enum RawSpec {
    CohortStats {
        loinc: String,
        group_by: Option<Vec<GroupBy>>,
        age_band_years: Option<u32>,
        min_cohort: Option<u64>,
        quantiles: Option<Vec<f64>>,
    },
    LogisticRegression {
        label_snomed: String,
        features: RawFeatures,
        max_iterations: Option<u64>,
        l2: Option<f64>,
        min_cohort: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    age: Option<bool>,
    sex: Option<bool>,
    loinc: Option<Vec<String>>,
}

impl JobSpec {
    /// Parse and validate a spec from JSON bytes (strict JSON: duplicate keys are refused;
    /// a leading UTF-8 BOM is tolerated).  Never panics.
    pub fn parse(bytes: &[u8]) -> Result<JobSpec, JobError> {
        let value = healthchain_fhir::parse_json(bytes).map_err(|e| JobError::MalformedJson(e.message))?;
        JobSpec::from_value(value)
    }

    /// Validate a spec already parsed as a JSON value.
    pub fn from_value(value: Value) -> Result<JobSpec, JobError> {
        let Value::Object(map) = &value else {
            return Err(JobError::NotAnObject(json_type(&value)));
        };
        let job = map.get("job").and_then(Value::as_str).ok_or(JobError::MissingJob)?;
        let (job, allowed): (&'static str, _) = match job {
            "cohort_stats" => ("cohort_stats", COHORT_FIELDS),
            "logistic_regression" => ("logistic_regression", LOGISTIC_FIELDS),
            other => return Err(JobError::UnknownJob(other.to_string())),
        };
        check_fields(map, job, allowed)?;
        if job == "logistic_regression"
            && let Some(Value::Object(features)) = map.get("features")
        {
            check_fields(features, "logistic_regression.features", FEATURE_FIELDS)?;
        }
        let raw: RawSpec =
            serde_json::from_value(value).map_err(|e| JobError::Schema { job, message: e.to_string() })?;
        JobSpec::from_raw(raw)
    }

    fn from_raw(raw: RawSpec) -> Result<JobSpec, JobError> {
        match raw {
            RawSpec::CohortStats { loinc, group_by, age_band_years, min_cohort, quantiles } => {
                check_loinc("loinc", &loinc)?;
                let mut group_by = group_by.unwrap_or_default();
                group_by.sort();
                group_by.dedup();
                let age_band_years = if group_by.contains(&GroupBy::AgeBand) {
                    let years = age_band_years.unwrap_or(DEFAULT_AGE_BAND_YEARS);
                    if !(1..=MAX_AGE_BAND_YEARS).contains(&years) {
                        return Err(invalid("age_band_years", format!("{years} is not in 1..={MAX_AGE_BAND_YEARS}")));
                    }
                    years
                } else {
                    DEFAULT_AGE_BAND_YEARS
                };
                let min_cohort = check_min_cohort(min_cohort)?;
                let mut quantiles = quantiles.unwrap_or_else(|| DEFAULT_QUANTILES.to_vec());
                if quantiles.len() > MAX_QUANTILES {
                    return Err(invalid(
                        "quantiles",
                        format!("{} requested, at most {MAX_QUANTILES}", quantiles.len()),
                    ));
                }
                for q in &mut quantiles {
                    if !(0.0..=1.0).contains(q) {
                        return Err(invalid("quantiles", format!("{q} is not in [0, 1]")));
                    }
                    *q += 0.0; // -0.0 → 0.0
                }
                quantiles.sort_by(f64::total_cmp);
                quantiles.dedup();
                Ok(JobSpec::CohortStats(CohortStatsSpec { loinc, group_by, age_band_years, min_cohort, quantiles }))
            }
            RawSpec::LogisticRegression { label_snomed, features, max_iterations, l2, min_cohort } => {
                check_snomed("label_snomed", &label_snomed)?;
                let mut loinc = features.loinc.unwrap_or_default();
                for code in &loinc {
                    check_loinc("features.loinc", code)?;
                }
                loinc.sort();
                loinc.dedup();
                if loinc.len() > MAX_LOINC_FEATURES {
                    return Err(invalid(
                        "features.loinc",
                        format!("{} codes, at most {MAX_LOINC_FEATURES}", loinc.len()),
                    ));
                }
                let features =
                    FeatureSet { age: features.age.unwrap_or(false), sex: features.sex.unwrap_or(false), loinc };
                if !features.age && !features.sex && features.loinc.is_empty() {
                    return Err(invalid(
                        "features",
                        "no feature chosen (set \"age\" or \"sex\" to true or list LOINC codes)".into(),
                    ));
                }
                let max_iterations = max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS);
                if !(1..=MAX_ITERATIONS_LIMIT).contains(&max_iterations) {
                    return Err(invalid(
                        "max_iterations",
                        format!("{max_iterations} is not in 1..={MAX_ITERATIONS_LIMIT}"),
                    ));
                }
                let l2 = l2.unwrap_or(DEFAULT_L2);
                if !(l2.is_finite() && l2 >= 0.0) {
                    return Err(invalid("l2", format!("{l2} is not a finite number ≥ 0")));
                }
                let l2 = l2 + 0.0; // -0.0 → 0.0
                let min_cohort = check_min_cohort(min_cohort)?;
                Ok(JobSpec::LogisticRegression(LogisticRegressionSpec {
                    label_snomed,
                    features,
                    max_iterations,
                    l2,
                    min_cohort,
                }))
            }
        }
    }

    /// The canonical JSON encoding (see the module docs): equal for specs that mean the same.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Plain structs, string-keyed, finite floats only: serialization cannot fail.
        serde_json::to_vec(self).expect("a validated JobSpec always serializes")
    }

    /// SHA-256 of [`JobSpec::canonical_bytes`]: the job hash the data user commits on-chain.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// The `job` name (`"cohort_stats"`, `"logistic_regression"`).
    pub fn job_name(&self) -> &'static str {
        match self {
            JobSpec::CohortStats(_) => "cohort_stats",
            JobSpec::LogisticRegression(_) => "logistic_regression",
        }
    }
}

impl<'de> Deserialize<'de> for JobSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        JobSpec::from_value(value).map_err(D::Error::custom)
    }
}

fn check_fields(
    map: &serde_json::Map<String, Value>,
    context: &'static str,
    allowed: &'static [&'static str],
) -> Result<(), JobError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(field) => Err(JobError::UnknownField { field: field.clone(), context, allowed }),
        None => Ok(()),
    }
}

fn check_min_cohort(min_cohort: Option<u64>) -> Result<u64, JobError> {
    let m = min_cohort.unwrap_or(DEFAULT_MIN_COHORT);
    if m == 0 {
        return Err(invalid("min_cohort", "must be at least 1".into()));
    }
    Ok(m)
}

/// A LOINC observation code: 1–7 digits, `-`, a check digit (e.g. `8302-2`).
fn check_loinc(field: &'static str, code: &str) -> Result<(), JobError> {
    let ok = code.split_once('-').is_some_and(|(num, check)| {
        (1..=7).contains(&num.len())
            && num.bytes().all(|b| b.is_ascii_digit())
            && check.len() == 1
            && check.bytes().all(|b| b.is_ascii_digit())
    });
    if ok { Ok(()) } else { Err(invalid(field, format!("{code:?} is not a LOINC code (like \"8302-2\")"))) }
}

/// A SNOMED CT concept id: 6–18 digits, no leading zero.
fn check_snomed(field: &'static str, code: &str) -> Result<(), JobError> {
    let ok = (6..=18).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) && !code.starts_with('0');
    if ok { Ok(()) } else { Err(invalid(field, format!("{code:?} is not a SNOMED CT concept id (6–18 digits)"))) }
}

fn invalid(field: &'static str, reason: String) -> JobError {
    JobError::InvalidValue { field, reason }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
