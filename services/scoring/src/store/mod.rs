//! Reads and writes of the scoring database. Every function takes a connection or a
//! transaction, so callers decide the transaction boundaries.

pub mod entity;

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::Model;
pub use entity::{ledger_entry, lead_score, scoring_model};

/// Returns the active version of a model with its description and publication time.
pub async fn active_model<C: ConnectionTrait>(db: &C, model_id: &str) -> Result<Option<(Model, scoring_model::Model)>, DbErr> {
    let row = scoring_model::Entity::find()
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .filter(scoring_model::Column::Active.eq(true))
        .one(db)
        .await?;
    Ok(row.map(|row| (model_from_row(&row), row)))
}

fn model_from_row(row: &scoring_model::Model) -> Model {
    let points: BTreeMap<String, i64> = serde_json::from_value(row.activity_points.clone()).unwrap_or_default();
    Model { model_id: row.model_id.clone(), version: row.version, points, threshold: row.mql_threshold }
}

/// Stores a new version of a model and makes it the only active one; returns the version.
pub async fn publish_model<C: ConnectionTrait>(
    db: &C,
    model_id: &str,
    points: &BTreeMap<String, i64>,
    threshold: i64,
    description: &str,
) -> Result<scoring_model::Model, DbErr> {
    let latest = scoring_model::Entity::find()
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .order_by_desc(scoring_model::Column::Version)
        .one(db)
        .await?;
    let version = latest.map(|row| row.version + 1).unwrap_or(1);

    scoring_model::Entity::update_many()
        .col_expr(scoring_model::Column::Active, Expr::value(false))
        .filter(scoring_model::Column::ModelId.eq(model_id))
        .exec(db)
        .await?;

    let row = scoring_model::ActiveModel {
        model_id: Set(model_id.to_owned()),
        version: Set(version),
        activity_points: Set(serde_json::to_value(points).unwrap_or_default()),
        mql_threshold: Set(threshold),
        description: Set(description.to_owned()),
        active: Set(true),
        publish_time: Set(leadflow_kit::time::now()),
    };
    row.insert(db).await
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

/// Finds a lead's score.
pub async fn find_score<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<lead_score::Model>, DbErr> {
    lead_score::Entity::find_by_id(lead_id).one(db).await
}

/// Inserts a score row.
pub async fn insert_score<C: ConnectionTrait>(db: &C, score: lead_score::Model) -> Result<(), DbErr> {
    let row = lead_score::ActiveModel {
        lead_id: Set(score.lead_id),
        score: Set(score.score),
        mql: Set(score.mql),
        mql_count: Set(score.mql_count),
        last_mql_time: Set(score.last_mql_time),
        source: Set(score.source),
        campaign: Set(score.campaign),
        outcome: Set(score.outcome),
        ledger_entries: Set(score.ledger_entries),
        lead_create_time: Set(score.lead_create_time),
        update_time: Set(score.update_time),
    };
    lead_score::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Writes every mutable column of a score row.
pub async fn update_score<C: ConnectionTrait>(db: &C, score: &lead_score::Model) -> Result<(), DbErr> {
    lead_score::Entity::update_many()
        .col_expr(lead_score::Column::Score, Expr::value(score.score))
        .col_expr(lead_score::Column::Mql, Expr::value(score.mql))
        .col_expr(lead_score::Column::MqlCount, Expr::value(score.mql_count))
        .col_expr(lead_score::Column::LastMqlTime, Expr::value(score.last_mql_time))
        .col_expr(lead_score::Column::Source, Expr::value(score.source.clone()))
        .col_expr(lead_score::Column::Campaign, Expr::value(score.campaign.clone()))
        .col_expr(lead_score::Column::Outcome, Expr::value(score.outcome.clone()))
        .col_expr(lead_score::Column::LedgerEntries, Expr::value(score.ledger_entries))
        .col_expr(lead_score::Column::UpdateTime, Expr::value(score.update_time))
        .filter(lead_score::Column::LeadId.eq(score.lead_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Inserts a ledger entry.
pub async fn insert_ledger_entry<C: ConnectionTrait>(db: &C, entry: ledger_entry::Model) -> Result<(), DbErr> {
    let row = ledger_entry::ActiveModel {
        id: Set(entry.id),
        lead_id: Set(entry.lead_id),
        activity_id: Set(entry.activity_id),
        activity_type: Set(entry.activity_type),
        rule: Set(entry.rule),
        model_id: Set(entry.model_id),
        model_version: Set(entry.model_version),
        points: Set(entry.points),
        score_before: Set(entry.score_before),
        score_after: Set(entry.score_after),
        occurred_at: Set(entry.occurred_at),
        entry_time: Set(entry.entry_time),
    };
    ledger_entry::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Returns true when an activity already has a ledger entry.
pub async fn activity_scored<C: ConnectionTrait>(db: &C, activity_id: Uuid) -> Result<bool, DbErr> {
    let found = ledger_entry::Entity::find()
        .select_only()
        .column(ledger_entry::Column::Id)
        .filter(ledger_entry::Column::ActivityId.eq(activity_id))
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Returns the activity type and points of every ledger entry of a lead.
pub async fn ledger_points<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<(String, i64)>, DbErr> {
    ledger_entry::Entity::find()
        .select_only()
        .column(ledger_entry::Column::ActivityType)
        .column(ledger_entry::Column::Points)
        .filter(ledger_entry::Column::LeadId.eq(lead_id))
        .order_by_asc(ledger_entry::Column::Id)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
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
