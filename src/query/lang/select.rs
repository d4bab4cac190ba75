//! The select list, `GROUP BY`, `ORDER BY`, and the checks that make an
//! aggregate query well-formed before the engine sees it.
//!
//! Rules (checked in `validate`):
//! - A query is an aggregate query when it has `GROUP BY` or an aggregate
//!   in its select list. It then returns one row per group; without
//!   `GROUP BY` there is one group of every matching entry.
//! - In an aggregate query every selected field or bucket is a group key,
//!   `SELECT *` is refused, and every `ORDER BY` key is a group key or an
//!   aggregate of the select list. `GROUP BY` with no aggregate is allowed
//!   (the distinct groups).
//! - An entry query orders by `timestamp` only (the engine's scan order);
//!   its select items are a projection of plain fields.
//! - In `GROUP BY` and `ORDER BY` a lone name that is a select alias means
//!   that item (case-sensitive). Aliases may not be built-in field names, so
//!   `ORDER BY source` can never be read two ways.

use super::ast::{
    Aggregate, Bucket, Field, GroupKey, OrderKey, Select, SelectExpr, SelectItem, Statement,
};
use super::error::{ParseError, Result};
use super::interval::parse_interval;
use super::lexer::{Punct, Tok};
use super::parser::{is_reserved, Parser};

impl Parser<'_> {
    /// `*` or items; also returns each item's starting character index.
    pub fn parse_select_list(&mut self) -> Result<(Select, Vec<usize>)> {
        let star = self.peek().start;
        if self.eat_punct(Punct::Star) {
            return Ok((Select::All, vec![star]));
        }
        let mut items = Vec::new();
        let mut columns = Vec::new();
        let mut expected = "a field, an aggregate or * after SELECT";
        loop {
            columns.push(self.peek().start);
            let expr = self.parse_select_expr(expected)?;
            let alias = if self.eat_keyword("AS") {
                Some(self.parse_alias()?)
            } else {
                None
            };
            items.push(SelectItem { expr, alias });
            if !self.eat_punct(Punct::Comma) {
                return Ok((Select::Items(items), columns));
            }
            expected = "a field or an aggregate after ','";
        }
    }

    /// A field, an aggregate call or `bucket(timestamp, 'width')`.
    fn parse_select_expr(&mut self, expected: &str) -> Result<SelectExpr> {
        let token = self.peek().clone();
        let Tok::Word(word) = &token.tok else {
            return Ok(SelectExpr::Field(self.parse_field(expected)?.0));
        };
        if is_reserved(word) || self.peek_second().tok != Tok::Punct(Punct::LParen) {
            return Ok(SelectExpr::Field(self.parse_field(expected)?.0));
        }
        let name = word.to_ascii_lowercase();
        let make: fn(Field) -> Aggregate = match name.as_str() {
            "count" => return self.parse_count().map(SelectExpr::Aggregate),
            "bucket" => return self.parse_bucket().map(SelectExpr::Bucket),
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "avg" => Aggregate::Avg,
            "sum" => Aggregate::Sum,
            _ => {
                return Err(ParseError::at(
                    token.start,
                    format!(
                        "unknown function \"{word}\"; expected count, min, max, avg, sum or bucket"
                    ),
                ))
            }
        };
        self.advance();
        self.advance();
        let (field, start) = self.parse_field(&format!("a field after {name}("))?;
        let times_allowed = matches!(name.as_str(), "min" | "max");
        let numeric = field.is_dynamic() || (times_allowed && field == Field::Timestamp);
        if !numeric {
            let or_timestamp = if times_allowed {
                ", tags.<key> or timestamp"
            } else {
                " or tags.<key>"
            };
            return Err(ParseError::at(
                start,
                format!("{name}() needs numbers and {field} holds none; expected fields.<key>{or_timestamp}"),
            ));
        }
        self.expect_punct(Punct::RParen, &format!("')' to close {name}("))?;
        Ok(SelectExpr::Aggregate(make(field)))
    }

    /// `count(*)`, `count(field)`, `count(DISTINCT field)`.
    fn parse_count(&mut self) -> Result<Aggregate> {
        self.advance();
        self.advance();
        let aggregate = if self.eat_punct(Punct::Star) {
            Aggregate::CountAll
        } else if self.eat_keyword("DISTINCT") {
            Aggregate::CountDistinct(self.parse_field("a field after DISTINCT")?.0)
        } else {
            Aggregate::Count(self.parse_field("*, DISTINCT or a field after count(")?.0)
        };
        self.expect_punct(Punct::RParen, "')' to close count(")?;
        Ok(aggregate)
    }

    /// `bucket(timestamp, '1m')` (`INTERVAL '1m'` is accepted too).
    fn parse_bucket(&mut self) -> Result<Bucket> {
        self.advance();
        self.advance();
        let (field, start) = self.parse_field("timestamp after bucket(")?;
        if field != Field::Timestamp {
            return Err(ParseError::at(
                start,
                format!("bucket() works on timestamp only; expected bucket(timestamp, '1m'), found {field}"),
            ));
        }
        self.expect_punct(
            Punct::Comma,
            "',' and a width after bucket(timestamp, as in bucket(timestamp, '1m')",
        )?;
        self.eat_keyword("INTERVAL");
        let text = self.peek().clone();
        let Tok::Str(width) = &text.tok else {
            return Err(self.error_expected("a 'quoted' width such as '1m' or '1h'"));
        };
        let width_ns = parse_interval(width)
            .map_err(|(offset, message)| ParseError::at(text.start + 1 + offset, message))?;
        if width_ns == 0 {
            return Err(ParseError::at(
                text.start,
                "a bucket width must be at least 1ms; expected a width such as '1m' or '1h'",
            ));
        }
        self.advance();
        self.expect_punct(Punct::RParen, "')' to close bucket(")?;
        Ok(Bucket { width_ns })
    }

    fn parse_alias(&mut self) -> Result<String> {
        let token = self.peek().clone();
        let alias = match &token.tok {
            Tok::Word(word) if !is_reserved(word) => word.clone(),
            Tok::QuotedName(name) => name.clone(),
            _ => return Err(self.error_expected("a name after AS")),
        };
        if Field::builtin(&alias).is_some() {
            return Err(ParseError::at(
                token.start,
                format!("alias \"{alias}\" is the name of a field; expected another name"),
            ));
        }
        self.advance();
        Ok(alias)
    }

    pub fn parse_group_by(&mut self, select: &Select) -> Result<Vec<GroupKey>> {
        let mut keys = Vec::new();
        loop {
            let start = self.peek().start;
            let key = match self.parse_key(select, "a field or bucket(timestamp, '...') after GROUP BY")? {
                SelectExpr::Field(field) => GroupKey::Field(field),
                SelectExpr::Bucket(bucket) => GroupKey::Bucket(bucket),
                SelectExpr::Aggregate(aggregate) => {
                    return Err(ParseError::at(
                        start,
                        format!("cannot group by the aggregate {aggregate}; expected a field or bucket(timestamp, '...')"),
                    ))
                }
            };
            keys.push(key);
            if !self.eat_punct(Punct::Comma) {
                return Ok(keys);
            }
        }
    }

    pub fn parse_order_by(&mut self, select: &Select) -> Result<(Vec<OrderKey>, Vec<usize>)> {
        let mut keys = Vec::new();
        let mut columns = Vec::new();
        loop {
            columns.push(self.peek().start);
            let expr =
                self.parse_key(select, "a field, an aggregate or an alias after ORDER BY")?;
            let descending = if self.eat_keyword("DESC") {
                true
            } else {
                self.eat_keyword("ASC");
                false
            };
            keys.push(OrderKey { expr, descending });
            if !self.eat_punct(Punct::Comma) {
                return Ok((keys, columns));
            }
        }
    }

    /// A select alias standing alone, else a select expression.
    fn parse_key(&mut self, select: &Select, expected: &str) -> Result<SelectExpr> {
        let name = match &self.peek().tok {
            Tok::Word(word) if !is_reserved(word) => Some(word.clone()),
            Tok::QuotedName(name) => Some(name.clone()),
            _ => None,
        };
        let stands_alone = !matches!(
            self.peek_second().tok,
            Tok::Punct(Punct::Dot | Punct::LParen | Punct::LBracket)
        );
        if let (Some(name), true, Select::Items(items)) = (name, stands_alone, select) {
            if let Some(item) = items
                .iter()
                .find(|item| item.alias.as_deref() == Some(name.as_str()))
            {
                self.advance();
                return Ok(item.expr.clone());
            }
        }
        self.parse_select_expr(expected)
    }

    /// The rules of the module comment. Columns point at the offending item.
    pub fn validate(
        &self,
        statement: &Statement,
        item_columns: &[usize],
        order_columns: &[usize],
    ) -> Result<()> {
        let items: &[SelectItem] = match &statement.select {
            Select::All => &[],
            Select::Items(items) => items,
        };
        for (index, item) in items.iter().enumerate() {
            let Some(alias) = &item.alias else { continue };
            if items[..index]
                .iter()
                .any(|earlier| earlier.alias.as_ref() == Some(alias))
            {
                return Err(ParseError::at(
                    item_columns[index],
                    format!("alias \"{alias}\" is used twice; expected distinct names"),
                ));
            }
        }
        if statement.is_aggregate() {
            validate_aggregate(statement, items, item_columns, order_columns)
        } else {
            validate_entries(statement, items, item_columns, order_columns)
        }
    }
}

fn is_group_key(statement: &Statement, expr: &SelectExpr) -> bool {
    statement.group_by.iter().any(|key| match (key, expr) {
        (GroupKey::Field(key), SelectExpr::Field(field)) => key == field,
        (GroupKey::Bucket(key), SelectExpr::Bucket(bucket)) => key == bucket,
        _ => false,
    })
}

fn validate_aggregate(
    statement: &Statement,
    items: &[SelectItem],
    item_columns: &[usize],
    order_columns: &[usize],
) -> Result<()> {
    if statement.select == Select::All {
        return Err(ParseError::at(
            item_columns[0],
            "SELECT * cannot be combined with GROUP BY; expected group keys and aggregates, \
             as in SELECT level, count(*) ... GROUP BY level",
        ));
    }
    for (item, column) in items.iter().zip(item_columns) {
        if !matches!(item.expr, SelectExpr::Aggregate(_)) && !is_group_key(statement, &item.expr) {
            let expr = &item.expr;
            return Err(ParseError::at(
                *column,
                format!("{expr} is neither grouped nor aggregated; expected GROUP BY {expr} or an aggregate of it"),
            ));
        }
    }
    for (key, column) in statement.order_by.iter().zip(order_columns) {
        let listed = match &key.expr {
            SelectExpr::Aggregate(_) => items.iter().any(|item| item.expr == key.expr),
            other => is_group_key(statement, other),
        };
        if !listed {
            return Err(ParseError::at(
                *column,
                format!(
                    "cannot order groups by {}; expected a group key or an aggregate of the SELECT list",
                    key.expr
                ),
            ));
        }
    }
    Ok(())
}

fn validate_entries(
    statement: &Statement,
    items: &[SelectItem],
    item_columns: &[usize],
    order_columns: &[usize],
) -> Result<()> {
    for (item, column) in items.iter().zip(item_columns) {
        if let SelectExpr::Bucket(_) = item.expr {
            return Err(ParseError::at(
                *column,
                format!("{} needs GROUP BY {}", item.expr, item.expr),
            ));
        }
    }
    for (key, column) in statement.order_by.iter().zip(order_columns) {
        if key.expr != SelectExpr::Field(Field::Timestamp) {
            return Err(ParseError::at(
                *column,
                format!(
                    "entries can only be ordered by timestamp, not by {}; expected ORDER BY timestamp \
                     ASC or DESC (other orders need GROUP BY)",
                    key.expr
                ),
            ));
        }
    }
    Ok(())
}
