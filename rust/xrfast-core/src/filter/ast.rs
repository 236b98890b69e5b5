//! The compiled form of a filter expression: a tree whose every keyword, operator and value is
//! resolved, so evaluating it never looks at the text again.

use std::fmt;

/// Where a predicate is evaluated (spec §6.2, the columns of the keyword table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole trace (top level).
    Trace,
    /// A segment of a node (`service(...) { }`) or a request on an edge (`edge(...) { }`).
    Entity,
    /// A service of a root cause (`rootcause.<kind>.service { }`).
    RootCauseService(RootCauseKind),
    /// An entity of a root cause's path (`rootcause.<kind>.entity { }`).
    RootCauseEntity(RootCauseKind),
    /// An exception of a root cause (`rootcause.<kind>.exception { }`).
    RootCauseException(RootCauseKind),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trace => f.write_str("at the top level"),
            Self::Entity => f.write_str("inside service(...) { } or edge(...) { }"),
            Self::RootCauseService(k) => write!(f, "inside rootcause.{k}.service {{ }}"),
            Self::RootCauseEntity(k) => write!(f, "inside rootcause.{k}.entity {{ }}"),
            Self::RootCauseException(k) => write!(f, "inside rootcause.{k}.exception {{ }}"),
        }
    }
}

/// Which root causes a `rootcause.*` block enumerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootCauseKind {
    /// `FaultRootCauses`.
    Fault,
    /// `ErrorRootCauses`.
    Error,
    /// `ResponseTimeRootCauses`.
    ResponseTime,
}

impl fmt::Display for RootCauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fault => "fault",
            Self::Error => "error",
            Self::ResponseTime => "responsetime",
        })
    }
}

/// What a `rootcause.<kind>.<level>` block enumerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootCauseLevel {
    /// The services of each root cause.
    Service,
    /// The entities of each root cause's path (every service's `EntityPath`, in order).
    Entity,
    /// The exceptions of each root cause.
    Exception,
}

/// A boolean keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolKey {
    /// `ok`.
    Ok,
    /// `error`.
    Error,
    /// `throttle`.
    Throttle,
    /// `fault`.
    Fault,
    /// `partial`.
    Partial,
    /// `inferred`.
    Inferred,
    /// `root`.
    Root,
    /// `first`.
    First,
    /// `last`.
    Last,
    /// `remote`.
    Remote,
}

/// A numeric keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumKey {
    /// `responsetime`.
    ResponseTime,
    /// `duration`.
    Duration,
    /// `http.status`.
    HttpStatus,
    /// `index`.
    Index,
    /// `coverage`.
    Coverage,
}

/// A string keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrKey {
    /// `http.url`.
    HttpUrl,
    /// `http.method`.
    HttpMethod,
    /// `http.useragent`.
    HttpUserAgent,
    /// `http.clientip`.
    HttpClientIp,
    /// `user`.
    User,
    /// `name`.
    Name,
    /// `type`.
    Type,
    /// `message`.
    Message,
    /// `availabilityzone`.
    AvailabilityZone,
    /// `instance.id`.
    InstanceId,
    /// `resource.arn`.
    ResourceArn,
}

/// A numeric comparison (`!=` is compiled as `!(=)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    /// `=`.
    Eq,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl NumOp {
    /// `value <op> literal`.
    #[must_use]
    #[allow(clippy::float_cmp)] // `=` in a filter means equal, as written
    pub fn holds(self, value: f64, literal: f64) -> bool {
        match self {
            Self::Eq => value == literal,
            Self::Lt => value < literal,
            Self::Le => value <= literal,
            Self::Gt => value > literal,
            Self::Ge => value >= literal,
        }
    }
}

/// A string test (`!=` is compiled as `!(=)`; comparisons are case-sensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrOp {
    /// A bare keyword: the field is present.
    Present,
    /// `= "x"`.
    Eq(String),
    /// `CONTAINS "x"`.
    Contains(String),
    /// `BEGINSWITH "x"`.
    BeginsWith(String),
    /// `ENDSWITH "x"`.
    EndsWith(String),
}

impl StrOp {
    /// Whether `value` passes.
    #[must_use]
    pub fn holds(&self, value: &str) -> bool {
        match self {
            Self::Present => true,
            Self::Eq(x) => value == x,
            Self::Contains(x) => value.contains(x.as_str()),
            Self::BeginsWith(x) => value.starts_with(x.as_str()),
            Self::EndsWith(x) => value.ends_with(x.as_str()),
        }
    }
}

/// An annotation test.
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationTest {
    /// Bare: the key is set (to anything).
    Present,
    /// `= true` / `= false`.
    BoolEq(bool),
    /// A numeric comparison.
    Num(NumOp, f64),
    /// A string test.
    Str(StrOp),
}

/// A node reference: `"name"` or `id(name:, type:, account.id:)`; absent members are wildcards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeRef {
    /// `name:` (or the string).
    pub name: Option<String>,
    /// `type:`.
    pub kind: Option<String>,
    /// `account.id:`.
    pub account_id: Option<String>,
}

impl NodeRef {
    /// Whether it needs more than the node's name.
    #[must_use]
    pub fn needs_identity(&self) -> bool {
        self.kind.is_some() || self.account_id.is_some()
    }
}

/// A compiled expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Always this value (a group without a filter expression matches every trace).
    Const(bool),
    /// Every operand holds.
    And(Vec<Expr>),
    /// Some operand holds.
    Or(Vec<Expr>),
    /// The operand does not hold.
    Not(Box<Expr>),
    /// A boolean keyword is true.
    Bool(BoolKey),
    /// A numeric keyword compared with a number (false when the value is unknown).
    Num(NumKey, NumOp, f64),
    /// A string keyword tested (any value, for fields with several).
    Str(StrKey, StrOp),
    /// An annotation tested (any of its values).
    Annotation(String, AnnotationTest),
    /// The trace has a node matching (any node without a reference) and, with a block, one of
    /// that node's segments satisfies it.
    Service(Option<NodeRef>, Option<Box<Expr>>),
    /// The trace has a call from a node matching the first reference to one matching the second
    /// and, with a block, one of those requests satisfies it.
    Edge(NodeRef, NodeRef, Option<Box<Expr>>),
    /// Some enumerated element of some root cause satisfies the block.
    RootCause(RootCauseKind, RootCauseLevel, Box<Expr>),
    /// Some root cause matches one of the JSON templates.
    RootCauseJson(Vec<serde_json::Value>),
}

impl Expr {
    /// A rough cost of evaluating it, by what it makes a trace context derive: 0 the root's
    /// flags and times, 1 the root's `http`, 2 node names, 3 node identities, calls, users and
    /// annotations, 4 the whole summary (root causes). Operands of `AND`/`OR` are evaluated cheapest first (evaluation has no
    /// side effects, so the order never changes a result).
    #[must_use]
    pub fn cost(&self) -> u8 {
        match self {
            Self::Const(_)
            | Self::Bool(_)
            | Self::Num(NumKey::ResponseTime | NumKey::Duration, ..) => 0,
            Self::Num(..) => 1,
            Self::Str(key, _) => match key {
                StrKey::HttpUrl
                | StrKey::HttpMethod
                | StrKey::HttpUserAgent
                | StrKey::HttpClientIp => 1,
                _ => 4,
            },
            Self::Not(inner) => inner.cost(),
            Self::And(terms) | Self::Or(terms) => terms.iter().map(Self::cost).max().unwrap_or(0),
            Self::Service(node, block) => {
                let own = if node.as_ref().is_some_and(NodeRef::needs_identity) {
                    3
                } else {
                    2
                };
                own.max(block.as_ref().map_or(0, |b| b.cost()))
            }
            Self::Edge(..) | Self::Annotation(..) => 3,
            Self::RootCause(..) | Self::RootCauseJson(_) => 4,
        }
    }

    /// Puts the operands of every `AND` and `OR` cheapest first (a stable sort: equal costs
    /// keep the order they were written in).
    pub fn order_by_cost(&mut self) {
        match self {
            Self::And(terms) | Self::Or(terms) => {
                for term in terms.iter_mut() {
                    term.order_by_cost();
                }
                terms.sort_by_cached_key(Self::cost);
            }
            Self::Not(inner) => inner.order_by_cost(),
            Self::Service(_, Some(block))
            | Self::Edge(_, _, Some(block))
            | Self::RootCause(_, _, block) => {
                block.order_by_cost();
            }
            _ => {}
        }
    }
}
