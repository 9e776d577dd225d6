//! healthchain's client SDK: what each role (patient, doctor, hospital, researcher,
//! committee member, consortium operator) does, built on the lower crates.
//!
//! - [`keystore`]: every user's ledger account key, encrypted at rest (Ethereum keystore v3).
//! - [`records`]: the data owner's side of a record: preparing an upload.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod keystore;
pub mod records;
