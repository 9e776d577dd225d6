//! Shared fixtures: keys, warrants, Synthea bundles, an in-process enclave.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, address};
use alloy_sol_types::Eip712Domain;
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{
    BatchEhr, EhrApp, EhrConfig, EhrRecord, EhrRequest, EhrResponse, ManualClock, NewEhr, Registry, UncheckedRegistry,
    WireWarrant,
};

pub const CHAIN_ID: u64 = 31337;
pub const REGISTRY: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
pub const PLATFORM: [u8; 32] = [7; 32];
pub const MEASUREMENT: [u8; 32] = [9; 32];
pub const NOW: u64 = 1_700_000_000;
pub const DAY: u64 = 86_400;

pub fn key(seed: u8) -> EthKey {
    EthKey::from_bytes(&[seed; 32]).expect("valid test key")
}

/// A warrant by `patient` for `doctors` (each with its period), signed by `signer`.
pub fn warrant_signed_by(signer: &EthKey, patient: &EthKey, doctors: &[(&EthKey, u64, u64)]) -> WireWarrant {
    warrant_in(&eip712::domain(CHAIN_ID, REGISTRY), signer, patient, doctors)
}

/// A warrant by `patient` for `doctors` (each with its period), signed by `signer` under
/// `domain`.
pub fn warrant_in(
    domain: &Eip712Domain,
    signer: &EthKey,
    patient: &EthKey,
    doctors: &[(&EthKey, u64, u64)],
) -> WireWarrant {
    let warrant = Warrant {
        patient: patient.address(),
        doctors: doctors
            .iter()
            .map(|(doctor, not_before, not_after)| DoctorTerm {
                doctor: doctor.address(),
                notBefore: *not_before,
                notAfter: *not_after,
            })
            .collect(),
        aux: B256::repeat_byte(0xa1),
    };
    (&SignedWarrant::sign(signer, warrant, domain)).into()
}

/// A patient-signed warrant; every doctor's period is today ± a day.
pub fn warrant(patient: &EthKey, doctors: &[&EthKey]) -> WireWarrant {
    let terms: Vec<_> = doctors.iter().map(|d| (*d, NOW - DAY, NOW + DAY)).collect();
    warrant_signed_by(patient, patient, &terms)
}

pub fn synthea_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea")
}

/// A Synthea bundle's bytes and its patient's family name.
pub fn bundle(prefix: &str) -> (Vec<u8>, String) {
    let entry = std::fs::read_dir(synthea_dir())
        .expect("data/fhir/synthea is shipped in the repository")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no Synthea bundle {prefix}*"));
    let bytes = std::fs::read(entry.path()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let family = json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .and_then(|e| e["resource"]["name"][0]["family"].as_str())
        .expect("the bundle has a Patient with a family name")
        .to_string();
    (bytes, family)
}

/// The first `n` entries of a bundle, as a bundle (an earlier state of the record).
pub fn truncated_bundle(bytes: &[u8], n: usize) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let entries = json["entry"].as_array_mut().unwrap();
    entries.truncate(n);
    serde_json::to_vec(&json).unwrap()
}

pub fn new_ehr(ehr_id: &str, body: Vec<u8>) -> NewEhr {
    NewEhr {
        ehr_id: ehr_id.into(),
        status: 1,
        ehr_type: 2,
        hospitals: vec![Address::repeat_byte(0x4b)],
        expected_hash: None,
        body,
    }
}

pub fn app(clock: &ManualClock, registry: Box<dyn Registry>, bench: bool) -> EhrApp {
    let mut config = EhrConfig::new(CHAIN_ID, REGISTRY);
    config.bench_table = bench;
    EhrApp::new(config, registry).with_clock(clock.clone())
}

pub fn enclave(dir: &Path, clock: &ManualClock) -> LocalEnclave {
    LocalEnclave::new(app(clock, Box::new(UncheckedRegistry), true), dir, PLATFORM, MEASUREMENT)
}

/// All bytes of the database and its WAL.
pub fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["ehr.db", "ehr.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The patient's EHR `ehr_id` (`None`: the current version), read as the patient.
pub fn get(enclave: &mut LocalEnclave, patient: Address, ehr_id: &str, version: Option<u64>) -> EhrRecord {
    match enclave.call(patient, &EhrRequest::Get { patient, ehr_id: ehr_id.into(), version }).unwrap() {
        EhrResponse::Ehr(record) => record,
        other => panic!("expected an EHR, got {other:?}"),
    }
}

/// A batch of `n` new EHRs written by doctor `key(2)` for patients `key(10)`, `key(11)` and
/// `key(12)` (entry `i` under warrant `i % 3`, id `ehr-<i>`), each a Synthea bundle cut to
/// `1 + i % cuts` entries: `(doctor, patients, warrants, entries)`.
pub fn three_patient_batch(n: usize, cuts: usize) -> (EthKey, [EthKey; 3], Vec<WireWarrant>, Vec<BatchEhr>) {
    let doctor = key(2);
    let patients = [key(10), key(11), key(12)];
    let warrants = patients.iter().map(|p| warrant(p, &[&doctor])).collect();
    let (body, _) = bundle("Desmond_Gutmann");
    let ehrs = (0..n)
        .map(|i| BatchEhr {
            warrant: (i % 3) as u32,
            ehr: new_ehr(&format!("ehr-{i:04}"), truncated_bundle(&body, 1 + i % cuts)),
        })
        .collect();
    (doctor, patients, warrants, ehrs)
}
