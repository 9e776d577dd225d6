//! The EHR store through its trusted-application interface, in process: round trips with
//! Synthea bundles, warrants, refusals, encryption at rest, durability and sealed keys.

mod common;

use alloy_primitives::{Address, B256};
use common::*;
use healthchain_crypto::eip712::{self, SignedWarrant};
use healthchain_crypto::hash::sha256;
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{
    AllowList, BatchEhr, BenchRequest, BenchResponse, EhrError, EhrRequest, EhrResponse, ManualClock,
    UncheckedRegistry, WireWarrant, db,
};

fn written(response: EhrResponse) -> healthchain_ehr::Receipt {
    match response {
        EhrResponse::Written(receipt) => receipt,
        other => panic!("expected a write receipt, got {other:?}"),
    }
}

fn list(enclave: &mut LocalEnclave, patient: Address) -> Vec<(String, u64, B256)> {
    match enclave.call(patient, &EhrRequest::List { patient }).unwrap() {
        EhrResponse::List(items) => items.into_iter().map(|s| (s.ehr_id, s.version, s.ehr_hash)).collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn create_get_list_update_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let (patient, doctor) = (key(1), key(2));
    let w = warrant(&patient, &[&doctor]);
    let (bill, _) = bundle("Bill_Reinger");
    let (dana, _) = bundle("Dana_Feest");
    let first = truncated_bundle(&bill, 40);

    let receipt = written(
        enclave
            .call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr: new_ehr("visit-1", first.clone()) })
            .unwrap(),
    );
    assert_eq!(receipt.version, 1);
    assert_eq!(receipt.patient, patient.address());
    assert_eq!(receipt.ehr_hash, B256::from(sha256(&first)));
    assert_eq!(receipt.at, NOW);
    let mut other = new_ehr("visit-0", dana.clone());
    other.expected_hash = Some(B256::from(sha256(&dana)));
    enclave.call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr: other }).unwrap();

    let record = get(&mut enclave, patient.address(), "visit-1", None);
    assert_eq!(record.body, first);
    assert_eq!(record.ehr_hash, B256::from(sha256(&first)));
    assert_eq!(record.author, doctor.address());
    assert_eq!((record.status, record.ehr_type), (1, 2));
    assert_eq!(record.hospitals, vec![Address::repeat_byte(0x4b)]);
    assert_eq!(
        list(&mut enclave, patient.address()),
        vec![("visit-0".into(), 1, B256::from(sha256(&dana))), ("visit-1".into(), 1, B256::from(sha256(&first)))]
    );

    // An update (follow-up entries) is a new version; the old one stays readable.
    clock.set(NOW + 60);
    let mut follow_up = new_ehr("visit-1", bill.clone());
    follow_up.status = 3;
    let receipt =
        written(enclave.call(doctor.address(), &EhrRequest::Update { warrant: w.clone(), ehr: follow_up }).unwrap());
    assert_eq!((receipt.version, receipt.ehr_hash), (2, B256::from(sha256(&bill))));
    let current = get(&mut enclave, patient.address(), "visit-1", None);
    assert_eq!((current.version, current.status, current.created_at, current.updated_at), (2, 3, NOW, NOW + 60));
    assert_eq!(current.body, bill);
    let old = get(&mut enclave, patient.address(), "visit-1", Some(1));
    assert_eq!((old.version, old.body), (1, first.clone()));
    assert_eq!(get(&mut enclave, patient.address(), "visit-1", Some(2)).body, bill);
    assert!(matches!(
        enclave.call(
            patient.address(),
            &EhrRequest::Get { patient: patient.address(), ehr_id: "visit-1".into(), version: Some(3) }
        ),
        Err(EhrError::NotFound { version: Some(3), .. })
    ));
    assert_eq!(list(&mut enclave, patient.address())[1], ("visit-1".into(), 2, B256::from(sha256(&bill))));

    // Updating an EHR that does not exist is refused.
    assert!(matches!(
        enclave.call(doctor.address(), &EhrRequest::Update { warrant: w.clone(), ehr: new_ehr("nope", bill.clone()) }),
        Err(EhrError::NotFound { .. })
    ));

    // Delete erases every version.
    let deleted =
        enclave.call(doctor.address(), &EhrRequest::Delete { warrant: w.clone(), ehr_id: "visit-1".into() }).unwrap();
    assert_eq!(deleted, EhrResponse::Deleted { versions: 2 });
    for version in [None, Some(1)] {
        assert!(matches!(
            enclave.call(
                patient.address(),
                &EhrRequest::Get { patient: patient.address(), ehr_id: "visit-1".into(), version }
            ),
            Err(EhrError::NotFound { .. })
        ));
    }
    assert_eq!(list(&mut enclave, patient.address()).len(), 1);
    assert!(matches!(
        enclave.call(doctor.address(), &EhrRequest::Delete { warrant: w, ehr_id: "visit-1".into() }),
        Err(EhrError::NotFound { .. })
    ));
}

#[test]
fn three_doctor_ordered_warrant() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let (patient, d1, d2, d3) = (key(1), key(2), key(3), key(4));
    let w = warrant(&patient, &[&d1, &d2, &d3]);
    let (body, _) = bundle("Clemente_Kreiger");
    let create = |id: &str| EhrRequest::Create { warrant: w.clone(), ehr: new_ehr(id, truncated_bundle(&body, 10)) };

    // D2 and D3 before D1: refused, nothing stored.
    assert_eq!(
        enclave.call(d2.address(), &create("d2")),
        Err(EhrError::OutOfOrder { doctor: d2.address(), position: 1, written: 0 })
    );
    assert_eq!(
        enclave.call(d3.address(), &create("d3")),
        Err(EhrError::OutOfOrder { doctor: d3.address(), position: 2, written: 0 })
    );
    assert!(list(&mut enclave, patient.address()).is_empty());

    enclave.call(d1.address(), &create("d1")).unwrap();
    // D3 still has to wait for D2.
    assert_eq!(
        enclave.call(d3.address(), &create("d3")),
        Err(EhrError::OutOfOrder { doctor: d3.address(), position: 2, written: 1 })
    );
    enclave.call(d2.address(), &create("d2")).unwrap();
    // D2 builds on D1's EHR: an update of it under the same warrant.
    let update = EhrRequest::Update { warrant: w.clone(), ehr: new_ehr("d1", truncated_bundle(&body, 20)) };
    assert_eq!(written(enclave.call(d2.address(), &update).unwrap()).version, 2);
    enclave.call(d3.address(), &create("d3")).unwrap();
    // An earlier doctor may still write within their period (as on-chain).
    enclave.call(d1.address(), &create("d1-late")).unwrap();
    let ids: Vec<_> = list(&mut enclave, patient.address()).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids, ["d1", "d1-late", "d2", "d3"]);
    let authors: Vec<_> =
        ["d1", "d2", "d3"].iter().map(|id| get(&mut enclave, patient.address(), id, None).author).collect();
    assert_eq!(authors, [d2.address(), d2.address(), d3.address()]);
    assert_eq!(get(&mut enclave, patient.address(), "d1", Some(1)).author, d1.address());
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (patient, doctor, stranger, other_doctor) = (key(1), key(2), key(3), key(5));
    let registry = AllowList::new([doctor.address(), other_doctor.address()], []);
    let mut enclave = LocalEnclave::new(app(&clock, Box::new(registry), false), dir.path(), PLATFORM, MEASUREMENT);
    let w = warrant(&patient, &[&doctor]);
    let (body, _) = bundle("Denny_Bins");
    let create = |warrant, id: &str| EhrRequest::Create { warrant, ehr: new_ehr(id, body.clone()) };
    enclave.call(doctor.address(), &create(w.clone(), "kept")).unwrap();
    let before = list(&mut enclave, patient.address());
    let snapshot = |enclave: &mut LocalEnclave| {
        (
            list(enclave, patient.address()),
            get(enclave, patient.address(), "kept", None),
            list(enclave, stranger.address()),
        )
    };
    let baseline = snapshot(&mut enclave);

    // A doctor the warrant does not name.
    assert_eq!(
        enclave.call(other_doctor.address(), &create(w.clone(), "x")),
        Err(EhrError::DoctorNotNamed { doctor: other_doctor.address() })
    );
    // Outside the doctor's period: before and after.
    let later = warrant_signed_by(&patient, &patient, &[(&doctor, NOW + 10, NOW + 20)]);
    assert_eq!(
        enclave.call(doctor.address(), &create(later.clone(), "x")),
        Err(EhrError::OutsidePeriod { doctor: doctor.address(), not_before: NOW + 10, not_after: NOW + 20, now: NOW })
    );
    let expired = warrant_signed_by(&patient, &patient, &[(&doctor, NOW - 20, NOW - 10)]);
    assert!(matches!(enclave.call(doctor.address(), &create(expired, "x")), Err(EhrError::OutsidePeriod { .. })));
    // The same warrant after it has been used once: the period is checked on every write.
    clock.set(NOW + 2 * DAY);
    assert!(matches!(enclave.call(doctor.address(), &create(w.clone(), "x")), Err(EhrError::OutsidePeriod { .. })));
    clock.set(NOW);
    // Forged: a warrant the patient never signed, signed by the doctor instead.
    let forged = warrant_signed_by(&doctor, &patient, &[(&doctor, NOW - DAY, NOW + 2 * DAY)]);
    match enclave.call(doctor.address(), &create(forged.clone(), "x")) {
        Err(EhrError::WarrantSignature { reason }) => assert!(reason.contains("expected"), "{reason}"),
        other => panic!("expected a signature refusal, got {other:?}"),
    }
    // Tampered: another doctor slipped into a patient-signed warrant.
    let mut tampered = w.clone();
    tampered.doctors.push(healthchain_ehr::WireTerm {
        doctor: other_doctor.address(),
        not_before: 0,
        not_after: u64::MAX,
    });
    assert!(matches!(
        enclave.call(other_doctor.address(), &create(tampered, "x")),
        Err(EhrError::WarrantSignature { .. })
    ));
    let mut short = w.clone();
    short.signature.truncate(10);
    assert!(matches!(enclave.call(doctor.address(), &create(short, "x")), Err(EhrError::WarrantSignature { .. })));
    // The patient's signature of another warrant.
    let mut transplanted = forged.clone();
    transplanted.signature = w.signature.clone();
    assert!(matches!(
        enclave.call(doctor.address(), &create(transplanted, "x")),
        Err(EhrError::WarrantSignature { .. })
    ));
    // Signed by the patient, but for another chain.
    let other_chain = SignedWarrant::try_from(&forged).unwrap().warrant;
    let other_chain: WireWarrant =
        (&SignedWarrant::sign(&patient, other_chain, &eip712::domain(CHAIN_ID + 1, REGISTRY))).into();
    assert!(matches!(
        enclave.call(doctor.address(), &create(other_chain, "x")),
        Err(EhrError::WarrantSignature { .. })
    ));
    // Named and in period, but not registered.
    let unregistered = key(6);
    let w6 = warrant(&patient, &[&unregistered]);
    assert!(matches!(enclave.call(unregistered.address(), &create(w6, "x")), Err(EhrError::UnregisteredDoctor { .. })));
    // A stranger (and even the writing doctor) reading or listing the patient's EHRs.
    for reader in [&stranger, &doctor] {
        let get = EhrRequest::Get { patient: patient.address(), ehr_id: "kept".into(), version: None };
        assert_eq!(
            enclave.call(reader.address(), &get),
            Err(EhrError::NotPatient { caller: reader.address(), patient: patient.address() })
        );
        assert!(matches!(
            enclave.call(reader.address(), &EhrRequest::List { patient: patient.address() }),
            Err(EhrError::NotPatient { .. })
        ));
    }
    // Duplicate create: refused, the original untouched.
    let mut duplicate = new_ehr("kept", b"{\"resourceType\":\"Bundle\"}".to_vec());
    duplicate.status = 9;
    assert_eq!(
        enclave.call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr: duplicate }),
        Err(EhrError::Duplicate { patient: patient.address(), ehr_id: "kept".into() })
    );
    // A hash that is not the bytes' hash.
    let mut mismatched = new_ehr("x", body.clone());
    mismatched.expected_hash = Some(B256::repeat_byte(1));
    assert!(matches!(
        enclave.call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr: mismatched }),
        Err(EhrError::HashMismatch { .. })
    ));
    // Invalid ids and bodies, undecodable requests.
    assert!(matches!(enclave.call(doctor.address(), &create(w.clone(), "")), Err(EhrError::InvalidRequest(_))));
    let empty = EhrRequest::Create { warrant: w.clone(), ehr: new_ehr("x", Vec::new()) };
    assert!(matches!(enclave.call(doctor.address(), &empty), Err(EhrError::InvalidRequest(_))));
    let reply = enclave.call_raw(doctor.address(), &[0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(
        postcard::from_bytes::<healthchain_ehr::EhrReply>(&reply).unwrap(),
        Err(EhrError::InvalidRequest(_))
    ));
    // A batch with one bad entry stores nothing, not even its good entries.
    let batch = EhrRequest::CreateMany {
        warrants: vec![w.clone()],
        ehrs: vec![
            BatchEhr { warrant: 0, ehr: new_ehr("batch-ok", body.clone()) },
            BatchEhr { warrant: 0, ehr: new_ehr("kept", body.clone()) },
        ],
    };
    match enclave.call(doctor.address(), &batch) {
        Err(EhrError::InBatch { index: 1, error }) => assert!(matches!(*error, EhrError::Duplicate { .. })),
        other => panic!("expected the batch to be refused at entry 1, got {other:?}"),
    }
    let bad_index = EhrRequest::CreateMany {
        warrants: vec![w.clone()],
        ehrs: vec![BatchEhr { warrant: 3, ehr: new_ehr("batch-ok", body.clone()) }],
    };
    assert!(matches!(enclave.call(doctor.address(), &bad_index), Err(EhrError::InBatch { index: 0, .. })));
    let bad_warrant = EhrRequest::CreateMany {
        warrants: vec![w.clone(), forged],
        ehrs: vec![BatchEhr { warrant: 0, ehr: new_ehr("batch-ok", body.clone()) }],
    };
    assert!(matches!(enclave.call(doctor.address(), &bad_warrant), Err(EhrError::InBatchWarrant { index: 1, .. })));
    // The benchmark table is off in this configuration.
    assert_eq!(
        enclave.call(doctor.address(), &EhrRequest::Bench(BenchRequest::DeleteAll)),
        Err(EhrError::BenchDisabled)
    );
    // Only the patient can revoke; after revocation the warrant admits no write.
    assert!(matches!(
        enclave.call(doctor.address(), &EhrRequest::RevokeWarrant { warrant: w.clone() }),
        Err(EhrError::NotPatient { .. })
    ));

    assert_eq!(snapshot(&mut enclave), baseline, "no refusal changed anything");
    assert_eq!(list(&mut enclave, patient.address()), before);

    let revoked = enclave.call(patient.address(), &EhrRequest::RevokeWarrant { warrant: w.clone() }).unwrap();
    assert!(matches!(revoked, EhrResponse::Revoked { .. }));
    assert!(matches!(enclave.call(doctor.address(), &create(w, "x")), Err(EhrError::WarrantRevoked { .. })));
    assert_eq!(snapshot(&mut enclave), baseline);
}

#[test]
fn create_many_commits_a_batch_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let (doctor, patients, warrants, ehrs) = three_patient_batch(300, 7);
    let response = enclave.call(doctor.address(), &EhrRequest::CreateMany { warrants, ehrs: ehrs.clone() }).unwrap();
    let EhrResponse::WrittenMany { warrant_ids, ehr_hashes, at, count, .. } = response else {
        panic!("expected WrittenMany")
    };
    assert_eq!((warrant_ids.len(), ehr_hashes.len(), at, count), (3, 300, NOW, 300));
    for (entry, hash) in ehrs.iter().zip(&ehr_hashes) {
        assert_eq!(*hash, B256::from(sha256(&entry.ehr.body)));
    }
    for (p, patient) in patients.iter().enumerate() {
        let listed = list(&mut enclave, patient.address());
        assert_eq!(listed.len(), 100);
        let first = get(&mut enclave, patient.address(), &format!("ehr-{p:04}"), None);
        assert_eq!(first.body, ehrs[p].ehr.body);
        assert_eq!(first.warrant_id, warrant_ids[p]);
    }
}

#[test]
fn database_holds_no_plaintext_and_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let (patient, doctor) = (key(1), key(2));
    let (body, family) = bundle("Bill_Reinger");
    assert!(contains(&body, family.as_bytes()));
    enclave
        .call(doctor.address(), &EhrRequest::Create { warrant: warrant(&patient, &[&doctor]), ehr: new_ehr("e", body) })
        .unwrap();
    // While open (the write is in the WAL) and after closing (checkpointed into the file).
    for phase in ["open", "closed"] {
        let bytes = database_bytes(dir.path());
        assert!(bytes.len() > 400_000, "{phase}: the bundle is stored ({} bytes on disk)", bytes.len());
        for needle in [family.as_bytes(), b"resourceType".as_slice(), b"SQLite format 3".as_slice(), b"CREATE TABLE"] {
            assert!(
                !contains(&bytes, needle),
                "{phase}: {:?} found in the database files",
                String::from_utf8_lossy(needle)
            );
        }
        enclave.app_mut().close();
    }
    // Without the key, or with another key, the file does not open.
    let path = dir.path().join(db::DB_FILE);
    match db::open_connection(&path, None) {
        Err(EhrError::WrongKey { reason, .. }) => assert!(reason.contains("not a database"), "{reason}"),
        other => panic!("expected WrongKey without a key, got {:?}", other.map(|_| ())),
    }
    match db::open_connection(&path, Some(&db::DbKey::generate())) {
        Err(EhrError::WrongKey { .. }) => {}
        other => panic!("expected WrongKey with another key, got {:?}", other.map(|_| ())),
    }
    // Plain rusqlite, as an attacker on the host would.
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert!(raw.query_row("SELECT count(*) FROM ehr", [], |r| r.get::<_, i64>(0)).is_err());
    raw.pragma_update(None, "key", "a guessed passphrase").unwrap();
    assert!(raw.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err());
    // The sealed key blob on the host is not the raw key either (sealed with AES-GCM).
    let sealed = std::fs::read(dir.path().join("ehr-db-key.sealed")).unwrap();
    assert_eq!(sealed.len(), 12 + 32 + 16);
}

#[test]
fn data_survives_closing_and_reopening_with_the_sealed_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (patient, doctor) = (key(1), key(2));
    let (body, _) = bundle("Eddy_Fadel");
    let w = warrant(&patient, &[&doctor, &key(3)]);
    {
        let mut enclave = enclave(dir.path(), &clock);
        enclave
            .call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr: new_ehr("e", body.clone()) })
            .unwrap();
        // Dropped here without any explicit shutdown: the write was committed with fsync.
    }
    let mut reopened = enclave(dir.path(), &clock);
    assert_eq!(get(&mut reopened, patient.address(), "e", None).body, body);
    // Warrant progress survives too: doctor 2 of the order may write now.
    reopened.call(key(3).address(), &EhrRequest::Create { warrant: w, ehr: new_ehr("f", body.clone()) }).unwrap();
    reopened.app_mut().close();
    assert_eq!(list(&mut reopened, patient.address()).len(), 2);
}

#[test]
fn wrong_or_missing_sealed_key_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (patient, doctor) = (key(1), key(2));
    let create = EhrRequest::Create { warrant: warrant(&patient, &[&doctor]), ehr: new_ehr("e", b"{}".to_vec()) };
    enclave(dir.path(), &clock).call(doctor.address(), &create).unwrap();

    // Other enclave code (another measurement's sealing key) cannot unseal the key.
    let mut other_code =
        LocalEnclave::new(app(&clock, Box::new(UncheckedRegistry), true), dir.path(), PLATFORM, [8; 32]);
    match other_code.call(patient.address(), &EhrRequest::List { patient: patient.address() }) {
        Err(EhrError::SealedKey(message)) => assert!(message.contains("does not open"), "{message}"),
        other => panic!("expected a sealed-key error, got {other:?}"),
    }
    // Nor another platform.
    let mut other_platform =
        LocalEnclave::new(app(&clock, Box::new(UncheckedRegistry), true), dir.path(), [1; 32], MEASUREMENT);
    assert!(matches!(other_platform.call(doctor.address(), &create), Err(EhrError::SealedKey(_))));

    // Another enclave's database under this enclave's key: does not open.
    let elsewhere = tempfile::tempdir().unwrap();
    enclave(elsewhere.path(), &clock)
        .call(
            doctor.address(),
            &EhrRequest::Create { warrant: warrant(&patient, &[&doctor]), ehr: new_ehr("e", b"{}".to_vec()) },
        )
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("ehr.db{suffix}");
        let _ = std::fs::remove_file(dir.path().join(&name));
        if elsewhere.path().join(&name).exists() {
            std::fs::copy(elsewhere.path().join(&name), dir.path().join(&name)).unwrap();
        }
    }
    match enclave(dir.path(), &clock).call(patient.address(), &EhrRequest::List { patient: patient.address() }) {
        Err(EhrError::WrongKey { path, .. }) => assert!(path.ends_with("ehr.db")),
        other => panic!("expected WrongKey, got {other:?}"),
    }

    // The key blob is gone but the database is there: refuse instead of making a new key.
    std::fs::remove_file(dir.path().join("ehr-db-key.sealed")).unwrap();
    match enclave(dir.path(), &clock).call(patient.address(), &EhrRequest::List { patient: patient.address() }) {
        Err(EhrError::KeyMissing { label, .. }) => assert_eq!(label, "ehr-db-key"),
        other => panic!("expected KeyMissing, got {other:?}"),
    }
    assert!(!dir.path().join("ehr-db-key.sealed").exists(), "no new key was sealed");
}

#[test]
fn figure7_table_through_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let caller = key(9).address();
    let rows = db::figure7_rows(1_000, 100);
    let bench = |enclave: &mut LocalEnclave, request| match enclave.call(caller, &EhrRequest::Bench(request)).unwrap() {
        EhrResponse::Bench(response) => response,
        other => panic!("expected a bench response, got {other:?}"),
    };
    assert_eq!(bench(&mut enclave, BenchRequest::Insert { rows: rows.clone() }), BenchResponse::Changed(1_000));
    let expected: Vec<_> = rows.iter().filter(|r| r.t1 == 42).cloned().collect();
    assert_eq!(expected.len(), 10);
    assert_eq!(bench(&mut enclave, BenchRequest::Select { t1: 42 }), BenchResponse::Rows(expected));
    assert_eq!(bench(&mut enclave, BenchRequest::Update { t1: 42, new_t1: 4242 }), BenchResponse::Changed(10));
    assert_eq!(bench(&mut enclave, BenchRequest::Select { t1: 42 }), BenchResponse::Rows(vec![]));
    assert_eq!(bench(&mut enclave, BenchRequest::DeleteAll), BenchResponse::Changed(1_000));
    // The benchmark table and the EHR tables do not see each other.
    let patient = key(1);
    assert!(list(&mut enclave, patient.address()).is_empty());
}

#[test]
fn hospital_fetch_with_a_configured_registry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (patient, doctor, listed, unlisted) = (key(1), key(2), key(20), key(21));
    let registry = AllowList::new([doctor.address()], [listed.address()]);
    let mut listing = LocalEnclave::new(app(&clock, Box::new(registry), false), dir.path(), PLATFORM, MEASUREMENT);
    let w = warrant(&patient, &[&doctor]);
    let (body, _) = bundle("Denny_Bins");
    for (id, hospitals) in [("both", vec![listed.address(), unlisted.address()]), ("other", vec![unlisted.address()])] {
        let ehr = healthchain_ehr::NewEhr { hospitals, ..new_ehr(id, truncated_bundle(&body, 5)) };
        listing.call(doctor.address(), &EhrRequest::Create { warrant: w.clone(), ehr }).unwrap();
    }
    let fetch = EhrRequest::HospitalFetch { patient: patient.address() };
    match listing.call(listed.address(), &fetch).unwrap() {
        EhrResponse::Ehrs(records) => assert_eq!(records, vec![get(&mut listing, patient.address(), "both", None)]),
        other => panic!("expected EHRs, got {other:?}"),
    }
    for caller in [&unlisted, &doctor, &patient] {
        assert_eq!(
            listing.call(caller.address(), &fetch),
            Err(EhrError::NotApprovedHospital {
                caller: caller.address(),
                reason: "not in the enclave's list of hospitals".into()
            })
        );
    }

    // Without registration checks, a caller still gets only the EHRs naming it.
    let unchecked = tempfile::tempdir().unwrap();
    let mut unchecked_enclave = enclave(unchecked.path(), &clock);
    let ehr = healthchain_ehr::NewEhr { hospitals: vec![unlisted.address()], ..new_ehr("e", body.clone()) };
    unchecked_enclave.call(doctor.address(), &EhrRequest::Create { warrant: w, ehr }).unwrap();
    let ids = |reply: Result<EhrResponse, EhrError>| -> Vec<String> {
        match reply {
            Ok(EhrResponse::Ehrs(records)) => records.into_iter().map(|r| r.ehr_id).collect(),
            other => panic!("expected EHRs, got {other:?}"),
        }
    };
    assert_eq!(ids(unchecked_enclave.call(unlisted.address(), &fetch)), ["e"]);
    assert!(ids(unchecked_enclave.call(listed.address(), &fetch)).is_empty());
}

/// A database damaged on disk (one byte of a data page flipped, as a crash or someone with
/// the file might) is refused as it opens, naming the damage, not served until a read
/// happens to touch it.
#[test]
fn a_damaged_database_is_refused_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    let key = db::DbKey::generate();
    {
        let database = db::Database::open(&path, Some(&key)).unwrap();
        db::migrate(database.connection()).unwrap();
        database.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    assert!(db::Database::open(&path, Some(&key)).is_ok(), "an intact database opens");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 3 * 4096, "the schema spans several pages");
    bytes[2 * 4096 + 100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("damaged.db-wal"));
    match db::Database::open(&path, Some(&key)) {
        Err(EhrError::Storage(message)) => assert!(message.contains("fails its integrity check"), "{message}"),
        other => panic!("expected the integrity check to refuse it, got {:?}", other.map(|_| ())),
    }
}
