//! Typed features for computations over records (cohort statistics, model training):
//! the patient's sex and age, Observation values by LOINC code and Conditions by SNOMED CT
//! code.  Feed it the resources of every version of a record, in any order.

use std::fmt;

use crate::datetime::{Date, DateTime};
use crate::error::{ErrorKind, ValidationError};
use crate::json::{StrictValue, strip_bom};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

    /// Adds the entry resources of a Bundle given as JSON bytes: what [`Self::add_bundle`]
    /// adds from the parsed bundle, in one pass that builds values only for the elements
    /// features read ([`FEATURE_ELEMENTS`] of Patient, Observation and Condition resources)
    /// and skips everything else unparsed. For the enclave, where records were validated
    /// when they were stored and the bulk of a Synthea bundle is claims and encounters.
    /// Refuses malformed JSON (duplicate properties among the elements read, too) and
    /// anything but a Bundle, adding nothing.
    pub fn add_bundle_json(&mut self, bytes: &[u8]) -> Result<(), ValidationError> {
        let json_error =
            |e: serde_json::Error| ValidationError::new(ErrorKind::Json, "", format!("error parsing JSON: {e}"));
        let mut de = serde_json::Deserializer::from_slice(strip_bom(bytes));
        let bundle = de::Deserializer::deserialize_map(&mut de, BundleVisitor).map_err(json_error)?;
        de.end().map_err(json_error)?;
        match bundle.resource_type.as_deref() {
            Some("Bundle") => {
                for resource in &bundle.resources {
                    self.add_resource(resource);
                }
                Ok(())
            }
            Some(other) => {
                Err(ValidationError::new(ErrorKind::NotAResource, "", format!("a {other} resource, not a Bundle")))
            }
            None => Err(ValidationError::new(ErrorKind::NotAResource, "", "not a FHIR resource (no resourceType)")),
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

/// The resource types features are taken from.
const FEATURE_TYPES: [&str; 3] = ["Patient", "Observation", "Condition"];

/// Every element of a resource that [`RecordFeatures::add_resource`] reads.
pub const FEATURE_ELEMENTS: [&str; 23] = [
    "resourceType",
    "id",
    "birthDate",
    "gender",
    "deceasedDateTime",
    "status",
    "code",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "component",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "verificationStatus",
    "clinicalStatus",
    "onsetDateTime",
    "onsetPeriod",
    "recordedDate",
    "abatementDateTime",
    "abatementPeriod",
];

/// What [`RecordFeatures::add_bundle_json`] keeps of a bundle.
#[derive(Default)]
struct BundleScan {
    resource_type: Option<String>,
    /// The Patient, Observation and Condition resources, reduced to the elements read.
    resources: Vec<Value>,
}

/// A property name, classified without allocating: which of these names it is, if any.
struct ElementName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for ElementName {
    type Value = Option<&'static str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ElementName {
    type Value = Option<&'static str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|element| **element == name).copied())
    }
}

fn duplicate<E: de::Error>(name: &str) -> E {
    E::custom(format!("duplicate property '{name}'"))
}

struct BundleVisitor;

impl<'de> Visitor<'de> for BundleVisitor {
    type Value = BundleScan;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (a FHIR Bundle)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BundleScan, A::Error> {
        let mut scan = BundleScan::default();
        let mut entries_seen = false;
        while let Some(name) = map.next_key_seed(ElementName(&["resourceType", "entry"]))? {
            match name {
                Some("resourceType") => {
                    if scan.resource_type.is_some() {
                        return Err(duplicate("resourceType"));
                    }
                    scan.resource_type = Some(map.next_value()?);
                }
                Some("entry") => {
                    if entries_seen {
                        return Err(duplicate("entry"));
                    }
                    entries_seen = true;
                    scan.resources = map.next_value_seed(EntriesSeed)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(scan)
    }
}

/// `Bundle.entry`: the feature resources of its entries.
struct EntriesSeed;

impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Vec<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of bundle entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut resources = Vec::new();
        while let Some(resource) = seq.next_element_seed(EntrySeed)? {
            resources.extend(resource);
        }
        Ok(resources)
    }
}

/// One bundle entry: its resource, if features are taken from its type.
struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Option<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bundle entry (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut resource = None;
        let mut resource_seen = false;
        while let Some(name) = map.next_key_seed(ElementName(&["resource"]))? {
            if name.is_some() {
                if resource_seen {
                    return Err(duplicate("resource"));
                }
                resource_seen = true;
                resource = map.next_value_seed(ResourceSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(resource)
    }
}

/// A resource reduced to the elements features read, if it is of a type they are taken
/// from; other resources are skipped from their `resourceType` on.
struct ResourceSeed;

impl<'de> DeserializeSeed<'de> for ResourceSeed {
    type Value = Option<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResourceSeed {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a FHIR resource (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut elements = Map::new();
        let mut skipping = false;
        while let Some(name) = map.next_key_seed(ElementName(&FEATURE_ELEMENTS))? {
            match name {
                Some(name) if !skipping => {
                    if elements.contains_key(name) {
                        return Err(duplicate(name));
                    }
                    let value = map.next_value_seed(StrictValue)?;
                    skipping = name == "resourceType" && !value.as_str().is_some_and(|t| FEATURE_TYPES.contains(&t));
                    elements.insert(name.into(), value);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let wanted = elements.get("resourceType").and_then(Value::as_str).is_some_and(|t| FEATURE_TYPES.contains(&t));
        Ok(wanted.then_some(Value::Object(elements)))
    }
}
