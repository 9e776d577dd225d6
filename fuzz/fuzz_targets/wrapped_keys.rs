//! Key wrapping as it arrives from outside: wrapped keys (`T`, `EK` from manifests and the
//! chain, results to data users) opened with the enclave's real key, committee members'
//! posted decryption shares checked and combined against a real 2-of-3 committee, and the
//! key and share encodings. A share's proof verifies only for the member's genuine share,
//! and enough genuine shares always open the outer layer to the genuine inner one.
//!
//! Input: a selector byte (0: wrapped key, 1: decryption shares, 2: keys, 3: a committee
//! from posted members), then pieces (`healthchain_fuzz::input`) or bytes.
#![no_main]

use std::sync::OnceLock;

use healthchain_crypto::keywrap::{
    Committee, DecryptionShare, KeyShare, PublicKey, Purpose, SecretKey, WrapError, Wrapped,
};
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::{pieces, selector};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    enclave: SecretKey,
    committee: Committee,
    outer: Wrapped,
    inner: Vec<u8>,
    shares: Vec<DecryptionShare>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        enclave: fixtures::encryption_key(),
        committee: fixtures::committee().0,
        outer: fixtures::outer_layer(),
        inner: fixtures::inner_layer().to_bytes(),
        shares: fixtures::decryption_shares(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = selector(data) else { return };
    match mode % 4 {
        0 => wrapped(bytes),
        1 => shares(bytes),
        2 => keys(bytes),
        _ => committee(bytes),
    }
});

fn wrapped(bytes: &[u8]) {
    let wrapped = match Wrapped::from_bytes(bytes) {
        Ok(wrapped) => wrapped,
        Err(error) => return assert!(matches!(error, WrapError::Truncated | WrapError::Encoding(_)), "{error}"),
    };
    assert_eq!(wrapped.to_bytes(), bytes);
    for purpose in [Purpose::EnclaveLayer, Purpose::CommitteeLayer, Purpose::Result] {
        for context in [fixtures::WRAP_CONTEXT, b""] {
            if let Err(error) = fixture().enclave.unwrap_key(&wrapped, purpose, context) {
                assert_eq!(error, WrapError::DoesNotOpen);
            }
        }
    }
}

fn shares(bytes: &[u8]) {
    let fixture = fixture();
    let mut posted = Vec::new();
    for piece in pieces(bytes) {
        let Ok(share) = DecryptionShare::from_bytes(piece) else { continue };
        assert_eq!(share.to_bytes().as_slice(), piece);
        if fixture.committee.verify_share(&fixture.outer, &share, fixtures::PROOF_CONTEXT).is_ok() {
            let genuine = fixture.shares.iter().find(|s| s.index() == share.index()).expect("a member's share");
            assert_eq!(share.share_point(), genuine.share_point(), "a proof verified for a false share");
        }
        posted.push(share);
    }
    match fixture.committee.open(&fixture.outer, &posted, fixtures::PROOF_CONTEXT, fixtures::WRAP_CONTEXT) {
        Ok(inner) => assert_eq!(inner, fixture.inner),
        Err(error) => assert!(matches!(error, WrapError::NotEnoughShares { .. }), "valid shares must open: {error}"),
    }
}

fn keys(bytes: &[u8]) {
    if let Ok(key) = PublicKey::from_bytes(bytes) {
        assert_eq!(key.to_bytes().as_slice(), bytes);
    }
    if let Ok(key) = SecretKey::from_bytes(bytes) {
        assert_eq!(key.to_bytes().as_slice(), bytes);
    }
    if let Ok(share) = KeyShare::from_bytes(bytes) {
        assert_eq!(share.to_bytes().as_slice(), bytes);
    }
}

/// A committee as rebuilt from on-chain data: threshold byte, then members as pieces of
/// index (4 bytes, big-endian) ‖ public key.
fn committee(bytes: &[u8]) {
    let Some((threshold, members)) = selector(bytes) else { return };
    let members: Vec<(u32, PublicKey)> = pieces(members)
        .filter_map(|piece| {
            let (index, key) = piece.split_first_chunk::<4>()?;
            Some((u32::from_be_bytes(*index), PublicKey::from_bytes(key).ok()?))
        })
        .collect();
    let fixture = fixture();
    let Ok(committee) = Committee::new(usize::from(threshold), fixture.committee.key(), members) else { return };
    for share in &fixture.shares {
        let _ = committee.verify_share(&fixture.outer, share, fixtures::PROOF_CONTEXT);
    }
    let _ = committee.open(&fixture.outer, &fixture.shares, fixtures::PROOF_CONTEXT, fixtures::WRAP_CONTEXT);
}
