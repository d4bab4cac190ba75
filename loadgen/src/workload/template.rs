//! Message templates: a tiny placeholder language, parsed once when the
//! generator is built and rendered per line with no allocation.
//!
//! A template is literal text with placeholders in braces:
//!
//! | placeholder     | renders                                                  |
//! |-----------------|----------------------------------------------------------|
//! | `{a\|b\|c}`     | one of the alternatives, uniformly                       |
//! | `{list:NAME}`   | one entry of the named word list in `catalog::list`      |
//! | `{int:LO-HI}`   | a uniform integer in `LO..=HI`                           |
//! | `{hex:N}`       | `N` random lowercase hex digits                          |
//! | `{method}`      | an HTTP method, GET-heavy                                |
//! | `{route}`       | one of the service's URL paths, `#` replaced by an id    |
//! | `{status}`      | an HTTP status that fits the level; field `status`       |
//! | `{duration}`    | milliseconds with one decimal; field `duration_ms`       |
//! | `{bytes}`       | a byte count, log-distributed; field `bytes`             |
//! | `{ip}`          | an IPv4 address                                          |
//! | `{user}`        | a user id `u_<n>`, Zipf-like; tag `user_id`              |
//!
//! `{{` and `}}` are literal braces; placeholders do not nest. Placeholders
//! that name a field or tag record their value in `Recorded` (the first one
//! wins), so the line's fields always agree with its message text.

use super::catalog;
use super::rng::Rng;
use crate::line::Level;

enum Part {
    Lit(&'static str),
    Pick(Vec<&'static str>),
    Int { lo: u64, hi: u64 },
    Hex(usize),
    Method,
    Route,
    Status,
    Duration,
    Bytes,
    Ip,
    User,
}

/// Values a template wrote that also become fields or tags of the line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Recorded {
    pub status: Option<u16>,
    pub duration_tenths_ms: Option<u64>,
    pub bytes: Option<u64>,
    pub user_id: Option<u64>,
}

/// What a rendering may depend on besides the random stream.
pub(crate) struct Scene<'a> {
    pub level: Level,
    /// The service's URL paths, for `{route}`.
    pub routes: &'a [Route],
}

/// A URL path split at its `#` id placeholders, once, so rendering does
/// not search for them.
pub(crate) struct Route {
    /// The text around the ids: `n` pieces for `n - 1` ids.
    pieces: Vec<&'static str>,
}

impl Route {
    pub(crate) fn new(path: &'static str) -> Route {
        Route {
            pieces: path.split('#').collect(),
        }
    }
}

/// A parsed template.
pub(crate) struct Template {
    parts: Vec<Part>,
    /// No rendering contains a byte JSON must escape: literals and choices
    /// are clean, and generated values (numbers, hex, IPs, routes, users)
    /// always are. Then a rendering's escaped size is its length, and the
    /// generator need not scan it.
    clean: bool,
}

impl Template {
    /// Parses a template; the error names the offending placeholder.
    pub(crate) fn parse(text: &'static str) -> Result<Template, String> {
        let parts = parse_parts(text)?;
        let clean = parts.iter().all(|part| match part {
            Part::Lit(text) => is_clean(text),
            Part::Pick(words) => words.iter().all(|word| is_clean(word)),
            _ => true,
        });
        Ok(Template { parts, clean })
    }

    /// Appends one rendering to `out`.
    pub(crate) fn render(
        &self,
        scene: &Scene<'_>,
        rng: &mut Rng,
        out: &mut String,
        recorded: &mut Recorded,
    ) {
        render(&self.parts, scene, rng, out, recorded);
    }

    /// The size of `rendered`, a rendering of this template, inside a JSON
    /// string.
    pub(crate) fn escaped_len(&self, rendered: &str) -> usize {
        if self.clean {
            debug_assert_eq!(rendered.len(), escaped_len(rendered), "{rendered:?}");
            rendered.len()
        } else {
            escaped_len(rendered)
        }
    }
}

/// What `text` adds inside a JSON string (without the quotes).
pub(crate) fn escaped_len(text: &str) -> usize {
    crate::line::json_string_len(text) - 2
}

/// Whether `text` goes into a JSON string unchanged.
pub(crate) fn is_clean(text: &str) -> bool {
    escaped_len(text) == text.len()
}

fn parse_parts(text: &'static str) -> Result<Vec<Part>, String> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut index = 0;
    while index < bytes.len() {
        let doubled = bytes.get(index + 1) == Some(&bytes[index]);
        match bytes[index] {
            b'{' | b'}' if doubled => {
                push_literal(&mut parts, &text[literal_start..=index]);
                index += 2;
                literal_start = index;
            }
            b'{' => {
                push_literal(&mut parts, &text[literal_start..index]);
                let close = text[index..]
                    .find('}')
                    .map(|offset| index + offset)
                    .ok_or_else(|| format!("unclosed '{{' in {text:?}"))?;
                parts.push(parse_placeholder(&text[index + 1..close])?);
                index = close + 1;
                literal_start = index;
            }
            b'}' => return Err(format!("unmatched '}}' in {text:?}")),
            _ => index += 1,
        }
    }
    push_literal(&mut parts, &text[literal_start..]);
    Ok(parts)
}

fn push_literal(parts: &mut Vec<Part>, text: &'static str) {
    if !text.is_empty() {
        parts.push(Part::Lit(text));
    }
}

fn parse_placeholder(inner: &'static str) -> Result<Part, String> {
    let part = match inner {
        "method" => Part::Method,
        "route" => Part::Route,
        "status" => Part::Status,
        "duration" => Part::Duration,
        "bytes" => Part::Bytes,
        "ip" => Part::Ip,
        "user" => Part::User,
        _ if inner.contains('|') => Part::Pick(inner.split('|').collect()),
        _ => return parse_with_argument(inner),
    };
    Ok(part)
}

fn parse_with_argument(inner: &'static str) -> Result<Part, String> {
    let bad = || format!("unknown placeholder {{{inner}}}");
    let (name, argument) = inner.split_once(':').ok_or_else(bad)?;
    match name {
        "list" => {
            let words = catalog::list(argument).ok_or_else(bad)?;
            Ok(Part::Pick(words.to_vec()))
        }
        "int" => {
            let (lo, hi) = argument.split_once('-').ok_or_else(bad)?;
            let lo: u64 = lo.parse().map_err(|_| bad())?;
            let hi: u64 = hi.parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            Ok(Part::Int { lo, hi })
        }
        "hex" => match argument.parse() {
            Ok(digits @ 1..=64) => Ok(Part::Hex(digits)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// Appends one rendering of `parts` to `out`.
fn render(
    parts: &[Part],
    scene: &Scene<'_>,
    rng: &mut Rng,
    out: &mut String,
    recorded: &mut Recorded,
) {
    for part in parts {
        match part {
            Part::Lit(text) => out.push_str(text),
            Part::Pick(words) => out.push_str(rng.pick(words)),
            &Part::Int { lo, hi } => push_u64(out, rng.between(lo, hi)),
            &Part::Hex(digits) => push_random_hex(out, rng, digits),
            Part::Method => out.push_str(http_method(rng)),
            Part::Route => {
                let route = rng.pick_ref(scene.routes);
                push_route(out, rng, route);
            }
            Part::Status => {
                let status = http_status(rng, scene.level);
                recorded.status.get_or_insert(status);
                push_u64(out, u64::from(status));
            }
            Part::Duration => {
                let tenths = duration_tenths_ms(rng, scene.level);
                recorded.duration_tenths_ms.get_or_insert(tenths);
                push_tenths(out, tenths);
            }
            Part::Bytes => {
                let bytes = byte_count(rng);
                recorded.bytes.get_or_insert(bytes);
                push_u64(out, bytes);
            }
            Part::Ip => push_ip(out, rng),
            Part::User => {
                let user = user_number(rng);
                recorded.user_id.get_or_insert(user);
                out.push_str(user_text(user, &mut [0; USER_TEXT_BYTES_MAX]));
            }
        }
    }
}

/// Writes a route with a random numeric id in place of each `#`.
fn push_route(out: &mut String, rng: &mut Rng, route: &Route) {
    for (position, piece) in route.pieces.iter().enumerate() {
        if position > 0 {
            push_u64(out, rng.between(1, 9_999_999));
        }
        out.push_str(piece);
    }
}

fn http_method(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..=59 => "GET",
        60..=84 => "POST",
        85..=91 => "PUT",
        92..=96 => "DELETE",
        _ => "PATCH",
    }
}

/// Successes for info and below, client errors for warn, server errors for
/// error and fatal, so `status >= 500` queries agree with level queries.
fn http_status(rng: &mut Rng, level: Level) -> u16 {
    const OK: [u16; 20] = [
        200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201, 201, 204,
        304, 302,
    ];
    const CLIENT: [u16; 8] = [400, 401, 403, 404, 404, 409, 422, 429];
    const SERVER: [u16; 5] = [500, 500, 502, 503, 504];
    match level {
        Level::Trace | Level::Debug | Level::Info => rng.pick(&OK),
        Level::Warn => rng.pick(&CLIENT),
        Level::Error | Level::Fatal => rng.pick(&SERVER),
    }
}

/// A duration in tenths of a millisecond, log-distributed between a
/// per-level floor and ceiling and skewed towards the floor (squaring the
/// uniform draw), like real latency: mostly fast, a long tail.
fn duration_tenths_ms(rng: &mut Rng, level: Level) -> u64 {
    // (floor in ms, ln(ceiling / floor))
    let (lo_ms, ln_ratio): (f64, f64) = match level {
        Level::Trace | Level::Debug => (0.1, 6.685), // up to 80 ms
        Level::Info => (0.8, 8.229),                 // up to 3 s
        Level::Warn => (250.0, 3.584),               // up to 9 s
        Level::Error | Level::Fatal => (3.0, 9.210), // up to 30 s
    };
    let u = rng.unit();
    let ms = lo_ms * (ln_ratio * u * u).exp();
    ((ms * 10.0) as u64).max(1)
}

/// Response sizes from 64 B to 4 MiB, log-distributed, skewed small.
fn byte_count(rng: &mut Rng) -> u64 {
    const LN_65536: f64 = 11.090_354_888_959_125;
    let u = rng.unit();
    (64.0 * (LN_65536 * u * u).exp()) as u64
}

/// A Zipf-like user number: a few users produce most lines.
pub(crate) fn user_number(rng: &mut Rng) -> u64 {
    let u = rng.unit();
    1 + (u * u * u * 2_000_000.0) as u64
}

/// Room for `u_` and the digits of any `u64`.
pub(crate) const USER_TEXT_BYTES_MAX: usize = 22;

/// `u_<n>`, written into `buf`.
pub(crate) fn user_text(user: u64, buf: &mut [u8; USER_TEXT_BYTES_MAX]) -> &str {
    buf[..2].copy_from_slice(b"u_");
    let digits = write_digits(user, &mut buf[2..]);
    std::str::from_utf8(&buf[..2 + digits]).expect("'u_' and ASCII digits")
}

/// Internal 10.x addresses mostly; the rest look like public clients.
fn push_ip(out: &mut String, rng: &mut Rng) {
    const PUBLIC_FIRST_OCTETS: [u64; 10] = [34, 52, 81, 93, 104, 141, 172, 185, 203, 212];
    let first = if rng.chance(7_000) {
        10
    } else {
        rng.pick(&PUBLIC_FIRST_OCTETS)
    };
    push_u64(out, first);
    for _ in 0..2 {
        out.push('.');
        push_u64(out, rng.below(256));
    }
    out.push('.');
    push_u64(out, rng.between(1, 254));
}

/// Writes `value` in decimal at the start of `buf`; returns the digit count.
/// `buf` must hold 20 bytes (the digits of `u64::MAX`).
fn write_digits(value: u64, buf: &mut [u8]) -> usize {
    let digits = crate::line::decimal_len(value);
    let mut rest = value;
    for slot in buf[..digits].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits
}

/// "00" to "99", so integers are converted two digits per division.
const DIGIT_PAIRS: &str = "\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `value` in decimal: two digits per division, one `push_str`.
pub(crate) fn push_u64(out: &mut String, value: u64) {
    let pairs = DIGIT_PAIRS.as_bytes();
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    let mut rest = value;
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        start -= 2;
        buf[start..start + 2].copy_from_slice(&pairs[pair..pair + 2]);
    }
    let pair = rest as usize * 2;
    if rest >= 10 {
        start -= 2;
        buf[start..start + 2].copy_from_slice(&pairs[pair..pair + 2]);
    } else {
        start -= 1;
        buf[start] = pairs[pair + 1];
    }
    push_ascii(out, &buf[start..]);
}

/// Appends ASCII bytes. Pushing them as chars is a byte store each, where
/// `str::from_utf8` + `push_str` costs a validation call and a `memcpy`
/// call, too much for the handful of digits of a number.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    debug_assert!(ascii.is_ascii());
    out.reserve(ascii.len());
    for &byte in ascii {
        // The mask is a no-op on ASCII; it tells the compiler the char
        // takes one byte, which drops `push`'s multi-byte encoding path.
        out.push(char::from(byte & 0x7f));
    }
}

/// `tenths / 10` with exactly one decimal, e.g. `12.3`.
pub(crate) fn push_tenths(out: &mut String, tenths: u64) {
    push_u64(out, tenths / 10);
    out.push('.');
    push_u64(out, tenths % 10);
}

/// Appends the low `digits` (at most 16) nibbles of `value` as hex.
pub(crate) fn push_hex(out: &mut String, value: u64, digits: usize) {
    debug_assert!(digits <= 16);
    push_ascii(out, &hex16(value)[16 - digits..]);
}

/// The 16 lowercase hex digits of `value`, most significant first.
pub(crate) fn hex16(value: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hex8((value >> 32) as u32));
    out[8..].copy_from_slice(&hex8(value as u32));
    out
}

/// The 8 lowercase hex digits of `value`, computed on all 8 at once
/// (SWAR): spread the nibbles one per byte, then add `'0'`, and 39 more
/// to those of 10 and up, which lands them on `'a'`..`'f'`.
fn hex8(value: u32) -> [u8; 8] {
    let mut spread = u64::from(value);
    spread = (spread | spread << 16) & 0x0000_ffff_0000_ffff;
    spread = (spread | spread << 8) & 0x00ff_00ff_00ff_00ff;
    spread = (spread | spread << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    let letters = ((spread + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (spread + 0x3030_3030_3030_3030 + letters * 0x27).to_be_bytes()
}

pub(crate) fn push_random_hex(out: &mut String, rng: &mut Rng, digits: usize) {
    let mut left = digits;
    while left > 0 {
        let chunk = left.min(16);
        push_hex(out, rng.next_u64(), chunk);
        left -= chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_hex_match_std_formatting() {
        for value in [0, 7, 10, 99, 100, 101, 9_999, 10_000, 1_234_567, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, value);
            assert_eq!(out, value.to_string());
        }
        for value in [0, 0x9, 0xa, 0xf0, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(hex16(value), *format!("{value:016x}").as_bytes());
            let mut out = String::new();
            push_hex(&mut out, value, 5);
            assert_eq!(out, format!("{:05x}", value & 0xf_ffff));
        }
        let mut out = String::new();
        push_tenths(&mut out, 12_345);
        assert_eq!(out, "1234.5");
    }
}
