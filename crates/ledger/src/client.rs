//! JSON-RPC plumbing: [`Connection`] (one endpoint), [`Account`] (a signing key on an endpoint,
//! with nonce management), [`Receipt`] and [`Tx`].
//!
//! ## Transactions
//! [`Account::send`] runs, in order:
//! 1. **dry run**: `eth_estimateGas` (unless [`GasMode::Fixed`]); a revert here becomes
//!    [`LedgerError::Reverted`] with the decoded [`ContractError`], and nothing is sent;
//! 2. **nonce, sign, send** under the account's nonce lock: the next nonce is cached per
//!    (endpoint, address) and shared by every [`Account`] of that address on that
//!    [`Connection`]; it advances only when the node accepted the transaction. Any refusal
//!    forgets the cached nonce (the next send asks the node for its `pending` count), and a
//!    refusal that names the nonce or the fee is retried; so a failed submission never leaves
//!    a nonce gap and concurrent sends from one account are serialized in nonce order (nodes
//!    that accept only the exact next nonce, like the embedded chain, need that). The send
//!    itself is [`Connection::send_raw_transaction`], which settles a send whose fate the
//!    transport left unknown by looking the transaction up before resending it;
//! 3. **receipt**: polled with `eth_getTransactionReceipt` (the embedded chain and hardhat both
//!    answer at once, as they acknowledge a transaction only once it is in a block); a failed
//!    transaction is replayed with `eth_call` to decode its revert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::BlockNumberOrTag;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_client::RpcClient;
use alloy_rpc_types_eth::{Log, TransactionInput, TransactionReceipt, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent};
use healthchain_crypto::signing::EthKey;
use tokio::sync::Mutex;

use crate::errors::{ContractError, LedgerError, TransportError, revert_data};
use crate::retry::{Delivery, Patience, delivery};

/// Gas added to every estimate on top of 50 % (see [`GasMode::Estimate`]).
const ESTIMATE_HEADROOM: u64 = 10_000;

/// How an [`Account`] chooses each transaction's gas limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasMode {
    /// `eth_estimateGas` plus 50 % and 10,000 gas (default): the state can change between
    /// the estimate and inclusion — concurrent transactions of the same account rewriting a
    /// slot turn a cheap store into a first write — and unused gas is not charged. The
    /// estimate doubles as a dry run: a call that would revert fails with its decoded error
    /// before anything is signed.
    Estimate,
    /// A fixed limit, no dry run (one round trip less; a revert is then mined and decoded from
    /// the receipt by replaying the call).
    Fixed(u64),
}

#[derive(Debug, Clone, Copy)]
struct Fees {
    max_fee: u128,
    tip: u128,
}

struct ConnectionInner {
    provider: RootProvider,
    chain_id: u64,
    label: String,
    nonces: StdMutex<HashMap<Address, Arc<Mutex<Option<u64>>>>>,
    fees: StdMutex<Option<Fees>>,
    receipt_timeout: Duration,
    /// How long requests are sent again while the endpoint is away (zero: never).
    patience: Duration,
}

/// One Ethereum JSON-RPC endpoint (a node serving one chain): the embedded chain in process,
/// or any node over HTTP. Cheap to clone; clones share the nonce book and the fee cache.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.inner.label)
            .field("chain_id", &self.inner.chain_id)
            .finish()
    }
}

impl Connection {
    /// Connects to a node over HTTP JSON-RPC (e.g. `http://127.0.0.1:8545`) and reads its chain id.
    pub async fn http(url: &str) -> Result<Self, LedgerError> {
        let parsed = url.parse().map_err(|e| LedgerError::InvalidArgument(format!("endpoint URL {url:?}: {e}")))?;
        Self::from_client(RpcClient::new_http(parsed), url.to_string()).await
    }

    /// Like [`Connection::http`], for an endpoint that may go away and come back (a
    /// `healthchain node` restarting, an external chain node): for up to `patience`, reads
    /// that fail in transport and requests that never reached the node are sent again with
    /// backoff, and a transaction whose fate is unknown is looked up before it is resent
    /// (see [`crate::retry`] and [`Connection::send_raw_transaction`]).
    pub async fn http_following(url: &str, patience: Duration) -> Result<Self, LedgerError> {
        let parsed = url.parse().map_err(|e| LedgerError::InvalidArgument(format!("endpoint URL {url:?}: {e}")))?;
        let client = RpcClient::builder().layer(Patience(patience)).http(parsed);
        Self::connect(client, url.to_string(), patience).await
    }

    /// Connects to the embedded chain in process (no HTTP).
    pub async fn embedded(chain: &healthchain_chain::Chain) -> Result<Self, LedgerError> {
        Self::from_client(chain.rpc_client(), "embedded (in-process)".to_string()).await
    }

    /// Wraps any alloy RPC client; `label` names the endpoint in messages.
    pub async fn from_client(client: RpcClient, label: String) -> Result<Self, LedgerError> {
        Self::connect(client, label, Duration::ZERO).await
    }

    async fn connect(client: RpcClient, label: String, patience: Duration) -> Result<Self, LedgerError> {
        let provider = RootProvider::new(client);
        let chain_id = provider.get_chain_id().await?;
        Ok(Connection {
            inner: Arc::new(ConnectionInner {
                provider,
                chain_id,
                label,
                nonces: StdMutex::new(HashMap::new()),
                fees: StdMutex::new(None),
                receipt_timeout: Duration::from_secs(120),
                patience,
            }),
        })
    }

    /// The chain id the endpoint reported.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The endpoint's URL or description.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The underlying alloy provider, for anything this crate does not wrap.
    pub fn provider(&self) -> &RootProvider {
        &self.inner.provider
    }

    /// Whether two connections are the same endpoint object (clones of one another).
    pub fn same_as(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// An account signing with `key` on this endpoint.
    pub fn account(&self, key: &EthKey) -> Account {
        let signer = PrivateKeySigner::from_slice(&key.to_bytes()).expect("an EthKey is a valid secp256k1 secret");
        self.account_from_signer(signer)
    }

    /// An account signing with an alloy signer (e.g. `healthchain_chain::dev_signer(0)`).
    pub fn account_from_signer(&self, signer: PrivateKeySigner) -> Account {
        let nonce = {
            let mut book = self.inner.nonces.lock().expect("nonce book poisoned");
            book.entry(signer.address()).or_default().clone()
        };
        let secret = Arc::new(zeroize::Zeroizing::new(signer.to_bytes().0));
        Account { conn: self.clone(), signer: Arc::new(signer), secret, nonce, gas: GasMode::Estimate }
    }

    /// Latest block number.
    pub async fn block_number(&self) -> Result<u64, LedgerError> {
        Ok(self.inner.provider.get_block_number().await?)
    }

    /// Timestamp of the latest block (unix seconds).
    pub async fn timestamp(&self) -> Result<u64, LedgerError> {
        let block = self.inner.provider.get_block_by_number(BlockNumberOrTag::Latest).await?.ok_or_else(|| {
            LedgerError::Decode { what: "latest block".into(), message: "the node returned no block".into() }
        })?;
        Ok(block.header.timestamp)
    }

    /// Balance of `address` in wei.
    pub async fn balance(&self, address: Address) -> Result<U256, LedgerError> {
        Ok(self.inner.provider.get_balance(address).await?)
    }

    /// Moves the node's clock forward by `seconds` and mines a block (`evm_increaseTime` +
    /// `evm_mine`; the embedded chain and hardhat both serve them). Returns the new head's timestamp.
    pub async fn increase_time(&self, seconds: u64) -> Result<u64, LedgerError> {
        let client = self.inner.provider.client();
        let _: serde_json::Value = client.request("evm_increaseTime", (seconds,)).await?;
        let _: serde_json::Value = client.request("evm_mine", ()).await?;
        self.timestamp().await
    }

    /// Mines an empty block (`evm_mine`).
    pub async fn mine(&self) -> Result<(), LedgerError> {
        let _: serde_json::Value = self.inner.provider.client().request("evm_mine", ()).await?;
        Ok(())
    }

    /// Fixes the timestamp of the next block (`evm_setNextBlockTimestamp`).
    pub async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<(), LedgerError> {
        let _: serde_json::Value =
            self.inner.provider.client().request("evm_setNextBlockTimestamp", (timestamp,)).await?;
        Ok(())
    }

    /// Waits for the receipt of `tx_hash` (polling, bounded by the receipt timeout).
    pub async fn receipt(&self, tx_hash: B256) -> Result<TransactionReceipt, LedgerError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(500);
        loop {
            if let Some(r) = self.inner.provider.get_transaction_receipt(tx_hash).await? {
                return Ok(r);
            }
            let waited = start.elapsed();
            if waited > self.inner.receipt_timeout {
                return Err(LedgerError::ReceiptTimeout { tx_hash, waited });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Sends a signed transaction (`raw`, EIP-2718 encoded) and returns its hash once the
    /// node has it; the one way transactions are sent (accounts and the node's relay).
    ///
    /// A node that answers "already known" has it. When the transport fails after the bytes
    /// may have been sent (the node stopped mid-request), resending blindly could be refused
    /// as a nonce reuse and failing blindly would report a transaction that may be mined, so
    /// the node is asked for the transaction by hash (the lookup waits, within the
    /// connection's patience, for the node to answer again) and the same bytes are resent
    /// only if it does not have it. A resend the node refuses is looked up once more, since
    /// the first send may have landed meanwhile.
    pub async fn send_raw_transaction(&self, raw: Bytes) -> Result<B256, TransportError> {
        let hash = keccak256(&raw);
        let provider = &self.inner.provider;
        let deadline = Instant::now() + self.inner.patience;
        let mut resent = false;
        loop {
            let error = match provider.client().request::<_, B256>("eth_sendRawTransaction", (&raw,)).await {
                Ok(hash) => return Ok(hash),
                Err(error) => error,
            };
            if already_known(&error) {
                return Ok(hash);
            }
            if delivery(&error) == Delivery::Answered && !resent {
                return Err(error);
            }
            // any transaction object will do: only whether the node has one matters
            let found = provider.client().request::<_, serde_json::Value>("eth_getTransactionByHash", (hash,)).await;
            match found {
                Ok(tx) if !tx.is_null() => return Ok(hash),
                Ok(_) if delivery(&error) != Delivery::Answered && Instant::now() < deadline => resent = true,
                _ => return Err(error),
            }
        }
    }

    async fn fees(&self, refresh: bool) -> Result<Fees, LedgerError> {
        if !refresh && let Some(f) = *self.inner.fees.lock().expect("fee cache poisoned") {
            return Ok(f);
        }
        let provider = &self.inner.provider;
        let block = provider.get_block_by_number(BlockNumberOrTag::Latest).await?;
        let tip = provider.get_max_priority_fee_per_gas().await.unwrap_or(0);
        let base = match block.and_then(|b| b.header.base_fee_per_gas) {
            Some(b) => u128::from(b),
            None => provider.get_gas_price().await?,
        };
        // Twice the base fee leaves room for it to rise for a while (EIP-1559: at most 12.5 %
        // per block); a refusal for a too-low fee cap refreshes this.
        let fees = Fees { max_fee: base * 2 + tip, tip };
        *self.inner.fees.lock().expect("fee cache poisoned") = Some(fees);
        Ok(fees)
    }
}

/// A transaction's receipt, as this crate reports it.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Block it was included in.
    pub block_number: u64,
    /// Gas used (including the intrinsic 21,000).
    pub gas_used: u64,
    /// Price paid per gas, in wei.
    pub effective_gas_price: u128,
    /// Address of the created contract (deployments only).
    pub contract_address: Option<Address>,
    /// Every log the transaction emitted.
    pub logs: Vec<Log>,
}

impl Receipt {
    fn from_rpc(r: &TransactionReceipt) -> Self {
        Receipt {
            tx_hash: r.transaction_hash,
            block_number: r.block_number.unwrap_or_default(),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            logs: r.inner.logs().to_vec(),
        }
    }

    /// The fee paid, in wei (`gas_used × effective_gas_price`).
    pub fn fee(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.effective_gas_price)
    }

    /// Every event of type `E` emitted by `emitter`, decoded.
    pub fn events<E: SolEvent>(&self, emitter: Address) -> Vec<E> {
        self.logs
            .iter()
            .filter(|l| l.address() == emitter && l.topics().first() == Some(&E::SIGNATURE_HASH))
            .filter_map(|l| E::decode_log(&l.inner).ok().map(|d| d.data))
            .collect()
    }

    /// The first event of type `E` emitted by `emitter`, decoded.
    pub fn event<E: SolEvent>(&self, emitter: Address) -> Option<E> {
        self.events(emitter).into_iter().next()
    }
}

/// A mined, successful transaction and the typed event (or other result) it produced.
#[derive(Debug, Clone)]
pub struct Tx<T = ()> {
    /// The receipt.
    pub receipt: Receipt,
    /// The result: usually the main event the function emitted.
    pub event: T,
}

/// Contract and function names of a call, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSite {
    pub contract: &'static str,
    pub function: &'static str,
}

impl CallSite {
    pub(crate) fn of<C: SolCall>(contract: &'static str) -> Self {
        let sig = C::SIGNATURE;
        CallSite { contract, function: &sig[..sig.find('(').unwrap_or(sig.len())] }
    }
}

/// A signing key on one endpoint: sends transactions (nonce managed, reverts decoded) and
/// makes calls. Cheap to clone; every `Account` of one address on one [`Connection`] shares
/// the nonce.
#[derive(Clone)]
pub struct Account {
    conn: Connection,
    signer: Arc<PrivateKeySigner>,
    /// The same key for libsecp256k1 signing (about twice as fast as k256's on the hot path).
    secret: Arc<zeroize::Zeroizing<[u8; 32]>>,
    nonce: Arc<Mutex<Option<u64>>>,
    gas: GasMode,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("address", &self.address()).field("endpoint", &self.conn).finish()
    }
}

impl Account {
    /// The account's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The endpoint.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// This account with another gas mode.
    pub fn with_gas_mode(mut self, gas: GasMode) -> Self {
        self.gas = gas;
        self
    }

    /// The gas mode in use.
    pub fn gas_mode(&self) -> GasMode {
        self.gas
    }

    /// The account's balance in wei.
    pub async fn balance(&self) -> Result<U256, LedgerError> {
        self.conn.balance(self.address()).await
    }

    /// Forgets the cached nonce; the next transaction asks the node (use after sending from
    /// this key by other means).
    pub async fn reset_nonce(&self) {
        *self.nonce.lock().await = None;
    }

    /// Sends plain ether to `to`.
    pub async fn transfer(&self, to: Address, value: U256) -> Result<Receipt, LedgerError> {
        let site = CallSite { contract: "(account)", function: "transfer" };
        self.submit(TxKind::Call(to), Bytes::new(), value, site).await
    }

    /// Calls a contract function in a transaction, waits for the receipt and decodes reverts.
    pub async fn send<C: SolCall>(
        &self,
        contract: &'static str,
        to: Address,
        call: &C,
        value: U256,
    ) -> Result<Receipt, LedgerError> {
        self.submit(TxKind::Call(to), call.abi_encode().into(), value, CallSite::of::<C>(contract)).await
    }

    /// Sends a transaction with arbitrary calldata (e.g. through a forwarding contract);
    /// reverts are decoded like any other. `label` names the call in errors.
    pub async fn send_data(
        &self,
        label: &'static str,
        to: Address,
        data: Bytes,
        value: U256,
    ) -> Result<Receipt, LedgerError> {
        self.submit(TxKind::Call(to), data, value, CallSite { contract: label, function: "(raw call)" }).await
    }

    /// [`Account::send`], then decodes the first event `E` emitted by `to`.
    pub async fn send_expect<C: SolCall, E: SolEvent>(
        &self,
        contract: &'static str,
        to: Address,
        call: &C,
        value: U256,
    ) -> Result<Tx<E>, LedgerError> {
        let receipt = self.send(contract, to, call, value).await?;
        let event = receipt.event::<E>(to).ok_or_else(|| LedgerError::Decode {
            what: format!("{} event of {contract}", E::SIGNATURE),
            message: format!("transaction {} emitted none", receipt.tx_hash),
        })?;
        Ok(Tx { receipt, event })
    }

    /// Calls a view function (`eth_call` at the latest block) and decodes its return value.
    pub async fn call<C: SolCall>(
        &self,
        contract: &'static str,
        to: Address,
        call: &C,
    ) -> Result<C::Return, LedgerError> {
        let site = CallSite::of::<C>(contract);
        let req = self.request(TxKind::Call(to), call.abi_encode().into(), U256::ZERO);
        let out = self.conn.inner.provider.call(req).await.map_err(|e| self.classify(e, site, None))?;
        C::abi_decode_returns(&out).map_err(|e| LedgerError::Decode {
            what: format!("return value of {}.{}", site.contract, site.function),
            message: e.to_string(),
        })
    }

    /// Deploys a contract: `init_code` is the creation bytecode followed by the ABI-encoded
    /// constructor arguments. Returns the receipt (with `contract_address`).
    pub async fn deploy(&self, contract: &'static str, init_code: Bytes) -> Result<Receipt, LedgerError> {
        let site = CallSite { contract, function: "constructor" };
        let receipt = self.submit(TxKind::Create, init_code, U256::ZERO, site).await?;
        if receipt.contract_address.is_none() {
            return Err(LedgerError::Deployment(format!("{contract}: the receipt names no contract address")));
        }
        Ok(receipt)
    }

    fn request(&self, to: TxKind, input: Bytes, value: U256) -> TransactionRequest {
        TransactionRequest {
            from: Some(self.address()),
            to: Some(to),
            value: Some(value),
            input: TransactionInput::new(input),
            ..Default::default()
        }
    }

    fn classify(&self, e: TransportError, site: CallSite, tx_hash: Option<B256>) -> LedgerError {
        if let Some(data) = revert_data(&e) {
            return LedgerError::Reverted {
                contract: site.contract,
                function: site.function,
                error: ContractError::decode(&data),
                tx_hash,
            };
        }
        match e.as_error_resp() {
            Some(p) => LedgerError::Rejected {
                contract: site.contract,
                function: site.function,
                message: p.message.to_string(),
            },
            None => LedgerError::Rpc(e),
        }
    }

    pub(crate) async fn submit(
        &self,
        to: TxKind,
        input: Bytes,
        value: U256,
        site: CallSite,
    ) -> Result<Receipt, LedgerError> {
        let provider = &self.conn.inner.provider;
        let gas_limit = match self.gas {
            GasMode::Fixed(g) => g,
            GasMode::Estimate => {
                let req = self.request(to, input.clone(), value);
                let estimate = provider.estimate_gas(req).await.map_err(|e| self.classify(e, site, None))?;
                estimate + estimate / 2 + ESTIMATE_HEADROOM
            }
        };
        let mut fees = self.conn.fees(false).await?;
        let address = self.address();

        let tx_hash = {
            let mut next = self.nonce.lock().await;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let nonce = match *next {
                    Some(n) => n,
                    None => provider.get_transaction_count(address).pending().await?,
                };
                let tx = TxEip1559 {
                    chain_id: self.conn.inner.chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: fees.max_fee,
                    max_priority_fee_per_gas: fees.tip,
                    to,
                    value,
                    access_list: Default::default(),
                    input: input.clone(),
                };
                let signature =
                    alloy_consensus::crypto::secp256k1::sign_message(B256::from(**self.secret), tx.signature_hash())
                        .map_err(|e| LedgerError::InvalidArgument(format!("signing failed: {e}")))?;
                let raw: Bytes = TxEnvelope::from(tx.into_signed(signature)).encoded_2718().into();
                match self.conn.send_raw_transaction(raw).await {
                    Ok(hash) => {
                        *next = Some(nonce + 1);
                        break hash;
                    }
                    Err(e) => {
                        // Whatever happened, ask the node for the nonce next time: no gap, no reuse.
                        *next = None;
                        let message = e.as_error_resp().map(|p| p.message.to_ascii_lowercase()).unwrap_or_default();
                        if attempt < 3 && revert_data(&e).is_none() {
                            if message.contains("nonce") {
                                continue;
                            }
                            if message.contains("fee") || message.contains("underpriced") {
                                fees = self.conn.fees(true).await?;
                                continue;
                            }
                        }
                        return Err(self.classify(e, site, None));
                    }
                }
            }
        };

        let rpc_receipt = self.conn.receipt(tx_hash).await?;
        if !rpc_receipt.status() {
            // Replay to learn why (the state may have moved on; best effort).
            let req = self.request(to, input, value);
            let error = match provider.call(req).await {
                Err(e) => match revert_data(&e) {
                    Some(data) => ContractError::decode(&data),
                    None => ContractError::Empty,
                },
                Ok(_) => ContractError::Empty,
            };
            return Err(LedgerError::Reverted {
                contract: site.contract,
                function: site.function,
                error,
                tx_hash: Some(tx_hash),
            });
        }
        Ok(Receipt::from_rpc(&rpc_receipt))
    }
}

/// Whether the node refused a transaction because it already has it (geth and the embedded
/// chain say "already known", others "known transaction" or "already imported").
fn already_known(error: &TransportError) -> bool {
    error.as_error_resp().is_some_and(|refusal| {
        let message = refusal.message.to_ascii_lowercase();
        ["already known", "known transaction", "already imported"].iter().any(|m| message.contains(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::script::{Answer, Script};
    use serde_json::json;

    const SEND: &str = "eth_sendRawTransaction";
    const LOOKUP: &str = "eth_getTransactionByHash";

    /// A transaction as `eth_getTransactionByHash` answers it (the client only asks whether
    /// there is one).
    fn found() -> serde_json::Value {
        json!({"hash": keccak256(b"\x02signed"), "blockNumber": "0x1"})
    }

    /// Sends `raw` over `script` (after the chain id the connection reads) with `patience`.
    async fn send(script: &Script, patience: Duration) -> Result<B256, TransportError> {
        let client = RpcClient::new(script.clone(), true);
        let connection = Connection::connect(client, "script".into(), patience).await.expect("connects");
        connection.send_raw_transaction(Bytes::from_static(b"\x02signed")).await
    }

    fn script(answers: impl IntoIterator<Item = (&'static str, Answer)>) -> Script {
        Script::new([("eth_chainId", Answer::Result(json!("0x7a69")))].into_iter().chain(answers))
    }

    #[tokio::test]
    async fn a_send_cut_off_in_transport_is_looked_up_before_it_is_resent() {
        let hash = keccak256(b"\x02signed");
        let patience = Duration::from_secs(60);
        // the node got it: found by hash, not resent
        let s = script([(SEND, Answer::Reset), (LOOKUP, Answer::Result(found()))]);
        assert_eq!(send(&s, patience).await.expect("sent"), hash);
        assert!(s.done());
        // the node did not: the same bytes again
        let s =
            script([(SEND, Answer::Reset), (LOOKUP, Answer::Result(json!(null))), (SEND, Answer::Result(json!(hash)))]);
        assert_eq!(send(&s, patience).await.expect("sent"), hash);
        assert!(s.done());
        // the resend is refused because the first send landed meanwhile: found
        let s = script([
            (SEND, Answer::Reset),
            (LOOKUP, Answer::Result(json!(null))),
            (SEND, Answer::Refusal("nonce too low")),
            (LOOKUP, Answer::Result(found())),
        ]);
        assert_eq!(send(&s, patience).await.expect("sent"), hash);
        assert!(s.done());
        // refused, and not there: the refusal
        let s = script([
            (SEND, Answer::Reset),
            (LOOKUP, Answer::Result(json!(null))),
            (SEND, Answer::Refusal("insufficient funds")),
            (LOOKUP, Answer::Result(json!(null))),
        ]);
        let refused = send(&s, patience).await.expect_err("refused");
        assert_eq!(refused.as_error_resp().map(|e| e.message.to_string()).as_deref(), Some("insufficient funds"));
        // without patience nothing is resent
        let s = script([(SEND, Answer::Reset), (LOOKUP, Answer::Result(json!(null)))]);
        assert!(send(&s, Duration::ZERO).await.is_err());
        assert!(s.done());
    }

    #[tokio::test]
    async fn already_known_is_sent_and_a_first_refusal_is_final() {
        let s = script([(SEND, Answer::Refusal("already known"))]);
        assert_eq!(send(&s, Duration::from_secs(60)).await.expect("known"), keccak256(b"\x02signed"));
        let s = script([(SEND, Answer::Refusal("nonce too low: next nonce 3, tx nonce 2"))]);
        assert!(send(&s, Duration::from_secs(60)).await.is_err());
        assert_eq!(s.asked(), ["eth_chainId", SEND], "a plain refusal is not looked up");
    }
}
