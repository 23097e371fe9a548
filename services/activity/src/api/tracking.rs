//! Storage of `TrackActivity` calls in group-commit batches.
//!
//! A batch is stored with a fixed number of statements whatever its size. One query each
//! reads the stored responses, the leads and the activities that the calls name. One
//! multi-row insert each then writes new leads, activities, outbox events and stored responses. The
//! decisions in between (replay, not found, erased lead, do-not-track, a repeated
//! idempotency key) are the same as those of [`track_in`], which stores one call alone.
//!
//! Some calls go to [`track_in`] instead, each in its own savepoint after the shared
//! statements. These are the calls that carry a visitor id, name a merged lead, or repeat a
//! request id or an idempotency key of an earlier call of the same batch. A call that names the e-mail
//! address of an earlier identification in the batch, or an anonymous lead after one, goes
//! there too. The calls that run alone keep their queue order, and the rows of the earlier
//! calls are in the transaction, so each gets the result it would get one batch later.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use leadflow_kit::group_commit::BatchWork;
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::entity::idempotency_key;
use leadflow_kit::ApiResult;
use leadflow_proto::activity::TrackActivityResponse;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use uuid::Uuid;

use super::{
    ActivityInput, LeadInput, activity_to_proto, check_repeat, identity, insert_activity, lead_not_found, new_activity, new_lead,
    upsert_lead,
};
use crate::domain::LeadRef;
use crate::events;
use crate::store::{self, activity, lead};

/// A validated `TrackActivity` call.
pub(super) struct TrackInput {
    pub(super) lead_key: LeadRef,
    pub(super) input: ActivityInput,
    pub(super) create_lead: bool,
    pub(super) key: Option<RequestKey>,
    /// Visitor id sent beside an e-mail key; the visitor is identified before the activity is stored.
    pub(super) visitor_id: Option<String>,
}

/// One call queued for the group commit: its input and the trace context of its span.
#[derive(Clone)]
pub(super) struct TrackJob {
    pub(super) track: Arc<TrackInput>,
    pub(super) traceparent: Arc<str>,
}

/// The [`BatchWork`] of `TrackActivity`.
pub(super) struct TrackWork;

#[async_trait::async_trait]
impl BatchWork for TrackWork {
    type Job = TrackJob;
    type Output = TrackActivityResponse;

    async fn run_together(
        &self,
        txn: &DatabaseTransaction,
        jobs: &[&TrackJob],
    ) -> Result<Vec<Option<ApiResult<TrackActivityResponse>>>, DbErr> {
        track_together(txn, jobs).await
    }

    async fn run_alone(&self, txn: &DatabaseTransaction, job: &TrackJob) -> ApiResult<TrackActivityResponse> {
        track_in(txn, &job.track, &job.traceparent).await
    }
}

/// Stores one tracked activity, with its idempotency record and outbox event, inside the
/// caller's transaction; a repeated request returns the stored response.
pub(super) async fn track_in<C: ConnectionTrait>(txn: &C, track: &TrackInput, traceparent: &str) -> ApiResult<TrackActivityResponse> {
    let key = track.key.as_ref();
    if let Some(stored) = idempotency::replay(txn, key).await? {
        return Ok(stored);
    }
    let lead = match (&track.lead_key, &track.visitor_id) {
        (LeadRef::Email(email), Some(visitor_id)) => identity::identify_in(txn, visitor_id, email, traceparent).await?.lead,
        (LeadRef::Visitor(visitor_id), _) => identity::visitor_lead(txn, visitor_id, traceparent).await?,
        _ => match store::find_lead(txn, &track.lead_key).await? {
            Some(lead) => lead,
            None => match (&track.lead_key, track.create_lead) {
                (LeadRef::Email(email), true) => {
                    let lead_input = LeadInput { email: Some(email.clone()), ..LeadInput::default() };
                    upsert_lead(txn, &lead_input, traceparent).await?.0
                }
                _ => return Err(lead_not_found(&track.lead_key)),
            },
        },
    };
    crate::erasure::reject_erased(&lead)?;

    // A lead that asked not to be tracked gets a successful response, but nothing is stored
    // and no event reaches scoring.
    let response = if lead.do_not_track {
        TrackActivityResponse { activity: None, created: false, do_not_track: true, lead_id: lead.id.to_string() }
    } else {
        let (activity, created) = insert_activity(txn, &lead, &track.input, traceparent).await?;
        TrackActivityResponse { activity: Some(activity_to_proto(&activity)), created, do_not_track: false, lead_id: lead.id.to_string() }
    };
    idempotency::store(txn, key, &response).await?;
    Ok(response)
}

/// Runs the calls of a batch with shared statements; see the module documentation.
async fn track_together(
    txn: &DatabaseTransaction,
    jobs: &[&TrackJob],
) -> Result<Vec<Option<ApiResult<TrackActivityResponse>>>, DbErr> {
    let keys: Vec<&RequestKey> = jobs.iter().filter_map(|job| job.track.key.as_ref()).collect();
    let stored = idempotency::find_stored(txn, &keys).await?;
    let mut leads = Leads::load(txn, jobs).await?;
    let activity_keys = jobs.iter().filter_map(|job| job.track.input.idempotency_key.clone()).collect();
    let activities = store::find_activities_by_keys(txn, activity_keys).await?;

    let mut plan = Plan::default();
    let mut request_ids = HashSet::new();
    let mut idempotency_keys = HashSet::new();
    let mut order = AloneOrder::default();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let track = &job.track;
        // A repeat of a key used earlier in this batch waits until that call's rows exist.
        let repeats_request = track.key.as_ref().is_some_and(|key| !request_ids.insert(key.request_id().to_owned()));
        let repeats_activity =
            track.input.idempotency_key.as_ref().is_some_and(|key| !idempotency_keys.insert(key.clone()));
        let alone = track.visitor_id.is_some()
            || matches!(track.lead_key, LeadRef::Visitor(_))
            || repeats_request
            || repeats_activity
            || order.must_follow(&track.lead_key);
        if alone {
            order.note(track);
            results.push(None);
            continue;
        }

        let stored_response = track.key.as_ref().and_then(|key| Some((key, stored.get(key.request_id())?)));
        let result = match stored_response {
            Some((key, row)) => Some(idempotency::decode_stored(key, row)),
            None => plan.track(job, &mut leads, &activities, order.identifies),
        };
        results.push(result);
    }

    plan.write(txn).await?;
    Ok(results)
}

/// What the calls that run alone, after the shared statements, may change, so that a later
/// call of the batch that depends on it runs alone too, after them in queue order.
#[derive(Default)]
struct AloneOrder {
    /// E-mail addresses that an identification by visitor id may give to a lead or merge.
    emails: HashSet<String>,
    /// True once an identification runs alone; it may turn an anonymous lead into a known
    /// one or merge it.
    identifies: bool,
}

impl AloneOrder {
    fn note(&mut self, track: &TrackInput) {
        if let (LeadRef::Email(email), Some(_)) = (&track.lead_key, &track.visitor_id) {
            self.emails.insert(email.clone());
            self.identifies = true;
        }
    }

    fn must_follow(&self, key: &LeadRef) -> bool {
        matches!(key, LeadRef::Email(email) if self.emails.contains(email))
    }
}

/// The leads that the calls of a batch name, by each kind of key, with the leads that the
/// batch creates added as it goes.
struct Leads {
    by_id: HashMap<Uuid, lead::Model>,
    by_email: HashMap<String, Uuid>,
    by_external_id: HashMap<String, Uuid>,
}

impl Leads {
    async fn load(txn: &DatabaseTransaction, jobs: &[&TrackJob]) -> Result<Self, DbErr> {
        let (mut ids, mut emails, mut external_ids) = (Vec::new(), Vec::new(), Vec::new());
        for job in jobs {
            match &job.track.lead_key {
                LeadRef::Id(id) => ids.push(*id),
                LeadRef::Email(email) => emails.push(email.clone()),
                LeadRef::ExternalId(id) => external_ids.push(id.clone()),
                LeadRef::Visitor(_) => {}
            }
        }
        let mut leads = Self { by_id: HashMap::new(), by_email: HashMap::new(), by_external_id: HashMap::new() };
        for lead in store::find_lead_rows(txn, ids, emails, external_ids).await? {
            leads.add(lead);
        }
        Ok(leads)
    }

    fn add(&mut self, lead: lead::Model) {
        if let Some(email) = &lead.email {
            self.by_email.insert(email.clone(), lead.id);
        }
        if let Some(external_id) = &lead.external_id {
            self.by_external_id.insert(external_id.clone(), lead.id);
        }
        self.by_id.insert(lead.id, lead);
    }

    fn find(&self, key: &LeadRef) -> Option<&lead::Model> {
        let id = match key {
            LeadRef::Id(id) => *id,
            LeadRef::Email(email) => *self.by_email.get(email)?,
            LeadRef::ExternalId(id) => *self.by_external_id.get(id)?,
            LeadRef::Visitor(_) => return None,
        };
        self.by_id.get(&id)
    }
}

/// The rows a batch inserts, in call order.
#[derive(Default)]
struct Plan {
    leads: Vec<lead::Model>,
    activities: Vec<activity::Model>,
    events: Vec<events::OutboxRow>,
    responses: Vec<idempotency_key::ActiveModel>,
}

impl Plan {
    /// Decides one call whose lead is known or to be created; `None` sends it to
    /// [`track_in`]. Rows are added only for a call that succeeds.
    fn track(
        &mut self,
        job: &TrackJob,
        leads: &mut Leads,
        activities: &HashMap<String, activity::Model>,
        after_identification: bool,
    ) -> Option<ApiResult<TrackActivityResponse>> {
        let track = &job.track;
        let (lead, new_lead) = match leads.find(&track.lead_key) {
            // A merged lead resolves to its survivor, which `track_in` follows.
            Some(found) if found.merged_into.is_some() => return None,
            // An identification earlier in the batch may merge or name this anonymous lead.
            Some(found) if found.anonymous && after_identification => return None,
            Some(found) => (found.clone(), false),
            None => match (&track.lead_key, track.create_lead) {
                (LeadRef::Email(email), true) => {
                    let input = LeadInput { email: Some(email.clone()), ..LeadInput::default() };
                    (new_lead(&input, leadflow_kit::time::now()), true)
                }
                _ => return Some(Err(lead_not_found(&track.lead_key))),
            },
        };
        if let Err(error) = crate::erasure::reject_erased(&lead) {
            return Some(Err(error));
        }

        let mut created_activity = None;
        let response = if lead.do_not_track {
            TrackActivityResponse { activity: None, created: false, do_not_track: true, lead_id: lead.id.to_string() }
        } else {
            let existing = track.input.idempotency_key.as_ref().and_then(|key| activities.get(key));
            match existing {
                Some(existing) => {
                    if let Err(error) = check_repeat(existing, &lead, &track.input) {
                        return Some(Err(error));
                    }
                    TrackActivityResponse { activity: Some(activity_to_proto(existing)), created: false, do_not_track: false, lead_id: lead.id.to_string() }
                }
                None => {
                    let activity = new_activity(&lead, &track.input);
                    let response = TrackActivityResponse {
                        activity: Some(activity_to_proto(&activity)),
                        created: true,
                        do_not_track: false,
                        lead_id: lead.id.to_string(),
                    };
                    created_activity = Some(activity);
                    response
                }
            }
        };

        if new_lead {
            self.events.push(events::lead_profile_changed_row(&lead, true, &job.traceparent));
            self.leads.push(lead.clone());
            tracing::info!(lead_id = %lead.id, "lead created");
            leads.add(lead.clone());
        }
        if let Some(activity) = created_activity {
            self.events.push(events::activity_recorded_row(&activity, lead.anonymous, &job.traceparent));
            self.activities.push(activity);
        }
        if let Some(key) = &track.key {
            self.responses.push(idempotency::row(key, &response));
        }
        Some(Ok(response))
    }

    /// Inserts the rows: leads before the activities that reference them, and outbox events
    /// in call order.
    async fn write(self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        store::insert_leads(txn, self.leads).await?;
        store::insert_activities(txn, self.activities).await?;
        leadflow_kit::outbox::enqueue_rows(txn, self.events).await?;
        idempotency::store_rows(txn, self.responses).await
    }
}
