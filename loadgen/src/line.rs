//! One log line, independent of any wire protocol. The generator and the
//! replayer fill it; the protocol encoders read it. Its buffers are reused
//! from line to line, so filling one does not allocate once warmed up.
//!
//! Tags and fields are kept as spans into one `String` arena instead of a
//! `Vec<(String, String)>`: `clear` then only resets lengths, and a warmed-up
//! line holds three allocations (message, source, arena) plus two span
//! vectors, whatever the number of tags.
//!
//! The module also holds the JSON writing primitives every encoder shares
//! (`write_json_string`, `write_i64`, `write_f64`): they write bytes straight
//! into the request body, because going through `serde_json::Value` would
//! allocate per line and halve the encoder's throughput.

use std::fmt;
use std::io::Write as _;

/// Top-level keys TimberDB's ingest gives a meaning of their own (`msg` and
/// `ts` stand in for `message` and `timestamp`): a field with one of these
/// names would be read as that key, so encoders leave such fields out and
/// the replayer does not take them as fields.
pub const NAMED_KEYS: [&str; 7] = [
    "message",
    "msg",
    "timestamp",
    "ts",
    "source",
    "level",
    "tags",
];

/// A log level, as TimberDB normalises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The name TimberDB stores (and its level filter matches).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// The OTLP `SeverityNumber` of the first value of each range
    /// (opentelemetry-proto `logs.proto`: TRACE=1, DEBUG=5, INFO=9, WARN=13,
    /// ERROR=17, FATAL=21).
    pub fn otlp_severity_number(self) -> u8 {
        match self {
            Level::Trace => 1,
            Level::Debug => 5,
            Level::Info => 9,
            Level::Warn => 13,
            Level::Error => 17,
            Level::Fatal => 21,
        }
    }

    /// The OTLP short name of `otlp_severity_number`.
    pub fn otlp_severity_text(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parses the common spellings, case-insensitively (the same list
    /// TimberDB's ingest accepts, minus syslog numbers). `None` when the text
    /// is not a level.
    pub fn parse(text: &str) -> Option<Level> {
        const SPELLINGS: [(&str, Level); 22] = [
            ("trace", Level::Trace),
            ("trc", Level::Trace),
            ("verbose", Level::Trace),
            ("debug", Level::Debug),
            ("dbg", Level::Debug),
            ("info", Level::Info),
            ("inf", Level::Info),
            ("information", Level::Info),
            ("informational", Level::Info),
            ("notice", Level::Info),
            ("warn", Level::Warn),
            ("warning", Level::Warn),
            ("wrn", Level::Warn),
            ("error", Level::Error),
            ("err", Level::Error),
            ("fatal", Level::Fatal),
            ("critical", Level::Fatal),
            ("crit", Level::Fatal),
            ("panic", Level::Fatal),
            ("emerg", Level::Fatal),
            ("emergency", Level::Fatal),
            ("alert", Level::Fatal),
        ];
        let text = text.trim();
        SPELLINGS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|&(_, level)| level)
    }
}

/// The value of one field, borrowed from its line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// A byte range of `LogLine::arena`.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

/// A field value as stored: strings live in the arena.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Int(i64),
    Float(f64),
    Str(Span),
}

/// One log line. See the module docs for the storage layout.
pub struct LogLine {
    /// Nanoseconds since the Unix epoch. The sender sets it just before
    /// encoding; `clear` and the line sources leave it alone.
    pub timestamp_ns: i64,
    pub level: Level,
    /// The emitting service (TimberDB's `source`).
    pub source: String,
    /// Free text; may contain newlines (stack traces), quotes, backslashes
    /// and non-ASCII.
    pub message: String,
    /// Tag keys and values, field keys and string field values, back to back.
    arena: String,
    /// (key, value) spans of the tags, in insertion order.
    tags: Vec<(Span, Span)>,
    /// (key, value) of the fields, in insertion order.
    fields: Vec<(Span, Slot)>,
}

impl LogLine {
    pub fn new() -> Self {
        LogLine {
            timestamp_ns: 0,
            level: Level::Info,
            source: String::new(),
            message: String::new(),
            arena: String::new(),
            tags: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Empties source, message, tags and fields and resets the level to
    /// `Info`, keeping every buffer's capacity. `timestamp_ns` is kept: it
    /// belongs to the sender, which may stamp a line before or after filling.
    pub fn clear(&mut self) {
        self.level = Level::Info;
        self.source.clear();
        self.message.clear();
        self.arena.clear();
        self.tags.clear();
        self.fields.clear();
    }

    pub fn push_tag(&mut self, key: &str, value: &str) {
        let key = self.push_arena(key);
        let value = self.push_arena(value);
        self.tags.push((key, value));
    }

    pub fn tags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags
            .iter()
            .map(|&(key, value)| (self.text(key), self.text(value)))
    }

    /// The value of the first tag named `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags().find(|&(k, _)| k == key).map(|(_, value)| value)
    }

    pub fn tag_count(&self) -> usize {
        self.tags.len()
    }

    pub fn push_field_int(&mut self, key: &str, v: i64) {
        let key = self.push_arena(key);
        self.fields.push((key, Slot::Int(v)));
    }

    pub fn push_field_float(&mut self, key: &str, v: f64) {
        let key = self.push_arena(key);
        self.fields.push((key, Slot::Float(v)));
    }

    pub fn push_field_str(&mut self, key: &str, v: &str) {
        let key = self.push_arena(key);
        let value = self.push_arena(v);
        self.fields.push((key, Slot::Str(value)));
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldValue<'_>)> {
        self.fields.iter().map(|&(key, slot)| {
            let value = match slot {
                Slot::Int(v) => FieldValue::Int(v),
                Slot::Float(v) => FieldValue::Float(v),
                Slot::Str(span) => FieldValue::Str(self.text(span)),
            };
            (self.text(key), value)
        })
    }

    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    fn push_arena(&mut self, text: &str) -> Span {
        let start = self.arena.len();
        self.arena.push_str(text);
        Span {
            start,
            end: self.arena.len(),
        }
    }

    fn text(&self, span: Span) -> &str {
        // Spans are only made by `push_arena` from whole `&str`s, so both
        // ends are char boundaries and inside the arena.
        &self.arena[span.start..span.end]
    }
}

impl Default for LogLine {
    fn default() -> Self {
        LogLine::new()
    }
}

impl Clone for LogLine {
    fn clone(&self) -> Self {
        let mut line = LogLine::new();
        line.clone_from(self);
        line
    }

    /// Reuses `self`'s buffers; replay copies every line this way.
    fn clone_from(&mut self, source: &Self) {
        self.timestamp_ns = source.timestamp_ns;
        self.level = source.level;
        self.source.clone_from(&source.source);
        self.message.clone_from(&source.message);
        self.arena.clone_from(&source.arena);
        self.tags.clone_from(&source.tags);
        self.fields.clone_from(&source.fields);
    }
}

/// Lines are equal when what an encoder would read is equal; the arena
/// layout does not matter.
impl PartialEq for LogLine {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp_ns == other.timestamp_ns
            && self.level == other.level
            && self.source == other.source
            && self.message == other.message
            && self.tags().eq(other.tags())
            && self.fields().eq(other.fields())
    }
}

impl fmt::Debug for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLine")
            .field("timestamp_ns", &self.timestamp_ns)
            .field("level", &self.level)
            .field("source", &self.source)
            .field("message", &self.message)
            .field("tags", &DebugPairs(self.tags().collect()))
            .field("fields", &DebugPairs(self.fields().collect()))
            .finish()
    }
}

struct DebugPairs<'a, V>(Vec<(&'a str, V)>);

impl<V: fmt::Debug> fmt::Debug for DebugPairs<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// For each byte: 0 when it may appear verbatim inside a JSON string,
/// otherwise the letter of its escape (`u` for `\u00XX`). RFC 8259 §7
/// requires escaping `"`, `\` and U+0000..U+001F; everything else, including
/// non-ASCII UTF-8, is copied as is.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes of `word` needs escaping. SWAR "has less
/// than" and "has zero byte" tricks (Bit Twiddling Hacks); exact as a yes/no
/// answer, which is all the caller uses before rescanning bytewise.
fn word_needs_escape(word: u64) -> bool {
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS != 0
}

/// The index of the first byte at or after `from` that needs escaping, or
/// `bytes.len()`. Skips 8 clean bytes per step, like memchr.
fn next_escape(bytes: &[u8], from: usize) -> usize {
    let mut index = from;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("the slice is 8 bytes long"));
        if word_needs_escape(word) {
            break;
        }
        index += 8;
    }
    while index < bytes.len() && ESCAPE[bytes[index] as usize] == 0 {
        index += 1;
    }
    index
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let index = next_escape(bytes, start);
        out.extend_from_slice(&bytes[start..index]);
        let Some(&byte) = bytes.get(index) else {
            break;
        };
        match ESCAPE[byte as usize] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ]),
            letter => out.extend_from_slice(&[b'\\', letter]),
        }
        start = index + 1;
    }
    out.push(b'"');
}

/// The number of bytes `write_json_string(s)` appends, quotes included.
/// Skips clean runs 8 bytes at a time, like the writer.
pub fn json_string_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len() + 2;
    let mut index = next_escape(bytes, 0);
    while let Some(&byte) = bytes.get(index) {
        len += if ESCAPE[byte as usize] == b'u' { 5 } else { 1 };
        index = next_escape(bytes, index + 1);
    }
    len
}

/// "00" to "99", so integers are written two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let mut index = buf.len();
    let mut rest = v;
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        index -= 2;
        buf[index..index + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        let pair = rest as usize * 2;
        index -= 2;
        buf[index..index + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        index -= 1;
        buf[index] = b'0' + rest as u8;
    }
    out.extend_from_slice(&buf[index..]);
}

/// Appends `v` in decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// The number of decimal digits of `v` (1 for 0).
pub fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Appends `v` as a JSON number that reads back as the same float: Rust's
/// shortest round-trip form, which always has a `.` or an exponent (`3.0`,
/// `12.5`, `1e21`, `1e-7`), so it is not taken for an integer. That is the
/// `{:?}` form; `{}` would write `f64::MAX` as 309 digits, which
/// serde_json refuses as out of range. JSON has no NaN or infinity, so a
/// non-finite `v` is written as `null`.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let start = out.len();
    write!(out, "{v:?}").expect("writing to a Vec cannot fail");
    if !out[start..]
        .iter()
        .any(|&b| matches!(b, b'.' | b'e' | b'E'))
    {
        out.extend_from_slice(b".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_json_string(&mut out, s);
        out
    }

    fn assert_round_trips(s: &str) {
        let out = json(s);
        let back: String = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{s:?} wrote {:?}: {e}", String::from_utf8_lossy(&out)));
        assert_eq!(back, s);
        assert_eq!(out.len(), json_string_len(s), "{s:?}");
    }

    #[test]
    fn json_string_every_control_byte_round_trips() {
        for byte in 0u8..0x20 {
            let s = format!("a{}b", byte as char);
            assert_round_trips(&s);
            // Alone, and at every position of an 8-byte word.
            assert_round_trips(&(byte as char).to_string());
            for pad in 0..16 {
                assert_round_trips(&format!("{}{}{}", "x".repeat(pad), byte as char, "y"));
            }
        }
    }

    #[test]
    fn json_string_escapes_match_serde_json() {
        let cases = [
            "",
            "plain ascii text that is longer than eight bytes",
            "quote \" and backslash \\ and slash /",
            "line one\nline two\r\n\ttabbed",
            "\u{7f} delete is not escaped",
            "café 日本語 😀 emoji",
            "\"\"\"\\\\\\",
            "ends with quote\"",
        ];
        for case in cases {
            assert_round_trips(case);
            assert_eq!(
                json(case),
                serde_json::to_vec(case).expect("serialize"),
                "{case:?}"
            );
        }
    }

    #[test]
    fn json_string_long_and_non_ascii_runs_are_copied_verbatim() {
        let long = "é".repeat(1000) + "\n" + &"a".repeat(1001);
        assert_round_trips(&long);
        let every_char: String = (0u32..0x800).filter_map(char::from_u32).collect();
        assert_round_trips(&every_char);
    }

    #[test]
    fn integers_are_decimal() {
        for v in [0, 1, 9, 10, 99, 100, 12345, -1, -100, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).expect("utf8"), v.to_string());
        }
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
        for v in [0, 9, 10, 99, 100, 1_710_498_600_123_456_789, u64::MAX] {
            assert_eq!(decimal_len(v), v.to_string().len());
        }
    }

    #[test]
    fn floats_read_back_as_floats_and_never_as_nan() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -2.5,
            12.3,
            0.1,
            1e15,
            1e16,
            1e21,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            let back: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert!(back.is_f64(), "{v} wrote {}", String::from_utf8_lossy(&out));
            assert_eq!(back.as_f64(), Some(v));
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(out, b"null");
        }
    }

    #[test]
    fn line_reuses_storage_and_keeps_order() {
        let mut line = LogLine::new();
        line.timestamp_ns = 7;
        line.push_tag("env", "prod");
        line.push_tag("host", "a-1");
        line.push_field_int("status", 200);
        line.push_field_float("duration_ms", 1.5);
        line.push_field_str("route", "/x");
        assert_eq!(line.tag("host"), Some("a-1"));
        assert_eq!(line.tag("nope"), None);
        let tags: Vec<_> = line.tags().collect();
        assert_eq!(tags, [("env", "prod"), ("host", "a-1")]);
        let fields: Vec<_> = line.fields().collect();
        assert_eq!(
            fields,
            [
                ("status", FieldValue::Int(200)),
                ("duration_ms", FieldValue::Float(1.5)),
                ("route", FieldValue::Str("/x")),
            ]
        );
        let copy = line.clone();
        assert_eq!(copy, line);
        line.clear();
        assert_eq!(line.timestamp_ns, 7, "clear leaves the sender's timestamp");
        assert_eq!(line.tags().count() + line.fields().count(), 0);
        assert_ne!(copy, line);
    }

    #[test]
    fn level_names_and_parsing() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::parse(level.otlp_severity_text()), Some(level));
        }
        assert_eq!(Level::parse(" Warning "), Some(Level::Warn));
        assert_eq!(Level::parse("CRITICAL"), Some(Level::Fatal));
        assert_eq!(Level::parse("loud"), None);
        let numbers: Vec<u8> = Level::ALL.map(Level::otlp_severity_number).to_vec();
        assert_eq!(numbers, [1, 5, 9, 13, 17, 21]);
    }
}
