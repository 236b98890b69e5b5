//! Tokens → [`Expr`], by recursive descent over the grammar of spec §6.1, with the precedence
//! decisions of §6.2: `!` binds tightest, then `AND` (or adjacency), then `OR`. Recursion is
//! bounded by [`CompileOptions::max_depth`] (parentheses, blocks and group references each
//! count one level), so no input can overflow the stack.

use super::ast::{
    AnnotationTest, BoolKey, Expr, NodeRef, NumKey, NumOp, RootCauseKind, RootCauseLevel, Scope,
    StrKey, StrOp,
};
use super::error::FilterError;
use super::lexer::{tokenize, Sym, Tok, Token};
use super::{CompileOptions, Group};

/// Makes a string test from its value.
type MakeStrOp = fn(String) -> StrOp;

/// What a keyword is, once its text is known.
#[derive(Clone, Copy)]
enum Keyword {
    Bool(BoolKey),
    Num(NumKey),
    Str(StrKey),
}

/// `(keyword, what it is, where it is allowed)`.
fn keyword(word: &str) -> Option<Keyword> {
    Some(match word {
        "ok" => Keyword::Bool(BoolKey::Ok),
        "error" => Keyword::Bool(BoolKey::Error),
        "throttle" => Keyword::Bool(BoolKey::Throttle),
        "fault" => Keyword::Bool(BoolKey::Fault),
        "partial" => Keyword::Bool(BoolKey::Partial),
        "inferred" => Keyword::Bool(BoolKey::Inferred),
        "root" => Keyword::Bool(BoolKey::Root),
        "first" => Keyword::Bool(BoolKey::First),
        "last" => Keyword::Bool(BoolKey::Last),
        "remote" => Keyword::Bool(BoolKey::Remote),
        "responsetime" => Keyword::Num(NumKey::ResponseTime),
        "duration" => Keyword::Num(NumKey::Duration),
        "http.status" => Keyword::Num(NumKey::HttpStatus),
        "index" => Keyword::Num(NumKey::Index),
        "coverage" => Keyword::Num(NumKey::Coverage),
        "http.url" => Keyword::Str(StrKey::HttpUrl),
        "http.method" => Keyword::Str(StrKey::HttpMethod),
        "http.useragent" => Keyword::Str(StrKey::HttpUserAgent),
        "http.clientip" => Keyword::Str(StrKey::HttpClientIp),
        "user" => Keyword::Str(StrKey::User),
        "name" => Keyword::Str(StrKey::Name),
        "type" => Keyword::Str(StrKey::Type),
        "message" => Keyword::Str(StrKey::Message),
        "availabilityzone" => Keyword::Str(StrKey::AvailabilityZone),
        "instance.id" => Keyword::Str(StrKey::InstanceId),
        "resource.arn" => Keyword::Str(StrKey::ResourceArn),
        _ => return None,
    })
}

/// The keywords allowed in `scope` (spec §6.2), as an error message lists them.
fn allowed(scope: Scope) -> &'static str {
    match scope {
        Scope::Trace => {
            "a predicate: ok, error, throttle, fault, partial, inferred, responsetime, duration, \
             http.status, http.url, http.method, http.useragent, http.clientip, user, \
             availabilityzone, instance.id, resource.arn, annotation.KEY, service(...), \
             edge(...), group.name, group.arn, rootcause.KIND.LEVEL { } or rootcause.json"
        }
        Scope::Entity => {
            "one of ok, error, throttle, fault, inferred, root, responsetime, duration, \
             http.status, http.url, http.method, http.useragent, http.clientip"
        }
        Scope::RootCauseService(_) => "one of name, type, inferred, first, last, index",
        Scope::RootCauseEntity(RootCauseKind::ResponseTime) => {
            "one of name, remote, coverage, first, last, index"
        }
        Scope::RootCauseEntity(_) => "one of name, remote, first, last, index",
        Scope::RootCauseException(_) => "one of name, message, first, last, index",
    }
}

fn is_allowed(kw: Keyword, scope: Scope) -> bool {
    use BoolKey as B;
    use NumKey as N;
    use StrKey as S;
    match scope {
        Scope::Trace => matches!(
            kw,
            Keyword::Bool(B::Ok | B::Error | B::Throttle | B::Fault | B::Partial | B::Inferred)
                | Keyword::Num(N::ResponseTime | N::Duration | N::HttpStatus)
                | Keyword::Str(
                    S::HttpUrl
                        | S::HttpMethod
                        | S::HttpUserAgent
                        | S::HttpClientIp
                        | S::User
                        | S::AvailabilityZone
                        | S::InstanceId
                        | S::ResourceArn
                )
        ),
        Scope::Entity => matches!(
            kw,
            Keyword::Bool(B::Ok | B::Error | B::Throttle | B::Fault | B::Inferred | B::Root)
                | Keyword::Num(N::ResponseTime | N::Duration | N::HttpStatus)
                | Keyword::Str(S::HttpUrl | S::HttpMethod | S::HttpUserAgent | S::HttpClientIp)
        ),
        Scope::RootCauseService(_) => matches!(
            kw,
            Keyword::Bool(B::Inferred | B::First | B::Last)
                | Keyword::Num(N::Index)
                | Keyword::Str(S::Name | S::Type)
        ),
        Scope::RootCauseEntity(kind) => {
            matches!(
                kw,
                Keyword::Bool(B::Remote | B::First | B::Last)
                    | Keyword::Num(N::Index)
                    | Keyword::Str(S::Name)
            ) || (kind == RootCauseKind::ResponseTime && matches!(kw, Keyword::Num(N::Coverage)))
        }
        Scope::RootCauseException(_) => matches!(
            kw,
            Keyword::Bool(B::First | B::Last)
                | Keyword::Num(N::Index)
                | Keyword::Str(S::Name | S::Message)
        ),
    }
}

/// Parses one expression (the filter language, or the entity-selector subset).
pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    at: usize,
    depth: usize,
    options: &'a CompileOptions,
    groups: &'a [Group],
    /// Groups being compiled (the reference chain), to refuse cycles.
    group_stack: Vec<String>,
    /// Predicates compiled so far, group expressions included.
    predicates: usize,
}

impl<'a> Parser<'a> {
    /// Tokenizes `src`.
    pub fn new(
        src: &'a str,
        options: &'a CompileOptions,
        groups: &'a [Group],
        group_stack: Vec<String>,
        depth: usize,
    ) -> Result<Self, FilterError> {
        if src.len() > options.max_length {
            return Err(FilterError::new(
                src,
                options.max_length,
                &format!(
                    "an expression of at most {} bytes (max_length)",
                    options.max_length
                ),
                format!("{} bytes", src.len()),
            ));
        }
        Ok(Self {
            src,
            toks: tokenize(src)?,
            at: 0,
            depth,
            options,
            groups,
            group_stack,
            predicates: 0,
        })
    }

    /// The whole expression.
    pub fn filter(&mut self) -> Result<Expr, FilterError> {
        if self.peek().tok == Tok::End {
            return Err(self.error("a filter expression"));
        }
        let expr = self.or_expr(Scope::Trace)?;
        self.expect_end()?;
        Ok(expr)
    }

    /// The end of the input, or an error naming what may come next.
    pub fn expect_end(&mut self) -> Result<(), FilterError> {
        if self.peek().tok == Tok::End {
            Ok(())
        } else {
            Err(self.error("`AND`, `OR` or the end of the expression"))
        }
    }

    pub(crate) fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    pub(crate) fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.src[token.start..token.end]
    }

    /// The next token is the word `word` (any case).
    fn at_word(&self, word: &str) -> bool {
        let token = self.peek();
        token.tok == Tok::Word && self.text(token).eq_ignore_ascii_case(word)
    }

    /// An error at the next token.
    pub(crate) fn error(&self, expected: &str) -> FilterError {
        let token = self.peek();
        FilterError::new(self.src, token.start, expected, token.describe(self.src))
    }

    fn error_at(&self, token: &Token, expected: &str) -> FilterError {
        FilterError::new(self.src, token.start, expected, token.describe(self.src))
    }

    pub(crate) fn expect(&mut self, tok: &Tok, expected: &str) -> Result<Token, FilterError> {
        if &self.peek().tok == tok {
            Ok(self.next())
        } else {
            Err(self.error(expected))
        }
    }

    fn count_predicates(&mut self, more: usize) -> Result<(), FilterError> {
        self.predicates += more;
        if self.predicates > self.options.max_predicates {
            return Err(self.limit_error(&format!(
                "at most {} predicates, group references counted in full (max_predicates)",
                self.options.max_predicates
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > self.options.max_depth {
            return Err(self.limit_error(&format!(
                "at most {} levels of nesting (max_depth)",
                self.options.max_depth
            )));
        }
        Ok(())
    }

    /// A limit reached: inside a group's expression it is the outer filter's doing (its
    /// references), so it is reported at the outermost reference, not as a broken group.
    fn limit_error(&self, expected: &str) -> FilterError {
        let mut e = self.error(expected);
        e.from_group = !self.group_stack.is_empty();
        e
    }

    fn or_expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and_expr(scope)?];
        while self.at_word("or") {
            self.next();
            terms.push(self.and_expr(scope)?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    /// Whether the next token can start an operand (adjacency means `AND`).
    fn starts_operand(&self) -> bool {
        match self.peek().tok {
            Tok::Bang | Tok::LParen | Tok::AnnotationBracket(_) => true,
            Tok::Word => !self.at_word("or") && !self.at_word("and"),
            _ => false,
        }
    }

    fn and_expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut terms = vec![self.unary(scope)?];
        loop {
            if self.at_word("and") {
                self.next();
                terms.push(self.unary(scope)?);
            } else if self.starts_operand() {
                terms.push(self.unary(scope)?);
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn unary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut negations = 0usize;
        while self.peek().tok == Tok::Bang {
            self.next();
            negations += 1;
        }
        let expr = self.primary(scope)?;
        Ok(if negations % 2 == 1 { not(expr) } else { expr })
    }

    fn primary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let token = self.peek().clone();
        if matches!(token.tok, Tok::Word | Tok::AnnotationBracket(_)) {
            self.count_predicates(1)?;
        }
        match &token.tok {
            Tok::LParen => {
                self.next();
                self.enter()?;
                let expr = self.or_expr(scope)?;
                self.expect(&Tok::RParen, "`)` or another operand")?;
                self.depth -= 1;
                Ok(expr)
            }
            Tok::AnnotationBracket(key) => {
                self.next();
                self.annotation(scope, &token, key.clone())
            }
            Tok::Word => {
                self.next();
                let word = self.text(&token).to_ascii_lowercase();
                self.predicate(scope, &token, &word)
            }
            _ => Err(self.error(allowed(scope))),
        }
    }

    fn predicate(&mut self, scope: Scope, token: &Token, word: &str) -> Result<Expr, FilterError> {
        if let Some(kw) = keyword(word) {
            if !is_allowed(kw, scope) {
                return Err(self.error_at(token, &format!("{} {scope}", allowed(scope))));
            }
            return match kw {
                Keyword::Bool(key) => self.bool_predicate(key),
                Keyword::Num(key) => self.num_predicate(key),
                Keyword::Str(key) => self.str_predicate(key),
            };
        }
        let trace_only = |p: &Self| -> Result<(), FilterError> {
            if scope == Scope::Trace {
                Ok(())
            } else {
                Err(p.error_at(token, &format!("{} {scope}", allowed(scope))))
            }
        };
        if word.starts_with("annotation.") {
            trace_only(self)?;
            // The key keeps its case: only the `annotation.` prefix is a keyword.
            let key = &self.text(token)["annotation.".len()..];
            if key.is_empty() || key.ends_with('.') {
                return Err(self.error_at(token, "an annotation key after `annotation.`"));
            }
            return self.annotation(scope, token, key.to_owned());
        }
        match word {
            "annotation" => Err(self.error_at(token, "`annotation.KEY` or `annotation[KEY]`")),
            "service" => {
                trace_only(self)?;
                self.service()
            }
            "edge" => {
                trace_only(self)?;
                self.edge()
            }
            "group.name" | "group.arn" => {
                trace_only(self)?;
                self.group(token, word == "group.arn")
            }
            "rootcause.json" => {
                trace_only(self)?;
                self.root_cause_json()
            }
            _ if word.starts_with("rootcause.") => {
                trace_only(self)?;
                self.root_cause(token, word)
            }
            _ => Err(self.error_at(token, allowed(scope))),
        }
    }

    /// `= true`, `!= false`, … after a boolean keyword, or nothing.
    fn bool_predicate(&mut self, key: BoolKey) -> Result<Expr, FilterError> {
        let expr = Expr::Bool(key);
        let negate = match self.peek().tok {
            Tok::Op(Sym::Eq) => false,
            Tok::Op(Sym::Ne) => true,
            Tok::Op(_) => return Err(self.error("`=` or `!=` (a boolean keyword)")),
            _ => return Ok(expr),
        };
        self.next();
        let value = self.bool_literal()?;
        Ok(if value == negate { not(expr) } else { expr })
    }

    fn bool_literal(&mut self) -> Result<bool, FilterError> {
        if self.at_word("true") {
            self.next();
            Ok(true)
        } else if self.at_word("false") {
            self.next();
            Ok(false)
        } else {
            Err(self.error("`true` or `false`"))
        }
    }

    /// A numeric comparison operator; `Some(true)` for `!=`.
    fn num_op(&mut self, expected: &str) -> Result<(NumOp, bool), FilterError> {
        let op = match self.peek().tok {
            Tok::Op(Sym::Eq) => (NumOp::Eq, false),
            Tok::Op(Sym::Ne) => (NumOp::Eq, true),
            Tok::Op(Sym::Lt) => (NumOp::Lt, false),
            Tok::Op(Sym::Le) => (NumOp::Le, false),
            Tok::Op(Sym::Gt) => (NumOp::Gt, false),
            Tok::Op(Sym::Ge) => (NumOp::Ge, false),
            _ => return Err(self.error(expected)),
        };
        self.next();
        Ok(op)
    }

    fn number(&mut self) -> Result<f64, FilterError> {
        match self.peek().tok {
            Tok::Num(value) => {
                self.next();
                Ok(value)
            }
            _ => Err(self.error("a number")),
        }
    }

    fn num_predicate(&mut self, key: NumKey) -> Result<Expr, FilterError> {
        let (op, negate) =
            self.num_op("a comparison: `=`, `!=`, `<`, `<=`, `>` or `>=` (a numeric keyword)")?;
        let value = self.number()?;
        let expr = Expr::Num(key, op, value);
        Ok(if negate { not(expr) } else { expr })
    }

    /// A string operator: `(make the StrOp from the value, negate)`; `None` when the next
    /// token is not one.
    fn str_op(&mut self) -> Option<(MakeStrOp, bool)> {
        let op: (MakeStrOp, bool) = match self.peek().tok {
            Tok::Op(Sym::Eq) => (StrOp::Eq, false),
            Tok::Op(Sym::Ne) => (StrOp::Eq, true),
            Tok::Word if self.at_word("contains") => (StrOp::Contains, false),
            Tok::Word if self.at_word("beginswith") => (StrOp::BeginsWith, false),
            Tok::Word if self.at_word("endswith") => (StrOp::EndsWith, false),
            _ => return None,
        };
        self.next();
        Some(op)
    }

    fn str_predicate(&mut self, key: StrKey) -> Result<Expr, FilterError> {
        if matches!(
            self.peek().tok,
            Tok::Op(Sym::Lt | Sym::Le | Sym::Gt | Sym::Ge)
        ) {
            return Err(
                self.error("`=`, `!=`, `CONTAINS`, `BEGINSWITH` or `ENDSWITH` (a string keyword)")
            );
        }
        let Some((make, negate)) = self.str_op() else {
            return Ok(Expr::Str(key, StrOp::Present));
        };
        let value = match self.peek().tok.clone() {
            Tok::Str(text) => text,
            // One AWS example writes `name = traces`: a bare word is a value too.
            Tok::Word => self.text(self.peek()).to_owned(),
            _ => return Err(self.error("a quoted string")),
        };
        self.next();
        let expr = Expr::Str(key, make(value));
        Ok(if negate { not(expr) } else { expr })
    }

    fn annotation(
        &mut self,
        scope: Scope,
        token: &Token,
        key: String,
    ) -> Result<Expr, FilterError> {
        if scope != Scope::Trace {
            // Spec §6.2: annotations cannot be combined with service and edge blocks.
            return Err(self.error_at(token, &format!("{} {scope}", allowed(scope))));
        }
        let test = match self.peek().tok.clone() {
            Tok::Op(Sym::Lt | Sym::Le | Sym::Gt | Sym::Ge) => {
                let (op, _) = self.num_op("")?;
                AnnotationTest::Num(op, self.number()?)
            }
            Tok::Op(Sym::Eq | Sym::Ne) => {
                let negate = self.next().tok == Tok::Op(Sym::Ne);
                let test = match self.peek().tok.clone() {
                    Tok::Num(value) => AnnotationTest::Num(NumOp::Eq, value),
                    Tok::Str(text) => AnnotationTest::Str(StrOp::Eq(text)),
                    Tok::Word if self.at_word("true") => AnnotationTest::BoolEq(true),
                    Tok::Word if self.at_word("false") => AnnotationTest::BoolEq(false),
                    _ => return Err(self.error("a number, a quoted string, `true` or `false`")),
                };
                self.next();
                let expr = Expr::Annotation(key, test);
                return Ok(if negate { not(expr) } else { expr });
            }
            Tok::Word => match self.str_op() {
                Some((make, _)) => match self.peek().tok.clone() {
                    Tok::Str(text) => {
                        self.next();
                        AnnotationTest::Str(make(text))
                    }
                    _ => return Err(self.error("a quoted string")),
                },
                None => AnnotationTest::Present,
            },
            _ => AnnotationTest::Present,
        };
        Ok(Expr::Annotation(key, test))
    }

    /// A node reference: a string or `id(...)`.
    pub(crate) fn node_ref(&mut self) -> Result<NodeRef, FilterError> {
        match self.peek().tok.clone() {
            Tok::Str(name) => {
                self.next();
                Ok(NodeRef {
                    name: Some(name),
                    ..NodeRef::default()
                })
            }
            Tok::Word if self.at_word("id") => {
                self.next();
                self.id_call()
            }
            _ => Err(self.error("a node: a quoted name or `id(name: \"...\", type: \"...\")`")),
        }
    }

    /// `( name: "x", type: "y", account.id: "z" )` after `id`.
    pub(crate) fn id_call(&mut self) -> Result<NodeRef, FilterError> {
        self.expect(&Tok::LParen, "`(` after `id`")?;
        let mut node = NodeRef::default();
        loop {
            let token = self.peek().clone();
            let which = if token.tok == Tok::Word {
                ["name", "type", "account.id"]
                    .iter()
                    .position(|w| self.text(&token).eq_ignore_ascii_case(w))
            } else {
                None
            };
            let slot = match which {
                Some(0) => &mut node.name,
                Some(1) => &mut node.kind,
                Some(_) => &mut node.account_id,
                None => return Err(self.error("`name:`, `type:` or `account.id:`")),
            };
            if slot.is_some() {
                return Err(self.error_at(&token, "each of `name:`, `type:`, `account.id:` once"));
            }
            self.next();
            self.expect(&Tok::Colon, "`:` after the argument's name")?;
            let Tok::Str(value) = self.peek().tok.clone() else {
                return Err(self.error("a quoted string"));
            };
            self.next();
            *match which {
                Some(0) => &mut node.name,
                Some(1) => &mut node.kind,
                _ => &mut node.account_id,
            } = Some(value);
            match self.next().tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(node),
                _ => {
                    self.at -= 1;
                    return Err(self.error("`,` or `)`"));
                }
            }
        }
    }

    /// An optional `{ ... }` block in `scope`.
    fn block(&mut self, scope: Scope, required: bool) -> Result<Option<Box<Expr>>, FilterError> {
        if self.peek().tok != Tok::LBrace {
            return if required {
                Err(self.error("`{`"))
            } else {
                Ok(None)
            };
        }
        self.next();
        self.enter()?;
        if self.peek().tok == Tok::RBrace {
            return Err(self.error(allowed(scope)));
        }
        let expr = self.or_expr(scope)?;
        self.expect(&Tok::RBrace, "`}` or another operand")?;
        self.depth -= 1;
        Ok(Some(Box::new(expr)))
    }

    fn service(&mut self) -> Result<Expr, FilterError> {
        self.expect(&Tok::LParen, "`(` after `service`")?;
        let node = if self.peek().tok == Tok::RParen {
            None
        } else {
            Some(self.node_ref()?)
        };
        self.expect(&Tok::RParen, "`)`")?;
        let block = self.block(Scope::Entity, false)?;
        Ok(Expr::Service(node, block))
    }

    fn edge(&mut self) -> Result<Expr, FilterError> {
        self.expect(&Tok::LParen, "`(` after `edge`")?;
        let from = self.node_ref()?;
        self.expect(&Tok::Comma, "`,` between the two nodes of an edge")?;
        let to = self.node_ref()?;
        self.expect(&Tok::RParen, "`)`")?;
        let block = self.block(Scope::Entity, false)?;
        Ok(Expr::Edge(from, to, block))
    }

    fn group(&mut self, token: &Token, by_arn: bool) -> Result<Expr, FilterError> {
        let negate = match self.peek().tok {
            Tok::Op(Sym::Eq) => false,
            Tok::Op(Sym::Ne) => true,
            _ => return Err(self.error("`=` or `!=`")),
        };
        self.next();
        let value_token = self.peek().clone();
        let Tok::Str(value) = value_token.tok.clone() else {
            return Err(self.error("a quoted string"));
        };
        self.next();
        let what = if by_arn { "ARN" } else { "name" };
        let Some(group) = self.groups.iter().find(|g| {
            if by_arn {
                g.arn.as_deref() == Some(value.as_str())
            } else {
                g.name == value
            }
        }) else {
            return Err(self.error_at(&value_token, &format!("the {what} of a known group")));
        };
        if self.group_stack.contains(&group.name) {
            let mut chain = self.group_stack.clone();
            chain.push(group.name.clone());
            let mut e = FilterError::new(
                self.src,
                token.start,
                "a group that does not refer back to itself",
                format!("the cycle {}", chain.join(" → ")),
            );
            e.from_group = true;
            return Err(e);
        }
        let expr = match group.filter_expression.as_deref().map(str::trim) {
            None | Some("") => Expr::Const(true),
            Some(inner) => {
                let mut stack = self.group_stack.clone();
                stack.push(group.name.clone());
                let compiled = Parser::new(inner, self.options, self.groups, stack, self.depth)
                    .and_then(|mut p| {
                        p.predicates = self.predicates;
                        p.enter()?;
                        let expr = p.filter()?;
                        Ok((expr, p.predicates))
                    });
                match compiled {
                    Ok((expr, predicates)) => {
                        self.predicates = predicates;
                        expr
                    }
                    Err(inner) if inner.from_group => {
                        return Err(inner.moved_to(self.src, token.start))
                    }
                    Err(inner) => {
                        let mut e = FilterError::new(
                            self.src,
                            token.start,
                            &format!("group {:?} to have a valid FilterExpression", group.name),
                            format!("{inner}"),
                        );
                        e.from_group = true;
                        return Err(e);
                    }
                }
            }
        };
        Ok(if negate { not(expr) } else { expr })
    }

    fn root_cause(&mut self, token: &Token, word: &str) -> Result<Expr, FilterError> {
        let mut parts = word.split('.').skip(1);
        let kind =
            match parts.next() {
                Some("fault") => RootCauseKind::Fault,
                Some("error") => RootCauseKind::Error,
                Some("responsetime") => RootCauseKind::ResponseTime,
                _ => return Err(self.error_at(
                    token,
                    "rootcause.fault, rootcause.error, rootcause.responsetime or rootcause.json",
                )),
            };
        let level = match parts.next() {
            Some("service") => RootCauseLevel::Service,
            Some("entity") => RootCauseLevel::Entity,
            Some("exception") if kind != RootCauseKind::ResponseTime => RootCauseLevel::Exception,
            Some("exception") => {
                return Err(self.error_at(
                    token,
                    "rootcause.responsetime.service or rootcause.responsetime.entity \
                     (response-time root causes have no exceptions)",
                ))
            }
            _ => {
                return Err(self.error_at(
                    token,
                    &format!(
                        "rootcause.{kind}.service, rootcause.{kind}.entity or \
                         rootcause.{kind}.exception"
                    ),
                ))
            }
        };
        if parts.next().is_some() {
            return Err(self.error_at(token, &format!("rootcause.{kind}.LEVEL {{ ... }}")));
        }
        let scope = match level {
            RootCauseLevel::Service => Scope::RootCauseService(kind),
            RootCauseLevel::Entity => Scope::RootCauseEntity(kind),
            RootCauseLevel::Exception => Scope::RootCauseException(kind),
        };
        let block = self
            .block(scope, true)?
            .unwrap_or_else(|| Box::new(Expr::Const(true)));
        Ok(Expr::RootCause(kind, level, block))
    }

    fn root_cause_json(&mut self) -> Result<Expr, FilterError> {
        let negate = match self.peek().tok {
            Tok::Op(Sym::Eq) => false,
            Tok::Op(Sym::Ne) => true,
            _ => return Err(self.error("`=` or `!=`")),
        };
        self.next();
        let token = self.peek().clone();
        let Tok::Json(serde_json::Value::Array(templates)) = token.tok else {
            return Err(self.error("a JSON array of root causes: `#[{...}]`"));
        };
        if templates.is_empty() || !templates.iter().all(serde_json::Value::is_object) {
            return Err(self.error("a non-empty JSON array of objects (root causes)"));
        }
        self.next();
        let expr = Expr::RootCauseJson(templates);
        Ok(if negate { not(expr) } else { expr })
    }
}

/// `!expr`, with `!!e` folded to `e`.
pub(crate) fn not(expr: Expr) -> Expr {
    match expr {
        Expr::Not(inner) => *inner,
        other => Expr::Not(Box::new(other)),
    }
}
