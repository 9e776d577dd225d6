//! Attestation evidence as it arrives — postcard in the enclave's `Ready` frame and in
//! `EcallResult::Evidence` (through a node's relay too), JSON in the file
//! `healthchain admin enclave approve` reads — then verified against a policy that trusts
//! the platform and the measurement. Only the platform's genuine evidence may pass.
//!
//! Input: a selector byte (even: postcard, odd: JSON), then the encoded evidence.
#![no_main]

use std::sync::OnceLock;

use healthchain_enclave::evidence::{Evidence, Policy};
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::selector;
use libfuzzer_sys::fuzz_target;

/// Policies accepting simulated evidence, and not; built once (deriving the platform's
/// key costs a scalar multiplication).
fn policies() -> &'static [(bool, Policy); 2] {
    static POLICIES: OnceLock<[(bool, Policy); 2]> = OnceLock::new();
    POLICIES.get_or_init(|| [true, false].map(|accept| (accept, fixtures::policy(accept))))
}

fuzz_target!(|data: &[u8]| {
    let Some((format, bytes)) = selector(data) else { return };
    let evidence = if format % 2 == 0 {
        let Ok(evidence) = postcard::from_bytes::<Evidence>(bytes) else { return };
        let encoded = postcard::to_stdvec(&evidence).expect("decoded evidence encodes");
        assert_eq!(postcard::from_bytes::<Evidence>(&encoded).ok().as_ref(), Some(&evidence));
        evidence
    } else {
        let Ok(evidence) = serde_json::from_slice::<Evidence>(bytes) else { return };
        let encoded = serde_json::to_vec(&evidence).expect("decoded evidence encodes");
        assert_eq!(serde_json::from_slice::<Evidence>(&encoded).ok().as_ref(), Some(&evidence));
        evidence
    };
    for (accept_simulated, policy) in policies() {
        if let Ok(verified) = evidence.verify(policy) {
            // the platform signs one report per (measurement, keys, simulated) and
            // signatures are low-s: nothing else verifies
            assert_eq!(evidence, fixtures::evidence(), "forged evidence verified");
            assert!(*accept_simulated || !evidence.simulated);
            assert_eq!(verified.encryption_key, fixtures::encryption_key().public_key());
        }
    }
});
