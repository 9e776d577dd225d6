//! Sealing: encrypting enclave state so only the same code on the same platform can
//! read it back.
//!
//! Sealing key = HKDF(platform secret, measurement). A blob is
//! `nonce (12) ‖ AES-256-GCM(ciphertext ‖ tag)` with the label as associated data, so a
//! blob cannot be swapped for another label, and a different measurement (new or
//! modified code) derives a different key and cannot open it.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use healthchain_crypto::kdf;
use rand::Rng;
use zeroize::Zeroizing;

/// A sealed blob does not open under this key and label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed blob '{label}' does not open: sealed by other code, on another platform, or altered")]
pub struct UnsealError {
    /// The label of the blob.
    pub label: String,
}

/// The key that seals this enclave's state.
pub struct SealingKey(Aes256Gcm);

impl SealingKey {
    /// Derives the sealing key of `measurement` on the platform holding `platform_secret`.
    pub fn derive(platform_secret: &[u8; 32], measurement: &[u8; 32]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        kdf::derive(b"healthchain/seal/v1", platform_secret, measurement, key.as_mut())
            .expect("32 bytes is within HKDF-SHA256's output limit");
        let key: &[u8; 32] = &key;
        Self(Aes256Gcm::new(key.into()))
    }

    /// Seals `data` under `label`.
    pub fn seal(&self, label: &str, data: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .0
            .encrypt(&nonce.into(), Payload { msg: data, aad: label.as_bytes() })
            .expect("AES-GCM accepts any state-sized plaintext");
        [nonce.as_slice(), &ciphertext].concat()
    }

    /// Opens a blob sealed under `label`.
    pub fn unseal(&self, label: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        let error = || UnsealError { label: label.to_string() };
        if blob.len() < 12 + 16 {
            return Err(error());
        }
        let (nonce, ciphertext) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| error())?;
        self.0
            .decrypt(&nonce.into(), Payload { msg: ciphertext, aad: label.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_measurement_platform_and_label() {
        let key = SealingKey::derive(&[1; 32], &[2; 32]);
        let blob = key.seal("keys", b"secret state");
        assert_eq!(key.unseal("keys", &blob).unwrap().as_slice(), b"secret state");
        assert!(key.unseal("other", &blob).is_err());
        assert!(SealingKey::derive(&[1; 32], &[3; 32]).unseal("keys", &blob).is_err(), "other measurement");
        assert!(SealingKey::derive(&[9; 32], &[2; 32]).unseal("keys", &blob).is_err(), "other platform");
        let mut altered = blob.clone();
        altered[20] ^= 1;
        assert!(key.unseal("keys", &altered).is_err());
        assert!(key.unseal("keys", &blob[..10]).is_err());
    }
}
