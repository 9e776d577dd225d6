//! The embedded chain's JSON-RPC handler (`POST /rpc` of a node and of
//! `healthchain-chain`, and the in-process transport) on a chain with the contracts
//! deployed. Any body gets a JSON-RPC answer — a result or a typed error for every request
//! that has an id — or none when it holds only notifications; never a panic.
//!
//! The chain lives for the whole process (deploying takes a second), so inputs that mine
//! blocks or move the clock change what later inputs see.
#![no_main]

use healthchain_fuzz::chain::deployed;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let deployed = deployed();
    let Some(answer) = deployed.runtime.block_on(deployed.chain.handle_rpc(data)) else { return };
    let answer: Value = serde_json::from_slice(&answer).expect("the chain answers JSON");
    match &answer {
        Value::Array(responses) => {
            assert!(!responses.is_empty(), "an empty batch answer is no answer");
            responses.iter().for_each(check_response);
        }
        response => check_response(response),
    }
});

/// A JSON-RPC 2.0 response: version, id, and exactly one of a result or an error with an
/// integer code and a message.
fn check_response(response: &Value) {
    assert_eq!(response["jsonrpc"], "2.0", "{response}");
    assert!(matches!(response.get("id"), Some(Value::Null | Value::Number(_) | Value::String(_))), "{response}");
    match (response.get("result"), response.get("error")) {
        (Some(_), None) => {}
        (None, Some(error)) => {
            assert!(error["code"].is_i64(), "{response}");
            assert!(error["message"].is_string(), "{response}");
        }
        _ => panic!("neither a result nor an error: {response}"),
    }
}
