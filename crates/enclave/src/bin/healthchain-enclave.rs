//! The simulated enclave process. Spawned by the host with a socket as standard input
//! and output; not meant to be run by hand.

use std::process::ExitCode;

use healthchain_enclave::runtime::{self, Dispatcher};

fn main() -> ExitCode {
    match runtime::serve_stdio(Dispatcher::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthchain-enclave: {e}");
            ExitCode::FAILURE
        }
    }
}
