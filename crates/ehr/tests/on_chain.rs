//! The EHR store with its on-chain registry: doctors and hospitals checked on the
//! consortium `Directory` of a real deployment on the embedded chain, read from inside the
//! application through the host's ledger relay.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy_primitives::{Address, B256};
use alloy_sol_types::Eip712Domain;
use common::*;
use healthchain_chain::Chain;
use healthchain_crypto::eip712;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{
    BatchEhr, EhrConfig, EhrError, EhrRecord, EhrRequest, EhrResponse, ManualClock, NewEhr, OnChainRegistry,
    WireWarrant,
};
use healthchain_enclave::host::LedgerSource;
use healthchain_enclave::protocol::LedgerName;
use healthchain_ledger::contracts::PRIVILEGE_WRITE_EHR;
use healthchain_ledger::testing::{Backend, dev_key};
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

/// The host's ledger relay, in process: raw JSON-RPC straight to the embedded chain (both
/// ledgers of a co-hosted deployment), counting the requests.
struct ChainRelay {
    chain: Chain,
    runtime: tokio::runtime::Handle,
    requests: AtomicUsize,
}

impl LedgerSource for ChainRelay {
    fn rpc(&self, _ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.runtime.block_on(self.chain.handle_rpc(request)).ok_or_else(|| "the chain sent no answer".to_string())
    }
}

const ADMIN: u32 = 0;
const PATIENT: u32 = 1;
const HOSPITAL_A: u32 = 2;
const HOSPITAL_B: u32 = 3;
const REVOKED_HOSPITAL: u32 = 4;
const PENDING_HOSPITAL: u32 = 5;
const DOCTOR: u32 = 6;
const DOCTOR_OF_REVOKED: u32 = 7;
const DOCTOR_WITHOUT_WRITE: u32 = 8;
const UNREGISTERED: u32 = 9;
const OTHER_PATIENT: u32 = 10;

/// A deployment on a fresh embedded chain with: hospitals A and B approved, one approved
/// and then revoked, one pending; a doctor of A with the EHR write privilege, one of A
/// with another privilege only, and one of the revoked hospital (enrolled while it was
/// approved).
struct Consortium {
    runtime: tokio::runtime::Runtime,
    relay: Arc<ChainRelay>,
    connection: healthchain_ledger::client::Connection,
    deployment: Deployment,
    // Keeps the chain alive.
    _backend: Backend,
}

fn word(tag: &str) -> B256 {
    alloy_primitives::keccak256(tag.as_bytes())
}

impl Consortium {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let backend = Backend::embedded().unwrap();
        let chain = backend.chain().expect("an embedded chain").clone();
        let (connection, deployment) = runtime.block_on(async {
            let connection = backend.connect().await.unwrap();
            let report = deploy(&connection.account(&dev_key(ADMIN)), None, &DeployParams::default()).await.unwrap();
            (connection, report.deployment)
        });
        let relay = Arc::new(ChainRelay { chain, runtime: runtime.handle().clone(), requests: AtomicUsize::new(0) });
        let consortium = Consortium { runtime, relay, connection, deployment, _backend: backend };
        let admin = consortium.ledger(ADMIN).directory();
        consortium.runtime.block_on(async {
            for hospital in [HOSPITAL_A, HOSPITAL_B, REVOKED_HOSPITAL, PENDING_HOSPITAL] {
                consortium.ledger(hospital).directory().register_hospital(word("hospital")).await.unwrap();
            }
            for hospital in [HOSPITAL_A, HOSPITAL_B, REVOKED_HOSPITAL] {
                admin.approve_hospital(dev_key(hospital).address()).await.unwrap();
            }
            let enrol = |hospital: u32, doctor: u32, privileges: u64| {
                let directory = consortium.ledger(hospital).directory();
                async move {
                    directory
                        .register_doctor(dev_key(doctor).address(), word("doctor"), word("gp"), privileges)
                        .await
                        .unwrap();
                }
            };
            enrol(HOSPITAL_A, DOCTOR, PRIVILEGE_WRITE_EHR).await;
            enrol(HOSPITAL_A, DOCTOR_WITHOUT_WRITE, 4).await;
            enrol(REVOKED_HOSPITAL, DOCTOR_OF_REVOKED, PRIVILEGE_WRITE_EHR).await;
            admin.revoke_hospital(dev_key(REVOKED_HOSPITAL).address()).await.unwrap();
            // What the registry relies on: the contract silences a revoked hospital's doctors.
            assert_eq!(admin.doctor_privileges(dev_key(DOCTOR_OF_REVOKED).address()).await.unwrap(), 0);
        });
        consortium
    }

    fn ledger(&self, account: u32) -> Ledger {
        Ledger::new(&self.connection, None, &dev_key(account), self.deployment)
    }

    /// The warrants' EIP-712 domain: `EhrRegistry` on the consortium ledger.
    fn domain(&self) -> Eip712Domain {
        eip712::domain(self.deployment.consortium.chain_id, self.deployment.consortium.ehr_registry)
    }

    /// A patient-signed warrant for `doctors`, each from a day ago for `days` days.
    fn warrant(&self, patient: &EthKey, doctors: &[&EthKey], days: u64) -> WireWarrant {
        let terms: Vec<_> = doctors.iter().map(|doctor| (*doctor, NOW - DAY, NOW + days * DAY)).collect();
        warrant_in(&self.domain(), patient, patient, &terms)
    }

    /// The EHR application as `healthchain enclave-process` configures it for this
    /// deployment, in process, its ledger reads relayed to the chain.
    fn enclave(&self, dir: &Path, clock: &ManualClock) -> LocalEnclave {
        let config = EhrConfig::new(self.deployment.consortium.chain_id, self.deployment.consortium.ehr_registry);
        let app = healthchain_ehr::EhrApp::new(config, Box::new(OnChainRegistry::new(self.deployment)))
            .with_clock(clock.clone());
        LocalEnclave::new(app, dir, PLATFORM, MEASUREMENT).with_ledger(self.relay.clone())
    }

    fn requests(&self) -> usize {
        self.relay.requests.load(Ordering::Relaxed)
    }
}

fn ehr_naming(ehr_id: &str, hospitals: &[u32], body: &[u8]) -> NewEhr {
    NewEhr { hospitals: hospitals.iter().map(|h| dev_key(*h).address()).collect(), ..new_ehr(ehr_id, body.to_vec()) }
}

fn fetched(reply: Result<EhrResponse, EhrError>) -> Vec<EhrRecord> {
    match reply {
        Ok(EhrResponse::Ehrs(records)) => records,
        other => panic!("expected EHRs, got {other:?}"),
    }
}

fn current(enclave: &mut LocalEnclave, patient: Address, ehr_id: &str) -> EhrRecord {
    match enclave.call(patient, &EhrRequest::Get { patient, ehr_id: ehr_id.into(), version: None }) {
        Ok(EhrResponse::Ehr(record)) => record,
        other => panic!("expected the EHR, got {other:?}"),
    }
}

fn listed(enclave: &mut LocalEnclave, patient: Address) -> Vec<String> {
    match enclave.call(patient, &EhrRequest::List { patient }) {
        Ok(EhrResponse::List(items)) => items.into_iter().map(|item| item.ehr_id).collect(),
        other => panic!("expected a list, got {other:?}"),
    }
}

#[test]
fn on_chain_registry_admits_only_doctors_with_the_write_privilege() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = consortium.enclave(dir.path(), &clock);
    let patient = dev_key(PATIENT);
    let (body, _) = bundle("Bill_Reinger");
    let create = |doctor: &EthKey, ehr_id: &str| EhrRequest::Create {
        warrant: consortium.warrant(&patient, &[doctor], 1),
        ehr: ehr_naming(ehr_id, &[HOSPITAL_A], &truncated_bundle(&body, 5)),
    };

    // A doctor of an approved hospital with the write privilege, named in the warrant.
    let doctor = dev_key(DOCTOR);
    enclave.call(doctor.address(), &create(&doctor, "written")).unwrap();

    // Named in a valid warrant, but not admitted by the Directory: never registered,
    // registered without the write privilege, or enrolled by a hospital since revoked.
    for refused in [UNREGISTERED, DOCTOR_WITHOUT_WRITE, DOCTOR_OF_REVOKED] {
        let refused = dev_key(refused);
        assert_eq!(
            enclave.call(refused.address(), &create(&refused, "refused")),
            Err(EhrError::UnregisteredDoctor {
                doctor: refused.address(),
                reason: "not registered with the EHR write privilege".into()
            })
        );
        // A batch is refused as a whole, before any of its entries.
        let batch = EhrRequest::CreateMany {
            warrants: vec![consortium.warrant(&patient, &[&refused], 1)],
            ehrs: vec![BatchEhr { warrant: 0, ehr: ehr_naming("batch", &[], &body) }],
        };
        assert!(matches!(
            enclave.call(refused.address(), &batch),
            Err(EhrError::UnregisteredDoctor { doctor, .. }) if doctor == refused.address()
        ));
    }
    assert_eq!(listed(&mut enclave, patient.address()), ["written"]);

    // One registry read per request, however many warrants and EHRs a batch carries.
    let patients: Vec<EthKey> = (11..14).map(dev_key).collect();
    let warrants: Vec<_> = patients.iter().map(|p| consortium.warrant(p, &[&doctor], 1)).collect();
    let ehrs: Vec<_> = (0..30)
        .map(|i| BatchEhr { warrant: i % 3, ehr: ehr_naming(&format!("e{i:02}"), &[HOSPITAL_A], &body) })
        .collect();
    let before = consortium.requests();
    let written = enclave.call(doctor.address(), &EhrRequest::CreateMany { warrants, ehrs }).unwrap();
    assert!(matches!(written, EhrResponse::WrittenMany { ref ehr_hashes, .. } if ehr_hashes.len() == 30));
    assert_eq!(consortium.requests() - before, 1, "one eth_call for the batch");

    // Nothing is cached: revoking the doctor's hospital refuses the next write.
    consortium.runtime.block_on(async {
        consortium.ledger(ADMIN).directory().revoke_hospital(dev_key(HOSPITAL_A).address()).await.unwrap();
    });
    assert!(matches!(
        enclave.call(doctor.address(), &create(&doctor, "after-revocation")),
        Err(EhrError::UnregisteredDoctor { .. })
    ));
    assert_eq!(listed(&mut enclave, patient.address()), ["written"]);
}

#[test]
fn an_unreadable_ledger_refuses_instead_of_admitting() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let config =
        EhrConfig::new(consortium.deployment.consortium.chain_id, consortium.deployment.consortium.ehr_registry);
    let app = healthchain_ehr::EhrApp::new(config, Box::new(OnChainRegistry::new(consortium.deployment)))
        .with_clock(clock.clone());
    // A host that relays no ledger.
    let mut enclave = LocalEnclave::new(app, dir.path(), PLATFORM, MEASUREMENT);
    let (patient, doctor) = (dev_key(PATIENT), dev_key(DOCTOR));
    let create = EhrRequest::Create {
        warrant: consortium.warrant(&patient, &[&doctor], 1),
        ehr: ehr_naming("e", &[HOSPITAL_A], b"{}"),
    };
    match enclave.call(doctor.address(), &create) {
        Err(EhrError::RegistryUnavailable(reason)) => assert!(reason.contains("relays no ledger"), "{reason}"),
        other => panic!("expected the registry to be unavailable, got {other:?}"),
    }
    let fetch = EhrRequest::HospitalFetch { patient: patient.address() };
    assert!(matches!(enclave.call(dev_key(HOSPITAL_A).address(), &fetch), Err(EhrError::RegistryUnavailable(_))));
    assert!(listed(&mut enclave, patient.address()).is_empty());
}

#[test]
fn hospital_fetch_serves_approved_hospitals_the_ehrs_naming_them() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = consortium.enclave(dir.path(), &clock);
    let (patient, other_patient, doctor) = (dev_key(PATIENT), dev_key(OTHER_PATIENT), dev_key(DOCTOR));
    let (a, b) = (dev_key(HOSPITAL_A).address(), dev_key(HOSPITAL_B).address());
    let (body, _) = bundle("Dana_Feest");
    let version = |n: usize| truncated_bundle(&body, n);
    let warrant = consortium.warrant(&patient, &[&doctor], 1);
    // Another warrant of the same patient (a longer period), revoked below.
    let revocable = consortium.warrant(&patient, &[&doctor], 2);
    let write = |enclave: &mut LocalEnclave, request: EhrRequest| {
        enclave.call(doctor.address(), &request).unwrap();
    };
    let create = |warrant: &WireWarrant, ehr: NewEhr| EhrRequest::Create { warrant: warrant.clone(), ehr };
    let update = |warrant: &WireWarrant, ehr: NewEhr| EhrRequest::Update { warrant: warrant.clone(), ehr };

    write(&mut enclave, create(&warrant, ehr_naming("a-only", &[HOSPITAL_A], &version(3))));
    write(&mut enclave, create(&warrant, ehr_naming("a-and-b", &[HOSPITAL_B, HOSPITAL_A], &version(4))));
    write(&mut enclave, create(&warrant, ehr_naming("b-only", &[HOSPITAL_B], &version(5))));
    write(&mut enclave, create(&warrant, ehr_naming("no-hospital", &[], &version(6))));
    // The current version decides: one EHR gains hospital A, another loses it.
    write(&mut enclave, create(&warrant, ehr_naming("a-added", &[HOSPITAL_B], &version(7))));
    write(&mut enclave, update(&warrant, ehr_naming("a-added", &[HOSPITAL_A], &version(8))));
    write(&mut enclave, create(&warrant, ehr_naming("a-removed", &[HOSPITAL_A], &version(9))));
    write(&mut enclave, update(&warrant, ehr_naming("a-removed", &[HOSPITAL_B], &version(10))));
    write(&mut enclave, create(&revocable, ehr_naming("a-revocable", &[HOSPITAL_A], &version(11))));
    let other_warrant = consortium.warrant(&other_patient, &[&doctor], 1);
    write(&mut enclave, create(&other_warrant, ehr_naming("other-a", &[HOSPITAL_A], &version(12))));

    let fetch = |enclave: &mut LocalEnclave, hospital: Address, patient: Address| {
        fetched(enclave.call(hospital, &EhrRequest::HospitalFetch { patient }))
    };
    let expect = |enclave: &mut LocalEnclave, patient: Address, ids: &[&str]| -> Vec<EhrRecord> {
        ids.iter().map(|id| current(enclave, patient, id)).collect()
    };

    // Exactly the patient's current EHRs naming the caller, whole, as `Get` returns them.
    let for_a = fetch(&mut enclave, a, patient.address());
    assert_eq!(for_a, expect(&mut enclave, patient.address(), &["a-added", "a-and-b", "a-only", "a-revocable"]));
    assert_eq!(for_a[0].version, 2);
    assert_eq!(for_a[0].body, version(8));
    let for_b = fetch(&mut enclave, b, patient.address());
    assert_eq!(for_b, expect(&mut enclave, patient.address(), &["a-and-b", "a-removed", "b-only"]));
    let other = fetch(&mut enclave, a, other_patient.address());
    assert_eq!(other, expect(&mut enclave, other_patient.address(), &["other-a"]));
    assert!(fetch(&mut enclave, b, other_patient.address()).is_empty());
    assert!(fetch(&mut enclave, a, dev_key(19).address()).is_empty(), "a patient without EHRs");

    // The patient revokes a warrant: the EHRs written under it are no longer served.
    let revoked = enclave.call(patient.address(), &EhrRequest::RevokeWarrant { warrant: revocable }).unwrap();
    assert!(matches!(revoked, EhrResponse::Revoked { .. }));
    assert_eq!(
        fetch(&mut enclave, a, patient.address()),
        expect(&mut enclave, patient.address(), &["a-added", "a-and-b", "a-only"])
    );

    // Callers that are not approved hospitals, with the Directory's reason.
    let request = EhrRequest::HospitalFetch { patient: patient.address() };
    for (caller, status) in [
        (REVOKED_HOSPITAL, "revoked"),
        (PENDING_HOSPITAL, "pending approval"),
        (UNREGISTERED, "unknown (never registered)"),
        (DOCTOR, "unknown (never registered)"),
        (PATIENT, "unknown (never registered)"),
    ] {
        let caller = dev_key(caller).address();
        assert_eq!(
            enclave.call(caller, &request),
            Err(EhrError::NotApprovedHospital {
                caller,
                reason: format!("not an approved hospital: {status} on the Directory")
            })
        );
    }
    // Approval is read on every request: once revoked, hospital A is refused too.
    consortium.runtime.block_on(async {
        consortium.ledger(ADMIN).directory().revoke_hospital(a).await.unwrap();
    });
    assert!(matches!(enclave.call(a, &request), Err(EhrError::NotApprovedHospital { caller, .. }) if caller == a));
}

/// The whole batched path: the enclave stores a batch and signs its root; once an admin has
/// approved the enclave, the doctor anchors it on `EhrRegistry`; every EHR the patient reads
/// back proves its place against the root and count the chain holds.
#[test]
fn a_batch_root_anchored_on_chain_proves_every_ehr() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let mut enclave = consortium.enclave(dir.path(), &clock);
    let (patient, doctor) = (dev_key(PATIENT), dev_key(DOCTOR));
    let (body, _) = bundle("Bill_Reinger");
    let ehrs: Vec<_> = (0..25)
        .map(|i| BatchEhr {
            warrant: 0,
            ehr: ehr_naming(&format!("v{i:02}"), &[HOSPITAL_A], &truncated_bundle(&body, 1 + i % 6)),
        })
        .collect();
    let request = EhrRequest::CreateMany { warrants: vec![consortium.warrant(&patient, &[&doctor], 1)], ehrs };
    let Ok(EhrResponse::WrittenMany { root, count, signature, .. }) = enclave.call(doctor.address(), &request) else {
        panic!("expected WrittenMany")
    };
    let registry = consortium.ledger(DOCTOR).ehr();
    consortium.runtime.block_on(async {
        // Not yet approved: the chain refuses the report.
        let refused = registry.anchor_batch(root, count, &signature).await.unwrap_err();
        assert!(matches!(
            refused.contract_error(),
            Some(healthchain_ledger::errors::ContractError::UnapprovedEnclave { enclave: e }) if *e == enclave.report_signer()
        ));
        consortium
            .ledger(ADMIN)
            .approve_enclave_everywhere(enclave.report_signer(), word("m"), word("ek"), word("sk"))
            .await
            .unwrap();
        let anchored = registry.anchor_batch(root, count, &signature).await.unwrap();
        assert_eq!((anchored.event.root, anchored.event.count, anchored.event.enclave), (root, 25, enclave.report_signer()));
    });
    let on_chain = consortium.runtime.block_on(consortium.ledger(PATIENT).ehr().batch_of(root)).unwrap();
    assert_eq!((on_chain.doctor, on_chain.count), (doctor.address(), 25));
    for i in 0..25 {
        let record = current(&mut enclave, patient.address(), &format!("v{i:02}"));
        let anchor = record.anchor.clone().expect("anchored");
        assert_eq!((anchor.root, anchor.count), (root, on_chain.count));
        anchor.verify(&record).unwrap();
    }
}
