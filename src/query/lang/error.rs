//! The one error the query language front end returns.
//!
//! Every message says what was wrong and what was expected instead, in words
//! a user can act on; the column lets a UI put a caret under the mistake.

/// A query text that cannot be parsed (or names something that does not
/// exist, such as an unknown level or a malformed regular expression).
///
/// Displays as `column 37: expected a value after '=', found end of query`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based position of the offending character, counted in Unicode
    /// characters (not bytes) from the start of the whole `q` text. One past
    /// the last character means "at the end of the query".
    pub column: usize,
    /// What was wrong, ending with what was expected.
    pub message: String,
}

impl ParseError {
    /// An error at a 0-based character index; `column` is 1-based.
    pub fn at(char_index: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            column: char_index + 1,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ParseError>;
