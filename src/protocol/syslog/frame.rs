//! TCP framing (RFC 6587), detected per frame: octet counting
//! (`MSG-LEN SP SYSLOG-MSG`) when a frame starts with a decimal length, a
//! space and `<`; otherwise newline-terminated lines.
//!
//! Requiring the `<` after the length keeps a newline-framed line that
//! merely starts with a number (a non-syslog line) from being taken for a
//! length. syslog-ng counts a trailing newline inside an octet-counted
//! frame; [`trim_frame`] strips it, as it does the `\r` of CRLF lines.

/// Bytes of an octet-counting header: at most ten length digits and a space.
pub const OCTET_HEADER_BYTES_MAX: usize = 11;

/// What the buffered bytes hold next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A whole message at `start..end`; drop `consumed` bytes after it.
    Message {
        start: usize,
        end: usize,
        consumed: usize,
    },
    /// A newline-framed line longer than the limit, cut to its first
    /// `end` bytes; the rest of the line is discarded as it arrives.
    LineCut { end: usize },
    /// Bytes of a cut line's remainder (or empty lines) dropped.
    Skipped { consumed: usize },
    /// An octet-counted frame declares more than the limit: the stream
    /// cannot be resynchronised, so the connection must be closed.
    FrameTooLong { declared_bytes: u64 },
    /// The buffer holds no whole frame yet.
    NeedMore,
}

/// Per-connection framing state.
#[derive(Debug)]
pub struct Framer {
    message_bytes_max: usize,
    /// Inside an over-long line whose start was already taken.
    discarding_line: bool,
}

impl Framer {
    pub fn new(message_bytes_max: usize) -> Self {
        assert!(message_bytes_max > 0);
        Framer {
            message_bytes_max,
            discarding_line: false,
        }
    }

    /// Bytes the connection's buffer needs so that any frame within the
    /// limit fits, and an over-long line is seen to be over-long.
    pub fn buffer_bytes_min(&self) -> usize {
        self.message_bytes_max + OCTET_HEADER_BYTES_MAX + 1
    }

    /// The next frame in `buffer` (which starts where the last one ended).
    pub fn next(&mut self, buffer: &[u8]) -> Next {
        if self.discarding_line {
            return self.skip_line_rest(buffer);
        }
        let separators = buffer
            .iter()
            .take_while(|&&byte| matches!(byte, b'\n' | b'\r' | b'\0'))
            .count();
        if separators > 0 {
            return Next::Skipped {
                consumed: separators,
            };
        }
        match octet_header(buffer) {
            Header::Complete { digits, length } => self.octet_frame(buffer, digits, length),
            Header::Incomplete => Next::NeedMore,
            Header::Absent => self.line(buffer),
        }
    }

    /// What is left when the peer closes: an unterminated last line is a
    /// message; a partial octet frame is not (it was cut by the sender).
    pub fn finish(&mut self, buffer: &[u8]) -> Option<usize> {
        if buffer.is_empty() || self.discarding_line {
            return None;
        }
        match octet_header(buffer) {
            Header::Absent => Some(buffer.len().min(self.message_bytes_max)),
            _ => None,
        }
    }

    fn octet_frame(&self, buffer: &[u8], digits: usize, length: u64) -> Next {
        if length > self.message_bytes_max as u64 {
            return Next::FrameTooLong {
                declared_bytes: length,
            };
        }
        let start = digits + 1;
        let end = start + length as usize;
        if buffer.len() < end {
            return Next::NeedMore;
        }
        Next::Message {
            start,
            end,
            consumed: end,
        }
    }

    fn line(&mut self, buffer: &[u8]) -> Next {
        let window = &buffer[..buffer.len().min(self.message_bytes_max + 1)];
        match memchr::memchr(b'\n', window) {
            Some(newline) => Next::Message {
                start: 0,
                end: newline,
                consumed: newline + 1,
            },
            None if buffer.len() > self.message_bytes_max => {
                self.discarding_line = true;
                Next::LineCut {
                    end: self.message_bytes_max,
                }
            }
            None => Next::NeedMore,
        }
    }

    fn skip_line_rest(&mut self, buffer: &[u8]) -> Next {
        match memchr::memchr(b'\n', buffer) {
            Some(newline) => {
                self.discarding_line = false;
                Next::Skipped {
                    consumed: newline + 1,
                }
            }
            None if buffer.is_empty() => Next::NeedMore,
            None => Next::Skipped {
                consumed: buffer.len(),
            },
        }
    }
}

enum Header {
    /// `digits` length digits, a space, and `<` follow.
    Complete {
        digits: usize,
        length: u64,
    },
    /// Could still become a header once more bytes arrive.
    Incomplete,
    Absent,
}

fn octet_header(buffer: &[u8]) -> Header {
    if !matches!(buffer.first(), Some(b'1'..=b'9')) {
        return Header::Absent;
    }
    let digits = buffer
        .iter()
        .take(OCTET_HEADER_BYTES_MAX)
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits >= OCTET_HEADER_BYTES_MAX {
        return Header::Absent;
    }
    match (buffer.get(digits), buffer.get(digits + 1)) {
        (None, _) | (Some(b' '), None) => Header::Incomplete,
        (Some(b' '), Some(b'<')) => {
            let length = buffer[..digits]
                .iter()
                .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0'));
            Header::Complete { digits, length }
        }
        _ => Header::Absent,
    }
}

/// A frame without the line ending a sender left in it (`\n`, `\r\n`,
/// and the NUL some senders append).
pub fn trim_frame(frame: &[u8]) -> &[u8] {
    let kept = frame
        .iter()
        .rposition(|byte| !matches!(byte, b'\n' | b'\r' | b'\0'))
        .map_or(0, |last| last + 1);
    &frame[..kept]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input` to the end, as a connection would, collecting messages.
    fn frames(framer: &mut Framer, input: &[u8]) -> (Vec<String>, Option<u64>) {
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            match framer.next(&input[at..]) {
                Next::Message {
                    start,
                    end,
                    consumed,
                } => {
                    let frame = trim_frame(&input[at + start..at + end]);
                    out.push(String::from_utf8_lossy(frame).into_owned());
                    at += consumed;
                }
                Next::LineCut { end } => {
                    out.push(format!("CUT:{}", end));
                    at += end;
                }
                Next::Skipped { consumed } => at += consumed,
                Next::FrameTooLong { declared_bytes } => return (out, Some(declared_bytes)),
                Next::NeedMore => {
                    if let Some(end) = framer.finish(&input[at..]) {
                        out.push(String::from_utf8_lossy(&input[at..at + end]).into_owned());
                    }
                    return (out, None);
                }
            }
        }
    }

    #[test]
    fn both_framings_mix_on_one_stream() {
        let input = b"<13>a line\n11 <13>counted10 <13>x y z\n\r\n12 <13>not this\n<14>crlf\r\n";
        let (out, too_long) = frames(&mut Framer::new(100), input);
        assert_eq!(
            out,
            [
                "<13>a line",
                "<13>counted",
                "<13>x y z",
                "<13>not this",
                "<14>crlf"
            ]
        );
        assert_eq!(too_long, None);
    }

    #[test]
    fn a_line_starting_with_a_number_is_a_line() {
        let (out, _) = frames(&mut Framer::new(100), b"404 not found\n12345\n");
        assert_eq!(out, ["404 not found", "12345"]);
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut framer = Framer::new(100);
        for partial in [&b"1"[..], b"12", b"12 ", b"12 <13>", b"<13>no newline yet"] {
            assert_eq!(framer.next(partial), Next::NeedMore, "{partial:?}");
        }
        assert_eq!(framer.finish(b"12 <13>"), None);
        assert_eq!(framer.finish(b"<13>last"), Some(8));
    }

    #[test]
    fn over_long_octet_frame_is_refused() {
        let (out, too_long) = frames(&mut Framer::new(10), b"5 <13>a11 <13>abcdefg");
        assert_eq!(out, ["<13>a"]);
        assert_eq!(too_long, Some(11));
    }

    #[test]
    fn over_long_line_is_cut_and_its_rest_skipped() {
        let mut framer = Framer::new(8);
        let (out, _) = frames(&mut framer, b"0123456789abcdef\nnext\n");
        assert_eq!(out, ["CUT:8", "next"]);
        // Exactly at the limit is whole.
        let (out, _) = frames(&mut Framer::new(8), b"01234567\n");
        assert_eq!(out, ["01234567"]);
    }

    #[test]
    fn trim_strips_line_endings_only() {
        assert_eq!(trim_frame(b"a b\r\n"), b"a b");
        assert_eq!(trim_frame(b"a\0"), b"a");
        assert_eq!(trim_frame(b"\n"), b"");
        assert_eq!(trim_frame(b" a "), b" a ");
    }
}
