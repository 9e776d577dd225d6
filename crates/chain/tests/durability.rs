//! Crash durability: a node process under load is killed with SIGKILL, restarted on the same
//! data directory, and every transaction it acknowledged must still be there, with the block
//! hash chain intact.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_client::RpcClient;
use common::transfer;
use healthchain_chain::dev_signers;

const CHAIN_ID: u64 = 31337;
const NODE: &str = env!("CARGO_BIN_EXE_healthchain-chain-node");

/// Kills the child (SIGKILL to exactly its PID) when dropped, so a failing test leaves nothing
/// running.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    fn start(dir: &std::path::Path) -> Node {
        let mut child = Command::new(NODE)
            .args(["--data-dir", &dir.to_string_lossy(), "--http", "127.0.0.1:0", "--dev-accounts", "8"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not report its address in time");
            }
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected node output: {line:?}"))
            .to_string();
        Node { child, url }
    }

    /// SIGKILL (std's `Child::kill` sends SIGKILL on Unix) to this child's PID, then reap it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transactions_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signers = dev_signers(8).expect("keys");
    let sink = Address::repeat_byte(0x77);

    let mut node = Node::start(dir.path());
    let url: reqwest::Url = node.url.parse().expect("url");
    let acked: Arc<Mutex<Vec<(B256, usize, u64)>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(20);

    // Load: 8 senders, each sending transfers back to back until the node dies.
    let mut tasks = Vec::new();
    for (i, s) in signers.iter().cloned().enumerate() {
        let client = RpcClient::new_http(url.clone());
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for nonce in 0..100_000u64 {
                if Instant::now() > deadline {
                    break;
                }
                let raw: Bytes = transfer(&s, CHAIN_ID, nonce, sink, 1);
                match client.request::<_, B256>("eth_sendRawTransaction", (raw,)).await {
                    Ok(h) => acked.lock().expect("lock").push((h, i, nonce)),
                    Err(_) => break, // the node is gone
                }
            }
        }));
    }
    // Let it run until a good number of transactions were acknowledged, then SIGKILL mid-load.
    let start = Instant::now();
    while acked.lock().expect("lock").len() < 1000 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 100, "only {} transactions acknowledged before the kill", acked.len());

    // Restart on the same directory.
    let node2 = Node::start(dir.path());
    let p = ProviderBuilder::new().connect_http(node2.url.parse().expect("url"));
    let mut max_nonce = [None::<u64>; 8];
    for (h, i, nonce) in &acked {
        let r = p.get_transaction_receipt(*h).await.expect("rpc").unwrap_or_else(|| panic!("acknowledged tx {h} lost"));
        assert!(r.status());
        max_nonce[*i] = Some(max_nonce[*i].map_or(*nonce, |m: u64| m.max(*nonce)));
    }
    for (i, s) in signers.iter().enumerate() {
        let n = p.get_transaction_count(s.address()).await.expect("nonce");
        if let Some(m) = max_nonce[i] {
            assert!(n > m, "sender {i}: nonce {n} after restart, acknowledged up to {m}");
        }
    }
    // The hash chain is intact: every block hashes to its stored hash, parents link up.
    let head = p.get_block_number().await.expect("head");
    let mut parent = B256::ZERO;
    let mut txs = 0usize;
    for n in 0..=head {
        let b = p.get_block_by_number(n.into()).await.expect("rpc").expect("block");
        assert_eq!(b.header.inner.hash_slow(), b.header.hash, "block {n} hash");
        assert_eq!(b.header.inner.parent_hash, parent, "block {n} parent");
        parent = b.header.hash;
        txs += b.transactions.len();
    }
    assert!(txs >= acked.len());
    println!("{} acknowledged before SIGKILL, {txs} transactions in {head} blocks after restart", acked.len());

    // The restarted node keeps producing on top.
    let s = &signers[0];
    let nonce = p.get_transaction_count(s.address()).await.expect("nonce");
    let h = p.send_raw_transaction(&transfer(s, CHAIN_ID, nonce, sink, 1)).await.expect("send");
    let r = p.get_transaction_receipt(*h.tx_hash()).await.expect("rpc").expect("receipt");
    assert_eq!(r.block_number, Some(head + 1));
    drop(node2);
}
