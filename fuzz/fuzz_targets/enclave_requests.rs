//! What crosses the enclave's boundary in binary: frames on the host–enclave channel (each
//! header decoded as the type its kind announces), relayed ecalls as the node's
//! `POST /api/v1/enclave` takes them and their answers as a client reads them, and the
//! application call inside a session record with the enclave's reply. Every decoded value
//! encodes and decodes back to itself.
//!
//! Input: a selector byte (0: frames, 1: relayed ecall, 2: relayed ecall result,
//! 3: application call, 4: application reply), then the bytes.
#![no_main]

use healthchain_enclave::evidence::Evidence;
use healthchain_enclave::protocol::{
    ChannelError, Ecall, EcallResult, Frame, FrameKind, Launch, Ocall, OcallResult, decode_relayed, encode_relayed,
    read_frame, write_frame,
};
use healthchain_enclave::runtime::{AppCall, AppReply};
use healthchain_fuzz::input::selector;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Small enough that the fuzzer reaches the limit; large enough for real session records.
const MAX_BODY: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = selector(data) else { return };
    match mode % 5 {
        0 => frames(bytes),
        1 => relayed::<Ecall>(bytes),
        2 => relayed::<EcallResult>(bytes),
        3 => app_call(bytes),
        _ => {
            if let Ok(reply) = postcard::from_bytes::<AppReply>(bytes) {
                let encoded = postcard::to_stdvec(&reply).expect("a decoded reply encodes");
                assert_eq!(postcard::from_bytes::<AppReply>(&encoded).ok(), Some(reply));
            }
        }
    }
});

/// Reads frames until the input runs out or one is refused.
fn frames(mut bytes: &[u8]) {
    loop {
        match read_frame(&mut bytes, MAX_BODY) {
            Ok(frame) => decode_by_kind(&frame),
            Err(ChannelError::Closed | ChannelError::TooLarge { .. } | ChannelError::Protocol(_)) => return,
            Err(error) => panic!("reading from memory failed unexpectedly: {error}"),
        }
    }
}

fn decode_by_kind(frame: &Frame) {
    match frame.kind {
        FrameKind::Launch => {
            // `Launch` has no equality: compare encodings
            if let Ok(launch) = frame.decode::<Launch>() {
                let encoded = postcard::to_stdvec(&launch).expect("a decoded launch encodes");
                let again: Launch = postcard::from_bytes(&encoded).expect("an encoded launch decodes");
                assert_eq!(postcard::to_stdvec(&again).expect("a decoded launch encodes"), encoded);
            }
        }
        FrameKind::Ready => frame_round_trip::<Evidence>(frame),
        FrameKind::Ecall => frame_round_trip::<Ecall>(frame),
        FrameKind::EcallResult => frame_round_trip::<EcallResult>(frame),
        FrameKind::Ocall => frame_round_trip::<Ocall>(frame),
        FrameKind::OcallResult => frame_round_trip::<OcallResult>(frame),
    }
}

/// A decoded header, written in a frame of the same kind and body, reads back the same.
fn frame_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(frame: &Frame) {
    let Ok(header) = frame.decode::<T>() else { return };
    let mut written = Vec::new();
    write_frame(&mut written, frame.kind, &header, &frame.body).expect("a decoded header is within the limits");
    let again = read_frame(&mut written.as_slice(), MAX_BODY).expect("a written frame reads back");
    assert_eq!((again.kind, &again.body), (frame.kind, &frame.body));
    assert_eq!(again.decode::<T>().expect("a written header decodes"), header);
}

fn relayed<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    let Ok((header, body)) = decode_relayed::<T>(bytes) else { return };
    let encoded = encode_relayed(&header, body);
    let (again, again_body) = decode_relayed::<T>(&encoded).expect("an encoded relay decodes");
    assert_eq!((again, again_body), (header, body));
}

/// The enclave's dispatcher decodes an [`AppCall`] from every opened session record.
fn app_call(bytes: &[u8]) {
    let Ok(call) = postcard::from_bytes::<AppCall>(bytes) else { return };
    let encoded = postcard::to_stdvec(&call).expect("a decoded call encodes");
    let again: AppCall = postcard::from_bytes(&encoded).expect("an encoded call decodes");
    assert_eq!((again.app, again.request), (call.app, call.request));
}
