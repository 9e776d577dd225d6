//! Every type that holds secret key material wipes it when dropped: a compile-time check,
//! so removing a `ZeroizeOnDrop` (or holding a secret in a type without it) fails the build
//! of this test.

use zeroize::ZeroizeOnDrop;

fn wiped_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn secret_key_material_is_wiped_on_drop() {
    wiped_on_drop::<healthchain_crypto::envelope::RecordKey>(); // a record's data key
    wiped_on_drop::<healthchain_crypto::keywrap::SecretKey>(); // the enclave's unwrapping key
    wiped_on_drop::<healthchain_crypto::keywrap::KeyShare>(); // a committee member's share
    wiped_on_drop::<healthchain_crypto::chameleon::Trapdoor>(); // a record's chameleon trapdoor
    wiped_on_drop::<healthchain_crypto::dh::Secret>(); // X25519 secrets
    wiped_on_drop::<healthchain_crypto::dh::SharedSecret>();
    wiped_on_drop::<k256::ecdsa::SigningKey>(); // inside EthKey, every account's key
    wiped_on_drop::<zeroize::Zeroizing<[u8; 32]>>(); // treatment keys, session keys, SQLCipher keys
}
