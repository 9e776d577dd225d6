//! secp256k1 keys and Ethereum-style recoverable signatures.
//!
//! Ledger accounts, enclave report keys and session authentication all sign 32-byte
//! digests with secp256k1 so contracts can check them with `ecrecover`; a signature is
//! accepted only in low-`s` form and only when it recovers to the expected address.

use alloy_primitives::{Address, B256, Signature};
use k256::ecdsa::SigningKey;
use rand_core::CryptoRng;

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes `r ‖ s ‖ v`, or `v` not 27/28.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// `s` is in the upper half of the group order (malleable form).
    #[error("signature is malleable (high s)")]
    HighS,
    /// The signature is valid but recovers to another address.
    #[error("signature is by {recovered}, expected {expected}")]
    WrongSigner {
        /// Address the signature recovers to.
        recovered: Address,
        /// Address that should have signed.
        expected: Address,
    },
    /// No public key can be recovered.
    #[error("signature does not recover to any key")]
    Unrecoverable,
    /// Secret key bytes out of range.
    #[error("invalid secp256k1 secret key")]
    InvalidKey,
}

/// A secp256k1 signing key with its Ethereum address.
#[derive(Clone)]
pub struct EthKey {
    key: SigningKey,
    address: Address,
}

impl EthKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        loop {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            // Fails only for zero or ≥ n: probability ~2^-128, so draw again.
            if let Ok(key) = Self::from_bytes(&bytes) {
                return key;
            }
        }
    }

    /// A key from its 32-byte secret.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let key = SigningKey::from_slice(bytes).map_err(|_| SignatureError::InvalidKey)?;
        let address = Address::from_public_key(key.verifying_key());
        Ok(Self { key, address })
    }

    /// The 32-byte secret (for keystores).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest (RFC 6979 deterministic, low-`s`), `r ‖ s ‖ v` with v = 27/28.
    pub fn sign_digest(&self, digest: &B256) -> [u8; 65] {
        let (signature, recovery) =
            self.key.sign_prehash_recoverable(digest.as_slice()).expect("a 32-byte prehash is always signable");
        let signature = Signature::from((signature, recovery)).normalized_s();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.as_bytes()[..64]);
        out[64] = 27 + u8::from(signature.v());
        out
    }
}

impl std::fmt::Debug for EthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EthKey({})", self.address)
    }
}

/// Recovers the signer of `digest`, refusing malformed and high-`s` signatures.
pub fn recover(digest: &B256, signature: &[u8]) -> Result<Address, SignatureError> {
    // `ecrecover` on-chain takes v = 27/28 only; accept nothing the contracts would refuse.
    match signature.last() {
        Some(27 | 28) if signature.len() == 65 => {}
        _ => {
            return Err(SignatureError::Malformed("expected 65 bytes r ‖ s ‖ v with v = 27 or 28".into()));
        }
    }
    let signature = Signature::from_raw(signature).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    if signature.normalize_s().is_some() {
        return Err(SignatureError::HighS);
    }
    signature.recover_address_from_prehash(digest).map_err(|_| SignatureError::Unrecoverable)
}

/// Checks that `signature` over `digest` is by `expected`.
pub fn verify(digest: &B256, signature: &[u8], expected: Address) -> Result<(), SignatureError> {
    let recovered = recover(digest, signature)?;
    if recovered != expected {
        return Err(SignatureError::WrongSigner { recovered, expected });
    }
    Ok(())
}
