//! # healthchain-update — seed 000's update application and record verification
//!
//! A record is anchored once on the shared ledger by a chameleon hash `h`; every version
//! `j` (the first included) is validated inside the enclave, which opens `h` for the
//! message `(recordId, j, d_j)` with the owner's trapdoor and logs `(j, d_j, μ_j)` on
//! `UpdateLog` under a signed report. The anchor never changes.
//!
//! | module | what |
//! |---|---|
//! | [`api`] | the requests and typed refusals that cross the attested session |
//! | [`manifest`] | the public upload manifest (`Y`, `EK`, data type) committed by hash on-chain |
//! | [`view`] | reading the chain over raw JSON-RPC (the enclave relays through its host; anyone else through an endpoint) |
//! | [`history`] | checking versions against the log and the store: what "qualified" means, for the enclave and for `verify` |
//! | [`app`] | the trusted application `update` (seed 000 Algorithm 1) |

pub mod api;
pub mod app;
pub mod history;
pub mod manifest;
pub mod view;

pub use api::{UpdateAccepted, UpdateRefusal, UpdateReply, UpdateRequest};
pub use app::{APP_NAME, UpdateApp};
pub use history::{VerifyReport, VersionStatus, verify_record};
pub use manifest::Manifest;
pub use view::{ChainView, HostLedger, LedgerRpc, MAX_LOG_RANGE, ReadError};
