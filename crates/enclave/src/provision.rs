//! Replicated enclaves: attested key provisioning from an approved instance to a new one.
//!
//! An *instance* is one enclave process on one platform (its own platform secret and sealed
//! state). A fresh instance generates its own keys at first launch, like any enclave; its
//! evidence binds them to its measurement. To join an approved enclave it does not get
//! approved itself: its evidence goes to a running, approved instance (the *provider*),
//! which
//!
//! 1. reads its own entry on the Directory through its host (the chain is the allow-list):
//!    it must be approved, with its own measurement and encryption key;
//! 2. verifies the joiner's evidence in the one place evidence is verified
//!    ([`Evidence::verify`]): a trusted platform key, simulated only if the operator's
//!    [`JoinPolicy`] accepts it, and exactly the measurement approved on-chain;
//! 3. wraps its secret keys (report key, encryption key, and the sealed state trusted
//!    applications declare as part of the identity, e.g. the SQLCipher store key) to the
//!    joiner's attested encryption key ([`keywrap::Purpose::Provisioning`], associated data
//!    binding both evidences), and signs the EIP-712 `ReplicaJoin(instance, evidenceHash)`
//!    with its report key, which `Directory.recordReplica` checks on-chain.
//!
//! The joiner ([`install`]) accepts the bundle only if it is addressed to its own current
//! evidence, opens under its key, holds exactly the keys the provider's evidence names,
//! carries a valid join signature, and the chain lists those keys as an approved enclave
//! with the joiner's own measurement. It then seals the keys under its own sealing key and
//! answers as the provider does. Its one-time provisioning key is its pre-join encryption
//! key, replaced by the install: a bundle can be installed once (a replay is addressed to
//! evidence the instance no longer has).

use alloy_primitives::{Address, B256};
use healthchain_crypto::eip712::{self, ReplicaJoin};
use healthchain_crypto::hash::hash_fields;
use healthchain_crypto::keywrap::{self, Purpose, Wrapped};
use healthchain_crypto::signing::EthKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::evidence::{Evidence, EvidenceError, Policy};
use crate::runtime::{HostServices, RuntimeError};

/// What the Directory says about one report signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnChainEnclave {
    /// Approved (and not revoked).
    pub approved: bool,
    /// The approved measurement.
    pub measurement: [u8; 32],
    /// The approved encryption key.
    pub encryption_key: [u8; 32],
}

/// The Directory as the enclave reads it, through its host. Implemented outside this crate
/// (over the ledger bindings); an enclave without one refuses to provision or install.
pub trait EnclaveDirectory: Send {
    /// `enclaveOf(report_signer)` on the Directory joins are recorded on.
    fn enclave_of(&mut self, host: &mut dyn HostServices, report_signer: Address) -> Result<OnChainEnclave, String>;
    /// `(chain id, Directory address)`: the EIP-712 domain of `ReplicaJoin`.
    fn join_domain(&self) -> (u64, Address);
}

/// The operator's policy for the joiner's platform (the measurement is the chain's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPolicy {
    /// Platform attestation keys trusted to sign the joiner's evidence.
    pub platforms: Vec<[u8; 20]>,
    /// Whether simulated evidence is acceptable.
    pub accept_simulated: bool,
}

/// What the provider hands over: the joiner's keys, wrapped to it, and the join statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionBundle {
    /// The provider's evidence (its keys and measurement).
    pub provider: Evidence,
    /// [`Evidence::hash`] of the joiner's evidence the bundle is addressed to.
    pub joiner_evidence_hash: [u8; 32],
    /// The secret keys and identity state, wrapped to the joiner's encryption key.
    #[serde(with = "crate::bytes")]
    pub wrapped: Vec<u8>,
    /// The provider's EIP-712 `ReplicaJoin(joiner's report signer, joiner_evidence_hash)`.
    #[serde(with = "crate::bytes")]
    pub signature: Vec<u8>,
}

/// What `Directory.recordReplica` takes, from a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinRecord {
    /// The joined instance: its pre-join report-signer address.
    pub instance: Address,
    /// Hash of its pre-join evidence.
    pub evidence_hash: B256,
    /// The approved enclave whose keys it now holds.
    pub report_signer: Address,
}

impl ProvisionBundle {
    /// The on-chain record of this join, for the joiner with `joiner` evidence.
    pub fn record(&self, joiner: &Evidence) -> JoinRecord {
        JoinRecord {
            instance: Address::from(joiner.report_signer),
            evidence_hash: B256::from(self.joiner_evidence_hash),
            report_signer: Address::from(self.provider.report_signer),
        }
    }
}

/// Why a provisioning step was refused (nothing changed on either instance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ProvisionError {
    /// The enclave has no Directory reader (it was launched without a deployment).
    #[error("this enclave reads no Directory, so it neither provisions nor installs keys")]
    NoDirectory,
    /// Reading the Directory through the host failed.
    #[error("reading the Directory failed: {0}")]
    Chain(String),
    /// The provider itself is not an approved enclave with its own measurement and key.
    #[error("enclave {0} is not approved on the Directory with this measurement and encryption key")]
    NotApproved(Address),
    /// The joiner's evidence was refused (platform, simulation or measurement).
    #[error("the joiner's evidence was refused: {0}")]
    Evidence(EvidenceError),
    /// The bundle is addressed to other evidence than this instance's.
    #[error("the bundle is addressed to another instance (or this one already installed it)")]
    AddressedToAnotherJoiner,
    /// The provider runs other code than the joiner.
    #[error("the provider's measurement {provider} differs from this instance's {own}")]
    MeasurementMismatch {
        /// The provider's.
        provider: B256,
        /// This instance's.
        own: B256,
    },
    /// The bundle does not open, or what it holds is malformed or not the provider's keys.
    #[error("the bundle was altered: {0}")]
    Tampered(String),
    /// The join statement is not signed by the provider's report key.
    #[error("the join statement is not signed by the provider's report key")]
    BadSignature,
    /// This instance's own keys are an approved enclave: installing would discard them.
    #[error("this instance is itself the approved enclave {0}; it does not join another")]
    AlreadyApproved(Address),
    /// This instance holds identity state (e.g. an EHR store key) the bundle would replace.
    #[error("this instance already holds sealed state '{0}' that differs from the provider's")]
    StateConflict(String),
    /// Sealed storage through the host failed.
    #[error("sealed storage failed: {0}")]
    Storage(String),
}

impl From<RuntimeError> for ProvisionError {
    fn from(e: RuntimeError) -> Self {
        ProvisionError::Storage(e.to_string())
    }
}

/// The secrets that travel in a bundle.
#[derive(Serialize, Deserialize)]
struct Secrets {
    report_key: [u8; 32],
    encryption_key: [u8; 32],
    /// Sealed state declared part of the identity: (label, plaintext).
    state: Vec<(String, Vec<u8>)>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.report_key.zeroize();
        self.encryption_key.zeroize();
        for (_, bytes) in &mut self.state {
            bytes.zeroize();
        }
    }
}

/// Keys and identity state a joiner installs.
pub struct Provisioned {
    /// The approved enclave's report key.
    pub report_key: EthKey,
    /// Its encryption key.
    pub encryption_key: keywrap::SecretKey,
    /// Identity state to seal under its label.
    pub state: Vec<(String, Zeroizing<Vec<u8>>)>,
}

fn wrap_context(provider: &Evidence, joiner_hash: &[u8; 32]) -> [u8; 32] {
    hash_fields("provisioning", &[&provider.hash(), joiner_hash])
}

fn join_statement(instance: [u8; 20], evidence_hash: [u8; 32]) -> ReplicaJoin {
    ReplicaJoin { instance: Address::from(instance), evidenceHash: B256::from(evidence_hash) }
}

/// The provider's step: checks itself and the joiner against the chain and `policy`, and
/// wraps its keys and `state` to the joiner. `chain` answers `enclaveOf`.
#[allow(clippy::too_many_arguments)]
pub fn provide(
    report_key: &EthKey,
    encryption_key: &keywrap::SecretKey,
    own: &Evidence,
    joiner: &Evidence,
    policy: &JoinPolicy,
    state: Vec<(String, Zeroizing<Vec<u8>>)>,
    domain: (u64, Address),
    chain: &mut dyn FnMut(Address) -> Result<OnChainEnclave, String>,
) -> Result<ProvisionBundle, ProvisionError> {
    let me = Address::from(own.report_signer);
    let entry = chain(me).map_err(ProvisionError::Chain)?;
    if !entry.approved || entry.measurement != own.measurement || entry.encryption_key != own.encryption_key {
        return Err(ProvisionError::NotApproved(me));
    }
    let verifier = Policy {
        platforms: policy.platforms.iter().map(|p| Address::from(*p)).collect(),
        measurements: vec![entry.measurement],
        accept_simulated: policy.accept_simulated,
    };
    let verified = joiner.verify(&verifier).map_err(ProvisionError::Evidence)?;
    let joiner_hash = joiner.hash();
    let secrets = Secrets {
        report_key: report_key.to_bytes(),
        encryption_key: encryption_key.to_bytes(),
        state: state.into_iter().map(|(label, bytes)| (label, bytes.to_vec())).collect(),
    };
    let plaintext = Zeroizing::new(
        postcard::to_stdvec(&secrets).map_err(|e| ProvisionError::Storage(format!("encoding the keys: {e}")))?,
    );
    let wrapped = keywrap::wrap(
        &verified.encryption_key,
        &plaintext,
        Purpose::Provisioning,
        &wrap_context(own, &joiner_hash),
        &mut rand::rng(),
    );
    let statement = join_statement(joiner.report_signer, joiner_hash);
    let signature = eip712::sign(report_key, &statement, &eip712::domain(domain.0, domain.1));
    Ok(ProvisionBundle {
        provider: own.clone(),
        joiner_evidence_hash: joiner_hash,
        wrapped: wrapped.to_bytes(),
        signature: signature.to_vec(),
    })
}

/// The joiner's step: checks the bundle against its own evidence, its key and the chain,
/// and returns what to install. `chain` answers `enclaveOf`.
pub fn install(
    encryption_key: &keywrap::SecretKey,
    own: &Evidence,
    bundle: &ProvisionBundle,
    domain: (u64, Address),
    chain: &mut dyn FnMut(Address) -> Result<OnChainEnclave, String>,
) -> Result<Provisioned, ProvisionError> {
    if bundle.joiner_evidence_hash != own.hash() {
        return Err(ProvisionError::AddressedToAnotherJoiner);
    }
    if bundle.provider.measurement != own.measurement {
        return Err(ProvisionError::MeasurementMismatch {
            provider: B256::from(bundle.provider.measurement),
            own: B256::from(own.measurement),
        });
    }
    let wrapped = Wrapped::from_bytes(&bundle.wrapped).map_err(|e| ProvisionError::Tampered(e.to_string()))?;
    let plaintext = Zeroizing::new(
        encryption_key
            .unwrap_key(&wrapped, Purpose::Provisioning, &wrap_context(&bundle.provider, &bundle.joiner_evidence_hash))
            .map_err(|e| ProvisionError::Tampered(e.to_string()))?,
    );
    let secrets: Secrets = postcard::from_bytes(&plaintext).map_err(|e| ProvisionError::Tampered(e.to_string()))?;
    let report_key = EthKey::from_bytes(&secrets.report_key).map_err(|e| ProvisionError::Tampered(e.to_string()))?;
    let provided_encryption =
        keywrap::SecretKey::from_bytes(&secrets.encryption_key).map_err(|e| ProvisionError::Tampered(e.to_string()))?;
    let provider = Address::from(bundle.provider.report_signer);
    if report_key.address() != provider || provided_encryption.public_key().to_bytes() != bundle.provider.encryption_key
    {
        return Err(ProvisionError::Tampered("the keys are not the ones the provider's evidence names".into()));
    }
    let statement = join_statement(own.report_signer, bundle.joiner_evidence_hash);
    eip712::verify(&statement, &eip712::domain(domain.0, domain.1), &bundle.signature, provider)
        .map_err(|_| ProvisionError::BadSignature)?;
    let entry = chain(provider).map_err(ProvisionError::Chain)?;
    if !entry.approved || entry.measurement != own.measurement || entry.encryption_key != bundle.provider.encryption_key
    {
        return Err(ProvisionError::NotApproved(provider));
    }
    let me = Address::from(own.report_signer);
    if chain(me).map_err(ProvisionError::Chain)?.approved {
        return Err(ProvisionError::AlreadyApproved(me));
    }
    let state = secrets.state.iter().map(|(label, bytes)| (label.clone(), Zeroizing::new(bytes.clone()))).collect();
    Ok(Provisioned { report_key, encryption_key: provided_encryption, state })
}

/// Reads `enclaveOf` through `directory` and the host, for [`provide`] and [`install`].
pub(crate) fn chain_reader<'a>(
    directory: &'a mut dyn EnclaveDirectory,
    host: &'a mut dyn HostServices,
) -> impl FnMut(Address) -> Result<OnChainEnclave, String> + 'a {
    move |signer| directory.enclave_of(host, signer)
}

/// Why a join run by an operator failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// An instance could not run the call (not started, died, stalled, relay broke).
    #[error(transparent)]
    Enclave(#[from] crate::host::EnclaveError),
    /// The provider or the joiner refused; nothing changed.
    #[error(transparent)]
    Refused(ProvisionError),
    /// An instance answered out of protocol.
    #[error("enclave protocol violation: {0}")]
    Protocol(String),
}

impl JoinError {
    /// Whether an instance failed (as opposed to refusing the join).
    pub fn is_failure(&self) -> bool {
        match self {
            JoinError::Enclave(e) => e.is_failure(),
            JoinError::Refused(ProvisionError::Chain(_) | ProvisionError::Storage(_)) => true,
            JoinError::Refused(_) => false,
            JoinError::Protocol(_) => true,
        }
    }
}

/// Asks `provider` (an approved, running instance) for a bundle addressed to `joiner`.
pub fn request_bundle(
    provider: &(impl crate::host::EnclaveBackend + ?Sized),
    joiner: &Evidence,
    policy: &JoinPolicy,
) -> Result<ProvisionBundle, JoinError> {
    use crate::protocol::{Ecall, EcallResult};
    match provider.call(&Ecall::Provision { joiner: joiner.clone(), policy: policy.clone() }, &[])? {
        (EcallResult::Provisioned, body) => {
            postcard::from_bytes(&body).map_err(|e| JoinError::Protocol(format!("undecodable bundle: {e}")))
        }
        (EcallResult::ProvisionRefused(refusal), _) => Err(JoinError::Refused(refusal)),
        (other, _) => Err(JoinError::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// Hands `bundle` to the `joiner` instance; returns its evidence after the install.
pub fn install_bundle(
    joiner: &(impl crate::host::EnclaveBackend + ?Sized),
    bundle: &ProvisionBundle,
) -> Result<Evidence, JoinError> {
    use crate::protocol::{Ecall, EcallResult};
    let body = postcard::to_stdvec(bundle).map_err(|e| JoinError::Protocol(format!("unencodable bundle: {e}")))?;
    match joiner.call(&Ecall::Install, &body)? {
        (EcallResult::Installed(evidence), _) => Ok(evidence),
        (EcallResult::ProvisionRefused(refusal), _) => Err(JoinError::Refused(refusal)),
        (other, _) => Err(JoinError::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// A completed join: what to record on-chain and the joiner's evidence now.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The bundle (its signature is the on-chain record's).
    pub bundle: ProvisionBundle,
    /// What `Directory.recordReplica` takes.
    pub record: JoinRecord,
    /// The joiner's evidence after the install (the provider's keys, its own platform).
    pub evidence: Evidence,
}

/// Runs the whole protocol between two instances: the joiner's evidence to the provider,
/// the bundle back to the joiner. Recording the join on-chain is the caller's next step.
pub fn join(
    provider: &(impl crate::host::EnclaveBackend + ?Sized),
    joiner: &(impl crate::host::EnclaveBackend + ?Sized),
    policy: &JoinPolicy,
) -> Result<Joined, JoinError> {
    let before = joiner.evidence();
    let bundle = request_bundle(provider, &before, policy)?;
    let evidence = install_bundle(joiner, &bundle)?;
    if evidence.report_signer != bundle.provider.report_signer {
        return Err(JoinError::Protocol("the joiner does not present the provider's keys after the install".into()));
    }
    Ok(Joined { record: bundle.record(&before), bundle, evidence })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::SimulatedPlatform;

    struct Instance {
        report_key: EthKey,
        encryption_key: keywrap::SecretKey,
        evidence: Evidence,
    }

    const MEASUREMENT: [u8; 32] = [7; 32];
    const DOMAIN: (u64, Address) = (31337, Address::repeat_byte(0xd1));

    fn instance(platform: &SimulatedPlatform, measurement: [u8; 32]) -> Instance {
        let mut rng = rand::rng();
        let report_key = EthKey::generate(&mut rng);
        let encryption_key = keywrap::SecretKey::generate(&mut rng);
        let evidence = platform.attest(measurement, report_key.address(), &encryption_key.public_key());
        Instance { report_key, encryption_key, evidence }
    }

    /// A chain where exactly `approved` is approved.
    fn chain_of(approved: &Instance) -> impl FnMut(Address) -> Result<OnChainEnclave, String> + use<> {
        let signer = Address::from(approved.evidence.report_signer);
        let entry = OnChainEnclave {
            approved: true,
            measurement: approved.evidence.measurement,
            encryption_key: approved.evidence.encryption_key,
        };
        move |who| {
            Ok(if who == signer {
                entry
            } else {
                OnChainEnclave { approved: false, measurement: [0; 32], encryption_key: [0; 32] }
            })
        }
    }

    fn policy(platforms: &[&SimulatedPlatform], accept_simulated: bool) -> JoinPolicy {
        JoinPolicy { platforms: platforms.iter().map(|p| p.attestation_address().into()).collect(), accept_simulated }
    }

    fn provide_to(
        provider: &Instance,
        joiner: &Evidence,
        policy: &JoinPolicy,
    ) -> Result<ProvisionBundle, ProvisionError> {
        let state = vec![("ehr-db-key".to_string(), Zeroizing::new(vec![5u8; 32]))];
        provide(
            &provider.report_key,
            &provider.encryption_key,
            &provider.evidence,
            joiner,
            policy,
            state,
            DOMAIN,
            &mut chain_of(provider),
        )
    }

    #[test]
    fn a_joiner_gets_the_providers_keys_and_state_and_a_signed_join() {
        let (a, b) = (SimulatedPlatform::new([1; 32]), SimulatedPlatform::new([2; 32]));
        let provider = instance(&a, MEASUREMENT);
        let joiner = instance(&b, MEASUREMENT);
        let bundle = provide_to(&provider, &joiner.evidence, &policy(&[&a, &b], true)).unwrap();
        let installed =
            install(&joiner.encryption_key, &joiner.evidence, &bundle, DOMAIN, &mut chain_of(&provider)).unwrap();
        assert_eq!(installed.report_key.address(), provider.report_key.address());
        assert_eq!(installed.encryption_key.to_bytes(), provider.encryption_key.to_bytes());
        assert_eq!(installed.state.len(), 1);
        assert_eq!((installed.state[0].0.as_str(), installed.state[0].1.as_slice()), ("ehr-db-key", &[5u8; 32][..]));
        let record = bundle.record(&joiner.evidence);
        assert_eq!(record.instance, joiner.report_key.address());
        assert_eq!(record.report_signer, provider.report_key.address());
        assert_eq!(record.evidence_hash, B256::from(joiner.evidence.hash()));
    }

    #[test]
    fn the_provider_refuses_joiners_outside_the_chain_and_policy() {
        let (a, b, rogue) =
            (SimulatedPlatform::new([1; 32]), SimulatedPlatform::new([2; 32]), SimulatedPlatform::new([3; 32]));
        let provider = instance(&a, MEASUREMENT);
        // a measurement not approved on-chain
        let other_code = instance(&b, [8; 32]);
        assert!(matches!(
            provide_to(&provider, &other_code.evidence, &policy(&[&a, &b], true)),
            Err(ProvisionError::Evidence(EvidenceError::UnapprovedMeasurement(_)))
        ));
        // evidence signed by a platform the policy does not trust
        let untrusted = instance(&rogue, MEASUREMENT);
        assert!(matches!(
            provide_to(&provider, &untrusted.evidence, &policy(&[&a, &b], true)),
            Err(ProvisionError::Evidence(EvidenceError::UntrustedPlatform(_)))
        ));
        // simulated evidence when simulation is not accepted
        let joiner = instance(&b, MEASUREMENT);
        assert_eq!(
            provide_to(&provider, &joiner.evidence, &policy(&[&a, &b], false)),
            Err(ProvisionError::Evidence(EvidenceError::SimulatedNotAccepted))
        );
        // evidence whose keys were swapped after the platform signed
        let mut forged = joiner.evidence.clone();
        forged.encryption_key = untrusted.evidence.encryption_key;
        assert!(matches!(
            provide_to(&provider, &forged, &policy(&[&a, &b], true)),
            Err(ProvisionError::Evidence(EvidenceError::UntrustedPlatform(_)))
        ));
        // a provider that is not (or no longer) approved hands out nothing
        let stranger = instance(&a, MEASUREMENT);
        let result = provide(
            &stranger.report_key,
            &stranger.encryption_key,
            &stranger.evidence,
            &joiner.evidence,
            &policy(&[&a, &b], true),
            Vec::new(),
            DOMAIN,
            &mut chain_of(&provider),
        );
        assert_eq!(result, Err(ProvisionError::NotApproved(stranger.report_key.address())));
        // a chain the host cannot read
        let result = provide(
            &provider.report_key,
            &provider.encryption_key,
            &provider.evidence,
            &joiner.evidence,
            &policy(&[&a, &b], true),
            Vec::new(),
            DOMAIN,
            &mut |_| Err("connection refused".into()),
        );
        assert!(matches!(result, Err(ProvisionError::Chain(_))));
    }

    #[test]
    fn the_joiner_refuses_bundles_for_others_altered_or_replayed() {
        let (a, b) = (SimulatedPlatform::new([1; 32]), SimulatedPlatform::new([2; 32]));
        let provider = instance(&a, MEASUREMENT);
        let joiner = instance(&b, MEASUREMENT);
        let other = instance(&b, MEASUREMENT);
        let bundle = provide_to(&provider, &joiner.evidence, &policy(&[&a, &b], true)).unwrap();
        let try_install = |who: &Instance, bundle: &ProvisionBundle| {
            install(&who.encryption_key, &who.evidence, bundle, DOMAIN, &mut chain_of(&provider)).map(|_| ())
        };
        // addressed to another joiner, as is or re-addressed
        assert_eq!(try_install(&other, &bundle), Err(ProvisionError::AddressedToAnotherJoiner));
        let mut readdressed = bundle.clone();
        readdressed.joiner_evidence_hash = other.evidence.hash();
        assert!(matches!(try_install(&other, &readdressed), Err(ProvisionError::Tampered(_))));
        // any altered byte of the wrapped keys
        for at in [0, 40, bundle.wrapped.len() - 1] {
            let mut altered = bundle.clone();
            altered.wrapped[at] ^= 1;
            assert!(matches!(try_install(&joiner, &altered), Err(ProvisionError::Tampered(_))), "byte {at}");
        }
        let mut truncated = bundle.clone();
        truncated.wrapped.truncate(20);
        assert!(matches!(try_install(&joiner, &truncated), Err(ProvisionError::Tampered(_))));
        // the provider's evidence swapped for another's (keys no longer match, or don't open)
        let mut swapped = bundle.clone();
        swapped.provider = other.evidence.clone();
        assert!(matches!(try_install(&joiner, &swapped), Err(ProvisionError::Tampered(_))));
        // a signature for another instance, or under another Directory
        let mut resigned = bundle.clone();
        let wrong = join_statement(other.evidence.report_signer, joiner.evidence.hash());
        resigned.signature = eip712::sign(&provider.report_key, &wrong, &eip712::domain(DOMAIN.0, DOMAIN.1)).to_vec();
        assert_eq!(try_install(&joiner, &resigned), Err(ProvisionError::BadSignature));
        let statement = join_statement(joiner.evidence.report_signer, joiner.evidence.hash());
        resigned.signature = eip712::sign(&provider.report_key, &statement, &eip712::domain(1, DOMAIN.1)).to_vec();
        assert_eq!(try_install(&joiner, &resigned), Err(ProvisionError::BadSignature));
        // a provider running other code
        let elsewhere = instance(&a, [9; 32]);
        let mut other_code = bundle.clone();
        other_code.provider = elsewhere.evidence.clone();
        assert!(matches!(try_install(&joiner, &other_code), Err(ProvisionError::MeasurementMismatch { .. })));
        // keys the chain does not list as approved (revoked meanwhile)
        let revoked = install(&joiner.encryption_key, &joiner.evidence, &bundle, DOMAIN, &mut chain_of(&other));
        assert!(matches!(revoked, Err(ProvisionError::NotApproved(_))));
        // a joiner that is itself approved keeps its own keys
        let both = {
            let mut provider_chain = chain_of(&provider);
            let mut joiner_chain = chain_of(&joiner);
            move |who: Address| {
                let p = provider_chain(who)?;
                if p.approved { Ok(p) } else { joiner_chain(who) }
            }
        };
        let mut both = both;
        assert_eq!(
            install(&joiner.encryption_key, &joiner.evidence, &bundle, DOMAIN, &mut both).map(|_| ()),
            Err(ProvisionError::AlreadyApproved(joiner.report_key.address()))
        );
        // installed once; afterwards the instance's evidence is the provider's: a replay is
        // addressed to evidence it no longer has
        assert!(try_install(&joiner, &bundle).is_ok());
        let after = Instance {
            report_key: provider.report_key.clone(),
            encryption_key: keywrap::SecretKey::from_bytes(&provider.encryption_key.to_bytes()).unwrap(),
            evidence: b.attest(MEASUREMENT, provider.report_key.address(), &provider.encryption_key.public_key()),
        };
        assert_eq!(try_install(&after, &bundle), Err(ProvisionError::AddressedToAnotherJoiner));
    }
}
