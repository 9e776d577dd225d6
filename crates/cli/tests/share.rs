//! Seed 000 sharing (Algorithm 2) end to end on the embedded defaults with a 2-of-3
//! key-authorization committee: policies, paid requests, committee shares, the enclave's
//! `share` application, settlement, results, access logs, earnings — and every refusal.

mod common;

use alloy_primitives::{B256, U256};
use common::{bundles, environment_with_committee, runtime};
use healthchain_core::environment::{Environment, committee_member_key};
use healthchain_core::records::{OwnedRecord, Owner};
use healthchain_core::share::{AccessOutcome, CommitteeMember, DataUser, ShareError, accesses, catalog};
use healthchain_crypto::eip712::{self, CompletionReport};
use healthchain_crypto::signing::EthKey;
use healthchain_fhir::Date;
use healthchain_jobs::{JobResult, JobSpec, RecordInput};
use healthchain_ledger::contracts::RequestStatus;
use healthchain_ledger::errors::{ContractError, LedgerError};
use healthchain_ledger::testing::dev_key;
use healthchain_share::ShareRefusal;

const COHORT: &[u8] = br#"{"job": "cohort_stats", "loinc": "8302-2", "group_by": ["sex"]}"#;
const LOGISTIC: &[u8] = br#"{"job": "logistic_regression", "label_snomed": "162864005",
    "features": {"age": true, "sex": true, "loinc": ["29463-7", "8480-6"]}}"#;
const DAY: u32 = 86_400;

/// One imported record: its owner's key index, the owner's copy and the plaintext versions
/// split independently from the bundle (what the test computes the expected result from).
struct Imported {
    owner: u32,
    record: OwnedRecord,
    versions: Vec<Vec<u8>>,
    charge_gwei: u32,
}

/// Imports the bundles at `indices` (sorted shipped bundles), one owner each
/// (development account `owner_base + i`), and sets a policy in force for 30 days.
async fn import(env: &Environment, indices: &[usize], owner_base: u32) -> Vec<Imported> {
    let all = bundles();
    let now = env.connection.timestamp().await.unwrap() as u32;
    let mut out = Vec::new();
    for (i, &index) in indices.iter().enumerate() {
        let bundle = std::fs::read(&all[index]).unwrap();
        let versions: Vec<Vec<u8>> =
            healthchain_fhir::split_into_versions(&bundle).unwrap().into_iter().map(|v| v.bytes).collect();
        let owner_index = owner_base + i as u32;
        let owner = Owner::new(env, dev_key(owner_index)).await.unwrap();
        let record = owner.import(&bundle, None, |_, _| {}).await.unwrap();
        assert_eq!(record.versions.len(), versions.len());
        let charge_gwei = 1_000_000 + 1_000 * i as u32;
        owner.set_policy(record.record_id, charge_gwei, now - 60, now + 30 * DAY).await.unwrap();
        out.push(Imported { owner: owner_index, record, versions, charge_gwei });
    }
    out
}

/// The committee members of the environment (member `i` with its dealt share).
async fn members(env: &Environment) -> Vec<CommitteeMember<'_>> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(CommitteeMember::new(env, committee_member_key(i), env.committee_share(i).unwrap()).await.unwrap());
    }
    out
}

/// The job computed independently on the plaintext versions, as of the chain's date.
async fn expected(env: &Environment, records: &[&Imported], job: &[u8]) -> JobResult {
    let now = env.connection.timestamp().await.unwrap();
    let as_of = Date::from_unix_seconds(now as i64).unwrap();
    let inputs: Vec<RecordInput> = records.iter().map(|r| RecordInput::new(r.versions.clone())).collect();
    healthchain_jobs::run(&JobSpec::parse(job).unwrap(), &inputs, as_of).unwrap()
}

fn ids(records: &[&Imported]) -> Vec<B256> {
    records.iter().map(|r| r.record.record_id).collect()
}

fn contract_error(e: &ShareError) -> &ContractError {
    match e {
        ShareError::Ledger(e) => match e.as_ref() {
            LedgerError::Reverted { error, .. } => error,
            other => panic!("expected a contract refusal, got {other}"),
        },
        other => panic!("expected a contract refusal, got {other}"),
    }
}

fn refusal(e: ShareError) -> ShareRefusal {
    match e {
        ShareError::Refused(refusal) => {
            assert!(!refusal.to_string().is_empty());
            refusal
        }
        other => panic!("expected the enclave's refusal, got {other}"),
    }
}

/// A funded account that is not on the committee.
async fn intruder_ledger(env: &Environment) -> healthchain_ledger::Ledger {
    let key = dev_key(72);
    env.fund(key.address(), U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    env.ledger(&key).await.unwrap()
}

#[test]
fn jobs_run_over_qualified_versions_pay_owners_and_appear_in_the_access_log() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let env = environment_with_committee(home.path(), 2, 3).await;
        let imported = import(&env, &(0..12).collect::<Vec<_>>(), 20).await;
        let records: Vec<&Imported> = imported.iter().collect();
        let committee = members(&env).await;
        let user = DataUser::new(&env, dev_key(40)).await.unwrap();

        // the catalog lists every record with its policy
        let listed = catalog(&env, Some("fhir-r4")).await.unwrap();
        for r in &records {
            let entry = listed.iter().find(|e| e.record_id == r.record.record_id).expect("listed");
            assert_eq!(entry.policy.map(|p| p.charge_gwei), Some(r.charge_gwei));
            assert_eq!(entry.owner, dev_key(r.owner).address());
        }
        assert!(catalog(&env, Some("no-such-type")).await.unwrap().is_empty());

        let price = user.price(&ids(&records)).await.unwrap();
        let sum: U256 = records.iter().map(|r| U256::from(r.charge_gwei) * U256::from(1_000_000_000u64)).sum();
        assert_eq!(price, sum);

        let mut requests = Vec::new();
        for job in [COHORT, LOGISTIC] {
            let spec = JobSpec::parse(job).unwrap();
            let before = env.connection.balance(user.address()).await.unwrap();
            let id = user.request(&ids(&records), &spec).await.unwrap();
            let on_chain = user.ledger().access().request_of(U256::from(id)).await.unwrap();
            assert_eq!(on_chain.escrow, price, "exactly the sum of the charges is escrowed");
            assert!(env.connection.balance(user.address()).await.unwrap() <= before - price);

            // two of three members serve (the threshold); the third is not needed
            assert_eq!(committee[0].serve_pending().await.unwrap(), vec![id]);
            assert_eq!(committee[1].serve_pending().await.unwrap(), vec![id]);
            assert!(committee[0].serve_pending().await.unwrap().is_empty(), "served once");

            let accepted = user.run(id, job).await.unwrap();
            assert_eq!(accepted.records.len(), records.len());
            for (used, r) in accepted.records.iter().zip(&records) {
                assert_eq!(used.record_id, r.record.record_id);
                assert_eq!((used.qualified, used.total), (r.versions.len() as u64, r.versions.len() as u64));
            }
            let result = user.result(id).await.unwrap();
            assert_eq!(result, expected(&env, &records, job).await, "the enclave computed the plaintext's result");
            assert_eq!(
                user.ledger().access().request_of(U256::from(id)).await.unwrap().status,
                RequestStatus::Completed
            );
            requests.push((id, B256::from(spec.hash()), accepted.result_hash));
        }
        let JobResult::CohortStats(cohort) = user.result(requests[0].0).await.unwrap() else {
            panic!("a cohort_stats result")
        };
        assert!(cohort.overall.stats.is_some_and(|s| s.count >= 5));
        let JobResult::LogisticRegression(model) = user.result(requests[1].0).await.unwrap() else {
            panic!("a logistic_regression result")
        };
        assert!(model.coefficient("age").is_some());

        // another account cannot read the result
        let other = DataUser::new(&env, dev_key(41)).await.unwrap();
        assert!(matches!(other.result(requests[0].0).await, Err(ShareError::ResultKey(_))));

        // every owner earned exactly its charge per job, and can withdraw it
        for r in &records {
            let owner = Owner::new(&env, dev_key(r.owner)).await.unwrap();
            let charge = U256::from(r.charge_gwei) * U256::from(1_000_000_000u64);
            assert_eq!(owner.earnings().await.unwrap(), charge * U256::from(2u8));
            let balance = env.connection.balance(owner.address()).await.unwrap();
            let (amount, fee) = owner.withdraw().await.unwrap();
            assert_eq!(amount, charge * U256::from(2u8));
            assert_eq!(env.connection.balance(owner.address()).await.unwrap(), balance + amount - fee);
            assert_eq!(owner.earnings().await.unwrap(), U256::ZERO);

            // the access log lists both jobs: who, when, which job, paid
            let log = accesses(&env, r.record.record_id).await.unwrap();
            assert_eq!(log.len(), 2);
            for (access, (id, job_hash, result_hash)) in log.iter().zip(&requests) {
                assert_eq!(access.request_id, *id);
                assert_eq!(access.requester, user.address());
                assert_eq!(access.enclave, env.verified.report_signer);
                assert_eq!(access.job_hash, *job_hash);
                assert_eq!(access.charge_wei, charge);
                assert_eq!(access.outcome, AccessOutcome::Completed { result_hash: *result_hash });
                assert!(access.paid() && access.requested_at > 0);
            }
        }
    });
}

#[test]
fn refusals_release_nothing_and_move_no_payment_except_refunds() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let env = environment_with_committee(home.path(), 2, 3).await;
        // three small patients: fewer than the minimum cohort of 5
        let imported = import(&env, &[1, 7, 15], 60).await;
        let records: Vec<&Imported> = imported.iter().collect();
        let committee = members(&env).await;
        let user = DataUser::new(&env, dev_key(70)).await.unwrap();
        let cohort = JobSpec::parse(COHORT).unwrap();
        let owner = Owner::new(&env, dev_key(records[0].owner)).await.unwrap();
        let first = records[0].record.record_id;
        let now = env.connection.timestamp().await.unwrap() as u32;

        // the contract refuses: before the policy's start, after its end, revoked, underpaid;
        // each is a dry run, so not even gas is spent
        let balance = env.connection.balance(user.address()).await.unwrap();
        owner.set_policy(first, 5, now + DAY, now + 2 * DAY).await.unwrap();
        let e = user.request(&ids(&records), &cohort).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::OutsidePolicyWindow { .. }), "{e}");
        owner.set_policy(first, 5, now - 2 * DAY, now - DAY).await.unwrap();
        let e = user.request(&ids(&records), &cohort).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::OutsidePolicyWindow { .. }), "{e}");
        owner.revoke_policy(first).await.unwrap();
        let e = user.request(&ids(&records), &cohort).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::PolicyRevoked { .. }), "{e}");
        owner.set_policy(first, records[0].charge_gwei, now - 60, now + 30 * DAY).await.unwrap();
        let price = user.price(&ids(&records)).await.unwrap();
        let e = ShareError::from(
            user.ledger()
                .access()
                .request_access(
                    ids(&records),
                    B256::from(cohort.hash()),
                    env.verified.report_signer,
                    price - U256::from(1u8),
                )
                .await
                .unwrap_err(),
        );
        assert!(matches!(contract_error(&e), ContractError::Underpaid { .. }), "{e}");
        assert_eq!(env.connection.balance(user.address()).await.unwrap(), balance, "no payment moved");
        assert_eq!(user.ledger().access().request_count().await.unwrap(), U256::ZERO);

        // a granted request with fewer than t shares: refused; a share with a bad proof is
        // ignored, so it does not make up the difference
        let id = user.request(&ids(&records), &cohort).await.unwrap();
        let escrow = user.ledger().access().request_of(U256::from(id)).await.unwrap().escrow;
        assert_eq!(escrow, price);
        assert_eq!(committee[0].serve_pending().await.unwrap(), vec![id]);
        let balance = env.connection.balance(user.address()).await.unwrap();
        let r = refusal(user.run(id, COHORT).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::NotEnoughShares { needed: 2, valid: 1, .. }), "{r}");
        assert!(r.to_string().contains("fewer than t valid shares"));
        let (shares, proofs) = committee[2].shares_for(id).await.unwrap();
        // a non-member cannot post shares at all
        let outsider = intruder_ledger(&env).await;
        let e =
            ShareError::from(outsider.keys().submit_shares(U256::from(id), shares.clone(), &proofs).await.unwrap_err());
        assert!(matches!(contract_error(&e), ContractError::NotCommitteeMember), "{e}");
        let garbage: Vec<u8> = proofs.iter().map(|b| b ^ 0x5a).collect();
        committee[2].ledger().keys().submit_shares(U256::from(id), shares, &garbage).await.unwrap();
        let r = refusal(user.run(id, COHORT).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::NotEnoughShares { needed: 2, valid: 1, .. }), "bad proof ignored: {r}");
        assert_eq!(user.ledger().access().request_of(U256::from(id)).await.unwrap().status, RequestStatus::Pending);
        assert_eq!(owner.earnings().await.unwrap(), U256::ZERO, "nobody paid on a refusal");

        // the job sent must be the job paid for
        assert_eq!(committee[1].serve_pending().await.unwrap(), vec![id]);
        let r = refusal(user.run(id, LOGISTIC).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::JobHashMismatch { .. }), "{r}");
        assert!(r.to_string().contains("job hash mismatch"));
        assert_eq!(env.connection.balance(user.address()).await.unwrap(), balance, "refusals move no payment");
        assert_eq!(user.ledger().access().request_of(U256::from(id)).await.unwrap().escrow, escrow);
        // only the requester may run it
        let intruder = DataUser::new(&env, dev_key(71)).await.unwrap();
        let stolen = user.share_request(id, COHORT).await.unwrap();
        let r = refusal(intruder.call_enclave(stolen).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::NotRequester { .. }), "{r}");

        // with two valid shares the job runs; a report from an unapproved key is refused by
        // the contract, the enclave's is accepted once
        let accepted = user.call_enclave(user.share_request(id, COHORT).await.unwrap()).await.unwrap();
        let forged_key = EthKey::generate(&mut rand::rng());
        let report = CompletionReport {
            requestId: U256::from(id),
            jobHash: accepted.job_hash,
            resultHash: accepted.result_hash,
        };
        let domain = eip712::domain(env.deployment.shared.chain_id, env.deployment.shared.access_control);
        let mut forged = accepted.clone();
        forged.signature = eip712::sign(&forged_key, &report, &domain).to_vec();
        let e = user.complete(&forged).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::UnapprovedEnclave { .. }), "{e}");
        assert_eq!(owner.earnings().await.unwrap(), U256::ZERO);
        user.complete(&accepted).await.unwrap();
        let e = user.complete(&accepted).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::AlreadyCompleted), "{e}");
        let charge = U256::from(records[0].charge_gwei) * U256::from(1_000_000_000u64);
        assert_eq!(owner.earnings().await.unwrap(), charge, "paid once");
        let r = refusal(user.run(id, COHORT).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::NotPending { .. }), "{r}");

        // a cohort smaller than the minimum is suppressed, not revealed
        let JobResult::CohortStats(result) = user.result(id).await.unwrap() else { panic!("a cohort_stats result") };
        assert_eq!(result.records, 3);
        assert!(result.overall.suppressed() && result.groups.is_empty() && result.excluded.is_none());
        assert_eq!(JobResult::CohortStats(result), expected(&env, &records, COHORT).await);

        // not completed in time: the requester takes the escrow back, nobody is paid, and
        // key release is closed
        let id = user.request(&ids(&records), &cohort).await.unwrap();
        let e = user.refund(id).await.unwrap_err();
        assert!(matches!(contract_error(&e), ContractError::RefundTooEarly { .. }), "{e}");
        env.connection.increase_time(u64::from(DAY) + 1).await.unwrap();
        let balance = env.connection.balance(user.address()).await.unwrap();
        let (refunded, fee) = user.refund(id).await.unwrap();
        assert_eq!(refunded, price);
        assert_eq!(env.connection.balance(user.address()).await.unwrap(), balance + refunded - fee);
        assert!(committee[0].serve_pending().await.unwrap().is_empty(), "closed requests are not served");
        let r = refusal(user.run(id, COHORT).await.unwrap_err());
        assert!(matches!(r, ShareRefusal::NotPending { .. }), "{r}");
        assert_eq!(owner.earnings().await.unwrap(), charge, "a refunded request pays nobody");
        let log = accesses(&env, first).await.unwrap();
        assert_eq!(log.len(), 2);
        assert!(log[0].paid());
        assert_eq!(log[1].outcome, AccessOutcome::Refunded);

        // a version whose entry the store lost is not qualified: the job runs over the
        // others only, and says so
        let lost = records[0].record.versions[1].entry;
        let file = env.store.local_file(&healthchain_store::ObjectAddress(lost.0)).expect("a local store");
        std::fs::remove_file(file).unwrap();
        let id = user.request(&ids(&records), &cohort).await.unwrap();
        assert_eq!(committee[1].serve_pending().await.unwrap(), vec![id]);
        assert_eq!(committee[2].serve_pending().await.unwrap(), vec![id]);
        let accepted = user.run(id, COHORT).await.unwrap();
        let total = records[0].versions.len() as u64;
        assert_eq!((accepted.records[0].qualified, accepted.records[0].total), (total - 1, total));
        for (used, r) in accepted.records.iter().zip(&records).skip(1) {
            assert_eq!((used.qualified, used.total), (r.versions.len() as u64, r.versions.len() as u64));
        }
        let mut without = Imported {
            owner: records[0].owner,
            record: records[0].record.clone(),
            versions: records[0].versions.clone(),
            charge_gwei: records[0].charge_gwei,
        };
        without.versions.remove(1);
        let reduced = [&without, records[1], records[2]];
        assert_eq!(user.result(id).await.unwrap(), expected(&env, &reduced, COHORT).await);
    });
}

/// A committee member's watch serves each granted request once, a watch resumed from
/// `resume_block` sees only what came after (nothing is rescanned, nothing unsettled is
/// missed), and a watch kept two blocks behind the head acts on a request only once two
/// more blocks are on the chain.
#[test]
fn a_committee_watch_serves_each_request_once_resumes_where_it_stopped_and_waits_for_confirmations() {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let env = environment_with_committee(home.path(), 2, 3).await;
        let imported = import(&env, &[0], 20).await;
        let records: Vec<&Imported> = imported.iter().collect();
        let committee = members(&env).await;
        let user = DataUser::new(&env, dev_key(40)).await.unwrap();
        let spec = JobSpec::parse(COHORT).unwrap();

        let mut watch = committee[0].watch(None, 0);
        let first = user.request(&ids(&records), &spec).await.unwrap();
        assert_eq!(committee[0].serve_new(&mut watch).await.unwrap(), vec![first]);
        assert!(committee[0].serve_new(&mut watch).await.unwrap().is_empty(), "served once");
        let resume = watch.resume_block();
        assert!(resume > env.deployment.shared.deployed_at_block, "the watch moved on");

        // a restarted service resumes where the last one stopped
        let second = user.request(&ids(&records), &spec).await.unwrap();
        let mut resumed = committee[0].watch(Some(resume), 0);
        assert_eq!(committee[0].serve_new(&mut resumed).await.unwrap(), vec![second]);

        // two confirmations: the newest request waits for two more blocks
        let third = user.request(&ids(&records), &spec).await.unwrap();
        let head = env.connection.block_number().await.unwrap();
        let mut deep = committee[1].watch(Some(head), 2);
        assert!(committee[1].serve_new(&mut deep).await.unwrap().is_empty(), "not yet two blocks deep");
        let chain = env.chain.as_ref().expect("the embedded chain");
        chain.mine(None).await.unwrap();
        assert!(committee[1].serve_new(&mut deep).await.unwrap().is_empty(), "one block deep");
        chain.mine(None).await.unwrap();
        assert_eq!(committee[1].serve_new(&mut deep).await.unwrap(), vec![third]);
        assert_eq!(deep.resume_block(), head + 1);
    });
}
