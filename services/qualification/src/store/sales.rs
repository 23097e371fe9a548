//! Reads and writes of sales reps, assignments, SLA entries and settings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::entity::{assignment, qualification, rep, setting, sla_entry};

/// Key of the qualification settings in the `setting` table.
pub const SETTINGS_KEY: &str = "qualification";
/// States whose leads count against a rep's capacity.
pub const OPEN_STATES: [&str; 2] = ["NEW", "WORKING"];

/// Finds a rep.
pub async fn find_rep<C: ConnectionTrait>(db: &C, rep_id: &str) -> Result<Option<rep::Model>, DbErr> {
    rep::Entity::find_by_id(rep_id.to_owned()).one(db).await
}

/// Inserts a rep.
pub async fn insert_rep<C: ConnectionTrait>(db: &C, model: rep::Model) -> Result<(), DbErr> {
    let row: rep::ActiveModel = model.into();
    rep::Entity::insert(row.reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Writes every column of a rep.
pub async fn update_rep<C: ConnectionTrait>(db: &C, model: rep::Model) -> Result<(), DbErr> {
    let row: rep::ActiveModel = model.into();
    row.reset_all().update(db).await?;
    Ok(())
}

/// Lists reps by id after `after`.
pub async fn list_reps<C: ConnectionTrait>(db: &C, after: Option<&str>, limit: u64) -> Result<Vec<rep::Model>, DbErr> {
    let mut query = rep::Entity::find().order_by_asc(rep::Column::RepId).limit(limit);
    if let Some(after) = after {
        query = query.filter(rep::Column::RepId.gt(after));
    }
    query.all(db).await
}

/// Lists every rep, for the assignment of a new MQL.
pub async fn all_reps<C: ConnectionTrait>(db: &C) -> Result<Vec<rep::Model>, DbErr> {
    rep::Entity::find().order_by_asc(rep::Column::RepId).all(db).await
}

#[derive(FromQueryResult)]
struct OpenCount {
    assigned_rep_id: String,
    open_count: i64,
}

/// Counts the open (NEW or WORKING) leads of every rep that has any.
pub async fn open_lead_counts<C: ConnectionTrait>(db: &C) -> Result<BTreeMap<String, i64>, DbErr> {
    let rows = qualification::Entity::find()
        .select_only()
        .column(qualification::Column::AssignedRepId)
        .column_as(Expr::col(qualification::Column::LeadId).count(), "open_count")
        .filter(qualification::Column::State.is_in(OPEN_STATES))
        .filter(qualification::Column::AssignedRepId.ne(""))
        .group_by(qualification::Column::AssignedRepId)
        .into_model::<OpenCount>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.assigned_rep_id, row.open_count)).collect())
}

/// Counts the open leads of one rep.
pub async fn open_lead_count<C: ConnectionTrait>(db: &C, rep_id: &str) -> Result<i64, DbErr> {
    Ok(open_lead_counts(db).await?.get(rep_id).copied().unwrap_or(0))
}

/// Returns the next round-robin position: one more than the highest stored.
pub async fn next_assign_seq<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct MaxSeq {
        max_seq: Option<i64>,
    }
    let row = rep::Entity::find()
        .select_only()
        .column_as(SimpleExpr::from(Func::max(Expr::col(rep::Column::AssignSeq))), "max_seq")
        .into_model::<MaxSeq>()
        .one(db)
        .await?;
    Ok(row.and_then(|row| row.max_seq).unwrap_or(0) + 1)
}

/// Stores a rep's round-robin position.
pub async fn set_assign_seq<C: ConnectionTrait>(db: &C, rep_id: &str, seq: i64) -> Result<(), DbErr> {
    rep::Entity::update_many()
        .col_expr(rep::Column::AssignSeq, Expr::value(seq))
        .filter(rep::Column::RepId.eq(rep_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the rep of a lead.
pub async fn set_assigned_rep<C: ConnectionTrait>(db: &C, lead_id: Uuid, rep_id: &str) -> Result<(), DbErr> {
    qualification::Entity::update_many()
        .col_expr(qualification::Column::AssignedRepId, Expr::value(rep_id))
        .filter(qualification::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Inserts an assignment into the history.
pub async fn insert_assignment<C: ConnectionTrait>(db: &C, model: assignment::Model) -> Result<(), DbErr> {
    let row: assignment::ActiveModel = model.into();
    assignment::Entity::insert(row.reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Lists a lead's assignments, oldest first.
pub async fn list_assignments<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<assignment::Model>, DbErr> {
    assignment::Entity::find()
        .filter(assignment::Column::LeadId.eq(lead_id))
        .order_by_asc(assignment::Column::Id)
        .all(db)
        .await
}

/// Inserts the SLA entry of a lead entering the queue.
pub async fn insert_sla_entry<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    entry_time: DateTime<Utc>,
    due_time: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = sla_entry::Model { id: Uuid::now_v7(), lead_id, entry_time, due_time, touch_time: None, escalate_time: None };
    let row: sla_entry::ActiveModel = row.into();
    sla_entry::Entity::insert(row.reset_all()).exec_without_returning(db).await?;
    Ok(())
}

/// Records the first touch of a lead's open SLA entry; later touches change nothing.
pub async fn touch_sla_entry<C: ConnectionTrait>(db: &C, lead_id: Uuid, time: DateTime<Utc>) -> Result<(), DbErr> {
    sla_entry::Entity::update_many()
        .col_expr(sla_entry::Column::TouchTime, Expr::value(time))
        .filter(sla_entry::Column::LeadId.eq(lead_id))
        .filter(sla_entry::Column::TouchTime.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Lists untouched, unescalated SLA entries whose deadline is before `now`.
pub async fn list_missed_unescalated<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<sla_entry::Model>, DbErr> {
    sla_entry::Entity::find()
        .filter(sla_entry::Column::TouchTime.is_null())
        .filter(sla_entry::Column::EscalateTime.is_null())
        .filter(sla_entry::Column::DueTime.lt(now))
        .order_by_asc(sla_entry::Column::DueTime)
        .limit(limit)
        .all(db)
        .await
}

/// Marks an SLA entry escalated if no one marked it first. Returns true for the one caller
/// that did, which alone reports the escalation.
pub async fn mark_escalated<C: ConnectionTrait>(db: &C, id: Uuid, time: DateTime<Utc>) -> Result<bool, DbErr> {
    let result = sla_entry::Entity::update_many()
        .col_expr(sla_entry::Column::EscalateTime, Expr::value(time))
        .filter(sla_entry::Column::Id.eq(id))
        .filter(sla_entry::Column::EscalateTime.is_null())
        .filter(sla_entry::Column::TouchTime.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Returns the escalation times of the open SLA entries of `lead_ids`.
pub async fn open_escalations<C: ConnectionTrait>(
    db: &C,
    lead_ids: &[Uuid],
) -> Result<BTreeMap<Uuid, DateTime<Utc>>, DbErr> {
    let rows = sla_entry::Entity::find()
        .filter(sla_entry::Column::LeadId.is_in(lead_ids.iter().copied()))
        .filter(sla_entry::Column::TouchTime.is_null())
        .filter(sla_entry::Column::EscalateTime.is_not_null())
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|row| row.escalate_time.map(|time| (row.lead_id, time))).collect())
}

/// Lists NEW qualifications whose first-touch deadline is before `now`, earliest deadline
/// first, after the given position.
pub async fn list_overdue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    rep_id: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<qualification::Model>, DbErr> {
    use qualification::Column;

    let mut query = qualification::Entity::find()
        .filter(Column::State.eq("NEW"))
        .filter(Column::FirstTouchDueTime.lt(now))
        .order_by_asc(Column::FirstTouchDueTime)
        .order_by_asc(Column::LeadId)
        .limit(limit);
    if let Some(rep_id) = rep_id {
        query = query.filter(Column::AssignedRepId.eq(rep_id));
    }
    if let Some((due_time, lead_id)) = after {
        query = query.filter(
            Condition::any()
                .add(Column::FirstTouchDueTime.gt(due_time))
                .add(Condition::all().add(Column::FirstTouchDueTime.eq(due_time)).add(Column::LeadId.gt(lead_id))),
        );
    }
    query.all(db).await
}

/// Reads a stored setting.
pub async fn find_setting<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<setting::Model>, DbErr> {
    setting::Entity::find_by_id(key.to_owned()).one(db).await
}

/// Stores a setting, replacing any earlier value.
pub async fn save_setting<C: ConnectionTrait>(db: &C, key: &str, value: Value, time: DateTime<Utc>) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;

    let row = setting::ActiveModel {
        key: sea_orm::ActiveValue::Set(key.to_owned()),
        value: sea_orm::ActiveValue::Set(value),
        update_time: sea_orm::ActiveValue::Set(time),
    };
    setting::Entity::insert(row)
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_columns([setting::Column::Value, setting::Column::UpdateTime])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes a list of strings as a JSON array.
pub fn strings_to_json(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

/// Reads a JSON array of strings; other entries are skipped.
pub fn json_to_strings(value: &Value) -> Vec<String> {
    value.as_array().map(|values| values.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

/// Writes a string map as a JSON object.
pub fn map_to_json(map: &BTreeMap<String, String>) -> Value {
    Value::Object(map.iter().map(|(key, value)| (key.clone(), Value::String(value.clone()))).collect())
}

/// Reads a JSON object of strings; other values are skipped.
pub fn json_to_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|object| object.iter().filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}
