//! Reads and writes of visitor aliases and merge records.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{activity, lead_merge, visitor_alias};

/// Finds a visitor alias.
pub async fn find_alias<C: ConnectionTrait>(db: &C, visitor_id: &str) -> Result<Option<visitor_alias::Model>, DbErr> {
    visitor_alias::Entity::find_by_id(visitor_id.to_owned()).one(db).await
}

/// Stores a new visitor alias of `lead_id`.
pub async fn insert_alias<C: ConnectionTrait>(db: &C, visitor_id: &str, lead_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    let row = visitor_alias::ActiveModel {
        visitor_id: Set(visitor_id.to_owned()),
        lead_id: Set(lead_id),
        create_time: Set(now),
        update_time: Set(now),
    };
    visitor_alias::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Points one visitor alias at another lead.
pub async fn move_alias<C: ConnectionTrait>(db: &C, visitor_id: &str, lead_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    visitor_alias::Entity::update_many()
        .col_expr(visitor_alias::Column::LeadId, Expr::value(lead_id))
        .col_expr(visitor_alias::Column::UpdateTime, Expr::value(now))
        .filter(visitor_alias::Column::VisitorId.eq(visitor_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Points every visitor alias of `from` at `to`.
pub async fn move_aliases<C: ConnectionTrait>(db: &C, from: Uuid, to: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    visitor_alias::Entity::update_many()
        .col_expr(visitor_alias::Column::LeadId, Expr::value(to))
        .col_expr(visitor_alias::Column::UpdateTime, Expr::value(now))
        .filter(visitor_alias::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

/// Returns the visitor ids of a lead, oldest first.
pub async fn lead_aliases<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<String>, DbErr> {
    let rows = visitor_alias::Entity::find()
        .filter(visitor_alias::Column::LeadId.eq(lead_id))
        .order_by_asc(visitor_alias::Column::CreateTime)
        .order_by_asc(visitor_alias::Column::VisitorId)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.visitor_id).collect())
}

/// Moves every activity of `from` to `to`; returns the ids of the moved activities.
pub async fn move_activities<C: ConnectionTrait>(db: &C, from: Uuid, to: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let ids: Vec<Uuid> = activity::Entity::find()
        .filter(activity::Column::LeadId.eq(from))
        .order_by_asc(activity::Column::OccurredAt)
        .order_by_asc(activity::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    activity::Entity::update_many()
        .col_expr(activity::Column::LeadId, Expr::value(to))
        .filter(activity::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    Ok(ids)
}

/// Finds the merge record of a merged lead.
pub async fn find_merge<C: ConnectionTrait>(db: &C, merged_lead_id: Uuid) -> Result<Option<lead_merge::Model>, DbErr> {
    lead_merge::Entity::find().filter(lead_merge::Column::MergedLeadId.eq(merged_lead_id)).one(db).await
}

/// Stores a merge record.
pub async fn insert_merge<C: ConnectionTrait>(db: &C, row: &lead_merge::Model) -> Result<(), DbErr> {
    let active = lead_merge::ActiveModel {
        id: Set(row.id),
        survivor_lead_id: Set(row.survivor_lead_id),
        merged_lead_id: Set(row.merged_lead_id),
        actor: Set(row.actor.clone()),
        merge_time: Set(row.merge_time),
        activities_moved: Set(row.activities_moved),
    };
    lead_merge::Entity::insert(active).exec_without_returning(db).await?;
    Ok(())
}
