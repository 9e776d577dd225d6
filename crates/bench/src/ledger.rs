//! `ledger`: write and read latency (p50, p99) and committed transactions per second over
//! JSON-RPC, the embedded chain (durable: one fsync per block) vs an external node, in one
//! run (seed 001: create 2.05 s, update 2.04 s, query 7 ms).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256, keccak256};
use healthchain_chain::{Chain, ChainConfig, Storage};
use healthchain_crypto::signing::EthKey;
use healthchain_ledger::client::{Connection, GasMode};
use healthchain_ledger::errors::LedgerError;
use healthchain_ledger::testing::dev_key;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};

use crate::{BenchError, Figure, Goal, Options, Stat, Suite, SuiteReport, Unit, peer_chain};

/// Enough for `addPolicy`; fixed so no estimate adds a round trip to the write.
const WRITE_GAS: u64 = 60_000;

/// A deployed chain with one writer whose record has a policy.
struct Target {
    conn: Connection,
    deployment: Deployment,
    writer: Ledger,
    record: B256,
}

/// One chain's figures: per round p50 and p99 of writes and reads, and tx/s.
#[derive(Default)]
struct Measured {
    write_p50: Vec<f64>,
    write_p99: Vec<f64>,
    read_p50: Vec<f64>,
    read_p99: Vec<f64>,
    tx_per_s: Vec<f64>,
}

/// One line of the table: which of a chain's measurements, and its goal.
struct Row {
    measure: &'static str,
    paper: &'static str,
    values: fn(&Measured) -> &Vec<f64>,
    unit: Unit,
    goal: Option<Goal>,
}

struct Sizes {
    rounds: usize,
    samples: usize,
    clients: usize,
    per_client: usize,
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report = SuiteReport::new(
        Suite::Ledger,
        "seed 001 ledger: write/read latency and tx/s, embedded chain vs external node",
    );
    let sizes = if options.quick {
        Sizes { rounds: 2, samples: 50, clients: 8, per_client: 5 }
    } else {
        Sizes { rounds: 5, samples: 400, clients: 64, per_client: 40 }
    };
    let failed = |e: &dyn std::fmt::Display| BenchError::failed(Suite::Ledger, e);
    let runtime = crate::runtime(Suite::Ledger)?;
    let (ours, peer) = runtime.block_on(async {
        let dir = options.scratch.join("ledger-chain");
        let chain = Chain::open(ChainConfig::default(), Storage::Dir(dir)).map_err(|e| failed(&e))?;
        let server = chain.serve_http("127.0.0.1:0".parse().map_err(|e| failed(&e))?).await.map_err(|e| failed(&e))?;
        // The embedded chain is measured before the peer starts, so the peer's start-up does
        // not share the cores with it.
        let ours = measure("embedded", &server.url(), &sizes).await.map_err(|e| failed(&e));
        server.shutdown().await;
        chain.shutdown();
        let ours = ours?;
        let peer = match peer_chain(options, Suite::Ledger, &mut report).await? {
            Some(node) => {
                let measured = measure(node.name(), node.url(), &sizes).await.map_err(|e| failed(&e))?;
                Some((node.name(), measured))
            }
            None => None,
        };
        Ok::<_, BenchError>((ours, peer))
    })?;

    let rows = [
        Row {
            measure: "write latency p50 (send + receipt)",
            paper: "create 2.05 s, update 2.04 s",
            values: |m| &m.write_p50,
            unit: Unit::Ms,
            goal: Some(Goal::AtMost(1.0)),
        },
        Row {
            measure: "write latency p99",
            paper: "-",
            values: |m| &m.write_p99,
            unit: Unit::Ms,
            goal: Some(Goal::AtMost(3.0)),
        },
        // DESIGN.md bounds reads by their p99 only.
        Row {
            measure: "read latency p50 (eth_call)",
            paper: "query 7 ms",
            values: |m| &m.read_p50,
            unit: Unit::Ms,
            goal: None,
        },
        Row {
            measure: "read latency p99",
            paper: "-",
            values: |m| &m.read_p99,
            unit: Unit::Ms,
            goal: Some(Goal::AtMost(0.5)),
        },
        Row {
            measure: "committed tx/s",
            paper: "-",
            values: |m| &m.tx_per_s,
            unit: Unit::PerSecond,
            goal: Some(Goal::AtLeast(5_000.0)),
        },
    ];
    for row in rows {
        let mut figure = Figure::new(row.measure, row.unit, Stat::of((row.values)(&ours).clone())).paper(row.paper);
        if let Some((name, peer)) = &peer {
            figure = figure.peer(*name, Stat::of((row.values)(peer).clone()));
        }
        if let Some(goal) = row.goal {
            figure = figure.goal(goal);
        }
        report.figures.push(figure);
    }
    report.notes.push(format!(
        "{} rounds of {} writes and {} reads each; throughput: {} concurrent clients × {} transactions",
        sizes.rounds, sizes.samples, sizes.samples, sizes.clients, sizes.per_client
    ));
    Ok(report)
}

async fn measure(name: &str, url: &str, sizes: &Sizes) -> Result<Measured, LedgerError> {
    let target = prepare(url).await?;
    for i in 0..20 {
        write_once(&target, i).await?;
        read_once(&target, i).await?;
    }
    let mut measured = Measured::default();
    for round in 0..sizes.rounds {
        let base = (round * sizes.samples) as u64;
        let mut writes = Vec::with_capacity(sizes.samples);
        for i in 0..sizes.samples as u64 {
            writes.push(write_once(&target, base + i).await?);
        }
        let mut reads = Vec::with_capacity(sizes.samples);
        for i in 0..sizes.samples as u64 {
            reads.push(read_once(&target, base + i).await?);
        }
        measured.write_p50.push(percentile(&mut writes, 50));
        measured.write_p99.push(percentile(&mut writes, 99));
        measured.read_p50.push(percentile(&mut reads, 50));
        measured.read_p99.push(percentile(&mut reads, 99));
        let label = format!("{name} round {round}");
        measured.tx_per_s.push(throughput(&target, &label, sizes.clients, sizes.per_client).await?);
    }
    Ok(measured)
}

async fn prepare(url: &str) -> Result<Target, LedgerError> {
    let conn = Connection::http(url).await?;
    let admin = conn.account(&dev_key(0));
    let deployment = deploy(&admin, None, &DeployParams::default()).await?.deployment;
    let writer = Ledger::new(&conn, None, &dev_key(1), deployment);
    let deposit = writer.records().deposit().await?;
    let record = writer.records().register(keccak256("bench"), keccak256("manifest"), deposit).await?.event.recordId;
    writer.records().add_policy(record, 1, 1, u32::MAX).await?;
    Ok(Target { conn, deployment, writer: writer.with_gas_mode(GasMode::Fixed(WRITE_GAS)), record })
}

/// One `addPolicy`, signed, sent and its receipt back, in milliseconds.
async fn write_once(t: &Target, i: u64) -> Result<f64, LedgerError> {
    let start = Instant::now();
    t.writer.records().add_policy(t.record, (i % 1000 + 1) as u32, 1, u32::MAX).await?;
    Ok(ms(start.elapsed()))
}

/// One `verifyPolicy` call, in milliseconds.
async fn read_once(t: &Target, i: u64) -> Result<f64, LedgerError> {
    let start = Instant::now();
    if !t.writer.records().verify_policy(t.record, 1_000 + i).await? {
        return Err(LedgerError::InvalidArgument("verifyPolicy refused a payment that covers the price".into()));
    }
    Ok(ms(start.elapsed()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(samples: &mut [f64], p: usize) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get((samples.len() * p / 100).min(samples.len().saturating_sub(1))).copied().unwrap_or(f64::NAN)
}

/// Committed tx/s with `clients` fresh funded accounts, each writing to its own record.
async fn throughput(t: &Target, label: &str, clients: usize, per_client: usize) -> Result<f64, LedgerError> {
    let bank = t.conn.account(&dev_key(0));
    let deposit = t.writer.records().deposit().await?;
    let mut setup = Vec::new();
    for i in 0..clients {
        let key = EthKey::from_bytes(keccak256(format!("{label} client {i}")).as_slice())
            .map_err(|e| LedgerError::InvalidArgument(e.to_string()))?;
        bank.transfer(key.address(), U256::from(10u128.pow(18))).await?;
        let ledger = Ledger::new(&t.conn, None, &key, t.deployment);
        setup.push(tokio::spawn(async move {
            let record = ledger.records().register(keccak256(ledger.address()), B256::ZERO, deposit).await?;
            Ok::<_, LedgerError>((ledger.with_gas_mode(GasMode::Fixed(WRITE_GAS)), record.event.recordId))
        }));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for task in setup {
        let (ledger, record) = task.await.map_err(|e| LedgerError::InvalidArgument(e.to_string()))??;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..per_client {
                ledger.records().add_policy(record, i as u32 + 1, 1, u32::MAX).await?;
            }
            Ok::<_, LedgerError>(())
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    for task in tasks {
        task.await.map_err(|e| LedgerError::InvalidArgument(e.to_string()))??;
    }
    Ok((clients * per_client) as f64 / start.elapsed().as_secs_f64())
}
