//! Wycheproof X25519 and HKDF-SHA256 vectors through healthchain's own wrappers.
//! (Copied from `shared/data/vectors/wycheproof`, Apache-2.0, see `vectors/LICENSE.wycheproof`.)

use healthchain_crypto::{dh, kdf};
use serde::Deserialize;

#[derive(Deserialize)]
struct File<T> {
    #[serde(rename = "testGroups")]
    groups: Vec<Group<T>>,
}

#[derive(Deserialize)]
struct Group<T> {
    tests: Vec<T>,
}

#[derive(Deserialize)]
struct X25519Case {
    #[serde(rename = "tcId")]
    id: u32,
    public: String,
    private: String,
    shared: String,
    result: String,
    flags: Vec<String>,
}

#[derive(Deserialize)]
struct HkdfCase {
    #[serde(rename = "tcId")]
    id: u32,
    ikm: String,
    salt: String,
    info: String,
    size: usize,
    okm: String,
    result: String,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File<T> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    file.groups.into_iter().flat_map(|g| g.tests).collect()
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn wycheproof_x25519() {
    let cases: Vec<X25519Case> = load("x25519_test.json");
    assert_eq!(cases.len(), 518);
    let (mut matched, mut refused) = (0, 0);
    for case in &cases {
        let secret = dh::Secret::from_bytes(hex32(&case.private));
        match secret.diffie_hellman(&hex32(&case.public)) {
            Ok(shared) => {
                assert_eq!(hex::encode(shared.as_bytes()), case.shared, "tcId {}", case.id);
                matched += 1;
            }
            Err(dh::NonContributory) => {
                // Refusing is right exactly when the shared secret would be all zeros.
                assert_eq!(case.shared, "00".repeat(32), "tcId {} refused but has a shared secret", case.id);
                assert!(case.flags.iter().any(|f| f == "ZeroSharedSecret"), "tcId {}", case.id);
                assert_ne!(case.result, "valid");
                refused += 1;
            }
        }
    }
    assert!(matched > 450 && refused > 0, "matched {matched}, refused {refused}");
}

#[test]
fn wycheproof_hkdf_sha256() {
    let cases: Vec<HkdfCase> = load("hkdf_sha256_test.json");
    assert_eq!(cases.len(), 86);
    for case in &cases {
        let mut out = vec![0u8; case.size];
        let result = kdf::derive(
            &hex::decode(&case.salt).unwrap(),
            &hex::decode(&case.ikm).unwrap(),
            &hex::decode(&case.info).unwrap(),
            &mut out,
        );
        match case.result.as_str() {
            "valid" => {
                result.unwrap_or_else(|e| panic!("tcId {}: {e}", case.id));
                assert_eq!(hex::encode(&out), case.okm, "tcId {}", case.id);
            }
            _ => assert_eq!(result, Err(kdf::OutputTooLong(case.size)), "tcId {}", case.id),
        }
    }
}
