//! `logistic_regression`: a model of one SNOMED CT condition from age, sex and the latest
//! values of LOINC observations, trained with `linfa-logistic` (L-BFGS).
//!
//! # Data
//! * **Features** (columns in this order, only those the spec chooses): `age` — whole years
//!   at `as_of`, or at death if the record dates a death before it
//!   ([`crate::records::age_at`]); `sex_female` — 1.0 for female, 0.0 for male; records
//!   whose sex is `other` or `unknown` are excluded (a binary encoding cannot place them,
//!   and a third category would be too small to learn from); `loinc:<code>` — the latest
//!   numeric value on or before `as_of` ([`crate::records::latest_value`]), codes sorted.
//! * **Exclusion**: a record lacking any chosen feature is left out and counted in
//!   `excluded`.
//! * **Label**: whether the record has a Condition with the code whose onset is on or before
//!   `as_of` ([`crate::records::ever_had`]) — ever, even if abated since.
//! * **Refusals**: fewer than `min_cohort` usable records ([`JobError::TooFewRecords`]); a
//!   label with one class only ([`JobError::SingleClass`]).
//!
//! # Training
//! Features are standardized (`z = (x − mean) / std_dev`, population standard deviation;
//! a constant column becomes all zeros and keeps coefficient 0).  The objective is
//! `Σ log-loss + l2/2 · ‖w‖²` (intercept not penalised), minimised by L-BFGS from zero with
//! gradient tolerance 1e-4 and at most `max_iterations` iterations.  Rows are sorted
//! (label, then features) before training, so the result does not depend on record order.
//! linfa does not report how many iterations it ran; since the solver is deterministic,
//! `iterations` is found by refitting with smaller limits (binary search for the smallest
//! limit giving the same parameters), and `converged` by checking that one more iteration
//! would change nothing.

use crate::error::{JobError, LabelClass};
use crate::records::{age_at, ever_had, latest_value};
use crate::result::{LogisticRegressionResult, ModelFeature, TrainingMetrics};
use crate::spec::LogisticRegressionSpec;
use healthchain_fhir::{Date, RecordFeatures, Sex};
use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

/// Gradient-norm tolerance of the solver.
pub const GRADIENT_TOLERANCE: f64 = 1e-4;

pub(crate) fn run(
    spec: &LogisticRegressionSpec,
    records: &[RecordFeatures],
    as_of: Date,
    job_hash: String,
) -> Result<LogisticRegressionResult, JobError> {
    let chosen = spec.features();
    let mut names = Vec::new();
    if chosen.age() {
        names.push("age".to_string());
    }
    if chosen.sex() {
        names.push("sex_female".to_string());
    }
    names.extend(chosen.loinc().iter().map(|c| format!("loinc:{c}")));
    let d = names.len();

    // (label, raw features) per usable record
    let mut rows: Vec<(bool, Vec<f64>)> = Vec::new();
    let mut excluded = 0u64;
    for features in records {
        let mut x = Vec::with_capacity(d);
        let mut usable = true;
        if chosen.age() {
            match age_at(features, as_of) {
                Some(a) => x.push(f64::from(a)),
                None => usable = false,
            }
        }
        if chosen.sex() {
            match features.sex() {
                Sex::Female => x.push(1.0),
                Sex::Male => x.push(0.0),
                Sex::Other | Sex::Unknown => usable = false,
            }
        }
        for code in chosen.loinc() {
            if !usable {
                break;
            }
            match latest_value(features, code, as_of) {
                Some(v) => x.push(v),
                None => usable = false,
            }
        }
        if usable {
            rows.push((ever_had(features, spec.label_snomed(), as_of), x));
        } else {
            excluded += 1;
        }
    }

    let n = rows.len();
    let total = records.len() as u64;
    if (n as u64) < spec.min_cohort() {
        return Err(JobError::TooFewRecords { usable: n as u64, total, min_cohort: spec.min_cohort() });
    }
    let positives = rows.iter().filter(|r| r.0).count();
    if positives == 0 || positives == n {
        return Err(JobError::SingleClass {
            class: if positives == 0 { LabelClass::AllNegative } else { LabelClass::AllPositive },
            snomed: spec.label_snomed().to_string(),
            usable: n as u64,
        });
    }

    // Canonical row order: the result is a function of the multiset of rows.
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            a.1.iter().zip(&b.1).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
        })
    });

    // Standardize.
    let mut means = vec![0.0; d];
    let mut stds = vec![0.0; d];
    for j in 0..d {
        let col = || rows.iter().map(|r| r.1.get(j).copied().unwrap_or(0.0));
        let mut mean = col().sum::<f64>() / n as f64;
        if !mean.is_finite() {
            mean = col().map(|x| x / n as f64).sum();
        }
        let var = col().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let sd = var.sqrt();
        if !mean.is_finite() || !sd.is_finite() {
            return Err(JobError::NonFinite("feature mean or standard deviation"));
        }
        means[j] = mean;
        stds[j] = sd;
    }
    let mut x = Array2::<f64>::zeros((n, d));
    for (i, row) in rows.iter().enumerate() {
        for j in 0..d {
            let raw = row.1.get(j).copied().unwrap_or(0.0);
            x[[i, j]] = if stds[j] > 0.0 { (raw - means[j]) / stds[j] } else { 0.0 };
        }
    }
    let y: Array1<bool> = rows.iter().map(|r| r.0).collect();
    let dataset = Dataset::new(x, y);

    let fit = |iterations: u64| -> Result<(f64, Vec<f64>), JobError> {
        let model = LogisticRegression::default()
            .alpha(spec.l2())
            .gradient_tolerance(GRADIENT_TOLERANCE)
            .max_iterations(iterations)
            .fit(&dataset)
            .map_err(|e| JobError::Training(e.to_string()))?;
        // linfa models P(labels().pos.class); orient the model to P(condition).
        let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
        Ok((sign * model.intercept(), model.params().iter().map(|w| sign * w).collect()))
    };
    let max = spec.max_iterations();
    let full = fit(max)?;
    let (mut lo, mut hi) = (1u64, max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fit(mid).is_ok_and(|p| p == full) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let iterations = lo;
    let converged = fit(max + 1).is_ok_and(|p| p == full);
    let (intercept, coefficients) = full;

    // Metrics from the linear scores.
    let scores: Vec<f64> = dataset
        .records()
        .rows()
        .into_iter()
        .map(|r| intercept + r.iter().zip(&coefficients).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let labels: Vec<bool> = rows.iter().map(|r| r.0).collect();
    let metrics = TrainingMetrics {
        n: n as u64,
        positives: positives as u64,
        accuracy: accuracy(&scores, &labels),
        log_loss: log_loss(&scores, &labels),
        auc: auc(&scores, &labels),
    };

    let features: Vec<ModelFeature> = names
        .into_iter()
        .zip(means)
        .zip(stds)
        .zip(coefficients)
        .map(|(((name, mean), std_dev), coefficient)| ModelFeature { name, mean, std_dev, coefficient })
        .collect();
    let finite = intercept.is_finite()
        && features.iter().all(|f| f.coefficient.is_finite())
        && [metrics.accuracy, metrics.log_loss, metrics.auc].iter().all(|v| v.is_finite());
    if !finite {
        return Err(JobError::NonFinite("model"));
    }

    Ok(LogisticRegressionResult {
        job_hash,
        as_of: as_of.to_string(),
        label_snomed: spec.label_snomed().to_string(),
        records: total,
        excluded,
        intercept,
        features,
        iterations,
        converged,
        metrics,
    })
}

/// Share of scores on the right side of 0 (probability 0.5; a score of exactly 0 predicts
/// the condition).
pub fn accuracy(scores: &[f64], labels: &[bool]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let right = scores.iter().zip(labels).filter(|(s, y)| (**s >= 0.0) == **y).count();
    right as f64 / scores.len() as f64
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Mean negative log-likelihood of the labels under `σ(score)`.
pub fn log_loss(scores: &[f64], labels: &[bool]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    // −ln σ(s) = softplus(−s); −ln(1 − σ(s)) = softplus(s)
    let total: f64 = scores.iter().zip(labels).map(|(s, y)| if *y { softplus(-s) } else { softplus(*s) }).sum();
    total / scores.len() as f64
}

/// Area under the ROC curve by the rank (Mann–Whitney) formula with mid-ranks for ties:
/// `(R₊ − P(P+1)/2) / (P·N)`, `R₊` the sum of the positives' ranks.  0.5 when a class is
/// empty.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]].total_cmp(&scores[order[i]]).is_eq() {
            j += 1;
        }
        // ranks i+1 ..= j+1 share their mean
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = order.iter().filter(|&&k| labels[k]).count() as f64;
    let q = order.len() as f64 - p;
    if p == 0.0 || q == 0.0 {
        return 0.5;
    }
    (rank_sum - p * (p + 1.0) / 2.0) / (p * q)
}
