//! `FilterError`: what a malformed expression says, where.

use std::fmt;

/// A filter expression that does not compile: where, what was expected, what was found.
///
/// Shown as X-Ray's `InvalidRequestException` message would be:
/// `Invalid filter expression: expected a number at position 15, found "abc"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Position in the expression, in characters from 0.
    pub position: usize,
    /// Byte offset of the same position.
    pub offset: usize,
    /// What the grammar allows there.
    pub expected: String,
    /// What the expression has there.
    pub found: String,
    /// Raised while resolving a group reference: an outer reference moves it to itself
    /// rather than wrapping it again.
    pub(crate) from_group: bool,
}

impl FilterError {
    /// An error at byte `offset` of `src`.
    pub(crate) fn new(src: &str, offset: usize, expected: &str, found: String) -> Self {
        let offset = offset.min(src.len());
        let position = src
            .char_indices()
            .take_while(|&(at, _)| at < offset)
            .count();
        Self {
            position,
            offset,
            expected: expected.to_owned(),
            found,
            from_group: false,
        }
    }

    /// The same error, at byte `offset` of `src` (a group reference in an outer expression).
    pub(crate) fn moved_to(self, src: &str, offset: usize) -> Self {
        Self {
            from_group: true,
            ..Self::new(src, offset, &self.expected, self.found)
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid filter expression: expected {} at position {}, found {}",
            self.expected, self.position, self.found
        )
    }
}

impl std::error::Error for FilterError {}
