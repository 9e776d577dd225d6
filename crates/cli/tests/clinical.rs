//! Seed 001 (TrustHealth) end to end on the embedded defaults: a hospital approved on the
//! Directory enrols doctors, assigns treatment keys; patients sign warrants sealed under
//! them; one doctor (case 1) and three doctors in order (case 2) write Synthea bundles as
//! EHRs — hash on `EhrRegistry`, EHR into the enclave's SQLCipher store; the patient checks
//! integrity; the hospital fetches over an attested session — and every refusal.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy_primitives::{Address, B256};
use common::{bundles, program, runtime};
use healthchain_core::clinical::{ClinicalError, Doctor, EhrCheck, EhrDraft, Hospital, Patient, approve_hospital};
use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_crypto::eip712::{DoctorTerm, SignedWarrant};
use healthchain_crypto::hash::sha256;
use healthchain_ehr::client::CallError;
use healthchain_ehr::{EhrError, EhrRequest, EhrResponse};
use healthchain_enclave::client;
use healthchain_enclave::host::{EnclaveBackend, EnclaveError};
use healthchain_enclave::protocol::{Ecall, EcallResult};
use healthchain_ledger::errors::{ContractError, LedgerError};
use healthchain_ledger::testing::dev_key;

const DAY: u64 = 86_400;

/// The first `n` versions of shipped Synthea bundle `index` (each a FHIR R4 Bundle) and
/// the patient's family name.
fn synthea(index: usize, n: usize) -> (Vec<Vec<u8>>, String) {
    let bundle = std::fs::read(&bundles()[index]).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    let family = json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .map(|e| e["resource"]["name"][0]["family"].as_str().unwrap().to_string())
        .unwrap();
    let versions = healthchain_fhir::split_into_versions(&bundle).unwrap();
    (versions.into_iter().take(n).map(|v| v.bytes).collect(), family)
}

fn draft(ehr_id: &str, body: &[u8], hospitals: &[Address]) -> EhrDraft {
    EhrDraft { ehr_id: ehr_id.into(), status: 1, ehr_type: 2, hospitals: hospitals.to_vec(), body: body.to_vec() }
}

fn terms(doctors: &[Address], from: u64, until: u64) -> Vec<DoctorTerm> {
    doctors.iter().map(|&doctor| DoctorTerm { doctor, notBefore: from, notAfter: until }).collect()
}

/// Hospital `dev_key(20)`, registered and approved, with the doctors `dev_key(i)` for `i`
/// in `keys` enrolled.
async fn hospital_with_doctors(env: &Environment, keys: std::ops::Range<u32>) -> (Hospital<'_>, Vec<Doctor<'_>>) {
    let hospital = Hospital::new(env, dev_key(20)).await.unwrap();
    hospital.register("Mercy General, licence 0042").await.unwrap();
    approve_hospital(env, hospital.address()).await.unwrap();
    let mut doctors = Vec::new();
    for i in keys {
        let doctor = Doctor::new(env, dev_key(i)).await.unwrap();
        hospital.add_doctor(doctor.address(), &format!("Dr {i}"), "cardiology").await.unwrap();
        doctors.push(doctor);
    }
    (hospital, doctors)
}

async fn open(home: &Path) -> Environment {
    Environment::open(home, &program(), ChainStorage::Durable).await.expect("environment")
}

/// Sends `request` to the enclave's EHR store as `key`'s account, bypassing the client
/// flows (and the chain).
async fn call_store(env: &Environment, key: u32, request: EhrRequest) -> Result<EhrResponse, CallError> {
    let backend = env.backend();
    let identity = env.enclave_identity();
    tokio::task::spawn_blocking(move || {
        let mut session = client::connect(backend.as_ref(), dev_key(key), identity).unwrap();
        healthchain_ehr::client::call(&mut session, &request)
    })
    .await
    .unwrap()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The chain's refusal, for asserting which rule refused.
fn chain_refusal(error: &ClinicalError) -> &ContractError {
    match error {
        ClinicalError::Ledger(e) => match e.as_ref() {
            LedgerError::Reverted { error, .. } => error,
            other => panic!("expected a contract refusal, got {other}"),
        },
        other => panic!("expected the chain to refuse, got {other}"),
    }
}

#[test]
fn one_doctor_and_an_ordered_group_write_ehrs_patients_check_and_hospitals_fetch() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    let (family_1, family_2) = rt.block_on(async {
        let env = open(home.path()).await;
        let now = env.connection.timestamp().await.unwrap();
        let (hospital, doctors) = hospital_with_doctors(&env, 21..24).await;
        let patient_1 = Patient::new(&env, dev_key(30)).await.unwrap();
        let patient_2 = Patient::new(&env, dev_key(31)).await.unwrap();
        let other_hospital = Address::repeat_byte(0x77);

        // Case 1: one doctor.
        let (visits, family_1) = synthea(0, 2);
        let delivery = hospital.assign_treatment_key(patient_1.address(), &[doctors[0].address()]).await.unwrap();
        let ptk = delivery.open(&dev_key(30)).unwrap();
        let warrant = patient_1.sign_warrant(terms(&[doctors[0].address()], now - 60, now + 30 * DAY), B256::ZERO);
        let sealed = patient_1.seal_warrant(&ptk, &warrant);
        let ptk_doctor = doctors[0].treatment_key(&delivery).unwrap();
        let opened = doctors[0].open_warrant(&ptk_doctor, &sealed).unwrap();
        assert_eq!(opened, warrant);
        let written =
            doctors[0].write(&opened, draft("visit", &visits[0], &[hospital.address()]), false).await.unwrap();
        assert_eq!(written.receipt.ehr_hash, B256::from(sha256(&visits[0])));
        let ledger = env.ledger(&dev_key(30)).await.unwrap();
        assert_eq!(ledger.ehr().query(patient_1.address()).await.unwrap().ehr_hash, written.receipt.ehr_hash);
        // a new version of the same EHR: the chain's head follows
        let revised = doctors[0].write(&opened, draft("visit", &visits[1], &[hospital.address()]), true).await.unwrap();
        assert_eq!(revised.receipt.version, 2);
        assert_eq!(ledger.ehr().query(patient_1.address()).await.unwrap().ehr_hash, B256::from(sha256(&visits[1])));
        assert_eq!(patient_1.get("visit", Some(1)).await.unwrap().body, visits[0]);

        // Case 2: three doctors in order, each writing its own EHR.
        let (consults, family_2) = synthea(1, 3);
        let group: Vec<Address> = doctors.iter().map(Doctor::address).collect();
        let delivery = hospital.assign_treatment_key(patient_2.address(), &group).await.unwrap();
        let ptk = delivery.open(&dev_key(31)).unwrap();
        let warrant = patient_2.sign_warrant(terms(&group, now - 60, now + 30 * DAY), B256::ZERO);
        let sealed = patient_2.seal_warrant(&ptk, &warrant);
        for (i, doctor) in doctors.iter().enumerate() {
            let opened = doctor.open_warrant(&doctor.treatment_key(&delivery).unwrap(), &sealed).unwrap();
            // only the first and last name this hospital
            let hospitals = if i == 1 { vec![other_hospital] } else { vec![hospital.address()] };
            doctor.write(&opened, draft(&format!("consult-{}", i + 1), &consults[i], &hospitals), false).await.unwrap();
        }
        assert_eq!(ledger.ehr().query(patient_2.address()).await.unwrap().ehr_hash, B256::from(sha256(&consults[2])));

        // the patients' integrity checks
        for (patient, expected) in [(&patient_1, 1), (&patient_2, 3)] {
            let checked = patient.check_integrity().await.unwrap();
            assert_eq!(checked.len(), expected);
            for (record, check) in &checked {
                assert_eq!(*check, EhrCheck::Intact { hash: B256::from(sha256(&record.body)) });
            }
        }

        // the hospital fetches exactly the EHRs naming it, each intact
        let fetched = hospital.fetch(patient_2.address()).await.unwrap();
        let ids: Vec<&str> = fetched.iter().map(|(r, _)| r.ehr_id.as_str()).collect();
        assert_eq!(ids, ["consult-1", "consult-3"]);
        assert_eq!(fetched[0].0.body, consults[0]);
        assert!(fetched.iter().all(|(_, check)| matches!(check, EhrCheck::Intact { .. })));
        let fetched = hospital.fetch(patient_1.address()).await.unwrap();
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].0.body, visits[1]);

        // an on-chain hash that does not match the stored EHR is reported with both values:
        // doctor 3 anchors another hash under the same warrant, then stores different bytes
        // without telling the enclave what it anchored
        let anchored = B256::repeat_byte(0xab);
        let ledger_3 = env.ledger(&dev_key(23)).await.unwrap();
        ledger_3.ehr().update(&warrant.warrant, &warrant.signature, 2, 1, 2, anchored, vec![]).await.unwrap();
        let request = EhrRequest::Update {
            warrant: (&warrant).into(),
            ehr: healthchain_ehr::NewEhr {
                ehr_id: "consult-3".into(),
                status: 1,
                ehr_type: 2,
                hospitals: vec![hospital.address()],
                expected_hash: None,
                body: b"{\"resourceType\": \"Bundle\"}".to_vec(),
            },
        };
        call_store(&env, 23, request).await.unwrap();
        let checked = patient_2.check_integrity().await.unwrap();
        let (record, check) = checked.iter().find(|(r, _)| r.ehr_id == "consult-3").unwrap();
        let off_chain = B256::from(sha256(&record.body));
        match check {
            EhrCheck::Tampered { off_chain: reported, on_chain } => {
                assert_eq!(*reported, off_chain);
                assert!(on_chain.contains(&anchored) && !on_chain.contains(&off_chain));
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        (family_1, family_2)
    });

    // Nothing on disk holds a patient's name: not the SQLCipher database, its WAL, the
    // chain, the object store or the sealed blobs.
    for family in [&family_1, &family_2] {
        for file in files(home.path()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!contains(&bytes, family.as_bytes()), "{} holds the name {family}", file.display());
        }
    }
    let database = files(home.path()).into_iter().find(|p| p.file_name().is_some_and(|n| n == "ehr.db")).unwrap();
    // The database does not open without the sealed key.
    let plain = healthchain_ehr::db::open_connection(&database, None)
        .and_then(|c| healthchain_ehr::db::migrate(&c).map(|()| c));
    assert!(plain.is_err(), "the EHR database opened without its key");

    // One byte of the SQLCipher file altered (its first page, read on every open): the
    // patient's check fails loudly instead of returning data.
    let mut bytes = std::fs::read(&database).unwrap();
    bytes[2048] ^= 0x01;
    std::fs::write(&database, &bytes).unwrap();
    rt.block_on(async {
        let env = open(home.path()).await;
        let patient = Patient::new(&env, dev_key(30)).await.unwrap();
        match patient.check_integrity().await {
            // SQLCipher cannot tell a damaged first page from a wrong key; either way the
            // page's HMAC fails and nothing is returned
            Err(ClinicalError::Refused(error @ EhrError::WrongKey { .. })) => {
                assert!(error.to_string().contains("damaged"), "{error}");
            }
            other => panic!("expected the store to report the damaged database, got {other:?}"),
        }
    });
}

/// Records the last session record a client sent, so the test can send it again.
struct Recorder {
    inner: std::sync::Arc<dyn EnclaveBackend>,
    last: Mutex<Option<(u64, Vec<u8>)>>,
}

impl EnclaveBackend for Recorder {
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        if let Ecall::SessionRecord { session } = ecall {
            *self.last.lock().unwrap() = Some((*session, body.to_vec()));
        }
        self.inner.call(ecall, body)
    }

    fn evidence(&self) -> healthchain_enclave::evidence::Evidence {
        self.inner.evidence()
    }
}

#[test]
fn clinical_refusals_store_nothing() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = open(home.path()).await;
        let now = env.connection.timestamp().await.unwrap();
        let (_, enrolled) = hospital_with_doctors(&env, 21..23).await;
        let stranger = Doctor::new(&env, dev_key(25)).await.unwrap();
        let patient = Patient::new(&env, dev_key(30)).await.unwrap();
        let ledger = env.ledger(&dev_key(30)).await.unwrap();
        let (visits, _) = synthea(2, 1);
        let body = &visits[0];
        let nothing_stored = || async {
            assert!(patient.list().await.unwrap().is_empty(), "an EHR was stored");
            assert_eq!(ledger.ehr().query(patient.address()).await.unwrap().created_at, 0, "a hash was anchored");
        };
        let month = now + 30 * DAY;
        let [first, second] = &enrolled[..] else { unreachable!("two doctors") };

        // unregistered doctor
        let warrant = patient.sign_warrant(terms(&[stranger.address()], now - 60, month), B256::ZERO);
        let error = stranger.write(&warrant, draft("a", body, &[]), false).await.unwrap_err();
        assert!(matches!(chain_refusal(&error), ContractError::UnregisteredDoctor), "{error}");
        nothing_stored().await;

        // doctor not named in the warrant
        let warrant = patient.sign_warrant(terms(&[first.address()], now - 60, month), B256::ZERO);
        let error = second.write(&warrant, draft("a", body, &[]), false).await.unwrap_err();
        assert!(matches!(error, ClinicalError::NotInWarrant { doctor } if doctor == second.address()), "{error}");
        nothing_stored().await;

        // warrant outside its period (ended yesterday; and one not yet begun)
        for (from, until) in [(now - 10 * DAY, now - DAY), (now + DAY, month)] {
            let warrant = patient.sign_warrant(terms(&[first.address()], from, until), B256::ZERO);
            let error = first.write(&warrant, draft("a", body, &[]), false).await.unwrap_err();
            let refusal = chain_refusal(&error);
            assert!(
                matches!(refusal, ContractError::WarrantExpired { .. } | ContractError::WarrantNotYetValid { .. }),
                "{error}"
            );
            nothing_stored().await;
        }

        // forged warrant signature: signed by someone other than the patient
        let genuine = patient.sign_warrant(terms(&[first.address()], now - 60, month), B256::ZERO);
        let domain = healthchain_crypto::eip712::domain(
            env.deployment.consortium.chain_id,
            env.deployment.consortium.ehr_registry,
        );
        let forged = SignedWarrant::sign(&dev_key(31), genuine.warrant.clone(), &domain);
        let error = first.write(&forged, draft("a", body, &[]), false).await.unwrap_err();
        assert!(matches!(chain_refusal(&error), ContractError::BadWarrantSignature), "{error}");
        nothing_stored().await;

        // group doctor out of order: the second writes before the first
        let group = patient.sign_warrant(terms(&[first.address(), second.address()], now - 60, month), B256::ZERO);
        let error = second.write(&group, draft("a", body, &[]), false).await.unwrap_err();
        assert!(matches!(chain_refusal(&error), ContractError::PreviousDoctorHasNotWritten { .. }), "{error}");
        nothing_stored().await;

        // the enclave's own gate refuses the same writes when the chain is bypassed
        let request = EhrRequest::Create {
            warrant: (&forged).into(),
            ehr: healthchain_ehr::NewEhr {
                ehr_id: "a".into(),
                status: 1,
                ehr_type: 2,
                hospitals: vec![],
                expected_hash: None,
                body: body.clone(),
            },
        };
        let refused = call_store(&env, 21, request).await.unwrap_err();
        assert!(matches!(refused, CallError::Refused(EhrError::WarrantSignature { .. })));
        nothing_stored().await;

        // a hospital whose key is not on the chain (never registered), and one pending
        for (key, register) in [(dev_key(26), false), (dev_key(27), true)] {
            let unknown = Hospital::new(&env, key).await.unwrap();
            if register {
                unknown.register("Pending Clinic").await.unwrap();
            }
            let error = unknown.fetch(patient.address()).await.unwrap_err();
            assert!(matches!(error, ClinicalError::Refused(EhrError::NotApprovedHospital { .. })), "{error}");
        }

        // a write the store would refuse (an id that exists without --update, a revision of
        // an unknown id) anchors nothing: the enclave is asked before the hash is sent
        let warrant = patient.sign_warrant(terms(&[first.address()], now - 60, month), B256::ZERO);
        first.write(&warrant, draft("kept", body, &[]), false).await.unwrap();
        let anchored = || async { ledger.events().hash_updated(Some(patient.address())).await.unwrap().len() };
        assert_eq!(anchored().await, 1);
        let error = first.write(&warrant, draft("kept", &visits[0][1..], &[]), false).await.unwrap_err();
        assert!(matches!(error, ClinicalError::Refused(EhrError::Duplicate { .. })), "{error}");
        let error = first.write(&warrant, draft("unknown", body, &[]), true).await.unwrap_err();
        assert!(matches!(error, ClinicalError::Refused(EhrError::NotFound { .. })), "{error}");
        let error = first.write(&warrant, draft("", body, &[]), false).await.unwrap_err();
        assert!(matches!(error, ClinicalError::InvalidEhr(_)), "{error}");
        assert_eq!(anchored().await, 1, "a refused write left a hash on the chain");
        assert_eq!(patient.list().await.unwrap().len(), 1);

        // a replayed session message is refused by the enclave
        let recorder = Recorder { inner: env.backend(), last: Mutex::new(None) };
        let identity = env.enclave_identity();
        let patient_address = patient.address();
        let (first_answer, replayed) = tokio::task::spawn_blocking(move || {
            let mut session = client::connect(&recorder, dev_key(20), identity).unwrap();
            let answer =
                healthchain_ehr::client::call(&mut session, &EhrRequest::HospitalFetch { patient: patient_address });
            let (id, record) = recorder.last.lock().unwrap().clone().unwrap();
            let replayed = recorder.inner.call(&Ecall::SessionRecord { session: id }, &record);
            (answer, replayed)
        })
        .await
        .unwrap();
        assert!(matches!(first_answer, Ok(EhrResponse::Ehrs(ref ehrs)) if ehrs.is_empty()));
        match replayed {
            Err(error) => {
                assert!(error.to_string().contains("sequence") || error.to_string().contains("replay"), "{error}")
            }
            Ok((result, _)) => assert!(!matches!(result, EcallResult::SessionReply), "the replayed record was served"),
        }
    });
}

#[test]
fn a_batch_is_stored_by_the_enclave_anchored_by_one_root_and_checked_by_each_patient() {
    let rt = runtime();
    let home = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = open(home.path()).await;
        let now = env.connection.timestamp().await.unwrap();
        let (hospital, mut doctors) = hospital_with_doctors(&env, 21..22).await;
        let doctor = doctors.remove(0);
        let mut patients = Vec::new();
        for i in 0..4 {
            patients.push(Patient::new(&env, dev_key(30 + i)).await.unwrap());
        }
        let warrants: Vec<SignedWarrant> = patients
            .iter()
            .map(|p| p.sign_warrant(terms(&[doctor.address()], now - 60, now + 30 * DAY), B256::ZERO))
            .collect();
        // 4 patients, up to 5 EHRs each, Synthea versions as bodies
        let mut ehrs = Vec::new();
        let mut per_patient = Vec::new();
        for (i, _) in patients.iter().enumerate() {
            let (versions, _) = synthea(i, 5);
            per_patient.push(versions.len());
            for (j, body) in versions.iter().enumerate() {
                ehrs.push((i as u32, draft(&format!("batch-{j}"), body, &[hospital.address()])));
            }
        }
        let count = ehrs.len();
        let written = doctor.write_batch(&warrants, ehrs).await.unwrap();
        assert_eq!(written.count as usize, count);
        let ledger = env.ledger(&dev_key(30)).await.unwrap();
        let anchored = ledger.ehr().batch_of(written.root).await.unwrap();
        assert_eq!((anchored.doctor, anchored.count), (doctor.address(), written.count));
        for (patient, &expected) in patients.iter().zip(&per_patient) {
            let checked = patient.check_integrity().await.unwrap();
            assert_eq!(checked.len(), expected);
            for (record, check) in &checked {
                let hash = B256::from(sha256(&record.body));
                assert_eq!(*check, EhrCheck::IntactInBatch { hash, root: written.root });
            }
        }
        assert!(hospital.fetch(patients[3].address()).await.unwrap().iter().all(|(_, c)| c.is_intact()));

        // a batch the enclave stored but nobody anchored is reported, not passed
        let (versions, _) = synthea(5, 1);
        let request = EhrRequest::CreateMany {
            warrants: vec![(&warrants[0]).into()],
            ehrs: vec![healthchain_ehr::BatchEhr {
                warrant: 0,
                ehr: healthchain_ehr::NewEhr {
                    ehr_id: "unanchored".into(),
                    status: 1,
                    ehr_type: 2,
                    hospitals: vec![],
                    expected_hash: None,
                    body: versions[0].clone(),
                },
            }],
        };
        call_store(&env, 21, request).await.unwrap();
        let checked = patients[0].check_integrity().await.unwrap();
        let (_, check) = checked.iter().find(|(r, _)| r.ehr_id == "unanchored").unwrap();
        assert!(matches!(check, EhrCheck::BatchMismatch { why, .. } if why.contains("not anchored")), "{check:?}");
        assert_eq!(checked.iter().filter(|(_, c)| c.is_intact()).count(), per_patient[0]);
    });
}
