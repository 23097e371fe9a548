//! gRPC handlers of the scoring service.

mod quality;

use std::pin::Pin;
use std::time::Duration;

use leadflow_kit::errors::{FieldViolation, Reason};
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_kit::{ApiError, ApiResult, CallContext, paging};
use leadflow_proto::scoring::scoring_events_service_server::ScoringEventsService;
use leadflow_proto::scoring::scoring_service_server::ScoringService;
use leadflow_proto::scoring::*;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::DOMAIN;
use crate::domain::{self, DEFAULT_MODEL_ID, Model};
use crate::engine::{self, EventError, jobs};
use crate::store::{self, lead_score, ledger_entry, scoring_model};

/// Method name shared by the tokens of ListScoreChanges and WatchScoreChanges.
const CHANGES: &str = "ScoreChanges";
/// How often a watch stream looks for new ledger entries.
const WATCH_POLL: Duration = Duration::from_millis(200);

/// Handlers of `leadflow.scoring.v1.ScoringService`.
#[derive(Clone)]
pub struct ScoringApi {
    db: DatabaseConnection,
    shutdown: watch::Receiver<bool>,
}

fn model_id_or_default(model_id: &str) -> &str {
    if model_id.is_empty() { DEFAULT_MODEL_ID } else { model_id }
}

fn model_not_found(model_id: &str) -> ApiError {
    ApiError::not_found(
        Reason::ModelNotFound,
        format!("scoring model {model_id:?} does not exist; publish it with PublishScoringModel"),
    )
    .with_arg("model_id", model_id)
}

fn version_not_found(model_id: &str, version: i32) -> ApiError {
    ApiError::not_found(
        Reason::ModelVersionNotFound,
        format!("scoring model {model_id:?} has no version {version}; list versions with ListScoringModelVersions"),
    )
    .with_arg("model_id", model_id)
    .with_arg("version", version.to_string())
}

fn parse_lead_id(value: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(value).map_err(|_| {
        ApiError::invalid_field("lead_id", format!("{value:?} is not a UUID; pass the lead_id of the activity service"))
    })
}

/// Converts a stored version to its API form with state and rescoring progress.
fn version_to_proto(row: &scoring_model::Model, model: &Model, job: Option<&store::rescore_job::Model>) -> ScoringModel {
    let mut proto = domain::model_to_proto(model);
    proto.publish_time = row.publish_time.map(to_timestamp);
    proto.state = match row.state.as_str() {
        store::ACTIVE => ModelState::Active,
        store::DRAFT => ModelState::Draft,
        _ => ModelState::Retired,
    } as i32;
    proto.rescore = job.map(|job| RescoreProgress {
        leads_done: job.leads_done,
        leads_total: job.leads_total,
        finished: job.finished,
    });
    proto
}

fn score_to_proto(score: &lead_score::Model) -> LeadScore {
    LeadScore {
        lead_id: score.lead_id.to_string(),
        score: score.score,
        mql: score.mql,
        mql_count: score.mql_count,
        last_mql_time: score.last_mql_time.map(to_timestamp),
        ledger_entries: score.ledger_entries,
        update_time: Some(to_timestamp(score.update_time)),
        source: score.source.clone(),
        engagement: score.engagement,
        fit: score.fit,
        floor_adjustment: score.floor_adjustment,
        as_of: Some(to_timestamp(score.update_time)),
        model_version: score.model_version,
        next_decay_time: score.next_check_at.map(to_timestamp),
        ..LeadScore::default()
    }
}

fn entry_to_proto(entry: &ledger_entry::Model) -> LedgerEntry {
    let kind = LedgerEntryKind::from_str_name(&format!("LEDGER_ENTRY_KIND_{}", entry.kind)).unwrap_or(LedgerEntryKind::Unspecified);
    LedgerEntry {
        entry_id: entry.id.to_string(),
        lead_id: entry.lead_id.to_string(),
        kind: kind as i32,
        activity_id: entry.activity_id.map(|id| id.to_string()).unwrap_or_default(),
        rule_id: entry.rule_id.clone(),
        model_version: entry.model_version,
        points: entry.points,
        score_before: entry.score_before,
        score_after: entry.score_after,
        reason: entry.reason.clone(),
        detail: entry.detail.clone(),
        effective_time: Some(to_timestamp(entry.effective_time)),
        create_time: Some(to_timestamp(entry.entry_time)),
    }
}

/// Cursor of the score-change feed: the lead filter and the last entry covered.
type ChangesCursor = (Option<Uuid>, Option<Uuid>);

impl ScoringApi {
    /// Creates the handlers; `shutdown` turning true ends open watch streams.
    pub fn new(db: DatabaseConnection, shutdown: watch::Receiver<bool>) -> Self {
        Self { db, shutdown }
    }

    async fn do_get_model(&self, request: GetScoringModelRequest) -> ApiResult<GetScoringModelResponse> {
        let model_id = model_id_or_default(&request.model_id);
        let Some((model, row)) = store::active_model(&self.db, model_id).await? else {
            return Err(model_not_found(model_id));
        };
        let job = store::rescore_job(&self.db, model_id, row.version).await?;
        Ok(GetScoringModelResponse { model: Some(version_to_proto(&row, &model, job.as_ref())) })
    }

    /// Returns the model named by an inline model or a draft reference, validated.
    async fn candidate(&self, model: Option<&ScoringModel>, draft_model_id: &str, draft_version: i32) -> ApiResult<Model> {
        if model.is_some() && (draft_version != 0 || !draft_model_id.is_empty()) {
            return Err(ApiError::invalid(vec![FieldViolation::new(
                "draft_version",
                format!("{draft_version} is set together with an inline model; give either the model or a draft, not both"),
            )]));
        }
        if model.is_some() {
            let (model, violations) = domain::read_model(model);
            if !violations.is_empty() {
                return Err(ApiError::invalid(violations));
            }
            return Ok(model);
        }

        let model_id = model_id_or_default(draft_model_id);
        if draft_version < 1 {
            return Err(ApiError::invalid(vec![
                FieldViolation::new("model", "give a model, or a draft_version of a stored draft"),
            ]));
        }
        let Some(row) = store::model_version(&self.db, model_id, draft_version).await? else {
            return Err(version_not_found(model_id, draft_version));
        };
        if row.state != store::DRAFT {
            return Err(ApiError::failed_precondition(
                Reason::VersionNotDraft,
                format!("version {draft_version} of scoring model {model_id:?} is {}, not a draft", row.state),
            )
            .with_arg("model_id", model_id)
            .with_arg("version", draft_version.to_string())
            .with_arg("state", row.state.clone()));
        }

        let stored = store::model_from_row(&row)?;
        let (model, violations) = domain::read_model(Some(&domain::model_to_proto(&stored)));
        if !violations.is_empty() {
            return Err(ApiError::failed_precondition(
                Reason::ModelInvalid,
                format!("version {draft_version} of scoring model {model_id:?} is not valid; the active version stays active"),
            )
            .with_arg("model_id", model_id)
            .with_arg("version", draft_version.to_string())
            .with_violations(violations));
        }
        Ok(Model { version: draft_version, ..model })
    }

    async fn do_publish(&self, request: PublishScoringModelRequest) -> ApiResult<PublishScoringModelResponse> {
        let model = self.candidate(request.model.as_ref(), &request.draft_model_id, request.draft_version).await?;
        let key = RequestKey::new(
            "leadflow.scoring.v1.ScoringService/PublishScoringModel",
            &request.request_id,
            &PublishScoringModelRequest { request_id: String::new(), ..request.clone() },
        )?;

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let version = if request.model.is_some() {
            store::insert_version(&txn, &model, store::DRAFT).await?.version
        } else {
            model.version
        };
        store::activate(&txn, &model.model_id, version).await?;
        let row = store::model_version(&txn, &model.model_id, version)
            .await?
            .ok_or_else(|| ApiError::internal("published version vanished"))?;
        let job = store::rescore_job(&txn, &model.model_id, version).await?;
        let stored = store::model_from_row(&row)?;
        let response = PublishScoringModelResponse { model: Some(version_to_proto(&row, &stored, job.as_ref())) };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;

        tracing::info!(model_id = %model.model_id, version, threshold = model.threshold, "scoring model published; rescoring started");
        Ok(response)
    }

    async fn do_create_draft(&self, request: CreateScoringModelDraftRequest) -> ApiResult<CreateScoringModelDraftResponse> {
        let (model, violations) = domain::read_model(request.model.as_ref());
        let blocking: Vec<FieldViolation> =
            violations.iter().filter(|v| v.field == "model" || v.field == "model.model_id").cloned().collect();
        if !blocking.is_empty() {
            return Err(ApiError::invalid(blocking));
        }
        let key = RequestKey::new(
            "leadflow.scoring.v1.ScoringService/CreateScoringModelDraft",
            &request.request_id,
            &CreateScoringModelDraftRequest { request_id: String::new(), ..request.clone() },
        )?;

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let row = store::insert_version(&txn, &model, store::DRAFT).await?;
        let stored = store::model_from_row(&row)?;
        let response = CreateScoringModelDraftResponse {
            model: Some(version_to_proto(&row, &stored, None)),
            problems: violations
                .into_iter()
                .map(|violation| ModelProblem { field: violation.field, description: violation.description })
                .collect(),
        };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;
        Ok(response)
    }

    async fn do_list_versions(&self, request: ListScoringModelVersionsRequest) -> ApiResult<ListScoringModelVersionsResponse> {
        const METHOD: &str = "ListScoringModelVersions";
        let model_id = model_id_or_default(&request.model_id);
        let page_size = paging::page_size(request.page_size)?;
        let before: Option<i32> = paging::decode(METHOD, &request.page_token)?;

        let mut rows = store::list_versions(&self.db, model_id, before, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().map(|row| paging::encode(METHOD, &row.version)).unwrap_or_default()
        } else {
            String::new()
        };

        let mut models = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = store::rescore_job(&self.db, model_id, row.version).await?;
            models.push(version_to_proto(row, &store::model_from_row(row)?, job.as_ref()));
        }
        Ok(ListScoringModelVersionsResponse { models, next_page_token })
    }

    async fn do_preview(&self, request: PreviewScoringModelRequest) -> ApiResult<PreviewScoringModelResponse> {
        let model = self.candidate(request.model.as_ref(), &request.draft_model_id, request.draft_version).await?;
        let sample_size = match request.sample_size {
            0 => 100,
            size if size < 0 => return Err(ApiError::invalid_field("sample_size", format!("{size} must not be negative"))),
            size => size.min(1000) as usize,
        };
        Ok(jobs::preview(&self.db, &model, leadflow_kit::time::now(), sample_size).await?)
    }

    async fn do_get_score(&self, request: GetLeadScoreRequest) -> ApiResult<GetLeadScoreResponse> {
        let lead_id = parse_lead_id(&request.lead_id)?;
        let as_of = match request.as_of.as_ref() {
            None => None,
            Some(timestamp) => Some(
                from_timestamp(timestamp).ok_or_else(|| ApiError::invalid_field("as_of", "is not a valid timestamp".to_owned()))?,
            ),
        };

        // For a merged lead, returns its survivor's score.
        let Some(score) = crate::identity::resolve_score(&self.db, lead_id).await? else {
            return Err(ApiError::not_found(
                Reason::ScoreNotFound,
                format!("lead {lead_id} has no score yet; scores appear once the activity service's events arrive"),
            )
            .with_arg("lead_id", lead_id.to_string()));
        };
        let Some((model, _)) = store::active_model(&self.db, DEFAULT_MODEL_ID).await? else {
            return Err(model_not_found(DEFAULT_MODEL_ID));
        };

        // Without `as_of` the explanation describes the instant of the stored score, so its
        // parts add up to the ledger.
        let as_of = as_of.unwrap_or(score.update_time);
        let rows = store::lead_activities(&self.db, score.lead_id).await?;
        let facts: Vec<_> = rows.iter().map(store::fact_from_row).collect();
        let attributes = store::json_to_map(&score.attributes);
        let evaluation = domain::evaluate(&model, &facts, &attributes, &score.source, as_of);

        let mut proto = score_to_proto(&score);
        proto.score = evaluation.total;
        proto.engagement = evaluation.engagement;
        proto.fit = evaluation.fit;
        proto.floor_adjustment = evaluation.floor_adjustment;
        proto.as_of = Some(to_timestamp(as_of));
        proto.model_version = model.version;
        proto.next_decay_time = evaluation.next_decay.map(to_timestamp);
        proto.reasons = domain::reasons(
            evaluation.awards.iter().zip(&evaluation.points).map(|(award, points)| (award.activity_type.as_str(), *points)),
        );
        proto.contributions = evaluation
            .awards
            .iter()
            .zip(&evaluation.points)
            .map(|(award, points)| ActivityContribution {
                activity_id: award.activity_id.to_string(),
                activity_type: domain::activity_type_from_name(&award.activity_type) as i32,
                occurred_at: Some(to_timestamp(award.occurred_at)),
                rule_id: award.rule_index.map(|index| model.rules[index].rule_id.clone()).unwrap_or_default(),
                base_points: award.base_points,
                points: *points,
                reason: award.verdict.code().to_owned(),
                detail: award.verdict.detail(),
            })
            .collect();
        proto.fit_contributions = evaluation
            .fit_matches
            .iter()
            .map(|(rule_id, attribute, points)| FitContribution { rule_id: rule_id.clone(), attribute: attribute.clone(), points: *points })
            .collect();
        Ok(GetLeadScoreResponse { score: Some(proto) })
    }

    async fn do_list_scores(&self, request: ListLeadScoresRequest) -> ApiResult<ListLeadScoresResponse> {
        const METHOD: &str = "ListLeadScores";
        let page_size = paging::page_size(request.page_size)?;
        let after: Option<(i64, Uuid)> = paging::decode(METHOD, &request.page_token)?;

        let mut rows = store::list_scores(&self.db, after, page_size + 1).await?;
        let next_page_token = if rows.len() as u64 > page_size {
            rows.truncate(page_size as usize);
            rows.last().map(|row| paging::encode(METHOD, &(row.score, row.lead_id))).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListLeadScoresResponse { scores: rows.iter().map(score_to_proto).collect(), next_page_token })
    }

    fn changes_cursor(&self, lead_id: &str, token: &str) -> ApiResult<ChangesCursor> {
        let lead = if lead_id.is_empty() { None } else { Some(parse_lead_id(lead_id)?) };
        match paging::decode::<ChangesCursor>(CHANGES, token)? {
            None => Ok((lead, None)),
            Some((token_lead, after)) if token_lead == lead => Ok((lead, after)),
            Some(_) => Err(ApiError::invalid_field("page_token", "belongs to a listing of another lead".to_owned())),
        }
    }

    async fn do_list_changes(&self, request: ListScoreChangesRequest) -> ApiResult<ListScoreChangesResponse> {
        let page_size = paging::page_size(request.page_size)?;
        let (lead, after) = self.changes_cursor(&request.lead_id, &request.page_token)?;
        let rows = store::ledger_after(&self.db, lead, after, page_size).await?;
        let last = rows.last().map(|row| row.id).or(after);
        Ok(ListScoreChangesResponse {
            entries: rows.iter().map(entry_to_proto).collect(),
            next_page_token: paging::encode(CHANGES, &(lead, last)),
        })
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchScoreChangesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ScoringService for ScoringApi {
    type WatchScoreChangesStream = WatchStream;

    async fn get_scoring_model(&self, request: Request<GetScoringModelRequest>) -> Result<Response<GetScoringModelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetScoringModel", &request);
        self.do_get_model(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn publish_scoring_model(
        &self,
        request: Request<PublishScoringModelRequest>,
    ) -> Result<Response<PublishScoringModelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "PublishScoringModel", &request);
        self.do_publish(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn create_scoring_model_draft(
        &self,
        request: Request<CreateScoringModelDraftRequest>,
    ) -> Result<Response<CreateScoringModelDraftResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "CreateScoringModelDraft", &request);
        self.do_create_draft(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn validate_scoring_model(
        &self,
        request: Request<ValidateScoringModelRequest>,
    ) -> Result<Response<ValidateScoringModelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ValidateScoringModel", &request);
        let (_, violations) = domain::read_model(request.get_ref().model.as_ref());
        if violations.is_empty() {
            Ok(Response::new(ValidateScoringModelResponse { valid: true }))
        } else {
            Err(ctx.status(ApiError::invalid(violations)))
        }
    }

    async fn list_scoring_model_versions(
        &self,
        request: Request<ListScoringModelVersionsRequest>,
    ) -> Result<Response<ListScoringModelVersionsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListScoringModelVersions", &request);
        self.do_list_versions(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn preview_scoring_model(
        &self,
        request: Request<PreviewScoringModelRequest>,
    ) -> Result<Response<PreviewScoringModelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "PreviewScoringModel", &request);
        self.do_preview(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_lead_score(&self, request: Request<GetLeadScoreRequest>) -> Result<Response<GetLeadScoreResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetLeadScore", &request);
        self.do_get_score(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_lead_scores(&self, request: Request<ListLeadScoresRequest>) -> Result<Response<ListLeadScoresResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListLeadScores", &request);
        self.do_list_scores(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn get_model_quality(&self, request: Request<GetModelQualityRequest>) -> Result<Response<GetModelQualityResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetModelQuality", &request);
        self.do_model_quality(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn fit_scoring_model(&self, request: Request<FitScoringModelRequest>) -> Result<Response<FitScoringModelResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "FitScoringModel", &request);
        self.do_fit(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_score_changes(
        &self,
        request: Request<ListScoreChangesRequest>,
    ) -> Result<Response<ListScoreChangesResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListScoreChanges", &request);
        self.do_list_changes(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn watch_score_changes(
        &self,
        request: Request<WatchScoreChangesRequest>,
    ) -> Result<Response<Self::WatchScoreChangesStream>, Status> {
        let ctx = CallContext::new(DOMAIN, "WatchScoreChanges", &request);
        let request = request.into_inner();
        let (lead, mut after) = self.changes_cursor(&request.lead_id, &request.after_page_token).map_err(|e| ctx.status(e))?;
        if request.after_page_token.is_empty() {
            after = store::last_ledger_id(&self.db).await.map_err(|e| ctx.status(e.into()))?;
        }

        let (sender, receiver) = mpsc::channel(64);
        let db = self.db.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let rows = match store::ledger_after(&db, lead, after, 100).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        let status = ctx.status(error.into());
                        let _ = sender.send(Err(status)).await;
                        break;
                    }
                };
                for row in &rows {
                    after = Some(row.id);
                    let message = WatchScoreChangesResponse {
                        entry: Some(entry_to_proto(row)),
                        resume_token: paging::encode(CHANGES, &(lead, after)),
                    };
                    if sender.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                if rows.is_empty() {
                    tokio::select! {
                        _ = tokio::time::sleep(WATCH_POLL) => {}
                        _ = shutdown.changed() => {}
                        _ = sender.closed() => return,
                    }
                }
            }
        });

        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Handlers of `leadflow.scoring.v1.ScoringEventsService`.
#[derive(Clone)]
pub struct ScoringEventsApi {
    db: DatabaseConnection,
    waker: OutboxWaker,
}

impl ScoringEventsApi {
    /// Creates the handlers; `waker` wakes the relay to qualification after each batch.
    pub fn new(db: DatabaseConnection, waker: OutboxWaker) -> Self {
        Self { db, waker }
    }

    async fn apply_activity_events(&self, mut request: DeliverActivityEventsRequest) -> ApiResult<DeliverActivityEventsResponse> {
        let spans = leadflow_kit::telemetry::events::start_consumer_spans("scoring", &mut request.events);
        let txn = self.db.begin().await?;
        let Some((model, _)) = store::active_model(&txn, DEFAULT_MODEL_ID).await? else {
            return Err(model_not_found(DEFAULT_MODEL_ID));
        };
        let outcome = engine::apply_activity_events(&txn, &model, &request.events, leadflow_kit::time::now())
            .await
            .map_err(event_error)?;
        txn.commit().await?;
        spans.finish();

        self.waker.wake();
        Ok(DeliverActivityEventsResponse { applied: outcome.applied, duplicates: outcome.duplicates })
    }

    async fn apply_qualification_events(
        &self,
        mut request: DeliverQualificationEventsRequest,
    ) -> ApiResult<DeliverQualificationEventsResponse> {
        let spans = leadflow_kit::telemetry::events::start_consumer_spans("scoring", &mut request.events);
        let txn = self.db.begin().await?;
        let outcome = engine::apply_qualification_events(&txn, &request.events).await.map_err(event_error)?;
        txn.commit().await?;
        spans.finish();
        Ok(DeliverQualificationEventsResponse { applied: outcome.applied, duplicates: outcome.duplicates })
    }
}

fn event_error(error: EventError) -> ApiError {
    match error {
        EventError::Invalid(index, problem) => ApiError::invalid_field(&format!("events[{index}]"), problem),
        EventError::Database(error) => error.into(),
    }
}

#[tonic::async_trait]
impl ScoringEventsService for ScoringEventsApi {
    async fn deliver_activity_events(
        &self,
        request: Request<DeliverActivityEventsRequest>,
    ) -> Result<Response<DeliverActivityEventsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "DeliverActivityEvents", &request);
        self.apply_activity_events(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn deliver_qualification_events(
        &self,
        request: Request<DeliverQualificationEventsRequest>,
    ) -> Result<Response<DeliverQualificationEventsResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "DeliverQualificationEvents", &request);
        self.apply_qualification_events(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }
}
