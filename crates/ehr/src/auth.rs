//! Who counts as a registered doctor or an approved hospital ([`Registry`]), and what time
//! it is ([`Clock`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::Address;
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::provision::{EnclaveDirectory, OnChainEnclave};
use healthchain_enclave::runtime::HostServices;
use healthchain_ledger::Deployment;
use healthchain_ledger::bindings::Directory;
use healthchain_ledger::contracts::{HospitalStatus, PRIVILEGE_WRITE_EHR};
use healthchain_update::view::{ChainView, HostLedger};

/// Why a [`Registry`] does not admit a doctor or a hospital.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The doctor is not registered, or lacks the privilege to write EHRs (on the chain, a
    /// revoked doctor and every doctor of a hospital that is not approved have none).
    #[error("not registered with the EHR write privilege")]
    NotRegistered,
    /// The hospital's status on the consortium `Directory` is not `Approved`.
    #[error("not an approved hospital: {} on the Directory", describe(*.0))]
    HospitalNotApproved(HospitalStatus),
    /// The hospital is not in the enclave's configured list.
    #[error("not in the enclave's list of hospitals")]
    HospitalNotListed,
    /// The registry could not be consulted; the request is refused rather than admitted.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

fn describe(status: HospitalStatus) -> &'static str {
    match status {
        HospitalStatus::None => "unknown (never registered)",
        HospitalStatus::Pending => "pending approval",
        HospitalStatus::Approved => "approved",
        HospitalStatus::Revoked => "revoked",
    }
}

/// Registration checks on top of the patient's warrant: seed 001's "TS verifies the
/// doctor's identity" before a write, and that a hospital fetching EHRs is one the
/// consortium approved.
///
/// The enclave's configuration picks the implementation: [`OnChainRegistry`] (the
/// consortium `Directory`, read through the enclave's host), an [`AllowList`], or,
/// explicitly, [`UncheckedRegistry`]. Each check is made once per request.
pub trait Registry: Send {
    /// `Ok` if `doctor` may write EHRs now.
    fn check_doctor(&mut self, host: &mut dyn HostServices, doctor: Address) -> Result<(), RegistryError>;
    /// `Ok` if `hospital` may fetch the EHRs that name it now.
    fn check_hospital(&mut self, host: &mut dyn HostServices, hospital: Address) -> Result<(), RegistryError>;
}

/// The consortium ledger's `Directory`, read from inside the enclave through its host
/// (`eth_call` at the latest block, nothing cached, so a revocation takes effect on the
/// next request). A doctor is admitted iff `doctorPrivileges(doctor)` has
/// `PRIVILEGE_WRITE_EHR` (the contract answers 0 for a revoked doctor and for every doctor
/// of a hospital that is not approved); a hospital iff `hospitalOf(hospital).status` is
/// `Approved`. A failed or malformed read is [`RegistryError::Unavailable`].
///
/// The host relays the answers and could lie; as with every chain read of the enclave
/// (see `healthchain_update::view`), the deployment is the operator's launch
/// configuration and the answers are only as good as the relayed endpoint.
#[derive(Clone, Debug)]
pub struct OnChainRegistry {
    deployment: Deployment,
}

impl OnChainRegistry {
    /// Reads `deployment.consortium.directory` on the consortium ledger.
    pub fn new(deployment: Deployment) -> Self {
        Self { deployment }
    }

    fn directory_call<C: alloy_sol_types::SolCall>(
        &self,
        host: &mut dyn HostServices,
        call: C,
    ) -> Result<C::Return, RegistryError> {
        let mut ledger = HostLedger(host);
        ChainView::new(&mut ledger, &self.deployment)
            .eth_call(LedgerName::Consortium, self.deployment.consortium.directory, call)
            .map_err(|e| RegistryError::Unavailable(e.to_string()))
    }
}

impl Registry for OnChainRegistry {
    fn check_doctor(&mut self, host: &mut dyn HostServices, doctor: Address) -> Result<(), RegistryError> {
        let privileges = self.directory_call(host, Directory::doctorPrivilegesCall { doctor })?;
        if privileges & PRIVILEGE_WRITE_EHR != 0 { Ok(()) } else { Err(RegistryError::NotRegistered) }
    }

    fn check_hospital(&mut self, host: &mut dyn HostServices, hospital: Address) -> Result<(), RegistryError> {
        let entry = self.directory_call(host, Directory::hospitalOfCall { hospital })?;
        match HospitalStatus::from_u8(entry.status) {
            HospitalStatus::Approved => Ok(()),
            other => Err(RegistryError::HospitalNotApproved(other)),
        }
    }
}

/// The consortium `Directory` as the enclave's allow-list of enclaves, read through its
/// host (`enclaveOf`, at the latest block, nothing cached): what a provider checks before
/// handing its keys to a replica, and a joiner before installing them
/// ([`healthchain_enclave::provision`]). Joins are recorded on the same Directory, so its
/// EIP-712 domain is the join statement's.
#[derive(Clone, Debug)]
pub struct OnChainEnclaves {
    deployment: Deployment,
}

impl OnChainEnclaves {
    /// Reads `deployment.consortium.directory` on the consortium ledger.
    pub fn new(deployment: Deployment) -> Self {
        Self { deployment }
    }
}

impl EnclaveDirectory for OnChainEnclaves {
    fn enclave_of(&mut self, host: &mut dyn HostServices, report_signer: Address) -> Result<OnChainEnclave, String> {
        let mut ledger = HostLedger(host);
        let entry = ChainView::new(&mut ledger, &self.deployment)
            .eth_call(
                LedgerName::Consortium,
                self.deployment.consortium.directory,
                Directory::enclaveOfCall { reportSigner: report_signer },
            )
            .map_err(|e| e.to_string())?;
        Ok(OnChainEnclave {
            approved: entry.approved,
            measurement: entry.measurement.0,
            encryption_key: entry.encryptionKey.0,
        })
    }

    fn join_domain(&self) -> (u64, Address) {
        (self.deployment.consortium.chain_id, self.deployment.consortium.directory)
    }
}

/// Doctors and hospitals listed in the enclave's configuration (seed 001: "the TS securely
/// stores all the information of the doctors in the hospital").
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    doctors: HashSet<Address>,
    hospitals: HashSet<Address>,
}

impl AllowList {
    /// Admits exactly `doctors` to write and `hospitals` to fetch.
    pub fn new(doctors: impl IntoIterator<Item = Address>, hospitals: impl IntoIterator<Item = Address>) -> Self {
        Self { doctors: doctors.into_iter().collect(), hospitals: hospitals.into_iter().collect() }
    }
}

impl Registry for AllowList {
    fn check_doctor(&mut self, _host: &mut dyn HostServices, doctor: Address) -> Result<(), RegistryError> {
        if self.doctors.contains(&doctor) { Ok(()) } else { Err(RegistryError::NotRegistered) }
    }

    fn check_hospital(&mut self, _host: &mut dyn HostServices, hospital: Address) -> Result<(), RegistryError> {
        if self.hospitals.contains(&hospital) { Ok(()) } else { Err(RegistryError::HospitalNotListed) }
    }
}

/// Performs **no** registration check: any doctor the patient's warrant names may write,
/// and any caller may fetch the EHRs whose hospital list names it. The warrant (signature,
/// doctor, period, order, revocation) is still enforced. For benchmarks, and where the
/// chain enforces registration on the same write (as `EhrRegistry` does).
#[derive(Clone, Copy, Debug, Default)]
pub struct UncheckedRegistry;

impl Registry for UncheckedRegistry {
    fn check_doctor(&mut self, _host: &mut dyn HostServices, _doctor: Address) -> Result<(), RegistryError> {
        Ok(())
    }

    fn check_hospital(&mut self, _host: &mut dyn HostServices, _hospital: Address) -> Result<(), RegistryError> {
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
