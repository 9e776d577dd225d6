//! `load`: 500 concurrent clients against `healthchain node`'s HTTP API for 60 s with
//! seed 001's mix — create, query, update of EHR heads on `EhrRegistry` (seed 001 Fig. 3,
//! measured there with http_load: 100% success). Driven by `goose`.
//!
//! Each client is a registered doctor with its own account; its loop is create (a new
//! patient's EHR, under that patient's freshly signed warrant), query, update (the same
//! EHR, known warrant), query. Writes go through `POST /api/v1/transactions`, which answers
//! once the transaction is in a block; queries are `eth_call`s of `EhrRegistry.query`
//! through `POST /rpc`. Both are the node's real endpoints, served by `healthchain_node`
//! with a per-client rate limit high enough not to refuse a single-address load generator.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use alloy_provider::Provider;
use alloy_sol_types::{Eip712Domain, SolCall};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use healthchain_core::attached::RunningNode;
use healthchain_core::environment::Environment;
use healthchain_core::host::EnclaveProgram;
use healthchain_crypto::eip712::{self, DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::signing::EthKey;
use healthchain_ledger::bindings::EhrRegistry;
use healthchain_ledger::contracts::{PRIVILEGE_WRITE_EHR, warrant_to_binding};
use serde_json::{Value, json};

use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit};

/// Gas limit of a write (a create with a new warrant uses ~137k).
const WRITE_GAS: u64 = 300_000;

/// What every client shares: the chain's parameters and the doctors' keys.
struct Plan {
    chain_id: u64,
    registry: Address,
    hospital: Address,
    domain: Eip712Domain,
    max_fee: u128,
    doctors: Vec<EthKey>,
}

/// One client's state between its requests.
#[derive(Clone)]
struct Client {
    doctor: usize,
    nonce: u64,
    patients: u64,
    current: Option<SignedWarrant>,
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::failed(Suite::Load, e);
    let clients = if options.quick { 20 } else { 500 };
    let mut report = SuiteReport::new(
        Suite::Load,
        format!("seed 001 Fig. 3: {clients} concurrent clients, create/query/update through the node's HTTP API"),
    );
    let home = options.scratch.join("load");
    let mut node = NodeProcess::start(&options.program, &home).map_err(|e| failed(&e))?;
    let runtime = crate::runtime(Suite::Load)?;
    let program = EnclaveProgram { program: options.program.clone(), args: vec!["enclave-process".into()] };
    let outcome = runtime.block_on(async {
        let running = RunningNode::serving(&home)
            .map_err(|e| failed(&e))?
            .ok_or_else(|| failed(&"the node did not announce itself in node.json"))?;
        let env = Environment::attach(&home, &program, &running).await.map_err(|e| failed(&e))?;
        let plan = Arc::new(prepare(&env, clients).await.map_err(|e| failed(&e))?);
        drop(env);
        let memory = MemoryProbe::start(node.child.id());
        let metrics = attack(&node.url, plan, clients, options.load_duration)
            .await
            .map_err(|e| failed(&format!("goose: {e:?}")))?;
        Ok::<_, BenchError>((metrics, memory.stop().await))
    });
    node.stop();
    let (metrics, memory) = outcome?;

    let (mut ok, mut all) = (0usize, 0usize);
    let mut latency = Series { name: "p50 (bar: p99)".into(), points: Vec::new() };
    let mut categories = Vec::new();
    for (name, paper) in [("create", "Fig. 3: seconds"), ("query", "Fig. 3: fastest"), ("update", "Fig. 3: seconds")] {
        let Some(aggregate) = metrics.requests.iter().find(|(key, _)| key.ends_with(name)).map(|(_, a)| a) else {
            return Err(failed(&format!("goose reported no `{name}` requests")));
        };
        ok += aggregate.success_count;
        all += aggregate.success_count + aggregate.fail_count;
        let p = |q: f32| aggregate.raw_data.percentile_us(q) as f64 / 1e3;
        let spread = Stat {
            median: p(0.5),
            min: aggregate.raw_data.minimum_time_us as f64 / 1e3,
            max: p(0.99),
            samples: aggregate.raw_data.counter,
        };
        report.figures.push(Figure::new(format!("{name} latency p50 [min–p99]"), Unit::Ms, spread).paper(paper));
        latency.points.push((categories.len() as f64, spread));
        categories.push(name.to_string());
    }
    let seconds = metrics.duration.max(1) as f64;
    let success = if all == 0 { 0.0 } else { 100.0 * ok as f64 / all as f64 };
    report.figures.push(
        Figure::new("requests succeeded", Unit::Percent, Stat::single(success))
            .paper("100% (http_load)")
            .goal(Goal::AtLeast(100.0)),
    );
    report.figures.push(
        Figure::new("requests per second", Unit::PerSecond, Stat::single(all as f64 / seconds))
            .goal(Goal::AtLeast(10_000.0)),
    );
    report.figures.push(Figure::new("node memory, resident (median [min–max])", Unit::MiB, memory.resident()));
    report.figures.push(Figure::new(
        "node memory growth, first half of the load",
        Unit::MiB,
        Stat::single(memory.growth(0.0, 0.5)),
    ));
    report.figures.push(Figure::new(
        "node memory growth, second half of the load",
        Unit::MiB,
        Stat::single(memory.growth(0.5, 1.0)),
    ));
    report.notes.push(format!("{all} requests in {seconds:.0} s, measured after all clients had started (goose)"));
    report
        .notes
        .push("the load generator runs on the same 2 cores as the node, the chain and the enclave it measures".into());
    report.plots.push(Plot {
        name: "load_latency".into(),
        title: format!("{clients} concurrent clients: latency per operation (median, min–p99)"),
        x_label: "operation".into(),
        y_label: "ms".into(),
        kind: PlotKind::Bars { categories },
        series: vec![latency],
    });
    report.plots.push(Plot {
        name: "load_memory".into(),
        title: format!("{clients} concurrent clients: the node's resident memory"),
        x_label: "seconds into the load".into(),
        y_label: "MiB".into(),
        kind: PlotKind::Lines,
        series: vec![Series {
            name: "node (with its embedded chain)".into(),
            points: memory.samples.iter().map(|&(t, mib)| (t, Stat::single(mib))).collect(),
        }],
    });
    Ok(report)
}

/// A hospital with `clients` doctors, each funded and allowed to write EHRs.
async fn prepare(env: &Environment, clients: usize) -> Result<Plan, Box<dyn std::error::Error + Send + Sync>> {
    let hospital = EthKey::from_bytes(keccak256("bench load hospital").as_slice())?;
    let ether = U256::from(10u128.pow(18));
    env.fund(hospital.address(), ether).await?;
    let hospital_ledger = env.ledger(&hospital).await?;
    let directory = hospital_ledger.consortium_directory();
    directory.register_hospital(keccak256("bench hospital identity")).await?;
    env.ledger(&env.admin).await?.consortium_directory().approve_hospital(hospital.address()).await?;
    let mut doctors = Vec::with_capacity(clients);
    for i in 0..clients {
        let doctor = EthKey::from_bytes(keccak256(format!("bench load doctor {i}")).as_slice())?;
        env.fund(doctor.address(), ether * U256::from(5)).await?;
        directory
            .register_doctor(doctor.address(), keccak256(format!("doctor {i}")), B256::ZERO, PRIVILEGE_WRITE_EHR)
            .await?;
        doctors.push(doctor);
    }
    let chain_id = env.connection.chain_id();
    let registry = env.deployment.consortium.ehr_registry;
    // Four times today's fee: room for the base fee to rise under load (12.5% a full block).
    let base = env.connection.provider().get_gas_price().await?;
    Ok(Plan {
        chain_id,
        registry,
        hospital: hospital.address(),
        domain: eip712::domain(chain_id, registry),
        max_fee: base.max(1) * 4,
        doctors,
    })
}

async fn attack(
    url: &str,
    plan: Arc<Plan>,
    clients: usize,
    duration: Duration,
) -> Result<goose::metrics::GooseMetrics, GooseError> {
    let next_doctor = Arc::new(AtomicUsize::new(0));
    let config = GooseConfiguration::parse_args_default(&[
        "--host",
        url,
        "--users",
        &clients.to_string(),
        "--increase-time",
        "2s",
        "--run-time",
        &format!("{}s", duration.as_secs().max(1)),
        "--quiet",
        "--no-print-metrics",
        "--no-transaction-metrics",
        "--no-scenario-metrics",
        "--timeout",
        "60",
    ])?;
    // Each client takes the next doctor: its own account, so its nonces stay in order.
    let start = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let doctor = next_doctor.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            user.set_session_data(Client { doctor, nonce: 0, patients: 0, current: None });
            Ok(())
        })
    }))
    .set_on_start();
    let (create_plan, update_plan, query_plan) = (plan.clone(), plan.clone(), plan);
    let create = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let plan = create_plan.clone();
        Box::pin(async move { write(user, &plan, false).await })
    }))
    .set_name("create");
    let update = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let plan = update_plan.clone();
        Box::pin(async move { write(user, &plan, true).await })
    }))
    .set_name("update");
    let query = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let plan = query_plan.clone();
        Box::pin(async move { read(user, &plan).await })
    }))
    .set_name("query");
    GooseAttack::initialize_with_config(config)?
        .register_scenario(
            scenario!("seed001mix")
                .register_transaction(start)
                .register_transaction(create.set_sequence(1))
                .register_transaction(query.clone().set_sequence(2))
                .register_transaction(update.set_sequence(3))
                .register_transaction(query.set_sequence(4)),
        )
        .execute()
        .await
}

/// A create of a new patient's EHR head, or an update of the current one.
async fn write(user: &mut GooseUser, plan: &Plan, update: bool) -> TransactionResult {
    let Some(client) = user.get_session_data_mut::<Client>() else { return Ok(()) };
    let doctor = &plan.doctors[client.doctor % plan.doctors.len()];
    let call = if update {
        let Some(signed) = &client.current else { return Ok(()) };
        let hash = keccak256([signed.warrant.patient.as_slice(), &client.nonce.to_be_bytes()].concat());
        EhrRegistry::updateCall {
            warrant: warrant_to_binding(&signed.warrant),
            patientSignature: Bytes::new(),
            doctorIndex: U256::ZERO,
            status: 2,
            ehrType: 1,
            ehrHash: hash,
            hospitals: vec![plan.hospital],
        }
        .abi_encode()
    } else {
        client.patients += 1;
        let seed = keccak256(format!("bench patient {} {}", client.doctor, client.patients));
        let Ok(patient) = EthKey::from_bytes(seed.as_slice()) else { return Ok(()) };
        let warrant = Warrant {
            patient: patient.address(),
            doctors: vec![DoctorTerm { doctor: doctor.address(), notBefore: 1, notAfter: 4_000_000_000 }],
            aux: B256::ZERO,
        };
        let signed = SignedWarrant::sign(&patient, warrant, &plan.domain);
        let call = EhrRegistry::createCall {
            warrant: warrant_to_binding(&signed.warrant),
            patientSignature: Bytes::copy_from_slice(&signed.signature),
            doctorIndex: U256::ZERO,
            status: 1,
            ehrType: 1,
            ehrHash: seed,
            hospitals: vec![plan.hospital],
        }
        .abi_encode();
        client.current = Some(signed);
        call
    };
    let tx = TxEip1559 {
        chain_id: plan.chain_id,
        nonce: client.nonce,
        gas_limit: WRITE_GAS,
        max_fee_per_gas: plan.max_fee,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(plan.registry),
        value: U256::ZERO,
        access_list: Default::default(),
        input: call.into(),
    };
    let Ok(signature) = Signature::from_raw_array(&doctor.sign_digest(&tx.signature_hash())) else { return Ok(()) };
    let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
    let name = if update { "update" } else { "create" };
    let body = json!({ "raw": alloy_primitives::hex::encode(raw) });
    let (ok, refused) = post(user, name, "/api/v1/transactions", &body, |v| v["success"] == json!(true)).await?;
    if let Some(client) = user.get_session_data_mut::<Client>() {
        // A refused transaction used no nonce; anything else that failed may have: ask.
        if ok || !refused {
            client.nonce += 1;
        }
    }
    Ok(())
}

/// `EhrRegistry.query(patient)` for the client's current patient.
async fn read(user: &mut GooseUser, plan: &Plan) -> TransactionResult {
    let Some(patient) = user.get_session_data::<Client>().and_then(|c| c.current.as_ref()).map(|w| w.warrant.patient)
    else {
        return Ok(());
    };
    let data = EhrRegistry::queryCall { patient }.abi_encode();
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "eth_call",
        "params": [{ "to": plan.registry, "data": Bytes::from(data) }, "latest"],
    });
    post(user, "query", "/rpc", &body, |v| v.get("result").is_some()).await?;
    Ok(())
}

/// POSTs `body` as request `name`; a response that is not 200 or fails `accept` is marked
/// failed. Returns (succeeded, refused with a 4xx).
async fn post(
    user: &mut GooseUser,
    name: &str,
    path: &str,
    body: &Value,
    accept: impl Fn(&Value) -> bool,
) -> Result<(bool, bool), Box<TransactionError>> {
    let builder = user.get_request_builder(&GooseMethod::Post, path)?.json(body);
    let request =
        GooseRequest::builder().method(GooseMethod::Post).path(path).name(name).set_request_builder(builder).build();
    let mut goose = user.request(request).await?;
    let (status, text) = match goose.response {
        Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    };
    let accepted = status == 200 && serde_json::from_str::<Value>(&text).is_ok_and(|v| accept(&v));
    if !accepted {
        let _ = user.set_failure(name, &mut goose.request, None, Some(&text));
    }
    Ok((accepted, (400..500).contains(&status)))
}

/// `healthchain node` on a scratch directory and a free loopback port, stopped by PID.
struct NodeProcess {
    child: Child,
    url: String,
}

impl NodeProcess {
    fn start(program: &Path, home: &Path) -> Result<NodeProcess, String> {
        let mut child = Command::new(program)
            .args(["node", "--listen", "127.0.0.1:0", "--rate-limit", "1000000", "--home"])
            .arg(home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start `{} node`: {e}", program.display()))?;
        let stdout = child.stdout.take().ok_or("the node's output is not captured")?;
        // Read on a thread, so a node that never prints its address cannot hang the run.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("HTTP API on http://") {
                    let _ = sender.send(rest.split('/').next().unwrap_or_default().to_string());
                }
            }
        });
        let mut node = NodeProcess { child, url: String::new() };
        match receiver.recv_timeout(Duration::from_secs(180)) {
            Ok(address) => node.url = format!("http://{address}"),
            Err(_) => {
                node.stop();
                return Err("the node did not print its address within 180 s".into());
            }
        }
        Ok(node)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Samples a process's resident memory every 100 ms while the load runs.
struct MemoryProbe {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<(f64, f64)>>,
}

/// Resident memory over the run: (seconds since the start, MiB) every 100 ms.
struct Memory {
    samples: Vec<(f64, f64)>,
}

impl MemoryProbe {
    fn start(pid: u32) -> MemoryProbe {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut samples = Vec::new();
            while !*stopped.borrow() {
                samples.extend(resident_mib(pid).map(|mib| (started.elapsed().as_secs_f64(), mib)));
                let _ = tokio::time::timeout(Duration::from_millis(100), stopped.changed()).await;
            }
            samples
        });
        MemoryProbe { stop, task }
    }

    async fn stop(self) -> Memory {
        let _ = self.stop.send(true);
        Memory { samples: self.task.await.unwrap_or_default() }
    }
}

impl Memory {
    fn resident(&self) -> Stat {
        Stat::of(self.samples.iter().map(|&(_, mib)| mib).collect())
    }

    /// How much it grew between two points of the run, given as fractions of its length:
    /// memory that is bounded stops growing once the caches have filled.
    fn growth(&self, from: f64, to: f64) -> f64 {
        let at = |fraction: f64| {
            let i = ((self.samples.len() as f64 - 1.0) * fraction).round() as usize;
            self.samples.get(i).map(|&(_, mib)| mib)
        };
        match (at(from), at(to)) {
            (Some(first), Some(last)) => last - first,
            _ => f64::NAN,
        }
    }
}

/// `VmRSS` of `pid`, MiB.
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib / 1024.0)
}
