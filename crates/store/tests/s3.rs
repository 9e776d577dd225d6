//! The store against a real S3-compatible service: `s3s-fs` 0.14.1, an S3 server backed by
//! the file system, from crates.io (`cargo install --locked s3s-fs@0.14.1 --features binary`,
//! which `.ci/run` does), started on a free loopback port and stopped by PID.

use healthchain_store::testing::S3Server;
use healthchain_store::{ObjectAddress, S3Config, Store, StoreError};
use object_store::{ObjectStoreExt, PutPayload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_the_record_index_live_in_an_s3_bucket() {
    let server = S3Server::start().unwrap();
    let store = Store::s3(&server.config()).unwrap();

    let bytes = b"ciphertext of entry 1".to_vec();
    let address = store.put(bytes.clone()).await.unwrap();
    assert_eq!(address, ObjectAddress::of(&bytes));
    assert_eq!(store.get(&address).await.unwrap().as_ref(), bytes.as_slice());
    assert!(store.contains(&address).await.unwrap());
    assert_eq!(store.local_file(&address), None);
    let missing = ObjectAddress::of(b"never stored");
    assert!(matches!(store.get(&missing).await, Err(StoreError::NotFound(a)) if a == missing));

    // a second client of the same bucket sees what the first stored
    let other = Store::s3(&server.config()).unwrap();
    assert_eq!(other.get(&address).await.unwrap().as_ref(), bytes.as_slice());

    // the provider swaps the bytes behind an address: reported as tampered
    store.backend().put(&address.key(), PutPayload::from_static(b"something else")).await.unwrap();
    assert!(matches!(store.get(&address).await, Err(StoreError::Tampered { .. })));

    let record = [7u8; 32];
    store.put_index(&record, 2, b"second".to_vec()).await.unwrap();
    store.put_index(&record, 1, b"first".to_vec()).await.unwrap();
    let index = store.index(&record).await.unwrap();
    assert_eq!(
        index.iter().map(|(v, b)| (*v, b.to_vec())).collect::<Vec<_>>(),
        vec![(1, b"first".to_vec()), (2, b"second".to_vec())]
    );
    assert!(store.index(&[8u8; 32]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_a_refused_plain_http_endpoint_is_an_error() {
    let server = S3Server::start().unwrap();
    let missing_bucket = S3Config { bucket: "no-such-bucket".into(), ..server.config() };
    let store = Store::s3(&missing_bucket).unwrap();
    let error = store.check().await.expect_err("the bucket does not exist");
    assert!(matches!(error, StoreError::Backend(_)) && error.to_string().contains("NoSuchBucket"), "{error}");
    Store::s3(&server.config()).unwrap().check().await.expect("the configured bucket exists");
    let plain_http_refused = S3Config { allow_http: false, ..server.config() };
    let store = Store::s3(&plain_http_refused).unwrap();
    assert!(matches!(store.put(b"x".to_vec()).await, Err(StoreError::Backend(_))));
}
