//! healthchain's enclave runtime: a process-isolated simulated TEE with attestation,
//! sealing and attested sessions, behind a backend trait hardware TEEs can implement.
//!
//! - [`host`]: [`host::EnclaveBackend`] and the simulated backend, which spawns the
//!   enclave as a separate OS process, talks to it over a socket pair, serves its ocalls
//!   (sealed storage) and restarts it when it dies or stalls.
//! - [`runtime`]: what runs inside the enclave process — launch, self-measurement, sealed
//!   keys, the session endpoint and the trusted-application [`runtime::Dispatcher`].
//! - [`evidence`]: attestation evidence and the verifier [`evidence::Policy`].
//! - [`sealing`]: sealing keys bound to platform and measurement.
//! - [`provision`]: replicated enclaves — attested key provisioning between instances.
//! - [`client`]: the client side of an attested session relayed through the host.
//! - [`protocol`]: the framed, size-limited channel between host and enclave.
//! - [`bytes`]: `Vec<u8>` fields as serde byte strings, for typed requests carrying bulk data.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bytes;
pub mod client;
pub mod evidence;
pub mod host;
pub mod protocol;
pub mod provision;
pub mod runtime;
pub mod sealing;
