//! The `crypto` benchmark: criterion's per-operation statistics for seed 000 Fig. 5
//! (anchoring vs SHA-256 over 1–6 MB), the chameleon hash's operations, and AES-256-GCM and
//! SHA-256 throughput (with `ring`'s stitched AES-GCM as a reference).
//!
//! The side-by-side ratios the goals are about — interleaved in one run, against
//! `openssl speed`, and the Fig. 6c update comparison — are `healthchain bench crypto` and
//! `healthchain bench update` (crates/bench).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use healthchain_crypto::chameleon;
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::hash::sha256;
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use rand::{SeedableRng, rngs::StdRng};

const MB: usize = 1 << 20;
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

fn benches(c: &mut Criterion) {
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
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.as_bytes()).expect("32-byte key"),
    );
    let mut buffer = Vec::with_capacity(data.len() + 16);
    throughput.bench_function("ring_aes256gcm_seal_1MB_reference", |b| {
        b.iter(|| ring_seal(&ring_key, black_box(data), &mut buffer))
    });
    throughput.finish();
}

/// AES-256-GCM through `ring` (BoringSSL's assembly) on the same buffer: what a
/// stitched AES+GHASH implementation reaches on this CPU, for comparison only.
fn ring_seal(key: &ring::aead::LessSafeKey, data: &[u8], buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(data);
    let nonce = ring::aead::Nonce::assume_unique_for_key([0; 12]);
    key.seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), buffer).expect("ring seals");
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
