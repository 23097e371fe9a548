//! Erasure of a lead's personal data in the qualification service.
//!
//! The `LeadErased` event that scoring forwards empties what sales and the MQL snapshot
//! recorded about the person: the profile attributes, BANT, the answers of other frameworks,
//! the rejection note, the override reason and the free-text reason of a close (won or lost).
//! What the funnel counts remains: states, the reason codes of rejections and recycles, deal
//! values, reps, SLA entries, source, campaign and times. The service then confirms both erasures to the
//! activity service with one `ErasureConfirmed` event.

use chrono::{DateTime, Utc};
use leadflow_kit::errors::Reason;
use leadflow_kit::time::to_timestamp;
use leadflow_kit::{ApiError, outbox, privacy};
use leadflow_proto::events::{ErasureConfirmed, LeadErased, QualificationEvent, qualification_event};
use prost::Message;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::events::ACTIVITY;
use crate::store::{qualification, transition};

/// Names of the closed states, whose reason is free text rather than a configured code.
const CLOSED_STATES: [&str; 2] = ["WON", "LOST"];

/// Leads whose personal data was erased.
pub mod erased_lead {
    use sea_orm::entity::prelude::*;

    /// One erased lead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "erased_lead")]
    pub struct Model {
        /// Lead id from the activity service.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// Id of the erasure in the activity service.
        pub erasure_id: String,
        /// Time this service erased the lead's data.
        pub erase_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Returns true when the lead's personal data was erased.
pub async fn is_erased<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<bool, DbErr> {
    Ok(erased_lead::Entity::find_by_id(lead_id).one(db).await?.is_some())
}

/// FAILED_PRECONDITION for a sales action that would store BANT, answers, a note or a close
/// reason on an erased lead. Actions without such text, such as a close without a reason, stay
/// allowed, so the funnel still follows the lead.
pub fn lead_erased_error(lead_id: Uuid) -> ApiError {
    ApiError::failed_precondition(
        Reason::LeadErased,
        format!("lead {lead_id} was erased, so it takes no BANT, answers, notes or close reasons; send the action without them"),
    )
    .with_arg("lead_id", lead_id.to_string())
}

/// Erases the lead's data at `now` in the caller's transaction and writes the
/// `ErasureConfirmed` event for the activity service.
pub async fn apply_lead_erased<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    erased: &LeadErased,
    traceparent: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    qualification::Entity::update_many()
        .col_expr(qualification::Column::Attributes, Expr::value(Option::<serde_json::Value>::None))
        .col_expr(qualification::Column::Bant, Expr::value(Option::<serde_json::Value>::None))
        .col_expr(qualification::Column::Answers, Expr::value(Option::<serde_json::Value>::None))
        .col_expr(qualification::Column::Note, Expr::value(""))
        .col_expr(qualification::Column::OverrideReason, Expr::value(""))
        .filter(qualification::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;
    qualification::Entity::update_many()
        .col_expr(qualification::Column::Reason, Expr::value(""))
        .filter(qualification::Column::LeadId.eq(lead_id))
        .filter(qualification::Column::State.is_in(CLOSED_STATES))
        .exec(db)
        .await?;
    transition::Entity::update_many()
        .col_expr(transition::Column::Reason, Expr::value(""))
        .filter(transition::Column::LeadId.eq(lead_id))
        .filter(transition::Column::ToState.is_in(CLOSED_STATES))
        .exec(db)
        .await?;

    let lead_text = lead_id.to_string();
    privacy::scrub_outbox(db, &lead_text, scrub_qualification_event).await?;
    privacy::forget_stored_responses(db, &lead_text).await?;

    let row = erased_lead::ActiveModel {
        lead_id: Set(lead_id),
        erasure_id: Set(erased.erasure_id.clone()),
        erase_time: Set(now),
    };
    erased_lead::Entity::insert(row)
        .on_conflict(OnConflict::column(erased_lead::Column::LeadId).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;

    let event_id = Uuid::now_v7();
    let event = QualificationEvent {
        event_id: event_id.to_string(),
        lead_id: lead_text,
        create_time: Some(to_timestamp(now)),
        traceparent: traceparent.to_owned(),
        kind: Some(qualification_event::Kind::ErasureConfirmed(ErasureConfirmed {
            erasure_id: erased.erasure_id.clone(),
            scoring_erase_time: erased.scoring_erase_time,
            qualification_erase_time: Some(to_timestamp(now)),
        })),
    };
    outbox::enqueue(db, ACTIVITY, event_id, &event.lead_id, event.encode_to_vec()).await?;
    tracing::info!(lead_id = %lead_id, erasure_id = %erased.erasure_id, "lead's personal data erased from qualification");
    Ok(())
}

/// Removes the free-text reason of a pending `StateChanged` to WON or LOST; reason codes of
/// other changes stay, and no other event carries personal data.
fn scrub_qualification_event(payload: &[u8]) -> Option<Vec<u8>> {
    use leadflow_proto::types::QualificationState;

    let mut event = QualificationEvent::decode(payload).ok()?;
    let Some(qualification_event::Kind::StateChanged(change)) = event.kind.as_mut() else {
        return None;
    };
    let closed = [QualificationState::Won as i32, QualificationState::Lost as i32];
    if !closed.contains(&change.to_state) || change.reason.is_empty() {
        return None;
    }
    change.reason.clear();
    Some(event.encode_to_vec())
}
