//! Extension points of the authorization checks: who counts as a registered doctor, and
//! what time it is.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::Address;

/// Why a [`DoctorRegistry`] does not admit a doctor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The doctor is not registered (or lacks the privilege to write EHRs).
    #[error("not registered with the EHR write privilege")]
    NotRegistered,
    /// The registry could not be consulted; the write is refused rather than admitted.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

/// Whether a doctor may write EHRs at all — seed 001's "TS verifies the doctor's
/// identity", on top of the patient's warrant.
///
/// **Extension point.** The intended implementation reads `Directory.doctorPrivileges`
/// (`PRIVILEGE_WRITE_EHR`) from the consortium ledger, from inside the enclave, once the
/// ledger crate lands. Until then the enclave is constructed with either an
/// [`AllowList`] from its configuration or, explicitly, [`UncheckedRegistry`].
pub trait DoctorRegistry: Send {
    /// `Ok` if `doctor` may write EHRs now.
    fn check(&self, doctor: Address) -> Result<(), RegistryError>;
}

/// Doctors listed in the enclave's configuration (seed 001: "the TS securely stores all
/// the information of the doctors in the hospital").
#[derive(Clone, Debug, Default)]
pub struct AllowList(HashSet<Address>);

impl AllowList {
    /// Admits exactly `doctors`.
    pub fn new(doctors: impl IntoIterator<Item = Address>) -> Self {
        Self(doctors.into_iter().collect())
    }
}

impl DoctorRegistry for AllowList {
    fn check(&self, doctor: Address) -> Result<(), RegistryError> {
        if self.0.contains(&doctor) { Ok(()) } else { Err(RegistryError::NotRegistered) }
    }
}

/// Performs **no** registration check: any doctor the patient's warrant names may write.
/// The warrant (signature, doctor, period, order) is still enforced. Use only until the
/// on-chain registry is wired in, or where the chain enforces registration on the same
/// write (as `EhrRegistry` does).
#[derive(Clone, Copy, Debug, Default)]
pub struct UncheckedRegistry;

impl DoctorRegistry for UncheckedRegistry {
    fn check(&self, _doctor: Address) -> Result<(), RegistryError> {
        Ok(())
    }
}

/// The time warrant periods are checked against (unix seconds).
///
/// In the simulated enclave this is the host's clock, which the host controls; a hardware
/// backend would use a trusted time source or the chain's latest block time.
pub trait Clock: Send {
    /// Now, in unix seconds.
    fn now(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock that shows what it is set to (tests, replays). Clones share the time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
