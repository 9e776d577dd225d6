//! The digest chain over a record's encrypted entries and the chameleon message per version.
//!
//! `d_0 = H("record", recordId)`, `d_i = H(d_{i-1}, i, H(c_i))`; version `j` is anchored by
//! the chameleon message `(recordId, j, d_j)`. Appending entry `j+1` needs only `d_j` and the
//! new ciphertext, so updates cost O(new data) and can be checked without any plaintext.

use sha2::{Digest as _, Sha256};

use crate::hash::{Digest32, DomainHasher};

/// A record's identifier (32 bytes; on-chain a `bytes32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; 32]);

/// `H(c_i)`: the digest of one encrypted entry object, computed incrementally so large
/// entries can be hashed as they stream from storage.
#[derive(Clone, Default)]
pub struct EntryHasher(Sha256);

impl EntryHasher {
    /// Starts hashing an entry ciphertext.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the ciphertext.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The entry digest.
    pub fn finish(self) -> Digest32 {
        entry_digest_of_address(&self.0.finalize().into())
    }
}

/// Digest of a whole entry ciphertext held in memory.
pub fn entry_digest(ciphertext: &[u8]) -> Digest32 {
    let mut hasher = EntryHasher::new();
    hasher.update(ciphertext);
    hasher.finish()
}

/// The entry digest from the ciphertext's plain SHA-256, which is also its content address
/// in the store: an entry already checked against its address need not be hashed again.
pub fn entry_digest_of_address(address: &[u8; 32]) -> Digest32 {
    DomainHasher::<Sha256>::new("entry").field(address).finish()
}

/// The head of a record's digest chain: version `j` and `d_j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestChain {
    record: RecordId,
    version: u64,
    head: Digest32,
}

impl DigestChain {
    /// Version 0 of a record: `d_0 = H("record", recordId)`.
    pub fn genesis(record: RecordId) -> Self {
        let head = DomainHasher::<Sha256>::new("record").field(&record.0).finish();
        Self { record, version: 0, head }
    }

    /// Resumes a chain from a known head (e.g. a logged version).
    pub fn resume(record: RecordId, version: u64, head: Digest32) -> Self {
        Self { record, version, head }
    }

    /// Appends entry `version + 1` given its digest `H(c_i)`, returning the new head.
    pub fn append(&self, entry_digest: &Digest32) -> Self {
        let version = self.version + 1;
        let head = DomainHasher::<Sha256>::new("chain").field(&self.head).u64(version).field(entry_digest).finish();
        Self { record: self.record, version, head }
    }

    /// The record this chain belongs to.
    pub fn record(&self) -> RecordId {
        self.record
    }

    /// The number of entries covered (`j`).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `d_j`.
    pub fn head(&self) -> Digest32 {
        self.head
    }

    /// The chameleon message `(recordId, j, d_j)` for this version.
    pub fn message(&self) -> ChameleonMessage {
        ChameleonMessage { record: self.record, version: self.version, digest: self.head }
    }
}

/// `(recordId, j, d_j)`, the message the record's chameleon hash opens to at version `j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChameleonMessage {
    /// The record.
    pub record: RecordId,
    /// The version `j`.
    pub version: u64,
    /// The digest-chain head `d_j`.
    pub digest: Digest32,
}

impl ChameleonMessage {
    /// Fixed-layout encoding: record id (32) ‖ version (8, big-endian) ‖ digest (32).
    pub fn to_bytes(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..32].copy_from_slice(&self.record.0);
        out[32..40].copy_from_slice(&self.version.to_be_bytes());
        out[40..].copy_from_slice(&self.digest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_depends_on_every_entry_and_its_position() {
        let record = RecordId([7; 32]);
        let a = entry_digest(b"a");
        let b = entry_digest(b"b");
        let ab = DigestChain::genesis(record).append(&a).append(&b);
        let ba = DigestChain::genesis(record).append(&b).append(&a);
        assert_ne!(ab.head(), ba.head());
        assert_eq!(ab.version(), 2);
        let other = DigestChain::genesis(RecordId([8; 32])).append(&a).append(&b);
        assert_ne!(ab.head(), other.head());
    }

    #[test]
    fn streaming_entry_digest_matches_one_shot() {
        let data = vec![42u8; 100_000];
        let mut hasher = EntryHasher::new();
        for chunk in data.chunks(333) {
            hasher.update(chunk);
        }
        assert_eq!(hasher.finish(), entry_digest(&data));
    }

    #[test]
    fn resume_continues_the_same_chain() {
        let record = RecordId([1; 32]);
        let one = DigestChain::genesis(record).append(&entry_digest(b"1"));
        let resumed = DigestChain::resume(record, one.version(), one.head());
        assert_eq!(one.append(&entry_digest(b"2")), resumed.append(&entry_digest(b"2")));
    }
}
