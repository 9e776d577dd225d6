//! The chameleon hash: correctness, tamper rejection, and key-exposure freedom.

use curve25519_dalek::{RistrettoPoint, Scalar, constants::RISTRETTO_BASEPOINT_TABLE};
use healthchain_crypto::chameleon::{self, CheckString, HashValue, PublicKey, Trapdoor};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

fn scalar(bytes: [u8; 32]) -> Scalar {
    Option::from(Scalar::from_canonical_bytes(bytes)).expect("canonical scalar")
}

fn point(bytes: [u8; 32]) -> RistrettoPoint {
    curve25519_dalek::ristretto::CompressedRistretto(bytes).decompress().expect("valid point")
}

#[test]
fn chameleon_adapt_verifies() {
    let mut rng = rand::rng();
    let (trapdoor, public) = chameleon::keygen(&mut rng);
    let record = RecordId([3; 32]);
    let mut chain = DigestChain::genesis(record).append(&entry_digest(b"first visit"));
    let (h, first) = chameleon::hash(&public, &chain.message().to_bytes(), &mut rng);
    chameleon::check(&public, &chain.message().to_bytes(), &h, &first).expect("fresh hash opens");
    let mut previous = vec![(chain.message().to_bytes(), first)];
    for visit in 0..20u32 {
        chain = chain.append(&entry_digest(&visit.to_be_bytes()));
        let message = chain.message().to_bytes();
        let check = chameleon::adapt(&trapdoor, &h, &message, &mut rng);
        chameleon::check(&public, &message, &h, &check).expect("adapted pair opens the same hash");
        // Every earlier (message, check string) pair still opens the unchanged anchor.
        for (old_message, old_check) in &previous {
            chameleon::check(&public, old_message, &h, old_check).expect("old pairs still open");
            assert!(chameleon::check(&public, &message, &h, old_check).is_err());
        }
        previous.push((message, check));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chameleon_rejects_any_tampering(seed: u64, message in proptest::collection::vec(any::<u8>(), 0..200), flip_byte: usize, flip_bit in 0u8..8) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (trapdoor, public) = chameleon::keygen(&mut rng);
        let (h, fresh) = chameleon::hash(&public, &message, &mut rng);
        let adapted = chameleon::adapt(&trapdoor, &h, b"follow-up", &mut rng);
        for (m, check) in [(message.clone(), fresh), (b"follow-up".to_vec(), adapted)] {
            prop_assert!(chameleon::check(&public, &m, &h, &check).is_ok());
            // Any change to the message.
            let mut changed = m.clone();
            if changed.is_empty() { changed.push(1) } else { let i = flip_byte % changed.len(); changed[i] ^= 1 << flip_bit; }
            prop_assert!(chameleon::check(&public, &changed, &h, &check).is_err());
            // Any change to h.
            let other_h = HashValue::from_bytes(&(point(h.to_bytes()) + RistrettoPoint::random(&mut rng)).compress().to_bytes()).unwrap();
            prop_assert!(chameleon::check(&public, &m, &other_h, &check).is_err());
            // Any change to R or to s (re-encoded so they stay valid group elements).
            let bytes = check.to_bytes();
            let mut r_changed = bytes;
            r_changed[..32].copy_from_slice(&(point(check.commitment()) + RISTRETTO_BASEPOINT_TABLE.basepoint()).compress().to_bytes());
            prop_assert!(chameleon::check(&public, &m, &h, &CheckString::from_bytes(&r_changed).unwrap()).is_err());
            let mut s_changed = bytes;
            s_changed[32..].copy_from_slice(&(scalar(check.response()) + Scalar::ONE).to_bytes());
            prop_assert!(chameleon::check(&public, &m, &h, &CheckString::from_bytes(&s_changed).unwrap()).is_err());
            // Another key.
            let (_, other_public) = chameleon::keygen(&mut rng);
            prop_assert!(chameleon::check(&other_public, &m, &h, &check).is_err());
        }
    }

    #[test]
    fn chameleon_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = CheckString::from_bytes(&bytes);
        let _ = HashValue::from_bytes(&bytes);
        let _ = PublicKey::from_bytes(&bytes);
        let _ = Trapdoor::from_bytes(&bytes);
    }
}

#[test]
fn encodings_round_trip_and_reject_garbage() {
    let mut rng = rand::rng();
    let (trapdoor, public) = chameleon::keygen(&mut rng);
    let (h, check) = chameleon::hash(&public, b"m", &mut rng);
    assert_eq!(PublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
    assert_eq!(HashValue::from_bytes(&h.to_bytes()).unwrap(), h);
    assert_eq!(CheckString::from_bytes(&check.to_bytes()).unwrap(), check);
    assert_eq!(Trapdoor::from_bytes(&trapdoor.to_bytes()).unwrap().public_key(), public);
    assert!(HashValue::from_bytes(&[0u8; 32]).is_err(), "identity refused");
    assert!(HashValue::from_bytes(&[0xff; 32]).is_err(), "non-canonical refused");
    assert!(HashValue::from_bytes(&[1u8; 31]).is_err(), "short refused");
    let mut high_s = check.to_bytes();
    high_s[32..].copy_from_slice(&[0xff; 32]);
    assert!(CheckString::from_bytes(&high_s).is_err(), "non-canonical scalar refused");
    assert!(Trapdoor::from_bytes(&[0u8; 32]).is_err(), "zero trapdoor refused");
}

/// Krawczyk–Rabin as seed 000 uses it, written here only to show its weakness:
/// `h = m·G + r·Y`; a collision `(m, r), (m', r')` gives `x = (m − m') / (r' − r)`.
mod krawczyk_rabin {
    use super::*;

    pub fn hash(y: &RistrettoPoint, m: Scalar, r: Scalar) -> RistrettoPoint {
        RISTRETTO_BASEPOINT_TABLE * &m + r * y
    }

    pub fn collide(x: Scalar, m: Scalar, r: Scalar, m2: Scalar) -> Scalar {
        r + (m - m2) * x.invert()
    }

    pub fn recover_trapdoor(m: Scalar, r: Scalar, m2: Scalar, r2: Scalar) -> Scalar {
        (m - m2) * (r2 - r).invert()
    }
}

#[test]
fn chameleon_key_exposure_free() {
    let mut rng = rand::rng();

    // Krawczyk–Rabin: two public collisions reveal the trapdoor with the textbook formula.
    let x = Scalar::random(&mut rng);
    let y = RISTRETTO_BASEPOINT_TABLE * &x;
    let (m, r, m2) = (Scalar::random(&mut rng), Scalar::random(&mut rng), Scalar::random(&mut rng));
    let h = krawczyk_rabin::hash(&y, m, r);
    let r2 = krawczyk_rabin::collide(x, m, r, m2);
    assert_eq!(krawczyk_rabin::hash(&y, m2, r2), h, "a real collision");
    assert_eq!(krawczyk_rabin::recover_trapdoor(m, r, m2, r2), x, "KR leaks its trapdoor");

    // Ours: many public collisions for one anchor.
    let (trapdoor, public) = chameleon::keygen(&mut rng);
    let y = point(public.to_bytes());
    let messages: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 8]).collect();
    let (h, first) = chameleon::hash(&public, &messages[0], &mut rng);
    let mut pairs = vec![first];
    for message in &messages[1..] {
        pairs.push(chameleon::adapt(&trapdoor, &h, message, &mut rng));
    }
    // What an observer sees per collision: R, s, and e = H(Y, R, m) (recomputable).
    let published: Vec<(Scalar, Scalar, Scalar)> = pairs
        .iter()
        .zip(&messages)
        .map(|(check, message)| {
            let r = point(check.commitment());
            let s = scalar(check.response());
            let e = challenge_from_public(&y, &r, message);
            // The observer's values are the real ones: they satisfy the check equation.
            assert_eq!(r - e * y - RISTRETTO_BASEPOINT_TABLE * &s, point(h.to_bytes()));
            (s, e, Scalar::from_bytes_mod_order(r.compress().to_bytes()))
        })
        .collect();
    let is_trapdoor = |candidate: Scalar| RISTRETTO_BASEPOINT_TABLE * &candidate == y;

    // The KR formula applied to our values, and every small linear combination
    // (a·s_i + b·s_j) / (c·e_i + d·e_j) over pairs of collisions, recover nothing.
    let coefficients = [-2i64, -1, 1, 2];
    let as_scalar = |v: i64| {
        if v < 0 { -Scalar::from(v.unsigned_abs()) } else { Scalar::from(v as u64) }
    };
    let mut tried = 0;
    for (i, (s_i, e_i, r_i)) in published.iter().enumerate() {
        for (s_j, e_j, r_j) in published.iter().skip(i + 1) {
            for candidate in [
                krawczyk_rabin::recover_trapdoor(*s_i, *e_i, *s_j, *e_j),
                krawczyk_rabin::recover_trapdoor(*e_i, *s_i, *e_j, *s_j),
                (*r_i - r_j) * (*e_j - e_i).invert(),
            ] {
                tried += 1;
                assert!(!is_trapdoor(candidate), "trapdoor recovered");
            }
            for a in coefficients {
                for b in coefficients {
                    for c in coefficients {
                        for d in coefficients {
                            let denominator = as_scalar(c) * e_i + as_scalar(d) * e_j;
                            if denominator == Scalar::ZERO {
                                continue;
                            }
                            tried += 1;
                            let candidate = (as_scalar(a) * s_i + as_scalar(b) * s_j) * denominator.invert();
                            assert!(!is_trapdoor(candidate), "trapdoor recovered");
                        }
                    }
                }
            }
        }
    }
    assert!(tried > 3000);
}

/// `e = H(Y, R, m)`, which anyone can compute from public values.
fn challenge_from_public(y: &RistrettoPoint, r: &RistrettoPoint, message: &[u8]) -> Scalar {
    use healthchain_crypto::hash::DomainHasher;
    DomainHasher::<sha2::Sha512>::new("chameleon")
        .field(y.compress().as_bytes())
        .field(r.compress().as_bytes())
        .field(message)
        .finish_scalar()
}
