//! The host side: launching the enclave, calling into it, serving its ocalls.

use std::io::{BufReader, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthchain_crypto::hash::sha256;

use crate::evidence::{Evidence, SimulatedPlatform};
use crate::protocol::{
    ChannelError, DEFAULT_MAX_BODY, Ecall, EcallResult, FrameKind, Launch, LedgerName, Ocall, OcallResult, Refusal,
    read_frame, write_frame,
};

/// Why a call into the enclave failed.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The enclave process could not be started.
    #[error("cannot start the enclave process {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The enclave process started but did not come up (e.g. its sealed state belongs to
    /// other code); its own message is on its standard error.
    #[error("enclave failed to launch: {0}")]
    Launch(String),
    /// The enclave process died during the call; it has been restarted (if `restarted`)
    /// and the call was not completed — retry it.
    #[error("enclave process died during the call (restarted: {restarted}); the call did not complete")]
    Crashed {
        /// Whether a fresh enclave is running now.
        restarted: bool,
    },
    /// The enclave did not answer within the call timeout; it was killed and restarted.
    #[error("enclave did not answer within {timeout:?}; it was restarted (restarted: {restarted})")]
    Timeout {
        /// The timeout in force.
        timeout: Duration,
        /// Whether a fresh enclave is running now.
        restarted: bool,
    },
    /// The request exceeds the channel's size limit; nothing was sent.
    #[error("request body of {size} bytes exceeds the enclave channel limit of {limit}")]
    TooLarge {
        /// Body size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// The channel broke in a way that is not a crash.
    #[error(transparent)]
    Channel(ChannelError),
    /// The enclave refused the request.
    #[error(transparent)]
    Refused(Refusal),
    /// A relay between the client and the enclave's host (e.g. a node's HTTP API) failed;
    /// whether the call reached the enclave is unknown unless the message says so.
    #[error("enclave relay: {0}")]
    Relay(String),
}

impl EnclaveError {
    /// Whether the enclave could not run the call (it failed to start, died, stalled, the
    /// channel or a relay broke), as opposed to refusing it.
    pub fn is_failure(&self) -> bool {
        !matches!(self, EnclaveError::Refused(_) | EnclaveError::TooLarge { .. })
    }
}

/// An enclave backend: something that runs the trusted code and answers ecalls. The
/// simulated process backend implements it; hardware backends (Gramine-SGX, SEV-SNP)
/// would too. Sealing is deliberately not part of it: sealed state is opened only inside
/// the enclave ([`crate::runtime::HostServices`]), never handed to the host.
pub trait EnclaveBackend: Send + Sync {
    /// Sends one ecall with its body and returns the result and its body.
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError>;
    /// The evidence the running enclave presented at launch.
    fn evidence(&self) -> Evidence;
    /// The enclave's process on this machine, when there is one (for measurements).
    fn process_id(&self) -> Option<u32> {
        None
    }
}

/// How to run a simulated enclave.
#[derive(Clone, Debug)]
pub struct SimulatedConfig {
    /// The enclave executable; its SHA-256 is the measurement.
    pub program: PathBuf,
    /// Arguments (e.g. a hidden subcommand when the enclave is a mode of a larger binary).
    pub args: Vec<String>,
    /// Where the host keeps the enclave's sealed blobs and the enclave its encrypted files.
    pub state_dir: PathBuf,
    /// The simulated platform secret.
    pub platform_secret: [u8; 32],
    /// How long one call may take before the enclave is considered stalled.
    pub call_timeout: Duration,
    /// Largest body sent or accepted on the channel.
    pub max_body: u64,
    /// Where the enclave's `GetObject`/`PutObject` ocalls are served from (none: refused).
    pub objects: Option<Arc<dyn ObjectSource>>,
    /// Where the enclave's `LedgerRpc` ocalls are relayed to (none: refused).
    pub ledger: Option<Arc<dyn LedgerSource>>,
}

/// The host's object store as the enclave reaches it (the enclave re-hashes every object,
/// so a source that lies is caught inside).
pub trait ObjectSource: Send + Sync {
    /// The object with this content address, if stored.
    fn get(&self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, String>;
    /// The objects with these addresses, in order (sources that can read concurrently
    /// override this one-at-a-time default).
    fn get_many(&self, addresses: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, String> {
        addresses.iter().map(|address| self.get(address)).collect()
    }
    /// Stores `bytes` durably and returns their content address.
    fn put(&self, bytes: &[u8]) -> Result<[u8; 32], String>;
}

/// The ledger endpoints as the enclave reaches them: the host relays JSON-RPC requests it
/// cannot read the purpose of, and the enclave checks the answers it relies on.
pub trait LedgerSource: Send + Sync {
    /// Sends one JSON-RPC request to the named ledger and returns the raw response.
    fn rpc(&self, ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, String>;
}

impl std::fmt::Debug for dyn LedgerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerSource")
    }
}

impl std::fmt::Debug for dyn ObjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectSource")
    }
}

impl SimulatedConfig {
    /// A configuration with default timeout (30 s) and body limit (1 GiB).
    pub fn new(program: impl Into<PathBuf>, state_dir: impl Into<PathBuf>, platform_secret: [u8; 32]) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            state_dir: state_dir.into(),
            platform_secret,
            call_timeout: Duration::from_secs(30),
            max_body: DEFAULT_MAX_BODY,
            objects: None,
            ledger: None,
        }
    }
}

/// The measurement of an enclave executable (what policies allow-list).
pub fn measure(program: &Path) -> std::io::Result<[u8; 32]> {
    Ok(sha256(&std::fs::read(program)?))
}

/// Requested kernel buffer per direction of the channel (the kernel may cap it).
const CHANNEL_BUFFER: usize = 4 << 20;

struct Running {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: BufWriter<UnixStream>,
}

impl Running {
    fn stop(mut self) {
        // Our own child, by its handle: kill (SIGKILL) and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulated backend: the enclave is a separate OS process reached only through a
/// socket pair, restarted automatically when it dies or stalls.
pub struct SimulatedEnclave {
    config: SimulatedConfig,
    state: Mutex<Option<Running>>,
    evidence: Mutex<Evidence>,
    restarts: AtomicU64,
}

impl SimulatedEnclave {
    /// Starts the enclave process and waits until it has presented its evidence.
    pub fn launch(config: SimulatedConfig) -> Result<Self, EnclaveError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|source| EnclaveError::Spawn { program: config.state_dir.clone(), source })?;
        let (running, evidence) = start(&config)?;
        Ok(Self {
            config,
            state: Mutex::new(Some(running)),
            evidence: Mutex::new(evidence),
            restarts: AtomicU64::new(0),
        })
    }

    /// The enclave process's PID, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|r| r.child.id())
    }

    /// How many times the enclave was restarted after dying or stalling.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn exchange(
        &self,
        running: &mut Running,
        ecall: &Ecall,
        body: &[u8],
    ) -> Result<(EcallResult, Vec<u8>), ChannelError> {
        write_frame(&mut running.writer, FrameKind::Ecall, ecall, body)?;
        loop {
            let frame = read_frame(&mut running.reader, self.config.max_body)?;
            match frame.kind {
                FrameKind::EcallResult => return Ok((frame.decode()?, frame.body)),
                FrameKind::Ocall => {
                    let (result, body) = serve_ocall(&self.config, frame.decode()?, &frame.body);
                    write_frame(&mut running.writer, FrameKind::OcallResult, &result, &body)?;
                }
                other => {
                    return Err(ChannelError::Protocol(format!("unexpected {other:?} during an ecall")));
                }
            }
        }
    }

    /// Replaces a dead or stalled enclave with a fresh one.
    fn restart(&self, slot: &mut Option<Running>) -> bool {
        if let Some(old) = slot.take() {
            old.stop();
        }
        match start(&self.config) {
            Ok((running, evidence)) => {
                *slot = Some(running);
                *self.evidence.lock().unwrap_or_else(|p| p.into_inner()) = evidence;
                self.restarts.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }
}

impl EnclaveBackend for SimulatedEnclave {
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        if body.len() as u64 > self.config.max_body {
            return Err(EnclaveError::TooLarge { size: body.len() as u64, limit: self.config.max_body });
        }
        let mut slot = self.lock();
        if slot.is_none() && !self.restart(&mut slot) {
            return Err(EnclaveError::Crashed { restarted: false });
        }
        let running = slot.as_mut().expect("an enclave is running after a successful restart");
        match self.exchange(running, ecall, body) {
            Ok((EcallResult::Refused(refusal), _)) => Err(EnclaveError::Refused(refusal)),
            Ok((EcallResult::Installed(evidence), body)) => {
                // The instance joined another enclave: it now presents that identity.
                *self.evidence.lock().unwrap_or_else(|p| p.into_inner()) = evidence.clone();
                Ok((EcallResult::Installed(evidence), body))
            }
            Ok(result) => Ok(result),
            Err(ChannelError::Closed) => Err(EnclaveError::Crashed { restarted: self.restart(&mut slot) }),
            Err(ChannelError::Timeout) => {
                Err(EnclaveError::Timeout { timeout: self.config.call_timeout, restarted: self.restart(&mut slot) })
            }
            Err(other) => {
                // A protocol violation leaves the channel in an unknown state: start over.
                self.restart(&mut slot);
                Err(EnclaveError::Channel(other))
            }
        }
    }

    fn evidence(&self) -> Evidence {
        self.evidence.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn process_id(&self) -> Option<u32> {
        self.pid()
    }
}

impl Drop for SimulatedEnclave {
    fn drop(&mut self) {
        if let Some(running) = self.lock().take() {
            running.stop();
        }
    }
}

fn start(config: &SimulatedConfig) -> Result<(Running, Evidence), EnclaveError> {
    let spawn_error = |source| EnclaveError::Spawn { program: config.program.clone(), source };
    let (host_end, enclave_end) = UnixStream::pair().map_err(spawn_error)?;
    // Larger socket buffers let bulk transfers move in fewer, larger copies.
    for end in [&host_end, &enclave_end] {
        let socket = socket2::SockRef::from(end);
        socket.set_send_buffer_size(CHANNEL_BUFFER).map_err(spawn_error)?;
        socket.set_recv_buffer_size(CHANNEL_BUFFER).map_err(spawn_error)?;
    }
    let enclave_out = enclave_end.try_clone().map_err(spawn_error)?;
    let child = Command::new(&config.program)
        .args(&config.args)
        .stdin(Stdio::from(OwnedFd::from(enclave_end)))
        .stdout(Stdio::from(OwnedFd::from(enclave_out)))
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(spawn_error)?;
    host_end.set_read_timeout(Some(config.call_timeout)).map_err(spawn_error)?;
    let writer_end = host_end.try_clone().map_err(spawn_error)?;
    let mut running = Running {
        child,
        reader: BufReader::with_capacity(64 * 1024, host_end),
        writer: BufWriter::with_capacity(64 * 1024, writer_end),
    };
    match handshake(config, &mut running) {
        Ok(evidence) => Ok((running, evidence)),
        Err(ChannelError::Closed) => {
            let status = running.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            Err(EnclaveError::Launch(format!(
                "the enclave process exited during launch ({status}); its reason is on standard error"
            )))
        }
        Err(e) => {
            running.stop();
            Err(EnclaveError::Launch(e.to_string()))
        }
    }
}

fn handshake(config: &SimulatedConfig, running: &mut Running) -> Result<Evidence, ChannelError> {
    let launch = Launch {
        platform_secret: config.platform_secret,
        max_body: config.max_body,
        data_dir: config.state_dir.clone(),
    };
    write_frame(&mut running.writer, FrameKind::Launch, &launch, &[])?;
    loop {
        let frame = read_frame(&mut running.reader, config.max_body)?;
        match frame.kind {
            FrameKind::Ready => return frame.decode(),
            FrameKind::Ocall => {
                let (result, body) = serve_ocall(config, frame.decode()?, &frame.body);
                write_frame(&mut running.writer, FrameKind::OcallResult, &result, &body)?;
            }
            other => {
                return Err(ChannelError::Protocol(format!("unexpected {other:?} during launch")));
            }
        }
    }
}

/// Sealed blobs live as files named by their label; labels come from the enclave and
/// are restricted to a safe alphabet.
fn sealed_path(state_dir: &Path, label: &str) -> Option<PathBuf> {
    let safe = !label.is_empty()
        && label.len() <= 128
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then(|| state_dir.join(format!("{label}.sealed")))
}

fn serve_ocall(config: &SimulatedConfig, ocall: Ocall, body: &[u8]) -> (OcallResult, Vec<u8>) {
    let state_dir = &config.state_dir;
    match ocall {
        Ocall::GetObject { address } => match &config.objects {
            None => (OcallResult::Failed("this host serves no object store to the enclave".into()), Vec::new()),
            Some(objects) => match objects.get(&address) {
                Ok(Some(bytes)) => (OcallResult::Object, bytes),
                Ok(None) => (OcallResult::NotFound, Vec::new()),
                Err(why) => (OcallResult::Failed(why), Vec::new()),
            },
        },
        Ocall::GetObjects { addresses } => match &config.objects {
            None => (OcallResult::Failed("this host serves no object store to the enclave".into()), Vec::new()),
            Some(objects) => match objects.get_many(&addresses) {
                Ok(found) => {
                    let lengths = found.iter().map(|o| o.as_ref().map(|bytes| bytes.len() as u64)).collect();
                    (OcallResult::Objects { lengths }, found.into_iter().flatten().collect::<Vec<_>>().concat())
                }
                Err(why) => (OcallResult::Failed(why), Vec::new()),
            },
        },
        Ocall::PutObject => match &config.objects {
            None => (OcallResult::Failed("this host serves no object store to the enclave".into()), Vec::new()),
            Some(objects) => match objects.put(body) {
                Ok(address) => (OcallResult::ObjectStored { address }, Vec::new()),
                Err(why) => (OcallResult::Failed(why), Vec::new()),
            },
        },
        Ocall::LedgerRpc { ledger } => match &config.ledger {
            None => (OcallResult::Failed("this host relays no ledger to the enclave".into()), Vec::new()),
            Some(source) => match source.rpc(ledger, body) {
                Ok(reply) => (OcallResult::LedgerReply, reply),
                Err(why) => (OcallResult::Failed(why), Vec::new()),
            },
        },
        Ocall::LoadSealed { label } => match sealed_path(state_dir, &label) {
            None => (OcallResult::Failed(format!("invalid sealed label '{label}'")), Vec::new()),
            Some(path) => match std::fs::read(&path) {
                Ok(blob) => (OcallResult::Sealed, blob),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (OcallResult::NotFound, Vec::new()),
                Err(e) => (OcallResult::Failed(format!("reading {}: {e}", path.display())), Vec::new()),
            },
        },
        Ocall::StoreSealed { label } => match sealed_path(state_dir, &label) {
            None => (OcallResult::Failed(format!("invalid sealed label '{label}'")), Vec::new()),
            Some(path) => match write_durably(&path, body) {
                Ok(()) => (OcallResult::Stored, Vec::new()),
                Err(e) => (OcallResult::Failed(format!("writing {}: {e}", path.display())), Vec::new()),
            },
        },
    }
}

/// Write to a temporary file, fsync, rename over the target, fsync the directory: the
/// blob is either the old one or the new one after a crash, never a torn mix.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("sealed.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A fresh simulated platform secret, e.g. for a new node's data directory.
pub fn new_platform_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut secret);
    secret
}

/// The attestation address of the platform with this secret (what verifiers trust).
pub fn platform_address(secret: [u8; 32]) -> alloy_primitives::Address {
    SimulatedPlatform::new(secret).attestation_address()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OneObject(Vec<u8>);

    impl ObjectSource for OneObject {
        fn get(&self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
            Ok((sha256(&self.0) == *address).then(|| self.0.clone()))
        }
        fn put(&self, _: &[u8]) -> Result<[u8; 32], String> {
            Err("read-only".into())
        }
    }

    #[test]
    fn object_ocalls_are_served_from_the_configured_source_only() {
        let mut config = SimulatedConfig::new("unused", "unused", [0; 32]);
        let address = sha256(b"entry");
        let ask = |config: &SimulatedConfig, address| serve_ocall(config, Ocall::GetObject { address }, &[]);
        assert!(matches!(ask(&config, address).0, OcallResult::Failed(_)), "no source configured");
        config.objects = Some(Arc::new(OneObject(b"entry".to_vec())));
        assert_eq!(ask(&config, address), (OcallResult::Object, b"entry".to_vec()));
        assert_eq!(ask(&config, [9; 32]).0, OcallResult::NotFound);
    }
}
