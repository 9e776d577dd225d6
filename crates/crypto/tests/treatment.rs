//! The treatment key: delivery to published X25519 keys and `Enc(Ptk, ·)`, with every
//! rejection path.

use alloy_primitives::Address;
use healthchain_crypto::dh;
use healthchain_crypto::signing::EthKey;
use healthchain_crypto::treatment::{Purpose, SEALED_LEN, TreatmentError, TreatmentKey, account_session_secret};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn patient() -> Address {
    Address::repeat_byte(0x11)
}

#[test]
fn a_delivery_opens_for_its_recipient_and_patient_only() {
    let mut rng = StdRng::seed_from_u64(1);
    let ptk = TreatmentKey::generate(&mut rng);
    let doctor = dh::Secret::generate(&mut rng);
    let other = dh::Secret::generate(&mut rng);
    let sealed = ptk.seal_to(&doctor.public_key(), patient(), &mut rng).expect("seal");
    let opened = TreatmentKey::open_sealed(&doctor, &sealed, patient()).expect("the recipient opens it");
    let message = ptk.encrypt(Purpose::Warrant, patient(), b"warrant", &mut rng);
    assert_eq!(opened.decrypt(Purpose::Warrant, patient(), &message).expect("same key"), b"warrant");

    let rejected = TreatmentError::Rejected { what: "treatment key delivery" };
    assert_eq!(TreatmentKey::open_sealed(&other, &sealed, patient()).unwrap_err(), rejected);
    assert_eq!(TreatmentKey::open_sealed(&doctor, &sealed, Address::repeat_byte(0x22)).unwrap_err(), rejected);
    for position in [0, 40, SEALED_LEN - 1] {
        let mut altered = sealed;
        altered[position] ^= 1;
        assert!(TreatmentKey::open_sealed(&doctor, &altered, patient()).is_err(), "byte {position} altered");
    }
    assert!(matches!(
        TreatmentKey::open_sealed(&doctor, &sealed[..SEALED_LEN - 1], patient()),
        Err(TreatmentError::Malformed { .. })
    ));
}

#[test]
fn a_low_order_recipient_key_is_refused() {
    let mut rng = StdRng::seed_from_u64(2);
    let ptk = TreatmentKey::generate(&mut rng);
    assert!(matches!(ptk.seal_to(&[0u8; 32], patient(), &mut rng), Err(TreatmentError::WeakKey(_))));
}

#[test]
fn messages_are_bound_to_purpose_patient_and_bytes() {
    let mut rng = StdRng::seed_from_u64(3);
    let ptk = TreatmentKey::generate(&mut rng);
    let message = ptk.encrypt(Purpose::Warrant, patient(), b"warrant", &mut rng);
    let rejected = TreatmentError::Rejected { what: "message under the treatment key" };
    assert_eq!(ptk.decrypt(Purpose::Appointment, patient(), &message).unwrap_err(), rejected);
    assert_eq!(ptk.decrypt(Purpose::Warrant, Address::repeat_byte(0x22), &message).unwrap_err(), rejected);
    assert_eq!(TreatmentKey::generate(&mut rng).decrypt(Purpose::Warrant, patient(), &message).unwrap_err(), rejected);
    let mut altered = message.clone();
    *altered.last_mut().expect("non-empty") ^= 1;
    assert_eq!(ptk.decrypt(Purpose::Warrant, patient(), &altered).unwrap_err(), rejected);
    assert!(matches!(ptk.decrypt(Purpose::Warrant, patient(), &message[..27]), Err(TreatmentError::Malformed { .. })));
    let again = ptk.encrypt(Purpose::Warrant, patient(), b"warrant", &mut rng);
    assert_ne!(again, message, "a fresh nonce each time");
}

#[test]
fn an_accounts_session_key_is_derived_from_its_ledger_key() {
    let mut rng = StdRng::seed_from_u64(4);
    let account = EthKey::generate(&mut rng);
    let again = EthKey::from_bytes(&account.to_bytes()).expect("key");
    assert_eq!(account_session_secret(&account).public_key(), account_session_secret(&again).public_key());
    let other = EthKey::generate(&mut rng);
    assert_ne!(account_session_secret(&account).public_key(), account_session_secret(&other).public_key());
}
