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
pub mod limits;
mod portal;
pub mod relay;

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use limits::RateLimit;

use std::net::SocketAddr;
use std::sync::Arc;

use healthchain_core::environment::Environment;
use tokio::net::TcpListener;

/// The whole HTTP surface of `env`: the API, the relays and the portal, each request
/// logged and held to the per-client `limit`.
pub fn app(env: Arc<Environment>, limit: &RateLimit) -> Router {
    let limit = limit.clone();
    api::router(env)
        .layer(middleware::from_fn(move |request, next| limit.clone().enforce(request, next)))
        .layer(middleware::from_fn(log_request))
}

/// Serves [`app`] on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    env: Arc<Environment>,
    listener: TcpListener,
    limit: RateLimit,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(env, &limit);
    let forget = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            limit.forget_idle();
        }
    });
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    forget.abort();
    served
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
