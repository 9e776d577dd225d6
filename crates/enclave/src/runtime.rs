//! The enclave side: what runs inside the (simulated) TEE process.
//!
//! [`serve`] reads the launch frame, measures the running binary, loads or creates the
//! enclave's keys through sealed storage, announces its evidence, and then answers ecalls
//! until the host closes the channel. Trusted applications register with a
//! [`Dispatcher`] and are reached only through attested sessions.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap;
use healthchain_crypto::session::{self, ClientFinish, ClientHello, ServerAwaitingFinish, Session};
use healthchain_crypto::signing::EthKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::evidence::{Evidence, SimulatedPlatform};
use crate::protocol::{
    ChannelError, Ecall, EcallResult, Frame, FrameKind, Launch, LedgerName, Ocall, OcallResult, Refusal, RefusalCode,
    read_frame, read_frame_into, write_frame,
};
use crate::provision::{self, EnclaveDirectory, ProvisionBundle, ProvisionError};
use crate::sealing::{SealingKey, UnsealError};

/// Label of the sealed blob holding the enclave's long-term keys.
const KEYS_LABEL: &str = "enclave-keys";

/// Why the enclave stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The channel to the host failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The enclave cannot measure its own code.
    #[error("cannot measure the enclave binary: {0}")]
    Measure(std::io::Error),
    /// The sealed keys belong to other code or another platform; the enclave refuses to
    /// replace them silently.
    #[error(transparent)]
    Unseal(#[from] UnsealError),
    /// The host could not store or load sealed state or objects.
    #[error("host storage failed: {0}")]
    HostStorage(String),
    /// The host could not relay a ledger request.
    #[error("host ledger relay failed: {0}")]
    HostLedger(String),
    /// The sealed key blob is malformed.
    #[error("sealed key blob is malformed")]
    CorruptKeys,
    /// The host returned an object whose bytes do not hash to the address asked for.
    #[error("the host returned a tampered object for {address}")]
    TamperedObject {
        /// The address asked for, hex.
        address: String,
    },
}

/// Services the host provides to the enclave during an ecall (the enclave's only way
/// out).
pub struct Host<'a, R, W> {
    reader: &'a mut R,
    writer: &'a mut W,
    max_body: u64,
}

impl<R: Read, W: Write> Host<'_, R, W> {
    fn ocall(&mut self, request: &Ocall, body: &[u8]) -> Result<(OcallResult, Vec<u8>), ChannelError> {
        write_frame(self.writer, FrameKind::Ocall, request, body)?;
        let frame = read_frame(self.reader, self.max_body)?.expect(FrameKind::OcallResult)?;
        Ok((frame.decode()?, frame.body))
    }

    /// Loads a sealed blob, if the host has one under `label`.
    pub fn load_sealed(&mut self, label: &str) -> Result<Option<Vec<u8>>, RuntimeError> {
        match self.ocall(&Ocall::LoadSealed { label: label.into() }, &[])? {
            (OcallResult::Sealed, blob) => Ok(Some(blob)),
            (OcallResult::NotFound, _) => Ok(None),
            (OcallResult::Failed(why), _) => Err(RuntimeError::HostStorage(why)),
            (other, _) => Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        }
    }

    /// Asks the host to store a sealed blob durably.
    pub fn store_sealed(&mut self, label: &str, blob: &[u8]) -> Result<(), RuntimeError> {
        match self.ocall(&Ocall::StoreSealed { label: label.into() }, blob)? {
            (OcallResult::Stored, _) => Ok(()),
            (OcallResult::Failed(why), _) => Err(RuntimeError::HostStorage(why)),
            (other, _) => Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        }
    }

    /// Fetches a ciphertext object by content address, refusing bytes that do not hash to it.
    pub fn fetch_object(&mut self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError> {
        match self.ocall(&Ocall::GetObject { address: *address }, &[])? {
            (OcallResult::Object, bytes) if sha256(&bytes) == *address => Ok(Some(bytes)),
            (OcallResult::Object, _) => {
                Err(RuntimeError::TamperedObject { address: alloy_primitives::hex::encode(address) })
            }
            (OcallResult::NotFound, _) => Ok(None),
            (OcallResult::Failed(why), _) => Err(RuntimeError::HostStorage(why)),
            (other, _) => Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        }
    }

    /// Fetches several objects with one ocall, each checked against its address.
    pub fn fetch_objects(&mut self, addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError> {
        let (result, body) = self.ocall(&Ocall::GetObjects { addresses: addresses.to_vec() }, &[])?;
        let lengths = match result {
            OcallResult::Objects { lengths } if lengths.len() == addresses.len() => lengths,
            OcallResult::Failed(why) => return Err(RuntimeError::HostStorage(why)),
            other => return Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        };
        let mut rest = body.as_slice();
        let mut objects = Vec::with_capacity(addresses.len());
        for (address, length) in addresses.iter().zip(lengths) {
            let Some(length) = length else {
                objects.push(HostObject::Missing);
                continue;
            };
            let length = usize::try_from(length)
                .ok()
                .filter(|&l| l <= rest.len())
                .ok_or_else(|| ChannelError::Protocol("the objects' lengths exceed the body the host sent".into()))?;
            let (bytes, after) = rest.split_at(length);
            rest = after;
            objects.push(if sha256(bytes) == *address {
                HostObject::Found(bytes.to_vec())
            } else {
                HostObject::Tampered
            });
        }
        if !rest.is_empty() {
            return Err(ChannelError::Protocol("the host sent more bytes than the objects' lengths".into()).into());
        }
        Ok(objects)
    }

    /// Stores an object durably through the host; refuses an acknowledgement under any
    /// address but the bytes' own.
    pub fn put_object(&mut self, bytes: &[u8]) -> Result<[u8; 32], RuntimeError> {
        match self.ocall(&Ocall::PutObject, bytes)? {
            (OcallResult::ObjectStored { address }, _) if address == sha256(bytes) => Ok(address),
            (OcallResult::ObjectStored { address }, _) => {
                Err(RuntimeError::TamperedObject { address: alloy_primitives::hex::encode(address) })
            }
            (OcallResult::Failed(why), _) => Err(RuntimeError::HostStorage(why)),
            (other, _) => Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        }
    }

    /// Relays a JSON-RPC request to the named ledger; the answer is unverified bytes.
    pub fn ledger_rpc(&mut self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        match self.ocall(&Ocall::LedgerRpc { ledger }, request)? {
            (OcallResult::LedgerReply, reply) => Ok(reply),
            (OcallResult::Failed(why), _) => Err(RuntimeError::HostLedger(why)),
            (other, _) => Err(ChannelError::Protocol(format!("unexpected ocall result {other:?}")).into()),
        }
    }
}

/// The enclave's identity and secrets, available to trusted applications.
pub struct EnclaveKeys {
    /// SHA-256 of the running enclave binary.
    pub measurement: [u8; 32],
    /// Signs reports the chain verifies with `ecrecover`.
    pub report_key: EthKey,
    /// Opens the inner key-wrapping layer.
    pub encryption_key: keywrap::SecretKey,
    /// Seals state to this code on this platform.
    pub sealing: SealingKey,
}

impl EnclaveKeys {
    fn to_sealed_plaintext(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([self.report_key.to_bytes(), self.encryption_key.to_bytes()].concat())
    }

    fn from_sealed_plaintext(measurement: [u8; 32], sealing: SealingKey, bytes: &[u8]) -> Result<Self, RuntimeError> {
        if bytes.len() != 64 {
            return Err(RuntimeError::CorruptKeys);
        }
        Ok(Self {
            measurement,
            report_key: EthKey::from_bytes(&bytes[..32]).map_err(|_| RuntimeError::CorruptKeys)?,
            encryption_key: keywrap::SecretKey::from_bytes(&bytes[32..]).map_err(|_| RuntimeError::CorruptKeys)?,
            sealing,
        })
    }
}

/// What a trusted application can use while handling a request.
pub struct AppContext<'a> {
    /// The enclave's keys.
    pub keys: &'a EnclaveKeys,
    /// Sealed storage and object fetches through the host.
    pub host: &'a mut dyn HostServices,
    /// Sessions currently established.
    pub open_sessions: u64,
    /// Time since the enclave launched.
    pub uptime: std::time::Duration,
    /// Directory for the enclave's own encrypted files.
    pub data_dir: &'a std::path::Path,
}

/// One object of a [`HostServices::fetch_objects`] batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostObject {
    /// The bytes stored under the address (checked against it).
    Found(Vec<u8>),
    /// Nothing is stored under the address.
    Missing,
    /// The host sent bytes that do not hash to the address.
    Tampered,
}

/// What the host does for trusted applications: keep their sealed state and hand them
/// ciphertext objects. Everything that comes back is checked inside the enclave.
pub trait HostServices {
    /// Loads and unseals the blob under `label`.
    fn load(&mut self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RuntimeError>;
    /// Seals and stores `data` under `label`.
    fn store(&mut self, label: &str, data: &[u8]) -> Result<(), RuntimeError>;
    /// Fetches the object with this content address, verified against it.
    fn fetch_object(&mut self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError>;
    /// Fetches several objects in one round trip, each verified against its address.
    fn fetch_objects(&mut self, addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError>;
    /// Stores an object durably; returns its (checked) content address.
    fn put_object(&mut self, bytes: &[u8]) -> Result<[u8; 32], RuntimeError>;
    /// Relays a JSON-RPC request to a ledger endpoint; the answer is untrusted.
    fn ledger_rpc(&mut self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError>;
}

struct HostSealedStorage<'a, 'h, R, W> {
    host: &'a mut Host<'h, R, W>,
    sealing: &'a SealingKey,
}

impl<R: Read, W: Write> HostServices for HostSealedStorage<'_, '_, R, W> {
    fn fetch_object(&mut self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError> {
        self.host.fetch_object(address)
    }

    fn fetch_objects(&mut self, addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError> {
        self.host.fetch_objects(addresses)
    }

    fn put_object(&mut self, bytes: &[u8]) -> Result<[u8; 32], RuntimeError> {
        self.host.put_object(bytes)
    }

    fn ledger_rpc(&mut self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.host.ledger_rpc(ledger, request)
    }

    fn load(&mut self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RuntimeError> {
        match self.host.load_sealed(label)? {
            Some(blob) => Ok(Some(self.sealing.unseal(label, &blob)?)),
            None => Ok(None),
        }
    }

    fn store(&mut self, label: &str, data: &[u8]) -> Result<(), RuntimeError> {
        let blob = self.sealing.seal(label, data);
        self.host.store_sealed(label, &blob)
    }
}

/// An application's typed failure, returned to the client inside the session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{app}: {message}")]
pub struct AppError {
    /// The application that refused.
    pub app: String,
    /// Why.
    pub message: String,
}

/// A trusted application: handles requests from authenticated clients.
pub trait TrustedApp: Send {
    /// The name clients address it by.
    fn name(&self) -> &'static str;
    /// Handles one request from `caller` (authenticated by the session).
    fn handle(&mut self, context: &mut AppContext<'_>, caller: Address, request: &[u8]) -> Result<Vec<u8>, AppError>;
    /// Labels of sealed state that belong to the enclave's identity and travel with its keys
    /// to a replica (e.g. the EHR store's database key); none by default.
    fn identity_state(&self) -> &'static [&'static str] {
        &[]
    }
}

/// What a client sends inside a session record.
#[derive(Serialize, Deserialize)]
pub struct AppCall {
    /// The application's name.
    pub app: String,
    /// Its request.
    #[serde(with = "crate::bytes")]
    pub request: Vec<u8>,
}

/// What the enclave answers inside a session record.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub enum AppReply {
    /// The application's response.
    Ok(#[serde(with = "crate::bytes")] Vec<u8>),
    /// The application (or the dispatcher) refused.
    Err(AppError),
}

/// Routes session requests to registered trusted applications.
#[derive(Default)]
pub struct Dispatcher {
    apps: Vec<Box<dyn TrustedApp>>,
    directory: Option<Box<dyn EnclaveDirectory>>,
}

impl Dispatcher {
    /// Sets the Directory the enclave reads to provision or install replica keys (without
    /// one, both are refused).
    pub fn set_directory(&mut self, directory: Box<dyn EnclaveDirectory>) {
        self.directory = Some(directory);
    }

    fn identity_labels(&self) -> Vec<&'static str> {
        self.apps.iter().flat_map(|app| app.identity_state().iter().copied()).collect()
    }

    /// Registers an application. Names are unique (and `status` is built in), so a name
    /// always means one application.
    pub fn register(&mut self, app: Box<dyn TrustedApp>) -> Result<(), String> {
        if app.name() == STATUS_APP || self.apps.iter().any(|a| a.name() == app.name()) {
            return Err(format!("trusted application '{}' registered twice", app.name()));
        }
        self.apps.push(app);
        Ok(())
    }

    fn dispatch(&mut self, context: &mut AppContext<'_>, caller: Address, call: &[u8]) -> AppReply {
        let call: AppCall = match postcard::from_bytes(call) {
            Ok(call) => call,
            Err(e) => {
                return AppReply::Err(AppError { app: "dispatcher".into(), message: format!("undecodable call: {e}") });
            }
        };
        if call.app == STATUS_APP {
            let status = Status {
                measurement: context.keys.measurement,
                apps: self.apps.iter().map(|a| a.name().to_string()).collect(),
                sessions: context.open_sessions,
                uptime_seconds: context.uptime.as_secs(),
            };
            return AppReply::Ok(postcard::to_stdvec(&status).expect("a status always encodes"));
        }
        match self.apps.iter_mut().find(|a| a.name() == call.app) {
            Some(app) => match app.handle(context, caller, &call.request) {
                Ok(response) => AppReply::Ok(response),
                Err(error) => AppReply::Err(error),
            },
            None => AppReply::Err(AppError {
                app: "dispatcher".into(),
                message: format!("no trusted application '{}'", call.app),
            }),
        }
    }
}

/// The built-in `status` application's answer.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct Status {
    /// The enclave's measurement.
    pub measurement: [u8; 32],
    /// Registered applications.
    pub apps: Vec<String>,
    /// Established sessions.
    pub sessions: u64,
    /// Seconds since launch.
    pub uptime_seconds: u64,
}

enum SessionSlot {
    /// `opened` counts handshakes, so the oldest abandoned one can be found.
    Handshaking {
        state: ServerAwaitingFinish,
        opened: u64,
    },
    Open {
        session: Box<Session>,
        client: Address,
    },
}

struct Enclave {
    keys: EnclaveKeys,
    platform: SimulatedPlatform,
    data_dir: std::path::PathBuf,
    evidence: Evidence,
    sessions: HashMap<u64, SessionSlot>,
    handshakes: u64,
    dispatcher: Dispatcher,
    started: Instant,
}

fn refuse(code: RefusalCode, message: impl Into<String>) -> (EcallResult, Vec<u8>) {
    (EcallResult::Refused(Refusal { code, message: message.into() }), Vec::new())
}

impl Enclave {
    fn handle<R: Read, W: Write>(
        &mut self,
        ecall: Ecall,
        body: &[u8],
        host: &mut Host<'_, R, W>,
    ) -> (EcallResult, Vec<u8>) {
        match ecall {
            Ecall::Ping => (EcallResult::Pong, Vec::new()),
            Ecall::Evidence => (EcallResult::Evidence(self.evidence.clone()), Vec::new()),
            Ecall::Transfer => (EcallResult::Transferred { bytes: body.len() as u64 }, Vec::new()),
            Ecall::SessionOpen => {
                let hello = match ClientHello::from_bytes(body) {
                    Ok(hello) => hello,
                    Err(e) => return refuse(RefusalCode::Handshake, e.to_string()),
                };
                let enclave_id = B256::from(self.keys.measurement);
                if self.sessions.len() >= MAX_SESSIONS {
                    // Abandoned handshakes go first (oldest first); established sessions
                    // are only ever closed by their clients.
                    let oldest_handshake = self
                        .sessions
                        .iter()
                        .filter_map(|(id, slot)| match slot {
                            SessionSlot::Handshaking { opened, .. } => Some((*opened, *id)),
                            SessionSlot::Open { .. } => None,
                        })
                        .min()
                        .map(|(_, id)| id);
                    match oldest_handshake {
                        Some(id) => {
                            self.sessions.remove(&id);
                        }
                        None => {
                            return refuse(
                                RefusalCode::Busy,
                                format!("the enclave holds {MAX_SESSIONS} sessions; close one and retry"),
                            );
                        }
                    }
                }
                match session::server_respond(&self.keys.report_key, enclave_id, &hello, &mut rand::rng()) {
                    Ok((state, reply)) => {
                        // Random, not sequential: after a restart an old client's id must
                        // not name a new client's session.
                        let id = loop {
                            let id = rand::random::<u64>();
                            if !self.sessions.contains_key(&id) {
                                break id;
                            }
                        };
                        self.handshakes += 1;
                        self.sessions.insert(id, SessionSlot::Handshaking { state, opened: self.handshakes });
                        (EcallResult::SessionOpened { session: id }, reply.to_bytes().to_vec())
                    }
                    Err(e) => refuse(RefusalCode::Handshake, e.to_string()),
                }
            }
            Ecall::SessionFinish { session } => {
                let Some(SessionSlot::Handshaking { state, .. }) = self.sessions.remove(&session) else {
                    return refuse(
                        RefusalCode::UnknownSession,
                        format!("no handshake in progress for session {session}"),
                    );
                };
                let finish = match ClientFinish::from_bytes(body) {
                    Ok(finish) => finish,
                    Err(e) => return refuse(RefusalCode::Handshake, e.to_string()),
                };
                match state.finish(&finish) {
                    Ok((established, client)) => {
                        self.sessions.insert(session, SessionSlot::Open { session: Box::new(established), client });
                        (EcallResult::SessionEstablished { client: client.into() }, Vec::new())
                    }
                    Err(e) => refuse(RefusalCode::Handshake, e.to_string()),
                }
            }
            Ecall::SessionRecord { session } => {
                let Some(SessionSlot::Open { session: channel, client }) = self.sessions.get_mut(&session) else {
                    return refuse(RefusalCode::UnknownSession, format!("no established session {session}"));
                };
                let call = match channel.open(body) {
                    Ok(call) => Zeroizing::new(call),
                    Err(e) => return refuse(RefusalCode::Record, e.to_string()),
                };
                let caller = *client;
                let open_sessions =
                    self.sessions.values().filter(|s| matches!(s, SessionSlot::Open { .. })).count() as u64;
                let mut storage = HostSealedStorage { host, sealing: &self.keys.sealing };
                let mut context = AppContext {
                    keys: &self.keys,
                    host: &mut storage,
                    open_sessions,
                    uptime: self.started.elapsed(),
                    data_dir: &self.data_dir,
                };
                let reply = self.dispatcher.dispatch(&mut context, caller, &call);
                let Some(SessionSlot::Open { session: channel, .. }) = self.sessions.get_mut(&session) else {
                    return refuse(RefusalCode::UnknownSession, format!("session {session} vanished"));
                };
                let encoded = Zeroizing::new(postcard::to_stdvec(&reply).expect("a reply always encodes"));
                match channel.seal(&encoded) {
                    Ok(record) => (EcallResult::SessionReply, record),
                    Err(e) => refuse(RefusalCode::Record, e.to_string()),
                }
            }
            Ecall::SessionClose { session } => {
                self.sessions.remove(&session);
                (EcallResult::SessionClosed, Vec::new())
            }
            Ecall::Provision { joiner, policy } => match self.provision(&joiner, &policy, host) {
                Ok(bundle) => {
                    (EcallResult::Provisioned, postcard::to_stdvec(&bundle).expect("a bundle always encodes"))
                }
                Err(refusal) => (EcallResult::ProvisionRefused(refusal), Vec::new()),
            },
            Ecall::Install => match self.install(body, host) {
                Ok(()) => (EcallResult::Installed(self.evidence.clone()), Vec::new()),
                Err(refusal) => (EcallResult::ProvisionRefused(refusal), Vec::new()),
            },
        }
    }

    /// Provider side of [`provision`]: this enclave's keys and identity state, wrapped to
    /// the joiner if the chain and `policy` admit it.
    fn provision<R: Read, W: Write>(
        &mut self,
        joiner: &Evidence,
        policy: &provision::JoinPolicy,
        host: &mut Host<'_, R, W>,
    ) -> Result<ProvisionBundle, ProvisionError> {
        let labels = self.dispatcher.identity_labels();
        let directory = self.dispatcher.directory.as_deref_mut().ok_or(ProvisionError::NoDirectory)?;
        let mut storage = HostSealedStorage { host, sealing: &self.keys.sealing };
        let mut state = Vec::new();
        for label in labels {
            if let Some(bytes) = storage.load(label)? {
                state.push((label.to_string(), bytes));
            }
        }
        let domain = directory.join_domain();
        provision::provide(
            &self.keys.report_key,
            &self.keys.encryption_key,
            &self.evidence,
            joiner,
            policy,
            state,
            domain,
            &mut provision::chain_reader(directory, &mut storage),
        )
    }

    /// Joiner side of [`provision`]: checks the bundle, seals the identity state and then
    /// the keys (the commit point), and from then on answers as the provider.
    fn install<R: Read, W: Write>(&mut self, body: &[u8], host: &mut Host<'_, R, W>) -> Result<(), ProvisionError> {
        let bundle: ProvisionBundle =
            postcard::from_bytes(body).map_err(|e| ProvisionError::Tampered(format!("undecodable bundle: {e}")))?;
        let labels = self.dispatcher.identity_labels();
        let directory = self.dispatcher.directory.as_deref_mut().ok_or(ProvisionError::NoDirectory)?;
        let mut storage = HostSealedStorage { host, sealing: &self.keys.sealing };
        let domain = directory.join_domain();
        let provisioned = provision::install(
            &self.keys.encryption_key,
            &self.evidence,
            &bundle,
            domain,
            &mut provision::chain_reader(directory, &mut storage),
        )?;
        // Only state the applications declare, never the keys' own label.
        if let Some((label, _)) = provisioned.state.iter().find(|(label, _)| !labels.contains(&label.as_str())) {
            return Err(ProvisionError::Tampered(format!("the bundle carries undeclared state '{label}'")));
        }
        for label in &labels {
            let incoming = provisioned.state.iter().find(|(l, _)| l == label).map(|(_, bytes)| bytes);
            match (storage.load(label)?, incoming) {
                (Some(existing), Some(incoming)) if existing.as_slice() == incoming.as_slice() => {}
                (Some(_), _) => return Err(ProvisionError::StateConflict(label.to_string())),
                (None, _) => {}
            }
        }
        for (label, bytes) in &provisioned.state {
            storage.store(label, bytes)?;
        }
        let plaintext =
            Zeroizing::new([provisioned.report_key.to_bytes(), provisioned.encryption_key.to_bytes()].concat());
        storage.store(KEYS_LABEL, &plaintext)?;
        self.keys.report_key = provisioned.report_key;
        self.keys.encryption_key = provisioned.encryption_key;
        self.evidence = self.platform.attest(
            self.keys.measurement,
            self.keys.report_key.address(),
            &self.keys.encryption_key.public_key(),
        );
        // Sessions were keyed to the old identity.
        self.sessions.clear();
        Ok(())
    }
}

/// Most sessions (established or handshaking) an enclave keeps: bounds its memory
/// whatever clients do.
pub const MAX_SESSIONS: usize = 1024;

/// Name of the built-in application answering with [`Status`].
pub const STATUS_APP: &str = "status";

/// Runs the enclave over a channel to the host until the host closes it.
pub fn serve(reader: impl Read, writer: impl Write, dispatcher: Dispatcher) -> Result<(), RuntimeError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    let launch: Launch = read_frame(&mut reader, 0)?.expect(FrameKind::Launch)?.decode()?;
    let measurement = measure_self()?;
    let platform = SimulatedPlatform::new(launch.platform_secret);
    let sealing = SealingKey::derive(&launch.platform_secret, &measurement);
    let mut host = Host { reader: &mut reader, writer: &mut writer, max_body: launch.max_body };
    let keys = match host.load_sealed(KEYS_LABEL)? {
        Some(blob) => {
            let plaintext = sealing.unseal(KEYS_LABEL, &blob)?;
            EnclaveKeys::from_sealed_plaintext(measurement, sealing, &plaintext)?
        }
        None => {
            let mut rng = rand::rng();
            let keys = EnclaveKeys {
                measurement,
                report_key: EthKey::generate(&mut rng),
                encryption_key: keywrap::SecretKey::generate(&mut rng),
                sealing,
            };
            host.store_sealed(KEYS_LABEL, &keys.sealing.seal(KEYS_LABEL, &keys.to_sealed_plaintext()))?;
            keys
        }
    };
    let evidence = platform.attest(measurement, keys.report_key.address(), &keys.encryption_key.public_key());
    write_frame(host.writer, FrameKind::Ready, &evidence, &[])?;
    let mut enclave = Enclave {
        keys,
        platform,
        data_dir: launch.data_dir.clone(),
        evidence,
        sessions: HashMap::new(),
        handshakes: 0,
        dispatcher,
        started: Instant::now(),
    };
    let mut frame = Frame { kind: FrameKind::Ecall, header: Vec::new(), body: Vec::new() };
    loop {
        match read_frame_into(host.reader, launch.max_body, &mut frame) {
            Ok(()) => {}
            Err(ChannelError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let (result, body) = match frame.kind {
            FrameKind::Ecall => match frame.decode::<Ecall>() {
                Ok(ecall) => enclave.handle(ecall, &frame.body, &mut host),
                Err(e) => refuse(RefusalCode::BadRequest, e.to_string()),
            },
            other => refuse(RefusalCode::BadRequest, format!("expected an ecall, got {other:?}")),
        };
        write_frame(host.writer, FrameKind::EcallResult, &result, &body)?;
    }
}

/// Runs the enclave on the channel the host passed as standard input and output (how
/// the simulated backend spawns it), until the host closes it.
pub fn serve_stdio(dispatcher: Dispatcher) -> Result<(), RuntimeError> {
    use std::os::fd::AsFd;
    let channel = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::os::unix::net::UnixStream::from)
        .map_err(ChannelError::Io)?;
    let writer = channel.try_clone().map_err(ChannelError::Io)?;
    serve(channel, writer, dispatcher)
}

/// SHA-256 of the running executable: the simulated measurement.
fn measure_self() -> Result<[u8; 32], RuntimeError> {
    let path = std::env::current_exe().map_err(RuntimeError::Measure)?;
    let code = std::fs::read(path).map_err(RuntimeError::Measure)?;
    Ok(sha256(&code))
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    /// Plays the host for one ocall, which must be `expected`, answering with `reply`; runs
    /// `call` as the enclave.
    fn with_host_reply<T>(
        expected: Ocall,
        reply: (OcallResult, Vec<u8>),
        call: impl FnOnce(&mut Host<'_, BufReader<UnixStream>, UnixStream>) -> T,
    ) -> T {
        let (enclave_end, host_end) = UnixStream::pair().unwrap();
        let host = std::thread::spawn(move || {
            let mut reader = BufReader::new(host_end.try_clone().unwrap());
            let mut writer = host_end;
            let frame = read_frame(&mut reader, 1 << 20).unwrap().expect(FrameKind::Ocall).unwrap();
            assert_eq!(frame.decode::<Ocall>().unwrap(), expected);
            write_frame(&mut writer, FrameKind::OcallResult, &reply.0, &reply.1).unwrap();
        });
        let mut reader = BufReader::new(enclave_end.try_clone().unwrap());
        let mut writer = enclave_end;
        let result = call(&mut Host { reader: &mut reader, writer: &mut writer, max_body: 1 << 20 });
        host.join().unwrap();
        result
    }

    fn fetch_with_host_reply(
        address: [u8; 32],
        reply: (OcallResult, Vec<u8>),
    ) -> Result<Option<Vec<u8>>, RuntimeError> {
        with_host_reply(Ocall::GetObject { address }, reply, |host| host.fetch_object(&address))
    }

    fn fetch_many_with_host_reply(
        addresses: &[[u8; 32]],
        reply: (OcallResult, Vec<u8>),
    ) -> Result<Vec<HostObject>, RuntimeError> {
        with_host_reply(Ocall::GetObjects { addresses: addresses.to_vec() }, reply, |host| {
            host.fetch_objects(addresses)
        })
    }

    #[test]
    fn objects_fetched_in_a_batch_are_each_checked_against_their_address() {
        let (first, second) = (b"first ciphertext".to_vec(), b"second".to_vec());
        let addresses = [sha256(&first), [7; 32], sha256(&second)];
        let lengths = vec![Some(first.len() as u64), None, Some(second.len() as u64)];
        let body = [first.clone(), second.clone()].concat();
        assert_eq!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Objects { lengths: lengths.clone() }, body)).unwrap(),
            vec![HostObject::Found(first.clone()), HostObject::Missing, HostObject::Found(second.clone())]
        );
        // the second object swapped: only it is refused
        let swapped = [first.clone(), b"swappd".to_vec()].concat();
        assert_eq!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Objects { lengths: lengths.clone() }, swapped))
                .unwrap(),
            vec![HostObject::Found(first.clone()), HostObject::Missing, HostObject::Tampered]
        );
        // lengths that do not add up to the body, or too few of them: a broken host
        let short = first.clone();
        assert!(matches!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Objects { lengths: lengths.clone() }, short)),
            Err(RuntimeError::Channel(ChannelError::Protocol(_)))
        ));
        let long = [first.clone(), second.clone(), b"x".to_vec()].concat();
        assert!(matches!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Objects { lengths: lengths.clone() }, long)),
            Err(RuntimeError::Channel(ChannelError::Protocol(_)))
        ));
        assert!(matches!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Objects { lengths: lengths[..2].to_vec() }, first)),
            Err(RuntimeError::Channel(ChannelError::Protocol(_)))
        ));
        assert!(matches!(
            fetch_many_with_host_reply(&addresses, (OcallResult::Failed("disk".into()), Vec::new())),
            Err(RuntimeError::HostStorage(_))
        ));
    }

    #[test]
    fn fetched_objects_are_checked_against_their_address() {
        let object = b"ciphertext".to_vec();
        let address = sha256(&object);
        assert_eq!(fetch_with_host_reply(address, (OcallResult::Object, object.clone())).unwrap(), Some(object));
        assert!(matches!(
            fetch_with_host_reply(address, (OcallResult::Object, b"swapped".to_vec())),
            Err(RuntimeError::TamperedObject { .. })
        ));
        assert_eq!(fetch_with_host_reply(address, (OcallResult::NotFound, Vec::new())).unwrap(), None);
        assert!(matches!(
            fetch_with_host_reply(address, (OcallResult::Failed("disk".into()), Vec::new())),
            Err(RuntimeError::HostStorage(_))
        ));
    }
}
