// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import {IDirectory} from "./Interfaces.sol";
import {License, licenseIdOf} from "./Licenses.sol";

/// @title UpdateLog
/// @notice Seed 000's update ledger UB (transactions T_u) on the consortium ledger: one entry per
/// version of a record, each appended by the enclave that validated it under an update license.
/// Version 1 is validated and attested like every other version.
/// @dev Licenses are issued by RecordRegistry on the shared ledger, which this contract cannot
/// read; the enclave checks issuance there before it signs. Here the license terms are presented
/// in full, the license id is recomputed from them, and the contract enforces what it can see:
/// the signer is approved and is the licensed enclave, the license is unexpired and newer than
/// any license already used for the record (so each is used once), and versions go 1, 2, 3, ...
/// Storage keeps a hash chain over the entries: head_j = keccak256(abi.encode(head_{j-1}, j,
/// digest_j, checkStringHash_j)), head_0 = 0, so a reader can check the events it was served.
contract UpdateLog {
    bytes32 private constant UPDATE_REPORT_TYPEHASH = keccak256(
        "UpdateReport(bytes32 recordId,uint64 version,bytes32 digest,bytes32 checkStringHash,bytes32 licenseId)"
    );

    struct Log {
        bytes32 head;
        uint64 version;
        uint24 licenseSequence;
    }

    IDirectory private immutable directory;
    mapping(bytes32 recordId => Log) private logs;

    /// @notice A validated version: `digest` is d_j of the record's digest chain and
    /// `checkString` the chameleon check string (R, s) for message (recordId, j, d_j).
    event UpdateAppended(
        bytes32 indexed recordId,
        uint64 indexed version,
        bytes32 indexed licenseId,
        bytes32 digest,
        bytes32[2] checkString,
        address enclave,
        bytes32 head
    );

    constructor(IDirectory directory_) {
        directory = directory_;
    }

    /// @notice Appends version `version` of `recordId`, attested by the licensed enclave's
    /// EIP-712 UpdateReport with checkStringHash = keccak256(abi.encode(checkString[0], checkString[1])).
    function append(
        bytes32 recordId,
        uint64 version,
        bytes32 digest,
        bytes32[2] calldata checkString,
        License calldata license,
        bytes calldata signature
    ) external {
        Log storage log = logs[recordId];
        uint64 expected = log.version + 1;
        if (version != expected) revert VersionOutOfOrder(expected, version);
        if (license.expiry < block.timestamp) revert LicenseExpired();
        if (license.sequence <= log.licenseSequence) revert LicenseConsumed();

        bytes32 checkStringHash = keccak256(abi.encode(checkString[0], checkString[1]));
        bytes32 licenseId = licenseIdOf(recordId, license.enclave, license.expiry, license.sequence);
        address signer = directory.enclaveSigner(
            keccak256(abi.encode(UPDATE_REPORT_TYPEHASH, recordId, version, digest, checkStringHash, licenseId)),
            signature
        );
        if (signer != license.enclave) revert WrongEnclave(license.enclave, signer);

        bytes32 head = keccak256(abi.encode(log.head, version, digest, checkStringHash));
        (log.head, log.version, log.licenseSequence) = (head, version, license.sequence);
        emit UpdateAppended(recordId, version, licenseId, digest, checkString, signer, head);
    }

    /// @notice The record's latest version (0 if none), the hash-chain head over all its
    /// entries, and the sequence of the last license used.
    function logOf(bytes32 recordId) external view returns (Log memory) {
        return logs[recordId];
    }

    /// @notice The logs of many records in one call (a reader verifying thousands of
    /// records, such as the enclave serving a share request, asks once per batch).
    function logsOf(bytes32[] calldata recordIds) external view returns (Log[] memory out) {
        out = new Log[](recordIds.length);
        for (uint256 i = 0; i < recordIds.length; ++i) {
            out[i] = logs[recordIds[i]];
        }
    }
}
