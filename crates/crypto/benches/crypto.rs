//! The `crypto` benchmark: seed 000 Fig. 5 (chameleon hash vs SHA-256 over 1–6 MB),
//! AES-256-GCM and SHA-256 throughput against `openssl speed` on this CPU, and the cost of
//! appending 50 KB to a 1 MB vs a 100 MB record (seed 000 Fig. 6c).
//!
//! Criterion measures each operation; a summary at the end re-measures each pair
//! interleaved (A, B, A, B, …) in this same run and prints the ratios the goals are about.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use healthchain_crypto::chameleon;
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use rand::{SeedableRng, rngs::StdRng};

const MB: usize = 1 << 20;
const UPDATE: usize = 50 * 1024;
const RECORD: RecordId = RecordId([0x42; 32]);

fn bytes(len: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(len as u64);
    let mut out = vec![0u8; len];
    rand::Rng::fill_bytes(&mut rng, &mut out);
    out
}

/// Upload-time anchoring of one ciphertext: entry digest, chain step, chameleon hash.
fn anchor(public: &chameleon::PublicKey, ciphertext: &[u8], rng: &mut StdRng) -> chameleon::HashValue {
    let chain = DigestChain::genesis(RECORD).append(&entry_digest(ciphertext));
    chameleon::hash(public, &chain.message().to_bytes(), rng).0
}

/// A record whose history is `history` bytes of 50 KB entries, as the enclave holds it
/// after the log: the chain head, the anchor and the trapdoor owner's key.
struct Record {
    key: RecordKey,
    chain: DigestChain,
    anchor: chameleon::HashValue,
    ciphertexts: Vec<Vec<u8>>,
}

fn record_with_history(history: usize, trapdoor: &chameleon::Trapdoor, rng: &mut StdRng) -> Record {
    let key = RecordKey::generate(rng);
    let entry = bytes(UPDATE);
    let mut chain = DigestChain::genesis(RECORD);
    let mut ciphertexts = Vec::new();
    for index in 1..=(history / UPDATE) as u64 {
        let ciphertext =
            envelope::encrypt_entry(&key, EntryContext { record: RECORD, entry_index: index }, &entry, rng);
        chain = chain.append(&entry_digest(&ciphertext));
        ciphertexts.push(ciphertext);
    }
    let (anchor, _) = chameleon::hash(&trapdoor.public_key(), &chain.message().to_bytes(), rng);
    Record { key, chain, anchor, ciphertexts }
}

/// healthchain's update: encrypt the new entry, extend the digest chain from its head,
/// adapt the chameleon hash and check the new pair — independent of the history size.
fn update(
    record: &Record,
    trapdoor: &chameleon::Trapdoor,
    new_entry: &[u8],
    rng: &mut StdRng,
) -> chameleon::CheckString {
    let index = record.chain.version() + 1;
    let ciphertext =
        envelope::encrypt_entry(&record.key, EntryContext { record: RECORD, entry_index: index }, new_entry, rng);
    let chain = record.chain.append(&entry_digest(&ciphertext));
    let message = chain.message().to_bytes();
    let check = chameleon::adapt(trapdoor, &record.anchor, &message, rng);
    chameleon::check(&trapdoor.public_key(), &message, &record.anchor, &check).expect("adapted pair opens");
    check
}

/// Seed 000's update for comparison: the chameleon hash covers the whole ciphertext, so
/// every update re-hashes the full history plus the new data.
fn seed_style_update(
    record: &Record,
    trapdoor: &chameleon::Trapdoor,
    new_entry: &[u8],
    rng: &mut StdRng,
) -> chameleon::CheckString {
    let mut whole = sha2::Sha256::default();
    for ciphertext in &record.ciphertexts {
        sha2::Digest::update(&mut whole, ciphertext);
    }
    let ciphertext =
        envelope::encrypt_entry(&record.key, EntryContext { record: RECORD, entry_index: 0 }, new_entry, rng);
    sha2::Digest::update(&mut whole, &ciphertext);
    let digest: [u8; 32] = sha2::Digest::finalize(whole).into();
    chameleon::adapt(trapdoor, &record.anchor, &digest, rng)
}

fn benches(c: &mut Criterion) -> Summary {
    let mut rng = StdRng::seed_from_u64(7);
    let (trapdoor, public) = chameleon::keygen(&mut rng);

    let mut fig5 = c.benchmark_group("fig5_chameleon_vs_sha256");
    fig5.sample_size(20).measurement_time(Duration::from_secs(2));
    let inputs: Vec<Vec<u8>> = (1..=6).map(|n| bytes(n * MB)).collect();
    for (n, data) in (1..=6).zip(&inputs) {
        fig5.throughput(Throughput::Bytes(data.len() as u64));
        fig5.bench_with_input(BenchmarkId::new("sha256", format!("{n}MB")), data, |b, d| {
            b.iter(|| sha256(black_box(d)))
        });
        fig5.bench_with_input(BenchmarkId::new("digest_chain+chameleon", format!("{n}MB")), data, |b, d| {
            b.iter(|| anchor(&public, black_box(d), &mut rng))
        });
    }
    fig5.finish();

    let mut operations = c.benchmark_group("chameleon_operations");
    let message = DigestChain::genesis(RECORD).append(&entry_digest(b"entry")).message().to_bytes();
    let (h, check) = chameleon::hash(&public, &message, &mut rng);
    operations.bench_function("hash", |b| b.iter(|| chameleon::hash(&public, black_box(&message), &mut rng)));
    operations.bench_function("adapt", |b| b.iter(|| chameleon::adapt(&trapdoor, &h, black_box(&message), &mut rng)));
    operations.bench_function("check", |b| b.iter(|| chameleon::check(&public, black_box(&message), &h, &check)));
    operations.finish();

    let mut throughput = c.benchmark_group("throughput");
    throughput.sample_size(20).measurement_time(Duration::from_secs(2));
    let data = &inputs[0];
    let key = RecordKey::generate(&mut rng);
    throughput.throughput(Throughput::Bytes(data.len() as u64));
    throughput.bench_function("aes256gcm_encrypt_entry_1MB", |b| {
        b.iter(|| {
            envelope::encrypt_entry(&key, EntryContext { record: RECORD, entry_index: 1 }, black_box(data), &mut rng)
        })
    });
    let sealed = envelope::encrypt_entry(&key, EntryContext { record: RECORD, entry_index: 1 }, data, &mut rng);
    throughput.bench_function("aes256gcm_decrypt_entry_1MB", |b| {
        b.iter(|| envelope::decrypt_entry(&key, EntryContext { record: RECORD, entry_index: 1 }, black_box(&sealed)))
    });
    throughput.bench_function("sha256_1MB", |b| b.iter(|| sha256(black_box(data))));
    throughput.finish();

    let small = record_with_history(MB, &trapdoor, &mut rng);
    let large = record_with_history(100 * MB, &trapdoor, &mut rng);
    let new_entry = bytes(UPDATE);
    let mut fig6c = c.benchmark_group("fig6c_append_50KB");
    fig6c.sample_size(20).measurement_time(Duration::from_secs(2));
    for (label, record) in [("1MB", &small), ("100MB", &large)] {
        fig6c.bench_function(BenchmarkId::new("healthchain", label), |b| {
            b.iter(|| update(record, &trapdoor, black_box(&new_entry), &mut rng))
        });
        fig6c.bench_function(BenchmarkId::new("seed000_rehash", label), |b| {
            b.iter(|| seed_style_update(record, &trapdoor, black_box(&new_entry), &mut rng))
        });
    }
    fig6c.finish();

    Summary { trapdoor, public, inputs, key, small, large, new_entry, rng }
}

struct Summary {
    trapdoor: chameleon::Trapdoor,
    public: chameleon::PublicKey,
    inputs: Vec<Vec<u8>>,
    key: RecordKey,
    small: Record,
    large: Record,
    new_entry: Vec<u8>,
    rng: StdRng,
}

/// Median seconds of `a` and `b`, run alternately `rounds` times.
fn interleaved<A, B>(rounds: usize, mut a: impl FnMut() -> A, mut b: impl FnMut() -> B) -> (f64, f64) {
    let (mut times_a, mut times_b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(a());
        times_a.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        black_box(b());
        times_b.push(start.elapsed().as_secs_f64());
    }
    (median(&mut times_a), median(&mut times_b))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// AES-256-GCM through `ring` (BoringSSL's assembly) on the same buffer: what a
/// stitched AES+GHASH implementation reaches on this CPU, for comparison only.
fn ring_seal(key: &ring::aead::LessSafeKey, data: &[u8], buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(data);
    let nonce = ring::aead::Nonce::assume_unique_for_key([0; 12]);
    key.seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), buffer).expect("ring seals");
}

/// `openssl speed` on this machine, bytes/s for 16 KiB blocks, if openssl is installed.
fn openssl_speed(algorithm: &str) -> Option<f64> {
    let output =
        Command::new("openssl").args(["speed", "-evp", algorithm, "-bytes", "16384", "-seconds", "1"]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // Last line: "<name>  <k bytes/s for 16384-byte blocks>k".
    let line = text.lines().rev().find(|l| l.to_lowercase().starts_with(&algorithm.to_lowercase()))?;
    let kilobytes: f64 = line.split_whitespace().last()?.trim_end_matches('k').parse().ok()?;
    Some(kilobytes * 1000.0)
}

fn report(s: Summary) {
    let Summary { trapdoor, public, inputs, key, small, large, new_entry, mut rng } = s;
    let mut other_rng = StdRng::seed_from_u64(1);
    println!("\n== crypto summary (medians, interleaved in this run) ==");
    println!("seed 000 Fig. 5: digest chain + chameleon hash vs plain SHA-256 (goal ≤ 1.05×)");
    for (n, data) in (1..=6).zip(&inputs) {
        let (ours, plain) = interleaved(41, || anchor(&public, data, &mut rng), || sha256(data));
        println!("  {n} MB: {:>8.3} ms vs {:>8.3} ms  ratio {:.3}", ours * 1e3, plain * 1e3, ours / plain);
    }

    println!("throughput vs openssl speed on this CPU, one core (goal ≥ 80%)");
    let data = &inputs[0];
    let context = EntryContext { record: RECORD, entry_index: 1 };
    let (aes, sha) = interleaved(41, || envelope::encrypt_entry(&key, context, data, &mut rng), || sha256(data));
    for (name, seconds, algorithm) in [("AES-256-GCM", aes, "aes-256-gcm"), ("SHA-256", sha, "sha256")] {
        let ours = data.len() as f64 / seconds;
        match openssl_speed(algorithm) {
            Some(limit) => println!(
                "  {name}: {:.2} GB/s, openssl {:.2} GB/s, {:.0}%",
                ours / 1e9,
                limit / 1e9,
                100.0 * ours / limit
            ),
            None => println!("  {name}: {:.2} GB/s (openssl not available for comparison)", ours / 1e9),
        }
    }

    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.as_bytes()).expect("32-byte key"),
    );
    let mut buffer = Vec::with_capacity(data.len() + 16);
    let (ours, reference) = interleaved(
        41,
        || envelope::encrypt_entry(&key, context, data, &mut rng),
        || ring_seal(&ring_key, data, &mut buffer),
    );
    println!(
        "  for comparison, AES-256-GCM in ring (stitched assembly) on the same 1 MB: {:.2} GB/s (ours {:.2} GB/s)",
        data.len() as f64 / reference / 1e9,
        data.len() as f64 / ours / 1e9
    );

    println!("seed 000 Fig. 6c: append 50 KB onto 1 MB vs 100 MB of history (goal ≤ 1.2×)");
    let (on_small, on_large) = interleaved(
        101,
        || update(&small, &trapdoor, &new_entry, &mut rng),
        || update(&large, &trapdoor, &new_entry, &mut other_rng),
    );
    println!("  healthchain: {:.3} ms vs {:.3} ms  ratio {:.3}", on_small * 1e3, on_large * 1e3, on_large / on_small);
    let (on_small, on_large) = interleaved(
        11,
        || seed_style_update(&small, &trapdoor, &new_entry, &mut rng),
        || seed_style_update(&large, &trapdoor, &new_entry, &mut other_rng),
    );
    println!(
        "  seed 000 (re-hash all): {:.3} ms vs {:.3} ms  ratio {:.3}",
        on_small * 1e3,
        on_large * 1e3,
        on_large / on_small
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let summary = benches(&mut criterion);
    criterion.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        report(summary);
    }
}
