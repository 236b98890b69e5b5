//! Trace and segment identifiers, held as integers.
//!
//! X-Ray ids are hex text on the wire. Holding them as `u128`/`u64` makes every map key a
//! machine word, every comparison one instruction, and formatting back to text exact, because
//! only lowercase hex is accepted (as the Java SDK's parser does), so text → integer → text is
//! the identity.

use std::fmt;

/// A trace id `1-EEEEEEEE-RRRRRRRRRRRRRRRRRRRRRRRR`: 8 hex digits of epoch seconds and 24 of
/// randomness, held as one 128-bit integer (epoch in the high 32 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TraceId(pub u128);

/// A segment, subsegment or exception id: 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SegmentId(pub u64);

/// The length of a trace id in text form.
pub const TRACE_ID_LEN: usize = 35;

/// Value of each byte as a lowercase hex digit; `INVALID` for every other byte.
const HEX: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xff;

fn hex_digit(byte: u8) -> Option<u8> {
    let digit = HEX[byte as usize];
    (digit != INVALID).then_some(digit)
}

fn parse_hex(text: &[u8]) -> Option<u128> {
    text.iter().try_fold(0u128, |acc, &b| {
        Some((acc << 4) | u128::from(hex_digit(b)?))
    })
}

impl TraceId {
    /// Parses the text form; `None` unless it is exactly `1-` + 8 + `-` + 24 lowercase hex digits.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != TRACE_ID_LEN || &b[..2] != b"1-" || b[10] != b'-' {
            return None;
        }
        let epoch = parse_hex(&b[2..10])?;
        let random = parse_hex(&b[11..])?;
        Some(Self((epoch << 96) | random))
    }

    /// The epoch second encoded in the id (the time of the original request).
    #[must_use]
    pub fn epoch(self) -> u32 {
        (self.0 >> 96) as u32
    }

    /// Low and high 64-bit halves, for hashing.
    #[must_use]
    pub fn halves(self) -> (u64, u64) {
        (self.0 as u64, (self.0 >> 64) as u64)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "1-{:08x}-{:024x}",
            self.epoch(),
            self.0 & ((1u128 << 96) - 1)
        )
    }
}

impl SegmentId {
    /// Parses exactly 16 lowercase hex digits.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let b: &[u8; 16] = text.as_bytes().try_into().ok()?;
        // Every document holds several ids: a table lookup per digit, no branches.
        let mut value = 0u64;
        let mut invalid = 0u8;
        for &byte in b {
            let digit = HEX[byte as usize];
            invalid |= digit & 0xf0;
            value = (value << 4) | u64::from(digit & 0x0f);
        }
        (invalid == 0).then_some(Self(value))
    }

    /// The id X-Ray gives the inferred segment of subsegment `self` in `trace`: stable across reads
    /// (docs/assembly.md spells out the formula so other implementations can match it).
    #[must_use]
    pub fn inferred(self, trace: TraceId) -> Self {
        let (lo, hi) = trace.halves();
        Self(splitmix64(self.0 ^ lo ^ hi))
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// `SplitMix64`'s output function: a fast, well-mixed bijection on 64-bit integers.
#[must_use]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips() {
        let text = "1-5759e988-bd862e3fe1be46a994272793";
        let id = TraceId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.epoch(), 0x5759_e988);
    }

    #[test]
    fn trace_id_rejects_malformed() {
        for bad in [
            "",
            "1-5759e988-bd862e3fe1be46a99427279",   // short
            "1-5759e988-bd862e3fe1be46a9942727933", // long
            "2-5759e988-bd862e3fe1be46a994272793",  // version
            "1-5759e988_bd862e3fe1be46a994272793",  // separator
            "1-5759E988-bd862e3fe1be46a994272793",  // uppercase
            "1-5759e98g-bd862e3fe1be46a994272793",  // not hex
            "1-5759e988-bd862e3fe1be46a99427279é",  // non-ASCII, 35 bytes
        ] {
            assert_eq!(TraceId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_id_round_trips_and_rejects() {
        let id = SegmentId::parse("70de5b6f19ff9a0a").unwrap();
        assert_eq!(id.to_string(), "70de5b6f19ff9a0a");
        assert_eq!(SegmentId::parse("0000000000000000"), Some(SegmentId(0)));
        assert_eq!(SegmentId::parse("70de5b6f19ff9a0"), None);
        assert_eq!(SegmentId::parse("70DE5B6F19FF9A0A"), None);
    }

    #[test]
    fn splitmix64_matches_reference_values() {
        // Reference outputs of SplitMix64 seeded with 0 (first output is f(0)).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
