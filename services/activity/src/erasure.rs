//! Erasure of a lead's personal data across the suite (GDPR right to erasure).
//!
//! `EraseLead` erases the activity service's rows in one transaction with a `LeadErased`
//! outbox event for scoring. Scoring erases its copies and forwards the event to
//! qualification, which erases its own and sends `ErasureConfirmed` back here with both
//! services' times. The erasure is complete when that confirmation is recorded.
//!
//! What remains of the lead is an anonymous tombstone: its id, source, campaign, lifecycle
//! stage, outcome, consent flags and times, and its activities' types and times, so funnel and
//! activity counts stay the same. Leads merged into the erased lead are the same person and
//! are erased with it.

use leadflow_kit::errors::Reason;
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_kit::privacy;
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_kit::{ApiError, ApiResult, CallContext, retry_on_conflict};
use leadflow_proto::activity::{
    EraseLeadRequest, EraseLeadResponse, Erasure, ErasureState, GetErasureRequest, GetErasureResponse,
};
use leadflow_proto::events::{ActivityEvent, ErasureConfirmed, LeadErased, activity_event};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use uuid::Uuid;

use crate::domain::{self, LeadRef};
use crate::events;
use crate::store::{self, erasure::erasure, lead};

const ERASE_METHOD: &str = "leadflow.activity.v1.ActivityService/EraseLead";

/// Handles `EraseLead`: erases the lead unless it was erased before, and returns its erasure.
pub async fn erase_lead(
    db: &DatabaseConnection,
    waker: &OutboxWaker,
    ctx: &CallContext,
    request: EraseLeadRequest,
) -> ApiResult<EraseLeadResponse> {
    let mut violations = Vec::new();
    let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
    if !violations.is_empty() {
        return Err(ApiError::invalid(violations));
    }
    let Some(lead_key) = lead_key else {
        return Err(ApiError::internal("validated lead key missing"));
    };
    let key = RequestKey::new(ERASE_METHOD, &request.request_id, &EraseLeadRequest { request_id: String::new(), ..request })?;

    let (lead_key, key) = (&lead_key, key.as_ref());
    let response = retry_on_conflict(|| async move {
        let txn = db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key).await? {
            return Ok(stored);
        }
        let response = erase_in(&txn, lead_key, &ctx.traceparent).await?;
        idempotency::store(&txn, key, &response).await?;
        txn.commit().await?;
        Ok(response)
    })
    .await?;

    if response.created {
        waker.wake();
    }
    Ok(response)
}

/// Erases the lead a key names in the caller's transaction, or returns its earlier erasure.
async fn erase_in<C: ConnectionTrait>(txn: &C, lead_key: &LeadRef, traceparent: &str) -> ApiResult<EraseLeadResponse> {
    let Some(lead) = store::find_lead(txn, lead_key).await? else {
        let described = lead_key.describe();
        return Err(ApiError::not_found(
            Reason::LeadNotFound,
            format!("no lead matches {described}; an erased lead is found only by its lead_id"),
        )
        .with_arg("key", described));
    };

    if lead.erase_time.is_some() {
        let Some(existing) = store::erasure::find_by_lead(txn, lead.id).await? else {
            return Err(ApiError::internal(format!("lead {} is erased but has no erasure record", lead.id)));
        };
        return Ok(EraseLeadResponse { erasure: Some(erasure_to_proto(&existing)), created: false });
    }

    let now = leadflow_kit::time::now();
    let erasure_id = Uuid::now_v7();
    let merged = store::erasure::merged_into(txn, lead.id).await?;

    // Merged leads go first, so their `LeadErased` events reach scoring and qualification
    // before the survivor's, whose confirmation then covers them all.
    for merged_id in &merged {
        erase_one(txn, *merged_id, erasure_id, now, traceparent).await?;
    }
    erase_one(txn, lead.id, erasure_id, now, traceparent).await?;

    let row = erasure::Model {
        id: erasure_id,
        lead_id: lead.id,
        activity_erase_time: now,
        scoring_erase_time: None,
        qualification_erase_time: None,
        complete_time: None,
    };
    store::erasure::insert(txn, &row).await?;
    tracing::info!(lead_id = %lead.id, erasure_id = %erasure_id, merged_leads = merged.len(), "lead's personal data erased");
    Ok(EraseLeadResponse { erasure: Some(erasure_to_proto(&row)), created: true })
}

/// Erases one lead row with everything that refers to it, and writes its `LeadErased` event.
async fn erase_one<C: ConnectionTrait>(
    txn: &C,
    lead_id: Uuid,
    erasure_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    traceparent: &str,
) -> Result<(), DbErr> {
    store::erasure::erase_lead_rows(txn, lead_id, now).await?;

    let lead_text = lead_id.to_string();
    privacy::scrub_outbox(txn, &lead_text, scrub_activity_event).await?;
    privacy::forget_stored_responses(txn, &lead_text).await?;

    let kind = activity_event::Kind::LeadErased(LeadErased {
        erasure_id: erasure_id.to_string(),
        erase_time: Some(to_timestamp(now)),
        scoring_erase_time: None,
    });
    events::enqueue(txn, lead_id, traceparent, kind).await
}

/// Removes the attributes and activity properties of a pending activity event; other kinds
/// carry no personal data.
fn scrub_activity_event(payload: &[u8]) -> Option<Vec<u8>> {
    let mut event = ActivityEvent::decode(payload).ok()?;
    match event.kind.as_mut()? {
        activity_event::Kind::LeadProfileChanged(profile) if !profile.attributes.is_empty() => profile.attributes.clear(),
        activity_event::Kind::ActivityRecorded(recorded) if !recorded.properties.is_empty() => recorded.properties.clear(),
        _ => return None,
    }
    Some(event.encode_to_vec())
}

/// Handles `GetErasure`.
pub async fn get_erasure(db: &DatabaseConnection, request: GetErasureRequest) -> ApiResult<GetErasureResponse> {
    let erasure_id = request.erasure_id.trim();
    let lead_id = request.lead_id.trim();
    let row = match (erasure_id.is_empty(), lead_id.is_empty()) {
        (false, true) => store::erasure::find(db, parse_id("erasure_id", erasure_id)?).await?,
        (true, false) => store::erasure::find_by_lead(db, parse_id("lead_id", lead_id)?).await?,
        _ => {
            return Err(ApiError::invalid_field(
                "erasure_id",
                "give exactly one of erasure_id and lead_id".to_owned(),
            ));
        }
    };

    let Some(row) = row else {
        let described = if erasure_id.is_empty() { format!("lead_id {lead_id}") } else { format!("erasure_id {erasure_id}") };
        return Err(ApiError::not_found(
            Reason::ErasureNotFound,
            format!("no erasure matches {described}; erase the lead with EraseLead first"),
        )
        .with_arg("key", described));
    };
    Ok(GetErasureResponse { erasure: Some(erasure_to_proto(&row)) })
}

fn parse_id(field: &str, value: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(value).map_err(|_| ApiError::invalid_field(field, format!("{value:?} is not a UUID")))
}

/// Records the confirmations of scoring and qualification on the erasure, in the caller's
/// transaction. Confirmations of leads merged into the erased lead, and of erasures this
/// service does not know, are ignored.
pub async fn apply_confirmation<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
    lead_id: Uuid,
    confirmed: &ErasureConfirmed,
) -> Result<(), DbErr> {
    let Ok(erasure_id) = Uuid::parse_str(&confirmed.erasure_id) else {
        tracing::warn!(event_id = %event_id, lead_id = %lead_id, "erasure confirmation without a valid erasure id ignored");
        return Ok(());
    };
    let Some(mut row) = store::erasure::find(db, erasure_id).await? else {
        tracing::warn!(event_id = %event_id, erasure_id = %erasure_id, "confirmation of an unknown erasure ignored");
        return Ok(());
    };
    if row.lead_id != lead_id {
        tracing::debug!(event_id = %event_id, erasure_id = %erasure_id, lead_id = %lead_id, "erasure of a merged lead confirmed");
        return Ok(());
    }

    let time = |timestamp: &Option<prost_types::Timestamp>| timestamp.as_ref().and_then(from_timestamp);
    row.scoring_erase_time = row.scoring_erase_time.or(time(&confirmed.scoring_erase_time));
    row.qualification_erase_time = row.qualification_erase_time.or(time(&confirmed.qualification_erase_time));
    if row.complete_time.is_none() && row.scoring_erase_time.is_some() && row.qualification_erase_time.is_some() {
        row.complete_time = Some(leadflow_kit::time::now());
    }
    store::erasure::update_confirmations(db, &row).await?;
    tracing::info!(erasure_id = %erasure_id, lead_id = %lead_id, "erasure confirmed by scoring and qualification");
    Ok(())
}

/// Returns FAILED_PRECONDITION when the lead's personal data was erased, so it takes no new
/// activities.
pub fn reject_erased(lead: &lead::Model) -> ApiResult<()> {
    if lead.erase_time.is_none() {
        return Ok(());
    }
    Err(ApiError::failed_precondition(
        Reason::LeadErased,
        format!("lead {} was erased and takes no new activities; identify the person again to start a new lead", lead.id),
    )
    .with_arg("lead_id", lead.id.to_string()))
}

/// Converts a stored erasure to its API form.
pub fn erasure_to_proto(row: &erasure::Model) -> Erasure {
    let state = if row.complete_time.is_some() { ErasureState::Completed } else { ErasureState::Pending };
    Erasure {
        erasure_id: row.id.to_string(),
        lead_id: row.lead_id.to_string(),
        state: state as i32,
        activity_erase_time: Some(to_timestamp(row.activity_erase_time)),
        scoring_erase_time: row.scoring_erase_time.map(to_timestamp),
        qualification_erase_time: row.qualification_erase_time.map(to_timestamp),
        complete_time: row.complete_time.map(to_timestamp),
    }
}
