//! Glue between alloy transaction types and revm: environments, intrinsic gas, execution.

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2930::AccessList;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction};
use revm::database_interface::{Database, DatabaseRef, WrapDatabaseRef};
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN;
use revm::primitives::hardfork::SpecId;
use revm::state::EvmState;
use revm::{Context, ExecuteEvm, Journal, MainBuilder};

use crate::error::CallError;
use crate::store::DbError;

/// The hardfork every block executes under.
pub const SPEC: SpecId = SpecId::CANCUN;

/// EIP-3860 limit on contract creation code.
pub const MAX_INITCODE_SIZE: usize = 2 * 24_576;

/// Parameters of the block a transaction or call executes in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockParams {
    pub number: u64,
    pub timestamp: u64,
    pub gas_limit: u64,
    pub base_fee: u64,
    pub coinbase: Address,
    pub prevrandao: B256,
}

impl BlockParams {
    /// Parameters used only to construct an EVM before its first real block.
    pub(crate) fn placeholder() -> Self {
        BlockParams {
            number: 0,
            timestamp: 0,
            gas_limit: 0,
            base_fee: 0,
            coinbase: Address::ZERO,
            prevrandao: B256::ZERO,
        }
    }

    pub(crate) fn env(&self) -> BlockEnv {
        let mut env = BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.coinbase,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.prevrandao),
            ..Default::default()
        };
        env.set_blob_excess_gas_and_price(0, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN);
        env
    }
}

pub(crate) fn cfg(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = chain_id;
    cfg
}

pub(crate) type Ctx<DB> = Context<BlockEnv, TxEnv, CfgEnv, DB, Journal<DB>, ()>;

/// A mainnet EVM over `db` for one block.
pub(crate) fn evm<DB: Database>(db: DB, chain_id: u64, block: &BlockParams) -> revm::MainnetEvm<Ctx<DB>> {
    let mut ctx: Ctx<DB> = Context::new(db, SPEC);
    ctx.cfg = cfg(chain_id);
    ctx.block = block.env();
    ctx.build_mainnet()
}

/// Execution environment of a signed transaction.
pub(crate) fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    let (tx_type, gas_price, priority, access_list) = match tx {
        TxEnvelope::Legacy(t) => (0u8, t.tx().gas_price, None, AccessList::default()),
        TxEnvelope::Eip2930(t) => (1, t.tx().gas_price, None, t.tx().access_list.clone()),
        TxEnvelope::Eip1559(t) => {
            (2, t.tx().max_fee_per_gas, Some(t.tx().max_priority_fee_per_gas), t.tx().access_list.clone())
        }
        other => (
            alloy_eips::Typed2718::ty(other),
            other.max_fee_per_gas(),
            other.max_priority_fee_per_gas(),
            AccessList::default(),
        ),
    };
    TxEnv {
        tx_type,
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price,
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list,
        gas_priority_fee: priority,
        ..Default::default()
    }
}

/// Intrinsic gas of a transaction under [`SPEC`].
pub(crate) fn intrinsic_gas(input: &[u8], is_create: bool, access_list: Option<&AccessList>) -> u64 {
    let (accounts, slots) = access_list
        .map(|al| (al.0.len() as u64, al.0.iter().map(|i| i.storage_keys.len() as u64).sum()))
        .unwrap_or((0, 0));
    let g =
        revm::context_interface::cfg::gas::calculate_initial_tx_gas(SPEC, input, is_create, accounts, slots, 0, None);
    g.initial_regular_gas + g.initial_state_gas
}

/// Execution environment of an `eth_call` / `eth_estimateGas` request. Returns the environment
/// and whether fees were given (if not, the call runs with base fee 0, like geth).
pub(crate) fn call_env(
    req: &TransactionRequest,
    chain_id: u64,
    gas: u64,
    nonce: u64,
) -> Result<(TxEnv, bool), CallError> {
    let data = req.input.input().cloned().unwrap_or_default();
    let kind = req.to.unwrap_or(TxKind::Create);
    let fees_given = req.gas_price.is_some() || req.max_fee_per_gas.is_some();
    let (tx_type, gas_price, priority) = if let Some(gp) = req.gas_price {
        (if req.access_list.is_some() { 1 } else { 0 }, gp, None)
    } else if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
        let max_fee = req.max_fee_per_gas.unwrap_or(0);
        (2, max_fee, Some(req.max_priority_fee_per_gas.unwrap_or(0)))
    } else {
        (2, 0, Some(0))
    };
    if let Some(cid) = req.chain_id
        && cid != chain_id
    {
        return Err(CallError::Invalid(format!("invalid chain id: have {cid}, want {chain_id}")));
    }
    Ok((
        TxEnv {
            tx_type,
            caller: req.from.unwrap_or_default(),
            gas_limit: gas,
            gas_price,
            kind,
            value: req.value.unwrap_or_default(),
            data,
            nonce,
            chain_id: Some(chain_id),
            access_list: req.access_list.clone().unwrap_or_default(),
            gas_priority_fee: priority,
            ..Default::default()
        },
        fees_given,
    ))
}

/// Runs a transaction against a read-only state without committing anything.
pub(crate) fn simulate<DB: DatabaseRef<Error = DbError>>(
    db: DB,
    chain_id: u64,
    block: &BlockParams,
    tx: TxEnv,
    disable_nonce_check: bool,
) -> Result<(ExecutionResult<HaltReason>, EvmState), CallError> {
    let mut evm = evm(WrapDatabaseRef(db), chain_id, block);
    evm.ctx.cfg.disable_nonce_check = disable_nonce_check;
    match evm.transact(tx) {
        Ok(r) => Ok((r.result, r.state)),
        Err(e) => Err(evm_error_to_call(e)),
    }
}

pub(crate) fn evm_error_to_call(e: EVMError<DbError, InvalidTransaction>) -> CallError {
    match e {
        EVMError::Transaction(t) => CallError::Invalid(invalid_tx_message(&t)),
        other => CallError::Query(crate::error::QueryError::Storage(other.to_string())),
    }
}

/// geth-like wording for revm's transaction validation errors.
pub(crate) fn invalid_tx_message(t: &InvalidTransaction) -> String {
    match t {
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
            format!("insufficient funds for gas * price + value: have {balance} want {fee}")
        }
        InvalidTransaction::NonceTooLow { tx, state } => format!("nonce too low: next nonce {state}, tx nonce {tx}"),
        InvalidTransaction::NonceTooHigh { tx, state } => format!("nonce too high: next nonce {state}, tx nonce {tx}"),
        InvalidTransaction::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}")
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock => "exceeds block gas limit".to_string(),
        InvalidTransaction::GasPriceLessThanBasefee => "max fee per gas less than block base fee".to_string(),
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => {
            "max priority fee per gas higher than max fee per gas".to_string()
        }
        InvalidTransaction::RejectCallerWithCode => "sender not an eoa".to_string(),
        InvalidTransaction::CreateInitCodeSizeLimit => "max initcode size exceeded".to_string(),
        other => other.to_string(),
    }
}

/// A halt reason in geth's words where they differ.
pub(crate) fn halt_message(h: &HaltReason) -> String {
    match h {
        HaltReason::OutOfGas(_) => "out of gas".to_string(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".to_string(),
        HaltReason::InvalidJump => "invalid jump destination".to_string(),
        HaltReason::StackUnderflow => "stack underflow".to_string(),
        HaltReason::StackOverflow => "stack limit reached 1024".to_string(),
        HaltReason::CreateCollision => "contract address collision".to_string(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".to_string(),
        HaltReason::CallTooDeep => "max call depth exceeded".to_string(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".to_string(),
        other => other.to_string(),
    }
}

/// Output of an execution result as a call error (for reverts and halts).
pub(crate) fn result_error(r: &ExecutionResult<HaltReason>) -> Option<CallError> {
    match r {
        ExecutionResult::Success { .. } => None,
        ExecutionResult::Revert { output, .. } => {
            Some(CallError::Reverted { data: output.clone(), reason: decode_reason(output) })
        }
        ExecutionResult::Halt { reason, .. } => Some(CallError::Halted(halt_message(reason))),
    }
}

/// Output bytes of a successful result.
pub(crate) fn result_output(r: &ExecutionResult<HaltReason>) -> Bytes {
    match r {
        ExecutionResult::Success { output, .. } => output.data().clone(),
        ExecutionResult::Revert { output, .. } => output.clone(),
        ExecutionResult::Halt { .. } => Bytes::new(),
    }
}

/// Decodes `Error(string)` and `Panic(uint256)` revert data (only those, like geth), into the
/// text geth appends to "execution reverted: ".
pub(crate) fn decode_reason(data: &[u8]) -> Option<String> {
    use alloy_sol_types::SolError;
    if let Ok(r) = alloy_sol_types::Revert::abi_decode(data) {
        return Some(r.reason);
    }
    if let Ok(p) = alloy_sol_types::Panic::abi_decode(data) {
        return Some(p.as_geth_str().into_owned());
    }
    None
}
