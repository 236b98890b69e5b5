//! Errors in input documents: values with a code, a position and a message that is part of the API.
//!
//! A bad document never stops a batch. It becomes a [`DocumentError`] naming the document (its
//! index in the input), the segment id when one could be read, an X-Ray style error code and a
//! byte offset inside the document. Messages follow the shape X-Ray uses in
//! `UnprocessedTraceSegments` (`Invalid segment. ErrorCode: InvalidTraceId`), followed by what
//! was wrong and where.

use std::fmt;

/// What is wrong with a document. The code names are X-Ray's (spec §1.11) where X-Ray has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not valid JSON (syntax, invalid UTF-8, or a duplicate key among the fields X-Ray reads).
    InvalidJson,
    /// The document (or an array element) is not an object, or a field has the wrong JSON type.
    InvalidDocument,
    /// No `id`, or an empty array document.
    MissingId,
    /// `id` is not 16 lowercase hex digits.
    InvalidId,
    /// No `name`.
    MissingName,
    /// `name` is too long or has characters X-Ray does not allow.
    InvalidName,
    /// No `trace_id` on a top-level document.
    MissingTraceId,
    /// `trace_id` is not `1-` + 8 hex + `-` + 24 hex.
    InvalidTraceId,
    /// No `start_time`.
    MissingStartTime,
    /// `start_time` is not a finite, non-negative number.
    InvalidStartTime,
    /// `end_time` is not a finite, non-negative number, or it is before `start_time`.
    InvalidEndTime,
    /// Neither `end_time` nor `"in_progress": true`.
    MissingEndTimeOrInProgress,
    /// An independent subsegment (`"type": "subsegment"`) without `parent_id`.
    MissingParentId,
    /// `parent_id` is not 16 lowercase hex digits.
    InvalidParentId,
    /// Larger than `max_document_bytes`.
    DocumentTooLarge,
    /// Subsegments nested deeper than `max_depth`, or JSON deeper than `max_json_depth`.
    NestingTooDeep,
    /// A daemon header line that is not `{"format": "json", "version": 1}`, or a datagram without one.
    InvalidHeader,
}

impl ErrorCode {
    /// The code as X-Ray spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "InvalidJson",
            Self::InvalidDocument => "InvalidDocument",
            Self::MissingId => "MissingId",
            Self::InvalidId => "InvalidId",
            Self::MissingName => "MissingName",
            Self::InvalidName => "InvalidName",
            Self::MissingTraceId => "MissingTraceId",
            Self::InvalidTraceId => "InvalidTraceId",
            Self::MissingStartTime => "MissingStartTime",
            Self::InvalidStartTime => "InvalidStartTime",
            Self::InvalidEndTime => "InvalidEndTime",
            Self::MissingEndTimeOrInProgress => "MissingEndTimeOrInProgress",
            Self::MissingParentId => "MissingParentId",
            Self::InvalidParentId => "InvalidParentId",
            Self::DocumentTooLarge => "DocumentTooLarge",
            Self::NestingTooDeep => "NestingTooDeep",
            Self::InvalidHeader => "InvalidHeader",
        }
    }

    /// True when the document is not JSON at all (Python maps these to `json.JSONDecodeError`).
    #[must_use]
    pub fn is_decode_error(self) -> bool {
        matches!(self, Self::InvalidJson)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected document.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentError {
    /// Index of the document in its input (0-based, counting documents, not lines or bytes).
    pub index: usize,
    /// The id of the (sub)segment at fault, when it could be read: for an invalid nested
    /// subsegment, that subsegment's id, as X-Ray reports it.
    pub segment_id: Option<String>,
    /// What is wrong.
    pub code: ErrorCode,
    /// What was found, in words.
    pub detail: String,
    /// Byte offset inside the document where the problem is, when known.
    pub offset: Option<usize>,
    /// Whether the entity at fault is a subsegment (changes X-Ray's message prefix).
    pub in_subsegment: bool,
}

impl DocumentError {
    /// X-Ray's message shape: `Invalid segment. ErrorCode: <Code>`, then our detail and position.
    #[must_use]
    pub fn message(&self) -> String {
        let kind = if self.in_subsegment {
            "subsegment"
        } else {
            "segment"
        };
        match self.offset {
            Some(at) => format!(
                "Invalid {kind}. ErrorCode: {}: {} (at byte {at})",
                self.code, self.detail
            ),
            None => format!("Invalid {kind}. ErrorCode: {}: {}", self.code, self.detail),
        }
    }
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.index)?;
        if let Some(id) = &self.segment_id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}", self.message())
    }
}

impl std::error::Error for DocumentError {}

/// A failure to read an input as a whole (the file could not be opened, gzip is corrupt, …);
/// distinct from a bad document, which never stops the batch.
#[derive(Debug)]
pub enum InputError {
    /// Reading the source failed.
    Io(std::io::Error),
    /// The input's framing (not one document) is malformed, e.g. a `PutTraceSegments` body
    /// without `TraceSegmentDocuments`.
    Format(String),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Format(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for InputError {}

impl From<std::io::Error> for InputError {
    /// Data that cannot be read as an input (corrupt gzip, an input past its size limit) is a
    /// format error; any other failure to read stays an I/O error.
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::InvalidData {
            Self::Format(e.to_string())
        } else {
            Self::Io(e)
        }
    }
}
