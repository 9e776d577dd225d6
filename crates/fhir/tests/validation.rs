//! Validation against the HL7 examples (valid) and the HL7 validator test cases (invalid).
//!
//! Shipped copies in `tests/data/` always run; the full shared data set at
//! `../shared/data/fhir/` (beside the repository) is used too when present.

use healthchain_fhir::{ErrorKind, Mode, ValidationError, report::validate_bytes, validate_files, validate_resource};
use serde_json::Value;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/fhir");

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "MANIFEST.json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn shared(sub: &str) -> Option<PathBuf> {
    let p = Path::new(SHARED).join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        println!("note: {} not present; skipping that part", p.display());
        None
    }
}

fn assert_all_valid(files: &[PathBuf]) {
    let report = validate_files(files, Mode::Resource);
    assert!(report.is_ok(), "expected all valid:\n{report}");
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn shipped_hl7_examples_are_valid() {
    let files = json_files(&Path::new(DATA).join("hl7"));
    assert!(files.len() >= 10);
    assert_all_valid(&files);
}

#[test]
fn all_shared_hl7_examples_are_valid() {
    let Some(dir) = shared("hl7-examples") else {
        return;
    };
    let files = json_files(&dir);
    assert!(files.len() > 300, "only {} examples", files.len());
    assert_all_valid(&files);
    println!("{} HL7 examples valid", files.len());
}

/// The error kind each invalid test case must produce (our reading of the manifest entry).
const EXPECTED_KIND: &[(&str, ErrorKind)] = &[
    ("Observation-ex-pain.json", ErrorKind::Required),
    ("ai3.json", ErrorKind::UnknownElement),
    ("ai4.json", ErrorKind::InvalidDate),
    ("attachment-with-invalid-binary.json", ErrorKind::InvalidBase64),
    ("attachment-with-wrong-size.json", ErrorKind::Inconsistent),
    ("bad-json-close-1.json", ErrorKind::Json),
    ("bad-json-close-2.json", ErrorKind::Json),
    ("bad-json-close-3.json", ErrorKind::Json),
    ("bundle-duplicate-id.json", ErrorKind::Bundle),
    ("bundle-id-search-2.json", ErrorKind::Bundle),
    ("contained-resource.json", ErrorKind::InvalidId),
    ("empty-array.json", ErrorKind::Empty),
    ("encounter-period.json", ErrorKind::Invariant),
    ("hakan-se.json", ErrorKind::Required),
    ("json-comma-bad-1.json", ErrorKind::Json),
    ("json-comma-bad-2.json", ErrorKind::Json),
    ("json-comments-1.json", ErrorKind::Json),
    ("json-comments-2.json", ErrorKind::Json),
    ("json-comments.json", ErrorKind::UnknownElement),
    ("json-no-quotes-1.json", ErrorKind::Json),
    ("json-no-quotes-2.json", ErrorKind::Json),
    ("parameters-attachment.json", ErrorKind::InvalidBase64),
    ("pat-security-bad-string.json", ErrorKind::UnsafeContent),
    ("pat-security-bad-xhtml.json", ErrorKind::Narrative),
    ("patient-id-bad-1.json", ErrorKind::InvalidId),
    ("patient-id-bad-2.json", ErrorKind::InvalidId),
    ("patient-id-bad-3.json", ErrorKind::InvalidId),
    ("resource-invalid-id-1.json", ErrorKind::InvalidId),
    ("resource-invalid-id-2.json", ErrorKind::InvalidId),
    ("resource-invalid-id-3.json", ErrorKind::InvalidId),
    ("risk-assessment-probability-range.json", ErrorKind::Invariant),
    ("synthea.json", ErrorKind::Cardinality),
    ("xml-bad-entities.json", ErrorKind::Narrative),
];

/// Cases where the Java validator files the same fault under another issue code than it
/// does elsewhere: bad base64 is `invalid` in `Media.content.data` but `structure` inside
/// a `Parameters` value.  We report `invalid` for both.
const CODE_DIVERGENCES: &[&str] = &["parameters-attachment.json"];

/// Drop the Java validator's `/*Type/id*/` annotations from an expression.
fn normalize(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    out.push_str(rest);
    // `value.ofType(Attachment)` is the JSON property `valueAttachment`
    while let Some(i) = out.find(".ofType(") {
        let Some(j) = out[i..].find(')') else { break };
        let ty = &out[i + ".ofType(".len()..i + j];
        let mut cap = ty[..1].to_uppercase();
        cap.push_str(&ty[1..]);
        out = format!("{}{cap}{}", &out[..i], &out[i + j + 1..]);
    }
    out
}

fn path_within(prefix: &str, path: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('.') || r.starts_with('['))
}

/// Whether `e` reports the manifest issue `issue` (same code, and the expected FHIRPath
/// is the error's path or an ancestor of it; JSON syntax errors have no path).
fn reports(file: &str, e: &ValidationError, issue: &Value) -> bool {
    let code = issue["code"].as_str().unwrap_or("");
    let code_ok = e.issue_type().code() == code || CODE_DIVERGENCES.contains(&file);
    if !code_ok {
        return false;
    }
    if e.kind == ErrorKind::Json {
        return true;
    }
    match issue["expression"].as_array() {
        None => e.path.is_empty(),
        Some(list) => list.iter().filter_map(Value::as_str).any(|x| path_within(&normalize(x), &e.path)),
    }
}

/// Run every manifest case whose file is in `dir`; returns how many ran.
fn check_invalid_dir(dir: &Path, manifest: &Value) -> usize {
    let mut ran = 0;
    for t in manifest["tests"].as_array().expect("tests") {
        let file = t["file"].as_str().expect("file");
        let path = dir.join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        ran += 1;
        let errors = validate_bytes(&bytes, Mode::Resource);
        assert!(!errors.is_empty(), "{file}: accepted but should fail");
        let issues: Vec<&Value> = t["expected_issues_java_validator"]
            .as_array()
            .expect("issues")
            .iter()
            .filter(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
            .collect();
        let matched = issues.iter().any(|i| errors.iter().any(|e| reports(file, e, i)));
        assert!(matched, "{file}: no error matches the manifest.\n expected: {issues:?}\n got: {errors:?}");
        let kind = EXPECTED_KIND
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, k)| *k)
            .unwrap_or_else(|| panic!("{file}: no expected kind in the table"));
        assert!(errors.iter().any(|e| e.kind == kind), "{file}: expected a {kind:?} error, got {errors:?}");
    }
    ran
}

fn manifest(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join("MANIFEST.json")).expect("MANIFEST.json");
    serde_json::from_slice(&bytes).expect("manifest JSON")
}

#[test]
fn shipped_invalid_cases_fail_for_the_manifest_reason() {
    let dir = Path::new(DATA).join("invalid");
    let m = manifest(&dir);
    let ran = check_invalid_dir(&dir, &m);
    assert_eq!(ran, 20);
    // our reconstructions of the manifest entries whose files are missing
    let ran = check_invalid_dir(&Path::new(DATA).join("invalid-extra"), &m);
    assert_eq!(ran, 13);
}

#[test]
fn shared_invalid_cases_fail_for_the_manifest_reason() {
    let Some(dir) = shared("invalid") else { return };
    let m = manifest(&dir);
    let ran = check_invalid_dir(&dir, &m);
    assert!(ran >= 20, "ran {ran}");
    println!("{ran} invalid cases fail as the manifest says");
}

#[test]
fn report_format_and_exit_code() {
    let good = Path::new(DATA).join("hl7/patient-example.json");
    let bad = Path::new(DATA).join("invalid/patient-id-bad-1.json");
    let missing = Path::new(DATA).join("no-such-file.json");
    let report = validate_files([&good, &bad, &missing], Mode::Resource);
    assert_eq!(report.exit_code(), 1);
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("{}: ok", good.display()));
    assert_eq!(
        lines[1],
        format!("{}: Patient.id: invalid resource id: invalid characters ('bad-id_1')", bad.display())
    );
    assert!(lines[2].starts_with(&format!("{}: cannot read file", missing.display())));
    let ok = validate_files([&good], Mode::Resource);
    assert_eq!(ok.exit_code(), 0);
    assert_eq!(ok.to_string(), format!("{}: ok\n", good.display()));
}

#[test]
fn paths_inside_bundles_are_fhirpath() {
    let bundle = br#"{"resourceType":"Bundle","type":"collection","entry":[
        {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001",
         "resource":{"resourceType":"Patient","id":"p"}},
        {"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000002",
         "resource":{"resourceType":"Observation","id":"o","status":"final",
           "code":{"text":"x"},"effectiveDateTime":"2019-13-01",
           "subject":{"reference":"urn:uuid:00000000-0000-4000-8000-000000000009"}}}]}"#;
    let errors = validate_resource(bundle).unwrap_err();
    let paths: Vec<(&str, ErrorKind)> = errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        paths,
        [
            ("Bundle.entry[1].resource.effectiveDateTime", ErrorKind::InvalidDate),
            ("Bundle.entry[1].resource.subject.reference", ErrorKind::UnresolvedReference),
        ]
    );
}

#[test]
fn structural_rules() {
    let cases: &[(&str, ErrorKind)] = &[
        (r#"{"resourceType":"Foo"}"#, ErrorKind::UnknownResourceType),
        (r#"[1]"#, ErrorKind::NotAResource),
        (r#"{"id":"x"}"#, ErrorKind::NotAResource),
        (r#"{"resourceType":"Patient","id":"a","id2":1}"#, ErrorKind::UnknownElement),
        (r#"{"resourceType":"Patient","active":"yes"}"#, ErrorKind::WrongType),
        (r#"{"resourceType":"Patient","name":{"family":"x"}}"#, ErrorKind::Cardinality),
        (r#"{"resourceType":"Patient","gender":["male"]}"#, ErrorKind::Cardinality),
        (r#"{"resourceType":"Patient","name":[{}]}"#, ErrorKind::Empty),
        (r#"{"resourceType":"Patient","gender":"m"}"#, ErrorKind::InvalidCode),
        (r#"{"resourceType":"Patient","birthDate":"1970-02-30"}"#, ErrorKind::InvalidDate),
        (r#"{"resourceType":"Patient","multipleBirthInteger":1.5}"#, ErrorKind::InvalidValue),
        (r#"{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2000"}"#, ErrorKind::Cardinality),
        (
            r#"{"resourceType":"Patient","generalPractitioner":[{"reference":"not a ref"}]}"#,
            ErrorKind::InvalidReference,
        ),
        (r##"{"resourceType":"Patient","managingOrganization":{"reference":"#org"}}"##, ErrorKind::UnresolvedReference),
        (r#"{"resourceType":"Patient","contact":[{"gender":"male"}]}"#, ErrorKind::Invariant),
        (
            r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","dataAbsentReason":{"text":"b"}}"#,
            ErrorKind::Invariant,
        ),
        (r#"{"resourceType":"Observation","status":"final"}"#, ErrorKind::Required),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"a","extension":[{"url":"y","valueString":"b"}]}]}"#,
            ErrorKind::Invariant,
        ),
        (r#"{"resourceType":"Patient","_birthDate":{"value":"x"}}"#, ErrorKind::UnknownElement),
        (
            r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"x()\">a</p></div>"}}"#,
            ErrorKind::Narrative,
        ),
        (r#"{"resourceType":"Patient","id":"a","id":"b"}"#, ErrorKind::Json),
        (
            r#"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/Patient/1/_history/1","resource":{"resourceType":"Patient"}}]}"#,
            ErrorKind::Invariant,
        ),
        (
            r#"{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient"}}]}"#,
            ErrorKind::Invariant,
        ),
        (
            r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Nope"}}]}"#,
            ErrorKind::UnknownResourceType,
        ),
    ];
    for (doc, kind) in cases {
        let errors = validate_resource(doc.as_bytes()).expect_err(doc);
        assert!(errors.iter().any(|e| e.kind == *kind), "{doc}: expected {kind:?}, got {errors:?}");
    }
    // primitive extensions without a value are fine
    assert!(
        validate_resource(
            br#"{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://x","valueCode":"unknown"}]},"name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://y","valueString":"z"}]}]}]}"#
        )
        .is_ok()
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    let errors = validate_resource(deep.as_bytes()).unwrap_err();
    assert_eq!(errors[0].kind, ErrorKind::Json);
    assert!(errors[0].message.contains("recursion limit"), "{}", errors[0]);
    // the deepest nesting JSON allows, through the validator (extensions in extensions)
    let mut ext = String::from(r#"{"url":"http://x","valueString":"v"}"#);
    for _ in 0..60 {
        ext = format!(r#"{{"url":"http://x","extension":[{ext}]}}"#);
    }
    let doc = format!(r#"{{"resourceType":"Patient","extension":[{ext}]}}"#);
    assert!(validate_resource(doc.as_bytes()).is_ok());
}
