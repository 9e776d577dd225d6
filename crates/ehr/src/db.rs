//! The SQLCipher database: opening it with a raw key, the schema, and the fixed,
//! prepared statements every request maps to.
//!
//! # Schema (`PRAGMA user_version = 2`)
//!
//! ```sql
//! -- Current version of every EHR (seed 001 chaincode fields + the bytes).
//! CREATE TABLE ehr (
//!     id         INTEGER PRIMARY KEY,
//!     patient    BLOB    NOT NULL,  -- 20-byte ledger address
//!     ehr_id     TEXT    NOT NULL,
//!     version    INTEGER NOT NULL,  -- 1 = as created, +1 per update
//!     created_at INTEGER NOT NULL,  -- unix seconds, enclave clock
//!     updated_at INTEGER NOT NULL,
//!     status     INTEGER NOT NULL,  -- u16, as EhrRegistry
//!     ehr_type   INTEGER NOT NULL,  -- u16, as EhrRegistry
//!     ehr_hash   BLOB    NOT NULL,  -- SHA-256(body), the value EhrRegistry holds
//!     hospitals  BLOB    NOT NULL,  -- n × 20-byte addresses
//!     author     BLOB    NOT NULL,  -- the doctor who wrote this version
//!     warrant_id BLOB    NOT NULL,  -- EIP-712 signing hash of the warrant
//!     body       BLOB    NOT NULL,  -- the EHR bytes (FHIR Bundle JSON)
//!     -- version 2: where a version written by CreateMany sits in its batch's Merkle tree
//!     -- (all NULL for versions written one at a time)
//!     batch_root  BLOB,             -- the root the doctor anchors on EhrRegistry
//!     batch_index INTEGER,          -- leaf index
//!     batch_count INTEGER,          -- leaves in the batch
//!     batch_proof BLOB,             -- sibling hashes, 32 bytes each, leaf layer first
//!     UNIQUE (patient, ehr_id)
//! );
//! -- Earlier versions, moved here by updates (same columns).
//! CREATE TABLE ehr_history (..., PRIMARY KEY (patient, ehr_id, version));
//! -- Warrants seen: signature checked once, ordered-group progress, revocation.
//! CREATE TABLE warrant (
//!     warrant_id BLOB PRIMARY KEY,
//!     patient    BLOB    NOT NULL,
//!     written    INTEGER NOT NULL,  -- the first `written` doctors of the order have written
//!     revoked    INTEGER NOT NULL
//! ) WITHOUT ROWID;
//! -- Seed 001 Figure 7's benchmark table (synthetic rows only).
//! CREATE TABLE test (id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT);
//! ```
//!
//! Pages are encrypted by SQLCipher 4 with its defaults (AES-256-CBC per 4 KiB page,
//! HMAC-SHA512 per page, random per-page IV); with a raw key there is no PBKDF2 step. The
//! write-ahead log is encrypted the same way; temporary data stays in memory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use alloy_primitives::{Address, B256};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::merkle;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags, OptionalExtension, Row, params};
use zeroize::Zeroizing;

use crate::api::{BatchAnchor, BenchRow, EhrRecord, EhrSummary};
use crate::error::EhrError;

/// The database file's name inside the enclave's data directory.
pub const DB_FILE: &str = "ehr.db";

/// Schema version stored in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1 → 2: the batch anchor columns of `ehr` and `ehr_history`.
const ADD_BATCH_COLUMNS: &str = "
    ALTER TABLE ehr ADD COLUMN batch_root BLOB;
    ALTER TABLE ehr ADD COLUMN batch_index INTEGER;
    ALTER TABLE ehr ADD COLUMN batch_count INTEGER;
    ALTER TABLE ehr ADD COLUMN batch_proof BLOB;
    ALTER TABLE ehr_history ADD COLUMN batch_root BLOB;
    ALTER TABLE ehr_history ADD COLUMN batch_index INTEGER;
    ALTER TABLE ehr_history ADD COLUMN batch_count INTEGER;
    ALTER TABLE ehr_history ADD COLUMN batch_proof BLOB;
    PRAGMA user_version = 2;";

/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 64 * 1024;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 32;

/// A 256-bit SQLCipher raw key. Lives only inside the enclave; zeroed when dropped.
pub struct DbKey(Zeroizing<[u8; 32]>);

impl DbKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rand::rng(), key.as_mut());
        Self(key)
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(bytes)))
    }

    /// The key bytes (to seal them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SQLCipher's raw-key syntax `x'<64 hex digits>'`.
    fn raw_key_literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_slice())))
    }
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

/// Opens (creating if needed) the database at `path`, keyed with `key` (SQLCipher) or,
/// with `None`, as plain SQLite (used only by the benchmark's baseline), and applies the
/// durability settings: WAL, `synchronous = FULL` (the WAL is fsynced at every commit, so
/// a committed write survives a crash), temporary data in memory, `secure_delete = FAST`.
///
/// A wrong key (or a file that is not this database) gives [`EhrError::WrongKey`].
pub fn open_connection(path: &Path, key: Option<&DbKey>) -> Result<Connection, EhrError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    if let Some(key) = key {
        // Must be the first statement on the connection. Built in a zeroizing buffer and
        // handed to SQLite without another copy on the Rust side.
        let statement = Zeroizing::new(format!("PRAGMA key = \"{}\";", key.raw_key_literal().as_str()));
        connection.execute_batch(&statement)?;
    }
    // The first read of the schema is where SQLCipher checks the key (page 1's HMAC).
    let wrong_key = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            EhrError::WrongKey { path: path.display().to_string(), reason: error.to_string() }
        }
        _ => EhrError::from(error),
    };
    connection.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)).map_err(wrong_key)?;
    let mode: String = connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(EhrError::Storage(format!("cannot switch {} to WAL mode (got {mode})", path.display())));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    // SQLCipher turns `secure_delete` on for keyed databases, which rewrites every freed
    // page (DELETE of the 10,000-row table: ~10× plain SQLite, the same with or without a
    // key). FAST zeroes deleted content inside pages being written anyway; whole freed
    // pages keep their (encrypted) bytes until reused. Set on every connection, keyed or
    // not, so the baselines compare like with like.
    connection.pragma_update(None, "secure_delete", "FAST")?;
    // Room for a whole batch's dirty pages (a CreateMany of 1,000 ~2 KB EHRs dirties ~1,000
    // pages): otherwise SQLite spills them to the WAL mid-transaction.
    connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// WAL size (pages) at which a commit wakes the background checkpointer.
const CHECKPOINT_PAGES: i32 = 1_000;
/// WAL size at which the committing connection checkpoints itself (the background
/// checkpointer is lagging): bounds the WAL at ~64 MiB.
const INLINE_CHECKPOINT_PAGES: i32 = 16 * 1_024;

/// Copies the WAL into the database file on a thread (and connection) of its own, so the
/// connection serving requests does not pay for checkpoints; replaces SQLite's automatic
/// checkpoint, which runs inside the committing statement. Checkpoints never affect
/// durability: a commit is durable once its WAL frames are fsynced.
struct Checkpointer {
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(connection: &mut Connection, path: &Path, key: Option<&DbKey>) -> Result<Self, EhrError> {
        let background = open_connection(path, key)?;
        let (wake, woken) = sync_channel::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ehr-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() && !stopped.load(Ordering::Acquire) {
                    // PASSIVE copies what it can without blocking the writer; a failure
                    // (e.g. busy) leaves the frames for the next round.
                    let _ = background.wal_checkpoint_v2(Some(MAIN_DB), CheckpointMode::PASSIVE);
                }
            })
            .map_err(|e| EhrError::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        let hook_wake = wake.clone();
        connection.wal_hook(Some(move |wal: &mut Wal, pages: std::ffi::c_int| {
            // Errors must not escape: SQLite would report the already committed write as
            // failed.
            if pages >= INLINE_CHECKPOINT_PAGES {
                let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
            } else if pages >= CHECKPOINT_PAGES {
                let _ = hook_wake.try_send(());
            }
            Ok(())
        }))?;
        Ok(Self { wake, stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Full means a wake-up is already pending; either way the thread sees `stop`.
        let _ = self.wake.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An open database: the connection requests run on, with its background checkpointer.
pub struct Database {
    // Dropped in this order: the checkpointer stops before the connection closes. Only
    // held for that.
    _checkpointer: Checkpointer,
    connection: Connection,
}

impl Database {
    /// Opens the database like [`open_connection`], checks it whole (SQLite's
    /// `integrity_check` and, keyed, SQLCipher's `cipher_integrity_check` of every page's
    /// HMAC: a store damaged by a crash or by someone with the file is refused at start, not
    /// found out one read at a time) and starts its checkpointer.
    pub fn open(path: &Path, key: Option<&DbKey>) -> Result<Self, EhrError> {
        let mut connection = open_connection(path, key)?;
        check_whole(&connection, path, key.is_some())?;
        let checkpointer = Checkpointer::start(&mut connection, path, key)?;
        Ok(Self { _checkpointer: checkpointer, connection })
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The connection, for transactions.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("path", &self.connection.path()).finish_non_exhaustive()
    }
}

/// Every problem `PRAGMA integrity_check` (and, for a keyed database,
/// `cipher_integrity_check`) reports, as one [`EhrError::Storage`].
fn check_whole(connection: &Connection, path: &Path, keyed: bool) -> Result<(), EhrError> {
    let damaged =
        |problems: &str| EhrError::Storage(format!("{} fails its integrity check: {problems}", path.display()));
    // A page damaged badly enough makes the check itself fail: that is its finding too.
    let rows = |pragma: &str| -> Result<Vec<String>, EhrError> {
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut statement = connection.prepare(pragma)?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
            rows.collect()
        };
        read().map_err(|e| damaged(&e.to_string()))
    };
    let mut problems: Vec<String> = rows("PRAGMA integrity_check")?.into_iter().filter(|row| row != "ok").collect();
    if keyed {
        problems.extend(rows("PRAGMA cipher_integrity_check")?);
    }
    if problems.is_empty() { Ok(()) } else { Err(damaged(&problems.join("; "))) }
}

/// Creates the schema if the database is new, adds the batch anchor columns to a version 1
/// database; refuses a schema from a newer version.
pub fn migrate(connection: &Connection) -> Result<(), EhrError> {
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => {
            connection.execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS ehr (
                     id INTEGER PRIMARY KEY,
                     patient BLOB NOT NULL, ehr_id TEXT NOT NULL, version INTEGER NOT NULL,
                     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                     status INTEGER NOT NULL, ehr_type INTEGER NOT NULL, ehr_hash BLOB NOT NULL,
                     hospitals BLOB NOT NULL, author BLOB NOT NULL, warrant_id BLOB NOT NULL,
                     body BLOB NOT NULL,
                     UNIQUE (patient, ehr_id));
                 CREATE TABLE IF NOT EXISTS ehr_history (
                     patient BLOB NOT NULL, ehr_id TEXT NOT NULL, version INTEGER NOT NULL,
                     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                     status INTEGER NOT NULL, ehr_type INTEGER NOT NULL, ehr_hash BLOB NOT NULL,
                     hospitals BLOB NOT NULL, author BLOB NOT NULL, warrant_id BLOB NOT NULL,
                     body BLOB NOT NULL,
                     PRIMARY KEY (patient, ehr_id, version));
                 CREATE TABLE IF NOT EXISTS warrant (
                     warrant_id BLOB PRIMARY KEY, patient BLOB NOT NULL,
                     written INTEGER NOT NULL, revoked INTEGER NOT NULL) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS test (id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT);
                 {ADD_BATCH_COLUMNS}
                 COMMIT;"
            ))?;
            Ok(())
        }
        1 => {
            connection.execute_batch(&format!("BEGIN IMMEDIATE; {ADD_BATCH_COLUMNS} COMMIT;"))?;
            Ok(())
        }
        SCHEMA_VERSION => Ok(()),
        other => Err(EhrError::Storage(format!(
            "database schema version {other} is newer than this enclave's ({SCHEMA_VERSION})"
        ))),
    }
}

/// The columns of `ehr` and `ehr_history` in the order [`read_record`] expects.
const RECORD_COLUMNS: &str = "patient, ehr_id, version, created_at, updated_at, status, ehr_type, ehr_hash, hospitals, \
     author, warrant_id, body, batch_root, batch_index, batch_count, batch_proof";

/// A version of an EHR as written to the database.
pub(crate) struct NewRow<'a> {
    pub patient: Address,
    pub ehr_id: &'a str,
    pub version: u64,
    pub created_at: u64,
    pub updated_at: u64,
    pub status: u16,
    pub ehr_type: u16,
    pub ehr_hash: B256,
    pub hospitals: &'a [Address],
    pub author: Address,
    pub warrant_id: B256,
    pub body: &'a [u8],
    /// Set for versions written in a batch.
    pub anchor: Option<RowAnchor>,
}

/// Where a version written in a batch sits in the batch's Merkle tree.
pub(crate) struct RowAnchor {
    pub root: B256,
    pub index: u32,
    pub count: u32,
    /// The proof's hashes, concatenated.
    pub proof: Vec<u8>,
}

fn hospitals_blob(hospitals: &[Address]) -> Vec<u8> {
    hospitals.iter().flat_map(|h| h.0.0).collect()
}

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_string(), rusqlite::types::Type::Blob)
}

fn address(row: &Row<'_>, index: usize) -> rusqlite::Result<Address> {
    let bytes: Vec<u8> = row.get(index)?;
    Address::try_from(bytes.as_slice()).map_err(|_| corrupt("address"))
}

fn b256(row: &Row<'_>, index: usize) -> rusqlite::Result<B256> {
    let bytes: Vec<u8> = row.get(index)?;
    B256::try_from(bytes.as_slice()).map_err(|_| corrupt("hash"))
}

fn read_anchor(row: &Row<'_>) -> rusqlite::Result<Option<BatchAnchor>> {
    let root: Option<Vec<u8>> = row.get(12)?;
    let Some(root) = root else { return Ok(None) };
    let proof: Vec<u8> = row.get(15)?;
    Ok(Some(BatchAnchor {
        root: B256::try_from(root.as_slice()).map_err(|_| corrupt("batch root"))?,
        index: row.get(13)?,
        count: row.get(14)?,
        proof: merkle::proof_from_bytes(&proof).ok_or_else(|| corrupt("batch proof"))?,
    }))
}

fn read_record(row: &Row<'_>) -> rusqlite::Result<EhrRecord> {
    let hospitals: Vec<u8> = row.get(8)?;
    if !hospitals.len().is_multiple_of(20) {
        return Err(corrupt("hospitals"));
    }
    Ok(EhrRecord {
        patient: address(row, 0)?,
        ehr_id: row.get(1)?,
        version: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        status: row.get(5)?,
        ehr_type: row.get(6)?,
        ehr_hash: b256(row, 7)?,
        hospitals: hospitals.chunks_exact(20).map(Address::from_slice).collect(),
        author: address(row, 9)?,
        warrant_id: b256(row, 10)?,
        anchor: read_anchor(row)?,
        body: row.get(11)?,
    })
}

fn check_integrity(record: EhrRecord) -> Result<EhrRecord, EhrError> {
    if B256::from(sha256(&record.body)) != record.ehr_hash {
        return Err(EhrError::Integrity { patient: record.patient, ehr_id: record.ehr_id });
    }
    Ok(record)
}

/// Inserts the current version of a new EHR; [`EhrError::Duplicate`] if the patient
/// already has one with this id.
pub(crate) fn insert_ehr(connection: &Connection, row: &NewRow<'_>) -> Result<(), EhrError> {
    let mut statement = connection.prepare_cached(&format!(
        "INSERT INTO ehr ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?;
    let anchor = row.anchor.as_ref();
    let result = statement.execute(params![
        row.patient.as_slice(),
        row.ehr_id,
        row.version,
        row.created_at,
        row.updated_at,
        row.status,
        row.ehr_type,
        row.ehr_hash.as_slice(),
        hospitals_blob(row.hospitals),
        row.author.as_slice(),
        row.warrant_id.as_slice(),
        row.body,
        anchor.map(|a| a.root.as_slice()),
        anchor.map(|a| a.index),
        anchor.map(|a| a.count),
        anchor.map(|a| a.proof.as_slice()),
    ]);
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            Err(EhrError::Duplicate { patient: row.patient, ehr_id: row.ehr_id.to_string() })
        }
        Err(error) => Err(error.into()),
    }
}

/// `(version, created_at)` of the current version, if the EHR exists.
pub(crate) fn current_version(
    connection: &Connection,
    patient: Address,
    ehr_id: &str,
) -> Result<Option<(u64, u64)>, EhrError> {
    let mut statement =
        connection.prepare_cached("SELECT version, created_at FROM ehr WHERE patient = ?1 AND ehr_id = ?2")?;
    Ok(statement.query_row(params![patient.as_slice(), ehr_id], |row| Ok((row.get(0)?, row.get(1)?))).optional()?)
}

/// Moves the current version to the history and writes `row` as the new current one.
/// The caller has checked that the EHR exists (inside the same transaction).
pub(crate) fn replace_ehr(connection: &Connection, row: &NewRow<'_>) -> Result<(), EhrError> {
    let mut archive = connection.prepare_cached(&format!(
        "INSERT INTO ehr_history ({RECORD_COLUMNS}) SELECT {RECORD_COLUMNS} FROM ehr WHERE patient = ?1 AND ehr_id = ?2"
    ))?;
    archive.execute(params![row.patient.as_slice(), row.ehr_id])?;
    let mut update = connection.prepare_cached(
        "UPDATE ehr SET version = ?3, updated_at = ?4, status = ?5, ehr_type = ?6, ehr_hash = ?7, hospitals = ?8,
                        author = ?9, warrant_id = ?10, body = ?11,
                        batch_root = ?12, batch_index = ?13, batch_count = ?14, batch_proof = ?15
         WHERE patient = ?1 AND ehr_id = ?2",
    )?;
    let anchor = row.anchor.as_ref();
    let changed = update.execute(params![
        row.patient.as_slice(),
        row.ehr_id,
        row.version,
        row.updated_at,
        row.status,
        row.ehr_type,
        row.ehr_hash.as_slice(),
        hospitals_blob(row.hospitals),
        row.author.as_slice(),
        row.warrant_id.as_slice(),
        row.body,
        anchor.map(|a| a.root.as_slice()),
        anchor.map(|a| a.index),
        anchor.map(|a| a.count),
        anchor.map(|a| a.proof.as_slice()),
    ])?;
    if changed != 1 {
        return Err(EhrError::Storage(format!("update of EHR '{}' changed {changed} rows", row.ehr_id)));
    }
    Ok(())
}

/// Erases an EHR and its history; returns how many versions were erased.
pub(crate) fn delete_ehr(connection: &Connection, patient: Address, ehr_id: &str) -> Result<u64, EhrError> {
    let mut current = connection.prepare_cached("DELETE FROM ehr WHERE patient = ?1 AND ehr_id = ?2")?;
    let mut history = connection.prepare_cached("DELETE FROM ehr_history WHERE patient = ?1 AND ehr_id = ?2")?;
    let erased = current.execute(params![patient.as_slice(), ehr_id])?;
    let erased = erased + history.execute(params![patient.as_slice(), ehr_id])?;
    Ok(erased as u64)
}

/// Reads the current version or an earlier one, checking its hash.
pub(crate) fn get_ehr(
    connection: &Connection,
    patient: Address,
    ehr_id: &str,
    version: Option<u64>,
) -> Result<EhrRecord, EhrError> {
    let mut current =
        connection.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM ehr WHERE patient = ?1 AND ehr_id = ?2"))?;
    let found = current.query_row(params![patient.as_slice(), ehr_id], read_record).optional()?;
    let found = match (found, version) {
        (Some(record), None) => Some(record),
        (Some(record), Some(wanted)) if record.version == wanted => Some(record),
        (Some(_), Some(wanted)) => {
            let mut history = connection.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM ehr_history WHERE patient = ?1 AND ehr_id = ?2 AND version = ?3"
            ))?;
            history.query_row(params![patient.as_slice(), ehr_id, wanted], read_record).optional()?
        }
        (None, _) => None,
    };
    match found {
        Some(record) => check_integrity(record),
        None => Err(EhrError::NotFound { patient, ehr_id: ehr_id.to_string(), version }),
    }
}

/// The current versions of `patient`'s EHRs whose hospital list names `hospital` and
/// whose warrant (the one the current version was written under) the patient has not
/// revoked, ordered by id, each checked against its hash. Bodies of other EHRs are not
/// read.
pub(crate) fn hospital_ehrs(
    connection: &Connection,
    patient: Address,
    hospital: Address,
) -> Result<Vec<EhrRecord>, EhrError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM ehr
         WHERE patient = ?1
           AND NOT EXISTS (SELECT 1 FROM warrant WHERE warrant.warrant_id = ehr.warrant_id AND warrant.revoked != 0)
         ORDER BY ehr_id"
    ))?;
    let mut rows = statement.query(params![patient.as_slice()])?;
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        let hospitals = row.get_ref(8)?.as_blob().map_err(|_| corrupt("hospitals"))?;
        if hospitals.chunks_exact(20).any(|named| named == hospital.as_slice()) {
            found.push(check_integrity(read_record(row)?)?);
        }
    }
    Ok(found)
}

/// The patient's EHRs (current versions), ordered by id.
pub(crate) fn list_ehrs(connection: &Connection, patient: Address) -> Result<Vec<EhrSummary>, EhrError> {
    let mut statement = connection.prepare_cached(
        "SELECT ehr_id, version, ehr_hash, status, ehr_type, updated_at FROM ehr WHERE patient = ?1 ORDER BY ehr_id",
    )?;
    let rows = statement.query_map(params![patient.as_slice()], |row| {
        Ok(EhrSummary {
            ehr_id: row.get(0)?,
            version: row.get(1)?,
            ehr_hash: b256(row, 2)?,
            status: row.get(3)?,
            ehr_type: row.get(4)?,
            updated_at: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the database knows about a warrant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WarrantState {
    /// The first `written` doctors of the order have written.
    pub written: u64,
    /// The patient revoked it.
    pub revoked: bool,
}

pub(crate) fn warrant_state(connection: &Connection, warrant_id: B256) -> Result<Option<WarrantState>, EhrError> {
    let mut statement = connection.prepare_cached("SELECT written, revoked FROM warrant WHERE warrant_id = ?1")?;
    Ok(statement
        .query_row(params![warrant_id.as_slice()], |row| {
            Ok(WarrantState { written: row.get(0)?, revoked: row.get::<_, i64>(1)? != 0 })
        })
        .optional()?)
}

pub(crate) fn set_warrant_state(
    connection: &Connection,
    warrant_id: B256,
    patient: Address,
    state: WarrantState,
) -> Result<(), EhrError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO warrant (warrant_id, patient, written, revoked) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (warrant_id) DO UPDATE SET written = excluded.written, revoked = excluded.revoked",
    )?;
    statement.execute(params![warrant_id.as_slice(), patient.as_slice(), state.written, i64::from(state.revoked)])?;
    Ok(())
}

/// Seed 001 Figure 7's table operations, shared by the application and the benchmark's
/// plain-SQLite and direct-SQLCipher baselines so all three run the same statements.
pub mod bench_table {
    use rusqlite::{Connection, params};
    use serde::Deserialize;

    use crate::api::BenchRow;
    use crate::error::EhrError;

    /// A row to insert, borrowing its text (what the application decodes requests into,
    /// and what the baselines pass, so all run the same code).
    #[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
    pub struct BenchRowRef<'a> {
        /// `id`.
        pub id: i64,
        /// `t1`.
        pub t1: i64,
        /// `t2`.
        pub t2: f64,
        /// `t3`.
        pub t3: &'a str,
    }

    /// Creates `test(id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT)` if missing.
    pub fn create(connection: &Connection) -> Result<(), EhrError> {
        connection.execute_batch("CREATE TABLE IF NOT EXISTS test (id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT)")?;
        Ok(())
    }

    /// Inserts `rows` in one transaction (committed durably before returning).
    pub fn insert<'r>(
        connection: &Connection,
        rows: impl IntoIterator<Item = BenchRowRef<'r>>,
    ) -> Result<u64, EhrError> {
        let transaction = connection.unchecked_transaction()?;
        let mut count = 0;
        {
            let mut statement =
                transaction.prepare_cached("INSERT INTO test (id, t1, t2, t3) VALUES (?1, ?2, ?3, ?4)")?;
            for row in rows {
                statement.execute(params![row.id, row.t1, row.t2, row.t3])?;
                count += 1;
            }
        }
        transaction.commit()?;
        Ok(count)
    }

    /// `SELECT id, t1, t2, t3 FROM test WHERE t1 = ?`.
    pub fn select(connection: &Connection, t1: i64) -> Result<Vec<BenchRow>, EhrError> {
        let mut statement = connection.prepare_cached("SELECT id, t1, t2, t3 FROM test WHERE t1 = ?1")?;
        let rows = statement.query_map(params![t1], |row| {
            Ok(BenchRow { id: row.get(0)?, t1: row.get(1)?, t2: row.get(2)?, t3: row.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `UPDATE test SET t1 = new_t1 WHERE t1 = t1` (one durable commit).
    pub fn update(connection: &Connection, t1: i64, new_t1: i64) -> Result<u64, EhrError> {
        let mut statement = connection.prepare_cached("UPDATE test SET t1 = ?2 WHERE t1 = ?1")?;
        Ok(statement.execute(params![t1, new_t1])? as u64)
    }

    /// `DELETE FROM test` (one durable commit).
    pub fn delete_all(connection: &Connection) -> Result<u64, EhrError> {
        let mut statement = connection.prepare_cached("DELETE FROM test")?;
        Ok(statement.execute([])? as u64)
    }
}

/// Used by [`bench_table`]'s callers to build rows; kept here so the schema and its rows
/// live together.
pub fn figure7_rows(count: usize, distinct_t1: i64) -> Vec<BenchRow> {
    (0..count as i64)
        .map(|i| BenchRow {
            id: i,
            t1: i.wrapping_mul(7919).rem_euclid(distinct_t1.max(1)),
            t2: i as f64 * 0.25,
            t3: format!("row {i:06} of the figure 7 table"),
        })
        .collect()
}
