use super::bulk::{parse_bulk, Action, ItemState};
use super::response::{write_bulk_response, ResponseFilter};
use super::*;
use crate::entry::{ColumnBatch, EntryId};
use crate::protocol::mapped_json::Paths;
use serde_json::json;

fn paths() -> Paths {
    Paths::new(&crate::config::ElasticsearchConfig::default().mapping)
}

#[test]
fn routes_match_at_the_root_and_under_the_prefix() {
    assert_eq!(match_route("/", ""), Some(EsRoute::Root));
    assert_eq!(match_route("/_bulk", ""), Some(EsRoute::Bulk(None)));
    assert_eq!(
        match_route("/logs-x/_bulk/", ""),
        Some(EsRoute::Bulk(Some("logs-x")))
    );
    assert_eq!(
        match_route("/_cluster/health/idx", ""),
        Some(EsRoute::ClusterHealth)
    );
    assert_eq!(
        match_route("/_ilm/policy/filebeat", ""),
        Some(EsRoute::Setup)
    );
    assert_eq!(match_route("/api/v1/query", ""), None);
    assert_eq!(match_route("/es", "/es"), Some(EsRoute::Root));
    assert_eq!(match_route("/es/", "/es/"), Some(EsRoute::Root));
    assert_eq!(
        match_route("/es/i/_bulk", "/es"),
        Some(EsRoute::Bulk(Some("i")))
    );
    assert_eq!(
        match_route("/esx/_bulk", "/es"),
        Some(EsRoute::Bulk(Some("esx")))
    );
    assert_eq!(match_route("/es/api/v1/query", "/es"), None);
}

/// Each item's action and state, and each group's index and entry count.
type Planned = (Vec<(Action, ItemState)>, Vec<(String, usize)>);

fn plan(body: &str, path_index: Option<&str>) -> Result<Planned, String> {
    let paths = paths();
    let plan = parse_bulk(
        body.as_bytes(),
        path_index,
        &paths,
        1,
        &mut ColumnBatch::default,
    )
    .map_err(|error| format!("{}: {}", error.kind, error.reason))?;
    let items = plan
        .items
        .iter()
        .map(|item| (item.action, item.state.clone()))
        .collect();
    let groups = plan
        .groups
        .iter()
        .map(|group| (group.index.clone(), group.batch.len()))
        .collect();
    Ok((items, groups))
}

#[test]
fn documents_are_grouped_by_index_with_blank_lines_and_type_tolerated() {
    let body = "{\"index\":{\"_index\":\"a\",\"_type\":\"_doc\"}}\n{\"message\":\"1\"}\n\n\r\n{\"create\":{}}\n{\"message\":\"2\"}\n{\"create\":{\"_index\":\"b\"}}\n{\"message\":\"3\"}";
    let (items, groups) = plan(body, Some("p")).unwrap();
    assert_eq!(
        groups,
        vec![
            ("a".to_string(), 1),
            ("p".to_string(), 1),
            ("b".to_string(), 1)
        ]
    );
    assert_eq!(
        items[1],
        (
            Action::Create,
            ItemState::Pending {
                group: 1,
                position: 0
            }
        )
    );
}

#[test]
fn bad_items_fail_alone_and_bad_action_lines_fail_the_request() {
    let body = "{\"create\":{\"_index\":\"a\"}}\n{bad\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"doc\":{}}\n{\"create\":{}}\n{\"message\":\"no index\"}\n{\"create\":{\"_index\":\"Bad Name\"}}\n{}\n{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"ok\"}\n";
    let (items, groups) = plan(body, None).unwrap();
    let kinds: Vec<_> = items
        .iter()
        .map(|(_, state)| match state {
            ItemState::Failed(error) => error.kind,
            ItemState::Pending { .. } => "ok",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "document_parsing_exception",
            "illegal_argument_exception",
            "illegal_argument_exception",
            "action_request_validation_exception",
            "invalid_index_name_exception",
            "ok"
        ]
    );
    assert_eq!(groups, vec![("a".to_string(), 1)]);
    for bad in [
        "{\"upsert\":{}}\n{}\n",
        "not json\n",
        "{\"index\":{},\"create\":{}}\n{}\n",
        "{\"index\":{}}\n",
        "\n\n",
    ] {
        assert!(plan(bad, Some("p")).is_err(), "{bad:?}");
    }
}

#[test]
fn the_answer_has_one_item_per_action_and_filter_path_shrinks_it() {
    let body = "{\"create\":{\"_index\":\"a\",\"_id\":\"x\"}}\n{\"message\":\"1\"}\n{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"2\"}\n{\"delete\":{\"_index\":\"a\"}}\n";
    let paths = paths();
    let plan = parse_bulk(body.as_bytes(), None, &paths, 1, &mut ColumnBatch::default).unwrap();
    let outcomes = vec![Ok(EntryId { slice: 0, seq: 10 })];
    let full: serde_json::Value = serde_json::from_str(&write_bulk_response(
        &plan.items,
        &outcomes,
        3,
        &ResponseFilter::default(),
    ))
    .unwrap();
    assert_eq!(full["took"], 3);
    assert_eq!(full["errors"], true);
    assert_eq!(full["items"][0]["create"]["_id"], "x");
    assert_eq!(full["items"][0]["create"]["status"], 201);
    assert_eq!(full["items"][1]["index"]["_id"], "0-11");
    assert_eq!(full["items"][1]["index"]["_seq_no"], 11);
    assert_eq!(full["items"][2]["delete"]["status"], 400);
    let filtered = |filter: &str| -> serde_json::Value {
        let text = write_bulk_response(&plan.items, &outcomes, 3, &ResponseFilter::parse(filter));
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(
        filtered("errors,items.*.error")["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the failed item has an error"
    );
    assert_eq!(
        filtered("errors,items.*.error,items.*.status")["items"][0],
        json!({"create": {"status": 201}})
    );
    assert_eq!(filtered("took"), json!({"took": 3}));
    assert_eq!(filtered("*")["items"].as_array().unwrap().len(), 3);
    let ok_only = parse_bulk(
        b"{\"create\":{\"_index\":\"a\"}}\n{}\n",
        None,
        &paths,
        1,
        &mut ColumnBatch::default,
    )
    .unwrap();
    let text = write_bulk_response(
        &ok_only.items,
        &outcomes,
        0,
        &ResponseFilter::parse("errors,items.*.error"),
    );
    assert_eq!(text, r#"{"errors":false}"#);
}

#[test]
fn handshakes_say_what_shippers_check() {
    assert_eq!(root_info("8.17.0")["version"]["number"], "8.17.0");
    assert_eq!(root_info("8.17.0")["tagline"], "You Know, for Search");
    assert_eq!(license()["license"]["status"], "active");
    assert!(cat_health(3_661, false).starts_with("3661 01:01:01 timberdb green"));
    let cat: serde_json::Value = serde_json::from_str(&cat_health(0, true)).unwrap();
    assert_eq!(cat[0]["status"], "green");
}

#[test]
fn a_repeated_action_line_means_the_same_action_again() {
    let body = "{\"create\":{\"_index\":\"a\"}}\n{}\n{\"create\":{\"_index\":\"a\"}}\n{}\n\
        {\"index\":{\"_index\":\"b\",\"_id\":\"x\"}}\n{}\n{\"index\":{\"_index\":\"b\",\"_id\":\"x\"}}\n{}\n\
        {\"create\":{\"_index\":\"a\"}}\n{}\n";
    let paths = paths();
    let plan = parse_bulk(body.as_bytes(), None, &paths, 1, &mut ColumnBatch::default).unwrap();
    let seen: Vec<(Action, Option<&str>, Option<&str>)> = plan
        .items
        .iter()
        .map(|item| (item.action, item.index.as_deref(), item.id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (Action::Create, Some("a"), None),
            (Action::Create, Some("a"), None),
            (Action::Index, Some("b"), Some("x")),
            (Action::Index, Some("b"), Some("x")),
            (Action::Create, Some("a"), None),
        ]
    );
}
