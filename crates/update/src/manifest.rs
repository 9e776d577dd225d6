//! The upload manifest: what everyone may read about a record besides the chain.

use alloy_primitives::hex;
use healthchain_crypto::chameleon::PublicKey;
use serde::{Deserialize, Serialize};

/// Current manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// Stored as a content-addressed object; the chain commits to its SHA-256 (`manifestHash`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Why a manifest object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not the JSON document described by [`Manifest`].
    #[error("the manifest is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    /// A format this code does not know.
    #[error("manifest format {0} is not supported (expected {MANIFEST_FORMAT})")]
    Format(u32),
    /// The chameleon key is not a valid Ristretto255 point encoding.
    #[error("the manifest's chameleon key is not a valid public key")]
    ChameleonKey,
}

impl Manifest {
    /// Parses and checks a stored manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::Format(manifest.format));
        }
        manifest.public_key()?;
        Ok(manifest)
    }

    /// The chameleon public key `Y`.
    pub fn public_key(&self) -> Result<PublicKey, ManifestError> {
        let bytes = hex::decode(&self.chameleon_key).map_err(|_| ManifestError::ChameleonKey)?;
        PublicKey::from_bytes(&bytes).map_err(|_| ManifestError::ChameleonKey)
    }

    /// The document as stored (its SHA-256 is the on-chain `manifestHash`).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }
}
