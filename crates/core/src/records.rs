//! The data owner's side of a record (seed 000 §5.2).
//!
//! The on-chain record id is `keccak(tag, owner, anchor, manifestHash)`, while the digest
//! chain, the chameleon message and every entry's associated data bind the record id. To
//! break the cycle, an upload is prepared in this order:
//! 1. chameleon key pair; anchor `h` = Hash(Y, fresh random message) — the message is
//!    thrown away, only `h` matters;
//! 2. record key `k`, wrapped to the enclave (inner layer `T`) and the committee (outer layer
//!    `EK`), both bound to the anchor;
//! 3. the manifest `{Y, EK, data type}` — stored as a content-addressed object; its SHA-256
//!    is the `manifestHash` the chain commits to;
//! 4. the record id from `(owner, h, manifestHash)`;
//! 5. entry 1 encrypted under `k` for `(recordId, 1)`, `d_1`, and `μ_1 = Adapt(x, h,
//!    (recordId, 1, d_1))`.

use alloy_primitives::{Address, B256};
use healthchain_crypto::CryptoRng;
use healthchain_crypto::chameleon::{self, CheckString, HashValue, Trapdoor};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap::{self, Purpose};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};

/// What everyone may read about a record besides the chain: stored as an object, committed
/// on-chain by its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format version of this document.
    pub format: u32,
    /// The chameleon public key `Y` (hex of its 32-byte encoding).
    pub chameleon_key: String,
    /// `EK`: the record key wrapped to the enclave, then to the committee (hex).
    pub wrapped_key: String,
    /// What the record holds (e.g. `fhir-r4`).
    pub data_type: String,
}

/// Current manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// The data owner's secrets for a record (kept in the owner's wallet, never uploaded).
pub struct RecordSecrets {
    /// The chameleon trapdoor `x`.
    pub trapdoor: Trapdoor,
    /// The record key `k`.
    pub key: RecordKey,
}

/// Everything an upload needs, prepared offline.
pub struct PreparedUpload {
    /// The anchor `h` the chain will hold forever.
    pub anchor: HashValue,
    /// The manifest document (JSON) to store as an object.
    pub manifest: Vec<u8>,
    /// Its SHA-256: the `manifestHash` committed on-chain and the object's address.
    pub manifest_hash: B256,
    /// The record id the chain will derive.
    pub record_id: RecordId,
    /// Entry 1's ciphertext, to store as an object.
    pub first_entry: Vec<u8>,
    /// The digest chain after entry 1.
    pub chain: DigestChain,
    /// `μ_1`, opening the anchor for `(recordId, 1, d_1)`.
    pub first_check: CheckString,
    /// The owner's secrets.
    pub secrets: RecordSecrets,
}

/// Prepares the upload of a record whose first entry is `entry`, owned by `owner`, with its
/// key wrapped to `enclave_key` and `committee_key`.
pub fn prepare_upload(
    owner: Address,
    entry: &[u8],
    data_type: &str,
    enclave_key: &keywrap::PublicKey,
    committee_key: &keywrap::PublicKey,
    rng: &mut (impl CryptoRng + ?Sized),
) -> PreparedUpload {
    let (trapdoor, public) = chameleon::keygen(rng);
    let mut placeholder = [0u8; 32];
    rng.fill_bytes(&mut placeholder);
    let (anchor, _) = chameleon::hash(&public, &placeholder, rng);

    let key = RecordKey::generate(rng);
    let anchor_bytes = anchor.to_bytes();
    let inner = keywrap::wrap(enclave_key, key.as_bytes(), Purpose::EnclaveLayer, &anchor_bytes, rng);
    let outer = keywrap::wrap(committee_key, &inner.to_bytes(), Purpose::CommitteeLayer, &anchor_bytes, rng);
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        chameleon_key: alloy_primitives::hex::encode(public.to_bytes()),
        wrapped_key: alloy_primitives::hex::encode(outer.to_bytes()),
        data_type: data_type.to_string(),
    };
    let manifest = serde_json::to_vec(&manifest).expect("a manifest always serializes");
    let manifest_hash = B256::from(sha256(&manifest));

    let record_id = RecordId(healthchain_ledger::ids::record_id(owner, B256::from(anchor_bytes), manifest_hash).0);
    let first_entry = envelope::encrypt_entry(&key, EntryContext { record: record_id, entry_index: 1 }, entry, rng);
    let chain = DigestChain::genesis(record_id).append(&entry_digest(&first_entry));
    let first_check = chameleon::adapt(&trapdoor, &anchor, &chain.message().to_bytes(), rng);
    PreparedUpload {
        anchor,
        manifest,
        manifest_hash,
        record_id,
        first_entry,
        chain,
        first_check,
        secrets: RecordSecrets { trapdoor, key },
    }
}
