//! Record-level behaviour: validating record bundles and updates, splitting, features.
//! Uses the hand-written `tests/data/record-small.json` and the 20 Synthea bundles shipped in
//! the repository at `data/fhir/synthea/`.

use healthchain_fhir::{
    Date, ErrorKind, FhirError, ObservationValue, RecordContext, RecordFeatures, RecordVersion, Sex, ValidatedBundle,
    parse_json, split_into_versions, validate_bundle, validate_resource, validate_update,
};
use serde_json::{Value, json};
use std::path::PathBuf;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
const SYNTHEA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea");

fn small() -> Vec<u8> {
    std::fs::read(format!("{DATA}/record-small.json")).expect("record-small.json")
}

fn synthea_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(SYNTHEA)
        .expect("data/fhir/synthea")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Validate each version against the record so far; return the accepted versions.
fn apply_all(versions: &[RecordVersion]) -> Vec<ValidatedBundle> {
    let mut ctx = RecordContext::new();
    let mut out = Vec::new();
    for v in versions {
        let accepted =
            validate_update(&v.bytes, &ctx).unwrap_or_else(|e| panic!("version {} rejected: {e:?}", v.number));
        assert_eq!(accepted.bundle_type(), "collection");
        ctx.add(&accepted);
        out.push(accepted);
    }
    assert_eq!(ctx.versions() as usize, versions.len());
    let total: usize = versions.iter().map(|v| v.entries).sum();
    assert_eq!(ctx.len(), total as u64);
    out
}

/// (fullUrl, resource) of every entry.
fn entries(bundle: &Value) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = bundle["entry"]
        .as_array()
        .expect("entry")
        .iter()
        .map(|e| (e["fullUrl"].as_str().unwrap_or("").to_string(), e["resource"].clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn ids(v: &ValidatedBundle) -> Vec<String> {
    let mut ids: Vec<String> = v.entries().iter().map(|e| e.id.clone().unwrap_or_default()).collect();
    ids.sort();
    ids
}

#[test]
fn small_record_splits_by_encounter() {
    let bytes = small();
    assert!(validate_bundle(&bytes).is_ok());
    let versions = split_into_versions(&bytes).expect("split");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].date.as_deref(), Some("2019-01-10T10:00:00Z"));
    assert_eq!(versions[1].date.as_deref(), Some("2020-03-01T09:00:00+01:00"));
    let accepted = apply_all(&versions);
    // v1: first encounter, what it references, what is tied to it, the glucose of
    // 2019-06-01 (nearest preceding encounter) and the 2018 allergy (before any encounter)
    assert_eq!(ids(&accepted[0]), ["al1", "d1", "e1", "g1", "h1", "im1", "o1", "p1", "pr1"]);
    assert_eq!(ids(&accepted[1]), ["bp1", "c1", "cl1", "cp1", "dr1", "e2", "mr1"]);
    // the union is the original
    let original = entries(&parse_json(&bytes).expect("json"));
    let mut union: Vec<(String, Value)> = accepted.iter().flat_map(|v| entries(v.json())).collect();
    union.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(union, original);
}

#[test]
fn update_rules() {
    let versions = split_into_versions(&small()).expect("split");
    let v1 = validate_update(&versions[0].bytes, &RecordContext::new()).expect("v1");
    let ctx = RecordContext::from_versions([&v1]);
    assert_eq!(
        ctx.patient().and_then(|p| p.full_url.as_deref()),
        Some("urn:uuid:00000000-0000-4000-8000-000000000001")
    );

    // version 2 alone is not a record: no patient, references into version 1
    let errors = validate_update(&versions[1].bytes, &RecordContext::new()).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::PatientMismatch));
    assert!(errors.iter().any(|e| e.kind == ErrorKind::UnresolvedReference));
    let errors = validate_bundle(&versions[1].bytes).unwrap_err();
    assert!(errors.iter().all(|e| e.kind == ErrorKind::UnresolvedReference), "{errors:?}");

    let obs = |n: u32, subject: &str, encounter: &str| {
        json!({"fullUrl": format!("urn:uuid:00000000-0000-4000-8000-1000000000{n:02}"),
               "resource": {"resourceType": "Observation", "id": format!("new{n}"),
                 "status": "final", "code": {"text": "x"},
                 "subject": {"reference": subject},
                 "encounter": {"reference": encounter},
                 "valueString": "y"}})
    };
    let update = |entries: Vec<Value>| {
        serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "collection", "entry": entries})).expect("json")
    };
    let p1 = "urn:uuid:00000000-0000-4000-8000-000000000001";
    let e1 = "urn:uuid:00000000-0000-4000-8000-000000000004";

    // references to earlier versions resolve, by fullUrl and by Type/id
    if let Err(e) = validate_update(&update(vec![obs(1, p1, e1)]), &ctx) {
        panic!("{e:?}");
    }
    assert!(validate_update(&update(vec![obs(1, "Patient/p1", "Encounter/e1")]), &ctx).is_ok());

    // unknown target
    let errors = validate_update(&update(vec![obs(1, p1, "Encounter/nope")]), &ctx).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::UnresolvedReference);
    assert_eq!(errors[0].path, "Bundle.entry[0].resource.encounter.reference");

    // another patient
    let other = json!({"fullUrl": "urn:uuid:00000000-0000-4000-8000-200000000000",
        "resource": {"resourceType": "Patient", "id": "other"}});
    let errors =
        validate_update(&update(vec![other, obs(1, "urn:uuid:00000000-0000-4000-8000-200000000000", e1)]), &ctx)
            .unwrap_err();
    assert!(errors.iter().filter(|e| e.kind == ErrorKind::PatientMismatch).count() >= 2, "{errors:?}");

    // subject is not the patient (a Group of the record would be allowed by Observation)
    let group = json!({"fullUrl": "urn:uuid:00000000-0000-4000-8000-300000000000",
        "resource": {"resourceType": "Group", "id": "g", "type": "person", "actual": true}});
    let errors =
        validate_update(&update(vec![group, obs(1, "urn:uuid:00000000-0000-4000-8000-300000000000", e1)]), &ctx)
            .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, ErrorKind::PatientMismatch);
    assert_eq!(errors[0].path, "Bundle.entry[1].resource.subject.reference");

    // wrong target type
    let errors = validate_update(&update(vec![obs(1, p1, p1)]), &ctx).unwrap_err();
    assert_eq!(errors[0].kind, ErrorKind::InvalidReference);

    // rewriting history: re-sending a resource of version 1 (same fullUrl or same id)
    let again = parse_json(&versions[0].bytes).expect("json")["entry"][3].clone();
    let errors = validate_update(&update(vec![again]), &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Duplicate), "{errors:?}");
    let mut o = obs(1, p1, e1);
    o["resource"]["id"] = json!("h1");
    let errors = validate_update(&update(vec![o]), &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Duplicate), "{errors:?}");

    // duplicates inside one update
    let errors = validate_update(&update(vec![obs(1, p1, e1), obs(1, p1, e1)]), &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Duplicate), "{errors:?}");

    // not a record entry: wrong bundle type, not a bundle, deletes
    let mut searchset = json!({"resourceType": "Bundle", "type": "searchset", "entry": [obs(1, p1, e1)]});
    searchset["entry"][0]["search"] = json!({"mode": "match"});
    let errors = validate_update(&serde_json::to_vec(&searchset).expect("json"), &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Bundle), "{errors:?}");
    let errors = validate_update(br#"{"resourceType":"Patient","id":"x"}"#, &ctx).unwrap_err();
    assert_eq!(errors[0].kind, ErrorKind::Bundle);
    let delete = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Observation/h1"}}]});
    let errors = validate_update(&serde_json::to_vec(&delete).expect("json"), &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Required), "{errors:?}");
    let inner = json!({"resourceType": "Bundle", "type": "collection", "entry": [obs(2, "Patient/elsewhere", e1)]});
    let nested = update(vec![json!({"fullUrl": "urn:uuid:00000000-0000-4000-8000-400000000000", "resource": inner})]);
    let errors = validate_update(&nested, &ctx).unwrap_err();
    assert!(errors.iter().any(|e| e.kind == ErrorKind::Bundle), "{errors:?}");

    // the context round-trips through serde (the enclave persists it)
    let saved = serde_json::to_string(&ctx).expect("serialize");
    let back: RecordContext = serde_json::from_str(&saved).expect("deserialize");
    assert_eq!(back, ctx);
}

#[test]
fn split_rejects_invalid_input() {
    assert!(matches!(split_into_versions(b"{"), Err(FhirError::Invalid(_))));
    let no_patient = br#"{"resourceType":"Bundle","type":"collection","entry":[
        {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002",
         "resource":{"resourceType":"Organization","id":"o","name":"x"}}]}"#;
    let Err(FhirError::Invalid(errors)) = split_into_versions(no_patient) else {
        panic!("accepted a bundle without a patient");
    };
    assert_eq!(errors[0].kind, ErrorKind::PatientMismatch);
}

#[test]
fn small_record_features() {
    let versions = split_into_versions(&small()).expect("split");
    let mut f = RecordFeatures::default();
    for v in &versions {
        f.add_bundle(&parse_json(&v.bytes).expect("json"));
    }
    let d = |s: &str| Date::parse(s).expect("date");
    assert_eq!(f.sex(), Sex::Female);
    assert_eq!(f.age_at(d("2020-03-01")), Some(49));
    assert_eq!(f.age_at(d("2020-06-15")), Some(50));
    let h = f.latest_observation("8302-2", None).expect("height");
    assert_eq!(h.value, ObservationValue::Quantity { value: 165.5, unit: Some("cm".into()) });
    assert_eq!(h.effective.map(|e| e.date()), Some(d("2019-01-10")));
    let sys = f.latest_observation("8480-6", Some(d("2020-12-31"))).expect("systolic");
    assert_eq!(sys.value.as_f64(), Some(120.0));
    assert_eq!(sys.component_of.as_deref(), Some("55284-4"));
    assert!(f.latest_observation("8480-6", Some(d("2019-12-31"))).is_none());
    assert_eq!(f.observations_with_code("2339-0").count(), 1);
    assert!(f.has_condition("44054006", Some(d("2020-06-01"))));
    assert!(!f.has_condition("44054006", Some(d("2019-06-01"))));
    assert!(f.has_condition("44054006", None));
    assert!(!f.has_condition("73211009", None));
}

#[test]
fn synthea_bundles_validate() {
    let files = synthea_files();
    assert_eq!(files.len(), 20);
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        if let Err(e) = validate_resource(&bytes) {
            panic!("{}: {e:?}", f.display());
        }
        let v = validate_bundle(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        assert!(v.patient().is_some());
    }
}

#[test]
fn synthea_bundles_split_into_valid_ordered_versions() {
    let mut total_versions = 0;
    for f in synthea_files() {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        let bytes = std::fs::read(&f).expect("read");
        let versions = split_into_versions(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        total_versions += versions.len();

        // deterministic
        assert_eq!(split_into_versions(&bytes).expect("split"), versions, "{name}");

        // every version valid in the context of the earlier ones
        let accepted = apply_all(&versions);

        // the context kept as per-version parts is the context of the whole history
        let mut parts = RecordContext::new();
        for v in &accepted {
            parts.extend(RecordContext::from_versions([v]));
        }
        assert_eq!(parts, RecordContext::from_versions(&accepted), "{name}: per-version parts differ");

        // union of versions == original entries (none lost or duplicated)
        let original = parse_json(&bytes).expect("json");
        let mut union: Vec<(String, Value)> = accepted.iter().flat_map(|v| entries(v.json())).collect();
        union.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(union, entries(&original), "{name}: union differs");

        // one version per encounter here, and encounters in date order across versions
        let encounters = original["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Encounter")
            .count();
        assert_eq!(versions.len(), encounters, "{name}");
        let mut last_end = i64::MIN;
        for (k, v) in accepted.iter().enumerate() {
            assert_eq!(versions[k].number as usize, k + 1);
            let starts: Vec<i64> = v
                .resources()
                .filter(|r| r["resourceType"] == "Encounter")
                .filter_map(|r| r["period"]["start"].as_str())
                .map(|s| healthchain_fhir::DateTime::parse(s).expect("start").bounds().0)
                .collect();
            assert!(!starts.is_empty(), "{name}: version {} has no encounter", k + 1);
            let (lo, hi) = (*starts.iter().min().expect("min"), *starts.iter().max().expect("max"));
            assert!(lo >= last_end, "{name}: version {} out of date order", k + 1);
            last_end = hi;
            assert_eq!(versions[k].entries, v.entries().len());
        }

        // features over the whole record
        let mut feats = RecordFeatures::default();
        for v in &accepted {
            feats.add_bundle(v.json());
        }
        let p = feats.patient.as_ref().expect("patient");
        assert!(p.birth_date.is_some() && feats.sex() != Sex::Unknown, "{name}");
        assert!(!feats.observations.is_empty(), "{name}: no observations");
    }
    println!("20 Synthea bundles -> {total_versions} versions");
}

/// `add_bundle_json` (one pass, only the elements features read) gives exactly what
/// `add_bundle` gives on the fully parsed bundle: every Synthea bundle whole and split into
/// versions, and the small record.
#[test]
fn features_from_json_bytes_equal_features_from_the_parsed_bundle() {
    let mut bundles: Vec<Vec<u8>> = vec![small()];
    for file in synthea_files() {
        let bytes = std::fs::read(&file).expect("bundle");
        bundles.extend(split_into_versions(&bytes).expect("split").into_iter().map(|v| v.bytes));
        bundles.push(bytes);
    }
    let (mut observations, mut conditions) = (0, 0);
    for bytes in &bundles {
        let mut parsed = RecordFeatures::default();
        parsed.add_bundle(&parse_json(bytes).expect("json"));
        let mut scanned = RecordFeatures::default();
        scanned.add_bundle_json(bytes).expect("a bundle");
        assert_eq!(scanned, parsed);
        observations += parsed.observations.len();
        conditions += parsed.conditions.len();
    }
    assert!(observations > 2_000 && conditions > 100, "{observations} observations, {conditions} conditions");
}

#[test]
fn features_from_json_bytes_refuse_what_is_not_a_well_formed_bundle_and_add_nothing() {
    let refused = |bytes: &[u8], kind: ErrorKind, says: &str| {
        let mut features = RecordFeatures::default();
        let e = features.add_bundle_json(bytes).expect_err("refused");
        assert_eq!((e.kind, features), (kind, RecordFeatures::default()), "{}", e.message);
        assert!(e.message.contains(says), "{}", e.message);
    };
    let patient = br#"{"resourceType": "Patient", "gender": "female"}"#;
    refused(patient, ErrorKind::NotAResource, "a Patient resource, not a Bundle");
    let entries = br#"{"entry": [{"resource": {"resourceType": "Patient", "gender": "female"}}]}"#;
    refused(entries, ErrorKind::NotAResource, "no resourceType");
    let twice = br#"{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "gender": "female", "gender": "male"}}]}"#;
    refused(twice, ErrorKind::Json, "duplicate property 'gender'");
    let type_twice = br#"{"resourceType": "Bundle", "resourceType": "Bundle"}"#;
    refused(type_twice, ErrorKind::Json, "duplicate property 'resourceType'");
    refused(br#"{"resourceType": "Bundle", "entry": [}"#, ErrorKind::Json, "error parsing JSON");
    refused(br#"{"resourceType": "Bundle"} trailing"#, ErrorKind::Json, "error parsing JSON");
    refused(b"[1, 2]", ErrorKind::Json, "error parsing JSON");
    // elements features do not read are skipped unparsed, but must still be well-formed JSON
    refused(br#"{"resourceType": "Bundle", "meta": {"a": tru}}"#, ErrorKind::Json, "error parsing JSON");
}
