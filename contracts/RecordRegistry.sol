// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import "./Records.sol";
import {IDirectory, IRecordRegistry} from "./Interfaces.sol";
import {licenseIdOf} from "./Licenses.sol";

/// @title RecordRegistry
/// @notice Seed 000 `dataUpload` on the shared ledger, plus each record's access policy: a data
/// owner anchors a record (its chameleon hash h) once, sets and revokes the record's policy,
/// asks for update licenses bound to an approved enclave, and earns reputation as enclaves
/// confirm qualified updates.
/// @dev One slot per record (the record word of Records.sol) holds the owner and the policy, so
/// registering writes one new slot and a policy change rewrites it. The anchor and the upload
/// manifest (wrapped key EK, chameleon public key, storage address, data type; kept in the
/// object store under its content address `manifestHash`) are committed by the record id,
/// recordId = keccak256(abi.encode(keccak256("healthchain/record-id/v1"), owner, anchor, manifestHash)),
/// so neither can change after registration and neither costs a storage slot.
contract RecordRegistry is IRecordRegistry {
    bytes32 private constant RECORD_ID_TAG = keccak256("healthchain/record-id/v1");
    bytes32 private constant UPDATE_REPORT_TYPEHASH = keccak256(
        "UpdateReport(bytes32 recordId,uint64 version,bytes32 digest,bytes32 checkStringHash,bytes32 licenseId)"
    );

    IDirectory private immutable directory;
    /// @notice Wei every registration must pay; returned with the record's first confirmed
    /// update (seed 000: the deposit discourages meaningless uploads).
    uint256 public immutable deposit;
    uint32 private immutable licenseTtl;

    mapping(bytes32 recordId => uint256 word) private records;
    /// @dev The record's open update license and the last version an enclave confirmed:
    /// enclave (bits 0–159, 0 when no license is open) | expiry (160–199) | sequence (200–223)
    /// | confirmedVersion (224–255).
    mapping(bytes32 recordId => uint256 word) private updates;
    /// @notice Reputation: updates of the owner's records that an enclave confirmed as qualified.
    mapping(address owner => uint256) public qualifiedUpdates;

    event RecordRegistered(bytes32 indexed recordId, address indexed owner, bytes32 anchor, bytes32 manifestHash);
    event PolicySet(bytes32 indexed recordId, uint32 chargeGwei, uint32 start, uint32 end);
    event UpdateLicensed(
        bytes32 indexed licenseId, bytes32 indexed recordId, address indexed enclave, uint40 expiry, uint24 sequence
    );
    event UpdateConfirmed(
        bytes32 indexed recordId, bytes32 indexed licenseId, uint64 version, bytes32 digest, bytes32 checkStringHash
    );

    /// @param licenseTtl_ seconds an update license stays usable
    constructor(IDirectory directory_, uint256 deposit_, uint32 licenseTtl_) {
        directory = directory_;
        deposit = deposit_;
        licenseTtl = licenseTtl_;
    }

    /// @notice Anchors a record: `anchor` is the chameleon hash h (a Ristretto255 point) and
    /// `manifestHash` the content address of its upload manifest. msg.value must be the deposit.
    function register(bytes32 anchor, bytes32 manifestHash) external payable returns (bytes32 recordId) {
        if (msg.value != deposit) revert WrongDeposit(deposit, msg.value);
        recordId = keccak256(abi.encode(RECORD_ID_TAG, msg.sender, anchor, manifestHash));
        if (records[recordId] != 0) revert RecordExists(recordId);
        records[recordId] = uint160(msg.sender);
        emit RecordRegistered(recordId, msg.sender, anchor, manifestHash);
    }

    /// @notice Seed 000 `addPolicy`: sets or replaces the record's policy: each access costs
    /// `chargeGwei` and is allowed from `start` to `end` inclusive (unix seconds).
    function addPolicy(bytes32 recordId, uint32 chargeGwei, uint32 start, uint32 end) external {
        _requireOwner(recordId);
        if (start >= end) revert EmptyPolicyWindow();
        records[recordId] = packRecord(msg.sender, chargeGwei, start, end);
        emit PolicySet(recordId, chargeGwei, start, end);
    }

    /// @notice Revokes the record's policy: no access request can be granted until a new one is set.
    function revokePolicy(bytes32 recordId) external {
        _requireOwner(recordId);
        records[recordId] = uint160(msg.sender);
        emit PolicySet(recordId, 0, 0, 0);
    }

    /// @notice Seed 000 `verifyPolicy`: whether the record's policy allows access at `when`.
    function verifyPolicy(bytes32 recordId, uint256 when) external view returns (bool) {
        uint256 word = records[recordId];
        return recordEnd(word) != 0 && recordStart(word) <= when && when <= recordEnd(word);
    }

    /// @notice The record word (Records.sol): owner and policy; 0 if the record does not exist.
    function recordOf(bytes32 recordId) external view returns (uint256 word) {
        return records[recordId];
    }

    /// @notice Seed 000 steps 4–5: the owner asks to update the record; the license lets
    /// `enclave` (an approved report signer) validate one update for `licenseTtl` seconds.
    /// A new license replaces any unused one.
    function requestUpdate(bytes32 recordId, address enclave) external returns (bytes32 licenseId) {
        _requireOwner(recordId);
        if (!directory.isApprovedEnclave(enclave)) revert UnapprovedEnclave(enclave);
        uint256 state = updates[recordId];
        uint40 expiry = uint40(block.timestamp + licenseTtl);
        uint24 sequence = uint24(state >> 200) + 1;
        updates[recordId] = (state >> 224 << 224) | (uint256(sequence) << 200) | (uint256(expiry) << 160)
            | uint160(enclave);
        licenseId = licenseIdOf(recordId, enclave, expiry, sequence);
        emit UpdateLicensed(licenseId, recordId, enclave, expiry, sequence);
    }

    /// @notice The record's open license (enclave 0 when none) with its id, and the last version
    /// an enclave confirmed. The enclave checks a license here before acting on it.
    function licenseOf(bytes32 recordId)
        external
        view
        returns (address enclave, uint40 expiry, uint24 sequence, bytes32 licenseId, uint32 confirmedVersion)
    {
        uint256 state = updates[recordId];
        (enclave, expiry, sequence, confirmedVersion) =
            (address(uint160(state)), uint40(state >> 160), uint24(state >> 200), uint32(state >> 224));
        licenseId = licenseIdOf(recordId, enclave, expiry, sequence);
    }

    /// @notice Seed 000 step 9 ("the TEE reports the status back to the SB"): the licensed
    /// enclave's UpdateReport (the one it appended to UpdateLog, signed for this contract)
    /// closes the license and counts a qualified update for the owner; the record's first
    /// confirmation returns the deposit. Versions only move forward here; their exact order and
    /// license expiry are enforced where updates are appended (UpdateLog), so a confirmation
    /// arriving late still counts.
    function confirmUpdate(
        bytes32 recordId,
        uint64 version,
        bytes32 digest,
        bytes32 checkStringHash,
        bytes calldata signature
    ) external {
        uint256 state = updates[recordId];
        address enclave = address(uint160(state));
        uint256 confirmedVersion = state >> 224;
        if (enclave == address(0)) revert NoOpenLicense();
        if (version <= confirmedVersion || version > type(uint32).max) {
            revert VersionOutOfOrder(uint64(confirmedVersion + 1), version);
        }
        bytes32 licenseId = licenseIdOf(recordId, enclave, uint40(state >> 160), uint24(state >> 200));
        address signer = directory.enclaveSigner(
            keccak256(abi.encode(UPDATE_REPORT_TYPEHASH, recordId, version, digest, checkStringHash, licenseId)),
            signature
        );
        if (signer != enclave) revert WrongEnclave(enclave, signer);

        // close the license, keep its sequence, record the version
        updates[recordId] = (uint256(version) << 224) | (state & (uint256(type(uint24).max) << 200));
        address owner = recordOwner(records[recordId]);
        ++qualifiedUpdates[owner];
        emit UpdateConfirmed(recordId, licenseId, version, digest, checkStringHash);
        if (confirmedVersion == 0) {
            (bool sent,) = owner.call{value: deposit}("");
            if (!sent) revert TransferFailed(owner, deposit);
        }
    }

    function _requireOwner(bytes32 recordId) private view {
        if (recordOwner(records[recordId]) != msg.sender) revert NotRecordOwner();
    }
}
