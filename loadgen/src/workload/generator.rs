//! The seeded generator: line `index` is a pure function of
//! (seed, line_bytes, index). See the `workload` module docs for the
//! distributions and the size model.

use super::catalog::{
    Class, ServiceSpec, PROD_REGIONS, SERVICES, SHARED_TEMPLATES, STAGING_REGION,
};
use super::padding::{Budget, Padding};
use super::rng::{mix, Rng, WeightedIndex};
use super::stack::push_stack_trace;
use super::template::{
    self, escaped_len, hex16, is_clean, push_hex, Recorded, Route, Scene, Template,
    USER_TEXT_BYTES_MAX,
};
use crate::line::{decimal_len, Level, LogLine};

/// The default average size of a line, as native NDJSON.
pub const LINE_BYTES_DEFAULT: usize = 240;

/// Line sizes between these bounds are met within ±10% on average; outside
/// them lines are still generated, but smaller targets cannot drop below the
/// bare minimum of a line (about 100 bytes) and larger ones are padded
/// with ever more batch items.
pub const LINE_BYTES_ACCURATE_MIN: usize = 120;
pub const LINE_BYTES_ACCURATE_MAX: usize = 4096;
/// The largest `line_bytes` accepted: TimberDB's limit on one message
/// (`MESSAGE_BYTES_MAX`, 1 MiB). Callers validate user input against it;
/// `Generator::new` asserts it.
pub const LINE_BYTES_MAX: usize = 1024 * 1024;

/// Every `NEEDLE_PERIOD`-th line (those with `index % NEEDLE_PERIOD == 0`)
/// ends its first message line with ` needle-<16 hex>`, the word
/// `Generator::needle_word(index / NEEDLE_PERIOD)`. Each needle word is in
/// exactly one line, and no other line contains the text `needle`.
pub const NEEDLE_PERIOD: u64 = 100_000;

/// Level shares in lines per 10 000: trace 1.5%, debug 15%, info 70%,
/// warn 8%, error 5%, fatal 0.5%.
pub const LEVEL_SHARES_PER_10K: [(Level, u64); 6] = [
    (Level::Trace, 150),
    (Level::Debug, 1_500),
    (Level::Info, 7_000),
    (Level::Warn, 800),
    (Level::Error, 500),
    (Level::Fatal, 50),
];
const _: () = {
    let mut sum = 0;
    let mut index = 0;
    while index < LEVEL_SHARES_PER_10K.len() {
        sum += LEVEL_SHARES_PER_10K[index].1;
        index += 1;
    }
    assert!(sum == 10_000);
};

/// Chance, per 10 000 lines of the level, of a stack trace: half of the
/// fatal lines and a twentieth of the errors, 0.5% of all lines overall.
const STACK_TRACE_FATAL_PER_10K: u64 = 5_000;
const STACK_TRACE_ERROR_PER_10K: u64 = 500;

/// Chance of a `user_id` tag on lines whose message names no user.
const USER_TAG_PER_10K: u64 = 2_000;

/// Templates rendered before accepting one longer than the line's target.
/// The choice already favours templates that typically fit; retries catch
/// the renderings that came out long.
const MESSAGE_ATTEMPTS_MAX: usize = 3;

/// Per-line targets vary by up to this fraction either side of
/// `line_bytes` (a triangular distribution), so sizes spread like real logs.
const TARGET_SPREAD_MAX: f64 = 0.4;
/// Targets never spread below this, the size of a line with a short
/// message and a few tags; spreading lower would only overshoot.
const TARGET_FLOOR_BYTES: f64 = 125.0;

/// The length of a nanosecond timestamp from 2001-09-09 to 2286-11-20,
/// which the size model assumes.
const TIMESTAMP_DIGITS: usize = 19;

/// Salts keeping the generator's derived streams apart.
const HOST_SALT: u64 = 0x686f_7374;
const NEEDLE_SALT: u64 = 0x6e65_6564_6c65;

/// The generator's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Same seed, same lines.
    pub seed: u64,
    /// Average size of a line encoded as native NDJSON (newline included).
    pub line_bytes: usize,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            line_bytes: LINE_BYTES_DEFAULT,
        }
    }
}

/// Generates line `index` on demand. Immutable after `new`, so it is
/// `Send + Sync` (checked below) and threads can fill disjoint index ranges
/// from one shared generator.
pub struct Generator {
    config: GeneratorConfig,
    /// `TARGET_SPREAD_MAX`, reduced so targets stay above the floor.
    target_spread: f64,
    /// Key of the needle-word bijection.
    needle_key: u64,
    services: Vec<Service>,
    service_weights: WeightedIndex,
    /// Every parsed template; `Service::by_class` indexes into it.
    templates: Vec<Template>,
    padding: Padding,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Generator>();
};

struct Service {
    spec: &'static ServiceSpec,
    routes: Vec<Route>,
    hosts: Vec<Host>,
    /// Per `Class::index`: indices into `Generator::templates`.
    by_class: [Choice; 4],
}

/// A weighted choice among a service's templates of one class, sorted by
/// their typical size so the ones that fit a line are a prefix.
struct Choice {
    /// Indices into `Generator::templates`, shortest typical size first.
    templates: Vec<usize>,
    /// Mean rendered size in the message, escapes included, per template.
    typical_bytes: Vec<usize>,
    weights: WeightedIndex,
}

impl Choice {
    fn new(mut options: Vec<(usize, u32, usize)>) -> Choice {
        options.sort_by_key(|&(_, _, typical_bytes)| typical_bytes);
        Choice {
            templates: options.iter().map(|o| o.0).collect(),
            weights: WeightedIndex::new(options.iter().map(|o| o.1)),
            typical_bytes: options.iter().map(|o| o.2).collect(),
        }
    }

    /// Picks by weight among the templates whose typical rendering fits
    /// `bytes_max`, or the shortest template if none does. This is what
    /// lets small line targets be met: they draw from the short templates.
    fn pick(&self, rng: &mut Rng, bytes_max: usize) -> usize {
        let fitting = self
            .typical_bytes
            .partition_point(|&bytes| bytes <= bytes_max);
        self.templates[self.weights.pick_among_first(rng, fitting.max(1))]
    }
}

/// One pod; its environment and region never change.
struct Host {
    name: String,
    env: &'static str,
    region: &'static str,
}

impl Generator {
    /// Parses the catalog and names the hosts: about a millisecond.
    /// Panics if `config.line_bytes` exceeds `LINE_BYTES_MAX`.
    pub fn new(config: GeneratorConfig) -> Self {
        assert!(
            config.line_bytes <= LINE_BYTES_MAX,
            "line_bytes {} is over LINE_BYTES_MAX; validate it before building a generator",
            config.line_bytes
        );
        let line_bytes = config.line_bytes as f64;
        let target_spread =
            ((line_bytes - TARGET_FLOOR_BYTES) / line_bytes).clamp(0.0, TARGET_SPREAD_MAX);
        let mut templates = Vec::new();
        let shared: Vec<_> = SHARED_TEMPLATES
            .iter()
            .map(|&(class, weight, text)| (class, weight, add_template(&mut templates, text)))
            .collect();
        let services: Vec<Service> = SERVICES
            .iter()
            .enumerate()
            .map(|(number, spec)| {
                let routes: Vec<Route> = spec.routes.iter().map(|&path| Route::new(path)).collect();
                Service {
                    spec,
                    hosts: hosts(config.seed, number as u64, spec),
                    by_class: classify(spec, &routes, &shared, &mut templates),
                    routes,
                }
            })
            .collect();
        Generator {
            config,
            target_spread,
            needle_key: mix(config.seed ^ NEEDLE_SALT),
            service_weights: WeightedIndex::new(services.iter().map(|s| s.spec.weight)),
            services,
            templates,
            padding: Padding::new(parse_catalog_template),
        }
    }

    pub fn config(&self) -> GeneratorConfig {
        self.config
    }

    /// Overwrites `line` (all but its timestamp) with line `index`.
    pub fn fill(&self, index: u64, line: &mut LogLine) {
        self.fill_sized(index, line);
    }

    /// The needle word of needle line `k` (line `k * NEEDLE_PERIOD`):
    /// `needle-` and 16 hex digits, distinct for every `k` under one seed.
    /// It depends on the seed only, so a query client can name the needles
    /// of a load without knowing its `line_bytes`.
    pub fn needle_word(&self, k: u64) -> String {
        let mut word = String::with_capacity(23);
        push_needle_word(&mut word, self.needle_key, k);
        word
    }

    /// The indices of the needle lines in `range`, in order.
    pub fn needle_lines(
        &self,
        range: std::ops::Range<u64>,
    ) -> impl Iterator<Item = u64> + Send + 'static {
        let first = range.start.div_ceil(NEEDLE_PERIOD);
        (first..)
            .map_while(|k| k.checked_mul(NEEDLE_PERIOD))
            .take_while(move |&index| index < range.end)
    }

    /// `fill`, returning the native NDJSON size the line was built to
    /// (tests hold it to the encoder's actual output).
    pub(crate) fn fill_sized(&self, index: u64, line: &mut LogLine) -> usize {
        line.clear();
        let mut rng = Rng::for_line(self.config.seed, index);
        let service = &self.services[self.service_weights.pick(&mut rng)];
        let host = rng.pick_ref(&service.hosts);
        let level = pick_level(&mut rng);
        line.level = level;
        line.source.push_str(service.spec.name);
        let mut budget = Budget {
            target: self.line_target(&mut rng),
            used: bare_line_bytes(level, service.spec.name),
        };
        let recorded = self.push_message(&mut rng, service, level, line, &mut budget);
        if index % NEEDLE_PERIOD == 0 {
            let start = line.message.len();
            line.message.push(' ');
            push_needle_word(&mut line.message, self.needle_key, index / NEEDLE_PERIOD);
            budget.used += escaped_len(&line.message[start..]);
        }
        let traced = rng.chance(match level {
            Level::Fatal => STACK_TRACE_FATAL_PER_10K,
            Level::Error => STACK_TRACE_ERROR_PER_10K,
            _ => 0,
        });
        push_tags_and_fields(&mut rng, service, host, &recorded, line, &mut budget);
        if traced {
            // After the tags, so a long trace does not crowd them out; and
            // instead of padding, which would land after the last frame.
            let start = line.message.len();
            push_stack_trace(&mut line.message, &mut rng, service.spec.stack);
            budget.used += escaped_len(&line.message[start..]);
        } else {
            let scene = Scene {
                level,
                routes: &service.routes,
            };
            self.padding.pad(&mut rng, &scene, line, &mut budget);
        }
        budget.used
    }

    fn line_target(&self, rng: &mut Rng) -> usize {
        let triangular = rng.unit() + rng.unit() - 1.0;
        let target = self.config.line_bytes as f64 * (1.0 + self.target_spread * triangular);
        target.round() as usize
    }

    /// Renders a template of the level's class into the message, retrying
    /// (up to `MESSAGE_ATTEMPTS_MAX`) while it overshoots the target.
    fn push_message(
        &self,
        rng: &mut Rng,
        service: &Service,
        level: Level,
        line: &mut LogLine,
        budget: &mut Budget,
    ) -> Recorded {
        let choice = &service.by_class[class_of(level).index()];
        let scene = Scene {
            level,
            routes: &service.routes,
        };
        let mut recorded = Recorded::default();
        for attempt in 1..=MESSAGE_ATTEMPTS_MAX {
            line.message.clear();
            recorded = Recorded::default();
            let template = choice.pick(rng, budget.target.saturating_sub(budget.used));
            let template = &self.templates[template];
            template.render(&scene, rng, &mut line.message, &mut recorded);
            let cost = template.escaped_len(&line.message);
            if budget.fits(cost) || attempt == MESSAGE_ATTEMPTS_MAX {
                budget.used += cost;
                break;
            }
        }
        recorded
    }
}

/// Tags and fields, most important first, each only if it fits the target:
/// at small sizes a line keeps its host and environment and drops the rest.
fn push_tags_and_fields(
    rng: &mut Rng,
    service: &Service,
    host: &Host,
    recorded: &Recorded,
    line: &mut LogLine,
    budget: &mut Budget,
) {
    push_tag_if_fits(line, budget, "host", &host.name);
    push_tag_if_fits(line, budget, "env", host.env);
    if let Some(status) = recorded.status {
        let cost = field_bytes("status", decimal_len(u64::from(status)));
        if budget.fits(cost) {
            budget.used += cost;
            line.push_field_int("status", i64::from(status));
        }
    }
    if let Some(tenths) = recorded.duration_tenths_ms {
        // `write_f64` prints tenths / 10 as `<int>.<digit>`.
        let cost = field_bytes("duration_ms", decimal_len(tenths / 10) + 2);
        if budget.fits(cost) {
            budget.used += cost;
            line.push_field_float("duration_ms", tenths as f64 / 10.0);
        }
    }
    if let Some(bytes) = recorded.bytes {
        let cost = field_bytes("bytes", decimal_len(bytes));
        if budget.fits(cost) {
            budget.used += cost;
            line.push_field_int("bytes", bytes as i64);
        }
    }
    push_tag_if_fits(line, budget, "region", host.region);
    push_tag_if_fits(line, budget, "component", rng.pick(service.spec.components));
    let mut request_id = [0u8; 36];
    push_tag_if_fits(line, budget, "request_id", uuid_text(rng, &mut request_id));
    let user = match recorded.user_id {
        Some(user) => Some(user),
        None if rng.chance(USER_TAG_PER_10K) => Some(template::user_number(rng)),
        None => None,
    };
    if let Some(user) = user {
        let mut text = [0; USER_TEXT_BYTES_MAX];
        push_tag_if_fits(
            line,
            budget,
            "user_id",
            template::user_text(user, &mut text),
        );
    }
}

fn push_tag_if_fits(line: &mut LogLine, budget: &mut Budget, key: &str, value: &str) {
    // The first tag also opens and closes the `"tags":{...}` object.
    let separator = if line.tag_count() == 0 { 10 } else { 1 };
    // Keys and values come from the catalog or are generated ids, all
    // clean, so their JSON strings are their length plus quotes.
    debug_assert!(is_clean(key) && is_clean(value), "{key:?}: {value:?}");
    let cost = separator + key.len() + value.len() + 5;
    if budget.fits(cost) {
        budget.used += cost;
        line.push_tag(key, value);
    }
}

/// `,"key":` and the value's text.
fn field_bytes(key: &str, value_bytes: usize) -> usize {
    debug_assert!(is_clean(key));
    key.len() + 4 + value_bytes
}

/// The native NDJSON size of a line with an empty message and no tags or
/// fields: `{"timestamp":N,"level":"L","source":"S","message":""}\n`.
fn bare_line_bytes(level: Level, source: &str) -> usize {
    const SKELETON: &str = r#"{"timestamp":,"level":,"source":,"message":""}"#;
    // Quotes around the level and the source, and the newline.
    SKELETON.len() + TIMESTAMP_DIGITS + (level.as_str().len() + 2) + (source.len() + 2) + 1
}

fn pick_level(rng: &mut Rng) -> Level {
    let mut draw = rng.below(10_000);
    for (level, share) in LEVEL_SHARES_PER_10K {
        if draw < share {
            return level;
        }
        draw -= share;
    }
    unreachable!("LEVEL_SHARES_PER_10K sums to 10 000, checked at compile time")
}

fn class_of(level: Level) -> Class {
    match level {
        Level::Trace | Level::Debug => Class::Verbose,
        Level::Info => Class::Info,
        Level::Warn => Class::Warn,
        Level::Error | Level::Fatal => Class::Error,
    }
}

fn push_needle_word(out: &mut String, needle_key: u64, k: u64) {
    out.push_str("needle-");
    // `mix` is a bijection, so distinct `k` give distinct words.
    push_hex(out, mix(k ^ needle_key), 16);
}

/// A random UUID in version 4 layout (`8-4-4-4-12` hex), written into `buf`.
fn uuid_text<'a>(rng: &mut Rng, buf: &'a mut [u8; 36]) -> &'a str {
    let high = hex16(rng.next_u64());
    let low = rng.next_u64();
    let low_hex = hex16(low);
    buf[0..8].copy_from_slice(&high[0..8]);
    buf[9..13].copy_from_slice(&high[8..12]);
    // Version 4, then the RFC 4122 variant (top bits 10).
    buf[14] = b'4';
    buf[15..18].copy_from_slice(&high[13..16]);
    buf[19] = b"89ab"[(low >> 62) as usize];
    buf[20..23].copy_from_slice(&low_hex[1..4]);
    buf[24..36].copy_from_slice(&low_hex[4..16]);
    for dash in [8, 13, 18, 23] {
        buf[dash] = b'-';
    }
    std::str::from_utf8(buf).expect("ASCII hex and dashes")
}

fn add_template(templates: &mut Vec<Template>, text: &'static str) -> usize {
    templates.push(parse_catalog_template(text));
    templates.len() - 1
}

fn parse_catalog_template(text: &'static str) -> Template {
    Template::parse(text).unwrap_or_else(|error| {
        panic!("catalog template {text:?} is invalid ({error}); the catalog tests parse them all")
    })
}

/// The service's templates by class, each class with the shared ones too.
fn classify(
    spec: &ServiceSpec,
    routes: &[Route],
    shared: &[(Class, u32, usize)],
    templates: &mut Vec<Template>,
) -> [Choice; 4] {
    let own: Vec<_> = spec
        .templates
        .iter()
        .map(|&(class, weight, text)| (class, weight, add_template(templates, text)))
        .collect();
    Class::ALL.map(|class| {
        let options: Vec<(usize, u32, usize)> = own
            .iter()
            .chain(shared)
            .filter(|&&(c, _, _)| c == class)
            .map(|&(_, weight, template)| {
                (
                    template,
                    weight,
                    typical_bytes(&templates[template], routes, class),
                )
            })
            .collect();
        assert!(!options.is_empty(), "every class has shared templates");
        Choice::new(options)
    })
}

/// Renderings averaged by `typical_bytes`.
const TYPICAL_SAMPLES: u64 = 32;

/// The mean escaped size of the template's renderings for this service.
fn typical_bytes(template: &Template, routes: &[Route], class: Class) -> usize {
    let level = match class {
        Class::Verbose => Level::Debug,
        Class::Info => Level::Info,
        Class::Warn => Level::Warn,
        Class::Error => Level::Error,
    };
    let scene = Scene { level, routes };
    let mut text = String::new();
    let mut total = 0;
    for sample in 0..TYPICAL_SAMPLES {
        text.clear();
        let mut rng = Rng::for_line(0, sample);
        template.render(&scene, &mut rng, &mut text, &mut Recorded::default());
        total += escaped_len(&text);
    }
    total / TYPICAL_SAMPLES as usize
}

/// The service's pods, named like Kubernetes pods: `<service>-<hash>-<n>`,
/// with a new replica-set hash every 8 pods. The last tenth (at least one)
/// are staging; production pods take the regions round-robin.
fn hosts(seed: u64, service_number: u64, spec: &ServiceSpec) -> Vec<Host> {
    let staging_count = (spec.host_count / 10).max(1);
    (0..spec.host_count)
        .map(|number| {
            let replica_set =
                mix(seed ^ HOST_SALT ^ (service_number << 32) ^ u64::from(number / 8));
            let mut name = String::from(spec.name);
            name.push('-');
            push_hex(&mut name, replica_set, 5);
            name.push('-');
            template::push_u64(&mut name, u64::from(number % 8));
            let staging = number >= spec.host_count - staging_count;
            Host {
                name,
                env: if staging { "staging" } else { "prod" },
                region: if staging {
                    STAGING_REGION
                } else {
                    PROD_REGIONS[number as usize % PROD_REGIONS.len()]
                },
            }
        })
        .collect()
}
