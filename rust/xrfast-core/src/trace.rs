//! A finished trace: its segments rebuilt as X-Ray's `BatchGetTraces` returns them.
//!
//! Building a [`Trace`] derives, once, everything the spec's §3.2 asks for — the tree of
//! subsegments under each segment, orphans, inferred segments, the root, the partial flag and
//! the duration. Rebuilt documents are spliced from the original text (see [`crate::document`]),
//! so the only JSON this module writes itself is punctuation and the members of inferred segments.

use std::io::Write as _;

use rustc_hash::{FxHashMap, FxHashSet};
use sonic_rs::JsonValueTrait;

use crate::document::{AwsResource, Entity, Flags, Kind, Namespace, Span};
use crate::ids::{SegmentId, TraceId};

/// One entry of a trace's `Segments`: a real segment, or the inferred segment of a subsegment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentRef {
    /// A segment document, by entity index.
    Real(u32),
    /// The segment X-Ray infers for the `aws`/`remote` subsegment with this entity index.
    Inferred(u32),
}

/// A trace whose segments are rebuilt and whose trace-level facts are derived.
///
/// Rebuilt documents are spliced from the text of the documents the trace received.
#[derive(Debug)]
pub struct Trace {
    id: TraceId,
    /// The text of every document the trace holds; entities point into them.
    docs: Vec<Box<[u8]>>,
    entities: Vec<Entity>,
    shape: Shape,
    limit_exceeded: bool,
    revision: u32,
}

/// What §3.2 derives from a trace's entities: the tree, orphans, inferred segments, root, flags.
#[derive(Debug)]
pub struct Shape {
    /// Children of entity `i` are `children[child_start[i]..child_start[i + 1]]`, in output order.
    child_start: Vec<u32>,
    children: Vec<u32>,
    /// Entities reachable from a segment (orphans are not).
    reachable: Vec<bool>,
    segments: Vec<SegmentRef>,
    root: Option<usize>,
    partial: bool,
    duration: f64,
    /// Some entity has a `links` member (the service graph reads links only then).
    links: bool,
}

/// Per-entity columns for numpy: one row per segment, inferred segment and reachable subsegment.
#[derive(Debug, Default)]
pub struct Columns {
    /// Index of the row's trace in the batch the columns were made from.
    pub trace: Vec<u32>,
    /// Entity id.
    pub id: Vec<u64>,
    /// Parent id; 0 for none.
    pub parent_id: Vec<u64>,
    /// 0 = segment, 1 = subsegment, 2 = inferred segment.
    pub kind: Vec<u8>,
    /// Start, epoch seconds.
    pub start: Vec<f64>,
    /// End, epoch seconds; NaN while in progress.
    pub end: Vec<f64>,
    /// `error` flag.
    pub error: Vec<bool>,
    /// `throttle` flag.
    pub throttle: Vec<bool>,
    /// `fault` flag.
    pub fault: Vec<bool>,
}

impl Shape {
    /// Derives the shape of trace `id` from its entities; `index` maps each entity id to its position.
    #[must_use]
    pub fn derive(id: TraceId, entities: &[Entity], index: &FxHashMap<u64, u32>) -> Self {
        let n = entities.len();
        // Children: subsegments whose parent is a stored entity, grouped by parent (CSR layout).
        let parent_of = |e: &Entity| match e.kind {
            Kind::Subsegment => e.parent.and_then(|p| index.get(&p.0).copied()),
            Kind::Segment => None,
        };
        let mut child_start = vec![0u32; n + 1];
        for e in entities {
            if let Some(p) = parent_of(e) {
                child_start[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut children = vec![0u32; child_start[n] as usize];
        for (i, e) in entities.iter().enumerate() {
            if let Some(p) = parent_of(e) {
                children[fill[p as usize] as usize] = i as u32;
                fill[p as usize] += 1;
            }
        }
        let order = |a: &Entity, b: &Entity| a.start.total_cmp(&b.start).then(a.id.cmp(&b.id));
        for i in 0..n {
            let kids = &mut children[child_start[i] as usize..child_start[i + 1] as usize];
            kids.sort_unstable_by(|&a, &b| order(&entities[a as usize], &entities[b as usize]));
        }

        // Reachability from segments, iteratively: chains of independent subsegments can be deep.
        let mut reachable = vec![false; n];
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&i| entities[i as usize].kind == Kind::Segment)
            .collect();
        while let Some(i) = stack.pop() {
            reachable[i as usize] = true;
            stack.extend_from_slice(
                &children[child_start[i as usize] as usize..child_start[i as usize + 1] as usize],
            );
        }

        // A downstream service that sends its own segment names the calling subsegment as parent.
        let called: FxHashSet<u64> = entities
            .iter()
            .filter(|e| e.kind == Kind::Segment)
            .filter_map(|e| e.parent.map(|p| p.0))
            .collect();
        let mut segments = Vec::new();
        let (mut partial, mut links) = (false, false);
        for (i, e) in entities.iter().enumerate() {
            partial |= e.in_progress() || !reachable[i];
            links |= e.links.is_some();
            match e.kind {
                Kind::Segment => segments.push(SegmentRef::Real(i as u32)),
                Kind::Subsegment if reachable[i] && !called.contains(&e.id.0) => {
                    if matches!(e.namespace, Namespace::Aws | Namespace::Remote) {
                        segments.push(SegmentRef::Inferred(i as u32));
                    }
                    // A traced call whose callee has not reported yet leaves the trace broken.
                    partial |= e.flags.has(Flags::TRACED);
                }
                Kind::Subsegment => {}
            }
        }
        let key = |s: &SegmentRef| match *s {
            SegmentRef::Real(i) => (entities[i as usize].start, entities[i as usize].id),
            SegmentRef::Inferred(i) => (
                entities[i as usize].start,
                entities[i as usize].id.inferred(id),
            ),
        };
        segments.sort_unstable_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0).then(ka.1.cmp(&kb.1))
        });

        let root = segments
            .iter()
            .enumerate()
            .filter_map(|(pos, s)| match *s {
                SegmentRef::Real(i) => Some((pos, &entities[i as usize])),
                SegmentRef::Inferred(_) => None,
            })
            .filter(|(_, e)| e.parent.is_none_or(|p| !index.contains_key(&p.0)))
            .min_by(|(_, a), (_, b)| order(a, b))
            .map(|(pos, _)| pos);

        let first_start = segments.iter().map(|s| key(s).0).min_by(f64::total_cmp);
        let last_end = segments
            .iter()
            .filter_map(|s| match *s {
                SegmentRef::Real(i) | SegmentRef::Inferred(i) => entities[i as usize].end,
            })
            .max_by(f64::total_cmp);
        let duration = match (first_start, last_end) {
            (Some(start), Some(end)) => (end - start).max(0.0),
            _ => 0.0,
        };

        Self {
            child_start,
            children,
            reachable,
            segments,
            root,
            partial,
            duration,
            links,
        }
    }

    /// Complete in the sense of §3.2: a root exists and nothing is in progress, orphaned or waiting.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.root.is_some() && !self.partial
    }
}

impl Trace {
    /// Derives a trace from its stored entities. `index` maps each entity id to its position.
    #[must_use]
    pub fn build(
        id: TraceId,
        docs: Vec<Box<[u8]>>,
        entities: Vec<Entity>,
        index: &FxHashMap<u64, u32>,
        revision: u32,
        limit_exceeded: bool,
    ) -> Self {
        let shape = Shape::derive(id, &entities, index);
        Self {
            id,
            docs,
            entities,
            shape,
            limit_exceeded,
            revision,
        }
    }

    /// The trace id.
    #[must_use]
    pub fn id(&self) -> TraceId {
        self.id
    }

    /// The segments, real and inferred, ordered by start time, then id.
    #[must_use]
    pub fn segments(&self) -> &[SegmentRef] {
        &self.shape.segments
    }

    /// The root segment's position in [`Trace::segments`], if there is one.
    #[must_use]
    pub fn root(&self) -> Option<usize> {
        self.shape.root
    }

    /// One or more entities are in progress, orphaned, or wait for a traced callee.
    #[must_use]
    pub fn is_partial(&self) -> bool {
        self.shape.partial
    }

    /// Some entity of the trace has a `links` member.
    #[must_use]
    pub fn has_links(&self) -> bool {
        self.shape.links
    }

    /// Documents were dropped because the trace reached a size limit.
    #[must_use]
    pub fn limit_exceeded(&self) -> bool {
        self.limit_exceeded
    }

    /// How many times a complete entity was replaced by another complete one.
    #[must_use]
    pub fn revision(&self) -> u32 {
        self.revision
    }

    /// Last end minus first start over the segments, in seconds.
    #[must_use]
    pub fn duration(&self) -> f64 {
        self.shape.duration
    }

    /// The text of every document the trace received and kept (orphans' documents included), in
    /// arrival order: assembling them again gives the same trace.
    #[must_use]
    pub fn documents(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.docs.iter().map(AsRef::as_ref)
    }

    /// Every stored entity (including orphans), in arrival order.
    #[must_use]
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// Bytes held by the trace (document text plus entity records).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.docs
            .iter()
            .map(|d| d.len() + std::mem::size_of::<Box<[u8]>>())
            .sum::<usize>()
            + self.entities.capacity() * std::mem::size_of::<Entity>()
            + (self.shape.children.capacity() + self.shape.child_start.capacity()) * 4
            + self.shape.reachable.capacity()
            + self.shape.segments.capacity() * std::mem::size_of::<SegmentRef>()
    }

    /// The id of a segment entry.
    #[must_use]
    pub fn segment_id(&self, segment: SegmentRef) -> SegmentId {
        match segment {
            SegmentRef::Real(i) => self.entities[i as usize].id,
            SegmentRef::Inferred(i) => self.entities[i as usize].id.inferred(self.id),
        }
    }

    /// Appends the rebuilt JSON document of `segment` to `out`.
    pub fn write_document(&self, segment: SegmentRef, out: &mut Vec<u8>) {
        match segment {
            SegmentRef::Real(i) => self.write_tree(i, out),
            SegmentRef::Inferred(i) => self.write_inferred(i, out),
        }
    }

    /// The cause object of entity `id`, with a reference followed: when its `cause` is the id of
    /// an exception recorded elsewhere in the trace (spec §1.7), the cause object that records
    /// that exception. `None` when the entity has no cause or the reference does not resolve.
    #[must_use]
    pub fn cause(&self, id: SegmentId) -> Option<&[u8]> {
        let entity = self.entities.iter().find(|e| e.id == id)?;
        let cause = self.text(entity, entity.cause?);
        if !entity.flags.has(Flags::CAUSE_REF) {
            return Some(cause);
        }
        let wanted = std::str::from_utf8(cause).ok()?.trim_matches('"');
        self.entities
            .iter()
            .filter(|e| !e.flags.has(Flags::CAUSE_REF))
            .find_map(|e| {
                let candidate = self.text(e, e.cause?);
                let text = std::str::from_utf8(candidate).ok()?;
                let exceptions = sonic_rs::get_from_str(text, ["exceptions"]).ok()?;
                let found = sonic_rs::to_array_iter(exceptions.as_raw_str())
                    .flatten()
                    .any(|exception| {
                        exception
                            .get("id")
                            .and_then(|v| v.as_str().map(|s| s == wanted))
                            .unwrap_or(false)
                    });
                found.then_some(candidate)
            })
    }

    /// Appends this trace in the `BatchGetTraces` `Trace` shape:
    /// `{"Id", "Duration", "LimitExceeded", "Segments": [{"Id", "Document"}]}`, each `Document` a
    /// JSON string. `scratch` is reused between calls to avoid allocating per segment.
    pub fn write_json(&self, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        let _ = write!(out, "{{\"Id\":\"{}\",\"Duration\":", self.id);
        write_number(out, self.shape.duration);
        let _ = write!(
            out,
            ",\"LimitExceeded\":{},\"Segments\":[",
            self.limit_exceeded
        );
        for (n, &segment) in self.shape.segments.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let _ = write!(
                out,
                "{{\"Id\":\"{}\",\"Document\":",
                self.segment_id(segment)
            );
            scratch.clear();
            self.write_document(segment, scratch);
            write_json_string(out, scratch);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }

    /// Appends one row per output entity to `columns`, tagged with `trace_index`.
    pub fn write_columns(&self, trace_index: u32, columns: &mut Columns) {
        let mut push = |e: &Entity, id: SegmentId, parent: Option<SegmentId>, kind: u8| {
            columns.trace.push(trace_index);
            columns.id.push(id.0);
            columns.parent_id.push(parent.map_or(0, |p| p.0));
            columns.kind.push(kind);
            columns.start.push(e.start);
            columns.end.push(e.end.unwrap_or(f64::NAN));
            columns.error.push(e.flags.has(Flags::ERROR));
            columns.throttle.push(e.flags.has(Flags::THROTTLE));
            columns.fault.push(e.flags.has(Flags::FAULT));
        };
        for &segment in &self.shape.segments {
            match segment {
                SegmentRef::Real(i) => {
                    let e = &self.entities[i as usize];
                    push(e, e.id, e.parent, 0);
                }
                SegmentRef::Inferred(i) => {
                    let e = &self.entities[i as usize];
                    push(e, e.id.inferred(self.id), Some(e.id), 2);
                }
            }
        }
        for (i, e) in self.entities.iter().enumerate() {
            if e.kind == Kind::Subsegment && self.shape.reachable[i] {
                push(e, e.id, e.parent, 1);
            }
        }
    }

    /// The child subsegments of entity `i` (indexes into [`Trace::entities`]), in output order:
    /// by start time, then id. Downstream segments are not children (they are their own
    /// documents).
    #[must_use]
    pub fn children(&self, i: u32) -> &[u32] {
        self.kids(i)
    }

    /// Whether entity `i` is reachable from a segment (orphans are not, and are not returned).
    #[must_use]
    pub fn is_reachable(&self, i: u32) -> bool {
        self.shape.reachable[i as usize]
    }

    /// The bytes of `span` in the document that holds entity `e`, for the stages that read
    /// members lazily (summaries).
    #[must_use]
    pub fn text_of(&self, e: &Entity, span: Span) -> &[u8] {
        self.text(e, span)
    }

    fn kids(&self, i: u32) -> &[u32] {
        let s = &self.shape;
        &s.children[s.child_start[i as usize] as usize..s.child_start[i as usize + 1] as usize]
    }

    /// The bytes of `span` in the document that holds entity `e`.
    fn text(&self, e: &Entity, span: Span) -> &[u8] {
        span.of(&self.docs[e.doc as usize])
    }

    /// The object's members before and after its `subsegments` member, without separators.
    fn head_tail(&self, e: &Entity) -> (&[u8], &[u8]) {
        let inner = Span {
            start: e.object.start + 1,
            end: e.object.end - 1,
        };
        match e.cut {
            None => (trim(self.text(e, inner)), &[]),
            Some(cut) => {
                let head = Span {
                    start: inner.start,
                    end: cut.start,
                };
                let tail = trim(self.text(
                    e,
                    Span {
                        start: cut.end,
                        end: inner.end,
                    },
                ));
                (
                    trim(self.text(e, head)),
                    trim(tail.strip_prefix(b",").unwrap_or(tail)),
                )
            }
        }
    }

    /// Writes entity `top` with its subsegment tree, depth first without recursion.
    fn write_tree(&self, top: u32, out: &mut Vec<u8>) {
        let open = |i: u32, out: &mut Vec<u8>| {
            let (head, _) = self.head_tail(&self.entities[i as usize]);
            out.push(b'{');
            out.extend_from_slice(head);
            if !self.kids(i).is_empty() {
                if !head.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"subsegments\":[");
            }
        };
        let close = |i: u32, out: &mut Vec<u8>| {
            let (head, tail) = self.head_tail(&self.entities[i as usize]);
            let has_kids = !self.kids(i).is_empty();
            if has_kids {
                out.push(b']');
            }
            if !tail.is_empty() {
                if has_kids || !head.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(tail);
            }
            out.push(b'}');
        };
        open(top, out);
        let mut stack = vec![(top, 0usize)];
        while let Some(&mut (i, ref mut next)) = stack.last_mut() {
            if let Some(&child) = self.kids(i).get(*next) {
                if *next > 0 {
                    out.push(b',');
                }
                *next += 1;
                open(child, out);
                stack.push((child, 0));
            } else {
                close(i, out);
                stack.pop();
            }
        }
    }

    /// Writes the inferred segment of subsegment `i`, members in the order of docs/assembly.md.
    fn write_inferred(&self, i: u32, out: &mut Vec<u8>) {
        let e = &self.entities[i as usize];
        let name = self.text(e, e.name);
        let _ = write!(out, "{{\"id\":\"{}\",\"name\":", e.id.inferred(self.id));
        out.extend_from_slice(name);
        out.extend_from_slice(b",\"start_time\":");
        write_number(out, e.start);
        match e.end {
            Some(end) => {
                out.extend_from_slice(b",\"end_time\":");
                write_number(out, end);
            }
            None => out.extend_from_slice(b",\"in_progress\":true"),
        }
        let _ = write!(
            out,
            ",\"parent_id\":\"{}\",\"trace_id\":\"{}\",\"inferred\":true,\"origin\":",
            e.id, self.id
        );
        if let Some(origin) = known_origin(e, name) {
            out.push(b'"');
            out.extend_from_slice(origin.as_bytes());
            out.push(b'"');
        } else {
            // `AWS::<name>`: the raw name is already a valid JSON string body.
            out.extend_from_slice(b"\"AWS::");
            out.extend_from_slice(&name[1..name.len() - 1]);
            out.push(b'"');
        }
        for (key, span) in [("http", e.http), ("aws", e.aws)] {
            if let Some(span) = span {
                let _ = write!(out, ",\"{key}\":");
                out.extend_from_slice(self.text(e, span));
            }
        }
        for (key, bit) in [
            ("error", Flags::ERROR),
            ("throttle", Flags::THROTTLE),
            ("fault", Flags::FAULT),
        ] {
            if e.flags.has(bit) {
                let _ = write!(out, ",\"{key}\":true");
            }
        }
        out.push(b'}');
    }
}

/// The `origin` of the inferred segment of subsegment `e` (raw JSON `name`, quotes included)
/// when docs/assembly.md names one: `remote`, or an AWS resource type. `None` means
/// `AWS::<name>`.
#[must_use]
pub fn known_origin(e: &Entity, name: &[u8]) -> Option<&'static str> {
    // SDKs differ in case: hand-made subsegments say `DynamoDB`, the boto patch `dynamodb`.
    let named = |service: &[u8]| {
        name.len() == service.len() + 2 && name[1..name.len() - 1].eq_ignore_ascii_case(service)
    };
    match (e.namespace, e.resource) {
        (Namespace::Remote, _) => Some("remote"),
        (_, AwsResource::TableName) if named(b"DynamoDB") => Some("AWS::DynamoDB::Table"),
        (_, AwsResource::QueueUrl) if named(b"SQS") => Some("AWS::SQS::Queue"),
        (_, AwsResource::FunctionName) if named(b"Lambda") => Some("AWS::Lambda::Function"),
        (_, AwsResource::BucketName) if named(b"S3") => Some("AWS::S3::Bucket"),
        _ => None,
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Writes a finite float the shortest way that reads back exactly, always as a float (`4.0`,
/// not `4`), since X-Ray's times and durations are doubles.
fn write_number(out: &mut Vec<u8>, value: f64) {
    let start = out.len();
    let _ = write!(out, "{value}");
    if !out[start..].iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        out.extend_from_slice(b".0");
    }
}

/// Writes `text` (valid UTF-8 JSON) as a JSON string literal.
fn write_json_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    let mut from = 0;
    for (at, &b) in text.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&text[from..at]);
        out.extend_from_slice(escape);
        from = at + 1;
    }
    out.extend_from_slice(&text[from..]);
    out.push(b'"');
}
