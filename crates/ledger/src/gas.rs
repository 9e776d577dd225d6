//! Gas per operation (seed 000 Table 3 and ours), measured on the embedded chain and, in the
//! same run, on an external node: [`gas_table`]. `healthchain bench gas --json [--rpc URL]`
//! prints its rows as JSON.
//!
//! Each run deploys a fresh set of contracts from a fresh deployer key and uses fresh role keys,
//! all derived from one random salt shared by both chains, funded from development account 0
//! (hardhat's and the embedded chain's default account; an external node must fund it). Every
//! measured transaction's block timestamp is pinned with `evm_setNextBlockTimestamp` to the same
//! schedule on both chains, so calldata, signatures and storage are byte-identical and so is
//! the gas. Gas is the receipt's `gasUsed` (intrinsic 21,000 included), except
//! `accessControl.verifyPolicy`, a view: it is sent as a transaction and reported without the
//! intrinsic 21,000 (execution plus calldata), as contracts/README.md measures it.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;
use healthchain_crypto::eip712::{self, CompletionReport, DoctorTerm, EhrBatch, SignedWarrant, UpdateReport, Warrant};
use healthchain_crypto::signing::EthKey;

use crate::bindings::RecordRegistry;
use crate::client::Connection;
use crate::contracts::{BatchWarrant, EhrWrite, License, PRIVILEGE_WRITE_EHR};
use crate::errors::LedgerError;
use crate::ids;
use crate::ledger::{DeployParams, Ledger, deploy};
use crate::testing::dev_key;

/// One row of the gas table (serialized exactly as `{"operation", "gas_embedded",
/// "gas_external", "paper_gas"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GasRow {
    /// Operation: one of the seven seed 000 Table 3 names (`dataUpload.create`, ...) or
    /// `Contract.function (detail)`.
    pub operation: String,
    /// Gas on the embedded chain.
    pub gas_embedded: u64,
    /// Gas on the external node, when one was given.
    pub gas_external: Option<u64>,
    /// Seed 000 Table 3's figure, for its seven operations.
    pub paper_gas: Option<u64>,
}

/// Seed 000 Table 3: (operation, paper gas).
pub const PAPER_TABLE_3: [(&str, u64); 7] = [
    ("dataUpload.create", 853_386),
    ("dataUpload.invoke", 94_750),
    ("accessControl.create", 754_786),
    ("accessControl.addPolicy", 45_492),
    ("accessControl.verifyPolicy", 30_360),
    ("keyAuthorization.create", 553_387),
    ("keyAuthorization.invoke", 107_999),
];

/// Number of EHR writes in each measured `writeBatch`.
pub const BATCH_SIZE: usize = 20;

/// Number of EHRs the measured `anchorBatch` root stands for (per-EHR row only).
pub const ANCHOR_BATCH_SIZE: u32 = 1_000;

/// Measures every operation on `embedded` and, if given, on `external`, in one run.
pub async fn gas_table(embedded: &Connection, external: Option<&Connection>) -> Result<Vec<GasRow>, LedgerError> {
    let salt = B256::from(rand_salt());
    let mut connections = vec![embedded];
    connections.extend(external);
    // Fund the role keys on each chain first, then start the pinned clock after every head.
    let mut t0 = 0;
    for conn in &connections {
        fund_roles(conn, salt).await?;
        t0 = t0.max(conn.timestamp().await?);
    }
    let t0 = t0 + 100;
    let embedded_rows = measure(embedded, salt, t0).await?;
    let external_rows = match external {
        Some(conn) => Some(measure(conn, salt, t0).await?),
        None => None,
    };
    let mut rows = Vec::with_capacity(embedded_rows.len());
    for (i, (operation, gas)) in embedded_rows.into_iter().enumerate() {
        let gas_external = external_rows.as_ref().map(|r| {
            debug_assert_eq!(r[i].0, operation);
            r[i].1
        });
        let paper_gas = PAPER_TABLE_3.iter().find(|(name, _)| *name == operation).map(|(_, g)| *g);
        rows.push(GasRow { operation, gas_embedded: gas, gas_external, paper_gas });
    }
    Ok(rows)
}

/// [`gas_table`] on a fresh in-memory embedded chain and, if `external_url` is given, on the
/// node there (its development account 0 must be funded, as on hardhat or anvil).
pub async fn gas_table_standalone(external_url: Option<&str>) -> Result<Vec<GasRow>, LedgerError> {
    let chain = healthchain_chain::Chain::in_memory(healthchain_chain::ChainConfig::default())
        .map_err(|e| LedgerError::InvalidArgument(format!("embedded chain: {e}")))?;
    let embedded = Connection::embedded(&chain).await?;
    let external = match external_url {
        Some(url) => Some(Connection::http(url).await?),
        None => None,
    };
    let rows = gas_table(&embedded, external.as_ref()).await;
    chain.shutdown();
    rows
}

fn rand_salt() -> [u8; 32] {
    // Distinct per run (fresh accounts on a reused external node); not security-relevant.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    keccak256((nanos as u64, std::process::id() as u64).abi_encode()).0
}

const ROLES: [&str; 9] =
    ["deployer", "patient", "patient2", "researcher", "hospital", "doctor", "member0", "member1", "member2"];

fn role_key(salt: B256, role: &str) -> EthKey {
    let mut seed = keccak256([salt.as_slice(), role.as_bytes()].concat());
    loop {
        if let Ok(k) = EthKey::from_bytes(seed.as_slice()) {
            return k;
        }
        seed = keccak256(seed);
    }
}

async fn fund_roles(conn: &Connection, salt: B256) -> Result<(), LedgerError> {
    let bank = conn.account(&dev_key(0));
    for role in ROLES {
        bank.transfer(role_key(salt, role).address(), U256::from(10u128 * 10u128.pow(18))).await?;
    }
    Ok(())
}

struct Clock<'a> {
    conn: &'a Connection,
    next: u64,
}

impl Clock<'_> {
    /// Pins the next block's timestamp and returns it.
    async fn tick(&mut self) -> Result<u64, LedgerError> {
        let t = self.next;
        self.conn.set_next_block_timestamp(t).await?;
        self.next += 1;
        Ok(t)
    }
}

async fn measure(conn: &Connection, salt: B256, t0: u64) -> Result<Vec<(String, u64)>, LedgerError> {
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut put = |name: &str, gas: u64| rows.push((name.to_string(), gas));
    let mut clock = Clock { conn, next: t0 };
    let chain_id = conn.chain_id();
    let key = |role: &str| role_key(salt, role);

    // ---- deployments
    let params = DeployParams { completion_timeout_seconds: 3600, ..DeployParams::default() };
    let report = deploy(&conn.account(&key("deployer")), None, &params).await?;
    let d = report.deployment;
    put("Directory.deploy", report.gas_of("Directory").unwrap_or_default());
    put("dataUpload.create", report.gas_of("RecordRegistry").unwrap_or_default());
    put("keyAuthorization.create", report.gas_of("KeyAuthorization").unwrap_or_default());
    put("accessControl.create", report.gas_of("AccessControl").unwrap_or_default());
    put("UpdateLog.deploy", report.gas_of("UpdateLog").unwrap_or_default());
    put("EhrRegistry.deploy", report.gas_of("EhrRegistry").unwrap_or_default());

    let as_role = |role: &str| Ledger::new(conn, None, &key(role), d);
    let admin = as_role("deployer");
    let patient = as_role("patient");
    let patient2 = as_role("patient2");
    let researcher = as_role("researcher");
    let hospital = as_role("hospital");
    let doctor = as_role("doctor");
    let members: Vec<Ledger> = (0..3).map(|i| as_role(&format!("member{i}"))).collect();
    let enclave = key("enclave");
    let word = |tag: &str| keccak256(tag.as_bytes());

    // ---- Directory
    clock.tick().await?;
    let r = admin.directory().approve_enclave(enclave.address(), word("m"), word("ek"), word("sk")).await?;
    put("Directory.approveEnclave", r.receipt.gas_used);
    clock.tick().await?;
    let join = eip712::ReplicaJoin { instance: key("replica").address(), evidenceHash: word("replica-evidence") };
    let signature = eip712::sign(&enclave, &join, &eip712::domain(chain_id, d.shared.directory));
    let r = patient.directory().record_replica(join.instance, join.evidenceHash, &signature).await?;
    put("Directory.recordReplica", r.receipt.gas_used);
    clock.tick().await?;
    let r = admin
        .directory()
        .set_committee(
            members.iter().map(Ledger::address).collect(),
            vec![word("pk0"), word("pk1"), word("pk2")],
            word("pk"),
            2,
        )
        .await?;
    put("Directory.setCommittee (2 of 3)", r.receipt.gas_used);
    clock.tick().await?;
    let r = hospital.directory().register_hospital(word("hospital-id")).await?;
    put("Directory.registerHospital", r.receipt.gas_used);
    clock.tick().await?;
    let r = admin.directory().approve_hospital(hospital.address()).await?;
    put("Directory.approveHospital", r.receipt.gas_used);
    clock.tick().await?;
    let r = hospital
        .directory()
        .register_doctor(doctor.address(), word("doctor-id"), word("cardiology"), PRIVILEGE_WRITE_EHR)
        .await?;
    put("Directory.registerDoctor", r.receipt.gas_used);
    clock.tick().await?;
    let r = patient.directory().set_session_key(word("x25519")).await?;
    put("Directory.setSessionKey", r.receipt.gas_used);

    // ---- RecordRegistry (dataUpload, policies)
    let deposit = params.deposit_wei;
    clock.tick().await?;
    let r = patient.records().register(word("anchor-1"), word("manifest-1"), deposit).await?;
    put("dataUpload.invoke", r.receipt.gas_used);
    let record1 = r.event.recordId;
    clock.tick().await?;
    let record2 = patient2.records().register(word("anchor-2"), word("manifest-2"), deposit).await?.event.recordId;
    clock.tick().await?;
    let r = patient.records().add_policy(record1, 1000, 1, u32::MAX).await?;
    put("accessControl.addPolicy", r.receipt.gas_used);
    clock.tick().await?;
    patient2.records().add_policy(record2, 2000, 1, u32::MAX).await?;
    clock.tick().await?;
    let verify = RecordRegistry::verifyPolicyCall { recordId: record1, when: U256::from(2_000_000_000u64) };
    let r = patient.shared_account().send("RecordRegistry", d.shared.record_registry, &verify, U256::ZERO).await?;
    put("accessControl.verifyPolicy", r.gas_used - 21_000);

    // ---- updates: license, UpdateLog.append, confirmUpdate
    let shared_domain = eip712::domain(chain_id, d.shared.record_registry);
    let log_domain = eip712::domain(chain_id, d.consortium.update_log);
    for version in 1u64..=2 {
        clock.tick().await?;
        let lic = patient.records().request_update(record1, enclave.address()).await?;
        if version == 1 {
            put("RecordRegistry.requestUpdate", lic.receipt.gas_used);
        }
        let license = License::from(&lic.event);
        let digest = word(&format!("digest-{version}"));
        let check = [word(&format!("R-{version}")), word(&format!("s-{version}"))];
        let report = UpdateReport {
            recordId: record1,
            version,
            digest,
            checkStringHash: ids::check_string_hash_words(&check),
            licenseId: lic.event.licenseId,
        };
        clock.tick().await?;
        let sig = eip712::sign(&enclave, &report, &log_domain);
        let r = patient.update_log().append(record1, version, digest, check, license, &sig).await?;
        put(&format!("UpdateLog.append (version {version})"), r.receipt.gas_used);
        clock.tick().await?;
        let sig = eip712::sign(&enclave, &report, &shared_domain);
        let r = patient.records().confirm_update(record1, version, digest, report.checkStringHash, &sig).await?;
        let detail = if version == 1 { "first; returns the deposit" } else { "later" };
        put(&format!("RecordRegistry.confirmUpdate ({detail})"), r.receipt.gas_used);
    }

    // ---- access: request, shares, complete, withdraw, refund
    let access_domain = eip712::domain(chain_id, d.shared.access_control);
    let job = word("job");
    let gwei = U256::from(1_000_000_000u64);
    clock.tick().await?;
    let req =
        researcher.access().request_access(vec![record1], job, enclave.address(), gwei * U256::from(1000)).await?;
    put("AccessControl.requestAccess (1 record)", req.receipt.gas_used);
    let request_id = req.event.requestId;
    clock.tick().await?;
    let proof = [0x5au8; 64];
    let r = members[0].keys().submit_shares(request_id, vec![word("share0")], &proof).await?;
    put("keyAuthorization.invoke", r.receipt.gas_used);
    clock.tick().await?;
    let r = members[1].keys().submit_shares(request_id, vec![word("share1")], &proof).await?;
    put("KeyAuthorization.submitShares (reaches threshold)", r.receipt.gas_used);
    clock.tick().await?;
    let report = CompletionReport { requestId: request_id, jobHash: job, resultHash: word("result") };
    let sig = eip712::sign(&enclave, &report, &access_domain);
    let r = researcher.access().complete(request_id, job, word("result"), req.event.policies.clone(), &sig).await?;
    put("AccessControl.complete (1 record)", r.receipt.gas_used);

    clock.tick().await?;
    let req = researcher
        .access()
        .request_access(vec![record1, record2], job, enclave.address(), gwei * U256::from(3000))
        .await?;
    put("AccessControl.requestAccess (2 records)", req.receipt.gas_used);
    let request_id = req.event.requestId;
    clock.tick().await?;
    let r = members[0].keys().submit_shares(request_id, vec![word("a"), word("b")], &[proof, proof].concat()).await?;
    put("KeyAuthorization.submitShares (2 records)", r.receipt.gas_used);
    clock.tick().await?;
    let report = CompletionReport { requestId: request_id, jobHash: job, resultHash: word("result") };
    let sig = eip712::sign(&enclave, &report, &access_domain);
    let r = researcher.access().complete(request_id, job, word("result"), req.event.policies.clone(), &sig).await?;
    put("AccessControl.complete (2 records)", r.receipt.gas_used);
    clock.tick().await?;
    let r = patient.access().withdraw().await?;
    put("AccessControl.withdraw", r.receipt.gas_used);

    clock.tick().await?;
    let req =
        researcher.access().request_access(vec![record1], job, enclave.address(), gwei * U256::from(1000)).await?;
    clock.next += u64::from(params.completion_timeout_seconds) + 1;
    clock.tick().await?;
    let r = researcher.access().refund(req.event.requestId).await?;
    put("AccessControl.refund", r.receipt.gas_used);
    clock.tick().await?;
    let r = patient2.records().revoke_policy(record2).await?;
    put("RecordRegistry.revokePolicy", r.receipt.gas_used);

    // ---- EHRs
    let ehr_domain = eip712::domain(chain_id, d.consortium.ehr_registry);
    let warrant_for = |patient: Address, aux: &str| Warrant {
        patient,
        doctors: vec![DoctorTerm { doctor: doctor.address(), notBefore: 1, notAfter: 4_000_000_000 }],
        aux: word(aux),
    };
    let hospitals = vec![hospital.address()];
    let w = SignedWarrant::sign(&key("patient"), warrant_for(patient.address(), "w"), &ehr_domain);
    clock.tick().await?;
    let r = doctor.ehr().create(&w.warrant, &w.signature, 0, 1, 7, word("ehr-1"), hospitals.clone()).await?;
    put("EhrRegistry.create (new warrant)", r.receipt.gas_used);
    clock.tick().await?;
    let r = doctor.ehr().update(&w.warrant, &[], 0, 2, 7, word("ehr-2"), hospitals.clone()).await?;
    put("EhrRegistry.update (known warrant)", r.receipt.gas_used);

    let warrants: Vec<SignedWarrant> = (0..BATCH_SIZE)
        .map(|i| {
            let k = key(&format!("batch-patient-{i}"));
            SignedWarrant::sign(&k, warrant_for(k.address(), "batch"), &ehr_domain)
        })
        .collect();
    let writes = |tag: &str| -> Vec<EhrWrite> {
        (0..BATCH_SIZE)
            .map(|i| EhrWrite {
                warrant_index: i,
                doctor_index: 0,
                status: 1,
                ehr_type: 7,
                ehr_hash: word(&format!("{tag}-{i}")),
                hospitals: hospitals.clone(),
            })
            .collect()
    };
    clock.tick().await?;
    let fresh: Vec<BatchWarrant> = warrants.iter().map(BatchWarrant::from).collect();
    let r = doctor.ehr().write_batch(&fresh, &writes("create")).await?;
    put(
        &format!("EhrRegistry.writeBatch ({BATCH_SIZE} creates, new warrants), per EHR"),
        r.receipt.gas_used / BATCH_SIZE as u64,
    );
    let known: Vec<BatchWarrant> =
        warrants.iter().map(|w| BatchWarrant { warrant: &w.warrant, signature: &[] }).collect();
    clock.tick().await?;
    let r = doctor.ehr().write_batch(&known, &writes("update")).await?;
    put(
        &format!("EhrRegistry.writeBatch ({BATCH_SIZE} updates, known warrants), per EHR"),
        r.receipt.gas_used / BATCH_SIZE as u64,
    );
    clock.tick().await?;
    let r = patient.ehr().revoke_warrant(&w.warrant).await?;
    put("EhrRegistry.revokeWarrant", r.receipt.gas_used);

    // One root for a whole batch, whatever its size (the gas does not depend on `count`).
    let batch = EhrBatch { doctor: doctor.address(), root: word("batch-root"), count: ANCHOR_BATCH_SIZE };
    let sig = eip712::sign(&enclave, &batch, &ehr_domain);
    clock.tick().await?;
    let r = doctor.ehr().anchor_batch(batch.root, batch.count, &sig).await?;
    put("EhrRegistry.anchorBatch (one root, any batch size)", r.receipt.gas_used);
    put(
        &format!("EhrRegistry.anchorBatch, per EHR of a {ANCHOR_BATCH_SIZE}-EHR batch"),
        r.receipt.gas_used.div_ceil(u64::from(ANCHOR_BATCH_SIZE)),
    );
    Ok(rows)
}
