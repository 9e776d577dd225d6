// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// A record word: RecordRegistry's one storage slot per record, also the policy snapshot that
// AccessControl commits to per request and hands back to complete():
//   bits   0–159  owner
//   bits 160–191  charge per access, in gwei
//   bits 192–223  policy start, unix seconds (inclusive)
//   bits 224–255  policy end, unix seconds (inclusive); 0 = no policy in force

function recordOwner(uint256 word) pure returns (address) {
    return address(uint160(word));
}

function recordChargeGwei(uint256 word) pure returns (uint256) {
    return uint32(word >> 160);
}

function recordStart(uint256 word) pure returns (uint256) {
    return uint32(word >> 192);
}

function recordEnd(uint256 word) pure returns (uint256) {
    return word >> 224;
}

function packRecord(address owner, uint32 chargeGwei, uint32 start, uint32 end) pure returns (uint256) {
    return uint256(uint160(owner)) | (uint256(chargeGwei) << 160) | (uint256(start) << 192) | (uint256(end) << 224);
}
