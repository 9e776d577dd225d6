//! `healthchain record …`: the data owner's records on the embedded defaults (seed 000
//! §5.2–5.3), and verification for anyone.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use clap::Subcommand;
use healthchain_core::attached::RunningNode;
use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_core::host::EnclaveProgram;
use healthchain_core::keystore::Keystore;
use healthchain_core::records::{FHIR_R4, OwnedRecord, Owner, RecordWallet, history, verify, wallet_dir};
use healthchain_core::share::{AccessOutcome, accesses};

use crate::output::{Progress, say};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Subcommand)]
pub enum RecordCommand {
    /// Register a record whose version 1 is BUNDLE (a FHIR R4 Bundle with exactly one
    /// Patient), validated and logged by the enclave.
    Upload {
        /// The owner's key (in the keystore).
        #[arg(long)]
        key: String,
        /// The bundle.
        bundle: PathBuf,
    },
    /// Append BUNDLE as the next version of RECORD_ID (license, enclave validation, log).
    Update {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// The record.
        record_id: B256,
        /// The new entries: a FHIR R4 Bundle about the record's patient.
        bundle: PathBuf,
    },
    /// Split a patient bundle (e.g. from Synthea) by encounter into dated versions and
    /// upload them all as one record.
    Import {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// The patient bundle.
        bundle: PathBuf,
    },
    /// List the versions of a record logged on UpdateLog.
    History {
        /// The record.
        record_id: B256,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every version of a record from the chain and the store, without keys; exits 0
    /// when all are qualified, 1 otherwise.
    Verify {
        /// The record.
        record_id: B256,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the records in an owner's wallet.
    List {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set (or replace) RECORD_ID's sharing policy: what each access costs and when
    /// data users may request it. Requests already made keep their terms.
    Policy {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// The record.
        record_id: B256,
        /// Charge per access, in gwei.
        #[arg(long)]
        charge_gwei: u32,
        /// First moment access is allowed: a date (2027-01-31), a dateTime, or unix
        /// seconds; default now.
        #[arg(long)]
        start: Option<String>,
        /// Last moment access is allowed (same forms); default a year after the start or
        /// now, whichever is later.
        #[arg(long)]
        end: Option<String>,
    },
    /// Revoke RECORD_ID's sharing policy: no new request may include it.
    RevokePolicy {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// The record.
        record_id: B256,
    },
    /// Every access request that included RECORD_ID: who, when, which job, paid or not.
    Accesses {
        /// The record.
        record_id: B256,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the owner earned from completed accesses and has not withdrawn; --withdraw
    /// pays it out.
    Earnings {
        /// The owner's key.
        #[arg(long)]
        key: String,
        /// Withdraw the earnings to the owner's account.
        #[arg(long)]
        withdraw: bool,
        /// Print JSON (amounts in wei, as decimal strings).
        #[arg(long)]
        json: bool,
    },
}

/// Unix seconds from a number, a date or a dateTime: the first second a date covers, or
/// with `last` its last (so `--end 2027-12-31` includes that day).
pub(crate) fn moment(text: &str, last: bool) -> Result<u32> {
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            let (first, end) = healthchain_fhir::DateTime::parse(text)
                .map_err(|e| format!("{text:?} is neither unix seconds nor a date or dateTime: {e}"))?
                .bounds();
            if last { end } else { first }
        }
    };
    Ok(u32::try_from(seconds).map_err(|_| format!("{text:?} is outside 1970–2106"))?)
}

/// The embedded environment's directory: `<data dir>/embedded`.
pub fn default_home() -> PathBuf {
    crate::keys::data_dir().join("embedded")
}

/// The durable embedded environment in `home`, with this binary as the enclave: through
/// the node that serves it, if one is announced, else opened (created on first use) here.
pub(crate) async fn open(home: &Path) -> Result<Environment> {
    let program = EnclaveProgram::current_exe()?;
    if let Some(node) = RunningNode::serving(home)? {
        return Ok(Environment::attach(home, &program, &node).await?);
    }
    Ok(Environment::open(home, &program, ChainStorage::Durable).await?)
}

/// A multi-threaded runtime (enclave calls run on blocking threads).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

pub(crate) fn unlock(keystore: &Path, name: &str) -> Result<healthchain_crypto::signing::EthKey> {
    Ok(Keystore::open(keystore)?.unlock(name, &crate::keys::passphrase(false)?)?)
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    Ok(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
}

fn print_record(record: &OwnedRecord) {
    say!("record   {}", record.record_id);
    say!("owner    {}", record.owner);
    say!("anchor   {}", record.anchor);
    say!("versions {}", record.versions.len());
}

pub fn run(keystore: &Path, home: &Path, command: RecordCommand) -> Result<std::process::ExitCode> {
    runtime()?.block_on(async {
        let env = open(home).await?;
        match command {
            RecordCommand::Upload { key, bundle } => {
                let key = unlock(keystore, &key)?;
                let wallet = RecordWallet::new(wallet_dir(home).join(key.address().to_string()));
                let owner = Owner::new(&env, key).await?;
                let entry = read(&bundle)?;
                let mut record = owner.register(FHIR_R4).await?;
                wallet.save(&record)?;
                owner.update(&mut record, &entry).await?;
                wallet.save(&record)?;
                print_record(&record);
            }
            RecordCommand::Update { key, record_id, bundle } => {
                let key = unlock(keystore, &key)?;
                let wallet = RecordWallet::new(wallet_dir(home).join(key.address().to_string()));
                let mut record = wallet.load(&record_id)?;
                let owner = Owner::new(&env, key).await?;
                let accepted = owner.update(&mut record, &read(&bundle)?).await?;
                wallet.save(&record)?;
                say!("record {} is at version {} (digest {})", record.record_id, accepted.version, accepted.digest);
            }
            RecordCommand::Import { key, bundle } => {
                let key = unlock(keystore, &key)?;
                let wallet = RecordWallet::new(wallet_dir(home).join(key.address().to_string()));
                let owner = Owner::new(&env, key).await?;
                let label = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let mut progress: Option<Progress> = None;
                let record = owner
                    .import(&read(&bundle)?, Some(&wallet), |done, total| {
                        progress.get_or_insert_with(|| Progress::new(label.as_str(), total, "versions")).set(done)
                    })
                    .await?;
                print_record(&record);
            }
            RecordCommand::History { record_id, json } => {
                let versions = history(&env, record_id).await?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&versions)?);
                } else {
                    say!("{:>7}  {:>7}  {:<66}  enclave", "version", "block", "digest");
                    for v in &versions {
                        say!("{:>7}  {:>7}  {:<66}  {}", v.version, v.block, v.digest, v.enclave);
                    }
                }
            }
            RecordCommand::Verify { record_id, json } => {
                let report = verify(&env, record_id).await?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    say!(
                        "record {} (owner {}, anchor {})",
                        record_id,
                        report.registration.owner,
                        report.registration.anchor
                    );
                    for v in &report.versions {
                        match &v.problem {
                            None => say!("  version {:>4}  qualified", v.version),
                            Some(problem) => say!("  version {:>4}  NOT qualified: {problem}", v.version),
                        }
                    }
                    say!("{} of {} versions qualified", report.qualified(), report.versions.len());
                }
                if !report.all_qualified() {
                    return Ok(std::process::ExitCode::from(1));
                }
            }
            RecordCommand::Policy { key, record_id, charge_gwei, start, end } => {
                let now = u32::try_from(env.connection.timestamp().await?)?;
                let start = start.as_deref().map(|s| moment(s, false)).transpose()?.unwrap_or(now);
                let end = match end.as_deref() {
                    Some(end) => moment(end, true)?,
                    None => start.max(now).saturating_add(365 * 86_400),
                };
                if end < start {
                    return Err(format!("the policy ends ({end}) before it starts ({start})").into());
                }
                let owner = Owner::new(&env, unlock(keystore, &key)?).await?;
                owner.set_policy(record_id, charge_gwei, start, end).await?;
                say!("record {record_id}: {charge_gwei} gwei per access, unix {start} to {end}");
            }
            RecordCommand::RevokePolicy { key, record_id } => {
                let owner = Owner::new(&env, unlock(keystore, &key)?).await?;
                owner.revoke_policy(record_id).await?;
                say!("record {record_id}: policy revoked");
            }
            RecordCommand::Accesses { record_id, json } => {
                let list = accesses(&env, record_id).await?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    say!(
                        "{:>7}  {:<42}  {:>10}  {:<66}  {:>20}  outcome",
                        "request",
                        "requester",
                        "time",
                        "job hash",
                        "charge wei"
                    );
                    for a in &list {
                        let outcome = match a.outcome {
                            AccessOutcome::Pending => "pending".to_string(),
                            AccessOutcome::Completed { .. } => "completed, paid".to_string(),
                            AccessOutcome::Refunded => "refunded, not paid".to_string(),
                        };
                        say!(
                            "{:>7}  {:<42}  {:>10}  {:<66}  {:>20}  {outcome}",
                            a.request_id,
                            a.requester,
                            a.requested_at,
                            a.job_hash,
                            a.charge_wei
                        );
                    }
                    say!("{} accesses", list.len());
                }
            }
            RecordCommand::Earnings { key, withdraw, json } => {
                let owner = Owner::new(&env, unlock(keystore, &key)?).await?;
                let earned = owner.earnings().await?;
                let withdrawn = if withdraw && !earned.is_zero() { Some(owner.withdraw().await?) } else { None };
                if json {
                    let (amount, fee) = withdrawn.unzip();
                    let summary = serde_json::json!({
                        "owner": owner.address(),
                        "earned_wei": earned.to_string(),
                        "withdrawn_wei": amount.map(|a| a.to_string()),
                        "fee_wei": fee.map(|f| f.to_string()),
                    });
                    say!("{summary:#}");
                } else {
                    say!("earned and not withdrawn: {} ETH", crate::output::ether(earned));
                    if let Some((amount, fee)) = withdrawn {
                        say!(
                            "withdrawn {} ETH to {} (fee {} ETH)",
                            crate::output::ether(amount),
                            owner.address(),
                            crate::output::ether(fee)
                        );
                    }
                }
            }
            RecordCommand::List { key, json } => {
                let key = unlock(keystore, &key)?;
                let wallet = RecordWallet::new(wallet_dir(home).join(key.address().to_string()));
                let records = wallet.list()?;
                if json {
                    let listed: Vec<serde_json::Value> = records
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "record_id": r.record_id,
                                "versions": r.versions.len(),
                                "data_type": r.data_type,
                            })
                        })
                        .collect();
                    say!("{:#}", serde_json::Value::from(listed));
                }
                for record in records.iter().filter(|_| !json) {
                    say!("{}  {} versions  {}", record.record_id, record.versions.len(), record.data_type);
                }
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
