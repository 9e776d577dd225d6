//! Deployment of the six contracts and the [`Ledger`] client over the two logical ledgers.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::Provider;
use alloy_sol_types::{SolConstructor, SolEvent};
use healthchain_crypto::signing::EthKey;

use crate::bindings::{AccessControl, Directory, EhrRegistry, KeyAuthorization, RecordRegistry, UpdateLog};
use crate::client::{Account, Connection, GasMode, Receipt};
use crate::contracts::{
    AccessControlClient, DirectoryClient, EhrRegistryClient, KeyAuthorizationClient, RecordRegistryClient,
    UpdateLogClient,
};
use crate::errors::LedgerError;

/// Constructor parameters of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeployParams {
    /// Consortium admins of each Directory; empty means the deployer alone.
    pub admins: Vec<Address>,
    /// Wei every record registration must pay (returned with its first confirmed update).
    pub deposit_wei: U256,
    /// Seconds an update license stays usable.
    pub license_ttl_seconds: u32,
    /// Seconds an enclave has to complete an access request before the requester may take a refund.
    pub completion_timeout_seconds: u32,
}

impl Default for DeployParams {
    /// Deployer as the only admin, a 0.001 ether deposit, 1-hour licenses, 1-day completion timeout.
    fn default() -> Self {
        DeployParams {
            admins: Vec::new(),
            deposit_wei: U256::from(1_000_000_000_000_000u64),
            license_ttl_seconds: 3600,
            completion_timeout_seconds: 86_400,
        }
    }
}

/// Contracts of the shared ledger (seed 000's SB: records, policies, payments, key release).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedContracts {
    /// Chain id of the shared ledger.
    pub chain_id: u64,
    /// Its Directory.
    pub directory: Address,
    /// RecordRegistry.
    pub record_registry: Address,
    /// AccessControl.
    pub access_control: Address,
    /// KeyAuthorization.
    pub key_authorization: Address,
    /// Block of the first deployment transaction (where event queries start).
    pub deployed_at_block: u64,
}

/// Contracts of the consortium ledger (seed 000's UB and seed 001's Fabric: update log, EHRs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsortiumContracts {
    /// Chain id of the consortium ledger.
    pub chain_id: u64,
    /// Its Directory: the shared ledger's own when both ledgers are one chain.
    pub directory: Address,
    /// UpdateLog.
    pub update_log: Address,
    /// EhrRegistry.
    pub ehr_registry: Address,
    /// Block of the first deployment transaction on this ledger.
    pub deployed_at_block: u64,
}

/// Where the contracts of both logical ledgers live. Serialize it (JSON) to hand a deployment
/// to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// The shared ledger.
    pub shared: SharedContracts,
    /// The consortium ledger.
    pub consortium: ConsortiumContracts,
    /// Whether both ledgers were deployed to one chain through one endpoint, sharing one
    /// Directory (two endpoints may serve chains with equal ids, so this is recorded, not inferred).
    pub co_hosted: bool,
}

impl Deployment {
    /// Whether both ledgers live on one chain and share one Directory.
    pub fn co_hosted(&self) -> bool {
        self.co_hosted
    }
}

/// Gas and receipts of each deployment transaction, in order.
#[derive(Debug, Clone)]
pub struct DeployReport {
    /// The addresses.
    pub deployment: Deployment,
    /// `(contract, receipt)`; a co-hosted deployment has one Directory receipt.
    pub receipts: Vec<(&'static str, Receipt)>,
}

impl DeployReport {
    /// Gas used by the deployment of `contract` (the first, for Directory).
    pub fn gas_of(&self, contract: &str) -> Option<u64> {
        self.receipts.iter().find(|(c, _)| *c == contract).map(|(_, r)| r.gas_used)
    }
}

fn init_code(bytecode: &Bytes, args: Vec<u8>) -> Bytes {
    let mut code = bytecode.to_vec();
    code.extend_from_slice(&args);
    code.into()
}

async fn deploy_one(
    account: &Account,
    name: &'static str,
    code: Bytes,
    receipts: &mut Vec<(&'static str, Receipt)>,
) -> Result<Address, LedgerError> {
    let receipt = account.deploy(name, code).await?;
    let address = receipt.contract_address.expect("checked by Account::deploy");
    receipts.push((name, receipt));
    Ok(address)
}

/// Deploys all six contracts with their constructor wiring and returns their addresses.
///
/// `shared` deploys Directory, RecordRegistry, KeyAuthorization and AccessControl on the shared
/// ledger; `consortium` (another endpoint, possibly another key) deploys a second Directory,
/// UpdateLog and EhrRegistry on the consortium ledger. With `consortium = None` both ledgers are
/// one chain: UpdateLog and EhrRegistry are deployed there too and share the one Directory.
///
/// KeyAuthorization is bound to the address AccessControl will get (the deployer's next
/// nonce); AccessControl's constructor checks it, so a wrong prediction (e.g. someone else
/// sending from the deployer key meanwhile) fails the deployment with
/// `KeyAuthorizationNotBound`.
pub async fn deploy(
    shared: &Account,
    consortium: Option<&Account>,
    params: &DeployParams,
) -> Result<DeployReport, LedgerError> {
    let mut receipts = Vec::new();
    let admins = |account: &Account| {
        if params.admins.is_empty() { vec![account.address()] } else { params.admins.clone() }
    };
    let directory = deploy_one(
        shared,
        "Directory",
        init_code(&Directory::BYTECODE, Directory::constructorCall { admins: admins(shared) }.abi_encode()),
        &mut receipts,
    )
    .await?;
    let record_registry = deploy_one(
        shared,
        "RecordRegistry",
        init_code(
            &RecordRegistry::BYTECODE,
            RecordRegistry::constructorCall {
                directory_: directory,
                deposit_: params.deposit_wei,
                licenseTtl_: params.license_ttl_seconds,
            }
            .abi_encode(),
        ),
        &mut receipts,
    )
    .await?;

    // KeyAuthorization takes AccessControl's address: the deployer's nonce after its own.
    shared.reset_nonce().await;
    let nonce = shared.connection().provider().get_transaction_count(shared.address()).pending().await?;
    let predicted = shared.address().create(nonce + 1);
    let key_authorization = deploy_one(
        shared,
        "KeyAuthorization",
        init_code(
            &KeyAuthorization::BYTECODE,
            KeyAuthorization::constructorCall { directory_: directory, accessControl_: predicted }.abi_encode(),
        ),
        &mut receipts,
    )
    .await?;
    let access_control = deploy_one(
        shared,
        "AccessControl",
        init_code(
            &AccessControl::BYTECODE,
            AccessControl::constructorCall {
                directory_: directory,
                registry_: record_registry,
                keyAuthorization_: key_authorization,
                completionTimeout_: params.completion_timeout_seconds,
            }
            .abi_encode(),
        ),
        &mut receipts,
    )
    .await?;
    if access_control != predicted {
        return Err(LedgerError::Deployment(format!(
            "AccessControl landed at {access_control}, KeyAuthorization expects {predicted}"
        )));
    }

    let (cons, cons_directory) = match consortium {
        None => (shared, directory),
        Some(account) => {
            let d = deploy_one(
                account,
                "Directory",
                init_code(&Directory::BYTECODE, Directory::constructorCall { admins: admins(account) }.abi_encode()),
                &mut receipts,
            )
            .await?;
            (account, d)
        }
    };
    let update_log = deploy_one(
        cons,
        "UpdateLog",
        init_code(&UpdateLog::BYTECODE, UpdateLog::constructorCall { directory_: cons_directory }.abi_encode()),
        &mut receipts,
    )
    .await?;
    let ehr_registry = deploy_one(
        cons,
        "EhrRegistry",
        init_code(&EhrRegistry::BYTECODE, EhrRegistry::constructorCall { directory_: cons_directory }.abi_encode()),
        &mut receipts,
    )
    .await?;

    let first_block = |contract: &str, directory_index: usize| {
        receipts.iter().filter(|(c, _)| *c == contract).nth(directory_index).map(|(_, r)| r.block_number).unwrap_or(0)
    };
    let shared_block = first_block("Directory", 0);
    let consortium_block = if consortium.is_some() { first_block("Directory", 1) } else { shared_block };
    let deployment = Deployment {
        shared: SharedContracts {
            chain_id: shared.connection().chain_id(),
            directory,
            record_registry,
            access_control,
            key_authorization,
            deployed_at_block: shared_block,
        },
        consortium: ConsortiumContracts {
            chain_id: cons.connection().chain_id(),
            directory: cons_directory,
            update_log,
            ehr_registry,
            deployed_at_block: consortium_block,
        },
        co_hosted: consortium.is_none(),
    };
    Ok(DeployReport { deployment, receipts })
}

/// The healthchain ledger client of one participant: one key, acting on both logical ledgers.
///
/// `shared` and `consortium` may be one [`Connection`] (the embedded default, or one external
/// chain hosting both) or two endpoints. Every contract is reached through a typed handle
/// ([`Ledger::records`], [`Ledger::access`], ...); events through [`Ledger::events`].
#[derive(Debug, Clone)]
pub struct Ledger {
    shared: Account,
    consortium: Account,
    deployment: Deployment,
}

impl Ledger {
    /// A client for `key` without checking the endpoints (see [`Ledger::connect`]).
    /// `consortium = None`: the consortium ledger is the shared endpoint.
    pub fn new(shared: &Connection, consortium: Option<&Connection>, key: &EthKey, deployment: Deployment) -> Self {
        let shared_account = shared.account(key);
        let consortium_account = consortium.map(|c| c.account(key)).unwrap_or_else(|| shared_account.clone());
        Ledger { shared: shared_account, consortium: consortium_account, deployment }
    }

    /// Like [`Ledger::new`], after checking that each endpoint serves the deployment's chain
    /// and holds code at every contract address.
    pub async fn connect(
        shared: &Connection,
        consortium: Option<&Connection>,
        key: &EthKey,
        deployment: Deployment,
    ) -> Result<Self, LedgerError> {
        let cons = consortium.unwrap_or(shared);
        for (conn, expected) in [(shared, deployment.shared.chain_id), (cons, deployment.consortium.chain_id)] {
            if conn.chain_id() != expected {
                return Err(LedgerError::WrongChain { expected, actual: conn.chain_id() });
            }
        }
        let s = &deployment.shared;
        let c = &deployment.consortium;
        let checks = [
            (shared, "Directory", s.directory),
            (shared, "RecordRegistry", s.record_registry),
            (shared, "AccessControl", s.access_control),
            (shared, "KeyAuthorization", s.key_authorization),
            (cons, "Directory", c.directory),
            (cons, "UpdateLog", c.update_log),
            (cons, "EhrRegistry", c.ehr_registry),
        ];
        for (conn, contract, address) in checks {
            if conn.provider().get_code_at(address).await?.is_empty() {
                return Err(LedgerError::NoCode { contract, address, chain_id: conn.chain_id() });
            }
        }
        Ok(Self::new(shared, consortium, key, deployment))
    }

    /// The same endpoints and deployment, acting as `key` (nonces are shared with any other
    /// client of that key on these endpoints).
    pub fn with_key(&self, key: &EthKey) -> Ledger {
        let shared = self.shared.connection().account(key).with_gas_mode(self.shared.gas_mode());
        let consortium = if self.shared.connection().same_as(self.consortium.connection()) {
            shared.clone()
        } else {
            self.consortium.connection().account(key).with_gas_mode(self.consortium.gas_mode())
        };
        Ledger { shared, consortium, deployment: self.deployment }
    }

    /// This client with another gas mode on both ledgers.
    pub fn with_gas_mode(self, gas: GasMode) -> Ledger {
        Ledger {
            shared: self.shared.with_gas_mode(gas),
            consortium: self.consortium.with_gas_mode(gas),
            deployment: self.deployment,
        }
    }

    /// The participant's address.
    pub fn address(&self) -> Address {
        self.shared.address()
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The account on the shared ledger.
    pub fn shared_account(&self) -> &Account {
        &self.shared
    }

    /// The account on the consortium ledger.
    pub fn consortium_account(&self) -> &Account {
        &self.consortium
    }

    /// The shared ledger's Directory.
    pub fn directory(&self) -> DirectoryClient {
        DirectoryClient::new(self.shared.clone(), self.deployment.shared.directory)
    }

    /// The consortium ledger's Directory (the same contract when co-hosted).
    pub fn consortium_directory(&self) -> DirectoryClient {
        DirectoryClient::new(self.consortium.clone(), self.deployment.consortium.directory)
    }

    /// Every distinct Directory: one when co-hosted, else shared then consortium. Directory
    /// entries (enclaves, hospitals, doctors, admins) must be made on each.
    pub fn directories(&self) -> Vec<DirectoryClient> {
        if self.deployment.co_hosted() {
            vec![self.directory()]
        } else {
            vec![self.directory(), self.consortium_directory()]
        }
    }

    /// RecordRegistry (shared).
    pub fn records(&self) -> RecordRegistryClient {
        RecordRegistryClient::new(self.shared.clone(), self.deployment.shared.record_registry)
    }

    /// AccessControl (shared).
    pub fn access(&self) -> AccessControlClient {
        AccessControlClient::new(self.shared.clone(), self.deployment.shared.access_control)
    }

    /// KeyAuthorization (shared).
    pub fn keys(&self) -> KeyAuthorizationClient {
        KeyAuthorizationClient::new(self.shared.clone(), self.deployment.shared.key_authorization)
    }

    /// UpdateLog (consortium).
    pub fn update_log(&self) -> UpdateLogClient {
        UpdateLogClient::new(self.consortium.clone(), self.deployment.consortium.update_log)
    }

    /// EhrRegistry (consortium).
    pub fn ehr(&self) -> EhrRegistryClient {
        EhrRegistryClient::new(self.consortium.clone(), self.deployment.consortium.ehr_registry)
    }

    /// Typed event queries over both ledgers.
    pub fn events(&self) -> crate::events::Events<'_> {
        crate::events::Events::new(self)
    }

    /// Approves an enclave on every distinct Directory (admins only).
    pub async fn approve_enclave_everywhere(
        &self,
        report_signer: Address,
        measurement: B256,
        encryption_key: B256,
        session_key: B256,
    ) -> Result<(), LedgerError> {
        for d in self.directories() {
            d.approve_enclave(report_signer, measurement, encryption_key, session_key).await?;
        }
        Ok(())
    }
}

/// The first `E` event in a receipt from `emitter`, or a decode error naming the transaction.
pub fn expect_event<E: SolEvent>(receipt: &Receipt, emitter: Address) -> Result<E, LedgerError> {
    receipt.event::<E>(emitter).ok_or_else(|| LedgerError::Decode {
        what: E::SIGNATURE.to_string(),
        message: format!("transaction {} emitted none", receipt.tx_hash),
    })
}
