//! # healthchain-ledger — the ledger client
//!
//! Typed access to healthchain's six contracts over Ethereum JSON-RPC, on the embedded chain
//! ([`healthchain_chain`]) or any external node, for both logical ledgers.
//!
//! | module | what |
//! |---|---|
//! | [`bindings`] | `sol!` bindings generated at compile time from `contracts/artifacts/*.json` (ABI + bytecode; no Node.js at build time) |
//! | [`client`] | [`Connection`](client::Connection) (one endpoint), [`Account`](client::Account) (a key on it: nonce management, dry runs, receipts), [`Receipt`](client::Receipt), [`Tx`](client::Tx) |
//! | [`contracts`] | one typed handle per contract with a method per external function |
//! | [`Ledger`], [`deploy`] | the participant-facing client over both ledgers; deployment with constructor wiring |
//! | [`events`] | typed event queries (`eth_getLogs` + decoding) for the flows' audit trails |
//! | [`errors`] | [`ContractError`](errors::ContractError): every custom error of every contract, decoded with its arguments; [`LedgerError`](errors::LedgerError) |
//! | [`ids`] | the derived values (record id, license id, check-string hash, UpdateLog head, terms hash, hospitals hash, warrant id) and packed words |
//! | [`retry`] | what is sent again, and when, while an endpoint goes away and comes back ([`Connection::http_following`](client::Connection::http_following)) |
//! | [`testing`] | the harness: [`Backend`](testing::Backend) = embedded chain or a [`HardhatNode`](testing::HardhatNode) child process |
//! | [`gas`] | [`gas_table`](gas::gas_table): gas per operation (seed 000 Table 3 and ours) on the embedded chain and an external node |
//!
//! ## Two logical ledgers, one or two endpoints
//! - **shared** (seed 000's SB): `Directory`, `RecordRegistry`, `AccessControl`, `KeyAuthorization`;
//! - **consortium** (seed 000's UB and seed 001's Fabric): `UpdateLog`, `EhrRegistry`, and its
//!   own `Directory`.
//!
//! [`deploy`] takes the shared ledger's [`Account`](client::Account) and, optionally, the
//! consortium's: with one endpoint (the embedded default) all six contracts live on one chain
//! and **share one Directory** ([`Deployment::co_hosted`]); with two endpoints each ledger gets
//! its own Directory, and Directory entries the consortium needs (enclaves, hospitals, doctors)
//! are made on each ([`Ledger::directories`], [`Ledger::approve_enclave_everywhere`]). The two
//! ledgers cannot read each other: a license issued on the shared ledger is presented in full to
//! `UpdateLog`, which recomputes its id (see `contracts/README.md`). A [`Deployment`] is plain
//! serde data (JSON) naming the chain id, addresses and deployment block of each ledger.
//!
//! ```no_run
//! # async fn demo(chain: &healthchain_chain::Chain) -> Result<(), healthchain_ledger::errors::LedgerError> {
//! use healthchain_ledger::{DeployParams, Ledger, client::Connection, deploy, testing::dev_key};
//! use alloy_primitives::{B256, U256};
//!
//! let conn = Connection::embedded(chain).await?; // or Connection::http("http://127.0.0.1:8545")
//! let admin = conn.account(&dev_key(0));
//! let deployment = deploy(&admin, None, &DeployParams::default()).await?.deployment;
//! let patient = Ledger::connect(&conn, None, &dev_key(1), deployment).await?;
//! let deposit = patient.records().deposit().await?;
//! let tx = patient.records().register(B256::repeat_byte(1), B256::repeat_byte(2), deposit).await?;
//! println!("record {} for {} gas", tx.event.recordId, tx.receipt.gas_used);
//! # Ok(()) }
//! ```
//!
//! ## Transactions and errors
//! Every write is dry-run with `eth_estimateGas` first (unless the account uses
//! [`GasMode::Fixed`](client::GasMode)): a contract refusal comes back as
//! [`LedgerError::Reverted`](errors::LedgerError::Reverted) `{ contract, function, error }` with
//! the decoded [`ContractError`](errors::ContractError) — including errors raised inside
//! `Directory` during another contract's call — and nothing is sent. Nonces are cached per
//! (endpoint, address), advanced only on acceptance, re-read from the node after any refusal,
//! and sends from one account are serialized, so concurrent use never leaves a gap. Receipts are
//! awaited; methods return [`Tx`](client::Tx) with the function's main event decoded.
//!
//! ## Both chains, same results
//! The contract test suite (`tests/contracts.rs`, a custom harness) runs every scenario
//! against the embedded chain and a hardhat 2 node pinned to the same hardfork (cancun) and
//! chain id, then checks that every operation costs identical gas on both
//! ([`gas::gas_table`]) and that the two ledgers work across two endpoints. `benches/ledger.rs`
//! measures write/read latency and committed tx/s over HTTP JSON-RPC against both in one run.

#![warn(missing_docs)]
// `LedgerError::Reverted` carries the decoded error with its arguments and the transaction
// (~150 bytes); errors are the cold path and boxing would make them harder to match on.
#![allow(clippy::result_large_err)]

pub mod bindings;
pub mod client;
pub mod contracts;
pub mod errors;
pub mod events;
pub mod gas;
pub mod ids;
mod ledger;
pub mod retry;
pub mod testing;

pub use ledger::{
    ConsortiumContracts, DeployParams, DeployReport, Deployment, Ledger, SharedContracts, deploy, expect_event,
};
