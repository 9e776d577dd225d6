//! Transaction pool: validation of submitted transactions and the queue the producer drains.
//!
//! Policy:
//! - Only the sender's **exact next nonce** is accepted (counting the sender's transactions
//!   already pending); a future nonce is refused with [`TxError::NonceTooHigh`] instead of being
//!   queued. Clients that wait for each acknowledgment (as `eth_sendRawTransaction` here does)
//!   never hit this.
//! - The balance must cover `gas_limit * max_fee + value` of this transaction plus that of all
//!   the sender's pending transactions (a conservative bound: they may spend less).
//! - `maxFeePerGas` (legacy: `gasPrice`) must be at least the next block's base fee.

use std::collections::{HashMap, HashSet, VecDeque};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use tokio::sync::oneshot;

use crate::config::ChainConfig;
use crate::error::{ChainError, TxError};
use crate::evm::{self, MAX_INITCODE_SIZE};

/// A decoded, signature-checked transaction ready for the stateful checks.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub envelope: TxEnvelope,
    pub sender: Address,
    pub hash: B256,
    pub raw: Bytes,
    pub cost: U256,
    pub max_fee: u128,
}

/// Stateless checks: decoding, type, chain id, signature, sizes, intrinsic gas, fee fields.
pub(crate) fn prepare(raw: &[u8], cfg: &ChainConfig) -> Result<Prepared, TxError> {
    if raw.len() > cfg.max_tx_bytes {
        return Err(TxError::Oversized { size: raw.len(), max: cfg.max_tx_bytes });
    }
    if raw.is_empty() {
        return Err(TxError::Decode("empty input".into()));
    }
    let mut buf = raw;
    let envelope = TxEnvelope::decode_2718(&mut buf).map_err(|e| TxError::Decode(e.to_string()))?;
    if !buf.is_empty() {
        return Err(TxError::Decode(format!("{} trailing bytes after the transaction", buf.len())));
    }
    match &envelope {
        TxEnvelope::Legacy(t) if t.tx().chain_id.is_none() => return Err(TxError::Unprotected),
        TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
        other => return Err(TxError::UnsupportedType(alloy_eips::Typed2718::ty(other))),
    }
    match envelope.chain_id() {
        Some(id) if id == cfg.chain_id => {}
        Some(id) => return Err(TxError::WrongChainId { expected: cfg.chain_id, got: id }),
        None => return Err(TxError::Unprotected),
    }
    let sender = envelope.recover_signer().map_err(|e| TxError::InvalidSignature(e.to_string()))?;
    let gas = envelope.gas_limit();
    let is_create = envelope.kind().is_create();
    let input = envelope.input();
    if is_create && input.len() > MAX_INITCODE_SIZE {
        return Err(TxError::InitcodeTooLarge { size: input.len(), max: MAX_INITCODE_SIZE });
    }
    let needed = evm::intrinsic_gas(input, is_create, envelope.access_list());
    if gas < needed {
        return Err(TxError::IntrinsicGasTooLow { gas, needed });
    }
    if gas > cfg.block_gas_limit {
        return Err(TxError::GasLimitExceedsBlock { gas, limit: cfg.block_gas_limit });
    }
    let max_fee = envelope.max_fee_per_gas();
    if let Some(tip) = envelope.max_priority_fee_per_gas()
        && tip > max_fee
    {
        return Err(TxError::TipAboveFeeCap { sender, tip, max_fee });
    }
    let cost = U256::from(gas)
        .checked_mul(U256::from(max_fee))
        .and_then(|c| c.checked_add(envelope.value()))
        .ok_or(TxError::InsufficientFunds { sender, balance: U256::ZERO, cost: U256::MAX })?;
    let hash = *envelope.tx_hash();
    let raw = Bytes::from(envelope.encoded_2718());
    Ok(Prepared { envelope, sender, hash, raw, cost, max_fee })
}

/// A transaction waiting for a block.
#[derive(Debug)]
pub(crate) struct PoolTx {
    pub envelope: TxEnvelope,
    pub sender: Address,
    pub hash: B256,
    pub raw: Bytes,
    pub cost: U256,
    pub waiter: Option<oneshot::Sender<Result<B256, TxError>>>,
}

#[derive(Debug)]
struct SenderState {
    next_nonce: u64,
    in_flight: u32,
    /// Balance when the first in-flight transaction was admitted.
    balance: U256,
    /// Maximum total cost of the in-flight transactions.
    reserved: U256,
}

/// A request to seal a block now (evm_mine).
#[derive(Debug)]
pub(crate) struct MineRequest {
    pub timestamp: Option<u64>,
    pub reply: oneshot::Sender<Result<u64, ChainError>>,
}

/// The pool state, guarded by one mutex.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    pub pending: VecDeque<PoolTx>,
    hashes: HashSet<B256>,
    senders: HashMap<Address, SenderState>,
    pub mine_requests: VecDeque<MineRequest>,
    pub closed: bool,
}

/// Committed account state of a sender as the pool needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SenderAccount {
    pub nonce: u64,
    pub balance: U256,
    pub has_code: bool,
}

impl Pool {
    /// The next nonce of `sender` counting pending transactions, if it has any.
    pub(crate) fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.senders.get(sender).map(|s| s.next_nonce)
    }

    /// Stateful checks and admission. `committed` is called only when the sender has no
    /// transaction in flight (then the committed state is current for it).
    pub(crate) fn admit(
        &mut self,
        p: Prepared,
        max_pool: usize,
        next_base_fee: u64,
        committed: impl FnOnce(&Address) -> Result<SenderAccount, TxError>,
        waiter: Option<oneshot::Sender<Result<B256, TxError>>>,
    ) -> Result<(), TxError> {
        if self.closed {
            return Err(TxError::NotCommitted("the chain is shutting down".into()));
        }
        if self.hashes.contains(&p.hash) {
            return Err(TxError::AlreadyKnown);
        }
        if self.hashes.len() >= max_pool {
            return Err(TxError::PoolFull);
        }
        if p.max_fee < u128::from(next_base_fee) {
            return Err(TxError::FeeCapTooLow { sender: p.sender, max_fee: p.max_fee, base_fee: next_base_fee });
        }
        let nonce = p.envelope.nonce();
        let (next, available) = match self.senders.get(&p.sender) {
            Some(s) => (s.next_nonce, s.balance.saturating_sub(s.reserved)),
            None => {
                let acc = committed(&p.sender)?;
                if acc.has_code {
                    return Err(TxError::SenderNotEoa(p.sender));
                }
                (acc.nonce, acc.balance)
            }
        };
        if nonce < next {
            return Err(TxError::NonceTooLow { next, got: nonce });
        }
        if nonce > next {
            return Err(TxError::NonceTooHigh { next, got: nonce });
        }
        if available < p.cost {
            return Err(TxError::InsufficientFunds { sender: p.sender, balance: available, cost: p.cost });
        }
        if nonce == u64::MAX {
            return Err(TxError::Rejected("nonce overflow".into()));
        }
        let entry = self.senders.entry(p.sender).or_insert(SenderState {
            next_nonce: next,
            in_flight: 0,
            balance: available,
            reserved: U256::ZERO,
        });
        entry.next_nonce = nonce + 1;
        entry.in_flight += 1;
        entry.reserved = entry.reserved.saturating_add(p.cost);
        self.hashes.insert(p.hash);
        self.pending.push_back(PoolTx {
            envelope: p.envelope,
            sender: p.sender,
            hash: p.hash,
            raw: p.raw,
            cost: p.cost,
            waiter,
        });
        Ok(())
    }

    /// Forget a transaction that has been committed or rejected.
    pub(crate) fn settle(&mut self, sender: &Address, hash: &B256, cost: U256) {
        self.hashes.remove(hash);
        if let Some(s) = self.senders.get_mut(sender) {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.reserved = s.reserved.saturating_sub(cost);
            if s.in_flight == 0 {
                self.senders.remove(sender);
            }
        }
    }

    /// Put transactions the producer did not get to back at the front, in order.
    pub(crate) fn return_front(&mut self, txs: Vec<PoolTx>) {
        for tx in txs.into_iter().rev() {
            self.pending.push_front(tx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::TxKind;
    use alloy_signer::SignerSync;

    fn raw(nonce: u64, value: u64, chain_id: u64) -> Vec<u8> {
        let s = crate::config::dev_signer(0).expect("key");
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(value),
            access_list: Default::default(),
            input: Default::default(),
        };
        let sig = s.sign_hash_sync(&tx.signature_hash()).expect("sign");
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
    }

    fn account(nonce: u64, balance: u64) -> impl FnOnce(&Address) -> Result<SenderAccount, TxError> {
        move |_| Ok(SenderAccount { nonce, balance: U256::from(balance), has_code: false })
    }

    #[test]
    fn nonce_balance_and_duplicates() {
        let cfg = ChainConfig::default();
        let mut pool = Pool::default();
        let cost = 21_000 * 10 + 5;
        // Wrong nonce either way.
        let p = prepare(&raw(3, 5, cfg.chain_id), &cfg).expect("prepare");
        assert_eq!(pool.admit(p, 10, 1, account(2, 1_000_000), None), Err(TxError::NonceTooHigh { next: 2, got: 3 }));
        let p = prepare(&raw(1, 5, cfg.chain_id), &cfg).expect("prepare");
        assert_eq!(pool.admit(p, 10, 1, account(2, 1_000_000), None), Err(TxError::NonceTooLow { next: 2, got: 1 }));
        // Fee cap below base fee.
        let p = prepare(&raw(2, 5, cfg.chain_id), &cfg).expect("prepare");
        assert!(matches!(pool.admit(p, 10, 11, account(2, 1_000_000), None), Err(TxError::FeeCapTooLow { .. })));
        // Enough for exactly two: the second must count the first's reservation.
        let p = prepare(&raw(2, 5, cfg.chain_id), &cfg).expect("prepare");
        pool.admit(p, 10, 1, account(2, 2 * cost), None).expect("first");
        let p = prepare(&raw(2, 5, cfg.chain_id), &cfg).expect("prepare");
        assert_eq!(pool.admit(p, 10, 1, account(0, 0), None), Err(TxError::AlreadyKnown));
        assert_eq!(pool.pending_nonce(&crate::config::dev_signer(0).expect("key").address()), Some(3));
        let p = prepare(&raw(3, 5, cfg.chain_id), &cfg).expect("prepare");
        pool.admit(p, 10, 1, account(0, 0), None).expect("second, from the pool's view");
        let p = prepare(&raw(4, 5, cfg.chain_id), &cfg).expect("prepare");
        assert!(matches!(pool.admit(p, 10, 1, account(0, 0), None), Err(TxError::InsufficientFunds { .. })));
        // Pool limit.
        let p = prepare(&raw(4, 5, cfg.chain_id), &cfg).expect("prepare");
        assert_eq!(pool.admit(p, 2, 1, account(0, 0), None), Err(TxError::PoolFull));
        // Settling both forgets the sender.
        let txs: Vec<PoolTx> = pool.pending.drain(..).collect();
        for t in &txs {
            pool.settle(&t.sender, &t.hash, t.cost);
        }
        assert_eq!(pool.pending_nonce(&txs[0].sender), None);
    }

    #[test]
    fn stateless_checks() {
        let cfg = ChainConfig::default();
        assert!(matches!(prepare(&raw(0, 1, 5), &cfg), Err(TxError::WrongChainId { expected: 31337, got: 5 })));
        assert!(matches!(prepare(&[], &cfg), Err(TxError::Decode(_))));
        assert!(matches!(prepare(&[0xc0], &cfg), Err(TxError::Decode(_))));
        let mut trailing = raw(0, 1, cfg.chain_id);
        trailing.push(0);
        assert!(matches!(prepare(&trailing, &cfg), Err(TxError::Decode(_))));
        let small = ChainConfig { max_tx_bytes: 10, ..ChainConfig::default() };
        assert!(matches!(prepare(&raw(0, 1, 31337), &small), Err(TxError::Oversized { .. })));
        let ok = prepare(&raw(0, 1, cfg.chain_id), &cfg).expect("valid");
        assert_eq!(ok.sender, crate::config::dev_signer(0).expect("key").address());
        assert_eq!(ok.cost, U256::from(21_000u64 * 10 + 1));
    }
}
