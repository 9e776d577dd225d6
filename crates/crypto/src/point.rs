//! Strict (de)serialization of Ristretto255 points and scalars shared by the modules.

use curve25519_dalek::{RistrettoPoint, Scalar, ristretto::CompressedRistretto};

/// Why 32 bytes are not a valid point or scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// The bytes are not the canonical encoding of a Ristretto255 point.
    #[error("not a canonical Ristretto255 point encoding")]
    InvalidPoint,
    /// The bytes are not a canonical scalar (must be < the group order).
    #[error("not a canonical scalar (must be below the group order)")]
    InvalidScalar,
    /// The input has the wrong length.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Required length.
        expected: usize,
        /// Length received.
        actual: usize,
    },
}

/// A Ristretto255 point with its canonical encoding, computed once: arithmetic uses the
/// point, hashing and key derivation the encoding (a compression costs an inversion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodedPoint {
    pub(crate) point: RistrettoPoint,
    pub(crate) encoding: [u8; 32],
}

impl EncodedPoint {
    pub(crate) fn new(point: RistrettoPoint) -> Self {
        Self { point, encoding: point.compress().to_bytes() }
    }

    /// Decodes a canonical encoding, keeping the bytes.
    pub(crate) fn decode(bytes: &[u8; 32]) -> Result<Self, EncodingError> {
        Ok(Self { point: decode_point(bytes)?, encoding: *bytes })
    }
}

pub(crate) fn decode_point(bytes: &[u8; 32]) -> Result<RistrettoPoint, EncodingError> {
    CompressedRistretto(*bytes).decompress().ok_or(EncodingError::InvalidPoint)
}

pub(crate) fn decode_scalar(bytes: &[u8; 32]) -> Result<Scalar, EncodingError> {
    Option::from(Scalar::from_canonical_bytes(*bytes)).ok_or(EncodingError::InvalidScalar)
}

pub(crate) fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], EncodingError> {
    bytes.try_into().map_err(|_| EncodingError::WrongLength { expected: N, actual: bytes.len() })
}
