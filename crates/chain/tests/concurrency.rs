//! Many concurrent senders: every transaction is committed, blocks are shared (batching), nonces
//! and balances are consistent, and the hash chain verifies.

mod common;

use std::collections::HashMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use alloy_signer_local::PrivateKeySigner;
use common::transfer;
use healthchain_chain::{Chain, ChainConfig, dev_signers};

const CHAIN_ID: u64 = 31337;

/// `senders` accounts each send `per_sender` transfers one after another (each waits for its
/// acknowledgment), all accounts at once. Returns every transaction hash.
async fn load(client: RpcClient, signers: Vec<PrivateKeySigner>, per_sender: u64, sink: Address) -> Vec<B256> {
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for s in signers {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut hashes = Vec::with_capacity(per_sender as usize);
            for nonce in 0..per_sender {
                let raw: Bytes = transfer(&s, CHAIN_ID, nonce, sink, 1_000 + nonce);
                let h: B256 = client.request("eth_sendRawTransaction", (raw,)).await.expect("accepted");
                hashes.push(h);
            }
            hashes
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{} tx in {secs:.3} s = {:.0} tx/s (signing included)", all.len(), all.len() as f64 / secs);
    all
}

async fn check<P: Provider>(
    p: &P,
    chain: &Chain,
    signers: &[PrivateKeySigner],
    hashes: &[B256],
    per_sender: u64,
    sink: Address,
) {
    let total = hashes.len() as u64;
    // Every receipt is there with status 1.
    let mut blocks: HashMap<u64, usize> = HashMap::new();
    for h in hashes {
        let r = p.get_transaction_receipt(*h).await.expect("receipt").expect("committed");
        assert!(r.status(), "tx {h} succeeded");
        *blocks.entry(r.block_number.expect("block")).or_default() += 1;
    }
    // Nonces are consistent.
    for s in signers {
        assert_eq!(p.get_transaction_count(s.address()).await.expect("nonce"), per_sender);
    }
    // The sink received exactly the sum of all values.
    let per_sender_sum: u64 = (0..per_sender).map(|n| 1_000 + n).sum();
    let expected = U256::from(per_sender_sum) * U256::from(signers.len());
    assert_eq!(p.get_balance(sink).await.expect("balance"), expected);
    // Batching: far fewer blocks than transactions.
    let head = chain.block_number().expect("head");
    let stats = chain.block_stats(1, head).expect("stats");
    let counted: usize = stats.iter().map(|s| s.1).sum();
    assert_eq!(counted as u64, total, "every transaction in exactly one block");
    let max_per_block = stats.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "{} senders x {per_sender} tx = {total} tx in {} blocks (max {max_per_block} tx in one block)",
        signers.len(),
        blocks.len()
    );
    assert!((blocks.len() as u64) * 4 <= total, "{} blocks for {total} transactions: not batched", blocks.len());
    assert!(max_per_block > 1);
    assert_eq!(chain.verify_hash_chain().expect("hash chain"), head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_senders_250_each_in_process() {
    let chain = Chain::temporary(ChainConfig { dev_accounts: 8, ..ChainConfig::default() }).expect("chain");
    let signers = dev_signers(8).expect("keys");
    let sink = Address::repeat_byte(0x5a);
    let hashes = load(chain.rpc_client(), signers.clone(), 250, sink).await;
    assert_eq!(hashes.len(), 2000);
    let p = ProviderBuilder::new().connect_client(chain.rpc_client());
    check(&p, &chain, &signers, &hashes, 250, sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_senders_over_http() {
    let chain = Chain::temporary(ChainConfig { dev_accounts: 32, ..ChainConfig::default() }).expect("chain");
    let server = chain.serve_http("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let url: reqwest::Url = server.url().parse().expect("url");
    let signers = dev_signers(32).expect("keys");
    let sink = Address::repeat_byte(0x5b);
    let hashes = load(RpcClient::new_http(url.clone()), signers.clone(), 40, sink).await;
    assert_eq!(hashes.len(), 1280);
    let p = ProviderBuilder::new().connect_http(url);
    check(&p, &chain, &signers, &hashes, 40, sink).await;
    server.shutdown().await;
}

/// A sender may pipeline: its next nonce is accepted while the previous transaction is still
/// pending, as long as they arrive in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sender_fills_blocks() {
    let chain = Chain::in_memory(ChainConfig::default()).expect("chain");
    let signer = dev_signers(1).expect("keys").remove(0);
    let sink = Address::repeat_byte(0x5c);
    let mut futs = Vec::new();
    for nonce in 0..500u64 {
        let raw = transfer(&signer, CHAIN_ID, nonce, sink, 1);
        let chain = chain.clone();
        futs.push(async move { chain.send_raw_transaction(&raw).await });
    }
    let results = futures::future::join_all(futs).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let head = chain.block_number().expect("head");
    assert!(head < 50, "500 pipelined transactions in {head} blocks");
    assert_eq!(chain.transaction_count(signer.address(), Default::default()).expect("nonce"), 500);
}
