//! The attested session protocol: handshake, record layer, and every rejection path.

use alloy_primitives::B256;
use healthchain_crypto::session::{
    self, ClientFinish, ClientHello, EnclaveIdentity, ServerHello, Session, SessionError,
};
use healthchain_crypto::signing::{EthKey, SignatureError};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

struct Parties {
    client: EthKey,
    enclave: EthKey,
    identity: EnclaveIdentity,
}

fn parties(rng: &mut StdRng) -> Parties {
    let client = EthKey::generate(rng);
    let enclave = EthKey::generate(rng);
    let identity = EnclaveIdentity { id: B256::repeat_byte(0xe1), report_signer: enclave.address() };
    Parties { client, enclave, identity }
}

fn handshake(p: &Parties, rng: &mut StdRng) -> (Session, Session) {
    let (client_state, hello) = session::client_start(p.client.clone(), p.identity, rng);
    let hello = ClientHello::from_bytes(&hello.to_bytes()).unwrap();
    let (server_state, reply) = session::server_respond(&p.enclave, p.identity.id, &hello, rng).unwrap();
    let reply = ServerHello::from_bytes(&reply.to_bytes()).unwrap();
    let (client_session, finish) = client_state.finish(&reply).unwrap();
    let finish = ClientFinish::from_bytes(&finish.to_bytes()).unwrap();
    let (server_session, who) = server_state.finish(&finish).unwrap();
    assert_eq!(who, p.client.address());
    assert_eq!(client_session.id(), server_session.id());
    (client_session, server_session)
}

#[test]
fn handshake_and_records_both_ways() {
    let mut rng = StdRng::seed_from_u64(1);
    let p = parties(&mut rng);
    let (mut client, mut server) = handshake(&p, &mut rng);
    for i in 0..5u8 {
        let request = client.seal(&[i; 100]).unwrap();
        assert_eq!(server.open(&request).unwrap(), vec![i; 100]);
        let response = server.seal(&[i ^ 0xff; 3]).unwrap();
        assert_eq!(client.open(&response).unwrap(), vec![i ^ 0xff; 3]);
    }
    // A record cannot be reflected back to its sender (directions use distinct keys).
    let own = client.seal(b"x").unwrap();
    assert!(client.open(&own).is_err());
}

#[test]
fn session_rejects_replay_and_swapped_keys() {
    let mut rng = StdRng::seed_from_u64(2);
    let p = parties(&mut rng);

    // Record layer: replay, reorder, drop, flip.
    let (mut client, mut server) = handshake(&p, &mut rng);
    let first = client.seal(b"first").unwrap();
    let second = client.seal(b"second").unwrap();
    let third = client.seal(b"third").unwrap();
    assert_eq!(server.open(&second), Err(SessionError::OutOfOrder { got: 1, expected: 0 }));
    server.open(&first).unwrap();
    assert_eq!(server.open(&first), Err(SessionError::Replay { got: 0, expected: 1 }));
    let mut flipped = second.clone();
    flipped[10] ^= 1;
    assert_eq!(server.open(&flipped), Err(SessionError::Tampered { sequence: 1 }));
    server.open(&second).unwrap();
    server.open(&third).unwrap();
    // A record from another session between the same parties.
    let (mut other_client, _) = handshake(&p, &mut rng);
    let foreign = other_client.seal(b"foreign").unwrap();
    let (_, mut fresh_server) = handshake(&p, &mut rng);
    assert_eq!(fresh_server.open(&foreign), Err(SessionError::Tampered { sequence: 0 }));

    // Handshake: a man in the middle swapping the client's A for its own.
    let (client_state, mut hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (mallory_state, mallory_hello) = session::client_start(EthKey::generate(&mut rng), p.identity, &mut rng);
    drop(mallory_state);
    hello.ephemeral = mallory_hello.ephemeral;
    let (server_state, reply) = session::server_respond(&p.enclave, p.identity.id, &hello, &mut rng).unwrap();
    assert!(matches!(client_state.finish(&reply), Err(SessionError::BadSignature { party: "enclave", .. })));
    drop(server_state);

    // Swapping the enclave's B (signature still the enclave's own, over the real B).
    let (client_state, hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (_, mut reply) = session::server_respond(&p.enclave, p.identity.id, &hello, &mut rng).unwrap();
    let (_, other_reply) = session::server_respond(&p.enclave, p.identity.id, &hello, &mut rng).unwrap();
    reply.ephemeral = other_reply.ephemeral;
    assert!(matches!(client_state.finish(&reply), Err(SessionError::BadSignature { party: "enclave", .. })));

    // Replaying an old server hello to a new client hello.
    let (client_state, _) = session::client_start(p.client.clone(), p.identity, &mut rng);
    assert!(matches!(client_state.finish(&other_reply), Err(SessionError::BadSignature { .. })));

    // Replaying a client finish from one handshake into another.
    let (client_a, hello_a) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (_, reply_a) = session::server_respond(&p.enclave, p.identity.id, &hello_a, &mut rng).unwrap();
    let (_, finish_a) = client_a.finish(&reply_a).unwrap();
    let (_, hello_b) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (server_b, _) = session::server_respond(&p.enclave, p.identity.id, &hello_b, &mut rng).unwrap();
    assert!(matches!(server_b.finish(&finish_a), Err(SessionError::BadSignature { party: "client", .. })));
}

#[test]
fn wrong_identities_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let p = parties(&mut rng);

    // An enclave whose report key is not the registered one.
    let impostor = EthKey::generate(&mut rng);
    let (client_state, hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (_, reply) = session::server_respond(&impostor, p.identity.id, &hello, &mut rng).unwrap();
    match client_state.finish(&reply) {
        Err(SessionError::BadSignature { party: "enclave", source: SignatureError::WrongSigner { expected, .. } }) => {
            assert_eq!(expected, p.enclave.address())
        }
        other => panic!("expected a wrong-signer refusal, got {:?}", other.err()),
    }

    // An enclave answering under another id.
    let (client_state, hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    let (_, reply) = session::server_respond(&p.enclave, B256::repeat_byte(2), &hello, &mut rng).unwrap();
    assert!(matches!(client_state.finish(&reply), Err(SessionError::WrongEnclave { .. })));

    // A client claiming an address whose key it does not hold.
    let victim = EthKey::generate(&mut rng);
    let (client_state, mut hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    hello.client = victim.address();
    let (server_state, reply) = session::server_respond(&p.enclave, p.identity.id, &hello, &mut rng).unwrap();
    // The client's transcript differs from the server's, so it rejects the server first;
    // had it continued, the server would reject the signature by the wrong key.
    assert!(client_state.finish(&reply).is_err());
    let forged = ClientFinish { signature: p.client.sign_digest(&B256::ZERO), mac: [0; 32] };
    assert!(matches!(server_state.finish(&forged), Err(SessionError::BadSignature { party: "client", .. })));

    // A low-order X25519 key is refused, not turned into an all-zero secret.
    let (_, mut hello) = session::client_start(p.client.clone(), p.identity, &mut rng);
    hello.ephemeral = [0; 32];
    assert!(matches!(
        session::server_respond(&p.enclave, p.identity.id, &hello, &mut rng),
        Err(SessionError::WeakKey(_))
    ));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ClientHello::from_bytes(&bytes);
        let _ = ServerHello::from_bytes(&bytes);
        let _ = ClientFinish::from_bytes(&bytes);
        let mut rng = StdRng::seed_from_u64(9);
        let p = parties(&mut rng);
        let (_, mut server) = handshake(&p, &mut rng);
        prop_assert!(server.open(&bytes).is_err());
    }

    #[test]
    fn any_record_bit_flip_fails(len in 0usize..2000, position: usize, bit in 0u8..8) {
        let mut rng = StdRng::seed_from_u64(10);
        let p = parties(&mut rng);
        let (mut client, mut server) = handshake(&p, &mut rng);
        let mut record = client.seal(&vec![7u8; len]).unwrap();
        let i = position % record.len();
        record[i] ^= 1 << bit;
        prop_assert!(server.open(&record).is_err());
    }
}
