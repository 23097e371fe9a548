//! Reads and writes of the scoring database. Every function takes a connection or a
//! transaction, so callers decide the transaction boundaries.

pub mod entity;
pub mod outcomes;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::{ActivityFact, Model};
pub use entity::{ledger_entry, lead_score, rescore_job, scored_activity, scoring_model};

/// State name of the active version.
pub const ACTIVE: &str = "ACTIVE";
/// State name of a draft.
pub const DRAFT: &str = "DRAFT";
/// State name of a replaced version.
pub const RETIRED: &str = "RETIRED";

/// Reads the engine's model from a stored version.
pub fn model_from_row(row: &scoring_model::Model) -> Result<Model, DbErr> {
    let mut model: Model = serde_json::from_value(row.definition.clone())
        .map_err(|error| DbErr::Custom(format!("stored model {} v{} does not decode: {error}", row.model_id, row.version)))?;
    model.version = row.version;
    model.model_id = row.model_id.clone();
    Ok(model)
}

/// Returns the active version of a model.
pub async fn active_model<C: ConnectionTrait>(db: &C, model_id: &str) -> Result<Option<(Model, scoring_model::Model)>, DbErr> {
    let row = scoring_model::Entity::find()
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .filter(scoring_model::Column::State.eq(ACTIVE))
        .one(db)
        .await?;
    match row {
        Some(row) => Ok(Some((model_from_row(&row)?, row))),
        None => Ok(None),
    }
}

/// Returns one version of a model.
pub async fn model_version<C: ConnectionTrait>(db: &C, model_id: &str, version: i32) -> Result<Option<scoring_model::Model>, DbErr> {
    scoring_model::Entity::find_by_id((model_id.to_owned(), version)).one(db).await
}

/// Lists versions of a model, newest first, below `before` when given.
pub async fn list_versions<C: ConnectionTrait>(
    db: &C,
    model_id: &str,
    before: Option<i32>,
    limit: u64,
) -> Result<Vec<scoring_model::Model>, DbErr> {
    let mut query = scoring_model::Entity::find()
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .order_by_desc(scoring_model::Column::Version)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(scoring_model::Column::Version.lt(before));
    }
    query.all(db).await
}

/// Stores a model as a new version in `state`; returns the stored row.
pub async fn insert_version<C: ConnectionTrait>(db: &C, model: &Model, state: &str) -> Result<scoring_model::Model, DbErr> {
    let latest = scoring_model::Entity::find()
        .filter(scoring_model::Column::ModelId.eq(model.model_id.as_str()))
        .order_by_desc(scoring_model::Column::Version)
        .one(db)
        .await?;
    let version = latest.map(|row| row.version + 1).unwrap_or(1);
    let now = leadflow_kit::time::now();

    let mut stored = model.clone();
    stored.version = version;
    let row = scoring_model::Model {
        model_id: model.model_id.clone(),
        version,
        state: state.to_owned(),
        definition: serde_json::to_value(&stored).map_err(|error| DbErr::Custom(error.to_string()))?,
        mql_threshold: model.threshold,
        description: model.description.clone(),
        create_time: now,
        publish_time: (state == ACTIVE).then_some(now),
    };
    scoring_model::Entity::insert(scoring_model::ActiveModel {
        model_id: Set(row.model_id.clone()),
        version: Set(row.version),
        state: Set(row.state.clone()),
        definition: Set(row.definition.clone()),
        mql_threshold: Set(row.mql_threshold),
        description: Set(row.description.clone()),
        create_time: Set(row.create_time),
        publish_time: Set(row.publish_time),
    })
    .exec_without_returning(db)
    .await?;
    Ok(row)
}

/// Makes `version` the active version of its model and retires the previous one; starts a
/// rescoring job for it.
pub async fn activate<C: ConnectionTrait>(db: &C, model_id: &str, version: i32) -> Result<(), DbErr> {
    let now = leadflow_kit::time::now();
    scoring_model::Entity::update_many()
        .col_expr(scoring_model::Column::State, Expr::value(RETIRED))
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .filter(scoring_model::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    scoring_model::Entity::update_many()
        .col_expr(scoring_model::Column::State, Expr::value(ACTIVE))
        .col_expr(scoring_model::Column::PublishTime, Expr::value(Some(now)))
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .filter(scoring_model::Column::Version.eq(version))
        .exec(db)
        .await?;

    let leads_total = lead_score::Entity::find().count(db).await? as i64;
    rescore_job::Entity::insert(rescore_job::ActiveModel {
        model_id: Set(model_id.to_owned()),
        version: Set(version),
        cursor_lead_id: Set(None),
        leads_done: Set(0),
        leads_total: Set(leads_total),
        finished: Set(leads_total == 0),
        update_time: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Returns the rescoring job of a version.
pub async fn rescore_job<C: ConnectionTrait>(db: &C, model_id: &str, version: i32) -> Result<Option<rescore_job::Model>, DbErr> {
    rescore_job::Entity::find_by_id((model_id.to_owned(), version)).one(db).await
}

/// Returns the oldest unfinished rescoring job.
pub async fn pending_rescore<C: ConnectionTrait>(db: &C) -> Result<Option<rescore_job::Model>, DbErr> {
    rescore_job::Entity::find()
        .filter(rescore_job::Column::Finished.eq(false))
        .order_by_asc(rescore_job::Column::UpdateTime)
        .one(db)
        .await
}

/// Records rescoring progress.
pub async fn save_rescore<C: ConnectionTrait>(db: &C, job: &rescore_job::Model) -> Result<(), DbErr> {
    rescore_job::Entity::update_many()
        .col_expr(rescore_job::Column::CursorLeadId, Expr::value(job.cursor_lead_id))
        .col_expr(rescore_job::Column::LeadsDone, Expr::value(job.leads_done))
        .col_expr(rescore_job::Column::LeadsTotal, Expr::value(job.leads_total))
        .col_expr(rescore_job::Column::Finished, Expr::value(job.finished))
        .col_expr(rescore_job::Column::UpdateTime, Expr::value(leadflow_kit::time::now()))
        .filter(rescore_job::Column::ModelId.eq(job.model_id.as_str()))
        .filter(rescore_job::Column::Version.eq(job.version))
        .exec(db)
        .await?;
    Ok(())
}

/// Returns lead ids after `after`, in id order.
pub async fn lead_ids_after<C: ConnectionTrait>(db: &C, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>, DbErr> {
    let mut query = lead_score::Entity::find()
        .select_only()
        .column(lead_score::Column::LeadId)
        .order_by_asc(lead_score::Column::LeadId)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(lead_score::Column::LeadId.gt(after));
    }
    query.into_tuple::<Uuid>().all(db).await
}

/// Returns leads whose next check is due at `now`.
pub async fn leads_due<C: ConnectionTrait>(db: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>, DbErr> {
    lead_score::Entity::find()
        .select_only()
        .column(lead_score::Column::LeadId)
        .filter(lead_score::Column::NextCheckAt.lte(now))
        .order_by_asc(lead_score::Column::NextCheckAt)
        .limit(limit)
        .into_tuple::<Uuid>()
        .all(db)
        .await
}

/// Finds a lead's score; on PostgreSQL the row is locked for the rest of the transaction so
/// concurrent deliveries for one lead apply one after the other.
pub async fn find_score_for_update<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<lead_score::Model>, DbErr> {
    let mut query = lead_score::Entity::find_by_id(lead_id);
    if leadflow_kit::db::is_postgres(db) {
        query = query.lock_exclusive();
    }
    query.one(db).await
}

/// Finds the scores of several leads with one query, locked for update on PostgreSQL in
/// lead id order, so two transactions lock shared leads in the same order.
pub async fn find_scores_for_update<C: ConnectionTrait>(
    db: &C,
    lead_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, lead_score::Model>, DbErr> {
    if lead_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = lead_score::Entity::find()
        .filter(lead_score::Column::LeadId.is_in(lead_ids))
        .order_by_asc(lead_score::Column::LeadId);
    if leadflow_kit::db::is_postgres(db) {
        query = query.lock_exclusive();
    }
    Ok(query.all(db).await?.into_iter().map(|score| (score.lead_id, score)).collect())
}

/// Finds a lead's score.
pub async fn find_score<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<lead_score::Model>, DbErr> {
    lead_score::Entity::find_by_id(lead_id).one(db).await
}

/// Inserts a score row.
pub async fn insert_score<C: ConnectionTrait>(db: &C, score: &lead_score::Model) -> Result<(), DbErr> {
    lead_score::Entity::insert(score_row(score)).exec_without_returning(db).await?;
    Ok(())
}

/// Inserts score rows with multi-row inserts. A lead that has a score already fails the
/// statement, as [`insert_score`] does.
pub async fn insert_scores<C: ConnectionTrait>(db: &C, scores: Vec<&lead_score::Model>) -> Result<(), DbErr> {
    leadflow_kit::db::insert_rows(db, scores.into_iter().map(score_row)).await
}

/// Writes every mutable column of stored score rows, several rows per statement.
pub async fn update_scores<C: ConnectionTrait>(db: &C, scores: Vec<&lead_score::Model>) -> Result<(), DbErr> {
    use lead_score::Column;
    let on_conflict = OnConflict::column(Column::LeadId)
        .update_columns([
            Column::Score,
            Column::Engagement,
            Column::Fit,
            Column::FloorAdjustment,
            Column::Mql,
            Column::MqlCount,
            Column::LastMqlTime,
            Column::Source,
            Column::Campaign,
            Column::Attributes,
            Column::Outcome,
            Column::LedgerEntries,
            Column::ModelVersion,
            Column::NextCheckAt,
            Column::UpdateTime,
            Column::MergedInto,
            Column::DoNotContact,
        ])
        .to_owned();
    leadflow_kit::db::upsert_rows(db, scores.into_iter().map(score_row), on_conflict).await
}

fn score_row(score: &lead_score::Model) -> lead_score::ActiveModel {
    lead_score::ActiveModel::from(score.clone())
}

/// Writes every mutable column of a score row.
pub async fn update_score<C: ConnectionTrait>(db: &C, score: &lead_score::Model) -> Result<(), DbErr> {
    lead_score::Entity::update_many()
        .col_expr(lead_score::Column::Score, Expr::value(score.score))
        .col_expr(lead_score::Column::Engagement, Expr::value(score.engagement))
        .col_expr(lead_score::Column::Fit, Expr::value(score.fit))
        .col_expr(lead_score::Column::FloorAdjustment, Expr::value(score.floor_adjustment))
        .col_expr(lead_score::Column::Mql, Expr::value(score.mql))
        .col_expr(lead_score::Column::MqlCount, Expr::value(score.mql_count))
        .col_expr(lead_score::Column::LastMqlTime, Expr::value(score.last_mql_time))
        .col_expr(lead_score::Column::Source, Expr::value(score.source.clone()))
        .col_expr(lead_score::Column::Campaign, Expr::value(score.campaign.clone()))
        .col_expr(lead_score::Column::Attributes, Expr::value(score.attributes.clone()))
        .col_expr(lead_score::Column::Outcome, Expr::value(score.outcome.clone()))
        .col_expr(lead_score::Column::LedgerEntries, Expr::value(score.ledger_entries))
        .col_expr(lead_score::Column::ModelVersion, Expr::value(score.model_version))
        .col_expr(lead_score::Column::NextCheckAt, Expr::value(score.next_check_at))
        .col_expr(lead_score::Column::UpdateTime, Expr::value(score.update_time))
        .col_expr(lead_score::Column::MergedInto, Expr::value(score.merged_into))
        .col_expr(lead_score::Column::DoNotContact, Expr::value(score.do_not_contact))
        .filter(lead_score::Column::LeadId.eq(score.lead_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Returns which of `activity_ids` were received before, with one query.
pub async fn known_activities<C: ConnectionTrait>(db: &C, activity_ids: Vec<Uuid>) -> Result<HashSet<Uuid>, DbErr> {
    if activity_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = scored_activity::Entity::find()
        .select_only()
        .column(scored_activity::Column::ActivityId)
        .filter(scored_activity::Column::ActivityId.is_in(activity_ids))
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Verdict of an activity not evaluated yet.
pub const PENDING: &str = "pending";

/// Returns every activity of a lead, oldest first.
pub async fn lead_activities<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<scored_activity::Model>, DbErr> {
    scored_activity::Entity::find()
        .filter(scored_activity::Column::LeadId.eq(lead_id))
        .order_by_asc(scored_activity::Column::OccurredAt)
        .order_by_asc(scored_activity::Column::ActivityId)
        .all(db)
        .await
}

/// Returns the activities of several leads with one query, oldest first for each lead.
pub async fn activities_of_leads<C: ConnectionTrait>(
    db: &C,
    lead_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Vec<scored_activity::Model>>, DbErr> {
    activities_by_lead(db, lead_ids, None).await
}

/// Reads the activities of several leads that match `condition` with one query, oldest first
/// for each lead.
async fn activities_by_lead<C: ConnectionTrait>(
    db: &C,
    lead_ids: Vec<Uuid>,
    condition: Option<Condition>,
) -> Result<HashMap<Uuid, Vec<scored_activity::Model>>, DbErr> {
    let mut by_lead: HashMap<Uuid, Vec<scored_activity::Model>> = HashMap::new();
    if lead_ids.is_empty() {
        return Ok(by_lead);
    }
    let mut query = scored_activity::Entity::find().filter(scored_activity::Column::LeadId.is_in(lead_ids));
    if let Some(condition) = condition {
        query = query.filter(condition);
    }
    let rows = query
        .order_by_asc(scored_activity::Column::OccurredAt)
        .order_by_asc(scored_activity::Column::ActivityId)
        .all(db)
        .await?;
    for row in rows {
        by_lead.entry(row.lead_id).or_default().push(row);
    }
    Ok(by_lead)
}

/// Summary of a lead's stored activities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredActivities {
    /// `occurred_at` of the latest one.
    pub latest: DateTime<Utc>,
    /// Some are still pending evaluation.
    pub pending: bool,
}

/// Returns the latest `occurred_at` of each lead's stored activities and whether any is
/// pending, with one query. Leads without stored activities are absent.
pub async fn stored_activities_in_brief<C: ConnectionTrait>(
    db: &C,
    lead_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, StoredActivities>, DbErr> {
    if lead_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pending = Expr::cust(format!("MAX(CASE WHEN verdict = '{PENDING}' THEN 1 ELSE 0 END)"));
    let rows: Vec<(Uuid, DateTime<Utc>, i32)> = scored_activity::Entity::find()
        .select_only()
        .column(scored_activity::Column::LeadId)
        .column_as(scored_activity::Column::OccurredAt.max(), "latest")
        .column_as(pending, "pending")
        .filter(scored_activity::Column::LeadId.is_in(lead_ids))
        .group_by(scored_activity::Column::LeadId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(lead_id, latest, pending)| (lead_id, StoredActivities { latest, pending: pending != 0 })).collect())
}

/// Returns the stored activities of several leads that the rules of `reach` counted, oldest
/// first for each lead, with one query. A windowed rule's activities are read only after
/// `from` less the window. Nothing is read when `reach` is empty.
pub async fn counted_within_reach<C: ConnectionTrait>(
    db: &C,
    lead_ids: Vec<Uuid>,
    reach: &[crate::domain::evaluate::LimitReach],
    from: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<scored_activity::Model>>, DbErr> {
    if reach.is_empty() {
        return Ok(HashMap::new());
    }
    let mut rules = Condition::any();
    for rule in reach {
        let mut condition = Condition::all().add(scored_activity::Column::RuleId.eq(rule.rule_id.as_str()));
        if let Some(window_secs) = rule.window_secs {
            condition = condition.add(scored_activity::Column::OccurredAt.gt(from - chrono::Duration::seconds(window_secs)));
        }
        rules = rules.add(condition);
    }
    let counted = Condition::all()
        .add(scored_activity::Column::Verdict.eq(crate::domain::Verdict::Counted.code()))
        .add(rules);
    activities_by_lead(db, lead_ids, Some(counted)).await
}

/// Inserts activity rows with multi-row inserts. An activity stored before fails the
/// statement.
pub async fn insert_activities<C: ConnectionTrait>(db: &C, rows: Vec<scored_activity::Model>) -> Result<(), DbErr> {
    leadflow_kit::db::insert_rows(db, rows.into_iter().map(scored_activity::ActiveModel::from)).await
}

/// Writes the verdict columns of stored activity rows, several rows per statement.
pub async fn update_activities<C: ConnectionTrait>(db: &C, rows: Vec<scored_activity::Model>) -> Result<(), DbErr> {
    use scored_activity::Column;
    let on_conflict = OnConflict::column(Column::ActivityId)
        .update_columns([Column::RuleId, Column::BasePoints, Column::CreditedPoints, Column::Verdict, Column::Detail])
        .to_owned();
    let rows = rows.into_iter().map(scored_activity::ActiveModel::from);
    leadflow_kit::db::upsert_rows(db, rows, on_conflict).await
}

/// Returns a received activity as a row pending evaluation.
pub fn pending_activity(lead_id: Uuid, fact: &ActivityFact) -> scored_activity::Model {
    scored_activity::Model {
        activity_id: fact.activity_id,
        lead_id,
        activity_type: fact.activity_type.clone(),
        occurred_at: fact.occurred_at,
        properties: map_to_json(&fact.properties),
        rule_id: None,
        base_points: 0,
        credited_points: 0,
        verdict: PENDING.to_owned(),
        detail: String::new(),
        anonymous: fact.anonymous,
    }
}

/// Converts a stored activity to the engine's form.
pub fn fact_from_row(row: &scored_activity::Model) -> ActivityFact {
    ActivityFact {
        activity_id: row.activity_id,
        activity_type: row.activity_type.clone(),
        occurred_at: row.occurred_at,
        properties: json_to_map(&row.properties),
        anonymous: row.anonymous,
    }
}

/// Inserts ledger entries.
pub async fn insert_ledger_entries<C: ConnectionTrait>(db: &C, entries: Vec<ledger_entry::Model>) -> Result<(), DbErr> {
    let rows = entries.into_iter().map(|entry| ledger_entry::ActiveModel {
        id: Set(entry.id),
        lead_id: Set(entry.lead_id),
        kind: Set(entry.kind),
        activity_id: Set(entry.activity_id),
        rule_id: Set(entry.rule_id),
        model_id: Set(entry.model_id),
        model_version: Set(entry.model_version),
        points: Set(entry.points),
        score_before: Set(entry.score_before),
        score_after: Set(entry.score_after),
        reason: Set(entry.reason),
        detail: Set(entry.detail),
        effective_time: Set(entry.effective_time),
        entry_time: Set(entry.entry_time),
    });
    leadflow_kit::db::insert_rows(db, rows).await
}

/// Lists ledger entries after `after`, in id order, for one lead or all.
pub async fn ledger_after<C: ConnectionTrait>(
    db: &C,
    lead_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ledger_entry::Model>, DbErr> {
    let mut query = ledger_entry::Entity::find().order_by_asc(ledger_entry::Column::Id).limit(limit);
    if let Some(lead_id) = lead_id {
        query = query.filter(ledger_entry::Column::LeadId.eq(lead_id));
    }
    if let Some(after) = after {
        query = query.filter(ledger_entry::Column::Id.gt(after));
    }
    query.all(db).await
}

/// Returns the id of the newest ledger entry.
pub async fn last_ledger_id<C: ConnectionTrait>(db: &C) -> Result<Option<Uuid>, DbErr> {
    ledger_entry::Entity::find()
        .select_only()
        .column(ledger_entry::Column::Id)
        .order_by_desc(ledger_entry::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await
}

/// Returns the sum of a lead's ledger entries.
pub async fn ledger_sum<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<i64, DbErr> {
    let points: Vec<i64> = ledger_entry::Entity::find()
        .select_only()
        .column(ledger_entry::Column::Points)
        .filter(ledger_entry::Column::LeadId.eq(lead_id))
        .into_tuple::<i64>()
        .all(db)
        .await?;
    Ok(points.iter().sum())
}

/// Lists scores highest first, then by lead id, after the given position.
pub async fn list_scores<C: ConnectionTrait>(
    db: &C,
    after: Option<(i64, Uuid)>,
    limit: u64,
) -> Result<Vec<lead_score::Model>, DbErr> {
    let mut query = lead_score::Entity::find()
        .order_by_desc(lead_score::Column::Score)
        .order_by_asc(lead_score::Column::LeadId)
        .limit(limit);
    if let Some((score, lead_id)) = after {
        query = query.filter(
            Condition::any().add(lead_score::Column::Score.lt(score)).add(
                Condition::all().add(lead_score::Column::Score.eq(score)).add(lead_score::Column::LeadId.gt(lead_id)),
            ),
        );
    }
    query.all(db).await
}

/// Reads a JSON object of strings as a map; other JSON values read as empty.
pub fn json_to_map(value: &serde_json::Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter_map(|(key, value)| value.as_str().map(|text| (key.clone(), text.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes a map as a JSON object of strings.
pub fn map_to_json(map: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        map.iter().map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone()))).collect(),
    )
}
