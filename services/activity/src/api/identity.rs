//! Lead identity: anonymous visitors, their identification by e-mail address, merges of two
//! leads and consent flags. Every function here runs inside the caller's transaction.

use leadflow_kit::errors::{FieldViolation, Reason};
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::time::to_timestamp;
use leadflow_kit::{ApiError, ApiResult, CallContext, retry_on_conflict};
use leadflow_proto::activity::*;
use sea_orm::{ConnectionTrait, TransactionTrait};
use uuid::Uuid;

use super::{ActivityApi, LeadInput, lead_not_found, lead_to_proto, reject_if_invalid, require_lead, upsert_lead};
use crate::domain::{self, LeadRef};
use crate::events;
use crate::store::{self, identity as aliases, lead, lead_merge};

/// Actor recorded for merges made by identifying a visitor.
const IDENTIFY_ACTOR: &str = "identify";
/// Actor recorded for merges whose request names none.
const DEFAULT_ACTOR: &str = "api";

/// Converts a lead to its API form with its visitor ids.
pub(super) async fn lead_view<C: ConnectionTrait>(db: &C, lead: &lead::Model) -> ApiResult<Lead> {
    let mut view = lead_to_proto(lead);
    view.visitor_ids = aliases::lead_aliases(db, lead.id).await?;
    Ok(view)
}

/// Sets the consent flags that are given; returns true when one changed.
pub(super) fn apply_consent(lead: &mut lead::Model, do_not_track: Option<bool>, do_not_contact: Option<bool>) -> bool {
    let mut changed = false;
    if let Some(flag) = do_not_track.filter(|flag| *flag != lead.do_not_track) {
        lead.do_not_track = flag;
        changed = true;
    }
    if let Some(flag) = do_not_contact.filter(|flag| *flag != lead.do_not_contact) {
        lead.do_not_contact = flag;
        changed = true;
    }
    changed
}

/// Checks `TrackActivityRequest.visitor_id`: allowed only beside a lead given by e-mail
/// address, because that is the form submission that identifies the visitor.
pub(super) fn check_track_visitor(raw: &str, lead_key: Option<&LeadRef>, violations: &mut Vec<FieldViolation>) -> Option<String> {
    if raw.trim().is_empty() {
        return None;
    }
    if !matches!(lead_key, Some(LeadRef::Email(_)) | None) {
        violations.push(FieldViolation::new(
            "visitor_id",
            "needs the lead given by e-mail address; to track an anonymous visitor, put the id in lead.visitor_id",
        ));
        return None;
    }
    match domain::normalize_visitor_id(raw) {
        Ok(id) => Some(id),
        Err(description) => {
            violations.push(FieldViolation::new("visitor_id", description));
            None
        }
    }
}

/// Returns the lead of a visitor id. A visitor seen for the first time gets a new anonymous
/// lead, announced to scoring like any new lead.
pub(super) async fn visitor_lead<C: ConnectionTrait>(db: &C, visitor_id: &str, traceparent: &str) -> ApiResult<lead::Model> {
    if let Some(lead) = store::find_lead(db, &LeadRef::Visitor(visitor_id.to_owned())).await? {
        return Ok(lead);
    }

    let now = leadflow_kit::time::now();
    let lead = lead::Model {
        id: Uuid::now_v7(),
        email: None,
        external_id: None,
        source: String::new(),
        campaign: String::new(),
        attributes: serde_json::Value::Object(Default::default()),
        lifecycle_stage: domain::lifecycle_name(LifecycleStage::Lead).to_owned(),
        outcome: None,
        create_time: now,
        update_time: now,
        do_not_track: false,
        do_not_contact: false,
        anonymous: true,
        merged_into: None,
        erase_time: None,
    };
    let lead = store::insert_lead(db, lead).await?;
    aliases::insert_alias(db, visitor_id, lead.id, now).await?;
    events::lead_profile_changed(db, &lead, true, traceparent).await?;
    tracing::info!(lead_id = %lead.id, "anonymous lead created for a new visitor");
    Ok(lead)
}

/// Result of identifying a visitor.
pub(super) struct Identified {
    /// The known lead the visitor id now looks up.
    pub lead: lead::Model,
    /// Anonymous lead merged into `lead`, when there was one.
    pub merged: Option<lead_merge::Model>,
}

/// Joins a visitor to the lead with `email`; see `ActivityService.IdentifyVisitor` for the
/// cases. `email` must be normalised.
pub(super) async fn identify_in<C: ConnectionTrait>(db: &C, visitor_id: &str, email: &str, traceparent: &str) -> ApiResult<Identified> {
    let now = leadflow_kit::time::now();
    let visitor = store::find_lead(db, &LeadRef::Visitor(visitor_id.to_owned())).await?;
    let known = store::find_lead(db, &LeadRef::Email(email.to_owned())).await?;

    match (visitor, known) {
        (Some(visitor), Some(known)) if visitor.id == known.id => Ok(Identified { lead: known, merged: None }),

        // The anonymous lead becomes known under its own id.
        (Some(mut visitor), None) if visitor.anonymous && visitor.erase_time.is_none() => {
            visitor.email = Some(email.to_owned());
            visitor.anonymous = false;
            visitor.update_time = now;
            store::update_lead(db, &visitor).await?;
            events::lead_profile_changed(db, &visitor, false, traceparent).await?;
            tracing::info!(lead_id = %visitor.id, "anonymous lead identified");
            Ok(Identified { lead: visitor, merged: None })
        }

        // The anonymous history joins the known lead, which keeps its id.
        (Some(visitor), Some(known)) if visitor.anonymous && visitor.erase_time.is_none() => {
            let (known, merge, _) = merge_in(db, known, visitor, IDENTIFY_ACTOR, traceparent).await?;
            Ok(Identified { lead: known, merged: Some(merge) })
        }

        // A visitor already attached to another known lead, such as a shared browser, follows
        // the new address from now on. The earlier history stays with its lead.
        (Some(_), known) => {
            let known = match known {
                Some(known) => known,
                None => known_lead(db, email, traceparent).await?,
            };
            aliases::move_alias(db, visitor_id, known.id, now).await?;
            tracing::info!(lead_id = %known.id, "visitor id moved to another known lead");
            Ok(Identified { lead: known, merged: None })
        }

        (None, known) => {
            let known = match known {
                Some(known) => known,
                None => known_lead(db, email, traceparent).await?,
            };
            aliases::insert_alias(db, visitor_id, known.id, now).await?;
            tracing::info!(lead_id = %known.id, "visitor id attached to a known lead");
            Ok(Identified { lead: known, merged: None })
        }
    }
}

async fn known_lead<C: ConnectionTrait>(db: &C, email: &str, traceparent: &str) -> ApiResult<lead::Model> {
    let input = LeadInput { email: Some(email.to_owned()), ..LeadInput::default() };
    Ok(upsert_lead(db, &input, traceparent).await?.0)
}

/// Checks that `merged` may be merged into `survivor`. Returns the existing merge record
/// when the two were merged before, so a repeated merge changes nothing.
async fn check_merge<C: ConnectionTrait>(
    db: &C,
    survivor: &lead::Model,
    merged: &lead::Model,
) -> ApiResult<Option<lead_merge::Model>> {
    if survivor.id == merged.id {
        return Err(ApiError::failed_precondition(
            Reason::MergeSameLead,
            format!("survivor and merged lead are both lead {}; name two different leads", survivor.id),
        )
        .with_arg("lead_id", survivor.id.to_string()));
    }
    if merged.merged_into == Some(survivor.id) {
        return Ok(aliases::find_merge(db, merged.id).await?);
    }
    if survivor.merged_into == Some(merged.id) {
        return Err(ApiError::failed_precondition(
            Reason::MergeLoop,
            format!(
                "lead {} was merged into lead {} before, so the merge would loop; lead {} already holds both histories",
                survivor.id, merged.id, merged.id
            ),
        )
        .with_arg("survivor_id", survivor.id.to_string())
        .with_arg("merged_id", merged.id.to_string()));
    }
    for lead in [survivor, merged] {
        if let Some(target) = lead.merged_into {
            return Err(ApiError::failed_precondition(
                Reason::LeadAlreadyMerged,
                format!("lead {} was already merged into lead {target}; name lead {target} instead", lead.id),
            )
            .with_arg("lead_id", lead.id.to_string())
            .with_arg("survivor_id", target.to_string()));
        }
    }
    for lead in [survivor, merged] {
        if lead.erase_time.is_some() {
            return Err(ApiError::failed_precondition(
                Reason::MergeErasedLead,
                format!("lead {} is erased and cannot take part in a merge", lead.id),
            )
            .with_arg("lead_id", lead.id.to_string()));
        }
    }
    Ok(None)
}

/// Merges `merged` into `survivor`. Activities, visitor ids and the keys the survivor lacks
/// move to it, and a consent flag set on either lead stays set. The merged lead keeps its
/// other keys as aliases that look up the survivor. Returns the survivor, the merge record
/// and whether this call merged.
async fn merge_in<C: ConnectionTrait>(
    db: &C,
    mut survivor: lead::Model,
    mut merged: lead::Model,
    actor: &str,
    traceparent: &str,
) -> ApiResult<(lead::Model, lead_merge::Model, bool)> {
    if let Some(existing) = check_merge(db, &survivor, &merged).await? {
        return Ok((survivor, existing, false));
    }

    let now = leadflow_kit::time::now();
    let moved = aliases::move_activities(db, merged.id, survivor.id).await?;
    aliases::move_aliases(db, merged.id, survivor.id, now).await?;

    // The unique keys move by clearing them on the merged row first.
    let survivor_before = survivor.clone();
    let take_email = survivor.email.is_none() && merged.email.is_some();
    let take_external_id = survivor.external_id.is_none() && merged.external_id.is_some();
    let email = if take_email { merged.email.take() } else { None };
    let external_id = if take_external_id { merged.external_id.take() } else { None };
    merged.merged_into = Some(survivor.id);
    merged.update_time = now;
    store::update_lead(db, &merged).await?;

    survivor.email = survivor.email.or(email);
    survivor.external_id = survivor.external_id.or(external_id);
    survivor.do_not_track |= merged.do_not_track;
    survivor.do_not_contact |= merged.do_not_contact;
    survivor.anonymous = survivor.email.is_none() && survivor.external_id.is_none() && survivor.anonymous && merged.anonymous;
    if survivor != survivor_before {
        survivor.update_time = now;
        store::update_lead(db, &survivor).await?;
        events::lead_profile_changed(db, &survivor, false, traceparent).await?;
    }

    let merge = lead_merge::Model {
        id: Uuid::now_v7(),
        survivor_lead_id: survivor.id,
        merged_lead_id: merged.id,
        actor: actor.to_owned(),
        merge_time: now,
        activities_moved: moved.len() as i32,
    };
    aliases::insert_merge(db, &merge).await?;
    events::leads_merged(db, &merge, &moved, traceparent).await?;
    tracing::info!(
        merge_id = %merge.id,
        survivor_lead_id = %survivor.id,
        merged_lead_id = %merged.id,
        activities_moved = moved.len(),
        "leads merged"
    );
    Ok((survivor, merge, true))
}

fn merge_to_proto(merge: &lead_merge::Model) -> LeadMerge {
    LeadMerge {
        merge_id: merge.id.to_string(),
        survivor_lead_id: merge.survivor_lead_id.to_string(),
        merged_lead_id: merge.merged_lead_id.to_string(),
        actor: merge.actor.clone(),
        merge_time: Some(to_timestamp(merge.merge_time)),
        activities_moved: merge.activities_moved,
    }
}

/// Finds the stored row a merge key names, without following merges, so a merged lead is
/// seen as merged.
async fn require_row<C: ConnectionTrait>(db: &C, key: &LeadRef) -> ApiResult<lead::Model> {
    store::find_lead_row(db, key).await?.ok_or_else(|| lead_not_found(key))
}

impl ActivityApi {
    pub(super) async fn do_identify(&self, ctx: &CallContext, request: IdentifyVisitorRequest) -> ApiResult<IdentifyVisitorResponse> {
        let mut violations = Vec::new();
        let visitor_id = match domain::normalize_visitor_id(&request.visitor_id) {
            Ok(id) => Some(id),
            Err(description) => {
                violations.push(FieldViolation::new("visitor_id", description));
                None
            }
        };
        let email = match domain::normalize_email(&request.email) {
            Ok(email) => Some(email),
            Err(description) => {
                violations.push(FieldViolation::new("email", description));
                None
            }
        };
        reject_if_invalid(violations)?;
        let (Some(visitor_id), Some(email)) = (visitor_id, email) else {
            return Err(ApiError::internal("validated visitor fields missing"));
        };

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/IdentifyVisitor",
            &request.request_id,
            &IdentifyVisitorRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (visitor_id, email, key) = (&visitor_id, &email, key.as_ref());
        let response = retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let identified = identify_in(&txn, visitor_id, email, &ctx.traceparent).await?;
            let response = IdentifyVisitorResponse {
                lead: Some(lead_view(&txn, &identified.lead).await?),
                merged_lead_id: identified.merged.as_ref().map(|merge| merge.merged_lead_id.to_string()).unwrap_or_default(),
                activities_moved: identified.merged.as_ref().map(|merge| merge.activities_moved).unwrap_or(0),
            };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await?;

        self.waker.wake();
        Ok(response)
    }

    pub(super) async fn do_merge(&self, ctx: &CallContext, request: MergeLeadsRequest) -> ApiResult<MergeLeadsResponse> {
        let mut violations = Vec::new();
        let survivor_key = domain::parse_lead_key(request.survivor.as_ref(), "survivor", &mut violations);
        let merged_key = domain::parse_lead_key(request.merged.as_ref(), "merged", &mut violations);
        let actor = request.actor.trim();
        domain::check_text(actor, "actor", &mut violations);
        reject_if_invalid(violations)?;
        let (Some(survivor_key), Some(merged_key)) = (survivor_key, merged_key) else {
            return Err(ApiError::internal("validated merge keys missing"));
        };
        let actor = if actor.is_empty() { DEFAULT_ACTOR } else { actor };

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/MergeLeads",
            &request.request_id,
            &MergeLeadsRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (survivor_key, merged_key, key) = (&survivor_key, &merged_key, key.as_ref());
        let response = retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let survivor = require_row(&txn, survivor_key).await?;
            let merged = require_row(&txn, merged_key).await?;
            let (survivor, merge, created) = merge_in(&txn, survivor, merged, actor, &ctx.traceparent).await?;
            let response = MergeLeadsResponse {
                survivor: Some(lead_view(&txn, &survivor).await?),
                merge: Some(merge_to_proto(&merge)),
                merged: created,
            };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await?;

        self.waker.wake();
        Ok(response)
    }

    pub(super) async fn do_set_consent(&self, ctx: &CallContext, request: SetLeadConsentRequest) -> ApiResult<SetLeadConsentResponse> {
        let mut violations = Vec::new();
        let lead_key = domain::parse_lead_key(request.lead.as_ref(), "lead", &mut violations);
        if request.do_not_track.is_none() && request.do_not_contact.is_none() {
            violations.push(FieldViolation::new("do_not_track", "set do_not_track, do_not_contact or both"));
        }
        reject_if_invalid(violations)?;
        let Some(lead_key) = lead_key else {
            return Err(ApiError::internal("validated lead key missing"));
        };

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/SetLeadConsent",
            &request.request_id,
            &SetLeadConsentRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (lead_key, request, key) = (&lead_key, &request, key.as_ref());
        let response = retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let mut lead = require_lead(&txn, lead_key).await?;
            let changed = apply_consent(&mut lead, request.do_not_track, request.do_not_contact);
            if changed {
                lead.update_time = leadflow_kit::time::now();
                store::update_lead(&txn, &lead).await?;
                events::lead_profile_changed(&txn, &lead, false, &ctx.traceparent).await?;
                tracing::info!(
                    lead_id = %lead.id,
                    do_not_track = lead.do_not_track,
                    do_not_contact = lead.do_not_contact,
                    "lead consent changed"
                );
            }
            let response = SetLeadConsentResponse { lead: Some(lead_view(&txn, &lead).await?), changed };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await?;

        self.waker.wake();
        Ok(response)
    }
}
