//! The Rust API of the chain: reopening a data directory, genesis checks, time hooks seen by
//! contracts, the EIP-1559 base fee policy, gas estimation, shutdown.

mod common;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use common::*;
use healthchain_chain::{BaseFeePolicy, Chain, ChainConfig, ChainError, Storage, TxError, dev_signer};

const CHAIN_ID: u64 = 31337;

fn latest() -> BlockId {
    BlockId::Number(BlockNumberOrTag::Latest)
}

#[tokio::test]
async fn reopen_recovers_head_and_refuses_other_genesis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = dev_signer(0).expect("key");
    let sink = Address::repeat_byte(0x11);
    let (head, hashes) = {
        let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir.path().into())).expect("open");
        let mut hashes = Vec::new();
        for n in 0..5 {
            hashes.push(chain.send_raw_transaction(&transfer(&alice, CHAIN_ID, n, sink, 10)).await.expect("send"));
        }
        (chain.head(), hashes)
    };
    let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir.path().into())).expect("reopen");
    assert_eq!(chain.head(), head, "head recovered");
    for h in &hashes {
        assert!(chain.transaction_receipt(*h).expect("read").expect("kept").status());
    }
    assert_eq!(chain.balance(sink, latest()).expect("balance"), U256::from(50));
    assert_eq!(chain.transaction_count(alice.address(), latest()).expect("nonce"), 5);
    chain.send_raw_transaction(&transfer(&alice, CHAIN_ID, 5, sink, 10)).await.expect("continues");
    assert_eq!(chain.verify_hash_chain().expect("verify"), head.number + 2);
    drop(chain);

    let other_id = Chain::open(ChainConfig::with_chain_id(7), Storage::Dir(dir.path().into()));
    assert!(matches!(other_id, Err(ChainError::Config(_))), "{other_id:?}");
    let other_genesis =
        Chain::open(ChainConfig { dev_accounts: 3, ..ChainConfig::default() }, Storage::Dir(dir.path().into()));
    assert!(matches!(other_genesis, Err(ChainError::GenesisMismatch { .. })), "{other_genesis:?}");
}

#[tokio::test]
async fn contracts_see_increased_time() {
    let chain = Chain::in_memory(ChainConfig::default()).expect("chain");
    let alice = dev_signer(0).expect("key");
    // runtime: TIMESTAMP PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    let runtime = [0x42u8, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];
    let mut init =
        vec![0x60, runtime.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, runtime.len() as u8, 0x60, 0x00, 0xf3];
    init.extend_from_slice(&runtime);
    let h = chain
        .send_raw_transaction(&sign_1559(
            &alice,
            CHAIN_ID,
            0,
            TxKind::Create,
            U256::ZERO,
            Bytes::from(init),
            100_000,
            2_000_000_000,
        ))
        .await
        .expect("deploy");
    let contract = chain.transaction_receipt(h).expect("read").expect("receipt").contract_address.expect("address");
    let call = TransactionRequest::default().to(contract);
    let t0 = U256::from_be_slice(&chain.call(&call, latest()).expect("call")).to::<u64>();
    assert_eq!(chain.increase_time(86_400), 86_400);
    let t1 = U256::from_be_slice(&chain.call(&call, latest()).expect("call")).to::<u64>();
    assert!(t1 >= t0 + 86_400, "eth_call sees the next block's time: {t0} -> {t1}");
    let n = chain.mine(None).await.expect("mine");
    let b = chain.block_by_number(BlockNumberOrTag::Number(n), false).expect("read").expect("block");
    assert!(b.header.timestamp >= t0 + 86_400);
    chain.set_next_block_timestamp(b.header.timestamp + 1_000).expect("set");
    let n = chain.mine(None).await.expect("mine");
    let b2 = chain.block_by_number(BlockNumberOrTag::Number(n), false).expect("read").expect("block");
    assert_eq!(b2.header.timestamp, b.header.timestamp + 1_000);
    assert!(chain.set_next_block_timestamp(1).is_err(), "no going back");
}

#[tokio::test]
async fn eip1559_base_fee_policy() {
    let cfg = ChainConfig { base_fee: BaseFeePolicy::Eip1559 { initial: 1_000_000_000 }, ..ChainConfig::default() };
    let chain = Chain::in_memory(cfg).expect("chain");
    let alice = dev_signer(0).expect("key");
    assert_eq!(chain.gas_price(), 875_000_000 + 1_000_000_000, "empty genesis: next base fee drops 1/8");
    for n in 0..3 {
        chain.send_raw_transaction(&transfer(&alice, CHAIN_ID, n, Address::repeat_byte(1), 1)).await.expect("send");
    }
    let fees: Vec<u64> = (0..=3)
        .map(|n| {
            chain
                .block_by_number(BlockNumberOrTag::Number(n), false)
                .expect("read")
                .expect("block")
                .header
                .base_fee_per_gas
                .expect("base fee")
        })
        .collect();
    assert_eq!(fees, vec![1_000_000_000, 875_000_000, 765_778_125, 670_189_871]);
    // A fee cap below the next base fee is refused.
    let cheap =
        sign_1559(&alice, CHAIN_ID, 3, TxKind::Call(Address::ZERO), U256::ZERO, Bytes::new(), 21_000, 500_000_000);
    assert!(matches!(chain.send_raw_transaction(&cheap).await, Err(TxError::FeeCapTooLow { .. })));
    // Receipts report the effective gas price paid.
    let r = chain
        .send_raw_transaction(&transfer(&alice, CHAIN_ID, 3, Address::repeat_byte(1), 1))
        .await
        .map(|h| chain.transaction_receipt(h).expect("read").expect("receipt"))
        .expect("send");
    assert_eq!(r.effective_gas_price, 586_533_421);
}

#[tokio::test]
async fn estimate_gas_is_enough() {
    let chain = Chain::in_memory(ChainConfig::default()).expect("chain");
    let alice = dev_signer(0).expect("key");
    let transfer_req =
        TransactionRequest::default().from(alice.address()).to(Address::repeat_byte(3)).value(U256::from(1));
    assert_eq!(chain.estimate_gas(&transfer_req, latest()).expect("estimate"), 21_000);
    let deploy = TransactionRequest::default().from(alice.address()).input(Bytes::from(init_code()).into());
    let gas = chain.estimate_gas(&deploy, latest()).expect("estimate");
    let h = chain
        .send_raw_transaction(&sign_1559(
            &alice,
            CHAIN_ID,
            0,
            TxKind::Create,
            U256::ZERO,
            Bytes::from(init_code()),
            gas,
            2_000_000_000,
        ))
        .await
        .expect("deploy");
    let r = chain.transaction_receipt(h).expect("read").expect("receipt");
    assert!(r.status(), "estimated gas suffices");
    assert!(r.gas_used <= gas && gas <= r.gas_used + r.gas_used / 10, "estimate {gas} close to use {}", r.gas_used);
    let contract = r.contract_address.expect("address");
    let set = TransactionRequest::default().from(alice.address()).to(contract).input(set_calldata(9).into());
    let gas = chain.estimate_gas(&set, latest()).expect("estimate");
    let h = chain
        .send_raw_transaction(&sign_1559(
            &alice,
            CHAIN_ID,
            1,
            TxKind::Call(contract),
            U256::ZERO,
            set_calldata(9),
            gas,
            2_000_000_000,
        ))
        .await
        .expect("set");
    assert!(chain.transaction_receipt(h).expect("read").expect("receipt").status());
    // Too little gas for a call is reported, not mined.
    let poor = TransactionRequest::default()
        .from(alice.address())
        .to(contract)
        .input(set_calldata(10).into())
        .gas_limit(22_000);
    assert!(chain.estimate_gas(&poor, latest()).is_err());
}

#[tokio::test]
async fn shutdown_refuses_writes_keeps_reads() {
    let chain = Chain::in_memory(ChainConfig::default()).expect("chain");
    let alice = dev_signer(0).expect("key");
    chain.send_raw_transaction(&transfer(&alice, CHAIN_ID, 0, Address::repeat_byte(1), 1)).await.expect("send");
    chain.shutdown();
    let r = chain.send_raw_transaction(&transfer(&alice, CHAIN_ID, 1, Address::repeat_byte(1), 1)).await;
    assert!(matches!(r, Err(TxError::NotCommitted(_))), "{r:?}");
    assert!(chain.mine(None).await.is_err());
    assert_eq!(chain.block_number().expect("read"), 1);
    assert_eq!(chain.balance(Address::repeat_byte(1), latest()).expect("read"), U256::from(1));
}

/// Log queries walk an index of the blocks that have logs; a data directory written before
/// the index existed gets it built when opened, and finds the same logs.
#[tokio::test]
async fn logs_are_found_through_the_bloom_index_also_after_it_is_rebuilt() {
    use alloy_rpc_types_eth::Filter;
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = dev_signer(0).expect("key");
    let fee = 10_000_000_000u128;
    let query = |chain: &Chain, contract: Address| {
        let filter =
            Filter::new().address(contract).event_signature(stored_topic()).from_block(0u64).to_block(10_000u64);
        chain.logs(&filter).expect("logs").len()
    };
    let contract = {
        let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir.path().into())).expect("open");
        let deploy = sign_1559(&alice, CHAIN_ID, 0, TxKind::Create, U256::ZERO, Bytes::from(init_code()), 500_000, fee);
        let h = chain.send_raw_transaction(&deploy).await.expect("deploy");
        let contract = chain.transaction_receipt(h).expect("read").expect("receipt").contract_address.expect("address");
        for n in 1..=3u64 {
            let set = sign_1559(&alice, CHAIN_ID, n, TxKind::Call(contract), U256::ZERO, set_calldata(n), 100_000, fee);
            chain.send_raw_transaction(&set).await.expect("set");
            chain.mine(None).await.expect("an empty block between");
        }
        assert_eq!(query(&chain, contract), 3);
        contract
    };

    // as a chain written before the index: no index table, no marker
    {
        let db = redb::Database::open(dir.path().join("chain.redb")).expect("database");
        let w = db.begin_write().expect("write");
        w.delete_table(redb::TableDefinition::<u64, [u8; 256]>::new("log_blooms")).expect("drop the index");
        w.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
            .expect("meta")
            .remove("log_blooms_complete")
            .expect("drop the marker");
        w.commit().expect("commit");
    }
    let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir.path().into())).expect("reopen");
    assert_eq!(query(&chain, contract), 3, "the index was rebuilt from the blocks");
    let set = sign_1559(&alice, CHAIN_ID, 4, TxKind::Call(contract), U256::ZERO, set_calldata(4), 100_000, fee);
    chain.send_raw_transaction(&set).await.expect("set");
    assert_eq!(query(&chain, contract), 4, "new blocks are indexed");
}

#[tokio::test]
async fn a_producer_cache_trimmed_after_every_block_reads_the_same_state_back_from_the_store() {
    // One cached entry at most: after every block the producer starts again from the store,
    // so each block's balances, nonces and slots come from what the previous block committed.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ChainConfig { state_cache_entries: 1, ..ChainConfig::default() };
    let chain = Chain::open(config, Storage::Dir(dir.path().into())).expect("open");
    let alice = dev_signer(0).expect("key");
    let bob = dev_signer(1).expect("key");
    let sink = Address::repeat_byte(0x22);
    let deploy =
        sign_1559(&alice, CHAIN_ID, 0, TxKind::Create, U256::ZERO, Bytes::from(init_code()), 200_000, 2_000_000_000);
    let h = chain.send_raw_transaction(&deploy).await.expect("deploy");
    let contract = chain.transaction_receipt(h).expect("read").expect("receipt").contract_address.expect("address");
    for i in 1..=20u64 {
        let set =
            sign_1559(&alice, CHAIN_ID, i, TxKind::Call(contract), U256::ZERO, set_calldata(i), 100_000, 2_000_000_000);
        assert!(chain.send_raw_transaction(&set).await.is_ok(), "alice's nonce {i} follows from the store");
        let paid = chain.send_raw_transaction(&transfer(&bob, CHAIN_ID, i - 1, sink, i)).await;
        assert!(paid.is_ok(), "bob's nonce {} follows from the store: {paid:?}", i - 1);
        let slot = chain.storage_at(contract, U256::ZERO, latest()).expect("slot");
        assert_eq!(U256::from_be_bytes(slot.0), U256::from(i));
    }
    assert_eq!(chain.balance(sink, latest()).expect("balance"), U256::from((1..=20u64).sum::<u64>()));
    assert_eq!(chain.transaction_count(alice.address(), latest()).expect("nonce"), 21);
    assert_eq!(chain.transaction_count(bob.address(), latest()).expect("nonce"), 20);
    let head = chain.head();
    assert_eq!(chain.verify_hash_chain().expect("verify"), head.number + 1);
}
