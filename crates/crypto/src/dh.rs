//! X25519 Diffie–Hellman (RFC 7748) for session keys.

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The peer's public key is a low-order point: the shared secret would be all zeros and
/// independent of our key, so the exchange is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("X25519 peer key is of low order (shared secret would be zero)")]
pub struct NonContributory;

/// An X25519 secret (ephemeral in sessions).
#[derive(Clone, ZeroizeOnDrop)]
pub struct Secret(StaticSecret);

/// A 32-byte X25519 shared secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(pub(crate) [u8; 32]);

impl Secret {
    /// A fresh random secret.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        Self(StaticSecret::random_from_rng(rng))
    }

    /// A secret from its 32-byte encoding (clamped as RFC 7748 specifies).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// The public key `X25519(secret, 9)`.
    pub fn public_key(&self) -> [u8; 32] {
        XPublic::from(&self.0).to_bytes()
    }

    /// `X25519(secret, peer)`, refusing low-order peers.
    pub fn diffie_hellman(&self, peer: &[u8; 32]) -> Result<SharedSecret, NonContributory> {
        let shared = self.0.diffie_hellman(&XPublic::from(*peer));
        if !shared.was_contributory() {
            return Err(NonContributory);
        }
        Ok(SharedSecret(shared.to_bytes()))
    }
}

impl SharedSecret {
    /// The raw shared secret (for the key schedule).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}
