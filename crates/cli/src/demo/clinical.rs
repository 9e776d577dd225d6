//! The demo's clinical section (seed 001, TrustHealth §4.3), on the demo's environment
//! after sharing: a hospital applies and is approved on the consortium Directory and enrols
//! three doctors; each of (up to) the first three demo patients gets a treatment key from
//! the hospital and seals a warrant under it to its doctors, who open both. Patient 1 is
//! seed 001's case 1 (one doctor writes the record of its first visit as an EHR, then the
//! record after its second visit as that EHR's revision); patient 2 is case 2 (the three
//! doctors, in the warrant's order, each write one EHR: the record after the patient's
//! first, second, third visit); patient 3 sees one doctor once. Every write puts the EHR's
//! hash on `EhrRegistry` and the EHR into the enclave's SQLCipher store. Then refused
//! attacks, each patient's integrity check, and the hospital fetching each patient's EHRs
//! over an attested session, every one checked against the chain.
//!
//! An EHR is a self-contained FHIR R4 document, as `healthchain doctor write` requires: the
//! record so far (the entries of the patient's record versions up to that visit, so every
//! reference resolves inside it), not a version alone (whose references point into earlier
//! versions).

use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_core::clinical::{ClinicalError, Doctor, EhrDraft, Hospital, Patient, Written, approve_hospital};
use healthchain_core::environment::Environment;
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::EhrError;
use healthchain_ledger::errors::ContractError;
use serde_json::{Value, json};

use super::{DemoError, Tally, Timings, failed};

/// How many demo patients the clinical section treats.
pub const PATIENTS: usize = 3;
/// The doctors the hospital enrols, with their specialties.
const SPECIALTIES: [&str; 3] = ["general practice", "cardiology", "radiology"];
/// Seed 001 `status` of every EHR the demo writes.
const STATUS: u16 = 1;
/// Seed 001 `EHR_Type` of every EHR the demo writes.
const EHR_TYPE: u16 = 1;
const DAY: u64 = 86_400;

/// What the clinical section did.
#[derive(Default)]
pub struct ClinicalSummary {
    /// Patients treated.
    pub patients: usize,
    /// Whether case 2 (three doctors in order) ran; it needs a second patient.
    pub group_case: bool,
    /// Distinct EHRs written.
    pub ehrs_written: usize,
    /// EHR versions written (a revision is a second version of the same EHR).
    pub versions_written: usize,
    /// EHRs the patients' integrity checks covered.
    pub ehrs_checked: usize,
    /// Of those, the ones whose hash matched the chain.
    pub ehrs_intact: usize,
    /// EHRs the hospital fetched.
    pub hospital_fetched: usize,
    /// Of those, the ones whose hash matched the chain.
    pub hospital_intact: usize,
}

impl ClinicalSummary {
    /// Every EHR checked by its patient and every EHR fetched by the hospital was intact.
    pub fn all_intact(&self) -> bool {
        self.ehrs_intact == self.ehrs_checked && self.hospital_intact == self.hospital_fetched
    }
}

/// The patient's record after visit `index` (0-based; its last visit when it has fewer) as
/// one `collection` Bundle holding the entries of record versions 1 to `index + 1`, checked
/// as a standalone FHIR R4 document.
fn record_so_far(visits: &[Vec<u8>], index: usize) -> Result<Vec<u8>, DemoError> {
    let mut entries = Vec::new();
    for version in visits.iter().take(index + 1) {
        let mut bundle: Value = serde_json::from_slice(version).map_err(failed)?;
        if let Some(Value::Array(more)) = bundle.get_mut("entry").map(Value::take) {
            entries.extend(more);
        }
    }
    let bytes = serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "collection", "entry": entries}))
        .map_err(failed)?;
    healthchain_fhir::validate_resource(&bytes).map_err(|errors| {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        DemoError::Failed(format!("the record after visit {} is not a FHIR R4 document: {first}", index + 1))
    })?;
    Ok(bytes)
}

/// Every doctor's period: from a minute before `now` for a day.
fn terms(doctors: &[Address], now: u64) -> Vec<DoctorTerm> {
    doctors
        .iter()
        .map(|&doctor| DoctorTerm { doctor, notBefore: now.saturating_sub(60), notAfter: now + DAY })
        .collect()
}

/// An EHR naming `hospital` (so it may fetch it).
fn draft(ehr_id: &str, body: &[u8], hospital: Address) -> EhrDraft {
    EhrDraft {
        ehr_id: ehr_id.into(),
        status: STATUS,
        ehr_type: EHR_TYPE,
        hospitals: vec![hospital],
        body: body.to_vec(),
    }
}

/// Whether `result` is the chain refusing the write by the rule `rule` accepts.
fn refused_by_chain(result: &Result<Written, ClinicalError>, rule: fn(&ContractError) -> bool) -> bool {
    match result {
        Err(ClinicalError::Ledger(error)) => error.contract_error().is_some_and(rule),
        _ => false,
    }
}

/// One treated patient: its account, its doctors and the warrant they write under.
struct Treated<'e> {
    patient: Patient<'e>,
    doctors: Vec<usize>,
    warrant: SignedWarrant,
    visits: &'e [Vec<u8>],
    /// How many current EHRs it must hold once everyone wrote.
    expected_ehrs: usize,
}

/// Runs the clinical section for `patients` (the demo patients' keys and record versions,
/// at most [`PATIENTS`] of them, at least one).
pub async fn run(
    env: &Environment,
    patients: &[(EthKey, Vec<Vec<u8>>)],
    timings: &mut Timings,
    tally: &mut Tally,
) -> Result<ClinicalSummary, DemoError> {
    let mut rng = rand::rng();
    let mut summary = ClinicalSummary { patients: patients.len(), ..ClinicalSummary::default() };

    // The hospital applies, a consortium admin approves it, it enrols its doctors.
    let started = Instant::now();
    let hospital = Hospital::new(env, EthKey::generate(&mut rng)).await.map_err(failed)?;
    hospital.register("healthchain demo hospital").await.map_err(failed)?;
    approve_hospital(env, hospital.address()).await.map_err(failed)?;
    let mut doctors = Vec::new();
    for (i, specialty) in SPECIALTIES.iter().enumerate() {
        let doctor = Doctor::new(env, EthKey::generate(&mut rng)).await.map_err(failed)?;
        hospital.add_doctor(doctor.address(), &format!("demo doctor {}", i + 1), specialty).await.map_err(failed)?;
        doctors.push(doctor);
    }
    timings.add("ehr_enrol", started);

    // Each patient: a treatment key sealed to it and its doctors, a warrant sealed under
    // it; every doctor opens both. Patient 1: one doctor; patient 2: all three in order;
    // patient 3: the third doctor.
    let started = Instant::now();
    // Warrant periods are checked against the chain's time (on chain) and the enclave's
    // clock (the host's, in the simulation); an external chain that mines a block per
    // transaction runs ahead of the wall clock, so periods start at the earlier of the two.
    let chain_now = env.connection.timestamp().await.map_err(failed)?;
    let now = chain_now.min(healthchain_ehr::Clock::now(&healthchain_ehr::SystemClock));
    let mut treated = Vec::new();
    for (i, (key, visits)) in patients.iter().enumerate().take(PATIENTS) {
        let (assigned, expected_ehrs) = match i {
            0 => (vec![0], 1),
            1 => (vec![0, 1, 2], 3),
            _ => (vec![2], 1),
        };
        let addresses: Vec<Address> = assigned.iter().map(|&d| doctors[d].address()).collect();
        let patient = Patient::new(env, key.clone()).await.map_err(failed)?;
        let delivery = hospital.assign_treatment_key(patient.address(), &addresses).await.map_err(failed)?;
        let ptk = delivery.open(key).map_err(failed)?;
        let warrant = patient.sign_warrant(terms(&addresses, now), B256::ZERO);
        let sealed = patient.seal_warrant(&ptk, &warrant);
        for &d in &assigned {
            let doctor = &doctors[d];
            let opened =
                doctor.open_warrant(&doctor.treatment_key(&delivery).map_err(failed)?, &sealed).map_err(failed)?;
            if opened != warrant {
                return Err(DemoError::Failed(format!("doctor {} opened another warrant than patient {i}'s", d + 1)));
            }
        }
        treated.push(Treated { patient, doctors: assigned, warrant, visits, expected_ehrs });
    }
    timings.add("ehr_keys_warrants", started);
    let hospital_address = hospital.address();

    // Case 1: the doctor writes the record of the first visit as a new EHR, then the record
    // after the second visit as its revision.
    let started = Instant::now();
    let first = &treated[0];
    let case_1 = &doctors[first.doctors[0]];
    let body = record_so_far(first.visits, 0)?;
    let revised = record_so_far(first.visits, 1)?;
    case_1.write(&first.warrant, draft("visit", &body, hospital_address), false).await.map_err(failed)?;
    case_1.write(&first.warrant, draft("visit", &revised, hospital_address), true).await.map_err(failed)?;
    summary.ehrs_written += 1;
    summary.versions_written += 2;
    timings.add("ehr_write", started);

    // Attack: the second doctor of an ordered group writes before the first (case 2's
    // warrant; with one patient, a group warrant patient 1 signs for the attack).
    let group = match treated.get(1) {
        Some(second) => second.warrant.clone(),
        None => {
            let all: Vec<Address> = doctors.iter().map(Doctor::address).collect();
            first.patient.sign_warrant(terms(&all, now), B256::ZERO)
        }
    };
    let result = doctors[1].write(&group, draft("out-of-order", &body, hospital_address), false).await;
    tally.attack(refused_by_chain(&result, |e| matches!(e, ContractError::PreviousDoctorHasNotWritten { .. })));

    // Case 2: the three doctors in the warrant's order, each writing one EHR, the record
    // after the patient's next visit; then patient 3's doctor.
    let started = Instant::now();
    for (k, one) in treated.iter().enumerate().skip(1) {
        for (n, &d) in one.doctors.iter().enumerate() {
            let ehr_id = if k == 1 { format!("consult-{}", n + 1) } else { "visit".to_string() };
            let ehr = draft(&ehr_id, &record_so_far(one.visits, n)?, hospital_address);
            doctors[d].write(&one.warrant, ehr, false).await.map_err(failed)?;
            summary.ehrs_written += 1;
            summary.versions_written += 1;
        }
    }
    summary.group_case = treated.len() > 1;
    timings.add("ehr_write", started);

    // Attacks on patient 1: a doctor no hospital enrolled writes; its doctor writes under a
    // warrant whose period ended yesterday; under a warrant whose signature is forged; a
    // hospital not (yet) approved fetches.
    let patient = first.patient.address();
    let stranger = Doctor::new(env, EthKey::generate(&mut rng)).await.map_err(failed)?;
    let warrant = first.patient.sign_warrant(terms(&[stranger.address()], now), B256::ZERO);
    let result = stranger.write(&warrant, draft("stranger", &body, hospital_address), false).await;
    tally.attack(refused_by_chain(&result, |e| matches!(e, ContractError::UnregisteredDoctor)));

    let ended = vec![DoctorTerm {
        doctor: case_1.address(),
        notBefore: now.saturating_sub(10 * DAY),
        notAfter: now.saturating_sub(DAY),
    }];
    let warrant = first.patient.sign_warrant(ended, B256::ZERO);
    let result = case_1.write(&warrant, draft("visit", &body, hospital_address), true).await;
    tally.attack(refused_by_chain(&result, |e| matches!(e, ContractError::WarrantExpired { .. })));

    // A warrant the patient never signed (its own aux, so no earlier write admitted it).
    let forged = Warrant { patient, doctors: terms(&[case_1.address()], now), aux: B256::repeat_byte(0xf0) };
    let domain = eip712::domain(env.deployment.consortium.chain_id, env.deployment.consortium.ehr_registry);
    let forged = SignedWarrant::sign(&EthKey::generate(&mut rng), forged, &domain);
    let result = case_1.write(&forged, draft("visit", &body, hospital_address), true).await;
    tally.attack(refused_by_chain(&result, |e| matches!(e, ContractError::BadWarrantSignature)));

    let pending = Hospital::new(env, EthKey::generate(&mut rng)).await.map_err(failed)?;
    pending.register("healthchain demo clinic, pending approval").await.map_err(failed)?;
    let fetched = pending.fetch(patient).await;
    tally.attack(matches!(fetched, Err(ClinicalError::Refused(EhrError::NotApprovedHospital { .. }))));

    // The refused writes changed nothing: patient 1's head on the chain is still its
    // revision, and every patient holds exactly the EHRs its doctors wrote.
    let ledger = env.ledger(&patients[0].0).await.map_err(failed)?;
    let head = ledger.ehr().query(patient).await.map_err(failed)?.ehr_hash;
    if head != B256::from(sha256(&revised)) {
        return Err(DemoError::Failed("a refused write changed patient 1's EHR head on EhrRegistry".into()));
    }

    // Each patient's integrity check: every current EHR from the enclave against the chain.
    let started = Instant::now();
    for (i, one) in treated.iter().enumerate() {
        let checked = one.patient.check_integrity().await.map_err(failed)?;
        if checked.len() != one.expected_ehrs {
            return Err(DemoError::Failed(format!(
                "patient {} holds {} EHRs, its doctors wrote {}",
                i + 1,
                checked.len(),
                one.expected_ehrs
            )));
        }
        summary.ehrs_checked += checked.len();
        summary.ehrs_intact += checked.iter().filter(|(_, check)| check.is_intact()).count();
    }
    timings.add("ehr_check", started);

    // The hospital fetches each patient's EHRs over an attested session.
    let started = Instant::now();
    for one in &treated {
        let fetched = hospital.fetch(one.patient.address()).await.map_err(failed)?;
        summary.hospital_fetched += fetched.len();
        summary.hospital_intact += fetched.iter().filter(|(_, check)| check.is_intact()).count();
    }
    timings.add("hospital_fetch", started);
    if summary.hospital_fetched != summary.ehrs_checked {
        return Err(DemoError::Failed(format!(
            "the hospital fetched {} EHRs, {} name it",
            summary.hospital_fetched, summary.ehrs_checked
        )));
    }
    Ok(summary)
}
