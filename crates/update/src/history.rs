//! What "qualified" means for a version, checked the same way by the enclave (before it
//! extends a record) and by anyone running `verify` (seed 000 Algorithm 2's verification).
//!
//! Version `j` is qualified when: it is logged on `UpdateLog` (so an approved enclave signed
//! its report and the contract verified it), the log's events reproduce the head the
//! contract stores, its entry object is in the store and hashes to its address, the digest
//! chain `d_j = H(d_{j-1}, j, H(c_j))` recomputes from the logged `d_{j-1}` and that entry,
//! and `μ_j` opens the registered anchor for `(recordId, j, d_j)`.

use alloy_primitives::{Address, B256};
use healthchain_crypto::chameleon::{self, CheckString, HashValue, PublicKey};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest_of_address};
use healthchain_ledger::ids::update_log_head;
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::view::{ChainView, LoggedVersion, ReadError, Registration};

/// Why a version is not qualified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Unqualified {
    /// Not on `UpdateLog`: no enclave validated it, whatever its check string says.
    #[error("not logged on UpdateLog (no enclave report){}", if *.opens_anchor { "; its check string opens the anchor, so it was made with the trapdoor outside the enclave" } else { "" })]
    NotLogged {
        /// Whether its check string is nevertheless a valid chameleon opening.
        opens_anchor: bool,
    },
    /// Nobody published where its entry is stored.
    #[error("the location of its entry is unknown (no store index entry)")]
    EntryUnknown,
    /// The store does not have its entry.
    #[error("its entry object {0} is missing from the store")]
    EntryMissing(String),
    /// The store returned bytes that do not hash to the entry's address.
    #[error("its entry object {0} was altered in the store")]
    EntryTampered(String),
    /// The digest chain does not recompute from the entry.
    #[error("the digest chain does not recompute from its entry (the entry is not the one logged)")]
    DigestMismatch,
    /// The check string does not open the anchor.
    #[error("its check string does not open the anchor for (record, version, digest)")]
    CheckStringInvalid,
    /// The events served for the log do not reproduce the head the contract stores.
    #[error("the UpdateLog events served do not reproduce the contract's hash-chain head")]
    LogHeadMismatch,
}

/// The chameleon check string from its two on-chain words.
pub fn check_string_of(words: &[B256; 2]) -> Option<CheckString> {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(words[0].as_slice());
    bytes[32..].copy_from_slice(words[1].as_slice());
    CheckString::from_bytes(&bytes).ok()
}

/// The `UpdateLog` head after `versions`, starting from `head`.
pub fn fold_head(mut head: B256, versions: &[LoggedVersion]) -> B256 {
    for v in versions {
        head = update_log_head(
            head,
            v.version,
            v.digest,
            healthchain_ledger::ids::check_string_hash_words(&v.check_string),
        );
    }
    head
}

/// Checks the entry stored under `entry_address` (the SHA-256 of its ciphertext, which
/// [`fetch_entry`] has checked) as version `previous.version() + 1` with digest `digest`
/// and check string `check`; returns the chain after it.
pub fn check_entry(
    anchor: &HashValue,
    key: &PublicKey,
    previous: &DigestChain,
    digest: B256,
    check: &[B256; 2],
    entry_address: &[u8; 32],
) -> Result<DigestChain, Unqualified> {
    let next = previous.append(&entry_digest_of_address(entry_address));
    if next.head() != digest.0 {
        return Err(Unqualified::DigestMismatch);
    }
    let check = check_string_of(check).ok_or(Unqualified::CheckStringInvalid)?;
    chameleon::check(key, &next.message().to_bytes(), anchor, &check).map_err(|_| Unqualified::CheckStringInvalid)?;
    Ok(next)
}

/// Where a version's entry is stored, as published in the store's record index. Untrusted:
/// every claim is checked against the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionHint {
    /// The version.
    pub version: u64,
    /// The entry's store address (SHA-256 of the ciphertext).
    pub entry: [u8; 32],
    /// The check string claimed for it.
    pub check_string: [B256; 2],
}

/// What a store answered for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The bytes stored under the address, checked against it by the fetcher.
    Found(Vec<u8>),
    /// Nothing under that address.
    Missing,
    /// The store itself found that the bytes do not match their address.
    Tampered,
    /// The store failed.
    Failed(String),
}

/// Fetching objects for verification. Implementations check what they return against the
/// address (the store and the enclave runtime both do), so the bytes are hashed once.
pub trait ObjectFetch {
    /// The object stored under `address`: [`Fetched::Found`] only with bytes whose SHA-256
    /// is `address`, [`Fetched::Tampered`] for bytes that are not.
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched;
}

/// One version's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStatus {
    /// The version.
    pub version: u64,
    /// Its entry's store address, if known.
    pub entry: Option<[u8; 32]>,
    /// The logged digest (none for a version that is not logged).
    pub digest: Option<B256>,
    /// The enclave that attested it (none if not logged).
    pub enclave: Option<Address>,
    /// Block of the log entry.
    pub block: Option<u64>,
    /// Why it is not qualified; none when it is.
    pub problem: Option<Unqualified>,
}

impl VersionStatus {
    /// Whether the version is qualified.
    pub fn qualified(&self) -> bool {
        self.problem.is_none()
    }
}

/// The verdict on a whole record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The registration (anchor, owner, manifest).
    pub registration: Registration,
    /// The record's data type from its manifest.
    pub data_type: String,
    /// Whether the served log events reproduce the contract's head.
    pub log_consistent: bool,
    /// Every logged version, then every claimed but unlogged one, in order.
    pub versions: Vec<VersionStatus>,
}

impl VerifyReport {
    /// Number of qualified versions.
    pub fn qualified(&self) -> usize {
        self.versions.iter().filter(|v| v.qualified()).count()
    }

    /// Whether every version is qualified.
    pub fn all_qualified(&self) -> bool {
        self.versions.iter().all(VersionStatus::qualified)
    }
}

/// Why a record could not be verified at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The chain could not be read.
    #[error(transparent)]
    Ledger(#[from] ReadError),
    /// The record is not registered.
    #[error("record {0} is not registered")]
    UnknownRecord(B256),
    /// The manifest is missing, tampered or malformed.
    #[error("the record's manifest: {0}")]
    Manifest(String),
    /// The store failed to answer for an object; an outage says nothing about the versions,
    /// so nothing is concluded.
    #[error("the object store failed: {0}")]
    Store(String),
}

impl VerifyError {
    /// Whether the chain or the store could not be read, as opposed to a record that is
    /// unknown or whose manifest does not check out.
    pub fn is_failure(&self) -> bool {
        matches!(self, VerifyError::Ledger(_) | VerifyError::Store(_))
    }
}

/// Fetches and checks the manifest the registration commits to: `Err` if the store failed
/// (the caller stops and can retry), `Ok(Err(why))` if the manifest is missing, altered or
/// malformed.
pub fn fetch_manifest(
    objects: &mut dyn ObjectFetch,
    registration: &Registration,
) -> Result<Result<Manifest, String>, VerifyError> {
    Ok(fetch_checked(objects, &registration.manifest_hash.0)?
        .map_err(|e| e.to_string())
        .and_then(|bytes| Manifest::parse(&bytes).map_err(|e| e.to_string())))
}

/// Verifies every version of `record_id` from the chain and the store, without keys.
/// `hints` are the store's published entry locations (and any claimed, unlogged versions).
pub fn verify_record(
    view: &mut ChainView<'_>,
    objects: &mut dyn ObjectFetch,
    record_id: B256,
    hints: &[VersionHint],
) -> Result<VerifyReport, VerifyError> {
    let registration = view.registration(record_id)?.ok_or(VerifyError::UnknownRecord(record_id))?;
    let manifest = fetch_manifest(objects, &registration)?.map_err(VerifyError::Manifest)?;
    let key = manifest.public_key().map_err(|e| VerifyError::Manifest(e.to_string()))?;
    let anchor = HashValue::from_bytes(registration.anchor.as_slice())
        .map_err(|_| VerifyError::Manifest("the registered anchor is not a valid chameleon hash".into()))?;
    let state = view.log_of(record_id)?;
    let logged = view.appended(record_id, 0)?;
    let log_consistent = logged.len() as u64 == state.version
        && logged.iter().enumerate().all(|(i, v)| v.version == i as u64 + 1)
        && fold_head(B256::ZERO, &logged) == state.head;

    let record = RecordId(record_id.0);
    let hint_for = |version: u64| hints.iter().rev().find(|h| h.version == version);
    let mut versions = Vec::with_capacity(logged.len());
    let mut previous_digest = DigestChain::genesis(record).head();
    for v in &logged {
        let hint = hint_for(v.version);
        let problem = if !log_consistent {
            Some(Unqualified::LogHeadMismatch)
        } else {
            let previous = DigestChain::resume(record, v.version - 1, previous_digest);
            match hint {
                None => Some(Unqualified::EntryUnknown),
                Some(hint) => fetch_checked(objects, &hint.entry)?
                    .and_then(|_| check_entry(&anchor, &key, &previous, v.digest, &v.check_string, &hint.entry))
                    .err(),
            }
        };
        previous_digest = v.digest.0;
        versions.push(VersionStatus {
            version: v.version,
            entry: hint.map(|h| h.entry),
            digest: Some(v.digest),
            enclave: Some(v.enclave),
            block: Some(v.block),
            problem,
        });
    }
    // claimed versions beyond the log: never qualified; say whether the check string opens
    let last_logged = logged.last().map_or(0, |v| v.version).max(state.version);
    let mut chain = DigestChain::resume(record, last_logged, previous_digest);
    // a log the ledger claims is at the highest version number leaves no room after it
    let mut next = last_logged.checked_add(1);
    while let Some(version) = next {
        let Some(hint) = hint_for(version) else { break };
        let opens = fetch_checked(objects, &hint.entry)?
            .ok()
            .filter(|_| log_consistent)
            .map(|_| chain.append(&entry_digest_of_address(&hint.entry)));
        let opens_anchor = opens.as_ref().is_some_and(|after| {
            check_string_of(&hint.check_string)
                .is_some_and(|check| chameleon::check(&key, &after.message().to_bytes(), &anchor, &check).is_ok())
        });
        versions.push(VersionStatus {
            version,
            entry: Some(hint.entry),
            digest: opens.as_ref().map(|after| B256::from(after.head())),
            enclave: None,
            block: None,
            problem: Some(Unqualified::NotLogged { opens_anchor }),
        });
        match opens {
            Some(after) => chain = after,
            None => break,
        }
        next = version.checked_add(1);
    }
    Ok(VerifyReport { registration, data_type: manifest.data_type, log_consistent, versions })
}

/// Fetches an object and checks it against its address.
pub fn fetch_entry(objects: &mut dyn ObjectFetch, address: &[u8; 32]) -> Result<Vec<u8>, Unqualified> {
    checked(objects.fetch(address), address)
}

/// [`fetch_entry`], except that a store that fails is an error of its own (the caller stops
/// and can retry) instead of making the version unqualified.
pub fn fetch_checked(
    objects: &mut dyn ObjectFetch,
    address: &[u8; 32],
) -> Result<Result<Vec<u8>, Unqualified>, VerifyError> {
    match objects.fetch(address) {
        Fetched::Failed(why) => Err(VerifyError::Store(format!("object {}: {why}", crate::view::short(address)))),
        fetched => Ok(checked(fetched, address)),
    }
}

fn checked(fetched: Fetched, address: &[u8; 32]) -> Result<Vec<u8>, Unqualified> {
    let name = crate::view::short(address);
    match fetched {
        Fetched::Found(bytes) => Ok(bytes),
        Fetched::Tampered => Err(Unqualified::EntryTampered(name)),
        Fetched::Missing => Err(Unqualified::EntryMissing(name)),
        Fetched::Failed(why) => Err(Unqualified::EntryMissing(format!("{name} ({why})"))),
    }
}
