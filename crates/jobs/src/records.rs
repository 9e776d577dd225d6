//! Records as the enclave hands them over, and the per-record values jobs use.

use crate::error::JobError;
use healthchain_fhir::{Date, RecordFeatures};

/// One record's plaintext: every qualified version, each a FHIR R4 Bundle as JSON bytes, in
/// version order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordInput {
    /// The versions' bytes, version 1 first.
    pub versions: Vec<Vec<u8>>,
}

impl RecordInput {
    /// A record with these versions (version 1 first).
    pub fn new(versions: Vec<Vec<u8>>) -> RecordInput {
        RecordInput { versions }
    }

    /// A record with a single version.
    pub fn single(bundle: impl Into<Vec<u8>>) -> RecordInput {
        RecordInput { versions: vec![bundle.into()] }
    }

    /// The features of every version together: each version must be a FHIR `Bundle` in
    /// well-formed JSON ([`RecordFeatures::add_bundle_json`]); its entries are added in
    /// version order.  `index` is the
    /// record's position in the job's input, used only to say where an error is.
    pub fn features(&self, index: usize) -> Result<RecordFeatures, JobError> {
        let mut features = RecordFeatures::default();
        for (version, bytes) in self.versions.iter().enumerate() {
            features.add_bundle_json(bytes).map_err(|e| JobError::InvalidRecord {
                record: index,
                version,
                reason: e.message,
            })?;
        }
        Ok(features)
    }
}

impl From<Vec<Vec<u8>>> for RecordInput {
    fn from(versions: Vec<Vec<u8>>) -> Self {
        RecordInput::new(versions)
    }
}

/// Last second (UTC) of `date`.
fn end_of_day(date: Date) -> i64 {
    date.days_since_epoch() * 86_400 + 86_399
}

/// The latest numeric value of the LOINC code effective on or before `as_of`.
///
/// Values are Observation values or Observation component values with that code (so
/// `8480-6` finds the systolic component of a blood-pressure panel); numeric means
/// `valueQuantity`, `valueInteger` or `valueBoolean` (0/1).  "Latest" orders by the
/// earliest instant of `effective[x]`; a value without a date counts as older than every
/// dated one; values effective after the end of `as_of` (UTC) are ignored; among equally
/// dated values the one seen last (later version, later in its bundle) wins.
pub fn latest_value(features: &RecordFeatures, loinc: &str, as_of: Date) -> Option<f64> {
    let limit = end_of_day(as_of);
    let mut best: Option<(i64, f64)> = None;
    for o in features.observations_with_code(loinc) {
        let Some(value) = o.value.as_f64().filter(|v| v.is_finite()) else { continue };
        let key = match o.effective {
            Some(e) => {
                let start = e.bounds().0;
                if start > limit {
                    continue;
                }
                start
            }
            None => i64::MIN,
        };
        if best.is_none_or(|(k, _)| key >= k) {
            best = Some((key, value));
        }
    }
    best.map(|(_, v)| v)
}

/// Age in whole years at `as_of`, or at death when the record gives a date of death before
/// `as_of`; `None` without a birth date or when born after that date.
pub fn age_at(features: &RecordFeatures, as_of: Date) -> Option<u32> {
    let patient = features.patient.as_ref()?;
    let at = match patient.deceased {
        Some(death) if death < as_of => death,
        _ => as_of,
    };
    patient.birth_date?.years_until(at)
}

/// Whether the record has a Condition with this SNOMED CT code whose onset is on or before
/// `as_of` (or unknown) — "ever had it by then", whether or not it has since abated.
pub fn ever_had(features: &RecordFeatures, snomed: &str, as_of: Date) -> bool {
    let limit = end_of_day(as_of);
    features.conditions_with_code(snomed).any(|c| c.onset.is_none_or(|o| o.bounds().0 <= limit))
}
