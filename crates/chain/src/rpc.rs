//! Ethereum JSON-RPC 2.0 over a [`Chain`]: request parsing, batches, dispatch and error codes.
//!
//! Both transports (HTTP and in-process) hand raw request bytes to [`Chain::handle_rpc`], so
//! they behave identically.
//!
//! Error codes: `-32700` parse error, `-32600` invalid request, `-32601` method not found,
//! `-32602` invalid params (including undecodable transactions), `-32603` internal error,
//! `-32000` a refused transaction or failed call (geth's code, with geth's messages), `3`
//! execution reverted with the revert data in `data` (like geth), `-32005` a limit exceeded
//! (`eth_getLogs` range or result size, batch size).

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::chain::Chain;
use crate::error::{CallError, QueryError, TxError};

/// JSON-RPC error codes used by this server.
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Generic server error (refused transaction, failed call), as geth uses it.
    pub const SERVER_ERROR: i64 = -32000;
    /// Limit exceeded (EIP-1474).
    pub const LIMIT_EXCEEDED: i64 = -32005;
    /// Execution reverted; `data` holds the revert data.
    pub const EXECUTION_REVERTED: i64 = 3;
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// Message.
    pub message: String,
    /// Optional data (the revert data for code 3).
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    fn invalid_params(message: impl std::fmt::Display) -> Self {
        RpcError::new(codes::INVALID_PARAMS, format!("invalid params: {message}"))
    }

    fn to_value(&self) -> Value {
        let mut o = Map::new();
        o.insert("code".into(), json!(self.code));
        o.insert("message".into(), json!(self.message));
        if let Some(d) = &self.data {
            o.insert("data".into(), d.clone());
        }
        Value::Object(o)
    }
}

impl From<TxError> for RpcError {
    fn from(e: TxError) -> Self {
        let code = match e {
            TxError::Decode(_) => codes::INVALID_PARAMS,
            _ => codes::SERVER_ERROR,
        };
        RpcError::new(code, e.to_string())
    }
}

impl From<QueryError> for RpcError {
    fn from(e: QueryError) -> Self {
        let code = match e {
            QueryError::LogRangeTooLarge { .. } | QueryError::TooManyLogs(_) => codes::LIMIT_EXCEEDED,
            QueryError::Invalid(_) => codes::INVALID_PARAMS,
            QueryError::Storage(_) => codes::INTERNAL_ERROR,
            QueryError::UnknownBlock | QueryError::HistoricalState { .. } => codes::SERVER_ERROR,
        };
        RpcError::new(code, e.to_string())
    }
}

impl From<CallError> for RpcError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Reverted { ref data, .. } => {
                RpcError { code: codes::EXECUTION_REVERTED, message: e.to_string(), data: Some(json!(data)) }
            }
            CallError::Halted(m) | CallError::Invalid(m) => RpcError::new(codes::SERVER_ERROR, m),
            CallError::Query(q) => q.into(),
        }
    }
}

fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_value()}),
    }
}

fn param<T: DeserializeOwned>(params: &[Value], i: usize) -> Result<T, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Err(RpcError::invalid_params(format!("missing value for required argument {i}"))),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| RpcError::invalid_params(format!("argument {i}: {e}")))
        }
    }
}

fn opt_param<T: DeserializeOwned>(params: &[Value], i: usize) -> Result<Option<T>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| RpcError::invalid_params(format!("argument {i}: {e}"))),
    }
}

/// A non-negative integer given as a JSON number, a hex quantity or a decimal string.
fn u64_param(params: &[Value], i: usize) -> Result<Option<u64>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| RpcError::invalid_params(format!("argument {i}: not a non-negative integer"))),
        Some(Value::String(s)) => {
            let r = if let Some(h) = s.strip_prefix("0x") { u64::from_str_radix(h, 16) } else { s.parse::<u64>() };
            r.map(Some).map_err(|_| RpcError::invalid_params(format!("argument {i}: not a quantity: {s}")))
        }
        Some(_) => Err(RpcError::invalid_params(format!("argument {i}: not a quantity"))),
    }
}

fn block_param(params: &[Value], i: usize) -> Result<BlockId, RpcError> {
    Ok(opt_param::<BlockId>(params, i)?.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)))
}

fn quantity(n: impl Into<u128>) -> Value {
    json!(format!("{:#x}", n.into()))
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
}

impl Chain {
    /// Handles one JSON-RPC request body (a single request or a batch) and returns the response
    /// body, or `None` when the body held only notifications (requests without `id`).
    pub async fn handle_rpc(&self, body: &[u8]) -> Option<Vec<u8>> {
        let parsed: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                let r = response(Value::Null, Err(RpcError::new(codes::PARSE_ERROR, format!("parse error: {e}"))));
                return Some(r.to_string().into_bytes());
            }
        };
        let out = match parsed {
            Value::Array(items) => {
                if items.is_empty() {
                    Some(response(Value::Null, Err(RpcError::new(codes::INVALID_REQUEST, "empty batch"))))
                } else if items.len() > self.config().max_batch_size {
                    Some(response(
                        Value::Null,
                        Err(RpcError::new(
                            codes::LIMIT_EXCEEDED,
                            format!(
                                "batch too large: {} requests, limit {}",
                                items.len(),
                                self.config().max_batch_size
                            ),
                        )),
                    ))
                } else {
                    let results = futures::future::join_all(items.into_iter().map(|v| self.handle_one(v))).await;
                    let results: Vec<Value> = results.into_iter().flatten().collect();
                    if results.is_empty() { None } else { Some(Value::Array(results)) }
                }
            }
            other => self.handle_one(other).await,
        };
        out.map(|v| v.to_string().into_bytes())
    }

    async fn handle_one(&self, req: Value) -> Option<Value> {
        let Value::Object(mut obj) = req else {
            return Some(response(
                Value::Null,
                Err(RpcError::new(codes::INVALID_REQUEST, "invalid request: not an object")),
            ));
        };
        let id = obj.remove("id");
        let notification = id.is_none();
        let id = id.unwrap_or(Value::Null);
        if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
            return Some(response(Value::Null, Err(RpcError::new(codes::INVALID_REQUEST, "invalid request: bad id"))));
        }
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(response(
                id,
                Err(RpcError::new(codes::INVALID_REQUEST, "invalid request: jsonrpc must be \"2.0\"")),
            ));
        }
        let Some(Value::String(method)) = obj.remove("method") else {
            return Some(response(id, Err(RpcError::new(codes::INVALID_REQUEST, "invalid request: missing method"))));
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Some(response(id, Err(RpcError::invalid_params("params must be an array"))));
            }
        };
        let result = self.dispatch(&method, &params).await;
        if notification { None } else { Some(response(id, result)) }
    }

    /// Executes one method call.
    pub async fn dispatch(&self, method: &str, p: &[Value]) -> Result<Value, RpcError> {
        match method {
            "eth_chainId" => Ok(quantity(self.chain_id())),
            "net_version" => Ok(json!(self.chain_id().to_string())),
            "net_listening" => Ok(json!(true)),
            "eth_syncing" => Ok(json!(false)),
            "eth_accounts" => Ok(json!([])),
            "web3_clientVersion" => Ok(json!(format!("healthchain/v{}/revm", env!("CARGO_PKG_VERSION")))),
            "eth_blockNumber" => Ok(quantity(self.block_number()?)),
            "eth_getBalance" => {
                let a: Address = param(p, 0)?;
                to_json(self.balance(a, block_param(p, 1)?)?)
            }
            "eth_getTransactionCount" => {
                let a: Address = param(p, 0)?;
                Ok(quantity(self.transaction_count(a, block_param(p, 1)?)?))
            }
            "eth_getCode" => {
                let a: Address = param(p, 0)?;
                to_json(self.code(a, block_param(p, 1)?)?)
            }
            "eth_getStorageAt" => {
                let a: Address = param(p, 0)?;
                let slot: U256 = param(p, 1)?;
                to_json(self.storage_at(a, slot, block_param(p, 2)?)?)
            }
            "eth_call" => {
                let req: TransactionRequest = param(p, 0)?;
                if p.get(2).is_some_and(|v| !v.is_null()) {
                    return Err(RpcError::invalid_params("state overrides are not supported"));
                }
                to_json(self.call(&req, block_param(p, 1)?)?)
            }
            "eth_estimateGas" => {
                let req: TransactionRequest = param(p, 0)?;
                if p.get(2).is_some_and(|v| !v.is_null()) {
                    return Err(RpcError::invalid_params("state overrides are not supported"));
                }
                Ok(quantity(self.estimate_gas(&req, block_param(p, 1)?)?))
            }
            "eth_sendRawTransaction" => {
                let raw: Bytes = param(p, 0)?;
                to_json(self.send_raw_transaction(&raw).await?)
            }
            "eth_getTransactionReceipt" => {
                let h: B256 = param(p, 0)?;
                to_json(self.transaction_receipt(h)?)
            }
            "eth_getTransactionByHash" => {
                let h: B256 = param(p, 0)?;
                to_json(self.transaction_by_hash(h)?)
            }
            "eth_getLogs" => {
                let f: Filter = param(p, 0)?;
                to_json(self.logs(&f)?)
            }
            "eth_getBlockByNumber" => {
                let n: BlockNumberOrTag = param(p, 0)?;
                let full: bool = opt_param(p, 1)?.unwrap_or(false);
                to_json(self.block_by_number(n, full)?)
            }
            "eth_getBlockByHash" => {
                let h: B256 = param(p, 0)?;
                let full: bool = opt_param(p, 1)?.unwrap_or(false);
                to_json(self.block_by_hash(h, full)?)
            }
            "eth_gasPrice" => Ok(quantity(self.gas_price())),
            "eth_maxPriorityFeePerGas" => Ok(quantity(self.max_priority_fee_per_gas())),
            "eth_feeHistory" => {
                let count = u64_param(p, 0)?
                    .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
                let newest: BlockNumberOrTag = param(p, 1)?;
                let percentiles: Vec<f64> = opt_param(p, 2)?.unwrap_or_default();
                to_json(self.fee_history(count, newest, &percentiles)?)
            }
            "evm_increaseTime" => {
                let secs = u64_param(p, 0)?
                    .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
                Ok(json!(self.increase_time(secs).to_string()))
            }
            "evm_setNextBlockTimestamp" => {
                let ts = u64_param(p, 0)?
                    .ok_or_else(|| RpcError::invalid_params("missing value for required argument 0"))?;
                self.set_next_block_timestamp(ts)?;
                Ok(json!(ts.to_string()))
            }
            "evm_mine" => {
                let ts = u64_param(p, 0)?;
                if let Some(t) = ts {
                    let head = self.head();
                    if t < head.timestamp {
                        return Err(RpcError::invalid_params(format!(
                            "timestamp {t} is lower than the previous block's timestamp {}",
                            head.timestamp
                        )));
                    }
                }
                self.mine(ts).await.map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))?;
                Ok(json!("0x0"))
            }
            other => Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("the method {other} does not exist/is not available"),
            )),
        }
    }
}
