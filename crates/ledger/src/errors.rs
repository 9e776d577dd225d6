//! Errors: [`ContractError`] (every refusal of every healthchain contract, decoded from revert
//! data with its arguments) and [`LedgerError`] (everything a ledger call can fail with).

use alloy_json_rpc::RpcError;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{Panic, Revert, SolError, SolInterface, sol};
use alloy_transport::TransportErrorKind;

sol! {
    /// The union of the custom errors of all six contracts (`contracts/Errors.sol`, where each
    /// error is declared once). A test checks that every error in every artifact's ABI is here
    /// with the same signature.
    #[sol(all_derives)]
    interface HealthchainErrors {
        error NotAdmin();
        error MalformedSignature();
        error UnapprovedEnclave(address enclave);
        error WrongEnclave(address expected, address actual);
        error TransferFailed(address to, uint256 amount);
        error VersionOutOfOrder(uint64 expected, uint64 got);
        error LastAdmin();
        error HospitalAlreadyRegistered();
        error UnknownHospital();
        error HospitalNotApproved();
        error DoctorOfAnotherHospital(address doctor, address hospital);
        error UnknownDoctor();
        error InvalidCommittee();
        error NoCommittee();
        error ReplicaAlreadyRecorded(address instance);
        error WrongDeposit(uint256 required, uint256 paid);
        error RecordExists(bytes32 recordId);
        error NotRecordOwner();
        error EmptyPolicyWindow();
        error NoOpenLicense();
        error LicenseExpired();
        error LicenseConsumed();
        error KeyAuthorizationNotBound();
        error BadRecordCount();
        error UnknownRecord(bytes32 recordId);
        error PolicyRevoked(bytes32 recordId);
        error OutsidePolicyWindow(bytes32 recordId);
        error Underpaid(uint256 required, uint256 paid);
        error Overpaid(uint256 required, uint256 paid);
        error UnknownRequest();
        error AlreadyCompleted();
        error AlreadyRefunded();
        error TermsMismatch();
        error NotRequester();
        error RefundTooEarly(uint64 deadline);
        error NothingToWithdraw();
        error NotAccessControl();
        error NotGranted();
        error RequestClosed();
        error ShareCountMismatch();
        error NotCommitteeMember();
        error ShareAlreadySubmitted();
        error UnregisteredDoctor();
        error DoctorNotInWarrant();
        error WarrantNotYetValid(uint64 notBefore);
        error WarrantExpired(uint64 notAfter);
        error BadWarrantSignature();
        error WarrantRevoked(bytes32 warrantId);
        error PreviousDoctorHasNotWritten(uint256 doctorIndex);
        error NotWarrantPatient();
        error UnknownWarrantIndex(uint256 index);
        error EhrExists(address patient);
        error UnknownEhr(address patient);
        error EmptyBatch();
        error BatchAlreadyAnchored(bytes32 root);
    }
}

use HealthchainErrors::HealthchainErrorsErrors as Union;

/// Why a healthchain contract refused a call: one variant per custom error of
/// `contracts/Errors.sol`, with its arguments, plus Solidity's built-in `Error(string)` and
/// `Panic(uint256)` and undecodable data. Errors raised by `Directory` inside another contract's
/// call (`UnapprovedEnclave`, `MalformedSignature`, `NoCommittee`) decode the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    // ---- shared
    /// The caller is not a consortium admin of this ledger's Directory.
    #[error("NotAdmin: the sender is not a consortium admin; send from an admin account")]
    NotAdmin,
    /// A signature is not 65 bytes `r ‖ s ‖ v` with low `s` and `v ∈ {27, 28}`, or recovers no key.
    #[error(
        "MalformedSignature: the signature is not a 65-byte low-s r‖s‖v signature with v = 27/28 (or recovers no key); re-sign it"
    )]
    MalformedSignature,
    /// The recovered signer (or named enclave) is not an approved enclave.
    #[error(
        "UnapprovedEnclave({enclave}): not an approved enclave — have an admin approve it, or the report was signed for another contract, chain or content"
    )]
    UnapprovedEnclave {
        /// The address that is not approved.
        enclave: Address,
    },
    /// An approved enclave signed, but not the one licensed / requested.
    #[error("WrongEnclave: expected a report by enclave {expected}, it was signed by {actual}")]
    WrongEnclave {
        /// The enclave that should have signed.
        expected: Address,
        /// The enclave that did sign.
        actual: Address,
    },
    /// An ether transfer to `to` failed.
    #[error("TransferFailed: sending {amount} wei to {to} failed (the receiver refuses ether)")]
    TransferFailed {
        /// Receiver.
        to: Address,
        /// Amount in wei.
        amount: U256,
    },
    /// A version number out of order.
    #[error("VersionOutOfOrder: version {got} given, expected {expected}")]
    VersionOutOfOrder {
        /// The version expected (RecordRegistry: the lowest acceptable).
        expected: u64,
        /// The version given.
        got: u64,
    },
    // ---- Directory
    /// The last admin cannot leave (or a Directory was deployed without admins).
    #[error("LastAdmin: the consortium must keep at least one admin; add another admin first")]
    LastAdmin,
    /// The hospital has registered before.
    #[error("HospitalAlreadyRegistered: this account has already registered as a hospital")]
    HospitalAlreadyRegistered,
    /// No hospital is registered under this address.
    #[error("UnknownHospital: no hospital is registered under that address")]
    UnknownHospital,
    /// The sender is not an approved hospital.
    #[error("HospitalNotApproved: the sender is not an approved hospital; register and wait for an admin's approval")]
    HospitalNotApproved,
    /// The doctor is active at another hospital.
    #[error("DoctorOfAnotherHospital: doctor {doctor} is active at hospital {hospital}, which must revoke them first")]
    DoctorOfAnotherHospital {
        /// Doctor.
        doctor: Address,
        /// The hospital the doctor is active at.
        hospital: Address,
    },
    /// The doctor is not active at the sender's hospital.
    #[error("UnknownDoctor: that doctor is not active at the sending hospital")]
    UnknownDoctor,
    /// Committee parameters are inconsistent.
    #[error(
        "InvalidCommittee: members and share keys must have equal length ≤ 64, 1 ≤ threshold ≤ size, and members must be distinct and non-zero"
    )]
    InvalidCommittee,
    /// No key-authorization committee has been set.
    #[error("NoCommittee: no key-authorization committee is set; an admin must call setCommittee first")]
    NoCommittee,
    /// The instance's join was recorded before.
    #[error("ReplicaAlreadyRecorded: the join of instance {instance} is already on the Directory")]
    ReplicaAlreadyRecorded {
        /// The joined instance (its pre-join report-signer address).
        instance: Address,
    },
    // ---- RecordRegistry
    /// The registration did not pay exactly the deposit.
    #[error("WrongDeposit: registering requires exactly {required} wei, {paid} wei was sent")]
    WrongDeposit {
        /// Deposit required.
        required: U256,
        /// Amount sent.
        paid: U256,
    },
    /// A record with this id exists.
    #[error("RecordExists({record_id}): this owner already registered a record with that anchor and manifest")]
    RecordExists {
        /// The record id.
        record_id: B256,
    },
    /// The sender does not own the record (or it does not exist).
    #[error("NotRecordOwner: the sender does not own that record, or no such record exists")]
    NotRecordOwner,
    /// `start >= end`.
    #[error("EmptyPolicyWindow: the policy window is empty; start must be before end")]
    EmptyPolicyWindow,
    /// No update license is open for the record.
    #[error("NoOpenLicense: the record has no open update license; its owner must call requestUpdate")]
    NoOpenLicense,
    // ---- UpdateLog
    /// The license's expiry has passed.
    #[error("LicenseExpired: the update license has expired; the owner must request a new one")]
    LicenseExpired,
    /// The license (or a newer one) has already been used for this record.
    #[error("LicenseConsumed: this update license (or a newer one) was already used; request a new license")]
    LicenseConsumed,
    // ---- AccessControl
    /// KeyAuthorization is not bound to this AccessControl (deployment error).
    #[error("KeyAuthorizationNotBound: KeyAuthorization was deployed for another AccessControl address")]
    KeyAuthorizationNotBound,
    /// A request must name 1 to 65,535 records.
    #[error("BadRecordCount: an access request must name between 1 and 65,535 records")]
    BadRecordCount,
    /// The record does not exist.
    #[error("UnknownRecord({record_id}): no such record")]
    UnknownRecord {
        /// The record id.
        record_id: B256,
    },
    /// The record has no policy in force.
    #[error("PolicyRevoked({record_id}): the record has no access policy in force")]
    PolicyRevoked {
        /// The record id.
        record_id: B256,
    },
    /// The current block time is outside the record's policy window.
    #[error("OutsidePolicyWindow({record_id}): the record's policy does not allow access at this time")]
    OutsidePolicyWindow {
        /// The record id.
        record_id: B256,
    },
    /// Less than the sum of charges was paid.
    #[error("Underpaid: the request costs {required} wei, {paid} wei was sent")]
    Underpaid {
        /// Sum of charges, in wei.
        required: U256,
        /// Amount sent.
        paid: U256,
    },
    /// More than the sum of charges was paid.
    #[error("Overpaid: the request costs exactly {required} wei, {paid} wei was sent")]
    Overpaid {
        /// Sum of charges, in wei.
        required: U256,
        /// Amount sent.
        paid: U256,
    },
    /// No such request.
    #[error("UnknownRequest: no access request with that id")]
    UnknownRequest,
    /// The request was completed already.
    #[error("AlreadyCompleted: the access request has already been completed")]
    AlreadyCompleted,
    /// The request was refunded already.
    #[error("AlreadyRefunded: the access request has already been refunded")]
    AlreadyRefunded,
    /// `jobHash` / `policies` differ from the request's.
    #[error("TermsMismatch: jobHash and policies must be exactly those of the AccessRequested event")]
    TermsMismatch,
    /// Only the requester may take a refund.
    #[error("NotRequester: only the requester may take a refund")]
    NotRequester,
    /// The completion deadline has not passed.
    #[error("RefundTooEarly: a refund is possible only after the deadline {deadline} (unix seconds)")]
    RefundTooEarly {
        /// The deadline.
        deadline: u64,
    },
    /// No earnings to withdraw.
    #[error("NothingToWithdraw: the sender has no earnings to withdraw")]
    NothingToWithdraw,
    // ---- KeyAuthorization
    /// Only AccessControl may call this.
    #[error("NotAccessControl: only the AccessControl contract may call this")]
    NotAccessControl,
    /// The request was never granted.
    #[error("NotGranted: no key release was granted for that request")]
    NotGranted,
    /// The request is closed (refunded).
    #[error("RequestClosed: the request was refunded; no more shares are accepted")]
    RequestClosed,
    /// One share per record of the request is required.
    #[error("ShareCountMismatch: submit exactly one share per record of the request")]
    ShareCountMismatch,
    /// The sender is not a member of the committee the grant was made under.
    #[error("NotCommitteeMember: the sender is not a member of the committee this request was granted under")]
    NotCommitteeMember,
    /// The member has already submitted.
    #[error("ShareAlreadySubmitted: this member has already submitted its shares for the request")]
    ShareAlreadySubmitted,
    // ---- EhrRegistry
    /// The sender is not an active doctor with the EHR write privilege at an approved hospital.
    #[error(
        "UnregisteredDoctor: the sender is not an active doctor with the EHR write privilege at an approved hospital"
    )]
    UnregisteredDoctor,
    /// The sender is not the warrant's doctor at `doctorIndex`.
    #[error("DoctorNotInWarrant: the sender is not the warrant's doctor at the given index")]
    DoctorNotInWarrant,
    /// Before the doctor's period.
    #[error("WarrantNotYetValid: the warrant is valid for this doctor only from {not_before} (unix seconds)")]
    WarrantNotYetValid {
        /// Start of the period.
        not_before: u64,
    },
    /// After the doctor's period.
    #[error(
        "WarrantExpired: the warrant expired for this doctor at {not_after} (unix seconds); ask the patient for a new one"
    )]
    WarrantExpired {
        /// End of the period.
        not_after: u64,
    },
    /// The warrant is not signed by its patient.
    #[error("BadWarrantSignature: the warrant is not signed by its patient (forged or altered)")]
    BadWarrantSignature,
    /// The patient revoked the warrant.
    #[error("WarrantRevoked({warrant_id}): the patient revoked this warrant")]
    WarrantRevoked {
        /// The warrant id.
        warrant_id: B256,
    },
    /// An earlier doctor of an ordered group has not written yet.
    #[error(
        "PreviousDoctorHasNotWritten: doctor {doctor_index} must wait until every earlier doctor of the warrant has written"
    )]
    PreviousDoctorHasNotWritten {
        /// The sender's index.
        doctor_index: U256,
    },
    /// Only the patient may revoke the warrant.
    #[error("NotWarrantPatient: only the warrant's patient may revoke it")]
    NotWarrantPatient,
    /// A batch write names a warrant index beyond the list.
    #[error("UnknownWarrantIndex({index}): the batch write names a warrant index beyond the list")]
    UnknownWarrantIndex {
        /// The index.
        index: U256,
    },
    /// The patient already has an EHR (use update).
    #[error("EhrExists({patient}): the patient already has an EHR; use update")]
    EhrExists {
        /// The patient.
        patient: Address,
    },
    /// The patient has no EHR yet (use create).
    #[error("UnknownEhr({patient}): the patient has no EHR yet; use create")]
    UnknownEhr {
        /// The patient.
        patient: Address,
    },
    /// An EHR batch must hold at least one EHR.
    #[error("EmptyBatch: an anchored EHR batch must hold at least one EHR")]
    EmptyBatch,
    /// The batch root was anchored before.
    #[error("BatchAlreadyAnchored({root}): this batch root is already anchored; a root is anchored once")]
    BatchAlreadyAnchored {
        /// The root.
        root: B256,
    },
    // ---- built-ins
    /// `Error(string)` (`require` with a message).
    #[error("reverted: {0}")]
    Message(String),
    /// `Panic(uint256)`: an assertion, arithmetic or array-bounds failure (a contract bug).
    #[error("panic 0x{code:x}: {}", panic_reason(.code))]
    Panic {
        /// Solidity panic code.
        code: U256,
    },
    /// The contract reverted without data.
    #[error("reverted without a reason")]
    Empty,
    /// Revert data of no known error.
    #[error("reverted with unknown data {0}")]
    Unknown(Bytes),
}

fn panic_reason(code: &U256) -> &'static str {
    match code.to::<u64>() {
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow or underflow",
        0x12 => "division by zero",
        0x21 => "invalid enum value",
        0x22 => "invalid storage byte array",
        0x31 => "pop on an empty array",
        0x32 => "array index out of bounds",
        0x41 => "out of memory",
        0x51 => "call to an uninitialized function",
        _ => "unknown panic",
    }
}

impl ContractError {
    /// Decodes revert data returned by any healthchain contract.
    pub fn decode(data: &[u8]) -> Self {
        if data.is_empty() {
            return ContractError::Empty;
        }
        if let Ok(e) = Union::abi_decode(data) {
            return e.into();
        }
        if data.len() >= 4 {
            if data[..4] == Revert::SELECTOR
                && let Ok(r) = Revert::abi_decode(data)
            {
                return ContractError::Message(r.reason);
            }
            if data[..4] == Panic::SELECTOR
                && let Ok(p) = Panic::abi_decode(data)
            {
                return ContractError::Panic { code: p.code };
            }
        }
        ContractError::Unknown(Bytes::copy_from_slice(data))
    }

    /// The Solidity name of the error (`"WrongDeposit"`, ..., `"Error"`, `"Panic"`; empty for
    /// no data, `"?"` for unknown data).
    pub fn name(&self) -> &'static str {
        self.variant_name()
    }

    fn variant_name(&self) -> &'static str {
        match self {
            ContractError::NotAdmin => "NotAdmin",
            ContractError::MalformedSignature => "MalformedSignature",
            ContractError::UnapprovedEnclave { .. } => "UnapprovedEnclave",
            ContractError::WrongEnclave { .. } => "WrongEnclave",
            ContractError::TransferFailed { .. } => "TransferFailed",
            ContractError::VersionOutOfOrder { .. } => "VersionOutOfOrder",
            ContractError::LastAdmin => "LastAdmin",
            ContractError::HospitalAlreadyRegistered => "HospitalAlreadyRegistered",
            ContractError::UnknownHospital => "UnknownHospital",
            ContractError::HospitalNotApproved => "HospitalNotApproved",
            ContractError::DoctorOfAnotherHospital { .. } => "DoctorOfAnotherHospital",
            ContractError::UnknownDoctor => "UnknownDoctor",
            ContractError::InvalidCommittee => "InvalidCommittee",
            ContractError::NoCommittee => "NoCommittee",
            ContractError::ReplicaAlreadyRecorded { .. } => "ReplicaAlreadyRecorded",
            ContractError::WrongDeposit { .. } => "WrongDeposit",
            ContractError::RecordExists { .. } => "RecordExists",
            ContractError::NotRecordOwner => "NotRecordOwner",
            ContractError::EmptyPolicyWindow => "EmptyPolicyWindow",
            ContractError::NoOpenLicense => "NoOpenLicense",
            ContractError::LicenseExpired => "LicenseExpired",
            ContractError::LicenseConsumed => "LicenseConsumed",
            ContractError::KeyAuthorizationNotBound => "KeyAuthorizationNotBound",
            ContractError::BadRecordCount => "BadRecordCount",
            ContractError::UnknownRecord { .. } => "UnknownRecord",
            ContractError::PolicyRevoked { .. } => "PolicyRevoked",
            ContractError::OutsidePolicyWindow { .. } => "OutsidePolicyWindow",
            ContractError::Underpaid { .. } => "Underpaid",
            ContractError::Overpaid { .. } => "Overpaid",
            ContractError::UnknownRequest => "UnknownRequest",
            ContractError::AlreadyCompleted => "AlreadyCompleted",
            ContractError::AlreadyRefunded => "AlreadyRefunded",
            ContractError::TermsMismatch => "TermsMismatch",
            ContractError::NotRequester => "NotRequester",
            ContractError::RefundTooEarly { .. } => "RefundTooEarly",
            ContractError::NothingToWithdraw => "NothingToWithdraw",
            ContractError::NotAccessControl => "NotAccessControl",
            ContractError::NotGranted => "NotGranted",
            ContractError::RequestClosed => "RequestClosed",
            ContractError::ShareCountMismatch => "ShareCountMismatch",
            ContractError::NotCommitteeMember => "NotCommitteeMember",
            ContractError::ShareAlreadySubmitted => "ShareAlreadySubmitted",
            ContractError::UnregisteredDoctor => "UnregisteredDoctor",
            ContractError::DoctorNotInWarrant => "DoctorNotInWarrant",
            ContractError::WarrantNotYetValid { .. } => "WarrantNotYetValid",
            ContractError::WarrantExpired { .. } => "WarrantExpired",
            ContractError::BadWarrantSignature => "BadWarrantSignature",
            ContractError::WarrantRevoked { .. } => "WarrantRevoked",
            ContractError::PreviousDoctorHasNotWritten { .. } => "PreviousDoctorHasNotWritten",
            ContractError::NotWarrantPatient => "NotWarrantPatient",
            ContractError::UnknownWarrantIndex { .. } => "UnknownWarrantIndex",
            ContractError::EhrExists { .. } => "EhrExists",
            ContractError::UnknownEhr { .. } => "UnknownEhr",
            ContractError::EmptyBatch => "EmptyBatch",
            ContractError::BatchAlreadyAnchored { .. } => "BatchAlreadyAnchored",
            ContractError::Message(_) => "Error",
            ContractError::Panic { .. } => "Panic",
            ContractError::Empty => "",
            ContractError::Unknown(_) => "?",
        }
    }

    /// Selectors of every custom error this type decodes (the union over all six ABIs).
    pub fn known_selectors() -> &'static [[u8; 4]] {
        Union::SELECTORS
    }

    /// The Solidity signature of the custom error with `selector`, if known.
    pub fn signature_of(selector: [u8; 4]) -> Option<&'static str> {
        Union::signature_by_selector(selector)
    }
}

impl From<Union> for ContractError {
    fn from(e: Union) -> Self {
        use HealthchainErrors as E;
        match e {
            Union::NotAdmin(_) => ContractError::NotAdmin,
            Union::MalformedSignature(_) => ContractError::MalformedSignature,
            Union::UnapprovedEnclave(E::UnapprovedEnclave { enclave }) => ContractError::UnapprovedEnclave { enclave },
            Union::WrongEnclave(E::WrongEnclave { expected, actual }) => {
                ContractError::WrongEnclave { expected, actual }
            }
            Union::TransferFailed(E::TransferFailed { to, amount }) => ContractError::TransferFailed { to, amount },
            Union::VersionOutOfOrder(E::VersionOutOfOrder { expected, got }) => {
                ContractError::VersionOutOfOrder { expected, got }
            }
            Union::LastAdmin(_) => ContractError::LastAdmin,
            Union::HospitalAlreadyRegistered(_) => ContractError::HospitalAlreadyRegistered,
            Union::UnknownHospital(_) => ContractError::UnknownHospital,
            Union::HospitalNotApproved(_) => ContractError::HospitalNotApproved,
            Union::DoctorOfAnotherHospital(E::DoctorOfAnotherHospital { doctor, hospital }) => {
                ContractError::DoctorOfAnotherHospital { doctor, hospital }
            }
            Union::UnknownDoctor(_) => ContractError::UnknownDoctor,
            Union::InvalidCommittee(_) => ContractError::InvalidCommittee,
            Union::NoCommittee(_) => ContractError::NoCommittee,
            Union::ReplicaAlreadyRecorded(E::ReplicaAlreadyRecorded { instance }) => {
                ContractError::ReplicaAlreadyRecorded { instance }
            }
            Union::WrongDeposit(E::WrongDeposit { required, paid }) => ContractError::WrongDeposit { required, paid },
            Union::RecordExists(E::RecordExists { recordId }) => ContractError::RecordExists { record_id: recordId },
            Union::NotRecordOwner(_) => ContractError::NotRecordOwner,
            Union::EmptyPolicyWindow(_) => ContractError::EmptyPolicyWindow,
            Union::NoOpenLicense(_) => ContractError::NoOpenLicense,
            Union::LicenseExpired(_) => ContractError::LicenseExpired,
            Union::LicenseConsumed(_) => ContractError::LicenseConsumed,
            Union::KeyAuthorizationNotBound(_) => ContractError::KeyAuthorizationNotBound,
            Union::BadRecordCount(_) => ContractError::BadRecordCount,
            Union::UnknownRecord(E::UnknownRecord { recordId }) => ContractError::UnknownRecord { record_id: recordId },
            Union::PolicyRevoked(E::PolicyRevoked { recordId }) => ContractError::PolicyRevoked { record_id: recordId },
            Union::OutsidePolicyWindow(E::OutsidePolicyWindow { recordId }) => {
                ContractError::OutsidePolicyWindow { record_id: recordId }
            }
            Union::Underpaid(E::Underpaid { required, paid }) => ContractError::Underpaid { required, paid },
            Union::Overpaid(E::Overpaid { required, paid }) => ContractError::Overpaid { required, paid },
            Union::UnknownRequest(_) => ContractError::UnknownRequest,
            Union::AlreadyCompleted(_) => ContractError::AlreadyCompleted,
            Union::AlreadyRefunded(_) => ContractError::AlreadyRefunded,
            Union::TermsMismatch(_) => ContractError::TermsMismatch,
            Union::NotRequester(_) => ContractError::NotRequester,
            Union::RefundTooEarly(E::RefundTooEarly { deadline }) => ContractError::RefundTooEarly { deadline },
            Union::NothingToWithdraw(_) => ContractError::NothingToWithdraw,
            Union::NotAccessControl(_) => ContractError::NotAccessControl,
            Union::NotGranted(_) => ContractError::NotGranted,
            Union::RequestClosed(_) => ContractError::RequestClosed,
            Union::ShareCountMismatch(_) => ContractError::ShareCountMismatch,
            Union::NotCommitteeMember(_) => ContractError::NotCommitteeMember,
            Union::ShareAlreadySubmitted(_) => ContractError::ShareAlreadySubmitted,
            Union::UnregisteredDoctor(_) => ContractError::UnregisteredDoctor,
            Union::DoctorNotInWarrant(_) => ContractError::DoctorNotInWarrant,
            Union::WarrantNotYetValid(E::WarrantNotYetValid { notBefore }) => {
                ContractError::WarrantNotYetValid { not_before: notBefore }
            }
            Union::WarrantExpired(E::WarrantExpired { notAfter }) => {
                ContractError::WarrantExpired { not_after: notAfter }
            }
            Union::BadWarrantSignature(_) => ContractError::BadWarrantSignature,
            Union::WarrantRevoked(E::WarrantRevoked { warrantId }) => {
                ContractError::WarrantRevoked { warrant_id: warrantId }
            }
            Union::PreviousDoctorHasNotWritten(E::PreviousDoctorHasNotWritten { doctorIndex }) => {
                ContractError::PreviousDoctorHasNotWritten { doctor_index: doctorIndex }
            }
            Union::NotWarrantPatient(_) => ContractError::NotWarrantPatient,
            Union::UnknownWarrantIndex(E::UnknownWarrantIndex { index }) => {
                ContractError::UnknownWarrantIndex { index }
            }
            Union::EhrExists(E::EhrExists { patient }) => ContractError::EhrExists { patient },
            Union::UnknownEhr(E::UnknownEhr { patient }) => ContractError::UnknownEhr { patient },
            Union::EmptyBatch(_) => ContractError::EmptyBatch,
            Union::BatchAlreadyAnchored(E::BatchAlreadyAnchored { root }) => {
                ContractError::BatchAlreadyAnchored { root }
            }
        }
    }
}

/// A JSON-RPC transport error (alloy's).
pub type TransportError = RpcError<TransportErrorKind>;

/// Everything a ledger operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A contract refused the call. Raised before sending when the dry run (`eth_estimateGas` or
    /// `eth_call`) reverts, so nothing was sent and no nonce was used; or after a mined
    /// transaction failed (`tx_hash` is then set).
    #[error("{contract}.{function} reverted: {error}")]
    Reverted {
        /// Contract name (`"RecordRegistry"`, ...).
        contract: &'static str,
        /// Function name (`"register"`, ...).
        function: &'static str,
        /// The decoded refusal.
        error: ContractError,
        /// The failed transaction, when one was mined.
        tx_hash: Option<B256>,
    },
    /// The node refused the transaction without executing it (insufficient funds, fee too
    /// low, nonce, size...). Nothing changed on chain.
    #[error("the node refused the transaction for {contract}.{function}: {message}")]
    Rejected {
        /// Contract name.
        contract: &'static str,
        /// Function name.
        function: &'static str,
        /// The node's message.
        message: String,
    },
    /// No receipt appeared in time.
    #[error("no receipt for transaction {tx_hash} after {waited:?}; it may still be mined")]
    ReceiptTimeout {
        /// The transaction.
        tx_hash: B256,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The JSON-RPC transport failed (connection, HTTP, malformed response).
    #[error("JSON-RPC error: {0}")]
    Rpc(#[from] TransportError),
    /// A return value or event could not be decoded (the contract is not the expected one?).
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Decoder message.
        message: String,
    },
    /// A contract expected by the deployment has no code on this chain.
    #[error("no contract code at {address} for {contract} on chain {chain_id}: wrong deployment file or endpoint?")]
    NoCode {
        /// Contract name.
        contract: &'static str,
        /// Its expected address.
        address: Address,
        /// The chain asked.
        chain_id: u64,
    },
    /// The endpoint serves another chain than the deployment names.
    #[error("endpoint serves chain {actual}, the deployment is for chain {expected}")]
    WrongChain {
        /// Chain id in the deployment.
        expected: u64,
        /// Chain id the endpoint reports.
        actual: u64,
    },
    /// A deployment step failed.
    #[error("deployment failed: {0}")]
    Deployment(String),
    /// Invalid arguments given to the client.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl LedgerError {
    /// Whether the chain could not be reached or answered out of protocol (a failure of the
    /// infrastructure), as opposed to a refusal of what was asked (a revert, a rejected
    /// transaction, a deployment that does not match the endpoint).
    pub fn is_failure(&self) -> bool {
        matches!(self, LedgerError::Rpc(_) | LedgerError::ReceiptTimeout { .. } | LedgerError::Decode { .. })
    }
}

impl LedgerError {
    /// The contract's refusal, if this is a revert.
    pub fn contract_error(&self) -> Option<&ContractError> {
        match self {
            LedgerError::Reverted { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Revert data carried by a JSON-RPC error response, if it is a revert.
pub(crate) fn revert_data(err: &TransportError) -> Option<Bytes> {
    let payload = err.as_error_resp()?;
    // hardhat answers a transaction that was mined and reverted with
    // `data: {"txHash": ..., "data": <revert data>}`; take the revert data, not the hash
    if let Some(Ok(serde_json::Value::Object(fields))) = payload.try_data_as::<serde_json::Value>()
        && let Some(data) = fields.get("data").and_then(serde_json::Value::as_str)
        && let Ok(bytes) = alloy_primitives::hex::decode(data)
    {
        return Some(bytes.into());
    }
    if let Some(data) = payload.as_revert_data() {
        return Some(data);
    }
    // A revert without data: geth/revm say "execution reverted", hardhat "reverted without a reason".
    let m = payload.message.to_ascii_lowercase();
    (payload.code == 3 || m.contains("revert")).then(Bytes::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{AccessControl, Directory, EhrRegistry, KeyAuthorization, RecordRegistry, UpdateLog};

    fn abi_errors() -> Vec<(&'static str, [u8; 4], &'static str)> {
        let mut out = Vec::new();
        macro_rules! collect {
            ($c:literal, $t:ty) => {
                for (sel, sig) in <$t>::SELECTORS.iter().zip(<$t>::SIGNATURES) {
                    out.push(($c, *sel, *sig));
                }
            };
        }
        collect!("Directory", Directory::DirectoryErrors);
        collect!("RecordRegistry", RecordRegistry::RecordRegistryErrors);
        collect!("AccessControl", AccessControl::AccessControlErrors);
        collect!("KeyAuthorization", KeyAuthorization::KeyAuthorizationErrors);
        collect!("UpdateLog", UpdateLog::UpdateLogErrors);
        collect!("EhrRegistry", EhrRegistry::EhrRegistryErrors);
        out
    }

    #[test]
    fn union_covers_every_artifact_error() {
        let errors = abi_errors();
        assert!(errors.len() >= 54, "{} errors in the ABIs", errors.len());
        for (contract, selector, signature) in &errors {
            assert_eq!(
                ContractError::signature_of(*selector),
                Some(*signature),
                "{contract}'s {signature} is missing from the union (or differs)"
            );
        }
        // and nothing in the union is unknown to every ABI
        for selector in ContractError::known_selectors() {
            assert!(
                errors.iter().any(|(_, s, _)| s == selector),
                "{:?} in no ABI",
                ContractError::signature_of(*selector)
            );
        }
    }

    #[test]
    fn decodes_every_variant_with_its_name() {
        for (_, selector, signature) in abi_errors() {
            // zero arguments decode for every error shape (addresses, words, integers)
            let args = signature.matches(',').count() + usize::from(!signature.ends_with("()"));
            let mut data = selector.to_vec();
            data.resize(4 + 32 * args, 0);
            let decoded = ContractError::decode(&data);
            let name = &signature[..signature.find('(').unwrap()];
            assert_eq!(decoded.name(), name, "{signature}");
            assert!(decoded.to_string().starts_with(name), "{decoded}");
        }
    }

    #[test]
    fn decodes_arguments_and_builtins() {
        let data = HealthchainErrors::WrongDeposit { required: U256::from(5), paid: U256::from(3) }.abi_encode();
        assert_eq!(
            ContractError::decode(&data),
            ContractError::WrongDeposit { required: U256::from(5), paid: U256::from(3) }
        );
        let revert = Revert::from("nope").abi_encode();
        assert_eq!(ContractError::decode(&revert), ContractError::Message("nope".into()));
        let panic = Panic { code: U256::from(0x11) }.abi_encode();
        assert_eq!(ContractError::decode(&panic), ContractError::Panic { code: U256::from(0x11) });
        assert!(ContractError::decode(&panic).to_string().contains("overflow"));
        assert_eq!(ContractError::decode(&[]), ContractError::Empty);
        assert!(matches!(ContractError::decode(&[1, 2, 3, 4, 5]), ContractError::Unknown(_)));
    }
}
