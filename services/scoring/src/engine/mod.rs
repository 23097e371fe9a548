//! Applying events to scores. Activity events store what they carry and mark their lead;
//! each marked lead is then settled once per batch ([`settle`]). Qualification events re-arm
//! recycled leads and keep outcomes. Background jobs settle leads whose decay step is due and
//! rescore every lead after a publication ([`jobs`]).
//!
//! Every event is recorded in the inbox in the transaction of its effect, so a redelivered
//! event changes nothing.

mod batch;
pub mod jobs;
pub mod settle;

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::{self, EventSink, entity::outbox::ActiveModel as OutboxRow};
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_proto::events::{
    ActivityEvent, ImportedOutcomeForwarded, LeadAttributed, QualificationEvent, ScoringEvent, activity_event,
    qualification_event, scoring_event,
};
use leadflow_proto::qualification::DeliverScoringEventsRequest;
use leadflow_proto::qualification::qualification_events_service_client::QualificationEventsServiceClient;
use leadflow_proto::types::{Outcome, QualificationState};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};
use tonic::Status;
use leadflow_kit::auth::TokenChannel;
use uuid::Uuid;

use crate::domain::{self, ActivityFact, Model};
use batch::Batch;
use crate::store::{self, lead_score};
pub use settle::{Cause, settle_lead};

/// Outbox destination of events for the qualification service.
pub const QUALIFICATION: &str = "qualification";

/// Counts of a delivered batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events applied.
    pub applied: i32,
    /// Events skipped because they were applied before.
    pub duplicates: i32,
}

/// Failure to apply an event.
#[derive(Debug)]
pub enum EventError {
    /// Event `index` of the batch is malformed; redelivery will not help.
    Invalid(usize, String),
    /// The database failed.
    Database(DbErr),
}

impl From<DbErr> for EventError {
    fn from(error: DbErr) -> Self {
        EventError::Database(error)
    }
}

fn parse_uuid(index: usize, value: &str, field: &str) -> Result<Uuid, EventError> {
    Uuid::parse_str(value).map_err(|_| EventError::Invalid(index, format!("{field} {value:?} is not a UUID")))
}

/// Builds the outbox row of a scoring event for the qualification service.
pub(crate) fn event_row(lead_id: Uuid, traceparent: &str, kind: scoring_event::Kind) -> OutboxRow {
    let event_id = Uuid::now_v7();
    let event = ScoringEvent {
        event_id: event_id.to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(to_timestamp(leadflow_kit::time::now())),
        traceparent: traceparent.to_owned(),
        kind: Some(kind),
    };
    outbox::row(QUALIFICATION, event_id, &event.lead_id, event.encode_to_vec())
}

/// Writes a scoring event for the qualification service to the outbox.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    traceparent: &str,
    kind: scoring_event::Kind,
) -> Result<(), DbErr> {
    outbox::enqueue_rows(db, vec![event_row(lead_id, traceparent, kind)]).await
}

/// Builds the event that announces a lead seen for the first time, for the funnel.
pub(crate) fn lead_announced(lead_create_time: DateTime<Utc>) -> scoring_event::Kind {
    scoring_event::Kind::LeadAttributed(LeadAttributed {
        source: String::new(),
        campaign: String::new(),
        lead_create_time: Some(to_timestamp(lead_create_time)),
        do_not_contact: false,
    })
}

/// Returns the lead's score row, creating it when this is the first event of the lead. A new
/// lead is announced to the qualification service.
pub(crate) async fn ensure_score<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    lead_id: Uuid,
    lead_create_time: DateTime<Utc>,
    now: DateTime<Utc>,
    traceparent: &str,
) -> Result<lead_score::Model, DbErr> {
    if let Some(score) = store::find_score_for_update(db, lead_id).await? {
        return Ok(score);
    }
    let score = settle::new_score(lead_id, lead_create_time, model, now);
    store::insert_score(db, &score).await?;
    enqueue(db, lead_id, traceparent, lead_announced(lead_create_time)).await?;
    Ok(score)
}

/// Applies a batch of activity events at `now`, then settles every lead they touched.
///
/// The look-ups that every event needs are made once for the whole batch. They record the
/// events in the inbox, which leaves out those applied before, and find the activities
/// received before and the scores of the leads named.
pub async fn apply_activity_events<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    events: &[ActivityEvent],
    now: DateTime<Utc>,
) -> Result<BatchOutcome, EventError> {
    let mut outcome = BatchOutcome::default();
    let mut touched: Vec<(Uuid, String)> = Vec::new();

    let mut ids = Vec::with_capacity(events.len());
    let mut activity_ids = Vec::new();
    for (index, event) in events.iter().enumerate() {
        ids.push((parse_uuid(index, &event.event_id, "event_id")?, parse_uuid(index, &event.lead_id, "lead_id")?));
        if let Some(activity_event::Kind::ActivityRecorded(recorded)) = &event.kind {
            activity_ids.push(parse_uuid(index, &recorded.activity_id, "activity_recorded.activity_id")?);
        }
    }
    let event_ids: Vec<Uuid> = ids.iter().map(|(event_id, _)| *event_id).collect();
    let mut to_apply = outbox::inbox::record_new(db, &event_ids, "activity").await?;
    let mut known_activities = store::known_activities(db, activity_ids).await?;
    let mut lead_ids: Vec<Uuid> = ids.iter().map(|(_, lead_id)| *lead_id).collect();
    lead_ids.sort();
    lead_ids.dedup();
    let mut batch = Batch::default();
    batch.load(db, lead_ids).await?;

    for (index, (event, (event_id, lead_id))) in events.iter().zip(ids).enumerate() {
        let Some(kind) = &event.kind else {
            return Err(EventError::Invalid(index, "event has no kind".to_owned()));
        };
        let created_at = event.create_time.as_ref().and_then(from_timestamp).unwrap_or(now);

        // An event repeated within the batch counts as applied before, like a redelivery.
        if !to_apply.remove(&event_id) {
            outcome.duplicates += 1;
            continue;
        }
        outcome.applied += 1;

        match kind {
            activity_event::Kind::LeadProfileChanged(profile) => {
                let lead_create_time = profile.lead_create_time.as_ref().and_then(from_timestamp).unwrap_or(created_at);
                let score = batch.ensure(db, model, lead_id, lead_create_time, now, &event.traceparent).await?;
                let attribution_changed = score.source != profile.source
                    || score.campaign != profile.campaign
                    || score.do_not_contact != profile.do_not_contact;
                score.source = profile.source.clone();
                score.campaign = profile.campaign.clone();
                score.do_not_contact = profile.do_not_contact;
                score.attributes = store::map_to_json(&profile.attributes.clone().into_iter().collect());

                if attribution_changed {
                    let kind = scoring_event::Kind::LeadAttributed(LeadAttributed {
                        source: profile.source.clone(),
                        campaign: profile.campaign.clone(),
                        lead_create_time: Some(to_timestamp(score.lead_create_time)),
                        do_not_contact: profile.do_not_contact,
                    });
                    batch.enqueue(lead_id, &event.traceparent, kind);
                }
            }
            activity_event::Kind::ActivityRecorded(recorded) => {
                let activity_id = parse_uuid(index, &recorded.activity_id, "activity_recorded.activity_id")?;
                let Some(type_name) = domain::activity_type_name(recorded.r#type) else {
                    return Err(EventError::Invalid(index, format!("activity type {} is unknown", recorded.r#type)));
                };
                let score = batch.ensure(db, model, lead_id, created_at, now, &event.traceparent).await?;
                // An activity of a lead merged in the meantime belongs to the survivor.
                let owner = crate::identity::survivor_of(db, score).await?;
                if known_activities.insert(activity_id) {
                    let fact = ActivityFact {
                        activity_id,
                        activity_type: type_name.to_owned(),
                        // Evaluated at the precision it is stored with, so a later reading of
                        // the stored row gives the same verdicts.
                        occurred_at: leadflow_kit::time::truncate_to_micros(
                            recorded.occurred_at.as_ref().and_then(from_timestamp).unwrap_or(created_at),
                        ),
                        properties: recorded.properties.clone().into_iter().collect(),
                        anonymous: recorded.anonymous,
                    };
                    batch.receive(owner, &fact);
                }
                if owner != lead_id {
                    if !touched.iter().any(|(id, _)| *id == owner) {
                        touched.push((owner, event.traceparent.clone()));
                    }
                    continue;
                }
            }
            activity_event::Kind::OutcomeImported(imported) => {
                let score = batch.ensure(db, model, lead_id, created_at, now, &event.traceparent).await?;
                score.outcome = outcome_name(imported.outcome).map(str::to_owned);

                let kind = scoring_event::Kind::ImportedOutcomeForwarded(ImportedOutcomeForwarded {
                    outcome: imported.outcome,
                    occurred_at: imported.occurred_at,
                });
                batch.enqueue(lead_id, &event.traceparent, kind);
                continue;
            }
            activity_event::Kind::LeadsMerged(merged) => {
                // The merge settles the survivor with the activities of this batch. The survivor
                // stays among the touched leads, so those activities are also settled when the
                // merge is ignored. Settling it again at the same instant changes nothing.
                batch.flush(db).await?;
                crate::identity::apply_leads_merged(db, model, lead_id, merged, index, now, &event.traceparent).await?;
                batch.forget();
                continue;
            }
            activity_event::Kind::LeadErased(erased) => {
                // Activities of this batch recorded before the erasure count first; the lead
                // is frozen afterwards.
                if let Some(position) = touched.iter().position(|(id, _)| *id == lead_id) {
                    let lead = touched.remove(position);
                    batch.settle(db, model, &[lead], now, Cause::Events).await?;
                }
                batch.flush(db).await?;
                crate::erasure::apply_lead_erased(db, lead_id, erased, &event.traceparent, now).await?;
                batch.forget();
                continue;
            }
        }

        if !touched.iter().any(|(id, _)| *id == lead_id) {
            touched.push((lead_id, event.traceparent.clone()));
        }
    }

    batch.settle(db, model, &touched, now, Cause::Events).await?;
    batch.flush(db).await?;
    Ok(outcome)
}

/// Applies a batch of qualification events: a recycle re-arms the lead, a win or loss is kept
/// as its outcome. Events for leads without a score are recorded and ignored.
pub async fn apply_qualification_events<C: ConnectionTrait>(
    db: &C,
    events: &[QualificationEvent],
) -> Result<BatchOutcome, EventError> {
    let mut outcome = BatchOutcome::default();

    for (index, event) in events.iter().enumerate() {
        let event_id = parse_uuid(index, &event.event_id, "event_id")?;
        let lead_id = parse_uuid(index, &event.lead_id, "lead_id")?;
        let Some(kind) = &event.kind else {
            return Err(EventError::Invalid(index, "event has no kind".to_owned()));
        };

        if !outbox::inbox::record(db, event_id, "qualification").await? {
            outcome.duplicates += 1;
            continue;
        }
        outcome.applied += 1;

        // Scoring acts on state changes only; an SLA escalation does not change a score.
        let qualification_event::Kind::StateChanged(change) = kind else {
            continue;
        };

        let Some(mut score) = store::find_score_for_update(db, lead_id).await? else {
            tracing::warn!(event_id = %event_id, lead_id = %lead_id, "qualification event for a lead without score ignored");
            continue;
        };
        match QualificationState::try_from(change.to_state).unwrap_or(QualificationState::Unspecified) {
            QualificationState::Recycled => {
                score.mql = false;
                tracing::info!(lead_id = %lead_id, "lead recycled by sales; re-armed for MQL");
            }
            QualificationState::Won => score.outcome = Some("WON".to_owned()),
            QualificationState::Lost => score.outcome = Some("LOST".to_owned()),
            _ => continue,
        }
        store::update_score(db, &score).await?;
    }
    Ok(outcome)
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
    client: QualificationEventsServiceClient<TokenChannel>,
}

impl QualificationSink {
    /// Creates a sink over a (lazily connecting) channel to the qualification service.
    pub fn new(channel: TokenChannel) -> Self {
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
