//! JSON-RPC over HTTP (axum 0.8), by default on loopback.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use tokio::sync::oneshot;

use crate::chain::Chain;
use crate::error::ChainError;

/// A running HTTP JSON-RPC server. Dropping it stops the server (in the background);
/// [`HttpServer::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HttpServer {
    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`, the JSON-RPC endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn rpc_handler(State(chain): State<Chain>, body: Bytes) -> Response {
    match chain.handle_rpc(&body).await {
        Some(out) => ([(header::CONTENT_TYPE, "application/json")], out).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

impl Chain {
    /// Serves this chain's JSON-RPC at `POST /` on `addr` (use `127.0.0.1:0` for a free
    /// loopback port) on the current tokio runtime. Bodies above
    /// [`crate::ChainConfig::max_request_body_bytes`] get HTTP 413.
    pub async fn serve_http(&self, addr: SocketAddr) -> Result<HttpServer, ChainError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = Router::new()
            .route("/", post(rpc_handler))
            .layer(DefaultBodyLimit::max(self.config().max_request_body_bytes))
            .with_state(self.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(HttpServer { addr: local, stop: Some(stop), task: Some(task) })
    }
}
