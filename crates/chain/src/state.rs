//! The block producer's in-memory state cache, backed by the committed store.
//!
//! The cache holds every account, slot and code the producer has read or written since it
//! started; misses fall through to the last committed snapshot in redb. Each executed
//! transaction's changes are applied to the cache at once (so the next transaction in the
//! block sees them) and recorded in the block's [`StateDiff`], which is persisted with the block.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use revm::bytecode::Bytecode;
use revm::database_interface::Database;
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, EvmState};

use crate::store::{DbError, ReadView, StateDiff};

#[derive(Debug, Default)]
struct CachedAccount {
    /// `None`: the account does not exist.
    info: Option<AccountInfo>,
    storage: HashMap<U256, U256>,
    /// Storage was wiped (account created or destroyed) after the last time it was read from
    /// the store: slots missing from `storage` are zero, not in the store.
    storage_wiped: bool,
}

/// The producer's state cache.
#[derive(Debug, Default)]
pub(crate) struct StateCache {
    accounts: HashMap<Address, CachedAccount>,
    code: HashMap<B256, Bytecode>,
    block_hashes: HashMap<u64, B256>,
}

/// Block hashes the cache keeps: `BLOCKHASH` reads only the last 256 blocks.
const MAX_CACHED_BLOCK_HASHES: usize = 1 << 10;

impl StateCache {
    /// Drops everything (after a failed commit the store is the truth again).
    pub(crate) fn clear(&mut self) {
        self.accounts.clear();
        self.code.clear();
        self.block_hashes.clear();
    }

    /// Keeps at most `max_entries` accounts and slots (and a bounded number of block hashes).
    /// Call only after a block is committed, when everything the cache holds is also in the
    /// store: past its bounds it starts again from the store.
    pub(crate) fn trim(&mut self, max_entries: usize) {
        let slots: usize = self.accounts.values().map(|a| a.storage.len()).sum();
        if slots + self.accounts.len() > max_entries {
            self.accounts.clear();
        }
        if self.block_hashes.len() > MAX_CACHED_BLOCK_HASHES {
            self.block_hashes.clear();
        }
    }

    pub(crate) fn note_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// Applies one transaction's state changes to the cache and records them in `diff`.
    pub(crate) fn apply(&mut self, state: EvmState, diff: &mut StateDiff) {
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            let entry = self.accounts.entry(address).or_default();
            if account.is_selfdestructed() {
                entry.info = None;
                entry.storage.clear();
                entry.storage_wiped = true;
                diff.accounts.insert(address, None);
                diff.wiped.insert(address);
                diff.storage.retain(|(a, _), _| *a != address);
                continue;
            }
            if account.is_created() {
                entry.storage.clear();
                entry.storage_wiped = true;
                diff.wiped.insert(address);
                diff.storage.retain(|(a, _), _| *a != address);
            }
            let mut info = account.info.clone();
            if let Some(code) = info.code.take()
                && info.code_hash != KECCAK_EMPTY
                && !code.is_empty()
                && !self.code.contains_key(&info.code_hash)
            {
                diff.code.insert(info.code_hash, code.original_bytes());
                self.code.insert(info.code_hash, code);
            }
            for (slot, value) in account.changed_storage_slots() {
                let v = value.present_value();
                entry.storage.insert(*slot, v);
                diff.storage.insert((address, *slot), v);
            }
            diff.accounts.insert(address, Some(info.clone()));
            entry.info = Some(info);
        }
    }
}

/// revm [`Database`] of the block producer: the cache first, then the committed snapshot of
/// the block being built (filling the cache). Lives as long as the producer; `view` is set for
/// each block and cleared after it.
#[derive(Debug, Default)]
pub(crate) struct ProducerDb {
    pub cache: StateCache,
    pub view: Option<ReadView>,
}

impl ProducerDb {
    fn view(&self) -> Result<&ReadView, DbError> {
        self.view.as_ref().ok_or_else(|| DbError("no committed snapshot open".into()))
    }

    fn load(&mut self, address: Address) -> Result<&mut CachedAccount, DbError> {
        if !self.cache.accounts.contains_key(&address) {
            let info = self.view()?.account(&address).map_err(|e| DbError(e.to_string()))?;
            self.cache.accounts.insert(address, CachedAccount { info, ..Default::default() });
        }
        self.cache.accounts.get_mut(&address).ok_or_else(|| DbError("account vanished from cache".into()))
    }
}

impl Database for ProducerDb {
    type Error = DbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        Ok(self.load(address)?.info.clone())
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, DbError> {
        if code_hash == KECCAK_EMPTY || code_hash.is_zero() {
            return Ok(Bytecode::default());
        }
        if let Some(c) = self.cache.code.get(&code_hash) {
            return Ok(c.clone());
        }
        let bytes = self
            .view()?
            .code(&code_hash)
            .map_err(|e| DbError(e.to_string()))?
            .ok_or_else(|| DbError(format!("missing code {code_hash}")))?;
        let code = Bytecode::new_raw(bytes);
        self.cache.code.insert(code_hash, code.clone());
        Ok(code)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, DbError> {
        let acc = self.load(address)?;
        if let Some(v) = acc.storage.get(&index) {
            return Ok(*v);
        }
        let from_store = !(acc.storage_wiped || acc.info.is_none());
        let v = if from_store {
            self.view()?.storage_at(&address, &index).map_err(|e| DbError(e.to_string()))?
        } else {
            U256::ZERO
        };
        self.load(address)?.storage.insert(index, v);
        Ok(v)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, DbError> {
        if let Some(h) = self.cache.block_hashes.get(&number) {
            return Ok(*h);
        }
        let h = self.view()?.block_hash(number).map_err(|e| DbError(e.to_string()))?.unwrap_or_default();
        self.cache.block_hashes.insert(number, h);
        Ok(h)
    }
}
