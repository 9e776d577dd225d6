//! `healthchain demo` as a user runs it.

use std::process::Command;

use serde_json::Value;

fn healthchain() -> Command {
    Command::new(env!("CARGO_BIN_EXE_healthchain"))
}

/// Runs the binary with `args` on the environment and keystore in `home`.
fn run_in(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    healthchain()
        .args(args)
        .arg("--keystore")
        .arg(home.join("keys"))
        .env("HEALTHCHAIN_HOME", home)
        .env("HEALTHCHAIN_PASSPHRASE", "s3cret")
        .output()
        .unwrap()
}

/// The standard output of a run that must succeed.
fn ok(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn demo_json_summary_matches_the_shipped_patients() {
    let output = healthchain().args(["demo", "--json"]).output().expect("run healthchain");
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(summary["records"], shipped);
    assert!(summary["versions"].as_u64().unwrap() > shipped as u64, "follow-up visits became updates");
    assert_eq!(summary["versions_verified"], summary["versions"]);
    assert_eq!(summary["attacks_refused"], summary["attacks_attempted"]);
    // per record 5; sharing 3; seed 001 5
    assert_eq!(summary["attacks_attempted"], 5 * shipped + 3 + 5);
    assert_eq!(summary["jobs_completed"], 2);
    // every owner is paid 1,000 gwei per job
    assert_eq!(summary["payments_wei"], (2 * shipped as u64 * 1_000_000_000_000).to_string());
    assert_eq!(summary["results"][0]["job"], "cohort_stats", "{summary}");
    assert_eq!(summary["results"][0]["records"], shipped, "{summary}");
    assert_eq!(summary["results"][1]["job"], "logistic_regression", "{summary}");
    assert!(summary["timings_ms"]["upload"].as_f64().unwrap() > 0.0);
    assert!(summary["timings_ms"]["share_enclave"].as_f64().unwrap() > 0.0);
    // seed 001: patient 1 one EHR in two versions, patient 2 three doctors' EHRs, patient 3 one
    assert_eq!(summary["ehr_patients"], 3, "{summary}");
    assert_eq!(summary["ehr_group_case"], true);
    assert_eq!(summary["ehrs"], 5);
    assert_eq!(summary["ehr_versions_written"], 6);
    assert_eq!(summary["ehrs_checked"], 5);
    assert_eq!(summary["integrity_checks_passed"], 5);
    assert_eq!(summary["hospital_fetched"], 5);
    assert_eq!(summary["hospital_fetched_intact"], 5);
    assert!(summary["timings_ms"]["ehr_write"].as_f64().unwrap() > 0.0);
    assert!(summary.get("not_yet_run").is_none(), "the demo runs every built part");
}

#[test]
fn demo_scales_down_with_patients() {
    let output = healthchain().args(["demo", "--json", "--patients", "2"]).output().unwrap();
    assert!(output.status.success());
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["records"], 2);
    assert_eq!(summary["ehr_group_case"], true, "two patients are enough for case 2");
    assert_eq!(summary["ehrs"], 4);
    assert_eq!(summary["hospital_fetched_intact"], 4);

    // one patient: seed 001's case 1 only, said so; every attack still attempted and refused
    let output = healthchain().args(["demo", "--patients", "1"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("case 2 (three doctors in order) not run: it needs a second patient"), "{report}");
    assert!(report.contains("1 EHRs (2 versions) written"), "{report}");
    assert!(report.contains("attacks refused 13/13"), "{report}");
}

#[test]
fn demo_refuses_a_missing_or_bad_patients_dir() {
    let output = healthchain().args(["demo", "--patients-dir", "/nonexistent/healthchain"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/healthchain"));

    let dir = std::env::temp_dir().join(format!("healthchain-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.json"), b"{\"resourceType\": \"Bundle\"").unwrap();
    let output = healthchain().args(["demo", "--patients-dir"]).arg(&dir).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a FHIR Bundle"));
}

#[test]
fn unknown_arguments_are_usage_errors() {
    let output = healthchain().args(["demo", "--no-such-flag"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn fhir_validate_reports_each_file_and_exits_by_validity() {
    let synthea = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea");
    let bundle = std::fs::read_dir(synthea)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let output = healthchain().args(["fhir", "validate", "--record"]).arg(&bundle).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(String::from_utf8_lossy(&output.stdout).contains(": ok"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-observation.json");
    std::fs::write(&bad, br#"{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "effectiveDateTime": "2020-13-45"}"#)
        .unwrap();
    let output = healthchain().args(["fhir", "validate"]).arg(&bundle).arg(&bad).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Observation.effectiveDateTime"), "{stdout}");

    let output = healthchain().args(["fhir", "validate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "no files is a usage error");
}

#[test]
fn keys_are_created_listed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let key = |args: &[&str]| {
        healthchain()
            .arg("key")
            .args(args)
            .arg("--keystore")
            .arg(dir.path())
            .env("HEALTHCHAIN_PASSPHRASE", "s3cret")
            .output()
            .unwrap()
    };
    let created = key(&["new", "patient-1"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let listed = key(&["list", "--json"]);
    let keys: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(keys[0]["name"], "patient-1");
    let address = keys[0]["address"].as_str().unwrap().to_string();
    assert!(String::from_utf8_lossy(&created.stdout).to_lowercase().contains(&address.to_lowercase()));
    let exported: Value = serde_json::from_slice(&key(&["export", "patient-1"]).stdout).unwrap();
    assert_eq!(exported["version"], 3);

    let duplicate = key(&["new", "patient-1"]);
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let missing = key(&["export", "nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no key named 'nobody'"));
}

#[test]
fn bench_gas_json_has_the_table_3_rows() {
    let output = healthchain().args(["bench", "gas", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let run: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["suites"][0]["suite"], "gas");
    let figures = run["suites"][0]["figures"].as_array().unwrap();
    for name in [
        "dataUpload.create",
        "dataUpload.invoke",
        "accessControl.create",
        "accessControl.addPolicy",
        "accessControl.verifyPolicy",
        "keyAuthorization.create",
        "keyAuthorization.invoke",
    ] {
        let figure = figures.iter().find(|f| f["measure"] == name).unwrap_or_else(|| panic!("row {name}"));
        assert!(figure["ours"]["median"].as_f64().unwrap() > 0.0);
        assert!(figure["paper"].is_string(), "the paper's figure is shown: {figure}");
        assert_eq!(figure["goal"]["kind"], "at_most", "held to half the paper's gas: {figure}");
        assert!(figure["met"].is_boolean());
    }
    assert!(figures.len() > 7, "our extra operations are listed too");
}

#[test]
fn admin_deploys_and_approves_an_enclave_only_within_policy() {
    use healthchain_ledger::client::Connection;
    use healthchain_ledger::{Deployment, Ledger, testing::dev_key};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let chain = healthchain_chain::Chain::in_memory(healthchain_chain::ChainConfig::default()).unwrap();
    let server = runtime.block_on(chain.serve_http("127.0.0.1:0".parse().unwrap())).unwrap();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        healthchain()
            .args(args)
            .arg("--keystore")
            .arg(dir.path().join("keys"))
            .env("HEALTHCHAIN_PASSPHRASE", "operator")
            .env("HEALTHCHAIN_SECRET_KEY", alloy_primitives::hex::encode(dev_key(0).to_bytes()))
            .output()
            .unwrap()
    };
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        output
    };
    ok(run(&["key", "import", "admin"]));
    let deployment = dir.path().join("deployment.json");
    ok(run(&["admin", "deploy", "--rpc", &url, "--key", "admin", "--out", deployment.to_str().unwrap()]));
    let state = dir.path().join("enclave");
    let evidence = ok(run(&["admin", "enclave", "evidence", "--state-dir", state.to_str().unwrap()])).stdout;
    let evidence_file = dir.path().join("evidence.json");
    std::fs::write(&evidence_file, &evidence).unwrap();
    let evidence: Value = serde_json::from_slice(&evidence).unwrap();
    let platform = evidence["platform"].as_str().unwrap();
    let measurement = evidence["measurement"].as_str().unwrap();
    let approve = |platform: &str, measurement: &str, simulated: bool| {
        let mut args = vec!["admin", "enclave", "approve", "--rpc", &url, "--key", "admin", "--platform", platform];
        args.extend(["--measurement", measurement, "--deployment", deployment.to_str().unwrap()]);
        args.extend(["--evidence", evidence_file.to_str().unwrap()]);
        if simulated {
            args.push("--accept-simulated");
        }
        run(&args)
    };

    let other_code = approve(platform, &format!("0x{}", "ab".repeat(32)), true);
    assert_eq!(other_code.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other_code.stderr).contains("not on the allow-list"));
    let strict = approve(platform, measurement, false);
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("simulated"));
    let other_platform = approve(&dev_key(1).address().to_string(), measurement, true);
    assert_eq!(other_platform.status.code(), Some(1));
    ok(approve(platform, measurement, true));

    let deployment: Deployment = serde_json::from_slice(&std::fs::read(&deployment).unwrap()).unwrap();
    let signer: alloy_primitives::Address = alloy_primitives::Address::from_slice(
        &serde_json::from_value::<Vec<u8>>(evidence["evidence"]["report_signer"].clone()).unwrap(),
    );
    let approved = runtime.block_on(async {
        let connection = Connection::http(&url).await.unwrap();
        let ledger = Ledger::new(&connection, None, &dev_key(0), deployment);
        ledger.directory().enclave_of(signer).await.unwrap()
    });
    assert!(approved.approved);
    assert_eq!(format!("{}", approved.measurement), measurement);
}

#[test]
fn a_closed_output_pipe_is_not_a_crash() {
    let mut child = healthchain()
        .args(["demo", "--patients", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

/// Exit codes: 1 for what is invalid or refused, 3 when a component fails.
#[test]
fn a_failed_component_exits_3_and_an_invalid_configuration_1() {
    let home = tempfile::tempdir().unwrap();
    let env = home.path().join("env");
    let catalog = || healthchain().args(["catalog", "--json", "--home"]).arg(&env).output().unwrap();
    assert!(catalog().status.success(), "the environment is created");

    let config = env.join("healthchain.toml");
    std::fs::write(&config, "[chain]\nurl = \"http://127.0.0.1:1\"\n").unwrap();
    let invalid = catalog();
    assert_eq!(invalid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("unknown field `url`"));
    std::fs::remove_file(&config).unwrap();

    // the enclave's sealed keys altered: it cannot start, a failure of the component
    let sealed = env.join("enclave").join("enclave-keys.sealed");
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&sealed, bytes).unwrap();
    let failed = catalog();
    assert_eq!(failed.status.code(), Some(3), "{}", String::from_utf8_lossy(&failed.stderr));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("enclave"));
}

#[test]
fn record_commands_import_update_history_and_verify_across_runs() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_in(home.path(), args);
    assert!(run(&["key", "new", "alice"]).status.success());
    let synthea = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut bundles: Vec<_> = std::fs::read_dir(&synthea).unwrap().map(|e| e.unwrap().path()).collect();
    bundles.sort();
    let bundle = bundles[0].to_str().unwrap();

    let imported = run(&["record", "import", "--key", "alice", bundle]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stderr).contains("version 1/"), "progress is reported");
    let stdout = String::from_utf8_lossy(&imported.stdout).into_owned();
    let record = stdout.lines().find_map(|l| l.strip_prefix("record   ")).unwrap().trim().to_string();
    let versions = healthchain_fhir::split_into_versions(&std::fs::read(bundle).unwrap()).unwrap().len();

    // a later run (new chain process, same enclave state) sees the same record
    let verified = run(&["record", "verify", &record, "--json"]);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stderr));
    let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["versions"].as_array().unwrap().len(), versions);
    let history = run(&["record", "history", &record, "--json"]);
    assert_eq!(serde_json::from_slice::<Value>(&history.stdout).unwrap().as_array().unwrap().len(), versions);
    let listed = run(&["record", "list", "--key", "alice", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([{ "record_id": record, "versions": versions, "data_type": "fhir-r4" }]));

    // an update about another patient is refused with the enclave's reason, exit 1
    let other = std::fs::read(&bundles[1]).unwrap();
    let first = healthchain_fhir::split_into_versions(&other).unwrap().remove(0).bytes;
    let other_file = home.path().join("other.json");
    std::fs::write(&other_file, first).unwrap();
    let refused = run(&["record", "update", "--key", "alice", &record, other_file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another patient"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let unknown = run(&["record", "verify", "0x00000000000000000000000000000000000000000000000000000000000000aa"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("is not registered"));
}

#[test]
fn share_commands_request_serve_run_and_read_a_result() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_in(home.path(), args);
    ok(run(&["key", "new", "alice"]));
    ok(run(&["key", "new", "lab"]));
    let synthea = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut bundles: Vec<_> = std::fs::read_dir(&synthea).unwrap().map(|e| e.unwrap().path()).collect();
    bundles.sort();

    let mut records = Vec::new();
    for bundle in &bundles[..5] {
        let stdout = ok(run(&["record", "import", "--key", "alice", bundle.to_str().unwrap()]));
        let record = stdout.lines().find_map(|l| l.strip_prefix("record   ")).unwrap().trim().to_string();
        ok(run(&["record", "policy", "--key", "alice", &record, "--charge-gwei", "1000", "--start", "2000-01-01"]));
        records.push(record);
    }
    let catalog: Value = serde_json::from_str(&ok(run(&["catalog", "--data-type", "fhir-r4", "--json"]))).unwrap();
    let listed = catalog.as_array().unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|e| e["policy"]["charge_gwei"] == 1000), "{catalog}");

    let job = home.path().join("job.json");
    std::fs::write(&job, br#"{"job": "cohort_stats", "loinc": "8302-2"}"#).unwrap();
    let job = job.to_str().unwrap();
    let joined = records.join(",");
    let requested = ok(run(&["share", "request", "--key", "lab", "--records", &joined, "--job", job]));
    let request_id = requested.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_string();
    assert!(requested.contains("paid 0.000005 ETH"), "{requested}");

    // before the committee has served, the enclave cannot open the keys
    let early = run(&["share", "run", "--key", "lab", &request_id, "--job", job]);
    assert_eq!(early.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&early.stderr).contains("share"), "{}", String::from_utf8_lossy(&early.stderr));

    assert!(
        ok(run(&["committee", "serve", "--member", "1"])).contains(&format!("request {request_id}: shares posted"))
    );
    ok(run(&["share", "run", "--key", "lab", &request_id, "--job", job]));
    let result: Value =
        serde_json::from_str(&ok(run(&["share", "result", "--key", "lab", &request_id, "--json"]))).unwrap();
    assert_eq!(result["records"], 5, "{result}");
    let readable = ok(run(&["share", "result", "--key", "lab", &request_id]));
    assert!(readable.contains("cohort_stats of LOINC 8302-2 over 5 records"), "{readable}");

    // the data user who did not pay cannot read it
    ok(run(&["key", "new", "mallory"]));
    assert_eq!(run(&["share", "result", "--key", "mallory", &request_id]).status.code(), Some(1));

    let accesses: Value = serde_json::from_str(&ok(run(&["record", "accesses", &records[0], "--json"]))).unwrap();
    assert_eq!(accesses.as_array().unwrap().len(), 1);
    assert!(accesses[0]["outcome"]["Completed"].is_object(), "{accesses}");
    let owed: Value = serde_json::from_str(&ok(run(&["record", "earnings", "--key", "alice", "--json"]))).unwrap();
    assert_eq!(owed["earned_wei"], "5000000000000", "{owed}");
    assert!(owed["withdrawn_wei"].is_null(), "nothing is withdrawn without --withdraw: {owed}");
    let earnings = ok(run(&["record", "earnings", "--key", "alice", "--withdraw"]));
    assert!(earnings.contains("earned and not withdrawn: 0.000005 ETH"), "{earnings}");
    assert!(earnings.contains("withdrawn 0.000005 ETH"), "{earnings}");
    let after: Value = serde_json::from_str(&ok(run(&["record", "earnings", "--key", "alice", "--json"]))).unwrap();
    assert_eq!(after["earned_wei"], "0", "{after}");
}

#[test]
fn clinical_commands_enrol_seal_write_in_order_check_and_fetch() {
    let home = tempfile::tempdir().unwrap();
    let path = |name: &str| home.path().join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| run_in(home.path(), args);
    let refused = |output: std::process::Output| {
        assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // `key new` prints "created key 'NAME' with address 0x…"
    let new_key = |name: &str| ok(run(&["key", "new", name])).split_whitespace().last().unwrap().to_string();
    let (hospital, d1, d2, patient) = (new_key("mercy"), new_key("dr-one"), new_key("dr-two"), new_key("pat"));

    ok(run(&["hospital", "register", "--key", "mercy", "--name", "Mercy General, licence 0042"]));
    ok(run(&["hospital", "approve", &hospital]));
    for (doctor, name) in [(&d1, "Dr One"), (&d2, "Dr Two")] {
        ok(run(&["hospital", "add-doctor", "--key", "mercy", doctor, "--name", name]));
    }
    let treatment_key =
        ["hospital", "treatment-key", "--key", "mercy", "--patient", &patient, "--doctor", &d1, "--doctor", &d2];
    let tk = path("tk.json");
    // nobody can seal to the patient and doctors before they publish their X25519 keys
    let stderr = refused(run(&[&treatment_key[..], &["--out", &tk]].concat()));
    assert!(stderr.contains("has not published an X25519 key") && stderr.contains("publish-key"), "{stderr}");
    ok(run(&["patient", "publish-key", "--key", "pat"]));
    ok(run(&["doctor", "publish-key", "--key", "dr-one"]));
    ok(run(&["doctor", "publish-key", "--key", "dr-two"]));
    ok(run(&[&treatment_key[..], &["--out", &tk]].concat()));
    let warrant = path("w.json");
    ok(run(&[
        "patient",
        "warrant",
        "--key",
        "pat",
        "--treatment-key",
        &tk,
        "--doctor",
        &d1,
        "--doctor",
        &d2,
        "--out",
        &warrant,
    ]));

    // a shipped Synthea patient's record after its first visit, and after its second (an EHR
    // is a self-contained FHIR R4 document: the second record version alone refers to
    // resources of the first)
    let synthea = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut bundles: Vec<_> = std::fs::read_dir(&synthea)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    bundles.sort();
    let versions = healthchain_fhir::split_into_versions(&std::fs::read(&bundles[0]).unwrap()).unwrap();
    let mut entries = Vec::new();
    let mut visits = Vec::new();
    for version in versions.into_iter().take(2) {
        let bundle: Value = serde_json::from_slice(&version.bytes).unwrap();
        entries.extend(bundle["entry"].as_array().unwrap().iter().cloned());
        let record = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
        visits.push(serde_json::to_vec(&record).unwrap());
    }
    let (visit_1, visit_2) = (path("visit-1.json"), path("visit-2.json"));
    std::fs::write(&visit_1, &visits[0]).unwrap();
    std::fs::write(&visit_2, &visits[1]).unwrap();
    let write = |key: &str, ehr_id: &str, file: &str| {
        let args = ["doctor", "write", "--key", key, "--treatment-key", &tk, "--warrant", &warrant];
        run(&[&args[..], &["--ehr-id", ehr_id, "--hospital", &hospital, file]].concat())
    };
    let list = || ok(run(&["patient", "ehr", "list", "--key", "pat"]));

    // not FHIR R4: refused before anything is sent
    let invalid = path("invalid.json");
    std::fs::write(&invalid, br#"{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "effectiveDateTime": "2020-13-45"}"#)
        .unwrap();
    let stderr = refused(write("dr-one", "bad", &invalid));
    assert!(stderr.contains("not valid FHIR R4, nothing written"), "{stderr}");
    assert!(stderr.contains("Observation.effectiveDateTime"), "{stderr}");

    // the second doctor of the order before the first: the chain's rule refuses, nothing stored
    let stderr = refused(write("dr-two", "visit_1", &visit_2));
    assert!(stderr.contains("PreviousDoctorHasNotWritten"), "{stderr}");
    assert!(stderr.contains("must wait until every earlier doctor of the warrant has written"), "{stderr}");
    assert!(list().contains("0 EHRs"));

    // in order; ids that map to the same file name ("visit.1", "visit_1") stay apart on fetch
    let written = ok(write("dr-one", "visit.1", &visit_1));
    assert!(written.contains("EHR visit.1 version 1"), "{written}");
    ok(write("dr-two", "visit_1", &visit_2));
    let listed = list();
    assert!(listed.contains("2 EHRs") && listed.contains("visit.1") && listed.contains("visit_1"), "{listed}");

    let got = path("got.json");
    let output = run(&["patient", "ehr", "get", "--key", "pat", "visit.1", "--out", &got]);
    ok(output.clone());
    assert!(String::from_utf8_lossy(&output.stderr).contains("intact"), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(&got).unwrap(), visits[0]);
    let checked = ok(run(&["patient", "ehr", "check", "--key", "pat"]));
    assert!(checked.contains("2 EHRs, 2 intact, 0 tampered"), "{checked}");
    // the same queries as JSON
    let listed: serde_json::Value =
        serde_json::from_str(&ok(run(&["patient", "ehr", "list", "--key", "pat", "--json"]))).expect("JSON list");
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|e| e["ehr_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(ids.contains(&"visit.1") && ids.contains(&"visit_1"), "{listed}");
    let checked: serde_json::Value =
        serde_json::from_str(&ok(run(&["patient", "ehr", "check", "--key", "pat", "--json"]))).expect("JSON check");
    assert!(checked.as_array().unwrap().iter().all(|e| e["intact"] == true), "{checked}");
    let got: serde_json::Value =
        serde_json::from_str(&ok(run(&["patient", "ehr", "get", "--key", "pat", "visit.1", "--json"]))).expect("JSON");
    assert_eq!((&got["ehr_id"], &got["intact"]), (&"visit.1".into(), &true.into()), "{got}");
    assert_eq!(got["body"], serde_json::from_slice::<serde_json::Value>(&visits[0]).unwrap());

    let fetched_dir = home.path().join("fetched");
    let fetched = ok(run(&["hospital", "fetch", "--key", "mercy", &patient, "--out", fetched_dir.to_str().unwrap()]));
    assert!(fetched.contains("2 EHRs, 2 intact, 0 tampered"), "{fetched}");
    assert_eq!(std::fs::read(fetched_dir.join("visit_1.json")).unwrap(), visits[0]);
    assert_eq!(std::fs::read(fetched_dir.join("visit_1-2.json")).unwrap(), visits[1]);

    // an id that exists without --update: the store refuses and says which flag was meant
    let stderr = refused(write("dr-one", "visit.1", &visit_1));
    assert!(stderr.contains("already has an EHR 'visit.1'") && stderr.contains("pass --update"), "{stderr}");

    // a batch: stored by the enclave, one Merkle root anchored, each EHR checked by its proof
    let batch_dir = home.path().join("batch");
    std::fs::create_dir_all(&batch_dir).unwrap();
    let files: Vec<String> = ["lab-a", "lab-b", "lab-c"]
        .iter()
        .zip(visits.iter().cycle())
        .map(|(name, body)| {
            let file = batch_dir.join(format!("{name}.json"));
            std::fs::write(&file, body).unwrap();
            file.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["doctor", "write-batch", "--key", "dr-one", "--treatment-key", &tk, "--warrant", &warrant];
    args.extend(files.iter().map(String::as_str));
    let written = ok(run(&args));
    assert!(written.contains("3 EHRs") && written.contains("Merkle root"), "{written}");
    let checked = ok(run(&["patient", "ehr", "check", "--key", "pat"]));
    assert!(checked.contains("5 EHRs, 5 intact, 0 tampered") && checked.contains("Merkle proof"), "{checked}");
}
