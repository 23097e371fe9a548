//! Applying events to scores: activity events from the activity service and state changes
//! from the qualification service. Each event is applied in the caller's transaction after
//! its id is recorded in the inbox, so a redelivered event changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::{self, EventSink};
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_proto::events::{
    ActivityEvent, ImportedOutcomeForwarded, LeadAttributed, LeadBecameMql, QualificationEvent, ScoringEvent,
    activity_event, qualification_event, scoring_event,
};
use leadflow_proto::qualification::DeliverScoringEventsRequest;
use leadflow_proto::qualification::qualification_events_service_client::QualificationEventsServiceClient;
use leadflow_proto::types::{Outcome, QualificationState};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::{self, Model};
use crate::store::{self, lead_score, ledger_entry};

/// Outbox destination of events for the qualification service.
pub const QUALIFICATION: &str = "qualification";

/// Result of applying one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The event changed state.
    Applied,
    /// The event was applied before.
    Duplicate,
}

/// Failure to apply an event.
#[derive(Debug)]
pub enum EventError {
    /// The event is malformed; redelivery will not help.
    Invalid(String),
    /// The database failed.
    Database(DbErr),
}

impl From<DbErr> for EventError {
    fn from(error: DbErr) -> Self {
        EventError::Database(error)
    }
}

fn parse_uuid(value: &str, field: &str) -> Result<Uuid, EventError> {
    Uuid::parse_str(value).map_err(|_| EventError::Invalid(format!("{field} {value:?} is not a UUID")))
}

async fn enqueue<C: ConnectionTrait>(db: &C, lead_id: Uuid, traceparent: &str, kind: scoring_event::Kind) -> Result<(), DbErr> {
    let event_id = Uuid::now_v7();
    let event = ScoringEvent {
        event_id: event_id.to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(to_timestamp(leadflow_kit::time::now())),
        traceparent: traceparent.to_owned(),
        kind: Some(kind),
    };
    outbox::enqueue(db, QUALIFICATION, event_id, &event.lead_id, event.encode_to_vec()).await
}

fn new_score(lead_id: Uuid, lead_create_time: DateTime<Utc>) -> lead_score::Model {
    lead_score::Model {
        lead_id,
        score: 0,
        mql: false,
        mql_count: 0,
        last_mql_time: None,
        source: String::new(),
        campaign: String::new(),
        outcome: None,
        ledger_entries: 0,
        lead_create_time,
        update_time: leadflow_kit::time::now(),
    }
}

/// Returns the lead's score row, creating it (and announcing the lead to qualification) when
/// the activity service's profile event has not arrived yet.
async fn score_row<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    seen_at: DateTime<Utc>,
    traceparent: &str,
) -> Result<lead_score::Model, DbErr> {
    if let Some(score) = store::find_score_for_update(db, lead_id).await? {
        return Ok(score);
    }

    let score = new_score(lead_id, seen_at);
    store::insert_score(db, score.clone()).await?;
    let kind = scoring_event::Kind::LeadAttributed(LeadAttributed {
        source: String::new(),
        campaign: String::new(),
        lead_create_time: Some(to_timestamp(seen_at)),
    });
    enqueue(db, lead_id, traceparent, kind).await?;
    Ok(score)
}

/// Applies one activity event. `model` is the active model of the batch.
pub async fn apply_activity_event<C: ConnectionTrait>(db: &C, model: &Model, event: &ActivityEvent) -> Result<Applied, EventError> {
    let event_id = parse_uuid(&event.event_id, "event_id")?;
    let lead_id = parse_uuid(&event.lead_id, "lead_id")?;
    let Some(kind) = &event.kind else {
        return Err(EventError::Invalid("event has no kind".to_owned()));
    };
    let created_at = event.create_time.as_ref().and_then(from_timestamp).unwrap_or_else(leadflow_kit::time::now);

    if !outbox::inbox::record(db, event_id, "activity").await? {
        return Ok(Applied::Duplicate);
    }

    match kind {
        activity_event::Kind::LeadProfileChanged(profile) => {
            let lead_create_time = profile.lead_create_time.as_ref().and_then(from_timestamp).unwrap_or(created_at);
            let mut score = match store::find_score_for_update(db, lead_id).await? {
                Some(score) => score,
                None => {
                    let score = new_score(lead_id, lead_create_time);
                    store::insert_score(db, score.clone()).await?;
                    score
                }
            };
            let attribution_changed = profile.created || score.source != profile.source || score.campaign != profile.campaign;
            score.source = profile.source.clone();
            score.campaign = profile.campaign.clone();
            score.update_time = leadflow_kit::time::now();
            store::update_score(db, &score).await?;

            if attribution_changed {
                let kind = scoring_event::Kind::LeadAttributed(LeadAttributed {
                    source: profile.source.clone(),
                    campaign: profile.campaign.clone(),
                    lead_create_time: Some(to_timestamp(lead_create_time)),
                });
                enqueue(db, lead_id, &event.traceparent, kind).await?;
            }
        }
        activity_event::Kind::ActivityRecorded(recorded) => {
            apply_activity(db, model, lead_id, recorded, created_at, &event.traceparent).await?;
        }
        activity_event::Kind::OutcomeImported(imported) => {
            let mut score = score_row(db, lead_id, created_at, &event.traceparent).await?;
            score.outcome = outcome_name(imported.outcome).map(str::to_owned);
            score.update_time = leadflow_kit::time::now();
            store::update_score(db, &score).await?;

            let kind = scoring_event::Kind::ImportedOutcomeForwarded(ImportedOutcomeForwarded {
                outcome: imported.outcome,
                occurred_at: imported.occurred_at,
            });
            enqueue(db, lead_id, &event.traceparent, kind).await?;
        }
    }

    Ok(Applied::Applied)
}

async fn apply_activity<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    lead_id: Uuid,
    recorded: &leadflow_proto::events::ActivityRecorded,
    created_at: DateTime<Utc>,
    traceparent: &str,
) -> Result<(), EventError> {
    let activity_id = parse_uuid(&recorded.activity_id, "activity_recorded.activity_id")?;
    let Some(type_name) = domain::activity_type_name(recorded.r#type) else {
        return Err(EventError::Invalid(format!("activity type {} is unknown", recorded.r#type)));
    };
    let occurred_at = recorded.occurred_at.as_ref().and_then(from_timestamp).unwrap_or(created_at);

    if store::activity_scored(db, activity_id).await? {
        return Ok(());
    }

    let mut score = score_row(db, lead_id, created_at, traceparent).await?;
    let award = model.award(type_name);
    let before = score.score;
    let after = before + award.points;

    store::insert_ledger_entry(
        db,
        ledger_entry::Model {
            id: Uuid::now_v7(),
            lead_id,
            activity_id: Some(activity_id),
            activity_type: type_name.to_owned(),
            rule: award.rule,
            model_id: model.model_id.clone(),
            model_version: model.version,
            points: award.points,
            score_before: before,
            score_after: after,
            occurred_at,
            entry_time: leadflow_kit::time::now(),
        },
    )
    .await?;

    score.score = after;
    score.ledger_entries += 1;
    score.update_time = leadflow_kit::time::now();

    let armed = !score.mql;
    if domain::crosses_threshold(armed, award.points, after, model.threshold) {
        score.mql = true;
        score.mql_count += 1;
        score.last_mql_time = Some(occurred_at);

        let entries = store::ledger_points(db, lead_id).await?;
        let mut reasons = domain::reasons(entries.iter().map(|(name, points)| (name.as_str(), *points)));
        reasons.truncate(domain::TOP_REASONS);

        let kind = scoring_event::Kind::LeadBecameMql(LeadBecameMql {
            score: after,
            threshold: model.threshold,
            model_id: model.model_id.clone(),
            model_version: model.version,
            source: score.source.clone(),
            campaign: score.campaign.clone(),
            crossed_at: Some(to_timestamp(occurred_at)),
            top_reasons: reasons,
        });
        enqueue(db, lead_id, traceparent, kind).await?;
        tracing::info!(lead_id = %lead_id, activity_id = %activity_id, score = after, threshold = model.threshold, "lead became MQL");
    }

    store::update_score(db, &score).await?;
    Ok(())
}

/// Applies one qualification event: a recycle re-arms the lead, a win or loss is kept as the
/// lead's outcome. Events for leads without a score are recorded and ignored.
pub async fn apply_qualification_event<C: ConnectionTrait>(db: &C, event: &QualificationEvent) -> Result<Applied, EventError> {
    let event_id = parse_uuid(&event.event_id, "event_id")?;
    let lead_id = parse_uuid(&event.lead_id, "lead_id")?;
    let Some(qualification_event::Kind::StateChanged(change)) = &event.kind else {
        return Err(EventError::Invalid("event has no kind".to_owned()));
    };

    if !outbox::inbox::record(db, event_id, "qualification").await? {
        return Ok(Applied::Duplicate);
    }

    let Some(mut score) = store::find_score_for_update(db, lead_id).await? else {
        tracing::warn!(event_id = %event_id, lead_id = %lead_id, "qualification event for a lead without score ignored");
        return Ok(Applied::Applied);
    };

    match QualificationState::try_from(change.to_state).unwrap_or(QualificationState::Unspecified) {
        QualificationState::Recycled => {
            score.mql = false;
            tracing::info!(lead_id = %lead_id, "lead recycled by sales; re-armed for MQL");
        }
        QualificationState::Won => score.outcome = Some("WON".to_owned()),
        QualificationState::Lost => score.outcome = Some("LOST".to_owned()),
        _ => return Ok(Applied::Applied),
    }
    score.update_time = leadflow_kit::time::now();
    store::update_score(db, &score).await?;
    Ok(Applied::Applied)
}

fn outcome_name(value: i32) -> Option<&'static str> {
    match Outcome::try_from(value) {
        Ok(Outcome::Won) => Some("WON"),
        Ok(Outcome::Lost) => Some("LOST"),
        _ => None,
    }
}

/// Delivers outbox rows to `QualificationEventsService.DeliverScoringEvents`.
pub struct QualificationSink {
    client: QualificationEventsServiceClient<Channel>,
}

impl QualificationSink {
    /// Creates a sink over a (lazily connecting) channel to the qualification service.
    pub fn new(channel: Channel) -> Self {
        Self { client: QualificationEventsServiceClient::new(channel) }
    }
}

#[async_trait::async_trait]
impl EventSink for QualificationSink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        let events = payloads
            .iter()
            .map(|payload| ScoringEvent::decode(payload.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Status::internal(format!("outbox row does not decode: {error}")))?;

        let mut request = tonic::Request::new(DeliverScoringEventsRequest { events });
        request.set_timeout(timeout);
        self.client.clone().deliver_scoring_events(request).await?;
        Ok(())
    }
}
