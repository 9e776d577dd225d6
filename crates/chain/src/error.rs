//! Typed errors of the embedded chain.
//!
//! Messages follow geth's wording where geth has one, so clients that match on them (and
//! people who know them) see what they expect.

use alloy_primitives::{Address, Bytes, U256};

/// Errors opening, running or reading the chain itself (not a client's fault).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The configuration is invalid.
    #[error("invalid chain configuration: {0}")]
    Config(String),
    /// The data directory holds a chain created with a different genesis configuration.
    #[error("the data directory holds another chain: stored genesis {stored}, configured genesis {configured}")]
    GenesisMismatch {
        /// Genesis block hash found on disk.
        stored: alloy_primitives::B256,
        /// Genesis block hash of the configuration given.
        configured: alloy_primitives::B256,
    },
    /// The persistent store failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// The persistent store holds data this version cannot read.
    #[error("corrupt chain data: {0}")]
    Corrupt(String),
    /// The EVM failed on something that is not a transaction's fault.
    #[error("EVM error: {0}")]
    Evm(String),
    /// The chain has been shut down.
    #[error("the chain is shut down")]
    Closed,
    /// An I/O error (e.g. binding the HTTP listener).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ChainError {
            fn from(e: $t) -> Self {
                ChainError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a submitted transaction was refused. Nothing changed on the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not a valid EIP-2718 / RLP encoded signed transaction.
    #[error("failed to decode signed transaction: {0}")]
    Decode(String),
    /// Blob (EIP-4844) and set-code (EIP-7702) transactions are not accepted.
    #[error("transaction type not supported: {0}")]
    UnsupportedType(u8),
    /// A legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    /// Signed for another chain.
    #[error("invalid chain id: have {got}, want {expected}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's chain id.
        got: u64,
    },
    /// The signature does not recover to a sender (bad `r`/`s`/`v`, or high `s`).
    #[error("invalid sender: {0}")]
    InvalidSignature(String),
    /// Larger than the node accepts.
    #[error("oversized data: transaction size {size}, limit {max}")]
    Oversized {
        /// Size of the raw transaction.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Gas limit below the intrinsic gas.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas: u64,
        /// Intrinsic gas of the transaction.
        needed: u64,
    },
    /// Gas limit above the block gas limit.
    #[error("exceeds block gas limit: gas {gas}, block gas limit {limit}")]
    GasLimitExceedsBlock {
        /// The transaction's gas limit.
        gas: u64,
        /// The block gas limit.
        limit: u64,
    },
    /// `maxFeePerGas` (or `gasPrice`) below the base fee.
    #[error("max fee per gas less than block base fee: address {sender}, maxFeePerGas: {max_fee}, baseFee: {base_fee}")]
    FeeCapTooLow {
        /// Sender.
        sender: Address,
        /// The transaction's fee cap.
        max_fee: u128,
        /// Base fee of the next block.
        base_fee: u64,
    },
    /// `maxPriorityFeePerGas` above `maxFeePerGas`.
    #[error(
        "max priority fee per gas higher than max fee per gas: address {sender}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {max_fee}"
    )]
    TipAboveFeeCap {
        /// Sender.
        sender: Address,
        /// Priority fee.
        tip: u128,
        /// Fee cap.
        max_fee: u128,
    },
    /// Contract creation code larger than EIP-3860 allows.
    #[error("max initcode size exceeded: code size {size}, limit {max}")]
    InitcodeTooLarge {
        /// Size of the init code.
        size: usize,
        /// Limit (49,152 bytes).
        max: usize,
    },
    /// Nonce already used.
    #[error("nonce too low: next nonce {next}, tx nonce {got}")]
    NonceTooLow {
        /// The next nonce the sender may use.
        next: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// Nonce ahead of the next one. This node does not queue future nonces: send them in order.
    #[error("nonce too high: next nonce {next}, tx nonce {got} (this node does not queue future nonces)")]
    NonceTooHigh {
        /// The next nonce the sender may use.
        next: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// Balance below `gas_limit * max_fee + value` (plus what the sender's pending
    /// transactions may spend).
    #[error("insufficient funds for gas * price + value: address {sender} have {balance} want {cost}")]
    InsufficientFunds {
        /// Sender.
        sender: Address,
        /// Balance available to this transaction.
        balance: U256,
        /// Maximum cost of this transaction.
        cost: U256,
    },
    /// The sender has contract code (EIP-3607).
    #[error("sender not an eoa: address {0}")]
    SenderNotEoa(Address),
    /// The same transaction is already pending or committed.
    #[error("already known")]
    AlreadyKnown,
    /// Too many transactions pending.
    #[error("txpool is full")]
    PoolFull,
    /// The transaction passed the pool's checks but the EVM refused it when building the block.
    #[error("transaction rejected by the EVM: {0}")]
    Rejected(String),
    /// The chain is shutting down or a block could not be stored; the transaction is not
    /// committed.
    #[error("transaction not committed: {0}")]
    NotCommitted(String),
}

/// Why an `eth_call` / `eth_estimateGas` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call ran `REVERT`. `data` is the revert data (e.g. an ABI-encoded custom error or
    /// `Error(string)`), `reason` the decoded `Error(string)` message if there is one.
    #[error("execution reverted{}", .reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Revert data returned by the contract.
        data: Bytes,
        /// Decoded `Error(string)` reason, if any.
        reason: Option<String>,
    },
    /// The call halted (out of gas, invalid opcode, stack error, ...).
    #[error("{0}")]
    Halted(String),
    /// The call is not valid as a transaction (e.g. insufficient funds, nonce, fee fields).
    #[error("{0}")]
    Invalid(String),
    /// A query problem (unknown block, historical state ...).
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Errors of read queries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The block does not exist.
    #[error("unknown block")]
    UnknownBlock,
    /// State was requested at a block other than the head; this node keeps only the latest
    /// state.
    #[error(
        "historical state not available: requested block {requested}, head is {head} (this node keeps only the latest state)"
    )]
    HistoricalState {
        /// Block asked for.
        requested: u64,
        /// Current head.
        head: u64,
    },
    /// `eth_getLogs` block range wider than allowed.
    #[error("block range too large: {range} blocks, limit {limit}")]
    LogRangeTooLarge {
        /// Blocks asked for.
        range: u64,
        /// Limit.
        limit: u64,
    },
    /// `eth_getLogs` found more logs than allowed.
    #[error("query returned more than {0} results")]
    TooManyLogs(usize),
    /// Malformed query (e.g. `fromBlock` after `toBlock`).
    #[error("{0}")]
    Invalid(String),
    /// The store failed while reading.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<ChainError> for QueryError {
    fn from(e: ChainError) -> Self {
        QueryError::Storage(e.to_string())
    }
}

impl From<ChainError> for CallError {
    fn from(e: ChainError) -> Self {
        CallError::Query(QueryError::Storage(e.to_string()))
    }
}
