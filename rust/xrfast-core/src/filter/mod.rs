//! X-Ray filter expressions (spec §6): compiled once, evaluated against many traces.
//!
//! [`compile`] turns an expression into a [`Filter`] — a tree whose keywords, operators and
//! values are resolved (see [`ast`]) — or a [`FilterError`] with the position, what the grammar
//! expected there and what it found. A [`Filter`] never looks at its text again: evaluating it
//! walks the tree against a [`TraceContext`], which derives what the filter asks for from the
//! trace lazily (the root's flags and times cost nothing; the summary, the nodes and the calls
//! are derived once per context and shared by every filter evaluated against it).
//!
//! `group.name` / `group.arn` resolve, at compile time, against the [`Group`]s given to
//! [`compile_with`]: the group's own expression is compiled in place (cycles are refused).
//! [`EntitySelector`] is the `EntitySelectorExpression` subset of
//! `GetTimeSeriesServiceStatistics`: `service(...)`, `edge(...)` or `id(...)`.
//!
//! ```
//! use xrfast_core::assemble::assemble_all;
//! use xrfast_core::filter;
//! use xrfast_core::{Format, Limits};
//!
//! let doc = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":7.5,"fault":true}"#;
//! let (traces, _, _) = assemble_all(doc, Format::Document, Limits::default()).unwrap();
//! let slow = filter::compile(r#"responsetime > 5 AND service("api") { fault }"#).unwrap();
//! assert!(slow.matches(&traces[0]));
//! let error = filter::compile("responsetime >").unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "Invalid filter expression: expected a number at position 14, found the end of the expression"
//! );
//! ```

pub mod ast;
mod error;
mod eval;
mod lexer;
mod parser;

use std::borrow::Borrow;

use rayon::prelude::*;

pub use ast::Expr;
pub use error::FilterError;
pub use eval::{json_matches, TraceContext};

use crate::graph::{Selector, ServiceGraph, CLIENT_TYPE};
use crate::summary::ServiceId;
use crate::trace::Trace;
use ast::NodeRef;
use lexer::Tok;
use parser::Parser;

/// Slices of at least this many traces are filtered in parallel.
const PARALLEL_MIN_TRACES: usize = 4096;

/// The longest `EntitySelectorExpression` X-Ray accepts, in characters (botocore's model).
pub const MAX_ENTITY_SELECTOR_LENGTH: usize = 500;

/// The largest [`CompileOptions::max_depth`] honoured: deeper nesting would risk the stack of
/// the threads that parse and evaluate.
pub const MAX_DEPTH_LIMIT: usize = 256;

/// Limits on what an expression may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Nesting levels: parentheses, blocks and group references each count one (at most
    /// [`MAX_DEPTH_LIMIT`]; a larger value counts as that).
    pub max_depth: usize,
    /// Bytes of one expression (each group's expression is bounded on its own).
    pub max_length: usize,
    /// Predicates in the compiled filter, counting those of every group reference again (so
    /// groups that refer to each other many times cannot make a filter grow exponentially).
    pub max_predicates: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_length: 100_000,
            max_predicates: 100_000,
        }
    }
}

/// A named group (X-Ray's `Group`: `GroupName`, `GroupARN`, `FilterExpression`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// `GroupName`.
    pub name: String,
    /// `GroupARN`.
    pub arn: Option<String>,
    /// `FilterExpression`; a group without one matches every trace.
    pub filter_expression: Option<String>,
}

/// A compiled filter expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expression: String,
    expr: Expr,
}

/// Compiles `expression` without groups and with the default limits.
pub fn compile(expression: &str) -> Result<Filter, FilterError> {
    compile_with(expression, &[], &CompileOptions::default())
}

/// Compiles `expression`; `group.name` / `group.arn` resolve against `groups`.
pub fn compile_with(
    expression: &str,
    groups: &[Group],
    options: &CompileOptions,
) -> Result<Filter, FilterError> {
    let options = CompileOptions {
        max_depth: options.max_depth.min(MAX_DEPTH_LIMIT),
        ..*options
    };
    let mut expr = Parser::new(expression, &options, groups, Vec::new(), 0)?.filter()?;
    expr.order_by_cost();
    Ok(Filter {
        expression: expression.to_owned(),
        expr,
    })
}

impl Filter {
    /// The expression it was compiled from.
    #[must_use]
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The compiled tree.
    #[must_use]
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether `trace` matches.
    #[must_use]
    pub fn matches(&self, trace: &Trace) -> bool {
        TraceContext::new(trace).eval(&self.expr)
    }

    /// Whether the trace of `context` matches (the context keeps what it derived for the next
    /// filter).
    #[must_use]
    pub fn matches_in(&self, context: &TraceContext<'_>) -> bool {
        context.eval(&self.expr)
    }

    /// The positions of the traces that match, ascending; large slices are filtered in
    /// parallel (the result does not depend on it).
    #[must_use]
    pub fn select<T: Borrow<Trace> + Sync>(&self, traces: &[T]) -> Vec<usize> {
        if traces.len() >= PARALLEL_MIN_TRACES {
            traces
                .par_iter()
                .enumerate()
                .filter(|(_, t)| self.matches((*t).borrow()))
                .map(|(i, _)| i)
                .collect()
        } else {
            traces
                .iter()
                .enumerate()
                .filter(|(_, t)| self.matches((*t).borrow()))
                .map(|(i, _)| i)
                .collect()
        }
    }
}

/// What an `EntitySelectorExpression` names: a node, or an edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntitySelector {
    /// `service(ref)` or `id(...)`: every node matching.
    Node(NodeRef),
    /// `edge(ref, ref)`: every edge between matching nodes.
    Edge(NodeRef, NodeRef),
}

impl EntitySelector {
    /// Parses an `EntitySelectorExpression` (at most [`MAX_ENTITY_SELECTOR_LENGTH`] characters):
    /// `service("name")`, `service(id(...))`, `id(...)` or `edge(ref, ref)`.
    pub fn parse(expression: &str) -> Result<Self, FilterError> {
        if expression.chars().count() > MAX_ENTITY_SELECTOR_LENGTH {
            return Err(FilterError::new(
                expression,
                expression
                    .char_indices()
                    .nth(MAX_ENTITY_SELECTOR_LENGTH)
                    .map_or(expression.len(), |(at, _)| at),
                "an EntitySelectorExpression of at most 500 characters",
                format!("{} characters", expression.chars().count()),
            ));
        }
        let options = CompileOptions::default();
        let mut p = Parser::new(expression, &options, &[], Vec::new(), 0)?;
        let token = p.next();
        let word = match token.tok {
            Tok::Word => expression[token.start..token.end].to_ascii_lowercase(),
            _ => String::new(),
        };
        let selector = match word.as_str() {
            "service" => {
                p.expect(&Tok::LParen, "`(` after `service`")?;
                let node = p.node_ref()?;
                p.expect(&Tok::RParen, "`)`")?;
                Self::Node(node)
            }
            "id" => Self::Node(p.id_call()?),
            "edge" => {
                p.expect(&Tok::LParen, "`(` after `edge`")?;
                let from = p.node_ref()?;
                p.expect(&Tok::Comma, "`,` between the two nodes of an edge")?;
                let to = p.node_ref()?;
                p.expect(&Tok::RParen, "`)`")?;
                Self::Edge(from, to)
            }
            _ => {
                return Err(FilterError::new(
                    expression,
                    token.start,
                    "`service(...)`, `edge(...)` or `id(...)`",
                    token.describe(expression),
                ))
            }
        };
        if p.peek().tok == Tok::LBrace {
            return Err(p.error(
                "the end of the EntitySelectorExpression (it selects a node or an edge; a \
                 `{ ... }` block cannot select statistics)",
            ));
        }
        p.expect_end()?;
        Ok(selector)
    }

    /// The graph's nodes (or edges) this selector names, as a time-series [`Selector`].
    #[must_use]
    pub fn select(&self, graph: &ServiceGraph) -> Selector {
        match self {
            Self::Node(node) => Selector::Nodes(
                graph
                    .nodes()
                    .into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| node_ref_matches(node, key))
                    .cloned()
                    .collect(),
            ),
            Self::Edge(from, to) => Selector::Edges(
                graph
                    .edges()
                    .into_iter()
                    .map(|(key, _)| key)
                    .filter(|(a, b)| node_ref_matches(from, a) && node_ref_matches(to, b))
                    .cloned()
                    .collect(),
            ),
        }
    }
}

/// Whether `key` is a node `node` names (client nodes only when asked for by type).
fn node_ref_matches(node: &NodeRef, key: &ServiceId) -> bool {
    let client = key.kind.as_deref() == Some(CLIENT_TYPE);
    if client && node.kind.as_deref() != Some(CLIENT_TYPE) {
        // `service("api")` names the service, not the client node drawn in front of it.
        return false;
    }
    node.name.as_ref().is_none_or(|n| *n == key.name)
        && node
            .kind
            .as_ref()
            .is_none_or(|k| key.kind.as_ref() == Some(k))
        && node
            .account_id
            .as_ref()
            .is_none_or(|a| key.account_id.as_ref() == Some(a))
}
