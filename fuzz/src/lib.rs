//! What the fuzz targets and the seed writer (`examples/write_seeds.rs`) share: how a
//! target cuts its input into pieces ([`input`]), and deterministic fixtures ([`fixtures`],
//! [`chain`]) so that seeds can be valid messages the targets accept — a fuzzer that starts
//! from accepted inputs reaches the code behind each decoder, not only its first check.

pub mod chain;
pub mod fixtures;
pub mod input;
