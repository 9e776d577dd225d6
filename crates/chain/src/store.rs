//! Persistent store on `redb`: blocks, transactions with their receipts, and the latest state.
//!
//! Every block is written in **one** redb write transaction committed with
//! `Durability::Immediate` (fsync), so after a crash the store holds exactly the blocks whose
//! commit returned. Readers use redb read transactions (MVCC snapshots): they see the last
//! committed block and never wait for the writer.
//!
//! Tables:
//! - `meta`: `head` (u64 block number), `genesis` (hash), `time_offset` (u64 seconds), `schema`.
//! - `accounts`: address → nonce (8) ‖ balance (32) ‖ code hash (32).
//! - `storage`: address ‖ slot → value (non-zero values only).
//! - `code`: code hash → bytecode.
//! - `blocks`: number → block hash ‖ header RLP length (4) ‖ header RLP ‖ transaction hashes.
//! - `block_numbers`: block hash → number.
//! - `txs`: transaction hash → location, sender, gas used, log index, raw transaction, receipt.
//!
//! The logs index is per block: a block's header carries the bloom of all its logs, and its
//! logs are read from its transactions' receipts, so `eth_getLogs` skips blocks whose bloom does
//! not match.

use std::sync::Arc;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::primitives::KECCAK_EMPTY;
use revm::state::AccountInfo;

use crate::error::ChainError;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const ACCOUNTS: TableDefinition<[u8; 20], [u8; 72]> = TableDefinition::new("accounts");
pub(crate) const STORAGE: TableDefinition<[u8; 52], [u8; 32]> = TableDefinition::new("storage");
pub(crate) const CODE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("code");
pub(crate) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
pub(crate) const BLOCK_NUMBERS: TableDefinition<[u8; 32], u64> = TableDefinition::new("block_numbers");
pub(crate) const TXS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("txs");
/// The logs bloom of every block that has logs: `eth_getLogs` walks this small table and
/// loads only the blocks whose bloom matches, instead of decoding every block of the range.
pub(crate) const LOG_BLOOMS: TableDefinition<u64, [u8; 256]> = TableDefinition::new("log_blooms");
/// Meta key set once `LOG_BLOOMS` covers every stored block (chains written before the
/// index existed get it built when opened).
const LOG_BLOOMS_COMPLETE: &str = "log_blooms_complete";

const SCHEMA_VERSION: &[u8] = b"healthchain-chain/1";

/// Where the chain keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A redb file in this directory (created if missing). Durable: every block is fsync'd.
    Dir(std::path::PathBuf),
    /// In memory only (redb's in-memory backend); everything is lost when the chain is dropped.
    /// For fast tests.
    Memory,
}

impl Storage {
    /// Parses a storage spec: `:memory:` for [`Storage::Memory`], anything else a directory.
    pub fn parse(spec: &str) -> Self {
        if spec == ":memory:" { Storage::Memory } else { Storage::Dir(spec.into()) }
    }
}

/// Error type of the state views given to revm.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state database error: {0}")]
pub struct DbError(pub String);

impl DBErrorMarker for DbError {}

impl From<redb::StorageError> for DbError {
    fn from(e: redb::StorageError) -> Self {
        DbError(e.to_string())
    }
}

/// A stored block: its header, hash and transaction hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// Block hash (keccak-256 of the RLP header).
    pub hash: B256,
    /// The header.
    pub header: Header,
    /// Hashes of the block's transactions, in order.
    pub tx_hashes: Vec<B256>,
    /// RLP size of the block (header, transactions, empty uncles and withdrawals).
    pub size: u64,
}

impl StoredBlock {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut rlp = Vec::with_capacity(600);
        self.header.encode(&mut rlp);
        let mut out = Vec::with_capacity(32 + 4 + 8 + rlp.len() + 32 * self.tx_hashes.len());
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(&(rlp.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&rlp);
        for h in &self.tx_hashes {
            out.extend_from_slice(h.as_slice());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ChainError> {
        let mut r = Reader(bytes);
        let hash = B256::from_slice(r.take(32)?);
        let len = r.u32()? as usize;
        let size = r.u64()?;
        let mut rlp = r.take(len)?;
        let header = Header::decode(&mut rlp).map_err(|e| ChainError::Corrupt(format!("block header: {e}")))?;
        let rest = r.rest();
        if rest.len() % 32 != 0 {
            return Err(ChainError::Corrupt("block transaction list".into()));
        }
        let tx_hashes = rest.chunks_exact(32).map(B256::from_slice).collect();
        Ok(StoredBlock { hash, header, tx_hashes, size })
    }
}

/// A stored transaction with its receipt and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    /// Number of the block that includes it.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: B256,
    /// Timestamp of that block.
    pub block_timestamp: u64,
    /// Position in the block.
    pub index: u32,
    /// Recovered sender.
    pub sender: Address,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Gas used by the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// Index within the block of this transaction's first log.
    pub first_log_index: u32,
    /// Price per gas actually paid.
    pub effective_gas_price: u128,
    /// Address of the contract created, for a successful creation.
    pub contract_address: Option<Address>,
    /// Whether execution succeeded (receipt status 1).
    pub success: bool,
    /// The EIP-2718 encoded signed transaction.
    pub raw: Bytes,
    /// Logs emitted.
    pub logs: Vec<Log>,
}

impl StoredTx {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut logs = Vec::new();
        self.logs.encode(&mut logs);
        let mut out = Vec::with_capacity(160 + self.raw.len() + logs.len());
        out.extend_from_slice(&self.block_number.to_be_bytes());
        out.extend_from_slice(self.block_hash.as_slice());
        out.extend_from_slice(&self.block_timestamp.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(self.sender.as_slice());
        out.extend_from_slice(&self.gas_used.to_be_bytes());
        out.extend_from_slice(&self.cumulative_gas_used.to_be_bytes());
        out.extend_from_slice(&self.first_log_index.to_be_bytes());
        out.extend_from_slice(&self.effective_gas_price.to_be_bytes());
        match self.contract_address {
            Some(a) => {
                out.push(1);
                out.extend_from_slice(a.as_slice());
            }
            None => out.push(0),
        }
        out.push(u8::from(self.success));
        out.extend_from_slice(&(self.raw.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.raw);
        out.extend_from_slice(&logs);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ChainError> {
        let mut r = Reader(bytes);
        let block_number = r.u64()?;
        let block_hash = B256::from_slice(r.take(32)?);
        let block_timestamp = r.u64()?;
        let index = r.u32()?;
        let sender = Address::from_slice(r.take(20)?);
        let gas_used = r.u64()?;
        let cumulative_gas_used = r.u64()?;
        let first_log_index = r.u32()?;
        let effective_gas_price = u128::from_be_bytes(r.array::<16>()?);
        let contract_address = match r.take(1)?[0] {
            0 => None,
            _ => Some(Address::from_slice(r.take(20)?)),
        };
        let success = r.take(1)?[0] != 0;
        let raw_len = r.u32()? as usize;
        let raw = Bytes::copy_from_slice(r.take(raw_len)?);
        let mut rest = r.rest();
        let logs = Vec::<Log>::decode(&mut rest).map_err(|e| ChainError::Corrupt(format!("receipt logs: {e}")))?;
        Ok(StoredTx {
            block_number,
            block_hash,
            block_timestamp,
            index,
            sender,
            gas_used,
            cumulative_gas_used,
            first_log_index,
            effective_gas_price,
            contract_address,
            success,
            raw,
            logs,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChainError> {
        if self.0.len() < n {
            return Err(ChainError::Corrupt("record too short".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ChainError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, ChainError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }
    fn u64(&mut self) -> Result<u64, ChainError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Account record: nonce, balance and code hash (code itself is in the `code` table).
pub(crate) fn encode_account(info: &AccountInfo) -> [u8; 72] {
    let mut out = [0u8; 72];
    out[..8].copy_from_slice(&info.nonce.to_be_bytes());
    out[8..40].copy_from_slice(&info.balance.to_be_bytes::<32>());
    out[40..].copy_from_slice(info.code_hash.as_slice());
    out
}

pub(crate) fn decode_account(v: &[u8; 72]) -> AccountInfo {
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&v[..8]);
    let balance = U256::from_be_slice(&v[8..40]);
    let code_hash = B256::from_slice(&v[40..]);
    AccountInfo { nonce: u64::from_be_bytes(nonce), balance, code_hash, code: None, ..Default::default() }
}

pub(crate) fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

/// State changes of one block (post-values), applied to the store with the block.
#[derive(Debug, Default, Clone)]
pub(crate) struct StateDiff {
    /// Accounts written (`None`: deleted, e.g. self-destructed).
    pub accounts: std::collections::BTreeMap<Address, Option<AccountInfo>>,
    /// Accounts whose whole storage is wiped before `storage` is applied (created or destroyed).
    pub wiped: std::collections::BTreeSet<Address>,
    /// Storage slots written (zero deletes).
    pub storage: std::collections::BTreeMap<(Address, U256), U256>,
    /// New contract code by hash.
    pub code: std::collections::BTreeMap<B256, Bytes>,
}

impl StateDiff {
    /// A deterministic digest of the diff, chained into the header's state commitment.
    pub(crate) fn digest(&self) -> B256 {
        let mut buf = Vec::with_capacity(64 + 100 * (self.accounts.len() + self.storage.len()));
        for (addr, info) in &self.accounts {
            buf.extend_from_slice(addr.as_slice());
            match info {
                Some(i) => {
                    buf.push(1);
                    buf.extend_from_slice(&encode_account(i));
                }
                None => buf.push(0),
            }
        }
        buf.push(0xff);
        for addr in &self.wiped {
            buf.extend_from_slice(addr.as_slice());
        }
        buf.push(0xff);
        for ((addr, slot), value) in &self.storage {
            buf.extend_from_slice(&storage_key(addr, slot));
            buf.extend_from_slice(&value.to_be_bytes::<32>());
        }
        keccak256(&buf)
    }
}

/// Everything one block writes.
#[derive(Debug)]
pub(crate) struct BlockWrite {
    pub block: StoredBlock,
    pub txs: Vec<(B256, StoredTx)>,
    pub diff: StateDiff,
    pub time_offset: u64,
}

/// The memory redb may keep of the chain file's pages (its default is 1 GiB, which a busy
/// node fills: a chain's hot state and recent blocks fit well within this).
const PAGE_CACHE_BYTES: usize = 64 << 20;

/// The redb database.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: Arc<redb::Database>,
    _tempdir: Option<Arc<tempfile::TempDir>>,
}

impl Store {
    pub(crate) fn open(storage: &Storage) -> Result<Self, ChainError> {
        let db = match storage {
            Storage::Dir(dir) => {
                std::fs::create_dir_all(dir)?;
                redb::Database::builder().set_cache_size(PAGE_CACHE_BYTES).create(dir.join("chain.redb"))?
            }
            Storage::Memory => redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?,
        };
        let store = Store { db: Arc::new(db), _tempdir: None };
        // Create every table so read transactions can always open them.
        let w = store.db.begin_write()?;
        {
            w.open_table(META)?;
            w.open_table(ACCOUNTS)?;
            w.open_table(STORAGE)?;
            w.open_table(CODE)?;
            w.open_table(BLOCKS)?;
            w.open_table(BLOCK_NUMBERS)?;
            w.open_table(TXS)?;
            let mut meta = w.open_table(META)?;
            if meta.get(LOG_BLOOMS_COMPLETE)?.is_none() {
                let blocks = w.open_table(BLOCKS)?;
                let mut blooms = w.open_table(LOG_BLOOMS)?;
                for entry in blocks.iter()? {
                    let (number, bytes) = entry?;
                    let bloom = StoredBlock::decode(bytes.value())?.header.logs_bloom;
                    if !bloom.is_zero() {
                        blooms.insert(number.value(), bloom.0.0)?;
                    }
                }
                meta.insert(LOG_BLOOMS_COMPLETE, [1u8].as_slice())?;
            }
        }
        w.commit()?;
        Ok(store)
    }

    /// A store in a fresh temporary directory, deleted when the last handle is dropped.
    pub(crate) fn open_temp() -> Result<Self, ChainError> {
        let dir = tempfile::tempdir()?;
        let mut store = Self::open(&Storage::Dir(dir.path().to_path_buf()))?;
        store._tempdir = Some(Arc::new(dir));
        Ok(store)
    }

    /// The committed account at `address` (one small read transaction).
    pub(crate) fn account(&self, address: &Address) -> Result<Option<AccountInfo>, ChainError> {
        let txn = self.db.begin_read()?;
        let accounts = txn.open_table(ACCOUNTS)?;
        Ok(accounts.get(address.0.0)?.map(|v| decode_account(&v.value())))
    }

    pub(crate) fn read(&self) -> Result<ReadView, ChainError> {
        let txn = self.db.begin_read()?;
        ReadView::new(txn)
    }

    /// Writes genesis if the store is empty, or checks the stored genesis matches.
    pub(crate) fn init_genesis(&self, genesis: &BlockWrite, chain_id: u64) -> Result<(), ChainError> {
        let view = self.read()?;
        if let Some(stored) = view.meta(b"chain_id".as_slice())?
            && stored.as_slice() != chain_id.to_be_bytes().as_slice()
        {
            return Err(ChainError::Config(format!(
                "the data directory holds a chain with another chain id (configured {chain_id})"
            )));
        }
        if let Some(stored) = view.meta(b"genesis".as_slice())? {
            let stored = B256::try_from(stored.as_slice()).map_err(|_| ChainError::Corrupt("genesis hash".into()))?;
            if stored != genesis.block.hash {
                return Err(ChainError::GenesisMismatch { stored, configured: genesis.block.hash });
            }
            match view.meta(b"schema".as_slice())? {
                Some(s) if s == SCHEMA_VERSION => {}
                _ => return Err(ChainError::Corrupt("unknown schema version".into())),
            }
            return Ok(());
        }
        drop(view);
        self.commit_block(genesis, Some(chain_id))
    }

    /// Writes one block, its transactions and its state changes in one fsync'd transaction.
    /// `genesis`: the chain id, when writing the genesis block.
    pub(crate) fn commit_block(&self, w: &BlockWrite, genesis: Option<u64>) -> Result<(), ChainError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let mut accounts = txn.open_table(ACCOUNTS)?;
            let mut storage = txn.open_table(STORAGE)?;
            let mut code = txn.open_table(CODE)?;
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut numbers = txn.open_table(BLOCK_NUMBERS)?;
            let mut txs = txn.open_table(TXS)?;
            let mut blooms = txn.open_table(LOG_BLOOMS)?;

            for (hash, bytes) in &w.diff.code {
                code.insert(hash.0, bytes.as_ref())?;
            }
            for addr in &w.diff.wiped {
                let lo = storage_key(addr, &U256::ZERO);
                let hi = storage_key(addr, &U256::MAX);
                storage.retain_in(lo..=hi, |_, _| false)?;
            }
            for (addr, info) in &w.diff.accounts {
                match info {
                    Some(info) => {
                        accounts.insert(addr.0.0, encode_account(info))?;
                    }
                    None => {
                        accounts.remove(addr.0.0)?;
                    }
                }
            }
            for ((addr, slot), value) in &w.diff.storage {
                let k = storage_key(addr, slot);
                if value.is_zero() {
                    storage.remove(k)?;
                } else {
                    storage.insert(k, value.to_be_bytes::<32>())?;
                }
            }
            for (hash, tx) in &w.txs {
                txs.insert(hash.0, tx.encode().as_slice())?;
            }
            let number = w.block.header.number;
            blocks.insert(number, w.block.encode().as_slice())?;
            if !w.block.header.logs_bloom.is_zero() {
                blooms.insert(number, w.block.header.logs_bloom.0.0)?;
            }
            numbers.insert(w.block.hash.0, number)?;
            meta.insert("head", number.to_be_bytes().as_slice())?;
            meta.insert("time_offset", w.time_offset.to_be_bytes().as_slice())?;
            if let Some(chain_id) = genesis {
                meta.insert("chain_id", chain_id.to_be_bytes().as_slice())?;
                meta.insert("genesis", w.block.hash.as_slice())?;
                meta.insert("schema", SCHEMA_VERSION)?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// A consistent snapshot of the last committed block and state.
pub(crate) struct ReadView {
    meta: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    accounts: redb::ReadOnlyTable<[u8; 20], [u8; 72]>,
    storage: redb::ReadOnlyTable<[u8; 52], [u8; 32]>,
    code: redb::ReadOnlyTable<[u8; 32], &'static [u8]>,
    blocks: redb::ReadOnlyTable<u64, &'static [u8]>,
    numbers: redb::ReadOnlyTable<[u8; 32], u64>,
    txs: redb::ReadOnlyTable<[u8; 32], &'static [u8]>,
    log_blooms: redb::ReadOnlyTable<u64, [u8; 256]>,
}

impl std::fmt::Debug for ReadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView").finish_non_exhaustive()
    }
}

impl ReadView {
    fn new(txn: ReadTransaction) -> Result<Self, ChainError> {
        Ok(ReadView {
            meta: txn.open_table(META)?,
            accounts: txn.open_table(ACCOUNTS)?,
            storage: txn.open_table(STORAGE)?,
            code: txn.open_table(CODE)?,
            blocks: txn.open_table(BLOCKS)?,
            numbers: txn.open_table(BLOCK_NUMBERS)?,
            txs: txn.open_table(TXS)?,
            log_blooms: txn.open_table(LOG_BLOOMS)?,
        })
    }

    /// The blocks in `from..=to` that have logs whose bloom passes `wanted`, in order.
    pub(crate) fn blocks_with_logs(
        &self,
        from: u64,
        to: u64,
        wanted: impl Fn(Bloom) -> bool,
    ) -> Result<Vec<u64>, ChainError> {
        let mut out = Vec::new();
        for entry in self.log_blooms.range(from..=to)? {
            let (number, bloom) = entry?;
            if wanted(Bloom::from(bloom.value())) {
                out.push(number.value());
            }
        }
        Ok(out)
    }

    pub(crate) fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        let key = std::str::from_utf8(key).map_err(|_| ChainError::Corrupt("meta key".into()))?;
        Ok(self.meta.get(key)?.map(|v| v.value().to_vec()))
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, ChainError> {
        match self.meta.get(key)? {
            Some(v) => {
                let b: [u8; 8] = v.value().try_into().map_err(|_| ChainError::Corrupt(format!("meta {key}")))?;
                Ok(Some(u64::from_be_bytes(b)))
            }
            None => Ok(None),
        }
    }

    /// Number of the head block.
    pub(crate) fn head_number(&self) -> Result<u64, ChainError> {
        self.meta_u64("head")?.ok_or_else(|| ChainError::Corrupt("no head block".into()))
    }

    pub(crate) fn time_offset(&self) -> Result<u64, ChainError> {
        Ok(self.meta_u64("time_offset")?.unwrap_or(0))
    }

    pub(crate) fn block(&self, number: u64) -> Result<Option<StoredBlock>, ChainError> {
        match self.blocks.get(number)? {
            Some(v) => Ok(Some(StoredBlock::decode(v.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        match self.blocks.get(number)? {
            Some(v) => {
                let b = v.value();
                if b.len() < 32 {
                    return Err(ChainError::Corrupt("block record".into()));
                }
                Ok(Some(B256::from_slice(&b[..32])))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn block_number_of(&self, hash: &B256) -> Result<Option<u64>, ChainError> {
        Ok(self.numbers.get(hash.0)?.map(|v| v.value()))
    }

    pub(crate) fn tx(&self, hash: &B256) -> Result<Option<StoredTx>, ChainError> {
        match self.txs.get(hash.0)? {
            Some(v) => Ok(Some(StoredTx::decode(v.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn has_tx(&self, hash: &B256) -> Result<bool, ChainError> {
        Ok(self.txs.get(hash.0)?.is_some())
    }

    pub(crate) fn account(&self, address: &Address) -> Result<Option<AccountInfo>, ChainError> {
        Ok(self.accounts.get(address.0.0)?.map(|v| decode_account(&v.value())))
    }

    pub(crate) fn storage_at(&self, address: &Address, slot: &U256) -> Result<U256, ChainError> {
        Ok(self.storage.get(storage_key(address, slot))?.map(|v| U256::from_be_bytes(v.value())).unwrap_or_default())
    }

    pub(crate) fn code(&self, hash: &B256) -> Result<Option<Bytes>, ChainError> {
        if *hash == KECCAK_EMPTY || hash.is_zero() {
            return Ok(Some(Bytes::new()));
        }
        Ok(self.code.get(hash.0)?.map(|v| Bytes::copy_from_slice(v.value())))
    }
}

/// revm reads the committed state through this (used for `eth_call`, `eth_estimateGas`, and as
/// the backing store of the block producer's cache).
impl DatabaseRef for ReadView {
    type Error = DbError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        self.account(&address).map_err(|e| DbError(e.to_string()))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, DbError> {
        match self.code(&code_hash).map_err(|e| DbError(e.to_string()))? {
            Some(b) if b.is_empty() => Ok(Bytecode::default()),
            Some(b) => Ok(Bytecode::new_raw(b)),
            None => Err(DbError(format!("missing code {code_hash}"))),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, DbError> {
        self.storage_at(&address, &index).map_err(|e| DbError(e.to_string()))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, DbError> {
        Ok(self.block_hash(number).map_err(|e| DbError(e.to_string()))?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::LogData;

    #[test]
    fn records_round_trip() {
        let tx = StoredTx {
            block_number: 9,
            block_hash: B256::repeat_byte(1),
            block_timestamp: 1_700_000_000,
            index: 3,
            sender: Address::repeat_byte(2),
            gas_used: 21_000,
            cumulative_gas_used: 84_000,
            first_log_index: 5,
            effective_gas_price: 1_000_000_007,
            contract_address: Some(Address::repeat_byte(3)),
            success: false,
            raw: Bytes::from(vec![2, 3, 4]),
            logs: vec![Log {
                address: Address::repeat_byte(4),
                data: LogData::new_unchecked(vec![B256::repeat_byte(5)], Bytes::from(vec![6, 7])),
            }],
        };
        assert_eq!(StoredTx::decode(&tx.encode()).expect("decode"), tx);
        let no_contract = StoredTx { contract_address: None, logs: vec![], ..tx };
        assert_eq!(StoredTx::decode(&no_contract.encode()).expect("decode"), no_contract);
        assert!(StoredTx::decode(&no_contract.encode()[..20]).is_err());

        let header = Header { number: 4, gas_limit: 30_000_000, base_fee_per_gas: Some(7), ..Default::default() };
        let b = StoredBlock {
            hash: header.hash_slow(),
            header,
            tx_hashes: vec![B256::repeat_byte(8), B256::repeat_byte(9)],
            size: 600,
        };
        assert_eq!(StoredBlock::decode(&b.encode()).expect("decode"), b);

        let info =
            AccountInfo { nonce: 3, balance: U256::from(99), code_hash: B256::repeat_byte(1), ..Default::default() };
        let back = decode_account(&encode_account(&info));
        assert_eq!((back.nonce, back.balance, back.code_hash), (3, U256::from(99), B256::repeat_byte(1)));
    }

    #[test]
    fn state_diff_digest_is_deterministic_and_sensitive() {
        let mut a = StateDiff::default();
        a.storage.insert((Address::repeat_byte(1), U256::from(1)), U256::from(2));
        a.accounts.insert(Address::repeat_byte(1), Some(AccountInfo::default()));
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.storage.insert((Address::repeat_byte(1), U256::from(1)), U256::from(3));
        assert_ne!(a.digest(), b.digest());
    }
}
