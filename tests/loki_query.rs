//! The Loki query API against the real server: every route, label and line
//! filters, metric queries with their buckets, Grafana's health check, LogQL
//! errors, the tenant header, and `/select/logsql/query`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use common::{read_head, send_raw, Response, Server};
use serde_json::{json, Value};

/// A whole minute, so the tests' windows line up with the bucket grid.
const BASE_S: i64 = 1_700_000_040;
const NS: i64 = 1_000_000_000;

fn ns(offset_s: i64) -> String {
    ((BASE_S + offset_s) * NS).to_string()
}

/// 10 info lines from api/web-1, 3 errors from api/web-2, 2 warnings from
/// worker (env dev), and one line in tenant `team-a`'s partition.
fn server_with_logs() -> Server {
    let server = Server::start();
    server.create_partition("loki");
    server.create_partition("team-a");
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(
            json!({"timestamp": BASE_S + i * 10, "source": "api", "level": "info",
            "message": format!("GET /users 200 ok {i}"), "tags": {"env": "prod", "pod": "web-1"}}),
        );
    }
    for offset in [5, 65, 125] {
        lines.push(
            json!({"timestamp": BASE_S + offset, "source": "api", "level": "ERROR",
            "message": "Timeout talking to db", "tags": {"env": "prod", "pod": "web-2"}}),
        );
    }
    for offset in [30, 90] {
        lines.push(
            json!({"timestamp": BASE_S + offset, "source": "worker", "level": "warn",
            "message": "slow job", "tags": {"env": "dev"}}),
        );
    }
    let response = server.ingest_ndjson("loki", &lines);
    assert_eq!(response.status, 200, "{}", response.text());
    let response = server.ingest_ndjson(
        "team-a",
        &[json!({"timestamp": BASE_S, "source": "a", "message": "tenant line"})],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    server
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn url(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn get_ok(server: &Server, path: &str, params: &[(&str, &str)]) -> Value {
    let response = server.get(&url(path, params));
    assert_eq!(
        response.status,
        200,
        "{path} {params:?}: {}",
        response.text()
    );
    let body = response.json();
    assert_eq!(body["status"], "success", "{body}");
    body
}

/// `query_range` over the test data's whole span.
fn range(server: &Server, query: &str, extra: &[(&str, &str)]) -> Value {
    let (start, end) = (ns(0), ns(200));
    let mut params = vec![("query", query), ("start", &start), ("end", &end)];
    params.extend_from_slice(extra);
    get_ok(server, "/loki/api/v1/query_range", &params)["data"].clone()
}

/// Every line of a streams answer, with its stream's labels.
fn lines(data: &Value) -> Vec<(Value, String, String)> {
    assert_eq!(data["resultType"], "streams", "{data}");
    let mut out = Vec::new();
    for stream in data["result"].as_array().unwrap() {
        for value in stream["values"].as_array().unwrap() {
            out.push((
                stream["stream"].clone(),
                value[0].as_str().unwrap().to_string(),
                value[1].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn count(server: &Server, query: &str) -> usize {
    lines(&range(server, query, &[])).len()
}

#[test]
fn buildinfo_and_grafanas_health_check() {
    let server = Server::start();
    let info = server.get("/loki/api/v1/status/buildinfo").json();
    assert!(info["version"].as_str().unwrap().starts_with('2'), "{info}");
    let body = get_ok(
        &server,
        "/loki/api/v1/query",
        &[("query", "vector(1)+vector(1)"), ("time", "1700000000")],
    );
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {}, "value": [1700000000, "2"]}])
    );
    // POST, form-encoded, as Grafana may send it.
    let response = server.request(
        "POST",
        "/loki/api/v1/query",
        Some("application/x-www-form-urlencoded"),
        b"query=vector%281%29%2Bvector%281%29",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["data"]["result"][0]["value"][1], "2");
}

#[test]
fn query_range_groups_lines_into_streams() {
    let server = server_with_logs();
    let data = range(&server, r#"{service_name="api"}"#, &[("limit", "100")]);
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{data}");
    let all = lines(&data);
    assert_eq!(all.len(), 13);
    let errors: Vec<_> = all
        .iter()
        .filter(|(labels, _, _)| labels["pod"] == "web-2")
        .collect();
    assert_eq!(errors.len(), 3);
    assert_eq!(
        errors[0].0,
        json!({"env": "prod", "level": "error", "pod": "web-2", "service_name": "api"})
    );
    // Backward (the default): newest first, nanosecond strings.
    assert_eq!(errors[0].1, ns(125));
    assert_eq!(errors[2].1, ns(5));
    assert_eq!(errors[0].2, "Timeout talking to db");
    let forward = lines(&range(
        &server,
        r#"{service_name="api"}"#,
        &[("direction", "forward"), ("limit", "1")],
    ));
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].1, ns(0));
    let limited = lines(&range(
        &server,
        r#"{service_name="api"}"#,
        &[("limit", "5")],
    ));
    assert_eq!(limited.len(), 5);
    assert_eq!(limited.iter().map(|l| &l.1).max().unwrap(), &ns(125));
    assert!(data["stats"]["summary"].is_object());
    // POST form, and time as RFC 3339 and seconds.
    let body = format!(
        "query={}&start=2023-11-14T22:14:00Z&end={}.5&limit=100",
        encode(r#"{source="worker"}"#),
        BASE_S + 200
    );
    let response = server.request(
        "POST",
        "/loki/api/v1/query_range",
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(lines(&response.json()["data"]).len(), 2);
}

#[test]
fn stream_selectors_follow_lokis_semantics() {
    let server = server_with_logs();
    assert_eq!(count(&server, r#"{source="api", level="error"}"#), 3);
    assert_eq!(count(&server, r#"{pod=~"web-.*"}"#), 13);
    assert_eq!(count(&server, r#"{pod=~"web"}"#), 0, "regexes are anchored");
    assert_eq!(count(&server, r#"{env!="prod"}"#), 2);
    assert_eq!(
        count(&server, r#"{env=~".+", pod!~"web-1"}"#),
        5,
        "a missing label is \"\""
    );
    assert_eq!(count(&server, r#"{env=~".+", pod=""}"#), 2);
    assert_eq!(count(&server, r#"{level=~"warn|error"}"#), 5);
    assert_eq!(count(&server, r#"{service_name="nobody"}"#), 0);
}

#[test]
fn line_filters_chain_and_are_case_sensitive() {
    let server = server_with_logs();
    assert_eq!(count(&server, r#"{env=~".+"} |= "Timeout""#), 3);
    assert_eq!(count(&server, r#"{env=~".+"} |= "timeout""#), 0);
    assert_eq!(count(&server, r#"{env=~".+"} != "GET" != "Timeout""#), 2);
    assert_eq!(count(&server, r#"{env=~".+"} |~ "ok [0-4]$""#), 5);
    assert_eq!(count(&server, r#"{env=~".+"} |= "GET" !~ "ok [0-4]$""#), 5);
    assert_eq!(count(&server, r#"{env=~".+"} |= "" | drop __error__"#), 15);
}

fn matrix(data: &Value) -> Vec<(Value, Vec<(i64, String)>)> {
    assert_eq!(data["resultType"], "matrix", "{data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let points = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_i64().unwrap() - BASE_S,
                        p[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (series["metric"].clone(), points)
        })
        .collect()
}

#[test]
fn metric_queries_count_per_window() {
    let server = server_with_logs();
    let (start, end) = (ns(60), ns(180));
    let params = |q: &'static str| {
        vec![
            ("query", q),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "60"),
        ]
    };
    let per_stream = get_ok(
        &server,
        "/loki/api/v1/query_range",
        &params(r#"count_over_time({service_name="api"}[1m])"#),
    );
    let series = matrix(&per_stream["data"]);
    assert_eq!(series.len(), 2, "{per_stream}");
    let web1 = series.iter().find(|(m, _)| m["pod"] == "web-1").unwrap();
    assert_eq!(
        web1.0,
        json!({"env": "prod", "level": "info", "pod": "web-1", "service_name": "api"})
    );
    // Windows [t-60s, t): 6 lines before +60s, 4 before +120s, none before +180s.
    assert_eq!(web1.1, vec![(60, "6".to_string()), (120, "4".to_string())]);
    let web2 = series.iter().find(|(m, _)| m["pod"] == "web-2").unwrap();
    assert_eq!(
        web2.1,
        vec![(60, "1".into()), (120, "1".into()), (180, "1".into())]
    );

    let by_level = get_ok(
        &server,
        "/loki/api/v1/query_range",
        &params(r#"sum by (level) (count_over_time({env=~".+"} | drop __error__ [1m]))"#),
    );
    let series = matrix(&by_level["data"]);
    let levels: Vec<&Value> = series.iter().map(|(m, _)| &m["level"]).collect();
    assert_eq!(levels, vec!["error", "info", "warn"]);
    assert_eq!(series[2].1, vec![(60, "1".into()), (120, "1".into())]);

    let total = get_ok(
        &server,
        "/loki/api/v1/query_range",
        &params(r#"sum(rate({env="prod"}[1m]))"#),
    );
    let series = matrix(&total["data"]);
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].0, json!({}));
    assert_eq!(series[0].1[0], (60, format!("{}", 7.0 / 60.0)));

    let instant = get_ok(
        &server,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum by (pod) (count_over_time({env="prod"}[2m]))"#,
            ),
            ("time", &ns(120)),
        ],
    );
    assert_eq!(instant["data"]["resultType"], "vector");
    let result = instant["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{instant}");
    assert_eq!(result[0]["metric"], json!({"pod": "web-1"}));
    assert_eq!(result[0]["value"], json!([BASE_S + 120, "10"]));
    assert_eq!(result[1]["value"], json!([BASE_S + 120, "2"]));
}

#[test]
fn labels_values_and_series() {
    let server = server_with_logs();
    let (start, end) = (ns(0), ns(200));
    let span = [("start", start.as_str()), ("end", end.as_str())];
    let labels = get_ok(&server, "/loki/api/v1/labels", &span);
    assert_eq!(
        labels["data"],
        json!(["env", "level", "pod", "service_name"])
    );
    let values = |name: &str| {
        get_ok(&server, &format!("/loki/api/v1/label/{name}/values"), &span)["data"].clone()
    };
    assert_eq!(values("pod"), json!(["web-1", "web-2"]));
    assert_eq!(values("service_name"), json!(["api", "worker"]));
    assert_eq!(values("level"), json!(["error", "info", "warn"]));
    let mut with_query = span.to_vec();
    with_query.push(("query", r#"{env="dev"}"#));
    assert_eq!(
        get_ok(&server, "/loki/api/v1/label/level/values", &with_query)["data"],
        json!(["warn"])
    );
    let mut series_params = span.to_vec();
    series_params.push(("match[]", r#"{env="dev"}"#));
    let series = get_ok(&server, "/loki/api/v1/series", &series_params);
    assert_eq!(
        series["data"],
        json!([{"env": "dev", "level": "warn", "service_name": "worker"}])
    );
    // Outside the time range: nothing.
    let empty = get_ok(
        &server,
        "/loki/api/v1/labels",
        &[("start", "1000"), ("end", "2000")],
    );
    assert_eq!(empty["data"], json!([]));
}

fn assert_plain_400(response: &Response, needle: &str) {
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{:?}",
        response.headers
    );
    assert!(response.text().contains(needle), "{}", response.text());
}

#[test]
fn bad_logql_is_a_plain_text_400() {
    let server = server_with_logs();
    let get = |q: &str| server.get(&url("/loki/api/v1/query_range", &[("query", q)]));
    assert_plain_400(
        &get(r#"{app="a""#),
        "parse error at line 1, col 9: syntax error",
    );
    assert_plain_400(
        &get(r#"{app="a"} | json"#),
        "parse error at line 1, col 13: the pipeline stage | json is not supported",
    );
    assert_plain_400(
        &get(r#"sum(count_over_time({a="b"} | unwrap x [1m]))"#),
        "| unwrap is not supported",
    );
    assert_plain_400(&get(r#"{a=~"("}"#), "invalid regex");
    let instant = server.get(&url("/loki/api/v1/query", &[("query", r#"{a="b"}"#)]));
    assert_plain_400(
        &instant,
        "log queries are not supported as an instant query type",
    );
    let bad_time = server.get(&url(
        "/loki/api/v1/query_range",
        &[("query", r#"{a="b"}"#), ("start", "yesterday")],
    ));
    assert_plain_400(&bad_time, "invalid parameter \"start\"");
    let bad_direction = server.get(&url(
        "/loki/api/v1/query_range",
        &[("query", r#"{a="b"}"#), ("direction", "up")],
    ));
    assert_plain_400(&bad_direction, "invalid direction");
    let too_fine = server.get(&url(
        "/loki/api/v1/query_range",
        &[
            ("query", r#"count_over_time({a="b"}[1m])"#),
            ("start", "0"),
            ("end", "100000"),
            ("step", "1"),
        ],
    ));
    assert_plain_400(&too_fine, "maximum resolution");
}

fn get_with_tenant(server: &Server, tenant: &str, path: &str) -> Response {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Scope-OrgID: {tenant}\r\nConnection: close\r\n\r\n"
    );
    send_raw(&server.addr, raw.as_bytes())
}

#[test]
fn the_tenant_header_picks_the_partition() {
    let server = server_with_logs();
    let (start, end) = (ns(0), ns(200));
    let path = url(
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{source=~".+"}"#),
            ("start", &start),
            ("end", &end),
        ],
    );
    let team = get_with_tenant(&server, "team-a", &path);
    assert_eq!(team.status, 200, "{}", team.text());
    let team_lines = lines(&team.json()["data"]);
    assert_eq!(team_lines.len(), 1);
    assert_eq!(team_lines[0].2, "tenant line");
    let unknown = get_with_tenant(&server, "nobody", &path);
    assert_eq!(unknown.status, 200, "{}", unknown.text());
    assert_eq!(unknown.json()["data"]["result"], json!([]));
    let labels = get_with_tenant(
        &server,
        "nobody",
        &url("/loki/api/v1/labels", &[("start", &start), ("end", &end)]),
    );
    assert_eq!(labels.json(), json!({"status": "success", "data": []}));
}

/// GETs `path` and reads its chunked body whole: status, Content-Type and
/// the body's lines.
fn get_chunked(server: &Server, path: &str) -> (u16, String, Vec<String>) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let content_type = common::header(&headers, "content-type");
    let mut body = Vec::new();
    if common::header(&headers, "transfer-encoding") == "chunked" {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).unwrap();
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).unwrap();
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).unwrap();
        }
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    let text = String::from_utf8(body).unwrap();
    (
        status,
        content_type,
        text.lines().map(str::to_string).collect(),
    )
}

#[test]
fn select_logsql_query_streams_ndjson() {
    let server = server_with_logs();
    let (status, content_type, body) = get_chunked(
        &server,
        &url(
            "/select/logsql/query",
            &[("query", "level:error"), ("limit", "10")],
        ),
    );
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(content_type, "application/x-ndjson");
    let rows: Vec<Value> = body
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["_msg"], "Timeout talking to db");
    assert_eq!(
        rows[0]["_stream"],
        r#"{env="prod",pod="web-2",source="api"}"#
    );
    assert_eq!(rows[0]["pod"], "web-2");
    assert_eq!(rows[0]["level"], "error");
    assert_eq!(rows[0]["_time"], "2023-11-14T22:16:05.000000000Z");
    let (_, _, ranged) = get_chunked(
        &server,
        &url(
            "/select/logsql/query",
            &[("query", "source:api"), ("start", &ns(0)), ("end", &ns(59))],
        ),
    );
    assert_eq!(ranged.len(), 7, "{ranged:?}");
    let (status, content_type, bad) = get_chunked(&server, "/select/logsql/query?limit=3");
    assert_eq!(status, 400);
    assert!(content_type.starts_with("text/plain"));
    assert!(bad[0].contains("missing query"), "{bad:?}");
}
