//! The key-authorization committee member's service, run by the node: it watches for
//! requests the contracts granted and posts this member's decryption shares (with their
//! Chaum–Pedersen proofs) to `KeyAuthorization`, as `healthchain committee serve --watch`
//! does on its own.
//!
//! A failed round (the chain or the store not answering) is logged and retried at the next
//! poll: the service keeps running, and a request is served once the member can.

use std::sync::Arc;
use std::time::Duration;

use healthchain_core::environment::{Environment, EnvironmentError, committee_member_key};
use healthchain_core::share::{CommitteeMember, ShareError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum CommitteeServiceError {
    /// The member's key share is not in the environment.
    #[error("committee member {member}: {source}")]
    Share {
        /// The member's seat (1-based).
        member: usize,
        /// What was wrong.
        source: EnvironmentError,
    },
    /// The member's account could not be set up.
    #[error("committee member {member}: {source}")]
    Member {
        /// The member's seat (1-based).
        member: usize,
        /// What was wrong.
        source: ShareError,
    },
}

/// Serves committee member `index` (0-based) of `env` every `interval` until `shutdown`
/// resolves.
pub async fn serve_committee(
    env: Arc<Environment>,
    index: usize,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CommitteeServiceError> {
    let member = index + 1;
    let share = env.committee_share(index).map_err(|source| CommitteeServiceError::Share { member, source })?;
    let service = CommitteeMember::new(&env, committee_member_key(index), share)
        .await
        .map_err(|source| CommitteeServiceError::Member { member, source })?;
    tracing::info!(member, address = %service.address(), "committee member serving");
    tokio::pin!(shutdown);
    loop {
        match service.serve_pending().await {
            Ok(served) => {
                for request in served {
                    tracing::info!(member, request, "decryption shares posted");
                }
            }
            Err(error) => tracing::warn!(member, %error, "serving granted requests failed; retrying at the next poll"),
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
