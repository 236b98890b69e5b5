//! One segment document → validated entities that point into its text.
//!
//! The parser walks the document with sonic-rs's lazy object iterator: the members X-Ray's
//! assembly needs (ids, times, flags, namespace, …) are decoded; everything else — metadata,
//! SQL, stack traces, unknown members — is validated by the iterator but never materialised. Each
//! entity keeps byte spans into the document, so a rebuilt document is spliced from the original
//! text: values come back byte for byte, and nothing is allocated per member.

use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::error::{DocumentError, ErrorCode};
use crate::ids::{SegmentId, TraceId};

/// A byte range inside a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// Start offset, inclusive.
    pub start: u32,
    /// End offset, exclusive.
    pub end: u32,
}

impl Span {
    /// The span moved `by` bytes to the right.
    #[must_use]
    pub fn shift(self, by: u32) -> Self {
        Self {
            start: self.start + by,
            end: self.end + by,
        }
    }

    /// The bytes of `text` this span covers.
    #[must_use]
    pub fn of(self, text: &[u8]) -> &[u8] {
        &text[self.start as usize..self.end as usize]
    }
}

/// Whether an entity is a segment (the work of one service) or a subsegment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A top-level object without `"type": "subsegment"`.
    Segment,
    /// A nested object, or a top-level one with `"type": "subsegment"`.
    Subsegment,
}

/// The `namespace` of a subsegment: only `aws` and `remote` make inferred segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// No namespace, or one X-Ray gives no meaning to (`local`, …).
    Other,
    /// A call through an AWS SDK.
    Aws,
    /// Any other downstream call.
    Remote,
}

/// The AWS resource an `aws`-namespace subsegment names, which decides its inferred node type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsResource {
    /// None identified: the inferred origin is `AWS::<name>`.
    None,
    /// `aws.table_name` present.
    TableName,
    /// `aws.queue_url` present.
    QueueUrl,
    /// `aws.function_name` present.
    FunctionName,
    /// `aws.bucket_name` present.
    BucketName,
}

/// Boolean facts about an entity, packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags(u8);

impl Flags {
    /// `"error": true` (4xx).
    pub const ERROR: u8 = 1;
    /// `"throttle": true` (429).
    pub const THROTTLE: u8 = 2;
    /// `"fault": true` (5xx).
    pub const FAULT: u8 = 4;
    /// `http.request.traced: true`: the callee sends its own segment.
    pub const TRACED: u8 = 8;
    /// `cause` is a string: a reference to an exception recorded elsewhere in the trace.
    pub const CAUSE_REF: u8 = 16;

    /// Whether all of `bits` are set.
    #[must_use]
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }

    fn set(&mut self, bits: u8, on: bool) {
        if on {
            self.0 |= bits;
        }
    }

    /// The raw bits (for columns).
    #[must_use]
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// One segment or subsegment, flattened out of its document.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Its id.
    pub id: SegmentId,
    /// Which of its trace's documents holds its text (spans are relative to that document).
    pub doc: u32,
    /// The containing object for a nested subsegment; `parent_id` otherwise.
    pub parent: Option<SegmentId>,
    /// Segment or subsegment.
    pub kind: Kind,
    /// `start_time`, epoch seconds.
    pub start: f64,
    /// `end_time`; `None` while in progress.
    pub end: Option<f64>,
    /// Its namespace.
    pub namespace: Namespace,
    /// For `aws` subsegments, the resource named in `aws`.
    pub resource: AwsResource,
    /// error / throttle / fault / traced / cause reference.
    pub flags: Flags,
    /// The whole object.
    pub object: Span,
    /// Where the `subsegments` member is cut out when the object is rebuilt: from the end of the
    /// member before it (or just after `{`) to the end of its value.
    pub cut: Option<Span>,
    /// The raw JSON string of `name`, quotes included.
    pub name: Span,
    /// The raw `cause` value: an object, or a string naming an exception recorded elsewhere.
    pub cause: Option<Span>,
    /// The raw `http` value, copied into an inferred segment.
    pub http: Option<Span>,
    /// `http.response.status`: an integer, or a string holding one (spec §10 Q23); `None`
    /// when absent or outside botocore's `Integer`.
    pub status: Option<i32>,
    /// The raw `aws` value, copied into an inferred segment.
    pub aws: Option<Span>,
    /// The raw `annotations` object, read by trace summaries.
    pub annotations: Option<Span>,
    /// The raw `links` array, read by the service graph's link edges.
    pub links: Option<Span>,
    /// The raw `origin`, `user` and `resource_arn` strings (quotes included), read by trace
    /// summaries and the service graph: kept so they never rescan the whole object.
    pub origin: Option<Span>,
    /// See `origin`.
    pub user: Option<Span>,
    /// See `origin`.
    pub resource_arn: Option<Span>,
}

impl Entity {
    /// True while the entity is in progress.
    #[must_use]
    pub fn in_progress(&self) -> bool {
        self.end.is_none()
    }
}

/// The limits that apply to a single document.
#[derive(Clone, Copy, Debug)]
pub struct DocumentLimits {
    /// Largest accepted document, in bytes (X-Ray: 64 kB).
    pub max_document_bytes: usize,
    /// Deepest accepted nesting of subsegments.
    pub max_depth: usize,
    /// Deepest accepted nesting of JSON objects and arrays anywhere in a document (the JSON
    /// parser recurses per level, so this is what keeps hostile input off the stack).
    pub max_json_depth: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: 64 * 1024,
            max_depth: 64,
            max_json_depth: 512,
        }
    }
}

/// The offset of the first bracket that nests deeper than `limit`, if any.
#[must_use]
pub fn nesting_exceeds(text: &[u8], limit: usize) -> Option<usize> {
    // Fewer opening brackets than the limit cannot nest deeper than it: the common case costs
    // one vectorised count.
    if memchr::memchr2_iter(b'[', b'{', text).count() <= limit {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (at, &b) in text.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(at);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A valid document: the entities of one trace, spans relative to `text`.
#[derive(Debug)]
pub struct ParsedDocument<'a> {
    /// The document's text (for an array document, one element's text).
    pub text: &'a [u8],
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// The top-level entity first, then every nested subsegment, depth first.
    pub entities: Vec<Entity>,
}

/// A valid document that owns its text: what a trace keeps.
#[derive(Debug)]
pub struct OwnedDocument {
    /// The document's text.
    pub text: Box<[u8]>,
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its entities, spans relative to `text`.
    pub entities: Vec<Entity>,
}

impl From<ParsedDocument<'_>> for OwnedDocument {
    fn from(doc: ParsedDocument<'_>) -> Self {
        Self {
            text: doc.text.into(),
            trace_id: doc.trace_id,
            entities: doc.entities,
        }
    }
}

/// Parses one document. An array document yields one result per element (X-Ray treats each as
/// an independent subsegment), so results go to `sink` rather than a return value.
pub fn parse_document<'a>(
    text: &'a [u8],
    index: usize,
    limits: DocumentLimits,
    sink: &mut impl FnMut(Result<ParsedDocument<'a>, DocumentError>),
) {
    let fail = |code, detail: String, offset| DocumentError {
        index,
        segment_id: sniff_id(text),
        code,
        detail,
        offset,
        in_subsegment: false,
    };
    if text.len() > limits.max_document_bytes {
        // A file reader cuts an endless line at the limit, so the length is what was read.
        let detail = format!(
            "document is larger than the limit of {} bytes ({} bytes read)",
            limits.max_document_bytes,
            text.len()
        );
        return sink(Err(fail(ErrorCode::DocumentTooLarge, detail, None)));
    }
    let text = match simdutf8::compat::from_utf8(text) {
        Ok(text) => text,
        Err(e) => {
            let detail = "document is not valid UTF-8".to_owned();
            return sink(Err(fail(
                ErrorCode::InvalidJson,
                detail,
                Some(e.valid_up_to()),
            )));
        }
    };
    if let Some(at) = nesting_exceeds(text.as_bytes(), limits.max_json_depth) {
        let detail = format!(
            "JSON is nested deeper than the limit of {} levels",
            limits.max_json_depth
        );
        return sink(Err(fail(ErrorCode::NestingTooDeep, detail, Some(at))));
    }
    let start = text.bytes().position(|b| !b.is_ascii_whitespace());
    match start.map(|at| text.as_bytes()[at]) {
        Some(b'{') => sink(parse_object_document(text, index, limits)),
        Some(b'[') => parse_array_document(text, index, limits, sink),
        Some(_) => {
            // Text that is not JSON at all is a decode error, like any other malformed JSON.
            if let Err(e) = sonic_rs::from_str::<sonic_rs::Value>(text) {
                return sink(Err(json_error(text.as_bytes(), index, &e)));
            }
            let detail =
                "a segment document must be a JSON object or an array of subsegments".to_owned();
            sink(Err(fail(ErrorCode::InvalidDocument, detail, start)));
        }
        None => sink(Err(fail(
            ErrorCode::InvalidJson,
            "document is empty".to_owned(),
            None,
        ))),
    }
}

fn parse_array_document<'a>(
    text: &'a str,
    index: usize,
    limits: DocumentLimits,
    sink: &mut impl FnMut(Result<ParsedDocument<'a>, DocumentError>),
) {
    let mut empty = true;
    for element in sonic_rs::to_array_iter(text) {
        empty = false;
        match element {
            Ok(value) => {
                let element_text = raw_str(&value);
                let span = span_in(text.as_bytes(), element_text.as_bytes());
                let parsed = if value.get_type() == JsonType::Object {
                    parse_object_document(element_text, index, limits).and_then(|doc| {
                        if doc.entities[0].kind == Kind::Segment {
                            Err(DocumentError {
                                index,
                                segment_id: Some(doc.entities[0].id.to_string()),
                                code: ErrorCode::InvalidDocument,
                                detail: "an array document may only hold subsegments (\"type\": \"subsegment\")"
                                    .to_owned(),
                                offset: Some(span.start as usize),
                                in_subsegment: false,
                            })
                        } else {
                            Ok(doc)
                        }
                    })
                } else {
                    Err(DocumentError {
                        index,
                        segment_id: None,
                        code: ErrorCode::InvalidDocument,
                        detail: format!("array element is {}, not an object", type_name(&value)),
                        offset: Some(span.start as usize),
                        in_subsegment: true,
                    })
                };
                // Offsets in errors are relative to the whole document, not the element.
                sink(parsed.map_err(|mut e| {
                    e.offset = e.offset.map(|at| at.max(span.start as usize));
                    e
                }));
            }
            Err(e) => return sink(Err(json_error(text.as_bytes(), index, &e))),
        }
    }
    if empty {
        sink(Err(DocumentError {
            index,
            segment_id: None,
            code: ErrorCode::MissingId,
            detail: "empty array document".to_owned(),
            offset: None,
            in_subsegment: false,
        }));
    }
}

fn parse_object_document(
    text: &str,
    index: usize,
    limits: DocumentLimits,
) -> Result<ParsedDocument<'_>, DocumentError> {
    walk_object_document(text, index, limits).map_err(|e| {
        // The walk stops at the first problem, which may be a field met before a syntax error
        // further on; a document that is not JSON at all is reported as such.
        if e.code == ErrorCode::InvalidJson {
            return e;
        }
        match sonic_rs::from_str::<sonic_rs::Value>(text) {
            Err(json) => json_error(text.as_bytes(), index, &json),
            Ok(_) => e,
        }
    })
}

fn walk_object_document(
    text: &str,
    index: usize,
    limits: DocumentLimits,
) -> Result<ParsedDocument<'_>, DocumentError> {
    let mut walker = Walker {
        text: text.as_bytes(),
        index,
        limits,
        entities: Vec::with_capacity(8),
        trace_id: None,
    };
    walker.object(text, None, None, 0)?;
    let trailing = walker.entities[0].object.end as usize;
    if let Some(at) = text.as_bytes()[trailing..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
    {
        return Err(walker.error(
            0,
            ErrorCode::InvalidJson,
            "unexpected text after the document's closing brace".to_owned(),
            Some(trailing + at),
        ));
    }
    let trace_id = walker.trace_id.ok_or_else(|| {
        walker.error(
            0,
            ErrorCode::MissingTraceId,
            "the document has no \"trace_id\"".to_owned(),
            None,
        )
    })?;
    Ok(ParsedDocument {
        text: text.as_bytes(),
        trace_id,
        entities: walker.entities,
    })
}

/// Members the assembly reads; each may appear once per object.
#[derive(Clone, Copy)]
enum Member {
    Id = 0,
    Name,
    TraceId,
    ParentId,
    Type,
    StartTime,
    EndTime,
    InProgress,
    Namespace,
    Error,
    Throttle,
    Fault,
    Cause,
    Http,
    Aws,
    Subsegments,
    Annotations,
    // Members summaries read (lazily); assembly only checks their JSON type.
    Origin,
    User,
    ResourceArn,
    // Members X-Ray types but never reads: only their JSON type is checked, and a duplicate
    // passes through verbatim.
    Metadata,
    Service,
    Sql,
    PrecursorIds,
    Links,
}

impl Member {
    fn of(key: &str) -> Option<Self> {
        Some(match key {
            "id" => Self::Id,
            "name" => Self::Name,
            "trace_id" => Self::TraceId,
            "parent_id" => Self::ParentId,
            "type" => Self::Type,
            "start_time" => Self::StartTime,
            "end_time" => Self::EndTime,
            "in_progress" => Self::InProgress,
            "namespace" => Self::Namespace,
            "error" => Self::Error,
            "throttle" => Self::Throttle,
            "fault" => Self::Fault,
            "cause" => Self::Cause,
            "http" => Self::Http,
            "aws" => Self::Aws,
            "subsegments" => Self::Subsegments,
            "annotations" => Self::Annotations,
            "metadata" => Self::Metadata,
            "service" => Self::Service,
            "sql" => Self::Sql,
            "origin" => Self::Origin,
            "user" => Self::User,
            "resource_arn" => Self::ResourceArn,
            "precursor_ids" => Self::PrecursorIds,
            "links" => Self::Links,
            _ => return None,
        })
    }
}

struct Walker<'a> {
    text: &'a [u8],
    index: usize,
    limits: DocumentLimits,
    entities: Vec<Entity>,
    trace_id: Option<TraceId>,
}

/// The decoded members of one object, before they become an [`Entity`].
#[derive(Default)]
struct Fields<'a> {
    id: Option<SegmentId>,
    id_text: Option<&'a str>,
    name: Option<Span>,
    parent: Option<SegmentId>,
    is_subsegment_type: bool,
    start: Option<f64>,
    end: Option<f64>,
    in_progress: Option<bool>,
    namespace: Option<Namespace>,
    flags: Flags,
    http: Option<Span>,
    status: Option<i32>,
    cause: Option<Span>,
    annotations: Option<Span>,
    links: Option<Span>,
    origin: Option<Span>,
    user: Option<Span>,
    resource_arn: Option<Span>,
    aws: Option<LazyValue<'a>>,
    subsegments: Option<LazyValue<'a>>,
    cut: Option<Span>,
}

impl<'a> Walker<'a> {
    fn error(
        &self,
        entity_depth: usize,
        code: ErrorCode,
        detail: String,
        offset: Option<usize>,
    ) -> DocumentError {
        DocumentError {
            index: self.index,
            segment_id: None,
            code,
            detail,
            offset,
            in_subsegment: entity_depth > 0,
        }
    }

    /// Registers the object `raw` (and, recursively, its nested subsegments) as entities.
    /// `validated` is `raw` as a value its parent's checked iterator already validated (nested
    /// objects); the top-level object has none and is validated as it is walked.
    fn object(
        &mut self,
        raw: &'a str,
        validated: Option<LazyValue<'a>>,
        nested_in: Option<SegmentId>,
        depth: usize,
    ) -> Result<(), DocumentError> {
        if depth > self.limits.max_depth {
            return Err(self.error(
                depth,
                ErrorCode::NestingTooDeep,
                format!(
                    "subsegments are nested deeper than the limit of {}",
                    self.limits.max_depth
                ),
                Some(span_in(self.text, raw.as_bytes()).start as usize),
            ));
        }
        let slot = self.entities.len();
        let mut fields = Fields::default();
        let result = self.fields(raw, validated, depth, &mut fields);
        let attach_id = |mut e: DocumentError| {
            if e.segment_id.is_none() {
                e.segment_id = fields.id_text.map(str::to_owned);
            }
            if e.segment_id.is_none() && depth == 0 {
                e.segment_id = sniff_id(raw.as_bytes());
            }
            e
        };
        let object = result.map_err(attach_id)?;
        let entity = self
            .entity(&fields, object, nested_in, depth)
            .map_err(attach_id)?;
        let id = entity.id;
        self.entities.push(entity);
        if let Some(list) = fields.subsegments.take() {
            self.subsegments(&list, id, depth)?;
        }
        debug_assert_eq!(self.entities[slot].id, id);
        Ok(())
    }

    fn subsegments(
        &mut self,
        list: &LazyValue<'a>,
        parent: SegmentId,
        depth: usize,
    ) -> Result<(), DocumentError> {
        // Validated when the parent's members were walked: iterate without checking again.
        for element in list.clone().into_array_iter().into_iter().flatten() {
            let element = element.map_err(|e| json_error(self.text, self.index, &e))?;
            if element.get_type() != JsonType::Object {
                return Err(DocumentError {
                    index: self.index,
                    segment_id: Some(parent.to_string()),
                    code: ErrorCode::InvalidDocument,
                    detail: format!(
                        "\"subsegments\" holds {}, not an object",
                        type_name(&element)
                    ),
                    offset: Some(span_in(self.text, raw_str(&element).as_bytes()).start as usize),
                    in_subsegment: true,
                });
            }
            self.object(
                raw_str(&element),
                Some(element.clone()),
                Some(parent),
                depth + 1,
            )?;
        }
        Ok(())
    }

    /// Reads the members of one object into `fields`; returns the object's span.
    fn fields(
        &mut self,
        raw: &'a str,
        validated: Option<LazyValue<'a>>,
        depth: usize,
        fields: &mut Fields<'a>,
    ) -> Result<Span, DocumentError> {
        let mut seen = 0u32;
        let object_start = span_in(self.text, raw.as_bytes()).start;
        let mut previous_end = object_start + 1;
        let members = match validated.and_then(LazyValue::into_object_iter) {
            Some(unchecked) => unchecked,
            None => sonic_rs::to_object_iter(raw),
        };
        for member in members {
            let (key, value) = member.map_err(|e| json_error(self.text, self.index, &e))?;
            let span = span_in(self.text, raw_str(&value).as_bytes());
            let Some(which) = Member::of(&key) else {
                previous_end = span.end;
                continue;
            };
            let bit = 1u32 << (which as u32);
            // Which of two values X-Ray would read is ambiguous; duplicates it never reads pass.
            if seen & bit != 0 && (which as u32) <= Member::ResourceArn as u32 {
                return Err(self.error(
                    depth,
                    ErrorCode::InvalidJson,
                    format!("duplicate key \"{key}\""),
                    Some(span.start as usize),
                ));
            }
            seen |= bit;
            self.member(which, &key, &value, span, depth, fields)?;
            if matches!(which, Member::Subsegments) {
                fields.cut = Some(Span {
                    start: previous_end,
                    end: span.end,
                });
            }
            previous_end = span.end;
        }
        // The closing brace follows the last value, after optional whitespace.
        let tail = &self.text[previous_end as usize..];
        let close = tail.iter().position(|&b| b == b'}').unwrap_or(0); // invariant: the iterator validated the object
        Ok(Span {
            start: object_start,
            end: previous_end + close as u32 + 1,
        })
    }

    #[allow(clippy::too_many_lines)] // one arm per member reads better than a table of closures
    fn member(
        &mut self,
        which: Member,
        key: &str,
        value: &LazyValue<'a>,
        span: Span,
        depth: usize,
        fields: &mut Fields<'a>,
    ) -> Result<(), DocumentError> {
        let at = Some(span.start as usize);
        let wrong_type = |expected: &str| {
            self.error(
                depth,
                ErrorCode::InvalidDocument,
                format!("\"{key}\" must be {expected}, found {}", type_name(value)),
                at,
            )
        };
        match which {
            Member::Id => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                let raw = raw_str(value);
                fields.id_text = raw.get(1..raw.len() - 1); // the id as sent, for error reports
                fields.id = Some(SegmentId::parse(text).ok_or_else(|| {
                    self.error(
                        depth,
                        ErrorCode::InvalidId,
                        format!("id {text:?} is not 16 lowercase hex digits"),
                        at,
                    )
                })?);
            }
            Member::Name => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                check_name(text)
                    .map_err(|detail| self.error(depth, ErrorCode::InvalidName, detail, at))?;
                fields.name = Some(span);
            }
            Member::TraceId => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                let id = TraceId::parse(text).ok_or_else(|| {
                    self.error(
                        depth,
                        ErrorCode::InvalidTraceId,
                        format!("trace_id {text:?} is not 1-<8 hex digits>-<24 hex digits>"),
                        at,
                    )
                })?;
                // Nested subsegments may repeat the trace id (the Python SDK does); the outer one rules.
                if depth == 0 {
                    self.trace_id = Some(id);
                }
            }
            Member::ParentId => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                fields.parent = Some(SegmentId::parse(text).ok_or_else(|| {
                    self.error(
                        depth,
                        ErrorCode::InvalidParentId,
                        format!("parent_id {text:?} is not 16 lowercase hex digits"),
                        at,
                    )
                })?);
            }
            Member::Type => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                fields.is_subsegment_type = text == "subsegment";
            }
            Member::StartTime | Member::EndTime => {
                // std's float parser (Eisel-Lemire) on the raw text: faster than a serde round trip.
                let time = match value.get_type() {
                    JsonType::Number => raw_str(value).parse::<f64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| wrong_type("a number"))?;
                if !time.is_finite() || time < 0.0 {
                    return Err(self.error(
                        depth,
                        if matches!(which, Member::StartTime) {
                            ErrorCode::InvalidStartTime
                        } else {
                            ErrorCode::InvalidEndTime
                        },
                        format!("{key} {time} is not a non-negative number of epoch seconds"),
                        at,
                    ));
                }
                if matches!(which, Member::StartTime) {
                    fields.start = Some(time);
                } else {
                    fields.end = Some(time);
                }
            }
            Member::InProgress => {
                fields.in_progress = Some(value.as_bool().ok_or_else(|| wrong_type("a boolean"))?);
            }
            Member::Error | Member::Throttle | Member::Fault => {
                let on = value.as_bool().ok_or_else(|| wrong_type("a boolean"))?;
                let bit = match which {
                    Member::Error => Flags::ERROR,
                    Member::Throttle => Flags::THROTTLE,
                    _ => Flags::FAULT,
                };
                fields.flags.set(bit, on);
            }
            Member::Namespace => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                fields.namespace = Some(match text {
                    "aws" => Namespace::Aws,
                    "remote" => Namespace::Remote,
                    _ => Namespace::Other,
                });
            }
            Member::Cause => {
                match value.get_type() {
                    JsonType::String => {
                        let text = value.as_str().unwrap_or_default();
                        SegmentId::parse(text).ok_or_else(|| {
                        self.error(
                            depth,
                            ErrorCode::InvalidDocument,
                            format!("cause {text:?} is neither an object nor a 16-hex-digit exception id"),
                            at,
                        )
                    })?;
                        fields.flags.set(Flags::CAUSE_REF, true);
                    }
                    JsonType::Object => {}
                    _ => return Err(wrong_type("an object or an exception id")),
                }
                fields.cause = Some(span);
            }
            Member::Http => {
                if value.get_type() != JsonType::Object {
                    return Err(wrong_type("an object"));
                }
                // One pass over `http` for what assembly needs (`request.traced`) and what every
                // analysis reads of every entity (`response.status`), so none re-reads it.
                for (key, member) in value
                    .clone()
                    .into_object_iter()
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    match &*key {
                        "request" => {
                            let traced = member.get("traced").and_then(|t| t.as_bool());
                            fields.flags.set(Flags::TRACED, traced.unwrap_or(false));
                        }
                        "response" => fields.status = member.get("status").and_then(|s| status(&s)),
                        _ => {}
                    }
                }
                fields.http = Some(span);
            }
            Member::Aws => {
                if value.get_type() != JsonType::Object {
                    return Err(wrong_type("an object"));
                }
                fields.aws = Some(value.clone());
            }
            Member::Subsegments => {
                if value.get_type() != JsonType::Array {
                    return Err(wrong_type("an array"));
                }
                fields.subsegments = Some(value.clone());
            }
            Member::Annotations => {
                self.annotations(value, depth)?;
                fields.annotations = Some(span);
            }
            Member::Metadata | Member::Service | Member::Sql => {
                if value.get_type() != JsonType::Object {
                    return Err(wrong_type("an object"));
                }
            }
            Member::Origin | Member::User | Member::ResourceArn => {
                if value.get_type() != JsonType::String {
                    return Err(wrong_type("a string"));
                }
                *match which {
                    Member::Origin => &mut fields.origin,
                    Member::User => &mut fields.user,
                    _ => &mut fields.resource_arn,
                } = Some(span);
            }
            Member::PrecursorIds | Member::Links => {
                let (expected, name) = (JsonType::Array, "an array");
                if value.get_type() != expected {
                    return Err(wrong_type(name));
                }
                if matches!(which, Member::Links) {
                    fields.links = Some(span);
                }
            }
        }
        Ok(())
    }

    fn annotations(&self, value: &LazyValue<'a>, depth: usize) -> Result<(), DocumentError> {
        if value.get_type() != JsonType::Object {
            return Err(self.error(
                depth,
                ErrorCode::InvalidDocument,
                format!(
                    "\"annotations\" must be an object, found {}",
                    type_name(value)
                ),
                Some(span_in(self.text, raw_str(value).as_bytes()).start as usize),
            ));
        }
        for member in value.clone().into_object_iter().into_iter().flatten() {
            let (key, item) = member.map_err(|e| json_error(self.text, self.index, &e))?;
            if matches!(
                item.get_type(),
                JsonType::Object | JsonType::Array | JsonType::Null
            ) {
                return Err(self.error(
                    depth,
                    ErrorCode::InvalidDocument,
                    format!("annotation {key:?} is {}; annotation values are strings, numbers or booleans", type_name(&item)),
                    Some(span_in(self.text, raw_str(&item).as_bytes()).start as usize),
                ));
            }
        }
        Ok(())
    }

    fn entity(
        &self,
        f: &Fields<'a>,
        object: Span,
        nested_in: Option<SegmentId>,
        depth: usize,
    ) -> Result<Entity, DocumentError> {
        let missing = |code, what: &str| {
            self.error(
                depth,
                code,
                format!(
                    "the {} has no \"{what}\"",
                    if depth > 0 { "subsegment" } else { "segment" }
                ),
                Some(object.start as usize),
            )
        };
        let id = f.id.ok_or_else(|| missing(ErrorCode::MissingId, "id"))?;
        let name = f
            .name
            .ok_or_else(|| missing(ErrorCode::MissingName, "name"))?;
        let start = f
            .start
            .ok_or_else(|| missing(ErrorCode::MissingStartTime, "start_time"))?;
        let end = match (f.in_progress, f.end) {
            // An explicit in_progress wins over an end_time sent alongside it.
            (Some(true), _) => None,
            (_, Some(end)) => {
                if end < start {
                    return Err(self.error(
                        depth,
                        ErrorCode::InvalidEndTime,
                        format!("end_time {end} is before start_time {start}"),
                        Some(object.start as usize),
                    ));
                }
                Some(end)
            }
            (_, None) => {
                return Err(self.error(
                    depth,
                    ErrorCode::MissingEndTimeOrInProgress,
                    "the document has neither \"end_time\" nor \"in_progress\": true".to_owned(),
                    Some(object.start as usize),
                ))
            }
        };
        let kind = if depth > 0 || f.is_subsegment_type {
            Kind::Subsegment
        } else {
            Kind::Segment
        };
        let parent = if depth > 0 { nested_in } else { f.parent };
        if depth == 0 && kind == Kind::Subsegment && parent.is_none() {
            return Err(missing(ErrorCode::MissingParentId, "parent_id"));
        }
        let namespace = f.namespace.unwrap_or(Namespace::Other);
        let resource = match (namespace, &f.aws) {
            (Namespace::Aws, Some(aws)) => aws_resource(aws),
            _ => AwsResource::None,
        };
        Ok(Entity {
            id,
            doc: 0,
            parent,
            kind,
            start,
            end,
            namespace,
            resource,
            flags: f.flags,
            object,
            cut: f.cut,
            name,
            cause: f.cause,
            http: f.http,
            status: f.status,
            aws: f
                .aws
                .as_ref()
                .map(|v| span_in(self.text, raw_str(v).as_bytes())),
            annotations: f.annotations,
            links: f.links,
            origin: f.origin,
            user: f.user,
            resource_arn: f.resource_arn,
        })
    }
}

/// An HTTP status: an integer, or a string holding one (spec §10 Q23: some SDKs send a
/// string); `None` for anything else or a value outside `i32`.
fn status(value: &LazyValue<'_>) -> Option<i32> {
    match value.get_type() {
        JsonType::Number => value.as_raw_str().trim_ascii().parse().ok(),
        JsonType::String => value.as_str().and_then(|s| s.parse().ok()),
        _ => None,
    }
}

fn aws_resource(aws: &LazyValue<'_>) -> AwsResource {
    for (key, _) in aws
        .clone()
        .into_object_iter()
        .into_iter()
        .flatten()
        .flatten()
    {
        match &*key {
            "table_name" => return AwsResource::TableName,
            "queue_url" => return AwsResource::QueueUrl,
            "function_name" => return AwsResource::FunctionName,
            "bucket_name" => return AwsResource::BucketName,
            _ => {}
        }
    }
    AwsResource::None
}

/// X-Ray's rule for names (spec §1.3, §10 Q2): at most 200 characters; Unicode letters, digits,
/// whitespace and `_ . : / % & # = + \ - @`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".to_owned());
    }
    // Nearly every name is short ASCII: check those bytes without decoding characters.
    if name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" _.:/%&#=+\\-@\t\n\r".contains(&b))
    {
        return Ok(());
    }
    if name.chars().count() > 200 {
        return Err(format!(
            "name is {} characters long; the limit is 200",
            name.chars().count()
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c);
    match name.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!("name {name:?} contains {c:?}; names may hold letters, digits, spaces and _ . : / % & # = + \\ - @")),
        None => Ok(()),
    }
}

/// The raw text of a value. Values from sonic-rs's unchecked iterators may carry the whitespace
/// that follows them; it is trimmed so every span starts and ends on the value itself.
fn raw_str<'a>(value: &LazyValue<'a>) -> &'a str {
    match value.as_raw_cow() {
        std::borrow::Cow::Borrowed(s) => s.trim_ascii(),
        // invariant: values read from a borrowed slice are borrowed from it
        std::borrow::Cow::Owned(_) => "",
    }
}

/// Where `part` (a sub-slice of `text`) lies in `text`.
fn span_in(text: &[u8], part: &[u8]) -> Span {
    let start = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    Span {
        start: start as u32,
        end: (start + part.len()) as u32,
    }
}

fn type_name(value: &LazyValue<'_>) -> &'static str {
    match value.get_type() {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

fn json_error(text: &[u8], index: usize, e: &sonic_rs::Error) -> DocumentError {
    let full = e.to_string();
    let what = full.split(" at line ").next().unwrap_or(&full);
    DocumentError {
        index,
        segment_id: sniff_id(text),
        code: ErrorCode::InvalidJson,
        detail: what.to_owned(),
        offset: Some(e.offset().min(text.len())),
        in_subsegment: false,
    }
}

/// Finds `"id": "<16 hex>"` in text that failed to parse, as the X-Ray daemon does to report it.
#[must_use]
pub fn sniff_id(text: &[u8]) -> Option<String> {
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&text[from..], b"\"id\"") {
        let rest = &text[from + at + 4..];
        let rest = trim_start(rest);
        if let Some(rest) = rest.strip_prefix(b":") {
            let rest = trim_start(rest);
            if rest.len() >= 18 && rest[0] == b'"' && rest[17] == b'"' {
                if let Ok(id) = std::str::from_utf8(&rest[1..17]) {
                    if SegmentId::parse(id).is_some() {
                        return Some(id.to_owned());
                    }
                }
            }
        }
        from += at + 4;
    }
    None
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}
