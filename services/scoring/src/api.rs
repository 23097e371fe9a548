//! gRPC handlers of the scoring service.

use leadflow_kit::errors::Reason;
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_kit::time::to_timestamp;
use leadflow_kit::{ApiError, ApiResult, CallContext, paging};
use leadflow_proto::scoring::scoring_events_service_server::ScoringEventsService;
use leadflow_proto::scoring::scoring_service_server::ScoringService;
use leadflow_proto::scoring::*;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::DOMAIN;
use crate::domain::{self, DEFAULT_MODEL_ID};
use crate::engine::{self, Applied, EventError};
use crate::store::{self, lead_score};

/// Handlers of `leadflow.scoring.v1.ScoringService`.
#[derive(Clone)]
pub struct ScoringApi {
    db: DatabaseConnection,
}

impl ScoringApi {
    /// Creates the handlers over the service's database.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn do_get_model(&self, request: GetScoringModelRequest) -> ApiResult<GetScoringModelResponse> {
        let model_id = if request.model_id.is_empty() { DEFAULT_MODEL_ID } else { request.model_id.as_str() };
        let Some((model, row)) = store::active_model(&self.db, model_id).await? else {
            return Err(model_not_found(model_id));
        };
        let publish_time = Some(to_timestamp(row.publish_time));
        Ok(GetScoringModelResponse { model: Some(domain::model_to_proto(&model, &row.description, publish_time)) })
    }

    async fn do_publish(&self, request: PublishScoringModelRequest) -> ApiResult<PublishScoringModelResponse> {
        let (model_id, points, threshold, description) =
            domain::validate_model(request.model.as_ref()).map_err(ApiError::invalid)?;

        let key = RequestKey::new(
            "leadflow.scoring.v1.ScoringService/PublishScoringModel",
            &request.request_id,
            &PublishScoringModelRequest { request_id: String::new(), ..request.clone() },
        )?;

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let row = store::publish_model(&txn, &model_id, &points, threshold, &description).await?;
        let model = domain::Model { model_id, version: row.version, points, threshold };
        let response = PublishScoringModelResponse {
            model: Some(domain::model_to_proto(&model, &description, Some(to_timestamp(row.publish_time)))),
        };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;

        tracing::info!(model_id = %model.model_id, version = model.version, threshold, "scoring model published");
        Ok(response)
    }

    async fn do_get_score(&self, request: GetLeadScoreRequest) -> ApiResult<GetLeadScoreResponse> {
        let lead_id = parse_lead_id(&request.lead_id)?;
        let Some(score) = store::find_score(&self.db, lead_id).await? else {
            return Err(ApiError::not_found(
                Reason::ScoreNotFound,
                format!("lead {lead_id} has no score yet; scores appear once the activity service's events arrive"),
            )
            .with_arg("lead_id", lead_id.to_string()));
        };

        let entries = store::ledger_points(&self.db, lead_id).await?;
        let reasons = domain::reasons(entries.iter().map(|(name, points)| (name.as_str(), *points)));
        let mut proto = score_to_proto(&score);
        proto.reasons = reasons;
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
}

fn model_not_found(model_id: &str) -> ApiError {
    ApiError::not_found(
        Reason::ModelNotFound,
        format!("scoring model {model_id:?} does not exist; publish it with PublishScoringModel"),
    )
    .with_arg("model_id", model_id)
}

fn parse_lead_id(value: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(value)
        .map_err(|_| ApiError::invalid_field("lead_id", format!("{value:?} is not a UUID; pass the lead_id of the activity service")))
}

fn score_to_proto(score: &lead_score::Model) -> LeadScore {
    LeadScore {
        lead_id: score.lead_id.to_string(),
        score: score.score,
        mql: score.mql,
        mql_count: score.mql_count,
        last_mql_time: score.last_mql_time.map(to_timestamp),
        reasons: Vec::new(),
        ledger_entries: score.ledger_entries,
        update_time: Some(to_timestamp(score.update_time)),
        source: score.source.clone(),
    }
}

#[tonic::async_trait]
impl ScoringService for ScoringApi {
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

    async fn get_lead_score(&self, request: Request<GetLeadScoreRequest>) -> Result<Response<GetLeadScoreResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "GetLeadScore", &request);
        self.do_get_score(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
    }

    async fn list_lead_scores(&self, request: Request<ListLeadScoresRequest>) -> Result<Response<ListLeadScoresResponse>, Status> {
        let ctx = CallContext::new(DOMAIN, "ListLeadScores", &request);
        self.do_list_scores(request.into_inner()).await.map(Response::new).map_err(|e| ctx.status(e))
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

    async fn apply_activity_events(&self, request: DeliverActivityEventsRequest) -> ApiResult<DeliverActivityEventsResponse> {
        let txn = self.db.begin().await?;
        let Some((model, _)) = store::active_model(&txn, DEFAULT_MODEL_ID).await? else {
            return Err(model_not_found(DEFAULT_MODEL_ID));
        };

        let mut response = DeliverActivityEventsResponse::default();
        for (index, event) in request.events.iter().enumerate() {
            match engine::apply_activity_event(&txn, &model, event).await {
                Ok(Applied::Applied) => response.applied += 1,
                Ok(Applied::Duplicate) => response.duplicates += 1,
                Err(error) => return Err(event_error(index, error)),
            }
        }
        txn.commit().await?;

        self.waker.wake();
        Ok(response)
    }

    async fn apply_qualification_events(
        &self,
        request: DeliverQualificationEventsRequest,
    ) -> ApiResult<DeliverQualificationEventsResponse> {
        let txn = self.db.begin().await?;
        let mut response = DeliverQualificationEventsResponse::default();
        for (index, event) in request.events.iter().enumerate() {
            match engine::apply_qualification_event(&txn, event).await {
                Ok(Applied::Applied) => response.applied += 1,
                Ok(Applied::Duplicate) => response.duplicates += 1,
                Err(error) => return Err(event_error(index, error)),
            }
        }
        txn.commit().await?;
        Ok(response)
    }
}

fn event_error(index: usize, error: EventError) -> ApiError {
    match error {
        EventError::Invalid(problem) => ApiError::invalid_field(&format!("events[{index}]"), problem),
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
