//! gRPC handlers of the activity service: decode and validate each request, run it in one
//! transaction with its outbox events, and map the result.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use leadflow_kit::errors::{FieldViolation, Reason};
use leadflow_kit::config::GroupCommitSettings;
use leadflow_kit::group_commit::{GroupCommit, GroupCommitConfig};
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_kit::{ApiError, ApiResult, CallContext, paging, retry_on_conflict};
use leadflow_proto::activity::activity_events_service_server::ActivityEventsService;
use leadflow_proto::activity::activity_service_server::ActivityService;
use leadflow_proto::activity::*;
use leadflow_proto::types::Outcome;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::{self, LeadRef};
use crate::events::{self, Applied, EventError};
use crate::store::{self, activity, lead};
use crate::DOMAIN;

/// Maximum number of records in one `ImportRecords` call.
pub const MAX_IMPORT_RECORDS: usize = 1000;

/// Handlers of `leadflow.activity.v1.ActivityService`.
#[derive(Clone)]
pub struct ActivityApi {
    db: DatabaseConnection,
    waker: OutboxWaker,
    /// Commits concurrent `TrackActivity` calls together.
    tracks: GroupCommit<TrackWork>,
}

impl ActivityApi {
    /// Creates the handlers over the service's database and starts the group-commit writers
    /// of `TrackActivity`; `waker` wakes the outbox relay.
    pub fn new(db: DatabaseConnection, waker: OutboxWaker, group_commit: &GroupCommitSettings) -> Self {
        let config = GroupCommitConfig::for_database(&db, group_commit);
        let tracks = GroupCommit::start(db.clone(), waker.clone(), TrackWork, config);
        Self { db, waker, tracks }
    }
}

mod identity;
mod import;
mod tracking;

use tracking::{TrackInput, TrackJob, TrackWork};

/// A validated lead upsert.
#[derive(Clone, Debug, Default)]
pub(crate) struct LeadInput {
    pub(crate) email: Option<String>,
    external_id: Option<String>,
    source: Option<String>,
    campaign: Option<String>,
    attributes: BTreeMap<String, String>,
    do_not_track: Option<bool>,
    do_not_contact: Option<bool>,
}

/// A validated activity.
#[derive(Clone, Debug)]
pub(crate) struct ActivityInput {
    pub(crate) type_name: &'static str,
    occurred_at: DateTime<Utc>,
    properties: BTreeMap<String, String>,
    idempotency_key: Option<String>,
}

pub(crate) fn validate_lead(request: &UpsertLeadRequest, prefix: &str, violations: &mut Vec<FieldViolation>) -> LeadInput {
    let field = |name: &str| format!("{prefix}{name}");
    let mut input = LeadInput::default();

    if !request.email.trim().is_empty() {
        match domain::normalize_email(&request.email) {
            Ok(email) => input.email = Some(email),
            Err(description) => violations.push(FieldViolation::new(field("email"), description)),
        }
    }
    let external_id = request.external_id.trim();
    if !external_id.is_empty() {
        domain::check_text(external_id, &field("external_id"), violations);
        input.external_id = Some(external_id.to_owned());
    }
    if input.email.is_none() && input.external_id.is_none() && request.email.trim().is_empty() {
        violations.push(FieldViolation::new(field("email"), "give an e-mail address, an external_id or both"));
    }

    let source = domain::normalize_label(&request.source);
    domain::check_text(&source, &field("source"), violations);
    input.source = (!source.is_empty()).then_some(source);

    let campaign = request.campaign.trim().to_owned();
    domain::check_text(&campaign, &field("campaign"), violations);
    input.campaign = (!campaign.is_empty()).then_some(campaign);

    let attributes: BTreeMap<String, String> =
        request.attributes.iter().map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned())).collect();
    domain::check_string_map(&attributes, &field("attributes"), violations);
    input.attributes = attributes;
    input.do_not_track = request.do_not_track;
    input.do_not_contact = request.do_not_contact;

    input
}

pub(crate) fn validate_activity(
    type_value: i32,
    occurred_at: Option<&prost_types::Timestamp>,
    properties: &BTreeMap<String, String>,
    idempotency_key: &str,
    prefix: &str,
    now: DateTime<Utc>,
    violations: &mut Vec<FieldViolation>,
) -> Option<ActivityInput> {
    let field = |name: &str| format!("{prefix}{name}");

    let type_name = domain::activity_type_name(type_value);
    if type_name.is_none() {
        violations.push(FieldViolation::new(
            field("type"),
            format!("{type_value} is not a known activity type; use a value of leadflow.type.v1.ActivityType other than ACTIVITY_TYPE_UNSPECIFIED"),
        ));
    }

    let occurred_at = match occurred_at {
        None => None,
        Some(timestamp) => match from_timestamp(timestamp) {
            Some(instant) => Some(instant),
            None => {
                violations.push(FieldViolation::new(field("occurred_at"), "is not a valid timestamp"));
                None
            }
        },
    };
    let occurred_at = domain::check_occurred_at(occurred_at, now, &field("occurred_at"), violations);

    domain::check_string_map(properties, &field("properties"), violations);

    let key = idempotency_key.trim();
    domain::check_text(key, &field("idempotency_key"), violations);

    Some(ActivityInput {
        type_name: type_name?,
        occurred_at,
        properties: properties.clone(),
        idempotency_key: (!key.is_empty()).then(|| key.to_owned()),
    })
}

/// Builds the row of a new lead from a validated upsert; empty attribute values are left out.
fn new_lead(input: &LeadInput, now: DateTime<Utc>) -> lead::Model {
    lead::Model {
        id: Uuid::now_v7(),
        email: input.email.clone(),
        external_id: input.external_id.clone(),
        source: input.source.clone().unwrap_or_default(),
        campaign: input.campaign.clone().unwrap_or_default(),
        attributes: store::map_to_json(&input.attributes.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect()),
        lifecycle_stage: domain::lifecycle_name(LifecycleStage::Lead).to_owned(),
        outcome: None,
        create_time: now,
        update_time: now,
        do_not_track: input.do_not_track.unwrap_or(false),
        do_not_contact: input.do_not_contact.unwrap_or(false),
        anonymous: false,
        merged_into: None,
        erase_time: None,
    }
}

/// Creates or updates a lead; returns the lead and whether it was created.
async fn upsert_lead<C: ConnectionTrait>(db: &C, input: &LeadInput, traceparent: &str) -> ApiResult<(lead::Model, bool)> {
    let by_email = match &input.email {
        Some(email) => store::find_lead(db, &LeadRef::Email(email.clone())).await?,
        None => None,
    };
    let by_external_id = match &input.external_id {
        Some(id) => store::find_lead(db, &LeadRef::ExternalId(id.clone())).await?,
        None => None,
    };

    let existing = match (by_email, by_external_id) {
        (Some(a), Some(b)) if a.id != b.id => {
            return Err(ApiError::failed_precondition(
                Reason::LeadKeyConflict,
                format!(
                    "the e-mail address belongs to lead {} and external_id {:?} to lead {}; merge them or correct the request",
                    a.id,
                    input.external_id.as_deref().unwrap_or_default(),
                    b.id
                ),
            ));
        }
        (Some(found), _) | (None, Some(found)) => Some(found),
        (None, None) => None,
    };

    let now = leadflow_kit::time::now();
    let Some(mut lead) = existing else {
        let lead = new_lead(input, now);
        let lead = store::insert_lead(db, lead).await?;
        events::lead_profile_changed(db, &lead, true, traceparent).await?;
        tracing::info!(lead_id = %lead.id, "lead created");
        return Ok((lead, true));
    };

    // A key already on record is never replaced by another value: the request would otherwise
    // move the lead away from the person the old key names.
    let replaces = |stored: &Option<String>, given: &Option<String>| stored.is_some() && given.is_some() && stored != given;
    if replaces(&lead.email, &input.email) {
        return Err(ApiError::failed_precondition(
            Reason::LeadKeyConflict,
            format!(
                "lead {} with external_id {:?} already has another e-mail address; it is kept, so send the address on record or merge the leads",
                lead.id,
                lead.external_id.as_deref().unwrap_or_default()
            ),
        ));
    }
    if replaces(&lead.external_id, &input.external_id) {
        return Err(ApiError::failed_precondition(
            Reason::LeadKeyConflict,
            format!(
                "lead {} already has external_id {:?}, not {:?}; it is kept, so send the id on record or merge the leads",
                lead.id,
                lead.external_id.as_deref().unwrap_or_default(),
                input.external_id.as_deref().unwrap_or_default()
            ),
        ));
    }

    let mut changed = false;
    if input.email.is_some() && lead.email != input.email {
        lead.email = input.email.clone();
        changed = true;
    }
    if input.external_id.is_some() && lead.external_id != input.external_id {
        lead.external_id = input.external_id.clone();
        changed = true;
    }
    if let Some(source) = &input.source {
        if &lead.source != source {
            lead.source = source.clone();
            changed = true;
        }
    }
    if let Some(campaign) = &input.campaign {
        if &lead.campaign != campaign {
            lead.campaign = campaign.clone();
            changed = true;
        }
    }
    let mut attributes = store::json_to_map(&lead.attributes);
    if domain::merge_attributes(&mut attributes, &input.attributes) {
        lead.attributes = store::map_to_json(&attributes);
        changed = true;
    }
    changed |= identity::apply_consent(&mut lead, input.do_not_track, input.do_not_contact);

    if changed {
        lead.update_time = now;
        store::update_lead(db, &lead).await?;
        events::lead_profile_changed(db, &lead, false, traceparent).await?;
        tracing::info!(lead_id = %lead.id, "lead updated");
    }
    Ok((lead, false))
}

/// Resolves a lead reference to a stored lead, or NOT_FOUND.
async fn require_lead<C: ConnectionTrait>(db: &C, key: &LeadRef) -> ApiResult<lead::Model> {
    store::find_lead(db, key).await?.ok_or_else(|| lead_not_found(key))
}

fn lead_not_found(key: &LeadRef) -> ApiError {
    let described = key.describe();
    ApiError::not_found(
        Reason::LeadNotFound,
        format!("no lead matches {described}; create it with UpsertLead or pass create_lead"),
    )
    .with_arg("key", described)
}

/// Stores an activity of `lead` unless its idempotency key is already stored; returns the
/// stored activity and whether this call created it.
async fn insert_activity<C: ConnectionTrait>(
    db: &C,
    lead: &lead::Model,
    input: &ActivityInput,
    traceparent: &str,
) -> ApiResult<(activity::Model, bool)> {
    if let Some(key) = &input.idempotency_key {
        if let Some(existing) = store::find_activity_by_key(db, key).await? {
            check_repeat(&existing, lead, input)?;
            return Ok((existing, false));
        }
    }

    let activity = new_activity(lead, input);
    let activity = store::insert_activity(db, activity).await?;
    events::activity_recorded(db, &activity, lead.anonymous, traceparent).await?;
    Ok((activity, true))
}

/// Builds the row of a new activity of `lead`.
fn new_activity(lead: &lead::Model, input: &ActivityInput) -> activity::Model {
    activity::Model {
        id: Uuid::now_v7(),
        lead_id: lead.id,
        activity_type: input.type_name.to_owned(),
        occurred_at: input.occurred_at,
        properties: store::map_to_json(&input.properties),
        idempotency_key: input.idempotency_key.clone(),
        record_time: leadflow_kit::time::now(),
    }
}

/// Accepts a stored activity with the same idempotency key only when it has the same lead
/// and activity type.
fn check_repeat(existing: &activity::Model, lead: &lead::Model, input: &ActivityInput) -> ApiResult<()> {
    if existing.lead_id == lead.id && existing.activity_type == input.type_name {
        return Ok(());
    }
    let key = existing.idempotency_key.as_deref().unwrap_or_default();
    Err(ApiError::invalid_field(
        "idempotency_key",
        format!("{key:?} was already used for activity {} of another lead or type; use a new key for a new activity", existing.id),
    ))
}

/// Sets an imported outcome on a lead; returns the lead and whether it changed.
async fn set_outcome<C: ConnectionTrait>(
    db: &C,
    mut lead: lead::Model,
    outcome: Outcome,
    occurred_at: DateTime<Utc>,
    traceparent: &str,
) -> ApiResult<(lead::Model, bool)> {
    if !apply_outcome(&mut lead, outcome) {
        return Ok((lead, false));
    }
    store::update_lead(db, &lead).await?;
    events::outcome_imported(db, lead.id, outcome, occurred_at, traceparent).await?;
    Ok((lead, true))
}

/// Sets the outcome and the lifecycle stage it implies on `lead`; returns false when the
/// outcome is unspecified or already recorded.
fn apply_outcome(lead: &mut lead::Model, outcome: Outcome) -> bool {
    let name = match outcome {
        Outcome::Won => "WON",
        Outcome::Lost => "LOST",
        Outcome::Unspecified => return false,
    };
    if lead.outcome.as_deref() == Some(name) {
        return false;
    }

    lead.outcome = Some(name.to_owned());
    lead.lifecycle_stage = domain::lifecycle_name(match outcome {
        Outcome::Won => LifecycleStage::Customer,
        _ => LifecycleStage::Lost,
    })
    .to_owned();
    lead.update_time = leadflow_kit::time::now();
    tracing::info!(lead_id = %lead.id, outcome = name, "outcome recorded");
    true
}

/// Converts a stored lead to its API form.
pub fn lead_to_proto(lead: &lead::Model) -> Lead {
    Lead {
        lead_id: lead.id.to_string(),
        email: lead.email.clone().unwrap_or_default(),
        external_id: lead.external_id.clone().unwrap_or_default(),
        source: lead.source.clone(),
        campaign: lead.campaign.clone(),
        attributes: store::json_to_map(&lead.attributes),
        lifecycle_stage: domain::lifecycle_from_name(&lead.lifecycle_stage) as i32,
        create_time: Some(to_timestamp(lead.create_time)),
        update_time: Some(to_timestamp(lead.update_time)),
        do_not_track: lead.do_not_track,
        do_not_contact: lead.do_not_contact,
        anonymous: lead.anonymous,
        erase_time: lead.erase_time.map(to_timestamp),
        ..Lead::default()
    }
}

/// Converts a stored activity to its API form.
pub fn activity_to_proto(activity: &activity::Model) -> Activity {
    Activity {
        activity_id: activity.id.to_string(),
        lead_id: activity.lead_id.to_string(),
        r#type: domain::activity_type_from_name(&activity.activity_type) as i32,
        occurred_at: Some(to_timestamp(activity.occurred_at)),
        properties: store::json_to_map(&activity.properties),
        idempotency_key: activity.idempotency_key.clone().unwrap_or_default(),
        record_time: Some(to_timestamp(activity.record_time)),
    }
}

fn reject_if_invalid(violations: Vec<FieldViolation>) -> ApiResult<()> {
    if violations.is_empty() { Ok(()) } else { Err(ApiError::invalid(violations)) }
}

impl ActivityApi {
    async fn do_upsert_lead(&self, ctx: &CallContext, request: UpsertLeadRequest) -> ApiResult<UpsertLeadResponse> {
        let mut violations = Vec::new();
        let input = validate_lead(&request, "", &mut violations);
        reject_if_invalid(violations)?;

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/UpsertLead",
            &request.request_id,
            &UpsertLeadRequest { request_id: String::new(), ..request.clone() },
        )?;

        let (input, key) = (&input, key.as_ref());
        let response = retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let (lead, created) = upsert_lead(&txn, input, &ctx.traceparent).await?;
            let response = UpsertLeadResponse { lead: Some(lead_to_proto(&lead)), created };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await?;

        self.waker.wake();
        Ok(response)
    }

    async fn do_track(&self, ctx: &CallContext, request: TrackActivityRequest) -> ApiResult<TrackActivityResponse> {
        let now = leadflow_kit::time::now();
        let mut violations = Vec::new();
        let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
        let input = validate_activity(
            request.r#type,
            request.occurred_at.as_ref(),
            &request.properties,
            &request.idempotency_key,
            "",
            now,
            &mut violations,
        );
        if request.create_lead && !matches!(lead_key, Some(LeadRef::Email(_)) | None) {
            violations.push(FieldViolation::new("create_lead", "needs the lead given by e-mail address"));
        }
        let visitor_id = identity::check_track_visitor(&request.visitor_id, lead_key.as_ref(), &mut violations);
        reject_if_invalid(violations)?;
        let (Some(lead_key), Some(input)) = (lead_key, input) else {
            return Err(ApiError::internal("validated activity lost its fields"));
        };

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/TrackActivity",
            &request.request_id,
            &TrackActivityRequest { request_id: String::new(), ..request.clone() },
        )?;
        let job = TrackJob {
            track: Arc::new(TrackInput { lead_key, input, create_lead: request.create_lead, key, visitor_id }),
            traceparent: Arc::from(ctx.traceparent.as_str()),
        };
        // The call joins the next group commit: its result arrives once its batch committed,
        // and the batch wakes the outbox relay.
        let response: TrackActivityResponse = retry_on_conflict(|| self.tracks.run(job.clone())).await?;
        let created = response.created;
        let activity = response.activity.clone().unwrap_or_default();

        if created {
            tracing::info!(lead_id = %activity.lead_id, activity_id = %activity.activity_id, "activity tracked");
        } else {
            tracing::info!(lead_id = %activity.lead_id, activity_id = %activity.activity_id, "repeated request; stored activity returned");
        }
        Ok(response)
    }

    async fn do_record_outcome(&self, ctx: &CallContext, request: RecordOutcomeRequest) -> ApiResult<RecordOutcomeResponse> {
        let mut violations = Vec::new();
        let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
        let outcome = Outcome::try_from(request.outcome).unwrap_or(Outcome::Unspecified);
        if outcome == Outcome::Unspecified {
            violations.push(FieldViolation::new(
                "outcome",
                format!("{} is not OUTCOME_WON or OUTCOME_LOST", request.outcome),
            ));
        }
        let occurred_at = match request.occurred_at.as_ref().map(from_timestamp) {
            None => leadflow_kit::time::now(),
            Some(Some(instant)) => instant,
            Some(None) => {
                violations.push(FieldViolation::new("occurred_at", "is not a valid timestamp"));
                leadflow_kit::time::now()
            }
        };
        reject_if_invalid(violations)?;
        let Some(lead_key) = lead_key else {
            return Err(ApiError::internal("validated lead key missing"));
        };

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/RecordOutcome",
            &request.request_id,
            &RecordOutcomeRequest { request_id: String::new(), ..request.clone() },
        )?;

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let lead = require_lead(&txn, &lead_key).await?;
        let (lead, changed) = set_outcome(&txn, lead, outcome, occurred_at, &ctx.traceparent).await?;
        let response = RecordOutcomeResponse { lead: Some(lead_to_proto(&lead)), changed };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;

        self.waker.wake();
        Ok(response)
    }


    async fn do_list_activities(&self, request: ListActivitiesRequest) -> ApiResult<ListActivitiesResponse> {
        const METHOD: &str = "ListActivities";
        let mut violations = Vec::new();
        let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
        reject_if_invalid(violations)?;
        let Some(lead_key) = lead_key else {
            return Err(ApiError::internal("validated lead key missing"));
        };
        let page_size = paging::page_size(request.page_size)?;
        let cursor: Option<(DateTime<Utc>, Uuid, Uuid)> = paging::decode(METHOD, &request.page_token)?;

        let lead = require_lead(&self.db, &lead_key).await?;
        if let Some((_, _, cursor_lead)) = cursor {
            if cursor_lead != lead.id {
                return Err(ApiError::invalid_field("page_token", "belongs to another lead's listing".to_owned()));
            }
        }

        let after = cursor.map(|(occurred_at, id, _)| (occurred_at, id));
        let mut rows = store::list_activities(&self.db, lead.id, after, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            let last = rows.last().map(|row| (row.occurred_at, row.id, lead.id));
            last.map(|key| paging::encode(METHOD, &key)).unwrap_or_default()
        } else {
            String::new()
        };

        Ok(ListActivitiesResponse { activities: rows.iter().map(activity_to_proto).collect(), next_page_token })
    }

    async fn do_list_leads(&self, request: ListLeadsRequest) -> ApiResult<ListLeadsResponse> {
        const METHOD: &str = "ListLeads";
        let page_size = paging::page_size(request.page_size)?;
        let after: Option<Uuid> = paging::decode(METHOD, &request.page_token)?;

        let mut rows = store::list_leads(&self.db, after, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().map(|row| paging::encode(METHOD, &row.id)).unwrap_or_default()
        } else {
            String::new()
        };

        Ok(ListLeadsResponse { leads: rows.iter().map(lead_to_proto).collect(), next_page_token })
    }

    async fn do_get_lead(&self, request: GetLeadRequest) -> ApiResult<GetLeadResponse> {
        let mut violations = Vec::new();
        let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
        reject_if_invalid(violations)?;
        let Some(lead_key) = lead_key else {
            return Err(ApiError::internal("validated lead key missing"));
        };
        let lead = require_lead(&self.db, &lead_key).await?;
        Ok(GetLeadResponse { lead: Some(identity::lead_view(&self.db, &lead).await?) })
    }
}

#[tonic::async_trait]
impl ActivityService for ActivityApi {
    async fn upsert_lead(&self, request: Request<UpsertLeadRequest>) -> Result<Response<UpsertLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "UpsertLead", &request);
        self.do_upsert_lead(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_lead(&self, request: Request<GetLeadRequest>) -> Result<Response<GetLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetLead", &request);
        self.do_get_lead(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_leads(&self, request: Request<ListLeadsRequest>) -> Result<Response<ListLeadsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListLeads", &request);
        self.do_list_leads(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn track_activity(&self, request: Request<TrackActivityRequest>) -> Result<Response<TrackActivityResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "TrackActivity", &request);
        self.do_track(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_activities(&self, request: Request<ListActivitiesRequest>) -> Result<Response<ListActivitiesResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListActivities", &request);
        self.do_list_activities(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn record_outcome(&self, request: Request<RecordOutcomeRequest>) -> Result<Response<RecordOutcomeResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "RecordOutcome", &request);
        self.do_record_outcome(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn import_records(&self, request: Request<ImportRecordsRequest>) -> Result<Response<ImportRecordsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ImportRecords", &request);
        self.do_import(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn identify_visitor(&self, request: Request<IdentifyVisitorRequest>) -> Result<Response<IdentifyVisitorResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "IdentifyVisitor", &request);
        self.do_identify(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn merge_leads(&self, request: Request<MergeLeadsRequest>) -> Result<Response<MergeLeadsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "MergeLeads", &request);
        self.do_merge(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn set_lead_consent(&self, request: Request<SetLeadConsentRequest>) -> Result<Response<SetLeadConsentResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "SetLeadConsent", &request);
        self.do_set_consent(&ctx, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn erase_lead(&self, request: Request<EraseLeadRequest>) -> Result<Response<EraseLeadResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "EraseLead", &request);
        let result = crate::erasure::erase_lead(&self.db, &self.waker, &ctx, request.into_inner()).await;
        result.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_erasure(&self, request: Request<GetErasureRequest>) -> Result<Response<GetErasureResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetErasure", &request);
        crate::erasure::get_erasure(&self.db, request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }
}

/// Handlers of `leadflow.activity.v1.ActivityEventsService`.
#[derive(Clone)]
pub struct ActivityEventsApi {
    db: DatabaseConnection,
}

impl ActivityEventsApi {
    /// Creates the handlers over the service's database.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn apply(&self, mut request: DeliverQualificationEventsRequest) -> ApiResult<DeliverQualificationEventsResponse> {
        let spans = leadflow_kit::telemetry::events::start_consumer_spans("activity", &mut request.events);
        let txn = self.db.begin().await?;
        let mut response = DeliverQualificationEventsResponse::default();

        for (index, event) in request.events.iter().enumerate() {
            match events::apply_qualification_event(&txn, event).await {
                Ok(Applied::Applied) => response.applied += 1,
                Ok(Applied::Duplicate) => response.duplicates += 1,
                Err(EventError::Invalid(problem)) => {
                    return Err(ApiError::invalid_field(&format!("events[{index}]"), problem.to_owned()));
                }
                Err(EventError::Database(error)) => return Err(error.into()),
            }
        }

        txn.commit().await?;
        spans.finish();
        Ok(response)
    }
}

#[tonic::async_trait]
impl ActivityEventsService for ActivityEventsApi {
    async fn deliver_qualification_events(
        &self,
        request: Request<DeliverQualificationEventsRequest>,
    ) -> Result<Response<DeliverQualificationEventsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "DeliverQualificationEvents", &request);
        self.apply(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }
}
