//! `healthchain demo`: the story on embedded defaults, as far as it is built.
//!
//! Today that is the cryptographic core on the shipped Synthea patients: each patient's
//! bundle becomes an encrypted record whose chameleon anchor never changes across its
//! follow-up visits, the record key is wrapped for the enclave and a 2-of-3 committee,
//! a session and a warrant are exercised, and tampering attempts are refused. The ledger,
//! the enclave process, storage and the sharing flows are reported as not yet built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::keywrap::{self, Purpose, SecretKey, Wrapped};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use healthchain_crypto::session::{self, EnclaveIdentity};
use healthchain_crypto::signing::EthKey;
use healthchain_crypto::{chameleon, hash};
use serde_json::{Value, json};

/// The Synthea bundles shipped with the project.
pub const DEFAULT_PATIENTS_DIR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea");

/// Parts of the product the demo does not run yet, named so nobody mistakes the demo
/// for the whole story.
const NOT_YET_BUILT: &[&str] = &[
    "ledger contracts on the embedded chain",
    "enclave process with attestation",
    "object store",
    "FHIR validation and encounter-date splitting",
    "paid sharing jobs",
    "TrustHealth EHR store",
];

/// Why the demo could not run.
#[derive(Debug)]
pub enum DemoError {
    /// The patients directory could not be read.
    Io(PathBuf, std::io::Error),
    /// A bundle is not a FHIR Bundle with entries.
    NotABundle(PathBuf, String),
    /// No bundles found.
    NoPatients(PathBuf),
    /// A step that must succeed failed.
    Failed(String),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Io(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            DemoError::NotABundle(path, why) => {
                write!(f, "{} is not a FHIR Bundle: {why}", path.display())
            }
            DemoError::NoPatients(path) => {
                write!(f, "no *.json patient bundles in {}", path.display())
            }
            DemoError::Failed(what) => write!(f, "demo step failed: {what}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Splits a bundle's entries into visits: the first visit with everything before the
/// second encounter, then one visit per later encounter, in bundle order.
fn visits(path: &Path, bundle: &Value) -> Result<Vec<Vec<u8>>, DemoError> {
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| DemoError::NotABundle(path.into(), "no entry array".into()))?;
    let mut groups: Vec<Vec<Value>> = vec![Vec::new()];
    let mut seen_encounter = false;
    for entry in entries {
        let is_encounter = entry
            .pointer("/resource/resourceType")
            .and_then(Value::as_str)
            == Some("Encounter");
        if is_encounter && seen_encounter {
            groups.push(Vec::new());
        }
        seen_encounter |= is_encounter;
        groups
            .last_mut()
            .expect("groups starts non-empty")
            .push(entry.clone());
    }
    Ok(groups
        .into_iter()
        .map(|entry| {
            json!({"resourceType": "Bundle", "type": "collection", "entry": entry})
                .to_string()
                .into_bytes()
        })
        .collect())
}

struct Timings(BTreeMap<&'static str, f64>);

impl Timings {
    fn time<T>(&mut self, step: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        *self.0.entry(step).or_default() += start.elapsed().as_secs_f64() * 1e3;
        value
    }
}

#[derive(Default)]
struct Tally {
    records: usize,
    versions: usize,
    versions_verified: usize,
    bytes: usize,
    attacks_attempted: usize,
    attacks_refused: usize,
}

impl Tally {
    fn attack(&mut self, refused: bool) {
        self.attacks_attempted += 1;
        self.attacks_refused += usize::from(refused);
    }
}

/// Runs the demo over the bundles in `dir`.
pub fn run(dir: &Path, limit: Option<usize>, as_json: bool) -> Result<(), DemoError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DemoError::Io(dir.into(), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files.truncate(limit.unwrap_or(usize::MAX));
    if files.is_empty() {
        return Err(DemoError::NoPatients(dir.into()));
    }

    let mut rng = rand::rng();
    let mut timings = Timings(BTreeMap::new());
    let mut tally = Tally::default();
    let enclave_key = SecretKey::generate(&mut rng);
    let enclave_reports = EthKey::generate(&mut rng);
    let enclave = EnclaveIdentity {
        id: B256::from(hash::sha256(b"simulated enclave measurement")),
        report_signer: enclave_reports.address(),
    };
    let (committee, members) = timings
        .time("committee_setup", || {
            keywrap::deal_committee(2, 3, &mut rng)
        })
        .map_err(|e| DemoError::Failed(e.to_string()))?;

    for path in &files {
        let text = std::fs::read(path).map_err(|e| DemoError::Io(path.clone(), e))?;
        let bundle: Value = serde_json::from_slice(&text)
            .map_err(|e| DemoError::NotABundle(path.clone(), e.to_string()))?;
        let visits = visits(path, &bundle)?;
        let patient = EthKey::generate(&mut rng);
        let record = RecordId(hash::hash_fields(
            "demo-record",
            &[
                patient.address().as_slice(),
                path.to_string_lossy().as_bytes(),
            ],
        ));
        let key = RecordKey::generate(&mut rng);
        let (trapdoor, public) = chameleon::keygen(&mut rng);

        // Upload: entry 1, digest chain, anchor.
        let mut ciphertexts = Vec::with_capacity(visits.len());
        let (anchor, first_check) = timings.time("upload", || {
            let c = envelope::encrypt_entry(
                &key,
                EntryContext {
                    record,
                    entry_index: 1,
                },
                &visits[0],
                &mut rng,
            );
            let chain = DigestChain::genesis(record).append(&entry_digest(&c));
            ciphertexts.push(c);
            chameleon::hash(&public, &chain.message().to_bytes(), &mut rng)
        });
        let anchor_bytes = anchor.to_bytes();
        let mut checks = vec![first_check];

        // Follow-up visits: the anchor stays, each version gets a new check string.
        timings.time("updates", || {
            let mut chain = DigestChain::genesis(record).append(&entry_digest(&ciphertexts[0]));
            for (index, visit) in visits.iter().enumerate().skip(1) {
                let c = envelope::encrypt_entry(
                    &key,
                    EntryContext {
                        record,
                        entry_index: index as u64 + 1,
                    },
                    visit,
                    &mut rng,
                );
                chain = chain.append(&entry_digest(&c));
                checks.push(chameleon::adapt(
                    &trapdoor,
                    &anchor,
                    &chain.message().to_bytes(),
                    &mut rng,
                ));
                ciphertexts.push(c);
            }
        });

        // Verify every version from ciphertexts alone, then decrypt to the original bytes.
        let verified = timings.time("verify", || {
            let mut chain = DigestChain::genesis(record);
            ciphertexts
                .iter()
                .zip(&checks)
                .filter(|(c, check)| {
                    chain = chain.append(&entry_digest(c));
                    chameleon::check(&public, &chain.message().to_bytes(), &anchor, check).is_ok()
                })
                .count()
        });
        let decrypted_ok = timings.time("decrypt", || {
            ciphertexts.iter().enumerate().all(|(i, c)| {
                envelope::decrypt_entry(
                    &key,
                    EntryContext {
                        record,
                        entry_index: i as u64 + 1,
                    },
                    c,
                )
                .ok()
                .as_deref()
                    == Some(&visits[i][..])
            })
        });
        if !decrypted_ok || anchor.to_bytes() != anchor_bytes {
            return Err(DemoError::Failed(format!(
                "{}: record did not round-trip",
                path.display()
            )));
        }

        // Key wrapping: enclave inside, committee outside; two of three members open it.
        let opened = timings.time("key_authorization", || {
            let inner = keywrap::wrap(
                &enclave_key.public_key(),
                key.as_bytes(),
                Purpose::EnclaveLayer,
                &record.0,
                &mut rng,
            );
            let outer = keywrap::wrap(
                &committee.key(),
                &inner.to_bytes(),
                Purpose::CommitteeLayer,
                &record.0,
                &mut rng,
            );
            let shares: Vec<_> = members[1..]
                .iter()
                .map(|m| m.decryption_share(&outer, b"demo-request", &mut rng))
                .collect();
            committee
                .open(&outer, &shares, b"demo-request", &record.0)
                .and_then(|t| Wrapped::from_bytes(&t))
                .and_then(|t| enclave_key.unwrap_key(&t, Purpose::EnclaveLayer, &record.0))
        });
        if opened.as_deref() != Ok(&key.as_bytes()[..]) {
            return Err(DemoError::Failed(
                "committee shares did not release the record key to the enclave".into(),
            ));
        }

        // The patient hands the record key to the enclave over an attested session.
        let (mut client_session, mut enclave_session) = timings
            .time("session", || {
                let (client, hello) = session::client_start(patient.clone(), enclave, &mut rng);
                let (server, reply) =
                    session::server_respond(&enclave_reports, enclave.id, &hello, &mut rng)
                        .map_err(|e| e.to_string())?;
                let (client_session, finish) = client.finish(&reply).map_err(|e| e.to_string())?;
                let (enclave_session, _) = server.finish(&finish).map_err(|e| e.to_string())?;
                Ok::<_, String>((client_session, enclave_session))
            })
            .map_err(DemoError::Failed)?;
        let sealed = client_session
            .seal(key.as_bytes())
            .map_err(|e| DemoError::Failed(e.to_string()))?;
        if enclave_session.open(&sealed).ok().as_deref() != Some(&key.as_bytes()[..]) {
            return Err(DemoError::Failed(
                "session did not deliver the record key".into(),
            ));
        }

        // A warrant for an ordered group of three doctors.
        let doctors: Vec<EthKey> = (0..3).map(|_| EthKey::generate(&mut rng)).collect();
        let domain = eip712::domain(31337, Address::ZERO);
        let warrant = Warrant {
            patient: patient.address(),
            doctors: doctors
                .iter()
                .map(|d| DoctorTerm {
                    doctor: d.address(),
                    notBefore: 0,
                    notAfter: u64::MAX,
                })
                .collect(),
            aux: B256::ZERO,
        };
        let signed = timings.time("warrant", || {
            SignedWarrant::sign(&patient, warrant, &domain)
        });
        if signed.authorize(&domain, doctors[2].address(), 1).is_err() {
            return Err(DemoError::Failed(
                "warrant did not authorize its doctor".into(),
            ));
        }

        // Attacks: a flipped byte in stored ciphertext, a forged check string, a replayed
        // session record, a doctor outside the warrant.
        let mut tampered = ciphertexts[0].clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 1;
        let chain = DigestChain::genesis(record).append(&entry_digest(&tampered));
        tally.attack(
            envelope::decrypt_entry(
                &key,
                EntryContext {
                    record,
                    entry_index: 1,
                },
                &tampered,
            )
            .is_err()
                && chameleon::check(&public, &chain.message().to_bytes(), &anchor, &checks[0])
                    .is_err(),
        );
        let (_, forged) = chameleon::hash(&public, b"rewritten history", &mut rng);
        tally.attack(
            chameleon::check(&public, &chain.message().to_bytes(), &anchor, &forged).is_err(),
        );
        tally.attack(enclave_session.open(&sealed).is_err());
        tally.attack(signed.authorize(&domain, patient.address(), 1).is_err());

        tally.records += 1;
        tally.versions += visits.len();
        tally.versions_verified += verified;
        tally.bytes += visits.iter().map(Vec::len).sum::<usize>();
    }

    let timings_ms: BTreeMap<&str, f64> = timings
        .0
        .iter()
        .map(|(k, v)| (*k, (v * 1000.0).round() / 1000.0))
        .collect();
    if as_json {
        let summary = json!({
            "records": tally.records,
            "versions": tally.versions,
            "versions_verified": tally.versions_verified,
            "plaintext_bytes": tally.bytes,
            "attacks_attempted": tally.attacks_attempted,
            "attacks_refused": tally.attacks_refused,
            "timings_ms": timings_ms,
            "not_yet_built": NOT_YET_BUILT,
        });
        println!("{summary:#}");
    } else {
        println!(
            "healthchain demo — cryptographic core on {} Synthea patients",
            tally.records
        );
        println!(
            "  records {}  versions {}  verified {}  ({} KB of FHIR)",
            tally.records,
            tally.versions,
            tally.versions_verified,
            tally.bytes / 1024
        );
        println!(
            "  every anchor unchanged across all updates; every record key released to the enclave by 2 of 3 committee members"
        );
        println!(
            "  attacks refused {}/{} (tampered ciphertext, forged check string, replayed session record, doctor outside warrant)",
            tally.attacks_refused, tally.attacks_attempted
        );
        println!("  timings (ms):");
        for (step, ms) in &timings_ms {
            println!("    {step:<18} {ms:>10.3}");
        }
        println!("  not yet built: {}", NOT_YET_BUILT.join(", "));
    }
    if tally.versions_verified != tally.versions || tally.attacks_refused != tally.attacks_attempted
    {
        return Err(DemoError::Failed(
            "a version failed to verify or an attack was not refused".into(),
        ));
    }
    Ok(())
}
