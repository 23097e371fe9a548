//! `ImportRecords`: records of leads with their activities and outcomes, stored in one
//! transaction.
//!
//! Records of leads that are not stored yet go together. One query finds which of the call's
//! leads and activity keys exist, and one multi-row insert each writes the new leads, their
//! activities and their events. A record whose lead or activity key is already stored, or
//! repeats a lead or key of an earlier record of the call, runs alone afterwards in its own
//! savepoint, where the earlier records' rows are already written. A record that fails is
//! undone alone.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use leadflow_kit::errors::FieldViolation;
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::{ApiError, ApiResult, CallContext};
use leadflow_proto::activity::{ImportRecord, ImportRecordResult, ImportRecordsRequest, ImportRecordsResponse};
use leadflow_proto::types::Outcome;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, TransactionTrait};

use super::{
    ActivityApi, ActivityInput, LeadInput, MAX_IMPORT_RECORDS, apply_outcome, check_repeat, new_activity, new_lead,
    reject_if_invalid, set_outcome, upsert_lead, validate_activity, validate_lead,
};
use crate::events::{self, OutboxRow};
use crate::store::{self, lead};

/// A record after validation.
struct ValidRecord {
    lead: LeadInput,
    activities: Vec<ActivityInput>,
    outcome: Outcome,
}

impl ActivityApi {
    pub(super) async fn do_import(&self, ctx: &CallContext, request: ImportRecordsRequest) -> ApiResult<ImportRecordsResponse> {
        if request.records.len() > MAX_IMPORT_RECORDS {
            return Err(ApiError::invalid_field(
                "records",
                format!("has {} records; send at most {MAX_IMPORT_RECORDS} per call", request.records.len()),
            ));
        }

        let key = RequestKey::new(
            "leadflow.activity.v1.ActivityService/ImportRecords",
            &request.request_id,
            &ImportRecordsRequest { request_id: String::new(), ..request.clone() },
        )?;

        let now = leadflow_kit::time::now();
        // Validation needs no database, so an invalid record keeps only its error message.
        let valid: Vec<Result<ValidRecord, String>> =
            request.records.iter().map(|record| validate_record(record, now).map_err(|error| error.message().to_owned())).collect();
        let response = match self.import_in_transaction(ctx, &request.records, &valid, key.as_ref(), now, true).await {
            // A unique key that a concurrent call has just taken fails the shared statements.
            // With one record at a time, the conflict reaches only the record it concerns.
            Err(Batch::Shared(error)) => {
                tracing::debug!(%error, "shared import statements failed; importing each record alone");
                self.import_in_transaction(ctx, &request.records, &valid, key.as_ref(), now, false).await?
            }
            Err(Batch::Call(error)) => return Err(error),
            Ok(response) => response,
        };
        self.waker.wake();

        let created: i32 = response.results.iter().map(|result| result.activities_created).sum();
        tracing::info!(records = response.results.len(), activities_created = created, "import batch stored");
        Ok(response)
    }

    /// Imports the records in one transaction; with `together`, the records of new leads go
    /// through the shared statements first.
    async fn import_in_transaction(
        &self,
        ctx: &CallContext,
        records: &[ImportRecord],
        valid: &[Result<ValidRecord, String>],
        key: Option<&RequestKey>,
        now: DateTime<Utc>,
        together: bool,
    ) -> Result<ImportRecordsResponse, Batch> {
        let txn = self.db.begin().await.map_err(Batch::call)?;
        if let Some(stored) = idempotency::replay(&txn, key).await? {
            return Ok(stored);
        }

        let shared = if together {
            import_new_leads(&txn, records, valid, now, &ctx.traceparent).await.map_err(Batch::shared)?
        } else {
            records.iter().map(|_| None).collect()
        };

        let mut results = Vec::with_capacity(records.len());
        for ((record, valid), shared) in records.iter().zip(valid).zip(shared) {
            let outcome = match (valid, shared) {
                (Err(message), _) => {
                    results.push(ImportRecordResult { line: record.line, error: message.clone(), ..ImportRecordResult::default() });
                    continue;
                }
                (Ok(_), Some(result)) => Ok(result),
                // Each record that runs alone has a savepoint, so a failed record is undone alone.
                (Ok(valid), None) => {
                    let savepoint = txn.begin().await.map_err(Batch::call)?;
                    let result = import_record(&savepoint, record.line, valid, now, &ctx.traceparent).await;
                    if result.is_ok() {
                        savepoint.commit().await.map_err(Batch::call)?;
                    } else {
                        savepoint.rollback().await.map_err(Batch::call)?;
                    }
                    result
                }
            };
            match outcome {
                Ok(result) => results.push(result),
                Err(error) if error.code() == tonic::Code::Unavailable => return Err(Batch::Call(error)),
                Err(error) => results.push(ImportRecordResult {
                    line: record.line,
                    error: error.message().to_owned(),
                    ..ImportRecordResult::default()
                }),
            }
        }

        let response = ImportRecordsResponse { results };
        idempotency::store(&txn, key, &response).await?;
        txn.commit().await.map_err(Batch::call)?;
        Ok(response)
    }
}

/// Failure of an import transaction.
enum Batch {
    /// The shared statements failed; importing each record alone may succeed.
    Shared(DbErr),
    /// The call failed.
    Call(ApiError),
}

impl Batch {
    fn shared(error: DbErr) -> Self {
        if leadflow_kit::db::is_connection_error(&error) { Self::Call(error.into()) } else { Self::Shared(error) }
    }

    fn call(error: DbErr) -> Self {
        Self::Call(error.into())
    }
}

impl From<Batch> for ApiError {
    fn from(error: Batch) -> Self {
        match error {
            Batch::Shared(error) => error.into(),
            Batch::Call(error) => error,
        }
    }
}

impl From<ApiError> for Batch {
    fn from(error: ApiError) -> Self {
        Self::Call(error)
    }
}

/// Checks a record: its lead, its activities (each with an idempotency key) and its outcome.
fn validate_record(record: &ImportRecord, now: DateTime<Utc>) -> ApiResult<ValidRecord> {
    let mut violations = Vec::new();
    let Some(lead_request) = record.lead.as_ref() else {
        return Err(ApiError::invalid_field("lead", "missing".to_owned()));
    };
    let lead = validate_lead(lead_request, "lead.", &mut violations);

    let mut activities = Vec::with_capacity(record.activities.len());
    for (index, imported) in record.activities.iter().enumerate() {
        let prefix = format!("activities[{index}].");
        if imported.idempotency_key.trim().is_empty() {
            violations.push(FieldViolation::new(format!("{prefix}idempotency_key"), "required for imports"));
        }
        let input = validate_activity(
            imported.r#type,
            imported.occurred_at.as_ref(),
            &imported.properties,
            &imported.idempotency_key,
            &prefix,
            now,
            &mut violations,
        );
        activities.extend(input);
    }
    let outcome = match Outcome::try_from(record.outcome) {
        Ok(outcome) => outcome,
        Err(_) => {
            violations.push(FieldViolation::new(
                "outcome",
                format!("{} is not OUTCOME_WON, OUTCOME_LOST or OUTCOME_UNSPECIFIED", record.outcome),
            ));
            Outcome::Unspecified
        }
    };
    reject_if_invalid(violations)?;
    Ok(ValidRecord { lead, activities, outcome })
}

/// Imports one record alone: upserts the lead, stores its activities and sets its outcome.
async fn import_record<C: ConnectionTrait>(
    db: &C,
    line: i64,
    record: &ValidRecord,
    now: DateTime<Utc>,
    traceparent: &str,
) -> ApiResult<ImportRecordResult> {
    let (lead, lead_created) = upsert_lead(db, &record.lead, traceparent).await?;

    let (activities_created, activities_duplicate, activities_not_tracked) = if lead.do_not_track {
        (0, 0, record.activities.len() as i32)
    } else {
        let (created, duplicate) = insert_record_activities(db, &lead, &record.activities, traceparent).await?;
        (created, duplicate, 0)
    };

    let lead_id = lead.id.to_string();
    set_outcome(db, lead, record.outcome, now, traceparent).await?;

    Ok(ImportRecordResult {
        line,
        lead_id,
        lead_created,
        activities_created,
        activities_duplicate,
        error: String::new(),
        activities_not_tracked,
    })
}

/// Stores the activities of one imported record with one look-up of their idempotency keys
/// and one multi-row insert each for the activities and their events. A key already stored,
/// or repeated within the record, is a duplicate when it has the same lead and type and
/// INVALID_ARGUMENT otherwise. Returns the numbers of created and duplicate activities.
async fn insert_record_activities<C: ConnectionTrait>(
    db: &C,
    lead: &lead::Model,
    inputs: &[ActivityInput],
    traceparent: &str,
) -> ApiResult<(i32, i32)> {
    let keys = inputs.iter().filter_map(|input| input.idempotency_key.clone()).collect();
    let mut known = store::find_activities_by_keys(db, keys).await?;

    let (mut created, mut duplicate) = (Vec::new(), 0);
    for input in inputs {
        if let Some(existing) = input.idempotency_key.as_ref().and_then(|key| known.get(key)) {
            check_repeat(existing, lead, input)?;
            duplicate += 1;
            continue;
        }
        let activity = new_activity(lead, input);
        if let Some(key) = &input.idempotency_key {
            known.insert(key.clone(), activity.clone());
        }
        created.push(activity);
    }

    let events = created
        .iter()
        .map(|activity| events::activity_recorded_row(activity, lead.anonymous, traceparent))
        .collect();
    let count = created.len() as i32;
    store::insert_activities(db, created).await?;
    leadflow_kit::outbox::enqueue_rows(db, events).await?;
    Ok((count, duplicate))
}

/// Stores the valid records whose lead and activity keys are all new, with shared
/// statements. Returns the result of each record it stored, and `None` for every other
/// record: invalid, or left to run alone.
async fn import_new_leads(
    txn: &DatabaseTransaction,
    records: &[ImportRecord],
    valid: &[Result<ValidRecord, String>],
    now: DateTime<Utc>,
    traceparent: &str,
) -> Result<Vec<Option<ImportRecordResult>>, DbErr> {
    let candidates: Vec<&ValidRecord> = valid.iter().filter_map(|record| record.as_ref().ok()).collect();
    let emails = candidates.iter().filter_map(|record| record.lead.email.clone()).collect();
    let external_ids = candidates.iter().filter_map(|record| record.lead.external_id.clone()).collect();
    let keys = candidates.iter().flat_map(|record| record.activities.iter().filter_map(|input| input.idempotency_key.clone())).collect();

    let stored_leads = store::find_lead_rows(txn, Vec::new(), emails, external_ids).await?;
    let stored_keys = store::find_activities_by_keys(txn, keys).await?;
    let mut used = UsedKeys::default();
    for lead in &stored_leads {
        used.emails.extend(lead.email.clone());
        used.external_ids.extend(lead.external_id.clone());
    }
    used.activity_keys.extend(stored_keys.into_keys());

    let mut rows = NewRows::default();
    let mut results = Vec::with_capacity(records.len());
    for (record, valid) in records.iter().zip(valid) {
        let Ok(valid) = valid else {
            results.push(None);
            continue;
        };
        // Every key of the record is claimed whether the record goes together or alone, so a
        // later record that repeats one runs alone after it.
        if !used.claim_all(valid) {
            results.push(None);
            continue;
        }
        results.push(Some(rows.add(record.line, valid, now, traceparent)));
    }

    rows.write(txn).await?;
    Ok(results)
}

/// Lead keys and activity keys that are stored or used by an earlier record of the call.
#[derive(Default)]
struct UsedKeys {
    emails: HashSet<String>,
    external_ids: HashSet<String>,
    activity_keys: HashSet<String>,
}

impl UsedKeys {
    /// Claims every key of `record`; returns true when none was used before, so the record
    /// creates a new lead and only new activities.
    fn claim_all(&mut self, record: &ValidRecord) -> bool {
        let mut fresh = record.lead.email.is_some() || record.lead.external_id.is_some();
        if let Some(email) = &record.lead.email {
            fresh &= self.emails.insert(email.clone());
        }
        if let Some(external_id) = &record.lead.external_id {
            fresh &= self.external_ids.insert(external_id.clone());
        }
        for key in record.activities.iter().filter_map(|input| input.idempotency_key.as_ref()) {
            fresh &= self.activity_keys.insert(key.clone());
        }
        fresh
    }
}

/// The rows of the records that go together, in record order.
#[derive(Default)]
struct NewRows {
    leads: Vec<lead::Model>,
    activities: Vec<crate::store::activity::Model>,
    events: Vec<OutboxRow>,
}

impl NewRows {
    /// Adds a record of a new lead with new activities; returns its result.
    fn add(&mut self, line: i64, record: &ValidRecord, now: DateTime<Utc>, traceparent: &str) -> ImportRecordResult {
        let mut lead = new_lead(&record.lead, now);
        self.events.push(events::lead_profile_changed_row(&lead, true, traceparent));
        tracing::info!(lead_id = %lead.id, "lead created");

        let (activities_created, activities_not_tracked) = if lead.do_not_track {
            (0, record.activities.len() as i32)
        } else {
            for input in &record.activities {
                let activity = new_activity(&lead, input);
                self.events.push(events::activity_recorded_row(&activity, lead.anonymous, traceparent));
                self.activities.push(activity);
            }
            (record.activities.len() as i32, 0)
        };

        if apply_outcome(&mut lead, record.outcome) {
            self.events.push(events::outcome_imported_row(lead.id, record.outcome, now, traceparent));
        }
        let result = ImportRecordResult {
            line,
            lead_id: lead.id.to_string(),
            lead_created: true,
            activities_created,
            activities_duplicate: 0,
            error: String::new(),
            activities_not_tracked,
        };
        self.leads.push(lead);
        result
    }

    /// Inserts the leads before the activities that reference them, then the events.
    async fn write(self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        store::insert_leads(txn, self.leads).await?;
        store::insert_activities(txn, self.activities).await?;
        leadflow_kit::outbox::enqueue_rows(txn, self.events).await
    }
}
