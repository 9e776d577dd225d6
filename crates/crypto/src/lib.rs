//! healthchain's cryptographic core.
//!
//! Pure functions and state machines, no I/O: everything the ledger, the enclave and the
//! clients agree on byte for byte lives here, so that each side computes it the same way.
//!
//! | module | what | seed |
//! |---|---|---|
//! | [`hash`] | domain-separated, length-prefixed SHA-256 / SHA-512 | — |
//! | [`chameleon`] | key-exposure-free chameleon hash on Ristretto255 | 000 §5.1 |
//! | [`record`] | digest chain over encrypted entries, chameleon message | 000 §5.2–5.3 |
//! | [`envelope`] | chunked AES-256-GCM encryption of record entries | 000 §5.2 |
//! | [`keywrap`] | hashed ElGamal key wrapping, threshold committee shares | 000 `T`, `EK` |
//! | [`kdf`], [`dh`] | HKDF-SHA256 and X25519 wrappers | 001 §4.3 |
//! | [`signing`] | secp256k1 keys and Ethereum-recoverable signatures | both |
//! | [`session`] | SIGMA-style attested session and its record layer | 001 §4.3 |
//! | [`treatment`] | the treatment key `Ptk`: sealed delivery to X25519 keys, `Enc(Ptk, ·)` | 001 §4.3 |
//! | [`eip712`] | warrants and enclave reports as EIP-712 typed data | 001 warrants, 000 `ρ` |
//! | [`merkle`] | Merkle trees over EHR batches: root, per-EHR proofs, verification | 001 (batched anchoring) |
//!
//! Randomness is always passed in (`&mut impl CryptoRng`), so callers choose the generator
//! and tests can be deterministic; production code passes `rand::rng()`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chameleon;
pub mod dh;
pub mod eip712;
pub mod envelope;
pub mod hash;
pub mod kdf;
pub mod keywrap;
pub mod merkle;
pub mod record;
pub mod session;
pub mod signing;
pub mod treatment;

mod point;

pub use point::EncodingError;
pub use rand_core::CryptoRng;
