//! Job specs: parsing, canonical form, hash, rejections.

use healthchain_jobs::spec::{DEFAULT_MIN_COHORT, DEFAULT_QUANTILES};
use healthchain_jobs::{GroupBy, JobError, JobSpec};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn parse(s: &str) -> JobSpec {
    JobSpec::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> JobError {
    match JobSpec::parse(s.as_bytes()) {
        Ok(spec) => panic!("{s} was accepted as {spec:?}"),
        Err(e) => {
            // every message says something
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn defaults_are_filled_in_canonical_form() {
    let spec = parse(r#"{"job": "cohort_stats", "loinc": "8302-2"}"#);
    assert_eq!(
        String::from_utf8(spec.canonical_bytes()).unwrap(),
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":[],"age_band_years":10,"min_cohort":5,"quantiles":[0.25,0.5,0.75]}"#
    );
    let JobSpec::CohortStats(c) = &spec else { panic!() };
    assert_eq!(c.min_cohort(), DEFAULT_MIN_COHORT);
    assert_eq!(c.quantiles(), DEFAULT_QUANTILES);

    let spec = parse(r#"{"job": "logistic_regression", "label_snomed": "38341003", "features": {"age": true}}"#);
    assert_eq!(
        String::from_utf8(spec.canonical_bytes()).unwrap(),
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true,"sex":false,"loinc":[]},"max_iterations":100,"l2":1.0,"min_cohort":5}"#
    );
}

#[test]
fn canonical_round_trip_and_hash() {
    for s in [
        r#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex", "age_band"], "age_band_years": 20, "min_cohort": 3, "quantiles": [0.1, 0.9]}"#,
        r#"{"job": "logistic_regression", "label_snomed": "38341003", "features": {"age": true, "sex": true, "loinc": ["8480-6", "29463-7"]}, "max_iterations": 50, "l2": 0.5}"#,
    ] {
        let spec = parse(s);
        let canonical = spec.canonical_bytes();
        let again = JobSpec::parse(&canonical).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.canonical_bytes(), canonical, "canonical form is a fixed point");
        assert!(!canonical.iter().any(u8::is_ascii_whitespace));
        assert_eq!(spec.hash(), <[u8; 32]>::from(Sha256::digest(&canonical)));
        // serde Deserialize validates the same way
        let via_serde: JobSpec = serde_json::from_slice(s.as_bytes()).unwrap();
        assert_eq!(via_serde, spec);
        assert_eq!(serde_json::to_vec(&spec).unwrap(), canonical);
    }
}

#[test]
fn same_meaning_same_hash() {
    let groups = [
        vec![
            r#"{"job":"cohort_stats","loinc":"8302-2"}"#,
            "\u{feff}{ \"loinc\" : \"8302-2\" ,\n\t\"job\" : \"cohort_stats\" }",
            r#"{"job":"cohort_stats","loinc":"8302-2","group_by":[],"age_band_years":10,"min_cohort":5,"quantiles":[0.25,0.5,0.75]}"#,
            r#"{"quantiles":[0.75,0.25,0.5,0.5],"min_cohort":5,"loinc":"8302-2","job":"cohort_stats"}"#,
            r#"{"job":"cohort_stats","loinc":"8302-2","group_by":null,"min_cohort":null,"quantiles":[2.5e-1,0.50,75e-2]}"#,
            // age_band_years means nothing without age_band grouping
            r#"{"job":"cohort_stats","loinc":"8302-2","age_band_years":25}"#,
        ],
        vec![
            r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["sex","age_band"],"age_band_years":20}"#,
            r#"{"age_band_years":20,"group_by":["age_band","sex","sex"],"loinc":"8302-2","job":"cohort_stats"}"#,
        ],
        vec![
            r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[0,1]}"#,
            r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[1.0,-0.0,0.0]}"#,
        ],
        vec![
            r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true,"loinc":["8480-6","29463-7"]}}"#,
            r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"loinc":["29463-7","8480-6","8480-6"],"sex":false,"age":true},"l2":1,"max_iterations":100,"min_cohort":5}"#,
            r#"{"min_cohort":5,"l2":1e0,"features":{"age":true,"loinc":["29463-7","8480-6"]},"label_snomed":"38341003","job":"logistic_regression"}"#,
        ],
    ];
    let mut hashes = Vec::new();
    for group in &groups {
        let first = parse(group[0]);
        for s in group {
            let spec = parse(s);
            assert_eq!(spec.canonical_bytes(), first.canonical_bytes(), "{s}");
            assert_eq!(spec.hash(), first.hash(), "{s}");
        }
        hashes.push(first.hash());
    }
    // and the groups differ from each other
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            assert_ne!(hashes[i], hashes[j]);
        }
    }
}

#[test]
fn different_meaning_different_hash() {
    let specs = [
        r#"{"job":"cohort_stats","loinc":"8302-2"}"#,
        r#"{"job":"cohort_stats","loinc":"29463-7"}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","min_cohort":6}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[0.5]}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[]}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["sex"]}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band"]}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band"],"age_band_years":5}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true}}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"sex":true}}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"l2":0.1}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"l2":0}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"max_iterations":10}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"min_cohort":1}"#,
        r#"{"job":"logistic_regression","label_snomed":"444814009","features":{"age":true}}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true,"loinc":["8302-2"]}}"#,
    ];
    let hashes: Vec<[u8; 32]> = specs.iter().map(|s| parse(s).hash()).collect();
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            assert_ne!(hashes[i], hashes[j], "{} vs {}", specs[i], specs[j]);
        }
    }
}

#[test]
fn normalised_accessors() {
    let JobSpec::CohortStats(c) =
        parse(r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band","sex"],"quantiles":[0.9,0.1]}"#)
    else {
        panic!()
    };
    assert_eq!(c.group_by(), [GroupBy::Sex, GroupBy::AgeBand]);
    assert_eq!(c.quantiles(), [0.1, 0.9]);
    assert_eq!(c.age_band_years(), 10);
    let JobSpec::LogisticRegression(l) = parse(
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"sex":true,"loinc":["8480-6","29463-7"]}}"#,
    ) else {
        panic!()
    };
    assert!(!l.features().age() && l.features().sex());
    assert_eq!(l.features().loinc(), ["29463-7", "8480-6"]);
    assert_eq!((l.max_iterations(), l.l2(), l.min_cohort()), (100, 1.0, 5));
}

#[test]
fn rejections() {
    use JobError::*;
    // malformed JSON
    for s in ["", "{", r#"{"job":"cohort_stats","loinc":"8302-2",}"#, r#"{"job":"cohort_stats"} x"#, "\u{0}", "nul"] {
        assert!(matches!(err(s), MalformedJson(_)), "{s}");
    }
    // duplicate keys would let two readers disagree
    assert!(matches!(err(r#"{"job":"cohort_stats","loinc":"8302-2","loinc":"29463-7"}"#), MalformedJson(_)));
    // not an object
    for s in ["[]", "1", "\"cohort_stats\"", "null", "true"] {
        assert!(matches!(err(s), NotAnObject(_)), "{s}");
    }
    // job
    assert_eq!(err(r#"{"loinc":"8302-2"}"#), MissingJob);
    assert_eq!(err(r#"{"job":7,"loinc":"8302-2"}"#), MissingJob);
    assert_eq!(err(r#"{"job":"mean","loinc":"8302-2"}"#), UnknownJob("mean".into()));
    assert_eq!(err(r#"{"job":"Cohort_Stats","loinc":"8302-2"}"#), UnknownJob("Cohort_Stats".into()));
    // unknown fields, top level and in features, including another job's field
    let e = err(r#"{"job":"cohort_stats","loinc":"8302-2","min_cohorts":5}"#);
    assert!(matches!(&e, UnknownField { field, context: "cohort_stats", .. } if field == "min_cohorts"), "{e}");
    assert!(e.to_string().contains("min_cohorts"));
    let e = err(r#"{"job":"cohort_stats","loinc":"8302-2","l2":1}"#);
    assert!(matches!(&e, UnknownField { field, .. } if field == "l2"), "{e}");
    let e = err(r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true,"bmi":true}}"#);
    assert!(matches!(&e, UnknownField { field, context: "logistic_regression.features", .. } if field == "bmi"), "{e}");
    // schema: missing required members, wrong types, unknown group
    for s in [
        r#"{"job":"cohort_stats"}"#,
        r#"{"job":"cohort_stats","loinc":8302}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":"0.5"}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","min_cohort":5.0}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","min_cohort":-1}"#,
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["race"]}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003"}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":1}}"#,
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":[]}"#,
    ] {
        assert!(matches!(err(s), Schema { .. }), "{s}: {}", err(s));
    }
    // values
    let field_of = |s: &str| match err(s) {
        InvalidValue { field, reason } => {
            assert!(!reason.is_empty());
            field
        }
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(field_of(r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[0.5,1.5]}"#), "quantiles");
    assert_eq!(field_of(r#"{"job":"cohort_stats","loinc":"8302-2","quantiles":[-0.1]}"#), "quantiles");
    assert_eq!(field_of(r#"{"job":"cohort_stats","loinc":"8302-2","min_cohort":0}"#), "min_cohort");
    assert_eq!(
        field_of(r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band"],"age_band_years":0}"#),
        "age_band_years"
    );
    assert_eq!(field_of(r#"{"job":"cohort_stats","loinc":"height"}"#), "loinc");
    assert_eq!(field_of(r#"{"job":"cohort_stats","loinc":""}"#), "loinc");
    let lr = |rest: &str| format!(r#"{{"job":"logistic_regression","label_snomed":"38341003",{rest}}}"#);
    assert_eq!(field_of(&lr(r#""features":{}"#)), "features");
    assert_eq!(field_of(&lr(r#""features":{"age":false,"sex":false,"loinc":[]}"#)), "features");
    assert_eq!(field_of(&lr(r#""features":{"loinc":["x"]}"#)), "features.loinc");
    assert_eq!(field_of(&lr(r#""features":{"age":true},"max_iterations":0"#)), "max_iterations");
    assert_eq!(field_of(&lr(r#""features":{"age":true},"max_iterations":1000000"#)), "max_iterations");
    assert_eq!(field_of(&lr(r#""features":{"age":true},"l2":-1"#)), "l2");
    assert_eq!(field_of(&lr(r#""features":{"age":true},"min_cohort":0"#)), "min_cohort");
    assert_eq!(
        field_of(r#"{"job":"logistic_regression","label_snomed":"hypertension","features":{"age":true}}"#),
        "label_snomed"
    );
    // a float too large for f64 is a JSON error, not infinity
    assert!(matches!(
        err(r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"l2":1e999}"#),
        MalformedJson(_)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = JobSpec::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_near_specs(
        job in prop_oneof![Just("cohort_stats".to_string()), Just("logistic_regression".to_string()), ".{0,12}"],
        members in proptest::collection::vec(
            (
                prop_oneof![
                    Just("loinc".to_string()), Just("group_by".to_string()), Just("age_band_years".to_string()), Just("min_cohort".to_string()), Just("quantiles".to_string()),
                    Just("label_snomed".to_string()), Just("features".to_string()), Just("max_iterations".to_string()), Just("l2".to_string()), "[a-z_]{1,8}",
                ],
                prop_oneof![
                    Just("\"8302-2\"".to_string()), Just("\"38341003\"".to_string()),
                    Just("[\"sex\",\"age_band\"]".to_string()), Just("{\"age\":true,\"loinc\":[\"8302-2\"]}".to_string()),
                    any::<i64>().prop_map(|i| i.to_string()), any::<f64>().prop_map(|f| format!("{f:e}")),
                    proptest::collection::vec(-2.0f64..2.0, 0..5).prop_map(|v| format!("{v:?}")),
                    Just("null".to_string()), Just("{}".to_string()), Just("[]".to_string()), "\"[ -~]{0,10}\"",
                ],
            ),
            0..8,
        ),
    ) {
        let mut body = vec![format!("\"job\":{}", serde_json::Value::from(job.as_str()))];
        body.extend(members.iter().map(|(k, v)| format!("\"{k}\":{v}")));
        let text = format!("{{{}}}", body.join(","));
        if let Ok(spec) = JobSpec::parse(text.as_bytes()) {
            // anything accepted round-trips through its canonical form
            let again = JobSpec::parse(&spec.canonical_bytes()).unwrap();
            prop_assert_eq!(again.hash(), spec.hash());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any float survives the canonical encoding exactly, so the hash the data user
    /// computes is the hash the enclave recomputes from the canonical bytes.
    #[test]
    fn canonical_bytes_are_a_fixed_point(
        quantiles in proptest::collection::vec(0.0f64..=1.0, 0..6),
        l2 in 0.0f64..1e12,
        text_form in any::<bool>(),
    ) {
        let q = if text_form {
            format!("[{}]", quantiles.iter().map(|q| format!("{q:e}")).collect::<Vec<_>>().join(","))
        } else {
            serde_json::to_string(&quantiles).unwrap()
        };
        let cohort = parse(&format!(r#"{{"job":"cohort_stats","loinc":"8302-2","quantiles":{q}}}"#));
        let JobSpec::CohortStats(c) = &cohort else { panic!() };
        let mut want = quantiles.clone();
        want.sort_by(f64::total_cmp);
        want.dedup();
        prop_assert_eq!(c.quantiles(), &want[..]);
        let model = parse(&format!(
            r#"{{"job":"logistic_regression","label_snomed":"38341003","features":{{"age":true}},"l2":{l2:e}}}"#
        ));
        let JobSpec::LogisticRegression(m) = &model else { panic!() };
        prop_assert_eq!(m.l2().to_bits(), l2.to_bits());
        for spec in [cohort, model] {
            let again = JobSpec::parse(&spec.canonical_bytes()).unwrap();
            prop_assert_eq!(&again, &spec);
            prop_assert_eq!(again.canonical_bytes(), spec.canonical_bytes());
        }
    }
}
