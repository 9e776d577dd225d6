//! Which versions of the requested records are qualified: the check
//! [`healthchain_update::verify_record`] makes for anyone, assembled from the same parts
//! ([`fold_head`], [`check_entry`], [`fetch_checked`], [`fetch_manifest`]) so that the
//! definition of "qualified" stays in one place, but read in bulk.
//!
//! `verify_record` reads one record's registration and log entries with two event queries,
//! each a scan of the whole chain; for the thousands of records of one request that is
//! O(records × blocks). Here the registrations and `UpdateAppended` entries of all records
//! are read first with [`LogReader`] (hundreds of records per scan); then, per batch of
//! records, one `logsOf` call (the heads their served entries must reproduce) and one fetch
//! of their manifests and entries ([`objects_needed`]); each record is then assembled
//! ([`fetch_record`]), checked ([`FetchedRecord::qualified`], on any core) and handed back
//! for decryption.

use std::collections::HashMap;

use crate::api::ShareRefusal;
use alloy_primitives::B256;
use healthchain_crypto::chameleon::{HashValue, PublicKey};
use healthchain_crypto::record::{DigestChain, RecordId};
use healthchain_enclave::protocol::LedgerName;
use healthchain_ledger::Deployment;
use healthchain_ledger::bindings::{RecordRegistry, UpdateLog};
use healthchain_ledger::contracts::LogState;
use healthchain_update::Manifest;
use healthchain_update::history::{ObjectFetch, VersionHint, check_entry, fetch_checked, fetch_manifest, fold_head};
use healthchain_update::view::{LoggedVersion, ReadError, Registration};

use crate::reads::LogReader;

/// The chain's facts about a set of records, read in bulk.
pub struct ChainFacts {
    registrations: HashMap<B256, Registration>,
    appended: HashMap<B256, Vec<LoggedVersion>>,
}

/// Reads the registrations (shared ledger) and log entries (consortium ledger) of `records`.
pub fn read_chain(
    logs: &mut LogReader<'_>,
    deployment: &Deployment,
    records: &[B256],
) -> Result<ChainFacts, ReadError> {
    let shared = deployment.shared;
    let mut registrations = HashMap::with_capacity(records.len());
    for (e, block) in logs.events_for::<RecordRegistry::RecordRegistered>(
        LedgerName::Shared,
        shared.record_registry,
        records,
        shared.deployed_at_block,
    )? {
        registrations.entry(e.recordId).or_insert(Registration::from_event(&e, block));
    }
    let consortium = deployment.consortium;
    let mut appended: HashMap<B256, Vec<LoggedVersion>> = HashMap::with_capacity(records.len());
    for (e, block) in logs.events_for::<UpdateLog::UpdateAppended>(
        LedgerName::Consortium,
        consortium.update_log,
        records,
        consortium.deployed_at_block,
    )? {
        appended.entry(e.recordId).or_default().push(LoggedVersion::from_event(&e, block));
    }
    Ok(ChainFacts { registrations, appended })
}

/// A record's qualified versions, with their checked entries.
pub struct QualifiedRecord {
    /// Its registration.
    pub registration: Registration,
    /// Its manifest (the wrapped key `EK` is in it).
    pub manifest: Manifest,
    /// `(version, encrypted entry)` of every qualified version, in order.
    pub versions: Vec<(u64, Vec<u8>)>,
    /// How many versions are logged.
    pub logged: u64,
}

/// An entry's store address (the SHA-256 of its ciphertext, checked when fetched) and bytes.
type StoredEntry = ([u8; 32], Vec<u8>);

/// What the chain and the store hold for one record, read but not yet checked: the reads
/// go through the host one at a time, the checks can then run on every core.
pub struct FetchedRecord {
    registration: Registration,
    manifest: Manifest,
    key: PublicKey,
    anchor: HashValue,
    /// Every logged version with its entry's address and bytes (`None` if no hint located
    /// it or it could not be fetched intact); empty when the served log does not reproduce
    /// the stored head.
    entries: Vec<(LoggedVersion, Option<StoredEntry>)>,
    logged: u64,
}

/// The store location a hint gives for `version` (the last hint for it wins).
fn hinted(hints: &[VersionHint], version: u64) -> Option<&VersionHint> {
    hints.iter().rev().find(|h| h.version == version)
}

/// The objects [`fetch_record`] will ask for `record_id`: its manifest and the hinted entry
/// of every logged version, so a batch of records can be fetched in one round trip.
pub fn objects_needed(facts: &ChainFacts, record_id: B256, hints: &[VersionHint]) -> Vec<[u8; 32]> {
    let manifest = facts.registrations.get(&record_id).map(|r| r.manifest_hash.0);
    let logged = facts.appended.get(&record_id).map(Vec::as_slice).unwrap_or_default();
    manifest.into_iter().chain(logged.iter().filter_map(|v| hinted(hints, v.version).map(|h| h.entry))).collect()
}

/// Reads what checking `record_id` as `verify_record` does needs: its registration (from
/// `facts`), manifest and every logged version's entry. `state` is its `UpdateLog` state
/// as read from the chain; `hints` are the store's entry locations (untrusted). Fails,
/// saying why, when the record cannot be verified at all, and when the store fails (a
/// version must not drop out of the computation because a read failed once).
pub fn fetch_record(
    facts: &ChainFacts,
    state: &LogState,
    objects: &mut dyn ObjectFetch,
    record_id: B256,
    hints: &[VersionHint],
) -> Result<FetchedRecord, ShareRefusal> {
    let refuse = |why: String| ShareRefusal::Record { record: record_id, why };
    let registration = *facts.registrations.get(&record_id).ok_or_else(|| refuse("it is not registered".into()))?;
    let manifest = fetch_manifest(objects, &registration)
        .map_err(|e| ShareRefusal::Store(format!("record {record_id}'s manifest: {e}")))?
        .map_err(|e| refuse(format!("its manifest: {e}")))?;
    let key = manifest.public_key().map_err(|e| refuse(format!("its manifest: {e}")))?;
    let anchor = HashValue::from_bytes(registration.anchor.as_slice())
        .map_err(|_| refuse("its registered anchor is not a valid chameleon hash".into()))?;
    let logged = facts.appended.get(&record_id).map(Vec::as_slice).unwrap_or_default();
    let log_consistent = logged.len() as u64 == state.version
        && logged.iter().enumerate().all(|(i, v)| v.version == i as u64 + 1)
        && fold_head(B256::ZERO, logged) == state.head;
    let mut entries = Vec::new();
    if log_consistent {
        entries.reserve(logged.len());
        for v in logged {
            let entry = match hinted(hints, v.version) {
                Some(h) => fetch_checked(objects, &h.entry)
                    .map_err(|e| ShareRefusal::Store(format!("record {record_id} version {}: {e}", v.version)))?
                    .ok()
                    .map(|bytes| (h.entry, bytes)),
                None => None,
            };
            entries.push((*v, entry));
        }
    }
    Ok(FetchedRecord { registration, manifest, key, anchor, entries, logged: logged.len() as u64 })
}

impl FetchedRecord {
    /// Its registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Checks every fetched entry against the logged digest chain and the anchor (as
    /// `verify_record` does) and keeps the qualified versions.
    pub fn qualified(self) -> QualifiedRecord {
        let record = RecordId(self.registration.record_id.0);
        let mut versions = Vec::with_capacity(self.entries.len());
        let mut previous_digest = DigestChain::genesis(record).head();
        for (v, entry) in self.entries {
            let previous = DigestChain::resume(record, v.version - 1, previous_digest);
            previous_digest = v.digest.0;
            let Some((address, entry)) = entry else { continue };
            if check_entry(&self.anchor, &self.key, &previous, v.digest, &v.check_string, &address).is_ok() {
                versions.push((v.version, entry));
            }
        }
        QualifiedRecord { registration: self.registration, manifest: self.manifest, versions, logged: self.logged }
    }
}
