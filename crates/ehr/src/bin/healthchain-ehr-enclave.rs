//! The simulated enclave process with the EHR store registered. Spawned by the host with a
//! socket as standard input and output; not meant to be run by hand.
//!
//! The registry here is a configured list (`healthchain_ehr::AllowList`) or none; the
//! on-chain registry runs in `healthchain enclave-process --deployment FILE`.
//!
//! Arguments (enclave configuration, passed by the host):
//! `--chain-id N` (default 31337), `--ehr-registry 0x…` (default the zero address),
//! `--doctor 0x…` (repeatable: admit only these doctors to write) with `--hospital 0x…`
//! (repeatable: admit only these hospitals to fetch; none if absent) or, explicitly,
//! `--any-doctor` (no registration checked, of doctors or hospitals —
//! `healthchain_ehr::UncheckedRegistry`; for benchmarks; `--doctor` or `--any-doctor` is
//! required), `--bench-table` (serve seed 001 Figure 7's benchmark table).

use std::process::ExitCode;

use alloy_primitives::Address;
use healthchain_ehr::{AllowList, EhrApp, EhrConfig, Registry, UncheckedRegistry};
use healthchain_enclave::runtime::{self, Dispatcher};

fn parse(args: impl Iterator<Item = String>) -> Result<EhrApp, String> {
    let mut config = EhrConfig::new(31337, Address::ZERO);
    let mut doctors = Vec::new();
    let mut hospitals = Vec::new();
    let mut any_doctor = false;
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--chain-id" => {
                config.chain_id = value("--chain-id")?.parse().map_err(|e| format!("--chain-id: {e}"))?;
            }
            "--ehr-registry" => {
                config.ehr_registry = value("--ehr-registry")?.parse().map_err(|e| format!("--ehr-registry: {e}"))?;
            }
            "--doctor" => doctors.push(value("--doctor")?.parse::<Address>().map_err(|e| format!("--doctor: {e}"))?),
            "--hospital" => {
                hospitals.push(value("--hospital")?.parse::<Address>().map_err(|e| format!("--hospital: {e}"))?)
            }
            "--bench-table" => config.bench_table = true,
            "--any-doctor" => any_doctor = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if any_doctor && !hospitals.is_empty() {
        return Err("--hospital and --any-doctor exclude each other (--any-doctor checks no registration)".into());
    }
    let registry: Box<dyn Registry> = match (doctors.is_empty(), any_doctor) {
        (false, false) => Box::new(AllowList::new(doctors, hospitals)),
        (true, true) => Box::new(UncheckedRegistry),
        (true, false) => return Err("name the admitted doctors with --doctor, or pass --any-doctor explicitly".into()),
        (false, true) => return Err("--doctor and --any-doctor exclude each other".into()),
    };
    Ok(EhrApp::new(config, registry))
}

fn main() -> ExitCode {
    let app = match parse(std::env::args().skip(1)) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("healthchain-ehr-enclave: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut dispatcher = Dispatcher::default();
    if let Err(e) = dispatcher.register(Box::new(app)) {
        eprintln!("healthchain-ehr-enclave: {e}");
        return ExitCode::FAILURE;
    }
    match runtime::serve_stdio(dispatcher) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthchain-ehr-enclave: {e}");
            ExitCode::FAILURE
        }
    }
}
