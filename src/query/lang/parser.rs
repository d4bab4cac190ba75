//! The SQL form's recursive-descent parser: token helpers, the statement
//! skeleton and `FROM`. Expressions are in `expr.rs`, the select list,
//! `GROUP BY` and `ORDER BY` in `select.rs`; all are `impl Parser` blocks.

use super::ast::Statement;
use super::error::{ParseError, Result};
use super::lexer::{tokenize, Punct, Tok, Token};
use crate::storage::catalog::PARTITION_NAME_BYTES_MAX;

/// Words that structure a statement. They cannot be bare names (write
/// `tags.order` or `"order"`), except right after a `.`.
pub(super) const RESERVED: [&str; 26] = [
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "LIMIT", "OFFSET", "AS", "AND", "OR", "NOT",
    "IN", "LIKE", "IS", "NULL", "CONTAINS", "MATCHES", "STARTS", "WITH", "INTERVAL", "TRUE",
    "FALSE", "DISTINCT", "ASC", "DESC",
];

/// How deep parentheses and NOTs may nest. Recursive descent uses the
/// stack per level (a few hundred bytes); this keeps a hostile query far
/// from a stack overflow, and no real filter nests this deep.
pub const NESTING_DEPTH_MAX: usize = 64;

pub(super) fn is_reserved(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(word))
}

pub(super) struct Parser<'a> {
    chars: &'a [char],
    tokens: Vec<Token>,
    /// Index of the next token; the last token is always `End`.
    position: usize,
    /// What `now()` means, in ns since the epoch.
    pub(super) now_ns: i64,
    depth: usize,
}

/// The clauses in the order a statement takes them, for "what may come
/// next" in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Clause {
    Select,
    From,
    Where,
    GroupBy,
    OrderBy,
    Paging,
}

impl<'a> Parser<'a> {
    pub fn new(chars: &'a [char], now_ns: i64) -> Result<Parser<'a>> {
        Ok(Parser {
            chars,
            tokens: tokenize(chars)?,
            position: 0,
            now_ns,
            depth: 0,
        })
    }

    pub fn peek(&self) -> &Token {
        &self.tokens[self.position]
    }

    /// The token after the next one (`End` at the end).
    pub fn peek_second(&self) -> &Token {
        &self.tokens[(self.position + 1).min(self.tokens.len() - 1)]
    }

    pub fn advance(&mut self) -> Token {
        let token = self.tokens[self.position].clone();
        if self.position + 1 < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    pub fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_keyword(keyword)
    }

    pub fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    pub fn expect_keyword(&mut self, keyword: &str, expected: &str) -> Result<Token> {
        if self.at_keyword(keyword) {
            Ok(self.advance())
        } else {
            Err(self.error_expected(expected))
        }
    }

    pub fn at_punct(&self, punct: Punct) -> bool {
        self.peek().tok == Tok::Punct(punct)
    }

    pub fn eat_punct(&mut self, punct: Punct) -> bool {
        let found = self.at_punct(punct);
        if found {
            self.advance();
        }
        found
    }

    pub fn expect_punct(&mut self, punct: Punct, expected: &str) -> Result<Token> {
        if self.at_punct(punct) {
            Ok(self.advance())
        } else {
            Err(self.error_expected(expected))
        }
    }

    /// "expected X, found Y" at the next token.
    pub fn error_expected(&self, expected: &str) -> ParseError {
        let found = self.peek();
        ParseError::at(
            found.start,
            format!("expected {expected}, found {}", found.describe()),
        )
    }

    /// Called on entering a nested expression; `leave` on the way out.
    pub fn enter(&mut self, at: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(ParseError::at(
                at,
                format!("expressions nest more than {NESTING_DEPTH_MAX} levels deep; expected a flatter query"),
            ));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `SELECT ... [FROM] [WHERE] [GROUP BY] [ORDER BY] [LIMIT] [OFFSET] [;]`
    pub fn parse_statement(&mut self) -> Result<Statement> {
        self.expect_keyword("SELECT", "SELECT")?;
        let (select, item_columns) = self.parse_select_list()?;
        let mut last = Clause::Select;
        let mut statement = Statement {
            select,
            from: Vec::new(),
            filter: None,
            group_by: Vec::new(),
            order_by: Vec::new(),
            limit: None,
            offset: None,
        };
        if self.eat_keyword("FROM") {
            statement.from = self.parse_from()?;
            last = Clause::From;
        }
        if self.eat_keyword("WHERE") {
            statement.filter = Some(self.parse_expr()?);
            last = Clause::Where;
        }
        if self.at_keyword("GROUP") {
            self.advance();
            self.expect_keyword("BY", "BY after GROUP")?;
            statement.group_by = self.parse_group_by(&statement.select)?;
            last = Clause::GroupBy;
        }
        let mut order_columns = Vec::new();
        if self.at_keyword("ORDER") {
            self.advance();
            self.expect_keyword("BY", "BY after ORDER")?;
            (statement.order_by, order_columns) = self.parse_order_by(&statement.select)?;
            last = Clause::OrderBy;
        }
        self.parse_paging(&mut statement, &mut last)?;
        self.eat_punct(Punct::Semicolon);
        if self.peek().tok != Tok::End {
            return Err(self.error_expected(&end_expected(last, &statement)));
        }
        self.validate(&statement, &item_columns, &order_columns)?;
        Ok(statement)
    }

    /// `LIMIT n` and `OFFSET n`, in either order, each at most once.
    fn parse_paging(&mut self, statement: &mut Statement, last: &mut Clause) -> Result<()> {
        loop {
            if statement.limit.is_none() && self.eat_keyword("LIMIT") {
                statement.limit = Some(self.whole_number("LIMIT")?);
            } else if statement.offset.is_none() && self.eat_keyword("OFFSET") {
                statement.offset = Some(self.whole_number("OFFSET")?);
            } else {
                return Ok(());
            }
            *last = Clause::Paging;
        }
    }

    fn whole_number(&mut self, after: &str) -> Result<u64> {
        let token = self.peek().clone();
        let expected = format!("a whole number (0 or more) after {after}");
        let Tok::Number(digits) = &token.tok else {
            return Err(self.error_expected(&expected));
        };
        if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(self.error_expected(&expected));
        }
        let number = digits.parse::<u64>().map_err(|_| {
            ParseError::at(
                token.start,
                format!("{after} {digits} is too large; at most {}", u64::MAX),
            )
        })?;
        self.advance();
        Ok(number)
    }

    /// `*` or one or more partition names (empty = every partition).
    fn parse_from(&mut self) -> Result<Vec<String>> {
        let all_alone = "'*' stands for every partition and cannot be listed with others; \
                         expected either * or partition names";
        if self.at_punct(Punct::Star) {
            self.advance();
            if self.at_punct(Punct::Comma) {
                return Err(ParseError::at(self.peek().start, all_alone));
            }
            return Ok(Vec::new());
        }
        let mut names = vec![self.partition_name("a partition name or * after FROM")?];
        while self.eat_punct(Punct::Comma) {
            if self.at_punct(Punct::Star) {
                return Err(ParseError::at(self.peek().start, all_alone));
            }
            names.push(self.partition_name("a partition name after ','")?);
        }
        Ok(names)
    }

    /// A quoted name, or the unquoted run of adjacent words, numbers, `-`
    /// and `.` (so `web-logs.2024` needs no quotes), re-read from the text.
    fn partition_name(&mut self, expected: &str) -> Result<String> {
        let first = self.peek().clone();
        let name = match &first.tok {
            Tok::QuotedName(name) | Tok::Str(name) => {
                self.advance();
                name.clone()
            }
            Tok::Word(word)
                if is_reserved(word) && !continues_name(self.peek_second(), first.end) =>
            {
                return Err(self.error_expected(expected))
            }
            tok if is_name_part(tok) => {
                let mut end = self.advance().end;
                while continues_name(self.peek(), end) {
                    end = self.advance().end;
                }
                self.chars[first.start..end].iter().collect()
            }
            _ => return Err(self.error_expected(expected)),
        };
        check_partition_name(&name).map_err(|message| ParseError::at(first.start, message))?;
        Ok(name)
    }
}

/// Whether `next` touches the name ending at `previous_end` and can extend
/// it: no space in between.
fn continues_name(next: &Token, previous_end: usize) -> bool {
    next.start == previous_end && is_name_part(&next.tok)
}

fn is_name_part(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Word(_) | Tok::Number(_) | Tok::Punct(Punct::Minus | Punct::Dot)
    )
}

/// The catalog's character rule (ids pass it too: a query may name a
/// partition by id). Whether the partition exists is the caller's check.
pub(super) fn check_partition_name(name: &str) -> std::result::Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !name.chars().all(allowed) {
        return Err(format!(
            "partition name \"{name}\" may only contain A-Z, a-z, 0-9, '_', '-' and '.'"
        ));
    }
    if name.is_empty() || name.len() > PARTITION_NAME_BYTES_MAX {
        return Err(format!(
            "partition name \"{name}\" must be 1 to {PARTITION_NAME_BYTES_MAX} bytes long"
        ));
    }
    Ok(())
}

/// What may follow the last clause parsed, for the trailing-garbage error.
fn end_expected(last: Clause, statement: &Statement) -> String {
    let mut expected: Vec<&str> = Vec::new();
    match last {
        Clause::Select | Clause::From | Clause::GroupBy | Clause::OrderBy => expected.push("','"),
        Clause::Where => expected.extend(["AND", "OR"]),
        Clause::Paging => {}
    }
    let clauses = [
        (Clause::From, "FROM"),
        (Clause::Where, "WHERE"),
        (Clause::GroupBy, "GROUP BY"),
        (Clause::OrderBy, "ORDER BY"),
    ];
    expected.extend(
        clauses
            .iter()
            .filter(|(clause, _)| *clause > last)
            .map(|(_, name)| *name),
    );
    if statement.limit.is_none() {
        expected.push("LIMIT");
    }
    if statement.offset.is_none() {
        expected.push("OFFSET");
    }
    expected.push("end of query");
    let (tail, head) = expected.split_last().expect("end of query is always there");
    if head.is_empty() {
        return tail.to_string();
    }
    format!("{} or {tail}", head.join(", "))
}
