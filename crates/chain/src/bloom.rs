//! Testing block blooms against a log filter with many values.
//!
//! alloy's `Filter::matches_bloom` compares a block's 2048-bit bloom with the bloom of every
//! value in turn; a query for the logs of 256 records then costs 256 comparisons per
//! block, which on a long chain outweighs reading the few matching blocks. [`BloomQuery`]
//! indexes the values of a large set by the lowest bit each one's bloom sets, so a block
//! costs one pass over the bits set in *its* bloom (a few dozen for a block of a few logs),
//! whatever the number of values; a small set tests each value's one to three bits.

use alloy_primitives::{Bloom, BloomInput};
use alloy_rpc_types_eth::Filter;

const BITS: usize = 2048;

/// The bits a bloom sets, as indices into its bytes (`i / 8`, bit `i % 8`), read a word at a
/// time (a block's bloom is mostly zero).
fn set_bits(bloom: &Bloom) -> impl Iterator<Item = usize> + '_ {
    let (words, _) = bloom.as_slice().as_chunks::<8>();
    words.iter().enumerate().flat_map(|(word, bytes)| {
        let mut bits = u64::from_le_bytes(*bytes);
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                word * 64 + bit
            })
        })
    })
}

fn has_bit(bloom: &Bloom, bit: usize) -> bool {
    bloom.as_slice()[bit / 8] & (1 << (bit % 8)) != 0
}

/// Sets of at most this many values test each value's bits directly; larger ones go
/// through the index (a block's bloom has a few dozen bits set).
const DIRECT: usize = 16;

/// One position of a filter (the address, or one topic): matches a bloom that contains the
/// bloom of at least one of its values; an empty set matches every bloom.
enum ValueSet {
    /// Each value's bits (one to three; a repeated bit is listed once).
    Few(Vec<Vec<u16>>),
    /// The values indexed by their lowest bit: `start[b]..start[b + 1]` are the values whose
    /// lowest bit is `b`, in `rest` with their other bits.
    Many { start: Vec<u32>, rest: Vec<Vec<u16>> },
}

impl ValueSet {
    fn new<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<ValueSet> {
        let mut bits: Vec<Vec<u16>> =
            values.map(|v| set_bits(&Bloom::from(BloomInput::Raw(v))).map(|b| b as u16).collect()).collect();
        if bits.is_empty() {
            return None;
        }
        if bits.len() <= DIRECT {
            return Some(ValueSet::Few(bits));
        }
        bits.sort_unstable();
        let mut start = vec![0u32; BITS + 1];
        for value in &bits {
            start[usize::from(value[0]) + 1] += 1;
        }
        for b in 0..BITS {
            start[b + 1] += start[b];
        }
        let rest = bits.into_iter().map(|mut v| v.split_off(1)).collect();
        Some(ValueSet::Many { start, rest })
    }

    fn matches(&self, bloom: &Bloom) -> bool {
        let contains = |bits: &[u16]| bits.iter().all(|&b| has_bit(bloom, usize::from(b)));
        match self {
            ValueSet::Few(values) => values.iter().any(|bits| contains(bits)),
            ValueSet::Many { start, rest } => set_bits(bloom)
                .any(|b| rest[start[b] as usize..start[b + 1] as usize].iter().any(|others| contains(others))),
        }
    }
}

/// A log filter's address and topic sets, prepared for testing many blocks' blooms.
pub(crate) struct BloomQuery {
    sets: Vec<ValueSet>,
}

impl BloomQuery {
    pub(crate) fn new(filter: &Filter) -> BloomQuery {
        let address = ValueSet::new(filter.address.iter().map(|a| a.as_slice()));
        let topics = filter.topics.iter().map(|t| ValueSet::new(t.iter().map(|v| v.as_slice())));
        BloomQuery { sets: address.into_iter().chain(topics.flatten()).collect() }
    }

    /// Whether a block with this bloom may hold a matching log (`false` means it holds none).
    pub(crate) fn may_match(&self, bloom: &Bloom) -> bool {
        self.sets.iter().all(|set| set.matches(bloom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256, keccak256};

    fn bloom_of(values: &[&[u8]]) -> Bloom {
        let mut bloom = Bloom::default();
        for v in values {
            bloom.accrue(BloomInput::Raw(v));
        }
        bloom
    }

    /// The index answers exactly what alloy's value-by-value test answers.
    #[test]
    fn agrees_with_the_filters_own_bloom_test() {
        let address = Address::repeat_byte(7);
        let signature = keccak256("Event(bytes32)");
        let topics: Vec<B256> = (0u64..300).map(|i| keccak256(i.to_be_bytes())).collect();
        let filter = Filter::new().address(address).event_signature(signature).topic1(topics.clone());
        let query = BloomQuery::new(&filter);
        let empty = BloomQuery::new(&Filter::new());
        let mut matched = 0;
        for i in 0u64..3000 {
            let topic = keccak256(i.to_be_bytes());
            let other = keccak256((i + 1_000_000).to_be_bytes());
            for bloom in [
                bloom_of(&[address.as_slice(), signature.as_slice(), topic.as_slice()]),
                bloom_of(&[address.as_slice(), other.as_slice(), topic.as_slice()]),
                bloom_of(&[other.as_slice(), signature.as_slice(), topic.as_slice()]),
                bloom_of(&[topic.as_slice()]),
            ] {
                assert_eq!(query.may_match(&bloom), filter.matches_bloom(bloom), "block {i}");
                matched += usize::from(query.may_match(&bloom));
                assert!(empty.may_match(&bloom));
            }
        }
        assert!(matched >= 300, "every block carrying a wanted topic matches ({matched})");
        assert!(!query.may_match(&Bloom::default()));
    }
}
