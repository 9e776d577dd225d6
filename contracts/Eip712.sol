// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

bytes32 constant EIP712_DOMAIN_TYPEHASH =
    keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
bytes32 constant EIP712_NAME_HASH = keccak256("healthchain");
bytes32 constant EIP712_VERSION_HASH = keccak256("1");

/// @notice The EIP-712 digest of `structHash` under the healthchain domain
/// {name: "healthchain", version: "1", chainId: this chain, verifyingContract}:
/// keccak256(0x1901 ‖ domainSeparator ‖ structHash).
/// @dev The separator is recomputed on every use (about 100 gas) rather than cached, so a
/// chain-id change can never validate a signature made for another chain.
function hashTypedData(address verifyingContract, bytes32 structHash) view returns (bytes32) {
    bytes32 domainSeparator = keccak256(
        abi.encode(EIP712_DOMAIN_TYPEHASH, EIP712_NAME_HASH, EIP712_VERSION_HASH, block.chainid, verifyingContract)
    );
    return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
}
