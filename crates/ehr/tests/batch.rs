//! Batched anchoring: a `CreateMany` stores each EHR with its place in the batch's Merkle
//! tree and returns the enclave's `EhrBatch` report over the root.

mod common;

use alloy_primitives::{Address, B256};
use common::*;
use healthchain_crypto::eip712;
use healthchain_crypto::merkle::MerkleError;
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{BatchEhr, BatchReport, EhrRecord, EhrRequest, EhrResponse, ManualClock, NewEhr, db};

struct Written {
    root: B256,
    count: u32,
    signature: Vec<u8>,
}

fn create_many(enclave: &mut LocalEnclave, doctor: Address, request: &EhrRequest) -> Written {
    match enclave.call(doctor, request).unwrap() {
        EhrResponse::WrittenMany { root, count, signature, .. } => Written { root, count, signature },
        other => panic!("expected WrittenMany, got {other:?}"),
    }
}

#[test]
fn create_many_signs_the_root_and_every_ehr_proves_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    // An odd count, so the tree has promoted nodes.
    let (doctor, patients, warrants, ehrs) = three_patient_batch(101, 5);
    let written = create_many(&mut enclave, doctor.address(), &EhrRequest::CreateMany { warrants, ehrs: ehrs.clone() });
    assert_eq!(written.count, 101);

    // The report recovers to the enclave's report signer, for this doctor, root and count,
    // under EhrRegistry's domain only.
    let domain = eip712::domain(CHAIN_ID, REGISTRY);
    let report =
        |doctor: Address, root: B256, count: u32| BatchReport { doctor, root, count, signature: &written.signature };
    report(doctor.address(), written.root, 101).check(&domain, enclave.report_signer()).unwrap();
    assert!(report(doctor.address(), written.root, 101).check(&domain, doctor.address()).is_err());
    assert!(report(key(3).address(), written.root, 101).check(&domain, enclave.report_signer()).is_err());
    assert!(report(doctor.address(), B256::ZERO, 101).check(&domain, enclave.report_signer()).is_err());
    assert!(report(doctor.address(), written.root, 100).check(&domain, enclave.report_signer()).is_err());
    let elsewhere = eip712::domain(CHAIN_ID, Address::ZERO);
    assert!(report(doctor.address(), written.root, 101).check(&elsewhere, enclave.report_signer()).is_err());

    // Every stored EHR carries its anchor, and its proof verifies against the signed root.
    for (i, entry) in ehrs.iter().enumerate() {
        let patient = patients[i % 3].address();
        let record = get(&mut enclave, patient, &entry.ehr.ehr_id, None);
        let anchor = record.anchor.clone().expect("a batch EHR has an anchor");
        assert_eq!((anchor.root, anchor.index, anchor.count), (written.root, i as u32, 101));
        anchor.verify(&record).unwrap_or_else(|e| panic!("EHR {i}: {e}"));
    }

    // An altered EHR (any leaf field), index or proof fails.
    let record = get(&mut enclave, patients[1].address(), "ehr-0007", None);
    let anchor = record.anchor.clone().unwrap();
    let altered = [
        EhrRecord { ehr_hash: B256::repeat_byte(1), ..record.clone() },
        EhrRecord { ehr_id: "ehr-0010".into(), ..record.clone() },
        EhrRecord { version: 2, ..record.clone() },
        EhrRecord { patient: patients[0].address(), ..record.clone() },
        EhrRecord { warrant_id: B256::repeat_byte(2), ..record.clone() },
        EhrRecord { author: key(3).address(), ..record.clone() },
    ];
    for bad in &altered {
        assert!(matches!(anchor.verify(bad), Err(MerkleError::RootMismatch { .. })), "{:?}", bad.ehr_id);
    }
    let mut moved = anchor.clone();
    moved.index = 8;
    assert!(moved.verify(&record).is_err());
    let mut tampered = anchor.clone();
    tampered.proof[0].0[31] ^= 1;
    assert!(matches!(tampered.verify(&record), Err(MerkleError::RootMismatch { .. })));
    let mut truncated = anchor.clone();
    truncated.proof.pop();
    assert!(matches!(truncated.verify(&record), Err(MerkleError::ProofLength { .. })));
    let mut other_root = anchor;
    other_root.root = B256::repeat_byte(3);
    assert!(other_root.verify(&record).is_err());
}

#[test]
fn single_ehr_batches_updates_and_hospital_fetches_keep_the_anchor_straight() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = enclave(dir.path(), &clock);
    let (patient, doctor) = (key(1), key(2));
    let w = warrant(&patient, &[&doctor]);
    let (body, _) = bundle("Kermit_Trantow");
    let one = EhrRequest::CreateMany {
        warrants: vec![w.clone()],
        ehrs: vec![BatchEhr { warrant: 0, ehr: new_ehr("only", truncated_bundle(&body, 3)) }],
    };
    let written = create_many(&mut enclave, doctor.address(), &one);
    let first = get(&mut enclave, patient.address(), "only", None);
    let anchor = first.anchor.clone().unwrap();
    // One leaf: the root is the leaf, the proof is empty.
    assert_eq!((anchor.root, anchor.count, anchor.index, anchor.proof.len()), (written.root, 1, 0, 0));
    assert_eq!(first.leaf().hash(), written.root);
    anchor.verify(&first).unwrap();

    // The hospital named gets the anchor too.
    let hospital = Address::repeat_byte(0x4b);
    match enclave.call(hospital, &EhrRequest::HospitalFetch { patient: patient.address() }).unwrap() {
        EhrResponse::Ehrs(records) => assert_eq!(records[0].anchor, Some(anchor.clone())),
        other => panic!("expected EHRs, got {other:?}"),
    }

    // An update written alone has no anchor; the batch version keeps its own in the history.
    let update =
        EhrRequest::Update { warrant: w.clone(), ehr: NewEhr { ..new_ehr("only", truncated_bundle(&body, 4)) } };
    enclave.call(doctor.address(), &update).unwrap();
    assert_eq!(get(&mut enclave, patient.address(), "only", None).anchor, None);
    let old = get(&mut enclave, patient.address(), "only", Some(1));
    assert_eq!(old.anchor, Some(anchor.clone()));
    anchor.verify(&old).unwrap();

    // Single creates have none.
    let single = EhrRequest::Create { warrant: w, ehr: new_ehr("single", truncated_bundle(&body, 2)) };
    enclave.call(doctor.address(), &single).unwrap();
    assert_eq!(get(&mut enclave, patient.address(), "single", None).anchor, None);
}

#[test]
fn a_version_1_database_gains_the_batch_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let key = db::DbKey::generate();
    let connection = db::open_connection(&path, Some(&key)).unwrap();
    // The version 1 schema, with one EHR in it.
    let columns = "patient BLOB NOT NULL, ehr_id TEXT NOT NULL, version INTEGER NOT NULL,
                   created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, status INTEGER NOT NULL,
                   ehr_type INTEGER NOT NULL, ehr_hash BLOB NOT NULL, hospitals BLOB NOT NULL,
                   author BLOB NOT NULL, warrant_id BLOB NOT NULL, body BLOB NOT NULL";
    connection
        .execute_batch(&format!(
            "CREATE TABLE ehr (id INTEGER PRIMARY KEY, {columns}, UNIQUE (patient, ehr_id));
             CREATE TABLE ehr_history ({columns}, PRIMARY KEY (patient, ehr_id, version));
             CREATE TABLE warrant (warrant_id BLOB PRIMARY KEY, patient BLOB NOT NULL,
                                   written INTEGER NOT NULL, revoked INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE test (id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT);
             INSERT INTO ehr (patient, ehr_id, version, created_at, updated_at, status, ehr_type, ehr_hash,
                              hospitals, author, warrant_id, body)
                  VALUES (x'01', 'old', 1, 0, 0, 0, 0, x'02', x'', x'03', x'04', x'05');
             PRAGMA user_version = 1;"
        ))
        .unwrap();
    db::migrate(&connection).unwrap();
    db::migrate(&connection).unwrap();
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!(version, db::SCHEMA_VERSION);
    let (rows, anchored): (i64, i64) = connection
        .query_row("SELECT count(*), count(batch_root) FROM ehr", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    assert_eq!((rows, anchored), (1, 0));
    connection.query_row("SELECT count(batch_proof) FROM ehr_history", [], |row| row.get::<_, i64>(0)).unwrap();
}
