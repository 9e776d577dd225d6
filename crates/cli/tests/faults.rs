//! Storage faults in the record flows: a registration or update that hits a failing or full
//! store fails with an error that names the storage failure and counts as a component
//! failure, leaves nothing half-applied (the chain logs no version whose objects are not
//! stored, and every logged version still qualifies), and the same operation succeeds once
//! the fault clears. Faults are injected under the real local store
//! (`healthchain_store::testing::with_faults`), and made real by the OS: a `healthchain`
//! process whose file size limit (`RLIMIT_FSIZE`) is below an entry's size gets `EFBIG`
//! ("File too large") when it writes the entry, as on a full disk. A share whose enclave
//! meets a failing read is refused as a component failure, not run over fewer versions.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use alloy_primitives::U256;
use common::node::run_with_keys;
use common::{bundles, program, runtime};
use healthchain_core::environment::{ChainStorage, Environment, committee_member_key};
use healthchain_core::records::{self, FHIR_R4, OwnedRecord, Owner, RecordError, RecordWallet, wallet_dir};
use healthchain_core::share::{CommitteeMember, DataUser, ShareError};
use healthchain_crypto::hash::sha256;
use healthchain_jobs::JobSpec;
use healthchain_ledger::contracts::RequestStatus;
use healthchain_ledger::testing::{HardhatNode, dev_key};
use healthchain_share::ShareRefusal;
use healthchain_store::Store;
use healthchain_store::testing::{Faults, with_faults};
use healthchain_update::UpdateRefusal;
use healthchain_update::history::VerifyError;

/// `versions` versions are logged for `record`, the owner's copy says so, and every one of
/// them qualifies, with no claimed version beyond them.
async fn assert_whole(env: &Environment, record: &OwnedRecord, versions: usize) {
    assert_eq!(record.versions.len(), versions, "the owner's copy");
    let logged = records::history(env, record.record_id).await.expect("the history reads");
    assert_eq!(logged.len(), versions, "versions logged on UpdateLog");
    let report = records::verify(env, record.record_id).await.expect("the record verifies");
    assert_eq!(report.versions.len(), versions, "{:?}", report.versions);
    assert!(report.log_consistent && report.all_qualified(), "{:?}", report.versions);
}

/// An environment on the embedded defaults whose local store injects the faults returned.
async fn environment_with_faults(home: &Path) -> (Environment, Arc<Faults>) {
    let (store, faults) = with_faults(Store::local(home.join("objects")).expect("the store"));
    let env = Environment::open_with_store(home, &program(), ChainStorage::Memory, store).await.expect("environment");
    (env, faults)
}

/// A component failure whose message names what the store said.
fn assert_store_failure(error: &RecordError, what: &str) {
    assert!(error.is_failure(), "a storage fault is a component failure: {error}");
    assert!(error.to_string().contains(what), "the error names the storage failure: {error}");
}

#[test]
fn record_flows_that_hit_storage_faults_fail_typed_change_nothing_and_succeed_when_retried() {
    let home = tempfile::tempdir().expect("temporary directory");
    runtime().block_on(async {
        let (env, faults) = environment_with_faults(home.path()).await;
        let bundle = std::fs::read(&bundles()[0]).expect("a shipped bundle");
        let versions: Vec<Vec<u8>> =
            healthchain_fhir::split_into_versions(&bundle).expect("splits").into_iter().map(|v| v.bytes).collect();
        assert!(versions.len() >= 3, "the first patient has several visits");
        let owner = Owner::new(&env, dev_key(1)).await.expect("owner");

        // a full disk at registration: the manifest is not stored, so nothing is sent
        faults.set_full(true);
        let head = env.connection.block_number().await.expect("head");
        let error = owner.register(FHIR_R4).await.expect_err("the manifest cannot be stored");
        assert!(matches!(error, RecordError::Store(_)), "{error:?}");
        assert_store_failure(&error, "no space left on device");
        assert_eq!(env.connection.block_number().await.expect("head"), head, "nothing reached the chain");
        faults.set_full(false);
        let mut record = owner.register(FHIR_R4).await.expect("the same registration, with room on the disk");
        owner.update(&mut record, &versions[0]).await.expect("version 1");
        assert_whole(&env, &record, 1).await;

        // a full disk when the enclave stores the new entry: nothing signed or logged
        faults.set_full(true);
        let error = owner.update(&mut record, &versions[1]).await.expect_err("the entry cannot be stored");
        assert!(matches!(error, RecordError::Refused(UpdateRefusal::Store(_))), "{error:?}");
        assert_store_failure(&error, "no space left on device");
        assert_whole(&env, &record, 1).await;
        faults.set_full(false);
        owner.update(&mut record, &versions[1]).await.expect("the same update, with room on the disk");
        assert_whole(&env, &record, 2).await;

        // the entry is stored but its index entry is not: the version is not logged (the
        // enclave's entry is the update's first put, the index entry its second)
        faults.fail_every_nth_put(2);
        let error = owner.update(&mut record, &versions[2]).await.expect_err("the index entry cannot be stored");
        assert!(matches!(error, RecordError::Store(_)), "{error:?}");
        assert_store_failure(&error, "no space left on device");
        assert_eq!(faults.injected(), 3, "exactly the faults above");
        faults.clear();
        assert_whole(&env, &record, 2).await;
        owner.update(&mut record, &versions[2]).await.expect("the same update, once the store works");
        assert_whole(&env, &record, 3).await;

        // reads that fail while verifying: an error, not a verdict on the versions (the
        // index's three entries are the first three reads, the manifest the fourth, version
        // 1's entry the fifth)
        faults.fail_every_nth_get(5);
        let error = records::verify(&env, record.record_id).await.expect_err("a read fails");
        assert!(matches!(error, RecordError::Verify(VerifyError::Store(_))), "{error:?}");
        assert_store_failure(&error, "input/output error");
        faults.fail_every_nth_get(1);
        let error = records::verify(&env, record.record_id).await.expect_err("the index read fails");
        assert!(matches!(error, RecordError::Store(_)), "{error:?}");
        faults.clear();
        assert_whole(&env, &record, 3).await;
    });
}

/// The file size limit the import runs under: above every other file the CLI and its
/// enclave write (wallet, sealed state, the SQLCipher store's 32 KiB shared-memory file),
/// below the largest entries of the shipped histories.
const FILE_SIZE_LIMIT: usize = 64 * 1024;

/// The local store at `root` holds only whole files: every object is named by the SHA-256
/// of its bytes (no half-written object), and no write left a staging file behind.
fn assert_store_whole(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a store directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name");
            assert!(!name.contains('#'), "a staging file is left: {}", path.display());
            if path.starts_with(root.join("objects")) {
                let bytes = std::fs::read(&path).expect("an object");
                assert_eq!(name, alloy_primitives::hex::encode(sha256(&bytes)), "{}", path.display());
            }
        }
    }
}

#[test]
fn an_import_that_meets_a_real_file_size_limit_fails_typed_and_the_retry_completes() {
    // the shipped history whose first entry over the limit comes earliest
    let (at, bundle, entry) = bundles()
        .into_iter()
        .filter_map(|path| {
            let versions = healthchain_fhir::split_into_versions(&std::fs::read(&path).ok()?).ok()?;
            let at = versions.iter().position(|v| v.bytes.len() > FILE_SIZE_LIMIT)?;
            Some((at, path, versions[at].bytes.clone()))
        })
        .min_by_key(|(at, _, _)| *at)
        .expect("a shipped history with an entry over the limit");
    let rt = runtime();
    let hardhat = rt.block_on(HardhatNode::start()).expect("hardhat");
    let home = tempfile::tempdir().expect("temporary directory");
    let home_arg = home.path().to_str().expect("a UTF-8 path");
    let config = format!("[chain]\nrpc = \"{}\"\n", hardhat.url());
    std::fs::write(home.path().join(healthchain_core::environment::CONFIG_FILE), config).expect("config");
    // contracts deployed and the enclave approved, without a limit
    rt.block_on(async {
        drop(Environment::open(home.path(), &program(), ChainStorage::Durable).await.expect("environment"))
    });

    let keys = home.path().join("keys");
    let cli = |limited: bool, args: &[&str]| {
        let command = if limited {
            // SIGXFSZ ignored (and so across exec), so a write past the limit fails with EFBIG
            let mut sh = Command::new("sh");
            let script = format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"", FILE_SIZE_LIMIT / 512);
            sh.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_healthchain"));
            sh
        } else {
            Command::new(env!("CARGO_BIN_EXE_healthchain"))
        };
        run_with_keys(command, args, &keys)
    };
    let created = cli(false, &["key", "new", "owner"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let owner = String::from_utf8_lossy(&created.stdout).split_whitespace().last().expect("address").to_string();

    let import = cli(true, &["record", "import", "--key", "owner", "--home", home_arg, bundle.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert_eq!(import.status.code(), Some(3), "a component failure: {stderr}");
    assert!(stderr.contains("File too large"), "the error names the storage failure: {stderr}");

    // the versions before the one that did not fit are logged, whole; nothing after them
    let wallet = RecordWallet::new(wallet_dir(home.path()).join(&owner));
    let [record] = wallet.list().expect("the wallet").try_into().expect("one record");
    assert_eq!(record.versions.len(), at);
    let record_id = record.record_id.to_string();
    let history = cli(false, &["record", "history", &record_id, "--json", "--home", home_arg]);
    let logged: Vec<serde_json::Value> = serde_json::from_slice(&history.stdout).expect("the history");
    assert_eq!(logged.len(), at);
    let verify = cli(false, &["record", "verify", &record_id, "--home", home_arg]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert_store_whole(&home.path().join("objects"));

    // the same version again, without the limit
    let entry_file = home.path().join("entry.json");
    std::fs::write(&entry_file, &entry).expect("entry");
    let update = cli(
        false,
        &["record", "update", "--key", "owner", "--home", home_arg, &record_id, entry_file.to_str().expect("path")],
    );
    assert!(update.status.success(), "{}", String::from_utf8_lossy(&update.stderr));
    let verify = cli(false, &["record", "verify", &record_id, "--home", home_arg]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&format!("{0} of {0} versions qualified", at + 1)));
    assert_store_whole(&home.path().join("objects"));
    hardhat.stop();
}

/// A share whose enclave cannot read the store fails as a component failure, pays no one and
/// leaves the request pending; once the store works the same request runs over every version
/// (a failed read must not make a version drop out of the computation as if it were missing).
#[test]
fn a_share_that_meets_a_failing_store_fails_typed_and_the_retry_uses_every_version() {
    let home = tempfile::tempdir().expect("temporary directory");
    runtime().block_on(async {
        let (env, faults) = environment_with_faults(home.path()).await;
        let bundle = std::fs::read(&bundles()[0]).expect("a shipped bundle");
        let owner = Owner::new(&env, dev_key(1)).await.expect("owner");
        let record = owner.import(&bundle, None, |_, _| {}).await.expect("the import");
        let versions = record.versions.len() as u64;
        let now = env.connection.timestamp().await.expect("chain time") as u32;
        owner.set_policy(record.record_id, 1_000_000, now - 60, now + 86_400).await.expect("a policy");
        let user = DataUser::new(&env, dev_key(40)).await.expect("data user");
        let job = br#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex"]}"#;
        let id = user.request(&[record.record_id], &JobSpec::parse(job).expect("a job")).await.expect("request");
        let member = CommitteeMember::new(&env, committee_member_key(0), env.committee_share(0).expect("share"))
            .await
            .expect("committee member");
        assert_eq!(member.serve_pending().await.expect("the key share"), vec![id]);

        // the data user reads the index (one get per version), then the enclave fetches the
        // manifest and the entries: the first entry's read fails
        faults.fail_every_nth_get(versions + 2);
        let error = user.run(id, job).await.expect_err("a read fails in the enclave");
        assert!(matches!(error, ShareError::Refused(ShareRefusal::Store(_))), "{error:?}");
        assert!(error.is_failure() && error.to_string().contains("input/output error"), "{error}");
        let request = user.ledger().access().request_of(U256::from(id)).await.expect("the request");
        assert_eq!(request.status, RequestStatus::Pending, "nothing settled");
        assert_eq!(owner.earnings().await.expect("earnings"), U256::ZERO, "nobody paid");

        faults.clear();
        let accepted = user.run(id, job).await.expect("the same request, once the store works");
        assert_eq!((accepted.records[0].qualified, accepted.records[0].total), (versions, versions));
        assert_eq!(owner.earnings().await.expect("earnings"), U256::from(1_000_000u64) * U256::from(1_000_000_000u64));
    });
}
