//! Replicated enclaves (issue 11 item 3) with real enclave processes on the embedded chain:
//! a second instance — its own simulated platform secret and sealed state, i.e. another
//! host — joins the approved enclave by attested key provisioning, the join is recorded on
//! the Directory, and the replica then serves updates the contracts accept, also after its
//! process restarts. Every refusal leaves both instances as they were.

mod common;

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use common::node::NodeProcess;
use common::{bundles, environment, program, runtime};
use healthchain_core::environment::Environment;
use healthchain_core::host::{EnclaveProgram, ReplicaError, platform_secret, record_join};
use healthchain_core::records::{FHIR_R4, Owner, verify};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_enclave::evidence::EvidenceError;
use healthchain_enclave::host::{EnclaveBackend, SimulatedEnclave, platform_address};
use healthchain_enclave::provision::{self, JoinError, JoinPolicy, ProvisionError};
use healthchain_ledger::errors::{ContractError, LedgerError};
use healthchain_ledger::testing::dev_key;

/// Trusts the platform of the instance in `dir`, simulated.
fn policy_for(dirs: &[&Path]) -> JoinPolicy {
    JoinPolicy {
        platforms: dirs.iter().map(|d| platform_address(platform_secret(d).unwrap()).into()).collect(),
        accept_simulated: true,
    }
}

fn refused(result: Result<impl std::fmt::Debug, JoinError>) -> ProvisionError {
    match result {
        Err(JoinError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn versions() -> Vec<Vec<u8>> {
    let bundle = std::fs::read(&bundles()[0]).unwrap();
    healthchain_fhir::split_into_versions(&bundle).unwrap().into_iter().map(|v| v.bytes).collect()
}

#[test]
fn a_second_instance_joins_by_attested_provisioning_and_serves_as_the_approved_enclave() {
    let home = tempfile::tempdir().unwrap();
    let host_b = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut env = environment(home.path()).await;
        let approved = env.verified.report_signer;
        let provider_pid = env.enclave.process_id().expect("the provider is a process");

        // another host: its own platform secret and sealed state; fresh keys, not approved
        let replica = env.launch_instance(&program(), host_b.path()).await.unwrap();
        let before = replica.evidence();
        assert_ne!(Address::from(before.report_signer), approved);
        assert_ne!(replica.pid(), Some(provider_pid));
        let ledger = env.ledger(&env.admin).await.unwrap();
        let directory = ledger.consortium_directory();
        assert!(!directory.is_approved_enclave(before.report_signer.into()).await.unwrap());

        // the provider's EHR store exists (key sealed, database created) before the join
        let identity = EnclaveIdentity { id: env.verified.measurement, report_signer: approved };
        assert!(matches!(list_ehrs(env.enclave.clone(), identity).await, Ok(Ok(_))), "the provider opens its store");
        assert!(!host_b.path().join("ehr-db-key.sealed").exists());

        let joined = env
            .join_instance(replica.clone(), vec![platform_address(platform_secret(host_b.path()).unwrap())], true)
            .await
            .expect("the join");
        assert_eq!(Address::from(joined.evidence.report_signer), approved);
        assert_eq!(Address::from(replica.evidence().report_signer), approved, "the host sees the new identity");
        assert_eq!(joined.evidence.encryption_key, env.verified.encryption_key.to_bytes());
        assert_eq!(joined.record.instance, Address::from(before.report_signer));
        assert_eq!(joined.record.evidence_hash, B256::from(before.hash()));

        // recorded on-chain: the view and the event
        assert_eq!(directory.replica_of(joined.record.instance).await.unwrap(), approved);
        let from = env.deployment.consortium.deployed_at_block;
        let replicas = directory.replicas(Some(approved), from).await.unwrap();
        assert_eq!(replicas.len(), 1);
        let event = &replicas[0].event;
        assert_eq!((event.reportSigner, event.instance), (approved, joined.record.instance));
        assert_eq!((event.measurement, event.evidenceHash), (env.verified.measurement, joined.record.evidence_hash));

        // the replica alone serves the approved enclave's requests: the provider's process
        // stopped when the environment let go of it
        env.use_instance(replica.clone()).unwrap();
        assert!(!Path::new(&format!("/proc/{provider_pid}")).exists(), "the provider process is gone");
        // the store key came with the identity: the provider's database file, moved to the
        // replica's host, opens there (SQLCipher refuses a file under another key)
        assert!(host_b.path().join("ehr-db-key.sealed").exists(), "the store key was sealed on the replica");
        for file in ["ehr.db", "ehr.db-wal", "ehr.db-shm"] {
            let from = home.path().join("enclave").join(file);
            if from.exists() {
                std::fs::copy(&from, host_b.path().join(file)).unwrap();
            }
        }
        let listed = list_ehrs(replica.clone(), identity).await;
        assert!(matches!(listed, Ok(Ok(_))), "the provider's store opens on the replica: {listed:?}");
        let versions = versions();
        let mut record = {
            let owner = Owner::new(&env, dev_key(1)).await.unwrap();
            let mut record = owner.upload(&versions[0], FHIR_R4).await.expect("version 1 through the replica");
            owner.update(&mut record, &versions[1]).await.expect("version 2 through the replica");
            record
        };
        let report = verify(&env, record.record_id).await.unwrap();
        assert!(report.all_qualified() && report.versions.len() == 2, "{:?}", report.versions);

        // the replica's process restarts from its own sealed state with the approved keys
        let replica_pid = replica.pid().expect("running");
        let stand_in = env.launch_instance(&program(), &env.home.join("enclave")).await.unwrap();
        env.use_instance(stand_in).unwrap();
        drop(replica); // its handle kills and reaps the process, by its PID
        assert!(!Path::new(&format!("/proc/{replica_pid}")).exists(), "the replica process is gone");
        let restarted = env.launch_instance(&program(), host_b.path()).await.unwrap();
        assert_eq!(Address::from(restarted.evidence().report_signer), approved, "the keys were sealed");
        env.use_instance(restarted.clone()).unwrap();
        let owner = Owner::new(&env, dev_key(1)).await.unwrap();
        owner.update(&mut record, &versions[2]).await.expect("version 3 through the restarted replica");
        let report = verify(&env, record.record_id).await.unwrap();
        assert!(report.all_qualified() && report.versions.len() == 3, "{:?}", report.versions);
        // and a session client accepts it as the approved enclave
        let session = tokio::task::spawn_blocking(move || {
            healthchain_enclave::client::connect(restarted.as_ref(), dev_key(2), identity).map(|_| ())
        })
        .await
        .unwrap();
        assert!(session.is_ok(), "a client's session with the restarted replica: {session:?}");
    });
}

/// A patient's EHR list from `instance` over an attested session with `identity` (opens the
/// instance's EHR store, creating its key and database on first use).
async fn list_ehrs(
    instance: Arc<dyn EnclaveBackend>,
    identity: EnclaveIdentity,
) -> Result<healthchain_ehr::EhrReply, healthchain_enclave::client::ClientError> {
    tokio::task::spawn_blocking(move || {
        let patient = dev_key(6);
        let request = healthchain_ehr::EhrRequest::List { patient: patient.address() };
        healthchain_enclave::client::connect(instance.as_ref(), patient, identity)?.call("ehr", &request)
    })
    .await
    .unwrap()
}

/// The same enclave binary with one byte appended: other code, another measurement.
fn modified_program(dir: &Path) -> EnclaveProgram {
    let original = program();
    let copy = dir.join("healthchain-modified");
    let mut bytes = std::fs::read(&original.program).unwrap();
    bytes.push(0);
    std::fs::write(&copy, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    EnclaveProgram { program: copy, args: original.args }
}

/// Launches `program`, retrying while the kernel says its file is busy: another test of this
/// binary may fork (holding the just-written file open until it execs) at that moment.
async fn launch_retrying_busy(env: &Environment, program: &EnclaveProgram, dir: &Path) -> Arc<SimulatedEnclave> {
    for _ in 0..50 {
        match env.launch_instance(program, dir).await {
            Ok(instance) => return instance,
            Err(e) if e.to_string().contains("Text file busy") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("launching {}: {e}", program.program.display()),
        }
    }
    panic!("{} stayed busy", program.program.display())
}

#[test]
fn joins_outside_the_chain_or_the_policy_and_bad_bundles_are_refused_and_change_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    runtime().block_on(async {
        let env = environment(home.path()).await;
        let provider = env.enclave.clone();
        let approved = env.verified.report_signer;
        let b = env.launch_instance(&program(), dirs[0].path()).await.unwrap();
        let c = env.launch_instance(&program(), dirs[1].path()).await.unwrap();
        let (b_before, c_before) = (b.evidence(), c.evidence());
        let ask = |joiner: Arc<SimulatedEnclave>, policy: JoinPolicy| {
            let provider = provider.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    provision::request_bundle(provider.as_ref(), &joiner.evidence(), &policy)
                })
                .await
                .unwrap()
            }
        };

        // evidence signed by a platform the operator does not trust
        let refusal = refused(ask(b.clone(), policy_for(&[dirs[1].path()])).await);
        assert!(matches!(refusal, ProvisionError::Evidence(EvidenceError::UntrustedPlatform(_))), "{refusal:?}");
        // simulated evidence when simulation is not accepted
        let mut strict = policy_for(&[dirs[0].path()]);
        strict.accept_simulated = false;
        assert_eq!(
            refused(ask(b.clone(), strict).await),
            ProvisionError::Evidence(EvidenceError::SimulatedNotAccepted)
        );
        // an instance of other code: its measurement is not the one approved on-chain
        let modified = modified_program(dirs[3].path());
        let other_code = launch_retrying_busy(&env, &modified, dirs[2].path()).await;
        let refusal = refused(ask(other_code.clone(), policy_for(&[dirs[2].path()])).await);
        assert!(matches!(refusal, ProvisionError::Evidence(EvidenceError::UnapprovedMeasurement(_))), "{refusal:?}");
        // the same refusal through the environment's join: nothing recorded
        let result = env
            .join_instance(other_code.clone(), vec![platform_address(platform_secret(dirs[2].path()).unwrap())], true)
            .await;
        assert!(matches!(result, Err(ReplicaError::Join(JoinError::Refused(ProvisionError::Evidence(_))))));
        drop(other_code);

        // a bundle for B handed to C; a tampered one handed to B
        let bundle = ask(b.clone(), policy_for(&[dirs[0].path()])).await.expect("a bundle for B");
        let install = |joiner: Arc<SimulatedEnclave>, bundle: provision::ProvisionBundle| async move {
            tokio::task::spawn_blocking(move || provision::install_bundle(joiner.as_ref(), &bundle)).await.unwrap()
        };
        assert_eq!(refused(install(c.clone(), bundle.clone()).await), ProvisionError::AddressedToAnotherJoiner);
        let mut tampered = bundle.clone();
        let last = tampered.wrapped.len() - 1;
        tampered.wrapped[last] ^= 1;
        assert!(matches!(refused(install(b.clone(), tampered).await), ProvisionError::Tampered(_)));
        let mut garbage = bundle.clone();
        garbage.signature = vec![0; 65];
        assert_eq!(refused(install(b.clone(), garbage).await), ProvisionError::BadSignature);
        assert_eq!(b.evidence(), b_before, "nothing changed on B");
        assert_eq!(c.evidence(), c_before, "nothing changed on C");

        // an instance holding an EHR store key of its own would lose its store: refused
        let identity = EnclaveIdentity { id: env.verified.measurement, report_signer: c_before.report_signer.into() };
        let c_for_session = c.clone();
        tokio::task::spawn_blocking(move || {
            let mut session =
                healthchain_enclave::client::connect(c_for_session.as_ref(), dev_key(3), identity).unwrap();
            let reply: healthchain_ehr::EhrReply =
                session.call("ehr", &healthchain_ehr::EhrRequest::List { patient: dev_key(3).address() }).unwrap();
            assert!(reply.is_ok(), "{reply:?}");
        })
        .await
        .unwrap();
        let for_c = ask(c.clone(), policy_for(&[dirs[1].path()])).await.expect("a bundle for C");
        assert_eq!(
            refused(install(c.clone(), for_c).await),
            ProvisionError::StateConflict(healthchain_ehr::KEY_LABEL.into())
        );
        assert_eq!(c.evidence(), c_before, "nothing changed on C");

        // B installs its bundle once; a replay is addressed to evidence B no longer has
        let evidence = install(b.clone(), bundle.clone()).await.expect("B joins");
        assert_eq!(Address::from(evidence.report_signer), approved);
        assert_eq!(refused(install(b.clone(), bundle.clone()).await), ProvisionError::AddressedToAnotherJoiner);
        // recorded once on the Directory; a replayed record reverts
        let ledger = env.ledger(&dev_key(4)).await.unwrap();
        let joined = provision::Joined { record: bundle.record(&b_before), bundle: bundle.clone(), evidence };
        record_join(&ledger, &joined).await.expect("recorded by any account");
        match record_join(&ledger, &joined).await {
            Err(LedgerError::Reverted { error: ContractError::ReplicaAlreadyRecorded { instance }, .. }) => {
                assert_eq!(instance, Address::from(b_before.report_signer));
            }
            other => panic!("expected ReplicaAlreadyRecorded, got {other:?}"),
        }
        // the provider (now also B) still answers as the approved enclave
        assert_eq!(Address::from(provider.evidence().report_signer), approved);
    });
}

fn cli(args: &[&str]) -> String {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_healthchain")).args(args).output().expect("the CLI runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "healthchain {args:?}: {stdout}\n{stderr}");
    stdout.into_owned()
}

/// `healthchain admin enclave join` between two hosts: A's environment runs the approved
/// enclave; the new instance's state directory is node B's `<home>/enclave`; after the
/// join, with node A serving A's environment, node B
/// (same chain and store, its own platform and sealed state) serves as the approved
/// enclave, and a record uploaded and updated through it verifies.
#[test]
fn admin_enclave_join_lets_a_second_node_serve_with_the_replica() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let instance_dir = b.path().join("enclave");
    let instance_str = instance_dir.to_str().unwrap();
    let home_a = a.path().to_str().unwrap();
    let platform = cli(&["admin", "enclave", "platform", "--state-dir", instance_str]).trim().to_string();
    assert_eq!(platform, platform_address(platform_secret(&instance_dir).unwrap()).to_string());

    let join = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_healthchain"))
            .args([
                "admin",
                "enclave",
                "join",
                "--home",
                home_a,
                "--instance-dir",
                instance_str,
                "--platform",
                &platform,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    // without --accept-simulated the simulated instance is refused (exit 1: a refusal)
    let strict = join(&[]);
    assert_eq!(strict.status.code(), Some(1), "{}", String::from_utf8_lossy(&strict.stderr));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("simulated"));
    let joined = join(&["--accept-simulated"]);
    assert!(joined.status.success(), "{}", String::from_utf8_lossy(&joined.stderr));
    let said = String::from_utf8_lossy(&joined.stdout);
    assert!(said.contains("joined enclave") && said.contains("recorded on the Directory"), "{said}");
    let listed = cli(&["admin", "enclave", "replicas", "--home", home_a]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    // joining again is refused: the instance now presents the approved enclave itself
    let again = join(&["--accept-simulated"]);
    assert_eq!(again.status.code(), Some(1), "a refusal, not a failure: {}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("itself the approved enclave"));

    // node A serves the environment: joins are not made through it, and its relay never
    // passes key provisioning on (a remote client would name its own platform as trusted)
    let node_a = NodeProcess::start(a.path(), &[]);
    let busy = join(&["--accept-simulated"]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("stop it first"));
    let node = healthchain_core::attached::RunningNode::serving(a.path()).unwrap().expect("node A announced");
    runtime().block_on(async {
        let relayed = healthchain_core::attached::NodeEnclave::connect(&node).await.unwrap();
        let evidence = relayed.evidence();
        let result = tokio::task::spawn_blocking(move || {
            provision::request_bundle(&relayed, &evidence, &JoinPolicy { platforms: vec![], accept_simulated: true })
        })
        .await
        .unwrap();
        match result {
            Err(JoinError::Enclave(healthchain_enclave::host::EnclaveError::Relay(message))) => {
                assert!(message.contains("403") && message.contains("operator_only"), "{message}");
            }
            other => panic!("the relay must refuse provisioning, got {other:?}"),
        }
    });

    // node B: the same chain (through node A) and store, the replica as its enclave
    std::fs::copy(a.path().join("deployment.json"), b.path().join("deployment.json")).unwrap();
    let config = format!(
        "[chain]\nrpc = \"{}\"\n\n[store]\nbackend = \"local\"\npath = \"{}\"\n",
        node.rpc_url(),
        a.path().join("objects").display()
    );
    std::fs::write(b.path().join("healthchain.toml"), config).unwrap();
    let node_b = NodeProcess::start(b.path(), &[]);
    let served_by_b = healthchain_core::attached::RunningNode::serving(b.path()).unwrap().expect("node B announced");
    runtime().block_on(async {
        let env = Environment::attach(b.path(), &program(), &served_by_b).await.expect("attached to node B");
        let ledger = env.ledger(&env.admin).await.unwrap();
        assert_eq!(
            ledger.consortium_directory().replica_of(listed_instance(&listed)).await.unwrap(),
            env.verified.report_signer,
            "node B's enclave is the approved one the replica joined"
        );
        let versions = versions();
        let owner = Owner::new(&env, dev_key(5)).await.unwrap();
        let mut record = owner.upload(&versions[0], FHIR_R4).await.expect("version 1 through node B");
        owner.update(&mut record, &versions[1]).await.expect("version 2 through node B");
        let report = verify(&env, record.record_id).await.unwrap();
        assert!(report.all_qualified() && report.versions.len() == 2, "{:?}", report.versions);
    });
    drop(node_b);
    drop(node_a);
}

fn listed_instance(listed: &str) -> Address {
    listed.split_whitespace().next().and_then(|a| a.parse().ok()).expect("an instance address first")
}
