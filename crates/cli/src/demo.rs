//! `healthchain demo`: the story on embedded defaults, as far as it is built.
//!
//! Today, on the shipped Synthea patients: the enclave runs as a separate process whose
//! evidence is verified; each patient's bundle is split into dated versions and validated;
//! the versions are encrypted into the local object store under a chameleon anchor that
//! never changes across the follow-up visits; the record key is wrapped to the enclave's
//! attested key and a 2-of-3 committee; each patient opens an attested session to the
//! enclave; a warrant is signed; tampering attempts are refused. What the demo does not
//! run yet is listed in its report.

use crate::output::say;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::keywrap::{self, Purpose};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_crypto::{chameleon, hash};
use healthchain_enclave::client;
use healthchain_enclave::evidence::{Evidence, Policy, VerifiedEnclave};
use healthchain_enclave::host::{
    EnclaveBackend, EnclaveError, SimulatedConfig, SimulatedEnclave, measure, new_platform_secret, platform_address,
};
use healthchain_enclave::protocol::{Ecall, EcallResult};
use healthchain_enclave::runtime::{STATUS_APP, Status};
use healthchain_store::{ObjectAddress, Store, StoreError};
use serde_json::json;

/// The Synthea bundles shipped with the project.
pub const DEFAULT_PATIENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fhir/synthea");

/// Parts of the product the demo does not run yet, named so nobody mistakes the demo
/// for the whole story.
const NOT_YET_RUN: &[&str] = &[
    "registering records and logging versions on the chain (contracts and client exist)",
    "the enclave's update application",
    "paid sharing jobs and the committee service",
    "doctors writing EHRs into the enclave's SQLCipher store (the store exists)",
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
    /// The enclave could not be launched or verified.
    Enclave(String),
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
            DemoError::Enclave(why) => write!(f, "enclave: {why}"),
            DemoError::Failed(what) => write!(f, "demo step failed: {what}"),
        }
    }
}

impl std::error::Error for DemoError {}

/// Splits a patient bundle into record versions (first encounter, then one per later
/// encounter, in date order) and validates each version in the context of the ones before
/// it, as the enclave will: references resolve, same patient, nothing rewritten.
fn visits(path: &Path, bundle: &[u8]) -> Result<Vec<Vec<u8>>, DemoError> {
    let versions =
        healthchain_fhir::split_into_versions(bundle).map_err(|e| DemoError::NotABundle(path.into(), e.to_string()))?;
    let mut context = healthchain_fhir::RecordContext::new();
    for version in &versions {
        let validated = healthchain_fhir::validate_update(&version.bytes, &context).map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            DemoError::NotABundle(path.into(), format!("version {} is invalid: {first}", version.number))
        })?;
        context.add(&validated);
    }
    Ok(versions.into_iter().map(|v| v.bytes).collect())
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
    let state = tempfile::tempdir().map_err(|e| DemoError::Io(std::env::temp_dir(), e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| DemoError::Failed(format!("cannot start the async runtime: {e}")))?;
    let store = Store::local(state.path().join("objects")).map_err(|e| DemoError::Failed(e.to_string()))?;
    let (enclave, verified) = timings.time("enclave_launch", || launch_enclave(&state.path().join("enclave")))?;
    let trusted = EnclaveIdentity { id: verified.measurement, report_signer: verified.report_signer };
    let (committee, members) = timings
        .time("committee_setup", || keywrap::deal_committee(2, 3, &mut rng))
        .map_err(|e| DemoError::Failed(e.to_string()))?;

    for path in &files {
        let text = std::fs::read(path).map_err(|e| DemoError::Io(path.clone(), e))?;
        let visits = timings.time("fhir_split_validate", || visits(path, &text))?;
        let patient = EthKey::generate(&mut rng);
        let record = RecordId(hash::hash_fields(
            "demo-record",
            &[patient.address().as_slice(), path.to_string_lossy().as_bytes()],
        ));
        let key = RecordKey::generate(&mut rng);
        let (trapdoor, public) = chameleon::keygen(&mut rng);

        // Upload: entry 1 encrypted into the object store, digest chain, anchor.
        let stored = |bytes: Vec<u8>| runtime.block_on(store.put(bytes)).map_err(|e| DemoError::Failed(e.to_string()));
        let mut addresses = Vec::with_capacity(visits.len());
        let (mut chain, anchor, first_check) = timings.time("upload", || {
            let c = envelope::encrypt_entry(&key, EntryContext { record, entry_index: 1 }, &visits[0], &mut rng);
            let chain = DigestChain::genesis(record).append(&entry_digest(&c));
            addresses.push(stored(c)?);
            let (anchor, check) = chameleon::hash(&public, &chain.message().to_bytes(), &mut rng);
            Ok::<_, DemoError>((chain, anchor, check))
        })?;
        let anchor_bytes = anchor.to_bytes();
        let mut checks = vec![first_check];

        // Follow-up visits: new entries only; the anchor stays, each version gets a new
        // check string.
        timings.time("updates", || {
            for (index, visit) in visits.iter().enumerate().skip(1) {
                let context = EntryContext { record, entry_index: index as u64 + 1 };
                let c = envelope::encrypt_entry(&key, context, visit, &mut rng);
                chain = chain.append(&entry_digest(&c));
                addresses.push(stored(c)?);
                checks.push(chameleon::adapt(&trapdoor, &anchor, &chain.message().to_bytes(), &mut rng));
            }
            Ok::<_, DemoError>(())
        })?;

        // Anyone can verify every version from the store's ciphertexts and the public
        // values alone; the key holder then decrypts to the original bytes.
        let (versions_ok, ciphertexts) = timings.time("verify", || {
            let mut chain = DigestChain::genesis(record);
            let mut ok = 0;
            let mut ciphertexts = Vec::with_capacity(addresses.len());
            for (address, check) in addresses.iter().zip(&checks) {
                let c = runtime.block_on(store.get(address)).map_err(|e| DemoError::Failed(e.to_string()))?;
                chain = chain.append(&entry_digest(&c));
                ok += usize::from(chameleon::check(&public, &chain.message().to_bytes(), &anchor, check).is_ok());
                ciphertexts.push(c);
            }
            Ok::<_, DemoError>((ok, ciphertexts))
        })?;
        let decrypted_ok = timings.time("decrypt", || {
            ciphertexts.iter().enumerate().all(|(i, c)| {
                envelope::decrypt_entry(&key, EntryContext { record, entry_index: i as u64 + 1 }, c).ok().as_deref()
                    == Some(&visits[i][..])
            })
        });
        if !decrypted_ok || anchor.to_bytes() != anchor_bytes {
            return Err(DemoError::Failed(format!("{}: record did not round-trip", path.display())));
        }

        // Key wrapping: inner layer to the enclave's attested key, outer layer to the
        // committee; two of three members' shares release the inner layer towards the
        // enclave (only the enclave can open it).
        let released = timings.time("key_authorization", || {
            let inner =
                keywrap::wrap(&verified.encryption_key, key.as_bytes(), Purpose::EnclaveLayer, &record.0, &mut rng);
            let outer =
                keywrap::wrap(&committee.key(), &inner.to_bytes(), Purpose::CommitteeLayer, &record.0, &mut rng);
            let shares: Vec<_> =
                members[1..].iter().map(|m| m.decryption_share(&outer, b"demo-request", &mut rng)).collect();
            committee.open(&outer, &shares, b"demo-request", &record.0).map(|t| t == inner.to_bytes())
        });
        if released != Ok(true) {
            return Err(DemoError::Failed("committee shares did not release the inner key layer".into()));
        }

        // The patient opens an attested session to the enclave process.
        let status = timings
            .time("session", || {
                let mut session = client::connect(&enclave, patient.clone(), trusted)?;
                let status: Status = session.call(STATUS_APP, &())?;
                session.close()?;
                Ok::<_, client::ClientError>(status)
            })
            .map_err(|e| DemoError::Enclave(e.to_string()))?;
        if B256::from(status.measurement) != verified.measurement {
            return Err(DemoError::Failed("the session reached an enclave with another measurement".into()));
        }

        // A warrant for an ordered group of three doctors.
        let doctors: Vec<EthKey> = (0..3).map(|_| EthKey::generate(&mut rng)).collect();
        let domain = eip712::domain(31337, Address::ZERO);
        let warrant = Warrant {
            patient: patient.address(),
            doctors: doctors
                .iter()
                .map(|d| DoctorTerm { doctor: d.address(), notBefore: 0, notAfter: u64::MAX })
                .collect(),
            aux: B256::ZERO,
        };
        let signed = timings.time("warrant", || SignedWarrant::sign(&patient, warrant, &domain));
        if signed.authorize(&domain, doctors[2].address(), 1).is_err() {
            return Err(DemoError::Failed("warrant did not authorize its doctor".into()));
        }

        // Attacks: a flipped byte in stored ciphertext, a forged check string, a session
        // record altered by the host, a doctor outside the warrant.
        let chain_of_first = DigestChain::genesis(record).append(&entry_digest(&ciphertexts[0]));
        tally
            .attack(tamper_stored_object(&store, &addresses[0]).is_ok_and(|()| {
                matches!(runtime.block_on(store.get(&addresses[0])), Err(StoreError::Tampered { .. }))
            }));
        let (_, forged) = chameleon::hash(&public, b"rewritten history", &mut rng);
        tally.attack(chameleon::check(&public, &chain_of_first.message().to_bytes(), &anchor, &forged).is_err());
        let tampering = TamperingHost(&enclave);
        tally.attack(
            client::connect(&tampering, patient.clone(), trusted)
                .and_then(|mut session| session.call::<_, Status>(STATUS_APP, &()))
                .is_err(),
        );
        tally.attack(signed.authorize(&domain, patient.address(), 1).is_err());

        tally.records += 1;
        tally.versions += visits.len();
        tally.versions_verified += versions_ok;
        tally.bytes += visits.iter().map(Vec::len).sum::<usize>();
    }

    let timings_ms: BTreeMap<&str, f64> = timings.0.iter().map(|(k, v)| (*k, (v * 1000.0).round() / 1000.0)).collect();
    if as_json {
        let summary = json!({
            "records": tally.records,
            "versions": tally.versions,
            "versions_verified": tally.versions_verified,
            "plaintext_bytes": tally.bytes,
            "attacks_attempted": tally.attacks_attempted,
            "attacks_refused": tally.attacks_refused,
            "timings_ms": timings_ms,
            "not_yet_run": NOT_YET_RUN,
        });
        say!("{summary:#}");
    } else {
        say!("healthchain demo — cryptographic core and simulated enclave on {} Synthea patients", tally.records);
        say!(
            "  enclave: separate process, measurement {}, evidence verified (simulated platform), restarts {}",
            verified.measurement,
            enclave.restarts()
        );
        say!(
            "  records {}  versions {}  verified {}  ({} KB of FHIR)",
            tally.records,
            tally.versions,
            tally.versions_verified,
            tally.bytes / 1024
        );
        say!("  every anchor unchanged across all updates");
        say!(
            "  every record key wrapped to the attested enclave key and released towards it by 2 of 3 committee members"
        );
        say!("  every patient reached the enclave over an attested session");
        say!(
            "  attacks refused {}/{} (ciphertext altered in the store, forged check string, session record altered by the host, doctor outside warrant)",
            tally.attacks_refused,
            tally.attacks_attempted
        );
        say!("  timings (ms):");
        for (step, ms) in &timings_ms {
            say!("    {step:<18} {ms:>10.3}");
        }
        say!("  not yet in the demo: {}", NOT_YET_RUN.join("; "));
    }
    if tally.versions_verified != tally.versions || tally.attacks_refused != tally.attacks_attempted {
        return Err(DemoError::Failed("a version failed to verify or an attack was not refused".into()));
    }
    Ok(())
}

/// Launches the simulated enclave as a separate process running this executable's
/// hidden `enclave-process` mode, and verifies its evidence.
fn launch_enclave(state: &Path) -> Result<(SimulatedEnclave, VerifiedEnclave), DemoError> {
    let program =
        std::env::current_exe().map_err(|e| DemoError::Enclave(format!("cannot locate this executable: {e}")))?;
    let measurement =
        measure(&program).map_err(|e| DemoError::Enclave(format!("cannot measure {}: {e}", program.display())))?;
    let secret = new_platform_secret();
    let mut config = SimulatedConfig::new(&program, state, secret);
    config.args = vec!["enclave-process".into()];
    let enclave = SimulatedEnclave::launch(config).map_err(|e| DemoError::Enclave(e.to_string()))?;
    let policy =
        Policy { platforms: vec![platform_address(secret)], measurements: vec![measurement], accept_simulated: true };
    let verified = enclave.evidence().verify(&policy).map_err(|e| DemoError::Enclave(e.to_string()))?;
    Ok((enclave, verified))
}

/// A host that flips one bit of every session record it relays.
struct TamperingHost<'a>(&'a SimulatedEnclave);

impl EnclaveBackend for TamperingHost<'_> {
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        let mut body = body.to_vec();
        if let (Ecall::SessionRecord { .. }, Some(last)) = (ecall, body.last_mut()) {
            *last ^= 1;
        }
        self.0.call(ecall, &body)
    }

    fn evidence(&self) -> Evidence {
        self.0.evidence()
    }
}

/// Plays a dishonest storage provider: flips one byte of a stored object on disk.
fn tamper_stored_object(store: &Store, address: &ObjectAddress) -> std::io::Result<()> {
    let file = store.local_file(address).ok_or_else(|| std::io::Error::other("the demo store is local"))?;
    let mut bytes = std::fs::read(&file)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, bytes)
}
