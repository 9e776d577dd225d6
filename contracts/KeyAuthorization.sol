// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import {IDirectory, IKeyAuthorization} from "./Interfaces.sol";

/// @title KeyAuthorization
/// @notice Seed 000 `keyAuthorization`, with the contract-held private key replaced by a
/// threshold committee: once AccessControl grants a request, each committee member posts, for
/// every record of the request, its decryption share S_i = sk_i·C1 of the record's wrapped key
/// EK with a Chaum–Pedersen proof. The EVM has no Ristretto255 arithmetic, so the enclave checks
/// shares and proofs against the member's share key in Directory; this contract admits only
/// members of the committee the grant was made under, one submission each, while the request
/// is open.
/// @dev EK is committed on-chain through the record id (see RecordRegistry) and served from the
/// object store, so nothing per record is stored here. AccessControl's address is fixed at
/// deployment (computed from its deployer's next nonce); AccessControl's constructor checks the
/// binding, so a wrong prediction fails the deployment rather than a request.
///
/// A grant is one storage word:
///   bits   0–63   submitted: bit i set once committee member i posted its shares
///   bits  64–71   number of members that posted
///   bits  72–79   threshold t of the committee
///   bits  80–95   number of records in the request (shares expected per member)
///   bits  96–127  committee epoch (0 = no grant)
///   bit   128     closed (the request was refunded)
contract KeyAuthorization is IKeyAuthorization {
    uint256 private constant SHARE_COUNT_SHIFT = 64;
    uint256 private constant THRESHOLD_SHIFT = 72;
    uint256 private constant RECORD_COUNT_SHIFT = 80;
    uint256 private constant EPOCH_SHIFT = 96;
    uint256 private constant CLOSED = 1 << 128;

    IDirectory private immutable directory;
    address public immutable accessControl;
    /// @notice The grant word of a request (layout above); 0 if never granted.
    mapping(uint256 requestId => uint256 grant) public grantOf;

    event KeyRequested(uint256 indexed requestId, uint32 indexed epoch, uint8 threshold);
    /// @notice shares[k] is the member's share for the k-th record of the request; `proofs`
    /// concatenates the matching Chaum–Pedersen proofs in the same order.
    event SharesSubmitted(
        uint256 indexed requestId, address indexed member, uint256 memberIndex, bytes32[] shares, bytes proofs
    );
    event ThresholdReached(uint256 indexed requestId);

    constructor(IDirectory directory_, address accessControl_) {
        directory = directory_;
        accessControl = accessControl_;
    }

    /// @notice Opens share collection for a request AccessControl just granted to `enclave`,
    /// under the committee in office now; Directory refuses an enclave that is not approved.
    function authorize(uint256 requestId, address enclave, uint16 recordCount) external {
        _onlyAccessControl();
        (uint32 epoch, uint8 threshold) = directory.keyReleaseCommittee(enclave);
        grantOf[requestId] = (uint256(epoch) << EPOCH_SHIFT) | (uint256(recordCount) << RECORD_COUNT_SHIFT)
            | (uint256(threshold) << THRESHOLD_SHIFT);
        emit KeyRequested(requestId, epoch, threshold);
    }

    /// @notice Stops share collection (the request was refunded).
    function close(uint256 requestId) external {
        _onlyAccessControl();
        grantOf[requestId] |= CLOSED;
    }

    /// @notice Seed 000 `keyAuthorization` invoke: the caller's decryption shares for a granted request.
    function submitShares(uint256 requestId, bytes32[] calldata shares, bytes calldata proofs) external {
        uint256 grant = grantOf[requestId];
        uint32 epoch = uint32(grant >> EPOCH_SHIFT);
        if (epoch == 0) revert NotGranted();
        if (grant & CLOSED != 0) revert RequestClosed();
        if (shares.length != uint16(grant >> RECORD_COUNT_SHIFT)) revert ShareCountMismatch();
        uint256 seat = directory.committeeSeat(epoch, msg.sender);
        if (seat == 0) revert NotCommitteeMember();
        uint256 bit = 1 << (seat - 1); // seat ≤ Directory.MAX_COMMITTEE = 64
        if (grant & bit != 0) revert ShareAlreadySubmitted();

        grant = (grant | bit) + (1 << SHARE_COUNT_SHIFT);
        grantOf[requestId] = grant;
        emit SharesSubmitted(requestId, msg.sender, seat - 1, shares, proofs);
        if (uint8(grant >> SHARE_COUNT_SHIFT) == uint8(grant >> THRESHOLD_SHIFT)) emit ThresholdReached(requestId);
    }

    function _onlyAccessControl() private view {
        if (msg.sender != accessControl) revert NotAccessControl();
    }
}
