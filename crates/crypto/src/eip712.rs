//! EIP-712 typed data signed off-chain and checked on-chain: patient warrants (seed 001)
//! and enclave reports (seed 000's attestation `ρ`).
//!
//! The type strings here and in `contracts/` must match exactly; the domain is
//! `{name: "healthchain", version: "1", chainId, verifyingContract}` where the verifying
//! contract is the one that checks the signature (`EhrRegistry` for warrants and EHR batch
//! reports, `UpdateLog` for update reports, `AccessControl` for completion reports).

use alloy_primitives::{Address, B256};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};

use crate::signing::{self, EthKey, SignatureError};

sol! {
    /// One doctor of a warrant and the period in which they may write (unix seconds,
    /// inclusive).
    #[derive(Debug, PartialEq, Eq)]
    struct DoctorTerm {
        address doctor;
        uint64 notBefore;
        uint64 notAfter;
    }

    /// A patient's delegation to one doctor or an ordered group of doctors.
    #[derive(Debug, PartialEq, Eq)]
    struct Warrant {
        address patient;
        DoctorTerm[] doctors;
        bytes32 aux;
    }

    /// The enclave's attestation that it validated version `version` of a record.
    #[derive(Debug, PartialEq, Eq)]
    struct UpdateReport {
        bytes32 recordId;
        uint64 version;
        bytes32 digest;
        bytes32 checkStringHash;
        bytes32 licenseId;
    }

    /// The enclave's attestation that it ran job `jobHash` for request `requestId`.
    #[derive(Debug, PartialEq, Eq)]
    struct CompletionReport {
        uint256 requestId;
        bytes32 jobHash;
        bytes32 resultHash;
    }

    /// An approved enclave's statement that it provisioned its keys to the instance whose
    /// pre-join report signer is `instance` and whose attestation evidence hashes to
    /// `evidenceHash` (checked by `Directory.recordReplica` under the Directory's domain).
    #[derive(Debug, PartialEq, Eq)]
    struct ReplicaJoin {
        address instance;
        bytes32 evidenceHash;
    }

    /// The enclave's attestation that it stored, for `doctor`, the `count` EHRs of a batch
    /// whose Merkle tree ([`crate::merkle`]) has root `root`.
    #[derive(Debug, PartialEq, Eq)]
    struct EhrBatch {
        address doctor;
        bytes32 root;
        uint32 count;
    }
}

/// The healthchain EIP-712 domain for `verifying_contract` on `chain_id`.
pub fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    eip712_domain! {
        name: "healthchain",
        version: "1",
        chain_id: chain_id,
        verifying_contract: verifying_contract,
    }
}

/// Signs any of this module's structs under `domain`.
pub fn sign<T: SolStruct>(key: &EthKey, value: &T, domain: &Eip712Domain) -> [u8; 65] {
    key.sign_digest(&value.eip712_signing_hash(domain))
}

/// Checks that `signature` over `value` under `domain` is by `expected`.
pub fn verify<T: SolStruct>(
    value: &T,
    domain: &Eip712Domain,
    signature: &[u8],
    expected: Address,
) -> Result<(), SignatureError> {
    signing::verify(&value.eip712_signing_hash(domain), signature, expected)
}

/// Why a warrant does not authorize a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarrantError {
    /// The patient's signature is invalid.
    #[error("warrant signature rejected: {0}")]
    BadSignature(#[from] SignatureError),
    /// The warrant names no doctors.
    #[error("warrant names no doctors")]
    NoDoctors,
    /// The doctor is not named in the warrant.
    #[error("doctor {0} is not named in the warrant")]
    DoctorNotNamed(Address),
    /// `now` is outside the doctor's period.
    #[error("warrant period for doctor {doctor} is {not_before}..={not_after}, now is {now}")]
    OutsidePeriod {
        /// The doctor.
        doctor: Address,
        /// Period start.
        not_before: u64,
        /// Period end.
        not_after: u64,
        /// The time checked.
        now: u64,
    },
}

/// A warrant with the patient's EIP-712 signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWarrant {
    /// The warrant.
    pub warrant: Warrant,
    /// The patient's signature under the `EhrRegistry` domain.
    pub signature: [u8; 65],
}

impl SignedWarrant {
    /// Signs `warrant` as its patient.
    pub fn sign(patient: &EthKey, warrant: Warrant, domain: &Eip712Domain) -> Self {
        let signature = sign(patient, &warrant, domain);
        Self { warrant, signature }
    }

    /// The hash the signature covers (also the warrant's on-chain identifier).
    pub fn signing_hash(&self, domain: &Eip712Domain) -> B256 {
        self.warrant.eip712_signing_hash(domain)
    }

    /// Checks the patient's signature and that `doctor` may write at `now`, returning
    /// the doctor's position in the warrant's order (the caller, which knows who has
    /// already written, enforces the order for groups).
    pub fn authorize(&self, domain: &Eip712Domain, doctor: Address, now: u64) -> Result<usize, WarrantError> {
        verify(&self.warrant, domain, &self.signature, self.warrant.patient)?;
        if self.warrant.doctors.is_empty() {
            return Err(WarrantError::NoDoctors);
        }
        let (position, term) = self
            .warrant
            .doctors
            .iter()
            .enumerate()
            .find(|(_, term)| term.doctor == doctor)
            .ok_or(WarrantError::DoctorNotNamed(doctor))?;
        if now < term.notBefore || now > term.notAfter {
            return Err(WarrantError::OutsidePeriod {
                doctor,
                not_before: term.notBefore,
                not_after: term.notAfter,
                now,
            });
        }
        Ok(position)
    }
}
