//! An in-memory embedded chain with all six contracts deployed, the fixtures' enclave
//! approved, and the fixtures' record registered with an open update license for that
//! enclave, built once per process: deploying takes a second, far too long to repeat per
//! input.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256};
use healthchain_chain::{Chain, ChainConfig};
use healthchain_crypto::hash::sha256;
use healthchain_ledger::client::Connection;
use healthchain_ledger::testing::dev_key;
use healthchain_ledger::{DeployParams, Deployment, Ledger, deploy};
use tokio::runtime::Runtime;

use crate::fixtures::{self, Account};

/// The chain, a connection to it, the contracts, and the runtime that drives them.
pub struct Deployed {
    /// Drives the chain's asynchronous API from the (synchronous) fuzz targets.
    pub runtime: Runtime,
    /// The chain.
    pub chain: Chain,
    /// An in-process connection to it.
    pub connection: Connection,
    /// The contracts' addresses.
    pub deployment: Deployment,
    /// The registered record (anchor: [`fixtures::chameleon_anchor`], manifest:
    /// [`fixtures::manifest`]), licensed for an update by the fixtures' enclave.
    pub record_id: B256,
}

/// The development account that owns the registered record (derived once).
pub fn record_owner() -> Address {
    static OWNER: OnceLock<Address> = OnceLock::new();
    *OWNER.get_or_init(|| dev_key(1).address())
}

impl Deployed {
    /// The chain's JSON-RPC answer to `body` (an empty body for notifications only).
    pub fn rpc(&self, body: &[u8]) -> Vec<u8> {
        self.runtime.block_on(self.chain.handle_rpc(body)).unwrap_or_default()
    }
}

/// The process's chain, deployed on first use.
pub fn deployed() -> &'static Deployed {
    static DEPLOYED: OnceLock<Deployed> = OnceLock::new();
    DEPLOYED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let chain = Chain::in_memory(ChainConfig::default()).expect("an in-memory chain");
        let (connection, deployment, record_id) = runtime.block_on(async {
            let connection = Connection::embedded(&chain).await.expect("an in-process connection");
            let admin = dev_key(0);
            let deployment = deploy(&connection.account(&admin), None, &DeployParams::default())
                .await
                .expect("the contracts deploy")
                .deployment;
            let consortium = Ledger::connect(&connection, None, &admin, deployment).await.expect("the deployment");
            let enclave = Account::Report.address();
            let encryption_key = B256::from(fixtures::encryption_key().public_key().to_bytes());
            consortium
                .approve_enclave_everywhere(enclave, B256::from(fixtures::MEASUREMENT), encryption_key, B256::ZERO)
                .await
                .expect("the admin approves the enclave");
            let owner = Ledger::connect(&connection, None, &dev_key(1), deployment).await.expect("the deployment");
            let records = owner.records();
            let deposit = records.deposit().await.expect("the deposit");
            let anchor = B256::from(fixtures::chameleon_anchor().0.to_bytes());
            let manifest_hash = B256::from(sha256(&fixtures::manifest().to_bytes()));
            let record_id =
                records.register(anchor, manifest_hash, deposit).await.expect("a registration").event.recordId;
            records.request_update(record_id, enclave).await.expect("an update license");
            (connection, deployment, record_id)
        });
        Deployed { runtime, chain, connection, deployment, record_id }
    })
}
