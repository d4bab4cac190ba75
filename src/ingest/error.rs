//! `IngestError`: why a request body was refused, and where.
//!
//! The HTTP layer sends `Display` to the client as the response text, so
//! every message is a sentence naming the place (NDJSON line, array entry,
//! JSON position) and the reason, in words a user can act on. `code()` is a
//! stable machine string for clients and metrics; never reword a code.
//!
//! Inside the parser, a problem found by our own serde visitors is a `Fault`:
//! the visitor stores it and returns a placeholder serde error, and the
//! driver, which knows the line or entry, turns the pair into an
//! `IngestError`. This keeps our precise reasons instead of serde's
//! "invalid type" wording.

use std::fmt;

/// Where in the body a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// An NDJSON line: `line` is 1-based over the whole body; `column` is
    /// serde_json's 1-based byte column in that line, for syntax errors.
    Line { line: usize, column: Option<usize> },
    /// An entry of a JSON body: `entry_index` is 0-based (a body holding one
    /// object is entry 0); `position` is serde_json's (line, column) in the
    /// body, for syntax errors.
    Entry {
        entry_index: usize,
        position: Option<(usize, usize)>,
    },
    /// A JSON body outside any entry (before the first, after the last).
    Body { line: usize, column: usize },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Location::Line { line, column: None } => write!(f, "line {line}"),
            Location::Line {
                line,
                column: Some(column),
            } => write!(f, "line {line}, column {column}"),
            Location::Entry {
                entry_index,
                position: None,
            } => write!(f, "entry {entry_index}"),
            Location::Entry {
                entry_index,
                position: Some((line, column)),
            } => {
                write!(f, "entry {entry_index} (line {line}, column {column})")
            }
            Location::Body { line, column } => write!(f, "line {line}, column {column}"),
        }
    }
}

/// Why a request body was refused. Nothing of the body was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("the request body holds no log entries")]
    EmptyBody,
    #[error("the request body holds more than {entry_count_max} log entries; split it into several requests")]
    TooManyEntries { entry_count_max: usize },
    #[error("{at}: invalid JSON: {reason}")]
    InvalidJson { at: Location, reason: String },
    #[error("{at}: expected a JSON object (one log entry), got {got}")]
    NotAnObject { at: Location, got: String },
    #[error("{at}: missing field \"{field}\"")]
    MissingField { at: Location, field: &'static str },
    #[error("{at}: field \"{field}\": {reason}")]
    InvalidField {
        at: Location,
        field: String,
        reason: String,
    },
    #[error("{at}: {what} has {size} {unit}, over the limit of {limit}")]
    LimitExceeded {
        at: Location,
        what: String,
        size: usize,
        limit: usize,
        unit: &'static str,
    },
}

pub type Result<T> = std::result::Result<T, IngestError>;

impl IngestError {
    /// A stable machine-readable code for clients, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::EmptyBody => "empty_body",
            IngestError::TooManyEntries { .. } => "too_many_entries",
            IngestError::InvalidJson { .. } => "invalid_json",
            IngestError::NotAnObject { .. } => "not_an_object",
            IngestError::MissingField { .. } => "missing_field",
            IngestError::InvalidField { .. } => "invalid_field",
            IngestError::LimitExceeded { .. } => "limit_exceeded",
        }
    }

    pub fn location(&self) -> Option<Location> {
        match self {
            IngestError::EmptyBody | IngestError::TooManyEntries { .. } => None,
            IngestError::InvalidJson { at, .. }
            | IngestError::NotAnObject { at, .. }
            | IngestError::MissingField { at, .. }
            | IngestError::InvalidField { at, .. }
            | IngestError::LimitExceeded { at, .. } => Some(*at),
        }
    }

    /// The 1-based line: the NDJSON line, or serde_json's line in a JSON
    /// body when it reported one.
    pub fn line(&self) -> Option<usize> {
        match self.location()? {
            Location::Line { line, .. } | Location::Body { line, .. } => Some(line),
            Location::Entry { position, .. } => position.map(|(line, _)| line),
        }
    }

    /// The 1-based column serde_json reported, for syntax errors.
    pub fn column(&self) -> Option<usize> {
        match self.location()? {
            Location::Line { column, .. } => column,
            Location::Body { column, .. } => Some(column),
            Location::Entry { position, .. } => position.map(|(_, column)| column),
        }
    }

    /// The 0-based entry index in a JSON body.
    pub fn entry_index(&self) -> Option<usize> {
        match self.location()? {
            Location::Entry { entry_index, .. } => Some(entry_index),
            Location::Line { .. } | Location::Body { .. } => None,
        }
    }
}

/// A problem found by the entry decoder, before it knows its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    NotAnObject {
        got: String,
    },
    MissingField {
        field: &'static str,
    },
    InvalidField {
        field: String,
        reason: String,
    },
    LimitExceeded {
        what: String,
        size: usize,
        limit: usize,
        unit: &'static str,
    },
    TooManyEntries {
        entry_count_max: usize,
    },
}

impl Fault {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Fault {
        Fault::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn at(self, at: Location) -> IngestError {
        match self {
            Fault::NotAnObject { got } => IngestError::NotAnObject { at, got },
            Fault::MissingField { field } => IngestError::MissingField { at, field },
            Fault::InvalidField { field, reason } => {
                IngestError::InvalidField { at, field, reason }
            }
            Fault::LimitExceeded {
                what,
                size,
                limit,
                unit,
            } => IngestError::LimitExceeded {
                at,
                what,
                size,
                limit,
                unit,
            },
            Fault::TooManyEntries { entry_count_max } => {
                IngestError::TooManyEntries { entry_count_max }
            }
        }
    }
}

/// serde_json's message without its " at line L column C" suffix, which
/// `Location` already says.
pub(crate) fn serde_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(reason) => reason.to_string(),
        None => text,
    }
}
