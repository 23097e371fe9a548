//! Events of the qualification service: the scoring events it consumes, the `StateChanged`
//! events it writes to its outbox for scoring and activity, and the relay sinks that deliver
//! them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::{self, EventSink};
use leadflow_kit::time::{from_timestamp, to_timestamp, truncate_to_micros};
use leadflow_proto::events::{
    ImportedOutcomeForwarded, LeadAttributed, LeadBecameMql, QualificationEvent, ScoringEvent, StateChanged,
    qualification_event, scoring_event,
};
use leadflow_proto::qualification::AssignmentMode;
use leadflow_proto::types::{Outcome, QualificationState};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};
use tonic::Status;
use leadflow_kit::auth::TokenChannel;
use uuid::Uuid;

use crate::assignment::{self, Candidate};
use crate::domain::{self, MqlArrival};
use crate::settings;
use crate::store::{self, qualification, sales, transition};

/// Outbox destination of events for the scoring service, and the name of the scoring
/// service in the inbox.
pub const SCORING: &str = "scoring";
/// Outbox destination of events for the activity service.
pub const ACTIVITY: &str = "activity";
/// Every outbox destination; each state change is written once per destination.
pub const DESTINATIONS: [&str; 2] = [SCORING, ACTIVITY];

/// A state change of one lead's qualification.
#[derive(Clone, Debug)]
pub struct StateChange<'a> {
    /// Lead whose state changed.
    pub lead_id: Uuid,
    /// State before; unspecified when the lead entered the queue.
    pub from: QualificationState,
    /// State after.
    pub to: QualificationState,
    /// Reason code of a rejection or a close; empty otherwise.
    pub reason: &'a str,
    /// Time of the change.
    pub change_time: DateTime<Utc>,
    /// Actor that made the change: a request's actor, or "system".
    pub actor: &'a str,
}

/// Writes the `SlaMissed` event of an escalated MQL for the activity service, which keeps
/// the lead's lifecycle, in the caller's transaction.
pub async fn record_sla_missed<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    due_time: chrono::DateTime<chrono::Utc>,
    escalate_time: chrono::DateTime<chrono::Utc>,
    rep_id: &str,
) -> Result<(), DbErr> {
    let event_id = Uuid::now_v7();
    let event = QualificationEvent {
        event_id: event_id.to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(to_timestamp(leadflow_kit::time::now())),
        traceparent: String::new(),
        kind: Some(qualification_event::Kind::SlaMissed(leadflow_proto::events::SlaMissed {
            due_time: Some(to_timestamp(due_time)),
            escalate_time: Some(to_timestamp(escalate_time)),
            rep_id: rep_id.to_owned(),
        })),
    };
    outbox::enqueue(db, ACTIVITY, event_id, &event.lead_id, event.encode_to_vec()).await
}

/// Records a state change in the caller's transaction: the transition row, and one
/// `StateChanged` event per destination, each with its own event id, written by one statement.
pub async fn record_state_change<C: ConnectionTrait>(
    db: &C,
    change: &StateChange<'_>,
    traceparent: &str,
) -> Result<(), DbErr> {
    let row = transition::Model {
        id: Uuid::now_v7(),
        lead_id: change.lead_id,
        from_state: domain::state_name(change.from).to_owned(),
        to_state: domain::state_name(change.to).to_owned(),
        reason: change.reason.to_owned(),
        change_time: change.change_time,
        actor: change.actor.to_owned(),
    };
    store::insert_transition(db, row).await?;

    let kind = qualification_event::Kind::StateChanged(StateChanged {
        from_state: change.from as i32,
        to_state: change.to as i32,
        reason: change.reason.to_owned(),
        change_time: Some(to_timestamp(change.change_time)),
    });
    let rows = DESTINATIONS
        .iter()
        .map(|destination| {
            let event_id = Uuid::now_v7();
            let event = QualificationEvent {
                event_id: event_id.to_string(),
                lead_id: change.lead_id.to_string(),
                create_time: Some(to_timestamp(leadflow_kit::time::now())),
                traceparent: traceparent.to_owned(),
                kind: Some(kind.clone()),
            };
            outbox::row(destination, event_id, &event.lead_id, event.encode_to_vec())
        })
        .collect();
    outbox::enqueue_rows(db, rows).await?;

    // The reason of a close is free text that may name the person, so only the configured
    // reason codes of rejections and recycles are logged.
    let reason_code = if change.to == QualificationState::Recycled { change.reason } else { "" };
    tracing::info!(
        lead_id = %change.lead_id,
        from_state = domain::state_name(change.from),
        to_state = domain::state_name(change.to),
        reason = reason_code,
        actor = change.actor,
        "qualification state changed"
    );
    Ok(())
}

fn decode_events(payloads: &[Vec<u8>]) -> Result<Vec<QualificationEvent>, Status> {
    payloads
        .iter()
        .map(|payload| QualificationEvent::decode(payload.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Status::internal(format!("outbox row does not decode: {error}")))
}

/// Delivers outbox rows to `ScoringEventsService.DeliverQualificationEvents`.
pub struct ScoringSink {
    client: leadflow_proto::scoring::scoring_events_service_client::ScoringEventsServiceClient<TokenChannel>,
}

impl ScoringSink {
    /// Creates a sink over a (lazily connecting) channel to the scoring service.
    pub fn new(channel: TokenChannel) -> Self {
        Self { client: leadflow_proto::scoring::scoring_events_service_client::ScoringEventsServiceClient::new(channel) }
    }
}

#[async_trait::async_trait]
impl EventSink for ScoringSink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        let events = decode_events(&payloads)?;
        let mut request = tonic::Request::new(leadflow_proto::scoring::DeliverQualificationEventsRequest { events });
        request.set_timeout(timeout);
        self.client.clone().deliver_qualification_events(request).await?;
        Ok(())
    }
}

/// Delivers outbox rows to `ActivityEventsService.DeliverQualificationEvents`.
pub struct ActivitySink {
    client: leadflow_proto::activity::activity_events_service_client::ActivityEventsServiceClient<TokenChannel>,
}

impl ActivitySink {
    /// Creates a sink over a (lazily connecting) channel to the activity service.
    pub fn new(channel: TokenChannel) -> Self {
        Self { client: leadflow_proto::activity::activity_events_service_client::ActivityEventsServiceClient::new(channel) }
    }
}

#[async_trait::async_trait]
impl EventSink for ActivitySink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        let events = decode_events(&payloads)?;
        let mut request = tonic::Request::new(leadflow_proto::activity::DeliverQualificationEventsRequest { events });
        request.set_timeout(timeout);
        self.client.clone().deliver_qualification_events(request).await?;
        Ok(())
    }
}

/// Counts of a delivered batch of scoring events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events stored; an event may have changed nothing, as an MQL event for a lead in the
    /// sales process does.
    pub applied: i32,
    /// Events applied before, or named twice in the batch.
    pub duplicates: i32,
}

/// Failure to apply an event.
#[derive(Debug)]
pub enum EventError {
    /// The event is malformed; redelivery will not help.
    Invalid(&'static str),
    /// A concurrent request changed the same qualification; redelivery will apply it.
    Conflict,
    /// The database failed.
    Database(DbErr),
}

impl From<DbErr> for EventError {
    fn from(error: DbErr) -> Self {
        EventError::Database(error)
    }
}

/// Reads an optional timestamp; `Err` when one is set but out of range.
fn optional_time(
    timestamp: Option<&prost_types::Timestamp>,
    problem: &'static str,
) -> Result<Option<DateTime<Utc>>, EventError> {
    match timestamp {
        None => Ok(None),
        Some(timestamp) => from_timestamp(timestamp).map(|instant| Some(truncate_to_micros(instant))).ok_or(EventError::Invalid(problem)),
    }
}

/// The fields every scoring event must carry, read before anything is stored.
struct Checked<'a> {
    event_id: Uuid,
    lead_id: Uuid,
    kind: &'a scoring_event::Kind,
    create_time: Option<DateTime<Utc>>,
}

fn check(event: &ScoringEvent) -> Result<Checked<'_>, EventError> {
    let event_id = Uuid::parse_str(&event.event_id).map_err(|_| EventError::Invalid("event_id is not a UUID"))?;
    let lead_id = Uuid::parse_str(&event.lead_id).map_err(|_| EventError::Invalid("lead_id is not a UUID"))?;
    let Some(kind) = &event.kind else {
        return Err(EventError::Invalid("event has no kind"));
    };
    let create_time = optional_time(event.create_time.as_ref(), "create_time is not a valid timestamp")?;
    Ok(Checked { event_id, lead_id, kind, create_time })
}

/// Applies a delivered batch of scoring events at `now` in the caller's transaction. The ids,
/// kind and creation time of every event are checked first. The batch is then recorded in the
/// inbox with one statement, which leaves out the events applied before. Each new event is
/// applied in order, and the fields inside its kind are checked as it is applied. On an error
/// the caller rolls back. The error comes with the index of its event, or index 0 when the
/// inbox statement failed.
pub async fn apply_scoring_events<C: ConnectionTrait>(
    db: &C,
    events: &[ScoringEvent],
    traceparent: &str,
    now: DateTime<Utc>,
) -> Result<BatchOutcome, (usize, EventError)> {
    let mut checked = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        checked.push(check(event).map_err(|error| (index, error))?);
    }
    let event_ids: Vec<Uuid> = checked.iter().map(|event| event.event_id).collect();
    let mut to_apply = outbox::inbox::record_new(db, &event_ids, SCORING).await.map_err(|error| (0, error.into()))?;

    let mut outcome = BatchOutcome::default();
    let mut delivery = Delivery::default();
    for (index, (event, checked)) in events.iter().zip(checked).enumerate() {
        if !to_apply.remove(&checked.event_id) {
            tracing::debug!(event_id = %checked.event_id, lead_id = %checked.lead_id, "scoring event applied before; skipped");
            outcome.duplicates += 1;
            continue;
        }
        // The event's traceparent continues the trace of the request that caused it; the
        // delivery call's own context is the fallback.
        let traceparent = if event.traceparent.is_empty() { traceparent } else { event.traceparent.as_str() };
        apply_kind(db, &mut delivery, &checked, traceparent, now).await.map_err(|error| (index, error))?;
        outcome.applied += 1;
    }
    Ok(outcome)
}

/// State shared by the events of one delivery: the settings, read once when an MQL needs them.
#[derive(Default)]
struct Delivery {
    settings: Option<leadflow_proto::qualification::QualificationSettings>,
}

impl Delivery {
    async fn settings<C: ConnectionTrait>(
        &mut self,
        db: &C,
    ) -> Result<&leadflow_proto::qualification::QualificationSettings, DbErr> {
        let settings = match self.settings.take() {
            Some(settings) => settings,
            None => settings::load(db).await?,
        };
        Ok(self.settings.insert(settings))
    }
}

async fn apply_kind<C: ConnectionTrait>(
    db: &C,
    delivery: &mut Delivery,
    event: &Checked<'_>,
    traceparent: &str,
    now: DateTime<Utc>,
) -> Result<(), EventError> {
    let Checked { event_id, lead_id, kind, create_time } = *event;
    let create_time = create_time.unwrap_or(now);
    match kind {
        scoring_event::Kind::LeadAttributed(attributed) => {
            apply_attributed(db, lead_id, attributed, create_time).await?;
            crate::identity::apply_do_not_contact(db, lead_id, attributed.do_not_contact).await?;
        }
        scoring_event::Kind::LeadsMerged(merged) => crate::identity::apply_leads_merged(db, lead_id, merged, now).await?,
        scoring_event::Kind::LeadBecameMql(mql) => {
            apply_mql(db, delivery, event_id, lead_id, mql, create_time, now, traceparent).await?
        }
        scoring_event::Kind::ImportedOutcomeForwarded(forwarded) => {
            apply_imported_outcome(db, lead_id, forwarded, create_time).await?
        }
        scoring_event::Kind::LeadErased(erased) => {
            crate::erasure::apply_lead_erased(db, lead_id, erased, traceparent, now).await?
        }
    }
    Ok(())
}

async fn apply_attributed<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    attributed: &LeadAttributed,
    create_time: DateTime<Utc>,
) -> Result<(), EventError> {
    let lead_create_time =
        optional_time(attributed.lead_create_time.as_ref(), "lead_attributed.lead_create_time is not a valid timestamp")?
            .unwrap_or(create_time);
    store::upsert_attribution(db, lead_id, &attributed.source, &attributed.campaign, lead_create_time).await?;
    tracing::debug!(lead_id = %lead_id, "lead attribution stored");
    Ok(())
}

/// Puts a lead into the queue as NEW unless it is already in the sales process, starts its
/// first-touch deadline and assigns it to a rep when one can take it.
#[allow(clippy::too_many_arguments)]
async fn apply_mql<C: ConnectionTrait>(
    db: &C,
    delivery: &mut Delivery,
    event_id: Uuid,
    lead_id: Uuid,
    mql: &LeadBecameMql,
    create_time: DateTime<Utc>,
    now: DateTime<Utc>,
    traceparent: &str,
) -> Result<(), EventError> {
    let crossed_at = optional_time(mql.crossed_at.as_ref(), "lead_became_mql.crossed_at is not a valid timestamp")?;
    let mql_time = crossed_at.unwrap_or(now);

    let existing = store::find_qualification(db, lead_id).await?;
    let current = existing.as_ref().map(|row| domain::state_from_name(&row.state));
    let MqlArrival::Enter(from) = domain::on_mql(current) else {
        store::ensure_funnel_lead(db, lead_id, &mql.source, &mql.campaign, create_time).await?;
        tracing::warn!(
            event_id = %event_id,
            lead_id = %lead_id,
            state = existing.as_ref().map(|row| row.state.as_str()).unwrap_or_default(),
            "MQL event for a lead already in the sales process ignored"
        );
        return Ok(());
    };

    let settings = delivery.settings(db).await?;
    let (sla_hours, mode) = (settings.first_touch_sla_hours, settings::assignment_mode(settings));
    // The deadline counts calendar hours from the time the lead entered the queue.
    let due_time = now + chrono::Duration::hours(i64::from(sla_hours));
    let row = qualification::Model {
        lead_id,
        state: domain::state_name(QualificationState::New).to_owned(),
        mql_score: mql.score,
        model_version: mql.model_version,
        top_reasons: store::top_reasons_to_json(&mql.top_reasons),
        source: mql.source.clone(),
        campaign: mql.campaign.clone(),
        mql_time,
        update_time: now,
        bant: None,
        reason: String::new(),
        note: String::new(),
        value_minor: 0,
        currency: String::new(),
        assigned_rep_id: String::new(),
        first_touch_due_time: Some(due_time),
        override_reason: String::new(),
        answers: None,
        attributes: Some(sales::map_to_json(&mql.attributes)),
        do_not_contact: mql.do_not_contact,
    };
    match existing {
        None => store::insert_qualification(db, row).await?,
        Some(previous) => {
            if !store::update_qualification(db, &row, &previous.state).await? {
                return Err(EventError::Conflict);
            }
        }
    }

    // A lead normally arrives through LeadAttributed first. Without it, the MQL event's
    // creation time is used as the lead's creation time.
    store::mark_mql(db, lead_id, &mql.source, &mql.campaign, create_time, mql_time).await?;
    let change =
        StateChange { lead_id, from, to: QualificationState::New, reason: "", change_time: now, actor: domain::SYSTEM_ACTOR };
    record_state_change(db, &change, traceparent).await?;
    sales::insert_sla_entry(db, lead_id, now, due_time).await?;
    auto_assign(db, lead_id, &mql.attributes, mode, now).await?;
    Ok(())
}

/// Assigns a lead that just entered the queue to the rep that [`assignment::choose`] picks,
/// and records the assignment. A lead that no rep can take stays unassigned and is logged.
pub async fn auto_assign<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    attributes: &BTreeMap<String, String>,
    mode: AssignmentMode,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbErr> {
    let reps = sales::all_reps(db).await?;
    if reps.is_empty() {
        return Ok(None);
    }
    let open = sales::open_lead_counts(db).await?;
    let candidates: Vec<Candidate> = reps
        .into_iter()
        .map(|rep| Candidate {
            countries: sales::json_to_strings(&rep.countries),
            segments: sales::json_to_strings(&rep.segments),
            open_leads: open.get(&rep.rep_id).copied().unwrap_or(0),
            rep,
        })
        .collect();

    // NOTE: two transactions that assign at the same moment on PostgreSQL can both see the
    // same free slot, so a rep may end one lead above capacity. The relay delivers one batch
    // at a time, which keeps this rare.
    let Some((index, method)) = assignment::choose(&candidates, mode, attributes) else {
        tracing::warn!(lead_id = %lead_id, "no rep can take the MQL; it stays unassigned");
        return Ok(None);
    };
    let rep_id = candidates[index].rep.rep_id.clone();
    let seq = sales::next_assign_seq(db).await?;
    sales::set_assign_seq(db, &rep_id, seq).await?;
    sales::set_assigned_rep(db, lead_id, &rep_id).await?;
    sales::insert_assignment(
        db,
        assignment_row(lead_id, &rep_id, "", method, domain::SYSTEM_ACTOR, now),
    )
    .await?;
    tracing::info!(lead_id = %lead_id, rep_id = %rep_id, method, "MQL assigned");
    Ok(Some(rep_id))
}

/// Builds an assignment history row.
pub fn assignment_row(
    lead_id: Uuid,
    rep_id: &str,
    previous_rep_id: &str,
    method: &str,
    actor: &str,
    time: DateTime<Utc>,
) -> store::assignment::Model {
    store::assignment::Model {
        id: Uuid::now_v7(),
        lead_id,
        rep_id: rep_id.to_owned(),
        previous_rep_id: previous_rep_id.to_owned(),
        method: method.to_owned(),
        actor: actor.to_owned(),
        assign_time: time,
    }
}

async fn apply_imported_outcome<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    forwarded: &ImportedOutcomeForwarded,
    create_time: DateTime<Utc>,
) -> Result<(), EventError> {
    let outcome = Outcome::try_from(forwarded.outcome).unwrap_or(Outcome::Unspecified);
    let Some(name) = store::outcome_name(outcome) else {
        return Err(EventError::Invalid("imported_outcome_forwarded.outcome is unspecified"));
    };

    // A lead unknown to the funnel gets a row dated by the event, so the outcome is counted.
    store::ensure_funnel_lead(db, lead_id, "", "", create_time).await?;
    store::set_imported_outcome(db, lead_id, name).await?;
    tracing::debug!(lead_id = %lead_id, outcome = name, "imported outcome stored");
    Ok(())
}
