//! Job specs as data users submit them (the enclave's `share` application parses the one
//! whose hash was paid for) and job results as data users read them back. A spec that
//! parses has a canonical encoding that parses to the same spec with the same hash, and it
//! runs over a small cohort to a result or a typed refusal; a result that parses encodes
//! and parses back to itself.
//!
//! Input: a selector byte (even: job spec, odd: job result), then the JSON.
#![no_main]

use std::sync::OnceLock;

use healthchain_fhir::{Date, RecordFeatures};
use healthchain_fuzz::input::selector;
use healthchain_jobs::{JobResult, JobSpec, run_on_features};
use libfuzzer_sys::fuzz_target;

/// Eight patients with height (8302-2) and weight (29463-7), half with diabetes
/// (SNOMED 44054006): enough for both jobs to compute rather than suppress.
fn cohort() -> &'static [RecordFeatures] {
    static COHORT: OnceLock<Vec<RecordFeatures>> = OnceLock::new();
    COHORT.get_or_init(|| {
        (0..8u32)
            .map(|i| {
                let observation = |code: &str, value: u32| {
                    serde_json::json!({"resourceType": "Observation", "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                        "effectiveDateTime": "2020-01-01T00:00:00Z", "valueQuantity": {"value": value}})
                };
                let mut resources = vec![
                    serde_json::json!({"resourceType": "Patient", "id": format!("p{i}"),
                        "gender": if i % 3 == 0 { "female" } else { "male" },
                        "birthDate": format!("{}-05-01", 1950 + 7 * i)}),
                    observation("8302-2", 150 + 5 * i),
                    observation("29463-7", 50 + 9 * (i % 5)),
                ];
                if i % 2 == 0 {
                    resources.push(serde_json::json!({"resourceType": "Condition",
                        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                        "onsetDateTime": "2015-01-01"}));
                }
                RecordFeatures::from_resources(&resources)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((kind, json)) = selector(data) else { return };
    if kind % 2 == 0 {
        let Ok(spec) = JobSpec::parse(json) else { return };
        let canonical = spec.canonical_bytes();
        let again = JobSpec::parse(&canonical).expect("a canonical spec parses");
        assert_eq!(again, spec);
        assert_eq!(again.canonical_bytes(), canonical, "the canonical encoding is a fixed point");
        assert_eq!(again.hash(), spec.hash());
        let as_of = Date::new(2024, 1, 1).expect("a valid date");
        if let Ok(result) = run_on_features(&spec, cohort(), as_of) {
            let bytes = result.to_bytes();
            assert_eq!(JobResult::from_bytes(&bytes).ok(), Some(result), "a result reads back");
        }
    } else if let Ok(result) = JobResult::from_bytes(json) {
        let bytes = result.to_bytes();
        assert_eq!(JobResult::from_bytes(&bytes).ok(), Some(result));
    }
});
