//! A fault: the chain node a client follows stops while the client has requests in flight,
//! and comes back on the same port a moment later.
//!
//! The node is the embedded chain on a durable directory, served over HTTP by a child
//! process: this test binary itself, run again as `chain_outage serve DIR ADDR` (a custom
//! harness, so the child mode needs no second binary). The test kills it (SIGKILL, by its
//! PID) while several accounts send transactions and a reader reads, restarts it on the same
//! directory and address, three times; then every call made during the outages must have
//! succeeded, every acknowledged transaction must be on the chain exactly once, and each
//! account's nonce must equal the number of its acknowledged transactions.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use healthchain_chain::{Chain, ChainConfig, Storage};
use healthchain_ledger::client::Connection;
use healthchain_ledger::testing::dev_key;

const NAME: &str = "a_client_rides_out_its_chain_node_stopping_mid_request";
/// Accounts sending transactions at the same time (development accounts 1..=SENDERS).
const SENDERS: u32 = 4;
/// How often the node is killed and restarted.
const OUTAGES: usize = 3;
/// Transactions acknowledged between two outages (and after the last one).
const PROGRESS: usize = 8;
/// The client's patience with an absent node (as `healthchain_core::attached::RESTART_PATIENCE`).
const PATIENCE: Duration = Duration::from_secs(60);
/// Bounds on the test's waits, so a broken client fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(120);

/// The embedded chain served over HTTP in a child process, killed by its PID when dropped.
struct ChainProcess {
    child: Child,
    address: SocketAddr,
}

impl ChainProcess {
    /// Starts `serve DIR ADDR` and waits for the address it listens on.
    fn start(dir: &std::path::Path, address: &str) -> ChainProcess {
        let exe = std::env::current_exe().expect("this test binary");
        let mut child = Command::new(exe)
            .args(["serve", dir.to_str().expect("a UTF-8 path"), address])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the chain process starts");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(BOUND) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the chain process did not announce its address");
            }
        };
        let Some(address) = line.strip_prefix("listening on ").and_then(|a| a.trim().parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected announcement {line:?}");
        };
        ChainProcess { child, address }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// SIGKILL to exactly this child, then reap it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChainProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The child: the embedded chain on `dir`, served on `address`, until it is killed.
fn serve(dir: &str, address: &str) -> ExitCode {
    let Ok(address) = address.parse::<SocketAddr>() else {
        eprintln!("serve: {address:?} is not a socket address");
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let chain = match Chain::open(ChainConfig::default(), Storage::Dir(dir.into())) {
            Ok(chain) => chain,
            Err(e) => {
                eprintln!("serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        let server = match chain.serve_http(address).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        let announce = format!("listening on {}\n", server.url().trim_start_matches("http://").trim_end_matches('/'));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(announce.as_bytes()).and_then(|()| out.flush());
        drop(out);
        std::future::pending::<ExitCode>().await
    })
}

/// Counts calls that were in flight when the node was killed: a call that starts while
/// `kills` is `k` and ends after it has moved on spanned kill `k + 1`.
#[derive(Default)]
struct Outages {
    kills: AtomicUsize,
    spanned: Mutex<Vec<usize>>,
}

impl Outages {
    async fn track<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let before = self.kills.load(Ordering::SeqCst);
        let result = call.await;
        let after = self.kills.load(Ordering::SeqCst);
        if after > before {
            let mut spanned = self.spanned.lock().expect("not poisoned");
            spanned.resize(OUTAGES, 0);
            spanned[before] += 1;
        }
        result
    }
}

async fn run() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut node = ChainProcess::start(dir.path(), "127.0.0.1:0");
    let address = node.address.to_string();
    let connection = Connection::http_following(&node.url(), PATIENCE).await.expect("connects");

    let stop = Arc::new(AtomicBool::new(false));
    let outages = Arc::new(Outages::default());
    let acknowledged: Arc<Mutex<Vec<(u32, B256)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = |sender: u32| Address::repeat_byte(0x70 + sender as u8);

    let mut tasks = Vec::new();
    for sender in 1..=SENDERS {
        let account = connection.account(&dev_key(sender));
        let (stop, outages, acknowledged, failures) =
            (stop.clone(), outages.clone(), acknowledged.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match outages.track(account.transfer(sink(sender), U256::from(1))).await {
                    Ok(receipt) => acknowledged.lock().expect("not poisoned").push((sender, receipt.tx_hash)),
                    Err(e) => failures.lock().expect("not poisoned").push(format!("sender {sender}: {e}")),
                }
            }
        }));
    }
    {
        let (connection, stop, outages, failures) =
            (connection.clone(), stop.clone(), outages.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let reader = dev_key(SENDERS + 1).address();
            while !stop.load(Ordering::SeqCst) {
                let read = outages
                    .track(async {
                        connection.block_number().await?;
                        connection.timestamp().await?;
                        connection.balance(reader).await
                    })
                    .await;
                if let Err(e) = read {
                    failures.lock().expect("not poisoned").push(format!("reader: {e}"));
                }
            }
        }));
    }

    // waits until the clients have had PROGRESS more transactions acknowledged
    let progress = || {
        let acknowledged = acknowledged.clone();
        async move {
            let at_least = acknowledged.lock().expect("not poisoned").len() + PROGRESS;
            let waited = tokio::time::timeout(BOUND, async {
                while acknowledged.lock().expect("not poisoned").len() < at_least {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            assert!(waited.is_ok(), "fewer than {PROGRESS} more transactions acknowledged within {BOUND:?}");
        }
    };
    for _ in 0..OUTAGES {
        progress().await;
        outages.kills.fetch_add(1, Ordering::SeqCst);
        node.kill();
        // long enough for calls to meet a refused connection, not only a reset one
        tokio::time::sleep(Duration::from_millis(300)).await;
        node = ChainProcess::start(dir.path(), &address);
    }
    progress().await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(BOUND, task).await.expect("the clients stop").expect("a client task");
    }

    let failures = failures.lock().expect("not poisoned").clone();
    assert!(failures.is_empty(), "calls failed during the outages:\n{}", failures.join("\n"));
    let spanned = outages.spanned.lock().expect("not poisoned").clone();
    assert!(spanned.len() == OUTAGES && spanned.iter().all(|&n| n > 0), "calls in flight at each kill: {spanned:?}");

    // every acknowledged transaction is on the chain, once; nonces have no gap and no reuse
    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    let provider = connection.provider();
    for sender in 1..=SENDERS {
        let address = dev_key(sender).address();
        let mine: Vec<B256> = acknowledged.iter().filter(|(s, _)| *s == sender).map(|(_, h)| *h).collect();
        let mut nonces = Vec::new();
        for hash in &mine {
            let receipt = provider.get_transaction_receipt(*hash).await.expect("reads").expect("on the chain");
            assert!(receipt.status(), "transaction {hash} failed");
            let tx = provider.get_transaction_by_hash(*hash).await.expect("reads").expect("on the chain");
            assert_eq!(tx.inner.signer(), address);
            nonces.push(alloy_consensus::Transaction::nonce(&tx));
        }
        nonces.sort_unstable();
        assert_eq!(nonces, (0..mine.len() as u64).collect::<Vec<_>>(), "sender {sender}: nonces of its transactions");
        let count = provider.get_transaction_count(address).await.expect("reads");
        assert_eq!(count, mine.len() as u64, "sender {sender}: transactions on the chain vs acknowledged");
        assert_eq!(connection.balance(sink(sender)).await.expect("reads"), U256::from(mine.len()));
        // the account's cached nonce is still right: one more goes through
        connection.account(&dev_key(sender)).transfer(sink(sender), U256::from(1)).await.expect("a later transfer");
    }
    println!(
        "{} transactions acknowledged across {OUTAGES} outages; calls in flight at each kill: {spanned:?}",
        acknowledged.len()
    );
    drop(node);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, dir, address] = args.as_slice()
        && mode == "serve"
    {
        return serve(dir, address);
    }
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return ExitCode::SUCCESS;
    }
    if args.iter().find(|a| !a.starts_with('-')).is_some_and(|filter| !NAME.contains(filter.as_str())) {
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run());
    println!("test {NAME} ... ok");
    ExitCode::SUCCESS
}
