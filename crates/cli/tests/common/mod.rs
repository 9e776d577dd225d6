//! Shared by the end-to-end tests: the shipped Synthea bundles, the enclave program (this
//! package's `healthchain` binary), a runtime.
#![allow(dead_code)]

pub mod node;

use std::path::{Path, PathBuf};

use healthchain_core::environment::{ChainStorage, Environment};
use healthchain_core::host::EnclaveProgram;

/// The shipped Synthea bundles, sorted.
pub fn bundles() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fhir/synthea");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the shipped Synthea bundles")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The enclave: this package's binary in its hidden mode.
pub fn program() -> EnclaveProgram {
    EnclaveProgram { program: env!("CARGO_BIN_EXE_healthchain").into(), args: vec!["enclave-process".into()] }
}

/// A two-thread runtime (enclave calls run on blocking threads).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// An in-memory environment in `home` with a 1-of-1 committee.
pub async fn environment(home: &Path) -> Environment {
    Environment::open(home, &program(), ChainStorage::Memory).await.expect("environment")
}

/// An in-memory environment in `home` with a `t`-of-`n` committee.
pub async fn environment_with_committee(home: &Path, t: usize, n: usize) -> Environment {
    Environment::open_with_committee(home, &program(), ChainStorage::Memory, t, n).await.expect("environment")
}

/// `healthchain.toml` text pointing an environment's store at the S3 bucket `s3`.
pub fn s3_store_toml(s3: &healthchain_store::S3Config) -> String {
    format!(
        "[store]\nbackend = \"s3\"\nbucket = \"{}\"\nregion = \"{}\"\nendpoint = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = {}\n",
        s3.bucket,
        s3.region,
        s3.endpoint.as_deref().unwrap_or_default(),
        s3.access_key_id,
        s3.secret_access_key,
        s3.allow_http
    )
}
