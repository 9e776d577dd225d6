//! A consortium on loopback (issue 11): one external chain (a hardhat@2 node standing in for
//! Besu/QBFT), one S3 service (s3s-fs), three `healthchain node` processes — hospital A,
//! hospital B, a research institute — each with its own enclave instance (A's approved, B's
//! and C's joined to it by attested key provisioning) and one seat of a 2-of-3
//! key-authorization committee. Each node's `healthchain.toml` is `docs/deploy/healthchain.toml`
//! with the servers filled in. The story runs across them: owners upload records through
//! the hospitals, a data user at the institute pays for a job over all of them, two of the
//! three seats release the keys, the institute's enclave computes; at hospital A a doctor
//! writes a patient's EHR under her warrant (seed 001). Hospital B's node is
//! killed (SIGKILL) after acknowledging its upload and hospital A's enclave instance mid-run;
//! at the end every record, uploaded through any node, verifies in full through every node,
//! and every process the test started is stopped by its PID.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::node::{NodeProcess, cli_with_keys};
use healthchain_ledger::testing::{HardhatNode, dev_key};
use healthchain_store::testing::S3Server;

/// The configuration template the deployment guide documents.
fn config_template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy/healthchain.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template filled in for committee seat `member`.
fn member_config(template: &str, rpc: &str, s3: &healthchain_store::S3Config, member: usize) -> String {
    let config = template
        .replace("{rpc}", rpc)
        .replace("{bucket}", &s3.bucket)
        .replace("{region}", &s3.region)
        .replace("{endpoint}", s3.endpoint.as_deref().expect("a loopback endpoint"))
        .replace("{access_key_id}", &s3.access_key_id)
        .replace("{secret_access_key}", &s3.secret_access_key)
        .replace("{allow_http}", &s3.allow_http.to_string())
        .replace("{member}", &member.to_string());
    assert!(!config.contains("= \"{") && !config.contains("= {"), "every placeholder is filled:\n{config}");
    config
}

/// Succeeds or fails the test with what the command said.
fn ok(args: &[&str], output: Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "healthchain {args:?} failed: {stdout}\n{stderr}");
    stdout.into_owned()
}

/// Runs `healthchain args` until it succeeds (a call cut by a crash is retried, as a user
/// would), for at most `limit`; returns its output.
fn until_ok(cli: &impl Fn(&[&str]) -> Output, args: &[&str], limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let output = cli(args);
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "healthchain {args:?} did not succeed within {limit:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The record id `record import` printed.
fn record_id(stdout: &str) -> String {
    stdout.lines().find_map(|l| l.strip_prefix("record   ")).expect("the record id").trim().to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn three_nodes_on_one_chain_and_one_bucket_share_records_through_replicated_enclaves_and_survive_crashes() {
    let rt = common::runtime();
    let hardhat = rt.block_on(HardhatNode::start()).expect("a hardhat node");
    let s3 = S3Server::start().expect("the S3 test server");
    let root = tempfile::tempdir().expect("temporary directory");
    let cli = cli_with_keys(root.path().join("keys"));
    let homes: Vec<PathBuf> =
        ["hospital-a", "hospital-b", "institute"].iter().map(|name| root.path().join(name)).collect();
    let home = |i: usize| path(&homes[i]).to_string();

    // The operator deploys the contracts once; every member's node loads the addresses.
    let admin_secret = alloy_primitives::hex::encode(dev_key(0).to_bytes());
    let imported = Command::new(env!("CARGO_BIN_EXE_healthchain"))
        .args(["key", "import", "admin", "--keystore", path(&root.path().join("keys"))])
        .env("HEALTHCHAIN_PASSPHRASE", "s3cret")
        .env("HEALTHCHAIN_SECRET_KEY", &admin_secret)
        .output()
        .expect("the CLI runs");
    ok(&["key", "import"], imported);
    let deployment = root.path().join("deployment.json");
    let deploy = ["admin", "deploy", "--rpc", hardhat.url(), "--key", "admin", "--out", path(&deployment)];
    ok(&deploy, cli(&deploy));
    let template = config_template();
    for (i, dir) in homes.iter().enumerate() {
        std::fs::create_dir_all(dir).expect("a node directory");
        std::fs::copy(&deployment, dir.join("deployment.json")).expect("the deployment");
        let config = member_config(&template, hardhat.url(), &s3.config(), i + 1);
        std::fs::write(dir.join(healthchain_core::environment::CONFIG_FILE), config).expect("the configuration");
    }

    // Hospital B's and the institute's enclave instances (their own platforms) join hospital
    // A's, which the first use of A's environment approves; that also deals the committee,
    // whose other shares the operator hands to the members' nodes.
    for joiner in [1, 2] {
        let instance = homes[joiner].join("enclave");
        let platform = ["admin", "enclave", "platform", "--state-dir", path(&instance)];
        let platform = ok(&platform, cli(&platform)).trim().to_string();
        let join = [
            "admin",
            "enclave",
            "join",
            "--home",
            &home(0),
            "--instance-dir",
            path(&instance),
            "--platform",
            &platform,
            "--accept-simulated",
        ];
        let said = ok(&join, cli(&join));
        assert!(said.contains("recorded on the Directory"), "{said}");
    }
    let replicas = ["admin", "enclave", "replicas", "--home", &home(0)];
    assert_eq!(ok(&replicas, cli(&replicas)).lines().count(), 2, "two joins on the chain");
    for member in [2, 3] {
        let share = format!("member-{member}.share");
        let dealt = homes[0].join("committee").join(&share);
        std::fs::create_dir_all(homes[member - 1].join("committee")).expect("a committee directory");
        std::fs::copy(&dealt, homes[member - 1].join("committee").join(&share)).expect("the share");
        std::fs::remove_file(&dealt).expect("hospital A keeps only its own share");
    }

    let mut nodes: Vec<Option<NodeProcess>> = homes.iter().map(|h| Some(NodeProcess::start(h, &[]))).collect();
    // All three serve as the one approved enclave.
    let signers: Vec<String> = nodes
        .iter()
        .flatten()
        .map(|node| {
            let (status, health) = node.get("/api/v1/health");
            assert_eq!(status, 200, "{health}");
            health["enclave"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert!(!signers[0].is_empty() && signers.iter().all(|s| s == &signers[0]), "{signers:?}");

    // Owners upload through the hospitals; each upload is acknowledged when its command succeeds.
    let bundles = common::bundles();
    let limit = Duration::from_secs(180);
    let owners = ["alice", "bob", "carol"];
    for owner in owners.iter().chain(&["lab"]) {
        ok(&["key", "new"], cli(&["key", "new", owner]));
    }
    let import = |owner: &str, at: usize, bundle: &Path| -> String {
        let args = ["record", "import", "--key", owner, "--home", &home(at), path(bundle)];
        record_id(&until_ok(&cli, &args, limit))
    };
    let policy = |owner: &str, at: usize, record: &str| {
        let args = ["record", "policy", "--key", owner, record, "--charge-gwei", "1000", "--start", "2000-01-01"];
        let at = home(at);
        let args: Vec<&str> = args.iter().copied().chain(["--home", at.as_str()]).collect();
        until_ok(&cli, &args, limit);
    };
    let alice = import("alice", 0, &bundles[0]);
    policy("alice", 0, &alice);
    let bob = import("bob", 1, &bundles[1]);
    policy("bob", 1, &bob);

    // Seed 001 at hospital A: a doctor it enrolled writes a patient's EHR under her warrant
    // (its hash on the chain, the EHR in A's enclave instance's SQLCipher store).
    let at_a = |args: &[&str]| -> String {
        let a = home(0);
        let args: Vec<&str> = args.iter().copied().chain(["--home", a.as_str()]).collect();
        until_ok(&cli, &args, limit)
    };
    let address_of = |name: &str| {
        ok(&["key", "new"], cli(&["key", "new", name])).split_whitespace().last().expect("address").to_string()
    };
    let (hospital, doctor, patient) = (address_of("mercy"), address_of("doc"), address_of("pat"));
    at_a(&["hospital", "register", "--key", "mercy", "--name", "Mercy General"]);
    at_a(&["hospital", "approve", &hospital]);
    at_a(&["hospital", "add-doctor", "--key", "mercy", &doctor, "--name", "Dr Doc"]);
    at_a(&["patient", "publish-key", "--key", "pat"]);
    at_a(&["doctor", "publish-key", "--key", "doc"]);
    let file = |name: &str| path(&root.path().join(name)).to_string();
    let (treatment_key, warrant, ehr) = (file("tk.json"), file("warrant.json"), file("ehr.json"));
    at_a(&[
        "hospital",
        "treatment-key",
        "--key",
        "mercy",
        "--patient",
        &patient,
        "--doctor",
        &doctor,
        "--out",
        &treatment_key,
    ]);
    at_a(&[
        "patient",
        "warrant",
        "--key",
        "pat",
        "--treatment-key",
        &treatment_key,
        "--doctor",
        &doctor,
        "--out",
        &warrant,
    ]);
    let visit = healthchain_fhir::split_into_versions(&std::fs::read(&bundles[3]).expect("a bundle"))
        .expect("a Synthea bundle")
        .remove(0);
    std::fs::write(&ehr, &visit.bytes).expect("the EHR file");
    let write = ["doctor", "write", "--key", "doc", "--treatment-key", &treatment_key, "--warrant", &warrant];
    at_a(&[&write[..], &["--ehr-id", "visit-1", "--hospital", &hospital, &ehr]].concat());

    // Hospital B's node crashes right after acknowledging bob's record; hospital A's
    // enclave instance crashes before carol's upload goes through A.
    nodes[1].take().expect("node B").crash();
    let enclave = nodes[0].as_ref().expect("node A").enclave_pid().expect("A's enclave process");
    assert!(Command::new("kill").args(["-KILL", &enclave.to_string()]).status().expect("kill").success());
    let carol = import("carol", 0, &bundles[2]);
    policy("carol", 0, &carol);
    let records = [alice.clone(), bob.clone(), carol.clone()];

    // The institute's data user pays for a job over all three records; seats 1 (A) and 3
    // (the institute) release the keys while B is down; the institute's enclave runs it.
    let job = root.path().join("job.json");
    std::fs::write(&job, br#"{"job": "cohort_stats", "loinc": "8302-2", "min_cohort": 1}"#).expect("the job");
    let listed = records.join(",");
    let request = ["share", "request", "--key", "lab", "--records", &listed, "--job", path(&job), "--home", &home(2)];
    let requested = until_ok(&cli, &request, limit);
    let id = requested.split_whitespace().nth(1).expect("the request id").trim_end_matches(':').to_string();
    let run = ["share", "run", "--key", "lab", &id, "--job", path(&job), "--home", &home(2)];
    let ran = until_ok(&cli, &run, limit);
    assert!(ran.contains(&id), "{ran}");
    let result = ["share", "result", "--key", "lab", &id, "--home", &home(2)];
    let result = until_ok(&cli, &result, limit);
    assert!(result.contains("over 3 records") && result.contains("n=3"), "{result}");

    // The EHR acknowledged before A's enclave instance crashed is in its store, intact.
    let checked = at_a(&["patient", "ehr", "check", "--key", "pat", "--json"]);
    let checked: serde_json::Value = serde_json::from_str(&checked).expect("JSON");
    let ehrs = checked.as_array().expect("a list");
    assert!(ehrs.iter().any(|e| e["ehr_id"] == "visit-1" && e["intact"] == true), "{checked}");

    // Hospital B comes back on its directory; every record verifies in full through every node.
    nodes[1] = Some(NodeProcess::start(&homes[1], &[]));
    for (i, record) in records.iter().enumerate() {
        for at in 0..3 {
            let verify = ["record", "verify", record, "--home", &home(at)];
            let report = ok(&verify, cli(&verify));
            assert!(
                !report.contains("unqualified") && !report.contains("missing"),
                "record {i} via node {at}: {report}"
            );
        }
    }

    for node in nodes.into_iter().flatten() {
        node.stop();
    }
    // Each seat's service kept where it read the chain to, to resume there.
    for (i, dir) in homes.iter().enumerate() {
        let cursor = dir.join("committee").join(format!("member-{}.cursor", i + 1));
        let block: u64 = std::fs::read_to_string(&cursor).expect("a cursor").trim().parse().expect("a block number");
        assert!(block > 0, "{}", cursor.display());
    }
    hardhat.stop();
    drop(s3);
}
