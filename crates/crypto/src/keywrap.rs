//! Two-layer key wrapping (seed 000's `T` and `EK`) and the key-authorization committee.
//!
//! - Inner layer `T`: hashed ElGamal (ECIES) of the record key to the enclave's Ristretto
//!   encryption key — only the enclave can open it.
//! - Outer layer `EK`: hashed ElGamal of `T` to the committee key `PK_KA`. The committee's
//!   secret is Shamir-shared `t`-of-`n`; once the chain authorizes a request, each member
//!   publishes `S_i = sk_i·C1` with a Chaum–Pedersen proof that it used its registered
//!   share, and any `t` valid shares open the outer layer.
//!
//! Seed 000 publishes the ElGamal randomness and gives a contract a private key; here the
//! randomness never leaves the wrapper and no single party holds the committee secret.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use curve25519_dalek::{RistrettoPoint, Scalar, constants::RISTRETTO_BASEPOINT_TABLE};
use rand_core::CryptoRng;
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hash::DomainHasher;
use crate::kdf;
use crate::point::{EncodedPoint, EncodingError, decode_scalar, fixed};

/// Why a wrapped key or a share was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    /// A point, scalar or length in the input is malformed.
    #[error("malformed input: {0}")]
    Encoding(#[from] EncodingError),
    /// The ciphertext is shorter than an ephemeral key plus a tag.
    #[error("wrapped key is truncated")]
    Truncated,
    /// Decryption failed: wrong key, wrong context, or tampered ciphertext.
    #[error("wrapped key does not open (wrong key or context, or tampered)")]
    DoesNotOpen,
    /// A committee share's Chaum–Pedersen proof does not verify.
    #[error("decryption share from member {index} has an invalid proof")]
    BadShareProof {
        /// The member's index.
        index: u32,
    },
    /// A share names a member the committee does not have.
    #[error("decryption share from unknown member {index}")]
    UnknownMember {
        /// The index claimed.
        index: u32,
    },
    /// Fewer than `t` distinct valid shares were supplied.
    #[error("need {needed} valid decryption shares from distinct members, got {got}")]
    NotEnoughShares {
        /// The threshold `t`.
        needed: usize,
        /// Distinct valid shares received.
        got: usize,
    },
    /// Threshold parameters out of range (`1 ≤ t ≤ n`).
    #[error("invalid threshold {t}-of-{n}")]
    InvalidThreshold {
        /// Requested threshold.
        t: usize,
        /// Requested committee size.
        n: usize,
    },
}

/// A Ristretto255 decryption key (the enclave's, or one committee member's share), with
/// its public key (every opening derives the layer key from it).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    scalar: Scalar,
    #[zeroize(skip)]
    public: PublicKey,
}

/// The matching public encryption key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(EncodedPoint);

impl PublicKey {
    fn of(secret: &Scalar) -> Self {
        PublicKey(EncodedPoint::new(RISTRETTO_BASEPOINT_TABLE * secret))
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        Self::from_scalar(Scalar::random(rng))
    }

    fn from_scalar(scalar: Scalar) -> Self {
        Self { public: PublicKey::of(&scalar), scalar }
    }

    /// A key derived from secret keying material `ikm` with HKDF-SHA256 (`salt` names the
    /// purpose, `info` binds the holder): 64 output bytes reduced modulo the group order,
    /// so the key is as uniform as a generated one. For keys a holder must be able to
    /// re-derive from a secret it already keeps.
    pub fn derive(salt: &[u8], ikm: &[u8], info: &[u8]) -> Self {
        let mut wide = [0u8; 64];
        kdf::derive(salt, ikm, info, &mut wide).expect("64 bytes is within HKDF-SHA256's output limit");
        let scalar = Scalar::from_bytes_mod_order_wide(&wide);
        wide.zeroize();
        Self::from_scalar(scalar)
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The scalar's 32-byte encoding (secret; for sealing inside the enclave).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.scalar.to_bytes()
    }

    /// Decodes a secret key; rejects non-canonical scalars and zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let scalar = decode_scalar(&fixed(bytes)?)?;
        if scalar == Scalar::ZERO {
            return Err(EncodingError::InvalidScalar);
        }
        Ok(Self::from_scalar(scalar))
    }

    /// Opens a [`Wrapped`] ciphertext addressed to this key.
    pub fn unwrap_key(&self, wrapped: &Wrapped, purpose: Purpose, context: &[u8]) -> Result<Vec<u8>, WrapError> {
        open_with_shared(wrapped, self.scalar * wrapped.ephemeral.point, &self.public, purpose, context)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl PublicKey {
    /// Canonical 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.encoding
    }

    /// Decodes a public key; rejects non-canonical encodings and the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let point = EncodedPoint::decode(&fixed(bytes)?)?;
        if point.point == RistrettoPoint::identity() {
            return Err(EncodingError::InvalidPoint);
        }
        Ok(Self(point))
    }
}

/// Which layer a wrapping belongs to; bound into the key derivation so a ciphertext of
/// one layer can never be opened as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Inner layer `T`: the record key to the enclave.
    EnclaveLayer,
    /// Outer layer `EK`: `T` to the committee key.
    CommitteeLayer,
    /// A computation result to a data user's key.
    Result,
    /// An enclave's secret keys, from an approved instance to a joining one's attested key.
    Provisioning,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::EnclaveLayer => "wrap-enclave",
            Purpose::CommitteeLayer => "wrap-committee",
            Purpose::Result => "wrap-result",
            Purpose::Provisioning => "wrap-provisioning",
        }
    }
}

/// A hashed-ElGamal ciphertext: ephemeral `C1 = r·G` and the AES-256-GCM ciphertext
/// under a key derived from `r·PK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrapped {
    ephemeral: EncodedPoint,
    ciphertext: Vec<u8>,
}

impl Wrapped {
    /// `C1`, the point committee members multiply by their shares.
    pub fn ephemeral(&self) -> [u8; 32] {
        self.ephemeral.encoding
    }

    /// `C1 ‖ ciphertext ‖ tag`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.ciphertext.len());
        out.extend_from_slice(&self.ephemeral.encoding);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes `C1 ‖ ciphertext ‖ tag`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WrapError> {
        if bytes.len() < 32 + 16 {
            return Err(WrapError::Truncated);
        }
        let ephemeral = EncodedPoint::decode(&fixed(&bytes[..32])?)?;
        if ephemeral.point == RistrettoPoint::identity() {
            return Err(EncodingError::InvalidPoint.into());
        }
        Ok(Self { ephemeral, ciphertext: bytes[32..].to_vec() })
    }
}

fn layer_cipher(
    shared: &RistrettoPoint,
    ephemeral: &EncodedPoint,
    recipient: &PublicKey,
    purpose: Purpose,
) -> Aes256Gcm {
    let mut key = [0u8; 32];
    let mut info = Vec::with_capacity(64);
    info.extend_from_slice(&ephemeral.encoding);
    info.extend_from_slice(&recipient.0.encoding);
    kdf::derive(crate::hash::domain_tag(purpose.label()).as_bytes(), shared.compress().as_bytes(), &info, &mut key)
        .expect("32 bytes is within HKDF-SHA256's output limit");
    let cipher = Aes256Gcm::new(&key.into());
    key.zeroize();
    cipher
}

/// The AES-GCM key is unique per ephemeral `r`, so a fixed nonce is safe.
const LAYER_NONCE: [u8; 12] = [0; 12];

/// Wraps `plaintext` to `recipient` for `purpose`, binding `context` (e.g. the record id)
/// as associated data.
pub fn wrap(
    recipient: &PublicKey,
    plaintext: &[u8],
    purpose: Purpose,
    context: &[u8],
    rng: &mut (impl CryptoRng + ?Sized),
) -> Wrapped {
    let mut r = Scalar::random(rng);
    let ephemeral = EncodedPoint::new(RISTRETTO_BASEPOINT_TABLE * &r);
    let shared = r * recipient.0.point;
    r.zeroize();
    let cipher = layer_cipher(&shared, &ephemeral, recipient, purpose);
    let ciphertext = cipher
        .encrypt(&LAYER_NONCE.into(), Payload { msg: plaintext, aad: context })
        .expect("AES-GCM accepts any key-sized plaintext");
    Wrapped { ephemeral, ciphertext }
}

fn open_with_shared(
    wrapped: &Wrapped,
    shared: RistrettoPoint,
    recipient: &PublicKey,
    purpose: Purpose,
    context: &[u8],
) -> Result<Vec<u8>, WrapError> {
    let cipher = layer_cipher(&shared, &wrapped.ephemeral, recipient, purpose);
    cipher
        .decrypt(&LAYER_NONCE.into(), Payload { msg: &wrapped.ciphertext, aad: context })
        .map_err(|_| WrapError::DoesNotOpen)
}

/// One member's Shamir share of the committee secret (index ≥ 1).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyShare {
    #[zeroize(skip)]
    index: u32,
    secret: Scalar,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyShare {{ index: {}, .. }}", self.index)
    }
}

/// What everyone knows about the committee: `t`, `PK_KA` and each member's `PK_i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    threshold: usize,
    key: PublicKey,
    members: Vec<(u32, PublicKey)>,
}

/// Deals a fresh `t`-of-`n` committee (trusted dealer, Shamir over the scalar field).
pub fn deal_committee(
    threshold: usize,
    size: usize,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<(Committee, Vec<KeyShare>), WrapError> {
    if threshold == 0 || threshold > size || size > u32::MAX as usize {
        return Err(WrapError::InvalidThreshold { t: threshold, n: size });
    }
    let mut coefficients: Vec<Scalar> = (0..threshold).map(|_| Scalar::random(rng)).collect();
    let shares: Vec<KeyShare> = (1..=size as u32)
        .map(|index| {
            let x = Scalar::from(index);
            let secret = coefficients.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
            KeyShare { index, secret }
        })
        .collect();
    let key = PublicKey::of(&coefficients[0]);
    coefficients.zeroize();
    let members = shares.iter().map(|s| (s.index, s.public_key())).collect();
    Ok((Committee { threshold, key, members }, shares))
}

impl KeyShare {
    /// The member's index (1-based).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// `PK_i = sk_i·G`, registered on-chain.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::of(&self.secret)
    }

    /// Index (4, big-endian) ‖ scalar (32); secret, for the member's own keystore.
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        out[..4].copy_from_slice(&self.index.to_be_bytes());
        out[4..].copy_from_slice(self.secret.as_bytes());
        out
    }

    /// Decodes [`KeyShare::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let bytes: [u8; 36] = fixed(bytes)?;
        let index = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if index == 0 {
            return Err(EncodingError::InvalidScalar);
        }
        let secret = decode_scalar(&fixed(&bytes[4..])?)?;
        Ok(Self { index, secret })
    }

    /// Computes this member's decryption share `S_i = sk_i·C1` for `wrapped`, with a
    /// Chaum–Pedersen proof bound to `context` (e.g. the request id).
    pub fn decryption_share(
        &self,
        wrapped: &Wrapped,
        context: &[u8],
        rng: &mut (impl CryptoRng + ?Sized),
    ) -> DecryptionShare {
        let c1 = wrapped.ephemeral;
        let public = self.public_key();
        let share = EncodedPoint::new(self.secret * c1.point);
        let mut w = Scalar::random(rng);
        let a1 = RISTRETTO_BASEPOINT_TABLE * &w;
        let a2 = w * c1.point;
        let challenge = proof_challenge(self.index, &public, &c1, &share, &a1, &a2, context);
        let response = w + challenge * self.secret;
        w.zeroize();
        DecryptionShare { index: self.index, share, challenge, response }
    }
}

/// `S_i` and a proof that `log_G(PK_i) = log_C1(S_i)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptionShare {
    index: u32,
    share: EncodedPoint,
    challenge: Scalar,
    response: Scalar,
}

#[allow(clippy::too_many_arguments)]
fn proof_challenge(
    index: u32,
    public: &PublicKey,
    c1: &EncodedPoint,
    share: &EncodedPoint,
    a1: &RistrettoPoint,
    a2: &RistrettoPoint,
    context: &[u8],
) -> Scalar {
    DomainHasher::<Sha512>::new("committee-share-proof")
        .u64(u64::from(index))
        .field(&public.0.encoding)
        .field(&c1.encoding)
        .field(&share.encoding)
        .field(a1.compress().as_bytes())
        .field(a2.compress().as_bytes())
        .field(context)
        .finish_scalar()
}

impl DecryptionShare {
    /// Encoded length: index (4) ‖ `S_i` (32) ‖ challenge (32) ‖ response (32).
    pub const LEN: usize = 100;

    /// The member index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// `S_i` as 32 bytes (what `KeyAuthorization` stores).
    pub fn share_point(&self) -> [u8; 32] {
        self.share.encoding
    }

    /// The 64-byte proof `(challenge, response)`.
    pub fn proof_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.challenge.as_bytes());
        out[32..].copy_from_slice(self.response.as_bytes());
        out
    }

    /// Full encoding.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..4].copy_from_slice(&self.index.to_be_bytes());
        out[4..36].copy_from_slice(&self.share_point());
        out[36..].copy_from_slice(&self.proof_bytes());
        out
    }

    /// Decodes [`DecryptionShare::to_bytes`] (the proof is checked by [`Committee`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EncodingError> {
        let bytes: [u8; Self::LEN] = fixed(bytes)?;
        Ok(Self {
            index: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            share: EncodedPoint::decode(&fixed(&bytes[4..36])?)?,
            challenge: decode_scalar(&fixed(&bytes[36..68])?)?,
            response: decode_scalar(&fixed(&bytes[68..])?)?,
        })
    }
}

impl Committee {
    /// Rebuilds the public committee description from on-chain data.
    pub fn new(threshold: usize, key: PublicKey, members: Vec<(u32, PublicKey)>) -> Result<Self, WrapError> {
        let mut indexes: Vec<u32> = members.iter().map(|(i, _)| *i).collect();
        indexes.sort_unstable();
        indexes.dedup();
        if threshold == 0 || threshold > members.len() || indexes.len() != members.len() || indexes.first() == Some(&0)
        {
            return Err(WrapError::InvalidThreshold { t: threshold, n: members.len() });
        }
        Ok(Self { threshold, key, members })
    }

    /// `t`.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// `PK_KA`, the key the outer layer is wrapped to.
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// Each member's index and public share.
    pub fn members(&self) -> &[(u32, PublicKey)] {
        &self.members
    }

    /// Verifies one share's proof against the member's registered `PK_i`.
    pub fn verify_share(&self, wrapped: &Wrapped, share: &DecryptionShare, context: &[u8]) -> Result<(), WrapError> {
        let public = self
            .members
            .iter()
            .find(|(i, _)| *i == share.index)
            .map(|(_, pk)| *pk)
            .ok_or(WrapError::UnknownMember { index: share.index })?;
        let c1 = wrapped.ephemeral;
        let a1 =
            RistrettoPoint::vartime_double_scalar_mul_basepoint(&-share.challenge, &public.0.point, &share.response);
        // public inputs only (posted shares, proofs, C1), so variable-time arithmetic is safe
        let a2 =
            RistrettoPoint::vartime_multiscalar_mul([share.response, -share.challenge], [c1.point, share.share.point]);
        let expected = proof_challenge(share.index, &public, &c1, &share.share, &a1, &a2, context);
        if expected == share.challenge { Ok(()) } else { Err(WrapError::BadShareProof { index: share.index }) }
    }

    /// Opens the outer layer (wrapped with associated data `layer_context`) from any `t`
    /// shares whose proofs verify under `proof_context`; invalid or duplicate shares are
    /// skipped, so a committee minority cannot block or corrupt decryption.
    pub fn open(
        &self,
        wrapped: &Wrapped,
        shares: &[DecryptionShare],
        proof_context: &[u8],
        layer_context: &[u8],
    ) -> Result<Vec<u8>, WrapError> {
        let mut valid: Vec<&DecryptionShare> = Vec::with_capacity(self.threshold);
        for share in shares {
            if valid.len() == self.threshold {
                break;
            }
            if valid.iter().all(|v| v.index != share.index) && self.verify_share(wrapped, share, proof_context).is_ok()
            {
                valid.push(share);
            }
        }
        if valid.len() < self.threshold {
            return Err(WrapError::NotEnoughShares { needed: self.threshold, got: valid.len() });
        }
        let xs: Vec<Scalar> = valid.iter().map(|s| Scalar::from(s.index)).collect();
        // the shares and their indices are public (posted on-chain): variable time is safe
        let shared = RistrettoPoint::vartime_multiscalar_mul(
            (0..valid.len()).map(|j| lagrange_at_zero(&xs, j)),
            valid.iter().map(|share| share.share.point),
        );
        open_with_shared(wrapped, shared, &self.key, Purpose::CommitteeLayer, layer_context)
    }
}

fn lagrange_at_zero(xs: &[Scalar], j: usize) -> Scalar {
    let (num, den) = xs
        .iter()
        .enumerate()
        .filter(|(m, _)| *m != j)
        .fold((Scalar::ONE, Scalar::ONE), |(num, den), (_, xm)| (num * xm, den * (xm - xs[j])));
    num * den.invert()
}
