//! `healthchain`: the command-line program. Thin by design: each subcommand parses its
//! arguments and calls into the library crates.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            patients_dir,
            patients,
            json,
        } => demo::run(&patients_dir, patients, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
