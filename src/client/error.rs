//! Why a client command failed, as the one line it prints and the exit status it returns.
//!
//! Exit statuses (docs/CLI.md): 0 success; 1 the server refused the request or answered
//! something the client cannot use; 2 the command line is wrong; 3 the server cannot be
//! reached, or the connection broke. Scripts can tell "fix the query" (1), "fix the
//! command" (2) and "retry later" (3) apart.

/// Result alias for the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Exit status of success, also when the reader of the output stopped reading early.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit status of a command line that cannot be used (clap's convention, as the server's).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the server answered with an error or could not be understood.
pub const EXIT_SERVER_ERROR: u8 = 1;
/// Exit status when the server could not be reached or the connection broke.
pub const EXIT_UNREACHABLE: u8 = 3;

/// A failed client command. `Display` is the sentence printed after `timberdb: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error status; `code` is its `error.code` when it sent one.
    #[error("{message} (HTTP {status}{})", code.as_deref().map(|code| format!(", {code}")).unwrap_or_default())]
    Server {
        status: u16,
        code: Option<String>,
        message: String,
    },

    /// No connection could be made to the server.
    #[error("cannot reach the TimberDB server at {url}: {reason} (is it running? the address comes from --server or TIMBERDB_SERVER)")]
    Unreachable { url: String, reason: String },

    /// The connection broke while the answer was being read.
    #[error("the connection to the TimberDB server at {url} broke: {reason}")]
    ConnectionLost { url: String, reason: String },

    /// The server ended a stream that should have gone on (a tail).
    #[error("the TimberDB server at {url} ended the stream{reason}")]
    StreamEnded { url: String, reason: String },

    /// A 2xx answer that is not what the API documents (another program on that port?).
    #[error("unexpected answer from {url}: {reason}")]
    BadAnswer { url: String, reason: String },

    /// The command line names something that cannot work (a bad URL, a missing --yes).
    #[error("{0}")]
    Usage(String),

    /// The server sent an error line inside a stream it had started with 200.
    #[error("{message} ({code}, sent by the server in the middle of the stream)")]
    StreamFailed { code: String, message: String },

    /// The person at the terminal answered no to a confirmation.
    #[error("{0}")]
    Declined(String),

    /// Writing the output failed (other than the reader going away, which is not an error).
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),

    /// The reader of the output went away (`timberdb query | head`): stop, successfully.
    #[error("the output was closed")]
    OutputClosed,
}

impl ClientError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) => EXIT_USAGE,
            ClientError::Unreachable { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::StreamEnded { .. } => EXIT_UNREACHABLE,
            ClientError::Server { .. }
            | ClientError::BadAnswer { .. }
            | ClientError::StreamFailed { .. }
            | ClientError::Declined(_)
            | ClientError::Output(_) => EXIT_SERVER_ERROR,
            ClientError::OutputClosed => EXIT_SUCCESS,
        }
    }

    /// The server's answer to an error status: its `{"error": {"code", "message"}}` body when
    /// it has one, else the start of the body, else the status alone.
    pub fn from_error_answer(status: u16, body: &str) -> ClientError {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: ErrorDetail,
        }
        #[derive(serde::Deserialize)]
        struct ErrorDetail {
            code: Option<String>,
            message: Option<String>,
        }
        if let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(body) {
            if let Some(message) = error.message {
                return ClientError::Server {
                    status,
                    code: error.code,
                    message,
                };
            }
        }
        let text: String = body.trim().chars().take(ERROR_TEXT_CHARS_MAX).collect();
        let message = if text.is_empty() {
            "the server refused the request".to_string()
        } else {
            text
        };
        ClientError::Server {
            status,
            code: None,
            message,
        }
    }
}

/// Characters of a non-JSON error body quoted in the message (a proxy's HTML page can be long).
const ERROR_TEXT_CHARS_MAX: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_names_message_status_and_code() {
        let body = r#"{"error":{"code":"partition_not_found","message":"no partition has the id or name \"nope\""}}"#;
        let error = ClientError::from_error_answer(404, body);
        assert_eq!(
            error.to_string(),
            r#"no partition has the id or name "nope" (HTTP 404, partition_not_found)"#
        );
        assert_eq!(error.exit_code(), EXIT_SERVER_ERROR);
    }

    #[test]
    fn a_body_that_is_not_the_error_shape_is_quoted() {
        let error = ClientError::from_error_answer(502, "<html>Bad Gateway</html>\n");
        assert_eq!(error.to_string(), "<html>Bad Gateway</html> (HTTP 502)");
        let error = ClientError::from_error_answer(500, "");
        assert_eq!(
            error.to_string(),
            "the server refused the request (HTTP 500)"
        );
    }

    #[test]
    fn exit_codes_tell_retry_from_fix() {
        let unreachable = ClientError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code(), EXIT_UNREACHABLE);
        assert_eq!(ClientError::Usage("x".into()).exit_code(), EXIT_USAGE);
    }
}
