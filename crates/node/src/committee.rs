//! The key-authorization committee member's service, run by the node: it watches for
//! requests the contracts granted and posts this member's decryption shares (with their
//! Chaum–Pedersen proofs) to `KeyAuthorization`, as `healthchain committee serve --watch`
//! does on its own.
//!
//! A failed round (the chain or the store not answering) is logged and retried at the next
//! poll: the service keeps running, and a request is served once the member can.

use std::path::Path;
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
/// resolves, reading the chain `confirmations` blocks behind its head. Where it has read to
/// is kept in `committee/member-<seat>.cursor` of the environment, so a restarted service
/// resumes there instead of rescanning the chain (and misses no request it had not settled).
pub async fn serve_committee(
    env: Arc<Environment>,
    index: usize,
    interval: Duration,
    confirmations: u64,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CommitteeServiceError> {
    let member = index + 1;
    let share = env.committee_share(index).map_err(|source| CommitteeServiceError::Share { member, source })?;
    let service = CommitteeMember::new(&env, committee_member_key(index), share)
        .await
        .map_err(|source| CommitteeServiceError::Member { member, source })?;
    let cursor_file = env.home.join("committee").join(format!("member-{member}.cursor"));
    let resumed = read_cursor(&cursor_file);
    let mut watch = service.watch(resumed, confirmations);
    tracing::info!(member, address = %service.address(), from_block = ?resumed, confirmations, "committee member serving");
    tokio::pin!(shutdown);
    loop {
        match service.serve_new(&mut watch).await {
            Ok(served) => {
                for request in served {
                    tracing::info!(member, request, "decryption shares posted");
                }
            }
            Err(error) => tracing::warn!(member, %error, "serving granted requests failed; retrying at the next poll"),
        }
        if let Err(error) = write_cursor(&cursor_file, watch.resume_block()) {
            tracing::warn!(member, %error, file = %cursor_file.display(), "cannot keep the committee cursor");
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The block a previous run of the service resumes from; none (read from the deployment)
/// if the file is missing or not a block number.
fn read_cursor(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim().parse() {
        Ok(block) => Some(block),
        Err(_) => {
            tracing::warn!(file = %path.display(), "the committee cursor is not a block number; reading from the deployment");
            None
        }
    }
}

/// Replaces the cursor file whole (written aside, then renamed over it).
fn write_cursor(path: &Path, block: u64) -> std::io::Result<()> {
    let aside = path.with_extension("cursor.new");
    std::fs::write(&aside, format!("{block}\n"))?;
    std::fs::rename(&aside, path)
}
