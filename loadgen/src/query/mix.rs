//! The mix of `loadgen query`: which kinds run, in which round-robin
//! order, and the name each is reported under.
//!
//! A kind is built in (its body made per query from the generator's
//! corpus, see [`super::kind`]) or a `--body` (its body fixed, see
//! [`super::body`]). Without `--mix` the mix is every built-in kind or,
//! when some `--body` is given, the bodies in the order given: bodies are
//! written for a corpus the built-in kinds do not fit, so running those
//! too by default would mostly measure queries that find nothing.

use anyhow::bail;
use serde::Serialize;
use serde_json::Value;

use super::body::CustomBody;
use super::kind::{QueryKind, Questions};
use crate::line::LogLine;

/// Most `--body` options: each is a row of the report and a histogram of
/// about 40 KiB while the run lasts.
pub const BODY_COUNT_MAX: usize = 64;

/// One kind of the mix. The order (built-in kinds in their order, then
/// bodies in the order given) is the order of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MixKind {
    Builtin(QueryKind),
    /// The `--body` at this index.
    Body(usize),
}

/// A kind's name in the report: a built-in kind's, or a `--body` NAME.
/// It serialises as the bare name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KindName(String);

impl KindName {
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// The body of one query: made for it (built-in kinds), or a `--body`'s
/// bytes, made once and sent as they are.
#[derive(Clone, Debug, PartialEq)]
pub enum Request<'a> {
    Made(Value),
    Given(&'a [u8]),
}

/// The kinds to run and the `--body` requests, ready to send.
#[derive(Clone, Debug)]
pub struct Mix {
    /// Kinds in round-robin order; never empty.
    order: Vec<MixKind>,
    /// `--body` kinds by index: name, and the request's bytes as sent
    /// (`partitions` added where the body chooses none).
    bodies: Vec<(String, Vec<u8>)>,
}

impl Mix {
    /// The mix `--mix` names (`None`: it was not given), over the built-in
    /// kinds and `bodies`; `partition` goes into bodies that name none.
    pub fn new(
        mix: Option<&[String]>,
        bodies: &[CustomBody],
        partition: &str,
    ) -> anyhow::Result<Mix> {
        check_bodies(bodies)?;
        let order = match mix {
            Some(names) => names
                .iter()
                .map(|name| lookup(name.trim(), bodies))
                .collect::<anyhow::Result<Vec<_>>>()?,
            None if bodies.is_empty() => QueryKind::ALL.map(MixKind::Builtin).to_vec(),
            None => (0..bodies.len()).map(MixKind::Body).collect(),
        };
        if order.is_empty() {
            bail!("--mix names no query kind");
        }
        let bodies = bodies
            .iter()
            .map(|body| (body.name.clone(), body.request(partition)))
            .collect();
        Ok(Mix { order, bodies })
    }

    /// The kind of query `n`: the mix, round-robin.
    pub fn kind(&self, n: u64) -> MixKind {
        self.order[(n % self.order.len() as u64) as usize]
    }

    pub fn name(&self, kind: MixKind) -> &str {
        match kind {
            MixKind::Builtin(kind) => kind.name(),
            MixKind::Body(index) => &self.bodies[index].0,
        }
    }

    pub fn kind_name(&self, kind: MixKind) -> KindName {
        KindName(self.name(kind).to_string())
    }

    /// The names of the mix in round-robin order, as `--mix` would list
    /// them (for the report's configuration).
    pub fn names(&self) -> Vec<String> {
        self.order
            .iter()
            .map(|&kind| self.name(kind).to_string())
            .collect()
    }

    /// The body of query `n`, of kind `kind`. `line` is scratch space.
    pub fn request(
        &self,
        kind: MixKind,
        n: u64,
        questions: &Questions,
        line: &mut LogLine,
    ) -> Request<'_> {
        match kind {
            MixKind::Builtin(kind) => Request::Made(questions.body(kind, n, line)),
            MixKind::Body(index) => Request::Given(&self.bodies[index].1),
        }
    }
}

/// Bodies are few and their names unique (a name is a row of the report).
/// Names were checked one by one when parsed ([`CustomBody::parse`]).
fn check_bodies(bodies: &[CustomBody]) -> anyhow::Result<()> {
    if bodies.len() > BODY_COUNT_MAX {
        bail!(
            "{} --body options given; at most {BODY_COUNT_MAX} are supported",
            bodies.len()
        );
    }
    for (index, body) in bodies.iter().enumerate() {
        if bodies[..index].iter().any(|b| b.name == body.name) {
            bail!(
                "--body {} is given twice; give each body its own name",
                body.name
            );
        }
    }
    Ok(())
}

/// The kind `--mix` calls `name`: a built-in kind, else a `--body`.
fn lookup(name: &str, bodies: &[CustomBody]) -> anyhow::Result<MixKind> {
    if let Some(kind) = QueryKind::from_name(name) {
        return Ok(MixKind::Builtin(kind));
    }
    if let Some(index) = bodies.iter().position(|body| body.name == name) {
        return Ok(MixKind::Body(index));
    }
    let names: Vec<&str> = bodies.iter().map(|body| body.name.as_str()).collect();
    let custom = if names.is_empty() {
        String::new()
    } else {
        format!(", or a --body name: {}", names.join(", "))
    };
    bail!(
        "--mix: unknown query kind {name:?} (use needle, level, tag, range, count, regex{custom})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(texts: &[&str]) -> Vec<CustomBody> {
        texts
            .iter()
            .map(|text| CustomBody::parse(text).unwrap())
            .collect()
    }

    fn names(list: &str) -> Vec<String> {
        list.split(',').map(str::to_string).collect()
    }

    #[test]
    fn without_mix_the_mix_is_the_built_ins_or_else_the_bodies() {
        let mix = Mix::new(None, &[], "p").unwrap();
        assert_eq!(
            mix.names(),
            ["needle", "level", "tag", "range", "count", "regex"]
        );
        let given = bodies(&[r#"zeta={"q":"z"}"#, r#"alpha={"q":"a"}"#]);
        let mix = Mix::new(None, &given, "p").unwrap();
        assert_eq!(mix.names(), ["zeta", "alpha"]);
        assert_eq!(mix.kind(0), MixKind::Body(0));
        assert_eq!(mix.kind(3), MixKind::Body(1));
    }

    #[test]
    fn mix_names_bodies_and_built_ins_together() {
        let given = bodies(&[
            r#"rare={"q":"zebracorn"}"#,
            r#"all={"q":"SELECT * FROM w"}"#,
        ]);
        let mix = Mix::new(Some(&names("rare, count,all,rare")), &given, "web").unwrap();
        assert_eq!(mix.names(), ["rare", "count", "all", "rare"]);
        assert_eq!(mix.kind(1), MixKind::Builtin(QueryKind::Count));
        assert_eq!(mix.kind_name(mix.kind(6)).name(), "all");
        // Built-in kinds sort first in the report, bodies in the order given.
        assert!(MixKind::Builtin(QueryKind::Regex) < MixKind::Body(0));
        assert!(MixKind::Body(0) < MixKind::Body(1));
        let mut line = LogLine::new();
        let questions = Questions {
            partition: "web".into(),
            generator: crate::workload::Generator::new(Default::default()),
            lines: 1000,
            seed: 1,
            window: std::time::Duration::from_secs(1),
            base_ns: Some(0),
        };
        let rare = mix.request(MixKind::Body(0), 5, &questions, &mut line);
        let rare_bytes = br#"{"partitions":["web"],"q":"zebracorn"}"#;
        assert_eq!(rare, Request::Given(rare_bytes));
        let all = mix.request(MixKind::Body(1), 5, &questions, &mut line);
        assert_eq!(all, Request::Given(br#"{"q":"SELECT * FROM w"}"#));
        let count = mix.request(MixKind::Builtin(QueryKind::Count), 5, &questions, &mut line);
        let Request::Made(count) = count else {
            panic!("{count:?}");
        };
        assert!(count["q"].as_str().unwrap().contains("GROUP BY level"));
    }

    #[test]
    fn bad_mixes_and_bodies_are_refused() {
        let error = |mix: Option<&str>, texts: &[&str]| {
            let names = mix.map(names);
            Mix::new(names.as_deref(), &bodies(texts), "p")
                .unwrap_err()
                .to_string()
        };
        let twice = error(None, &[r#"a={"q":"x"}"#, r#"a={"q":"y"}"#]);
        assert_eq!(
            twice,
            "--body a is given twice; give each body its own name"
        );
        let unknown = error(Some("needle,b"), &[r#"a={"q":"x"}"#]);
        assert!(unknown.contains(r#"unknown query kind "b""#), "{unknown}");
        assert!(unknown.contains("or a --body name: a"), "{unknown}");
        let unknown = error(Some("grep"), &[]);
        assert!(unknown.ends_with("count, regex)"), "{unknown}");
        let many: Vec<String> = (0..=BODY_COUNT_MAX).map(|i| format!("b{i}={{}}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(error(None, &many).contains("at most 64"));
        assert!(Mix::new(Some(&[]), &[], "p").is_err());
    }
}
