//! gRPC handlers of the qualification service: decode and validate each request, run it in
//! one transaction with its outbox events, and map the result.

use chrono::{DateTime, Utc};
use leadflow_kit::errors::{FieldViolation, Reason};
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_kit::time::to_timestamp;
use leadflow_kit::{ApiError, ApiResult, CallContext, paging, retry_on_conflict};
use leadflow_proto::qualification::qualification_events_service_server::QualificationEventsService;
use leadflow_proto::qualification::qualification_service_server::QualificationService;
use leadflow_proto::qualification::*;
use leadflow_proto::types::{Outcome, QualificationState};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::DOMAIN;
use crate::domain::{self, Action, Step, ValidClose};
use crate::events::{self, EventError, StateChange};
use crate::framework::{self, Acceptance};
use crate::store::report::BreakdownBy;
use crate::store::{self, RepFilter, Stage, qualification, sales, transition};
use crate::{assignment, clock, report, settings};

/// Handlers of `leadflow.qualification.v1.QualificationService`.
#[derive(Clone)]
pub struct QualificationApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) waker: OutboxWaker,
}

impl QualificationApi {
    /// Creates the handlers over the service's database. `waker` wakes the outbox relays.
    pub fn new(db: DatabaseConnection, waker: OutboxWaker) -> Self {
        Self { db, waker }
    }
}

/// A validated sales action with its data.
#[derive(Clone, Debug)]
enum Change {
    StartWork,
    Accept(Acceptance),
    Reject { reason: String, note: String },
    Recycle { reason: String, note: String },
    Close(ValidClose),
}

/// The actor and the time of a change.
#[derive(Clone, Debug)]
pub(crate) struct Author {
    /// The request's actor, "unknown" when it names none.
    pub actor: String,
    /// The time the request acts at.
    pub now: DateTime<Utc>,
}

impl Change {
    fn action(&self) -> Action {
        match self {
            Change::StartWork => Action::StartWork,
            Change::Accept(_) => Action::Accept,
            Change::Reject { .. } => Action::Reject,
            Change::Recycle { .. } => Action::Recycle,
            Change::Close(close) if close.outcome == Outcome::Won => Action::CloseWon,
            Change::Close(_) => Action::CloseLost,
        }
    }

    /// Returns true when the change stores text that sales wrote about the person, which an
    /// erased lead must not receive again.
    fn carries_free_text(&self) -> bool {
        match self {
            Change::StartWork => false,
            Change::Accept(_) => true,
            Change::Reject { note, .. } | Change::Recycle { note, .. } => !note.is_empty(),
            Change::Close(close) => !close.reason.is_empty(),
        }
    }
}

pub(crate) fn reject_if_invalid(violations: Vec<FieldViolation>) -> ApiResult<()> {
    if violations.is_empty() { Ok(()) } else { Err(ApiError::invalid(violations)) }
}

pub(crate) fn qualification_not_found(lead_id: Uuid) -> ApiError {
    ApiError::not_found(
        Reason::QualificationNotFound,
        format!("lead {lead_id} has no qualification because it never became an MQL; check the lead id or wait for its score to cross the MQL threshold"),
    )
    .with_arg("lead_id", lead_id.to_string())
}

/// Parses the lead id of a request, or returns INVALID_ARGUMENT.
pub(crate) fn require_lead_id(raw: &str) -> ApiResult<Uuid> {
    let mut violations = Vec::new();
    let lead_id = domain::parse_lead_id(raw, &mut violations);
    reject_if_invalid(violations)?;
    lead_id.ok_or_else(|| ApiError::internal("validated lead id missing"))
}

/// Applies a sales action to a lead in the caller's transaction and returns the
/// qualification after it. An action that leaves the lead where it is writes nothing.
async fn apply_change<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    change: &Change,
    traceparent: &str,
    author: &Author,
) -> ApiResult<qualification::Model> {
    let Some(stored) = store::find_qualification(db, lead_id).await? else {
        return Err(qualification_not_found(lead_id));
    };
    let current = domain::state_from_name(&stored.state);
    let to = match domain::next_state(current, change.action()) {
        Ok(Step::Move(to)) => to,
        Ok(Step::Stay) => return Ok(stored),
        Err(expected) => return Err(ApiError::invalid_state(&lead_id.to_string(), &stored.state, expected)),
    };

    let now = author.now;
    let mut updated = stored.clone();
    updated.state = domain::state_name(to).to_owned();
    updated.update_time = now;
    let mut stage = None;
    match change {
        Change::StartWork => {}
        Change::Accept(acceptance) => {
            updated.bant = acceptance.bant.as_ref().map(store::bant_to_json);
            updated.answers = (!acceptance.answers.is_empty()).then(|| sales::map_to_json(&acceptance.answers));
            updated.override_reason = acceptance.override_reason.clone();
            stage = Some(if acceptance.override_reason.is_empty() { Stage::Sql } else { Stage::SqlOverride });
        }
        Change::Reject { reason, note } | Change::Recycle { reason, note } => {
            updated.reason = reason.clone();
            updated.note = note.clone();
        }
        Change::Close(close) => {
            updated.reason = close.reason.clone();
            updated.value_minor = close.value_minor;
            updated.currency = close.currency.clone();
            stage = Some(if close.outcome == Outcome::Won { Stage::Won } else { Stage::Lost });
        }
    }

    if !store::update_qualification(db, &updated, &stored.state).await? {
        return Err(ApiError::concurrent_update(&format!("the qualification of lead {lead_id}")));
    }
    if let Some(stage) = stage
        && !store::mark_stage(db, lead_id, stage, now).await?
    {
        tracing::warn!(lead_id = %lead_id, "qualified lead has no funnel row; the funnel misses this stage");
    }
    let reason = match change {
        Change::Reject { reason, .. } | Change::Recycle { reason, .. } => reason.as_str(),
        Change::Close(close) => close.reason.as_str(),
        Change::StartWork | Change::Accept(_) => "",
    };
    let state_change = StateChange { lead_id, from: current, to, reason, change_time: now, actor: &author.actor };
    events::record_state_change(db, &state_change, traceparent).await?;
    if matches!(change, Change::Accept(_)) {
        leadflow_kit::telemetry::increment(&crate::server::SQLS_CREATED);
    }
    // Any action that moves a lead out of NEW is its first touch.
    if current == QualificationState::New {
        sales::touch_sla_entry(db, lead_id, now).await?;
    }
    Ok(updated)
}

/// Converts a stored qualification, its history and its assignments to the API form.
pub fn qualification_to_proto(
    row: &qualification::Model,
    history: &[transition::Model],
    assignments: &[store::assignment::Model],
) -> Qualification {
    Qualification {
        lead_id: row.lead_id.to_string(),
        state: domain::state_from_name(&row.state) as i32,
        mql_score: row.mql_score,
        model_version: row.model_version,
        top_reasons: store::json_to_top_reasons(&row.top_reasons),
        source: row.source.clone(),
        campaign: row.campaign.clone(),
        mql_time: Some(to_timestamp(row.mql_time)),
        update_time: Some(to_timestamp(row.update_time)),
        bant: row.bant.as_ref().map(store::json_to_bant),
        reason: row.reason.clone(),
        note: row.note.clone(),
        value_minor: row.value_minor,
        currency: row.currency.clone(),
        history: history.iter().map(transition_to_proto).collect(),
        assigned_rep_id: row.assigned_rep_id.clone(),
        first_touch_due_time: row.first_touch_due_time.map(to_timestamp),
        override_reason: row.override_reason.clone(),
        answers: sales::json_to_map(row.answers.as_ref()),
        assignments: assignments.iter().map(assignment_to_proto).collect(),
        attributes: sales::json_to_map(row.attributes.as_ref()),
        do_not_contact: row.do_not_contact,
    }
}

/// Converts a stored assignment to the API form.
pub fn assignment_to_proto(row: &store::assignment::Model) -> Assignment {
    Assignment {
        rep_id: row.rep_id.clone(),
        previous_rep_id: row.previous_rep_id.clone(),
        method: row.method.clone(),
        actor: row.actor.clone(),
        assign_time: Some(to_timestamp(row.assign_time)),
    }
}

/// Converts a stored state change to the API form.
pub fn transition_to_proto(row: &transition::Model) -> StateTransition {
    StateTransition {
        from_state: domain::state_from_name(&row.from_state) as i32,
        to_state: domain::state_from_name(&row.to_state) as i32,
        reason: row.reason.clone(),
        change_time: Some(to_timestamp(row.change_time)),
        actor: row.actor.clone(),
    }
}

/// Reads the rep filter of `ListQueue`.
fn queue_rep_filter(request: &ListQueueRequest) -> ApiResult<RepFilter> {
    let rep_id = request.rep_id.trim();
    match (rep_id.is_empty(), request.unassigned_only) {
        (true, false) => Ok(RepFilter::Any),
        (true, true) => Ok(RepFilter::Unassigned),
        (false, true) => Err(ApiError::invalid_field(
            "unassigned_only",
            format!("cannot be combined with rep_id {rep_id:?}; set one of them"),
        )),
        (false, false) => {
            let mut violations = Vec::new();
            assignment::check_rep_id(rep_id, "rep_id", &mut violations);
            reject_if_invalid(violations)?;
            Ok(RepFilter::Rep(rep_id.to_owned()))
        }
    }
}

/// Reads the states filter of `ListQueue`: known states, deduplicated and sorted, or the
/// default states when the filter is empty.
fn parse_states(values: &[i32]) -> ApiResult<Vec<QualificationState>> {
    let mut violations = Vec::new();
    let mut states = Vec::new();
    for (index, value) in values.iter().enumerate() {
        match QualificationState::try_from(*value) {
            Ok(QualificationState::Unspecified) | Err(_) => violations.push(FieldViolation::new(
                format!("states[{index}]"),
                format!("{value} is not a qualification state; expected a value of leadflow.type.v1.QualificationState other than QUALIFICATION_STATE_UNSPECIFIED"),
            )),
            Ok(state) => states.push(state),
        }
    }
    reject_if_invalid(violations)?;

    if states.is_empty() {
        states.extend(domain::DEFAULT_QUEUE_STATES);
    }
    states.sort_by_key(|state| *state as i32);
    states.dedup();
    Ok(states)
}

impl QualificationApi {
    /// Runs a sales action with its idempotency key in one transaction and wraps the
    /// qualification after it in the response type.
    async fn mutate<R: Message + Default>(
        &self,
        ctx: &CallContext,
        lead_id: Uuid,
        key: Option<RequestKey>,
        change: Change,
        author: Author,
        wrap: fn(Qualification) -> R,
    ) -> ApiResult<R> {
        let (key, change, author) = (key.as_ref(), &change, &author);
        let response = retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            if change.carries_free_text() && crate::erasure::is_erased(&txn, lead_id).await? {
                return Err(crate::erasure::lead_erased_error(lead_id));
            }
            let row = apply_change(&txn, lead_id, change, &ctx.traceparent, author).await?;
            let history = store::list_transitions(&txn, lead_id).await?;
            let assignments = sales::list_assignments(&txn, lead_id).await?;
            let response = wrap(qualification_to_proto(&row, &history, &assignments));
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await?;

        self.waker.wake();
        Ok(response)
    }

    async fn do_start_work(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        request: StartWorkRequest,
    ) -> ApiResult<StartWorkResponse> {
        let mut violations = Vec::new();
        let lead_id = domain::parse_lead_id(&request.lead_id, &mut violations);
        let actor = domain::parse_actor(&request.actor, &mut violations);
        reject_if_invalid(violations)?;
        let Some(lead_id) = lead_id else {
            return Err(ApiError::internal("validated lead id missing"));
        };
        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/StartWork",
            &request.request_id,
            &StartWorkRequest { request_id: String::new(), ..request.clone() },
        )?;
        let author = Author { actor, now };
        self.mutate(ctx, lead_id, key, Change::StartWork, author, |qualification| StartWorkResponse {
            qualification: Some(qualification),
        })
        .await
    }

    async fn do_accept(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        request: AcceptLeadRequest,
    ) -> ApiResult<AcceptLeadResponse> {
        let settings = settings::load(&self.db).await?;
        let framework = settings.framework.unwrap_or_else(|| settings::bant_framework(0));

        let mut violations = Vec::new();
        let lead_id = domain::parse_lead_id(&request.lead_id, &mut violations);
        let acceptance = framework::check(
            &framework,
            request.bant.as_ref(),
            &request.answers,
            &request.override_reason,
            &mut violations,
        );
        let actor = domain::parse_actor(&request.actor, &mut violations);
        reject_if_invalid(violations)?;
        let (Some(lead_id), Some(acceptance)) = (lead_id, acceptance) else {
            return Err(ApiError::internal("validated acceptance lost its fields"));
        };

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/AcceptLead",
            &request.request_id,
            &AcceptLeadRequest { request_id: String::new(), ..request.clone() },
        )?;
        let author = Author { actor, now };
        self.mutate(ctx, lead_id, key, Change::Accept(acceptance), author, |qualification| AcceptLeadResponse {
            qualification: Some(qualification),
        })
        .await
    }

    /// Validates the fields that RejectLead and RecycleLead share: the lead id, a reason from
    /// the configured list with its note, and the actor.
    async fn validate_recycling(
        &self,
        lead_id: &str,
        reason: &str,
        note: &str,
        actor: &str,
    ) -> ApiResult<(Uuid, String, String, String)> {
        let settings = settings::load(&self.db).await?;
        let mut violations = Vec::new();
        let lead_id = domain::parse_lead_id(lead_id, &mut violations);
        let (reason, note) = domain::validate_rejection(reason, note, &settings.rejection_reasons, &mut violations);
        let actor = domain::parse_actor(actor, &mut violations);
        reject_if_invalid(violations)?;
        let Some(lead_id) = lead_id else {
            return Err(ApiError::internal("validated lead id missing"));
        };
        Ok((lead_id, reason, note, actor))
    }

    async fn do_reject(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        request: RejectLeadRequest,
    ) -> ApiResult<RejectLeadResponse> {
        let (lead_id, reason, note, actor) =
            self.validate_recycling(&request.lead_id, &request.reason, &request.note, &request.actor).await?;

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/RejectLead",
            &request.request_id,
            &RejectLeadRequest { request_id: String::new(), ..request.clone() },
        )?;
        let author = Author { actor, now };
        self.mutate(ctx, lead_id, key, Change::Reject { reason, note }, author, |qualification| RejectLeadResponse {
            qualification: Some(qualification),
        })
        .await
    }

    async fn do_recycle(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        request: RecycleLeadRequest,
    ) -> ApiResult<RecycleLeadResponse> {
        let (lead_id, reason, note, actor) =
            self.validate_recycling(&request.lead_id, &request.reason, &request.note, &request.actor).await?;

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/RecycleLead",
            &request.request_id,
            &RecycleLeadRequest { request_id: String::new(), ..request.clone() },
        )?;
        let author = Author { actor, now };
        self.mutate(ctx, lead_id, key, Change::Recycle { reason, note }, author, |qualification| RecycleLeadResponse {
            qualification: Some(qualification),
        })
        .await
    }

    async fn do_close(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        request: CloseLeadRequest,
    ) -> ApiResult<CloseLeadResponse> {
        let mut violations = Vec::new();
        let lead_id = domain::parse_lead_id(&request.lead_id, &mut violations);
        let close = domain::validate_close(
            request.outcome,
            request.value_minor,
            &request.currency,
            &request.reason,
            &mut violations,
        );
        let actor = domain::parse_actor(&request.actor, &mut violations);
        reject_if_invalid(violations)?;
        let (Some(lead_id), Some(close)) = (lead_id, close) else {
            return Err(ApiError::internal("validated close lost its fields"));
        };

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/CloseLead",
            &request.request_id,
            &CloseLeadRequest { request_id: String::new(), ..request.clone() },
        )?;
        let author = Author { actor, now };
        self.mutate(ctx, lead_id, key, Change::Close(close), author, |qualification| CloseLeadResponse {
            qualification: Some(qualification),
        })
        .await
    }

    async fn do_get(&self, request: GetQualificationRequest) -> ApiResult<GetQualificationResponse> {
        let requested = require_lead_id(&request.lead_id)?;
        // For a merged lead, returns the survivor's qualification.
        let lead_id = crate::identity::survivor_of(&self.db, requested).await?;
        let Some(row) = store::find_qualification(&self.db, lead_id).await? else {
            return Err(qualification_not_found(requested));
        };
        let history = store::list_transitions(&self.db, lead_id).await?;
        let assignments = sales::list_assignments(&self.db, lead_id).await?;
        Ok(GetQualificationResponse { qualification: Some(qualification_to_proto(&row, &history, &assignments)) })
    }

    async fn do_list_queue(&self, request: ListQueueRequest) -> ApiResult<ListQueueResponse> {
        const METHOD: &str = "ListQueue";
        let states = parse_states(&request.states)?;
        let state_names: Vec<&str> = states.iter().map(|state| domain::state_name(*state)).collect();
        let reps = queue_rep_filter(&request)?;
        let page_size = paging::page_size(request.page_size)?;
        let cursor: Option<(DateTime<Utc>, Uuid, Vec<String>)> = paging::decode(METHOD, &request.page_token)?;

        // A page token carries the filter of the listing that issued it: the state names, then
        // the rep filter when there is one.
        let mut filter: Vec<String> = state_names.iter().map(|name| (*name).to_owned()).collect();
        match &reps {
            RepFilter::Any => {}
            RepFilter::Rep(rep_id) => filter.push(format!("rep={rep_id}")),
            RepFilter::Unassigned => filter.push("unassigned".to_owned()),
        }
        if let Some((_, _, cursor_filter)) = &cursor
            && *cursor_filter != filter
        {
            return Err(ApiError::invalid_field(
                "page_token",
                "belongs to a listing of other states or another rep filter; repeat the filters of the first request or leave page_token empty".to_owned(),
            ));
        }

        let after = cursor.map(|(mql_time, lead_id, _)| (mql_time, lead_id));
        let mut rows = store::list_queue(&self.db, &state_names, &reps, after, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            let last = rows.last().map(|row| (row.mql_time, row.lead_id, filter));
            last.map(|key| paging::encode(METHOD, &key)).unwrap_or_default()
        } else {
            String::new()
        };

        Ok(ListQueueResponse {
            qualifications: rows.iter().map(|row| qualification_to_proto(row, &[], &[])).collect(),
            next_page_token,
        })
    }

    async fn do_get_funnel(&self, now: DateTime<Utc>, request: GetFunnelRequest) -> ApiResult<GetFunnelResponse> {
        let time_zone = if request.time_zone.trim().is_empty() {
            settings::load(&self.db).await?.time_zone
        } else {
            request.time_zone.clone()
        };
        let mut violations = Vec::new();
        let period = domain::parse_funnel_period(&request.start_date, &request.end_date, &time_zone, &mut violations);
        reject_if_invalid(violations)?;
        let Some(period) = period else {
            return Err(ApiError::internal("validated funnel period missing"));
        };

        let counts = store::funnel_counts(&self.db, &period).await?;
        let stage = |name: &str, count: i64, previous: i64, from_previous: i64| FunnelStage {
            stage: name.to_owned(),
            lead_count: count,
            conversion_from_previous: domain::ratio(from_previous, previous),
            conversion_from_lead: domain::ratio(count, counts.lead_count),
        };
        // The won stage also counts imported wins, which need not pass through sales. Its
        // conversion from SQL counts only the wins that sales closed, so it stays at most 1.
        let stages = vec![
            stage("lead", counts.lead_count, counts.lead_count, counts.lead_count),
            stage("mql", counts.mql_count, counts.lead_count, counts.mql_count),
            stage("sql", counts.sql_count, counts.mql_count, counts.sql_count),
            stage("won", counts.won_count, counts.sql_count, counts.closed_won_count),
        ];

        // The event view counts every entry into a stage. The won stage has at most one
        // entry per lead, so both views show the same won count.
        let events = store::report::event_counts(&self.db, &period).await?;
        let event_stages = vec![
            stage("lead", counts.lead_count, counts.lead_count, counts.lead_count),
            stage("mql", events.mql_events, counts.lead_count, events.mql_events),
            stage("sql", events.sql_events, events.mql_events, events.sql_events),
            stage("won", counts.won_count, events.sql_events, counts.closed_won_count),
        ];

        let breakdown = |rows: Vec<store::report::BreakdownRow>| -> Vec<FunnelBreakdown> {
            rows.into_iter()
                .map(|row| FunnelBreakdown {
                    mql_rate: domain::ratio(row.mql_count, row.lead_count),
                    sql_rate: domain::ratio(row.sql_count, row.mql_count),
                    won_rate: domain::ratio(row.won_count, row.lead_count),
                    key: row.key,
                    lead_count: row.lead_count,
                    mql_count: row.mql_count,
                    sql_count: row.sql_count,
                    won_count: row.won_count,
                })
                .collect()
        };
        let sources = breakdown(store::report::breakdown(&self.db, &period, BreakdownBy::Source).await?);
        let campaigns = breakdown(store::report::breakdown(&self.db, &period, BreakdownBy::Campaign).await?);

        let passages = report::passages(&store::report::cohort_transitions(&self.db, &period).await?);
        let sla_entries = store::report::cohort_sla_entries(&self.db, &period).await?;
        let (sla_met_count, sla_missed_count) = report::sla_outcomes(&sla_entries, now);

        Ok(GetFunnelResponse {
            stages,
            imported_won_count: counts.imported_won_count,
            imported_won_mql_count: counts.imported_won_mql_count,
            imported_outcome_count: counts.imported_outcome_count,
            mql_with_imported_outcome_count: counts.mql_with_imported_outcome_count,
            time_zone: period.time_zone,
            event_stages,
            sources,
            campaigns,
            mql_to_sql: Some(report::stage_duration(passages.mql_to_sql)),
            sql_to_won: Some(report::stage_duration(passages.sql_to_won)),
            sla_met_count,
            sla_missed_count,
            sla_hit_rate: domain::ratio(sla_met_count, sla_met_count + sla_missed_count),
            override_count: events.override_events,
        })
    }
}

#[tonic::async_trait]
impl QualificationService for QualificationApi {
    async fn list_queue(&self, request: Request<ListQueueRequest>) -> Result<Response<ListQueueResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListQueue", &request);
        self.do_list_queue(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_qualification(
        &self,
        request: Request<GetQualificationRequest>,
    ) -> Result<Response<GetQualificationResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetQualification", &request);
        self.do_get(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn start_work(&self, request: Request<StartWorkRequest>) -> Result<Response<StartWorkResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "StartWork", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_start_work(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn accept_lead(&self, request: Request<AcceptLeadRequest>) -> Result<Response<AcceptLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "AcceptLead", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_accept(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn reject_lead(&self, request: Request<RejectLeadRequest>) -> Result<Response<RejectLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "RejectLead", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_reject(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn recycle_lead(&self, request: Request<RecycleLeadRequest>) -> Result<Response<RecycleLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "RecycleLead", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_recycle(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn close_lead(&self, request: Request<CloseLeadRequest>) -> Result<Response<CloseLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "CloseLead", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_close(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_funnel(&self, request: Request<GetFunnelRequest>) -> Result<Response<GetFunnelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetFunnel", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_get_funnel(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn create_rep(&self, request: Request<CreateRepRequest>) -> Result<Response<CreateRepResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "CreateRep", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_create_rep(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn update_rep(&self, request: Request<UpdateRepRequest>) -> Result<Response<UpdateRepResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "UpdateRep", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_update_rep(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_reps(&self, request: Request<ListRepsRequest>) -> Result<Response<ListRepsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListReps", &request);
        self.do_list_reps(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn assign_lead(&self, request: Request<AssignLeadRequest>) -> Result<Response<AssignLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "AssignLead", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_assign_lead(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_overdue(&self, request: Request<ListOverdueRequest>) -> Result<Response<ListOverdueResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListOverdue", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_list_overdue(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_settings(&self, request: Request<GetSettingsRequest>) -> Result<Response<GetSettingsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetSettings", &request);
        self.do_get_settings().await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn update_settings(
        &self,
        request: Request<UpdateSettingsRequest>,
    ) -> Result<Response<UpdateSettingsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "UpdateSettings", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.do_update_settings(now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }
}

/// Handlers of `leadflow.qualification.v1.QualificationEventsService`.
#[derive(Clone)]
pub struct QualificationEventsApi {
    db: DatabaseConnection,
    waker: OutboxWaker,
}

impl QualificationEventsApi {
    /// Creates the handlers over the service's database. `waker` wakes the outbox relays
    /// after events that changed a state.
    pub fn new(db: DatabaseConnection, waker: OutboxWaker) -> Self {
        Self { db, waker }
    }

    async fn apply(
        &self,
        ctx: &CallContext,
        now: DateTime<Utc>,
        mut request: DeliverScoringEventsRequest,
    ) -> ApiResult<DeliverScoringEventsResponse> {
        let spans = leadflow_kit::telemetry::events::start_consumer_spans("qualification", &mut request.events);
        let txn = self.db.begin().await?;
        let mut response = DeliverScoringEventsResponse::default();

        match events::apply_scoring_events(&txn, &request.events, &ctx.traceparent, now).await {
            Ok(outcome) => {
                response.applied = outcome.applied;
                response.duplicates = outcome.duplicates;
            }
            Err((index, EventError::Invalid(problem))) => {
                return Err(ApiError::invalid_field(&format!("events[{index}]"), problem.to_owned()));
            }
            Err((index, EventError::Conflict)) => {
                let lead_id = request.events.get(index).map(|event| event.lead_id.as_str()).unwrap_or_default();
                return Err(ApiError::concurrent_update(&format!("the qualification of lead {lead_id}")));
            }
            Err((_, EventError::Database(error))) => return Err(error.into()),
        }

        txn.commit().await?;
        spans.finish();
        self.waker.wake();
        Ok(response)
    }
}

#[tonic::async_trait]
impl QualificationEventsService for QualificationEventsApi {
    async fn deliver_scoring_events(
        &self,
        request: Request<DeliverScoringEventsRequest>,
    ) -> Result<Response<DeliverScoringEventsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "DeliverScoringEvents", &request);
        let now = clock::request_time(request.metadata()).map_err(|e| ctx.status(e))?;
        self.apply(&ctx, now, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }
}

#[cfg(test)]
mod tests {
    use leadflow_kit::outbox::entity::outbox;
    use leadflow_proto::events::{ImportedOutcomeForwarded, LeadAttributed, LeadBecameMql, ScoringEvent, scoring_event};
    use leadflow_proto::types::{ActivityType, ScoreReason};
    use prost_types::Timestamp;
    use sea_orm::{EntityTrait, PaginatorTrait};
    use sea_orm_migration::MigratorTrait;
    use tonic::Code;

    use super::*;
    use crate::migration::Migrator;

    /// Environment variable with a PostgreSQL server URL. When it is set, the tests run on a
    /// new database on that server instead of a SQLite file.
    const DATABASE_URL_VAR: &str = "LEADFLOW_TEST_DATABASE_URL";

    struct Fixture {
        _dir: tempfile::TempDir,
        db: DatabaseConnection,
        api: QualificationApi,
        events: QualificationEventsApi,
        ctx: CallContext,
        /// Server connection and name of the PostgreSQL database to drop at the end.
        postgres: Option<(DatabaseConnection, String)>,
    }

    impl Fixture {
        /// Drops the PostgreSQL database of the test. A test that panics leaves its
        /// database behind.
        async fn finish(self) {
            let Fixture { db, api, events, postgres, .. } = self;
            drop((api, events));
            db.close().await.unwrap();
            if let Some((server, name)) = postgres {
                server.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\"")).await.unwrap();
            }
        }
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = match std::env::var(DATABASE_URL_VAR) {
            Ok(server_url) if !server_url.is_empty() => {
                let name = format!("qualification_test_{}", Uuid::now_v7().simple());
                let server = leadflow_kit::db::connect(&server_url).await.unwrap();
                server.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
                let (base, _) = server_url.rsplit_once('/').expect("database URL with a path");
                (format!("{base}/{name}"), Some((server, name)))
            }
            _ => (format!("sqlite://{}", dir.path().join("qualification.db").display()), None),
        };
        let db = leadflow_kit::db::connect(&url).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let waker = OutboxWaker::new();
        Fixture {
            _dir: dir,
            api: QualificationApi::new(db.clone(), waker.clone()),
            events: QualificationEventsApi::new(db.clone(), waker),
            db,
            ctx: CallContext::new(DOMAIN, "Test", &Request::new(())),
            postgres,
        }
    }

    fn timestamp(rfc3339: &str) -> Option<Timestamp> {
        let instant = DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc);
        Some(to_timestamp(instant))
    }

    fn event(lead_id: Uuid, kind: scoring_event::Kind) -> ScoringEvent {
        ScoringEvent {
            event_id: Uuid::now_v7().to_string(),
            lead_id: lead_id.to_string(),
            create_time: timestamp("2026-01-10T09:00:00Z"),
            traceparent: String::new(),
            kind: Some(kind),
        }
    }

    fn attributed(lead_id: Uuid, created: &str) -> ScoringEvent {
        event(
            lead_id,
            scoring_event::Kind::LeadAttributed(LeadAttributed {
                source: "google".to_owned(),
                campaign: "spring".to_owned(),
                lead_create_time: timestamp(created),
                do_not_contact: false,
            }),
        )
    }

    fn became_mql(lead_id: Uuid, crossed_at: &str) -> ScoringEvent {
        event(
            lead_id,
            scoring_event::Kind::LeadBecameMql(LeadBecameMql {
                score: 72,
                threshold: 60,
                model_id: "default".to_owned(),
                model_version: 3,
                source: "google".to_owned(),
                campaign: "spring".to_owned(),
                crossed_at: timestamp(crossed_at),
                top_reasons: vec![ScoreReason {
                    activity_type: ActivityType::DemoRequest as i32,
                    activity_count: 1,
                    points: 40,
                }],
                attributes: Default::default(),
                do_not_contact: false,
            }),
        )
    }

    fn imported(lead_id: Uuid, outcome: Outcome) -> ScoringEvent {
        event(
            lead_id,
            scoring_event::Kind::ImportedOutcomeForwarded(ImportedOutcomeForwarded {
                outcome: outcome as i32,
                occurred_at: timestamp("2026-01-20T10:00:00Z"),
            }),
        )
    }

    fn bant() -> Bant {
        Bant {
            budget: Some(Budget { amount_minor: 0, currency: String::new(), confirmed: true }),
            authority_role: "CTO".to_owned(),
            need: "pipeline visibility".to_owned(),
            timeframe: "2026-Q2".to_owned(),
        }
    }

    async fn deliver(fixture: &Fixture, events: Vec<ScoringEvent>) -> ApiResult<DeliverScoringEventsResponse> {
        fixture.events.apply(&fixture.ctx, leadflow_kit::time::now(), DeliverScoringEventsRequest { events }).await
    }

    async fn get(fixture: &Fixture, lead_id: Uuid) -> ApiResult<Qualification> {
        let response = fixture.api.do_get(GetQualificationRequest { lead_id: lead_id.to_string() }).await?;
        Ok(response.qualification.unwrap())
    }

    async fn outbox_rows(fixture: &Fixture) -> u64 {
        outbox::Entity::find().count(&fixture.db).await.unwrap()
    }

    async fn accept(fixture: &Fixture, lead_id: Uuid) -> ApiResult<AcceptLeadResponse> {
        let request = AcceptLeadRequest { lead_id: lead_id.to_string(), bant: Some(bant()), ..AcceptLeadRequest::default() };
        fixture.api.do_accept(&fixture.ctx, leadflow_kit::time::now(), request).await
    }

    async fn close(fixture: &Fixture, lead_id: Uuid, outcome: Outcome) -> ApiResult<CloseLeadResponse> {
        let request = CloseLeadRequest {
            lead_id: lead_id.to_string(),
            outcome: outcome as i32,
            value_minor: 250_000,
            currency: "EUR".to_owned(),
            reason: String::new(),
            ..CloseLeadRequest::default()
        };
        fixture.api.do_close(&fixture.ctx, leadflow_kit::time::now(), request).await
    }

    #[tokio::test]
    async fn mql_event_enters_queue() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        let response =
            deliver(&fixture, vec![attributed(lead_id, "2026-01-05T08:00:00Z"), became_mql(lead_id, "2026-01-10T08:30:00Z")])
                .await
                .unwrap();
        assert_eq!(response.applied, 2);

        let qualification = get(&fixture, lead_id).await.unwrap();
        assert_eq!(qualification.state, QualificationState::New as i32);
        assert_eq!(qualification.mql_score, 72);
        assert_eq!(qualification.model_version, 3);
        assert_eq!(qualification.top_reasons.len(), 1);
        assert_eq!(qualification.mql_time, timestamp("2026-01-10T08:30:00Z"));
        assert_eq!(qualification.history.len(), 1);
        assert_eq!(qualification.history[0].from_state, QualificationState::Unspecified as i32);
        assert_eq!(outbox_rows(&fixture).await, 2, "one event per destination");

        let funnel = store::find_funnel_lead(&fixture.db, lead_id).await.unwrap().unwrap();
        assert_eq!(funnel.mql_count, 1);
        assert_eq!(funnel.source, "google");

        fixture.finish().await;
    }

    #[tokio::test]
    async fn redelivered_event_is_duplicate() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        let mql = became_mql(lead_id, "2026-01-10T08:30:00Z");
        deliver(&fixture, vec![mql.clone()]).await.unwrap();
        let response = deliver(&fixture, vec![mql]).await.unwrap();
        assert_eq!(response.applied, 0);
        assert_eq!(response.duplicates, 1);
        assert_eq!(outbox_rows(&fixture).await, 2);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn malformed_event_names_its_index() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        let mut broken = became_mql(lead_id, "2026-01-10T08:30:00Z");
        broken.event_id = "not-a-uuid".to_owned();
        let error = deliver(&fixture, vec![attributed(lead_id, "2026-01-05T08:00:00Z"), broken]).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert!(error.message().contains("events[1]"), "{}", error.message());
        assert!(store::find_funnel_lead(&fixture.db, lead_id).await.unwrap().is_none(), "batch was rolled back");

        fixture.finish().await;
    }

    #[tokio::test]
    async fn mql_event_ignored_while_in_sales() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        deliver(&fixture, vec![became_mql(lead_id, "2026-01-10T08:30:00Z")]).await.unwrap();
        accept(&fixture, lead_id).await.unwrap();
        let rows = outbox_rows(&fixture).await;

        deliver(&fixture, vec![became_mql(lead_id, "2026-01-12T08:30:00Z")]).await.unwrap();
        let qualification = get(&fixture, lead_id).await.unwrap();
        assert_eq!(qualification.state, QualificationState::Sql as i32);
        assert_eq!(outbox_rows(&fixture).await, rows);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn sales_path_to_won() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        deliver(&fixture, vec![became_mql(lead_id, "2026-01-10T08:30:00Z")]).await.unwrap();

        let request = StartWorkRequest { lead_id: lead_id.to_string(), ..StartWorkRequest::default() };
        let working = fixture.api.do_start_work(&fixture.ctx, leadflow_kit::time::now(), request.clone()).await.unwrap();
        assert_eq!(working.qualification.unwrap().state, QualificationState::Working as i32);
        let again = fixture.api.do_start_work(&fixture.ctx, leadflow_kit::time::now(), request).await.unwrap().qualification.unwrap();
        assert_eq!(again.state, QualificationState::Working as i32);
        assert_eq!(again.history.len(), 2, "a second StartWork adds no transition");

        let accepted = accept(&fixture, lead_id).await.unwrap().qualification.unwrap();
        assert_eq!(accepted.state, QualificationState::Sql as i32);
        assert_eq!(accepted.bant.unwrap().timeframe, "2026-Q2");

        let won = close(&fixture, lead_id, Outcome::Won).await.unwrap().qualification.unwrap();
        assert_eq!(won.state, QualificationState::Won as i32);
        assert_eq!(won.value_minor, 250_000);
        assert_eq!(won.currency, "EUR");
        let states: Vec<i32> = won.history.iter().map(|change| change.to_state).collect();
        assert_eq!(
            states,
            [QualificationState::New, QualificationState::Working, QualificationState::Sql, QualificationState::Won]
                .map(|state| state as i32)
        );
        assert_eq!(outbox_rows(&fixture).await, 8);

        let error = accept(&fixture, lead_id).await.unwrap_err();
        assert_eq!(error.code(), Code::FailedPrecondition);
        assert!(error.message().contains("WON"), "{}", error.message());

        fixture.finish().await;
    }

    #[tokio::test]
    async fn rejected_lead_can_qualify_again() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        deliver(&fixture, vec![became_mql(lead_id, "2026-01-10T08:30:00Z")]).await.unwrap();

        let request = RejectLeadRequest {
            lead_id: lead_id.to_string(),
            reason: "bad_timing".to_owned(),
            note: "call back in spring".to_owned(),
            ..RejectLeadRequest::default()
        };
        let recycled = fixture.api.do_reject(&fixture.ctx, leadflow_kit::time::now(), request).await.unwrap().qualification.unwrap();
        assert_eq!(recycled.state, QualificationState::Recycled as i32);
        assert_eq!(recycled.reason, "bad_timing");
        assert_eq!(recycled.history.last().unwrap().reason, "bad_timing");

        let error = close(&fixture, lead_id, Outcome::Lost).await.unwrap_err();
        assert_eq!(error.code(), Code::FailedPrecondition);

        deliver(&fixture, vec![became_mql(lead_id, "2026-02-01T08:30:00Z")]).await.unwrap();
        let renewed = get(&fixture, lead_id).await.unwrap();
        assert_eq!(renewed.state, QualificationState::New as i32);
        assert_eq!(renewed.reason, "");
        assert_eq!(renewed.history.last().unwrap().from_state, QualificationState::Recycled as i32);
        let funnel = store::find_funnel_lead(&fixture.db, lead_id).await.unwrap().unwrap();
        assert_eq!(funnel.mql_count, 2);
        let first_mql = DateTime::parse_from_rfc3339("2026-01-10T08:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(funnel.first_mql_time, Some(first_mql), "the first entry keeps its time");

        fixture.finish().await;
    }

    #[tokio::test]
    async fn unknown_lead_is_not_found() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        let error = get(&fixture, lead_id).await.unwrap_err();
        assert_eq!(error.code(), Code::NotFound);
        assert!(error.message().contains(&lead_id.to_string()));

        let error = accept(&fixture, lead_id).await.unwrap_err();
        assert_eq!(error.code(), Code::NotFound);

        let error = fixture.api.do_get(GetQualificationRequest { lead_id: String::new() }).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn invalid_bant_is_rejected_before_lookup() {
        let fixture = fixture().await;
        let request = AcceptLeadRequest {
            lead_id: Uuid::now_v7().to_string(),
            bant: Some(Bant { budget: None, timeframe: String::new(), ..bant() }),
            ..AcceptLeadRequest::default()
        };
        let error = fixture.api.do_accept(&fixture.ctx, leadflow_kit::time::now(), request).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        let status = fixture.ctx.status(error);
        let details = tonic_types::StatusExt::get_error_details(&status);
        let fields: Vec<String> =
            details.bad_request().unwrap().field_violations.iter().map(|violation| violation.field.clone()).collect();
        assert_eq!(fields, ["bant.budget", "bant.timeframe"]);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn repeated_request_id_replays_response() {
        let fixture = fixture().await;
        let lead_id = Uuid::now_v7();
        deliver(&fixture, vec![became_mql(lead_id, "2026-01-10T08:30:00Z")]).await.unwrap();

        let request = AcceptLeadRequest {
            lead_id: lead_id.to_string(),
            bant: Some(bant()),
            request_id: Uuid::now_v7().to_string(),
            ..AcceptLeadRequest::default()
        };
        let first = fixture.api.do_accept(&fixture.ctx, leadflow_kit::time::now(), request.clone()).await.unwrap();
        let second = fixture.api.do_accept(&fixture.ctx, leadflow_kit::time::now(), request.clone()).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(outbox_rows(&fixture).await, 4);

        let changed = AcceptLeadRequest { bant: Some(Bant { need: "other".to_owned(), ..bant() }), ..request };
        let error = fixture.api.do_accept(&fixture.ctx, leadflow_kit::time::now(), changed).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn queue_pages_oldest_first() {
        let fixture = fixture().await;
        let mut leads = Vec::new();
        for minute in 0..5 {
            let lead_id = Uuid::now_v7();
            leads.push(lead_id);
            deliver(&fixture, vec![became_mql(lead_id, &format!("2026-01-10T08:0{minute}:00Z"))]).await.unwrap();
        }
        accept(&fixture, leads[0]).await.unwrap();

        let mut seen = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListQueueRequest { page_size: 2, page_token: page_token.clone(), ..ListQueueRequest::default() };
            let response = fixture.api.do_list_queue(request).await.unwrap();
            seen.extend(response.qualifications.iter().map(|entry| entry.lead_id.clone()));
            assert!(response.qualifications.iter().all(|entry| entry.history.is_empty()));
            if response.next_page_token.is_empty() {
                break;
            }
            page_token = response.next_page_token;
        }
        let expected: Vec<String> = leads[1..].iter().map(Uuid::to_string).collect();
        assert_eq!(seen, expected);

        let request =
            ListQueueRequest { states: vec![QualificationState::Sql as i32], ..ListQueueRequest::default() };
        let sql = fixture.api.do_list_queue(request).await.unwrap();
        assert_eq!(sql.qualifications.len(), 1);

        let request = ListQueueRequest { states: vec![0], ..ListQueueRequest::default() };
        assert_eq!(fixture.api.do_list_queue(request).await.unwrap_err().code(), Code::InvalidArgument);

        fixture.finish().await;
    }

    #[tokio::test]
    async fn funnel_counts_cohort() {
        let fixture = fixture().await;
        let (mql, sql, won, imported_won, plain, outside) =
            (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut events = Vec::new();
        for lead_id in [mql, sql, won, imported_won, plain] {
            events.push(attributed(lead_id, "2026-01-05T08:00:00Z"));
        }
        events.push(attributed(outside, "2026-02-05T08:00:00Z"));
        for lead_id in [mql, sql, won, outside] {
            events.push(became_mql(lead_id, "2026-01-10T08:30:00Z"));
        }
        events.push(imported(imported_won, Outcome::Won));
        events.push(imported(won, Outcome::Lost));
        deliver(&fixture, events).await.unwrap();
        accept(&fixture, sql).await.unwrap();
        accept(&fixture, won).await.unwrap();
        close(&fixture, won, Outcome::Won).await.unwrap();

        let request = GetFunnelRequest {
            start_date: "2026-01-01".to_owned(),
            end_date: "2026-01-31".to_owned(),
            time_zone: "Europe/Bucharest".to_owned(),
        };
        let funnel = fixture.api.do_get_funnel(leadflow_kit::time::now(), request).await.unwrap();
        let counts: Vec<(&str, i64)> = funnel.stages.iter().map(|stage| (stage.stage.as_str(), stage.lead_count)).collect();
        assert_eq!(counts, [("lead", 5), ("mql", 3), ("sql", 2), ("won", 1)], "won counts sales closes only");
        assert_eq!(funnel.stages[1].conversion_from_previous, 0.6);
        assert_eq!(funnel.stages[2].conversion_from_previous, 2.0 / 3.0);
        assert_eq!(funnel.stages[3].conversion_from_previous, 0.5, "only sales wins convert from SQL");
        assert_eq!(funnel.stages[3].conversion_from_lead, 0.2);
        assert_eq!(funnel.imported_won_count, 1);
        assert_eq!(funnel.imported_won_mql_count, 0);
        assert_eq!(funnel.imported_outcome_count, 2);
        assert_eq!(funnel.mql_with_imported_outcome_count, 1);
        assert_eq!(funnel.time_zone, "Europe/Bucharest");

        let all = fixture.api.do_get_funnel(leadflow_kit::time::now(), GetFunnelRequest::default()).await.unwrap();
        assert_eq!(all.stages[0].lead_count, 6);
        assert_eq!(all.time_zone, "UTC");

        let bad = GetFunnelRequest { time_zone: "Nowhere/City".to_owned(), ..GetFunnelRequest::default() };
        assert_eq!(fixture.api.do_get_funnel(leadflow_kit::time::now(), bad).await.unwrap_err().code(), Code::InvalidArgument);

        fixture.finish().await;
    }
}
