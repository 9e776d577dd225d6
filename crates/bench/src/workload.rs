//! Synthetic FHIR R4 record entries of a controlled size, for the `update` suite and the
//! update criterion benchmark (`crates/cli/benches/update.rs`): the same workload in both.

use serde_json::{Value, json};

const VITALS: [(&str, &str, f64, &str); 5] = [
    ("8302-2", "Body Height", 172.5, "cm"),
    ("29463-7", "Body Weight", 71.2, "kg"),
    ("8867-4", "Heart rate", 64.0, "/min"),
    ("9279-1", "Respiratory rate", 14.0, "/min"),
    ("8310-5", "Body temperature", 36.8, "Cel"),
];

const WORDS: &str = "patient reports mild pain since the last visit blood pressure stable follow up in weeks unchanged";

/// Free text of exactly `len` ASCII bytes (a FHIR `markdown` value).
pub fn filler(len: usize, seed: u64) -> String {
    let mut text = String::with_capacity(len + 16);
    let words: Vec<&str> = WORDS.split(' ').collect();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while text.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(words[(x % words.len() as u64) as usize]);
        text.push(' ');
    }
    text.truncate(len.saturating_sub(1));
    text.push('.');
    text
}

/// Record entries shaped like the Synthea split: version 1 holds the Patient, every version
/// an Encounter and Observations referencing it and the Patient, each under a fresh
/// `urn:uuid:`; the size is set by the Observations' notes.
#[derive(Default)]
pub struct Entries {
    next: u64,
    visits: u64,
}

impl Entries {
    fn uuid(&mut self) -> String {
        self.next += 1;
        let n = self.next;
        format!("5eed0006-be9c-4{:03x}-8{:03x}-{:012x}", (n >> 60) & 0xfff, (n >> 48) & 0xfff, n & 0xffff_ffff_ffff)
    }

    /// A new patient's fullUrl.
    pub fn patient(&mut self) -> String {
        format!("urn:uuid:{}", self.uuid())
    }

    /// One version: the Patient if `first`, an Encounter, `observations` Observations with
    /// notes of `note` bytes.
    pub fn version(&mut self, patient: &str, first: bool, observations: usize, note: usize) -> Vec<u8> {
        let mut entries = Vec::with_capacity(observations + 2);
        if first {
            entries.push(json!({"fullUrl": patient, "resource": {
                "resourceType": "Patient",
                "id": patient.trim_start_matches("urn:uuid:"),
                "name": [{"use": "official", "family": "Bench", "given": ["Ada"]}],
                "gender": "female",
                "birthDate": "1970-06-15"
            }}));
        }
        self.visits += 1;
        let v = self.visits;
        let day = format!("{}-{:02}-{:02}", 1990 + (v / 336) % 35, 1 + (v / 28) % 12, 1 + v % 28);
        let encounter_id = self.uuid();
        let encounter = format!("urn:uuid:{encounter_id}");
        entries.push(json!({"fullUrl": encounter, "resource": {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003",
                                  "display": "Encounter for check up (procedure)"}]}],
            "subject": {"reference": patient},
            "period": {"start": format!("{day}T09:00:00+00:00"), "end": format!("{day}T09:30:00+00:00")}
        }}));
        for i in 0..observations {
            let id = self.uuid();
            let (code, display, value, unit) = VITALS[i % VITALS.len()];
            let mut resource = json!({
                "resourceType": "Observation",
                "id": id,
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "vital-signs", "display": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
                "subject": {"reference": patient},
                "encounter": {"reference": encounter},
                "effectiveDateTime": format!("{day}T09:00:00+00:00"),
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
            });
            if note > 0 {
                resource["note"] = json!([{"text": filler(note, self.next)}]);
            }
            entries.push(json!({"fullUrl": format!("urn:uuid:{id}"), "resource": resource}));
        }
        json!({"resourceType": "Bundle", "type": "collection", "entry": Value::Array(entries)}).to_string().into_bytes()
    }

    /// One version of about `target` bytes.
    pub fn sized(&mut self, patient: &str, first: bool, observations: usize, target: usize) -> Vec<u8> {
        let frame = self.version(patient, first, observations, 1).len();
        let note = (target.saturating_sub(frame) / observations.max(1)).max(1);
        self.version(patient, first, observations, note)
    }
}
