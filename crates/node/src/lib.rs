//! The services `healthchain node` runs over an [`Environment`](healthchain_core::environment::Environment):
//! the HTTP API ([`api`]) with its OpenAPI document at `/openapi.json`, the relays for
//! clients on the node's environment ([`relay`]), the web portal (`/`, `/records/{id}`,
//! `/patients/{address}`, `/jobs`, `/consortium`: server-rendered HTML over the same data),
//! and the committee member's service ([`committee`]).
//!
//! The API reads records with the verification status of every version, the accesses to a
//! record, the catalog, the consortium and the node's health; it relays client-signed
//! transactions, the chain's JSON-RPC and attested-session traffic ([`relay`]). It never
//! needs a user's secret.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod committee;
mod portal;
pub mod relay;

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;

use std::net::SocketAddr;
use std::sync::Arc;

use healthchain_core::environment::Environment;
use tokio::net::TcpListener;

/// Serves the API of `env` on `listener` until `shutdown` resolves; in-flight requests
/// finish first.
pub async fn serve(
    env: Arc<Environment>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(env).layer(middleware::from_fn(log_request));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Logs every request's method, path, status and duration through `tracing` (never a body
/// or a query string).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(%method, %path, status, micros, "request");
    response
}

/// Binds `address` for [`serve`], saying which address could not be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))
}
