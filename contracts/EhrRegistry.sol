// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import {hashTypedData} from "./Eip712.sol";
import {IDirectory} from "./Interfaces.sol";
import {Signatures} from "./Signatures.sol";

/// @title EhrRegistry
/// @notice Seed 001's chaincode (create / query / update, HashUpdated) on the consortium
/// ledger: one EHR head per patient, keyed by the patient's ledger address (the seed's
/// patientID), holding the hash of the latest EHR, its times, status, type and a commitment to
/// the hospitals involved. Only a doctor enrolled in Directory with the write privilege, acting
/// under a warrant the patient signed (EIP-712), may write, within that doctor's period, and in
/// an ordered group only once every doctor before them in the warrant has written.
/// @dev A warrant is identified by its EIP-712 digest (what the patient signed). Its signature
/// is checked on first use and remembered with the group's progress, so later writes under the
/// same warrant (and every write after the first in a batch) cost no ecrecover; the patient can
/// revoke it.
contract EhrRegistry {
    bytes32 private constant DOCTOR_TERM_TYPEHASH =
        keccak256("DoctorTerm(address doctor,uint64 notBefore,uint64 notAfter)");
    bytes32 private constant WARRANT_TYPEHASH = keccak256(
        "Warrant(address patient,DoctorTerm[] doctors,bytes32 aux)DoctorTerm(address doctor,uint64 notBefore,uint64 notAfter)"
    );
    bytes32 private constant EHR_BATCH_TYPEHASH = keccak256("EhrBatch(address doctor,bytes32 root,uint32 count)");
    /// @dev Directory.PRIVILEGE_WRITE_EHR.
    uint64 private constant PRIVILEGE_WRITE_EHR = 1;
    /// @dev warrantState value of a revoked warrant; otherwise 0 = never seen, n ≥ 1 = signature
    /// checked and the first n − 1 doctors of the order have written.
    uint256 private constant REVOKED = type(uint256).max;

    struct DoctorTerm {
        address doctor;
        uint64 notBefore;
        uint64 notAfter;
    }

    struct Warrant {
        address patient;
        DoctorTerm[] doctors;
        bytes32 aux;
    }

    struct SignedWarrant {
        Warrant warrant;
        bytes signature;
    }

    /// @notice One write of a batch: under warrants[warrantIndex], as its doctor number
    /// `doctorIndex`; creates the patient's EHR head or updates it.
    struct BatchWrite {
        uint256 warrantIndex;
        uint256 doctorIndex;
        uint16 status;
        uint16 ehrType;
        bytes32 ehrHash;
        address[] hospitals;
    }

    /// @dev hospitalsHash = keccak256(abi.encodePacked(hospitals)) (each address as a 32-byte word).
    struct Ehr {
        bytes32 ehrHash;
        bytes32 hospitalsHash;
        uint64 createdAt;
        uint64 updatedAt;
        uint16 status;
        uint16 ehrType;
    }

    /// @notice An anchored batch: who anchored it, how many EHRs its tree has, when.
    struct Batch {
        address doctor;
        uint32 count;
        uint64 anchoredAt;
    }

    IDirectory private immutable directory;
    mapping(address patient => Ehr) private ehrs;
    mapping(bytes32 warrantId => uint256) public warrantState;
    mapping(bytes32 root => Batch) private batches;

    /// @notice Seed 001's HashUpdated, for create (`created`) and update alike.
    event HashUpdated(
        address indexed patient,
        address indexed doctor,
        bytes32 indexed warrantId,
        bytes32 ehrHash,
        uint16 status,
        uint16 ehrType,
        address[] hospitals,
        bool created
    );
    event WarrantRevokedByPatient(bytes32 indexed warrantId, address indexed patient);
    /// @notice A batch of `count` EHRs the enclave `enclave` stored for `doctor`, committed by
    /// the root of a Merkle tree over them (leaves and layout: crates/crypto/src/merkle.rs).
    event BatchAnchored(address indexed doctor, bytes32 indexed root, uint32 count, address enclave);

    constructor(IDirectory directory_) {
        directory = directory_;
    }

    /// @notice Seed 001 create: the first EHR head of `warrant.patient`, written by the caller
    /// as doctor number `doctorIndex` of the warrant.
    function create(
        Warrant calldata warrant,
        bytes calldata patientSignature,
        uint256 doctorIndex,
        uint16 status,
        uint16 ehrType,
        bytes32 ehrHash,
        address[] calldata hospitals
    ) external {
        _requireDoctor();
        bytes32 warrantId = _admit(warrant, patientSignature, doctorIndex);
        if (ehrs[warrant.patient].createdAt != 0) revert EhrExists(warrant.patient);
        _write(warrant.patient, warrantId, status, ehrType, ehrHash, hospitals);
    }

    /// @notice Seed 001 update: replaces the patient's EHR hash, status, type and hospitals.
    function update(
        Warrant calldata warrant,
        bytes calldata patientSignature,
        uint256 doctorIndex,
        uint16 status,
        uint16 ehrType,
        bytes32 ehrHash,
        address[] calldata hospitals
    ) external {
        _requireDoctor();
        bytes32 warrantId = _admit(warrant, patientSignature, doctorIndex);
        if (ehrs[warrant.patient].createdAt == 0) revert UnknownEhr(warrant.patient);
        _write(warrant.patient, warrantId, status, ehrType, ehrHash, hospitals);
    }

    /// @notice Many writes in one transaction (creates or updates), each checked exactly as
    /// create/update would; each warrant is hashed and its signature checked once per batch.
    function writeBatch(SignedWarrant[] calldata warrants, BatchWrite[] calldata writes) external {
        _requireDoctor();
        bytes32[] memory warrantIds = new bytes32[](warrants.length);
        for (uint256 i; i < warrants.length; ++i) {
            warrantIds[i] = _verify(warrants[i].warrant, warrants[i].signature);
        }
        for (uint256 i; i < writes.length; ++i) {
            BatchWrite calldata entry = writes[i];
            if (entry.warrantIndex >= warrants.length) revert UnknownWarrantIndex(entry.warrantIndex);
            Warrant calldata warrant = warrants[entry.warrantIndex].warrant;
            bytes32 warrantId = warrantIds[entry.warrantIndex];
            _checkTermAndOrder(warrant, warrantId, entry.doctorIndex);
            _write(warrant.patient, warrantId, entry.status, entry.ehrType, entry.ehrHash, entry.hospitals);
        }
    }

    /// @notice Anchors a batch of EHRs by the root of a Merkle tree over them, with one storage
    /// slot however large the batch: the caller must be a doctor with the write privilege and
    /// `enclaveSignature` an approved enclave's EIP-712 EhrBatch(doctor = caller, root, count)
    /// report (the enclave checked every warrant and stored every EHR before signing). Each
    /// EHR is then verified off-chain with its Merkle proof against `root`. A root is anchored
    /// once.
    function anchorBatch(bytes32 root, uint32 count, bytes calldata enclaveSignature) external {
        _requireDoctor();
        if (count == 0) revert EmptyBatch();
        if (batches[root].anchoredAt != 0) revert BatchAlreadyAnchored(root);
        address enclave = directory.enclaveSigner(
            keccak256(abi.encode(EHR_BATCH_TYPEHASH, msg.sender, root, count)), enclaveSignature
        );
        batches[root] = Batch(msg.sender, count, uint64(block.timestamp));
        emit BatchAnchored(msg.sender, root, count, enclave);
    }

    /// @notice The anchored batch with `root` (anchoredAt = 0: none).
    function batchOf(bytes32 root) external view returns (Batch memory) {
        return batches[root];
    }

    /// @notice Seed 001 query.
    function query(address patient) external view returns (Ehr memory) {
        return ehrs[patient];
    }

    /// @notice The patient withdraws a warrant; no doctor can write under it afterwards.
    function revokeWarrant(Warrant calldata warrant) external {
        if (msg.sender != warrant.patient) revert NotWarrantPatient();
        bytes32 warrantId = warrantIdOf(warrant);
        warrantState[warrantId] = REVOKED;
        emit WarrantRevokedByPatient(warrantId, msg.sender);
    }

    /// @notice The EIP-712 digest the patient signs; also the warrant's id here.
    function warrantIdOf(Warrant calldata warrant) public view returns (bytes32) {
        uint256 count = warrant.doctors.length;
        bytes32[] memory termHashes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            DoctorTerm calldata term = warrant.doctors[i];
            termHashes[i] = keccak256(abi.encode(DOCTOR_TERM_TYPEHASH, term.doctor, term.notBefore, term.notAfter));
        }
        return hashTypedData(
            address(this),
            keccak256(
                abi.encode(
                    WARRANT_TYPEHASH, warrant.patient, keccak256(abi.encodePacked(termHashes)), warrant.aux
                )
            )
        );
    }

    function _requireDoctor() private view {
        if (directory.doctorPrivileges(msg.sender) & PRIVILEGE_WRITE_EHR == 0) revert UnregisteredDoctor();
    }

    function _admit(Warrant calldata warrant, bytes calldata signature, uint256 doctorIndex)
        private
        returns (bytes32 warrantId)
    {
        warrantId = _verify(warrant, signature);
        _checkTermAndOrder(warrant, warrantId, doctorIndex);
    }

    /// @dev The warrant's id, after checking the patient's signature unless a previous write did.
    function _verify(Warrant calldata warrant, bytes calldata signature) private returns (bytes32 warrantId) {
        warrantId = warrantIdOf(warrant);
        uint256 state = warrantState[warrantId];
        if (state == REVOKED) revert WarrantRevoked(warrantId);
        if (state == 0) {
            if (Signatures.recover(warrantId, signature) != warrant.patient) revert BadWarrantSignature();
            warrantState[warrantId] = 1;
        }
    }

    /// @dev The caller is doctor number `doctorIndex`, inside its period, and every doctor
    /// before it in the order has written; records the caller's turn.
    function _checkTermAndOrder(Warrant calldata warrant, bytes32 warrantId, uint256 doctorIndex) private {
        if (doctorIndex >= warrant.doctors.length || warrant.doctors[doctorIndex].doctor != msg.sender) {
            revert DoctorNotInWarrant();
        }
        DoctorTerm calldata term = warrant.doctors[doctorIndex];
        if (block.timestamp < term.notBefore) revert WarrantNotYetValid(term.notBefore);
        if (block.timestamp > term.notAfter) revert WarrantExpired(term.notAfter);
        uint256 written = warrantState[warrantId] - 1;
        if (doctorIndex > written) revert PreviousDoctorHasNotWritten(doctorIndex);
        if (doctorIndex == written) warrantState[warrantId] = written + 2;
    }

    function _write(
        address patient,
        bytes32 warrantId,
        uint16 status,
        uint16 ehrType,
        bytes32 ehrHash,
        address[] calldata hospitals
    ) private {
        Ehr storage ehr = ehrs[patient];
        bool created = ehr.createdAt == 0;
        if (created) ehr.createdAt = uint64(block.timestamp);
        ehr.updatedAt = uint64(block.timestamp);
        ehr.status = status;
        ehr.ehrType = ehrType;
        ehr.ehrHash = ehrHash;
        ehr.hospitalsHash = keccak256(abi.encodePacked(hospitals));
        emit HashUpdated(patient, msg.sender, warrantId, ehrHash, status, ehrType, hospitals, created);
    }
}
