//! Typed features for computations over records (cohort statistics, model training):
//! the patient's sex and age, Observation values by LOINC code and Conditions by SNOMED CT
//! code.  Feed it the resources of every version of a record, in any order.

use crate::datetime::{Date, DateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// LOINC code system URI.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT code system URI.
pub const SNOMED_CT: &str = "http://snomed.info/sct";

/// Administrative sex (`Patient.gender`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Sex {
    /// `female`
    Female,
    /// `male`
    Male,
    /// `other`
    Other,
    /// `unknown` or not recorded.
    #[default]
    Unknown,
}

impl Sex {
    /// From a `Patient.gender` code.
    pub fn from_gender(code: &str) -> Sex {
        match code {
            "female" => Sex::Female,
            "male" => Sex::Male,
            "other" => Sex::Other,
            _ => Sex::Unknown,
        }
    }
}

/// What the record says about the patient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PatientInfo {
    /// `Patient.id`.
    pub id: Option<String>,
    /// `Patient.birthDate` (a partial date is completed with month/day 1).
    pub birth_date: Option<Date>,
    /// `Patient.gender`.
    pub sex: Sex,
    /// Date of death (`deceasedDateTime`), if recorded.
    pub deceased: Option<Date>,
}

impl PatientInfo {
    /// Age in whole years at `at`; `None` without a birth date or before birth.
    pub fn age_at(&self, at: Date) -> Option<u32> {
        self.birth_date?.years_until(at)
    }
}

/// The value of an Observation (or of one of its components).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObservationValue {
    /// `valueQuantity`.
    Quantity {
        /// The number.
        value: f64,
        /// `unit` (or the UCUM `code` when there is no `unit`).
        unit: Option<String>,
    },
    /// `valueCodeableConcept` (its first coding).
    Code {
        /// Code system.
        system: Option<String>,
        /// Code.
        code: String,
        /// Display text.
        display: Option<String>,
    },
    /// `valueString`.
    Text(String),
    /// `valueBoolean`.
    Boolean(bool),
    /// `valueInteger`.
    Integer(i64),
}

impl ObservationValue {
    /// The value as a number (quantities and integers; booleans as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ObservationValue::Quantity { value, .. } => Some(*value),
            ObservationValue::Integer(i) => Some(*i as f64),
            ObservationValue::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

/// One LOINC-coded observation value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationFeature {
    /// LOINC code of the observation (or of the component).
    pub code: String,
    /// Display text of that code.
    pub display: Option<String>,
    /// The value.
    pub value: ObservationValue,
    /// `effective[x]` (dateTime, instant, or a period's start).
    pub effective: Option<DateTime>,
    /// For a component value: the LOINC code of the panel observation (e.g. blood pressure).
    pub component_of: Option<String>,
}

/// One SNOMED-CT-coded condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionFeature {
    /// SNOMED CT code.
    pub code: String,
    /// Display text.
    pub display: Option<String>,
    /// `onsetDateTime` (or `onsetPeriod.start`; else `recordedDate`).
    pub onset: Option<DateTime>,
    /// `abatementDateTime` (or `abatementPeriod.start`).
    pub abatement: Option<DateTime>,
    /// First code of `clinicalStatus` (`active`, `resolved`, ...).
    pub clinical_status: Option<String>,
}

impl ConditionFeature {
    /// Whether the condition was present on `at`: onset (if known) on or before it and not
    /// abated by then.
    pub fn present_at(&self, at: Date) -> bool {
        let day_end = at.days_since_epoch() * 86_400 + 86_399;
        let started = self.onset.is_none_or(|o| o.bounds().0 <= day_end);
        let ended = self.abatement.is_some_and(|a| a.bounds().0 <= day_end);
        started && !ended
    }
}

/// Features of one record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecordFeatures {
    /// The patient (the first Patient resource seen).
    pub patient: Option<PatientInfo>,
    /// LOINC-coded observation values, in the order seen.
    pub observations: Vec<ObservationFeature>,
    /// SNOMED-coded conditions, in the order seen.
    pub conditions: Vec<ConditionFeature>,
}

impl RecordFeatures {
    /// Features of these resources.
    pub fn from_resources<'a>(resources: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut f = RecordFeatures::default();
        for r in resources {
            f.add_resource(r);
        }
        f
    }

    /// Add the entry resources of a Bundle (one record version).
    pub fn add_bundle(&mut self, bundle: &Value) {
        for r in bundle.get("entry").and_then(Value::as_array).into_iter().flatten().filter_map(|e| e.get("resource")) {
            self.add_resource(r);
        }
    }

    /// Add one resource (types other than Patient, Observation and Condition are ignored,
    /// as are entered-in-error, cancelled or refuted ones).
    pub fn add_resource(&mut self, r: &Value) {
        match r.get("resourceType").and_then(Value::as_str) {
            Some("Patient") if self.patient.is_none() => {
                self.patient = Some(PatientInfo {
                    id: str_at(r, "id"),
                    birth_date: r.get("birthDate").and_then(Value::as_str).and_then(Date::parse),
                    sex: r.get("gender").and_then(Value::as_str).map_or(Sex::Unknown, Sex::from_gender),
                    deceased: r.get("deceasedDateTime").and_then(Value::as_str).and_then(Date::parse),
                });
            }
            Some("Observation") => self.add_observation(r),
            Some("Condition") => self.add_condition(r),
            _ => {}
        }
    }

    fn add_observation(&mut self, r: &Value) {
        if matches!(r.get("status").and_then(Value::as_str), Some("entered-in-error" | "cancelled")) {
            return;
        }
        let effective = date_at(r, "effectiveDateTime")
            .or_else(|| date_at(r, "effectiveInstant"))
            .or_else(|| r.get("effectivePeriod").and_then(|p| date_at(p, "start")));
        let code = coding(r.get("code"), LOINC);
        if let (Some((code, display)), Some(value)) = (&code, value_of(r)) {
            self.observations.push(ObservationFeature {
                code: code.clone(),
                display: display.clone(),
                value,
                effective,
                component_of: None,
            });
        }
        for c in r.get("component").and_then(Value::as_array).into_iter().flatten() {
            if let (Some((ccode, cdisplay)), Some(value)) = (coding(c.get("code"), LOINC), value_of(c)) {
                self.observations.push(ObservationFeature {
                    code: ccode,
                    display: cdisplay,
                    value,
                    effective,
                    component_of: code.as_ref().map(|(c, _)| c.clone()),
                });
            }
        }
    }

    fn add_condition(&mut self, r: &Value) {
        let verification = r
            .get("verificationStatus")
            .and_then(|v| v.get("coding"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|c| c.get("code"))
            .and_then(Value::as_str);
        if matches!(verification, Some("entered-in-error" | "refuted")) {
            return;
        }
        let Some((code, display)) = coding(r.get("code"), SNOMED_CT) else {
            return;
        };
        let onset = date_at(r, "onsetDateTime")
            .or_else(|| r.get("onsetPeriod").and_then(|p| date_at(p, "start")))
            .or_else(|| date_at(r, "recordedDate"));
        let abatement =
            date_at(r, "abatementDateTime").or_else(|| r.get("abatementPeriod").and_then(|p| date_at(p, "start")));
        let clinical_status = r
            .get("clinicalStatus")
            .and_then(|v| v.get("coding"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|c| c.get("code"))
            .and_then(Value::as_str)
            .map(str::to_string);
        self.conditions.push(ConditionFeature { code, display, onset, abatement, clinical_status });
    }

    /// The patient's sex (`Unknown` without a Patient).
    pub fn sex(&self) -> Sex {
        self.patient.as_ref().map_or(Sex::Unknown, |p| p.sex)
    }

    /// The patient's age in whole years at `at`.
    pub fn age_at(&self, at: Date) -> Option<u32> {
        self.patient.as_ref()?.age_at(at)
    }

    /// All values with this LOINC code, in the order seen.
    pub fn observations_with_code<'a>(&'a self, loinc: &'a str) -> impl Iterator<Item = &'a ObservationFeature> + 'a {
        self.observations.iter().filter(move |o| o.code == loinc)
    }

    /// The latest value with this LOINC code effective on or before `at` (any date when
    /// `at` is `None`); values without a date count as oldest.
    pub fn latest_observation(&self, loinc: &str, at: Option<Date>) -> Option<&ObservationFeature> {
        let limit = at.map(|d| d.days_since_epoch() * 86_400 + 86_399);
        self.observations
            .iter()
            .filter(|o| o.code == loinc)
            .filter(|o| match (limit, o.effective) {
                (Some(l), Some(e)) => e.bounds().0 <= l,
                _ => true,
            })
            .max_by_key(|o| o.effective.map_or(i64::MIN, |e| e.bounds().0))
    }

    /// Conditions with this SNOMED CT code.
    pub fn conditions_with_code<'a>(&'a self, snomed: &'a str) -> impl Iterator<Item = &'a ConditionFeature> + 'a {
        self.conditions.iter().filter(move |c| c.code == snomed)
    }

    /// Whether a condition with this code was present on `at` (ever, when `at` is `None`).
    pub fn has_condition(&self, snomed: &str, at: Option<Date>) -> bool {
        self.conditions_with_code(snomed).any(|c| at.is_none_or(|d| c.present_at(d)))
    }
}

fn str_at(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn date_at(v: &Value, k: &str) -> Option<DateTime> {
    v.get(k).and_then(Value::as_str).and_then(|s| DateTime::parse(s).ok())
}

/// First coding of `concept` in `system`: (code, display).
fn coding(concept: Option<&Value>, system: &str) -> Option<(String, Option<String>)> {
    concept?
        .get("coding")?
        .as_array()?
        .iter()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(system))
        .and_then(|c| Some((str_at(c, "code")?, str_at(c, "display"))))
}

/// `value[x]` of an observation or component.
fn value_of(v: &Value) -> Option<ObservationValue> {
    if let Some(q) = v.get("valueQuantity") {
        return Some(ObservationValue::Quantity {
            value: q.get("value")?.as_f64()?,
            unit: str_at(q, "unit").or_else(|| str_at(q, "code")),
        });
    }
    if let Some(c) = v.get("valueCodeableConcept") {
        let first = c.get("coding").and_then(Value::as_array).and_then(|a| a.first());
        return match first {
            Some(f) => Some(ObservationValue::Code {
                system: str_at(f, "system"),
                code: str_at(f, "code")?,
                display: str_at(f, "display"),
            }),
            None => str_at(c, "text").map(ObservationValue::Text),
        };
    }
    if let Some(s) = v.get("valueString").and_then(Value::as_str) {
        return Some(ObservationValue::Text(s.to_string()));
    }
    if let Some(b) = v.get("valueBoolean").and_then(Value::as_bool) {
        return Some(ObservationValue::Boolean(b));
    }
    v.get("valueInteger").and_then(Value::as_i64).map(ObservationValue::Integer)
}
