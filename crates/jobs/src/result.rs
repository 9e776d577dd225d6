//! Job results: what the enclave encrypts for the data user.

use crate::error::JobError;
use serde::{Deserialize, Serialize};

/// The outcome of one job, as JSON `{"job": "<name>", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobResult {
    /// Result of a `cohort_stats` job.
    CohortStats(CohortStatsResult),
    /// Result of a `logistic_regression` job.
    LogisticRegression(LogisticRegressionResult),
}

impl JobResult {
    /// Canonical JSON: members in declaration order, no whitespace, floats in shortest
    /// round-trip form.  Deterministic for a given result.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Structs and string-keyed members with finite floats only: cannot fail.
        serde_json::to_vec(self).expect("a JobResult always serializes")
    }

    /// Read a result back from [`JobResult::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<JobResult, JobError> {
        serde_json::from_slice(bytes).map_err(|e| JobError::MalformedJson(e.to_string()))
    }
}

/// Statistics of one LOINC observation over the records, overall and per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortStatsResult {
    /// Hex SHA-256 of the spec's canonical bytes ([`crate::JobSpec::hash`]).
    pub job_hash: String,
    /// The date the job was computed at (`YYYY-MM-DD`).
    pub as_of: String,
    /// The LOINC code.
    pub loinc: String,
    /// Number of records given.
    pub records: u64,
    /// Records without a usable value; absent when the overall cohort is suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<u64>,
    /// The whole cohort (its `group` has no members).
    pub overall: GroupReport,
    /// One entry per non-empty group, in group order (sex: female, male, other, unknown;
    /// then age band ascending, unknown last); empty without `group_by` or when the overall
    /// cohort is suppressed.
    pub groups: Vec<GroupReport>,
}

/// Which group a report is about; members not grouped by are absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupKey {
    /// `female`, `male`, `other` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// `"<lo>-<hi>"` in whole years (e.g. `"20-29"`), or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<String>,
}

/// One group: either suppressed, or its statistics.
///
/// JSON: `{"group": {...}, "suppressed": true}` or
/// `{"group": {...}, "suppressed": false, "stats": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "GroupReportRepr", try_from = "GroupReportRepr")]
pub struct GroupReport {
    /// The group.
    pub group: GroupKey,
    /// `None` when suppressed.
    pub stats: Option<SummaryStats>,
}

impl GroupReport {
    /// Whether the group's statistics are withheld.
    pub fn suppressed(&self) -> bool {
        self.stats.is_none()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupReportRepr {
    group: GroupKey,
    suppressed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stats: Option<SummaryStats>,
}

impl From<GroupReport> for GroupReportRepr {
    fn from(g: GroupReport) -> Self {
        GroupReportRepr { group: g.group, suppressed: g.stats.is_none(), stats: g.stats }
    }
}

impl TryFrom<GroupReportRepr> for GroupReport {
    type Error = String;
    fn try_from(r: GroupReportRepr) -> Result<Self, String> {
        if r.suppressed == r.stats.is_some() {
            return Err("a group has stats exactly when it is not suppressed".into());
        }
        Ok(GroupReport { group: r.group, stats: r.stats })
    }
}

/// Statistics of one group's values (one value per patient).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryStats {
    /// Number of patients.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divisor `n − 1`); `null` for fewer than two values.
    pub std_dev: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The requested quantiles, ascending.
    pub quantiles: Vec<QuantileValue>,
}

/// One quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileValue {
    /// The probability, in `[0, 1]`.
    pub q: f64,
    /// The value (linear interpolation between closest ranks).
    pub value: f64,
}

/// A fitted logistic regression model and its training metrics.
///
/// The model: `P(condition) = 1 / (1 + exp(−(intercept + Σ coefficient_i · z_i)))` with
/// `z_i = (x_i − mean_i) / std_dev_i` (`z_i = 0` when `std_dev_i` is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticRegressionResult {
    /// Hex SHA-256 of the spec's canonical bytes ([`crate::JobSpec::hash`]).
    pub job_hash: String,
    /// The date the job was computed at (`YYYY-MM-DD`).
    pub as_of: String,
    /// SNOMED CT code of the condition predicted.
    pub label_snomed: String,
    /// Number of records given.
    pub records: u64,
    /// Records lacking a chosen feature (`records = metrics.n + excluded`).
    pub excluded: u64,
    /// Intercept (on the standardized scale).
    pub intercept: f64,
    /// One entry per feature, in column order: `age`, `sex_female`, then `loinc:<code>` by code.
    pub features: Vec<ModelFeature>,
    /// L-BFGS iterations after which the parameters stopped changing.
    pub iterations: u64,
    /// Whether the solver stopped on its own criteria (gradient norm below 1e-4 or no cost
    /// change) rather than at `max_iterations`.
    pub converged: bool,
    /// Metrics on the training data.
    pub metrics: TrainingMetrics,
}

impl LogisticRegressionResult {
    /// The coefficient of a feature by name (`age`, `sex_female`, `loinc:8302-2`).
    pub fn coefficient(&self, name: &str) -> Option<f64> {
        self.features.iter().find(|f| f.name == name).map(|f| f.coefficient)
    }

    /// `P(condition)` for raw (unstandardized) feature values in column order; `None` when
    /// the number of values is wrong.
    pub fn predict(&self, raw: &[f64]) -> Option<f64> {
        if raw.len() != self.features.len() {
            return None;
        }
        let z =
            self.intercept + self.features.iter().zip(raw).map(|(f, x)| f.coefficient * f.standardize(*x)).sum::<f64>();
        Some(1.0 / (1.0 + (-z).exp()))
    }
}

/// One model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFeature {
    /// `age` (whole years), `sex_female` (1 female, 0 male) or `loinc:<code>`.
    pub name: String,
    /// Mean of the raw values over the training records.
    pub mean: f64,
    /// Population standard deviation (divisor `n`) of the raw values.
    pub std_dev: f64,
    /// Coefficient of the standardized value.
    pub coefficient: f64,
}

impl ModelFeature {
    /// The z-score of a raw value (0 when `std_dev` is 0).
    pub fn standardize(&self, x: f64) -> f64 {
        if self.std_dev > 0.0 { (x - self.mean) / self.std_dev } else { 0.0 }
    }
}

/// How the model does on its training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingMetrics {
    /// Records trained on.
    pub n: u64,
    /// Of which have the condition.
    pub positives: u64,
    /// Share classified correctly at probability threshold 0.5.
    pub accuracy: f64,
    /// Mean negative log-likelihood (natural log).
    pub log_loss: f64,
    /// Area under the ROC curve (Mann–Whitney rank formula, ties counted half).
    pub auc: f64,
}
