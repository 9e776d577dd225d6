// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// Every refusal of every healthchain contract, declared once so a selector means the same
// thing everywhere. Arguments are given where they tell the caller something it did not send
// itself or which item of a list was refused.
// Errors raised inside Directory during another contract's call (UnapprovedEnclave,
// MalformedSignature, NoCommittee) bubble up unchanged: decode reverts against the union of
// all contract ABIs.

// --- shared ---
error NotAdmin();
error MalformedSignature();
error UnapprovedEnclave(address enclave);
error WrongEnclave(address expected, address actual);
error TransferFailed(address to, uint256 amount);
error VersionOutOfOrder(uint64 expected, uint64 got);

// --- Directory ---
error LastAdmin();
error HospitalAlreadyRegistered();
error UnknownHospital();
error HospitalNotApproved();
error DoctorOfAnotherHospital(address doctor, address hospital);
error UnknownDoctor();
error InvalidCommittee();
error NoCommittee();
error ReplicaAlreadyRecorded(address instance);

// --- RecordRegistry ---
error WrongDeposit(uint256 required, uint256 paid);
error RecordExists(bytes32 recordId);
error NotRecordOwner();
error EmptyPolicyWindow();
error NoOpenLicense();

// --- UpdateLog ---
error LicenseExpired();
error LicenseConsumed();

// --- AccessControl ---
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

// --- KeyAuthorization ---
error NotAccessControl();
error NotGranted();
error RequestClosed();
error ShareCountMismatch();
error NotCommitteeMember();
error ShareAlreadySubmitted();

// --- EhrRegistry ---
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
