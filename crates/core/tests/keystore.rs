//! The encrypted keystore.

use std::os::unix::fs::PermissionsExt;

use healthchain_core::keystore::{Keystore, KeystoreError};
use healthchain_crypto::signing::EthKey;
use proptest::prelude::*;

#[test]
fn create_list_unlock_export() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path().join("keys")).unwrap();
    let alice = keystore.create("alice", "correct horse").unwrap();
    let imported = EthKey::generate(&mut rand::rng());
    let bob = keystore.import("bob-2", &imported, "battery staple").unwrap();
    assert_eq!(bob.address, imported.address());

    assert_eq!(keystore.list().unwrap(), vec![alice.clone(), bob.clone()]);
    assert_eq!(keystore.unlock("alice", "correct horse").unwrap().address(), alice.address);
    assert_eq!(keystore.unlock("bob-2", "battery staple").unwrap().to_bytes(), imported.to_bytes());

    // The file is the standard encrypted document: no secret in it, owner-only access.
    let document = keystore.export("bob-2").unwrap();
    let json: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(json["version"], 3);
    assert!(json["crypto"]["kdf"] == "scrypt");
    assert!(!document.contains(&alloy_primitives::hex::encode(imported.to_bytes())));
    let file_mode = std::fs::metadata(dir.path().join("keys/bob-2.json")).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600);
    let dir_mode = std::fs::metadata(dir.path().join("keys")).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    // Reopening finds the same keys.
    assert_eq!(Keystore::open(dir.path().join("keys")).unwrap().list().unwrap().len(), 2);
}

#[test]
fn refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path()).unwrap();
    let alice = keystore.create("alice", "pass").unwrap();
    assert!(matches!(keystore.unlock("alice", "wrong"), Err(KeystoreError::WrongPassphrase(_))));
    assert!(matches!(keystore.create("alice", "other"), Err(KeystoreError::Exists(_))));
    assert_eq!(keystore.unlock("alice", "pass").unwrap().address(), alice.address, "not overwritten");
    assert!(matches!(keystore.unlock("nobody", "pass"), Err(KeystoreError::NotFound { .. })));
    assert!(matches!(keystore.export("nobody"), Err(KeystoreError::NotFound { .. })));
    assert!(matches!(keystore.create("x", ""), Err(KeystoreError::EmptyPassphrase)));
    for bad in ["", "../escape", "a/b", "with space", &"n".repeat(65), "dot.json"] {
        assert!(matches!(keystore.create(bad, "pass"), Err(KeystoreError::InvalidName(_))), "{bad}");
    }
    assert_eq!(keystore.list().unwrap().len(), 1);

    // A damaged file is reported, not trusted.
    std::fs::write(dir.path().join("broken.json"), b"{ not json").unwrap();
    assert!(matches!(keystore.list(), Err(KeystoreError::Malformed { .. })));
    assert!(matches!(keystore.unlock("broken", "pass"), Err(KeystoreError::WrongPassphrase(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn names_are_checked_without_panicking(name in ".{0,80}") {
        let dir = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(dir.path()).unwrap();
        let _ = keystore.export(&name);
        let _ = keystore.unlock(&name, "x");
    }
}
