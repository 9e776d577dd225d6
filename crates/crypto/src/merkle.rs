//! Merkle trees over EHR batches: the enclave stores a batch of EHRs, anchors one root on
//! `EhrRegistry.anchorBatch` for the whole batch, and hands every EHR its proof, so each EHR
//! stays verifiable on its own against the chain.
//!
//! - **Leaf** of an EHR version: [`EhrLeaf::hash`] = SHA-256 under the domain tag
//!   `healthchain/ehr-leaf/v1` of the length-prefixed fields `patient (20 bytes) ‖ ehr_id
//!   (UTF-8) ‖ version (u64 big-endian) ‖ ehr_hash (32) ‖ warrant_id (32) ‖ author (20)`
//!   ([`crate::hash::DomainHasher`]).
//! - **Internal node** = SHA-256 under `healthchain/ehr-node/v1` of the one field
//!   `left ‖ right` (64 bytes). The two tags keep a leaf from ever being read as a node
//!   (no second-preimage by reinterpreting a node as a leaf or the reverse).
//! - **Layout** (`rs_merkle`'s): leaves in batch order; each layer pairs nodes left to right;
//!   an unpaired last node is promoted to the next layer unchanged (never duplicated, so
//!   no two leaf lists share a root by repeating their last leaf). A one-leaf tree's root is
//!   the leaf. The leaf count is part of what is anchored (`EhrBatch.count`), and a proof is
//!   checked against it: its length must be exactly what the index and count imply.
//!
//! The tree itself is `rs_merkle`'s, with [`NodeHasher`] as its hasher: `rs_merkle` hashes
//! only internal nodes through the hasher (leaves are handed to it already hashed), so the
//! node tag lives in the hasher and the leaf tag in [`EhrLeaf::hash`].

use alloy_primitives::{Address, B256};
use rs_merkle::{MerkleProof, MerkleTree};

use crate::hash::DomainHasher;

/// Domain purpose of leaf hashes.
pub const LEAF_PURPOSE: &str = "ehr-leaf";
/// Domain purpose of internal node hashes.
pub const NODE_PURPOSE: &str = "ehr-node";

/// Why a batch tree cannot be built or a proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A batch has at least one EHR.
    #[error("a batch tree needs at least one leaf")]
    Empty,
    /// The leaf count must fit the anchored `uint32`.
    #[error("a batch tree holds at most {max} leaves, got {count}", max = u32::MAX)]
    TooManyLeaves {
        /// The count given.
        count: usize,
    },
    /// The index is not a leaf of a tree of this size.
    #[error("leaf index {index} is outside a tree of {count} leaves")]
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// The tree's leaf count.
        count: u64,
    },
    /// The proof has more or fewer hashes than the index and count imply.
    #[error("a proof for leaf {index} of {count} has {expected} hashes, this one has {actual}")]
    ProofLength {
        /// The leaf index.
        index: u64,
        /// The tree's leaf count.
        count: u64,
        /// Hashes expected.
        expected: usize,
        /// Hashes given.
        actual: usize,
    },
    /// The leaf, index and proof lead to another root: the EHR, its position or its proof
    /// was altered, or it belongs to another batch.
    #[error("the proof leads to root {computed}, not to the anchored root {anchored}")]
    RootMismatch {
        /// The root the proof leads to.
        computed: B256,
        /// The root it was checked against.
        anchored: B256,
    },
}

/// What a leaf commits to: one stored EHR version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EhrLeaf<'a> {
    /// The patient.
    pub patient: Address,
    /// The EHR's id.
    pub ehr_id: &'a str,
    /// The version (1 for a create).
    pub version: u64,
    /// SHA-256 of the EHR bytes.
    pub ehr_hash: B256,
    /// The warrant's id (its EIP-712 signing hash).
    pub warrant_id: B256,
    /// The doctor who wrote it.
    pub author: Address,
}

impl EhrLeaf<'_> {
    /// The leaf hash (see the module documentation).
    pub fn hash(&self) -> B256 {
        let mut hasher = DomainHasher::new(LEAF_PURPOSE);
        hasher
            .field(self.patient.as_slice())
            .field(self.ehr_id.as_bytes())
            .u64(self.version)
            .field(self.ehr_hash.as_slice())
            .field(self.warrant_id.as_slice())
            .field(self.author.as_slice());
        B256::from(hasher.finish())
    }
}

/// `rs_merkle`'s hasher for internal nodes: SHA-256 under [`NODE_PURPOSE`] of `left ‖ right`.
#[derive(Clone, Copy, Debug)]
pub struct NodeHasher;

impl rs_merkle::Hasher for NodeHasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        DomainHasher::new(NODE_PURPOSE).field(data).finish()
    }
}

/// The Merkle tree of one batch.
pub struct BatchTree {
    tree: MerkleTree<NodeHasher>,
    count: u32,
}

impl std::fmt::Debug for BatchTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchTree").field("root", &self.root()).field("count", &self.count).finish()
    }
}

impl BatchTree {
    /// The tree over `leaves`: the [`EhrLeaf::hash`]es of the batch's EHRs, in batch order.
    pub fn new(leaves: &[B256]) -> Result<Self, MerkleError> {
        if leaves.is_empty() {
            return Err(MerkleError::Empty);
        }
        let count = u32::try_from(leaves.len()).map_err(|_| MerkleError::TooManyLeaves { count: leaves.len() })?;
        let hashes: Vec<[u8; 32]> = leaves.iter().map(|leaf| leaf.0).collect();
        Ok(Self { tree: MerkleTree::from_leaves(&hashes), count })
    }

    /// The root, as anchored on-chain.
    pub fn root(&self) -> B256 {
        // A tree built from at least one leaf always has a root.
        B256::from(self.tree.root().unwrap_or_default())
    }

    /// The number of leaves, as anchored on-chain.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The proof of leaf `index`: its sibling hashes from the leaf layer up (promoted
    /// layers contribute none).
    pub fn proof(&self, index: u32) -> Result<Vec<B256>, MerkleError> {
        if index >= self.count {
            return Err(MerkleError::IndexOutOfRange { index: index.into(), count: self.count.into() });
        }
        Ok(self.tree.proof(&[index as usize]).proof_hashes().iter().map(|h| B256::from(*h)).collect())
    }
}

/// How many hashes the proof of leaf `index` in a tree of `count` leaves has: one per layer
/// in which the leaf's ancestor has a sibling.
pub fn proof_len(index: u32, count: u32) -> Result<usize, MerkleError> {
    if index >= count {
        return Err(MerkleError::IndexOutOfRange { index: index.into(), count: count.into() });
    }
    let (mut position, mut width, mut hashes) = (index, count, 0);
    while width > 1 {
        let unpaired = width % 2 == 1 && position == width - 1;
        if !unpaired {
            hashes += 1;
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    Ok(hashes)
}

/// Checks that `leaf` is leaf number `index` of the `count`-leaf tree with root `root`,
/// given its `proof`. `root` and `count` are what `EhrRegistry.batchOf(root)` holds: the
/// leaf is always hashed here under its own tag, so an internal node cannot pass for an EHR,
/// and the count fixes the tree's shape.
pub fn verify(root: B256, count: u32, index: u32, leaf: &EhrLeaf<'_>, proof: &[B256]) -> Result<(), MerkleError> {
    let expected = proof_len(index, count)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            index: index.into(),
            count: count.into(),
            expected,
            actual: proof.len(),
        });
    }
    let hashes: Vec<[u8; 32]> = proof.iter().map(|h| h.0).collect();
    let computed = MerkleProof::<NodeHasher>::new(hashes)
        .root(&[index as usize], &[leaf.hash().0], count as usize)
        .map(B256::from)
        // The length was checked, so rs_merkle always finds enough hashes; should it not,
        // the proof leads nowhere.
        .unwrap_or_default();
    if computed != root {
        return Err(MerkleError::RootMismatch { computed, anchored: root });
    }
    Ok(())
}

/// A proof as stored: its hashes concatenated.
pub fn proof_to_bytes(proof: &[B256]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

/// A stored proof back into hashes; `None` if the length is not a multiple of 32.
pub fn proof_from_bytes(bytes: &[u8]) -> Option<Vec<B256>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(bytes.chunks_exact(32).map(B256::from_slice).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u32) -> Vec<B256> {
        (0..n)
            .map(|i| {
                EhrLeaf {
                    patient: Address::repeat_byte(1),
                    ehr_id: &format!("ehr-{i}"),
                    version: 1,
                    ehr_hash: B256::repeat_byte(2),
                    warrant_id: B256::repeat_byte(3),
                    author: Address::repeat_byte(4),
                }
                .hash()
            })
            .collect()
    }

    #[test]
    fn proof_lengths_match_rs_merkle() {
        for n in 1..=40u32 {
            let tree = BatchTree::new(&leaves(n)).unwrap();
            for i in 0..n {
                assert_eq!(tree.proof(i).unwrap().len(), proof_len(i, n).unwrap(), "leaf {i} of {n}");
            }
        }
    }

    #[test]
    fn one_leaf_is_its_own_root_and_two_leaves_hash_under_the_node_tag() {
        let l = leaves(2);
        assert_eq!(BatchTree::new(&l[..1]).unwrap().root(), l[0]);
        let expected = DomainHasher::new(NODE_PURPOSE).field(&[l[0].0, l[1].0].concat()).finish();
        assert_eq!(BatchTree::new(&l).unwrap().root(), B256::from(expected));
    }
}
