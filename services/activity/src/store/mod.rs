//! Reads and writes of the activity database. Every function takes a connection or a
//! transaction, so callers decide the transaction boundaries.

pub mod entity;
pub mod erasure;
pub mod identity;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::domain::LeadRef;
pub use entity::{activity, lead, lead_merge, visitor_alias};

/// Maximum number of merge steps followed from a merged lead to its survivor. A merge never
/// targets a merged lead, so chains stay one step long, and the bound only guards against
/// corrupted rows.
const MAX_MERGE_HOPS: usize = 8;

/// Finds a lead by id, e-mail address, external id or visitor id. A merged lead answers with
/// the lead it was merged into.
pub async fn find_lead<C: ConnectionTrait>(db: &C, key: &LeadRef) -> Result<Option<lead::Model>, DbErr> {
    let Some(mut lead) = find_lead_row(db, key).await? else {
        return Ok(None);
    };
    for _ in 0..MAX_MERGE_HOPS {
        let Some(survivor_id) = lead.merged_into else {
            return Ok(Some(lead));
        };
        match lead::Entity::find_by_id(survivor_id).one(db).await? {
            Some(survivor) => lead = survivor,
            None => return Err(DbErr::Custom(format!("lead {} is merged into missing lead {survivor_id}", lead.id))),
        }
    }
    Err(DbErr::Custom(format!("merges from lead {} form a chain longer than {MAX_MERGE_HOPS}", lead.id)))
}

/// Finds the stored lead row a key names, without following merges.
pub async fn find_lead_row<C: ConnectionTrait>(db: &C, key: &LeadRef) -> Result<Option<lead::Model>, DbErr> {
    let query = lead::Entity::find();
    let query = match key {
        LeadRef::Id(id) => query.filter(lead::Column::Id.eq(*id)),
        LeadRef::Email(email) => query.filter(lead::Column::Email.eq(email.as_str())),
        LeadRef::ExternalId(id) => query.filter(lead::Column::ExternalId.eq(id.as_str())),
        LeadRef::Visitor(visitor_id) => match identity::find_alias(db, visitor_id).await? {
            Some(alias) => query.filter(lead::Column::Id.eq(alias.lead_id)),
            None => return Ok(None),
        },
    };
    query.one(db).await
}

/// Finds the stored lead rows with any of the given ids, e-mail addresses or external ids,
/// with one query and without following merges.
pub async fn find_lead_rows<C: ConnectionTrait>(
    db: &C,
    ids: Vec<Uuid>,
    emails: Vec<String>,
    external_ids: Vec<String>,
) -> Result<Vec<lead::Model>, DbErr> {
    let mut any = Condition::any();
    if !ids.is_empty() {
        any = any.add(lead::Column::Id.is_in(ids));
    }
    if !emails.is_empty() {
        any = any.add(lead::Column::Email.is_in(emails));
    }
    if !external_ids.is_empty() {
        any = any.add(lead::Column::ExternalId.is_in(external_ids));
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    lead::Entity::find().filter(any).all(db).await
}

/// Inserts a lead.
pub async fn insert_lead<C: ConnectionTrait>(db: &C, model: lead::Model) -> Result<lead::Model, DbErr> {
    lead_row(model).insert(db).await
}

/// Inserts several new leads with multi-row inserts (see `leadflow_kit::db::insert_rows`).
pub async fn insert_leads<C: ConnectionTrait>(db: &C, models: Vec<lead::Model>) -> Result<(), DbErr> {
    leadflow_kit::db::insert_rows(db, models.into_iter().map(lead_row)).await
}

fn lead_row(model: lead::Model) -> lead::ActiveModel {
    lead::ActiveModel {
        id: Set(model.id),
        email: Set(model.email),
        external_id: Set(model.external_id),
        source: Set(model.source),
        campaign: Set(model.campaign),
        attributes: Set(model.attributes),
        lifecycle_stage: Set(model.lifecycle_stage),
        outcome: Set(model.outcome),
        create_time: Set(model.create_time),
        update_time: Set(model.update_time),
        do_not_track: Set(model.do_not_track),
        do_not_contact: Set(model.do_not_contact),
        anonymous: Set(model.anonymous),
        merged_into: Set(model.merged_into),
        erase_time: Set(model.erase_time),
    }
}

/// Writes every mutable column of a lead.
pub async fn update_lead<C: ConnectionTrait>(db: &C, model: &lead::Model) -> Result<(), DbErr> {
    lead::Entity::update_many()
        .col_expr(lead::Column::Email, Expr::value(model.email.clone()))
        .col_expr(lead::Column::ExternalId, Expr::value(model.external_id.clone()))
        .col_expr(lead::Column::Source, Expr::value(model.source.clone()))
        .col_expr(lead::Column::Campaign, Expr::value(model.campaign.clone()))
        .col_expr(lead::Column::Attributes, Expr::value(model.attributes.clone()))
        .col_expr(lead::Column::LifecycleStage, Expr::value(model.lifecycle_stage.clone()))
        .col_expr(lead::Column::Outcome, Expr::value(model.outcome.clone()))
        .col_expr(lead::Column::UpdateTime, Expr::value(model.update_time))
        .col_expr(lead::Column::DoNotTrack, Expr::value(model.do_not_track))
        .col_expr(lead::Column::DoNotContact, Expr::value(model.do_not_contact))
        .col_expr(lead::Column::Anonymous, Expr::value(model.anonymous))
        .col_expr(lead::Column::MergedInto, Expr::value(model.merged_into))
        .col_expr(lead::Column::EraseTime, Expr::value(model.erase_time))
        .filter(lead::Column::Id.eq(model.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Finds an activity by its idempotency key.
pub async fn find_activity_by_key<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<activity::Model>, DbErr> {
    activity::Entity::find().filter(activity::Column::IdempotencyKey.eq(key)).one(db).await
}

/// Inserts an activity.
pub async fn insert_activity<C: ConnectionTrait>(db: &C, model: activity::Model) -> Result<activity::Model, DbErr> {
    activity_row(model).insert(db).await
}

/// Inserts several activities with multi-row inserts (see `leadflow_kit::db::insert_rows`).
pub async fn insert_activities<C: ConnectionTrait>(db: &C, models: Vec<activity::Model>) -> Result<(), DbErr> {
    leadflow_kit::db::insert_rows(db, models.into_iter().map(activity_row)).await
}

/// Finds the activities that carry any of `keys` as idempotency key, by key.
pub async fn find_activities_by_keys<C: ConnectionTrait>(
    db: &C,
    keys: Vec<String>,
) -> Result<HashMap<String, activity::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = activity::Entity::find().filter(activity::Column::IdempotencyKey.is_in(keys)).all(db).await?;
    Ok(rows.into_iter().filter_map(|row| Some((row.idempotency_key.clone()?, row))).collect())
}

fn activity_row(model: activity::Model) -> activity::ActiveModel {
    activity::ActiveModel {
        id: Set(model.id),
        lead_id: Set(model.lead_id),
        activity_type: Set(model.activity_type),
        occurred_at: Set(model.occurred_at),
        properties: Set(model.properties),
        idempotency_key: Set(model.idempotency_key),
        record_time: Set(model.record_time),
    }
}

/// Lists leads newest first, after the lead `after` when given, leaving out merged leads.
/// UUIDv7 ids sort by creation time, so the id alone is the keyset.
pub async fn list_leads<C: ConnectionTrait>(db: &C, after: Option<Uuid>, limit: u64) -> Result<Vec<lead::Model>, DbErr> {
    let mut query =
        lead::Entity::find().filter(lead::Column::MergedInto.is_null()).order_by_desc(lead::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(lead::Column::Id.lt(after));
    }
    query.all(db).await
}

/// Lists a lead's activities by `occurred_at`, then id, after the given position.
pub async fn list_activities<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<activity::Model>, DbErr> {
    let mut query = activity::Entity::find()
        .filter(activity::Column::LeadId.eq(lead_id))
        .order_by_asc(activity::Column::OccurredAt)
        .order_by_asc(activity::Column::Id)
        .limit(limit);
    if let Some((occurred_at, id)) = after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(activity::Column::OccurredAt.gt(occurred_at))
                .add(
                    sea_orm::Condition::all()
                        .add(activity::Column::OccurredAt.eq(occurred_at))
                        .add(activity::Column::Id.gt(id)),
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

/// Returns true when a database error is a unique-key violation, which concurrent inserts of
/// the same lead or idempotency key produce.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
