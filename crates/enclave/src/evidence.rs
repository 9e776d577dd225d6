//! Attestation evidence and its verification.
//!
//! Evidence binds the enclave's public keys to its measurement under a platform
//! signature: `(measurement, H(report signer, encryption key), simulated)` signed by the
//! platform's attestation key. A verifier accepts it only if the signature is by a
//! platform key it is configured with, the measurement is on its allow-list, and — for
//! the simulated backend — it was configured to accept simulated evidence.

use alloy_primitives::{Address, B256};
use healthchain_crypto::hash::hash_fields;
use healthchain_crypto::kdf;
use healthchain_crypto::keywrap;
use healthchain_crypto::signing::{self, EthKey, SignatureError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// What an enclave presents to prove what it is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Evidence {
    /// SHA-256 of the enclave's code.
    pub measurement: [u8; 32],
    /// Address of the enclave's secp256k1 report key (contracts `ecrecover` against it).
    pub report_signer: [u8; 20],
    /// The enclave's Ristretto255 encryption key (record keys are wrapped to it).
    pub encryption_key: [u8; 32],
    /// True for the process-isolated simulation; hardware backends set false.
    pub simulated: bool,
    /// The platform attestation key's signature over the fields above.
    #[serde(with = "signature_bytes")]
    pub platform_signature: [u8; 65],
}

mod signature_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8; 65], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 65], D::Error> {
        let bytes: Vec<u8> = Deserialize::deserialize(deserializer)?;
        bytes.try_into().map_err(|_| D::Error::custom("platform signature must be 65 bytes"))
    }
}

/// The hash of an enclave's public keys, as the evidence signs it.
pub fn keys_hash(report_signer: &[u8; 20], encryption_key: &[u8; 32]) -> [u8; 32] {
    hash_fields("enclave-keys", &[report_signer, encryption_key])
}

fn signed_digest(measurement: &[u8; 32], keys: &[u8; 32], simulated: bool) -> B256 {
    B256::from(hash_fields("evidence", &[measurement, keys, &[u8::from(simulated)]]))
}

/// The simulated platform: one secret per machine, from which the attestation key and
/// (with a measurement) sealing keys derive. Whoever holds the secret is the platform.
pub struct SimulatedPlatform {
    secret: Zeroizing<[u8; 32]>,
    attestation: EthKey,
}

impl SimulatedPlatform {
    /// The platform with this secret.
    pub fn new(secret: [u8; 32]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        // HKDF-Expand output of 32 bytes is a valid secp256k1 key except with
        // probability 2^-128; the counter makes even that case terminate.
        let attestation = (0u8..=255)
            .find_map(|counter| {
                kdf::derive(
                    b"healthchain/platform/v1",
                    &secret,
                    &[b"attestation".as_slice(), &[counter]].concat(),
                    key.as_mut(),
                )
                .ok()?;
                EthKey::from_bytes(key.as_ref()).ok()
            })
            .expect("some counter yields a valid key");
        Self { secret: Zeroizing::new(secret), attestation }
    }

    /// The address verifiers are configured with.
    pub fn attestation_address(&self) -> Address {
        self.attestation.address()
    }

    /// The platform secret (passed to the enclave process at launch).
    pub fn secret(&self) -> [u8; 32] {
        *self.secret
    }

    /// Signs evidence for an enclave with `measurement` and these keys.
    pub fn attest(
        &self,
        measurement: [u8; 32],
        report_signer: Address,
        encryption_key: &keywrap::PublicKey,
    ) -> Evidence {
        let report_signer: [u8; 20] = report_signer.into();
        let encryption_key = encryption_key.to_bytes();
        let digest = signed_digest(&measurement, &keys_hash(&report_signer, &encryption_key), true);
        Evidence {
            measurement,
            report_signer,
            encryption_key,
            simulated: true,
            platform_signature: self.attestation.sign_digest(&digest),
        }
    }
}

/// What a verifier accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Platform attestation keys trusted to sign evidence.
    pub platforms: Vec<Address>,
    /// Enclave measurements allowed.
    pub measurements: Vec<[u8; 32]>,
    /// Whether simulated evidence is acceptable (development and tests only).
    pub accept_simulated: bool,
}

/// Why evidence was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum EvidenceError {
    /// The evidence is simulated and the policy does not accept simulation.
    #[error("evidence is from a simulated enclave and this verifier does not accept simulation")]
    SimulatedNotAccepted,
    /// The platform signature is invalid or by an untrusted platform key.
    #[error("platform signature rejected: {0}")]
    UntrustedPlatform(String),
    /// The measurement is not on the allow-list.
    #[error("measurement {0} is not on the allow-list")]
    UnapprovedMeasurement(B256),
    /// The evidence carries an invalid encryption key.
    #[error("evidence carries an invalid encryption key")]
    BadEncryptionKey,
}

/// An enclave whose evidence passed a [`Policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedEnclave {
    /// Its measurement.
    pub measurement: B256,
    /// Its report-signing address.
    pub report_signer: Address,
    /// Its encryption key.
    pub encryption_key: keywrap::PublicKey,
}

impl Evidence {
    /// A digest of the whole evidence (every field and the platform signature): names one
    /// instance's attestation, e.g. in `Directory.recordReplica`.
    pub fn hash(&self) -> [u8; 32] {
        hash_fields(
            "evidence-hash",
            &[
                &self.measurement,
                &self.report_signer,
                &self.encryption_key,
                &[u8::from(self.simulated)],
                &self.platform_signature,
            ],
        )
    }

    /// Checks the evidence against `policy`.
    pub fn verify(&self, policy: &Policy) -> Result<VerifiedEnclave, EvidenceError> {
        if self.simulated && !policy.accept_simulated {
            return Err(EvidenceError::SimulatedNotAccepted);
        }
        let digest =
            signed_digest(&self.measurement, &keys_hash(&self.report_signer, &self.encryption_key), self.simulated);
        let platform = signing::recover(&digest, &self.platform_signature)
            .map_err(|e: SignatureError| EvidenceError::UntrustedPlatform(e.to_string()))?;
        if !policy.platforms.contains(&platform) {
            return Err(EvidenceError::UntrustedPlatform(format!(
                "signed by {platform}, which is not a trusted platform key"
            )));
        }
        if !policy.measurements.contains(&self.measurement) {
            return Err(EvidenceError::UnapprovedMeasurement(B256::from(self.measurement)));
        }
        let encryption_key =
            keywrap::PublicKey::from_bytes(&self.encryption_key).map_err(|_| EvidenceError::BadEncryptionKey)?;
        Ok(VerifiedEnclave {
            measurement: B256::from(self.measurement),
            report_signer: Address::from(self.report_signer),
            encryption_key,
        })
    }
}
