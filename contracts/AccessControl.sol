// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import "./Errors.sol";
import "./Records.sol";
import {IDirectory, IKeyAuthorization, IRecordRegistry} from "./Interfaces.sol";

/// @title AccessControl
/// @notice Seed 000 `accessControl` data sharing on the shared ledger: a data user asks an
/// approved enclave to run a job over records whose policies (kept in RecordRegistry) are in
/// force, paying exactly the sum of their charges into escrow; the enclave's signed
/// CompletionReport credits each owner its charge (withdrawn by the owner), and a request not
/// completed in time is refunded.
/// @dev Per request, storage keeps the parties, the escrow and a commitment to the job and to
/// the policies it was granted under, termsHash = keccak256(abi.encode(jobHash, policies)),
/// where policies[k] is the record word (Records.sol) of recordIds[k] at request time. The
/// AccessRequested event carries them in full and complete() takes them back, so an owner is
/// paid the charge the requester paid even if the policy changed since.
contract AccessControl {
    bytes32 private constant COMPLETION_REPORT_TYPEHASH =
        keccak256("CompletionReport(uint256 requestId,bytes32 jobHash,bytes32 resultHash)");

    enum Status {
        None,
        Pending,
        Completed,
        Refunded
    }

    struct Request {
        address requester;
        uint64 deadline;
        Status status;
        address enclave;
        uint96 escrow;
        bytes32 termsHash;
    }

    IDirectory private immutable directory;
    IRecordRegistry private immutable registry;
    IKeyAuthorization private immutable keyAuthorization;
    uint32 private immutable completionTimeout;

    /// @notice Number of requests so far; request ids run from 1.
    uint256 public requestCount;
    mapping(uint256 requestId => Request) public requestOf;
    /// @notice Charges earned by each owner and not yet withdrawn.
    mapping(address owner => uint256) public earnings;

    event AccessRequested(
        uint256 indexed requestId,
        address indexed requester,
        address indexed enclave,
        bytes32 jobHash,
        bytes32[] recordIds,
        uint256[] policies,
        uint64 deadline
    );
    event AccessCompleted(uint256 indexed requestId, bytes32 resultHash);
    event AccessRefunded(uint256 indexed requestId);
    event Withdrawn(address indexed owner, uint256 amount);

    /// @param completionTimeout_ seconds the enclave has to complete a request before the
    /// requester may take a refund
    constructor(
        IDirectory directory_,
        IRecordRegistry registry_,
        IKeyAuthorization keyAuthorization_,
        uint32 completionTimeout_
    ) {
        if (keyAuthorization_.accessControl() != address(this)) revert KeyAuthorizationNotBound();
        directory = directory_;
        registry = registry_;
        keyAuthorization = keyAuthorization_;
        completionTimeout = completionTimeout_;
    }

    /// @notice Asks `enclave` to run job `jobHash` over `recordIds`; msg.value must equal the
    /// sum of the records' charges. Opens key release in KeyAuthorization, which refuses an
    /// enclave that is not approved.
    function requestAccess(bytes32[] calldata recordIds, bytes32 jobHash, address enclave)
        external
        payable
        returns (uint256 requestId)
    {
        uint256 count = recordIds.length;
        if (count == 0 || count > type(uint16).max) revert BadRecordCount();
        uint256[] memory policies = new uint256[](count);
        uint256 total;
        for (uint256 i; i < count; ++i) {
            bytes32 recordId = recordIds[i];
            uint256 word = registry.recordOf(recordId);
            if (word == 0) revert UnknownRecord(recordId);
            if (recordEnd(word) == 0) revert PolicyRevoked(recordId);
            if (block.timestamp < recordStart(word) || block.timestamp > recordEnd(word)) {
                revert OutsidePolicyWindow(recordId);
            }
            policies[i] = word;
            total += recordChargeGwei(word) * 1 gwei;
        }
        if (msg.value < total) revert Underpaid(total, msg.value);
        if (msg.value > total) revert Overpaid(total, msg.value);

        requestId = ++requestCount;
        uint64 deadline = uint64(block.timestamp + completionTimeout);
        // total ≤ 65,535 records × (2^32 − 1) gwei < 2^96 wei, so the cast is exact
        requestOf[requestId] = Request(
            msg.sender, deadline, Status.Pending, enclave, uint96(total), keccak256(abi.encode(jobHash, policies))
        );
        keyAuthorization.authorize(requestId, enclave, uint16(count));
        emit AccessRequested(requestId, msg.sender, enclave, jobHash, recordIds, policies, deadline);
    }

    /// @notice Settles a request with the enclave's EIP-712 CompletionReport and credits each
    /// owner its charge, once. `jobHash` and `policies` are those of AccessRequested. Allowed
    /// while the request is pending, also past the deadline if no refund came first.
    function complete(
        uint256 requestId,
        bytes32 jobHash,
        bytes32 resultHash,
        uint256[] calldata policies,
        bytes calldata signature
    ) external {
        Request storage request = _pending(requestId);
        if (keccak256(abi.encode(jobHash, policies)) != request.termsHash) revert TermsMismatch();
        address signer = directory.enclaveSigner(
            keccak256(abi.encode(COMPLETION_REPORT_TYPEHASH, requestId, jobHash, resultHash)), signature
        );
        if (signer != request.enclave) revert WrongEnclave(request.enclave, signer);

        request.status = Status.Completed;
        for (uint256 i; i < policies.length; ++i) {
            earnings[recordOwner(policies[i])] += recordChargeGwei(policies[i]) * 1 gwei;
        }
        emit AccessCompleted(requestId, resultHash);
    }

    /// @notice Returns the escrow to the requester once the deadline passed without
    /// completion, and stops key release for the request.
    function refund(uint256 requestId) external {
        Request storage request = _pending(requestId);
        if (msg.sender != request.requester) revert NotRequester();
        if (block.timestamp <= request.deadline) revert RefundTooEarly(request.deadline);

        request.status = Status.Refunded;
        keyAuthorization.close(requestId);
        emit AccessRefunded(requestId);
        _send(msg.sender, request.escrow);
    }

    /// @notice Pays out the caller's earnings. Pull payments: an owner whose address refuses
    /// ether cannot block anyone else's settlement.
    function withdraw() external {
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        earnings[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    function _pending(uint256 requestId) private view returns (Request storage request) {
        request = requestOf[requestId];
        Status status = request.status;
        if (status == Status.Pending) return request;
        if (status == Status.Completed) revert AlreadyCompleted();
        if (status == Status.Refunded) revert AlreadyRefunded();
        revert UnknownRequest();
    }

    function _send(address to, uint256 amount) private {
        (bool sent,) = to.call{value: amount}("");
        if (!sent) revert TransferFailed(to, amount);
    }
}
