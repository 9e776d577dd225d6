//! Preparing a record registration: the record id cycle is broken in the documented order.

use alloy_primitives::B256;
use healthchain_core::records::prepare_upload;
use healthchain_crypto::hash::sha256;
use healthchain_crypto::keywrap::{self, Purpose, SecretKey, Wrapped};
use healthchain_update::Manifest;
use rand::{SeedableRng, rngs::StdRng};

#[test]
fn prepared_upload_is_consistent_with_the_chain_and_the_enclave() {
    let mut rng = StdRng::seed_from_u64(5);
    let owner = alloy_primitives::Address::repeat_byte(0x11);
    let enclave = SecretKey::generate(&mut rng);
    let (committee, members) = keywrap::deal_committee(2, 3, &mut rng).unwrap();
    let upload = prepare_upload(owner, "fhir-r4", &enclave.public_key(), &committee.key(), &mut rng);

    // The chain derives the same record id from what is published.
    let anchor = B256::from(upload.anchor.to_bytes());
    assert_eq!(B256::from(sha256(&upload.manifest)), upload.manifest_hash);
    assert_eq!(healthchain_ledger::ids::record_id(owner, anchor, upload.manifest_hash), upload.record_id);

    // The manifest names the chameleon key of the trapdoor the owner keeps.
    let manifest = Manifest::parse(&upload.manifest).unwrap();
    assert_eq!(manifest.data_type, "fhir-r4");
    assert_eq!(upload.secrets.trapdoor.public_key(), manifest.public_key().unwrap());

    // EK: two committee shares release T, which only the enclave opens, to the record key.
    let outer = Wrapped::from_bytes(&alloy_primitives::hex::decode(&manifest.wrapped_key).unwrap()).unwrap();
    let shares: Vec<_> = members[..2].iter().map(|m| m.decryption_share(&outer, b"request-1", &mut rng)).collect();
    let inner =
        Wrapped::from_bytes(&committee.open(&outer, &shares, b"request-1", anchor.as_slice()).unwrap()).unwrap();
    let key = enclave.unwrap_key(&inner, Purpose::EnclaveLayer, anchor.as_slice()).unwrap();
    assert_eq!(key, upload.secrets.key.as_bytes());
}

#[test]
fn every_upload_gets_its_own_anchor_keys_and_id() {
    let mut rng = StdRng::seed_from_u64(6);
    let owner = alloy_primitives::Address::repeat_byte(0x22);
    let enclave = SecretKey::generate(&mut rng).public_key();
    let committee = SecretKey::generate(&mut rng).public_key();
    let a = prepare_upload(owner, "fhir-r4", &enclave, &committee, &mut rng);
    let b = prepare_upload(owner, "fhir-r4", &enclave, &committee, &mut rng);
    assert_ne!(a.anchor, b.anchor);
    assert_ne!(a.record_id, b.record_id);
    assert_ne!(a.secrets.key.as_bytes(), b.secrets.key.as_bytes());
}
