//! Chunked entry encryption: round trips, and every kind of tampering fails.

use healthchain_crypto::envelope::{
    self, DEFAULT_CHUNK_SIZE, EntryContext, EntryOpener, EntrySealer, EnvelopeError, HEADER_LEN, RecordKey, TAG_LEN,
};
use healthchain_crypto::record::RecordId;
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

const SEALED: usize = DEFAULT_CHUNK_SIZE as usize + TAG_LEN;

fn context(index: u64) -> EntryContext {
    EntryContext { record: RecordId([9; 32]), entry_index: index }
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let mut rng = rand::rng();
    let key = RecordKey::generate(&mut rng);
    let chunk = DEFAULT_CHUNK_SIZE as usize;
    for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 17] {
        let plaintext = sample(len);
        let sealed = envelope::encrypt_entry(&key, context(1), &plaintext, &mut rng);
        assert_eq!(sealed.len(), HEADER_LEN + len + len.div_ceil(chunk).max(1) * TAG_LEN);
        assert_eq!(envelope::decrypt_entry(&key, context(1), &sealed).unwrap(), plaintext, "len {len}");
    }
}

#[test]
fn truncation_fails() {
    let mut rng = rand::rng();
    let key = RecordKey::generate(&mut rng);
    let sealed = envelope::encrypt_entry(&key, context(1), &sample(3 * DEFAULT_CHUNK_SIZE as usize + 5), &mut rng);
    // Cut at a chunk boundary: the remaining last chunk is not flagged last.
    let at_boundary = &sealed[..HEADER_LEN + 2 * SEALED];
    assert!(matches!(
        envelope::decrypt_entry(&key, context(1), at_boundary),
        Err(EnvelopeError::Tampered { chunk: 1 })
    ));
    // Cut inside a chunk.
    assert!(envelope::decrypt_entry(&key, context(1), &sealed[..sealed.len() - 1]).is_err());
    // Nothing but the header, or less.
    assert_eq!(envelope::decrypt_entry(&key, context(1), &sealed[..HEADER_LEN]), Err(EnvelopeError::Truncated));
    assert_eq!(envelope::decrypt_entry(&key, context(1), &sealed[..3]), Err(EnvelopeError::BadHeader));
}

#[test]
fn reordering_and_misplacement_fail() {
    let mut rng = rand::rng();
    let key = RecordKey::generate(&mut rng);
    let sealed = envelope::encrypt_entry(&key, context(1), &sample(3 * DEFAULT_CHUNK_SIZE as usize), &mut rng);
    let mut swapped = sealed.clone();
    let (first, second) = (HEADER_LEN..HEADER_LEN + SEALED, HEADER_LEN + SEALED..HEADER_LEN + 2 * SEALED);
    swapped[first.clone()].copy_from_slice(&sealed[second.clone()]);
    swapped[second].copy_from_slice(&sealed[first]);
    assert_eq!(envelope::decrypt_entry(&key, context(1), &swapped), Err(EnvelopeError::Tampered { chunk: 0 }));
    // Another entry index, another record, another key.
    assert!(envelope::decrypt_entry(&key, context(2), &sealed).is_err());
    let other_record = EntryContext { record: RecordId([1; 32]), entry_index: 1 };
    assert!(envelope::decrypt_entry(&key, other_record, &sealed).is_err());
    assert!(envelope::decrypt_entry(&RecordKey::generate(&mut rng), context(1), &sealed).is_err());
}

#[test]
fn a_header_with_another_chunk_size_fails() {
    // Found by fuzzing (fuzz target `ciphertexts`): the chunk size was not authenticated, so
    // an entry of one chunk also opened under any larger chunk size in its header.
    let mut rng = rand::rng();
    let key = RecordKey::generate(&mut rng);
    let sealed = envelope::encrypt_entry(&key, context(1), &sample(2500), &mut rng);
    for chunk_size in [DEFAULT_CHUNK_SIZE + 1, 2 * DEFAULT_CHUNK_SIZE, 4096] {
        let mut altered = sealed.clone();
        altered[4..8].copy_from_slice(&chunk_size.to_be_bytes());
        assert_eq!(
            envelope::decrypt_entry(&key, context(1), &altered),
            Err(EnvelopeError::Tampered { chunk: 0 }),
            "chunk size {chunk_size}"
        );
    }
}

#[test]
fn streaming_matches_one_shot_and_enforces_chunk_sizes() {
    let mut rng = rand::rng();
    let key = RecordKey::generate(&mut rng);
    let plaintext = sample(5000);
    let mut sealed = Vec::new();
    let mut sealer = EntrySealer::new(&key, context(4), 2048, &mut rng, &mut sealed).unwrap();
    assert!(matches!(sealer.seal_chunk(&plaintext[..100], &mut sealed), Err(EnvelopeError::WrongChunkLength { .. })));
    sealer.seal_chunk(&plaintext[..2048], &mut sealed).unwrap();
    sealer.seal_chunk(&plaintext[2048..4096], &mut sealed).unwrap();
    sealer.seal_last(&plaintext[4096..], &mut sealed).unwrap();
    assert_eq!(envelope::decrypt_entry(&key, context(4), &sealed).unwrap(), plaintext);

    let mut opener = EntryOpener::new(&key, context(4), &sealed[..HEADER_LEN]).unwrap();
    let mut out = Vec::new();
    let body = &sealed[HEADER_LEN..];
    let n = opener.sealed_chunk_len();
    opener.open_chunk(&body[..n], &mut out).unwrap();
    opener.open_chunk(&body[n..2 * n], &mut out).unwrap();
    opener.open_last(&body[2 * n..], &mut out).unwrap();
    assert_eq!(out, plaintext);

    let mut ignored = Vec::new();
    assert_eq!(
        EntrySealer::new(&key, context(4), 10, &mut rng, &mut ignored).err(),
        Some(EnvelopeError::ChunkSizeOutOfRange(10))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_bit_flip_fails(seed: u64, len in 0usize..200_000, position: usize, bit in 0u8..8) {
        let mut rng = StdRng::seed_from_u64(seed);
        let key = RecordKey::generate(&mut rng);
        let plaintext = sample(len);
        let mut sealed = envelope::encrypt_entry(&key, context(7), &plaintext, &mut rng);
        prop_assert_eq!(envelope::decrypt_entry(&key, context(7), &sealed).unwrap(), plaintext);
        let i = position % sealed.len();
        sealed[i] ^= 1 << bit;
        prop_assert!(envelope::decrypt_entry(&key, context(7), &sealed).is_err());
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let key = RecordKey::from_bytes([5; 32]);
        prop_assert!(envelope::decrypt_entry(&key, context(1), &bytes).is_err());
        let mut with_header = b"HCE1\x00\x00\x04\x00".to_vec();
        with_header.extend_from_slice(&bytes);
        prop_assert!(envelope::decrypt_entry(&key, context(1), &with_header).is_err());
    }
}
