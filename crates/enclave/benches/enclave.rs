//! The `enclave` benchmark: seed 001 Fig. 5 / Table 4 on this machine — the round trip of
//! a call into the enclave process (TrustZone: 57 µs call + 13 µs return; goal ≤ 10 µs)
//! and bulk transfer into it for 4–512 MB (TrustZone: 512 MB in 1,143 ms; goal ≥ 2 GB/s).

use std::time::Duration;

use alloy_primitives::B256;
use criterion::{BenchmarkId, Criterion, Throughput};
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client;
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, new_platform_secret};
use healthchain_enclave::protocol::Ecall;
use healthchain_enclave::runtime::{STATUS_APP, Status};

const MB: usize = 1 << 20;

fn main() {
    let state = tempfile::tempdir().expect("temporary state directory");
    let config = SimulatedConfig::new(env!("CARGO_BIN_EXE_healthchain-enclave"), state.path(), new_platform_secret());
    let enclave = SimulatedEnclave::launch(config).expect("enclave launches");
    let evidence = enclave.evidence();
    let trusted =
        EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() };

    let mut criterion = Criterion::default().configure_from_args();
    let mut calls = criterion.benchmark_group("enclave_call");
    calls.measurement_time(Duration::from_secs(3));
    calls.bench_function("ping_round_trip", |b| b.iter(|| enclave.call(&Ecall::Ping, &[]).expect("ping")));
    let mut session = client::connect(&enclave, EthKey::generate(&mut rand::rng()), trusted).expect("session");
    calls.bench_function("session_status_round_trip", |b| {
        b.iter(|| session.call::<_, Status>(STATUS_APP, &()).expect("status"))
    });
    calls.finish();

    let mut transfer = criterion.benchmark_group("enclave_transfer");
    transfer.sample_size(10).measurement_time(Duration::from_secs(5));
    for size in [4 * MB, 16 * MB, 64 * MB, 256 * MB, 512 * MB] {
        let payload = vec![0x5a_u8; size];
        transfer.throughput(Throughput::Bytes(size as u64));
        transfer.bench_with_input(BenchmarkId::from_parameter(format!("{}MB", size / MB)), &payload, |b, payload| {
            b.iter(|| enclave.call(&Ecall::Transfer, payload).expect("transfer"))
        });
    }
    transfer.finish();
    criterion.final_summary();
}
