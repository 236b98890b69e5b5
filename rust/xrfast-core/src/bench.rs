//! Parse-only baselines: what the JSON parsers alone cost on the same NDJSON bytes.
//!
//! The engine's throughput is judged against the fastest of these (issue: "at least 50 % of a
//! parse-only pass"), measured in the same run on the same corpus. They are also how the parser
//! was chosen: see docs/decisions.md.

/// A JSON parser to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// sonic-rs into its DOM (`sonic_rs::Value`).
    SonicRs,
    /// sonic-rs validating every document without building anything (the engine's lower bound).
    SonicRsLazy,
    /// simd-json into its borrowed DOM (needs a mutable copy of each document).
    SimdJson,
    /// `serde_json` into `serde_json::Value`.
    SerdeJson,
}

impl Parser {
    /// Every parser with its name.
    pub const ALL: [(Self, &'static str); 4] = [
        (Self::SonicRs, "sonic-rs"),
        (Self::SonicRsLazy, "sonic-rs-lazy"),
        (Self::SimdJson, "simd-json"),
        (Self::SerdeJson, "serde_json"),
    ];

    /// The parser named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }
}

/// Parses every non-empty line of `ndjson` with `parser`; returns how many parsed and how many failed.
#[must_use]
pub fn parse_only(ndjson: &[u8], parser: Parser) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    let mut scratch = Vec::new();
    for line in ndjson.split(|&b| b == b'\n') {
        if line.trim_ascii().is_empty() {
            continue;
        }
        // The same guard the engine applies: sonic-rs recurses per nesting level.
        if crate::document::nesting_exceeds(line, crate::DocumentLimits::default().max_json_depth)
            .is_some()
        {
            failed += 1;
            continue;
        }
        let parsed = match parser {
            Parser::SonicRs => sonic_rs::from_slice::<sonic_rs::Value>(line).is_ok(),
            Parser::SonicRsLazy => sonic_rs::to_object_iter(line).all(|member| member.is_ok()),
            Parser::SimdJson => {
                scratch.clear();
                scratch.extend_from_slice(line);
                simd_json::to_borrowed_value(&mut scratch).is_ok()
            }
            Parser::SerdeJson => serde_json::from_slice::<serde_json::Value>(line).is_ok(),
        };
        if parsed {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    (ok, failed)
}
