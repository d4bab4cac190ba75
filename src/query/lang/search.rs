//! The search form: what a user types into a search box, and what
//! `SEARCH('...')` holds inside SQL.
//!
//! `level:error component:auth "connection reset" -healthcheck time*`
//!
//! - Terms separated by spaces must all match; `AND` may be written, `OR`
//!   joins alternatives, `NOT` or a leading `-` negates, parentheses
//!   group. Operators are recognised in uppercase only, so a lowercase `or`
//!   is a word to search for. Precedence is that of SQL: NOT, then AND
//!   (written or implied), then OR, so `a b OR c` is `(a AND b) OR c`.
//! - `field:value` names the field: `level`, `source`, `message`,
//!   `timestamp`, `id`, `partition`, `tags.<key>`, `fields.<key>`, or any
//!   other name, which is a tag (`component:auth`). A field name starts with
//!   a letter or `_`, so `12:30` is text, not a field. `field:(a OR b)`
//!   applies the field to each term of the group.
//! - Values: `word`, `"exact phrase"`, `time*` (prefix), `t?me` and `a*b`
//!   (wildcards), `/regex/`, `word~` (fuzzy, 2 edits; `~1` or `~2` to
//!   choose), `field:*` (the field exists; `*` alone matches everything),
//!   and after a field `>`, `>=`, `<`, `<=` with a number (tags, fields), a
//!   level (`level:>=warn`) or a time (`timestamp:>2024-03-15T00:00:00Z`).
//! - `\` makes the next character literal (`a\*b`, `x\:y`, `\-1`).
//!
//! What a value means depends on the field. On `message` (and for bare
//! terms) it is full-text search over words (see `text::words`): `timeout`
//! is the word `timeout` (not `timeouts`), text of several words such as
//! `req-42ab` is the phrase `req 42ab`, wildcards match within one word.
//! On other fields a value is the whole value: `source:web-1` is equality,
//! `source:web-*` is `source LIKE 'web-%'`. `level` and `timestamp` take
//! only names, times and comparisons.

use super::ast::{CmpOp, Expr, Field, Value};
use super::error::{ParseError, Result};
use super::parser::NESTING_DEPTH_MAX;
use super::text::{words, TextQuery};
use super::values::{check_text, level_value, number_value, timestamp_from_text};
use super::QUERY_BYTES_MAX;

/// Parses search text. `column_offset` is the number of characters before
/// `text` in the whole query (0 when the search is the whole `q`), so that
/// error columns point into the query the user wrote. Inside
/// `SEARCH('...')` a doubled `''` before the error shifts it by one.
pub fn parse_search(text: &str, column_offset: usize) -> Result<Expr> {
    if text.len() > QUERY_BYTES_MAX {
        return Err(ParseError::at(
            column_offset,
            format!(
                "the search is {} bytes long; at most {QUERY_BYTES_MAX} are allowed",
                text.len()
            ),
        ));
    }
    let mut parser = SearchParser {
        chars: text.chars().collect(),
        position: 0,
        column_offset,
        depth: 0,
    };
    parser.skip_spaces();
    if parser.peek().is_none() {
        return Err(parser.error(
            parser.position,
            "empty search; expected at least one term, such as timeout or level:error",
        ));
    }
    let expr = parser.parse_or(&Field::Message, "")?;
    parser.skip_spaces();
    if parser.peek().is_some() {
        return Err(parser.error(
            parser.position,
            "unbalanced ')'; expected a term or the end of the search",
        ));
    }
    Ok(expr)
}

/// A value as written, before the field gives it a meaning.
#[derive(Debug, Clone, PartialEq)]
enum SearchValue {
    /// Plain text, escapes resolved.
    Bare(String),
    /// `"..."`, escapes resolved.
    Quoted(String),
    /// Text with `*` or `?` wildcards.
    Pattern(Vec<Piece>),
    Regex(String),
    Fuzzy {
        word: String,
        distance: u8,
    },
    Compare {
        op: CmpOp,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Literal(char),
    AnyRun,
    AnyOne,
}

struct SearchParser {
    chars: Vec<char>,
    position: usize,
    column_offset: usize,
    depth: usize,
}

impl SearchParser {
    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.column_offset + at, message)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
    }

    /// What is at `at`, for "found ..." in messages.
    fn describe(&self, at: usize) -> String {
        match self.chars.get(at) {
            None => "end of search".to_string(),
            Some(c) if c.is_whitespace() => "a space".to_string(),
            Some(c @ ('(' | ')')) => format!("'{c}'"),
            Some(_) => {
                let run: String = self.chars[at..]
                    .iter()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
                    .take(32)
                    .collect();
                format!("\"{run}\"")
            }
        }
    }

    /// Whether an uppercase operator word stands at the current position.
    fn at_operator(&self, word: &str) -> bool {
        let end = self.position + word.len();
        self.chars.len() >= end
            && self.chars[self.position..end]
                .iter()
                .copied()
                .eq(word.chars())
            && self
                .chars
                .get(end)
                .is_none_or(|c| c.is_whitespace() || matches!(c, '(' | ')'))
    }

    fn enter(&mut self, at: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.error(
                at,
                format!("the search nests more than {NESTING_DEPTH_MAX} levels deep; expected a flatter search"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self, field: &Field, context: &str) -> Result<Expr> {
        let mut children = vec![self.parse_and(field, context)?];
        loop {
            self.skip_spaces();
            if !self.at_operator("OR") {
                return Ok(Expr::or(children));
            }
            self.position += 2;
            children.push(self.parse_and(field, " after OR")?);
        }
    }

    fn parse_and(&mut self, field: &Field, context: &str) -> Result<Expr> {
        let mut children = vec![self.parse_unary(field, context)?];
        loop {
            self.skip_spaces();
            if self.peek().is_none_or(|c| c == ')') || self.at_operator("OR") {
                return Ok(Expr::and(children));
            }
            if self.at_operator("AND") {
                self.position += 3;
                children.push(self.parse_unary(field, " after AND")?);
            } else {
                children.push(self.parse_unary(field, "")?);
            }
        }
    }

    fn parse_unary(&mut self, field: &Field, context: &str) -> Result<Expr> {
        self.skip_spaces();
        let start = self.position;
        let (negate, operator) = match self.peek() {
            Some(sign @ ('-' | '+')) => {
                let next = self.chars.get(start + 1);
                if next.is_none_or(|c| c.is_whitespace() || *c == ')') {
                    return Err(self.error(
                        start + 1,
                        format!(
                            "expected a term right after '{sign}', found {}",
                            self.describe(start + 1)
                        ),
                    ));
                }
                (sign == '-', format!("'{sign}'"))
            }
            _ if self.at_operator("NOT") => (true, "NOT".to_string()),
            _ => return self.parse_primary(field, context),
        };
        self.position += if operator == "NOT" { 3 } else { 1 };
        self.enter(start)?;
        let inner = self.parse_unary(field, &format!(" after {operator}"))?;
        self.depth -= 1;
        Ok(if negate {
            Expr::Not(Box::new(inner))
        } else {
            inner
        })
    }

    fn parse_primary(&mut self, field: &Field, context: &str) -> Result<Expr> {
        match self.peek() {
            None | Some(')') => Err(self.error(
                self.position,
                format!(
                    "expected a term{context}, found {}",
                    self.describe(self.position)
                ),
            )),
            Some('(') => self.parse_group(field),
            Some(_) if self.at_operator("AND") || self.at_operator("OR") => Err(self.error(
                self.position,
                format!(
                    "expected a term{context}, found {}; to search for the word, put it in double quotes",
                    self.describe(self.position)
                ),
            )),
            Some(_) => self.parse_term(field),
        }
    }

    /// `( ... )`, with `field` as the default for the terms inside.
    fn parse_group(&mut self, field: &Field) -> Result<Expr> {
        let open = self.position;
        self.position += 1;
        self.enter(open)?;
        self.skip_spaces();
        if self.peek() == Some(')') {
            return Err(self.error(self.position, "empty parentheses; expected a term inside"));
        }
        let inner = self.parse_or(field, " after '('")?;
        self.skip_spaces();
        if self.peek() != Some(')') {
            return Err(self.error(
                self.position,
                format!(
                    "expected ')' to close the '(' at column {}, found {}",
                    self.column_offset + open + 1,
                    self.describe(self.position)
                ),
            ));
        }
        self.position += 1;
        self.depth -= 1;
        Ok(inner)
    }

    /// `[field:]value`.
    fn parse_term(&mut self, default_field: &Field) -> Result<Expr> {
        let start = self.position;
        let Some((name, after_colon)) = self.scan_field_name() else {
            let value = self.scan_value(false)?;
            return term_expr(default_field, value).map_err(|message| self.error(start, message));
        };
        let field = resolve_field(&name).map_err(|message| self.error(start, message))?;
        self.position = after_colon;
        match self.peek() {
            None => {}
            Some('(') => return self.parse_group(&field),
            Some(c) if !c.is_whitespace() && c != ')' => {
                let value_start = self.position;
                let value = self.scan_value(true)?;
                return term_expr(&field, value)
                    .map_err(|message| self.error(value_start, message));
            }
            Some(_) => {}
        }
        Err(self.error(
            self.position,
            format!(
                "expected a value after '{name}:', found {}",
                self.describe(self.position)
            ),
        ))
    }

    /// `name:` at the current position: the name (escapes resolved) and the
    /// index after the colon. `None` when the term has no field.
    fn scan_field_name(&self) -> Option<(String, usize)> {
        let mut name = String::new();
        let mut at = self.position;
        loop {
            match *self.chars.get(at)? {
                '\\' => {
                    name.push(*self.chars.get(at + 1)?);
                    at += 2;
                }
                ':' => break,
                c if c.is_whitespace() || matches!(c, '(' | ')' | '"') => return None,
                c => {
                    name.push(c);
                    at += 1;
                }
            }
        }
        name.starts_with(|c: char| c.is_alphabetic() || c == '_')
            .then_some((name, at + 1))
    }

    fn scan_value(&mut self, after_field: bool) -> Result<SearchValue> {
        let start = self.position;
        match self.peek() {
            Some('"') => return self.scan_delimited('"', "phrase").map(SearchValue::Quoted),
            Some('/') => {
                return self
                    .scan_delimited('/', "regular expression")
                    .map(SearchValue::Regex)
            }
            Some('>' | '<') if after_field => return self.scan_comparison(),
            _ => {}
        }
        let mut units: Vec<(char, bool)> = Vec::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')') {
                break;
            }
            if c == '\\' {
                let Some(escaped) = self.chars.get(self.position + 1).copied() else {
                    return Err(self.error(
                        self.position,
                        "the search ends with an escape '\\'; expected a character after it",
                    ));
                };
                units.push((escaped, true));
                self.position += 2;
            } else {
                units.push((c, false));
                self.position += 1;
            }
        }
        self.bare_value(units, start)
    }

    /// Plain text, a pattern or a fuzzy word, from characters marked
    /// escaped (literal) or not.
    fn bare_value(&self, mut units: Vec<(char, bool)>, start: usize) -> Result<SearchValue> {
        let is_wild = |(c, escaped): &(char, bool)| !escaped && matches!(c, '*' | '?');
        let tilde = units.iter().rposition(|unit| *unit == ('~', false));
        let fuzzy = tilde.filter(|at| {
            units[at + 1..]
                .iter()
                .all(|(c, escaped)| !escaped && c.is_ascii_digit())
        });
        if let Some(at) = fuzzy {
            let digits: String = units[at + 1..].iter().map(|(c, _)| *c).collect();
            let tilde_at = start
                + units[..at]
                    .iter()
                    .map(|(_, escaped)| 1 + usize::from(*escaped))
                    .sum::<usize>();
            let distance = match digits.as_str() {
                "" => 2,
                "1" => 1,
                "2" => 2,
                _ => {
                    return Err(self.error(
                        tilde_at,
                        format!("fuzzy distance ~{digits} is not offered; expected ~1 or ~2"),
                    ))
                }
            };
            units.truncate(at);
            if units.is_empty() {
                return Err(self.error(tilde_at, "expected a word before '~'"));
            }
            if units.iter().any(is_wild) {
                return Err(self.error(
                    start,
                    "a term cannot be both fuzzy (~) and a wildcard (* or ?); expected one of them",
                ));
            }
            let word = units.iter().map(|(c, _)| *c).collect();
            return Ok(SearchValue::Fuzzy { word, distance });
        }
        if units.iter().any(is_wild) {
            let mut pieces: Vec<Piece> = units
                .iter()
                .map(|(c, escaped)| match (c, escaped) {
                    ('*', false) => Piece::AnyRun,
                    ('?', false) => Piece::AnyOne,
                    _ => Piece::Literal(*c),
                })
                .collect();
            // `**` is one run; one spelling keeps the tree canonical.
            pieces.dedup_by(|next, previous| *next == Piece::AnyRun && *previous == Piece::AnyRun);
            return Ok(SearchValue::Pattern(pieces));
        }
        Ok(SearchValue::Bare(units.iter().map(|(c, _)| *c).collect()))
    }

    /// `"..."` or `/.../`. In a phrase `\` makes the next character literal;
    /// in a regex only `\/` is unescaped (to `/`) and every other `\x` is
    /// kept for the regex itself.
    fn scan_delimited(&mut self, delimiter: char, what: &str) -> Result<String> {
        let open = self.position;
        let mut text = String::new();
        let mut at = open + 1;
        loop {
            match self.chars.get(at).copied() {
                None => {
                    return Err(self.error(
                        open,
                        format!(
                            "unterminated {what} starting here; expected a closing {delimiter}"
                        ),
                    ))
                }
                Some('\\') if at + 1 < self.chars.len() => {
                    let next = self.chars[at + 1];
                    if delimiter == '/' && next != '/' {
                        text.push('\\');
                    }
                    text.push(next);
                    at += 2;
                }
                Some(c) if c == delimiter => break,
                Some(c) => {
                    text.push(c);
                    at += 1;
                }
            }
        }
        self.position = at + 1;
        if self.peek().is_some_and(|c| !c.is_whitespace() && c != ')') {
            return Err(self.error(
                self.position,
                format!(
                    "expected a space or ')' after the closing {delimiter}, found {}; \
                     to search for text with ':' or '/', put it in \"double quotes\"",
                    self.describe(self.position)
                ),
            ));
        }
        Ok(text)
    }

    /// `>x`, `>=x`, `<x`, `<=x` after a field.
    fn scan_comparison(&mut self) -> Result<SearchValue> {
        let greater = self.peek() == Some('>');
        self.position += 1;
        let or_equal = self.peek() == Some('=');
        if or_equal {
            self.position += 1;
        }
        let op = match (greater, or_equal) {
            (true, false) => CmpOp::Gt,
            (true, true) => CmpOp::Ge,
            (false, false) => CmpOp::Lt,
            (false, true) => CmpOp::Le,
        };
        let text = match self.peek() {
            Some('"') => self.scan_delimited('"', "phrase")?,
            Some(c) if !c.is_whitespace() && !matches!(c, '(' | ')') => {
                let end = self.position
                    + self.chars[self.position..]
                        .iter()
                        .take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
                        .count();
                let text = self.chars[self.position..end].iter().collect();
                self.position = end;
                text
            }
            _ => {
                return Err(self.error(
                    self.position,
                    format!(
                        "expected a value after '{}', found {}",
                        op.symbol(),
                        self.describe(self.position)
                    ),
                ))
            }
        };
        Ok(SearchValue::Compare { op, text })
    }
}

/// A field name as the search form writes it; `tags` or `fields` alone,
/// or with an empty key, is an error.
fn resolve_field(name: &str) -> std::result::Result<Field, String> {
    let field = Field::from_name(name);
    let empty_key = matches!(&field, Field::Tag(key) | Field::Field(key) if key.is_empty());
    if empty_key || name.eq_ignore_ascii_case("tags") || name.eq_ignore_ascii_case("fields") {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        return Err(format!(
            "expected a key after '{lower}.', as in {lower}.component:auth"
        ));
    }
    Ok(field)
}

/// What a value means for a field; see the module comment.
fn term_expr(field: &Field, value: SearchValue) -> std::result::Result<Expr, String> {
    if let SearchValue::Pattern(pieces) = &value {
        if pieces.iter().all(|piece| *piece == Piece::AnyRun) {
            return Ok(if *field == Field::Message {
                Expr::True
            } else {
                Expr::Exists(field.clone())
            });
        }
    }
    match field {
        Field::Message => message_expr(value),
        Field::Level => Ok(match value {
            SearchValue::Bare(text) | SearchValue::Quoted(text) => compare(field, CmpOp::Eq, Value::Level(level_value(&text)?)),
            SearchValue::Compare { op, text } => compare(field, op, Value::Level(level_value(&text)?)),
            _ => return Err("level takes a level name, as in level:error or level:>=warn; wildcards, regexes and fuzzy terms do not apply".into()),
        }),
        Field::Timestamp => Ok(match value {
            SearchValue::Bare(text) | SearchValue::Quoted(text) => compare(field, CmpOp::Eq, Value::TimeNs(timestamp_from_text(&text)?)),
            SearchValue::Compare { op, text } => compare(field, op, Value::TimeNs(timestamp_from_text(&text)?)),
            _ => return Err("timestamp takes a time, as in timestamp:>=2024-03-15T00:00:00Z; wildcards, regexes and fuzzy terms do not apply".into()),
        }),
        _ => keyword_expr(field, value),
    }
}

fn compare(field: &Field, op: CmpOp, value: Value) -> Expr {
    Expr::Compare {
        field: field.clone(),
        op,
        value,
    }
}

fn text_expr(field: &Field, query: TextQuery) -> std::result::Result<Expr, String> {
    check_text(&query)?;
    Ok(Expr::Text {
        field: field.clone(),
        query,
    })
}

/// Full-text search of `message`: words, phrases, word wildcards.
fn message_expr(value: SearchValue) -> std::result::Result<Expr, String> {
    let query = match value {
        SearchValue::Quoted(text) if text.is_empty() => {
            return Err("empty phrase; expected words between the double quotes".into())
        }
        SearchValue::Bare(text) | SearchValue::Quoted(text) => {
            let found: Vec<&str> = words(&text).collect();
            match found.as_slice() {
                [] => TextQuery::Contains(text),
                [word] => TextQuery::Word(word.to_string()),
                many => TextQuery::Phrase(many.iter().map(|word| word.to_string()).collect()),
            }
        }
        SearchValue::Pattern(pieces) => {
            // Checked as a wildcard first, so `req-4*` gets the message that
            // explains word boundaries.
            let wildcard = TextQuery::Wildcard(wildcard_pattern(&pieces));
            check_text(&wildcard)?;
            match prefix_of(&pieces) {
                Some(prefix) => TextQuery::Prefix(prefix),
                None => wildcard,
            }
        }
        SearchValue::Regex(pattern) => TextQuery::Regex(pattern),
        SearchValue::Fuzzy { word, distance } => TextQuery::Fuzzy { word, distance },
        SearchValue::Compare { op, .. } => {
            return Err(format!(
            "message cannot be compared with {}; expected words, \"phrases\", wildcards or /regex/",
            op.symbol()
        ))
        }
    };
    text_expr(&Field::Message, query)
}

/// Whole-value matching of `source`, `id`, `partition`, tags and fields.
fn keyword_expr(field: &Field, value: SearchValue) -> std::result::Result<Expr, String> {
    match value {
        SearchValue::Bare(text) | SearchValue::Quoted(text) => {
            Ok(compare(field, CmpOp::Eq, Value::Str(text)))
        }
        SearchValue::Pattern(pieces) => text_expr(field, TextQuery::Like(like_pattern(&pieces))),
        SearchValue::Regex(pattern) => text_expr(field, TextQuery::Regex(pattern)),
        SearchValue::Fuzzy { word, distance } => {
            text_expr(field, TextQuery::Fuzzy { word, distance })
        }
        SearchValue::Compare { op, text } if field.is_dynamic() => {
            let number = number_value(&text).ok_or_else(|| {
                format!(
                    "expected a number after '{}', found \"{text}\"",
                    op.symbol()
                )
            })?;
            Ok(compare(field, op, number))
        }
        SearchValue::Compare { op, text } => Ok(compare(field, op, Value::Str(text))),
    }
}

/// `abc*` (literals, then one trailing run) as its prefix.
fn prefix_of(pieces: &[Piece]) -> Option<String> {
    let (last, literals) = pieces.split_last()?;
    let mut prefix = String::new();
    for piece in literals {
        let Piece::Literal(c) = piece else {
            return None;
        };
        prefix.push(*c);
    }
    (*last == Piece::AnyRun && !prefix.is_empty()).then_some(prefix)
}

/// Pieces in `TextQuery::Wildcard` syntax (`*`, `?`, `\` escapes).
fn wildcard_pattern(pieces: &[Piece]) -> String {
    render_pattern(pieces, ('*', '?'))
}

/// Pieces in `TextQuery::Like` syntax (`%`, `_`, `\` escapes).
fn like_pattern(pieces: &[Piece]) -> String {
    render_pattern(pieces, ('%', '_'))
}

fn render_pattern(pieces: &[Piece], (run, one): (char, char)) -> String {
    let mut pattern = String::new();
    for piece in pieces {
        match piece {
            Piece::AnyRun => pattern.push(run),
            Piece::AnyOne => pattern.push(one),
            Piece::Literal(c) => {
                if *c == run || *c == one || *c == '\\' {
                    pattern.push('\\');
                }
                pattern.push(*c);
            }
        }
    }
    pattern
}
