//! The chameleon hash's decoders — public keys from manifests, anchors from the chain,
//! check strings from the chain and from the store's index, trapdoors from update requests —
//! and `check` on what they decode. Canonical encodings are unique, so whatever decodes
//! re-encodes to the same bytes; the record's anchor opens only for the message and check
//! string it was made with (anything else would be a collision without the trapdoor); and
//! adapting with the trapdoor opens the anchor for any message.
//!
//! Input: pieces (`healthchain_fuzz::input`): public key (also read as a trapdoor), hash,
//! check string, message.
#![no_main]

use std::sync::OnceLock;

use alloy_primitives::B256;
use healthchain_crypto::chameleon::{self, CheckString, HashValue, PublicKey, Trapdoor};
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::pieces;
use healthchain_update::history::check_string_of;
use libfuzzer_sys::fuzz_target;

/// The record's trapdoor, its anchor and the check string opening it for
/// [`fixtures::CHAMELEON_MESSAGE`], made once.
struct Anchored {
    trapdoor: Trapdoor,
    anchor: HashValue,
    check: CheckString,
}

fn anchored() -> &'static Anchored {
    static ANCHORED: OnceLock<Anchored> = OnceLock::new();
    ANCHORED.get_or_init(|| {
        let (anchor, check) = fixtures::chameleon_anchor();
        Anchored { trapdoor: fixtures::chameleon_trapdoor(), anchor, check }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = pieces(data);
    let [key, hash, check, message] = std::array::from_fn(|_| pieces.next().unwrap_or_default());

    if let Ok(trapdoor) = Trapdoor::from_bytes(key) {
        assert_eq!(trapdoor.to_bytes().as_slice(), key);
    }
    let key = PublicKey::from_bytes(key).inspect(|k| assert_eq!(k.to_bytes().as_slice(), key)).ok();
    let hash = HashValue::from_bytes(hash).inspect(|h| assert_eq!(h.to_bytes().as_slice(), hash)).ok();
    let check_words: Option<[B256; 2]> =
        (check.len() == 64).then(|| [B256::from_slice(&check[..32]), B256::from_slice(&check[32..])]);
    let check = CheckString::from_bytes(check).inspect(|c| assert_eq!(c.to_bytes().as_slice(), check)).ok();
    if let Some(words) = check_words {
        assert_eq!(check_string_of(&words), check, "the on-chain words decode as the bytes do");
    }

    let anchored = anchored();
    let public = anchored.trapdoor.public_key();
    if let Some(check) = &check {
        if chameleon::check(&public, message, &anchored.anchor, check).is_ok() {
            assert_eq!(
                (message, check),
                (fixtures::CHAMELEON_MESSAGE, &anchored.check),
                "a collision without the trapdoor"
            );
        }
        if let (Some(key), Some(hash)) = (&key, &hash) {
            let _ = chameleon::check(key, message, hash, check);
        }
    }
    let adapted = chameleon::adapt(&anchored.trapdoor, &anchored.anchor, message, &mut fixtures::rng(0));
    assert_eq!(chameleon::check(&public, message, &anchored.anchor, &adapted), Ok(()));
});
