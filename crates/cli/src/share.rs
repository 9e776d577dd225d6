//! `healthchain share …`, `healthchain catalog`, `healthchain committee …`: paid,
//! policy-checked sharing on the embedded defaults (seed 000 §5.4, Algorithm 2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use clap::Subcommand;
use healthchain_core::environment::{EnvironmentConfig, committee_member_key};
use healthchain_core::share::{CommitteeMember, DataUser, catalog};
use healthchain_jobs::{JobResult, JobSpec};
use healthchain_node::committee::serve_committee;

use crate::output::{ether, say};
use crate::records::{open, read, runtime, unlock};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Subcommand)]
pub enum ShareCommand {
    /// Request JOB over RECORDS from the environment's enclave, paying the sum of the
    /// records' charges into escrow; prints the request id.
    Request {
        /// The data user's key (in the keystore).
        #[arg(long)]
        key: String,
        /// The records, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        records: Vec<B256>,
        /// The job spec (JSON): `cohort_stats` or `logistic_regression`.
        #[arg(long)]
        job: PathBuf,
    },
    /// Have the enclave run the job of REQUEST_ID (once the committee has released the
    /// keys) and settle the request, which pays the owners.
    Run {
        /// The data user's key.
        #[arg(long)]
        key: String,
        /// The request.
        request_id: u64,
        /// The job spec paid for (the enclave checks its hash against the request).
        #[arg(long)]
        job: PathBuf,
    },
    /// Decrypt and print the result of a completed request.
    Result {
        /// The data user's key.
        #[arg(long)]
        key: String,
        /// The request.
        request_id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take back the escrow of a request not completed by its deadline.
    Refund {
        /// The data user's key.
        #[arg(long)]
        key: String,
        /// The request.
        request_id: u64,
    },
}

#[derive(Subcommand)]
pub enum CommitteeCommand {
    /// Serve granted requests as one member of the environment's key-authorization
    /// committee: post a decryption share with its proof for every record of each request.
    Serve {
        /// The member's seat (1-based), as dealt into the environment.
        #[arg(long, default_value_t = 1)]
        member: usize,
        /// Keep watching for new grants instead of serving once (the node's committee
        /// service: progress logged on standard error, failed rounds retried, until Ctrl-C
        /// or SIGTERM).
        #[arg(long)]
        watch: bool,
        /// Seconds between polls with --watch.
        #[arg(long, default_value_t = 2)]
        interval: u64,
    },
}

fn job_spec(path: &Path) -> Result<(Vec<u8>, JobSpec)> {
    let bytes = read(path)?;
    let spec = JobSpec::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((bytes, spec))
}

pub fn run_share(keystore: &Path, home: &Path, command: ShareCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let env = open(home).await?;
        match command {
            ShareCommand::Request { key, records, job } => {
                let (_, spec) = job_spec(&job)?;
                let user = DataUser::new(&env, unlock(keystore, &key)?).await?;
                let price = user.price(&records).await?;
                let request_id = user.request(&records, &spec).await?;
                say!("request {request_id}: {} records, paid {} ETH into escrow", records.len(), ether(price));
                say!("job hash {}", B256::from(spec.hash()));
            }
            ShareCommand::Run { key, request_id, job } => {
                let (bytes, _) = job_spec(&job)?;
                let user = DataUser::new(&env, unlock(keystore, &key)?).await?;
                let accepted = user.run(request_id, &bytes).await?;
                say!("request {request_id} completed: result {}", accepted.result_hash);
                say!("read it with: healthchain share result --key {key} {request_id}");
            }
            ShareCommand::Result { key, request_id, json } => {
                let user = DataUser::new(&env, unlock(keystore, &key)?).await?;
                let result = user.result(request_id).await?;
                if json {
                    say!("{}", String::from_utf8_lossy(&result.to_bytes()));
                } else {
                    print_result(&result);
                }
            }
            ShareCommand::Refund { key, request_id } => {
                let user = DataUser::new(&env, unlock(keystore, &key)?).await?;
                let (amount, fee) = user.refund(request_id).await?;
                say!("request {request_id} refunded: {} ETH (fee {} ETH)", ether(amount), ether(fee));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_catalog(home: &Path, data_type: Option<&str>, json: bool) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let env = open(home).await?;
        let entries = catalog(&env, data_type).await?;
        if json {
            say!("{}", serde_json::to_string_pretty(&entries)?);
            return Ok(ExitCode::SUCCESS);
        }
        say!("{:<66}  {:<42}  {:<10}  {:>12}  window", "record", "owner", "type", "charge gwei");
        for e in &entries {
            match e.policy {
                Some(p) => say!(
                    "{:<66}  {:<42}  {:<10}  {:>12}  {} – {}",
                    e.record_id,
                    e.owner,
                    e.data_type,
                    p.charge_gwei,
                    date(p.start),
                    date(p.end)
                ),
                None => say!("{:<66}  {:<42}  {:<10}  {:>12}  no policy", e.record_id, e.owner, e.data_type, "-"),
            }
        }
        say!("{} records", entries.len());
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_committee(home: &Path, command: CommitteeCommand) -> Result<ExitCode> {
    let CommitteeCommand::Serve { member, watch, interval } = command;
    let index = member.checked_sub(1).ok_or("--member counts from 1")?;
    if watch {
        crate::node::init_logs(false)?;
    }
    runtime()?.block_on(async {
        let env = open(home).await?;
        if watch {
            let interval = Duration::from_secs(interval.max(1));
            let confirmations = EnvironmentConfig::read(home)?.node.committee_confirmations.unwrap_or(0);
            serve_committee(Arc::new(env), index, interval, confirmations, crate::node::interrupted()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        let share = env.committee_share(index)?;
        let member = CommitteeMember::new(&env, committee_member_key(index), share).await?;
        for request_id in member.serve_pending().await? {
            say!("request {request_id}: shares posted by member {}", index + 1);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn date(unix: u32) -> String {
    healthchain_fhir::Date::from_unix_seconds(i64::from(unix)).map_or_else(|| unix.to_string(), |d| d.to_string())
}

fn print_result(result: &JobResult) {
    match result {
        JobResult::CohortStats(r) => {
            say!("cohort_stats of LOINC {} over {} records as of {}", r.loinc, r.records, r.as_of);
            for g in std::iter::once(&r.overall).chain(&r.groups) {
                let name = match (&g.group.sex, &g.group.age_band) {
                    (None, None) => "all".to_string(),
                    (sex, band) => {
                        [sex.as_deref(), band.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ")
                    }
                };
                match &g.stats {
                    Some(s) => say!(
                        "  {name:<20} n={:<5} mean={:.2} sd={} min={:.2} max={:.2}",
                        s.count,
                        s.mean,
                        s.std_dev.map_or("-".to_string(), |sd| format!("{sd:.2}")),
                        s.min,
                        s.max
                    ),
                    None => say!("  {name:<20} suppressed (fewer patients than the minimum cohort)"),
                }
            }
        }
        JobResult::LogisticRegression(r) => {
            say!(
                "logistic_regression for SNOMED {} over {} records ({} excluded) as of {}",
                r.label_snomed,
                r.records,
                r.excluded,
                r.as_of
            );
            say!("  intercept {:.4}", r.intercept);
            for f in &r.features {
                say!(
                    "  {:<20} coefficient {:>9.4} (standardized; mean {:.2}, sd {:.2})",
                    f.name,
                    f.coefficient,
                    f.mean,
                    f.std_dev
                );
            }
            let m = &r.metrics;
            say!(
                "  trained on {} ({} positive): accuracy {:.3}, log loss {:.3}, AUC {:.3}; {} iterations{}",
                m.n,
                m.positives,
                m.accuracy,
                m.log_loss,
                m.auc,
                r.iterations,
                if r.converged { "" } else { " (not converged)" }
            );
        }
    }
}
