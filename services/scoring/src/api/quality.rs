//! Handlers of GetModelQuality and FitScoringModel: decode and check the request, read the
//! leads with a known outcome, call [`crate::quality`] and map the result.

use leadflow_kit::errors::{FieldViolation, Reason};
use leadflow_kit::idempotency::{self, RequestKey};
use leadflow_kit::{ApiError, ApiResult};
use leadflow_proto::scoring::*;
use sea_orm::TransactionTrait;

use super::{ScoringApi, model_id_or_default, model_not_found, version_not_found, version_to_proto};
use crate::domain::{self, Model};
use crate::quality::fit::{FitError, FitOptions, MIN_PER_CLASS};
use crate::quality::{self, split::DEFAULT_HOLDOUT};
use crate::store::{self, outcomes};

/// L2 penalty of FitScoringModel when the request sets none.
const DEFAULT_L2_PENALTY: f64 = 1.0;
/// Largest held-out share FitScoringModel accepts, so the training side keeps most leads.
const MAX_FIT_HOLDOUT: f64 = 0.9;

fn holdout_fraction(value: f64, max: f64) -> ApiResult<f64> {
    if value == 0.0 {
        return Ok(DEFAULT_HOLDOUT);
    }
    if !(value > 0.0 && value < 1.0 && value <= max) {
        return Err(ApiError::invalid_field(
            "holdout_fraction",
            format!("{value} must be above 0 and at most {max}, or 0 for the default {DEFAULT_HOLDOUT}"),
        ));
    }
    Ok(value)
}

impl ScoringApi {
    /// Returns the model a quality request names: inline, a stored version or the active one.
    async fn measured_model(&self, request: &GetModelQualityRequest) -> ApiResult<Model> {
        if request.model.is_some() {
            let (model, violations) = domain::read_model(request.model.as_ref());
            if !violations.is_empty() {
                return Err(ApiError::invalid(violations));
            }
            return Ok(model);
        }

        let model_id = model_id_or_default(&request.model_id);
        if request.version < 0 {
            return Err(ApiError::invalid_field("version", format!("{} must be 0 (active) or a version number", request.version)));
        }
        if request.version == 0 {
            return match store::active_model(&self.db, model_id).await? {
                Some((model, _)) => Ok(model),
                None => Err(model_not_found(model_id)),
            };
        }
        match store::model_version(&self.db, model_id, request.version).await? {
            Some(row) => Ok(store::model_from_row(&row)?),
            None => Err(version_not_found(model_id, request.version)),
        }
    }

    pub(super) async fn do_model_quality(&self, request: GetModelQualityRequest) -> ApiResult<GetModelQualityResponse> {
        let split = LeadSplit::try_from(request.split)
            .map_err(|_| ApiError::invalid_field("split", format!("{} is not a known split", request.split)))?;
        let fraction = holdout_fraction(request.holdout_fraction, 1.0)?;
        let model = self.measured_model(&request).await?;

        let leads = outcomes::outcome_leads(&self.db).await?;
        let selected = quality::select(&leads, split, request.seed, fraction);
        let report = quality::measure(&model, &selected, split, leadflow_kit::time::now());
        Ok(GetModelQualityResponse { quality: Some(report) })
    }

    pub(super) async fn do_fit(&self, request: FitScoringModelRequest) -> ApiResult<FitScoringModelResponse> {
        let model_id = model_id_or_default(&request.model_id).to_owned();
        let (_, id_problems) = domain::read_model(Some(&ScoringModel { model_id: model_id.clone(), ..ScoringModel::default() }));
        if let Some(problem) = id_problems.into_iter().find(|violation| violation.field == "model.model_id") {
            return Err(ApiError::invalid(vec![FieldViolation::new("model_id", problem.description)]));
        }
        let fraction = holdout_fraction(request.holdout_fraction, MAX_FIT_HOLDOUT)?;
        let l2_penalty = request.l2_penalty.unwrap_or(DEFAULT_L2_PENALTY);
        if !(l2_penalty >= 0.0 && l2_penalty.is_finite()) {
            return Err(ApiError::invalid_field("l2_penalty", format!("{l2_penalty} must be a finite number of at least 0")));
        }
        let key = RequestKey::new(
            "leadflow.scoring.v1.ScoringService/FitScoringModel",
            &request.request_id,
            &FitScoringModelRequest { request_id: String::new(), ..request.clone() },
        )?;

        let now = leadflow_kit::time::now();
        let leads = outcomes::outcome_leads(&self.db).await?;
        let training = quality::select(&leads, LeadSplit::Training, request.seed, fraction);
        let holdout = quality::select(&leads, LeadSplit::Holdout, request.seed, fraction);
        let fitted = quality::fit::fit(&training, &holdout, FitOptions { l2_penalty }, now)
            .map_err(|error| fit_error(error, &model_id, leads.len(), fraction))?;

        let mut model = fitted.model;
        model.model_id = model_id.clone();
        let training_quality = quality::measure(&model, &training, LeadSplit::Training, now);
        let holdout_quality = quality::measure(&model, &holdout, LeadSplit::Holdout, now);
        model.description = format!(
            "Fitted to {} leads with an outcome (seed {}, {:.0}% held out, L2 penalty {l2_penalty}): ROC AUC {:.3} on training, {:.3} held out.",
            leads.len(),
            request.seed,
            fraction * 100.0,
            training_quality.roc_auc,
            holdout_quality.roc_auc,
        );
        let (_, violations) = domain::read_model(Some(&domain::model_to_proto(&model)));

        let txn = self.db.begin().await?;
        if let Some(stored) = idempotency::replay(&txn, key.as_ref()).await? {
            return Ok(stored);
        }
        let row = store::insert_version(&txn, &model, store::DRAFT).await?;
        let stored = store::model_from_row(&row)?;
        let with_version = |mut quality: ModelQuality| {
            quality.version = row.version;
            quality
        };
        let response = FitScoringModelResponse {
            model: Some(version_to_proto(&row, &stored, None)),
            training: Some(with_version(training_quality)),
            holdout: Some(with_version(holdout_quality)),
            holdout_auc_unrounded: fitted.holdout_auc_unrounded,
            features: fitted
                .features
                .into_iter()
                .map(|feature| FittedFeature {
                    rule_id: feature.rule_id,
                    description: feature.description,
                    coefficient: feature.coefficient,
                    points: feature.points,
                    support: feature.support as i64,
                })
                .collect(),
            problems: violations
                .into_iter()
                .map(|violation| ModelProblem { field: violation.field, description: violation.description })
                .collect(),
        };
        idempotency::store(&txn, key.as_ref(), &response).await?;
        txn.commit().await?;

        tracing::info!(
            model_id = %model_id,
            version = row.version,
            training_auc = response.training.as_ref().map(|q| q.roc_auc),
            holdout_auc = response.holdout.as_ref().map(|q| q.roc_auc),
            "fitted scoring model stored as a draft"
        );
        Ok(response)
    }
}

/// Maps a failed fit to FAILED_PRECONDITION with the counts the caller needs.
fn fit_error(error: FitError, model_id: &str, lead_count: usize, fraction: f64) -> ApiError {
    match error {
        FitError::TooFewOutcomes { won, lost } => ApiError::failed_precondition(
            Reason::NotEnoughOutcomes,
            format!(
                "fitting needs at least {MIN_PER_CLASS} won and {MIN_PER_CLASS} lost leads on the training side, but it has {won} won and {lost} lost \
                 ({lead_count} leads with an outcome, {:.0}% held out); import or record more outcomes",
                fraction * 100.0
            ),
        )
        .with_arg("model_id", model_id)
        .with_arg("needed", MIN_PER_CLASS.to_string())
        .with_arg("won", won.to_string())
        .with_arg("lost", lost.to_string()),
        FitError::NoVariance { leads } => ApiError::failed_precondition(
            Reason::NoVaryingFeature,
            format!(
                "no feature varies across the {leads} training leads, or the L2 penalty shrank every coefficient to 0; import leads whose activities or attributes differ, or lower l2_penalty"
            ),
        )
        .with_arg("model_id", model_id)
        .with_arg("leads", leads.to_string()),
        FitError::Solver(problem) => ApiError::internal(format!("the logistic regression failed: {problem}")),
    }
}
