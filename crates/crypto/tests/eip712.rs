//! Warrants and enclave reports as EIP-712 typed data.

use alloy_primitives::{Address, B256, U256, address};
use alloy_sol_types::SolStruct;
use healthchain_crypto::eip712::{
    self, CompletionReport, DoctorTerm, EhrBatch, SignedWarrant, UpdateReport, Warrant, WarrantError,
};
use healthchain_crypto::signing::{self, EthKey, SignatureError};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

const REGISTRY: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");

fn warrant(patient: &EthKey, doctors: &[(Address, u64, u64)]) -> Warrant {
    Warrant {
        patient: patient.address(),
        doctors: doctors
            .iter()
            .map(|&(doctor, not_before, not_after)| DoctorTerm { doctor, notBefore: not_before, notAfter: not_after })
            .collect(),
        aux: B256::repeat_byte(0xaa),
    }
}

#[test]
fn type_strings_match_the_contracts() {
    assert_eq!(
        Warrant::eip712_encode_type(),
        "Warrant(address patient,DoctorTerm[] doctors,bytes32 aux)DoctorTerm(address doctor,uint64 notBefore,uint64 notAfter)"
    );
    assert_eq!(
        UpdateReport::eip712_encode_type(),
        "UpdateReport(bytes32 recordId,uint64 version,bytes32 digest,bytes32 checkStringHash,bytes32 licenseId)"
    );
    assert_eq!(
        CompletionReport::eip712_encode_type(),
        "CompletionReport(uint256 requestId,bytes32 jobHash,bytes32 resultHash)"
    );
    assert_eq!(EhrBatch::eip712_encode_type(), "EhrBatch(address doctor,bytes32 root,uint32 count)");
}

#[test]
fn ehr_batch_struct_hash_is_the_contracts() {
    // EhrRegistry.anchorBatch: keccak256(abi.encode(EHR_BATCH_TYPEHASH, doctor, root, count)).
    use alloy_primitives::keccak256;
    use alloy_sol_types::SolValue;
    let batch = EhrBatch { doctor: Address::repeat_byte(0xd0), root: B256::repeat_byte(0x77), count: 1_000 };
    let typehash = keccak256("EhrBatch(address doctor,bytes32 root,uint32 count)");
    let contract = keccak256((typehash, batch.doctor, batch.root, U256::from(batch.count)).abi_encode());
    assert_eq!(batch.eip712_hash_struct(), contract);
    // And the signature recovers to the enclave under EhrRegistry's domain only.
    let mut rng = StdRng::seed_from_u64(4);
    let enclave = EthKey::generate(&mut rng);
    let domain = eip712::domain(31337, REGISTRY);
    let signature = eip712::sign(&enclave, &batch, &domain);
    eip712::verify(&batch, &domain, &signature, enclave.address()).unwrap();
    assert!(eip712::verify(&batch, &eip712::domain(31337, Address::ZERO), &signature, enclave.address()).is_err());
    let more = EhrBatch { count: 1_001, ..batch.clone() };
    assert!(eip712::verify(&more, &domain, &signature, enclave.address()).is_err());
}

#[test]
fn warrant_authorizes_named_doctors_in_their_period() {
    let mut rng = StdRng::seed_from_u64(1);
    let patient = EthKey::generate(&mut rng);
    let (a, b, c) = (EthKey::generate(&mut rng), EthKey::generate(&mut rng), EthKey::generate(&mut rng));
    let domain = eip712::domain(31337, REGISTRY);
    let group = warrant(&patient, &[(a.address(), 100, 200), (b.address(), 150, 300)]);
    let signed = SignedWarrant::sign(&patient, group.clone(), &domain);

    assert_eq!(signed.authorize(&domain, a.address(), 100), Ok(0));
    assert_eq!(signed.authorize(&domain, b.address(), 300), Ok(1));
    assert_eq!(signed.authorize(&domain, c.address(), 150), Err(WarrantError::DoctorNotNamed(c.address())));
    assert!(matches!(signed.authorize(&domain, a.address(), 201), Err(WarrantError::OutsidePeriod { .. })));
    assert!(matches!(signed.authorize(&domain, b.address(), 149), Err(WarrantError::OutsidePeriod { .. })));

    // Signed by someone other than the patient.
    let forged = SignedWarrant::sign(&a, group.clone(), &domain);
    assert!(matches!(
        forged.authorize(&domain, a.address(), 150),
        Err(WarrantError::BadSignature(SignatureError::WrongSigner { .. }))
    ));
    // Altered after signing: another doctor slipped in.
    let mut altered = signed.clone();
    altered.warrant.doctors.push(DoctorTerm { doctor: c.address(), notBefore: 0, notAfter: u64::MAX });
    assert!(matches!(altered.authorize(&domain, c.address(), 150), Err(WarrantError::BadSignature(_))));
    // Another chain or another contract.
    assert!(signed.authorize(&eip712::domain(1, REGISTRY), a.address(), 150).is_err());
    assert!(signed.authorize(&eip712::domain(31337, Address::ZERO), a.address(), 150).is_err());
    // No doctors at all.
    let empty = SignedWarrant::sign(&patient, warrant(&patient, &[]), &domain);
    assert_eq!(empty.authorize(&domain, a.address(), 150), Err(WarrantError::NoDoctors));
}

#[test]
fn reports_verify_only_for_the_enclave_key() {
    let mut rng = StdRng::seed_from_u64(2);
    let enclave = EthKey::generate(&mut rng);
    let domain = eip712::domain(31337, REGISTRY);
    let report = UpdateReport {
        recordId: B256::repeat_byte(1),
        version: 3,
        digest: B256::repeat_byte(2),
        checkStringHash: B256::repeat_byte(3),
        licenseId: B256::repeat_byte(4),
    };
    let signature = eip712::sign(&enclave, &report, &domain);
    eip712::verify(&report, &domain, &signature, enclave.address()).unwrap();
    let mut replayed = report.clone();
    replayed.version = 4;
    assert!(eip712::verify(&replayed, &domain, &signature, enclave.address()).is_err());
    let completion = CompletionReport { requestId: U256::from(7), jobHash: B256::ZERO, resultHash: B256::ZERO };
    let forged = eip712::sign(&EthKey::generate(&mut rng), &completion, &domain);
    assert!(eip712::verify(&completion, &domain, &forged, enclave.address()).is_err());
}

#[test]
fn signatures_are_strict() {
    let mut rng = StdRng::seed_from_u64(3);
    let key = EthKey::generate(&mut rng);
    let digest = B256::repeat_byte(9);
    let signature = key.sign_digest(&digest);
    assert!(signature[64] == 27 || signature[64] == 28);
    assert_eq!(signing::recover(&digest, &signature), Ok(key.address()));
    // The malleable twin (n − s, flipped v) is refused, as ecrecover-based contracts must.
    let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let s = U256::from_be_slice(&signature[32..64]);
    let mut twin = signature;
    twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    twin[64] ^= 27 ^ 28;
    assert_eq!(signing::recover(&digest, &twin), Err(SignatureError::HighS));
    let mut bad_v = signature;
    bad_v[64] = 1;
    assert!(matches!(signing::recover(&digest, &bad_v), Err(SignatureError::Malformed(_))));
    assert!(matches!(signing::recover(&digest, &signature[..64]), Err(SignatureError::Malformed(_))));
    assert_eq!(EthKey::from_bytes(&key.to_bytes()).unwrap().address(), key.address());
    assert_eq!(EthKey::from_bytes(&[0u8; 32]).err(), Some(SignatureError::InvalidKey));
}

proptest! {
    #[test]
    fn recover_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), digest: [u8; 32]) {
        let _ = signing::recover(&B256::from(digest), &bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn warrants_authorize_exactly_their_doctors_within_their_periods(
        seed: u64,
        periods in proptest::collection::vec((0u64..1_000, 0u64..1_000), 1..4),
        now in 0u64..2_000,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let patient = EthKey::generate(&mut rng);
        let doctors: Vec<EthKey> = periods.iter().map(|_| EthKey::generate(&mut rng)).collect();
        let terms: Vec<(Address, u64, u64)> =
            doctors.iter().zip(&periods).map(|(d, (start, length))| (d.address(), *start, start + length)).collect();
        let domain = eip712::domain(31337, REGISTRY);
        let signed = SignedWarrant::sign(&patient, warrant(&patient, &terms), &domain);
        for (position, (doctor, not_before, not_after)) in terms.iter().enumerate() {
            let result = signed.authorize(&domain, *doctor, now);
            if (*not_before..=*not_after).contains(&now) {
                prop_assert_eq!(result, Ok(position));
            } else {
                let outside = matches!(result, Err(WarrantError::OutsidePeriod { .. }));
                prop_assert!(outside);
            }
        }
        let stranger = EthKey::generate(&mut rng).address();
        prop_assert_eq!(signed.authorize(&domain, stranger, now), Err(WarrantError::DoctorNotNamed(stranger)));
    }
}
