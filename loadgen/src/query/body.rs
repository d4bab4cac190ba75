//! `--body NAME=JSON`: a query kind whose request body the user writes.
//!
//! The built-in kinds ask the generator's corpus fixed questions; a corpus
//! of another shape (the access log's `zebracorn`, say) or a query the
//! built-ins do not cover needs its own. A `--body` kind sends its object
//! as given, every time, and is reported like a built-in kind.
//!
//! "As given" is the user's bytes, not a re-serialisation of the parsed
//! object: keys keep their order and numbers their spelling, so what the
//! server receives is what the command line (and the docs quoting it)
//! says. The one thing loadgen adds is `partitions` (the `--partition`),
//! and only when the body does not choose its partitions itself: by a
//! `partitions` key, or by a `FROM` in its `q`. Adding it there too would
//! make the server see two scopes for one query.

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::kind::QueryKind;

/// Longest NAME of a `--body`, in bytes: it is a row of the report's table
/// and a key of its JSON, so a short word is what fits.
pub const BODY_NAME_BYTES_MAX: usize = 40;

/// One `--body` option: a named request body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomBody {
    /// The kind's name in `--mix` and in the report.
    pub name: String,
    /// The request body as given, parsed (for the checks and the
    /// report's configuration).
    pub body: Map<String, Value>,
    /// The JSON text as given, without surrounding whitespace: what is
    /// sent, before `partitions` is added.
    #[serde(skip)]
    pub text: String,
}

impl CustomBody {
    /// Parses `NAME=JSON`: NAME a simple name that is not a built-in kind,
    /// JSON an object. Each error is one sentence naming what to change.
    pub fn parse(text: &str) -> anyhow::Result<CustomBody> {
        let Some((name, json)) = text.split_once('=') else {
            bail!("expected NAME=JSON, such as rare={{\"q\":\"zebracorn\"}}");
        };
        let name = name.trim();
        check_name(name)?;
        let value: Value = serde_json::from_str(json)
            .with_context(|| format!("the JSON of --body {name} does not parse"))?;
        let Value::Object(body) = value else {
            bail!(
                "the JSON of --body {name} is {}, not an object such as {{\"q\":\"zebracorn\"}}",
                json_type(&value)
            );
        };
        Ok(CustomBody {
            name: name.to_string(),
            body,
            text: json.trim_matches(JSON_WHITESPACE).to_string(),
        })
    }

    /// The request to send: the body's text, with `"partitions":
    /// [partition]` put first in the object when it chooses no partitions
    /// itself.
    pub fn request(&self, partition: &str) -> Vec<u8> {
        if chooses_partitions(&self.body) {
            return self.text.clone().into_bytes();
        }
        let members = self
            .text
            .strip_prefix('{')
            .expect("the text parsed to an object, so it starts with {");
        let separator = if self.body.is_empty() { "" } else { "," };
        let partitions = json!([partition]);
        format!("{{\"partitions\":{partitions}{separator}{members}").into_bytes()
    }
}

/// The characters JSON allows around a value (RFC 8259, section 2).
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// A NAME is letters, digits, `-` and `_`, so it reads as one word in the
/// report and `--mix` can list it between commas; a built-in kind's name
/// would make two rows of the report indistinguishable.
fn check_name(name: &str) -> anyhow::Result<()> {
    let simple = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if name.is_empty() || name.len() > BODY_NAME_BYTES_MAX || !simple {
        bail!(
            "the name {name:?} before = is not 1 to {BODY_NAME_BYTES_MAX} letters, digits, '-' or '_'"
        );
    }
    if QueryKind::from_name(name).is_some() {
        bail!("the name {name:?} is a built-in query kind's; choose another one");
    }
    Ok(())
}

/// The body names its partitions: a `partitions` key, or a `q` whose
/// query language text has a `FROM` (in any case) as a word of its own.
fn chooses_partitions(body: &Map<String, Value>) -> bool {
    body.contains_key("partitions")
        || body
            .get("q")
            .and_then(Value::as_str)
            .is_some_and(|q| has_word(q, "from"))
}

/// `word` (lowercase ASCII) is one of `text`'s words, in any case; a word is
/// a run of letters, digits and `_`, as the server splits them, so
/// `fromage` and `from_ts` do not count.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w.eq_ignore_ascii_case(word))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(text: &str) -> String {
        format!("{:#}", CustomBody::parse(text).unwrap_err())
    }

    #[test]
    fn a_body_parses_to_its_name_and_object() {
        let body = CustomBody::parse(r#"rare={"q":"zebracorn","limit":100}"#).unwrap();
        assert_eq!(body.name, "rare");
        assert_eq!(
            Value::Object(body.body),
            json!({"q": "zebracorn", "limit": 100})
        );
        // Only the first = splits: the JSON may hold more.
        let body = CustomBody::parse(r#"err-5_x={"q":"SELECT * WHERE a = 'b'"}"#).unwrap();
        assert_eq!(body.name, "err-5_x");
        assert_eq!(body.body["q"], "SELECT * WHERE a = 'b'");
    }

    #[test]
    fn bad_bodies_are_refused_in_one_sentence() {
        assert!(error("rare").contains("expected NAME=JSON"));
        assert!(error(r#"={"q":"x"}"#).contains("is not 1 to 40 letters"));
        assert!(error(r#"a b={"q":"x"}"#).contains(r#""a b""#));
        assert!(error(r#"rare.1={"q":"x"}"#).contains("'-' or '_'"));
        let long = format!("{}={{}}", "n".repeat(BODY_NAME_BYTES_MAX + 1));
        assert!(error(&long).contains("is not 1 to 40"));
        assert!(error(r#"needle={"q":"x"}"#).contains("built-in query kind"));
        let unparsed = error(r#"rare={"q":}"#);
        assert!(unparsed.starts_with("the JSON of --body rare does not parse"));
        assert!(unparsed.contains("line 1 column"), "{unparsed}");
        assert!(error("rare=[1]").contains("is an array, not an object"));
        assert!(error(r#"rare="q""#).contains("is a string, not an object"));
        assert!(error("rare=").contains("does not parse"));
    }

    /// The request of `--body text` for partition `web`, parsed.
    fn request(text: &str) -> Value {
        let bytes = CustomBody::parse(text).unwrap().request("web");
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_body_is_sent_as_written() {
        let sent = |text: &str, partition: &str| {
            String::from_utf8(CustomBody::parse(text).unwrap().request(partition)).unwrap()
        };
        // Keys in the order given, numbers as spelt, partitions first.
        assert_eq!(
            sent(r#"r={"q":"zebracorn", "limit":100,"x":1.50}"#, "web"),
            r#"{"partitions":["web"],"q":"zebracorn", "limit":100,"x":1.50}"#
        );
        assert_eq!(sent(" e= { } \n", "web"), r#"{"partitions":["web"] }"#);
        assert_eq!(sent("e={}", r#"a"b"#), r#"{"partitions":["a\"b"]}"#);
        let own = r#"{"q":"x", "partitions":["a"]}"#;
        assert_eq!(sent(&format!("o=\t{own}"), "web"), own);
    }

    #[test]
    fn partitions_are_added_unless_the_body_chooses_them() {
        assert_eq!(
            request(r#"rare={"q":"zebracorn","limit":100}"#),
            json!({"q": "zebracorn", "limit": 100, "partitions": ["web"]})
        );
        assert_eq!(
            request(r#"f={"filter":{"level":"error"}}"#)["partitions"],
            json!(["web"])
        );
        // A partitions key is kept as given, even an empty one.
        assert_eq!(
            request(r#"mine={"q":"x","partitions":["a","b"]}"#),
            json!({"q": "x", "partitions": ["a", "b"]})
        );
        assert_eq!(
            request(r#"none={"partitions":[]}"#)["partitions"],
            json!([])
        );
        // A FROM in q, in any case, names the partitions.
        for q in [
            "SELECT count(*) FROM web",
            "select * from web where level = 'error'",
            "SELECT *\nFrom\tweb",
        ] {
            let body = request(&format!("c={}", json!({ "q": q })));
            assert!(body.get("partitions").is_none(), "{q}");
        }
        // `from` inside another word, or no q at all, does not.
        for q in ["fromage", "SELECT from_ts", "wherefrom"] {
            let body = request(&format!("c={}", json!({ "q": q })));
            assert_eq!(body["partitions"], json!(["web"]), "{q}");
        }
        assert!(request(r#"n={"q":7}"#).get("partitions").is_some());
    }

    #[test]
    fn words_are_split_as_the_server_splits_them() {
        assert!(has_word("a FROM b", "from"));
        assert!(has_word("from", "from"));
        assert!(has_word("x,From(y)", "from"));
        assert!(!has_word("from_x", "from"));
        assert!(!has_word("ffrom", "from"));
        assert!(!has_word("", "from"));
    }
}
