//! `crypto`: seed 000 Fig. 5 (anchoring vs plain SHA-256 over 1–6 MB) and the physical
//! limit of this CPU (AES-256-GCM and SHA-256 against `openssl speed`).

use std::process::Command;

use healthchain_crypto::chameleon;
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{
    BenchError, Figure, Goal, Options, Plot, PlotKind, Series, Stat, Suite, SuiteReport, Unit, interleaved_ms,
};

pub(crate) const MB: usize = 1 << 20;
pub(crate) const RECORD: RecordId = RecordId([0x42; 32]);

/// `len` pseudo-random bytes (incompressible, like ciphertext).
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::Rng::fill_bytes(&mut StdRng::seed_from_u64(seed), &mut out);
    out
}

/// Upload-time anchoring of one ciphertext: entry digest, digest-chain step, chameleon hash.
fn anchor(public: &chameleon::PublicKey, ciphertext: &[u8], rng: &mut StdRng) -> chameleon::HashValue {
    let chain = DigestChain::genesis(RECORD).append(&entry_digest(ciphertext));
    chameleon::hash(public, &chain.message().to_bytes(), rng).0
}

pub(crate) fn run(options: &Options) -> Result<SuiteReport, BenchError> {
    let mut report = SuiteReport::new(Suite::Crypto, "seed 000 Fig. 5; AES-256-GCM and SHA-256 vs openssl speed");
    let mut rng = StdRng::seed_from_u64(7);
    let (_, public) = chameleon::keygen(&mut rng);
    let (sizes, rounds) = if options.quick { (vec![1, 2], 5) } else { ((1..=6).collect(), 41) };

    let mut ours_series = Series { name: "digest chain + chameleon hash (ours)".into(), points: Vec::new() };
    let mut plain_series = Series { name: "plain SHA-256".into(), points: Vec::new() };
    for &n in &sizes {
        let data = random_bytes(n * MB, n as u64);
        let (ours, plain) = interleaved_ms(rounds, || anchor(&public, &data, &mut rng), || sha256(&data));
        report.figures.push(
            Figure::new(format!("anchor {n} MB vs SHA-256"), Unit::Ms, ours)
                .paper("\"slightly higher\" than SHA-256")
                .peer("SHA-256", plain)
                .goal(Goal::RatioAtMost(1.05)),
        );
        ours_series.points.push((n as f64, ours));
        plain_series.points.push((n as f64, plain));
    }
    report.plots.push(Plot {
        name: "crypto_fig5".into(),
        title: "Seed 000 Fig. 5: anchoring vs plain SHA-256".into(),
        x_label: "data (MB)".into(),
        y_label: "time (ms)".into(),
        kind: PlotKind::Lines,
        series: vec![ours_series, plain_series],
    });

    let data = random_bytes(MB, 99);
    let key = RecordKey::generate(&mut rng);
    let context = EntryContext { record: RECORD, entry_index: 1 };
    let (aes, sha) =
        interleaved_ms(rounds, || envelope::encrypt_entry(&key, context, &data, &mut rng), || sha256(&data));
    let gb_per_s = |ms: f64| data.len() as f64 / (ms / 1e3) / 1e9;
    let speed_runs = if options.quick { 1 } else { 3 };
    for (name, ours, algorithm, paper) in
        [("AES-256-GCM", aes, "aes-256-gcm", "~3.8 GB/s (openssl)"), ("SHA-256", sha, "sha256", "~1.8 GB/s (openssl)")]
    {
        let figure = Figure::new(format!("{name}, 1 MB, one core"), Unit::GbPerSecond, ours.map(gb_per_s)).paper(paper);
        let limits: Vec<f64> = (0..speed_runs).filter_map(|_| openssl_speed(algorithm)).collect();
        let figure = if limits.is_empty() {
            report.notes.push(format!("openssl is not installed: {name} has no peer figure"));
            figure
        } else {
            figure.peer("openssl speed", Stat::of(limits).map(|b| b / 1e9))
        };
        report.figures.push(figure.goal(Goal::RatioAtLeast(0.8)));
    }
    Ok(report)
}

/// `openssl speed` on this machine, bytes/s for 16 KiB blocks, if openssl is installed.
fn openssl_speed(algorithm: &str) -> Option<f64> {
    let output =
        Command::new("openssl").args(["speed", "-evp", algorithm, "-bytes", "16384", "-seconds", "1"]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The last line: "<name>  <k bytes/s for 16384-byte blocks>k".
    let line = text.lines().rev().find(|l| l.to_lowercase().starts_with(&algorithm.to_lowercase()))?;
    let kilobytes: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(kilobytes * 1000.0)
}
