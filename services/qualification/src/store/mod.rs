//! Reads and writes of the qualification database. Every function takes a connection or a
//! transaction, so callers decide the transaction boundaries.

pub mod entity;
pub mod report;
pub mod sales;

use chrono::{DateTime, Utc};
use leadflow_proto::qualification::{Bant, Budget};
use leadflow_proto::types::{ActivityType, Outcome, ScoreReason};
use sea_orm::sea_query::{Expr, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{FunnelPeriod, ValidBant};
pub use entity::{assignment, funnel_lead, lead_merge, qualification, rep, setting, sla_entry, transition};

/// Stored value of an imported won outcome.
pub const OUTCOME_WON: &str = "WON";
/// Stored value of an imported lost outcome.
pub const OUTCOME_LOST: &str = "LOST";

/// Finds the qualification of a lead.
pub async fn find_qualification<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<qualification::Model>, DbErr> {
    qualification::Entity::find_by_id(lead_id).one(db).await
}

/// Inserts a qualification.
pub async fn insert_qualification<C: ConnectionTrait>(db: &C, model: qualification::Model) -> Result<(), DbErr> {
    let row: qualification::ActiveModel = model.into();
    qualification::Entity::insert(row.reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Writes every mutable column of a qualification if its stored state is still
/// `expected_state`. Returns false when another transaction changed the state first.
pub async fn update_qualification<C: ConnectionTrait>(
    db: &C,
    model: &qualification::Model,
    expected_state: &str,
) -> Result<bool, DbErr> {
    let result = qualification::Entity::update_many()
        .col_expr(qualification::Column::State, Expr::value(model.state.clone()))
        .col_expr(qualification::Column::MqlScore, Expr::value(model.mql_score))
        .col_expr(qualification::Column::ModelVersion, Expr::value(model.model_version))
        .col_expr(qualification::Column::TopReasons, Expr::value(model.top_reasons.clone()))
        .col_expr(qualification::Column::Source, Expr::value(model.source.clone()))
        .col_expr(qualification::Column::Campaign, Expr::value(model.campaign.clone()))
        .col_expr(qualification::Column::MqlTime, Expr::value(model.mql_time))
        .col_expr(qualification::Column::UpdateTime, Expr::value(model.update_time))
        .col_expr(qualification::Column::Bant, Expr::value(model.bant.clone()))
        .col_expr(qualification::Column::Reason, Expr::value(model.reason.clone()))
        .col_expr(qualification::Column::Note, Expr::value(model.note.clone()))
        .col_expr(qualification::Column::ValueMinor, Expr::value(model.value_minor))
        .col_expr(qualification::Column::Currency, Expr::value(model.currency.clone()))
        .col_expr(qualification::Column::AssignedRepId, Expr::value(model.assigned_rep_id.clone()))
        .col_expr(qualification::Column::FirstTouchDueTime, Expr::value(model.first_touch_due_time))
        .col_expr(qualification::Column::OverrideReason, Expr::value(model.override_reason.clone()))
        .col_expr(qualification::Column::Answers, Expr::value(model.answers.clone()))
        .col_expr(qualification::Column::Attributes, Expr::value(model.attributes.clone()))
        .col_expr(qualification::Column::DoNotContact, Expr::value(model.do_not_contact))
        .filter(qualification::Column::LeadId.eq(model.lead_id))
        .filter(qualification::Column::State.eq(expected_state))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Assignment filter of `list_queue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepFilter {
    /// Every lead.
    Any,
    /// Leads assigned to this rep.
    Rep(String),
    /// Leads assigned to no rep.
    Unassigned,
}

/// Lists qualifications in `states` by `mql_time`, then lead id, after the given position.
pub async fn list_queue<C: ConnectionTrait>(
    db: &C,
    states: &[&str],
    reps: &RepFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<qualification::Model>, DbErr> {
    // A merged lead's own entry leaves the queue; its survivor's entry stands for it.
    let merged_leads = sea_orm::sea_query::Query::select()
        .column(lead_merge::Column::MergedLeadId)
        .from(lead_merge::Entity)
        .to_owned();
    let mut query = qualification::Entity::find()
        .filter(qualification::Column::State.is_in(states.iter().copied()))
        .filter(qualification::Column::LeadId.not_in_subquery(merged_leads))
        .order_by_asc(qualification::Column::MqlTime)
        .order_by_asc(qualification::Column::LeadId)
        .limit(limit);
    match reps {
        RepFilter::Any => {}
        RepFilter::Rep(rep_id) => query = query.filter(qualification::Column::AssignedRepId.eq(rep_id.as_str())),
        RepFilter::Unassigned => query = query.filter(qualification::Column::AssignedRepId.eq("")),
    }
    if let Some((mql_time, lead_id)) = after {
        query = query.filter(
            Condition::any().add(qualification::Column::MqlTime.gt(mql_time)).add(
                Condition::all()
                    .add(qualification::Column::MqlTime.eq(mql_time))
                    .add(qualification::Column::LeadId.gt(lead_id)),
            ),
        );
    }
    query.all(db).await
}

/// Inserts a state change.
pub async fn insert_transition<C: ConnectionTrait>(db: &C, model: transition::Model) -> Result<(), DbErr> {
    let row: transition::ActiveModel = model.into();
    transition::Entity::insert(row.reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Lists a lead's state changes, oldest first. Ids are UUIDv7, so they sort by creation.
pub async fn list_transitions<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<transition::Model>, DbErr> {
    transition::Entity::find()
        .filter(transition::Column::LeadId.eq(lead_id))
        .order_by_asc(transition::Column::Id)
        .all(db)
        .await
}

fn new_funnel_lead(lead_id: Uuid, source: &str, campaign: &str, lead_create_time: DateTime<Utc>) -> funnel_lead::ActiveModel {
    funnel_lead::ActiveModel {
        lead_id: Set(lead_id),
        source: Set(source.to_owned()),
        campaign: Set(campaign.to_owned()),
        lead_create_time: Set(lead_create_time),
        first_mql_time: Set(None),
        first_sql_time: Set(None),
        won_time: Set(None),
        lost_time: Set(None),
        imported_outcome: Set(None),
        mql_count: Set(0),
        sql_count: Set(0),
        override_count: Set(0),
    }
}

/// Stores a lead's source and campaign, creating its funnel row when missing. The
/// `lead_create_time` of an existing row is kept.
pub async fn upsert_attribution<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    source: &str,
    campaign: &str,
    lead_create_time: DateTime<Utc>,
) -> Result<(), DbErr> {
    funnel_lead::Entity::insert(new_funnel_lead(lead_id, source, campaign, lead_create_time))
        .on_conflict(
            OnConflict::column(funnel_lead::Column::LeadId)
                .update_columns([funnel_lead::Column::Source, funnel_lead::Column::Campaign])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Creates a lead's funnel row when missing; an existing row is left as it is.
pub async fn ensure_funnel_lead<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    source: &str,
    campaign: &str,
    lead_create_time: DateTime<Utc>,
) -> Result<(), DbErr> {
    funnel_lead::Entity::insert(new_funnel_lead(lead_id, source, campaign, lead_create_time))
        .on_conflict(OnConflict::column(funnel_lead::Column::LeadId).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records with one statement that a lead entered the queue at `mql_time`: its funnel row is
/// created when missing, its first MQL time is set when still empty, and its MQL count goes
/// up by one. `source`, `campaign` and `lead_create_time` fill a new row only.
pub async fn mark_mql<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    source: &str,
    campaign: &str,
    lead_create_time: DateTime<Utc>,
    mql_time: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut row = new_funnel_lead(lead_id, source, campaign, lead_create_time);
    row.first_mql_time = Set(Some(mql_time));
    row.mql_count = Set(1);
    // Both databases name the stored row by its table and the proposed one `excluded`.
    let on_conflict = OnConflict::column(funnel_lead::Column::LeadId)
        .value(
            funnel_lead::Column::FirstMqlTime,
            Expr::cust(r#"COALESCE("funnel_lead"."first_mql_time", "excluded"."first_mql_time")"#),
        )
        .value(funnel_lead::Column::MqlCount, Expr::cust(r#""funnel_lead"."mql_count" + 1"#))
        .to_owned();
    funnel_lead::Entity::insert(row).on_conflict(on_conflict).exec_without_returning(db).await?;
    Ok(())
}

/// Finds the funnel row of a lead.
pub async fn find_funnel_lead<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<funnel_lead::Model>, DbErr> {
    funnel_lead::Entity::find_by_id(lead_id).one(db).await
}

/// Stores an outcome imported from outside the suite on a lead's funnel row.
pub async fn set_imported_outcome<C: ConnectionTrait>(db: &C, lead_id: Uuid, outcome: &str) -> Result<(), DbErr> {
    funnel_lead::Entity::update_many()
        .col_expr(funnel_lead::Column::ImportedOutcome, Expr::value(outcome))
        .filter(funnel_lead::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Funnel stage of a lead that sales moved forward. Entering the queue is [`mark_mql`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Sales accepted the lead.
    Sql,
    /// Sales closed the lead as won.
    Won,
    /// Sales closed the lead as lost.
    Lost,
    /// Sales accepted the lead with an override reason despite missing fields.
    SqlOverride,
}

/// Records that a lead reached `stage` at `time`: the stage time is set when it is still
/// empty, and SQL entries are counted. Returns false when the lead has no funnel row.
pub async fn mark_stage<C: ConnectionTrait>(db: &C, lead_id: Uuid, stage: Stage, time: DateTime<Utc>) -> Result<bool, DbErr> {
    let first = |column: funnel_lead::Column| -> SimpleExpr { Func::coalesce([Expr::col(column).into(), Expr::value(time)]).into() };
    let increment = |column: funnel_lead::Column| -> SimpleExpr { Expr::col(column).add(1) };

    let update = funnel_lead::Entity::update_many().filter(funnel_lead::Column::LeadId.eq(lead_id));
    let update = match stage {
        Stage::Sql => update
            .col_expr(funnel_lead::Column::FirstSqlTime, first(funnel_lead::Column::FirstSqlTime))
            .col_expr(funnel_lead::Column::SqlCount, increment(funnel_lead::Column::SqlCount)),
        Stage::Won => update.col_expr(funnel_lead::Column::WonTime, first(funnel_lead::Column::WonTime)),
        Stage::Lost => update.col_expr(funnel_lead::Column::LostTime, first(funnel_lead::Column::LostTime)),
        Stage::SqlOverride => update
            .col_expr(funnel_lead::Column::FirstSqlTime, first(funnel_lead::Column::FirstSqlTime))
            .col_expr(funnel_lead::Column::SqlCount, increment(funnel_lead::Column::SqlCount))
            .col_expr(funnel_lead::Column::OverrideCount, increment(funnel_lead::Column::OverrideCount)),
    };
    let result = update.exec(db).await?;
    Ok(result.rows_affected == 1)
}

/// Counts of one funnel cohort, each a number of distinct leads.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct FunnelCounts {
    /// Leads of the cohort.
    pub lead_count: i64,
    /// Leads that became an MQL.
    pub mql_count: i64,
    /// Leads that sales accepted.
    pub sql_count: i64,
    /// Leads won through a sales close; imported outcomes are counted apart.
    pub won_count: i64,
    /// Leads won through a sales close.
    pub closed_won_count: i64,
    /// Leads with an imported WON outcome.
    pub imported_won_count: i64,
    /// Leads with an imported WON outcome that became an MQL.
    pub imported_won_mql_count: i64,
    /// Leads with any imported outcome.
    pub imported_outcome_count: i64,
    /// MQLs with any imported outcome.
    pub mql_with_imported_outcome_count: i64,
}

/// Counts the funnel of the leads created in `period` with one aggregate query.
pub async fn funnel_counts<C: ConnectionTrait>(db: &C, period: &FunnelPeriod) -> Result<FunnelCounts, DbErr> {
    use funnel_lead::Column;

    // COUNT skips NULL, and a CASE without ELSE is NULL where its condition is false.
    let count_where = |condition: Condition| -> SimpleExpr { Func::count(Expr::case(condition, Expr::val(1))).into() };
    let is_mql = || Condition::all().add(Column::FirstMqlTime.is_not_null());
    let imported_won = || Condition::all().add(Column::ImportedOutcome.eq(OUTCOME_WON));
    let imported_any = || Condition::all().add(Column::ImportedOutcome.is_not_null());

    let mut query = funnel_lead::Entity::find()
        .select_only()
        .column_as(Expr::col(Column::LeadId).count(), "lead_count")
        .column_as(count_where(is_mql()), "mql_count")
        .column_as(count_where(Condition::all().add(Column::FirstSqlTime.is_not_null())), "sql_count")
        .column_as(
            count_where(Condition::all().add(Column::WonTime.is_not_null())),
            "won_count",
        )
        .column_as(count_where(Condition::all().add(Column::WonTime.is_not_null())), "closed_won_count")
        .column_as(count_where(imported_won()), "imported_won_count")
        .column_as(count_where(imported_won().add(Column::FirstMqlTime.is_not_null())), "imported_won_mql_count")
        .column_as(count_where(imported_any()), "imported_outcome_count")
        .column_as(count_where(imported_any().add(Column::FirstMqlTime.is_not_null())), "mql_with_imported_outcome_count");

    if let Some(start) = period.start {
        query = query.filter(Column::LeadCreateTime.gte(start));
    }
    if let Some(end) = period.end {
        query = query.filter(Column::LeadCreateTime.lt(end));
    }

    let counts = query.into_model::<FunnelCounts>().one(db).await?;
    Ok(counts.unwrap_or_default())
}

/// Returns the stored name of an activity type (`PAGE_VIEW`); `UNSPECIFIED` for unknown
/// values.
fn activity_type_name(value: i32) -> &'static str {
    ActivityType::try_from(value)
        .unwrap_or(ActivityType::Unspecified)
        .as_str_name()
        .strip_prefix("ACTIVITY_TYPE_")
        .unwrap_or("UNSPECIFIED")
}

/// Writes score reasons as a JSON array of `{activity_type, activity_count, points}`.
pub fn top_reasons_to_json(reasons: &[ScoreReason]) -> Value {
    Value::Array(
        reasons
            .iter()
            .map(|reason| {
                json!({
                    "activity_type": activity_type_name(reason.activity_type),
                    "activity_count": reason.activity_count,
                    "points": reason.points,
                })
            })
            .collect(),
    )
}

/// Reads score reasons written by [`top_reasons_to_json`]; malformed entries are skipped.
pub fn json_to_top_reasons(value: &Value) -> Vec<ScoreReason> {
    let Some(entries) = value.as_array() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let name = entry.get("activity_type")?.as_str()?;
            let activity_type = ActivityType::from_str_name(&format!("ACTIVITY_TYPE_{name}")).unwrap_or(ActivityType::Unspecified);
            Some(ScoreReason {
                activity_type: activity_type as i32,
                activity_count: entry.get("activity_count")?.as_i64()?,
                points: entry.get("points")?.as_i64()?,
            })
        })
        .collect()
}

/// Writes a validated BANT check as a JSON object.
pub fn bant_to_json(bant: &ValidBant) -> Value {
    json!({
        "budget": {
            "amount_minor": bant.amount_minor,
            "currency": bant.currency,
            "confirmed": bant.confirmed,
        },
        "authority_role": bant.authority_role,
        "need": bant.need,
        "timeframe": bant.timeframe,
    })
}

/// Reads a BANT check written by [`bant_to_json`]; missing parts read as empty.
pub fn json_to_bant(value: &Value) -> Bant {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let budget = value.get("budget").map(|budget| Budget {
        amount_minor: budget.get("amount_minor").and_then(Value::as_i64).unwrap_or_default(),
        currency: text(budget.get("currency")),
        confirmed: budget.get("confirmed").and_then(Value::as_bool).unwrap_or_default(),
    });
    Bant {
        budget,
        authority_role: text(value.get("authority_role")),
        need: text(value.get("need")),
        timeframe: text(value.get("timeframe")),
    }
}

/// Returns the stored name of an imported outcome, or `None` for an unspecified one.
pub fn outcome_name(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Won => Some(OUTCOME_WON),
        Outcome::Lost => Some(OUTCOME_LOST),
        Outcome::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_reasons_round_trip() {
        let reasons = vec![
            ScoreReason { activity_type: ActivityType::DemoRequest as i32, activity_count: 1, points: 40 },
            ScoreReason { activity_type: ActivityType::PageView as i32, activity_count: 12, points: 12 },
        ];
        let stored = top_reasons_to_json(&reasons);
        assert_eq!(stored[0]["activity_type"], "DEMO_REQUEST");
        assert_eq!(json_to_top_reasons(&stored), reasons);
    }

    #[test]
    fn bant_round_trip() {
        let bant = ValidBant {
            amount_minor: 1_500_000,
            currency: "RON".to_owned(),
            confirmed: true,
            authority_role: "CFO".to_owned(),
            need: "faster invoicing".to_owned(),
            timeframe: "2026-06-30".to_owned(),
        };
        let read = json_to_bant(&bant_to_json(&bant));
        let budget = read.budget.expect("budget");
        assert_eq!(budget.amount_minor, 1_500_000);
        assert_eq!(budget.currency, "RON");
        assert!(budget.confirmed);
        assert_eq!(read.authority_role, "CFO");
        assert_eq!(read.need, "faster invoicing");
        assert_eq!(read.timeframe, "2026-06-30");
    }

    #[test]
    fn outcome_names() {
        assert_eq!(outcome_name(Outcome::Won), Some("WON"));
        assert_eq!(outcome_name(Outcome::Lost), Some("LOST"));
        assert_eq!(outcome_name(Outcome::Unspecified), None);
    }
}
