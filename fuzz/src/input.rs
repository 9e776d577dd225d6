//! The framing of structured fuzz inputs.
//!
//! A target that feeds several decoders, or one decoder several messages, reads its input
//! as a selector byte and pieces: each piece a little-endian `u16` length and that many
//! bytes (a truncated last piece is what remains). Plain formats (JSON, a FHIR bundle, an
//! HTTP request) are fed as they are.

/// The first byte (which decoder or mode) and the rest.
pub fn selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}

/// The pieces of `data`, in order.
pub fn pieces(data: &[u8]) -> Pieces<'_> {
    Pieces { rest: data }
}

/// Iterator over length-prefixed pieces; see the module docs.
pub struct Pieces<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (length, rest) = self.rest.split_first_chunk::<2>()?;
        let length = usize::from(u16::from_le_bytes(*length)).min(rest.len());
        let (piece, rest) = rest.split_at(length);
        self.rest = rest;
        Some(piece)
    }
}

/// Writes `pieces` in the framing [`pieces`] reads.
pub fn join(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        let length = u16::try_from(piece.len()).expect("a seed piece is under 64 KiB");
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

/// `bytes` after the selector byte `selector`, as [`selector`] reads them.
pub fn selected(selector: u8, bytes: &[u8]) -> Vec<u8> {
    [&[selector][..], bytes].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_pieces_read_back() {
        let joined = selected(7, &join(&[b"one", b"", b"three"]));
        let (selector, rest) = selector(&joined).unwrap();
        assert_eq!(selector, 7);
        assert_eq!(pieces(rest).collect::<Vec<_>>(), vec![&b"one"[..], b"", b"three"]);
        assert_eq!(pieces(&[9, 0, 1, 2]).collect::<Vec<_>>(), vec![&[1u8, 2][..]]);
    }
}
