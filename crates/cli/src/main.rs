//! `healthchain`: the command-line program. Thin by design: each subcommand parses its
//! arguments and calls into the library crates.
//!
//! Exit codes: 0 success, 1 refused or invalid input, 2 usage error (from clap), 3 a
//! component failed (the chain, the store or the enclave could not be reached or could not
//! run the request; retrying later may help).

mod admin;
mod bench;
mod clinical;
mod demo;
mod keys;
mod node;
mod output;
mod records;
mod share;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use healthchain_enclave::runtime::{self, Dispatcher};

#[derive(Parser)]
#[command(
    name = "healthchain",
    version,
    about = "Confidential, auditable health-record sharing over a blockchain and a TEE"
)]
struct Cli {
    /// Keystore directory for commands that sign.
    #[arg(long, global = true, default_value_os_t = keys::default_dir())]
    keystore: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end story on embedded defaults with the shipped Synthea patients.
    Demo {
        /// Directory of Synthea FHIR R4 patient bundles.
        #[arg(long, default_value = demo::DEFAULT_PATIENTS_DIR)]
        patients_dir: PathBuf,
        /// Use only the first N patients.
        #[arg(long)]
        patients: Option<usize>,
        /// Print a machine-readable JSON summary instead of the report.
        #[arg(long)]
        json: bool,
        /// Run in this environment directory (kept afterwards; through its node when one
        /// runs there) instead of a throw-away one.
        #[arg(long, visible_alias = "data-dir")]
        home: Option<PathBuf>,
    },
    /// Measure healthchain against the papers' figures and the peers, side by side.
    Bench(bench::BenchArgs),
    /// Manage ledger account keys (encrypted at rest; the passphrase comes from
    /// HEALTHCHAIN_PASSPHRASE or an interactive prompt).
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Consortium operator commands: deploy the contracts, approve enclaves.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// A data owner's records (seed 000): upload, update, import, history, sharing policy,
    /// accesses and earnings; verify for anyone. Runs on the embedded defaults in --home
    /// (created on first use).
    Record {
        /// The embedded environment's directory (chain, contracts, store, enclave state, wallets).
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: records::RecordCommand,
    },
    /// A data user's paid computations over records (seed 000 Algorithm 2): request and
    /// pay, have the enclave run the job, read the encrypted result.
    Share {
        /// The embedded environment's directory.
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: share::ShareCommand,
    },
    /// List records (of a data type) with their sharing policies, from chain events.
    Catalog {
        /// The embedded environment's directory.
        #[arg(long, default_value_os_t = records::default_home())]
        home: PathBuf,
        /// Only records of this data type (e.g. fhir-r4).
        #[arg(long)]
        data_type: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The key-authorization committee's service: release record keys, as threshold
    /// decryption shares, for requests the contracts granted.
    Committee {
        /// The embedded environment's directory.
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: share::CommitteeCommand,
    },
    /// A hospital (seed 001): apply on the Directory, enrol doctors, assign treatment keys,
    /// fetch patients' EHRs over an attested session.
    Hospital {
        /// The embedded environment's directory.
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: clinical::HospitalCommand,
    },
    /// A patient (seed 001): sign warrants, read EHRs and check them against the chain.
    Patient {
        /// The embedded environment's directory.
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: clinical::PatientCommand,
    },
    /// A doctor (seed 001): write EHRs under a patient's warrant.
    Doctor {
        /// The embedded environment's directory.
        #[arg(long, global = true, default_value_os_t = records::default_home())]
        home: PathBuf,
        #[command(subcommand)]
        command: clinical::DoctorCommand,
    },
    /// Run a node on embedded defaults in --home (created on first start, resumed after):
    /// chain, contracts, object store, approved enclave, and the HTTP API (description at
    /// /openapi.json) until interrupted. healthchain.toml in --home points the chain or the
    /// store at external services and sets these flags' defaults.
    Node {
        /// The embedded environment's directory.
        #[arg(long, visible_alias = "data-dir", default_value_os_t = records::default_home())]
        home: PathBuf,
        /// Where the HTTP API listens (default: [node] listen of healthchain.toml, else
        /// 127.0.0.1:8080; port 0 picks a free port, printed at start).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log as JSON lines on standard error (one object per event) instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Also serve this key-authorization committee seat (1-based, as dealt into the
        /// environment): post its decryption shares for every granted request.
        #[arg(long)]
        committee_member: Option<usize>,
        /// Seconds between the committee member's polls for granted requests (default 2).
        #[arg(long)]
        committee_interval: Option<u64>,
        /// Requests a second each client (by IP address) may make, in bursts of as many;
        /// beyond that it gets 429 (default 1000).
        #[arg(long)]
        rate_limit: Option<std::num::NonZeroU32>,
    },
    /// FHIR R4 tools.
    Fhir {
        #[command(subcommand)]
        command: FhirCommand,
    },
    /// Run as the simulated enclave process (spawned by the enclave host, not by hand).
    #[command(hide = true)]
    EnclaveProcess {
        /// The deployment (JSON) the update, share and ehr applications read and sign for;
        /// without it the enclave runs its built-in applications only.
        #[arg(long)]
        deployment: Option<PathBuf>,
        /// For `healthchain bench db|ingest` only: also serve the `ehr` application with
        /// seed 001 Figure 7's benchmark table and no registration of doctors or hospitals
        /// checked (`healthchain_ehr::EhrApp::for_benchmarks`), warrants signed for
        /// --chain-id and --ehr-registry.
        #[arg(long, conflicts_with = "deployment")]
        bench_ehr: bool,
        /// With --bench-ehr: the chain id of the warrants' EIP-712 domain.
        #[arg(long, requires = "bench_ehr", default_value_t = 31337)]
        chain_id: u64,
        /// With --bench-ehr: the `EhrRegistry` address of the warrants' EIP-712 domain.
        #[arg(long, requires = "bench_ehr", default_value_t = alloy_primitives::Address::ZERO)]
        ehr_registry: alloy_primitives::Address,
    },
}

#[derive(Subcommand)]
enum FhirCommand {
    /// Validate FHIR R4 JSON files; prints each error with its FHIR path. Exits 0 when
    /// every file is valid, 1 otherwise.
    Validate {
        /// Validate each file as a self-contained record entry (a Bundle whose references
        /// all resolve inside it), as the enclave does for version 1 of a record.
        #[arg(long)]
        record: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The enclave process: the built-in applications, plus `update`, `share` and `ehr` (the
/// SQLCipher EHR store, doctors and hospitals checked on the consortium `Directory`; its
/// database in the enclave's data directory) for a deployment; or, for `healthchain bench`,
/// `ehr` for benchmarks only (`bench_ehr`: chain id and `EhrRegistry` address of the
/// warrants).
fn enclave_process(
    deployment: Option<&std::path::Path>,
    bench_ehr: Option<(u64, alloy_primitives::Address)>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut dispatcher = Dispatcher::default();
    if let Some((chain_id, ehr_registry)) = bench_ehr {
        dispatcher.register(Box::new(healthchain_ehr::EhrApp::for_benchmarks(chain_id, ehr_registry)))?;
    }
    if let Some(path) = deployment {
        let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let deployment: healthchain_ledger::Deployment =
            serde_json::from_slice(&text).map_err(|e| format!("{} is not a deployment: {e}", path.display()))?;
        dispatcher.register(Box::new(healthchain_update::UpdateApp::new(deployment)))?;
        dispatcher.register(Box::new(healthchain_share::ShareApp::new(deployment)))?;
        let ehr = healthchain_ehr::EhrConfig::new(deployment.consortium.chain_id, deployment.consortium.ehr_registry);
        let registry = healthchain_ehr::OnChainRegistry::new(deployment);
        dispatcher.register(Box::new(healthchain_ehr::EhrApp::new(ehr, Box::new(registry))))?;
        // replicated enclaves: the consortium Directory is the allow-list of key provisioning
        dispatcher.set_directory(Box::new(healthchain_ehr::OnChainEnclaves::new(deployment)));
    }
    runtime::serve_stdio(dispatcher)?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode, Box<dyn std::error::Error>> = match cli.command {
        Command::Demo { patients_dir, patients, json, home } => {
            demo::run(&patients_dir, patients, json, home.as_deref()).map(|()| ExitCode::SUCCESS).map_err(Into::into)
        }
        Command::Bench(args) => bench::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Key { command } => keys::run(&cli.keystore, command).map(|()| ExitCode::SUCCESS),
        Command::Record { home, command } => records::run(&cli.keystore, &home, command),
        Command::Share { home, command } => share::run_share(&cli.keystore, &home, command),
        Command::Catalog { home, data_type, json } => share::run_catalog(&home, data_type.as_deref(), json),
        Command::Committee { home, command } => share::run_committee(&home, command),
        Command::Hospital { home, command } => clinical::run_hospital(&cli.keystore, &home, command),
        Command::Patient { home, command } => clinical::run_patient(&cli.keystore, &home, command),
        Command::Doctor { home, command } => clinical::run_doctor(&cli.keystore, &home, command),
        Command::Node { home, listen, json_logs, committee_member, committee_interval, rate_limit } => {
            let options = node::Options { listen, json_logs, committee_member, committee_interval, rate_limit };
            node::run(&home, &options).map(|()| ExitCode::SUCCESS)
        }
        Command::Admin { command } => admin::run(&cli.keystore, command).map(|()| ExitCode::SUCCESS),
        Command::Fhir { command: FhirCommand::Validate { record, files } } => {
            let mode = if record { healthchain_fhir::Mode::Record } else { healthchain_fhir::Mode::Resource };
            let report = healthchain_fhir::validate_files(&files, mode);
            crate::output::write(format_args!("{report}"));
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::EnclaveProcess { deployment, bench_ehr, chain_id, ehr_registry } => {
            enclave_process(deployment.as_deref(), bench_ehr.then_some((chain_id, ehr_registry)))
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::from(exit_code_of(error.as_ref()))
    })
}

/// Exit code for a command that failed with `error`: [`FAILED`] when a component failed,
/// 1 when what was asked was refused or invalid.
fn exit_code_of(error: &(dyn std::error::Error + 'static)) -> u8 {
    use healthchain_core::{clinical::ClinicalError, environment::EnvironmentError, records::RecordError};
    let failure = if let Some(e) = error.downcast_ref::<RecordError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_core::share::ShareError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<ClinicalError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<EnvironmentError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_ledger::errors::LedgerError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_enclave::host::EnclaveError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_enclave::client::ClientError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_core::host::ReplicaError>() {
        e.is_failure()
    } else if let Some(e) = error.downcast_ref::<healthchain_store::StoreError>() {
        e.is_failure()
    } else {
        error.is::<std::io::Error>()
    };
    if failure { FAILED } else { 1 }
}

/// Exit code when a component failed.
const FAILED: u8 = 3;
