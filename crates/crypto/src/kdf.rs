//! HKDF-SHA256 (RFC 5869), the one key-derivation function of healthchain.

use hkdf::Hkdf;
use sha2::Sha256;

/// The requested output is longer than HKDF-SHA256 can produce (255 × 32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HKDF-SHA256 output of {0} bytes exceeds the 8160-byte limit")]
pub struct OutputTooLong(pub usize);

/// Largest output HKDF-SHA256 can produce.
pub const MAX_OUTPUT: usize = 255 * 32;

/// Fills `out` with `HKDF-Expand(HKDF-Extract(salt, ikm), info)`.
pub fn derive(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), OutputTooLong> {
    Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out).map_err(|_| OutputTooLong(out.len()))
}
