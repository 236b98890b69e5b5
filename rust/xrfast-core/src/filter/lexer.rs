//! Filter expression text → tokens, each with its byte span (spec §6.1, lexical notes).

use super::error::FilterError;

/// A comparison operator written with symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sym {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl Sym {
    fn text(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
    /// `!` (not followed by `=`).
    Bang,
    /// A comparison written with symbols.
    Op(Sym),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// A number.
    Num(f64),
    /// A keyword, operator word or bare value: letters, digits, `_`, `.` (its text is the
    /// source span).
    Word,
    /// `annotation[key]` (the key as written between the brackets, or the quoted string).
    AnnotationBracket(String),
    /// `#[ ... ]`: a JSON array, parsed.
    Json(serde_json::Value),
    /// The end of the expression.
    End,
}

/// A token and the bytes it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self, src: &str) -> String {
        match &self.tok {
            Tok::End => "the end of the expression".to_owned(),
            Tok::Op(sym) => format!("`{}`", sym.text()),
            Tok::Str(_) => format!("the string {}", &src[self.start..self.end]),
            Tok::Num(_) => format!("the number {}", &src[self.start..self.end]),
            Tok::Json(_) => "a JSON array".to_owned(),
            _ => format!("`{}`", &src[self.start..self.end]),
        }
    }
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// Splits `src` into tokens; the last one is [`Tok::End`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b'{' => single(&mut i, Tok::LBrace),
            b'}' => single(&mut i, Tok::RBrace),
            b',' => single(&mut i, Tok::Comma),
            b':' => single(&mut i, Tok::Colon),
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Op(Sym::Ne)
            }
            b'!' => single(&mut i, Tok::Bang),
            b'=' => single(&mut i, Tok::Op(Sym::Eq)),
            b'<' | b'>' => {
                let or_equal = bytes.get(i + 1) == Some(&b'=');
                i += 1 + usize::from(or_equal);
                Tok::Op(match (c, or_equal) {
                    (b'<', false) => Sym::Lt,
                    (b'<', true) => Sym::Le,
                    (_, false) => Sym::Gt,
                    (_, true) => Sym::Ge,
                })
            }
            b'"' => {
                let (text, next) = string(src, i)?;
                i = next;
                Tok::Str(text)
            }
            b'-' | b'0'..=b'9' => {
                let (value, next) = number(src, i)?;
                i = next;
                Tok::Num(value)
            }
            b'#' => {
                let (value, next) = json(src, i)?;
                i = next;
                Tok::Json(value)
            }
            c if is_word_start(c) => {
                while i < bytes.len() && is_word_char(bytes[i]) {
                    i += 1;
                }
                if src[start..i].eq_ignore_ascii_case("annotation") && bytes.get(i) == Some(&b'[') {
                    let (key, next) = bracket_key(src, i)?;
                    i = next;
                    Tok::AnnotationBracket(key)
                } else {
                    Tok::Word
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(FilterError::new(
                    src,
                    i,
                    "a keyword, a value, an operator, `!`, `(` or `)`",
                    format!("`{ch}`"),
                ));
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::End,
        start: bytes.len(),
        end: bytes.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

/// A string starting at the `"` at `at`: `\"` and `\\` are escapes, any other backslash is
/// kept as written. Returns the text and the byte after the closing quote.
fn string(src: &str, at: usize) -> Result<(String, usize), FilterError> {
    let bytes = src.as_bytes();
    let mut text = String::new();
    let mut i = at + 1;
    let mut from = i;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                text.push_str(&src[from..i]);
                return Ok((text, i + 1));
            }
            b'\\' if matches!(bytes.get(i + 1), Some(b'"' | b'\\')) => {
                text.push_str(&src[from..i]);
                i += 1;
                from = i;
                i += 1;
            }
            _ => i += 1,
        }
    }
    Err(FilterError::new(
        src,
        at,
        "a string closed by `\"`",
        "the end of the expression".to_owned(),
    ))
}

/// `-?digits(.digits)?` at `at`.
fn number(src: &str, at: usize) -> Result<(f64, usize), FilterError> {
    let bytes = src.as_bytes();
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = at + usize::from(bytes[at] == b'-');
    let int_end = digits(i);
    if int_end == i {
        return Err(FilterError::new(
            src,
            i,
            "a digit after `-`",
            describe_at(src, i),
        ));
    }
    i = int_end;
    if bytes.get(i) == Some(&b'.') {
        let frac_end = digits(i + 1);
        if frac_end == i + 1 {
            return Err(FilterError::new(
                src,
                i + 1,
                "a digit after the decimal point",
                describe_at(src, i + 1),
            ));
        }
        i = frac_end;
    }
    if bytes.get(i).is_some_and(|&c| is_word_char(c)) {
        return Err(FilterError::new(
            src,
            i,
            "a number (digits, optionally `-` and a decimal point)",
            describe_at(src, i),
        ));
    }
    // Digits, a sign and a point always parse; the fallback is never taken.
    let value = src[at..i].parse::<f64>().unwrap_or(f64::NAN);
    Ok((value, i))
}

/// `annotation[key]` from the `[` at `at`: the key is a quoted string or the text up to `]`.
fn bracket_key(src: &str, at: usize) -> Result<(String, usize), FilterError> {
    let bytes = src.as_bytes();
    let mut i = at + 1;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let key = if bytes.get(i) == Some(&b'"') {
        let (key, next) = string(src, i)?;
        i = next;
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        key
    } else {
        let from = i;
        while i < bytes.len() && is_word_char(bytes[i]) {
            i += 1;
        }
        src[from..i].to_owned()
    };
    if key.is_empty() {
        return Err(FilterError::new(
            src,
            i,
            "an annotation key (letters, digits, `_`, `.`)",
            describe_at(src, i),
        ));
    }
    if bytes.get(i) != Some(&b']') {
        return Err(FilterError::new(
            src,
            i,
            "`]` after the annotation key",
            describe_at(src, i),
        ));
    }
    Ok((key, i + 1))
}

/// `#[ ... ]` at `at`: a JSON array (`serde_json` bounds its nesting at 128 levels).
fn json(src: &str, at: usize) -> Result<(serde_json::Value, usize), FilterError> {
    if src.as_bytes().get(at + 1) != Some(&b'[') {
        return Err(FilterError::new(
            src,
            at + 1,
            "`[` after `#` (a JSON array: `#[{...}]`)",
            describe_at(src, at + 1),
        ));
    }
    let rest = &src[at + 1..];
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, at + 1 + stream.byte_offset())),
        Some(Err(e)) => {
            let offset = line_column_offset(rest, e.line(), e.column());
            Err(FilterError::new(
                src,
                at + 1 + offset,
                "valid JSON in `#[...]`",
                format!("a JSON error ({e})"),
            ))
        }
        None => Err(FilterError::new(
            src,
            at + 1,
            "a JSON array",
            "the end of the expression".to_owned(),
        )),
    }
}

/// `serde_json`'s 1-based line and column (in bytes) → a byte offset into `text`.
fn line_column_offset(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return (offset + column.saturating_sub(1)).min(text.len());
        }
        offset += l.len();
    }
    text.len()
}

/// The character at byte `at`, for an error message.
pub fn describe_at(src: &str, at: usize) -> String {
    match src.get(at..).and_then(|rest| rest.chars().next()) {
        None => "the end of the expression".to_owned(),
        Some(c) if c.is_whitespace() => "a space".to_owned(),
        Some(c) => format!("`{c}`"),
    }
}
