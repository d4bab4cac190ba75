//! `WHERE` conditions of the SQL form: `OR` over `AND` over `NOT` over
//! predicates, fields, and literals typed for the field they meet.

use super::ast::{CmpOp, Expr, Field, Value};
use super::error::{ParseError, Result};
use super::interval::parse_interval;
use super::lexer::{Punct, Tok, Token};
use super::parser::{is_reserved, Parser};
use super::search::parse_search;
use super::text::TextQuery;
use super::values::{
    check_text, escape_like, level_value, timestamp_from_float, timestamp_from_int,
    timestamp_from_text,
};

/// Most values in one `IN (...)` list; each costs a comparison per entry.
pub const IN_VALUES_MAX: usize = 1024;

/// A literal before it is typed for its field.
#[derive(Debug, Clone)]
enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `now()` with an optional interval, resolved.
    Time(i64),
}

impl Parser<'_> {
    /// A whole condition: `a OR b`, `a AND b`, `NOT a`, `(a)`, predicates.
    /// `context` completes "expected a condition ..." ("after WHERE").
    pub fn parse_expr(&mut self) -> Result<Expr> {
        self.parse_or("after WHERE")
    }

    fn parse_or(&mut self, context: &str) -> Result<Expr> {
        let mut children = vec![self.parse_and(context)?];
        while self.eat_keyword("OR") {
            children.push(self.parse_and("after OR")?);
        }
        Ok(Expr::or(children))
    }

    fn parse_and(&mut self, context: &str) -> Result<Expr> {
        let mut children = vec![self.parse_not(context)?];
        while self.eat_keyword("AND") {
            children.push(self.parse_not("after AND")?);
        }
        Ok(Expr::and(children))
    }

    fn parse_not(&mut self, context: &str) -> Result<Expr> {
        if !self.at_keyword("NOT") {
            return self.parse_primary(context);
        }
        let not = self.advance();
        self.enter(not.start)?;
        let inner = self.parse_not("after NOT")?;
        self.leave();
        Ok(Expr::Not(Box::new(inner)))
    }

    fn parse_primary(&mut self, context: &str) -> Result<Expr> {
        let token = self.peek().clone();
        match &token.tok {
            Tok::Punct(Punct::LParen) => {
                self.advance();
                self.enter(token.start)?;
                let inner = self.parse_or("after '('")?;
                let close = format!("')' to close the '(' at column {}", token.start + 1);
                self.expect_punct(Punct::RParen, &close)?;
                self.leave();
                Ok(inner)
            }
            Tok::Word(word) if word.eq_ignore_ascii_case("TRUE") => {
                self.advance();
                Ok(Expr::True)
            }
            Tok::Word(word)
                if !is_reserved(word) && self.peek_second().tok == Tok::Punct(Punct::LParen) =>
            {
                self.parse_condition_function(&token, word)
            }
            _ => self.parse_predicate(context),
        }
    }

    /// `SEARCH('...')`, `EXISTS(field)`, and helpful refusals for the
    /// functions that belong elsewhere.
    fn parse_condition_function(&mut self, name: &Token, word: &str) -> Result<Expr> {
        let lower = word.to_ascii_lowercase();
        let refusal = match lower.as_str() {
            "search" | "exists" => None,
            "count" | "min" | "max" | "avg" | "sum" => Some(format!(
                "aggregate {lower}() is not allowed in WHERE, which filters single entries; \
                 expected a condition such as level = 'error'"
            )),
            "bucket" => Some("bucket() is only allowed in SELECT and GROUP BY; expected a condition".to_string()),
            "now" => Some(
                "now() is a value; expected a condition such as timestamp > now() - interval '1 hour'"
                    .to_string(),
            ),
            _ => Some(format!("unknown function \"{word}\"; expected search or exists")),
        };
        if let Some(message) = refusal {
            return Err(ParseError::at(name.start, message));
        }
        self.advance();
        self.advance();
        let expr = if lower == "search" {
            let text = self.peek().clone();
            let Tok::Str(search) = &text.tok else {
                return Err(self.error_expected("a 'quoted' search after SEARCH("));
            };
            self.advance();
            // The search text starts one character after its quote.
            parse_search(search, text.start + 1)?
        } else {
            Expr::Exists(self.parse_field("a field name after EXISTS(")?.0)
        };
        self.expect_punct(Punct::RParen, &format!("')' to close {}(", word))?;
        Ok(expr)
    }

    /// `field <op> value`, `field [NOT] IN (...)`, `field [NOT] LIKE|CONTAINS|
    /// MATCHES|STARTS WITH 'text'`, `field IS [NOT] NULL`.
    fn parse_predicate(&mut self, context: &str) -> Result<Expr> {
        let (field, _) = self.parse_field(&format!("a condition {context}"))?;
        let token = self.peek().clone();
        if let Tok::Punct(punct) = token.tok {
            if let Some(op) = cmp_op(punct) {
                self.advance();
                let value =
                    self.parse_value(&field, &format!("a value after '{}'", punct.text()))?;
                return Ok(Expr::Compare { field, op, value });
            }
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword(
                "NULL",
                if negated {
                    "NULL after IS NOT"
                } else {
                    "NULL or NOT NULL after IS"
                },
            )?;
            let exists = Expr::Exists(field);
            return Ok(if negated {
                exists
            } else {
                Expr::Not(Box::new(exists))
            });
        }
        let negated = self.eat_keyword("NOT");
        let expr = if self.at_keyword("IN") {
            self.parse_in(field)?
        } else if ["LIKE", "CONTAINS", "MATCHES", "STARTS"]
            .iter()
            .any(|op| self.at_keyword(op))
        {
            self.parse_text_condition(field)?
        } else if negated {
            return Err(self.error_expected("IN, LIKE, CONTAINS, MATCHES or STARTS WITH after NOT"));
        } else {
            return Err(self.error_expected(&format!(
                "an operator after {field} (=, !=, <, <=, >, >=, IN, LIKE, CONTAINS, MATCHES, \
                 STARTS WITH or IS NULL)"
            )));
        };
        Ok(if negated {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    fn parse_in(&mut self, field: Field) -> Result<Expr> {
        self.advance();
        self.expect_punct(Punct::LParen, "'(' after IN")?;
        let mut values = vec![self.parse_value(&field, "a value after IN (")?];
        while self.eat_punct(Punct::Comma) {
            if values.len() == IN_VALUES_MAX {
                return Err(ParseError::at(
                    self.peek().start,
                    format!("IN lists may hold at most {IN_VALUES_MAX} values; expected ')'"),
                ));
            }
            values.push(self.parse_value(&field, "a value after ','")?);
        }
        self.expect_punct(Punct::RParen, "',' or ')' in the IN list")?;
        Ok(Expr::In { field, values })
    }

    fn parse_text_condition(&mut self, field: Field) -> Result<Expr> {
        let operator = self.advance();
        let Tok::Word(word) = &operator.tok else {
            unreachable!("called at a keyword")
        };
        let name = word.to_ascii_uppercase();
        if name == "STARTS" {
            self.expect_keyword("WITH", "WITH after STARTS")?;
        }
        let shown = if name == "STARTS" {
            "STARTS WITH"
        } else {
            name.as_str()
        };
        if !field.is_text() {
            return Err(ParseError::at(
                operator.start,
                format!(
                    "{shown} does not apply to {field}; compare it with =, !=, <, <=, >, >= or IN"
                ),
            ));
        }
        let text = self.peek().clone();
        let Tok::Str(literal) = &text.tok else {
            return Err(self.error_expected(&format!("a 'quoted' text after {shown}")));
        };
        self.advance();
        let query = match name.as_str() {
            "LIKE" => TextQuery::Like(literal.clone()),
            "CONTAINS" => TextQuery::Contains(literal.clone()),
            "MATCHES" => TextQuery::Regex(literal.clone()),
            _ => TextQuery::Like(format!("{}%", escape_like(literal))),
        };
        check_text(&query).map_err(|message| ParseError::at(text.start, message))?;
        Ok(Expr::Text { field, query })
    }

    /// A field name: `level`, `tags.x`, `tags."my key"`, `tags['my key']`,
    /// `fields.a.b`, or a bare name (a tag). Returns the field and the
    /// character index where it starts.
    pub fn parse_field(&mut self, expected: &str) -> Result<(Field, usize)> {
        let first = self.peek().clone();
        let (head, quoted) = match &first.tok {
            Tok::Word(word) if !is_reserved(word) => (word.clone(), false),
            Tok::QuotedName(name) => (name.clone(), true),
            _ => return Err(self.error_expected(expected)),
        };
        self.advance();
        let mut parts: Vec<String> = Vec::new();
        loop {
            if self.eat_punct(Punct::Dot) {
                match &self.peek().tok {
                    Tok::Word(part) | Tok::QuotedName(part) => parts.push(part.clone()),
                    _ => return Err(self.error_expected("a key after '.'")),
                }
                self.advance();
            } else if self.at_punct(Punct::LBracket) {
                self.advance();
                let key = self.peek().clone();
                match &key.tok {
                    Tok::Str(part) if !part.is_empty() => parts.push(part.clone()),
                    _ => return Err(self.error_expected("a non-empty 'quoted' key after '['")),
                }
                self.advance();
                self.expect_punct(Punct::RBracket, "']' after the key")?;
            } else {
                break;
            }
        }
        let prefixed =
            !quoted && (head.eq_ignore_ascii_case("tags") || head.eq_ignore_ascii_case("fields"));
        let field = match (prefixed, parts.is_empty()) {
            (true, true) => {
                let lower = head.to_ascii_lowercase();
                return Err(self.error_expected(&format!(
                    "a key after {head}, as in {lower}.component or {lower}['my key']"
                )));
            }
            (true, false) if head.eq_ignore_ascii_case("tags") => Field::Tag(parts.join(".")),
            (true, false) => Field::Field(parts.join(".")),
            (false, true) => Field::builtin(&head).unwrap_or(Field::Tag(head)),
            (false, false) => Field::Tag(format!("{head}.{}", parts.join("."))),
        };
        Ok((field, first.start))
    }

    /// A literal, typed for `field`.
    fn parse_value(&mut self, field: &Field, expected: &str) -> Result<Value> {
        let start = self.peek().start;
        let literal = self.parse_literal(expected)?;
        typed_value(field, literal).map_err(|message| ParseError::at(start, message))
    }

    fn parse_literal(&mut self, expected: &str) -> Result<Literal> {
        let token = self.peek().clone();
        let literal = match &token.tok {
            Tok::Str(text) => Literal::Str(text.clone()),
            Tok::Number(number) => number_literal(number, false, token.start)?,
            Tok::Punct(Punct::Minus) => {
                let Tok::Number(number) = &self.peek_second().tok else {
                    self.advance();
                    return Err(self.error_expected("a number after '-'"));
                };
                let literal = number_literal(number, true, token.start)?;
                self.advance();
                literal
            }
            Tok::Word(word) if word.eq_ignore_ascii_case("TRUE") => Literal::Bool(true),
            Tok::Word(word) if word.eq_ignore_ascii_case("FALSE") => Literal::Bool(false),
            Tok::Word(word) if word.eq_ignore_ascii_case("NULL") => {
                return Err(ParseError::at(
                    token.start,
                    "NULL is not a value to compare with; expected IS NULL or IS NOT NULL",
                ))
            }
            Tok::Word(word) if word.eq_ignore_ascii_case("INTERVAL") => {
                return Err(ParseError::at(
                    token.start,
                    "an interval alone is not a time; expected now() - interval '...'",
                ))
            }
            Tok::Word(word)
                if word.eq_ignore_ascii_case("now")
                    && self.peek_second().tok == Tok::Punct(Punct::LParen) =>
            {
                return self.parse_now().map(Literal::Time);
            }
            _ => return Err(self.error_expected(expected)),
        };
        self.advance();
        Ok(literal)
    }

    /// `now()`, optionally `+` or `-` `INTERVAL 'text'`.
    fn parse_now(&mut self) -> Result<i64> {
        let now = self.advance();
        self.advance();
        self.expect_punct(Punct::RParen, "')' after now(")?;
        let sign = match self.peek().tok {
            Tok::Punct(Punct::Plus) => 1,
            Tok::Punct(Punct::Minus) => -1,
            _ => return Ok(self.now_ns),
        };
        self.advance();
        self.expect_keyword(
            "INTERVAL",
            "INTERVAL after now() +/-, as in now() - interval '1 hour'",
        )?;
        let text = self.peek().clone();
        let Tok::Str(interval) = &text.tok else {
            return Err(self.error_expected("a 'quoted' interval such as '1 hour' after INTERVAL"));
        };
        self.advance();
        let nanos = parse_interval(interval)
            .map_err(|(offset, message)| ParseError::at(text.start + 1 + offset, message))?;
        self.now_ns.checked_add(sign * nanos).ok_or_else(|| {
            ParseError::at(
                now.start,
                "now() with this interval is outside the supported time range",
            )
        })
    }
}

fn cmp_op(punct: Punct) -> Option<CmpOp> {
    Some(match punct {
        Punct::Eq => CmpOp::Eq,
        Punct::Ne => CmpOp::Ne,
        Punct::Lt => CmpOp::Lt,
        Punct::Le => CmpOp::Le,
        Punct::Gt => CmpOp::Gt,
        Punct::Ge => CmpOp::Ge,
        _ => return None,
    })
}

fn number_literal(number: &str, negative: bool, start: usize) -> Result<Literal> {
    let signed = if negative {
        format!("-{number}")
    } else {
        number.to_string()
    };
    if number.bytes().all(|byte| byte.is_ascii_digit()) {
        return signed.parse::<i64>().map(Literal::Int).map_err(|_| {
            ParseError::at(
                start,
                format!(
                    "integer {signed} is out of range; expected {} to {}",
                    i64::MIN,
                    i64::MAX
                ),
            )
        });
    }
    match signed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Literal::Float(value)),
        _ => Err(ParseError::at(
            start,
            format!("number {signed} is out of range"),
        )),
    }
}

/// Types a literal for the field it is compared with; see `ast` for why
/// every `timestamp` value is `TimeNs` and every `level` value a `Level`.
fn typed_value(field: &Field, literal: Literal) -> std::result::Result<Value, String> {
    let time_only = "now() can only be compared with timestamp".to_string();
    match field {
        Field::Timestamp => Ok(Value::TimeNs(match literal {
            Literal::Str(text) => timestamp_from_text(&text)?,
            Literal::Int(value) => timestamp_from_int(value)?,
            Literal::Float(value) => timestamp_from_float(value)?,
            Literal::Time(nanos) => nanos,
            Literal::Bool(_) => {
                return Err(
                    "timestamp is compared with a time; expected '2024-03-15T00:00:00Z', \
                            a number since the epoch or now() - interval '1 hour'"
                        .into(),
                )
            }
        })),
        Field::Level => match literal {
            Literal::Str(text) => level_value(&text).map(Value::Level),
            Literal::Int(number) => level_value(&number.to_string()).map(Value::Level),
            Literal::Time(_) => Err(time_only),
            _ => {
                Err("level is compared with a level name; expected a value such as 'error'".into())
            }
        },
        Field::Source | Field::Message | Field::Id | Field::Partition => match literal {
            Literal::Str(text) => Ok(Value::Str(text)),
            Literal::Time(_) => Err(time_only),
            _ => Err(format!("{field} is text; expected a 'quoted string'")),
        },
        Field::Tag(_) | Field::Field(_) => match literal {
            Literal::Str(text) => Ok(Value::Str(text)),
            Literal::Int(value) => Ok(Value::Int(value)),
            Literal::Float(value) => Ok(Value::Float(value)),
            Literal::Bool(value) => Ok(Value::Bool(value)),
            Literal::Time(_) => Err(time_only),
        },
    }
}
