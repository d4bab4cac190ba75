//! The Loki query API that Grafana's Loki data source uses in Explore:
//! `query_range`, `query`, `labels`, `label/{name}/values`, `series` and
//! `status/buildinfo`, GET or POST (form-encoded), answered in Loki's exact
//! shapes. LogQL is parsed by `logql` and translated into the engine's own
//! query tree, which runs as any `q` does (compiled, started on every shard,
//! merged); this module only shapes requests and answers.
//!
//! Tenancy: a request's `X-Scope-OrgID` names the partition it reads;
//! without one, `loki.default_partition`. A partition that does not exist
//! answers empty results, as Loki does for an unknown tenant.
//!
//! Errors are Loki's: status 400 with a plain-text body (`parse error at
//! line 1, col N: ...` for LogQL), never the native JSON error shape.

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value as Json};

use super::query::percent_decode;
use crate::http::body::{read_limited, BodyLimit};
use crate::http::error::ApiError;
use crate::http::response::{json as json_response, text, HttpResponse};
use crate::logql::metric::{self, labels_json, sample_json, Labels, Window};
use crate::logql::translate::{self, LabelNames};
use crate::logql::{self, Grouping, LogSelector, Metric, Query};
use crate::query::aggregate::GROUPS_MAX;
use crate::query::lang::ast::{Expr, Field};
use crate::query::{FoundEntry, QuerySummary};
use crate::shard::ShardContext;
use engine::{run_counts, run_entries};

mod engine;

/// Form bodies are a query and a few numbers; this bounds what we buffer.
const FORM_BODY_BYTES_MAX: usize = 256 * 1024;
/// Entries read to find which labels exist (for `labels`, `series` and
/// per-stream metrics): the engine keeps no list of tag keys, so they are
/// learnt from the newest entries that match. Memory: one page of entries.
pub const LABEL_SAMPLE_ENTRIES_MAX: u64 = 5_000;
/// Loki's defaults: 100 entries, the last hour.
const LIMIT_DEFAULT: u64 = 100;
const SINCE_DEFAULT_NS: i64 = 3_600 * 1_000_000_000;
/// What `status/buildinfo` claims: a Loki whose API this matches, old
/// enough that Grafana does not ask for endpoints served only by Loki 3.
const LOKI_VERSION: &str = "2.9.0";

/// The Loki routes, as the router matched them.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    QueryRange,
    Query,
    Labels,
    LabelValues(&'a str),
    Series,
    BuildInfo,
}

/// A request Loki would refuse: its status and plain-text body.
pub(super) struct LokiError {
    status: StatusCode,
    message: String,
}

impl LokiError {
    fn bad(message: impl Into<String>) -> LokiError {
        LokiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> LokiError {
        LokiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    fn into_response(self) -> HttpResponse {
        let mut body = self.message;
        body.push('\n');
        text(self.status, "text/plain; charset=utf-8", body)
    }
}

impl From<ApiError> for LokiError {
    fn from(error: ApiError) -> LokiError {
        LokiError {
            status: error.kind.status(),
            message: error.message,
        }
    }
}

/// The request's parameters (URL and form body) and tenant.
struct Params {
    pairs: Vec<(String, String)>,
    partition: String,
    now_ns: i64,
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

pub async fn handle(
    ctx: &Rc<ShardContext>,
    request: Request<Incoming>,
    endpoint: Endpoint<'_>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let answer = match read_params(ctx, request).await {
        Ok(params) => answer(ctx, &params, endpoint, started).await,
        Err(error) => Err(error),
    };
    Ok(answer.unwrap_or_else(|error| {
        ctx.count(|c| c.http_errors += 1);
        error.into_response()
    }))
}

async fn answer(
    ctx: &Rc<ShardContext>,
    params: &Params,
    endpoint: Endpoint<'_>,
    started: Instant,
) -> Result<HttpResponse, LokiError> {
    let data = match endpoint {
        Endpoint::BuildInfo => return Ok(json_response(StatusCode::OK, &build_info())),
        Endpoint::QueryRange => query_range(ctx, params, started).await?,
        Endpoint::Query => instant_query(ctx, params, started).await?,
        Endpoint::Labels => label_names(ctx, params).await?,
        Endpoint::LabelValues(name) => {
            let name = percent_decode(name).ok_or_else(|| {
                LokiError::bad("the label name is not valid percent-encoded UTF-8")
            })?;
            label_values(ctx, params, &name).await?
        }
        Endpoint::Series => series(ctx, params).await?,
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"status": "success", "data": data}),
    ))
}

fn build_info() -> Json {
    json!({
        "version": LOKI_VERSION,
        "revision": concat!("timberdb-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })
}

async fn read_params(ctx: &ShardContext, request: Request<Incoming>) -> Result<Params, LokiError> {
    let mut pairs = parse_form(request.uri().query().unwrap_or("")).map_err(LokiError::bad)?;
    let partition = request
        .headers()
        .get("x-scope-orgid")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|tenant| !tenant.is_empty())
        .unwrap_or(&ctx.config.loki.default_partition)
        .to_string();
    crate::http::auth::Access::of(&request)
        .require_partition(crate::auth::Role::Query, &partition)?;
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::POST && is_form {
        let body = read_limited(
            request,
            BodyLimit {
                bytes: FORM_BODY_BYTES_MAX,
                name: "the form body limit",
            },
        )
        .await?;
        let body =
            std::str::from_utf8(&body).map_err(|_| LokiError::bad("the form body is not UTF-8"))?;
        pairs.extend(parse_form(body).map_err(LokiError::bad)?);
    }
    Ok(Params {
        pairs,
        partition,
        now_ns: now_ns(),
    })
}

/// `a=1&b=2` with `%XX` and `+` decoded.
pub(super) fn parse_form(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                percent_decode(part)
                    .ok_or_else(|| format!("parameter {name:?}: bad percent-encoding or not UTF-8"))
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn label_names_of(ctx: &ShardContext) -> LabelNames {
    let mapping = &ctx.config.loki.mapping;
    let or = |name: &str, fallback: &str| if name.is_empty() { fallback } else { name }.to_string();
    LabelNames {
        source: or(&mapping.source, "source"),
        level: or(&mapping.level, "level"),
    }
}

// ---------------------------------------------------------------- queries

async fn query_range(
    ctx: &Rc<ShardContext>,
    params: &Params,
    started: Instant,
) -> Result<Json, LokiError> {
    let query = parse_logql(params)?;
    let (start_ns, end_ns) = time_range(params)?;
    match query {
        Query::Literal { value, .. } => {
            let step_ns = step(params, start_ns, end_ns)?;
            Ok(literal_matrix(value, start_ns, end_ns, step_ns))
        }
        Query::Logs(selector) => streams(ctx, params, &selector, start_ns, end_ns, started).await,
        Query::Metric(metric) => {
            let window = Window {
                start_ns,
                end_ns,
                step_ns: step(params, start_ns, end_ns)?,
                range_ns: metric.range.range_ns,
            };
            let series = metric_series(ctx, params, &metric, &window).await?;
            let result: Vec<Json> = series
                .into_iter()
                .filter(|(_, points)| !points.is_empty())
                .map(|(labels, points)| {
                    let values: Vec<Json> =
                        points.iter().map(|(t, v)| sample_json(*t, *v)).collect();
                    json!({"metric": labels_json(&labels), "values": values})
                })
                .collect();
            Ok(json!({"resultType": "matrix", "result": result, "stats": stats(None, started)}))
        }
    }
}

async fn instant_query(
    ctx: &Rc<ShardContext>,
    params: &Params,
    started: Instant,
) -> Result<Json, LokiError> {
    let query = parse_logql(params)?;
    let time_ns = match params.get("time") {
        Some(text) => timestamp("time", text)?,
        None => params.now_ns,
    };
    match query {
        Query::Literal { value, is_vector: true } => Ok(json!({
            "resultType": "vector",
            "result": [{"metric": {}, "value": sample_json(time_ns, value)}],
            "stats": stats(None, started),
        })),
        Query::Literal { value, .. } => Ok(json!({
            "resultType": "scalar",
            "result": sample_json(time_ns, value),
            "stats": stats(None, started),
        })),
        Query::Logs(_) => Err(LokiError::bad(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
        Query::Metric(metric) => {
            let window = Window {
                start_ns: time_ns,
                end_ns: time_ns,
                step_ns: instant_grid_ns(metric.range.range_ns),
                range_ns: metric.range.range_ns,
            };
            let series = metric_series(ctx, params, &metric, &window).await?;
            let result: Vec<Json> = series
                .into_iter()
                .filter_map(|(labels, points)| {
                    let (t, v) = *points.first()?;
                    Some(json!({"metric": labels_json(&labels), "value": sample_json(t, v)}))
                })
                .collect();
            Ok(json!({"resultType": "vector", "result": result, "stats": stats(None, started)}))
        }
    }
}

/// The step an instant query's window is bucketed by: coarse enough to
/// stay within the bucket limit, fine enough that rounding the evaluation
/// time down to it moves the window little.
fn instant_grid_ns(range_ns: i64) -> i64 {
    const CANDIDATES_NS: [i64; 3] = [1_000_000_000, 60_000_000_000, 3_600_000_000_000];
    CANDIDATES_NS
        .into_iter()
        .find(|grid| range_ns % grid == 0 && range_ns / grid <= 10_000)
        .unwrap_or(range_ns)
}

fn parse_logql(params: &Params) -> Result<Query, LokiError> {
    let text = params
        .get("query")
        .ok_or_else(|| LokiError::bad("parse error : the query parameter is missing"))?;
    logql::parse(text).map_err(|error| LokiError::bad(error.to_string()))
}

/// A log query's answer: entries grouped into streams by label set.
async fn streams(
    ctx: &Rc<ShardContext>,
    params: &Params,
    selector: &LogSelector,
    start_ns: i64,
    end_ns: i64,
    started: Instant,
) -> Result<Json, LokiError> {
    let limit = limit(ctx, params)?;
    let descending = match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => true,
        Some("forward") => false,
        Some(other) => {
            return Err(LokiError::bad(format!(
                "invalid direction {other:?}: use backward or forward"
            )))
        }
    };
    let names = label_names_of(ctx);
    let filter = Expr::and(vec![
        translate::time_expr(start_ns, end_ns),
        translate::selector_expr(selector, &names),
    ]);
    let statement = translate::entries_statement(&params.partition, filter, limit, descending);
    let (entries, summary) = run_entries(ctx, &params.partition, &statement).await?;
    let mut groups: Vec<(Labels, Vec<Json>)> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let returned_count = entries.len();
    for entry in entries {
        let labels = entry_labels(&entry, &names);
        let slot = *index.entry(labels.clone()).or_insert_with(|| {
            groups.push((labels, Vec::new()));
            groups.len() - 1
        });
        groups[slot]
            .1
            .push(json!([entry.timestamp_ns.to_string(), entry.message]));
    }
    let result: Vec<Json> = groups
        .into_iter()
        .map(|(labels, values)| json!({"stream": labels_json(&labels), "values": values}))
        .collect();
    let mut stats = stats(summary.as_ref(), started);
    stats["summary"]["totalEntriesReturned"] = json!(returned_count);
    Ok(json!({"resultType": "streams", "result": result, "stats": stats}))
}

/// An entry's stream labels: its tags, with the source and level under
/// their labels (these replace same-named tags, so an entry pushed through
/// Loki shows the values it is filtered by).
fn entry_labels(entry: &FoundEntry, names: &LabelNames) -> Labels {
    let mut labels: Labels = entry
        .tags
        .iter()
        .filter(|(key, _)| names.is_plain_tag(key))
        .cloned()
        .collect();
    if !entry.source.is_empty() {
        labels.push((names.source.clone(), entry.source.clone()));
    }
    if !entry.level.as_str().is_empty() {
        labels.push((names.level.clone(), entry.level.as_str().to_string()));
    }
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// A metric query's series, each with its points in time order.
async fn metric_series(
    ctx: &Rc<ShardContext>,
    params: &Params,
    metric: &Metric,
    window: &Window,
) -> Result<Vec<(Labels, Vec<(i64, f64)>)>, LokiError> {
    window.check().map_err(LokiError::bad)?;
    let names = label_names_of(ctx);
    let (read_start_ns, read_end_ns) = window.read_span();
    let filter = Expr::and(vec![
        translate::time_expr(read_start_ns, read_end_ns),
        translate::selector_expr(&metric.range.selector, &names),
    ]);
    let keys = match &metric.sum {
        Some(Grouping::All) => Vec::new(),
        Some(Grouping::By(labels)) => labels
            .iter()
            .map(|label| (names.field_of(label), label.clone()))
            .collect(),
        Some(Grouping::Without(dropped)) => {
            let dropped: Vec<Field> = dropped.iter().map(|l| names.field_of(l)).collect();
            discover_keys(ctx, params, &filter)
                .await?
                .into_iter()
                .filter(|(field, _)| !dropped.contains(field))
                .collect()
        }
        None => discover_keys(ctx, params, &filter).await?,
    };
    let mut keys = keys;
    keys.dedup_by(|a, b| a.0 == b.0);
    let fields: Vec<Field> = keys.iter().map(|(field, _)| field.clone()).collect();
    let labels: Vec<String> = keys.into_iter().map(|(_, label)| label).collect();
    let statement = translate::counts_statement(
        &params.partition,
        filter,
        Some(window.bucket_ns()),
        &fields,
        groups_limit(ctx),
    );
    let rows = run_counts(ctx, &params.partition, &statement).await?;
    let series = metric::collect_series(&rows, &labels);
    Ok(series
        .into_iter()
        .map(|(labels, buckets)| {
            let points = metric::points(&buckets, window, metric.range.function);
            (labels, points)
        })
        .collect())
}

/// Which labels the entries matching `filter` have, learnt from the newest
/// `LABEL_SAMPLE_ENTRIES_MAX` of them: each as the field to group by and
/// its label name, sorted by label.
async fn discover_keys(
    ctx: &Rc<ShardContext>,
    params: &Params,
    filter: &Expr,
) -> Result<Vec<(Field, String)>, LokiError> {
    let names = label_names_of(ctx);
    let statement = translate::entries_statement(
        &params.partition,
        filter.clone(),
        LABEL_SAMPLE_ENTRIES_MAX,
        true,
    );
    let (entries, _) = run_entries(ctx, &params.partition, &statement).await?;
    let mut keys: Vec<(Field, String)> = Vec::new();
    for entry in &entries {
        for (label, _) in entry_labels(entry, &names) {
            if !keys.iter().any(|(_, known)| *known == label) {
                keys.push((names.field_of(&label), label));
            }
        }
    }
    keys.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(keys)
}

/// A literal over a range: one unlabelled series, the value at every step
/// (Loki answers `1+1` and `vector(1)+vector(1)` the same way there).
fn literal_matrix(value: f64, start_ns: i64, end_ns: i64, step_ns: i64) -> Json {
    let mut values = Vec::new();
    let mut t = start_ns;
    while t <= end_ns && values.len() < metric::POINTS_PER_SERIES_MAX as usize {
        values.push(sample_json(t, value));
        t = t.saturating_add(step_ns);
    }
    json!({"resultType": "matrix", "result": [{"metric": {}, "values": values}]})
}

// ----------------------------------------------------------- label routes

/// The filter of a label route: the time range and, when given, the
/// `query` selector.
fn label_filter(params: &Params, names: &LabelNames) -> Result<Expr, LokiError> {
    let (start_ns, end_ns) = label_time_range(params)?;
    let mut all = vec![translate::time_expr(start_ns, end_ns)];
    if let Some(text) = params.get("query").filter(|q| !q.trim().is_empty()) {
        match logql::parse(text).map_err(|e| LokiError::bad(e.to_string()))? {
            Query::Logs(selector) => all.push(translate::selector_expr(&selector, names)),
            _ => {
                return Err(LokiError::bad(
                    "the query parameter must be a log selector such as {app=\"x\"}",
                ))
            }
        }
    }
    Ok(Expr::and(all))
}

async fn label_names(ctx: &Rc<ShardContext>, params: &Params) -> Result<Json, LokiError> {
    let filter = label_filter(params, &label_names_of(ctx))?;
    let keys = discover_keys(ctx, params, &filter).await?;
    let names: Vec<String> = keys.into_iter().map(|(_, label)| label).collect();
    Ok(json!(names))
}

async fn label_values(
    ctx: &Rc<ShardContext>,
    params: &Params,
    name: &str,
) -> Result<Json, LokiError> {
    let names = label_names_of(ctx);
    let filter = label_filter(params, &names)?;
    let field = names.field_of(name);
    if matches!(field, Field::Tag(ref key) if key.is_empty()) {
        return Err(LokiError::bad("the label name is empty"));
    }
    let statement =
        translate::counts_statement(&params.partition, filter, None, &[field], groups_limit(ctx));
    let rows = run_counts(ctx, &params.partition, &statement).await?;
    let mut values: Vec<String> = rows
        .iter()
        .filter_map(|row| match row.first()? {
            Json::String(text) if !text.is_empty() => Some(text.clone()),
            Json::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .collect();
    values.sort();
    values.dedup();
    Ok(json!(values))
}

async fn series(ctx: &Rc<ShardContext>, params: &Params) -> Result<Json, LokiError> {
    let names = label_names_of(ctx);
    let (start_ns, end_ns) = label_time_range(params)?;
    let mut selectors: Vec<Option<LogSelector>> = Vec::new();
    for text in params.all("match[]").chain(params.all("match")) {
        match logql::parse(text).map_err(|e| LokiError::bad(e.to_string()))? {
            Query::Logs(selector) => selectors.push(Some(selector)),
            _ => {
                return Err(LokiError::bad(
                    "match[] must be a log selector such as {app=\"x\"}",
                ))
            }
        }
    }
    if selectors.is_empty() {
        selectors.push(None);
    }
    let mut all: Vec<Labels> = Vec::new();
    for selector in selectors {
        let mut parts = vec![translate::time_expr(start_ns, end_ns)];
        if let Some(selector) = &selector {
            parts.push(translate::selector_expr(selector, &names));
        }
        let filter = Expr::and(parts);
        let keys = discover_keys(ctx, params, &filter).await?;
        let fields: Vec<Field> = keys.iter().map(|(field, _)| field.clone()).collect();
        let labels: Vec<String> = keys.into_iter().map(|(_, label)| label).collect();
        let statement = translate::counts_statement(
            &params.partition,
            filter,
            None,
            &fields,
            groups_limit(ctx),
        );
        for row in run_counts(ctx, &params.partition, &statement).await? {
            let set = metric::row_labels(&row[..row.len().saturating_sub(1)], &labels);
            if !set.is_empty() {
                all.push(set);
            }
        }
    }
    all.sort();
    all.dedup();
    Ok(Json::Array(all.iter().map(labels_json).collect()))
}

// ------------------------------------------------------------- parameters

/// `start`/`end` (or `since`) of a query: Loki's defaults are the hour
/// before now.
fn time_range(params: &Params) -> Result<(i64, i64), LokiError> {
    let end_ns = match params.get("end") {
        Some(text) => timestamp("end", text)?,
        None => params.now_ns,
    };
    let start_ns = match (params.get("start"), params.get("since")) {
        (Some(text), _) => timestamp("start", text)?,
        (None, Some(since)) => {
            let since_ns = logql::duration::parse_duration_ns(since)
                .map_err(|e| LokiError::bad(format!("invalid parameter \"since\": {e}")))?;
            end_ns.saturating_sub(since_ns)
        }
        (None, None) => end_ns.saturating_sub(SINCE_DEFAULT_NS),
    };
    if end_ns < start_ns {
        return Err(LokiError::bad(
            "the end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start_ns, end_ns))
}

/// Label routes default to the last six hours, as Loki's do.
fn label_time_range(params: &Params) -> Result<(i64, i64), LokiError> {
    const LABELS_SINCE_DEFAULT_NS: i64 = 6 * SINCE_DEFAULT_NS;
    if params.get("start").is_none() && params.get("since").is_none() {
        let end_ns = match params.get("end") {
            Some(text) => timestamp("end", text)?,
            None => params.now_ns,
        };
        return Ok((end_ns.saturating_sub(LABELS_SINCE_DEFAULT_NS), end_ns));
    }
    time_range(params)
}

/// Nanoseconds, seconds with a fraction, or RFC 3339.
fn timestamp(name: &str, text: &str) -> Result<i64, LokiError> {
    crate::time::parse_timestamp_text(text.trim()).map_err(|_| {
        LokiError::bad(format!(
            "invalid parameter {name:?}: cannot parse {text:?} to a valid timestamp"
        ))
    })
}

/// `step` (a duration or seconds); Loki's default gives about 250 points.
fn step(params: &Params, start_ns: i64, end_ns: i64) -> Result<i64, LokiError> {
    match params.get("step") {
        Some(text) => logql::duration::parse_step_ns(text.trim())
            .map_err(|e| LokiError::bad(format!("invalid parameter \"step\": {e}"))),
        None => {
            let seconds = ((end_ns - start_ns) / 1_000_000_000 / 250).max(1);
            Ok(seconds * 1_000_000_000)
        }
    }
}

fn limit(ctx: &ShardContext, params: &Params) -> Result<u64, LokiError> {
    let max = ctx.config.query.max_results as u64;
    let limit = match params.get("limit") {
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            LokiError::bad(format!(
                "invalid parameter \"limit\": {text:?} is not a whole number"
            ))
        })?,
        None => LIMIT_DEFAULT,
    };
    if limit == 0 {
        return Err(LokiError::bad("limit must be a positive value"));
    }
    if limit > max {
        return Err(LokiError::bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {max})"
        )));
    }
    Ok(limit)
}

fn groups_limit(ctx: &ShardContext) -> u64 {
    (GROUPS_MAX as u64).min(ctx.config.query.max_results as u64)
}

fn stats(summary: Option<&QuerySummary>, started: Instant) -> Json {
    let lines = summary.map_or(0, |s| s.stats.entries_scanned);
    let exec_seconds = started.elapsed().as_secs_f64();
    json!({
        "summary": {
            "bytesProcessedPerSecond": 0,
            "linesProcessedPerSecond": if exec_seconds > 0.0 { (lines as f64 / exec_seconds) as u64 } else { 0 },
            "totalBytesProcessed": 0,
            "totalLinesProcessed": lines,
            "execTime": exec_seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": 0,
            "splits": 0,
            "shards": summary.map_or(0, |s| s.shards),
        },
        "querier": {"store": {}},
        "ingester": {},
        "cache": {},
    })
}
