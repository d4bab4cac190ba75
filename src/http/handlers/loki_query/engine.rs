//! Running translated statements on the engine, as the native query API
//! runs a `q`: compiled from its canonical text, started on every shard
//! under a query slot, merged. An unknown tenant's partition answers no
//! entries and no rows.

use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value as Json;

use super::super::query::{count_query, QuerySlot};
use super::LokiError;
use crate::query::aggregate::GROUPS_MAX;
use crate::query::lang::ast::Statement;
use crate::query::{
    compile, FoundEntry, PlanError, QueryBody, QueryPlan, QuerySummary, ResultStream,
};
use crate::shard::mailbox::start_query;
use crate::shard::ShardContext;

fn partition_exists(ctx: &ShardContext, partition: &str) -> bool {
    ctx.catalog.borrow().find(partition).is_some()
}

/// Compiles a translated statement the way a `q` text is compiled (the
/// canonical text round-trips to the same tree), so the plan is exactly
/// what the native query API would run.
fn plan_of(ctx: &ShardContext, statement: &Statement) -> Result<Arc<QueryPlan>, LokiError> {
    let body = QueryBody {
        q: Some(statement.to_string()),
        ..QueryBody::default()
    };
    let catalog = ctx.catalog.borrow();
    compile(body, &catalog, &ctx.config.query)
        .map(Arc::new)
        .map_err(|error| match error {
            PlanError::BadRequest(message) | PlanError::InvalidCursor(message) => {
                LokiError::bad(message)
            }
            PlanError::UnknownPartition(name) => {
                LokiError::internal(format!("partition {name} vanished during the query"))
            }
        })
}

/// An entry query's entries (none for an unknown tenant).
pub(super) async fn run_entries(
    ctx: &Rc<ShardContext>,
    partition: &str,
    statement: &Statement,
) -> Result<(Vec<FoundEntry>, Option<QuerySummary>), LokiError> {
    if !partition_exists(ctx, partition) {
        return Ok((Vec::new(), None));
    }
    let plan = plan_of(ctx, statement)?;
    let _slot = QuerySlot::take(ctx)?;
    let shards = start_query(ctx, &plan).await.map_err(LokiError::internal)?;
    let mut stream = ResultStream::new(&plan, shards);
    let mut entries = Vec::new();
    while let Some(entry) = stream
        .next_entry(&|| false)
        .await
        .map_err(LokiError::internal)?
    {
        entries.push(entry);
    }
    let summary = stream.finish().await.map_err(LokiError::internal)?;
    count_query(ctx, summary.timed_out);
    Ok((entries, Some(summary)))
}

/// An aggregating query's rows (none for an unknown tenant).
pub(super) async fn run_counts(
    ctx: &Rc<ShardContext>,
    partition: &str,
    statement: &Statement,
) -> Result<Vec<Vec<Json>>, LokiError> {
    if !partition_exists(ctx, partition) {
        return Ok(Vec::new());
    }
    let plan = plan_of(ctx, statement)?;
    let Some(aggregation) = &plan.aggregation else {
        return Err(LokiError::internal(
            "a counting query compiled without aggregation",
        ));
    };
    let _slot = QuerySlot::take(ctx)?;
    let shards = start_query(ctx, &plan).await.map_err(LokiError::internal)?;
    let summary = ResultStream::new(&plan, shards)
        .finish()
        .await
        .map_err(LokiError::internal)?;
    count_query(ctx, summary.timed_out);
    if summary.groups.as_ref().is_some_and(|g| g.truncated) {
        return Err(LokiError::bad(format!(
            "the query has more than {GROUPS_MAX} series and time buckets; narrow the selector, shorten the range or raise the step"
        )));
    }
    Ok(summary
        .groups
        .as_ref()
        .map(|groups| groups.rows(aggregation, plan.offset, plan.limit))
        .unwrap_or_default())
}
