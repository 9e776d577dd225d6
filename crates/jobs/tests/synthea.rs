//! Jobs over the 20 shipped Synthea bundles, checked against computations written here
//! directly from the JSON.

use healthchain_fhir::{Date, split_into_versions};
use healthchain_jobs::{
    CohortStatsResult, GroupReport, JobError, JobResult, JobSpec, LabelClass, LogisticRegressionResult, RecordInput,
    SummaryStats, run,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

const HYPERTENSION: &str = "38341003";

fn as_of() -> Date {
    Date::new(2021, 6, 1).unwrap()
}

struct Patient {
    bytes: Vec<u8>,
    json: Value,
}

fn load() -> Vec<Patient> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 20, "the 20 shipped Synthea bundles");
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let json = serde_json::from_slice(&bytes).unwrap();
            Patient { bytes, json }
        })
        .collect()
}

fn records(patients: &[Patient]) -> Vec<RecordInput> {
    patients.iter().map(|p| RecordInput::single(p.bytes.clone())).collect()
}

fn spec(s: &str) -> JobSpec {
    JobSpec::parse(s.as_bytes()).unwrap()
}

fn cohort(spec_json: &str, records: &[RecordInput]) -> CohortStatsResult {
    match run(&spec(spec_json), records, as_of()).unwrap() {
        JobResult::CohortStats(r) => r,
        other => panic!("{other:?}"),
    }
}

fn logistic(spec_json: &str, records: &[RecordInput]) -> LogisticRegressionResult {
    match run(&spec(spec_json), records, as_of()).unwrap() {
        JobResult::LogisticRegression(r) => r,
        other => panic!("{other:?}"),
    }
}

// ---- the independent computation ----

fn resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"])
}

fn has_code(concept: &Value, system: &str, code: &str) -> bool {
    concept["coding"].as_array().is_some_and(|cs| cs.iter().any(|c| c["system"] == system && c["code"] == code))
}

/// Latest value of the LOINC code: Observations (and their components) with that code,
/// latest `effectiveDateTime` wins (Synthea writes them all as `YYYY-MM-DDThh:mm:ss+00:00`,
/// so they compare as strings), later in the bundle on a tie.
fn latest_by_hand(bundle: &Value, loinc: &str) -> Option<f64> {
    let mut best: Option<(String, f64)> = None;
    for r in resources(bundle).filter(|r| r["resourceType"] == "Observation") {
        if r["status"] == "entered-in-error" || r["status"] == "cancelled" {
            continue;
        }
        let date = r["effectiveDateTime"].as_str().unwrap().to_string();
        assert!(date.len() == 25 && date.ends_with("+00:00"), "{date}");
        assert!(date.as_str() <= "2021-06-01T23:59:59+00:00");
        let mut values = Vec::new();
        if has_code(&r["code"], "http://loinc.org", loinc) {
            values.extend(r["valueQuantity"]["value"].as_f64());
        }
        for c in r["component"].as_array().into_iter().flatten() {
            if has_code(&c["code"], "http://loinc.org", loinc) {
                values.extend(c["valueQuantity"]["value"].as_f64());
            }
        }
        for v in values {
            if best.as_ref().is_none_or(|(d, _)| date >= *d) {
                best = Some((date.clone(), v));
            }
        }
    }
    best.map(|(_, v)| v)
}

fn ymd(s: &str) -> (i32, i32, i32) {
    let p: Vec<i32> = s[..10].split('-').map(|x| x.parse().unwrap()).collect();
    (p[0], p[1], p[2])
}

fn patient(bundle: &Value) -> &Value {
    resources(bundle).find(|r| r["resourceType"] == "Patient").unwrap()
}

/// Whole years at 2021-06-01, or at death if earlier.
fn age_by_hand(bundle: &Value) -> i32 {
    let p = patient(bundle);
    let (by, bm, bd) = ymd(p["birthDate"].as_str().unwrap());
    let at = p["deceasedDateTime"].as_str().map(ymd).filter(|d| *d < (2021, 6, 1)).unwrap_or((2021, 6, 1));
    at.0 - by - i32::from((at.1, at.2) < (bm, bd))
}

fn has_condition_by_hand(bundle: &Value, snomed: &str) -> bool {
    resources(bundle)
        .filter(|r| r["resourceType"] == "Condition")
        .any(|r| has_code(&r["code"], "http://snomed.info/sct", snomed))
}

fn quantile_by_hand(sorted: &[f64], q: f64) -> f64 {
    // numpy.quantile(..., method="linear")
    let pos = q * (sorted.len() as f64 - 1.0);
    let below = pos.floor();
    let i = below as usize;
    if i + 1 >= sorted.len() {
        sorted[sorted.len() - 1]
    } else {
        sorted[i] * (1.0 - (pos - below)) + sorted[i + 1] * (pos - below)
    }
}

#[test]
fn quantile_by_hand_is_numpy_linear() {
    // numpy.quantile([1, 2, 3, 4], [0, .25, .5, .9, 1]) = [1, 1.75, 2.5, 3.7, 4]
    let x = [1.0, 2.0, 3.0, 4.0];
    for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
        assert!((quantile_by_hand(&x, q) - want).abs() < 1e-12);
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn check_stats(stats: &SummaryStats, values: &[f64], quantiles: &[f64]) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    assert_eq!(stats.count, v.len() as u64);
    assert!(close(stats.mean, mean), "mean {} vs {mean}", stats.mean);
    if v.len() >= 2 {
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(close(stats.std_dev.unwrap(), sd), "sd {:?} vs {sd}", stats.std_dev);
    } else {
        assert_eq!(stats.std_dev, None);
    }
    assert_eq!(stats.min, v[0]);
    assert_eq!(stats.max, v[v.len() - 1]);
    assert_eq!(stats.quantiles.len(), quantiles.len());
    for (got, q) in stats.quantiles.iter().zip(quantiles) {
        assert_eq!(got.q, *q);
        assert!(close(got.value, quantile_by_hand(&v, *q)), "q{q}: {} vs {}", got.value, quantile_by_hand(&v, *q));
    }
}

// ---- cohort_stats ----

#[test]
fn cohort_stats_match_hand_computation() {
    let patients = load();
    let recs = records(&patients);
    let quantiles = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];
    // height and weight (everyone), BMI (17 of 20), total cholesterol (12), systolic BP (a
    // blood-pressure panel component)
    for (loinc, expect_n) in [("8302-2", 20), ("29463-7", 20), ("39156-5", 17), ("2093-3", 12), ("8480-6", 20)] {
        let values: Vec<f64> = patients.iter().filter_map(|p| latest_by_hand(&p.json, loinc)).collect();
        assert_eq!(values.len(), expect_n, "{loinc}");
        let r = cohort(&format!(r#"{{"job":"cohort_stats","loinc":"{loinc}","quantiles":{quantiles:?}}}"#), &recs);
        assert_eq!(r.loinc, loinc);
        assert_eq!(r.records, 20);
        assert_eq!(r.excluded, Some(20 - expect_n as u64));
        assert_eq!(r.as_of, "2021-06-01");
        assert_eq!(r.job_hash.len(), 64);
        assert!(r.groups.is_empty());
        assert!(!r.overall.suppressed());
        check_stats(r.overall.stats.as_ref().unwrap(), &values, &quantiles);
    }
}

/// The suppression rule written out again: groups under `min` are hidden, then the smallest
/// shown groups until the hidden ones hold at least `min` together.
fn expected_suppressed(counts: &BTreeMap<(String, String), usize>, min: usize) -> Vec<(String, String)> {
    let mut hidden: Vec<(String, String)> = counts.iter().filter(|(_, n)| **n < min).map(|(k, _)| k.clone()).collect();
    loop {
        let total: usize = hidden.iter().map(|k| counts[k]).sum();
        if total == 0 || total >= min {
            break;
        }
        let mut shown: Vec<_> = counts.iter().filter(|(k, _)| !hidden.contains(k)).collect();
        shown.sort_by_key(|(_, n)| **n); // stable: ties in key order
        match shown.first() {
            Some((k, _)) => hidden.push((*k).clone()),
            None => break,
        }
    }
    hidden
}

fn band(age: i32, width: i32) -> String {
    let lo = age / width * width;
    format!("{lo}-{}", lo + width - 1)
}

fn sex_rank(s: &str) -> u8 {
    ["female", "male", "other", "unknown"].iter().position(|x| *x == s).unwrap() as u8
}

#[test]
fn grouping_by_sex_and_age_band_with_suppression() {
    let patients = load();
    let recs = records(&patients);
    let quantiles = [0.25, 0.5, 0.75];
    for (width, min) in [(10, 5), (20, 5), (10, 3), (20, 1)] {
        let r = cohort(
            &format!(
                r#"{{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band","sex"],"age_band_years":{width},"min_cohort":{min}}}"#
            ),
            &recs,
        );
        let mut by_hand: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for p in &patients {
            let sex = patient(&p.json)["gender"].as_str().unwrap().to_string();
            let v = latest_by_hand(&p.json, "8302-2").unwrap();
            by_hand.entry((sex, band(age_by_hand(&p.json), width))).or_default().push(v);
        }
        let counts = by_hand.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        let hidden = expected_suppressed(&counts, min);
        assert_eq!(r.groups.len(), by_hand.len(), "one report per non-empty group");
        let mut order = Vec::new();
        for g in &r.groups {
            let sex = g.group.sex.clone().unwrap();
            let age_band = g.group.age_band.clone().unwrap();
            let lo: u32 = age_band.split('-').next().unwrap().parse().unwrap();
            order.push((sex_rank(&sex), lo));
            let key = (sex, age_band);
            let values = &by_hand[&key];
            if hidden.contains(&key) {
                assert!(g.suppressed(), "{key:?} ({} patients, min {min})", values.len());
                let json = serde_json::to_value(g).unwrap();
                assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
                assert_eq!(json["suppressed"], true);
            } else {
                assert!(values.len() >= min);
                check_stats(g.stats.as_ref().unwrap(), values, &quantiles);
            }
        }
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "groups in sex then age order");
        if min == 5 && width == 10 {
            // 0-9: 3, 20-29: 4 male + 1 female, 30-39: 5 male + 1 female, 40-49: 3, 50-59: 2, 90-99: 1
            let shown: Vec<_> = r.groups.iter().filter(|g| !g.suppressed()).collect();
            assert_eq!(shown.len(), 1, "{shown:?}");
            assert_eq!(shown[0].group.sex.as_deref(), Some("male"));
            assert_eq!(shown[0].group.age_band.as_deref(), Some("30-39"));
        }
        if min == 1 {
            assert!(r.groups.iter().all(|g| !g.suppressed()));
        }
    }
}

#[test]
fn complementary_suppression_hides_the_complement() {
    let recs = records(&load());
    // 3 female, 17 male: with min 5, female is hidden and male would give it away (overall
    // minus male), so male is hidden too.
    let r = cohort(r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["sex"],"min_cohort":5}"#, &recs);
    assert_eq!(r.groups.len(), 2);
    assert!(r.groups.iter().all(GroupReport::suppressed));
    assert_eq!(r.overall.stats.as_ref().unwrap().count, 20);
    let text = String::from_utf8(JobResult::CohortStats(r).to_bytes()).unwrap();
    assert!(text.contains(r#"{"group":{"sex":"female"},"suppressed":true}"#), "{text}");
    assert!(text.contains(r#"{"group":{"sex":"male"},"suppressed":true}"#), "{text}");
    // with min 3 both are shown
    let r = cohort(r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["sex"],"min_cohort":3}"#, &recs);
    let counts: Vec<u64> = r.groups.iter().map(|g| g.stats.as_ref().unwrap().count).collect();
    assert_eq!(counts, [3, 17]);
}

#[test]
fn overall_suppression_reveals_nothing() {
    let recs = records(&load());
    // 12 patients have a cholesterol value: min 13 hides everything, min 12 does not
    let r = cohort(r#"{"job":"cohort_stats","loinc":"2093-3","group_by":["sex","age_band"],"min_cohort":13}"#, &recs);
    assert!(r.overall.suppressed());
    assert!(r.groups.is_empty());
    assert_eq!(r.excluded, None);
    let text = String::from_utf8(JobResult::CohortStats(r).to_bytes()).unwrap();
    for word in ["count", "mean", "std_dev", "min", "max", "quantiles", "excluded", "stats"] {
        assert!(!text.contains(&format!("\"{word}\":")), "{word} in {text}");
    }
    assert!(text.contains(r#""overall":{"group":{},"suppressed":true}"#), "{text}");
    let r = cohort(r#"{"job":"cohort_stats","loinc":"2093-3","min_cohort":12}"#, &recs);
    assert_eq!(r.overall.stats.unwrap().count, 12);
    assert_eq!(r.excluded, Some(8));
    // a code nobody has
    let r = cohort(r#"{"job":"cohort_stats","loinc":"1234-5","min_cohort":1}"#, &recs);
    assert!(r.overall.suppressed());
}

#[test]
fn result_is_deterministic_and_independent_of_record_order() {
    let patients = load();
    let recs = records(&patients);
    let s = spec(r#"{"job":"cohort_stats","loinc":"29463-7","group_by":["age_band"],"min_cohort":2}"#);
    let a = run(&s, &recs, as_of()).unwrap();
    let b = run(&s, &recs, as_of()).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    let mut reversed = recs.clone();
    reversed.reverse();
    assert_eq!(run(&s, &reversed, as_of()).unwrap().to_bytes(), a.to_bytes());
    assert_eq!(JobResult::from_bytes(&a.to_bytes()).unwrap(), a);
}

#[test]
fn ages_follow_as_of() {
    let recs = records(&load());
    // in 2000 most of these patients were children or unborn (age band "unknown")
    let r = match run(
        &spec(r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["age_band"],"age_band_years":50,"min_cohort":1}"#),
        &recs,
        Date::new(2000, 1, 1).unwrap(),
    )
    .unwrap()
    {
        JobResult::CohortStats(r) => r,
        other => panic!("{other:?}"),
    };
    let bands: Vec<_> = r.groups.iter().map(|g| g.group.age_band.clone().unwrap()).collect();
    assert!(bands.iter().all(|b| ["0-49", "50-99", "unknown"].contains(&b.as_str())), "{bands:?}");
    // only observations up to 2000 count: fewer patients have one
    assert!(r.overall.stats.unwrap().count < 20);
}

// ---- logistic_regression ----

const MODEL: &str = r#"{"job":"logistic_regression","label_snomed":"38341003",
    "features":{"age":true,"sex":true,"loinc":["8480-6","29463-7"]},"min_cohort":5}"#;

#[test]
fn logistic_regression_on_synthea() {
    let patients = load();
    let recs = records(&patients);
    let positives_by_hand = patients.iter().filter(|p| has_condition_by_hand(&p.json, HYPERTENSION)).count();
    assert!(positives_by_hand > 0 && positives_by_hand < 20, "the condition splits the cohort");

    let r = logistic(MODEL, &recs);
    let m = &r.metrics;
    assert_eq!(m.n + r.excluded, 20);
    assert_eq!(r.records, 20);
    assert_eq!(m.positives as usize, positives_by_hand, "everyone has all four features");
    assert!((0.0..=1.0).contains(&m.accuracy), "{m:?}");
    assert!((0.0..=1.0).contains(&m.auc), "{m:?}");
    assert!(m.log_loss.is_finite() && m.log_loss > 0.0);
    // a model with the intercept only would score ln 2 at best...
    let prior = m.positives as f64 / m.n as f64;
    let base = -(prior * prior.ln() + (1.0 - prior) * (1.0 - prior).ln());
    assert!(m.log_loss < base, "the features help: {} vs {base}", m.log_loss);
    assert!(m.auc > 0.5);
    assert!(r.intercept.is_finite());
    let names: Vec<&str> = r.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["age", "sex_female", "loinc:29463-7", "loinc:8480-6"]);
    for f in &r.features {
        assert!(f.coefficient.is_finite() && f.mean.is_finite() && f.std_dev > 0.0, "{f:?}");
    }
    assert_eq!(r.coefficient("age"), Some(r.features[0].coefficient));
    assert!(r.iterations >= 1 && r.iterations <= 100);
    assert!(r.converged, "{r:?}");

    // the reported means are those of the raw features, and `predict` reproduces accuracy
    let mut rows = Vec::new();
    for p in &patients {
        let sex = if patient(&p.json)["gender"] == "female" { 1.0 } else { 0.0 };
        let x = vec![
            f64::from(age_by_hand(&p.json)),
            sex,
            latest_by_hand(&p.json, "29463-7").unwrap(),
            latest_by_hand(&p.json, "8480-6").unwrap(),
        ];
        rows.push((x, has_condition_by_hand(&p.json, HYPERTENSION)));
    }
    for (j, f) in r.features.iter().enumerate() {
        let mean = rows.iter().map(|(x, _)| x[j]).sum::<f64>() / 20.0;
        assert!(close(f.mean, mean), "{}: {} vs {mean}", f.name, f.mean);
    }
    let right = rows.iter().filter(|(x, y)| (r.predict(x).unwrap() >= 0.5) == *y).count();
    assert!(close(m.accuracy, right as f64 / 20.0));
    let ll = rows
        .iter()
        .map(|(x, y)| {
            let p = r.predict(x).unwrap();
            if *y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / 20.0;
    assert!((m.log_loss - ll).abs() < 1e-9, "{} vs {ll}", m.log_loss);
    // AUC by counting pairs
    let (pos, neg): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, y)| *y);
    let mut wins = 0.0;
    for (xp, _) in &pos {
        for (xn, _) in &neg {
            let (a, b) = (r.predict(xp).unwrap(), r.predict(xn).unwrap());
            wins += if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            };
        }
    }
    assert!(close(m.auc, wins / (pos.len() * neg.len()) as f64), "{} vs pairs", m.auc);

    // deterministic, and independent of record order
    let again = logistic(MODEL, &recs);
    assert_eq!(
        JobResult::LogisticRegression(again.clone()).to_bytes(),
        JobResult::LogisticRegression(r.clone()).to_bytes()
    );
    let mut reversed = recs.clone();
    reversed.reverse();
    assert_eq!(logistic(MODEL, &reversed), r);
    let bytes = JobResult::LogisticRegression(r.clone()).to_bytes();
    assert_eq!(JobResult::from_bytes(&bytes).unwrap(), JobResult::LogisticRegression(r));
}

#[test]
fn logistic_regression_excludes_records_missing_a_feature() {
    let patients = load();
    let recs = records(&patients);
    let spec_json = r#"{"job":"logistic_regression","label_snomed":"38341003",
        "features":{"age":true,"loinc":["8480-6","2093-3"]},"min_cohort":5,"l2":0.5,"max_iterations":200}"#;
    let r = logistic(spec_json, &recs);
    let usable: Vec<&Patient> = patients.iter().filter(|p| latest_by_hand(&p.json, "2093-3").is_some()).collect();
    assert_eq!(r.metrics.n as usize, usable.len());
    assert_eq!(r.excluded as usize, 20 - usable.len());
    assert_eq!(r.metrics.n + r.excluded, 20);
    assert_eq!(
        r.metrics.positives as usize,
        usable.iter().filter(|p| has_condition_by_hand(&p.json, HYPERTENSION)).count()
    );
    assert!((0.0..=1.0).contains(&r.metrics.accuracy) && (0.0..=1.0).contains(&r.metrics.auc));
    assert!(r.features.iter().all(|f| f.coefficient.is_finite()));
}

#[test]
fn iteration_limit_is_reported() {
    let recs = records(&load());
    let r = logistic(
        r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true,"sex":true,"loinc":["8480-6","29463-7"]},"max_iterations":1,"l2":0}"#,
        &recs,
    );
    assert_eq!(r.iterations, 1);
    assert!(!r.converged);
}

#[test]
fn one_class_label_is_refused() {
    let patients = load();
    let recs = records(&patients);
    let e = run(
        &spec(r#"{"job":"logistic_regression","label_snomed":"999999999","features":{"age":true}}"#),
        &recs,
        as_of(),
    )
    .unwrap_err();
    assert!(matches!(&e, JobError::SingleClass { class: LabelClass::AllNegative, usable: 20, .. }), "{e:?}");
    assert!(e.to_string().contains("no usable record has the condition"), "{e}");
    // only the patients with hypertension: every one is positive
    let hypertensive: Vec<RecordInput> = patients
        .iter()
        .filter(|p| has_condition_by_hand(&p.json, HYPERTENSION))
        .map(|p| RecordInput::single(p.bytes.clone()))
        .collect();
    let e = run(
        &spec(r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"min_cohort":1}"#),
        &hypertensive,
        as_of(),
    )
    .unwrap_err();
    assert!(matches!(&e, JobError::SingleClass { class: LabelClass::AllPositive, .. }), "{e:?}");
    assert!(e.to_string().contains("every usable record has the condition"), "{e}");
}

#[test]
fn too_few_records_are_refused() {
    let recs = records(&load());
    let e = run(
        &spec(r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"age":true},"min_cohort":21}"#),
        &recs,
        as_of(),
    )
    .unwrap_err();
    assert_eq!(e, JobError::TooFewRecords { usable: 20, total: 20, min_cohort: 21 });
    // 12 have cholesterol
    let e = run(
        &spec(r#"{"job":"logistic_regression","label_snomed":"38341003","features":{"loinc":["2093-3"]},"min_cohort":13}"#),
        &recs,
        as_of(),
    )
    .unwrap_err();
    assert_eq!(e, JobError::TooFewRecords { usable: 12, total: 20, min_cohort: 13 });
    assert!(e.to_string().contains("12 of 20"), "{e}");
}

// ---- versions ----

#[test]
fn versions_give_the_same_result_as_the_whole_bundle() {
    let patients = load();
    let whole = records(&patients);
    let mut max_versions = 0;
    let split: Vec<RecordInput> = patients
        .iter()
        .map(|p| {
            let versions = split_into_versions(&p.bytes).unwrap();
            max_versions = max_versions.max(versions.len());
            RecordInput::new(versions.into_iter().map(|v| v.bytes).collect())
        })
        .collect();
    assert!(max_versions > 5, "bundles split into many versions");
    for s in [
        r#"{"job":"cohort_stats","loinc":"8302-2","group_by":["sex","age_band"],"min_cohort":2}"#,
        r#"{"job":"cohort_stats","loinc":"8480-6","min_cohort":1,"quantiles":[0.1,0.5,0.9]}"#,
        MODEL,
    ] {
        let s = spec(s);
        assert_eq!(run(&s, &split, as_of()).unwrap().to_bytes(), run(&s, &whole, as_of()).unwrap().to_bytes());
    }
    // and one record alone, split versus whole
    let one = spec(r#"{"job":"cohort_stats","loinc":"29463-7","group_by":["sex","age_band"],"min_cohort":1}"#);
    assert_eq!(
        run(&one, &split[..1], as_of()).unwrap().to_bytes(),
        run(&one, &whole[..1], as_of()).unwrap().to_bytes()
    );
}

#[test]
fn invalid_records_are_reported() {
    let patients = load();
    let mut recs = records(&patients[..6]);
    recs[3] = RecordInput::new(vec![patients[3].bytes.clone(), b"{not json".to_vec()]);
    let s = spec(r#"{"job":"cohort_stats","loinc":"8302-2"}"#);
    let e = run(&s, &recs, as_of()).unwrap_err();
    assert!(matches!(e, JobError::InvalidRecord { record: 3, version: 1, .. }), "{e:?}");
    recs[3] = RecordInput::single(br#"{"resourceType":"Patient","id":"x"}"#.to_vec());
    let e = run(&s, &recs, as_of()).unwrap_err();
    assert!(
        matches!(&e, JobError::InvalidRecord { record: 3, version: 0, reason } if reason.contains("Patient")),
        "{e:?}"
    );
    // a record with no versions simply has no value
    recs[3] = RecordInput::default();
    let JobResult::CohortStats(r) = run(&s, &recs, as_of()).unwrap() else { panic!() };
    assert_eq!(r.excluded, Some(1));
}
