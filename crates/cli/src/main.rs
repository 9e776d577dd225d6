//! `healthchain`: the command-line program. Thin by design: each subcommand parses its
//! arguments and calls into the library crates.

mod demo;

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
    },
    /// Run as the simulated enclave process (spawned by the enclave host, not by hand).
    #[command(hide = true)]
    EnclaveProcess,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Demo { patients_dir, patients, json } => demo::run(&patients_dir, patients, json).map_err(Into::into),
        Command::EnclaveProcess => runtime::serve_stdio(Dispatcher::default()).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
