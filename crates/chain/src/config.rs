//! Genesis and node configuration, and the deterministic development accounts.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

use crate::error::ChainError;

/// The chain id used by default: the same as hardhat's and anvil's local networks.
pub const DEFAULT_CHAIN_ID: u64 = 31337;

/// Default block gas limit (30 million, like mainnet before 2024 and hardhat's default).
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// One gwei in wei.
pub const GWEI: u64 = 1_000_000_000;

/// One ether in wei.
pub const ETHER: u128 = 1_000_000_000_000_000_000;

/// The BIP-39 phrase the development accounts are derived from.
///
/// It is the well-known public test phrase that hardhat and anvil use by default, so the
/// development accounts of the embedded chain are *the same addresses and keys* as hardhat's
/// default accounts (account 0 is `0xf39F…2266`). These keys are public: never use them for
/// anything but local development and tests.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The BIP-32 derivation path prefix of the development accounts; account `i` is
/// `m/44'/60'/0'/0/i`.
pub const DEV_DERIVATION_PATH_PREFIX: &str = "m/44'/60'/0'/0/";

/// Default number of development accounts funded at genesis (hardhat's default too).
pub const DEFAULT_DEV_ACCOUNTS: u32 = 20;

/// Default balance of each development account: 10,000 ether (hardhat's default too).
pub const DEFAULT_DEV_BALANCE: u128 = 10_000 * ETHER;

/// Derives the first `count` development signers from [`DEV_MNEMONIC`] along
/// [`DEV_DERIVATION_PATH_PREFIX`] (`m/44'/60'/0'/0/0`, `…/1`, …).
///
/// Deterministic: the same `count` always yields the same keys, identical to hardhat's and
/// anvil's default accounts.
pub fn dev_signers(count: u32) -> Result<Vec<PrivateKeySigner>, ChainError> {
    let parent = MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .build_parent_key()
        .map_err(|e| ChainError::Config(format!("deriving development keys: {e}")))?;
    (0..count)
        .map(|i| {
            parent
                .child(i)
                .map(|k| k.signer())
                .map_err(|e| ChainError::Config(format!("deriving development key {i}: {e}")))
        })
        .collect()
}

/// The development signer with index `index` (see [`dev_signers`]).
pub fn dev_signer(index: u32) -> Result<PrivateKeySigner, ChainError> {
    let parent = MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .build_parent_key()
        .map_err(|e| ChainError::Config(format!("deriving development keys: {e}")))?;
    parent
        .child(index)
        .map(|k| k.signer())
        .map_err(|e| ChainError::Config(format!("deriving development key {index}: {e}")))
}

/// How the base fee of each block is chosen (EIP-1559).
///
/// Every transaction's `maxFeePerGas` (or legacy `gasPrice`) must be at least the base fee of the
/// block it goes into; the pool checks this against the base fee of the next block when the
/// transaction is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseFeePolicy {
    /// Every block has this base fee (in wei). Simple and predictable: fee estimates never go
    /// stale. This is the default, at 1 gwei.
    Constant(u64),
    /// The standard EIP-1559 update rule (elasticity 2, max change 1/8 per block) starting from
    /// `initial` at genesis. Note that blocks are sealed as soon as transactions are pending, so
    /// under light load the base fee decays quickly towards its floor of 7 wei.
    Eip1559 {
        /// Base fee of the genesis block, in wei.
        initial: u64,
    },
}

impl Default for BaseFeePolicy {
    fn default() -> Self {
        Self::Constant(GWEI)
    }
}

impl BaseFeePolicy {
    /// Base fee of the genesis block.
    pub fn genesis_base_fee(&self) -> u64 {
        match *self {
            Self::Constant(fee) => fee,
            Self::Eip1559 { initial } => initial,
        }
    }

    /// Base fee of the child of a block with the given gas use, limit and base fee.
    pub fn next_base_fee(&self, parent_gas_used: u64, parent_gas_limit: u64, parent_base_fee: u64) -> u64 {
        match *self {
            Self::Constant(fee) => fee,
            Self::Eip1559 { .. } => alloy_eips::eip1559::calc_next_block_base_fee(
                parent_gas_used,
                parent_gas_limit,
                parent_base_fee,
                alloy_eips::eip1559::BaseFeeParams::ethereum(),
            ),
        }
    }
}

/// An account funded (and optionally given code and storage) at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenesisAccount {
    /// The account's address.
    pub address: Address,
    /// Initial balance in wei.
    pub balance: U256,
    /// Initial nonce.
    pub nonce: u64,
    /// Runtime bytecode (empty for an externally owned account).
    pub code: Bytes,
    /// Initial storage slots.
    pub storage: Vec<(B256, B256)>,
}

/// Genesis and node configuration of an embedded chain.
///
/// The genesis part (chain id, gas limit, base fee policy, accounts, genesis timestamp,
/// coinbase) is fixed when a data directory is first created; reopening a directory with a
/// different genesis part is refused with [`ChainError::GenesisMismatch`]. The node part (limits,
/// client version) may change between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// EIP-155 chain id. Default [`DEFAULT_CHAIN_ID`] (31337).
    pub chain_id: u64,
    /// Gas limit of every block. Default [`DEFAULT_BLOCK_GAS_LIMIT`].
    pub block_gas_limit: u64,
    /// Base fee policy. Default: constant 1 gwei.
    pub base_fee: BaseFeePolicy,
    /// Suggested priority fee (tip) returned by `eth_maxPriorityFeePerGas` and added to the base
    /// fee by `eth_gasPrice`. Default 1 gwei, like hardhat.
    pub suggested_priority_fee: u64,
    /// Number of development accounts (see [`dev_signers`]) funded at genesis. Default 20.
    pub dev_accounts: u32,
    /// Balance of each development account. Default 10,000 ether.
    pub dev_balance: U256,
    /// Further accounts to create at genesis.
    pub alloc: Vec<GenesisAccount>,
    /// Genesis timestamp in seconds since the Unix epoch. `None` (default): the wall clock when
    /// the chain is first created.
    pub genesis_timestamp: Option<u64>,
    /// Beneficiary of every block (receives priority fees). Default: the zero address.
    pub coinbase: Address,
    /// Widest block range one `eth_getLogs` call may scan. Default 10,000 blocks.
    pub max_logs_block_range: u64,
    /// Most logs one `eth_getLogs` call may return. Default 10,000.
    pub max_logs_results: usize,
    /// Most requests in one JSON-RPC batch. Default 1,000.
    pub max_batch_size: usize,
    /// Largest HTTP request body accepted, in bytes. Default 5 MiB.
    pub max_request_body_bytes: usize,
    /// Largest raw signed transaction accepted, in bytes. Default 128 KiB (like geth).
    pub max_tx_bytes: usize,
    /// Most transactions waiting in the pool at once; more are refused with "txpool is full".
    /// Default 100,000.
    pub max_pool_size: usize,
    /// Group commit under load: when the previous block carried `k > 1` transactions and fewer
    /// than `k` are pending, the producer waits up to this long for the senders it just
    /// acknowledged to send again (stopping early once `k` are pending, or when no transaction
    /// arrived for a quarter of this time). A lone transaction is never delayed (`k = 1`).
    /// Default 1 ms; zero seals strictly as soon as anything is pending.
    pub batch_wait: std::time::Duration,
    /// Accounts and storage slots the block producer keeps cached from one block to the next
    /// (about 100 bytes each); past it, the cache starts again from the committed state after
    /// the next block, so the producer's memory stays bounded however large the state grows.
    /// Default 262,144.
    pub state_cache_entries: usize,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            base_fee: BaseFeePolicy::default(),
            suggested_priority_fee: GWEI,
            dev_accounts: DEFAULT_DEV_ACCOUNTS,
            dev_balance: U256::from(DEFAULT_DEV_BALANCE),
            alloc: Vec::new(),
            genesis_timestamp: None,
            coinbase: Address::ZERO,
            max_logs_block_range: 10_000,
            max_logs_results: 10_000,
            max_batch_size: 1_000,
            max_request_body_bytes: 5 * 1024 * 1024,
            max_tx_bytes: 128 * 1024,
            max_pool_size: 100_000,
            batch_wait: std::time::Duration::from_millis(1),
            state_cache_entries: 1 << 18,
        }
    }
}

impl ChainConfig {
    /// The default configuration with another chain id.
    pub fn with_chain_id(chain_id: u64) -> Self {
        Self { chain_id, ..Self::default() }
    }

    /// All genesis accounts: the development accounts followed by [`ChainConfig::alloc`].
    /// A later entry for the same address replaces an earlier one.
    pub fn genesis_accounts(&self) -> Result<Vec<GenesisAccount>, ChainError> {
        let mut out: Vec<GenesisAccount> = dev_signers(self.dev_accounts)?
            .into_iter()
            .map(|s| GenesisAccount { address: s.address(), balance: self.dev_balance, ..Default::default() })
            .collect();
        for acc in &self.alloc {
            if let Some(existing) = out.iter_mut().find(|a| a.address == acc.address) {
                *existing = acc.clone();
            } else {
                out.push(acc.clone());
            }
        }
        Ok(out)
    }

    pub(crate) fn validate(&self) -> Result<(), ChainError> {
        if self.chain_id == 0 {
            return Err(ChainError::Config("chain id must not be 0".into()));
        }
        if self.block_gas_limit < 21_000 {
            return Err(ChainError::Config("block gas limit must be at least 21000".into()));
        }
        if self.max_logs_block_range == 0 || self.max_batch_size == 0 || self.max_pool_size == 0 {
            return Err(ChainError::Config("limits must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_accounts_are_hardhats_defaults() {
        let s = dev_signers(3).expect("derive");
        let want = [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ];
        for (s, w) in s.iter().zip(want) {
            assert_eq!(s.address(), w.parse::<Address>().expect("address"));
        }
        assert_eq!(dev_signer(2).expect("derive").address(), s[2].address());
    }

    #[test]
    fn genesis_alloc_overrides_dev_account() {
        let dev0 = dev_signer(0).expect("derive").address();
        let cfg = ChainConfig {
            dev_accounts: 2,
            alloc: vec![GenesisAccount { address: dev0, balance: U256::from(5), ..Default::default() }],
            ..Default::default()
        };
        let accs = cfg.genesis_accounts().expect("accounts");
        assert_eq!(accs.len(), 2);
        assert_eq!(accs[0].balance, U256::from(5));
    }

    #[test]
    fn base_fee_policies() {
        assert_eq!(BaseFeePolicy::Constant(7).next_base_fee(30_000_000, 30_000_000, 7), 7);
        let p = BaseFeePolicy::Eip1559 { initial: 1_000_000_000 };
        assert_eq!(p.next_base_fee(15_000_000, 30_000_000, 1_000_000_000), 1_000_000_000);
        assert_eq!(p.next_base_fee(30_000_000, 30_000_000, 1_000_000_000), 1_125_000_000);
        assert_eq!(p.next_base_fee(0, 30_000_000, 1_000_000_000), 875_000_000);
    }
}
