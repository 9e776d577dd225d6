//! Calling the EHR store over an attested session.

use healthchain_enclave::client::{AttestedSession, ClientError};
use healthchain_enclave::host::EnclaveBackend;

use crate::api::{EhrReply, EhrRequest, EhrResponse};
use crate::app::APP_NAME;
use crate::error::EhrError;

/// Why a call to the EHR store failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The session or the enclave failed.
    #[error(transparent)]
    Session(#[from] ClientError),
    /// The EHR store refused the request (nothing changed).
    #[error(transparent)]
    Refused(#[from] EhrError),
}

/// Sends `request` to the EHR store over `session` and returns its typed answer.
pub fn call<B: EnclaveBackend + ?Sized>(
    session: &mut AttestedSession<'_, B>,
    request: &EhrRequest,
) -> Result<EhrResponse, CallError> {
    let reply: EhrReply = session.call(APP_NAME, request)?;
    Ok(reply?)
}
