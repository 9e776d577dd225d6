//! `healthchain hospital …`, `healthchain patient …`, `healthchain doctor …`: the clinical
//! side (seed 001, TrustHealth §4.3) on the embedded defaults.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::Address;
use clap::{Args, Subcommand};
use healthchain_core::clinical::{
    ClinicalError, Doctor, EhrCheck, EhrDraft, Hospital, Patient, SealedWarrant, TreatmentKeyDelivery, approve_hospital,
};
use healthchain_core::environment::Environment;
use healthchain_crypto::eip712::{DoctorTerm, SignedWarrant};
use healthchain_ehr::{EhrError, EhrRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::output::say;
use crate::records::{moment, open, read, runtime, unlock};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Subcommand)]
pub enum HospitalCommand {
    /// Apply as a hospital on the consortium Directory (pending until an admin approves).
    Register {
        /// The hospital's key (in the keystore).
        #[arg(long)]
        key: String,
        /// Its identity (name, licence number…); the Directory keeps its hash.
        #[arg(long)]
        name: String,
    },
    /// Approve HOSPITAL as the embedded environment's consortium admin.
    Approve {
        /// The hospital's account.
        hospital: Address,
    },
    /// Enrol DOCTOR with the privilege to write EHRs (the hospital must be approved).
    AddDoctor {
        /// The hospital's key.
        #[arg(long)]
        key: String,
        /// The doctor's account.
        doctor: Address,
        /// The doctor's identity; the Directory keeps its hash.
        #[arg(long)]
        name: String,
        /// The doctor's specialty.
        #[arg(long, default_value = "general practice")]
        specialty: String,
    },
    /// Assign PATIENT a fresh treatment key, sealed to the patient and each doctor (written
    /// to OUT as JSON; hand it to them).
    TreatmentKey {
        /// The hospital's key.
        #[arg(long)]
        key: String,
        /// The patient's account.
        #[arg(long)]
        patient: Address,
        /// The treating doctors.
        #[arg(long = "doctor", required = true)]
        doctors: Vec<Address>,
        /// Where to write the delivery.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch PATIENT's EHRs that name this hospital over an attested session with the
    /// enclave, each checked against the chain; exits 1 if any does not match.
    Fetch {
        /// The hospital's key.
        #[arg(long)]
        key: String,
        /// The patient's account.
        patient: Address,
        /// Write each EHR to DIR/<ehr id>.json.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PatientCommand {
    /// Publish the patient's X25519 key on the consortium Directory (derived from its
    /// account key), so a hospital can seal a treatment key to it; once, before the first
    /// treatment key.
    PublishKey {
        /// The patient's key.
        #[arg(long)]
        key: String,
    },
    /// Sign a warrant for one doctor or an ordered group and seal it under the treatment
    /// key (written to OUT; hand it to the doctors).
    Warrant {
        /// The patient's key.
        #[arg(long)]
        key: String,
        /// The treatment key delivery the hospital gave the patient.
        #[arg(long)]
        treatment_key: PathBuf,
        /// The doctors, in the order they write.
        #[arg(long = "doctor", required = true)]
        doctors: Vec<Address>,
        /// Start of every doctor's period (unix seconds, date or dateTime; default now).
        #[arg(long)]
        from: Option<String>,
        /// End of every doctor's period (default 30 days after the start).
        #[arg(long)]
        until: Option<String>,
        /// Where to write the sealed warrant.
        #[arg(long)]
        out: PathBuf,
    },
    /// The patient's EHRs in the enclave's store.
    Ehr {
        #[command(subcommand)]
        command: PatientEhrCommand,
    },
}

#[derive(Subcommand)]
pub enum PatientEhrCommand {
    /// List the patient's EHRs (current versions).
    List {
        /// The patient's key.
        #[arg(long)]
        key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch one EHR, recompute its hash and compare it with EhrRegistry; exits 1 on a
    /// mismatch.
    Get {
        /// The patient's key.
        #[arg(long)]
        key: String,
        /// The EHR's id.
        ehr_id: String,
        /// An earlier version (default: the current one).
        #[arg(long)]
        version: Option<u64>,
        /// Write the EHR here instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON: the EHR's id, version, author, hash, verdict and (without --out) body.
        #[arg(long)]
        json: bool,
    },
    /// Check every EHR of the patient against the chain; exits 1 if any does not match.
    Check {
        /// The patient's key.
        #[arg(long)]
        key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DoctorCommand {
    /// Publish the doctor's X25519 key on the consortium Directory (derived from its
    /// account key), so a hospital can seal treatment keys to it; once, before the first
    /// treatment key.
    PublishKey {
        /// The doctor's key.
        #[arg(long)]
        key: String,
    },
    /// Write BUNDLE as an EHR under the patient's warrant: its hash on EhrRegistry, the EHR
    /// into the enclave's SQLCipher store.
    Write(WriteArgs),
    /// Write many BUNDLES at once as new EHRs of the warrant's patient (ids = file names
    /// without `.json`): the enclave stores them in one transaction and signs the root of a
    /// Merkle tree over them; one `EhrRegistry.anchorBatch` anchors that root.
    WriteBatch(WriteBatchArgs),
}

/// Who writes and under which warrant: the doctor's key, the treatment key and the sealed
/// warrant the patient sent.
#[derive(Args)]
pub struct Mandate {
    /// The doctor's key.
    #[arg(long)]
    key: String,
    /// The treatment key delivery the hospital gave the doctor.
    #[arg(long)]
    treatment_key: PathBuf,
    /// The sealed warrant the patient gave the doctor.
    #[arg(long)]
    warrant: PathBuf,
}

/// Seed 001's fields of an EHR besides its content.
#[derive(Args)]
pub struct EhrFields {
    /// Hospitals that may fetch it.
    #[arg(long = "hospital")]
    hospitals: Vec<Address>,
    /// Seed 001 status code.
    #[arg(long, default_value_t = 1)]
    status: u16,
    /// Seed 001 EHR type code.
    #[arg(long = "type", default_value_t = 1)]
    ehr_type: u16,
}

impl EhrFields {
    fn draft(&self, ehr_id: String, body: Vec<u8>) -> EhrDraft {
        EhrDraft { ehr_id, status: self.status, ehr_type: self.ehr_type, hospitals: self.hospitals.clone(), body }
    }
}

/// `healthchain doctor write-batch`.
#[derive(Args)]
pub struct WriteBatchArgs {
    #[command(flatten)]
    mandate: Mandate,
    #[command(flatten)]
    fields: EhrFields,
    /// The EHRs (FHIR R4 Bundles).
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
}

/// `healthchain doctor write`.
#[derive(Args)]
pub struct WriteArgs {
    #[command(flatten)]
    mandate: Mandate,
    /// The EHR's id (unique per patient).
    #[arg(long)]
    ehr_id: String,
    /// A new version of an existing EHR rather than a new one.
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    fields: EhrFields,
    /// The EHR (a FHIR R4 Bundle).
    bundle: PathBuf,
}

/// Validates `bundles` as FHIR R4 before anything is unlocked or sent.
fn validate(bundles: &[PathBuf]) -> Result<()> {
    let report = healthchain_fhir::validate_files(bundles, healthchain_fhir::Mode::Resource);
    if !report.is_ok() {
        return Err(format!("not valid FHIR R4, nothing written:\n{report}").into());
    }
    Ok(())
}

/// The doctor of `mandate`, with the warrant opened under the treatment key.
async fn doctor_under_warrant<'e>(
    env: &'e Environment,
    keystore: &Path,
    mandate: &Mandate,
) -> Result<(Doctor<'e>, SignedWarrant)> {
    let key = unlock(keystore, &mandate.key)?;
    let delivery: TreatmentKeyDelivery = read_json(&mandate.treatment_key, "treatment key delivery")?;
    let sealed: SealedWarrant = read_json(&mandate.warrant, "sealed warrant")?;
    let ptk = delivery.open(&key)?;
    let doctor = Doctor::new(env, key).await?;
    let warrant = doctor.open_warrant(&ptk, &sealed)?;
    Ok((doctor, warrant))
}

fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    Ok(serde_json::from_slice(&read(path)?).map_err(|e| format!("{} is not a {what}: {e}", path.display()))?)
}

/// The current time in unix seconds, as the enclave's clock and the embedded chain's next
/// block see it (the chain's latest block may be much older when nothing was written
/// lately).
fn unix_now() -> Result<u32> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970")?;
    Ok(u32::try_from(since.as_secs()).map_err(|_| "the system clock is after 2106")?)
}

/// Where a treatment key cannot be sealed because a recipient never published its
/// X25519 key, says which command publishes it.
fn with_publish_hint(error: ClinicalError) -> Box<dyn std::error::Error> {
    match error {
        ClinicalError::NoSessionKey(_) => format!(
            "{error}; the patient runs `healthchain patient publish-key --key NAME` and each doctor \
             `healthchain doctor publish-key --key NAME` before the hospital seals a treatment key to them"
        )
        .into(),
        other => other.into(),
    }
}

/// Where the store refused a new EHR whose id exists, or a new version of one that does not,
/// says which flag was meant.
fn with_update_hint(error: ClinicalError, update: bool) -> Box<dyn std::error::Error> {
    match (&error, update) {
        (ClinicalError::Refused(EhrError::Duplicate { .. }), false) => {
            format!("{error}; pass --update to write a new version of it").into()
        }
        (ClinicalError::Refused(EhrError::NotFound { .. }), true) => {
            format!("{error}; leave out --update to create it").into()
        }
        _ => error.into(),
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value)?;
    Ok(std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?)
}

pub fn run_hospital(keystore: &Path, home: &Path, command: HospitalCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let env = open(home).await?;
        match command {
            HospitalCommand::Register { key, name } => {
                let hospital = Hospital::new(&env, unlock(keystore, &key)?).await?;
                hospital.register(&name).await?;
                say!("hospital {} registered: pending approval", hospital.address());
                say!("approve it with: healthchain hospital approve {}", hospital.address());
            }
            HospitalCommand::Approve { hospital } => {
                approve_hospital(&env, hospital).await?;
                say!("hospital {hospital} approved");
            }
            HospitalCommand::AddDoctor { key, doctor, name, specialty } => {
                let hospital = Hospital::new(&env, unlock(keystore, &key)?).await?;
                hospital.add_doctor(doctor, &name, &specialty).await?;
                say!("doctor {doctor} enrolled at {} ({specialty}) with the EHR-write privilege", hospital.address());
            }
            HospitalCommand::TreatmentKey { key, patient, doctors, out } => {
                let hospital = Hospital::new(&env, unlock(keystore, &key)?).await?;
                let delivery = hospital.assign_treatment_key(patient, &doctors).await.map_err(with_publish_hint)?;
                write_json(&out, &delivery)?;
                say!(
                    "treatment key for {patient} sealed to the patient and {} doctors: {}",
                    doctors.len(),
                    out.display()
                );
            }
            HospitalCommand::Fetch { key, patient, out, json } => {
                let hospital = Hospital::new(&env, unlock(keystore, &key)?).await?;
                let fetched = hospital.fetch(patient).await?;
                return report(&fetched, out.as_deref(), json);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_patient(keystore: &Path, home: &Path, command: PatientCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let env = open(home).await?;
        match command {
            PatientCommand::PublishKey { key } => {
                let patient = Patient::new(&env, unlock(keystore, &key)?).await?;
                say!(
                    "patient {}: X25519 key published on the Directory; hospitals can seal treatment keys to it",
                    patient.address()
                );
            }
            PatientCommand::Warrant { key, treatment_key, doctors, from, until, out } => {
                let key = unlock(keystore, &key)?;
                let delivery: TreatmentKeyDelivery = read_json(&treatment_key, "treatment key delivery")?;
                let ptk = delivery.open(&key)?;
                let patient = Patient::new(&env, key).await?;
                let start = match from {
                    Some(text) => moment(&text, false)?,
                    None => unix_now()?,
                };
                let end = match until {
                    Some(text) => moment(&text, true)?,
                    None => start.saturating_add(30 * 86_400),
                };
                let terms = doctors
                    .iter()
                    .map(|&doctor| DoctorTerm { doctor, notBefore: start.into(), notAfter: end.into() })
                    .collect();
                let warrant = patient.sign_warrant(terms, Default::default());
                write_json(&out, &patient.seal_warrant(&ptk, &warrant))?;
                say!(
                    "warrant for {} doctor(s) signed and sealed under the treatment key: {}",
                    doctors.len(),
                    out.display()
                );
            }
            PatientCommand::Ehr { command } => {
                let key = match &command {
                    PatientEhrCommand::List { key, .. }
                    | PatientEhrCommand::Get { key, .. }
                    | PatientEhrCommand::Check { key, .. } => key,
                };
                let patient = Patient::new(&env, unlock(keystore, key)?).await?;
                match command {
                    PatientEhrCommand::List { json: true, .. } => {
                        let rows: Vec<_> = patient
                            .list()
                            .await?
                            .iter()
                            .map(|e| {
                                serde_json::json!({
                                    "ehr_id": e.ehr_id,
                                    "version": e.version,
                                    "ehr_hash": e.ehr_hash,
                                    "status": e.status,
                                    "ehr_type": e.ehr_type,
                                    "updated_at": e.updated_at,
                                })
                            })
                            .collect();
                        say!("{}", serde_json::to_string_pretty(&rows)?);
                    }
                    PatientEhrCommand::List { json: false, .. } => {
                        let list = patient.list().await?;
                        say!("{:<24} {:>7}  {:<66}  updated", "ehr", "version", "sha-256");
                        for e in &list {
                            say!("{:<24} {:>7}  {}  {}", e.ehr_id, e.version, e.ehr_hash, e.updated_at);
                        }
                        say!("{} EHRs", list.len());
                    }
                    PatientEhrCommand::Get { ehr_id, version, out, json, .. } => {
                        let (record, check) = patient.check(patient.get(&ehr_id, version).await?).await?;
                        if let Some(path) = &out {
                            std::fs::write(path, &record.body)
                                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        }
                        if json {
                            let mut row = ehr_row(&record, &check);
                            if out.is_none() {
                                row["body"] = serde_json::from_slice(&record.body)
                                    .unwrap_or_else(|_| String::from_utf8_lossy(&record.body).into());
                            }
                            say!("{}", serde_json::to_string_pretty(&row)?);
                        } else {
                            if out.is_none() {
                                say!("{}", String::from_utf8_lossy(&record.body));
                            }
                            eprintln!("{}", verdict(&record, &check));
                        }
                        return Ok(exit_code(check.is_intact()));
                    }
                    PatientEhrCommand::Check { json, .. } => {
                        let checked = patient.check_integrity().await?;
                        return report(&checked, None, json);
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_doctor(keystore: &Path, home: &Path, command: DoctorCommand) -> Result<ExitCode> {
    match command {
        DoctorCommand::PublishKey { key } => runtime()?.block_on(async {
            let env = open(home).await?;
            let doctor = Doctor::new(&env, unlock(keystore, &key)?).await?;
            say!(
                "doctor {}: X25519 key published on the Directory; hospitals can seal treatment keys to it",
                doctor.address()
            );
            Ok(ExitCode::SUCCESS)
        }),
        DoctorCommand::Write(args) => write(keystore, home, args),
        DoctorCommand::WriteBatch(args) => write_batch(keystore, home, args),
    }
}

/// `healthchain doctor write-batch`: every bundle is validated, and ids are checked to be
/// distinct, before anything is unlocked or sent.
fn write_batch(keystore: &Path, home: &Path, args: WriteBatchArgs) -> Result<ExitCode> {
    let WriteBatchArgs { mandate, fields, bundles } = args;
    validate(&bundles)?;
    let mut ids = HashSet::new();
    let mut drafts = Vec::with_capacity(bundles.len());
    for path in &bundles {
        let ehr_id = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or_else(|| format!("{}: the file name is not an EHR id", path.display()))?
            .to_string();
        if !ids.insert(ehr_id.clone()) {
            return Err(format!("two files would both be EHR '{ehr_id}'; nothing written").into());
        }
        drafts.push((0, fields.draft(ehr_id, read(path)?)));
    }
    runtime()?.block_on(async {
        let env = open(home).await?;
        let (doctor, warrant) = doctor_under_warrant(&env, keystore, &mandate).await?;
        let written = doctor.write_batch(std::slice::from_ref(&warrant), drafts).await?;
        say!(
            "{} EHRs of {} stored in the enclave; Merkle root {} anchored on EhrRegistry (tx {})",
            written.count,
            warrant.warrant.patient,
            written.root,
            written.transaction
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `healthchain doctor write`: the bundle is validated before anything is unlocked or sent.
fn write(keystore: &Path, home: &Path, args: WriteArgs) -> Result<ExitCode> {
    let WriteArgs { mandate, ehr_id, update, fields, bundle } = args;
    validate(std::slice::from_ref(&bundle))?;
    let draft = fields.draft(ehr_id, read(&bundle)?);
    runtime()?.block_on(async {
        let env = open(home).await?;
        let (doctor, warrant) = doctor_under_warrant(&env, keystore, &mandate).await?;
        let written = doctor.write(&warrant, draft, update).await.map_err(|e| with_update_hint(e, update))?;
        let r = &written.receipt;
        say!(
            "EHR {} version {} of {} stored in the enclave; hash {} on EhrRegistry (tx {})",
            r.ehr_id,
            r.version,
            r.patient,
            r.ehr_hash,
            written.transaction
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn exit_code(intact: bool) -> ExitCode {
    if intact { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn verdict(record: &EhrRecord, check: &EhrCheck) -> String {
    let what = match check {
        EhrCheck::Intact { hash } => format!("intact: sha-256 {hash} is on EhrRegistry"),
        EhrCheck::IntactInBatch { hash, root } => {
            format!("intact: sha-256 {hash}, its Merkle proof leads to root {root} anchored on EhrRegistry")
        }
        EhrCheck::BatchMismatch { off_chain, root, why } => {
            format!("TAMPERED: the store's bytes hash to {off_chain}, in batch {root}: {why}")
        }
        EhrCheck::Tampered { off_chain, on_chain } => {
            let chain = if on_chain.is_empty() {
                "nothing".to_string()
            } else {
                on_chain.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            };
            format!(
                "TAMPERED: the store's bytes hash to {off_chain}, but doctor {} wrote {chain} on EhrRegistry under warrant {}",
                record.author, record.warrant_id
            )
        }
    };
    format!("{} v{} by {}: {what}", record.ehr_id, record.version, record.author)
}

/// A file name for EHR `ehr_id` unlike every name in `taken` (and added to it): the id with
/// '/', '\\' and '.' replaced, so ids differing only there get `-2`, `-3`… rather than
/// overwriting each other.
fn file_name(ehr_id: &str, taken: &mut HashSet<String>) -> String {
    let stem = ehr_id.replace(['/', '\\', '.'], "_");
    let mut name = format!("{stem}.json");
    let mut n = 1;
    while !taken.insert(name.clone()) {
        n += 1;
        name = format!("{stem}-{n}.json");
    }
    name
}

/// Prints each EHR's check (and writes the EHRs into `out`); exit 1 if any is tampered.
/// One checked EHR as `--json` prints it.
fn ehr_row(record: &EhrRecord, check: &EhrCheck) -> serde_json::Value {
    serde_json::json!({
        "ehr_id": record.ehr_id,
        "version": record.version,
        "author": record.author,
        "ehr_hash": record.ehr_hash,
        "intact": check.is_intact(),
        "verdict": verdict(record, check),
    })
}

fn report(checked: &[(EhrRecord, EhrCheck)], out: Option<&Path>, json: bool) -> Result<ExitCode> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let intact = checked.iter().filter(|(_, check)| check.is_intact()).count();
    let mut rows = Vec::new();
    let mut taken = HashSet::new();
    for (record, check) in checked {
        if json {
            rows.push(ehr_row(record, check));
        } else {
            say!("{}", verdict(record, check));
        }
        if let Some(dir) = out {
            let path = dir.join(file_name(&record.ehr_id, &mut taken));
            std::fs::write(&path, &record.body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    if json {
        say!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        say!("{} EHRs, {intact} intact, {} tampered", checked.len(), checked.len() - intact);
    }
    Ok(exit_code(intact == checked.len()))
}
