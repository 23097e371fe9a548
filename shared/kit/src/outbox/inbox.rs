//! The consumer side of exactly-once delivery.

use std::collections::HashSet;

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
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

/// Records the events of a delivered batch as applied, with multi-row inserts that skip every
/// id recorded before, and returns the ids it recorded: the events the caller must apply, in
/// the same transaction. An id named twice is recorded, and returned, once.
///
/// One statement replaces a look-up followed by an insert. An id that a concurrent
/// transaction is recording makes the insert wait on PostgreSQL. When that transaction
/// commits, the id is skipped here, and when it rolls back, the id is recorded here.
pub async fn record_new<C: ConnectionTrait>(txn: &C, event_ids: &[Uuid], source: &str) -> Result<HashSet<Uuid>, DbErr> {
    let mut seen = HashSet::new();
    let unique: Vec<Uuid> = event_ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    let now = crate::time::now();
    let mut recorded = HashSet::with_capacity(unique.len());
    for chunk in unique.chunks(crate::db::MAX_ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert
            .into_table(inbox::Entity)
            .columns([inbox::Column::EventId, inbox::Column::Source, inbox::Column::ProcessTime])
            .on_conflict(OnConflict::column(inbox::Column::EventId).do_nothing().to_owned())
            .returning_col(inbox::Column::EventId);
        for event_id in chunk {
            insert.values_panic([(*event_id).into(), source.into(), now.into()]);
        }
        let statement = txn.get_database_backend().build(&insert);
        for row in txn.query_all(statement).await? {
            recorded.insert(row.try_get::<Uuid>("", "event_id")?);
        }
    }
    Ok(recorded)
}
