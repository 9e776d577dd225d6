//! Seed 000 records end to end on the embedded defaults: upload, updates through the
//! enclave's update application, verification by anyone — and every refusal.

mod common;

use common::{bundles, environment, runtime};
use healthchain_core::environment::Environment;
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner, verify};
use healthchain_ledger::testing::dev_key;

#[test]
fn every_synthea_bundle_imports_and_every_version_verifies_under_an_unchanged_anchor() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let env = environment(home.path()).await;
        for (i, path) in bundles().iter().enumerate() {
            let bundle = std::fs::read(path).unwrap();
            let expected = healthchain_fhir::split_into_versions(&bundle).unwrap().len();
            let owner = Owner::new(&env, dev_key(10 + i as u32)).await.unwrap();
            let record: OwnedRecord = owner.import(&bundle, None, |_, _| {}).await.unwrap();
            assert_eq!(record.versions.len(), expected, "{}", path.display());
            let report = verify(&env, record.record_id).await.unwrap();
            assert!(report.log_consistent);
            assert_eq!(report.versions.len(), expected);
            assert!(report.all_qualified(), "{}: {:?}", path.display(), report.versions);
            assert_eq!(report.registration.anchor, record.anchor, "the anchor never changed");
            assert_eq!(report.data_type, FHIR_R4);
        }
    });
}

/// An environment with one record of three logged versions (the first patient's first
/// three visits), and the rest of that patient's visits.
struct Fixture {
    home: tempfile::TempDir,
    env: Environment,
    record: OwnedRecord,
    later: Vec<Vec<u8>>,
}

async fn fixture() -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let env = environment(home.path()).await;
    let bundle = std::fs::read(&bundles()[0]).unwrap();
    let mut versions: Vec<Vec<u8>> =
        healthchain_fhir::split_into_versions(&bundle).unwrap().into_iter().map(|v| v.bytes).collect();
    assert!(versions.len() > 4, "the first patient has several visits");
    let later = versions.split_off(3);
    let record = {
        let owner = Owner::new(&env, dev_key(1)).await.unwrap();
        let mut record = owner.upload(&versions[0], FHIR_R4).await.unwrap();
        for v in &versions[1..] {
            owner.update(&mut record, v).await.unwrap();
        }
        record
    };
    Fixture { home, env, record, later }
}

/// What must not change when an update is refused.
#[derive(Debug, PartialEq)]
struct Snapshot {
    log: (u64, alloy_primitives::B256, u32),
    objects: usize,
    verified: Vec<bool>,
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

impl Fixture {
    async fn owner(&self) -> Owner<'_> {
        Owner::new(&self.env, dev_key(1)).await.unwrap()
    }

    async fn snapshot(&self) -> Snapshot {
        let owner = self.owner().await;
        let log = owner.ledger().update_log().log_of(self.record.record_id).await.unwrap();
        let report = verify(&self.env, self.record.record_id).await.unwrap();
        assert_eq!(report.registration.anchor, self.record.anchor, "the anchor never changes");
        Snapshot {
            log: (log.version, log.head, log.license_sequence),
            objects: count_files(&self.home.path().join("objects")),
            verified: report.versions.iter().map(|v| v.qualified()).collect(),
        }
    }

    /// Sends `request` with a fresh license (unless `license` is false) and returns the
    /// refusal, checking that nothing changed.
    async fn refused(
        &self,
        license: bool,
        request: healthchain_update::UpdateRequest,
    ) -> healthchain_update::UpdateRefusal {
        let owner = self.owner().await;
        if license {
            owner.request_license(&self.record).await.unwrap();
        }
        let before = self.snapshot().await;
        let refusal = match owner.call_enclave(request).await {
            Err(healthchain_core::records::RecordError::Refused(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(self.snapshot().await, before, "a refused update changes nothing ({refusal})");
        assert!(!refusal.to_string().is_empty());
        refusal
    }

    async fn honest_request(&self) -> healthchain_update::UpdateRequest {
        self.owner().await.request(&self.record, &self.later[0]).unwrap()
    }
}

use healthchain_update::UpdateRefusal;

#[test]
fn updates_without_a_valid_license_are_refused_and_change_nothing() {
    runtime().block_on(async {
        let f = fixture().await;
        // no license at all (the last one was consumed and closed)
        let refusal = f.refused(false, f.honest_request().await).await;
        assert!(matches!(refusal, UpdateRefusal::NoLicense(_)), "{refusal}");

        // a license for another record does not license this one
        let owner = f.owner().await;
        let second = std::fs::read(&bundles()[1]).unwrap();
        let first_visit = healthchain_fhir::split_into_versions(&second).unwrap().remove(0).bytes;
        let other = owner.upload(&first_visit, FHIR_R4).await.unwrap();
        owner.request_license(&other).await.unwrap();
        let refusal = f.refused(false, f.honest_request().await).await;
        assert!(matches!(refusal, UpdateRefusal::NoLicense(id) if id == f.record.record_id), "{refusal}");

        // an expired license
        owner.request_license(&f.record).await.unwrap();
        f.env.connection.increase_time(2 * 3600).await.unwrap();
        let refusal = f.refused(false, f.honest_request().await).await;
        assert!(matches!(refusal, UpdateRefusal::LicenseExpired { .. }), "{refusal}");
    });
}

#[test]
fn an_already_used_license_is_refused() {
    runtime().block_on(async {
        let f = fixture().await;
        let owner = f.owner().await;
        let mut record = f.record.clone();
        owner.request_license(&record).await.unwrap();
        let accepted = owner.call_enclave(owner.request(&record, &f.later[0]).unwrap()).await.unwrap();
        // logged on UpdateLog (consuming the license) but not yet confirmed on the registry
        owner.append(&record, &accepted).await.unwrap();
        record.versions.push(healthchain_core::records::OwnedVersion {
            version: accepted.version,
            entry: accepted.entry_address.into(),
            digest: accepted.digest,
            check_string: accepted.check_string,
        });
        let before = owner.ledger().update_log().log_of(record.record_id).await.unwrap();
        let again = owner.call_enclave(owner.request(&record, &f.later[1]).unwrap()).await;
        match again {
            Err(healthchain_core::records::RecordError::Refused(UpdateRefusal::LicenseConsumed { .. })) => {}
            other => panic!("expected LicenseConsumed, got {other:?}"),
        }
        assert_eq!(owner.ledger().update_log().log_of(record.record_id).await.unwrap(), before);
    });
}

#[test]
fn updates_that_rewrite_or_drop_history_are_refused() {
    runtime().block_on(async {
        let f = fixture().await;
        let mut edited = f.honest_request().await;
        edited.base_digest.0[0] ^= 1;
        let refusal = f.refused(true, edited).await;
        assert!(matches!(refusal, UpdateRefusal::RewritesHistory { version: 3, .. }), "{refusal}");

        let mut dropped = f.honest_request().await;
        dropped.base_version = 2;
        dropped.base_digest = f.record.versions[1].digest;
        dropped.history.pop();
        let refusal = f.refused(true, dropped).await;
        assert!(matches!(refusal, UpdateRefusal::DropsEntries { base: 2, logged: 3 }), "{refusal}");

        // re-sending an earlier version's resources (with changes or not) is an edit too
        let bundle = std::fs::read(&bundles()[0]).unwrap();
        let first = healthchain_fhir::split_into_versions(&bundle).unwrap().remove(1).bytes;
        let mut resend = f.honest_request().await;
        resend.entry = first;
        let refusal = f.refused(true, resend).await;
        assert!(matches!(refusal, UpdateRefusal::InvalidFhir(_)), "{refusal}");
    });
}

#[test]
fn invalid_fhir_another_patient_and_a_wrong_trapdoor_are_refused() {
    runtime().block_on(async {
        let f = fixture().await;
        let mut invalid = f.honest_request().await;
        let mut json: serde_json::Value = serde_json::from_slice(&invalid.entry).unwrap();
        json["entry"][0]["resource"]["status"] = serde_json::json!("not-a-status");
        json["entry"][0]["resource"]["unknownElement"] = serde_json::json!(true);
        invalid.entry = serde_json::to_vec(&json).unwrap();
        let refusal = f.refused(true, invalid).await;
        assert!(matches!(refusal, UpdateRefusal::InvalidFhir(ref errors) if !errors.is_empty()), "{refusal}");

        let mut malformed = f.honest_request().await;
        malformed.entry = b"{\"resourceType\": \"Bundle\",".to_vec();
        let refusal = f.refused(true, malformed).await;
        assert!(matches!(refusal, UpdateRefusal::InvalidFhir(_)), "{refusal}");

        let other_patient = std::fs::read(&bundles()[1]).unwrap();
        let mut other = f.honest_request().await;
        other.entry = healthchain_fhir::split_into_versions(&other_patient).unwrap().remove(0).bytes;
        let refusal = f.refused(true, other).await;
        assert!(matches!(refusal, UpdateRefusal::OtherPatient(_)), "{refusal}");

        let mut wrong = f.honest_request().await;
        wrong.trapdoor = zeroize::Zeroizing::new(healthchain_crypto::chameleon::keygen(&mut rand::rng()).0.to_bytes());
        let refusal = f.refused(true, wrong).await;
        assert!(matches!(refusal, UpdateRefusal::WrongTrapdoor), "{refusal}");
    });
}

#[test]
fn a_check_string_forged_outside_the_enclave_is_unqualified() {
    runtime().block_on(async {
        let f = fixture().await;
        let owner = f.owner().await;
        let secrets = f.record.secrets(&dev_key(1)).unwrap();
        let record = healthchain_crypto::record::RecordId(f.record.record_id.0);
        let last = f.record.versions.last().unwrap();
        // the owner appends version 4 by itself: a valid chameleon collision, no enclave
        let context = healthchain_crypto::envelope::EntryContext { record, entry_index: 4 };
        let ciphertext =
            healthchain_crypto::envelope::encrypt_entry(&secrets.key, context, &f.later[0], &mut rand::rng());
        let chain = healthchain_crypto::record::DigestChain::resume(record, 3, last.digest.0)
            .append(&healthchain_crypto::record::entry_digest(&ciphertext));
        let anchor = healthchain_crypto::chameleon::HashValue::from_bytes(f.record.anchor.as_slice()).unwrap();
        let check = healthchain_crypto::chameleon::adapt(
            &secrets.trapdoor,
            &anchor,
            &chain.message().to_bytes(),
            &mut rand::rng(),
        );
        let address = f.env.store.put(ciphertext).await.unwrap();
        let hint = healthchain_update::history::VersionHint {
            version: 4,
            entry: address.0,
            check_string: healthchain_ledger::ids::check_string_words(&check),
        };
        f.env.store.put_index(&f.record.record_id.0, 4, serde_json::to_vec(&hint).unwrap()).await.unwrap();

        let report = verify(&f.env, f.record.record_id).await.unwrap();
        assert_eq!(report.versions.len(), 4);
        assert_eq!(report.qualified(), 3, "the logged versions stay qualified");
        assert_eq!(
            report.versions[3].problem,
            Some(healthchain_update::history::Unqualified::NotLogged { opens_anchor: true })
        );
        assert_eq!(owner.ledger().update_log().log_of(f.record.record_id).await.unwrap().version, 3);
    });
}

#[test]
fn a_ciphertext_altered_in_the_store_is_unqualified_and_stops_updates() {
    runtime().block_on(async {
        let f = fixture().await;
        let victim = healthchain_store::ObjectAddress(f.record.versions[1].entry.0);
        let file = f.env.store.local_file(&victim).unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&file, bytes).unwrap();

        let report = verify(&f.env, f.record.record_id).await.unwrap();
        let problems: Vec<_> = report.versions.iter().map(|v| v.problem.clone()).collect();
        assert!(
            matches!(problems[1], Some(healthchain_update::history::Unqualified::EntryTampered(_))),
            "{problems:?}"
        );
        assert!(problems[0].is_none() && problems[2].is_none(), "{problems:?}");

        // an enclave that has not verified this record before (its sealed state lost) must
        // read the history, finds the altered entry and refuses to extend the record
        let sealed = f
            .home
            .path()
            .join("enclave")
            .join(format!("update-{}.sealed", alloy_primitives::hex::encode(f.record.record_id)));
        std::fs::remove_file(&sealed).unwrap();
        let owner = f.owner().await;
        owner.request_license(&f.record).await.unwrap();
        let before = owner.ledger().update_log().log_of(f.record.record_id).await.unwrap();
        match owner.call_enclave(f.honest_request().await).await {
            Err(healthchain_core::records::RecordError::Refused(UpdateRefusal::UnqualifiedHistory {
                version: 2,
                ..
            })) => {}
            other => panic!("expected UnqualifiedHistory for version 2, got {other:?}"),
        }
        assert_eq!(owner.ledger().update_log().log_of(f.record.record_id).await.unwrap(), before);
    });
}

/// A ledger relay that hides one `UpdateAppended` event from every `eth_getLogs` answer, as
/// a dishonest host or RPC provider could.
struct HidingRelay(healthchain_core::host::LedgerRelay);

impl healthchain_update::LedgerRpc for HidingRelay {
    fn request(&mut self, ledger: healthchain_enclave::protocol::LedgerName, body: &[u8]) -> Result<Vec<u8>, String> {
        let reply = self.0.request(ledger, body)?;
        let asked: serde_json::Value = serde_json::from_slice(body).unwrap();
        if asked["method"] != "eth_getLogs" {
            return Ok(reply);
        }
        let mut reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        if let Some(logs) = reply["result"].as_array_mut().filter(|logs| logs.len() > 1) {
            logs.remove(1);
        }
        Ok(serde_json::to_vec(&reply).unwrap())
    }
}

#[test]
fn a_log_with_a_hidden_version_does_not_reproduce_the_stored_head() {
    runtime().block_on(async {
        let f = fixture().await;
        let mut relay = HidingRelay(f.env.relay());
        let mut objects = f.env.objects();
        let deployment = f.env.deployment;
        let record_id = f.record.record_id;
        let hints: Vec<healthchain_update::history::VersionHint> = f
            .record
            .versions
            .iter()
            .map(|v| healthchain_update::history::VersionHint {
                version: v.version,
                entry: v.entry.0,
                check_string: v.check_string,
            })
            .collect();
        let report = tokio::task::spawn_blocking(move || {
            let mut view = healthchain_update::ChainView::new(&mut relay, &deployment);
            healthchain_update::verify_record(&mut view, &mut objects, record_id, &hints)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(!report.log_consistent);
        assert_eq!(report.qualified(), 0, "nothing is qualified on a log that does not match the contract");
        assert!(
            report
                .versions
                .iter()
                .all(|v| v.problem == Some(healthchain_update::history::Unqualified::LogHeadMismatch))
        );
    });
}

#[test]
fn records_live_in_an_s3_bucket_by_configuration() {
    let home = tempfile::tempdir().unwrap();
    let server = healthchain_store::testing::S3Server::start().unwrap();
    let s3 = server.config();
    std::fs::write(home.path().join(healthchain_core::environment::CONFIG_FILE), common::s3_store_toml(&s3)).unwrap();
    let config = healthchain_store::StoreConfig::S3(s3);
    runtime().block_on(async {
        let env = environment(home.path()).await;
        let bundle = std::fs::read(&bundles()[2]).unwrap();
        let owner = Owner::new(&env, dev_key(3)).await.unwrap();
        let record = owner.import(&bundle, None, |_, _| {}).await.unwrap();
        let report = verify(&env, record.record_id).await.unwrap();
        assert!(report.all_qualified() && report.versions.len() == record.versions.len());
        assert!(!home.path().join("objects").exists(), "nothing went to the local directory");
        // a second client of the bucket (another node) reads the same record
        let other = healthchain_store::Store::open(&config).unwrap();
        assert!(other.contains(&healthchain_store::ObjectAddress(record.versions[0].entry.0)).await.unwrap());
    });
}

/// The enclave keeps a record's verified context in memory and sealed as one segment per
/// version: a restarted enclave rebuilds it from the segments without re-reading a single
/// entry, and one that lost a segment re-verifies the history from the entries instead.
#[test]
fn a_restarted_enclave_resumes_from_its_sealed_segments_or_reverifies() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let bundle = std::fs::read(&bundles()[0]).unwrap();
        let versions: Vec<Vec<u8>> =
            healthchain_fhir::split_into_versions(&bundle).unwrap().into_iter().map(|v| v.bytes).collect();
        assert!(versions.len() >= 5, "the first patient has several visits");
        let program = common::program();
        let open = || {
            healthchain_core::environment::Environment::open(
                home.path(),
                &program,
                healthchain_core::environment::ChainStorage::Durable,
            )
        };
        let segment = |record: &OwnedRecord, version: u64| {
            let id = alloy_primitives::hex::encode(record.record_id);
            home.path().join("enclave").join(format!("update-{id}-{version}.sealed"))
        };

        let mut record = {
            let env = open().await.unwrap();
            let owner = Owner::new(&env, dev_key(1)).await.unwrap();
            let mut record = owner.upload(&versions[0], FHIR_R4).await.unwrap();
            for v in &versions[1..3] {
                owner.update(&mut record, v).await.unwrap();
            }
            record
        };
        let sealed: Vec<Vec<u8>> = (1..=3).map(|v| std::fs::read(segment(&record, v)).unwrap()).collect();

        // restart: the context comes back from the segments (none is re-sealed)
        {
            let env = open().await.unwrap();
            let owner = Owner::new(&env, dev_key(1)).await.unwrap();
            owner.update(&mut record, &versions[3]).await.unwrap();
            for (v, before) in (1..=3).zip(&sealed) {
                assert_eq!(&std::fs::read(segment(&record, v)).unwrap(), before, "segment {v} was rewritten");
            }
        }

        // restart without segment 2: the enclave re-verifies versions 1–4 from their entries
        std::fs::remove_file(segment(&record, 2)).unwrap();
        let env = open().await.unwrap();
        let owner = Owner::new(&env, dev_key(1)).await.unwrap();
        owner.update(&mut record, &versions[4]).await.unwrap();
        assert!(segment(&record, 2).exists(), "re-verifying version 2 sealed its segment again");
        assert_ne!(std::fs::read(segment(&record, 1)).unwrap(), sealed[0], "version 1 was re-verified too");

        let report = verify(&env, record.record_id).await.unwrap();
        assert_eq!(report.versions.len(), 5);
        assert!(report.all_qualified(), "{:?}", report.versions);
    });
}
