//! `cohort_stats`: summary statistics of one LOINC observation, with small-cell suppression.
//!
//! # What is computed
//! * **One value per patient**: each record contributes the latest numeric value of the code
//!   ([`crate::records::latest_value`]), so a patient measured fifty times weighs as much as
//!   one measured once.  Records without such a value are *excluded*.
//! * **Statistics** of the values: count, mean, sample standard deviation (divisor `n − 1`,
//!   `None` for `n < 2`), min, max and the requested quantiles by linear interpolation
//!   between closest ranks (numpy's default, Hyndman–Fan type 7): with the values sorted
//!   `x_0 ≤ … ≤ x_{n−1}`, `h = q·(n − 1)`, `Q(q) = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋)`.
//!   Sums run over the sorted values, so the result does not depend on record order.
//! * **Groups**: by sex and/or age band at `as_of` ([`crate::records::age_at`]); a patient
//!   without a birth date (or born after `as_of`) is in age band `unknown`.
//!
//! # Suppression
//! * The overall cohort with fewer than `min_cohort` values is suppressed: reported as
//!   `{"group": {}, "suppressed": true}`, with no groups and no `excluded` count.
//! * Otherwise each group with fewer than `min_cohort` values is suppressed.  Because the
//!   overall statistics minus the reported groups would give away the suppressed ones when
//!   they hold fewer than `min_cohort` patients together, further groups are suppressed,
//!   smallest first, until the suppressed groups hold at least `min_cohort` patients (or
//!   all are suppressed): complementary suppression.
//! * Still revealed: which groups are non-empty (a suppressed group holds at least one
//!   patient) and the number of records excluded overall.  Repeated queries with different
//!   groupings or `min_cohort` can still be differenced; limiting those is the policy's job.

use crate::error::JobError;
use crate::records::{age_at, latest_value};
use crate::result::{CohortStatsResult, GroupKey, GroupReport, QuantileValue, SummaryStats};
use crate::spec::{CohortStatsSpec, GroupBy};
use healthchain_fhir::{Date, RecordFeatures, Sex};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SexKey {
    Female,
    Male,
    Other,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AgeKey {
    Band(u32),
    Unknown,
}

type Key = (Option<SexKey>, Option<AgeKey>);

pub(crate) fn run(
    spec: &CohortStatsSpec,
    records: &[RecordFeatures],
    as_of: Date,
    job_hash: String,
) -> Result<CohortStatsResult, JobError> {
    let by_sex = spec.group_by().contains(&GroupBy::Sex);
    let by_age = spec.group_by().contains(&GroupBy::AgeBand);
    let width = spec.age_band_years().max(1);

    let mut all = Vec::new();
    let mut groups: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    let mut excluded = 0u64;
    for features in records {
        let Some(value) = latest_value(features, spec.loinc(), as_of) else {
            excluded += 1;
            continue;
        };
        all.push(value);
        if by_sex || by_age {
            let sex = by_sex.then(|| match features.sex() {
                Sex::Female => SexKey::Female,
                Sex::Male => SexKey::Male,
                Sex::Other => SexKey::Other,
                Sex::Unknown => SexKey::Unknown,
            });
            let age = by_age.then(|| match age_at(features, as_of) {
                Some(a) => AgeKey::Band(a / width * width),
                None => AgeKey::Unknown,
            });
            groups.entry((sex, age)).or_default().push(value);
        }
    }

    let min = spec.min_cohort();
    let quantiles = spec.quantiles();
    let records_n = records.len() as u64;
    let overall_group = GroupKey::default();
    if (all.len() as u64) < min {
        return Ok(CohortStatsResult {
            job_hash,
            as_of: as_of.to_string(),
            loinc: spec.loinc().to_string(),
            records: records_n,
            excluded: None,
            overall: GroupReport { group: overall_group, stats: None },
            groups: Vec::new(),
        });
    }
    let overall = GroupReport { group: overall_group, stats: Some(summarize(&mut all, quantiles)?) };

    // Primary suppression, then complementary suppression (smallest reported group first,
    // ties in group order) until the suppressed groups together hold ≥ min patients.
    let mut entries: Vec<(Key, Vec<f64>, bool)> = groups
        .into_iter()
        .map(|(k, v)| {
            let small = (v.len() as u64) < min;
            (k, v, small)
        })
        .collect();
    loop {
        let hidden: u64 = entries.iter().filter(|e| e.2).map(|e| e.1.len() as u64).sum();
        if hidden == 0 || hidden >= min {
            break;
        }
        let next = entries.iter_mut().filter(|e| !e.2).min_by_key(|e| e.1.len());
        match next {
            Some(e) => e.2 = true,
            None => break,
        }
    }
    let mut reports = Vec::with_capacity(entries.len());
    for (key, mut values, suppressed) in entries {
        let stats = if suppressed { None } else { Some(summarize(&mut values, quantiles)?) };
        reports.push(GroupReport { group: group_key(key, width), stats });
    }

    Ok(CohortStatsResult {
        job_hash,
        as_of: as_of.to_string(),
        loinc: spec.loinc().to_string(),
        records: records_n,
        excluded: Some(excluded),
        overall,
        groups: reports,
    })
}

fn group_key((sex, age): Key, width: u32) -> GroupKey {
    GroupKey {
        sex: sex.map(|s| {
            match s {
                SexKey::Female => "female",
                SexKey::Male => "male",
                SexKey::Other => "other",
                SexKey::Unknown => "unknown",
            }
            .to_string()
        }),
        age_band: age.map(|a| match a {
            AgeKey::Band(lo) => format!("{lo}-{}", lo.saturating_add(width - 1)),
            AgeKey::Unknown => "unknown".to_string(),
        }),
    }
}

/// Statistics of a non-empty set of values (sorted in place).
pub(crate) fn summarize(values: &mut [f64], quantiles: &[f64]) -> Result<SummaryStats, JobError> {
    values.sort_by(f64::total_cmp);
    let (Some(&min), Some(&max)) = (values.first(), values.last()) else {
        return Err(JobError::NonFinite("statistics of an empty group"));
    };
    let n = values.len();
    let mut mean = values.iter().sum::<f64>() / n as f64;
    if !mean.is_finite() {
        // the sum overflowed: average the scaled values instead
        mean = values.iter().map(|x| x / n as f64).sum::<f64>();
    }
    if !mean.is_finite() {
        return Err(JobError::NonFinite("mean"));
    }
    let std_dev = if n >= 2 {
        let ss: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
        let sd = (ss / (n - 1) as f64).sqrt();
        if !sd.is_finite() {
            return Err(JobError::NonFinite("standard deviation"));
        }
        Some(sd)
    } else {
        None
    };
    let mut qs = Vec::with_capacity(quantiles.len());
    for &q in quantiles {
        let value = quantile_sorted(values, q);
        if !value.is_finite() {
            return Err(JobError::NonFinite("quantile"));
        }
        qs.push(QuantileValue { q, value });
    }
    Ok(SummaryStats { count: n as u64, mean, std_dev, min, max, quantiles: qs })
}

/// Type 7 quantile of sorted, non-empty values (`q` in `[0, 1]`).
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else { return f64::NAN };
    let h = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    match (sorted.get(lo), sorted.get(lo + 1)) {
        (Some(&a), Some(&b)) if frac > 0.0 => {
            let v = a + frac * (b - a);
            // b − a can overflow for values of opposite sign near f64::MAX
            if v.is_finite() { v } else { (1.0 - frac) * a + frac * b }
        }
        (Some(&a), _) => a,
        _ => last,
    }
}
