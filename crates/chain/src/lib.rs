//! # healthchain-chain — the embedded EVM chain
//!
//! An in-process Ethereum node: [`revm`] executes blocks, [`redb`] persists them, and the
//! standard Ethereum JSON-RPC subset serves them — over HTTP on loopback ([`Chain::serve_http`])
//! or in-process to an alloy provider ([`Chain::rpc_client`], [`InProcessTransport`]). The rest
//! of healthchain talks to it exactly as to an external node (hardhat, geth, Besu).
//!
//! ## Quick start
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use alloy_provider::{Provider, ProviderBuilder};
//! use healthchain_chain::{Chain, ChainConfig, Storage, dev_signer};
//!
//! // Durable chain in a directory (or Chain::in_memory / Chain::temporary for tests).
//! let chain = Chain::open(ChainConfig::default(), Storage::Dir("./chain-data".into()))?;
//!
//! // In-process provider with a development account as wallet:
//! let provider = ProviderBuilder::new()
//!     .wallet(dev_signer(0)?)
//!     .connect_client(chain.rpc_client());
//! let balance = provider.get_balance(dev_signer(1)?.address()).await?;
//!
//! // The same chain over HTTP:
//! let server = chain.serve_http("127.0.0.1:0".parse()?).await?;
//! let http = ProviderBuilder::new().connect_http(server.url().parse()?);
//! # let _ = (balance, http); Ok(()) }
//! ```
//!
//! ## Chain rules
//! - Hardfork pinned to **Cancun** ([`SPEC`]); chain id default 31337; block gas limit default
//!   30M ([`ChainConfig`]).
//! - **Base fee**: [`BaseFeePolicy::Constant`] (default 1 gwei) or the standard EIP-1559 update
//!   rule. `maxFeePerGas`/`gasPrice` must be at least the next block's base fee.
//! - **Development accounts**: the first [`ChainConfig::dev_accounts`] keys of the public test
//!   mnemonic [`DEV_MNEMONIC`] at `m/44'/60'/0'/0/i` — the same accounts as hardhat's and
//!   anvil's defaults — each funded with 10,000 ether ([`dev_signers`]).
//! - **Transactions**: signed raw legacy (EIP-155 only), EIP-2930 and EIP-1559 transactions.
//!   Blob and set-code transactions are refused. The pool accepts only each sender's exact
//!   next nonce (no queue of future nonces); see [`TxError`] for every refusal.
//! - **Blocks**: a producer thread seals *every* pending transaction (up to the block gas
//!   limit) into one block as soon as any is pending, so a lone transaction is committed at
//!   once and concurrent ones share blocks. Under sustained load it group-commits: right after
//!   a block of `k > 1` transactions it waits up to [`ChainConfig::batch_wait`] (1 ms) for
//!   about `k` to be pending, which is what keeps blocks full when many clients each wait for
//!   their previous acknowledgment. Headers are real `alloy-consensus` headers hashed
//!   with keccak-256 over their RLP, chained by `parentHash`, with ordered-trie transaction and
//!   receipt roots and the logs bloom.
//! - **Timestamps** are `max(parent timestamp, wall clock + offset)`: monotonic but not strictly
//!   increasing (several blocks can share a second). `evm_increaseTime`, `evm_mine [ts]` and
//!   `evm_setNextBlockTimestamp` move the clock like hardhat's.
//! - **State root**: the header's `stateRoot` is a *commitment chain*, `keccak(parent
//!   stateRoot ‖ keccak(state diff of the block))`, not a Merkle-Patricia root (computing an
//!   MPT root per sub-millisecond block would dominate the cost). It still pins the whole state
//!   history in the hash chain, but `eth_getProof` is not offered.
//! - **State history**: only the latest state is kept; state queries at an older block fail
//!   with [`QueryError::HistoricalState`]. Blocks, transactions, receipts and logs are all kept.
//!
//! ## Durability
//! Each block — header, transactions, receipts (with logs), and its state changes — is
//! written in **one** redb write transaction committed with fsync. A transaction is
//! acknowledged (`eth_sendRawTransaction` returns, its receipt becomes readable) only after
//! that commit returned. On open, the head is recovered from disk. Reads use redb MVCC
//! snapshots of the last committed block, so they never wait for block production.

#![warn(missing_docs)]

mod bloom;
mod chain;
mod config;
mod error;
mod evm;
mod http;
mod pool;
mod producer;
pub mod rpc;
mod state;
mod store;
mod transport;

pub use chain::{Chain, Head};
pub use config::{
    BaseFeePolicy, ChainConfig, DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_CHAIN_ID, DEFAULT_DEV_ACCOUNTS, DEFAULT_DEV_BALANCE,
    DEV_DERIVATION_PATH_PREFIX, DEV_MNEMONIC, ETHER, GWEI, GenesisAccount, dev_signer, dev_signers,
};
pub use error::{CallError, ChainError, QueryError, TxError};
pub use evm::{MAX_INITCODE_SIZE, SPEC};
pub use http::HttpServer;
pub use rpc::RpcError;
pub use store::Storage;
pub use transport::InProcessTransport;
