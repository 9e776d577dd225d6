//! Side-by-side ledger benchmark through the `Ledger` client over plain HTTP JSON-RPC:
//! (a) the embedded chain served by `Chain::serve_http` from a temporary data directory
//! (durable: every block fsync'd before acknowledging), and (b) a hardhat 2 node started by the
//! harness, in the same run.
//!
//! - **write**: one client, `RecordRegistry.addPolicy` (seed 000's `addPolicy`) with a fixed gas
//!   limit: sign + `eth_sendRawTransaction` + `eth_getTransactionReceipt`, one transaction per
//!   block; p50 / p99 over a fixed sample.
//! - **read**: `eth_call` of `RecordRegistry.verifyPolicy`; p50 / p99.
//! - **throughput**: `HC_BENCH_CLIENTS` (64) concurrent clients, each its own account sending
//!   `addPolicy` back to back and waiting for each receipt; committed transactions per second.
//!
//! A fixed sample of each is timed first and the table printed (percentiles computed here);
//! criterion then measures write and read means per backend. Goals (DESIGN.md): write p50 ≤ 1
//! ms, p99 ≤ 3 ms, read p99 ≤ 0.5 ms, ≥ 5,000 committed tx/s. If hardhat cannot be started, only
//! the embedded chain is measured.
//!
//! Knobs: `HC_BENCH_SAMPLES` (2000), `HC_BENCH_CLIENTS` (64), `HC_BENCH_TX_PER_CLIENT` (40),
//! `HC_BENCH_SKIP_CRITERION=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256, keccak256};
use criterion::Criterion;
use healthchain_chain::{Chain, ChainConfig, Storage};
use healthchain_crypto::signing::EthKey;
use healthchain_ledger::client::{Connection, GasMode};
use healthchain_ledger::testing::{HardhatNode, dev_key};
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const WRITE_GAS: u64 = 60_000;

/// A deployed target with one writer whose record has a policy.
struct Target {
    name: &'static str,
    conn: Connection,
    deployment: Deployment,
    writer: Ledger,
    record: B256,
}

async fn prepare(name: &'static str, url: &str) -> Target {
    let conn = Connection::http(url).await.expect("connect");
    let admin = conn.account(&dev_key(0));
    let deployment = deploy(&admin, None, &DeployParams::default()).await.expect("deploy").deployment;
    let writer = Ledger::new(&conn, None, &dev_key(1), deployment);
    let deposit = writer.records().deposit().await.expect("deposit");
    let record = writer.records().register(keccak256("bench"), keccak256("manifest"), deposit).await.expect("register");
    let record = record.event.recordId;
    writer.records().add_policy(record, 1, 1, u32::MAX).await.expect("policy");
    let writer = writer.with_gas_mode(GasMode::Fixed(WRITE_GAS));
    Target { name, conn, deployment, writer, record }
}

async fn write_once(t: &Target, i: u64) -> Duration {
    let start = Instant::now();
    t.writer.records().add_policy(t.record, (i % 1000 + 1) as u32, 1, u32::MAX).await.expect("addPolicy");
    start.elapsed()
}

async fn read_once(t: &Target, i: u64) -> Duration {
    let start = Instant::now();
    let ok = t.writer.records().verify_policy(t.record, 1_000 + i).await.expect("verifyPolicy");
    assert!(ok);
    start.elapsed()
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    Stats { p50: at(50), p99: at(99) }
}

/// Committed tx/s with `clients` concurrent accounts, `per_client` transactions each; also
/// transactions per block.
async fn throughput(t: &Target, clients: usize, per_client: usize) -> (f64, f64) {
    // fresh accounts, funded, each with its own record
    let bank = t.conn.account(&dev_key(0));
    let mut ledgers = Vec::new();
    for i in 0..clients {
        let key = EthKey::from_bytes(keccak256(format!("{} bench client {i}", t.name)).as_slice()).expect("key");
        bank.transfer(key.address(), U256::from(10u128.pow(18))).await.expect("fund");
        ledgers.push(Ledger::new(&t.conn, None, &key, t.deployment));
    }
    let deposit = t.writer.records().deposit().await.expect("deposit");
    let mut setup = Vec::new();
    for l in &ledgers {
        let l = l.clone();
        setup.push(tokio::spawn(async move {
            let id = l.records().register(keccak256(l.address()), B256::ZERO, deposit).await.expect("register");
            (l.with_gas_mode(GasMode::Fixed(WRITE_GAS)), id.event.recordId)
        }));
    }
    let mut workers = Vec::new();
    for s in setup {
        workers.push(s.await.expect("setup"));
    }
    let first_block = t.conn.block_number().await.expect("block");
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for (l, record) in workers {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..per_client {
                l.records().add_policy(record, i as u32 + 1, 1, u32::MAX).await.expect("addPolicy");
            }
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    for task in tasks {
        task.await.expect("client");
    }
    let elapsed = start.elapsed();
    let blocks = t.conn.block_number().await.expect("block") - first_block;
    let total = (clients * per_client) as f64;
    (total / elapsed.as_secs_f64(), total / blocks.max(1) as f64)
}

/// 200 × (4 KiB write + fdatasync) in `dir`: the physical floor of one durable block.
fn fsync_floor(dir: &std::path::Path) -> Vec<Duration> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(dir.join("fsync-probe")).expect("probe file");
    (0..200u64)
        .map(|i| {
            f.write_all_at(&[7u8; 4096], i * 4096).expect("write");
            let t = Instant::now();
            f.sync_data().expect("fdatasync");
            t.elapsed()
        })
        .collect()
}

struct Row {
    write: Stats,
    read: Stats,
    tps: f64,
    per_block: f64,
}

async fn measure(t: &Target, samples: usize, clients: usize, per_client: usize) -> Row {
    for i in 0..50 {
        write_once(t, i).await;
        read_once(t, i).await;
    }
    let mut w = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        w.push(write_once(t, i).await);
    }
    let mut r = Vec::with_capacity(samples);
    for i in 0..samples as u64 {
        r.push(read_once(t, i).await);
    }
    let (tps, per_block) = throughput(t, clients, per_client).await;
    Row { write: stats(w), read: stats(r), tps, per_block }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn print_table(embedded: &Row, hardhat: Option<&Row>, clients: usize) {
    println!("\nledger over HTTP JSON-RPC (one run; ratio = hardhat / embedded, higher is better for us)");
    println!("| measure | embedded (durable) | hardhat 2 | ratio | goal (embedded) | met |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, e: Duration, h: Option<Duration>, goal: Option<Duration>| {
        let (hs, ratio) = match h {
            Some(h) => (ms(h), format!("{:.1}×", h.as_secs_f64() / e.as_secs_f64())),
            None => ("—".into(), "—".into()),
        };
        let (g, met) = match goal {
            Some(g) => (format!("≤ {}", ms(g)), if e <= g { "yes" } else { "no" }),
            None => ("—".into(), "—"),
        };
        println!("| {name} | {} | {hs} | {ratio} | {g} | {met} |", ms(e));
    };
    row("write p50", embedded.write.p50, hardhat.map(|h| h.write.p50), Some(Duration::from_millis(1)));
    row("write p99", embedded.write.p99, hardhat.map(|h| h.write.p99), Some(Duration::from_millis(3)));
    row("read (eth_call verifyPolicy) p50", embedded.read.p50, hardhat.map(|h| h.read.p50), None);
    row(
        "read (eth_call verifyPolicy) p99",
        embedded.read.p99,
        hardhat.map(|h| h.read.p99),
        Some(Duration::from_micros(500)),
    );
    let (hs, ratio) = match hardhat {
        Some(h) => {
            (format!("{:.0} tx/s ({:.1} tx/block)", h.tps, h.per_block), format!("{:.1}×", embedded.tps / h.tps))
        }
        None => ("—".into(), "—".into()),
    };
    println!(
        "| committed tx/s, {clients} clients | {:.0} tx/s ({:.1} tx/block) | {hs} | {ratio} (embedded / hardhat) | ≥ 5,000 | {} |",
        embedded.tps,
        embedded.per_block,
        if embedded.tps >= 5000.0 { "yes" } else { "no" }
    );
}

fn main() {
    let samples = env_usize("HC_BENCH_SAMPLES", 2000);
    let clients = env_usize("HC_BENCH_CLIENTS", 64);
    let per_client = env_usize("HC_BENCH_TX_PER_CLIENT", 40);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    let dir = tempfile::tempdir().expect("tempdir");
    let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir.path().join("chain"))).expect("chain");
    let server = rt.block_on(chain.serve_http("127.0.0.1:0".parse().expect("addr"))).expect("serve");
    let floor_before = fsync_floor(dir.path());
    let embedded = rt.block_on(prepare("embedded", &server.url()));
    // The embedded chain is measured before hardhat starts, so node's start-up work does not
    // share the two cores with it; then hardhat on the same machine right after.
    let e_row = rt.block_on(measure(&embedded, samples, clients, per_client));
    let node = match rt.block_on(HardhatNode::start()) {
        Ok(node) => Some(node),
        Err(e) => {
            println!("hardhat unavailable ({e}); measuring the embedded chain only");
            None
        }
    };
    let hardhat = node.as_ref().map(|n| rt.block_on(prepare("hardhat", n.url())));

    let h_row = hardhat.as_ref().map(|h| rt.block_on(measure(h, samples, clients, per_client)));
    print_table(&e_row, h_row.as_ref(), clients);
    let floor = stats([floor_before, fsync_floor(dir.path())].concat());
    println!(
        "fsync floor of this disk (4 KiB pwrite + fdatasync, where the chain's data lives): p50 {}, p99 {}",
        ms(floor.p50),
        ms(floor.p99)
    );

    if std::env::var("HC_BENCH_SKIP_CRITERION").is_err() {
        let mut c = Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        let mut targets = vec![&embedded];
        targets.extend(hardhat.as_ref());
        for t in targets {
            let mut g = c.benchmark_group(format!("ledger/{}", t.name));
            g.bench_function("write_addPolicy", |b| {
                b.iter_custom(|n| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for i in 0..n {
                            total += write_once(t, i).await;
                        }
                        total
                    })
                })
            });
            g.bench_function("read_verifyPolicy", |b| {
                b.iter_custom(|n| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for i in 0..n {
                            total += read_once(t, i).await;
                        }
                        total
                    })
                })
            });
            g.finish();
        }
        c.final_summary();
    }
    drop(node);
    rt.block_on(server.shutdown());
    chain.shutdown();
}
