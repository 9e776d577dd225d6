//! Typed handles, one per contract: every external function of contracts/README.md as an
//! async method. Transactions return [`Tx`] with the main event decoded; views return values.
//! Get them from [`crate::Ledger`] (`ledger.records()`, ...) or build them from an
//! [`Account`] and an address.

use alloy_primitives::{Address, B256, Bytes, U256, aliases::U24, aliases::U40};
use healthchain_crypto::eip712;

use crate::bindings::{AccessControl, Directory, EhrRegistry, KeyAuthorization, RecordRegistry, UpdateLog};
use crate::client::{Account, Receipt, Tx};
use crate::errors::LedgerError;
use crate::ids::{Grant, RecordWord};

/// `Directory.PRIVILEGE_WRITE_EHR`: the doctor privilege bit EhrRegistry requires.
pub const PRIVILEGE_WRITE_EHR: u64 = 1;

/// A hospital's status in Directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HospitalStatus {
    /// Never registered.
    None,
    /// Registered, waiting for an admin's approval.
    Pending,
    /// Approved: may enrol doctors.
    Approved,
    /// Revoked: its doctors are silenced.
    Revoked,
}

impl HospitalStatus {
    /// The status `Directory` encodes as `v` (`hospitalOf(...).status`); values the
    /// contract never produces read as [`HospitalStatus::None`].
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => HospitalStatus::Pending,
            2 => HospitalStatus::Approved,
            3 => HospitalStatus::Revoked,
            _ => HospitalStatus::None,
        }
    }
}

/// A hospital entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hospital {
    /// Status.
    pub status: HospitalStatus,
    /// Hash of its identity certificate.
    pub identity_hash: B256,
}

/// The open update license of a record and its last confirmed version (`licenseOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LicenseState {
    /// Licensed enclave; zero when no license is open.
    pub enclave: Address,
    /// Expiry (unix seconds).
    pub expiry: u64,
    /// The license's sequence number (counts the record's licenses from 1).
    pub sequence: u32,
    /// The license id.
    pub license_id: B256,
    /// Last version an enclave confirmed on the shared ledger.
    pub confirmed_version: u32,
}

impl From<RecordRegistry::licenseOfReturn> for LicenseState {
    fn from(r: RecordRegistry::licenseOfReturn) -> Self {
        LicenseState {
            enclave: r.enclave,
            expiry: r.expiry.to::<u64>(),
            sequence: r.sequence.to::<u32>(),
            license_id: r.licenseId,
            confirmed_version: r.confirmedVersion,
        }
    }
}

impl LicenseState {
    /// The terms UpdateLog.append takes.
    pub fn terms(&self) -> License {
        License { enclave: self.enclave, expiry: self.expiry, sequence: self.sequence }
    }
}

/// Update-license terms as UpdateLog takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct License {
    /// Licensed enclave.
    pub enclave: Address,
    /// Expiry, unix seconds (uint40).
    pub expiry: u64,
    /// Sequence (uint24).
    pub sequence: u32,
}

impl From<&RecordRegistry::UpdateLicensed> for License {
    fn from(e: &RecordRegistry::UpdateLicensed) -> Self {
        License { enclave: e.enclave, expiry: e.expiry.to::<u64>(), sequence: e.sequence.to::<u32>() }
    }
}

/// Status of an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestStatus {
    /// No such request.
    None,
    /// Waiting for completion.
    Pending,
    /// Completed; owners credited.
    Completed,
    /// Refunded to the requester.
    Refunded,
}

/// An access request (`requestOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRequest {
    /// Who asked and paid.
    pub requester: Address,
    /// After this (unix seconds) the requester may take a refund.
    pub deadline: u64,
    /// Status.
    pub status: RequestStatus,
    /// The enclave asked to run the job.
    pub enclave: Address,
    /// Escrowed wei.
    pub escrow: U256,
    /// `keccak256(abi.encode(jobHash, policies))`.
    pub terms_hash: B256,
}

impl From<AccessControl::requestOfReturn> for AccessRequest {
    fn from(r: AccessControl::requestOfReturn) -> Self {
        AccessRequest {
            requester: r.requester,
            deadline: r.deadline,
            status: match r.status {
                1 => RequestStatus::Pending,
                2 => RequestStatus::Completed,
                3 => RequestStatus::Refunded,
                _ => RequestStatus::None,
            },
            enclave: r.enclave,
            escrow: U256::from(r.escrow),
            terms_hash: r.termsHash,
        }
    }
}

/// A record's UpdateLog state (`logOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// Hash-chain head over all entries.
    pub head: B256,
    /// Latest version (0: none).
    pub version: u64,
    /// Sequence of the last license used.
    pub license_sequence: u32,
}

/// A patient's EHR head (`query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EhrHead {
    /// Hash of the latest EHR.
    pub ehr_hash: B256,
    /// `keccak256(abi.encodePacked(hospitals))`.
    pub hospitals_hash: B256,
    /// Creation time (0: no EHR).
    pub created_at: u64,
    /// Last update time.
    pub updated_at: u64,
    /// Status code.
    pub status: u16,
    /// EHR type code.
    pub ehr_type: u16,
}

/// An anchored EHR batch (`batchOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchoredBatch {
    /// The doctor who anchored it (the enclave's report names them).
    pub doctor: Address,
    /// Number of EHRs (leaves) in the batch's tree.
    pub count: u32,
    /// Block time of the anchoring (0: the root is not anchored).
    pub anchored_at: u64,
}

/// One write of an EHR batch: under `warrants[warrant_index]` as its doctor `doctor_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EhrWrite {
    /// Index into the batch's warrants.
    pub warrant_index: usize,
    /// The writing doctor's position in that warrant.
    pub doctor_index: usize,
    /// Status code.
    pub status: u16,
    /// EHR type code.
    pub ehr_type: u16,
    /// Hash of the EHR.
    pub ehr_hash: B256,
    /// Hospitals involved.
    pub hospitals: Vec<Address>,
}

/// A warrant of an EHR batch with the patient's signature; the signature may be empty when the
/// warrant has been used before (its signature was checked then).
#[derive(Debug, Clone, Copy)]
pub struct BatchWarrant<'a> {
    /// The warrant.
    pub warrant: &'a eip712::Warrant,
    /// The patient's signature, or empty.
    pub signature: &'a [u8],
}

impl<'a> From<&'a eip712::SignedWarrant> for BatchWarrant<'a> {
    fn from(w: &'a eip712::SignedWarrant) -> Self {
        BatchWarrant { warrant: &w.warrant, signature: &w.signature }
    }
}

/// Converts a crypto-crate warrant into the binding's struct.
pub fn warrant_to_binding(w: &eip712::Warrant) -> EhrRegistry::Warrant {
    EhrRegistry::Warrant {
        patient: w.patient,
        doctors: w
            .doctors
            .iter()
            .map(|d| EhrRegistry::DoctorTerm { doctor: d.doctor, notBefore: d.notBefore, notAfter: d.notAfter })
            .collect(),
        aux: w.aux,
    }
}

macro_rules! handle {
    ($(#[$m:meta])* $name:ident, $contract:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone)]
        pub struct $name {
            account: Account,
            address: Address,
        }

        impl $name {
            /// A handle on the contract at `address`, acting as `account`.
            pub fn new(account: Account, address: Address) -> Self {
                Self { account, address }
            }

            /// The contract's address.
            pub fn address(&self) -> Address {
                self.address
            }

            /// The account the handle acts as.
            pub fn account(&self) -> &Account {
                &self.account
            }

            async fn tx<C: alloy_sol_types::SolCall, E: alloy_sol_types::SolEvent>(
                &self,
                call: C,
                value: U256,
            ) -> Result<Tx<E>, LedgerError> {
                self.account.send_expect::<C, E>($contract, self.address, &call, value).await
            }

            #[allow(dead_code)]
            async fn tx_plain<C: alloy_sol_types::SolCall>(&self, call: C) -> Result<Tx<()>, LedgerError> {
                let receipt = self.account.send($contract, self.address, &call, U256::ZERO).await?;
                Ok(Tx { receipt, event: () })
            }

            async fn view<C: alloy_sol_types::SolCall>(&self, call: C) -> Result<C::Return, LedgerError> {
                self.account.call($contract, self.address, &call).await
            }
        }
    };
}

handle!(
    /// `Directory`: admins, hospitals, doctors, enclaves, the key-authorization committee,
    /// session keys (one instance per ledger).
    DirectoryClient,
    "Directory"
);

impl DirectoryClient {
    /// `addAdmin(admin)` (admins only; no event if already an admin).
    pub async fn add_admin(&self, admin: Address) -> Result<Tx, LedgerError> {
        self.tx_plain(Directory::addAdminCall { admin }).await
    }

    /// `removeAdmin(admin)` (admins only; the last admin cannot leave).
    pub async fn remove_admin(&self, admin: Address) -> Result<Tx, LedgerError> {
        self.tx_plain(Directory::removeAdminCall { admin }).await
    }

    /// `isAdmin(account)`.
    pub async fn is_admin(&self, account: Address) -> Result<bool, LedgerError> {
        self.view(Directory::isAdminCall(account)).await
    }

    /// `adminCount()`.
    pub async fn admin_count(&self) -> Result<U256, LedgerError> {
        self.view(Directory::adminCountCall {}).await
    }

    /// `registerHospital(identityHash)`: the sender applies as a hospital (Pending).
    pub async fn register_hospital(
        &self,
        identity_hash: B256,
    ) -> Result<Tx<Directory::HospitalRegistered>, LedgerError> {
        self.tx(Directory::registerHospitalCall { identityHash: identity_hash }, U256::ZERO).await
    }

    /// `approveHospital(hospital)` (admins only).
    pub async fn approve_hospital(&self, hospital: Address) -> Result<Tx<Directory::HospitalApproved>, LedgerError> {
        self.tx(Directory::approveHospitalCall { hospital }, U256::ZERO).await
    }

    /// `revokeHospital(hospital)` (admins only): silences its doctors.
    pub async fn revoke_hospital(&self, hospital: Address) -> Result<Tx<Directory::HospitalRevoked>, LedgerError> {
        self.tx(Directory::revokeHospitalCall { hospital }, U256::ZERO).await
    }

    /// `hospitalOf(hospital)`.
    pub async fn hospital_of(&self, hospital: Address) -> Result<Hospital, LedgerError> {
        let h = self.view(Directory::hospitalOfCall { hospital }).await?;
        Ok(Hospital { status: HospitalStatus::from_u8(h.status), identity_hash: h.identityHash })
    }

    /// `registerDoctor(doctor, identityHash, specialty, privileges)` by an approved hospital.
    pub async fn register_doctor(
        &self,
        doctor: Address,
        identity_hash: B256,
        specialty: B256,
        privileges: u64,
    ) -> Result<Tx<Directory::DoctorRegistered>, LedgerError> {
        let call = Directory::registerDoctorCall { doctor, identityHash: identity_hash, specialty, privileges };
        self.tx(call, U256::ZERO).await
    }

    /// `revokeDoctor(doctor)` by the doctor's hospital.
    pub async fn revoke_doctor(&self, doctor: Address) -> Result<Tx<Directory::DoctorRevoked>, LedgerError> {
        self.tx(Directory::revokeDoctorCall { doctor }, U256::ZERO).await
    }

    /// `doctorOf(doctor)`.
    pub async fn doctor_of(&self, doctor: Address) -> Result<Directory::Doctor, LedgerError> {
        self.view(Directory::doctorOfCall { doctor }).await
    }

    /// `doctorPrivileges(doctor)`: 0 unless active at an approved hospital.
    pub async fn doctor_privileges(&self, doctor: Address) -> Result<u64, LedgerError> {
        self.view(Directory::doctorPrivilegesCall { doctor }).await
    }

    /// `approveEnclave(reportSigner, measurement, encryptionKey, sessionKey)` (admins only).
    pub async fn approve_enclave(
        &self,
        report_signer: Address,
        measurement: B256,
        encryption_key: B256,
        session_key: B256,
    ) -> Result<Tx<Directory::EnclaveApproved>, LedgerError> {
        let call = Directory::approveEnclaveCall {
            reportSigner: report_signer,
            measurement,
            encryptionKey: encryption_key,
            sessionKey: session_key,
        };
        self.tx(call, U256::ZERO).await
    }

    /// `revokeEnclave(reportSigner)` (admins only).
    pub async fn revoke_enclave(&self, report_signer: Address) -> Result<Tx<Directory::EnclaveRevoked>, LedgerError> {
        self.tx(Directory::revokeEnclaveCall { reportSigner: report_signer }, U256::ZERO).await
    }

    /// `enclaveOf(reportSigner)`.
    pub async fn enclave_of(&self, report_signer: Address) -> Result<Directory::Enclave, LedgerError> {
        self.view(Directory::enclaveOfCall { reportSigner: report_signer }).await
    }

    /// `isApprovedEnclave(enclave)`.
    pub async fn is_approved_enclave(&self, enclave: Address) -> Result<bool, LedgerError> {
        self.view(Directory::isApprovedEnclaveCall { enclave }).await
    }

    /// `enclaveSigner(structHash, signature)` as called from an account (so the domain's
    /// verifying contract is the caller's address): the approved enclave that signed, or a revert.
    pub async fn enclave_signer(&self, struct_hash: B256, signature: &[u8]) -> Result<Address, LedgerError> {
        let call =
            Directory::enclaveSignerCall { structHash: struct_hash, signature: Bytes::copy_from_slice(signature) };
        self.view(call).await
    }

    /// `recordReplica(instance, evidenceHash, signature)`: records that the approved enclave
    /// which signed the EIP-712 `ReplicaJoin(instance, evidenceHash)` (this Directory's domain)
    /// provisioned its keys to `instance`; anyone may send it.
    pub async fn record_replica(
        &self,
        instance: Address,
        evidence_hash: B256,
        signature: &[u8],
    ) -> Result<Tx<Directory::EnclaveReplicated>, LedgerError> {
        let call = Directory::recordReplicaCall {
            instance,
            evidenceHash: evidence_hash,
            signature: Bytes::copy_from_slice(signature),
        };
        self.tx(call, U256::ZERO).await
    }

    /// `replicaOf(instance)`: the approved enclave whose keys `instance` joined with (zero if
    /// no join was recorded).
    pub async fn replica_of(&self, instance: Address) -> Result<Address, LedgerError> {
        self.view(Directory::replicaOfCall(instance)).await
    }

    /// Every `EnclaveReplicated` of this Directory from `from_block` on, optionally of one
    /// approved enclave: the instances serving as it.
    pub async fn replicas(
        &self,
        report_signer: Option<Address>,
        from_block: u64,
    ) -> Result<Vec<crate::events::EventLog<Directory::EnclaveReplicated>>, LedgerError> {
        let topics = match report_signer {
            Some(signer) => crate::events::Topics::any().with(1, signer),
            None => crate::events::Topics::any(),
        };
        crate::events::query(self.account().connection(), self.address(), topics, from_block).await
    }

    /// `setCommittee(members, shareKeys, committeeKey, threshold)` (admins only): a new epoch.
    pub async fn set_committee(
        &self,
        members: Vec<Address>,
        share_keys: Vec<B256>,
        committee_key: B256,
        threshold: u8,
    ) -> Result<Tx<Directory::CommitteeSet>, LedgerError> {
        let call =
            Directory::setCommitteeCall { members, shareKeys: share_keys, committeeKey: committee_key, threshold };
        self.tx(call, U256::ZERO).await
    }

    /// `committeeEpoch()`.
    pub async fn committee_epoch(&self) -> Result<u32, LedgerError> {
        self.view(Directory::committeeEpochCall {}).await
    }

    /// `committeeOf(epoch)`: key, threshold, size.
    pub async fn committee_of(&self, epoch: u32) -> Result<Directory::Committee, LedgerError> {
        self.view(Directory::committeeOfCall { epoch }).await
    }

    /// `committeeMember(epoch, index)`: member address and share key.
    pub async fn committee_member(&self, epoch: u32, index: u32) -> Result<Directory::CommitteeMember, LedgerError> {
        self.view(Directory::committeeMemberCall { epoch, index: U256::from(index) }).await
    }

    /// `committeeSeat(epoch, member)`: index + 1, or 0 when not a member.
    pub async fn committee_seat(&self, epoch: u32, member: Address) -> Result<u64, LedgerError> {
        Ok(self.view(Directory::committeeSeatCall { epoch, member }).await?.to::<u64>())
    }

    /// `keyReleaseCommittee(enclave)`: (epoch, threshold) releasing keys to `enclave` now.
    pub async fn key_release_committee(&self, enclave: Address) -> Result<(u32, u8), LedgerError> {
        let r = self.view(Directory::keyReleaseCommitteeCall { enclave }).await?;
        Ok((r.epoch, r.threshold))
    }

    /// `setSessionKey(x25519PublicKey)` for the sender.
    pub async fn set_session_key(&self, session_key: B256) -> Result<Tx<Directory::SessionKeySet>, LedgerError> {
        self.tx(Directory::setSessionKeyCall { sessionKey: session_key }, U256::ZERO).await
    }

    /// `sessionKeyOf(account)`.
    pub async fn session_key_of(&self, account: Address) -> Result<B256, LedgerError> {
        self.view(Directory::sessionKeyOfCall(account)).await
    }
}

handle!(
    /// `RecordRegistry` (shared ledger): seed 000 `dataUpload` and the access policy.
    RecordRegistryClient,
    "RecordRegistry"
);

impl RecordRegistryClient {
    /// `register(anchor, manifestHash)` paying `deposit` wei (must equal `deposit()`).
    pub async fn register(
        &self,
        anchor: B256,
        manifest_hash: B256,
        deposit: U256,
    ) -> Result<Tx<RecordRegistry::RecordRegistered>, LedgerError> {
        self.tx(RecordRegistry::registerCall { anchor, manifestHash: manifest_hash }, deposit).await
    }

    /// `addPolicy(recordId, chargeGwei, start, end)` (owner only).
    pub async fn add_policy(
        &self,
        record_id: B256,
        charge_gwei: u32,
        start: u32,
        end: u32,
    ) -> Result<Tx<RecordRegistry::PolicySet>, LedgerError> {
        let call = RecordRegistry::addPolicyCall { recordId: record_id, chargeGwei: charge_gwei, start, end };
        self.tx(call, U256::ZERO).await
    }

    /// `revokePolicy(recordId)` (owner only).
    pub async fn revoke_policy(&self, record_id: B256) -> Result<Tx<RecordRegistry::PolicySet>, LedgerError> {
        self.tx(RecordRegistry::revokePolicyCall { recordId: record_id }, U256::ZERO).await
    }

    /// `verifyPolicy(recordId, when)`.
    pub async fn verify_policy(&self, record_id: B256, when: u64) -> Result<bool, LedgerError> {
        self.view(RecordRegistry::verifyPolicyCall { recordId: record_id, when: U256::from(when) }).await
    }

    /// `recordOf(recordId)`, unpacked.
    pub async fn record_of(&self, record_id: B256) -> Result<RecordWord, LedgerError> {
        Ok(RecordWord::unpack(self.view(RecordRegistry::recordOfCall { recordId: record_id }).await?))
    }

    /// `recordOf(recordId)`, the raw word (what AccessControl snapshots as the policy).
    pub async fn record_word(&self, record_id: B256) -> Result<U256, LedgerError> {
        self.view(RecordRegistry::recordOfCall { recordId: record_id }).await
    }

    /// `requestUpdate(recordId, enclave)` (owner only): a license for `enclave`.
    pub async fn request_update(
        &self,
        record_id: B256,
        enclave: Address,
    ) -> Result<Tx<RecordRegistry::UpdateLicensed>, LedgerError> {
        self.tx(RecordRegistry::requestUpdateCall { recordId: record_id, enclave }, U256::ZERO).await
    }

    /// `licenseOf(recordId)`.
    pub async fn license_of(&self, record_id: B256) -> Result<LicenseState, LedgerError> {
        Ok(self.view(RecordRegistry::licenseOfCall { recordId: record_id }).await?.into())
    }

    /// `confirmUpdate(recordId, version, digest, checkStringHash, signature)`: the licensed
    /// enclave's UpdateReport signed for this contract.
    pub async fn confirm_update(
        &self,
        record_id: B256,
        version: u64,
        digest: B256,
        check_string_hash: B256,
        signature: &[u8],
    ) -> Result<Tx<RecordRegistry::UpdateConfirmed>, LedgerError> {
        let call = RecordRegistry::confirmUpdateCall {
            recordId: record_id,
            version,
            digest,
            checkStringHash: check_string_hash,
            signature: Bytes::copy_from_slice(signature),
        };
        self.tx(call, U256::ZERO).await
    }

    /// `qualifiedUpdates(owner)`: reputation.
    pub async fn qualified_updates(&self, owner: Address) -> Result<U256, LedgerError> {
        self.view(RecordRegistry::qualifiedUpdatesCall { owner }).await
    }

    /// `deposit()` in wei.
    pub async fn deposit(&self) -> Result<U256, LedgerError> {
        self.view(RecordRegistry::depositCall {}).await
    }
}

handle!(
    /// `AccessControl` (shared ledger): paid access requests, completion, payouts, refunds.
    AccessControlClient,
    "AccessControl"
);

impl AccessControlClient {
    /// `requestAccess(recordIds, jobHash, enclave)` paying `payment` wei (exactly the sum of charges).
    pub async fn request_access(
        &self,
        record_ids: Vec<B256>,
        job_hash: B256,
        enclave: Address,
        payment: U256,
    ) -> Result<Tx<AccessControl::AccessRequested>, LedgerError> {
        let call = AccessControl::requestAccessCall { recordIds: record_ids, jobHash: job_hash, enclave };
        self.tx(call, payment).await
    }

    /// `complete(requestId, jobHash, resultHash, policies, signature)`.
    pub async fn complete(
        &self,
        request_id: U256,
        job_hash: B256,
        result_hash: B256,
        policies: Vec<U256>,
        signature: &[u8],
    ) -> Result<Tx<AccessControl::AccessCompleted>, LedgerError> {
        let call = AccessControl::completeCall {
            requestId: request_id,
            jobHash: job_hash,
            resultHash: result_hash,
            policies,
            signature: Bytes::copy_from_slice(signature),
        };
        self.tx(call, U256::ZERO).await
    }

    /// `refund(requestId)` (requester, after the deadline).
    pub async fn refund(&self, request_id: U256) -> Result<Tx<AccessControl::AccessRefunded>, LedgerError> {
        self.tx(AccessControl::refundCall { requestId: request_id }, U256::ZERO).await
    }

    /// `withdraw()`: pays out the sender's earnings.
    pub async fn withdraw(&self) -> Result<Tx<AccessControl::Withdrawn>, LedgerError> {
        self.tx(AccessControl::withdrawCall {}, U256::ZERO).await
    }

    /// `requestOf(requestId)`.
    pub async fn request_of(&self, request_id: U256) -> Result<AccessRequest, LedgerError> {
        Ok(self.view(AccessControl::requestOfCall { requestId: request_id }).await?.into())
    }

    /// `requestCount()`.
    pub async fn request_count(&self) -> Result<U256, LedgerError> {
        self.view(AccessControl::requestCountCall {}).await
    }

    /// `earnings(owner)` in wei.
    pub async fn earnings(&self, owner: Address) -> Result<U256, LedgerError> {
        self.view(AccessControl::earningsCall { owner }).await
    }
}

handle!(
    /// `KeyAuthorization` (shared ledger): committee decryption shares for granted requests.
    KeyAuthorizationClient,
    "KeyAuthorization"
);

impl KeyAuthorizationClient {
    /// `submitShares(requestId, shares, proofs)` by a committee member.
    pub async fn submit_shares(
        &self,
        request_id: U256,
        shares: Vec<B256>,
        proofs: &[u8],
    ) -> Result<Tx<KeyAuthorization::SharesSubmitted>, LedgerError> {
        let call = KeyAuthorization::submitSharesCall {
            requestId: request_id,
            shares,
            proofs: Bytes::copy_from_slice(proofs),
        };
        self.tx(call, U256::ZERO).await
    }

    /// `authorize(requestId, enclave, recordCount)`: AccessControl only (anyone else gets `NotAccessControl`).
    pub async fn authorize(&self, request_id: U256, enclave: Address, record_count: u16) -> Result<Tx, LedgerError> {
        self.tx_plain(KeyAuthorization::authorizeCall { requestId: request_id, enclave, recordCount: record_count })
            .await
    }

    /// `close(requestId)`: AccessControl only.
    pub async fn close(&self, request_id: U256) -> Result<Tx, LedgerError> {
        self.tx_plain(KeyAuthorization::closeCall { requestId: request_id }).await
    }

    /// `grantOf(requestId)`, unpacked.
    pub async fn grant_of(&self, request_id: U256) -> Result<Grant, LedgerError> {
        Ok(Grant::unpack(self.view(KeyAuthorization::grantOfCall { requestId: request_id }).await?))
    }

    /// `accessControl()`: the only address allowed to authorize and close.
    pub async fn access_control(&self) -> Result<Address, LedgerError> {
        self.view(KeyAuthorization::accessControlCall {}).await
    }
}

handle!(
    /// `UpdateLog` (consortium ledger): one entry per validated version.
    UpdateLogClient,
    "UpdateLog"
);

impl UpdateLogClient {
    /// `append(recordId, version, digest, checkString, license, signature)`.
    pub async fn append(
        &self,
        record_id: B256,
        version: u64,
        digest: B256,
        check_string: [B256; 2],
        license: License,
        signature: &[u8],
    ) -> Result<Tx<UpdateLog::UpdateAppended>, LedgerError> {
        let call = UpdateLog::appendCall {
            recordId: record_id,
            version,
            digest,
            checkString: check_string,
            license: UpdateLog::License {
                enclave: license.enclave,
                expiry: U40::from(license.expiry),
                sequence: U24::from(license.sequence),
            },
            signature: Bytes::copy_from_slice(signature),
        };
        self.tx(call, U256::ZERO).await
    }

    /// `logOf(recordId)`.
    pub async fn log_of(&self, record_id: B256) -> Result<LogState, LedgerError> {
        let l = self.view(UpdateLog::logOfCall { recordId: record_id }).await?;
        Ok(LogState { head: l.head, version: l.version, license_sequence: l.licenseSequence.to::<u32>() })
    }
}

handle!(
    /// `EhrRegistry` (consortium ledger): seed 001's chaincode.
    EhrRegistryClient,
    "EhrRegistry"
);

/// `create` and `update` take the same arguments; one constructor for both calls.
macro_rules! ehr_write {
    ($call:ident, $warrant:expr, $signature:expr, $doctor:expr, $status:expr, $ehr_type:expr, $hash:expr, $hospitals:expr) => {
        EhrRegistry::$call {
            warrant: warrant_to_binding($warrant),
            patientSignature: Bytes::copy_from_slice($signature),
            doctorIndex: U256::from($doctor),
            status: $status,
            ehrType: $ehr_type,
            ehrHash: $hash,
            hospitals: $hospitals,
        }
    };
}

impl EhrRegistryClient {
    /// `create(warrant, signature, doctorIndex, status, ehrType, ehrHash, hospitals)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        warrant: &eip712::Warrant,
        patient_signature: &[u8],
        doctor_index: usize,
        status: u16,
        ehr_type: u16,
        ehr_hash: B256,
        hospitals: Vec<Address>,
    ) -> Result<Tx<EhrRegistry::HashUpdated>, LedgerError> {
        let call =
            ehr_write!(createCall, warrant, patient_signature, doctor_index, status, ehr_type, ehr_hash, hospitals);
        self.tx(call, U256::ZERO).await
    }

    /// `update(warrant, signature, doctorIndex, status, ehrType, ehrHash, hospitals)`; the
    /// signature may be empty once the warrant has been used.
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        warrant: &eip712::Warrant,
        patient_signature: &[u8],
        doctor_index: usize,
        status: u16,
        ehr_type: u16,
        ehr_hash: B256,
        hospitals: Vec<Address>,
    ) -> Result<Tx<EhrRegistry::HashUpdated>, LedgerError> {
        let call =
            ehr_write!(updateCall, warrant, patient_signature, doctor_index, status, ehr_type, ehr_hash, hospitals);
        self.tx(call, U256::ZERO).await
    }

    /// Dry-runs `create` (`update = false`) or `update` as this account (`eth_call`, nothing
    /// sent): `Ok` if the contract would accept it now, else its refusal.
    #[allow(clippy::too_many_arguments)]
    pub async fn check_write(
        &self,
        update: bool,
        warrant: &eip712::Warrant,
        patient_signature: &[u8],
        doctor_index: usize,
        status: u16,
        ehr_type: u16,
        ehr_hash: B256,
        hospitals: Vec<Address>,
    ) -> Result<(), LedgerError> {
        if update {
            let call =
                ehr_write!(updateCall, warrant, patient_signature, doctor_index, status, ehr_type, ehr_hash, hospitals);
            self.view(call).await?;
        } else {
            let call =
                ehr_write!(createCall, warrant, patient_signature, doctor_index, status, ehr_type, ehr_hash, hospitals);
            self.view(call).await?;
        }
        Ok(())
    }

    /// `writeBatch(warrants, writes)`: many creates/updates in one transaction; returns every
    /// `HashUpdated` in order.
    pub async fn write_batch(
        &self,
        warrants: &[BatchWarrant<'_>],
        writes: &[EhrWrite],
    ) -> Result<Tx<Vec<EhrRegistry::HashUpdated>>, LedgerError> {
        let call = EhrRegistry::writeBatchCall {
            warrants: warrants
                .iter()
                .map(|w| EhrRegistry::SignedWarrant {
                    warrant: warrant_to_binding(w.warrant),
                    signature: Bytes::copy_from_slice(w.signature),
                })
                .collect(),
            writes: writes
                .iter()
                .map(|w| EhrRegistry::BatchWrite {
                    warrantIndex: U256::from(w.warrant_index),
                    doctorIndex: U256::from(w.doctor_index),
                    status: w.status,
                    ehrType: w.ehr_type,
                    ehrHash: w.ehr_hash,
                    hospitals: w.hospitals.clone(),
                })
                .collect(),
        };
        let receipt: Receipt = self.account.send("EhrRegistry", self.address, &call, U256::ZERO).await?;
        let event = receipt.events::<EhrRegistry::HashUpdated>(self.address);
        Ok(Tx { receipt, event })
    }

    /// `anchorBatch(root, count, enclaveSignature)`: anchors a batch the enclave stored for the
    /// sender (its EIP-712 `EhrBatch(sender, root, count)` report).
    pub async fn anchor_batch(
        &self,
        root: B256,
        count: u32,
        enclave_signature: &[u8],
    ) -> Result<Tx<EhrRegistry::BatchAnchored>, LedgerError> {
        let call =
            EhrRegistry::anchorBatchCall { root, count, enclaveSignature: Bytes::copy_from_slice(enclave_signature) };
        self.tx(call, U256::ZERO).await
    }

    /// `batchOf(root)`.
    pub async fn batch_of(&self, root: B256) -> Result<AnchoredBatch, LedgerError> {
        let b = self.view(EhrRegistry::batchOfCall { root }).await?;
        Ok(AnchoredBatch { doctor: b.doctor, count: b.count, anchored_at: b.anchoredAt })
    }

    /// `query(patient)`.
    pub async fn query(&self, patient: Address) -> Result<EhrHead, LedgerError> {
        let e = self.view(EhrRegistry::queryCall { patient }).await?;
        Ok(EhrHead {
            ehr_hash: e.ehrHash,
            hospitals_hash: e.hospitalsHash,
            created_at: e.createdAt,
            updated_at: e.updatedAt,
            status: e.status,
            ehr_type: e.ehrType,
        })
    }

    /// `revokeWarrant(warrant)` (the patient only).
    pub async fn revoke_warrant(
        &self,
        warrant: &eip712::Warrant,
    ) -> Result<Tx<EhrRegistry::WarrantRevokedByPatient>, LedgerError> {
        self.tx(EhrRegistry::revokeWarrantCall { warrant: warrant_to_binding(warrant) }, U256::ZERO).await
    }

    /// `warrantIdOf(warrant)`: the EIP-712 digest as the contract computes it.
    pub async fn warrant_id_of(&self, warrant: &eip712::Warrant) -> Result<B256, LedgerError> {
        self.view(EhrRegistry::warrantIdOfCall { warrant: warrant_to_binding(warrant) }).await
    }

    /// `warrantState(warrantId)`: 0 unseen, n ≥ 1 checked and n − 1 doctors wrote, 2²⁵⁶ − 1 revoked.
    pub async fn warrant_state(&self, warrant_id: B256) -> Result<U256, LedgerError> {
        self.view(EhrRegistry::warrantStateCall { warrantId: warrant_id }).await
    }
}
