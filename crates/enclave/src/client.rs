//! The client side of an attested session, relayed through any [`EnclaveBackend`]: the
//! host only ever sees handshake messages and encrypted records.

use healthchain_crypto::session::{self, EnclaveIdentity, ServerHello, Session, SessionError};
use healthchain_crypto::signing::EthKey;
use serde::{Serialize, de::DeserializeOwned};

use crate::host::{EnclaveBackend, EnclaveError};
use crate::protocol::{Ecall, EcallResult, Refusal, RefusalCode};
use crate::runtime::{AppCall, AppError, AppReply};

/// Why a session call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The enclave (or its host) failed or refused.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// The session protocol failed (e.g. the enclave is not the one the chain lists, or a
    /// record was altered in transit).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The trusted application refused the request.
    #[error(transparent)]
    App(#[from] AppError),
    /// The enclave answered out of protocol.
    #[error("enclave protocol violation: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether the enclave could not be reached or run the call (see
    /// [`EnclaveError::is_failure`]); a refusal, a failed session check or an application
    /// error is not a failure.
    pub fn is_failure(&self) -> bool {
        match self {
            ClientError::Enclave(e) => e.is_failure(),
            ClientError::Protocol(_) => true,
            ClientError::Session(_) | ClientError::App(_) => false,
        }
    }
}

/// An established attested session with the enclave behind `backend`.
///
/// If the enclave forgets the session (its process was restarted, e.g. with the node
/// relaying it), the next call runs the handshake again with the same trusted identity and
/// resends the request under the new session: an unknown session is refused before
/// anything is decrypted, so the first attempt had no effect. Trusted applications keep no
/// per-session state, so a request means the same in either session.
pub struct AttestedSession<'a, B: EnclaveBackend + ?Sized> {
    backend: &'a B,
    key: EthKey,
    trusted: EnclaveIdentity,
    id: u64,
    session: Session,
}

fn unexpected(result: &EcallResult) -> ClientError {
    ClientError::Protocol(format!("unexpected answer {result:?}"))
}

/// Runs the handshake as `key`'s account with the enclave the chain lists as `trusted`.
pub fn connect<'a, B: EnclaveBackend + ?Sized>(
    backend: &'a B,
    key: EthKey,
    trusted: EnclaveIdentity,
) -> Result<AttestedSession<'a, B>, ClientError> {
    let (id, session) = handshake(backend, &key, trusted)?;
    Ok(AttestedSession { backend, key, trusted, id, session })
}

/// Handshakes tried before giving up on an enclave that keeps forgetting them.
const HANDSHAKE_ATTEMPTS: usize = 3;

/// [`handshake_once`], started over when the enclave has forgotten the half-open handshake
/// by the time the second message arrives (its process restarted in between, e.g. with the
/// node relaying it): nothing was established, so starting over is safe.
fn handshake<B: EnclaveBackend + ?Sized>(
    backend: &B,
    key: &EthKey,
    trusted: EnclaveIdentity,
) -> Result<(u64, Session), ClientError> {
    for _ in 1..HANDSHAKE_ATTEMPTS {
        match handshake_once(backend, key, trusted) {
            Err(ClientError::Enclave(error)) if is_unknown_session(&error) => continue,
            other => return other,
        }
    }
    handshake_once(backend, key, trusted)
}

fn handshake_once<B: EnclaveBackend + ?Sized>(
    backend: &B,
    key: &EthKey,
    trusted: EnclaveIdentity,
) -> Result<(u64, Session), ClientError> {
    let (state, hello) = session::client_start(key.clone(), trusted, &mut rand::rng());
    let (result, reply) = backend.call(&Ecall::SessionOpen, &hello.to_bytes())?;
    let EcallResult::SessionOpened { session: id } = result else {
        return Err(unexpected(&result));
    };
    let (session, finish) = state.finish(&ServerHello::from_bytes(&reply)?)?;
    let (result, _) = backend.call(&Ecall::SessionFinish { session: id }, &finish.to_bytes())?;
    match result {
        EcallResult::SessionEstablished { .. } => Ok((id, session)),
        other => Err(unexpected(&other)),
    }
}

fn is_unknown_session(error: &EnclaveError) -> bool {
    matches!(error, EnclaveError::Refused(Refusal { code: RefusalCode::UnknownSession, .. }))
}

impl<B: EnclaveBackend + ?Sized> AttestedSession<'_, B> {
    /// Sends `request` to trusted application `app` and returns its response.
    pub fn call_raw(&mut self, app: &str, request: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let call = postcard::to_stdvec(&AppCall { app: app.to_string(), request })
            .map_err(|e| ClientError::Protocol(format!("unencodable call: {e}")))?;
        let record = self.session.seal(&call)?;
        let (result, reply) = match self.backend.call(&Ecall::SessionRecord { session: self.id }, &record) {
            Err(error) if is_unknown_session(&error) => {
                (self.id, self.session) = handshake(self.backend, &self.key, self.trusted)?;
                let record = self.session.seal(&call)?;
                self.backend.call(&Ecall::SessionRecord { session: self.id }, &record)?
            }
            other => other?,
        };
        if result != EcallResult::SessionReply {
            return Err(unexpected(&result));
        }
        let plaintext = self.session.open(&reply)?;
        match postcard::from_bytes::<AppReply>(&plaintext) {
            Ok(AppReply::Ok(response)) => Ok(response),
            Ok(AppReply::Err(error)) => Err(error.into()),
            Err(e) => Err(ClientError::Protocol(format!("undecodable reply: {e}"))),
        }
    }

    /// Typed call: postcard-encodes the request and decodes the response.
    pub fn call<Q: Serialize, A: DeserializeOwned>(&mut self, app: &str, request: &Q) -> Result<A, ClientError> {
        let request =
            postcard::to_stdvec(request).map_err(|e| ClientError::Protocol(format!("unencodable request: {e}")))?;
        let response = self.call_raw(app, request)?;
        postcard::from_bytes(&response).map_err(|e| ClientError::Protocol(format!("undecodable response: {e}")))
    }

    /// Ends the session on both sides.
    pub fn close(self) -> Result<(), ClientError> {
        self.backend.call(&Ecall::SessionClose { session: self.id }, &[])?;
        Ok(())
    }

    /// The session id (transcript hash), for binding requests to this session.
    pub fn id(&self) -> alloy_primitives::B256 {
        self.session.id()
    }
}
