//! `db`: seed 001 Fig. 7 (INSERT / SELECT / UPDATE / DELETE of 10,000 rows, plaintext vs
//! encrypted) and Fig. 8 (where INSERT's time goes), on this machine.
//!
//! The table is `test(id INTEGER, t1 INTEGER, t2 REAL, t3 TEXT)`; INSERT puts 10,000 rows in
//! one transaction, SELECT reads the rows where `t1 = v` (10 of them), UPDATE moves `t1` of
//! those rows, DELETE empties the table. Four ways of reaching it, all running the same
//! statements ([`healthchain_ehr::db::bench_table`]) with WAL and `synchronous = FULL`
//! (every commit fsyncs):
//!
//! - plain SQLite ([`Database`] without a key): the peer of Fig. 7;
//! - SQLCipher directly (raw 256-bit key, SQLCipher 4 defaults);
//! - the EHR application in this process ([`LocalEnclave`]: postcard request → the
//!   application → prepared statements → postcard reply);
//! - the same across the process boundary: an attested session (AES-256-GCM records) to
//!   `healthchain enclave-process --bench-ehr`, launched from [`Options::program`] — ours.
//!
//! Rounds are interleaved: in every round each operation runs on every variant back to
//! back, in an order that rotates from round to round, so the table holds 10,000 rows
//! before SELECT, UPDATE and DELETE and none before INSERT, and a ratio is not skewed by
//! whatever else the machine did meanwhile.

use std::path::Path;
use std::time::Instant;

use alloy_primitives::{Address, B256};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_ehr::db::{Database, DbKey, bench_table, figure7_rows};
use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{APP_NAME, BenchRequest, BenchResponse, BenchRow, EhrApp, EhrReply, EhrRequest, EhrResponse};
use healthchain_enclave::client::{AttestedSession, connect};
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, new_platform_secret};

use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit};

/// Rows in the table (seed 001: 10,000).
const ROWS: usize = 10_000;
/// Distinct `t1` values: SELECT and UPDATE match `ROWS / DISTINCT_T1` rows.
const DISTINCT_T1: i64 = 1_000;
/// Chain id and `EhrRegistry` of the benchmark application's warrant domain (no warrant is
/// used here).
const CHAIN_ID: u64 = 31337;
const REGISTRY: Address = Address::repeat_byte(0xe7);

const OPS: [&str; 4] = ["INSERT", "SELECT", "UPDATE", "DELETE"];
/// What each operation does, for the figures' names.
const OP_DETAIL: [&str; 4] = [
    "INSERT 10,000 rows (one transaction)",
    "SELECT where t1 = v (10 rows)",
    "UPDATE t1 where t1 = v (10 rows)",
    "DELETE all 10,000 rows",
];
/// Seed 001 Fig. 7 (TrustZone board, encrypted).
const PAPER: [&str; 4] = ["2 s", "< 100 ms", "5.8 s", "< 100 ms"];
/// DESIGN.md: through the enclave, ms.
const GOAL_MS: [f64; 4] = [10.0, 3.0, 5.0, 3.0];
/// DESIGN.md: through the enclave / plain SQLite.
const GOAL_RATIO: f64 = 1.5;

const PLAIN: usize = 0;
const CIPHER: usize = 1;
const LOCAL: usize = 2;
const PROCESS: usize = 3;
const VARIANTS: [&str; 4] = ["plain SQLite", "SQLCipher direct", "EHR app in process", "enclave process"];

/// One way of reaching the Fig. 7 table. Each operation returns how many rows it touched.
trait Figure7 {
    fn insert(&mut self) -> Result<u64, String>;
    fn select(&mut self, t1: i64) -> Result<u64, String>;
    fn update(&mut self, t1: i64, new_t1: i64) -> Result<u64, String>;
    fn delete_all(&mut self) -> Result<u64, String>;
}

/// The database opened directly, as the application opens it (same settings, same
/// background checkpointer), without the application.
struct Direct<'a> {
    database: Database,
    rows: &'a [BenchRow],
}

impl<'a> Direct<'a> {
    fn open(path: &Path, key: Option<&DbKey>, rows: &'a [BenchRow]) -> Result<Self, String> {
        let database = Database::open(path, key).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        bench_table::create(database.connection()).map_err(|e| format!("cannot create the table: {e}"))?;
        Ok(Direct { database, rows })
    }
}

impl Figure7 for Direct<'_> {
    fn insert(&mut self) -> Result<u64, String> {
        bench_table::insert(self.database.connection(), self.rows.iter().map(BenchRow::as_ref))
            .map_err(|e| e.to_string())
    }
    fn select(&mut self, t1: i64) -> Result<u64, String> {
        bench_table::select(self.database.connection(), t1).map(|rows| rows.len() as u64).map_err(|e| e.to_string())
    }
    fn update(&mut self, t1: i64, new_t1: i64) -> Result<u64, String> {
        bench_table::update(self.database.connection(), t1, new_t1).map_err(|e| e.to_string())
    }
    fn delete_all(&mut self) -> Result<u64, String> {
        bench_table::delete_all(self.database.connection()).map_err(|e| e.to_string())
    }
}

/// Any transport to the application: encoded request in, encoded reply out.
trait Transport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// The application in this process.
struct Local {
    enclave: LocalEnclave,
    caller: Address,
}

impl Transport for Local {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.enclave.call_raw(self.caller, request).map_err(|e| e.to_string())
    }
}

/// The application in the enclave process, over an attested session.
struct Remote<'a> {
    session: AttestedSession<'a, SimulatedEnclave>,
}

impl Transport for Remote<'_> {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.session.call_raw(APP_NAME, request.to_vec()).map_err(|e| e.to_string())
    }
}

/// The application's Fig. 7 operations over a transport. The INSERT request is encoded
/// once, up front (a client holds its rows in wire form): the timings cover handing the
/// request bytes to the transport until the decoded answer.
struct ThroughApp<T> {
    transport: T,
    insert: Vec<u8>,
}

impl<T: Transport> ThroughApp<T> {
    fn new(transport: T, rows: &[BenchRow]) -> Result<Self, String> {
        let insert = encode(&EhrRequest::Bench(BenchRequest::Insert { rows: rows.to_vec() }))?;
        Ok(ThroughApp { transport, insert })
    }

    fn answer(&mut self, request: &[u8]) -> Result<BenchResponse, String> {
        let reply: EhrReply =
            postcard::from_bytes(&self.transport.exchange(request)?).map_err(|e| format!("undecodable reply: {e}"))?;
        match reply.map_err(|e| format!("the application refused: {e}"))? {
            EhrResponse::Bench(response) => Ok(response),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    fn changed(&mut self, request: &BenchRequest) -> Result<u64, String> {
        match self.answer(&encode(&EhrRequest::Bench(request.clone()))?)? {
            BenchResponse::Changed(n) => Ok(n),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
}

fn encode(request: &EhrRequest) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(request).map_err(|e| format!("cannot encode the request: {e}"))
}

impl<T: Transport> Figure7 for ThroughApp<T> {
    fn insert(&mut self) -> Result<u64, String> {
        let request = std::mem::take(&mut self.insert);
        let answer = self.answer(&request);
        self.insert = request;
        match answer? {
            BenchResponse::Changed(n) => Ok(n),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
    fn select(&mut self, t1: i64) -> Result<u64, String> {
        match self.answer(&encode(&EhrRequest::Bench(BenchRequest::Select { t1 }))?)? {
            BenchResponse::Rows(rows) => Ok(rows.len() as u64),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
    fn update(&mut self, t1: i64, new_t1: i64) -> Result<u64, String> {
        self.changed(&BenchRequest::Update { t1, new_t1 })
    }
    fn delete_all(&mut self) -> Result<u64, String> {
        self.changed(&BenchRequest::DeleteAll)
    }
}

/// Runs operation `op` on `variant` and returns its duration in ms, checking the number of
/// rows it touched. The table holds ROWS rows before SELECT, UPDATE and DELETE, and none
/// before INSERT.
fn timed(variant: &mut dyn Figure7, op: usize, round: usize) -> Result<f64, String> {
    let v = (round as i64 * 37) % DISTINCT_T1;
    let matching = (ROWS / DISTINCT_T1 as usize) as u64;
    let start = Instant::now();
    let (touched, expected) = match op {
        0 => (variant.insert()?, ROWS as u64),
        1 => (variant.select(v)?, matching),
        // Moves the matching rows out of the value range; DELETE clears them this round.
        2 => (variant.update(v, v + DISTINCT_T1)?, matching),
        _ => (variant.delete_all()?, ROWS as u64),
    };
    let elapsed = start.elapsed().as_secs_f64() * 1e3;
    if touched != expected {
        return Err(format!("touched {touched} rows, expected {expected}"));
    }
    Ok(elapsed)
}

/// Median fsync latency of the scratch directory's storage, ms (context for every durable
/// commit above).
fn fsync_latency(dir: &Path) -> Result<f64, String> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut samples = Vec::new();
    for i in 0..20u8 {
        file.write_all(&[i; 4096]).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let start = Instant::now();
        file.sync_data().map_err(|e| format!("cannot fsync {}: {e}", path.display()))?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Stat::of(samples).median)
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let failed = |message: String| BenchError::failed(Suite::Db, message);
    let mut report = SuiteReport::new(Suite::Db, "seed 001 Fig. 7 and 8: 10,000-row CRUD, plain vs encrypted");
    let dir = options.scratch.join("db");
    std::fs::create_dir_all(&dir).map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let rows = figure7_rows(ROWS, DISTINCT_T1);
    let key = DbKey::generate();

    let mut plain =
        Direct::open(&dir.join("plain.db"), None, &rows).map_err(|e| failed(format!("plain SQLite: {e}")))?;
    let mut cipher =
        Direct::open(&dir.join("cipher.db"), Some(&key), &rows).map_err(|e| failed(format!("SQLCipher: {e}")))?;
    let local = Local {
        enclave: LocalEnclave::new(
            EhrApp::for_benchmarks(CHAIN_ID, REGISTRY),
            dir.join("local"),
            new_platform_secret(),
            [1; 32],
        ),
        caller: Address::repeat_byte(0x11),
    };
    let mut local = ThroughApp::new(local, &rows).map_err(failed)?;

    let mut config = SimulatedConfig::new(&options.program, dir.join("process"), new_platform_secret());
    config.args = vec![
        "enclave-process".into(),
        "--bench-ehr".into(),
        "--chain-id".into(),
        CHAIN_ID.to_string(),
        "--ehr-registry".into(),
        REGISTRY.to_string(),
    ];
    let enclave = SimulatedEnclave::launch(config).map_err(|e| {
        failed(format!("cannot launch the enclave ({} enclave-process --bench-ehr): {e}", options.program.display()))
    })?;
    let evidence = enclave.evidence();
    let trusted =
        EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() };
    let session = connect(&enclave, EthKey::generate(&mut rand::rng()), trusted)
        .map_err(|e| failed(format!("cannot open an attested session with the enclave: {e}")))?;
    let mut remote = ThroughApp::new(Remote { session }, &rows).map_err(failed)?;

    let fsync_before = fsync_latency(&dir).map_err(failed)?;
    let rounds = if options.quick { 3 } else { 100 };
    let mut samples = vec![vec![Vec::with_capacity(rounds); OPS.len()]; VARIANTS.len()];
    // Round 0 warms up (opens the applications' databases, fills caches) and is not kept.
    for round in 0..=rounds {
        for op in 0..OPS.len() {
            let mut variants: [&mut dyn Figure7; 4] = [&mut plain, &mut cipher, &mut local, &mut remote];
            variants.rotate_left(round % VARIANTS.len());
            for (i, variant) in variants.into_iter().enumerate() {
                let index = (i + round) % VARIANTS.len();
                let ms = timed(variant, op, round)
                    .map_err(|e| failed(format!("{} through {}: {e}", OPS[op], VARIANTS[index])))?;
                if round > 0 {
                    samples[index][op].push(ms);
                }
            }
        }
    }
    let fsync_after = fsync_latency(&dir).map_err(failed)?;
    let stats: Vec<Vec<Stat>> = samples.into_iter().map(|ops| ops.into_iter().map(Stat::of).collect()).collect();

    // Fig. 7: ours is the encrypted store through the enclave process, the peer plain
    // SQLite; one figure for the absolute goal and one for the ratio goal per operation.
    for op in 0..OPS.len() {
        let (ours, peer) = (stats[PROCESS][op], stats[PLAIN][op]);
        report.figures.push(
            Figure::new(format!("Fig. 7 {}, through the enclave", OP_DETAIL[op]), Unit::Ms, ours)
                .paper(PAPER[op])
                .peer(VARIANTS[PLAIN], peer)
                .goal(Goal::AtMost(GOAL_MS[op])),
        );
        report.figures.push(
            Figure::new(format!("Fig. 7 {}: through the enclave / plain", OPS[op]), Unit::Ms, ours)
                .peer(VARIANTS[PLAIN], peer)
                .goal(Goal::RatioAtMost(GOAL_RATIO)),
        );
    }

    // Fig. 8: INSERT layer by layer, each against the layer below it.
    let insert = |variant: usize| stats[variant][0];
    report.figures.push(Figure::new("Fig. 8 INSERT: plain SQLite", Unit::Ms, insert(PLAIN)));
    report.figures.push(
        Figure::new("Fig. 8 INSERT: + SQLCipher (AES-256-CBC, HMAC-SHA512)", Unit::Ms, insert(CIPHER))
            .paper("cipher 69 µs, RNG + HMAC 167 µs")
            .peer(VARIANTS[PLAIN], insert(PLAIN)),
    );
    report.figures.push(
        Figure::new("Fig. 8 INSERT: + EHR app (postcard, in process)", Unit::Ms, insert(LOCAL))
            .peer(VARIANTS[CIPHER], insert(CIPHER)),
    );
    report.figures.push(
        Figure::new("Fig. 8 INSERT: + enclave process (attested session)", Unit::Ms, insert(PROCESS))
            .paper("2 s")
            .peer(VARIANTS[LOCAL], insert(LOCAL)),
    );

    report.plots.push(Plot {
        name: "db_fig7".into(),
        title: "Seed 001 Fig. 7: 10,000-row CRUD, plain vs encrypted".into(),
        x_label: "operation".into(),
        y_label: "time (ms)".into(),
        kind: PlotKind::Bars { categories: OPS.iter().map(|op| op.to_string()).collect() },
        series: VARIANTS
            .iter()
            .zip(&stats)
            .map(|(name, ops)| Series {
                name: name.to_string(),
                points: ops.iter().enumerate().map(|(op, stat)| (op as f64, *stat)).collect(),
            })
            .collect(),
    });

    report.notes.push(format!(
        "{rounds} interleaved rounds (variant order rotating), after one warm-up round; all four variants use WAL with \
         synchronous = FULL (one fsync per commit): fsync p50 here {fsync_before:.2} ms before, {fsync_after:.2} ms after"
    ));
    report.notes.push(format!(
        "in-process app: SELECT {}, UPDATE {}, DELETE {}; SQLCipher direct: SELECT {}, UPDATE {}, DELETE {} (medians)",
        Unit::Ms.format(stats[LOCAL][1].median),
        Unit::Ms.format(stats[LOCAL][2].median),
        Unit::Ms.format(stats[LOCAL][3].median),
        Unit::Ms.format(stats[CIPHER][1].median),
        Unit::Ms.format(stats[CIPHER][2].median),
        Unit::Ms.format(stats[CIPHER][3].median),
    ));
    report
        .notes
        .push("paper: seed 001 on a TrustZone board, OP-TEE with SQLCipher; Fig. 8 gives phases, not a total".into());
    Ok(report)
}
