//! Polling subscriptions with resumable cursors and a confirmation depth.

use alloy_primitives::B256;
use healthchain_ledger::bindings::RecordRegistry;
use healthchain_ledger::events::{EventCursor, Topics, query_range};
use healthchain_ledger::testing::{Backend, dev_key};
use healthchain_ledger::{DeployParams, Ledger, deploy};

#[tokio::test]
async fn cursor_delivers_each_event_once_after_confirmations_and_resumes() {
    let backend = Backend::embedded().unwrap();
    let connection = backend.connect().await.unwrap();
    let admin = dev_key(0);
    let params = DeployParams::default();
    let deployment = deploy(&connection.account(&admin), None, &params).await.unwrap().deployment;
    let ledger = Ledger::new(&connection, None, &admin, deployment);
    let registry = deployment.shared.record_registry;
    let mut cursor = EventCursor::<RecordRegistry::RecordRegistered>::new(
        registry,
        Topics::any(),
        deployment.shared.deployed_at_block,
        2,
    );

    let register = |i: u8| {
        let records = ledger.records();
        let deposit = params.deposit_wei;
        async move { records.register(B256::repeat_byte(i), B256::repeat_byte(0x40 + i), deposit).await.unwrap() }
    };
    register(1).await;
    // Not yet two blocks deep: nothing is delivered.
    assert!(cursor.poll(&connection).await.unwrap().is_empty());
    register(2).await;
    register(3).await;
    let first = cursor.poll(&connection).await.unwrap();
    assert_eq!(first.len(), 1, "only the event two blocks deep");
    assert_eq!(first[0].event.anchor, B256::repeat_byte(1));

    // A service restarting from the persisted cursor continues where it stopped.
    let mut resumed =
        EventCursor::<RecordRegistry::RecordRegistered>::new(registry, Topics::any(), cursor.next_block(), 2);
    for i in 4..=5 {
        register(i).await;
    }
    let rest = resumed.poll(&connection).await.unwrap();
    let anchors: Vec<B256> = rest.iter().map(|e| e.event.anchor).collect();
    assert_eq!(anchors, vec![B256::repeat_byte(2), B256::repeat_byte(3)]);
    assert!(resumed.poll(&connection).await.unwrap().is_empty(), "nothing twice");
}

#[tokio::test]
async fn a_range_ending_at_the_last_block_number_ends() {
    let backend = Backend::embedded().unwrap();
    let connection = backend.connect().await.unwrap();
    let deployment = deploy(&connection.account(&dev_key(0)), None, &DeployParams::default()).await.unwrap().deployment;
    let registry = deployment.shared.record_registry;
    // The window after block u64::MAX used to wrap to block 0 and scan the whole range again.
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        query_range::<RecordRegistry::RecordRegistered>(&connection, registry, Topics::any(), u64::MAX - 1, u64::MAX),
    )
    .await
    .expect("the scan ends");
    assert!(found.unwrap().is_empty());
}
