//! What the node relays for clients that do not hold the environment themselves (the CLI's
//! role commands and the demo while the node runs; see `healthchain_core::attached`): the
//! embedded chain's JSON-RPC (`POST /rpc`) and the enclave's ecalls (`POST /api/v1/enclave`).
//! Neither needs a user's secret: transactions arrive signed, and session records arrive
//! encrypted to the enclave.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use healthchain_core::environment::Environment;
use healthchain_enclave::host::EnclaveError;
use healthchain_enclave::protocol::{Ecall, EcallResult, decode_relayed, encode_relayed};

use crate::api::ApiError;

/// Largest relayed ecall body: a whole Synthea history (the largest record update the
/// demo sends) is ~5 MB; 64 MiB leaves room and still bounds what one request buffers.
pub const MAX_ECALL_BODY: usize = 64 * 1024 * 1024;

fn body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is over the limit of {limit} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", rejection.body_text())
        }
    })
}

/// The embedded chain's JSON-RPC, as its own server answers it.
#[utoipa::path(post, path = "/rpc",
    request_body(content = String, content_type = "application/json", description = "A JSON-RPC 2.0 request or batch"),
    responses(
        (status = 200, description = "The JSON-RPC response (errors included, as JSON-RPC errors)", content_type = "application/json"),
        (status = 204, description = "A notification: no response"),
        (status = 413, description = "The body is over the chain's limit", body = crate::api::ErrorBody),
        (status = 503, description = "The node follows an external chain: use its endpoint", body = crate::api::ErrorBody)
    )
)]
pub(crate) async fn chain_rpc(
    State(env): State<Arc<Environment>>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(chain) = &env.chain else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this node does not run an embedded chain; send JSON-RPC to the chain it follows",
        ));
    };
    let request = body(request, chain.config().max_request_body_bytes)?;
    Ok(match chain.handle_rpc(&request).await {
        Some(answer) => ([(header::CONTENT_TYPE, "application/json")], answer).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// One ecall for the node's enclave: `header length (u32 LE) ‖ postcard(Ecall) ‖ body`,
/// answered the same way with the `EcallResult` (an enclave refusal included).
#[utoipa::path(post, path = "/api/v1/enclave",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A relayed ecall"),
    responses(
        (status = 200, description = "The enclave's answer (a refusal included)", content_type = "application/octet-stream"),
        (status = 400, description = "Not a relayed ecall", body = crate::api::ErrorBody),
        (status = 403, description = "An operator-only ecall (key provisioning): never relayed", body = crate::api::ErrorBody),
        (status = 413, description = "The body is over the limit", body = crate::api::ErrorBody),
        (status = 503, description = "The enclave failed, stalled or was restarted; the call did not complete", body = crate::api::ErrorBody)
    )
)]
pub(crate) async fn enclave_call(
    State(env): State<Arc<Environment>>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = body(request, MAX_ECALL_BODY)?;
    let (ecall, payload) = decode_relayed::<Ecall>(&request)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_ecall", format!("not a relayed ecall: {e}")))?;
    if ecall.is_operator_only() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "key provisioning is made by the enclave's operator on its host, never through the relay",
        ));
    }
    // the body is the request's tail: shared, not copied
    let payload = request.slice(request.len() - payload.len()..);
    let enclave = env.enclave.clone();
    let answer = tokio::task::spawn_blocking(move || enclave.call(&ecall, &payload))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let encoded = match answer {
        Ok((result, reply)) => encode_relayed(&result, &reply),
        Err(EnclaveError::Refused(refusal)) => encode_relayed(&EcallResult::Refused(refusal), &[]),
        Err(e @ EnclaveError::TooLarge { .. }) => {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string()));
        }
        Err(e) => return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("enclave: {e}"))),
    };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], encoded).into_response())
}
