//! The attested session as either end receives it: the three handshake messages (each
//! decoded, then run against a real handshake state) and records on an established session.
//! Only the genuine messages may be accepted; anything else is a typed refusal.
//!
//! Input: a selector byte (0: client hello, 1: server hello, 2: client finish, 3: records),
//! then the message; records are pieces (`healthchain_fuzz::input`) after a direction byte
//! (even: client to enclave).
#![no_main]

use std::sync::{Mutex, OnceLock};

use healthchain_crypto::session::{ClientFinish, ClientHello, ServerHello, SessionError};
use healthchain_fuzz::fixtures::{self, Handshake};
use healthchain_fuzz::input::{pieces, selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, message)) = selector(data) else { return };
    match mode % 4 {
        0 => client_hello(message),
        1 => server_hello(message),
        2 => client_finish(message),
        _ => records(message),
    }
});

/// The genuine handshake, run once: what the enclave answers and the client finishes with.
fn genuine() -> &'static (ServerHello, ClientFinish) {
    static GENUINE: OnceLock<(ServerHello, ClientFinish)> = OnceLock::new();
    GENUINE.get_or_init(|| {
        let handshake = fixtures::handshake();
        (handshake.reply, handshake.finish)
    })
}

fn assert_malformed(error: SessionError) {
    assert!(matches!(error, SessionError::Malformed { .. }), "a decoder refuses only lengths: {error}");
}

/// The enclave answers any well-formed hello, or refuses a low-order key.
fn client_hello(bytes: &[u8]) {
    let hello = match ClientHello::from_bytes(bytes) {
        Ok(hello) => hello,
        Err(error) => return assert_malformed(error),
    };
    assert_eq!(hello.to_bytes().as_slice(), bytes);
    if let Err(error) = fixtures::server_respond(&hello) {
        assert!(matches!(error, SessionError::WeakKey(_)), "unexpected refusal: {error}");
    }
}

/// The client finishes only on the enclave's genuine answer.
fn server_hello(bytes: &[u8]) {
    let reply = match ServerHello::from_bytes(bytes) {
        Ok(reply) => reply,
        Err(error) => return assert_malformed(error),
    };
    assert_eq!(reply.to_bytes().as_slice(), bytes);
    let (client, _) = fixtures::client_start();
    if client.finish(&reply).is_ok() {
        assert_eq!(reply, genuine().0, "only the enclave's own answer finishes the handshake");
    }
}

/// The enclave establishes the session only on the client's genuine finish.
fn client_finish(bytes: &[u8]) {
    let finish = match ClientFinish::from_bytes(bytes) {
        Ok(finish) => finish,
        Err(error) => return assert_malformed(error),
    };
    assert_eq!(finish.to_bytes().as_slice(), bytes);
    let (_, hello) = fixtures::client_start();
    let (server, _) = fixtures::server_respond(&hello).expect("the genuine hello is answered");
    if server.finish(&finish).is_ok() {
        assert_eq!(finish, genuine().1, "only the client's own finish establishes the session");
    }
}

/// Records open only if they are exactly what the peer sealed at that sequence number.
fn records(bytes: &[u8]) {
    // Both ends stay established between inputs until a record opens (which advances the
    // sequence numbers): a handshake per input would cost four signature operations.
    static SESSIONS: Mutex<Option<Handshake>> = Mutex::new(None);
    let Some((direction, records)) = selector(bytes) else { return };
    let mut sessions = SESSIONS.lock().expect("one fuzz thread");
    let handshake = sessions.get_or_insert_with(fixtures::handshake);
    let (receiver, sender) = if direction % 2 == 0 {
        (&mut handshake.server, &mut handshake.client)
    } else {
        (&mut handshake.client, &mut handshake.server)
    };
    let mut advanced = false;
    for record in pieces(records) {
        match receiver.open(record) {
            // AES-GCM under the sequence number as nonce is deterministic: the peer sealing
            // the same plaintext next gives the same bytes, or the record was forged
            Ok(plaintext) => {
                advanced = true;
                assert_eq!(sender.seal(&plaintext).expect("the sequence is far from exhausted"), record);
            }
            Err(
                SessionError::Malformed { .. }
                | SessionError::Replay { .. }
                | SessionError::OutOfOrder { .. }
                | SessionError::Tampered { .. },
            ) => {}
            Err(error) => panic!("unexpected refusal of a record: {error}"),
        }
    }
    if advanced {
        *sessions = None;
    }
}
