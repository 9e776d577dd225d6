//! Merkle trees over EHR batches: every leaf's proof verifies, and nothing else does.

use alloy_primitives::{Address, B256};
use healthchain_crypto::merkle::{self, BatchTree, EhrLeaf, MerkleError};
use proptest::prelude::*;

struct Ehr {
    patient: Address,
    ehr_id: String,
    ehr_hash: B256,
    warrant_id: B256,
    author: Address,
}

impl Ehr {
    fn leaf(&self) -> EhrLeaf<'_> {
        EhrLeaf {
            patient: self.patient,
            ehr_id: &self.ehr_id,
            version: 1,
            ehr_hash: self.ehr_hash,
            warrant_id: self.warrant_id,
            author: self.author,
        }
    }
}

fn batch(n: u32, salt: u8) -> Vec<Ehr> {
    (0..n)
        .map(|i| Ehr {
            patient: Address::repeat_byte((i % 7) as u8 + salt),
            ehr_id: format!("visit-{i}"),
            ehr_hash: B256::from(healthchain_crypto::hash::sha256(&i.to_be_bytes())),
            warrant_id: B256::repeat_byte((i % 3) as u8 + salt),
            author: Address::repeat_byte(0xd0),
        })
        .collect()
}

fn tree_of(ehrs: &[Ehr]) -> BatchTree {
    BatchTree::new(&ehrs.iter().map(|e| e.leaf().hash()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn every_leaf_verifies_for_one_and_odd_and_even_counts() {
    for n in [1u32, 2, 3, 5, 7, 8, 13, 100, 1000, 1001] {
        let ehrs = batch(n, 0);
        let tree = tree_of(&ehrs);
        assert_eq!(tree.count(), n);
        for (i, ehr) in ehrs.iter().enumerate() {
            let proof = tree.proof(i as u32).unwrap();
            merkle::verify(tree.root(), n, i as u32, &ehr.leaf(), &proof)
                .unwrap_or_else(|e| panic!("leaf {i} of {n}: {e}"));
        }
    }
    assert_eq!(BatchTree::new(&[]).err(), Some(MerkleError::Empty));
}

#[test]
fn a_changed_field_fails() {
    let ehrs = batch(11, 0);
    let tree = tree_of(&ehrs);
    let proof = tree.proof(4).unwrap();
    let good = ehrs[4].leaf();
    let altered = [
        EhrLeaf { patient: Address::repeat_byte(0xee), ..good },
        EhrLeaf { ehr_id: "visit-5", ..good },
        EhrLeaf { version: 2, ..good },
        EhrLeaf { ehr_hash: B256::repeat_byte(0xee), ..good },
        EhrLeaf { warrant_id: B256::repeat_byte(0xee), ..good },
        EhrLeaf { author: Address::repeat_byte(0xee), ..good },
    ];
    for leaf in altered {
        assert!(
            matches!(merkle::verify(tree.root(), 11, 4, &leaf, &proof), Err(MerkleError::RootMismatch { .. })),
            "{leaf:?}"
        );
    }
    // A changed proof hash, too.
    let mut bad = proof.clone();
    bad[1].0[0] ^= 1;
    assert!(matches!(merkle::verify(tree.root(), 11, 4, &good, &bad), Err(MerkleError::RootMismatch { .. })));
}

#[test]
fn a_wrong_index_or_count_fails() {
    let ehrs = batch(12, 0);
    let tree = tree_of(&ehrs);
    let leaf = ehrs[5].leaf();
    let proof = tree.proof(5).unwrap();
    for index in (0..12).filter(|i| *i != 5) {
        assert!(merkle::verify(tree.root(), 12, index, &leaf, &proof).is_err(), "index {index}");
    }
    assert!(matches!(
        merkle::verify(tree.root(), 12, 12, &leaf, &proof),
        Err(MerkleError::IndexOutOfRange { index: 12, count: 12 })
    ));
    // A count that gives the tree another shape (the count is anchored with the root; one
    // that leaves the leaf's path unchanged, e.g. 13 here, still proves the same membership).
    assert!(merkle::verify(tree.root(), 6, 5, &leaf, &proof).is_err());
    assert!(merkle::verify(tree.root(), 0, 0, &leaf, &proof).is_err());
    assert!(tree.proof(12).is_err());
}

#[test]
fn a_proof_for_another_root_fails() {
    let (first, second) = (batch(9, 0), batch(9, 0x40));
    let (a, b) = (tree_of(&first), tree_of(&second));
    assert_ne!(a.root(), b.root());
    for i in 0..9u32 {
        let proof = a.proof(i).unwrap();
        let leaf = first[i as usize].leaf();
        merkle::verify(a.root(), 9, i, &leaf, &proof).unwrap();
        assert!(matches!(merkle::verify(b.root(), 9, i, &leaf, &proof), Err(MerkleError::RootMismatch { .. })));
        // The other batch's EHR with this batch's proof.
        let other = second[i as usize].leaf();
        assert!(merkle::verify(a.root(), 9, i, &other, &proof).is_err());
    }
}

#[test]
fn truncated_or_extended_proofs_fail() {
    let ehrs = batch(21, 0);
    let tree = tree_of(&ehrs);
    for i in [0u32, 7, 20] {
        let proof = tree.proof(i).unwrap();
        let leaf = ehrs[i as usize].leaf();
        for cut in 0..proof.len() {
            assert!(matches!(
                merkle::verify(tree.root(), 21, i, &leaf, &proof[..cut]),
                Err(MerkleError::ProofLength { .. })
            ));
        }
        let mut longer = proof.clone();
        longer.push(B256::ZERO);
        assert!(matches!(merkle::verify(tree.root(), 21, i, &leaf, &longer), Err(MerkleError::ProofLength { .. })));
        // Stored form round-trips; a torn one is refused.
        let bytes = merkle::proof_to_bytes(&proof);
        assert_eq!(merkle::proof_from_bytes(&bytes), Some(proof));
        assert_eq!(merkle::proof_from_bytes(&bytes[..bytes.len() - 1]), None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn verify_never_panics(
        count: u32,
        index: u32,
        ehr_hash: [u8; 32],
        root: [u8; 32],
        hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
    ) {
        let proof: Vec<B256> = hashes.into_iter().map(B256::from).collect();
        let leaf = EhrLeaf {
            patient: Address::ZERO,
            ehr_id: "x",
            version: 1,
            ehr_hash: B256::from(ehr_hash),
            warrant_id: B256::ZERO,
            author: Address::ZERO,
        };
        let _ = merkle::verify(B256::from(root), count, index, &leaf, &proof);
    }
}
