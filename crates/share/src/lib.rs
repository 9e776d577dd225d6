//! # healthchain-share — seed 000's sharing application (Algorithm 2)
//!
//! A data user pays `AccessControl` for a job over records whose policies are in force; the
//! key-authorization committee posts threshold decryption shares of each record's wrapped
//! key towards the named enclave; the enclave checks the request and the shares on-chain,
//! opens both key layers, keeps only versions that are qualified (the same check `verify`
//! runs for anyone), decrypts, computes, and returns only the result, encrypted to the data
//! user, with a signed completion report that settles the payment.
//!
//! | module | what |
//! |---|---|
//! | [`api`] | the request and typed refusals that cross the attested session |
//! | [`reads`] | the shared-ledger reads: request, its event, grant, committee, shares; bulk event queries |
//! | [`verify`] | which versions are qualified, for many records at once |
//! | [`app`] | the trusted application `share` |

pub mod api;
pub mod app;
pub mod reads;
pub mod verify;

pub use api::{RecordHints, RecordUse, ShareAccepted, ShareRefusal, ShareReply, ShareRequest};
pub use app::{APP_NAME, ShareApp, result_context, share_context};
