//! Riding out an endpoint that goes away and comes back ([`Connection::http_following`]).
//!
//! A JSON-RPC request that failed in transport may or may not have reached the node, and
//! what is safe to do about it depends on the method:
//! - **reads** ([`READS`]: methods that change nothing) are sent again on any transport
//!   failure — connection refused, reset or closed, a response cut short — with backoff,
//!   until the endpoint's patience runs out;
//! - **everything else** (transactions, `evm_*`) is sent again only when it cannot have
//!   reached the node: the connection was refused, or the node answered 429 without
//!   handling it. A transaction whose fate is unknown is settled by
//!   [`Connection::send_raw_transaction`], which asks the node for it by hash once the node
//!   answers again and resends the same bytes only if the node does not have it.
//!
//! [`Connection::http_following`]: crate::client::Connection::http_following
//! [`Connection::send_raw_transaction`]: crate::client::Connection::send_raw_transaction

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alloy_json_rpc::{RequestPacket, ResponsePacket, RpcError};
use alloy_transport::{TransportError, TransportErrorKind, TransportFut};
use tower::{Layer, Service};

/// The JSON-RPC methods that only read, so sending one twice is harmless.
pub const READS: &[&str] = &[
    "eth_accounts",
    "eth_blobBaseFee",
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getCode",
    "eth_getLogs",
    "eth_getProof",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_maxPriorityFeePerGas",
    "eth_syncing",
    "net_version",
    "web3_clientVersion",
];

/// The first pause before sending again; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// What a failed request says about whether the node received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// It cannot have reached the node (connection refused, or turned away with 429).
    NotDelivered,
    /// The transport failed after the request may have been sent (reset, closed, cut short).
    Unknown,
    /// The node answered (an error response, or a response that does not decode).
    Answered,
}

/// Whether the node received the request that failed with `error`.
pub(crate) fn delivery(error: &TransportError) -> Delivery {
    let RpcError::Transport(kind) = error else { return Delivery::Answered };
    match kind {
        TransportErrorKind::HttpError(http) | TransportErrorKind::HttpErrorWithRetryAfter { error: http, .. } => {
            if http.status == 429 { Delivery::NotDelivered } else { Delivery::Answered }
        }
        TransportErrorKind::Custom(_) | TransportErrorKind::BackendGone => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = kind.as_custom().map(|e| e as _);
            while let Some(error) = cause {
                if let Some(io) = error.downcast_ref::<std::io::Error>()
                    && io.kind() == std::io::ErrorKind::ConnectionRefused
                {
                    return Delivery::NotDelivered;
                }
                cause = error.source();
            }
            Delivery::Unknown
        }
        _ => Delivery::Answered,
    }
}

/// Whether `request` may be sent again after failing with `error`.
fn may_resend(request: &RequestPacket, error: &TransportError) -> bool {
    match delivery(error) {
        Delivery::NotDelivered => true,
        Delivery::Unknown => request.method_names().all(|method| READS.contains(&method)),
        Delivery::Answered => false,
    }
}

/// The layer that sends requests again as the module documentation says, for up to
/// `patience` after the first attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience(pub(crate) Duration);

impl<S> Layer<S> for Patience {
    type Service = Patient<S>;

    fn layer(&self, inner: S) -> Patient<S> {
        Patient { inner, patience: self.0 }
    }
}

/// The service [`Patience`] puts in front of a transport.
#[derive(Debug, Clone)]
pub(crate) struct Patient<S> {
    inner: S,
    patience: Duration,
}

impl<S> Service<RequestPacket> for Patient<S>
where
    S: Service<RequestPacket, Response = ResponsePacket, Error = TransportError, Future = TransportFut<'static>>
        + Clone
        + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> TransportFut<'static> {
        // the service polled ready serves this request; a clone stays for the next one
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let deadline = Instant::now() + self.patience;
        Box::pin(async move {
            let mut pause = FIRST_PAUSE;
            loop {
                let error = match inner.call(request.clone()).await {
                    Ok(response) => return Ok(response),
                    Err(error) => error,
                };
                if !may_resend(&request, &error) || Instant::now() + pause > deadline {
                    return Err(error);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        })
    }
}

/// A scripted transport for tests: answers each request with the next scripted answer.
#[cfg(test)]
pub(crate) mod script {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use alloy_json_rpc::{ErrorPayload, RequestPacket, Response, ResponsePacket, ResponsePayload};
    use alloy_transport::{TransportErrorKind, TransportFut};

    /// What the "node" does with one request.
    pub(crate) enum Answer {
        /// Answers with this result.
        Result(serde_json::Value),
        /// Refuses with this message (a JSON-RPC error response).
        Refusal(&'static str),
        /// The connection is reset after the request was sent.
        Reset,
        /// The connection is refused.
        Refused,
    }

    /// The script: expected method and answer, in order; the methods asked, as asked.
    #[derive(Clone, Default)]
    pub(crate) struct Script {
        answers: Arc<Mutex<VecDeque<(&'static str, Answer)>>>,
        asked: Arc<Mutex<Vec<String>>>,
    }

    impl Script {
        pub(crate) fn new(answers: impl IntoIterator<Item = (&'static str, Answer)>) -> Self {
            Script { answers: Arc::new(Mutex::new(answers.into_iter().collect())), asked: Arc::default() }
        }

        /// The methods asked so far.
        pub(crate) fn asked(&self) -> Vec<String> {
            self.asked.lock().expect("not poisoned").clone()
        }

        /// Whether every scripted answer was given.
        pub(crate) fn done(&self) -> bool {
            self.answers.lock().expect("not poisoned").is_empty()
        }
    }

    impl tower::Service<RequestPacket> for Script {
        type Response = ResponsePacket;
        type Error = alloy_transport::TransportError;
        type Future = TransportFut<'static>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: RequestPacket) -> TransportFut<'static> {
            let RequestPacket::Single(request) = request else { panic!("the script answers single requests") };
            self.asked.lock().expect("not poisoned").push(request.method().to_string());
            let (method, answer) = self
                .answers
                .lock()
                .expect("not poisoned")
                .pop_front()
                .unwrap_or_else(|| panic!("unscripted {}", request.method()));
            assert_eq!(method, request.method(), "the request scripted next");
            let io = |kind| TransportErrorKind::custom(std::io::Error::new(kind, "scripted"));
            let payload = match answer {
                Answer::Result(value) => {
                    ResponsePayload::Success(serde_json::value::to_raw_value(&value).expect("a JSON value"))
                }
                Answer::Refusal(message) => {
                    ResponsePayload::Failure(ErrorPayload { code: -32000, message: message.into(), data: None })
                }
                Answer::Reset => return Box::pin(async move { Err(io(std::io::ErrorKind::ConnectionReset)) }),
                Answer::Refused => return Box::pin(async move { Err(io(std::io::ErrorKind::ConnectionRefused)) }),
            };
            let response = Response { id: request.id().clone(), payload };
            Box::pin(async move { Ok(ResponsePacket::Single(response)) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script::{Answer, Script};
    use super::*;
    use alloy_transport::HttpError;

    fn io(kind: std::io::ErrorKind) -> TransportError {
        TransportErrorKind::custom(std::io::Error::new(kind, "test"))
    }

    fn packet(methods: &[&'static str]) -> RequestPacket {
        let mut packet = RequestPacket::with_capacity(methods.len());
        for (id, method) in methods.iter().enumerate() {
            let request = alloy_json_rpc::Request::new(*method, alloy_json_rpc::Id::Number(id as u64), ());
            packet.push(request.serialize().expect("serializes"));
        }
        packet
    }

    #[test]
    fn what_a_failure_says_about_delivery() {
        assert_eq!(delivery(&io(std::io::ErrorKind::ConnectionRefused)), Delivery::NotDelivered);
        assert_eq!(delivery(&io(std::io::ErrorKind::ConnectionReset)), Delivery::Unknown);
        assert_eq!(delivery(&io(std::io::ErrorKind::UnexpectedEof)), Delivery::Unknown);
        assert_eq!(
            delivery(&TransportErrorKind::custom_str("connection closed before message completed")),
            Delivery::Unknown
        );
        let status =
            |status| RpcError::Transport(TransportErrorKind::HttpError(HttpError { status, body: String::new() }));
        assert_eq!(delivery(&status(429)), Delivery::NotDelivered);
        assert_eq!(delivery(&status(500)), Delivery::Answered);
        let refusal = alloy_json_rpc::ErrorPayload { code: -32000, message: "nonce too low".into(), data: None };
        assert_eq!(delivery(&RpcError::ErrorResp(refusal)), Delivery::Answered);
    }

    #[test]
    fn only_reads_are_sent_again_when_delivery_is_unknown() {
        let reset = io(std::io::ErrorKind::ConnectionReset);
        let refused = io(std::io::ErrorKind::ConnectionRefused);
        assert!(may_resend(&packet(&["eth_call"]), &reset));
        assert!(may_resend(&packet(&["eth_getLogs", "eth_blockNumber"]), &reset));
        assert!(!may_resend(&packet(&["eth_sendRawTransaction"]), &reset));
        assert!(!may_resend(&packet(&["eth_call", "evm_mine"]), &reset));
        assert!(may_resend(&packet(&["eth_sendRawTransaction"]), &refused));
        assert!(may_resend(&packet(&["evm_mine"]), &refused));
    }

    async fn ask(
        script: &Script,
        patience: Duration,
        method: &'static str,
    ) -> Result<serde_json::Value, TransportError> {
        let client = alloy_rpc_client::RpcClient::builder().layer(Patience(patience)).transport(script.clone(), true);
        client.request::<_, serde_json::Value>(method, ()).await
    }

    #[tokio::test]
    async fn reads_are_sent_again_until_the_node_answers_and_other_requests_are_not() {
        let script = Script::new([
            ("eth_blockNumber", Answer::Reset),
            ("eth_blockNumber", Answer::Refused),
            ("eth_blockNumber", Answer::Result("0x7".into())),
        ]);
        assert_eq!(ask(&script, Duration::from_secs(60), "eth_blockNumber").await.expect("answered"), "0x7");
        assert!(script.done());

        let script = Script::new([("evm_mine", Answer::Reset)]);
        assert!(ask(&script, Duration::from_secs(60), "evm_mine").await.is_err(), "a reset write is not resent");
        let script = Script::new([("evm_mine", Answer::Refused), ("evm_mine", Answer::Result("0x0".into()))]);
        assert!(ask(&script, Duration::from_secs(60), "evm_mine").await.is_ok(), "a refused write is");

        let script = Script::new([("eth_blockNumber", Answer::Reset)]);
        assert!(ask(&script, Duration::ZERO, "eth_blockNumber").await.is_err(), "no patience, no second attempt");
        let script = Script::new([("eth_blockNumber", Answer::Refusal("no"))]);
        assert!(ask(&script, Duration::from_secs(60), "eth_blockNumber").await.is_err(), "a refusal is an answer");
        assert_eq!(script.asked().len(), 1);
    }
}
