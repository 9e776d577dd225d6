//! Chunked AES-256-GCM encryption of record entries.
//!
//! An encrypted entry is `header ‖ chunk_0 ‖ … ‖ chunk_n`, header = `"HCE1" ‖ chunk size
//! (u32 BE) ‖ nonce prefix (7 random bytes)`. Each chunk is the ciphertext of up to
//! `chunk size` plaintext bytes followed by its 16-byte tag, under nonce
//! `prefix ‖ chunk index (u32 BE) ‖ last flag` and associated data binding the record id,
//! the entry index, the header's chunk size and the chunk index. So a chunk cannot be moved
//! to another position, entry or record, a truncated entry lacks its last-flagged chunk, and
//! any flipped bit fails its tag — the header's included: an entry of one chunk would
//! otherwise open under any chunk size at least as large as that chunk. Every chunk but the
//! last carries exactly `chunk size` bytes.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hash::domain_tag;
use crate::record::RecordId;

/// Default plaintext bytes per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Smallest chunk size accepted.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest chunk size accepted (bounds memory per chunk when decrypting).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Length of the entry header.
pub const HEADER_LEN: usize = 4 + 4 + NONCE_PREFIX_LEN;
/// Length of each chunk's authentication tag.
pub const TAG_LEN: usize = 16;

const MAGIC: &[u8; 4] = b"HCE1";
const NONCE_PREFIX_LEN: usize = 7;

/// A record's 256-bit data key `k`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct RecordKey([u8; 32]);

impl RecordKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes (secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

/// Where an entry belongs; bound into every chunk's associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryContext {
    /// The record the entry belongs to.
    pub record: RecordId,
    /// The entry's 1-based position in the record.
    pub entry_index: u64,
}

/// Why an encrypted entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The header is shorter than [`HEADER_LEN`] or lacks the magic bytes.
    #[error("not an encrypted healthchain entry (bad or missing header)")]
    BadHeader,
    /// The header's chunk size is outside the accepted range.
    #[error("chunk size {0} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}")]
    ChunkSizeOutOfRange(u32),
    /// The entry ends before its last chunk (truncated, or a chunk shorter than a tag).
    #[error("encrypted entry is truncated")]
    Truncated,
    /// A chunk failed authentication: tampered, reordered, from another entry or record,
    /// or opened with the wrong key.
    #[error("chunk {chunk} failed authentication (tampered, reordered, misplaced or wrong key)")]
    Tampered {
        /// The index of the chunk that failed.
        chunk: u32,
    },
    /// A non-final chunk's size differs from the header's chunk size, or a chunk is larger.
    #[error("chunk {chunk} has {len} plaintext bytes, but the entry's chunk size is {chunk_size}")]
    WrongChunkLength {
        /// The chunk index.
        chunk: u32,
        /// Its plaintext length.
        len: usize,
        /// The chunk size from the header.
        chunk_size: u32,
    },
    /// More chunks than a 32-bit counter can number.
    #[error("entry has too many chunks")]
    TooManyChunks,
}

struct ChunkCipher {
    cipher: Aes256Gcm,
    prefix: [u8; NONCE_PREFIX_LEN],
    /// Domain tag ‖ record id ‖ entry index ‖ chunk size ‖ chunk index; built once, the
    /// trailing chunk index rewritten per chunk.
    associated_data: Vec<u8>,
    chunk_size: u32,
    next_chunk: u32,
}

impl ChunkCipher {
    fn new(key: &RecordKey, context: EntryContext, chunk_size: u32, prefix: [u8; 7]) -> Self {
        let tag = domain_tag("entry-chunk");
        let mut associated_data = Vec::with_capacity(tag.len() + 48);
        associated_data.extend_from_slice(tag.as_bytes());
        associated_data.extend_from_slice(&context.record.0);
        associated_data.extend_from_slice(&context.entry_index.to_be_bytes());
        associated_data.extend_from_slice(&chunk_size.to_be_bytes());
        associated_data.extend_from_slice(&0u32.to_be_bytes());
        Self { cipher: Aes256Gcm::new(&key.0.into()), prefix, associated_data, chunk_size, next_chunk: 0 }
    }

    fn nonce(&self, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&self.prefix);
        nonce[7..11].copy_from_slice(&self.next_chunk.to_be_bytes());
        nonce[11] = u8::from(last);
        nonce.into()
    }

    /// Writes the current chunk index into the associated data.
    fn bind_chunk_index(&mut self) {
        let index = self.associated_data.len() - 4;
        self.associated_data[index..].copy_from_slice(&self.next_chunk.to_be_bytes());
    }

    fn check_len(&self, len: usize, last: bool) -> Result<(), EnvelopeError> {
        let size = self.chunk_size as usize;
        if len > size || (!last && len != size) {
            return Err(EnvelopeError::WrongChunkLength { chunk: self.next_chunk, len, chunk_size: self.chunk_size });
        }
        Ok(())
    }

    fn advance(&mut self) -> Result<(), EnvelopeError> {
        self.next_chunk = self.next_chunk.checked_add(1).ok_or(EnvelopeError::TooManyChunks)?;
        Ok(())
    }

    fn seal(&mut self, plaintext: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.check_len(plaintext.len(), last)?;
        let start = out.len();
        out.extend_from_slice(plaintext);
        self.bind_chunk_index();
        let tag = self
            .cipher
            .encrypt_inout_detached(&self.nonce(last), &self.associated_data, out[start..].as_mut().into())
            .map_err(|_| EnvelopeError::TooManyChunks)?;
        out.extend_from_slice(&tag);
        self.advance()
    }

    fn open(&mut self, sealed: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        let body_len = sealed.len().checked_sub(TAG_LEN).ok_or(EnvelopeError::Truncated)?;
        self.check_len(body_len, last)?;
        let (body, tag) = sealed.split_at(body_len);
        let tag = Tag::try_from(tag).map_err(|_| EnvelopeError::Truncated)?;
        let start = out.len();
        out.extend_from_slice(body);
        self.bind_chunk_index();
        let result = self.cipher.decrypt_inout_detached(
            &self.nonce(last),
            &self.associated_data,
            out[start..].as_mut().into(),
            &tag,
        );
        if result.is_err() {
            out.truncate(start);
            return Err(EnvelopeError::Tampered { chunk: self.next_chunk });
        }
        self.advance()
    }
}

/// Streaming encryptor for one entry. Feed full chunks with [`EntrySealer::seal_chunk`],
/// then finish with [`EntrySealer::seal_last`], which consumes the sealer so nothing can
/// follow the last chunk.
pub struct EntrySealer(ChunkCipher);

impl EntrySealer {
    /// Starts an entry, appending its header to `out`.
    pub fn new(
        key: &RecordKey,
        context: EntryContext,
        chunk_size: u32,
        rng: &mut (impl CryptoRng + ?Sized),
        out: &mut Vec<u8>,
    ) -> Result<Self, EnvelopeError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EnvelopeError::ChunkSizeOutOfRange(chunk_size));
        }
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut prefix);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&chunk_size.to_be_bytes());
        out.extend_from_slice(&prefix);
        Ok(Self(ChunkCipher::new(key, context, chunk_size, prefix)))
    }

    /// Encrypts one non-final chunk of exactly `chunk_size` bytes onto `out`.
    pub fn seal_chunk(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.0.seal(plaintext, false, out)
    }

    /// Encrypts the final chunk (0 to `chunk_size` bytes) onto `out`.
    pub fn seal_last(mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.0.seal(plaintext, true, out)
    }
}

/// Streaming decryptor for one entry, the mirror of [`EntrySealer`].
pub struct EntryOpener(ChunkCipher);

impl EntryOpener {
    /// Parses the entry header.
    pub fn new(key: &RecordKey, context: EntryContext, header: &[u8]) -> Result<Self, EnvelopeError> {
        if header.len() != HEADER_LEN || &header[..4] != MAGIC {
            return Err(EnvelopeError::BadHeader);
        }
        let chunk_size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EnvelopeError::ChunkSizeOutOfRange(chunk_size));
        }
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&header[8..]);
        Ok(Self(ChunkCipher::new(key, context, chunk_size, prefix)))
    }

    /// Length of a sealed non-final chunk (chunk size + tag).
    pub fn sealed_chunk_len(&self) -> usize {
        self.0.chunk_size as usize + TAG_LEN
    }

    /// Decrypts one non-final sealed chunk onto `out`.
    pub fn open_chunk(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.0.open(sealed, false, out)
    }

    /// Decrypts the final sealed chunk onto `out`.
    pub fn open_last(mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        self.0.open(sealed, true, out)
    }
}

/// Encrypts a whole entry held in memory with [`DEFAULT_CHUNK_SIZE`] chunks.
pub fn encrypt_entry(
    key: &RecordKey,
    context: EntryContext,
    plaintext: &[u8],
    rng: &mut (impl CryptoRng + ?Sized),
) -> Vec<u8> {
    let chunk_size = DEFAULT_CHUNK_SIZE as usize;
    let chunks = plaintext.len().div_ceil(chunk_size).max(1);
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + chunks * TAG_LEN);
    let result = EntrySealer::new(key, context, DEFAULT_CHUNK_SIZE, rng, &mut out).and_then(|mut sealer| {
        let mut pieces = plaintext.chunks(chunk_size).peekable();
        while let Some(piece) = pieces.next() {
            if pieces.peek().is_none() {
                return sealer.seal_last(piece, &mut out);
            }
            sealer.seal_chunk(piece, &mut out)?;
        }
        sealer.seal_last(&[], &mut out)
    });
    // The default chunk size is in range, every chunk has the right length and a 32-bit
    // counter numbers 256 TiB of chunks: the errors exist only for caller-chosen sizes.
    result.expect("sealing with the default chunk size cannot fail");
    out
}

/// Decrypts a whole entry held in memory.
pub fn decrypt_entry(key: &RecordKey, context: EntryContext, entry: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if entry.len() < HEADER_LEN {
        return Err(EnvelopeError::BadHeader);
    }
    let (header, mut body) = entry.split_at(HEADER_LEN);
    let mut opener = EntryOpener::new(key, context, header)?;
    let sealed_len = opener.sealed_chunk_len();
    let mut out = Vec::with_capacity(body.len());
    while body.len() > sealed_len {
        let (chunk, rest) = body.split_at(sealed_len);
        opener.open_chunk(chunk, &mut out)?;
        body = rest;
    }
    opener.open_last(body, &mut out)?;
    Ok(out)
}
