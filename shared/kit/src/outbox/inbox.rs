//! The consumer side of exactly-once delivery.

use std::collections::HashSet;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entity::inbox;

/// Records that `event_id` is being applied in the current transaction. Returns false when
/// the event was applied before, in which case the caller must skip its effect.
pub async fn record<C: ConnectionTrait>(txn: &C, event_id: Uuid, source: &str) -> Result<bool, DbErr> {
    let row = inbox::ActiveModel {
        event_id: Set(event_id),
        source: Set(source.to_owned()),
        process_time: Set(crate::time::now()),
    };

    let inserted = inbox::Entity::insert(row)
        .on_conflict(OnConflict::column(inbox::Column::EventId).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;

    Ok(inserted == 1)
}

/// Returns which of `event_ids` were applied before, with one query. A consumer that applies
/// a batch records the others with [`record_many`] in the same transaction.
pub async fn find_recorded<C: ConnectionTrait>(txn: &C, event_ids: Vec<Uuid>) -> Result<HashSet<Uuid>, DbErr> {
    if event_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = inbox::Entity::find().filter(inbox::Column::EventId.is_in(event_ids)).all(txn).await?;
    Ok(rows.into_iter().map(|row| row.event_id).collect())
}

/// Records several events as applied with multi-row inserts (see `crate::db::insert_rows`). An
/// event that another transaction recorded in the meantime fails the insert with a unique
/// violation, so the caller's transaction rolls back and the delivery is retried, never
/// applied twice.
pub async fn record_many<C: ConnectionTrait>(txn: &C, event_ids: Vec<Uuid>, source: &str) -> Result<(), DbErr> {
    let now = crate::time::now();
    let rows = event_ids.into_iter().map(|event_id| inbox::ActiveModel {
        event_id: Set(event_id),
        source: Set(source.to_owned()),
        process_time: Set(now),
    });
    crate::db::insert_rows(txn, rows).await
}
