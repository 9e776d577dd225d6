// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice An update license (seed 000 step 5): the one approved enclave that may validate the
/// next update of a record, and until when. `sequence` counts the record's licenses from 1.
struct License {
    address enclave;
    uint40 expiry;
    uint24 sequence;
}

bytes32 constant LICENSE_ID_TAG = keccak256("healthchain/license-id/v1");

/// @notice licenseId = keccak256(abi.encode(keccak256("healthchain/license-id/v1"), recordId,
/// enclave, expiry, sequence)). RecordRegistry issues it on the shared ledger; UpdateLog, on the
/// consortium ledger, recomputes it from the terms it is shown, so the id binds enclave and expiry.
function licenseIdOf(bytes32 recordId, address enclave, uint40 expiry, uint24 sequence) pure returns (bytes32) {
    return keccak256(abi.encode(LICENSE_ID_TAG, recordId, enclave, expiry, sequence));
}
