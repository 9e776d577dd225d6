//! The embedded chain through real alloy providers — over HTTP on loopback and over the
//! in-process transport — running the same scenario: transfers, contract deployment and calls,
//! logs, reverts, and every kind of refused request with its JSON-RPC error.

mod common;

use alloy_eips::BlockNumberOrTag;
use alloy_network::{ReceiptResponse, TransactionBuilder};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use common::*;
use healthchain_chain::{Chain, ChainConfig, GWEI, dev_signer};
use serde_json::{Value, json};

const CHAIN_ID: u64 = 31337;

async fn scenario<P: Provider>(p: P, label: &str) {
    let alice = dev_signer(0).expect("dev key");
    let bob = PrivateKeySigner::random();

    // --- basics
    assert_eq!(p.get_chain_id().await.expect("chainId"), CHAIN_ID, "{label}");
    let start = p.get_block_number().await.expect("blockNumber");
    let alice_balance = p.get_balance(alice.address()).await.expect("balance");
    assert!(
        alice_balance > U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64)),
        "{label}: dev account funded"
    );
    let version: String = p.client().request_noparams("web3_clientVersion").await.expect("clientVersion");
    assert!(version.starts_with("healthchain/"), "{label}");
    let net: String = p.client().request_noparams("net_version").await.expect("net_version");
    assert_eq!(net, CHAIN_ID.to_string());

    // --- fund transfer through alloy's fillers (nonce, gas estimate, fees, chain id)
    let tx = TransactionRequest::default()
        .with_to(bob.address())
        .with_value(U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64)));
    let receipt = p.send_transaction(tx).await.expect("send").get_receipt().await.expect("receipt");
    assert!(receipt.status(), "{label}: transfer succeeded");
    assert_eq!(receipt.gas_used(), 21_000);
    assert_eq!(receipt.from, alice.address());
    let bob_balance = p.get_balance(bob.address()).await.expect("balance");
    assert_eq!(bob_balance, U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64)), "{label}");
    let block_no = receipt.block_number.expect("block number");
    assert!(block_no > start);
    let block = p.get_block_by_number(block_no.into()).full().await.expect("block").expect("exists");
    assert_eq!(block.header.hash, receipt.block_hash.expect("hash"));
    assert_eq!(block.header.inner.hash_slow(), block.header.hash, "{label}: hash = keccak(rlp(header))");
    let parent = p.get_block_by_hash(block.header.inner.parent_hash).await.expect("parent").expect("exists");
    assert_eq!(parent.header.number + 1, block_no);
    let by_hash = p.get_transaction_by_hash(receipt.transaction_hash).await.expect("tx").expect("exists");
    assert_eq!(by_hash.block_number, Some(block_no));

    // --- deploy the test contract
    let deploy = TransactionRequest::default().with_deploy_code(Bytes::from(init_code()));
    let receipt = p.send_transaction(deploy).await.expect("deploy").get_receipt().await.expect("receipt");
    assert!(receipt.status(), "{label}: deployment succeeded");
    let contract = receipt.contract_address.expect("contract address");
    let code = p.get_code_at(contract).await.expect("code");
    assert_eq!(code.as_ref(), runtime_code().as_slice(), "{label}: runtime code stored");

    // --- call it
    let get = TransactionRequest::default().with_to(contract);
    let out = p.call(get.clone()).await.expect("call");
    assert_eq!(U256::from_be_slice(&out), U256::ZERO);

    // --- state-changing call with a log
    let set = TransactionRequest::default().with_to(contract).with_input(set_calldata(42));
    let receipt = p.send_transaction(set).await.expect("set").get_receipt().await.expect("receipt");
    assert!(receipt.status(), "{label}");
    let logs = receipt.inner.logs();
    assert_eq!(logs.len(), 1, "{label}: one log");
    assert_eq!(logs[0].address(), contract);
    assert_eq!(logs[0].topics()[0], stored_topic());
    assert_eq!(logs[0].topics()[1], alice.address().into_word());
    assert_eq!(U256::from_be_slice(&logs[0].data().data), U256::from(42));
    let out = p.call(get.clone()).await.expect("call");
    assert_eq!(U256::from_be_slice(&out), U256::from(42), "{label}: stored value readable");
    let slot = p.get_storage_at(contract, U256::ZERO).await.expect("storage");
    assert_eq!(slot, U256::from(42));

    // --- logs queried back
    let set_block = receipt.block_number.expect("block");
    let filter = Filter::new()
        .address(contract)
        .event_signature(stored_topic())
        .from_block(0u64)
        .to_block(BlockNumberOrTag::Latest);
    let found = p.get_logs(&filter).await.expect("getLogs");
    assert_eq!(found.len(), 1, "{label}: getLogs by address and topic");
    assert_eq!(found[0].transaction_hash, Some(receipt.transaction_hash));
    assert_eq!(found[0].block_number, Some(set_block));
    let by_sender = Filter::new().topic1(alice.address().into_word()).from_block(set_block).to_block(set_block);
    assert_eq!(p.get_logs(&by_sender).await.expect("getLogs").len(), 1, "{label}: topic1 filter");
    let wrong_topic = Filter::new().address(contract).event_signature(B256::repeat_byte(7)).from_block(0u64);
    assert!(p.get_logs(&wrong_topic).await.expect("getLogs").is_empty());
    let wrong_addr = Filter::new().address(Address::repeat_byte(9)).from_block(0u64);
    assert!(p.get_logs(&wrong_addr).await.expect("getLogs").is_empty());
    let before = Filter::new().address(contract).from_block(0u64).to_block(set_block - 1);
    assert!(p.get_logs(&before).await.expect("getLogs").is_empty(), "{label}: block range filter");
    let at_hash = Filter::new().at_block_hash(receipt.block_hash.expect("hash"));
    assert_eq!(p.get_logs(&at_hash).await.expect("getLogs").len(), 1);

    // --- revert data surfaced: custom error
    let custom =
        TransactionRequest::default().with_from(alice.address()).with_to(contract).with_input(Bytes::from(vec![0x02]));
    let err = p.call(custom.clone()).await.expect_err("reverts");
    let (code, message, data) = rpc_error(&err);
    assert_eq!(code, 3, "{label}: execution reverted code");
    assert!(message.contains("execution reverted"), "{label}: {message}");
    let mut expected = unauthorized_selector().to_vec();
    expected.extend_from_slice(alice.address().into_word().as_slice());
    assert_eq!(data.as_deref(), Some(format!("0x{}", hex_of(&expected)).as_str()), "{label}: revert data");
    assert_eq!(err.as_error_resp().and_then(|e| e.as_revert_data()).map(|b| b.to_vec()), Some(expected.clone()));
    let err = p.estimate_gas(custom).await.expect_err("estimate reverts");
    assert_eq!(rpc_error(&err).0, 3, "{label}: estimateGas reverts with code 3");
    // --- revert reason string
    let reason = TransactionRequest::default().with_to(contract).with_input(Bytes::from(vec![0x03]));
    let err = p.call(reason).await.expect_err("reverts");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, 3);
    assert_eq!(message, "execution reverted: nope", "{label}");

    // --- a reverting transaction is mined with status 0
    let nonce = p.get_transaction_count(alice.address()).await.expect("nonce");
    let raw = sign_1559(
        &alice,
        CHAIN_ID,
        nonce,
        TxKind::Call(contract),
        U256::ZERO,
        Bytes::from(vec![0x02]),
        100_000,
        2 * u128::from(GWEI),
    );
    let pending = p.send_raw_transaction(&raw).await.expect("send raw");
    let receipt = p.get_transaction_receipt(*pending.tx_hash()).await.expect("receipt").expect("exists");
    assert!(!receipt.status(), "{label}: reverted tx has status 0");

    // --- legacy (EIP-155) transactions work too
    let nonce = p.get_transaction_count(alice.address()).await.expect("nonce");
    let raw = legacy_transfer(&alice, CHAIN_ID, nonce, bob.address(), 7);
    let pending = p.send_raw_transaction(&raw).await.expect("legacy");
    let receipt = p.get_transaction_receipt(*pending.tx_hash()).await.expect("receipt").expect("exists");
    assert!(receipt.status());

    // --- refused transactions, each with its typed error
    let nonce = p.get_transaction_count(alice.address()).await.expect("nonce");
    let err = p.send_raw_transaction(&transfer(&alice, 1, nonce, bob.address(), 1)).await.expect_err("wrong chain id");
    let (code, message, _) = rpc_error(&err);
    assert_eq!((code, message.as_str()), (-32000, "invalid chain id: have 1, want 31337"), "{label}");

    let err = p
        .send_raw_transaction(&transfer(&alice, CHAIN_ID, nonce.saturating_sub(1), bob.address(), 1))
        .await
        .expect_err("low nonce");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32000);
    assert_eq!(message, format!("nonce too low: next nonce {nonce}, tx nonce {}", nonce - 1), "{label}");
    let err =
        p.send_raw_transaction(&transfer(&alice, CHAIN_ID, nonce + 5, bob.address(), 1)).await.expect_err("high nonce");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32000);
    assert!(
        message.starts_with(&format!("nonce too high: next nonce {nonce}, tx nonce {}", nonce + 5)),
        "{label}: {message}"
    );

    let pauper = PrivateKeySigner::random();
    let err = p.send_raw_transaction(&transfer(&pauper, CHAIN_ID, 0, bob.address(), 1)).await.expect_err("no funds");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32000);
    assert!(message.starts_with("insufficient funds for gas * price + value"), "{label}: {message}");

    let high_s = {
        // A valid signature made malleable (s -> n - s): EIP-2 forbids it.
        let good = transfer(&alice, CHAIN_ID, nonce, bob.address(), 1);
        let env = <alloy_consensus::TxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(&mut good.as_ref())
            .expect("decode");
        let sig = *env.signature();
        let n =
            U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).expect("n");
        with_signature(CHAIN_ID, nonce, bob.address(), Signature::new(sig.r(), n - sig.s(), !sig.v()))
    };
    let err = p.send_raw_transaction(&high_s).await.expect_err("high s");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32000);
    assert!(message.starts_with("invalid sender"), "{label}: {message}");
    let zero_sig = with_signature(CHAIN_ID, nonce, bob.address(), Signature::new(U256::ZERO, U256::from(1), false));
    let err = p.send_raw_transaction(&zero_sig).await.expect_err("r = 0");
    assert!(rpc_error(&err).1.starts_with("invalid sender"), "{label}");

    let err = p.send_raw_transaction(&[0x02, 0xf8, 0x01, 0x02]).await.expect_err("malformed rlp");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32602, "{label}: malformed RLP is invalid params");
    assert!(message.starts_with("failed to decode signed transaction"), "{label}: {message}");

    let low_gas = sign_1559(
        &alice,
        CHAIN_ID,
        nonce,
        TxKind::Call(bob.address()),
        U256::ZERO,
        Bytes::new(),
        20_000,
        2 * u128::from(GWEI),
    );
    let err = p.send_raw_transaction(&low_gas).await.expect_err("intrinsic gas");
    assert_eq!(rpc_error(&err).1, "intrinsic gas too low: gas 20000, minimum needed 21000");
    let cheap = sign_1559(&alice, CHAIN_ID, nonce, TxKind::Call(bob.address()), U256::ZERO, Bytes::new(), 21_000, 1);
    let err = p.send_raw_transaction(&cheap).await.expect_err("fee cap");
    assert!(rpc_error(&err).1.starts_with("max fee per gas less than block base fee"), "{label}");

    // Nothing above changed the nonce.
    assert_eq!(p.get_transaction_count(alice.address()).await.expect("nonce"), nonce);

    // --- unknown method
    let err = p.client().request_noparams::<Value>("eth_noSuchMethod").await.expect_err("unknown");
    let (code, message, _) = rpc_error(&err);
    assert_eq!(code, -32601);
    assert!(message.contains("eth_noSuchMethod"));
    // --- invalid params
    let err = p.client().request::<_, Value>("eth_getBalance", ("not-an-address",)).await.expect_err("bad params");
    assert_eq!(rpc_error(&err).0, -32602);
    // --- historical state is refused clearly
    let err = p.get_balance(alice.address()).number(1).await.expect_err("historical");
    assert!(rpc_error(&err).1.starts_with("historical state not available"), "{label}");

    // --- fee endpoints
    let gp = p.get_gas_price().await.expect("gasPrice");
    assert_eq!(gp, 2 * u128::from(GWEI));
    let tip = p.get_max_priority_fee_per_gas().await.expect("tip");
    assert_eq!(tip, u128::from(GWEI));
    let head = p.get_block_number().await.expect("head");
    let hist = p.get_fee_history(4, BlockNumberOrTag::Latest, &[25.0, 75.0]).await.expect("feeHistory");
    assert_eq!(hist.oldest_block, head - 3);
    assert_eq!(hist.base_fee_per_gas.len(), 5);
    assert_eq!(hist.gas_used_ratio.len(), 4);
    assert_eq!(hist.reward.as_ref().map(|r| r.len()), Some(4));

    // --- time travel hooks (hardhat-compatible)
    let before =
        p.get_block_by_number(BlockNumberOrTag::Latest).await.expect("block").expect("exists").header.timestamp;
    let _: String = p.client().request("evm_increaseTime", (3600u64,)).await.expect("increaseTime");
    let _: String = p.client().request_noparams("evm_mine").await.expect("mine");
    let after = p.get_block_by_number(BlockNumberOrTag::Latest).await.expect("block").expect("exists");
    assert!(after.header.timestamp >= before + 3600, "{label}: time advanced");
    assert_eq!(after.header.number, head + 1, "{label}: evm_mine sealed a block");
    let target = after.header.timestamp + 100;
    let _: String = p.client().request("evm_mine", (target,)).await.expect("mine at");
    let b = p.get_block_by_number(BlockNumberOrTag::Latest).await.expect("block").expect("exists");
    assert_eq!(b.header.timestamp, target);
    let err = p.client().request::<_, String>("evm_mine", (target - 50,)).await.expect_err("back in time");
    assert_eq!(rpc_error(&err).0, -32602);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloy_provider_over_in_process_transport() {
    let chain = Chain::in_memory(ChainConfig::default()).expect("chain");
    let p = ProviderBuilder::new().wallet(dev_signer(0).expect("key")).connect_client(chain.rpc_client());
    scenario(p, "in-process").await;
    assert!(chain.verify_hash_chain().expect("chain verifies") > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloy_provider_over_http() {
    let chain = Chain::temporary(ChainConfig::default()).expect("chain");
    let server = chain.serve_http("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    assert!(server.local_addr().ip().is_loopback());
    let p = ProviderBuilder::new().wallet(dev_signer(0).expect("key")).connect_http(server.url().parse().expect("url"));
    scenario(p, "http").await;
    assert!(chain.verify_hash_chain().expect("chain verifies") > 5);
    server.shutdown().await;
}

/// Raw JSON-RPC framing over HTTP: parse errors, invalid requests, batches, notifications,
/// body size limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_framing_over_http() {
    let config = ChainConfig { max_request_body_bytes: 64 * 1024, max_batch_size: 10, ..ChainConfig::default() };
    let chain = Chain::in_memory(config).expect("chain");
    let server = chain.serve_http("127.0.0.1:0".parse().expect("addr")).await.expect("serve");
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let http = http.clone();
        let url = server.url();
        async move {
            let r = http.post(url).header("content-type", "application/json").body(body).send().await.expect("post");
            let status = r.status().as_u16();
            let bytes = r.bytes().await.expect("body");
            let v: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("json") };
            (status, v)
        }
    };

    let (status, v) = post(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(v["error"]["code"], -32700, "malformed JSON");
    assert_eq!(v["id"], Value::Null);

    let (_, v) = post(br#"{"jsonrpc":"2.0","id":7}"#.to_vec()).await;
    assert_eq!(v["error"]["code"], -32600, "no method");
    assert_eq!(v["id"], 7);
    let (_, v) = post(br#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#.to_vec()).await;
    assert_eq!(v["error"]["code"], -32600, "wrong version");
    let (_, v) = post(br#"[]"#.to_vec()).await;
    assert_eq!(v["error"]["code"], -32600, "empty batch");
    let (_, v) = post(br#"42"#.to_vec()).await;
    assert_eq!(v["error"]["code"], -32600, "not an object");
    let (_, v) = post(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{"a":1}}"#.to_vec()).await;
    assert_eq!(v["error"]["code"], -32602, "named params");

    // Batch: order kept, each entry answered on its own, notifications not answered.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_nope"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "net_version", "params": []}
    ]);
    let (_, v) = post(batch.to_string().into_bytes()).await;
    let arr = v.as_array().expect("batch response");
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[0]["result"], "0x7a69");
    assert_eq!(arr[1]["id"], "two");
    assert_eq!(arr[1]["error"]["code"], -32601);
    assert_eq!(arr[2]["error"]["code"], -32600);
    assert_eq!(arr[3]["result"], "31337");

    // Notification only: no content.
    let (status, v) = post(br#"{"jsonrpc":"2.0","method":"eth_chainId"}"#.to_vec()).await;
    assert_eq!((status, v), (204, Value::Null));

    // Limits.
    let big: Vec<Value> = (0..11).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId"})).collect();
    let (_, v) = post(Value::Array(big).to_string().into_bytes()).await;
    assert_eq!(v["error"]["code"], -32005, "batch too large");
    let huge =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{{"data":"0x{}"}}]}}"#, "00".repeat(40_000));
    let r = http.post(server.url()).header("content-type", "application/json").body(huge).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 413, "body limit");

    // eth_getLogs range cap.
    let (_, v) = post(
        br#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"0x100000"}]}"#
            .to_vec(),
    )
    .await;
    assert_eq!(v["result"], json!([]), "toBlock beyond head is clamped");
    server.shutdown().await;
}

/// The same framing checks straight through the in-process entry point.
#[tokio::test]
async fn json_rpc_framing_in_process() {
    let chain = Chain::in_memory(ChainConfig { max_logs_block_range: 2, ..ChainConfig::default() }).expect("chain");
    let call = |b: &'static [u8]| {
        let chain = chain.clone();
        async move { serde_json::from_slice::<Value>(&chain.handle_rpc(b).await.expect("response")).expect("json") }
    };
    assert_eq!(call(b"{oops").await["error"]["code"], -32700);
    assert_eq!(call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_bogus"}"#).await["error"]["code"], -32601);
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xzz"]}"#).await;
    assert_eq!(v["error"]["code"], -32602, "non-hex raw tx");
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xc0"]}"#).await;
    assert_eq!(v["error"]["code"], -32602, "malformed RLP");
    for _ in 0..3 {
        chain.mine(None).await.expect("mine");
    }
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"0x3"}]}"#)
        .await;
    assert_eq!(v["error"]["code"], -32005, "range cap");
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x3","toBlock":"0x1"}]}"#)
        .await;
    assert_eq!(v["error"]["code"], -32602, "inverted range");
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x2", true]}"#).await;
    assert_eq!(v["result"]["number"], "0x2");
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x99", false]}"#).await;
    assert_eq!(v["result"], Value::Null);
    let v = call(br#"{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":["0x0000000000000000000000000000000000000000000000000000000000000001"]}"#).await;
    assert_eq!(v["result"], Value::Null);
}
