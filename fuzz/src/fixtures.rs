//! Deterministic keys and messages: every fixture comes from fixed key bytes or a generator
//! seeded with a fixed number, so the seed writer and the targets derive the same session,
//! committee, ciphertexts and warrants, and a seed the writer made is accepted by the target
//! that reads it.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256};
use healthchain_crypto::chameleon::{self, CheckString, HashValue};
use healthchain_crypto::dh;
use healthchain_crypto::eip712::{DoctorTerm, SignedWarrant, Warrant};
use healthchain_crypto::envelope::{self, EntryContext, EntrySealer, MIN_CHUNK_SIZE, RecordKey};
use healthchain_crypto::keywrap::{self, Committee, DecryptionShare, KeyShare, Purpose, Wrapped};
use healthchain_crypto::merkle::{BatchTree, EhrLeaf};
use healthchain_crypto::record::RecordId;
use healthchain_crypto::session::{
    self, ClientAwaitingServer, ClientFinish, ClientHello, EnclaveIdentity, ServerAwaitingFinish, ServerHello, Session,
    SessionError,
};
use healthchain_crypto::signing::EthKey;
use healthchain_crypto::treatment::{self, TreatmentKey};
use healthchain_ehr::{EhrConfig, WireWarrant};
use healthchain_enclave::evidence::{Evidence, Policy, SimulatedPlatform};
use healthchain_enclave::runtime::EnclaveKeys;
use healthchain_enclave::sealing::SealingKey;
use healthchain_ledger::{ConsortiumContracts, Deployment, SharedContracts};
use healthchain_update::manifest::{MANIFEST_FORMAT, Manifest};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The secp256k1 key whose secret is 32 times `byte`.
fn key(byte: u8) -> EthKey {
    EthKey::from_bytes(&[byte; 32]).expect("a repeated byte below the group order is a valid key")
}

/// The accounts of the fixtures, each with a fixed secp256k1 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    /// The session client.
    Client = 0x11,
    /// The enclave's report key (signs session transcripts and reports).
    Report = 0x22,
    /// The patient of the treatment key and of the EHR fixtures.
    Patient = 0x12,
    /// The doctor the patient's warrant names.
    Doctor = 0x13,
    /// The hospital admitted to fetch the patient's EHRs.
    Hospital = 0x14,
    /// An account the EHR store knows nothing about.
    Stranger = 0x15,
}

impl Account {
    /// Its key.
    pub fn key(self) -> EthKey {
        key(self as u8)
    }

    /// Its address, derived once per process: a public key costs a scalar multiplication,
    /// too much to repeat for every input.
    pub fn address(self) -> Address {
        static ADDRESSES: [OnceLock<Address>; 256] = [const { OnceLock::new() }; 256];
        *ADDRESSES[self as usize].get_or_init(|| self.key().address())
    }
}

/// The enclave's measurement, which is also its id on the chain.
pub const MEASUREMENT: [u8; 32] = [0x33; 32];

/// The simulated platform's secret (attestation key and sealing keys derive from it).
pub const PLATFORM_SECRET: [u8; 32] = [0x44; 32];

/// The enclave's Ristretto encryption key (opens the inner key-wrapping layer).
pub fn encryption_key() -> keywrap::SecretKey {
    keywrap::SecretKey::from_bytes(&[0x05; 32]).expect("a canonical, non-zero scalar")
}

/// The enclave's keys, as trusted applications see them.
pub fn enclave_keys() -> EnclaveKeys {
    EnclaveKeys {
        measurement: MEASUREMENT,
        report_key: Account::Report.key(),
        encryption_key: encryption_key(),
        sealing: SealingKey::derive(&PLATFORM_SECRET, &MEASUREMENT),
    }
}

/// What a client looks up on the chain before opening a session.
pub fn enclave_identity() -> EnclaveIdentity {
    EnclaveIdentity { id: B256::from(MEASUREMENT), report_signer: Account::Report.address() }
}

/// The simulated platform.
pub fn platform() -> SimulatedPlatform {
    SimulatedPlatform::new(PLATFORM_SECRET)
}

/// The enclave's genuine evidence.
pub fn evidence() -> Evidence {
    platform().attest(MEASUREMENT, Account::Report.address(), &encryption_key().public_key())
}

/// A verifier that trusts the platform and the measurement.
pub fn policy(accept_simulated: bool) -> Policy {
    Policy { platforms: vec![platform().attestation_address()], measurements: vec![MEASUREMENT], accept_simulated }
}

/// The client's first handshake step (always the same hello).
pub fn client_start() -> (ClientAwaitingServer, ClientHello) {
    session::client_start(Account::Client.key(), enclave_identity(), &mut rng(1))
}

/// The enclave's answer to `hello` (always the same ephemeral key).
pub fn server_respond(hello: &ClientHello) -> Result<(ServerAwaitingFinish, ServerHello), SessionError> {
    session::server_respond(&Account::Report.key(), B256::from(MEASUREMENT), hello, &mut rng(2))
}

/// A completed handshake: its three messages and both ends of the session.
pub struct Handshake {
    /// Message 1.
    pub hello: ClientHello,
    /// Message 2.
    pub reply: ServerHello,
    /// Message 3.
    pub finish: ClientFinish,
    /// The client's end.
    pub client: Session,
    /// The enclave's end.
    pub server: Session,
}

/// Runs the deterministic handshake.
pub fn handshake() -> Handshake {
    let (client, hello) = client_start();
    let (server, reply) = server_respond(&hello).expect("the client's key is not of low order");
    let (client, finish) = client.finish(&reply).expect("the enclave's genuine reply");
    let (server, _) = server.finish(&finish).expect("the client's genuine finish");
    Handshake { hello, reply, finish, client, server }
}

/// The message the record's chameleon anchor was made for.
pub const CHAMELEON_MESSAGE: &[u8] = b"healthchain fuzz record, version 1";

/// The record's chameleon trapdoor.
pub fn chameleon_trapdoor() -> chameleon::Trapdoor {
    chameleon::keygen(&mut rng(3)).0
}

/// The anchor `h` and the check string opening it for [`CHAMELEON_MESSAGE`].
pub fn chameleon_anchor() -> (HashValue, CheckString) {
    chameleon::hash(&chameleon_trapdoor().public_key(), CHAMELEON_MESSAGE, &mut rng(4))
}

/// Associated data of the wrapped record key (the record id).
pub const WRAP_CONTEXT: &[u8] = b"record";

/// What committee shares' proofs are bound to (the request id).
pub const PROOF_CONTEXT: &[u8] = b"request";

/// The record key inside the wrapped layers, and the key of [`sealed_entries`].
pub const RECORD_KEY: [u8; 32] = [0x66; 32];

/// A 2-of-3 committee and its members' shares.
pub fn committee() -> (Committee, Vec<KeyShare>) {
    keywrap::deal_committee(2, 3, &mut rng(5)).expect("2-of-3 is a valid threshold")
}

/// `T`: the record key wrapped to the enclave.
pub fn inner_layer() -> Wrapped {
    keywrap::wrap(&encryption_key().public_key(), &RECORD_KEY, Purpose::EnclaveLayer, WRAP_CONTEXT, &mut rng(6))
}

/// `EK`: `T` wrapped to the committee.
pub fn outer_layer() -> Wrapped {
    let (committee, _) = committee();
    keywrap::wrap(&committee.key(), &inner_layer().to_bytes(), Purpose::CommitteeLayer, WRAP_CONTEXT, &mut rng(7))
}

/// Every member's decryption share of [`outer_layer`], proofs bound to [`PROOF_CONTEXT`].
pub fn decryption_shares() -> Vec<DecryptionShare> {
    let outer = outer_layer();
    committee()
        .1
        .iter()
        .zip(8..)
        .map(|(share, seed)| share.decryption_share(&outer, PROOF_CONTEXT, &mut rng(seed)))
        .collect()
}

/// The record of the fixtures: its entries, its registration and log in the seeds.
pub const RECORD_ID: [u8; 32] = [0x77; 32];

/// The record's manifest: its chameleon key and the wrapped record key.
pub fn manifest() -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        chameleon_key: alloy_primitives::hex::encode(chameleon_trapdoor().public_key().to_bytes()),
        wrapped_key: alloy_primitives::hex::encode(outer_layer().to_bytes()),
        data_type: "fhir-r4".into(),
    }
}

/// Where [`sealed_entries`] belong.
pub fn entry_context() -> EntryContext {
    EntryContext { record: RecordId(RECORD_ID), entry_index: 1 }
}

/// The plaintext of [`sealed_entries`]: two and a half of the smallest chunks.
pub fn entry_plaintext() -> Vec<u8> {
    (0..MIN_CHUNK_SIZE as usize * 5 / 2).map(|i| b"{\"resourceType\":\"Bundle\"}"[i % 25]).collect()
}

/// The genuine encryptions of [`entry_plaintext`] under [`RECORD_KEY`]: one with the
/// default chunk size, one in three of the smallest chunks.
pub fn sealed_entries() -> Vec<Vec<u8>> {
    let key = RecordKey::from_bytes(RECORD_KEY);
    let plaintext = entry_plaintext();
    let whole = envelope::encrypt_entry(&key, entry_context(), &plaintext, &mut rng(11));
    let mut chunked = Vec::new();
    let mut sealer = EntrySealer::new(&key, entry_context(), MIN_CHUNK_SIZE, &mut rng(12), &mut chunked)
        .expect("the smallest chunk size is in range");
    let mut pieces = plaintext.chunks(MIN_CHUNK_SIZE as usize).peekable();
    while let Some(piece) = pieces.next() {
        if pieces.peek().is_none() {
            sealer.seal_last(piece, &mut chunked).expect("a short last chunk");
            break;
        }
        sealer.seal_chunk(piece, &mut chunked).expect("a full chunk");
    }
    vec![whole, chunked]
}

/// The doctor's X25519 key that treatment keys are delivered to.
pub fn treatment_recipient() -> dh::Secret {
    dh::Secret::from_bytes([0x88; 32])
}

/// The patient's treatment key.
pub fn treatment_key() -> TreatmentKey {
    TreatmentKey::generate(&mut rng(13))
}

/// The treatment key delivered to [`treatment_recipient`].
pub fn treatment_delivery() -> [u8; treatment::SEALED_LEN] {
    treatment_key()
        .seal_to(&treatment_recipient().public_key(), Account::Patient.address(), &mut rng(14))
        .expect("the recipient's key is not of low order")
}

/// What [`treatment_message`] encrypts.
pub const TREATMENT_PLAINTEXT: &[u8] = b"appointment 2024-05-01 09:00";

/// [`TREATMENT_PLAINTEXT`] under the treatment key, for an appointment.
pub fn treatment_message() -> Vec<u8> {
    treatment_key().encrypt(
        treatment::Purpose::Appointment,
        Account::Patient.address(),
        TREATMENT_PLAINTEXT,
        &mut rng(15),
    )
}

/// The label of the enclave's sealed blob in the seeds.
pub const SEALED_LABEL: &str = "checkpoint";

/// What that blob holds.
pub const SEALED_PLAINTEXT: &[u8] = b"sealed enclave state";

/// The chain id warrants are signed for.
pub const CHAIN_ID: u64 = 31337;

/// The `EhrRegistry` address warrants are signed for.
pub const EHR_REGISTRY: Address = Address::repeat_byte(0xe4);

/// The time the EHR store's clock shows (inside [`warrant`]'s period).
pub const NOW: u64 = 1_700_000_000;

/// The EHR store's configuration.
pub fn ehr_config() -> EhrConfig {
    EhrConfig { bench_table: true, ..EhrConfig::new(CHAIN_ID, EHR_REGISTRY) }
}

/// The patient's warrant naming the doctor for a day around [`NOW`].
pub fn warrant() -> WireWarrant {
    let warrant = Warrant {
        patient: Account::Patient.address(),
        doctors: vec![DoctorTerm {
            doctor: Account::Doctor.address(),
            notBefore: NOW - 43_200,
            notAfter: NOW + 43_200,
        }],
        aux: B256::repeat_byte(0xa0),
    };
    WireWarrant::from(&SignedWarrant::sign(&Account::Patient.key(), warrant, &ehr_config().domain()))
}

/// Contracts at fixed addresses, for readers whose chain answers come from the input.
pub fn deployment() -> Deployment {
    Deployment {
        shared: SharedContracts {
            chain_id: CHAIN_ID,
            directory: Address::repeat_byte(0xd1),
            record_registry: Address::repeat_byte(0xd2),
            access_control: Address::repeat_byte(0xd3),
            key_authorization: Address::repeat_byte(0xd4),
            deployed_at_block: 1,
        },
        consortium: ConsortiumContracts {
            chain_id: CHAIN_ID,
            directory: Address::repeat_byte(0xd1),
            update_log: Address::repeat_byte(0xd5),
            ehr_registry: EHR_REGISTRY,
            deployed_at_block: 1,
        },
        co_hosted: true,
    }
}

/// Leaves in the batch of [`batch_tree`].
pub const BATCH: u32 = 5;

/// The batch leaf of the patient's EHR `ehr_id` (the batch holds `ehr-0` to `ehr-4`).
pub fn batch_leaf(ehr_id: &str) -> EhrLeaf<'_> {
    EhrLeaf {
        patient: Account::Patient.address(),
        ehr_id,
        version: 1,
        ehr_hash: B256::repeat_byte(0x0e),
        warrant_id: B256::repeat_byte(0x0f),
        author: Account::Doctor.address(),
    }
}

/// The Merkle tree of an anchored batch of [`BATCH`] EHRs.
pub fn batch_tree() -> BatchTree {
    let leaves: Vec<B256> = (0..BATCH).map(|i| batch_leaf(&format!("ehr-{i}")).hash()).collect();
    BatchTree::new(&leaves).expect("a non-empty batch")
}
