//! Two-layer key wrapping and the threshold committee.

use healthchain_crypto::envelope::RecordKey;
use healthchain_crypto::keywrap::{self, Committee, DecryptionShare, KeyShare, Purpose, SecretKey, WrapError, Wrapped};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

const RECORD: &[u8] = b"record-id";
const REQUEST: &[u8] = b"request-42";

/// Wraps a record key in both layers: enclave inside, committee outside.
fn wrap_both(enclave: &SecretKey, committee: &Committee, key: &RecordKey, rng: &mut StdRng) -> Wrapped {
    let inner = keywrap::wrap(&enclave.public_key(), key.as_bytes(), Purpose::EnclaveLayer, RECORD, rng);
    keywrap::wrap(&committee.key(), &inner.to_bytes(), Purpose::CommitteeLayer, RECORD, rng)
}

fn shares(members: &[KeyShare], outer: &Wrapped, rng: &mut StdRng) -> Vec<DecryptionShare> {
    members.iter().map(|m| m.decryption_share(outer, REQUEST, rng)).collect()
}

#[test]
fn threshold_any_t_shares_open() {
    let mut rng = StdRng::seed_from_u64(1);
    let enclave = SecretKey::generate(&mut rng);
    let record_key = RecordKey::generate(&mut rng);
    for (t, n) in [(1, 1), (2, 3), (3, 5)] {
        let (committee, members) = keywrap::deal_committee(t, n, &mut rng).unwrap();
        let outer = wrap_both(&enclave, &committee, &record_key, &mut rng);
        let all = shares(&members, &outer, &mut rng);
        // Every subset of size t opens the outer layer, and the enclave then opens T.
        for mask in 0u32..(1 << n) {
            let subset: Vec<DecryptionShare> =
                all.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect();
            let result = committee.open(&outer, &subset, REQUEST, RECORD);
            if subset.len() >= t {
                let inner = Wrapped::from_bytes(&result.unwrap()).unwrap();
                let opened = enclave.unwrap_key(&inner, Purpose::EnclaveLayer, RECORD).unwrap();
                assert_eq!(opened, record_key.as_bytes());
            } else {
                assert_eq!(result, Err(WrapError::NotEnoughShares { needed: t, got: subset.len() }));
            }
        }
    }
}

#[test]
fn bad_duplicate_and_foreign_shares_do_not_count() {
    let mut rng = StdRng::seed_from_u64(2);
    let enclave = SecretKey::generate(&mut rng);
    let (committee, members) = keywrap::deal_committee(2, 3, &mut rng).unwrap();
    let outer = wrap_both(&enclave, &committee, &RecordKey::generate(&mut rng), &mut rng);
    let good = members[0].decryption_share(&outer, REQUEST, &mut rng);

    // A share whose proof is for another request.
    let replayed = members[1].decryption_share(&outer, b"another request", &mut rng);
    assert_eq!(committee.verify_share(&outer, &replayed, REQUEST), Err(WrapError::BadShareProof { index: 2 }));
    // A forged share point with member 2's index and a copied proof.
    let mut forged_bytes = replayed.to_bytes();
    forged_bytes[4..36].copy_from_slice(&good.share_point());
    let forged = DecryptionShare::from_bytes(&forged_bytes).unwrap();
    assert!(committee.verify_share(&outer, &forged, REQUEST).is_err());
    // A member of another committee.
    let (_, strangers) = keywrap::deal_committee(2, 5, &mut rng).unwrap();
    let stranger = strangers[4].decryption_share(&outer, REQUEST, &mut rng);
    assert_eq!(committee.verify_share(&outer, &stranger, REQUEST), Err(WrapError::UnknownMember { index: 5 }));

    // None of these, nor a duplicate of the good one, helps reach t = 2 ...
    assert_eq!(
        committee.open(&outer, &[good, good, replayed, forged, stranger], REQUEST, RECORD),
        Err(WrapError::NotEnoughShares { needed: 2, got: 1 })
    );
    // ... and they do not stop an honest majority.
    let honest = members[2].decryption_share(&outer, REQUEST, &mut rng);
    assert!(committee.open(&outer, &[forged, good, replayed, honest], REQUEST, RECORD).is_ok());
}

#[test]
fn layers_are_bound_to_their_purpose_key_and_context() {
    let mut rng = StdRng::seed_from_u64(3);
    let enclave = SecretKey::generate(&mut rng);
    let other = SecretKey::generate(&mut rng);
    let wrapped = keywrap::wrap(&enclave.public_key(), b"secret", Purpose::EnclaveLayer, RECORD, &mut rng);
    assert_eq!(enclave.unwrap_key(&wrapped, Purpose::EnclaveLayer, RECORD).unwrap(), b"secret");
    assert_eq!(other.unwrap_key(&wrapped, Purpose::EnclaveLayer, RECORD), Err(WrapError::DoesNotOpen));
    assert_eq!(enclave.unwrap_key(&wrapped, Purpose::Result, RECORD), Err(WrapError::DoesNotOpen));
    assert_eq!(enclave.unwrap_key(&wrapped, Purpose::EnclaveLayer, b"other record"), Err(WrapError::DoesNotOpen));
    let mut tampered = wrapped.to_bytes();
    *tampered.last_mut().unwrap() ^= 1;
    let tampered = Wrapped::from_bytes(&tampered).unwrap();
    assert_eq!(enclave.unwrap_key(&tampered, Purpose::EnclaveLayer, RECORD), Err(WrapError::DoesNotOpen));
}

#[test]
fn committee_parameters_are_checked() {
    let mut rng = StdRng::seed_from_u64(4);
    assert!(matches!(keywrap::deal_committee(0, 3, &mut rng), Err(WrapError::InvalidThreshold { .. })));
    assert!(matches!(keywrap::deal_committee(4, 3, &mut rng), Err(WrapError::InvalidThreshold { .. })));
    let (committee, members) = keywrap::deal_committee(2, 3, &mut rng).unwrap();
    let rebuilt = Committee::new(2, committee.key(), committee.members().to_vec()).unwrap();
    assert_eq!(rebuilt, committee);
    let mut duplicated = committee.members().to_vec();
    duplicated[1] = duplicated[0];
    assert!(Committee::new(2, committee.key(), duplicated).is_err());
    assert_eq!(KeyShare::from_bytes(&members[1].to_bytes()).unwrap().public_key(), members[1].public_key());
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Wrapped::from_bytes(&bytes);
        let _ = DecryptionShare::from_bytes(&bytes);
        let _ = KeyShare::from_bytes(&bytes);
        let _ = SecretKey::from_bytes(&bytes);
        let _ = keywrap::PublicKey::from_bytes(&bytes);
    }

    #[test]
    fn wrap_round_trips(seed: u64, plaintext in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut rng = StdRng::seed_from_u64(seed);
        let key = SecretKey::generate(&mut rng);
        let wrapped = keywrap::wrap(&key.public_key(), &plaintext, Purpose::Result, b"ctx", &mut rng);
        let decoded = Wrapped::from_bytes(&wrapped.to_bytes()).unwrap();
        prop_assert_eq!(key.unwrap_key(&decoded, Purpose::Result, b"ctx").unwrap(), plaintext);
    }
}
