//! The [`Chain`] handle: opening a chain, submitting transactions, and every read query.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptWithBloom, Transaction as _, TxEnvelope,
};
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Log, Transaction, TransactionReceipt,
    TransactionRequest, Withdrawals,
};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::context_interface::result::ExecutionResult;
use revm::primitives::KECCAK_EMPTY;
use revm::state::AccountInfo;
use tokio::sync::oneshot;

use crate::bloom::BloomQuery;
use crate::config::ChainConfig;
use crate::error::{CallError, ChainError, QueryError, TxError};
use crate::evm::{self, BlockParams};
use crate::pool::{MineRequest, Pool, SenderAccount};
use crate::producer::{self, EXTRA_DATA, chain_state_root, receipt_envelope};
use crate::store::{BlockWrite, ReadView, StateDiff, Storage, Store, StoredBlock, StoredTx};

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Summary of the head block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Block timestamp.
    pub timestamp: u64,
    /// State commitment (see the crate docs).
    pub state_root: B256,
    /// Gas used by the block.
    pub gas_used: u64,
    /// Base fee of the block.
    pub base_fee: u64,
}

impl Head {
    fn of(b: &StoredBlock) -> Self {
        Head {
            number: b.header.number,
            hash: b.hash,
            timestamp: b.header.timestamp,
            state_root: b.header.state_root,
            gas_used: b.header.gas_used,
            base_fee: b.header.base_fee_per_gas.unwrap_or(0),
        }
    }
}

/// State shared by the handle, the RPC layer and the producer thread.
pub(crate) struct Shared {
    pub config: ChainConfig,
    pub store: Store,
    pool: Mutex<Pool>,
    wake: Condvar,
    head: RwLock<Head>,
    /// Seconds added to the wall clock for block timestamps (`evm_increaseTime`).
    pub time_offset: AtomicU64,
    /// Timestamp forced for the next block (`evm_setNextBlockTimestamp`); 0 = none.
    pub next_timestamp: AtomicU64,
    /// Base fee of the next block.
    pub next_base_fee: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn wait_pool<'a>(&self, guard: MutexGuard<'a, Pool>) -> MutexGuard<'a, Pool> {
        self.wake.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn wait_pool_timeout<'a>(
        &self,
        guard: MutexGuard<'a, Pool>,
        d: std::time::Duration,
    ) -> MutexGuard<'a, Pool> {
        match self.wake.wait_timeout(guard, d) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        }
    }

    pub(crate) fn head(&self) -> Head {
        *self.head.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish_head(&self, block: &StoredBlock, time_offset: u64, next_base_fee: u64) {
        *self.head.write().unwrap_or_else(PoisonError::into_inner) = Head::of(block);
        self.time_offset.store(time_offset, Ordering::SeqCst);
        self.next_base_fee.store(next_base_fee, Ordering::SeqCst);
    }

    pub(crate) fn note_failure(&self, e: &ChainError) {
        *self.last_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
    }

    fn close(&self) {
        self.lock_pool().closed = true;
        self.wake.notify_all();
    }
}

struct Handle {
    shared: Arc<Shared>,
    producer: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    fn stop(&self) {
        self.shared.close();
        let handle = self.producer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An embedded EVM chain. Cheap to clone (all clones are the same chain); the chain stops when
/// the last clone is dropped or [`Chain::shutdown`] is called.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use healthchain_chain::{Chain, ChainConfig};
/// let chain = Chain::in_memory(ChainConfig::default())?;
/// // In-process JSON-RPC for alloy, no sockets:
/// let provider = alloy_provider::ProviderBuilder::new().connect_client(chain.rpc_client());
/// // Or over HTTP on loopback:
/// let server = chain.serve_http("127.0.0.1:0".parse()?).await?;
/// println!("JSON-RPC at {}", server.url());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.inner.shared.config.chain_id)
            .field("head", &self.inner.shared.head())
            .finish()
    }
}

fn genesis_write(config: &ChainConfig, timestamp: u64) -> Result<BlockWrite, ChainError> {
    let mut diff = StateDiff::default();
    for acc in config.genesis_accounts()? {
        let code_hash = if acc.code.is_empty() { KECCAK_EMPTY } else { keccak256(&acc.code) };
        if !acc.code.is_empty() {
            diff.code.insert(code_hash, acc.code.clone());
        }
        diff.accounts.insert(
            acc.address,
            Some(AccountInfo { balance: acc.balance, nonce: acc.nonce, code_hash, code: None, ..Default::default() }),
        );
        for (k, v) in &acc.storage {
            let v = U256::from_be_bytes(v.0);
            if !v.is_zero() {
                diff.storage.insert((acc.address, U256::from_be_bytes(k.0)), v);
            }
        }
    }
    let header = Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: config.coinbase,
        state_root: chain_state_root(B256::ZERO, &diff),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        logs_bloom: Bloom::default(),
        difficulty: U256::ZERO,
        number: 0,
        gas_limit: config.block_gas_limit,
        gas_used: 0,
        timestamp,
        extra_data: Bytes::from_static(EXTRA_DATA),
        mix_hash: B256::ZERO,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(config.base_fee.genesis_base_fee()),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: None,
        ..Default::default()
    };
    let hash = header.hash_slow();
    let size = producer::block_size(&header, &[]);
    Ok(BlockWrite {
        block: StoredBlock { hash, header, tx_hashes: Vec::new(), size },
        txs: Vec::new(),
        diff,
        time_offset: 0,
    })
}

fn query_err(e: ChainError) -> QueryError {
    QueryError::Storage(e.to_string())
}

impl Chain {
    /// Opens (or creates) a chain. With [`Storage::Dir`] an existing chain is recovered from
    /// disk: the head is the last block whose commit completed.
    pub fn open(config: ChainConfig, storage: Storage) -> Result<Self, ChainError> {
        config.validate()?;
        let store = Store::open(&storage)?;
        Self::start(config, store)
    }

    /// A chain kept in memory only (redb's in-memory backend).
    pub fn in_memory(config: ChainConfig) -> Result<Self, ChainError> {
        Self::open(config, Storage::Memory)
    }

    /// A durable chain in a fresh temporary directory, deleted when the chain is dropped.
    pub fn temporary(config: ChainConfig) -> Result<Self, ChainError> {
        config.validate()?;
        let store = Store::open_temp()?;
        Self::start(config, store)
    }

    fn start(config: ChainConfig, store: Store) -> Result<Self, ChainError> {
        let existing = store.read()?.block(0)?;
        let genesis_ts =
            config.genesis_timestamp.or_else(|| existing.as_ref().map(|b| b.header.timestamp)).unwrap_or_else(unix_now);
        let genesis = genesis_write(&config, genesis_ts)?;
        store.init_genesis(&genesis, config.chain_id)?;
        let view = store.read()?;
        let head_number = view.head_number()?;
        let head_block =
            view.block(head_number)?.ok_or_else(|| ChainError::Corrupt(format!("missing head block {head_number}")))?;
        let time_offset = view.time_offset()?;
        drop(view);
        let head = Head::of(&head_block);
        let next_base_fee = config.base_fee.next_base_fee(head.gas_used, config.block_gas_limit, head.base_fee);
        let shared = Arc::new(Shared {
            config,
            store,
            pool: Mutex::new(Pool::default()),
            wake: Condvar::new(),
            head: RwLock::new(head),
            time_offset: AtomicU64::new(time_offset),
            next_timestamp: AtomicU64::new(0),
            next_base_fee: AtomicU64::new(next_base_fee),
            last_failure: Mutex::new(None),
        });
        let for_thread = shared.clone();
        let producer = std::thread::Builder::new()
            .name("healthchain-block-producer".into())
            .spawn(move || producer::run(for_thread))?;
        Ok(Chain { inner: Arc::new(Handle { shared, producer: Mutex::new(Some(producer)) }) })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The configuration the chain runs with.
    pub fn config(&self) -> &ChainConfig {
        &self.shared().config
    }

    /// EIP-155 chain id.
    pub fn chain_id(&self) -> u64 {
        self.shared().config.chain_id
    }

    /// The head block (last committed).
    pub fn head(&self) -> Head {
        self.shared().head()
    }

    /// The last error the block producer hit (a failed block commit), if any.
    pub fn last_failure(&self) -> Option<String> {
        self.shared().last_failure.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops the block producer (pending transactions are refused with
    /// [`TxError::NotCommitted`]) and waits for it. Idempotent; reads keep working.
    pub fn shutdown(&self) {
        self.inner.stop();
    }

    // ---------------------------------------------------------------- writes

    fn submit(&self, raw: &[u8]) -> Result<oneshot::Receiver<Result<B256, TxError>>, TxError> {
        let shared = self.shared();
        let prepared = crate::pool::prepare(raw, &shared.config)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pool = shared.lock_pool();
            let store = &shared.store;
            pool.admit(
                prepared,
                shared.config.max_pool_size,
                shared.next_base_fee.load(Ordering::SeqCst),
                |addr| {
                    let acc = store.account(addr).map_err(|e| TxError::NotCommitted(e.to_string()))?;
                    Ok(match acc {
                        Some(a) => {
                            SenderAccount { nonce: a.nonce, balance: a.balance, has_code: a.code_hash != KECCAK_EMPTY }
                        }
                        None => SenderAccount { nonce: 0, balance: U256::ZERO, has_code: false },
                    })
                },
                Some(tx),
            )?;
        }
        shared.wake.notify_one();
        Ok(rx)
    }

    /// Validates a signed raw transaction (EIP-2718 bytes: legacy, EIP-2930 or EIP-1559),
    /// queues it, and resolves once the block containing it is durably committed. Returns the
    /// transaction hash; its receipt is then readable.
    pub async fn send_raw_transaction(&self, raw: &[u8]) -> Result<B256, TxError> {
        let rx = self.submit(raw)?;
        rx.await.map_err(|_| TxError::NotCommitted("the block producer stopped".into()))?
    }

    /// Blocking form of [`Chain::send_raw_transaction`] for non-async callers. Must not be
    /// called from inside an async runtime thread.
    pub fn send_raw_transaction_blocking(&self, raw: &[u8]) -> Result<B256, TxError> {
        let rx = self.submit(raw)?;
        rx.blocking_recv().map_err(|_| TxError::NotCommitted("the block producer stopped".into()))?
    }

    /// Seals a block now (possibly empty), like hardhat's `evm_mine`, and returns its number
    /// once committed. With `timestamp`, the block gets that timestamp (it must not be below
    /// the head's) and later blocks continue from it.
    pub async fn mine(&self, timestamp: Option<u64>) -> Result<u64, ChainError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pool = self.shared().lock_pool();
            if pool.closed {
                return Err(ChainError::Closed);
            }
            pool.mine_requests.push_back(MineRequest { timestamp, reply: tx });
        }
        self.shared().wake.notify_one();
        rx.await.map_err(|_| ChainError::Closed)?
    }

    /// Adds `seconds` to the clock used for later block timestamps (hardhat's
    /// `evm_increaseTime`). Returns the total offset in seconds.
    pub fn increase_time(&self, seconds: u64) -> u64 {
        let s = self.shared();
        s.time_offset.fetch_add(seconds, Ordering::SeqCst).saturating_add(seconds)
    }

    /// Forces the timestamp of the next block (hardhat's `evm_setNextBlockTimestamp`). It must be
    /// at least the head's timestamp.
    pub fn set_next_block_timestamp(&self, timestamp: u64) -> Result<(), QueryError> {
        let head = self.head();
        if timestamp < head.timestamp {
            return Err(QueryError::Invalid(format!(
                "timestamp {timestamp} is lower than the previous block's timestamp {}",
                head.timestamp
            )));
        }
        let offset = timestamp.saturating_sub(unix_now());
        self.shared().time_offset.store(offset, Ordering::SeqCst);
        self.shared().next_timestamp.store(timestamp, Ordering::SeqCst);
        Ok(())
    }

    // ---------------------------------------------------------------- reads

    fn view(&self) -> Result<ReadView, QueryError> {
        self.shared().store.read().map_err(query_err)
    }

    /// Checks `at` names the state this node keeps (the head). Returns the view.
    fn state_view(&self, at: BlockId) -> Result<ReadView, QueryError> {
        let view = self.view()?;
        let head = view.head_number().map_err(query_err)?;
        let requested = match at {
            BlockId::Number(BlockNumberOrTag::Number(n)) => n,
            BlockId::Number(BlockNumberOrTag::Earliest) => 0,
            BlockId::Number(_) => head,
            BlockId::Hash(h) => {
                view.block_number_of(&h.block_hash).map_err(query_err)?.ok_or(QueryError::UnknownBlock)?
            }
        };
        if requested > head {
            return Err(QueryError::UnknownBlock);
        }
        if requested != head {
            return Err(QueryError::HistoricalState { requested, head });
        }
        Ok(view)
    }

    /// Number of the head block.
    pub fn block_number(&self) -> Result<u64, QueryError> {
        self.view()?.head_number().map_err(query_err)
    }

    /// Balance of `address` at `at` (only the head state is kept).
    pub fn balance(&self, address: Address, at: BlockId) -> Result<U256, QueryError> {
        let view = self.state_view(at)?;
        Ok(view.account(&address).map_err(query_err)?.map(|a| a.balance).unwrap_or_default())
    }

    /// Nonce of `address`; with `pending`, counting its transactions waiting in the pool.
    pub fn transaction_count(&self, address: Address, at: BlockId) -> Result<u64, QueryError> {
        if matches!(at, BlockId::Number(BlockNumberOrTag::Pending))
            && let Some(n) = self.shared().lock_pool().pending_nonce(&address)
        {
            return Ok(n);
        }
        let view = self.state_view(at)?;
        Ok(view.account(&address).map_err(query_err)?.map(|a| a.nonce).unwrap_or_default())
    }

    /// Code of `address`.
    pub fn code(&self, address: Address, at: BlockId) -> Result<Bytes, QueryError> {
        let view = self.state_view(at)?;
        match view.account(&address).map_err(query_err)? {
            Some(a) => Ok(view.code(&a.code_hash).map_err(query_err)?.unwrap_or_default()),
            None => Ok(Bytes::new()),
        }
    }

    /// Storage slot `slot` of `address`.
    pub fn storage_at(&self, address: Address, slot: U256, at: BlockId) -> Result<B256, QueryError> {
        let view = self.state_view(at)?;
        Ok(B256::from(view.storage_at(&address, &slot).map_err(query_err)?))
    }

    /// Parameters of the block a call at the head runs in: the next block (number head + 1,
    /// current time, next base fee), which is what a transaction sent now would see.
    fn pending_block(&self, view: &ReadView) -> Result<BlockParams, QueryError> {
        let s = self.shared();
        let head_number = view.head_number().map_err(query_err)?;
        let head = view.block(head_number).map_err(query_err)?.ok_or(QueryError::UnknownBlock)?;
        let forced = s.next_timestamp.load(Ordering::SeqCst);
        let timestamp = if forced != 0 {
            forced.max(head.header.timestamp)
        } else {
            head.header.timestamp.max(unix_now().saturating_add(s.time_offset.load(Ordering::SeqCst)))
        };
        Ok(BlockParams {
            number: head_number + 1,
            timestamp,
            gas_limit: s.config.block_gas_limit,
            base_fee: s.next_base_fee.load(Ordering::SeqCst),
            coinbase: s.config.coinbase,
            prevrandao: producer::prevrandao(head.hash, head_number + 1),
        })
    }

    fn run_call(
        &self,
        view: &ReadView,
        block: &BlockParams,
        req: &TransactionRequest,
        gas: u64,
    ) -> Result<ExecutionResult, CallError> {
        let nonce = match req.nonce {
            Some(n) => n,
            None => view
                .account(&req.from.unwrap_or_default())
                .map_err(|e| CallError::Query(query_err(e)))?
                .map(|a| a.nonce)
                .unwrap_or(0),
        };
        let (env, fees_given) = evm::call_env(req, self.chain_id(), gas, nonce)?;
        let mut block = *block;
        if !fees_given {
            block.base_fee = 0;
        }
        let (result, _) = evm::simulate(view, self.chain_id(), &block, env, true)?;
        Ok(result)
    }

    /// Executes a call against the head state without committing anything (`eth_call`).
    /// Reverts come back as [`CallError::Reverted`] with the revert data.
    pub fn call(&self, req: &TransactionRequest, at: BlockId) -> Result<Bytes, CallError> {
        let view = self.state_view(at)?;
        let block = self.pending_block(&view)?;
        let gas = req.gas.unwrap_or(block.gas_limit).min(block.gas_limit);
        let result = self.run_call(&view, &block, req, gas)?;
        if let Some(e) = evm::result_error(&result) {
            return Err(e);
        }
        Ok(evm::result_output(&result))
    }

    /// Estimates the gas limit a transaction needs (`eth_estimateGas`): the lowest limit at
    /// which it succeeds, found by binary search (to within 1.5%, like geth) after an optimistic
    /// first guess.
    pub fn estimate_gas(&self, req: &TransactionRequest, at: BlockId) -> Result<u64, CallError> {
        let view = self.state_view(at)?;
        let block = self.pending_block(&view)?;
        let mut hi = req.gas.unwrap_or(block.gas_limit).min(block.gas_limit);
        // Cap by what the sender can pay for, when a price is given.
        let price = req.gas_price.or(req.max_fee_per_gas).unwrap_or(0);
        if price > 0 {
            let balance = view
                .account(&req.from.unwrap_or_default())
                .map_err(|e| CallError::Query(query_err(e)))?
                .map(|a| a.balance)
                .unwrap_or_default();
            let avail = balance.saturating_sub(req.value.unwrap_or_default()) / U256::from(price);
            let avail = u64::try_from(avail).unwrap_or(u64::MAX);
            hi = hi.min(avail);
        }
        let first = self.run_call(&view, &block, req, hi)?;
        if let Some(e) = evm::result_error(&first) {
            return Err(match (e, &first) {
                (
                    CallError::Halted(_),
                    ExecutionResult::Halt { reason: revm::context_interface::result::HaltReason::OutOfGas(_), .. },
                ) => CallError::Halted(format!("gas required exceeds allowance ({hi})")),
                (e, _) => e,
            });
        }
        let spent = first.gas().total_gas_spent();
        let mut lo = spent.saturating_sub(1);
        let ok = |gas: u64| -> Result<bool, CallError> {
            match self.run_call(&view, &block, req, gas) {
                Ok(r) => Ok(r.is_success()),
                Err(CallError::Invalid(_)) => Ok(false),
                Err(e) => Err(e),
            }
        };
        // Most transactions need exactly what they spent (no refunds, no 63/64 reserve).
        if spent < hi && ok(spent)? {
            return Ok(spent);
        }
        lo = lo.max(spent);
        // Optimistic guess covering the 63/64 call-gas rule and the refund cap.
        let guess = (spent.saturating_add(2_300)).saturating_mul(64) / 63;
        if guess < hi {
            if ok(guess)? {
                hi = guess;
            } else {
                lo = guess;
            }
        }
        while lo + 1 < hi {
            if (hi - lo) as f64 / hi as f64 <= 0.015 {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            if ok(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    fn rpc_tx(hash: B256, s: &StoredTx) -> Result<Transaction, QueryError> {
        let envelope = TxEnvelope::decode_2718(&mut s.raw.as_ref())
            .map_err(|e| QueryError::Storage(format!("stored transaction {hash}: {e}")))?;
        Ok(Transaction {
            inner: Recovered::new_unchecked(envelope, s.sender),
            block_hash: Some(s.block_hash),
            block_number: Some(s.block_number),
            transaction_index: Some(u64::from(s.index)),
            effective_gas_price: Some(s.effective_gas_price),
            block_timestamp: Some(s.block_timestamp),
        })
    }

    fn rpc_logs(hash: B256, s: &StoredTx) -> Vec<Log> {
        s.logs
            .iter()
            .enumerate()
            .map(|(j, l)| Log {
                inner: l.clone(),
                block_hash: Some(s.block_hash),
                block_number: Some(s.block_number),
                block_timestamp: Some(s.block_timestamp),
                transaction_hash: Some(hash),
                transaction_index: Some(u64::from(s.index)),
                log_index: Some(u64::from(s.first_log_index) + j as u64),
                removed: false,
            })
            .collect()
    }

    /// Receipt of a committed transaction (`None` if unknown).
    pub fn transaction_receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, QueryError> {
        let view = self.view()?;
        let Some(s) = view.tx(&hash).map_err(query_err)? else { return Ok(None) };
        let envelope = TxEnvelope::decode_2718(&mut s.raw.as_ref())
            .map_err(|e| QueryError::Storage(format!("stored transaction {hash}: {e}")))?;
        let mut bloom = Bloom::default();
        for l in &s.logs {
            bloom.accrue_log(l);
        }
        let receipt = Receipt {
            status: Eip658Value::Eip658(s.success),
            cumulative_gas_used: s.cumulative_gas_used,
            logs: Self::rpc_logs(hash, &s),
        };
        Ok(Some(TransactionReceipt {
            inner: receipt_envelope(&envelope, ReceiptWithBloom { receipt, logs_bloom: bloom }),
            transaction_hash: hash,
            transaction_index: Some(u64::from(s.index)),
            block_hash: Some(s.block_hash),
            block_number: Some(s.block_number),
            gas_used: s.gas_used,
            effective_gas_price: s.effective_gas_price,
            blob_gas_used: None,
            blob_gas_price: None,
            from: s.sender,
            to: envelope.to(),
            contract_address: s.contract_address,
        }))
    }

    /// A committed transaction (`None` if unknown; pending transactions are not visible, since
    /// submission returns only after commit).
    pub fn transaction_by_hash(&self, hash: B256) -> Result<Option<Transaction>, QueryError> {
        let view = self.view()?;
        match view.tx(&hash).map_err(query_err)? {
            Some(s) => Ok(Some(Self::rpc_tx(hash, &s)?)),
            None => Ok(None),
        }
    }

    fn resolve_number(view: &ReadView, n: BlockNumberOrTag) -> Result<u64, QueryError> {
        let head = view.head_number().map_err(query_err)?;
        Ok(match n {
            BlockNumberOrTag::Number(n) => n,
            BlockNumberOrTag::Earliest => 0,
            _ => head,
        })
    }

    fn rpc_block(view: &ReadView, b: StoredBlock, full: bool) -> Result<Block, QueryError> {
        let transactions = if full {
            let mut txs = Vec::with_capacity(b.tx_hashes.len());
            for h in &b.tx_hashes {
                let s = view
                    .tx(h)
                    .map_err(query_err)?
                    .ok_or_else(|| QueryError::Storage(format!("missing transaction {h}")))?;
                txs.push(Self::rpc_tx(*h, &s)?);
            }
            BlockTransactions::Full(txs)
        } else {
            BlockTransactions::Hashes(b.tx_hashes)
        };
        Ok(Block {
            header: alloy_rpc_types_eth::Header {
                hash: b.hash,
                inner: b.header,
                total_difficulty: Some(U256::ZERO),
                size: Some(U256::from(b.size)),
            },
            uncles: Vec::new(),
            transactions,
            withdrawals: Some(Withdrawals::default()),
        })
    }

    /// Block by number or tag (`latest`, `pending` and `safe`/`finalized` all mean the head).
    pub fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> Result<Option<Block>, QueryError> {
        let view = self.view()?;
        let n = Self::resolve_number(&view, number)?;
        match view.block(n).map_err(query_err)? {
            Some(b) => Ok(Some(Self::rpc_block(&view, b, full)?)),
            None => Ok(None),
        }
    }

    /// Block by hash.
    pub fn block_by_hash(&self, hash: B256, full: bool) -> Result<Option<Block>, QueryError> {
        let view = self.view()?;
        let Some(n) = view.block_number_of(&hash).map_err(query_err)? else { return Ok(None) };
        match view.block(n).map_err(query_err)? {
            Some(b) => Ok(Some(Self::rpc_block(&view, b, full)?)),
            None => Ok(None),
        }
    }

    /// Logs matching `filter` (address, topics, block range or block hash). The range is capped
    /// at [`ChainConfig::max_logs_block_range`] blocks and the result at
    /// [`ChainConfig::max_logs_results`] logs.
    pub fn logs(&self, filter: &Filter) -> Result<Vec<Log>, QueryError> {
        let view = self.view()?;
        let head = view.head_number().map_err(query_err)?;
        let (from, to) = match &filter.block_option {
            FilterBlockOption::AtBlockHash(h) => {
                let n = view.block_number_of(h).map_err(query_err)?.ok_or(QueryError::UnknownBlock)?;
                (n, n)
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let from = Self::resolve_number(&view, from_block.unwrap_or_default())?;
                let to = Self::resolve_number(&view, to_block.unwrap_or_default())?.min(head);
                (from, to)
            }
        };
        if from > to {
            if from > head {
                return Ok(Vec::new());
            }
            return Err(QueryError::Invalid("invalid block range params: fromBlock is after toBlock".into()));
        }
        let range = to - from + 1;
        let limit = self.shared().config.max_logs_block_range;
        if range > limit {
            return Err(QueryError::LogRangeTooLarge { range, limit });
        }
        let max = self.shared().config.max_logs_results;
        let mut out = Vec::new();
        let query = BloomQuery::new(filter);
        for n in view.blocks_with_logs(from, to, |bloom| query.may_match(&bloom)).map_err(query_err)? {
            let Some(b) = view.block(n).map_err(query_err)? else { continue };
            for h in &b.tx_hashes {
                let Some(s) = view.tx(h).map_err(query_err)? else { continue };
                for log in Self::rpc_logs(*h, &s) {
                    if filter.matches(&log.inner) {
                        out.push(log);
                        if out.len() > max {
                            return Err(QueryError::TooManyLogs(max));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Suggested legacy gas price: next base fee plus the suggested tip.
    pub fn gas_price(&self) -> u128 {
        u128::from(self.shared().next_base_fee.load(Ordering::SeqCst)) + self.max_priority_fee_per_gas()
    }

    /// Suggested priority fee ([`ChainConfig::suggested_priority_fee`]).
    pub fn max_priority_fee_per_gas(&self) -> u128 {
        u128::from(self.shared().config.suggested_priority_fee)
    }

    /// `eth_feeHistory`: base fees (including the next block's), gas used ratios and, for each
    /// requested percentile, the gas-weighted priority fee paid in each block. At most 1024
    /// blocks.
    pub fn fee_history(
        &self,
        block_count: u64,
        newest: BlockNumberOrTag,
        percentiles: &[f64],
    ) -> Result<FeeHistory, QueryError> {
        let mut last = -1.0f64;
        for p in percentiles {
            if !(0.0..=100.0).contains(p) || *p < last {
                return Err(QueryError::Invalid(format!("invalid reward percentile: {p}")));
            }
            last = *p;
        }
        let view = self.view()?;
        let head = view.head_number().map_err(query_err)?;
        let newest = Self::resolve_number(&view, newest)?;
        if newest > head {
            return Err(QueryError::UnknownBlock);
        }
        let count = block_count.min(1024).min(newest + 1);
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        let oldest = newest + 1 - count;
        let cfg = &self.shared().config;
        let mut hist = FeeHistory { oldest_block: oldest, ..Default::default() };
        let mut rewards = Vec::new();
        let mut next = 0u64;
        for n in oldest..=newest {
            let b = view.block(n).map_err(query_err)?.ok_or(QueryError::UnknownBlock)?;
            let base = b.header.base_fee_per_gas.unwrap_or(0);
            hist.base_fee_per_gas.push(u128::from(base));
            hist.gas_used_ratio.push(b.header.gas_used as f64 / b.header.gas_limit.max(1) as f64);
            hist.base_fee_per_blob_gas.push(1);
            hist.blob_gas_used_ratio.push(0.0);
            next = cfg.base_fee.next_base_fee(b.header.gas_used, b.header.gas_limit, base);
            if !percentiles.is_empty() {
                let mut tips: Vec<(u128, u64)> = Vec::with_capacity(b.tx_hashes.len());
                for h in &b.tx_hashes {
                    if let Some(s) = view.tx(h).map_err(query_err)? {
                        tips.push((s.effective_gas_price.saturating_sub(u128::from(base)), s.gas_used));
                    }
                }
                tips.sort_unstable();
                let total: u64 = tips.iter().map(|t| t.1).sum();
                let row = percentiles
                    .iter()
                    .map(|p| {
                        if tips.is_empty() {
                            return 0;
                        }
                        let threshold = (total as f64 * p / 100.0) as u64;
                        let mut acc = 0u64;
                        for (tip, gas) in &tips {
                            acc += gas;
                            if acc >= threshold {
                                return *tip;
                            }
                        }
                        tips.last().map(|t| t.0).unwrap_or(0)
                    })
                    .collect();
                rewards.push(row);
            }
        }
        hist.base_fee_per_gas.push(u128::from(next));
        hist.base_fee_per_blob_gas.push(1);
        if !percentiles.is_empty() {
            hist.reward = Some(rewards);
        }
        Ok(hist)
    }

    /// Gas used per block and transactions per block over a range (diagnostics for tests and
    /// benchmarks): `(number, tx count, gas used)`.
    pub fn block_stats(&self, from: u64, to: u64) -> Result<Vec<(u64, usize, u64)>, QueryError> {
        let view = self.view()?;
        let mut out = Vec::new();
        for n in from..=to {
            if let Some(b) = view.block(n).map_err(query_err)? {
                out.push((n, b.tx_hashes.len(), b.header.gas_used));
            }
        }
        Ok(out)
    }

    /// Checks the hash chain from genesis to the head: every block's `parentHash` is its
    /// parent's hash, and every hash is the keccak of the header's RLP. Returns the number of
    /// blocks checked.
    pub fn verify_hash_chain(&self) -> Result<u64, QueryError> {
        let view = self.view()?;
        let head = view.head_number().map_err(query_err)?;
        let mut parent = B256::ZERO;
        let mut txs: BTreeMap<B256, ()> = BTreeMap::new();
        for n in 0..=head {
            let b =
                view.block(n).map_err(query_err)?.ok_or_else(|| QueryError::Storage(format!("missing block {n}")))?;
            if b.header.hash_slow() != b.hash {
                return Err(QueryError::Storage(format!("block {n}: stored hash does not match its header")));
            }
            if b.header.parent_hash != parent {
                return Err(QueryError::Storage(format!(
                    "block {n}: parentHash does not match block {}",
                    n.saturating_sub(1)
                )));
            }
            for h in &b.tx_hashes {
                if txs.insert(*h, ()).is_some() {
                    return Err(QueryError::Storage(format!("transaction {h} included twice")));
                }
                if !view.has_tx(h).map_err(query_err)? {
                    return Err(QueryError::Storage(format!("block {n}: missing transaction {h}")));
                }
            }
            parent = b.hash;
        }
        Ok(head + 1)
    }
}
