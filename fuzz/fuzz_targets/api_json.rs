//! The node's HTTP surface as a client reaches it: the router `healthchain_node::app`
//! serves (API, relays, portal), driven in process with `tower::ServiceExt::oneshot` over
//! an environment built from its parts: the in-memory chain with the contracts deployed, an
//! in-memory object store, and an enclave stand-in that answers `Ping` and `Evidence` and
//! refuses everything else (the enclave's own decoders have their targets). Paths, query
//! strings, JSON bodies and relayed ecalls are the fuzzer's.
//!
//! Every answer is well-formed: no 500, an API failure is an `ErrorBody` with a code, and
//! no portal page carries a script (it escapes everything it echoes).
//!
//! Input: a selector byte (method: GET, POST, HEAD, DELETE; content type: JSON, octet
//! stream, text, none), the URI up to the first newline, then the body.
#![no_main]

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use healthchain_core::environment::Environment;
use healthchain_enclave::evidence::Evidence;
use healthchain_enclave::host::{EnclaveBackend, EnclaveError};
use healthchain_enclave::protocol::{Ecall, EcallResult, Refusal, RefusalCode};
use healthchain_fuzz::chain::deployed;
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::selector;
use healthchain_ledger::testing::dev_key;
use healthchain_node::api::ErrorBody;
use healthchain_node::limits::RateLimit;
use healthchain_store::Store;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Stands in for the enclave behind `POST /api/v1/enclave`.
struct RefusingEnclave;

impl EnclaveBackend for RefusingEnclave {
    fn call(&self, ecall: &Ecall, _body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        match ecall {
            Ecall::Ping => Ok((EcallResult::Pong, Vec::new())),
            Ecall::Evidence => Ok((EcallResult::Evidence(self.evidence()), Vec::new())),
            _ => Err(EnclaveError::Refused(Refusal {
                code: RefusalCode::BadRequest,
                message: "the fuzz environment has no enclave".into(),
            })),
        }
    }

    fn evidence(&self) -> Evidence {
        fixtures::evidence()
    }
}

/// The node's router over the environment, built once per process.
fn app() -> &'static Router {
    static APP: OnceLock<(tempfile::TempDir, Router)> = OnceLock::new();
    &APP.get_or_init(|| {
        let deployed = deployed();
        let home = tempfile::tempdir().expect("a temporary directory");
        let environment = Environment {
            home: home.path().to_path_buf(),
            chain: Some(deployed.chain.clone()),
            connection: deployed.connection.clone(),
            deployment: deployed.deployment,
            store: Arc::new(Store::memory()),
            enclave: Arc::new(RefusingEnclave),
            verified: fixtures::evidence().verify(&fixtures::policy(true)).expect("the genuine evidence"),
            committee_key: fixtures::committee().0.key(),
            admin: dev_key(0),
        };
        let unlimited = RateLimit::per_client(NonZeroU32::MAX);
        (home, healthchain_node::app(Arc::new(environment), &unlimited))
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let Some((choice, rest)) = selector(data) else { return };
    let method = [Method::GET, Method::POST, Method::HEAD, Method::DELETE][usize::from(choice % 4)].clone();
    // an answer to HEAD has the headers of the GET answer and no body
    let has_body = method != Method::HEAD;
    let content_type = ["application/json", "application/octet-stream", "text/plain", ""][usize::from(choice / 4 % 4)];
    let (uri, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (rest, &[][..]),
    };
    let mut request = Request::builder().method(method).uri(uri);
    if !content_type.is_empty() {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };

    let runtime = &deployed().runtime;
    let response = runtime.block_on(app().clone().oneshot(request)).expect("the router is infallible");
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t == "application/json");
    let is_html = response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let body = runtime.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).expect("a buffered body");

    assert_ne!(status.as_u16(), 500, "an internal error: {}", String::from_utf8_lossy(&body));
    if has_body && is_json && (status.is_client_error() || status.is_server_error()) {
        let error: ErrorBody = serde_json::from_slice(&body).expect("a failure is an ErrorBody");
        assert!(!error.error.code.is_empty());
    }
    if has_body && is_html {
        let page = String::from_utf8_lossy(&body).to_ascii_lowercase();
        assert!(!page.contains("<script"), "a portal page carries a script");
    }
});
