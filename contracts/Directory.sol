// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import {IDirectory} from "./Interfaces.sol";
import {Signatures} from "./Signatures.sol";
import {hashTypedData} from "./Eip712.sol";

/// @title Directory
/// @notice Who is who, and their public keys (seed 001: "identity certificates and public keys
/// on the chain"): consortium admins, hospitals, their doctors, approved enclaves and the
/// key-authorization committee. Every other contract and every client takes keys from here.
/// @dev Hospitals register themselves and stay Pending until an admin approves them, so a
/// hospital's identity is vouched for by the consortium before it can enrol doctors.
contract Directory is IDirectory {
    /// @notice Doctor privilege bit EhrRegistry requires for create/update; other bits are free
    /// for hospitals' own policies.
    uint64 public constant PRIVILEGE_WRITE_EHR = 1;
    /// @notice Largest committee: KeyAuthorization tracks submitted shares in a 64-bit bitmap.
    uint256 public constant MAX_COMMITTEE = 64;

    enum HospitalStatus {
        None,
        Pending,
        Approved,
        Revoked
    }

    struct Hospital {
        HospitalStatus status;
        bytes32 identityHash;
    }

    struct Doctor {
        address hospital;
        uint64 privileges;
        bool active;
        bytes32 identityHash;
        bytes32 specialty;
    }

    struct Enclave {
        bool approved;
        bytes32 measurement;
        bytes32 encryptionKey; // Ristretto255 point: inner key-wrapping layer T is sealed to it
        bytes32 sessionKey; // X25519 public key
    }

    struct Committee {
        bytes32 key; // PK_KA, Ristretto255 point: outer key-wrapping layer EK is sealed to it
        uint8 threshold;
        uint8 size;
    }

    struct CommitteeMember {
        address member;
        bytes32 shareKey; // PK_i, Ristretto255 point: the member's Shamir share public key
    }

    mapping(address => bool) public isAdmin;
    uint256 public adminCount;
    mapping(address => Hospital) private hospitals;
    mapping(address => Doctor) private doctors;
    mapping(address => Enclave) private enclaves;
    /// @notice X25519 session public key of any participant (patients, doctors, hospitals, researchers).
    mapping(address => bytes32) public sessionKeyOf;
    /// @notice Epoch of the current committee; 0 until the first setCommittee.
    uint32 public committeeEpoch;
    mapping(uint32 => Committee) private committees;
    mapping(uint32 => mapping(uint256 => CommitteeMember)) private committeeMembers;
    mapping(uint32 => mapping(address => uint256)) private seats; // member index + 1
    /// @notice The approved enclave whose keys an instance received by attested key
    /// provisioning (zero if none was recorded). `instance` is the report-signer address the
    /// instance attested to before it joined (its evidence's own key).
    mapping(address => address) public replicaOf;

    /// @dev EIP-712 `ReplicaJoin`: an approved enclave's statement that it handed its keys to
    /// the instance whose attestation evidence hashes to `evidenceHash`.
    bytes32 private constant REPLICA_JOIN_TYPEHASH = keccak256("ReplicaJoin(address instance,bytes32 evidenceHash)");

    event AdminAdded(address indexed admin);
    event AdminRemoved(address indexed admin);
    event HospitalRegistered(address indexed hospital, bytes32 identityHash);
    event HospitalApproved(address indexed hospital);
    event HospitalRevoked(address indexed hospital);
    event DoctorRegistered(
        address indexed doctor, address indexed hospital, bytes32 identityHash, bytes32 specialty, uint64 privileges
    );
    event DoctorRevoked(address indexed doctor, address indexed hospital);
    event EnclaveApproved(
        address indexed reportSigner, bytes32 measurement, bytes32 encryptionKey, bytes32 sessionKey
    );
    event EnclaveRevoked(address indexed reportSigner);
    event EnclaveReplicated(
        address indexed reportSigner, address indexed instance, bytes32 measurement, bytes32 evidenceHash
    );
    event CommitteeSet(
        uint32 indexed epoch, bytes32 committeeKey, uint8 threshold, address[] members, bytes32[] shareKeys
    );
    event SessionKeySet(address indexed account, bytes32 sessionKey);

    modifier onlyAdmin() {
        if (!isAdmin[msg.sender]) revert NotAdmin();
        _;
    }

    constructor(address[] memory admins) {
        for (uint256 i; i < admins.length; ++i) {
            _addAdmin(admins[i]);
        }
        if (adminCount == 0) revert LastAdmin();
    }

    // ---------------------------------------------------------------- admins

    function addAdmin(address admin) external onlyAdmin {
        _addAdmin(admin);
    }

    /// @notice Removes an admin; the last one cannot leave, so the consortium never locks itself out.
    function removeAdmin(address admin) external onlyAdmin {
        if (!isAdmin[admin]) return;
        if (adminCount == 1) revert LastAdmin();
        isAdmin[admin] = false;
        --adminCount;
        emit AdminRemoved(admin);
    }

    function _addAdmin(address admin) private {
        if (isAdmin[admin]) return;
        isAdmin[admin] = true;
        ++adminCount;
        emit AdminAdded(admin);
    }

    // ---------------------------------------------------------------- hospitals

    /// @notice A hospital applies with the hash of its identity certificate; it stays Pending
    /// until an admin approves it.
    function registerHospital(bytes32 identityHash) external {
        Hospital storage hospital = hospitals[msg.sender];
        if (hospital.status != HospitalStatus.None) revert HospitalAlreadyRegistered();
        hospital.status = HospitalStatus.Pending;
        hospital.identityHash = identityHash;
        emit HospitalRegistered(msg.sender, identityHash);
    }

    function approveHospital(address hospital) external onlyAdmin {
        Hospital storage entry = hospitals[hospital];
        if (entry.status == HospitalStatus.None) revert UnknownHospital();
        entry.status = HospitalStatus.Approved;
        emit HospitalApproved(hospital);
    }

    /// @notice Revoking a hospital also silences its doctors (see doctorPrivileges).
    function revokeHospital(address hospital) external onlyAdmin {
        Hospital storage entry = hospitals[hospital];
        if (entry.status == HospitalStatus.None) revert UnknownHospital();
        entry.status = HospitalStatus.Revoked;
        emit HospitalRevoked(hospital);
    }

    function hospitalOf(address hospital) external view returns (Hospital memory) {
        return hospitals[hospital];
    }

    // ---------------------------------------------------------------- doctors

    /// @notice An approved hospital enrols (or re-enrols, changing fields) one of its doctors.
    /// A doctor active at another hospital must be revoked there first.
    function registerDoctor(address doctor, bytes32 identityHash, bytes32 specialty, uint64 privileges) external {
        if (hospitals[msg.sender].status != HospitalStatus.Approved) revert HospitalNotApproved();
        Doctor storage entry = doctors[doctor];
        if (entry.active && entry.hospital != msg.sender) revert DoctorOfAnotherHospital(doctor, entry.hospital);
        doctors[doctor] = Doctor(msg.sender, privileges, true, identityHash, specialty);
        emit DoctorRegistered(doctor, msg.sender, identityHash, specialty, privileges);
    }

    function revokeDoctor(address doctor) external {
        Doctor storage entry = doctors[doctor];
        if (!entry.active || entry.hospital != msg.sender) revert UnknownDoctor();
        entry.active = false;
        emit DoctorRevoked(doctor, msg.sender);
    }

    function doctorOf(address doctor) external view returns (Doctor memory) {
        return doctors[doctor];
    }

    /// @notice The privileges a doctor holds now: 0 unless enrolled, active and at an approved hospital.
    function doctorPrivileges(address doctor) external view returns (uint64) {
        Doctor storage entry = doctors[doctor];
        if (!entry.active || hospitals[entry.hospital].status != HospitalStatus.Approved) return 0;
        return entry.privileges;
    }

    // ---------------------------------------------------------------- enclaves

    /// @notice Approves an enclave instance after the admin checked its attestation evidence off-chain.
    /// `reportSigner` is the address of the enclave's secp256k1 report key and names the enclave everywhere.
    function approveEnclave(address reportSigner, bytes32 measurement, bytes32 encryptionKey, bytes32 sessionKey)
        external
        onlyAdmin
    {
        enclaves[reportSigner] = Enclave(true, measurement, encryptionKey, sessionKey);
        emit EnclaveApproved(reportSigner, measurement, encryptionKey, sessionKey);
    }

    function revokeEnclave(address reportSigner) external onlyAdmin {
        Enclave storage enclave = enclaves[reportSigner];
        if (!enclave.approved) revert UnapprovedEnclave(reportSigner);
        enclave.approved = false;
        emit EnclaveRevoked(reportSigner);
    }

    function enclaveOf(address reportSigner) external view returns (Enclave memory) {
        return enclaves[reportSigner];
    }

    function isApprovedEnclave(address enclave) public view returns (bool) {
        return enclaves[enclave].approved;
    }

    /// @notice The approved enclave that signed `structHash` under the calling contract's
    /// EIP-712 domain (verifyingContract = msg.sender). One audited place checks enclave
    /// reports for every contract; reverts MalformedSignature or UnapprovedEnclave(signer).
    function enclaveSigner(bytes32 structHash, bytes calldata signature) external view returns (address signer) {
        signer = Signatures.recover(hashTypedData(msg.sender, structHash), signature);
        if (!enclaves[signer].approved) revert UnapprovedEnclave(signer);
    }

    /// @notice Records that the approved enclave which signed `signature` (EIP-712
    /// `ReplicaJoin(instance, evidenceHash)` under this contract's domain) provisioned its keys
    /// to another instance after checking that instance's evidence. Anyone may submit it: the
    /// signature is the authorization. An instance is recorded once (ReplicaAlreadyRecorded);
    /// reverts MalformedSignature or UnapprovedEnclave(signer).
    function recordReplica(address instance, bytes32 evidenceHash, bytes calldata signature)
        external
        returns (address reportSigner)
    {
        bytes32 structHash = keccak256(abi.encode(REPLICA_JOIN_TYPEHASH, instance, evidenceHash));
        reportSigner = Signatures.recover(hashTypedData(address(this), structHash), signature);
        Enclave storage enclave = enclaves[reportSigner];
        if (!enclave.approved) revert UnapprovedEnclave(reportSigner);
        if (replicaOf[instance] != address(0)) revert ReplicaAlreadyRecorded(instance);
        replicaOf[instance] = reportSigner;
        emit EnclaveReplicated(reportSigner, instance, enclave.measurement, evidenceHash);
    }

    // ---------------------------------------------------------------- committee

    /// @notice Installs a new key-authorization committee as the next epoch: member i holds the
    /// Shamir share whose public key is shareKeys[i]; any `threshold` of them open keys sealed
    /// to `committeeKey`. Earlier epochs stay readable for requests granted under them.
    function setCommittee(address[] calldata members, bytes32[] calldata shareKeys, bytes32 committeeKey, uint8 threshold)
        external
        onlyAdmin
    {
        uint256 size = members.length;
        if (size != shareKeys.length || size > MAX_COMMITTEE || threshold == 0 || threshold > size) {
            revert InvalidCommittee();
        }
        uint32 epoch = ++committeeEpoch;
        committees[epoch] = Committee(committeeKey, threshold, uint8(size));
        mapping(address => uint256) storage epochSeats = seats[epoch];
        for (uint256 i; i < size; ++i) {
            address member = members[i];
            if (member == address(0) || epochSeats[member] != 0) revert InvalidCommittee();
            epochSeats[member] = i + 1;
            committeeMembers[epoch][i] = CommitteeMember(member, shareKeys[i]);
        }
        emit CommitteeSet(epoch, committeeKey, threshold, members, shareKeys);
    }

    /// @notice The committee that releases keys now to `enclave`: reverts UnapprovedEnclave if
    /// the enclave is not approved (a revoked enclave gets no key) and NoCommittee before the first one.
    function keyReleaseCommittee(address enclave) external view returns (uint32 epoch, uint8 threshold) {
        if (!enclaves[enclave].approved) revert UnapprovedEnclave(enclave);
        epoch = committeeEpoch;
        if (epoch == 0) revert NoCommittee();
        threshold = committees[epoch].threshold;
    }

    function committeeOf(uint32 epoch) external view returns (Committee memory) {
        return committees[epoch];
    }

    function committeeMember(uint32 epoch, uint256 index) external view returns (CommitteeMember memory) {
        return committeeMembers[epoch][index];
    }

    /// @notice 1 + the member's index in the committee of `epoch`, or 0 if not a member.
    function committeeSeat(uint32 epoch, address member) external view returns (uint256 seat) {
        return seats[epoch][member];
    }

    // ---------------------------------------------------------------- session keys

    /// @notice Publishes the caller's X25519 session public key (seed 001's signed DH session).
    function setSessionKey(bytes32 sessionKey) external {
        sessionKeyOf[msg.sender] = sessionKey;
        emit SessionKeySet(msg.sender, sessionKey);
    }
}
