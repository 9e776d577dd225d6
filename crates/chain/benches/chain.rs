//! Benchmarks of the embedded chain over HTTP JSON-RPC on loopback (durable mode: every block
//! fsync'd), with the DESIGN.md goals: write p50 ≤ 1 ms, p99 ≤ 3 ms; read p99 ≤ 0.5 ms;
//! ≥ 5,000 committed tx/s.
//!
//! - `write_latency`: one client sends a signed transfer (`eth_sendRawTransaction`, which
//!   returns once the block is committed) and fetches its receipt; time per pair.
//! - `throughput`: many concurrent clients (each its own account) send signed transfers back
//!   to back, each waiting for its `eth_sendRawTransaction` acknowledgment (given only after
//!   the block is committed); committed transactions per second. All receipts are checked
//!   afterwards.
//! - `eth_call`: one client calls a contract getter (one SLOAD); time per call.
//!
//! Criterion reports means; before it, a fixed sample of each is timed and its percentiles
//! printed. Signing happens before the timed sections.
//!
//! Environment knobs: `HC_BENCH_CLIENTS` (default 64), `HC_BENCH_TX_PER_CLIENT` (default 100),
//! `HC_BENCH_SAMPLES` (default 2000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use criterion::{Criterion, Throughput};
use healthchain_chain::{Chain, ChainConfig, HttpServer, dev_signers};
use serde_json::{Value, json};

const CHAIN_ID: u64 = 31337;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sign(signer: &PrivateKeySigner, nonce: u64, to: TxKind, input: Bytes, gas: u64) -> String {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 0,
        to,
        value: if input.is_empty() { U256::from(1) } else { U256::ZERO },
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
    let env: TxEnvelope = tx.into_signed(sig).into();
    format!("0x{}", hex(&env.encoded_2718()))
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Minimal JSON-RPC client over one keep-alive HTTP connection pool.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
    id: Arc<AtomicU64>,
}

impl Client {
    fn new(url: &str) -> Self {
        let http = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1024).build().expect("client");
        Client { http, url: url.to_string(), id: Arc::default() }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let id = self.id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        let resp =
            self.http.post(&self.url).header("content-type", "application/json").body(body).send().await.expect("http");
        let bytes = resp.bytes().await.expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        if let Some(e) = v.get("error") {
            panic!("{method} failed: {e}");
        }
        v["result"].clone()
    }

    /// Sends a raw transaction (returns after commit) and reads its receipt.
    async fn write(&self, raw: &str) {
        let hash = self.call("eth_sendRawTransaction", json!([raw])).await;
        let r = self.call("eth_getTransactionReceipt", json!([hash])).await;
        assert_eq!(r["status"], "0x1");
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    chain: Chain,
    _server: HttpServer,
    client: Client,
    signers: Vec<PrivateKeySigner>,
    nonces: Vec<AtomicU64>,
    contract: Address,
    sink: Address,
}

fn percentiles(label: &str, mut d: Vec<Duration>) {
    d.sort();
    let q = |p: f64| d[((d.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let mean = d.iter().map(|x| x.as_secs_f64()).sum::<f64>() / d.len() as f64 * 1e3;
    println!(
        "{label}: n={} mean {mean:.3} ms  p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        d.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

/// The physical floor of a durable write here: 4 KiB pwrite + fdatasync in a temp directory
/// on the same filesystem as the chain's data (other processes' I/O makes this vary a lot).
fn fsync_floor() -> Vec<Duration> {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let f = std::fs::File::create(dir.path().join("probe")).expect("file");
    let page = [7u8; 4096];
    (0..200u64)
        .map(|i| {
            f.write_all_at(&page, i * 4096).expect("write");
            let t = Instant::now();
            f.sync_data().expect("fsync");
            t.elapsed()
        })
        .collect()
}

fn setup(clients: usize) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let accounts = (clients + 1) as u32;
    let chain = Chain::temporary(ChainConfig { dev_accounts: accounts, ..ChainConfig::default() }).expect("chain");
    let server = rt.block_on(chain.serve_http("127.0.0.1:0".parse().expect("addr"))).expect("serve");
    let client = Client::new(&server.url());
    let signers = dev_signers(accounts).expect("keys");
    let nonces: Vec<AtomicU64> = (0..accounts).map(|_| AtomicU64::new(0)).collect();
    // Deploy a contract whose runtime returns storage slot 0 (SLOAD) and stores on calldata.
    // runtime: CALLDATASIZE ISZERO PUSH1 get JUMPI  PUSH1 0 CALLDATALOAD PUSH1 0 SSTORE STOP
    //          get: JUMPDEST PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    let runtime: Vec<u8> = vec![
        0x36, 0x15, 0x60, 0x0b, 0x57, 0x60, 0x00, 0x35, 0x60, 0x00, 0x55, 0x5b, 0x60, 0x00, 0x54, 0x60, 0x00, 0x52,
        0x60, 0x20, 0x60, 0x00, 0xf3,
    ];
    // The JUMPDEST is at offset 11 (0x0b); the store path ends in the JUMPDEST too, which then
    // returns the stored value: fine for a benchmark.
    let mut init =
        vec![0x60, runtime.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, runtime.len() as u8, 0x60, 0x00, 0xf3];
    init.extend_from_slice(&runtime);
    let deployer = &signers[clients];
    let raw = sign(deployer, 0, TxKind::Create, Bytes::from(init), 200_000);
    nonces[clients].store(1, Ordering::SeqCst);
    let contract = rt.block_on(async {
        let hash = client.call("eth_sendRawTransaction", json!([raw])).await;
        let r = client.call("eth_getTransactionReceipt", json!([hash])).await;
        assert_eq!(r["status"], "0x1");
        r["contractAddress"].as_str().expect("address").parse::<Address>().expect("address")
    });
    // Store a value so the getter reads a non-zero slot.
    let raw =
        sign(deployer, 1, TxKind::Call(contract), Bytes::from(U256::from(42).to_be_bytes::<32>().to_vec()), 100_000);
    nonces[clients].store(2, Ordering::SeqCst);
    rt.block_on(client.write(&raw));
    Setup { rt, chain, _server: server, client, signers, nonces, contract, sink: Address::repeat_byte(0x42) }
}

impl Setup {
    fn presign(&self, account: usize, n: usize) -> Vec<String> {
        let start = self.nonces[account].fetch_add(n as u64, Ordering::SeqCst);
        (0..n as u64)
            .map(|i| sign(&self.signers[account], start + i, TxKind::Call(self.sink), Bytes::new(), 21_000))
            .collect()
    }

    fn call_params(&self) -> Value {
        json!([{"to": self.contract, "data": "0x"}, "latest"])
    }

    /// `clients` concurrent writers, `per_client` transactions each; returns (tx, seconds).
    fn throughput(&self, clients: usize, per_client: usize) -> (usize, f64) {
        let txs: Vec<Vec<String>> = (0..clients).map(|c| self.presign(c, per_client)).collect();
        self.rt.block_on(async {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for list in txs {
                let client = self.client.clone();
                tasks.push(tokio::spawn(async move {
                    for raw in &list {
                        // Returns only once the transaction's block is committed (fsync'd).
                        let hash = client.call("eth_sendRawTransaction", json!([raw])).await;
                        assert!(hash.is_string());
                    }
                    list.len()
                }));
            }
            let mut n = 0;
            for t in tasks {
                n += t.await.expect("task");
            }
            (n, start.elapsed().as_secs_f64())
        })
    }
}

fn main() {
    let clients = env_usize("HC_BENCH_CLIENTS", 64);
    let per_client = env_usize("HC_BENCH_TX_PER_CLIENT", 100);
    let samples = env_usize("HC_BENCH_SAMPLES", 2000);
    let s = setup(clients);
    let writer = clients; // the single-client benches use the deployer's account

    // ---- percentiles from fixed samples
    println!("== healthchain-chain over HTTP JSON-RPC on loopback (durable, fsync per block) ==");
    percentiles("fsync floor before (4 KiB write + fdatasync)", fsync_floor());
    let warm = s.presign(writer, 200);
    s.rt.block_on(async {
        for raw in &warm {
            s.client.write(raw).await;
        }
    });
    let txs = s.presign(writer, samples);
    let lat = s.rt.block_on(async {
        let mut d = Vec::with_capacity(txs.len());
        for raw in &txs {
            let t = Instant::now();
            s.client.write(raw).await;
            d.push(t.elapsed());
        }
        d
    });
    percentiles("write latency (sendRawTransaction + getTransactionReceipt, 1 client)", lat);

    let params = s.call_params();
    let lat = s.rt.block_on(async {
        let out = s.client.call("eth_call", params.clone()).await;
        assert_eq!(out, json!(format!("0x{:064x}", 42)), "getter returns the stored value");
        let mut d = Vec::with_capacity(samples * 2);
        for _ in 0..samples * 2 {
            let t = Instant::now();
            let _ = s.client.call("eth_call", params.clone()).await;
            d.push(t.elapsed());
        }
        d
    });
    percentiles("eth_call latency (1 client)", lat);

    let head0 = s.chain.block_number().expect("head");
    let (n, secs) = s.throughput(clients, per_client);
    let head1 = s.chain.block_number().expect("head");
    let stats = s.chain.block_stats(head0 + 1, head1).expect("stats");
    assert_eq!(stats.iter().map(|b| b.1).sum::<usize>(), n, "every acknowledged transaction is in a block");
    println!(
        "throughput: {clients} concurrent clients x {per_client} tx = {n} tx committed in {secs:.3} s = {:.0} tx/s, {} blocks ({:.1} tx/block)",
        n as f64 / secs,
        head1 - head0,
        n as f64 / (head1 - head0).max(1) as f64
    );

    percentiles("fsync floor after (4 KiB write + fdatasync)", fsync_floor());

    // ---- criterion (means)
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("http");
        g.bench_function("write_latency", |b| {
            b.iter_custom(|iters| {
                let txs = s.presign(writer, iters as usize);
                s.rt.block_on(async {
                    let t = Instant::now();
                    for raw in &txs {
                        s.client.write(raw).await;
                    }
                    t.elapsed()
                })
            })
        });
        g.bench_function("eth_call", |b| {
            b.iter_custom(|iters| {
                s.rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let _ = s.client.call("eth_call", params.clone()).await;
                    }
                    t.elapsed()
                })
            })
        });
        let batch = clients * 10;
        g.throughput(Throughput::Elements(batch as u64));
        g.sample_size(10);
        g.bench_function(format!("throughput_{clients}_clients"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (_, secs) = s.throughput(clients, 10);
                    total += Duration::from_secs_f64(secs);
                }
                total
            })
        });
        g.finish();
    }
    c.final_summary();
    println!("verified hash chain: {} blocks", s.chain.verify_hash_chain().expect("hash chain"));
}
