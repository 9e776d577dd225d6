//! What a record's verification reads from parties it does not trust: the manifest object
//! anyone may store, and the chain answers behind `verify_record` — which anyone runs
//! against any endpoint, and which the enclave's applications read through its host
//! (`ChainView` over raw JSON-RPC). Malformed, inconsistent or lying answers give a
//! typed error or unqualified versions, never a panic; a manifest that parses writes back
//! and parses to itself.
//!
//! Input: a selector byte (0: manifest, 1: verification, 2: each chain read on its own),
//! then the manifest, or pieces (`healthchain_fuzz::input`) tagged by their first byte:
//! 0 a JSON-RPC answer (served in order), 1 a store object (served under its SHA-256), 2 an
//! index hint (`VersionHint`, postcard), 3 the block the enclave's log reads start from
//! (u64 LE; it comes from an earlier answer in the update application).
#![no_main]

use std::collections::{HashMap, VecDeque};

use alloy_primitives::B256;
use healthchain_crypto::hash::sha256;
use healthchain_enclave::protocol::LedgerName;
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::{pieces, selector};
use healthchain_update::history::{Fetched, ObjectFetch, VersionHint, verify_record};
use healthchain_update::manifest::Manifest;
use healthchain_update::view::{ChainView, LedgerRpc};
use libfuzzer_sys::fuzz_target;

/// An endpoint that answers each request with the input's next answer.
struct Answers<'a>(VecDeque<&'a [u8]>);

impl LedgerRpc for Answers<'_> {
    fn request(&mut self, _ledger: LedgerName, _body: &[u8]) -> Result<Vec<u8>, String> {
        self.0.pop_front().map(<[u8]>::to_vec).ok_or_else(|| "no more answers".to_string())
    }
}

/// A store holding the input's objects.
struct Objects<'a>(HashMap<[u8; 32], &'a [u8]>);

impl ObjectFetch for Objects<'_> {
    fn fetch(&mut self, address: &[u8; 32]) -> Fetched {
        self.0.get(address).map_or(Fetched::Missing, |bytes| Fetched::Found(bytes.to_vec()))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = selector(data) else { return };
    if mode % 3 == 0 {
        if let Ok(manifest) = Manifest::parse(rest) {
            assert_eq!(Manifest::parse(&manifest.to_bytes()).as_ref(), Ok(&manifest));
        }
        return;
    }
    let (mut answers, mut objects, mut hints) = (Answers(VecDeque::new()), Objects(HashMap::new()), Vec::new());
    let mut from_block = 0;
    for piece in pieces(rest) {
        match piece.split_first() {
            Some((0, answer)) => answers.0.push_back(answer),
            Some((1, object)) => {
                objects.0.insert(sha256(object), object);
            }
            Some((2, hint)) => hints.extend(postcard::from_bytes::<VersionHint>(hint).ok()),
            Some((3, block)) => from_block = block.first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b)),
            _ => {}
        }
    }
    let deployment = fixtures::deployment();
    let mut view = ChainView::new(&mut answers, &deployment);
    let record_id = B256::from(fixtures::RECORD_ID);
    if mode % 3 == 1 {
        if let Ok(report) = verify_record(&mut view, &mut objects, record_id, &hints) {
            assert_eq!(report.registration.record_id, record_id);
            if !report.log_consistent {
                assert_eq!(report.qualified(), 0, "nothing qualifies on a log whose events do not add up");
            }
        }
        return;
    }
    let _ = view.registration(record_id);
    let _ = view.license_of(record_id);
    let _ = view.log_of(record_id);
    if let Ok(logs) = view.logs_of(&[record_id, B256::ZERO]) {
        assert_eq!(logs.len(), 2);
    }
    let _ = view.appended(record_id, from_block);
    let _ = view.shared_time();
    let _ = view.block_number(LedgerName::Consortium);
});
