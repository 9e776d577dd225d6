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

/// Seed 000 §5.2 publishes the random numbers of its two ElGamal layers: `T = key + R_T·pk_TEE`,
/// `EK = T + R_A·pk_KA`, with `R_T` and `R_A` uploaded to the `keyAuthorization` contract.
/// Anyone holding the public data then strips both layers: `key = EK − R_A·pk_KA − R_T·pk_TEE`.
/// Our wrapping publishes only `C1 = r·G` per layer, and the same computation recovers nothing.
#[test]
fn seed_literal_key_transport_leaks_the_key_ours_does_not() {
    use curve25519_dalek::{RistrettoPoint, Scalar, constants::RISTRETTO_BASEPOINT_TABLE};

    let mut rng = StdRng::seed_from_u64(11);
    // The seed's construction, with the key encoded as a group element.
    let (sk_tee, sk_ka) = (Scalar::random(&mut rng), Scalar::random(&mut rng));
    let (pk_tee, pk_ka) = (RISTRETTO_BASEPOINT_TABLE * &sk_tee, RISTRETTO_BASEPOINT_TABLE * &sk_ka);
    let key_point = RistrettoPoint::random(&mut rng);
    let (r_t, r_a) = (Scalar::random(&mut rng), Scalar::random(&mut rng));
    let t = key_point + r_t * pk_tee;
    let ek = t + r_a * pk_ka;
    // Public: ek, r_t, r_a, pk_tee, pk_ka. No secret key is used below.
    let recovered = ek - r_a * pk_ka - r_t * pk_tee;
    assert_eq!(recovered, key_point, "the literal scheme hands the key to every chain reader");

    // Ours: everything public (both wrapped layers as published, every public key).
    let enclave = SecretKey::generate(&mut rng);
    let (committee, _) = keywrap::deal_committee(2, 3, &mut rng).unwrap();
    let record_key = RecordKey::generate(&mut rng);
    let inner = keywrap::wrap(&enclave.public_key(), record_key.as_bytes(), Purpose::EnclaveLayer, RECORD, &mut rng);
    let outer = keywrap::wrap(&committee.key(), &inner.to_bytes(), Purpose::CommitteeLayer, RECORD, &mut rng);
    let published = outer.to_bytes();
    assert!(!published.windows(32).any(|w| w == record_key.as_bytes()), "the key is not in the clear");
    // The seed's attack needs each layer's random scalar; we publish only its point
    // C1 = r·G. Keys made from public values (C1's encoding as a scalar, small scalars) do
    // not open either layer.
    let c1_as_scalar = Scalar::from_bytes_mod_order(outer.ephemeral());
    for guess in [c1_as_scalar, Scalar::ONE, Scalar::from(2u8)] {
        let key = SecretKey::from_bytes(&guess.to_bytes()).unwrap();
        assert!(key.unwrap_key(&outer, Purpose::CommitteeLayer, RECORD).is_err());
        assert!(key.unwrap_key(&inner, Purpose::EnclaveLayer, RECORD).is_err());
    }
    // Only t committee shares open the outer layer, and what they release is still sealed to
    // the enclave.
    assert!(committee.open(&outer, &[], REQUEST, RECORD).is_err());
}

/// Seed 000 §5.2 literally: `T = key + R_T·pk_TEE`, `EK = T + R_A·pk_asc`, with `R_T` and
/// `R_A` uploaded to the contract. Anyone reading the chain computes
/// `key = EK − R_A·pk_asc − R_T·pk_TEE`. Ours publishes only `EK` (ephemeral points
/// `r·G`, never `r`) and the public keys: with the same public data nobody opens it, not
/// even by forging "decryption shares" out of public points.
#[test]
fn the_papers_published_randomness_leaks_the_key_and_ours_does_not() {
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
    use curve25519_dalek::{RistrettoPoint, Scalar};
    let mut rng = StdRng::seed_from_u64(99);

    // the paper's construction (key as a group element, as in its formulas)
    let sk_tee = Scalar::random(&mut rng);
    let sk_asc = Scalar::random(&mut rng);
    let (pk_tee, pk_asc) = (sk_tee * G, sk_asc * G);
    let key = RistrettoPoint::mul_base(&Scalar::random(&mut rng));
    let (r_t, r_a) = (Scalar::random(&mut rng), Scalar::random(&mut rng));
    let t = key + r_t * pk_tee;
    let ek = t + r_a * pk_asc;
    // public: ek, r_t, r_a (on the contract), pk_tee, pk_asc (on the chain)
    let recovered = ek - r_a * pk_asc - r_t * pk_tee;
    assert_eq!(recovered, key, "anyone recovers the paper's key from public data");

    // ours, with the same roles: enclave key inside, a 2-of-3 committee outside
    let enclave = SecretKey::generate(&mut rng);
    let (committee, _members) = keywrap::deal_committee(2, 3, &mut rng).unwrap();
    let record_key = RecordKey::generate(&mut rng);
    let outer = wrap_both(&enclave, &committee, &record_key, &mut rng);
    // everything public: EK's bytes, the committee key and members' share keys, the
    // enclave's public key; "shares" built from those public points do not verify
    let forged: Vec<DecryptionShare> = committee
        .members()
        .iter()
        .map(|(index, public)| {
            let mut bytes = index.to_be_bytes().to_vec();
            bytes.extend_from_slice(&public.to_bytes());
            bytes.extend_from_slice(&[0u8; 64]);
            DecryptionShare::from_bytes(&bytes).unwrap()
        })
        .collect();
    assert!(matches!(
        committee.open(&outer, &forged, REQUEST, RECORD),
        Err(WrapError::NotEnoughShares { needed: 2, got: 0 })
    ));
    // a key made from public data opens neither layer
    let mut digest = healthchain_crypto::hash::sha256(&outer.to_bytes());
    digest[31] &= 0x0f; // a canonical scalar
    let guess = SecretKey::from_bytes(&digest).unwrap();
    assert_eq!(guess.unwrap_key(&outer, Purpose::CommitteeLayer, RECORD), Err(WrapError::DoesNotOpen));
}

#[test]
fn derived_keys_are_deterministic_per_secret_and_holder_and_work() {
    let a = SecretKey::derive(b"healthchain/test/v1", b"secret one", b"holder a");
    assert_eq!(a.to_bytes(), SecretKey::derive(b"healthchain/test/v1", b"secret one", b"holder a").to_bytes());
    for other in [
        SecretKey::derive(b"healthchain/test/v1", b"secret two", b"holder a"),
        SecretKey::derive(b"healthchain/test/v1", b"secret one", b"holder b"),
        SecretKey::derive(b"healthchain/other/v1", b"secret one", b"holder a"),
    ] {
        assert_ne!(a.public_key(), other.public_key());
    }
    assert_eq!(SecretKey::from_bytes(&a.to_bytes()).map(|k| k.public_key()), Ok(a.public_key()));
    let mut rng = StdRng::seed_from_u64(7);
    let wrapped = keywrap::wrap(&a.public_key(), b"result", Purpose::Result, b"request 1", &mut rng);
    assert_eq!(a.unwrap_key(&wrapped, Purpose::Result, b"request 1").as_deref(), Ok(&b"result"[..]));
}
