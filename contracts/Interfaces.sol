// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice What the other contracts read from Directory.
interface IDirectory {
    function isApprovedEnclave(address enclave) external view returns (bool);
    function enclaveSigner(bytes32 structHash, bytes calldata signature) external view returns (address);
    function doctorPrivileges(address doctor) external view returns (uint64);
    function keyReleaseCommittee(address enclave) external view returns (uint32 epoch, uint8 threshold);
    function committeeSeat(uint32 epoch, address member) external view returns (uint256 seat);
}

/// @notice What AccessControl reads from RecordRegistry.
interface IRecordRegistry {
    function recordOf(bytes32 recordId) external view returns (uint256 word);
}

/// @notice What AccessControl drives in KeyAuthorization.
interface IKeyAuthorization {
    function accessControl() external view returns (address);
    function authorize(uint256 requestId, address enclave, uint16 recordCount) external;
    function close(uint256 requestId) external;
}
