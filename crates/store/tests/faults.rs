//! Storage faults injected under the real local store (`testing::with_faults`): every
//! failure is a typed backend failure (never a missing or altered object), nothing is left
//! at the address of an object whose write failed, and the same operation succeeds once the
//! fault clears.

use healthchain_store::testing::with_faults;
use healthchain_store::{ObjectAddress, Store, StoreError};

fn objects(count: u8) -> Vec<Vec<u8>> {
    (0..count).map(|i| vec![i; 1000 + usize::from(i)]).collect()
}

/// A backend failure that says what failed, as the fault was injected.
fn assert_backend_failure(error: &StoreError, what: &str) {
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    assert!(error.is_failure(), "{error}");
    assert!(error.to_string().contains(what), "{error}");
}

#[tokio::test]
async fn every_nth_put_fails_typed_leaves_nothing_at_the_address_and_succeeds_when_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = with_faults(Store::local(dir.path()).unwrap());
    faults.fail_every_nth_put(3);
    let objects = objects(9);
    let mut failed = Vec::new();
    for object in &objects {
        match store.put(object.clone()).await {
            Ok(address) => assert_eq!(address, ObjectAddress::of(object)),
            Err(error) => {
                assert_backend_failure(&error, "no space left on device");
                failed.push(object.clone());
            }
        }
    }
    assert_eq!((failed.len(), faults.injected()), (3, 3));
    for object in &failed {
        let address = ObjectAddress::of(object);
        assert!(!store.contains(&address).await.unwrap());
        assert!(!store.local_file(&address).unwrap().exists());
    }

    faults.clear();
    for object in &failed {
        store.put(object.clone()).await.expect("the same put, once the fault clears");
    }
    for object in &objects {
        assert_eq!(store.get(&ObjectAddress::of(object)).await.unwrap(), object.as_slice());
    }
}

#[tokio::test]
async fn read_faults_are_backend_failures_not_missing_or_altered_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = with_faults(Store::local(dir.path()).unwrap());
    let objects = objects(4);
    let addresses: Vec<ObjectAddress> = objects.iter().map(|o| ObjectAddress::of(o)).collect();
    for object in &objects {
        store.put(object.clone()).await.unwrap();
    }
    store.put_index(&[1; 32], 1, b"hint".to_vec()).await.unwrap();

    faults.fail_every_nth_get(2);
    let mut failures = 0;
    for (address, object) in addresses.iter().zip(&objects) {
        match store.get(address).await {
            Ok(bytes) => assert_eq!(bytes, object.as_slice()),
            Err(error) => {
                assert_backend_failure(&error, "input/output error");
                failures += 1;
            }
        }
    }
    assert_eq!(failures, 2);
    let error = store.get_many_as_stored(&addresses).await.expect_err("a batch with a failed read fails");
    assert_backend_failure(&error, "input/output error");
    faults.fail_every_nth_get(1);
    assert_backend_failure(&store.contains(&addresses[0]).await.expect_err("head fails"), "input/output error");
    assert_backend_failure(&store.index(&[1; 32]).await.expect_err("the index read fails"), "input/output error");

    faults.clear();
    let read = store.get_many_as_stored(&addresses).await.unwrap();
    assert_eq!(read, objects.iter().map(|o| Some(bytes::Bytes::from(o.clone()))).collect::<Vec<_>>());
    assert_eq!(store.index(&[1; 32]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_full_disk_refuses_every_write_until_it_clears_while_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faults) = with_faults(Store::local(dir.path()).unwrap());
    let before = store.put(b"stored before".to_vec()).await.unwrap();

    faults.set_full(true);
    assert_backend_failure(&store.put(b"object".to_vec()).await.expect_err("full"), "no space left on device");
    assert_backend_failure(
        &store.put_index(&[2; 32], 1, b"hint".to_vec()).await.expect_err("full"),
        "no space left on device",
    );
    assert_eq!(store.get(&before).await.unwrap().as_ref(), b"stored before");
    assert!(store.index(&[2; 32]).await.unwrap().is_empty());
    assert!(!store.contains(&ObjectAddress::of(b"object")).await.unwrap());

    faults.set_full(false);
    let address = store.put(b"object".to_vec()).await.expect("writes go through again");
    assert_eq!(store.get(&address).await.unwrap().as_ref(), b"object");
    store.put_index(&[2; 32], 1, b"hint".to_vec()).await.unwrap();
    assert_eq!(store.index(&[2; 32]).await.unwrap().len(), 1);
}
