//! The simulated enclave across a real process boundary.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client::{self, ClientError};
use healthchain_enclave::evidence::{Evidence, EvidenceError, Policy};
use healthchain_enclave::host::{
    EnclaveBackend, EnclaveError, SimulatedConfig, SimulatedEnclave, measure, platform_address,
};
use healthchain_enclave::protocol::{Ecall, EcallResult, RefusalCode};
use healthchain_enclave::runtime::{STATUS_APP, Status};

const PROGRAM: &str = env!("CARGO_BIN_EXE_healthchain-enclave");
const PLATFORM: [u8; 32] = [7; 32];

fn launch(state: &Path) -> SimulatedEnclave {
    SimulatedEnclave::launch(SimulatedConfig::new(PROGRAM, state, PLATFORM)).expect("enclave launches")
}

fn policy() -> Policy {
    Policy {
        platforms: vec![platform_address(PLATFORM)],
        measurements: vec![measure(Path::new(PROGRAM)).unwrap()],
        accept_simulated: true,
    }
}

fn trusted(enclave: &SimulatedEnclave) -> EnclaveIdentity {
    let verified = enclave.evidence().verify(&policy()).expect("evidence verifies");
    EnclaveIdentity { id: verified.measurement, report_signer: verified.report_signer }
}

#[test]
fn session_end_to_end_across_the_process_boundary() {
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    assert_ne!(enclave.pid(), Some(std::process::id()), "the enclave is another process");
    let patient = EthKey::generate(&mut rand::rng());
    let mut session = client::connect(&enclave, patient, trusted(&enclave)).unwrap();
    let status: Status = session.call(STATUS_APP, &()).unwrap();
    assert_eq!(status.measurement, measure(Path::new(PROGRAM)).unwrap());
    assert_eq!(status.sessions, 1);
    // Many calls on one session keep working (sequence numbers advance in step).
    for _ in 0..50 {
        let _: Status = session.call(STATUS_APP, &()).unwrap();
    }
    match session.call_raw("no-such-app", vec![]) {
        Err(ClientError::App(error)) => assert!(error.message.contains("no trusted application 'no-such-app'")),
        other => panic!("expected an application refusal, got {other:?}"),
    }
    session.close().unwrap();
}

/// A host that relays session traffic but tries to read and alter it.
struct MaliciousHost<'a> {
    inner: &'a SimulatedEnclave,
    seen: std::sync::Mutex<Vec<Vec<u8>>>,
    flip_replies: bool,
}

impl EnclaveBackend for MaliciousHost<'_> {
    fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
        self.seen.lock().unwrap().push(body.to_vec());
        let mut body = body.to_vec();
        if matches!(ecall, Ecall::SessionRecord { .. }) && !self.flip_replies {
            let last = body.len() - 1;
            body[last] ^= 1;
        }
        let (result, mut reply) = self.inner.call(ecall, &body)?;
        if matches!(ecall, Ecall::SessionRecord { .. }) && self.flip_replies {
            reply[10] ^= 1;
        }
        self.seen.lock().unwrap().push(reply.clone());
        Ok((result, reply))
    }

    fn evidence(&self) -> Evidence {
        self.inner.evidence()
    }
}

#[test]
fn host_cannot_read_or_alter_session_traffic() {
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let secret = b"patient Jane Example, HbA1c 9.1%".to_vec();

    // Altering a request record: the enclave refuses it.
    let host = MaliciousHost { inner: &enclave, seen: Default::default(), flip_replies: false };
    let mut session = client::connect(&host, EthKey::generate(&mut rand::rng()), trusted(&enclave)).unwrap();
    match session.call_raw(STATUS_APP, secret.clone()) {
        Err(ClientError::Enclave(EnclaveError::Refused(refusal))) => {
            assert_eq!(refusal.code, RefusalCode::Record)
        }
        other => panic!("expected the enclave to refuse an altered record, got {other:?}"),
    }
    // Altering a reply record: the client refuses it.
    let host = MaliciousHost { inner: &enclave, seen: Default::default(), flip_replies: true };
    let mut session = client::connect(&host, EthKey::generate(&mut rand::rng()), trusted(&enclave)).unwrap();
    assert!(matches!(session.call_raw(STATUS_APP, secret.clone()), Err(ClientError::Session(_))));
    // Nothing the host relayed contains the plaintext.
    for relayed in host.seen.lock().unwrap().iter() {
        assert!(!relayed.windows(secret.len()).any(|w| w == secret.as_slice()));
    }
}

#[test]
fn evidence_is_refused_outside_policy() {
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let evidence = enclave.evidence();
    assert!(evidence.simulated);
    evidence.verify(&policy()).unwrap();

    let strict = Policy { accept_simulated: false, ..policy() };
    assert_eq!(evidence.verify(&strict), Err(EvidenceError::SimulatedNotAccepted));
    let other_code = Policy { measurements: vec![[0xab; 32]], ..policy() };
    assert!(matches!(evidence.verify(&other_code), Err(EvidenceError::UnapprovedMeasurement(_))));
    let other_platform = Policy { platforms: vec![platform_address([8; 32])], ..policy() };
    assert!(matches!(evidence.verify(&other_platform), Err(EvidenceError::UntrustedPlatform(_))));
    // Evidence edited to claim another report key no longer carries a valid signature.
    let mut swapped = evidence.clone();
    swapped.report_signer = Address::repeat_byte(1).into();
    assert!(matches!(swapped.verify(&policy()), Err(EvidenceError::UntrustedPlatform(_))));
    // A session with an enclave whose report key is not the registered one fails.
    let wrong = EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: Address::repeat_byte(2) };
    assert!(matches!(
        client::connect(&enclave, EthKey::generate(&mut rand::rng()), wrong),
        Err(ClientError::Session(_))
    ));
}

#[test]
fn sealed_keys_survive_restart_and_refuse_other_measurement() {
    let state = tempfile::tempdir().unwrap();
    let first = launch(state.path()).evidence();
    let second = launch(state.path()).evidence();
    assert_eq!(first.report_signer, second.report_signer, "keys unsealed after restart");
    assert_eq!(first.encryption_key, second.encryption_key);

    // Other code (the same binary plus one byte: another measurement) cannot unseal them
    // and refuses to start rather than silently replacing the keys.
    let other_dir = tempfile::tempdir().unwrap();
    let other = other_dir.path().join("modified-enclave");
    let mut code = std::fs::read(PROGRAM).unwrap();
    code.push(0);
    std::fs::write(&other, &code).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    match launch_written(|| SimulatedConfig::new(&other, state.path(), PLATFORM)) {
        Err(EnclaveError::Launch(_)) => {}
        Err(other) => panic!("expected a launch failure, got {other}"),
        Ok(_) => panic!("modified code must not unseal the enclave's keys"),
    }
    // With its own fresh state it runs, under its own measurement and keys.
    let fresh = tempfile::tempdir().unwrap();
    let modified = launch_written(|| SimulatedConfig::new(&other, fresh.path(), PLATFORM)).unwrap();
    assert_ne!(modified.evidence().measurement, first.measurement);
    assert!(matches!(modified.evidence().verify(&policy()), Err(EvidenceError::UnapprovedMeasurement(_))));
}

/// Launches a program this test has just written, retrying while the kernel says the file is
/// busy (ETXTBSY: another test's fork may hold it open until that child execs).
fn launch_written(config: impl Fn() -> SimulatedConfig) -> Result<SimulatedEnclave, EnclaveError> {
    for _ in 0..50 {
        match SimulatedEnclave::launch(config()) {
            Err(e) if e.to_string().contains("Text file busy") => std::thread::sleep(Duration::from_millis(100)),
            launched => return launched,
        }
    }
    SimulatedEnclave::launch(config())
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn killed_enclave_is_restarted_and_the_caller_gets_an_error() {
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let before = enclave.evidence();
    let pid = enclave.pid().unwrap();
    signal(pid, "-KILL");
    match enclave.call(&Ecall::Ping, &[]) {
        Err(EnclaveError::Crashed { restarted: true }) => {}
        other => panic!("expected a crash error, got {other:?}"),
    }
    assert_eq!(enclave.restarts(), 1);
    assert_ne!(enclave.pid(), Some(pid));
    assert_eq!(enclave.call(&Ecall::Ping, &[]).unwrap().0, EcallResult::Pong);
    assert_eq!(enclave.evidence().report_signer, before.report_signer, "same sealed keys after restart");
}

#[test]
fn a_session_outlives_an_enclave_restart() {
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let patient = EthKey::generate(&mut rand::rng());
    let mut session = client::connect(&enclave, patient, trusted(&enclave)).unwrap();
    let _: Status = session.call(STATUS_APP, &()).unwrap();
    signal(enclave.pid().unwrap(), "-KILL");
    // The call that meets the dead process did not complete and says so ...
    match session.call::<_, Status>(STATUS_APP, &()) {
        Err(ClientError::Enclave(EnclaveError::Crashed { restarted: true })) => {}
        other => panic!("expected a crash error, got {other:?}"),
    }
    // ... and the retry reaches the restarted enclave, which no longer knows the session:
    // the client runs the handshake again (same identity) and resends.
    let status: Status = session.call(STATUS_APP, &()).unwrap();
    assert_eq!(status.sessions, 1, "one session in the new enclave: the resent call's");
    let _: Status = session.call(STATUS_APP, &()).unwrap();
    session.close().unwrap();
}

/// The enclave restarts between a handshake's two messages (as when the node relaying it
/// restarts): the new process does not know the half-open handshake and refuses its second
/// message; the client starts the handshake over and connects.
#[test]
fn a_handshake_cut_by_an_enclave_restart_starts_over() {
    struct RestartBeforeFinish<'a> {
        inner: &'a SimulatedEnclave,
        restarted: std::sync::atomic::AtomicBool,
    }
    impl EnclaveBackend for RestartBeforeFinish<'_> {
        fn call(&self, ecall: &Ecall, body: &[u8]) -> Result<(EcallResult, Vec<u8>), EnclaveError> {
            if matches!(ecall, Ecall::SessionFinish { .. })
                && !self.restarted.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                signal(self.inner.pid().unwrap(), "-KILL");
                // the call that meets the dead process restarts it
                assert!(matches!(self.inner.call(&Ecall::Ping, &[]), Err(EnclaveError::Crashed { restarted: true })));
            }
            self.inner.call(ecall, body)
        }
        fn evidence(&self) -> Evidence {
            self.inner.evidence()
        }
    }
    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let cut = RestartBeforeFinish { inner: &enclave, restarted: false.into() };
    let mut session = client::connect(&cut, EthKey::generate(&mut rand::rng()), trusted(&enclave)).unwrap();
    assert!(cut.restarted.load(std::sync::atomic::Ordering::SeqCst), "the first handshake was cut");
    let status: Status = session.call(STATUS_APP, &()).unwrap();
    assert_eq!(status.sessions, 1, "the second handshake's session only");
}

/// A stalled enclave (SIGSTOP: alive, never answering): the call times out instead of
/// hanging, the stalled process is killed and replaced, and the next call of the same
/// session succeeds on the replacement, which unsealed the same keys (the client checks the
/// enclave's signature against the report key it trusted before the stall).
#[test]
fn stalled_enclave_times_out_instead_of_hanging() {
    let state = tempfile::tempdir().unwrap();
    let mut config = SimulatedConfig::new(PROGRAM, state.path(), PLATFORM);
    config.call_timeout = Duration::from_millis(300);
    let enclave = SimulatedEnclave::launch(config).unwrap();
    let before = enclave.evidence();
    let mut session = client::connect(&enclave, EthKey::generate(&mut rand::rng()), trusted(&enclave)).unwrap();
    let _: Status = session.call(STATUS_APP, &()).unwrap();
    let stalled = enclave.process_id().unwrap();
    signal(stalled, "-STOP");
    match session.call::<_, Status>(STATUS_APP, &()) {
        Err(ClientError::Enclave(EnclaveError::Timeout { restarted: true, .. })) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(enclave.restarts(), 1);
    assert_ne!(enclave.process_id(), Some(stalled));
    assert!(!Path::new(&format!("/proc/{stalled}")).exists(), "the stalled process was killed and reaped");
    let status: Status = session.call(STATUS_APP, &()).unwrap();
    assert_eq!(status.measurement, before.measurement);
    let after = enclave.evidence();
    assert_eq!((after.report_signer, after.encryption_key), (before.report_signer, before.encryption_key));
    assert_eq!(enclave.call(&Ecall::Ping, &[]).unwrap().0, EcallResult::Pong);
}

#[test]
fn oversized_and_out_of_order_requests_are_refused() {
    let state = tempfile::tempdir().unwrap();
    let mut config = SimulatedConfig::new(PROGRAM, state.path(), PLATFORM);
    config.max_body = 1024;
    let enclave = SimulatedEnclave::launch(config).unwrap();
    assert!(matches!(
        enclave.call(&Ecall::Transfer, &[0; 2048]),
        Err(EnclaveError::TooLarge { size: 2048, limit: 1024 })
    ));
    assert_eq!(enclave.call(&Ecall::Transfer, &[0; 1024]).unwrap().0, EcallResult::Transferred { bytes: 1024 });
    let refused = |result: Result<(EcallResult, Vec<u8>), EnclaveError>, code| match result {
        Err(EnclaveError::Refused(refusal)) => assert_eq!(refusal.code, code),
        other => panic!("expected refusal {code:?}, got {other:?}"),
    };
    refused(enclave.call(&Ecall::SessionRecord { session: 99 }, b"record"), RefusalCode::UnknownSession);
    refused(enclave.call(&Ecall::SessionFinish { session: 99 }, b"finish"), RefusalCode::UnknownSession);
    refused(enclave.call(&Ecall::SessionOpen, b"short hello"), RefusalCode::Handshake);
    // The enclave is still healthy after all of that.
    assert_eq!(enclave.call(&Ecall::Ping, &[]).unwrap().0, EcallResult::Pong);
    assert_eq!(enclave.restarts(), 0);
}

#[test]
fn session_table_is_bounded() {
    use healthchain_crypto::session::{self as protocol, ServerHello};
    use healthchain_enclave::runtime::MAX_SESSIONS;

    let state = tempfile::tempdir().unwrap();
    let enclave = launch(state.path());
    let identity = trusted(&enclave);
    let client = EthKey::generate(&mut rand::rng());
    let open = || {
        let (waiting, hello) = protocol::client_start(client.clone(), identity, &mut rand::rng());
        let (result, reply) = enclave.call(&Ecall::SessionOpen, &hello.to_bytes())?;
        let EcallResult::SessionOpened { session } = result else { panic!("unexpected {result:?}") };
        Ok::<_, EnclaveError>((session, waiting, ServerHello::from_bytes(&reply).unwrap()))
    };

    // Abandoned handshakes beyond the limit push out the oldest one.
    let (first, first_state, first_reply) = open().unwrap();
    for _ in 0..MAX_SESSIONS {
        open().unwrap();
    }
    let (_, finish) = first_state.finish(&first_reply).unwrap();
    match enclave.call(&Ecall::SessionFinish { session: first }, &finish.to_bytes()) {
        Err(EnclaveError::Refused(refusal)) => assert_eq!(refusal.code, RefusalCode::UnknownSession),
        other => panic!("the oldest abandoned handshake should be gone, got {other:?}"),
    }

    // Established sessions are never evicted: when all slots hold one, a new client is
    // told the enclave is busy.
    let fresh = tempfile::tempdir().unwrap();
    let enclave = launch(fresh.path());
    let identity = trusted(&enclave);
    let mut sessions = Vec::new();
    for _ in 0..MAX_SESSIONS {
        sessions.push(client::connect(&enclave, client.clone(), identity).unwrap());
    }
    match client::connect(&enclave, client.clone(), identity) {
        Err(ClientError::Enclave(EnclaveError::Refused(refusal))) => assert_eq!(refusal.code, RefusalCode::Busy),
        Err(other) => panic!("expected a busy refusal, got {other}"),
        Ok(_) => panic!("expected a busy refusal"),
    }
    let closed = sessions.pop().unwrap();
    closed.close().unwrap();
    let mut again = client::connect(&enclave, client, identity).unwrap();
    let _: Status = again.call(STATUS_APP, &()).unwrap();
}

#[test]
fn an_enclave_without_a_directory_neither_provisions_nor_installs_keys() {
    use healthchain_enclave::provision::{self, JoinError, JoinPolicy, ProvisionError};
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (provider, joiner) = (launch(first.path()), launch(second.path()));
    let policy = JoinPolicy { platforms: vec![platform_address(PLATFORM).into()], accept_simulated: true };
    // no chain to check approvals against: nothing is handed out
    match provision::join(&provider, &joiner, &policy) {
        Err(JoinError::Refused(ProvisionError::NoDirectory)) => {}
        other => panic!("expected NoDirectory, got {other:?}"),
    }
    // an undecodable bundle is refused before anything else; the instance keeps its keys
    let before = joiner.evidence();
    match joiner.call(&Ecall::Install, b"not a bundle") {
        Ok((EcallResult::ProvisionRefused(ProvisionError::Tampered(_)), _)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(joiner.evidence(), before);
    assert_eq!(launch(second.path()).evidence(), before, "its sealed keys are unchanged");
}
