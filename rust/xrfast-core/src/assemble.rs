//! Streaming assembly: documents in any order → traces, with bounded memory (spec §3.2).
//!
//! Documents of one trace arrive interleaved with other traces, children before parents, in
//! progress before complete, sometimes twice. The assembler keeps each open trace's documents and
//! its entities in an id-indexed table, applies the same-id rules of
//! docs/assembly.md on arrival, and derives the trace's shape only when it is emitted: when it has
//! been idle long enough (complete, or given up on as partial), when limits force an eviction, or on
//! [`Assembler::flush`]. Every document is counted exactly once as accepted, rejected or dropped.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::document::{parse_document, DocumentLimits, Entity, OwnedDocument};
use crate::error::{DocumentError, InputError};
use crate::ids::TraceId;
use crate::input::{frame, Format, Framed};
use crate::trace::{Shape, Trace};

/// Every bound the assembler enforces. Each is configurable; each drop is counted.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Per-document limits (size, nesting).
    pub document: DocumentLimits,
    /// Open traces held at once; past it the oldest open trace is evicted (emitted early).
    pub max_open_traces: usize,
    /// Entities (segments and subsegments) per trace; documents past it are dropped.
    pub max_segments_per_trace: usize,
    /// Document bytes per trace; documents past it are dropped and the trace marked `LimitExceeded`.
    pub max_trace_bytes: usize,
    /// Emitted traces waiting for `pop_complete`; past it the oldest waiting trace is dropped.
    pub max_ready_traces: usize,
    /// Seconds without a new document after which a complete trace is emitted.
    pub idle_timeout: f64,
    /// Seconds without a new document after which an incomplete trace is emitted as partial.
    pub incomplete_timeout: f64,
    /// Largest input held whole in memory: the decompressed size of gzip bytes, or a file that
    /// is one JSON value (NDJSON files stream in chunks and are not held whole).
    pub max_input_bytes: usize,
}

/// The default [`Limits::max_input_bytes`]: 1 GiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 1 << 30;

impl Default for Limits {
    fn default() -> Self {
        Self {
            document: DocumentLimits::default(),
            max_open_traces: 100_000,
            max_segments_per_trace: 10_000,
            max_trace_bytes: 500 * 1024,
            max_ready_traces: 100_000,
            idle_timeout: 5.0,
            incomplete_timeout: 60.0,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// What happened to every document and trace. `documents_received` always equals
/// `documents_accepted + documents_rejected + documents_dropped`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Documents seen (an array document counts once per element).
    pub documents_received: u64,
    /// Documents stored into a trace.
    pub documents_accepted: u64,
    /// Documents that failed validation (each has a [`DocumentError`]).
    pub documents_rejected: u64,
    /// Valid documents not stored because their trace reached a size limit.
    pub documents_dropped: u64,
    /// Open traces emitted early because `max_open_traces` was reached.
    pub traces_evicted: u64,
    /// Traces handed out by `pop_complete` or `flush`.
    pub traces_emitted: u64,
    /// Emitted traces discarded because nobody collected them within `max_ready_traces`.
    pub traces_dropped: u64,
}

/// A time in seconds, totally ordered so it can key a map.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A trace still taking documents.
struct OpenTrace {
    /// Creation order: the eviction key.
    seq: u64,
    /// When the trace is next looked at; never later than it could become due.
    due: Time,
    /// The text of each accepted document, copied when it was parsed.
    docs: Vec<Box<[u8]>>,
    /// Bytes in `docs`, for `max_trace_bytes`.
    bytes: usize,
    entities: Vec<Entity>,
    index: FxHashMap<u64, u32>,
    last_seen: f64,
    revision: u32,
    limit_exceeded: bool,
}

impl OpenTrace {
    fn into_trace(self, id: TraceId) -> Trace {
        Trace::build(
            id,
            self.docs,
            self.entities,
            &self.index,
            self.revision,
            self.limit_exceeded,
        )
    }
}

/// Documents in, traces out. See the module docs.
pub struct Assembler {
    limits: Limits,
    open: FxHashMap<TraceId, OpenTrace>,
    due: BTreeMap<(Time, u64), TraceId>,
    by_age: BTreeMap<u64, TraceId>,
    /// Closed traces waiting to be handed out; built (in parallel) when they are.
    ready: VecDeque<(TraceId, OpenTrace)>,
    counters: Counters,
    next_seq: u64,
    buffered_bytes: usize,
    buffered_entities: usize,
    event_time: f64,
}

/// Batches smaller than this are parsed on the calling thread: fanning out costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;
/// Likewise for building emitted traces.
const PARALLEL_MIN_ENTITIES: usize = 4096;

impl Assembler {
    /// An empty assembler with these limits.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            open: FxHashMap::default(),
            due: BTreeMap::new(),
            by_age: BTreeMap::new(),
            ready: VecDeque::new(),
            counters: Counters::default(),
            next_seq: 0,
            buffered_bytes: 0,
            buffered_entities: 0,
            event_time: 0.0,
        }
    }

    /// The latest start or end time of any accepted entity: the clock of a replayed stream, so
    /// recorded data can be assembled with `pop_complete(event_time())` as if it were live.
    #[must_use]
    pub fn event_time(&self) -> f64 {
        self.event_time
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Traces currently open.
    #[must_use]
    pub fn open_traces(&self) -> usize {
        self.open.len()
    }

    /// Entities held by open traces.
    #[must_use]
    pub fn buffered_segments(&self) -> usize {
        self.buffered_entities
    }

    /// Document bytes held by open traces.
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Bytes of memory held by open traces: document text, entity tables and id indexes.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let per_index_entry = std::mem::size_of::<(u64, u32)>() + 1;
        self.open
            .values()
            .map(|t| {
                t.bytes
                    + t.docs.capacity() * std::mem::size_of::<Box<[u8]>>()
                    + t.entities.capacity() * std::mem::size_of::<Entity>()
                    + t.index.capacity() * per_index_entry
                    + std::mem::size_of::<OpenTrace>()
            })
            .sum()
    }

    /// Frames `input` (see [`Format`]) and adds every document in it. Documents are numbered from
    /// `first_index`; rejected ones are appended to `errors`. Returns how many documents were read.
    pub fn add_bytes(
        &mut self,
        input: &[u8],
        format: Format,
        first_index: usize,
        now: f64,
        errors: &mut Vec<DocumentError>,
    ) -> Result<usize, InputError> {
        let mut framed = Vec::new();
        let count = frame(
            input,
            format,
            first_index,
            self.limits.document.max_json_depth,
            &mut framed,
        )?;
        self.add_framed(&framed, now, errors);
        Ok(count)
    }

    /// Parses (in parallel when the batch is large) and adds already-framed documents, in order.
    pub fn add_framed(&mut self, framed: &[Framed<'_>], now: f64, errors: &mut Vec<DocumentError>) {
        let limits = self.limits.document;
        let total: usize = framed.iter().map(|f| f.bytes.len()).sum();
        if total < PARALLEL_MIN_BYTES || rayon::current_num_threads() == 1 {
            let parsed = framed
                .iter()
                .flat_map(|f| parse_framed(f, limits))
                .collect();
            return self.ingest(parsed, now, errors);
        }
        let parsed = framed
            .par_iter()
            .with_min_len(64)
            .flat_map_iter(|f| parse_framed(f, limits))
            .collect();
        self.ingest(parsed, now, errors);
    }

    fn ingest(
        &mut self,
        parsed: Vec<Result<OwnedDocument, DocumentError>>,
        now: f64,
        errors: &mut Vec<DocumentError>,
    ) {
        for result in parsed {
            self.counters.documents_received += 1;
            match result {
                Ok(doc) => self.add_document(doc, now),
                Err(e) => {
                    self.counters.documents_rejected += 1;
                    errors.push(e);
                }
            }
        }
    }

    /// Adds one valid document to its trace, applying the same-id rules of docs/assembly.md.
    pub fn add_document(&mut self, doc: OwnedDocument, now: f64) {
        if !self.open.contains_key(&doc.trace_id) {
            if self.open.len() >= self.limits.max_open_traces {
                self.evict_oldest();
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let due = Time(now + self.limits.idle_timeout);
            self.due.insert((due, seq), doc.trace_id);
            self.by_age.insert(seq, doc.trace_id);
            self.open.insert(
                doc.trace_id,
                OpenTrace {
                    seq,
                    due,
                    docs: Vec::new(),
                    bytes: 0,
                    entities: Vec::new(),
                    index: FxHashMap::default(),
                    last_seen: now,
                    revision: 0,
                    limit_exceeded: false,
                },
            );
        }
        let Some(trace) = self.open.get_mut(&doc.trace_id) else {
            return;
        };
        trace.last_seen = trace.last_seen.max(now);
        // A trace last seen incomplete is scheduled for `incomplete_timeout`; news may complete it,
        // so it is looked at again after `idle_timeout`.
        let soonest = Time(trace.last_seen + self.limits.idle_timeout);
        if trace.due > soonest {
            self.due.remove(&(trace.due, trace.seq));
            self.due.insert((soonest, trace.seq), doc.trace_id);
            trace.due = soonest;
        }
        if trace.bytes + doc.text.len() > self.limits.max_trace_bytes
            || trace.entities.len() + doc.entities.len() > self.limits.max_segments_per_trace
        {
            trace.limit_exceeded = true;
            self.counters.documents_dropped += 1;
            return;
        }
        let doc_index = trace.docs.len() as u32;
        trace.bytes += doc.text.len();
        self.buffered_bytes += doc.text.len();
        trace.docs.push(doc.text);
        for mut entity in doc.entities {
            self.event_time = self.event_time.max(entity.end.unwrap_or(entity.start));
            entity.doc = doc_index;
            match trace.index.get(&entity.id.0) {
                None => {
                    trace.index.insert(entity.id.0, trace.entities.len() as u32);
                    trace.entities.push(entity);
                    self.buffered_entities += 1;
                }
                Some(&slot) => {
                    let stored = &mut trace.entities[slot as usize];
                    if stored.in_progress() {
                        *stored = entity;
                    } else if !entity.in_progress() {
                        *stored = entity;
                        trace.revision += 1;
                    } // A fragment never undoes a completion.
                }
            }
        }
        self.counters.documents_accepted += 1;
    }

    /// Traces that are complete and idle for `idle_timeout`, or incomplete and idle for
    /// `incomplete_timeout`, plus any evicted since the last call; oldest first.
    pub fn pop_complete(&mut self, now: f64) -> Vec<Trace> {
        let (idle, incomplete) = (self.limits.idle_timeout, self.limits.incomplete_timeout);
        while let Some((&(due, seq), &id)) = self.due.first_key_value() {
            if due.0 > now {
                break;
            }
            self.due.remove(&(due, seq));
            let Some(trace) = self.open.get_mut(&id) else {
                continue;
            };
            let quiet_for = now - trace.last_seen;
            let next = if quiet_for < idle {
                trace.last_seen + idle
            } else if quiet_for >= incomplete
                || Shape::derive(id, &trace.entities, &trace.index).is_complete()
            {
                self.emit(id);
                continue;
            } else {
                trace.last_seen + incomplete
            };
            trace.due = Time(next);
            self.due.insert((Time(next), seq), id);
        }
        self.take_ready()
    }

    /// Every trace, complete or not, oldest first; the assembler is empty afterwards.
    pub fn flush(&mut self) -> Vec<Trace> {
        while let Some((_, id)) = self.by_age.pop_first() {
            self.emit(id);
        }
        self.take_ready()
    }

    fn take_ready(&mut self) -> Vec<Trace> {
        self.counters.traces_emitted += self.ready.len() as u64;
        let closed: Vec<(TraceId, OpenTrace)> = self.ready.drain(..).collect();
        let entities: usize = closed.iter().map(|(_, t)| t.entities.len()).sum();
        if entities >= PARALLEL_MIN_ENTITIES && rayon::current_num_threads() > 1 {
            closed
                .into_par_iter()
                .with_min_len(16)
                .map(|(id, t)| t.into_trace(id))
                .collect()
        } else {
            closed.into_iter().map(|(id, t)| t.into_trace(id)).collect()
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, id)) = self.by_age.first_key_value() {
            let id = *id;
            self.emit(id);
            self.counters.traces_evicted += 1;
        }
    }

    /// Closes open trace `id` and queues it for the next `pop_complete`/`flush`.
    fn emit(&mut self, id: TraceId) {
        let Some(trace) = self.open.remove(&id) else {
            return;
        };
        self.due.remove(&(trace.due, trace.seq));
        self.by_age.remove(&trace.seq);
        self.buffered_bytes -= trace.bytes;
        self.buffered_entities -= trace.entities.len();
        self.ready.push_back((id, trace));
        if self.ready.len() > self.limits.max_ready_traces {
            self.ready.pop_front();
            self.counters.traces_dropped += 1;
        }
    }
}

/// One framed document's parse results (several for an array document), each valid one with
/// its own copy of its text: copying here, on the parsing threads, keeps it off the ingest thread.
fn parse_framed(
    item: &Framed<'_>,
    limits: DocumentLimits,
) -> Vec<Result<OwnedDocument, DocumentError>> {
    let mut results = Vec::with_capacity(1);
    match &item.error {
        Some(e) => results.push(Err(DocumentError::clone(e))),
        None => parse_document(&item.bytes, item.index, limits, &mut |r| {
            results.push(r.map(OwnedDocument::from));
        }),
    }
    results
}

/// Parses and assembles everything in `input` at once: every trace, complete or not.
pub fn assemble_all(
    input: &[u8],
    format: Format,
    limits: Limits,
) -> Result<(Vec<Trace>, Vec<DocumentError>, Counters), InputError> {
    let mut assembler = Assembler::new(limits);
    let mut errors = Vec::new();
    assembler.add_bytes(input, format, 0, 0.0, &mut errors)?;
    let traces = assembler.flush();
    Ok((traces, errors, assembler.counters()))
}
