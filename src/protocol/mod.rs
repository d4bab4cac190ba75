//! The shippers' protocols: each turns a foreign wire format into entries
//! of a `ColumnBatch` (one folder per protocol), with no HTTP or glommio in
//! it, so tests and fuzzers drive the decoders directly; `http::handlers`
//! serves them.

pub mod elasticsearch;
pub mod jsonline;
pub mod loki;
pub mod mapped_json;
pub mod otlp;
pub mod syslog;

/// The lines of `body` with their 1-based numbers, a trailing `\r` cut and
/// blank lines skipped; found with `memchr`, as bodies are megabytes.
pub(crate) fn non_blank_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut rest = body;
    let mut number = 0;
    let mut done = body.is_empty();
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        number += 1;
        let line = match memchr::memchr(b'\n', rest) {
            Some(end) => {
                let line = &rest[..end];
                rest = &rest[end + 1..];
                line
            }
            None => {
                done = true;
                rest
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Some((number, line));
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_numbered_and_blank_ones_skipped() {
        let lines: Vec<_> = super::non_blank_lines(b"a\n\n \r\nb\r\nc").collect();
        assert_eq!(lines, vec![(1, &b"a"[..]), (4, &b"b"[..]), (5, &b"c"[..])]);
        assert_eq!(super::non_blank_lines(b"").count(), 0);
        assert_eq!(super::non_blank_lines(b"x\n").count(), 1);
    }
}
