//! The trusted application `update`: seed 000 Algorithm 1, for every version including the
//! first.
//!
//! For one request the enclave: finds the record's registration and manifest (cached after
//! the first time); checks the trapdoor against the registered chameleon key; checks that
//! the record's open license names this enclave, is unexpired and unconsumed; brings its
//! verified view of the record's history up to the log (only versions it has not verified
//! before are fetched, checked and decrypted, so an update costs O(new data)); checks that
//! the update extends exactly the logged history; validates the new entry as FHIR R4 for the
//! same patient; encrypts and stores it; adapts the anchor; and signs the `UpdateReport`
//! for `UpdateLog` and `RecordRegistry`.
//!
//! Its verified view is sealed per record as a small header plus one segment per version
//! (what that version added to the record's context), and kept in enclave memory between
//! calls: a warm update reads and writes O(new entry) state, and a restarted enclave
//! rebuilds a record's context from its segments once.

use std::collections::HashMap;

use alloy_primitives::{Address, B256};
use healthchain_crypto::chameleon::{self, HashValue, PublicKey, Trapdoor};
use healthchain_crypto::eip712::{self, UpdateReport};
use healthchain_crypto::envelope::{self, EntryContext, RecordKey};
use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use healthchain_enclave::runtime::{AppContext, AppError, HostServices, RuntimeError, TrustedApp};
use healthchain_fhir::{ErrorKind, RecordContext};
use healthchain_ledger::Deployment;
use healthchain_ledger::contracts::License;
use healthchain_ledger::ids::{check_string_hash_words, check_string_words, license_id, update_log_head};
use serde::{Deserialize, Serialize};

use crate::api::{UpdateAccepted, UpdateRefusal, UpdateReply, UpdateRequest};
use crate::history::{Fetched, ObjectFetch, check_entry, fetch_entry, fetch_manifest, fold_head};
use crate::view::{ChainView, HostLedger, LoggedVersion};

/// The name clients address the application by.
pub const APP_NAME: &str = "update";

/// The `update` application for one deployment. The deployment is the enclave operator's
/// configuration: it decides which contracts the enclave reads and signs for.
pub struct UpdateApp {
    deployment: Deployment,
    /// Each record's verified context, as of the sealed header's verified version.
    contexts: HashMap<B256, VerifiedContext>,
}

impl UpdateApp {
    /// The application for `deployment`.
    pub fn new(deployment: Deployment) -> Self {
        UpdateApp { deployment, contexts: HashMap::new() }
    }
}

/// What the enclave has verified about a record, sealed under `update-<record id>`.
#[derive(Clone, Serialize, Deserialize)]
struct Checkpoint {
    owner: Address,
    anchor: [u8; 32],
    chameleon_key: [u8; 32],
    /// Block the record was registered in (log queries for it start there).
    registered_block: u64,
    verified: Verified,
    /// The version this enclave produced last and the owner has not logged yet (as far as
    /// the enclave knows): promoted from its sealed segment, without re-reading its entry,
    /// once it appears in the log.
    pending: Option<LoggedVersion>,
}

/// The last verified version of a record.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Verified {
    version: u64,
    head: B256,
    digest: B256,
    /// Block of the last log entry verified (log queries resume there).
    block: u64,
}

impl Verified {
    fn genesis(record: RecordId, registered_block: u64) -> Self {
        Verified {
            version: 0,
            head: B256::ZERO,
            digest: B256::from(DigestChain::genesis(record).head()),
            block: registered_block,
        }
    }
}

/// What one version added to its record's context, sealed under `update-<record id>-<version>`.
#[derive(Serialize, Deserialize)]
struct Segment {
    /// `d_j` of the version it belongs to (a segment of a version that never got logged is
    /// overwritten by the next one produced at that number).
    digest: B256,
    added: RecordContext,
}

/// A record's context after its verified versions.
struct VerifiedContext {
    version: u64,
    digest: B256,
    context: RecordContext,
}

fn label(record_id: &B256) -> String {
    format!("update-{}", alloy_primitives::hex::encode(record_id))
}

fn segment_label(record_id: &B256, version: u64) -> String {
    format!("update-{}-{version}", alloy_primitives::hex::encode(record_id))
}

fn seal_segment(
    host: &mut dyn HostServices,
    record_id: &B256,
    version: u64,
    segment: &Segment,
) -> Result<(), UpdateRefusal> {
    let sealed = postcard::to_stdvec(segment).map_err(state_error)?;
    host.store(&segment_label(record_id, version), &sealed).map_err(state_error)
}

/// The segment sealed for `version`, if there is one and it belongs to `digest`.
fn unseal_segment(host: &mut dyn HostServices, record_id: &B256, version: u64, digest: B256) -> Option<RecordContext> {
    let bytes = host.load(&segment_label(record_id, version)).ok()??;
    let segment: Segment = postcard::from_bytes(&bytes).ok()?;
    (segment.digest == digest).then_some(segment.added)
}

/// Rebuilds the context after `verified` from its segments; `None` when one is missing or
/// belongs to another history (the host can delete sealed files, not forge them).
fn rebuild_context(host: &mut dyn HostServices, record_id: &B256, verified: &Verified) -> Option<RecordContext> {
    let mut context = RecordContext::new();
    for version in 1..=verified.version {
        let bytes = host.load(&segment_label(record_id, version)).ok()??;
        let segment: Segment = postcard::from_bytes(&bytes).ok()?;
        if version == verified.version && segment.digest != verified.digest {
            return None;
        }
        context.extend(segment.added);
    }
    Some(context)
}

struct HostObjects<'h, 'c>(&'h mut (dyn HostServices + 'c));

impl ObjectFetch for HostObjects<'_, '_> {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        match self.0.fetch_object(address) {
            Ok(Some(bytes)) => Fetched::Found(bytes),
            Ok(None) => Fetched::Missing,
            Err(RuntimeError::TamperedObject { .. }) => Fetched::Tampered,
            Err(e) => Fetched::Failed(e.to_string()),
        }
    }
}

fn state_error(e: impl ToString) -> UpdateRefusal {
    UpdateRefusal::State(e.to_string())
}

impl TrustedApp for UpdateApp {
    fn name(&self) -> &'static str {
        APP_NAME
    }

    fn handle(&mut self, context: &mut AppContext<'_>, caller: Address, request: &[u8]) -> Result<Vec<u8>, AppError> {
        let reply: UpdateReply = match postcard::from_bytes::<UpdateRequest>(request) {
            Ok(request) => self.update(context, caller, &request),
            Err(e) => Err(UpdateRefusal::Malformed(e.to_string())),
        };
        Ok(postcard::to_stdvec(&reply).expect("replies always encode"))
    }
}

impl UpdateApp {
    fn update(
        &mut self,
        context: &mut AppContext<'_>,
        caller: Address,
        request: &UpdateRequest,
    ) -> Result<UpdateAccepted, UpdateRefusal> {
        let record_id = request.record_id;
        let record = RecordId(record_id.0);
        let this = context.keys.report_key.address();
        let checkpoint = match context.host.load(&label(&record_id)).map_err(state_error)? {
            Some(bytes) => Some(postcard::from_bytes::<Checkpoint>(&bytes).map_err(state_error)?),
            None => None,
        };

        let (owner, anchor_bytes, key_bytes, registered_block) = match &checkpoint {
            Some(c) => (c.owner, c.anchor, c.chameleon_key, c.registered_block),
            None => {
                let registration = ChainView::new(&mut HostLedger(context.host), &self.deployment)
                    .registration(record_id)?
                    .ok_or(UpdateRefusal::UnknownRecord(record_id))?;
                let manifest = fetch_manifest(&mut HostObjects(context.host), &registration)
                    .map_err(|e| UpdateRefusal::Store(e.to_string()))?
                    .map_err(UpdateRefusal::Manifest)?;
                let key = manifest.public_key().map_err(|e| UpdateRefusal::Manifest(e.to_string()))?;
                (registration.owner, registration.anchor.0, key.to_bytes(), registration.block)
            }
        };
        if caller != owner {
            return Err(UpdateRefusal::NotOwner { record: record_id, caller, owner });
        }
        let anchor = HashValue::from_bytes(&anchor_bytes)
            .map_err(|_| UpdateRefusal::Manifest("the registered anchor is not a chameleon hash".into()))?;
        let public = PublicKey::from_bytes(&key_bytes).map_err(|e| UpdateRefusal::Manifest(e.to_string()))?;
        let trapdoor = Trapdoor::from_bytes(request.trapdoor.as_slice()).map_err(|_| UpdateRefusal::WrongTrapdoor)?;
        if trapdoor.public_key() != public {
            return Err(UpdateRefusal::WrongTrapdoor);
        }
        let record_key = RecordKey::from_bytes(*request.record_key);

        // the license: on the shared ledger, for this enclave, unexpired, unconsumed
        let mut ledger = HostLedger(context.host);
        let mut view = ChainView::new(&mut ledger, &self.deployment);
        let license = view.license_of(record_id)?;
        if license.enclave == Address::ZERO {
            return Err(UpdateRefusal::NoLicense(record_id));
        }
        if license.enclave != this {
            return Err(UpdateRefusal::LicenseForAnotherEnclave { licensed: license.enclave, this });
        }
        let now = view.shared_time()?;
        if license.expiry <= now {
            return Err(UpdateRefusal::LicenseExpired { expiry: license.expiry, now });
        }
        let log = view.log_of(record_id)?;
        if license.sequence <= log.license_sequence {
            return Err(UpdateRefusal::LicenseConsumed { sequence: license.sequence, used: log.license_sequence });
        }

        // the history, verified up to the log: the header, then its context (kept in memory,
        // rebuilt from the sealed segments after a restart)
        let genesis = Verified::genesis(record, registered_block);
        let (mut verified, pending) = match checkpoint {
            Some(c) if c.verified.version <= log.version => (c.verified, c.pending),
            _ => (genesis, None),
        };
        let cached =
            self.contexts.get(&record_id).is_some_and(|c| (c.version, c.digest) == (verified.version, verified.digest));
        if !cached {
            let context = match rebuild_context(context.host, &record_id, &verified) {
                Some(context) => context,
                None => {
                    verified = genesis;
                    RecordContext::new()
                }
            };
            let entry = VerifiedContext { version: verified.version, digest: verified.digest, context };
            self.contexts.insert(record_id, entry);
        }
        let cached = self.contexts.get_mut(&record_id).expect("the record's context was just ensured");

        let mut ledger = HostLedger(context.host);
        let mut view = ChainView::new(&mut ledger, &self.deployment);
        let news = if verified.version == log.version {
            Vec::new()
        } else {
            view.appended(record_id, verified.block)?.into_iter().filter(|v| v.version > verified.version).collect()
        };
        // checked: the versions come from the host and may sit at u64::MAX
        let in_order =
            news.iter().enumerate().all(|(i, v)| v.version.checked_sub(verified.version) == Some(i as u64 + 1));
        if !in_order
            || verified.version.checked_add(news.len() as u64) != Some(log.version)
            || fold_head(verified.head, &news) != log.head
        {
            return Err(UpdateRefusal::UnqualifiedHistory {
                version: log.version,
                why: crate::history::Unqualified::LogHeadMismatch.to_string(),
            });
        }
        for logged in &news {
            let promoted = match &pending {
                Some(p)
                    if (p.version, p.digest, p.check_string)
                        == (logged.version, logged.digest, logged.check_string) =>
                {
                    unseal_segment(context.host, &record_id, logged.version, logged.digest)
                }
                _ => None,
            };
            let added = match promoted {
                Some(added) => added,
                None => {
                    let checked = LoggedEntry { request, record_key: &record_key, anchor: &anchor, public: &public };
                    let added = checked.check(context.host, &verified, &cached.context, logged)?;
                    let segment = Segment { digest: logged.digest, added };
                    seal_segment(context.host, &record_id, logged.version, &segment)?;
                    segment.added
                }
            };
            cached.context.extend(added);
            (cached.version, cached.digest) = (logged.version, logged.digest);
            verified =
                Verified { version: logged.version, head: logged.head, digest: logged.digest, block: logged.block };
        }
        let record_context = &cached.context;

        // the update extends exactly the logged history
        if request.base_version < verified.version {
            return Err(UpdateRefusal::DropsEntries { base: request.base_version, logged: verified.version });
        }
        if request.base_version > verified.version {
            return Err(UpdateRefusal::AheadOfLog { base: request.base_version, logged: verified.version });
        }
        let base_digest = if verified.version == 0 { B256::ZERO } else { verified.digest };
        if request.base_digest != base_digest {
            return Err(UpdateRefusal::RewritesHistory {
                version: verified.version,
                claimed: request.base_digest,
                logged: base_digest,
            });
        }

        // the new entry: FHIR R4, same patient, nothing re-sent
        let validated = healthchain_fhir::validate_update(&request.entry, record_context).map_err(fhir_refusal)?;
        let added = RecordContext::from_versions([&validated]);

        let Some(version) = verified.version.checked_add(1) else {
            return Err(UpdateRefusal::UnqualifiedHistory {
                version: verified.version,
                why: "the log has no version number left".into(),
            });
        };
        let rng = &mut rand::rng();
        let entry_context = EntryContext { record, entry_index: version };
        let ciphertext = envelope::encrypt_entry(&record_key, entry_context, &request.entry, rng);
        let chain = DigestChain::resume(record, verified.version, verified.digest.0).append(&entry_digest(&ciphertext));
        let entry_address = context.host.put_object(&ciphertext).map_err(|e| UpdateRefusal::Store(e.to_string()))?;
        let check = chameleon::adapt(&trapdoor, &anchor, &chain.message().to_bytes(), rng);
        let check_string = check_string_words(&check);
        let digest = B256::from(chain.head());

        let license_id = license_id(record_id, license.enclave, license.expiry, license.sequence);
        let report = UpdateReport {
            recordId: record_id,
            version,
            digest,
            checkStringHash: check_string_hash_words(&check_string),
            licenseId: license_id,
        };
        let deployment = &self.deployment;
        let log_domain = eip712::domain(deployment.consortium.chain_id, deployment.consortium.update_log);
        let registry_domain = eip712::domain(deployment.shared.chain_id, deployment.shared.record_registry);
        let accepted = UpdateAccepted {
            version,
            digest,
            check_string,
            entry_address,
            license: License { enclave: license.enclave, expiry: license.expiry, sequence: license.sequence },
            license_id,
            enclave: this,
            log_signature: eip712::sign(&context.keys.report_key, &report, &log_domain).to_vec(),
            registry_signature: eip712::sign(&context.keys.report_key, &report, &registry_domain).to_vec(),
        };

        let produced = LoggedVersion {
            version,
            digest,
            check_string,
            license_id,
            enclave: this,
            head: update_log_head(verified.head, version, digest, report.checkStringHash),
            block: 0,
        };
        seal_segment(context.host, &record_id, version, &Segment { digest, added })?;
        let checkpoint = Checkpoint {
            owner,
            anchor: anchor_bytes,
            chameleon_key: key_bytes,
            registered_block,
            verified,
            pending: Some(produced),
        };
        let sealed = postcard::to_stdvec(&checkpoint).map_err(state_error)?;
        context.host.store(&label(&record_id), &sealed).map_err(state_error)?;
        Ok(accepted)
    }
}

/// What checking a logged version this enclave did not produce needs from the request.
struct LoggedEntry<'r> {
    request: &'r UpdateRequest,
    record_key: &'r RecordKey,
    anchor: &'r HashValue,
    public: &'r PublicKey,
}

impl LoggedEntry<'_> {
    /// Checks a logged version this enclave has not verified: entry from the owner's
    /// history list, digest chain, check string, decryption, FHIR in context. Returns what
    /// the version adds to the record's context.
    fn check(
        &self,
        host: &mut dyn HostServices,
        verified: &Verified,
        record_context: &RecordContext,
        logged: &LoggedVersion,
    ) -> Result<RecordContext, UpdateRefusal> {
        let version = logged.version;
        let record = RecordId(self.request.record_id.0);
        let unqualified = |why: String| UpdateRefusal::UnqualifiedHistory { version, why };
        let address = self
            .request
            .history
            .get((version - 1) as usize)
            .ok_or_else(|| unqualified("the request does not say where its entry is stored".into()))?;
        let entry = fetch_entry(&mut HostObjects(host), address).map_err(|e| unqualified(e.to_string()))?;
        let previous = DigestChain::resume(record, version - 1, verified.digest.0);
        check_entry(self.anchor, self.public, &previous, logged.digest, &logged.check_string, address)
            .map_err(|e| unqualified(e.to_string()))?;
        let context = EntryContext { record, entry_index: version };
        let plaintext = envelope::decrypt_entry(self.record_key, context, &entry)
            .map_err(|_| UpdateRefusal::WrongRecordKey(version))?;
        let validated = healthchain_fhir::validate_update(&plaintext, record_context)
            .map_err(|errors| unqualified(format!("its entry is not valid FHIR in context: {}", first(&errors))))?;
        Ok(RecordContext::from_versions([&validated]))
    }
}

fn first(errors: &[healthchain_fhir::ValidationError]) -> String {
    errors.first().map(ToString::to_string).unwrap_or_default()
}

fn fhir_refusal(errors: Vec<healthchain_fhir::ValidationError>) -> UpdateRefusal {
    if let Some(e) = errors.iter().find(|e| e.kind == ErrorKind::PatientMismatch) {
        return UpdateRefusal::OtherPatient(e.to_string());
    }
    UpdateRefusal::InvalidFhir(errors.iter().take(20).map(ToString::to_string).collect())
}
