//! In-process JSON-RPC transport for alloy: requests go straight to [`Chain::handle_rpc`]
//! without sockets, through the same JSON encoding and code paths as HTTP.

use std::task::{Context, Poll};

use alloy_json_rpc::{RequestPacket, ResponsePacket, RpcError};
use alloy_provider::RootProvider;
use alloy_rpc_client::RpcClient;
use alloy_transport::{TransportError, TransportFut};

use crate::chain::Chain;

/// A `tower::Service<RequestPacket>` (hence an alloy `Transport`) that serves requests from an
/// in-process [`Chain`].
///
/// ```no_run
/// # fn demo(chain: healthchain_chain::Chain) {
/// use alloy_provider::{Provider, ProviderBuilder};
/// let client = alloy_rpc_client::RpcClient::new(chain.transport(), true);
/// let provider = ProviderBuilder::new().connect_client(client);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InProcessTransport {
    chain: Chain,
}

impl InProcessTransport {
    /// A transport to `chain`.
    pub fn new(chain: Chain) -> Self {
        InProcessTransport { chain }
    }
}

impl tower::Service<RequestPacket> for InProcessTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        let chain = self.chain.clone();
        Box::pin(async move {
            let body = serde_json::to_vec(&req).map_err(RpcError::SerError)?;
            match chain.handle_rpc(&body).await {
                Some(out) => serde_json::from_slice::<ResponsePacket>(&out)
                    .map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&out))),
                None => Ok(ResponsePacket::Batch(Vec::new())),
            }
        })
    }
}

impl Chain {
    /// The in-process transport to this chain.
    pub fn transport(&self) -> InProcessTransport {
        InProcessTransport::new(self.clone())
    }

    /// An alloy RPC client over the in-process transport (marked local, so alloy polls fast).
    /// Pass it to `ProviderBuilder::new().connect_client(..)` (optionally with `.wallet(..)`).
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient::new(self.transport(), true)
    }

    /// A plain alloy provider (no fillers) over the in-process transport.
    pub fn root_provider(&self) -> RootProvider {
        RootProvider::new(self.rpc_client())
    }
}
