//! The content-addressed store against its local and in-memory backends.

use healthchain_store::{ObjectAddress, Store, StoreError};
use object_store::{ObjectStoreExt, PutPayload};
use proptest::prelude::*;

async fn round_trip(store: &Store) {
    let bytes = b"ciphertext of entry 1".to_vec();
    let address = store.put(bytes.clone()).await.unwrap();
    assert_eq!(address, ObjectAddress::of(&bytes));
    assert!(store.contains(&address).await.unwrap());
    assert_eq!(store.get(&address).await.unwrap().as_ref(), bytes.as_slice());
    // Storing the same bytes again is idempotent.
    assert_eq!(store.put(bytes.clone()).await.unwrap(), address);
    let missing = ObjectAddress::of(b"never stored");
    assert!(!store.contains(&missing).await.unwrap());
    assert!(matches!(store.get(&missing).await, Err(StoreError::NotFound(a)) if a == missing));
}

#[tokio::test]
async fn local_and_memory_round_trip() {
    round_trip(&Store::memory()).await;
    let dir = tempfile::tempdir().unwrap();
    round_trip(&Store::local(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn local_objects_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let address = Store::local(dir.path()).unwrap().put(vec![1, 2, 3]).await.unwrap();
    let reopened = Store::local(dir.path()).unwrap();
    assert_eq!(reopened.get(&address).await.unwrap().as_ref(), &[1, 2, 3]);
    let hex = address.to_string();
    let file = reopened.local_file(&address).unwrap();
    assert_eq!(file, dir.path().canonicalize().unwrap().join("objects").join(&hex[..2]).join(&hex));
    assert!(file.is_file());
    assert_eq!(Store::memory().local_file(&address), None);
}

#[tokio::test]
async fn a_provider_altering_an_object_is_caught() {
    // On disk: flip one byte of the stored file.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::local(dir.path()).unwrap();
    let address = store.put(vec![7u8; 4096]).await.unwrap();
    let file = store.local_file(&address).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    match store.get(&address).await {
        Err(StoreError::Tampered { address: a, actual }) => {
            assert_eq!(a, address);
            assert_eq!(actual, ObjectAddress::of(&bytes));
        }
        other => panic!("expected tampering to be reported, got {other:?}"),
    }

    // In memory: the provider swaps in other bytes under the same name.
    let store = Store::memory();
    let address = store.put(b"original".to_vec()).await.unwrap();
    store.backend().put(&address.key(), PutPayload::from_static(b"swapped")).await.unwrap();
    assert!(matches!(store.get(&address).await, Err(StoreError::Tampered { .. })));
}

#[test]
fn addresses_parse_strictly() {
    let address = ObjectAddress::of(b"x");
    assert_eq!(address.to_string().parse::<ObjectAddress>().unwrap(), address);
    assert_eq!(format!("0x{address}").parse::<ObjectAddress>().unwrap(), address);
    for bad in ["", "zz", "abcd", &"0".repeat(63), &"0".repeat(66)] {
        assert!(matches!(bad.parse::<ObjectAddress>(), Err(StoreError::InvalidAddress(_))), "{bad}");
    }
}

proptest! {
    #[test]
    fn address_parsing_never_panics(s in ".{0,80}") {
        let _ = s.parse::<ObjectAddress>();
    }
}

#[test]
fn store_configurations_parse_from_json_and_refuse_unknown_backends() {
    use healthchain_store::StoreConfig;
    let local: StoreConfig = serde_json::from_str(r#"{"backend": "local", "path": "/var/lib/objects"}"#).unwrap();
    assert_eq!(local, StoreConfig::Local { path: "/var/lib/objects".into() });
    let s3: StoreConfig = serde_json::from_str(
        r#"{"backend": "s3", "bucket": "b", "region": "r", "endpoint": null, "access_key_id": "k", "secret_access_key": "s"}"#,
    )
    .unwrap();
    assert!(matches!(&s3, StoreConfig::S3(c) if c.bucket == "b" && !c.allow_http));
    assert!(!format!("{s3:?}").contains("\"s\""), "the secret is not printed");
    assert!(serde_json::from_str::<StoreConfig>(r#"{"backend": "ftp"}"#).is_err());
    assert!(serde_json::from_str::<StoreConfig>(r#"{"backend": "s3", "bucket": "b"}"#).is_err());
}
