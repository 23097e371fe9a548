//! Queries of the funnel report beyond the unique-lead counts: the event view, breakdowns by
//! source and campaign, stage passages and SLA entries of a cohort.

use sea_orm::sea_query::{Expr, Query, SelectStatement, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{funnel_lead, sla_entry, transition};
use crate::domain::FunnelPeriod;

/// Adds the cohort bounds of `period` to a condition on `funnel_lead.lead_create_time`.
fn cohort_condition(period: &FunnelPeriod) -> Condition {
    let mut condition = Condition::all();
    if let Some(start) = period.start {
        condition = condition.add(funnel_lead::Column::LeadCreateTime.gte(start));
    }
    if let Some(end) = period.end {
        condition = condition.add(funnel_lead::Column::LeadCreateTime.lt(end));
    }
    condition
}

/// Returns `SELECT lead_id FROM funnel_lead WHERE <cohort>`.
fn cohort_lead_ids(period: &FunnelPeriod) -> SelectStatement {
    Query::select()
        .column(funnel_lead::Column::LeadId)
        .from(funnel_lead::Entity)
        .cond_where(cohort_condition(period))
        .to_owned()
}

/// Event counts of a cohort: every entry into a stage counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct EventCounts {
    /// Entries into the queue.
    pub mql_events: i64,
    /// Acceptances.
    pub sql_events: i64,
    /// Acceptances with an override reason.
    pub override_events: i64,
}

/// Sums the stage entries of the cohort.
pub async fn event_counts<C: ConnectionTrait>(db: &C, period: &FunnelPeriod) -> Result<EventCounts, DbErr> {
    // SUM of an integer column is NULL over no rows and BIGINT on PostgreSQL.
    let sum = |column: &str| -> SimpleExpr { Expr::cust(format!("COALESCE(SUM({column}), 0)")) };
    let counts = funnel_lead::Entity::find()
        .select_only()
        .column_as(sum("mql_count"), "mql_events")
        .column_as(sum("sql_count"), "sql_events")
        .column_as(sum("override_count"), "override_events")
        .filter(cohort_condition(period))
        .into_model::<EventCounts>()
        .one(db)
        .await?;
    Ok(counts.unwrap_or_default())
}

/// Unique-lead counts of one source or campaign.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct BreakdownRow {
    /// The source or campaign.
    pub key: String,
    /// Leads.
    pub lead_count: i64,
    /// Leads that became an MQL.
    pub mql_count: i64,
    /// Leads that sales accepted.
    pub sql_count: i64,
    /// Leads won by a sales close; imported outcomes are counted apart.
    pub won_count: i64,
}

/// Column a breakdown groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakdownBy {
    /// `funnel_lead.source`.
    Source,
    /// `funnel_lead.campaign`.
    Campaign,
}

/// Counts the cohort per source or campaign, largest lead count first, then by key.
pub async fn breakdown<C: ConnectionTrait>(db: &C, period: &FunnelPeriod, by: BreakdownBy) -> Result<Vec<BreakdownRow>, DbErr> {
    use funnel_lead::Column;

    let column = match by {
        BreakdownBy::Source => Column::Source,
        BreakdownBy::Campaign => Column::Campaign,
    };
    let count_where = |condition: Condition| -> SimpleExpr {
        sea_orm::sea_query::Func::count(Expr::case(condition, Expr::val(1))).into()
    };
    let mut rows = funnel_lead::Entity::find()
        .select_only()
        .column_as(Expr::col(column), "key")
        .column_as(Expr::col(Column::LeadId).count(), "lead_count")
        .column_as(count_where(Condition::all().add(Column::FirstMqlTime.is_not_null())), "mql_count")
        .column_as(count_where(Condition::all().add(Column::FirstSqlTime.is_not_null())), "sql_count")
        .column_as(
            count_where(Condition::all().add(Column::WonTime.is_not_null())),
            "won_count",
        )
        .filter(cohort_condition(period))
        .group_by(column)
        .into_model::<BreakdownRow>()
        .all(db)
        .await?;
    rows.sort_by(|left, right| right.lead_count.cmp(&left.lead_count).then_with(|| left.key.cmp(&right.key)));
    Ok(rows)
}

/// Lists the state changes of the cohort's leads, by lead and then oldest first.
pub async fn cohort_transitions<C: ConnectionTrait>(db: &C, period: &FunnelPeriod) -> Result<Vec<transition::Model>, DbErr> {
    transition::Entity::find()
        .filter(transition::Column::LeadId.in_subquery(cohort_lead_ids(period)))
        .order_by_asc(transition::Column::LeadId)
        .order_by_asc(transition::Column::Id)
        .all(db)
        .await
}

/// Lists the SLA entries of the cohort's leads.
pub async fn cohort_sla_entries<C: ConnectionTrait>(db: &C, period: &FunnelPeriod) -> Result<Vec<sla_entry::Model>, DbErr> {
    sla_entry::Entity::find().filter(sla_entry::Column::LeadId.in_subquery(cohort_lead_ids(period))).all(db).await
}
