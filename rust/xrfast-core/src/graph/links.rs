//! Link edges (spec §5.3, docs/links.md): `EdgeType: "link"` from an SQS queue node to the
//! consumers of the messages sent to it, with the age of each event when it was received.
//!
//! A consumer (an entity with `links`, such as the Lambda segment of an SQS-triggered
//! invocation) names its producer — the `SendMessage` subsegment of another trace — by
//! `(trace_id, id)`. The two sides usually arrive in different traces, in any order and in
//! different partial graphs, so each side that has not met its other side waits here under its
//! key; a link resolves into one request on its edge when both are present. Producers stay
//! (more consumers may link to one message batch); waiting consumers leave when they resolve.
//! The waiting entries are bounded by `max_pending`: past it the oldest are dropped and counted.

use rustc_hash::FxHashMap;
use sonic_rs::JsonValueTrait;

use super::{entry, EdgeKey, Histogram, Outcome, Statistics};
use crate::document::{AwsResource, Namespace};
use crate::ids::{SegmentId, TraceId};
use crate::summary::{ServiceId, Services};
use crate::trace::{known_origin, SegmentRef, Trace};

/// The default bound on pending link entries (producers plus waiting consumers).
pub const DEFAULT_MAX_PENDING_LINKS: usize = 100_000;

/// What a link names: `(trace id, entity id)` of the producer.
type Target = (u128, u64);

/// An SQS call that consumers may link to: its queue's node and when the event was sent.
#[derive(Clone, Debug)]
struct Producer {
    node: ServiceId,
    start: f64,
}

/// A consumer waiting for its producer: its node, when it received the event, and how its
/// handling ended (`None` while in progress).
#[derive(Clone, Debug)]
struct Consumer {
    node: ServiceId,
    start: f64,
    end: Option<(f64, Outcome)>,
}

/// The requests of one link edge (producer's node → consumer's node).
#[derive(Clone, Debug)]
pub struct LinkEdge {
    /// Earliest start of a producer (when an event was sent).
    pub start: f64,
    /// Latest end of a consumer that completed.
    pub end: f64,
    /// Completed consumers, classified by their own outcome (spec §5.4);
    /// `TotalResponseTime` is the sum of the events' ages.
    pub statistics: Statistics,
    /// `ReceivedEventAgeHistogram`: consumer start − producer start, at least 0.
    pub ages: Histogram,
}

impl Default for LinkEdge {
    fn default() -> Self {
        Self {
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
            statistics: Statistics::default(),
            ages: Histogram::default(),
        }
    }
}

impl LinkEdge {
    fn merge(&mut self, other: &Self) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.statistics.merge(&other.statistics);
        self.ages.merge(&other.ages);
    }
}

/// What happened to links so far: entries still waiting, and what was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// SQS calls kept for consumers that may still link to them.
    pub pending_producers: u64,
    /// Links whose producer has not been seen.
    pub pending_consumers: u64,
    /// Pending entries dropped to stay within the bound (producers and consumers).
    pub dropped: u64,
    /// Entries of `links` arrays that are not `{"trace_id": trace id, "id": entity id}`.
    pub invalid: u64,
}

/// The link edges of a graph and the links waiting for their other side.
#[derive(Clone, Debug)]
pub(super) struct Links {
    pub(super) edges: FxHashMap<EdgeKey, LinkEdge>,
    producers: FxHashMap<Target, Producer>,
    waiting: FxHashMap<Target, Vec<Consumer>>,
    /// How many consumers `waiting` holds.
    waiting_count: usize,
    pub(super) max_pending: usize,
    dropped: u64,
    invalid: u64,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            edges: FxHashMap::default(),
            producers: FxHashMap::default(),
            waiting: FxHashMap::default(),
            waiting_count: 0,
            max_pending: DEFAULT_MAX_PENDING_LINKS,
            dropped: 0,
            invalid: 0,
        }
    }
}

/// Whether `segment` of `trace` is the inferred segment of an SQS queue call (type
/// `AWS::SQS::Queue`): what a consumer's link can name, since X-Ray links SQS → Lambda only.
#[inline]
pub(super) fn is_producer(trace: &Trace, segment: SegmentRef) -> bool {
    let SegmentRef::Inferred(i) = segment else {
        return false;
    };
    let e = &trace.entities()[i as usize];
    e.namespace == Namespace::Aws
        && e.resource == AwsResource::QueueUrl
        && known_origin(e, trace.text_of(e, e.name)) == Some("AWS::SQS::Queue")
}

impl Links {
    pub(super) fn counters(&self) -> LinkCounters {
        LinkCounters {
            pending_producers: self.producers.len() as u64,
            pending_consumers: self.waiting_count as u64,
            dropped: self.dropped,
            invalid: self.invalid,
        }
    }

    /// Records the SQS call `(trace, id)` of node `node`, started at `start`, and resolves the
    /// consumers waiting for it.
    pub(super) fn add_producer(
        &mut self,
        trace: TraceId,
        id: SegmentId,
        node: &ServiceId,
        start: f64,
    ) {
        let target = (trace.0, id.0);
        match self.producers.get_mut(&target) {
            // The same call twice (a trace added twice): the earlier start wins, in any order.
            Some(known) => known.start = known.start.min(start),
            None => {
                self.producers.insert(
                    target,
                    Producer {
                        node: node.clone(),
                        start,
                    },
                );
            }
        }
        if let Some(consumers) = self.waiting.remove(&target) {
            self.waiting_count -= consumers.len();
            let producer = &self.producers[&target];
            for consumer in &consumers {
                resolve(&mut self.edges, producer, consumer);
            }
        }
    }

    /// Resolves `consumer` against its producer, or leaves it waiting.
    fn add_consumer(&mut self, target: Target, consumer: Consumer) {
        if let Some(producer) = self.producers.get(&target) {
            resolve(&mut self.edges, producer, &consumer);
        } else {
            self.waiting.entry(target).or_default().push(consumer);
            self.waiting_count += 1;
        }
    }

    /// Reads the `links` of every returned entity of `trace` (called only when it has some)
    /// and adds each link as a consumer: the node of the real segment that holds the entity
    /// (the service that received the event), its start, and its outcome once it ended.
    pub(super) fn add_consumers(
        &mut self,
        trace: &Trace,
        services: &Services,
        mut outcome: impl FnMut(u32) -> Outcome,
    ) {
        let entities = trace.entities();
        // The segment (position in `segments`) each returned entity belongs to.
        let mut owner = vec![usize::MAX; entities.len()];
        let mut stack = Vec::new();
        for (pos, &segment) in trace.segments().iter().enumerate() {
            if let SegmentRef::Real(top) = segment {
                stack.push(top);
                while let Some(i) = stack.pop() {
                    owner[i as usize] = pos;
                    stack.extend_from_slice(trace.children(i));
                }
            }
        }
        for (i, e) in entities.iter().enumerate() {
            let (Some(span), Some(&pos)) = (e.links, owner.get(i)) else {
                continue;
            };
            if pos == usize::MAX {
                continue; // not returned (an orphan): X-Ray shows nothing of it
            }
            let node = &services.ids[services.of[pos]];
            let end = e.end.map(|end| (end, outcome(i as u32)));
            for link in sonic_rs::to_array_iter(trace.text_of(e, span)).flatten() {
                let target = link
                    .get("trace_id")
                    .and_then(|t| t.as_str().and_then(TraceId::parse))
                    .zip(
                        link.get("id")
                            .and_then(|s| s.as_str().and_then(SegmentId::parse)),
                    );
                let Some((trace_id, id)) = target else {
                    self.invalid += 1;
                    continue;
                };
                let consumer = Consumer {
                    node: node.clone(),
                    start: e.start,
                    end,
                };
                self.add_consumer((trace_id.0, id.0), consumer);
            }
        }
    }

    /// Adds everything `other` holds, resolving the links whose sides were apart.
    pub(super) fn merge(&mut self, other: &Self) {
        self.dropped += other.dropped;
        self.invalid += other.invalid;
        for (key, edge) in &other.edges {
            entry(&mut self.edges, key).merge(edge);
        }
        // No target is both produced and waited for in one graph, so `other`'s producers only
        // meet this graph's consumers, and `other`'s consumers only this graph's producers.
        for (target, producer) in &other.producers {
            self.add_producer(
                TraceId(target.0),
                SegmentId(target.1),
                &producer.node,
                producer.start,
            );
        }
        for (target, consumers) in &other.waiting {
            for consumer in consumers {
                self.add_consumer(*target, consumer.clone());
            }
        }
        self.bound();
    }

    /// Past `max_pending` entries, drops the oldest (producers by when they sent, groups of
    /// consumers by the latest receipt among them) down to 7/8 of the bound, so the sort is
    /// paid once per many insertions; counts every consumer and producer dropped.
    #[inline]
    pub(super) fn bound(&mut self) {
        if self.producers.len() + self.waiting_count > self.max_pending {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let pending = self.producers.len() + self.waiting_count;
        let keep = self.max_pending - self.max_pending / 8;
        let mut entries: Vec<(f64, bool, Target)> = self
            .producers
            .iter()
            .map(|(t, p)| (p.start, false, *t))
            .chain(self.waiting.iter().map(|(t, cs)| {
                let latest = cs.iter().map(|c| c.start).fold(f64::NEG_INFINITY, f64::max);
                (latest, true, *t)
            }))
            .collect();
        entries
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut left = pending;
        for (_, consumers, target) in entries {
            if left <= keep {
                break;
            }
            let removed = if consumers {
                self.waiting.remove(&target).map_or(0, |cs| cs.len())
            } else {
                usize::from(self.producers.remove(&target).is_some())
            };
            if consumers {
                self.waiting_count -= removed;
            }
            left -= removed;
            self.dropped += removed as u64;
        }
    }
}

/// One link between `producer` and `consumer`: a request on the edge from the producer's
/// node to the consumer's, counted once the consumer ended.
fn resolve(edges: &mut FxHashMap<EdgeKey, LinkEdge>, producer: &Producer, consumer: &Consumer) {
    let key = (producer.node.clone(), consumer.node.clone());
    let edge = entry(edges, &key);
    edge.start = edge.start.min(producer.start);
    if let Some((end, outcome)) = consumer.end {
        edge.end = edge.end.max(end);
        let age = (consumer.start - producer.start).max(0.0);
        edge.statistics.add(outcome, age);
        edge.ages.add(age);
    }
}
