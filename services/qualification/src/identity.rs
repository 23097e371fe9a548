//! Lead identity in the qualification service: merges of two leads and the do-not-contact
//! flag of queue entries.
//!
//! When the merged lead has a queue entry and the survivor has none, the entry with its
//! history, assignments and first-touch deadlines moves to the survivor. When both have one,
//! the survivor's entry is kept, and the merged lead's entry leaves the queue but stays
//! readable as history. Reads of the merged lead return the survivor's entry.

use chrono::{DateTime, Utc};
use leadflow_kit::time::from_timestamp;
use leadflow_proto::events::LeadsMerged;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::events::EventError;
use crate::store::{self, assignment, lead_merge, qualification, sla_entry, transition};

/// Maximum number of merge steps followed from a merged lead to its survivor. The activity
/// service never merges into a merged lead, so one step is the norm.
const MAX_MERGE_HOPS: usize = 8;

/// Returns the lead that `lead_id` names now: itself, or the survivor it was merged into.
pub async fn survivor_of<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Uuid, DbErr> {
    let mut current = lead_id;
    for _ in 0..MAX_MERGE_HOPS {
        match lead_merge::Entity::find_by_id(current).one(db).await? {
            Some(merge) => current = merge.survivor_lead_id,
            None => break,
        }
    }
    Ok(current)
}

/// Applies a merge forwarded by scoring for `survivor_id`. A merge applied before changes nothing.
pub async fn apply_leads_merged<C: ConnectionTrait>(
    db: &C,
    survivor_id: Uuid,
    merged: &LeadsMerged,
    now: DateTime<Utc>,
) -> Result<(), EventError> {
    let merged_id =
        Uuid::parse_str(&merged.merged_lead_id).map_err(|_| EventError::Invalid("leads_merged.merged_lead_id is not a UUID"))?;
    if merged_id == survivor_id {
        return Err(EventError::Invalid("leads_merged names the survivor as merged lead"));
    }
    if lead_merge::Entity::find_by_id(merged_id).one(db).await?.is_some() {
        return Ok(());
    }
    let merge_time = merged.merge_time.as_ref().and_then(from_timestamp).unwrap_or(now);
    let record = lead_merge::ActiveModel {
        merged_lead_id: Set(merged_id),
        survivor_lead_id: Set(survivor_id),
        merge_time: Set(merge_time),
    };
    lead_merge::Entity::insert(record).exec_without_returning(db).await?;

    let survivor_entry = store::find_qualification(db, survivor_id).await?;
    let merged_entry = store::find_qualification(db, merged_id).await?;
    match (survivor_entry, merged_entry) {
        (None, Some(_)) => {
            move_entry(db, merged_id, survivor_id).await?;
            tracing::info!(lead_id = %survivor_id, merged_lead_id = %merged_id, "queue entry moved to the survivor of a merge");
        }
        (Some(survivor), Some(merged_entry_row)) => {
            if merged_entry_row.do_not_contact && !survivor.do_not_contact {
                set_do_not_contact(db, survivor_id, true).await?;
            }
            tracing::info!(lead_id = %survivor_id, merged_lead_id = %merged_id, "survivor keeps its queue entry; merged entry left the queue");
        }
        _ => {}
    }
    Ok(())
}

/// Moves a lead's queue entry, with its transitions, assignments and SLA entries, to another lead.
async fn move_entry<C: ConnectionTrait>(db: &C, from: Uuid, to: Uuid) -> Result<(), DbErr> {
    qualification::Entity::update_many()
        .col_expr(qualification::Column::LeadId, Expr::value(to))
        .filter(qualification::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    transition::Entity::update_many()
        .col_expr(transition::Column::LeadId, Expr::value(to))
        .filter(transition::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    assignment::Entity::update_many()
        .col_expr(assignment::Column::LeadId, Expr::value(to))
        .filter(assignment::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    sla_entry::Entity::update_many()
        .col_expr(sla_entry::Column::LeadId, Expr::value(to))
        .filter(sla_entry::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

async fn set_do_not_contact<C: ConnectionTrait>(db: &C, lead_id: Uuid, flag: bool) -> Result<bool, DbErr> {
    let result = qualification::Entity::update_many()
        .col_expr(qualification::Column::DoNotContact, Expr::value(flag))
        .filter(qualification::Column::LeadId.eq(lead_id))
        .filter(qualification::Column::DoNotContact.ne(flag))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Keeps the do-not-contact flag of a lead's queue entry in step with the lead's consent,
/// so a flag set after the hand-off still shows in the queue.
pub async fn apply_do_not_contact<C: ConnectionTrait>(db: &C, lead_id: Uuid, flag: bool) -> Result<(), DbErr> {
    if set_do_not_contact(db, lead_id, flag).await? {
        tracing::info!(lead_id = %lead_id, do_not_contact = flag, "do-not-contact flag of the queue entry changed");
    }
    Ok(())
}
