//! Ciphertexts and proofs that come back from storage or from other parties: encrypted
//! record entries from the object store, treatment-key deliveries and messages under a
//! treatment key, the enclave's sealed blobs from its host, and the Merkle proofs stored
//! with batched EHRs. The symmetric ones open only if they are the genuine ciphertexts (a
//! truncated, reordered or re-labelled one is refused); a Merkle proof verifies against
//! the anchored root and count only for its own leaf.
//!
//! Input: a selector byte (0: record entry, 1: treatment key delivery, 2: message under
//! the treatment key, 3: sealed blob, 4: Merkle proof), then the bytes or pieces
//! (`healthchain_fuzz::input`).
#![no_main]

use std::sync::OnceLock;

use healthchain_crypto::envelope::{self, RecordKey};
use healthchain_crypto::merkle::{self, BatchTree};
use healthchain_crypto::treatment::{Purpose, TreatmentKey};
use healthchain_enclave::sealing::SealingKey;
use healthchain_fuzz::fixtures::{self, Account};
use healthchain_fuzz::input::{pieces, selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = selector(data) else { return };
    match mode % 5 {
        0 => record_entry(bytes),
        1 => {
            let _ = TreatmentKey::open_sealed(&fixtures::treatment_recipient(), bytes, Account::Patient.address());
        }
        2 => treatment_message(bytes),
        3 => sealed_blob(bytes),
        _ => merkle_proof(bytes),
    }
});

fn record_entry(bytes: &[u8]) {
    static GENUINE: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let genuine = GENUINE.get_or_init(fixtures::sealed_entries);
    let key = RecordKey::from_bytes(fixtures::RECORD_KEY);
    if let Ok(plaintext) = envelope::decrypt_entry(&key, fixtures::entry_context(), bytes) {
        assert!(genuine.iter().any(|entry| entry == bytes), "a forged entry opened");
        assert_eq!(plaintext, fixtures::entry_plaintext());
    }
}

fn treatment_message(bytes: &[u8]) {
    let key = fixtures::treatment_key();
    let patient = Account::Patient.address();
    for purpose in [Purpose::Appointment, Purpose::Warrant, Purpose::Handover] {
        if let Ok(plaintext) = key.decrypt(purpose, patient, bytes) {
            assert_eq!((purpose, plaintext.as_slice()), (Purpose::Appointment, fixtures::TREATMENT_PLAINTEXT));
        }
    }
}

fn sealed_blob(bytes: &[u8]) {
    let sealing = SealingKey::derive(&fixtures::PLATFORM_SECRET, &fixtures::MEASUREMENT);
    for label in [fixtures::SEALED_LABEL, "enclave-keys"] {
        if let Ok(plaintext) = sealing.unseal(label, bytes) {
            assert_eq!((label, plaintext.as_slice()), (fixtures::SEALED_LABEL, fixtures::SEALED_PLAINTEXT));
        }
    }
}

/// Pieces: leaf index (u32 LE), the EHR id, the proof's hashes, a leaf count (u32 LE) to
/// check against besides the anchored one.
fn merkle_proof(bytes: &[u8]) {
    static TREE: OnceLock<BatchTree> = OnceLock::new();
    let tree = TREE.get_or_init(fixtures::batch_tree);
    let mut pieces = pieces(bytes);
    let [index, ehr_id, proof_bytes, count] = std::array::from_fn(|_| pieces.next().unwrap_or_default());
    let number = |bytes: &[u8]| bytes.first_chunk::<4>().map_or(0, |b| u32::from_le_bytes(*b));
    let (index, count) = (number(index), number(count));
    let Ok(ehr_id) = std::str::from_utf8(ehr_id) else { return };
    let Some(proof) = merkle::proof_from_bytes(proof_bytes) else { return };
    assert_eq!(merkle::proof_to_bytes(&proof), proof_bytes);
    if merkle::verify(tree.root(), fixtures::BATCH, index, &fixtures::batch_leaf(ehr_id), &proof).is_ok() {
        // the anchored count fixes the tree's shape: only the leaf's own proof verifies
        assert_eq!(ehr_id, format!("ehr-{index}"));
        assert_eq!(proof, tree.proof(index).expect("a leaf of the batch"));
    }
    let _ = merkle::verify(tree.root(), count, index, &fixtures::batch_leaf(ehr_id), &proof);
}
