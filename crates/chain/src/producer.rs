//! The block producer: one OS thread that seals every pending transaction into a block as soon
//! as any is pending, executes it with revm, persists the block in one fsync'd redb
//! transaction, and only then acknowledges the transactions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _,
    TxEnvelope,
};
use alloy_primitives::{B64, B256, Bloom, Bytes, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::EMPTY_ROOT_HASH;
use revm::ExecuteEvm;
use revm::context_interface::ContextTr;
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason, Output};

use crate::chain::{Shared, unix_now};
use crate::error::{ChainError, TxError};
use crate::evm::{self, BlockParams};
use crate::pool::{MineRequest, PoolTx};
use crate::state::ProducerDb;

type ProducerEvm = revm::MainnetEvm<evm::Ctx<ProducerDb>>;
use crate::store::{BlockWrite, StateDiff, StoredBlock, StoredTx};

/// Extra data put in every header.
pub(crate) const EXTRA_DATA: &[u8] = b"healthchain";

/// State commitment of a block: a keccak chain over the state diffs (see the crate docs).
pub(crate) fn chain_state_root(parent: B256, diff: &StateDiff) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(parent.as_slice());
    buf[32..].copy_from_slice(diff.digest().as_slice());
    keccak256(buf)
}

pub(crate) fn prevrandao(parent_hash: B256, number: u64) -> B256 {
    let mut buf = [0u8; 40];
    buf[..32].copy_from_slice(parent_hash.as_slice());
    buf[32..].copy_from_slice(&number.to_be_bytes());
    keccak256(buf)
}

/// Effective gas price of a transaction in a block with `base_fee`.
pub(crate) fn effective_gas_price(tx: &TxEnvelope, base_fee: u64) -> u128 {
    tx.effective_gas_price(Some(base_fee))
}

/// RLP length of a block with these header and transactions, no ommers and no withdrawals.
pub(crate) fn block_size(header: &Header, txs: &[TxEnvelope]) -> u64 {
    let txs_len = alloy_rlp::list_length(txs);
    let payload = header.length() + txs_len + 1 + 1;
    (payload + alloy_rlp::length_of_length(payload)) as u64
}

/// Receipt envelope of the right type.
pub(crate) fn receipt_envelope<T>(tx: &TxEnvelope, receipt: ReceiptWithBloom<Receipt<T>>) -> ReceiptEnvelope<T> {
    match tx {
        TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(receipt),
        TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(receipt),
        TxEnvelope::Eip1559(_) => ReceiptEnvelope::Eip1559(receipt),
        TxEnvelope::Eip4844(_) => ReceiptEnvelope::Eip4844(receipt),
        TxEnvelope::Eip7702(_) => ReceiptEnvelope::Eip7702(receipt),
    }
}

struct Included {
    tx: PoolTx,
    result: ExecutionResult<HaltReason>,
    gas_used: u64,
    cumulative: u64,
}

/// Runs until the chain is closed.
pub(crate) fn run(shared: Arc<Shared>) {
    // One EVM for the producer's lifetime: its database owns the state cache; the block
    // environment and the committed snapshot are swapped in per block.
    let mut evm = evm::evm(ProducerDb::default(), shared.config.chain_id, &evm::BlockParams::placeholder());
    // Sizes of the last few blocks; the group-commit target is their maximum.
    let mut recent = [0usize; 8];
    let mut recent_i = 0usize;
    let mut last_sealed = std::time::Instant::now();
    loop {
        let (batch, mine) = {
            let mut pool = shared.lock_pool();
            loop {
                if pool.closed {
                    let pending: Vec<PoolTx> = pool.pending.drain(..).collect();
                    let mines: Vec<MineRequest> = pool.mine_requests.drain(..).collect();
                    for tx in pending {
                        pool.settle(&tx.sender, &tx.hash, tx.cost);
                        if let Some(w) = tx.waiter {
                            let _ = w.send(Err(TxError::NotCommitted("the chain is shutting down".into())));
                        }
                    }
                    for m in mines {
                        let _ = m.reply.send(Err(ChainError::Closed));
                    }
                    return;
                }
                if !pool.pending.is_empty() || !pool.mine_requests.is_empty() {
                    break;
                }
                pool = shared.wait_pool(pool);
            }
            // Group commit only under sustained load: right after a block with several
            // transactions, whose senders are likely about to send again.
            if pool.mine_requests.is_empty() && last_sealed.elapsed() < shared.config.batch_wait {
                let target = recent.iter().copied().max().unwrap_or(0);
                pool = linger(&shared, pool, target);
            }
            let batch: Vec<PoolTx> = pool.pending.drain(..).collect();
            (batch, pool.mine_requests.pop_front())
        };
        let result = seal(&shared, &mut evm, batch, mine);
        evm.ctx.db_mut().view = None; // release the snapshot so redb can reuse its pages
        match result {
            Ok(n) => {
                evm.ctx.db_mut().cache.trim(shared.config.state_cache_entries);
                recent[recent_i % recent.len()] = n;
                recent_i += 1;
                last_sealed = std::time::Instant::now();
            }
            Err(e) => {
                recent = [0; 8];
                // The block was not stored: the cache may hold its changes, so rebuild it from disk.
                evm.ctx.db_mut().cache.clear();
                shared.note_failure(&e);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Group commit: see [`crate::ChainConfig::batch_wait`].
fn linger<'a>(
    shared: &Shared,
    mut pool: std::sync::MutexGuard<'a, crate::pool::Pool>,
    target: usize,
) -> std::sync::MutexGuard<'a, crate::pool::Pool> {
    let max = shared.config.batch_wait;
    if target <= 1 || max.is_zero() {
        return pool;
    }
    let idle = max / 4;
    let start = std::time::Instant::now();
    let mut last_len = pool.pending.len();
    let mut last_change = start;
    loop {
        let len = pool.pending.len();
        if len >= target || pool.closed || !pool.mine_requests.is_empty() {
            return pool;
        }
        let now = std::time::Instant::now();
        if len != last_len {
            last_len = len;
            last_change = now;
        }
        let waited = now - start;
        if waited >= max || now - last_change >= idle {
            return pool;
        }
        pool = shared.wait_pool_timeout(pool, (max - waited).min(idle));
    }
}

/// Seals one block from `batch` (and answers `mine`). On error nothing was committed and every
/// waiter has been told.
fn seal(
    shared: &Shared,
    evm: &mut ProducerEvm,
    batch: Vec<PoolTx>,
    mine: Option<MineRequest>,
) -> Result<usize, ChainError> {
    let cfg = &shared.config;
    let parent = shared.head();
    let now = unix_now();
    let mut time_offset = shared.time_offset.load(Ordering::SeqCst);
    let forced = mine.as_ref().and_then(|m| m.timestamp).or_else(|| {
        let t = shared.next_timestamp.swap(0, Ordering::SeqCst);
        (t != 0).then_some(t)
    });
    let timestamp = match forced {
        Some(t) => {
            let t = t.max(parent.timestamp);
            time_offset = t.saturating_sub(now);
            t
        }
        None => parent.timestamp.max(now.saturating_add(time_offset)),
    };
    let base_fee = shared.next_base_fee.load(Ordering::SeqCst);
    let number = parent.number + 1;
    let params = BlockParams {
        number,
        timestamp,
        gas_limit: cfg.block_gas_limit,
        base_fee,
        coinbase: cfg.coinbase,
        prevrandao: prevrandao(parent.hash, number),
    };

    let view = match shared.store.read() {
        Ok(v) => v,
        Err(e) => {
            fail_all(shared, batch, Vec::new(), mine, &e);
            return Err(e);
        }
    };
    let mut diff = StateDiff::default();
    let mut included: Vec<Included> = Vec::with_capacity(batch.len());
    let mut rejected: Vec<(PoolTx, TxError)> = Vec::new();
    let mut leftover: Vec<PoolTx> = Vec::new();
    let mut fatal: Option<ChainError> = None;
    evm.ctx.db_mut().view = Some(view);
    evm.ctx.block = params.env();
    {
        let mut gas_used = 0u64;
        let mut iter = batch.into_iter();
        while let Some(tx) = iter.next() {
            if gas_used.saturating_add(tx.envelope.gas_limit()) > cfg.block_gas_limit {
                leftover.push(tx);
                leftover.extend(iter);
                break;
            }
            let env = evm::tx_env(&tx.envelope, tx.sender);
            match evm.transact(env) {
                Ok(r) => {
                    let used = r.result.gas().tx_gas_used();
                    gas_used += used;
                    evm.ctx.db_mut().cache.apply(r.state, &mut diff);
                    included.push(Included { tx, result: r.result, gas_used: used, cumulative: gas_used });
                }
                Err(EVMError::Transaction(e)) => {
                    let msg = evm::invalid_tx_message(&e);
                    rejected.push((tx, TxError::Rejected(msg)));
                }
                Err(other) => {
                    fatal = Some(ChainError::Evm(other.to_string()));
                    leftover.push(tx);
                    leftover.extend(iter);
                    break;
                }
            }
        }
    }
    evm.ctx.db_mut().view = None;
    if let Some(e) = fatal {
        let txs: Vec<PoolTx> = included.into_iter().map(|i| i.tx).chain(leftover).collect();
        let rejected_all: Vec<(PoolTx, TxError)> = rejected;
        fail_all(shared, txs, rejected_all, mine, &e);
        return Err(e);
    }

    // Receipts, roots, header.
    let gas_used = included.last().map(|i| i.cumulative).unwrap_or(0);
    let mut logs_bloom = Bloom::default();
    let mut receipts: Vec<ReceiptEnvelope> = Vec::with_capacity(included.len());
    let mut envelopes: Vec<TxEnvelope> = Vec::with_capacity(included.len());
    for inc in &included {
        let receipt = Receipt {
            status: Eip658Value::Eip658(inc.result.is_success()),
            cumulative_gas_used: inc.cumulative,
            logs: inc.result.logs().to_vec(),
        }
        .with_bloom();
        logs_bloom.accrue_bloom(&receipt.logs_bloom);
        receipts.push(receipt_envelope(&inc.tx.envelope, receipt));
        envelopes.push(inc.tx.envelope.clone());
    }
    let header = Header {
        parent_hash: parent.hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: cfg.coinbase,
        state_root: chain_state_root(parent.state_root, &diff),
        transactions_root: if envelopes.is_empty() { EMPTY_ROOT_HASH } else { calculate_transaction_root(&envelopes) },
        receipts_root: if receipts.is_empty() { EMPTY_ROOT_HASH } else { calculate_receipt_root(&receipts) },
        logs_bloom,
        difficulty: Default::default(),
        number,
        gas_limit: cfg.block_gas_limit,
        gas_used,
        timestamp,
        extra_data: Bytes::from_static(EXTRA_DATA),
        mix_hash: params.prevrandao,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: None,
        ..Default::default()
    };
    let hash = header.hash_slow();
    let size = block_size(&header, &envelopes);
    let mut log_index = 0u32;
    let mut stored_txs = Vec::with_capacity(included.len());
    for (index, inc) in included.iter().enumerate() {
        let logs = inc.result.logs().to_vec();
        let contract_address = match &inc.result {
            ExecutionResult::Success { output: Output::Create(_, addr), .. } => *addr,
            _ => None,
        };
        stored_txs.push((
            inc.tx.hash,
            StoredTx {
                block_number: number,
                block_hash: hash,
                block_timestamp: timestamp,
                index: index as u32,
                sender: inc.tx.sender,
                gas_used: inc.gas_used,
                cumulative_gas_used: inc.cumulative,
                first_log_index: log_index,
                effective_gas_price: effective_gas_price(&inc.tx.envelope, base_fee),
                contract_address,
                success: inc.result.is_success(),
                raw: inc.tx.raw.clone(),
                logs,
            },
        ));
        log_index += inc.result.logs().len() as u32;
    }
    let block = StoredBlock { hash, header, tx_hashes: included.iter().map(|i| i.tx.hash).collect(), size };
    let write = BlockWrite { block, txs: stored_txs, diff, time_offset };

    if let Err(e) = shared.store.commit_block(&write, None) {
        let txs: Vec<PoolTx> = included.into_iter().map(|i| i.tx).chain(leftover).collect();
        fail_all(shared, txs, rejected, mine, &e);
        return Err(e);
    }

    // Committed: publish the new head, then acknowledge.
    let n_included = included.len();
    evm.ctx.db_mut().cache.note_block_hash(number, hash);
    let next_base_fee = cfg.base_fee.next_base_fee(gas_used, cfg.block_gas_limit, base_fee);
    shared.publish_head(&write.block, time_offset, next_base_fee);
    {
        let mut pool = shared.lock_pool();
        for inc in &included {
            pool.settle(&inc.tx.sender, &inc.tx.hash, inc.tx.cost);
        }
        for (tx, _) in &rejected {
            pool.settle(&tx.sender, &tx.hash, tx.cost);
        }
        if !leftover.is_empty() {
            pool.return_front(leftover);
        }
    }
    for inc in included {
        if let Some(w) = inc.tx.waiter {
            let _ = w.send(Ok(inc.tx.hash));
        }
    }
    for (tx, err) in rejected {
        if let Some(w) = tx.waiter {
            let _ = w.send(Err(err));
        }
    }
    if let Some(m) = mine {
        let _ = m.reply.send(Ok(number));
    }
    Ok(n_included)
}

/// Tells every waiter its transaction was not committed and forgets them.
fn fail_all(
    shared: &Shared,
    txs: Vec<PoolTx>,
    rejected: Vec<(PoolTx, TxError)>,
    mine: Option<MineRequest>,
    e: &ChainError,
) {
    let mut pool = shared.lock_pool();
    for tx in txs {
        pool.settle(&tx.sender, &tx.hash, tx.cost);
        if let Some(w) = tx.waiter {
            let _ = w.send(Err(TxError::NotCommitted(e.to_string())));
        }
    }
    for (tx, err) in rejected {
        pool.settle(&tx.sender, &tx.hash, tx.cost);
        if let Some(w) = tx.waiter {
            let _ = w.send(Err(err));
        }
    }
    drop(pool);
    if let Some(m) = mine {
        let _ = m.reply.send(Err(ChainError::Storage(e.to_string())));
    }
}
