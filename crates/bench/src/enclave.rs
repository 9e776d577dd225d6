//! `enclave`: the host↔enclave call round trip and bulk transfer into the enclave
//! (seed 001 Fig. 5 and Table 4), on the enclave process `healthchain` runs.

use alloy_primitives::B256;
use healthchain_crypto::session::EnclaveIdentity;
use healthchain_crypto::signing::EthKey;
use healthchain_enclave::client;
use healthchain_enclave::host::{EnclaveBackend, SimulatedConfig, SimulatedEnclave, new_platform_secret};
use healthchain_enclave::protocol::Ecall;
use healthchain_enclave::runtime::{STATUS_APP, Status};

use crate::crypto::MB;
use crate::{BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Suite, SuiteReport, Unit, time_ms};

/// Calls per timed sample of a round trip (one call is too short to time alone).
const CALLS_PER_SAMPLE: usize = 1_000;

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::failed(Suite::Enclave, e);
    let mut report = SuiteReport::new(Suite::Enclave, "seed 001 Fig. 5 and Table 4: enclave calls and bulk transfer");
    let state = options.scratch.join("enclave");
    let mut config = SimulatedConfig::new(&options.program, &state, new_platform_secret());
    config.args = vec!["enclave-process".into()];
    let enclave = SimulatedEnclave::launch(config).map_err(|e| failed(&e))?;
    let (rounds, sizes) = if options.quick { (5, vec![4, 16]) } else { (21, vec![4, 16, 64, 256, 512]) };

    let mut error = None;
    let ping = time_ms(rounds, || {
        for _ in 0..CALLS_PER_SAMPLE {
            if let Err(e) = enclave.call(&Ecall::Ping, &[]) {
                error = Some(e);
            }
        }
    });
    if let Some(e) = error.take() {
        return Err(failed(&e));
    }
    let per_call_us = |ms: f64| ms * 1e3 / CALLS_PER_SAMPLE as f64;
    report.figures.push(
        Figure::new("call round trip (ping)", Unit::Us, ping.map(per_call_us))
            .paper("57 µs call + 13 µs return (TrustZone)")
            .goal(Goal::AtMost(10.0)),
    );

    let evidence = enclave.evidence();
    let trusted =
        EnclaveIdentity { id: B256::from(evidence.measurement), report_signer: evidence.report_signer.into() };
    let mut session = client::connect(&enclave, EthKey::generate(&mut rand::rng()), trusted).map_err(|e| failed(&e))?;
    let mut session_error = None;
    let status = time_ms(rounds, || {
        for _ in 0..CALLS_PER_SAMPLE {
            if let Err(e) = session.call::<_, Status>(STATUS_APP, &()) {
                session_error = Some(e);
            }
        }
    });
    if let Some(e) = session_error {
        return Err(failed(&e));
    }
    report.figures.push(
        Figure::new("call round trip through an attested session", Unit::Us, status.map(per_call_us))
            .paper("57 µs + 13 µs"),
    );

    let mut series = Series { name: "healthchain enclave process".into(), points: Vec::new() };
    let transfer_rounds = if options.quick { 3 } else { 7 };
    for size in sizes {
        let payload = vec![0x5a_u8; size * MB];
        let mut error = None;
        let took = time_ms(transfer_rounds, || {
            if let Err(e) = enclave.call(&Ecall::Transfer, &payload) {
                error = Some(e);
            }
        });
        if let Some(e) = error {
            return Err(failed(&e));
        }
        let rate = took.map(|ms| payload.len() as f64 / (ms / 1e3) / 1e9);
        let mut figure = Figure::new(format!("bulk transfer {size} MB"), Unit::GbPerSecond, rate);
        if size == 512 {
            figure = figure.paper("512 MB in 1,143 ms (0.45 GB/s)");
        }
        report.figures.push(figure.goal(Goal::AtLeast(2.0)));
        series.points.push((size as f64, rate));
    }
    report.plots.push(Plot {
        name: "enclave_transfer".into(),
        title: "Bulk transfer into the enclave (seed 001 Table 4: 0.45 GB/s)".into(),
        x_label: "payload (MB)".into(),
        y_label: "GB/s".into(),
        kind: PlotKind::Lines,
        series: vec![series],
    });
    report.notes.push(
        "the round trip is bimodal on a virtual machine: ~10 µs when host and enclave share a core, \
         ~40 µs when each hand-off wakes the other core (pin with `taskset -c 1` to see the former)"
            .into(),
    );
    Ok(report)
}
