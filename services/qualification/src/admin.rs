//! Handlers of the sales-side management methods: reps, manual assignment, overdue leads and
//! settings. The trait implementation in [`crate::api`] calls them.

use chrono::{DateTime, Utc};
use leadflow_kit::errors::Reason;
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::time::to_timestamp;
use leadflow_kit::{ApiError, ApiResult, paging, retry_on_conflict};
use leadflow_proto::qualification::*;
use leadflow_proto::types::QualificationState;
use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::api::{QualificationApi, qualification_not_found, qualification_to_proto, reject_if_invalid};
use crate::assignment::{self, METHOD_MANUAL};
use crate::domain;
use crate::events::assignment_row;
use crate::settings;
use crate::store::{self, rep, sales};

/// Returns NOT_FOUND for an unknown rep, naming the id.
fn rep_not_found(rep_id: &str) -> ApiError {
    ApiError::not_found(
        Reason::RepNotFound,
        format!("rep {rep_id:?} does not exist; list the reps with ListReps or create it with CreateRep"),
    )
    .with_arg("rep_id", rep_id)
}

/// Converts a stored rep with its open lead count to the API form.
fn rep_to_proto(row: &rep::Model, open_leads: i64) -> Rep {
    Rep {
        rep_id: row.rep_id.clone(),
        display_name: row.display_name.clone(),
        active: row.active,
        capacity: row.capacity,
        countries: sales::json_to_strings(&row.countries),
        segments: sales::json_to_strings(&row.segments),
        time_zone: row.time_zone.clone(),
        open_lead_count: open_leads as i32,
        create_time: Some(to_timestamp(row.create_time)),
        update_time: Some(to_timestamp(row.update_time)),
    }
}

/// Reads the paths of an update mask; an absent mask is empty.
fn mask_paths(mask: Option<&prost_types::FieldMask>) -> Vec<String> {
    mask.map(|mask| mask.paths.iter().map(|path| path.trim().to_owned()).collect()).unwrap_or_default()
}

impl QualificationApi {
    pub(crate) async fn do_create_rep(&self, now: DateTime<Utc>, request: CreateRepRequest) -> ApiResult<CreateRepResponse> {
        let mut violations = Vec::new();
        let mut rep = request.rep.clone().unwrap_or_default();
        rep.rep_id = rep.rep_id.trim().to_owned();
        assignment::check_rep_id(&rep.rep_id, "rep.rep_id", &mut violations);
        assignment::validate_rep(&mut rep, &mut violations);
        reject_if_invalid(violations)?;

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/CreateRep",
            &request.request_id,
            &CreateRepRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (key, rep) = (key.as_ref(), &rep);
        retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            if sales::find_rep(&txn, &rep.rep_id).await?.is_some() {
                return Err(ApiError::already_exists(
                    Reason::RepAlreadyExists,
                    format!("rep {:?} already exists; change it with UpdateRep or choose another id", rep.rep_id),
                )
                .with_arg("rep_id", rep.rep_id.clone()));
            }
            let row = rep::Model {
                rep_id: rep.rep_id.clone(),
                display_name: rep.display_name.clone(),
                active: rep.active,
                capacity: rep.capacity,
                countries: sales::strings_to_json(&rep.countries),
                segments: sales::strings_to_json(&rep.segments),
                time_zone: rep.time_zone.clone(),
                assign_seq: 0,
                create_time: now,
                update_time: now,
            };
            sales::insert_rep(&txn, row.clone()).await?;
            let response = CreateRepResponse { rep: Some(rep_to_proto(&row, 0)) };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            tracing::info!(rep_id = %row.rep_id, capacity = row.capacity, active = row.active, "rep created");
            Ok(response)
        })
        .await
    }

    pub(crate) async fn do_update_rep(&self, now: DateTime<Utc>, request: UpdateRepRequest) -> ApiResult<UpdateRepResponse> {
        let mut violations = Vec::new();
        let update = request.rep.clone().unwrap_or_default();
        let rep_id = update.rep_id.trim().to_owned();
        assignment::check_rep_id(&rep_id, "rep.rep_id", &mut violations);
        let paths = mask_paths(request.update_mask.as_ref());
        for (index, path) in paths.iter().enumerate() {
            if !assignment::MASK_PATHS.contains(&path.as_str()) {
                violations.push(leadflow_kit::errors::FieldViolation::new(
                    format!("update_mask.paths[{index}]"),
                    format!("{path:?} is not a writable rep field; expected one of {}", assignment::MASK_PATHS.join(", ")),
                ));
            }
        }
        reject_if_invalid(violations)?;

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/UpdateRep",
            &request.request_id,
            &UpdateRepRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (key, update, paths, rep_id) = (key.as_ref(), &update, &paths, &rep_id);
        retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let Some(stored) = sales::find_rep(&txn, rep_id).await? else {
                return Err(rep_not_found(rep_id));
            };

            let mut merged = rep_to_proto(&stored, 0);
            let all = paths.is_empty();
            let wants = |name: &str| all || paths.iter().any(|path| path == name);
            if wants("display_name") {
                merged.display_name = update.display_name.clone();
            }
            if wants("active") {
                merged.active = update.active;
            }
            if wants("capacity") {
                merged.capacity = update.capacity;
            }
            if wants("countries") {
                merged.countries = update.countries.clone();
            }
            if wants("segments") {
                merged.segments = update.segments.clone();
            }
            if wants("time_zone") {
                merged.time_zone = update.time_zone.clone();
            }
            let mut violations = Vec::new();
            assignment::validate_rep(&mut merged, &mut violations);
            reject_if_invalid(violations)?;

            let row = rep::Model {
                display_name: merged.display_name.clone(),
                active: merged.active,
                capacity: merged.capacity,
                countries: sales::strings_to_json(&merged.countries),
                segments: sales::strings_to_json(&merged.segments),
                time_zone: merged.time_zone.clone(),
                update_time: now,
                ..stored
            };
            sales::update_rep(&txn, row.clone()).await?;
            let open = sales::open_lead_count(&txn, rep_id).await?;
            let response = UpdateRepResponse { rep: Some(rep_to_proto(&row, open)) };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            tracing::info!(rep_id = %row.rep_id, capacity = row.capacity, active = row.active, "rep updated");
            Ok(response)
        })
        .await
    }

    pub(crate) async fn do_list_reps(&self, request: ListRepsRequest) -> ApiResult<ListRepsResponse> {
        const METHOD: &str = "ListReps";
        let page_size = paging::page_size(request.page_size)?;
        let after: Option<String> = paging::decode(METHOD, &request.page_token)?;

        let mut rows = sales::list_reps(&self.db, after.as_deref(), page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().map(|row| paging::encode(METHOD, &row.rep_id)).unwrap_or_default()
        } else {
            String::new()
        };
        let open = sales::open_lead_counts(&self.db).await?;
        let reps = rows.iter().map(|row| rep_to_proto(row, open.get(&row.rep_id).copied().unwrap_or(0))).collect();
        Ok(ListRepsResponse { reps, next_page_token })
    }

    pub(crate) async fn do_assign_lead(&self, now: DateTime<Utc>, request: AssignLeadRequest) -> ApiResult<AssignLeadResponse> {
        let mut violations = Vec::new();
        let lead_id = domain::parse_lead_id(&request.lead_id, &mut violations);
        let rep_id = request.rep_id.trim().to_owned();
        assignment::check_rep_id(&rep_id, "rep_id", &mut violations);
        let actor = domain::parse_actor(&request.actor, &mut violations);
        reject_if_invalid(violations)?;
        let Some(lead_id) = lead_id else {
            return Err(ApiError::internal("validated lead id missing"));
        };

        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/AssignLead",
            &request.request_id,
            &AssignLeadRequest { request_id: String::new(), ..request.clone() },
        )?;
        let (key, rep_id, actor) = (key.as_ref(), &rep_id, &actor);
        retry_on_conflict(|| async move {
            let txn = self.db.begin().await?;
            if let Some(stored) = idempotency::replay(&txn, key).await? {
                return Ok(stored);
            }
            let Some(mut row) = store::find_qualification(&txn, lead_id).await? else {
                return Err(qualification_not_found(lead_id));
            };
            let state = domain::state_from_name(&row.state);
            if !matches!(state, QualificationState::New | QualificationState::Working) {
                return Err(ApiError::invalid_state(&lead_id.to_string(), &row.state, domain::EXPECTED_OPEN));
            }
            let Some(rep) = sales::find_rep(&txn, rep_id).await? else {
                return Err(rep_not_found(rep_id));
            };

            if row.assigned_rep_id != *rep_id {
                if !rep.active {
                    return Err(ApiError::failed_precondition(
                        Reason::RepInactive,
                        format!("rep {rep_id:?} is inactive; activate the rep with UpdateRep or choose another rep"),
                    )
                    .with_arg("rep_id", rep_id.clone()));
                }
                let open = sales::open_lead_count(&txn, rep_id).await?;
                if open >= i64::from(rep.capacity) {
                    return Err(ApiError::failed_precondition(
                        Reason::RepAtCapacity,
                        format!(
                            "rep {rep_id:?} has {open} open leads and capacity {}; raise the capacity with UpdateRep or choose another rep",
                            rep.capacity
                        ),
                    )
                    .with_arg("rep_id", rep_id.clone())
                    .with_arg("capacity", rep.capacity.to_string()));
                }
                let previous = std::mem::take(&mut row.assigned_rep_id);
                sales::set_assigned_rep(&txn, lead_id, rep_id).await?;
                sales::insert_assignment(&txn, assignment_row(lead_id, rep_id, &previous, METHOD_MANUAL, actor, now)).await?;
                row.assigned_rep_id = rep_id.clone();
                tracing::info!(lead_id = %lead_id, rep_id = %rep_id, previous_rep_id = %previous, actor = %actor, "lead assigned");
            }

            let history = store::list_transitions(&txn, lead_id).await?;
            let assignments = sales::list_assignments(&txn, lead_id).await?;
            let response = AssignLeadResponse { qualification: Some(qualification_to_proto(&row, &history, &assignments)) };
            idempotency::store(&txn, key, &response).await?;
            txn.commit().await?;
            Ok(response)
        })
        .await
    }

    pub(crate) async fn do_list_overdue(&self, now: DateTime<Utc>, request: ListOverdueRequest) -> ApiResult<ListOverdueResponse> {
        const METHOD: &str = "ListOverdue";
        let rep_id = request.rep_id.trim().to_owned();
        if !rep_id.is_empty() {
            let mut violations = Vec::new();
            assignment::check_rep_id(&rep_id, "rep_id", &mut violations);
            reject_if_invalid(violations)?;
        }
        let page_size = paging::page_size(request.page_size)?;
        let after: Option<(DateTime<Utc>, Uuid)> = paging::decode(METHOD, &request.page_token)?;

        let rep_filter = (!rep_id.is_empty()).then_some(rep_id.as_str());
        let mut rows = sales::list_overdue(&self.db, now, rep_filter, after, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            let last = rows.last().and_then(|row| row.first_touch_due_time.map(|due| (due, row.lead_id)));
            last.map(|key| paging::encode(METHOD, &key)).unwrap_or_default()
        } else {
            String::new()
        };

        let lead_ids: Vec<Uuid> = rows.iter().map(|row| row.lead_id).collect();
        let escalations = sales::open_escalations(&self.db, &lead_ids).await?;
        let leads = rows
            .iter()
            .map(|row| OverdueLead {
                qualification: Some(qualification_to_proto(row, &[], &[])),
                escalate_time: escalations.get(&row.lead_id).copied().map(to_timestamp),
            })
            .collect();
        Ok(ListOverdueResponse { leads, next_page_token })
    }

    pub(crate) async fn do_get_settings(&self) -> ApiResult<GetSettingsResponse> {
        Ok(GetSettingsResponse { settings: Some(settings::load(&self.db).await?) })
    }

    pub(crate) async fn do_update_settings(
        &self,
        now: DateTime<Utc>,
        request: UpdateSettingsRequest,
    ) -> ApiResult<UpdateSettingsResponse> {
        let update = request.settings.clone().unwrap_or_default();
        let paths = mask_paths(request.update_mask.as_ref());
        let key = RequestKey::new(
            "leadflow.qualification.v1.QualificationService/UpdateSettings",
            &request.request_id,
            &UpdateSettingsRequest { request_id: String::new(), ..request.clone() },
        )?;

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let current = settings::load(&txn).await?;
        let mut violations = Vec::new();
        let mut merged = settings::merge(&current, &update, &paths, &mut violations);
        reject_if_invalid(violations)?;

        sales::save_setting(&txn, sales::SETTINGS_KEY, settings::to_json(&merged), now).await?;
        merged.update_time = Some(to_timestamp(now));
        let response = UpdateSettingsResponse { settings: Some(merged.clone()) };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;
        tracing::info!(
            sla_hours = merged.first_touch_sla_hours,
            rejection_reasons = merged.rejection_reasons.len(),
            "qualification settings updated"
        );
        Ok(response)
    }
}
