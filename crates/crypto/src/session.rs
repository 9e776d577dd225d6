//! The attested session protocol (seed 001's TEE-empowered key agreement), SIGMA-style.
//!
//! ```text
//! client → enclave  ClientHello  { A = X25519(a), client address, nonce }
//! enclave → client  ServerHello  { B, enclave id, Sig_enclave(th), MAC_km("server" ‖ enclave id) }
//! client → enclave  ClientFinish { Sig_client(th), MAC_km("client" ‖ client address) }
//! ```
//! `th = H(A, client, nonce, B, enclave id)`; `SK = DH(a, B)`;
//! `(k_c2s, k_s2c, km) = HKDF(SK, salt = th)`. Each side proves its identity by signing
//! the transcript with its secp256k1 key, checked against the address the chain lists
//! (the enclave's registered report signer; the client's account), and proves it holds
//! the session keys with the MAC. The types make the order unskippable: each step
//! consumes the previous state, and only a finished handshake yields a [`Session`].
//!
//! Records are AES-256-GCM under the direction's key with nonce = sequence number; the
//! sequence number travels in clear and must be exactly the next one expected, so
//! replayed, dropped and reordered records fail with a typed error.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use alloy_primitives::{Address, B256};
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::dh::{self, NonContributory};
use crate::hash::{DomainHasher, domain_tag};
use crate::kdf;
use crate::signing::{self, EthKey, SignatureError};

/// Why a handshake message or record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A message has the wrong length.
    #[error("malformed {message}: expected {expected} bytes, got {actual}")]
    Malformed {
        /// Which message.
        message: &'static str,
        /// Required length (or minimum, for records).
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// The peer's X25519 key is of low order.
    #[error(transparent)]
    WeakKey(#[from] NonContributory),
    /// The server answered as a different enclave than the one the client trusts.
    #[error("enclave id mismatch: expected {expected}, got {actual}")]
    WrongEnclave {
        /// The id the client looked up on-chain.
        expected: B256,
        /// The id the server claimed.
        actual: B256,
    },
    /// A transcript signature is invalid or by the wrong key.
    #[error("{party} signature rejected: {source}")]
    BadSignature {
        /// `"enclave"` or `"client"`.
        party: &'static str,
        /// What was wrong with it.
        source: SignatureError,
    },
    /// The key-confirmation MAC does not verify: the peer does not hold the session keys
    /// (e.g. a swapped or substituted ephemeral key).
    #[error("{party} key confirmation failed")]
    BadMac {
        /// `"enclave"` or `"client"`.
        party: &'static str,
    },
    /// A record's sequence number was already used.
    #[error("replayed record: sequence {got}, expected {expected}")]
    Replay {
        /// Sequence received.
        got: u64,
        /// Sequence expected.
        expected: u64,
    },
    /// A record arrived ahead of its turn (one was dropped or reordered).
    #[error("out-of-order record: sequence {got}, expected {expected}")]
    OutOfOrder {
        /// Sequence received.
        got: u64,
        /// Sequence expected.
        expected: u64,
    },
    /// A record failed authentication (altered in transit, or from another session).
    #[error("record {sequence} failed authentication")]
    Tampered {
        /// The record's sequence number.
        sequence: u64,
    },
    /// The sending counter is exhausted; open a new session.
    #[error("session sequence numbers exhausted")]
    Exhausted,
}

/// What the client knows about the enclave from the chain's `Directory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnclaveIdentity {
    /// The enclave's registered id (its measurement).
    pub id: B256,
    /// The address of its registered report-signing key.
    pub report_signer: Address,
}

/// Message 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// `A`, the client's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The client's on-chain address.
    pub client: Address,
    /// A fresh random nonce.
    pub nonce: [u8; 32],
}

/// Message 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// `B`, the enclave's ephemeral X25519 key.
    pub ephemeral: [u8; 32],
    /// The enclave's id.
    pub enclave_id: B256,
    /// The enclave's report-key signature over the transcript.
    pub signature: [u8; 65],
    /// `MAC_km("server" ‖ enclave id)`.
    pub mac: [u8; 32],
}

/// Message 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientFinish {
    /// The client's account signature over the transcript.
    pub signature: [u8; 65],
    /// `MAC_km("client" ‖ client address)`.
    pub mac: [u8; 32],
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn check_len(message: &'static str, bytes: &[u8], expected: usize) -> Result<(), SessionError> {
    if bytes.len() != expected {
        return Err(SessionError::Malformed { message, expected, actual: bytes.len() });
    }
    Ok(())
}

impl ClientHello {
    /// Encoded length.
    pub const LEN: usize = 32 + 20 + 32;

    /// `A ‖ client ‖ nonce`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.ephemeral);
        out[32..52].copy_from_slice(self.client.as_slice());
        out[52..].copy_from_slice(&self.nonce);
        out
    }

    /// Decodes [`ClientHello::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        check_len("client hello", bytes, Self::LEN)?;
        Ok(Self { ephemeral: take(bytes, 0), client: Address::from(take::<20>(bytes, 32)), nonce: take(bytes, 52) })
    }
}

impl ServerHello {
    /// Encoded length.
    pub const LEN: usize = 32 + 32 + 65 + 32;

    /// `B ‖ enclave id ‖ signature ‖ mac`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.ephemeral);
        out[32..64].copy_from_slice(self.enclave_id.as_slice());
        out[64..129].copy_from_slice(&self.signature);
        out[129..].copy_from_slice(&self.mac);
        out
    }

    /// Decodes [`ServerHello::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        check_len("server hello", bytes, Self::LEN)?;
        Ok(Self {
            ephemeral: take(bytes, 0),
            enclave_id: B256::from(take::<32>(bytes, 32)),
            signature: take(bytes, 64),
            mac: take(bytes, 129),
        })
    }
}

impl ClientFinish {
    /// Encoded length.
    pub const LEN: usize = 65 + 32;

    /// `signature ‖ mac`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..65].copy_from_slice(&self.signature);
        out[65..].copy_from_slice(&self.mac);
        out
    }

    /// Decodes [`ClientFinish::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        check_len("client finish", bytes, Self::LEN)?;
        Ok(Self { signature: take(bytes, 0), mac: take(bytes, 65) })
    }
}

fn transcript(hello: &ClientHello, server_ephemeral: &[u8; 32], enclave_id: &B256) -> B256 {
    B256::from(
        DomainHasher::<Sha256>::new("session-transcript")
            .field(&hello.ephemeral)
            .field(hello.client.as_slice())
            .field(&hello.nonce)
            .field(server_ephemeral)
            .field(enclave_id.as_slice())
            .finish(),
    )
}

fn signed_digest(role: &str, transcript: &B256) -> B256 {
    B256::from(DomainHasher::<Sha256>::new(role).field(transcript.as_slice()).finish())
}

struct KeySchedule {
    client_to_server: Zeroizing<[u8; 32]>,
    server_to_client: Zeroizing<[u8; 32]>,
    confirmation: Zeroizing<[u8; 32]>,
}

impl KeySchedule {
    fn derive(shared: &dh::SharedSecret, transcript: &B256) -> Self {
        let mut okm = Zeroizing::new([0u8; 96]);
        kdf::derive(transcript.as_slice(), shared.as_bytes(), domain_tag("session-keys").as_bytes(), okm.as_mut())
            .expect("96 bytes is within HKDF-SHA256's output limit");
        Self {
            client_to_server: Zeroizing::new(okm[..32].try_into().expect("32-byte slice")),
            server_to_client: Zeroizing::new(okm[32..64].try_into().expect("32-byte slice")),
            confirmation: Zeroizing::new(okm[64..].try_into().expect("32-byte slice")),
        }
    }

    fn mac(&self, label: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.confirmation.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(label);
        mac.update(body);
        mac
    }

    fn tag(&self, label: &[u8], body: &[u8]) -> [u8; 32] {
        self.mac(label, body).finalize().into_bytes().into()
    }

    fn verify(&self, label: &[u8], body: &[u8], tag: &[u8; 32], party: &'static str) -> Result<(), SessionError> {
        self.mac(label, body).verify_slice(tag).map_err(|_| SessionError::BadMac { party })
    }
}

/// Client state before the server has answered.
pub struct ClientAwaitingServer {
    key: EthKey,
    trusted: EnclaveIdentity,
    secret: dh::Secret,
    hello: ClientHello,
}

/// Starts a handshake as `key`'s account towards the enclave the chain lists as `trusted`.
pub fn client_start(
    key: EthKey,
    trusted: EnclaveIdentity,
    rng: &mut (impl CryptoRng + ?Sized),
) -> (ClientAwaitingServer, ClientHello) {
    let secret = dh::Secret::generate(rng);
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    let hello = ClientHello { ephemeral: secret.public_key(), client: key.address(), nonce };
    (ClientAwaitingServer { key, trusted, secret, hello }, hello)
}

impl ClientAwaitingServer {
    /// Verifies the enclave's answer and finishes the client side.
    pub fn finish(self, reply: &ServerHello) -> Result<(Session, ClientFinish), SessionError> {
        if reply.enclave_id != self.trusted.id {
            return Err(SessionError::WrongEnclave { expected: self.trusted.id, actual: reply.enclave_id });
        }
        let th = transcript(&self.hello, &reply.ephemeral, &reply.enclave_id);
        signing::verify(&signed_digest("session-enclave-signature", &th), &reply.signature, self.trusted.report_signer)
            .map_err(|source| SessionError::BadSignature { party: "enclave", source })?;
        let shared = self.secret.diffie_hellman(&reply.ephemeral)?;
        let keys = KeySchedule::derive(&shared, &th);
        keys.verify(b"server", reply.enclave_id.as_slice(), &reply.mac, "enclave")?;
        let finish = ClientFinish {
            signature: self.key.sign_digest(&signed_digest("session-client-signature", &th)),
            mac: keys.tag(b"client", self.hello.client.as_slice()),
        };
        let session = Session::new(th, &keys.client_to_server, &keys.server_to_client);
        Ok((session, finish))
    }
}

/// Enclave state after answering, before the client has proved its identity.
pub struct ServerAwaitingFinish {
    client: Address,
    transcript: B256,
    keys: KeySchedule,
}

/// Answers a client hello as the enclave `enclave_id` holding report key `key`.
pub fn server_respond(
    key: &EthKey,
    enclave_id: B256,
    hello: &ClientHello,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<(ServerAwaitingFinish, ServerHello), SessionError> {
    let secret = dh::Secret::generate(rng);
    let ephemeral = secret.public_key();
    let shared = secret.diffie_hellman(&hello.ephemeral)?;
    let th = transcript(hello, &ephemeral, &enclave_id);
    let keys = KeySchedule::derive(&shared, &th);
    let reply = ServerHello {
        ephemeral,
        enclave_id,
        signature: key.sign_digest(&signed_digest("session-enclave-signature", &th)),
        mac: keys.tag(b"server", enclave_id.as_slice()),
    };
    Ok((ServerAwaitingFinish { client: hello.client, transcript: th, keys }, reply))
}

impl ServerAwaitingFinish {
    /// The address the client claims; authenticated once [`ServerAwaitingFinish::finish`]
    /// succeeds. Callers check its on-chain role.
    pub fn claimed_client(&self) -> Address {
        self.client
    }

    /// Verifies the client's signature and key confirmation, yielding the session and
    /// the authenticated client address.
    pub fn finish(self, finish: &ClientFinish) -> Result<(Session, Address), SessionError> {
        signing::verify(&signed_digest("session-client-signature", &self.transcript), &finish.signature, self.client)
            .map_err(|source| SessionError::BadSignature { party: "client", source })?;
        self.keys.verify(b"client", self.client.as_slice(), &finish.mac, "client")?;
        let session = Session::new(self.transcript, &self.keys.server_to_client, &self.keys.client_to_server);
        Ok((session, self.client))
    }
}

struct Direction {
    cipher: Aes256Gcm,
    sequence: u64,
}

impl Direction {
    fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()), sequence: 0 }
    }
}

fn record_nonce(sequence: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&sequence.to_be_bytes());
    nonce
}

/// An established session: AES-256-GCM records with per-direction sequence numbers.
pub struct Session {
    id: B256,
    associated_data: Vec<u8>,
    send: Direction,
    receive: Direction,
}

/// Bytes a record adds to its plaintext: sequence (8) and tag (16).
pub const RECORD_OVERHEAD: usize = 8 + 16;

impl Session {
    fn new(id: B256, send: &[u8; 32], receive: &[u8; 32]) -> Self {
        let mut associated_data = domain_tag("session-record").into_bytes();
        associated_data.extend_from_slice(id.as_slice());
        Self { id, associated_data, send: Direction::new(send), receive: Direction::new(receive) }
    }

    /// The session id (transcript hash), the same on both sides.
    pub fn id(&self) -> B256 {
        self.id
    }

    /// Encrypts the next outgoing record: `sequence ‖ ciphertext ‖ tag`.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SessionError> {
        let sequence = self.send.sequence;
        let next = sequence.checked_add(1).ok_or(SessionError::Exhausted)?;
        let body = self
            .send
            .cipher
            .encrypt(&record_nonce(sequence).into(), Payload { msg: plaintext, aad: &self.associated_data })
            .map_err(|_| SessionError::Exhausted)?;
        self.send.sequence = next;
        let mut record = Vec::with_capacity(8 + body.len());
        record.extend_from_slice(&sequence.to_be_bytes());
        record.extend_from_slice(&body);
        Ok(record)
    }

    /// Decrypts the next incoming record; it must carry exactly the next sequence number.
    pub fn open(&mut self, record: &[u8]) -> Result<Vec<u8>, SessionError> {
        if record.len() < RECORD_OVERHEAD {
            return Err(SessionError::Malformed {
                message: "session record",
                expected: RECORD_OVERHEAD,
                actual: record.len(),
            });
        }
        let sequence = u64::from_be_bytes(take(record, 0));
        let expected = self.receive.sequence;
        if sequence < expected {
            return Err(SessionError::Replay { got: sequence, expected });
        }
        if sequence > expected {
            return Err(SessionError::OutOfOrder { got: sequence, expected });
        }
        let plaintext = self
            .receive
            .cipher
            .decrypt(&record_nonce(sequence).into(), Payload { msg: &record[8..], aad: &self.associated_data })
            .map_err(|_| SessionError::Tampered { sequence })?;
        self.receive.sequence = expected.checked_add(1).ok_or(SessionError::Exhausted)?;
        Ok(plaintext)
    }
}
