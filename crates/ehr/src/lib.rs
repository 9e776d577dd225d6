//! healthchain's EHR store (seed 001 §4.3, §5.2): an SQLCipher database that runs inside
//! the enclave, as a trusted application reached only over attested sessions.
//!
//! - [`app`]: [`EhrApp`], the trusted application: sealed database key, warrant checks,
//!   typed requests mapped to prepared statements.
//! - [`api`]: the requests ([`EhrRequest`]) and answers ([`EhrResponse`], [`EhrError`]).
//! - [`auth`]: who is a registered doctor or an approved hospital ([`Registry`]: the
//!   consortium `Directory` read through the enclave's host ([`OnChainRegistry`]), an
//!   [`AllowList`], or explicitly none), and the [`Clock`] warrant periods are checked
//!   against.
//! - [`db`]: opening SQLCipher with a raw key, durability settings, schema, statements, and
//!   seed 001 Figure 7's benchmark table.
//! - [`client`]: typed calls over an [`healthchain_enclave::client::AttestedSession`].
//! - [`local`]: the application in this process (tests, benchmarks, embedding).
//!
//! Design choices:
//! - **History is kept.** [`EhrRequest::Update`] writes version `n + 1` as the current
//!   version (table `ehr`) and moves version `n` to `ehr_history`, so every version whose
//!   hash was anchored on-chain stays verifiable; [`EhrRequest::Get`] takes a version.
//!   [`EhrRequest::Delete`] erases the EHR with its whole history.
//! - **EHR hash** = plain SHA-256 of the EHR bytes (seed 001's `H(ehr)`, the value
//!   `EhrRegistry` holds), computed by the enclave on every write (a doctor-supplied hash
//!   must match it) and checked again on every read.
//! - **Requests are typed** ([`EhrRequest`], postcard): no SQL crosses the boundary; each
//!   request maps to fixed statements, prepared once and cached per connection.
//! - **Batches are anchored by one Merkle root.** [`EhrRequest::CreateMany`] builds a Merkle
//!   tree over the EHRs it stores ([`healthchain_crypto::merkle`]: leaf = patient, id,
//!   version, hash, warrant, author), stores with each EHR its root, leaf index, leaf count
//!   and proof ([`BatchAnchor`], returned in [`EhrRecord::anchor`]), and signs
//!   `EhrBatch(caller, root, count)` with the enclave's report key after the commit; the
//!   doctor anchors it with `EhrRegistry.anchorBatch` (one transaction per batch, ~60k gas
//!   whatever its size), so each EHR stays verifiable on its own against the chain.
//! - **Durability**: WAL with `synchronous = FULL`; a write is answered only after its
//!   transaction committed (WAL fsynced). A background thread checkpoints the WAL
//!   ([`db::Database`]); the connection keeps a 64 MiB page cache so a 1,000-EHR batch
//!   commits without spilling.
//! - **SQLCipher 4 defaults** (AES-256-CBC, HMAC-SHA512 per 4 KiB page, raw 256-bit key so
//!   no PBKDF2), except `secure_delete = FAST` instead of SQLCipher's `ON` (see
//!   [`db::open_connection`]).
//! - **Authorization inside the enclave**: see [`EhrApp`]. Writes need the patient's
//!   warrant and a doctor the [`Registry`] admits; reads are the patient's;
//!   [`EhrRequest::HospitalFetch`] serves an admitted hospital the EHRs that name it. In
//!   `healthchain enclave-process` the registry is [`OnChainRegistry`]: `Directory` on the
//!   consortium ledger (`doctorPrivileges` has `PRIVILEGE_WRITE_EHR`; `hospitalOf` is
//!   `Approved`), one `eth_call` per request, refused when the ledger cannot be read.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod client;
pub mod db;
pub mod local;

mod error;
mod view;

pub use api::{
    BatchAnchor, BatchEhr, BatchReport, BenchRequest, BenchResponse, BenchRow, EhrRecord, EhrReply, EhrRequest,
    EhrResponse, EhrSummary, NewEhr, Receipt, WireTerm, WireWarrant,
};
pub use app::{
    APP_NAME, EhrApp, EhrConfig, KEY_LABEL, MAX_BATCH, MAX_BATCH_WARRANTS, MAX_EHR_ID_LEN, MAX_HOSPITALS, check_limits,
};
pub use auth::{
    AllowList, Clock, ManualClock, OnChainEnclaves, OnChainRegistry, Registry, RegistryError, SystemClock,
    UncheckedRegistry,
};
pub use error::EhrError;
