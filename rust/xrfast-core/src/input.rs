//! Framing: how documents are packed in an input, detected automatically or named.
//!
//! X-Ray documents travel in several envelopes: alone, behind a daemon header in a UDP datagram,
//! one per line in NDJSON captures (where daemon header lines may sit between them), in a JSON
//! array, as strings in a `PutTraceSegments` request, or inside a `BatchGetTraces` response.
//! Framing cuts an input into documents without parsing them; a framing problem that concerns
//! one document (a bad daemon header, say) becomes that document's error, never the batch's.

use std::borrow::Cow;

use sonic_rs::{JsonType, JsonValueTrait};

use crate::document::nesting_exceeds;
use crate::error::{DocumentError, ErrorCode, InputError};

/// How documents are packed in an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Decide from the bytes (see [`detect`]).
    Auto,
    /// One document (an object, or an array of subsegments).
    Document,
    /// One daemon datagram: a header line, `\n`, one document (spec §2.2).
    Datagram,
    /// One document per line; daemon header lines between them are checked and skipped.
    Ndjson,
    /// A JSON array of documents.
    Array,
    /// A `PutTraceSegments` request body: `{"TraceSegmentDocuments": ["<json>", …]}`.
    PutTraceSegments,
    /// A `BatchGetTraces` response (`aws xray batch-get-traces`): `{"Traces": [{"Segments": [{"Document"}]}]}`.
    BatchGetTraces,
}

impl Format {
    /// Every format with its name, as the Python API spells it.
    pub const ALL: [(Self, &'static str); 7] = [
        (Self::Auto, "auto"),
        (Self::Document, "document"),
        (Self::Datagram, "datagram"),
        (Self::Ndjson, "ndjson"),
        (Self::Array, "array"),
        (Self::PutTraceSegments, "put_trace_segments"),
        (Self::BatchGetTraces, "batch_get_traces"),
    ];

    /// The format named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// The name of the format.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("auto", |(_, n)| n)
    }
}

/// One document cut out of an input, or the reason it could not be.
#[derive(Debug)]
pub struct Framed<'a> {
    /// Its index in the input.
    pub index: usize,
    /// Its text; borrowed unless it had to be unescaped from a JSON string.
    pub bytes: Cow<'a, [u8]>,
    /// Set when framing already rejected it (e.g. its daemon header is invalid); boxed, since
    /// it is rare and `Framed` is made once per document.
    pub error: Option<Box<DocumentError>>,
}

/// Guesses the format of `input`:
/// `[` → [`Format::Array`]; an object whose first line is a complete JSON value and is followed
/// by more lines → [`Format::Ndjson`] (this covers datagrams and captures with header lines);
/// otherwise one value: [`Format::PutTraceSegments`] or [`Format::BatchGetTraces`] when it has
/// their key, else [`Format::Document`]. JSON nested deeper than `max_json_depth` is not looked
/// into (the parser would recurse that deep); the document parser reports it.
#[must_use]
pub fn detect(input: &[u8], max_json_depth: usize) -> Format {
    let text = skip_bom(input).trim_ascii_start();
    match text.first() {
        None => Format::Ndjson,
        Some(b'[') => Format::Array,
        Some(b'{') => {
            if let Some(newline) = memchr::memchr(b'\n', text) {
                let rest = text[newline + 1..].trim_ascii();
                let line = &text[..newline];
                if !rest.is_empty()
                    && nesting_exceeds(line, max_json_depth).is_none()
                    && sonic_rs::from_slice::<sonic_rs::Value>(line).is_ok()
                {
                    return Format::Ndjson;
                }
            }
            if nesting_exceeds(text, max_json_depth).is_some() {
                return Format::Document;
            }
            // The first key decides without reading its value (the input may be cut short);
            // otherwise any top-level key does.
            let envelope = |key: &[u8]| match key {
                b"TraceSegmentDocuments" => Some(Format::PutTraceSegments),
                b"Traces" => Some(Format::BatchGetTraces),
                _ => None,
            };
            first_key(text)
                .and_then(envelope)
                .or_else(|| {
                    sonic_rs::to_object_iter(text)
                        .flatten()
                        .find_map(|(key, _)| envelope(key.as_bytes()))
                })
                .unwrap_or(Format::Document)
        }
        Some(_) => Format::Document,
    }
}

/// The first key of the object `text` starts with, when it is written without escapes.
fn first_key(text: &[u8]) -> Option<&[u8]> {
    let rest = text
        .strip_prefix(b"{")?
        .trim_ascii_start()
        .strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

/// Cuts `input` into documents, numbered from `first_index`, appending them to `out`.
/// Returns how many documents were framed. `max_json_depth` bounds the nesting of envelopes that
/// are one JSON value (arrays, API bodies), which are walked here.
pub fn frame<'a>(
    input: &'a [u8],
    format: Format,
    first_index: usize,
    max_json_depth: usize,
    out: &mut Vec<Framed<'a>>,
) -> Result<usize, InputError> {
    let before = out.len();
    let mut index = first_index;
    let mut push = |bytes: Cow<'a, [u8]>, error: Option<DocumentError>| {
        let error = error.map(|mut e| {
            e.index = index;
            Box::new(e)
        });
        out.push(Framed {
            index,
            bytes,
            error,
        });
        index += 1;
    };
    let input = skip_bom(input);
    let format = if format == Format::Auto {
        detect(input, max_json_depth)
    } else {
        format
    };
    let one_value = matches!(
        format,
        Format::Array | Format::PutTraceSegments | Format::BatchGetTraces
    );
    // An envelope adds a few levels around its documents.
    if one_value && nesting_exceeds(input, max_json_depth + 4).is_some() {
        return Err(InputError::Format(format!(
            "the input is nested deeper than the limit of {max_json_depth} levels"
        )));
    }
    match format {
        Format::Auto | Format::Document => push(Cow::Borrowed(input), None),
        Format::Datagram => {
            let (bytes, error) = split_datagram(input);
            push(Cow::Borrowed(bytes), error);
        }
        Format::Ndjson => frame_lines(input, &mut push),
        Format::Array => {
            for element in sonic_rs::to_array_iter(input) {
                match element {
                    Ok(value) => push(raw_cow(&value), None),
                    Err(e) => {
                        let error = framing_error(
                            0,
                            ErrorCode::InvalidJson,
                            format!("the JSON array is malformed: {}", short(&e)),
                        );
                        push(Cow::Borrowed(&[]), Some(error));
                        break;
                    }
                }
            }
        }
        Format::PutTraceSegments => {
            let list = member(input, "TraceSegmentDocuments")?;
            for item in sonic_rs::to_array_iter(list) {
                let item = item.map_err(|e| {
                    InputError::Format(format!("TraceSegmentDocuments is malformed: {}", short(&e)))
                })?;
                push_string_document(&item, "TraceSegmentDocuments element", &mut push);
            }
        }
        Format::BatchGetTraces => {
            let traces = member(input, "Traces")?;
            for trace in sonic_rs::to_array_iter(traces) {
                let trace = trace.map_err(|e| {
                    InputError::Format(format!("Traces is malformed: {}", short(&e)))
                })?;
                let Some(segments) = trace.get("Segments") else {
                    continue;
                };
                for segment in sonic_rs::to_array_iter(segments.as_raw_str().as_bytes()).flatten() {
                    match segment.get("Document") {
                        Some(document) => {
                            push_string_document(&document, "Segment Document", &mut push);
                        }
                        None => push(
                            Cow::Borrowed(&[]),
                            Some(framing_error(
                                0,
                                ErrorCode::InvalidDocument,
                                "a Segment has no Document".to_owned(),
                            )),
                        ),
                    }
                }
            }
        }
    }
    Ok(out.len() - before)
}

/// NDJSON with optional daemon header lines: a header applies to the document after it, and an
/// invalid header rejects that document, as the daemon drops the whole datagram.
fn frame_lines<'a>(input: &'a [u8], push: &mut impl FnMut(Cow<'a, [u8]>, Option<DocumentError>)) {
    let mut bad_header: Option<String> = None;
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', input).chain(std::iter::once(input.len()));
    for end in ends {
        let line = input[start..end].trim_ascii();
        start = end + 1;
        if line.is_empty() {
            continue;
        }
        if looks_like_header(line) {
            if let Err(why) = check_header(line) {
                bad_header = Some(why);
            }
            continue;
        }
        let error = bad_header
            .take()
            .map(|why| framing_error(0, ErrorCode::InvalidHeader, why));
        push(Cow::Borrowed(line), error);
    }
    if let Some(why) = bad_header {
        push(
            Cow::Borrowed(&[]),
            Some(framing_error(
                0,
                ErrorCode::InvalidHeader,
                format!("{why}, and no document follows it"),
            )),
        );
    }
}

fn split_datagram(input: &[u8]) -> (&[u8], Option<DocumentError>) {
    let Some(newline) = memchr::memchr(b'\n', input) else {
        let why = "datagram has no header line (expected {\"format\": \"json\", \"version\": 1} and a newline)";
        return (
            input,
            Some(framing_error(0, ErrorCode::InvalidHeader, why.to_owned())),
        );
    };
    let (header, body) = (&input[..newline], &input[newline + 1..]);
    if let Err(why) = check_header(header) {
        return (body, Some(framing_error(0, ErrorCode::InvalidHeader, why)));
    }
    if body.trim_ascii().is_empty() {
        return (
            body,
            Some(framing_error(
                0,
                ErrorCode::InvalidDocument,
                "datagram has no document after its header".to_owned(),
            )),
        );
    }
    (body, None)
}

/// A line that is a daemon header rather than a document: a small object with a `format` key.
pub(crate) fn looks_like_header(line: &[u8]) -> bool {
    line.len() <= 128
        && line.starts_with(b"{")
        && memchr::memmem::find(line, b"\"format\"").is_some()
}

/// The daemon's rule (spec §2.2): `format` equals `json` ignoring case and `version` is 1.
fn check_header(header: &[u8]) -> Result<(), String> {
    // A real header is one flat object; anything longer or nested is not one (and must not reach
    // the recursive parser: one hostile datagram must not be able to exhaust the stack).
    if header.len() > 256 || nesting_exceeds(header, 1).is_some() {
        let shown = String::from_utf8_lossy(&header[..header.len().min(40)]);
        return Err(format!(
            "daemon header {shown:?}… is not {{\"format\": \"json\", \"version\": 1}}"
        ));
    }
    let shown = String::from_utf8_lossy(header);
    let value: sonic_rs::Value =
        sonic_rs::from_slice(header).map_err(|_| format!("daemon header {shown:?} is not JSON"))?;
    let format_ok = value
        .get("format")
        .and_then(|f| f.as_str())
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let version_ok = value
        .get("version")
        .and_then(sonic_rs::JsonValueTrait::as_f64)
        == Some(1.0);
    if format_ok && version_ok {
        Ok(())
    } else {
        Err(format!(
            "daemon header {shown:?} is not {{\"format\": \"json\", \"version\": 1}}"
        ))
    }
}

fn push_string_document<'a>(
    item: &sonic_rs::LazyValue<'_>,
    what: &str,
    push: &mut impl FnMut(Cow<'a, [u8]>, Option<DocumentError>),
) {
    match item.as_str() {
        Some(text) if item.get_type() == JsonType::String => {
            push(Cow::Owned(text.as_bytes().to_vec()), None);
        }
        _ => push(
            Cow::Borrowed(&[]),
            Some(framing_error(
                0,
                ErrorCode::InvalidDocument,
                format!("{what} must be a JSON string holding a document"),
            )),
        ),
    }
}

/// The raw text of array member `key` of the object `input`.
fn member<'a>(input: &'a [u8], key: &str) -> Result<&'a [u8], InputError> {
    for item in sonic_rs::to_object_iter(input) {
        let (name, value) = item.map_err(|e| {
            InputError::Format(format!("the input is not a JSON object: {}", short(&e)))
        })?;
        if name == key {
            if value.get_type() != JsonType::Array {
                return Err(InputError::Format(format!("\"{key}\" must be an array")));
            }
            return match raw_cow(&value) {
                Cow::Borrowed(bytes) => Ok(bytes),
                Cow::Owned(_) => Err(InputError::Format(format!(
                    "\"{key}\" could not be read in place"
                ))),
            };
        }
    }
    Err(InputError::Format(format!(
        "the input has no \"{key}\" member"
    )))
}

/// A framing error; its index is set when the framed document is pushed.
fn framing_error(index: usize, code: ErrorCode, detail: String) -> DocumentError {
    DocumentError {
        index,
        segment_id: None,
        code,
        detail,
        offset: None,
        in_subsegment: false,
    }
}

fn raw_cow<'a>(value: &sonic_rs::LazyValue<'a>) -> Cow<'a, [u8]> {
    match value.as_raw_cow() {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }
}

fn short(e: &sonic_rs::Error) -> String {
    let full = e.to_string();
    full.split('\n').next().unwrap_or_default().to_owned()
}

/// `input` decompressed when it is gzip (recognised by its magic bytes), as is otherwise; a
/// decompressed size past `max_bytes` is an error (a small input can inflate without bound).
pub fn gunzip(input: &[u8], max_bytes: usize) -> Result<Cow<'_, [u8]>, InputError> {
    if !input.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(max_bytes));
    let decoder = flate2::read::MultiGzDecoder::new(input);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(decoder, max_bytes as u64 + 1),
        &mut out,
    )
    .map_err(|e| {
        InputError::Format(format!(
            "the input looks like gzip but cannot be decompressed: {e}"
        ))
    })?;
    if out.len() > max_bytes {
        return Err(InputError::Format(too_large(max_bytes, "decompresses to")));
    }
    Ok(Cow::Owned(out))
}

/// The message for an input past `max_input_bytes`; `what` says how it got there.
#[must_use]
pub fn too_large(max_bytes: usize, what: &str) -> String {
    format!(
        "the input {what} more than max_input_bytes ({max_bytes} bytes): raise the limit, or \
         give NDJSON, which streams"
    )
}

fn skip_bom(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input)
}
