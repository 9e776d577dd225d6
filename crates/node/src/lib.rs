//! The services `healthchain node` runs over an [`Environment`](healthchain_core::environment::Environment):
//! for now the HTTP API ([`api`]) with its OpenAPI document at `/openapi.json`, and the web
//! portal (`/`, `/records/{id}`: server-rendered HTML over the same data).
//!
//! The API is read-only so far: records with the verification status of every version, the
//! accesses to a record, the catalog, the node's health. It never needs a user's secret;
//! write endpoints (relaying client-signed transactions and attested-session traffic) come
//! with the rest of the node.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
mod portal;

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
    axum::serve(listener, api::router(env)).with_graceful_shutdown(shutdown).await
}

/// Binds `address` for [`serve`], saying which address could not be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))
}
