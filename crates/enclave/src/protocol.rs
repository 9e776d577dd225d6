//! The narrow channel between the host and the enclave process.
//!
//! A frame is `kind (1) ‖ header length (u32 LE) ‖ body length (u64 LE) ‖ header ‖ body`.
//! The header is a small typed message in postcard encoding; the body carries bulk bytes
//! (session records, ciphertext) raw, so large transfers are never re-encoded. Both
//! sides enforce the size limits before allocating.
//!
//! During one ecall the enclave may issue any number of ocalls (requests the host
//! serves, e.g. storing a sealed blob); the host answers each before the ecall returns.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::evidence::Evidence;
use crate::provision::{JoinPolicy, ProvisionError};

/// Largest typed header accepted.
pub const MAX_HEADER: usize = 64 * 1024;
/// Default largest body accepted (the host's limit is configurable up to this).
pub const DEFAULT_MAX_BODY: u64 = 1 << 30;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Host → enclave: first frame, the platform's launch parameters.
    Launch = 1,
    /// Enclave → host: launched, with its evidence.
    Ready = 2,
    /// Host → enclave: a request.
    Ecall = 3,
    /// Enclave → host: the answer to the current ecall.
    EcallResult = 4,
    /// Enclave → host: a request the host serves during an ecall.
    Ocall = 5,
    /// Host → enclave: the answer to an ocall.
    OcallResult = 6,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Launch,
            2 => Self::Ready,
            3 => Self::Ecall,
            4 => Self::EcallResult,
            5 => Self::Ocall,
            6 => Self::OcallResult,
            _ => return None,
        })
    }
}

/// Why the channel failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The peer closed the channel (the process exited or was killed).
    #[error("channel closed by peer")]
    Closed,
    /// The peer did not answer in time.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// Any other I/O failure.
    #[error("channel I/O: {0}")]
    Io(io::Error),
    /// A frame or header exceeds the limits.
    #[error("{what} of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Header or body.
        what: &'static str,
        /// Size announced.
        size: u64,
        /// Limit in force.
        limit: u64,
    },
    /// The frame is not what the protocol allows here.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl From<io::Error> for ChannelError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                ChannelError::Closed
            }
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChannelError::Timeout,
            _ => ChannelError::Io(error),
        }
    }
}

/// A decoded frame.
pub struct Frame {
    /// Its kind.
    pub kind: FrameKind,
    /// The postcard-encoded header.
    pub header: Vec<u8>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Frame {
    /// Decodes the header as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        postcard::from_bytes(&self.header)
            .map_err(|e| ChannelError::Protocol(format!("undecodable {:?} header: {e}", self.kind)))
    }

    /// Checks the frame is of `expected` kind.
    pub fn expect(self, expected: FrameKind) -> Result<Self, ChannelError> {
        if self.kind != expected {
            return Err(ChannelError::Protocol(format!("expected {expected:?}, got {:?}", self.kind)));
        }
        Ok(self)
    }
}

/// Writes one frame. Small frames go out in a single write.
pub fn write_frame(
    writer: &mut impl Write,
    kind: FrameKind,
    header: &impl Serialize,
    body: &[u8],
) -> Result<(), ChannelError> {
    let header = postcard::to_stdvec(header).map_err(|e| ChannelError::Protocol(format!("unencodable header: {e}")))?;
    if header.len() > MAX_HEADER {
        return Err(ChannelError::TooLarge { what: "header", size: header.len() as u64, limit: MAX_HEADER as u64 });
    }
    let small = body.len() <= 64 * 1024;
    let mut out = Vec::with_capacity(13 + header.len() + if small { body.len() } else { 0 });
    out.push(kind as u8);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    if small {
        out.extend_from_slice(body);
        writer.write_all(&out)?;
    } else {
        writer.write_all(&out)?;
        writer.write_all(body)?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads one frame, refusing bodies over `max_body` before allocating them.
pub fn read_frame(reader: &mut impl Read, max_body: u64) -> Result<Frame, ChannelError> {
    let mut frame = Frame { kind: FrameKind::Launch, header: Vec::new(), body: Vec::new() };
    read_frame_into(reader, max_body, &mut frame)?;
    Ok(frame)
}

/// Reads one frame into `frame`, reusing its buffers: a long-lived reader pays for
/// allocating and faulting in large bodies once, not per frame.
pub fn read_frame_into(reader: &mut impl Read, max_body: u64, frame: &mut Frame) -> Result<(), ChannelError> {
    let mut prefix = [0u8; 13];
    reader.read_exact(&mut prefix)?;
    let kind = FrameKind::from_byte(prefix[0])
        .ok_or_else(|| ChannelError::Protocol(format!("unknown frame kind {}", prefix[0])))?;
    let header_len = u32::from_le_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    let mut body_len_bytes = [0u8; 8];
    body_len_bytes.copy_from_slice(&prefix[5..]);
    let body_len = u64::from_le_bytes(body_len_bytes);
    if header_len > MAX_HEADER {
        return Err(ChannelError::TooLarge { what: "header", size: header_len as u64, limit: MAX_HEADER as u64 });
    }
    if body_len > max_body {
        return Err(ChannelError::TooLarge { what: "body", size: body_len, limit: max_body });
    }
    frame.kind = kind;
    read_exactly(reader, header_len as u64, &mut frame.header)?;
    read_exactly(reader, body_len, &mut frame.body)
}

/// Replaces `buffer`'s contents with exactly `len` bytes from `reader`, without
/// zero-filling the buffer first.
fn read_exactly(reader: &mut impl Read, len: u64, buffer: &mut Vec<u8>) -> Result<(), ChannelError> {
    buffer.clear();
    let read = reader.take(len).read_to_end(buffer)?;
    if read as u64 != len {
        return Err(ChannelError::Closed);
    }
    Ok(())
}

/// The platform's launch parameters (simulated: in hardware these come from the CPU).
#[derive(Serialize, Deserialize)]
pub struct Launch {
    /// The simulated platform secret: root of the sealing key and the attestation key.
    pub platform_secret: [u8; 32],
    /// Largest body the enclave accepts from the host.
    pub max_body: u64,
    /// Directory for the enclave's own encrypted files (e.g. the SQLCipher EHR store).
    /// The simulation lets the enclave process open files there directly; a hardware
    /// backend would route this through its protected file system.
    pub data_dir: std::path::PathBuf,
}

/// Requests from the host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Ecall {
    /// Liveness probe; measures the bare round trip.
    Ping,
    /// The enclave's current evidence.
    Evidence,
    /// Receives the body and reports its length: measures the channel the way seed 001
    /// Table 4 does (bulk transfer into the TEE).
    Transfer,
    /// Message 1 of the session protocol (body: `ClientHello`).
    SessionOpen,
    /// Message 3 of the session protocol (body: `ClientFinish`).
    SessionFinish {
        /// The id the enclave assigned at open.
        session: u64,
    },
    /// One encrypted record of an established session (body: the record).
    SessionRecord {
        /// The session.
        session: u64,
    },
    /// Forget a session.
    SessionClose {
        /// The session.
        session: u64,
    },
    /// Replicated enclaves, provider side: wrap this enclave's keys to the joining instance
    /// whose evidence is given, if the chain and `policy` admit it (see [`crate::provision`]).
    Provision {
        /// The joiner's evidence.
        joiner: Evidence,
        /// The operator's policy for the joiner's platform.
        policy: JoinPolicy,
    },
    /// Replicated enclaves, joiner side: install a bundle (body: postcard
    /// [`crate::provision::ProvisionBundle`]).
    Install,
}

impl Ecall {
    /// Whether a call cut off in transit (its answer lost) may simply be sent again: repeating
    /// it changes nothing a client or an application relies on. A session record may have
    /// reached its application, and an installation may have sealed keys: those are not.
    pub fn is_resendable(&self) -> bool {
        !matches!(self, Ecall::SessionRecord { .. } | Ecall::Install)
    }

    /// Whether only the enclave's own host (its operator) may make this call, never a remote
    /// client through a relay: key provisioning trusts the platform keys the caller names
    /// (see [`crate::provision`]), so a relay must not pass it on.
    pub fn is_operator_only(&self) -> bool {
        matches!(self, Ecall::Provision { .. } | Ecall::Install)
    }
}

/// Answers to [`Ecall`]s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum EcallResult {
    /// Answer to `Ping`.
    Pong,
    /// Answer to `Evidence`.
    Evidence(Evidence),
    /// Answer to `Transfer`.
    Transferred {
        /// Bytes received.
        bytes: u64,
    },
    /// Answer to `SessionOpen` (body: `ServerHello`).
    SessionOpened {
        /// Id to use in later session calls.
        session: u64,
    },
    /// Answer to `SessionFinish`: the authenticated client.
    SessionEstablished {
        /// The client's address.
        client: [u8; 20],
    },
    /// Answer to `SessionRecord` (body: the encrypted reply record).
    SessionReply,
    /// Answer to `SessionClose`.
    SessionClosed,
    /// Answer to `Provision` (body: postcard [`crate::provision::ProvisionBundle`]).
    Provisioned,
    /// Answer to `Install`: the keys are sealed; the instance's evidence now.
    Installed(Evidence),
    /// `Provision` or `Install` refused; nothing changed.
    ProvisionRefused(ProvisionError),
    /// The enclave refused the request.
    Refused(Refusal),
}

/// A typed refusal from inside the enclave.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("enclave refused ({code:?}): {message}")]
pub struct Refusal {
    /// What kind of refusal.
    pub code: RefusalCode,
    /// Human-readable detail.
    pub message: String,
}

/// Kinds of refusal.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum RefusalCode {
    /// The request is malformed.
    BadRequest,
    /// No such session, or it is not in the right state.
    UnknownSession,
    /// The session handshake failed.
    Handshake,
    /// A session record failed (tampered, replayed, reordered).
    Record,
    /// The enclave holds its maximum number of established sessions.
    Busy,
}

/// Requests from the enclave to the host during an ecall.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Ocall {
    /// Load the sealed blob stored under `label`.
    LoadSealed {
        /// The blob's name.
        label: String,
    },
    /// Store a sealed blob (body) under `label`, durably.
    StoreSealed {
        /// The blob's name.
        label: String,
    },
    /// Fetch a ciphertext object from the host's object store by its content address
    /// (SHA-256); the enclave re-hashes what it gets.
    GetObject {
        /// The object's address.
        address: [u8; 32],
    },
    /// Fetch several objects at once (the host may read them concurrently); the enclave
    /// re-hashes each.
    GetObjects {
        /// The objects' addresses.
        addresses: Vec<[u8; 32]>,
    },
    /// Store a ciphertext object (body) durably in the host's object store; the host
    /// answers with its content address, which the enclave checks.
    PutObject,
    /// Relay one JSON-RPC request (body) to an endpoint of the named ledger; the enclave
    /// checks what it can of the answer (see the update application).
    LedgerRpc {
        /// Which logical ledger.
        ledger: LedgerName,
    },
}

/// The two logical ledgers (DESIGN.md "Ledger").
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum LedgerName {
    /// Seed 000's SB: records, licenses, policies, payments.
    Shared,
    /// Seed 000's UB and seed 001's Fabric: update log, EHR registry.
    Consortium,
}

/// Answers to [`Ocall`]s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum OcallResult {
    /// The blob is in the body.
    Sealed,
    /// Nothing stored under that label.
    NotFound,
    /// Stored.
    Stored,
    /// The object is in the body.
    Object,
    /// The objects asked for with `GetObjects`, one after another in the body: per
    /// address, in order, its length, or `None` when nothing is stored under it.
    Objects {
        /// Each object's length in the body.
        lengths: Vec<Option<u64>>,
    },
    /// The object was stored durably under this address.
    ObjectStored {
        /// Its content address.
        address: [u8; 32],
    },
    /// The endpoint's JSON-RPC answer is in the body.
    LedgerReply,
    /// The host could not serve the request.
    Failed(String),
}

/// An ecall (or its result) as a relay between a remote client and the enclave's host
/// carries it (e.g. `POST /api/v1/enclave` of a node): `header length (u32 LE) ‖ header ‖
/// body`, the header in postcard. The body (a session record) passes as is; the relay
/// never sees a plaintext.
pub fn encode_relayed<T: Serialize>(header: &T, body: &[u8]) -> Vec<u8> {
    let header = postcard::to_stdvec(header).expect("ecall headers serialize");
    let mut out = Vec::with_capacity(4 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

/// Splits what [`encode_relayed`] wrote into the typed header and the body.
pub fn decode_relayed<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), ChannelError> {
    let (length, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| ChannelError::Protocol("relayed ecall shorter than 4 bytes".into()))?;
    let length = u32::from_le_bytes(*length) as usize;
    if length > MAX_HEADER {
        return Err(ChannelError::TooLarge { what: "header", size: length as u64, limit: MAX_HEADER as u64 });
    }
    if rest.len() < length {
        return Err(ChannelError::Protocol(format!("relayed header of {length} bytes but {} follow", rest.len())));
    }
    let (header, body) = rest.split_at(length);
    let header = postcard::from_bytes(header).map_err(|e| ChannelError::Protocol(format!("relayed header: {e}")))?;
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calls_whose_repetition_is_harmless_are_resent() {
        for ecall in [Ecall::Ping, Ecall::Evidence, Ecall::SessionOpen, Ecall::SessionFinish { session: 1 }] {
            assert!(ecall.is_resendable(), "{ecall:?}");
        }
        assert!(Ecall::SessionClose { session: 1 }.is_resendable());
        assert!(!Ecall::SessionRecord { session: 1 }.is_resendable(), "may have reached its application");
        assert!(!Ecall::Install.is_resendable(), "may have sealed keys");
    }

    #[test]
    fn relayed_ecalls_round_trip_and_malformed_ones_are_refused() {
        let encoded = encode_relayed(&Ecall::SessionRecord { session: 7 }, b"record");
        let (ecall, body) = decode_relayed::<Ecall>(&encoded).unwrap();
        assert_eq!((ecall, body), (Ecall::SessionRecord { session: 7 }, &b"record"[..]));

        assert!(matches!(decode_relayed::<Ecall>(&[1, 0]), Err(ChannelError::Protocol(_))));
        let huge = (MAX_HEADER as u32 + 1).to_le_bytes();
        assert!(matches!(decode_relayed::<Ecall>(&huge), Err(ChannelError::TooLarge { what: "header", .. })));
        let mut truncated = encoded.clone();
        truncated.truncate(5);
        assert!(matches!(decode_relayed::<Ecall>(&truncated), Err(ChannelError::Protocol(_))));
        let mut garbage = 2u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xff, 0xff]);
        assert!(matches!(decode_relayed::<Ecall>(&garbage), Err(ChannelError::Protocol(_))));
    }
}
