//! The consumer side of exactly-once delivery.

use sea_orm::sea_query::OnConflict;
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
