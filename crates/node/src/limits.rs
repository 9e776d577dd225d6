//! Per-client rate limits: each client (by IP address) may make `per_second` requests a
//! second, in bursts of as many; beyond that it gets `429 rate_limited` with a
//! `Retry-After`, and the request is not served. Clients the node cannot attribute (no peer
//! address) share one budget.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::api::ApiError;

/// The default: generous for one person's tools (the demo through a node makes ~350
/// requests a second), a wall against a runaway or hostile client.
pub const DEFAULT_PER_SECOND: NonZeroU32 = NonZeroU32::new(1_000).expect("not zero");

/// The per-client budget shared by every request of a node.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_second: NonZeroU32,
}

impl RateLimit {
    /// `per_second` requests a second per client, in bursts of as many.
    pub fn per_client(per_second: NonZeroU32) -> RateLimit {
        let quota = Quota::per_second(per_second).allow_burst(per_second);
        RateLimit { limiter: Arc::new(RateLimiter::keyed(quota)), per_second }
    }

    /// Forgets clients that have been quiet for a while, so the table of clients stays as
    /// small as the set of recent ones (call periodically).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// The middleware: serves the request within the client's budget, else answers 429.
    pub async fn enforce(self, request: Request, next: Next) -> Response {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
        match self.limiter.check_key(&client) {
            Ok(()) => next.run(request).await,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.max(Duration::from_secs(1)).as_secs();
                let error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("more than {} requests a second from {client}; retry in {seconds} s", self.per_second),
                );
                let mut response = error.into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
        }
    }
}
