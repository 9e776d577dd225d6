//! The EHR store's requests (`EhrRequest`, postcard, inside a session record) handled by
//! the real application — SQLCipher database, warrant checks, registry — in this process
//! (`healthchain_ehr::local::LocalEnclave`), from the patient, the warrant's doctor, an
//! admitted hospital or a stranger. Every request gets a typed reply, and the application's
//! borrowed decoding (`RequestView`) accepts exactly what `EhrRequest` decodes.
//!
//! The database lives for the whole process, in a temporary directory (`TMPDIR`):
//! what earlier inputs stored, later ones find.
//!
//! Input: a selector byte (caller: patient, doctor, hospital, stranger), then the request.
#![no_main]

use std::sync::{Mutex, OnceLock};

use healthchain_ehr::local::LocalEnclave;
use healthchain_ehr::{AllowList, EhrApp, EhrError, EhrReply, EhrRequest, ManualClock};
use healthchain_fuzz::fixtures::{self, Account};
use healthchain_fuzz::input::selector;
use libfuzzer_sys::fuzz_target;

fn enclave() -> &'static Mutex<LocalEnclave> {
    static ENCLAVE: OnceLock<(tempfile::TempDir, Mutex<LocalEnclave>)> = OnceLock::new();
    &ENCLAVE
        .get_or_init(|| {
            let registry = AllowList::new([Account::Doctor.address()], [Account::Hospital.address()]);
            let app =
                EhrApp::new(fixtures::ehr_config(), Box::new(registry)).with_clock(ManualClock::new(fixtures::NOW));
            let dir = tempfile::tempdir().expect("a temporary directory");
            let enclave = LocalEnclave::new(app, dir.path(), fixtures::PLATFORM_SECRET, fixtures::MEASUREMENT);
            (dir, Mutex::new(enclave))
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Some((caller, request)) = selector(data) else { return };
    let caller =
        [Account::Patient, Account::Doctor, Account::Hospital, Account::Stranger][usize::from(caller % 4)].address();
    let mut enclave = enclave().lock().expect("one fuzz thread");
    let reply = enclave.call_raw(caller, request).expect("the application always answers");
    let reply: EhrReply = postcard::from_bytes(&reply).expect("the reply decodes");
    let undecodable = matches!(&reply, Err(EhrError::InvalidRequest(why)) if why.starts_with("undecodable request"));
    assert_eq!(
        postcard::from_bytes::<EhrRequest>(request).is_ok(),
        !undecodable,
        "the borrowed view and the request type disagree"
    );
});
