//! FHIR R4 JSON as outsiders send it: a record version the enclave validates (against an
//! empty record and against one with history), a file `healthchain fhir validate` reads,
//! a patient bundle `record import` splits into versions, and the features jobs extract.
#![no_main]

use std::sync::OnceLock;

use healthchain_fhir::{
    Date, RecordContext, RecordFeatures, parse_json, split_into_versions, validate_bundle, validate_resource,
    validate_update,
};
use libfuzzer_sys::fuzz_target;

/// The first version of the fhir crate's sample record: updates are also checked against
/// a record with a patient, resources and full URLs, where the history rules bite.
fn record_with_history() -> &'static RecordContext {
    static CONTEXT: OnceLock<RecordContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let versions = split_into_versions(include_bytes!("../../crates/fhir/tests/data/record-small.json"))
            .expect("the sample record splits");
        let first = validate_update(&versions[0].bytes, &RecordContext::new()).expect("its first version is valid");
        RecordContext::from_versions([&first])
    })
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_json(data);
    if let Ok(value) = &parsed {
        // what the strict parser accepts, written back, reads as the same document
        let written = serde_json::to_vec(value).expect("a parsed document serializes");
        assert_eq!(parse_json(&written).as_ref(), Ok(value));
        let features = RecordFeatures::from_resources([value]);
        let _ = features.age_at(Date::new(2024, 1, 1).expect("a valid date"));
    }

    let resource = validate_resource(data);
    let bundle = validate_bundle(data);
    let update = validate_update(data, &RecordContext::new());
    let later = validate_update(data, record_with_history());
    for errors in [resource.as_ref().err(), bundle.as_ref().err(), update.as_ref().err(), later.as_ref().err()] {
        assert!(errors.is_none_or(|errors| !errors.is_empty()), "a refusal names at least one error");
    }
    if resource.is_ok() || bundle.is_ok() || update.is_ok() || later.is_ok() {
        assert!(parsed.is_ok(), "nothing is valid FHIR that is not strict JSON");
    }
    if let Ok(bundle) = &later {
        let mut record = record_with_history().clone();
        record.add(bundle);
    }

    // a bundle that splits yields versions that each validate on the ones before
    if let Ok(versions) = split_into_versions(data) {
        let mut record = RecordContext::new();
        for version in &versions {
            let accepted = validate_update(&version.bytes, &record)
                .unwrap_or_else(|errors| panic!("split produced an invalid version: {errors:?}"));
            record.add(&accepted);
        }
    }
});
