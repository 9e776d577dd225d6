//! The one error type of this crate.

use std::fmt;

/// Which single class the label took when a model cannot be trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelClass {
    /// Every usable record has the condition.
    AllPositive,
    /// No usable record has the condition.
    AllNegative,
}

impl fmt::Display for LabelClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelClass::AllPositive => "every usable record has the condition",
            LabelClass::AllNegative => "no usable record has the condition",
        })
    }
}

/// Why a job spec was refused or a job could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// The spec is not JSON (or has duplicate keys, trailing data, ...).
    #[error("job spec is not valid JSON: {0}")]
    MalformedJson(String),
    /// The spec is JSON but not an object.
    #[error("job spec must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// The spec has no `job` member (or it is not a string).
    #[error("job spec has no \"job\" string naming the computation (one of: {})", crate::spec::JOB_NAMES.join(", "))]
    MissingJob,
    /// The `job` member names no known computation.
    #[error("unknown job {0:?} (known jobs: {known})", known = crate::spec::JOB_NAMES.join(", "))]
    UnknownJob(String),
    /// A member that the named job does not define.
    #[error("unknown field {field:?} in {context} (allowed: {})", allowed.join(", "))]
    UnknownField {
        /// The offending member name.
        field: String,
        /// Where it was found (`"cohort_stats"`, `"logistic_regression.features"`).
        context: &'static str,
        /// The members allowed there.
        allowed: &'static [&'static str],
    },
    /// A member has the wrong JSON type or a required member is missing.
    #[error("job spec does not match the {job} schema: {message}")]
    Schema {
        /// The job being parsed.
        job: &'static str,
        /// serde's description of the mismatch.
        message: String,
    },
    /// A member has a value outside what the job accepts.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue {
        /// The member (`"quantiles"`, `"features.loinc"`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A record version is not a JSON FHIR Bundle.
    #[error("record {record}, version {version}: {reason}")]
    InvalidRecord {
        /// Index of the record in the input (0-based).
        record: usize,
        /// Index of the version within the record (0-based).
        version: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Too few records have every feature the model needs.
    #[error(
        "too few usable records to train a model: {usable} of {total} have every chosen feature, at least {min_cohort} are required"
    )]
    TooFewRecords {
        /// Records with every feature.
        usable: u64,
        /// Records given.
        total: u64,
        /// The spec's `min_cohort`.
        min_cohort: u64,
    },
    /// The label has one class only, so there is nothing to separate.
    #[error("the label has only one class: {class} (SNOMED CT {snomed}, {usable} usable records)")]
    SingleClass {
        /// Which class.
        class: LabelClass,
        /// The label's SNOMED CT code.
        snomed: String,
        /// Records with every feature.
        usable: u64,
    },
    /// The optimiser failed.
    #[error("model training failed: {0}")]
    Training(String),
    /// A statistic overflowed (values too large to sum in 64-bit floating point).
    #[error("the {0} is not a finite number (observation values too large)")]
    NonFinite(&'static str),
}
