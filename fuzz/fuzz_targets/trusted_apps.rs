//! The enclave's `update` and `share` applications on requests from an authenticated
//! client (`UpdateRequest`, `ShareRequest`, postcard, inside a session record), reading
//! the in-memory chain through the host's ledger relay, as they do in the enclave. On that
//! chain the caller owns a registered record licensed for an update by this enclave (the
//! license lasts an hour of chain time), and the host holds its manifest, so a request can
//! get as far as an accepted version. Every request gets a typed reply; one that does not
//! decode is refused as malformed, and only then.
//!
//! Input: a selector byte (even: update, odd: share), then the request.
#![no_main]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use healthchain_crypto::hash::sha256;
use healthchain_enclave::protocol::LedgerName;
use healthchain_enclave::runtime::{AppContext, EnclaveKeys, HostObject, HostServices, RuntimeError, TrustedApp};
use healthchain_fuzz::chain::{deployed, record_owner};
use healthchain_fuzz::fixtures;
use healthchain_fuzz::input::selector;
use healthchain_share::api::{ShareRefusal, ShareReply, ShareRequest};
use healthchain_share::app::ShareApp;
use healthchain_update::api::{UpdateRefusal, UpdateReply, UpdateRequest};
use healthchain_update::app::UpdateApp;
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

/// The host for one request: sealed state and objects in memory (the record's manifest
/// to begin with), JSON-RPC relayed to the chain.
struct Host {
    sealed: HashMap<String, Vec<u8>>,
    objects: HashMap<[u8; 32], Vec<u8>>,
}

impl Host {
    fn new() -> Self {
        let manifest = fixtures::manifest().to_bytes();
        Host { sealed: HashMap::new(), objects: HashMap::from([(sha256(&manifest), manifest)]) }
    }
}

impl HostServices for Host {
    fn load(&mut self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>, RuntimeError> {
        Ok(self.sealed.get(label).cloned().map(Zeroizing::new))
    }

    fn store(&mut self, label: &str, data: &[u8]) -> Result<(), RuntimeError> {
        self.sealed.insert(label.to_string(), data.to_vec());
        Ok(())
    }

    fn fetch_object(&mut self, address: &[u8; 32]) -> Result<Option<Vec<u8>>, RuntimeError> {
        Ok(self.objects.get(address).cloned())
    }

    fn fetch_objects(&mut self, addresses: &[[u8; 32]]) -> Result<Vec<HostObject>, RuntimeError> {
        let fetch = |address| self.objects.get(address).map_or(HostObject::Missing, |o| HostObject::Found(o.clone()));
        Ok(addresses.iter().map(fetch).collect())
    }

    fn put_object(&mut self, bytes: &[u8]) -> Result<[u8; 32], RuntimeError> {
        let address = sha256(bytes);
        self.objects.insert(address, bytes.to_vec());
        Ok(address)
    }

    fn ledger_rpc(&mut self, _ledger: LedgerName, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        Ok(deployed().rpc(request))
    }
}

struct Apps {
    keys: EnclaveKeys,
    update: UpdateApp,
    share: ShareApp,
}

fn apps() -> &'static Mutex<Apps> {
    static APPS: OnceLock<Mutex<Apps>> = OnceLock::new();
    APPS.get_or_init(|| {
        let deployment = deployed().deployment;
        Mutex::new(Apps {
            keys: fixtures::enclave_keys(),
            update: UpdateApp::new(deployment),
            share: ShareApp::new(deployment),
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((app, request)) = selector(data) else { return };
    let mut apps = apps().lock().expect("one fuzz thread");
    let Apps { keys, update, share } = &mut *apps;
    let mut host = Host::new();
    let data_dir = std::env::temp_dir();
    let mut context =
        AppContext { keys, host: &mut host, open_sessions: 1, uptime: Duration::from_secs(1), data_dir: &data_dir };
    let caller = record_owner();
    if app % 2 == 0 {
        let reply = update.handle(&mut context, caller, request).expect("the update application always answers");
        let reply: UpdateReply = postcard::from_bytes(&reply).expect("the reply decodes");
        let malformed = matches!(reply, Err(UpdateRefusal::Malformed(_)));
        assert_eq!(postcard::from_bytes::<UpdateRequest>(request).is_ok(), !malformed);
    } else {
        let reply = share.handle(&mut context, caller, request).expect("the share application always answers");
        let reply: ShareReply = postcard::from_bytes(&reply).expect("the reply decodes");
        let malformed = matches!(reply, Err(ShareRefusal::Malformed(_)));
        assert_eq!(postcard::from_bytes::<ShareRequest>(request).is_ok(), !malformed);
    }
});
