//! healthchain's client SDK: what each role (patient, doctor, hospital, researcher,
//! committee member, consortium operator) does, built on the lower crates.
//!
//! - [`keystore`]: every user's ledger account key, encrypted at rest (Ethereum keystore v3).
//! - [`environment`]: the embedded defaults (chain, contracts, store, enclave, committee) in one directory.
//! - [`host`]: the enclave host: launching the enclave process, serving its object and ledger ocalls.
//! - [`attached`]: joining an environment a running `healthchain node` holds (its chain RPC and enclave relay).
//! - [`records`]: the data owner's records: register, update through the enclave, import a
//!   patient bundle, the owner's wallet; verification for anyone.
//! - [`share`]: paid, policy-checked sharing (seed 000 Algorithm 2): policies, the catalog,
//!   data users, committee members, access logs and earnings.
//! - [`clinical`]: seed 001 (TrustHealth): hospitals and doctors on the Directory, treatment
//!   keys, warrants, doctors writing EHRs (hash on chain, EHR into the enclave's SQLCipher
//!   store), the patient's integrity check, hospitals fetching over attested sessions.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attached;
pub mod clinical;
pub mod environment;
pub mod host;
pub mod keystore;
pub mod records;
pub mod share;
