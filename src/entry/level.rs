//! Log levels, normalised to six values plus "unset".
//!
//! Levels arrive in many spellings (`WARNING`, `err`, `Critical`, syslog
//! numbers). We store one byte per entry so level filters are a byte compare
//! and the level column compresses to almost nothing.

/// A normalised log level. The discriminant is the stored byte; never reorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// No level was given (or it was not recognised; the original text is kept).
    Unset = 0,
    Trace = 1,
    Debug = 2,
    Info = 3,
    Warn = 4,
    Error = 5,
    Fatal = 6,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::Unset,
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// Parses any common spelling, case-insensitively. `None` when the text is
    /// not a level we know; the caller decides whether to keep the raw text.
    pub fn parse(text: &str) -> Option<Level> {
        let text = text.trim();
        if text.len() > 11 {
            return None;
        }
        let mut lower = [0u8; 11];
        for (dst, src) in lower.iter_mut().zip(text.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        let level = match &lower[..text.len()] {
            b"trace" | b"trc" | b"verbose" => Level::Trace,
            b"debug" | b"dbg" | b"7" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"6" | b"5" => {
                Level::Info
            }
            b"warn" | b"warning" | b"wrn" | b"4" => Level::Warn,
            b"error" | b"err" | b"eror" | b"3" => Level::Error,
            b"fatal" | b"critical" | b"crit" | b"panic" | b"emerg" | b"emergency" | b"alert"
            | b"2" | b"1" | b"0" => Level::Fatal,
            _ => return None,
        };
        Some(level)
    }

    pub fn from_byte(byte: u8) -> Level {
        Level::ALL
            .get(byte as usize)
            .copied()
            .unwrap_or(Level::Unset)
    }

    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// The canonical lowercase name; empty for `Unset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unset => "",
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_normalise() {
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("Err"), Some(Level::Error));
        assert_eq!(Level::parse(" info "), Some(Level::Info));
        assert_eq!(Level::parse("critical"), Some(Level::Fatal));
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level::parse("averyveryverylongword"), None);
    }

    #[test]
    fn bytes_round_trip() {
        for level in Level::ALL {
            assert_eq!(Level::from_byte(level.as_byte()), level);
        }
        assert_eq!(Level::from_byte(200), Level::Unset);
    }
}
