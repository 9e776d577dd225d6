// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MalformedSignature} from "./Errors.sol";

/// @notice secp256k1 recovery that accepts exactly one encoding per signature.
library Signatures {
    /// @dev secp256k1 group order / 2: a larger `s` is the malleable twin of a valid signature.
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice Signer of `digest` from a 65-byte `r ‖ s ‖ v` signature with low `s` and
    /// `v` in {27, 28}; reverts MalformedSignature on anything else or an unrecoverable key.
    function recover(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        if (signature.length != 65) revert MalformedSignature();
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) revert MalformedSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert MalformedSignature();
    }
}
