//! The contract test suite, written once and run through the `Ledger` client against the
//! embedded chain **and** an independent EVM node (hardhat 2, started by the harness), plus
//! cross-chain checks (identical gas on both; shared and consortium ledgers on two endpoints).
//!
//! This is a custom test harness (`harness = false`) so that one hardhat node serves every
//! scenario and is stopped by PID at the end. Usage:
//! `cargo test -p healthchain-ledger --release --test contracts [-- FILTER]`.
//! `HEALTHCHAIN_LEDGER_BACKENDS=embedded` (or `hardhat`) runs one backend only.
//!
//! Every scenario deploys a fresh set of contracts, so scenarios are independent; on one
//! backend they run one after another (they move the chain's clock).

#![allow(clippy::result_large_err)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolStruct;
use healthchain_crypto::chameleon;
use healthchain_crypto::eip712::{
    self, CompletionReport, DoctorTerm, EhrBatch, ReplicaJoin, SignedWarrant, UpdateReport, Warrant,
};
use healthchain_crypto::keywrap::{self, Purpose};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use healthchain_crypto::signing::EthKey;
use healthchain_ledger::bindings::{Directory, RecordRegistry};
use healthchain_ledger::client::{Connection, GasMode};
use healthchain_ledger::contracts::{
    BatchWarrant, EhrWrite, HospitalStatus, License, PRIVILEGE_WRITE_EHR, RequestStatus,
};
use healthchain_ledger::errors::{ContractError, LedgerError};
use healthchain_ledger::ids;
use healthchain_ledger::testing::{Backend, check_cancun, dev_key};
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type BoxFut = Pin<Box<dyn Future<Output = R> + Send>>;
type Scenario = fn(Arc<Env>) -> BoxFut;

/// What a scenario runs against.
struct Env {
    conn: Connection,
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("line {}: {}", line!(), format!($($msg)+)).into());
        }
    };
}

macro_rules! ensure_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("line {}: {} = {:?}, expected {:?}", line!(), stringify!($a), a, b).into());
        }
    }};
}

/// Awaits `$call` and checks it reverted with a [`ContractError`] matching the pattern.
macro_rules! expect_revert {
    ($call:expr, $pat:pat $(if $guard:expr)?) => {{
        match $call.await {
            Err(LedgerError::Reverted { error, .. }) => {
                #[allow(unused_variables)]
                match &error {
                    $pat $(if $guard)? => {}
                    other => {
                        return Err(format!("line {}: expected {}, got {other}", line!(), stringify!($pat)).into())
                    }
                }
            }
            Ok(_) => return Err(format!("line {}: expected {}, the call succeeded", line!(), stringify!($pat)).into()),
            Err(e) => return Err(format!("line {}: expected {}, got {e}", line!(), stringify!($pat)).into()),
        }
    }};
}

const GWEI: u64 = 1_000_000_000;
const DEPOSIT: u64 = 1_000_000_000_000_000;
const LICENSE_TTL: u32 = 3600;
const COMPLETION_TIMEOUT: u32 = 7200;

fn key_from(tag: &str) -> EthKey {
    EthKey::from_bytes(keccak256(tag.as_bytes()).as_slice()).expect("valid")
}

/// A `Send` CSPRNG seeded from the thread RNG (the thread RNG cannot cross `.await`s).
fn send_rng() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::from_rng(&mut rand::rng())
}

fn word(tag: &str) -> B256 {
    keccak256(tag.as_bytes())
}

/// The malleable twin (n − s, flipped v) of a low-s signature.
fn malleable(sig: &[u8; 65]) -> [u8; 65] {
    let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let s = U256::from_be_slice(&sig[32..64]);
    let mut out = *sig;
    out[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    out[64] = if sig[64] == 27 { 28 } else { 27 };
    out
}

/// A fresh deployment and the cast of participants.
struct Fx {
    conn: Connection,
    d: Deployment,
    chain_id: u64,
    admin: Ledger,
    patient: Ledger,
    patient_key: EthKey,
    patient2: Ledger,
    researcher: Ledger,
    hospital: Ledger,
    hospital2: Ledger,
    doctor: Ledger,
    doctor2: Ledger,
    members: Vec<Ledger>,
    outsider: Ledger,
    outsider_key: EthKey,
    enclave: EthKey,
    enclave2: EthKey,
    stranger: EthKey,
}

impl Fx {
    async fn new(env: &Env) -> Result<Fx, LedgerError> {
        let conn = env.conn.clone();
        let params = DeployParams {
            admins: vec![],
            deposit_wei: U256::from(DEPOSIT),
            license_ttl_seconds: LICENSE_TTL,
            completion_timeout_seconds: COMPLETION_TIMEOUT,
        };
        let report = deploy(&conn.account(&dev_key(0)), None, &params).await?;
        let d = report.deployment;
        let at = |i: u32| Ledger::new(&conn, None, &dev_key(i), d);
        let fx = Fx {
            chain_id: conn.chain_id(),
            admin: at(0),
            patient: at(1),
            patient_key: dev_key(1),
            patient2: at(2),
            researcher: at(3),
            hospital: at(4),
            hospital2: at(5),
            doctor: at(6),
            doctor2: at(7),
            members: (8..11).map(at).collect(),
            outsider: at(11),
            outsider_key: dev_key(11),
            enclave: key_from("enclave-1"),
            enclave2: key_from("enclave-2"),
            stranger: key_from("stranger"),
            conn,
            d,
        };
        for e in [&fx.enclave, &fx.enclave2] {
            fx.admin.approve_enclave_everywhere(e.address(), word("measurement"), word("ek"), word("sk")).await?;
        }
        Ok(fx)
    }

    async fn now(&self) -> Result<u64, LedgerError> {
        self.conn.timestamp().await
    }

    /// A 2-of-3 committee of `members`.
    async fn committee(&self) -> Result<(), LedgerError> {
        let members = self.members.iter().map(Ledger::address).collect();
        self.admin
            .directory()
            .set_committee(members, vec![word("pk1"), word("pk2"), word("pk3")], word("pk"), 2)
            .await?;
        Ok(())
    }

    /// An approved hospital with two doctors allowed to write EHRs.
    async fn clinic(&self) -> Result<(), LedgerError> {
        self.hospital.directory().register_hospital(word("hospital")).await?;
        self.admin.directory().approve_hospital(self.hospital.address()).await?;
        for doc in [&self.doctor, &self.doctor2] {
            self.hospital
                .directory()
                .register_doctor(doc.address(), word("id"), word("gp"), PRIVILEGE_WRITE_EHR)
                .await?;
        }
        Ok(())
    }

    /// Registers a record of `owner` with a policy open now, charging `charge_gwei`.
    async fn record(&self, owner: &Ledger, tag: &str, charge_gwei: u32) -> Result<B256, LedgerError> {
        let id = owner.records().register(word(tag), word("manifest"), U256::from(DEPOSIT)).await?.event.recordId;
        let now = self.now().await? as u32;
        owner.records().add_policy(id, charge_gwei, now - 100, now + 100_000).await?;
        Ok(id)
    }

    fn update_report_sig(&self, signer: &EthKey, contract: Address, report: &UpdateReport) -> [u8; 65] {
        eip712::sign(signer, report, &eip712::domain(self.chain_id, contract))
    }

    fn completion_sig(&self, signer: &EthKey, request_id: U256, job: B256, result: B256) -> [u8; 65] {
        let report = CompletionReport { requestId: request_id, jobHash: job, resultHash: result };
        eip712::sign(signer, &report, &eip712::domain(self.chain_id, self.d.shared.access_control))
    }

    fn warrant(&self, doctors: &[(Address, u64, u64)], aux: &str) -> Warrant {
        Warrant {
            patient: self.patient.address(),
            doctors: doctors
                .iter()
                .map(|&(doctor, not_before, not_after)| DoctorTerm {
                    doctor,
                    notBefore: not_before,
                    notAfter: not_after,
                })
                .collect(),
            aux: word(aux),
        }
    }

    fn sign_warrant(&self, signer: &EthKey, warrant: Warrant) -> SignedWarrant {
        SignedWarrant::sign(signer, warrant, &eip712::domain(self.chain_id, self.d.consortium.ehr_registry))
    }
}

// ------------------------------------------------------------------------------------------
// Directory

async fn directory_admins(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let dir = fx.admin.directory();
    ensure!(dir.is_admin(fx.admin.address()).await?, "deployer is admin");
    ensure_eq!(dir.admin_count().await?, U256::from(1));
    expect_revert!(dir.remove_admin(fx.admin.address()), ContractError::LastAdmin);
    expect_revert!(fx.outsider.directory().add_admin(fx.outsider.address()), ContractError::NotAdmin);
    dir.add_admin(fx.patient.address()).await?;
    ensure_eq!(dir.admin_count().await?, U256::from(2));
    fx.patient.directory().remove_admin(fx.admin.address()).await?;
    ensure!(!dir.is_admin(fx.admin.address()).await?, "removed");
    expect_revert!(dir.add_admin(fx.outsider.address()), ContractError::NotAdmin);
    Ok(())
}

async fn directory_hospitals_and_doctors(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let (h, h2, dir) = (fx.hospital.directory(), fx.hospital2.directory(), fx.admin.directory());
    expect_revert!(dir.approve_hospital(fx.hospital.address()), ContractError::UnknownHospital);
    let t = h.register_hospital(word("h1")).await?;
    ensure_eq!(t.event.hospital, fx.hospital.address());
    expect_revert!(h.register_hospital(word("h1")), ContractError::HospitalAlreadyRegistered);
    ensure_eq!(dir.hospital_of(fx.hospital.address()).await?.status, HospitalStatus::Pending);
    // a pending hospital cannot enrol doctors
    expect_revert!(
        h.register_doctor(fx.doctor.address(), word("d"), word("s"), PRIVILEGE_WRITE_EHR),
        ContractError::HospitalNotApproved
    );
    expect_revert!(fx.outsider.directory().approve_hospital(fx.hospital.address()), ContractError::NotAdmin);
    dir.approve_hospital(fx.hospital.address()).await?;
    let hosp = dir.hospital_of(fx.hospital.address()).await?;
    ensure_eq!(hosp.status, HospitalStatus::Approved);
    ensure_eq!(hosp.identity_hash, word("h1"));
    let t = h.register_doctor(fx.doctor.address(), word("d"), word("cardio"), PRIVILEGE_WRITE_EHR | 4).await?;
    ensure_eq!(t.event.hospital, fx.hospital.address());
    let doc = dir.doctor_of(fx.doctor.address()).await?;
    ensure!(doc.active && doc.hospital == fx.hospital.address() && doc.specialty == word("cardio"), "{doc:?}");
    ensure_eq!(dir.doctor_privileges(fx.doctor.address()).await?, PRIVILEGE_WRITE_EHR | 4);
    // another hospital cannot take or revoke an active doctor
    h2.register_hospital(word("h2")).await?;
    dir.approve_hospital(fx.hospital2.address()).await?;
    expect_revert!(
        h2.register_doctor(fx.doctor.address(), word("d"), word("s"), 1),
        ContractError::DoctorOfAnotherHospital { doctor, hospital } if *doctor == fx.doctor.address() && *hospital == fx.hospital.address()
    );
    expect_revert!(h2.revoke_doctor(fx.doctor.address()), ContractError::UnknownDoctor);
    // revoking the hospital silences its doctors; revoking the doctor frees them
    dir.revoke_hospital(fx.hospital.address()).await?;
    ensure_eq!(dir.doctor_privileges(fx.doctor.address()).await?, 0);
    expect_revert!(fx.outsider.directory().revoke_hospital(fx.hospital.address()), ContractError::NotAdmin);
    dir.approve_hospital(fx.hospital.address()).await?;
    h.revoke_doctor(fx.doctor.address()).await?;
    ensure_eq!(dir.doctor_privileges(fx.doctor.address()).await?, 0);
    h2.register_doctor(fx.doctor.address(), word("d"), word("s"), 1).await?;
    ensure_eq!(dir.doctor_of(fx.doctor.address()).await?.hospital, fx.hospital2.address());
    let logged = fx.admin.events().doctors_registered(Some(fx.hospital2.address())).await?;
    ensure_eq!(logged.len(), 1);
    ensure_eq!(fx.admin.events().hospitals_registered().await?.len(), 2);
    Ok(())
}

async fn directory_enclaves_committee_session_keys(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let dir = fx.admin.directory();
    let e = dir.enclave_of(fx.enclave.address()).await?;
    ensure!(e.approved && e.measurement == word("measurement") && e.sessionKey == word("sk"), "{e:?}");
    ensure!(!dir.is_approved_enclave(fx.stranger.address()).await?, "stranger");
    expect_revert!(
        fx.outsider.directory().approve_enclave(fx.stranger.address(), word("m"), word("e"), word("s")),
        ContractError::NotAdmin
    );
    expect_revert!(
        dir.revoke_enclave(fx.stranger.address()),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    // committee: none yet, invalid shapes, then epoch 1
    expect_revert!(dir.key_release_committee(fx.enclave.address()), ContractError::NoCommittee);
    let m: Vec<Address> = fx.members.iter().map(Ledger::address).collect();
    let k = vec![word("1"), word("2"), word("3")];
    expect_revert!(dir.set_committee(m.clone(), k.clone(), word("pk"), 0), ContractError::InvalidCommittee);
    expect_revert!(dir.set_committee(m.clone(), k.clone(), word("pk"), 4), ContractError::InvalidCommittee);
    expect_revert!(dir.set_committee(m.clone(), k[..2].to_vec(), word("pk"), 2), ContractError::InvalidCommittee);
    expect_revert!(
        dir.set_committee(vec![m[0], m[0], m[1]], k.clone(), word("pk"), 2),
        ContractError::InvalidCommittee
    );
    expect_revert!(fx.outsider.directory().set_committee(m.clone(), k.clone(), word("pk"), 2), ContractError::NotAdmin);
    let t = dir.set_committee(m.clone(), k.clone(), word("pk"), 2).await?;
    ensure_eq!(t.event.epoch, 1u32);
    ensure_eq!(dir.committee_epoch().await?, 1u32);
    let c = dir.committee_of(1).await?;
    ensure!(c.key == word("pk") && c.threshold == 2 && c.size == 3, "{c:?}");
    let member = dir.committee_member(1, 2).await?;
    ensure!(member.member == m[2] && member.shareKey == k[2], "{member:?}");
    ensure_eq!(dir.committee_seat(1, m[1]).await?, 2u64);
    ensure_eq!(dir.committee_seat(1, fx.outsider.address()).await?, 0u64);
    ensure_eq!(dir.key_release_committee(fx.enclave.address()).await?, (1u32, 2u8));
    expect_revert!(dir.key_release_committee(fx.stranger.address()), ContractError::UnapprovedEnclave { .. });
    ensure_eq!(fx.admin.events().committees_set().await?.len(), 1);
    // revoke an enclave
    let t = dir.revoke_enclave(fx.enclave2.address()).await?;
    ensure_eq!(t.event.reportSigner, fx.enclave2.address());
    ensure!(!dir.is_approved_enclave(fx.enclave2.address()).await?, "revoked");
    expect_revert!(dir.key_release_committee(fx.enclave2.address()), ContractError::UnapprovedEnclave { .. });
    ensure_eq!(fx.admin.events().enclaves_revoked().await?.len(), 1);
    // session keys
    fx.patient.directory().set_session_key(word("x25519")).await?;
    ensure_eq!(dir.session_key_of(fx.patient.address()).await?, word("x25519"));
    // enclaveSigner hashes under the caller's domain: a report signed for the caller recovers
    let report = UpdateReport {
        recordId: word("r"),
        version: 1,
        digest: word("d"),
        checkStringHash: word("c"),
        licenseId: word("l"),
    };
    let caller = fx.outsider.address();
    let sig = fx.update_report_sig(&fx.enclave, caller, &report);
    let outsider_dir = fx.outsider.directory();
    ensure_eq!(outsider_dir.enclave_signer(report.eip712_hash_struct(), &sig).await?, fx.enclave.address());
    let sig_other = fx.update_report_sig(&fx.enclave, fx.patient.address(), &report);
    expect_revert!(
        outsider_dir.enclave_signer(report.eip712_hash_struct(), &sig_other),
        ContractError::UnapprovedEnclave { .. }
    );
    expect_revert!(
        outsider_dir.enclave_signer(report.eip712_hash_struct(), &sig[..64]),
        ContractError::MalformedSignature
    );
    Ok(())
}

/// `recordReplica`: an approved enclave's EIP-712 `ReplicaJoin` under the Directory's own
/// domain records an instance once; anything else reverts.
async fn directory_replicas(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let dir = fx.outsider.directory(); // anyone may submit: the signature authorizes it
    let domain = eip712::domain(fx.chain_id, fx.d.shared.directory);
    let (instance, evidence) = (key_from("instance-1").address(), word("evidence-1"));
    let join = ReplicaJoin { instance, evidenceHash: evidence };
    let sig = eip712::sign(&fx.enclave, &join, &domain);
    // signed by a key that is not an approved enclave
    let stranger_sig = eip712::sign(&fx.stranger, &join, &domain);
    expect_revert!(
        dir.record_replica(instance, evidence, &stranger_sig),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    // the statement was for other fields, or under another contract's domain: the recovered
    // signer is some other key
    expect_revert!(dir.record_replica(instance, word("other"), &sig), ContractError::UnapprovedEnclave { .. });
    expect_revert!(
        dir.record_replica(key_from("instance-2").address(), evidence, &sig),
        ContractError::UnapprovedEnclave { .. }
    );
    let elsewhere = eip712::sign(&fx.enclave, &join, &eip712::domain(fx.chain_id, fx.d.shared.record_registry));
    expect_revert!(dir.record_replica(instance, evidence, &elsewhere), ContractError::UnapprovedEnclave { .. });
    // malformed and malleable signatures
    expect_revert!(dir.record_replica(instance, evidence, &sig[..64]), ContractError::MalformedSignature);
    expect_revert!(dir.record_replica(instance, evidence, &malleable(&sig)), ContractError::MalformedSignature);
    // a revoked enclave provisions no one
    fx.admin.directory().revoke_enclave(fx.enclave2.address()).await?;
    let revoked_sig = eip712::sign(&fx.enclave2, &join, &domain);
    expect_revert!(
        dir.record_replica(instance, evidence, &revoked_sig),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.enclave2.address()
    );
    ensure_eq!(dir.replica_of(instance).await?, Address::ZERO);
    // recorded
    let t = dir.record_replica(instance, evidence, &sig).await?;
    ensure_eq!(t.event.reportSigner, fx.enclave.address());
    ensure_eq!(t.event.instance, instance);
    ensure_eq!(t.event.measurement, word("measurement"));
    ensure_eq!(t.event.evidenceHash, evidence);
    ensure_eq!(dir.replica_of(instance).await?, fx.enclave.address());
    // a replay, or the same instance with other evidence, is refused
    expect_revert!(
        dir.record_replica(instance, evidence, &sig),
        ContractError::ReplicaAlreadyRecorded { instance: i } if *i == instance
    );
    let again = ReplicaJoin { instance, evidenceHash: word("evidence-2") };
    let again_sig = eip712::sign(&fx.enclave, &again, &domain);
    expect_revert!(
        dir.record_replica(instance, word("evidence-2"), &again_sig),
        ContractError::ReplicaAlreadyRecorded { .. }
    );
    // a second instance; the event query lists both, by approved enclave
    let (second, evidence2) = (key_from("instance-2").address(), word("evidence-3"));
    let sig2 = eip712::sign(&fx.enclave, &ReplicaJoin { instance: second, evidenceHash: evidence2 }, &domain);
    dir.record_replica(second, evidence2, &sig2).await?;
    let listed = dir.replicas(Some(fx.enclave.address()), fx.d.shared.deployed_at_block).await?;
    let instances: Vec<Address> = listed.iter().map(|e| e.event.instance).collect();
    ensure_eq!(instances, vec![instance, second]);
    ensure!(dir.replicas(Some(fx.enclave2.address()), 0).await?.is_empty(), "no replicas of enclave 2");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// RecordRegistry

async fn record_register_and_ids(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let reg = fx.patient.records();
    ensure_eq!(reg.deposit().await?, U256::from(DEPOSIT));
    let (anchor, manifest) = (word("anchor"), word("manifest"));
    let t = reg.register(anchor, manifest, U256::from(DEPOSIT)).await?;
    let id = t.event.recordId;
    ensure_eq!(id, ids::record_id(fx.patient.address(), anchor, manifest));
    ensure_eq!(t.event.owner, fx.patient.address());
    let w = reg.record_of(id).await?;
    ensure!(w.exists() && !w.has_policy() && w.owner == fx.patient.address(), "{w:?}");
    expect_revert!(reg.register(anchor, manifest, U256::from(DEPOSIT)), ContractError::RecordExists { record_id } if *record_id == id);
    expect_revert!(
        reg.register(word("x"), manifest, U256::ZERO),
        ContractError::WrongDeposit { required, paid } if *required == U256::from(DEPOSIT) && paid.is_zero()
    );
    expect_revert!(
        reg.register(word("x"), manifest, U256::from(DEPOSIT + 1)),
        ContractError::WrongDeposit { paid, .. } if *paid == U256::from(DEPOSIT + 1)
    );
    // the same anchor by another owner is another record
    let id2 = fx.patient2.records().register(anchor, manifest, U256::from(DEPOSIT)).await?.event.recordId;
    ensure!(id2 != id, "ids differ by owner");
    let mine = fx.patient.events().records_registered(Some(fx.patient.address())).await?;
    ensure_eq!(mine.len(), 1);
    ensure_eq!(mine[0].event.recordId, id);
    Ok(())
}

async fn record_policies(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let reg = fx.patient.records();
    let id = reg.register(word("a"), word("m"), U256::from(DEPOSIT)).await?.event.recordId;
    expect_revert!(fx.outsider.records().add_policy(id, 1, 10, 20), ContractError::NotRecordOwner);
    expect_revert!(fx.outsider.records().add_policy(word("none"), 1, 10, 20), ContractError::NotRecordOwner);
    expect_revert!(reg.add_policy(id, 1, 20, 20), ContractError::EmptyPolicyWindow);
    expect_revert!(reg.add_policy(id, 1, 30, 20), ContractError::EmptyPolicyWindow);
    let t = reg.add_policy(id, 1234, 100, 200).await?;
    ensure!(t.event.chargeGwei == 1234 && t.event.start == 100 && t.event.end == 200, "{:?}", t.event);
    let w = reg.record_of(id).await?;
    ensure_eq!(w, ids::RecordWord { owner: fx.patient.address(), charge_gwei: 1234, start: 100, end: 200 });
    ensure_eq!(reg.record_word(id).await?, w.pack());
    for (when, ok) in [(99, false), (100, true), (150, true), (200, true), (201, false)] {
        ensure_eq!(reg.verify_policy(id, when).await?, ok);
    }
    ensure!(!reg.verify_policy(word("none"), 150).await?, "unknown record");
    expect_revert!(fx.outsider.records().revoke_policy(id), ContractError::NotRecordOwner);
    let t = reg.revoke_policy(id).await?;
    ensure!(t.event.end == 0 && t.event.start == 0 && t.event.chargeGwei == 0, "revoked event");
    ensure!(!reg.verify_policy(id, 150).await?, "revoked");
    ensure_eq!(reg.record_of(id).await?.owner, fx.patient.address());
    ensure_eq!(fx.patient.events().policies_set(id).await?.len(), 2);
    Ok(())
}

/// The full update flow with the real chameleon hash and digest chain: license, UpdateLog
/// append (head chain), confirmation (deposit returned, reputation), events.
async fn update_flow(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let mut rng = send_rng();
    let (trapdoor, public) = chameleon::keygen(&mut rng);
    let (anchor, _) = chameleon::hash(&public, b"placeholder", &mut rng);
    let reg = fx.patient.records();
    let t = reg.register(B256::from(anchor.to_bytes()), word("manifest"), U256::from(DEPOSIT)).await?;
    let id = t.event.recordId;

    expect_revert!(fx.outsider.records().request_update(id, fx.enclave.address()), ContractError::NotRecordOwner);
    expect_revert!(
        reg.request_update(id, fx.stranger.address()),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    let none = reg.license_of(id).await?;
    ensure!(none.enclave == Address::ZERO && none.sequence == 0, "{none:?}");

    let mut chain = DigestChain::genesis(RecordId(id.0));
    let mut head = B256::ZERO;
    for version in 1u64..=3 {
        let lic = reg.request_update(id, fx.enclave.address()).await?;
        let state = reg.license_of(id).await?;
        ensure_eq!(state.license_id, lic.event.licenseId);
        ensure_eq!(state.sequence, version as u32);
        ensure_eq!(state.license_id, ids::license_id(id, fx.enclave.address(), state.expiry, state.sequence));
        ensure_eq!(state.expiry, fx.now().await? + u64::from(LICENSE_TTL));

        chain = chain.append(&entry_digest(format!("ciphertext {version}").as_bytes()));
        let check = chameleon::adapt(&trapdoor, &anchor, &chain.message().to_bytes(), &mut rng);
        chameleon::check(&public, &chain.message().to_bytes(), &anchor, &check)?;
        let words = ids::check_string_words(&check);
        let digest = B256::from(chain.head());
        let report = UpdateReport {
            recordId: id,
            version,
            digest,
            checkStringHash: ids::check_string_hash(&check),
            licenseId: state.license_id,
        };
        let sig = fx.update_report_sig(&fx.enclave, fx.d.consortium.update_log, &report);
        // anyone may relay the enclave's report
        let t = fx.outsider.update_log().append(id, version, digest, words, state.terms(), &sig).await?;
        head = ids::update_log_head(head, version, digest, report.checkStringHash);
        ensure_eq!(t.event.head, head);
        ensure_eq!(t.event.checkString, words);
        ensure_eq!(t.event.licenseId, state.license_id);
        ensure_eq!(t.event.enclave, fx.enclave.address());
        let log = fx.patient.update_log().log_of(id).await?;
        ensure!(log.head == head && log.version == version && log.license_sequence == version as u32, "{log:?}");

        let sig = fx.update_report_sig(&fx.enclave, fx.d.shared.record_registry, &report);
        let before = fx.patient.shared_account().balance().await?;
        let t = fx.outsider.records().confirm_update(id, version, digest, report.checkStringHash, &sig).await?;
        ensure_eq!(t.event.version, version);
        let after = fx.patient.shared_account().balance().await?;
        let refund = if version == 1 { U256::from(DEPOSIT) } else { U256::ZERO };
        ensure_eq!(after, before + refund);
        ensure_eq!(reg.qualified_updates(fx.patient.address()).await?, U256::from(version));
        let closed = reg.license_of(id).await?;
        ensure!(closed.enclave == Address::ZERO && closed.confirmed_version == version as u32, "{closed:?}");
        expect_revert!(
            fx.outsider.records().confirm_update(id, version + 1, digest, report.checkStringHash, &sig),
            ContractError::NoOpenLicense
        );
    }
    // audit trail: every version, in order, verifiable against the anchor
    let appended = fx.patient.events().updates_appended(id).await?;
    ensure_eq!(appended.len(), 3);
    ensure!(appended.iter().enumerate().all(|(i, e)| e.event.version == i as u64 + 1), "ordered");
    ensure_eq!(fx.patient.events().update_licenses(id).await?.len(), 3);
    ensure_eq!(fx.patient.events().updates_confirmed(id).await?.len(), 3);
    Ok(())
}

/// Every refusal of UpdateLog.append and RecordRegistry.confirmUpdate.
async fn update_reverts(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let reg = fx.patient.records();
    let log = fx.outsider.update_log();
    let id = reg.register(word("a"), word("m"), U256::from(DEPOSIT)).await?.event.recordId;
    let lic = reg.request_update(id, fx.enclave.address()).await?;
    let terms = License::from(&lic.event);
    let check = [word("R"), word("s")];
    let report = |version: u64| UpdateReport {
        recordId: id,
        version,
        digest: word("d"),
        checkStringHash: ids::check_string_hash_words(&check),
        licenseId: lic.event.licenseId,
    };
    let log_sig =
        |signer: &EthKey, version: u64| fx.update_report_sig(signer, fx.d.consortium.update_log, &report(version));
    let good = log_sig(&fx.enclave, 1);

    expect_revert!(
        log.append(id, 2, word("d"), check, terms, &log_sig(&fx.enclave, 2)),
        ContractError::VersionOutOfOrder { expected: 1, got: 2 }
    );
    // report signed by an unapproved key
    expect_revert!(
        log.append(id, 1, word("d"), check, terms, &log_sig(&fx.stranger, 1)),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    // report by an approved enclave that is not the licensed one
    expect_revert!(
        log.append(id, 1, word("d"), check, terms, &log_sig(&fx.enclave2, 1)),
        ContractError::WrongEnclave { expected, actual } if *expected == fx.enclave.address() && *actual == fx.enclave2.address()
    );
    // a report for another contract (RecordRegistry's domain) recovers a stranger
    let shared_sig = fx.update_report_sig(&fx.enclave, fx.d.shared.record_registry, &report(1));
    expect_revert!(log.append(id, 1, word("d"), check, terms, &shared_sig), ContractError::UnapprovedEnclave { .. });
    // tampered content: another digest than signed
    expect_revert!(log.append(id, 1, word("other"), check, terms, &good), ContractError::UnapprovedEnclave { .. });
    // forged license terms (longer expiry) change the license id
    let forged = License { expiry: terms.expiry + 1000, ..terms };
    expect_revert!(log.append(id, 1, word("d"), check, forged, &good), ContractError::UnapprovedEnclave { .. });
    // malleable and garbled signatures
    expect_revert!(log.append(id, 1, word("d"), check, terms, &malleable(&good)), ContractError::MalformedSignature);
    expect_revert!(log.append(id, 1, word("d"), check, terms, &good[..64]), ContractError::MalformedSignature);
    let mut bad_v = good;
    bad_v[64] = 29;
    expect_revert!(log.append(id, 1, word("d"), check, terms, &bad_v), ContractError::MalformedSignature);
    expect_revert!(log.append(id, 1, word("d"), check, terms, &[0u8; 65]), ContractError::MalformedSignature);

    // success, then the license is consumed: replaying it fails
    log.append(id, 1, word("d"), check, terms, &good).await?;
    expect_revert!(
        log.append(id, 2, word("d"), check, terms, &log_sig(&fx.enclave, 2)),
        ContractError::LicenseConsumed
    );
    expect_revert!(
        log.append(id, 1, word("d"), check, terms, &good),
        ContractError::VersionOutOfOrder { expected: 2, got: 1 }
    );

    // confirmUpdate refusals on the shared ledger
    let conf = fx.outsider.records();
    let reg_sig =
        |signer: &EthKey, version: u64| fx.update_report_sig(signer, fx.d.shared.record_registry, &report(version));
    let csh = ids::check_string_hash_words(&check);
    expect_revert!(
        conf.confirm_update(id, 0, word("d"), csh, &reg_sig(&fx.enclave, 0)),
        ContractError::VersionOutOfOrder { expected: 1, got: 0 }
    );
    expect_revert!(
        conf.confirm_update(id, 1, word("d"), csh, &reg_sig(&fx.enclave2, 1)),
        ContractError::WrongEnclave { .. }
    );
    expect_revert!(
        conf.confirm_update(id, 1, word("d"), csh, &reg_sig(&fx.stranger, 1)),
        ContractError::UnapprovedEnclave { .. }
    );
    expect_revert!(conf.confirm_update(id, 1, word("d"), csh, &good), ContractError::UnapprovedEnclave { .. });
    expect_revert!(
        conf.confirm_update(id, 1, word("d"), csh, &malleable(&reg_sig(&fx.enclave, 1))),
        ContractError::MalformedSignature
    );
    conf.confirm_update(id, 1, word("d"), csh, &reg_sig(&fx.enclave, 1)).await?;

    // an expired license
    let lic2 = reg.request_update(id, fx.enclave.address()).await?;
    let terms2 = License::from(&lic2.event);
    fx.conn.increase_time(u64::from(LICENSE_TTL) + 10).await?;
    let r2 = UpdateReport { version: 2, licenseId: lic2.event.licenseId, ..report(2) };
    let sig2 = fx.update_report_sig(&fx.enclave, fx.d.consortium.update_log, &r2);
    expect_revert!(log.append(id, 2, word("d"), check, terms2, &sig2), ContractError::LicenseExpired);
    // a new license replaces it; the old (lower sequence) one cannot be used afterwards
    let lic3 = reg.request_update(id, fx.enclave.address()).await?;
    let r3 = UpdateReport { version: 2, licenseId: lic3.event.licenseId, ..report(2) };
    let sig3 = fx.update_report_sig(&fx.enclave, fx.d.consortium.update_log, &r3);
    log.append(id, 2, word("d"), check, License::from(&lic3.event), &sig3).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// AccessControl + KeyAuthorization

/// Request over two owners' records with real committee shares; completion; payouts.
async fn access_flow(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let mut rng = send_rng();
    let (committee, shares) = keywrap::deal_committee(2, 3, &mut rng)?;
    let members: Vec<Address> = fx.members.iter().map(Ledger::address).collect();
    let share_keys = shares.iter().map(|s| B256::from(s.public_key().to_bytes())).collect();
    fx.admin.directory().set_committee(members, share_keys, B256::from(committee.key().to_bytes()), 2).await?;

    let r1 = fx.record(&fx.patient, "r1", 1500).await?;
    let r2 = fx.record(&fx.patient2, "r2", 2500).await?;
    let wrapped = keywrap::wrap(&committee.key(), b"inner layer T", Purpose::CommitteeLayer, r1.as_slice(), &mut rng);
    let job = word("cohort statistics");
    let price = U256::from(4000 * GWEI);
    let before = fx.researcher.shared_account().balance().await?;
    let t = fx.researcher.access().request_access(vec![r1, r2], job, fx.enclave.address(), price).await?;
    ensure_eq!(fx.researcher.shared_account().balance().await?, before - price - t.receipt.fee());
    let ev = &t.event;
    let request_id = ev.requestId;
    ensure_eq!(request_id, U256::from(1));
    ensure!(ev.recordIds == vec![r1, r2] && ev.jobHash == job && ev.enclave == fx.enclave.address(), "{ev:?}");
    let p0 = ids::RecordWord::unpack(ev.policies[0]);
    ensure!(p0.owner == fx.patient.address() && p0.charge_gwei == 1500, "{p0:?}");
    ensure_eq!(ev.deadline, fx.now().await? + u64::from(COMPLETION_TIMEOUT));
    let req = fx.researcher.access().request_of(request_id).await?;
    ensure!(req.status == RequestStatus::Pending && req.escrow == price, "{req:?}");
    ensure_eq!(req.terms_hash, ids::terms_hash(job, &ev.policies));
    ensure_eq!(fx.researcher.access().request_count().await?, U256::from(1));
    let grant = fx.admin.keys().grant_of(request_id).await?;
    ensure!(
        grant.epoch == 1 && grant.threshold == 2 && grant.record_count == 2 && !grant.threshold_reached(),
        "{grant:?}"
    );
    ensure_eq!(fx.admin.events().key_requested(request_id).await?.len(), 1);

    // two committee members post verifiable shares (one per record)
    for (i, member) in [0usize, 2].iter().enumerate() {
        let share = shares[*member].decryption_share(&wrapped, request_id.to_be_bytes::<32>().as_slice(), &mut rng);
        let t = fx.members[*member]
            .keys()
            .submit_shares(request_id, vec![B256::from(share.share_point()); 2], &[share.proof_bytes(); 2].concat())
            .await?;
        ensure_eq!(t.event.memberIndex, U256::from(*member));
        let reached = t
            .receipt
            .event::<healthchain_ledger::bindings::KeyAuthorization::ThresholdReached>(fx.d.shared.key_authorization);
        ensure_eq!(reached.is_some(), i == 1);
    }
    ensure!(fx.admin.keys().grant_of(request_id).await?.threshold_reached(), "threshold");
    // the enclave reads the shares back from the chain and checks them against the committee
    let posted = fx.admin.events().shares_submitted(request_id).await?;
    ensure_eq!(posted.len(), 2);
    for p in &posted {
        let index = p.event.memberIndex.to::<usize>();
        let mut bytes = Vec::with_capacity(keywrap::DecryptionShare::LEN);
        bytes.extend_from_slice(&(index as u32 + 1).to_be_bytes());
        bytes.extend_from_slice(p.event.shares[0].as_slice());
        bytes.extend_from_slice(&p.event.proofs[..64]);
        let share = keywrap::DecryptionShare::from_bytes(&bytes)?;
        committee.verify_share(&wrapped, &share, request_id.to_be_bytes::<32>().as_slice())?;
    }
    ensure_eq!(fx.admin.events().threshold_reached(request_id).await?.len(), 1);

    // the enclave's completion report, relayed by anyone, credits each owner its charge
    let result = word("result");
    let sig = fx.completion_sig(&fx.enclave, request_id, job, result);
    let t = fx.outsider.access().complete(request_id, job, result, ev.policies.clone(), &sig).await?;
    ensure_eq!(t.event.resultHash, result);
    ensure_eq!(fx.researcher.access().request_of(request_id).await?.status, RequestStatus::Completed);
    let access = fx.patient.access();
    ensure_eq!(access.earnings(fx.patient.address()).await?, U256::from(1500 * GWEI));
    ensure_eq!(access.earnings(fx.patient2.address()).await?, U256::from(2500 * GWEI));
    // payout
    let before = fx.patient.shared_account().balance().await?;
    let t = access.withdraw().await?;
    ensure_eq!(t.event.amount, U256::from(1500 * GWEI));
    ensure_eq!(fx.patient.shared_account().balance().await?, before + U256::from(1500 * GWEI) - t.receipt.fee());
    ensure_eq!(access.earnings(fx.patient.address()).await?, U256::ZERO);
    expect_revert!(access.withdraw(), ContractError::NothingToWithdraw);
    fx.patient2.access().withdraw().await?;
    ensure_eq!(fx.patient.events().withdrawals(Some(fx.patient.address())).await?.len(), 1);
    // audit: the owner sees the access to its record
    let requests = fx.patient.events().access_requested(None, None).await?;
    ensure!(requests.iter().any(|r| r.event.recordIds.contains(&r1)), "audit");
    ensure_eq!(fx.patient.events().access_completed(Some(request_id)).await?.len(), 1);
    ensure!(fx.patient.events().access_request(request_id).await?.is_some(), "by id");
    // double completion
    expect_revert!(
        fx.outsider.access().complete(request_id, job, result, ev.policies.clone(), &sig),
        ContractError::AlreadyCompleted
    );
    Ok(())
}

async fn access_request_reverts(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let acc = fx.researcher.access();
    let enclave = fx.enclave.address();
    let job = word("job");
    let r1 = fx.record(&fx.patient, "r1", 1000).await?;
    // no committee yet: key release cannot be opened
    expect_revert!(acc.request_access(vec![r1], job, enclave, U256::from(1000 * GWEI)), ContractError::NoCommittee);
    fx.committee().await?;
    expect_revert!(acc.request_access(vec![], job, enclave, U256::ZERO), ContractError::BadRecordCount);
    expect_revert!(
        acc.request_access(vec![word("nope")], job, enclave, U256::ZERO),
        ContractError::UnknownRecord { record_id } if *record_id == word("nope")
    );
    // wrong payment
    expect_revert!(
        acc.request_access(vec![r1], job, enclave, U256::from(999 * GWEI)),
        ContractError::Underpaid { required, paid } if *required == U256::from(1000 * GWEI) && *paid == U256::from(999 * GWEI)
    );
    expect_revert!(acc.request_access(vec![r1], job, enclave, U256::ZERO), ContractError::Underpaid { .. });
    expect_revert!(acc.request_access(vec![r1], job, enclave, U256::from(1001 * GWEI)), ContractError::Overpaid { .. });
    // the sum over records, a record named twice is paid twice
    acc.request_access(vec![r1, r1], job, enclave, U256::from(2000 * GWEI)).await?;
    // unapproved enclave (bubbles up from Directory through KeyAuthorization)
    expect_revert!(
        acc.request_access(vec![r1], job, fx.stranger.address(), U256::from(1000 * GWEI)),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    // outside the policy window: before start, after end
    let now = fx.now().await? as u32;
    let reg = fx.patient.records();
    reg.add_policy(r1, 1000, now + 1000, now + 2000).await?;
    expect_revert!(
        acc.request_access(vec![r1], job, enclave, U256::from(1000 * GWEI)),
        ContractError::OutsidePolicyWindow { record_id } if *record_id == r1
    );
    reg.add_policy(r1, 1000, now - 1000, now - 1).await?;
    expect_revert!(
        acc.request_access(vec![r1], job, enclave, U256::from(1000 * GWEI)),
        ContractError::OutsidePolicyWindow { .. }
    );
    // a window that opens later works once the time comes
    reg.add_policy(r1, 1000, now + 500, now + 100_000).await?;
    fx.conn.increase_time(600).await?;
    acc.request_access(vec![r1], job, enclave, U256::from(1000 * GWEI)).await?;
    // revoked policy
    reg.revoke_policy(r1).await?;
    expect_revert!(
        acc.request_access(vec![r1], job, enclave, U256::from(1000 * GWEI)),
        ContractError::PolicyRevoked { record_id } if *record_id == r1
    );
    Ok(())
}

async fn access_complete_reverts(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.committee().await?;
    let r1 = fx.record(&fx.patient, "r1", 1000).await?;
    let job = word("job");
    let t = fx.researcher.access().request_access(vec![r1], job, fx.enclave.address(), U256::from(1000 * GWEI)).await?;
    let (id, policies) = (t.event.requestId, t.event.policies.clone());
    let result = word("result");
    let acc = fx.outsider.access();
    let good = fx.completion_sig(&fx.enclave, id, job, result);
    expect_revert!(
        acc.complete(id + U256::from(1), job, result, policies.clone(), &good),
        ContractError::UnknownRequest
    );
    expect_revert!(acc.complete(id, word("other job"), result, policies.clone(), &good), ContractError::TermsMismatch);
    let mut changed = policies.clone();
    changed[0] += U256::from(1u64) << 160;
    expect_revert!(acc.complete(id, job, result, changed, &good), ContractError::TermsMismatch);
    expect_revert!(
        acc.complete(id, job, result, policies.clone(), &fx.completion_sig(&fx.enclave2, id, job, result)),
        ContractError::WrongEnclave { expected, actual } if *expected == fx.enclave.address() && *actual == fx.enclave2.address()
    );
    expect_revert!(
        acc.complete(id, job, result, policies.clone(), &fx.completion_sig(&fx.stranger, id, job, result)),
        ContractError::UnapprovedEnclave { .. }
    );
    // a report for another result than submitted
    expect_revert!(
        acc.complete(id, job, word("other"), policies.clone(), &good),
        ContractError::UnapprovedEnclave { .. }
    );
    expect_revert!(
        acc.complete(id, job, result, policies.clone(), &malleable(&good)),
        ContractError::MalformedSignature
    );
    expect_revert!(acc.complete(id, job, result, policies.clone(), &good[1..]), ContractError::MalformedSignature);
    // owners are paid what the requester paid, even if the policy changed since
    fx.patient.records().add_policy(r1, 9999, 1, u32::MAX).await?;
    // completion is allowed past the deadline when no refund came first
    fx.conn.increase_time(u64::from(COMPLETION_TIMEOUT) + 10).await?;
    acc.complete(id, job, result, policies.clone(), &good).await?;
    ensure_eq!(fx.patient.access().earnings(fx.patient.address()).await?, U256::from(1000 * GWEI));
    // double completion, and no refund after completion
    expect_revert!(acc.complete(id, job, result, policies.clone(), &good), ContractError::AlreadyCompleted);
    expect_revert!(fx.researcher.access().refund(id), ContractError::AlreadyCompleted);
    Ok(())
}

async fn access_refund(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.committee().await?;
    let r1 = fx.record(&fx.patient, "r1", 3000).await?;
    let job = word("job");
    let price = U256::from(3000 * GWEI);
    let start = fx.researcher.shared_account().balance().await?;
    let t = fx.researcher.access().request_access(vec![r1], job, fx.enclave.address(), price).await?;
    let id = t.event.requestId;
    let mut fees = t.receipt.fee();
    // refund before the timeout
    expect_revert!(fx.researcher.access().refund(id), ContractError::RefundTooEarly { deadline } if *deadline == t.event.deadline);
    fx.conn.increase_time(u64::from(COMPLETION_TIMEOUT) - 100).await?;
    expect_revert!(fx.researcher.access().refund(id), ContractError::RefundTooEarly { .. });
    fx.conn.increase_time(200).await?;
    expect_revert!(fx.outsider.access().refund(id), ContractError::NotRequester);
    expect_revert!(fx.researcher.access().refund(id + U256::from(7)), ContractError::UnknownRequest);
    // refund after the timeout: the escrow comes back in full
    let t = fx.researcher.access().refund(id).await?;
    fees += t.receipt.fee();
    ensure_eq!(fx.researcher.shared_account().balance().await?, start - fees);
    ensure_eq!(fx.researcher.access().request_of(id).await?.status, RequestStatus::Refunded);
    ensure_eq!(fx.researcher.events().access_refunded(Some(id)).await?.len(), 1);
    expect_revert!(fx.researcher.access().refund(id), ContractError::AlreadyRefunded);
    let sig = fx.completion_sig(&fx.enclave, id, job, word("r"));
    expect_revert!(
        fx.outsider.access().complete(id, job, word("r"), t_policies(&fx, id).await?, &sig),
        ContractError::AlreadyRefunded
    );
    // key release is closed: no more shares
    ensure!(fx.admin.keys().grant_of(id).await?.closed, "closed");
    expect_revert!(fx.members[0].keys().submit_shares(id, vec![word("s")], &[1u8; 64]), ContractError::RequestClosed);
    ensure_eq!(fx.patient.access().earnings(fx.patient.address()).await?, U256::ZERO);
    Ok(())
}

async fn t_policies(fx: &Fx, id: U256) -> Result<Vec<U256>, LedgerError> {
    Ok(fx.admin.events().access_request(id).await?.map(|e| e.event.policies).unwrap_or_default())
}

async fn key_authorization_reverts(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    ensure_eq!(fx.admin.keys().access_control().await?, fx.d.shared.access_control);
    // shares before any grant
    expect_revert!(
        fx.members[0].keys().submit_shares(U256::from(1), vec![word("s")], &[1u8; 64]),
        ContractError::NotGranted
    );
    // only AccessControl drives key release
    expect_revert!(fx.admin.keys().authorize(U256::from(1), fx.enclave.address(), 1), ContractError::NotAccessControl);
    expect_revert!(fx.admin.keys().close(U256::from(1)), ContractError::NotAccessControl);
    fx.committee().await?;
    let r1 = fx.record(&fx.patient, "r1", 1).await?;
    let r2 = fx.record(&fx.patient, "r2", 1).await?;
    let t = fx
        .researcher
        .access()
        .request_access(vec![r1, r2], word("j"), fx.enclave.address(), U256::from(2 * GWEI))
        .await?;
    let id = t.event.requestId;
    let keys = fx.members[1].keys();
    expect_revert!(keys.submit_shares(id, vec![word("s")], &[1u8; 64]), ContractError::ShareCountMismatch);
    expect_revert!(keys.submit_shares(id, vec![word("s"); 3], &[1u8; 64]), ContractError::ShareCountMismatch);
    expect_revert!(
        fx.outsider.keys().submit_shares(id, vec![word("s"); 2], &[1u8; 128]),
        ContractError::NotCommitteeMember
    );
    keys.submit_shares(id, vec![word("s"); 2], &[1u8; 128]).await?;
    // double share
    expect_revert!(keys.submit_shares(id, vec![word("s"); 2], &[1u8; 128]), ContractError::ShareAlreadySubmitted);
    let g = fx.admin.keys().grant_of(id).await?;
    ensure!(g.submitted == 0b10 && g.shares_posted == 1, "{g:?}");
    // a new committee epoch: the old grant stays with the old committee
    let new_members = vec![fx.outsider.address()];
    fx.admin.directory().set_committee(new_members, vec![word("x")], word("pk2"), 1).await?;
    expect_revert!(
        fx.outsider.keys().submit_shares(id, vec![word("s"); 2], &[1u8; 128]),
        ContractError::NotCommitteeMember
    );
    fx.members[0].keys().submit_shares(id, vec![word("s"); 2], &[1u8; 128]).await?;
    ensure!(fx.admin.keys().grant_of(id).await?.threshold_reached(), "threshold under epoch 1");
    Ok(())
}

// ------------------------------------------------------------------------------------------
// EhrRegistry

async fn ehr_create_query_update(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.clinic().await?;
    let now = fx.now().await?;
    let w = fx.warrant(&[(fx.doctor.address(), now - 10, now + 10_000)], "visit");
    let sw = fx.sign_warrant(&fx.patient_key, w.clone());
    let ehr = fx.doctor.ehr();
    // warrant id: Rust EIP-712 == contract == signing hash
    let id = ids::warrant_id(fx.chain_id, fx.d.consortium.ehr_registry, &w);
    ensure_eq!(ehr.warrant_id_of(&w).await?, id);
    ensure_eq!(sw.signing_hash(&eip712::domain(fx.chain_id, fx.d.consortium.ehr_registry)), id);
    ensure_eq!(ehr.warrant_state(id).await?, U256::ZERO);
    let hospitals = vec![fx.hospital.address(), fx.hospital2.address()];
    expect_revert!(
        ehr.update(&w, &sw.signature, 0, 1, 2, word("ehr"), hospitals.clone()),
        ContractError::UnknownEhr { patient } if *patient == fx.patient.address()
    );
    let t = ehr.create(&w, &sw.signature, 0, 1, 2, word("ehr-1"), hospitals.clone()).await?;
    let e = &t.event;
    ensure!(
        e.created && e.patient == fx.patient.address() && e.doctor == fx.doctor.address() && e.warrantId == id,
        "{e:?}"
    );
    ensure_eq!(e.hospitals, hospitals);
    let head = fx.patient.ehr().query(fx.patient.address()).await?;
    ensure!(
        head.ehr_hash == word("ehr-1") && head.status == 1 && head.ehr_type == 2 && head.created_at > 0,
        "{head:?}"
    );
    ensure_eq!(head.hospitals_hash, ids::hospitals_hash(&hospitals));
    ensure_eq!(ehr.warrant_state(id).await?, U256::from(2));
    expect_revert!(
        ehr.create(&w, &sw.signature, 0, 1, 2, word("ehr-x"), vec![]),
        ContractError::EhrExists { patient } if *patient == fx.patient.address()
    );
    // a known warrant needs no signature
    let t = ehr.update(&w, &[], 0, 3, 2, word("ehr-2"), vec![]).await?;
    ensure!(!t.event.created, "update");
    let head2 = fx.patient.ehr().query(fx.patient.address()).await?;
    ensure!(head2.ehr_hash == word("ehr-2") && head2.created_at == head.created_at && head2.status == 3, "{head2:?}");
    ensure_eq!(head2.hospitals_hash, ids::hospitals_hash(&[]));
    // the patient's integrity check: the on-chain hash history
    let history = fx.patient.events().hash_updated(Some(fx.patient.address())).await?;
    ensure_eq!(history.iter().map(|h| h.event.ehrHash).collect::<Vec<_>>(), vec![word("ehr-1"), word("ehr-2")]);
    ensure_eq!(fx.patient.ehr().query(fx.outsider.address()).await?.created_at, 0);
    Ok(())
}

async fn ehr_reverts(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.clinic().await?;
    let now = fx.now().await?;
    let ehr = fx.doctor.ehr();
    let good = fx.warrant(&[(fx.doctor.address(), now - 10, now + 10_000)], "w");
    let sig = fx.sign_warrant(&fx.patient_key, good.clone()).signature;
    // unregistered doctor (not enrolled anywhere)
    let w_out = fx.warrant(&[(fx.outsider.address(), now - 10, now + 10_000)], "w");
    let s_out = fx.sign_warrant(&fx.patient_key, w_out.clone()).signature;
    expect_revert!(
        fx.outsider.ehr().create(&w_out, &s_out, 0, 1, 1, word("e"), vec![]),
        ContractError::UnregisteredDoctor
    );
    // a doctor without the write privilege
    fx.hospital.directory().register_doctor(fx.outsider.address(), word("i"), word("s"), 2).await?;
    expect_revert!(
        fx.outsider.ehr().create(&w_out, &s_out, 0, 1, 1, word("e"), vec![]),
        ContractError::UnregisteredDoctor
    );
    // forged warrant: signed by someone other than the patient
    let forged = fx.sign_warrant(&fx.outsider_key, good.clone()).signature;
    expect_revert!(ehr.create(&good, &forged, 0, 1, 1, word("e"), vec![]), ContractError::BadWarrantSignature);
    // altered warrant (the patient signed another period)
    let altered = Warrant { aux: word("other"), ..good.clone() };
    expect_revert!(ehr.create(&altered, &sig, 0, 1, 1, word("e"), vec![]), ContractError::BadWarrantSignature);
    expect_revert!(ehr.create(&good, &malleable(&sig), 0, 1, 1, word("e"), vec![]), ContractError::MalformedSignature);
    expect_revert!(ehr.create(&good, &sig[..63], 0, 1, 1, word("e"), vec![]), ContractError::MalformedSignature);
    // the caller is not the named doctor / wrong index
    expect_revert!(ehr.create(&good, &sig, 1, 1, 1, word("e"), vec![]), ContractError::DoctorNotInWarrant);
    expect_revert!(fx.doctor2.ehr().create(&good, &sig, 0, 1, 1, word("e"), vec![]), ContractError::DoctorNotInWarrant);
    // expired and not yet valid
    let expired = fx.warrant(&[(fx.doctor.address(), now - 1000, now - 1)], "old");
    let s = fx.sign_warrant(&fx.patient_key, expired.clone()).signature;
    expect_revert!(
        ehr.create(&expired, &s, 0, 1, 1, word("e"), vec![]),
        ContractError::WarrantExpired { not_after } if *not_after == now - 1
    );
    let future = fx.warrant(&[(fx.doctor.address(), now + 1000, now + 2000)], "new");
    let s = fx.sign_warrant(&fx.patient_key, future.clone()).signature;
    expect_revert!(
        ehr.create(&future, &s, 0, 1, 1, word("e"), vec![]),
        ContractError::WarrantNotYetValid { not_before } if *not_before == now + 1000
    );
    // the patient revokes a warrant; only the patient may
    expect_revert!(fx.outsider.ehr().revoke_warrant(&good), ContractError::NotWarrantPatient);
    let t = fx.patient.ehr().revoke_warrant(&good).await?;
    let id = ids::warrant_id(fx.chain_id, fx.d.consortium.ehr_registry, &good);
    ensure_eq!(t.event.warrantId, id);
    expect_revert!(
        ehr.create(&good, &sig, 0, 1, 1, word("e"), vec![]),
        ContractError::WarrantRevoked { warrant_id } if *warrant_id == id
    );
    ensure_eq!(fx.patient.events().warrants_revoked(Some(fx.patient.address())).await?.len(), 1);
    // a doctor of a revoked hospital
    let w2 = fx.warrant(&[(fx.doctor.address(), now - 10, now + 10_000)], "w2");
    let s2 = fx.sign_warrant(&fx.patient_key, w2.clone()).signature;
    fx.admin.directory().revoke_hospital(fx.hospital.address()).await?;
    expect_revert!(ehr.create(&w2, &s2, 0, 1, 1, word("e"), vec![]), ContractError::UnregisteredDoctor);
    fx.admin.directory().approve_hospital(fx.hospital.address()).await?;
    ehr.create(&w2, &s2, 0, 1, 1, word("e"), vec![]).await?;
    // a revoked doctor
    fx.hospital.directory().revoke_doctor(fx.doctor.address()).await?;
    expect_revert!(ehr.update(&w2, &[], 0, 1, 1, word("e2"), vec![]), ContractError::UnregisteredDoctor);
    Ok(())
}

/// An ordered group of doctors: doctor 2 may write only after doctor 1.
async fn ehr_group_order(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.clinic().await?;
    let now = fx.now().await?;
    let w = fx.warrant(
        &[(fx.doctor.address(), now - 10, now + 10_000), (fx.doctor2.address(), now - 10, now + 10_000)],
        "group",
    );
    let sig = fx.sign_warrant(&fx.patient_key, w.clone()).signature;
    expect_revert!(
        fx.doctor2.ehr().create(&w, &sig, 1, 1, 1, word("e"), vec![]),
        ContractError::PreviousDoctorHasNotWritten { doctor_index } if *doctor_index == U256::from(1)
    );
    fx.doctor.ehr().create(&w, &sig, 0, 1, 1, word("e1"), vec![]).await?;
    fx.doctor2.ehr().update(&w, &[], 1, 1, 1, word("e2"), vec![]).await?;
    // the first doctor may keep writing
    fx.doctor.ehr().update(&w, &[], 0, 1, 1, word("e3"), vec![]).await?;
    let id = ids::warrant_id(fx.chain_id, fx.d.consortium.ehr_registry, &w);
    ensure_eq!(fx.patient.ehr().warrant_state(id).await?, U256::from(3));
    // a doctor whose own period ended, while the other's continues
    let w2 =
        fx.warrant(&[(fx.doctor.address(), now - 10, now + 100), (fx.doctor2.address(), now - 10, now + 10_000)], "g2");
    let s2 = fx.sign_warrant(&fx.patient_key, w2.clone()).signature;
    fx.doctor.ehr().update(&w2, &s2, 0, 1, 1, word("e4"), vec![]).await?;
    fx.conn.increase_time(200).await?;
    expect_revert!(fx.doctor.ehr().update(&w2, &[], 0, 1, 1, word("e5"), vec![]), ContractError::WarrantExpired { .. });
    fx.doctor2.ehr().update(&w2, &[], 1, 1, 1, word("e5"), vec![]).await?;
    Ok(())
}

async fn ehr_write_batch(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.clinic().await?;
    let now = fx.now().await?;
    let patients: Vec<EthKey> = (0..5).map(|i| key_from(&format!("batch patient {i}"))).collect();
    let domain = eip712::domain(fx.chain_id, fx.d.consortium.ehr_registry);
    let warrants: Vec<SignedWarrant> = patients
        .iter()
        .map(|p| {
            let w = Warrant {
                patient: p.address(),
                doctors: vec![DoctorTerm { doctor: fx.doctor.address(), notBefore: now - 10, notAfter: now + 10_000 }],
                aux: word("batch"),
            };
            SignedWarrant::sign(p, w, &domain)
        })
        .collect();
    let batch: Vec<BatchWarrant> = warrants.iter().map(BatchWarrant::from).collect();
    let write = |i: usize, tag: &str| EhrWrite {
        warrant_index: i,
        doctor_index: 0,
        status: 1,
        ehr_type: 4,
        ehr_hash: word(&format!("{tag}{i}")),
        hospitals: vec![fx.hospital.address()],
    };
    // every patient created, then patient 0 updated in the same batch
    let mut writes: Vec<EhrWrite> = (0..5).map(|i| write(i, "c")).collect();
    writes.push(write(0, "u"));
    let t = fx.doctor.ehr().write_batch(&batch, &writes).await?;
    ensure_eq!(t.event.len(), 6);
    ensure_eq!(t.event.iter().filter(|e| e.created).count(), 5);
    ensure_eq!(fx.admin.ehr().query(patients[0].address()).await?.ehr_hash, word("u0"));
    ensure_eq!(fx.admin.ehr().query(patients[4].address()).await?.ehr_hash, word("c4"));
    // known warrants: no signatures needed
    let known: Vec<BatchWarrant> =
        warrants.iter().map(|w| BatchWarrant { warrant: &w.warrant, signature: &[] }).collect();
    fx.doctor.ehr().write_batch(&known, &[write(3, "k")]).await?;
    ensure_eq!(fx.admin.ehr().query(patients[3].address()).await?.ehr_hash, word("k3"));
    expect_revert!(
        fx.doctor.ehr().write_batch(&known, &[write(5, "x")]),
        ContractError::UnknownWarrantIndex { index } if *index == U256::from(5)
    );
    // one bad warrant fails the whole batch, changing nothing
    let forged =
        SignedWarrant::sign(&fx.outsider_key, Warrant { aux: word("f"), ..warrants[0].warrant.clone() }, &domain);
    let mixed = vec![BatchWarrant::from(&warrants[1]), BatchWarrant::from(&forged)];
    expect_revert!(
        fx.doctor.ehr().write_batch(&mixed, &[write(0, "z"), write(1, "z")]),
        ContractError::BadWarrantSignature
    );
    ensure_eq!(fx.admin.ehr().query(patients[1].address()).await?.ehr_hash, word("c1"));
    expect_revert!(fx.outsider.ehr().write_batch(&known, &[write(0, "x")]), ContractError::UnregisteredDoctor);
    Ok(())
}

/// `anchorBatch`: one root per batch, signed by an approved enclave for the calling doctor,
/// anchored once.
async fn ehr_anchor_batch(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    fx.clinic().await?;
    let domain = eip712::domain(fx.chain_id, fx.d.consortium.ehr_registry);
    let root = word("batch root");
    let report = |doctor: Address, count: u32| EhrBatch { doctor, root, count };
    let sig = eip712::sign(&fx.enclave, &report(fx.doctor.address(), 1_000), &domain);
    let ehr = fx.doctor.ehr();
    ensure_eq!(ehr.batch_of(root).await?.anchored_at, 0);

    // Not a doctor: refused before the signature is looked at.
    expect_revert!(fx.outsider.ehr().anchor_batch(root, 1_000, &sig), ContractError::UnregisteredDoctor);
    // Signed by a key that is not an approved enclave.
    let forged = eip712::sign(&fx.stranger, &report(fx.doctor.address(), 1_000), &domain);
    expect_revert!(
        ehr.anchor_batch(root, 1_000, &forged),
        ContractError::UnapprovedEnclave { enclave } if *enclave == fx.stranger.address()
    );
    // The report names another doctor, another count, or was signed for another contract.
    expect_revert!(fx.doctor2.ehr().anchor_batch(root, 1_000, &sig), ContractError::UnapprovedEnclave { .. });
    expect_revert!(ehr.anchor_batch(root, 999, &sig), ContractError::UnapprovedEnclave { .. });
    let elsewhere = eip712::sign(
        &fx.enclave,
        &report(fx.doctor.address(), 1_000),
        &eip712::domain(fx.chain_id, fx.d.consortium.update_log),
    );
    expect_revert!(ehr.anchor_batch(root, 1_000, &elsewhere), ContractError::UnapprovedEnclave { .. });
    expect_revert!(ehr.anchor_batch(root, 1_000, &malleable(&sig)), ContractError::MalformedSignature);
    let empty = eip712::sign(&fx.enclave, &report(fx.doctor.address(), 0), &domain);
    expect_revert!(ehr.anchor_batch(root, 0, &empty), ContractError::EmptyBatch);

    let t = ehr.anchor_batch(root, 1_000, &sig).await?;
    ensure_eq!(
        (t.event.doctor, t.event.root, t.event.count, t.event.enclave),
        (fx.doctor.address(), root, 1_000u32, fx.enclave.address())
    );
    let anchored = fx.patient.ehr().batch_of(root).await?;
    ensure_eq!((anchored.doctor, anchored.count), (fx.doctor.address(), 1_000u32));
    ensure!(anchored.anchored_at > 0, "{anchored:?}");
    // Once only: the same report again, or another enclave's report of the same root.
    expect_revert!(
        ehr.anchor_batch(root, 1_000, &sig),
        ContractError::BatchAlreadyAnchored { root: r } if *r == root
    );
    let again = eip712::sign(&fx.enclave2, &report(fx.doctor.address(), 5), &domain);
    expect_revert!(ehr.anchor_batch(root, 5, &again), ContractError::BatchAlreadyAnchored { .. });
    let events = fx.patient.events().batches_anchored(Some(fx.doctor.address()), None).await?;
    ensure_eq!(events.iter().map(|e| e.event.root).collect::<Vec<_>>(), vec![root]);
    // A revoked enclave's reports are refused from then on.
    let other_root = word("second batch");
    let later =
        eip712::sign(&fx.enclave2, &EhrBatch { doctor: fx.doctor.address(), root: other_root, count: 3 }, &domain);
    fx.admin.directory().revoke_enclave(fx.enclave2.address()).await?;
    expect_revert!(ehr.anchor_batch(other_root, 3, &later), ContractError::UnapprovedEnclave { .. });
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Client behaviour

/// Concurrent sends from one account; reverted and refused submissions leave no nonce gap.
async fn client_nonces(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    let sender = fx.outsider.clone();
    let address = sender.address();
    let start = fx.conn.provider_nonce(address).await?;
    // 12 concurrent transactions from one account, with reverting calls among them
    let mut tasks = Vec::new();
    for i in 0..12u8 {
        let s = sender.clone();
        tasks.push(tokio::spawn(async move {
            if i % 4 == 3 {
                // reverts in the dry run: nothing sent
                s.directory().approve_enclave(Address::ZERO, B256::ZERO, B256::ZERO, B256::ZERO).await.map(|_| false)
            } else {
                s.directory().set_session_key(B256::repeat_byte(i)).await.map(|_| true)
            }
        }));
    }
    let mut sent = 0;
    for t in tasks {
        match t.await? {
            Ok(true) => sent += 1,
            Ok(false) => return Err("approve_enclave by a non-admin succeeded".into()),
            Err(LedgerError::Reverted { error: ContractError::NotAdmin, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    ensure_eq!(sent, 9u64);
    ensure_eq!(fx.conn.provider_nonce(address).await?, start + 9);
    // without the dry run, a revert is mined (or, on hardhat, refused after mining): decoded all the same
    let fixed = Ledger::new(&fx.conn, None, &fx.outsider_key, fx.d).with_gas_mode(GasMode::Fixed(300_000));
    expect_revert!(
        fixed.directory().approve_enclave(Address::ZERO, B256::ZERO, B256::ZERO, B256::ZERO),
        ContractError::NotAdmin
    );
    fixed.directory().set_session_key(word("after revert")).await?;
    ensure_eq!(fx.conn.provider_nonce(address).await?, start + 11);
    sender.directory().set_session_key(word("again")).await?;
    ensure_eq!(fx.conn.provider_nonce(address).await?, start + 12);
    // a refused transaction (no funds) changes nothing and uses no nonce
    let poor = key_from("no funds");
    let poor_ledger = Ledger::new(&fx.conn, None, &poor, fx.d).with_gas_mode(GasMode::Fixed(100_000));
    match poor_ledger.directory().set_session_key(word("x")).await {
        Err(LedgerError::Rejected { message, .. }) => ensure!(message.to_lowercase().contains("fund"), "{message}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    fx.admin.shared_account().transfer(poor.address(), U256::from(10u64.pow(17))).await?;
    poor_ledger.directory().set_session_key(word("x")).await?;
    ensure_eq!(fx.conn.provider_nonce(poor.address()).await?, 1);
    Ok(())
}

/// `Ledger::connect` checks the endpoint against the deployment.
async fn client_connect_checks(env: Arc<Env>) -> R {
    let fx = Fx::new(&env).await?;
    Ledger::connect(&fx.conn, None, &dev_key(1), fx.d).await?;
    let mut wrong = fx.d;
    wrong.shared.chain_id += 1;
    match Ledger::connect(&fx.conn, None, &dev_key(1), wrong).await {
        Err(LedgerError::WrongChain { .. }) => {}
        other => return Err(format!("expected WrongChain, got {other:?}").into()),
    }
    let mut wrong = fx.d;
    wrong.consortium.update_log = Address::repeat_byte(0x42);
    match Ledger::connect(&fx.conn, None, &dev_key(1), wrong).await {
        Err(LedgerError::NoCode { contract: "UpdateLog", .. }) => {}
        other => return Err(format!("expected NoCode, got {other:?}").into()),
    }
    let json = serde_json::to_string(&fx.d)?;
    ensure_eq!(serde_json::from_str::<Deployment>(&json)?, fx.d);
    ensure!(fx.d.co_hosted(), "co-hosted");
    // raw-binding calls through an account work too
    let word = fx
        .patient
        .shared_account()
        .call("RecordRegistry", fx.d.shared.record_registry, &RecordRegistry::depositCall {})
        .await?;
    ensure_eq!(word, U256::from(DEPOSIT));
    let n =
        fx.patient.shared_account().call("Directory", fx.d.shared.directory, &Directory::MAX_COMMITTEECall {}).await?;
    ensure_eq!(n, U256::from(64));
    let bit = fx
        .patient
        .shared_account()
        .call("Directory", fx.d.shared.directory, &Directory::PRIVILEGE_WRITE_EHRCall {})
        .await?;
    ensure_eq!(bit, PRIVILEGE_WRITE_EHR);
    Ok(())
}

/// Runtime of a forwarder that relays `target ‖ calldata` (with the value sent) and bubbles
/// the result, but refuses plain ether (empty calldata): an owner/requester that cannot be paid.
const FORWARDER_RUNTIME: &str =
    "361560305760143603806014600037600060008260003460003560601c5af13d6000803e602b573d6000fd5b3d6000f35b600080fd";

fn forwarder_init_code() -> Vec<u8> {
    let runtime = alloy_primitives::hex::decode(FORWARDER_RUNTIME).expect("hex");
    let mut code = vec![0x60, runtime.len() as u8, 0x80, 0x60, 0x0b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    code.extend(runtime);
    code
}

/// Ether transfers to a party that refuses them fail with `TransferFailed` (deposit return,
/// payout, refund), and a KeyAuthorization bound to the wrong AccessControl fails deployment.
async fn transfer_failures_and_binding(env: Arc<Env>) -> R {
    use alloy_sol_types::{SolCall, SolConstructor};
    use healthchain_ledger::bindings::{AccessControl, KeyAuthorization};
    let fx = Fx::new(&env).await?;
    fx.committee().await?;
    let owner = fx.outsider.shared_account().clone();
    let fwd = owner.deploy("Forwarder", forwarder_init_code().into()).await?.contract_address.ok_or("address")?;
    let relay =
        |target: Address, call: Vec<u8>| -> alloy_primitives::Bytes { [target.as_slice(), &call].concat().into() };
    let registry = fx.d.shared.record_registry;
    // the forwarder registers a record and asks for an update license
    let register = RecordRegistry::registerCall { anchor: word("a"), manifestHash: word("m") }.abi_encode();
    owner.send_data("Forwarder", fwd, relay(registry, register), U256::from(DEPOSIT)).await?;
    let id = ids::record_id(fwd, word("a"), word("m"));
    ensure_eq!(fx.admin.records().record_of(id).await?.owner, fwd);
    let lic = RecordRegistry::requestUpdateCall { recordId: id, enclave: fx.enclave.address() }.abi_encode();
    owner.send_data("Forwarder", fwd, relay(registry, lic), U256::ZERO).await?;
    let state = fx.admin.records().license_of(id).await?;
    let check = [word("R"), word("s")];
    let report = UpdateReport {
        recordId: id,
        version: 1,
        digest: word("d"),
        checkStringHash: ids::check_string_hash_words(&check),
        licenseId: state.license_id,
    };
    let sig = fx.update_report_sig(&fx.enclave, fx.d.consortium.update_log, &report);
    fx.admin.update_log().append(id, 1, word("d"), check, state.terms(), &sig).await?;
    let sig = fx.update_report_sig(&fx.enclave, registry, &report);
    // returning the deposit fails: the whole confirmation reverts
    expect_revert!(
        fx.admin.records().confirm_update(id, 1, word("d"), report.checkStringHash, &sig),
        ContractError::TransferFailed { to, amount } if *to == fwd && *amount == U256::from(DEPOSIT)
    );
    // earnings cannot be withdrawn to it
    let policy = RecordRegistry::addPolicyCall { recordId: id, chargeGwei: 10, start: 1, end: u32::MAX }.abi_encode();
    owner.send_data("Forwarder", fwd, relay(registry, policy), U256::ZERO).await?;
    let t =
        fx.researcher.access().request_access(vec![id], word("j"), fx.enclave.address(), U256::from(10 * GWEI)).await?;
    let done = fx.completion_sig(&fx.enclave, t.event.requestId, word("j"), word("r"));
    fx.admin.access().complete(t.event.requestId, word("j"), word("r"), t.event.policies.clone(), &done).await?;
    let withdraw = AccessControl::withdrawCall {}.abi_encode();
    let access = fx.d.shared.access_control;
    match owner.send_data("Forwarder", fwd, relay(access, withdraw), U256::ZERO).await {
        Err(LedgerError::Reverted { error: ContractError::TransferFailed { to, .. }, .. }) if to == fwd => {}
        other => return Err(format!("expected TransferFailed, got {other:?}").into()),
    }
    ensure_eq!(fx.admin.access().earnings(fwd).await?, U256::from(10 * GWEI));
    // nor refunded to it
    let request =
        AccessControl::requestAccessCall { recordIds: vec![id], jobHash: word("j"), enclave: fx.enclave.address() };
    owner.send_data("Forwarder", fwd, relay(access, request.abi_encode()), U256::from(10 * GWEI)).await?;
    fx.conn.increase_time(u64::from(COMPLETION_TIMEOUT) + 1).await?;
    let refund = AccessControl::refundCall { requestId: U256::from(2) }.abi_encode();
    match owner.send_data("Forwarder", fwd, relay(access, refund), U256::ZERO).await {
        Err(LedgerError::Reverted { error: ContractError::TransferFailed { amount, .. }, .. })
            if amount == U256::from(10 * GWEI) => {}
        other => return Err(format!("expected TransferFailed, got {other:?}").into()),
    }
    // deployment binding: AccessControl refuses a KeyAuthorization bound elsewhere
    let deployer = fx.admin.shared_account();
    let mut code = KeyAuthorization::BYTECODE.to_vec();
    code.extend(
        KeyAuthorization::constructorCall { directory_: fx.d.shared.directory, accessControl_: fwd }.abi_encode(),
    );
    let ka = deployer.deploy("KeyAuthorization", code.into()).await?.contract_address.ok_or("address")?;
    let mut code = AccessControl::BYTECODE.to_vec();
    code.extend(
        AccessControl::constructorCall {
            directory_: fx.d.shared.directory,
            registry_: registry,
            keyAuthorization_: ka,
            completionTimeout_: 1,
        }
        .abi_encode(),
    );
    expect_revert!(deployer.deploy("AccessControl", code.into()), ContractError::KeyAuthorizationNotBound);
    Ok(())
}

async fn hardfork_is_cancun(env: Arc<Env>) -> R {
    check_cancun(&env.conn).await?;
    ensure_eq!(env.conn.chain_id(), 31337u64);
    Ok(())
}

trait NonceExt {
    fn provider_nonce(&self, a: Address) -> impl Future<Output = Result<u64, LedgerError>> + Send;
}

impl NonceExt for Connection {
    async fn provider_nonce(&self, a: Address) -> Result<u64, LedgerError> {
        use alloy_provider::Provider;
        Ok(self.provider().get_transaction_count(a).await?)
    }
}

// ------------------------------------------------------------------------------------------
// Cross-backend

/// Gas per operation is identical on the embedded chain and on hardhat.
async fn gas_identical(embedded: &Connection, hardhat: &Connection) -> R {
    let rows = healthchain_ledger::gas::gas_table(embedded, Some(hardhat)).await?;
    ensure!(rows.len() >= 30, "{} rows", rows.len());
    for name in healthchain_ledger::gas::PAPER_TABLE_3.map(|(n, _)| n) {
        ensure!(rows.iter().any(|r| r.operation == name && r.paper_gas.is_some()), "row {name}");
    }
    for r in &rows {
        ensure!(
            r.gas_external == Some(r.gas_embedded),
            "{}: embedded {} vs hardhat {:?}",
            r.operation,
            r.gas_embedded,
            r.gas_external
        );
    }
    let json = serde_json::to_value(&rows[0])?;
    let keys: Vec<&String> = json.as_object().ok_or("object")?.keys().collect();
    ensure_eq!(keys.len(), 4);
    Ok(())
}

/// Shared ledger on one endpoint, consortium on another: deployment with two Directories, and
/// the update flow crossing them.
async fn two_endpoints(shared: &Connection, consortium: &Connection) -> R {
    let params = DeployParams::default();
    let report = deploy(&shared.account(&dev_key(12)), Some(&consortium.account(&dev_key(12))), &params).await?;
    let d = report.deployment;
    ensure!(!d.co_hosted(), "two ledgers");
    ensure_eq!(report.receipts.iter().filter(|(c, _)| *c == "Directory").count(), 2);
    let admin = Ledger::connect(shared, Some(consortium), &dev_key(12), d).await?;
    let patient = admin.with_key(&dev_key(13));
    ensure_eq!(admin.directories().len(), 2);
    let enclave = key_from("two-endpoint enclave");
    admin.approve_enclave_everywhere(enclave.address(), word("m"), word("e"), word("s")).await?;
    ensure!(admin.consortium_directory().is_approved_enclave(enclave.address()).await?, "consortium");
    let id = patient.records().register(word("a"), word("m"), params.deposit_wei).await?.event.recordId;
    let lic = patient.records().request_update(id, enclave.address()).await?;
    let report = UpdateReport {
        recordId: id,
        version: 1,
        digest: word("d"),
        checkStringHash: ids::check_string_hash_words(&[word("R"), word("s")]),
        licenseId: lic.event.licenseId,
    };
    let sig = eip712::sign(&enclave, &report, &eip712::domain(consortium.chain_id(), d.consortium.update_log));
    patient.update_log().append(id, 1, word("d"), [word("R"), word("s")], License::from(&lic.event), &sig).await?;
    let sig = eip712::sign(&enclave, &report, &eip712::domain(shared.chain_id(), d.shared.record_registry));
    patient.records().confirm_update(id, 1, word("d"), report.checkStringHash, &sig).await?;
    ensure_eq!(patient.events().updates_appended(id).await?.len(), 1);
    ensure_eq!(patient.events().updates_confirmed(id).await?.len(), 1);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Harness

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        const SCENARIOS: &[(&str, Scenario)] = &[$((stringify!($name), |env| -> BoxFut { Box::pin($name(env)) })),*];
    };
}

scenarios!(
    hardfork_is_cancun,
    directory_admins,
    directory_hospitals_and_doctors,
    directory_enclaves_committee_session_keys,
    directory_replicas,
    record_register_and_ids,
    record_policies,
    update_flow,
    update_reverts,
    access_flow,
    access_request_reverts,
    access_complete_reverts,
    access_refund,
    key_authorization_reverts,
    ehr_create_query_update,
    ehr_reverts,
    ehr_group_order,
    ehr_write_batch,
    ehr_anchor_batch,
    client_nonces,
    client_connect_checks,
    transfer_failures_and_binding,
);

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: Vec<String>,
}

async fn run_backend(backend: &Backend, filter: Option<&str>) -> (Tally, Duration) {
    let start = Instant::now();
    let mut tally = Tally::default();
    let conn = match backend.connect().await {
        Ok(c) => c,
        Err(e) => {
            tally.failed.push(format!("{}: cannot connect: {e}", backend.name()));
            return (tally, start.elapsed());
        }
    };
    let env = Arc::new(Env { conn });
    for (name, scenario) in SCENARIOS {
        let full = format!("{}::{name}", backend.name());
        if filter.is_some_and(|f| !full.contains(f)) {
            continue;
        }
        let t = Instant::now();
        let outcome = tokio::spawn(scenario(env.clone())).await;
        let ms = t.elapsed().as_millis();
        match outcome {
            Ok(Ok(())) => {
                println!("test {full} ... ok ({ms} ms)");
                tally.passed += 1;
            }
            Ok(Err(e)) => {
                println!("test {full} ... FAILED ({ms} ms)\n    {e}");
                tally.failed.push(full);
            }
            Err(e) => {
                println!("test {full} ... FAILED (panicked: {e})");
                tally.failed.push(full);
            }
        }
    }
    (tally, start.elapsed())
}

async fn maybe_run(backend: Option<&Backend>, filter: Option<&str>) -> Option<(Tally, Duration)> {
    match backend {
        Some(b) => Some(run_backend(b, filter).await),
        None => None,
    }
}

async fn run_cross(name: &str, filter: Option<&str>, tally: &mut Tally, f: impl Future<Output = R>) {
    let full = format!("cross::{name}");
    if filter.is_some_and(|x| !full.contains(x)) {
        return;
    }
    let t = Instant::now();
    match f.await {
        Ok(()) => {
            println!("test {full} ... ok ({} ms)", t.elapsed().as_millis());
            tally.passed += 1;
        }
        Err(e) => {
            println!("test {full} ... FAILED\n    {e}");
            tally.failed.push(full);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for b in ["embedded", "hardhat"] {
            for (name, _) in SCENARIOS {
                println!("{b}::{name}: test");
            }
        }
        println!("cross::gas_identical: test\ncross::two_endpoints: test");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).map(String::as_str);
    let which = std::env::var("HEALTHCHAIN_LEDGER_BACKENDS").unwrap_or_else(|_| "embedded,hardhat".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let failed = runtime.block_on(async {
        let started = Instant::now();
        let mut failures = Vec::new();
        let mut passed_total = 0;
        let embedded = which.contains("embedded").then(Backend::embedded).transpose();
        let hardhat = if which.contains("hardhat") { Some(Backend::hardhat().await) } else { None }.transpose();
        let (embedded, hardhat) = match (embedded, hardhat) {
            (Ok(e), Ok(h)) => (e, h),
            (Err(e), _) | (_, Err(e)) => {
                println!("cannot start a backend: {e}");
                return 1;
            }
        };
        let (e, h) = tokio::join!(maybe_run(embedded.as_ref(), filter), maybe_run(hardhat.as_ref(), filter));
        for (name, result) in [("embedded", e), ("hardhat", h)] {
            if let Some((tally, wall)) = result {
                println!(
                    "backend {name}: {} passed; {} failed; wall {:.1} s",
                    tally.passed,
                    tally.failed.len(),
                    wall.as_secs_f64()
                );
                passed_total += tally.passed;
                failures.extend(tally.failed);
            }
        }
        if let (Some(e), Some(h)) = (&embedded, &hardhat) {
            let mut tally = Tally::default();
            match (e.connect().await, h.connect().await) {
                (Ok(ec), Ok(hc)) => {
                    run_cross("gas_identical", filter, &mut tally, gas_identical(&ec, &hc)).await;
                    run_cross("two_endpoints", filter, &mut tally, two_endpoints(&ec, &hc)).await;
                }
                _ => tally.failed.push("cross: cannot connect".into()),
            }
            println!("cross-backend: {} passed; {} failed", tally.passed, tally.failed.len());
            passed_total += tally.passed;
            failures.extend(tally.failed);
        }
        println!(
            "\ntest result: {}. {} passed; {} failed; total wall {:.1} s",
            if failures.is_empty() { "ok" } else { "FAILED" },
            passed_total,
            failures.len(),
            started.elapsed().as_secs_f64()
        );
        for f in &failures {
            println!("    failed: {f}");
        }
        // Backends (and the hardhat child) drop here, before the process exits.
        drop((embedded, hardhat));
        i32::from(!failures.is_empty())
    });
    drop(runtime);
    std::process::exit(failed);
}
