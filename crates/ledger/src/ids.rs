//! Values the contracts derive, computed the same way off-chain (contracts/README.md, "Derived
//! values"), and the packed words the contracts return.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{SolStruct, SolValue};
use healthchain_crypto::chameleon::CheckString;
use healthchain_crypto::eip712::{self, Warrant};

/// `keccak256("healthchain/record-id/v1")`.
pub fn record_id_tag() -> B256 {
    keccak256("healthchain/record-id/v1")
}

/// `keccak256("healthchain/license-id/v1")`.
pub fn license_id_tag() -> B256 {
    keccak256("healthchain/license-id/v1")
}

/// Record id: `keccak256(abi.encode(tag, owner, anchor, manifestHash))`.
pub fn record_id(owner: Address, anchor: B256, manifest_hash: B256) -> B256 {
    keccak256((record_id_tag(), owner, anchor, manifest_hash).abi_encode_params())
}

/// License id: `keccak256(abi.encode(tag, recordId, enclave, uint40 expiry, uint24 sequence))`.
pub fn license_id(record_id: B256, enclave: Address, expiry: u64, sequence: u32) -> B256 {
    keccak256(
        (license_id_tag(), record_id, enclave, U256::from(expiry & 0xff_ffff_ffff), U256::from(sequence & 0xff_ffff))
            .abi_encode_params(),
    )
}

/// `checkStringHash = keccak256(abi.encode(R, s))` of a chameleon check string given as its two
/// 32-byte words.
pub fn check_string_hash_words(words: &[B256; 2]) -> B256 {
    keccak256((words[0], words[1]).abi_encode_params())
}

/// The two 32-byte words `[R, s]` UpdateLog takes for a chameleon check string.
pub fn check_string_words(check: &CheckString) -> [B256; 2] {
    [B256::from(check.commitment()), B256::from(check.response())]
}

/// `checkStringHash` of a chameleon check string.
pub fn check_string_hash(check: &CheckString) -> B256 {
    check_string_hash_words(&check_string_words(check))
}

/// The UpdateLog hash chain: `head_j = keccak256(abi.encode(head_{j-1}, uint64 j, digest_j,
/// checkStringHash_j))`, with `head_0 = 0`.
pub fn update_log_head(previous: B256, version: u64, digest: B256, check_string_hash: B256) -> B256 {
    keccak256((previous, U256::from(version), digest, check_string_hash).abi_encode_params())
}

/// AccessControl's `termsHash = keccak256(abi.encode(jobHash, uint256[] policies))`.
pub fn terms_hash(job_hash: B256, policies: &[U256]) -> B256 {
    keccak256((job_hash, policies.to_vec()).abi_encode_params())
}

/// EhrRegistry's `hospitalsHash = keccak256(abi.encodePacked(address[] hospitals))`: each
/// address left-padded to 32 bytes.
pub fn hospitals_hash(hospitals: &[Address]) -> B256 {
    let mut packed = Vec::with_capacity(32 * hospitals.len());
    for h in hospitals {
        packed.extend_from_slice(&[0u8; 12]);
        packed.extend_from_slice(h.as_slice());
    }
    keccak256(packed)
}

/// A warrant's id: its EIP-712 digest under the EhrRegistry domain (what the patient signs).
pub fn warrant_id(chain_id: u64, ehr_registry: Address, warrant: &Warrant) -> B256 {
    warrant.eip712_signing_hash(&eip712::domain(chain_id, ehr_registry))
}

/// A record word (RecordRegistry's storage slot per record, AccessControl's policy snapshot):
/// owner (bits 0–159), charge in gwei (160–191), policy start (192–223) and end (224–255),
/// unix seconds inclusive; `end = 0` means no policy in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct RecordWord {
    /// The record's owner.
    pub owner: Address,
    /// Charge per access, in gwei.
    pub charge_gwei: u32,
    /// First second access is allowed.
    pub start: u32,
    /// Last second access is allowed; 0 = no policy.
    pub end: u32,
}

impl RecordWord {
    /// Unpacks a word.
    pub fn unpack(word: U256) -> Self {
        let bytes = word.to_be_bytes::<32>();
        let u32_at = |from: usize| u32::from_be_bytes(bytes[from..from + 4].try_into().expect("4 bytes"));
        RecordWord {
            owner: Address::from_slice(&bytes[12..32]),
            charge_gwei: u32_at(8),
            start: u32_at(4),
            end: u32_at(0),
        }
    }

    /// Packs into the contract's layout.
    pub fn pack(&self) -> U256 {
        U256::from_be_slice(self.owner.as_slice())
            | (U256::from(self.charge_gwei) << 160)
            | (U256::from(self.start) << 192)
            | (U256::from(self.end) << 224)
    }

    /// Whether a record exists (its word is non-zero).
    pub fn exists(&self) -> bool {
        self.owner != Address::ZERO
    }

    /// Whether a policy is in force (`end != 0`).
    pub fn has_policy(&self) -> bool {
        self.end != 0
    }

    /// The charge in wei.
    pub fn charge_wei(&self) -> U256 {
        U256::from(self.charge_gwei) * U256::from(1_000_000_000u64)
    }
}

/// A KeyAuthorization grant word: submitted bitmap (bits 0–63), shares posted (64–71),
/// threshold (72–79), record count (80–95), committee epoch (96–127, 0 = never granted),
/// closed (bit 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// Bit `i` set once committee member `i` posted.
    pub submitted: u64,
    /// Members that posted.
    pub shares_posted: u8,
    /// Committee threshold.
    pub threshold: u8,
    /// Records in the request (shares expected per member).
    pub record_count: u16,
    /// Committee epoch the grant was made under; 0 = never granted.
    pub epoch: u32,
    /// Whether the request was closed (refunded).
    pub closed: bool,
}

impl Grant {
    /// Unpacks a grant word.
    pub fn unpack(word: U256) -> Self {
        let field = |shift: usize, bits: usize| -> u64 {
            let mask = (U256::from(1u8) << bits) - U256::from(1u8);
            ((word >> shift) & mask).to::<u64>()
        };
        Grant {
            submitted: field(0, 64),
            shares_posted: field(64, 8) as u8,
            threshold: field(72, 8) as u8,
            record_count: field(80, 16) as u16,
            epoch: field(96, 32) as u32,
            closed: field(128, 1) == 1,
        }
    }

    /// Whether at least `threshold` members posted.
    pub fn threshold_reached(&self) -> bool {
        self.epoch != 0 && self.shares_posted >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_the_readme() {
        assert_eq!(record_id_tag().to_string(), "0xe046ff376d0b8aab8ce4fb25937e32c4ecdb64a7eaab4cd90765c0efe08739a7");
        assert_eq!(license_id_tag().to_string(), "0x712588d2ac9c4a96980aea9b83c7a9249d5ad6d4ab3984c1bd8696877cb4b520");
    }

    #[test]
    fn record_word_round_trips() {
        let w = RecordWord { owner: Address::repeat_byte(0xab), charge_gwei: 7, start: 100, end: 200 };
        assert_eq!(RecordWord::unpack(w.pack()), w);
        assert_eq!(RecordWord::unpack(U256::ZERO), RecordWord::default());
    }

    #[test]
    fn grant_unpacks() {
        let word = U256::from(0b101u64)
            | (U256::from(2u8) << 64)
            | (U256::from(3u8) << 72)
            | (U256::from(4u16) << 80)
            | (U256::from(5u32) << 96)
            | (U256::from(1u8) << 128);
        let g = Grant::unpack(word);
        assert_eq!(g, Grant { submitted: 5, shares_posted: 2, threshold: 3, record_count: 4, epoch: 5, closed: true });
    }
}
