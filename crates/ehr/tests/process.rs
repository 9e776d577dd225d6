//! The EHR store inside the simulated enclave process, reached over attested sessions.

mod common;

use std::path::Path;

use alloy_primitives::B256;
use common::*;
use healthchain_crypto::hash::sha256;
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::client::{self, CallError};
use healthchain_ehr::{BenchRequest, BenchResponse, EhrError, EhrRequest, EhrResponse, NewEhr, db};
use healthchain_enclave::client::connect;
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave};
use healthchain_enclave::runtime::{STATUS_APP, Status};

const PROGRAM: &str = env!("CARGO_BIN_EXE_healthchain-ehr-enclave");

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn launch(state: &Path, doctors: &[&EthKey], hospitals: &[&EthKey]) -> SimulatedEnclave {
    let mut config = SimulatedConfig::new(PROGRAM, state, PLATFORM);
    config.args = vec!["--chain-id".into(), CHAIN_ID.to_string(), "--ehr-registry".into(), REGISTRY.to_string()];
    config.args.push("--bench-table".into());
    for doctor in doctors {
        config.args.extend(["--doctor".into(), doctor.address().to_string()]);
    }
    for hospital in hospitals {
        config.args.extend(["--hospital".into(), hospital.address().to_string()]);
    }
    SimulatedEnclave::launch(config).expect("the EHR enclave launches")
}

fn trusted(enclave: &SimulatedEnclave) -> EnclaveIdentity {
    let evidence = enclave.evidence();
    EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() }
}

/// A warrant valid around the enclave's (system) clock.
fn live_warrant(patient: &EthKey, doctors: &[&EthKey]) -> healthchain_ehr::WireWarrant {
    let now = now();
    let terms: Vec<_> = doctors.iter().map(|d| (*d, now - 3_600, now + 3_600)).collect();
    warrant_signed_by(patient, patient, &terms)
}

#[test]
fn ehr_store_across_the_process_boundary() {
    let state = tempfile::tempdir().unwrap();
    let (patient, doctor, stranger, unregistered, hospital) = (key(1), key(2), key(3), key(4), key(5));
    let (body, family) = bundle("Kermit_Trantow");
    let expected_hash = B256::from(sha256(&body));
    {
        let enclave = launch(state.path(), &[&doctor], &[&hospital]);
        let mut session = connect(&enclave, doctor.clone(), trusted(&enclave)).unwrap();
        let status: Status = session.call(STATUS_APP, &()).unwrap();
        assert_eq!(status.apps, vec!["ehr".to_string()]);

        let ehr = NewEhr {
            expected_hash: Some(expected_hash),
            hospitals: vec![hospital.address()],
            ..new_ehr("visit-1", body.clone())
        };
        let response =
            client::call(&mut session, &EhrRequest::Create { warrant: live_warrant(&patient, &[&doctor]), ehr })
                .unwrap();
        match response {
            EhrResponse::Written(receipt) => assert_eq!(receipt.ehr_hash, expected_hash),
            other => panic!("expected a receipt, got {other:?}"),
        }
        // The doctor may not read it back; the patient may.
        let get = EhrRequest::Get { patient: patient.address(), ehr_id: "visit-1".into(), version: None };
        assert!(matches!(client::call(&mut session, &get), Err(CallError::Refused(EhrError::NotPatient { .. }))));
        let mut as_patient = connect(&enclave, patient.clone(), trusted(&enclave)).unwrap();
        match client::call(&mut as_patient, &get).unwrap() {
            EhrResponse::Ehr(record) => assert_eq!((record.body, record.ehr_hash), (body.clone(), expected_hash)),
            other => panic!("expected the EHR, got {other:?}"),
        }
        let mut as_stranger = connect(&enclave, stranger.clone(), trusted(&enclave)).unwrap();
        assert!(matches!(client::call(&mut as_stranger, &get), Err(CallError::Refused(EhrError::NotPatient { .. }))));
        // The hospital the EHR names, admitted by the enclave's configuration, fetches it;
        // a caller the configuration does not list is refused.
        let fetch = EhrRequest::HospitalFetch { patient: patient.address() };
        let mut as_hospital = connect(&enclave, hospital.clone(), trusted(&enclave)).unwrap();
        match client::call(&mut as_hospital, &fetch).unwrap() {
            EhrResponse::Ehrs(records) => {
                assert_eq!(records.len(), 1);
                assert_eq!((&records[0].body, records[0].ehr_hash), (&body, expected_hash));
            }
            other => panic!("expected the EHRs, got {other:?}"),
        }
        assert!(matches!(
            client::call(&mut as_stranger, &fetch),
            Err(CallError::Refused(EhrError::NotApprovedHospital { .. }))
        ));
        // A doctor the enclave's registry does not list is refused even with a warrant.
        let mut as_unregistered = connect(&enclave, unregistered.clone(), trusted(&enclave)).unwrap();
        let create =
            EhrRequest::Create { warrant: live_warrant(&patient, &[&unregistered]), ehr: new_ehr("x", body.clone()) };
        assert!(matches!(
            client::call(&mut as_unregistered, &create),
            Err(CallError::Refused(EhrError::UnregisteredDoctor { .. }))
        ));
        // The Figure 7 table over the session.
        let rows = db::figure7_rows(1_000, 100);
        let bench = |session: &mut _, request| client::call(session, &EhrRequest::Bench(request)).unwrap();
        assert_eq!(
            bench(&mut as_stranger, BenchRequest::Insert { rows }),
            EhrResponse::Bench(BenchResponse::Changed(1_000))
        );
        assert_eq!(bench(&mut as_stranger, BenchRequest::DeleteAll), EhrResponse::Bench(BenchResponse::Changed(1_000)));
        session.close().unwrap();
    }
    // Nothing the host keeps holds the plaintext.
    for entry in std::fs::read_dir(state.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!contains(&bytes, family.as_bytes()));
    }
    // A fresh enclave process on the same state unseals the key and serves the data.
    let enclave = launch(state.path(), &[&doctor], &[]);
    let mut as_patient = connect(&enclave, patient.clone(), trusted(&enclave)).unwrap();
    match client::call(&mut as_patient, &EhrRequest::List { patient: patient.address() }).unwrap() {
        EhrResponse::List(items) => {
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].ehr_hash, expected_hash);
        }
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn acknowledged_writes_survive_a_killed_enclave() {
    let state = tempfile::tempdir().unwrap();
    let (patient, doctor) = (key(1), key(2));
    let enclave = launch(state.path(), &[&doctor], &[]);
    let mut session = connect(&enclave, doctor.clone(), trusted(&enclave)).unwrap();
    let w = live_warrant(&patient, &[&doctor]);
    let (body, _) = bundle("Lupe_Little");
    let ehrs = (0..200)
        .map(|i| healthchain_ehr::BatchEhr {
            warrant: 0,
            ehr: new_ehr(&format!("e{i:03}"), truncated_bundle(&body, 1 + i % 9)),
        })
        .collect();
    client::call(&mut session, &EhrRequest::CreateMany { warrants: vec![w.clone()], ehrs }).unwrap();
    client::call(&mut session, &EhrRequest::Create { warrant: w, ehr: new_ehr("last", body.clone()) }).unwrap();

    // SIGKILL right after the acknowledgement: no shutdown, no checkpoint.
    let pid = enclave.pid().unwrap();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    assert!(client::call(&mut session, &EhrRequest::List { patient: patient.address() }).is_err());
    assert_eq!(enclave.restarts(), 1);

    let mut as_patient = connect(&enclave, patient.clone(), trusted(&enclave)).unwrap();
    match client::call(&mut as_patient, &EhrRequest::List { patient: patient.address() }).unwrap() {
        EhrResponse::List(items) => assert_eq!(items.len(), 201),
        other => panic!("expected a list, got {other:?}"),
    }
    let get = EhrRequest::Get { patient: patient.address(), ehr_id: "last".into(), version: None };
    match client::call(&mut as_patient, &get).unwrap() {
        EhrResponse::Ehr(record) => assert_eq!(record.body, body),
        other => panic!("expected the EHR, got {other:?}"),
    }
}

#[test]
fn batch_reports_are_signed_by_the_enclave_process_report_key() {
    let state = tempfile::tempdir().unwrap();
    let (patient, doctor) = (key(1), key(2));
    let enclave = launch(state.path(), &[&doctor], &[]);
    let report_signer: alloy_primitives::Address = enclave.evidence().report_signer.into();
    let mut session = connect(&enclave, doctor.clone(), trusted(&enclave)).unwrap();
    let (body, _) = bundle("Lupe_Little");
    let ehrs: Vec<_> = (0..37)
        .map(|i| healthchain_ehr::BatchEhr {
            warrant: 0,
            ehr: new_ehr(&format!("b{i:02}"), truncated_bundle(&body, 1 + i % 4)),
        })
        .collect();
    let request = EhrRequest::CreateMany { warrants: vec![live_warrant(&patient, &[&doctor])], ehrs };
    let EhrResponse::WrittenMany { root, count, signature, .. } = client::call(&mut session, &request).unwrap() else {
        panic!("expected WrittenMany")
    };
    let domain = healthchain_crypto::eip712::domain(CHAIN_ID, REGISTRY);
    let report = healthchain_ehr::BatchReport { doctor: doctor.address(), root, count, signature: &signature };
    report.check(&domain, report_signer).unwrap();
    assert!(report.check(&domain, doctor.address()).is_err());

    let mut as_patient = connect(&enclave, patient.clone(), trusted(&enclave)).unwrap();
    for i in [0usize, 18, 36] {
        let get = EhrRequest::Get { patient: patient.address(), ehr_id: format!("b{i:02}"), version: None };
        let EhrResponse::Ehr(record) = client::call(&mut as_patient, &get).unwrap() else { panic!("expected an EHR") };
        let anchor = record.anchor.clone().expect("anchored");
        assert_eq!((anchor.root, anchor.index, anchor.count), (root, i as u32, 37));
        anchor.verify(&record).unwrap();
        let altered = healthchain_ehr::EhrRecord { ehr_hash: B256::repeat_byte(9), ..record };
        assert!(anchor.verify(&altered).is_err());
    }
}
