//! Domain-separated, length-prefixed hashing.
//!
//! Every hash input in healthchain starts with the tag `"healthchain/<purpose>/v1"` and
//! every field is prefixed with its length, so no two different inputs (of any purpose)
//! can produce the same byte string. SHA-256 is used for digests, SHA-512 where a
//! uniformly random scalar is needed.

use curve25519_dalek::Scalar;
use sha2::{Digest, Sha256, Sha512};

/// A 32-byte SHA-256 output.
pub type Digest32 = [u8; 32];

/// The full domain tag of a purpose, e.g. `healthchain/record/v1`.
pub fn domain_tag(purpose: &str) -> String {
    format!("healthchain/{purpose}/v1")
}

/// Incremental hasher over length-prefixed fields under one domain tag.
///
/// Generic over the digest so the same framing serves SHA-256 digests and SHA-512
/// hash-to-scalar.
#[derive(Clone)]
pub struct DomainHasher<D: Digest + Clone = Sha256> {
    inner: D,
}

impl<D: Digest + Clone> DomainHasher<D> {
    /// Starts a hash for `purpose` (the tag itself is length-prefixed too).
    pub fn new(purpose: &str) -> Self {
        let mut hasher = Self { inner: D::new() };
        hasher.field(domain_tag(purpose).as_bytes());
        hasher
    }

    /// Appends one length-prefixed field.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.inner.update((bytes.len() as u64).to_be_bytes());
        self.inner.update(bytes);
        self
    }

    /// Appends an integer as a fixed 8-byte big-endian field.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }
}

impl DomainHasher<Sha256> {
    /// Finishes the hash.
    pub fn finish(&self) -> Digest32 {
        self.inner.clone().finalize().into()
    }
}

impl DomainHasher<Sha512> {
    /// Finishes the hash as a scalar reduced from 512 uniform bits.
    pub fn finish_scalar(&self) -> Scalar {
        let wide: [u8; 64] = self.inner.clone().finalize().into();
        Scalar::from_bytes_mod_order_wide(&wide)
    }
}

/// SHA-256 of `fields` under `purpose`, each length-prefixed.
pub fn hash_fields(purpose: &str, fields: &[&[u8]]) -> Digest32 {
    let mut hasher = DomainHasher::<Sha256>::new(purpose);
    for field in fields {
        hasher.field(field);
    }
    hasher.finish()
}

/// Plain SHA-256 (no domain tag), for content addresses of stored objects and for the
/// benchmarks' baseline. Uses the CPU's SHA extensions where present.
pub fn sha256(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unambiguous() {
        // Without length prefixes, ("ab","c") and ("a","bc") would collide.
        assert_ne!(hash_fields("t", &[b"ab", b"c"]), hash_fields("t", &[b"a", b"bc"]));
        assert_ne!(hash_fields("t", &[b"abc"]), hash_fields("t", &[b"abc", b""]));
    }

    #[test]
    fn purposes_are_separated() {
        assert_ne!(hash_fields("a", &[b"x"]), hash_fields("b", &[b"x"]));
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut hasher = DomainHasher::<Sha256>::new("t");
        hasher.field(b"one").u64(7);
        assert_eq!(hasher.finish(), hash_fields("t", &[b"one", &7u64.to_be_bytes()]));
    }
}
