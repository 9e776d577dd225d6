//! Seed 001's treatment key `Ptk`: the hospital gives each patient a random key that
//! protects the appointment and the patient's warrants between patient, hospital and
//! doctors (`Enc(Ptk, W_P)`).
//!
//! - **Delivery** ("through a secure channel"): the hospital seals `Ptk` to each recipient's
//!   X25519 key published on the Directory (`sessionKeyOf`): an ephemeral X25519 key `E`,
//!   `K = HKDF(salt = E ‖ recipient key, X25519(e, recipient), info = tag ‖ patient)`,
//!   AES-256-GCM under `K` (a fresh key per delivery, so the nonce is zero). Binding the
//!   patient into the KDF stops a delivery for one patient being passed off as another's.
//! - **Use**: [`TreatmentKey::encrypt`] is AES-256-GCM under `Ptk` with a random 96-bit
//!   nonce and the purpose and patient as associated data, so a sealed warrant cannot be
//!   replayed as an appointment or moved to another patient.
//! - **Account keys**: [`account_session_secret`] derives an account's X25519 secret from
//!   its ledger key (HKDF), so no second secret needs backing up.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloy_primitives::Address;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::dh::{self, NonContributory};
use crate::hash::domain_tag;
use crate::kdf;
use crate::signing::EthKey;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes of a sealed delivery: ephemeral key, encrypted `Ptk`, GCM tag.
pub const SEALED_LEN: usize = 32 + 32 + TAG_LEN;

/// Why a treatment key or something encrypted under it could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreatmentError {
    /// The recipient's published key, or the delivery's ephemeral key, is of low order.
    #[error(transparent)]
    WeakKey(#[from] NonContributory),
    /// Wrong length.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// Authentication failed: wrong key, wrong patient or purpose, or altered bytes.
    #[error("{what} does not open with this key (wrong recipient, patient or purpose, or altered)")]
    Rejected {
        /// What was being opened.
        what: &'static str,
    },
}

/// What something encrypted under `Ptk` is (bound as associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The hospital's appointment details for the patient.
    Appointment,
    /// A patient-signed warrant on its way to a doctor.
    Warrant,
    /// EHRs handed from one doctor of an ordered group to the next.
    Handover,
}

impl Purpose {
    fn tag(self) -> String {
        domain_tag(match self {
            Purpose::Appointment => "treatment/appointment",
            Purpose::Warrant => "treatment/warrant",
            Purpose::Handover => "treatment/handover",
        })
    }
}

/// A patient's treatment key `Ptk` (32 random bytes, wiped on drop).
#[derive(Clone)]
pub struct TreatmentKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for TreatmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TreatmentKey(..)")
    }
}

fn delivery_key(shared: &dh::SharedSecret, ephemeral: &[u8; 32], recipient: &[u8; 32], patient: Address) -> Aes256Gcm {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let mut info = domain_tag("treatment/delivery").into_bytes();
    info.extend_from_slice(patient.as_slice());
    let mut key = Zeroizing::new([0u8; 32]);
    kdf::derive(&salt, shared.as_bytes(), &info, key.as_mut()).expect("32 bytes is within HKDF's limit");
    Aes256Gcm::new((&*key).into())
}

impl TreatmentKey {
    /// A fresh random key (the hospital's, per patient).
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Seals the key for `patient`'s treatment to a recipient's published X25519 key.
    pub fn seal_to(
        &self,
        recipient: &[u8; 32],
        patient: Address,
        rng: &mut (impl CryptoRng + ?Sized),
    ) -> Result<[u8; SEALED_LEN], TreatmentError> {
        let ephemeral = dh::Secret::generate(rng);
        let ephemeral_public = ephemeral.public_key();
        let shared = ephemeral.diffie_hellman(recipient)?;
        let cipher = delivery_key(&shared, &ephemeral_public, recipient, patient);
        let sealed =
            cipher.encrypt(&Nonce::default(), self.0.as_slice()).expect("AES-GCM encrypts 32 bytes under a fresh key");
        let mut out = [0u8; SEALED_LEN];
        out[..32].copy_from_slice(&ephemeral_public);
        out[32..].copy_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a delivery sealed to `recipient`'s X25519 key for `patient`'s treatment.
    pub fn open_sealed(recipient: &dh::Secret, sealed: &[u8], patient: Address) -> Result<Self, TreatmentError> {
        let Some((ephemeral, body)) = sealed.split_first_chunk::<32>().filter(|_| sealed.len() == SEALED_LEN) else {
            return Err(TreatmentError::Malformed {
                what: "treatment key delivery",
                why: format!("expected {SEALED_LEN} bytes, got {}", sealed.len()),
            });
        };
        let shared = recipient.diffie_hellman(ephemeral)?;
        let cipher = delivery_key(&shared, ephemeral, &recipient.public_key(), patient);
        let key = Zeroizing::new(
            cipher
                .decrypt(&Nonce::default(), body)
                .map_err(|_| TreatmentError::Rejected { what: "treatment key delivery" })?,
        );
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        Ok(Self(bytes))
    }

    /// `Enc(Ptk, plaintext)`: random nonce ‖ AES-256-GCM ciphertext, bound to `purpose` and
    /// `patient`.
    pub fn encrypt(
        &self,
        purpose: Purpose,
        patient: Address,
        plaintext: &[u8],
        rng: &mut (impl CryptoRng + ?Sized),
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = associated_data(purpose, patient);
        let cipher = Aes256Gcm::new((&*self.0).into());
        let body = cipher
            .encrypt(&nonce.into(), Payload { msg: plaintext, aad: &aad })
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Opens what [`TreatmentKey::encrypt`] produced for the same purpose and patient.
    pub fn decrypt(&self, purpose: Purpose, patient: Address, sealed: &[u8]) -> Result<Vec<u8>, TreatmentError> {
        let Some((nonce, body)) = sealed.split_first_chunk::<NONCE_LEN>().filter(|(_, body)| body.len() >= TAG_LEN)
        else {
            return Err(TreatmentError::Malformed {
                what: "message under the treatment key",
                why: format!("{} bytes is shorter than a nonce and a tag", sealed.len()),
            });
        };
        let aad = associated_data(purpose, patient);
        Aes256Gcm::new((&*self.0).into())
            .decrypt(&(*nonce).into(), Payload { msg: body, aad: &aad })
            .map_err(|_| TreatmentError::Rejected { what: "message under the treatment key" })
    }
}

fn associated_data(purpose: Purpose, patient: Address) -> Vec<u8> {
    let mut aad = purpose.tag().into_bytes();
    aad.extend_from_slice(patient.as_slice());
    aad
}

/// The account's X25519 secret, derived from its ledger key: its public half is what the
/// account publishes on the Directory (`setSessionKey`) to receive treatment keys.
pub fn account_session_secret(account: &EthKey) -> dh::Secret {
    let mut bytes = Zeroizing::new([0u8; 32]);
    let account_key = Zeroizing::new(account.to_bytes());
    kdf::derive(
        domain_tag("account/session-key").as_bytes(),
        account_key.as_slice(),
        account.address().as_slice(),
        bytes.as_mut(),
    )
    .expect("32 bytes is within HKDF's limit");
    dh::Secret::from_bytes(*bytes)
}
