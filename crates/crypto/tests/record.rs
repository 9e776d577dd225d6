//! Property tests of the digest chain and the chameleon message.

use healthchain_crypto::record::{DigestChain, RecordId, entry_digest};
use proptest::prelude::*;

fn chain_of(record: [u8; 32], entries: &[Vec<u8>]) -> DigestChain {
    entries.iter().fold(DigestChain::genesis(RecordId(record)), |chain, entry| chain.append(&entry_digest(entry)))
}

proptest! {
    #[test]
    fn different_histories_give_different_heads(
        record: [u8; 32],
        a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
        b in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
    ) {
        let (chain_a, chain_b) = (chain_of(record, &a), chain_of(record, &b));
        prop_assert_eq!(chain_a.version(), a.len() as u64);
        prop_assert_eq!(a == b, chain_a.head() == chain_b.head());
        prop_assert_eq!(a == b, chain_a.message().to_bytes() == chain_b.message().to_bytes());
    }

    #[test]
    fn resuming_from_a_logged_head_equals_continuing(
        record: [u8; 32],
        history in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6),
        split in 0usize..6,
    ) {
        let split = split.min(history.len());
        let prefix = chain_of(record, &history[..split]);
        let resumed = history[split..]
            .iter()
            .fold(DigestChain::resume(RecordId(record), prefix.version(), prefix.head()), |c, e| c.append(&entry_digest(e)));
        prop_assert_eq!(resumed, chain_of(record, &history));
    }

    #[test]
    fn the_message_binds_record_version_and_digest(record: [u8; 32], other: [u8; 32], entry in proptest::collection::vec(any::<u8>(), 0..40)) {
        let chain = DigestChain::genesis(RecordId(record)).append(&entry_digest(&entry));
        let bytes = chain.message().to_bytes();
        prop_assert_eq!(&bytes[..32], &record[..]);
        prop_assert_eq!(&bytes[32..40], &1u64.to_be_bytes()[..]);
        prop_assert_eq!(&bytes[40..], &chain.head()[..]);
        if other != record {
            let elsewhere = DigestChain::genesis(RecordId(other)).append(&entry_digest(&entry));
            prop_assert_ne!(elsewhere.head(), chain.head());
        }
    }
}
