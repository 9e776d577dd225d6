//! Key-exposure-free chameleon hash (Ateniese–de Medeiros), point-valued, on Ristretto255.
//!
//! Seed 000 anchors each record on-chain by a chameleon hash and lets the trapdoor holder
//! find collisions for each new version, so the anchor never changes. Its Krawczyk–Rabin
//! hash leaks the trapdoor once two collisions are public; this scheme does not, because
//! every collision is a fresh Schnorr-like proof of knowledge of `x` bound to its message.
//!
//! - `KeyGen`: `x` random, `Y = x·G`.
//! - `Hash(Y, m)`: `R = ρ·G`, `s` random, `e = H(Y, R, m)`, `h = R − e·Y − s·G`, check string `(R, s)`.
//! - `Check(Y, m, h, (R, s))`: `h == R − H(Y, R, m)·Y − s·G`.
//! - `Adapt(x, h, m')`: `k` random, `R' = h + k·G`, `e' = H(Y, R', m')`, `s' = k − e'·x`.

use curve25519_dalek::{RistrettoPoint, Scalar, constants::RISTRETTO_BASEPOINT_TABLE, traits::Identity};
use rand_core::CryptoRng;
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hash::DomainHasher;
use crate::point::{EncodingError, decode_point, decode_scalar, fixed};

/// The trapdoor `x`: whoever holds it can adapt the hash to new messages.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Trapdoor {
    x: Scalar,
    #[zeroize(skip)]
    public: PublicKey,
}

/// The public key `Y = x·G`, with its encoding cached because every hash, adapt and
/// check hashes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey {
    point: RistrettoPoint,
    encoded: [u8; 32],
}

impl PublicKey {
    fn new(point: RistrettoPoint) -> Self {
        Self { point, encoded: point.compress().to_bytes() }
    }
}

/// The hash value `h`, a group element; anchored on-chain as its 32-byte encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashValue(RistrettoPoint);

/// The check string `μ = (R, s)` that opens `h` for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckString {
    r: RistrettoPoint,
    r_encoded: [u8; 32],
    s: Scalar,
}

/// A check string that does not open the hash for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chameleon check failed: the check string does not open this hash for this message")]
pub struct CheckFailed;

/// Generates a trapdoor and its public key.
pub fn keygen(rng: &mut (impl CryptoRng + ?Sized)) -> (Trapdoor, PublicKey) {
    let trapdoor = Trapdoor::from_scalar(Scalar::random(rng));
    let public = trapdoor.public;
    (trapdoor, public)
}

/// `e = H(Y, R, m)`.
fn challenge(public: &PublicKey, r_encoded: &[u8; 32], message: &[u8]) -> Scalar {
    DomainHasher::<Sha512>::new("chameleon").field(&public.encoded).field(r_encoded).field(message).finish_scalar()
}

/// Hashes `message` under `public`, returning the hash and its check string.
pub fn hash(public: &PublicKey, message: &[u8], rng: &mut (impl CryptoRng + ?Sized)) -> (HashValue, CheckString) {
    let rho = Scalar::random(rng);
    let s = Scalar::random(rng);
    let r = RISTRETTO_BASEPOINT_TABLE * &rho;
    let r_encoded = r.compress().to_bytes();
    let e = challenge(public, &r_encoded, message);
    // e, Y and s are all public (s is published in the check string), so the
    // variable-time double-base multiplication leaks nothing.
    let h = r - RistrettoPoint::vartime_double_scalar_mul_basepoint(&e, &public.point, &s);
    (HashValue(h), CheckString { r, r_encoded, s })
}

/// Checks that `check` opens `h` for `message` under `public`.
pub fn check(public: &PublicKey, message: &[u8], h: &HashValue, check: &CheckString) -> Result<(), CheckFailed> {
    let e = challenge(public, &check.r_encoded, message);
    let expected = check.r - RistrettoPoint::vartime_double_scalar_mul_basepoint(&e, &public.point, &check.s);
    if expected == h.0 && h.0 != RistrettoPoint::identity() { Ok(()) } else { Err(CheckFailed) }
}

/// Finds a new check string opening `h` for `new_message` (needs the trapdoor).
pub fn adapt(
    trapdoor: &Trapdoor,
    h: &HashValue,
    new_message: &[u8],
    rng: &mut (impl CryptoRng + ?Sized),
) -> CheckString {
    let mut k = Scalar::random(rng);
    // k must stay secret (s' and e' would reveal x), hence the constant-time table.
    let r = h.0 + RISTRETTO_BASEPOINT_TABLE * &k;
    let r_encoded = r.compress().to_bytes();
    let e = challenge(&trapdoor.public, &r_encoded, new_message);
    let s = k - e * trapdoor.x;
    k.zeroize();
    CheckString { r, r_encoded, s }
}

impl Trapdoor {
    fn from_scalar(x: Scalar) -> Self {
        Self { x, public: PublicKey::new(RISTRETTO_BASEPOINT_TABLE * &x) }
    }

    /// The public key of this trapdoor.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The 32-byte scalar encoding (secret).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.x.to_bytes()
    }

    /// Decodes a trapdoor; rejects non-canonical scalars and zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let x = decode_scalar(&fixed(bytes)?)?;
        if x == Scalar::ZERO {
            return Err(EncodingError::InvalidScalar);
        }
        Ok(Self::from_scalar(x))
    }
}

impl std::fmt::Debug for Trapdoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trapdoor(..)")
    }
}

/// Decodes a point that must not be the identity.
fn decode_non_identity(bytes: &[u8]) -> Result<RistrettoPoint, EncodingError> {
    let point = decode_point(&fixed(bytes)?)?;
    if point == RistrettoPoint::identity() {
        return Err(EncodingError::InvalidPoint);
    }
    Ok(point)
}

impl PublicKey {
    /// The canonical 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.encoded
    }

    /// Decodes a public key; rejects non-canonical encodings and the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        decode_non_identity(bytes).map(Self::new)
    }
}

impl HashValue {
    /// The canonical 32-byte encoding (the on-chain anchor).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }

    /// Decodes a hash value; rejects non-canonical encodings and the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        decode_non_identity(bytes).map(Self)
    }
}

impl CheckString {
    /// Encoded length: `R` (32) then `s` (32).
    pub const LEN: usize = 64;

    /// `R ‖ s`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r_encoded);
        out[32..].copy_from_slice(self.s.as_bytes());
        out
    }

    /// Decodes `R ‖ s`, rejecting a non-canonical point or scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let bytes: [u8; 64] = fixed(bytes)?;
        let r_encoded: [u8; 32] = fixed(&bytes[..32])?;
        let r = decode_point(&r_encoded)?;
        let s = decode_scalar(&fixed(&bytes[32..])?)?;
        Ok(Self { r, r_encoded, s })
    }

    /// The commitment `R` (exposed for the key-exposure analysis in tests and audits).
    pub fn commitment(&self) -> [u8; 32] {
        self.r_encoded
    }

    /// The response `s`.
    pub fn response(&self) -> [u8; 32] {
        self.s.to_bytes()
    }
}
