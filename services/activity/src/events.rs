//! Events of the activity service: those it writes to its outbox for the scoring service,
//! the relay sink that delivers them, and the qualification events it consumes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::{self, EventSink};
pub(crate) use leadflow_kit::outbox::entity::outbox::ActiveModel as OutboxRow;
use leadflow_kit::time::to_timestamp;
use leadflow_proto::events::{
    ActivityEvent, ActivityRecorded, LeadProfileChanged, LeadsMerged, OutcomeImported, QualificationEvent,
    activity_event, qualification_event,
};
use leadflow_proto::scoring::DeliverActivityEventsRequest;
use leadflow_proto::scoring::scoring_events_service_client::ScoringEventsServiceClient;
use leadflow_proto::types::{Outcome, QualificationState};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};
use tonic::Status;
use leadflow_kit::auth::TokenChannel;
use uuid::Uuid;

use crate::domain;
use crate::store::{self, activity, lead, lead_merge};

/// Outbox destination of events for the scoring service.
pub const SCORING: &str = "scoring";
/// Name of the qualification service in the inbox.
pub const QUALIFICATION: &str = "qualification";

/// Writes an activity event about `lead_id` for the scoring service to the outbox.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    traceparent: &str,
    kind: activity_event::Kind,
) -> Result<(), DbErr> {
    outbox::enqueue_rows(db, vec![outbox_row(lead_id, traceparent, kind)]).await
}

/// Builds the outbox row of an activity event about `lead_id` for the scoring service.
fn outbox_row(lead_id: Uuid, traceparent: &str, kind: activity_event::Kind) -> OutboxRow {
    let event_id = Uuid::now_v7();
    let event = ActivityEvent {
        event_id: event_id.to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(to_timestamp(leadflow_kit::time::now())),
        traceparent: traceparent.to_owned(),
        kind: Some(kind),
    };
    outbox::row(SCORING, event_id, &event.lead_id, event.encode_to_vec())
}

/// Writes a `LeadProfileChanged` event for `lead`. No e-mail address is carried.
pub async fn lead_profile_changed<C: ConnectionTrait>(
    db: &C,
    lead: &lead::Model,
    created: bool,
    traceparent: &str,
) -> Result<(), DbErr> {
    outbox::enqueue_rows(db, vec![lead_profile_changed_row(lead, created, traceparent)]).await
}

/// Builds the outbox row of the `LeadProfileChanged` event of `lead`.
pub(crate) fn lead_profile_changed_row(lead: &lead::Model, created: bool, traceparent: &str) -> OutboxRow {
    let kind = activity_event::Kind::LeadProfileChanged(LeadProfileChanged {
        created,
        source: lead.source.clone(),
        campaign: lead.campaign.clone(),
        attributes: store::json_to_map(&lead.attributes),
        lead_create_time: Some(to_timestamp(lead.create_time)),
        do_not_track: lead.do_not_track,
        do_not_contact: lead.do_not_contact,
        anonymous: lead.anonymous,
    });
    outbox_row(lead.id, traceparent, kind)
}

/// Writes a `LeadsMerged` event for the survivor, listing the activities that moved to it.
pub async fn leads_merged<C: ConnectionTrait>(
    db: &C,
    merge: &lead_merge::Model,
    activity_ids: &[Uuid],
    traceparent: &str,
) -> Result<(), DbErr> {
    let kind = activity_event::Kind::LeadsMerged(LeadsMerged {
        merge_id: merge.id.to_string(),
        merged_lead_id: merge.merged_lead_id.to_string(),
        merge_time: Some(to_timestamp(merge.merge_time)),
        activity_ids: activity_ids.iter().map(Uuid::to_string).collect(),
    });
    enqueue(db, merge.survivor_lead_id, traceparent, kind).await
}

/// Writes an `ActivityRecorded` event for `activity`; `anonymous` is true when its lead was
/// an anonymous visitor.
pub async fn activity_recorded<C: ConnectionTrait>(
    db: &C,
    activity: &activity::Model,
    anonymous: bool,
    traceparent: &str,
) -> Result<(), DbErr> {
    outbox::enqueue_rows(db, vec![activity_recorded_row(activity, anonymous, traceparent)]).await
}

/// Builds the outbox row of the `ActivityRecorded` event of `activity`.
pub(crate) fn activity_recorded_row(activity: &activity::Model, anonymous: bool, traceparent: &str) -> OutboxRow {
    let kind = activity_event::Kind::ActivityRecorded(ActivityRecorded {
        activity_id: activity.id.to_string(),
        r#type: domain::activity_type_from_name(&activity.activity_type) as i32,
        occurred_at: Some(to_timestamp(activity.occurred_at)),
        properties: store::json_to_map(&activity.properties),
        anonymous,
    });
    outbox_row(activity.lead_id, traceparent, kind)
}

/// Writes an `OutcomeImported` event.
pub async fn outcome_imported<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    outcome: Outcome,
    occurred_at: DateTime<Utc>,
    traceparent: &str,
) -> Result<(), DbErr> {
    outbox::enqueue_rows(db, vec![outcome_imported_row(lead_id, outcome, occurred_at, traceparent)]).await
}

/// Builds the outbox row of the `OutcomeImported` event of an outcome recorded at `occurred_at`.
pub(crate) fn outcome_imported_row(lead_id: Uuid, outcome: Outcome, occurred_at: DateTime<Utc>, traceparent: &str) -> OutboxRow {
    let kind = activity_event::Kind::OutcomeImported(OutcomeImported {
        outcome: outcome as i32,
        occurred_at: Some(to_timestamp(occurred_at)),
    });
    outbox_row(lead_id, traceparent, kind)
}

/// Delivers outbox rows to `ScoringEventsService.DeliverActivityEvents`.
pub struct ScoringSink {
    client: ScoringEventsServiceClient<TokenChannel>,
}

impl ScoringSink {
    /// Creates a sink over a (lazily connecting) channel to the scoring service.
    pub fn new(channel: TokenChannel) -> Self {
        Self { client: ScoringEventsServiceClient::new(channel) }
    }
}

#[async_trait::async_trait]
impl EventSink for ScoringSink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        let events = payloads
            .iter()
            .map(|payload| ActivityEvent::decode(payload.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Status::internal(format!("outbox row does not decode: {error}")))?;

        let mut request = tonic::Request::new(DeliverActivityEventsRequest { events });
        request.set_timeout(timeout);
        self.client.clone().deliver_activity_events(request).await?;
        Ok(())
    }
}

/// Result of applying one qualification event.
pub enum Applied {
    /// The event changed the lead.
    Applied,
    /// The event was applied before.
    Duplicate,
}

/// Applies one qualification event in the caller's transaction: records it in the inbox and
/// moves the lead's lifecycle stage. Events for unknown leads are recorded and ignored.
pub async fn apply_qualification_event<C: ConnectionTrait>(
    db: &C,
    event: &QualificationEvent,
) -> Result<Applied, EventError> {
    let event_id = Uuid::parse_str(&event.event_id).map_err(|_| EventError::Invalid("event_id is not a UUID"))?;
    let lead_id = Uuid::parse_str(&event.lead_id).map_err(|_| EventError::Invalid("lead_id is not a UUID"))?;
    let Some(kind) = &event.kind else {
        return Err(EventError::Invalid("event has no kind"));
    };

    if !outbox::inbox::record(db, event_id, QUALIFICATION).await? {
        return Ok(Applied::Duplicate);
    }

    let change = match kind {
        qualification_event::Kind::StateChanged(change) => change,
        qualification_event::Kind::SlaMissed(missed) => {
            let rep_id = if missed.rep_id.is_empty() { "unassigned" } else { missed.rep_id.as_str() };
            tracing::warn!(event_id = %event_id, lead_id = %lead_id, rep_id, "first-touch SLA missed for this MQL");
            return Ok(Applied::Applied);
        }
        qualification_event::Kind::ErasureConfirmed(confirmed) => {
            crate::erasure::apply_confirmation(db, event_id, lead_id, confirmed).await?;
            return Ok(Applied::Applied);
        }
    };

    let state = QualificationState::try_from(change.to_state).unwrap_or(QualificationState::Unspecified);
    let Some(stage) = domain::lifecycle_for_state(state) else {
        return Err(EventError::Invalid("state_changed.to_state is unspecified"));
    };

    let Some(mut lead) = store::find_lead(db, &domain::LeadRef::Id(lead_id)).await? else {
        tracing::warn!(event_id = %event_id, lead_id = %lead_id, "qualification event for unknown lead ignored");
        return Ok(Applied::Applied);
    };
    lead.lifecycle_stage = domain::lifecycle_name(stage).to_owned();
    lead.update_time = leadflow_kit::time::now();
    store::update_lead(db, &lead).await?;
    tracing::debug!(event_id = %event_id, lead_id = %lead_id, stage = %lead.lifecycle_stage, "lifecycle stage changed");
    Ok(Applied::Applied)
}

/// Failure to apply an event.
#[derive(Debug)]
pub enum EventError {
    /// The event is malformed; redelivery will not help.
    Invalid(&'static str),
    /// The database failed.
    Database(DbErr),
}

impl From<DbErr> for EventError {
    fn from(error: DbErr) -> Self {
        EventError::Database(error)
    }
}
