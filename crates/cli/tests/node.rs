//! `healthchain node`, its HTTP API and portal: every endpoint on a real environment
//! (embedded chain, store, enclave process) with a Synthea record, every rejection with its
//! typed JSON error, the OpenAPI document validated as OpenAPI 3.1; the `node` command as a
//! process: it starts on a free loopback port, answers, stops on SIGTERM (sent to its PID)
//! and resumes from its directory, relays role commands and the demo on its directory
//! (restarted mid-demo, nothing lost); the portal's pages in headless Chromium.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::node::{NodeProcess, cli_with_keys};
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner};
use healthchain_ledger::testing::dev_key;
use serde_json::Value;
use tower::ServiceExt;

/// Status and JSON body of `request` on the API router.
async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let path = request.uri().to_string();
    let response = router.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: not JSON ({e})")))
}

/// `GET path` on the API router.
async fn get(router: &axum::Router, path: &str) -> (StatusCode, Value) {
    send(router, Request::get(path).body(Body::empty()).expect("request")).await
}

/// A record of `owner` made of the first `count` versions of shipped Synthea bundle `bundle`.
async fn synthea_record(owner: &Owner<'_>, bundle: usize, count: usize) -> OwnedRecord {
    let bytes = std::fs::read(&common::bundles()[bundle]).expect("bundle");
    let versions = healthchain_fhir::split_into_versions(&bytes).expect("a Synthea bundle");
    let mut record = owner.upload(&versions[0].bytes, FHIR_R4).await.expect("upload");
    for version in &versions[1..count] {
        owner.update(&mut record, &version.bytes).await.expect("update");
    }
    record
}

fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str, says: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    let message = answer.1["error"]["message"].as_str().expect("a message");
    assert!(message.contains(says), "{message}");
}

#[test]
fn the_api_serves_records_versions_accesses_and_the_catalog_and_refuses_bad_input_with_typed_errors() {
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("temporary directory");
    rt.block_on(async {
        let env = Arc::new(common::environment(home.path()).await);
        let owner = Owner::new(&env, dev_key(1)).await.expect("owner");
        let record = synthea_record(&owner, 0, 2).await;
        let now = env.connection.timestamp().await.expect("time") as u32;
        owner.set_policy(record.record_id, 7, now - 60, now + 86_400).await.expect("policy");
        let router = healthchain_node::api::router(env.clone());

        let (status, health) = get(&router, "/api/v1/health").await;
        assert_eq!(status, StatusCode::OK, "{health}");
        assert_eq!(health["status"], "ok");
        assert_eq!(health["chain_id"], env.connection.chain_id());
        assert!(health["block_number"].as_u64().expect("a block number") > 0);
        assert_eq!(health["enclave"], env.verified.report_signer.to_string());

        let id = record.record_id.to_string();
        let (status, catalog) = get(&router, "/api/v1/catalog").await;
        assert_eq!(status, StatusCode::OK, "{catalog}");
        let listed = catalog.as_array().expect("a list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["record_id"], id);
        assert_eq!(listed[0]["owner"], owner.address().to_string());
        assert_eq!(listed[0]["data_type"], FHIR_R4);
        assert_eq!(listed[0]["policy"]["charge_gwei"], 7);
        let (_, other_type) = get(&router, "/api/v1/catalog?data_type=dicom").await;
        assert_eq!(other_type, serde_json::json!([]));

        let (status, view) = get(&router, &format!("/api/v1/records/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["record_id"], id);
        assert_eq!(view["owner"], owner.address().to_string());
        assert_eq!(view["log_consistent"], true);
        assert_eq!(view["qualified"], 2);
        let listed_versions = view["versions"].as_array().expect("versions");
        assert_eq!(listed_versions.iter().map(|v| v["version"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
        assert!(listed_versions.iter().all(|v| v["qualified"] == true && v["problem"].is_null()));
        assert_eq!(listed_versions[0]["enclave"], env.verified.report_signer.to_string());
        // the id without its 0x prefix names the same record
        let (status, same) = get(&router, &format!("/api/v1/records/{}", &id[2..])).await;
        assert_eq!((status, &same["anchor"]), (StatusCode::OK, &view["anchor"]));

        let (status, accesses) = get(&router, &format!("/api/v1/records/{id}/accesses")).await;
        assert_eq!((status, accesses), (StatusCode::OK, serde_json::json!([])));

        let (status, consortium) = get(&router, "/api/v1/consortium").await;
        assert_eq!(status, StatusCode::OK, "{consortium}");
        assert_eq!(consortium["contracts"].as_array().map(Vec::len), Some(7));
        assert_eq!(consortium["enclave"]["report_signer"], env.verified.report_signer.to_string());
        assert_eq!(consortium["committee_key"].as_str().map(str::len), Some(66));
        let numbers: Vec<u64> =
            consortium["blocks"].as_array().expect("blocks").iter().filter_map(|b| b["number"].as_u64()).collect();
        assert_eq!(numbers.len(), 10, "{consortium}");
        assert!(numbers.windows(2).all(|w| w[0] == w[1] + 1), "newest first: {numbers:?}");

        // rejections: each a typed JSON error that says what was wrong
        assert_error(
            &get(&router, "/api/v1/records/0x1234").await,
            StatusCode::BAD_REQUEST,
            "invalid_record_id",
            "64 hex digits",
        );
        let not_hex = format!("/api/v1/records/{}", "zz".repeat(32));
        assert_error(&get(&router, &not_hex).await, StatusCode::BAD_REQUEST, "invalid_record_id", "not hexadecimal");
        let unknown = format!("/api/v1/records/0x{}", "ab".repeat(32));
        assert_error(&get(&router, &unknown).await, StatusCode::NOT_FOUND, "unknown_record", "is registered");
        let accesses_of_garbage = "/api/v1/records/nope/accesses";
        assert_error(&get(&router, accesses_of_garbage).await, StatusCode::BAD_REQUEST, "invalid_record_id", "'nope'");
        let twice = "/api/v1/catalog?data_type=a&data_type=b";
        assert_error(&get(&router, twice).await, StatusCode::BAD_REQUEST, "invalid_query", "data_type");
        assert_error(&get(&router, "/api/v2/records").await, StatusCode::NOT_FOUND, "not_found", "/openapi.json");
        let bad_patient = get(&router, "/api/v1/ehrs?patient=0x12").await;
        assert_error(&bad_patient, StatusCode::BAD_REQUEST, "invalid_address", "patient '0x12' is not an address");
        let bad_requester = get(&router, "/api/v1/jobs?requester=me").await;
        assert_error(&bad_requester, StatusCode::BAD_REQUEST, "invalid_address", "requester 'me'");
        // nobody asked for a job or wrote an EHR yet
        assert_eq!(get(&router, "/api/v1/jobs").await, (StatusCode::OK, Value::Array(vec![])));
        assert_eq!(get(&router, "/api/v1/ehrs").await, (StatusCode::OK, Value::Array(vec![])));

        // the document validates as OpenAPI 3.1 and describes every endpoint
        let (status, document) = get(&router, "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let spec = oas3::from_json(document.to_string()).expect("a valid OpenAPI 3.1 document");
        let paths = spec.paths.expect("paths");
        for path in [
            "/api/v1/health",
            "/api/v1/catalog",
            "/api/v1/records/{record_id}",
            "/api/v1/records/{record_id}/accesses",
            "/api/v1/consortium",
            "/api/v1/jobs",
            "/api/v1/ehrs",
        ] {
            let operation = paths.get(path).and_then(|p| p.get.as_ref()).unwrap_or_else(|| panic!("{path} described"));
            assert!(operation.responses.as_ref().is_some_and(|r| r.contains_key("200")), "{path}");
        }
        let schemas = spec.components.expect("components").schemas;
        for path in ["/api/v1/transactions", "/api/v1/enclave", "/rpc"] {
            assert!(paths.get(path).and_then(|p| p.post.as_ref()).is_some(), "{path} described");
        }
        for schema in
            ["RecordView", "VersionView", "CatalogItem", "AccessView", "JobView", "EhrEntryView", "ErrorBody", "Health"]
        {
            assert!(schemas.contains_key(schema), "schema {schema}");
        }
    });
}

/// Waits for `child` to exit, for at most `limit`; past it, kills it (by its PID) and fails.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_node_command_serves_the_api_stops_on_sigterm_and_resumes_from_its_directory() {
    let home = tempfile::tempdir().expect("temporary directory");
    let node = NodeProcess::start(home.path(), &["--json-logs"]);
    let (status, first) = node.get("/api/v1/health");
    assert_eq!(status, 200, "{first}");
    let (status, missing) = node.get("/api/v1/nothing");
    assert_eq!((status, &missing["error"]["code"]), (404, &Value::from("not_found")));
    // every request logged as one JSON object: method, path, status, duration
    let logs = node.stop();
    let requests: Vec<Value> = logs
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
        .filter(|event| event["fields"]["message"] == "request")
        .map(|event| event["fields"].clone())
        .collect();
    let seen: Vec<(&str, u64)> =
        requests.iter().map(|f| (f["path"].as_str().unwrap_or_default(), f["status"].as_u64().unwrap_or(0))).collect();
    assert_eq!(seen, [("/api/v1/health", 200), ("/api/v1/nothing", 404)]);
    assert!(requests.iter().all(|f| f["method"] == "GET" && f["micros"].is_u64()), "{requests:?}");

    // restarted on the same directory: the same chain and enclave, nothing redeployed; this
    // time serving committee seat 1 as well, which stops with the node
    let node = NodeProcess::start(home.path(), &["--committee-member", "1", "--committee-interval", "1"]);
    let (status, second) = node.get("/api/v1/health");
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["chain_id"], first["chain_id"]);
    assert_eq!(second["enclave"], first["enclave"]);
    assert!(second["block_number"].as_u64() >= first["block_number"].as_u64(), "{first} then {second}");
    // while it runs, role commands on its directory go through it (the chain is its alone)
    let catalog = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["catalog", "--json", "--home"])
        .arg(home.path())
        .output()
        .expect("the catalog command runs");
    assert!(catalog.status.success(), "{}", String::from_utf8_lossy(&catalog.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&catalog.stdout).expect("JSON"), Value::Array(vec![]));
    let logs = node.stop();
    assert!(logs.iter().any(|line| line.contains("committee member serving")), "{logs:?}");
    assert!(logs.iter().any(|line| line.contains("path=/api/v1/enclave")), "the command used the node's enclave");
    assert!(!home.path().join("node.json").exists(), "a stopped node withdraws its announcement");
}

/// `healthchain node` restarted in the middle of the demo: the demo, run on the node's
/// environment, goes through the node (its chain's JSON-RPC and its enclave relay), rides
/// out the restart (refused connections retried, sessions the new enclave process does not
/// know re-established) and finishes with every version verified; the restarted node
/// serves every record and version the demo wrote, before and after the restart.
#[test]
fn a_node_restarted_mid_demo_resumes_with_nothing_lost() {
    let home = tempfile::tempdir().expect("temporary directory");
    let node = NodeProcess::start(home.path(), &[]);
    let address = node.address.clone();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["demo", "--json", "--home"])
        .arg(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let read_all = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            stream.read_to_string(&mut text).map(|_| text)
        })
    };
    let summary = read_all(Box::new(demo.stdout.take().expect("the demo's output")));
    let demo_errors = read_all(Box::new(demo.stderr.take().expect("the demo's errors")));

    // Mid-demo: some records are on the chain, the story is not over.
    let deadline = Instant::now() + Duration::from_secs(180);
    let records_before = loop {
        let (status, catalog) = node.get("/api/v1/catalog");
        assert_eq!(status, 200, "{catalog}");
        let records = catalog.as_array().map_or(0, Vec::len);
        if records >= 3 {
            break records;
        }
        assert!(Instant::now() < deadline, "the demo wrote no records within 180 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(demo.try_wait().expect("wait").is_none(), "the demo is still running when the node stops");
    let first_logs = node.stop();
    let node = NodeProcess::start_on(home.path(), &address, &[]);

    let status = wait_bounded(&mut demo, Duration::from_secs(600), "the demo");
    let summary_text = summary.join().expect("reader").expect("the demo's output");
    let demo_errors = demo_errors.join().expect("reader").expect("the demo's errors");
    assert!(status.success(), "the demo failed across the node's restart ({status}):\n{demo_errors}");
    let summary: Value = serde_json::from_str(&summary_text).expect("the demo's JSON summary");
    let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("{key} in {summary}"));
    assert_eq!(count("records"), 20, "{summary}");
    assert_eq!(count("versions_verified"), count("versions"), "{summary}");
    assert_eq!(count("attacks_refused"), count("attacks_attempted"), "{summary}");
    assert_eq!(count("integrity_checks_passed"), count("ehrs"), "{summary}");
    assert_eq!(count("jobs_completed"), 2, "{summary}");

    // Nothing lost: the restarted node serves all 20 records and every version the demo
    // wrote; each verifies, but for the first versions the demo's last attack (a dishonest
    // storage provider) altered on purpose.
    let (status, catalog) = node.get("/api/v1/catalog");
    assert_eq!(status, 200, "{catalog}");
    let ids: Vec<String> = catalog
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["record_id"].as_str().expect("an id").to_string())
        .collect();
    assert_eq!(ids.len(), 20);
    assert!(records_before < ids.len(), "records were written after the restart too");
    let mut versions = 0;
    for id in &ids {
        let (status, record) = node.get(&format!("/api/v1/records/{id}"));
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["log_consistent"], true, "{record}");
        for version in record["versions"].as_array().expect("versions") {
            versions += 1;
            let tampered = version["version"] == 1;
            assert_eq!(version["qualified"], !tampered, "{version}");
        }
    }
    assert_eq!(versions, count("versions"));
    let second_logs = node.stop();
    for logs in [&first_logs, &second_logs] {
        assert!(logs.iter().any(|line| line.contains("path=/api/v1/enclave")), "the demo used the node's enclave");
    }

    // No secret and no patient's name in anything the node or the demo printed.
    let printed = [first_logs.join("\n"), second_logs.join("\n"), summary_text, demo_errors].join("\n");
    let mut secrets = vec![alloy_primitives::hex::encode(
        std::fs::read(home.path().join("enclave/platform.secret")).expect("secret"),
    )];
    for member in std::fs::read_dir(home.path().join("committee")).expect("the committee's shares").flatten() {
        let share = std::fs::read(member.path()).expect("share");
        secrets.push(alloy_primitives::hex::encode(&share[share.len() - 32..]));
    }
    for secret in &secrets {
        assert!(!printed.to_lowercase().contains(secret), "a secret was printed");
    }
    let names = common::bundles().iter().flat_map(|bundle| patient_names(bundle)).collect::<Vec<_>>();
    assert!(names.len() >= 40, "{names:?}");
    for name in &names {
        assert!(!printed.contains(name.as_str()), "a patient's name was printed: {name}");
    }
}

/// The given and family names of a bundle's Patient resources.
fn patient_names(bundle: &std::path::Path) -> Vec<String> {
    let bundle: Value = serde_json::from_slice(&std::fs::read(bundle).expect("bundle")).expect("JSON");
    let patients = bundle["entry"].as_array().into_iter().flatten().map(|e| &e["resource"]);
    patients
        .filter(|r| r["resourceType"] == "Patient")
        .flat_map(|p| p["name"].as_array().cloned().unwrap_or_default())
        .flat_map(|name| {
            let given = name["given"].as_array().cloned().unwrap_or_default();
            given.into_iter().chain(std::iter::once(name["family"].clone()))
        })
        .filter_map(|part| part.as_str().map(str::to_string))
        .collect()
}

/// `healthchain.toml` points the node at external services: a hardhat node as the chain
/// (contracts deployed there on first start) and s3s-fs (a real S3 server) as the store; the
/// demo, run on the node's directory, goes through the node onto both, and nothing lands in
/// the directory's embedded chain or local objects.
#[test]
fn by_configuration_a_node_runs_on_an_external_chain_and_an_s3_store() {
    let rt = common::runtime();
    let hardhat = rt.block_on(healthchain_ledger::testing::HardhatNode::start()).expect("a hardhat node");
    let s3 = healthchain_store::testing::S3Server::start().expect("the S3 test server");
    let home = tempfile::tempdir().expect("temporary directory");
    let config = format!("[chain]\nrpc = \"{}\"\n\n{}", hardhat.url(), common::s3_store_toml(&s3.config()));
    std::fs::write(home.path().join(healthchain_core::environment::CONFIG_FILE), config).expect("config");

    let node = NodeProcess::start(home.path(), &[]);
    let (status, health) = node.get("/api/v1/health");
    assert_eq!((status, &health["chain_id"]), (200, &Value::from(31337)), "{health}");
    let demo = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["demo", "--json", "--patients", "3", "--home"])
        .arg(home.path())
        .output()
        .expect("the demo runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let summary: Value = serde_json::from_slice(&demo.stdout).expect("the demo's JSON summary");
    assert_eq!(summary["records"], 3, "{summary}");
    assert_eq!(summary["versions_verified"], summary["versions"], "{summary}");
    assert_eq!(summary["attacks_refused"], summary["attacks_attempted"], "{summary}");
    assert_eq!(summary["integrity_checks_passed"], summary["ehrs"], "{summary}");

    // the records are on hardhat and in the bucket, as the node serves them
    let (status, catalog) = node.get("/api/v1/catalog");
    assert_eq!((status, catalog.as_array().map(Vec::len)), (200, Some(3)), "{catalog}");
    let block = rt.block_on(async {
        let chain = healthchain_ledger::client::Connection::http(hardhat.url()).await.expect("hardhat");
        chain.block_number().await.expect("block number")
    });
    assert!(block > 100, "the story's transactions are on hardhat ({block} blocks)");
    assert!(!home.path().join("chain").exists() && !home.path().join("objects").exists());
    let logs = node.stop();
    assert!(logs.iter().any(|line| line.contains("path=/api/v1/enclave")), "the demo used the node's enclave");
    assert!(!logs.iter().any(|line| line.contains("path=/rpc")), "the demo used hardhat directly");
    hardhat.stop();
}

/// The crash harness: a scripted workload through the node — record imports, paid jobs
/// over them (policy, request with escrow, the node's committee seat releasing the keys,
/// the enclave's run settling the request), and EHR writes (a doctor under a patient's
/// warrant: hash on the chain, EHR into the enclave's SQLCipher store), one CLI process
/// each — while the node is killed with SIGKILL, or its
/// enclave process alone, at random points, a bounded number of times; after each node
/// crash it is restarted on the same directory (and its enclave checks the SQLCipher store
/// whole as it opens it). Then the invariants: every acknowledged import is there with every
/// version verified; no update is half-applied (every version the chain logs has its
/// objects in the store and qualifies, for the imports that were cut short too); every
/// acknowledged EHR is in the store and matches the chain; escrowed value is conserved
/// (AccessControl holds exactly the pending requests' escrow plus the owner's unwithdrawn
/// earnings); the chain's blocks still hash-chain.
#[test]
fn the_node_survives_sigkill_at_random_points_with_no_acknowledged_write_lost() {
    use rand::RngExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    const CRASHES: usize = 10;
    let home = tempfile::tempdir().expect("temporary directory");
    let home_arg = home.path().to_str().expect("a UTF-8 path").to_string();
    let keys = home.path().join("keys");
    let cli = cli_with_keys(keys);
    let run = |args: Vec<String>| cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // `key new` prints "created key 'NAME' with address 0x…"
    let address_of =
        |name: &str| ok(cli(&["key", "new", name])).split_whitespace().last().expect("address").to_string();
    let (hospital, doctor, patient) = (address_of("mercy"), address_of("doc"), address_of("pat"));
    address_of("owner");
    address_of("lab");
    let serving = ["--committee-member", "1", "--committee-interval", "1"];
    let mut node = NodeProcess::start(home.path(), &serving);
    let address = node.address.clone();

    // A hospital, its doctor, a patient's treatment key and warrant, set up through the node.
    let with_home = |args: &[&str]| -> Vec<String> {
        args.iter().copied().chain(["--home", home_arg.as_str()]).map(str::to_string).collect()
    };
    ok(run(with_home(&["hospital", "register", "--key", "mercy", "--name", "Mercy General"])));
    ok(run(with_home(&["hospital", "approve", &hospital])));
    ok(run(with_home(&["hospital", "add-doctor", "--key", "mercy", &doctor, "--name", "Dr Doc"])));
    ok(run(with_home(&["patient", "publish-key", "--key", "pat"])));
    ok(run(with_home(&["doctor", "publish-key", "--key", "doc"])));
    let file = |name: &str| home.path().join(name).to_str().expect("path").to_string();
    let (treatment_key, warrant, ehr, job) = (file("tk.json"), file("w.json"), file("ehr.json"), file("job.json"));
    std::fs::write(&job, br#"{"job": "cohort_stats", "loinc": "8302-2", "min_cohort": 1}"#).expect("the job file");
    let assign = ["hospital", "treatment-key", "--key", "mercy", "--patient", &patient, "--doctor", &doctor];
    ok(run(with_home(&[&assign[..], &["--out", &treatment_key]].concat())));
    let sign = ["patient", "warrant", "--key", "pat", "--treatment-key", &treatment_key, "--doctor", &doctor];
    ok(run(with_home(&[&sign[..], &["--out", &warrant]].concat())));
    let first_visit = healthchain_fhir::split_into_versions(&std::fs::read(&common::bundles()[0]).expect("bundle"))
        .expect("a Synthea bundle")
        .remove(0);
    std::fs::write(&ehr, &first_visit.bytes).expect("the EHR file");

    // The workload: over and over, import a shipped patient as a record, then write an EHR
    // under the warrant; an operation is acknowledged when its command succeeds.
    let stop = Arc::new(AtomicBool::new(false));
    // completed rounds: an acknowledged import, its job requested and an acknowledged EHR
    let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workload = {
        let (stop, rounds, cli) = (stop.clone(), rounds.clone(), cli.clone());
        let (home, hospital, treatment_key, warrant, ehr, job) =
            (home_arg.clone(), hospital.clone(), treatment_key.clone(), warrant.clone(), ehr.clone(), job.clone());
        std::thread::spawn(move || {
            let bundles = common::bundles();
            let mut imports: Vec<(usize, Option<String>)> = Vec::new();
            let mut ehrs: Vec<(String, bool)> = Vec::new();
            for (step, (n, bundle)) in bundles.iter().enumerate().cycle().take(200).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let output =
                    cli(&["record", "import", "--key", "owner", "--home", &home, bundle.to_str().expect("path")]);
                let record = output.status.success().then(|| {
                    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                    stdout.lines().find_map(|l| l.strip_prefix("record   ")).expect("the record id").trim().to_string()
                });
                // a paid job over the new record; how far it gets does not matter, the escrow must add up
                let mut requested = false;
                if let Some(record) = &record {
                    let policy = [
                        "record",
                        "policy",
                        "--key",
                        "owner",
                        record,
                        "--charge-gwei",
                        "1000",
                        "--start",
                        "2000-01-01",
                    ];
                    let policy: Vec<&str> = policy.iter().copied().chain(["--home", home.as_str()]).collect();
                    if cli(&policy).status.success() {
                        let request =
                            ["share", "request", "--key", "lab", "--records", record, "--job", &job, "--home", &home];
                        let answer = cli(&request);
                        let stdout = String::from_utf8_lossy(&answer.stdout).into_owned();
                        if let Some(id) =
                            stdout.split_whitespace().nth(1).map(|id| id.trim_end_matches(':').to_string())
                        {
                            requested = true;
                            std::thread::sleep(Duration::from_millis(1200)); // the committee seat polls every second
                            cli(&["share", "run", "--key", "lab", &id, "--job", &job, "--home", &home]);
                        }
                    }
                }
                imports.push((n, record));
                let ehr_id = format!("ehr-{step}");
                let write = [
                    "doctor",
                    "write",
                    "--key",
                    "doc",
                    "--treatment-key",
                    &treatment_key,
                    "--warrant",
                    &warrant,
                    "--ehr-id",
                    &ehr_id,
                    "--hospital",
                    &hospital,
                    "--home",
                    &home,
                    &ehr,
                ];
                let written = cli(&write).status.success();
                ehrs.push((ehr_id, written));
                if requested && written {
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
                if imports.last().is_some_and(|(_, r)| r.is_none()) || !written {
                    // refused while the node was down: try again shortly
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            (imports, ehrs)
        })
    };

    let mut rng = rand::rng();
    let (mut node_crashes, mut enclave_crashes) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(300);
    for crash in 0..CRASHES {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        if crash % 3 == 2 {
            if let Some(pid) = node.enclave_pid() {
                assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill").success());
                enclave_crashes += 1;
            }
        } else {
            node.crash();
            node_crashes += 1;
            node = NodeProcess::start_on(home.path(), &address, &serving);
        }
        assert!(Instant::now() < deadline, "the harness ran over its time bound");
    }
    // then calm, until one whole round more has been acknowledged (bounded)
    let rounds_at_last_crash = rounds.load(Ordering::Relaxed);
    let calm = Instant::now() + Duration::from_secs(120);
    while rounds.load(Ordering::Relaxed) == rounds_at_last_crash {
        assert!(Instant::now() < calm, "no round was acknowledged within 120 s of the last crash");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let (outcomes, ehrs) = workload.join().expect("the workload thread");
    let acknowledged: Vec<(usize, String)> =
        outcomes.iter().filter_map(|(n, record)| record.clone().map(|r| (*n, r))).collect();
    let ehrs_acknowledged: Vec<&String> = ehrs.iter().filter(|(_, written)| *written).map(|(id, _)| id).collect();
    eprintln!(
        "crash harness: {node_crashes} node kills, {enclave_crashes} enclave kills; {} imports, {} acknowledged; {} EHR writes, {} acknowledged",
        outcomes.len(),
        acknowledged.len(),
        ehrs.len(),
        ehrs_acknowledged.len()
    );
    assert!(node_crashes >= 6 && !acknowledged.is_empty(), "{node_crashes} kills, {} acknowledged", acknowledged.len());
    assert!(!ehrs_acknowledged.is_empty(), "no EHR write was acknowledged");

    // every acknowledged EHR is in the (integrity-checked) store and matches the chain
    let checked = cli(&["patient", "ehr", "check", "--key", "pat", "--json", "--home", &home_arg]);
    let checked: Value = serde_json::from_str(&ok(checked)).expect("JSON");
    let stored: Vec<&str> =
        checked.as_array().expect("a list").iter().map(|e| e["ehr_id"].as_str().expect("id")).collect();
    for id in &ehrs_acknowledged {
        assert!(stored.contains(&id.as_str()), "acknowledged EHR {id} is missing");
    }
    assert!(checked.as_array().expect("a list").iter().all(|e| e["intact"] == true), "{checked}");

    // escrow is conserved: what AccessControl holds is what it owes
    let (_, jobs) = node.get("/api/v1/jobs");
    let jobs = jobs.as_array().expect("a list").clone();
    let wei = |value: &Value| value.as_str().expect("a decimal").parse::<u128>().expect("wei");
    let pending: u128 = jobs.iter().filter(|j| j["outcome"] == "pending").map(|j| wei(&j["price_wei"])).sum();
    let earned: Value =
        serde_json::from_str(&ok(cli(&["record", "earnings", "--key", "owner", "--json", "--home", &home_arg])))
            .expect("JSON");
    let deployment: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("deployment.json")).expect("deployment")).expect("JSON");
    let escrow = deployment["shared"]["access_control"].as_str().expect("AccessControl's address");
    let request = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["{escrow}","latest"]}}"#);
    let (_, balance) = node.post("/rpc", &request);
    let balance =
        u128::from_str_radix(balance["result"].as_str().expect("a balance").trim_start_matches("0x"), 16).expect("hex");
    let completed = jobs.iter().filter(|j| j["outcome"] == "completed").count();
    eprintln!("crash harness: {} jobs ({completed} completed); escrow {balance} wei", jobs.len());
    assert!(!jobs.is_empty(), "no job was requested");
    assert_eq!(balance, pending + wei(&earned["earned_wei"]), "{} jobs, {completed} completed", jobs.len());

    // every acknowledged import is there, whole
    let bundles = common::bundles();
    for (n, record) in &acknowledged {
        let versions = healthchain_fhir::split_into_versions(&std::fs::read(&bundles[*n]).expect("bundle"))
            .expect("a Synthea bundle")
            .len();
        let (status, view) = node.get(&format!("/api/v1/records/{record}"));
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["versions"].as_array().map(Vec::len), Some(versions), "{view}");
        assert_eq!(view["qualified"], versions, "acknowledged record {record}: {view}");
    }
    // nothing half-applied: every version any record logged qualifies
    let (status, catalog) = node.get("/api/v1/catalog");
    assert_eq!(status, 200, "{catalog}");
    for item in catalog.as_array().expect("a list") {
        let (status, view) = node.get(&format!("/api/v1/records/{}", item["record_id"].as_str().expect("id")));
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["log_consistent"], true, "{view}");
        for version in view["versions"].as_array().expect("versions") {
            if version["block"].is_u64() {
                assert_eq!(version["qualified"], true, "a logged version is not whole: {version}");
            }
        }
    }
    // the blocks still hash-chain
    let (_, head) = node.post("/rpc", r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#);
    let head =
        u64::from_str_radix(head["result"].as_str().expect("a number").trim_start_matches("0x"), 16).expect("hex");
    let mut parent: Option<String> = None;
    for number in 0..=head {
        let request =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["{number:#x}",false]}}"#);
        let (_, block) = node.post("/rpc", &request);
        let block = &block["result"];
        if let Some(parent) = &parent {
            assert_eq!(block["parentHash"].as_str(), Some(parent.as_str()), "block {number}");
        }
        parent = block["hash"].as_str().map(str::to_string);
    }
    node.stop();
}

/// A fault: the chain a node follows goes away and comes back. Node B follows node A's
/// chain (`[chain] rpc` is A's `/rpc`, with A's contracts); A is stopped and restarted
/// while a record import runs through B; the import completes once A is back (the CLI's
/// and B's chain clients, and B's enclave's ledger relay, send reads again whether their
/// connection was refused or cut off mid-request, and settle a transaction cut off
/// mid-request by looking it up: `healthchain_ledger::retry`), and the record is whole.
/// The client side alone, with the chain killed under load, is
/// `crates/ledger/tests/chain_outage.rs`.
#[test]
fn a_node_rides_out_its_external_chain_going_away_and_coming_back() {
    let chain_home = tempfile::tempdir().expect("temporary directory");
    let chain_node = NodeProcess::start(chain_home.path(), &[]);
    let chain_address = chain_node.address.clone();
    let home = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(chain_home.path().join("deployment.json"), home.path().join("deployment.json"))
        .expect("A's contracts");
    let config = format!("[chain]\nrpc = \"http://{chain_address}/rpc\"\n");
    std::fs::write(home.path().join(healthchain_core::environment::CONFIG_FILE), config).expect("config");
    let node = NodeProcess::start(home.path(), &[]);

    let keys = home.path().join("keys");
    let cli = cli_with_keys(keys);
    assert!(cli(&["key", "new", "owner"]).status.success());
    // the longest shipped history, so the import is still running when the chain goes away
    let (versions, bundle) = common::bundles()
        .into_iter()
        .map(|b| (healthchain_fhir::split_into_versions(&std::fs::read(&b).expect("bundle")).expect("bundle").len(), b))
        .max()
        .expect("shipped bundles");
    let import = {
        let (home, bundle, cli) = (home.path().to_str().expect("path").to_string(), bundle.clone(), cli.clone());
        std::thread::spawn(move || {
            cli(&["record", "import", "--key", "owner", "--home", &home, bundle.to_str().expect("path")])
        })
    };
    // the chain goes away mid-import, for a second and a half
    let deadline = Instant::now() + Duration::from_secs(120);
    while node.get("/api/v1/catalog").1.as_array().is_none_or(Vec::is_empty) {
        assert!(Instant::now() < deadline, "the import registered nothing within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!import.is_finished(), "the import is still running when the chain goes away");
    chain_node.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let chain_node = NodeProcess::start_on(chain_home.path(), &chain_address, &[]);

    let imported = import.join().expect("the import thread");
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let stdout = String::from_utf8_lossy(&imported.stdout).into_owned();
    let record = stdout.lines().find_map(|l| l.strip_prefix("record   ")).expect("the record id").trim().to_string();
    let (status, view) = node.get(&format!("/api/v1/records/{record}"));
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["qualified"].as_u64(), view["versions"].as_array().map(Vec::len)),
        (Some(versions as u64), Some(versions))
    );
    node.stop();
    chain_node.stop();
}

/// The portal in headless Chromium (`tests/browser/portal.mjs`, playwright-core from npm,
/// Debian's chromium; `.ci/run` installs both): a node over the environment the demo left
/// (three Synthea patients, their records, a paid job, EHRs written under warrants, one
/// version of each record altered by the demo's dishonest storage provider); the pages load
/// and show that data, and screenshots land in the target directory (`tmp/portal/`), kept
/// as CI artifacts.
#[test]
fn the_portal_shows_the_demo_data_in_a_headless_browser() {
    let home = tempfile::tempdir().expect("temporary directory");
    let demo = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["demo", "--json", "--patients", "3", "--home"])
        .arg(home.path())
        .output()
        .expect("the demo runs");
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));

    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    healthchain_ledger::testing::ensure_node_modules(root).expect("the npm packages (playwright-core)");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium: apt-get install chromium (.ci/run does)"
    );
    let node = NodeProcess::start(home.path(), &[]);
    let (status, catalog) = node.get("/api/v1/catalog");
    assert_eq!(status, 200, "{catalog}");
    let first = &catalog[0];
    let record_id = first["record_id"].as_str().expect("a record id").to_string();
    let (status, record) = node.get(&format!("/api/v1/records/{record_id}"));
    assert_eq!(status, 200, "{record}");
    let versions = record["versions"].as_array().expect("versions").len();
    let script = root.join("tests/browser/portal.mjs");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal");
    let mut browser = Command::new("node")
        .arg(&script)
        .arg(format!("http://{}", node.address))
        .arg(&record_id)
        .arg(versions.to_string())
        .arg(first["owner"].as_str().expect("an owner"))
        .arg(&out)
        .spawn()
        .expect("node (Node.js) runs the browser script");
    let status = wait_bounded(&mut browser, Duration::from_secs(180), "the browser test");
    node.stop();
    assert!(status.success(), "the portal checks failed ({status}); see the output above");
    for screenshot in ["home.png", "record.png", "patient.png", "jobs.png", "consortium.png"] {
        let size = std::fs::metadata(out.join(screenshot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{screenshot}: {size} bytes");
    }
}

/// A transfer from development account 17 (unused by the environment), signed here, as
/// a client would, for `chain_id`.
fn signed_transfer(chain_id: u64, nonce: u64) -> String {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{Address, TxKind, U256};
    use alloy_signer::SignerSync;
    let signer = healthchain_chain::dev_signer(17).expect("a development key");
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1_000),
        access_list: Default::default(),
        input: Default::default(),
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
    alloy_primitives::hex::encode_prefixed(TxEnvelope::from(tx.into_signed(signature)).encoded_2718())
}

/// `POST path` with `body` as JSON on the API router.
async fn post(router: &axum::Router, path: &str, body: String) -> (StatusCode, Value) {
    let request = Request::post(path).header("content-type", "application/json").body(Body::from(body));
    send(router, request.expect("request")).await
}

#[test]
fn the_api_relays_client_signed_transactions_and_refuses_bad_ones_with_typed_errors() {
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("temporary directory");
    rt.block_on(async {
        let env = Arc::new(common::environment(home.path()).await);
        let router = healthchain_node::api::router(env.clone());
        let chain_id = env.connection.chain_id();
        let relay = |raw: &str| serde_json::json!({ "raw": raw }).to_string();
        let transfer = signed_transfer(chain_id, 0);

        let (status, outcome) = post(&router, "/api/v1/transactions", relay(&transfer)).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_eq!(outcome["success"], true);
        assert_eq!(outcome["gas_used"], 21_000);
        assert!(outcome["block_number"].as_u64().is_some_and(|b| b > 0), "{outcome}");

        // the same transaction again (its nonce is used), one for another chain: refused by the chain
        let (status, again) = post(&router, "/api/v1/transactions", relay(&transfer)).await;
        assert_error(&(status, again), StatusCode::UNPROCESSABLE_ENTITY, "rejected", "the chain refused");
        let elsewhere = signed_transfer(chain_id + 1, 1);
        let answer = post(&router, "/api/v1/transactions", relay(&elsewhere)).await;
        assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "rejected", "the chain refused");

        // malformed requests never reach the chain
        let not_hex = post(&router, "/api/v1/transactions", relay("0xzz")).await;
        assert_error(&not_hex, StatusCode::BAD_REQUEST, "invalid_transaction", "not hex");
        let empty = post(&router, "/api/v1/transactions", relay("0x")).await;
        assert_error(&empty, StatusCode::BAD_REQUEST, "invalid_transaction", "empty");
        let not_json = post(&router, "/api/v1/transactions", "{\"raw\": ".into()).await;
        assert_error(&not_json, StatusCode::BAD_REQUEST, "invalid_json", "");
        let wrong_shape = post(&router, "/api/v1/transactions", "{\"transaction\": \"0x00\"}".into()).await;
        assert_error(&wrong_shape, StatusCode::BAD_REQUEST, "invalid_json", "raw");
        let huge = relay(&format!("0x{}", "00".repeat(healthchain_node::api::MAX_BODY)));
        let answer = post(&router, "/api/v1/transactions", huge).await;
        assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "limit");
        // nothing of the refused ones landed: the account sent exactly one transaction
        let sender = healthchain_chain::dev_signer(17).expect("a development key").address();
        let sent = alloy_provider::Provider::get_transaction_count(env.connection.provider(), sender).await;
        assert_eq!(sent.expect("the account's nonce"), 1);
    });
}

/// A client over its budget gets `429 rate_limited` with `Retry-After`, and is served
/// again once the budget refills; the refused request is not served.
#[test]
fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("temporary directory");
    rt.block_on(async {
        let env = Arc::new(common::environment(home.path()).await);
        let limit = healthchain_node::limits::RateLimit::per_client(std::num::NonZeroU32::new(3).expect("3"));
        let app = healthchain_node::app(env, &limit);
        for _ in 0..3 {
            assert_eq!(get(&app, "/api/v1/health").await.0, StatusCode::OK);
        }
        let request = Request::get("/api/v1/health").body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("the router answers");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("more than 3 requests a second")));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(get(&app, "/api/v1/health").await.0, StatusCode::OK, "served again after a second");
    });
}

/// `POST path` with raw `body` on the API router: status and body bytes.
async fn post_bytes(router: &axum::Router, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post(path).header("content-type", content_type).body(Body::from(body)).expect("request");
    let response = router.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    (status, axum::body::to_bytes(response.into_body(), 1 << 24).await.expect("body").to_vec())
}

#[test]
fn the_api_relays_enclave_calls_and_json_rpc_and_refuses_bad_ones_with_typed_errors() {
    use healthchain_enclave::protocol::{Ecall, EcallResult, RefusalCode, decode_relayed, encode_relayed};
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("temporary directory");
    rt.block_on(async {
        let env = Arc::new(common::environment(home.path()).await);
        let router = healthchain_node::api::router(env.clone());
        let ecall = |ecall: Ecall, body: &[u8]| encode_relayed(&ecall, body);
        let octets = "application/octet-stream";
        let relayed = |(status, bytes): (StatusCode, Vec<u8>)| {
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
            let (result, body) = decode_relayed::<EcallResult>(&bytes).expect("a relayed answer");
            (result, body.to_vec())
        };
        let json_error = |(status, bytes): (StatusCode, Vec<u8>)| {
            let body: Value = serde_json::from_slice(&bytes).expect("a JSON error");
            (status, body)
        };

        // the enclave's answers come back as they are, its refusals included
        let pong = relayed(post_bytes(&router, "/api/v1/enclave", octets, ecall(Ecall::Ping, &[])).await);
        assert_eq!(pong.0, EcallResult::Pong);
        let evidence = relayed(post_bytes(&router, "/api/v1/enclave", octets, ecall(Ecall::Evidence, &[])).await);
        assert_eq!(evidence.0, EcallResult::Evidence(env.enclave.evidence()));
        let record = ecall(Ecall::SessionRecord { session: 7 }, b"not a session record");
        match relayed(post_bytes(&router, "/api/v1/enclave", octets, record).await).0 {
            EcallResult::Refused(refusal) => assert_eq!(refusal.code, RefusalCode::UnknownSession),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // a body over the route's own limit (larger than the API's 256 KiB, within 64 MiB) passes
        let bulk = ecall(Ecall::Transfer, &vec![7; 1 << 20]);
        assert_eq!(
            relayed(post_bytes(&router, "/api/v1/enclave", octets, bulk).await).0,
            EcallResult::Transferred { bytes: 1 << 20 }
        );

        // malformed or oversized ecalls never reach the enclave
        let garbage = json_error(post_bytes(&router, "/api/v1/enclave", octets, vec![1, 2]).await);
        assert_error(&garbage, StatusCode::BAD_REQUEST, "invalid_ecall", "not a relayed ecall");
        let unknown = json_error(post_bytes(&router, "/api/v1/enclave", octets, vec![1, 0, 0, 0, 0xee]).await);
        assert_error(&unknown, StatusCode::BAD_REQUEST, "invalid_ecall", "header");
        let huge = ecall(Ecall::Transfer, &vec![0; healthchain_node::relay::MAX_ECALL_BODY]);
        let huge = json_error(post_bytes(&router, "/api/v1/enclave", octets, huge).await);
        assert_error(&huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "limit");

        // the chain's JSON-RPC, as the chain answers it
        let chain_id = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
        let (status, answer) = post_bytes(&router, "/rpc", "application/json", chain_id.into()).await;
        let answer: Value = serde_json::from_slice(&answer).expect("JSON-RPC");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["result"], format!("{:#x}", env.connection.chain_id()));
        let (status, answer) = post_bytes(&router, "/rpc", "application/json", b"{not json".to_vec()).await;
        let answer: Value = serde_json::from_slice(&answer).expect("JSON-RPC");
        assert_eq!(status, StatusCode::OK);
        assert!(answer["error"]["code"].is_i64(), "{answer}");
    });
}

#[test]
fn the_nodes_committee_service_posts_shares_for_granted_requests_so_the_job_runs() {
    use healthchain_core::share::DataUser;
    use healthchain_node::committee::{CommitteeServiceError, serve_committee};
    const JOB: &[u8] = br#"{"job": "cohort_stats", "loinc": "8302-2", "min_cohort": 1}"#;
    let rt = common::runtime();
    let home = tempfile::tempdir().expect("temporary directory");
    rt.block_on(async {
        let env = Arc::new(common::environment(home.path()).await);
        let owner = Owner::new(&env, dev_key(1)).await.expect("owner");
        let record = synthea_record(&owner, 2, 1).await;
        let now = env.connection.timestamp().await.expect("time") as u32;
        owner.set_policy(record.record_id, 5, now - 60, now + 86_400).await.expect("policy");
        let user = DataUser::new(&env, dev_key(2)).await.expect("data user");
        let spec = healthchain_jobs::JobSpec::parse(JOB).expect("job");
        let request = user.request(&[record.record_id], &spec).await.expect("request");

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = tokio::spawn(serve_committee(env.clone(), 0, Duration::from_millis(100), 0, async move {
            let _ = stopped.await;
        }));
        // the service notices the grant and posts member 1's shares (bounded wait)
        let deadline = Instant::now() + Duration::from_secs(60);
        let id = alloy_primitives::U256::from(request);
        while user.ledger().keys().grant_of(id).await.expect("grant").submitted == 0 {
            assert!(Instant::now() < deadline, "the committee service posted no shares within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accepted = user.run(request, JOB).await.expect("the enclave runs the job with the posted shares");
        assert_eq!(accepted.records.len(), 1);
        // the API's jobs: this one, completed, its price the record's charge (5 gwei)
        let router = healthchain_node::api::router(env.clone());
        let mine = format!("/api/v1/jobs?requester={}", dev_key(2).address());
        let (status, jobs) = get(&router, &mine).await;
        assert_eq!(status, StatusCode::OK, "{jobs}");
        assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
        assert_eq!(
            (&jobs[0]["outcome"], &jobs[0]["price_wei"]),
            (&Value::from("completed"), &Value::from("5000000000"))
        );
        assert_eq!(jobs[0]["result_hash"], accepted.result_hash.to_string());
        let others = format!("/api/v1/jobs?requester={}", dev_key(3).address());
        assert_eq!(get(&router, &others).await, (StatusCode::OK, Value::Array(vec![])));
        let _ = stop.send(());
        service.await.expect("the service task").expect("the service ran and stopped");

        // a seat that was not dealt into the environment: refused at start, saying which
        let missing = serve_committee(env.clone(), 5, Duration::from_millis(100), 0, async {}).await;
        assert!(matches!(missing, Err(CommitteeServiceError::Share { member: 6, .. })), "{missing:?}");
    });
}
