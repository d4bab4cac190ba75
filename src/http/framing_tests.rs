use super::*;

fn refused(head: &[u8]) -> FramingError {
    match check_head(head) {
        HeadCheck::Refused(error) => error,
        other => panic!(
            "{:?} was not refused: {other:?}",
            String::from_utf8_lossy(head)
        ),
    }
}

fn complete(head: &[u8]) -> BodyFraming {
    match check_head(head) {
        HeadCheck::Complete { head_bytes, body } => {
            assert_eq!(head_bytes, head.len());
            body
        }
        other => panic!(
            "{:?} was not accepted: {other:?}",
            String::from_utf8_lossy(head)
        ),
    }
}

#[test]
fn well_formed_heads_give_their_body_framing() {
    assert_eq!(
        complete(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        BodyFraming::None
    );
    assert_eq!(
        complete(b"POST /a HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
        BodyFraming::Length(12)
    );
    assert_eq!(
        complete(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\n"),
        BodyFraming::Length(3)
    );
    assert_eq!(
        complete(b"POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        BodyFraming::Chunked
    );
    assert_eq!(
        check_head(b"POST /a HTTP/1.1\r\nContent-Le"),
        HeadCheck::Partial
    );
}

#[test]
fn malformed_heads_are_refused_with_the_right_status() {
    let cases: [(&[u8], ErrorKind, &str); 10] = [
        (b"HELLO\r\n\r\n", ErrorKind::BadRequest, "malformed_request"),
        (
            b"GET / FOO/1.1\r\n\r\n",
            ErrorKind::BadRequest,
            "malformed_request",
        ),
        (
            b"GET /h HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",
            ErrorKind::BadRequest,
            "malformed_request",
        ),
        (
            b"GET /h HTTP/1.1\r\nX A: b\r\n\r\n",
            ErrorKind::BadRequest,
            "malformed_request",
        ),
        (
            b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            ErrorKind::BadRequest,
            "invalid_content_length",
        ),
        (
            b"POST /a HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            ErrorKind::BadRequest,
            "invalid_content_length",
        ),
        (
            b"POST /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            ErrorKind::BadRequest,
            "invalid_content_length",
        ),
        (
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            ErrorKind::NotImplemented,
            "unsupported_transfer_encoding",
        ),
        (
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            ErrorKind::BadRequest,
            "invalid_transfer_encoding",
        ),
        (
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
            ErrorKind::BadRequest,
            "invalid_transfer_encoding",
        ),
    ];
    for (head, kind, code) in cases {
        let error = refused(head);
        assert_eq!((error.kind, error.code), (kind, code), "{error:?}");
        assert!(!error.message.is_empty());
    }
}

#[test]
fn oversized_request_lines_and_heads_are_414_and_431() {
    let mut long_line = b"GET /".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', REQUEST_LINE_BYTES_MAX));
    assert_eq!(refused(&long_line).kind, ErrorKind::UriTooLong);
    let mut big_head = b"GET / HTTP/1.1\r\n".to_vec();
    while big_head.len() <= REQUEST_HEAD_BYTES_MAX {
        big_head.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(refused(&big_head).kind, ErrorKind::HeadersTooLarge);
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for index in 0..=REQUEST_HEADERS_MAX {
        many.extend_from_slice(format!("X-{index}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(refused(&many).kind, ErrorKind::HeadersTooLarge);
}

fn scan_all(tracker: &mut BodyTracker, bytes: &[u8]) -> Result<Scanned, FramingError> {
    tracker.scan(bytes)
}

#[test]
fn a_chunked_body_is_followed_to_its_end_in_any_split() {
    let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\nGET /next";
    let end = body.len() - b"GET /next".len();
    for split in 0..end {
        let mut tracker = BodyTracker::new(1 << 20);
        tracker.start_body(BodyFraming::Chunked);
        let first = scan_all(&mut tracker, &body[..split]).unwrap();
        assert_eq!(first.body_bytes, split);
        assert!(!first.body_ended);
        let second = scan_all(&mut tracker, &body[split..]).unwrap();
        assert_eq!(second.body_bytes, end - split, "split at {split}");
        assert!(second.body_ended);
        assert!(tracker.at_head());
    }
}

#[test]
fn a_length_body_is_counted() {
    let mut tracker = BodyTracker::new(1 << 20);
    tracker.start_body(BodyFraming::Length(4));
    assert_eq!(
        tracker.scan(b"ab").unwrap(),
        Scanned {
            body_bytes: 2,
            body_ended: false
        }
    );
    assert!(tracker.on_end_of_stream().is_some());
    assert_eq!(
        tracker.scan(b"cdGET").unwrap(),
        Scanned {
            body_bytes: 2,
            body_ended: true
        }
    );
    assert!(tracker.on_end_of_stream().is_none());
}

#[test]
fn impossible_chunk_sizes_are_refused_at_once() {
    let mut tracker = BodyTracker::new(1 << 20);
    tracker.start_body(BodyFraming::Chunked);
    let error = tracker.scan(b"ffffffffffffffff\r\nabc").unwrap_err();
    assert_eq!(
        (error.kind, error.code),
        (ErrorKind::BadRequest, "invalid_chunked_body")
    );
    let mut tracker = BodyTracker::new(1 << 20);
    tracker.start_body(BodyFraming::Chunked);
    let error = tracker.scan(b"200000\r\n").unwrap_err();
    assert_eq!(error.kind, ErrorKind::PayloadTooLarge);
    for bad in [&b"\r\n"[..], b"zz\r\n", b"3\r\nabcd", b"3\nabc"] {
        let mut tracker = BodyTracker::new(1 << 20);
        tracker.start_body(BodyFraming::Chunked);
        let error = tracker.scan(bad).unwrap_err();
        assert_eq!(error.code, "invalid_chunked_body", "{bad:?}");
    }
}

#[test]
fn a_stream_that_ends_inside_a_body_says_so() {
    let mut tracker = BodyTracker::new(1 << 20);
    tracker.start_body(BodyFraming::Chunked);
    tracker.scan(b"3\r\n{}\n\r\n").unwrap();
    let error = tracker.on_end_of_stream().unwrap();
    assert_eq!(error.code, "incomplete_body");
}
