//! Shared helpers for the chain's integration tests: a hand-assembled test contract, raw
//! transaction signing, and JSON-RPC error extraction.
#![allow(dead_code)]

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

/// `Stored(uint256)` event: topic0 = keccak("Stored(uint256)"), topic1 = caller, data = value.
pub fn stored_topic() -> alloy_primitives::B256 {
    keccak256("Stored(uint256)")
}

/// Selector of the custom error `Unauthorized(address)`.
pub fn unauthorized_selector() -> [u8; 4] {
    let h = keccak256("Unauthorized(address)");
    [h[0], h[1], h[2], h[3]]
}

/// Runtime code of the test contract (hand-assembled):
/// - empty calldata: returns storage slot 0;
/// - `0x01 ‖ value(32)`: stores value in slot 0 and emits `Stored(value)` with the caller as
///   topic 1;
/// - `0x02`: reverts with the custom error `Unauthorized(msg.sender)`;
/// - `0x03`: reverts with `Error("nope")`;
/// - anything else: reverts with empty data.
pub fn runtime_code() -> Vec<u8> {
    let mut c: Vec<u8> = Vec::new();
    // dispatcher; jump targets are patched below
    c.extend_from_slice(&[0x36, 0x15, 0x60, 0x00, 0x57]); // CALLDATASIZE ISZERO PUSH1 GET JUMPI   (GET at idx 3)
    c.extend_from_slice(&[0x60, 0x00, 0x35, 0x60, 0xf8, 0x1c]); // first byte
    c.extend_from_slice(&[0x80, 0x60, 0x01, 0x14, 0x60, 0x00, 0x57]); // ==1 -> SET (idx 16)
    c.extend_from_slice(&[0x80, 0x60, 0x02, 0x14, 0x60, 0x00, 0x57]); // ==2 -> CUSTOM (idx 23)
    c.extend_from_slice(&[0x80, 0x60, 0x03, 0x14, 0x60, 0x00, 0x57]); // ==3 -> REASON (idx 30)
    c.extend_from_slice(&[0x60, 0x00, 0x80, 0xfd]); // revert(0,0)
    let get = c.len();
    c.extend_from_slice(&[0x5b, 0x60, 0x00, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    let set = c.len();
    c.extend_from_slice(&[0x5b, 0x60, 0x01, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x33, 0x7f]);
    c.extend_from_slice(stored_topic().as_slice());
    c.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xa2, 0x00]);
    let custom = c.len();
    c.extend_from_slice(&[0x5b, 0x63]);
    c.extend_from_slice(&unauthorized_selector());
    c.extend_from_slice(&[0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x33, 0x60, 0x04, 0x52, 0x60, 0x24, 0x60, 0x00, 0xfd]);
    let reason = c.len();
    c.extend_from_slice(&[0x5b, 0x63, 0x08, 0xc3, 0x79, 0xa0, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52]);
    c.extend_from_slice(&[0x60, 0x20, 0x60, 0x04, 0x52, 0x60, 0x04, 0x60, 0x24, 0x52, 0x7f]);
    let mut word = [0u8; 32];
    word[..4].copy_from_slice(b"nope");
    c.extend_from_slice(&word);
    c.extend_from_slice(&[0x60, 0x44, 0x52, 0x60, 0x64, 0x60, 0x00, 0xfd]);
    for (idx, target) in [(3, get), (16, set), (23, custom), (30, reason)] {
        c[idx] = u8::try_from(target).expect("small contract");
    }
    c
}

/// Init code that deploys [`runtime_code`].
pub fn init_code() -> Vec<u8> {
    let rt = runtime_code();
    let len = u16::try_from(rt.len()).expect("small contract").to_be_bytes();
    let header_len: u16 = 15;
    let off = header_len.to_be_bytes();
    let mut c =
        vec![0x61, len[0], len[1], 0x61, off[0], off[1], 0x60, 0x00, 0x39, 0x61, len[0], len[1], 0x60, 0x00, 0xf3];
    assert_eq!(c.len(), header_len as usize);
    c.extend_from_slice(&rt);
    c
}

/// Calldata storing `v`.
pub fn set_calldata(v: u64) -> Bytes {
    let mut d = vec![0x01];
    d.extend_from_slice(&U256::from(v).to_be_bytes::<32>());
    Bytes::from(d)
}

/// A signed EIP-1559 transaction, EIP-2718 encoded.
#[allow(clippy::too_many_arguments)]
pub fn sign_1559(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
    max_fee: u128,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: 0,
        to,
        value,
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
    let env: TxEnvelope = tx.into_signed(sig).into();
    Bytes::from(env.encoded_2718())
}

/// A simple value transfer (21,000 gas, 2 gwei fee cap).
pub fn transfer(signer: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, wei: u64) -> Bytes {
    sign_1559(signer, chain_id, nonce, TxKind::Call(to), U256::from(wei), Bytes::new(), 21_000, 2_000_000_000)
}

/// A legacy EIP-155 transfer.
pub fn legacy_transfer(signer: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, wei: u64) -> Bytes {
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(wei),
        input: Bytes::new(),
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
    let env: TxEnvelope = tx.into_signed(sig).into();
    Bytes::from(env.encoded_2718())
}

/// A transfer with a given (possibly invalid) signature.
pub fn with_signature(chain_id: u64, nonce: u64, to: Address, sig: Signature) -> Bytes {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let env: TxEnvelope = tx.into_signed(sig).into();
    Bytes::from(env.encoded_2718())
}

/// `(code, message, data)` of a JSON-RPC error response.
pub fn rpc_error<E: std::fmt::Debug>(e: &alloy_json_rpc::RpcError<E>) -> (i64, String, Option<String>) {
    let p = e.as_error_resp().unwrap_or_else(|| panic!("not an error response: {e:?}"));
    (p.code, p.message.to_string(), p.data.as_ref().map(|d| d.get().trim_matches('"').to_string()))
}
