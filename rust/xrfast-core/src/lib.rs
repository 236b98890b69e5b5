//! xrfast-core: parse AWS X-Ray segment documents and assemble them into traces.
//!
//! Pure Rust, no Python. Data flows one way:
//! bytes → [`input`] (framing: NDJSON, datagrams, API bodies) → [`document`] (one document →
//! validated entities) → [`assemble`] (entities → traces) → [`trace`] (rebuilt documents, JSON)
//! → [`summary`] (X-Ray's `TraceSummary`), [`graph`] (X-Ray's service graph) and [`filter`]
//! (X-Ray's filter expressions).

pub mod assemble;
pub mod bench;
pub mod columns;
pub mod document;
pub mod error;
pub mod filter;
pub mod graph;
pub mod ids;
pub mod input;
pub mod paths;
pub mod reader;
pub mod summary;
pub mod trace;

pub use assemble::{Assembler, Counters, Limits};
pub use document::{parse_document, DocumentLimits, Entity, OwnedDocument, ParsedDocument};
pub use error::{DocumentError, ErrorCode, InputError};
pub use graph::ServiceGraph;
pub use ids::{SegmentId, TraceId};
pub use input::Format;
pub use summary::TraceSummary;
pub use trace::Trace;
